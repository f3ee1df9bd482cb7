/*
 * forward: the message to other addresses, three ways (`as`):
 *
 * - attachment (the default): a new message from smtp.from, "Fwd: " +
 *   subject, a short text part and a message/rfc822 part holding the
 *   original bytes untouched (8bit or 7bit as they are, never re-encoded).
 * - inline: a new text/plain message whose body is the usual
 *   "---------- Forwarded message ----------" block (From, Date, Subject,
 *   To, Cc) and the original's readable text. Attachments are not carried.
 * - redirect: the original bytes resent to the targets with a new envelope
 *   (MAIL FROM smtp.from, RCPT TO the targets). Resent-From, Resent-To,
 *   Resent-Date and Resent-Message-ID are prepended (RFC 5322 section
 *   3.6.6); Return-Path fields are removed, as they describe the old
 *   envelope and the final delivery adds a new one. Everything else is
 *   byte for byte the original (bare LF line ends become CRLF for SMTP).
 *
 * New messages carry Auto-Submitted: auto-generated (RFC 3834: written by
 * a program, not in answer to anyone); a redirect is left as it was.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "action.h"
#include "compose.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "xmalloc.h"

struct forward {
	char	*name;		/* smtp.from */
	char	*addr;
	char	**rcpts;
	size_t	 nrcpts;
	char	*id;
};

static enum action_result forward_exec(struct action_ctx *, json_t *,
		    char **);
static char	*forward_subject(struct msg *);
static char	*forward_attachment(struct action_ctx *, json_t *,
		     const struct forward *, size_t *);
static char	*forward_inline(struct action_ctx *, const struct forward *,
		     size_t *);
static char	*forward_redirect(struct action_ctx *, const struct forward *,
		     size_t *);
static void	 forward_header_line(struct buf *, struct msg *,
		     const char *);
static bool	 is_return_path(const char *, const char *);

const struct action_ops action_forward_ops = { "forward", forward_exec };

static char *
forward_subject(struct msg *m)
{
	const char	*s = msg_subject(m);

	if (strncasecmp(s, "Fwd:", 4) == 0)
		return xstrdup(s);
	return xasprintf("Fwd: %s", s);
}

/* The original as a message/rfc822 part, its bytes written as they are. */
static GMimeObject *
forward_rfc822_part(struct msg *m)
{
	GMimeContentEncoding	 enc = GMIME_CONTENT_ENCODING_7BIT;
	GMimeDataWrapper	*w;
	GMimeStream		*stream;
	GMimePart		*p;
	const char		*raw;
	size_t			 len, i;

	raw = msg_raw(m, &len);
	for (i = 0; i < len; i++) {
		if ((unsigned char)raw[i] >= 0x80 || raw[i] == '\0') {
			enc = GMIME_CONTENT_ENCODING_8BIT;
			break;
		}
	}
	p = g_mime_part_new_with_type("message", "rfc822");
	stream = g_mime_stream_mem_new_with_buffer(raw, len);
	/* Part and content in the same encoding: GMime copies, no filter. */
	w = g_mime_data_wrapper_new_with_stream(stream, enc);
	g_mime_part_set_content(p, w);
	g_mime_part_set_content_encoding(p, enc);
	g_object_unref(w);
	g_object_unref(stream);
	return GMIME_OBJECT(p);
}

static char *
forward_attachment(struct action_ctx *ctx, json_t *fields,
    const struct forward *f, size_t *len)
{
	GMimeMessage	*m;
	GMimeMultipart	*mp;
	GMimeObject	*part;
	const char	*rule;
	char		*subject, *text, *data;

	subject = forward_subject(ctx->msg);
	m = compose_message(f->name, f->addr, (const char *const *)f->rcpts,
	    f->nrcpts, subject, f->id, "auto-generated");
	mp = g_mime_multipart_new_with_subtype("mixed");
	rule = json_string_value(json_object_get(fields, "rule"));
	text = xasprintf("The attached message was forwarded by the rule "
	    "%s.\n", rule != NULL ? rule : "(unnamed)");
	part = compose_text_part(text);
	g_mime_multipart_add(mp, part);
	g_object_unref(part);
	part = forward_rfc822_part(ctx->msg);
	g_mime_multipart_add(mp, part);
	g_object_unref(part);
	g_mime_message_set_mime_part(m, GMIME_OBJECT(mp));
	g_object_unref(mp);
	data = compose_string(GMIME_OBJECT(m), len);
	g_object_unref(m);
	free(text);
	free(subject);
	return data;
}

static void
forward_header_line(struct buf *b, struct msg *m, const char *name)
{
	const char	*v = msg_header(m, name, 0);

	if (v != NULL)
		buf_printf(b, "%s: %s\n", name, v);
}

static char *
forward_inline(struct action_ctx *ctx, const struct forward *f, size_t *len)
{
	GMimeMessage	*m;
	struct buf	 b;
	char		*subject, *text, *data;

	buf_init(&b, 16 * 1024 * 1024);
	buf_addstr(&b, "---------- Forwarded message ----------\n");
	forward_header_line(&b, ctx->msg, "From");
	forward_header_line(&b, ctx->msg, "Date");
	forward_header_line(&b, ctx->msg, "Subject");
	forward_header_line(&b, ctx->msg, "To");
	forward_header_line(&b, ctx->msg, "Cc");
	buf_addstr(&b, "\n");
	buf_addstr(&b, msg_text(ctx->msg));
	text = buf_steal(&b, NULL);
	buf_free(&b);
	subject = forward_subject(ctx->msg);
	m = compose_message(f->name, f->addr, (const char *const *)f->rcpts,
	    f->nrcpts, subject, f->id, "auto-generated");
	data = compose_text_message(m, text, len);
	free(text);
	free(subject);
	return data;
}

/* Does the line at p (up to end) start a Return-Path field? */
static bool
is_return_path(const char *p, const char *end)
{
	return end - p >= 12 && strncasecmp(p, "Return-Path:", 12) == 0;
}

static char *
forward_redirect(struct action_ctx *ctx, const struct forward *f,
    size_t *len)
{
	InternetAddress	*ia;
	GDateTime	*now;
	struct buf	 b;
	const char	*raw, *p, *end, *nl;
	char		*s;
	size_t		 rawlen, i, n, col;
	bool		 in_header = true, skip = false;

	raw = msg_raw(ctx->msg, &rawlen);
	buf_init(&b, rawlen + 64 * 1024);
	ia = internet_address_mailbox_new(*f->name != '\0' ? f->name : NULL,
	    f->addr);
	s = internet_address_to_string(ia, NULL, TRUE);
	buf_printf(&b, "Resent-From: %s\r\nResent-To: ", s);
	g_free(s);
	g_object_unref(ia);
	/* Folded before 78 columns: any number of targets stays legal. */
	for (i = 0, col = 11; i < f->nrcpts; i++) {
		n = strlen(f->rcpts[i]);
		if (i > 0 && col + n + 2 > 78) {
			buf_addstr(&b, ",\r\n ");
			col = 1;
		} else if (i > 0) {
			buf_addstr(&b, ", ");
			col += 2;
		}
		buf_addstr(&b, f->rcpts[i]);
		col += n;
	}
	now = g_date_time_new_now_local();
	s = g_mime_utils_header_format_date(now);
	g_date_time_unref(now);
	buf_printf(&b, "\r\nResent-Date: %s\r\nResent-Message-ID: <%s>\r\n", s,
	    f->id);
	g_free(s);
	for (p = raw, end = raw + rawlen; p < end; p = nl) {
		nl = memchr(p, '\n', (size_t)(end - p));
		nl = nl != NULL ? nl + 1 : end;
		if (in_header && (*p == '\r' || *p == '\n'))
			in_header = false;
		if (in_header && *p != ' ' && *p != '\t')
			skip = is_return_path(p, nl);
		if (in_header && skip)
			continue;
		if (nl[-1] == '\n' && (nl - p < 2 || nl[-2] != '\r')) {
			buf_add(&b, p, (size_t)(nl - p - 1));
			buf_addstr(&b, "\r\n");
		} else
			buf_add(&b, p, (size_t)(nl - p));
	}
	return buf_steal(&b, len);
}

static enum action_result
forward_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	struct forward		 f;
	struct outgoing		 o;
	enum action_result	 res = ACTION_PERM;
	const char		*as;
	char			*data = NULL, *err = NULL;
	size_t			 len;

	memset(&f, 0, sizeof f);
	if ((as = json_string_value(json_object_get(fields, "as"))) == NULL)
		as = "attachment";
	if (compose_rcpts(json_object_get(fields, "to"), &f.rcpts, &f.nrcpts,
	    &err) != 0) {
		*cause = xasprintf("forward: %s", err);
		goto out;
	}
	if (compose_sender(ctx, &f.name, &f.addr, cause) != 0)
		goto out;
	f.id = compose_message_id(ctx->ident, f.addr);
	if (strcmp(as, "redirect") == 0)
		data = forward_redirect(ctx, &f, &len);
	else if (strcmp(as, "inline") == 0)
		data = forward_inline(ctx, &f, &len);
	else
		data = forward_attachment(ctx, fields, &f, &len);
	memset(&o, 0, sizeof o);
	o.kind = strcmp(as, "redirect") == 0 ? "redirect" : "forward";
	o.handle = "forward";
	o.mail_from = f.addr;
	o.rcpts = (const char *const *)f.rcpts;
	o.nrcpts = f.nrcpts;
	o.data = data;
	o.len = len;
	o.message_id = f.id;
	res = compose_send(ctx, &o, cause);
out:
	free(err);
	free(data);
	free(f.name);
	free(f.addr);
	free(f.id);
	compose_rcpts_free(f.rcpts);
	return res;
}
