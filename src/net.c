/*
 * libcurl transfers that wait without blocking the other accounts.
 *
 * Inside a coroutine a transfer runs on a multi handle of its own, driven
 * with curl_multi_socket_action: the socket callback keeps the list of
 * sockets libcurl wants watched, the timer callback its deadline, and the
 * coroutine waits on both with coro_wait (the scheduler polls them with
 * everything else). One multi per handle rather than one for all: a
 * CONNECT_ONLY connection stays in its multi's connection cache while we
 * use its socket, and a shared cache would let any other transfer prune it
 * (libcurl 7.88 closes idle cached connections older than MAXAGE_CONN, or
 * with input pending, such as an IDLE push) or evict it over
 * MAXCONNECTS. This is also what curl_easy_perform does inside.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "conf.h"
#include "coro.h"
#include "log.h"
#include "net.h"
#include "xmalloc.h"

#define NET_MAX_SOCKETS		8
#define NET_MAX_WAIT_MS		1000	/* rechecks libcurl's timer */
#define NET_STOP_GRACE_MS	2000

/* A multi handle and the one easy handle it carries. */
struct net_multi {
	CURLM			*multi;
	CURL			*easy;
	bool			 added;
	struct pollfd		 fds[NET_MAX_SOCKETS];
	nfds_t			 nfds;
	bool			 overflow;
	int64_t			 timer;		/* ms, monotonic; -1 none */
	struct net_multi	*next;
};

static struct net_multi	*net_kept;	/* multis of kept handles */

static int64_t		 net_now(void);
static int		 net_socket_cb(CURL *, curl_socket_t, int, void *,
			     void *);
static int		 net_timer_cb(CURLM *, long, void *);
static struct net_multi	*net_multi_new(CURL *);
static void		 net_multi_free(struct net_multi *);
static CURLcode		 net_run(struct net_multi *);
static CURLcode		 net_ssl_ctx(CURL *, void *, void *);
static bool		 net_tls_is_openssl(void);

void
net_setup_account(CURL *c, const struct conf_account *a)
{
	curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (a->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_file);
	if (!a->tls_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (net_tls_is_openssl())
		curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, net_ssl_ctx);
}

/* The callback gets the TLS library's own context: only OpenSSL's here. */
static bool
net_tls_is_openssl(void)
{
	const curl_version_info_data	*v = curl_version_info(CURLVERSION_NOW);

	return v->ssl_version != NULL &&
	    strncmp(v->ssl_version, "OpenSSL/", 8) == 0;
}

/*
 * OpenSSL keeps a read and a write buffer (about 34 KiB) per connection
 * even while it is idle; an account in IDLE waits for hours. Let it free
 * them between records.
 */
static CURLcode
net_ssl_ctx(CURL *c, void *ctx, void *arg)
{
	(void)c;
	(void)arg;
	SSL_CTX_set_mode((SSL_CTX *)ctx, SSL_MODE_RELEASE_BUFFERS);
	return CURLE_OK;
}

static int64_t
net_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
net_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct net_multi	*m = arg;
	nfds_t			 i;

	(void)easy;
	(void)sockp;
	for (i = 0; i < m->nfds && m->fds[i].fd != s; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < m->nfds)
			m->fds[i] = m->fds[--m->nfds];
		return 0;
	}
	if (i == m->nfds) {
		if (m->nfds == NET_MAX_SOCKETS) {
			m->overflow = true;
			return 0;
		}
		m->fds[m->nfds++].fd = s;
	}
	m->fds[i].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
	    (what & CURL_POLL_OUT ? POLLOUT : 0));
	return 0;
}

static int
net_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct net_multi	*m = arg;

	(void)multi;
	m->timer = ms < 0 ? -1 : net_now() + ms;
	return 0;
}

static struct net_multi *
net_multi_new(CURL *easy)
{
	struct net_multi	*m;

	m = xcalloc(1, sizeof *m);
	if ((m->multi = curl_multi_init()) == NULL)
		fatal("curl_multi_init");
	m->easy = easy;
	m->timer = -1;
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, net_socket_cb);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, net_timer_cb);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	return m;
}

/* Removing a CONNECT_ONLY handle closes its connection; then the rest. */
static void
net_multi_free(struct net_multi *m)
{
	if (m->added)
		curl_multi_remove_handle(m->multi, m->easy);
	curl_multi_cleanup(m->multi);
	free(m);
}

/* Drive the multi until its transfer is done; the coroutine waits. */
static CURLcode
net_run(struct net_multi *m)
{
	struct pollfd	 fds[NET_MAX_SOCKETS];
	CURLMsg		*msg;
	CURLcode	 result;
	nfds_t		 i, n;
	int64_t		 now, stop_at = -1;
	int		 running, left, wait, ev;

	if (m->added)
		curl_multi_remove_handle(m->multi, m->easy);
	m->added = false;
	if (curl_multi_add_handle(m->multi, m->easy) != CURLM_OK)
		return CURLE_FAILED_INIT;
	m->added = true;
	curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	for (;;) {
		while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
			if (msg->msg == CURLMSG_DONE && msg->easy_handle ==
			    m->easy) {
				result = msg->data.result;
				return result;
			}
		}
		if (m->overflow)
			return CURLE_OUT_OF_MEMORY;
		now = net_now();
		if (m->timer >= 0 && m->timer <= now) {
			m->timer = -1;
			curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT,
			    0, &running);
			continue;
		}
		wait = m->timer < 0 || m->timer - now > NET_MAX_WAIT_MS ?
		    NET_MAX_WAIT_MS : (int)(m->timer - now);
		n = m->nfds;
		memcpy(fds, m->fds, n * sizeof *fds);
		/* Shutting down: a transfer gets a grace, not its timeouts. */
		if (coro_stopping()) {
			if (stop_at < 0)
				stop_at = now;
			else if (now - stop_at >= NET_STOP_GRACE_MS)
				return CURLE_OPERATION_TIMEDOUT;
		}
		if (coro_wait(fds, n, wait, false) <= 0) {
			if (m->timer < 0 || m->nfds == 0)
				curl_multi_socket_action(m->multi,
				    CURL_SOCKET_TIMEOUT, 0, &running);
			continue;
		}
		for (i = 0; i < n; i++) {
			if (fds[i].revents == 0)
				continue;
			ev = (fds[i].revents & POLLIN ? CURL_CSELECT_IN : 0) |
			    (fds[i].revents & POLLOUT ? CURL_CSELECT_OUT : 0) |
			    (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL) ?
			    CURL_CSELECT_ERR : 0);
			curl_multi_socket_action(m->multi, fds[i].fd, ev,
			    &running);
		}
	}
}

CURLcode
net_perform(CURL *easy)
{
	struct net_multi	*m;
	CURLcode		 rc;

	if (coro_self() == NULL)
		return curl_easy_perform(easy);
	m = net_multi_new(easy);
	rc = net_run(m);
	net_multi_free(m);
	return rc;
}

CURLcode
net_perform_keep(CURL *easy)
{
	struct net_multi	*m;

	if (coro_self() == NULL)
		return curl_easy_perform(easy);
	for (m = net_kept; m != NULL && m->easy != easy; m = m->next)
		;
	if (m == NULL) {
		m = net_multi_new(easy);
		m->next = net_kept;
		net_kept = m;
	}
	return net_run(m);
}

void
net_release(CURL *easy)
{
	struct net_multi	**pp, *m;

	for (pp = &net_kept; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->easy != easy)
			continue;
		m = *pp;
		*pp = m->next;
		net_multi_free(m);
		return;
	}
}
