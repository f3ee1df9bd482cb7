/*
 * The IMAP reader. libcurl logs in (CONNECT_ONLY) and hands us the socket;
 * from there every byte goes through curl_easy_send/curl_easy_recv so TLS
 * stays libcurl's business.
 *
 * A response is read whole: a line, and when it ends in a literal marker
 * {N}, exactly N bytes and then the rest of the line, and so on. The bytes
 * of a literal go into a buffer of exactly N bytes of its own (what the
 * input buffer already holds is moved there, the rest is received straight
 * into it), kept beside the response; the line keeps "{N}\r\n" where it
 * stood, so a message body that looks like a tagged reply is never taken
 * for one. A FETCH hands that buffer on to the message without a copy.
 * Caps: a line of protocol text may not exceed IMAP_MAX_LINE, a literal
 * conn->max_literal, a response IMAP_MAX_RESPONSE.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>

#include "conf.h"
#include "coro.h"
#include "imap.h"
#include "log.h"
#include "net.h"

#define IMAP_IN_KEEP		(256 * 1024)	/* input kept between responses */
#define IMAP_MAX_LINE		(1024 * 1024)
#define IMAP_MAX_RESPONSE	((size_t)1 << 30)
#define IMAP_DEFAULT_LITERAL	((size_t)64 << 20)
#define IMAP_READ_CHUNK		65536
#define IMAP_LOGIN_BUFFER	4096	/* libcurl's, for lines up to 2 KiB */

struct fetch_acc {
	struct imap_message	*v;
	size_t			 n;
};

/* A UID FETCH sent ahead; read to its end before any other command. */
struct imap_pending {
	struct fetch_acc	 acc;
	bool			 done;		/* its tagged reply is read */
	int			 rc;		/* then: how it ended */
	char			*cause;
};

struct search_acc {
	uint32_t	*v;
	size_t		 n;
	uint32_t	 from;
};

static int	 imap_fill(struct imap_conn *, char **);
static int	 imap_wait(struct imap_conn *, char **);
static int	 imap_in_room(struct imap_conn *, size_t, char **);
static int	 imap_read_tagged(struct imap_conn *, imap_untagged_cb, void *,
		     char **);
static int	 imap_pending_end(struct imap_conn *, char **);
static void	 imap_lits_free(struct imap_resp *);
static int	 imap_transport_recv(struct imap_conn *, char *, size_t,
		     size_t *, char **);
static int	 imap_recv_some(struct imap_conn *, char **);
static bool	 imap_have_line(const struct imap_conn *);
static int	 imap_take_line(struct imap_conn *, struct imap_resp *,
		     size_t *, char **);
static int	 imap_take_literal(struct imap_conn *, struct imap_resp *,
		     size_t, char **);
static int	 imap_literal_size(const char *, size_t, size_t *);
static int	 imap_status_of(struct imap_conn *, struct imap_resp *,
		     char **);
static int	 imap_untagged_common(struct imap_conn *, struct imap_resp *,
		     char **);
static int	 imap_idle_responses(struct imap_conn *, bool, char **);
static void	 imap_compact(struct imap_conn *);
static int	 select_cb(struct imap_conn *, struct imap_resp *, void *,
		     char **);
static int	 search_cb(struct imap_conn *, struct imap_resp *, void *,
		     char **);
static int	 fetch_cb(struct imap_conn *, struct imap_resp *, void *,
		     char **);
static int	 fetch_item(struct imap_resp *, struct imap_message *);
static void	 fetch_acc_free(struct fetch_acc *);
static int	 u32_cmp(const void *, const void *);



void
imap_resp_init(struct imap_resp *r)
{
	memset(r, 0, sizeof *r);
	buf_init(&r->line, IMAP_MAX_RESPONSE);
}

static void
imap_lits_free(struct imap_resp *r)
{
	size_t	 i;

	for (i = 0; i < r->nlits; i++)
		free(r->lits[i].data);
	free(r->lits);
	r->lits = NULL;
	r->nlits = 0;
	r->lit_bytes = 0;
}

void
imap_resp_free(struct imap_resp *r)
{
	buf_free(&r->line);
	imap_lits_free(r);
}

char *
imap_resp_take(struct imap_resp *r, const struct imap_tok *t, size_t *len)
{
	char	*p;
	size_t	 i;

	for (i = 0; i < r->nlits; i++) {
		if (r->lits[i].data != NULL && r->lits[i].data == t->p) {
			p = r->lits[i].data;
			r->lits[i].data = NULL;
			*len = t->len;
			return p;
		}
	}
	p = xmalloc(t->len + 1);
	memcpy(p, t->p, t->len);
	p[t->len] = '\0';
	*len = t->len;
	return p;
}

void
imap_conn_init_buffer(struct imap_conn *c, const char *p, size_t len)
{
	memset(c, 0, sizeof *c);
	c->fd = CURL_SOCKET_BAD;
	c->label = xstrdup("test");
	buf_init(&c->in, IMAP_MAX_RESPONSE);
	buf_add(&c->in, p, len);
	c->max_literal = IMAP_DEFAULT_LITERAL;
	c->timeout_ms = 1000;
	c->in_off = 0;
}

static int
imap_url_port(const struct conf_account *a)
{
	if (a->port != 0)
		return a->port;
	return a->tls ? 993 : 143;
}

int
imap_connect(struct imap_conn *c, const struct conf_account *a,
    const char *password, const char *oauth_token, char **cause)
{
	char		*url = NULL, *opts = NULL;
	curl_socket_t	 fd;
	CURLcode	 rc;

	memset(c, 0, sizeof *c);
	c->fd = CURL_SOCKET_BAD;
	c->label = xstrdup(a->name);
	buf_init(&c->in, IMAP_MAX_RESPONSE);
	c->max_literal = IMAP_DEFAULT_LITERAL;
	c->timeout_ms = 60000;
	c->in_off = 0;
	if ((c->curl = curl_easy_init()) == NULL)
		fatal("curl_easy_init");
	url = xasprintf("%s://%s:%d/", a->tls ? "imaps" : "imap", a->host,
	    imap_url_port(a));
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_USERNAME, a->user);
	if (oauth_token != NULL) {
		curl_easy_setopt(c->curl, CURLOPT_XOAUTH2_BEARER, oauth_token);
		opts = xasprintf("AUTH=%s", a->auth != NULL &&
		    strcasecmp(a->auth, "PLAIN") != 0 ? a->auth : "XOAUTH2");
	} else {
		curl_easy_setopt(c->curl, CURLOPT_PASSWORD, password);
		opts = xasprintf("AUTH=%s", a->auth != NULL ? a->auth : "PLAIN");
	}
	/* libcurl picks the strongest mechanism and never falls back: pin. */
	curl_easy_setopt(c->curl, CURLOPT_LOGIN_OPTIONS, opts);
	/*
	 * libcurl reads only the login's responses into its receive buffer
	 * and keeps it as long as the handle: 16 KiB by default, for every
	 * account in IDLE. Its line reader cuts lines over half the buffer.
	 */
	curl_easy_setopt(c->curl, CURLOPT_BUFFERSIZE, (long)IMAP_LOGIN_BUFFER);
	net_setup_account(c->curl, a);
	if ((rc = net_login(c->curl)) != CURLE_OK) {
		*cause = xasprintf("%s: %s", url, curl_easy_strerror(rc));
		goto fail;
	}
	if (curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &fd) !=
	    CURLE_OK || fd == CURL_SOCKET_BAD) {
		*cause = xasprintf("%s: no socket after login", url);
		goto fail;
	}
	c->fd = fd;
	free(url);
	free(opts);
	/*
	 * What the server offers after login (MOVE, UIDPLUS, IDLE). Sent at
	 * once: it ties the connection to its handle (see net_login).
	 */
	if (imap_command(c, NULL, NULL, cause, "CAPABILITY") != IMAP_OK) {
		imap_close(c);
		return IMAP_TEMP;
	}
	net_raw_begin(c->curl);
	return IMAP_OK;

fail:
	free(url);
	free(opts);
	net_release(c->curl);
	curl_easy_cleanup(c->curl);
	c->curl = NULL;
	buf_free(&c->in);
	free(c->label);
	c->label = NULL;
	return rc == CURLE_LOGIN_DENIED ? IMAP_NO : IMAP_TEMP;
}

void
imap_close(struct imap_conn *c)
{
	char		*cause = NULL;
	curl_socket_t	 fd;

	/*
	 * libcurl sends no LOGOUT on a CONNECT_ONLY connection. Only on the
	 * socket libcurl still has: one it closed may have a new owner.
	 */
	if (c->curl != NULL && c->fd != CURL_SOCKET_BAD &&
	    curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &fd) ==
	    CURLE_OK && fd == c->fd) {
		c->timeout_ms = 2000;
		if (imap_command(c, NULL, NULL, &cause, "LOGOUT") != IMAP_OK)
			log_debug("%s: LOGOUT: %s", c->label, cause);
		free(cause);
		/* libcurl's own LOGOUT on disconnect waits for the answer,
		 * blocking: make it fail at once (ours went first). */
		shutdown(c->fd, SHUT_RDWR);
	}
	if (c->curl != NULL) {
		net_release(c->curl);
		curl_easy_cleanup(c->curl);
	}
	c->curl = NULL;
	c->fd = CURL_SOCKET_BAD;
	buf_free(&c->in);
	free(c->label);
	free(c->caps);
	c->label = c->caps = NULL;
}

bool
imap_has_cap(const struct imap_conn *c, const char *cap)
{
	const char	*p;
	size_t		 len = strlen(cap);

	for (p = c->caps; p != NULL && *p != '\0'; p += strcspn(p, " ")) {
		p += strspn(p, " ");
		if (strncasecmp(p, cap, len) == 0 &&
		    (p[len] == ' ' || p[len] == '\0'))
			return true;
	}
	return false;
}

int
imap_send(struct imap_conn *c, const char *p, size_t len, char **cause)
{
	struct pollfd	 pfd;
	size_t		 sent;
	int		 n;

	while (len > 0) {
		if ((n = net_raw_send(c->curl, c->label, p, len, &sent,
		    cause)) < 0)
			return IMAP_TEMP;
		if (n == 0) {
			pfd.fd = c->fd;
			pfd.events = POLLOUT;
			if (coro_wait(&pfd, 1, c->timeout_ms, false) <= 0) {
				*cause = xasprintf("%s: send timed out",
				    c->label);
				return IMAP_TEMP;
			}
			continue;
		}
		p += sent;
		len -= sent;
	}
	return IMAP_OK;
}

/*
 * The transport: up to cap bytes into p. 1 and *got > 0: bytes; 0: nothing
 * yet (would block); IMAP_TEMP and *cause: closed or failed.
 */
static int
imap_transport_recv(struct imap_conn *c, char *p, size_t cap, size_t *got,
    char **cause)
{
	int	 n;

	n = net_raw_recv(c->curl, c->label, p, cap, got, cause);
	return n < 0 ? IMAP_TEMP : n;
}

/* Room for at least want more bytes at the end of the input. */
static int
imap_in_room(struct imap_conn *c, size_t want, char **cause)
{
	struct buf	*b = &c->in;
	size_t		 size;

	if (b->size > b->len && b->size - b->len - 1 >= want)
		return IMAP_OK;
	if (want > b->cap || b->len > b->cap - want) {
		*cause = xasprintf("%s: response too large", c->label);
		return IMAP_BAD;
	}
	size = b->size != 0 ? b->size : 256;
	while (size - b->len - 1 < want)
		size *= 2;
	b->data = xreallocarray(b->data, 1, size);
	b->size = size;
	return IMAP_OK;
}

/*
 * Take what the connection has now: 1 got bytes, 0 nothing yet. Into the
 * input buffer straight when it has room for a good read; else through a
 * chunk on the stack, so that the buffer of a connection that only ever
 * gets short responses (IDLE) stays as small as they are.
 */
static int
imap_recv_some(struct imap_conn *c, char **cause)
{
	char		 chunk[IMAP_READ_CHUNK];
	size_t		 got = 0;
	int		 n;

	imap_compact(c);
	if (c->in.size > c->in.len + IMAP_READ_CHUNK / 4) {
		if ((n = imap_transport_recv(c, c->in.data + c->in.len,
		    c->in.size - c->in.len - 1, &got, cause)) != 1)
			return n;
		c->in.len += got;
		c->in.data[c->in.len] = '\0';
		return 1;
	}
	if ((n = imap_transport_recv(c, chunk, sizeof chunk, &got,
	    cause)) != 1)
		return n;
	if ((n = imap_in_room(c, got, cause)) != IMAP_OK)
		return n;
	memcpy(c->in.data + c->in.len, chunk, got);
	c->in.len += got;
	c->in.data[c->in.len] = '\0';
	return 1;
}

/* Read what is there; wait up to timeout_ms for something. */
static int
imap_fill(struct imap_conn *c, char **cause)
{
	int		 n;

	for (;;) {
		/* Drain first: TLS may hold bytes the socket no longer has. */
		if ((n = imap_recv_some(c, cause)) != 0)
			return n > 0 ? IMAP_OK : n;
		if ((n = imap_wait(c, cause)) != IMAP_OK)
			return n;
	}
}

/* Wait up to timeout_ms for the socket to be readable. */
static int
imap_wait(struct imap_conn *c, char **cause)
{
	return net_raw_wait(c->fd, POLLIN, c->timeout_ms, c->label,
	    cause) == 0 ? IMAP_OK : IMAP_TEMP;
}

/* Drop consumed bytes from the front of the input once it pays. */
static void
imap_compact(struct imap_conn *c)
{
	/* A large message made the buffer grow: do not keep it for ever. */
	buf_consume(&c->in, &c->in_off, IMAP_IN_KEEP);
}

/* Does the line end in {N} or {N+}? Then *n is N. */
static int
imap_literal_size(const char *p, size_t len, size_t *n)
{
	size_t	 i;
	uint64_t v = 0;

	if (len < 3 || p[len - 1] != '}')
		return -1;
	i = len - 1;
	if (p[i - 1] == '+')
		i--;
	while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9')
		i--;
	if (i == 0 || p[i - 1] != '{' || p[i] == '}' || p[i] == '+')
		return -1;
	for (; p[i] >= '0' && p[i] <= '9'; i++) {
		v = v * 10 + (uint64_t)(p[i] - '0');
		if (v > SIZE_MAX / 2)
			return -1;
	}
	*n = (size_t)v;
	return 0;
}

/* Move one CRLF-terminated line into the response; *lit is its literal. */
static int
imap_take_line(struct imap_conn *c, struct imap_resp *r, size_t *lit,
    char **cause)
{
	char	*start, *eol;
	size_t	 len;
	int	 rc;

	for (;;) {
		start = c->in.data + c->in_off;
		eol = c->in.len > c->in_off ?
		    memchr(start, '\n', c->in.len - c->in_off) : NULL;
		if (eol != NULL)
			break;
		if (c->in.len - c->in_off > IMAP_MAX_LINE) {
			*cause = xasprintf("%s: response line over %d bytes",
			    c->label, IMAP_MAX_LINE);
			return IMAP_BAD;
		}
		if ((rc = imap_fill(c, cause)) != IMAP_OK)
			return rc;
	}
	len = (size_t)(eol - start);
	c->in_off += len + 1;
	if (len > 0 && start[len - 1] == '\r')
		len--;
	if (buf_add(&r->line, start, len) != 0) {
		*cause = xasprintf("%s: response too large", c->label);
		return IMAP_BAD;
	}
	if (imap_literal_size(start, len, lit) != 0)
		*lit = SIZE_MAX;
	return IMAP_OK;
}

/*
 * N bytes of literal into a buffer of their own: what the input holds is
 * moved there, the rest received straight into it.
 */
static int
imap_take_literal(struct imap_conn *c, struct imap_resp *r, size_t n,
    char **cause)
{
	struct imap_lit	*l;
	char		*p;
	size_t		 have, got;
	int		 rc;

	if (n > c->max_literal) {
		*cause = xasprintf("%s: literal of %zu bytes is over the "
		    "limit of %zu", c->label, n, c->max_literal);
		return IMAP_BAD;
	}
	if (r->lit_bytes + n > IMAP_MAX_RESPONSE - r->line.len ||
	    buf_add(&r->line, "\r\n", 2) != 0) {
		*cause = xasprintf("%s: response too large", c->label);
		return IMAP_BAD;
	}
	p = xmalloc(n + 1);
	have = c->in.len - c->in_off < n ? c->in.len - c->in_off : n;
	memcpy(p, c->in.data + c->in_off, have);
	c->in_off += have;
	while (have < n) {
		got = 0;
		rc = imap_transport_recv(c, p + have, n - have, &got, cause);
		if (rc == 1)
			have += got;
		else if (rc < 0 || (rc = imap_wait(c, cause)) != IMAP_OK) {
			free(p);
			return rc;
		}
	}
	p[n] = '\0';
	r->lits = xreallocarray(r->lits, r->nlits + 1, sizeof *r->lits);
	l = &r->lits[r->nlits++];
	l->data = p;
	l->len = n;
	l->at = r->line.len;
	r->lit_bytes += n;
	return IMAP_OK;
}

int
imap_read_resp(struct imap_conn *c, struct imap_resp *r, char **cause)
{
	size_t	 lit;
	int	 rc;

	buf_reset(&r->line);
	imap_lits_free(r);
	r->pos = 0;
	for (;;) {
		if ((rc = imap_take_line(c, r, &lit, cause)) != IMAP_OK)
			return rc;
		if (lit == SIZE_MAX)
			break;
		if ((rc = imap_take_literal(c, r, lit, cause)) != IMAP_OK)
			return rc;
	}
	r->tagged = c->tagstr[0] != '\0' &&
	    strncmp(r->line.data, c->tagstr, strlen(c->tagstr)) == 0 &&
	    r->line.data[strlen(c->tagstr)] == ' ';
	return IMAP_OK;
}

struct imap_tok
imap_next(struct imap_resp *r)
{
	struct imap_tok	 t = { IMAP_TOK_END, NULL, 0 };
	const char	*s = r->line.data, *end = s + r->line.len, *p;
	size_t		 n, i;

	p = s + r->pos;
	while (p < end && *p == ' ')
		p++;
	if (p >= end)
		goto out;
	t.p = p;
	switch (*p) {
	case '(': t.type = IMAP_TOK_OPEN; p++; break;
	case ')': t.type = IMAP_TOK_CLOSE; p++; break;
	case '[': t.type = IMAP_TOK_BOPEN; p++; break;
	case ']': t.type = IMAP_TOK_BCLOSE; p++; break;
	case '"':
		t.type = IMAP_TOK_STRING;
		t.p = ++p;
		while (p < end && *p != '"')
			p += (*p == '\\' && p + 1 < end) ? 2 : 1;
		if (p >= end) {
			t.type = IMAP_TOK_ERROR;
			break;
		}
		t.len = (size_t)(p - t.p);
		p++;
		break;
	case '{':
		/* The reader checked the size; "{N}\r\n" marks where the
		 * literal stood. */
		for (n = 0, p++; p < end && *p >= '0' && *p <= '9'; p++)
			n = n * 10 + (size_t)(*p - '0');
		if (p < end && *p == '+')
			p++;
		if (end - p < 3 || p[0] != '}' || p[1] != '\r' ||
		    p[2] != '\n') {
			t.type = IMAP_TOK_ERROR;
			break;
		}
		p += 3;
		for (i = 0; i < r->nlits; i++)
			if (r->lits[i].at == (size_t)(p - s))
				break;
		if (i == r->nlits || r->lits[i].len != n ||
		    r->lits[i].data == NULL) {
			t.type = IMAP_TOK_ERROR;
			break;
		}
		t.type = IMAP_TOK_STRING;
		t.p = r->lits[i].data;
		t.len = n;
		break;
	default:
		t.type = IMAP_TOK_ATOM;
		while (p < end && strchr(" ()[]", *p) == NULL)
			p++;
		t.len = (size_t)(p - t.p);
		break;
	}
out:
	r->pos = (size_t)(p - s);
	return t;
}

bool
imap_tok_is(const struct imap_tok *t, const char *s)
{
	return t->type == IMAP_TOK_ATOM && strlen(s) == t->len &&
	    strncasecmp(t->p, s, t->len) == 0;
}

int
imap_tok_u32(const struct imap_tok *t, uint32_t *v)
{
	uint64_t	 x = 0;
	size_t		 i;

	if (t->type != IMAP_TOK_ATOM || t->len == 0 || t->len > 10)
		return -1;
	for (i = 0; i < t->len; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(t->p[i] - '0');
	}
	if (x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* The tagged reply: OK, NO or BAD. */
static int
imap_status_of(struct imap_conn *c, struct imap_resp *r, char **cause)
{
	struct imap_tok	 t;
	const char	*text;

	imap_next(r);			/* the tag */
	t = imap_next(r);
	if (imap_tok_is(&t, "OK"))
		return IMAP_OK;
	text = r->line.data + r->pos;
	while (*text == ' ')
		text++;
	*cause = xasprintf("%s: server said %.*s %.200s", c->label,
	    (int)t.len, t.p != NULL ? t.p : "", text);
	return imap_tok_is(&t, "NO") ? IMAP_NO : IMAP_BAD;
}

/* What every command cares about: EXISTS, CAPABILITY, BYE. */
static int
imap_untagged_common(struct imap_conn *c, struct imap_resp *r, char **cause)
{
	struct imap_tok	 t, u;
	uint32_t	 n;
	size_t		 start;

	r->pos = 0;
	imap_next(r);			/* "*" */
	t = imap_next(r);
	if (imap_tok_is(&t, "BYE")) {
		*cause = xasprintf("%s: server closed: %.200s", c->label,
		    r->line.data + r->pos);
		return IMAP_TEMP;
	}
	if (imap_tok_is(&t, "CAPABILITY")) {
		start = r->pos;
		free(c->caps);
		c->caps = xstrdup(r->line.data + start);
	} else if (imap_tok_u32(&t, &n) == 0) {
		u = imap_next(r);
		if (imap_tok_is(&u, "EXISTS")) {
			if (n != c->exists)
				c->exists_changed = true;
			c->exists = n;
		}
	}
	r->pos = 0;
	return IMAP_OK;
}

/* Send one command under a new tag. */
static int
imap_send_cmd(struct imap_conn *c, const char *cmd, char **cause)
{
	char	*line;
	int	 rc;

	snprintf(c->tagstr, sizeof c->tagstr, "F%u", ++c->tag);
	line = xasprintf("%s %s\r\n", c->tagstr, cmd);
	log_debug("%s: > %s %.*s", c->label, c->tagstr,
	    strncasecmp(cmd, "LOGIN", 5) == 0 ? 5 : 200, cmd);
	rc = imap_send(c, line, strlen(line), cause);
	free(line);
	return rc;
}

int
imap_command(struct imap_conn *c, imap_untagged_cb cb, void *arg,
    char **cause, const char *fmt, ...)
{
	va_list		 ap;
	char		*cmd;
	int		 rc;

	if ((rc = imap_pending_end(c, cause)) != IMAP_OK)
		return rc;
	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	rc = imap_send_cmd(c, cmd, cause);
	free(cmd);
	if (rc != IMAP_OK)
		return rc;
	return imap_read_tagged(c, cb, arg, cause);
}

/* Read the responses of the command just sent, up to its tagged reply. */
static int
imap_read_tagged(struct imap_conn *c, imap_untagged_cb cb, void *arg,
    char **cause)
{
	struct imap_resp r;
	int		 rc;

	imap_resp_init(&r);
	for (;;) {
		if ((rc = imap_read_resp(c, &r, cause)) != IMAP_OK)
			break;
		if (r.tagged) {
			rc = imap_status_of(c, &r, cause);
			break;
		}
		if (r.line.data[0] == '+') {
			*cause = xasprintf("%s: unexpected continuation",
			    c->label);
			rc = IMAP_BAD;
			break;
		}
		if (r.line.data[0] != '*') {
			*cause = xasprintf("%s: unexpected response: %.80s",
			    c->label, r.line.data);
			rc = IMAP_BAD;
			break;
		}
		if ((rc = imap_untagged_common(c, &r, cause)) != IMAP_OK)
			break;
		if (cb != NULL && (rc = cb(c, &r, arg, cause)) != IMAP_OK)
			break;
	}
	imap_resp_free(&r);
	return rc;
}

char *
imap_quote(const char *s)
{
	struct buf	 b;

	buf_init(&b, SIZE_MAX);
	buf_add(&b, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_add(&b, "\\", 1);
		if (*s != '\r' && *s != '\n')
			buf_add(&b, s, 1);
	}
	buf_add(&b, "\"", 1);
	return buf_steal(&b, NULL);
}

/*
 * A folder name as an IMAP quoted string: UTF-8 turned into modified
 * UTF-7 (RFC 3501 5.1.3), '&' as "&-". NULL with *cause for control
 * characters or bad UTF-8.
 */
char *
imap_mailbox_arg(const char *s, char **cause)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+,";
	const unsigned char	*p = (const unsigned char *)s;
	struct buf		 b;
	uint32_t		 cp, bits = 0, u[2];
	int			 nbits = 0, k, n, i;
	bool			 in64 = false;
	char			*out, *q;

	buf_init(&b, SIZE_MAX);
	while (*p != '\0') {
		if (*p < 0x20 || *p == 0x7f) {
			*cause = xasprintf("folder name '%s' holds a control "
			    "character", s);
			goto fail;
		}
		if (*p < 0x80) {
			if (in64) {
				if (nbits > 0)
					buf_add(&b, &b64[(bits << (6 - nbits))
					    & 0x3f], 1);
				buf_add(&b, "-", 1);
				in64 = false;
				bits = 0;
				nbits = 0;
			}
			buf_add(&b, *p == '&' ? "&-" : (const char *)p,
			    *p == '&' ? 2 : 1);
			p++;
			continue;
		}
		/* One UTF-8 sequence. */
		n = *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : *p >= 0xc0 ? 1 : -1;
		if (n < 0 || *p > 0xf4)
			goto bad_utf8;
		cp = *p & (0x3f >> n);
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				goto bad_utf8;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < (n == 1 ? 0x80u : n == 2 ? 0x800u : 0x10000u) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad_utf8;
		p += n + 1;
		if (!in64) {
			buf_add(&b, "&", 1);
			in64 = true;
		}
		k = 1;
		u[0] = cp;
		if (cp >= 0x10000) {
			u[0] = 0xd800 + ((cp - 0x10000) >> 10);
			u[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
			k = 2;
		}
		for (i = 0; i < k; i++) {
			bits = (bits << 16) | u[i];
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				buf_add(&b, &b64[(bits >> nbits) & 0x3f], 1);
			}
			bits &= (1u << nbits) - 1;
		}
	}
	if (in64) {
		if (nbits > 0)
			buf_add(&b, &b64[(bits << (6 - nbits)) & 0x3f], 1);
		buf_add(&b, "-", 1);
	}
	buf_add(&b, "", 1);
	out = buf_steal(&b, NULL);
	q = imap_quote(out);
	free(out);
	return q;

bad_utf8:
	*cause = xasprintf("folder name '%s' is not valid UTF-8", s);
fail:
	buf_free(&b);
	return NULL;
}

/* LIST "" "": * LIST (flags) "delimiter" "" (NIL for a flat server). */
static int
delim_cb(struct imap_conn *c, struct imap_resp *r, void *arg, char **cause)
{
	struct imap_tok	 t;

	(void)arg;
	(void)cause;
	imap_next(r);
	t = imap_next(r);
	if (!imap_tok_is(&t, "LIST") || imap_next(r).type != IMAP_TOK_OPEN)
		return IMAP_OK;
	while ((t = imap_next(r)).type != IMAP_TOK_CLOSE)
		if (t.type == IMAP_TOK_END || t.type == IMAP_TOK_ERROR)
			return IMAP_OK;
	t = imap_next(r);
	if (t.type == IMAP_TOK_STRING && t.len == 1 &&
	    (unsigned char)t.p[0] > 0x20 && (unsigned char)t.p[0] < 0x7f)
		c->delim = t.p[0];
	return IMAP_OK;
}

char *
imap_folder_arg(struct imap_conn *c, const char *name, char **cause)
{
	char	*err = NULL, *local, *p, *q;

	if (c->delim == '\0') {
		if (imap_command(c, delim_cb, NULL, &err, "LIST \"\" \"\"") !=
		    IMAP_OK || c->delim == '\0')
			c->delim = '/';
		free(err);
	}
	if (c->delim == '/')
		return imap_mailbox_arg(name, cause);
	local = xstrdup(name);
	for (p = local; *p != '\0'; p++)
		if (*p == '/')
			*p = c->delim;
	q = imap_mailbox_arg(local, cause);
	free(local);
	return q;
}

static int
select_cb(struct imap_conn *c, struct imap_resp *r, void *arg, char **cause)
{
	struct imap_tok	 t;

	(void)arg;
	(void)cause;
	imap_next(r);
	t = imap_next(r);
	if (!imap_tok_is(&t, "OK"))
		return IMAP_OK;
	if (imap_next(r).type != IMAP_TOK_BOPEN)
		return IMAP_OK;
	t = imap_next(r);
	if (imap_tok_is(&t, "UIDVALIDITY")) {
		t = imap_next(r);
		imap_tok_u32(&t, &c->uidvalidity);
	} else if (imap_tok_is(&t, "UIDNEXT")) {
		t = imap_next(r);
		imap_tok_u32(&t, &c->uidnext);
	}
	return IMAP_OK;
}

int
imap_select(struct imap_conn *c, const char *mailbox, char **cause)
{
	char	*q;
	int	 rc;

	c->uidvalidity = c->uidnext = c->exists = 0;
	if ((q = imap_folder_arg(c, mailbox, cause)) == NULL)
		return IMAP_BAD;
	rc = imap_command(c, select_cb, NULL, cause, "SELECT %s", q);
	free(q);
	if (rc == IMAP_OK && c->uidvalidity == 0) {
		*cause = xasprintf("%s: %s: server sent no UIDVALIDITY",
		    c->label, mailbox);
		return IMAP_BAD;
	}
	c->exists_changed = false;
	return rc;
}

static int
search_cb(struct imap_conn *c, struct imap_resp *r, void *arg, char **cause)
{
	struct search_acc	*acc = arg;
	struct imap_tok		 t;
	uint32_t		 uid;

	(void)c;
	(void)cause;
	imap_next(r);
	t = imap_next(r);
	if (!imap_tok_is(&t, "SEARCH"))
		return IMAP_OK;
	for (t = imap_next(r); t.type == IMAP_TOK_ATOM; t = imap_next(r)) {
		if (imap_tok_u32(&t, &uid) != 0 || uid < acc->from)
			continue;
		acc->v = xreallocarray(acc->v, acc->n + 1, sizeof *acc->v);
		acc->v[acc->n++] = uid;
	}
	return IMAP_OK;
}

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
imap_search_from(struct imap_conn *c, uint32_t from, uint32_t **uids,
    size_t *n, char **cause)
{
	struct search_acc	 acc = { NULL, 0, from };
	int			 rc;

	rc = imap_command(c, search_cb, &acc, cause, "UID SEARCH UID %" PRIu32
	    ":*", from);
	if (rc != IMAP_OK) {
		free(acc.v);
		return rc;
	}
	/* "n:*" always names the last message, even below n: filtered. */
	if (acc.n > 1)
		qsort(acc.v, acc.n, sizeof *acc.v, u32_cmp);
	*uids = acc.v;
	*n = acc.n;
	return IMAP_OK;
}

/* One FETCH item list: UID, FLAGS and BODY[] wanted. */
static int
fetch_item(struct imap_resp *r, struct imap_message *m)
{
	struct imap_tok	 t, v;

	if (imap_next(r).type != IMAP_TOK_OPEN)
		return -1;
	for (;;) {
		t = imap_next(r);
		if (t.type == IMAP_TOK_CLOSE)
			return 0;
		if (t.type != IMAP_TOK_ATOM)
			return -1;
		if (imap_tok_is(&t, "UID")) {
			v = imap_next(r);
			if (imap_tok_u32(&v, &m->uid) != 0)
				return -1;
		} else if (imap_tok_is(&t, "FLAGS")) {
			if (imap_next(r).type != IMAP_TOK_OPEN)
				return -1;
			while ((v = imap_next(r)).type == IMAP_TOK_ATOM)
				if (imap_tok_is(&v, "\\Seen"))
					m->seen = true;
			if (v.type != IMAP_TOK_CLOSE)
				return -1;
		} else if (imap_tok_is(&t, "BODY")) {
			if (imap_next(r).type != IMAP_TOK_BOPEN ||
			    imap_next(r).type != IMAP_TOK_BCLOSE)
				return -1;
			v = imap_next(r);
			if (v.type != IMAP_TOK_STRING)
				return -1;
			free(m->data);
			/* A literal's buffer is taken as it is: no copy. */
			m->data = imap_resp_take(r, &v, &m->len);
		} else {
			/* Skip one value: an atom, a string or a list. */
			v = imap_next(r);
			if (v.type == IMAP_TOK_OPEN) {
				while ((v = imap_next(r)).type !=
				    IMAP_TOK_CLOSE)
					if (v.type == IMAP_TOK_END ||
					    v.type == IMAP_TOK_ERROR)
						return -1;
			}
		}
	}
}

static int
fetch_cb(struct imap_conn *c, struct imap_resp *r, void *arg, char **cause)
{
	struct fetch_acc	*acc = arg;
	struct imap_message	 m;
	struct imap_tok		 t;

	(void)cause;
	imap_next(r);
	imap_next(r);			/* sequence number */
	t = imap_next(r);
	if (!imap_tok_is(&t, "FETCH"))
		return IMAP_OK;
	memset(&m, 0, sizeof m);
	if (fetch_item(r, &m) != 0) {
		log_warn("%s: malformed FETCH response ignored: %.80s",
		    c->label, r->line.data);
		free(m.data);
		return IMAP_OK;
	}
	/* An unsolicited FETCH (FLAGS only) is not a message. */
	if (m.data == NULL || m.uid == 0) {
		free(m.data);
		return IMAP_OK;
	}
	acc->v = xreallocarray(acc->v, acc->n + 1, sizeof *acc->v);
	acc->v[acc->n++] = m;
	return IMAP_OK;
}

static void
fetch_acc_free(struct fetch_acc *acc)
{
	size_t	 i;

	for (i = 0; i < acc->n; i++)
		free(acc->v[i].data);
	free(acc->v);
	acc->v = NULL;
	acc->n = 0;
}

int
imap_fetch(struct imap_conn *c, const char *set, struct imap_message **out,
    size_t *n, char **cause)
{
	int	 rc;

	if ((rc = imap_fetch_start(c, set, cause)) != IMAP_OK)
		return rc;
	return imap_fetch_finish(c, out, n, cause);
}

int
imap_fetch_start(struct imap_conn *c, const char *set, char **cause)
{
	char	*cmd;
	int	 rc;

	if ((rc = imap_pending_end(c, cause)) != IMAP_OK)
		return rc;
	if (c->pending != NULL)
		fatal("imap_fetch_start: a fetch is still open");
	cmd = xasprintf("UID FETCH %s (UID FLAGS BODY.PEEK[])", set);
	rc = imap_send_cmd(c, cmd, cause);
	free(cmd);
	if (rc != IMAP_OK)
		return rc;
	c->pending = xcalloc(1, sizeof *c->pending);
	return IMAP_OK;
}

/*
 * Read the open fetch, if any, to its tagged reply; keep its messages and
 * how it ended. Fails only when the connection cannot carry another
 * command.
 */
static int
imap_pending_end(struct imap_conn *c, char **cause)
{
	struct imap_pending	*p = c->pending;

	if (p == NULL || p->done)
		return IMAP_OK;
	p->rc = imap_read_tagged(c, fetch_cb, &p->acc, &p->cause);
	p->done = true;
	if (p->rc == IMAP_OK || p->rc == IMAP_NO)
		return IMAP_OK;
	*cause = xstrdup(p->cause != NULL ? p->cause : "fetch failed");
	return p->rc;
}

int
imap_fetch_finish(struct imap_conn *c, struct imap_message **out, size_t *n,
    char **cause)
{
	struct imap_pending	*p = c->pending;
	char			*err = NULL;
	int			 rc;

	if (p == NULL)
		fatal("imap_fetch_finish: no fetch open");
	rc = imap_pending_end(c, &err);
	free(err);
	c->pending = NULL;
	if ((rc = p->rc) != IMAP_OK) {
		*cause = p->cause;
		fetch_acc_free(&p->acc);
	} else {
		*out = p->acc.v;
		*n = p->acc.n;
		free(p->cause);
	}
	free(p);
	return rc;
}

static bool
imap_have_line(const struct imap_conn *c)
{
	return c->in.len > c->in_off &&
	    memchr(c->in.data + c->in_off, '\n', c->in.len - c->in_off) !=
	    NULL;
}

/* Read responses while in IDLE: EXISTS is noted, a tagged reply ends it. */
static int
imap_idle_responses(struct imap_conn *c, bool until_tagged, char **cause)
{
	struct imap_resp	 r;
	int			 rc = IMAP_OK;

	imap_resp_init(&r);
	while (until_tagged || imap_have_line(c)) {
		if ((rc = imap_read_resp(c, &r, cause)) != IMAP_OK)
			break;
		if (r.tagged) {
			c->idling = false;
			rc = imap_status_of(c, &r, cause);
			break;
		}
		if (r.line.data[0] == '*' &&
		    (rc = imap_untagged_common(c, &r, cause)) != IMAP_OK)
			break;
	}
	imap_resp_free(&r);
	return rc;
}

int
imap_idle_start(struct imap_conn *c, char **cause)
{
	struct imap_resp	 r;
	char			*line;
	int			 rc, n;

	if ((rc = imap_pending_end(c, cause)) != IMAP_OK)
		return rc;
	snprintf(c->tagstr, sizeof c->tagstr, "F%u", ++c->tag);
	line = xasprintf("%s IDLE\r\n", c->tagstr);
	log_debug("%s: > %s IDLE", c->label, c->tagstr);
	rc = imap_send(c, line, strlen(line), cause);
	free(line);
	if (rc != IMAP_OK)
		return rc;
	imap_resp_init(&r);
	for (;;) {
		if ((rc = imap_read_resp(c, &r, cause)) != IMAP_OK)
			break;
		if (r.line.data[0] == '+') {
			c->idling = true;
			break;
		}
		if (r.tagged) {
			rc = imap_status_of(c, &r, cause);
			if (rc == IMAP_OK) {
				*cause = xasprintf("%s: IDLE ended at once",
				    c->label);
				rc = IMAP_BAD;
			}
			break;
		}
		if ((rc = imap_untagged_common(c, &r, cause)) != IMAP_OK)
			break;
	}
	imap_resp_free(&r);
	/*
	 * What came after the "+" (an EXISTS of mail that arrived meanwhile)
	 * may wait in the TLS layer, received with it, where a wait on the
	 * socket would not see it: into the input, which the caller looks at
	 * first.
	 */
	while (rc == IMAP_OK && (n = imap_recv_some(c, cause)) != 0)
		if (n < 0)
			rc = n;
	return rc;
}

int
imap_idle_read(struct imap_conn *c, char **cause)
{
	int	 n;

	while ((n = imap_recv_some(c, cause)) > 0)
		;
	if (n < 0)
		return n;
	return imap_idle_responses(c, false, cause);
}

int
imap_idle_done(struct imap_conn *c, char **cause)
{
	int	 rc;

	if (!c->idling)
		return IMAP_OK;
	if ((rc = imap_send(c, "DONE\r\n", 6, cause)) != IMAP_OK)
		return rc;
	return imap_idle_responses(c, true, cause);
}
