/*
 * What rule.c, rule-cond.c and rule-action.c share. Nothing outside the
 * rule*.c family includes this: callers use rule.h.
 */
#ifndef FACTEUR_RULE_IMPL_H
#define FACTEUR_RULE_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "diag.h"
#include "match.h"
#include "rule.h"
#include "tmpl.h"
#include "ydoc.h"

struct cond;
struct action;

struct rule {
	char		 *name;
	char		 *file;
	int		  line, col;
	struct cond	 *cond;		/* NULL: every message */
	struct action	**actions;
	size_t		  nactions;
	bool		  stop;
	char		**captures;	/* named groups of its patterns */
	size_t		  ncaptures;
};

struct ruleset {
	struct rule	*rules;
	size_t		 n;
};

/* While one rule file loads. */
struct rule_load {
	struct ydoc	*doc;
	struct diag	*diag;
	char		*dir;		/* the rule file's directory */
	struct rule	*rule;		/* the rule being loaded */
};

/* While one message goes through the rules. */
struct rule_eval {
	struct msg		*msg;
	const struct eval_ctx	*ctx;
	const struct rule	*rule;
	struct match_vars	 vars;	/* captures of the current rule */
	char			*why;	/* the first condition that failed */
	bool			 stop;	/* a stop action ran */
	char			*scratch; /* lookup()'s last computed value */
	char			*hit;	/* the last condition that held */
	bool			 limited; /* a pattern hit a match limit */
	/*
	 * Say why (why, hit) only when someone reads it: building those
	 * texts for every rule costs more than the matching.
	 */
	bool			 explain;
};

/* Report a problem at node (printf format). */
void	 rule_error(struct rule_load *, const struct ydoc_node *,
	    const char *, ...) __attribute__((format(printf, 3, 4)));
/* Compile a pattern written at node; names its groups in the rule. */
struct match *rule_pattern(struct rule_load *, const struct ydoc_node *);
/* Compile a template written at node, checking every name it uses. */
struct tmpl *rule_template(struct rule_load *, const struct ydoc_node *);
/* A template's name lookup for rule_eval (tmpl_render's callback). */
const char *rule_lookup(const char *, void *);
/* True when name is a message field a template may use. */
bool	 rule_is_field(const char *);

struct cond	*cond_parse(struct rule_load *, const struct ydoc_node *);
void		 cond_free(struct cond *);
/* 1 match, 0 no match (ev->why then says why). */
int		 cond_eval(const struct cond *, struct rule_eval *);

struct action	*action_parse(struct rule_load *, const struct ydoc_node *);
void		 action_free(struct action *);
const char	*action_type_name(const struct action *);
/* Append the rendered action to the plan's actions array. */
void		 action_render(const struct action *, struct rule_eval *,
		    json_t *actions);

#endif
