/*
 * autoreply: an automatic answer as RFC 3834 section 4 and RFC 5230 want
 * it. It is refused (ACTION_OK, reason logged at info) whenever
 * autoreply_refusal() says so; otherwise it goes to the Return-Path, one
 * address, with MAIL FROM:<> so nothing ever answers it back, Auto-Submitted:
 * auto-replied, In-Reply-To/References, a Subject with the rule's prefix
 * (RFC 2047 encoded when not ASCII), a fresh Message-ID derived from the
 * journal identity, Date, and a short text/plain body, never attachments.
 *
 * `every` (seconds, 7 days by default as RFC 5230 advises) is the period in
 * which one correspondent gets one answer per `handle`. The handle defaults
 * to the rule's name (set by the rule loader): editing a rule's text does
 * not restart the period, while two rules with different answers each keep
 * their own. The sent table's key is "reply/auto/" + handle, so the answer
 * also counts toward limits.replies_per_sender.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "action.h"
#include "autoreply.h"
#include "compose.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "smtp.h"
#include "state.h"
#include "xmalloc.h"

#define AUTOREPLY_EVERY		(7 * 86400)
/* An auto-reply is short (RFC 3834 section 3.3): cap what a rule renders. */
#define AUTOREPLY_MAX_BODY	(16 * 1024)

static enum action_result autoreply_exec(struct action_ctx *, json_t *,
		    char **);
static bool	 autoreply_refused(struct action_ctx *, json_t *,
		     const char *, const char *, const char *);
static char	*autoreply_compose(struct action_ctx *, json_t *, const char *,
		     const char *, const char *, const char *, size_t *);

const struct action_ops action_autoreply_ops = { "autoreply",
	autoreply_exec };

/* The message refusals, then the period: true (logged) when none goes. */
static bool
autoreply_refused(struct action_ctx *ctx, json_t *fields, const char *to,
    const char *name, const char *handle)
{
	json_int_t	 every;
	char		*why, *key;
	int		 n;

	if ((why = autoreply_refusal(ctx->msg, ctx->account)) != NULL) {
		log_info("%s: %s: uid %u: autoreply not sent: %s",
		    ctx->account->name, ctx->mailbox, (unsigned)ctx->uid, why);
		free(why);
		return true;
	}
	if (to == NULL || !smtp_address_valid(to, false)) {
		log_info("%s: %s: uid %u: autoreply not sent: Return-Path "
		    "'%.100s' is not a usable address", ctx->account->name,
		    ctx->mailbox, (unsigned)ctx->uid, to != NULL ? to : "");
		return true;
	}
	every = json_integer_value(json_object_get(fields, "every"));
	if (every <= 0)
		every = AUTOREPLY_EVERY;
	key = compose_address_key(to);
	n = state_sent_count(ctx->state, ctx->account->name, key, handle,
	    time(NULL) - (time_t)every);
	if (n > 0)
		log_info("%s: %s: uid %u: autoreply not sent: %s already "
		    "answered (handle '%s') within %llds", ctx->account->name,
		    ctx->mailbox, (unsigned)ctx->uid, key, name,
		    (long long)every);
	free(key);
	return n > 0;
}

static char *
autoreply_compose(struct action_ctx *ctx, json_t *fields, const char *name,
    const char *addr, const char *to, const char *id, size_t *len)
{
	GMimeMessage	*m;
	const char	*subject, *body;
	char		*s = NULL, *text, *data;

	if ((subject = json_string_value(json_object_get(fields,
	    "subject"))) == NULL)
		subject = s = xasprintf("Auto: %s", msg_subject(ctx->msg));
	m = compose_message(name, addr, &to, 1, subject, id, "auto-replied");
	compose_threading(m, ctx->msg);
	/* Exchange ignores Auto-Submitted; this keeps its out-of-office
	 * from answering the answer. */
	g_mime_object_set_header(GMIME_OBJECT(m), "X-Auto-Response-Suppress",
	    "All", NULL);
	if ((body = json_string_value(json_object_get(fields, "body"))) ==
	    NULL)
		body = "";
	text = xstrndup(body, AUTOREPLY_MAX_BODY);
	data = compose_text_message(m, text, len);
	free(text);
	free(s);
	return data;
}

static enum action_result
autoreply_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	struct outgoing		 o;
	enum action_result	 res = ACTION_OK;
	const char		*to, *h;
	char			*handle, *name = NULL, *addr = NULL;
	char			*id = NULL, *data = NULL;
	size_t			 len;

	to = json_string_value(json_object_get(fields, "to"));
	if ((h = json_string_value(json_object_get(fields, "handle"))) == NULL)
		h = "autoreply";
	handle = xasprintf("reply/auto/%s", h);
	if (autoreply_refused(ctx, fields, to, h, handle))
		goto out;
	if (compose_sender(ctx, &name, &addr, cause) != 0) {
		res = ACTION_PERM;
		goto out;
	}
	id = compose_message_id(ctx->ident, addr);
	data = autoreply_compose(ctx, fields, name, addr, to, id, &len);
	memset(&o, 0, sizeof o);
	o.kind = "autoreply";
	o.handle = handle;
	o.is_reply = true;
	o.mail_from = "";		/* MAIL FROM:<>, RFC 3834 section 3.3 */
	o.rcpts = &to;
	o.nrcpts = 1;
	o.data = data;
	o.len = len;
	o.message_id = id;
	res = compose_send(ctx, &o, cause);
out:
	free(handle);
	free(name);
	free(addr);
	free(id);
	free(data);
	return res;
}
