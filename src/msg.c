/*
 * The message as a person reads it: headers, addresses and the cheap facts
 * rules ask about (list mail, automatic mail). Everything here comes from the
 * header block alone, split into fields when the message is created
 * (msg-head.c, by GMime's rules; GMime's own parser only for a block it
 * would read in its own way); the body (msg-body.c, msg-mime.c) is parsed
 * only when its text or attachments are asked for, so header-only rules
 * never pay for MIME decoding. Address fields are parsed, and the
 * automatic-mail check made, when first asked for.
 *
 * The defects listed are the ones GMime's parser reported when it parsed
 * every header block (tests/unit/test_msg_diff.c checks this): those of
 * the fields themselves are found while splitting, those only GMime's
 * address parser can tell are looked for when msg_defects() is called, and
 * each is put where it would have been.
 *
 * Every string handed out is owned by the struct msg (its pool) and is valid
 * UTF-8: GMime decodes RFC 2047 and RFC 2231, raw 8-bit text is guessed from
 * a list of fallback charsets (UTF-8, the body's declared charset,
 * windows-1252), and whatever is left invalid becomes U+FFFD.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <libxml/parser.h>

#include "msg.h"
#include "msg-private.h"
#include "msg-utf8.h"
#include "xmalloc.h"

#define DEFAULT_MAX_SIZE	(64 * 1024 * 1024)
#define DEFAULT_MAX_DEPTH	32
#define DEFAULT_MAX_PARTS	1000
#define DEFAULT_MAX_HEADERS	1000
#define DEFAULT_MAX_TEXT	(4 * 1024 * 1024)

/* message_field_kind() */
#define FIELD_ONCE	0x1
#define FIELD_ADDRESS	0x2

/* A header field of the parsed message and where it was written. */
struct header_ref {
	GMimeHeader	*h;
	gint64		 offset;
	size_t		 order;
};

static const char *const addr_field_names[MSG_ADDR_FIELD_COUNT] = {
	[MSG_FROM] = "From",
	[MSG_SENDER] = "Sender",
	[MSG_REPLY_TO] = "Reply-To",
	[MSG_TO] = "To",
	[MSG_CC] = "Cc",
	[MSG_BCC] = "Bcc",
	[MSG_RETURN_PATH] = "Return-Path",
	[MSG_DELIVERED_TO] = "Delivered-To",
	[MSG_RESENT_FROM] = "Resent-From",
	[MSG_RESENT_TO] = "Resent-To",
	[MSG_RESENT_CC] = "Resent-Cc",
	[MSG_RESENT_BCC] = "Resent-Bcc",
};

static void	 set_limits(struct msg *, const struct msg_limits *);
static void	 on_warning(gint64, GMimeParserWarning, const gchar *,
		    gpointer);
static void	 record_warning(struct msg *, gint64, GMimeParserWarning,
		    const char *);
static const char *warning_text(GMimeParserWarning);
static bool	 is_header_warning(GMimeParserWarning);
static size_t	 skip_preamble(struct msg *, const char *, size_t);
static size_t	 header_end(const char *, size_t);
static void	 parse_headers(struct msg *);
static int	 head_gmime(struct msg *);
static int	 head_own(struct msg *);
static void	 top_free(struct msg *);
static void	 defect_put(struct msg *, size_t, char *);
static int	 message_field_kind(const struct msg_field *);
static void	 addr_check(struct msg *, const char *, size_t, size_t);
static void	 defer_addr_check(struct msg *, const struct msg_field *);
static void	 run_deferred(struct msg *);
static bool	 utf8_ascii(const char *, size_t);
static int	 head_top_part(struct msg *, const struct msg_field *,
		    char **, size_t);
static void	 head_keep(struct msg *, const struct msg_field *, char **,
		    size_t, char *);
static void	 set_fallback_charsets(struct msg *, const char *);
static size_t	 gather_headers(GMimeMessage *, struct header_ref **);
static int	 compare_header_ref(const void *, const void *);
static size_t	 headers_alloc(struct msg *, size_t);
static void	 load_headers(struct msg *, GMimeMessage *);
static void	 load_header(struct msg *, size_t, GMimeHeader *);
static const char *header_value(struct msg *, size_t);
static char	*decode_text(struct msg *, const char *);
static const char *raw_header(struct msg *, const char *, size_t);
static void	 add_addr_guess(struct msg *, enum msg_addr_field,
		    const char *);
static char	*trim(char *);
static void	 load_ids(struct msg *);
static const char *first_reference(struct msg *, const char *);
static const char *all_references(struct msg *, const char *);
static void	 load_date(struct msg *);
static void	 load_addrs(struct msg *, enum msg_addr_field);
static void	 ensure_addrs(struct msg *);
static void	 add_addr_list(struct msg *, enum msg_addr_field,
		    InternetAddressList *, int);
static void	 add_addr(struct msg *, enum msg_addr_field, const char *,
		    const char *);
static void	 load_return_path(struct msg *);
static void	 load_list(struct msg *);
static const char *check_auto(struct msg *);
static const char *check_auto_headers(struct msg *);
static const char *check_auto_content_type(struct msg *);
static const char *check_auto_sender(struct msg *);
static bool	 is_daemon_address(const char *);
static bool	 has_token(const char *, const char *);

struct msg_stats	msg_stats;
static bool		gmime_only;

void
msg_set_gmime_only(bool on)
{
	gmime_only = on;
}

bool
msg_gmime_only(void)
{
	return gmime_only;
}

void
msg_library_init(void)
{
	g_mime_init();
	xmlInitParser();
}

void
msg_library_shutdown(void)
{
	g_mime_shutdown();
	xmlCleanupParser();
}

struct msg *
msg_new(const char *data, size_t len, const struct msg_limits *limits)
{
	char	*copy;

	if (len == SIZE_MAX)
		fatal("msg_new: message too large");
	copy = xmalloc(len + 1);
	if (len > 0)
		memcpy(copy, data, len);
	copy[len] = '\0';
	return msg_new_take(copy, len, limits);
}

struct msg *
msg_new_take(char *data, size_t len, const struct msg_limits *limits)
{
	struct msg	*m;
	size_t		 skip;

	m = xcalloc(1, sizeof *m);
	set_limits(m, limits);
	m->raw = data;
	m->raw[len] = '\0';
	m->raw_len = len;
	m->date_time = (time_t)-1;
	m->subject = "";
	m->defect_insert = SIZE_MAX;
	m->options = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(m->options, on_warning, m);

	m->parse_len = len;
	if (len > m->limits.max_size) {
		msg_defect(m, "message of %zu bytes cut to the first %zu", len,
		    m->limits.max_size);
		m->parse_len = m->limits.max_size;
	}
	skip = skip_preamble(m, m->raw, m->parse_len);
	m->parse = m->raw + skip;
	m->parse_len -= skip;
	m->header_len = header_end(m->parse, m->parse_len);
	parse_headers(m);
	return m;
}

void
msg_free(struct msg *m)
{
	size_t	 i;

	if (m == NULL)
		return;
	for (i = 0; i < m->npool; i++)
		free(m->pool[i]);
	free(m->pool);
	for (i = 0; i < m->ndefects; i++)
		free(m->defects[i]);
	free(m->defects);
	for (i = 0; i < MSG_ADDR_FIELD_COUNT; i++)
		free(m->addrs[i]);
	free(m->headers);
	free(m->raw_values);
	free(m->attachments);
	msg_body_free(m);
	top_free(m);
	free(m->head_store);
	free(m->deferred);
	for (i = 0; i < m->narrays; i++)
		g_byte_array_free(m->arrays[i], FALSE);
	free(m->arrays);
	g_mime_parser_options_free(m->options);
	free(m->raw);
	free(m);
}

static void
set_limits(struct msg *m, const struct msg_limits *l)
{
	struct msg_limits	 d = { DEFAULT_MAX_SIZE, DEFAULT_MAX_DEPTH,
				    DEFAULT_MAX_PARTS, DEFAULT_MAX_HEADERS,
				    DEFAULT_MAX_TEXT };

	if (l != NULL) {
		if (l->max_size != 0)
			d.max_size = l->max_size;
		if (l->max_depth != 0)
			d.max_depth = l->max_depth;
		if (l->max_parts != 0)
			d.max_parts = l->max_parts;
		if (l->max_headers != 0)
			d.max_headers = l->max_headers;
		if (l->max_text != 0)
			d.max_text = l->max_text;
	}
	m->limits = d;
}

char *
msg_keep(struct msg *m, char *s)
{
	if (m->npool == m->pool_size) {
		m->pool_size = m->pool_size == 0 ? 32 : m->pool_size * 2;
		m->pool = xreallocarray(m->pool, m->pool_size,
		    sizeof *m->pool);
	}
	m->pool[m->npool++] = s;
	return s;
}

const char *
msg_keep_utf8(struct msg *m, const char *s, size_t len)
{
	return msg_keep(m, msg_utf8_sanitize(s, len));
}

void
msg_defect(struct msg *m, const char *fmt, ...)
{
	va_list	 ap;
	char	*s, *sane;
	size_t	 i, real;

	/* Past the cap, only a defect put back in its place may count. */
	if (m->ndefects > MSG_MAX_DEFECTS && m->defect_insert == SIZE_MAX)
		return;
	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	sane = msg_utf8_sanitize(s, strlen(s));
	free(s);
	real = MIN(m->ndefects, MSG_MAX_DEFECTS);
	for (i = 0; i < real; i++) {
		if (strcmp(m->defects[i], sane) != 0)
			continue;
		free(sane);
		/* Found later than where it belongs: move it there. */
		if (m->defect_insert != SIZE_MAX && i >= m->defect_insert) {
			sane = m->defects[i];
			memmove(&m->defects[m->defect_insert + 1],
			    &m->defects[m->defect_insert],
			    (i - m->defect_insert) * sizeof *m->defects);
			m->defects[m->defect_insert++] = sane;
		}
		return;
	}
	if (m->defect_insert == SIZE_MAX || m->defect_insert >= real) {
		/* At the end: the first MSG_MAX_DEFECTS, then a note. */
		if (m->defect_insert != SIZE_MAX)
			m->defect_insert++;
		if (real == MSG_MAX_DEFECTS) {
			free(sane);
			if (m->ndefects > MSG_MAX_DEFECTS)
				return;
			sane = xstrdup("too many defects, the rest not listed");
		}
		defect_put(m, m->ndefects, sane);
		return;
	}
	/* Put back in its place: the last one kept may have to go. */
	defect_put(m, m->defect_insert++, sane);
	if (m->ndefects > MSG_MAX_DEFECTS + 1 ||
	    (m->ndefects == MSG_MAX_DEFECTS + 1 &&
	    strcmp(m->defects[MSG_MAX_DEFECTS], "too many defects, the rest "
	    "not listed") != 0)) {
		free(m->defects[MSG_MAX_DEFECTS]);
		m->defects[MSG_MAX_DEFECTS] = xstrdup("too many defects, the "
		    "rest not listed");
		for (i = MSG_MAX_DEFECTS + 1; i < m->ndefects; i++)
			free(m->defects[i]);
		m->ndefects = MSG_MAX_DEFECTS + 1;
	}
}

/* Insert s at index at of the defects. */
static void
defect_put(struct msg *m, size_t at, char *s)
{
	if (m->ndefects == m->defects_size) {
		m->defects_size = m->defects_size == 0 ? 8 : m->defects_size * 2;
		m->defects = xreallocarray(m->defects, m->defects_size,
		    sizeof *m->defects);
	}
	memmove(&m->defects[at + 1], &m->defects[at],
	    (m->ndefects - at) * sizeof *m->defects);
	m->defects[at] = s;
	m->ndefects++;
}

static void
on_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
    gpointer arg)
{
	struct msg	*m = arg;

	switch (m->warn_mode) {
	case MSG_WARN_QUIET:
		return;
	case MSG_WARN_CAPTURE:
		m->warned = true;
		m->nwarnings++;
		m->warned_code = code;
		m->warned_offset = offset;
		return;
	case MSG_WARN_AT:
		/* GMime's own parse reports at the field: ours cannot know. */
		if (offset != -1)
			m->warned = true;
		offset = m->warn_at;
		break;
	case MSG_WARN_RECORD:
		break;
	}
	if (m->header_stage && !is_header_warning(code))
		return;
	record_warning(m, offset, code, item);
}

/* A parser warning as on_warning() words it. */
static void
record_warning(struct msg *m, gint64 offset, GMimeParserWarning code,
    const char *item)
{
	char	 where[64] = "";

	if (offset >= 0)
		snprintf(where, sizeof where, " at byte %lld",
		    (long long)offset);
	if (item != NULL && *item != '\0')
		msg_defect(m, "%s%s: %.80s", warning_text(code), where, item);
	else
		msg_defect(m, "%s%s", warning_text(code), where);
}

static const char *
warning_text(GMimeParserWarning code)
{
	switch (code) {
	case GMIME_WARN_DUPLICATED_HEADER: return "duplicated header";
	case GMIME_WARN_DUPLICATED_PARAMETER: return "duplicated parameter";
	case GMIME_WARN_UNENCODED_8BIT_HEADER: return "unencoded 8-bit header";
	case GMIME_WARN_INVALID_CONTENT_TYPE: return "invalid content type";
	case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
		return "invalid RFC 2047 encoded word";
	case GMIME_WARN_MALFORMED_MULTIPART: return "multipart without parts";
	case GMIME_WARN_TRUNCATED_MESSAGE: return "truncated message";
	case GMIME_WARN_MALFORMED_MESSAGE: return "malformed message";
	case GMIME_CRIT_INVALID_HEADER_NAME: return "invalid header name";
	case GMIME_CRIT_CONFLICTING_HEADER: return "conflicting header";
	case GMIME_CRIT_CONFLICTING_PARAMETER: return "conflicting parameter";
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
		return "multipart without boundary";
	case GMIME_WARN_INVALID_PARAMETER: return "invalid parameter";
	case GMIME_WARN_INVALID_ADDRESS_LIST: return "invalid address list";
	case GMIME_CRIT_NESTING_OVERFLOW: return "MIME nesting too deep";
	case GMIME_WARN_PART_WITHOUT_CONTENT: return "part without content";
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		return "part without headers or content";
	}
	return "parser warning";
}

/*
 * Parsing the header block alone, GMime sees every multipart as empty and
 * truncated: only what it says about the fields themselves counts.
 */
static bool
is_header_warning(GMimeParserWarning code)
{
	switch (code) {
	case GMIME_WARN_TRUNCATED_MESSAGE:
	case GMIME_WARN_MALFORMED_MULTIPART:
	case GMIME_WARN_MALFORMED_MESSAGE:
	case GMIME_WARN_PART_WITHOUT_CONTENT:
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
	case GMIME_CRIT_NESTING_OVERFLOW:
		return false;
	default:
		return true;
	}
}

/*
 * Not headers: an mbox "From " line, and blank lines before the first field
 * (seen in messages pasted from elsewhere). Parse from the line after them.
 */
static size_t
skip_preamble(struct msg *m, const char *p, size_t len)
{
	const char	*nl;
	size_t		 off = 0, line;

	if (len >= 5 && memcmp(p, "From ", 5) == 0 &&
	    (nl = memchr(p, '\n', len)) != NULL)
		off = (size_t)(nl - p) + 1;
	while (off < len && (nl = memchr(p + off, '\n', len - off)) != NULL) {
		line = (size_t)(nl - (p + off));
		if (strspn(p + off, " \t\r") < line)
			break;
		if (line == 0 || (line == 1 && p[off] == '\r'))
			break;	/* an empty line: no headers at all */
		off += line + 1;
		msg_defect(m, "blank line before the header fields");
	}
	return off;
}

/* The length of the header block, with its blank line, or len. */
static size_t
header_end(const char *p, size_t len)
{
	size_t	 i;

	if (len > 0 && p[0] == '\n')
		return 1;
	if (len > 1 && p[0] == '\r' && p[1] == '\n')
		return 2;
	for (i = 0; i + 1 < len; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/*
 * A GMime stream over len bytes at data (inside m->raw), without a copy:
 * the array stays until msg_free(), after GMime's objects are gone.
 */
GMimeStream *
msg_gmime_stream(struct msg *m, const char *data, size_t len)
{
	GByteArray	*ba;
	GMimeStream	*stream;

	ba = g_byte_array_new_take((guint8 *)(uintptr_t)data, len);
	m->arrays = xreallocarray(m->arrays, m->narrays + 1,
	    sizeof *m->arrays);
	m->arrays[m->narrays++] = ba;
	stream = g_mime_stream_mem_new_with_byte_array(ba);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	return stream;
}

GMimeMessage *
msg_gmime_parse(struct msg *m, const char *data, size_t len)
{
	GMimeStream	*stream;
	GMimeParser	*parser;
	GMimeMessage	*gm;

	stream = msg_gmime_stream(m, data, len);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	g_mime_parser_set_persist_stream(parser, TRUE);
	gm = g_mime_parser_construct_message(parser, m->options);
	g_object_unref(parser);
	g_object_unref(stream);
	return gm;
}

static void
parse_headers(struct msg *m)
{
	if (gmime_only || head_own(m) != 0) {
		MSG_STAT(head_gmime);
		if (head_gmime(m) != 0)
			return;
	} else
		MSG_STAT(head_own);
	if (m->nheaders == 0)
		msg_defect(m, "no header fields");
	load_ids(m);
	load_date(m);
	/*
	 * Address fields are parsed, and the automatic-mail check made, when
	 * first asked for; their defects still go here in the list.
	 */
	m->addr_defect_pos = m->ndefects;
	load_return_path(m);
	load_list(m);
}

/* Every address field, once, its defects where parse_headers() left room. */
static void
ensure_addrs(struct msg *m)
{
	int	 f;

	if (m->addrs_done)
		return;
	m->addrs_done = true;
	m->defect_insert = m->addr_defect_pos;
	for (f = 0; f < MSG_ADDR_FIELD_COUNT; f++)
		load_addrs(m, (enum msg_addr_field)f);
	m->defect_insert = SIZE_MAX;
}

/* The header block parsed by GMime: what msg-head.c is unsure of. */
static int
head_gmime(struct msg *m)
{
	GMimeMessage		*gm;
	GMimeObject		*part;
	GMimeContentType	*ct = NULL;

	m->header_stage = true;
	gm = msg_gmime_parse(m, m->parse, m->header_len);
	m->header_stage = false;
	if (gm == NULL) {
		msg_defect(m, "no header block could be parsed");
		return -1;
	}
	if ((part = g_mime_message_get_mime_part(gm)) != NULL)
		ct = g_mime_object_get_content_type(part);
	set_fallback_charsets(m, ct == NULL ? NULL :
	    g_mime_content_type_get_parameter(ct, "charset"));
	load_headers(m, gm);
	msg_body_note_top(m, gm);
	g_object_unref(gm);
	return 0;
}

/*
 * The header block split by msg-head.c, with the defects GMime's parser
 * reports for such a block: unencoded 8-bit fields, repeated fields that
 * may appear once, address lists it cannot read. -1, with nothing kept,
 * when GMime must parse it after all: a line that is not a field, a
 * repeated Content-* field, a Subject or Content-* value GMime would warn
 * about, a multipart without a boundary.
 */
static int
head_own(struct msg *m)
{
	struct msg_field	*f;
	char			**vals = NULL, *store = NULL, *o;
	size_t			 i, n, ndefects = m->ndefects;
	int			 rc = -1;

	if (msg_head_split(m->parse, m->header_len, &f, &n) != 0)
		return -1;
	if (n > 0) {
		store = xmalloc(m->header_len + 2 * n + 1);
		vals = xreallocarray(NULL, n, sizeof *vals);
	}
	for (i = 0, o = store; i < n; i++) {
		vals[i] = o;
		o += msg_head_unfold(f[i].value, f[i].value_len, o) + 1;
	}
	msg_head_warn_fields(m, f, n, 0);
	/* As GMime does: with its default fallback charsets until here. */
	if (msg_head_message_fields(m, f, vals, n, true) != 0 ||
	    head_top_part(m, f, vals, n) != 0) {
		msg_defects_truncate(m, ndefects);
		m->ndeferred = 0;
		top_free(m);
		free(store);
		goto done;
	}
	head_keep(m, f, vals, n, o);
	m->head_store = store;
	m->own_head = true;
	set_fallback_charsets(m, m->top.type == NULL ? NULL :
	    msg_ctype_param(m->top.type, "charset"));
	rc = 0;
done:
	free(vals);
	free(f);
	return rc;
}

/*
 * What GMime's parser reports while it reads the fields of a header block
 * at byte base: fields it drops, fields with 8-bit bytes.
 */
void
msg_head_warn_fields(struct msg *m, const struct msg_field *f, size_t n,
    size_t base)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (f[i].invalid)
			msg_defect(m, "%s at byte %zu: %.*s",
			    warning_text(GMIME_CRIT_INVALID_HEADER_NAME),
			    base + f[i].offset, (int)MIN(f[i].value_len, 80),
			    f[i].value);
		else if (!utf8_ascii(f[i].name, f[i].name_len) ||
		    (!utf8_ascii(f[i].value, f[i].value_len) &&
		    !g_utf8_validate_len(f[i].value, f[i].value_len, NULL)))
			msg_defect(m, "%s at byte %zu: %.*s",
			    warning_text(GMIME_WARN_UNENCODED_8BIT_HEADER),
			    base + f[i].offset, (int)MIN(f[i].name_len, 80),
			    f[i].name);
	}
}

/* Only 7-bit bytes? */
static bool
utf8_ascii(const char *s, size_t len)
{
	uint64_t	 w, acc = 0;
	size_t		 i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		acc |= w;
	}
	if (acc & UINT64_C(0x8080808080808080))
		return false;
	for (; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return false;
	}
	return true;
}

static void
top_free(struct msg *m)
{
	msg_ctype_free(m->top.type);
	if (m->top.disposition != NULL)
		g_object_unref(m->top.disposition);
	m->top.type = NULL;
	m->top.disposition = NULL;
}

/*
 * GMime's parse of an address list as written (folds and all): what it
 * warns about is reported at the field's offset.
 */
static void
addr_check(struct msg *m, const char *value, size_t len, size_t offset)
{
	InternetAddressList	*list;
	char			*raw;

	raw = xstrndup(value, len);
	m->warn_mode = MSG_WARN_AT;
	m->warn_at = (gint64)offset;
	list = internet_address_list_parse(m->options, raw);
	m->warn_mode = MSG_WARN_RECORD;
	free(raw);
	if (list != NULL)
		g_object_unref(list);
}

/* The check of a header field's address list, when defects are asked for. */
static void
defer_addr_check(struct msg *m, const struct msg_field *f)
{
	struct msg_deferred	*d;

	m->deferred = xreallocarray(m->deferred, m->ndeferred + 1,
	    sizeof *m->deferred);
	d = &m->deferred[m->ndeferred++];
	d->value = f->value;
	d->len = f->value_len;
	d->offset = f->offset;
	d->pos = m->ndefects;
}

/*
 * The deferred checks, their defects put where they were found: the last
 * first, so that each one's place is still where it was.
 */
static void
run_deferred(struct msg *m)
{
	struct msg_deferred	*d;
	GMimeParserOptions	*options;

	if (m->ndeferred == 0)
		return;
	/* The options of the header stage: GMime's fallback charsets. */
	options = m->options;
	m->options = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(m->options, on_warning, m);
	while (m->ndeferred > 0) {
		d = &m->deferred[--m->ndeferred];
		m->defect_insert = d->pos;
		addr_check(m, d->value, d->len, d->offset);
		m->defect_insert = SIZE_MAX;
	}
	g_mime_parser_options_free(m->options);
	m->options = options;
}

void
msg_defects_truncate(struct msg *m, size_t n)
{
	while (m->ndefects > n)
		free(m->defects[--m->ndefects]);
}

/*
 * What GMime's message does with each field that is not Content-*: a
 * repeated field that RFC 5322 allows once is reported, address fields are
 * parsed (their warnings reported at the field), the Subject decoded.
 */
int
msg_head_message_fields(struct msg *m, const struct msg_field *f, char **vals,
    size_t n, bool defer)
{
	char	*d;
	size_t	 i;
	int	 kind;

	m->warned = false;
	for (i = 0; i < n; i++) {
		if (f[i].invalid || (f[i].name_len >= 8 &&
		    strncasecmp(f[i].name, "Content-", 8) == 0))
			continue;
		kind = message_field_kind(&f[i]);
		if (kind & FIELD_ONCE)
			msg_head_repeated(m, f, i);
		/* Most lists are plain: no warning to look for. */
		if ((kind & FIELD_ADDRESS) &&
		    !msg_addr_simple(f[i].value, f[i].value_len)) {
			if (defer)
				defer_addr_check(m, &f[i]);
			else
				addr_check(m, f[i].value, f[i].value_len,
				    f[i].offset);
		}
		/*
		 * GMime decodes values (the Subject, and others it reads)
		 * and warns about RFC 2047 words it cannot: when it would,
		 * let it parse the block.
		 */
		if (strstr(vals[i], "=?") != NULL) {
			m->warn_mode = MSG_WARN_CAPTURE;
			d = g_mime_utils_header_decode_text(m->options, vals[i]);
			m->warn_mode = MSG_WARN_RECORD;
			g_free(d);
		}
		if (m->warned)
			return -1;
	}
	return 0;
}

/*
 * What GMime's message does with a field: RFC 5322 allows it once, it
 * holds addresses GMime parses (not the Resent-* ones).
 */
static int
message_field_kind(const struct msg_field *f)
{
	static const struct {
		const char	*name;
		size_t		 len;
		int		 kind;
	} fields[] = {
		{ "Bcc", 3, FIELD_ONCE | FIELD_ADDRESS },
		{ "Cc", 2, FIELD_ONCE | FIELD_ADDRESS },
		{ "Date", 4, FIELD_ONCE },
		{ "From", 4, FIELD_ONCE | FIELD_ADDRESS },
		{ "In-Reply-To", 11, FIELD_ONCE },
		{ "Message-ID", 10, FIELD_ONCE },
		{ "References", 10, FIELD_ONCE },
		{ "Reply-To", 8, FIELD_ONCE | FIELD_ADDRESS },
		{ "Sender", 6, FIELD_ONCE | FIELD_ADDRESS },
		{ "Subject", 7, FIELD_ONCE },
		{ "To", 2, FIELD_ONCE | FIELD_ADDRESS },
	};
	size_t	 k;

	for (k = 0; k < G_N_ELEMENTS(fields); k++) {
		if (f->name_len == fields[k].len &&
		    strncasecmp(f->name, fields[k].name, f->name_len) == 0)
			return fields[k].kind;
	}
	return 0;
}

/*
 * GMime reports a field repeated in a part (any field) or a message (the
 * ones RFC 5322 allows once): "duplicated" when the raw values are the
 * same as the first one's, "conflicting" when not.
 */
void
msg_head_repeated(struct msg *m, const struct msg_field *f, size_t i)
{
	size_t	 j;

	for (j = 0; j < i; j++) {
		if (f[j].name_len != f[i].name_len ||
		    strncasecmp(f[j].name, f[i].name, f[i].name_len) != 0)
			continue;
		msg_defect(m, "%s at byte %zu: %.*s", warning_text(
		    f[j].value_len == f[i].value_len && memcmp(f[j].value,
		    f[i].value, f[i].value_len) == 0 ?
		    GMIME_WARN_DUPLICATED_HEADER : GMIME_CRIT_CONFLICTING_HEADER),
		    f[i].offset, (int)MIN(f[i].name_len, 80), f[i].name);
		return;
	}
}

/*
 * The Content-* fields of the top part: its type, disposition and
 * transfer encoding, parsed by GMime as it would. -1 when any of them
 * makes GMime warn or is repeated.
 */
static int
head_top_part(struct msg *m, const struct msg_field *f, char **vals,
    size_t n)
{
	size_t	 i, j;

	for (i = 0; i < n; i++) {
		if (f[i].name_len < 8 || strncasecmp(f[i].name, "Content-",
		    8) != 0)
			continue;
		/*
		 * 8-bit text is decoded with the fallback charsets, which the
		 * header stage and GMime's body parse do not share.
		 */
		if (!utf8_ascii(vals[i], strlen(vals[i])))
			return -1;
		for (j = 0; j < i; j++) {
			if (f[j].name_len == f[i].name_len &&
			    strncasecmp(f[j].name, f[i].name,
			    f[i].name_len) == 0)
				return -1;
		}
	}
	m->top.encoding = GMIME_CONTENT_ENCODING_DEFAULT;
	m->top.first_encoding = GMIME_CONTENT_ENCODING_DEFAULT;
	return msg_part_fields(m, f, vals, n, &m->top, false);
}

/* Room for count header fields, capped by max_headers (said once). */
static size_t
headers_alloc(struct msg *m, size_t count)
{
	if (count > m->limits.max_headers) {
		msg_defect(m, "%zu header fields, only the first %zu kept",
		    count, m->limits.max_headers);
		count = m->limits.max_headers;
	}
	if (count > 0) {
		m->headers = xreallocarray(NULL, count, sizeof *m->headers);
		m->raw_values = xreallocarray(NULL, count,
		    sizeof *m->raw_values);
	}
	return count;
}

/* The fields kept: names and unfolded values in one block. */
static void
head_keep(struct msg *m, const struct msg_field *f, char **vals, size_t n,
    char *o)
{
	size_t	 i, k, count = 0;

	for (i = 0; i < n; i++)
		count += !f[i].invalid;
	count = headers_alloc(m, count);
	for (i = 0, k = 0; k < count; i++) {
		if (f[i].invalid)
			continue;
		if (utf8_ascii(f[i].name, f[i].name_len)) {
			memcpy(o, f[i].name, f[i].name_len);
			o[f[i].name_len] = '\0';
			m->headers[k].name = o;
			o += f[i].name_len + 1;
		} else
			m->headers[k].name = msg_keep_utf8(m, f[i].name,
			    f[i].name_len);
		m->headers[k].value = NULL;
		m->raw_values[k] = vals[i];
		k++;
	}
	m->nheaders = count;
}

/*
 * Raw 8-bit text in headers is most often in the charset the body declares;
 * else UTF-8, else the Western Windows code page.
 */
static void
set_fallback_charsets(struct msg *m, const char *charset)
{
	const char		*cs[4] = { "UTF-8", NULL, NULL, NULL };

	if (charset != NULL &&
	    g_ascii_strcasecmp(charset, "us-ascii") != 0 &&
	    g_ascii_strcasecmp(charset, "utf-8") != 0 &&
	    strlen(charset) < 64) {
		cs[1] = g_mime_charset_iconv_name(charset);
		cs[2] = "windows-1252";
	} else
		cs[1] = "windows-1252";
	g_mime_parser_options_set_fallback_charsets(m->options, cs);
}

/*
 * GMime files Content-* fields under the top MIME part, the rest under the
 * message: gather both and put them back in the order they were written.
 */
static size_t
gather_headers(GMimeMessage *gm, struct header_ref **out)
{
	GMimeHeaderList		*lists[2];
	GMimeObject		*part;
	struct header_ref	*refs = NULL;
	size_t			 n = 0, k;
	int			 i, count;

	lists[0] = g_mime_object_get_header_list(GMIME_OBJECT(gm));
	part = g_mime_message_get_mime_part(gm);
	lists[1] = part == NULL ? NULL : g_mime_object_get_header_list(part);
	for (k = 0; k < 2; k++) {
		if (lists[k] == NULL)
			continue;
		count = g_mime_header_list_get_count(lists[k]);
		refs = xreallocarray(refs, n + (size_t)count + 1, sizeof *refs);
		for (i = 0; i < count; i++) {
			refs[n].h = g_mime_header_list_get_header_at(lists[k], i);
			refs[n].offset = g_mime_header_get_offset(refs[n].h);
			refs[n].order = n;
			n++;
		}
	}
	if (n > 0)
		qsort(refs, n, sizeof *refs, compare_header_ref);
	*out = refs;
	return n;
}

static int
compare_header_ref(const void *a, const void *b)
{
	const struct header_ref	*x = a, *y = b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void
load_headers(struct msg *m, GMimeMessage *gm)
{
	struct header_ref	*refs;
	size_t			 i, count;

	count = gather_headers(gm, &refs);
	count = headers_alloc(m, count);
	for (i = 0; i < count; i++)
		load_header(m, i, refs[i].h);
	m->nheaders = count;
	free(refs);
}

/* The name and the unfolded value; the decoded value when first asked. */
static void
load_header(struct msg *m, size_t i, GMimeHeader *h)
{
	char		*unfolded;
	const char	*name;

	name = g_mime_header_get_name(h);
	unfolded = g_mime_utils_header_unfold(g_mime_header_get_raw_value(h));
	m->headers[i].name = msg_keep_utf8(m, name, strlen(name));
	m->headers[i].value = NULL;
	m->raw_values[i] = msg_keep(m, xstrdup(trim(unfolded)));
	g_free(unfolded);
}

/*
 * The i-th header's value, RFC 2047 decoded, valid UTF-8, trimmed. Most
 * fields (Received, DKIM-Signature...) are never asked for: decode each
 * the first time it is.
 */
static const char *
header_value(struct msg *m, size_t i)
{
	enum msg_warn_mode	 mode;
	char			*decoded;

	if (m->headers[i].value != NULL)
		return m->headers[i].value;
	mode = m->warn_mode;
	m->warn_mode = MSG_WARN_QUIET;	/* the parser has warned already */
	decoded = decode_text(m, m->raw_values[i]);
	m->warn_mode = mode;
	m->headers[i].value = trim(msg_keep(m, msg_utf8_sanitize(decoded,
	    strlen(decoded))));
	g_free(decoded);
	return m->headers[i].value;
}

/*
 * RFC 2047 decoding by GMime. GMime joins adjacent encoded words before
 * decoding them, which loses everything after a base64 word that ends in
 * padding ("...==?= =?UTF-8?B?..."): decode such runs one piece at a time,
 * cutting after each padded word (white space between encoded words is not
 * text, RFC 2047 section 6.2).
 */
static char *
decode_text(struct msg *m, const char *s)
{
	GString		*out;
	const char	*cut, *next;
	char		*piece, *d;

	/* Plain 7-bit text without encoded words decodes to itself. */
	if (strstr(s, "=?") == NULL && utf8_ascii(s, strlen(s)))
		return g_strdup(s);
	out = g_string_new(NULL);
	while ((cut = strstr(s, "=?=")) != NULL) {
		piece = g_strndup(s, (size_t)(cut + 3 - s));
		d = g_mime_utils_header_decode_text(m->options, piece);
		g_string_append(out, d);
		g_free(d);
		g_free(piece);
		next = cut + 3 + strspn(cut + 3, " \t");
		s = strncmp(next, "=?", 2) == 0 ? next : cut + 3;
	}
	d = g_mime_utils_header_decode_text(m->options, s);
	g_string_append(out, d);
	g_free(d);
	return g_string_free(out, FALSE);
}

/* The idx-th unfolded, undecoded value of a header, or NULL. */
static const char *
raw_header(struct msg *m, const char *name, size_t idx)
{
	size_t	 i;
	int	 first = tolower((unsigned char)name[0]);

	for (i = 0; i < m->nheaders; i++) {
		if (tolower((unsigned char)m->headers[i].name[0]) != first ||
		    strcasecmp(m->headers[i].name, name) != 0)
			continue;
		if (idx-- == 0)
			return m->raw_values[i];
	}
	return NULL;
}

/* Strip leading and trailing white space in place. */
static char *
trim(char *s)
{
	char	*p, *e;

	for (p = s; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'; p++)
		continue;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		e--;
	*e = '\0';
	if (p != s)
		memmove(s, p, (size_t)(e - p) + 1);
	return s;
}

static void
load_ids(struct msg *m)
{
	const char	*v;

	if ((v = msg_header(m, "Subject", 0)) != NULL)
		m->subject = v;
	if ((v = raw_header(m, "Message-ID", 0)) != NULL) {
		m->message_id = first_reference(m, v);
		if (m->message_id == NULL)
			msg_defect(m, "unparsable Message-ID: %.80s", v);
	}
	if ((v = raw_header(m, "In-Reply-To", 0)) != NULL)
		m->in_reply_to = first_reference(m, v);
	if ((v = raw_header(m, "References", 0)) != NULL)
		m->references = all_references(m, v);
}

/* The first message id in v, without <>; NULL when there is none. */
static const char *
first_reference(struct msg *m, const char *v)
{
	char		*id;
	const char	*out;

	if ((id = g_mime_utils_decode_message_id(v)) == NULL)
		return NULL;
	if (*id == '\0') {
		g_free(id);
		return NULL;
	}
	out = msg_keep_utf8(m, id, strlen(id));
	g_free(id);
	return out;
}

/* Every id of a References field, each in <>, space separated. */
static const char *
all_references(struct msg *m, const char *v)
{
	GMimeReferences	*refs;
	GString		*s;
	const char	*out;
	int		 i, n;

	refs = g_mime_references_parse(m->options, v);
	n = refs == NULL ? 0 : g_mime_references_length(refs);
	if (n == 0) {
		if (refs != NULL)
			g_mime_references_free(refs);
		return *v == '\0' ? NULL : msg_keep_utf8(m, v, strlen(v));
	}
	s = g_string_new(NULL);
	for (i = 0; i < n; i++)
		g_string_append_printf(s, "%s<%s>", i == 0 ? "" : " ",
		    g_mime_references_get_message_id(refs, i));
	out = msg_keep_utf8(m, s->str, s->len);
	g_string_free(s, TRUE);
	g_mime_references_free(refs);
	return out;
}

static void
load_date(struct msg *m)
{
	GDateTime	*dt;

	if ((m->date = msg_header(m, "Date", 0)) == NULL)
		return;
	if ((dt = g_mime_utils_header_decode_date(m->date)) == NULL) {
		msg_defect(m, "unparsable Date: %.80s", m->date);
		return;
	}
	m->date_time = (time_t)g_date_time_to_unix(dt);
	g_date_time_unref(dt);
}

/* Every occurrence of the field, each parsed as an address list. */
static void
load_addrs(struct msg *m, enum msg_addr_field f)
{
	InternetAddressList	*list;
	const char		*v;
	size_t			 idx;

	if (f == MSG_RETURN_PATH)
		return;
	for (idx = 0; (v = raw_header(m, addr_field_names[f], idx)) != NULL;
	    idx++) {
		if (*v == '\0')
			continue;
		list = internet_address_list_parse(m->options, v);
		if (list == NULL || internet_address_list_length(list) == 0) {
			msg_defect(m, "no address in %s: %.80s",
			    addr_field_names[f], v);
			add_addr_guess(m, f, v);
		}
		if (list != NULL) {
			add_addr_list(m, f, list, 0);
			g_object_unref(list);
		}
	}
}

/*
 * A field GMime could not parse ("Big Bug bb@bug.com"): the word with an @
 * is the address, the rest the name. Nothing when there is no @.
 */
static void
add_addr_guess(struct msg *m, enum msg_addr_field f, const char *v)
{
	const char	*at, *start, *end;
	char		*addr, *name, *dname;

	if ((at = strchr(v, '@')) == NULL)
		return;
	for (start = at; start > v && !isspace((unsigned char)start[-1]);
	    start--)
		continue;
	end = at + strcspn(at, " \t,;");
	addr = g_strndup(start, (size_t)(end - start));
	g_strstrip(g_strdelimit(addr, "<>\"'", ' '));
	name = g_strndup(v, (size_t)(start - v));
	dname = decode_text(m, g_strstrip(name));
	if (strchr(addr, ' ') == NULL && *addr != '\0')
		add_addr(m, f, dname, addr);
	g_free(addr);
	g_free(name);
	g_free(dname);
}

/* Append a list's mailboxes; a group's members take its place. */
static void
add_addr_list(struct msg *m, enum msg_addr_field f,
    InternetAddressList *list, int depth)
{
	InternetAddress	*ia;
	int		 i, n;

	n = internet_address_list_length(list);
	for (i = 0; i < n; i++) {
		ia = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia) && depth < 4)
			add_addr_list(m, f, internet_address_group_get_members(
			    INTERNET_ADDRESS_GROUP(ia)), depth + 1);
		else if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			add_addr(m, f, internet_address_get_name(ia),
			    internet_address_mailbox_get_addr(
			    INTERNET_ADDRESS_MAILBOX(ia)));
	}
}

static void
add_addr(struct msg *m, enum msg_addr_field f, const char *name,
    const char *address)
{
	struct msg_addr	*a;
	size_t		 n = m->naddrs[f];

	if (n >= m->limits.max_headers) {
		msg_defect(m, "too many addresses in %s", addr_field_names[f]);
		return;
	}
	m->addrs[f] = xreallocarray(m->addrs[f], n + 1, sizeof *m->addrs[f]);
	a = &m->addrs[f][n];
	if (name == NULL)
		name = "";
	if (address == NULL)
		address = "";
	a->name = msg_keep_utf8(m, name, strlen(name));
	trim(m->pool[m->npool - 1]);
	a->address = msg_keep_utf8(m, address, strlen(address));
	m->naddrs[f] = n + 1;
}

/*
 * Return-Path is "<addr>" or "<>", sometimes with a source route
 * ("<@relay:addr>") or without the brackets. Each occurrence counts; the
 * first (the last hop's) is the envelope sender.
 */
static void
load_return_path(struct msg *m)
{
	const char	*v, *lt, *gt, *colon;
	char		*addr;
	size_t		 idx;

	for (idx = 0; (v = raw_header(m, "Return-Path", idx)) != NULL; idx++) {
		if ((lt = strchr(v, '<')) != NULL &&
		    (gt = strchr(lt, '>')) != NULL)
			addr = xstrndup(lt + 1, (size_t)(gt - lt - 1));
		else
			addr = xstrdup(v);
		trim(addr);
		if (addr[0] == '@' && (colon = strchr(addr, ':')) != NULL)
			memmove(addr, colon + 1, strlen(colon + 1) + 1);
		add_addr(m, MSG_RETURN_PATH, "", addr);
		free(addr);
	}
	if (m->naddrs[MSG_RETURN_PATH] > 0)
		m->return_path = m->addrs[MSG_RETURN_PATH][0].address;
}

/* List-Id: "Name <id>" or a bare id; keep the id. */
static void
load_list(struct msg *m)
{
	const char	*v, *lt, *gt;
	size_t		 i;

	for (i = 0; i < m->nheaders; i++) {
		if (strncasecmp(m->headers[i].name, "List-", 5) == 0 ||
		    strcasecmp(m->headers[i].name, "Mailing-List") == 0)
			m->is_list = true;
	}
	if ((v = msg_header(m, "List-Id", 0)) == NULL)
		return;
	m->is_list = true;
	if ((lt = strrchr(v, '<')) != NULL && (gt = strchr(lt, '>')) != NULL &&
	    gt > lt + 1)
		m->list_id = msg_keep(m, trim(xstrndup(lt + 1,
		    (size_t)(gt - lt - 1))));
	else if (*v != '\0')
		m->list_id = v;
}

/* Why the message is automatic (RFC 3834 and common practice), or NULL. */
static const char *
check_auto(struct msg *m)
{
	const char	*why;

	if ((why = check_auto_headers(m)) != NULL)
		return why;
	if ((why = check_auto_content_type(m)) != NULL)
		return why;
	return check_auto_sender(m);
}

static const char *
check_auto_headers(struct msg *m)
{
	const char	*v;

	if ((v = msg_header(m, "Auto-Submitted", 0)) != NULL && *v != '\0' &&
	    !(strcspn(v, " \t;(") == 2 && g_ascii_strncasecmp(v, "no", 2) == 0))
		return msg_keep(m, xasprintf("Auto-Submitted: %s", v));
	if ((v = msg_header(m, "Precedence", 0)) != NULL &&
	    (has_token(v, "bulk") || has_token(v, "list") ||
	    has_token(v, "junk")))
		return msg_keep(m, xasprintf("Precedence: %s", v));
	if ((v = msg_header(m, "X-Auto-Response-Suppress", 0)) != NULL &&
	    (has_token(v, "all") || has_token(v, "oof")))
		return msg_keep(m, xasprintf("X-Auto-Response-Suppress: %s",
		    v));
	if ((v = msg_header(m, "X-Autoreply", 0)) != NULL ||
	    (v = msg_header(m, "X-Autorespond", 0)) != NULL)
		return "X-Autoreply/X-Autorespond header";
	if (msg_header(m, "X-Failed-Recipients", 0) != NULL)
		return "X-Failed-Recipients header (a bounce)";
	return NULL;
}

static const char *
check_auto_content_type(struct msg *m)
{
	GMimeContentType	*ct;
	const char		*v, *why = NULL;
	const char		*type;
	char			*s;

	if ((v = raw_header(m, "Content-Type", 0)) == NULL)
		return NULL;
	/* Only these two types say anything: most messages need no parse. */
	if (strcasestr(v, "report") == NULL &&
	    strcasestr(v, "delivery-status") == NULL)
		return NULL;
	m->warn_mode = MSG_WARN_QUIET;
	ct = g_mime_content_type_parse(m->options, v);
	m->warn_mode = MSG_WARN_RECORD;
	if (ct == NULL)
		return NULL;
	if (g_mime_content_type_is_type(ct, "multipart", "report")) {
		type = g_mime_content_type_get_parameter(ct, "report-type");
		s = xasprintf("delivery report (multipart/report; "
		    "report-type=%.40s)", type == NULL ? "none" : type);
		why = msg_keep_utf8(m, s, strlen(s));
		free(s);
	} else if (g_mime_content_type_is_type(ct, "message",
	    "delivery-status"))
		why = "delivery report (message/delivery-status)";
	g_object_unref(ct);
	return why;
}

static const char *
check_auto_sender(struct msg *m)
{
	const struct msg_addr	*a;
	size_t			 i, n;

	if (m->return_path != NULL && *m->return_path == '\0')
		return "null envelope sender (Return-Path: <>)";
	if (m->return_path != NULL && is_daemon_address(m->return_path))
		return msg_keep(m, xasprintf("Return-Path %s",
		    m->return_path));
	n = msg_addrs(m, MSG_FROM, &a);
	for (i = 0; i < n; i++) {
		if (is_daemon_address(a[i].address))
			return msg_keep(m, xasprintf("From %s",
			    a[i].address));
	}
	if (n == 0 && (n = msg_addrs(m, MSG_SENDER, &a)) > 0 &&
	    is_daemon_address(a[0].address))
		return msg_keep(m, xasprintf("Sender %s", a[0].address));
	return NULL;
}

/* MAILER-DAEMON, LISTSERV, majordomo: software, not a person. */
static bool
is_daemon_address(const char *addr)
{
	static const char *const daemons[] = { "mailer-daemon", "listserv",
	    "majordomo" };
	size_t	 i, local;

	local = strcspn(addr, "@");
	for (i = 0; i < sizeof daemons / sizeof daemons[0]; i++) {
		if (local == strlen(daemons[i]) &&
		    g_ascii_strncasecmp(addr, daemons[i], local) == 0)
			return true;
	}
	return false;
}

/* Does v hold word as a whole token (any case, any separator)? */
static bool
has_token(const char *v, const char *word)
{
	size_t		 n = strlen(word);
	const char	*p;

	for (p = v; *p != '\0'; p++) {
		if (p != v && isalnum((unsigned char)p[-1]))
			continue;
		if (g_ascii_strncasecmp(p, word, n) == 0 &&
		    !isalnum((unsigned char)p[n]))
			return true;
	}
	return false;
}

const char *
msg_raw(const struct msg *m, size_t *len)
{
	if (len != NULL)
		*len = m->raw_len;
	return m->raw;
}

const char *
msg_subject(struct msg *m)
{
	return m->subject;
}

const char *
msg_message_id(struct msg *m)
{
	return m->message_id;
}

const char *
msg_in_reply_to(struct msg *m)
{
	return m->in_reply_to;
}

const char *
msg_references(struct msg *m)
{
	return m->references;
}

const char *
msg_date(struct msg *m)
{
	return m->date;
}

time_t
msg_date_time(struct msg *m)
{
	return m->date_time;
}

size_t
msg_addrs(struct msg *m, enum msg_addr_field f, const struct msg_addr **out)
{
	if ((int)f < 0 || f >= MSG_ADDR_FIELD_COUNT) {
		*out = NULL;
		return 0;
	}
	ensure_addrs(m);
	*out = m->addrs[f];
	return m->naddrs[f];
}

const char *
msg_return_path(struct msg *m)
{
	return m->return_path;
}

size_t
msg_headers(struct msg *m, const struct msg_header **out)
{
	size_t	 i;

	for (i = 0; i < m->nheaders; i++)
		header_value(m, i);
	*out = m->headers;
	return m->nheaders;
}

const char *
msg_header(struct msg *m, const char *name, size_t idx)
{
	size_t	 i;
	int	 first = tolower((unsigned char)name[0]);

	/* Rules ask often: the first letter rules most fields out cheaply. */
	for (i = 0; i < m->nheaders; i++) {
		if (tolower((unsigned char)m->headers[i].name[0]) != first ||
		    strcasecmp(m->headers[i].name, name) != 0)
			continue;
		if (idx-- == 0)
			return header_value(m, i);
	}
	return NULL;
}

const char *
msg_text(struct msg *m)
{
	msg_body_parse(m);
	return m->text;
}

size_t
msg_attachments(struct msg *m, const struct msg_attachment **out)
{
	msg_body_parse(m);
	msg_body_sizes(m);
	*out = m->attachments;
	return m->nattachments;
}

const char *
msg_list_id(struct msg *m)
{
	return m->list_id;
}

bool
msg_is_list(struct msg *m)
{
	return m->is_list;
}

bool
msg_is_auto(struct msg *m, const char **why)
{
	if (!m->auto_done) {
		m->auto_done = true;
		m->auto_reason = check_auto(m);
	}
	if (why != NULL)
		*why = m->auto_reason;
	return m->auto_reason != NULL;
}

size_t
msg_defects(struct msg *m, const char *const **out)
{
	/* The address fields' defects come after the header block's. */
	ensure_addrs(m);
	run_deferred(m);
	*out = (const char *const *)m->defects;
	return m->ndefects;
}
