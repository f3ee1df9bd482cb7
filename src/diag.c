#include <stdarg.h>
#include <stdlib.h>

#include "diag.h"
#include "xmalloc.h"

void
diag_init(struct diag *d)
{
	d->items = NULL;
	d->n = 0;
}

void
diag_add(struct diag *d, const char *file, int line, int col,
    const char *fmt, ...)
{
	struct diag_item	*it;
	va_list			 ap;

	d->items = xreallocarray(d->items, d->n + 1, sizeof *d->items);
	it = &d->items[d->n++];
	it->file = xstrdup(file != NULL ? file : "-");
	it->line = line;
	it->col = col;
	va_start(ap, fmt);
	it->text = xvasprintf(fmt, ap);
	va_end(ap);
}

void
diag_print(const struct diag *d, FILE *f)
{
	size_t	 i;

	for (i = 0; i < d->n; i++) {
		if (d->items[i].line > 0)
			fprintf(f, "%s:%d:%d: %s\n", d->items[i].file,
			    d->items[i].line, d->items[i].col,
			    d->items[i].text);
		else
			fprintf(f, "%s: %s\n", d->items[i].file,
			    d->items[i].text);
	}
}

void
diag_free(struct diag *d)
{
	size_t	 i;

	for (i = 0; i < d->n; i++) {
		free(d->items[i].file);
		free(d->items[i].text);
	}
	free(d->items);
	diag_init(d);
}
