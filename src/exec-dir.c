#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "exec-dir.h"
#include "xmalloc.h"

char *
exec_conf_dir(const struct conf *conf)
{
	const char	*slash;

	if (conf->path == NULL || (slash = strrchr(conf->path, '/')) == NULL)
		return xstrdup(".");
	if (slash == conf->path)
		return xstrdup("/");
	return xstrndup(conf->path, (size_t)(slash - conf->path));
}

char *
exec_conf_path(const struct conf *conf, const char *path)
{
	char	*dir, *out;

	if (path[0] == '/')
		return xstrdup(path);
	dir = exec_conf_dir(conf);
	out = xasprintf("%s/%s", dir, path);
	free(dir);
	return out;
}

int
exec_place(const char *tmp, const char *path)
{
	if (link(tmp, path) == 0) {
		unlink(tmp);
		return 0;
	}
	if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP &&
	    errno != EMLINK)
		return -1;
	return renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
}

int
exec_write_file(const char *path, const char *data, size_t len, char **cause)
{
	ssize_t	 n;
	size_t	 off = 0;
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		goto fail;
	while (off < len) {
		if ((n = write(fd, data + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	*cause = xasprintf("%s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(path);
	return -1;
}
