/*
 * libFuzzer target for templates: arbitrary bytes as template text,
 * compiled, then rendered in every mode (TMPL_TEXT for a body or an argv
 * element, TMPL_HEADER, TMPL_JSON for a webhook body, TMPL_URL) against a
 * known set of variables whose values hold what must be made safe (CR/LF,
 * quotes, backslashes, control characters, UTF-8, invalid UTF-8). Checks
 * what the header mode promises: a template without CR or LF renders
 * without them, and tmpl_header_clean() and tmpl_header_encode() never
 * leave one. Built and run by tests/fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "tmpl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const vars[][2] = {
	{ "subject", "Re: Order #123456 \xc3\xa9t\xc3\xa9" },
	{ "from.address", "alice@example.test" },
	{ "from.name", "Alice \"A\" \\ Liddell" },
	{ "evil", "a\r\nBcc: x@y\t\x01\x7f \"q\" \\ {{subject}}" },
	{ "order", "123456" },
	{ "empty", "" },
	{ "bad", "\xff\xfe half \xe2\x82" },
	{ "body", "line 1\nline 2\r\n\0" },
};

static const char *
lookup(const char *name, void *arg)
{
	size_t	 i;

	(void)arg;
	for (i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		if (strcmp(name, vars[i][0]) == 0)
			return vars[i][1];
	}
	return NULL;	/* any other name renders "" */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum tmpl_mode modes[] = { TMPL_TEXT, TMPL_HEADER,
	    TMPL_JSON, TMPL_URL };
	struct tmpl	*t;
	char		*src, *cause = NULL, *out, *clean, *enc;
	size_t		 i, off = 0;
	static int	 ready;

	/* As the program does: GMime's charset tables need it. */
	if (!ready) {
		g_mime_init();
		ready = 1;
	}
	src = malloc(size + 1);
	if (src == NULL)
		abort();
	memcpy(src, data, size);
	src[size] = '\0';
	t = tmpl_compile(src, &cause, &off);
	if (t == NULL) {
		if (cause == NULL || off > size)
			abort();
		free(cause);
		free(src);
		return 0;
	}
	for (i = 0; i < tmpl_var_count(t); i++) {
		if (tmpl_var(t, i, &off) == NULL || off >= size)
			abort();
	}
	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		out = tmpl_render(t, modes[i], lookup, NULL);
		if (out == NULL)
			abort();
		if (modes[i] == TMPL_HEADER && strpbrk(src, "\r\n") == NULL &&
		    strpbrk(out, "\r\n") != NULL)
			abort();
		clean = tmpl_header_clean(out);
		if (strpbrk(clean, "\r\n") != NULL)
			abort();
		enc = tmpl_header_encode(clean);
		if (strpbrk(enc, "\r\n") != NULL)
			abort();
		free(enc);
		free(clean);
		free(out);
	}
	tmpl_free(t);
	free(src);
	return 0;
}
