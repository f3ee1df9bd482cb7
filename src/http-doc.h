/*
 * The JSON document that describes a message to a program (run with
 * stdin: json) or an HTTP receiver (webhook without a body template):
 *
 *   {"account": "orders", "mailbox": "INBOX", "uid": 42,
 *    "rule": "order-received", "message_id": "abc@example.test",
 *    "date": "Sun, 22 Nov 2026 09:12:00 +0100", "subject": "...",
 *    "from": {"name": "Alice", "address": "alice@example.test"},
 *    "to": [{"name": "", "address": "bot@example.test"}], "cc": [],
 *    "text": "...", "text_truncated": false,
 *    "attachments": [{"filename": "a.pdf", "content_type":
 *                     "application/pdf", "size": 1234}],
 *    "captures": {"order": "123456"}}
 *
 * "uid" is null when the source has none (POP3, Maildir, deliver);
 * "message_id", "date" and "from" are null when the message lacks them.
 * "text" is the decoded text a person reads, cut to HTTP_DOC_TEXT_MAX
 * bytes on a character boundary ("text_truncated" then true).
 * "captures" holds the named captures of the rule that planned the action
 * (the plan of a webhook or run action carries them).
 */
#ifndef FACTEUR_HTTP_DOC_H
#define FACTEUR_HTTP_DOC_H

#include <jansson.h>

#define HTTP_DOC_TEXT_MAX	(256 * 1024)

struct action_ctx;

/* A new document (caller json_decref()s); fields is the plan action. */
json_t	*http_doc_new(struct action_ctx *, json_t *fields);

#endif
