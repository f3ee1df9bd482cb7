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
static size_t	 dotted(const char *, size_t, size_t, bool);
static size_t	 addr_spec(const char *, size_t, size_t);
static size_t	 phrase_word(const char *, size_t, size_t);
static size_t	 comment(const char *, size_t, size_t);
static bool	 is_token_char(char);
static size_t	 skip_wsp(const char *, size_t);
static char	*copy_span(char **, const char *, const size_t [2]);
static struct msg_ctype *ctype_plain(const char *);
static struct msg_ctype *ctype_gmime(struct msg *, const char *);

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
	const char	*nl;
	size_t		 i, n, o = 0;

	while (len > 0 && (*v == ' ' || *v == '\t' || *v == '\r' ||
	    *v == '\n')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t' ||
	    v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	while (len > 0) {
		nl = memchr(v, '\n', len);
		n = nl == NULL ? len : (size_t)(nl - v);
		if (memchr(v, '\r', n) == NULL) {
			memcpy(dst + o, v, n);
			o += n;
		} else {
			for (i = 0; i < n; i++) {
				if (v[i] != '\r')
					dst[o++] = v[i];
			}
		}
		if (nl != NULL)
			n++;
		v += n;
		len -= n;
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

/*
 * Words joined by single dots at i: atext words for a local part, letters,
 * digits and '-' for a domain. The index after them, or 0 when a word is
 * empty.
 */
static size_t
dotted(const char *v, size_t i, size_t len, bool domain)
{
	size_t	 start;

	for (;;) {
		start = i;
		while (i < len && (domain ? isalnum((unsigned char)v[i]) ||
		    v[i] == '-' : is_atext((unsigned char)v[i])))
			i++;
		if (i == start)
			return 0;
		if (i == len || v[i] != '.')
			return i;
		i++;
	}
}

/* local@domain at i, dot-atoms only; the index after it, or 0. */
static size_t
addr_spec(const char *v, size_t i, size_t len)
{
	if ((i = dotted(v, i, len, false)) == 0 || i == len || v[i] != '@')
		return 0;
	return dotted(v, i + 1, len, true);
}

/*
 * A word of a display name: an atom or a quoted string. Dots (obsolete
 * syntax) and RFC 2047 words (GMime decodes them in quotes too) are not
 * plain: GMime may warn about them.
 */
static size_t
phrase_word(const char *v, size_t i, size_t len)
{
	size_t	 start = i;

	if (i < len && v[i] == '"') {
		for (i++; i < len && v[i] != '"'; i++) {
			if (v[i] == '\\' || (unsigned char)v[i] < 32 ||
			    (unsigned char)v[i] >= 127 ||
			    (v[i] == '=' && i + 1 < len && v[i + 1] == '?'))
				return 0;
		}
		return i < len ? i + 1 : 0;
	}
	while (i < len && is_atext((unsigned char)v[i])) {
		if (v[i] == '=' && i + 1 < len && v[i + 1] == '?')
			return 0;
		i++;
	}
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

static bool
is_token_char(char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static size_t
skip_wsp(const char *v, size_t i)
{
	while (v[i] == ' ' || v[i] == '\t')
		i++;
	return i;
}

/* The bytes of v from span[0] to span[1], NUL after, at *o; moves *o. */
static char *
copy_span(char **o, const char *v, const size_t span[2])
{
	char	*s = *o;
	size_t	 n = span[1] - span[0];

	memcpy(s, v + span[0], n);
	s[n] = '\0';
	*o = s + n + 1;
	return s;
}

/*
 * A Content-Type value in its plain form (type/subtype, then name=token or
 * name="text" parameters, 7-bit, no RFC 2231 names, no parameter twice)
 * read without GMime; NULL for anything else.
 */
static struct msg_ctype *
ctype_plain(const char *v)
{
	struct msg_ctype	*ct;
	size_t			 i, k, np = 0, size;
	size_t			 type[2][2], spans[64][2][2];
	char			*o;

	for (i = 0; is_token_char(v[i]); i++)
		continue;
	if (i == 0 || v[i] != '/')
		return NULL;
	type[0][0] = 0;
	type[0][1] = i;
	type[1][0] = ++i;
	while (is_token_char(v[i]))
		i++;
	if (i == type[1][0])
		return NULL;
	type[1][1] = i;
	for (;;) {
		i = skip_wsp(v, i);
		if (v[i] == '\0')
			break;
		if (v[i] != ';' || np == 64)
			return NULL;
		i = skip_wsp(v, i + 1);
		spans[np][0][0] = i;
		while (is_token_char(v[i]) && v[i] != '*')
			i++;
		if (i == spans[np][0][0] || v[i] != '=')
			return NULL;
		spans[np][0][1] = i++;
		if (v[i] == '"') {
			spans[np][1][0] = ++i;
			while (v[i] != '"' && v[i] != '\0') {
				if (v[i] == '\\' || (unsigned char)v[i] < 32 ||
				    (unsigned char)v[i] >= 127)
					return NULL;
				i++;
			}
			if (v[i] != '"')
				return NULL;
			spans[np][1][1] = i++;
		} else {
			spans[np][1][0] = i;
			while (is_token_char(v[i]))
				i++;
			if (i == spans[np][1][0])
				return NULL;
			spans[np][1][1] = i;
		}
		for (k = 0; k < np; k++) {
			if (spans[k][0][1] - spans[k][0][0] ==
			    spans[np][0][1] - spans[np][0][0] &&
			    strncasecmp(v + spans[k][0][0], v + spans[np][0][0],
			    spans[np][0][1] - spans[np][0][0]) == 0)
				return NULL;	/* GMime warns */
		}
		np++;
	}
	size = sizeof *ct + 2 * np * sizeof(char *) + strlen(v) + 3 + 2 * np;
	ct = xcalloc(1, size);
	ct->names = (char **)(ct + 1);
	ct->values = ct->names + np;
	o = (char *)(ct->values + np);
	ct->type = copy_span(&o, v, type[0]);
	ct->subtype = copy_span(&o, v, type[1]);
	for (k = 0; k < np; k++) {
		ct->names[k] = copy_span(&o, v, spans[k][0]);
		ct->values[k] = copy_span(&o, v, spans[k][1]);
	}
	ct->nparams = np;
	ct->refs = 1;
	return ct;
}

/* GMime's parse of a Content-Type, copied out of its objects. */
static struct msg_ctype *
ctype_gmime(struct msg *m, const char *v)
{
	GMimeContentType	*gct;
	GMimeParamList		*list;
	GMimeParam		*param;
	struct msg_ctype	*ct;
	const char		*name, *value;
	size_t			 size, k, np;
	char			*o;
	int			 i;

	gct = g_mime_content_type_parse(m->options, v);
	list = g_mime_content_type_get_parameters(gct);
	np = list == NULL ? 0 : (size_t)g_mime_param_list_length(list);
	size = sizeof *ct + 2 * np * sizeof(char *) + 2;
	size += strlen(g_mime_content_type_get_media_type(gct)) +
	    strlen(g_mime_content_type_get_media_subtype(gct));
	for (k = 0; k < np; k++) {
		param = g_mime_param_list_get_parameter_at(list, (int)k);
		size += strlen(g_mime_param_get_name(param)) + 2 +
		    strlen(g_mime_param_get_value(param));
	}
	ct = xcalloc(1, size);
	ct->names = (char **)(ct + 1);
	ct->values = ct->names + np;
	o = (char *)(ct->values + np);
	ct->type = o;
	o = stpcpy(o, g_mime_content_type_get_media_type(gct)) + 1;
	ct->subtype = o;
	o = stpcpy(o, g_mime_content_type_get_media_subtype(gct)) + 1;
	for (i = 0; i < (int)np; i++) {
		param = g_mime_param_list_get_parameter_at(list, i);
		name = g_mime_param_get_name(param);
		value = g_mime_param_get_value(param);
		ct->names[i] = o;
		o = stpcpy(o, name) + 1;
		ct->values[i] = o;
		o = stpcpy(o, value) + 1;
	}
	ct->nparams = np;
	ct->refs = 1;
	g_object_unref(gct);
	return ct;
}

/*
 * A Content-Type value as GMime reads it: plain ones here, the rest by
 * GMime (whose warnings go where the caller's mode sends them).
 */
struct msg_ctype *
msg_ctype_parse(struct msg *m, const char *v)
{
	struct msg_ctype	*ct;

	if ((ct = ctype_plain(v)) != NULL)
		return ct;
	return ctype_gmime(m, v);
}

void
msg_ctype_free(struct msg_ctype *ct)
{
	if (ct != NULL && --ct->refs == 0)
		free(ct);
}

/* As g_mime_content_type_is_type(): any case, "*" for any. */
bool
msg_ctype_is(const struct msg_ctype *ct, const char *type,
    const char *subtype)
{
	if (strcmp(type, "*") != 0 && g_ascii_strcasecmp(ct->type, type) != 0)
		return false;
	return strcmp(subtype, "*") == 0 ||
	    g_ascii_strcasecmp(ct->subtype, subtype) == 0;
}

/* The value of a parameter (name in any case), or NULL. */
const char *
msg_ctype_param(const struct msg_ctype *ct, const char *name)
{
	size_t	 i;

	for (i = 0; i < ct->nparams; i++) {
		if (g_ascii_strcasecmp(ct->names[i], name) == 0)
			return ct->values[i];
	}
	return NULL;
}
