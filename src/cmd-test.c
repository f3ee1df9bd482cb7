/*
 * facteur test -r RULES [--json] MSG...
 * facteur test -r RULES --expect EXPECT.yaml
 *
 * A dry run: each message goes through the rules exactly as the agent
 * would evaluate it (ruleset_eval), and the plan is printed, with why each
 * rule matched or not. Nothing here touches the network or the state.
 *
 * An expect file lists messages and what they must produce:
 *
 *   rules: [rules.yaml]          # used when no -r is given
 *   account: orders              # what {{account}} renders
 *   messages:
 *     - file: messages/order.eml
 *       matched: [order-confirmation]
 *       actions:                 # each listed field must be equal
 *         - {type: reply, subject: "Re: Order #123456"}
 *
 * Paths are relative to the expect file. Each message prints a TAP line,
 * a mismatch the difference (- expected, + actual); exit 1 on any.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "conf.h"
#include "msg.h"
#include "rule.h"
#include "xmalloc.h"
#include "ydoc.h"

#define TEST_MAX_MESSAGE	(64u * 1024 * 1024)

struct test_opts {
	char		**rules;
	size_t		  nrules;
	const char	 *config;
	const char	 *account;
	const char	 *expect;
	int		  json;
};

static int	 parse_args(int, char **, struct test_opts *);
static void	 usage(void);
static struct ruleset *load_rules(struct test_opts *, struct conf **);
static struct msg *read_message(const char *, char **);
static int	 run_files(struct ruleset *, struct test_opts *, int, char **);
static json_t	*eval_file(struct ruleset *, const char *, const char *,
		    struct buf *, char **);
static void	 print_plan(const char *, json_t *, const char *);
static void	 print_action(size_t, json_t *);
static void	 print_value(const char *, json_t *);
static int	 run_expect(struct test_opts *);
static char	*relative_to(const char *, const char *);
static int	 expect_rules(struct ydoc *, const struct ydoc_node *,
		    struct test_opts *, char ***, size_t *, struct diag *);
static void	 check_entry(struct ydoc *, const struct ydoc_node *,
		    struct diag *);
static int	 expect_message(struct ruleset *, const char *, const char *,
		    const struct ydoc_node *);
static size_t	 compare(const struct ydoc_node *, json_t *, const char *,
		    struct buf *);
static int	 scalar_equal(const struct ydoc_node *, json_t *);
static void	 show_diff(struct buf *, const char *,
		    const struct ydoc_node *, json_t *);
static json_t	*node_json(const struct ydoc_node *);

static void
usage(void)
{
	fputs("usage: facteur test [-r RULES]... [-c CONFIG -a ACCOUNT] "
	    "[--json] MSG...\n"
	    "       facteur test [-r RULES]... --expect EXPECT.yaml\n", stderr);
}

int
cmd_test(int argc, char **argv)
{
	struct test_opts	 o;
	struct ruleset		*rs;
	struct conf		*conf = NULL;
	int			 rc;

	memset(&o, 0, sizeof o);
	if (parse_args(argc, argv, &o) != 0) {
		free(o.rules);
		return EXIT_USAGE;
	}
	if (o.expect != NULL) {
		rc = run_expect(&o);
		free(o.rules);
		return rc;
	}
	if ((rs = load_rules(&o, &conf)) == NULL) {
		free(o.rules);
		return EXIT_CONFIG;
	}
	rc = run_files(rs, &o, argc - optind, argv + optind);
	if (conf == NULL)
		ruleset_free(rs);
	conf_free(conf);
	free(o.rules);
	return rc;
}

static int
parse_args(int argc, char **argv, struct test_opts *o)
{
	static const struct option longopts[] = {
		{ "rules", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "account", required_argument, NULL, 'a' },
		{ "expect", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "r:c:a:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			o->rules = xreallocarray(o->rules, o->nrules + 1,
			    sizeof *o->rules);
			o->rules[o->nrules++] = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'a':
			o->account = optarg;
			break;
		case 'e':
			o->expect = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		default:
			usage();
			return -1;
		}
	}
	if ((o->expect == NULL) == (optind == argc) || (o->nrules == 0 &&
	    o->config == NULL && o->expect == NULL) ||
	    (o->config != NULL && o->account == NULL)) {
		usage();
		return -1;
	}
	return 0;
}

/* -r files, or the rules of -a ACCOUNT in -c CONFIG (*conf owns them). */
static struct ruleset *
load_rules(struct test_opts *o, struct conf **conf)
{
	struct diag		 d;
	struct ruleset		*rs = NULL;
	struct conf_account	*a;

	diag_init(&d);
	if (o->nrules > 0)
		rs = ruleset_load((const char *const *)o->rules, o->nrules, &d);
	else if ((*conf = conf_load(o->config, &d)) != NULL) {
		if ((a = conf_find_account(*conf, o->account)) == NULL)
			fprintf(stderr, "facteur: %s: no account '%s'\n",
			    o->config, o->account);
		else
			rs = a->rules;
		if (rs == NULL) {
			conf_free(*conf);
			*conf = NULL;
		}
	}
	diag_print(&d, stderr);
	diag_free(&d);
	return rs;
}

/*
 * The whole file, read into one buffer the message then takes: sized from
 * the file's length when it has one, so a message is read without a copy.
 */
static struct msg *
read_message(const char *path, char **cause)
{
	FILE		*f;
	struct stat	 st;
	char		*data = NULL;
	size_t		 len = 0, size = 65536, n;
	struct msg	*m = NULL;

	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size >= 0 && (uintmax_t)st.st_size < TEST_MAX_MESSAGE)
		size = (size_t)st.st_size + 1;
	for (;;) {
		if (len == size) {
			if (size > TEST_MAX_MESSAGE) {
				*cause = xasprintf("%s: larger than %u bytes",
				    path, TEST_MAX_MESSAGE);
				goto fail;
			}
			size *= 2;
		}
		data = xreallocarray(data, size + 1, 1);
		if ((n = fread(data + len, 1, size - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		goto fail;
	}
	if (len > TEST_MAX_MESSAGE) {
		*cause = xasprintf("%s: larger than %u bytes", path,
		    TEST_MAX_MESSAGE);
		goto fail;
	}
	data[len] = '\0';
	m = msg_new_take(data, len, NULL);
	data = NULL;
fail:
	if (f != stdin)
		fclose(f);
	free(data);
	return m;
}

static json_t *
eval_file(struct ruleset *rs, const char *path, const char *account,
    struct buf *explain, char **cause)
{
	struct eval_ctx	 ctx = { account != NULL ? account : "", NULL, 0 };
	struct msg	*m;
	json_t		*plan;

	if ((m = read_message(path, cause)) == NULL)
		return NULL;
	plan = ruleset_eval(rs, m, &ctx, explain);
	msg_free(m);
	return plan;
}

static int
run_files(struct ruleset *rs, struct test_opts *o, int n, char **files)
{
	struct buf	 explain;
	json_t		*plan, *out;
	char		*cause = NULL, *s;
	int		 i, rc = EXIT_OK;

	for (i = 0; i < n; i++) {
		buf_init(&explain, 1024 * 1024);
		plan = eval_file(rs, files[i], o->account,
		    o->json ? NULL : &explain, &cause);
		if (plan == NULL) {
			fprintf(stderr, "facteur: %s\n", cause);
			free(cause);
			cause = NULL;
			rc = EXIT_NOINPUT;
		} else if (o->json) {
			out = json_object();
			json_object_set_new(out, "file", json_string(files[i]));
			json_object_update(out, plan);
			s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
			printf("%s\n", s != NULL ? s : "{}");
			free(s);
			json_decref(out);
		} else
			print_plan(files[i], plan, explain.data);
		json_decref(plan);
		buf_free(&explain);
	}
	return rc;
}

static void
print_plan(const char *file, json_t *plan, const char *explain)
{
	json_t		*actions = json_object_get(plan, "actions");
	const char	*p, *nl;
	size_t		 i;

	printf("%s\n", file);
	for (p = explain != NULL ? explain : ""; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		printf("  %.*s\n", (int)(nl - p), p);
	}
	if (json_array_size(actions) == 0)
		printf("  plan: nothing to do\n");
	else
		printf("  plan:\n");
	for (i = 0; i < json_array_size(actions); i++)
		print_action(i + 1, json_array_get(actions, i));
}

static void
print_action(size_t n, json_t *a)
{
	const char	*key;
	json_t		*v;

	printf("    %zu. %s (rule %s)\n", n,
	    json_string_value(json_object_get(a, "type")),
	    json_string_value(json_object_get(a, "rule")));
	json_object_foreach(a, key, v) {
		if (strcmp(key, "type") != 0 && strcmp(key, "rule") != 0)
			print_value(key, v);
	}
}

static void
print_value(const char *key, json_t *v)
{
	const char	*s, *nl;
	char		*d;

	if (!json_is_string(v) || strchr(json_string_value(v), '\n') == NULL) {
		d = json_is_string(v) ? xstrdup(json_string_value(v)) :
		    json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("         %s: %s\n", key, d != NULL ? d : "?");
		free(d);
		return;
	}
	printf("         %s: |\n", key);
	for (s = json_string_value(v); *s != '\0'; s = nl + 1) {
		nl = strchr(s, '\n');
		printf("           %.*s\n", nl != NULL ? (int)(nl - s) :
		    (int)strlen(s), s);
		if (nl == NULL)
			break;
	}
}

static char *
relative_to(const char *base, const char *path)
{
	const char	*slash;

	if (path[0] == '/' || (slash = strrchr(base, '/')) == NULL)
		return xstrdup(path);
	return xasprintf("%.*s/%s", (int)(slash - base), base, path);
}

static int
run_expect(struct test_opts *o)
{
	static const char *const keys[] = { "rules", "account", "messages",
	    NULL };
	struct diag		 d;
	struct ydoc		*doc;
	struct ruleset		*rs = NULL;
	const struct ydoc_node	*msgs;
	char			**files = NULL;
	size_t			 nfiles = 0, i, bad = 0;
	int			 rc = EXIT_CONFIG;

	diag_init(&d);
	if ((doc = ydoc_load_file(o->expect, &d)) == NULL)
		goto fail;
	if (doc->root == NULL || doc->root->type != YDOC_MAP ||
	    (msgs = ydoc_get(doc->root, "messages")) == NULL ||
	    msgs->type != YDOC_SEQ) {
		diag_add(&d, o->expect, 1, 1, "an expect file is a mapping "
		    "with 'messages', a list of {file, matched, actions}");
		goto fail;
	}
	ydoc_check_keys(doc, doc->root, "an expect file", keys, &d);
	for (i = 0; i < msgs->n; i++)
		check_entry(doc, msgs->items[i], &d);
	if (expect_rules(doc, ydoc_get(doc->root, "rules"), o, &files,
	    &nfiles, &d) != 0 || d.n > 0)
		goto fail;
	if ((rs = ruleset_load((const char *const *)files, nfiles, &d)) == NULL)
		goto fail;
	for (i = 0; i < msgs->n; i++)
		bad += expect_message(rs, o->expect, o->account, msgs->items[i])
		    != 0;
	printf("# %zu message%s, %zu mismatch%s\n", msgs->n,
	    msgs->n == 1 ? "" : "s", bad, bad == 1 ? "" : "es");
	rc = bad > 0 ? EXIT_MISMATCH : EXIT_OK;
fail:
	diag_print(&d, stderr);
	diag_free(&d);
	ruleset_free(rs);
	for (i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	ydoc_free(doc);
	return rc;
}

/* The -r files, else the expect file's rules (and its account). */
static int
expect_rules(struct ydoc *doc, const struct ydoc_node *n,
    struct test_opts *o, char ***files, size_t *nfiles, struct diag *d)
{
	const struct ydoc_node	*acct, *item;
	size_t			 i, count;

	if ((acct = ydoc_get(doc->root, "account")) != NULL &&
	    o->account == NULL && acct->type == YDOC_SCALAR)
		o->account = acct->value;
	if (o->nrules > 0 || n == NULL) {
		*files = xcalloc(o->nrules, sizeof **files);
		for (i = 0; i < o->nrules; i++)
			(*files)[(*nfiles)++] = xstrdup(o->rules[i]);
		if (o->nrules == 0)
			diag_add(d, doc->file, 1, 1, "no rules: give -r RULES "
			    "or 'rules:' in the expect file");
		return o->nrules > 0 ? 0 : -1;
	}
	count = n->type == YDOC_SEQ ? n->n : 1;
	*files = xcalloc(count, sizeof **files);
	for (i = 0; i < count; i++) {
		item = n->type == YDOC_SEQ ? n->items[i] : n;
		if (item->type != YDOC_SCALAR) {
			diag_add(d, doc->file, item->line, item->col,
			    "'rules' expects a list of rule files");
			return -1;
		}
		(*files)[(*nfiles)++] = relative_to(doc->file, item->value);
	}
	return 0;
}

static void
check_entry(struct ydoc *doc, const struct ydoc_node *n, struct diag *d)
{
	static const char *const keys[] = { "file", "matched", "actions",
	    "description", NULL };
	const struct ydoc_node	*f;

	if (n->type != YDOC_MAP) {
		diag_add(d, doc->file, n->line, n->col, "a message entry is a "
		    "mapping {file, matched, actions}");
		return;
	}
	ydoc_check_keys(doc, n, "a message entry", keys, d);
	if ((f = ydoc_get(n, "file")) == NULL || f->type != YDOC_SCALAR)
		diag_add(d, doc->file, n->line, n->col, "a message entry "
		    "needs 'file', the message's path");
}

/* One message of the expect file: 0 when it produced what was expected. */
static int
expect_message(struct ruleset *rs, const char *expect, const char *account,
    const struct ydoc_node *n)
{
	const struct ydoc_node	*file, *v;
	struct buf		 diff;
	json_t			*plan;
	char			*path, *cause = NULL;
	size_t			 bad = 0;

	if ((file = ydoc_get(n, "file")) == NULL || file->type != YDOC_SCALAR) {
		printf("not ok - %s:%d:%d: an entry needs 'file'\n", expect,
		    n->line, n->col);
		return -1;
	}
	path = relative_to(expect, file->value);
	if ((plan = eval_file(rs, path, account, NULL, &cause)) == NULL) {
		printf("not ok - %s\n# %s\n", path, cause);
		free(cause);
		free(path);
		return -1;
	}
	buf_init(&diff, 1024 * 1024);
	if ((v = ydoc_get(n, "matched")) != NULL)
		bad += compare(v, json_object_get(plan, "matched"), "matched",
		    &diff);
	if ((v = ydoc_get(n, "actions")) != NULL)
		bad += compare(v, json_object_get(plan, "actions"), "actions",
		    &diff);
	printf("%s - %s\n%s", bad ? "not ok" : "ok", path,
	    diff.data != NULL ? diff.data : "");
	buf_free(&diff);
	json_decref(plan);
	free(path);
	return bad ? -1 : 0;
}

/* Expected node against actual JSON; a mapping need only be a subset. */
static size_t
compare(const struct ydoc_node *e, json_t *a, const char *where,
    struct buf *diff)
{
	char	*sub;
	size_t	 i, bad = 0;

	if (e->type == YDOC_SCALAR) {
		if (scalar_equal(e, a))
			return 0;
	} else if (e->type == YDOC_SEQ && json_is_array(a) &&
	    json_array_size(a) == e->n) {
		for (i = 0; i < e->n; i++) {
			sub = xasprintf("%s[%zu]", where, i);
			bad += compare(e->items[i], json_array_get(a, i), sub,
			    diff);
			free(sub);
		}
		return bad;
	} else if (e->type == YDOC_MAP && json_is_object(a)) {
		for (i = 0; i < e->n; i++) {
			sub = xasprintf("%s.%s", where, e->pairs[i].key->value);
			bad += compare(e->pairs[i].value, json_object_get(a,
			    e->pairs[i].key->value), sub, diff);
			free(sub);
		}
		return bad;
	}
	show_diff(diff, where, e, a);
	return 1;
}

static int
scalar_equal(const struct ydoc_node *e, json_t *a)
{
	char	*s;
	int	 eq;

	if (a == NULL || json_is_null(a))
		return ydoc_is_null(e);
	if (json_is_string(a))
		return strcmp(e->value, json_string_value(a)) == 0;
	if (json_is_boolean(a))
		return strcmp(e->value, json_is_true(a) ? "true" : "false") == 0;
	if (!json_is_integer(a))
		return 0;
	s = xasprintf("%lld", (long long)json_integer_value(a));
	eq = strcmp(s, e->value) == 0;
	free(s);
	return eq;
}

static void
show_diff(struct buf *diff, const char *where, const struct ydoc_node *e,
    json_t *a)
{
	json_t	*ej;
	char	*es = NULL, *as;

	ej = node_json(e);
	es = json_dumps(ej, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(ej);
	as = a != NULL ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	buf_printf(diff, "#   - %s: %s\n#   + %s: %s\n", where,
	    es != NULL ? es : "?", where, as != NULL ? as : "(absent)");
	free(es);
	free(as);
}

/* An expected value as JSON, for showing it. */
static json_t *
node_json(const struct ydoc_node *e)
{
	json_t	*j;
	size_t	 i;

	if (e->type == YDOC_SCALAR)
		return ydoc_is_null(e) ? json_null() : json_string(e->value);
	if (e->type == YDOC_SEQ) {
		j = json_array();
		for (i = 0; i < e->n; i++)
			json_array_append_new(j, node_json(e->items[i]));
		return j;
	}
	j = json_object();
	for (i = 0; i < e->n; i++)
		json_object_set_new(j, e->pairs[i].key->value,
		    node_json(e->pairs[i].value));
	return j;
}
