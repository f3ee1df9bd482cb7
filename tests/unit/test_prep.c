/*
 * The evaluation worker: plans and hashes as the calling thread would make
 * them, in the order asked for, with or without the thread; messages
 * dropped unused; the worker stopped and started again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "conf.h"
#include "msg.h"
#include "prep.h"
#include "rule.h"
#include "run.h"
#include "xmalloc.h"

#define N	300

static char			 rules_path[] = "/tmp/facteur-prep-XXXXXX";
static struct conf_account	 shop;

static const char rules_text[] =
    "rules:\n"
    "  - name: order\n"
    "    if:\n"
    "      all:\n"
    "        - subject: 'Order #(?<n>[0-9]+)'\n"
    "        - body: 'item (?<item>[a-z]+)'\n"
    "    then:\n"
    "      - reply:\n"
    "          body: \"n={{n}} item={{item}}\"\n";

static int
setup(void **state)
{
	const char	*files[1];
	struct diag	 d;
	FILE		*f;
	int		 fd;

	(void)state;
	msg_library_init();
	if ((fd = mkstemp(rules_path)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL)
		return -1;
	fputs(rules_text, f);
	fclose(f);
	files[0] = rules_path;
	diag_init(&d);
	shop.name = xstrdup("shop");
	shop.rules = ruleset_load(files, 1, &d);
	diag_free(&d);
	return shop.rules == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	prep_shutdown();
	ruleset_free(shop.rules);
	free(shop.name);
	unlink(rules_path);
	return 0;
}

/* Message i: an order of its own, an HTML body (for the worker's libxml2)
 * every third one. */
static char *
message(int i, size_t *len)
{
	char	*s;

	if (i % 3 == 0)
		s = xasprintf("From: c%d@example.test\r\nTo: shop@example.test\r\n"
		    "Subject: Order #%d\r\nMessage-ID: <m%d@example.test>\r\n"
		    "Content-Type: text/html; charset=iso-8859-1\r\n\r\n"
		    "<p>item <b>caf\xe9</b>s</p><p>item %c%c</p>\r\n", i, 1000 + i,
		    i, 'a' + i % 26, 'a' + i / 26 % 26);
	else
		s = xasprintf("From: c%d@example.test\r\nTo: shop@example.test\r\n"
		    "Subject: Order #%d\r\nMessage-ID: <m%d@example.test>\r\n\r\n"
		    "item %c%c\r\n", i, 1000 + i, i, 'a' + i % 26,
		    'a' + i / 26 % 26);
	*len = strlen(s);
	return s;
}

/* What the plan of message i must say, worked out from the rule. */
static char *
want_body(int i)
{
	if (i % 3 == 0)
		return xasprintf("n=%d item=caf", 1000 + i);
	return xasprintf("n=%d item=%c%c", 1000 + i, 'a' + i % 26,
	    'a' + i / 26 % 26);
}

static void
check(struct prep *p, int i)
{
	json_t		*plan, *act;
	char		*raw, *want, hash[65];
	size_t		 len;

	raw = message(i, &len);
	sha256_hex(raw, len, hash);
	free(raw);
	plan = prep_plan(p);
	prep_hash(p);
	assert_string_equal(p->hash, hash);
	assert_non_null(p->msg);
	assert_string_equal(msg_message_id(p->msg),
	    want = xasprintf("m%d@example.test", i));
	free(want);
	act = json_array_get(json_object_get(plan, "actions"), 0);
	assert_non_null(act);
	want = want_body(i);
	assert_string_equal(json_string_value(json_object_get(act, "body")),
	    want);
	free(want);
}

static void
run_all(void)
{
	struct prep	*v[N];
	size_t		 len;
	char		*raw;
	int		 i;

	for (i = 0; i < N; i++) {
		raw = message(i, &len);
		v[i] = prep_submit(&shop, raw, len);
	}
	/* In order, every fourth one dropped unused. */
	for (i = 0; i < N; i++) {
		if (i % 4 == 3) {
			prep_drop(v[i]);
			continue;
		}
		check(v[i], i);
		prep_drop(v[i]);
	}
}

static void
test_worker(void **state)
{
	(void)state;
	prep_set_workers(1);
	run_all();
	/* Stopped and started again by the next submit. */
	prep_shutdown();
	run_all();
	prep_shutdown();
}

/* Several workers finish out of order: each plan still goes with its
 * message, and the patterns' captures with their thread. */
static void
test_workers(void **state)
{
	(void)state;
	prep_set_workers(3);
	run_all();
	run_all();
	prep_shutdown();
}

static void
test_inline(void **state)
{
	(void)state;
	prep_set_workers(0);
	run_all();
	prep_set_workers(1);
}

/* Dropped while the worker may still be on it: waited for, then freed. */
static void
test_drop_early(void **state)
{
	struct prep	*v[N];
	size_t		 len;
	char		*raw;
	int		 i;

	(void)state;
	prep_set_workers(2);
	for (i = 0; i < N; i++) {
		raw = message(i, &len);
		v[i] = prep_submit(&shop, raw, len);
	}
	for (i = N - 1; i >= 0; i--)
		prep_drop(v[i]);
	prep_shutdown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worker),
		cmocka_unit_test(test_workers),
		cmocka_unit_test(test_inline),
		cmocka_unit_test(test_drop_early),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
