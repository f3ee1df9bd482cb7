#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "xmalloc.h"

static enum log_level	log_level = LOG_LEVEL_INFO;
static enum log_format	log_format = LOG_FORMAT_TEXT;

static const char *log_names[] = { "error", "warn", "info", "debug" };

static void	log_vwrite(enum log_level, json_t *, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));

void
log_init(enum log_level level, enum log_format format)
{
	log_level = level;
	log_format = format;
	if (format == LOG_FORMAT_SYSLOG)
		openlog("facteur", LOG_PID, LOG_MAIL);
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_wants_fields(void)
{
	return log_format == LOG_FORMAT_JSON;
}

static void
log_vwrite(enum log_level level, json_t *fields, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char		*msg, stamp[32];
	struct timespec	 ts;
	struct tm	 tm;
	json_t		*o;
	char		*line;

	if (level > log_level)
		return;
	msg = xvasprintf(fmt, ap);
	switch (log_format) {
	case LOG_FORMAT_SYSLOG:
		syslog(prio[level], "%s", msg);
		break;
	case LOG_FORMAT_JSON:
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		o = json_pack("{s:s,s:s,s:s}", "time", stamp, "level",
		    log_names[level], "msg", msg);
		if (o != NULL && fields != NULL)
			json_object_update_missing(o, fields);
		if (o != NULL &&
		    (line = json_dumps(o, JSON_COMPACT)) != NULL) {
			fprintf(stderr, "%s\n", line);
			free(line);
		}
		json_decref(o);
		break;
	case LOG_FORMAT_TEXT:
		fprintf(stderr, "facteur: %s%s%s\n",
		    level <= LOG_LEVEL_WARN ? log_names[level] : "",
		    level <= LOG_LEVEL_WARN ? ": " : "", msg);
		break;
	}
	free(msg);
}

#define LOG_FN(name, level)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list	ap;					\
	va_start(ap, fmt);				\
	log_vwrite(level, NULL, fmt, ap);		\
	va_end(ap);					\
}

LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void
log_fields(enum log_level level, json_t *fields, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(level, fields, fmt, ap);
	va_end(ap);
}
