/*
 * The inside of struct msg, shared by msg.c (headers, addresses, facts) and
 * msg-body.c (the MIME walk: text and attachments). Nothing else includes
 * this.
 */
#ifndef FACTEUR_MSG_PRIVATE_H
#define FACTEUR_MSG_PRIVATE_H

#include <gmime/gmime.h>

#include "msg.h"

#define MSG_MAX_DEFECTS	64

struct msg {
	char			*raw;		/* copy of the input, NUL after */
	size_t			 raw_len;
	const char		*parse;		/* where parsing starts (no mbox From_) */
	size_t			 parse_len;	/* bytes parsed, capped by max_size */
	size_t			 header_len;	/* bytes of the header block */
	struct msg_limits	 limits;
	GMimeParserOptions	*options;
	bool			 quiet;		/* drop parser warnings */
	bool			 header_stage;	/* parsing the header block */

	struct msg_header	*headers;
	char			**raw_values;	/* unfolded, undecoded */
	size_t			 nheaders;
	struct msg_addr		*addrs[MSG_ADDR_FIELD_COUNT];
	size_t			 naddrs[MSG_ADDR_FIELD_COUNT];

	const char		*subject;
	const char		*message_id;
	const char		*in_reply_to;
	const char		*references;
	const char		*date;
	time_t			 date_time;
	const char		*return_path;
	const char		*list_id;
	bool			 is_list;
	const char		*auto_reason;	/* NULL: not automatic */

	bool			 body_done;
	const char		*text;
	struct msg_attachment	*attachments;
	size_t			 nattachments;
	size_t			 attachments_size;
	/*
	 * Sizes cost a decode of each attachment: measured the first time
	 * msg_attachments() asks. Until then the MIME tree stays, with each
	 * attachment's object in it.
	 */
	GMimeMessage		*body_gm;
	GMimeObject		**attachment_objs;
	bool			 sizes_done;
	/*
	 * A message that is one text part (the common case) needs no MIME
	 * parse for its text: what the header block said about that part.
	 */
	bool			 single_text;
	bool			 single_html;
	GMimeContentEncoding	 single_encoding;
	const char		*single_charset;	/* NULL: none */

	char			**defects;
	size_t			 ndefects;
	size_t			 defects_size;

	char			**pool;		/* strings freed by msg_free() */
	size_t			 npool;
	size_t			 pool_size;
};

/* Hand s (allocated with malloc) to the message; returns s. */
char		*msg_keep(struct msg *, char *s);
/* A valid UTF-8 copy of s owned by the message. */
const char	*msg_keep_utf8(struct msg *, const char *s, size_t len);
/* Record a defect (deduplicated, capped at MSG_MAX_DEFECTS). */
void		 msg_defect(struct msg *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
/* A GMime message parsed from len bytes at data, or NULL. */
GMimeMessage	*msg_gmime_parse(struct msg *, const char *data, size_t len);

/* msg-body.c: decode text and list attachments, once. */
void		 msg_body_parse(struct msg *);
/* msg-body.c: the decoded size of each attachment, once. */
void		 msg_body_sizes(struct msg *);
/* msg-body.c: note a top part that is the whole text (header stage). */
void		 msg_body_note_top(struct msg *, GMimeMessage *);
/* msg-body.c: drop the MIME tree and what points into it. */
void		 msg_body_free(struct msg *);

#endif
