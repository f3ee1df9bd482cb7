/*
 * Coroutines for the daemon: one per account, all in one thread. A
 * coroutine runs until it waits for a socket (coro_wait), then the
 * scheduler (coro_poll) polls every waiting coroutine's sockets at once and
 * resumes those that are ready or whose time is up. Outside a coroutine
 * (run --once, deliver, test) coro_wait is a plain poll().
 */
#ifndef FACTEUR_CORO_H
#define FACTEUR_CORO_H

#include <poll.h>
#include <stdbool.h>

struct coro;

/* A new coroutine that will run fn(arg) on its own stack when resumed. */
struct coro	*coro_new(void (*fn)(void *), void *arg);
/* Free a finished (or never started) coroutine. */
void		 coro_free(struct coro *);
bool		 coro_done(const struct coro *);
/* The coroutine running now, NULL in the scheduler or outside. */
struct coro	*coro_self(void);
/* Before a long wait: release the running coroutine's unused stack. */
void		 coro_trim(void);

/*
 * Wait until one of the fds is ready or timeout_ms passes (-1: forever).
 * Returns as poll() does: > 0 ready (revents set), 0 timed out, -1 and
 * errno EINTR when interrupted: by a signal outside a coroutine, by
 * coro_interrupt inside one (only if interruptible).
 */
int		 coro_wait(struct pollfd *, nfds_t, int timeout_ms,
		     bool interruptible);

/*
 * Run every runnable coroutine, then poll the sockets of the waiting ones
 * for at most max_ms and resume those ready or due. Returns -1 with errno
 * EINTR when a signal interrupted the poll.
 */
int		 coro_poll(struct coro **, size_t, int max_ms);
/*
 * Shutting down: wake a coroutine in an interruptible wait now; from then
 * on none of its waits lasts more than a short grace, so an account stuck
 * on a server that stopped answering does not hold up the exit.
 */
void		 coro_interrupt(struct coro *);
/*
 * Resume a coroutine waiting in coro_wait at the next chance, as if its
 * time were up (coro_wait returns 0): what it waits for changed.
 */
void		 coro_wake(struct coro *);
/* Has coro_interrupt been called on the running coroutine? */
bool		 coro_stopping(void);

#endif
