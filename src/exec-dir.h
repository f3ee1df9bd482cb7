/*
 * Where relative paths met at run time are taken from: the directory of
 * the config file (rule files resolve their own paths when they load).
 */
#ifndef FACTEUR_EXEC_DIR_H
#define FACTEUR_EXEC_DIR_H

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

#endif
