#include <stdio.h>

#include "commands.h"

/* Placeholder until the command lands. */
int
cmd_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("facteur: 'check' is not available yet\n", stderr);
	return EXIT_SOFTWARE;
}
