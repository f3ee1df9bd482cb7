/*
 * Overflow-checked allocation. Every function here either succeeds or calls
 * fatal(): out of memory is the one error facteur does not try to survive.
 * The caller owns what is returned and frees it with free().
 */
#ifndef FACTEUR_XMALLOC_H
#define FACTEUR_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
char	*xvasprintf(const char *, va_list) __attribute__((format(printf, 1, 0)));

/* Broken invariant or out of memory: log and abort. */
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * A growing byte buffer with a hard cap. buf_add() fails (-1) rather than
 * grow past cap; the data is always NUL-terminated for convenience.
 */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 size;
	size_t	 cap;
};

void	 buf_init(struct buf *, size_t cap);
int	 buf_add(struct buf *, const void *, size_t);
int	 buf_addstr(struct buf *, const char *);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_reset(struct buf *);
/* Hand the data to the caller (who frees it) and reset the buffer. */
char	*buf_steal(struct buf *, size_t *);
void	 buf_free(struct buf *);
/*
 * Drop the first *off bytes (set to 0), keeping the rest NUL-terminated;
 * then, if the buffer grew past keep bytes and holds less than half of
 * that, give the rest back.
 */
void	 buf_consume(struct buf *, size_t *off, size_t keep);

#endif
