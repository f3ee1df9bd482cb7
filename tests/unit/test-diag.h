/* For the unit tests of loaders: did they report this error, there? */
#ifndef FACTEUR_TEST_DIAG_H
#define FACTEUR_TEST_DIAG_H

#include <stdio.h>
#include <string.h>

#include "diag.h"

/* True if d has an item at line:col whose text contains s; else every
 * item is printed as a TAP comment, to see what was reported instead. */
static inline int
has_diag(const struct diag *d, int line, int col, const char *s)
{
	size_t	 i;

	for (i = 0; i < d->n; i++) {
		if (d->items[i].line == line && d->items[i].col == col &&
		    strstr(d->items[i].text, s) != NULL)
			return 1;
	}
	for (i = 0; i < d->n; i++)
		fprintf(stderr, "# diag %d:%d: %s\n", d->items[i].line,
		    d->items[i].col, d->items[i].text);
	return 0;
}

#endif
