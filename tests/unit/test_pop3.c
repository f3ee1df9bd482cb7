/* The POP3 reply reader, fed canned server bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop3.h"

/* A transport that hands out the canned bytes step bytes at a time. */
struct feeder {
	const char	*p;
	size_t		 len;
	size_t		 pos;
	size_t		 step;
};

static int
feed_recv(struct pop3_conn *c, char *p, size_t cap, size_t *got,
    char **cause)
{
	struct feeder	*f = c->recv_arg;
	size_t		 n = f->len - f->pos;

	if (n == 0) {
		*cause = strdup("test: server closed the connection");
		return POP3_TEMP;
	}
	if (n > f->step)
		n = f->step;
	if (n > cap)
		n = cap;
	memcpy(p, f->p + f->pos, n);
	f->pos += n;
	*got = n;
	return 1;
}

static void
open_feed(struct pop3_conn *c, struct feeder *f, const char *wire,
    size_t len, size_t step, unsigned replies)
{
	pop3_conn_init_buffer(c, "", 0);
	f->p = wire;
	f->len = len;
	f->pos = 0;
	f->step = step;
	c->recv = feed_recv;
	c->recv_arg = f;
	c->unread = replies;
}

/* One RETR reply read whole: POP3_OK and the body in *out. */
static int
read_retr(const char *wire, size_t len, size_t step, size_t cap,
    struct buf *out, char **cause)
{
	struct pop3_conn	 c;
	struct feeder		 f;
	int			 rc;

	open_feed(&c, &f, wire, len, step, 1);
	buf_init(out, cap);
	rc = pop3_status(&c, true, NULL, cause);
	if (rc == POP3_OK)
		rc = pop3_multiline(&c, out, cause);
	pop3_conn_free(&c);
	return rc;
}

/*
 * Dot-stuffing undone as RFC 1939 3 says, worked out by hand: every line
 * that starts with "." loses that dot (".." alone becomes "."), the line
 * "." ends the body, and the CRLF before it belongs to the body. The
 * reply is fed in pieces of every size from 1 byte, so every CRLF and
 * every dot falls across two reads somewhere.
 */
static void
test_dot_unstuffing(void **state)
{
	static const char wire[] =
	    "+OK 41 octets\r\n"
	    "..first line dotted\r\n"
	    "plain\r\n"
	    "..\r\n"
	    "...two\r\n"
	    "a . in the middle\r\n"
	    ".\r\n"
	    "+OK next\r\n";
	static const char want[] =
	    ".first line dotted\r\n"
	    "plain\r\n"
	    ".\r\n"
	    "..two\r\n"
	    "a . in the middle\r\n";
	struct buf	 out;
	char		*cause = NULL;
	size_t		 step;

	(void)state;
	for (step = 1; step <= sizeof wire; step++) {
		assert_int_equal(read_retr(wire, sizeof wire - 1, step,
		    1 << 20, &out, &cause), POP3_OK);
		assert_int_equal(out.len, sizeof want - 1);
		assert_memory_equal(out.data, want, sizeof want - 1);
		buf_free(&out);
	}
}

/* An empty body; a body with bare LFs, whose end is ".\n". */
static void
test_empty_and_bare_lf(void **state)
{
	static const char empty[] = "+OK\r\n.\r\n";
	static const char bare[] = "+OK\nx\n..y\n.\n";
	struct buf	 out;
	char		*cause = NULL;

	(void)state;
	assert_int_equal(read_retr(empty, sizeof empty - 1, 64, 1 << 20, &out,
	    &cause), POP3_OK);
	assert_int_equal(out.len, 0);
	buf_free(&out);
	assert_int_equal(read_retr(bare, sizeof bare - 1, 3, 1 << 20, &out,
	    &cause), POP3_OK);
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.data, "x\n.y\n", 5);
	buf_free(&out);
}

/*
 * The server goes away at every point of a reply: a temporary failure
 * each time, never a short body taken as whole.
 */
static void
test_cut_everywhere(void **state)
{
	static const char wire[] = "+OK\r\nSubject: a\r\n\r\n..b\r\n.\r\n";
	struct buf	 out;
	char		*cause;
	size_t		 cut;

	(void)state;
	for (cut = 0; cut < sizeof wire - 1; cut++) {
		cause = NULL;
		assert_int_equal(read_retr(wire, cut, 7, 1 << 20, &out,
		    &cause), POP3_TEMP);
		assert_non_null(strstr(cause, "closed"));
		free(cause);
		buf_free(&out);
	}
	assert_int_equal(read_retr(wire, sizeof wire - 1, 7, 1 << 20, &out,
	    &cause), POP3_OK);
	assert_int_equal(out.len, 18);
	assert_memory_equal(out.data, "Subject: a\r\n\r\n.b\r\n", 18);
	buf_free(&out);
}

/* -ERR, a reply that is neither, a body over the cap. */
static void
test_errors(void **state)
{
	static const char err[] = "-ERR [IN-USE] mailbox locked\r\n";
	static const char odd[] = "* OK hello\r\n";
	static const char big[] = "+OK\r\n0123456789\r\n0123456789\r\n.\r\n";
	struct buf	 out;
	char		*cause = NULL;

	(void)state;
	assert_int_equal(read_retr(err, sizeof err - 1, 64, 1 << 20, &out,
	    &cause), POP3_ERR);
	assert_string_equal(cause, "test: server said -ERR [IN-USE] mailbox "
	    "locked");
	free(cause);
	buf_free(&out);
	cause = NULL;
	assert_int_equal(read_retr(odd, sizeof odd - 1, 64, 1 << 20, &out,
	    &cause), POP3_BAD);
	assert_non_null(strstr(cause, "unexpected reply: * OK hello"));
	free(cause);
	buf_free(&out);
	cause = NULL;
	assert_int_equal(read_retr(big, sizeof big - 1, 64, 20, &out,
	    &cause), POP3_BAD);
	assert_non_null(strstr(cause, "over the size cap"));
	free(cause);
	buf_free(&out);
}

/* Pipelined replies read in order: a RETR, a DELE, a RETR. */
static void
test_pipelined(void **state)
{
	static const char wire[] =
	    "+OK\r\none\r\n.\r\n"
	    "+OK deleted\r\n"
	    "+OK\r\n..\r\n.\r\n";
	struct pop3_conn	 c;
	struct feeder		 f;
	struct buf		 out;
	char			*cause = NULL, *text = NULL;

	(void)state;
	open_feed(&c, &f, wire, sizeof wire - 1, 5, 3);
	buf_init(&out, 1 << 20);
	assert_int_equal(pop3_status(&c, true, NULL, &cause), POP3_OK);
	assert_int_equal(pop3_multiline(&c, &out, &cause), POP3_OK);
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.data, "one\r\n", 5);
	assert_int_equal(pop3_status(&c, false, &text, &cause), POP3_OK);
	assert_string_equal(text, "deleted");
	free(text);
	buf_reset(&out);
	assert_int_equal(pop3_status(&c, true, NULL, &cause), POP3_OK);
	assert_int_equal(pop3_multiline(&c, &out, &cause), POP3_OK);
	/* A body of one line ".", which the server stuffs as "..". */
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.data, ".\r\n", 3);
	assert_int_equal(c.unread, 0);
	assert_false(c.in_body);
	buf_free(&out);
	pop3_conn_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dot_unstuffing),
		cmocka_unit_test(test_empty_and_bare_lf),
		cmocka_unit_test(test_cut_everywhere),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_pipelined),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
