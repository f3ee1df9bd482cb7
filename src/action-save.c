/* Placeholder until the action is written. */
#include "action.h"
#include "xmalloc.h"

static enum action_result
not_yet(struct action_ctx *ctx, json_t *fields, char **cause)
{
	(void)ctx;
	*cause = xasprintf("action '%s' is not supported yet",
	    json_string_value(json_object_get(fields, "type")));
	return ACTION_PERM;
}

const struct action_ops action_save_ops = { "save", not_yet };
