/*
 * What smtp_send() refuses before libcurl sees it: addresses that would
 * inject SMTP commands (Debian's libcurl 7.88.1 sends CR/LF as they are)
 * and an empty recipient list (libcurl would send HELP and report success);
 * and how compose_rcpts() turns a plan's `to` into recipients for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compose.h"
#include "conf.h"
#include "msg.h"
#include "smtp.h"

static void
test_address_valid(void **st)
{
	(void)st;
	assert_true(smtp_address_valid("a@example.test", false));
	assert_true(smtp_address_valid("first.last+tag@sub.example.test",
	    false));
	assert_true(smtp_address_valid("", true));
	assert_false(smtp_address_valid("", false));
	assert_false(smtp_address_valid(NULL, true));
	assert_false(smtp_address_valid("a@example.test\r\nRCPT TO:<x@y>",
	    false));
	assert_false(smtp_address_valid("a@example.test\n", false));
	assert_false(smtp_address_valid("a\tb@example.test", false));
	assert_false(smtp_address_valid("a b@example.test", false));
	assert_false(smtp_address_valid("a\x7f@example.test", false));
	assert_false(smtp_address_valid("<a@example.test>", false));
	assert_false(smtp_address_valid("a@example.test>", false));
	assert_false(smtp_address_valid("example.test", false));
	assert_false(smtp_address_valid("@example.test", false));
	assert_false(smtp_address_valid("a@", false));
}

/* Nothing below reaches the network: the URL points nowhere. */
static void
test_send_refuses(void **st)
{
	struct conf_smtp	 s;
	const char		*ok[] = { "a@example.test" };
	const char		*bad[] = { "a@example.test",
				    "b@example.test\r\nDATA" };
	char			 url[] = "smtp://127.0.0.1:1";
	char			*cause = NULL;

	(void)st;
	memset(&s, 0, sizeof s);
	s.url = url;
	assert_int_equal(smtp_send(&s, "me@example.test", ok, 0, "x", 1,
	    &cause), SMTP_PERM);
	assert_string_equal(cause, "smtp: no recipient");
	free(cause);
	cause = NULL;
	assert_int_equal(smtp_send(&s, "me@example.test", bad, 2, "x", 1,
	    &cause), SMTP_PERM);
	assert_non_null(strstr(cause, "invalid recipient"));
	free(cause);
	cause = NULL;
	assert_int_equal(smtp_send(&s, "me@example.test\r\nRSET", ok, 1, "x",
	    1, &cause), SMTP_PERM);
	assert_string_equal(cause, "smtp: invalid sender address");
	free(cause);
}

/* The recipients of a `to` field, or NULL and the cause. */
static char **
rcpts(const char *json, size_t *n, char **cause)
{
	json_t	*j = json_loads(json, JSON_DECODE_ANY, NULL);
	char	**v = NULL;

	assert_non_null(j);
	*cause = NULL;
	if (compose_rcpts(j, &v, n, cause) != 0)
		v = NULL;
	json_decref(j);
	return v;
}

static void
test_rcpts(void **st)
{
	char	**v, *cause;
	size_t	 n;

	(void)st;
	v = rcpts("\"Alice <alice@example.test>\"", &n, &cause);
	assert_non_null(v);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "alice@example.test");
	assert_null(v[1]);
	compose_rcpts_free(v);
	v = rcpts("[\"a@example.test, B <b@example.test>\", \"c@example.test\"]",
	    &n, &cause);
	assert_non_null(v);
	assert_int_equal(n, 3);
	assert_string_equal(v[1], "b@example.test");
	assert_string_equal(v[2], "c@example.test");
	compose_rcpts_free(v);

	assert_null(rcpts("[]", &n, &cause));
	assert_string_equal(cause, "no recipient");
	free(cause);
	assert_null(rcpts("null", &n, &cause));
	assert_string_equal(cause, "no recipient");
	free(cause);
	assert_null(rcpts("\"not an address\"", &n, &cause));
	assert_non_null(cause);
	free(cause);
	assert_null(rcpts("[\"a@example.test\", 7]", &n, &cause));
	assert_string_equal(cause, "a recipient is not a string");
	free(cause);
	assert_null(rcpts("\"team: a@example.test, b@example.test;\"", &n,
	    &cause));
	assert_non_null(strstr(cause, "groups are not recipients"));
	free(cause);
	/* A control character in an address never reaches the server. */
	assert_null(rcpts("\"<a\\u0001b@example.test>\"", &n, &cause));
	assert_non_null(cause);
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_valid),
		cmocka_unit_test(test_send_refuses),
		cmocka_unit_test(test_rcpts),
	};
	int	 rc;

	msg_library_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	msg_library_shutdown();
	return rc;
}
