/*
 * One match context and one JIT stack serve every match: facteur evaluates
 * one message at a time (ruleset_eval holds a lock; the evaluation may run
 * on prep.c's thread). Both are made on first use. For the same reason each
 * pattern keeps its match data, made when it is compiled, rather than one
 * allocation per match.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "match.h"
#include "xmalloc.h"

#define MATCH_LIMIT_DEFAULT	1000000
#define DEPTH_LIMIT_DEFAULT	5000
#define HEAP_LIMIT_KIB		(64 * 1024)
#define JIT_STACK_MIN		(32 * 1024)
#define JIT_STACK_MAX		(1024 * 1024)

struct match {
	char		 *pattern;
	pcre2_code	 *code;
	pcre2_match_data *md;		/* reused by every match */
	bool		  jit;
	char		**names;
	size_t		  nnames;
};

static pcre2_match_context	*mctx;
static pcre2_jit_stack		*jit_stack;
static unsigned			 limit_match = MATCH_LIMIT_DEFAULT;
static unsigned			 limit_depth = DEPTH_LIMIT_DEFAULT;

static pcre2_match_context	*match_context(void);
static void			 collect_names(struct match *);
static void			 push_captures(const struct match *,
				     const char *, pcre2_match_data *,
				     struct match_vars *);

static pcre2_match_context *
match_context(void)
{
	if (mctx != NULL)
		return mctx;
	if ((mctx = pcre2_match_context_create(NULL)) == NULL)
		fatal("pcre2: cannot create a match context");
	jit_stack = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
	if (jit_stack != NULL)
		pcre2_jit_stack_assign(mctx, NULL, jit_stack);
	pcre2_set_match_limit(mctx, limit_match);
	pcre2_set_depth_limit(mctx, limit_depth);
	pcre2_set_heap_limit(mctx, HEAP_LIMIT_KIB);
	return mctx;
}

void
match_set_limits(unsigned match_limit, unsigned depth_limit)
{
	if (match_limit != 0)
		limit_match = match_limit;
	if (depth_limit != 0)
		limit_depth = depth_limit;
	pcre2_set_match_limit(match_context(), limit_match);
	pcre2_set_depth_limit(match_context(), limit_depth);
}

struct match *
match_compile(const char *pattern, char **cause, size_t *erroff)
{
	struct match	*m;
	PCRE2_UCHAR	 text[256];
	PCRE2_SIZE	 off = 0;
	int		 err;
	uint32_t	 opts = PCRE2_UTF | PCRE2_CASELESS |
			     PCRE2_MATCH_INVALID_UTF;

	*erroff = 0;
	if (strlen(pattern) > MATCH_MAX_PATTERN) {
		*cause = xasprintf("pattern longer than %d bytes",
		    MATCH_MAX_PATTERN);
		return NULL;
	}
	m = xcalloc(1, sizeof *m);
	m->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	    opts, &err, &off, NULL);
	if (m->code == NULL) {
		pcre2_get_error_message(err, text, sizeof text);
		*cause = xasprintf("bad pattern: %s", (char *)text);
		*erroff = off;
		free(m);
		return NULL;
	}
	m->pattern = xstrdup(pattern);
	m->jit = pcre2_jit_compile(m->code, PCRE2_JIT_COMPLETE) == 0;
	if ((m->md = pcre2_match_data_create_from_pattern(m->code, NULL)) ==
	    NULL)
		fatal("pcre2: out of memory");
	collect_names(m);
	return m;
}

static void
collect_names(struct match *m)
{
	uint32_t	 count = 0, size = 0, i;
	PCRE2_SPTR	 table;

	pcre2_pattern_info(m->code, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(m->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(m->code, PCRE2_INFO_NAMETABLE, &table);
	m->names = xcalloc(count, sizeof *m->names);
	for (i = 0; i < count; i++)
		m->names[m->nnames++] = xstrdup((const char *)table +
		    (size_t)i * size + 2);
}

void
match_free(struct match *m)
{
	size_t	 i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nnames; i++)
		free(m->names[i]);
	free(m->names);
	pcre2_match_data_free(m->md);
	pcre2_code_free(m->code);
	free(m->pattern);
	free(m);
}

const char *
match_pattern(const struct match *m)
{
	return m->pattern;
}

size_t
match_name_count(const struct match *m)
{
	return m->nnames;
}

const char *
match_name(const struct match *m, size_t i)
{
	return i < m->nnames ? m->names[i] : NULL;
}

enum match_result
match_exec(const struct match *m, const char *subject, size_t len,
    struct match_vars *vars, const char **why)
{
	int	 rc;

	rc = pcre2_match(m->code, (PCRE2_SPTR)subject, len, 0, 0, m->md,
	    match_context());
	if (rc >= 0 && vars != NULL)
		push_captures(m, subject, m->md, vars);
	if (rc >= 0)
		return MATCH_YES;
	if (rc == PCRE2_ERROR_NOMATCH)
		return MATCH_NO;
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT) {
		if (why != NULL)
			*why = "pattern hit the match limit";
		return MATCH_LIMIT;
	}
	if (why != NULL)
		*why = "pattern could not run on this text";
	return MATCH_ERROR;
}

static void
push_captures(const struct match *m, const char *subject,
    pcre2_match_data *md, struct match_vars *vars)
{
	PCRE2_SIZE	*ov = pcre2_get_ovector_pointer(md);
	uint32_t	 nov = pcre2_get_ovector_count(md);
	int		 group;
	size_t		 i;

	for (i = 0; i < m->nnames; i++) {
		group = pcre2_substring_number_from_name(m->code,
		    (PCRE2_SPTR)m->names[i]);
		if (group < 0 || (uint32_t)group >= nov ||
		    ov[2 * group] == PCRE2_UNSET)
			continue;
		match_vars_push(vars, m->names[i], subject + ov[2 * group],
		    ov[2 * group + 1] - ov[2 * group]);
	}
}

void
match_vars_init(struct match_vars *v)
{
	memset(v, 0, sizeof *v);
}

void
match_vars_push(struct match_vars *v, const char *name, const char *value,
    size_t len)
{
	v->names = xreallocarray(v->names, v->n + 1, sizeof *v->names);
	v->values = xreallocarray(v->values, v->n + 1, sizeof *v->values);
	v->names[v->n] = xstrdup(name);
	v->values[v->n] = xstrndup(value, len);
	v->n++;
}

void
match_vars_truncate(struct match_vars *v, size_t n)
{
	while (v->n > n) {
		v->n--;
		free(v->names[v->n]);
		free(v->values[v->n]);
	}
}

const char *
match_vars_get(const struct match_vars *v, const char *name)
{
	size_t	 i;

	for (i = v->n; i > 0; i--) {
		if (strcmp(v->names[i - 1], name) == 0)
			return v->values[i - 1];
	}
	return NULL;
}

void
match_vars_free(struct match_vars *v)
{
	match_vars_truncate(v, 0);
	free(v->names);
	free(v->values);
	match_vars_init(v);
}
