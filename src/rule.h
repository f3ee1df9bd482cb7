/*
 * Rules: loading (YAML + PCRE2 JIT + templates, all checked at load time)
 * and evaluation. Evaluation is a pure function of the message and the
 * rules: it touches no network and no state. Its result, the plan, is a
 * JSON object (jansson) so it can be printed, saved in the journal, and
 * read back by the actions:
 *
 *   {"matched": ["rule-a", ...],
 *    "actions": [{"rule": "rule-a", "type": "reply",
 *                 "subject": "...", "body": "..."}, ...]}
 *
 * Each action object carries its type and its fields, templates rendered.
 * Fields bound for a header (subject, to, folder) are UTF-8 with no CR or
 * LF: encode them with tmpl_header_encode() (RFC 2047) when composing. A
 * webhook body is already valid JSON; argv is one element per entry; a
 * webhook secret appears as {"env"|"file"|"command": ...}, never its value.
 * Computed fields: reply and autoreply carry "to" (Reply-To else From, or
 * the Return-Path for autoreply) and "in_reply_to"; extract lists the
 * "attachments" it will write. Durations ("every", "timeout") are seconds.
 *
 * Patterns are PCRE2, case-insensitive unless they start with (?-i); see
 * match.h and rules/README.md.
 */
#ifndef FACTEUR_RULE_H
#define FACTEUR_RULE_H

#include <stddef.h>

#include <jansson.h>

#include "diag.h"
#include "xmalloc.h"

struct msg;
struct ruleset;

/* What a rule's templates may see beyond the message itself. */
struct eval_ctx {
	const char		*account;	/* account name, or "" */
	const char *const	*addresses;	/* the account's own addresses */
	size_t			 naddresses;
};

/*
 * Load and compile the rule files (rules of all files, in order). Every
 * problem found is added to diag with FILE:LINE:COL; returns NULL if any.
 */
struct ruleset	*ruleset_load(const char *const *files, size_t nfiles,
		     struct diag *);
void		 ruleset_free(struct ruleset *);
size_t		 ruleset_count(const struct ruleset *);

/* Does any rule use an action of this type ("reply", "move", ...)? */
int		 ruleset_has_action(const struct ruleset *, const char *type);

/*
 * Evaluate the message. Returns a new plan (caller json_decref()s). When
 * explain is not NULL, a line per rule saying why it matched or not is
 * appended to it.
 */
json_t		*ruleset_eval(struct ruleset *, struct msg *,
		     const struct eval_ctx *, struct buf *explain);

#endif
