#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>
#include <jansson.h>

#include "tmpl.h"
#include "xmalloc.h"

struct tmpl_part {
	char	*text;		/* literal text, or the name */
	bool	 is_var;
	size_t	 off;
};

struct tmpl {
	char			*src;
	struct tmpl_part	*parts;
	size_t			 nparts;
	size_t			 nvars;
};

static void	add_part(struct tmpl *, const char *, size_t, bool, size_t);
static int	parse_var(struct tmpl *, const char *, size_t, size_t *,
		    char **);
static void	add_value(struct buf *, enum tmpl_mode, const char *);
static void	add_json(struct buf *, const char *);
static void	add_url(struct buf *, const char *);
static int	is_name_char(int);

static int
is_name_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

static void
add_part(struct tmpl *t, const char *s, size_t len, bool is_var, size_t off)
{
	struct tmpl_part	*p;

	if (len == 0 && !is_var)
		return;
	t->parts = xreallocarray(t->parts, t->nparts + 1, sizeof *t->parts);
	p = &t->parts[t->nparts++];
	p->text = xstrndup(s, len);
	p->is_var = is_var;
	p->off = off;
	if (is_var)
		t->nvars++;
}

struct tmpl *
tmpl_compile(const char *src, char **cause, size_t *erroff)
{
	struct tmpl	*t;
	const char	*p;
	size_t		 i = 0, lit = 0;

	t = xcalloc(1, sizeof *t);
	t->src = xstrdup(src);
	while ((p = strstr(src + i, "{{")) != NULL) {
		i = (size_t)(p - src);
		add_part(t, src + lit, i - lit, false, lit);
		if (parse_var(t, src, i, &i, cause) != 0) {
			*erroff = (size_t)(p - src);
			tmpl_free(t);
			return NULL;
		}
		lit = i;
	}
	add_part(t, src + lit, strlen(src + lit), false, lit);
	return t;
}

/* Parse the placeholder at src[at] ("{{"); *end gets the offset after it. */
static int
parse_var(struct tmpl *t, const char *src, size_t at, size_t *end,
    char **cause)
{
	size_t	 i = at + 2, start, stop;

	while (src[i] == ' ')
		i++;
	start = i;
	while (is_name_char((unsigned char)src[i]))
		i++;
	stop = i;
	while (src[i] == ' ')
		i++;
	if (strncmp(src + i, "}}", 2) != 0) {
		*cause = xstrdup(src[i] == '\0' ? "unclosed '{{' in template" :
		    "bad placeholder in template: expected {{name}}");
		return -1;
	}
	if (stop == start) {
		*cause = xstrdup("empty placeholder '{{}}' in template");
		return -1;
	}
	add_part(t, src + start, stop - start, true, at);
	*end = i + 2;
	return 0;
}

void
tmpl_free(struct tmpl *t)
{
	size_t	 i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nparts; i++)
		free(t->parts[i].text);
	free(t->parts);
	free(t->src);
	free(t);
}

const char *
tmpl_source(const struct tmpl *t)
{
	return t->src;
}

bool
tmpl_is_literal(const struct tmpl *t)
{
	return t->nvars == 0;
}

size_t
tmpl_var_count(const struct tmpl *t)
{
	return t->nvars;
}

const char *
tmpl_var(const struct tmpl *t, size_t n, size_t *off)
{
	size_t	 i;

	for (i = 0; i < t->nparts; i++) {
		if (!t->parts[i].is_var)
			continue;
		if (n-- == 0) {
			if (off != NULL)
				*off = t->parts[i].off;
			return t->parts[i].text;
		}
	}
	return NULL;
}

char *
tmpl_render(const struct tmpl *t, enum tmpl_mode mode,
    const char *(*lookup)(const char *, void *), void *arg)
{
	struct buf	 b;
	const char	*v;
	char		*out, *clean;
	size_t		 i;

	buf_init(&b, TMPL_MAX_OUTPUT);
	for (i = 0; i < t->nparts; i++) {
		if (!t->parts[i].is_var) {
			buf_addstr(&b, t->parts[i].text);
			continue;
		}
		v = lookup(t->parts[i].text, arg);
		add_value(&b, mode, v != NULL ? v : "");
	}
	out = buf_steal(&b, NULL);
	if (mode != TMPL_HEADER)
		return out;
	clean = tmpl_header_clean(out);
	free(out);
	return clean;
}

static void
add_value(struct buf *b, enum tmpl_mode mode, const char *v)
{
	switch (mode) {
	case TMPL_JSON:
		add_json(b, v);
		break;
	case TMPL_URL:
		add_url(b, v);
		break;
	default:
		buf_addstr(b, v);
		break;
	}
}

static void
add_json(struct buf *b, const char *v)
{
	json_t	*s;
	char	*enc;
	size_t	 len;

	if ((s = json_string(v)) == NULL)
		return;
	enc = json_dumps(s, JSON_ENCODE_ANY);
	json_decref(s);
	if (enc == NULL)
		return;
	len = strlen(enc);
	if (len >= 2)
		buf_add(b, enc + 1, len - 2);
	free(enc);
}

static void
add_url(struct buf *b, const char *v)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (isalnum(*p) || strchr("-._~", *p) != NULL)
			buf_add(b, p, 1);
		else
			buf_printf(b, "%%%02X", *p);
	}
}

char *
tmpl_header_clean(const char *s)
{
	char	*out, *p;

	out = xstrdup(s);
	for (p = out; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	return out;
}

char *
tmpl_header_encode(const char *utf8)
{
	char	*clean, *enc, *out;

	clean = tmpl_header_clean(utf8);
	enc = g_mime_utils_header_encode_text(NULL, clean, "utf-8");
	free(clean);
	if (enc == NULL)
		return xstrdup("");
	out = xstrdup(enc);
	g_free(enc);
	return out;
}
