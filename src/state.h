/*
 * The state: one SQLite file (WAL) holding, per account and mailbox, the
 * UIDVALIDITY and last UID seen, and the journal of every message: its
 * identity, its plan, and each planned action with its status.
 *
 * The journal's promise: a message's plan is committed before its first
 * action runs; each action is marked done, and committed, right after it
 * succeeds; the message is marked processed only when no action is pending.
 * After a crash, pending actions resume from the journal and the rules are
 * not evaluated again. An action that succeeded just before a crash, or
 * before the journal refused the write that marks it done, is done again: a
 * reply is then sent a second time with the same Message-ID (derived from
 * the action's identity).
 *
 * Messages whose plan has no action are journaled in groups (one
 * transaction for many messages, see state.c); a crash loses at most the
 * record of such messages, which are then processed again with the same
 * result, and the final status of messages whose actions' outcomes were
 * committed, found again from them. Nothing happens outside the journal
 * before the group it is in commits.
 *
 * A temporary failure is retried with backoff until retry.max_age after its
 * first attempt, then it is final with its last error; a permanent one is
 * final at once. `facteur state` reads all of this (see cmd-state.c).
 */
#ifndef FACTEUR_STATE_H
#define FACTEUR_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

struct state;

enum state_msg_status {
	STATE_MSG_NONE,		/* not in the journal */
	STATE_MSG_PLANNED,	/* actions pending */
	STATE_MSG_DONE,		/* every action done */
	STATE_MSG_FAILED	/* finished, one action or more failed */
};

enum state_act_status {
	STATE_ACT_PENDING,
	STATE_ACT_DONE,
	STATE_ACT_FAILED
};

struct state_action {
	int			 idx;
	enum state_act_status	 status;
	int			 attempts;
	time_t			 next_attempt;
	json_t			*fields;	/* owned; type, rule, ... */
	time_t			 first_attempt;	/* 0: never tried */
};

/* Which rows `facteur state` lists: NULL and 0 for no filter. */
struct state_filter {
	const char	*account;
	const char	*mailbox;
	int		 limit;
};

/* Where a message comes from, and what identifies it there. */
struct state_ident {
	const char	*account;
	const char	*mailbox;	/* "" when the source has none */
	const char	*key;		/* "UIDVALIDITY/UID", UIDL, file name */
	const char	*message_id;	/* may be NULL */
	const char	*hash;		/* hex SHA-256 of the bytes */
};

int	state_open(const char *path, struct state **, char **cause);
/* Commits an open group first (an error is logged). */
void	state_close(struct state *);

/*
 * Group commit. state_group_begin() opens a group if none is open: the
 * writes that follow, of this and later messages, join one transaction.
 * state_commit() commits it (0 when none is open): call it before anything
 * outside the journal happens (an action, an after-policy) and before a
 * wait; on failure the group is rolled back and that effect must not
 * happen. The writes that record an effect (state_action_done,
 * state_action_failed, state_sent_add) and those that end a pass
 * (state_mailbox_set, state_account_synced, state_account_warned) commit
 * the group themselves. state_group_tick() counts one message and commits
 * when the group is large or old enough.
 */
int	state_group_begin(struct state *, char **cause);
int	state_commit(struct state *, char **cause);
int	state_group_tick(struct state *, char **cause);
bool	state_group_open(const struct state *);

/* 0 and the values when known; 1 when the mailbox was never synced. */
int	state_mailbox_get(struct state *, const char *account,
	    const char *mailbox, uint32_t *uidvalidity, uint32_t *last_uid);
int	state_mailbox_set(struct state *, const char *account,
	    const char *mailbox, uint32_t uidvalidity, uint32_t last_uid,
	    char **cause);

/* The journal status of a message by its identity key. */
enum state_msg_status state_message_status(struct state *,
	    const struct state_ident *, int64_t *id);
/* Was a message with these bytes (and Message-ID) already seen here? */
bool	state_message_known(struct state *, const struct state_ident *);
/* Both in one query: the status and *id by the key, and when there is no
 * such message (STATE_MSG_NONE), *known as state_message_known(). */
enum state_msg_status state_message_lookup(struct state *,
	    const struct state_ident *, int64_t *id, bool *known);

/* Save the plan and its actions in one transaction. A plan without
 * actions is saved finished (STATE_MSG_DONE): no state_message_finish. */
int	state_message_plan(struct state *, const struct state_ident *,
	    json_t *plan, int64_t *id, char **cause);
/* The actions of a message, in order (caller frees with the function). */
int	state_actions(struct state *, int64_t id, struct state_action **,
	    size_t *n, char **cause);
void	state_actions_free(struct state_action *, size_t);
int	state_action_done(struct state *, int64_t id, int idx, char **cause);
/* A failure: permanent ones are final, temporary ones retry at `retry`. */
int	state_action_failed(struct state *, int64_t id, int idx,
	    const char *error, bool permanent, time_t retry, char **cause);
/* Make a pending action due now, without counting an attempt. */
int	state_action_due(struct state *, int64_t id, int idx, char **cause);
/* Mark the message finished, DONE or FAILED by its actions (PLANNED while
 * one is pending); -1 when it is not in the journal. */
int	state_message_finish(struct state *, int64_t id,
	    enum state_msg_status *, char **cause);

/* Count and record sends for limits and auto-reply periods. */
int	state_sent_count(struct state *, const char *account,
	    const char *sender, const char *handle, time_t since);
int	state_sent_add(struct state *, const char *account,
	    const char *sender, const char *handle, char **cause);

/* Sends since `since` by account (NULL: all), to sender (NULL: anyone),
 * with a handle starting with prefix (NULL: any); -1 on error. */
int	state_sent_count_prefix(struct state *, const char *account,
	    const char *sender, const char *prefix, time_t since);

/*
 * Operator commands. Retry: the message's failed and pending actions become
 * pending and due now, with a fresh retry.max_age window; an IMAP mailbox's
 * saved UID is lowered so the next pass fetches the message again. Forget:
 * the journal entries go, so the mail is processed again (the whole account
 * or mailbox is rescanned from its first message). Both return 1 when there
 * is no such message.
 */
int	state_message_retry(struct state *, int64_t id, int *changed,
	    char **cause);
int	state_forget_message(struct state *, int64_t id, char **cause);
int	state_forget_account(struct state *, const char *account,
	    const char *mailbox, int *count, char **cause);

/* Liveness: the last successful pass over each account, and when `facteur
 * run` last warned that it is late (0: not since the last success).
 * state_account_get() returns 1 when the account never synced. */
int	state_account_synced(struct state *, const char *account, char **);
int	state_account_get(struct state *, const char *account, time_t *last,
	    time_t *warned);
int	state_account_warned(struct state *, const char *account, char **);

/*
 * Reading for `facteur state`, as new JSON values (caller decrefs), NULL and
 * *cause on error. Times are Unix seconds, null when not known; statuses are
 * "pending", "done", "failed".
 *   messages: [{id, account, mailbox, key, message_id, status, matched,
 *              created, updated}], newest first
 *   actions:  [{id, account, mailbox, key, message_id, action, rule, type,
 *              status, attempts, first_attempt, last_attempt, next_attempt,
 *              done_at, last_error}] with the given status
 *   message:  one message's object plus hash, plan and actions (each with
 *             its fields); NULL with *cause NULL when there is none
 *   accounts: [{account, last_success, messages, pending, failed}] for
 *             every account with a pass or a message in the journal
 */
json_t	*state_list_messages(struct state *, const struct state_filter *,
	    char **);
json_t	*state_list_actions(struct state *, enum state_act_status,
	    const struct state_filter *, char **);
json_t	*state_message_get(struct state *, int64_t id, char **);
json_t	*state_list_accounts(struct state *, char **);

#endif
