/*
 * Conditions. A condition is a mapping with one key ({subject: PATTERN});
 * a mapping with several keys, or a list, means all of them. Patterns:
 * a string, or a list of strings of which any may match. Address
 * conditions match each address's addr-spec (user@domain) and hold when
 * any one matches.
 *
 * Evaluation keeps two invariants: a condition that fails leaves the
 * captures as they were before it (so `not` and failed `any` branches
 * leave nothing behind), and ev->why holds the first failure.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg.h"
#include "rule-impl.h"
#include "xmalloc.h"

#define WHY_VALUE_MAX	80

enum cond_kind {
	COND_ALL,
	COND_ANY,
	COND_NOT,
	COND_FROM,
	COND_TO,
	COND_CC,
	COND_RECIPIENT,
	COND_SENDER,
	COND_SUBJECT,
	COND_BODY,
	COND_HEADER,
	COND_ATTACHMENT,
	COND_SIZE,
	COND_LIST,
	COND_AUTO
};

static const char *const cond_names[] = { "all", "any", "not", "from", "to",
    "cc", "recipient", "sender", "subject", "body", "header", "attachment",
    "size", "list", "auto", NULL };

struct cond {
	enum cond_kind	  kind;
	char		 *where;	/* "FILE:LINE:COL" */
	struct cond	**kids;
	size_t		  nkids;
	struct match	**pats;		/* any of them */
	size_t		  npats;
	struct match	 *type;		/* attachment type */
	char		 *header;
	unsigned long long over, under;	/* size; 0: none */
	bool		  want;		/* list, auto */
};

/* The values a condition looks at, for one message. */
struct values {
	const char	**v;
	size_t		  n;
	char		**owned;
	size_t		  nowned;
};

static struct cond	*cond_new(struct rule_load *, enum cond_kind,
			    const struct ydoc_node *);
static struct cond	*parse_all(struct rule_load *,
			    const struct ydoc_node *);
static struct cond	*parse_leaf(struct rule_load *,
			    const struct ydoc_node *, const struct ydoc_node *);
static int		 parse_kids(struct rule_load *, struct cond *,
			    const struct ydoc_node *);
static int		 parse_patterns(struct rule_load *, struct cond *,
			    const struct ydoc_node *);
static int		 parse_header(struct rule_load *, struct cond *,
			    const struct ydoc_node *);
static int		 parse_attachment(struct rule_load *, struct cond *,
			    const struct ydoc_node *);
static int		 parse_size(struct rule_load *, struct cond *,
			    const struct ydoc_node *);
static int		 parse_bytes(const char *, unsigned long long *);
static int		 eval_combo(const struct cond *, struct rule_eval *);
static int		 eval_text(const struct cond *, struct rule_eval *);
static int		 eval_attachment(const struct cond *,
			    struct rule_eval *);
static int		 eval_size(const struct cond *, struct rule_eval *);
static int		 eval_flag(const struct cond *, struct rule_eval *);
static int		 try_patterns(const struct cond *, struct rule_eval *,
			    const char *);
static void		 get_values(const struct cond *, struct rule_eval *,
			    struct values *);
static void		 add_addrs(struct rule_eval *, enum msg_addr_field,
			    struct values *);
static void		 add_value(struct values *, const char *);
static void		 values_free(struct values *);
static void		 fail(struct rule_eval *, const char *, ...)
			    __attribute__((format(printf, 2, 3)));
static char		*show_values(const struct values *);
static void		 note_hit(const struct cond *, struct rule_eval *,
			    const char *);
static void		 show_one(struct buf *, const char *);

static struct cond *
cond_new(struct rule_load *l, enum cond_kind kind, const struct ydoc_node *n)
{
	struct cond	*c;

	c = xcalloc(1, sizeof *c);
	c->kind = kind;
	c->where = xasprintf("%s:%d:%d", l->doc->file, n->line, n->col);
	return c;
}

void
cond_free(struct cond *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nkids; i++)
		cond_free(c->kids[i]);
	free(c->kids);
	for (i = 0; i < c->npats; i++)
		match_free(c->pats[i]);
	free(c->pats);
	match_free(c->type);
	free(c->header);
	free(c->where);
	free(c);
}

struct cond *
cond_parse(struct rule_load *l, const struct ydoc_node *n)
{
	if (n->type == YDOC_SEQ ||
	    (n->type == YDOC_MAP && n->n > 1))
		return parse_all(l, n);
	if (n->type == YDOC_MAP && n->n == 1)
		return parse_leaf(l, n->pairs[0].key, n->pairs[0].value);
	rule_error(l, n, "a condition must be a mapping such as "
	    "{subject: PATTERN}, not %s", ydoc_type_name(n));
	return NULL;
}

/* A list, or a mapping of several keys: all of them. */
static struct cond *
parse_all(struct rule_load *l, const struct ydoc_node *n)
{
	struct cond	*c, *kid;
	size_t		 i;

	if (n->type == YDOC_SEQ) {
		c = cond_new(l, COND_ALL, n);
		if (parse_kids(l, c, n) != 0) {
			cond_free(c);
			return NULL;
		}
		return c;
	}
	c = cond_new(l, COND_ALL, n);
	c->kids = xcalloc(n->n, sizeof *c->kids);
	for (i = 0; i < n->n; i++) {
		if ((kid = parse_leaf(l, n->pairs[i].key,
		    n->pairs[i].value)) != NULL)
			c->kids[c->nkids++] = kid;
	}
	if (c->nkids != n->n) {
		cond_free(c);
		return NULL;
	}
	return c;
}

static int
parse_kids(struct rule_load *l, struct cond *c, const struct ydoc_node *n)
{
	struct cond	*kid;
	size_t		 i;
	int		 rc = 0;

	if (n->type != YDOC_SEQ || n->n == 0) {
		rule_error(l, n, "expected a non-empty list of conditions");
		return -1;
	}
	c->kids = xcalloc(n->n, sizeof *c->kids);
	for (i = 0; i < n->n; i++) {
		if ((kid = cond_parse(l, n->items[i])) == NULL)
			rc = -1;
		else
			c->kids[c->nkids++] = kid;
	}
	return rc;
}

static struct cond *
parse_leaf(struct rule_load *l, const struct ydoc_node *key,
    const struct ydoc_node *v)
{
	struct cond	*c;
	size_t		 k;
	int		 rc;

	for (k = 0; cond_names[k] != NULL; k++) {
		if (strcmp(cond_names[k], key->value) == 0)
			break;
	}
	if (cond_names[k] == NULL) {
		rule_error(l, key, "unknown condition '%s' (expected: from, "
		    "to, cc, recipient, sender, subject, body, header, "
		    "attachment, size, list, auto, all, any, not)", key->value);
		return NULL;
	}
	c = cond_new(l, (enum cond_kind)k, key);
	switch (c->kind) {
	case COND_ALL:
	case COND_ANY:
		rc = parse_kids(l, c, v);
		break;
	case COND_NOT:
		c->kids = xcalloc(1, sizeof *c->kids);
		rc = (c->kids[0] = cond_parse(l, v)) == NULL ? -1 : 0;
		c->nkids = rc == 0;
		break;
	case COND_HEADER:
		rc = parse_header(l, c, v);
		break;
	case COND_ATTACHMENT:
		rc = parse_attachment(l, c, v);
		break;
	case COND_SIZE:
		rc = parse_size(l, c, v);
		break;
	case COND_LIST:
	case COND_AUTO:
		if ((rc = ydoc_bool(v, &c->want)) != 0)
			rule_error(l, v, "'%s' expects true or false",
			    key->value);
		break;
	default:
		rc = parse_patterns(l, c, v);
		break;
	}
	if (rc != 0) {
		cond_free(c);
		return NULL;
	}
	return c;
}

/* A pattern, or a list of patterns (any of them). */
static int
parse_patterns(struct rule_load *l, struct cond *c, const struct ydoc_node *v)
{
	struct match	*m;
	size_t		 i, n = v->type == YDOC_SEQ ? v->n : 1;
	int		 rc = 0;

	if (v->type == YDOC_MAP || (v->type == YDOC_SEQ && v->n == 0)) {
		rule_error(l, v, "expected a pattern or a list of patterns");
		return -1;
	}
	c->pats = xcalloc(n, sizeof *c->pats);
	for (i = 0; i < n; i++) {
		m = rule_pattern(l, v->type == YDOC_SEQ ? v->items[i] : v);
		if (m == NULL)
			rc = -1;
		else
			c->pats[c->npats++] = m;
	}
	return rc;
}

static int
parse_header(struct rule_load *l, struct cond *c, const struct ydoc_node *v)
{
	static const char *const keys[] = { "name", "matches", NULL };
	const struct ydoc_node	*name, *m;

	if (v->type != YDOC_MAP) {
		rule_error(l, v, "'header' expects {name: NAME, matches: "
		    "PATTERN}");
		return -1;
	}
	if (ydoc_check_keys(l->doc, v, "header", keys, l->diag) != 0)
		return -1;
	if ((name = ydoc_get(v, "name")) == NULL ||
	    name->type != YDOC_SCALAR || name->len == 0 ||
	    strpbrk(name->value, ": \t\r\n") != NULL) {
		rule_error(l, name != NULL ? name : v, "'header' needs a "
		    "'name', a header field name such as X-Mailer");
		return -1;
	}
	c->header = xstrdup(name->value);
	if ((m = ydoc_get(v, "matches")) == NULL)
		return 0;	/* present at all */
	return parse_patterns(l, c, m);
}

static int
parse_attachment(struct rule_load *l, struct cond *c,
    const struct ydoc_node *v)
{
	static const char *const keys[] = { "filename", "type", NULL };
	const struct ydoc_node	*f, *t;
	bool			 yes;

	if (ydoc_bool(v, &yes) == 0) {
		c->want = yes;
		return 0;
	}
	c->want = true;
	if (v->type == YDOC_SCALAR)
		return parse_patterns(l, c, v);
	if (v->type != YDOC_MAP) {
		rule_error(l, v, "'attachment' expects true, a filename "
		    "pattern, or {filename: PATTERN, type: PATTERN}");
		return -1;
	}
	if (ydoc_check_keys(l->doc, v, "attachment", keys, l->diag) != 0)
		return -1;
	if ((f = ydoc_get(v, "filename")) != NULL &&
	    parse_patterns(l, c, f) != 0)
		return -1;
	if ((t = ydoc_get(v, "type")) != NULL &&
	    (c->type = rule_pattern(l, t)) == NULL)
		return -1;
	return 0;
}

static int
parse_size(struct rule_load *l, struct cond *c, const struct ydoc_node *v)
{
	static const char *const keys[] = { "over", "under", NULL };
	const struct ydoc_node	*o, *u;

	if (v->type != YDOC_MAP || v->n == 0) {
		rule_error(l, v, "'size' expects {over: SIZE, under: SIZE} "
		    "(sizes such as 500k or 2M)");
		return -1;
	}
	if (ydoc_check_keys(l->doc, v, "size", keys, l->diag) != 0)
		return -1;
	if ((o = ydoc_get(v, "over")) != NULL && (o->type != YDOC_SCALAR ||
	    parse_bytes(o->value, &c->over) != 0)) {
		rule_error(l, o, "'over' expects a size such as 500k or 2M");
		return -1;
	}
	if ((u = ydoc_get(v, "under")) != NULL && (u->type != YDOC_SCALAR ||
	    parse_bytes(u->value, &c->under) != 0 || c->under == 0)) {
		rule_error(l, u, "'under' expects a size such as 500k or 2M");
		return -1;
	}
	return 0;
}

/* "1234", "500k", "2M", "1G" (also "kb", "MB"); powers of 1024. */
static int
parse_bytes(const char *s, unsigned long long *out)
{
	unsigned long long	 v, mult = 1;
	char			*end;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	switch (*end) {
	case 'k': case 'K':
		mult = 1024ULL;
		end++;
		break;
	case 'm': case 'M':
		mult = 1024ULL * 1024;
		end++;
		break;
	case 'g': case 'G':
		mult = 1024ULL * 1024 * 1024;
		end++;
		break;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end != '\0' || v > (1ULL << 50))
		return -1;
	*out = v * mult;
	return 0;
}

int
cond_eval(const struct cond *c, struct rule_eval *ev)
{
	size_t	 mark = ev->vars.n;
	int	 ok;

	switch (c->kind) {
	case COND_ALL:
	case COND_ANY:
	case COND_NOT:
		ok = eval_combo(c, ev);
		break;
	case COND_ATTACHMENT:
		ok = eval_attachment(c, ev);
		break;
	case COND_SIZE:
		ok = eval_size(c, ev);
		break;
	case COND_LIST:
	case COND_AUTO:
		ok = eval_flag(c, ev);
		break;
	default:
		ok = eval_text(c, ev);
		break;
	}
	if (!ok)
		match_vars_truncate(&ev->vars, mark);
	else if (ev->explain && ev->hit == NULL)
		ev->hit = xasprintf("%s held", cond_names[c->kind]);
	return ok;
}

static int
eval_combo(const struct cond *c, struct rule_eval *ev)
{
	size_t	 i;

	if (c->kind == COND_NOT) {
		free(ev->hit);
		ev->hit = NULL;
		if (!cond_eval(c->kids[0], ev)) {
			free(ev->why);
			ev->why = NULL;
			return 1;
		}
		fail(ev, "%s: not: %s", c->where, ev->hit != NULL ? ev->hit :
		    "the condition inside held");
		return 0;
	}
	for (i = 0; i < c->nkids; i++) {
		if (cond_eval(c->kids[i], ev) != (c->kind == COND_ALL))
			break;
	}
	if (c->kind == COND_ALL)
		return i == c->nkids;
	if (i == c->nkids)
		return 0;	/* why: the first branch's failure */
	free(ev->why);
	ev->why = NULL;
	return 1;
}

static int
eval_text(const struct cond *c, struct rule_eval *ev)
{
	struct values	 vals;
	char		*seen;
	size_t		 i;
	int		 ok = 0;

	memset(&vals, 0, sizeof vals);
	get_values(c, ev, &vals);
	for (i = 0; i < vals.n && !ok; i++)
		ok = c->npats == 0 || try_patterns(c, ev, vals.v[i]);
	if (ok)
		note_hit(c, ev, vals.v[i - 1]);
	else if (ev->explain) {
		seen = show_values(&vals);
		if (c->kind == COND_HEADER && c->npats == 0)
			fail(ev, "%s: header: no %s header", c->where,
			    c->header);
		else
			fail(ev, "%s: %s%s%s: '%s' did not match %s", c->where,
			    cond_names[c->kind], c->header != NULL ? " " : "",
			    c->header != NULL ? c->header : "",
			    match_pattern(c->pats[0]), seen);
		free(seen);
	}
	values_free(&vals);
	return ok;
}

static int
try_patterns(const struct cond *c, struct rule_eval *ev, const char *s)
{
	const char	*why = NULL;
	size_t		 i;

	for (i = 0; i < c->npats; i++) {
		switch (match_exec(c->pats[i], s, strlen(s), &ev->vars, &why)) {
		case MATCH_YES:
			return 1;
		case MATCH_NO:
			break;
		default:
			log_warn("%s%srule %s: %s: %s; counted as no match",
			    ev->ctx->account, ev->ctx->account[0] ? ": " : "",
			    ev->rule->name, c->where, why);
			ev->limited = true;
			fail(ev, "%s: %s: '%s': %s (counted as no match)",
			    c->where, cond_names[c->kind],
			    match_pattern(c->pats[i]), why);
			break;
		}
	}
	return 0;
}

static void
get_values(const struct cond *c, struct rule_eval *ev, struct values *vals)
{
	const char	*v;
	size_t		 i;

	switch (c->kind) {
	case COND_FROM:
		add_addrs(ev, MSG_FROM, vals);
		break;
	case COND_TO:
		add_addrs(ev, MSG_TO, vals);
		break;
	case COND_CC:
		add_addrs(ev, MSG_CC, vals);
		break;
	case COND_RECIPIENT:
		add_addrs(ev, MSG_TO, vals);
		add_addrs(ev, MSG_CC, vals);
		add_addrs(ev, MSG_BCC, vals);
		add_addrs(ev, MSG_DELIVERED_TO, vals);
		break;
	case COND_SENDER:
		add_value(vals, msg_return_path(ev->msg));
		break;
	case COND_SUBJECT:
		add_value(vals, msg_subject(ev->msg));
		break;
	case COND_BODY:
		add_value(vals, msg_text(ev->msg));
		break;
	default:
		for (i = 0; (v = msg_header(ev->msg, c->header, i)) != NULL;
		    i++)
			add_value(vals, v);
		break;
	}
}

static void
add_addrs(struct rule_eval *ev, enum msg_addr_field f, struct values *vals)
{
	const struct msg_addr	*a;
	size_t			 i, n;

	n = msg_addrs(ev->msg, f, &a);
	for (i = 0; i < n; i++)
		add_value(vals, a[i].address);
}

static void
add_value(struct values *vals, const char *s)
{
	if (s == NULL)
		return;
	vals->v = xreallocarray(vals->v, vals->n + 1, sizeof *vals->v);
	vals->v[vals->n++] = s;
}

static void
values_free(struct values *vals)
{
	size_t	 i;

	for (i = 0; i < vals->nowned; i++)
		free(vals->owned[i]);
	free(vals->owned);
	free(vals->v);
}

static int
eval_attachment(const struct cond *c, struct rule_eval *ev)
{
	const struct msg_attachment	*a;
	size_t				 i, n, mark = ev->vars.n;

	n = msg_attachments(ev->msg, &a);
	for (i = 0; i < n && c->want; i++) {
		if ((c->npats == 0 || try_patterns(c, ev, a[i].filename)) &&
		    (c->type == NULL || match_exec(c->type, a[i].content_type,
		    strlen(a[i].content_type), &ev->vars, NULL) == MATCH_YES))
			return 1;
		match_vars_truncate(&ev->vars, mark);
	}
	if (!c->want && n == 0)
		return 1;
	if (!c->want)
		fail(ev, "%s: attachment: false, but there %s %zu",
		    c->where, n == 1 ? "is" : "are", n);
	else
		fail(ev, "%s: attachment: none of %zu attachment%s matched",
		    c->where, n, n == 1 ? "" : "s");
	return 0;
}

static int
eval_size(const struct cond *c, struct rule_eval *ev)
{
	size_t	 len;

	msg_raw(ev->msg, &len);
	if ((c->over == 0 || len > c->over) &&
	    (c->under == 0 || len < c->under))
		return 1;
	fail(ev, "%s: size: the message is %zu bytes", c->where, len);
	return 0;
}

static int
eval_flag(const struct cond *c, struct rule_eval *ev)
{
	const char	*why = NULL;
	bool		 is;

	if (c->kind == COND_LIST)
		is = msg_is_list(ev->msg);
	else
		is = msg_is_auto(ev->msg, &why);
	if (is == c->want)
		return 1;
	if (c->kind == COND_LIST)
		fail(ev, "%s: list: the message is %sa list message", c->where,
		    is ? "" : "not ");
	else
		fail(ev, "%s: auto: the message is %sautomatic%s%s%s", c->where,
		    is ? "" : "not ", why != NULL ? " (" : "",
		    why != NULL ? why : "", why != NULL ? ")" : "");
	return 0;
}

/* What held, for a `not` that fails because of it. */
static void
note_hit(const struct cond *c, struct rule_eval *ev, const char *value)
{
	struct buf	 b;

	if (!ev->explain)
		return;
	buf_init(&b, 4096);
	buf_printf(&b, "%s%s%s", cond_names[c->kind], c->header != NULL ?
	    " " : "", c->header != NULL ? c->header : "");
	if (c->npats > 0)
		buf_printf(&b, " matched ");
	else
		buf_printf(&b, " is present: ");
	show_one(&b, value);
	free(ev->hit);
	ev->hit = buf_steal(&b, NULL);
}

/* Record the first failure only. */
static void
fail(struct rule_eval *ev, const char *fmt, ...)
{
	va_list	 ap;

	if (!ev->explain || ev->why != NULL)
		return;
	va_start(ap, fmt);
	ev->why = xvasprintf(fmt, ap);
	va_end(ap);
}

static char *
show_values(const struct values *vals)
{
	struct buf	 b;
	size_t		 i;

	if (vals->n == 0)
		return xstrdup("(nothing to match: no such field)");
	buf_init(&b, 4096);
	buf_addstr(&b, vals->n == 1 ? "the value " : "any of ");
	for (i = 0; i < vals->n && i < 5; i++) {
		if (i > 0)
			buf_addstr(&b, ", ");
		show_one(&b, vals->v[i]);
	}
	if (vals->n > 5)
		buf_printf(&b, ", ... (%zu in all)", vals->n);
	return buf_steal(&b, NULL);
}

/* A value quoted, control characters escaped, cut after a few words. */
static void
show_one(struct buf *b, const char *s)
{
	size_t	 i;

	buf_addstr(b, "\"");
	for (i = 0; s[i] != '\0' && i < WHY_VALUE_MAX; i++) {
		if (s[i] == '\n')
			buf_addstr(b, "\\n");
		else if ((unsigned char)s[i] < 0x20)
			buf_printf(b, "\\x%02x", (unsigned char)s[i]);
		else if (s[i] == '"' || s[i] == '\\')
			buf_printf(b, "\\%c", s[i]);
		else
			buf_add(b, s + i, 1);
	}
	if (s[i] != '\0') {
		/* Do not cut a UTF-8 sequence in half. */
		while (s[i] != '\0' && ((unsigned char)s[i] & 0xc0) == 0x80)
			buf_add(b, s + i++, 1);
		buf_addstr(b, "...");
	}
	buf_addstr(b, "\"");
}
