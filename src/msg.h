/*
 * A mail message as a person reads it, built on GMime. msg_new() never fails
 * on content: a malformed message gives a best-effort view and a list of
 * defects. Decoding is lazy: headers are parsed up front, but a field's
 * value is decoded (RFC 2047) when first asked for, the text of the body
 * when msg_text() or msg_attachments() first asks, and attachment sizes
 * when msg_attachments() does.
 *
 * Every string returned is valid UTF-8, NUL-terminated, and owned by the
 * struct msg: it lives until msg_free(). Call msg_library_init() once before
 * anything else.
 */
#ifndef FACTEUR_MSG_H
#define FACTEUR_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct msg;

enum msg_addr_field {
	MSG_FROM,
	MSG_SENDER,
	MSG_REPLY_TO,
	MSG_TO,
	MSG_CC,
	MSG_BCC,
	MSG_RETURN_PATH,
	MSG_DELIVERED_TO,
	MSG_RESENT_FROM,
	MSG_RESENT_TO,
	MSG_RESENT_CC,
	MSG_RESENT_BCC,
	MSG_ADDR_FIELD_COUNT
};

struct msg_addr {
	const char	*name;		/* display name, "" when none */
	const char	*address;	/* addr-spec, "" for <> */
};

struct msg_header {
	const char	*name;		/* as written */
	const char	*value;		/* unfolded, RFC 2047 decoded */
};

struct msg_attachment {
	const char	*filename;	/* decoded; "" when none */
	const char	*content_type;	/* "type/subtype", lower case */
	size_t		 size;		/* decoded size in bytes */
	bool		 is_signed;	/* part of multipart/signed */
	bool		 is_encrypted;	/* multipart/encrypted, PGP or S/MIME */
};

/* Caps on what a message may make us do. Zero fields take the defaults. */
struct msg_limits {
	size_t	max_size;	/* bytes parsed (default 64 MiB) */
	size_t	max_depth;	/* MIME nesting (default 32) */
	size_t	max_parts;	/* MIME parts walked (default 1000) */
	size_t	max_headers;	/* header fields kept (default 1000) */
	size_t	max_text;	/* bytes of decoded text (default 4 MiB) */
};

void		 msg_library_init(void);
void		 msg_library_shutdown(void);

/* Parse a copy of data. Never returns NULL. */
struct msg	*msg_new(const char *data, size_t len,
		     const struct msg_limits *);
/*
 * Parse data without copying it: the message takes it (allocated with
 * malloc, data[len] a NUL byte it may keep) and frees it in msg_free().
 * Never returns NULL.
 */
struct msg	*msg_new_take(char *data, size_t len,
		     const struct msg_limits *);
void		 msg_free(struct msg *);

/* The raw bytes as given to msg_new(). */
const char	*msg_raw(const struct msg *, size_t *len);

const char	*msg_subject(struct msg *);	/* "" when absent */
const char	*msg_message_id(struct msg *);	/* no <>, NULL when absent */
const char	*msg_in_reply_to(struct msg *);	/* no <>, NULL when absent */
/* References as written (ids with <>, space separated), NULL when absent. */
const char	*msg_references(struct msg *);
const char	*msg_date(struct msg *);	/* as written, NULL when absent */
time_t		 msg_date_time(struct msg *);	/* (time_t)-1 when unknown */

/* The addresses of one field, groups flattened. Returns the count. */
size_t		 msg_addrs(struct msg *, enum msg_addr_field,
		     const struct msg_addr **);
/* The envelope sender: Return-Path's address ("" for <>), NULL if absent. */
const char	*msg_return_path(struct msg *);

/* All header fields in order. Returns the count. */
size_t		 msg_headers(struct msg *, const struct msg_header **);
/* The idx-th value (0-based) of the field name (any case), or NULL. */
const char	*msg_header(struct msg *, const char *name, size_t idx);

/* The text a person reads: text/plain preferred, HTML turned to text. */
const char	*msg_text(struct msg *);
size_t		 msg_attachments(struct msg *,
		     const struct msg_attachment **);

const char	*msg_list_id(struct msg *);	/* NULL when none */
bool		 msg_is_list(struct msg *);	/* any List-* header */
/* Auto-submitted, bulk, DSN/MDN, MAILER-DAEMON...; *why says which. */
bool		 msg_is_auto(struct msg *, const char **why);

/* What was wrong with the message, in words. Returns the count. */
size_t		 msg_defects(struct msg *, const char *const **);

#endif
