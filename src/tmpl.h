/*
 * Templates: text with {{name}} placeholders (spaces allowed inside the
 * braces). Names are letters, digits, '_', '.' and '-'. Compiling checks
 * the syntax only; the caller checks each name (tmpl_var()) against what
 * the rule can see, so an unknown name is a load-time error.
 *
 * Rendering makes every value safe for where it goes:
 *   TMPL_TEXT    as is (a message body)
 *   TMPL_HEADER  CR, LF and other control characters become spaces; the
 *                result stays UTF-8 (tmpl_header_encode() gives RFC 2047
 *                when the message is composed)
 *   TMPL_JSON    values escaped as the inside of a JSON string
 *   TMPL_URL     values percent-encoded
 * An argv element is rendered in TMPL_TEXT: a value becomes part of one
 * element, never split and never seen by a shell.
 */
#ifndef FACTEUR_TMPL_H
#define FACTEUR_TMPL_H

#include <stdbool.h>
#include <stddef.h>

struct tmpl;

enum tmpl_mode {
	TMPL_TEXT,
	TMPL_HEADER,
	TMPL_JSON,
	TMPL_URL
};

/* Rendered output is capped; past it the text is cut. */
#define TMPL_MAX_OUTPUT	(16u * 1024 * 1024)

/* NULL on a syntax error, with *cause and the byte offset *erroff. */
struct tmpl	*tmpl_compile(const char *src, char **cause, size_t *erroff);
void		 tmpl_free(struct tmpl *);
const char	*tmpl_source(const struct tmpl *);
/* True when there is no placeholder at all. */
bool		 tmpl_is_literal(const struct tmpl *);
/* The placeholders, in order, with the byte offset of their "{{". */
size_t		 tmpl_var_count(const struct tmpl *);
const char	*tmpl_var(const struct tmpl *, size_t, size_t *off);

/*
 * Render. lookup returns a name's value, or NULL for "" (it must not
 * fail: names were checked at load). The result is allocated.
 */
char		*tmpl_render(const struct tmpl *, enum tmpl_mode,
		     const char *(*lookup)(const char *, void *), void *arg);

/* CR, LF and control characters to spaces, in a new string. */
char		*tmpl_header_clean(const char *);
/* RFC 2047 encoding for a header value when it is not ASCII. */
char		*tmpl_header_encode(const char *utf8);

#endif
