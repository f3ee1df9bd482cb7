/*
 * facteur COMMAND [ARGS]: dispatch to the commands (cmd-*.c). Help and
 * version are answered here, before any library is initialised: `facteur
 * --help`, `facteur help COMMAND` and `facteur COMMAND --help` (or -h
 * anywhere before a "--") print to stdout and exit 0.
 */
#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <gmime/gmime.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <pcre2.h>
#include <sqlite3.h>
#include <yaml.h>

#include "commands.h"
#include "help.h"
#include "log.h"
#include "msg.h"

static const struct command {
	const char	*name;
	int		(*fn)(int, char **);
} commands[] = {
	{ "run", cmd_run },
	{ "check", cmd_check },
	{ "test", cmd_test },
	{ "parse", cmd_parse },
	{ "deliver", cmd_deliver },
	{ "state", cmd_state },
};

static const struct command *find_command(const char *);
static int	 wants_help(int, char **);
static int	 help(int, char **);
static void	 version(void);

static const struct command *
find_command(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

/* -h or --help among a command's arguments, before a "--". */
static int
wants_help(int argc, char **argv)
{
	int	 i;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

/* facteur help [COMMAND], facteur --help, facteur -h */
static int
help(int argc, char **argv)
{
	if (argc < 3) {
		help_overview(stdout);
		return EXIT_OK;
	}
	if (argc > 3 || help_command(stdout, argv[2]) != 0) {
		fprintf(stderr, "facteur: unknown command '%s'\n", argv[2]);
		help_overview(stderr);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* The versions of the libraries in use at run time. */
static void
version(void)
{
	const curl_version_info_data	*cv;
	char				 pcre2[64];
	long				 xv;

	cv = curl_version_info(CURLVERSION_NOW);
	if (pcre2_config(PCRE2_CONFIG_VERSION, pcre2) < 0)
		strcpy(pcre2, "?");
	xv = strtol(xmlParserVersion, NULL, 10);
	printf("facteur %s\n", FACTEUR_VERSION);
	printf("  libcurl %s (%s)\n", cv->version,
	    cv->ssl_version != NULL ? cv->ssl_version : "no TLS");
	printf("  pcre2 %s\n", pcre2);
	printf("  gmime %u.%u.%u\n", gmime_major_version,
	    gmime_minor_version, gmime_micro_version);
	printf("  libyaml %s\n", yaml_get_version_string());
	printf("  sqlite %s\n", sqlite3_libversion());
	printf("  jansson %s\n", jansson_version_str());
	printf("  openssl %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("  libxml2 %ld.%ld.%ld\n", xv / 10000, xv / 100 % 100,
	    xv % 100);
}

/*
 * Memory that a long-running agent gives back. GLib's slice allocator keeps
 * per-size magazines it never returns (GMime allocates every header and
 * MIME object from it): plain malloc instead. And glibc's mmap threshold,
 * which by default rises to the size of the largest block freed, is held at
 * 256 KiB, so every large message buffer is its own mapping, returned to
 * the system when freed, instead of a hole in the heap.
 */
static void
tune_memory(void)
{
	setenv("G_SLICE", "always-malloc", 0);
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024);
}

int
main(int argc, char **argv)
{
	const struct command	*c;
	int			 rc;

	setlocale(LC_CTYPE, "C.UTF-8");
	tune_memory();
	if (argc < 2) {
		help_overview(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return help(argc, argv);
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		version();
		return EXIT_OK;
	}
	if ((c = find_command(argv[1])) == NULL) {
		fprintf(stderr, "facteur: unknown command '%s'\n", argv[1]);
		help_overview(stderr);
		return EXIT_USAGE;
	}
	if (wants_help(argc, argv)) {
		help_command(stdout, c->name);
		return EXIT_OK;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("cannot initialise libcurl");
		return EXIT_SOFTWARE;
	}
	msg_library_init();
	rc = c->fn(argc - 1, argv + 1);
	msg_library_shutdown();
	curl_global_cleanup();
	return rc;
}
