/*
 * Rule files: load (every error reported, with its position) and evaluate.
 * A rule is {name, if, then, stop}; `if` is a condition tree (rule-cond.c)
 * and `then` a list of actions (rule-action.c). Evaluation goes through
 * the rules in order, renders the actions of those that match into the
 * plan, and ends at the first rule with stop: true or a stop action.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg.h"
#include "rule-impl.h"
#include "xmalloc.h"

#define EXPLAIN_MAX	(1024 * 1024)

static void	 load_file(struct ruleset *, const char *, struct diag *);
static void	 load_rule(struct rule_load *, struct ruleset *,
		    const struct ydoc_node *);
static void	 load_rule_body(struct rule_load *, struct rule *,
		    const struct ydoc_node *);
static void	 check_name(struct rule_load *, struct ruleset *,
		    struct rule *, const struct ydoc_node *);
static void	 rule_clear(struct rule *);
static void	 add_capture(struct rule_load *, const struct ydoc_node *,
		    const char *);
static bool	 is_known(const struct rule *, const char *);
static int	 eval_rule(const struct rule *, struct rule_eval *,
		    json_t *, struct buf *);
static void	 explain_match(const struct rule *, struct rule_eval *,
		    struct buf *);
static const char *lookup_field(const char *, struct rule_eval *);
static const char *lookup_addrs(struct rule_eval *, enum msg_addr_field,
		    int);

static const char *const rule_keys[] = { "name", "if", "then", "stop",
    "description", NULL };

/* Message fields a template may name (besides header.NAME and captures). */
static const char *const fields[] = { "subject", "from", "from.address",
    "from.name", "to", "cc", "reply_to", "sender", "return_path",
    "message_id", "in_reply_to", "date", "account", "list_id", "body",
    "text", "size", "rule", NULL };

void
rule_error(struct rule_load *l, const struct ydoc_node *n, const char *fmt,
    ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	diag_add(l->diag, l->doc->file, n != NULL ? n->line : 0,
	    n != NULL ? n->col : 0, "%s", s);
	free(s);
}

bool
rule_is_field(const char *name)
{
	size_t	 i;

	if (strncmp(name, "header.", 7) == 0 && name[7] != '\0')
		return true;
	for (i = 0; fields[i] != NULL; i++) {
		if (strcmp(fields[i], name) == 0)
			return true;
	}
	return false;
}

struct ruleset *
ruleset_load(const char *const *files, size_t nfiles, struct diag *diag)
{
	struct ruleset	*rs;
	size_t		 i, before = diag->n;

	rs = xcalloc(1, sizeof *rs);
	for (i = 0; i < nfiles; i++)
		load_file(rs, files[i], diag);
	ydoc_diag_sort(diag, before);
	if (diag->n != before) {
		ruleset_free(rs);
		return NULL;
	}
	return rs;
}

static void
load_file(struct ruleset *rs, const char *path, struct diag *diag)
{
	struct rule_load	 l;
	const struct ydoc_node	*root, *list;
	const char		*slash;
	size_t			 i;

	memset(&l, 0, sizeof l);
	l.diag = diag;
	if ((l.doc = ydoc_load_file(path, diag)) == NULL)
		return;
	slash = strrchr(path, '/');
	l.dir = slash != NULL ? xstrndup(path, (size_t)(slash - path) +
	    (slash == path)) : xstrdup(".");
	root = l.doc->root;
	if (root == NULL || root->type != YDOC_MAP ||
	    (list = ydoc_get(root, "rules")) == NULL) {
		rule_error(&l, root, "a rule file must be a mapping with "
		    "'rules:', a list of rules");
		goto done;
	}
	ydoc_check_keys(l.doc, root, "a rule file", (const char *const[]){
	    "rules", NULL }, diag);
	if (list->type != YDOC_SEQ && !ydoc_is_null(list))
		rule_error(&l, list, "'rules' expects a list of rules");
	for (i = 0; list->type == YDOC_SEQ && i < list->n; i++)
		load_rule(&l, rs, list->items[i]);
done:
	free(l.dir);
	ydoc_free(l.doc);
}

static void
load_rule(struct rule_load *l, struct ruleset *rs, const struct ydoc_node *n)
{
	struct rule	*r;

	rs->rules = xreallocarray(rs->rules, rs->n + 1, sizeof *rs->rules);
	r = &rs->rules[rs->n];
	memset(r, 0, sizeof *r);
	r->file = xstrdup(l->doc->file);
	r->line = n->line;
	r->col = n->col;
	if (n->type != YDOC_MAP) {
		rule_error(l, n, "a rule must be a mapping with name, if, then");
		rule_clear(r);
		return;
	}
	rs->n++;
	l->rule = r;
	ydoc_check_keys(l->doc, n, "a rule", rule_keys, l->diag);
	check_name(l, rs, r, ydoc_get(n, "name"));
	load_rule_body(l, r, n);
	l->rule = NULL;
}

static void
check_name(struct rule_load *l, struct ruleset *rs, struct rule *r,
    const struct ydoc_node *v)
{
	size_t	 i;

	if (v == NULL) {
		diag_add(l->diag, r->file, r->line, r->col,
		    "a rule needs a 'name'");
		r->name = xasprintf("(rule at line %d)", r->line);
		return;
	}
	if (v->type != YDOC_SCALAR || v->len == 0 || ydoc_is_null(v)) {
		rule_error(l, v, "'name' expects a non-empty string");
		r->name = xasprintf("(rule at line %d)", r->line);
		return;
	}
	r->name = xstrdup(v->value);
	for (i = 0; i + 1 < rs->n; i++) {
		if (strcmp(rs->rules[i].name, r->name) == 0)
			rule_error(l, v, "rule name '%s' is already used at "
			    "%s:%d:%d", r->name, rs->rules[i].file,
			    rs->rules[i].line, rs->rules[i].col);
	}
}

static void
load_rule_body(struct rule_load *l, struct rule *r, const struct ydoc_node *n)
{
	const struct ydoc_node	*v;
	struct action		*a;
	size_t			 i;

	if ((v = ydoc_get(n, "if")) != NULL)
		r->cond = cond_parse(l, v);
	if ((v = ydoc_get(n, "stop")) != NULL && ydoc_bool(v, &r->stop) != 0)
		rule_error(l, v, "'stop' expects true or false");
	if ((v = ydoc_get(n, "then")) == NULL) {
		if (!r->stop)
			rule_error(l, n, "rule '%s' has no 'then' (a list of "
			    "actions)", r->name);
		return;
	}
	if (v->type != YDOC_SEQ) {
		rule_error(l, v, "'then' expects a list of actions");
		return;
	}
	for (i = 0; i < v->n; i++) {
		if ((a = action_parse(l, v->items[i])) == NULL)
			continue;
		r->actions = xreallocarray(r->actions, r->nactions + 1,
		    sizeof *r->actions);
		r->actions[r->nactions++] = a;
	}
}

static void
add_capture(struct rule_load *l, const struct ydoc_node *n, const char *name)
{
	struct rule	*r = l->rule;
	size_t		 i;

	if (rule_is_field(name)) {
		rule_error(l, n, "capture name '%s' is also a message field: "
		    "choose another name", name);
		return;
	}
	for (i = 0; i < r->ncaptures; i++) {
		if (strcmp(r->captures[i], name) == 0)
			return;
	}
	r->captures = xreallocarray(r->captures, r->ncaptures + 1,
	    sizeof *r->captures);
	r->captures[r->ncaptures++] = xstrdup(name);
}

struct match *
rule_pattern(struct rule_load *l, const struct ydoc_node *n)
{
	struct match	*m;
	char		*cause = NULL;
	size_t		 off, i;
	int		 line, col;

	if (n->type != YDOC_SCALAR || ydoc_is_null(n)) {
		rule_error(l, n, "expected a pattern (a string), not %s",
		    ydoc_type_name(n));
		return NULL;
	}
	if ((m = match_compile(n->value, &cause, &off)) == NULL) {
		ydoc_pos(l->doc, n, off, &line, &col);
		diag_add(l->diag, l->doc->file, line, col, "%s", cause);
		free(cause);
		return NULL;
	}
	for (i = 0; l->rule != NULL && i < match_name_count(m); i++)
		add_capture(l, n, match_name(m, i));
	return m;
}

static bool
is_known(const struct rule *r, const char *name)
{
	size_t	 i;

	if (rule_is_field(name))
		return true;
	for (i = 0; r != NULL && i < r->ncaptures; i++) {
		if (strcmp(r->captures[i], name) == 0)
			return true;
	}
	return false;
}

struct tmpl *
rule_template(struct rule_load *l, const struct ydoc_node *n)
{
	struct tmpl	*t;
	char		*cause = NULL;
	const char	*name;
	size_t		 off, i, bad = 0;
	int		 line, col;

	if (n->type != YDOC_SCALAR || ydoc_is_null(n)) {
		rule_error(l, n, "expected a text, not %s", ydoc_type_name(n));
		return NULL;
	}
	if ((t = tmpl_compile(n->value, &cause, &off)) == NULL) {
		ydoc_pos(l->doc, n, off, &line, &col);
		diag_add(l->diag, l->doc->file, line, col, "%s", cause);
		free(cause);
		return NULL;
	}
	for (i = 0; i < tmpl_var_count(t); i++) {
		name = tmpl_var(t, i, &off);
		if (is_known(l->rule, name))
			continue;
		ydoc_pos(l->doc, n, off, &line, &col);
		diag_add(l->diag, l->doc->file, line, col, "unknown variable "
		    "'%s' in template (not a capture of this rule nor a "
		    "message field)", name);
		bad++;
	}
	if (bad == 0)
		return t;
	tmpl_free(t);
	return NULL;
}

static void
rule_clear(struct rule *r)
{
	size_t	 i;

	free(r->name);
	free(r->file);
	cond_free(r->cond);
	for (i = 0; i < r->nactions; i++)
		action_free(r->actions[i]);
	free(r->actions);
	for (i = 0; i < r->ncaptures; i++)
		free(r->captures[i]);
	free(r->captures);
}

void
ruleset_free(struct ruleset *rs)
{
	size_t	 i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->n; i++)
		rule_clear(&rs->rules[i]);
	free(rs->rules);
	free(rs);
}

size_t
ruleset_count(const struct ruleset *rs)
{
	return rs != NULL ? rs->n : 0;
}

int
ruleset_has_action(const struct ruleset *rs, const char *type)
{
	size_t	 i, j;

	for (i = 0; rs != NULL && i < rs->n; i++) {
		for (j = 0; j < rs->rules[i].nactions; j++) {
			if (strcmp(action_type_name(rs->rules[i].actions[j]),
			    type) == 0)
				return 1;
		}
	}
	return 0;
}

/* Any thread: the rules are read only (patterns' match data is the
 * thread's own, match.c). */
json_t *
ruleset_eval(struct ruleset *rs, struct msg *msg, const struct eval_ctx *ctx,
    struct buf *explain)
{
	static const struct eval_ctx	 none = { "", NULL, 0 };
	struct rule_eval		 ev;
	json_t				*plan, *matched, *actions;
	size_t				 i;

	plan = json_object();
	matched = json_array();
	actions = json_array();
	json_object_set_new(plan, "matched", matched);
	json_object_set_new(plan, "actions", actions);
	memset(&ev, 0, sizeof ev);
	ev.msg = msg;
	ev.ctx = ctx != NULL ? ctx : &none;
	ev.explain = explain != NULL;
	match_vars_init(&ev.vars);
	for (i = 0; rs != NULL && i < rs->n; i++) {
		if (eval_rule(&rs->rules[i], &ev, plan, explain) != 0)
			break;
	}
	for (i++; explain != NULL && rs != NULL && i < rs->n; i++)
		buf_printf(explain, "rule %s: not evaluated (stopped "
		    "earlier)\n", rs->rules[i].name);
	match_vars_free(&ev.vars);
	free(ev.scratch);
	free(ev.hit);
	free(ev.why);
	return plan;
}

/* Returns 1 when evaluation stops after this rule. */
static int
eval_rule(const struct rule *r, struct rule_eval *ev, json_t *plan,
    struct buf *explain)
{
	size_t	 i;
	int	 ok;

	ev->rule = r;
	ev->stop = false;
	match_vars_truncate(&ev->vars, 0);
	free(ev->why);
	ev->why = NULL;
	ev->limited = false;
	ok = r->cond == NULL || cond_eval(r->cond, ev);
	/* Even under `not`: a rule never matches because a limit was hit. */
	if (ok && ev->limited) {
		ok = 0;
		free(ev->why);
		ev->why = xasprintf("%s", "a pattern hit the match limit, so "
		    "the rule does not match");
	}
	if (!ok) {
		if (explain != NULL)
			buf_printf(explain, "rule %s: no match: %s\n", r->name,
			    ev->why != NULL ? ev->why : "?");
		free(ev->why);
		ev->why = NULL;
		return 0;
	}
	free(ev->why);
	ev->why = NULL;
	json_array_append_new(json_object_get(plan, "matched"),
	    json_string(r->name));
	for (i = 0; i < r->nactions; i++)
		action_render(r->actions[i], ev, json_object_get(plan,
		    "actions"));
	if (explain != NULL)
		explain_match(r, ev, explain);
	return r->stop || ev->stop;
}

/* "rule x: matched (2 actions); stop; order="123"" */
static void
explain_match(const struct rule *r, struct rule_eval *ev, struct buf *b)
{
	size_t	 i;

	buf_printf(b, "rule %s: matched (%zu action%s)%s", r->name,
	    r->nactions, r->nactions == 1 ? "" : "s",
	    r->stop || ev->stop ? "; stop" : "");
	if (r->cond == NULL)
		buf_addstr(b, "; no conditions");
	for (i = 0; i < ev->vars.n; i++)
		buf_printf(b, "%s%s=\"%s\"", i == 0 ? "; captures: " : ", ",
		    ev->vars.names[i], ev->vars.values[i]);
	buf_addstr(b, "\n");
}

const char *
rule_lookup(const char *name, void *arg)
{
	struct rule_eval	*ev = arg;
	const char		*v;

	if ((v = match_vars_get(&ev->vars, name)) != NULL)
		return v;
	return lookup_field(name, ev);
}

static const char *
lookup_field(const char *name, struct rule_eval *ev)
{
	const struct msg_addr	*a;
	size_t			 len;

	if (strcmp(name, "subject") == 0)
		return msg_subject(ev->msg);
	if (strcmp(name, "from") == 0)
		return lookup_addrs(ev, MSG_FROM, 1);
	if (strcmp(name, "from.address") == 0 || strcmp(name, "from.name") == 0)
		return msg_addrs(ev->msg, MSG_FROM, &a) == 0 ? "" :
		    name[5] == 'a' ? a[0].address : a[0].name;
	if (strcmp(name, "to") == 0)
		return lookup_addrs(ev, MSG_TO, 0);
	if (strcmp(name, "cc") == 0)
		return lookup_addrs(ev, MSG_CC, 0);
	if (strcmp(name, "reply_to") == 0)
		return lookup_addrs(ev, MSG_REPLY_TO, 0);
	if (strcmp(name, "sender") == 0 || strcmp(name, "return_path") == 0)
		return msg_return_path(ev->msg);
	if (strcmp(name, "message_id") == 0)
		return msg_message_id(ev->msg);
	if (strcmp(name, "in_reply_to") == 0)
		return msg_in_reply_to(ev->msg);
	if (strcmp(name, "date") == 0)
		return msg_date(ev->msg);
	if (strcmp(name, "account") == 0)
		return ev->ctx->account;
	if (strcmp(name, "list_id") == 0)
		return msg_list_id(ev->msg);
	if (strcmp(name, "body") == 0 || strcmp(name, "text") == 0)
		return msg_text(ev->msg);
	if (strcmp(name, "rule") == 0)
		return ev->rule != NULL ? ev->rule->name : "";
	if (strncmp(name, "header.", 7) == 0)
		return msg_header(ev->msg, name + 7, 0);
	if (strcmp(name, "size") == 0) {
		msg_raw(ev->msg, &len);
		free(ev->scratch);
		ev->scratch = xasprintf("%zu", len);
		return ev->scratch;
	}
	return NULL;
}

/* The addresses of a field as "a@x, Name <b@y>" (only the first if one). */
static const char *
lookup_addrs(struct rule_eval *ev, enum msg_addr_field f, int one)
{
	const struct msg_addr	*a;
	struct buf		 b;
	size_t			 i, n;

	n = msg_addrs(ev->msg, f, &a);
	buf_init(&b, 64 * 1024);
	for (i = 0; i < n && (!one || i == 0); i++) {
		if (a[i].name[0] != '\0')
			buf_printf(&b, "%s%s <%s>", i ? ", " : "", a[i].name,
			    a[i].address);
		else
			buf_printf(&b, "%s%s", i ? ", " : "", a[i].address);
	}
	free(ev->scratch);
	ev->scratch = buf_steal(&b, NULL);
	return ev->scratch;
}
