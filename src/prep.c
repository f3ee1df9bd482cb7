/*
 * The evaluation workers (prep.h). A queue under one mutex; a worker
 * signals one condition when a job is through. What a worker calls must be
 * safe beside the other threads: the message is the job's alone until it
 * is through; the rules are shared and read only, each thread matching
 * with match data of its own (match.c); GMime, libxml2 and jansson are
 * initialised on the main thread before any job.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "match.h"
#include "msg.h"
#include "prep.h"
#include "rule.h"
#include "run.h"
#include "xmalloc.h"

#define PREP_MAX_THREADS	4

static pthread_mutex_t	 prep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 prep_queued = PTHREAD_COND_INITIALIZER;
static pthread_cond_t	 prep_through = PTHREAD_COND_INITIALIZER;
static struct prep	*prep_head, *prep_tail;
static pthread_t	 prep_threads[PREP_MAX_THREADS];
static int		 prep_nthreads;	/* running */
static bool		 prep_quit;
static int		 prep_usable = -1;	/* threads to run; -1: not known */

static void	*prep_main(void *);
static bool	 prep_start(void);
static void	 prep_eval(struct prep *);
static json_t	*prep_rules(struct prep *);

struct prep *
prep_submit(struct conf_account *a, char *data, size_t len)
{
	struct prep	*p;

	p = xcalloc(1, sizeof *p);
	p->account = a;
	if (!prep_start()) {
		/* Parsed now, evaluated when asked for. */
		p->msg = msg_new_take(data, len, NULL);
		return p;
	}
	p->data = data;
	p->len = len;
	/* Hashed here: the worker has more to do than this thread. */
	sha256_hex(data, len, p->hash);
	p->hashed = true;
	pthread_mutex_lock(&prep_lock);
	p->queued = true;
	if (prep_tail != NULL)
		prep_tail->next = p;
	else
		prep_head = p;
	prep_tail = p;
	pthread_cond_signal(&prep_queued);
	pthread_mutex_unlock(&prep_lock);
	return p;
}

void
prep_wait(struct prep *p)
{
	if (!p->queued)
		return;
	pthread_mutex_lock(&prep_lock);
	while (!p->done)
		pthread_cond_wait(&prep_through, &prep_lock);
	pthread_mutex_unlock(&prep_lock);
	p->queued = false;
}

void
prep_release(struct prep *p)
{
	prep_wait(p);
	json_decref(p->plan);
	p->plan = NULL;
	msg_free(p->msg);
	p->msg = NULL;
	free(p->data);
	p->data = NULL;
}

void
prep_drop(struct prep *p)
{
	if (p == NULL)
		return;
	prep_release(p);
	free(p);
}

void
prep_hash(struct prep *p)
{
	const char	*raw;
	size_t		 len;

	if (p->hashed)
		return;
	raw = msg_raw(p->msg, &len);
	sha256_hex(raw, len, p->hash);
	p->hashed = true;
}

json_t *
prep_plan(struct prep *p)
{
	prep_wait(p);
	if (p->plan == NULL)
		p->plan = prep_rules(p);
	return p->plan;
}

static json_t *
prep_rules(struct prep *p)
{
	struct eval_ctx	 ctx;

	ctx.account = p->account->name;
	ctx.addresses = (const char *const *)p->account->addresses;
	ctx.naddresses = p->account->naddresses;
	return ruleset_eval(p->account->rules, p->msg, &ctx, NULL);
}

/* On the worker: everything the runner asks of the message before the
 * journal. */
static void
prep_eval(struct prep *p)
{
	p->msg = msg_new_take(p->data, p->len, NULL);
	p->data = NULL;
	(void)msg_message_id(p->msg);
	p->plan = prep_rules(p);
}

static void *
prep_main(void *arg)
{
	struct prep	*p;

	(void)arg;
	pthread_mutex_lock(&prep_lock);
	for (;;) {
		while (prep_head == NULL && !prep_quit)
			pthread_cond_wait(&prep_queued, &prep_lock);
		if (prep_head == NULL)
			break;
		p = prep_head;
		if ((prep_head = p->next) == NULL)
			prep_tail = NULL;
		p->next = NULL;
		pthread_mutex_unlock(&prep_lock);
		prep_eval(p);
		pthread_mutex_lock(&prep_lock);
		p->done = true;
		pthread_cond_broadcast(&prep_through);
	}
	pthread_mutex_unlock(&prep_lock);
	match_thread_end();
	return NULL;
}

/*
 * The workers, started if they are not: false when there are none (one
 * processor, or no thread could be made). Signals stay with the main
 * thread: they must interrupt its polls.
 */
static bool
prep_start(void)
{
	sigset_t	 all, old;
	long		 n;
	int		 e = 0;

	if (prep_nthreads > 0)
		return true;
	if (prep_usable == -1) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		/* The main thread reads and journals: one fewer. */
		prep_usable = n - 1 > PREP_MAX_THREADS ? PREP_MAX_THREADS :
		    n > 1 ? (int)n - 1 : 0;
	}
	if (prep_usable == 0)
		return false;
	prep_quit = false;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (prep_nthreads < prep_usable && (e = pthread_create(
	    &prep_threads[prep_nthreads], NULL, prep_main, NULL)) == 0)
		prep_nthreads++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (prep_nthreads == 0) {
		log_debug("no evaluation thread (%d): evaluating inline", e);
		prep_usable = 0;
		return false;
	}
	return true;
}

void
prep_shutdown(void)
{
	int	 i;

	if (prep_nthreads == 0)
		return;
	pthread_mutex_lock(&prep_lock);
	prep_quit = true;
	pthread_cond_broadcast(&prep_queued);
	pthread_mutex_unlock(&prep_lock);
	for (i = 0; i < prep_nthreads; i++)
		pthread_join(prep_threads[i], NULL);
	prep_nthreads = 0;
}

void
prep_set_workers(int n)
{
	prep_shutdown();
	prep_usable = n > PREP_MAX_THREADS ? PREP_MAX_THREADS : n;
}
