/* The journal: plans saved, actions marked, messages finished, migrations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailbox_roundtrip),
		cmocka_unit_test(test_plan_and_finish),
		cmocka_unit_test(test_known_by_hash),
		cmocka_unit_test(test_sent_counts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
