/*
 * HTML to text from the parser's events (msg_html_to_text()) against the
 * walk of libxml2's tree (msg_html_to_text_tree()): the same text and the
 * same truncation flag for every text/html part of every message of
 * tests/fixtures and of the shared corpus (../shared/corpus, or
 * $FACTEUR_CORPUS; skipped when absent), each as facteur hands it over
 * (decoded, in UTF-8) and as its raw decoded bytes, with the default cap and
 * with small caps; then for inputs written to hit what the event stream and
 * the tree do differently.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <gmime/gmime.h>

#include "msg.h"
#include "msg-html.h"
#include "msg-utf8.h"
#include "xmalloc.h"

#ifndef FIXTURES
#define FIXTURES "tests/fixtures"
#endif
#define CORPUS		"../shared/corpus"
#define DEFAULT_CAP	((size_t)4 << 20)

struct tally {
	size_t	 parts;		/* text/html parts */
	size_t	 runs;		/* comparisons, all caps and forms */
	size_t	 different;
};

static bool	 same(const char *, size_t, size_t, const char *);
static void	 compare_all_caps(const char *, size_t, const char *,
		    struct tally *);
static void	 part_cb(GMimeObject *, GMimeObject *, gpointer);
static void	 compare_message(const char *, struct tally *);
static size_t	 compare_dir(const char *, const char *, struct tally *);
static char	*repeat(const char *, int);

struct walk_ctx {
	const char	*path;
	struct tally	*t;
};

/* Both ways at one cap; reports a difference. */
static bool
same(const char *html, size_t len, size_t cap, const char *label)
{
	char	*a, *b;
	int	 ta = -1, tb = -1;
	bool	 ok;

	a = msg_html_to_text_tree(html, len, cap, &ta);
	b = msg_html_to_text(html, len, cap, &tb);
	ok = strcmp(a, b) == 0 && ta == tb;
	if (!ok) {
		printf("# %s (cap %zu) differs: truncated %d/%d\n#   tree:"
		    " %.200s\n#   sax:  %.200s\n", label, cap, ta, tb, a, b);
	}
	free(a);
	free(b);
	return ok;
}

/*
 * The default cap, then caps that cut the text at its start, in its
 * middle and near its end, where a multi-byte character may be cut.
 */
static void
compare_all_caps(const char *html, size_t len, const char *label,
    struct tally *t)
{
	char	*full;
	size_t	 n, caps[8], i;

	full = msg_html_to_text_tree(html, len, DEFAULT_CAP, NULL);
	n = strlen(full);
	free(full);
	caps[0] = DEFAULT_CAP;
	caps[1] = 1;
	caps[2] = 7;
	caps[3] = n / 2;
	caps[4] = n > 1 ? n - 1 : 0;
	caps[5] = n;
	caps[6] = n + 1;
	caps[7] = 0;
	for (i = 0; i < G_N_ELEMENTS(caps); i++) {
		t->runs++;
		if (!same(html, len, caps[i], label))
			t->different++;
	}
}

/* Each text/html part: its UTF-8 text, as facteur has it, and raw. */
static void
part_cb(GMimeObject *parent, GMimeObject *obj, gpointer data)
{
	struct walk_ctx		*w = data;
	GMimeContentType	*ct;
	GMimeDataWrapper	*dw;
	GMimeStream		*mem;
	GByteArray		*bytes;
	const char		*charset, *raw;
	char			*utf8, *label;
	size_t			 bad;

	(void)parent;
	if (!GMIME_IS_PART(obj))
		return;
	ct = g_mime_object_get_content_type(obj);
	if (!g_mime_content_type_is_type(ct, "text", "html"))
		return;
	if ((dw = g_mime_part_get_content(GMIME_PART(obj))) == NULL)
		return;
	mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(dw, mem);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	raw = bytes->len > 0 ? (const char *)bytes->data : "";
	charset = g_mime_content_type_get_parameter(ct, "charset");
	if (charset != NULL && g_ascii_strcasecmp(charset, "utf-8") != 0 &&
	    g_ascii_strcasecmp(charset, "us-ascii") != 0)
		utf8 = msg_utf8_convert(raw, bytes->len,
		    g_mime_charset_iconv_name(charset), &bad);
	else
		utf8 = NULL;
	if (utf8 == NULL)
		utf8 = msg_utf8_sanitize(raw, bytes->len);
	w->t->parts++;
	label = xasprintf("%s (utf-8)", w->path);
	compare_all_caps(utf8, strlen(utf8), label, w->t);
	free(label);
	label = xasprintf("%s (raw)", w->path);
	compare_all_caps(raw, bytes->len, label, w->t);
	free(label);
	free(utf8);
	g_object_unref(mem);
}

static void
compare_message(const char *path, struct tally *t)
{
	struct walk_ctx	 w = { path, t };
	GMimeStream	*fs;
	GMimeParser	*p;
	GMimeMessage	*m;

	if ((fs = g_mime_stream_file_open(path, "rb", NULL)) == NULL)
		fail_msg("cannot open %s", path);
	p = g_mime_parser_new_with_stream(fs);
	m = g_mime_parser_construct_message(p, NULL);
	if (m != NULL) {
		g_mime_message_foreach(m, part_cb, &w);
		g_object_unref(m);
	}
	g_object_unref(p);
	g_object_unref(fs);
}

/* Every .eml of dir; the number of messages, 0 when dir is missing. */
static size_t
compare_dir(const char *dir, const char *label, struct tally *t)
{
	DIR		*d;
	struct dirent	*e;
	char		*path;
	size_t		 n = 0, len;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (len < 4 || strcmp(e->d_name + len - 4, ".eml") != 0)
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		compare_message(path, t);
		free(path);
		n++;
	}
	closedir(d);
	printf("# %s: %zu messages, %zu text/html parts, %zu comparisons, "
	    "%zu different\n", label, n, t->parts, t->runs, t->different);
	return n;
}

static char *
repeat(const char *s, int n)
{
	GString	*g = g_string_new(NULL);

	while (n-- > 0)
		g_string_append(g, s);
	return g_string_free(g, FALSE);
}

static void
test_fixtures_same(void **state)
{
	struct tally	 t = { 0, 0, 0 };

	(void)state;
	assert_true(compare_dir(FIXTURES, "fixtures", &t) > 0);
	assert_true(t.parts > 0);
	assert_int_equal(t.different, 0);
}

static void
test_corpus_same(void **state)
{
	struct tally	 t = { 0, 0, 0 };
	const char	*dir = getenv("FACTEUR_CORPUS");

	(void)state;
	if (dir == NULL)
		dir = CORPUS;
	if (compare_dir(dir, "corpus", &t) == 0) {
		printf("# corpus: none in %s\n", dir);
		skip();
	}
	assert_true(t.parts > 0);
	assert_int_equal(t.different, 0);
}

/* Inputs that take the parser and the tree builder off the common path. */
static const char *const nasty[] = {
	"",
	" ",
	"plain text, no tag",
	"<p>unclosed <b>bold <i>italic",
	"</p></div></b>stray end tags<p>x</span></p>",
	"<pre>line 1\nline 2\r\n\n  indented\tTab</pre>after",
	"<pre><pre>nested\n</pre>\n</pre>\n",
	"a\xc2\xa0" "b&nbsp;c&#160;d &nbsp; e",
	"<script>if (a < b) { document.write('<p>x</p>'); }</script>after",
	"<style>p { color: red } </style><p>styled</p>",
	"<script>unterminated <p>script",
	"<html><body>in</body></html>after html <b>bold</b> more",
	"<html><body>in</body></html><!-- c --><p>after</p>",
	"<!DOCTYPE html><html><body>x</body></html>tail<p>tail p</p>",
	"<!-- first --><html><body>x</body></html>tail<p>tail p</p>",
	"<?pi x?><p>a</p></html><p>b</p>",
	"<p>x</p><!DOCTYPE html><p>after doctype</p></html><p>late</p>",
	"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"><body> <b>a</b>"
	    " <i>b</i> </body>",
	"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4//EN\"><html><body>\n"
	    "<span>a</span>\n<span>b</span>\n</body></html>",
	"<p>a<!-- c -->b<!-- d --> <!-- e -->c</p>",
	"<div><b>x</b> <i>y</i></div><div> <p> z </p> </div>",
	"<table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>",
	"<ul><li>one<li>two<ol><li>three</ol></ul>",
	"a<br>b<br/><br>c<br><br><br>d",
	"<![CDATA[cdata text]]><p>x</p>",
	"&amp; &lt; &gt; &quot; &#65; &#x42; &unknown; &#0; &#xD800; &amp",
	"<p title='<b>'>attr</p><img alt=x src=y>img",
	"<o:p>office</o:p><v:shape>shape</v:shape><:x>y</:x><a:>z</a:>",
	"<h1>title</h1>text<h2>sub</h2><hr>rule<address>addr</address>",
	"<title>the title</title><head><meta charset=x></head>body text",
	"<template><p>hidden</p></template>shown",
	"<div<p>broken start</div>",
	"<b",
	"<html",
	"<p>x<b",
	"<p>text<",
	"text < 3 and > 2",
	"<p>a</p>\0<p>after NUL</p>",
	"<p>a\0b</p>c",
	"\xff\xfe<p>bad bytes \xc3\x28 \xe2\x82 \xf0\x9f\x98</p>\x80",
	"\xef\xbb\xbf<p>BOM</p>",
	"<p>\xc2</p>\xa0<p>split</p>",
	"<textarea>a <b>b</b></textarea><select><option>o1<option>o2"
	    "</select>",
	"<frameset><frame src=x></frameset><noframes>nf</noframes>",
	"<body><body>two bodies</body></body><head>late head</head>",
	"<table><td>cell<table><td>inner</td></table></td></table>",
	"<p>a<div>b</div>c</p>d",
	"<dl><dt>term<dd>def</dl><center>c</center>",
	"<a href=x>link</a><span>s</span> <em>e</em>\n<strong>st</strong>",
	"<!--unterminated comment <p>x</p>",
	"<!-- -- --><!----><!---->x<!-->y",
	"<?xml version=\"1.0\"?><p>xml decl</p>",
	"<p>\t\f\r\n  blanks \t\f\r\n</p>",
	"<html><head><title>t</title></head><body>\n\n<p>a</p>\n\n</body>"
	    "</html>\n\n",
	"<body>x</body>\n<p>after body</p>",
	"<head></head>text <script>s</script> after",
	"<DIV>A<BR>B</DIV><PRE>x\ny</PRE><TABLE><TR><TD>c<TH>d</TABLE>"
	    "<Li>e<sCrIpT>f</ScRiPt>",
	"<figcaption>f</figcaption><figcaptionx>g</figcaptionx>"
	    "<averyveryverylongname>h</averyveryverylongname>i",
	"<x:pre>a\n b</x:pre><y:td>c</y:td><z:br>d<svg:title>t</svg:title>"
	    "<m:li>e",
};

static void
test_nasty_same(void **state)
{
	struct tally	 t = { 0, 0, 0 };
	size_t		 i;
	char		*label;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(nasty); i++) {
		label = xasprintf("nasty[%zu]", i);
		compare_all_caps(nasty[i], strlen(nasty[i]), label, &t);
		free(label);
	}
	/* With the NUL bytes they hold. */
	compare_all_caps("<p>a</p>\0<p>after NUL</p>", 25, "nul 1", &t);
	compare_all_caps("<p>a\0b</p>c", 11, "nul 2", &t);
	compare_all_caps("\0\0<b>x</b>", 10, "nul 3", &t);
	/* A NULL buffer, as htmlReadMemory() takes it. */
	t.runs++;
	if (!same(NULL, 0, 100, "NULL"))
		t.different++;
	printf("# nasty: %zu comparisons, %zu different\n", t.runs,
	    t.different);
	assert_int_equal(t.different, 0);
}

/* Deeper than the tree builder's limit (256), with text at every level. */
static void
test_deep_same(void **state)
{
	struct tally	 t = { 0, 0, 0 };
	static const char *const opens[] = { "<div>", "<b>x", "<span> ",
	    "<p>a", "<pre>\n", "<td>c", "<li>", "<script>" };
	static const int depths[] = { 250, 255, 256, 257, 258, 300, 1000 };
	size_t		 i, j;
	char		*open, *doc, *label;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(opens); i++) {
		for (j = 0; j < G_N_ELEMENTS(depths); j++) {
			open = repeat(opens[i], depths[j]);
			doc = xasprintf("<html><body>%s end</body></html>"
			    "after<p>p</p>", open);
			label = xasprintf("deep %s x %d", opens[i],
			    depths[j]);
			compare_all_caps(doc, strlen(doc), label, &t);
			free(label);
			free(doc);
			free(open);
		}
	}
	/* Deep, then closed, then more: the parser has stopped. */
	open = repeat("<div>a", 300);
	doc = xasprintf("%s%s<p>tail</p>", open, "</div>");
	compare_all_caps(doc, strlen(doc), "deep then closed", &t);
	free(doc);
	free(open);
	/* Start tags without their '>' at the limit. */
	open = repeat("<i>t", 256);
	doc = xasprintf("%s<b", open);
	compare_all_caps(doc, strlen(doc), "deep, last tag cut", &t);
	free(doc);
	free(open);
	printf("# deep: %zu comparisons, %zu different\n", t.runs,
	    t.different);
	assert_int_equal(t.different, 0);
}

/* Long text nodes: blanks, no-break spaces, and the builder's 10 MB cap. */
static void
test_long_same(void **state)
{
	struct tally	 t = { 0, 0, 0 };
	char		*a, *doc;

	(void)state;
	a = repeat("word \xc2\xa0&nbsp;<!-- c -->", 5000);
	doc = xasprintf("<p>%s</p>", a);
	compare_all_caps(doc, strlen(doc), "long mixed", &t);
	free(doc);
	free(a);
	/* One text node over 10,000,000 bytes: the builder stops there. */
	a = repeat("          ", 1000 * 1000 + 10);
	doc = xasprintf("<p>x%sy</p><p>after</p>", a);
	t.runs++;
	if (!same(doc, strlen(doc), DEFAULT_CAP, "huge text node"))
		t.different++;
	free(doc);
	doc = xasprintf("<script>%s</script><p>after</p>", a);
	t.runs++;
	if (!same(doc, strlen(doc), DEFAULT_CAP, "huge script"))
		t.different++;
	free(doc);
	free(a);
	/* Two nodes of 6 MB, a comment between: under the limit each. */
	a = repeat("      ", 1000 * 1000);
	doc = xasprintf("<p>x%s<!-- c -->%sy</p><p>after</p>", a, a);
	t.runs++;
	if (!same(doc, strlen(doc), DEFAULT_CAP, "two large nodes"))
		t.different++;
	free(doc);
	doc = xasprintf("<p>x%s<?pi x>%sy</p><p>after</p>", a, a);
	t.runs++;
	if (!same(doc, strlen(doc), DEFAULT_CAP, "two large nodes, PI"))
		t.different++;
	free(doc);
	free(a);
	printf("# long: %zu comparisons, %zu different\n", t.runs,
	    t.different);
	assert_int_equal(t.different, 0);
}

/* What the text is, worked out by hand: the walk's rules still hold. */
static void
test_text_by_hand(void **state)
{
	const char	*html;
	char		*s;
	int		 cut = -1;

	(void)state;
	html = "<p>Hello <b>big</b>\n  world</p><ul><li>one<li>two</ul>x<br>"
	    "y<table><tr><td>a</td><td>b</td></tr></table><script>no"
	    "</script><pre>p  q\nr</pre>";
	s = msg_html_to_text(html, strlen(html), 1000, &cut);
	assert_string_equal(s, "Hello big world\n\n- one\n- two\n\nx\ny\n\n"
	    "a b\n\np  q\nr\n\n");
	assert_int_equal(cut, 0);
	free(s);
	/* Cut on a character boundary: "é" is two bytes. */
	s = msg_html_to_text("<p>ab\xc3\xa9</p>", 11, 3, &cut);
	assert_string_equal(s, "ab");
	assert_int_equal(cut, 1);
	free(s);
	s = msg_html_to_text("", 0, 10, &cut);
	assert_string_equal(s, "");
	assert_int_equal(cut, 0);
	free(s);
	s = msg_html_to_text("<html><body>in</body></html>out", 31, 100,
	    &cut);
	assert_string_equal(s, "in\n\nout\n\n");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_by_hand),
		cmocka_unit_test(test_nasty_same),
		cmocka_unit_test(test_deep_same),
		cmocka_unit_test(test_long_same),
		cmocka_unit_test(test_fixtures_same),
		cmocka_unit_test(test_corpus_same),
	};

	msg_library_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
