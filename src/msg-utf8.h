/*
 * Text conversions shared by the message module: anything to valid UTF-8.
 */
#ifndef FACTEUR_MSG_UTF8_H
#define FACTEUR_MSG_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A copy of s (len bytes, NULs allowed) that is valid UTF-8: each byte that
 * does not start a valid sequence, and each NUL, becomes U+FFFD. The caller
 * frees the result.
 */
char	*msg_utf8_sanitize(const char *s, size_t len);

/* Is s valid UTF-8 without NULs (as g_utf8_validate_len() says)? */
bool	 msg_utf8_valid(const char *s, size_t len);

/*
 * Convert len bytes in charset to UTF-8 with iconv; a byte iconv rejects
 * becomes U+FFFD. Returns NULL (and converts nothing) when iconv does not
 * know the charset. The caller frees the result; *bad counts replacements.
 */
char	*msg_utf8_convert(const char *s, size_t len, const char *charset,
	    size_t *bad);

/* Cut s in place to at most max bytes, on a UTF-8 character boundary. */
void	 msg_utf8_truncate(char *s, size_t max);

#endif
