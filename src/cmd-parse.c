/*
 * facteur parse [--json] MSG...: the decoded view of each message, as rules
 * see it. With --json, one JSON object a line (the shape is in RULES.md);
 * without, a short readable summary and the text. "-" reads stdin. A file
 * that cannot be read is reported and skipped; the exit code then says so.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include <jansson.h>

#include "commands.h"
#include "msg.h"
#include "xmalloc.h"

/* Read a little more than msg_new() parses, so it can say it cut. */
#define PARSE_MAX_READ	(64 * 1024 * 1024 + 1)

static const char *const field_keys[MSG_ADDR_FIELD_COUNT] = {
	[MSG_FROM] = "from",
	[MSG_SENDER] = "sender",
	[MSG_REPLY_TO] = "reply_to",
	[MSG_TO] = "to",
	[MSG_CC] = "cc",
	[MSG_BCC] = "bcc",
	[MSG_RETURN_PATH] = "return_path_all",
	[MSG_DELIVERED_TO] = "delivered_to",
	[MSG_RESENT_FROM] = "resent_from",
	[MSG_RESENT_TO] = "resent_to",
	[MSG_RESENT_CC] = "resent_cc",
	[MSG_RESENT_BCC] = "resent_bcc",
};

static int	 read_file(const char *, char **, size_t *);
static int	 parse_one(const char *, int);
static json_t	*str_or_null(const char *);
static json_t	*addrs_json(struct msg *, enum msg_addr_field);
static json_t	*attachments_json(struct msg *);
static json_t	*defects_json(struct msg *);
static json_t	*msg_json(const char *, struct msg *);
static void	 print_json(const char *, struct msg *);
static void	 print_addrs(struct msg *, const char *, enum msg_addr_field);
static void	 print_text(const char *, struct msg *);

int
cmd_parse(int argc, char **argv)
{
	int	 i, json = 0, rc = EXIT_OK, one, files = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			goto usage;
		else
			break;
	}
	for (; i < argc; i++) {
		files++;
		if ((one = parse_one(argv[i], json)) != EXIT_OK)
			rc = one;
	}
	if (files == 0)
		goto usage;
	return rc;
usage:
	fputs("usage: facteur parse [--json] MSG...\n", stderr);
	return EXIT_USAGE;
}

/* The whole file (or stdin for "-"), up to PARSE_MAX_READ bytes. */
static int
read_file(const char *path, char **data, size_t *len)
{
	FILE		*f;
	struct buf	 b;
	char		 chunk[65536];
	size_t		 n;

	buf_init(&b, PARSE_MAX_READ);
	if (strcmp(path, "-") == 0)
		f = stdin;
	else if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "facteur: %s: %s\n", path, strerror(errno));
		return EXIT_NOINPUT;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b.len + n > b.cap)
			n = b.cap - b.len;
		buf_add(&b, chunk, n);
		if (b.len == b.cap)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "facteur: %s: read error\n", path);
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	*data = buf_steal(&b, len);
	return EXIT_OK;
fail:
	if (f != stdin)
		fclose(f);
	buf_free(&b);
	return EXIT_IOERR;
}

static int
parse_one(const char *path, int json)
{
	struct msg	*m;
	char		*data;
	size_t		 len;
	int		 rc;

	if ((rc = read_file(path, &data, &len)) != EXIT_OK)
		return rc;
	m = msg_new_take(data, len, NULL);
	if (json)
		print_json(path, m);
	else
		print_text(path, m);
	msg_free(m);
	return EXIT_OK;
}

static json_t *
str_or_null(const char *s)
{
	return s == NULL ? json_null() : json_string(s);
}

static json_t *
addrs_json(struct msg *m, enum msg_addr_field f)
{
	const struct msg_addr	*a;
	json_t			*arr;
	size_t			 i, n;

	arr = json_array();
	n = msg_addrs(m, f, &a);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "name",
		    a[i].name, "address", a[i].address));
	return arr;
}

static json_t *
attachments_json(struct msg *m)
{
	const struct msg_attachment	*a;
	json_t				*arr;
	size_t				 i, n;

	arr = json_array();
	n = msg_attachments(m, &a);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:b, s:b}",
		    "filename", a[i].filename, "content_type",
		    a[i].content_type, "size", (json_int_t)a[i].size,
		    "signed", a[i].is_signed, "encrypted", a[i].is_encrypted));
	return arr;
}

static json_t *
defects_json(struct msg *m)
{
	const char *const	*d;
	json_t			*arr;
	size_t			 i, n;

	arr = json_array();
	n = msg_defects(m, &d);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_string(d[i]));
	return arr;
}

static json_t *
msg_json(const char *path, struct msg *m)
{
	json_t		*o;
	const char	*why;
	time_t		 t;
	int		 f;

	o = json_object();
	json_object_set_new(o, "file", json_string(path));
	json_object_set_new(o, "message_id", str_or_null(msg_message_id(m)));
	json_object_set_new(o, "date", str_or_null(msg_date(m)));
	t = msg_date_time(m);
	json_object_set_new(o, "date_unix", t == (time_t)-1 ? json_null() :
	    json_integer((json_int_t)t));
	json_object_set_new(o, "subject", json_string(msg_subject(m)));
	for (f = 0; f < MSG_ADDR_FIELD_COUNT; f++) {
		if (f != MSG_RETURN_PATH)
			json_object_set_new(o, field_keys[f],
			    addrs_json(m, (enum msg_addr_field)f));
	}
	json_object_set_new(o, "return_path", str_or_null(msg_return_path(m)));
	json_object_set_new(o, "in_reply_to", str_or_null(msg_in_reply_to(m)));
	json_object_set_new(o, "references", str_or_null(msg_references(m)));
	json_object_set_new(o, "list_id", str_or_null(msg_list_id(m)));
	json_object_set_new(o, "is_list", json_boolean(msg_is_list(m)));
	json_object_set_new(o, "auto_submitted",
	    str_or_null(msg_header(m, "Auto-Submitted", 0)));
	json_object_set_new(o, "is_auto", json_boolean(msg_is_auto(m, &why)));
	json_object_set_new(o, "auto_reason", str_or_null(why));
	json_object_set_new(o, "text", json_string(msg_text(m)));
	json_object_set_new(o, "attachments", attachments_json(m));
	json_object_set_new(o, "defects", defects_json(m));
	return o;
}

static void
print_json(const char *path, struct msg *m)
{
	json_t	*o;
	char	*s;

	o = msg_json(path, m);
	if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
		fatal("parse: cannot encode JSON for %s", path);
	puts(s);
	free(s);
	json_decref(o);
}

static void
print_addrs(struct msg *m, const char *label, enum msg_addr_field f)
{
	const struct msg_addr	*a;
	size_t			 i, n;

	if ((n = msg_addrs(m, f, &a)) == 0)
		return;
	printf("%s:", label);
	for (i = 0; i < n; i++) {
		if (*a[i].name != '\0')
			printf("%s \"%s\" <%s>", i ? "," : "", a[i].name,
			    a[i].address);
		else
			printf("%s <%s>", i ? "," : "", a[i].address);
	}
	putchar('\n');
}

static void
print_text(const char *path, struct msg *m)
{
	const struct msg_attachment	*a;
	const char *const		*d;
	const char			*why;
	size_t				 i, n;

	printf("==> %s <==\n", path);
	print_addrs(m, "From", MSG_FROM);
	print_addrs(m, "To", MSG_TO);
	print_addrs(m, "Cc", MSG_CC);
	print_addrs(m, "Reply-To", MSG_REPLY_TO);
	printf("Subject: %s\n", msg_subject(m));
	if (msg_date(m) != NULL)
		printf("Date: %s\n", msg_date(m));
	if (msg_message_id(m) != NULL)
		printf("Message-ID: %s\n", msg_message_id(m));
	if (msg_return_path(m) != NULL)
		printf("Return-Path: <%s>\n", msg_return_path(m));
	if (msg_is_list(m))
		printf("List: %s\n", msg_list_id(m) ? msg_list_id(m) : "yes");
	if (msg_is_auto(m, &why))
		printf("Automatic: %s\n", why);
	n = msg_attachments(m, &a);
	for (i = 0; i < n; i++)
		printf("Attachment: %s (%s, %zu bytes%s%s)\n",
		    *a[i].filename ? a[i].filename : "(no name)",
		    a[i].content_type, a[i].size,
		    a[i].is_signed ? ", signed" : "",
		    a[i].is_encrypted ? ", encrypted" : "");
	n = msg_defects(m, &d);
	for (i = 0; i < n; i++)
		printf("Defect: %s\n", d[i]);
	printf("\n%s\n\n", msg_text(m));
}
