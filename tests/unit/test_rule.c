/*
 * Rules: loading (every error with its position), each condition and
 * combinator, captures, template fields, actions in the plan, stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "match.h"
#include "msg.h"
#include "rule.h"
#include "xmalloc.h"

#include "test-diag.h"

static char	*dir;

static int
setup(void **state)
{
	char	 tmpl[] = "/tmp/facteur-rule-XXXXXX";

	(void)state;
	if (mkdtemp(tmpl) == NULL)
		return -1;
	dir = xstrdup(tmpl);
	msg_library_init();
	return 0;
}

static int
teardown(void **state)
{
	char	*cmd;
	int	 rc;

	(void)state;
	cmd = xasprintf("rm -rf '%s'", dir);
	rc = system(cmd);
	free(cmd);
	free(dir);
	msg_library_shutdown();
	return rc == 0 ? 0 : -1;
}

static char *
write_file(const char *name, const char *text)
{
	char	*path;
	FILE	*f;

	path = xasprintf("%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct ruleset *
load(const char *text, struct diag *d)
{
	struct ruleset	*rs;
	char		*path;

	path = write_file("rules.yaml", text);
	diag_init(d);
	rs = ruleset_load((const char *const *)&path, 1, d);
	free(path);
	return rs;
}

static const char order_msg[] =
    "Return-Path: <bounce@shop.example>\r\n"
    "From: \"Shop Bot\" <orders@SHOP.example>\r\n"
    "To: alice@example.com, bob@example.com\r\n"
    "Cc: carol@example.com\r\n"
    "Subject: Your Order #1234567 =?utf-8?q?confirm=C3=A9?=\r\n"
    "Message-ID: <abc@shop.example>\r\n"
    "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\n"
    "X-Shop: yes\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Hello,\r\nTotal: 42.50 EUR\r\nBye\r\n";

/* Evaluate text's rules on msg; returns the plan, explain in *why. */
static json_t *
eval(const char *rules, const char *raw, char **why)
{
	struct diag	 d;
	struct ruleset	*rs;
	struct msg	*m;
	struct buf	 b;
	struct eval_ctx	 ctx = { "orders", NULL, 0 };
	json_t		*plan;

	rs = load(rules, &d);
	if (rs == NULL)
		diag_print(&d, stderr);
	assert_non_null(rs);
	m = msg_new(raw, strlen(raw), NULL);
	buf_init(&b, 1 << 20);
	plan = ruleset_eval(rs, m, &ctx, &b);
	if (why != NULL)
		*why = buf_steal(&b, NULL);
	buf_free(&b);
	msg_free(m);
	ruleset_free(rs);
	diag_free(&d);
	return plan;
}

static const char *
act_str(json_t *plan, size_t i, const char *key)
{
	json_t	*a = json_array_get(json_object_get(plan, "actions"), i);

	return json_string_value(json_object_get(a, key));
}

static size_t
nmatched(json_t *plan)
{
	return json_array_size(json_object_get(plan, "matched"));
}

static void
test_reply_with_captures(void **st)
{
	json_t	*plan;

	(void)st;
	plan = eval("rules:\n"
	    "  - name: order\n"
	    "    if:\n"
	    "      all:\n"
	    "        - from: '@shop\\.example$'\n"
	    "        - subject: 'Order #(?<order>[0-9]{6,})'\n"
	    "        - body: 'Total:\\s*(?<total>[0-9.,]+)'\n"
	    "    then:\n"
	    "      - reply:\n"
	    "          body: |\n"
	    "            Order {{order}} ({{total}}) for {{from.name}} "
	    "<{{from.address}}> on {{account}}, id {{message_id}}.\n"
	    "    stop: true\n"
	    "  - name: never\n"
	    "    then: [delete]\n", order_msg, NULL);
	assert_int_equal(nmatched(plan), 1);
	assert_string_equal(act_str(plan, 0, "rule"), "order");
	assert_string_equal(act_str(plan, 0, "type"), "reply");
	assert_string_equal(act_str(plan, 0, "body"), "Order 1234567 (42.50) "
	    "for Shop Bot <orders@SHOP.example> on orders, id abc@shop.example.\n");
	assert_string_equal(act_str(plan, 0, "subject"),
	    "Re: Your Order #1234567 confirmé");
	assert_string_equal(act_str(plan, 0, "to"), "orders@SHOP.example");
	assert_string_equal(act_str(plan, 0, "in_reply_to"), "abc@shop.example");
	assert_int_equal(json_array_size(json_object_get(plan, "actions")), 1);
	json_decref(plan);
}

static void
test_reply_subject_template(void **st)
{
	json_t	*plan;

	(void)st;
	plan = eval("rules:\n"
	    "  - name: r\n"
	    "    if: {subject: 'order'}\n"
	    "    then:\n"
	    "      - reply: {subject: \"Got: {{subject}}\", body: \"ok\"}\n",
	    order_msg, NULL);
	assert_string_equal(act_str(plan, 0, "subject"),
	    "Got: Your Order #1234567 confirmé");
	json_decref(plan);
}

static void
test_case_insensitive_default(void **st)
{
	json_t	*plan;

	(void)st;
	plan = eval("rules:\n"
	    "  - name: ci\n"
	    "    if: {subject: 'your ORDER'}\n"
	    "    then: [delete]\n"
	    "  - name: cs\n"
	    "    if: {subject: '(?-i)your ORDER'}\n"
	    "    then: [delete]\n"
	    "  - name: cs-ok\n"
	    "    if: {subject: '(?-i)Your Order'}\n"
	    "    then: [delete]\n", order_msg, NULL);
	assert_int_equal(nmatched(plan), 2);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(plan, "matched"), 0)), "ci");
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(plan, "matched"), 1)), "cs-ok");
	json_decref(plan);
}

static void
test_combinators(void **st)
{
	json_t	*plan;
	char	*why;

	(void)st;
	plan = eval("rules:\n"
	    "  - name: any-not\n"
	    "    if:\n"
	    "      any:\n"
	    "        - subject: 'nothing here'\n"
	    "        - all:\n"
	    "            - not: {from: '(?<who>nobody)'}\n"
	    "            - not: {not: {to: '^bob@'}}\n"
	    "    then: [{move: 'X-{{who}}'}]\n"
	    "  - name: fails\n"
	    "    if:\n"
	    "      all:\n"
	    "        - subject: 'Order'\n"
	    "        - not: {cc: 'carol'}\n"
	    "    then: [delete]\n"
	    "  - name: multi-key\n"
	    "    if: {subject: 'Order', to: 'alice'}\n"
	    "    then: [delete]\n"
	    "  - name: list-form\n"
	    "    if: [{subject: 'Order'}, {to: 'nobody'}]\n"
	    "    then: [delete]\n", order_msg, &why);
	assert_int_equal(nmatched(plan), 2);
	assert_string_equal(act_str(plan, 0, "folder"), "X-");
	assert_non_null(strstr(why, "rule fails: no match: "));
	assert_non_null(strstr(why, "rules.yaml:14:11: not: cc matched "
	    "\"carol@example.com\""));
	assert_non_null(strstr(why, "rule list-form: no match: "));
	assert_non_null(strstr(why, "to: 'nobody' did not match any of "
	    "\"alice@example.com\", \"bob@example.com\""));
	free(why);
	json_decref(plan);
}

static void
test_capture_rollback(void **st)
{
	json_t	*plan;

	(void)st;
	/* The failed first branch's capture must not leak into the plan. */
	plan = eval("rules:\n"
	    "  - name: r\n"
	    "    if:\n"
	    "      any:\n"
	    "        - all: [{subject: '(?<x>Order)'}, {subject: 'zzz'}]\n"
	    "        - subject: '(?<y>Your)'\n"
	    "    then: [{move: '[{{x}}][{{y}}]'}]\n", order_msg, NULL);
	assert_string_equal(act_str(plan, 0, "folder"), "[][Your]");
	json_decref(plan);
}

static void
test_conditions(void **st)
{
	json_t	*plan;
	char	*why;

	(void)st;
	plan = eval("rules:\n"
	    "  - {name: recipient, if: {recipient: '^carol@'}, then: [delete]}\n"
	    "  - {name: sender, if: {sender: '^bounce@'}, then: [delete]}\n"
	    "  - {name: header, if: {header: {name: x-shop, matches: '^yes$'}}, "
	    "then: [delete]}\n"
	    "  - {name: header-present, if: {header: {name: X-Shop}}, "
	    "then: [delete]}\n"
	    "  - {name: header-absent, if: {header: {name: X-None}}, "
	    "then: [delete]}\n"
	    "  - {name: size, if: {size: {over: 100, under: 1M}}, "
	    "then: [delete]}\n"
	    "  - {name: size-big, if: {size: {over: 10k}}, then: [delete]}\n"
	    "  - {name: list, if: {list: false}, then: [delete]}\n"
	    "  - {name: auto, if: {auto: false}, then: [delete]}\n"
	    "  - {name: no-attach, if: {attachment: false}, then: [delete]}\n"
	    "  - {name: pattern-list, if: {from: ['nope', 'shop']}, "
	    "then: [delete]}\n"
	    "  - {name: body, if: {body: '(?m)^Total'}, then: [delete]}\n",
	    order_msg, &why);
	assert_int_equal(nmatched(plan), 10);
	assert_non_null(strstr(why, "rule header-absent: no match: "));
	assert_non_null(strstr(why, "rules.yaml:6:32: header: no X-None "
	    "header"));
	assert_non_null(strstr(why, "size: the message is"));
	free(why);
	json_decref(plan);
}

static const char list_msg[] =
    "From: list@lists.example\r\n"
    "To: alice@example.com\r\n"
    "Subject: news\r\n"
    "List-Id: <news.lists.example>\r\n"
    "Auto-Submitted: auto-generated\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "see attached\r\n"
    "--b\r\n"
    "Content-Type: application/pdf; name=invoice-42.pdf\r\n"
    "Content-Disposition: attachment; filename=invoice-42.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--b--\r\n";

static void
test_list_auto_attachment(void **st)
{
	json_t	*plan, *att;

	(void)st;
	plan = eval("rules:\n"
	    "  - {name: list, if: {list: true}, then: [delete]}\n"
	    "  - {name: auto, if: {auto: true}, then: [delete]}\n"
	    "  - name: att\n"
	    "    if: {attachment: {filename: 'invoice-(?<n>\\d+)', "
	    "type: '^application/pdf$'}}\n"
	    "    then: [{extract: {dir: out, type: pdf}}, "
	    "{move: 'Invoices/{{n}}'}]\n"
	    "  - {name: att-any, if: {attachment: true}, then: [delete]}\n"
	    "  - {name: att-name, if: {attachment: '\\.pdf$'}, then: [delete]}\n"
	    "  - {name: att-no, if: {attachment: {type: image}}, "
	    "then: [delete]}\n",
	    list_msg, NULL);
	assert_int_equal(nmatched(plan), 5);
	assert_string_equal(act_str(plan, 3, "folder"), "Invoices/42");
	att = json_object_get(json_array_get(json_object_get(plan, "actions"),
	    2), "attachments");
	assert_int_equal(json_array_size(att), 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(att, 0), "filename")), "invoice-42.pdf");
	assert_non_null(strstr(act_str(plan, 2, "dir"), "/out"));
	json_decref(plan);
}

static void
test_stop(void **st)
{
	json_t	*plan;
	char	*why;

	(void)st;
	plan = eval("rules:\n"
	    "  - {name: a, if: {subject: 'nomatch'}, then: [delete], stop: true}\n"
	    "  - {name: b, then: [{flag: '\\Flagged'}, stop]}\n"
	    "  - {name: c, then: [delete]}\n", order_msg, &why);
	assert_int_equal(nmatched(plan), 1);
	assert_string_equal(act_str(plan, 1, "type"), "stop");
	assert_non_null(strstr(why, "rule c: not evaluated"));
	free(why);
	json_decref(plan);
}

static void
test_all_actions(void **st)
{
	json_t	*plan, *a;
	char	*dump;

	(void)st;
	setenv("HOOK_SECRET", "s3cret", 1);
	plan = eval("rules:\n"
	    "  - name: all\n"
	    "    if: {subject: 'Order #(?<order>\\d+)'}\n"
	    "    then:\n"
	    "      - autoreply: {body: 'Away', every: 2d}\n"
	    "      - forward: {to: [boss@example.com], as: inline}\n"
	    "      - notify: {to: ops@example.com, subject: 'New {{order}}'}\n"
	    "      - run: {argv: [bin/rec, '{{order}}', '--subj={{subject}}'], "
	    "stdin: message, env: {ORDER: '{{order}}'}, timeout: 30s}\n"
	    "      - webhook: {url: 'https://h.example/o?id={{order}}', "
	    "secret: {env: HOOK_SECRET}, body: '{\"order\": \"{{order}}\", "
	    "\"s\": \"{{subject}}\"}'}\n"
	    "      - copy: Archive\n"
	    "      - flag: {add: ['\\Seen'], remove: [Junk]}\n"
	    "      - save: {maildir: /var/mail/x}\n"
	    "      - delete\n", order_msg, NULL);
	a = json_object_get(plan, "actions");
	assert_int_equal(json_array_size(a), 9);
	assert_string_equal(act_str(plan, 0, "subject"),
	    "Auto: Your Order #1234567 confirmé");
	assert_string_equal(act_str(plan, 0, "to"), "bounce@shop.example");
	assert_int_equal(json_integer_value(json_object_get(
	    json_array_get(a, 0), "every")), 2 * 86400);
	assert_string_equal(act_str(plan, 0, "handle"), "all");
	assert_string_equal(act_str(plan, 1, "as"), "inline");
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    json_array_get(a, 1), "to"), 0)), "boss@example.com");
	assert_string_equal(act_str(plan, 2, "subject"), "New 1234567");
	assert_non_null(strstr(act_str(plan, 2, "body"), "Shop Bot"));
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    json_array_get(a, 3), "argv"), 2)),
	    "--subj=Your Order #1234567 confirmé");
	assert_string_equal(act_str(plan, 3, "stdin"), "message");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_array_get(a, 3), "env"), "ORDER")), "1234567");
	assert_string_equal(act_str(plan, 4, "url"),
	    "https://h.example/o?id=1234567");
	assert_string_equal(act_str(plan, 4, "body"), "{\"order\": \"1234567\", "
	    "\"s\": \"Your Order #1234567 confirmé\"}");
	dump = json_dumps(plan, 0);
	assert_null(strstr(dump, "s3cret"));
	free(dump);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_array_get(a, 4), "secret"), "env")), "HOOK_SECRET");
	assert_string_equal(act_str(plan, 5, "folder"), "Archive");
	assert_string_equal(act_str(plan, 7, "maildir"), "/var/mail/x");
	assert_string_equal(act_str(plan, 8, "type"), "delete");
	json_decref(plan);
}

/* A capture holding CR/LF, quotes and spaces, in every destination. */
static void
test_safe_rendering(void **st)
{
	json_t		*plan, *a, *j;
	json_error_t	 err;

	(void)st;
	plan = eval("rules:\n"
	    "  - name: r\n"
	    "    if: {body: '(?<evil>Hello,[\\s\\S]*EUR)'}\n"
	    "    then:\n"
	    "      - reply: {subject: 'S {{evil}}', body: 'B {{evil}}'}\n"
	    "      - move: 'F/{{evil}}'\n"
	    "      - run: {argv: [/bin/echo, '{{evil}}']}\n"
	    "      - webhook: {url: 'https://h/x?q={{evil}}', "
	    "body: '{\"v\": \"{{evil}}\"}'}\n"
	    "      - forward: {to: '{{header.x-shop}}@example.com'}\n",
	    order_msg, NULL);
	a = json_object_get(plan, "actions");
	assert_string_equal(act_str(plan, 0, "subject"),
	    "S Hello, Total: 42.50 EUR");
	assert_string_equal(act_str(plan, 0, "body"),
	    "B Hello,\nTotal: 42.50 EUR");
	assert_string_equal(act_str(plan, 1, "folder"),
	    "F/Hello, Total: 42.50 EUR");
	j = json_object_get(json_array_get(a, 2), "argv");
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(json_string_value(json_array_get(j, 1)),
	    "Hello,\nTotal: 42.50 EUR");
	assert_string_equal(act_str(plan, 3, "url"),
	    "https://h/x?q=Hello%2C%0ATotal%3A%2042.50%20EUR");
	j = json_loads(act_str(plan, 3, "body"), 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "v")),
	    "Hello,\nTotal: 42.50 EUR");
	json_decref(j);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    json_array_get(a, 4), "to"), 0)), "yes@example.com");
	json_decref(plan);
}

static void
test_load_errors(void **st)
{
	struct diag	 d;

	(void)st;
	assert_null(load("rules:\n"
	    "  - name: a\n"
	    "    if: {subject: 'Order (?<n>\\d+', from: x}\n"
	    "    then:\n"
	    "      - reply: {body: \"Hi {{nope}} {{n}}\"}\n"
	    "      - reply:\n"
	    "          body: |\n"
	    "            line one\n"
	    "              {{subject}} and {{ unknown.thing }}\n"
	    "      - frob: 1\n"
	    "      - run: {argv: ['{{subject}}']}\n"
	    "      - webhook: {url: 'https://x', body: '{\"a\": {{subject}}}'}\n"
	    "      - webhook: {url: 'https://x', secret: literal}\n"
	    "    colour: red\n"
	    "  - name: a\n"
	    "    if: {subjekt: x, size: {over: lots}}\n"
	    "    then: []\n"
	    "  - name: c\n"
	    "    if: {subject: '(?<subject>x)'}\n"
	    "    then: [{move: 'x {{unclosed'}]\n", &d));
	assert_true(has_diag(&d, 3, 34, "bad pattern: missing closing "
	    "parenthesis"));
	assert_true(has_diag(&d, 5, 27, "unknown variable 'nope'"));
	assert_true(has_diag(&d, 9, 31, "unknown variable 'unknown.thing'"));
	assert_true(has_diag(&d, 10, 9, "unknown action 'frob'"));
	assert_true(has_diag(&d, 11, 22, "no {{...}} in argv[0]"));
	assert_true(has_diag(&d, 12, 43, "not valid JSON"));
	assert_true(has_diag(&d, 13, 45, "never the secret itself"));
	assert_true(has_diag(&d, 14, 5, "unknown key 'colour'"));
	assert_true(has_diag(&d, 15, 11, "rule name 'a' is already used at"));
	assert_true(has_diag(&d, 16, 10, "unknown condition 'subjekt'"));
	assert_true(has_diag(&d, 16, 35, "'over' expects a size"));
	assert_true(has_diag(&d, 19, 19, "capture name 'subject' is also a "
	    "message field"));
	assert_true(has_diag(&d, 20, 22, "unclosed '{{'"));
	diag_free(&d);
}

/* Flags a server would refuse or that a client may not set fail at load. */
static void
test_bad_flags(void **st)
{
	struct ruleset	*rs;
	struct diag	 d;

	(void)st;
	assert_null(load("rules:\n"
	    "  - name: a\n"
	    "    if: {subject: x}\n"
	    "    then:\n"
	    "      - flag: '\\Recent'\n"
	    "      - flag: {add: [ok, 'caf\xc3\xa9'], remove: ['\\Bogus']}\n"
	    "      - flag: ['a b']\n", &d));
	assert_true(has_diag(&d, 5, 15, "'\\Recent' is not a flag a rule "
	    "can set"));
	assert_true(has_diag(&d, 6, 26, "'caf\xc3\xa9' is not a flag"));
	assert_true(has_diag(&d, 6, 44, "'\\Bogus' is not a flag"));
	assert_true(has_diag(&d, 7, 16, "'a b' is not a flag"));
	diag_free(&d);
	rs = load("rules:\n"
	    "  - name: a\n"
	    "    if: {subject: x}\n"
	    "    then: [{flag: {add: ['\\seen', '$Label1', Junk], "
	    "remove: ['\\Flagged']}}]\n", &d);
	assert_non_null(rs);
	ruleset_free(rs);
	diag_free(&d);
}

static void
test_bad_yaml(void **st)
{
	struct diag	 d;

	(void)st;
	assert_null(load("rules:\n  - name: a\n    if: {subject: 'x'\n"
	    "    then: [delete]\n", &d));
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.items[0].text, "bad YAML"));
	assert_int_equal(d.items[0].line, 4);
	diag_free(&d);
}

static void
test_match_limit(void **st)
{
	struct match	*m;
	char		*cause = NULL;
	size_t		 off;
	const char	*why = NULL;
	char		 subject[64];

	(void)st;
	m = match_compile("^(a+)+$", &cause, &off);
	assert_non_null(m);
	memset(subject, 'a', sizeof subject - 2);
	subject[sizeof subject - 2] = 'b';
	subject[sizeof subject - 1] = '\0';
	assert_int_equal(match_exec(m, subject, strlen(subject), NULL, &why),
	    MATCH_LIMIT);
	assert_non_null(why);
	match_free(m);
}

/* A pathological pattern: no hang, counted as no match, said why. */
static void
test_limit_in_rule(void **st)
{
	json_t	*plan;
	char	*why, raw[512];

	(void)st;
	snprintf(raw, sizeof raw, "From: a@b.example\r\nSubject: %.*sb\r\n"
	    "\r\nx\r\n", 60, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	plan = eval("rules:\n"
	    "  - {name: slow, if: {subject: '^(a+)+$'}, then: [delete]}\n"
	    "  - {name: next, if: {not: {subject: '^(a|aa)+$'}}, "
	    "then: [delete]}\n", raw, &why);
	assert_int_equal(nmatched(plan), 0);
	assert_non_null(strstr(why, "rule next: no match: a pattern hit the "
	    "match limit, so the rule does not match"));
	assert_non_null(strstr(why, "rule slow: no match: "));
	assert_non_null(strstr(why, "hit the match limit (counted as no "
	    "match)"));
	free(why);
	json_decref(plan);
}

static void
test_multiple_files(void **st)
{
	struct diag	 d;
	struct ruleset	*rs;
	char		*p[2];

	(void)st;
	p[0] = write_file("one.yaml", "rules:\n  - {name: x, then: [delete]}\n");
	p[1] = write_file("two.yaml", "rules:\n  - {name: y, then: [delete]}\n"
	    "  - {name: x, then: [delete]}\n");
	diag_init(&d);
	assert_null(ruleset_load((const char *const *)p, 2, &d));
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.items[0].file, "two.yaml"));
	assert_int_equal(d.items[0].line, 3);
	diag_free(&d);
	rs = ruleset_load((const char *const *)p, 1, &d);
	assert_int_equal(ruleset_count(rs), 1);
	ruleset_free(rs);
	free(p[0]);
	free(p[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_with_captures),
		cmocka_unit_test(test_reply_subject_template),
		cmocka_unit_test(test_case_insensitive_default),
		cmocka_unit_test(test_combinators),
		cmocka_unit_test(test_capture_rollback),
		cmocka_unit_test(test_conditions),
		cmocka_unit_test(test_list_auto_attachment),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_all_actions),
		cmocka_unit_test(test_safe_rendering),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_bad_yaml),
		cmocka_unit_test(test_match_limit),
		cmocka_unit_test(test_limit_in_rule),
		cmocka_unit_test(test_multiple_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
