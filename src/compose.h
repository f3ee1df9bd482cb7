/*
 * Outgoing mail shared by reply, autoreply, forward and notify: the sender
 * from the config, a Message-ID derived from the action's journal identity,
 * Date, Auto-Submitted, RFC 2047 headers (GMime encodes non-ASCII), and the
 * one way out, compose_send(), which enforces the limits and records the
 * send in the state.
 */
#ifndef FACTEUR_COMPOSE_H
#define FACTEUR_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>

#include <gmime/gmime.h>
#include <jansson.h>

#include "action.h"

/* The mailbox mail goes out as: smtp.from, else the account's first
 * address. Both strings allocated (caller frees); -1 and *cause if none. */
int	compose_sender(const struct action_ctx *, char **name, char **addr,
	    char **cause);
/* "Name <addr>" -> name ("" if none) and addr-spec, allocated; -1 if the
 * text holds no mailbox. */
int	compose_parse_mailbox(const char *, char **name, char **addr);
/* A Message-ID (no <>) hashed from ident, in from_addr's domain. */
char	*compose_message_id(const char *ident, const char *from_addr);

/*
 * The recipients of a plan field: a string or an array of strings, each one
 * or more mailboxes ("a@x, B <b@y>"). *out is a NULL-terminated allocated
 * array of addr-specs (free with compose_rcpts_free). Refuses an empty list
 * and an address smtp_send() would refuse.
 */
int	compose_rcpts(json_t *, char ***out, size_t *n, char **cause);
void	compose_rcpts_free(char **);

/* A message with From, To, Subject, Date, Message-ID and, when not NULL,
 * Auto-Submitted; no body yet. Caller unrefs. */
GMimeMessage *compose_message(const char *from_name, const char *from_addr,
	    const char *const *to, size_t nto, const char *subject,
	    const char *message_id, const char *auto_submitted);
/* In-Reply-To and References answering orig. */
void	compose_threading(GMimeMessage *, struct msg *orig);
/* A text/plain UTF-8 part, 7-bit transfer encoded. Caller unrefs. */
GMimeObject *compose_text_part(const char *text);
/* The whole message with CRLF line ends (allocated, caller frees). */
char	*compose_string(GMimeObject *, size_t *len);
/* Give m the text as its only part, and return it whole as
 * compose_string() does; m is unreferenced. */
char	*compose_text_message(GMimeMessage *m, const char *text,
	    size_t *len);

/* One piece of mail ready to leave. */
struct outgoing {
	const char	*kind;		/* "reply", "forward": for the log */
	/*
	 * The handle in the state's sent table. Replies and auto-replies use
	 * handles starting with "reply" so replies_per_sender counts both.
	 */
	const char	*handle;
	bool		 is_reply;	/* subject to replies_per_sender */
	const char	*mail_from;	/* "" for MAIL FROM:<> */
	const char *const *rcpts;
	size_t		 nrcpts;
	const char	*data;
	size_t		 len;
	const char	*message_id;	/* for the log */
};

/*
 * Check the limits, send, record the send. Over replies_per_sender the
 * reply is dropped (ACTION_OK, logged); over sends_per_hour the send waits
 * (ACTION_TEMP). Some recipients refused while others took the mail is
 * ACTION_PERM naming the refused ones: a retry would send it twice.
 */
enum action_result compose_send(struct action_ctx *, const struct outgoing *,
	    char **cause);

/* addr lower-cased (allocated): the key of a correspondent in the state. */
char	*compose_address_key(const char *);

#endif
