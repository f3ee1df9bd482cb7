/*
 * The state file. Schema changes go through `migrations`: each entry moves
 * the schema from version i to i+1 inside one transaction, and the version
 * is kept in PRAGMA user_version. WAL with synchronous=NORMAL: a crash of
 * the process loses nothing committed; an operating-system crash may lose
 * the last commits, which then replay as pending (an action may repeat).
 *
 * Every statement is a string literal, prepared once and kept for the life
 * of the state, keyed by the literal's address; after each use it is reset
 * (which also ends the read transaction of a SELECT) and its bindings
 * cleared.
 *
 * Group commit. The runner opens a group (state_group_begin) before it
 * saves a plan: the journal's writes then join one transaction that stays
 * open across messages, and each function's own transaction becomes a
 * savepoint inside it. The group is committed before anything outside the
 * journal happens: before an action runs (the runner commits; marking an
 * action done or failed, or recording a send, commits at once), before an
 * after-policy changes the server or the mailbox, at the end of each pass
 * over a mailbox or an account, before the daemon sleeps, at exit
 * (state_close), and at least every STATE_GROUP_MAX messages or
 * STATE_GROUP_MS milliseconds. So what a crash can lose is only the record
 * of messages that had no effect (their plans had no action), with the
 * saved UID of their mailbox: they are fetched and processed again, with
 * the same result. A message with actions may lose only its final status,
 * written after its actions' outcomes were committed: it is found planned
 * with nothing pending and finished again. If the commit itself fails
 * (disk full, I/O error), the group is rolled back and the same holds: the
 * runner runs no action and the sources apply no after-policy on a failed
 * commit.
 *
 * Several accounts of the daemon share this one connection from their
 * coroutines; a coroutine may wait on the network while a group is open,
 * and another then writes into the same group, which is harmless: no
 * function here waits inside itself, and every effect commits first. The
 * IMAP source commits before it fetches a batch; the POP3 source keeps
 * its group through the RETR of the next message (a commit there adds
 * about 16 system calls a message: file locks, WAL writes), so a server
 * that stalls in that RETR keeps the write lock until the transfer ends
 * or times out; other processes wait for it up to the busy timeout.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "log.h"
#include "state.h"
#include "xmalloc.h"

/* A group commits once it holds this many messages or is this old. */
#define STATE_GROUP_MAX		256
#define STATE_GROUP_MS		100

/* A prepared statement, kept: sql is the literal it was prepared from. */
struct state_stmt {
	const char	*sql;
	sqlite3_stmt	*stmt;
};

struct state {
	sqlite3			*db;
	char			*path;
	struct state_stmt	*stmts;
	size_t			 nstmts;
	bool			 group;		/* a group is open */
	unsigned		 group_msgs;	/* messages in it */
	struct timespec		 group_start;
};

static const char *migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE mailbox ("
	"  account TEXT NOT NULL, mailbox TEXT NOT NULL,"
	"  uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL,"
	"  last_sync INTEGER NOT NULL,"
	"  PRIMARY KEY (account, mailbox));"
	"CREATE TABLE message ("
	"  id INTEGER PRIMARY KEY, account TEXT NOT NULL,"
	"  mailbox TEXT NOT NULL, key TEXT NOT NULL, message_id TEXT,"
	"  hash TEXT NOT NULL, status INTEGER NOT NULL, plan TEXT,"
	"  created INTEGER NOT NULL, updated INTEGER NOT NULL,"
	"  UNIQUE (account, mailbox, key));"
	"CREATE INDEX message_hash ON message (account, mailbox, hash);"
	"CREATE TABLE action ("
	"  message INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL, rule TEXT, type TEXT NOT NULL,"
	"  fields TEXT NOT NULL, status INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
	"  next_attempt INTEGER NOT NULL DEFAULT 0, done_at INTEGER,"
	"  PRIMARY KEY (message, idx));"
	"CREATE TABLE sent ("
	"  account TEXT NOT NULL, sender TEXT NOT NULL, handle TEXT NOT NULL,"
	"  at INTEGER NOT NULL);"
	"CREATE INDEX sent_key ON sent (account, sender, handle, at);",
	/* 1 -> 2: when an action was first and last tried (for retry.max_age
	 * and `facteur state`), and each account's last successful pass. */
	"ALTER TABLE action ADD COLUMN first_attempt INTEGER;"
	"ALTER TABLE action ADD COLUMN last_attempt INTEGER;"
	"CREATE INDEX action_status ON action (status);"
	"CREATE TABLE account_sync ("
	"  account TEXT PRIMARY KEY, last_success INTEGER,"
	"  warned INTEGER NOT NULL DEFAULT 0);",
};

static int	state_exec(struct state *, const char *, char **);
static int	state_run(struct state *, const char *, const char *,
		    char **);
static void	state_release(sqlite3_stmt *);
static int	state_txn_begin(struct state *, char **);
static int	state_txn_commit(struct state *, char **);
static int	state_group_end(struct state *, const char *, char **);
static long	state_group_age(const struct state *);
static int	state_migrate(struct state *, char **);
static int	state_prepare_logged(struct state *, const char *,
		    sqlite3_stmt **);
static int	state_prepare(struct state *, const char *, sqlite3_stmt **,
		    char **);
static int	state_mkdirs(const char *);
static char	*state_error(struct state *, const char *);
static void	 state_rollback(struct state *);
static int	 state_insert_actions(struct state *, int64_t, json_t *,
		     char **);
static int	 state_action_update(struct state *, int64_t, int,
		     enum state_act_status, const char *, time_t, char **);

static char *
state_error(struct state *st, const char *what)
{
	return xasprintf("state %s: %s: %s", st->path, what,
	    sqlite3_errmsg(st->db));
}

static int
state_exec(struct state *st, const char *sql, char **cause)
{
	char	*err = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		*cause = xasprintf("state %s: %s", st->path,
		    err != NULL ? err : "error");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* A statement without bindings (BEGIN, COMMIT, SAVEPOINT, ...). */
static int
state_run(struct state *st, const char *sql, const char *what, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (state_prepare(st, sql, &stmt, cause) != 0)
		return -1;
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
	if (rc != 0)
		*cause = state_error(st, what);
	state_release(stmt);
	return rc;
}

/*
 * Undo the function's own transaction: the whole of it, or inside a group
 * only its savepoint, keeping what the group holds before it. When SQLite
 * has already rolled the whole transaction back (disk full, I/O error),
 * the group is over.
 */
static void
state_rollback(struct state *st)
{
	char	*cause = NULL;
	int	 rc;

	if (sqlite3_get_autocommit(st->db)) {
		st->group = false;
		return;
	}
	if (st->group)
		rc = state_run(st, "ROLLBACK TO state_txn", "roll back",
		    &cause) != 0 || state_run(st, "RELEASE state_txn",
		    "roll back", &cause) != 0 ? -1 : 0;
	else
		rc = state_run(st, "ROLLBACK", "roll back", &cause);
	if (rc != 0) {
		log_error("%s", cause);
		free(cause);
	}
}

/* A function's own transaction: a savepoint while a group is open. */
static int
state_txn_begin(struct state *st, char **cause)
{
	if (st->group && sqlite3_get_autocommit(st->db))
		st->group = false;	/* rolled back by SQLite */
	if (st->group)
		return state_run(st, "SAVEPOINT state_txn", "open a savepoint",
		    cause);
	return state_run(st, "BEGIN IMMEDIATE", "open a transaction", cause);
}

static int
state_txn_commit(struct state *st, char **cause)
{
	if (st->group)
		return state_run(st, "RELEASE state_txn", "release a savepoint",
		    cause);
	if (state_run(st, "COMMIT", "commit", cause) != 0) {
		state_rollback(st);
		return -1;
	}
	return 0;
}

/* Milliseconds since the group began. */
static long
state_group_age(const struct state *st)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - st->group_start.tv_sec) * 1000 +
	    (now.tv_nsec - st->group_start.tv_nsec) / 1000000;
}

int
state_group_begin(struct state *st, char **cause)
{
	if (st->group && !sqlite3_get_autocommit(st->db))
		return 0;
	st->group = false;
	if (state_run(st, "BEGIN IMMEDIATE", "open a transaction", cause) != 0)
		return -1;
	st->group = true;
	st->group_msgs = 0;
	clock_gettime(CLOCK_MONOTONIC, &st->group_start);
	return 0;
}

/*
 * Commit the open group, if any; what names the failure (the write that
 * asked for the commit). A failed commit rolls the group back.
 */
static int
state_group_end(struct state *st, const char *what, char **cause)
{
	if (!st->group)
		return 0;
	st->group = false;
	if (sqlite3_get_autocommit(st->db)) {
		*cause = xasprintf("state %s: %s: the open transaction was "
		    "rolled back", st->path, what);
		return -1;
	}
	if (state_run(st, "COMMIT", what, cause) != 0) {
		state_rollback(st);
		return -1;
	}
	return 0;
}

int
state_commit(struct state *st, char **cause)
{
	return state_group_end(st, "commit", cause);
}

int
state_group_tick(struct state *st, char **cause)
{
	if (!st->group || (++st->group_msgs < STATE_GROUP_MAX &&
	    state_group_age(st) < STATE_GROUP_MS))
		return 0;
	return state_commit(st, cause);
}

bool
state_group_open(const struct state *st)
{
	return st->group && !sqlite3_get_autocommit(st->db);
}

/*
 * The statement for sql, a string literal: prepared on first use and kept.
 * The caller hands it back with state_release().
 */
static int
state_prepare(struct state *st, const char *sql, sqlite3_stmt **stmt,
    char **cause)
{
	size_t	 i;

	for (i = 0; i < st->nstmts; i++) {
		if (st->stmts[i].sql == sql) {
			*stmt = st->stmts[i].stmt;
			return 0;
		}
	}
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK) {
		*cause = state_error(st, "prepare");
		return -1;
	}
	st->stmts = xreallocarray(st->stmts, st->nstmts + 1,
	    sizeof *st->stmts);
	st->stmts[st->nstmts].sql = sql;
	st->stmts[st->nstmts++].stmt = *stmt;
	return 0;
}

/* Ready for the next use: no read transaction left open, no binding kept. */
static void
state_release(sqlite3_stmt *stmt)
{
	if (stmt == NULL)
		return;
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

/* For the readers that answer without a cause: the error goes to the log. */
static int
state_prepare_logged(struct state *st, const char *sql, sqlite3_stmt **stmt)
{
	char	*cause = NULL;

	if (state_prepare(st, sql, stmt, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

/* Create the parent directories of path (mode 0700). */
static int
state_mkdirs(const char *path)
{
	char	*dir, *p;

	dir = xstrdup(path);
	for (p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(dir, 0700);
		*p = '/';
	}
	free(dir);
	return 0;
}

static int
state_migrate(struct state *st, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 version;
	size_t		 i, n = sizeof migrations / sizeof migrations[0];
	char		*sql;

	if (state_prepare(st, "PRAGMA user_version", &stmt, cause) != 0)
		return -1;
	version = sqlite3_step(stmt) == SQLITE_ROW ?
	    sqlite3_column_int(stmt, 0) : 0;
	state_release(stmt);
	if (version > (int)n) {
		*cause = xasprintf("state %s: schema version %d is newer than "
		    "this facteur knows (%zu)", st->path, version, n);
		return -1;
	}
	for (i = (size_t)version; i < n; i++) {
		sql = xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version = %zu;"
		    " COMMIT;", migrations[i], i + 1);
		if (state_exec(st, sql, cause) != 0) {
			free(sql);
			state_rollback(st);
			return -1;
		}
		free(sql);
	}
	return 0;
}

int
state_open(const char *path, struct state **out, char **cause)
{
	struct state	*st;

	st = xcalloc(1, sizeof *st);
	st->path = xstrdup(path);
	state_mkdirs(path);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		*cause = state_error(st, "open");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 10000);
	if (state_exec(st, "PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
	    cause) != 0)
		goto fail;
	if (state_migrate(st, cause) != 0)
		goto fail;
	*out = st;
	return 0;

fail:
	state_close(st);
	return -1;
}

void
state_close(struct state *st)
{
	char	*cause = NULL;
	size_t	 i;

	if (st == NULL)
		return;
	if (state_commit(st, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
	}
	for (i = 0; i < st->nstmts; i++)
		sqlite3_finalize(st->stmts[i].stmt);
	free(st->stmts);
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

int
state_mailbox_get(struct state *st, const char *account, const char *mailbox,
    uint32_t *uidvalidity, uint32_t *last_uid)
{
	sqlite3_stmt	*stmt;
	int		 rc = 1;

	if (state_prepare_logged(st, "SELECT uidvalidity, last_uid FROM "
	    "mailbox WHERE account = ? AND mailbox = ?", &stmt) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, mailbox, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		*uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 0);
		*last_uid = (uint32_t)sqlite3_column_int64(stmt, 1);
		rc = 0;
	}
	state_release(stmt);
	return rc;
}

int
state_mailbox_set(struct state *st, const char *account, const char *mailbox,
    uint32_t uidvalidity, uint32_t last_uid, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (state_prepare(st, "INSERT INTO mailbox VALUES (?, ?, ?, ?, ?) "
	    "ON CONFLICT (account, mailbox) DO UPDATE SET "
	    "uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,"
	    " last_sync = excluded.last_sync", &stmt, cause) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, uidvalidity);
	sqlite3_bind_int64(stmt, 4, last_uid);
	sqlite3_bind_int64(stmt, 5, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
	if (rc != 0)
		*cause = state_error(st, "save mailbox");
	state_release(stmt);
	/* The end of a pass: the group ends with it. */
	if (rc == 0)
		rc = state_group_end(st, "save mailbox", cause);
	return rc;
}

enum state_msg_status
state_message_status(struct state *st, const struct state_ident *id,
    int64_t *rowid)
{
	sqlite3_stmt		*stmt;
	enum state_msg_status	 s = STATE_MSG_NONE;

	if (state_prepare_logged(st, "SELECT id, status FROM message WHERE "
	    "account = ? AND mailbox = ? AND key = ?", &stmt) != 0)
		return STATE_MSG_NONE;
	sqlite3_bind_text(stmt, 1, id->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id->mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, id->key, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		if (rowid != NULL)
			*rowid = sqlite3_column_int64(stmt, 0);
		s = (enum state_msg_status)sqlite3_column_int(stmt, 1);
	}
	state_release(stmt);
	return s;
}

bool
state_message_known(struct state *st, const struct state_ident *id)
{
	sqlite3_stmt	*stmt;
	bool		 known;

	if (state_prepare_logged(st, "SELECT 1 FROM message WHERE account = ? "
	    "AND mailbox = ? AND hash = ? AND (message_id IS ? OR ? IS NULL)",
	    &stmt) != 0)
		return false;
	sqlite3_bind_text(stmt, 1, id->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id->mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, id->hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, id->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, id->message_id, -1, SQLITE_STATIC);
	known = sqlite3_step(stmt) == SQLITE_ROW;
	state_release(stmt);
	return known;
}

/*
 * Both questions in one query: the row under this key, else (a row with a
 * NULL id) whether the same bytes and Message-ID were journaled under
 * another key. The second part only runs when the first finds nothing.
 */
enum state_msg_status
state_message_lookup(struct state *st, const struct state_ident *id,
    int64_t *rowid, bool *known)
{
	sqlite3_stmt		*stmt;
	enum state_msg_status	 s = STATE_MSG_NONE;

	*known = false;
	if (state_prepare_logged(st, "SELECT id, status FROM message WHERE "
	    "account = ?1 AND mailbox = ?2 AND key = ?3 UNION ALL SELECT NULL, "
	    "0 WHERE EXISTS (SELECT 1 FROM message WHERE account = ?1 AND "
	    "mailbox = ?2 AND hash = ?4 AND (message_id IS ?5 OR ?5 IS NULL))",
	    &stmt) != 0)
		return STATE_MSG_NONE;
	sqlite3_bind_text(stmt, 1, id->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id->mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, id->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, id->hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, id->message_id, -1, SQLITE_STATIC);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		if (sqlite3_column_type(stmt, 0) == SQLITE_NULL) {
			*known = true;
			continue;
		}
		*rowid = sqlite3_column_int64(stmt, 0);
		s = (enum state_msg_status)sqlite3_column_int(stmt, 1);
		break;
	}
	state_release(stmt);
	return s;
}

static int
state_insert_actions(struct state *st, int64_t id, json_t *actions,
    char **cause)
{
	sqlite3_stmt	*stmt;
	json_t		*a;
	size_t		 i;
	char		*fields;
	int		 rc = 0;

	if (state_prepare(st, "INSERT INTO action (message, idx, rule, type, "
	    "fields, status) VALUES (?, ?, ?, ?, ?, ?)", &stmt, cause) != 0)
		return -1;
	json_array_foreach(actions, i, a) {
		fields = json_dumps(a, JSON_COMPACT);
		sqlite3_bind_int64(stmt, 1, id);
		sqlite3_bind_int(stmt, 2, (int)i);
		sqlite3_bind_text(stmt, 3, json_string_value(json_object_get(a,
		    "rule")), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 4, json_string_value(json_object_get(a,
		    "type")), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 5, fields, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(stmt, 6, STATE_ACT_PENDING);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			*cause = state_error(st, "save action");
			rc = -1;
		}
		free(fields);
		sqlite3_reset(stmt);
		if (rc != 0)
			break;
	}
	state_release(stmt);
	return rc;
}

/*
 * A plan without actions is saved finished: one statement, atomic on its
 * own. Otherwise the message and its actions in one transaction (a
 * savepoint inside a group).
 */
int
state_message_plan(struct state *st, const struct state_ident *id,
    json_t *plan, int64_t *rowid, char **cause)
{
	sqlite3_stmt	*stmt = NULL;
	json_t		*actions = json_object_get(plan, "actions");
	char		*text;
	time_t		 now = time(NULL);
	bool		 none = json_array_size(actions) == 0;
	int		 rc = -1;

	if (!none && state_txn_begin(st, cause) != 0)
		return -1;
	if (state_prepare(st, "INSERT INTO message (account, mailbox, key, "
	    "message_id, hash, status, plan, created, updated) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?)", &stmt, cause) != 0)
		goto out;
	text = json_dumps(plan, JSON_COMPACT);
	sqlite3_bind_text(stmt, 1, id->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id->mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, id->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, id->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, id->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 6, none ? STATE_MSG_DONE : STATE_MSG_PLANNED);
	sqlite3_bind_text(stmt, 7, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 8, (sqlite3_int64)now);
	sqlite3_bind_int64(stmt, 9, (sqlite3_int64)now);
	free(text);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		*cause = state_error(st, "save message");
		goto out;
	}
	*rowid = sqlite3_last_insert_rowid(st->db);
	if (!none && state_insert_actions(st, *rowid, actions, cause) != 0)
		goto out;
	rc = none ? 0 : state_txn_commit(st, cause);
	none = true;		/* committed or rolled back */

out:
	state_release(stmt);
	if (!none)
		state_rollback(st);
	return rc;
}

int
state_actions(struct state *st, int64_t id, struct state_action **out,
    size_t *n, char **cause)
{
	sqlite3_stmt		*stmt;
	struct state_action	*v = NULL, *a;
	size_t			 count = 0;
	json_error_t		 jerr;

	if (state_prepare(st, "SELECT idx, status, attempts, next_attempt, "
	    "fields, coalesce(first_attempt, 0) FROM action WHERE message = ? "
	    "ORDER BY idx", &stmt,
	    cause) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		v = xreallocarray(v, count + 1, sizeof *v);
		a = &v[count++];
		a->idx = sqlite3_column_int(stmt, 0);
		a->status = (enum state_act_status)sqlite3_column_int(stmt, 1);
		a->attempts = sqlite3_column_int(stmt, 2);
		a->next_attempt = (time_t)sqlite3_column_int64(stmt, 3);
		a->fields = json_loads((const char *)sqlite3_column_text(stmt,
		    4), 0, &jerr);
		if (a->fields == NULL)
			a->fields = json_object();
		a->first_attempt = (time_t)sqlite3_column_int64(stmt, 5);
	}
	state_release(stmt);
	*out = v;
	*n = count;
	return 0;
}

void
state_actions_free(struct state_action *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		json_decref(v[i].fields);
	free(v);
}

static int
state_action_update(struct state *st, int64_t id, int idx,
    enum state_act_status status, const char *error, time_t retry,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (state_prepare(st, "UPDATE action SET status = ?1, attempts = "
	    "attempts + 1, last_error = ?2, next_attempt = ?3, done_at = ?4, "
	    "first_attempt = coalesce(first_attempt, ?7), last_attempt = ?7 "
	    "WHERE message = ?5 AND idx = ?6", &stmt, cause) != 0)
		return -1;
	sqlite3_bind_int(stmt, 1, status);
	sqlite3_bind_text(stmt, 2, error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, (sqlite3_int64)retry);
	if (status == STATE_ACT_DONE)
		sqlite3_bind_int64(stmt, 4, (sqlite3_int64)time(NULL));
	else
		sqlite3_bind_null(stmt, 4);
	sqlite3_bind_int64(stmt, 5, id);
	sqlite3_bind_int(stmt, 6, idx);
	sqlite3_bind_int64(stmt, 7, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
	if (rc != 0)
		*cause = state_error(st, "save action status");
	state_release(stmt);
	/* The record of an effect: committed at once, with the group. */
	if (rc == 0)
		rc = state_group_end(st, "save action status", cause);
	return rc;
}

int
state_action_done(struct state *st, int64_t id, int idx, char **cause)
{
	return state_action_update(st, id, idx, STATE_ACT_DONE, NULL, 0,
	    cause);
}

int
state_action_failed(struct state *st, int64_t id, int idx, const char *error,
    bool permanent, time_t retry, char **cause)
{
	return state_action_update(st, id, idx, permanent ? STATE_ACT_FAILED :
	    STATE_ACT_PENDING, error, retry, cause);
}

/* One statement: the status from the actions, saved and returned. */
int
state_message_finish(struct state *st, int64_t id,
    enum state_msg_status *status, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (state_prepare(st, "UPDATE message SET status = CASE WHEN EXISTS "
	    "(SELECT 1 FROM action WHERE message = ?1 AND status = ?2) THEN ?4 "
	    "WHEN EXISTS (SELECT 1 FROM action WHERE message = ?1 AND status = "
	    "?3) THEN ?5 ELSE ?6 END, updated = ?7 WHERE id = ?1 RETURNING "
	    "status", &stmt, cause) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int(stmt, 2, STATE_ACT_PENDING);
	sqlite3_bind_int(stmt, 3, STATE_ACT_FAILED);
	sqlite3_bind_int(stmt, 4, STATE_MSG_PLANNED);
	sqlite3_bind_int(stmt, 5, STATE_MSG_FAILED);
	sqlite3_bind_int(stmt, 6, STATE_MSG_DONE);
	sqlite3_bind_int64(stmt, 7, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*status = (enum state_msg_status)sqlite3_column_int(stmt, 0);
		rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
	} else if (rc == SQLITE_DONE) {
		*cause = xasprintf("state %s: save message status: no message "
		    "#%lld", st->path, (long long)id);
		rc = 1;
	} else
		rc = -1;
	if (rc == -1)
		*cause = state_error(st, "save message status");
	state_release(stmt);
	return rc == 0 ? 0 : -1;
}

int
state_sent_count(struct state *st, const char *account, const char *sender,
    const char *handle, time_t since)
{
	sqlite3_stmt	*stmt;
	int		 n = 0;

	if (state_prepare_logged(st, "SELECT count(*) FROM sent WHERE account "
	    "= ? AND (? IS NULL OR sender = ?) AND (? IS NULL OR handle = ?) "
	    "AND at >= ?", &stmt) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, handle, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, handle, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)since);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int(stmt, 0);
	state_release(stmt);
	return n;
}

int
state_sent_add(struct state *st, const char *account, const char *sender,
    const char *handle, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (state_prepare(st, "INSERT INTO sent VALUES (?, ?, ?, ?)", &stmt,
	    cause) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, handle, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
	if (rc != 0)
		*cause = state_error(st, "record send");
	state_release(stmt);
	if (rc == 0)
		rc = state_group_end(st, "record send", cause);
	return rc;
}

int
state_action_due(struct state *st, int64_t id, int idx, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (state_prepare(st, "UPDATE action SET next_attempt = 0 WHERE "
	    "message = ? AND idx = ? AND status = ?", &stmt, cause) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int(stmt, 2, idx);
	sqlite3_bind_int(stmt, 3, STATE_ACT_PENDING);
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
	if (rc != 0)
		*cause = state_error(st, "make action due");
	state_release(stmt);
	return rc;
}

/* Run one statement with a message id bound to ?1; -1 on error. */
static int
state_exec_id(struct state *st, const char *sql, int64_t id, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (state_prepare(st, sql, &stmt, cause) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
	if (rc != 0)
		*cause = state_error(st, "update");
	state_release(stmt);
	return rc;
}

/*
 * An IMAP message sits below its mailbox's saved UID once finished, and the
 * source fetches only above it: lower the saved UID so the next pass fetches
 * the message again. The key is "UIDVALIDITY/UID"; other sources (POP3,
 * Maildir, stdin) look at every message they hold and need nothing.
 */
static int
state_rewind_mailbox(struct state *st, int64_t id, char **cause)
{
	return state_exec_id(st, "UPDATE mailbox SET last_uid = min(last_uid, "
	    "(SELECT CAST(substr(m.key, instr(m.key, '/') + 1) AS INTEGER) - 1 "
	    "FROM message m WHERE m.id = ?1)) WHERE (account, mailbox) IN "
	    "(SELECT m.account, m.mailbox FROM message m WHERE m.id = ?1 AND "
	    "m.key GLOB '[0-9]*/[0-9]*' AND CAST(substr(m.key, 1, "
	    "instr(m.key, '/') - 1) AS INTEGER) = mailbox.uidvalidity)", id,
	    cause);
}

static int
state_message_exists(struct state *st, int64_t id)
{
	sqlite3_stmt	*stmt;
	int		 found;

	if (state_prepare_logged(st, "SELECT 1 FROM message WHERE id = ?",
	    &stmt) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	found = sqlite3_step(stmt) == SQLITE_ROW;
	state_release(stmt);
	return found;
}

int
state_message_retry(struct state *st, int64_t id, int *changed, char **cause)
{
	int	 found;

	if ((found = state_message_exists(st, id)) <= 0) {
		if (found < 0)
			*cause = state_error(st, "find message");
		return found < 0 ? -1 : 1;
	}
	if (state_txn_begin(st, cause) != 0)
		return -1;
	if (state_exec_id(st, "UPDATE action SET status = 0, next_attempt = 0,"
	    " first_attempt = NULL WHERE message = ?1 AND status IN (0, 2)",
	    id, cause) != 0)
		goto fail;
	*changed = sqlite3_changes(st->db);
	if (state_exec_id(st, "UPDATE message SET status = 1, updated = "
	    "strftime('%s', 'now') WHERE id = ?1 AND EXISTS (SELECT 1 FROM "
	    "action WHERE message = ?1 AND status = 0)", id, cause) != 0 ||
	    state_rewind_mailbox(st, id, cause) != 0)
		goto fail;
	return state_txn_commit(st, cause);

fail:
	state_rollback(st);
	return -1;
}

int
state_forget_message(struct state *st, int64_t id, char **cause)
{
	int	 found;

	if ((found = state_message_exists(st, id)) <= 0) {
		if (found < 0)
			*cause = state_error(st, "find message");
		return found < 0 ? -1 : 1;
	}
	if (state_txn_begin(st, cause) != 0)
		return -1;
	if (state_rewind_mailbox(st, id, cause) != 0 ||
	    state_exec_id(st, "DELETE FROM message WHERE id = ?1", id,
	    cause) != 0) {
		state_rollback(st);
		return -1;
	}
	return state_txn_commit(st, cause);
}

int
state_forget_account(struct state *st, const char *account,
    const char *mailbox, int *count, char **cause)
{
	static const char *const sql[] = {
		"DELETE FROM message WHERE account = ?1 AND "
		"(?2 IS NULL OR mailbox = ?2)",
		"DELETE FROM mailbox WHERE account = ?1 AND "
		"(?2 IS NULL OR mailbox = ?2)",
	};
	sqlite3_stmt	*stmt;
	size_t		 i;
	int		 rc = 0;

	if (state_txn_begin(st, cause) != 0)
		return -1;
	for (i = 0; i < sizeof sql / sizeof sql[0] && rc == 0; i++) {
		if (state_prepare(st, sql[i], &stmt, cause) != 0) {
			rc = -1;
			break;
		}
		sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, mailbox, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			*cause = state_error(st, "forget");
			rc = -1;
		} else if (i == 0)
			*count = sqlite3_changes(st->db);
		state_release(stmt);
	}
	if (rc != 0) {
		state_rollback(st);
		return -1;
	}
	return state_txn_commit(st, cause);
}

int
state_account_synced(struct state *st, const char *account, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (state_prepare(st, "INSERT INTO account_sync VALUES (?, ?, 0) ON "
	    "CONFLICT (account) DO UPDATE SET last_success = "
	    "excluded.last_success, warned = 0", &stmt, cause) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
	if (rc != 0)
		*cause = state_error(st, "save sync time");
	state_release(stmt);
	/* The end of a pass: the group ends with it. */
	if (rc == 0)
		rc = state_group_end(st, "save sync time", cause);
	return rc;
}

int
state_account_get(struct state *st, const char *account, time_t *last,
    time_t *warned)
{
	sqlite3_stmt	*stmt;
	int		 rc = 1;

	*last = 0;
	*warned = 0;
	if (state_prepare_logged(st, "SELECT coalesce(last_success, 0), "
	    "warned FROM account_sync WHERE account = ?", &stmt) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		*last = (time_t)sqlite3_column_int64(stmt, 0);
		*warned = (time_t)sqlite3_column_int64(stmt, 1);
		rc = 0;
	}
	state_release(stmt);
	return rc;
}

int
state_account_warned(struct state *st, const char *account, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (state_prepare(st, "INSERT INTO account_sync VALUES (?1, NULL, ?2) "
	    "ON CONFLICT (account) DO UPDATE SET warned = ?2", &stmt,
	    cause) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
	if (rc != 0)
		*cause = state_error(st, "save liveness");
	state_release(stmt);
	/* Written between passes: nothing is left open. */
	if (rc == 0)
		rc = state_group_end(st, "save liveness", cause);
	return rc;
}

/*
 * The reading side, for `facteur state`: rows as JSON objects named by the
 * columns; a column named X_json holds JSON text and becomes X.
 */
#define STATE_MSG_STATUS_SQL \
	"CASE m.status WHEN 1 THEN 'pending' WHEN 2 THEN 'done' " \
	"WHEN 3 THEN 'failed' ELSE 'none' END"
#define STATE_ACT_STATUS_SQL \
	"CASE a.status WHEN 0 THEN 'pending' WHEN 1 THEN 'done' " \
	"ELSE 'failed' END"
#define STATE_ACT_COLUMNS \
	"a.idx AS action, a.rule, a.type, " STATE_ACT_STATUS_SQL \
	" AS status, a.attempts, a.first_attempt, a.last_attempt, " \
	"CASE WHEN a.status = 0 THEN a.next_attempt END AS next_attempt, " \
	"a.done_at, a.last_error"

static json_t *
state_row(sqlite3_stmt *stmt)
{
	json_t		*o, *v;
	json_error_t	 jerr;
	const char	*name;
	char		*key;
	size_t		 len;
	int		 i;

	o = json_object();
	for (i = 0; i < sqlite3_column_count(stmt); i++) {
		name = sqlite3_column_name(stmt, i);
		len = strlen(name);
		switch (sqlite3_column_type(stmt, i)) {
		case SQLITE_INTEGER:
			v = json_integer(sqlite3_column_int64(stmt, i));
			break;
		case SQLITE_NULL:
			v = json_null();
			break;
		default:
			v = NULL;
			if (len > 5 && strcmp(name + len - 5, "_json") == 0)
				v = json_loads((const char *)
				    sqlite3_column_text(stmt, i), 0, &jerr);
			if (v == NULL)
				v = json_string((const char *)
				    sqlite3_column_text(stmt, i));
			break;
		}
		if (len > 5 && strcmp(name + len - 5, "_json") == 0) {
			key = xstrndup(name, len - 5);
			json_object_set_new(o, key, v != NULL ? v : json_null());
			free(key);
		} else
			json_object_set_new(o, name, v != NULL ? v :
			    json_null());
	}
	return o;
}

/* Every row of stmt (bound by the caller) as an array; NULL on error. */
static json_t *
state_rows(struct state *st, sqlite3_stmt *stmt, char **cause)
{
	json_t	*rows = json_array();
	int	 rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		json_array_append_new(rows, state_row(stmt));
	if (rc != SQLITE_DONE) {
		*cause = state_error(st, "read");
		json_decref(rows);
		rows = NULL;
	}
	state_release(stmt);
	return rows;
}

static void
state_bind_filter(sqlite3_stmt *stmt, const struct state_filter *f)
{
	sqlite3_bind_text(stmt, 1, f->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, f->mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, f->limit > 0 ? f->limit : -1);
}

json_t *
state_list_messages(struct state *st, const struct state_filter *f,
    char **cause)
{
	sqlite3_stmt	*stmt;

	if (state_prepare(st, "SELECT m.id, m.account, m.mailbox, m.key, "
	    "m.message_id, " STATE_MSG_STATUS_SQL " AS status, "
	    "coalesce(json_extract(m.plan, '$.matched'), '[]') AS matched_json,"
	    " m.created, m.updated FROM message m WHERE (?1 IS NULL OR "
	    "m.account = ?1) AND (?2 IS NULL OR m.mailbox = ?2) "
	    "ORDER BY m.id DESC LIMIT ?3", &stmt, cause) != 0)
		return NULL;
	state_bind_filter(stmt, f);
	return state_rows(st, stmt, cause);
}

json_t *
state_list_actions(struct state *st, enum state_act_status status,
    const struct state_filter *f, char **cause)
{
	sqlite3_stmt	*stmt;

	if (state_prepare(st, "SELECT m.id, m.account, m.mailbox, m.key, "
	    "m.message_id, " STATE_ACT_COLUMNS " FROM action a JOIN message m "
	    "ON m.id = a.message WHERE a.status = ?4 AND (?1 IS NULL OR "
	    "m.account = ?1) AND (?2 IS NULL OR m.mailbox = ?2) "
	    "ORDER BY m.id, a.idx LIMIT ?3", &stmt, cause) != 0)
		return NULL;
	state_bind_filter(stmt, f);
	sqlite3_bind_int(stmt, 4, status);
	return state_rows(st, stmt, cause);
}

json_t *
state_message_get(struct state *st, int64_t id, char **cause)
{
	sqlite3_stmt	*stmt;
	json_t		*rows, *o, *actions;

	if (state_prepare(st, "SELECT m.id, m.account, m.mailbox, m.key, "
	    "m.message_id, m.hash, " STATE_MSG_STATUS_SQL " AS status, "
	    "coalesce(json_extract(m.plan, '$.matched'), '[]') AS matched_json,"
	    " m.plan AS plan_json, m.created, m.updated FROM message m "
	    "WHERE m.id = ?", &stmt, cause) != 0)
		return NULL;
	sqlite3_bind_int64(stmt, 1, id);
	if ((rows = state_rows(st, stmt, cause)) == NULL)
		return NULL;
	if ((o = json_array_get(rows, 0)) == NULL) {
		json_decref(rows);
		return NULL;
	}
	json_incref(o);
	json_decref(rows);
	if (state_prepare(st, "SELECT " STATE_ACT_COLUMNS ", a.fields AS "
	    "fields_json FROM action a WHERE a.message = ? ORDER BY a.idx",
	    &stmt, cause) != 0) {
		json_decref(o);
		return NULL;
	}
	sqlite3_bind_int64(stmt, 1, id);
	if ((actions = state_rows(st, stmt, cause)) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "actions", actions);
	return o;
}

json_t *
state_list_accounts(struct state *st, char **cause)
{
	sqlite3_stmt	*stmt;

	if (state_prepare(st, "SELECT n.account, (SELECT last_success FROM "
	    "account_sync s WHERE s.account = n.account) AS last_success, "
	    "(SELECT count(*) FROM message m WHERE m.account = n.account) AS "
	    "messages, (SELECT count(*) FROM action a JOIN message m ON "
	    "m.id = a.message WHERE m.account = n.account AND a.status = 0) AS "
	    "pending, (SELECT count(*) FROM action a JOIN message m ON "
	    "m.id = a.message WHERE m.account = n.account AND a.status = 2) AS "
	    "failed FROM (SELECT account FROM account_sync UNION SELECT "
	    "account FROM message) n ORDER BY n.account", &stmt, cause) != 0)
		return NULL;
	return state_rows(st, stmt, cause);
}

/*
 * Sends since `since`, from one account (NULL: every account), to one
 * correspondent (NULL: anyone), whose handle starts with prefix (NULL: any).
 * The limits shared by every sending action count with it. -1 on error.
 */
int
state_sent_count_prefix(struct state *st, const char *account,
    const char *sender, const char *prefix, time_t since)
{
	sqlite3_stmt	*stmt;
	int		 n = -1;

	if (state_prepare_logged(st, "SELECT count(*) FROM sent WHERE (?1 IS "
	    "NULL OR account = ?1) AND (?2 IS NULL OR sender = ?2) AND (?3 IS "
	    "NULL OR substr(handle, 1, length(?3)) = ?3) AND at >= ?4",
	    &stmt) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, (sqlite3_int64)since);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int(stmt, 0);
	state_release(stmt);
	return n;
}
