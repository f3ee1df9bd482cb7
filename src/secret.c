/*
 * Secrets are read when needed, never cached, and never put in a message:
 * causes name the variable, file or command, not the value.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "xmalloc.h"

#define SECRET_MAX		(64 * 1024)
#define SECRET_TIMEOUT_MS	30000

static int	secret_env(const struct secret *, char **, char **);
static int	secret_file(const struct secret *, char **, char **);
static int	secret_command(const struct secret *, char **, char **);
static int	read_capped(int, struct buf *, int, char **);
static int	reap(pid_t, const char *, int, char **);
static void	child(char **, int) __attribute__((noreturn));
static char	*first_line(const char *);

int
secret_get(const struct secret *s, char **out, char **cause)
{
	*out = NULL;
	switch (s->kind) {
	case SECRET_LITERAL:
		*out = xstrdup(s->value);
		return 0;
	case SECRET_ENV:
		return secret_env(s, out, cause);
	case SECRET_FILE:
		return secret_file(s, out, cause);
	case SECRET_COMMAND:
		return secret_command(s, out, cause);
	default:
		*cause = xstrdup("no secret configured");
		return -1;
	}
}

static int
secret_env(const struct secret *s, char **out, char **cause)
{
	const char	*v;

	if ((v = getenv(s->value)) == NULL || *v == '\0') {
		*cause = xasprintf("environment variable %s is not set",
		    s->value);
		return -1;
	}
	*out = xstrdup(v);
	return 0;
}

static char *
first_line(const char *s)
{
	return xstrndup(s, strcspn(s, "\r\n"));
}

static int
secret_file(const struct secret *s, char **out, char **cause)
{
	struct buf	 b;
	int		 fd;

	if ((fd = open(s->value, O_RDONLY | O_CLOEXEC)) == -1) {
		*cause = xasprintf("cannot open %s: %s", s->value,
		    strerror(errno));
		return -1;
	}
	buf_init(&b, SECRET_MAX);
	if (read_capped(fd, &b, -1, cause) != 0) {
		close(fd);
		buf_free(&b);
		return -1;
	}
	close(fd);
	*out = first_line(b.data != NULL ? b.data : "");
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	return 0;
}

/* Read fd to its end into b; timeout_ms < 0 waits forever. */
static int
read_capped(int fd, struct buf *b, int timeout_ms, char **cause)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	char		 chunk[4096];
	ssize_t		 n;

	for (;;) {
		if (timeout_ms >= 0 && poll(&pfd, 1, timeout_ms) == 0) {
			*cause = xstrdup("timed out");
			return -1;
		}
		n = read(fd, chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*cause = xasprintf("read error: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		if (buf_add(b, chunk, (size_t)n) != 0) {
			*cause = xstrdup("secret too long");
			return -1;
		}
	}
}

static void
child(char **argv, int wfd)
{
	int	 null;

	if ((null = open("/dev/null", O_RDONLY)) != -1) {
		dup2(null, STDIN_FILENO);
		close(null);
	}
	dup2(wfd, STDOUT_FILENO);
	close(wfd);
	execvp(argv[0], argv);
	_exit(127);
}

static int
secret_command(const struct secret *s, char **out, char **cause)
{
	struct buf	 b;
	int		 fds[2], rc;
	pid_t		 pid;
	char		*why = NULL;

	if (s->argv == NULL || s->argv[0] == NULL) {
		*cause = xstrdup("empty secret command");
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC) == -1) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		*cause = xasprintf("fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0)
		child(s->argv, fds[1]);
	close(fds[1]);
	buf_init(&b, SECRET_MAX);
	rc = read_capped(fds[0], &b, SECRET_TIMEOUT_MS, &why);
	close(fds[0]);
	if (reap(pid, s->argv[0], rc != 0, cause) != 0 || rc != 0) {
		if (rc != 0) {
			free(*cause);
			*cause = xasprintf("secret command %s: %s", s->argv[0],
			    why);
		}
		free(why);
		buf_free(&b);
		return -1;
	}
	*out = first_line(b.data != NULL ? b.data : "");
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	return 0;
}

/* Wait for the command (killing it first if kill is set). */
static int
reap(pid_t pid, const char *name, int kill_it, char **cause)
{
	int	 status;

	*cause = NULL;
	if (kill_it)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			*cause = xasprintf("secret command %s: %s", name,
			    strerror(errno));
			return -1;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		*cause = xasprintf("secret command %s: cannot run it", name);
	else
		*cause = xasprintf("secret command %s failed", name);
	return -1;
}
