/*
 * The bytes of a message's attachments, for actions that write them out
 * (extract). msg.h lists attachments by file name, type and size; this
 * finds the MIME part behind each entry of that list and decodes it.
 */
#ifndef FACTEUR_MSG_EXTRA_H
#define FACTEUR_MSG_EXTRA_H

#include <stddef.h>

struct msg;
struct msg_attachment;
struct msg_parts;

/* Walk the message's MIME tree once. Never returns NULL. */
struct msg_parts *msg_parts_new(struct msg *);
void		 msg_parts_free(struct msg_parts *);

/*
 * The decoded bytes of the first part not yet taken that has the file
 * name, type and size of a (an entry of msg_attachments(), or the same
 * three values from a plan). Transfer encoding undone; a message/rfc822
 * part is the message as written. NULL when no part fits. The bytes are
 * owned by the struct msg_parts.
 */
const char	*msg_parts_take(struct msg_parts *, const char *filename,
		     const char *content_type, size_t size, size_t *len);

#endif
