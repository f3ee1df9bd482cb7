/*
 * A small IMAP client on a connection that libcurl opened and logged in
 * (CURLOPT_CONNECT_ONLY: greeting, CAPABILITY, STARTTLS and SASL are
 * libcurl's; everything after is ours). libcurl 7.88.1 cannot frame
 * literals in custom requests, so message content is always read here.
 *
 * Responses are read whole: the protocol text into one buffer, each
 * literal into a buffer of its own, of exactly its size; a token reader
 * then walks them. Every size is capped: line length, literal size,
 * response size.
 */
#ifndef FACTEUR_IMAP_H
#define FACTEUR_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "xmalloc.h"

struct conf_account;

enum imap_status {
	IMAP_OK = 0,
	IMAP_NO = -1,		/* tagged NO: the command failed */
	IMAP_BAD = -2,		/* tagged BAD, or a protocol error */
	IMAP_TEMP = -3		/* connection lost, timeout: retry later */
};

enum imap_tok_type {
	IMAP_TOK_END,
	IMAP_TOK_ATOM,		/* also numbers, flags, NIL */
	IMAP_TOK_STRING,	/* quoted string or literal */
	IMAP_TOK_OPEN,		/* ( */
	IMAP_TOK_CLOSE,		/* ) */
	IMAP_TOK_BOPEN,		/* [ */
	IMAP_TOK_BCLOSE,	/* ] */
	IMAP_TOK_ERROR
};

struct imap_tok {
	enum imap_tok_type	 type;
	const char		*p;	/* into the response; not terminated */
	size_t			 len;
};

/* A literal of a response, kept apart from the protocol text. */
struct imap_lit {
	char		*data;		/* len bytes and a NUL; NULL once taken */
	size_t		 len;
	size_t		 at;		/* offset in line just after "{N}\r\n" */
};

/*
 * One whole response: its protocol text in line, where each literal is
 * marked by "{N}\r\n" and its bytes are in lits, in order.
 */
struct imap_resp {
	struct buf	 line;
	size_t		 pos;		/* token reader position */
	bool		 tagged;	/* starts with our tag */
	struct imap_lit	*lits;
	size_t		 nlits;
	size_t		 lit_bytes;	/* sum of their sizes */
};

struct imap_pending;

struct imap_conn {
	CURL		*curl;
	curl_socket_t	 fd;
	char		*label;		/* "account" for logs */
	struct buf	 in;		/* bytes received */
	size_t		 in_off;	/* of which consumed */
	unsigned	 tag;
	char		 tagstr[16];
	char		*caps;		/* CAPABILITY atoms, space separated */
	size_t		 max_literal;
	int		 timeout_ms;	/* per read */
	/* SELECT results */
	uint32_t	 uidvalidity;
	uint32_t	 uidnext;
	uint32_t	 exists;
	bool		 exists_changed;	/* an EXISTS arrived */
	bool		 idling;		/* between IDLE and its end */
	char		 delim;		/* hierarchy delimiter; 0: not asked */
	/* A UID FETCH sent ahead (imap_fetch_start) whose end is not read. */
	struct imap_pending *pending;
};

/*
 * An untagged-response handler: called for every untagged response while a
 * command runs. Returns 0, or -1 to fail the command with *cause set.
 */
typedef int (*imap_untagged_cb)(struct imap_conn *, struct imap_resp *,
    void *, char **cause);

int	imap_connect(struct imap_conn *, const struct conf_account *,
	    const char *password, const char *oauth_token, char **cause);
void	imap_close(struct imap_conn *);
bool	imap_has_cap(const struct imap_conn *, const char *);

/*
 * Send a command (the tag is added) and read until its tagged reply.
 * Untagged responses go to cb (may be NULL). On IMAP_NO/BAD/TEMP *cause
 * says why.
 */
int	imap_command(struct imap_conn *, imap_untagged_cb, void *,
	    char **cause, const char *, ...)
	    __attribute__((format(printf, 5, 6)));

/* SELECT a mailbox; fills uidvalidity, uidnext, exists. */
int	imap_select(struct imap_conn *, const char *mailbox, char **cause);
/* UID SEARCH UID from:* -> sorted UIDs >= from (caller frees *uids). */
int	imap_search_from(struct imap_conn *, uint32_t from, uint32_t **uids,
	    size_t *n, char **cause);

/* A message fetched with BODY.PEEK[]. */
struct imap_message {
	uint32_t	 uid;
	char		*data;
	size_t		 len;
	bool		 seen;
};

/*
 * UID FETCH the set (e.g. "5,7:9") with BODY.PEEK[], never setting \Seen.
 * The caller frees each data and the array.
 */
int	imap_fetch(struct imap_conn *, const char *set,
	    struct imap_message **, size_t *n, char **cause);

/*
 * The same in two steps, so that the server prepares one batch while the
 * caller works on the previous one. imap_fetch_start() sends the command;
 * imap_fetch_finish() reads what is left of its responses and hands over
 * the messages as imap_fetch() does. While a fetch is open, any other
 * command (imap_command(), IDLE, LOGOUT) first reads it to its end, its
 * messages kept for imap_fetch_finish(): commands never interleave.
 */
int	imap_fetch_start(struct imap_conn *, const char *set, char **cause);
int	imap_fetch_finish(struct imap_conn *, struct imap_message **,
	    size_t *n, char **cause);
/* The string of a token as an allocated, NUL-terminated copy; a literal's
 * own buffer is handed over instead (no copy), and taken from r. */
char	*imap_resp_take(struct imap_resp *, const struct imap_tok *,
	    size_t *len);

/*
 * IDLE: start it (waits for the continuation), read what the server pushed
 * once the socket is readable (sets exists_changed on new mail; a server
 * that ends IDLE by itself clears idling), and end it with DONE.
 *
 * The connection's TLS layer may hold bytes the socket no longer shows
 * (a read buffer, see net_raw_begin). imap_idle_start and imap_idle_read
 * leave it empty: everything received is in c->in. So a caller waiting for
 * the server in IDLE first handles a whole line in c->in, if any, with
 * imap_idle_read, and waits on c->fd only when there is none. Outside IDLE
 * only this file waits on the socket.
 */
int	imap_idle_start(struct imap_conn *, char **cause);
int	imap_idle_read(struct imap_conn *, char **cause);
int	imap_idle_done(struct imap_conn *, char **cause);

/* Quote a string for the IMAP wire (mailbox names); caller frees. */
char	*imap_quote(const char *);
/* A mailbox name (UTF-8) as a quoted IMAP argument in modified UTF-7;
 * NULL and *cause for control characters or bad UTF-8. */
char	*imap_mailbox_arg(const char *, char **cause);
/*
 * The same for a folder name as users write it, '/' between levels, on
 * this server: '/' becomes the server's own hierarchy delimiter (asked once
 * per connection with LIST "" ""; a server that will not say is taken to
 * use '/').
 */
char	*imap_folder_arg(struct imap_conn *, const char *, char **cause);

/* Low level, for IDLE and tests. */
int	imap_send(struct imap_conn *, const char *, size_t, char **cause);
int	imap_read_resp(struct imap_conn *, struct imap_resp *, char **cause);
void	imap_resp_init(struct imap_resp *);
void	imap_resp_free(struct imap_resp *);
struct imap_tok imap_next(struct imap_resp *);
/* Token equals atom s (any case). */
bool	imap_tok_is(const struct imap_tok *, const char *);
/* Parse a token as an unsigned 32-bit number; -1 if it is not one. */
int	imap_tok_u32(const struct imap_tok *, uint32_t *);

/* Feed bytes to the reader without a socket (tests, fuzzing). */
void	imap_conn_init_buffer(struct imap_conn *, const char *, size_t);

#endif
