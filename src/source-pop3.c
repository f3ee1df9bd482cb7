/*
 * The POP3 source, on a connection of our own reader (pop3.c) that libcurl
 * opened and logged in. One pass is one POP3 session: LIST and UIDL, then
 * RETR N for each message the journal does not already hold as finished,
 * and DELE N for finished ones when the account says `after: delete`.
 * When the server announces PIPELINING (RFC 2449), the RETRs of the next
 * messages are sent before the current one is processed (a bounded
 * window, by count and by the sizes LIST gave), so the server sends them
 * meanwhile; replies are read in the order the commands went out.
 * Deletions take effect only at QUIT, sent once every reply is read; if
 * the session dies before that, the journal still says the messages are
 * finished and the next pass deletes them.
 *
 * Message numbers are only meaningful inside the session that listed them:
 * the pass ends with the connection.
 *
 * A message's identity is (account, "", UIDL). Messages over the size cap
 * are left on the server with a warning.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "msg.h"
#include "pop3.h"
#include "prep.h"
#include "run.h"
#include "state.h"
#include "xmalloc.h"

#define POP3_MAX_MESSAGE	(64u * 1024 * 1024)
#define POP3_MAX_LISTING	(16u * 1024 * 1024)
#define POP3_MAX_UIDL		70	/* RFC 1939 */
#define POP3_MAX_MESSAGES	1000000
/* RETRs sent ahead of the one being read, at most: by count, by bytes. */
#define POP3_WINDOW		64
#define POP3_WINDOW_BYTES	((size_t)2 << 20)
/* Messages read and handed to the evaluation worker ahead of the one being
 * journaled, at most: by count, by bytes. */
#define POP3_AHEAD		128
#define POP3_AHEAD_BYTES	((size_t)4 << 20)

struct pop3_item {
	unsigned long	 num;
	size_t		 size;
	char		 uidl[POP3_MAX_UIDL + 1];
	bool		 fetch;		/* RETR it: not finished, not too big */
	bool		 sent;		/* its RETR went out */
	struct prep	*prep;		/* read ahead, being evaluated */
};

/* A command whose reply is still to be read. */
struct pop3_sent {
	bool		 retr;		/* RETR, else DELE */
	size_t		 item;
};

struct pop3_pass {
	struct runner		*runner;
	struct conf_account	*account;
	struct pop3_conn	 c;
	struct pop3_item	*v;
	size_t			 n;
	struct pop3_sent	*q;		/* unread replies, in order */
	size_t			 qhead, qlen, qsize;
	size_t			 next;		/* next item to RETR */
	size_t			 ahead;		/* RETRs unread */
	size_t			 ahead_bytes;
	size_t			 read;		/* next item to read ahead */
	size_t			 held;		/* messages read, not processed */
	size_t			 held_bytes;
};

static int	 pop3_parse_uidl(const char *, struct pop3_item **, size_t *,
		     char **);
static void	 pop3_parse_list(const char *, struct pop3_item *, size_t);
static int	 pop3_listing(struct pop3_pass *, char **);
static int	 pop3_body(struct pop3_conn *, size_t, size_t, struct buf *,
		     char **);
static void	 pop3_mark(struct pop3_pass *);
static int	 pop3_push(struct pop3_pass *, bool, size_t, char **);
static int	 pop3_send_ahead(struct pop3_pass *, char **);
static int	 pop3_read_head(struct pop3_pass *, struct buf *, char **);
static int	 pop3_retr(struct pop3_pass *, size_t, struct buf *, char **);
static int	 pop3_one(struct pop3_pass *, size_t, char **);
static int	 pop3_take(struct pop3_pass *, size_t, char **);
static int	 pop3_read_ahead(struct pop3_pass *, size_t, char **);
static int	 pop3_drain(struct pop3_pass *, char **);

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
		memset(&v[nv], 0, sizeof v[nv]);
		v[nv].num = num;
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
	size_t			 i, hint = 0;

	for (; *p != '\0'; p += strcspn(p, "\n"), p += *p == '\n') {
		num = strtoul(p, &end, 10);
		if (end == p || *end != ' ')
			continue;
		size = strtoull(end + 1, NULL, 10);
		/* Both listings usually come in the same order. */
		if (hint < n && v[hint].num == num) {
			v[hint++].size = size > SIZE_MAX ? SIZE_MAX :
			    (size_t)size;
			continue;
		}
		for (i = 0; i < n; i++) {
			if (v[i].num == num) {
				v[i].size = size > SIZE_MAX ? SIZE_MAX :
				    (size_t)size;
				hint = i + 1;
			}
		}
	}
}

/*
 * Read the body of a multi-line reply whose status is next into out
 * (capped at cap; sized for expect bytes up front).
 */
static int
pop3_body(struct pop3_conn *c, size_t expect, size_t cap, struct buf *out,
    char **cause)
{
	int	 rc;

	buf_free(out);
	buf_init(out, cap);
	/* Room for what LIST announced, so the body is not grown by
	 * doubling (and copied) as it comes. */
	if (expect > 0 && expect < cap) {
		out->data = xmalloc(expect + 1);
		out->size = expect + 1;
		out->data[0] = '\0';
	}
	if ((rc = pop3_status(c, true, NULL, cause)) != POP3_OK)
		return rc;
	return pop3_multiline(c, out, cause);
}

static int
pop3_listing(struct pop3_pass *p, char **cause)
{
	struct buf	 list;
	int		 rc;

	buf_init(&list, 0);
	if ((rc = pop3_send(&p->c, cause, "LIST")) != POP3_OK)
		goto out;
	if (p->c.pipelining &&
	    (rc = pop3_send(&p->c, cause, "UIDL")) != POP3_OK)
		goto out;
	if ((rc = pop3_body(&p->c, 0, POP3_MAX_LISTING, &list, cause)) !=
	    POP3_OK)
		goto out;
	if (!p->c.pipelining &&
	    (rc = pop3_send(&p->c, cause, "UIDL")) != POP3_OK)
		goto out;
	{
		struct buf	 uidl;

		buf_init(&uidl, 0);
		rc = pop3_body(&p->c, 0, POP3_MAX_LISTING, &uidl, cause);
		if (rc == POP3_OK && pop3_parse_uidl(uidl.data != NULL ?
		    uidl.data : "", &p->v, &p->n, cause) != 0)
			rc = POP3_BAD;
		buf_free(&uidl);
	}
	if (rc == POP3_OK)
		pop3_parse_list(list.data != NULL ? list.data : "", p->v, p->n);

out:
	buf_free(&list);
	return rc;
}

/* Which messages to RETR: not finished in the journal, not too big. */
static void
pop3_mark(struct pop3_pass *p)
{
	struct state_ident	 id;
	enum state_msg_status	 st;
	size_t			 i;

	memset(&id, 0, sizeof id);
	id.account = p->account->name;
	id.mailbox = "";
	for (i = 0; i < p->n; i++) {
		id.key = p->v[i].uidl;
		st = state_message_status(p->runner->state, &id, NULL);
		p->v[i].fetch = st != STATE_MSG_DONE &&
		    st != STATE_MSG_FAILED && p->v[i].size <= POP3_MAX_MESSAGE;
	}
}

/* Send RETR (retr) or DELE of item i and note its reply as due. */
static int
pop3_push(struct pop3_pass *p, bool retr, size_t i, char **cause)
{
	size_t	 k;
	int	 rc;

	rc = pop3_send(&p->c, cause, "%s %lu", retr ? "RETR" : "DELE",
	    p->v[i].num);
	if (rc != POP3_OK)
		return rc;
	if (p->qlen == p->qsize) {
		/* Grow the ring, oldest first. */
		struct pop3_sent *nq;

		nq = xreallocarray(NULL, p->qsize * 2 + 8, sizeof *nq);
		for (k = 0; k < p->qlen; k++)
			nq[k] = p->q[(p->qhead + k) % p->qsize];
		free(p->q);
		p->q = nq;
		p->qhead = 0;
		p->qsize = p->qsize * 2 + 8;
	}
	p->q[(p->qhead + p->qlen++) % p->qsize] = (struct pop3_sent){ retr,
	    i };
	if (retr) {
		p->v[i].sent = true;
		p->ahead++;
		p->ahead_bytes += p->v[i].size;
	}
	return POP3_OK;
}

/*
 * Send the RETRs of the next messages to fetch while the window allows:
 * one command at a time without PIPELINING; with it, up to POP3_WINDOW
 * messages and POP3_WINDOW_BYTES (one message at least), refilled once
 * half of it is read, so that the commands go out several at once.
 */
static int
pop3_send_ahead(struct pop3_pass *p, char **cause)
{
	int	 rc;

	if (p->c.pipelining && p->ahead > 0 && (p->ahead > POP3_WINDOW / 2 ||
	    p->ahead_bytes > POP3_WINDOW_BYTES / 2))
		return POP3_OK;
	for (;;) {
		while (p->next < p->n && !p->v[p->next].fetch)
			p->next++;
		if (p->next == p->n)
			return POP3_OK;
		if (!p->c.pipelining ? p->qlen > 0 : p->ahead > 0 &&
		    (p->ahead >= POP3_WINDOW || p->ahead_bytes +
		    p->v[p->next].size > POP3_WINDOW_BYTES))
			return POP3_OK;
		if ((rc = pop3_push(p, true, p->next, cause)) != POP3_OK)
			return rc;
		p->next++;
	}
}

/* Read the oldest reply due: a DELE's status, or a RETR's body into out. */
static int
pop3_read_head(struct pop3_pass *p, struct buf *out, char **cause)
{
	struct pop3_sent	 s = p->q[p->qhead];
	int			 rc;

	p->qhead = (p->qhead + 1) % p->qsize;
	p->qlen--;
	if (!s.retr) {
		if ((rc = pop3_status(&p->c, false, NULL, cause)) != POP3_OK)
			return rc;
		log_debug("%s: pop3: message %lu (%s): deleted at QUIT",
		    p->account->name, p->v[s.item].num, p->v[s.item].uidl);
		return POP3_OK;
	}
	p->ahead--;
	p->ahead_bytes -= p->v[s.item].size;
	return pop3_body(&p->c, p->v[s.item].size, POP3_MAX_MESSAGE, out,
	    cause);
}

/* The message of item i, fetched: its RETR sent if it was not yet, every
 * reply due before it read. */
static int
pop3_retr(struct pop3_pass *p, size_t i, struct buf *out, char **cause)
{
	int	 rc;

	while (!p->v[i].sent) {
		if (p->qlen > 0 && (rc = pop3_read_head(p, out, cause)) !=
		    POP3_OK)
			return rc;
		if ((rc = pop3_send_ahead(p, cause)) != POP3_OK)
			return rc;
	}
	for (;;) {
		if (p->qlen == 0)
			fatal("pop3_retr: the RETR of %zu is not due", i);
		if (p->q[p->qhead].retr && p->q[p->qhead].item != i)
			fatal("pop3_retr: replies out of order");
		if (p->q[p->qhead].retr)
			return pop3_read_head(p, out, cause);
		if ((rc = pop3_read_head(p, out, cause)) != POP3_OK)
			return rc;
	}
}

/* The message of item i, read and handed to the evaluation worker. */
static int
pop3_take(struct pop3_pass *p, size_t i, char **cause)
{
	struct buf	 body;
	size_t		 len;
	char		*data;

	buf_init(&body, 0);
	if (pop3_retr(p, i, &body, cause) != POP3_OK) {
		buf_free(&body);
		return -1;
	}
	data = buf_steal(&body, &len);
	p->v[i].prep = prep_submit(p->account, data, len);
	return 0;
}

/*
 * With PIPELINING, read the messages after item i while the worker
 * evaluates: up to POP3_AHEAD of them and POP3_AHEAD_BYTES by the sizes
 * LIST gave (so that one slow message does not leave the worker without
 * work once it is through), a large message only when its turn comes.
 */
static int
pop3_read_ahead(struct pop3_pass *p, size_t i, char **cause)
{
	struct pop3_item	*it;

	if (!p->c.pipelining)
		return 0;
	if (p->read <= i)
		p->read = i + 1;
	for (; p->read < p->n; p->read++) {
		it = &p->v[p->read];
		if (!it->fetch)
			continue;
		if (p->held >= POP3_AHEAD ||
		    p->held_bytes + it->size > POP3_AHEAD_BYTES)
			return 0;
		if (pop3_take(p, p->read, cause) != 0)
			return -1;
		p->held++;
		p->held_bytes += it->size;
	}
	return 0;
}

/*
 * One message: skip the RETR when the journal holds it finished (or it is
 * too big); else fetch it (unless it was read ahead) and hand it to the
 * runner. Then the after-policy. Returns -1 only when the session is
 * unusable.
 */
static int
pop3_one(struct pop3_pass *p, size_t i, char **cause)
{
	struct conf_account	*a = p->account;
	struct pop3_item	*it = &p->v[i];
	enum process_result	 pr = PROCESS_DONE;

	if (!it->fetch && it->size > POP3_MAX_MESSAGE) {
		log_warn("%s: pop3: message %lu (%s): %zu bytes, over the "
		    "cap of %u: left on the server", a->name, it->num,
		    it->uidl, it->size, POP3_MAX_MESSAGE);
		return 0;
	}
	if (it->fetch) {
		if (it->prep != NULL) {
			p->held--;
			p->held_bytes -= it->size;
		} else if (pop3_take(p, i, cause) != 0)
			return -1;
		/* Read the next ones while this one is evaluated, and ask
		 * for more before the work on it (only with PIPELINING:
		 * else a DELE may have to go first). */
		if (pop3_read_ahead(p, i, cause) != 0 ||
		    (p->c.pipelining && pop3_send_ahead(p, cause) != POP3_OK))
			return -1;
		pr = runner_process_prep(p->runner, a, "", it->uidl,
		    (uint32_t)it->num, it->prep);
		it->prep = NULL;
	}
	if (pr != PROCESS_DONE || a->after != AFTER_DELETE)
		return 0;
	return pop3_push(p, false, i, cause) == POP3_OK ? 0 : -1;
}

/* Read every reply still due (RETRs asked ahead are dropped). */
static int
pop3_drain(struct pop3_pass *p, char **cause)
{
	struct buf	 body;
	int		 rc = POP3_OK;

	buf_init(&body, 0);
	while (p->qlen > 0 && rc == POP3_OK)
		rc = pop3_read_head(p, &body, cause);
	buf_free(&body);
	return rc;
}

int
source_pop3_sync(struct runner *r, struct conf_account *a, char **cause)
{
	struct pop3_pass	 p;
	char			*password = NULL, *err = NULL;
	size_t			 i;
	int			 rc = -1, st;

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
	memset(&p, 0, sizeof p);
	p.runner = r;
	p.account = a;
	st = pop3_connect(&p.c, a, password, cause);
	explicit_bzero(password, strlen(password));
	free(password);
	if (st != POP3_OK)
		return -1;
	if (pop3_listing(&p, cause) != POP3_OK)
		goto fail;
	log_debug("%s: pop3: %zu message(s) on the server", a->name, p.n);
	pop3_mark(&p);
	for (i = 0; i < p.n && (r->stop == NULL || !*r->stop); i++) {
		if (pop3_one(&p, i, cause) != 0)
			goto fail;
	}
	/*
	 * QUIT commits the DELEs once every reply is read; the journal's
	 * record of those messages is committed first, or there is no QUIT
	 * and the server deletes nothing.
	 */
	if (pop3_drain(&p, cause) != POP3_OK ||
	    runner_commit_before_after(r, a, cause) != 0)
		goto fail;
	rc = 0;
	if (pop3_quit(&p.c, &err) != POP3_OK) {
		log_warn("%s: pop3: QUIT: %s", a->name, err);
		free(err);
	}
	goto out;

fail:
	pop3_close(&p.c);
out:
	/* Read ahead, not processed (stopped, failed): next pass. */
	for (i = 0; i < p.n; i++)
		prep_drop(p.v[i].prep);
	free(p.v);
	free(p.q);
	return rc;
}
