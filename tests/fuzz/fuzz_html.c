/*
 * libFuzzer target for HTML to text: msg_html_to_text() (the parser's
 * events) against msg_html_to_text_tree() (libxml2's tree, walked) on
 * arbitrary bytes; any difference in the text or the truncation flag is a
 * crash. The first byte picks the cap, small ones often, so that the text
 * is cut everywhere, multi-byte characters included.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg-html.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*a, *b;
	size_t	 cap;
	int	 ta = -1, tb = -1;

	if (size == 0)
		return 0;
	cap = data[0] < 64 ? data[0] : (size_t)4 << 20;
	data++;
	size--;
	a = msg_html_to_text_tree((const char *)data, size, cap, &ta);
	b = msg_html_to_text((const char *)data, size, cap, &tb);
	if (strcmp(a, b) != 0 || ta != tb) {
		fprintf(stderr, "cap %zu: tree %d [%s]\nsax %d [%s]\n", cap,
		    ta, a, tb, b);
		abort();
	}
	free(a);
	free(b);
	return 0;
}
