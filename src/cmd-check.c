/*
 * facteur check [-c CONFIG] [-r RULES]...
 * Validates the config (and every account's rules) and the rule files
 * given with -r, reporting every error as FILE:LINE:COL: message. With
 * only -r, the config is not read.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "conf.h"
#include "rule.h"
#include "xmalloc.h"

static int	check_config(const char *, struct diag *);
static int	check_rules(char **, size_t, struct diag *);

int
cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rules", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct diag	 diag;
	const char	*config = NULL;
	char		**rules = NULL;
	size_t		 nrules = 0;
	int		 ch, rc = EXIT_OK;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:r:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'r':
			rules = xreallocarray(rules, nrules + 1, sizeof *rules);
			rules[nrules++] = optarg;
			break;
		default:
			fputs("usage: facteur check [-c CONFIG] [-r RULES]...\n",
			    stderr);
			free(rules);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs("usage: facteur check [-c CONFIG] [-r RULES]...\n", stderr);
		free(rules);
		return EXIT_USAGE;
	}
	diag_init(&diag);
	if (config != NULL || nrules == 0)
		rc |= check_config(config != NULL ? config :
		    default_config_path(), &diag);
	rc |= check_rules(rules, nrules, &diag);
	free(rules);
	diag_print(&diag, stderr);
	if (diag.n > 0)
		rc = EXIT_CONFIG;
	diag_free(&diag);
	return rc;
}

static int
check_config(const char *path, struct diag *diag)
{
	struct conf	*conf;
	size_t		 i, n = 0;

	if ((conf = conf_load(path, diag)) == NULL)
		return EXIT_CONFIG;
	for (i = 0; i < conf->naccounts; i++)
		n += ruleset_count(conf->accounts[i].rules);
	printf("%s: ok (%zu account%s, %zu rule%s)\n", path, conf->naccounts,
	    conf->naccounts == 1 ? "" : "s", n, n == 1 ? "" : "s");
	conf_free(conf);
	return EXIT_OK;
}

/* The -r files together, as one account would use them. */
static int
check_rules(char **files, size_t n, struct diag *diag)
{
	struct ruleset	*rs;
	size_t		 i;

	if (n == 0)
		return EXIT_OK;
	if ((rs = ruleset_load((const char *const *)files, n, diag)) == NULL)
		return EXIT_CONFIG;
	for (i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", files[i]);
	printf(": ok (%zu rule%s)\n", ruleset_count(rs),
	    ruleset_count(rs) == 1 ? "" : "s");
	ruleset_free(rs);
	return EXIT_OK;
}
