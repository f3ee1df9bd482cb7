/*
 * Logging to stderr (plain lines for people, or one JSON object a line),
 * or to syslog. Callers name the account, mailbox and UID in the text where
 * they are known. Never pass a credential to these functions.
 */
#ifndef FACTEUR_LOG_H
#define FACTEUR_LOG_H

#include <jansson.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
	LOG_FORMAT_SYSLOG
};

void	log_init(enum log_level, enum log_format);
enum log_level log_get_level(void);
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* A line with structured fields: in --log json they are merged into the
 * line's object (beside time, level, msg); otherwise only the text shows.
 * fields is a JSON object, borrowed. */
void	log_fields(enum log_level, json_t *fields, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* Whether log_fields() shows its fields (--log json): else a caller need
 * not build them. */
int	log_wants_fields(void);

#endif
