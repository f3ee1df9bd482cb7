/*
 * A small POP3 client on a connection that libcurl opened and logged in
 * (CURLOPT_CONNECT_ONLY on pop3:// and pop3s://: greeting, CAPA, STLS and
 * the login are libcurl's; everything after is ours, through
 * curl_easy_send/curl_easy_recv, so TLS stays libcurl's business).
 *
 * Commands may be sent ahead of their replies (RFC 2449 PIPELINING): the
 * replies come back in order, and the caller reads them in that order.
 * Every size is capped: a status line, a multi-line response.
 */
#ifndef FACTEUR_POP3_H
#define FACTEUR_POP3_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "xmalloc.h"

struct conf_account;
struct pop3_conn;

/*
 * Where the bytes come from: up to cap bytes into p; 1 and *got > 0 bytes,
 * 0 nothing yet (would block), POP3_TEMP and *cause closed or failed.
 */
typedef int (*pop3_recv_fn)(struct pop3_conn *, char *p, size_t cap,
    size_t *got, char **cause);

enum pop3_status {
	POP3_OK = 0,
	POP3_ERR = -1,		/* -ERR: the command failed */
	POP3_BAD = -2,		/* a protocol error, a response over its cap */
	POP3_TEMP = -3		/* connection lost, timeout: retry later */
};

struct pop3_conn {
	CURL		*curl;
	curl_socket_t	 fd;
	char		*label;		/* "account" for logs */
	struct buf	 in;		/* bytes received */
	size_t		 in_off;	/* of which consumed */
	struct buf	 out;		/* commands not yet written */
	int		 timeout_ms;	/* per read */
	bool		 pipelining;	/* CAPA said PIPELINING */
	unsigned	 unread;	/* commands sent, reply not read */
	bool		 in_body;	/* inside a multi-line reply */
	pop3_recv_fn	 recv;		/* the transport; tests replace it */
	void		*recv_arg;	/* for a test's transport */
};

/*
 * Connect and log in with libcurl, then ask CAPA. POP3_ERR when the login
 * was refused, POP3_TEMP for anything else.
 */
int	pop3_connect(struct pop3_conn *, const struct conf_account *,
	    const char *password, char **cause);
/*
 * QUIT, read its reply (the server then commits the session's DELEs), and
 * close. Only when every reply was read; else the connection is dropped
 * and nothing is committed.
 */
int	pop3_quit(struct pop3_conn *, char **cause);
/* Close without QUIT: the session's DELEs are void. */
void	pop3_close(struct pop3_conn *);

/*
 * Send one command line (CRLF added); its reply is read later. Commands
 * are queued and go out together, at the latest when a reply is read.
 */
int	pop3_send(struct pop3_conn *, char **cause, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/*
 * Read the status line of the oldest unread reply. POP3_OK for +OK (*text,
 * if not NULL, gets the rest of the line, allocated), POP3_ERR for -ERR
 * (*cause says what the server said). multiline: a body follows +OK, to be
 * read with pop3_multiline().
 */
int	pop3_status(struct pop3_conn *, bool multiline, char **text,
	    char **cause);
/*
 * Read the body of a multi-line reply whose +OK was read: up to the line
 * ".", dot-unstuffed (RFC 1939 3), appended to out, whose cap applies
 * (POP3_BAD past it). The CRLF that ends the last line is part of the
 * body; the terminating ".\r\n" is not.
 */
int	pop3_multiline(struct pop3_conn *, struct buf *out, char **cause);

/* Feed bytes to the reader without a socket (tests, fuzzing). */
void	pop3_conn_init_buffer(struct pop3_conn *, const char *, size_t);
void	pop3_conn_free(struct pop3_conn *);

#endif
