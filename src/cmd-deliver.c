/*
 * facteur deliver: one message on stdin, as an MTA's delivery agent (an
 * Exim pipe transport, Postfix's mailbox_command, a .forward pipe). The
 * message goes through the same path as any other (runner_process) under
 * the account named with -a, in the mailbox "stdin", keyed by its
 * Message-ID or, without one, by the SHA-256 of its bytes.
 *
 * The exit code is the MTA's instruction: 0 when the message is finished,
 * 75 (EX_TEMPFAIL) when an action is still pending or the journal cannot be
 * written, so the MTA keeps it and tries again. That retry finds the
 * journal entry and resumes only the pending actions, without evaluating
 * the rules again and without repeating what was done. Here the MTA owns
 * the retry schedule, so pending actions are made due at once rather than
 * waiting for the backoff `facteur run` uses.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "run.h"
#include "state.h"
#include "xmalloc.h"

#define DELIVER_MAX_MESSAGE	(64u * 1024 * 1024)
#define DELIVER_MAX_KEY		998	/* a longer Message-ID: use the hash */
#define DELIVER_MAILBOX		"stdin"

static int	 deliver_options(int, char **, const char **, const char **);
static int	 deliver_read(int, char **, size_t *, char **);
static size_t	 deliver_skip_envelope(const char *, size_t);
static char	*deliver_key(const char *, size_t);
static void	 deliver_make_due(struct state *, struct conf_account *,
		     const char *);
static int	 deliver_run(struct conf *, struct conf_account *,
		     const char *, size_t);

static int
deliver_options(int argc, char **argv, const char **config,
    const char **account)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "account", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct common_opts	 o;
	int			 ch, rc;

	common_init(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "a:c:v", longopts, NULL)) != -1) {
		if ((rc = common_option(&o, ch, optarg)) < 0)
			return -1;
		if (rc == 1)
			continue;
		if (ch != 'a')
			return -1;
		*account = optarg;
	}
	if (optind != argc || *account == NULL)
		return -1;
	*config = o.config;
	common_log_init(&o);
	return 0;
}

/* All of fd, at most the cap: 1 over the cap, -1 on a read error. */
static int
deliver_read(int fd, char **out, size_t *len, char **cause)
{
	struct buf	 b;
	char		 chunk[65536];
	ssize_t		 n;

	buf_init(&b, DELIVER_MAX_MESSAGE);
	for (;;) {
		if ((n = read(fd, chunk, sizeof chunk)) == -1) {
			if (errno == EINTR)
				continue;
			*cause = xasprintf("stdin: %s", strerror(errno));
			buf_free(&b);
			return -1;
		}
		if (n == 0)
			break;
		if (buf_add(&b, chunk, (size_t)n) != 0) {
			buf_free(&b);
			return 1;
		}
	}
	*out = buf_steal(&b, len);
	return 0;
}

/*
 * An mbox-style "From sender date" line, as some MTAs (Postfix's
 * mailbox_command, procmail setups) put before the message: not part of
 * it, and no header. The length of that line, or 0.
 */
static size_t
deliver_skip_envelope(const char *data, size_t len)
{
	const char	*nl;

	if (len < 5 || memcmp(data, "From ", 5) != 0 ||
	    (nl = memchr(data, '\n', len)) == NULL)
		return 0;
	return (size_t)(nl - data) + 1;
}

/* The Message-ID when there is a usable one, else the hash of the bytes. */
static char *
deliver_key(const char *data, size_t len)
{
	struct msg	*m;
	const char	*mid;
	char		*key, hash[65];

	m = msg_new(data, len, NULL);
	mid = msg_message_id(m);
	if (mid != NULL && *mid != '\0' && strlen(mid) <= DELIVER_MAX_KEY)
		key = xstrdup(mid);
	else {
		sha256_hex(data, len, hash);
		key = xstrdup(hash);
	}
	msg_free(m);
	return key;
}

/* The MTA retried: the pending actions of this message are due now. */
static void
deliver_make_due(struct state *st, struct conf_account *a, const char *key)
{
	struct state_ident	 id;
	struct state_action	*v;
	size_t			 i, n;
	int64_t			 rowid;
	char			*cause = NULL;

	memset(&id, 0, sizeof id);
	id.account = a->name;
	id.mailbox = DELIVER_MAILBOX;
	id.key = key;
	if (state_message_status(st, &id, &rowid) != STATE_MSG_PLANNED)
		return;
	if (state_actions(st, rowid, &v, &n, &cause) != 0) {
		log_warn("%s: %s: %s", a->name, key, cause);
		free(cause);
		return;
	}
	for (i = 0; i < n; i++) {
		if (v[i].status != STATE_ACT_PENDING ||
		    v[i].next_attempt <= time(NULL))
			continue;
		if (state_action_due(st, rowid, v[i].idx, &cause) != 0) {
			log_warn("%s: %s: %s", a->name, key, cause);
			free(cause);
			cause = NULL;
		}
	}
	state_actions_free(v, n);
}

static int
deliver_run(struct conf *conf, struct conf_account *a, const char *data,
    size_t len)
{
	struct runner		 r;
	enum process_result	 pr;
	char			*key, *cause = NULL;

	memset(&r, 0, sizeof r);
	r.conf = conf;
	if (state_open(conf->state_path, &r.state, &cause) != 0) {
		log_error("%s: %s", a->name, cause);
		free(cause);
		return EXIT_TEMPFAIL;
	}
	key = deliver_key(data, len);
	deliver_make_due(r.state, a, key);
	pr = runner_process(&r, a, DELIVER_MAILBOX, key, 0, data, len);
	free(key);
	/* Exit 0 tells the MTA the message is safe: only once committed. */
	if (state_commit(r.state, &cause) != 0) {
		log_error("%s: %s", a->name, cause);
		free(cause);
		pr = PROCESS_ERROR;
	}
	state_close(r.state);
	if (pr != PROCESS_DONE) {
		log_warn("%s: %s: the message is kept for a retry (exit 75)",
		    a->name, DELIVER_MAILBOX);
		return EXIT_TEMPFAIL;
	}
	return EXIT_OK;
}

int
cmd_deliver(int argc, char **argv)
{
	struct diag		 d;
	struct conf		*conf = NULL;
	struct conf_account	*a;
	const char		*config = default_config_path(), *account = NULL;
	char			*data = NULL, *cause = NULL;
	size_t			 len = 0, skip;
	int			 rc;

	if (deliver_options(argc, argv, &config, &account) != 0) {
		fputs("usage: facteur deliver [-c CONFIG] -a ACCOUNT "
		    "[--log text|json] [--syslog] [-v] < MESSAGE\n", stderr);
		return EXIT_USAGE;
	}
	diag_init(&d);
	if ((conf = conf_load(config, &d)) == NULL) {
		diag_print(&d, stderr);
		diag_free(&d);
		return EXIT_CONFIG;
	}
	diag_free(&d);
	if ((a = conf_find_account(conf, account)) == NULL) {
		log_error("%s: no account named '%s'", config, account);
		rc = EXIT_CONFIG;
		goto out;
	}
	if ((rc = deliver_read(STDIN_FILENO, &data, &len, &cause)) != 0) {
		if (rc == 1)
			log_error("%s: the message on stdin is over %u bytes: "
			    "refused", a->name, DELIVER_MAX_MESSAGE);
		else
			log_error("%s: %s", a->name, cause);
		rc = rc == 1 ? EXIT_DATAERR : EXIT_TEMPFAIL;
		goto out;
	}
	skip = deliver_skip_envelope(data, len);
	if (len == skip) {
		log_error("%s: no message on stdin", a->name);
		rc = EXIT_DATAERR;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	rc = deliver_run(conf, a, data + skip, len - skip);

out:
	free(cause);
	free(data);
	conf_free(conf);
	return rc;
}
