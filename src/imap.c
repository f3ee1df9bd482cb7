/*
 * The IMAP reader. libcurl logs in (CONNECT_ONLY) and hands us the socket;
 * from there every byte goes through curl_easy_send/curl_easy_recv so TLS
 * stays libcurl's business.
 *
 * A response is read whole: a line, and when it ends in a literal marker
 * {N}, exactly N bytes and then the rest of the line, and so on. The bytes
 * of the literal are kept inline, after "{N}\r\n", so the token reader can
 * walk the response without a second structure and a message body that
 * looks like a tagged reply is never taken for one. Caps: a line of
 * protocol text may not exceed IMAP_MAX_LINE, a literal conn->max_literal,
 * a response IMAP_MAX_RESPONSE.
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

struct search_acc {
	uint32_t	*v;
	size_t		 n;
	uint32_t	 from;
};

static int	 imap_fill(struct imap_conn *, char **);
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
static int	 u32_cmp(const void *, const void *);



void
imap_resp_init(struct imap_resp *r)
{
	buf_init(&r->line, IMAP_MAX_RESPONSE);
	r->pos = 0;
	r->tagged = false;
}

void
imap_resp_free(struct imap_resp *r)
{
	buf_free(&r->line);
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
	CURLcode	 rc;

	while (len > 0) {
		rc = curl_easy_send(c->curl, p, len, &sent);
		if (rc == CURLE_AGAIN) {
			pfd.fd = c->fd;
			pfd.events = POLLOUT;
			if (coro_wait(&pfd, 1, c->timeout_ms, false) <= 0) {
				*cause = xasprintf("%s: send timed out",
				    c->label);
				return IMAP_TEMP;
			}
			continue;
		}
		if (rc != CURLE_OK) {
			*cause = xasprintf("%s: send: %s", c->label,
			    curl_easy_strerror(rc));
			return IMAP_TEMP;
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
	CURLcode	 rc;

	if (c->curl == NULL) {
		*cause = xasprintf("%s: connection closed", c->label);
		return IMAP_TEMP;
	}
	rc = curl_easy_recv(c->curl, p, cap, got);
	if (rc == CURLE_AGAIN)
		return 0;
	if (rc == CURLE_OK && *got == 0) {
		*cause = xasprintf("%s: server closed the connection",
		    c->label);
		return IMAP_TEMP;
	}
	if (rc != CURLE_OK) {
		*cause = xasprintf("%s: receive: %s", c->label,
		    curl_easy_strerror(rc));
		return IMAP_TEMP;
	}
	return 1;
}

/* Take what the connection has now: 1 got bytes, 0 nothing yet. */
static int
imap_recv_some(struct imap_conn *c, char **cause)
{
	char		 chunk[IMAP_READ_CHUNK];
	size_t		 got = 0;
	int		 n;

	if ((n = imap_transport_recv(c, chunk, sizeof chunk, &got,
	    cause)) != 1)
		return n;
	imap_compact(c);
	if (buf_add(&c->in, chunk, got) != 0) {
		*cause = xasprintf("%s: response too large", c->label);
		return IMAP_BAD;
	}
	return 1;
}

/* Read what is there; wait up to timeout_ms for something. */
static int
imap_fill(struct imap_conn *c, char **cause)
{
	struct pollfd	 pfd;
	int		 n;

	for (;;) {
		/* Drain first: TLS may hold bytes the socket no longer has. */
		if ((n = imap_recv_some(c, cause)) != 0)
			return n > 0 ? IMAP_OK : n;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		n = coro_wait(&pfd, 1, c->timeout_ms, false);
		if (n == 0 && coro_stopping()) {
			*cause = xasprintf("%s: no answer from the server; "
			    "shutting down", c->label);
			return IMAP_TEMP;
		}
		if (n == 0) {
			*cause = xasprintf("%s: no answer from the server "
			    "in %d s", c->label, c->timeout_ms / 1000);
			return IMAP_TEMP;
		}
		if (n < 0 && errno != EINTR) {
			*cause = xasprintf("%s: poll: %s", c->label,
			    strerror(errno));
			return IMAP_TEMP;
		}
	}
}

/* Drop consumed bytes from the front of the input once it pays. */
static void
imap_compact(struct imap_conn *c)
{
	if (c->in_off == 0)
		return;
	memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
	c->in.len -= c->in_off;
	c->in.data[c->in.len] = '\0';
	c->in_off = 0;
	/* A large message made the buffer grow: do not keep it for ever. */
	if (c->in.size > IMAP_IN_KEEP && c->in.len < IMAP_IN_KEEP / 2) {
		c->in.data = xreallocarray(c->in.data, 1, IMAP_IN_KEEP);
		c->in.size = IMAP_IN_KEEP;
	}
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

static int
imap_take_literal(struct imap_conn *c, struct imap_resp *r, size_t n,
    char **cause)
{
	int	 rc;

	if (n > c->max_literal) {
		*cause = xasprintf("%s: literal of %zu bytes is over the "
		    "limit of %zu", c->label, n, c->max_literal);
		return IMAP_BAD;
	}
	while (c->in.len - c->in_off < n) {
		if ((rc = imap_fill(c, cause)) != IMAP_OK)
			return rc;
	}
	if (buf_add(&r->line, "\r\n", 2) != 0 ||
	    buf_add(&r->line, c->in.data + c->in_off, n) != 0) {
		*cause = xasprintf("%s: response too large", c->label);
		return IMAP_BAD;
	}
	c->in_off += n;
	return IMAP_OK;
}

int
imap_read_resp(struct imap_conn *c, struct imap_resp *r, char **cause)
{
	size_t	 lit;
	int	 rc;

	buf_reset(&r->line);
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
	size_t		 n;

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
		/* The reader checked the size; the bytes follow "}\r\n". */
		for (n = 0, p++; p < end && *p >= '0' && *p <= '9'; p++)
			n = n * 10 + (size_t)(*p - '0');
		if (p < end && *p == '+')
			p++;
		if (end - p < 3 || p[0] != '}' || p[1] != '\r' ||
		    p[2] != '\n' || (size_t)(end - p - 3) < n) {
			t.type = IMAP_TOK_ERROR;
			break;
		}
		t.type = IMAP_TOK_STRING;
		t.p = p + 3;
		t.len = n;
		p = t.p + n;
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

int
imap_command(struct imap_conn *c, imap_untagged_cb cb, void *arg,
    char **cause, const char *fmt, ...)
{
	struct imap_resp r;
	va_list		 ap;
	char		*cmd, *line;
	int		 rc;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	snprintf(c->tagstr, sizeof c->tagstr, "F%u", ++c->tag);
	line = xasprintf("%s %s\r\n", c->tagstr, cmd);
	log_debug("%s: > %s %.*s", c->label, c->tagstr,
	    strncasecmp(cmd, "LOGIN", 5) == 0 ? 5 : 200, cmd);
	free(cmd);
	rc = imap_send(c, line, strlen(line), cause);
	free(line);
	if (rc != IMAP_OK)
		return rc;
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
	if ((q = imap_mailbox_arg(mailbox, cause)) == NULL)
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
			m->data = xmalloc(v.len + 1);
			memcpy(m->data, v.p, v.len);
			m->data[v.len] = '\0';
			m->len = v.len;
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

int
imap_fetch(struct imap_conn *c, const char *set, struct imap_message **out,
    size_t *n, char **cause)
{
	struct fetch_acc	 acc = { NULL, 0 };
	size_t			 i;
	int			 rc;

	rc = imap_command(c, fetch_cb, &acc, cause,
	    "UID FETCH %s (UID FLAGS BODY.PEEK[])", set);
	if (rc != IMAP_OK) {
		for (i = 0; i < acc.n; i++)
			free(acc.v[i].data);
		free(acc.v);
		return rc;
	}
	*out = acc.v;
	*n = acc.n;
	return IMAP_OK;
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
	int			 rc;

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
