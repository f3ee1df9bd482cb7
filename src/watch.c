/*
 * The daemon's loop: every account in one thread, each in a coroutine of
 * its own (coro.c). An account's coroutine connects, syncs, sits in IDLE
 * (or sleeps until its next poll), and does it again; every place it
 * would block on the network (a read or write on the IMAP socket, a
 * libcurl transfer: IMAP login, POP3, SMTP for the actions) is a
 * coro_wait, which hands the thread back to the scheduler below. The
 * scheduler polls, in one poll(), the sockets every coroutine waits on,
 * IDLE sockets and libcurl's sockets alike, with the nearest deadline as
 * timeout, and resumes the coroutines whose sockets are ready or whose
 * time is up. So a server that stops answering holds up only its own
 * account, for its own timeouts; the others go on. Local work (SQLite,
 * message parsing, rules) runs without yielding; the command of a `run`
 * action is waited for with coro_wait(), like a socket.
 *
 * Each coroutine has its own copy of the runner (the per-pass fields: the
 * IMAP connection handed to actions, counters) over the shared
 * configuration and state. No state.c function yields inside itself. The
 * journal's group of writes (state.c) is committed before every IMAP
 * fetch and before the daemon sleeps, but may stay open while a POP3
 * account waits for its next reply: writes of other coroutines then join
 * the same group, and whichever commits it commits them all.
 *
 * Nothing is trusted to arrive by push alone: after every wake-up, every
 * reconnect and every refresh, the whole account is synced from the last
 * UID saved. The refresh (DONE, sync, IDLE again) runs every few minutes,
 * well inside the 29 minutes RFC 2177 allows, and doubles as the check for
 * a dead or half-open connection: its replies have a read timeout.
 * Failures reconnect with exponential backoff.
 *
 * On SIGTERM (or SIGHUP for a reload) coroutines waiting in IDLE or
 * between polls are woken, end IDLE, log out and finish. One in the middle
 * of a sync goes on with it, but none of its waits lasts more than a short
 * grace any longer (coro_interrupt), so a server that stopped answering
 * delays the exit by about two seconds, not by its timeouts. Whatever was
 * cut short is still pending in the journal and resumes at the next start.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "coro.h"
#include "imap.h"
#include "log.h"
#include "run.h"
#include "source-imap.h"
#include "watch.h"
#include "xmalloc.h"

#define WATCH_REFRESH		(4 * 60)	/* seconds in IDLE at most */
#define WATCH_BACKOFF_MIN	5
#define WATCH_BACKOFF_MAX	600
#define WATCH_READ_TIMEOUT_MS	30000
#define WATCH_STOP_CHECK_MS	1000	/* a signal between checks */
#define WATCH_LIVENESS_CHECK	60	/* seconds between liveness checks, at most */
#define WATCH_TRIM_EVERY	2	/* seconds between heap trims, at least */

struct watch {
	struct conf_account	*a;
	struct runner		 r;		/* this account's copy */
	struct imap_conn	 c;
	bool			 open;
	time_t			 due;		/* next sync */
	unsigned		 backoff;
};

static bool	 watch_idles(const struct watch *);
static void	 watch_fail(struct watch *, const char *, char *);
static bool	 watch_stopping(const struct runner *);
static void	 watch_sync(struct runner *, struct watch *);
static void	 watch_sync_idle(struct runner *, struct watch *);
static void	 watch_readable(struct runner *, struct watch *);
static void	 watch_wait(struct watch *);
static void	 watch_close(struct watch *);
static void	 watch_main(void *);
static time_t	 watch_liveness_every(const struct conf *);
static void	 watch_trim(void);

/* A sync has ended since the last trim: its memory is free again. */
static bool	 watch_synced;

static bool
watch_idles(const struct watch *w)
{
	return w->a->kind == SOURCE_IMAP && w->a->watch == WATCH_IDLE;
}

/* Close, log why, and try again after the backoff. */
static void
watch_fail(struct watch *w, const char *what, char *cause)
{
	w->backoff = w->backoff == 0 ? WATCH_BACKOFF_MIN :
	    w->backoff * 2 > WATCH_BACKOFF_MAX ? WATCH_BACKOFF_MAX :
	    w->backoff * 2;
	log_warn("%s: %s: %s; retrying in %u s", w->a->name, what,
	    cause != NULL ? cause : "failed", w->backoff);
	free(cause);
	if (w->open)
		imap_close(&w->c);
	w->open = false;
	w->due = time(NULL) + w->backoff + random() % (w->backoff / 4 + 1);
}

static void
watch_sync_idle(struct runner *r, struct watch *w)
{
	char	*cause = NULL;
	size_t	 i;

	if (w->open && imap_idle_done(&w->c, &cause) != IMAP_OK)
		return watch_fail(w, "ending IDLE", cause);
	if (!w->open) {
		if (source_imap_connect(w->a, &w->c, &cause) != IMAP_OK)
			return watch_fail(w, "connecting", cause);
		w->open = true;
		w->c.timeout_ms = WATCH_READ_TIMEOUT_MS;
		if (!imap_has_cap(&w->c, "IDLE"))
			log_warn("%s: the server has no IDLE; polling",
			    w->a->name);
	}
	for (i = 0; i < w->a->nmailboxes && !*r->stop; i++)
		if (source_imap_sync_mailbox(r, w->a, &w->c,
		    w->a->mailboxes[i], &cause) != IMAP_OK)
			return watch_fail(w, "syncing", cause);
	if (w->a->nmailboxes > 1 && imap_select(&w->c, w->a->mailboxes[0],
	    &cause) != IMAP_OK)
		return watch_fail(w, "selecting", cause);
	w->backoff = 0;
	runner_account_synced(r, w->a);
	if (!imap_has_cap(&w->c, "IDLE")) {
		w->due = time(NULL) + w->a->poll_seconds;
		return;
	}
	if (imap_idle_start(&w->c, &cause) != IMAP_OK)
		return watch_fail(w, "starting IDLE", cause);
	/*
	 * Mail that arrived after the search, announced before IDLE began
	 * (during the fetch, or before the server's "+"), is not announced
	 * again: sync once more now.
	 */
	if (w->c.exists_changed) {
		log_debug("%s: new mail while syncing", w->a->name);
		w->due = time(NULL);
		return;
	}
	/* Other mailboxes than the first are polled at the interval. */
	w->due = time(NULL) + (w->a->nmailboxes > 1 &&
	    w->a->poll_seconds < WATCH_REFRESH ? w->a->poll_seconds :
	    WATCH_REFRESH);
}

static void
watch_sync(struct runner *r, struct watch *w)
{
	char	*cause = NULL;

	if (watch_idles(w))
		watch_sync_idle(r, w);
	else if (runner_sync_account(r, w->a, &cause) != 0)
		watch_fail(w, "syncing", cause);
	else {
		w->backoff = 0;
		w->due = time(NULL) + w->a->poll_seconds;
	}
	/* Ended, or failed: what it allocated is free now. */
	watch_synced = true;
}

/* New mail pushed, or the server ended IDLE: sync now. */
static void
watch_readable(struct runner *r, struct watch *w)
{
	char	*cause = NULL;

	w->c.exists_changed = false;
	if (imap_idle_read(&w->c, &cause) != IMAP_OK)
		return watch_fail(w, "in IDLE", cause);
	if (w->c.exists_changed || !w->c.idling) {
		log_debug("%s: new mail pushed", w->a->name);
		watch_sync(r, w);
	}
}

/* Sleep until due: in IDLE, until the server says something. */
static void
watch_wait(struct watch *w)
{
	struct pollfd	 pfd;
	time_t		 now = time(NULL);
	int		 ms;

	ms = w->due <= now ? 0 : (int)(w->due - now) * 1000;
	runner_commit(&w->r);	/* no journal transaction across a sleep */
	if (ms > 0)
		coro_trim();
	if (!w->open || !w->c.idling) {
		coro_wait(NULL, 0, ms, true);
		return;
	}
	/* A line already read (with the IDLE continuation) comes first. */
	if (w->c.in.len > w->c.in_off && memchr(w->c.in.data + w->c.in_off,
	    '\n', w->c.in.len - w->c.in_off) != NULL) {
		watch_readable(&w->r, w);
		return;
	}
	/*
	 * Nothing unread: the input buffer goes, as after the login. It
	 * keeps the size of the largest response read (up to 256 KiB after
	 * a large message), and an account may wait in IDLE for hours.
	 */
	if (w->c.in_off == w->c.in.len) {
		buf_free(&w->c.in);
		w->c.in_off = 0;
	}
	pfd.fd = w->c.fd;
	pfd.events = POLLIN;
	if (coro_wait(&pfd, 1, ms, true) > 0)
		watch_readable(&w->r, w);
}

static void
watch_close(struct watch *w)
{
	char	*cause = NULL;

	if (!w->open)
		return;
	if (imap_idle_done(&w->c, &cause) != IMAP_OK) {
		log_debug("%s: %s", w->a->name, cause);
		free(cause);
	}
	imap_close(&w->c);
	w->open = false;
}

static bool
watch_stopping(const struct runner *r)
{
	return *r->stop || (r->reload != NULL && *r->reload);
}

/* One account's life, in its coroutine. */
static void
watch_main(void *arg)
{
	struct watch	*w = arg;

	while (!watch_stopping(&w->r)) {
		if (w->due <= time(NULL))
			watch_sync(&w->r, w);
		else
			watch_wait(w);
	}
	watch_close(w);
}

/* A quarter of liveness.warn_after, from 1 s to a minute. */
static time_t
watch_liveness_every(const struct conf *conf)
{
	unsigned long	 every = conf->liveness_warn_after / 4;

	if (every < 1)
		every = 1;
	return every > WATCH_LIVENESS_CHECK ? WATCH_LIVENESS_CHECK :
	    (time_t)every;
}

/*
 * A login and a sync free what they allocated (TLS handshake, responses,
 * messages), but among what stays (the connection, its TLS state), so the
 * heap is left with free pages between live blocks that glibc returns only
 * from its top: about 10 KiB per account with 1,000 accounts in IDLE. Give
 * them back once syncs have ended, at most every few seconds.
 */
static void
watch_trim(void)
{
	static time_t	 next;
	time_t		 now;

	if (!watch_synced || (now = time(NULL)) < next)
		return;
	watch_synced = false;
	next = now + WATCH_TRIM_EVERY;
	(void)malloc_trim(0);
}

int
watch_loop(struct runner *r)
{
	struct conf	*conf = r->conf;
	struct watch	*v;
	struct coro	**co;
	size_t		 i, live, n = conf->naccounts;
	time_t		 check = 0;

	v = xcalloc(n, sizeof *v);
	co = xcalloc(n, sizeof *co);
	for (i = 0; i < n; i++) {
		v[i].a = &conf->accounts[i];
		v[i].r = *r;
		co[i] = coro_new(watch_main, &v[i]);
	}
	for (;;) {
		for (i = live = 0; i < n; i++)
			if (!coro_done(co[i]))
				live++;
		if (live == 0)
			break;
		if (watch_stopping(r))
			for (i = 0; i < n; i++)
				coro_interrupt(co[i]);
		/* The accounts that never pass say nothing themselves. */
		if (time(NULL) >= check) {
			runner_liveness(r);
			check = time(NULL) + watch_liveness_every(conf);
		}
		/* A signal interrupts the poll (EINTR): checked above. */
		coro_poll(co, n, WATCH_STOP_CHECK_MS);
		watch_trim();
	}
	for (i = 0; i < n; i++)
		coro_free(co[i]);
	free(co);
	free(v);
	return 0;
}
