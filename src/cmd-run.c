/*
 * facteur run: work every account. With --once, one pass over each and
 * exit (0 when every account was reached, 75 when one was not). Without,
 * watch them (watch.c: IDLE or polling) until SIGTERM or SIGINT, which let
 * the message in progress finish, and exit 0.
 *
 * SIGHUP reloads the config and the rules: watch_loop() returns, the new
 * config is loaded and, when it is good, replaces the old one (the journal
 * is reopened if its path changed); when it is bad, every error is logged
 * with its FILE:LINE:COL and the old config stays. Then the loop resumes.
 */
#include <sys/resource.h>

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "conf.h"
#include "log.h"
#include "prep.h"
#include "run.h"
#include "state.h"
#include "watch.h"
#include "xmalloc.h"

static volatile sig_atomic_t	 run_stop;
static volatile sig_atomic_t	 run_reload;

static void	 run_on_signal(int);
static void	 run_signals(void);
static int	 run_account(struct runner *, struct conf_account *);
static int	 run_options(int, char **, const char **, int *);
static void	 run_reload_conf(struct runner *, const char *);
static void	 raise_nofile(void);

/*
 * Only flags: the watch loop looks at them at least once a second (its
 * scheduler never sleeps longer) and each account's coroutine before its
 * next step.
 */
static void
run_on_signal(int sig)
{
	if (sig == SIGHUP)
		run_reload = 1;
	else
		run_stop = 1;
}

/* SA_RESTART keeps other system calls going; poll() returns anyway. */
static void
run_signals(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = run_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
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
		COMMON_LONGOPTS,
		{ "once", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct common_opts	 o;
	int			 ch, rc;

	common_init(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:v", longopts, NULL)) != -1) {
		if ((rc = common_option(&o, ch, optarg)) < 0)
			return -1;
		if (rc == 1)
			continue;
		if (ch != 'o')
			return -1;
		*once = 1;
	}
	if (optind != argc)
		return -1;
	*config = o.config;
	common_log_init(&o);
	return 0;
}

static void
run_reload_conf(struct runner *r, const char *config)
{
	struct diag	 d;
	struct conf	*conf;
	struct state	*st = NULL;
	char		*cause = NULL;
	size_t		 i;

	diag_init(&d);
	if ((conf = conf_load(config, &d)) == NULL) {
		for (i = 0; i < d.n; i++) {
			if (d.items[i].line == 0)
				log_error("%s: %s", d.items[i].file,
				    d.items[i].text);
			else
				log_error("%s:%d:%d: %s", d.items[i].file,
				    d.items[i].line, d.items[i].col,
				    d.items[i].text);
		}
		log_error("%s: the new configuration has errors; keeping the "
		    "running one", config);
		diag_free(&d);
		return;
	}
	diag_free(&d);
	if (strcmp(conf->state_path, r->conf->state_path) != 0) {
		if (state_open(conf->state_path, &st, &cause) != 0) {
			log_error("%s; keeping the running configuration",
			    cause);
			free(cause);
			conf_free(conf);
			return;
		}
		state_close(r->state);
		r->state = st;
	}
	conf_free(r->conf);
	r->conf = conf;
	log_info("%s: configuration reloaded (%zu account%s)", config,
	    conf->naccounts, conf->naccounts == 1 ? "" : "s");
}

/*
 * Each watched account holds a few descriptors (its socket, and libcurl's
 * wake-up pair): the usual soft limit of 1,024 would stop near 340 accounts
 * with a misleading TLS error. Take what the hard limit allows.
 */
static void
raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_debug("cannot raise the open-file limit");
	}
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
	r.started = time(NULL);
	if (state_open(conf->state_path, &r.state, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		conf_free(conf);
		return EXIT_IOERR;
	}
	run_signals();
	raise_nofile();
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	failed = 0;
	if (once) {
		for (i = 0; i < r.conf->naccounts && !run_stop; i++)
			if (run_account(&r, &r.conf->accounts[i]) != 0)
				failed++;
	} else {
		r.reload = &run_reload;
		while (!run_stop) {
			watch_loop(&r);
			if (run_reload && !run_stop) {
				run_reload = 0;
				run_reload_conf(&r, config);
			}
		}
		log_info("stopping");
	}
	prep_shutdown();
	state_close(r.state);
	conf_free(r.conf);
	return failed ? EXIT_TEMPFAIL : EXIT_OK;
}
