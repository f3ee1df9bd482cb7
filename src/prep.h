/*
 * Evaluation ahead: the part of processing a message that reads nothing but
 * the message and the rules (parsing, its Message-ID, the plan the rules
 * give) done on worker threads while the main thread fetches the next
 * messages and journals the previous ones (the SHA-256 of the bytes is
 * taken on the main thread as they are handed over: it has less to do).
 * Everything that touches the journal, the servers or the log stays on the
 * main thread, in order: the runner takes a message's result only when its
 * turn comes (runner_process_prep in run.h). A message the journal already
 * holds is evaluated for nothing; its plan is dropped unused.
 *
 * The workers start on the first prep_submit; jobs are taken in the order
 * they are submitted and may finish in any order. Without workers (one
 * processor) the message is parsed when submitted and evaluated on the
 * calling thread when its plan is asked for.
 */
#ifndef FACTEUR_PREP_H
#define FACTEUR_PREP_H

#include <stdbool.h>

#include <jansson.h>

struct conf_account;
struct msg;

struct prep {
	char			*data;		/* until the message takes it */
	size_t			 len;
	struct msg		*msg;
	struct conf_account	*account;
	char			 hash[65];	/* set when hashed */
	json_t			*plan;		/* NULL until evaluated */
	bool			 hashed;
	bool			 queued;	/* handed to the worker */
	bool			 done;		/* the worker is through */
	struct prep		*next;		/* the worker's queue */
};

/*
 * The bytes of a message (taken: data must come from malloc, with a NUL
 * byte at data[len], as msg_new_take() wants) of account a, its parsing and
 * evaluation queued. The account and its rules must stay until the prep is
 * taken by the runner or dropped.
 */
struct prep	*prep_submit(struct conf_account *, char *data, size_t len);
/* Wait until the worker is through with p (no-op if it was never queued);
 * then p->msg is there. */
void		 prep_wait(struct prep *);
/* Free the message and the plan of p (waits for the worker first). */
void		 prep_release(struct prep *);
/* The same, and p itself: a message dropped unprocessed. */
void		 prep_drop(struct prep *);
/* Hash the message if not yet: p->hash. */
void		 prep_hash(struct prep *);
/* The plan, evaluated now on this thread if the worker has not. */
json_t		*prep_plan(struct prep *);
/* Stop the worker (at exit: joins the thread). Submitting starts it again. */
void		 prep_shutdown(void);
/* How many worker threads to run (0: none, evaluate on the calling
 * thread; at most 4). The default: one per processor but one (the main
 * thread's), at most 4; none on one processor. */
void		 prep_set_workers(int);

#endif
