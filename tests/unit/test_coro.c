/* The coroutine scheduler: waits on sockets, timeouts, interrupts, and
 * the guard page under every stack. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "coro.h"

struct waiter {
	int	 fd;
	int	 timeout_ms;
	bool	 interruptible;
	int	 result;
	int	 err;
	int	*order;		/* shared: who finished, in turn */
	size_t	*norder;
	int	 id;
};

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
wait_one(void *arg)
{
	struct waiter	*w = arg;
	struct pollfd	 pfd;

	pfd.fd = w->fd;
	pfd.events = POLLIN;
	w->result = coro_wait(w->fd >= 0 ? &pfd : NULL, w->fd >= 0 ? 1 : 0,
	    w->timeout_ms, w->interruptible);
	w->err = errno;
	w->order[(*w->norder)++] = w->id;
}

static bool
all_done(struct coro **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!coro_done(v[i]))
			return false;
	return true;
}

/* Two coroutines wait on two sockets: the one whose peer writes runs
 * first, the other is not held up by it, nor it by the other. */
static void
test_ready_socket_first(void **state)
{
	struct waiter	 w[2];
	struct coro	*v[2];
	int		 a[2], b[2], order[2];
	size_t		 norder = 0, i;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	for (i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].fd = i == 0 ? a[0] : b[0];
		w[i].timeout_ms = 5000;
		w[i].order = order;
		w[i].norder = &norder;
		w[i].id = (int)i;
		v[i] = coro_new(wait_one, &w[i]);
	}
	assert_int_equal(coro_poll(v, 2, 0), 0);
	assert_int_equal(norder, 0);
	assert_int_equal(write(b[1], "x", 1), 1);
	assert_int_equal(coro_poll(v, 2, 1000), 0);
	assert_int_equal(norder, 1);
	assert_int_equal(order[0], 1);
	assert_int_equal(w[1].result, 1);
	assert_false(coro_done(v[0]));
	assert_int_equal(write(a[1], "y", 1), 1);
	assert_int_equal(coro_poll(v, 2, 1000), 0);
	assert_int_equal(norder, 2);
	assert_int_equal(order[1], 0);
	assert_true(all_done(v, 2));
	for (i = 0; i < 2; i++) {
		coro_free(v[i]);
		close(a[i]);
		close(b[i]);
	}
}

/* A wait with nothing to wait for ends at its timeout, not before. */
static void
test_timeout(void **state)
{
	struct waiter	 w;
	struct coro	*v;
	int		 order[1];
	size_t		 norder = 0;
	int64_t		 t0;

	(void)state;
	memset(&w, 0, sizeof w);
	w.fd = -1;
	w.timeout_ms = 100;
	w.order = order;
	w.norder = &norder;
	w.result = 42;
	v = coro_new(wait_one, &w);
	t0 = now_ms();
	while (!coro_done(v))
		assert_int_equal(coro_poll(&v, 1, 1000), 0);
	assert_true(now_ms() - t0 >= 100);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(w.result, 0);
	coro_free(v);
}

/* Shutting down: an interruptible wait ends with EINTR, an
 * uninterruptible one (a command in flight) goes on, but for a short
 * grace (2 s) instead of its 10 s. */
static void
test_interrupt(void **state)
{
	struct waiter	 w[2];
	struct coro	*v[2];
	int		 order[2];
	size_t		 norder = 0, i;
	int64_t		 t0;

	(void)state;
	for (i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].fd = -1;
		w[i].timeout_ms = i == 0 ? -1 : 10000;
		w[i].interruptible = i == 0;
		w[i].order = order;
		w[i].norder = &norder;
		w[i].id = (int)i;
		v[i] = coro_new(wait_one, &w[i]);
	}
	assert_int_equal(coro_poll(v, 2, 0), 0);
	coro_interrupt(v[0]);
	coro_interrupt(v[1]);
	assert_int_equal(coro_poll(v, 2, 0), 0);
	assert_true(coro_done(v[0]));
	assert_int_equal(w[0].result, -1);
	assert_int_equal(w[0].err, EINTR);
	assert_false(coro_done(v[1]));
	t0 = now_ms();
	while (!coro_done(v[1]))
		assert_int_equal(coro_poll(v, 2, 1000), 0);
	assert_true(now_ms() - t0 < 5000);
	assert_int_equal(w[1].result, 0);
	for (i = 0; i < 2; i++)
		coro_free(v[i]);
}

/* Outside a coroutine coro_wait is poll(). */
static void
test_outside(void **state)
{
	struct pollfd	 pfd;
	int		 s[2];

	(void)state;
	assert_null(coro_self());
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	pfd.fd = s[0];
	pfd.events = POLLIN;
	assert_int_equal(coro_wait(&pfd, 1, 0, false), 0);
	assert_int_equal(write(s[1], "x", 1), 1);
	assert_int_equal(coro_wait(&pfd, 1, 1000, false), 1);
	assert_true(pfd.revents & POLLIN);
	close(s[0]);
	close(s[1]);
}

static int
deep(int n)
{
	volatile char	 frame[4096];

	frame[0] = (char)n;
	frame[sizeof frame - 1] = (char)n;
	return n == 0 ? frame[0] : deep(n - 1) + frame[sizeof frame - 1];
}

static void
overflow(void *arg)
{
	(void)arg;
	/* 16 MiB of frames on an 8 MiB stack. */
	deep(4096);
}

/* Running off the end of a stack stops the process; it never goes on
 * over whatever lies below. */
static void
test_guard_page(void **state)
{
	struct coro	*v;
	pid_t		 pid;
	int		 status;

	(void)state;
	if ((pid = fork()) == 0) {
		/* No core file, and quiet: the crash is the point. */
		close(2);
		v = coro_new(overflow, NULL);
		coro_poll(&v, 1, 0);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* SIGSEGV on the guard; under AddressSanitizer its own report and
	 * exit status 1. */
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_socket_first),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_interrupt),
		cmocka_unit_test(test_outside),
		cmocka_unit_test(test_guard_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
