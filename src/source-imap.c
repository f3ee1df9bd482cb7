/*
 * The IMAP source: for each mailbox of the account, SELECT, find the UIDs
 * above the last one finished, fetch them in batches with BODY.PEEK[] (never
 * setting \Seen), hand each to the runner, then apply the account's after
 * policy to the finished ones. The last UID saved only moves past messages
 * that are finished, so a pending one is fetched again next time, and the
 * journal resumes it without evaluating the rules again.
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
#include "run.h"
#include "state.h"
#include "source-imap.h"
#include "xmalloc.h"

#define FETCH_BATCH	100

/* UIDs, with the size the server gave for each. */
struct uid_list {
	uint32_t	*uids;
	uint32_t	*sizes;
	size_t		 n;
};

static int	 sync_batch(struct runner *, struct conf_account *,
		     struct imap_conn *, const char *, const uint32_t *,
		     size_t, uint32_t *, char **);
static enum process_result sync_one(struct runner *, struct conf_account *,
		    struct imap_conn *, const char *,
		    struct imap_message *);
static char	*uid_set(const uint32_t *, size_t);
static int	 apply_after(struct runner *, struct conf_account *,
		     struct imap_conn *, const char *, uint32_t, char **);
static int	 msg_uid_cmp(const void *, const void *);
static int	 size_cb(struct imap_conn *, struct imap_resp *, void *,
		     char **);
static int	 find_oversize(struct imap_conn *, const char *,
		     struct uid_list *, char **);
static size_t	 uid_find(const struct uid_list *, uint32_t);

/* "1,3:5,9" from a sorted list. */
static char *
uid_set(const uint32_t *uids, size_t n)
{
	struct buf	 b;
	size_t		 i, j;

	buf_init(&b, SIZE_MAX);
	for (i = 0; i < n; i = j + 1) {
		for (j = i; j + 1 < n && uids[j + 1] == uids[j] + 1; j++)
			;
		if (b.len > 0)
			buf_add(&b, ",", 1);
		if (j > i)
			buf_printf(&b, "%" PRIu32 ":%" PRIu32, uids[i],
			    uids[j]);
		else
			buf_printf(&b, "%" PRIu32, uids[i]);
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

/* One "* N FETCH (UID u RFC822.SIZE s)": note u if s is over the cap. */
static int
size_cb(struct imap_conn *c, struct imap_resp *r, void *arg, char **cause)
{
	struct uid_list	*big = arg;
	struct imap_tok	 t, v;
	uint32_t	 uid = 0, size = 0;
	bool		 sized = false;
	int		 depth;

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
	if (uid != 0 && sized && size > c->max_literal) {
		big->uids = xreallocarray(big->uids, big->n + 1,
		    sizeof *big->uids);
		big->sizes = xreallocarray(big->sizes, big->n + 1,
		    sizeof *big->sizes);
		big->uids[big->n] = uid;
		big->sizes[big->n++] = size;
	}
out:
	r->pos = 0;
	return IMAP_OK;
}

static int
find_oversize(struct imap_conn *c, const char *set, struct uid_list *big,
    char **cause)
{
	memset(big, 0, sizeof *big);
	return imap_command(c, size_cb, big, cause,
	    "UID FETCH %s (UID RFC822.SIZE)", set);
}

/* The index of uid in the list, or SIZE_MAX. */
static size_t
uid_find(const struct uid_list *l, uint32_t uid)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (l->uids[i] == uid)
			return i;
	return SIZE_MAX;
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
    const char *mailbox, struct imap_message *m)
{
	enum process_result	 pr;
	char			 key[32], *err = NULL;

	snprintf(key, sizeof key, "%" PRIu32 "/%" PRIu32, c->uidvalidity,
	    m->uid);
	r->imap = c;
	/* The message takes the fetched bytes: no copy. */
	pr = runner_process_msg(r, a, mailbox, key, m->uid,
	    msg_new_take(m->data, m->len, NULL));
	m->data = NULL;
	r->imap = NULL;
	if (pr == PROCESS_DONE && !r->gone &&
	    apply_after(r, a, c, mailbox, m->uid, &err) != IMAP_OK) {
		log_warn("%s: %s: uid %" PRIu32 ": after-policy: %s", a->name,
		    mailbox, m->uid, err);
		free(err);
		pr = PROCESS_PENDING;
	}
	return pr;
}

static int
sync_batch(struct runner *r, struct conf_account *a, struct imap_conn *c,
    const char *mailbox, const uint32_t *uids, size_t n, uint32_t *last,
    char **cause)
{
	struct imap_message	*v = NULL;
	struct uid_list		 big;
	size_t			 i, j, k, nv = 0, nwant = 0;
	uint32_t		*want;
	char			*set;
	bool			 blocked = false;
	int			 rc;

	runner_commit(r);	/* no journal transaction across a wait */
	set = uid_set(uids, n);
	rc = find_oversize(c, set, &big, cause);
	free(set);
	if (rc != IMAP_OK)
		goto out;
	want = xreallocarray(NULL, n, sizeof *want);
	for (i = 0; i < n; i++)
		if (uid_find(&big, uids[i]) == SIZE_MAX)
			want[nwant++] = uids[i];
	if (nwant > 0) {
		set = uid_set(want, nwant);
		rc = imap_fetch(c, set, &v, &nv, cause);
		free(set);
	}
	free(want);
	if (rc != IMAP_OK)
		goto out;
	if (nv > 1)
		qsort(v, nv, sizeof *v, msg_uid_cmp);
	/* In UID order; a UID that vanished meanwhile has no message. */
	for (k = i = 0; k < n; k++) {
		if ((j = uid_find(&big, uids[k])) != SIZE_MAX) {
			log_warn("%s: %s: uid %" PRIu32 ": %" PRIu32 " bytes, "
			    "over the cap of %zu: left in the mailbox",
			    a->name, mailbox, uids[k], big.sizes[j],
			    c->max_literal);
			if (!blocked)
				*last = uids[k];
			continue;
		}
		while (i < nv && v[i].uid < uids[k])
			i++;
		if (i == nv || v[i].uid != uids[k])
			continue;
		/* The saved UID never passes a message still pending. */
		if (sync_one(r, a, c, mailbox, &v[i]) != PROCESS_DONE)
			blocked = true;
		if (!blocked)
			*last = v[i].uid;
	}
out:
	for (i = 0; i < nv; i++)
		free(v[i].data);
	free(v);
	free(big.uids);
	free(big.sizes);
	return rc;
}

int
source_imap_sync_mailbox(struct runner *r, struct conf_account *a,
    struct imap_conn *c, const char *mailbox, char **cause)
{
	uint32_t	 uidvalidity = 0, last = 0, *uids = NULL;
	size_t		 n = 0, i, k;
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
	if ((rc = imap_search_from(c, last + 1, &uids, &n, cause)) != IMAP_OK)
		return rc;
	log_debug("%s: %s: %zu new", a->name, mailbox, n);
	for (i = 0; i < n && (r->stop == NULL || !*r->stop); i += k) {
		k = n - i < FETCH_BATCH ? n - i : FETCH_BATCH;
		if ((rc = sync_batch(r, a, c, mailbox, uids + i, k, &last,
		    cause)) != IMAP_OK)
			break;
	}
	free(uids);
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
