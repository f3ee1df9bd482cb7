/*
 * save: deliver the raw message into a Maildir, as an MDA does: written to
 * tmp/ and synced, then linked into new/ (exec_place(): never replacing a
 * file), tmp/ cleaned, new/ synced. tmp, new and cur are made if missing.
 *
 * The file name is "facteur-HASH.HOST", HASH a digest of the action's
 * journal identity: unique per message and action, and the same on a
 * retry. A retry after a crash finds the file in new/ (or in cur/, with or
 * without ":2,FLAGS", if a reader has seen it) and writes no second copy.
 * A failure to write is temporary: a full disk or a permission can be put
 * right, and the journal retries.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
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
#include "log.h"
#include "msg.h"
#include "xmalloc.h"

static enum action_result save_exec(struct action_ctx *, json_t *, char **);
static char	*save_name(const char *);
static int	 mkdirs(const char *, char **);
static bool	 save_present(const char *, const char *);
static int	 sync_dir(const char *);

const struct action_ops action_save_ops = { "save", save_exec };

/* "facteur-HASH.HOST" with '/' and ':' kept out of the host part. */
static char *
save_name(const char *ident)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	char		 hex[33], host[256];
	size_t		 i;

	SHA256((const unsigned char *)ident, strlen(ident), md);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (gethostname(host, sizeof host) != 0)
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] == '/' || host[i] == ':' || host[i] == '.')
			host[i] = '_';
	return xasprintf("facteur-%s.%s", hex, host);
}

/* mkdir -p, mode 0700 for what is made. */
static int
mkdirs(const char *path, char **cause)
{
	char	*p, *s;

	s = xstrdup(path);
	for (p = s + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (*p == '/')
			*p = '\0';
		else
			p = NULL;
		if (mkdir(s, 0700) != 0 && errno != EEXIST) {
			*cause = xasprintf("%s: %s", s, strerror(errno));
			free(s);
			return -1;
		}
		if (p == NULL)
			break;
		*p = '/';
	}
	free(s);
	return 0;
}

/* Is name already in new/ or cur/ (cur/ names may carry ":2,FLAGS")? */
static bool
save_present(const char *dir, const char *name)
{
	struct dirent	*de;
	DIR		*d;
	struct stat	 st;
	char		*p;
	size_t		 len = strlen(name);
	bool		 found = false;

	p = xasprintf("%s/new/%s", dir, name);
	found = stat(p, &st) == 0;
	free(p);
	if (found)
		return true;
	p = xasprintf("%s/cur", dir);
	d = opendir(p);
	free(p);
	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL)
		found = strncmp(de->d_name, name, len) == 0 &&
		    (de->d_name[len] == '\0' || de->d_name[len] == ':');
	closedir(d);
	return found;
}

static int
sync_dir(const char *path)
{
	int	 fd, rc;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static enum action_result
save_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	const char	*dir, *data;
	char		*name = NULL, *tmp = NULL, *new = NULL, *p, *err = NULL;
	size_t		 i, len;
	enum action_result res = ACTION_TEMP;

	if ((dir = json_string_value(json_object_get(fields, "maildir"))) ==
	    NULL || *dir == '\0') {
		*cause = xstrdup("save: the plan has no maildir");
		return ACTION_PERM;
	}
	for (i = 0; i < 3; i++) {
		p = xasprintf("%s/%s", dir, subs[i]);
		if (mkdirs(p, &err) != 0) {
			free(p);
			goto fail;
		}
		free(p);
	}
	name = save_name(ctx->ident);
	if (save_present(dir, name)) {
		log_info("%s: %s: uid %u: saved already in %s (%s)",
		    ctx->account->name, ctx->mailbox, (unsigned)ctx->uid, dir,
		    name);
		res = ACTION_OK;
		goto out;
	}
	tmp = xasprintf("%s/tmp/%s", dir, name);
	new = xasprintf("%s/new/%s", dir, name);
	data = msg_raw(ctx->msg, &len);
	if (exec_write_file(tmp, data, len, &err) != 0)
		goto fail;
	if (exec_place(tmp, new) != 0) {
		if (errno != EEXIST)
			err = xasprintf("%s: %s", new, strerror(errno));
		unlink(tmp);
		if (err != NULL)
			goto fail;
	}
	p = xasprintf("%s/new", dir);
	if (sync_dir(p) != 0) {
		err = xasprintf("%s: %s", p, strerror(errno));
		free(p);
		goto fail;
	}
	free(p);
	log_info("%s: %s: uid %u: saved to %s", ctx->account->name,
	    ctx->mailbox, (unsigned)ctx->uid, new);
	res = ACTION_OK;
	goto out;
fail:
	*cause = xasprintf("save: %s", err);
	free(err);
out:
	free(name);
	free(tmp);
	free(new);
	return res;
}
