/*
 * The daemon's loop: every account in one thread. Accounts with
 * `watch: idle` on IMAP keep a connection open in IDLE on their first
 * mailbox; all those sockets wait in one poll(), so one slow or dead server
 * does not hold up the others beyond its own timeouts. The rest are polled
 * at their interval.
 *
 * Nothing is trusted to arrive by push alone: after every wake-up, every
 * reconnect and every refresh, the whole account is synced from the last
 * UID saved. The refresh (DONE, sync, IDLE again) runs every few minutes,
 * well inside the 29 minutes RFC 2177 allows, and doubles as the check for
 * a dead or half-open connection: its replies have a read timeout.
 * Failures reconnect with exponential backoff.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
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

struct watch {
	struct conf_account	*a;
	struct imap_conn	 c;
	bool			 open;
	time_t			 due;		/* next sync */
	unsigned		 backoff;
};

static bool	 watch_idles(const struct watch *);
static void	 watch_fail(struct watch *, const char *, char *);
static void	 watch_sync(struct runner *, struct watch *);
static void	 watch_sync_idle(struct runner *, struct watch *);
static void	 watch_readable(struct runner *, struct watch *);
static int	 watch_timeout(struct watch *, size_t);

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
		return watch_sync_idle(r, w);
	if (runner_sync_account(r, w->a, &cause) != 0)
		return watch_fail(w, "syncing", cause);
	w->backoff = 0;
	w->due = time(NULL) + w->a->poll_seconds;
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

/* Milliseconds until the first account is due (0 if one is). */
static int
watch_timeout(struct watch *v, size_t n)
{
	time_t	 now = time(NULL), first = now + WATCH_REFRESH;
	size_t	 i;

	for (i = 0; i < n; i++)
		if (v[i].due < first)
			first = v[i].due;
	return first <= now ? 0 : (int)(first - now) * 1000;
}

int
watch_loop(struct runner *r)
{
	struct conf	*conf = r->conf;
	struct watch	*v;
	struct pollfd	*pfd;
	size_t		*which, i, np;
	char		*cause = NULL;
	int		 n;

	v = xcalloc(conf->naccounts, sizeof *v);
	pfd = xcalloc(conf->naccounts, sizeof *pfd);
	which = xcalloc(conf->naccounts, sizeof *which);
	for (i = 0; i < conf->naccounts; i++)
		v[i].a = &conf->accounts[i];
	while (!*r->stop && (r->reload == NULL || !*r->reload)) {
		for (i = 0; i < conf->naccounts && !*r->stop; i++)
			if (v[i].due <= time(NULL))
				watch_sync(r, &v[i]);
		for (i = np = 0; i < conf->naccounts; i++) {
			if (!v[i].open || !v[i].c.idling)
				continue;
			pfd[np].fd = v[i].c.fd;
			pfd[np].events = POLLIN;
			which[np++] = i;
		}
		n = poll(pfd, np, watch_timeout(v, conf->naccounts));
		if (n < 0 && errno != EINTR)
			fatal("poll: %s", strerror(errno));
		for (i = 0; n > 0 && i < np && !*r->stop; i++)
			if (pfd[i].revents != 0)
				watch_readable(r, &v[which[i]]);
	}
	for (i = 0; i < conf->naccounts; i++) {
		if (v[i].open && imap_idle_done(&v[i].c, &cause) != IMAP_OK) {
			log_debug("%s: %s", v[i].a->name, cause);
			free(cause);
			cause = NULL;
		}
		if (v[i].open)
			imap_close(&v[i].c);
	}
	free(v);
	free(pfd);
	free(which);
	return 0;
}
