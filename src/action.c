#include <string.h>

#include "action.h"

static const struct action_ops *const actions[] = {
	&action_reply_ops,
	&action_autoreply_ops,
	&action_forward_ops,
	&action_notify_ops,
	&action_run_ops,
	&action_webhook_ops,
	&action_move_ops,
	&action_copy_ops,
	&action_flag_ops,
	&action_delete_ops,
	&action_save_ops,
	&action_extract_ops,
};

const struct action_ops *
action_find(const char *type)
{
	size_t	 i;

	if (type == NULL)
		return NULL;
	for (i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(actions[i]->type, type) == 0)
			return actions[i];
	return NULL;
}
