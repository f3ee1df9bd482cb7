/*
 * Actions: parsed and checked at load time, rendered into the plan when a
 * rule matches. Each action is a JSON object of fixed fields (numbers,
 * modes, paths: known at load) plus template fields rendered per message,
 * each in the mode that makes it safe where it goes. The plan never holds
 * a secret's value: a webhook secret appears as {"env": NAME} etc.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "action.h"
#include "conf.h"
#include "msg.h"
#include "rule-impl.h"
#include "xmalloc.h"

enum action_type {
	ACT_REPLY,
	ACT_AUTOREPLY,
	ACT_FORWARD,
	ACT_NOTIFY,
	ACT_RUN,
	ACT_WEBHOOK,
	ACT_MOVE,
	ACT_COPY,
	ACT_FLAG,
	ACT_DELETE,
	ACT_SAVE,
	ACT_EXTRACT,
	ACT_STOP
};

static const char *const action_names[] = { "reply", "autoreply", "forward",
    "notify", "run", "webhook", "move", "copy", "flag", "delete", "save",
    "extract", "stop", NULL };

/* A template field: obj[key] = text, obj[key][] += text, obj[key][sub]. */
struct tfield {
	char		*key;
	char		*sub;
	bool		 list;
	enum tmpl_mode	 mode;
	struct tmpl	*t;
};

struct action {
	enum action_type  type;
	json_t		 *fixed;
	struct tfield	 *f;
	size_t		  nf;
	char		 *subject_prefix; /* default subject: PREFIX subject */
	struct match	 *type_re;	/* extract */
};

#define DEFAULT_NOTIFY_BODY \
	"A message matched the rule {{rule}}.\n\n" \
	"From: {{from}}\nTo: {{to}}\nDate: {{date}}\nSubject: {{subject}}\n"

static int	 parse_body(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 parse_message(struct rule_load *, struct action *,
		    const struct ydoc_node *, const char *const *,
		    const char *);
static int	 parse_autoreply(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 parse_forward(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 parse_notify(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 parse_run(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 add_program(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 parse_env(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 parse_webhook(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 parse_secret(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 check_json(struct rule_load *, const struct ydoc_node *,
		    const struct tmpl *);
static int	 parse_folder(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 parse_flag(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 parse_flag_list(struct rule_load *, struct action *,
		    const char *, const struct ydoc_node *);
static int	 parse_path(struct rule_load *, struct action *,
		    const struct ydoc_node *, const char *);
static int	 parse_extract(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 parse_bare(struct rule_load *, const struct ydoc_node *,
		    const char *);
static int	 parse_addresses(struct rule_load *, struct action *,
		    const struct ydoc_node *);
static int	 add_field(struct rule_load *, struct action *, const char *,
		    const struct ydoc_node *, enum tmpl_mode, bool,
		    const char *);
static void	 add_builtin(struct action *, const char *, const char *,
		    enum tmpl_mode);
static int	 want_duration(struct rule_load *, struct action *,
		    const struct ydoc_node *, const char *, unsigned);
static int	 want_map(struct rule_load *, const struct ydoc_node *,
		    const char *, const char *const *);
static const char *dummy_lookup(const char *, void *);
static void	 render_fields(const struct action *, struct rule_eval *,
		    json_t *);
static void	 render_subject(const struct action *, struct rule_eval *,
		    json_t *);
static void	 render_extra(const struct action *, struct rule_eval *,
		    json_t *);
static json_t	*reply_target(struct rule_eval *);
static json_t	*extract_list(const struct action *, struct rule_eval *);
static json_t	*jstr(const char *);
static void	 render_captures(struct rule_eval *, json_t *);

/* A JSON string; text that is not UTF-8 cannot get in (msg gives UTF-8). */
static json_t *
jstr(const char *s)
{
	json_t	*j;

	if ((j = json_string(s)) != NULL)
		return j;
	return json_string("(not valid UTF-8)");
}

static int
want_map(struct rule_load *l, const struct ydoc_node *v, const char *what,
    const char *const *keys)
{
	size_t	 i;
	struct buf b;

	if (v->type == YDOC_MAP)
		return ydoc_check_keys(l->doc, v, what, keys, l->diag) ? -1 : 0;
	buf_init(&b, 1024);
	for (i = 0; keys[i] != NULL; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", keys[i]);
	rule_error(l, v, "'%s' expects a mapping with %s, not %s", what,
	    b.data, ydoc_type_name(v));
	buf_free(&b);
	return -1;
}

static int
add_field(struct rule_load *l, struct action *a, const char *key,
    const struct ydoc_node *n, enum tmpl_mode mode, bool list,
    const char *sub)
{
	struct tmpl	*t;
	struct tfield	*f;

	if ((t = rule_template(l, n)) == NULL)
		return -1;
	a->f = xreallocarray(a->f, a->nf + 1, sizeof *a->f);
	f = &a->f[a->nf++];
	f->key = xstrdup(key);
	f->sub = sub != NULL ? xstrdup(sub) : NULL;
	f->list = list;
	f->mode = mode;
	f->t = t;
	return 0;
}

static void
add_builtin(struct action *a, const char *key, const char *src,
    enum tmpl_mode mode)
{
	struct tfield	*f;
	char		*cause = NULL;
	size_t		 off;

	a->f = xreallocarray(a->f, a->nf + 1, sizeof *a->f);
	f = &a->f[a->nf++];
	f->key = xstrdup(key);
	f->sub = NULL;
	f->list = false;
	f->mode = mode;
	if ((f->t = tmpl_compile(src, &cause, &off)) == NULL)
		fatal("built-in template: %s", cause);
}

static int
want_duration(struct rule_load *l, struct action *a,
    const struct ydoc_node *v, const char *key, unsigned dflt)
{
	unsigned	 secs = dflt;

	if (v != NULL && (v->type != YDOC_SCALAR ||
	    conf_parse_duration(v->value, &secs) != 0 || secs == 0)) {
		rule_error(l, v, "'%s' expects a duration such as 30s, 5m, 2h "
		    "or 7d", key);
		return -1;
	}
	json_object_set_new(a->fixed, key, json_integer(secs));
	return 0;
}

struct action *
action_parse(struct rule_load *l, const struct ydoc_node *n)
{
	const struct ydoc_node	*key, *v;
	struct action		*a;
	size_t			 k;
	int			 rc;

	if (n->type == YDOC_SCALAR)
		key = v = n;
	else if (n->type == YDOC_MAP && n->n == 1) {
		key = n->pairs[0].key;
		v = n->pairs[0].value;
	} else {
		rule_error(l, n, "an action must be a mapping with one key, "
		    "such as {move: Archive}");
		return NULL;
	}
	for (k = 0; action_names[k] != NULL; k++) {
		if (strcmp(action_names[k], key->value) == 0)
			break;
	}
	if (action_names[k] == NULL) {
		rule_error(l, key, "unknown action '%s' (expected: reply, "
		    "autoreply, forward, notify, run, webhook, move, copy, "
		    "flag, delete, save, extract, stop)", key->value);
		return NULL;
	}
	if (key == v && k != ACT_DELETE && k != ACT_STOP) {
		rule_error(l, n, "action '%s' needs its settings, as "
		    "'%s: ...'", key->value, key->value);
		return NULL;
	}
	a = xcalloc(1, sizeof *a);
	a->type = (enum action_type)k;
	a->fixed = json_object();
	rc = parse_body(l, a, key == v ? NULL : v);
	if (rc != 0) {
		action_free(a);
		return NULL;
	}
	return a;
}

static int
parse_body(struct rule_load *l, struct action *a, const struct ydoc_node *v)
{
	static const char *const reply_keys[] = { "subject", "body", NULL };

	switch (a->type) {
	case ACT_REPLY:
		a->subject_prefix = xstrdup("Re: ");
		return parse_message(l, a, v, reply_keys, "reply");
	case ACT_AUTOREPLY:
		return parse_autoreply(l, a, v);
	case ACT_FORWARD:
		return parse_forward(l, a, v);
	case ACT_NOTIFY:
		return parse_notify(l, a, v);
	case ACT_RUN:
		return parse_run(l, a, v);
	case ACT_WEBHOOK:
		return parse_webhook(l, a, v);
	case ACT_MOVE:
	case ACT_COPY:
		return parse_folder(l, a, v);
	case ACT_FLAG:
		return parse_flag(l, a, v);
	case ACT_SAVE:
		return parse_path(l, a, v, "maildir");
	case ACT_EXTRACT:
		return parse_extract(l, a, v);
	default:
		return parse_bare(l, v, action_names[a->type]);
	}
}

/* delete, stop: nothing, or true. */
static int
parse_bare(struct rule_load *l, const struct ydoc_node *v, const char *what)
{
	bool	 yes;

	if (v == NULL || ydoc_is_null(v) ||
	    (ydoc_bool(v, &yes) == 0 && yes))
		return 0;
	rule_error(l, v, "'%s' takes no settings (write '- %s')", what, what);
	return -1;
}

/* subject and body of reply and autoreply (body required). */
static int
parse_message(struct rule_load *l, struct action *a,
    const struct ydoc_node *v, const char *const *keys, const char *what)
{
	const struct ydoc_node	*s, *b;
	int			 rc = 0;

	if (want_map(l, v, what, keys) != 0)
		return -1;
	if ((s = ydoc_get(v, "subject")) != NULL) {
		free(a->subject_prefix);
		a->subject_prefix = NULL;
		rc |= add_field(l, a, "subject", s, TMPL_HEADER, false, NULL);
	}
	if ((b = ydoc_get(v, "body")) == NULL) {
		rule_error(l, v, "'%s' needs a 'body'", what);
		return -1;
	}
	rc |= add_field(l, a, "body", b, TMPL_TEXT, false, NULL);
	return rc;
}

static int
parse_autoreply(struct rule_load *l, struct action *a,
    const struct ydoc_node *v)
{
	static const char *const keys[] = { "subject", "body", "every",
	    "handle", NULL };
	const struct ydoc_node	*h;
	int			 rc;

	a->subject_prefix = xstrdup("Auto: ");
	if ((rc = parse_message(l, a, v, keys, "autoreply")) != 0)
		return rc;
	rc = want_duration(l, a, ydoc_get(v, "every"), "every", 7 * 86400);
	if ((h = ydoc_get(v, "handle")) == NULL) {
		json_object_set_new(a->fixed, "handle",
		    json_string(l->rule->name));
		return rc;
	}
	if (h->type != YDOC_SCALAR || h->len == 0) {
		rule_error(l, h, "'handle' expects a short name");
		return -1;
	}
	json_object_set_new(a->fixed, "handle", json_string(h->value));
	return rc;
}

static int
parse_forward(struct rule_load *l, struct action *a,
    const struct ydoc_node *v)
{
	static const char *const keys[] = { "to", "as", NULL };
	const struct ydoc_node	*as;
	const char		*mode = "attachment";

	if (v->type == YDOC_SCALAR || v->type == YDOC_SEQ)
		return parse_addresses(l, a, v);
	if (want_map(l, v, "forward", keys) != 0)
		return -1;
	if ((as = ydoc_get(v, "as")) != NULL) {
		if (as->type != YDOC_SCALAR ||
		    (strcmp(as->value, "attachment") != 0 &&
		    strcmp(as->value, "inline") != 0 &&
		    strcmp(as->value, "redirect") != 0)) {
			rule_error(l, as, "'as' expects attachment, inline or "
			    "redirect");
			return -1;
		}
		mode = as->value;
	}
	json_object_set_new(a->fixed, "as", json_string(mode));
	if (ydoc_get(v, "to") == NULL) {
		rule_error(l, v, "'forward' needs 'to'");
		return -1;
	}
	return parse_addresses(l, a, ydoc_get(v, "to"));
}

/* An address or a list of them, each a template (rendered as a header). */
static int
parse_addresses(struct rule_load *l, struct action *a,
    const struct ydoc_node *v)
{
	size_t	 i, n = v->type == YDOC_SEQ ? v->n : 1;
	int	 rc = 0;
	const struct ydoc_node *item;

	if (v->type == YDOC_MAP || n == 0) {
		rule_error(l, v, "'to' expects an address or a list of them");
		return -1;
	}
	json_object_set_new(a->fixed, "to", json_array());
	for (i = 0; i < n; i++) {
		item = v->type == YDOC_SEQ ? v->items[i] : v;
		if (item->type == YDOC_SCALAR && strchr(item->value, '@') ==
		    NULL && strstr(item->value, "{{") == NULL) {
			rule_error(l, item, "'%s' is not an address", item->value);
			rc = -1;
			continue;
		}
		rc |= add_field(l, a, "to", item, TMPL_HEADER, true, NULL);
	}
	return rc;
}

static int
parse_notify(struct rule_load *l, struct action *a, const struct ydoc_node *v)
{
	static const char *const keys[] = { "to", "subject", "body", NULL };
	const struct ydoc_node	*n;
	int			 rc;

	if (want_map(l, v, "notify", keys) != 0)
		return -1;
	if ((n = ydoc_get(v, "to")) == NULL) {
		rule_error(l, v, "'notify' needs 'to'");
		return -1;
	}
	rc = parse_addresses(l, a, n);
	if ((n = ydoc_get(v, "subject")) != NULL)
		rc |= add_field(l, a, "subject", n, TMPL_HEADER, false, NULL);
	else
		a->subject_prefix = xstrdup("[facteur] ");
	if ((n = ydoc_get(v, "body")) != NULL)
		rc |= add_field(l, a, "body", n, TMPL_TEXT, false, NULL);
	else
		add_builtin(a, "body", DEFAULT_NOTIFY_BODY, TMPL_TEXT);
	return rc;
}

static int
parse_run(struct rule_load *l, struct action *a, const struct ydoc_node *v)
{
	static const char *const keys[] = { "argv", "stdin", "env", "timeout",
	    NULL };
	static const char *const modes[] = { "none", "message", "body", "json",
	    NULL };
	const struct ydoc_node	*argv, *in;
	size_t			 i;
	int			 rc = 0;

	if (want_map(l, v, "run", keys) != 0)
		return -1;
	if ((argv = ydoc_get(v, "argv")) == NULL || argv->type != YDOC_SEQ ||
	    argv->n == 0) {
		rule_error(l, argv != NULL ? argv : v, "'run' needs 'argv', a "
		    "list [PROGRAM, ARGS...]");
		return -1;
	}
	if (argv->items[0]->type == YDOC_SCALAR &&
	    strstr(argv->items[0]->value, "{{") != NULL) {
		rule_error(l, argv->items[0], "the program to run cannot come "
		    "from the message: no {{...}} in argv[0]");
		rc = -1;
	}
	json_object_set_new(a->fixed, "argv", json_array());
	rc |= add_program(l, a, argv->items[0]);
	for (i = 1; i < argv->n; i++)
		rc |= add_field(l, a, "argv", argv->items[i], TMPL_TEXT, true,
		    NULL);
	json_object_set_new(a->fixed, "stdin", json_string("none"));
	if ((in = ydoc_get(v, "stdin")) != NULL) {
		for (i = 0; modes[i] != NULL && (in->type != YDOC_SCALAR ||
		    strcmp(modes[i], in->value) != 0); i++)
			;
		if (modes[i] == NULL) {
			rule_error(l, in, "'stdin' expects none, message, body "
			    "or json");
			rc = -1;
		} else
			json_object_set_new(a->fixed, "stdin",
			    json_string(modes[i]));
	}
	rc |= parse_env(l, a, ydoc_get(v, "env"));
	rc |= want_duration(l, a, ydoc_get(v, "timeout"), "timeout", 60);
	return rc;
}

/* argv[0]: a path with a '/' is taken from the rule file's directory. */
static int
add_program(struct rule_load *l, struct action *a, const struct ydoc_node *n)
{
	char	*path;

	if (n->type != YDOC_SCALAR || n->len == 0 || ydoc_is_null(n)) {
		rule_error(l, n, "argv[0] must name the program to run");
		return -1;
	}
	if (n->value[0] != '/' && strchr(n->value, '/') != NULL)
		path = xasprintf("%s/%s", l->dir, n->value);
	else
		path = xstrdup(n->value);
	json_array_append_new(json_object_get(a->fixed, "argv"),
	    json_string(path));
	free(path);
	return 0;
}

static int
parse_env(struct rule_load *l, struct action *a, const struct ydoc_node *v)
{
	const char	*name;
	size_t		 i;
	int		 rc = 0;

	if (v == NULL)
		return 0;
	if (v->type != YDOC_MAP) {
		rule_error(l, v, "'env' expects a mapping NAME: VALUE");
		return -1;
	}
	json_object_set_new(a->fixed, "env", json_object());
	for (i = 0; i < v->n; i++) {
		name = v->pairs[i].key->value;
		if (name[0] == '\0' || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name) ||
		    (name[0] >= '0' && name[0] <= '9')) {
			rule_error(l, v->pairs[i].key, "'%s' is not a valid "
			    "environment variable name", name);
			rc = -1;
			continue;
		}
		rc |= add_field(l, a, "env", v->pairs[i].value, TMPL_TEXT,
		    false, name);
	}
	return rc;
}

static int
parse_webhook(struct rule_load *l, struct action *a,
    const struct ydoc_node *v)
{
	static const char *const keys[] = { "url", "secret", "timeout", "body",
	    NULL };
	const struct ydoc_node	*u, *b;
	int			 rc = 0;

	if (want_map(l, v, "webhook", keys) != 0)
		return -1;
	if ((u = ydoc_get(v, "url")) == NULL || u->type != YDOC_SCALAR ||
	    (strncmp(u->value, "https://", 8) != 0 &&
	    strncmp(u->value, "http://", 7) != 0)) {
		rule_error(l, u != NULL ? u : v, "'webhook' needs a 'url' "
		    "starting with https:// or http://");
		return -1;
	}
	rc |= add_field(l, a, "url", u, TMPL_URL, false, NULL);
	if (ydoc_get(v, "secret") != NULL)
		rc |= parse_secret(l, a, ydoc_get(v, "secret"));
	rc |= want_duration(l, a, ydoc_get(v, "timeout"), "timeout", 30);
	if ((b = ydoc_get(v, "body")) != NULL &&
	    add_field(l, a, "body", b, TMPL_JSON, false, NULL) == 0)
		rc |= check_json(l, b, a->f[a->nf - 1].t);
	return rc;
}

/* A webhook body is a JSON template: it must be JSON whatever the values. */
static int
check_json(struct rule_load *l, const struct ydoc_node *n,
    const struct tmpl *t)
{
	json_error_t	 err;
	json_t		*j;
	char		*s;

	s = tmpl_render(t, TMPL_JSON, dummy_lookup, NULL);
	j = json_loads(s, JSON_DECODE_ANY, &err);
	free(s);
	if (j != NULL) {
		json_decref(j);
		return 0;
	}
	rule_error(l, n, "webhook body is not valid JSON: %s (put each "
	    "{{name}} inside a JSON string)", err.text);
	return -1;
}

static const char *
dummy_lookup(const char *name, void *arg)
{
	(void)name;
	(void)arg;
	return "x\"\n";
}

static int
parse_secret(struct rule_load *l, struct action *a, const struct ydoc_node *v)
{
	static const char *const keys[] = { "env", "file", "command", NULL };
	const struct ydoc_node	*x;
	json_t			*spec, *argv;
	size_t			 i;

	if (v->type != YDOC_MAP || v->n != 1 ||
	    ydoc_check_keys(l->doc, v, "secret", keys, l->diag) != 0) {
		rule_error(l, v, "'secret' expects {env: VAR}, {file: PATH} or "
		    "{command: [ARGV...]}; never the secret itself");
		return -1;
	}
	x = v->pairs[0].value;
	spec = json_object();
	if (strcmp(v->pairs[0].key->value, "command") != 0 &&
	    x->type == YDOC_SCALAR && x->len > 0)
		json_object_set_new(spec, v->pairs[0].key->value,
		    json_string(x->value));
	else if (x->type == YDOC_SEQ && x->n > 0) {
		argv = json_array();
		for (i = 0; i < x->n; i++)
			json_array_append_new(argv, json_string(
			    x->items[i]->type == YDOC_SCALAR ?
			    x->items[i]->value : ""));
		json_object_set_new(spec, "command", argv);
	} else {
		json_decref(spec);
		rule_error(l, x, "bad secret source");
		return -1;
	}
	json_object_set_new(a->fixed, "secret", spec);
	return 0;
}

/* move, copy: a folder name (a template). */
static int
parse_folder(struct rule_load *l, struct action *a, const struct ydoc_node *v)
{
	const struct ydoc_node	*f = v;

	if (v->type == YDOC_MAP) {
		if (want_map(l, v, action_names[a->type], (const char *const[]){
		    "folder", NULL }) != 0)
			return -1;
		f = ydoc_get(v, "folder");
	}
	if (f == NULL || f->type != YDOC_SCALAR || f->len == 0 ||
	    ydoc_is_null(f)) {
		rule_error(l, v, "'%s' expects a folder name",
		    action_names[a->type]);
		return -1;
	}
	return add_field(l, a, "folder", f, TMPL_HEADER, false, NULL);
}

/* flag: FLAG, [FLAGS], or {add: FLAGS, remove: FLAGS}. */
static int
parse_flag(struct rule_load *l, struct action *a, const struct ydoc_node *v)
{
	static const char *const keys[] = { "add", "remove", NULL };
	int	 rc = 0;

	json_object_set_new(a->fixed, "add", json_array());
	json_object_set_new(a->fixed, "remove", json_array());
	if (v->type != YDOC_MAP)
		return parse_flag_list(l, a, "add", v);
	if (want_map(l, v, "flag", keys) != 0)
		return -1;
	if (ydoc_get(v, "add") != NULL)
		rc |= parse_flag_list(l, a, "add", ydoc_get(v, "add"));
	if (ydoc_get(v, "remove") != NULL)
		rc |= parse_flag_list(l, a, "remove", ydoc_get(v, "remove"));
	if (v->n == 0) {
		rule_error(l, v, "'flag' needs 'add' or 'remove'");
		rc = -1;
	}
	return rc;
}

static int
parse_flag_list(struct rule_load *l, struct action *a, const char *key,
    const struct ydoc_node *v)
{
	const struct ydoc_node	*f;
	size_t			 i, n = v->type == YDOC_SEQ ? v->n : 1;
	const char		*s;

	for (i = 0; i < n; i++) {
		f = v->type == YDOC_SEQ ? v->items[i] : v;
		s = f->type == YDOC_SCALAR ? f->value : "";
		if (v->type == YDOC_MAP || action_flag_canon(s) == NULL) {
			rule_error(l, f, "'%s' is not a flag a rule can set "
			    "(\\Seen, \\Answered, \\Flagged, \\Deleted, "
			    "\\Draft, or a keyword of ASCII letters, digits "
			    "and punctuation)", f->type == YDOC_SCALAR ?
			    f->value : "?");
			return -1;
		}
		json_array_append_new(json_object_get(a->fixed, key),
		    json_string(f->value));
	}
	return 0;
}

/* save: PATH or {maildir: PATH}; relative to the rule file. */
static int
parse_path(struct rule_load *l, struct action *a, const struct ydoc_node *v,
    const char *key)
{
	const struct ydoc_node	*p = v;
	char			*path;

	if (v->type == YDOC_MAP) {
		if (want_map(l, v, "save", (const char *const[]){ "maildir",
		    NULL }) != 0)
			return -1;
		p = ydoc_get(v, key);
	}
	if (p == NULL || p->type != YDOC_SCALAR || p->len == 0 ||
	    ydoc_is_null(p)) {
		rule_error(l, v, "expected a path for '%s'", key);
		return -1;
	}
	path = p->value[0] == '/' ? xstrdup(p->value) :
	    xasprintf("%s/%s", l->dir, p->value);
	json_object_set_new(a->fixed, key, json_string(path));
	free(path);
	return 0;
}

/* extract: DIR or {dir: DIR, type: PATTERN}. */
static int
parse_extract(struct rule_load *l, struct action *a,
    const struct ydoc_node *v)
{
	static const char *const keys[] = { "dir", "type", NULL };
	const struct ydoc_node	*t;

	if (v->type != YDOC_MAP)
		return parse_path(l, a, v, "dir");
	if (want_map(l, v, "extract", keys) != 0)
		return -1;
	if (ydoc_get(v, "dir") == NULL) {
		rule_error(l, v, "'extract' needs 'dir'");
		return -1;
	}
	if (parse_path(l, a, ydoc_get(v, "dir"), "dir") != 0)
		return -1;
	if ((t = ydoc_get(v, "type")) == NULL)
		return 0;
	if ((a->type_re = rule_pattern(l, t)) == NULL)
		return -1;
	/* "type" is the action's own: the pattern goes under another name. */
	json_object_set_new(a->fixed, "content_type", json_string(t->value));
	return 0;
}

const char *
action_type_name(const struct action *a)
{
	return action_names[a->type];
}

void
action_free(struct action *a)
{
	size_t	 i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nf; i++) {
		free(a->f[i].key);
		free(a->f[i].sub);
		tmpl_free(a->f[i].t);
	}
	free(a->f);
	free(a->subject_prefix);
	match_free(a->type_re);
	json_decref(a->fixed);
	free(a);
}

void
action_render(const struct action *a, struct rule_eval *ev, json_t *actions)
{
	json_t	*obj;

	obj = json_object();
	json_object_set_new(obj, "rule", json_string(ev->rule->name));
	json_object_set_new(obj, "type", json_string(action_names[a->type]));
	render_extra(a, ev, obj);
	json_object_update_new(obj, json_deep_copy(a->fixed));
	render_subject(a, ev, obj);
	render_fields(a, ev, obj);
	if (a->type == ACT_WEBHOOK || a->type == ACT_RUN)
		render_captures(ev, obj);
	if (json_is_null(json_object_get(obj, "to")))
		json_object_del(obj, "to");
	json_array_append_new(actions, obj);
	if (a->type == ACT_STOP)
		ev->stop = true;
}

/*
 * The rule's named captures, for the JSON document a webhook or a program
 * gets (http-doc.h): a receiver should not have to parse them again.
 */
static void
render_captures(struct rule_eval *ev, json_t *obj)
{
	json_t	*c;
	size_t	 i;

	c = json_object();
	for (i = 0; i < ev->vars.n; i++)
		json_object_set_new(c, ev->vars.names[i],
		    jstr(ev->vars.values[i]));
	json_object_set_new(obj, "captures", c);
}

static void
render_fields(const struct action *a, struct rule_eval *ev, json_t *obj)
{
	const struct tfield	*f;
	json_t			*slot;
	char			*s;
	size_t			 i;

	for (i = 0; i < a->nf; i++) {
		f = &a->f[i];
		s = tmpl_render(f->t, f->mode, rule_lookup, ev);
		if (f->list || f->sub != NULL) {
			if ((slot = json_object_get(obj, f->key)) == NULL)
				continue;
			if (json_is_array(slot))
				json_array_append_new(slot, jstr(s));
			else
				json_object_set_new(slot, f->sub, jstr(s));
		} else
			json_object_set_new(obj, f->key, jstr(s));
		free(s);
	}
}

static void
render_subject(const struct action *a, struct rule_eval *ev, json_t *obj)
{
	const char	*subject = msg_subject(ev->msg);
	size_t		 plen;
	char		*s, *clean;

	if (a->subject_prefix == NULL)
		return;
	plen = strlen(a->subject_prefix);
	if (strncasecmp(subject, a->subject_prefix, plen) == 0)
		s = xstrdup(subject);
	else
		s = xasprintf("%s%s", a->subject_prefix, subject);
	clean = tmpl_header_clean(s);
	json_object_set_new(obj, "subject", jstr(clean));
	free(clean);
	free(s);
}

/* Fields computed from the message, placed first for readability. */
static void
render_extra(const struct action *a, struct rule_eval *ev, json_t *obj)
{
	const char	*rp, *id;

	switch (a->type) {
	case ACT_REPLY:
		json_object_set_new(obj, "to", reply_target(ev));
		id = msg_message_id(ev->msg);
		json_object_set_new(obj, "in_reply_to", id != NULL ?
		    json_string(id) : json_null());
		break;
	case ACT_AUTOREPLY:
		rp = msg_return_path(ev->msg);
		json_object_set_new(obj, "to", rp != NULL && *rp != '\0' ?
		    json_string(rp) : json_null());
		id = msg_message_id(ev->msg);
		json_object_set_new(obj, "in_reply_to", id != NULL ?
		    json_string(id) : json_null());
		break;
	case ACT_EXTRACT:
		json_object_set_new(obj, "attachments", extract_list(a, ev));
		break;
	default:
		break;
	}
}

/* Reply-To's first address, else From's. */
static json_t *
reply_target(struct rule_eval *ev)
{
	const struct msg_addr	*a;

	if (msg_addrs(ev->msg, MSG_REPLY_TO, &a) > 0 && a[0].address[0])
		return json_string(a[0].address);
	if (msg_addrs(ev->msg, MSG_FROM, &a) > 0 && a[0].address[0])
		return json_string(a[0].address);
	return json_null();
}

static json_t *
extract_list(const struct action *a, struct rule_eval *ev)
{
	const struct msg_attachment	*at;
	json_t				*list, *o;
	size_t				 i, n;

	list = json_array();
	n = msg_attachments(ev->msg, &at);
	for (i = 0; i < n; i++) {
		if (a->type_re != NULL && match_exec(a->type_re,
		    at[i].content_type, strlen(at[i].content_type), NULL,
		    NULL) != MATCH_YES)
			continue;
		o = json_object();
		json_object_set_new(o, "filename", json_string(at[i].filename));
		json_object_set_new(o, "content_type",
		    json_string(at[i].content_type));
		json_object_set_new(o, "size", json_integer((json_int_t)
		    at[i].size));
		json_array_append_new(list, o);
	}
	return list;
}
