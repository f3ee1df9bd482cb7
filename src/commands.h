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

#endif
