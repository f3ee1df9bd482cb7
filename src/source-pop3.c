/*
 * The POP3 source, on libcurl's pop3:// and pop3s:// (see DESIGN.md for
 * what libcurl 7.88.1 does there). One pass is one POP3 session on one easy
 * handle: LIST and UIDL as custom requests (multi-line listings come through
 * the write callback), then RETR N by URL for each message the journal does
 * not already hold as finished, and DELE N for finished ones when the
 * account says `after: delete`. Deletions take effect only at QUIT, which
 * curl_easy_cleanup sends; if the session dies before that, the journal
 * still says the messages are finished and the next pass deletes them.
 *
 * Message numbers are only meaningful inside the session that listed them,
 * so the pass stops as soon as libcurl had to open a new connection.
 *
 * A message's identity is (account, "", UIDL). Messages over the size cap
 * are left on the server with a warning.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "conf.h"
#include "log.h"
#include "net.h"
#include "run.h"
#include "state.h"
#include "xmalloc.h"

#define POP3_MAX_MESSAGE	(64u * 1024 * 1024)
#define POP3_MAX_LISTING	(16u * 1024 * 1024)
#define POP3_MAX_UIDL		70	/* RFC 1939 */
#define POP3_MAX_MESSAGES	1000000

struct pop3_item {
	unsigned long	 num;
	size_t		 size;
	char		 uidl[POP3_MAX_UIDL + 1];
};

struct pop3_session {
	CURL		*curl;
	struct conf_account *account;
	char		*base;		/* pop3[s]://host:port */
	struct buf	 body;		/* what the write callback gets */
	int		 transfers;	/* performs done on this session */
	char		 errbuf[CURL_ERROR_SIZE];
};

static size_t	 pop3_write(char *, size_t, size_t, void *);
static void	 pop3_open(struct pop3_session *, struct conf_account *,
		     const char *);
static void	 pop3_close(struct pop3_session *);
static int	 pop3_perform(struct pop3_session *, const char *, int,
		     size_t, char **);
static int	 pop3_listing(struct pop3_session *, struct pop3_item **,
		     size_t *, char **);
static int	 pop3_parse_uidl(const char *, struct pop3_item **, size_t *,
		     char **);
static void	 pop3_parse_list(const char *, struct pop3_item *, size_t);
static int	 pop3_one(struct runner *, struct pop3_session *,
		     const struct pop3_item *, char **);
static int	 pop3_dele(struct pop3_session *, unsigned long, char **);

static size_t
pop3_write(char *p, size_t size, size_t n, void *arg)
{
	struct pop3_session	*s = arg;

	/* Returning less than given stops the transfer (over the cap). */
	if (buf_add(&s->body, p, size * n) != 0)
		return 0;
	return size * n;
}

static void
pop3_open(struct pop3_session *s, struct conf_account *a,
    const char *password)
{
	char	*opts;

	memset(s, 0, sizeof *s);
	s->account = a;
	buf_init(&s->body, POP3_MAX_LISTING);
	if ((s->curl = curl_easy_init()) == NULL)
		fatal("curl_easy_init");
	if (a->port != 0)
		s->base = xasprintf("%s://%s:%d", a->tls ? "pop3s" : "pop3",
		    a->host, a->port);
	else
		s->base = xasprintf("%s://%s", a->tls ? "pop3s" : "pop3",
		    a->host);
	curl_easy_setopt(s->curl, CURLOPT_USERNAME, a->user);
	curl_easy_setopt(s->curl, CURLOPT_PASSWORD, password);
	/* libcurl picks the strongest mechanism and never falls back: pin. */
	opts = xasprintf("AUTH=%s", a->auth != NULL ? a->auth : "PLAIN");
	curl_easy_setopt(s->curl, CURLOPT_LOGIN_OPTIONS, opts);
	free(opts);
	net_setup_account(s->curl, a);
	/* Slow actions between two transfers must not make libcurl drop
	 * the session: its message numbers (and pending DELEs) live there. */
	curl_easy_setopt(s->curl, CURLOPT_MAXAGE_CONN, 600L);
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, pop3_write);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
}

/* curl_easy_cleanup sends QUIT: that commits the DELEs of the session. */
static void
pop3_close(struct pop3_session *s)
{
	if (s->curl != NULL) {
		net_release(s->curl);
		curl_easy_cleanup(s->curl);
	}
	s->curl = NULL;
	buf_free(&s->body);
	free(s->base);
	s->base = NULL;
}

/*
 * One transfer on the session. what is a custom command (LIST, UIDL, DELE)
 * or NULL for RETR; num > 0 puts the message number in the URL. The body
 * lands in s->body, capped at cap. A transfer that needed a new connection
 * (after the first) fails: message numbers from the old session are void.
 */
static int
pop3_perform(struct pop3_session *s, const char *what, int num, size_t cap,
    char **cause)
{
	char		*url;
	long		 connects = 0;
	CURLcode	 rc;

	buf_free(&s->body);
	buf_init(&s->body, cap);
	if (num > 0)
		url = xasprintf("%s/%d", s->base, num);
	else
		url = xasprintf("%s/", s->base);
	curl_easy_setopt(s->curl, CURLOPT_URL, url);
	curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, what);
	/* Single-line commands hang unless told there is no body. */
	curl_easy_setopt(s->curl, CURLOPT_NOBODY, what != NULL &&
	    strcmp(what, "DELE") == 0 ? 1L : 0L);
	s->errbuf[0] = '\0';
	rc = net_perform_keep(s->curl);
	free(url);
	if (rc != CURLE_OK) {
		*cause = xasprintf("%s: %s: %s", s->base,
		    what != NULL ? what : "RETR", rc == CURLE_WRITE_ERROR ?
		    "response over the size cap" : s->errbuf[0] != '\0' ?
		    s->errbuf : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(s->curl, CURLINFO_NUM_CONNECTS, &connects);
	if (s->transfers++ > 0 && connects > 0) {
		*cause = xasprintf("%s: the POP3 session was lost; message "
		    "numbers no longer hold", s->base);
		return -1;
	}
	return 0;
}

/* "N UIDL" lines into items, in server order. */
static int
pop3_parse_uidl(const char *text, struct pop3_item **out, size_t *n,
    char **cause)
{
	struct pop3_item	*v = NULL;
	const char		*p = text, *e;
	char			*end;
	size_t			 len, nv = 0;
	unsigned long		 num;

	for (; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, "\n");
		if (e == p || (e == p + 1 && *p == '\r'))
			continue;
		num = strtoul(p, &end, 10);
		if (end == p || *end != ' ' || num == 0 || num > INT32_MAX)
			goto bad;
		p = end + 1;
		len = (size_t)(e - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0 || len > POP3_MAX_UIDL)
			goto bad;
		if (nv == POP3_MAX_MESSAGES)
			goto bad;
		v = xreallocarray(v, nv + 1, sizeof *v);
		v[nv].num = num;
		v[nv].size = 0;
		memcpy(v[nv].uidl, p, len);
		v[nv].uidl[len] = '\0';
		for (end = v[nv].uidl; *end != '\0'; end++)
			if (*end < 0x21 || *end > 0x7e)
				goto bad;
		nv++;
	}
	*out = v;
	*n = nv;
	return 0;

bad:
	free(v);
	*cause = xstrdup("UIDL: malformed listing from the server");
	return -1;
}

/* "N SIZE" lines: fill the size of each listed item. */
static void
pop3_parse_list(const char *text, struct pop3_item *v, size_t n)
{
	const char		*p = text;
	char			*end;
	unsigned long		 num;
	unsigned long long	 size;
	size_t			 i;

	for (; *p != '\0'; p += strcspn(p, "\n"), p += *p == '\n') {
		num = strtoul(p, &end, 10);
		if (end == p || *end != ' ')
			continue;
		size = strtoull(end + 1, NULL, 10);
		for (i = 0; i < n; i++) {
			if (v[i].num == num)
				v[i].size = size > SIZE_MAX ? SIZE_MAX :
				    (size_t)size;
		}
	}
}

static int
pop3_listing(struct pop3_session *s, struct pop3_item **v, size_t *n,
    char **cause)
{
	char	*list;

	if (pop3_perform(s, "LIST", 0, POP3_MAX_LISTING, cause) != 0)
		return -1;
	list = buf_steal(&s->body, NULL);
	if (pop3_perform(s, "UIDL", 0, POP3_MAX_LISTING, cause) != 0 ||
	    pop3_parse_uidl(s->body.data != NULL ? s->body.data : "", v, n,
	    cause) != 0) {
		free(list);
		return -1;
	}
	pop3_parse_list(list != NULL ? list : "", *v, *n);
	free(list);
	return 0;
}

static int
pop3_dele(struct pop3_session *s, unsigned long num, char **cause)
{
	return pop3_perform(s, "DELE", (int)num, 0, cause);
}

/*
 * One message: skip the RETR when the journal holds it finished; else
 * fetch it and hand it to the runner. Then the after-policy. Returns -1
 * only when the session is unusable.
 */
static int
pop3_one(struct runner *r, struct pop3_session *s, const struct pop3_item *it,
    char **cause)
{
	struct conf_account	*a = s->account;
	struct state_ident	 id;
	enum process_result	 pr;
	enum state_msg_status	 st;

	memset(&id, 0, sizeof id);
	id.account = a->name;
	id.mailbox = "";
	id.key = it->uidl;
	st = state_message_status(r->state, &id, NULL);
	if (st == STATE_MSG_DONE || st == STATE_MSG_FAILED)
		pr = PROCESS_DONE;
	else if (it->size > POP3_MAX_MESSAGE) {
		log_warn("%s: pop3: message %lu (%s): %zu bytes, over the "
		    "cap of %u: left on the server", a->name, it->num,
		    it->uidl, it->size, POP3_MAX_MESSAGE);
		return 0;
	} else {
		if (pop3_perform(s, NULL, (int)it->num, POP3_MAX_MESSAGE,
		    cause) != 0)
			return -1;
		pr = runner_process(r, a, "", it->uidl, (uint32_t)it->num,
		    s->body.data != NULL ? s->body.data : "", s->body.len);
	}
	if (pr != PROCESS_DONE || a->after != AFTER_DELETE)
		return 0;
	if (runner_commit_before_after(r, a, cause) != 0 ||
	    pop3_dele(s, it->num, cause) != 0)
		return -1;
	log_debug("%s: pop3: message %lu (%s): deleted at QUIT", a->name,
	    it->num, it->uidl);
	return 0;
}

int
source_pop3_sync(struct runner *r, struct conf_account *a, char **cause)
{
	struct pop3_session	 s;
	struct pop3_item	*v = NULL;
	char			*password = NULL;
	size_t			 i, n = 0;
	int			 rc = -1;

	if (a->after == AFTER_SEEN || a->after == AFTER_MOVE)
		log_warn("%s: pop3 has no seen flag or folders: after-policy "
		    "treated as keep", a->name);
	if (a->oauth2_argv != NULL) {
		*cause = xstrdup("pop3: oauth2 is not supported, use a "
		    "password");
		return -1;
	}
	if (secret_get(&a->password, &password, cause) != 0)
		return -1;
	pop3_open(&s, a, password);
	if (pop3_listing(&s, &v, &n, cause) != 0)
		goto fail;
	log_debug("%s: pop3: %zu message(s) on the server", a->name, n);
	for (i = 0; i < n && (r->stop == NULL || !*r->stop); i++) {
		if (pop3_one(r, &s, &v[i], cause) != 0)
			goto fail;
	}
	rc = 0;

fail:
	free(v);
	pop3_close(&s);
	explicit_bzero(password, strlen(password));
	free(password);
	return rc;
}
