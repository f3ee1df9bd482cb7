/*
 * The MIME structure of a message found over its raw bytes, without
 * GMime's tree: the parts of multiparts by their boundaries, each part's
 * header block split by msg-head.c, leaf content left where it is until
 * its text or size is asked for. The rules are those of GMime's parser, so
 * that the parts, their content and the defects reported are the ones the
 * GMime path gives (tests/unit/test_msg_diff.c compares the two over every
 * message of the corpus):
 *
 *   - a boundary line is "--" and the boundary, then only blanks; "--" and
 *     the boundary and "--" ends the multipart; the boundaries of every
 *     enclosing multipart are tried too, innermost first, and one of an
 *     outer multipart ends the inner ones (GMime reports those as
 *     multiparts without parts);
 *   - the line break before a boundary line belongs to the boundary: one
 *     byte, or two when the boundary line itself ends in CR LF;
 *   - a part without Content-Type is text/plain, message/rfc822 inside
 *     multipart/digest;
 *   - message/rfc822 (and rfc2822, global, news) holds a message, unless
 *     its transfer encoding is base64, quoted-printable or uuencode.
 *
 * What GMime handles in ways not copied here (a part header block that
 * is not plain fields, a repeated Content-* field, a type or parameter
 * GMime warns about, a multipart without a boundary, very deep nesting)
 * makes msg_mime_parse() give up: the caller then uses GMime for the
 * whole body.
 */
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "msg.h"
#include "msg-private.h"
#include "xmalloc.h"

/* Deeper than this, GMime's own nesting limit may be near: let it decide. */
#define MIME_MAX_NESTING	40
/* Longer boundaries than RFC 2046 allows: GMime's reading differs. */
#define MIME_MAX_BOUNDARY	70

enum found {
	FOUND_EOS,
	FOUND_IMMEDIATE,
	FOUND_IMMEDIATE_END,
	FOUND_PARENT,
	FOUND_PARENT_END,
};

struct bound {
	char	*text;		/* "--" boundary "--" */
	size_t	 len;		/* without the closing "--" */
};

struct scan {
	struct msg	*m;
	struct msg_mime	*mm;
	const char	*p;
	size_t		 len;
	size_t		 pos;
	struct bound	 bounds[MIME_MAX_NESTING + 1];
	size_t		 nbounds;
	bool		 unsure;
};

static struct msg_mime_part *part_new(struct msg_mime *);
static bool	 is_lwsp(char);
static bool	 is_boundary(const char *, size_t, const char *, size_t);
static enum found check_boundary(struct scan *, const char *, size_t);
static bool	 immediate_boundary(struct scan *, bool);
static enum found scan_content(struct scan *, size_t *, size_t *);
static int	 skip_line(struct scan *);
static enum found scan_part(struct scan *, struct msg_mime_part *, size_t);
static enum found scan_multipart(struct scan *, struct msg_mime_part *,
		    size_t);
static enum found scan_subparts(struct scan *, struct msg_mime_part *,
		    size_t);
static enum found scan_message(struct scan *, struct msg_mime_part *,
		    size_t);
static int	 part_headers(struct scan *, struct msg_mime_part *,
		    const char *, bool);
static size_t	 block_end(const char *, size_t);
static bool	 plain_ascii(const char *);
static bool	 type_shape(const char *);
static void	 invalid_type(struct msg *, struct msg_mime_part *,
		    const char *, size_t, bool);
static void	 set_kind(struct msg_mime_part *);

static struct msg_mime_part *
part_new(struct msg_mime *mm)
{
	struct msg_mime_part	*part;

	part = xcalloc(1, sizeof *part);
	part->next_alloc = mm->all;
	mm->all = part;
	mm->nparts++;
	return part;
}

void
msg_mime_free(struct msg_mime *mm)
{
	struct msg_mime_part	*part, *next;

	if (mm == NULL)
		return;
	for (part = mm->all; part != NULL; part = next) {
		next = part->next_alloc;
		msg_ctype_free(part->type);
		if (part->disposition != NULL)
			g_object_unref(part->disposition);
		free(part);
	}
	free(mm);
}

/*
 * The body of a message whose header block msg.c split itself. NULL when
 * GMime must parse it (no defect is left behind then).
 */
struct msg_mime *
msg_mime_parse(struct msg *m)
{
	struct msg_mime		*mm;
	struct scan		 sc;
	size_t			 i, ndefects = m->ndefects;

	mm = xcalloc(1, sizeof *mm);
	memset(&sc, 0, sizeof sc);
	sc.m = m;
	sc.mm = mm;
	sc.p = m->parse;
	sc.len = m->parse_len;
	sc.pos = m->header_len;
	mm->top = part_new(mm);
	mm->top->type = m->top.type;
	mm->top->disposition = m->top.disposition;
	mm->top->encoding = m->top.encoding;
	mm->top->first_encoding = m->top.first_encoding;
	mm->top->type_offset = m->top.type_offset;
	if (mm->top->type != NULL)
		mm->top->type->refs++;
	if (mm->top->disposition != NULL)
		g_object_ref(mm->top->disposition);
	mm->top->has_fields = m->nheaders > 0;
	set_kind(mm->top);
	scan_part(&sc, mm->top, 0);
	for (i = 0; i < sc.nbounds; i++)
		free(sc.bounds[i].text);
	if (sc.unsure) {
		msg_defects_truncate(m, ndefects);
		msg_mime_free(mm);
		return NULL;
	}
	return mm;
}

/* What GMime makes of a part: a leaf, a multipart or a message. */
static void
set_kind(struct msg_mime_part *part)
{
	const char	*type, *sub;

	if (part->type != NULL && !part->type_invalid) {
		type = part->type->type;
		sub = part->type->subtype;
	} else {
		type = part->default_message ? "message" : "text";
		sub = part->default_message ? "rfc822" : "plain";
	}
	part->kind = MIME_LEAF;
	if (g_ascii_strcasecmp(type, "multipart") == 0)
		part->kind = MIME_MULTIPART;
	else if (g_ascii_strcasecmp(type, "message") == 0 &&
	    (g_ascii_strcasecmp(sub, "rfc822") == 0 ||
	    g_ascii_strcasecmp(sub, "rfc2822") == 0 ||
	    g_ascii_strcasecmp(sub, "global") == 0 ||
	    g_ascii_strcasecmp(sub, "news") == 0) &&
	    part->first_encoding != GMIME_CONTENT_ENCODING_BASE64 &&
	    part->first_encoding != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
	    part->first_encoding != GMIME_CONTENT_ENCODING_UUENCODE)
		part->kind = MIME_MESSAGE;
}

static bool
is_lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The line (no line break) is the boundary text, then only blanks. */
static bool
is_boundary(const char *line, size_t len, const char *b, size_t blen)
{
	size_t	 i;

	if (blen > len || memcmp(line, b, blen) != 0)
		return false;
	for (i = blen; i < len; i++) {
		if (!is_lwsp(line[i]))
			return false;
	}
	return true;
}

static enum found
check_boundary(struct scan *sc, const char *line, size_t len)
{
	size_t	 i;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len < 2 || line[0] != '-' || line[1] != '-')
		return FOUND_EOS;
	for (i = sc->nbounds; i-- > 0;) {
		if (is_boundary(line, len, sc->bounds[i].text,
		    sc->bounds[i].len + 2))
			return i == sc->nbounds - 1 ? FOUND_IMMEDIATE_END :
			    FOUND_PARENT_END;
		if (is_boundary(line, len, sc->bounds[i].text,
		    sc->bounds[i].len))
			return i == sc->nbounds - 1 ? FOUND_IMMEDIATE :
			    FOUND_PARENT;
	}
	return FOUND_EOS;
}

/* Is the line at pos the innermost boundary (or its end)? */
static bool
immediate_boundary(struct scan *sc, bool end)
{
	const struct bound	*b = &sc->bounds[sc->nbounds - 1];
	const char		*nl;
	size_t			 len;

	nl = memchr(sc->p + sc->pos, '\n', sc->len - sc->pos);
	len = nl == NULL ? sc->len - sc->pos : (size_t)(nl - (sc->p + sc->pos));
	return is_boundary(sc->p + sc->pos, len, b->text,
	    end ? b->len + 2 : b->len);
}

/*
 * The content from pos to the next boundary line of any enclosing
 * multipart, or to the end: its start and length (the line break before
 * the boundary not counted). pos is left at the boundary line.
 */
static enum found
scan_content(struct scan *sc, size_t *start, size_t *len)
{
	const char	*nl;
	enum found	 found = FOUND_EOS;
	size_t		 line, strip;

	*start = sc->pos;
	*len = 0;
	while (sc->pos < sc->len) {
		nl = memchr(sc->p + sc->pos, '\n', sc->len - sc->pos);
		line = nl == NULL ? sc->len - sc->pos :
		    (size_t)(nl - (sc->p + sc->pos));
		if (sc->nbounds > 0 && (found = check_boundary(sc,
		    sc->p + sc->pos, line)) != FOUND_EOS)
			break;
		sc->pos += nl == NULL ? line : line + 1;
		*len += nl == NULL ? line : line + 1;
	}
	if (found != FOUND_EOS && *len > 0) {
		strip = line > 0 && sc->p[sc->pos + line - 1] == '\r' ? 2 : 1;
		if (*len < strip) {
			sc->unsure = true;
			*len = 0;
		} else
			*len -= strip;
	}
	return found;
}

/* Past the next line break; -1 at the end without one. */
static int
skip_line(struct scan *sc)
{
	const char	*nl;

	nl = memchr(sc->p + sc->pos, '\n', sc->len - sc->pos);
	if (nl == NULL) {
		sc->pos = sc->len;
		return -1;
	}
	sc->pos = (size_t)(nl - sc->p) + 1;
	return 0;
}

static enum found
scan_part(struct scan *sc, struct msg_mime_part *part, size_t depth)
{
	if (depth >= MIME_MAX_NESTING) {
		sc->unsure = true;
		return FOUND_EOS;
	}
	switch (part->kind) {
	case MIME_MULTIPART:
		return scan_multipart(sc, part, depth);
	case MIME_MESSAGE:
		return scan_message(sc, part, depth);
	default:
		return scan_content(sc, &part->content, &part->content_len);
	}
}

static enum found
scan_multipart(struct scan *sc, struct msg_mime_part *part, size_t depth)
{
	struct bound	*b;
	const char	*boundary;
	enum found	 found;
	size_t		 start, len;

	boundary = part->type == NULL ? NULL :
	    msg_ctype_param(part->type, "boundary");
	if (boundary == NULL || sc->nbounds == MIME_MAX_NESTING ||
	    strlen(boundary) > MIME_MAX_BOUNDARY) {
		sc->unsure = true;	/* GMime warns; let it */
		return FOUND_EOS;
	}
	b = &sc->bounds[sc->nbounds++];
	b->text = xasprintf("--%s--", boundary);
	b->len = strlen(b->text) - 2;
	found = scan_content(sc, &start, &len);
	if (found == FOUND_IMMEDIATE)
		found = scan_subparts(sc, part, depth);
	if (found == FOUND_IMMEDIATE_END) {
		skip_line(sc);
		free(sc->bounds[--sc->nbounds].text);
		return scan_content(sc, &start, &len);
	}
	if (found == FOUND_PARENT || found == FOUND_PARENT_END)
		msg_defect(sc->m, "multipart without parts at byte %zu: %.80s",
		    part->type_offset, part->type->subtype);
	if (found == FOUND_EOS)
		msg_defect(sc->m, "truncated message");
	free(sc->bounds[--sc->nbounds].text);
	if (found == FOUND_PARENT_END && immediate_boundary(sc, true))
		found = FOUND_IMMEDIATE_END;
	else if (found == FOUND_PARENT && immediate_boundary(sc, false))
		found = FOUND_IMMEDIATE;
	return found;
}

static enum found
scan_subparts(struct scan *sc, struct msg_mime_part *parent, size_t depth)
{
	struct msg_mime_part	*child, **tail = &parent->first;
	struct msg_mime		*mm = sc->mm;
	enum found		 found;
	bool			 digest;

	digest = g_ascii_strcasecmp(parent->type->subtype, "digest") == 0;
	do {
		if (skip_line(sc) != 0)
			return FOUND_EOS;
		child = part_new(mm);
		child->default_message = digest;
		*tail = child;
		tail = &child->next;
		parent->nchildren++;
		if (part_headers(sc, child, sc->p + sc->pos, false) != 0)
			return FOUND_EOS;
		found = scan_part(sc, child, depth + 1);
		if (sc->unsure)
			return FOUND_EOS;
		if (!child->has_fields && child->kind == MIME_LEAF &&
		    child->content_len == 0)
			sc->unsure = true;	/* GMime may warn */
	} while (found == FOUND_IMMEDIATE && !sc->unsure);
	return found;
}

/* A message/rfc822 part: the message it holds, if any. */
static enum found
scan_message(struct scan *sc, struct msg_mime_part *part, size_t depth)
{
	struct msg_mime_part	*top;
	const char		*nl;
	enum found		 found;
	size_t			 line, strip;

	if (sc->pos >= sc->len)
		return FOUND_EOS;
	if (sc->nbounds > 0) {
		nl = memchr(sc->p + sc->pos, '\n', sc->len - sc->pos);
		line = nl == NULL ? sc->len - sc->pos :
		    (size_t)(nl - (sc->p + sc->pos));
		found = check_boundary(sc, sc->p + sc->pos, line);
		if (found != FOUND_EOS && !(found == FOUND_PARENT_END &&
		    sc->len - sc->pos >= 5 &&
		    memcmp(sc->p + sc->pos, "From ", 5) == 0))
			return found;
	}
	top = part_new(sc->mm);
	part->first = top;
	part->nchildren = 1;
	part->message = sc->p + sc->pos;
	if (part_headers(sc, top, sc->p + sc->pos, true) != 0)
		return FOUND_EOS;
	found = scan_part(sc, top, depth + 1);
	part->message_len = (size_t)(sc->p + sc->pos - part->message);
	if (found != FOUND_EOS && part->message_len > 0) {
		nl = memchr(sc->p + sc->pos, '\n', sc->len - sc->pos);
		line = nl == NULL ? sc->len - sc->pos :
		    (size_t)(nl - (sc->p + sc->pos));
		strip = line > 0 && sc->p[sc->pos + line - 1] == '\r' ? 2 : 1;
		part->message_len -= MIN(strip, part->message_len);
	}
	return found;
}

/* The length of a header block with its blank line; 0 when it has none. */
static size_t
block_end(const char *p, size_t len)
{
	const char	*nl;
	size_t		 pos = 0, line;

	while (pos < len && (nl = memchr(p + pos, '\n', len - pos)) != NULL) {
		line = (size_t)(nl - (p + pos));
		if (line == 0 || (line == 1 && p[pos] == '\r'))
			return pos + line + 1;
		/* A boundary in the headers: GMime's own rules apply. */
		if (line >= 2 && p[pos] == '-' && p[pos + 1] == '-')
			return 0;
		pos += line + 1;
	}
	return 0;
}

/*
 * The header block of a part (or of the message a message/rfc822 part
 * holds) at p: its fields, the defects GMime reports for them, and the
 * part's type, disposition and transfer encoding. pos is left at the
 * part's content. -1 (sc->unsure set) when GMime must decide.
 */
static int
part_headers(struct scan *sc, struct msg_mime_part *part, const char *p,
    bool message)
{
	struct msg		*m = sc->m;
	struct msg_field	*f = NULL;
	char			**vals = NULL, *store = NULL, *o;
	size_t			 i, j, n, hlen, base = (size_t)(p - sc->p);
	int			 rc = -1;
	bool			 content;

	if ((hlen = block_end(p, sc->len - base)) == 0 ||
	    msg_head_split(p, hlen, &f, &n) != 0)
		goto fail;
	store = xmalloc(hlen + n + 1);
	vals = xreallocarray(NULL, n + 1, sizeof *vals);
	for (i = 0, o = store; i < n; i++) {
		vals[i] = o;
		o += msg_head_unfold(f[i].value, f[i].value_len, o) + 1;
		f[i].offset += base;
	}
	for (i = 0; i < n; i++) {
		if (f[i].invalid)
			goto fail;	/* GMime's part rules differ */
	}
	msg_head_warn_fields(m, f, n, 0);
	/*
	 * Repeated fields: a part reports any, a message those RFC 5322
	 * allows once (msg_head_message_fields()); a repeated Content-*
	 * field is left to GMime.
	 */
	for (i = 0; i < n; i++) {
		content = f[i].name_len >= 8 &&
		    strncasecmp(f[i].name, "Content-", 8) == 0;
		for (j = 0; content && j < i; j++) {
			if (f[j].name_len == f[i].name_len &&
			    strncasecmp(f[j].name, f[i].name,
			    f[i].name_len) == 0)
				goto fail;
		}
	}
	if (message && msg_head_message_fields(m, f, vals, n, false) != 0)
		goto fail;
	part->has_fields = n > 0;
	part->encoding = GMIME_CONTENT_ENCODING_DEFAULT;
	if (msg_part_fields(m, f, vals, n, part, !message) != 0)
		goto fail;
	set_kind(part);
	sc->pos = base + hlen;
	rc = 0;
fail:
	if (rc != 0)
		sc->unsure = true;
	free(store);
	free(vals);
	free(f);
	return rc;
}

static bool
plain_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

/*
 * A Content-Type GMime cannot read: it says so at the field and uses
 * application/octet-stream, while its parser, which could not read it
 * either, took the part for the default type. Anything else GMime says
 * about it: let GMime decide.
 */
static void
invalid_type(struct msg *m, struct msg_mime_part *part, const char *v,
    size_t offset, bool allow)
{
	size_t	 before = m->nwarnings;

	part->type = msg_ctype_parse(m, v);
	part->type_offset = offset;
	if (!allow || m->nwarnings != before + 1 ||
	    m->warned_code != GMIME_WARN_INVALID_CONTENT_TYPE ||
	    m->warned_offset != -1) {
		m->warned = true;
		return;
	}
	m->warned = false;
	msg_defect(m, "invalid content type at byte %zu: %.80s", offset, v);
	part->type_invalid = true;
}

/* "type/subtype" at the start, as GMime's parser needs to see it. */
static bool
type_shape(const char *v)
{
	static const char	 tspecials[] = "()<>@,;:\\\"/[]?= \t";
	size_t			 n;

	n = strcspn(v, tspecials);
	if (n == 0 || v[n] != '/')
		return false;
	v += n + 1;
	n = strcspn(v, tspecials);
	return n > 0 && (v[n] == '\0' || v[n] == ';' || v[n] == ' ' ||
	    v[n] == '\t');
}

/*
 * A part's Content-* fields (unfolded values in vals) parsed as GMime
 * does; in a part (not at the top of a message), its repeated fields
 * reported on the way. -1 when GMime would warn about any of them: the
 * caller gives up.
 */
int
msg_part_fields(struct msg *m, const struct msg_field *f, char **vals,
    size_t n, struct msg_mime_part *part, bool in_part)
{
	bool	 allow_invalid = in_part;
	size_t	 i;
	char	*decoded = NULL;
	const char *v;
	bool	 first_cte = true;

	/*
	 * A type GMime cannot read is copied only in a plain block: GMime
	 * reads the other fields of such a part in ways not copied here.
	 */
	for (i = 0; i < n && allow_invalid; i++) {
		if (!plain_ascii(vals[i]) || strstr(vals[i], "=?") != NULL)
			allow_invalid = false;
	}
	m->warned = false;
	m->warn_mode = MSG_WARN_CAPTURE;
	for (i = 0; i < n && !m->warned; i++) {
		if (f[i].name_len < 8 || strncasecmp(f[i].name, "Content-",
		    8) != 0) {
			/* A part's repeated fields, in GMime's order. */
			if (in_part)
				msg_head_repeated(m, f, i);
			continue;
		}
		/*
		 * GMime reads the parameters from the decoded value (RFC 2047
		 * words, 8-bit text by word).
		 */
		v = vals[i];
		if (!plain_ascii(v) || strstr(v, "=?") != NULL)
			v = decoded = g_mime_utils_header_decode_text(
			    m->options, vals[i]);
		if (msg_field_is(&f[i], "Content-Type")) {
			if (!type_shape(v))
				invalid_type(m, part, v, f[i].offset,
				    allow_invalid);
			else {
				part->type = msg_ctype_parse(m, v);
				part->type_offset = f[i].offset;
				/*
				 * GMime names a broken multipart by its
				 * subtype as written, not decoded.
				 */
				if (v != vals[i] && msg_ctype_is(part->type,
				    "multipart", "*"))
					m->warned = true;
			}
		} else if (msg_field_is(&f[i], "Content-Disposition"))
			part->disposition = g_mime_content_disposition_parse(
			    m->options, v);
		else if (msg_field_is(&f[i], "Content-Transfer-Encoding")) {
			part->encoding = g_mime_content_encoding_from_string(
			    vals[i]);
			if (first_cte)
				part->first_encoding = part->encoding;
			first_cte = false;
		}
		g_free(decoded);
		decoded = NULL;
	}
	m->warn_mode = MSG_WARN_RECORD;
	if (part->type != NULL && msg_ctype_is(part->type, "multipart", "*") &&
	    msg_ctype_param(part->type, "boundary") == NULL)
		m->warned = true;
	return m->warned ? -1 : 0;
}
