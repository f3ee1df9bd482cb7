/*
 * The config file. Reading goes on past an error so that `facteur check`
 * can report every problem; conf_load() fails at the end if there was any.
 * Relative paths (rules, maildir, ca_file, password files, state) are
 * taken from the config file's directory.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "rule.h"
#include "xmalloc.h"
#include "ydoc.h"

struct cctx {
	struct ydoc		*doc;
	struct diag		*diag;
	char			*dir;
};

static void	 bad(struct cctx *, const struct ydoc_node *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	 want_string(struct cctx *, const struct ydoc_node *,
		    const char *, char **);
static int	 want_bool(struct cctx *, const struct ydoc_node *,
		    const char *, bool *);
static int	 want_duration(struct cctx *, const struct ydoc_node *,
		    const char *, unsigned *);
static int	 want_uint(struct cctx *, const struct ydoc_node *,
		    const char *, unsigned *);
static int	 want_list(struct cctx *, const struct ydoc_node *,
		    const char *, char ***, size_t *);
static int	 want_argv(struct cctx *, const struct ydoc_node *,
		    const char *, char ***);
static int	 want_secret(struct cctx *, const struct ydoc_node *,
		    const char *, struct secret *);
static int	 want_path(struct cctx *, const struct ydoc_node *,
		    const char *, char **);
static int	 want_auth(struct cctx *, const struct ydoc_node *, char **);
static void	 want_tls(struct cctx *, const struct ydoc_node *,
		     enum tls_mode *);
static char	*resolve(struct cctx *, const char *);
static void	 parse_top(struct cctx *, struct conf *,
		    const struct ydoc_node *);
static void	 parse_state(struct cctx *, struct conf *,
		    const struct ydoc_node *);
static void	 parse_smtp(struct cctx *, struct conf_smtp *,
		    const struct ydoc_node *);
static void	 parse_limits(struct cctx *, struct conf_limits *,
		    const struct ydoc_node *);
static void	 parse_accounts(struct cctx *, struct conf *,
		    const struct ydoc_node *);
static void	 parse_one_duration(struct cctx *, const struct ydoc_node *,
		    const char *, const char *const *, const char *,
		    unsigned *);
static void	 parse_account(struct cctx *, struct conf *,
		    struct conf_account *, const struct ydoc_node *);
static void	 parse_account_more(struct cctx *, struct conf_account *,
		    const struct ydoc_node *);
static void	 parse_rule_files(struct cctx *, struct conf_account *,
		    const struct ydoc_node *);
static int	 parse_url(struct cctx *, struct conf_account *,
		    const struct ydoc_node *);
static int	 parse_hostport(struct cctx *, struct conf_account *,
		    const struct ydoc_node *, const char *, size_t);
static char	*url_decode(const char *, size_t);
static void	 parse_mailboxes(struct cctx *, struct conf_account *,
		    const struct ydoc_node *, const struct ydoc_node *);
static void	 parse_after(struct cctx *, struct conf_account *,
		    const struct ydoc_node *);
static void	 parse_watch(struct cctx *, struct conf_account *,
		    const struct ydoc_node *);
static void	 check_account(struct cctx *, struct conf_account *,
		    const struct ydoc_node *);
static void	 load_rules(struct conf *, struct diag *);
static void	 check_rules_fit(struct conf *, struct conf_account *,
		    struct diag *);
static void	 secret_free(struct secret *);
static void	 strv_free(char **, size_t);
static void	 account_free(struct conf_account *);
static char	*default_state_path(void);

/*
 * Top-level keys:
 *   state      the SQLite journal's path
 *   smtp       how mail leaves (smtp_keys)
 *   accounts   the mailboxes watched (account_keys)
 *   limits     sends_per_hour, replies_per_sender
 *   retry      max_age: how long a temporary failure is retried, from its
 *              first attempt, before it is final (default 2d)
 *   liveness   warn_after: `facteur run` warns when an account has had no
 *              successful pass for this long (default 1h; 0 turns it off).
 *              An account in IDLE passes at least every 4 minutes, a
 *              polled one at its poll interval: keep warn_after above both.
 */
static const char *const top_keys[] = { "state", "smtp", "accounts",
    "limits", "retry", "liveness", NULL };
static const char *const retry_keys[] = { "max_age", NULL };
static const char *const liveness_keys[] = { "warn_after", NULL };
static const char *const smtp_keys[] = { "url", "user", "password", "from",
    "auth", "ca_file", "tls_verify", "tls", "timeout", NULL };
static const char *const account_keys[] = { "name", "url", "mailboxes",
    "user", "password", "oauth2", "auth", "ca_file", "tls_verify", "tls",
    "watch", "poll", "after", "addresses", "rules", NULL };
static const char *const limits_keys[] = { "sends_per_hour",
    "replies_per_sender", NULL };
static const char *const auth_names[] = { "PLAIN", "LOGIN", "XOAUTH2",
    "OAUTHBEARER", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256",
    "EXTERNAL", NULL };

static void
bad(struct cctx *c, const struct ydoc_node *n, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	diag_add(c->diag, c->doc->file, n != NULL ? n->line : 0,
	    n != NULL ? n->col : 0, "%s", s);
	free(s);
}

static int
want_string(struct cctx *c, const struct ydoc_node *n, const char *key,
    char **out)
{
	if (n->type != YDOC_SCALAR || ydoc_is_null(n) || n->len == 0 ||
	    strlen(n->value) != n->len) {
		bad(c, n, "'%s' expects a non-empty string, not %s", key,
		    ydoc_type_name(n));
		return -1;
	}
	free(*out);
	*out = xstrdup(n->value);
	return 0;
}

static int
want_bool(struct cctx *c, const struct ydoc_node *n, const char *key,
    bool *out)
{
	if (ydoc_bool(n, out) != 0) {
		bad(c, n, "'%s' expects true or false", key);
		return -1;
	}
	return 0;
}

static int
want_duration(struct cctx *c, const struct ydoc_node *n, const char *key,
    unsigned *out)
{
	if (n->type != YDOC_SCALAR || conf_parse_duration(n->value, out) != 0) {
		bad(c, n, "'%s' expects a duration such as 30s, 5m, 2h or 7d",
		    key);
		return -1;
	}
	return 0;
}

static int
want_uint(struct cctx *c, const struct ydoc_node *n, const char *key,
    unsigned *out)
{
	char			*end;
	unsigned long		 v;

	if (n->type != YDOC_SCALAR || !isdigit((unsigned char)n->value[0]))
		goto fail;
	v = strtoul(n->value, &end, 10);
	if (*end != '\0' || v > UINT_MAX)
		goto fail;
	*out = (unsigned)v;
	return 0;
fail:
	bad(c, n, "'%s' expects a whole number", key);
	return -1;
}

/* A string or a list of strings. */
static int
want_list(struct cctx *c, const struct ydoc_node *n, const char *key,
    char ***out, size_t *count)
{
	size_t	 i;
	char	*s;

	if (n->type == YDOC_SCALAR) {
		s = NULL;
		if (want_string(c, n, key, &s) != 0)
			return -1;
		*out = xreallocarray(*out, *count + 1, sizeof **out);
		(*out)[(*count)++] = s;
		return 0;
	}
	if (n->type != YDOC_SEQ) {
		bad(c, n, "'%s' expects a list of strings, not %s", key,
		    ydoc_type_name(n));
		return -1;
	}
	for (i = 0; i < n->n; i++) {
		if (n->items[i]->type != YDOC_SCALAR) {
			bad(c, n->items[i], "'%s' expects a list of strings",
			    key);
			return -1;
		}
		want_list(c, n->items[i], key, out, count);
	}
	return 0;
}

/* A non-empty list of strings, made NULL-terminated. */
static int
want_argv(struct cctx *c, const struct ydoc_node *n, const char *key,
    char ***out)
{
	char	**v = NULL;
	size_t	  nv = 0;

	if (n->type != YDOC_SEQ || n->n == 0) {
		bad(c, n, "'%s' expects a list [PROGRAM, ARGS...]", key);
		return -1;
	}
	if (want_list(c, n, key, &v, &nv) != 0) {
		strv_free(v, nv);
		return -1;
	}
	v = xreallocarray(v, nv + 1, sizeof *v);
	v[nv] = NULL;
	*out = v;
	return 0;
}

static int
want_secret(struct cctx *c, const struct ydoc_node *n, const char *key,
    struct secret *s)
{
	static const char *const keys[] = { "env", "file", "command", NULL };
	const struct ydoc_node	*v;

	secret_free(s);
	if (n->type == YDOC_SCALAR) {
		s->kind = SECRET_LITERAL;
		return want_string(c, n, key, &s->value);
	}
	if (n->type != YDOC_MAP || n->n != 1) {
		bad(c, n, "'%s' expects a string or one of {env: VAR}, "
		    "{file: PATH}, {command: [ARGV...]}", key);
		return -1;
	}
	if (ydoc_check_keys(c->doc, n, key, keys, c->diag) != 0)
		return -1;
	if ((v = ydoc_get(n, "env")) != NULL) {
		s->kind = SECRET_ENV;
		return want_string(c, v, "env", &s->value);
	}
	if ((v = ydoc_get(n, "file")) != NULL) {
		s->kind = SECRET_FILE;
		return want_path(c, v, "file", &s->value);
	}
	s->kind = SECRET_COMMAND;
	return want_argv(c, ydoc_get(n, "command"), "command", &s->argv);
}

static int
want_path(struct cctx *c, const struct ydoc_node *n, const char *key,
    char **out)
{
	char	*s = NULL;

	if (want_string(c, n, key, &s) != 0)
		return -1;
	free(*out);
	*out = resolve(c, s);
	free(s);
	return 0;
}

static int
want_auth(struct cctx *c, const struct ydoc_node *n, char **out)
{
	size_t	 i;

	if (want_string(c, n, "auth", out) != 0)
		return -1;
	for (i = 0; auth_names[i] != NULL; i++) {
		if (strcasecmp(*out, auth_names[i]) == 0) {
			free(*out);
			*out = xstrdup(auth_names[i]);
			return 0;
		}
	}
	bad(c, n, "unknown auth mechanism '%s' (expected: PLAIN, LOGIN, "
	    "XOAUTH2, OAUTHBEARER, CRAM-MD5, SCRAM-SHA-256, ...)", *out);
	return -1;
}

/* ~/x from $HOME; a relative path from the config's directory. */
static char *
resolve(struct cctx *c, const char *p)
{
	const char	*home;

	if (strncmp(p, "~/", 2) == 0 && (home = getenv("HOME")) != NULL)
		return xasprintf("%s/%s", home, p + 2);
	if (p[0] == '/' || c->dir == NULL)
		return xstrdup(p);
	return xasprintf("%s/%s", c->dir, p);
}

int
conf_parse_duration(const char *s, unsigned *seconds)
{
	unsigned long long	 v, mult = 1;
	char			*end;

	while (*s == ' ')
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtoull(s, &end, 10);
	if (end[0] != '\0' && end[1] != '\0')
		return -1;
	switch (end[0]) {
	case '\0':
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	case 'w':
		mult = 7 * 86400;
		break;
	default:
		return -1;
	}
	if (v > UINT_MAX / mult)
		return -1;
	*seconds = (unsigned)(v * mult);
	return 0;
}

struct conf *
conf_load(const char *path, struct diag *diag)
{
	struct conf	*conf;
	struct cctx	 c;
	const char	*slash;
	size_t		 before = diag->n;

	memset(&c, 0, sizeof c);
	c.diag = diag;
	if ((c.doc = ydoc_load_file(path, diag)) == NULL)
		return NULL;
	if ((slash = strrchr(path, '/')) != NULL)
		c.dir = xstrndup(path, (size_t)(slash - path) + (slash == path));
	conf = xcalloc(1, sizeof *conf);
	conf->path = xstrdup(path);
	parse_top(&c, conf, c.doc->root);
	if (conf->state_path == NULL)
		conf->state_path = default_state_path();
	load_rules(conf, diag);
	ydoc_diag_sort(diag, before);
	ydoc_free(c.doc);
	free(c.dir);
	if (diag->n != before) {
		conf_free(conf);
		return NULL;
	}
	return conf;
}

static char *
default_state_path(void)
{
	const char	*x, *home;

	if ((x = getenv("XDG_STATE_HOME")) != NULL && x[0] == '/')
		return xasprintf("%s/facteur/state.db", x);
	if ((home = getenv("HOME")) == NULL || *home == '\0')
		home = ".";
	return xasprintf("%s/.local/state/facteur/state.db", home);
}

static void
parse_top(struct cctx *c, struct conf *conf, const struct ydoc_node *root)
{
	const struct ydoc_node	*n;

	if (root == NULL || ydoc_is_null(root)) {
		diag_add(c->diag, c->doc->file, 0, 0, "empty configuration");
		return;
	}
	if (root->type != YDOC_MAP) {
		bad(c, root, "the configuration must be a mapping of %s",
		    "state, smtp, accounts, limits");
		return;
	}
	ydoc_check_keys(c->doc, root, "the configuration", top_keys, c->diag);
	parse_state(c, conf, ydoc_get(root, "state"));
	if ((n = ydoc_get(root, "smtp")) != NULL) {
		conf->have_smtp = true;
		parse_smtp(c, &conf->smtp, n);
	}
	parse_limits(c, &conf->limits, ydoc_get(root, "limits"));
	conf->retry_max_age = CONF_RETRY_MAX_AGE;
	parse_one_duration(c, ydoc_get(root, "retry"), "retry", retry_keys,
	    "max_age", &conf->retry_max_age);
	if (conf->retry_max_age == 0)
		bad(c, ydoc_get(ydoc_get(root, "retry"), "max_age"),
		    "'max_age' must be more than 0s");
	conf->liveness_warn_after = CONF_LIVENESS_WARN;
	parse_one_duration(c, ydoc_get(root, "liveness"), "liveness",
	    liveness_keys, "warn_after", &conf->liveness_warn_after);
	if ((n = ydoc_get(root, "accounts")) != NULL)
		parse_accounts(c, conf, n);
}

static void
parse_state(struct cctx *c, struct conf *conf, const struct ydoc_node *n)
{
	if (n == NULL || ydoc_is_null(n))
		return;
	want_path(c, n, "state", &conf->state_path);
}

static void
parse_smtp(struct cctx *c, struct conf_smtp *s, const struct ydoc_node *n)
{
	const struct ydoc_node	*v;

	s->auth = xstrdup("PLAIN");
	s->tls_verify = true;
	s->tls = TLS_REQUIRED;
	s->timeout_seconds = 60;
	if (n->type != YDOC_MAP) {
		bad(c, n, "'smtp' expects a mapping with url, user, password, "
		    "from");
		return;
	}
	ydoc_check_keys(c->doc, n, "smtp", smtp_keys, c->diag);
	if ((v = ydoc_get(n, "url")) == NULL)
		bad(c, n, "smtp: 'url' is required");
	else if (want_string(c, v, "url", &s->url) == 0 &&
	    strncmp(s->url, "smtp://", 7) != 0 &&
	    strncmp(s->url, "smtps://", 8) != 0)
		bad(c, v, "smtp url must start with smtp:// or smtps://");
	if ((v = ydoc_get(n, "user")) != NULL)
		want_string(c, v, "user", &s->user);
	if ((v = ydoc_get(n, "password")) != NULL)
		want_secret(c, v, "password", &s->password);
	if (s->user != NULL && s->password.kind == SECRET_NONE)
		bad(c, ydoc_get(n, "user"), "smtp: 'user' needs a 'password'");
	if ((v = ydoc_get(n, "from")) == NULL)
		bad(c, n, "smtp: 'from' is required");
	else if (want_string(c, v, "from", &s->from) == 0 &&
	    (strchr(s->from, '@') == NULL || strpbrk(s->from, "\r\n") != NULL))
		bad(c, v, "'from' expects an address such as "
		    "\"Name <bot@example.com>\"");
	if ((v = ydoc_get(n, "auth")) != NULL)
		want_auth(c, v, &s->auth);
	if ((v = ydoc_get(n, "ca_file")) != NULL)
		want_path(c, v, "ca_file", &s->ca_file);
	if ((v = ydoc_get(n, "tls_verify")) != NULL)
		want_bool(c, v, "tls_verify", &s->tls_verify);
	if ((v = ydoc_get(n, "timeout")) != NULL)
		want_duration(c, v, "timeout", &s->timeout_seconds);
	if ((v = ydoc_get(n, "tls")) != NULL)
		want_tls(c, v, &s->tls);
}

static void
want_tls(struct cctx *c, const struct ydoc_node *v, enum tls_mode *out)
{
	if (v->type == YDOC_SCALAR && strcmp(v->value, "required") == 0)
		*out = TLS_REQUIRED;
	else if (v->type == YDOC_SCALAR && strcmp(v->value, "none") == 0)
		*out = TLS_NONE;
	else
		bad(c, v, "'tls' expects required or none");
}

static void
parse_limits(struct cctx *c, struct conf_limits *l, const struct ydoc_node *n)
{
	const struct ydoc_node	*v;
	char			*slash;
	unsigned		 count;

	if (n == NULL || ydoc_is_null(n))
		return;
	if (n->type != YDOC_MAP) {
		bad(c, n, "'limits' expects a mapping");
		return;
	}
	ydoc_check_keys(c->doc, n, "limits", limits_keys, c->diag);
	if ((v = ydoc_get(n, "sends_per_hour")) != NULL)
		want_uint(c, v, "sends_per_hour", &l->sends_per_hour);
	if ((v = ydoc_get(n, "replies_per_sender")) == NULL)
		return;
	if (v->type != YDOC_SCALAR || (slash = strchr(v->value, '/')) == NULL ||
	    !isdigit((unsigned char)v->value[0]) ||
	    (count = (unsigned)strtoul(v->value, NULL, 10)) == 0 ||
	    (size_t)strspn(v->value, "0123456789") != (size_t)(slash - v->value) ||
	    conf_parse_duration(slash + 1, &l->replies_per_sender_seconds) != 0 ||
	    l->replies_per_sender_seconds == 0) {
		bad(c, v, "'replies_per_sender' expects COUNT/PERIOD, "
		    "such as 1/1d");
		return;
	}
	l->replies_per_sender = count;
}

/* A section holding one duration, as retry: {max_age: 2d}. */
static void
parse_one_duration(struct cctx *c, const struct ydoc_node *n,
    const char *section, const char *const *keys, const char *key,
    unsigned *out)
{
	const struct ydoc_node	*v;

	if (n == NULL || ydoc_is_null(n))
		return;
	if (n->type != YDOC_MAP) {
		bad(c, n, "'%s' expects a mapping such as {%s: 2d}", section,
		    key);
		return;
	}
	ydoc_check_keys(c->doc, n, section, keys, c->diag);
	if ((v = ydoc_get(n, key)) != NULL)
		want_duration(c, v, key, out);
}

static void
parse_accounts(struct cctx *c, struct conf *conf, const struct ydoc_node *n)
{
	size_t	 i, j;

	if (n->type != YDOC_SEQ) {
		if (!ydoc_is_null(n))
			bad(c, n, "'accounts' expects a list of accounts");
		return;
	}
	conf->accounts = xcalloc(n->n, sizeof *conf->accounts);
	for (i = 0; i < n->n; i++) {
		parse_account(c, conf, &conf->accounts[i], n->items[i]);
		conf->naccounts++;
		for (j = 0; j < i; j++) {
			if (conf->accounts[i].name == NULL ||
			    conf->accounts[j].name == NULL ||
			    strcmp(conf->accounts[i].name,
			    conf->accounts[j].name) != 0)
				continue;
			bad(c, n->items[i], "account name '%s' is already used "
			    "(line %d)", conf->accounts[i].name,
			    conf->accounts[j].line);
		}
	}
}

static void
parse_account(struct cctx *c, struct conf *conf, struct conf_account *a,
    const struct ydoc_node *n)
{
	const struct ydoc_node	*v;

	(void)conf;
	a->line = n->line;
	a->col = n->col;
	a->tls_verify = true;
	a->poll_seconds = 60;
	a->after = AFTER_KEEP;
	if (n->type != YDOC_MAP) {
		bad(c, n, "an account must be a mapping with name, url, ...");
		return;
	}
	ydoc_check_keys(c->doc, n, "an account", account_keys, c->diag);
	if ((v = ydoc_get(n, "name")) == NULL)
		bad(c, n, "account: 'name' is required");
	else if (want_string(c, v, "name", &a->name) == 0 &&
	    strspn(a->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != strlen(a->name))
		bad(c, v, "account name '%s': use letters, digits, '.', '_' "
		    "and '-' only", a->name);
	if ((v = ydoc_get(n, "url")) == NULL)
		bad(c, n, "account: 'url' is required");
	else if (parse_url(c, a, v) == 0)
		parse_mailboxes(c, a, v, ydoc_get(n, "mailboxes"));
	parse_account_more(c, a, n);
	check_account(c, a, n);
}

static void
parse_account_more(struct cctx *c, struct conf_account *a,
    const struct ydoc_node *n)
{
	const struct ydoc_node	*v, *cmd;

	if ((v = ydoc_get(n, "user")) != NULL)
		want_string(c, v, "user", &a->user);
	if ((v = ydoc_get(n, "password")) != NULL)
		want_secret(c, v, "password", &a->password);
	if ((v = ydoc_get(n, "oauth2")) != NULL) {
		if (v->type != YDOC_MAP || (cmd = ydoc_get(v, "command")) ==
		    NULL || v->n != 1)
			bad(c, v, "'oauth2' expects {command: [ARGV...]}");
		else
			want_argv(c, cmd, "command", &a->oauth2_argv);
	}
	if ((v = ydoc_get(n, "auth")) != NULL)
		want_auth(c, v, &a->auth);
	if (a->auth == NULL)
		a->auth = xstrdup(a->oauth2_argv != NULL ? "XOAUTH2" : "PLAIN");
	if ((v = ydoc_get(n, "ca_file")) != NULL)
		want_path(c, v, "ca_file", &a->ca_file);
	if ((v = ydoc_get(n, "tls_verify")) != NULL)
		want_bool(c, v, "tls_verify", &a->tls_verify);
	if ((v = ydoc_get(n, "tls")) != NULL) {
		want_tls(c, v, &a->tls_mode);
		if (a->tls_mode == TLS_NONE && a->tls)
			bad(c, v, "'tls: none' contradicts the url's %s: use "
			    "%s:// for a connection without TLS",
			    a->kind == SOURCE_POP3 ? "pop3s" : "imaps",
			    a->kind == SOURCE_POP3 ? "pop3" : "imap");
	}
	parse_watch(c, a, n);
	if ((v = ydoc_get(n, "poll")) != NULL)
		want_duration(c, v, "poll", &a->poll_seconds);
	if ((v = ydoc_get(n, "after")) != NULL)
		parse_after(c, a, v);
	if ((v = ydoc_get(n, "addresses")) != NULL)
		want_list(c, v, "addresses", &a->addresses, &a->naddresses);
	if ((v = ydoc_get(n, "rules")) != NULL)
		parse_rule_files(c, a, v);
}

static void
parse_rule_files(struct cctx *c, struct conf_account *a,
    const struct ydoc_node *v)
{
	size_t	 i;
	char	*p;

	if (want_list(c, v, "rules", &a->rule_files, &a->nrule_files) != 0)
		return;
	for (i = 0; i < a->nrule_files; i++) {
		p = resolve(c, a->rule_files[i]);
		free(a->rule_files[i]);
		a->rule_files[i] = p;
		if (access(p, R_OK) != 0)
			bad(c, v, "cannot read rule file %s: %s", p,
			    strerror(errno));
	}
}

static int
parse_url(struct cctx *c, struct conf_account *a, const struct ydoc_node *n)
{
	const char	*u, *rest, *slash;
	size_t		 skip;

	if (want_string(c, n, "url", &a->url) != 0)
		return -1;
	u = a->url;
	if (strncmp(u, "maildir:", 8) == 0) {
		a->kind = SOURCE_MAILDIR;
		if (u[8] == '\0') {
			bad(c, n, "maildir: expects a path, as maildir:PATH");
			return -1;
		}
		a->path = resolve(c, u + 8);
		return 0;
	}
	if (strncmp(u, "imaps://", (skip = 8)) == 0)
		a->tls = true;
	else if (strncmp(u, "imap://", (skip = 7)) == 0)
		a->tls = false;
	else if (strncmp(u, "pop3s://", (skip = 8)) == 0) {
		a->kind = SOURCE_POP3;
		a->tls = true;
	} else if (strncmp(u, "pop3://", (skip = 7)) == 0)
		a->kind = SOURCE_POP3;
	else {
		bad(c, n, "unknown url '%s' (expected imap://, imaps://, "
		    "pop3://, pop3s:// or maildir:PATH)", u);
		return -1;
	}
	rest = u + skip;
	slash = strchr(rest, '/');
	if (parse_hostport(c, a, n, rest, slash != NULL ?
	    (size_t)(slash - rest) : strlen(rest)) != 0)
		return -1;
	if (slash != NULL && slash[1] != '\0') {
		if (a->kind == SOURCE_POP3) {
			bad(c, n, "a pop3 url has no mailbox: pop3s://HOST[:PORT]");
			return -1;
		}
		a->mailboxes = xcalloc(1, sizeof *a->mailboxes);
		a->mailboxes[a->nmailboxes++] = url_decode(slash + 1,
		    strlen(slash + 1));
	}
	a->url[slash != NULL ? (size_t)(slash - u) : strlen(u)] = '\0';
	return 0;
}

static int
parse_hostport(struct cctx *c, struct conf_account *a,
    const struct ydoc_node *n, const char *s, size_t len)
{
	const char	*colon, *end = s + len, *hend;
	char		*p;
	unsigned long	 port;

	if (len > 0 && s[0] == '[') {
		hend = memchr(s, ']', len);
		colon = hend != NULL && hend + 1 < end && hend[1] == ':' ?
		    hend + 1 : NULL;
	} else {
		colon = memchr(s, ':', len);
		hend = colon != NULL ? colon : end;
	}
	if (hend == NULL || hend == s || memchr(s, '@', len) != NULL) {
		bad(c, n, "bad host in url (expected SCHEME://HOST[:PORT]; "
		    "give the login as 'user')");
		return -1;
	}
	a->host = s[0] == '[' ? xstrndup(s + 1, (size_t)(hend - s - 1)) :
	    xstrndup(s, (size_t)(hend - s));
	if (colon == NULL)
		return 0;
	port = strtoul(colon + 1, &p, 10);
	if (p != end || p == colon + 1 || port == 0 || port > 65535) {
		bad(c, n, "bad port in url");
		return -1;
	}
	a->port = (int)port;
	return 0;
}

static char *
url_decode(const char *s, size_t len)
{
	char	*out, hex[3] = { 0, 0, 0 };
	size_t	 i, j = 0;

	out = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			out[j++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else
			out[j++] = s[i];
	}
	out[j] = '\0';
	return out;
}

static void
parse_mailboxes(struct cctx *c, struct conf_account *a,
    const struct ydoc_node *url, const struct ydoc_node *n)
{
	(void)url;
	if (n != NULL && a->kind != SOURCE_IMAP) {
		bad(c, n, "'mailboxes' is only for imap accounts");
		return;
	}
	if (n != NULL && a->nmailboxes > 0) {
		bad(c, n, "give the mailbox in the url or in 'mailboxes', "
		    "not both");
		return;
	}
	if (n != NULL)
		want_list(c, n, "mailboxes", &a->mailboxes, &a->nmailboxes);
	if (a->kind == SOURCE_IMAP && a->nmailboxes == 0) {
		a->mailboxes = xcalloc(1, sizeof *a->mailboxes);
		a->mailboxes[a->nmailboxes++] = xstrdup("INBOX");
	}
}

static void
parse_watch(struct cctx *c, struct conf_account *a, const struct ydoc_node *n)
{
	const struct ydoc_node	*v;

	a->watch = a->kind == SOURCE_IMAP ? WATCH_IDLE : WATCH_POLL;
	if ((v = ydoc_get(n, "watch")) == NULL)
		return;
	if (v->type == YDOC_SCALAR && strcmp(v->value, "poll") == 0)
		a->watch = WATCH_POLL;
	else if (v->type == YDOC_SCALAR && strcmp(v->value, "idle") == 0) {
		if (a->kind == SOURCE_IMAP)
			a->watch = WATCH_IDLE;
		else
			bad(c, v, "watch: idle is only for imap accounts");
	} else
		bad(c, v, "'watch' expects idle or poll");
}

static void
parse_after(struct cctx *c, struct conf_account *a, const struct ydoc_node *v)
{
	const struct ydoc_node	*m;

	if (v->type == YDOC_SCALAR && strcmp(v->value, "keep") == 0)
		a->after = AFTER_KEEP;
	else if (v->type == YDOC_SCALAR && strcmp(v->value, "seen") == 0)
		a->after = AFTER_SEEN;
	else if (v->type == YDOC_SCALAR && strcmp(v->value, "delete") == 0)
		a->after = AFTER_DELETE;
	else if (v->type == YDOC_MAP && v->n == 1 &&
	    (m = ydoc_get(v, "move")) != NULL) {
		if (want_string(c, m, "move", &a->after_folder) == 0)
			a->after = AFTER_MOVE;
		return;
	} else {
		bad(c, v, "'after' expects keep, seen, delete or {move: FOLDER}");
		return;
	}
	if (a->after == AFTER_SEEN && a->kind == SOURCE_POP3)
		bad(c, v, "after: seen is not possible with pop3 (use keep or "
		    "delete)");
}

static void
check_account(struct cctx *c, struct conf_account *a,
    const struct ydoc_node *n)
{
	size_t	 i;

	if (a->after == AFTER_MOVE && a->kind == SOURCE_POP3)
		bad(c, ydoc_get(n, "after"), "after: move is not possible "
		    "with pop3");
	for (i = 0; i < a->naddresses; i++) {
		if (strchr(a->addresses[i], '@') == NULL ||
		    strpbrk(a->addresses[i], " \t\r\n<>") != NULL)
			bad(c, ydoc_get(n, "addresses"), "'%s' is not an "
			    "address (expected user@domain)", a->addresses[i]);
	}
	if (a->host == NULL || a->kind == SOURCE_MAILDIR)
		return;		/* no url, or a bad one, already reported */
	if (a->user == NULL)
		bad(c, n, "account %s: 'user' is required for %s",
		    a->name != NULL ? a->name : "?", a->url);
	if (a->password.kind == SECRET_NONE && a->oauth2_argv == NULL)
		bad(c, n, "account %s: 'password' or 'oauth2' is required",
		    a->name != NULL ? a->name : "?");
	if (a->password.kind != SECRET_NONE && a->oauth2_argv != NULL)
		bad(c, ydoc_get(n, "oauth2"), "account %s: give 'password' or "
		    "'oauth2', not both", a->name != NULL ? a->name : "?");
}

static void
load_rules(struct conf *conf, struct diag *diag)
{
	struct conf_account	*a, *b;
	size_t			 i, j, k;

	for (i = 0; i < conf->naccounts; i++) {
		a = &conf->accounts[i];
		/*
		 * Accounts naming the same rule files share one loaded rule
		 * set (its compiled patterns are most of an account's memory:
		 * a thousand mailboxes with one rule set must not load it a
		 * thousand times), and its errors are said once.
		 */
		for (j = 0; j < i; j++) {
			b = &conf->accounts[j];
			if (b->nrule_files != a->nrule_files ||
			    a->nrule_files == 0)
				continue;
			for (k = 0; k < a->nrule_files; k++)
				if (strcmp(b->rule_files[k],
				    a->rule_files[k]) != 0)
					break;
			if (k == a->nrule_files)
				break;
		}
		if (j < i) {
			if ((a->rules = conf->accounts[j].rules) != NULL) {
				a->rules_shared = true;
				check_rules_fit(conf, a, diag);
			}
			continue;
		}
		for (k = 0; k < a->nrule_files; k++) {
			if (access(a->rule_files[k], R_OK) != 0)
				break;
		}
		if (k < a->nrule_files)
			continue;
		a->rules = ruleset_load((const char *const *)a->rule_files,
		    a->nrule_files, diag);
		check_rules_fit(conf, a, diag);
	}
}

/* Rules may only ask for what the account and the config can do. */
static void
check_rules_fit(struct conf *conf, struct conf_account *a, struct diag *diag)
{
	static const char *const sends[] = { "reply", "autoreply", "forward",
	    "notify", NULL };
	static const char *const imap_only[] = { "move", "copy", "flag", NULL };
	size_t	 i;

	for (i = 0; sends[i] != NULL && !conf->have_smtp; i++) {
		if (!ruleset_has_action(a->rules, sends[i]))
			continue;
		diag_add(diag, conf->path, a->line, a->col, "account %s: its "
		    "rules %s, but there is no 'smtp' section", a->name,
		    "send mail (reply, autoreply, forward, notify)");
		break;
	}
	for (i = 0; imap_only[i] != NULL && a->kind == SOURCE_POP3; i++) {
		if (ruleset_has_action(a->rules, imap_only[i]))
			diag_add(diag, conf->path, a->line, a->col, "account "
			    "%s: '%s' is not possible with pop3", a->name,
			    imap_only[i]);
	}
}

static void
secret_free(struct secret *s)
{
	size_t	 n = 0;

	if (s->value != NULL)
		explicit_bzero(s->value, strlen(s->value));
	free(s->value);
	while (s->argv != NULL && s->argv[n] != NULL)
		n++;
	strv_free(s->argv, n);
	memset(s, 0, sizeof *s);
}

static void
strv_free(char **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
account_free(struct conf_account *a)
{
	size_t	 n = 0;

	free(a->name);
	free(a->url);
	free(a->host);
	strv_free(a->mailboxes, a->nmailboxes);
	free(a->path);
	free(a->user);
	secret_free(&a->password);
	while (a->oauth2_argv != NULL && a->oauth2_argv[n] != NULL)
		n++;
	strv_free(a->oauth2_argv, n);
	free(a->auth);
	free(a->ca_file);
	free(a->after_folder);
	strv_free(a->addresses, a->naddresses);
	strv_free(a->rule_files, a->nrule_files);
	if (a->rules != NULL && !a->rules_shared)
		ruleset_free(a->rules);
}

void
conf_free(struct conf *conf)
{
	size_t	 i;

	if (conf == NULL)
		return;
	for (i = 0; i < conf->naccounts; i++)
		account_free(&conf->accounts[i]);
	free(conf->accounts);
	free(conf->path);
	free(conf->state_path);
	free(conf->smtp.url);
	free(conf->smtp.user);
	secret_free(&conf->smtp.password);
	free(conf->smtp.from);
	free(conf->smtp.auth);
	free(conf->smtp.ca_file);
	free(conf);
}

struct conf_account *
conf_find_account(struct conf *conf, const char *name)
{
	size_t	 i;

	for (i = 0; i < conf->naccounts; i++) {
		if (conf->accounts[i].name != NULL &&
		    strcmp(conf->accounts[i].name, name) == 0)
			return &conf->accounts[i];
	}
	return NULL;
}
