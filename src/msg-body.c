/*
 * The body of a message: the text a person reads and the list of
 * attachments, from one walk over its MIME parts, done the first time
 * either is asked for. The parts are msg-mime.c's, found over the raw
 * bytes; when it cannot be sure to read a body as GMime does, GMime's
 * tree is built and walked instead (walk_object() and own_object() make
 * the same choices).
 *
 * What counts as text: text/plain and text/html leaves that are neither
 * marked as attachments nor carry a file name. In multipart/alternative one
 * child is chosen: text/plain if it says anything, else a multipart (which
 * may hold the HTML with its images), else text/html. HTML is turned into
 * text by msg-html.c. Text parts of a multipart/mixed are joined.
 *
 * A message/rfc822 part is listed as one attachment and walked for the
 * attachments it holds, but its text is not the message's text: a bounce
 * quoting our own reply must not match the rule that sent it.
 * multipart/signed content is walked (its parts flagged is_signed) and the
 * signature listed; encrypted parts are listed, never decrypted.
 *
 * Every walk is capped: nesting depth, number of parts, bytes of text.
 *
 * Two costs are put off until asked for. A message that is a single text
 * part (what the header block already says) gets its text without a MIME
 * parse: the bytes after the header block are decoded as GMime would decode
 * that part. And an attachment's size needs its content decoded: sizes are
 * measured when msg_attachments() first asks, not when the text does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "msg.h"
#include "msg-html.h"
#include "msg-private.h"
#include "msg-utf8.h"
#include "xmalloc.h"

#define WALK_SIGNED	0x1
#define WALK_ENCRYPTED	0x2
#define WALK_NESTED	0x4	/* inside message/rfc822: no text */

struct walk {
	struct msg	*m;
	struct buf	 text;
	size_t		 parts;
	bool		 depth_hit;
	bool		 parts_hit;
	bool		 text_cut;
	bool		 bail;		/* own walk: leave it to GMime */
};

static bool	 walk_capped(struct walk *, size_t);
static void	 fill_attachment(struct msg *, struct msg_attachment *,
		     const char *, const char *, int);
static void	 walk_object(struct walk *, GMimeObject *, size_t, int);
static void	 walk_multipart(struct walk *, GMimeMultipart *, size_t, int);
static void	 walk_alternative(struct walk *, GMimeMultipart *, size_t,
		    int);
static int	 alternative_rank(GMimeObject *);
static void	 walk_signed(struct walk *, GMimeMultipart *, size_t, int);
static void	 walk_encrypted(struct walk *, GMimeMultipart *, int);
static void	 walk_message_part(struct walk *, GMimeMessagePart *, size_t,
		    int);
static void	 walk_leaf(struct walk *, GMimePart *, int);
static bool	 is_body_text(GMimePart *);
static int	 crypto_flags(const char *, const char *, const char *);
static int	 leaf_crypto_flags(GMimePart *);
static char	*decode_content(GMimePart *, size_t *);
static char	*decode_stream(GMimeDataWrapper *, size_t *);
static void	 single_text(struct walk *);
static void	 add_decoded(struct walk *, const char *, size_t,
		    const char *, bool);
static char	*to_utf8(struct msg *, const char *, size_t, const char *);
static char	*guess_8bit(struct msg *, const char *, size_t);
static void	 add_text(struct walk *, GMimePart *);
static void	 append_text(struct walk *, const char *);
static bool	 has_words(const char *, size_t);
static void	 add_attachment(struct walk *, GMimeObject *, size_t, int);
static size_t	 object_size(GMimeObject *);
static void	 finish_text(struct walk *);
static void	 body_gmime(struct walk *);
static bool	 body_own(struct walk *);
static void	 own_object(struct walk *, struct msg_mime_part *, size_t,
		    int);
static void	 own_alternative(struct walk *, struct msg_mime_part *,
		    size_t, int);
static int	 own_rank(struct msg_mime_part *);
static bool	 own_is(struct msg_mime_part *, const char *, const char *);
static int	 own_crypto_flags(struct msg_mime_part *);
static bool	 own_is_body_text(struct msg_mime_part *);
static const char *own_filename(struct msg_mime_part *);
static char	*own_decode(struct msg *, struct msg_mime_part *, size_t *);
static const char *own_content(struct msg *, struct msg_mime_part *,
		    char **, size_t *);
static void	 own_attachment(struct walk *, struct msg_mime_part *, int);
static size_t	 own_size(struct msg *, struct msg_mime_part *);

/* Past the depth or parts cap? Says so once, in the defects. */
static bool
walk_capped(struct walk *w, size_t depth)
{
	if (depth >= w->m->limits.max_depth) {
		if (!w->depth_hit)
			msg_defect(w->m, "MIME nesting deeper than %zu, "
			    "inner parts skipped", w->m->limits.max_depth);
		w->depth_hit = true;
		return true;
	}
	if (++w->parts > w->m->limits.max_parts) {
		if (!w->parts_hit)
			msg_defect(w->m, "more than %zu MIME parts, the rest "
			    "skipped", w->m->limits.max_parts);
		w->parts_hit = true;
		return true;
	}
	return false;
}

void
msg_body_parse(struct msg *m)
{
	struct walk	 w;

	if (m->body_done)
		return;
	m->body_done = true;
	memset(&w, 0, sizeof w);
	w.m = m;
	buf_init(&w.text, m->limits.max_text);
	if (m->single_text)
		single_text(&w);
	else if (!body_own(&w))
		body_gmime(&w);
	finish_text(&w);
}

/* The whole message parsed by GMime, its tree walked. */
static void
body_gmime(struct walk *w)
{
	struct msg	*m = w->m;
	GMimeMessage	*gm;

	MSG_STAT(body_gmime);
	if ((gm = msg_gmime_parse(m, m->parse, m->parse_len)) == NULL) {
		/* No MIME structure at all: the bytes after the headers. */
		msg_defect(m, "message could not be parsed as MIME");
		if (m->header_len < m->parse_len)
			append_text(w, msg_keep_utf8(m, m->parse +
			    m->header_len, m->parse_len - m->header_len));
	} else {
		walk_object(w, g_mime_message_get_mime_part(gm), 0, 0);
		if (m->nattachments > 0)
			m->body_gm = gm;	/* for msg_body_sizes() */
		else
			g_object_unref(gm);
	}
}

/*
 * The parts found by msg-mime.c walked as walk_object() walks GMime's:
 * false, with nothing left behind, when GMime must do it.
 */
static bool
body_own(struct walk *w)
{
	struct msg	*m = w->m;
	struct msg_mime	*mm;
	size_t		 ndefects = m->ndefects;

	if (!m->own_head || msg_gmime_only() ||
	    (mm = msg_mime_parse(m)) == NULL)
		return false;
	own_object(w, mm->top, 0, 0);
	if (w->bail) {
		msg_defects_truncate(m, ndefects);
		msg_mime_free(mm);
		free(m->attachments);
		free(m->attachment_parts);
		m->attachments = NULL;
		m->attachment_parts = NULL;
		m->nattachments = m->attachments_size = 0;
		buf_free(&w->text);
		buf_init(&w->text, m->limits.max_text);
		w->parts = 0;
		w->depth_hit = w->parts_hit = w->text_cut = w->bail = false;
		return false;
	}
	MSG_STAT(body_own);
	if (m->nattachments > 0)
		m->mime = mm;		/* for msg_body_sizes() */
	else
		msg_mime_free(mm);
	return true;
}

static void
own_object(struct walk *w, struct msg_mime_part *part, size_t depth,
    int flags)
{
	struct msg_mime_part	*c;
	bool			 first = true;

	if (part == NULL || w->bail)
		return;
	if (walk_capped(w, depth))
		return;
	if (part->kind == MIME_MESSAGE) {
		own_attachment(w, part, flags);
		own_object(w, part->first, depth + 1, flags | WALK_NESTED);
	} else if (part->kind == MIME_LEAF) {
		flags |= own_crypto_flags(part);
		if ((flags & (WALK_NESTED | WALK_ENCRYPTED)) == 0 &&
		    own_is_body_text(part)) {
			char		*raw;
			const char	*charset = NULL;
			size_t		 len;

			const char *text;

			text = own_content(w->m, part, &raw, &len);
			if (part->type != NULL)
				charset = msg_ctype_param(part->type,
				    "charset");
			add_decoded(w, text, len, charset,
			    own_is(part, "text", "html"));
			free(raw);
		} else
			own_attachment(w, part, flags);
	} else if (own_is(part, "multipart", "encrypted")) {
		for (c = part->first; c != NULL; c = c->next)
			own_attachment(w, c, flags | WALK_ENCRYPTED);
	} else if (own_is(part, "multipart", "signed")) {
		for (c = part->first; c != NULL; c = c->next, first = false) {
			if (first)
				own_object(w, c, depth + 1,
				    flags | WALK_SIGNED);
			else
				own_attachment(w, c, flags | WALK_SIGNED);
		}
	} else if (own_is(part, "multipart", "alternative"))
		own_alternative(w, part, depth, flags);
	else {
		for (c = part->first; c != NULL; c = c->next)
			own_object(w, c, depth + 1, flags);
	}
}

/* As walk_alternative(). */
static void
own_alternative(struct walk *w, struct msg_mime_part *part, size_t depth,
    int flags)
{
	struct msg_mime_part	**v, *c;
	size_t			 before, n = 0;
	int			 i, rank;

	v = xreallocarray(NULL, part->nchildren + 1, sizeof *v);
	for (c = part->first; c != NULL; c = c->next)
		v[n++] = c;
	for (rank = 3; rank >= 0; rank--) {
		for (i = (int)n - 1; i >= 0; i--) {
			if (own_rank(v[i]) != rank)
				continue;
			before = w->text.len;
			own_object(w, v[i], depth + 1, flags);
			if (w->text.len > before && has_words(w->text.data +
			    before, w->text.len - before))
				goto done;
			w->text.len = before;
			if (w->text.data != NULL)
				w->text.data[before] = '\0';
		}
	}
done:
	free(v);
}

static int
own_rank(struct msg_mime_part *part)
{
	if (own_is(part, "text", "plain"))
		return 3;
	if (part->kind == MIME_MULTIPART)
		return 2;
	if (own_is(part, "text", "html"))
		return 1;
	return 0;
}

/* The part's content type is type/subtype (any case). */
static bool
own_is(struct msg_mime_part *part, const char *type, const char *subtype)
{
	if (part->type != NULL)
		return msg_ctype_is(part->type, type, subtype);
	if (part->default_message)
		return g_ascii_strcasecmp(type, "message") == 0 &&
		    g_ascii_strcasecmp(subtype, "rfc822") == 0;
	return g_ascii_strcasecmp(type, "text") == 0 &&
	    g_ascii_strcasecmp(subtype, "plain") == 0;
}

/* As leaf_crypto_flags(), for a part of our own walk. */
static int
own_crypto_flags(struct msg_mime_part *part)
{
	if (part->type == NULL)
		return 0;
	return crypto_flags(part->type->type, part->type->subtype,
	    msg_ctype_param(part->type, "smime-type"));
}

/* As is_body_text(). */
static bool
own_is_body_text(struct msg_mime_part *part)
{
	const char	*disp, *name;

	if (!own_is(part, "text", "plain") && !own_is(part, "text", "html"))
		return false;
	disp = part->disposition == NULL ? NULL :
	    g_mime_content_disposition_get_disposition(part->disposition);
	if (disp != NULL && g_ascii_strcasecmp(disp, "attachment") == 0)
		return false;
	name = own_filename(part);
	return name == NULL || *name == '\0';
}

/* As g_mime_part_get_filename(): the disposition's, else the type's. */
static const char *
own_filename(struct msg_mime_part *part)
{
	const char	*name = NULL;

	if (part->disposition != NULL)
		name = g_mime_content_disposition_get_parameter(
		    part->disposition, "filename");
	if (name == NULL && part->type != NULL)
		name = msg_ctype_param(part->type, "name");
	return name;
}

/*
 * A leaf's content, transfer encoding undone: in the message itself when
 * there is none to undo, else in *decoded, to be freed.
 */
static const char *
own_content(struct msg *m, struct msg_mime_part *part, char **decoded,
    size_t *len)
{
	*decoded = NULL;
	switch (part->encoding) {
	case GMIME_CONTENT_ENCODING_BASE64:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
	case GMIME_CONTENT_ENCODING_UUENCODE:
		return *decoded = own_decode(m, part, len);
	default:
		*len = part->content_len;
		return m->parse + part->content;
	}
}

/* A leaf's content, transfer encoding undone, NUL after. */
static char *
own_decode(struct msg *m, struct msg_mime_part *part, size_t *len)
{
	GMimeEncoding		 enc;
	GMimeStream		*in;
	GMimeDataWrapper	*dw;
	const char		*raw = m->parse + part->content;
	char			*out;
	size_t			 n = part->content_len;

	switch (part->encoding) {
	case GMIME_CONTENT_ENCODING_BASE64:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
		g_mime_encoding_init_decode(&enc, part->encoding);
		out = xmalloc(g_mime_encoding_outlen(&enc, n) + 1);
		*len = g_mime_encoding_flush(&enc, raw, n, out);
		out[*len] = '\0';
		return out;
	case GMIME_CONTENT_ENCODING_UUENCODE:
		in = msg_gmime_stream(m, raw, n);
		dw = g_mime_data_wrapper_new_with_stream(in, part->encoding);
		out = decode_stream(dw, len);
		g_object_unref(dw);
		g_object_unref(in);
		return out;
	default:
		*len = n;
		out = xmalloc(n + 1);
		if (n > 0)
			memcpy(out, raw, n);
		out[n] = '\0';
		return out;
	}
}

/*
 * An attachment's entry, whichever walk found it: its file name ("" when
 * none), its type in lower case, its flags; the size comes later
 * (msg_body_sizes()).
 */
static void
fill_attachment(struct msg *m, struct msg_attachment *a, const char *name,
    const char *type, int flags)
{
	char	*lower;

	if (name == NULL)
		name = "";
	a->filename = msg_keep_utf8(m, name, strlen(name));
	lower = g_ascii_strdown(type, -1);
	a->content_type = msg_keep_utf8(m, lower, strlen(lower));
	g_free(lower);
	a->size = 0;
	a->is_signed = (flags & WALK_SIGNED) != 0;
	a->is_encrypted = (flags & WALK_ENCRYPTED) != 0;
}

/* As add_attachment(), for a part of msg-mime.c. */
static void
own_attachment(struct walk *w, struct msg_mime_part *part, int flags)
{
	struct msg		*m = w->m;
	struct msg_attachment	*a;
	char			*type;

	if (part->kind == MIME_MULTIPART) {
		w->bail = true;		/* its size is GMime's rewriting */
		return;
	}
	if (m->nattachments >= m->limits.max_parts)
		return;
	if (m->nattachments == m->attachments_size) {
		m->attachments_size = m->attachments_size == 0 ? 4 :
		    m->attachments_size * 2;
		m->attachments = xreallocarray(m->attachments,
		    m->attachments_size, sizeof *m->attachments);
		m->attachment_parts = xreallocarray(m->attachment_parts,
		    m->attachments_size, sizeof *m->attachment_parts);
	}
	m->attachment_parts[m->nattachments] = part;
	a = &m->attachments[m->nattachments++];
	if (part->kind == MIME_LEAF)
		flags |= own_crypto_flags(part);
	if (part->type != NULL)
		type = g_strdup_printf("%s/%s", part->type->type,
		    part->type->subtype);
	else
		type = g_strdup(part->default_message ? "message/rfc822" :
		    "text/plain");
	fill_attachment(m, a, own_filename(part), type, flags);
	g_free(type);
}

/*
 * As object_size(): a leaf's decoded bytes; a message as GMime writes it
 * out, so that message is parsed by GMime here, alone.
 */
static size_t
own_size(struct msg *m, struct msg_mime_part *part)
{
	GMimeStream		*in, *null;
	GMimeParser		*parser;
	GMimeMessage		*gm;
	enum msg_warn_mode	 mode;
	char			*out;
	size_t			 n;

	if (part->kind == MIME_LEAF) {
		if (part->encoding != GMIME_CONTENT_ENCODING_BASE64 &&
		    part->encoding != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
		    part->encoding != GMIME_CONTENT_ENCODING_UUENCODE)
			return part->content_len;
		out = own_decode(m, part, &n);
		free(out);
		return n;
	}
	if (part->first == NULL)
		return 0;
	mode = m->warn_mode;
	m->warn_mode = MSG_WARN_QUIET;
	in = msg_gmime_stream(m, part->message, part->message_len);
	parser = g_mime_parser_new_with_stream(in);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	gm = g_mime_parser_construct_message(parser, m->options);
	m->warn_mode = mode;
	n = 0;
	if (gm != NULL) {
		null = g_mime_stream_null_new();
		g_mime_object_write_to_stream(GMIME_OBJECT(gm), NULL, null);
		n = GMIME_STREAM_NULL(null)->written;
		g_object_unref(null);
		g_object_unref(gm);
	}
	g_object_unref(parser);
	g_object_unref(in);
	return n;
}

void
msg_body_sizes(struct msg *m)
{
	size_t	 i;

	if (m->sizes_done)
		return;
	m->sizes_done = true;
	for (i = 0; i < m->nattachments; i++)
		m->attachments[i].size = m->mime != NULL ?
		    own_size(m, m->attachment_parts[i]) :
		    object_size(m->attachment_objs[i]);
	msg_body_free(m);
}

void
msg_body_free(struct msg *m)
{
	free(m->attachment_objs);
	m->attachment_objs = NULL;
	free(m->attachment_parts);
	m->attachment_parts = NULL;
	msg_mime_free(m->mime);
	m->mime = NULL;
	if (m->body_gm != NULL)
		g_object_unref(m->body_gm);
	m->body_gm = NULL;
}

/*
 * The header block parsed alone: when its top part is a leaf that the walk
 * would take as the text (walk_object() at depth 0, then walk_leaf()), keep
 * what decoding it needs. Such a message has no attachments. Without bytes
 * after a blank line the MIME parse still runs: it is cheap then, and it is
 * what reports a header block that never ends.
 */
void
msg_body_note_top(struct msg *m, GMimeMessage *gm)
{
	GMimeObject		*top;
	GMimeContentType	*ct;
	const char		*charset;

	top = g_mime_message_get_mime_part(gm);
	if (m->header_len >= m->parse_len || top == NULL ||
	    !GMIME_IS_PART(top) || leaf_crypto_flags(GMIME_PART(top)) != 0 ||
	    !is_body_text(GMIME_PART(top)))
		return;
	ct = g_mime_object_get_content_type(top);
	charset = g_mime_content_type_get_parameter(ct, "charset");
	m->single_text = true;
	m->single_html = g_mime_content_type_is_type(ct, "text", "html");
	m->single_encoding = g_mime_part_get_content_encoding(GMIME_PART(top));
	m->single_charset = charset == NULL ? NULL :
	    msg_keep(m, xstrdup(charset));
}

/* The text of a single-part message, from the bytes after its header. */
static void
single_text(struct walk *w)
{
	struct msg		*m = w->m;
	GMimeStream		*in;
	GMimeDataWrapper	*dw;
	const char		*body = m->parse + m->header_len;
	char			*decoded;
	size_t			 len = m->parse_len - m->header_len;

	w->parts = 1;
	switch (m->single_encoding) {
	case GMIME_CONTENT_ENCODING_DEFAULT:
	case GMIME_CONTENT_ENCODING_7BIT:
	case GMIME_CONTENT_ENCODING_8BIT:
	case GMIME_CONTENT_ENCODING_BINARY:
		add_decoded(w, body, len, m->single_charset, m->single_html);
		return;
	default:
		break;
	}
	in = g_mime_stream_mem_new_with_buffer(body, len);
	dw = g_mime_data_wrapper_new_with_stream(in, m->single_encoding);
	decoded = decode_stream(dw, &len);
	g_object_unref(dw);
	g_object_unref(in);
	add_decoded(w, decoded, len, m->single_charset, m->single_html);
	free(decoded);
}

static void
walk_object(struct walk *w, GMimeObject *obj, size_t depth, int flags)
{
	if (obj == NULL)
		return;
	if (walk_capped(w, depth))
		return;
	if (GMIME_IS_MESSAGE_PART(obj))
		walk_message_part(w, GMIME_MESSAGE_PART(obj), depth, flags);
	else if (GMIME_IS_MULTIPART_ENCRYPTED(obj))
		walk_encrypted(w, GMIME_MULTIPART(obj), flags);
	else if (GMIME_IS_MULTIPART_SIGNED(obj))
		walk_signed(w, GMIME_MULTIPART(obj), depth, flags);
	else if (GMIME_IS_MULTIPART(obj))
		walk_multipart(w, GMIME_MULTIPART(obj), depth, flags);
	else if (GMIME_IS_PART(obj))
		walk_leaf(w, GMIME_PART(obj), flags);
}

static void
walk_multipart(struct walk *w, GMimeMultipart *mp, size_t depth, int flags)
{
	GMimeContentType	*ct;
	int			 i, n;

	ct = g_mime_object_get_content_type(GMIME_OBJECT(mp));
	if (ct != NULL && g_mime_content_type_is_type(ct, "multipart",
	    "alternative")) {
		walk_alternative(w, mp, depth, flags);
		return;
	}
	n = g_mime_multipart_get_count(mp);
	for (i = 0; i < n; i++)
		walk_object(w, g_mime_multipart_get_part(mp, i), depth + 1,
		    flags);
}

/*
 * Try the children best first; keep the first that adds words to the text.
 * An empty text/plain beside a full HTML part is common.
 */
static void
walk_alternative(struct walk *w, GMimeMultipart *mp, size_t depth,
    int flags)
{
	GMimeObject	*child;
	size_t		 before;
	int		 i, n, rank;

	n = g_mime_multipart_get_count(mp);
	for (rank = 3; rank >= 0; rank--) {
		for (i = n - 1; i >= 0; i--) {
			child = g_mime_multipart_get_part(mp, i);
			if (alternative_rank(child) != rank)
				continue;
			before = w->text.len;
			walk_object(w, child, depth + 1, flags);
			if (w->text.len > before && has_words(w->text.data +
			    before, w->text.len - before))
				return;
			w->text.len = before;
			if (w->text.data != NULL)
				w->text.data[before] = '\0';
		}
	}
}

static int
alternative_rank(GMimeObject *obj)
{
	GMimeContentType	*ct;

	ct = g_mime_object_get_content_type(obj);
	if (ct != NULL && g_mime_content_type_is_type(ct, "text", "plain"))
		return 3;
	if (GMIME_IS_MULTIPART(obj))
		return 2;
	if (ct != NULL && g_mime_content_type_is_type(ct, "text", "html"))
		return 1;
	return 0;
}

/* The signed content is walked as usual, the signature listed. */
static void
walk_signed(struct walk *w, GMimeMultipart *mp, size_t depth, int flags)
{
	int	 i, n;

	n = g_mime_multipart_get_count(mp);
	for (i = 0; i < n; i++) {
		if (i == 0)
			walk_object(w, g_mime_multipart_get_part(mp, i),
			    depth + 1, flags | WALK_SIGNED);
		else
			add_attachment(w, g_mime_multipart_get_part(mp, i),
			    depth + 1, flags | WALK_SIGNED);
	}
}

/* Listed as they are: facteur never decrypts. */
static void
walk_encrypted(struct walk *w, GMimeMultipart *mp, int flags)
{
	int	 i, n;

	n = g_mime_multipart_get_count(mp);
	for (i = 0; i < n; i++)
		add_attachment(w, g_mime_multipart_get_part(mp, i), 0,
		    flags | WALK_ENCRYPTED);
}

static void
walk_message_part(struct walk *w, GMimeMessagePart *mp, size_t depth,
    int flags)
{
	GMimeMessage	*inner;

	add_attachment(w, GMIME_OBJECT(mp), depth, flags);
	if ((inner = g_mime_message_part_get_message(mp)) == NULL)
		return;
	walk_object(w, g_mime_message_get_mime_part(inner), depth + 1,
	    flags | WALK_NESTED);
}

static void
walk_leaf(struct walk *w, GMimePart *part, int flags)
{
	flags |= leaf_crypto_flags(part);
	if ((flags & (WALK_NESTED | WALK_ENCRYPTED)) == 0 &&
	    is_body_text(part))
		add_text(w, part);
	else
		add_attachment(w, GMIME_OBJECT(part), 0, flags);
}

static bool
is_body_text(GMimePart *part)
{
	GMimeContentType	*ct;
	const char		*disp, *name;

	ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
	if (ct == NULL || (!g_mime_content_type_is_type(ct, "text", "plain") &&
	    !g_mime_content_type_is_type(ct, "text", "html")))
		return false;
	disp = g_mime_object_get_disposition(GMIME_OBJECT(part));
	if (disp != NULL && g_ascii_strcasecmp(disp, "attachment") == 0)
		return false;
	name = g_mime_part_get_filename(part);
	return name == NULL || *name == '\0';
}

/*
 * S/MIME and PGP/MIME parts outside their multipart wrappers, by media type
 * (and S/MIME's smime-type parameter): WALK_SIGNED, WALK_ENCRYPTED or 0.
 */
static int
crypto_flags(const char *type, const char *subtype, const char *smime)
{
	if (type == NULL || subtype == NULL ||
	    g_ascii_strcasecmp(type, "application") != 0)
		return 0;
	if (g_ascii_strcasecmp(subtype, "pkcs7-mime") == 0 ||
	    g_ascii_strcasecmp(subtype, "x-pkcs7-mime") == 0)
		return smime != NULL && g_ascii_strcasecmp(smime,
		    "signed-data") == 0 ? WALK_SIGNED : WALK_ENCRYPTED;
	if (g_ascii_strcasecmp(subtype, "pkcs7-signature") == 0 ||
	    g_ascii_strcasecmp(subtype, "x-pkcs7-signature") == 0 ||
	    g_ascii_strcasecmp(subtype, "pgp-signature") == 0)
		return WALK_SIGNED;
	if (g_ascii_strcasecmp(subtype, "pgp-encrypted") == 0)
		return WALK_ENCRYPTED;
	return 0;
}

/* The same for a part GMime parsed. */
static int
leaf_crypto_flags(GMimePart *part)
{
	GMimeContentType	*ct;

	ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
	if (ct == NULL)
		return 0;
	return crypto_flags(g_mime_content_type_get_media_type(ct),
	    g_mime_content_type_get_media_subtype(ct),
	    g_mime_content_type_get_parameter(ct, "smime-type"));
}

/* The part's content with its transfer encoding undone. */
static char *
decode_content(GMimePart *part, size_t *len)
{
	GMimeDataWrapper	*dw;

	*len = 0;
	if ((dw = g_mime_part_get_content(part)) == NULL)
		return xstrdup("");
	return decode_stream(dw, len);
}

/* What the wrapper holds, transfer encoding undone, NUL after. */
static char *
decode_stream(GMimeDataWrapper *dw, size_t *len)
{
	GMimeStream	*mem;
	GByteArray	*ba;
	char		*out;

	mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(dw, mem);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	out = xmalloc(ba->len + 1);
	if (ba->len > 0)
		memcpy(out, ba->data, ba->len);
	out[ba->len] = '\0';
	*len = ba->len;
	g_object_unref(mem);
	return out;
}

/* Bytes in a declared charset (or none) to valid UTF-8. */
static char *
to_utf8(struct msg *m, const char *s, size_t len, const char *charset)
{
	char	*out;
	size_t	 bad;

	if (charset == NULL || g_ascii_strcasecmp(charset, "us-ascii") == 0 ||
	    g_ascii_strcasecmp(charset, "utf-8") == 0 ||
	    g_ascii_strcasecmp(charset, "utf8") == 0) {
		if (msg_utf8_valid(s, len))
			return xstrndup(s, len);
		msg_defect(m, "text labelled %s is not, charset guessed",
		    charset == NULL ? "us-ascii (no charset)" : charset);
		return guess_8bit(m, s, len);
	}
	out = msg_utf8_convert(s, len, g_mime_charset_iconv_name(charset),
	    &bad);
	if (out == NULL) {
		msg_defect(m, "unknown charset %.40s, guessed", charset);
		return guess_8bit(m, s, len);
	}
	if (bad > 0)
		msg_defect(m, "%zu bytes invalid in charset %.40s", bad,
		    charset);
	return out;
}

/*
 * GMime tries the fallback charsets and keeps the one that fits best. It
 * stops at a NUL, so NULs become blanks first.
 */
static char *
guess_8bit(struct msg *m, const char *s, size_t len)
{
	char	*g, *out, *copy;
	size_t	 i;

	copy = xmalloc(len + 1);
	for (i = 0; i < len; i++)
		copy[i] = s[i] == '\0' ? ' ' : s[i];
	copy[len] = '\0';
	g = g_mime_utils_decode_8bit(m->options, copy, len);
	free(copy);
	if (g == NULL)
		return msg_utf8_sanitize(s, len);
	out = msg_utf8_sanitize(g, strlen(g));
	g_free(g);
	return out;
}

static void
add_text(struct walk *w, GMimePart *part)
{
	GMimeContentType	*ct;
	char			*raw;
	size_t			 len;

	ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
	raw = decode_content(part, &len);
	add_decoded(w, raw, len, g_mime_content_type_get_parameter(ct,
	    "charset"), g_mime_content_type_is_type(ct, "text", "html"));
	free(raw);
}

/* Decoded bytes of a text part in charset: to UTF-8, HTML to text. */
static void
add_decoded(struct walk *w, const char *raw, size_t len, const char *charset,
    bool is_html)
{
	char	*utf8, *html;
	int	 cut = 0;

	utf8 = to_utf8(w->m, raw, len, charset);
	if (is_html) {
		html = msg_html_to_text(utf8, strlen(utf8),
		    w->m->limits.max_text, &cut);
		free(utf8);
		utf8 = html;
	}
	append_text(w, utf8);
	free(utf8);
}

/* Append s, CRLF made LF, a blank line between parts; cut at the cap. */
static void
append_text(struct walk *w, const char *s)
{
	size_t	 room, n;

	if (w->text_cut)
		return;
	if (w->text.len > 0 && buf_add(&w->text, "\n", 1) != 0)
		return;
	for (; *s != '\0'; s += n) {
		n = strcspn(s, "\r");
		room = w->text.cap - w->text.len;
		if (n > room) {
			n = room;
			while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
				n--;
			buf_add(&w->text, s, n);
			w->text_cut = true;
			msg_defect(w->m, "text cut at %zu bytes", w->text.len);
			return;
		}
		buf_add(&w->text, s, n);
		if (s[n] == '\r' && s[n + 1] != '\n')
			buf_add(&w->text, "\n", 1);
		if (s[n] == '\r')
			n++;
	}
}

static bool
has_words(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (!g_ascii_isspace(s[i]))
			return true;
	}
	return false;
}

static void
add_attachment(struct walk *w, GMimeObject *obj, size_t depth, int flags)
{
	struct msg		*m = w->m;
	struct msg_attachment	*a;
	GMimeContentType	*ct;
	const char		*name = NULL;
	char			*type;

	(void)depth;
	if (m->nattachments >= m->limits.max_parts)
		return;
	if (m->nattachments == m->attachments_size) {
		m->attachments_size = m->attachments_size == 0 ? 4 :
		    m->attachments_size * 2;
		m->attachments = xreallocarray(m->attachments,
		    m->attachments_size, sizeof *m->attachments);
		m->attachment_objs = xreallocarray(m->attachment_objs,
		    m->attachments_size, sizeof *m->attachment_objs);
	}
	m->attachment_objs[m->nattachments] = obj;
	a = &m->attachments[m->nattachments++];
	flags |= GMIME_IS_PART(obj) ? leaf_crypto_flags(GMIME_PART(obj)) : 0;
	if (GMIME_IS_PART(obj))
		name = g_mime_part_get_filename(GMIME_PART(obj));
	else if ((name = g_mime_object_get_content_disposition_parameter(obj,
	    "filename")) == NULL)
		name = g_mime_object_get_content_type_parameter(obj, "name");
	ct = g_mime_object_get_content_type(obj);
	type = ct == NULL ? g_strdup("application/octet-stream") :
	    g_mime_content_type_get_mime_type(ct);
	fill_attachment(m, a, name, type, flags);
	g_free(type);
}

/* Decoded bytes of a leaf; bytes as written of anything else. */
static size_t
object_size(GMimeObject *obj)
{
	GMimeStream		*null;
	GMimeDataWrapper	*dw;
	size_t			 n;

	null = g_mime_stream_null_new();
	if (GMIME_IS_PART(obj)) {
		if ((dw = g_mime_part_get_content(GMIME_PART(obj))) != NULL)
			g_mime_data_wrapper_write_to_stream(dw, null);
	} else if (GMIME_IS_MESSAGE_PART(obj) &&
	    g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj)) != NULL)
		g_mime_object_write_to_stream(GMIME_OBJECT(
		    g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj))),
		    NULL, null);
	else
		g_mime_object_write_content_to_stream(obj, NULL, null);
	n = GMIME_STREAM_NULL(null)->written;
	g_object_unref(null);
	return n;
}

/* Trailing blanks off; the text handed to the message. */
static void
finish_text(struct walk *w)
{
	char	*s;
	size_t	 len;

	if (w->text.data == NULL) {
		w->m->text = "";
		buf_free(&w->text);
		return;
	}
	s = buf_steal(&w->text, &len);
	while (len > 0 && g_ascii_isspace(s[len - 1]))
		len--;
	s[len] = '\0';
	w->m->text = msg_keep(w->m, msg_utf8_sanitize(s, len));
	free(s);
	buf_free(&w->text);
}
