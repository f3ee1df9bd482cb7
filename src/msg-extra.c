/*
 * Attachment bytes. msg-body.c lists attachments without keeping their
 * content; here the MIME tree is parsed again and every part that could be
 * listed (leaves and message/rfc822 parts) is a candidate. An entry of the
 * list is matched to the first unused candidate with the same file name,
 * type and decoded size, parts that are not body text first: the order of
 * the walk does not have to copy msg-body.c's choices in
 * multipart/alternative.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "msg-extra.h"
#include "msg-private.h"
#include "msg-utf8.h"
#include "xmalloc.h"

struct part {
	GMimeObject	*obj;
	char		*filename;	/* as msg-body.c names it */
	char		*content_type;
	bool		 body_text;	/* a text leaf with no name */
	bool		 taken;
	GByteArray	*bytes;		/* decoded on first comparison */
};

struct msg_parts {
	GMimeMessage	*gm;
	struct part	*v;
	size_t		 n;
	size_t		 size;
	size_t		 max_depth;
	size_t		 max_parts;
};

static void	 parts_walk(struct msg_parts *, GMimeObject *, size_t);
static void	 parts_add(struct msg_parts *, GMimeObject *);
static GByteArray *part_decode(GMimeObject *);
static struct part *parts_find(struct msg_parts *, const char *,
		    const char *, size_t, bool);

struct msg_parts *
msg_parts_new(struct msg *m)
{
	struct msg_parts	*p;

	p = xcalloc(1, sizeof *p);
	p->max_depth = m->limits.max_depth;
	p->max_parts = m->limits.max_parts;
	if ((p->gm = msg_gmime_parse(m, m->parse, m->parse_len)) != NULL)
		parts_walk(p, g_mime_message_get_mime_part(p->gm), 0);
	return p;
}

void
msg_parts_free(struct msg_parts *p)
{
	size_t	 i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->v[i].filename);
		free(p->v[i].content_type);
		if (p->v[i].bytes != NULL)
			g_byte_array_free(p->v[i].bytes, TRUE);
	}
	free(p->v);
	if (p->gm != NULL)
		g_object_unref(p->gm);
	free(p);
}

static void
parts_walk(struct msg_parts *p, GMimeObject *obj, size_t depth)
{
	GMimeMessage	*inner;
	int		 i, n;

	if (obj == NULL || depth >= p->max_depth || p->n >= p->max_parts)
		return;
	if (GMIME_IS_MESSAGE_PART(obj)) {
		parts_add(p, obj);
		inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (inner != NULL)
			parts_walk(p, g_mime_message_get_mime_part(inner),
			    depth + 1);
	} else if (GMIME_IS_MULTIPART(obj)) {
		n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		for (i = 0; i < n; i++)
			parts_walk(p, g_mime_multipart_get_part(
			    GMIME_MULTIPART(obj), i), depth + 1);
	} else
		parts_add(p, obj);
}

static void
parts_add(struct msg_parts *p, GMimeObject *obj)
{
	struct part		*e;
	GMimeContentType	*ct;
	const char		*name = NULL, *disp;
	char			*type, *lower;

	if (p->n == p->size) {
		p->size = p->size == 0 ? 8 : p->size * 2;
		p->v = xreallocarray(p->v, p->size, sizeof *p->v);
	}
	e = &p->v[p->n++];
	memset(e, 0, sizeof *e);
	e->obj = obj;
	if (GMIME_IS_PART(obj))
		name = g_mime_part_get_filename(GMIME_PART(obj));
	else if ((name = g_mime_object_get_content_disposition_parameter(obj,
	    "filename")) == NULL)
		name = g_mime_object_get_content_type_parameter(obj, "name");
	if (name == NULL)
		name = "";
	e->filename = msg_utf8_sanitize(name, strlen(name));
	ct = g_mime_object_get_content_type(obj);
	type = ct == NULL ? g_strdup("application/octet-stream") :
	    g_mime_content_type_get_mime_type(ct);
	lower = g_ascii_strdown(type, -1);
	e->content_type = msg_utf8_sanitize(lower, strlen(lower));
	g_free(lower);
	g_free(type);
	disp = g_mime_object_get_disposition(obj);
	e->body_text = GMIME_IS_PART(obj) && *name == '\0' &&
	    (disp == NULL || g_ascii_strcasecmp(disp, "attachment") != 0) &&
	    strncmp(e->content_type, "text/", 5) == 0;
}

/* Decoded bytes of a leaf; the message as written for message/rfc822. */
static GByteArray *
part_decode(GMimeObject *obj)
{
	GMimeStream		*mem;
	GMimeDataWrapper	*dw;
	GMimeMessage		*inner;
	GByteArray		*out;

	mem = g_mime_stream_mem_new();
	if (GMIME_IS_PART(obj)) {
		if ((dw = g_mime_part_get_content(GMIME_PART(obj))) != NULL)
			g_mime_data_wrapper_write_to_stream(dw, mem);
	} else if (GMIME_IS_MESSAGE_PART(obj) && (inner =
	    g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj))) != NULL)
		g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
	else
		g_mime_object_write_content_to_stream(obj, NULL, mem);
	/* The stream frees its array unless told it does not own it. */
	out = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	g_object_unref(mem);
	return out;
}

static struct part *
parts_find(struct msg_parts *p, const char *filename,
    const char *content_type, size_t size, bool body_text)
{
	struct part	*e;
	size_t		 i;

	for (i = 0; i < p->n; i++) {
		e = &p->v[i];
		if (e->taken || e->body_text != body_text ||
		    strcmp(e->filename, filename) != 0 ||
		    strcmp(e->content_type, content_type) != 0)
			continue;
		if (e->bytes == NULL)
			e->bytes = part_decode(e->obj);
		if (e->bytes->len == size)
			return e;
	}
	return NULL;
}

const char *
msg_parts_take(struct msg_parts *p, const char *filename,
    const char *content_type, size_t size, size_t *len)
{
	struct part	*e;

	if ((e = parts_find(p, filename, content_type, size, false)) == NULL &&
	    (e = parts_find(p, filename, content_type, size, true)) == NULL)
		return NULL;
	e->taken = true;
	*len = e->bytes->len;
	return e->bytes->len > 0 ? (const char *)e->bytes->data : "";
}
