/*
 * The per-message path shared by every source: identity -> journal ->
 * parse -> rules -> plan saved -> actions -> finished. A source hands over
 * the bytes and learns whether the message is finished (its after-policy may
 * be applied) or still pending (keep it, try again later).
 */
#ifndef FACTEUR_RUN_H
#define FACTEUR_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct conf;
struct conf_account;
struct imap_conn;
struct msg;
struct prep;
struct state;

enum process_result {
	PROCESS_DONE,		/* finished now or before: apply after */
	PROCESS_PENDING,	/* actions wait for a retry: keep it */
	PROCESS_ERROR		/* could not even journal it: keep it */
};

struct runner {
	struct conf		*conf;
	struct state		*state;
	volatile sig_atomic_t	*stop;		/* set by signals */
	volatile sig_atomic_t	*reload;	/* SIGHUP; NULL when none */
	/* The IMAP source's open connection while it hands messages over,
	 * for the actions on the server (move, flag, ...); else NULL. */
	struct imap_conn	*imap;
	/* Set when the last message processed left its mailbox by an
	 * action (move, delete): no after policy for it. */
	bool			 gone;
	unsigned		 processed;	/* counters for the pass */
	unsigned		 pending;
	/* When `facteur run` started, for the liveness of accounts that never
	 * synced; 0 elsewhere (no liveness warnings). */
	time_t			 started;
};

enum process_result runner_process(struct runner *, struct conf_account *,
		    const char *mailbox, const char *key, uint32_t uid,
		    const char *data, size_t len);
/* The same for a parsed message, which it frees. */
enum process_result runner_process_msg(struct runner *,
		    struct conf_account *, const char *mailbox,
		    const char *key, uint32_t uid, struct msg *);
/* The same for a message submitted to the evaluation worker (prep.h):
 * waits for it; frees the prep and its message. */
enum process_result runner_process_prep(struct runner *,
		    struct conf_account *, const char *mailbox,
		    const char *key, uint32_t uid, struct prep *);

/* Commit the journal's open group (see state.h), logging a failure: before
 * a wait, at the end of a pass. */
void	runner_commit(struct runner *);
/* Before the account's after-policy changes the server or the mailbox:
 * commit the journal's group unless the policy is keep. 0, or -1 and
 * *cause (logged when cause is NULL): then the change must not be made. */
int	runner_commit_before_after(struct runner *, struct conf_account *,
	    char **);

/* One pass over the account, whatever its source; 0 or -1 and *cause. */
int	runner_sync_account(struct runner *, struct conf_account *, char **);

/* Called after every successful pass over an account, whatever drives it
 * (run --once, the watch loop): the liveness record. In `facteur run` it
 * also checks every account's last success against liveness.warn_after and
 * logs a warning, once, for each account that is late. */
void	runner_account_synced(struct runner *, struct conf_account *);
/* Warn about accounts with no successful pass for liveness.warn_after. */
void	runner_liveness(struct runner *);

/* The mailbox as people know it (allocated): the journal's own name, or for
 * the sources that have none (""), "INBOX" for POP3 and the directory's
 * name for a Maildir. */
char	*runner_mailbox_name(struct conf_account *, const char *mailbox);

/* Hex SHA-256 of data into out (65 bytes). */
void	sha256_hex(const void *, size_t, char out[65]);

/* The IMAP source: one pass over every mailbox of the account. */
int	source_imap_sync(struct runner *, struct conf_account *, char **);
/* The POP3 source: one session, RETR of what the journal lacks. */
int	source_pop3_sync(struct runner *, struct conf_account *, char **);
/* The Maildir source: one pass over new/ and cur/. */
int	source_maildir_sync(struct runner *, struct conf_account *, char **);

#endif
