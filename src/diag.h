/*
 * Diagnostics for configuration and rule files: every problem found is
 * collected with its FILE:LINE:COL so `facteur check` can report them all,
 * not only the first. Lines and columns are 1-based.
 */
#ifndef FACTEUR_DIAG_H
#define FACTEUR_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct diag_item {
	char	*file;
	int	 line;
	int	 col;
	char	*text;
};

struct diag {
	struct diag_item *items;
	size_t		  n;
};

void	diag_init(struct diag *);
void	diag_add(struct diag *, const char *file, int line, int col,
	    const char *, ...) __attribute__((format(printf, 5, 6)));
/* Print each as "FILE:LINE:COL: text" (FILE: text when line is 0). */
void	diag_print(const struct diag *, FILE *);
void	diag_free(struct diag *);

#endif
