/*
 * Anything to valid UTF-8. Every string the message module hands out goes
 * through msg_utf8_sanitize() last, so a broken charset or a lying label can
 * at worst produce U+FFFD, never invalid output.
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "msg-utf8.h"
#include "xmalloc.h"

#define REPLACEMENT	"\xef\xbf\xbd"

static char	*utf8_alloc(size_t len);
static int	 convert_step(iconv_t, char **, size_t *, char **, size_t *,
		    size_t *);

/* Room for len input bytes each turning into U+FFFD (3 bytes), plus NUL. */
static char *
utf8_alloc(size_t len)
{
	if (len > (SIZE_MAX - 8) / 3)
		fatal("utf8: string too long");
	return xmalloc(len * 3 + 8);
}

/*
 * As g_utf8_validate_len(): valid UTF-8 without NULs. Runs of 7-bit text
 * are checked eight bytes at a time first.
 */
bool
msg_utf8_valid(const char *s, size_t len)
{
	const uint64_t	 high = UINT64_C(0x8080808080808080);
	const uint64_t	 ones = UINT64_C(0x0101010101010101);
	uint64_t	 w;
	size_t		 i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		if ((w & high) != 0 || ((w - ones) & ~w & high) != 0)
			break;
	}
	return g_utf8_validate_len(s + i, len - i, NULL);
}

char *
msg_utf8_sanitize(const char *s, size_t len)
{
	char		*out, *o;
	const gchar	*end;

	if (msg_utf8_valid(s, len)) {
		/* Room after the NUL: PCRE2's JIT reads 16 bytes at a time. */
		if (len > SIZE_MAX - 17)
			fatal("utf8: string too long");
		out = xmalloc(len + 17);
		memcpy(out, s, len);
		out[len] = '\0';
		return out;
	}
	out = o = utf8_alloc(len);
	while (len > 0) {
		if (g_utf8_validate_len(s, len, &end)) {
			memcpy(o, s, len);
			o += len;
			break;
		}
		memcpy(o, s, (size_t)(end - s));
		o += end - s;
		memcpy(o, REPLACEMENT, 3);
		o += 3;
		len -= (size_t)(end - s) + 1;
		s = end + 1;
	}
	*o = '\0';
	return out;
}

/*
 * One iconv call; on a byte it rejects, write U+FFFD and skip the byte.
 * Returns 1 when all input is consumed, 0 to call again.
 */
static int
convert_step(iconv_t cd, char **in, size_t *inleft, char **out,
    size_t *outleft, size_t *bad)
{
	if (iconv(cd, in, inleft, out, outleft) != (size_t)-1)
		return 1;
	if (errno == E2BIG)
		return 1;
	/* EILSEQ or EINVAL (truncated sequence at the end). */
	if (*outleft < 3)
		return 1;
	memcpy(*out, REPLACEMENT, 3);
	*out += 3;
	*outleft -= 3;
	(*in)++;
	(*inleft)--;
	(*bad)++;
	iconv(cd, NULL, NULL, NULL, NULL);
	return *inleft == 0;
}

char *
msg_utf8_convert(const char *s, size_t len, const char *charset, size_t *bad)
{
	iconv_t	 cd;
	char	*out, *o, *in, *sane;
	size_t	 inleft, outleft, size;

	*bad = 0;
	if ((cd = iconv_open("UTF-8", charset)) == (iconv_t)-1)
		return NULL;
	/* UTF-16 and CJK can grow up to 4 times; a cap keeps this bounded. */
	if (len > (SIZE_MAX - 16) / 4)
		fatal("utf8: string too long");
	size = len * 4 + 16;
	out = o = xmalloc(size);
	in = (char *)(uintptr_t)s;
	inleft = len;
	outleft = size - 1;
	while (inleft > 0 && !convert_step(cd, &in, &inleft, &o, &outleft, bad))
		continue;
	iconv(cd, NULL, NULL, &o, &outleft);
	iconv_close(cd);
	*o = '\0';
	/* iconv's UTF-8 is valid, but NULs from UTF-16 must still go. */
	sane = msg_utf8_sanitize(out, (size_t)(o - out));
	free(out);
	return sane;
}

void
msg_utf8_truncate(char *s, size_t max)
{
	size_t	 len;

	len = strlen(s);
	if (len <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = '\0';
}
