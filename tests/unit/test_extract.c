/*
 * extract's helpers: file names for attachments (hostile names stay inside
 * the directory) and the attachment bytes found behind msg_attachments().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec-name.h"
#include "msg.h"
#include "msg-extra.h"

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

/*
 * Same name, type and size twice; an inline image in the related part of
 * an alternative (listed because the text/plain beside it is empty).
 */
static const char MIXED[] =
    "From: a@example.test\r\n"
    "Subject: parts\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=M\r\n"
    "\r\n"
    "--M\r\n"
    "Content-Type: multipart/alternative; boundary=A\r\n"
    "\r\n"
    "--A\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "\r\n"
    "--A\r\n"
    "Content-Type: multipart/related; boundary=R\r\n"
    "\r\n"
    "--R\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>html</p>\r\n"
    "--R\r\n"
    "Content-Type: image/png\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "iVBORw==\r\n"
    "--R--\r\n"
    "--A--\r\n"
    "--M\r\n"
    "Content-Type: application/octet-stream; name=\"d.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAEC\r\n"
    "--M\r\n"
    "Content-Type: application/octet-stream; name=\"d.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AwQF\r\n"
    "--M\r\n"
    "Content-Type: text/plain; name=\"q.txt\"\r\n"
    "Content-Disposition: attachment\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "caf=C3=A9=\r\n"
    "\r\n"
    "--M--\r\n";

static void
test_parts_bytes(void **st)
{
	const struct msg_attachment	*a;
	struct msg_parts		*p;
	struct msg			*m;
	const char			*data;
	size_t				 n, len;

	(void)st;
	m = msg_new(MIXED, sizeof MIXED - 1, NULL);
	n = msg_attachments(m, &a);
	assert_int_equal(n, 4);
	p = msg_parts_new(m);
	data = msg_parts_take(p, a[0].filename, a[0].content_type, a[0].size,
	    &len);
	assert_non_null(data);
	assert_string_equal(a[0].content_type, "image/png");
	assert_int_equal(len, 4);
	assert_memory_equal(data, "\x89PNG", 4);
	/* Two parts alike but for their bytes: taken in order. */
	data = msg_parts_take(p, "d.bin", "application/octet-stream", 3, &len);
	assert_non_null(data);
	assert_memory_equal(data, "\x00\x01\x02", 3);
	data = msg_parts_take(p, "d.bin", "application/octet-stream", 3, &len);
	assert_non_null(data);
	assert_memory_equal(data, "\x03\x04\x05", 3);
	assert_null(msg_parts_take(p, "d.bin", "application/octet-stream", 3,
	    &len));
	data = msg_parts_take(p, "q.txt", "text/plain", 5, &len);
	assert_non_null(data);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "caf\xc3\xa9", 5);
	/* A wrong size finds nothing. */
	assert_null(msg_parts_take(p, "q.txt", "text/plain", 6, &len));
	msg_parts_free(p);
	msg_free(m);
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
		cmocka_unit_test(test_parts_bytes),
	};
	int	 rc;

	msg_library_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	msg_library_shutdown();
	return rc;
}
