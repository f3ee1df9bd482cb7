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
#include "rule.h"
#include "run.h"
#include "state.h"
#include "xmalloc.h"

#define RETRY_BASE	30		/* seconds, doubled per attempt */
#define RETRY_MAX	3600

static int	 runner_plan(struct runner *, struct conf_account *,
		     struct state_ident *, struct msg *, int64_t *);
static void	 runner_actions(struct runner *, struct conf_account *,
		     const char *, struct msg *, int64_t, const char *,
		     uint32_t);
static void	 runner_log(struct conf_account *, const char *, uint32_t,
		     struct msg *, int64_t, enum state_msg_status);
static time_t	 retry_time(int);
static void	 runner_record_known(struct runner *, struct conf_account *,
		     struct state_ident *);

void
sha256_hex(const void *p, size_t len, char out[65])
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	int		 i;

	SHA256(p, len, md);
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
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

static int
runner_plan(struct runner *r, struct conf_account *a, struct state_ident *id,
    struct msg *m, int64_t *rowid)
{
	struct eval_ctx	 ctx;
	json_t		*plan;
	char		*cause = NULL;
	int		 rc;

	ctx.account = a->name;
	ctx.addresses = (const char *const *)a->addresses;
	ctx.naddresses = a->naddresses;
	plan = ruleset_eval(a->rules, m, &ctx, NULL);
	rc = state_message_plan(r->state, id, plan, rowid, &cause);
	json_decref(plan);
	if (rc != 0) {
		log_error("%s: %s: %s: cannot save the plan: %s", a->name,
		    id->mailbox, id->key, cause);
		free(cause);
	}
	return rc;
}

/* Journal a recognised message under its new identity, with no action. */
static void
runner_record_known(struct runner *r, struct conf_account *a,
    struct state_ident *id)
{
	enum state_msg_status	 s;
	json_t			*plan;
	int64_t			 rowid;
	char			*cause = NULL;

	plan = json_pack("{s:[],s:[],s:s}", "matched", "actions", "note",
	    "recognised: processed before a UIDVALIDITY change");
	if (state_message_plan(r->state, id, plan, &rowid, &cause) != 0 ||
	    state_message_finish(r->state, rowid, &s, &cause) != 0) {
		log_error("%s: %s", a->name, cause);
		free(cause);
	}
	json_decref(plan);
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
	char			*cause = NULL, *err, *ident;
	const char		*type;
	bool			 held = false;

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
			if (res == ACTION_TEMP)
				held = true;
			log_warn("%s: %s: %s: %s %s: %s", a->name, mailbox, key,
			    type, res == ACTION_TEMP ? "will retry" : "failed",
			    cause);
			err = cause;
			cause = NULL;
			if (state_action_failed(r->state, rowid, v[i].idx,
			    err, res == ACTION_PERM,
			    retry_time(v[i].attempts), &cause) != 0)
				log_error("%s: %s", a->name, cause);
			free(err);
		}
		free(cause);
		cause = NULL;
	}
	state_actions_free(v, n);
}

/* One line per message processed, for people and for grep. */
static void
runner_log(struct conf_account *a, const char *mailbox, uint32_t uid,
    struct msg *m, int64_t rowid, enum state_msg_status s)
{
	const char	*id = msg_message_id(m);

	log_info("%s: %s: uid %" PRIu32 ": <%s> %s (journal #%" PRId64 ")",
	    a->name, mailbox, uid, id != NULL ? id : "", s == STATE_MSG_DONE ?
	    "done" : s == STATE_MSG_FAILED ? "failed" : "pending", rowid);
}

enum process_result
runner_process(struct runner *r, struct conf_account *a, const char *mailbox,
    const char *key, uint32_t uid, const char *data, size_t len)
{
	struct state_ident	 id;
	enum state_msg_status	 s;
	struct msg		*m;
	char			 hash[65], *cause = NULL;
	int64_t			 rowid = 0;

	r->gone = false;
	sha256_hex(data, len, hash);
	m = msg_new(data, len, NULL);
	id.account = a->name;
	id.mailbox = mailbox;
	id.key = key;
	id.message_id = msg_message_id(m);
	id.hash = hash;
	s = state_message_status(r->state, &id, &rowid);
	if (s == STATE_MSG_DONE || s == STATE_MSG_FAILED) {
		msg_free(m);
		return PROCESS_DONE;
	}
	if (s == STATE_MSG_NONE) {
		if (state_message_known(r->state, &id)) {
			/* Same bytes under an older UIDVALIDITY: done. */
			log_info("%s: %s: uid %" PRIu32 ": already processed "
			    "(same message before a UIDVALIDITY change)",
			    a->name, mailbox, uid);
			runner_record_known(r, a, &id);
			msg_free(m);
			return PROCESS_DONE;
		}
		if (runner_plan(r, a, &id, m, &rowid) != 0) {
			msg_free(m);
			return PROCESS_ERROR;
		}
	}
	runner_actions(r, a, mailbox, m, rowid, key, uid);
	if (state_message_finish(r->state, rowid, &s, &cause) != 0) {
		log_error("%s: %s", a->name, cause);
		free(cause);
		s = STATE_MSG_PLANNED;
	}
	runner_log(a, mailbox, uid, m, rowid, s);
	msg_free(m);
	r->processed++;
	if (s == STATE_MSG_PLANNED) {
		r->pending++;
		return PROCESS_PENDING;
	}
	return PROCESS_DONE;
}

void
runner_account_synced(struct runner *r, struct conf_account *a)
{
	(void)r;
	log_debug("%s: synced", a->name);
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
	if (rc == 0)
		runner_account_synced(r, a);
	return rc;
}
