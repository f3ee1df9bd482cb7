/*
 * Composing and sending outgoing mail. Every sending action ends in
 * compose_send(), so the limits of the config apply to all of them alike:
 *
 * - limits.sends_per_hour counts every message sent in the last hour, by
 *   every account. Over it the action fails as temporary (ACTION_TEMP): the
 *   mail is wanted, only not now, and the journal retries it later.
 * - limits.replies_per_sender counts replies and auto-replies to one
 *   correspondent of one account. Over it the reply is dropped (ACTION_OK,
 *   logged at info): a late answer to a chatty sender or a loop is worse
 *   than none, and RFC 3834 prefers silence to a flood.
 *
 * A send is recorded after the server took it. A crash between the two
 * sends the same mail again (same Message-ID) rather than losing it.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "compose.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "smtp.h"
#include "state.h"
#include "xmalloc.h"

enum compose_limit {
	LIMIT_OK,
	LIMIT_DROP,
	LIMIT_LATER
};

static enum compose_limit compose_limits(struct action_ctx *,
		    const struct outgoing *, const char *, char **);
static int	 compose_rcpts_add(const char *, char ***, size_t *, char **);
static char	*compose_rcpt_key(const struct outgoing *);

int
compose_parse_mailbox(const char *text, char **name, char **addr)
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

int
compose_sender(const struct action_ctx *ctx, char **name, char **addr,
    char **cause)
{
	const char	*from;

	*name = *addr = NULL;
	from = ctx->conf->smtp.from;
	if (from == NULL && ctx->account->naddresses > 0)
		from = ctx->account->addresses[0];
	if (from == NULL || compose_parse_mailbox(from, name, addr) != 0 ||
	    !smtp_address_valid(*addr, false)) {
		free(*name);
		free(*addr);
		*name = *addr = NULL;
		*cause = xstrdup("no usable sender address (set smtp.from)");
		return -1;
	}
	return 0;
}

char *
compose_message_id(const char *ident, const char *from_addr)
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

char *
compose_address_key(const char *addr)
{
	char	*s = xstrdup(addr), *p;

	for (p = s; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

/* Every mailbox of one rendered address field, appended to *v. */
static int
compose_rcpts_add(const char *text, char ***v, size_t *n, char **cause)
{
	InternetAddressList	*list;
	InternetAddress		*ia;
	const char		*addr;
	int			 i, len, rc = 0;

	if ((list = internet_address_list_parse(NULL, text)) == NULL ||
	    (len = internet_address_list_length(list)) == 0) {
		*cause = xasprintf("'%.100s' is not an address", text);
		if (list != NULL)
			g_object_unref(list);
		return -1;
	}
	for (i = 0; i < len && rc == 0; i++) {
		ia = internet_address_list_get_address(list, i);
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			*cause = xasprintf("'%.100s': groups are not "
			    "recipients", text);
			rc = -1;
			break;
		}
		addr = internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia));
		if (!smtp_address_valid(addr, false)) {
			*cause = xasprintf("'%.100s' is not a valid address",
			    addr);
			rc = -1;
			break;
		}
		*v = xreallocarray(*v, *n + 2, sizeof **v);
		(*v)[(*n)++] = xstrdup(addr);
		(*v)[*n] = NULL;
	}
	g_object_unref(list);
	return rc;
}

int
compose_rcpts(json_t *field, char ***out, size_t *n, char **cause)
{
	json_t	*item;
	size_t	 i;

	*out = xcalloc(1, sizeof **out);
	*n = 0;
	if (json_is_string(field)) {
		if (compose_rcpts_add(json_string_value(field), out, n,
		    cause) != 0)
			goto fail;
	} else if (json_is_array(field)) {
		json_array_foreach(field, i, item) {
			if (!json_is_string(item) || compose_rcpts_add(
			    json_string_value(item), out, n, cause) != 0) {
				if (*cause == NULL)
					*cause = xstrdup("a recipient is not "
					    "a string");
				goto fail;
			}
		}
	}
	if (*n == 0) {
		*cause = xstrdup("no recipient");
		goto fail;
	}
	return 0;
fail:
	compose_rcpts_free(*out);
	*out = NULL;
	*n = 0;
	return -1;
}

void
compose_rcpts_free(char **v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

GMimeMessage *
compose_message(const char *from_name, const char *from_addr,
    const char *const *to, size_t nto, const char *subject,
    const char *message_id, const char *auto_submitted)
{
	GMimeMessage	*m;
	GDateTime	*now;
	size_t		 i;

	m = g_mime_message_new(TRUE);
	g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_FROM,
	    from_name != NULL && *from_name != '\0' ? from_name : NULL,
	    from_addr);
	for (i = 0; i < nto; i++)
		g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, NULL,
		    to[i]);
	/* GMime writes non-ASCII as RFC 2047 encoded-words. */
	g_mime_message_set_subject(m, subject, "utf-8");
	now = g_date_time_new_now_local();
	g_mime_message_set_date(m, now);
	g_date_time_unref(now);
	g_mime_message_set_message_id(m, message_id);
	if (auto_submitted != NULL)
		g_mime_object_set_header(GMIME_OBJECT(m), "Auto-Submitted",
		    auto_submitted, NULL);
	return m;
}

void
compose_threading(GMimeMessage *m, struct msg *orig)
{
	const char	*id = msg_message_id(orig), *refs = msg_references(orig);
	char		*v;

	if (id == NULL)
		return;
	v = xasprintf("<%s>", id);
	g_mime_object_set_header(GMIME_OBJECT(m), "In-Reply-To", v, NULL);
	free(v);
	v = refs != NULL ? xasprintf("%s <%s>", refs, id) :
	    xasprintf("<%s>", id);
	g_mime_object_set_header(GMIME_OBJECT(m), "References", v, NULL);
	free(v);
}

GMimeObject *
compose_text_part(const char *text)
{
	GMimeTextPart	*part;

	part = g_mime_text_part_new_with_subtype("plain");
	g_mime_text_part_set_text(part, text != NULL ? text : "");
	g_mime_object_encode(GMIME_OBJECT(part),
	    GMIME_ENCODING_CONSTRAINT_7BIT);
	return GMIME_OBJECT(part);
}

char *
compose_string(GMimeObject *o, size_t *len)
{
	GMimeFormatOptions	*fo;
	char			*text, *out;

	fo = g_mime_format_options_clone(NULL);
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	text = g_mime_object_to_string(o, fo);
	g_mime_format_options_free(fo);
	out = xstrdup(text);
	g_free(text);
	*len = strlen(out);
	return out;
}

/* The correspondent column of the sent table: the recipients, joined. */
static char *
compose_rcpt_key(const struct outgoing *o)
{
	struct buf	 b;
	char		*k, *out;
	size_t		 i, len;

	buf_init(&b, 4096);
	for (i = 0; i < o->nrcpts; i++) {
		k = compose_address_key(o->rcpts[i]);
		if (i > 0)
			buf_addstr(&b, ",");
		buf_addstr(&b, k);
		free(k);
	}
	out = buf_steal(&b, &len);
	buf_free(&b);
	return out != NULL ? out : xstrdup("");
}

/* Whether the limits let this mail go now; *why says which one stops it. */
static enum compose_limit
compose_limits(struct action_ctx *ctx, const struct outgoing *o,
    const char *key, char **why)
{
	const struct conf_limits	*l = &ctx->conf->limits;
	time_t				 now = time(NULL);
	int				 n;

	if (l->sends_per_hour > 0) {
		n = state_sent_count_prefix(ctx->state, NULL, NULL, NULL,
		    now - 3600);
		if (n < 0 || (unsigned)n >= l->sends_per_hour) {
			*why = n < 0 ? xstrdup("cannot count sends in the "
			    "state") : xasprintf("limits.sends_per_hour (%u) "
			    "reached", l->sends_per_hour);
			return LIMIT_LATER;
		}
	}
	if (o->is_reply && l->replies_per_sender > 0) {
		n = state_sent_count_prefix(ctx->state, ctx->account->name,
		    key, "reply", now - (time_t)l->replies_per_sender_seconds);
		if (n < 0) {
			*why = xstrdup("cannot count replies in the state");
			return LIMIT_LATER;
		}
		if ((unsigned)n >= l->replies_per_sender) {
			*why = xasprintf("limits.replies_per_sender (%u per "
			    "%us) reached for %s", l->replies_per_sender,
			    l->replies_per_sender_seconds, key);
			return LIMIT_DROP;
		}
	}
	return LIMIT_OK;
}

enum action_result
compose_send(struct action_ctx *ctx, const struct outgoing *o, char **cause)
{
	enum action_result	 res = ACTION_OK;
	enum compose_limit	 lim;
	enum smtp_result	 sr;
	char			*key, *why = NULL, *err = NULL;

	key = compose_rcpt_key(o);
	lim = compose_limits(ctx, o, key, &why);
	if (lim == LIMIT_DROP) {
		log_info("%s: %s to %s not sent: %s", ctx->account->name,
		    o->kind, key, why);
		goto out;
	}
	if (lim == LIMIT_LATER) {
		*cause = xasprintf("%s not sent yet: %s", o->kind, why);
		res = ACTION_TEMP;
		goto out;
	}
	sr = smtp_send(&ctx->conf->smtp, o->mail_from, o->rcpts, o->nrcpts,
	    o->data, o->len, cause);
	if (sr == SMTP_TEMP || sr == SMTP_PERM) {
		res = sr == SMTP_TEMP ? ACTION_TEMP : ACTION_PERM;
		goto out;
	}
	if (state_sent_add(ctx->state, ctx->account->name, key, o->handle,
	    &err) != 0) {
		log_error("%s: %s", ctx->account->name, err);
		free(err);
	}
	log_info("%s: %s sent to %s <%s>", ctx->account->name, o->kind, key,
	    o->message_id);
	if (sr == SMTP_PARTIAL)
		res = ACTION_PERM;	/* *cause names the refused ones */
out:
	free(why);
	free(key);
	return res;
}

char *
compose_text_message(GMimeMessage *m, const char *text, size_t *len)
{
	GMimeObject	*part;
	char		*data;

	part = compose_text_part(text);
	g_mime_message_set_mime_part(m, part);
	g_object_unref(part);
	data = compose_string(GMIME_OBJECT(m), len);
	g_object_unref(m);
	return data;
}
