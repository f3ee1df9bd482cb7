/*
 * The baseline bench/rules.sh compares facteur with: the benchmark's rules
 * (rules.tsv) as plain PCRE2 patterns (caseless, UTF, JIT) over the raw
 * bytes of each message, first match wins. A header rule is tried on the
 * raw value of each field of that name in the header section (folded
 * lines kept as they are, nothing decoded); a body rule on the raw bytes
 * after the header section (no MIME, no transfer decoding, no HTML).
 *
 * usage: pcre2-scan [-v] RULES.tsv MSG...
 * Prints "messages bytes matched"; -v prints "FILE\tID" per message too
 * ("-" when no rule matched).
 */
#define _GNU_SOURCE
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RULES	256

struct scan_rule {
	char		*id;
	char		*field;		/* NULL: body */
	pcre2_code	*code;
};

static struct scan_rule	 rules[MAX_RULES];
static size_t		 nrules;
static pcre2_match_data	*md;
static pcre2_match_context *mctx;

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "pcre2-scan: %s: %s\n", what, why);
	exit(1);
}

static void
load_rules(const char *path)
{
	FILE		*f;
	char		 line[8192], *id, *field, *pat, *save;
	PCRE2_UCHAR	 msg[256];
	PCRE2_SIZE	 off;
	int		 err;

	if ((f = fopen(path, "r")) == NULL)
		die(path, "cannot open");
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		id = strtok_r(line, "\t", &save);
		field = strtok_r(NULL, "\t", &save);
		pat = strtok_r(NULL, "\t", &save);
		if (id == NULL || field == NULL || pat == NULL)
			die(path, "a row needs id, field and pattern");
		if (nrules == MAX_RULES)
			die(path, "too many rules");
		rules[nrules].id = strdup(id);
		rules[nrules].field = strcasecmp(field, "body") == 0 ? NULL :
		    strdup(field);
		rules[nrules].code = pcre2_compile((PCRE2_SPTR)pat,
		    PCRE2_ZERO_TERMINATED, PCRE2_CASELESS | PCRE2_UTF |
		    PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
		if (rules[nrules].code == NULL) {
			pcre2_get_error_message(err, msg, sizeof msg);
			die(pat, (char *)msg);
		}
		if (pcre2_jit_compile(rules[nrules].code, PCRE2_JIT_COMPLETE))
			die(pat, "no JIT");
		nrules++;
	}
	fclose(f);
}

static int
try(const struct scan_rule *r, const char *s, size_t len)
{
	return pcre2_jit_match(r->code, (PCRE2_SPTR)s, len, 0, 0, md,
	    mctx) >= 0;
}

/* Each field named name in the header section [p, end): its raw value. */
static int
try_header(const struct scan_rule *r, const char *p, const char *end)
{
	size_t		 nlen = strlen(r->field);
	const char	*eol, *v;

	while (p < end) {
		eol = p;
		/* The field runs to a newline not followed by white space. */
		while ((eol = memchr(eol, '\n', end - eol)) != NULL &&
		    eol + 1 < end && (eol[1] == ' ' || eol[1] == '\t'))
			eol++;
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, r->field, nlen) == 0) {
			for (v = p + nlen + 1; v < eol && (*v == ' ' ||
			    *v == '\t'); v++)
				;
			if (try(r, v, eol - v - (eol > v && eol[-1] == '\r')))
				return 1;
		}
		p = eol + 1;
	}
	return 0;
}

static const char *
scan(const char *data, size_t len)
{
	const char	*end = data + len, *body, *hdr_end;
	size_t		 i;

	/* The header section ends at the first empty line, LF or CRLF. */
	for (body = data; (body = memchr(body, '\n', end - body)) != NULL;
	    body++) {
		if (body + 1 < end && body[1] == '\n') {
			hdr_end = body + 1;
			body += 2;
			break;
		}
		if (body + 2 < end && body[1] == '\r' && body[2] == '\n') {
			hdr_end = body + 1;
			body += 3;
			break;
		}
	}
	if (body == NULL)
		hdr_end = body = end;
	for (i = 0; i < nrules; i++) {
		if (rules[i].field == NULL ? try(&rules[i], body, end - body) :
		    try_header(&rules[i], data, hdr_end))
			return rules[i].id;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	FILE		*f;
	char		*data = NULL;
	const char	*id;
	size_t		 cap = 0, len, n, msgs = 0, bytes = 0;
	size_t		 matched = 0;
	int		 i = 1, verbose = 0;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		i++;
	}
	if (argc - i < 1)
		die("usage", "pcre2-scan [-v] RULES.tsv MSG...");
	load_rules(argv[i++]);
	md = pcre2_match_data_create(1, NULL);
	mctx = pcre2_match_context_create(NULL);
	pcre2_jit_stack_assign(mctx, NULL,
	    pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL));
	for (; i < argc; i++) {
		if ((f = fopen(argv[i], "rb")) == NULL)
			die(argv[i], "cannot open");
		len = 0;
		for (;;) {
			if (len == cap && (data = realloc(data,
			    cap = cap ? cap * 2 : 1 << 20)) == NULL)
				die(argv[i], "out of memory");
			if ((n = fread(data + len, 1, cap - len, f)) == 0)
				break;
			len += n;
		}
		fclose(f);
		id = scan(data, len);
		msgs++;
		bytes += len;
		matched += id != NULL;
		if (verbose)
			printf("%s\t%s\n", argv[i], id != NULL ? id : "-");
	}
	printf("%zu %zu %zu\n", msgs, bytes, matched);
	free(data);
	return 0;
}
