/*
 * libFuzzer target for the rule loader: arbitrary bytes as a rule file,
 * loaded with ruleset_load() (errors are expected and fine; crashes, leaks
 * and undefined behaviour are not). A rule set that loads is evaluated
 * against a small message, with and without the explanation, so that the
 * conditions, captures and action templates run too. Built and run by
 * tests/fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "match.h"
#include "msg.h"
#include "rule.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char message[] =
    "From: Alice <alice@example.test>\r\n"
    "To: bot@example.test, Bob <bob@example.test>\r\n"
    "Cc: legal@example.test\r\n"
    "Subject: =?UTF-8?B?T3JkZXIgIzEyMzQ1Ng==?= urgent\r\n"
    "Message-ID: <1@example.test>\r\n"
    "List-Id: <dev.lists.example.test>\r\n"
    "Auto-Submitted: auto-generated\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Total: 12.50 EUR, tracking number AB12345678CD.\r\n"
    "--b\r\n"
    "Content-Type: application/pdf; name=invoice.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--b--\r\n";

static char	path[64];

static void
remove_file(void)
{
	unlink(path);
}

static void
setup(void)
{
	int	 fd;

	msg_library_init();
	/* Low limits: a pathological pattern ends quickly, as a limit. */
	match_set_limits(10000, 200);
	snprintf(path, sizeof path, "/tmp/fuzz_rules.XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		abort();
	close(fd);
	atexit(remove_file);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 ready;
	const char		*files[1];
	struct eval_ctx		 ctx = { "fuzz", NULL, 0 };
	struct diag		 d;
	struct ruleset		*rs;
	struct msg		*m;
	struct buf		 explain;
	json_t			*plan;
	FILE			*f;

	if (!ready) {
		setup();
		ready = 1;
	}
	if ((f = fopen(path, "wb")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	files[0] = path;
	diag_init(&d);
	rs = ruleset_load(files, 1, &d);
	diag_free(&d);
	if (rs == NULL)
		return 0;
	m = msg_new(message, sizeof message - 1, NULL);
	plan = ruleset_eval(rs, m, &ctx, NULL);
	json_decref(plan);
	buf_init(&explain, 1024 * 1024);
	plan = ruleset_eval(rs, m, &ctx, &explain);
	json_decref(plan);
	buf_free(&explain);
	msg_free(m);
	ruleset_free(rs);
	return 0;
}
