/*
 * Actions: one file each (action-reply.c, ...), behind struct action_ops.
 * An action gets the fields the rule engine rendered into the plan (see
 * rule.h) and the message it answers, and carries out one effect.
 */
#ifndef FACTEUR_ACTION_H
#define FACTEUR_ACTION_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct conf;
struct conf_account;
struct imap_conn;
struct msg;
struct state;

enum action_result {
	ACTION_OK,
	ACTION_TEMP,	/* retry later: network, 4xx, timeout */
	ACTION_PERM	/* will never work: 5xx, bad address, refused */
};

struct action_ctx {
	const struct conf		*conf;
	const struct conf_account	*account;
	struct state			*state;
	struct msg			*msg;	/* the message acted on */
	const char			*mailbox;
	/* Stable name of this action in the journal; outgoing mail derives
	 * its Message-ID from it so a resend is recognisably the same. */
	const char			*ident;
	uint32_t			 uid;	/* 0 when the source has none */
	/* The open IMAP connection with the mailbox selected, or NULL
	 * (POP3, Maildir, deliver). */
	struct imap_conn		*imap;
	/* Set by an action that took the message out of the mailbox (move,
	 * delete): the source then skips its after policy. */
	bool				*gone;
};

struct action_ops {
	const char	*type;
	/*
	 * Carry out the action with the plan's fields (borrowed). Returns
	 * ACTION_OK, or ACTION_TEMP / ACTION_PERM with *cause allocated.
	 * It may run again after a crash in its middle, so it must be safe
	 * to repeat.
	 */
	enum action_result (*exec)(struct action_ctx *, json_t *fields,
			    char **cause);
};

/* The ops for a plan action type, or NULL when none runs it here. */
const struct action_ops *action_find(const char *type);

extern const struct action_ops action_reply_ops;
extern const struct action_ops action_autoreply_ops;
extern const struct action_ops action_forward_ops;
extern const struct action_ops action_notify_ops;
extern const struct action_ops action_run_ops;
extern const struct action_ops action_webhook_ops;
extern const struct action_ops action_move_ops;
extern const struct action_ops action_copy_ops;
extern const struct action_ops action_flag_ops;

/*
 * The canonical spelling of an IMAP flag a rule may set: one of the five
 * system flags (any case), or a keyword of printable ASCII atom characters
 * (at most 128). NULL for anything else (\\Recent, non-ASCII keywords...).
 */
const char	*action_flag_canon(const char *);
extern const struct action_ops action_delete_ops;
extern const struct action_ops action_save_ops;
extern const struct action_ops action_extract_ops;

#endif
