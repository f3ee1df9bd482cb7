/*
 * The Maildir source: one pass over PATH/new and PATH/cur. A message's
 * identity is (account, "", unique name), the file name without its
 * ":2,FLAGS" info, so it stays the same when a mail client (or our own
 * `after: seen`) moves it from new/ to cur/ or changes its flags.
 *
 * The journal is asked first, so a finished message is not read again; only
 * its after-policy is applied (again): keep leaves it, seen moves new/x to
 * cur/x:2,S or adds S to the flags in cur/, delete unlinks it. A folder to
 * move to makes no sense here: such a policy is treated as keep.
 *
 * Files vanish under us (another client expunged them): that is not an
 * error. Files over the size cap are left alone with a warning.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "run.h"
#include "state.h"
#include "xmalloc.h"

#define MAILDIR_MAX_MESSAGE	(64u * 1024 * 1024)
#define MAILDIR_MAX_FILES	1000000
#define MAILDIR_MAX_NAME	255

static int	 maildir_list(const char *, char ***, size_t *, char **);
static int	 maildir_name_cmp(const void *, const void *);
static char	*maildir_key(const char *);
static int	 maildir_read(int, const char *, char **, size_t *, char **);
static int	 maildir_dir(struct runner *, struct conf_account *,
		     const char *, char **);
static void	 maildir_one(struct runner *, struct conf_account *, int, int,
		     const char *, const char *);
static void	 maildir_after(struct conf_account *, int, int, const char *,
		     const char *);
static void	 maildir_seen(struct conf_account *, int, int, const char *,
		     const char *);

static int
maildir_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The unique part of a file name: everything before ":2,". */
static char *
maildir_key(const char *name)
{
	const char	*info = strstr(name, ":2,");

	return xstrndup(name, info != NULL ? (size_t)(info - name) :
	    strlen(name));
}

/* The names in dir (no dot files), sorted: older deliveries first. */
static int
maildir_list(const char *dir, char ***out, size_t *n, char **cause)
{
	DIR		*d;
	struct dirent	*e;
	char		**v = NULL;
	size_t		 nv = 0;

	if ((d = opendir(dir)) == NULL) {
		*cause = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strlen(e->d_name) > MAILDIR_MAX_NAME)
			continue;
		if (nv == MAILDIR_MAX_FILES) {
			log_warn("%s: over %u files: the rest waits for the "
			    "next pass", dir, MAILDIR_MAX_FILES);
			break;
		}
		v = xreallocarray(v, nv + 1, sizeof *v);
		v[nv++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (nv > 0)
		qsort(v, nv, sizeof *v, maildir_name_cmp);
	*out = v;
	*n = nv;
	return 0;
}

/*
 * Read a regular file under dirfd, at most the cap. 1 when it is gone or
 * not a message file (skip it quietly), -1 with *cause on an error.
 */
static int
maildir_read(int dirfd, const char *name, char **data, size_t *len,
    char **cause)
{
	struct stat	 sb;
	char		*p = NULL;
	size_t		 got = 0;
	ssize_t		 k;
	int		 fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1) {
		if (errno == ENOENT || errno == ELOOP)
			return 1;
		*cause = xasprintf("%s: %s", name, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return 1;
	}
	if (sb.st_size > (off_t)MAILDIR_MAX_MESSAGE) {
		*cause = xasprintf("%s: %lld bytes, over the cap of %u: left "
		    "alone", name, (long long)sb.st_size, MAILDIR_MAX_MESSAGE);
		goto fail;
	}
	p = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size &&
	    (k = read(fd, p + got, (size_t)sb.st_size - got)) != 0) {
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1) {
			*cause = xasprintf("%s: %s", name, strerror(errno));
			goto fail;
		}
		got += (size_t)k;
	}
	close(fd);
	p[got] = '\0';
	*data = p;
	*len = got;
	return 0;

fail:
	free(p);
	close(fd);
	return -1;
}

/* new/x -> cur/x:2,S; cur/x:2,F -> cur/x:2,FS. Flags stay sorted. */
static void
maildir_seen(struct conf_account *a, int dirfd, int curfd, const char *name,
    const char *key)
{
	const char	*info = strstr(name, ":2,");
	char		 flags[64], *to;
	size_t		 n = 0;
	const char	*f;

	if (info != NULL && dirfd == curfd && strchr(info + 3, 'S') != NULL)
		return;
	for (f = info != NULL ? info + 3 : ""; *f != '\0' &&
	    n < sizeof flags - 1; f++)
		if (*f != 'S')
			flags[n++] = *f;
	/* Insert S in ASCII order, as the Maildir spec wants. */
	flags[n] = '\0';
	for (f = flags; *f != '\0' && *f < 'S'; f++)
		;
	to = xasprintf("%s:2,%.*sS%s", key, (int)(f - flags), flags, f);
	if (renameat(dirfd, name, curfd, to) != 0 && errno != ENOENT)
		log_warn("%s: maildir: %s: cannot mark seen: %s", a->name,
		    name, strerror(errno));
	free(to);
}

static void
maildir_after(struct conf_account *a, int dirfd, int curfd, const char *name,
    const char *key)
{
	switch (a->after) {
	case AFTER_KEEP:
	case AFTER_MOVE:
		break;
	case AFTER_SEEN:
		maildir_seen(a, dirfd, curfd, name, key);
		break;
	case AFTER_DELETE:
		if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
			log_warn("%s: maildir: %s: cannot delete: %s", a->name,
			    name, strerror(errno));
		break;
	}
}

static void
maildir_one(struct runner *r, struct conf_account *a, int dirfd, int curfd,
    const char *dir, const char *name)
{
	struct state_ident	 id;
	enum state_msg_status	 st;
	enum process_result	 pr = PROCESS_DONE;
	char			*key, *data = NULL, *cause = NULL;
	size_t			 len = 0;
	int			 rc;

	if (*(key = maildir_key(name)) == '\0')
		goto out;
	memset(&id, 0, sizeof id);
	id.account = a->name;
	id.mailbox = "";
	id.key = key;
	st = state_message_status(r->state, &id, NULL);
	if (st != STATE_MSG_DONE && st != STATE_MSG_FAILED) {
		rc = maildir_read(dirfd, name, &data, &len, &cause);
		if (rc != 0) {
			if (rc == -1)
				log_warn("%s: maildir: %s/%s", a->name, dir,
				    cause);
			goto out;
		}
		pr = runner_process(r, a, "", key, 0, data, len);
	}
	if (pr == PROCESS_DONE && runner_commit_before_after(r, a, NULL) == 0)
		maildir_after(a, dirfd, curfd, name, key);

out:
	free(cause);
	free(data);
	free(key);
}

/* One subdirectory (new or cur) of the Maildir. */
static int
maildir_dir(struct runner *r, struct conf_account *a, const char *sub,
    char **cause)
{
	char	*dir, *cur, **names = NULL;
	size_t	 i, n = 0;
	int	 dirfd = -1, curfd = -1, rc = -1;

	dir = xasprintf("%s/%s", a->path, sub);
	cur = xasprintf("%s/cur", a->path);
	if (maildir_list(dir, &names, &n, cause) != 0)
		goto fail;
	/* In cur/ itself both are one fd: maildir_seen tells them apart. */
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (curfd = strcmp(sub, "cur") == 0 ? dirfd : open(cur,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		*cause = xasprintf("%s: %s", dirfd == -1 ? dir : cur,
		    strerror(errno));
		goto fail;
	}
	log_debug("%s: maildir: %s: %zu file(s)", a->name, dir, n);
	for (i = 0; i < n && (r->stop == NULL || !*r->stop); i++)
		maildir_one(r, a, dirfd, curfd, dir, names[i]);
	rc = 0;

fail:
	if (dirfd != -1)
		close(dirfd);
	if (curfd != -1 && curfd != dirfd)
		close(curfd);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dir);
	free(cur);
	return rc;
}

int
source_maildir_sync(struct runner *r, struct conf_account *a, char **cause)
{
	if (a->path == NULL) {
		*cause = xstrdup("maildir: no path");
		return -1;
	}
	if (a->after == AFTER_MOVE)
		log_warn("%s: maildir: after: move is not supported for a "
		    "Maildir source: treated as keep", a->name);
	/* new/ first: what a pass moves to cur/ is then seen there again,
	 * found finished, and left alone. */
	if (maildir_dir(r, a, "new", cause) != 0)
		return -1;
	return maildir_dir(r, a, "cur", cause);
}
