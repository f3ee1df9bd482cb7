/*
 * notify: a new text/plain message from smtp.from to the plan's `to`, with
 * the rendered subject and body (defaults from the rule loader), marked
 * Auto-Submitted: auto-generated. The original is not attached.
 */
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "compose.h"
#include "conf.h"
#include "msg.h"
#include "xmalloc.h"

static enum action_result notify_exec(struct action_ctx *, json_t *, char **);

const struct action_ops action_notify_ops = { "notify", notify_exec };

static enum action_result
notify_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	struct outgoing		 o;
	enum action_result	 res = ACTION_PERM;
	GMimeMessage		*m;
	const char		*subject;
	char			**rcpts = NULL, *name = NULL, *addr = NULL;
	char			*id = NULL, *data = NULL, *err = NULL;
	size_t			 n, len;

	if (compose_rcpts(json_object_get(fields, "to"), &rcpts, &n,
	    &err) != 0) {
		*cause = xasprintf("notify: %s", err);
		goto out;
	}
	if (compose_sender(ctx, &name, &addr, cause) != 0)
		goto out;
	id = compose_message_id(ctx->ident, addr);
	if ((subject = json_string_value(json_object_get(fields,
	    "subject"))) == NULL)
		subject = msg_subject(ctx->msg);
	m = compose_message(name, addr, (const char *const *)rcpts, n, subject,
	    id, "auto-generated");
	data = compose_text_message(m, json_string_value(json_object_get(fields,
	    "body")), &len);
	memset(&o, 0, sizeof o);
	o.kind = "notify";
	o.handle = "notify";
	o.mail_from = addr;
	o.rcpts = (const char *const *)rcpts;
	o.nrcpts = n;
	o.data = data;
	o.len = len;
	o.message_id = id;
	res = compose_send(ctx, &o, cause);
out:
	free(err);
	free(data);
	free(name);
	free(addr);
	free(id);
	compose_rcpts_free(rcpts);
	return res;
}
