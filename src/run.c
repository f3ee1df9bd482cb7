/*
 * Processing one message. The order matters and is the journal's promise
 * (state.h): the plan is saved before the first action; each action is
 * marked done right after it succeeds; the message is finished only when
 * nothing is pending. A message already in the journal is never evaluated
 * again: its pending actions resume.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "action.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "prep.h"
#include "rule.h"
#include "run.h"
#include "state.h"
#include "xmalloc.h"

#define RETRY_BASE	30		/* seconds, doubled per attempt */
#define RETRY_MAX	3600

static json_t	*runner_plan(struct runner *, struct conf_account *,
		     struct state_ident *, struct prep *, int64_t *);
static enum process_result runner_process_one(struct runner *,
		     struct conf_account *, const char *, const char *,
		     uint32_t, struct prep *);
static void	 runner_actions(struct runner *, struct conf_account *,
		     const char *, struct msg *, int64_t, const char *,
		     uint32_t);
static void	 runner_log(struct runner *, struct conf_account *,
		     const struct state_ident *, uint32_t, int64_t,
		     enum state_msg_status, json_t *);
static void	 runner_log_line(struct buf *, json_t *, json_t *, json_t *);
static void	 runner_duration(unsigned long, char *, size_t);
static char	*runner_too_old(struct runner *, const struct state_action *,
		     const char *);
static time_t	 retry_time(int);
static void	 runner_record_known(struct runner *, struct conf_account *,
		     struct state_ident *);
static void	 runner_tick(struct runner *, struct conf_account *);

void
sha256_hex(const void *p, size_t len, char out[65])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[SHA256_DIGEST_LENGTH];
	int			 i;

	SHA256(p, len, md);
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * i] = '\0';
}

/* Exponential backoff with jitter. */
static time_t
retry_time(int attempts)
{
	long	 delay = RETRY_BASE;

	while (attempts-- > 0 && delay < RETRY_MAX)
		delay *= 2;
	if (delay > RETRY_MAX)
		delay = RETRY_MAX;
	delay += random() % (delay / 4 + 1);
	return time(NULL) + delay;
}

/* Evaluate the rules (unless the worker did) and journal the plan: the
 * plan, or NULL when it could not be saved. */
static json_t *
runner_plan(struct runner *r, struct conf_account *a, struct state_ident *id,
    struct prep *p, int64_t *rowid)
{
	json_t		*plan;
	char		*cause = NULL;

	plan = json_incref(prep_plan(p));
	if (state_group_begin(r->state, &cause) != 0 ||
	    state_message_plan(r->state, id, plan, rowid, &cause) != 0) {
		log_error("%s: %s: %s: cannot save the plan: %s", a->name,
		    id->mailbox, id->key, cause);
		free(cause);
		json_decref(plan);
		return NULL;
	}
	return plan;
}

/* Journal a recognised message under its new identity, with no action. */
static void
runner_record_known(struct runner *r, struct conf_account *a,
    struct state_ident *id)
{
	json_t			*plan;
	int64_t			 rowid;
	char			*cause = NULL;

	/* No action: saved finished, in the group. */
	plan = json_pack("{s:[],s:[],s:s}", "matched", "actions", "note",
	    "recognised: processed before a UIDVALIDITY change");
	if (state_group_begin(r->state, &cause) != 0 ||
	    state_message_plan(r->state, id, plan, &rowid, &cause) != 0) {
		log_error("%s: %s", a->name, cause);
		free(cause);
	}
	json_decref(plan);
}

/*
 * A temporary failure retried for retry.max_age since its first attempt is
 * final: the error to keep, saying so, or NULL while it may be retried.
 */
static char *
runner_too_old(struct runner *r, const struct state_action *act,
    const char *err)
{
	char	 age[32];

	if (act->first_attempt == 0 || time(NULL) - act->first_attempt <
	    (time_t)r->conf->retry_max_age)
		return NULL;
	runner_duration(r->conf->retry_max_age, age, sizeof age);
	return xasprintf("gave up after %d attempts (retry.max_age %s): %s",
	    act->attempts + 1, age, err);
}

static void
runner_actions(struct runner *r, struct conf_account *a, const char *mailbox,
    struct msg *m, int64_t rowid, const char *key, uint32_t uid)
{
	struct state_action	*v;
	struct action_ctx	 ctx;
	const struct action_ops	*ops;
	enum action_result	 res;
	size_t			 i, n;
	char			*cause = NULL, *err, *ident, *where;
	const char		*type;
	bool			 permanent, held = false;

	if (state_actions(r->state, rowid, &v, &n, &cause) != 0) {
		log_error("%s: %s", a->name, cause);
		free(cause);
		return;
	}
	ctx.conf = r->conf;
	ctx.account = a;
	ctx.state = r->state;
	ctx.msg = m;
	ctx.mailbox = mailbox;
	ctx.uid = uid;
	ctx.imap = r->imap;
	ctx.gone = &r->gone;
	for (i = 0; i < n; i++) {
		if (v[i].status != STATE_ACT_PENDING)
			continue;
		if (v[i].next_attempt > time(NULL)) {
			held = true;
			continue;
		}
		type = json_string_value(json_object_get(v[i].fields, "type"));
		/*
		 * Taking the message out of its mailbox while an action before
		 * it waits for a retry would strand that action: the message
		 * would never be fetched again to resume it.
		 */
		if (held && type != NULL && (strcmp(type, "move") == 0 ||
		    strcmp(type, "delete") == 0)) {
			log_info("%s: %s: %s: %s waits for the actions before "
			    "it", a->name, mailbox, key, type);
			continue;
		}
		/* Nothing outside the journal before it is committed. */
		if (state_commit(r->state, &cause) != 0) {
			log_error("%s: %s: %s: %s not started: %s", a->name,
			    mailbox, key, type != NULL ? type : "?", cause);
			free(cause);
			cause = NULL;
			break;
		}
		ident = xasprintf("%s/%s/%s/%d", a->name, mailbox, key,
		    v[i].idx);
		ctx.ident = ident;
		if ((ops = action_find(type)) == NULL) {
			cause = xasprintf("action '%s' is not supported yet",
			    type != NULL ? type : "?");
			res = ACTION_PERM;
		} else
			res = ops->exec(&ctx, v[i].fields, &cause);
		free(ident);
		if (res == ACTION_OK) {
			if (state_action_done(r->state, rowid, v[i].idx,
			    &cause) != 0)
				log_error("%s: %s", a->name, cause);
		} else {
			err = cause;
			cause = NULL;
			permanent = res == ACTION_PERM;
			if (!permanent && (cause = runner_too_old(r, &v[i],
			    err)) != NULL) {
				free(err);
				err = cause;
				cause = NULL;
				permanent = true;
			}
			if (!permanent)
				held = true;
			where = runner_mailbox_name(a, mailbox);
			log_warn("%s: %s: %s: %s %s: %s", a->name, where, key,
			    type, permanent ? "failed" : "will retry", err);
			free(where);
			if (state_action_failed(r->state, rowid, v[i].idx,
			    err, permanent,
			    retry_time(v[i].attempts), &cause) != 0)
				log_error("%s: %s", a->name, cause);
			free(err);
		}
		free(cause);
		cause = NULL;
	}
	state_actions_free(v, n);
}

/* "2d", "3h", "5m", "30s": the largest unit that divides it. */
static void
runner_duration(unsigned long secs, char *out, size_t len)
{
	if (secs != 0 && secs % 86400 == 0)
		snprintf(out, len, "%lud", secs / 86400);
	else if (secs != 0 && secs % 3600 == 0)
		snprintf(out, len, "%luh", secs / 3600);
	else if (secs != 0 && secs % 60 == 0)
		snprintf(out, len, "%lum", secs / 60);
	else
		snprintf(out, len, "%lus", secs);
}

/*
 * The mailbox as people know it. The journal keys POP3 and Maildir messages
 * under the mailbox "" (their sources have one): show "INBOX" for POP3, the
 * Maildir's own name for a Maildir.
 */
char *
runner_mailbox_name(struct conf_account *a, const char *mailbox)
{
	const char	*p, *end;

	if (*mailbox != '\0' || a->kind == SOURCE_IMAP)
		return xstrdup(mailbox);
	if (a->kind == SOURCE_POP3 || a->path == NULL)
		return xstrdup("INBOX");
	end = a->path + strlen(a->path);
	while (end > a->path + 1 && end[-1] == '/')
		end--;
	for (p = end; p > a->path && p[-1] != '/'; p--)
		;
	return p == end ? xstrdup(a->path) : xstrndup(p, (size_t)(end - p));
}

/*
 * The rules and actions part of the per-message line: "matched r1, r2;
 * reply=done webhook=retry(3)". Fills the JSON arrays too.
 */
static void
runner_log_line(struct buf *b, json_t *rec, json_t *rules, json_t *acts)
{
	json_t		*v, *act;
	size_t		 i;
	const char	*status;
	json_int_t	 attempts;

	buf_addstr(b, "matched ");
	json_array_foreach(json_object_get(rec, "matched"), i, v) {
		buf_printf(b, "%s%s", i > 0 ? ", " : "", json_string_value(v));
		if (rules != NULL)
			json_array_append(rules, v);
	}
	if (json_array_size(json_object_get(rec, "matched")) == 0)
		buf_addstr(b, "nothing");
	buf_addstr(b, ";");
	json_array_foreach(json_object_get(rec, "actions"), i, act) {
		status = json_string_value(json_object_get(act, "status"));
		attempts = json_integer_value(json_object_get(act, "attempts"));
		buf_printf(b, " %s=", json_string_value(json_object_get(act,
		    "type")));
		if (strcmp(status, "pending") == 0)
			buf_printf(b, "retry(%" JSON_INTEGER_FORMAT ")",
			    attempts);
		else
			buf_addstr(b, status);
		if (acts != NULL)
			json_array_append_new(acts, json_pack("{s:O?,s:s,s:I}",
			    "type", json_object_get(act, "type"), "status",
			    status, "attempts", attempts));
	}
	if (json_array_size(json_object_get(rec, "actions")) == 0)
		buf_addstr(b, " no action");
}

/*
 * One line per message processed, for people and for grep; in --log json
 * the same as fields. A message just planned without actions is told from
 * its plan; others from the journal, which holds their actions' outcome.
 */
static void
runner_log(struct runner *r, struct conf_account *a,
    const struct state_ident *id, uint32_t uid, int64_t rowid,
    enum state_msg_status s, json_t *plan)
{
	struct buf	 b;
	json_t		*rec, *f;
	const char	*status, *mid;
	char		*cause = NULL, *text, *where;

	status = s == STATE_MSG_DONE ? "done" : s == STATE_MSG_FAILED ?
	    "failed" : "pending";
	if (plan != NULL && json_array_size(json_object_get(plan,
	    "actions")) == 0) {
		rec = json_pack("{s:O?,s:[]}", "matched",
		    json_object_get(plan, "matched"), "actions");
		mid = id->message_id;
	} else if ((rec = state_message_get(r->state, rowid, &cause)) != NULL)
		mid = json_string_value(json_object_get(rec, "message_id"));
	else {
		log_error("%s: %s", a->name, cause != NULL ? cause :
		    "journal entry missing");
		free(cause);
		return;
	}
	where = runner_mailbox_name(a, id->mailbox);
	/* The fields only for --log json: a line a message, in bulk. */
	f = NULL;
	if (log_wants_fields()) {
		f = json_pack("{s:s,s:s,s:s,s:s?,s:[],s:[],s:s,s:I}",
		    "account", a->name, "mailbox", where, "key", id->key,
		    "message_id", mid, "rules", "actions", "status", status,
		    "journal", (json_int_t)rowid);
		if (a->kind == SOURCE_IMAP)
			json_object_set_new(f, "uid", json_integer(uid));
	}
	buf_init(&b, 64 * 1024);
	runner_log_line(&b, rec, json_object_get(f, "rules"),
	    json_object_get(f, "actions"));
	text = buf_steal(&b, NULL);
	if (a->kind == SOURCE_IMAP)
		log_fields(LOG_LEVEL_INFO, f, "%s: %s: uid %" PRIu32 ": <%s>: "
		    "%s; %s (journal #%" PRId64 ")", a->name, where, uid,
		    mid != NULL ? mid : "", text, status, rowid);
	else
		log_fields(LOG_LEVEL_INFO, f, "%s: %s: %s: <%s>: %s; %s "
		    "(journal #%" PRId64 ")", a->name, where, id->key,
		    mid != NULL ? mid : "", text, status, rowid);
	free(text);
	free(where);
	json_decref(f);
	json_decref(rec);
}

enum process_result
runner_process(struct runner *r, struct conf_account *a, const char *mailbox,
    const char *key, uint32_t uid, const char *data, size_t len)
{
	return runner_process_msg(r, a, mailbox, key, uid,
	    msg_new(data, len, NULL));
}

/* One more message in the journal's group: commit it when due. */
static void
runner_tick(struct runner *r, struct conf_account *a)
{
	char	*cause = NULL;

	if (state_group_tick(r->state, &cause) != 0) {
		log_error("%s: %s", a->name, cause);
		free(cause);
	}
}

enum process_result
runner_process_msg(struct runner *r, struct conf_account *a,
    const char *mailbox, const char *key, uint32_t uid, struct msg *m)
{
	struct prep	 p;

	memset(&p, 0, sizeof p);
	p.msg = m;
	p.account = a;
	return runner_process_one(r, a, mailbox, key, uid, &p);
}

enum process_result
runner_process_prep(struct runner *r, struct conf_account *a,
    const char *mailbox, const char *key, uint32_t uid, struct prep *p)
{
	enum process_result	 pr;

	pr = runner_process_one(r, a, mailbox, key, uid, p);
	free(p);
	return pr;
}

/* The message of p, which goes with its plan; p itself stays. */
static enum process_result
runner_process_one(struct runner *r, struct conf_account *a,
    const char *mailbox, const char *key, uint32_t uid, struct prep *p)
{
	struct state_ident	 id;
	enum state_msg_status	 s;
	struct msg		*m;
	char			*cause = NULL, *where;
	json_t			*plan = NULL;
	int64_t			 rowid = 0;
	bool			 known;

	r->gone = false;
	prep_wait(p);
	m = p->msg;
	prep_hash(p);
	id.account = a->name;
	id.mailbox = mailbox;
	id.key = key;
	id.message_id = msg_message_id(m);
	id.hash = p->hash;
	s = state_message_lookup(r->state, &id, &rowid, &known);
	if (s == STATE_MSG_DONE || s == STATE_MSG_FAILED) {
		prep_release(p);
		return PROCESS_DONE;
	}
	if (s == STATE_MSG_NONE) {
		if (known) {
			/* Same bytes under an older UIDVALIDITY: done. */
			where = runner_mailbox_name(a, mailbox);
			log_info("%s: %s: uid %" PRIu32 ": already processed "
			    "(same message before a UIDVALIDITY change)",
			    a->name, where, uid);
			free(where);
			runner_record_known(r, a, &id);
			runner_tick(r, a);
			prep_release(p);
			return PROCESS_DONE;
		}
		if ((plan = runner_plan(r, a, &id, p, &rowid)) == NULL) {
			prep_release(p);
			return PROCESS_ERROR;
		}
		/* Without actions it is saved finished. */
		if (json_array_size(json_object_get(plan, "actions")) == 0)
			s = STATE_MSG_DONE;
	}
	if (s != STATE_MSG_DONE) {
		runner_actions(r, a, mailbox, m, rowid, key, uid);
		/* With its actions' outcome committed, the status may wait in
		 * a group: lost, it is found again from the actions. */
		if (state_group_begin(r->state, &cause) != 0 ||
		    state_message_finish(r->state, rowid, &s, &cause) != 0) {
			log_error("%s: %s", a->name, cause);
			free(cause);
			s = STATE_MSG_PLANNED;
		}
	}
	runner_log(r, a, &id, uid, rowid, s, plan);
	json_decref(plan);
	prep_release(p);
	r->processed++;
	runner_tick(r, a);
	if (s == STATE_MSG_PLANNED) {
		r->pending++;
		return PROCESS_PENDING;
	}
	return PROCESS_DONE;
}

/*
 * Every account's last successful pass against liveness.warn_after: one
 * warning per account and process when it falls behind (the time of the
 * warning is kept in the journal and cleared by the next success). Only `facteur run` warns (it sets
 * r->started); deliver does not. Checked after every pass over any account
 * after every failed POP3 or Maildir pass, and once a minute by the watch
 * loop, so accounts that all fail to connect are still reported.
 */
void
runner_liveness(struct runner *r)
{
	struct conf_account	*a;
	time_t			 last, warned, now = time(NULL);
	size_t			 i;
	char			*cause = NULL, late[32];
	int			 rc;

	if (r->started == 0 || r->conf->liveness_warn_after == 0)
		return;
	for (i = 0; i < r->conf->naccounts; i++) {
		a = &r->conf->accounts[i];
		/* Once per process: a restarted daemon says it again. */
		if ((rc = state_account_get(r->state, a->name, &last,
		    &warned)) < 0 || warned >= r->started)
			continue;
		if (last == 0)
			last = r->started;
		if (now - last < (time_t)r->conf->liveness_warn_after)
			continue;
		runner_duration((unsigned long)(now - last), late, sizeof late);
		log_warn("%s: no successful pass over the account for %s "
		    "(liveness.warn_after)%s", a->name, late, rc == 1 ||
		    last == r->started ? ", not once since facteur started" :
		    "");
		if (state_account_warned(r->state, a->name, &cause) != 0) {
			log_error("%s: %s", a->name, cause);
			free(cause);
			cause = NULL;
		}
	}
}

void
runner_account_synced(struct runner *r, struct conf_account *a)
{
	time_t	 last, warned = 0;
	char	*cause = NULL;

	log_debug("%s: synced", a->name);
	state_account_get(r->state, a->name, &last, &warned);
	if (state_account_synced(r->state, a->name, &cause) != 0) {
		log_error("%s: %s", a->name, cause);
		free(cause);
	} else if (warned)
		log_info("%s: the account is reached again", a->name);
	runner_liveness(r);
}

void
runner_commit(struct runner *r)
{
	char	*cause = NULL;

	if (state_commit(r->state, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
	}
}

int
runner_commit_before_after(struct runner *r, struct conf_account *a,
    char **cause)
{
	char	*err = NULL;

	if (a->after == AFTER_KEEP || state_commit(r->state, &err) == 0)
		return 0;
	if (cause != NULL)
		*cause = err;
	else {
		log_error("%s: %s", a->name, err);
		free(err);
	}
	return -1;
}

int
runner_sync_account(struct runner *r, struct conf_account *a, char **cause)
{
	int	 rc = -1;

	switch (a->kind) {
	case SOURCE_IMAP:
		rc = source_imap_sync(r, a, cause);
		break;
	case SOURCE_POP3:
		rc = source_pop3_sync(r, a, cause);
		break;
	case SOURCE_MAILDIR:
		rc = source_maildir_sync(r, a, cause);
		break;
	default:
		*cause = xstrdup("unknown kind of source");
		break;
	}
	/* Whatever the pass left in the journal's group, passed or failed. */
	runner_commit(r);
	if (rc == 0)
		runner_account_synced(r, a);
	else
		runner_liveness(r);
	return rc;
}
