/*
 * The POP3 reader. libcurl logs in (CONNECT_ONLY) and hands us the socket;
 * from there every byte goes through curl_easy_send/curl_easy_recv.
 *
 * Replies are read in the order the commands went out: a status line
 * (+OK or -ERR), and after the +OK of a multi-line command its body up to
 * the line ".". The body is dot-unstuffed as RFC 1939 3 says: a line that
 * starts with "." loses that first octet; the line "." alone ends it. A
 * line is found by its LF, so runs of lines that do not start with "."
 * are copied in one piece, and a line need not be whole in the buffer
 * unless it starts with ".". Caps: a status line POP3_MAX_LINE, a body
 * the cap of the buffer it goes into.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>

#include "conf.h"
#include "coro.h"
#include "log.h"
#include "net.h"
#include "pop3.h"

#define POP3_MAX_LINE		(64 * 1024)
#define POP3_MAX_IN		((size_t)16 << 20)
#define POP3_IN_KEEP		(256 * 1024)
#define POP3_READ_CHUNK		65536
#define POP3_MAX_OUT		(64 * 1024)	/* queued commands */

static int	 pop3_transport_recv(struct pop3_conn *, char *, size_t,
		     size_t *, char **);
static int	 pop3_fill(struct pop3_conn *, char **);
static int	 pop3_wait(struct pop3_conn *, short, char **);
static void	 pop3_compact(struct pop3_conn *);
static int	 pop3_write(struct pop3_conn *, const char *, size_t,
		     char **);
static int	 pop3_flush(struct pop3_conn *, char **);
static int	 pop3_line(struct pop3_conn *, char **, size_t *, char **);
static int	 pop3_capa(struct pop3_conn *, char **);
static void	 pop3_conn_setup(struct pop3_conn *, const char *);

static void
pop3_conn_setup(struct pop3_conn *c, const char *label)
{
	memset(c, 0, sizeof *c);
	c->fd = CURL_SOCKET_BAD;
	c->label = xstrdup(label);
	buf_init(&c->in, POP3_MAX_IN);
	buf_init(&c->out, 4 * POP3_MAX_OUT);
	c->timeout_ms = 60000;
	c->recv = pop3_transport_recv;
}

void
pop3_conn_init_buffer(struct pop3_conn *c, const char *p, size_t len)
{
	pop3_conn_setup(c, "test");
	c->timeout_ms = 1000;
	buf_add(&c->in, p, len);
}

void
pop3_conn_free(struct pop3_conn *c)
{
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->label);
	c->label = NULL;
}

static int
pop3_url_port(const struct conf_account *a)
{
	if (a->port != 0)
		return a->port;
	return a->tls ? 995 : 110;
}

int
pop3_connect(struct pop3_conn *c, const struct conf_account *a,
    const char *password, char **cause)
{
	char		 errbuf[CURL_ERROR_SIZE];
	char		*url, *opts;
	curl_socket_t	 fd;
	CURLcode	 rc;

	pop3_conn_setup(c, a->name);
	if ((c->curl = curl_easy_init()) == NULL)
		fatal("curl_easy_init");
	url = xasprintf("%s://%s:%d/", a->tls ? "pop3s" : "pop3", a->host,
	    pop3_url_port(a));
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_USERNAME, a->user);
	curl_easy_setopt(c->curl, CURLOPT_PASSWORD, password);
	/* libcurl picks the strongest mechanism and never falls back: pin. */
	opts = xasprintf("AUTH=%s", a->auth != NULL ? a->auth : "PLAIN");
	curl_easy_setopt(c->curl, CURLOPT_LOGIN_OPTIONS, opts);
	free(opts);
	net_setup_account(c->curl, a);
	errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	rc = net_perform_keep(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	if (rc != CURLE_OK) {
		*cause = xasprintf("%s: %s", url, errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(rc));
		goto fail;
	}
	if (curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &fd) !=
	    CURLE_OK || fd == CURL_SOCKET_BAD) {
		*cause = xasprintf("%s: no socket after login", url);
		goto fail;
	}
	c->fd = fd;
	free(url);
	/* Whether replies may be asked for ahead (RFC 2449). */
	if (pop3_capa(c, cause) != POP3_OK) {
		pop3_close(c);
		return POP3_TEMP;
	}
	net_raw_begin(c->curl);
	return POP3_OK;

fail:
	free(url);
	net_release(c->curl);
	curl_easy_cleanup(c->curl);
	c->curl = NULL;
	pop3_conn_free(c);
	return rc == CURLE_LOGIN_DENIED ? POP3_ERR : POP3_TEMP;
}

/* CAPA: note PIPELINING. A server without CAPA gets one command at once. */
static int
pop3_capa(struct pop3_conn *c, char **cause)
{
	struct buf	 b;
	const char	*p;
	char		*err = NULL;
	int		 rc;

	if ((rc = pop3_send(c, cause, "CAPA")) != POP3_OK)
		return rc;
	if ((rc = pop3_status(c, true, NULL, &err)) == POP3_ERR) {
		free(err);
		return POP3_OK;
	}
	if (rc != POP3_OK) {
		*cause = err;
		return rc;
	}
	buf_init(&b, POP3_MAX_LINE);
	if ((rc = pop3_multiline(c, &b, cause)) == POP3_OK) {
		for (p = b.data; p != NULL && *p != '\0';
		    p += strcspn(p, "\n"), p += *p == '\n') {
			if (strncasecmp(p, "PIPELINING", 10) == 0 &&
			    strchr(" \r\n", p[10]) != NULL)
				c->pipelining = true;
		}
	}
	buf_free(&b);
	return rc;
}

int
pop3_quit(struct pop3_conn *c, char **cause)
{
	int	 rc = POP3_TEMP;

	if (c->curl == NULL) {
		*cause = xasprintf("%s: connection closed", c->label);
		pop3_close(c);
		return POP3_TEMP;
	}
	if (c->unread > 0 || c->in_body) {
		*cause = xasprintf("%s: replies still unread: no QUIT",
		    c->label);
		pop3_close(c);
		return POP3_BAD;
	}
	c->timeout_ms = 10000;
	if ((rc = pop3_send(c, cause, "QUIT")) == POP3_OK)
		rc = pop3_status(c, false, NULL, cause);
	pop3_close(c);
	return rc;
}

void
pop3_close(struct pop3_conn *c)
{
	/* libcurl would send its own QUIT on cleanup and wait for the
	 * answer: make it fail at once (ours went first, or none is due). */
	if (c->curl != NULL && c->fd != CURL_SOCKET_BAD)
		shutdown(c->fd, SHUT_RDWR);
	if (c->curl != NULL) {
		net_release(c->curl);
		curl_easy_cleanup(c->curl);
	}
	c->curl = NULL;
	c->fd = CURL_SOCKET_BAD;
	pop3_conn_free(c);
}

/* Write all of p, waiting (as a coroutine would) while the socket is full. */
static int
pop3_write(struct pop3_conn *c, const char *p, size_t len, char **cause)
{
	size_t		 sent;
	int		 n;

	while (len > 0) {
		if ((n = net_raw_send(c->curl, c->label, p, len, &sent,
		    cause)) < 0)
			return POP3_TEMP;
		if (n == 0) {
			if ((n = pop3_wait(c, POLLOUT, cause)) != POP3_OK)
				return n;
			continue;
		}
		p += sent;
		len -= sent;
	}
	return POP3_OK;
}

int
pop3_send(struct pop3_conn *c, char **cause, const char *fmt, ...)
{
	va_list	 ap;
	char	*cmd;
	int	 rc = POP3_OK;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	if (strpbrk(cmd, "\r\n") != NULL)
		fatal("pop3_send: a line break in a command");
	log_debug("%s: pop3: > %.200s", c->label, cmd);
	buf_addstr(&c->out, cmd);
	buf_add(&c->out, "\r\n", 2);
	free(cmd);
	if (c->out.len > POP3_MAX_OUT)
		rc = pop3_flush(c, cause);
	c->unread++;
	return rc;
}

/* Write the queued commands. */
static int
pop3_flush(struct pop3_conn *c, char **cause)
{
	int	 rc;

	if (c->out.len == 0)
		return POP3_OK;
	rc = pop3_write(c, c->out.data, c->out.len, cause);
	buf_reset(&c->out);
	return rc;
}

static int
pop3_transport_recv(struct pop3_conn *c, char *p, size_t cap, size_t *got,
    char **cause)
{
	int	 n;

	n = net_raw_recv(c->curl, c->label, p, cap, got, cause);
	return n < 0 ? POP3_TEMP : n;
}

/* Wait up to timeout_ms for the socket to be ready for events. */
static int
pop3_wait(struct pop3_conn *c, short events, char **cause)
{
	return net_raw_wait(c->fd, events, c->timeout_ms, c->label,
	    cause) == 0 ? POP3_OK : POP3_TEMP;
}

/* Drop consumed bytes from the front of the input. */
static void
pop3_compact(struct pop3_conn *c)
{
	buf_consume(&c->in, &c->in_off, POP3_IN_KEEP);
}

/* Receive more into the input, waiting up to timeout_ms for something. */
static int
pop3_fill(struct pop3_conn *c, char **cause)
{
	size_t	 got, size;
	int	 n;

	/* A reply is awaited: the commands it answers must be out. */
	if ((n = pop3_flush(c, cause)) != POP3_OK)
		return n;
	pop3_compact(c);
	if (c->in.size < c->in.len + POP3_READ_CHUNK + 1) {
		if (c->in.len + POP3_READ_CHUNK > c->in.cap) {
			*cause = xasprintf("%s: response too large", c->label);
			return POP3_BAD;
		}
		size = c->in.size != 0 ? c->in.size : POP3_READ_CHUNK;
		while (size < c->in.len + POP3_READ_CHUNK + 1)
			size *= 2;
		c->in.data = xreallocarray(c->in.data, 1, size);
		c->in.size = size;
	}
	for (;;) {
		got = 0;
		/* Read first: TLS may hold bytes the socket no longer has. */
		n = c->recv(c, c->in.data + c->in.len,
		    c->in.size - c->in.len - 1, &got, cause);
		if (n == 1) {
			c->in.len += got;
			c->in.data[c->in.len] = '\0';
			return POP3_OK;
		}
		if (n < 0)
			return n;
		if ((n = pop3_wait(c, POLLIN, cause)) != POP3_OK)
			return n;
	}
}

/* One line of protocol text, CRLF or LF stripped; *p points into c->in. */
static int
pop3_line(struct pop3_conn *c, char **p, size_t *len, char **cause)
{
	char	*start, *eol;
	int	 rc;

	for (;;) {
		start = c->in.data + c->in_off;
		eol = c->in.len > c->in_off ?
		    memchr(start, '\n', c->in.len - c->in_off) : NULL;
		if (eol != NULL)
			break;
		if (c->in.len - c->in_off > POP3_MAX_LINE) {
			*cause = xasprintf("%s: reply line over %d bytes",
			    c->label, POP3_MAX_LINE);
			return POP3_BAD;
		}
		if ((rc = pop3_fill(c, cause)) != POP3_OK)
			return rc;
	}
	*len = (size_t)(eol - start);
	c->in_off += *len + 1;
	if (*len > 0 && start[*len - 1] == '\r')
		(*len)--;
	*p = start;
	return POP3_OK;
}

int
pop3_status(struct pop3_conn *c, bool multiline, char **text, char **cause)
{
	char	*p;
	size_t	 len, skip;
	int	 rc;

	if (c->unread == 0 || c->in_body)
		fatal("pop3_status: no reply due");
	if ((rc = pop3_line(c, &p, &len, cause)) != POP3_OK)
		return rc;
	c->unread--;
	if (len >= 3 && strncmp(p, "+OK", 3) == 0) {
		skip = len > 3 && p[3] == ' ' ? 4 : 3;
		if (text != NULL)
			*text = xstrndup(p + skip, len - skip);
		c->in_body = multiline;
		return POP3_OK;
	}
	if (len >= 4 && strncmp(p, "-ERR", 4) == 0) {
		*cause = xasprintf("%s: server said %.*s", c->label,
		    (int)(len > 200 ? 200 : len), p);
		return POP3_ERR;
	}
	*cause = xasprintf("%s: unexpected reply: %.*s", c->label,
	    (int)(len > 80 ? 80 : len), p);
	return POP3_BAD;
}

int
pop3_multiline(struct pop3_conn *c, struct buf *out, char **cause)
{
	char	*p, *end, *q, *nl;
	bool	 bol = true;		/* at the start of a line */
	int	 rc;

	if (!c->in_body)
		fatal("pop3_multiline: no body due");
	for (;;) {
		p = c->in.data + c->in_off;
		end = c->in.data + c->in.len;
		if (p == end || (bol && *p == '.' && (end - p < 2 ||
		    (p[1] == '\r' && end - p < 3)))) {
			/* Too little to tell a dot-stuffed line from the end. */
			if ((rc = pop3_fill(c, cause)) != POP3_OK)
				return rc;
			continue;
		}
		if (bol && *p == '.') {
			if (p[1] == '\n' || (p[1] == '\r' && p[2] == '\n')) {
				c->in_off += p[1] == '\n' ? 2 : 3;
				c->in_body = false;
				return POP3_OK;
			}
			c->in_off++;		/* the stuffed dot */
			bol = false;
			continue;
		}
		/* Up to a line that starts with ".", or all there is. */
		for (q = p;; q = nl + 1) {
			nl = memchr(q, '\n', (size_t)(end - q));
			if (nl == NULL) {
				q = end;
				bol = false;
				break;
			}
			if (nl + 1 == end || nl[1] == '.') {
				q = nl + 1;
				bol = true;
				break;
			}
		}
		if (buf_add(out, p, (size_t)(q - p)) != 0) {
			*cause = xasprintf("%s: response over the size cap of "
			    "%zu bytes", c->label, out->cap);
			return POP3_BAD;
		}
		c->in_off += (size_t)(q - p);
	}
}
