/*
 * The configuration file (config/facteur.yaml; see RULES.md for its shape).
 * conf_load() reads and validates it, and loads every account's rule files.
 * Everything in a struct conf is owned by it and freed by conf_free().
 */
#ifndef FACTEUR_CONF_H
#define FACTEUR_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

struct ruleset;

/* Where a password or token comes from. */
enum secret_kind {
	SECRET_NONE,
	SECRET_LITERAL,		/* value is the secret itself */
	SECRET_ENV,		/* value names an environment variable */
	SECRET_FILE,		/* value is a path; trailing newline stripped */
	SECRET_COMMAND		/* argv runs, no shell; first line of stdout */
};

struct secret {
	enum secret_kind  kind;
	char		 *value;
	char		**argv;		/* NULL-terminated, SECRET_COMMAND */
};

/*
 * Fetch a secret's current value (env/file/command are read each call, so a
 * rotated token is picked up). On success *out is allocated (caller frees,
 * and should wipe). On failure *cause says why, without the secret.
 */
int	secret_get(const struct secret *, char **out, char **cause);

enum source_kind {
	SOURCE_IMAP,
	SOURCE_POP3,
	SOURCE_MAILDIR
};

enum watch_kind {
	WATCH_POLL,
	WATCH_IDLE
};

enum after_kind {
	AFTER_KEEP,
	AFTER_SEEN,
	AFTER_DELETE,
	AFTER_MOVE
};

enum tls_mode {
	TLS_REQUIRED,
	TLS_NONE
};

struct conf_account {
	char		 *name;
	char		 *url;		/* as written, without mailbox for imap */
	enum source_kind  kind;
	bool		  tls;		/* imaps://, pop3s:// (implicit TLS) */
	char		 *host;
	int		  port;		/* 0: the scheme's default */
	char		**mailboxes;	/* imap: at least one ("INBOX") */
	size_t		  nmailboxes;
	char		 *path;		/* maildir */
	char		 *user;
	struct secret	  password;
	char		**oauth2_argv;	/* NULL, or token command */
	char		 *auth;		/* pinned SASL mechanism, "PLAIN" default */
	char		 *ca_file;	/* NULL: the system bundle */
	bool		  tls_verify;	/* default true */
	enum tls_mode	  tls_mode;	/* none: imap://, pop3:// in clear */
	enum watch_kind	  watch;
	unsigned	  poll_seconds;
	enum after_kind	  after;
	char		 *after_folder;	/* AFTER_MOVE */
	char		**addresses;	/* the account's own addresses */
	size_t		  naddresses;
	char		**rule_files;	/* resolved relative to the config */
	size_t		  nrule_files;
	struct ruleset	 *rules;	/* loaded from rule_files */
	bool		  rules_shared;	/* another account owns rules */
	int		  line, col;	/* where the account is defined */
};

struct conf_smtp {
	char		*url;		/* smtp:// (STARTTLS) or smtps:// */
	char		*user;
	struct secret	 password;
	char		*from;		/* "Name <addr>" as written */
	char		*auth;		/* pinned SASL mechanism, "PLAIN" */
	char		*ca_file;
	bool		 tls_verify;
	enum tls_mode	 tls;
	unsigned	 timeout_seconds;
};

struct conf_limits {
	unsigned	sends_per_hour;		/* 0: unlimited */
	unsigned	replies_per_sender;	/* count ... */
	unsigned	replies_per_sender_seconds; /* ... per this period */
};

/* How long a temporary failure is retried, counted from the first attempt,
 * before it becomes permanent (retry: {max_age: 2d}). */
#define CONF_RETRY_MAX_AGE	(2 * 86400)
/* The daemon warns when an account has had no successful pass for this
 * long (liveness: {warn_after: 1h}); 0 turns the warning off. */
#define CONF_LIVENESS_WARN	3600

struct conf {
	char			*path;
	char			*state_path;	/* SQLite file */
	struct conf_smtp	 smtp;
	bool			 have_smtp;
	struct conf_account	*accounts;
	size_t			 naccounts;
	struct conf_limits	 limits;
	unsigned		 retry_max_age;		/* seconds */
	unsigned		 liveness_warn_after;	/* seconds; 0: off */
};

/*
 * Load the config at path, and the rule files of every account. Problems are
 * added to diag with their positions; NULL is returned when there is any
 * error (diag then holds at least one item).
 */
struct conf	*conf_load(const char *path, struct diag *);
void		 conf_free(struct conf *);
struct conf_account *conf_find_account(struct conf *, const char *name);

/* Parse "30s", "5m", "2h", "7d", or a plain number of seconds. */
int		 conf_parse_duration(const char *, unsigned *seconds);

#endif
