/*
 * A YAML document as a small tree that remembers where each node was
 * written, so config and rule errors can say FILE:LINE:COL. Built with
 * libyaml's document loader. Aliases are expanded; the node count and the
 * nesting depth are capped so a hostile file cannot blow up memory.
 *
 * Everything hangs off the struct ydoc and is freed by ydoc_free().
 */
#ifndef FACTEUR_YDOC_H
#define FACTEUR_YDOC_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

enum ydoc_type {
	YDOC_SCALAR,
	YDOC_SEQ,
	YDOC_MAP
};

enum ydoc_style {
	YDOC_PLAIN,
	YDOC_SINGLE,
	YDOC_DOUBLE,
	YDOC_LITERAL,
	YDOC_FOLDED
};

struct ydoc_node;

struct ydoc_pair {
	struct ydoc_node	*key;		/* always a scalar */
	struct ydoc_node	*value;
};

struct ydoc_node {
	enum ydoc_type		 type;
	enum ydoc_style		 style;		/* scalars */
	int			 line, col;	/* 1-based */
	char			*value;		/* scalars, NUL-terminated */
	size_t			 len;
	struct ydoc_node	**items;	/* sequences */
	struct ydoc_pair	*pairs;		/* mappings, in order */
	size_t			 n;		/* items or pairs */
};

struct ydoc {
	char			*file;
	struct ydoc_node	*root;		/* NULL for an empty file */
	char			*text;		/* the source, for positions */
	size_t			 len;
};

/* Caps on what a YAML file may make us build. */
#define YDOC_MAX_FILE		(4u * 1024 * 1024)
#define YDOC_MAX_NODES		100000
#define YDOC_MAX_DEPTH		64

/* Load a file; problems go to diag. NULL on error. */
struct ydoc	*ydoc_load_file(const char *path, struct diag *);
/* Load text given in memory; name is used in diagnostics. */
struct ydoc	*ydoc_load_string(const char *name, const char *text,
		     size_t len, struct diag *);
void		 ydoc_free(struct ydoc *);

/* The value for key in a mapping, or NULL. */
struct ydoc_node *ydoc_get(const struct ydoc_node *map, const char *key);
/* A scalar that YAML would read as null: "", "~", "null" (plain). */
bool		 ydoc_is_null(const struct ydoc_node *);
/* Plain true/false/yes/no/on/off. Returns -1 if not a boolean. */
int		 ydoc_bool(const struct ydoc_node *, bool *);
/* A short name for the node's type, for messages ("a mapping"...). */
const char	*ydoc_type_name(const struct ydoc_node *);

/*
 * Report every key of map not in the NULL-terminated allowed list as
 * "unknown key 'k' in WHAT (expected: a, b, c)". Returns the count.
 */
size_t		 ydoc_check_keys(const struct ydoc *, const struct ydoc_node *,
		     const char *what, const char *const *allowed,
		     struct diag *);

/*
 * Where byte offset off of a scalar's value was written, best effort:
 * exact for one-line scalars and literal blocks, the scalar's own start
 * otherwise.
 */
void		 ydoc_pos(const struct ydoc *, const struct ydoc_node *,
		     size_t off, int *line, int *col);

/*
 * Sort diag items from index `from` on by line and column, each file's
 * items kept together in the order files first appear. Stable.
 */
void		 ydoc_diag_sort(struct diag *, size_t from);

#endif
