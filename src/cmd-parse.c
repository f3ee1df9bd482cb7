#include <stdio.h>

#include "commands.h"

/* Placeholder until the command lands. */
int
cmd_parse(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("facteur: 'parse' is not available yet\n", stderr);
	return EXIT_SOFTWARE;
}
