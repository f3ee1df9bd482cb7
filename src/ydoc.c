/*
 * libyaml's document API gives a node table with marks; we copy it into a
 * tree of our own with 1-based positions. Aliases point at shared nodes in
 * libyaml's table: they are copied, and the copy counts against
 * YDOC_MAX_NODES, which is what defuses a "billion laughs" file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "xmalloc.h"
#include "ydoc.h"

struct build {
	struct ydoc		*doc;
	yaml_document_t		*ydoc;
	struct diag		*diag;
	size_t			 count;
	int			 failed;
};

static struct ydoc_node	*build_node(struct build *, yaml_node_t *, int);
static struct ydoc_node	*build_scalar(yaml_node_t *);
static int		 build_seq(struct build *, yaml_node_t *,
			     struct ydoc_node *, int);
static int		 build_map(struct build *, yaml_node_t *,
			     struct ydoc_node *, int);
static void		 check_duplicates(struct build *,
			     const struct ydoc_node *);
static void		 node_free(struct ydoc_node *);
static int		 parse(struct ydoc *, struct diag *);
static void		 parser_error(struct ydoc *, yaml_parser_t *,
			     struct diag *);
static const char	*line_start(const struct ydoc *, int);
static size_t		 utf8_chars(const char *, size_t);
static const char	*skip_chars(const char *, const char *, size_t);
static int		 pos_literal(const struct ydoc *,
			     const struct ydoc_node *, size_t, int *, int *);
static int		 diag_before(const struct diag *, size_t,
			     const struct diag_item *, const struct diag_item *);
static int		 pos_inline(const struct ydoc *,
			     const struct ydoc_node *, size_t, int *, int *);

struct ydoc *
ydoc_load_file(const char *path, struct diag *diag)
{
	FILE		*f;
	struct buf	 b;
	char		 chunk[8192];
	size_t		 n;
	struct ydoc	*doc = NULL;

	buf_init(&b, YDOC_MAX_FILE);
	if ((f = fopen(path, "rb")) == NULL) {
		diag_add(diag, path, 0, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf_add(&b, chunk, n) != 0) {
			diag_add(diag, path, 0, 0, "file larger than %u bytes",
			    YDOC_MAX_FILE);
			goto fail;
		}
	}
	if (ferror(f)) {
		diag_add(diag, path, 0, 0, "cannot read: %s", strerror(errno));
		goto fail;
	}
	doc = ydoc_load_string(path, b.data != NULL ? b.data : "", b.len,
	    diag);
fail:
	fclose(f);
	buf_free(&b);
	return doc;
}

struct ydoc *
ydoc_load_string(const char *name, const char *text, size_t len,
    struct diag *diag)
{
	struct ydoc	*doc;

	doc = xcalloc(1, sizeof *doc);
	doc->file = xstrdup(name);
	doc->text = xmalloc(len + 1);
	memcpy(doc->text, text, len);
	doc->text[len] = '\0';
	doc->len = len;
	if (parse(doc, diag) != 0) {
		ydoc_free(doc);
		return NULL;
	}
	return doc;
}

static int
parse(struct ydoc *doc, struct diag *diag)
{
	yaml_parser_t	 parser;
	yaml_document_t	 ydoc;
	yaml_node_t	*root;
	struct build	 b;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)doc->text,
	    doc->len);
	if (!yaml_parser_load(&parser, &ydoc)) {
		parser_error(doc, &parser, diag);
		yaml_parser_delete(&parser);
		return -1;
	}
	memset(&b, 0, sizeof b);
	b.doc = doc;
	b.ydoc = &ydoc;
	b.diag = diag;
	if ((root = yaml_document_get_root_node(&ydoc)) != NULL)
		doc->root = build_node(&b, root, 0);
	yaml_document_delete(&ydoc);
	yaml_parser_delete(&parser);
	return b.failed ? -1 : 0;
}

static void
parser_error(struct ydoc *doc, yaml_parser_t *p, struct diag *diag)
{
	const char	*problem = p->problem != NULL ? p->problem : "error";

	if (p->error == YAML_READER_ERROR) {
		diag_add(diag, doc->file, 0, 0, "bad YAML: %s", problem);
		return;
	}
	if (p->context != NULL)
		diag_add(diag, doc->file, (int)p->problem_mark.line + 1,
		    (int)p->problem_mark.column + 1, "bad YAML: %s %s",
		    problem, p->context);
	else
		diag_add(diag, doc->file, (int)p->problem_mark.line + 1,
		    (int)p->problem_mark.column + 1, "bad YAML: %s", problem);
}

static struct ydoc_node *
build_node(struct build *b, yaml_node_t *yn, int depth)
{
	struct ydoc_node	*node;
	int			 rc = 0;

	if (++b->count > YDOC_MAX_NODES || depth > YDOC_MAX_DEPTH) {
		if (!b->failed)
			diag_add(b->diag, b->doc->file,
			    (int)yn->start_mark.line + 1,
			    (int)yn->start_mark.column + 1,
			    "document too large or too deeply nested");
		b->failed = 1;
		return NULL;
	}
	if (yn->type == YAML_SCALAR_NODE)
		return build_scalar(yn);
	node = xcalloc(1, sizeof *node);
	node->line = (int)yn->start_mark.line + 1;
	node->col = (int)yn->start_mark.column + 1;
	if (yn->type == YAML_SEQUENCE_NODE)
		rc = build_seq(b, yn, node, depth);
	else
		rc = build_map(b, yn, node, depth);
	if (rc != 0) {
		node_free(node);
		return NULL;
	}
	return node;
}

static struct ydoc_node *
build_scalar(yaml_node_t *yn)
{
	struct ydoc_node	*node;

	node = xcalloc(1, sizeof *node);
	node->type = YDOC_SCALAR;
	node->line = (int)yn->start_mark.line + 1;
	node->col = (int)yn->start_mark.column + 1;
	node->len = yn->data.scalar.length;
	node->value = xmalloc(node->len + 1);
	memcpy(node->value, yn->data.scalar.value, node->len);
	node->value[node->len] = '\0';
	switch (yn->data.scalar.style) {
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
		node->style = YDOC_SINGLE;
		break;
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		node->style = YDOC_DOUBLE;
		break;
	case YAML_LITERAL_SCALAR_STYLE:
		node->style = YDOC_LITERAL;
		break;
	case YAML_FOLDED_SCALAR_STYLE:
		node->style = YDOC_FOLDED;
		break;
	default:
		node->style = YDOC_PLAIN;
		break;
	}
	return node;
}

static int
build_seq(struct build *b, yaml_node_t *yn, struct ydoc_node *node,
    int depth)
{
	yaml_node_item_t	*it;
	yaml_node_t		*child;
	size_t			 n;

	node->type = YDOC_SEQ;
	n = (size_t)(yn->data.sequence.items.top -
	    yn->data.sequence.items.start);
	node->items = xcalloc(n, sizeof *node->items);
	for (it = yn->data.sequence.items.start;
	    it < yn->data.sequence.items.top; it++) {
		child = yaml_document_get_node(b->ydoc, *it);
		if (child == NULL)
			return -1;
		if ((node->items[node->n] = build_node(b, child,
		    depth + 1)) == NULL)
			return -1;
		node->n++;
	}
	return 0;
}

static int
build_map(struct build *b, yaml_node_t *yn, struct ydoc_node *node,
    int depth)
{
	yaml_node_pair_t	*p;
	yaml_node_t		*k, *v;
	struct ydoc_pair	*pair;
	size_t			 n;

	node->type = YDOC_MAP;
	n = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
	node->pairs = xcalloc(n, sizeof *node->pairs);
	for (p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top;
	    p++) {
		k = yaml_document_get_node(b->ydoc, p->key);
		v = yaml_document_get_node(b->ydoc, p->value);
		if (k == NULL || v == NULL)
			return -1;
		if (k->type != YAML_SCALAR_NODE) {
			diag_add(b->diag, b->doc->file,
			    (int)k->start_mark.line + 1,
			    (int)k->start_mark.column + 1,
			    "a key must be a plain string");
			b->failed = 1;
			return -1;
		}
		pair = &node->pairs[node->n];
		if ((pair->key = build_node(b, k, depth + 1)) == NULL)
			return -1;
		node->n++;
		if ((pair->value = build_node(b, v, depth + 1)) == NULL)
			return -1;
	}
	check_duplicates(b, node);
	return 0;
}

static void
check_duplicates(struct build *b, const struct ydoc_node *map)
{
	size_t	 i, j;

	if (map->n > 1000)
		return;
	for (i = 1; i < map->n; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(map->pairs[i].key->value,
			    map->pairs[j].key->value) != 0)
				continue;
			diag_add(b->diag, b->doc->file, map->pairs[i].key->line,
			    map->pairs[i].key->col,
			    "duplicate key '%s' (first at line %d)",
			    map->pairs[i].key->value, map->pairs[j].key->line);
			b->failed = 1;
			break;
		}
	}
}

static void
node_free(struct ydoc_node *node)
{
	size_t	 i;

	if (node == NULL)
		return;
	free(node->value);
	for (i = 0; i < node->n; i++) {
		if (node->type == YDOC_SEQ)
			node_free(node->items[i]);
		else {
			node_free(node->pairs[i].key);
			node_free(node->pairs[i].value);
		}
	}
	free(node->items);
	free(node->pairs);
	free(node);
}

void
ydoc_free(struct ydoc *doc)
{
	if (doc == NULL)
		return;
	node_free(doc->root);
	free(doc->file);
	free(doc->text);
	free(doc);
}

struct ydoc_node *
ydoc_get(const struct ydoc_node *map, const char *key)
{
	size_t	 i;

	if (map == NULL || map->type != YDOC_MAP)
		return NULL;
	for (i = 0; i < map->n; i++) {
		if (strcmp(map->pairs[i].key->value, key) == 0)
			return map->pairs[i].value;
	}
	return NULL;
}

bool
ydoc_is_null(const struct ydoc_node *node)
{
	if (node == NULL)
		return true;
	if (node->type != YDOC_SCALAR || node->style != YDOC_PLAIN)
		return false;
	return node->len == 0 || strcmp(node->value, "~") == 0 ||
	    strcmp(node->value, "null") == 0 || strcmp(node->value, "Null") == 0
	    || strcmp(node->value, "NULL") == 0;
}

int
ydoc_bool(const struct ydoc_node *node, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes",
	    "Yes", "YES", "on", "On", "ON", NULL };
	static const char *const no[] = { "false", "False", "FALSE", "no",
	    "No", "NO", "off", "Off", "OFF", NULL };
	size_t	 i;

	if (node == NULL || node->type != YDOC_SCALAR ||
	    node->style != YDOC_PLAIN)
		return -1;
	for (i = 0; yes[i] != NULL; i++) {
		if (strcmp(node->value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(node->value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

const char *
ydoc_type_name(const struct ydoc_node *node)
{
	if (node == NULL || ydoc_is_null(node))
		return "nothing";
	switch (node->type) {
	case YDOC_SEQ:
		return "a list";
	case YDOC_MAP:
		return "a mapping";
	default:
		return "a string";
	}
}

size_t
ydoc_check_keys(const struct ydoc *doc, const struct ydoc_node *map,
    const char *what, const char *const *allowed, struct diag *diag)
{
	struct buf	 list;
	size_t		 i, j, bad = 0;

	if (map == NULL || map->type != YDOC_MAP)
		return 0;
	buf_init(&list, 4096);
	for (j = 0; allowed[j] != NULL; j++)
		buf_printf(&list, "%s%s", j ? ", " : "", allowed[j]);
	for (i = 0; i < map->n; i++) {
		for (j = 0; allowed[j] != NULL; j++) {
			if (strcmp(map->pairs[i].key->value, allowed[j]) == 0)
				break;
		}
		if (allowed[j] != NULL)
			continue;
		diag_add(diag, doc->file, map->pairs[i].key->line,
		    map->pairs[i].key->col,
		    "unknown key '%s' in %s (expected: %s)",
		    map->pairs[i].key->value, what,
		    list.data != NULL ? list.data : "");
		bad++;
	}
	buf_free(&list);
	return bad;
}

void
ydoc_pos(const struct ydoc *doc, const struct ydoc_node *node, size_t off,
    int *line, int *col)
{
	*line = node->line;
	*col = node->col;
	if (node->type != YDOC_SCALAR || off > node->len)
		return;
	if (node->style == YDOC_LITERAL)
		pos_literal(doc, node, off, line, col);
	else if (node->style != YDOC_FOLDED &&
	    memchr(node->value, '\n', node->len) == NULL)
		pos_inline(doc, node, off, line, col);
}

/* The first byte of 1-based line n of the source, or NULL. */
static const char *
line_start(const struct ydoc *doc, int n)
{
	const char	*p = doc->text, *end = doc->text + doc->len;

	while (--n > 0) {
		if ((p = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return NULL;
		p++;
	}
	return p;
}

static size_t
utf8_chars(const char *s, size_t len)
{
	size_t	 i, n = 0;

	for (i = 0; i < len; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	}
	return n;
}

/* Advance n UTF-8 characters from p, not past end. */
static const char *
skip_chars(const char *p, const char *end, size_t n)
{
	while (n > 0 && p < end && *p != '\n') {
		p++;
		while (p < end && ((unsigned char)*p & 0xc0) == 0x80)
			p++;
		n--;
	}
	return p;
}

static int
pos_inline(const struct ydoc *doc, const struct ydoc_node *node, size_t off,
    int *line, int *col)
{
	const char	*ls, *p, *end = doc->text + doc->len;
	size_t		 skip, want;

	if ((ls = line_start(doc, node->line)) == NULL)
		return -1;
	skip = (size_t)node->col - 1 + (node->style != YDOC_PLAIN) +
	    utf8_chars(node->value, off);
	p = skip_chars(ls, end, skip);
	/* Escapes move things: trust the position only if the text is there. */
	want = node->len - off < 2 ? node->len - off : 2;
	if ((size_t)(end - p) < want || memcmp(p, node->value + off, want) != 0)
		return -1;
	*line = node->line;
	*col = (int)skip + 1;
	return 0;
}

static int
pos_literal(const struct ydoc *doc, const struct ydoc_node *node, size_t off,
    int *line, int *col)
{
	const char	*ls, *p, *end = doc->text + doc->len, *nl;
	size_t		 i, k = 0, bol = 0, indent = 0, want;

	for (i = 0; i < off; i++) {
		if (node->value[i] == '\n') {
			k++;
			bol = i + 1;
		}
	}
	/* The block's indentation: that of its first non-blank line. */
	for (i = 1; (ls = line_start(doc, node->line + (int)i)) != NULL; i++) {
		for (indent = 0; ls + indent < end && ls[indent] == ' ';
		    indent++)
			;
		if (ls + indent < end && ls[indent] != '\n')
			break;
	}
	if ((ls = line_start(doc, node->line + 1 + (int)k)) == NULL)
		return -1;
	nl = memchr(ls, '\n', (size_t)(end - ls));
	p = skip_chars(ls, nl != NULL ? nl : end,
	    indent + utf8_chars(node->value + bol, off - bol));
	want = node->len - off < 2 ? node->len - off : 2;
	if ((size_t)(end - p) < want || memcmp(p, node->value + off, want) != 0)
		return -1;
	*line = node->line + 1 + (int)k;
	*col = (int)(indent + utf8_chars(node->value + bol, off - bol)) + 1;
	return 0;
}

/* Does a come before b? Files in order of first appearance after from. */
static int
diag_before(const struct diag *d, size_t from, const struct diag_item *a,
    const struct diag_item *b)
{
	size_t	 i, fa = 0, fb = 0;

	for (i = from; i < d->n; i++) {
		if (strcmp(d->items[i].file, a->file) == 0) {
			fa = i;
			break;
		}
	}
	for (i = from; i < d->n; i++) {
		if (strcmp(d->items[i].file, b->file) == 0) {
			fb = i;
			break;
		}
	}
	if (fa != fb)
		return fa < fb;
	if (a->line != b->line)
		return a->line < b->line;
	return a->col < b->col;
}

void
ydoc_diag_sort(struct diag *d, size_t from)
{
	struct diag	 copy;
	struct diag_item tmp;
	size_t		 i, j;

	if (d->n < from + 2)
		return;
	/* Compare against the original order so file ranks stay fixed. */
	copy.n = d->n;
	copy.items = xreallocarray(NULL, d->n, sizeof *copy.items);
	memcpy(copy.items, d->items, d->n * sizeof *copy.items);
	for (i = from + 1; i < d->n; i++) {
		tmp = d->items[i];
		for (j = i; j > from && diag_before(&copy, from, &tmp,
		    &d->items[j - 1]); j--)
			d->items[j] = d->items[j - 1];
		d->items[j] = tmp;
	}
	free(copy.items);
}
