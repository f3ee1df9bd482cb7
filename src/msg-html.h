/*
 * HTML to readable text, for matching rules against HTML-only mail. Built on
 * libxml2's forgiving HTML parser: never fails on content.
 */
#ifndef FACTEUR_MSG_HTML_H
#define FACTEUR_MSG_HTML_H

#include <stddef.h>

/*
 * The text of an HTML document given as UTF-8 (html need not be
 * NUL-terminated). Scripts, styles and the head are dropped, block elements
 * become line breaks, runs of blanks collapse. At most cap bytes of text are
 * produced (cut on a character boundary). Returns an allocated string the
 * caller frees, never NULL; *truncated is set when cap was reached.
 */
char	*msg_html_to_text(const char *html, size_t len, size_t cap,
	    int *truncated);

/*
 * The same by building libxml2's tree and walking it: what
 * msg_html_to_text() is tested against, for every input.
 */
char	*msg_html_to_text_tree(const char *html, size_t len, size_t cap,
	    int *truncated);

#endif
