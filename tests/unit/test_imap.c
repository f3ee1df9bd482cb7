/* The IMAP response reader, fed canned server bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap.h"

static void
feed(struct imap_conn *c, const char *s, size_t len)
{
	imap_conn_init_buffer(c, s, len);
	strcpy(c->tagstr, "F1");
}

static void
done(struct imap_conn *c)
{
	buf_free(&c->in);
	free(c->label);
}

/* A literal whose content holds a line like our tagged reply. */
static void
test_literal_looks_tagged(void **state)
{
	static const char wire[] =
	    "* 1 FETCH (UID 7 FLAGS (\\Seen) BODY[] {30}\r\n"
	    "Subject: x\r\n\r\nF1 OK done\r\nxx\r\n)\r\n"
	    "F1 OK Fetch completed.\r\n";
	struct imap_conn	 c;
	struct imap_resp	 r;
	struct imap_tok		 t;
	char			*cause = NULL;
	uint32_t		 n;

	(void)state;
	feed(&c, wire, sizeof wire - 1);
	imap_resp_init(&r);
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_OK);
	assert_false(r.tagged);
	t = imap_next(&r);
	assert_true(imap_tok_is(&t, "*"));
	t = imap_next(&r);
	assert_int_equal(imap_tok_u32(&t, &n), 0);
	assert_int_equal(n, 1);
	t = imap_next(&r);
	assert_true(imap_tok_is(&t, "FETCH"));
	assert_int_equal(imap_next(&r).type, IMAP_TOK_OPEN);
	t = imap_next(&r);
	assert_true(imap_tok_is(&t, "UID"));
	imap_next(&r);
	t = imap_next(&r);
	assert_true(imap_tok_is(&t, "FLAGS"));
	assert_int_equal(imap_next(&r).type, IMAP_TOK_OPEN);
	t = imap_next(&r);
	assert_true(imap_tok_is(&t, "\\Seen"));
	assert_int_equal(imap_next(&r).type, IMAP_TOK_CLOSE);
	t = imap_next(&r);
	assert_true(imap_tok_is(&t, "BODY"));
	assert_int_equal(imap_next(&r).type, IMAP_TOK_BOPEN);
	assert_int_equal(imap_next(&r).type, IMAP_TOK_BCLOSE);
	t = imap_next(&r);
	assert_int_equal(t.type, IMAP_TOK_STRING);
	assert_int_equal(t.len, 30);
	assert_memory_equal(t.p, "Subject: x\r\n\r\nF1 OK done\r\nxx\r\n", 30);
	assert_int_equal(imap_next(&r).type, IMAP_TOK_CLOSE);
	assert_int_equal(imap_next(&r).type, IMAP_TOK_END);
	/* The real tagged reply comes next, and only then. */
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_OK);
	assert_true(r.tagged);
	imap_resp_free(&r);
	done(&c);
}

/* The connection ends in the middle of a literal. */
static void
test_cut_mid_literal(void **state)
{
	static const char wire[] = "* 1 FETCH (UID 7 BODY[] {100}\r\nonly part";
	struct imap_conn	 c;
	struct imap_resp	 r;
	char			*cause = NULL;

	(void)state;
	feed(&c, wire, sizeof wire - 1);
	imap_resp_init(&r);
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_TEMP);
	assert_non_null(cause);
	free(cause);
	imap_resp_free(&r);
	done(&c);
}

/* A literal over the cap is refused before any of it is buffered. */
static void
test_oversize_literal(void **state)
{
	static const char wire[] = "* 1 FETCH (BODY[] {99999999999}\r\nabc";
	struct imap_conn	 c;
	struct imap_resp	 r;
	char			*cause = NULL;

	(void)state;
	feed(&c, wire, sizeof wire - 1);
	c.max_literal = 1000;
	imap_resp_init(&r);
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_BAD);
	assert_non_null(strstr(cause, "over the limit"));
	free(cause);
	imap_resp_free(&r);
	done(&c);
}

/* Quoted strings keep their bytes; a bare LF ends a line too. */
static void
test_quoted_and_bare_lf(void **state)
{
	static const char wire[] = "* LIST () \"/\" \"a b\\\"c\"\n";
	struct imap_conn	 c;
	struct imap_resp	 r;
	struct imap_tok		 t;
	char			*cause = NULL;

	(void)state;
	feed(&c, wire, sizeof wire - 1);
	imap_resp_init(&r);
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_OK);
	imap_next(&r);
	imap_next(&r);
	assert_int_equal(imap_next(&r).type, IMAP_TOK_OPEN);
	assert_int_equal(imap_next(&r).type, IMAP_TOK_CLOSE);
	t = imap_next(&r);
	assert_int_equal(t.type, IMAP_TOK_STRING);
	assert_int_equal(t.len, 1);
	t = imap_next(&r);
	assert_int_equal(t.type, IMAP_TOK_STRING);
	/* Raw bytes between the quotes, escapes kept. */
	assert_int_equal(t.len, 6);
	assert_memory_equal(t.p, "a b\\\"c", 6);
	imap_resp_free(&r);
	done(&c);
}

static void
test_tok_u32(void **state)
{
	struct imap_tok	 t = { IMAP_TOK_ATOM, "4294967296", 10 };
	uint32_t	 v;

	(void)state;
	assert_int_equal(imap_tok_u32(&t, &v), -1);
	t.len = 9;
	assert_int_equal(imap_tok_u32(&t, &v), 0);
	assert_int_equal(v, 429496729);
	t.p = "12a";
	t.len = 3;
	assert_int_equal(imap_tok_u32(&t, &v), -1);
}

static void
test_quote(void **state)
{
	char	*q;

	(void)state;
	q = imap_quote("Orders/\"Done\"\\x\r\n");
	assert_string_equal(q, "\"Orders/\\\"Done\\\"\\\\x\"");
	free(q);
}

/* Modified UTF-7 (RFC 3501 5.1.3), the values worked out by hand: UTF-16BE
 * in base64 with ',' for '/', no padding, between '&' and '-'. */
static void
test_mailbox_arg(void **state)
{
	static const struct {
		const char	*in, *out;
	} v[] = {
		{ "INBOX", "\"INBOX\"" },
		{ "Re\xc3\xa7us", "\"Re&AOc-us\"" },		/* U+00E7 */
		{ "A&B", "\"A&-B\"" },
		{ "\xe6\x97\xa5\xe6\x9c\xac", "\"&ZeVnLA-\"" }, /* U+65E5 U+672C */
		{ "x\xf0\x9f\x98\x80", "\"x&2D3eAA-\"" },	/* U+1F600 */
		{ "\xc3\xa9/\xc3\xa9", "\"&AOk-/&AOk-\"" },
	};
	char	*q, *cause = NULL;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		q = imap_mailbox_arg(v[i].in, &cause);
		assert_non_null(q);
		assert_string_equal(q, v[i].out);
		free(q);
	}
	assert_null(imap_mailbox_arg("a\rb", &cause));
	assert_non_null(strstr(cause, "control"));
	free(cause);
	cause = NULL;
	assert_null(imap_mailbox_arg("\xc3(", &cause));
	assert_non_null(strstr(cause, "UTF-8"));
	free(cause);
}

/* Tokens up to the BODY[] string of a "* N FETCH (UID u BODY[] ...)". */
static struct imap_tok
body_token(struct imap_resp *r)
{
	struct imap_tok	 t;

	r->pos = 0;
	do
		t = imap_next(r);
	while (t.type != IMAP_TOK_BCLOSE && t.type != IMAP_TOK_END);
	return imap_next(r);
}

/*
 * A literal is kept apart from the protocol text, in a buffer of exactly
 * its size, and imap_resp_take() hands over that very buffer; after that
 * the token reads as an error rather than as freed bytes.
 */
static void
test_literal_taken(void **state)
{
	static const char wire[] =
	    "* 1 FETCH (UID 7 BODY[] {11}\r\nab\r\nF1 OK\r\n)\r\n"
	    "F1 OK done\r\n";
	struct imap_conn	 c;
	struct imap_resp	 r;
	struct imap_tok		 t;
	char			*cause = NULL, *p;
	size_t			 len = 0;

	(void)state;
	feed(&c, wire, sizeof wire - 1);
	imap_resp_init(&r);
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_OK);
	assert_false(r.tagged);
	/* The line holds the marker, not the bytes. */
	assert_string_equal(r.line.data, "* 1 FETCH (UID 7 BODY[] {11}\r\n)");
	assert_int_equal(r.nlits, 1);
	t = body_token(&r);
	assert_int_equal(t.type, IMAP_TOK_STRING);
	assert_int_equal(t.len, 11);
	assert_memory_equal(t.p, "ab\r\nF1 OK\r\n", 11);
	assert_int_equal(imap_next(&r).type, IMAP_TOK_CLOSE);
	assert_int_equal(imap_next(&r).type, IMAP_TOK_END);
	p = imap_resp_take(&r, &t, &len);
	assert_ptr_equal(p, t.p);
	assert_int_equal(len, 11);
	assert_int_equal(p[11], '\0');
	assert_int_equal(body_token(&r).type, IMAP_TOK_ERROR);
	free(p);
	/* The tagged reply follows, and only then. */
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_OK);
	assert_true(r.tagged);
	assert_int_equal(r.nlits, 0);
	imap_resp_free(&r);
	done(&c);
}

/* Two literals in one response, one of them empty, each found in place. */
static void
test_two_literals(void **state)
{
	static const char wire[] =
	    "* 2 FETCH (BODY[HEADER] {5}\r\nab{3} BODY[TEXT] {0}\r\n"
	    " BODY[] {3}\r\nxyz)\r\n";
	struct imap_conn	 c;
	struct imap_resp	 r;
	struct imap_tok		 t;
	char			*cause = NULL;
	const char		*want[] = { "ab{3}", "", "xyz" };
	size_t			 i = 0;

	(void)state;
	feed(&c, wire, sizeof wire - 1);
	imap_resp_init(&r);
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_OK);
	assert_int_equal(r.nlits, 3);
	while ((t = imap_next(&r)).type != IMAP_TOK_END) {
		assert_int_not_equal(t.type, IMAP_TOK_ERROR);
		if (t.type != IMAP_TOK_STRING)
			continue;
		assert_true(i < 3);
		assert_int_equal(t.len, strlen(want[i]));
		assert_memory_equal(t.p, want[i], t.len);
		i++;
	}
	assert_int_equal(i, 3);
	imap_resp_free(&r);
	done(&c);
}

/*
 * The connection ends after every possible prefix of a response with a
 * literal: a temporary failure each time, nothing read as whole, nothing
 * leaked (the sanitizers watch); the whole response reads right.
 */
static void
test_cut_everywhere(void **state)
{
	static const char wire[] =
	    "* 3 FETCH (UID 9 BODY[] {10}\r\n0123\r\n6789 FLAGS ())\r\n";
	struct imap_conn	 c;
	struct imap_resp	 r;
	struct imap_tok		 t;
	char			*cause;
	size_t			 cut;

	(void)state;
	for (cut = 0; cut < sizeof wire - 1; cut++) {
		feed(&c, wire, cut);
		imap_resp_init(&r);
		cause = NULL;
		assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_TEMP);
		assert_non_null(cause);
		free(cause);
		imap_resp_free(&r);
		done(&c);
	}
	feed(&c, wire, sizeof wire - 1);
	imap_resp_init(&r);
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_OK);
	t = body_token(&r);
	assert_int_equal(t.len, 10);
	assert_memory_equal(t.p, "0123\r\n6789", 10);
	imap_resp_free(&r);
	done(&c);
}

/* A marker the reader did not read as a literal is no string. */
static void
test_marker_not_literal(void **state)
{
	static const char wire[] = "* OK \"{3}\" x{3}\r\n";
	struct imap_conn	 c;
	struct imap_resp	 r;
	struct imap_tok		 t;
	char			*cause = NULL;

	(void)state;
	feed(&c, wire, sizeof wire - 1);
	imap_resp_init(&r);
	/* The line ends in {3}: a literal of 3 is expected, none comes. */
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_TEMP);
	free(cause);
	imap_resp_free(&r);
	done(&c);
	feed(&c, "* OK {3}x\r\n", 11);
	imap_resp_init(&r);
	assert_int_equal(imap_read_resp(&c, &r, &cause), IMAP_OK);
	imap_next(&r);
	imap_next(&r);
	t = imap_next(&r);
	assert_int_equal(t.type, IMAP_TOK_ERROR);
	imap_resp_free(&r);
	done(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_looks_tagged),
		cmocka_unit_test(test_cut_mid_literal),
		cmocka_unit_test(test_oversize_literal),
		cmocka_unit_test(test_quoted_and_bare_lf),
		cmocka_unit_test(test_tok_u32),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_mailbox_arg),
		cmocka_unit_test(test_literal_taken),
		cmocka_unit_test(test_two_literals),
		cmocka_unit_test(test_cut_everywhere),
		cmocka_unit_test(test_marker_not_literal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
