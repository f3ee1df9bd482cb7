/*
 * The subcommands. Each takes the arguments after its own name (argv[0] is
 * the subcommand's name) and returns a sysexits exit code.
 */
#ifndef FACTEUR_COMMANDS_H
#define FACTEUR_COMMANDS_H

/* Exit codes (sysexits.h). */
#define EXIT_OK		0
#define EXIT_MISMATCH	1	/* facteur test --expect: a difference */
#define EXIT_USAGE	64
#define EXIT_DATAERR	65
#define EXIT_NOINPUT	66
#define EXIT_SOFTWARE	70
#define EXIT_IOERR	74
#define EXIT_TEMPFAIL	75
#define EXIT_CONFIG	78

int	cmd_run(int, char **);
int	cmd_check(int, char **);
int	cmd_test(int, char **);
int	cmd_parse(int, char **);
int	cmd_deliver(int, char **);
int	cmd_state(int, char **);

/* The default config path: $FACTEUR_CONFIG, else config/facteur.yaml. */
const char *default_config_path(void);

/*
 * The options every long-running command shares: -c/--config, -v/--verbose,
 * --log text|json, --syslog. A command lists COMMON_LONGOPTS in its own
 * getopt_long table (with "c:v" in its short options), hands each option to
 * common_option() first, and calls common_log_init() once parsing is over.
 */
#define COMMON_LONGOPTS							\
	{ "config", required_argument, NULL, 'c' },			\
	{ "log", required_argument, NULL, COMMON_OPT_LOG },		\
	{ "syslog", no_argument, NULL, COMMON_OPT_SYSLOG },		\
	{ "verbose", no_argument, NULL, 'v' }
#define COMMON_OPT_LOG		0x100
#define COMMON_OPT_SYSLOG	0x101

struct common_opts {
	const char	*config;
	int		 verbose;
	int		 format;	/* enum log_format */
};

void	common_init(struct common_opts *);
/* 1: the option was one of the common ones; 0: not one; -1: bad value. */
int	common_option(struct common_opts *, int ch, const char *arg);
void	common_log_init(const struct common_opts *);

#endif
