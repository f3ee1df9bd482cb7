/* Templates: syntax, names with offsets, rendering safe per destination. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "tmpl.h"
#include "xmalloc.h"

static const char *
lookup(const char *name, void *arg)
{
	(void)arg;
	if (strcmp(name, "evil") == 0)
		return "a\r\nBcc: x@y \"q\" \\ é";
	if (strcmp(name, "order") == 0)
		return "123456";
	return NULL;
}

static void
test_names_and_offsets(void **st)
{
	struct tmpl	*t;
	char		*cause = NULL;
	size_t		 off = 99;

	(void)st;
	t = tmpl_compile("Order {{order}} for {{ from.name }}.", &cause, &off);
	assert_non_null(t);
	assert_int_equal(tmpl_var_count(t), 2);
	assert_string_equal(tmpl_var(t, 0, &off), "order");
	assert_int_equal(off, 6);
	assert_string_equal(tmpl_var(t, 1, &off), "from.name");
	assert_int_equal(off, 20);
	assert_false(tmpl_is_literal(t));
	tmpl_free(t);
	t = tmpl_compile("no placeholders } here {", &cause, &off);
	assert_non_null(t);
	assert_true(tmpl_is_literal(t));
	tmpl_free(t);
}

static void
test_syntax_errors(void **st)
{
	char	*cause = NULL;
	size_t	 off = 0;

	(void)st;
	assert_null(tmpl_compile("abc {{order", &cause, &off));
	assert_int_equal(off, 4);
	assert_non_null(strstr(cause, "unclosed"));
	free(cause);
	assert_null(tmpl_compile("x {{}}", &cause, &off));
	assert_int_equal(off, 2);
	free(cause);
	assert_null(tmpl_compile("{{a b}}", &cause, &off));
	assert_int_equal(off, 0);
	free(cause);
}

static void
test_render_modes(void **st)
{
	struct tmpl	*t;
	char		*cause = NULL, *s;
	size_t		 off;

	(void)st;
	t = tmpl_compile("[{{evil}}] {{missing}}{{order}}", &cause, &off);
	assert_non_null(t);
	s = tmpl_render(t, TMPL_TEXT, lookup, NULL);
	assert_string_equal(s, "[a\r\nBcc: x@y \"q\" \\ é] 123456");
	free(s);
	s = tmpl_render(t, TMPL_HEADER, lookup, NULL);
	assert_null(strpbrk(s, "\r\n"));
	assert_string_equal(s, "[a  Bcc: x@y \"q\" \\ é] 123456");
	free(s);
	s = tmpl_render(t, TMPL_JSON, lookup, NULL);
	assert_string_equal(s, "[a\\r\\nBcc: x@y \\\"q\\\" \\\\ é] 123456");
	free(s);
	s = tmpl_render(t, TMPL_URL, lookup, NULL);
	assert_string_equal(s, "[a%0D%0ABcc%3A%20x%40y%20%22q%22%20%5C%20"
	    "%C3%A9] 123456");
	free(s);
	tmpl_free(t);
}

static void
test_header_encode(void **st)
{
	char	*s;

	(void)st;
	s = tmpl_header_encode("Plain ascii");
	assert_string_equal(s, "Plain ascii");
	free(s);
	s = tmpl_header_encode("Réponse\r\nBcc: x");
	assert_null(strpbrk(s, "\r\n"));
	assert_non_null(strstr(s, "=?"));
	assert_null(strstr(s, "é"));
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_offsets),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_render_modes),
		cmocka_unit_test(test_header_encode),
	};
	int	 rc;

	g_mime_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	g_mime_shutdown();
	return rc;
}
