/*
 * validate.c - the validation rules of the specification's section 5 and
 * the request limits; see validate.h. This file holds the walk and the
 * rules on operations and fields; the other rules are in
 * validate_fragments.c, validate_values.c (arguments, values, variables),
 * validate_directives.c, validate_sdl.c (type names, type system
 * definitions) and validate_overlap.c (field merging), the limits in
 * validate_limits.c, what they share in validate_util.c,
 * validate_suggest.c ("Did you mean") and validate_priv.h.
 *
 * graphql-js runs its rules in parallel over one walk of the document, each
 * rule hooked on entering or leaving kinds of nodes, and keeps a TypeInfo
 * (parent type, field definition, expected input type) up to date. We walk
 * the same way and, at each node, run the checks of the rules interested in
 * it in graphql-js's `specifiedRules` order, so errors come out in the same
 * order. Rule numbers in comments are positions in that list:
 *
 *   1 ExecutableDefinitions     10 UniqueFragmentNames     19 UniqueDirectivesPerLocation
 *   2 UniqueOperationNames      11 KnownFragmentNames      20 KnownArgumentNames
 *   3 LoneAnonymousOperation    12 NoUnusedFragments       21 UniqueArgumentNames
 *   4 SingleFieldSubscriptions  13 PossibleFragmentSpreads 22 ValuesOfCorrectType
 *   5 KnownTypeNames            14 NoFragmentCycles        23 ProvidedRequiredArguments
 *   6 FragmentsOnCompositeTypes 15 UniqueVariableNames     24 VariablesInAllowedPosition
 *   7 VariablesAreInputTypes    16 NoUndefinedVariables    25 OverlappingFieldsCanBeMerged
 *   8 ScalarLeafs               17 NoUnusedVariables       26 UniqueInputFieldNames
 *   9 FieldsOnCorrectType       18 KnownDirectives
 *
 * A first walk records each definition's variable usages (with the input
 * type expected where each appears), because rules 16, 17 and 24 need
 * those of fragments defined after the operation that spreads them.
 *
 * Bounded work: fragments are walked once as definitions, never inlined;
 * whatever follows spreads (cycles, limits, subscriptions, field merging)
 * memoises per fragment and stops MAX_FRAG_NEST spreads deep; the field
 * merging rule, quadratic by nature, has a budget of comparisons. Memory
 * comes from the caller's arena; running out of it, or reaching the error
 * cap, leaves through a longjmp (nothing but arena memory is held).
 */

#include <string.h>

#include "portico/types.h"
#include "validate_priv.h"

/* ---- selections ---- */

static void walk_field(struct vctx *v, const struct gql_selection *sel,
                       const struct gql_stype *parent)
{
	const struct gql_field *fd = gqlv_field_def(v, parent, sel->name.value);
	const struct gql_tref *type = fd ? fd->type : NULL;
	bool rules = v->mode == WALK_RULES;

	if (rules) {
		/* 8 ScalarLeafs */
		if (!ON(v, SCALAR_LEAFS) || !type) {
			/* nothing to check */
		} else if (gqlv_is_leaf(gql_tref_named(type))) {
			if (sel->selection_set)
				gqlv_err_at(v, sel->selection_set->line,
				            sel->selection_set->column, "Field \"%s\" must not "
				            "have a selection since type \"%s\" has no "
				            "subfields.", sel->name.value, gqlv_tref_str(v, type));
		} else if (!sel->selection_set) {
			gqlv_err_at(v, sel->line, sel->column, "Field \"%s\" of type \"%s\" "
			            "must have a selection of subfields. Did you mean "
			            "\"%s { ... }\"?", sel->name.value, gqlv_tref_str(v, type),
			            sel->name.value);
		}
		/* 9 FieldsOnCorrectType */
		if (parent && !fd && ON(v, FIELDS_ON_CORRECT_TYPE))
			gqlv_err_at(v, sel->line, sel->column, "Cannot query field \"%s\" on "
			            "type \"%s\".%s", sel->name.value, parent->name,
			            gqlv_field_suggestion(v, parent, sel->name.value));
		gqlv_unique_directives(v, sel->directives, sel->n_directives);
		gqlv_unique_args(v, sel->args, sel->n_args);
		/* the introspection switch, after graphql-js's rules */
		if (!v->introspection && gqlv_is_introspection_field(v, fd, parent))
			gqlv_err_at(v, sel->line, sel->column, "GraphQL introspection has "
			            "been disabled, but the requested query contained the "
			            "field \"%s\".", sel->name.value);
	}
	for (unsigned i = 0; i < sel->n_args; i++) {
		const struct gql_argument *a = sel->args[i];
		const struct gql_input_value *ad = fd ?
			gqlv_find_input(fd->args, fd->n_args, a->name.value) : NULL;

		/* 20 KnownArgumentNames */
		if (rules && !ad && fd && parent && ON(v, KNOWN_ARGUMENT_NAMES)) {
			const char **opts = gqlv_vcalloc(v, (fd->n_args + 1) * sizeof(*opts));

			for (unsigned j = 0; j < fd->n_args; j++)
				opts[j] = fd->args[j].name;
			gqlv_err_at(v, a->line, a->column, "Unknown argument \"%s\" on field "
			            "\"%s.%s\".%s", a->name.value, parent->name, fd->name,
			            gqlv_dym_list(v, a->name.value, opts, fd->n_args));
		}
		gqlv_walk_value(v, a->value, ad ? ad->type : NULL,
		                ad && ad->default_value, true);
	}
	gqlv_walk_directives(v, sel->directives, sel->n_directives, GQL_LOC_FIELD);
	if (sel->selection_set)
		gqlv_walk_selection_set(v, sel->selection_set, gql_tref_named(type));
	/* 23 ProvidedRequiredArguments, on leaving */
	for (unsigned j = 0; rules && fd && j < fd->n_args &&
	     ON(v, PROVIDED_REQUIRED_ARGUMENTS); j++) {
		unsigned k;

		if (!gqlv_required(&fd->args[j]))
			continue;
		for (k = 0; k < sel->n_args; k++)
			if (strcmp(sel->args[k]->name.value, fd->args[j].name) == 0)
				break;
		if (k == sel->n_args)
			gqlv_err_at(v, sel->line, sel->column, "Field \"%s\" argument \"%s\" "
			            "of type \"%s\" is required, but it was not provided.",
			            fd->name, fd->args[j].name, gqlv_tref_str(v, fd->args[j].type));
	}
}

/* TYPE: the named type the set selects from (NULL: unknown). */
void gqlv_walk_selection_set(struct vctx *v, const struct gql_selection_set *ss,
                             const struct gql_stype *type)
{
	const struct gql_stype *parent = gqlv_is_composite(type) ? type : NULL;

	if (ON(v, OVERLAPPING_FIELDS_CAN_BE_MERGED))
		gqlv_rule_overlapping(v, parent, ss);
	for (unsigned i = 0; i < ss->n_items; i++) {
		const struct gql_selection *sel = ss->items[i];

		if (sel->kind == GQL_SEL_FIELD)
			walk_field(v, sel, parent);
		else if (sel->kind == GQL_SEL_FRAGMENT_SPREAD)
			gqlv_walk_spread(v, sel, parent);
		else
			gqlv_walk_inline(v, sel, parent, type);
	}
}

/* ---- SingleFieldSubscriptions (4) ---- */

static bool directive_if(const struct gql_selection *sel, const char *name,
                         bool *value)
{
	for (unsigned i = 0; i < sel->n_directives; i++) {
		const struct gql_directive *d = sel->directives[i];

		if (strcmp(d->name.value, name) != 0)
			continue;
		for (unsigned k = 0; k < d->n_args; k++)
			if (strcmp(d->args[k]->name.value, "if") == 0 &&
			    d->args[k]->value->kind == GQL_VALUE_BOOLEAN) {
				*value = d->args[k]->value->boolean;
				return true;
			}
	}
	return false;
}

/* shouldIncludeNode with no variable values (a variable: included) */
static bool included(const struct gql_selection *sel)
{
	bool b;

	if (directive_if(sel, "skip", &b) && b)
		return false;
	if (directive_if(sel, "include", &b) && !b)
		return false;
	return true;
}

static bool condition_matches(struct vctx *v, const struct gql_type *tc,
                              const struct gql_stype *type)
{
	const struct gql_stype *t;

	if (!tc)
		return true;
	t = gqlv_lookup_type(v, tc->name.value);
	if (!t)
		return false;
	if (t == type)
		return true;
	return gqlv_is_abstract(t) && gqlv_is_sub_type(t, type);
}

/* execution's collectFields on the subscription root */
static void sub_collect(struct vctx *v, const struct gql_stype *type,
                        const struct gql_selection_set *ss, struct fmap *fm,
                        unsigned stamp, unsigned depth)
{
	for (unsigned i = 0; i < ss->n_items; i++) {
		const struct gql_selection *sel = ss->items[i];
		long k;

		if (!included(sel))
			continue;
		if (sel->kind == GQL_SEL_FIELD) {
			struct fgroup *g = gqlv_fm_group(v, fm, sel->alias.value ?
			                                 sel->alias.value : sel->name.value);
			struct fent *e = PUSH(v, g->e, g->n, g->cap);

			e->node = sel;
		} else if (sel->kind == GQL_SEL_INLINE_FRAGMENT) {
			if (condition_matches(v, sel->type_condition, type))
				sub_collect(v, type, sel->selection_set, fm, stamp, depth);
		} else {
			k = gqlv_frag_index(v, sel->name.value);
			if (k < 0 || v->defs[k].stamp == stamp)
				continue;
			v->defs[k].stamp = stamp;
			if (condition_matches(v, v->defs[k].def->type_condition, type) &&
			    gqlv_nest_ok(v, depth))
				sub_collect(v, type, v->defs[k].def->selection_set, fm,
				            stamp, depth + 1);
		}
	}
}

static void single_field_subscription(struct vctx *v,
                                      const struct gql_definition *op)
{
	struct fmap fm = { 0 };
	const char *name = op->name.value;

	sub_collect(v, v->s->subscription, op->selection_set, &fm, ++v->stamp, 0);
	if (fm.n_g > 1) {
		unsigned n = 0, k = 0;
		struct gql_vloc *l;

		for (unsigned g = 1; g < fm.n_g; g++)
			n += fm.g[g].n;
		l = gqlv_vcalloc(v, n * sizeof(*l));
		for (unsigned g = 1; g < fm.n_g; g++)
			for (unsigned i = 0; i < fm.g[g].n; i++, k++) {
				l[k].line = fm.g[g].e[i].node->line;
				l[k].column = fm.g[g].e[i].node->column;
			}
		gqlv_report(v, name ? gqlv_fmt(v, "Subscription \"%s\" must select only one "
		                               "top level field.", name) :
		            "Anonymous Subscription must select only one top level "
		            "field.", n, l);
	}
	for (unsigned g = 0; g < fm.n_g; g++) {
		struct gql_vloc *l;

		if (strncmp(fm.g[g].e[0].node->name.value, "__", 2) != 0)
			continue;
		l = gqlv_vcalloc(v, fm.g[g].n * sizeof(*l));
		for (unsigned i = 0; i < fm.g[g].n; i++) {
			l[i].line = fm.g[g].e[i].node->line;
			l[i].column = fm.g[g].e[i].node->column;
		}
		gqlv_report(v, name ? gqlv_fmt(v, "Subscription \"%s\" must not select an "
		                               "introspection top level field.", name) :
		            "Anonymous Subscription must not select an introspection "
		            "top level field.", fm.g[g].n, l);
	}
}

/* ---- operations ---- */

static unsigned op_loc(enum gql_op op)
{
	switch (op) {
	case GQL_OP_MUTATION: return GQL_LOC_MUTATION;
	case GQL_OP_SUBSCRIPTION: return GQL_LOC_SUBSCRIPTION;
	default: return GQL_LOC_QUERY;
	}
}

static void walk_operation(struct vctx *v, unsigned di)
{
	struct defn *d = &v->defs[di];
	const struct gql_definition *op = d->def;
	const struct gql_stype *root = gqlv_root_type(v, op->operation);

	v->op = op;
	if (v->mode == WALK_RULES) {
		/* 2 UniqueOperationNames */
		if (op->name.value && ON(v, UNIQUE_OPERATION_NAMES)) {
			long k = gqlv_smap_get(&v->op_names, op->name.value);

			if (k >= 0)
				gqlv_err_at2(v, v->defs[k].def->name.line,
				             v->defs[k].def->name.column, op->name.line,
				             op->name.column, "There can be only one operation "
				             "named \"%s\".", op->name.value);
			else
				gqlv_smap_put(v, &v->op_names, op->name.value, di);
		}
		/* 3 LoneAnonymousOperation */
		if (!op->name.value && v->n_ops > 1 &&
		    ON(v, LONE_ANONYMOUS_OPERATION))
			gqlv_err_at(v, op->line, op->column, "This anonymous operation must "
			            "be the only defined operation.");
		/* 4 SingleFieldSubscriptions */
		if (op->operation == GQL_OP_SUBSCRIPTION && v->s->subscription &&
		    ON(v, SINGLE_FIELD_SUBSCRIPTIONS))
			single_field_subscription(v, op);
		gqlv_unique_variable_names(v, op);
		gqlv_unique_directives(v, op->directives, op->n_directives);
	}
	for (unsigned i = 0; i < op->n_variables; i++)
		gqlv_walk_variable_definition(v, op->variables[i]);
	gqlv_walk_directives(v, op->directives, op->n_directives, op_loc(op->operation));
	gqlv_walk_selection_set(v, op->selection_set,
	                        root && root->kind == GQL_OBJECT ? root : NULL);
	if (v->mode == WALK_RULES)
		gqlv_operation_leave(v, d);
}

/* 1 ExecutableDefinitions */
static void executable_definitions(struct vctx *v)
{
	for (unsigned i = 0; i < v->doc->n_defs; i++) {
		const struct gql_definition *d = v->doc->defs[i];

		if (d->kind == GQL_DEF_OPERATION || d->kind == GQL_DEF_FRAGMENT)
			continue;
		if (d->kind == GQL_DEF_SCHEMA)
			gqlv_err_at(v, d->line, d->column, "The schema definition is not "
			            "executable.");
		else
			gqlv_err_at(v, d->line, d->column, "The \"%s\" definition is not "
			            "executable.", d->name.value);
	}
}

/* ---- entry ---- */

static const char *const rule_names[] = {
	"ExecutableDefinitions", "UniqueOperationNames", "LoneAnonymousOperation",
	"SingleFieldSubscriptions", "KnownTypeNames", "FragmentsOnCompositeTypes",
	"VariablesAreInputTypes", "ScalarLeafs", "FieldsOnCorrectType",
	"UniqueFragmentNames", "KnownFragmentNames", "NoUnusedFragments",
	"PossibleFragmentSpreads", "NoFragmentCycles", "UniqueVariableNames",
	"NoUndefinedVariables", "NoUnusedVariables", "KnownDirectives",
	"UniqueDirectivesPerLocation", "KnownArgumentNames", "UniqueArgumentNames",
	"ValuesOfCorrectType", "ProvidedRequiredArguments",
	"VariablesInAllowedPosition", "OverlappingFieldsCanBeMerged",
	"UniqueInputFieldNames",
};

unsigned gql_rule_bit(const char *name)
{
	size_t n = strlen(name);

	if (n > 4 && strcmp(name + n - 4, "Rule") == 0)
		n -= 4;
	for (unsigned i = 0; i < sizeof(rule_names) / sizeof(rule_names[0]); i++)
		if (strlen(rule_names[i]) == n && strncmp(rule_names[i], name, n) == 0)
			return 1u << i;
	return 0;
}

static void walk_definition(struct vctx *v, unsigned i)
{
	v->cur = &v->defs[i];
	if (v->defs[i].def->kind == GQL_DEF_OPERATION)
		walk_operation(v, i);
	else if (v->defs[i].def->kind == GQL_DEF_FRAGMENT)
		gqlv_walk_fragment(v, i);
	else if (v->mode == WALK_RULES)
		gqlv_walk_sdl(v, v->defs[i].def);
}

static void run(struct vctx *v)
{
	const struct gql_doc *doc = v->doc;
	const struct gql_definition *first_frag = NULL;

	v->defs = gqlv_vcalloc(v, (doc->n_defs + 1) * sizeof(*v->defs));
	for (unsigned i = 0; i < doc->n_defs; i++) {
		v->defs[i].def = doc->defs[i];
		if (doc->defs[i]->kind == GQL_DEF_OPERATION)
			v->n_ops++;
		if (doc->defs[i]->kind == GQL_DEF_DIRECTIVE)
			gqlv_smap_put(v, &v->doc_dirs, doc->defs[i]->name.value, i);
		if (doc->defs[i]->kind >= GQL_DEF_SCALAR &&
		    doc->defs[i]->kind <= GQL_DEF_INPUT_OBJECT &&
		    !doc->defs[i]->extension)
			gqlv_smap_put(v, &v->doc_types, doc->defs[i]->name.value, i);
		if (doc->defs[i]->kind == GQL_DEF_FRAGMENT) {
			gqlv_smap_put(v, &v->frag_by_name, doc->defs[i]->name.value, i);
			if (!first_frag)
				first_frag = doc->defs[i];
		}
	}
	v->mode = WALK_USAGES;
	for (unsigned i = 0; i < doc->n_defs; i++)
		walk_definition(v, i);
	gqlv_check_limits(v);
	v->mode = WALK_RULES;
	if (ON(v, EXECUTABLE_DEFINITIONS))
		executable_definitions(v);
	for (unsigned i = 0; i < doc->n_defs; i++)
		walk_definition(v, i);
	if (ON(v, NO_UNUSED_FRAGMENTS))
		gqlv_no_unused_fragments(v);
	if (v->frag_too_deep && first_frag)
		gqlv_err_at(v, first_frag->line, first_frag->column, "Fragment spreads are "
		            "nested more than %u deep; only %u levels were checked.",
		            MAX_FRAG_NEST, MAX_FRAG_NEST);
}

static unsigned limit_or(unsigned value, unsigned dflt)
{
	return value ? value : dflt;
}

int gql_validate(const struct gql_schema *s, const struct gql_doc *doc,
                 const struct gql_vlimits *lim, struct gql_arena *a,
                 struct gql_verror **errs, unsigned *n_errs)
{
	struct gql_vlimits none = { 0 };
	struct vctx *v;

	*errs = NULL;
	*n_errs = 0;
	if (!s || !doc || !a)
		return PT_EINVAL;
	if (!lim)
		lim = &none;
	v = gql_arena_calloc(a, sizeof(*v));
	if (!v)
		return PT_ENOMEM;
	v->s = s;
	v->doc = doc;
	v->a = a;
	v->max_depth = limit_or(lim->max_depth, GQL_DEFAULT_MAX_QUERY_DEPTH);
	v->max_aliases = limit_or(lim->max_aliases, GQL_DEFAULT_MAX_ALIASES);
	v->max_complexity = limit_or(lim->max_complexity,
	                             GQL_DEFAULT_MAX_COMPLEXITY);
	v->max_errors = limit_or(lim->max_errors, GQL_DEFAULT_MAX_ERRORS);
	v->introspection = lim->introspection != GQL_INTROSPECTION_OFF;
	v->rules = lim->rules ? lim->rules & GQL_RULE_ALL : GQL_RULE_ALL;
	switch (setjmp(v->bail)) {
	case 0:
		run(v);
		break;
	case 1:
		return PT_ENOMEM;
	default:
		break;		/* the error cap was reached */
	}
	*errs = v->errs;
	*n_errs = v->n_errs;
	return (int)v->n_errs;
}
