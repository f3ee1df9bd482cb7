/*
 * The IMAP server actions: move, copy, flag and delete act on the message
 * where it lies, over the connection the IMAP source has open with the
 * message's mailbox selected (ctx->imap, ctx->uid). The source's after
 * policy (seen, delete, move) runs through them too.
 *
 * Each may run again after a crash in its middle. A UID that is no longer
 * in the mailbox is not an error: UID STORE, UID COPY, UID MOVE and UID
 * EXPUNGE on it answer OK and do nothing. A repeated flag or delete changes
 * nothing more; a moved message is not fetched again. Only a copy (or a
 * move without the MOVE extension) cut off between the server's COPY and
 * the journal's record of it can leave a second copy in the folder: the
 * original is never expunged before its copy exists. Without UIDPLUS there
 * is no UID EXPUNGE, and the plain EXPUNGE also removes messages another
 * client marked \Deleted.
 *
 * A target folder that does not exist (the server answers NO [TRYCREATE])
 * is created, and the command tried once more; a folder that another client
 * created in between ([ALREADYEXISTS]) is fine. Folder names are UTF-8 in
 * rules and modified UTF-7 on the wire. The mailbox the message is in is
 * refused as a target: the message would come back under a new UID.
 *
 * Flags: the five system flags \Seen \Answered \Flagged \Deleted \Draft and
 * keywords of printable ASCII atom characters only, so a flag can never add
 * anything to the command line. The rule loader refuses anything else
 * (action_flag_canon()) with its place; the action checks again.
 *
 * A message from a POP3, Maildir or deliver account has no server folder:
 * these actions fail permanently, saying so.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "action.h"
#include "imap.h"
#include "xmalloc.h"

#define FLAG_MAX_LEN	128
#define FOLDER_MAX_LEN	1024

static enum action_result need_imap(struct action_ctx *, const char *,
		    char **);
static enum action_result result_of(int, const char *, char **);
static int	 track_cb(struct imap_conn *, struct imap_resp *, void *,
		     char **);
static int	 run_cmd(struct action_ctx *, char **, const char *, ...)
		     __attribute__((format(printf, 3, 4)));
static enum action_result folder_of(struct action_ctx *, json_t *,
		    const char *, char **, char **);
static int	 into_folder(struct action_ctx *, const char *, const char *,
		     const char *, char **);
static enum action_result flag_list(json_t *, const char *, char **,
		    char **);
static int	 expunge_uid(struct action_ctx *, char **);
static enum action_result move_exec(struct action_ctx *, json_t *, char **);
static enum action_result copy_exec(struct action_ctx *, json_t *, char **);
static enum action_result flag_exec(struct action_ctx *, json_t *, char **);
static enum action_result delete_exec(struct action_ctx *, json_t *,
		    char **);

const struct action_ops action_move_ops = { "move", move_exec };
const struct action_ops action_copy_ops = { "copy", copy_exec };
const struct action_ops action_flag_ops = { "flag", flag_exec };
const struct action_ops action_delete_ops = { "delete", delete_exec };

static enum action_result
need_imap(struct action_ctx *ctx, const char *type, char **cause)
{
	if (ctx->imap != NULL && ctx->uid != 0)
		return ACTION_OK;
	*cause = xasprintf("%s needs an IMAP account: this message has no "
	    "server folder", type);
	return ACTION_PERM;
}

/*
 * A failed command: lost connection and busy or full servers are worth a
 * retry; a NO or BAD the server gives for the command itself is not.
 */
static enum action_result
result_of(int rc, const char *what, char **cause)
{
	static const char *const temp_codes[] = { "[INUSE]", "[UNAVAILABLE]",
	    "[OVERQUOTA]", "[LIMIT]", "[SERVERBUG]", NULL };
	enum action_result	 res = ACTION_PERM;
	const char		*const *p;
	char			*old = *cause;

	if (rc == IMAP_OK)
		return ACTION_OK;
	if (rc == IMAP_TEMP)
		res = ACTION_TEMP;
	else if (rc == IMAP_BAD && strstr(old, "server said") == NULL)
		res = ACTION_TEMP;	/* our reader gave up on the response */
	else
		for (p = temp_codes; *p != NULL; p++)
			if (strstr(old, *p) != NULL)
				res = ACTION_TEMP;
	*cause = xasprintf("%s: %s", what, old);
	free(old);
	return res;
}

/*
 * Untagged responses during our commands: keep the connection's message
 * count right when we expunge, so the next EXISTS (new mail during IDLE)
 * is seen as a change.
 */
static int
track_cb(struct imap_conn *c, struct imap_resp *r, void *arg, char **cause)
{
	struct imap_tok	 t;
	uint32_t	 n;

	(void)arg;
	(void)cause;
	r->pos = 0;
	imap_next(r);			/* "*" */
	t = imap_next(r);
	if (imap_tok_u32(&t, &n) == 0) {
		t = imap_next(r);
		if (imap_tok_is(&t, "EXPUNGE") && c->exists > 0)
			c->exists--;
	}
	r->pos = 0;
	return IMAP_OK;
}

static int
run_cmd(struct action_ctx *ctx, char **cause, const char *fmt, ...)
{
	va_list	 ap;
	char	*cmd;
	int	 rc;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	rc = imap_command(ctx->imap, track_cb, NULL, cause, "%s", cmd);
	free(cmd);
	return rc;
}

static enum action_result
folder_of(struct action_ctx *ctx, json_t *fields, const char *type,
    char **wire, char **cause)
{
	const char	*f = json_string_value(json_object_get(fields, "folder"));

	if (f == NULL || *f == '\0' || strlen(f) > FOLDER_MAX_LEN) {
		*cause = xasprintf("%s: the folder name is empty or too long",
		    type);
		return ACTION_PERM;
	}
	if (ctx->mailbox != NULL && (strcmp(f, ctx->mailbox) == 0 ||
	    (strcasecmp(f, "INBOX") == 0 &&
	    strcasecmp(ctx->mailbox, "INBOX") == 0))) {
		*cause = xasprintf("%s: the message is in '%s' already", type,
		    f);
		return ACTION_PERM;
	}
	if ((*wire = imap_folder_arg(ctx->imap, f, cause)) == NULL)
		return ACTION_PERM;
	return ACTION_OK;
}

/*
 * UID COPY or UID MOVE into folder; on NO [TRYCREATE] create the folder
 * and try once more.
 */
static int
into_folder(struct action_ctx *ctx, const char *verb, const char *folder,
    const char *wire, char **cause)
{
	char	*err = NULL;
	int	 rc;

	rc = run_cmd(ctx, cause, "UID %s %" PRIu32 " %s", verb, ctx->uid,
	    wire);
	if (rc != IMAP_NO || strstr(*cause, "[TRYCREATE]") == NULL)
		return rc;
	free(*cause);
	*cause = NULL;
	rc = run_cmd(ctx, &err, "CREATE %s", wire);
	if (rc == IMAP_NO && strstr(err, "[ALREADYEXISTS]") != NULL)
		rc = IMAP_OK;
	if (rc != IMAP_OK) {
		*cause = xasprintf("cannot create folder '%s': %s", folder,
		    err);
		free(err);
		return rc;
	}
	free(err);
	return run_cmd(ctx, cause, "UID %s %" PRIu32 " %s", verb, ctx->uid,
	    wire);
}

const char *
action_flag_canon(const char *f)
{
	static const char *const sys[] = { "\\Seen", "\\Answered",
	    "\\Flagged", "\\Deleted", "\\Draft", NULL };
	const char	*const *p;
	const char	*s;

	if (*f == '\\') {
		for (p = sys; *p != NULL; p++)
			if (strcasecmp(f, *p) == 0)
				return *p;
		return NULL;
	}
	if (*f == '\0' || strlen(f) > FLAG_MAX_LEN)
		return NULL;
	for (s = f; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    strchr("(){%*\"\\]", *s) != NULL)
			return NULL;
	return f;
}

/* "(\Seen kw)" from the plan's list, or "" when it is empty. */
static enum action_result
flag_list(json_t *fields, const char *key, char **out, char **cause)
{
	json_t		*v = json_object_get(fields, key);
	struct buf	 b;
	const char	*f, *c;
	size_t		 i;

	buf_init(&b, SIZE_MAX);
	for (i = 0; json_is_array(v) && i < json_array_size(v); i++) {
		f = json_string_value(json_array_get(v, i));
		if (f == NULL || (c = action_flag_canon(f)) == NULL) {
			*cause = xasprintf("flag: '%s' is not a flag (\\Seen, "
			    "\\Answered, \\Flagged, \\Deleted, \\Draft or a "
			    "keyword of letters, digits and punctuation)",
			    f != NULL ? f : "?");
			buf_free(&b);
			return ACTION_PERM;
		}
		buf_add(&b, b.len == 0 ? "(" : " ", 1);
		buf_addstr(&b, c);
	}
	if (b.len > 0)
		buf_add(&b, ")", 1);
	buf_add(&b, "", 1);
	*out = buf_steal(&b, NULL);
	return ACTION_OK;
}

/* Without UIDPLUS, EXPUNGE also removes other messages marked \Deleted. */
static int
expunge_uid(struct action_ctx *ctx, char **cause)
{
	if (imap_has_cap(ctx->imap, "UIDPLUS"))
		return run_cmd(ctx, cause, "UID EXPUNGE %" PRIu32, ctx->uid);
	return run_cmd(ctx, cause, "EXPUNGE");
}

static enum action_result
move_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	enum action_result	 res;
	const char		*folder;
	char			*wire = NULL;
	int			 rc;

	if ((res = need_imap(ctx, "move", cause)) != ACTION_OK ||
	    (res = folder_of(ctx, fields, "move", &wire, cause)) != ACTION_OK)
		return res;
	folder = json_string_value(json_object_get(fields, "folder"));
	if (imap_has_cap(ctx->imap, "MOVE"))
		rc = into_folder(ctx, "MOVE", folder, wire, cause);
	else if ((rc = into_folder(ctx, "COPY", folder, wire, cause)) ==
	    IMAP_OK && (rc = run_cmd(ctx, cause, "UID STORE %" PRIu32
	    " +FLAGS.SILENT (\\Deleted)", ctx->uid)) == IMAP_OK)
		rc = expunge_uid(ctx, cause);
	free(wire);
	if (rc == IMAP_OK)
		*ctx->gone = true;
	return result_of(rc, "move", cause);
}

static enum action_result
copy_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	enum action_result	 res;
	char			*wire = NULL;
	int			 rc;

	if ((res = need_imap(ctx, "copy", cause)) != ACTION_OK ||
	    (res = folder_of(ctx, fields, "copy", &wire, cause)) != ACTION_OK)
		return res;
	rc = into_folder(ctx, "COPY", json_string_value(json_object_get(fields,
	    "folder")), wire, cause);
	free(wire);
	return result_of(rc, "copy", cause);
}

static enum action_result
flag_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	enum action_result	 res;
	char			*add = NULL, *rem = NULL;
	int			 rc = IMAP_OK;

	if ((res = need_imap(ctx, "flag", cause)) != ACTION_OK)
		return res;
	if ((res = flag_list(fields, "add", &add, cause)) != ACTION_OK ||
	    (res = flag_list(fields, "remove", &rem, cause)) != ACTION_OK)
		goto out;
	if (*add != '\0')
		rc = run_cmd(ctx, cause, "UID STORE %" PRIu32
		    " +FLAGS.SILENT %s", ctx->uid, add);
	if (rc == IMAP_OK && *rem != '\0')
		rc = run_cmd(ctx, cause, "UID STORE %" PRIu32
		    " -FLAGS.SILENT %s", ctx->uid, rem);
	res = result_of(rc, "flag", cause);
out:
	free(add);
	free(rem);
	return res;
}

static enum action_result
delete_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	enum action_result	 res;
	int			 rc;

	(void)fields;
	if ((res = need_imap(ctx, "delete", cause)) != ACTION_OK)
		return res;
	if ((rc = run_cmd(ctx, cause, "UID STORE %" PRIu32
	    " +FLAGS.SILENT (\\Deleted)", ctx->uid)) == IMAP_OK)
		rc = expunge_uid(ctx, cause);
	if (rc == IMAP_OK)
		*ctx->gone = true;
	return result_of(rc, "delete", cause);
}
