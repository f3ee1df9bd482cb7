/*
 * libFuzzer target for the message parser: msg_new() on arbitrary bytes,
 * then every accessor, the body included, under small limits so that the
 * caps are reached often. The input's length picks the order: the text
 * before or after the attachments, or the text alone (the MIME tree is
 * then freed with the message). Built and run by tests/fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "msg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int			 ready;
	struct msg_limits		 lim = { 1 << 20, 8, 64, 64, 1 << 16 };
	const struct msg_addr		*a;
	const struct msg_header		*h;
	const struct msg_attachment	*att;
	const char *const		*d;
	const char			*why;
	struct msg			*m;
	size_t				 i, n, sum = 0;
	int				 f;

	if (!ready) {
		msg_library_init();
		ready = 1;
	}
	m = msg_new((const char *)data, size, &lim);
	sum += strlen(msg_subject(m));
	for (f = 0; f < MSG_ADDR_FIELD_COUNT; f++) {
		n = msg_addrs(m, (enum msg_addr_field)f, &a);
		for (i = 0; i < n; i++)
			sum += strlen(a[i].name) + strlen(a[i].address);
	}
	n = msg_headers(m, &h);
	for (i = 0; i < n; i++)
		sum += strlen(h[i].name) + strlen(h[i].value);
	sum += msg_header(m, "Subject", 0) != NULL;
	sum += msg_message_id(m) != NULL;
	sum += msg_references(m) != NULL;
	sum += msg_in_reply_to(m) != NULL;
	sum += msg_date(m) != NULL;
	sum += msg_return_path(m) != NULL;
	sum += msg_list_id(m) != NULL;
	sum += msg_is_list(m) + msg_is_auto(m, &why);
	if (size % 3 != 1)
		sum += strlen(msg_text(m));
	if (size % 3 != 2) {
		n = msg_attachments(m, &att);
		for (i = 0; i < n; i++)
			sum += strlen(att[i].filename) +
			    strlen(att[i].content_type) + att[i].size;
	}
	if (size % 3 == 1)
		sum += strlen(msg_text(m));
	n = msg_defects(m, &d);
	for (i = 0; i < n; i++)
		sum += strlen(d[i]);
	msg_free(m);
	return sum == (size_t)-1;
}
