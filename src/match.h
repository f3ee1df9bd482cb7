/*
 * PCRE2 patterns as rules use them: compiled once, JIT when available, in
 * UTF mode, and CASE-INSENSITIVE BY DEFAULT (as Sieve's default comparator
 * and Gmail filters are); a pattern starting with (?-i) is case-sensitive.
 * Every match runs under a match limit, a depth limit, a heap limit and a
 * bounded JIT stack: a pathological pattern or message gives MATCH_LIMIT,
 * which callers count as no match and log.
 */
#ifndef FACTEUR_MATCH_H
#define FACTEUR_MATCH_H

#include <stddef.h>

struct match;

enum match_result {
	MATCH_NO,
	MATCH_YES,
	MATCH_LIMIT,		/* a resource limit was hit: counts as no */
	MATCH_ERROR		/* any other PCRE2 error: counts as no */
};

/* Named captures collected while matching: a stack of name = value. */
struct match_vars {
	char	**names;
	char	**values;
	size_t	  n;
};

#define MATCH_MAX_PATTERN	4096

/*
 * Compile pattern. On error returns NULL with *cause (caller frees) and
 * *erroff, the byte offset in the pattern where PCRE2 stopped.
 */
struct match	*match_compile(const char *pattern, char **cause,
		     size_t *erroff);
void		 match_free(struct match *);
const char	*match_pattern(const struct match *);
/* The names of the pattern's named groups. */
size_t		 match_name_count(const struct match *);
const char	*match_name(const struct match *, size_t);

/*
 * Match subject; on MATCH_YES each named group that took part is pushed on
 * vars (when vars is not NULL). *why (may be NULL) gets a static text for
 * MATCH_LIMIT and MATCH_ERROR.
 */
enum match_result match_exec(const struct match *, const char *subject,
		     size_t len, struct match_vars *vars, const char **why);

/* Limits for every later match (0 keeps the current value). */
void		 match_set_limits(unsigned match_limit, unsigned depth_limit);
/* Before a thread that matched ends: free its match context and data. */
void		 match_thread_end(void);

void		 match_vars_init(struct match_vars *);
void		 match_vars_push(struct match_vars *, const char *name,
		     const char *value, size_t len);
/* Drop everything pushed after the first n. */
void		 match_vars_truncate(struct match_vars *, size_t n);
/* The latest value for name, or NULL. */
const char	*match_vars_get(const struct match_vars *, const char *name);
void		 match_vars_free(struct match_vars *);

#endif
