/*
 * Coroutines on ucontext (makecontext/swapcontext), for the daemon's one
 * thread. Only the scheduler resumes a coroutine and a coroutine only
 * yields back to the scheduler, so there is one saved scheduler context.
 *
 * Stacks: CORO_STACK bytes mapped with MAP_NORESERVE (pages never touched
 * cost no memory) above CORO_GUARD bytes of PROT_NONE, so running off the
 * end faults at once instead of writing over the heap. The guard (128 KiB)
 * is twice the largest local array in facteur's own code (64 KiB receive
 * chunks), so none of our frames can step over it. What runs on these stacks:
 * the IMAP and POP3 sources, the rules (PCRE2 JIT matching uses its own
 * JIT stack; the interpreter keeps its frames on the heap), GMime, SQLite,
 * libcurl and OpenSSL, and the actions. Measured with a build that fills
 * the stack with a pattern (-DCORO_STACK_CHECK): about 70 KiB for common
 * mail over IMAPS with a reply sent; 1.1 MiB for the deepest message of the
 * test corpus (a MIME bomb nested for stack exhaustion, which GMime parses
 * recursively). Hence 8 MiB, the main thread's usual limit: a message
 * that the one-shot commands can process, the daemon can too.
 *
 * AddressSanitizer is told about every switch, and valgrind about every
 * stack, so `make SANITIZE=1` and valgrind runs keep working.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "coro.h"
#include "log.h"
#include "xmalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif

#ifdef CORO_ASAN
#include <sanitizer/common_interface_defs.h>
#define ASAN_START(save, bottom, size) \
	__sanitizer_start_switch_fiber((save), (bottom), (size))
#define ASAN_FINISH(save, bottom, size) \
	__sanitizer_finish_switch_fiber((save), (bottom), (size))
#else
#define ASAN_START(save, bottom, size) \
	do { (void)(save); (void)(bottom); (void)(size); } while (0)
#define ASAN_FINISH(save, bottom, size) \
	do { (void)(save); (void)(bottom); (void)(size); } while (0)
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CORO_VALGRIND 1
#endif
#endif

#define CORO_STACK	((size_t)8 << 20)
#define CORO_GUARD	((size_t)128 << 10)
/* Kept below the frame that trims: what the wait itself will use. */
#define CORO_TRIM_MARGIN	((uintptr_t)2 << 10)
#define CORO_GRACE_MS	2000	/* longest wait once stopping */

struct coro {
	ucontext_t	  ctx;
	char		 *map;		/* guard + stack */
	size_t		  maplen;
	void		(*fn)(void *);
	void		 *arg;
	bool		  started;
	bool		  done;
	bool		  waiting;
	bool		  wake;		/* resume at the next chance */
	bool		  interruptible;
	bool		  interrupted;
	bool		  stopping;	/* coro_interrupt was called */
	struct pollfd	 *fds;
	nfds_t		  nfds;
	int64_t		  deadline;	/* ms, monotonic; -1 none */
	int		  result;
	void		 *asan_fake;
	unsigned	  vg_id;
};

static ucontext_t	 sched_ctx;
static struct coro	*current;
static const void	*sched_bottom;	/* for AddressSanitizer */
static size_t		 sched_size;

#ifdef CORO_STACK_CHECK
/* Measuring build (-DCORO_STACK_CHECK): how deep did the stack go? */
static void
coro_stack_report(const struct coro *c)
{
	size_t	 i;

	for (i = CORO_GUARD; i < c->maplen && (unsigned char)c->map[i] ==
	    0xa5; i++)
		;
	log_info("coroutine stack: %zu of %zu bytes used", c->maplen - i,
	    CORO_STACK);
}
#endif

static int64_t	 coro_now(void);
static void	 coro_entry(void);
static void	 coro_resume(struct coro *);
static void	 coro_yield(struct coro *);
static void	 coro_run_woken(struct coro **, size_t);

static int64_t
coro_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct coro *
coro_new(void (*fn)(void *), void *arg)
{
	struct coro	*c;

	c = xcalloc(1, sizeof *c);
	c->fn = fn;
	c->arg = arg;
	c->maplen = CORO_GUARD + CORO_STACK;
	c->map = mmap(NULL, c->maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (c->map == MAP_FAILED)
		fatal("mmap: %s", strerror(errno));
	/* Stacks grow down: the guard is the low end. */
	if (mprotect(c->map, CORO_GUARD, PROT_NONE) != 0)
		fatal("mprotect: %s", strerror(errno));
	if (getcontext(&c->ctx) != 0)
		fatal("getcontext: %s", strerror(errno));
	c->ctx.uc_stack.ss_sp = c->map + CORO_GUARD;
	c->ctx.uc_stack.ss_size = CORO_STACK;
	c->ctx.uc_link = NULL;
	makecontext(&c->ctx, coro_entry, 0);
#ifdef CORO_STACK_CHECK
	memset(c->map + CORO_GUARD, 0xa5, CORO_STACK);
#endif
#ifdef CORO_VALGRIND
	c->vg_id = VALGRIND_STACK_REGISTER(c->map + CORO_GUARD,
	    c->map + c->maplen);
#endif
	return c;
}

void
coro_free(struct coro *c)
{
	if (c == NULL)
		return;
	if (c->started && !c->done)
		fatal("freeing a coroutine that is still running");
#ifdef CORO_STACK_CHECK
	coro_stack_report(c);
#endif
#ifdef CORO_VALGRIND
	VALGRIND_STACK_DEREGISTER(c->vg_id);
#endif
	munmap(c->map, c->maplen);
	free(c);
}

bool
coro_done(const struct coro *c)
{
	return c->done;
}

struct coro *
coro_self(void)
{
	return current;
}

/*
 * Give back the stack pages below the running frame: a TLS handshake or a
 * sync touches tens of KiB that an account waiting in IDLE for hours does
 * not need, times a thousand accounts. They come back zeroed if used again.
 */
void
coro_trim(void)
{
	struct coro	*c = current;
	char		 here;
	uintptr_t	 lo, top;
	long		 page = sysconf(_SC_PAGESIZE);

	if (c == NULL || page <= 0)
		return;
	lo = (uintptr_t)(c->map + CORO_GUARD);
	top = ((uintptr_t)&here - CORO_TRIM_MARGIN) & ~((uintptr_t)page - 1);
	if (top > lo)
		(void)madvise((void *)lo, top - lo, MADV_DONTNEED);
}

/* First code on a new stack; never returns (uc_link is NULL). */
static void
coro_entry(void)
{
	struct coro	*c = current;

	ASAN_FINISH(NULL, &sched_bottom, &sched_size);
	c->fn(c->arg);
	c->done = true;
	/* NULL: this stack is gone for good. */
	ASAN_START(NULL, sched_bottom, sched_size);
	setcontext(&sched_ctx);
	fatal("setcontext: %s", strerror(errno));
}

/* Scheduler side: run c until it waits or ends. */
static void
coro_resume(struct coro *c)
{
	void	*fake = NULL;

	c->started = true;
	c->wake = false;
	current = c;
	ASAN_START(&fake, c->map + CORO_GUARD, CORO_STACK);
	if (swapcontext(&sched_ctx, &c->ctx) != 0)
		fatal("swapcontext: %s", strerror(errno));
	ASAN_FINISH(fake, NULL, NULL);
	current = NULL;
}

/* Coroutine side: back to the scheduler until resumed. */
static void
coro_yield(struct coro *c)
{
	ASAN_START(&c->asan_fake, sched_bottom, sched_size);
	if (swapcontext(&c->ctx, &sched_ctx) != 0)
		fatal("swapcontext: %s", strerror(errno));
	ASAN_FINISH(c->asan_fake, &sched_bottom, &sched_size);
}

int
coro_wait(struct pollfd *fds, nfds_t nfds, int timeout_ms,
    bool interruptible)
{
	struct coro	*c = current;
	nfds_t		 i;

	if (c == NULL)
		return poll(fds, nfds, timeout_ms);
	for (i = 0; i < nfds; i++)
		fds[i].revents = 0;
	c->fds = fds;
	c->nfds = nfds;
	if (c->stopping && (timeout_ms < 0 || timeout_ms > CORO_GRACE_MS))
		timeout_ms = CORO_GRACE_MS;
	c->deadline = timeout_ms < 0 ? -1 : coro_now() + timeout_ms;
	c->interruptible = interruptible;
	c->interrupted = false;
	c->result = 0;
	c->waiting = true;
	coro_yield(c);
	c->waiting = false;
	c->fds = NULL;
	c->nfds = 0;
	if (c->interrupted) {
		errno = EINTR;
		return -1;
	}
	return c->result;
}

void
coro_interrupt(struct coro *c)
{
	int64_t	 grace;

	if (c->waiting && c->interruptible) {
		c->interrupted = true;
		c->wake = true;
	}
	if (!c->stopping && c->waiting) {
		grace = coro_now() + CORO_GRACE_MS;
		if (c->deadline < 0 || c->deadline > grace)
			c->deadline = grace;
	}
	c->stopping = true;
}

void
coro_wake(struct coro *c)
{
	if (c->waiting)
		c->wake = true;
}

bool
coro_stopping(void)
{
	return current != NULL && current->stopping;
}

static void
coro_run_woken(struct coro **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (v[i]->done)
			continue;
		if (!v[i]->started || v[i]->wake)
			coro_resume(v[i]);
	}
}

int
coro_poll(struct coro **v, size_t n, int max_ms)
{
	struct pollfd	*pfd = NULL;
	size_t		 i, np = 0, k, ready;
	int64_t		 now, first;
	int		 timeout, rc, saved;

	coro_run_woken(v, n);
	now = coro_now();
	first = max_ms < 0 ? -1 : now + max_ms;
	for (i = 0; i < n; i++) {
		if (v[i]->done || !v[i]->waiting)
			continue;
		if (v[i]->wake)
			first = now;
		else if (v[i]->deadline >= 0 &&
		    (first < 0 || v[i]->deadline < first))
			first = v[i]->deadline;
		np += v[i]->nfds;
	}
	pfd = xreallocarray(NULL, np + 1, sizeof *pfd);
	for (i = np = 0; i < n; i++) {
		if (v[i]->done || !v[i]->waiting || v[i]->nfds == 0)
			continue;
		memcpy(pfd + np, v[i]->fds, v[i]->nfds * sizeof *pfd);
		np += v[i]->nfds;
	}
	timeout = first < 0 ? -1 : first <= now ? 0 :
	    first - now > INT32_MAX ? INT32_MAX : (int)(first - now);
	rc = poll(pfd, np, timeout);
	saved = errno;
	if (rc < 0 && saved != EINTR)
		fatal("poll: %s", strerror(saved));
	now = coro_now();
	for (i = np = 0; i < n; i++) {
		if (v[i]->done || !v[i]->waiting)
			continue;
		ready = 0;
		for (k = 0; k < v[i]->nfds; k++) {
			v[i]->fds[k].revents = rc > 0 ? pfd[np + k].revents : 0;
			if (v[i]->fds[k].revents != 0)
				ready++;
		}
		np += v[i]->nfds;
		if (ready > 0) {
			v[i]->result = (int)ready;
			v[i]->wake = true;
		} else if (v[i]->deadline >= 0 && v[i]->deadline <= now)
			v[i]->wake = true;
	}
	free(pfd);
	coro_run_woken(v, n);
	if (rc < 0) {
		errno = saved;
		return -1;
	}
	return 0;
}
