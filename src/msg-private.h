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

/* What GMime's parser warnings do while they are reported. */
enum msg_warn_mode {
	MSG_WARN_RECORD,	/* a defect */
	MSG_WARN_QUIET,		/* dropped: reported before */
	MSG_WARN_CAPTURE,	/* dropped, m->warned set: the caller decides */
	MSG_WARN_AT,		/* a defect at byte m->warn_at */
};

/* A header field as written: pointers into the header block. */
struct msg_field {
	const char	*name;
	size_t		 name_len;
	const char	*value;		/* after the colon, line breaks kept */
	size_t		 value_len;
	size_t		 offset;	/* of the name, from the block's start */
	bool		 invalid;	/* not a field: GMime drops it */
};

/* A Content-Type as GMime reads it, without GMime's objects. */
struct msg_ctype {
	char		*type;		/* as written */
	char		*subtype;
	size_t		 nparams;
	char		**names;
	char		**values;	/* unquoted */
	int		 refs;
};

enum msg_mime_kind {
	MIME_LEAF,
	MIME_MULTIPART,
	MIME_MESSAGE,		/* message/rfc822 holding a message */
};

/* A part found by msg-mime.c; content points into the message. */
struct msg_mime_part {
	struct msg_ctype	*type;		/* NULL: none written */
	GMimeContentDisposition	*disposition;
	GMimeContentEncoding	 encoding;
	GMimeContentEncoding	 first_encoding;	/* of the first field */
	size_t			 type_offset;	/* of its Content-Type field */
	bool			 has_fields;
	bool			 default_message;	/* in multipart/digest */
	bool			 type_invalid;	/* GMime could not read it:
						   the default decides */
	enum msg_mime_kind	 kind;
	size_t			 content;	/* leaf: offset in m->parse */
	size_t			 content_len;
	const char		*message;	/* MIME_MESSAGE: as written */
	size_t			 message_len;
	struct msg_mime_part	*first;		/* children; a message's top */
	struct msg_mime_part	*next;
	size_t			 nchildren;
	struct msg_mime_part	*next_alloc;
};

struct msg_mime {
	struct msg_mime_part	*top;
	struct msg_mime_part	*all;		/* every part, to free */
	size_t			 nparts;
};

/* A check put off until the defects are asked for. */
struct msg_deferred {
	const char	*value;		/* raw field value, in m->parse */
	size_t		 len;
	size_t		 offset;	/* of the field */
	size_t		 pos;		/* where in the defects its own go */
};

/* How often each path was taken (by tests and benchmarks); counted with
 * MSG_STAT from any thread. */
#define MSG_STAT(f)	__atomic_fetch_add(&msg_stats.f, 1, __ATOMIC_RELAXED)
struct msg_stats {
	size_t	 head_own;	/* header blocks split by msg-head.c */
	size_t	 head_gmime;	/* header blocks left to GMime */
	size_t	 body_own;	/* bodies walked by msg-mime.c */
	size_t	 body_gmime;	/* bodies left to GMime */
};

struct msg {
	char			*raw;		/* copy of the input, NUL after */
	size_t			 raw_len;
	const char		*parse;		/* where parsing starts (no mbox From_) */
	size_t			 parse_len;	/* bytes parsed, capped by max_size */
	size_t			 header_len;	/* bytes of the header block */
	struct msg_limits	 limits;
	GMimeParserOptions	*options;
	enum msg_warn_mode	 warn_mode;
	gint64			 warn_at;	/* MSG_WARN_AT: the field's offset */
	bool			 warned;	/* MSG_WARN_CAPTURE: a warning came */
	size_t			 nwarnings;	/* MSG_WARN_CAPTURE: how many */
	GMimeParserWarning	 warned_code;	/* MSG_WARN_CAPTURE: the last */
	gint64			 warned_offset;
	bool			 header_stage;	/* parsing the header block */
	GByteArray		**arrays;	/* over raw, for GMime's streams */
	size_t			 narrays;

	/* Our own split of the header block (NULL: GMime's). */
	char			*head_store;	/* names and values, NUL after each */
	struct msg_mime_part	 top;		/* its Content-* fields */
	bool			 own_head;
	struct msg_mime		*mime;		/* msg-mime.c's parts */
	struct msg_mime_part	**attachment_parts;

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
	bool			 auto_done;	/* auto_reason is known */
	bool			 addrs_done;	/* addrs[] are loaded */
	size_t			 addr_defect_pos;	/* where their defects go */
	size_t			 defect_insert;	/* SIZE_MAX: append */
	/* Address lists GMime's parser must check, when defects are asked. */
	struct msg_deferred	*deferred;
	size_t			 ndeferred;

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

/* msg-head.c: split a header block ending in its blank line into fields. */
int		 msg_head_split(const char *, size_t, struct msg_field **,
		    size_t *);
size_t		 msg_head_unfold(const char *, size_t, char *);
bool		 msg_field_is(const struct msg_field *, const char *);
bool		 msg_addr_simple(const char *, size_t);
struct msg_ctype *msg_ctype_parse(struct msg *, const char *);
void		 msg_ctype_free(struct msg_ctype *);
bool		 msg_ctype_is(const struct msg_ctype *, const char *,
		    const char *);
const char	*msg_ctype_param(const struct msg_ctype *, const char *);

/* msg.c: what GMime's message does with the fields of a header block. */
int		 msg_head_message_fields(struct msg *,
		    const struct msg_field *, char **, size_t, bool);
/* msg.c: report field i if an earlier one has its name. */
void		 msg_head_repeated(struct msg *, const struct msg_field *,
		    size_t);
/* msg.c: what GMime reports of the fields of a block at byte base. */
void		 msg_head_warn_fields(struct msg *, const struct msg_field *,
		    size_t, size_t);
/* Drop the defects recorded after the first n. */
void		 msg_defects_truncate(struct msg *, size_t);

/* msg-mime.c: the parts of the body, or NULL: GMime must parse it. */
struct msg_mime	*msg_mime_parse(struct msg *);
void		 msg_mime_free(struct msg_mime *);
int		 msg_part_fields(struct msg *, const struct msg_field *,
		    char **, size_t, struct msg_mime_part *, bool);

/* Tests: parse with GMime alone (the path before msg-head/msg-mime). */
void		 msg_set_gmime_only(bool);
bool		 msg_gmime_only(void);
extern struct msg_stats msg_stats;

/* Hand s (allocated with malloc) to the message; returns s. */
char		*msg_keep(struct msg *, char *s);
/* A valid UTF-8 copy of s owned by the message. */
const char	*msg_keep_utf8(struct msg *, const char *s, size_t len);
/* Record a defect (deduplicated, capped at MSG_MAX_DEFECTS). */
void		 msg_defect(struct msg *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
/* A GMime stream over bytes of the message, not copied. */
GMimeStream	*msg_gmime_stream(struct msg *, const char *, size_t);
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
