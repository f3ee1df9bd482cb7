/* The journal: plans saved, actions marked, messages finished, migrations,
 * kept statements and group commit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "run.h"
#include "state.h"
#include "xmalloc.h"

static char	*dbpath;

static int
setup(void **state)
{
	char	 tmpl[] = "/tmp/facteur-state-XXXXXX";

	(void)state;
	if (mkdtemp(tmpl) == NULL)
		return -1;
	dbpath = xasprintf("%s/sub/state.db", tmpl);
	return 0;
}

static int
teardown(void **state)
{
	char	*cmd;

	(void)state;
	cmd = xasprintf("rm -rf '%.*s'", (int)(strrchr(dbpath, '/') - dbpath -
	    4), dbpath);
	if (system(cmd) != 0)
		return -1;
	free(cmd);
	free(dbpath);
	return 0;
}

static const struct state_ident ident = {
	"acct", "INBOX", "5/1", "id@x", "abc"
};

static void
test_mailbox_roundtrip(void **st)
{
	struct state	*s;
	char		*cause = NULL;
	uint32_t	 uv = 0, last = 0;

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	assert_int_equal(state_mailbox_get(s, "acct", "INBOX", &uv, &last), 1);
	assert_int_equal(state_mailbox_set(s, "acct", "INBOX", 5, 42, &cause),
	    0);
	assert_int_equal(state_mailbox_get(s, "acct", "INBOX", &uv, &last), 0);
	assert_int_equal(uv, 5);
	assert_int_equal(last, 42);
	state_close(s);
}

static void
test_plan_and_finish(void **st)
{
	struct state		*s;
	struct state_action	*v;
	enum state_msg_status	 ms;
	json_t			*plan;
	char			*cause = NULL;
	int64_t			 id = 0, id2 = 0;
	size_t			 n;

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	assert_int_equal(state_message_status(s, &ident, NULL), STATE_MSG_NONE);
	plan = json_pack("{s:[s],s:[{s:s,s:s},{s:s,s:s}]}", "matched", "r1",
	    "actions", "rule", "r1", "type", "reply", "rule", "r1", "type",
	    "webhook");
	assert_int_equal(state_message_plan(s, &ident, plan, &id, &cause), 0);
	json_decref(plan);
	assert_int_equal(state_message_status(s, &ident, &id2),
	    STATE_MSG_PLANNED);
	assert_int_equal(id, id2);
	assert_int_equal(state_actions(s, id, &v, &n, &cause), 0);
	assert_int_equal(n, 2);
	assert_string_equal(json_string_value(json_object_get(v[1].fields,
	    "type")), "webhook");
	state_actions_free(v, n);
	/* One done, one failing temporarily: still planned. */
	assert_int_equal(state_action_done(s, id, 0, &cause), 0);
	assert_int_equal(state_action_failed(s, id, 1, "503", false, 99,
	    &cause), 0);
	assert_int_equal(state_message_finish(s, id, &ms, &cause), 0);
	assert_int_equal(ms, STATE_MSG_PLANNED);
	/* Then failing for good: finished, failed. */
	assert_int_equal(state_action_failed(s, id, 1, "404", true, 0, &cause),
	    0);
	assert_int_equal(state_message_finish(s, id, &ms, &cause), 0);
	assert_int_equal(ms, STATE_MSG_FAILED);
	assert_int_equal(state_actions(s, id, &v, &n, &cause), 0);
	assert_int_equal(v[1].attempts, 2);
	assert_int_equal(v[0].status, STATE_ACT_DONE);
	state_actions_free(v, n);
	/* The same identity cannot be planned twice. */
	plan = json_pack("{s:[],s:[]}", "matched", "actions");
	assert_int_equal(state_message_plan(s, &ident, plan, &id2, &cause), -1);
	assert_non_null(cause);
	free(cause);
	json_decref(plan);
	/* No such message: nothing to finish, an error. */
	cause = NULL;
	assert_int_equal(state_message_finish(s, id + 1000, &ms, &cause), -1);
	assert_non_null(strstr(cause, "no message"));
	free(cause);
	state_close(s);
}

static void
test_known_by_hash(void **st)
{
	struct state		*s;
	struct state_ident	 other = ident;
	char			*cause = NULL;

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	other.key = "6/1";
	assert_true(state_message_known(s, &other));
	other.hash = "def";
	assert_false(state_message_known(s, &other));
	state_close(s);
}

static void
test_sent_counts(void **st)
{
	struct state	*s;
	char		*cause = NULL;

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	assert_int_equal(state_sent_count(s, "acct", "a@x", "h", 0), 0);
	assert_int_equal(state_sent_add(s, "acct", "a@x", "h", &cause), 0);
	assert_int_equal(state_sent_add(s, "acct", "b@x", "h", &cause), 0);
	assert_int_equal(state_sent_count(s, "acct", "a@x", "h", 0), 1);
	assert_int_equal(state_sent_count(s, "acct", NULL, NULL, 0), 2);
	assert_int_equal(state_sent_count(s, "acct", "a@x", "h",
	    time(NULL) + 10), 0);
	state_close(s);
}

/* Plan one message with n reply actions under key; its journal id. */
static int64_t
plan_one(struct state *s, const char *account, const char *key, int n)
{
	struct state_ident	 id = { account, "INBOX", key, NULL, key };
	json_t			*plan, *acts;
	char			*cause = NULL;
	int64_t			 rowid = 0;
	int			 i;

	acts = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(acts, json_pack("{s:s,s:s,s:s}", "rule",
		    "r", "type", "reply", "to", "a@x"));
	plan = json_pack("{s:[s],s:o}", "matched", "r", "actions", acts);
	assert_int_equal(state_message_plan(s, &id, plan, &rowid, &cause), 0);
	json_decref(plan);
	return rowid;
}

static void
test_due_and_attempt_times(void **st)
{
	struct state		*s;
	struct state_action	*v;
	char			*cause = NULL;
	int64_t			 id;
	size_t			 n;
	time_t			 before = time(NULL);

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	id = plan_one(s, "acct1", "7/1", 1);
	assert_int_equal(state_actions(s, id, &v, &n, &cause), 0);
	assert_int_equal(v[0].first_attempt, 0);
	state_actions_free(v, n);
	assert_int_equal(state_action_failed(s, id, 0, "421", false,
	    before + 3600, &cause), 0);
	assert_int_equal(state_actions(s, id, &v, &n, &cause), 0);
	assert_true(v[0].first_attempt >= before);
	assert_int_equal(v[0].next_attempt, before + 3600);
	assert_int_equal(v[0].attempts, 1);
	state_actions_free(v, n);
	/* Due now, and no attempt counted. */
	assert_int_equal(state_action_due(s, id, 0, &cause), 0);
	assert_int_equal(state_actions(s, id, &v, &n, &cause), 0);
	assert_int_equal(v[0].next_attempt, 0);
	assert_int_equal(v[0].attempts, 1);
	assert_int_equal(v[0].status, STATE_ACT_PENDING);
	state_actions_free(v, n);
	state_close(s);
}

static void
test_retry_and_forget(void **st)
{
	struct state		*s;
	struct state_action	*v;
	enum state_msg_status	 ms;
	json_t			*rows, *m;
	char			*cause = NULL;
	int64_t			 id, other;
	size_t			 n;
	uint32_t		 uv = 0, last = 0;
	int			 changed = -1, count = 0;
	struct state_filter	 f = { "acct2", NULL, 0 };

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	assert_int_equal(state_mailbox_set(s, "acct2", "INBOX", 9, 40, &cause),
	    0);
	id = plan_one(s, "acct2", "9/30", 2);
	other = plan_one(s, "acct2", "9/35", 1);
	assert_int_equal(state_action_done(s, id, 0, &cause), 0);
	assert_int_equal(state_action_failed(s, id, 1, "550 no", true, 0,
	    &cause), 0);
	assert_int_equal(state_message_finish(s, id, &ms, &cause), 0);
	assert_int_equal(ms, STATE_MSG_FAILED);
	rows = state_list_actions(s, STATE_ACT_FAILED, &f, &cause);
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    rows, 0), "last_error")), "550 no");
	json_decref(rows);
	/* Retry: the failed action is pending and due, the done one stays
	 * done, and the mailbox will be read again from UID 30. */
	assert_int_equal(state_message_retry(s, id, &changed, &cause), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(state_actions(s, id, &v, &n, &cause), 0);
	assert_int_equal(v[0].status, STATE_ACT_DONE);
	assert_int_equal(v[1].status, STATE_ACT_PENDING);
	assert_int_equal(v[1].next_attempt, 0);
	assert_int_equal(v[1].first_attempt, 0);
	state_actions_free(v, n);
	assert_int_equal(state_message_status(s, &(struct state_ident){ "acct2",
	    "INBOX", "9/30", NULL, NULL }, NULL), STATE_MSG_PLANNED);
	assert_int_equal(state_mailbox_get(s, "acct2", "INBOX", &uv, &last), 0);
	assert_int_equal(last, 29);
	assert_int_equal(state_message_retry(s, 9999, &changed, &cause), 1);
	/* Show: the whole record. */
	m = state_message_get(s, id, &cause);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "status")),
	    "pending");
	assert_int_equal(json_array_size(json_object_get(m, "actions")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_array_get(json_object_get(m, "actions"), 1), "fields"), "to")),
	    "a@x");
	json_decref(m);
	assert_null(state_message_get(s, 9999, &cause));
	assert_null(cause);
	/* Forget one, then the rest of the account. */
	assert_int_equal(state_forget_message(s, other, &cause), 0);
	assert_int_equal(state_forget_message(s, other, &cause), 1);
	rows = state_list_messages(s, &f, &cause);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	assert_int_equal(state_forget_account(s, "acct2", NULL, &count,
	    &cause), 0);
	assert_int_equal(count, 1);
	assert_int_equal(state_mailbox_get(s, "acct2", "INBOX", &uv, &last), 1);
	state_close(s);
}

static void
test_account_sync(void **st)
{
	struct state	*s;
	char		*cause = NULL;
	time_t		 last, warned;

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	assert_int_equal(state_account_get(s, "acct3", &last, &warned), 1);
	assert_int_equal(state_account_warned(s, "acct3", &cause), 0);
	assert_int_equal(state_account_get(s, "acct3", &last, &warned), 0);
	assert_true(warned > 0 && warned <= time(NULL));
	assert_int_equal(last, 0);
	assert_int_equal(state_account_synced(s, "acct3", &cause), 0);
	assert_int_equal(state_account_get(s, "acct3", &last, &warned), 0);
	assert_int_equal(warned, 0);
	assert_true(last > 0 && last <= time(NULL));
	state_close(s);
}

/* A journal written by the first schema opens and gains the new columns. */
static void
test_migrate_from_1(void **st)
{
	struct state		*s;
	struct state_action	*v;
	char			*cause = NULL, *cmd, *old;
	size_t			 n;

	(void)st;
	old = xasprintf("%s.v1", dbpath);
	cmd = xasprintf("sqlite3 '%s' \"CREATE TABLE mailbox (account TEXT NOT "
	    "NULL, mailbox TEXT NOT NULL, uidvalidity INTEGER NOT NULL, last_uid"
	    " INTEGER NOT NULL, last_sync INTEGER NOT NULL, PRIMARY KEY "
	    "(account, mailbox)); CREATE TABLE message (id INTEGER PRIMARY KEY,"
	    " account TEXT NOT NULL, mailbox TEXT NOT NULL, key TEXT NOT NULL, "
	    "message_id TEXT, hash TEXT NOT NULL, status INTEGER NOT NULL, plan "
	    "TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL, UNIQUE "
	    "(account, mailbox, key)); CREATE TABLE action (message INTEGER NOT "
	    "NULL, idx INTEGER NOT NULL, rule TEXT, type TEXT NOT NULL, fields "
	    "TEXT NOT NULL, status INTEGER NOT NULL, attempts INTEGER NOT NULL "
	    "DEFAULT 0, last_error TEXT, next_attempt INTEGER NOT NULL DEFAULT "
	    "0, done_at INTEGER, PRIMARY KEY (message, idx)); CREATE TABLE sent"
	    " (account TEXT NOT NULL, sender TEXT NOT NULL, handle TEXT NOT "
	    "NULL, at INTEGER NOT NULL); INSERT INTO message VALUES (1, 'a', "
	    "'INBOX', '1/1', NULL, 'h', 1, '{}', 0, 0); INSERT INTO action "
	    "VALUES (1, 0, 'r', 'reply', '{}', 0, 3, 'x', 5, NULL); PRAGMA "
	    "user_version = 1;\"", old);
	if (system(cmd) != 0)
		skip();
	free(cmd);
	assert_int_equal(state_open(old, &s, &cause), 0);
	assert_int_equal(state_actions(s, 1, &v, &n, &cause), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].attempts, 3);
	assert_int_equal(v[0].first_attempt, 0);
	state_actions_free(v, n);
	assert_int_equal(state_account_synced(s, "a", &cause), 0);
	state_close(s);
	free(old);
}

/* Messages of account seen from another connection: committed ones only. */
static int
committed(const char *account)
{
	sqlite3		*db;
	sqlite3_stmt	*stmt;
	int		 n = -1;

	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM message "
	    "WHERE account = ?", -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return n;
}

/* From another connection: can the whole WAL be checkpointed and reset?
 * Not while this one holds a read transaction open. */
static int
wal_busy(void)
{
	sqlite3		*db;
	sqlite3_stmt	*stmt;
	int		 busy = -1;

	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	    "PRAGMA wal_checkpoint(TRUNCATE)", -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		busy = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return busy;
}

/* Plan a message of account under key: n actions, the first of them
 * without a type (which the journal refuses) when bad. */
static int
plan_key(struct state *s, const char *account, const char *key, int n,
    bool bad, int64_t *rowid, char **cause)
{
	struct state_ident	 id = { account, "INBOX", key, NULL, key };
	json_t			*plan, *acts;
	int			 i, rc;

	acts = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(acts, bad && i == 0 ?
		    json_pack("{s:s}", "rule", "r") :
		    json_pack("{s:s,s:s}", "rule", "r", "type", "reply"));
	plan = json_pack("{s:[],s:o}", "matched", "actions", acts);
	rc = state_message_plan(s, &id, plan, rowid, cause);
	json_decref(plan);
	return rc;
}

/* A plan without actions is one finished message; statements are kept
 * and reused, and none holds a read transaction after its call. */
static void
test_kept_statements(void **st)
{
	struct state		*s;
	struct state_ident	 id = { "kept", "INBOX", "1/1", NULL, "1/1" };
	char			*cause = NULL;
	int64_t			 rowid = 0, got;
	int			 i;

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	assert_int_equal(plan_key(s, "kept", "1/1", 0, false, &rowid, &cause),
	    0);
	assert_false(state_group_open(s));
	assert_int_equal(committed("kept"), 1);
	for (i = 0; i < 500; i++) {
		got = 0;
		assert_int_equal(state_message_status(s, &id, &got),
		    STATE_MSG_DONE);
		assert_int_equal(got, rowid);
	}
	assert_int_equal(wal_busy(), 0);
	/* A statement that failed (a second plan under the key) is ready
	 * for the next use. */
	assert_int_equal(plan_key(s, "kept", "1/1", 0, false, &got, &cause),
	    -1);
	free(cause);
	cause = NULL;
	assert_int_equal(plan_key(s, "kept", "1/2", 0, false, &got, &cause),
	    0);
	assert_int_equal(got, rowid + 1);
	assert_int_equal(wal_busy(), 0);
	state_close(s);
}

/* The status by key, and whether the bytes were seen under another. */
static void
test_lookup(void **st)
{
	struct state		*s;
	struct state_ident	 id = { "look", "INBOX", "1/1", "m1", "h1" };
	char			*cause = NULL;
	int64_t			 rowid = 0, got = 0;
	bool			 known;
	json_t			*plan;

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	plan = json_pack("{s:[],s:[]}", "matched", "actions");
	assert_int_equal(state_message_plan(s, &id, plan, &rowid, &cause), 0);
	json_decref(plan);
	assert_int_equal(state_message_lookup(s, &id, &got, &known),
	    STATE_MSG_DONE);
	assert_int_equal(got, rowid);
	id.key = "2/1";
	assert_int_equal(state_message_lookup(s, &id, &got, &known),
	    STATE_MSG_NONE);
	assert_true(known);
	id.message_id = NULL;	/* no Message-ID: the bytes decide */
	assert_int_equal(state_message_lookup(s, &id, &got, &known),
	    STATE_MSG_NONE);
	assert_true(known);
	id.message_id = "m2";
	assert_int_equal(state_message_lookup(s, &id, &got, &known),
	    STATE_MSG_NONE);
	assert_false(known);
	id.message_id = "m1";
	id.hash = "h2";
	assert_int_equal(state_message_lookup(s, &id, &got, &known),
	    STATE_MSG_NONE);
	assert_false(known);
	state_close(s);
}

/*
 * A group holds messages uncommitted; the record of an action's outcome
 * commits it with everything before (as must happen before an action runs,
 * which the runner does with state_commit).
 */
static void
test_group_commit(void **st)
{
	struct state	*s;
	char		*cause = NULL;
	int64_t		 a, b, c;

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	assert_int_equal(state_commit(s, &cause), 0);	/* none open */
	assert_int_equal(state_group_begin(s, &cause), 0);
	assert_true(state_group_open(s));
	assert_int_equal(plan_key(s, "grp", "1/1", 0, false, &a, &cause), 0);
	assert_int_equal(plan_key(s, "grp", "1/2", 0, false, &b, &cause), 0);
	assert_int_equal(committed("grp"), 0);
	/* A plan with an action joins the group too... */
	assert_int_equal(plan_key(s, "grp", "1/3", 1, false, &c, &cause), 0);
	assert_true(state_group_open(s));
	assert_int_equal(committed("grp"), 0);
	/* ...which is committed before the action runs. */
	assert_int_equal(state_commit(s, &cause), 0);
	assert_false(state_group_open(s));
	assert_int_equal(committed("grp"), 3);
	/* Marking an action done commits the group it is in. */
	assert_int_equal(state_group_begin(s, &cause), 0);
	assert_int_equal(plan_key(s, "grp", "1/4", 0, false, &a, &cause), 0);
	assert_int_equal(committed("grp"), 3);
	assert_int_equal(state_action_done(s, c, 0, &cause), 0);
	assert_false(state_group_open(s));
	assert_int_equal(committed("grp"), 4);
	/* So does the end of a pass. */
	assert_int_equal(state_group_begin(s, &cause), 0);
	assert_int_equal(plan_key(s, "grp", "1/5", 0, false, &a, &cause), 0);
	assert_int_equal(state_mailbox_set(s, "grp", "INBOX", 1, 5, &cause), 0);
	assert_false(state_group_open(s));
	assert_int_equal(committed("grp"), 5);
	/* And closing the state. */
	assert_int_equal(state_group_begin(s, &cause), 0);
	assert_int_equal(plan_key(s, "grp", "1/6", 0, false, &a, &cause), 0);
	assert_int_equal(committed("grp"), 5);
	state_close(s);
	assert_int_equal(committed("grp"), 6);
}

/* A plan that fails inside a group undoes itself, not the group. */
static void
test_group_savepoint(void **st)
{
	struct state		*s;
	struct state_ident	 id = { "sp", "INBOX", "1/2", NULL, "1/2" };
	char			*cause = NULL;
	int64_t			 a, b;

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	assert_int_equal(state_group_begin(s, &cause), 0);
	assert_int_equal(plan_key(s, "sp", "1/1", 0, false, &a, &cause), 0);
	/* Its second action is saved, then the first is refused. */
	assert_int_equal(plan_key(s, "sp", "1/2", 2, true, &b, &cause), -1);
	assert_non_null(strstr(cause, "save action"));
	free(cause);
	cause = NULL;
	assert_true(state_group_open(s));
	assert_int_equal(state_message_status(s, &id, NULL), STATE_MSG_NONE);
	/* A second plan under the same key: refused, the group goes on. */
	assert_int_equal(plan_key(s, "sp", "1/1", 0, false, &b, &cause), -1);
	free(cause);
	cause = NULL;
	assert_true(state_group_open(s));
	assert_int_equal(plan_key(s, "sp", "1/3", 1, false, &b, &cause), 0);
	assert_int_equal(committed("sp"), 0);
	assert_int_equal(state_commit(s, &cause), 0);
	assert_int_equal(committed("sp"), 2);
	assert_int_equal(state_message_status(s, &id, NULL), STATE_MSG_NONE);
	state_close(s);
}

/* A group is committed after so many messages, or once old enough. */
static void
test_group_tick(void **st)
{
	struct state	*s;
	char		*cause = NULL, key[16];
	int64_t		 a;
	int		 i;

	(void)st;
	assert_int_equal(state_open(dbpath, &s, &cause), 0);
	assert_int_equal(state_group_tick(s, &cause), 0);	/* none open */
	for (i = 0; i < 1000; i++) {
		assert_int_equal(state_group_begin(s, &cause), 0);
		snprintf(key, sizeof key, "1/%d", i);
		assert_int_equal(plan_key(s, "tick", key, 0, false, &a,
		    &cause), 0);
		assert_int_equal(state_group_tick(s, &cause), 0);
		if (!state_group_open(s))
			break;
	}
	assert_true(i < 1000);
	assert_int_equal(committed("tick"), i + 1);
	/* One message, then 150 ms: the next tick commits. */
	assert_int_equal(state_group_begin(s, &cause), 0);
	assert_int_equal(plan_key(s, "tick", "2/1", 0, false, &a, &cause), 0);
	usleep(150 * 1000);
	assert_int_equal(state_group_tick(s, &cause), 0);
	assert_false(state_group_open(s));
	assert_int_equal(committed("tick"), i + 2);
	state_close(s);
}

/* The hash that identifies a message's bytes: FIPS 180-2's example. */
static void
test_identity_hash(void **st)
{
	char	 out[65];

	(void)st;
	memset(out, 'x', sizeof out);
	sha256_hex("abc", 3, out);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	sha256_hex("", 0, out);
	assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailbox_roundtrip),
		cmocka_unit_test(test_plan_and_finish),
		cmocka_unit_test(test_known_by_hash),
		cmocka_unit_test(test_sent_counts),
		cmocka_unit_test(test_due_and_attempt_times),
		cmocka_unit_test(test_retry_and_forget),
		cmocka_unit_test(test_account_sync),
		cmocka_unit_test(test_migrate_from_1),
		cmocka_unit_test(test_kept_statements),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_group_savepoint),
		cmocka_unit_test(test_group_tick),
		cmocka_unit_test(test_identity_hash),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
