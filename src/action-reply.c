/*
 * reply: a short text/plain answer to the message's author, composed with
 * GMime. It goes to Reply-To (else From), carries In-Reply-To and
 * References, a Message-ID derived from the action's journal identity (a
 * resend after a crash is the same mail), Auto-Submitted: auto-replied
 * (RFC 3834: it is written by a program), and a Subject with "Re: " unless
 * the rule gives one.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <openssl/sha.h>

#include "action.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "smtp.h"
#include "xmalloc.h"

struct reply {
	char	*from_name;
	char	*from_addr;
	char	*to_addr;
	char	*subject;
	char	*message_id;
};

static enum action_result reply_exec(struct action_ctx *, json_t *, char **);
static int	 reply_prepare(struct action_ctx *, json_t *, struct reply *,
		     char **);
static char	*reply_compose(struct action_ctx *, json_t *,
		     const struct reply *, size_t *);
static void	 reply_free(struct reply *);
static int	 parse_mailbox(const char *, char **, char **);

const struct action_ops action_reply_ops = { "reply", reply_exec };

/* "Name <addr>" -> name and address; -1 when there is no mailbox. */
static int
parse_mailbox(const char *text, char **name, char **addr)
{
	InternetAddressList	*list;
	InternetAddress		*ia;
	const char		*n;

	if ((list = internet_address_list_parse(NULL, text)) == NULL)
		return -1;
	if (internet_address_list_length(list) < 1 ||
	    !INTERNET_ADDRESS_IS_MAILBOX((ia =
	    internet_address_list_get_address(list, 0)))) {
		g_object_unref(list);
		return -1;
	}
	n = internet_address_get_name(ia);
	*name = xstrdup(n != NULL ? n : "");
	*addr = xstrdup(internet_address_mailbox_get_addr(
	    INTERNET_ADDRESS_MAILBOX(ia)));
	g_object_unref(list);
	return 0;
}

/* The Message-ID of the answer: a hash of the action's identity. */
static char *
derived_message_id(const char *ident, const char *from_addr)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	char		 hex[33];
	const char	*domain;
	int		 i;

	SHA256((const unsigned char *)ident, strlen(ident), md);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	domain = strrchr(from_addr, '@');
	return xasprintf("facteur.%s@%s", hex,
	    domain != NULL ? domain + 1 : "localhost");
}

static int
reply_prepare(struct action_ctx *ctx, json_t *fields, struct reply *r,
    char **cause)
{
	const struct msg_addr	*a;
	const char		*from, *subject;

	memset(r, 0, sizeof r[0]);
	from = ctx->conf->smtp.from;
	if (from == NULL && ctx->account->naddresses > 0)
		from = ctx->account->addresses[0];
	if (from == NULL || parse_mailbox(from, &r->from_name,
	    &r->from_addr) != 0) {
		*cause = xstrdup("reply: no sender address (set smtp.from)");
		return -1;
	}
	if (msg_addrs(ctx->msg, MSG_REPLY_TO, &a) == 0 &&
	    msg_addrs(ctx->msg, MSG_FROM, &a) == 0) {
		*cause = xstrdup("reply: the message has no From or Reply-To");
		return -1;
	}
	r->to_addr = xstrdup(a[0].address);
	if (!smtp_address_valid(r->to_addr, false)) {
		*cause = xasprintf("reply: cannot reply to '%.100s'",
		    r->to_addr);
		return -1;
	}
	subject = json_string_value(json_object_get(fields, "subject"));
	if (subject != NULL)
		r->subject = xstrdup(subject);
	else if (strncasecmp(msg_subject(ctx->msg), "Re:", 3) == 0)
		r->subject = xstrdup(msg_subject(ctx->msg));
	else
		r->subject = xasprintf("Re: %s", msg_subject(ctx->msg));
	r->message_id = derived_message_id(ctx->ident, r->from_addr);
	return 0;
}

static void
reply_threading(GMimeObject *o, struct msg *m)
{
	const char	*id = msg_message_id(m), *refs = msg_references(m);
	char		*v;

	if (id == NULL)
		return;
	v = xasprintf("<%s>", id);
	g_mime_object_set_header(o, "In-Reply-To", v, NULL);
	free(v);
	v = refs != NULL ? xasprintf("%s <%s>", refs, id) :
	    xasprintf("<%s>", id);
	g_mime_object_set_header(o, "References", v, NULL);
	free(v);
}

static char *
reply_compose(struct action_ctx *ctx, json_t *fields, const struct reply *r,
    size_t *len)
{
	GMimeMessage		*m;
	GMimeTextPart		*part;
	GMimeFormatOptions	*fo;
	GDateTime		*now;
	const char		*body;
	char			*text, *out;

	m = g_mime_message_new(TRUE);
	g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, r->from_name,
	    r->from_addr);
	g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, NULL, r->to_addr);
	g_mime_message_set_subject(m, r->subject, "utf-8");
	now = g_date_time_new_now_local();
	g_mime_message_set_date(m, now);
	g_date_time_unref(now);
	g_mime_message_set_message_id(m, r->message_id);
	reply_threading(GMIME_OBJECT(m), ctx->msg);
	g_mime_object_set_header(GMIME_OBJECT(m), "Auto-Submitted",
	    "auto-replied", NULL);
	body = json_string_value(json_object_get(fields, "body"));
	part = g_mime_text_part_new_with_subtype("plain");
	g_mime_text_part_set_text(part, body != NULL ? body : "");
	g_mime_object_encode(GMIME_OBJECT(part),
	    GMIME_ENCODING_CONSTRAINT_7BIT);
	g_mime_message_set_mime_part(m, GMIME_OBJECT(part));
	g_object_unref(part);
	fo = g_mime_format_options_clone(NULL);
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	text = g_mime_object_to_string(GMIME_OBJECT(m), fo);
	g_mime_format_options_free(fo);
	g_object_unref(m);
	out = xstrdup(text);
	g_free(text);
	*len = strlen(out);
	return out;
}

static void
reply_free(struct reply *r)
{
	free(r->from_name);
	free(r->from_addr);
	free(r->to_addr);
	free(r->subject);
	free(r->message_id);
}

static enum action_result
reply_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	struct reply		 r;
	enum smtp_result	 sr;
	const char		*rcpt[1];
	char			*data;
	size_t			 len;

	if (reply_prepare(ctx, fields, &r, cause) != 0) {
		reply_free(&r);
		return ACTION_PERM;
	}
	data = reply_compose(ctx, fields, &r, &len);
	rcpt[0] = r.to_addr;
	sr = smtp_send(&ctx->conf->smtp, r.from_addr, rcpt, 1, data, len,
	    cause);
	if (sr == SMTP_OK)
		log_info("%s: reply sent to %s <%s>", ctx->account->name,
		    r.to_addr, r.message_id);
	free(data);
	reply_free(&r);
	return sr == SMTP_OK ? ACTION_OK : sr == SMTP_TEMP ? ACTION_TEMP :
	    ACTION_PERM;
}
