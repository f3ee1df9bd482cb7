/*
 * libcurl transfers that wait without blocking the other accounts.
 *
 * Inside a coroutine a transfer runs on a multi handle driven with
 * curl_multi_socket_action: the socket callback keeps, per transfer, the
 * sockets libcurl wants watched, the timer callback the multi's deadline,
 * and the coroutine waits on both with coro_wait (the scheduler polls them
 * with everything else). Whichever coroutine drives the multi may move
 * another's transfer on or finish it: that one is woken (coro_wake) to
 * take its new sockets or its result.
 *
 * IMAP logins (CONNECT_ONLY) share one multi handle: a multi costs about
 * 36 KiB (its socket hash alone is 911 slots), which an account in IDLE
 * would keep for hours. The logged-in connection stays in that multi's
 * connection cache, where libcurl 7.88 closes idle connections that look
 * dead (older than MAXAGE_CONN, or closed by the server) whenever another
 * transfer starts, and idle ones over MAXCONNECTS; but the first
 * curl_easy_send or curl_easy_recv attaches it to its handle, and a
 * connection in use is never pruned, nor is a CONNECT_ONLY one evicted.
 * imap_connect sends its CAPABILITY at once after the login. Every other
 * transfer (POP3 sessions, SMTP, webhooks) runs on a multi of its own, as
 * curl_easy_perform does inside: a POP3 connection between its transfers
 * is idle in its cache, and nothing else should prune or reuse it.
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
#define NET_READ_BUFFER		(64 * 1024)	/* TLS records read at once */

struct net_xfer;

/* A multi handle and the transfers on it. */
struct net_multi {
	CURLM			*multi;
	int64_t			 timer;		/* ms, monotonic; -1 none */
	struct net_xfer		*xfers;
	struct net_multi	*next;		/* kept ones */
};

/* An easy handle on a multi, and what its coroutine waits on. */
struct net_xfer {
	struct net_multi	*m;
	CURL			*easy;
	struct coro		*co;		/* driving it, or NULL */
	bool			 added;
	bool			 done;
	CURLcode		 result;
	struct pollfd		 fds[NET_MAX_SOCKETS];
	nfds_t			 nfds;
	bool			 overflow;
	struct net_xfer		*next;
};

static struct net_multi	*net_kept;	/* a multi per kept handle */
static struct net_multi	*net_shared;	/* the logins' */

static int64_t		 net_now(void);
static int		 net_socket_cb(CURL *, curl_socket_t, int, void *,
			     void *);
static int		 net_timer_cb(CURLM *, long, void *);
static struct net_multi	*net_multi_new(void);
static void		 net_multi_free(struct net_multi *);
static struct net_xfer	*net_xfer_add(struct net_multi *, CURL *);
static struct net_xfer	*net_xfer_find(struct net_multi *, CURL *);
static void		 net_xfer_free(struct net_xfer *);
static void		 net_action(struct net_multi *, curl_socket_t, int);
static CURLcode		 net_run(struct net_xfer *);
static CURLcode		 net_ssl_ctx(CURL *, void *, void *);
static bool		 net_tls_is_openssl(void);

void
net_setup_account(CURL *c, const struct conf_account *a)
{
	curl_easy_setopt(c, CURLOPT_USE_SSL, (long)(a->tls_mode == TLS_NONE ?
	    CURLUSESSL_NONE : CURLUSESSL_ALL));
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
	struct net_xfer	*x;
	nfds_t		 i;

	(void)sockp;
	/* Not ours: the multi's own handle closing a connection. */
	if ((x = net_xfer_find(arg, easy)) == NULL)
		return 0;
	for (i = 0; i < x->nfds && x->fds[i].fd != s; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < x->nfds)
			x->fds[i] = x->fds[--x->nfds];
	} else {
		if (i == x->nfds) {
			if (x->nfds == NET_MAX_SOCKETS) {
				x->overflow = true;
				return 0;
			}
			x->fds[x->nfds++].fd = s;
		}
		x->fds[i].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
		    (what & CURL_POLL_OUT ? POLLOUT : 0));
	}
	/* Its coroutine waits on the old set: let it look again. */
	if (x->co != NULL && x->co != coro_self())
		coro_wake(x->co);
	return 0;
}

/*
 * The multi's one deadline. When it comes sooner, a coroutine driving the
 * multi that waits with the old one is woken to wait again (one is enough:
 * a timeout action serves every transfer); the running one sees it itself.
 */
static int
net_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct net_multi	*m = arg;
	struct net_xfer		*x;
	int64_t			 old = m->timer;

	(void)multi;
	m->timer = ms < 0 ? -1 : net_now() + ms;
	if (m->timer < 0 || (old >= 0 && old <= m->timer))
		return 0;
	for (x = m->xfers; x != NULL; x = x->next)
		if (x->co == coro_self())
			return 0;
	for (x = m->xfers; x != NULL; x = x->next) {
		if (x->co != NULL) {
			coro_wake(x->co);
			break;
		}
	}
	return 0;
}

static struct net_multi *
net_multi_new(void)
{
	struct net_multi	*m;

	m = xcalloc(1, sizeof *m);
	if ((m->multi = curl_multi_init()) == NULL)
		fatal("curl_multi_init");
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
	while (m->xfers != NULL)
		net_xfer_free(m->xfers);
	curl_multi_cleanup(m->multi);
	free(m);
}

static struct net_xfer *
net_xfer_add(struct net_multi *m, CURL *easy)
{
	struct net_xfer	*x;

	x = xcalloc(1, sizeof *x);
	x->m = m;
	x->easy = easy;
	x->next = m->xfers;
	m->xfers = x;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	return x;
}

/* The handle's transfer on m (CURLOPT_PRIVATE), NULL if not there. */
static struct net_xfer *
net_xfer_find(struct net_multi *m, CURL *easy)
{
	struct net_xfer	*x;
	char		*p = NULL;

	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK ||
	    p == NULL)
		return NULL;
	x = (struct net_xfer *)(void *)p;
	return x->m == m && x->easy == easy ? x : NULL;
}

/* Take the handle off its multi (which closes a CONNECT_ONLY connection). */
static void
net_xfer_free(struct net_xfer *x)
{
	struct net_xfer	**pp;

	for (pp = &x->m->xfers; *pp != x; pp = &(*pp)->next)
		;
	if (x->added)
		curl_multi_remove_handle(x->m->multi, x->easy);
	*pp = x->next;
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, NULL);
	free(x);
}

/*
 * Let libcurl act on a socket (or its timer), then hand every finished
 * transfer its result and wake the coroutine waiting for it.
 */
static void
net_action(struct net_multi *m, curl_socket_t s, int ev)
{
	struct net_xfer	*x;
	CURLMsg		*msg;
	int		 running, left;

	curl_multi_socket_action(m->multi, s, ev, &running);
	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE ||
		    (x = net_xfer_find(m, msg->easy_handle)) == NULL)
			continue;
		x->done = true;
		x->result = msg->data.result;
		if (x->co != NULL && x->co != coro_self())
			coro_wake(x->co);
	}
}

/* Drive the multi until this transfer is done; the coroutine waits. */
static CURLcode
net_run(struct net_xfer *x)
{
	struct net_multi	*m = x->m;
	struct pollfd		 fds[NET_MAX_SOCKETS];
	nfds_t			 i, n;
	int64_t			 now, stop_at = -1;
	int			 wait, ev;
	CURLcode		 rc;

	if (x->added)
		curl_multi_remove_handle(m->multi, x->easy);
	x->added = x->done = x->overflow = false;
	x->nfds = 0;
	if (curl_multi_add_handle(m->multi, x->easy) != CURLM_OK)
		return CURLE_FAILED_INIT;
	x->added = true;
	x->co = coro_self();
	net_action(m, CURL_SOCKET_TIMEOUT, 0);
	for (;;) {
		if (x->done || x->overflow)
			break;
		now = net_now();
		if (m->timer >= 0 && m->timer <= now) {
			m->timer = -1;
			net_action(m, CURL_SOCKET_TIMEOUT, 0);
			continue;
		}
		wait = m->timer < 0 || m->timer - now > NET_MAX_WAIT_MS ?
		    NET_MAX_WAIT_MS : (int)(m->timer - now);
		n = x->nfds;
		memcpy(fds, x->fds, n * sizeof *fds);
		/* Shutting down: a transfer gets a grace, not its timeouts. */
		if (coro_stopping()) {
			if (stop_at < 0)
				stop_at = now;
			else if (now - stop_at >= NET_STOP_GRACE_MS) {
				x->co = NULL;
				return CURLE_OPERATION_TIMEDOUT;
			}
		}
		if (coro_wait(fds, n, wait, false) <= 0) {
			/* Woken for new sockets or a result: look again. */
			if (!x->done && (m->timer < 0 || x->nfds == 0))
				net_action(m, CURL_SOCKET_TIMEOUT, 0);
			continue;
		}
		for (i = 0; i < n; i++) {
			if (fds[i].revents == 0)
				continue;
			ev = (fds[i].revents & POLLIN ? CURL_CSELECT_IN : 0) |
			    (fds[i].revents & POLLOUT ? CURL_CSELECT_OUT : 0) |
			    (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL) ?
			    CURL_CSELECT_ERR : 0);
			net_action(m, fds[i].fd, ev);
		}
	}
	x->co = NULL;
	rc = x->done ? x->result : CURLE_OUT_OF_MEMORY;
	return rc;
}

CURLcode
net_perform(CURL *easy)
{
	struct net_multi	*m;
	CURLcode		 rc;

	if (coro_self() == NULL)
		return curl_easy_perform(easy);
	m = net_multi_new();
	rc = net_run(net_xfer_add(m, easy));
	net_multi_free(m);
	return rc;
}

CURLcode
net_perform_keep(CURL *easy)
{
	struct net_multi	*m;

	if (coro_self() == NULL)
		return curl_easy_perform(easy);
	for (m = net_kept; m != NULL && m->xfers->easy != easy; m = m->next)
		;
	if (m == NULL) {
		m = net_multi_new();
		net_xfer_add(m, easy);
		m->next = net_kept;
		net_kept = m;
	}
	return net_run(m->xfers);
}

CURLcode
net_login(CURL *easy)
{
	struct net_xfer	*x;

	if (coro_self() == NULL)
		return curl_easy_perform(easy);
	if (net_shared == NULL)
		net_shared = net_multi_new();
	if ((x = net_xfer_find(net_shared, easy)) == NULL)
		x = net_xfer_add(net_shared, easy);
	return net_run(x);
}

void
net_release(CURL *easy)
{
	struct net_multi	**pp, *m;
	struct net_xfer		*x;

	if (net_shared != NULL &&
	    (x = net_xfer_find(net_shared, easy)) != NULL) {
		net_xfer_free(x);
		if (net_shared->xfers == NULL) {
			net_multi_free(net_shared);
			net_shared = NULL;
		}
		return;
	}
	for (pp = &net_kept; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->xfers->easy != easy)
			continue;
		m = *pp;
		*pp = m->next;
		net_multi_free(m);
		return;
	}
}

/*
 * A read buffer between OpenSSL and libcurl's socket BIO, for connections
 * that speak for themselves after the login (net_raw_begin). OpenSSL reads
 * a record in two calls (its 5-byte header, then its body), and Dovecot
 * sends records of about 3.4 KB: two receive calls per 3.4 KB. Through
 * this buffer one receive call takes what the socket holds, up to
 * NET_READ_BUFFER. Not OpenSSL's own read-ahead: it moves what is left in
 * its buffer to the front before each record (ssl3_read_n aligns the
 * payload), which cost more instructions than the receive calls it saved.
 * The buffer is allocated only while it holds bytes: a connection waiting
 * in IDLE keeps none.
 */
struct net_rbuf {
	char		*buf;		/* NET_READ_BUFFER bytes, or NULL */
	size_t		 off;
	size_t		 len;
};

static BIO_METHOD	*net_rbuf_meth;
static int		 net_rbuf_type;

static int
net_rbuf_create(BIO *b)
{
	BIO_set_data(b, xcalloc(1, sizeof (struct net_rbuf)));
	BIO_set_init(b, 1);
	return 1;
}

static int
net_rbuf_destroy(BIO *b)
{
	struct net_rbuf	*r = BIO_get_data(b);

	if (r != NULL) {
		free(r->buf);
		free(r);
	}
	BIO_set_data(b, NULL);
	return 1;
}

static int
net_rbuf_read(BIO *b, char *out, int outl)
{
	struct net_rbuf	*r = BIO_get_data(b);
	BIO		*next = BIO_next(b);
	size_t		 n;
	int		 got;

	BIO_clear_retry_flags(b);
	if (out == NULL || outl <= 0 || next == NULL)
		return 0;
	if (r->off == r->len) {
		if (r->buf == NULL)
			r->buf = xmalloc(NET_READ_BUFFER);
		if ((got = BIO_read(next, r->buf, NET_READ_BUFFER)) <= 0) {
			BIO_copy_next_retry(b);
			free(r->buf);
			r->buf = NULL;
			r->off = r->len = 0;
			return got;
		}
		r->off = 0;
		r->len = (size_t)got;
	}
	n = r->len - r->off < (size_t)outl ? r->len - r->off : (size_t)outl;
	memcpy(out, r->buf + r->off, n);
	r->off += n;
	if (r->off == r->len) {
		free(r->buf);
		r->buf = NULL;
		r->off = r->len = 0;
	}
	return (int)n;
}

/* What is buffered counts as pending and not at its end; the rest is the
 * socket BIO's business. */
static long
net_rbuf_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct net_rbuf	*r = BIO_get_data(b);
	BIO		*next = BIO_next(b);
	long		 held = r != NULL ? (long)(r->len - r->off) : 0;

	if (cmd == BIO_CTRL_PENDING)
		return held + (next != NULL ? BIO_ctrl(next, cmd, num, ptr) : 0);
	if (cmd == BIO_CTRL_EOF && held > 0)
		return 0;
	return next != NULL ? BIO_ctrl(next, cmd, num, ptr) : 0;
}

static BIO_METHOD *
net_rbuf_method(void)
{
	if (net_rbuf_meth != NULL)
		return net_rbuf_meth;
	net_rbuf_type = BIO_get_new_index() | BIO_TYPE_FILTER;
	net_rbuf_meth = BIO_meth_new(net_rbuf_type, "facteur read buffer");
	if (net_rbuf_meth == NULL ||
	    !BIO_meth_set_create(net_rbuf_meth, net_rbuf_create) ||
	    !BIO_meth_set_destroy(net_rbuf_meth, net_rbuf_destroy) ||
	    !BIO_meth_set_read(net_rbuf_meth, net_rbuf_read) ||
	    !BIO_meth_set_ctrl(net_rbuf_meth, net_rbuf_ctrl))
		fatal("BIO_meth_new");
	return net_rbuf_meth;
}

/*
 * Put the read buffer in front of the connection's receiving BIO. Not
 * during libcurl's own exchanges: libcurl 7.88 polls the socket and asks
 * OpenSSL only SSL_pending(), which does not count what the buffer holds,
 * so its login would stall. CURLINFO_TLS_SSL_PTR names the SSL object only
 * while the connection is attached to the handle: after the first
 * curl_easy_send or curl_easy_recv (easy.c attaches it there). The SSL
 * object owns the chain and frees it with itself: the socket BIO gets a
 * reference for the chain, SSL_set0_rbio drops the one it held as rbio.
 */
void
net_raw_begin(CURL *curl)
{
	struct curl_tlssessioninfo	*info = NULL;
	SSL				*ssl;
	BIO_METHOD			*meth;
	BIO				*rbio, *b;

	if (curl_easy_getinfo(curl, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK ||
	    info == NULL || info->backend != CURLSSLBACKEND_OPENSSL ||
	    info->internals == NULL)
		return;
	ssl = info->internals;
	meth = net_rbuf_method();
	/* Once per connection. */
	if ((rbio = SSL_get_rbio(ssl)) == NULL ||
	    BIO_method_type(rbio) == net_rbuf_type)
		return;
	if ((b = BIO_new(meth)) == NULL)
		fatal("BIO_new");
	if (!BIO_up_ref(rbio))
		fatal("BIO_up_ref");
	BIO_push(b, rbio);
	SSL_set0_rbio(ssl, b);
}

int
net_raw_recv(CURL *curl, const char *label, char *p, size_t cap,
    size_t *got, char **cause)
{
	CURLcode	 rc;

	if (curl == NULL) {
		*cause = xasprintf("%s: connection closed", label);
		return -1;
	}
	rc = curl_easy_recv(curl, p, cap, got);
	if (rc == CURLE_AGAIN)
		return 0;
	if (rc == CURLE_OK && *got == 0) {
		*cause = xasprintf("%s: server closed the connection", label);
		return -1;
	}
	if (rc != CURLE_OK) {
		*cause = xasprintf("%s: receive: %s", label,
		    curl_easy_strerror(rc));
		return -1;
	}
	return 1;
}

int
net_raw_send(CURL *curl, const char *label, const char *p, size_t len,
    size_t *sent, char **cause)
{
	CURLcode	 rc;

	if (curl == NULL) {
		*cause = xasprintf("%s: connection closed", label);
		return -1;
	}
	rc = curl_easy_send(curl, p, len, sent);
	if (rc == CURLE_AGAIN)
		return 0;
	if (rc != CURLE_OK) {
		*cause = xasprintf("%s: send: %s", label,
		    curl_easy_strerror(rc));
		return -1;
	}
	return 1;
}

int
net_raw_wait(curl_socket_t fd, short events, int timeout_ms,
    const char *label, char **cause)
{
	struct pollfd	 pfd;
	int		 n;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		n = coro_wait(&pfd, 1, timeout_ms, false);
		if (n > 0)
			return 0;
		if (n == 0 && coro_stopping()) {
			*cause = xasprintf("%s: no answer from the server; "
			    "shutting down", label);
			return -1;
		}
		if (n == 0) {
			*cause = xasprintf("%s: no answer from the server "
			    "in %d s", label, timeout_ms / 1000);
			return -1;
		}
		if (errno != EINTR) {
			*cause = xasprintf("%s: poll: %s", label,
			    strerror(errno));
			return -1;
		}
	}
}
