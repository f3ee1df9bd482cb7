/*
 * run: start a program with the argv the plan holds (one element per
 * template, already rendered; never a shell), wait for it, and judge it by
 * its exit status.
 *
 * stdin: "none" (/dev/null), "message" (the raw bytes), "body" (the decoded
 * text a person reads, UTF-8) or "json" (the document of http-doc.h, as a
 * webhook gets it).
 *
 * Environment: facteur's own, less the variables the config reads
 * passwords from ({env: NAME}), plus the rule's env, plus these (which win
 * over a rule's env of the same name, so a program can trust them):
 *
 *   FACTEUR_ACCOUNT     the account's name
 *   FACTEUR_MAILBOX     the mailbox ("" for POP3 and Maildir sources)
 *   FACTEUR_UID         the IMAP UID ("" when the source has none)
 *   FACTEUR_MESSAGE_ID  the Message-ID without <> ("" when absent)
 *   FACTEUR_FROM        the first From address ("" when absent)
 *   FACTEUR_SUBJECT     the decoded subject, CR and LF made spaces
 *   FACTEUR_RULE        the name of the rule that planned the action
 *   FACTEUR_ACTION_ID   the action's identity in the journal: the same on
 *                       every retry, for a program that must not do its
 *                       work twice
 *
 * Working directory: the directory of the config file (relative paths in
 * argv[0] are already resolved from the rule file's directory).
 *
 * The program runs in a process group of its own. When the rule's timeout
 * passes, the whole group gets SIGTERM, then SIGKILL after RUN_GRACE
 * seconds, and the action is retried later (ACTION_TEMP). Exit status 0 is
 * success, 75 (EX_TEMPFAIL) asks for a retry, any other status or death by
 * a signal is a permanent failure.
 *
 * stdout and stderr share one pipe, read in the same poll loop that feeds
 * stdin (a program that never reads its input cannot block us, and one
 * that exits early only costs us EPIPE: SIGPIPE is ignored), and are
 * logged line by line up to RUN_LOG_MAX bytes, then "... (truncated)".
 * Its waits go through coro_wait(): in the daemon, the other accounts go
 * on while a command runs.
 * Every descriptor facteur opens is close-on-exec, and the child closes
 * everything above 2 before exec.
 */
#include <sys/pidfd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "action.h"
#include "coro.h"
#include "conf.h"
#include "exec-dir.h"
#include "http-doc.h"
#include "log.h"
#include "msg.h"
#include "xmalloc.h"

#define RUN_GRACE	2		/* seconds between SIGTERM and SIGKILL */
#define RUN_LOG_MAX	(64 * 1024)	/* bytes of output logged */
#define RUN_LINE_MAX	4096		/* a longer line is logged in pieces */
#define RUN_DRAIN_READS	256		/* reads of 4 KiB after the exit */
#define RUN_EX_TEMPFAIL	75

extern char **environ;

struct run_io {
	const char	*name;		/* argv[0], for the log */
	char		*where;	/* "account: mailbox: uid N", for the log */
	const char	*in;		/* what goes to stdin, or NULL */
	size_t		 in_len;
	size_t		 in_off;
	int		 in_fd;		/* -1 once closed */
	int		 out_fd;	/* -1 once at EOF */
	char		 line[RUN_LINE_MAX];
	size_t		 line_len;
	size_t		 logged;	/* bytes of output logged */
	bool		 truncated;
	char		 last[201];	/* last line, for the failure cause */
};

struct run_child {
	pid_t		 pid;
	int		 status;
	int		 pidfd;		/* -1: none (kernel before 5.3) */
	bool		 exited;	/* reaped: status is valid */
	bool		 timed_out;
};

static enum action_result run_exec(struct action_ctx *, json_t *, char **);
static char	**run_argv(json_t *);
static char	**run_env(struct action_ctx *, json_t *);
static void	 env_set(char ***, size_t *, const char *, const char *);
static bool	 env_secret(const struct conf *, const char *);
static const char *run_stdin(struct action_ctx *, json_t *, size_t *,
		    char **);
static int	 run_spawn(char **, char **, const char *, int, int, pid_t *,
		    char **);
static void	 run_child(char **, char **, const char *, int, int, int)
		    __attribute__((noreturn));
static enum action_result run_start(struct run_io *, struct run_child *,
		    char **, char **, const char *, char **);
static void	 run_loop(struct run_io *, struct run_child *, unsigned);
static void	 run_drain(struct run_io *);
static void	 run_kill(struct run_child *);
static int	 run_reap(struct run_child *, bool);
static void	 io_write(struct run_io *);
static void	 io_read(struct run_io *);
static void	 io_line(struct run_io *);
static void	 io_close_in(struct run_io *);
static int64_t	 now_ms(void);
static enum action_result run_result(const struct run_child *,
		    const struct run_io *, unsigned, char **);
static void	 strv_free(char **);

const struct action_ops action_run_ops = { "run", run_exec };

static void
strv_free(char **v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The plan's argv as a NULL-terminated vector; NULL if it is unusable. */
static char **
run_argv(json_t *fields)
{
	json_t		*a = json_object_get(fields, "argv");
	char		**v;
	size_t		 i, n;

	if (!json_is_array(a) || (n = json_array_size(a)) == 0)
		return NULL;
	v = xcalloc(n + 1, sizeof *v);
	for (i = 0; i < n; i++) {
		if (!json_is_string(json_array_get(a, i))) {
			strv_free(v);
			return NULL;
		}
		v[i] = xstrdup(json_string_value(json_array_get(a, i)));
	}
	return v;
}

/* Set NAME=VALUE in the vector, replacing an earlier NAME. */
static void
env_set(char ***env, size_t *n, const char *name, const char *value)
{
	size_t	 i, len = strlen(name);
	char	*s;

	s = xasprintf("%s=%s", name, value);
	for (i = 0; i < *n; i++) {
		if (strncmp((*env)[i], name, len) == 0 &&
		    (*env)[i][len] == '=') {
			free((*env)[i]);
			(*env)[i] = s;
			return;
		}
	}
	*env = xreallocarray(*env, *n + 2, sizeof **env);
	(*env)[(*n)++] = s;
	(*env)[*n] = NULL;
}

/* Does the config read a password from this NAME=VALUE's variable? */
static bool
env_secret(const struct conf *conf, const char *entry)
{
	const struct secret	*s;
	size_t			 i, len = strcspn(entry, "=");

	for (i = 0; i <= conf->naccounts; i++) {
		s = i < conf->naccounts ? &conf->accounts[i].password :
		    &conf->smtp.password;
		if (s->kind == SECRET_ENV && s->value != NULL &&
		    strlen(s->value) == len && strncmp(s->value, entry,
		    len) == 0)
			return true;
	}
	return false;
}

static char **
run_env(struct action_ctx *ctx, json_t *fields)
{
	const struct msg_addr	*from;
	char			**env = NULL, *subject, *p, uid[16];
	size_t			 n = 0, i;
	const char		*name, *id;
	json_t			*v;

	env = xcalloc(1, sizeof *env);
	for (i = 0; environ[i] != NULL; i++) {
		if ((p = strchr(environ[i], '=')) == NULL ||
		    env_secret(ctx->conf, environ[i]))
			continue;
		env = xreallocarray(env, n + 2, sizeof *env);
		env[n++] = xstrdup(environ[i]);
		env[n] = NULL;
	}
	json_object_foreach(json_object_get(fields, "env"), name, v)
		env_set(&env, &n, name, json_string_value(v) != NULL ?
		    json_string_value(v) : "");
	env_set(&env, &n, "FACTEUR_ACCOUNT", ctx->account->name);
	env_set(&env, &n, "FACTEUR_MAILBOX", ctx->mailbox != NULL ?
	    ctx->mailbox : "");
	if (ctx->uid != 0)
		snprintf(uid, sizeof uid, "%u", (unsigned)ctx->uid);
	else
		uid[0] = '\0';
	env_set(&env, &n, "FACTEUR_UID", uid);
	id = msg_message_id(ctx->msg);
	env_set(&env, &n, "FACTEUR_MESSAGE_ID", id != NULL ? id : "");
	env_set(&env, &n, "FACTEUR_FROM", msg_addrs(ctx->msg, MSG_FROM,
	    &from) > 0 ? from[0].address : "");
	subject = xstrdup(msg_subject(ctx->msg));
	for (p = subject; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	env_set(&env, &n, "FACTEUR_SUBJECT", subject);
	free(subject);
	name = json_string_value(json_object_get(fields, "rule"));
	env_set(&env, &n, "FACTEUR_RULE", name != NULL ? name : "");
	env_set(&env, &n, "FACTEUR_ACTION_ID", ctx->ident);
	return env;
}

/* The bytes for stdin, NULL for none; *owned is set when they are new. */
static const char *
run_stdin(struct action_ctx *ctx, json_t *fields, size_t *len, char **owned)
{
	const char	*mode = json_string_value(json_object_get(fields,
			    "stdin"));
	const char	*p;
	json_t		*doc;

	*owned = NULL;
	*len = 0;
	if (mode == NULL || strcmp(mode, "none") == 0)
		return NULL;
	if (strcmp(mode, "message") == 0)
		return msg_raw(ctx->msg, len);
	if (strcmp(mode, "body") == 0) {
		p = msg_text(ctx->msg);
		*len = strlen(p);
		return p;
	}
	doc = http_doc_new(ctx, fields);
	*owned = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (*owned == NULL)
		fatal("run: cannot encode the JSON document");
	*len = strlen(*owned);
	return *owned;
}

/*
 * In the child: descriptors in place, a process group of its own, default
 * signal dispositions, then exec. A failure is reported through errfd
 * (close-on-exec: EOF there means the exec worked).
 */
static void
run_child(char **argv, char **env, const char *dir, int in, int out,
    int errfd)
{
	sigset_t	 none;
	int		 e, rfd = errfd;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
		goto fail;
	if (chdir(dir) != 0)
		goto fail;
	/* Everything else goes: close-on-exec is set on ours, not on fds a
	 * library may have opened without it. errfd stays open until exec. */
	if (errfd != 3 && dup2(errfd, 3) == -1)
		goto fail;
	rfd = 3;
	fcntl(rfd, F_SETFD, FD_CLOEXEC);
	close_range(4, ~0U, 0);
	execvpe(argv[0], argv, env);
fail:
	e = errno;
	if (write(rfd, &e, sizeof e) == -1)
		_exit(127);
	_exit(127);
}

static int
run_spawn(char **argv, char **env, const char *dir, int in, int out,
    pid_t *pid, char **cause)
{
	int	 ep[2], e;
	ssize_t	 n;

	if (pipe2(ep, O_CLOEXEC) != 0) {
		*cause = xasprintf("run %s: pipe: %s", argv[0],
		    strerror(errno));
		return -1;
	}
	if ((*pid = fork()) == -1) {
		*cause = xasprintf("run %s: fork: %s", argv[0],
		    strerror(errno));
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	if (*pid == 0)
		run_child(argv, env, dir, in, out, ep[1]);
	setpgid(*pid, *pid);	/* also here: no race with a kill */
	close(ep[1]);
	do
		n = read(ep[0], &e, sizeof e);
	while (n == -1 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof e) {
		waitpid(*pid, NULL, 0);
		*cause = xasprintf("run %s: cannot start it: %s", argv[0],
		    strerror(e));
		return -1;
	}
	return 0;
}

static void
io_close_in(struct run_io *io)
{
	if (io->in_fd != -1)
		close(io->in_fd);
	io->in_fd = -1;
}

static void
io_write(struct run_io *io)
{
	ssize_t	 n;

	n = write(io->in_fd, io->in + io->in_off, io->in_len - io->in_off);
	if (n == -1) {
		/* EPIPE: the program does not want (the rest of) it. */
		if (errno != EAGAIN && errno != EINTR)
			io_close_in(io);
		return;
	}
	io->in_off += (size_t)n;
	if (io->in_off == io->in_len)
		io_close_in(io);
}

/* Log the line gathered so far, while under the cap. */
static void
io_line(struct run_io *io)
{
	size_t	 len = io->line_len, n;

	io->line_len = 0;
	if (len > 0 && io->line[len - 1] == '\r')
		len--;
	io->line[len] = '\0';
	if (len > 0) {
		n = len < sizeof io->last - 1 ? len : sizeof io->last - 1;
		memcpy(io->last, io->line, n);
		io->last[n] = '\0';
	}
	if (io->truncated)
		return;
	if (io->logged + len > RUN_LOG_MAX) {
		log_info("%s: run %s: ... (truncated)", io->where, io->name);
		io->truncated = true;
		return;
	}
	io->logged += len + 1;
	log_info("%s: run %s: %s", io->where, io->name, io->line);
}

static void
io_read(struct run_io *io)
{
	char	 b[4096];
	ssize_t	 n, i;

	n = read(io->out_fd, b, sizeof b);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (io->line_len > 0)
			io_line(io);
		close(io->out_fd);
		io->out_fd = -1;
		return;
	}
	for (i = 0; i < n; i++) {
		if (b[i] == '\n') {
			io_line(io);
			continue;
		}
		io->line[io->line_len++] = b[i] == '\0' ? ' ' : b[i];
		if (io->line_len == sizeof io->line - 1)
			io_line(io);
	}
}

/* Reap the child if it is done (wait: block). 1 when reaped. */
static int
run_reap(struct run_child *c, bool wait)
{
	pid_t	 r;

	if (c->exited)
		return 1;
	do
		r = waitpid(c->pid, &c->status, wait ? 0 : WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r == c->pid || (r == -1 && errno == ECHILD)) {
		c->exited = true;
		return 1;
	}
	return 0;
}

/*
 * SIGTERM to the group, a grace period, then SIGKILL to the group. The
 * leader is not reaped before the SIGKILL (waitid with WNOWAIT), so its
 * pid, the group's id, cannot have been reused by then.
 */
static void
run_kill(struct run_child *c)
{
	siginfo_t	 si;
	struct pollfd	 pfd;
	int64_t		 end;

	kill(-c->pid, SIGTERM);
	if (c->pidfd != -1) {
		pfd.fd = c->pidfd;
		pfd.events = POLLIN;
		coro_wait(&pfd, 1, RUN_GRACE * 1000, false);
	}
	end = now_ms() + RUN_GRACE * 1000;
	while (c->pidfd == -1 && now_ms() < end) {
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG |
		    WNOWAIT) == 0 && si.si_pid == c->pid)
			break;
		coro_wait(NULL, 0, 20, false);
	}
	kill(-c->pid, SIGKILL);
	run_reap(c, true);
}

/* After the exit: what is left in the pipe, bounded (a grandchild may
 * still be writing). */
static void
run_drain(struct run_io *io)
{
	struct pollfd	 pfd;
	int		 i;

	for (i = 0; io->out_fd != -1 && i < RUN_DRAIN_READS; i++) {
		pfd.fd = io->out_fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) <= 0)
			break;
		io_read(io);
	}
	if (io->line_len > 0)
		io_line(io);
}

/*
 * Feed stdin and read the output until the child exits or the timeout
 * passes. The exit wakes the poll through a pidfd; where there is none,
 * it is noticed by polling in short slices. A grandchild that keeps the
 * output open after the child exits is not waited for.
 */
static void
run_loop(struct run_io *io, struct run_child *c, unsigned timeout)
{
	struct pollfd	 pfd[3];
	int64_t		 deadline, left;
	nfds_t		 n;
	int		 wait_ms, i_out, i_in;

	deadline = now_ms() + (int64_t)timeout * 1000;
	for (;;) {
		if (run_reap(c, false)) {
			run_drain(io);
			return;
		}
		if ((left = deadline - now_ms()) <= 0) {
			c->timed_out = true;
			run_kill(c);
			return;
		}
		n = 0;
		i_out = i_in = -1;
		if (io->out_fd != -1) {
			i_out = (int)n;
			pfd[n].fd = io->out_fd;
			pfd[n++].events = POLLIN;
		}
		if (io->in_fd != -1) {
			i_in = (int)n;
			pfd[n].fd = io->in_fd;
			pfd[n++].events = POLLOUT;
		}
		if (c->pidfd != -1) {
			pfd[n].fd = c->pidfd;
			pfd[n++].events = POLLIN;
			wait_ms = left > INT_MAX ? INT_MAX : (int)left;
		} else {
			wait_ms = io->out_fd == -1 ? 10 : 100;
			if (wait_ms > left)
				wait_ms = (int)left;
		}
		if (coro_wait(pfd, n, wait_ms, false) <= 0)
			continue;
		if (i_out != -1 && pfd[i_out].revents != 0)
			io_read(io);
		if (i_in != -1 && pfd[i_in].revents != 0)
			io_write(io);
	}
}

static enum action_result
run_result(const struct run_child *c, const struct run_io *io,
    unsigned timeout, char **cause)
{
	const char	*sep = io->last[0] != '\0' ? ": " : "";

	if (c->timed_out) {
		*cause = xasprintf("run %s: timed out after %us, killed",
		    io->name, timeout);
		return ACTION_TEMP;
	}
	if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
		return ACTION_OK;
	if (WIFEXITED(c->status)) {
		*cause = xasprintf("run %s: exit status %d%s%s", io->name,
		    WEXITSTATUS(c->status), sep, io->last);
		return WEXITSTATUS(c->status) == RUN_EX_TEMPFAIL ?
		    ACTION_TEMP : ACTION_PERM;
	}
	*cause = xasprintf("run %s: killed by signal %d%s%s", io->name,
	    WIFSIGNALED(c->status) ? WTERMSIG(c->status) : 0, sep, io->last);
	return ACTION_PERM;
}

/*
 * Pipes, the child, our ends non-blocking in io. ACTION_OK, or
 * ACTION_TEMP (no descriptors) / ACTION_PERM (it cannot start) with
 * *cause.
 */
static enum action_result
run_start(struct run_io *io, struct run_child *c, char **argv, char **env,
    const char *dir, char **cause)
{
	enum action_result	 res = ACTION_TEMP;
	int			 in[2] = { -1, -1 }, out[2] = { -1, -1 };

	if ((io->in != NULL ? pipe2(in, O_CLOEXEC) :
	    (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC))) == -1 ||
	    pipe2(out, O_CLOEXEC) != 0) {
		*cause = xasprintf("run %s: %s", argv[0], strerror(errno));
		goto fail;
	}
	if (run_spawn(argv, env, dir, in[0], out[1], &c->pid, cause) != 0) {
		res = ACTION_PERM;
		goto fail;
	}
	c->pidfd = pidfd_open(c->pid, 0);	/* close-on-exec */
	close(in[0]);
	close(out[1]);
	io->in_fd = in[1];
	io->out_fd = out[0];
	if (io->in_fd != -1 && io->in_len == 0)
		io_close_in(io);
	if (io->in_fd != -1)
		fcntl(io->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(io->out_fd, F_SETFL, O_NONBLOCK);
	return ACTION_OK;
fail:
	if (in[0] != -1)
		close(in[0]);
	if (in[1] != -1)
		close(in[1]);
	if (out[0] != -1)
		close(out[0]);
	if (out[1] != -1)
		close(out[1]);
	return res;
}

static enum action_result
run_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	struct run_io		 io;
	struct run_child	 c;
	enum action_result	 res;
	char			**argv, **env, *dir, *owned = NULL;
	unsigned		 timeout;

	if ((argv = run_argv(fields)) == NULL) {
		*cause = xstrdup("run: the plan has no argv");
		return ACTION_PERM;
	}
	timeout = (unsigned)json_integer_value(json_object_get(fields,
	    "timeout"));
	if (timeout == 0)
		timeout = 60;
	memset(&io, 0, sizeof io);
	memset(&c, 0, sizeof c);
	c.pidfd = io.in_fd = io.out_fd = -1;
	io.name = argv[0];
	io.where = xasprintf("%s: %s: uid %u", ctx->account->name,
	    ctx->mailbox != NULL ? ctx->mailbox : "", (unsigned)ctx->uid);
	signal(SIGPIPE, SIG_IGN);
	env = run_env(ctx, fields);
	dir = exec_conf_dir(ctx->conf);
	io.in = run_stdin(ctx, fields, &io.in_len, &owned);
	if ((res = run_start(&io, &c, argv, env, dir, cause)) == ACTION_OK) {
		log_debug("%s: run %s (%s)", io.where, argv[0], ctx->ident);
		run_loop(&io, &c, timeout);
		io_close_in(&io);
		if (io.out_fd != -1)
			close(io.out_fd);
		if (c.pidfd != -1)
			close(c.pidfd);
		res = run_result(&c, &io, timeout, cause);
		if (res == ACTION_OK)
			log_info("%s: run %s: done", io.where, argv[0]);
	}
	free(owned);
	free(io.where);
	free(dir);
	strv_free(env);
	strv_free(argv);
	return res;
}
