/*
 * facteur state: what the journal holds, for people (aligned columns) and
 * for scripts (--json), and the two operator commands on it, retry and
 * forget. Times are UTC; in --json they are Unix seconds (null: not yet).
 *
 *   list      recent messages, newest first: {"messages": [...]}
 *             (list, pending and failed show 50 rows unless --limit N;
 *             --account and --mailbox filter them)
 *   pending   actions waiting for an attempt: {"actions": [...]}
 *   failed    actions failed for good, with their error: {"actions": [...]}
 *   show ID   one message: identity, plan, every action with its fields
 *   retry ID  failed and pending actions become due now: {"id", "retried"}
 *   retry --all [--account NAME]: the same for every message with a failed
 *             or pending action: {"messages", "retried"}
 *   forget    ID, or --account NAME [--mailbox M]; needs --yes:
 *             {"forgotten": N}
 *   accounts  each account's last successful pass: {"accounts": [...]},
 *             with "late": no success for liveness.warn_after (or never)
 *
 * In --json a mailbox is the journal's: "" for POP3 and Maildir messages;
 * people see "INBOX" and the Maildir's name.
 *
 * retry needs the message itself again: the actions run when the source
 * next hands it over. For IMAP the mailbox's saved UID is lowered so the
 * next pass fetches it; POP3 and Maildir look at every message they hold;
 * a `deliver` message is redone when the MTA delivers it again. A message
 * no longer there (moved, deleted, expunged) is not fetched: its actions
 * stay pending, listed by `facteur state pending`, until it is back or is
 * forgotten.
 *
 * The objects' members are those of state.h's reading functions. Nothing
 * here prints a secret: the plan's fields hold only secret specifications
 * ({env: VAR}, {file: PATH}), never their values.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "conf.h"
#include "run.h"
#include "state.h"
#include "xmalloc.h"

#define STATE_DEFAULT_LIMIT	50
#define STATE_MAX_COLUMNS	10

struct state_cmd {
	struct conf		*conf;
	struct state		*st;
	struct state_filter	 filter;
	bool			 json;
	bool			 yes;
	bool			 all;
	const char		*id;	/* the ID argument */
};

struct table {
	char	**cells;
	size_t	  ncols;
	size_t	  nrows;
};

static void	 state_usage(void);
static int	 state_options(int, char **, struct state_cmd *,
		     const char **, const char **);
static int	 state_parse_id(const char *, int64_t *);
static void	 state_print_json(json_t *);
static int	 state_print_list(const char *, json_t *);
static char	*state_time(json_t *);
static char	*state_text(json_t *);
static char	*state_mailbox(struct state_cmd *, json_t *);
static void	 table_add(struct table *, const char *const *);
static void	 table_take(struct table *, char *const *);
static void	 table_print(struct table *);
static int	 state_list(struct state_cmd *);
static int	 state_actions_cmd(struct state_cmd *, enum state_act_status);
static int	 state_show(struct state_cmd *);
static void	 state_show_action(json_t *);
static int	 state_retry_all(struct state_cmd *);
static int	 state_retry(struct state_cmd *);
static int	 state_forget(struct state_cmd *);
static int	 state_accounts(struct state_cmd *);

static void
state_usage(void)
{
	fputs("usage: facteur state [-c CONFIG] [--json] list|pending|failed "
	    "[--account NAME] [--mailbox M] [--limit N]\n"
	    "       facteur state [-c CONFIG] [--json] show|retry ID\n"
	    "       facteur state [-c CONFIG] [--json] retry --all "
	    "[--account NAME]\n"
	    "       facteur state [-c CONFIG] [--json] forget ID|--account NAME "
	    "[--mailbox M] --yes\n"
	    "       facteur state [-c CONFIG] [--json] accounts\n", stderr);
}

static int
state_options(int argc, char **argv, struct state_cmd *c, const char **config,
    const char **sub)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "account", required_argument, NULL, 'a' },
		{ "mailbox", required_argument, NULL, 'm' },
		{ "limit", required_argument, NULL, 'n' },
		{ "yes", no_argument, NULL, 'y' },
		{ "all", no_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 }
	};
	char	*end;
	long	 n;
	int	 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:a:m:n:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c': *config = optarg; break;
		case 'j': c->json = true; break;
		case 'a': c->filter.account = optarg; break;
		case 'm': c->filter.mailbox = optarg; break;
		case 'y': c->yes = true; break;
		case 'A': c->all = true; break;
		case 'n':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (*end != '\0' || end == optarg || n <= 0 ||
			    n > 1000000 || errno != 0)
				return -1;
			c->filter.limit = (int)n;
			break;
		default:
			return -1;
		}
	}
	if (optind == argc)
		return -1;
	*sub = argv[optind++];
	if (optind < argc)
		c->id = argv[optind++];
	return optind == argc ? 0 : -1;
}

static int
state_parse_id(const char *s, int64_t *id)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0 || v <= 0)
		return -1;
	*id = (int64_t)v;
	return 0;
}

static void
state_print_json(json_t *v)
{
	char	*s;

	if ((s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) != NULL)
		printf("%s\n", s);
	free(s);
}

/* {"KEY": rows} for --json (rows is taken). */
static int
state_print_list(const char *key, json_t *rows)
{
	json_t	*o;

	o = json_pack("{s:o}", key, rows);
	state_print_json(o);
	json_decref(o);
	return EXIT_OK;
}

/* A Unix time as "2026-11-22 09:12:00Z"; "-" when null. */
static char *
state_time(json_t *v)
{
	struct tm	 tm;
	time_t		 t;
	char		 out[32];

	if (!json_is_integer(v) || json_integer_value(v) == 0)
		return xstrdup("-");
	t = (time_t)json_integer_value(v);
	gmtime_r(&t, &tm);
	strftime(out, sizeof out, "%Y-%m-%d %H:%M:%SZ", &tm);
	return xstrdup(out);
}

/* A value as one line of text: strings as they are, "-" for null or "". */
static char *
state_text(json_t *v)
{
	const char	*s;
	char		*out, *p;

	if (json_is_string(v)) {
		s = json_string_value(v);
		out = xstrdup(*s != '\0' ? s : "-");
	} else if (json_is_integer(v))
		out = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (v == NULL || json_is_null(v))
		out = xstrdup("-");
	else if ((out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		out = xstrdup("?");
	for (p = out; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	return out;
}

/* The row's mailbox for people: POP3 and Maildir ones have a name too. */
static char *
state_mailbox(struct state_cmd *c, json_t *row)
{
	struct conf_account	*a;
	const char		*name, *mailbox;

	name = json_string_value(json_object_get(row, "account"));
	mailbox = json_string_value(json_object_get(row, "mailbox"));
	if (name == NULL || mailbox == NULL || *mailbox != '\0' ||
	    (a = conf_find_account(c->conf, name)) == NULL)
		return state_text(json_object_get(row, "mailbox"));
	return runner_mailbox_name(a, mailbox);
}

static void
table_add(struct table *t, const char *const *row)
{
	char	*copy[STATE_MAX_COLUMNS];
	size_t	 i;

	for (i = 0; i < t->ncols; i++)
		copy[i] = xstrdup(row[i]);
	table_take(t, copy);
}

/* A row of cells allocated by the caller, which the table now owns. */
static void
table_take(struct table *t, char *const *row)
{
	size_t	 i;

	t->cells = xreallocarray(t->cells, (t->nrows + 1) * t->ncols,
	    sizeof *t->cells);
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = row[i];
	t->nrows++;
}

/* Each column as wide as its widest cell; the last one not padded. */
static void
table_print(struct table *t)
{
	size_t	 w[STATE_MAX_COLUMNS] = { 0 }, i, j, len;
	char	*cell;

	for (i = 0; i < t->nrows; i++)
		for (j = 0; j < t->ncols; j++)
			if ((len = strlen(t->cells[i * t->ncols + j])) > w[j])
				w[j] = len;
	for (i = 0; i < t->nrows; i++) {
		for (j = 0; j < t->ncols; j++) {
			cell = t->cells[i * t->ncols + j];
			if (j + 1 == t->ncols)
				printf("%s\n", cell);
			else
				printf("%-*s  ", (int)w[j], cell);
		}
	}
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

static int
state_list(struct state_cmd *c)
{
	static const char *const head[] = { "ID", "ACCOUNT", "MAILBOX", "KEY",
	    "STATUS", "RULES", "UPDATED", "MESSAGE-ID" };
	struct table	 t = { NULL, 8, 0 };
	json_t		*rows, *m, *r;
	struct buf	 b;
	size_t		 i, j;
	char		*cells[8], *cause = NULL;

	if ((rows = state_list_messages(c->st, &c->filter, &cause)) == NULL)
		goto fail;
	if (c->json)
		return state_print_list("messages", rows);
	table_add(&t, head);
	json_array_foreach(rows, i, m) {
		cells[0] = state_text(json_object_get(m, "id"));
		cells[1] = state_text(json_object_get(m, "account"));
		cells[2] = state_mailbox(c, m);
		cells[3] = state_text(json_object_get(m, "key"));
		cells[4] = state_text(json_object_get(m, "status"));
		buf_init(&b, 64 * 1024);
		json_array_foreach(json_object_get(m, "matched"), j, r)
			buf_printf(&b, "%s%s", j > 0 ? "," : "",
			    json_string_value(r));
		if (b.len == 0)
			buf_addstr(&b, "-");
		cells[5] = buf_steal(&b, NULL);
		cells[6] = state_time(json_object_get(m, "updated"));
		cells[7] = state_text(json_object_get(m, "message_id"));
		table_take(&t, cells);
	}
	table_print(&t);
	json_decref(rows);
	return EXIT_OK;

fail:
	fprintf(stderr, "facteur: %s\n", cause);
	free(cause);
	return EXIT_IOERR;
}

static int
state_actions_cmd(struct state_cmd *c, enum state_act_status status)
{
	static const char *const head[] = { "ID", "ACCOUNT", "MAILBOX", "KEY",
	    "ACTION", "TYPE", "ATTEMPTS", "NEXT", "ERROR" };
	struct table	 t = { NULL, 9, 0 };
	json_t		*rows, *a;
	size_t		 i;
	char		*cells[9], *cause = NULL;
	const char	*h[9];

	if ((rows = state_list_actions(c->st, status, &c->filter, &cause)) ==
	    NULL) {
		fprintf(stderr, "facteur: %s\n", cause);
		free(cause);
		return EXIT_IOERR;
	}
	if (c->json)
		return state_print_list("actions", rows);
	memcpy(h, head, sizeof h);
	if (status == STATE_ACT_FAILED)
		h[7] = "FAILED-AT";
	table_add(&t, h);
	json_array_foreach(rows, i, a) {
		cells[0] = state_text(json_object_get(a, "id"));
		cells[1] = state_text(json_object_get(a, "account"));
		cells[2] = state_mailbox(c, a);
		cells[3] = state_text(json_object_get(a, "key"));
		cells[4] = state_text(json_object_get(a, "action"));
		cells[5] = state_text(json_object_get(a, "type"));
		cells[6] = state_text(json_object_get(a, "attempts"));
		if (status == STATE_ACT_PENDING && json_integer_value(
		    json_object_get(a, "next_attempt")) <= time(NULL))
			cells[7] = xstrdup("now");
		else
			cells[7] = state_time(json_object_get(a, status ==
			    STATE_ACT_FAILED ? "last_attempt" :
			    "next_attempt"));
		cells[8] = state_text(json_object_get(a, "last_error"));
		table_take(&t, cells);
	}
	table_print(&t);
	json_decref(rows);
	return EXIT_OK;
}

static void
state_show_action(json_t *a)
{
	static const char *const times[] = { "first_attempt", "last_attempt",
	    "next_attempt", "done_at", NULL };
	const char	*k;
	json_t		*v;
	size_t		 i;
	char		*s;

	s = state_text(json_object_get(a, "rule"));
	printf("action %" JSON_INTEGER_FORMAT ": %s (rule %s)\n",
	    json_integer_value(json_object_get(a, "action")),
	    json_string_value(json_object_get(a, "type")), s);
	free(s);
	s = state_text(json_object_get(a, "status"));
	printf("  %-14s %s\n", "status", s);
	free(s);
	printf("  %-14s %" JSON_INTEGER_FORMAT "\n", "attempts",
	    json_integer_value(json_object_get(a, "attempts")));
	for (i = 0; times[i] != NULL; i++) {
		s = state_time(json_object_get(a, times[i]));
		printf("  %-14s %s\n", times[i], s);
		free(s);
	}
	s = state_text(json_object_get(a, "last_error"));
	printf("  %-14s %s\n", "last_error", s);
	free(s);
	json_object_foreach(json_object_get(a, "fields"), k, v) {
		if (strcmp(k, "type") == 0 || strcmp(k, "rule") == 0)
			continue;
		s = state_text(v);
		printf("  %-14s %s\n", k, s);
		free(s);
	}
}

static int
state_show(struct state_cmd *c)
{
	static const char *const keys[] = { "account", "mailbox", "key",
	    "message_id", "hash", "status", NULL };
	json_t		*m, *v;
	int64_t		 id;
	size_t		 i;
	char		*cause = NULL, *s;

	if (state_parse_id(c->id, &id) != 0) {
		state_usage();
		return EXIT_USAGE;
	}
	if ((m = state_message_get(c->st, id, &cause)) == NULL) {
		if (cause == NULL) {
			fprintf(stderr, "facteur: no message %" PRId64 " in "
			    "the journal\n", id);
			return EXIT_NOINPUT;
		}
		fprintf(stderr, "facteur: %s\n", cause);
		free(cause);
		return EXIT_IOERR;
	}
	if (c->json) {
		state_print_json(m);
		json_decref(m);
		return EXIT_OK;
	}
	printf("message %" PRId64 "\n", id);
	for (i = 0; keys[i] != NULL; i++) {
		s = state_text(json_object_get(m, keys[i]));
		printf("  %-14s %s\n", keys[i], s);
		free(s);
	}
	printf("  %-14s", "matched");
	json_array_foreach(json_object_get(m, "matched"), i, v)
		printf("%s%s", i > 0 ? ", " : " ", json_string_value(v));
	printf("%s\n", json_array_size(json_object_get(m, "matched")) == 0 ?
	    " -" : "");
	s = state_time(json_object_get(m, "created"));
	printf("  %-14s %s\n", "created", s);
	free(s);
	s = state_time(json_object_get(m, "updated"));
	printf("  %-14s %s\n", "updated", s);
	free(s);
	json_array_foreach(json_object_get(m, "actions"), i, v)
		state_show_action(v);
	json_decref(m);
	return EXIT_OK;
}

/* Every message with a pending or failed action, retried. */
static int
state_retry_all(struct state_cmd *c)
{
	static const enum state_act_status which[] = { STATE_ACT_PENDING,
	    STATE_ACT_FAILED };
	json_t		*rows, *a, *o;
	json_int_t	 last = 0;
	size_t		 i, k;
	int		 n, total = 0, msgs = 0;
	char		*cause = NULL;

	c->filter.limit = 0;
	for (k = 0; k < 2; k++) {
		if ((rows = state_list_actions(c->st, which[k], &c->filter,
		    &cause)) == NULL)
			goto fail;
		json_array_foreach(rows, i, a) {
			/* Rows come by message: one retry per message. */
			if (json_integer_value(json_object_get(a, "id")) == last)
				continue;
			last = json_integer_value(json_object_get(a, "id"));
			n = 0;
			if (state_message_retry(c->st, (int64_t)last, &n,
			    &cause) < 0) {
				json_decref(rows);
				goto fail;
			}
			msgs++;
			total += n;
		}
		json_decref(rows);
	}
	if (c->json) {
		o = json_pack("{s:i,s:i}", "messages", msgs, "retried", total);
		state_print_json(o);
		json_decref(o);
	} else
		printf("%d message%s, %d action%s due now\n", msgs,
		    msgs == 1 ? "" : "s", total, total == 1 ? "" : "s");
	return EXIT_OK;

fail:
	fprintf(stderr, "facteur: %s\n", cause);
	free(cause);
	return EXIT_IOERR;
}

static int
state_retry(struct state_cmd *c)
{
	json_t	*o;
	int64_t	 id;
	int	 rc, n = 0;
	char	*cause = NULL;

	if (c->all && c->id == NULL)
		return state_retry_all(c);
	if (state_parse_id(c->id, &id) != 0) {
		state_usage();
		return EXIT_USAGE;
	}
	if ((rc = state_message_retry(c->st, id, &n, &cause)) != 0) {
		if (rc == 1)
			fprintf(stderr, "facteur: no message %" PRId64 " in "
			    "the journal\n", id);
		else
			fprintf(stderr, "facteur: %s\n", cause);
		free(cause);
		return rc == 1 ? EXIT_NOINPUT : EXIT_IOERR;
	}
	if (c->json) {
		o = json_pack("{s:I,s:i}", "id", (json_int_t)id, "retried", n);
		state_print_json(o);
		json_decref(o);
	} else if (n == 0)
		printf("message %" PRId64 ": nothing to retry (every action "
		    "is done)\n", id);
	else
		printf("message %" PRId64 ": %d action%s due now; the next "
		    "pass of facteur run does %s\n", id, n, n == 1 ? "" : "s",
		    n == 1 ? "it" : "them");
	return EXIT_OK;
}

static int
state_forget(struct state_cmd *c)
{
	json_t	*o;
	int64_t	 id = 0;
	int	 rc, n = 1;
	char	*cause = NULL;

	if ((c->id == NULL) == (c->filter.account == NULL) ||
	    (c->id != NULL && state_parse_id(c->id, &id) != 0)) {
		state_usage();
		return EXIT_USAGE;
	}
	if (!c->yes) {
		fputs("facteur: forget removes journal entries, and the mail "
		    "they stand for is processed again: add --yes to confirm\n",
		    stderr);
		return EXIT_USAGE;
	}
	if (c->id != NULL)
		rc = state_forget_message(c->st, id, &cause);
	else
		rc = state_forget_account(c->st, c->filter.account,
		    c->filter.mailbox, &n, &cause);
	if (rc != 0) {
		if (rc == 1)
			fprintf(stderr, "facteur: no message %" PRId64 " in "
			    "the journal\n", id);
		else
			fprintf(stderr, "facteur: %s\n", cause);
		free(cause);
		return rc == 1 ? EXIT_NOINPUT : EXIT_IOERR;
	}
	if (c->json) {
		o = json_pack("{s:i}", "forgotten", n);
		state_print_json(o);
		json_decref(o);
	} else
		printf("%d message%s forgotten\n", n, n == 1 ? "" : "s");
	return EXIT_OK;
}

/* The journal's accounts and the config's, with liveness. */
static int
state_accounts(struct state_cmd *c)
{
	static const char *const head[] = { "ACCOUNT", "LAST-SUCCESS",
	    "LATE", "MESSAGES", "PENDING", "FAILED" };
	struct table	 t = { NULL, 6, 0 };
	json_t		*rows, *a, *last;
	size_t		 i, j;
	char		*cells[6], *cause = NULL;
	const char	*name;
	bool		 late;

	if ((rows = state_list_accounts(c->st, &cause)) == NULL) {
		fprintf(stderr, "facteur: %s\n", cause);
		free(cause);
		return EXIT_IOERR;
	}
	for (i = 0; i < c->conf->naccounts; i++) {
		name = c->conf->accounts[i].name;
		json_array_foreach(rows, j, a)
			if (strcmp(json_string_value(json_object_get(a,
			    "account")), name) == 0)
				break;
		if (j == json_array_size(rows))
			json_array_append_new(rows, json_pack("{s:s,s:n,s:i,"
			    "s:i,s:i}", "account", name, "last_success",
			    "messages", 0, "pending", 0, "failed", 0));
	}
	json_array_foreach(rows, i, a) {
		last = json_object_get(a, "last_success");
		late = c->conf->liveness_warn_after != 0 && (!json_is_integer(
		    last) || time(NULL) - (time_t)json_integer_value(last) >=
		    (time_t)c->conf->liveness_warn_after);
		json_object_set_new(a, "late", json_boolean(late));
	}
	if (c->json)
		return state_print_list("accounts", rows);
	table_add(&t, head);
	json_array_foreach(rows, i, a) {
		cells[0] = state_text(json_object_get(a, "account"));
		cells[1] = state_time(json_object_get(a, "last_success"));
		cells[2] = xstrdup(json_is_true(json_object_get(a, "late")) ?
		    "late" : "-");
		cells[3] = state_text(json_object_get(a, "messages"));
		cells[4] = state_text(json_object_get(a, "pending"));
		cells[5] = state_text(json_object_get(a, "failed"));
		table_take(&t, cells);
	}
	table_print(&t);
	json_decref(rows);
	return EXIT_OK;
}

int
cmd_state(int argc, char **argv)
{
	static const char *const subs[] = { "list", "pending", "failed",
	    "show", "retry", "forget", "accounts", NULL };
	struct state_cmd	 c;
	struct diag		 d;
	const char		*config = default_config_path(), *sub = NULL;
	char			*cause = NULL;
	size_t			 i;
	int			 rc;

	memset(&c, 0, sizeof c);
	if (state_options(argc, argv, &c, &config, &sub) != 0) {
		state_usage();
		return EXIT_USAGE;
	}
	for (i = 0; subs[i] != NULL; i++)
		if (strcmp(sub, subs[i]) == 0)
			break;
	if (subs[i] == NULL || (c.id != NULL && i < 3) || (c.id == NULL &&
	    (i == 3 || (i == 4 && !c.all))) || (c.all && i != 4)) {
		state_usage();
		return EXIT_USAGE;
	}
	if (c.filter.limit == 0 && i < 3)
		c.filter.limit = STATE_DEFAULT_LIMIT;
	diag_init(&d);
	if ((c.conf = conf_load(config, &d)) == NULL) {
		diag_print(&d, stderr);
		diag_free(&d);
		return EXIT_CONFIG;
	}
	diag_free(&d);
	if (access(c.conf->state_path, F_OK) != 0) {
		fprintf(stderr, "facteur: no journal at %s (facteur has not "
		    "run with this config yet)\n", c.conf->state_path);
		conf_free(c.conf);
		return EXIT_NOINPUT;
	}
	if (state_open(c.conf->state_path, &c.st, &cause) != 0) {
		fprintf(stderr, "facteur: %s\n", cause);
		free(cause);
		conf_free(c.conf);
		return EXIT_IOERR;
	}
	switch (i) {
	case 0: rc = state_list(&c); break;
	case 1: rc = state_actions_cmd(&c, STATE_ACT_PENDING); break;
	case 2: rc = state_actions_cmd(&c, STATE_ACT_FAILED); break;
	case 3: rc = state_show(&c); break;
	case 4: rc = state_retry(&c); break;
	case 5: rc = state_forget(&c); break;
	default: rc = state_accounts(&c); break;
	}
	state_close(c.st);
	conf_free(c.conf);
	return rc;
}
