/*
 * A header block split into fields without building anything: each field
 * is a name and a raw value pointing into the block. The rules are GMime's
 * (its parser's field scan), so that the fields found here are the ones
 * GMime would find: a field runs from a line that starts with a name and a
 * colon to the next line that does not start with a blank; the name may be
 * followed by blanks before the colon; the raw value is everything after
 * the colon up to the end of the field's last line, line break included.
 *
 * A line that does not start with a name and a colon (after a first field)
 * is a field GMime drops: it is returned marked invalid, its text as its
 * value. What GMime treats in other ways (a first line that is not a
 * field, a NUL, a block without its blank line) is not decided here:
 * msg_head_split() says it is unsure, and the caller uses GMime's own
 * parser for that block.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "msg-private.h"
#include "xmalloc.h"

static int	 field_name(const char *, size_t, size_t *);
static bool	 is_atext(unsigned char);
static size_t	 skip_blanks(const char *, size_t, size_t);
static size_t	 addr_spec(const char *, size_t, size_t);
static size_t	 phrase_word(const char *, size_t, size_t);
static size_t	 comment(const char *, size_t, size_t);

/*
 * The length of the name at the start of a line of len bytes, its colon at
 * *colon; -1 when the line does not start with a plain name and a colon.
 */
static int
field_name(const char *p, size_t len, size_t *colon)
{
	size_t	 i, name = 0;
	bool	 blank = false;

	for (i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)p[i];

		if (c == ':')
			break;
		if (c == ' ' || c == '\t') {
			if (i == 0)
				return -1;
			blank = true;
			continue;
		}
		if (blank || c < 32 || c == 127)
			return -1;
		name = i + 1;
	}
	if (i == len || name == 0)
		return -1;
	*colon = i;
	return (int)name;
}

int
msg_head_split(const char *p, size_t len, struct msg_field **out, size_t *n)
{
	struct msg_field	*f = NULL;
	size_t			 nf = 0, size = 0, pos = 0, colon, line;
	const char		*nl;
	int			 name;

	*out = NULL;
	*n = 0;
	if (memchr(p, '\0', len) != NULL)
		return -1;
	for (;;) {
		if (pos >= len || (nl = memchr(p + pos, '\n', len - pos)) == NULL)
			goto unsure;	/* no blank line: GMime decides */
		line = (size_t)(nl - (p + pos));
		if (line == 0 || (line == 1 && p[pos] == '\r'))
			break;		/* the blank line */
		if (p[pos] == ' ' || p[pos] == '\t') {
			if (nf == 0)
				goto unsure;
			f[nf - 1].value_len = (size_t)(nl + 1 -
			    f[nf - 1].value);
			pos += line + 1;
			continue;
		}
		if (p[pos] == ':')
			goto unsure;	/* GMime keeps it, nameless */
		name = field_name(p + pos, line, &colon);
		if (name < 0 && nf == 0)
			goto unsure;	/* GMime gives up on the block */
		if (nf == size) {
			size = size == 0 ? 32 : size * 2;
			f = xreallocarray(f, size, sizeof *f);
		}
		f[nf].name = p + pos;
		f[nf].offset = pos;
		f[nf].invalid = name < 0;
		if (name < 0) {
			/* GMime drops it, with its whole text as the reason. */
			f[nf].name_len = 0;
			f[nf].value = p + pos;
			f[nf].value_len = line + 1;
		} else {
			f[nf].name_len = (size_t)name;
			f[nf].value = p + pos + colon + 1;
			f[nf].value_len = line - colon;
		}
		nf++;
		pos += line + 1;
	}
	*out = f;
	*n = nf;
	return 0;
unsure:
	free(f);
	return -1;
}

/*
 * As g_mime_utils_header_unfold(): blanks and line breaks off both ends,
 * every CR and LF inside dropped. dst has room for len + 1 bytes.
 */
size_t
msg_head_unfold(const char *v, size_t len, char *dst)
{
	size_t	 i, o = 0;

	while (len > 0 && (*v == ' ' || *v == '\t' || *v == '\r' ||
	    *v == '\n')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t' ||
	    v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	for (i = 0; i < len; i++) {
		if (v[i] != '\r' && v[i] != '\n')
			dst[o++] = v[i];
	}
	dst[o] = '\0';
	return o;
}

/* Is the field called name (any case)? */
bool
msg_field_is(const struct msg_field *f, const char *name)
{
	size_t	 n = strlen(name);

	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~",
	    c) != NULL;
}

static size_t
skip_blanks(const char *v, size_t i, size_t len)
{
	while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' ||
	    v[i] == '\n'))
		i++;
	return i;
}

/* local@domain at i, dot-atoms only; the index after it, or 0. */
static size_t
addr_spec(const char *v, size_t i, size_t len)
{
	size_t	 start;

	for (;;) {
		start = i;
		while (i < len && is_atext((unsigned char)v[i]))
			i++;
		if (i == start)
			return 0;
		if (i < len && v[i] == '.') {
			i++;
			continue;
		}
		break;
	}
	if (i == len || v[i] != '@')
		return 0;
	i++;
	for (;;) {
		start = i;
		while (i < len && (isalnum((unsigned char)v[i]) ||
		    v[i] == '-'))
			i++;
		if (i == start)
			return 0;
		if (i < len && v[i] == '.') {
			i++;
			continue;
		}
		return i;
	}
}

/*
 * A word of a display name: atoms (dots allowed), a quoted string, or one
 * well-formed RFC 2047 word of B or Q text.
 */
static size_t
phrase_word(const char *v, size_t i, size_t len)
{
	size_t	 start = i, q = 0;

	if (i < len && v[i] == '"') {
		for (i++; i < len && v[i] != '"'; i++) {
			if (v[i] == '\\' || (unsigned char)v[i] < 32 ||
			    (unsigned char)v[i] >= 127)
				return 0;
		}
		return i < len ? i + 1 : 0;
	}
	if (len - i > 2 && v[i] == '=' && v[i + 1] == '?') {
		for (i += 2; i < len && v[i] > 32 && v[i] < 127; i++) {
			if (v[i] == '?' && ++q == 3)
				break;
			if (q == 2 && v[i] == '?' && (v[i - 2] != '?' ||
			    strchr("BbQq", v[i - 1]) == NULL))
				return 0;
		}
		if (q != 3 || i + 1 >= len || v[i + 1] != '=')
			return 0;
		i += 2;
		return i == len || v[i] == ' ' || v[i] == '\t' ||
		    v[i] == '\r' || v[i] == '\n' || v[i] == '<' ? i : 0;
	}
	while (i < len && (is_atext((unsigned char)v[i]) || v[i] == '.'))
		i++;
	return i == start ? 0 : i;
}

/* A comment without nesting or quoting: the index after it, or 0. */
static size_t
comment(const char *v, size_t i, size_t len)
{
	for (i++; i < len && v[i] != ')'; i++) {
		if (v[i] == '(' || v[i] == '\\' || (unsigned char)v[i] < 32 ||
		    (unsigned char)v[i] >= 127)
			return 0;
	}
	return i < len ? i + 1 : 0;
}

/*
 * Is the raw value of an address field a plain list (a@b.c, Name <a@b.c>,
 * "Name" <a@b.c>, separated by commas), in 7-bit text, that GMime's
 * address parser reads without a warning? false when in doubt.
 */
bool
msg_addr_simple(const char *v, size_t len)
{
	size_t	 i = skip_blanks(v, 0, len), next;

	if (i == len)
		return false;
	for (;;) {
		if ((next = addr_spec(v, i, len)) != 0) {
			i = next;
		} else {
			while (i < len && v[i] != '<') {
				if ((next = phrase_word(v, i, len)) == 0)
					return false;
				i = skip_blanks(v, next, len);
			}
			if (i == len)
				return false;
			i = skip_blanks(v, i + 1, len);
			if ((next = addr_spec(v, i, len)) == 0)
				return false;
			i = skip_blanks(v, next, len);
			if (i == len || v[i] != '>')
				return false;
			i++;
		}
		i = skip_blanks(v, i, len);
		if (i < len && v[i] == '(') {
			if ((i = comment(v, i, len)) == 0)
				return false;
			i = skip_blanks(v, i, len);
		}
		if (i == len)
			return true;
		if (v[i] != ',')
			return false;
		i = skip_blanks(v, i + 1, len);
		if (i == len)
			return false;
	}
}
