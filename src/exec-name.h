/*
 * File names for what facteur writes to disk from a message (extract).
 * A name from a message is hostile until made safe here.
 */
#ifndef FACTEUR_EXEC_NAME_H
#define FACTEUR_EXEC_NAME_H

#include <stddef.h>

#define EXEC_NAME_MAX	200	/* bytes, before a "-N" suffix */

/*
 * A safe file name (allocated; caller frees) for an attachment named
 * filename ("" or NULL when it has none) of the given content type:
 *
 * - only the last component of a path ('/' or '\' separated) is kept;
 * - control characters (below 0x20, 0x7f) and invalid UTF-8 become '_';
 * - leading dots become '_' (no hidden files, no "." or "..");
 *   trailing dots and spaces are dropped (leading spaces too);
 * - at most EXEC_NAME_MAX bytes, cut on a character boundary, the
 *   extension kept when it is short;
 * - nothing left: "attachment" plus an extension for the type
 *   (".pdf", ".txt", ... ".bin" when unknown).
 *
 * The result is never empty, never ".", "..", and has no '/'.
 */
char	*exec_safe_name(const char *filename, const char *content_type);

/*
 * The nth variant of a safe name: n == 0 gives name itself, n >= 1
 * "stem-N.ext" ("stem-N" without an extension).
 */
char	*exec_name_variant(const char *name, unsigned n);

#endif
