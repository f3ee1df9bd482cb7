/*
 * HTML to text with libxml2's HTML parser (it recovers from anything).
 * Blanks collapse as a browser would; block elements end lines; <pre>
 * keeps its white space; script, style and the head are not text.
 *
 * The parser reports what it reads through SAX callbacks; the text is
 * written as the events come, with no tree built. The callbacks keep what
 * libxml2's tree builder (SAX2.c) would have made of the same events, so
 * that the text is the one a walk of that tree gives (msg_html_to_text_tree(),
 * kept to prove it): the text of adjacent character events is one node, up
 * to the builder's limit on a node's length; the builder's node stack
 * (ctxt->nodeTab) holds our levels, so that its depth limit stops the parser
 * at the same element, and the parser's own nodePop() (a start tag cut by
 * the end of the input) closes a level; an element that starts once the
 * root is closed goes under the root when the root is the document's first
 * child (the root's end is then written last), and is lost otherwise. What
 * the builder's tree is otherwise for, areBlanks() deciding whether blanks
 * are ignorable, changes nothing here: blanks are kept (no
 * HTML_PARSE_NOBLANKS), and the answer only decides whether a <p> is
 * implied, which it never is where the answer depends on the tree.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>

#include "msg-html.h"
#include "xmalloc.h"

struct html_out {
	struct buf	 buf;
	bool		 space;		/* a blank is pending */
	int		 newlines;	/* newlines at the end of buf */
	int		 pre;		/* inside <pre> */
	bool		 full;
};

/* What an element does to the text, by its name. */
enum html_kind {
	HTML_INLINE,
	HTML_SKIPPED,		/* not text, nor anything in it */
	HTML_BR,
	HTML_LI,
	HTML_PARAGRAPH,		/* a blank line before and after */
	HTML_BLOCK,		/* a line of its own */
	HTML_CELL		/* a blank before and after */
};

/* One open element, as the tree builder's node stack has it. */
struct html_level {
	enum html_kind	 kind;
	bool		 pre;
	bool		 hidden;	/* it and what it holds give no text */
	bool		 root;
};

/* Where the document's first child is: elements after the root go there. */
enum html_first {
	HTML_FIRST_NONE,
	HTML_FIRST_ROOT,
	HTML_FIRST_OTHER	/* a DOCTYPE, comment or PI */
};

struct html_sax {
	struct html_out		 out;
	xmlParserCtxtPtr	 ctxt;
	struct html_level	*levels;	/* levels[i] is nodeTab[i] */
	size_t			 nlevels;	/* allocated */
	int			 depth;		/* open levels */
	xmlNode			 node;		/* what nodeTab points to */
	bool			 started;	/* the document is made */
	bool			 have_dtd;
	enum html_first		 first;
	bool			 have_root;
	bool			 root_hidden;
	bool			 root_open;	/* its end not yet written */
	enum html_kind		 root_kind;
	bool			 root_pre;
	/* The text node being built: the last child of the top level. */
	bool			 text_open;
	xmlElementType		 text_type;
	bool			 text_hidden;
	size_t			 text_len;
	struct buf		 text;
};

static void	 sax_start_document(void *);
static void	 sax_internal_subset(void *, const xmlChar *, const xmlChar *,
		    const xmlChar *);
static void	 sax_start_element(void *, const xmlChar *, const xmlChar **);
static void	 sax_end_element(void *, const xmlChar *);
static void	 sax_characters(void *, const xmlChar *, int);
static void	 sax_cdata(void *, const xmlChar *, int);
static void	 sax_ignorable(void *, const xmlChar *, int);
static void	 sax_comment(void *, const xmlChar *);
static void	 sax_pi(void *, const xmlChar *, const xmlChar *);
static struct html_level *level_at(struct html_sax *, int);
static void	 level_close(struct html_sax *);
static void	 sync_levels(struct html_sax *);
static void	 text_add(struct html_sax *, xmlElementType, const xmlChar *,
		    int);
static void	 text_end(struct html_sax *);
static void	 child_added(struct html_sax *);
static const xmlChar *local_name(const xmlChar *);
static int	 kind_cmp(const void *, const void *);
static enum html_kind kind_of(const xmlChar *);
static void	 kind_enter(struct html_out *, enum html_kind, bool);
static void	 kind_leave(struct html_out *, enum html_kind, bool);
static xmlNodePtr next_node(xmlNodePtr, xmlNodePtr, struct html_out *);
static bool	 enter(xmlNodePtr, struct html_out *);
static void	 leave(xmlNodePtr, struct html_out *);
static bool	 is_name(xmlNodePtr, const char *const *);
static void	 put(struct html_out *, const char *, size_t);
static void	 put_text(struct html_out *, const char *);
static void	 put_newlines(struct html_out *, int);

static const char *const skipped[] = { "script", "style", "head", "title",
    "template", NULL };
static const char *const blocks[] = { "p", "div", "h1", "h2", "h3", "h4",
    "h5", "h6", "ul", "ol", "table", "tr", "blockquote", "pre", "hr",
    "address", "article", "aside", "section", "header", "footer", "nav",
    "dl", "dt", "dd", "form", "fieldset", "center", "main", "figure",
    "figcaption", "details", "summary", "caption", "body", "html", NULL };
static const char *const paragraphs[] = { "p", "h1", "h2", "h3", "h4", "h5",
    "h6", "table", "blockquote", "pre", "ul", "ol", NULL };
static const char *const cells[] = { "td", "th", NULL };

/* The options htmlReadMemory() was called with, and its encoding. */
#define HTML_OPTIONS	(HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | \
			    HTML_PARSE_NOWARNING | HTML_PARSE_NONET | \
			    HTML_PARSE_IGNORE_ENC)
#define HTML_ENCODING	"UTF-8"

char *
msg_html_to_text(const char *html, size_t len, size_t cap, int *truncated)
{
	struct html_sax		 h;
	xmlParserCtxtPtr	 ctxt;
	xmlCharEncodingHandlerPtr enc;
	xmlSAXHandlerPtr	 sax;

	memset(&h, 0, sizeof h);
	buf_init(&h.out.buf, cap);
	buf_init(&h.text, SIZE_MAX / 2);
	h.out.newlines = 2;
	h.node.type = XML_ELEMENT_NODE;
	if (len > INT_MAX)
		len = INT_MAX;
	/* What htmlReadMemory() and htmlDoRead() do, with our callbacks. */
	xmlInitParser();
	if ((ctxt = xmlCreateMemoryParserCtxt(html, (int)len)) == NULL)
		goto done;
	htmlDefaultSAXHandlerInit();
	sax = ctxt->sax;
	if (sax != NULL) {
		memcpy(sax, &htmlDefaultSAXHandler, sizeof(xmlSAXHandlerV1));
		sax->internalSubset = sax_internal_subset;
		sax->setDocumentLocator = NULL;
		sax->startDocument = sax_start_document;
		sax->endDocument = NULL;
		sax->startElement = sax_start_element;
		sax->endElement = sax_end_element;
		sax->characters = sax_characters;
		sax->cdataBlock = sax_cdata;
		sax->ignorableWhitespace = sax_ignorable;
		sax->processingInstruction = sax_pi;
		sax->comment = sax_comment;
	}
	ctxt->_private = &h;
	h.ctxt = ctxt;
	htmlCtxtUseOptions(ctxt, HTML_OPTIONS);
	ctxt->html = 1;
	if ((enc = xmlFindCharEncodingHandler(HTML_ENCODING)) != NULL) {
		xmlSwitchToEncoding(ctxt, enc);
		if (ctxt->input->encoding != NULL)
			xmlFree((void *)(uintptr_t)ctxt->input->encoding);
		ctxt->input->encoding = xmlStrdup((const xmlChar *)
		    HTML_ENCODING);
	}
	htmlParseDocument(ctxt);
	sync_levels(&h);
	text_end(&h);
	while (h.depth > 0) {
		level_close(&h);
		h.depth--;
	}
	if (h.root_open && !h.root_hidden)
		kind_leave(&h.out, h.root_kind, h.root_pre);
	ctxt->node = NULL;
	ctxt->nodeNr = 0;
	xmlFreeParserCtxt(ctxt);
done:
	free(h.levels);
	buf_free(&h.text);
	if (truncated != NULL)
		*truncated = h.out.full;
	return buf_steal(&h.out.buf, NULL);
}

/* xmlSAX2StartDocument() makes the document elements go in. */
static void
sax_start_document(void *ctx)
{
	xmlParserCtxtPtr	 ctxt = ctx;
	struct html_sax		*h = ctxt->_private;

	h->started = true;
}

/*
 * The first DOCTYPE (xmlSAX2InternalSubset()) becomes the document's first
 * child.
 */
static void
sax_internal_subset(void *ctx, const xmlChar *name, const xmlChar *public_id,
    const xmlChar *system_id)
{
	xmlParserCtxtPtr	 ctxt = ctx;
	struct html_sax		*h = ctxt->_private;

	(void)name;
	(void)public_id;
	(void)system_id;
	if (!h->started || h->have_dtd)
		return;
	h->have_dtd = true;
	h->first = HTML_FIRST_OTHER;
}

/* As xmlSAX2StartElement() places the element, and its text. */
static void
sax_start_element(void *ctx, const xmlChar *name, const xmlChar **atts)
{
	xmlParserCtxtPtr	 ctxt = ctx;
	struct html_sax		*h = ctxt->_private;
	struct html_level	*lv;
	const xmlChar		*local;
	int			 at;

	(void)atts;
	sync_levels(h);
	if (name == NULL || !h->started)
		return;
	at = ctxt->nodeNr;
	if (nodePush(ctxt, &h->node) < 0)
		return;
	lv = level_at(h, at);
	text_end(h);
	local = local_name(name);
	lv->kind = kind_of(local);
	lv->pre = lv->kind == HTML_PARAGRAPH &&
	    xmlStrcasecmp(local, (const xmlChar *)"pre") == 0;
	lv->root = false;
	if (at > 0)
		lv->hidden = h->levels[at - 1].hidden;
	else if (!h->have_root) {
		/* The document's root element, where the text walk starts. */
		h->have_root = true;
		if (h->first == HTML_FIRST_NONE)
			h->first = HTML_FIRST_ROOT;
		lv->root = true;
		lv->hidden = false;
	} else if (h->first == HTML_FIRST_ROOT)
		lv->hidden = h->root_hidden;	/* a child of the root */
	else
		lv->hidden = true;		/* beside the root */
	if (lv->kind == HTML_SKIPPED)
		lv->hidden = true;
	h->depth++;
	if (lv->root) {
		h->root_hidden = lv->hidden;
		h->root_kind = lv->kind;
		h->root_pre = lv->pre;
		h->root_open = true;
	}
	if (!lv->hidden)
		kind_enter(&h->out, lv->kind, lv->pre);
	if (h->out.full)
		xmlStopParser(ctxt);
}

/* xmlSAX2EndElement() pops whatever level is on top. */
static void
sax_end_element(void *ctx, const xmlChar *name)
{
	xmlParserCtxtPtr	 ctxt = ctx;
	struct html_sax		*h = ctxt->_private;

	(void)name;
	sync_levels(h);
	if (h->depth == 0)
		return;
	text_end(h);
	level_close(h);
	nodePop(ctxt);
	h->depth--;
	if (h->out.full)
		xmlStopParser(ctxt);
}

static void
sax_characters(void *ctx, const xmlChar *s, int len)
{
	xmlParserCtxtPtr	 ctxt = ctx;

	text_add(ctxt->_private, XML_TEXT_NODE, s, len);
}

/* The content of script and style. */
static void
sax_cdata(void *ctx, const xmlChar *s, int len)
{
	xmlParserCtxtPtr	 ctxt = ctx;

	text_add(ctxt->_private, XML_CDATA_SECTION_NODE, s, len);
}

/* Dropped, as xmlSAX2IgnorableWhitespace() does. */
static void
sax_ignorable(void *ctx, const xmlChar *s, int len)
{
	(void)ctx;
	(void)s;
	(void)len;
}

/* A comment is a node (xmlSAX2Comment()): the text node before it ends. */
static void
sax_comment(void *ctx, const xmlChar *value)
{
	xmlParserCtxtPtr	 ctxt = ctx;
	struct html_sax		*h = ctxt->_private;

	(void)value;
	sync_levels(h);
	child_added(h);
}

/* So is a PI (xmlSAX2ProcessingInstruction()), when it has a target. */
static void
sax_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	xmlParserCtxtPtr	 ctxt = ctx;
	struct html_sax		*h = ctxt->_private;

	(void)data;
	sync_levels(h);
	if (target != NULL)
		child_added(h);
}

/* A comment or PI: in the top level, or in the document. */
static void
child_added(struct html_sax *h)
{
	if (h->depth > 0)
		text_end(h);
	else if (h->first == HTML_FIRST_NONE)
		h->first = HTML_FIRST_OTHER;
}

/* The level for nodeTab[at]. */
static struct html_level *
level_at(struct html_sax *h, int at)
{
	size_t	 n;

	if ((size_t)at >= h->nlevels) {
		n = h->nlevels == 0 ? 32 : h->nlevels * 2;
		while (n <= (size_t)at)
			n *= 2;
		h->levels = xreallocarray(h->levels, n, sizeof *h->levels);
		h->nlevels = n;
	}
	return &h->levels[at];
}

/* Write the end of the top level (the root's waits for the end). */
static void
level_close(struct html_sax *h)
{
	struct html_level	*lv = &h->levels[h->depth - 1];

	if (!lv->hidden && !lv->root)
		kind_leave(&h->out, lv->kind, lv->pre);
}

/* Levels the parser popped itself (a start tag without its '>'). */
static void
sync_levels(struct html_sax *h)
{
	while (h->depth > h->ctxt->nodeNr) {
		text_end(h);
		level_close(h);
		h->depth--;
	}
}

/*
 * Text or CDATA for the top level: added to its text node, as
 * xmlSAX2Text() does, up to the same limit on a node's length.
 */
static void
text_add(struct html_sax *h, xmlElementType type, const xmlChar *s, int len)
{
	xmlParserCtxtPtr	 ctxt = h->ctxt;

	sync_levels(h);
	if (h->depth == 0)
		return;
	if (h->text_open && h->text_type == type) {
		if (h->text_len + (size_t)len > XML_MAX_TEXT_LENGTH &&
		    (ctxt->options & XML_PARSE_HUGE) == 0) {
			/* xmlSAX2Text()'s "huge text node". */
			ctxt->errNo = XML_ERR_NO_MEMORY;
			ctxt->instate = XML_PARSER_EOF;
			ctxt->disableSAX = 1;
			return;
		}
	} else {
		text_end(h);
		h->text_open = true;
		h->text_type = type;
		h->text_hidden = h->levels[h->depth - 1].hidden;
		h->text_len = 0;
	}
	h->text_len += (size_t)len;
	if (!h->text_hidden && len > 0)
		buf_add(&h->text, s, (size_t)len);
}

/* The text node is complete: its text up to a NUL, as the walk has it. */
static void
text_end(struct html_sax *h)
{
	if (!h->text_open)
		return;
	h->text_open = false;
	if (h->text_hidden || h->text.len == 0)
		return;
	put_text(&h->out, h->text.data);
	buf_reset(&h->text);
	if (h->out.full)
		xmlStopParser(h->ctxt);
}

/* The name xmlSplitQName() gives the element: what follows a prefix. */
static const xmlChar *
local_name(const xmlChar *name)
{
	const xmlChar	*colon;

	if (name[0] == ':' || (colon = xmlStrchr(name, ':')) == NULL ||
	    colon[1] == '\0')
		return name;
	return colon + 1;
}

/* The lists above by name, sorted, for kind_of(). */
static const struct html_name {
	const char	*name;
	enum html_kind	 kind;
} kinds[] = {
	{ "address", HTML_BLOCK }, { "article", HTML_BLOCK },
	{ "aside", HTML_BLOCK }, { "blockquote", HTML_PARAGRAPH },
	{ "body", HTML_BLOCK }, { "br", HTML_BR },
	{ "caption", HTML_BLOCK }, { "center", HTML_BLOCK },
	{ "dd", HTML_BLOCK }, { "details", HTML_BLOCK },
	{ "div", HTML_BLOCK }, { "dl", HTML_BLOCK }, { "dt", HTML_BLOCK },
	{ "fieldset", HTML_BLOCK }, { "figcaption", HTML_BLOCK },
	{ "figure", HTML_BLOCK }, { "footer", HTML_BLOCK },
	{ "form", HTML_BLOCK }, { "h1", HTML_PARAGRAPH },
	{ "h2", HTML_PARAGRAPH }, { "h3", HTML_PARAGRAPH },
	{ "h4", HTML_PARAGRAPH }, { "h5", HTML_PARAGRAPH },
	{ "h6", HTML_PARAGRAPH }, { "head", HTML_SKIPPED },
	{ "header", HTML_BLOCK }, { "hr", HTML_BLOCK },
	{ "html", HTML_BLOCK }, { "li", HTML_LI }, { "main", HTML_BLOCK },
	{ "nav", HTML_BLOCK }, { "ol", HTML_PARAGRAPH },
	{ "p", HTML_PARAGRAPH }, { "pre", HTML_PARAGRAPH },
	{ "script", HTML_SKIPPED }, { "section", HTML_BLOCK },
	{ "style", HTML_SKIPPED }, { "summary", HTML_BLOCK },
	{ "table", HTML_PARAGRAPH }, { "td", HTML_CELL },
	{ "template", HTML_SKIPPED }, { "th", HTML_CELL },
	{ "title", HTML_SKIPPED }, { "tr", HTML_BLOCK },
	{ "ul", HTML_PARAGRAPH },
};

static int
kind_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct html_name *)elem)->name);
}

/*
 * What enter() and leave() do with an element of that name, compared
 * without case for ASCII letters (as xmlStrcasecmp() does).
 */
static enum html_kind
kind_of(const xmlChar *name)
{
	const struct html_name	*found;
	char			 lower[16];
	size_t			 i;

	for (i = 0; name[i] != '\0'; i++) {
		if (i == sizeof lower - 1)
			return HTML_INLINE;
		lower[i] = name[i] >= 'A' && name[i] <= 'Z' ?
		    (char)(name[i] - 'A' + 'a') : (char)name[i];
	}
	lower[i] = '\0';
	found = bsearch(lower, kinds, sizeof kinds / sizeof kinds[0],
	    sizeof kinds[0], kind_cmp);
	return found != NULL ? found->kind : HTML_INLINE;
}

/* enter() and leave() below, by kind. */
static void
kind_enter(struct html_out *o, enum html_kind kind, bool pre)
{
	switch (kind) {
	case HTML_BR:
		put_newlines(o, o->newlines + 1);
		break;
	case HTML_LI:
		put_newlines(o, 1);
		put(o, "- ", 2);
		break;
	case HTML_PARAGRAPH:
		put_newlines(o, 2);
		break;
	case HTML_BLOCK:
		put_newlines(o, 1);
		break;
	case HTML_CELL:
		o->space = true;
		break;
	default:
		break;
	}
	if (pre)
		o->pre++;
}

static void
kind_leave(struct html_out *o, enum html_kind kind, bool pre)
{
	if (pre && o->pre > 0)
		o->pre--;
	switch (kind) {
	case HTML_PARAGRAPH:
		put_newlines(o, 2);
		break;
	case HTML_BLOCK:
	case HTML_LI:
		put_newlines(o, 1);
		break;
	case HTML_CELL:
		o->space = true;
		break;
	default:
		break;
	}
}

/*
 * The same text by building libxml2's tree and walking it (iteratively:
 * depth is the sender's choice). The tests hold the SAX version to it.
 */
char *
msg_html_to_text_tree(const char *html, size_t len, size_t cap,
    int *truncated)
{
	htmlDocPtr	 doc;
	xmlNodePtr	 root, n;
	struct html_out	 o;

	memset(&o, 0, sizeof o);
	buf_init(&o.buf, cap);
	o.newlines = 2;
	if (len > INT_MAX)
		len = INT_MAX;
	doc = htmlReadMemory(html, (int)len, NULL, HTML_ENCODING,
	    HTML_OPTIONS);
	if (doc != NULL && (root = xmlDocGetRootElement(doc)) != NULL) {
		n = root;
		while (n != NULL && !o.full)
			n = next_node(n, root, &o);
	}
	if (doc != NULL)
		xmlFreeDoc(doc);
	if (truncated != NULL)
		*truncated = o.full;
	return buf_steal(&o.buf, NULL);
}

/* Handle n, then return the next node in document order below root. */
static xmlNodePtr
next_node(xmlNodePtr n, xmlNodePtr root, struct html_out *o)
{
	if (enter(n, o) && n->children != NULL)
		return n->children;
	for (;;) {
		leave(n, o);
		if (n == root)
			return NULL;
		if (n->next != NULL)
			return n->next;
		if ((n = n->parent) == NULL)
			return NULL;
	}
}

/* Returns whether to walk n's children. */
static bool
enter(xmlNodePtr n, struct html_out *o)
{
	if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
		if (n->content != NULL)
			put_text(o, (const char *)n->content);
		return false;
	}
	if (n->type != XML_ELEMENT_NODE || is_name(n, skipped))
		return false;
	if (xmlStrcasecmp(n->name, (const xmlChar *)"br") == 0)
		put_newlines(o, o->newlines + 1);
	else if (xmlStrcasecmp(n->name, (const xmlChar *)"li") == 0) {
		put_newlines(o, 1);
		put(o, "- ", 2);
	} else if (is_name(n, paragraphs))
		put_newlines(o, 2);
	else if (is_name(n, blocks))
		put_newlines(o, 1);
	else if (is_name(n, cells))
		o->space = true;
	if (xmlStrcasecmp(n->name, (const xmlChar *)"pre") == 0)
		o->pre++;
	return true;
}

static void
leave(xmlNodePtr n, struct html_out *o)
{
	if (n->type != XML_ELEMENT_NODE || is_name(n, skipped))
		return;
	if (xmlStrcasecmp(n->name, (const xmlChar *)"pre") == 0 && o->pre > 0)
		o->pre--;
	if (is_name(n, paragraphs))
		put_newlines(o, 2);
	else if (is_name(n, blocks) ||
	    xmlStrcasecmp(n->name, (const xmlChar *)"li") == 0)
		put_newlines(o, 1);
	else if (is_name(n, cells))
		o->space = true;
}

static bool
is_name(xmlNodePtr n, const char *const *names)
{
	for (; *names != NULL; names++) {
		if (xmlStrcasecmp(n->name, (const xmlChar *)*names) == 0)
			return true;
	}
	return false;
}

static void
put(struct html_out *o, const char *s, size_t len)
{
	size_t	 room;

	if (o->full || len == 0)
		return;
	room = o->buf.cap - o->buf.len;
	if (len > room) {
		len = room;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
		o->full = true;
	}
	buf_add(&o->buf, s, len);
	o->newlines = 0;
}

/* Text with blanks (and no-break spaces) collapsed, except in <pre>. */
static void
put_text(struct html_out *o, const char *s)
{
	size_t	 n;

	while (*s != '\0' && !o->full) {
		if (o->pre > 0 && (*s == '\n' || *s == '\r')) {
			if (*s == '\n')
				put_newlines(o, o->newlines + 1);
			s++;
			continue;
		}
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' ||
		    *s == '\f' || (s[0] == '\xc2' && s[1] == '\xa0')) {
			if (o->pre > 0)
				put(o, " ", 1);
			else
				o->space = true;
			s += s[0] == '\xc2' ? 2 : 1;
			continue;
		}
		if (o->space && o->newlines == 0)
			put(o, " ", 1);
		o->space = false;
		n = strcspn(s, " \t\n\r\f\xc2");
		if (n == 0)
			n = 1;
		put(o, s, n);
		s += n;
	}
}

/* End the current line so that `want` newlines end the text (max 2). */
static void
put_newlines(struct html_out *o, int want)
{
	o->space = false;
	if (want > 2)
		want = 2;
	if (o->buf.len == 0)
		return;
	while (o->newlines < want && !o->full) {
		if (buf_add(&o->buf, "\n", 1) != 0) {
			o->full = true;
			return;
		}
		o->newlines++;
	}
}
