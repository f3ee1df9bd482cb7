/* File names for extracted attachments: hostile names stay inside the dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec-name.h"

static void
check(const char *in, const char *type, const char *want)
{
	char	*s;

	s = exec_safe_name(in, type);
	assert_string_equal(s, want);
	free(s);
}

static void
test_plain_names_kept(void **st)
{
	(void)st;
	check("report.pdf", "application/pdf", "report.pdf");
	check("Übersicht März.xlsx", NULL, "Übersicht März.xlsx");
	check("a b (1).txt", "text/plain", "a b (1).txt");
	check("no-extension", NULL, "no-extension");
}

static void
test_paths_cut(void **st)
{
	(void)st;
	check("../../etc/passwd", NULL, "passwd");
	check("/etc/cron.d/evil", NULL, "evil");
	check("..\\..\\windows\\system.ini", NULL, "system.ini");
	check("dir/", "application/pdf", "attachment.pdf");
	check("C:\\Users\\x\\doc.txt", NULL, "doc.txt");
}

static void
test_dots(void **st)
{
	(void)st;
	check("..", "text/plain", "attachment.txt");
	check(".", "image/png", "attachment.png");
	check("...", NULL, "attachment.bin");
	check(".bashrc", NULL, "_bashrc");
	check("..hidden.txt", NULL, "__hidden.txt");
	check("trailing. . ", NULL, "trailing");
	check("  lead.txt", NULL, "lead.txt");
}

static void
test_controls(void **st)
{
	(void)st;
	check("a\nb\r\tc.txt", NULL, "a_b__c.txt");
	check("del\x7f.txt", NULL, "del_.txt");
	check("bad\xff\xfe.bin", NULL, "bad__.bin");
	/* A C1 control (U+0085, NEXT LINE) is a control too. */
	check("x\xc2\x85y", NULL, "x__y");
	/* An overlong '/' (0xC0 0xAF) must not become a separator. */
	check("a\xc0\xaf" "b", NULL, "a__b");
}

static void
test_missing_names(void **st)
{
	(void)st;
	check("", "application/pdf", "attachment.pdf");
	check(NULL, "message/rfc822", "attachment.eml");
	check("", "application/x-unknown", "attachment.bin");
	check("", "IMAGE/JPEG", "attachment.jpg");
}

static void
test_long_names(void **st)
{
	char	 in[600], *s;
	size_t	 i;

	(void)st;
	for (i = 0; i < 500; i++)
		in[i] = 'a';
	strcpy(in + 500, ".pdf");
	s = exec_safe_name(in, NULL);
	assert_int_equal(strlen(s), EXEC_NAME_MAX);
	assert_string_equal(s + EXEC_NAME_MAX - 4, ".pdf");
	free(s);
	/* 300 two-byte characters: cut on a character boundary. */
	for (i = 0; i < 300; i++)
		memcpy(in + 2 * i, "\xc3\xa9", 2);
	in[600 - 1] = '\0';
	in[598] = '\0';
	s = exec_safe_name(in, NULL);
	assert_true(strlen(s) <= EXEC_NAME_MAX);
	assert_int_equal(strlen(s) % 2, 0);
	free(s);
}

static void
test_variants(void **st)
{
	char	*s;

	(void)st;
	s = exec_name_variant("report.pdf", 0);
	assert_string_equal(s, "report.pdf");
	free(s);
	s = exec_name_variant("report.pdf", 1);
	assert_string_equal(s, "report-1.pdf");
	free(s);
	s = exec_name_variant("archive.tar.gz", 12);
	assert_string_equal(s, "archive.tar-12.gz");
	free(s);
	s = exec_name_variant("README", 2);
	assert_string_equal(s, "README-2");
	free(s);
	s = exec_name_variant("_bashrc", 3);
	assert_string_equal(s, "_bashrc-3");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_names_kept),
		cmocka_unit_test(test_paths_cut),
		cmocka_unit_test(test_dots),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_missing_names),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_variants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
