/*
 * facteur run: work every account. With --once, one pass over each and
 * exit (0 when every account was reached, 75 when one was not). Without,
 * watch them (watch.c: IDLE or polling) until SIGTERM or SIGINT, which let
 * the message in progress finish.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "conf.h"
#include "log.h"
#include "run.h"
#include "state.h"
#include "watch.h"
#include "xmalloc.h"

static volatile sig_atomic_t	 run_stop;

static void	 run_on_signal(int);
static int	 run_account(struct runner *, struct conf_account *);
static int	 run_options(int, char **, const char **, int *);

static void
run_on_signal(int sig)
{
	(void)sig;
	run_stop = 1;
}

static int
run_account(struct runner *r, struct conf_account *a)
{
	char	*cause = NULL;

	if (runner_sync_account(r, a, &cause) != 0) {
		log_error("%s: %s", a->name, cause != NULL ? cause : "failed");
		free(cause);
		return -1;
	}
	return 0;
}

static int
run_options(int argc, char **argv, const char **config, int *once)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, 'o' },
		{ "log", required_argument, NULL, 'l' },
		{ "syslog", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	enum log_level	 level = LOG_LEVEL_INFO;
	enum log_format	 format = LOG_FORMAT_TEXT;
	int		 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': *config = optarg; break;
		case 'o': *once = 1; break;
		case 'v': level = LOG_LEVEL_DEBUG; break;
		case 's': format = LOG_FORMAT_SYSLOG; break;
		case 'l':
			if (strcmp(optarg, "json") == 0)
				format = LOG_FORMAT_JSON;
			else if (strcmp(optarg, "text") != 0)
				return -1;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc)
		return -1;
	log_init(level, format);
	return 0;
}

int
cmd_run(int argc, char **argv)
{
	struct runner	 r;
	struct diag	 d;
	struct conf	*conf;
	const char	*config = default_config_path();
	char		*cause = NULL;
	int		 once = 0, failed;
	size_t		 i;

	if (run_options(argc, argv, &config, &once) != 0) {
		fputs("usage: facteur run [-c CONFIG] [--once] "
		    "[--log text|json] [--syslog] [-v]\n", stderr);
		return EXIT_USAGE;
	}
	diag_init(&d);
	if ((conf = conf_load(config, &d)) == NULL) {
		diag_print(&d, stderr);
		diag_free(&d);
		return EXIT_CONFIG;
	}
	diag_free(&d);
	memset(&r, 0, sizeof r);
	r.conf = conf;
	r.stop = &run_stop;
	if (state_open(conf->state_path, &r.state, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		conf_free(conf);
		return EXIT_IOERR;
	}
	signal(SIGTERM, run_on_signal);
	signal(SIGINT, run_on_signal);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	failed = 0;
	if (once) {
		for (i = 0; i < conf->naccounts && !run_stop; i++)
			if (run_account(&r, &conf->accounts[i]) != 0)
				failed++;
	} else
		watch_loop(&r);
	state_close(r.state);
	conf_free(conf);
	return failed ? EXIT_TEMPFAIL : EXIT_OK;
}
