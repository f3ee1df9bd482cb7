/*
 * The header splitter (msg-head.c) and the MIME walker (msg-mime.c)
 * against the GMime path they replace: every message of tests/fixtures
 * and of the shared corpus (../shared/corpus, or $FACTEUR_CORPUS; skipped
 * when absent) is parsed both ways and everything msg.h hands out is
 * compared: subject, ids, date, every header field, every address field,
 * list and automatic facts, the text byte for byte, the attachments
 * (name, type, size, flags) and the defects, in the order they are listed.
 * A message the new path leaves to GMime (it says it is unsure) counts as
 * a fallback; it must still give the same result.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "msg.h"
#include "msg-private.h"
#include "xmalloc.h"

#ifndef FIXTURES
#define FIXTURES "tests/fixtures"
#endif
#define CORPUS	"../shared/corpus"

struct tally {
	size_t	 messages;
	size_t	 identical;
	size_t	 different;
	size_t	 head_fallback;
	size_t	 body_fallback;
};

static void	 dump(GString *, struct msg *);
static void	 dump_body_first(GString *, struct msg *);
static const char *last_defects(const char *, const char *);
static void	 dump_str(GString *, const char *, const char *);
static char	*read_all(const char *, size_t *);
static void	 compare_file(const char *, struct tally *);
static size_t	 compare_dir(const char *, const char *, struct tally *);
static int	 has_suffix(const char *, const char *);

/*
 * The same facts asked for the other way round: the body first, the
 * addresses after, the defects last (they are listed in one order).
 */
static void
dump_body_first(GString *s, struct msg *m)
{
	const struct msg_addr		*a;
	const struct msg_attachment	*att;
	const char *const		*d;
	const char			*why;
	size_t				 i, n;
	int				 f;

	dump_str(s, "text", msg_text(m));
	n = msg_attachments(m, &att);
	for (i = 0; i < n; i++)
		g_string_append_printf(s, "attachment: [%s] %s %zu\n",
		    att[i].filename, att[i].content_type, att[i].size);
	g_string_append_printf(s, "is_auto: %d\n", msg_is_auto(m, &why));
	dump_str(s, "auto why", why);
	for (f = MSG_ADDR_FIELD_COUNT - 1; f >= 0; f--) {
		n = msg_addrs(m, (enum msg_addr_field)f, &a);
		for (i = 0; i < n; i++)
			g_string_append_printf(s, "addr %d: [%s] <%s>\n", f,
			    a[i].name, a[i].address);
	}
	n = msg_defects(m, &d);
	for (i = 0; i < n; i++)
		g_string_append_printf(s, "defect (late): %s\n", d[i]);
}

/* The defect lines of a dump with that prefix, prefix taken off. */
static const char *
last_defects(const char *dump_text, const char *prefix)
{
	static GString	*out[2];
	static int	 turn;
	const char	*p, *nl;
	GString		*s;

	turn = !turn;
	if (out[turn] == NULL)
		out[turn] = g_string_new(NULL);
	s = out[turn];
	g_string_truncate(s, 0);
	for (p = dump_text; (p = strstr(p, prefix)) != NULL; p = nl) {
		if (p != dump_text && p[-1] != '\n') {
			nl = p + 1;
			continue;
		}
		p += strlen(prefix);
		nl = p + strcspn(p, "\n");
		g_string_append_len(s, p, nl - p + 1);
	}
	return s->str;
}

static void
dump_str(GString *s, const char *key, const char *v)
{
	g_string_append_printf(s, "%s: %s\n", key, v == NULL ? "(null)" : v);
}

/* Everything msg.h says about m, one fact a line. */
static void
dump(GString *s, struct msg *m)
{
	const struct msg_header		*h;
	const struct msg_addr		*a;
	const struct msg_attachment	*att;
	const char *const		*d;
	const char			*why;
	size_t				 i, n;
	int				 f;

	n = msg_defects(m, &d);
	for (i = 0; i < n; i++)
		g_string_append_printf(s, "defect (headers): %s\n", d[i]);
	dump_str(s, "subject", msg_subject(m));
	dump_str(s, "message-id", msg_message_id(m));
	dump_str(s, "in-reply-to", msg_in_reply_to(m));
	dump_str(s, "references", msg_references(m));
	dump_str(s, "date", msg_date(m));
	g_string_append_printf(s, "date_time: %lld\n",
	    (long long)msg_date_time(m));
	dump_str(s, "return-path", msg_return_path(m));
	dump_str(s, "list-id", msg_list_id(m));
	g_string_append_printf(s, "is_list: %d\n", msg_is_list(m));
	g_string_append_printf(s, "is_auto: %d\n", msg_is_auto(m, &why));
	dump_str(s, "auto why", why);
	for (f = 0; f < MSG_ADDR_FIELD_COUNT; f++) {
		n = msg_addrs(m, (enum msg_addr_field)f, &a);
		for (i = 0; i < n; i++)
			g_string_append_printf(s, "addr %d: [%s] <%s>\n", f,
			    a[i].name, a[i].address);
	}
	n = msg_headers(m, &h);
	for (i = 0; i < n; i++)
		g_string_append_printf(s, "header: %s: %s\n", h[i].name,
		    h[i].value);
	dump_str(s, "text", msg_text(m));
	n = msg_attachments(m, &att);
	for (i = 0; i < n; i++)
		g_string_append_printf(s, "attachment: [%s] %s %zu %d %d\n",
		    att[i].filename, att[i].content_type, att[i].size,
		    att[i].is_signed, att[i].is_encrypted);
	n = msg_defects(m, &d);
	for (i = 0; i < n; i++)
		g_string_append_printf(s, "defect: %s\n", d[i]);
}

static char *
read_all(const char *path, size_t *len)
{
	gchar	*data;
	gsize	 n;

	if (!g_file_get_contents(path, &data, &n, NULL))
		return NULL;
	*len = n;
	return data;
}

/* The first line where a and b differ, for the report. */
static void
first_difference(const char *path, const char *a, const char *b)
{
	const char	*la = a, *lb = b;

	while (*a != '\0' && *a == *b) {
		if (*a == '\n') {
			la = a + 1;
			lb = b + 1;
		}
		a++;
		b++;
	}
	printf("# %s differs:\n#   gmime: %.*s\n#   own:   %.*s\n", path,
	    (int)MIN(strcspn(la, "\n"), 200), la,
	    (int)MIN(strcspn(lb, "\n"), 200), lb);
}

static void
compare_file(const char *path, struct tally *t)
{
	struct msg	*m;
	struct msg_stats before;
	GString		*old, *new;
	char		*data;
	size_t		 len = 0;

	if ((data = read_all(path, &len)) == NULL)
		fail_msg("cannot read %s", path);
	old = g_string_new(NULL);
	new = g_string_new(NULL);
	msg_set_gmime_only(true);
	m = msg_new(data, len, NULL);
	dump(old, m);
	msg_free(m);
	m = msg_new(data, len, NULL);
	dump_body_first(old, m);
	msg_free(m);
	msg_set_gmime_only(false);
	before = msg_stats;
	m = msg_new(data, len, NULL);
	dump(new, m);
	msg_free(m);
	m = msg_new(data, len, NULL);
	dump_body_first(new, m);
	msg_free(m);
	t->messages++;
	/* Each message was parsed twice by the new path. */
	if (msg_stats.head_gmime > before.head_gmime)
		t->head_fallback++;
	else if (msg_stats.body_gmime > before.body_gmime)
		t->body_fallback++;
	/*
	 * Addresses are parsed when first asked for: their defects must be
	 * listed where they were when everything was parsed up front, as
	 * they are when the defects are asked for first.
	 */
	if (strcmp(last_defects(new->str, "defect: "), last_defects(new->str,
	    "defect (late): ")) != 0) {
		t->different++;
		printf("# %s: defects listed in another order when asked "
		    "for last\n", path);
	} else if (strcmp(old->str, new->str) == 0)
		t->identical++;
	else {
		t->different++;
		first_difference(path, old->str, new->str);
		if (getenv("DIFF_DUMP") != NULL) {
			g_file_set_contents("/tmp/diff.old", old->str, -1,
			    NULL);
			g_file_set_contents("/tmp/diff.new", new->str, -1,
			    NULL);
		}
	}
	g_string_free(old, TRUE);
	g_string_free(new, TRUE);
	g_free(data);
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t	 n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Every .eml of dir; the count, or 0 when dir is missing. */
static size_t
compare_dir(const char *dir, const char *label, struct tally *t)
{
	DIR		*d;
	struct dirent	*e;
	char		*path;
	size_t		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (!has_suffix(e->d_name, ".eml"))
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		compare_file(path, t);
		free(path);
		n++;
	}
	closedir(d);
	printf("# %s: %zu messages: %zu identical, %zu different; "
	    "left to GMime: %zu header blocks, %zu bodies\n", label,
	    t->messages, t->identical, t->different, t->head_fallback,
	    t->body_fallback);
	return n;
}

/*
 * Small messages with what comparing both paths under the fuzzer found
 * (each once made them differ): fields GMime parses as address lists and
 * those it does not, encoded words GMime warns about, a part's repeated
 * field after its Content-Type, a multipart where an attachment is
 * expected, more defects than are listed.
 */
static const char *const found[] = {
	"From: a@b.example\nResent-From: =?x?q?a$%&()<>;: TEST\n VALUE\n"
	"\nbody\n",
	"From: \"=?Windows-1252?B?Rl9(ybWHn428g?=\" <i@f.example>\n\nx\n",
	"From: a@b.example\nTo:. Mikel <m@t.example>\n\nx\n",
	"From: a@b.example\nCc: =?GbK?Q?=B4=F7?= <d@e.example>,\n"
	" =?GBK?Q?=D2Delivered-To: u@e.example_=CA?= <e@e.example>\n\nx\n",
	"Subject: s\nContent-Type: multipart/mixed; boundary=A\n\n--A\n"
	"X-A: 1\nContent-Type: text/plain\nX-A: 2\n\ntext\n--A--\n",
	"Subject: s\nContent-Type: multipart/signed; boundary=S\n\n--S\n"
	"\nsigned\n--S\nContent-Type: multipart/mixed; boundary=M\n\n"
	"--M\n\nsig\n--M--\n--S--\n",
	"Subject: s\nContent-Type: multipart/mixed; boundary=A\n\n--A\n"
	"Content-Type: Date: Mon, 1 Apr 2019\nX-B: 1\nX-B: 2\n\nx\n--A--\n",
};

/* Every byte string of found[] parsed both ways: the same. */
static void
test_found_same(void **state)
{
	struct tally	 t = { 0, 0, 0, 0, 0 };
	char		 path[] = "/tmp/facteur-msg-diff-XXXXXX";
	size_t		 i;
	int		 fd;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(found); i++) {
		if ((fd = mkstemp(path)) == -1)
			fail_msg("mkstemp");
		if (write(fd, found[i], strlen(found[i])) !=
		    (ssize_t)strlen(found[i]))
			fail_msg("write");
		close(fd);
		compare_file(path, &t);
		unlink(path);
		memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	}
	printf("# found: %zu messages: %zu identical, %zu different\n",
	    t.messages, t.identical, t.different);
	assert_int_equal(t.different, 0);
	assert_int_equal(t.messages, G_N_ELEMENTS(found));
}

/* More than MSG_MAX_DEFECTS, some found only when defects are asked. */
static void
test_many_defects_same(void **state)
{
	struct tally	 t = { 0, 0, 0, 0, 0 };
	char		 path[] = "/tmp/facteur-msg-diff-XXXXXX";
	GString		*s;
	int		 fd, i;

	(void)state;
	s = g_string_new("From: \"x\"\x1e<a@b.example>\n");
	for (i = 0; i < 80; i++)
		g_string_append_printf(s, "Bad line %d\nTo: x%d <@y>\n", i, i);
	g_string_append(s, "\nbody\n");
	if ((fd = mkstemp(path)) == -1)
		fail_msg("mkstemp");
	if (write(fd, s->str, s->len) != (ssize_t)s->len)
		fail_msg("write");
	close(fd);
	compare_file(path, &t);
	unlink(path);
	g_string_free(s, TRUE);
	assert_int_equal(t.different, 0);
}

static void
test_fixtures_same(void **state)
{
	struct tally	 t = { 0, 0, 0, 0, 0 };

	(void)state;
	assert_true(compare_dir(FIXTURES, "fixtures", &t) > 0);
	assert_int_equal(t.different, 0);
	/* The new path must be the one taken, not GMime everywhere. */
	assert_true(t.head_fallback + t.body_fallback < t.messages / 2);
}

static void
test_corpus_same(void **state)
{
	struct tally	 t = { 0, 0, 0, 0, 0 };
	const char	*dir = getenv("FACTEUR_CORPUS");

	(void)state;
	if (dir == NULL)
		dir = CORPUS;
	if (compare_dir(dir, "corpus", &t) == 0) {
		printf("# corpus: none in %s\n", dir);
		skip();
	}
	assert_int_equal(t.different, 0);
	assert_true(t.head_fallback + t.body_fallback < t.messages / 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found_same),
		cmocka_unit_test(test_many_defects_same),
		cmocka_unit_test(test_fixtures_same),
		cmocka_unit_test(test_corpus_same),
	};

	msg_library_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
