#include <string.h>

#include "action.h"

static const struct action_ops *const actions[] = {
	&action_reply_ops,
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
