/*
 * libFuzzer target for the message parser: msg_new() on arbitrary bytes,
 * then every accessor, the body included, under small limits so that the
 * caps are reached often. The input's length picks the order: the text
 * before or after the attachments, or the text alone (the MIME tree is
 * then freed with the message). Each input is parsed twice: by the header
 * splitter and MIME walker, then by GMime alone; with FUZZ_MSG_DIFF set in
 * the environment, any difference between the two is a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "msg.h"
#include "msg-private.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	 dump(GString *, const uint8_t *, size_t);

/* Everything about the message, in an order the input picks. */
static void
dump(GString *s, const uint8_t *data, size_t size)
{
	struct msg_limits		 lim = { 1 << 20, 8, 64, 64, 1 << 16 };
	const struct msg_addr		*a;
	const struct msg_header		*h;
	const struct msg_attachment	*att;
	const char *const		*d;
	const char			*why, *v;
	struct msg			*m;
	size_t				 i, n;
	int				 f;

	m = msg_new((const char *)data, size, &lim);
	g_string_append_printf(s, "subject %s\n", msg_subject(m));
	for (f = 0; f < MSG_ADDR_FIELD_COUNT; f++) {
		n = msg_addrs(m, (enum msg_addr_field)f, &a);
		for (i = 0; i < n; i++)
			g_string_append_printf(s, "addr %d %s <%s>\n", f,
			    a[i].name, a[i].address);
	}
	n = msg_headers(m, &h);
	for (i = 0; i < n; i++)
		g_string_append_printf(s, "header %s: %s\n", h[i].name,
		    h[i].value);
	v = msg_header(m, "Subject", 0);
	g_string_append_printf(s, "%s|%s|%s|%s|%s|%s|%s|%d|%d\n",
	    v != NULL ? v : "-",
	    msg_message_id(m) != NULL ? msg_message_id(m) : "-",
	    msg_references(m) != NULL ? msg_references(m) : "-",
	    msg_in_reply_to(m) != NULL ? msg_in_reply_to(m) : "-",
	    msg_date(m) != NULL ? msg_date(m) : "-",
	    msg_return_path(m) != NULL ? msg_return_path(m) : "-",
	    msg_list_id(m) != NULL ? msg_list_id(m) : "-",
	    msg_is_list(m), msg_is_auto(m, &why));
	if (size % 3 != 1)
		g_string_append_printf(s, "text %s\n", msg_text(m));
	if (size % 3 != 2) {
		n = msg_attachments(m, &att);
		for (i = 0; i < n; i++)
			g_string_append_printf(s, "att %s %s %zu %d %d\n",
			    att[i].filename, att[i].content_type,
			    att[i].size, att[i].is_signed,
			    att[i].is_encrypted);
	}
	if (size % 3 == 1)
		g_string_append_printf(s, "text %s\n", msg_text(m));
	n = msg_defects(m, &d);
	for (i = 0; i < n; i++)
		g_string_append_printf(s, "defect %s\n", d[i]);
	msg_free(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 ready;
	GString		*own, *gmime;

	if (!ready) {
		msg_library_init();
		ready = 1;
	}
	own = g_string_new(NULL);
	gmime = g_string_new(NULL);
	dump(own, data, size);
	msg_set_gmime_only(true);
	dump(gmime, data, size);
	msg_set_gmime_only(false);
	if (getenv("FUZZ_MSG_DIFF") != NULL &&
	    strcmp(own->str, gmime->str) != 0) {
		fprintf(stderr, "own:\n%s\ngmime:\n%s\n", own->str,
		    gmime->str);
		abort();
	}
	g_string_free(own, TRUE);
	g_string_free(gmime, TRUE);
	return 0;
}
