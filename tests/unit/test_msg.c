/*
 * The message module against messages from tests/fixtures (copies of corpus
 * messages; see tests/fixtures/README). Every expected value was read off
 * the raw file (and, for base64/QP bodies in legacy charsets, decoded with
 * Python's own base64/quopri/codecs), not copied from facteur's output.
 * Synthetic messages check the limits and the malformed cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "msg.h"
#include "msg-private.h"
#include "xmalloc.h"

#ifndef FIXTURES
#define FIXTURES "tests/fixtures"
#endif

struct expect {
	const char	*file;
	const char	*subject;	/* exact; NULL: not checked */
	const char	*from_name;	/* first From, exact; NULL: no From */
	const char	*from_addr;
	const char	*text;		/* substring of the text; NULL: empty */
};

/* Subject, first From and a piece of the text, per charset and encoding. */
static const struct expect cases[] = {
	/* big5, base64 HTML-only, Precedence: bulk list mail */
	{ "spamassassin_repo__t__data__nice__cjk__big5-base64.1.eml", NULL,
	  "", "y971880896@pchome.com.tw", "gimit.cn.st" },
	/* cp1251, 7bit label but 8-bit body */
	{ "django_mailbox__message_with_single_byte_encoding.eml", "Tjest",
	  "Somebody", "somebody@somewhere.com",
	  "Это сообщение имеет неправильную кодировка." },
	/* euc-jp base64 body, RFC 2047 B words in euc-jp and UTF-8 */
	{ "letters__test_japanese_plaintext_euc-jp_over_base64.txt.eml",
	  "📧 Test いろは歌", "郵便アリス", "alice.yuubin@example.com",
	  "色は匂えど\n散りぬるを\n我が世誰ぞ" },
	/* euc-kr base64 body, Q-encoded euc-kr subject, mbox From_ line */
	{ "mail_gem__plain_emails__raw_email.eml", "NOTE: 한국말로 하는 것",
	  "Jamis Buck", "jamis@37signals.com",
	  "대부분의 마찬가지로, 우리는 하나님을 믿습니다." },
	/* unknown charset "fakescii" on an ASCII part */
	{ "enmime__testdata__low-quality__unk-charset-part.raw.eml",
	  "Attachment", "James Hillyerd", "james@makita.skynet",
	  "A text section" },
	/* gb18030 base64 */
	{ "letters__test_chinese_plaintext_gb18030_over_base64.txt.eml",
	  "📧 Test 施氏食狮史", "艾莉絲 发件人", "alice.fajianren@example.com",
	  "石室诗士施氏，嗜狮，誓食十狮。" },
	/* gb2312 DSN (Exchange, Japanese text labelled gb2312) */
	{ "php_mime_mail_parser__failure.eml", "", "", "foo@bar.de",
	  "次の受信者またはグループへの配信に失敗しました" },
	/* gbk quoted-printable */
	{ "letters__test_chinese_plaintext_gbk_over_quoted-printable.txt.eml",
	  "📧 Test 施氏食狮史", "艾莉絲 发件人", "alice.fajianren@example.com",
	  "氏时时适市视狮。" },
	/* charset "invalid-charset" */
	{ "zbateson__invalid-charset.txt.eml", "Test invalid charset",
	  "Doug Sauder", "doug@example.com", "The Hare and the Tortoise" },
	/* iso-2022-jp subject and body */
	{ "mail_gem__multi_charset__japanese_iso_2022.eml", "まみむめも",
	  "Mikel Lindsaar", "raasdnil@gmail.com", "すみません。" },
	/* iso-8859-1 QP; From without angle brackets GMime cannot parse */
	{ "mail_gem__plain_emails__mix_caps_content_type.eml",
	  "undef method parameter bug", "Big Bug", "bb@bug.com", "foo bar" },
	/* iso-8859-11 base64 */
	{ "letters__test_thai_plaintext_iso-8859-11_over_base64.txt.eml",
	  "📧 Test แพนแกรมภาษาไทย", "อลิซ ผู้ส่งจดหมาย",
	  "alis.phusngcdhmay@example.com", "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า" },
	/* iso-8859-15 quoted-printable with =A4 (euro) */
	{ "mime4j__testmsgs__qp-body.msg.eml", "subject", NULL, NULL,
	  "7bit content with euro € symbol" },
	/* iso-8859-2 quoted-printable, QP-encoded display name */
	{ "letters__test_polish_plaintext_iso-8859-2_over_quoted-printable.txt.eml",
	  "📧 Test Polskie pangramy", "Nadająca, Alicja",
	  "alicja.nadajaca@example.com",
	  "Jeżu klątw, spłódź Finom część gry hańb!" },
	/* iso-2022-jp / iso-8859-4 / shift_jis parts, text attachments */
	{ "spamassassin_repo__t__data__nice__cjk__iso-2022-jp.1.eml",
	  "MIME text/plain attach with Shift_JIS (CP932)", "Shinichiro HIDA",
	  "shinichiro@stained-g.net", "Now, I try to test MHonArc" },
	/* iso-8859-8-i subject (Hebrew), empty text, one attachment */
	{ "php_mime_mail_parser__issue149.eml",
	  "מענה 'אני לא נמצא': Invoice 02722027", "Name", "name@company.com",
	  NULL },
	/* koi8-r RFC 2231 file name, no From */
	{ "mime4j__testmsgs__russian-headers.msg.eml", "A simple subject",
	  NULL, NULL, NULL },
	/* ks_c_5601-1987 */
	{ "mail_gem__multi_charset__ks_c_5601-1987.eml", "test", "",
	  "from@example.com", "스티해" },
	/* truncated RFC 2047 subject in a 37-byte message */
	{ "mail_gem__error_emails__bad_encoded_subject.eml", "TEST", NULL,
	  NULL, "TEST" },
	/* shift_jis */
	{ "mail_gem__multi_charset__japanese_shift_jis.eml", "test", "",
	  "xxxxxxx@docomo.ne.jp", "このメールはテスト用のメールです。" },
	/* tis-620 base64, tis-620 display name */
	{ "letters__test_thai_plaintext_tis-620_over_base64.txt.eml",
	  "📧 Test แพนแกรมภาษาไทย", "อลิซ ผู้ส่งจดหมาย",
	  "alis.phusngcdhmay@example.com", "กว่าบรรดาฝูงสัตว์เดรัจฉาน" },
	/* unicode-1-1-utf-7 part in a DSN */
	{ "spamassassin_repo__t.rules__BOUNCE_MESSAGE__14.eml",
	  "Delivery Status Notification (Failure)", "",
	  "postmaster@cris.unu.edu",
	  "This is an automatically generated Delivery Status Notification." },
	/* UTF-16 encoded word in From, subject folded with "\t " */
	{ "spamassassin_repo__t__data__nice__unicode2.eml",
	  "【重要訊息】台電105年3月電費，委託金融機構扣繳成功電子繳費憑證"
	  "(電號07487616730)", NULL, NULL, "test" },
	/* utf-16be, utf-16le, euc-jp parts */
	{ "stalwart_dovecot__thirdparty__005.eml", "", NULL, NULL,
	  "『世界人権宣言』" },
	/* windows-1250 + iso-2022-jp, an auto-reply */
	{ "php_mime_mail_parser__issue212.eml",
	  "Automatyczna odpowiedź: Piotrze, test z 6 miesięcy nauki ciągle "
	  "na Ciebie czeka", NULL, NULL, "toto" },
	/* windows-1251 */
	{ "rspamd__set_replyto_1_2_first.eml", "06.07.2015", "",
	  "xxxx@emailbl.com", "test" },
	/* raw 8-bit windows-1252 in Subject and From */
	{ "mail_gem__error_emails__invalid_subject_characters.eml",
	  "Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de "
	  "Setembro", "Formação Frenetikpolis", "info@formacaofrenetik.info",
	  "TEST" },
	/* windows-874 base64 */
	{ "letters__test_thai_plaintext_windows-874_over_base64.txt.eml",
	  "📧 Test แพนแกรมภาษาไทย", "อลิซ ผู้ส่งจดหมาย",
	  "alis.phusngcdhmay@example.com", "จงฝ่าฟันพัฒน" },
	/* charset x-invalid, no headers but Content-Type */
	{ "letters__test_english_plaintext_unknown_charset.txt.eml", "", NULL,
	  NULL, "body" },
	/* x-mac-cyrillic */
	{ "php_mime_mail_parser__issue230.eml",
	  "Scientific conferences, Bulgaria 2019",
	  "Science and Education Foundation, Bulgaria", "science@news-s.info",
	  "ACADEMIC NEWSLETTER #11" },
	/* X-UNKNOWN charset */
	{ "mail_gem__plain_emails__raw_email10.eml", "", "", "xxx@xxxx.xxx",
	  "Test test. Hi. Waving." },
	/* unterminated quote in the charset parameter */
	{ "enmime__testdata__parts__missing-closing-param-quote.raw.eml", "",
	  NULL, NULL, NULL },
	/* ARF abuse report */
	{ "postal_mime__arf.eml", "FW: Earn money", "",
	  "abusedesk@example.com", "This is an email abuse report" },
	/* MDN */
	{ "flanker__disposition-notification.eml", "Disposition notification",
	  "Joe Recipient", "Joe_Recipient@example.com",
	  "The message sent on 1995 Sep 19" },
	/* DSN without a human-readable part */
	{ "mimekit__messages__delivery-status.txt.eml", "email delivery error",
	  "The Post Office", "postmaster@mm1.sprynet.com", NULL },
	/* List-Id, empty In-Reply-To */
	{ "mail_gem__error_emails__empty_in_reply_to.eml",
	  "illegal copy of our patient education software", "Andrey Kuznetsov",
	  "ak@g.com", NULL },
	/* HTML with &nbsp; (order-like) */
	{ "talon__reply-quotations-share-block.eml",
	  "Re: You've got a new booking inquiry!", "Joe Doe", "xxx@example.com",
	  "Sounds great." },
	/* multipart/signed (PGP) */
	{ "mail_gem__mime_emails__sig_only_email.eml",
	  "Re: Testing multipart/signed", "Test", "test@test.lindsaar.net",
	  "This is random text, not what has been signed below" },
	/* multipart/signed with an odd signature type */
	{ "stalwart_dovecot__thirdparty__006.eml", "Hide and seek", NULL, NULL,
	  "Search me, and Find me here" },
	/* TNEF (winmail.dat), koi8-r */
	{ "mimekit__tnef__ukr.eml", "rr test 7", "RR Tester 1",
	  "rrtest1@xink.io", "шостий" },
	/* x-uuencode attachment (empty) */
	{ "mail_gem__error_emails__content_transfer_encoding_x_uuencode.eml",
	  "PGP Comments on RTO West Release of Dec. 14", "Lon L. Peters",
	  "lpeters@PACIFIER.COM",
	  "Attached are the comments of the Public Generating Pool." },
	/* vacation-like spam */
	{ "spamassassin_repo__t__data__spam__007.eml",
	  "4000           Your Vacation Winning !             35001",
	  "Whitelist Spam Testing",
	  "whitelist_test@whitelist.spamassassin.taint.org",
	  "You have been specially selected" },
	/* challenge-response auto-reply (X-Autoreply) */
	{ "spamassassin_repo__t.rules__BOUNCE_MESSAGE__10.eml",
	  "Your email requires verification "
	  "verify#WS3cV2x3OKT7bzTMlJwEIxo6uChp3ByV", "",
	  "e450@durga.webserversystems.com",
	  "The message you sent requires that you verify" },
	/* message/rfc822 attachment */
	{ "mail_gem__attachment_emails__attachment_message_rfc822.eml",
	  "testing", "", "foo@example.com", "This is the first part." },
	/* alternative: calendar + HTML */
	{ "rspamd__alt-html-calendar.eml",
	  "Calendar invite with HTML alternative", "TEST", "test@test.com",
	  "You are invited to a meeting." },
	/* RFC 2231 file name in iso-2022-jp with a stray 8-bit byte */
	{ "mail_gem__attachment_emails__attachment_with_encoded_name.eml",
	  "Fwd: Signed email causes file attachments", "xxxxxxxxx xxxxxxx",
	  "xxxxxxxxx.xxxxxxx@gmail.com",
	  "We should not include these files or vcards as attachments." },
	/* RFC 2047 file name, image only */
	{ "mail_gem__attachment_emails__attachment_with_quoted_filename.eml",
	  "Eelanalüüsi päring", "Jeffrey Hardy", "jeff@37signals.com", NULL },
	/* not a message at all */
	{ "enmime__testdata__mail__erroneous.raw.eml", "", NULL, NULL, NULL },
	/* multipart/alternative without a boundary parameter */
	{ "mime4j__testmsgs__missing-boundary.msg.eml", "", NULL, NULL, NULL },
	/* a blank line of 255 spaces before the headers */
	{ "flanker__iphone.eml", "Subject", "Danielle", "someone@somewhere.com",
	  "Hello" },
	/* nested multipart with broken boundaries */
	{ "stalwart_dovecot__malformed__003.eml", "", NULL, NULL, "body" },
	/* missing final boundary */
	{ "flanker__missing-final-boundary.eml", "Test", "", "me@example.com",
	  "Some body" },
	/* DSN whose status part has no blank line after its headers */
	{ "mimekit__messages__delivery-status-no-blank-line.txt.eml",
	  "email delivery error", "The Post Office",
	  "postmaster@mm1.sprynet.com", NULL },
	/* HTML-only one-liner: entities and a link */
	{ "rspamd__url7.eml", "", NULL, NULL, "hello hello" },
};

static char	*slurp(const char *, size_t *);
static struct msg *load(const char *);

static char *
slurp(const char *name, size_t *len)
{
	char		 path[1024];
	FILE		*f;
	struct buf	 b;
	char		 chunk[8192];
	size_t		 n;

	snprintf(path, sizeof path, "%s/%s", FIXTURES, name);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s", path);
	buf_init(&b, 64 * 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		assert_int_equal(buf_add(&b, chunk, n), 0);
	fclose(f);
	return buf_steal(&b, len);
}

static struct msg *
load(const char *name)
{
	struct msg	*m;
	char		*data;
	size_t		 len;

	data = slurp(name, &len);
	m = msg_new(data, len, NULL);
	free(data);
	return m;
}

static void
test_cases(void **state)
{
	const struct msg_addr	*a;
	struct msg		*m;
	const char		*text;
	size_t			 i, n;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		print_message("# %s\n", cases[i].file);
		m = load(cases[i].file);
		if (cases[i].subject != NULL)
			assert_string_equal(msg_subject(m), cases[i].subject);
		n = msg_addrs(m, MSG_FROM, &a);
		if (cases[i].from_addr == NULL)
			assert_int_equal(n, 0);
		else {
			assert_true(n >= 1);
			assert_string_equal(a[0].name, cases[i].from_name);
			assert_string_equal(a[0].address, cases[i].from_addr);
		}
		text = msg_text(m);
		if (cases[i].text == NULL)
			assert_string_equal(text, "");
		else if (strstr(text, cases[i].text) == NULL)
			fail_msg("%s: text lacks \"%s\"", cases[i].file,
			    cases[i].text);
		msg_free(m);
	}
}

/* Every address field that the euc-jp file fills, groups of two. */
static void
test_address_fields(void **state)
{
	const struct msg_addr	*a;
	struct msg		*m;

	(void)state;
	m = load("letters__test_japanese_plaintext_euc-jp_over_base64.txt.eml");
	assert_int_equal(msg_addrs(m, MSG_FROM, &a), 2);
	assert_string_equal(a[1].address, "alice.yuubin@example.net");
	assert_int_equal(msg_addrs(m, MSG_SENDER, &a), 1);
	assert_int_equal(msg_addrs(m, MSG_REPLY_TO, &a), 1);
	assert_string_equal(a[0].address, "alice.yuubin@example.net");
	assert_int_equal(msg_addrs(m, MSG_TO, &a), 2);
	assert_string_equal(a[0].name, "郵便ボブ");
	assert_string_equal(a[1].address, "carol.yuubin@example.com");
	assert_int_equal(msg_addrs(m, MSG_CC, &a), 2);
	assert_string_equal(a[1].address, "eve.yubin@example.com");
	assert_int_equal(msg_addrs(m, MSG_BCC, &a), 2);
	assert_int_equal(msg_addrs(m, MSG_RESENT_FROM, &a), 2);
	assert_int_equal(msg_addrs(m, MSG_RESENT_TO, &a), 2);
	assert_string_equal(a[0].address, "bob.yuubin@example.net");
	assert_int_equal(msg_addrs(m, MSG_RESENT_CC, &a), 2);
	assert_int_equal(msg_addrs(m, MSG_RESENT_BCC, &a), 2);
	assert_string_equal(msg_message_id(m), "Message-Id-1@example.com");
	assert_string_equal(msg_in_reply_to(m), "Message-Id-0@example.com");
	assert_string_equal(msg_references(m), "<Message-Id-0@example.com>");
	/* Mon, 01 Apr 2019 07:55:00 +0900 */
	assert_int_equal((long long)msg_date_time(m), 1554072900LL);
	msg_free(m);
}

static void
test_auto_and_list(void **state)
{
	struct msg	*m;
	const char	*why;

	(void)state;
	m = load("mimekit__messages__delivery-status.txt.eml");
	assert_true(msg_is_auto(m, &why));
	assert_non_null(why);
	msg_free(m);
	m = load("flanker__disposition-notification.eml");
	assert_true(msg_is_auto(m, &why));
	assert_non_null(strstr(why, "disposition-notification"));
	msg_free(m);
	m = load("spamassassin_repo__t.rules__BOUNCE_MESSAGE__10.eml");
	assert_true(msg_is_auto(m, NULL));
	msg_free(m);
	m = load("mail_gem__error_emails__empty_in_reply_to.eml");
	assert_true(msg_is_list(m));
	assert_string_equal(msg_list_id(m), "abuser@rg.com Mailing List");
	msg_free(m);
	m = load("spamassassin_repo__t__data__nice__cjk__big5-base64.1.eml");
	assert_true(msg_is_list(m));
	assert_string_equal(msg_list_id(m), "slat-talk.softwareliberty.org");
	assert_true(msg_is_auto(m, &why));
	assert_string_equal(why, "Precedence: bulk");
	msg_free(m);
	m = load("django_mailbox__message_with_single_byte_encoding.eml");
	assert_false(msg_is_auto(m, &why));
	assert_null(why);
	assert_false(msg_is_list(m));
	assert_null(msg_list_id(m));
	msg_free(m);
}

static void
test_attachments(void **state)
{
	const struct msg_attachment	*a;
	struct msg			*m;

	(void)state;
	m = load("mail_gem__attachment_emails__attachment_with_quoted_filename.eml");
	assert_int_equal(msg_attachments(m, &a), 1);
	assert_string_equal(a[0].filename, "Eelanalüüsi päring.jpg");
	assert_string_equal(a[0].content_type, "image/jpeg");
	msg_free(m);
	m = load("mime4j__testmsgs__russian-headers.msg.eml");
	assert_int_equal(msg_attachments(m, &a), 1);
	assert_string_equal(a[0].filename, "Список.doc");
	msg_free(m);
	m = load("mail_gem__attachment_emails__attachment_message_rfc822.eml");
	assert_true(msg_attachments(m, &a) >= 1);
	assert_string_equal(a[0].filename, "ForwardedMessage.eml");
	assert_string_equal(a[0].content_type, "message/rfc822");
	msg_free(m);
	m = load("mail_gem__mime_emails__sig_only_email.eml");
	assert_int_equal(msg_attachments(m, &a), 1);
	assert_string_equal(a[0].content_type, "application/pgp-signature");
	assert_true(a[0].is_signed);
	msg_free(m);
	m = load("enmime__testdata__low-quality__unk-charset-part.raw.eml");
	assert_int_equal(msg_attachments(m, &a), 1);
	assert_string_equal(a[0].filename, "foo_9E5D72.zip");
	assert_string_equal(a[0].content_type, "application/x-zip-compressed");
	assert_int_equal(a[0].size, 7);		/* "<html>\n" */
	msg_free(m);
	m = load("mimekit__tnef__ukr.eml");
	assert_int_equal(msg_attachments(m, &a), 1);
	assert_string_equal(a[0].filename, "winmail.dat");
	assert_string_equal(a[0].content_type, "application/ms-tnef");
	msg_free(m);
}

static void
test_headers(void **state)
{
	const struct msg_header	*h;
	struct msg		*m;
	size_t			 n;

	(void)state;
	m = load("mail_gem__plain_emails__raw_email.eml");
	n = msg_headers(m, &h);
	assert_int_equal(n, 8);	/* the From_ line is not a header */
	assert_string_equal(h[0].name, "MIME-Version");
	assert_string_equal(h[3].name, "Content-Type");
	/* Unfolding removes CRLF only: the two blanks of each fold stay. */
	assert_string_equal(h[3].value, "text/plain;  charset=EUC-KR;  "
	    "format=flowed");
	assert_string_equal(msg_header(m, "subject", 0),
	    "NOTE: 한국말로 하는 것");
	assert_null(msg_header(m, "subject", 1));
	assert_null(msg_header(m, "X-Nope", 0));
	assert_string_equal(msg_date(m), "Mon, 2 May 2005 16:07:05 -0600");
	msg_free(m);
}

static void
test_defects(void **state)
{
	const char *const	*d;
	struct msg		*m;

	(void)state;
	m = load("enmime__testdata__mail__erroneous.raw.eml");
	assert_true(msg_defects(m, &d) > 0);
	msg_free(m);
	m = load("flanker__iphone.eml");
	assert_true(msg_defects(m, &d) > 0);
	msg_free(m);
	m = load("django_mailbox__message_with_single_byte_encoding.eml");
	assert_int_equal(msg_defects(m, &d), 0);
	msg_free(m);
}

/* Nested multiparts past max_depth: a defect, no crash, outer text kept. */
static void
test_depth_cap(void **state)
{
	struct buf		 b;
	struct msg_limits	 lim = { 0 };
	struct msg		*m;
	const char *const	*d;
	int			 i;

	(void)state;
	buf_init(&b, 1 << 20);
	buf_addstr(&b, "From: a@b.example\nSubject: deep\n");
	for (i = 0; i < 200; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\n"
		    "\n--b%d\n", i, i);
	buf_addstr(&b, "Content-Type: text/plain\n\ninnermost\n");
	lim.max_depth = 8;
	m = msg_new(b.data, b.len, &lim);
	assert_string_equal(msg_text(m), "");
	assert_true(msg_defects(m, &d) > 0);
	msg_free(m);
	buf_free(&b);
}

static void
test_header_and_text_caps(void **state)
{
	struct buf		 b;
	struct msg_limits	 lim = { 0 };
	struct msg		*m;
	const struct msg_header	*h;
	int			 i;

	(void)state;
	buf_init(&b, 1 << 22);
	for (i = 0; i < 5000; i++)
		buf_printf(&b, "X-H%d: v\n", i);
	buf_addstr(&b, "\n");
	for (i = 0; i < 10000; i++)
		buf_addstr(&b, "0123456789abcdef\n");
	lim.max_headers = 100;
	lim.max_text = 1000;
	m = msg_new(b.data, b.len, &lim);
	assert_int_equal(msg_headers(m, &h), 100);
	assert_true(strlen(msg_text(m)) <= 1000);
	msg_free(m);
	lim.max_size = 50;
	m = msg_new(b.data, b.len, &lim);
	assert_true(msg_headers(m, &h) <= 5);
	msg_free(m);
	buf_free(&b);
}

/* Bytes no charset makes sense of still come out as valid UTF-8. */
static void
test_garbage_is_utf8(void **state)
{
	static const char raw[] = "Subject: \xff\xfe=?utf-8?B?/w==?=\x80\n"
	    "From: \"\xc3\x28\" <x@y>\nContent-Type: text/plain; charset=utf-8"
	    "\n\nok \xff\xc0\x80 \x00 end\n";
	struct msg	*m;

	(void)state;
	m = msg_new(raw, sizeof raw - 1, NULL);
	assert_true(g_utf8_validate_len(msg_subject(m),
	    strlen(msg_subject(m)), NULL));
	assert_non_null(strstr(msg_text(m), "end"));
	assert_true(g_utf8_validate_len(msg_text(m), strlen(msg_text(m)),
	    NULL));
	msg_free(m);
	m = msg_new("", 0, NULL);
	assert_string_equal(msg_subject(m), "");
	assert_string_equal(msg_text(m), "");
	assert_null(msg_message_id(m));
	assert_int_equal((long long)msg_date_time(m), -1LL);
	msg_free(m);
}

/* Groups are flattened; Return-Path <> is the empty address. */
static void
test_groups_and_return_path(void **state)
{
	static const char raw[] = "Return-Path: <>\n"
	    "To: Friends: a@x.example, \"B\" <b@x.example>;, c@y.example\n"
	    "Cc: undisclosed-recipients:;\n\nhi\n";
	const struct msg_addr	*a;
	struct msg		*m;
	const char		*why;

	(void)state;
	m = msg_new(raw, sizeof raw - 1, NULL);
	assert_int_equal(msg_addrs(m, MSG_TO, &a), 3);
	assert_string_equal(a[1].name, "B");
	assert_string_equal(a[2].address, "c@y.example");
	assert_int_equal(msg_addrs(m, MSG_CC, &a), 0);
	assert_string_equal(msg_return_path(m), "");
	assert_true(msg_is_auto(m, &why));
	msg_free(m);
}

/*
 * A message that is one text part gets its text without a MIME parse: the
 * same decoding as the multipart walk (transfer encoding, charset, HTML,
 * CRLF). Expected texts decoded by hand: "w6l0w6kgZMOpasOgCg==" is base64
 * for "été déjà\n"; "caf=E9 =\nfin" is QP latin-1 for "café fin".
 */
static void
test_single_part_text(void **state)
{
	static const char b64[] = "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nw6l0w6kgZMOpasOgCg==\r\n";
	static const char qp[] = "Content-Type: text/plain; charset=iso-8859-1"
	    "\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9 =\nfin\n";
	static const char html[] = "Content-Type: text/html\n\n"
	    "<p>one</p><p>two &amp; three</p>\r\n";
	static const char named[] = "Content-Type: text/plain; name=a.txt\n\n"
	    "inside\n";
	static const char crlf[] = "Subject: s\r\n\r\nline 1\r\nline 2\r\n";
	const struct msg_attachment	*a;
	struct msg			*m;

	(void)state;
	m = msg_new(b64, sizeof b64 - 1, NULL);
	assert_string_equal(msg_text(m),
	    "\xc3\xa9t\xc3\xa9 d\xc3\xa9j\xc3\xa0");
	assert_int_equal(msg_attachments(m, &a), 0);
	msg_free(m);
	m = msg_new(qp, sizeof qp - 1, NULL);
	assert_string_equal(msg_text(m), "caf\xc3\xa9 fin");
	msg_free(m);
	m = msg_new(html, sizeof html - 1, NULL);
	assert_non_null(strstr(msg_text(m), "one"));
	assert_non_null(strstr(msg_text(m), "two & three"));
	assert_null(strchr(msg_text(m), '<'));
	msg_free(m);
	/* A file name makes the part an attachment, not the text. */
	m = msg_new(named, sizeof named - 1, NULL);
	assert_string_equal(msg_text(m), "");
	assert_int_equal(msg_attachments(m, &a), 1);
	assert_string_equal(a[0].filename, "a.txt");
	assert_int_equal(a[0].size, 7);		/* "inside\n" */
	msg_free(m);
	m = msg_new(crlf, sizeof crlf - 1, NULL);
	assert_string_equal(msg_text(m), "line 1\nline 2");
	msg_free(m);
}

/* Sizes are measured when asked for, whether the text came first or not. */
static void
test_attachment_sizes_later(void **state)
{
	static const char raw[] = "Content-Type: multipart/mixed; boundary=b\n"
	    "\n--b\nContent-Type: text/plain\n\nbody text\n"
	    "--b\nContent-Type: application/octet-stream; name=x.bin\n"
	    "Content-Transfer-Encoding: base64\n\nAAECAwQ=\n--b--\n";
	const struct msg_attachment	*a;
	struct msg			*m;

	(void)state;
	m = msg_new(raw, sizeof raw - 1, NULL);
	assert_string_equal(msg_text(m), "body text");
	assert_int_equal(msg_attachments(m, &a), 1);
	assert_string_equal(a[0].filename, "x.bin");
	assert_int_equal(a[0].size, 5);		/* 00 01 02 03 04 */
	assert_int_equal(msg_attachments(m, &a), 1);
	assert_int_equal(a[0].size, 5);
	msg_free(m);
	m = msg_new(raw, sizeof raw - 1, NULL);
	assert_int_equal(msg_attachments(m, &a), 1);
	assert_int_equal(a[0].size, 5);
	assert_string_equal(msg_text(m), "body text");
	msg_free(m);
	/* Freed without ever asking for the sizes: nothing leaks. */
	m = msg_new(raw, sizeof raw - 1, NULL);
	assert_string_equal(msg_text(m), "body text");
	msg_free(m);
}

/*
 * Header values are decoded when first asked for, one by one or all at
 * once: both ways give the same text. "w6l0w6k=" is base64 for "été".
 */
static void
test_header_values_on_demand(void **state)
{
	static const char raw[] = "X-A:   =?UTF-8?B?w6l0w6k=?= \t\n"
	    "X-B: plain\n folded\nX-A: second\n\nbody\n";
	const struct msg_header	*h;
	struct msg		*m;

	(void)state;
	m = msg_new(raw, sizeof raw - 1, NULL);
	assert_string_equal(msg_header(m, "x-a", 1), "second");
	assert_int_equal(msg_headers(m, &h), 3);
	assert_string_equal(h[0].value, "\xc3\xa9t\xc3\xa9");
	assert_string_equal(h[1].value, "plain folded");
	assert_string_equal(h[2].value, "second");
	assert_ptr_equal(msg_header(m, "X-A", 0), h[0].value);
	msg_free(m);
	m = msg_new(raw, sizeof raw - 1, NULL);
	assert_string_equal(msg_header(m, "X-A", 0), "\xc3\xa9t\xc3\xa9");
	assert_null(msg_header(m, "X-A", 2));
	msg_free(m);
}

/*
 * Boundaries as msg-mime.c finds them (the body is not left to GMime):
 * an outer boundary ends an inner multipart that never closed, preamble
 * and epilogue are not text, the line break before a boundary is the
 * boundary's, CRLF as LF.
 */
static void
test_boundaries(void **state)
{
	static const char nested[] = "From: a@b.example\n"
	    "Subject: nest\n"
	    "Content-Type: multipart/mixed; boundary=\"A\"\n"
	    "\n"
	    "preamble\n"
	    "--A\n"
	    "Content-Type: multipart/alternative; boundary=\"B\"\n"
	    "\n"
	    "--B\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "inner text\n"
	    "--A\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "second part\n"
	    "--A--\n"
	    "epilogue\n";
	static const char crlf[] = "Subject: crlf\r\n"
	    "Content-Type: multipart/mixed; boundary=A\r\n"
	    "\r\n"
	    "--A\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "Hello\r\n"
	    "--A\r\n"
	    "\r\n"
	    "World\r\n"
	    "--A--\r\n";
	static const char open_end[] = "Subject: open\n"
	    "Content-Type: multipart/mixed; boundary=A\n"
	    "\n"
	    "--A\n"
	    "\n"
	    "only part\n";
	const char *const	*d;
	struct msg		*m;
	size_t			 own = msg_stats.body_own, n;
	char			*want;

	(void)state;
	m = msg_new(nested, sizeof nested - 1, NULL);
	assert_string_equal(msg_text(m), "inner text\nsecond part");
	n = msg_defects(m, &d);
	assert_int_equal(n, 1);
	/* At the inner multipart's Content-Type field. */
	want = xasprintf("multipart without parts at byte %zu: alternative",
	    (size_t)(strstr(nested, "Content-Type: multipart/alt") - nested));
	assert_string_equal(d[0], want);
	free(want);
	msg_free(m);
	m = msg_new(crlf, sizeof crlf - 1, NULL);
	assert_string_equal(msg_text(m), "Hello\nWorld");
	assert_int_equal(msg_defects(m, &d), 0);
	msg_free(m);
	m = msg_new(open_end, sizeof open_end - 1, NULL);
	assert_string_equal(msg_text(m), "only part");
	assert_int_equal(msg_defects(m, &d), 1);
	assert_string_equal(d[0], "truncated message");
	msg_free(m);
	assert_int_equal(msg_stats.body_own, own + 3);
}

/*
 * A message/rfc822 part: listed with the size GMime writes it out with
 * (its header, the blank line, its body without the line break that
 * belongs to the boundary), its text not the message's but an attachment.
 */
static void
test_message_part(void **state)
{
	static const char raw[] = "Subject: fwd\n"
	    "Content-Type: multipart/mixed; boundary=A\n"
	    "\n"
	    "--A\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "see below\n"
	    "--A\n"
	    "Content-Type: message/rfc822\n"
	    "\n"
	    "Subject: x\n"
	    "\n"
	    "body\n"
	    "--A--\n";
	const struct msg_attachment	*a;
	struct msg			*m;

	(void)state;
	m = msg_new(raw, sizeof raw - 1, NULL);
	assert_string_equal(msg_text(m), "see below");
	/* The message, then the parts it holds: its body, not text. */
	assert_int_equal(msg_attachments(m, &a), 2);
	assert_string_equal(a[0].content_type, "message/rfc822");
	assert_string_equal(a[0].filename, "");
	/* "Subject: x\n" (11) + "\n" (1) + "body" (4) */
	assert_int_equal(a[0].size, 16);
	assert_string_equal(a[1].content_type, "text/plain");
	assert_int_equal(a[1].size, 4);
	msg_free(m);
}

/* max_parts stops the walk: the first parts' text, then a defect. */
static void
test_parts_cap(void **state)
{
	struct buf		 b;
	struct msg_limits	 lim = { 0 };
	struct msg		*m;
	const char *const	*d;
	const char		*text;
	size_t			 n;
	int			 i;

	(void)state;
	buf_init(&b, 1 << 20);
	buf_addstr(&b, "Subject: many\n"
	    "Content-Type: multipart/mixed; boundary=A\n\n");
	for (i = 0; i < 30; i++)
		buf_printf(&b, "--A\n\npart-%02d\n", i);
	buf_addstr(&b, "--A--\n");
	lim.max_parts = 10;
	m = msg_new(b.data, b.len, &lim);
	text = msg_text(m);
	/* The multipart is the first of the ten parts walked. */
	assert_non_null(strstr(text, "part-00"));
	assert_non_null(strstr(text, "part-08"));
	assert_null(strstr(text, "part-09"));
	n = msg_defects(m, &d);
	assert_int_equal(n, 1);
	assert_string_equal(d[0], "more than 10 MIME parts, the rest skipped");
	msg_free(m);
	buf_free(&b);
}

/*
 * A multipart where an attachment is expected (the second part of
 * multipart/signed): its size is GMime's rewriting of it, so the body is
 * left to GMime, and still listed.
 */
static void
test_signed_multipart_signature(void **state)
{
	static const char raw[] = "Subject: signed\n"
	    "Content-Type: multipart/signed; boundary=S; protocol=x\n"
	    "\n"
	    "--S\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "Signed text\n"
	    "--S\n"
	    "Content-Type: multipart/mixed; boundary=M\n"
	    "\n"
	    "--M\n"
	    "\n"
	    "sig\n"
	    "--M--\n"
	    "--S--\n";
	const struct msg_attachment	*a;
	struct msg			*m;
	size_t				 gmime = msg_stats.body_gmime;

	(void)state;
	m = msg_new(raw, sizeof raw - 1, NULL);
	assert_string_equal(msg_text(m), "Signed text");
	assert_int_equal(msg_attachments(m, &a), 1);
	assert_string_equal(a[0].content_type, "multipart/mixed");
	assert_true(a[0].is_signed);
	assert_false(a[0].is_encrypted);
	assert_int_equal(msg_stats.body_gmime, gmime + 1);
	msg_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_address_fields),
		cmocka_unit_test(test_auto_and_list),
		cmocka_unit_test(test_attachments),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_defects),
		cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_header_and_text_caps),
		cmocka_unit_test(test_garbage_is_utf8),
		cmocka_unit_test(test_groups_and_return_path),
		cmocka_unit_test(test_single_part_text),
		cmocka_unit_test(test_attachment_sizes_later),
		cmocka_unit_test(test_header_values_on_demand),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_message_part),
		cmocka_unit_test(test_parts_cap),
		cmocka_unit_test(test_signed_multipart_signature),
	};

	msg_library_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
