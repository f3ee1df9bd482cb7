#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "log.h"

const char *
default_config_path(void)
{
	const char	*p;

	if ((p = getenv("FACTEUR_CONFIG")) != NULL && *p != '\0')
		return p;
	return "config/facteur.yaml";
}

void
common_init(struct common_opts *o)
{
	o->config = default_config_path();
	o->verbose = 0;
	o->format = LOG_FORMAT_TEXT;
}

int
common_option(struct common_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case 'c':
		o->config = arg;
		return 1;
	case 'v':
		o->verbose = 1;
		return 1;
	case COMMON_OPT_SYSLOG:
		o->format = LOG_FORMAT_SYSLOG;
		return 1;
	case COMMON_OPT_LOG:
		if (strcmp(arg, "json") == 0)
			o->format = LOG_FORMAT_JSON;
		else if (strcmp(arg, "text") == 0)
			o->format = LOG_FORMAT_TEXT;
		else
			return -1;
		return 1;
	}
	return 0;
}

void
common_log_init(const struct common_opts *o)
{
	log_init(o->verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
	    (enum log_format)o->format);
}
