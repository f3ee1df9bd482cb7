#include <stdlib.h>

#include "commands.h"

const char *
default_config_path(void)
{
	const char	*p;

	if ((p = getenv("FACTEUR_CONFIG")) != NULL && *p != '\0')
		return p;
	return "config/facteur.yaml";
}
