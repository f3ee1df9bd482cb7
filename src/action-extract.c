/*
 * extract: write the attachments the plan lists (those whose type matched
 * the rule's pattern, see rule.h) into a directory, made (0700) if missing.
 *
 * Names come from the message and are hostile: exec_safe_name() keeps them
 * inside the directory. A file never replaces another: each attachment is
 * written to a temporary name in the directory, synced, then given its
 * name, or name-1.ext, name-2.ext ..., by exec_place(), which fails rather
 * than replace a file (the O_EXCL of a rename), and the temporary name
 * removed. Files are 0600.
 *
 * Retries: a name already holding exactly the same bytes counts as this
 * attachment written before, so a retry after a crash (or the same file
 * sent twice) adds no copy. The temporary name is derived from the
 * action's journal identity, so one left by a crash is reused, not leaked.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "action.h"
#include "conf.h"
#include "exec-dir.h"
#include "exec-name.h"
#include "log.h"
#include "msg.h"
#include "msg-extra.h"
#include "xmalloc.h"

#define EXTRACT_MAX_VARIANTS	10000

static enum action_result extract_exec(struct action_ctx *, json_t *,
		    char **);
static int	 extract_one(struct action_ctx *, const char *, size_t,
		    const char *, const char *, size_t, char **, char **);
static int	 make_dir(const char *, char **);
static char	*tmp_name(const char *, const char *, size_t);
static int	 same_file(const char *, const char *, size_t);

const struct action_ops action_extract_ops = { "extract", extract_exec };

/* mkdir -p, 0700 for what is made. */
static int
make_dir(const char *path, char **cause)
{
	char	*s, *p;
	int	 rc = 0;

	s = xstrdup(path);
	for (p = s + 1; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (*p == '/') {
			*p = '\0';
			if (mkdir(s, 0700) != 0 && errno != EEXIST)
				rc = -1;
			*p = '/';
		} else {
			if (mkdir(s, 0700) != 0 && errno != EEXIST)
				rc = -1;
			break;
		}
	}
	if (rc != 0)
		*cause = xasprintf("extract: %s: %s", s, strerror(errno));
	free(s);
	return rc;
}

static char *
tmp_name(const char *dir, const char *ident, size_t idx)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	char		 hex[33];
	int		 i;

	SHA256((const unsigned char *)ident, strlen(ident), md);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return xasprintf("%s/.facteur-%s-%zu.tmp", dir, hex, idx);
}

/* Does the regular file at path hold exactly these bytes? */
static int
same_file(const char *path, const char *data, size_t len)
{
	struct stat	 st;
	char		 b[65536];
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd, same = 0;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size != len)
		goto out;
	while (off < len) {
		if ((n = read(fd, b, sizeof b)) <= 0)
			goto out;
		if ((size_t)n > len - off || memcmp(b, data + off,
		    (size_t)n) != 0)
			goto out;
		off += (size_t)n;
	}
	same = 1;
out:
	close(fd);
	return same;
}

/*
 * Write one attachment under its safe name or a variant; 0, or -1 with
 * *cause. *written gets the path it is at.
 */
static int
extract_one(struct action_ctx *ctx, const char *dir, size_t idx,
    const char *name, const char *data, size_t len, char **written,
    char **cause)
{
	char		*tmp, *path = NULL, *v, *err;
	unsigned	 n;
	int		 rc = -1;

	tmp = tmp_name(dir, ctx->ident, idx);
	if (exec_write_file(tmp, data, len, cause) != 0) {
		err = *cause;
		*cause = xasprintf("extract: %s", err);
		free(err);
		goto out;
	}
	for (n = 0; n < EXTRACT_MAX_VARIANTS; n++) {
		v = exec_name_variant(name, n);
		free(path);
		path = xasprintf("%s/%s", dir, v);
		free(v);
		if (exec_place(tmp, path) == 0 || (errno == EEXIST &&
		    same_file(path, data, len))) {
			rc = 0;
			break;
		}
		if (errno != EEXIST) {
			*cause = xasprintf("extract: %s: %s", path,
			    strerror(errno));
			break;
		}
	}
	if (n == EXTRACT_MAX_VARIANTS)
		*cause = xasprintf("extract: %s/%s: too many files of that "
		    "name", dir, name);
	unlink(tmp);
out:
	free(tmp);
	if (rc == 0)
		*written = path;
	else
		free(path);
	return rc;
}

/* An unlisted entry, or one whose bytes cannot be found, is permanent. */
static enum action_result
extract_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	struct msg_parts	*parts = NULL;
	const char		*dir, *filename, *type, *data;
	char			*safe, *written, *err = NULL;
	json_t			*list, *a;
	size_t			 i, len, size;
	int			 fd;
	enum action_result	 res = ACTION_OK;

	dir = json_string_value(json_object_get(fields, "dir"));
	list = json_object_get(fields, "attachments");
	if (dir == NULL || *dir == '\0' || !json_is_array(list)) {
		*cause = xstrdup("extract: the plan has no dir or attachments");
		return ACTION_PERM;
	}
	if (json_array_size(list) == 0)
		return ACTION_OK;
	if (make_dir(dir, cause) != 0)
		return ACTION_TEMP;
	parts = msg_parts_new(ctx->msg);
	json_array_foreach(list, i, a) {
		filename = json_string_value(json_object_get(a, "filename"));
		type = json_string_value(json_object_get(a, "content_type"));
		size = (size_t)json_integer_value(json_object_get(a, "size"));
		if (filename == NULL || type == NULL || (data =
		    msg_parts_take(parts, filename, type, size, &len)) ==
		    NULL) {
			free(err);
			err = xasprintf("extract: attachment %zu (%.100s) not "
			    "found in the message", i + 1, filename != NULL ?
			    filename : "?");
			res = ACTION_PERM;
			continue;
		}
		safe = exec_safe_name(filename, type);
		if (extract_one(ctx, dir, i, safe, data, len, &written,
		    cause) != 0) {
			free(safe);
			res = ACTION_TEMP;
			goto out;
		}
		log_info("%s: %s: uid %u: extracted %s (%s, %zu bytes)",
		    ctx->account->name, ctx->mailbox, (unsigned)ctx->uid,
		    written, type, len);
		free(written);
		free(safe);
	}
	/* The new names are durable before the journal says done. */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(fd);
		close(fd);
	}
	if (res != ACTION_OK) {
		*cause = err;
		err = NULL;
	}
out:
	free(err);
	msg_parts_free(parts);
	return res;
}
