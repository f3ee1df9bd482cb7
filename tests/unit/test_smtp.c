/*
 * What smtp_send() refuses before libcurl sees it: addresses that would
 * inject SMTP commands (Debian's libcurl 7.88.1 sends CR/LF as they are)
 * and an empty recipient list (libcurl would send HELP and report success).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_valid),
		cmocka_unit_test(test_send_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
