#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "conf.h"
#include "http-doc.h"
#include "msg.h"
#include "msg-utf8.h"
#include "xmalloc.h"

static json_t	*doc_str(const char *);
static json_t	*doc_addrs(struct msg *, enum msg_addr_field);
static json_t	*doc_attachments(struct msg *);

/* A string, or null for NULL; msg strings are UTF-8 already. */
static json_t *
doc_str(const char *s)
{
	json_t	*j;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) == NULL)
		j = json_string("(not valid UTF-8)");
	return j;
}

static json_t *
doc_addrs(struct msg *m, enum msg_addr_field field)
{
	const struct msg_addr	*a;
	json_t			*list;
	size_t			 i, n;

	list = json_array();
	n = msg_addrs(m, field, &a);
	for (i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:o, s:o}",
		    "name", doc_str(a[i].name),
		    "address", doc_str(a[i].address)));
	return list;
}

static json_t *
doc_attachments(struct msg *m)
{
	const struct msg_attachment	*a;
	json_t				*list;
	size_t				 i, n;

	list = json_array();
	n = msg_attachments(m, &a);
	for (i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:o, s:o, s:I}",
		    "filename", doc_str(a[i].filename),
		    "content_type", doc_str(a[i].content_type),
		    "size", (json_int_t)a[i].size));
	return list;
}

json_t *
http_doc_new(struct action_ctx *ctx, json_t *fields)
{
	struct msg	*m = ctx->msg;
	json_t		*doc, *from, *c;
	char		*text;
	size_t		 len;

	doc = json_object();
	json_object_set_new(doc, "account", doc_str(ctx->account->name));
	json_object_set_new(doc, "mailbox", doc_str(ctx->mailbox));
	json_object_set_new(doc, "uid", ctx->uid != 0 ?
	    json_integer(ctx->uid) : json_null());
	json_object_set_new(doc, "rule", doc_str(json_string_value(
	    json_object_get(fields, "rule"))));
	json_object_set_new(doc, "message_id", doc_str(msg_message_id(m)));
	json_object_set_new(doc, "date", doc_str(msg_date(m)));
	json_object_set_new(doc, "subject", doc_str(msg_subject(m)));
	from = doc_addrs(m, MSG_FROM);
	json_object_set(doc, "from", json_array_size(from) > 0 ?
	    json_array_get(from, 0) : json_null());
	json_decref(from);
	json_object_set_new(doc, "to", doc_addrs(m, MSG_TO));
	json_object_set_new(doc, "cc", doc_addrs(m, MSG_CC));
	text = xstrdup(msg_text(m));
	len = strlen(text);
	msg_utf8_truncate(text, HTTP_DOC_TEXT_MAX);
	json_object_set_new(doc, "text", doc_str(text));
	json_object_set_new(doc, "text_truncated", json_boolean(
	    strlen(text) < len));
	free(text);
	json_object_set_new(doc, "attachments", doc_attachments(m));
	c = json_object_get(fields, "captures");
	json_object_set_new(doc, "captures", json_is_object(c) ?
	    json_deep_copy(c) : json_object());
	return doc;
}
