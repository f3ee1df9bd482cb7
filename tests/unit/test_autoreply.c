/*
 * autoreply_refusal(): every class of message that must get no automatic
 * answer (RFC 3834, RFC 5230, DESIGN.md), the near misses that must, and
 * messages from tests/fixtures. Expected reasons were read off the
 * messages' headers by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "autoreply.h"
#include "conf.h"
#include "msg.h"
#include "xmalloc.h"

#define FIXTURES "tests/fixtures"

static char	 own0[] = "bot@example.test", own1[] = "desk@example.test";
static char	*own[] = { own0, own1 };
static char	 acct_name[] = "acct";

static const struct conf_account account = {
	.name = acct_name,
	.addresses = own,
	.naddresses = 2,
};

static const struct conf_account no_addresses = { .name = acct_name };

/* "Return-Path: <alice@...>", To: bot@, and the given extra lines. */
static const char *base =
    "From: Alice <alice@example.test>\r\n"
    "Subject: hello\r\n"
    "Message-ID: <1@example.test>\r\n";

/* The refusal for a message built from header lines and a short body. */
static char *
refusal(const char *headers, const struct conf_account *a)
{
	struct msg	*m;
	char		*text, *why;

	text = xasprintf("%s%s\r\nHello.\r\n", headers, base);
	m = msg_new(text, strlen(text), NULL);
	why = autoreply_refusal(m, a);
	msg_free(m);
	free(text);
	return why;
}

static void
assert_refused(const char *headers, const char *words)
{
	char	*why = refusal(headers, &account);

	if (why == NULL)
		fail_msg("not refused: %s", headers);
	if (strstr(why, words) == NULL)
		fail_msg("reason '%s' lacks '%s'", why, words);
	free(why);
}

static void
assert_allowed(const char *headers, const struct conf_account *a)
{
	char	*why = refusal(headers, a);

	if (why != NULL)
		fail_msg("refused (%s): %s", why, headers);
}

#define RP	"Return-Path: <alice@example.test>\r\n"
#define TO	"To: Bot <bot@example.test>\r\n"

static void
test_ordinary(void **st)
{
	(void)st;
	assert_allowed(RP TO, &account);
	assert_allowed(RP "To: x@example.test\r\nCc: DESK@Example.Test\r\n",
	    &account);
	assert_allowed(RP "To: x@example.test\r\nBcc: bot@example.test\r\n",
	    &account);
	assert_allowed(RP "To: x@example.test\r\n"
	    "Resent-To: bot@example.test\r\n", &account);
	assert_allowed(RP TO "Auto-Submitted: no\r\n", &account);
	assert_allowed(RP TO "Auto-Submitted: No (a person wrote it)\r\n",
	    &account);
	assert_allowed(RP TO "X-Auto-Response-Suppress: DR, RN\r\n", &account);
	assert_allowed(RP TO "Precedence: first-class\r\n", &account);
	/* Without configured addresses, To is not checked. */
	assert_allowed(RP "To: someone@else.test\r\n", &no_addresses);
}

static void
test_envelope(void **st)
{
	(void)st;
	assert_refused(TO, "no Return-Path");
	assert_refused("Return-Path: <>\r\n" TO, "Return-Path: <>");
	assert_refused("Return-Path: <MAILER-DAEMON@example.test>\r\n" TO,
	    "MAILER-DAEMON@example.test");
	assert_refused("Return-Path: <listserv@lists.example.test>\r\n" TO,
	    "listserv@lists.example.test");
	assert_refused("Return-Path: <Majordomo@example.test>\r\n" TO,
	    "Majordomo@example.test");
	assert_refused("Return-Path: <owner-dev@example.test>\r\n" TO,
	    "owner-dev@example.test is list software");
	assert_refused("Return-Path: <dev-request@example.test>\r\n" TO,
	    "dev-request@example.test is list software");
}

static void
test_auto_headers(void **st)
{
	(void)st;
	assert_refused(RP TO "Auto-Submitted: auto-generated\r\n",
	    "Auto-Submitted: auto-generated");
	assert_refused(RP TO "Auto-Submitted: auto-replied\r\n",
	    "Auto-Submitted: auto-replied");
	assert_refused(RP TO "Precedence: bulk\r\n", "Precedence: bulk");
	assert_refused(RP TO "Precedence: list\r\n", "Precedence: list");
	assert_refused(RP TO "Precedence: junk\r\n", "Precedence: junk");
	assert_refused(RP TO "Precedence: auto_reply\r\n",
	    "Precedence: auto_reply");
	assert_refused(RP TO "X-Auto-Response-Suppress: All\r\n",
	    "X-Auto-Response-Suppress: All");
	assert_refused(RP TO "X-Auto-Response-Suppress: DR, OOF\r\n",
	    "X-Auto-Response-Suppress: DR, OOF");
	assert_refused(RP TO "X-Autoreply: yes\r\n", "X-Autoreply");
	assert_refused(RP TO "Content-Type: multipart/report; "
	    "report-type=delivery-status; boundary=x\r\n", "delivery report");
}

static void
test_lists(void **st)
{
	(void)st;
	assert_refused(RP TO "List-Id: Dev <dev.example.test>\r\n",
	    "List-Id: dev.example.test");
	assert_refused(RP TO "List-Post: <mailto:dev@example.test>\r\n",
	    "mailing-list message");
	assert_refused(RP TO "List-Unsubscribe: <mailto:u@example.test>\r\n",
	    "mailing-list message");
	assert_refused(RP TO "List-Help: <mailto:h@example.test>\r\n",
	    "mailing-list message");
}

static void
test_own_and_addressed(void **st)
{
	(void)st;
	assert_refused("Return-Path: <BOT@example.test>\r\n" TO,
	    "BOT@example.test is the account's own address");
	assert_refused(RP "To: team@example.test\r\n",
	    "not addressed to the account");
	assert_refused(RP "To: bot@example.test.evil\r\n",
	    "not addressed to the account");
	assert_refused(RP "Delivered-To: bot@example.test\r\n"
	    "To: team@example.test\r\n", "not addressed to the account");
}

/* A fixture, with a Return-Path line put first when rp is not NULL. */
static char *
fixture_refusal(const char *name, const char *rp, const char *addr)
{
	struct conf_account	 a;
	struct msg		*m;
	char			*path, *data, *why, *addrs[1];
	static char		 name_[] = "fixture";
	FILE			*f;
	long			 size;
	size_t			 off = 0;

	path = xasprintf("%s/%s", FIXTURES, name);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	data = xmalloc((size_t)size + 256);
	if (rp != NULL)
		off = (size_t)snprintf(data, 256, "Return-Path: <%s>\r\n", rp);
	if (fread(data + off, 1, (size_t)size, f) != (size_t)size)
		fail_msg("cannot read %s", path);
	fclose(f);
	memset(&a, 0, sizeof a);
	addrs[0] = xstrdup(addr);
	a.name = name_;
	a.addresses = addrs;
	a.naddresses = 1;
	m = msg_new(data, off + (size_t)size, NULL);
	why = autoreply_refusal(m, &a);
	msg_free(m);
	free(addrs[0]);
	free(data);
	free(path);
	return why;
}

static void
assert_fixture(const char *name, const char *rp, const char *addr,
    const char *words)
{
	char	*why = fixture_refusal(name, rp, addr);

	if (words == NULL) {
		if (why != NULL)
			fail_msg("%s refused: %s", name, why);
		return;
	}
	if (why == NULL)
		fail_msg("%s not refused", name);
	if (strstr(why, words) == NULL)
		fail_msg("%s: reason '%s' lacks '%s'", name, why, words);
	free(why);
}

static void
test_fixtures(void **st)
{
	(void)st;
	/* A bounce: Return-Path <> and a multipart/report DSN. */
	assert_fixture("spamassassin_repo__t.rules__BOUNCE_MESSAGE__14.eml",
	    NULL, "ggggg@eire.com", "report-type=delivery-status");
	/* A challenge-response robot: X-Autorespond. */
	assert_fixture("spamassassin_repo__t.rules__BOUNCE_MESSAGE__10.eml",
	    NULL, "jm-wp-2008@jmason.org", "X-Autorespond");
	/* DSN with Precedence: junk too. */
	assert_fixture("mimekit__messages__delivery-status.txt.eml",
	    "postmaster@mm1.sprynet.com", "jwz@netscape.com",
	    "Precedence: junk");
	assert_fixture("flanker__disposition-notification.eml",
	    "Joe_Recipient@example.com", "Jane_Sender@example.org",
	    "report-type=disposition-notification");
	assert_fixture("postal_mime__arf.eml", "abusedesk@example.com",
	    "abuse@example.net", "report-type=feedback-report");
	/* A person's mail, answered. */
	assert_fixture("mail_gem__plain_emails__raw_email.eml",
	    "jamis@37signals.com", "willard15georgina@jamis.backpackit.com",
	    NULL);
	assert_fixture("flanker__iphone.eml", NULL, "example@example.com",
	    NULL);
	/* The same person's mail when the account is someone else. */
	assert_fixture("mail_gem__plain_emails__raw_email.eml",
	    "jamis@37signals.com", "other@example.test",
	    "not addressed to the account");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ordinary),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_auto_headers),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_own_and_addressed),
		cmocka_unit_test(test_fixtures),
	};
	int	 rc;

	msg_library_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	msg_library_shutdown();
	return rc;
}
