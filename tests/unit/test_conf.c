/* The config file: shape, defaults, every error with its position; secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "rule.h"
#include "xmalloc.h"

#include "test-diag.h"

static char	*dir;

static int
setup(void **state)
{
	char	 tmpl[] = "/tmp/facteur-conf-XXXXXX";

	(void)state;
	if (mkdtemp(tmpl) == NULL)
		return -1;
	dir = xstrdup(tmpl);
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

static const char example[] =
    "state: /var/lib/facteur/state.db\n"
    "smtp:\n"
    "  url: smtps://smtp.example.com\n"
    "  user: bot@example.com\n"
    "  password: {env: SMTP_PASSWORD}\n"
    "  from: \"Order Desk <orders@example.com>\"\n"
    "accounts:\n"
    "  - name: orders\n"
    "    url: imaps://imap.example.com:1993/INBOX\n"
    "    user: orders@example.com\n"
    "    password: {env: ORDERS_PASSWORD}\n"
    "    watch: idle\n"
    "    poll: 2m\n"
    "    after: {move: Processed}\n"
    "    addresses: [orders@example.com]\n"
    "    rules: [rules.yaml]\n"
    "  - name: pop\n"
    "    url: pop3s://pop.example.com\n"
    "    user: u\n"
    "    oauth2: {command: [get-token, --user, u]}\n"
    "    after: delete\n"
    "  - name: local\n"
    "    url: maildir:Mail/inbox\n"
    "  - name: multi\n"
    "    url: imap://[::1]:143\n"
    "    mailboxes: [INBOX, Sent Items]\n"
    "    user: m\n"
    "    password: {command: [pass, show, mail]}\n"
    "    tls_verify: false\n"
    "    ca_file: /etc/ca.pem\n"
    "limits:\n"
    "  sends_per_hour: 200\n"
    "  replies_per_sender: 1/1d\n";

static const char rules[] =
    "rules:\n"
    "  - name: r\n"
    "    if: {subject: 'x'}\n"
    "    then: [delete]\n";

static void
test_example(void **st)
{
	struct diag		 d;
	struct conf		*c;
	struct conf_account	*a;
	char			*path, *rp;

	(void)st;
	rp = write_file("rules.yaml", rules);
	path = write_file("facteur.yaml", example);
	diag_init(&d);
	c = conf_load(path, &d);
	assert_non_null(c);
	assert_int_equal(d.n, 0);
	assert_string_equal(c->state_path, "/var/lib/facteur/state.db");
	assert_true(c->have_smtp);
	assert_string_equal(c->smtp.url, "smtps://smtp.example.com");
	assert_string_equal(c->smtp.auth, "PLAIN");
	assert_true(c->smtp.tls_verify);
	assert_int_equal(c->smtp.tls, TLS_REQUIRED);
	assert_int_equal(c->smtp.password.kind, SECRET_ENV);
	assert_string_equal(c->smtp.password.value, "SMTP_PASSWORD");
	assert_int_equal(c->naccounts, 4);
	a = conf_find_account(c, "orders");
	assert_non_null(a);
	assert_int_equal(a->kind, SOURCE_IMAP);
	assert_true(a->tls);
	assert_string_equal(a->host, "imap.example.com");
	assert_int_equal(a->port, 1993);
	assert_string_equal(a->url, "imaps://imap.example.com:1993");
	assert_int_equal(a->nmailboxes, 1);
	assert_string_equal(a->mailboxes[0], "INBOX");
	assert_int_equal(a->watch, WATCH_IDLE);
	assert_int_equal(a->poll_seconds, 120);
	assert_int_equal(a->after, AFTER_MOVE);
	assert_string_equal(a->after_folder, "Processed");
	assert_int_equal(a->naddresses, 1);
	assert_string_equal(a->rule_files[0], rp);
	assert_int_equal(ruleset_count(a->rules), 1);
	assert_int_equal(a->line, 8);
	assert_int_equal(a->col, 5);
	a = conf_find_account(c, "pop");
	assert_int_equal(a->kind, SOURCE_POP3);
	assert_int_equal(a->watch, WATCH_POLL);
	assert_string_equal(a->auth, "XOAUTH2");
	assert_string_equal(a->oauth2_argv[2], "u");
	assert_null(a->oauth2_argv[3]);
	assert_int_equal(a->after, AFTER_DELETE);
	a = conf_find_account(c, "local");
	assert_int_equal(a->kind, SOURCE_MAILDIR);
	assert_true(strncmp(a->path, dir, strlen(dir)) == 0);
	assert_string_equal(a->path + strlen(dir), "/Mail/inbox");
	a = conf_find_account(c, "multi");
	assert_string_equal(a->host, "::1");
	assert_int_equal(a->port, 143);
	assert_false(a->tls);
	assert_false(a->tls_verify);
	assert_int_equal(a->nmailboxes, 2);
	assert_string_equal(a->mailboxes[1], "Sent Items");
	assert_int_equal(a->password.kind, SECRET_COMMAND);
	assert_null(conf_find_account(c, "nope"));
	assert_int_equal(c->limits.sends_per_hour, 200);
	assert_int_equal(c->limits.replies_per_sender, 1);
	assert_int_equal(c->limits.replies_per_sender_seconds, 86400);
	conf_free(c);
	diag_free(&d);
	free(path);
	free(rp);
}

static void
test_default_state(void **st)
{
	struct diag	 d;
	struct conf	*c;
	char		*path;

	(void)st;
	path = write_file("min.yaml", "accounts: []\n");
	diag_init(&d);
	setenv("XDG_STATE_HOME", "/xdg", 1);
	c = conf_load(path, &d);
	assert_non_null(c);
	assert_string_equal(c->state_path, "/xdg/facteur/state.db");
	assert_false(c->have_smtp);
	conf_free(c);
	unsetenv("XDG_STATE_HOME");
	setenv("HOME", "/home/u", 1);
	c = conf_load(path, &d);
	assert_string_equal(c->state_path,
	    "/home/u/.local/state/facteur/state.db");
	conf_free(c);
	diag_free(&d);
	free(path);
}

static void
test_retry_liveness(void **st)
{
	struct diag	 d;
	struct conf	*c;
	char		*path;

	(void)st;
	path = write_file("defaults.yaml", "accounts: []\n");
	diag_init(&d);
	c = conf_load(path, &d);
	assert_non_null(c);
	assert_int_equal(c->retry_max_age, 2 * 86400);
	assert_int_equal(c->liveness_warn_after, 3600);
	conf_free(c);
	free(path);
	path = write_file("set.yaml", "retry: {max_age: 3h}\n"
	    "liveness: {warn_after: 0}\naccounts: []\n");
	c = conf_load(path, &d);
	assert_non_null(c);
	assert_int_equal(c->retry_max_age, 3 * 3600);
	assert_int_equal(c->liveness_warn_after, 0);
	conf_free(c);
	free(path);
	path = write_file("bad-retry.yaml", "retry: {max_age: soon}\n"
	    "liveness: {warn_afer: 1h}\naccounts: []\nretry2: 1\n");
	assert_null(conf_load(path, &d));
	assert_true(has_diag(&d, 1, 18, "'max_age' expects a duration"));
	assert_true(has_diag(&d, 2, 12, "unknown key 'warn_afer' in liveness"));
	diag_free(&d);
	diag_init(&d);
	free(path);
	path = write_file("zero-retry.yaml", "retry:\n  max_age: 0s\n");
	assert_null(conf_load(path, &d));
	assert_true(has_diag(&d, 2, 12, "'max_age' must be more than 0s"));
	diag_free(&d);
	free(path);
}

static void
test_errors(void **st)
{
	struct diag	 d;
	char		*path;

	(void)st;
	path = write_file("bad.yaml",
	    "smtp:\n"
	    "  url: http://x\n"
	    "  from: a@b\n"
	    "  tls: maybe\n"
	    "  tls_verify: perhaps\n"
	    "accounts:\n"
	    "  - name: a\n"
	    "    url: imaps://host/INBOX\n"
	    "    user: u\n"
	    "    pasword: x\n"
	    "    password: {env: A, file: b}\n"
	    "    watch: push\n"
	    "    poll: soon\n"
	    "    after: {move: X, y: 1}\n"
	    "    rules: [missing.yaml]\n"
	    "  - name: a\n"
	    "    url: pop3://h:99999\n"
	    "limits:\n"
	    "  replies_per_sender: 3\n"
	    "colour: blue\n");
	diag_init(&d);
	assert_null(conf_load(path, &d));
	assert_true(has_diag(&d, 2, 8, "smtp:// or smtps://"));
	assert_true(has_diag(&d, 4, 8, "'tls' expects required or none"));
	assert_true(has_diag(&d, 5, 15, "'tls_verify' expects true or false"));
	assert_true(has_diag(&d, 10, 5, "unknown key 'pasword'"));
	assert_true(has_diag(&d, 11, 15, "'password' expects"));
	assert_true(has_diag(&d, 12, 12, "'watch' expects idle or poll"));
	assert_true(has_diag(&d, 13, 11, "'poll' expects a duration"));
	assert_true(has_diag(&d, 14, 12, "'after' expects"));
	assert_true(has_diag(&d, 15, 12, "cannot read rule file"));
	assert_true(has_diag(&d, 16, 5, "account name 'a' is already used"));
	assert_true(has_diag(&d, 17, 10, "bad port"));
	assert_true(has_diag(&d, 19, 23, "COUNT/PERIOD"));
	assert_true(has_diag(&d, 20, 1, "unknown key 'colour'"));
	/* Sorted by position. */
	assert_int_equal(d.items[0].line, 2);
	assert_int_equal(d.items[d.n - 1].line, 20);
	diag_free(&d);
	free(path);
}

static void
test_bad_yaml(void **st)
{
	struct diag	 d;
	char		*path;

	(void)st;
	path = write_file("broken.yaml", "smtp:\n  url: [a, b\n  from: x\n");
	diag_init(&d);
	assert_null(conf_load(path, &d));
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.items[0].text, "bad YAML"));
	assert_int_equal(d.items[0].line, 3);
	diag_free(&d);
	free(path);
}

static void
test_rules_fit(void **st)
{
	struct diag	 d;
	char		*path, *rp;

	(void)st;
	rp = write_file("fit.yaml", "rules:\n"
	    "  - {name: r, then: [{reply: {body: x}}, {move: Done}]}\n");
	path = write_file("fit-conf.yaml",
	    "accounts:\n"
	    "  - name: p\n"
	    "    url: pop3://h\n"
	    "    user: u\n"
	    "    password: pw\n"
	    "    rules: [fit.yaml]\n");
	diag_init(&d);
	assert_null(conf_load(path, &d));
	assert_true(has_diag(&d, 2, 5, "no 'smtp' section"));
	assert_true(has_diag(&d, 2, 5, "'move' is not possible with pop3"));
	assert_int_equal(d.n, 2);
	diag_free(&d);
	free(path);
	path = write_file("smtp-user.yaml",
	    "smtp: {url: 'smtp://h', from: a@b, user: u}\n");
	assert_null(conf_load(path, &d));
	assert_true(has_diag(&d, 1, 42, "'user' needs a 'password'"));
	diag_free(&d);
	free(path);
	free(rp);
}

static void
test_duration(void **st)
{
	unsigned	 s;

	(void)st;
	assert_int_equal(conf_parse_duration("30s", &s), 0);
	assert_int_equal(s, 30);
	assert_int_equal(conf_parse_duration("5m", &s), 0);
	assert_int_equal(s, 300);
	assert_int_equal(conf_parse_duration("2h", &s), 0);
	assert_int_equal(s, 7200);
	assert_int_equal(conf_parse_duration("7d", &s), 0);
	assert_int_equal(s, 7 * 86400);
	assert_int_equal(conf_parse_duration("45", &s), 0);
	assert_int_equal(s, 45);
	assert_int_equal(conf_parse_duration("", &s), -1);
	assert_int_equal(conf_parse_duration("5x", &s), -1);
	assert_int_equal(conf_parse_duration("5mm", &s), -1);
	assert_int_equal(conf_parse_duration("-5", &s), -1);
	assert_int_equal(conf_parse_duration("99999999999d", &s), -1);
}

static void
test_secrets(void **st)
{
	struct secret	 s;
	char		*out = NULL, *cause = NULL, *path;
	char		 p1[] = "printf", p2[] = "tok3n\\nsecond\\n";
	char		 f1[] = "false", n1[] = "/nonexistent/facteur-cmd";
	char		 lit[] = "lit", var[] = "FACTEUR_TEST_SECRET";
	char		*argv_ok[] = { p1, p2, NULL };
	char		*argv_bad[] = { f1, NULL };
	char		*argv_none[] = { n1, NULL };

	(void)st;
	memset(&s, 0, sizeof s);
	s.kind = SECRET_LITERAL;
	s.value = lit;
	assert_int_equal(secret_get(&s, &out, &cause), 0);
	assert_string_equal(out, "lit");
	free(out);
	s.kind = SECRET_ENV;
	s.value = var;
	setenv("FACTEUR_TEST_SECRET", "fromenv", 1);
	assert_int_equal(secret_get(&s, &out, &cause), 0);
	assert_string_equal(out, "fromenv");
	free(out);
	unsetenv("FACTEUR_TEST_SECRET");
	assert_int_equal(secret_get(&s, &out, &cause), -1);
	assert_non_null(strstr(cause, "FACTEUR_TEST_SECRET"));
	free(cause);
	path = write_file("pw", "filepw\n");
	s.kind = SECRET_FILE;
	s.value = path;
	assert_int_equal(secret_get(&s, &out, &cause), 0);
	assert_string_equal(out, "filepw");
	free(out);
	free(path);
	s.kind = SECRET_COMMAND;
	s.argv = argv_ok;
	assert_int_equal(secret_get(&s, &out, &cause), 0);
	assert_string_equal(out, "tok3n");
	free(out);
	s.argv = argv_bad;
	assert_int_equal(secret_get(&s, &out, &cause), -1);
	assert_non_null(strstr(cause, "failed"));
	free(cause);
	s.argv = argv_none;
	assert_int_equal(secret_get(&s, &out, &cause), -1);
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_default_state),
		cmocka_unit_test(test_retry_liveness),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bad_yaml),
		cmocka_unit_test(test_rules_fit),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_secrets),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
