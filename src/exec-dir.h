/*
 * Where relative paths met at run time are taken from: the directory of
 * the config file (rule files resolve their own paths when they load).
 */
#ifndef FACTEUR_EXEC_DIR_H
#define FACTEUR_EXEC_DIR_H

#include <stddef.h>

struct conf;

/* The config file's directory ("." when it was named without one). */
char	*exec_conf_dir(const struct conf *);
/* path itself when absolute, else joined to the config's directory. */
char	*exec_conf_path(const struct conf *, const char *path);

/*
 * Give the written file at tmp the name path, never replacing a file there
 * (errno EEXIST then, tmp kept). A hard link, or where the file system has
 * none, a rename that refuses to replace. 0 with tmp gone, or -1.
 */
int	 exec_place(const char *tmp, const char *path);

/*
 * Write data to a new file at path (0600, not through a symbolic link) and
 * fsync it: 0, or -1 with *cause and nothing left at path.
 */
int	 exec_write_file(const char *path, const char *data, size_t len,
	    char **cause);

#endif
