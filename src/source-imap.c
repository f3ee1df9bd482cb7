/*
 * The IMAP source: for each mailbox of the account, SELECT, list the UIDs
 * above the last one finished with their sizes, fetch them in batches
 * bounded by count and bytes with BODY.PEEK[] (never setting \Seen),
 * handing each message to the evaluation workers as it arrives (prep.h)
 * and the batches read ahead to the runner in order (sync_all), then apply
 * the account's after policy to the finished ones. The last UID saved only
 * moves past messages that are finished, so a pending one is fetched again
 * next time, and the journal resumes it without evaluating the rules
 * again.
 *
 * A UIDVALIDITY change restarts from UID 1; messages already processed are
 * recognised in the journal by their bytes and Message-ID.
 *
 * Sizes are asked first (RFC822.SIZE): a message larger than the reader
 * takes is left in the mailbox with a warning, and the saved UID moves past
 * it, so one huge message neither fails its whole batch nor blocks the
 * mailbox.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "conf.h"
#include "imap.h"
#include "log.h"
#include "msg.h"
#include "prep.h"
#include "run.h"
#include "state.h"
#include "source-imap.h"
#include "xmalloc.h"

/* A batch: at most this many messages, and this many bytes unless one
 * message alone is larger (each batch costs a journal commit and a round
 * trip during which the server waits: 1 MB batches fetched the corpus
 * about a tenth slower). */
#define FETCH_BATCH		250
#define FETCH_BATCH_BYTES	((size_t)2 << 20)
/* Batches read and handed to the evaluation worker ahead of the one being
 * journaled: at most this many, and this many bytes. */
#define FETCH_AHEAD		8
#define FETCH_AHEAD_BYTES	((size_t)4 << 20)

/* The new UIDs of a mailbox, with the size the server gave for each. */
struct uid_size {
	uint32_t	 uid;
	uint32_t	 size;
	bool		 sized;		/* RFC822.SIZE was there */
};

struct uid_list {
	struct uid_size	*v;
	size_t		 n;
	uint32_t	 from;
};

/* A batch read: the part [i, j) of the list (size bytes by the listing),
 * its messages in UID order, each handed to the evaluation worker
 * (prep.h); p[k] is taken by the runner or dropped. */
struct read_batch {
	size_t		 i, j;
	size_t		 size;
	uint32_t	*uid;
	struct prep	**p;
	size_t		 n;
};

static int	 list_new(struct imap_conn *, uint32_t, struct uid_list *,
		     char **);
static int	 size_cb(struct imap_conn *, struct imap_resp *, void *,
		     char **);
static int	 uid_size_cmp(const void *, const void *);
static bool	 over_cap(const struct imap_conn *, const struct uid_size *);
static size_t	 batch_end(const struct imap_conn *, const struct uid_list *,
		     size_t);
static int	 batch_start(struct imap_conn *, const struct uid_list *,
		     size_t, size_t, bool *, char **);
static int	 batch_read(struct runner *, struct conf_account *,
		     struct imap_conn *, const struct uid_list *, size_t,
		     size_t, bool *, struct read_batch *, char **);
static bool	 batch_large(const struct uid_list *, size_t, size_t);
static size_t	 batch_bytes(const struct uid_list *, size_t, size_t);
static int	 batch_next(struct runner *, struct imap_conn *,
		     const struct uid_list *, size_t, size_t *, bool *,
		     char **);
static void	 batch_free(struct read_batch *);
static void	 sync_batch(struct runner *, struct conf_account *,
		     struct imap_conn *, const char *, const struct uid_list *,
		     struct read_batch *, uint32_t *, bool *);
static int	 sync_all(struct runner *, struct conf_account *,
		     struct imap_conn *, const char *, const struct uid_list *,
		     uint32_t *, char **);
static enum process_result sync_one(struct runner *, struct conf_account *,
		    struct imap_conn *, const char *, uint32_t,
		    struct prep *);
static char	*uid_set(const struct uid_size *, size_t, size_t,
		     const struct imap_conn *);
static int	 apply_after(struct runner *, struct conf_account *,
		     struct imap_conn *, const char *, uint32_t, char **);
static int	 msg_uid_cmp(const void *, const void *);
static void	 messages_free(struct imap_message *, size_t);


/* "1,3:5,9" from the part [i, j) of a sorted list, without the messages
 * over the cap; NULL when none is left. */
static char *
uid_set(const struct uid_size *v, size_t i, size_t j,
    const struct imap_conn *c)
{
	struct buf	 b;
	size_t		 k;
	uint32_t	 lo, hi;

	buf_init(&b, SIZE_MAX);
	for (; i < j; i = k) {
		if (over_cap(c, &v[i])) {
			k = i + 1;
			continue;
		}
		lo = hi = v[i].uid;
		for (k = i + 1; k < j && !over_cap(c, &v[k]) &&
		    v[k].uid == hi + 1; k++)
			hi = v[k].uid;
		if (b.len > 0)
			buf_add(&b, ",", 1);
		if (hi > lo)
			buf_printf(&b, "%" PRIu32 ":%" PRIu32, lo, hi);
		else
			buf_printf(&b, "%" PRIu32, lo);
	}
	if (b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

static int
msg_uid_cmp(const void *a, const void *b)
{
	uint32_t	 x = ((const struct imap_message *)a)->uid;
	uint32_t	 y = ((const struct imap_message *)b)->uid;

	return x < y ? -1 : x > y;
}

static int
uid_size_cmp(const void *a, const void *b)
{
	uint32_t	 x = ((const struct uid_size *)a)->uid;
	uint32_t	 y = ((const struct uid_size *)b)->uid;

	return x < y ? -1 : x > y;
}

/* One "* N FETCH (UID u RFC822.SIZE s)": note u (if >= from) and s. */
static int
size_cb(struct imap_conn *c, struct imap_resp *r, void *arg, char **cause)
{
	struct uid_list	*l = arg;
	struct imap_tok	 t, v;
	uint32_t	 uid = 0, size = 0;
	bool		 sized = false;
	int		 depth;

	(void)c;
	(void)cause;
	imap_next(r);			/* "*" */
	imap_next(r);			/* sequence number */
	t = imap_next(r);
	if (!imap_tok_is(&t, "FETCH") || imap_next(r).type != IMAP_TOK_OPEN)
		goto out;
	while ((t = imap_next(r)).type == IMAP_TOK_ATOM) {
		v = imap_next(r);
		if (imap_tok_is(&t, "UID"))
			imap_tok_u32(&v, &uid);
		else if (imap_tok_is(&t, "RFC822.SIZE"))
			sized = imap_tok_u32(&v, &size) == 0;
		/* Skip a list value (FLAGS the server adds on its own). */
		for (depth = v.type == IMAP_TOK_OPEN; depth > 0;) {
			v = imap_next(r);
			if (v.type == IMAP_TOK_OPEN)
				depth++;
			else if (v.type == IMAP_TOK_CLOSE)
				depth--;
			else if (v.type == IMAP_TOK_END ||
			    v.type == IMAP_TOK_ERROR)
				goto out;
		}
	}
	/* "n:*" always names the last message, even below n. */
	if (uid != 0 && uid >= l->from) {
		l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
		l->v[l->n].uid = uid;
		l->v[l->n].size = size;
		l->v[l->n++].sized = sized;
	}
out:
	r->pos = 0;
	return IMAP_OK;
}

/*
 * The UIDs from `from` up, in order, each with its size: one UID FETCH of
 * RFC822.SIZE, which also says which messages are too large to take.
 */
static int
list_new(struct imap_conn *c, uint32_t from, struct uid_list *l,
    char **cause)
{
	size_t	 i, k;
	int	 rc;

	memset(l, 0, sizeof *l);
	l->from = from;
	rc = imap_command(c, size_cb, l, cause,
	    "UID FETCH %" PRIu32 ":* (UID RFC822.SIZE)", from);
	if (rc != IMAP_OK) {
		free(l->v);
		l->v = NULL;
		l->n = 0;
		return rc;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, uid_size_cmp);
	/* A server may answer a UID twice (an unsolicited FETCH). */
	for (i = k = 0; i < l->n; i++)
		if (k == 0 || l->v[k - 1].uid != l->v[i].uid)
			l->v[k++] = l->v[i];
	l->n = k;
	return IMAP_OK;
}

static bool
over_cap(const struct imap_conn *c, const struct uid_size *u)
{
	return u->sized && u->size > c->max_literal;
}

/* The end of the batch that starts at i: by count and by bytes. */
static size_t
batch_end(const struct imap_conn *c, const struct uid_list *l, size_t i)
{
	size_t	 j, bytes = 0, count = 0;

	for (j = i; j < l->n && count < FETCH_BATCH; j++) {
		if (over_cap(c, &l->v[j]))
			continue;
		if (count > 0 && bytes + l->v[j].size > FETCH_BATCH_BYTES)
			break;
		bytes += l->v[j].size;
		count++;
	}
	return j;
}

/* Send the UID FETCH of the batch [i, j); *open says if one was sent. */
static int
batch_start(struct imap_conn *c, const struct uid_list *l, size_t i,
    size_t j, bool *open, char **cause)
{
	char	*set;
	int	 rc;

	*open = false;
	if ((set = uid_set(l->v, i, j, c)) == NULL)
		return IMAP_OK;
	rc = imap_fetch_start(c, set, cause);
	free(set);
	*open = rc == IMAP_OK;
	return rc;
}

static void
messages_free(struct imap_message *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i].data);
	free(v);
}

/*
 * The after policy is the server actions' work: flag \Seen, delete, or
 * move (MOVE or COPY + \Deleted + EXPUNGE, a missing folder created, the
 * name in modified UTF-7, our expunges counted for IDLE).
 */
static int
apply_after(struct runner *r, struct conf_account *a, struct imap_conn *c,
    const char *mailbox, uint32_t uid, char **cause)
{
	struct action_ctx	 ctx;
	const struct action_ops	*ops;
	enum action_result	 res;
	json_t			*fields;
	bool			 gone = false;

	if (runner_commit_before_after(r, a, cause) != 0)
		return IMAP_TEMP;
	switch (a->after) {
	case AFTER_SEEN:
		ops = &action_flag_ops;
		fields = json_pack("{s:[s],s:[]}", "add", "\\Seen", "remove");
		break;
	case AFTER_MOVE:
		ops = &action_move_ops;
		fields = json_pack("{s:s}", "folder", a->after_folder);
		break;
	case AFTER_DELETE:
		ops = &action_delete_ops;
		fields = json_object();
		break;
	default:
		return IMAP_OK;
	}
	if (fields == NULL) {
		*cause = xasprintf("folder name '%s' is not valid UTF-8",
		    a->after_folder);
		return IMAP_NO;
	}
	memset(&ctx, 0, sizeof ctx);
	ctx.conf = r->conf;
	ctx.account = a;
	ctx.state = r->state;
	ctx.mailbox = mailbox;
	ctx.ident = "after";
	ctx.uid = uid;
	ctx.imap = c;
	ctx.gone = &gone;
	res = ops->exec(&ctx, fields, cause);
	json_decref(fields);
	if (res == ACTION_OK)
		return IMAP_OK;
	return res == ACTION_TEMP ? IMAP_TEMP : IMAP_NO;
}

/* Process one message, then apply the after policy if it is finished. */
static enum process_result
sync_one(struct runner *r, struct conf_account *a, struct imap_conn *c,
    const char *mailbox, uint32_t uid, struct prep *p)
{
	enum process_result	 pr;
	char			 key[32], *err = NULL;

	snprintf(key, sizeof key, "%" PRIu32 "/%" PRIu32, c->uidvalidity,
	    uid);
	r->imap = c;
	pr = runner_process_prep(r, a, mailbox, key, uid, p);
	r->imap = NULL;
	if (pr == PROCESS_DONE && !r->gone &&
	    apply_after(r, a, c, mailbox, uid, &err) != IMAP_OK) {
		log_warn("%s: %s: uid %" PRIu32 ": after-policy: %s", a->name,
		    mailbox, uid, err);
		free(err);
		pr = PROCESS_PENDING;
	}
	return pr;
}

/*
 * Hand the fetched messages of the batch to the runner in UID order (a UID
 * that vanished meanwhile has no message). The saved UID moves past
 * finished messages and those over the cap, never past one still pending.
 */
static void
sync_batch(struct runner *r, struct conf_account *a, struct imap_conn *c,
    const char *mailbox, const struct uid_list *l, struct read_batch *f,
    uint32_t *last, bool *blocked)
{
	size_t	 k, m = 0;

	for (k = f->i; k < f->j; k++) {
		if (over_cap(c, &l->v[k])) {
			log_warn("%s: %s: uid %" PRIu32 ": %" PRIu32 " bytes, "
			    "over the cap of %zu: left in the mailbox",
			    a->name, mailbox, l->v[k].uid, l->v[k].size,
			    c->max_literal);
			if (!*blocked)
				*last = l->v[k].uid;
			continue;
		}
		while (m < f->n && f->uid[m] < l->v[k].uid)
			m++;
		if (m == f->n || f->uid[m] != l->v[k].uid)
			continue;
		if (sync_one(r, a, c, mailbox, f->uid[m], f->p[m]) !=
		    PROCESS_DONE)
			*blocked = true;
		f->p[m] = NULL;
		if (!*blocked)
			*last = f->uid[m];
	}
}

/*
 * Read the batch [i, j) asked for (*open) to its end: its messages go to
 * the evaluation worker at once. No journal transaction stays open across
 * the wait.
 */
static int
batch_read(struct runner *r, struct conf_account *a, struct imap_conn *c,
    const struct uid_list *l, size_t i, size_t j, bool *open,
    struct read_batch *f, char **cause)
{
	struct imap_message	*v = NULL;
	size_t			 nv = 0, k;
	int			 rc;

	memset(f, 0, sizeof *f);
	f->i = i;
	f->j = j;
	f->size = batch_bytes(l, i, j);
	if (!*open)
		return IMAP_OK;
	*open = false;
	runner_commit(r);
	if ((rc = imap_fetch_finish(c, &v, &nv, cause)) != IMAP_OK)
		return rc;
	if (nv > 1)
		qsort(v, nv, sizeof *v, msg_uid_cmp);
	f->uid = xcalloc(nv, sizeof *f->uid);
	f->p = xcalloc(nv, sizeof *f->p);
	for (k = 0; k < nv; k++) {
		f->uid[k] = v[k].uid;
		/* The message takes the fetched bytes: no copy. */
		f->p[k] = prep_submit(a, v[k].data, v[k].len);
		v[k].data = NULL;
	}
	f->n = nv;
	messages_free(v, nv);
	return IMAP_OK;
}

/* The batch [i, j) is one message larger than a batch's bytes. */
static bool
batch_large(const struct uid_list *l, size_t i, size_t j)
{
	return j == i + 1 && l->v[i].size > FETCH_BATCH_BYTES;
}

/* Messages not handed to the runner (stopped, failed) are dropped. */
static void
batch_free(struct read_batch *f)
{
	size_t	 k;

	for (k = 0; k < f->n; k++)
		prep_drop(f->p[k]);
	free(f->p);
	free(f->uid);
	memset(f, 0, sizeof *f);
}

/* Ask for the batch that starts at i, if any is left and the runner is
 * not stopping: it ends at *j. */
static int
batch_next(struct runner *r, struct imap_conn *c, const struct uid_list *l,
    size_t i, size_t *j, bool *open, char **cause)
{
	*j = i;
	*open = false;
	if (i == l->n || (r->stop != NULL && *r->stop))
		return IMAP_OK;
	*j = batch_end(c, l, i);
	return batch_start(c, l, i, *j, open, cause);
}

/* The bytes of the batch [i, j), by the sizes the server gave. */
static size_t
batch_bytes(const struct uid_list *l, size_t i, size_t j)
{
	size_t	 n = 0;

	for (; i < j; i++)
		n += l->v[i].size;
	return n;
}

/*
 * Every batch in turn, in a pipeline: while the runner journals the
 * messages of the oldest batch read, the worker evaluates those of the
 * batches read after it (up to FETCH_AHEAD_BYTES of them, so that one slow
 * message does not leave the worker without work once it is through), and
 * the server sends the next one. A batch that is one message larger than a
 * batch's bytes is read only once every batch before it is done with, so
 * that it never sits in memory with anything else. A command of an action
 * or of the after-policy first reads the batch asked for to its end (see
 * imap_fetch_start() in imap.h), so nothing interleaves with it.
 */
static int
sync_all(struct runner *r, struct conf_account *a, struct imap_conn *c,
    const char *mailbox, const struct uid_list *l, uint32_t *last,
    char **cause)
{
	struct read_batch	 q[FETCH_AHEAD];
	struct imap_message	*v;
	size_t			 head = 0, n = 0, held = 0, i, j, nv;
	bool			 open, blocked = false;
	char			*err = NULL;
	int			 rc;

	/* [i, j): the batch asked for (none when i == j). */
	i = 0;
	if ((rc = batch_next(r, c, l, i, &j, &open, cause)) != IMAP_OK)
		return rc;
	for (;;) {
		while (i < j && n < FETCH_AHEAD && (n == 0 ||
		    (!batch_large(l, i, j) &&
		    held + batch_bytes(l, i, j) <= FETCH_AHEAD_BYTES))) {
			if ((rc = batch_read(r, a, c, l, i, j, &open,
			    &q[(head + n) % FETCH_AHEAD], cause)) != IMAP_OK)
				goto out;
			held += q[(head + n) % FETCH_AHEAD].size;
			n++;
			i = j;
			if ((rc = batch_next(r, c, l, i, &j, &open, cause)) !=
			    IMAP_OK)
				goto out;
		}
		if (n == 0)
			break;
		sync_batch(r, a, c, mailbox, l, &q[head], last, &blocked);
		held -= q[head].size;
		batch_free(&q[head]);
		head = (head + 1) % FETCH_AHEAD;
		n--;
		if (r->stop != NULL && *r->stop)
			break;
	}
out:
	for (; n > 0; n--, head = (head + 1) % FETCH_AHEAD)
		batch_free(&q[head]);
	/* Stopped with a batch asked for: read it, drop it. */
	if (open && imap_fetch_finish(c, &v, &nv, &err) == IMAP_OK)
		messages_free(v, nv);
	free(err);
	return rc;
}

int
source_imap_sync_mailbox(struct runner *r, struct conf_account *a,
    struct imap_conn *c, const char *mailbox, char **cause)
{
	struct uid_list	 l;
	uint32_t	 uidvalidity = 0, last = 0;
	char		*err = NULL;
	int		 rc;

	if ((rc = imap_select(c, mailbox, cause)) != IMAP_OK)
		return rc;
	if (state_mailbox_get(r->state, a->name, mailbox, &uidvalidity,
	    &last) != 0 || uidvalidity != c->uidvalidity) {
		if (uidvalidity != 0)
			log_warn("%s: %s: UIDVALIDITY changed (%" PRIu32
			    " -> %" PRIu32 "): rescanning, processed mail "
			    "is recognised", a->name, mailbox, uidvalidity,
			    c->uidvalidity);
		last = 0;
	}
	if ((rc = list_new(c, last + 1, &l, cause)) != IMAP_OK)
		return rc;
	log_debug("%s: %s: %zu new", a->name, mailbox, l.n);
	rc = sync_all(r, a, c, mailbox, &l, &last, cause);
	free(l.v);
	if (state_mailbox_set(r->state, a->name, mailbox, c->uidvalidity, last,
	    &err) != 0) {
		if (rc == IMAP_OK) {
			*cause = err;
			return IMAP_TEMP;
		}
		log_error("%s: %s", a->name, err);
		free(err);
	}
	return rc;
}

int
source_imap_connect(struct conf_account *a, struct imap_conn *c, char **cause)
{
	struct secret	 s = { SECRET_COMMAND, NULL, a->oauth2_argv };
	char		*password = NULL, *token = NULL;
	int		 rc;

	if (a->oauth2_argv != NULL) {
		/* Read again before each login: tokens expire. */
		if (secret_get(&s, &token, cause) != 0)
			return IMAP_TEMP;
	} else if (secret_get(&a->password, &password, cause) != 0)
		return IMAP_TEMP;
	rc = imap_connect(c, a, password, token, cause);
	if (password != NULL)
		explicit_bzero(password, strlen(password));
	if (token != NULL)
		explicit_bzero(token, strlen(token));
	free(password);
	free(token);
	return rc;
}

int
source_imap_sync(struct runner *r, struct conf_account *a, char **cause)
{
	struct imap_conn	 c;
	size_t			 i;
	int			 rc;

	if ((rc = source_imap_connect(a, &c, cause)) != IMAP_OK)
		return rc;
	for (i = 0; i < a->nmailboxes && rc == IMAP_OK; i++)
		rc = source_imap_sync_mailbox(r, a, &c, a->mailboxes[i], cause);
	imap_close(&c);
	return rc;
}
