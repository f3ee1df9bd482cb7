/*
 * reply: a short text/plain answer to the message's author. It goes to the
 * plan's `to` (Reply-To, else From), carries In-Reply-To and References, a
 * Message-ID derived from the action's journal identity (a resend after a
 * crash is the same mail), Auto-Submitted: auto-replied (RFC 3834: it is
 * written by a program), and the plan's Subject ("Re: " + the original
 * unless the rule gives one). It counts toward limits.replies_per_sender.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "action.h"
#include "compose.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "smtp.h"
#include "xmalloc.h"

static enum action_result reply_exec(struct action_ctx *, json_t *, char **);
static char	*reply_target(struct action_ctx *, json_t *, char **);
static char	*reply_subject(struct action_ctx *, json_t *);

const struct action_ops action_reply_ops = { "reply", reply_exec };

static char *
reply_target(struct action_ctx *ctx, json_t *fields, char **cause)
{
	const struct msg_addr	*a;
	const char		*to;

	to = json_string_value(json_object_get(fields, "to"));
	if (to == NULL) {
		if (msg_addrs(ctx->msg, MSG_REPLY_TO, &a) == 0 &&
		    msg_addrs(ctx->msg, MSG_FROM, &a) == 0) {
			*cause = xstrdup("reply: the message has no From or "
			    "Reply-To");
			return NULL;
		}
		to = a[0].address;
	}
	if (!smtp_address_valid(to, false)) {
		*cause = xasprintf("reply: cannot reply to '%.100s'", to);
		return NULL;
	}
	return xstrdup(to);
}

static char *
reply_subject(struct action_ctx *ctx, json_t *fields)
{
	const char	*subject;

	subject = json_string_value(json_object_get(fields, "subject"));
	if (subject != NULL)
		return xstrdup(subject);
	subject = msg_subject(ctx->msg);
	if (strncasecmp(subject, "Re:", 3) == 0)
		return xstrdup(subject);
	return xasprintf("Re: %s", subject);
}

static enum action_result
reply_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	struct outgoing		 o;
	enum action_result	 res = ACTION_PERM;
	GMimeMessage		*m;
	char			*name = NULL, *addr = NULL, *to = NULL;
	char			*subject = NULL, *id = NULL, *data = NULL;
	const char		*rcpt[1];
	size_t			 len;

	if ((to = reply_target(ctx, fields, cause)) == NULL)
		goto out;
	if (compose_sender(ctx, &name, &addr, cause) != 0)
		goto out;
	subject = reply_subject(ctx, fields);
	id = compose_message_id(ctx->ident, addr);
	rcpt[0] = to;
	m = compose_message(name, addr, rcpt, 1, subject, id, "auto-replied");
	compose_threading(m, ctx->msg);
	data = compose_text_message(m, json_string_value(json_object_get(fields,
	    "body")), &len);
	memset(&o, 0, sizeof o);
	o.kind = "reply";
	o.handle = "reply";
	o.is_reply = true;
	o.mail_from = addr;
	o.rcpts = rcpt;
	o.nrcpts = 1;
	o.data = data;
	o.len = len;
	o.message_id = id;
	res = compose_send(ctx, &o, cause);
out:
	free(name);
	free(addr);
	free(to);
	free(subject);
	free(id);
	free(data);
	return res;
}
