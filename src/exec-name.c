#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exec-name.h"
#include "xmalloc.h"

static const char *type_ext(const char *);
static size_t	 utf8_len(const unsigned char *);
static void	 cut(char *, size_t);

static const struct {
	const char	*type;
	const char	*ext;
} exts[] = {
	{ "application/pdf", "pdf" },
	{ "application/zip", "zip" },
	{ "application/gzip", "gz" },
	{ "application/json", "json" },
	{ "application/xml", "xml" },
	{ "application/msword", "doc" },
	{ "application/vnd.ms-excel", "xls" },
	{ "application/vnd.openxmlformats-officedocument."
	    "wordprocessingml.document", "docx" },
	{ "application/vnd.openxmlformats-officedocument."
	    "spreadsheetml.sheet", "xlsx" },
	{ "application/pgp-signature", "asc" },
	{ "application/pkcs7-signature", "p7s" },
	{ "application/ms-tnef", "dat" },
	{ "image/jpeg", "jpg" },
	{ "image/png", "png" },
	{ "image/gif", "gif" },
	{ "image/webp", "webp" },
	{ "image/svg+xml", "svg" },
	{ "text/plain", "txt" },
	{ "text/html", "html" },
	{ "text/csv", "csv" },
	{ "text/calendar", "ics" },
	{ "text/xml", "xml" },
	{ "message/rfc822", "eml" },
	{ "message/delivery-status", "txt" },
	{ "audio/mpeg", "mp3" },
	{ "video/mp4", "mp4" },
};

static const char *
type_ext(const char *type)
{
	size_t	 i;

	if (type != NULL)
		for (i = 0; i < sizeof exts / sizeof exts[0]; i++)
			if (strcasecmp(type, exts[i].type) == 0)
				return exts[i].ext;
	return "bin";
}

/* Bytes of the valid UTF-8 character at s (not a control), or 0. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t	 n, i;
	unsigned c;

	if (s[0] < 0x80)
		return s[0] >= 0x20 && s[0] != 0x7f ? 1 : 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	c = n == 2 ? 0 : n == 3 ? (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 :
	    (s[0] & 0x07u) << 18 | (s[1] & 0x3fu) << 12;
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	/* C1 controls (U+0080..U+009F) are controls too. */
	if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)
		return 0;
	return n;
}

/* Cut s to at most max bytes on a character boundary (s is UTF-8). */
static void
cut(char *s, size_t max)
{
	if (strlen(s) <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = '\0';
}

char *
exec_safe_name(const char *filename, const char *content_type)
{
	const char	*base, *p, *dot;
	char		*out, *ext, *stem;
	size_t		 i, n, len;

	base = filename != NULL ? filename : "";
	for (p = base; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	out = xmalloc(strlen(base) + 1);
	for (i = 0, p = base; *p != '\0'; ) {
		if ((n = utf8_len((const unsigned char *)p)) == 0) {
			out[i++] = '_';
			p++;
			continue;
		}
		memcpy(out + i, p, n);
		i += n;
		p += n;
	}
	out[i] = '\0';
	while (i > 0 && (out[i - 1] == '.' || out[i - 1] == ' '))
		out[--i] = '\0';
	len = strspn(out, " ");
	memmove(out, out + len, strlen(out + len) + 1);
	for (i = 0; out[i] == '.'; i++)
		out[i] = '_';
	if (out[0] == '\0') {
		free(out);
		return xasprintf("attachment.%s", type_ext(content_type));
	}
	if (strlen(out) <= EXEC_NAME_MAX)
		return out;
	/* Too long: keep a short extension, cut the stem. */
	dot = strrchr(out, '.');
	if (dot != NULL && dot != out && strlen(dot) <= 16) {
		ext = xstrdup(dot);
		stem = xstrndup(out, (size_t)(dot - out));
		cut(stem, EXEC_NAME_MAX - strlen(ext));
		free(out);
		out = xasprintf("%s%s", stem, ext);
		free(stem);
		free(ext);
	} else
		cut(out, EXEC_NAME_MAX);
	return out;
}

char *
exec_name_variant(const char *name, unsigned n)
{
	const char	*dot;

	if (n == 0)
		return xstrdup(name);
	dot = strrchr(name, '.');
	if (dot == NULL || dot == name)
		return xasprintf("%s-%u", name, n);
	return xasprintf("%.*s-%u%s", (int)(dot - name), name, n, dot);
}
