/*
 * The text of `facteur --help`, `facteur help COMMAND` and `facteur
 * COMMAND --help`. The man page facteur(1) says the same at length.
 */
#ifndef FACTEUR_HELP_H
#define FACTEUR_HELP_H

#include <stdio.h>

/* The list of commands, one usage line each, and the exit codes. */
void	help_overview(FILE *);
/* One command's usage and options; -1 if there is no such command. */
int	help_command(FILE *, const char *name);

#endif
