#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <gmime/gmime.h>
#include <jansson.h>
#include <libxml/xmlversion.h>
#include <openssl/opensslv.h>
#include <pcre2.h>
#include <sqlite3.h>
#include <yaml.h>

#include "commands.h"
#include "log.h"
#include "msg.h"

static const struct command {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*usage;
} commands[] = {
	{ "run", cmd_run, "run [-c CONFIG] [--once] [--log text|json] [--syslog] [-v]" },
	{ "check", cmd_check, "check [-c CONFIG] [-r RULES]..." },
	{ "test", cmd_test, "test -r RULES [--json] [--expect EXPECT.yaml] MSG..." },
	{ "parse", cmd_parse, "parse [--json] MSG..." },
	{ "deliver", cmd_deliver, "deliver [-c CONFIG] -a ACCOUNT < MESSAGE" },
	{ "state", cmd_state, "state [-c CONFIG] [list|pending|failed|show ID|retry ID|forget ID] [--json]" },
};

static void	usage(FILE *);
static void	version(void);

static void
usage(FILE *f)
{
	size_t	 i;

	fputs("usage: facteur COMMAND [ARGS]\n\ncommands:\n", f);
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  facteur %s\n", commands[i].usage);
	fputs("\n  facteur --version\n  facteur --help\n", f);
}

static void
version(void)
{
	int	 ymaj, ymin, ypat;

	yaml_get_version(&ymaj, &ymin, &ypat);
	printf("facteur %s\n", FACTEUR_VERSION);
	printf("  libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
	printf("  pcre2 %d.%d\n", PCRE2_MAJOR, PCRE2_MINOR);
	printf("  libyaml %d.%d.%d\n", ymaj, ymin, ypat);
	printf("  gmime %u.%u.%u\n", gmime_major_version,
	    gmime_minor_version, gmime_micro_version);
	printf("  libxml2 %s\n", LIBXML_DOTTED_VERSION);
	printf("  jansson %s\n", JANSSON_VERSION);
	printf("  sqlite %s\n", sqlite3_libversion());
	printf("  %s\n", OPENSSL_VERSION_TEXT);
}

int
main(int argc, char **argv)
{
	size_t	 i;
	int	 rc;

	setlocale(LC_CTYPE, "C.UTF-8");
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		version();
		return EXIT_OK;
	}
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_error("cannot initialise libcurl");
			return EXIT_SOFTWARE;
		}
		msg_library_init();
		rc = commands[i].fn(argc - 1, argv + 1);
		msg_library_shutdown();
		curl_global_cleanup();
		return rc;
	}
	fprintf(stderr, "facteur: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
