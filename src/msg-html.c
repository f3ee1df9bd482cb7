/*
 * HTML to text with libxml2's HTML parser (it recovers from anything), then
 * an iterative walk of the tree (no recursion: depth is the attacker's
 * choice). Blanks collapse as a browser would; block elements end lines;
 * <pre> keeps its white space; script, style and the head are not text.
 */
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
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

char *
msg_html_to_text(const char *html, size_t len, size_t cap, int *truncated)
{
	htmlDocPtr	 doc;
	xmlNodePtr	 root, n;
	struct html_out	 o;
	int		 opts;

	memset(&o, 0, sizeof o);
	buf_init(&o.buf, cap);
	o.newlines = 2;
	opts = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
	    HTML_PARSE_NONET | HTML_PARSE_IGNORE_ENC;
	if (len > INT_MAX)
		len = INT_MAX;
	doc = htmlReadMemory(html, (int)len, NULL, "UTF-8", opts);
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
