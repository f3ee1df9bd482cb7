/*
 * Matches run on any thread (prep.c evaluates on threads of their own):
 * each thread has its own match context, JIT stack and match data, made on
 * first use and kept, rather than one allocation per match; patterns are
 * shared and read only.
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
	uint32_t	  pairs;	/* capturing groups + 1 */
	bool		  jit;
	char		**names;
	size_t		  nnames;
};

/* A thread's own: made on its first match, freed by match_thread_end(). */
struct match_thread {
	pcre2_match_context	*mctx;
	pcre2_jit_stack		*jit_stack;
	pcre2_match_data	*md;
	uint32_t		 pairs;		/* md's */
	unsigned		 gen;		/* of the limits in mctx */
};

static _Thread_local struct match_thread mt;
/* Set while no match runs (config load); gen tells threads to update. */
static unsigned			 limit_match = MATCH_LIMIT_DEFAULT;
static unsigned			 limit_depth = DEPTH_LIMIT_DEFAULT;
static unsigned			 limits_gen = 1;

static pcre2_match_context	*match_context(void);
static pcre2_match_data		*match_data(uint32_t);
static void			 collect_names(struct match *);
static void			 push_captures(const struct match *,
				     const char *, pcre2_match_data *,
				     struct match_vars *);

static pcre2_match_context *
match_context(void)
{
	unsigned	 gen;

	if (mt.mctx == NULL) {
		if ((mt.mctx = pcre2_match_context_create(NULL)) == NULL)
			fatal("pcre2: cannot create a match context");
		mt.jit_stack = pcre2_jit_stack_create(JIT_STACK_MIN,
		    JIT_STACK_MAX, NULL);
		if (mt.jit_stack != NULL)
			pcre2_jit_stack_assign(mt.mctx, NULL, mt.jit_stack);
		pcre2_set_heap_limit(mt.mctx, HEAP_LIMIT_KIB);
	}
	gen = __atomic_load_n(&limits_gen, __ATOMIC_ACQUIRE);
	if (mt.gen != gen) {
		pcre2_set_match_limit(mt.mctx, limit_match);
		pcre2_set_depth_limit(mt.mctx, limit_depth);
		mt.gen = gen;
	}
	return mt.mctx;
}

/* The thread's match data, with room for at least pairs. */
static pcre2_match_data *
match_data(uint32_t pairs)
{
	if (mt.md == NULL || mt.pairs < pairs) {
		pcre2_match_data_free(mt.md);
		if (pairs < 16)
			pairs = 16;
		if ((mt.md = pcre2_match_data_create(pairs, NULL)) == NULL)
			fatal("pcre2: out of memory");
		mt.pairs = pairs;
	}
	return mt.md;
}

void
match_thread_end(void)
{
	pcre2_match_data_free(mt.md);
	pcre2_jit_stack_free(mt.jit_stack);
	pcre2_match_context_free(mt.mctx);
	memset(&mt, 0, sizeof mt);
}

void
match_set_limits(unsigned match_limit, unsigned depth_limit)
{
	if (match_limit != 0)
		limit_match = match_limit;
	if (depth_limit != 0)
		limit_depth = depth_limit;
	__atomic_add_fetch(&limits_gen, 1, __ATOMIC_RELEASE);
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
	pcre2_pattern_info(m->code, PCRE2_INFO_CAPTURECOUNT, &m->pairs);
	m->pairs++;
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
	pcre2_match_data	*md = match_data(m->pairs);
	int			 rc;

	rc = pcre2_match(m->code, (PCRE2_SPTR)subject, len, 0, 0, md,
	    match_context());
	if (rc >= 0 && vars != NULL)
		push_captures(m, subject, md, vars);
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
