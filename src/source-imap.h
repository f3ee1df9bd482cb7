/*
 * The IMAP source's pieces that the watch loop (watch.c) drives: connect
 * with the account's credentials, and sync one mailbox on an open
 * connection. source_imap_sync() (run.h) is one whole pass.
 */
#ifndef FACTEUR_SOURCE_IMAP_H
#define FACTEUR_SOURCE_IMAP_H

struct conf_account;
struct imap_conn;
struct runner;

/* Log in with the password, or a token from the oauth2 command. */
int	source_imap_connect(struct conf_account *, struct imap_conn *,
	    char **cause);
/* SELECT, fetch what is new, process it, apply after, save the UID. */
int	source_imap_sync_mailbox(struct runner *, struct conf_account *,
	    struct imap_conn *, const char *mailbox, char **cause);

#endif
