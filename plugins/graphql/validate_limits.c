/*
 * validate_limits.c - the limits of struct gql_vlimits: depth, aliases and
 * complexity of each operation (a list field multiplies by its first or
 * limit argument), each fragment costed once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "validate_priv.h"

/* ---- limits ---- */

#define DEFAULT_LIST_SIZE 10u

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return a && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

static uint64_t int_value(const struct gql_value *val, uint64_t dflt)
{
	long long n;

	if (!val || val->kind != GQL_VALUE_INT)
		return dflt;
	n = strtoll(val->str, NULL, 10);
	return n < 0 ? 0 : (uint64_t)n;
}

/* How many items a list field is expected to return. */
static uint64_t list_size(const struct vctx *v, const struct gql_selection *sel)
{
	for (unsigned i = 0; i < sel->n_args; i++) {
		const struct gql_argument *a = sel->args[i];

		if (strcmp(a->name.value, "first") != 0 &&
		    strcmp(a->name.value, "limit") != 0)
			continue;
		if (a->value->kind == GQL_VALUE_VARIABLE) {
			for (unsigned k = 0; v->op && k < v->op->n_variables; k++)
				if (strcmp(v->op->variables[k]->name.value,
				           a->value->str) == 0)
					return int_value(v->op->variables[k]->default_value,
					                 DEFAULT_LIST_SIZE);
			return DEFAULT_LIST_SIZE;
		}
		return int_value(a->value, DEFAULT_LIST_SIZE);
	}
	return DEFAULT_LIST_SIZE;
}

static void cost_merge(struct cost *out, const struct cost *c)
{
	if (c->depth > out->depth) {
		out->depth = c->depth;
		out->deepest = c->deepest;
	}
	out->aliases = sat_add(out->aliases, c->aliases);
	out->cost = sat_add(out->cost, c->cost);
}

static void sel_cost(struct vctx *v, const struct gql_selection_set *ss,
                     const struct gql_stype *type, bool intro, unsigned nest,
                     struct cost *out);

static const struct cost *frag_cost(struct vctx *v, long k, bool intro,
                                    unsigned nest)
{
	static const struct cost zero;
	struct defn *d = &v->defs[k];
	struct cost c;

	if (d->cost_state[intro] == 2)
		return &d->cost[intro];
	if (d->cost_state[intro] == 1 || !gqlv_nest_ok(v, nest))
		return &zero;	/* a cycle, reported by NoFragmentCycles */
	d->cost_state[intro] = 1;
	sel_cost(v, d->def->selection_set,
	         gqlv_lookup_type(v, d->def->type_condition->name.value), intro,
	         nest + 1, &c);
	d->cost[intro] = c;
	d->cost_state[intro] = 2;
	return &d->cost[intro];
}

/* Depth, aliases and cost of SS; INTRO: under __schema / __type. */
static void sel_cost(struct vctx *v, const struct gql_selection_set *ss,
                     const struct gql_stype *type, bool intro, unsigned nest,
                     struct cost *out)
{
	const struct gql_stype *parent = gqlv_is_composite(type) ? type : NULL;

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < ss->n_items; i++) {
		const struct gql_selection *sel = ss->items[i];
		struct cost c = { 0 };

		if (sel->kind == GQL_SEL_FIELD) {
			const struct gql_field *fd = gqlv_field_def(v, parent, sel->name.value);
			bool in = intro || gqlv_is_introspection_field(v, fd, parent);
			struct cost sub = { 0 };
			uint64_t mult = 1;

			if (sel->selection_set)
				sel_cost(v, sel->selection_set,
				         fd ? gql_tref_named(fd->type) : NULL, in, nest,
				         &sub);
			if (!in && fd && gqlv_nullable(fd->type)->kind == GQL_TYPE_LIST)
				mult = list_size(v, sel);
			c.depth = sub.depth + 1;
			c.deepest = sub.deepest ? sub.deepest : sel;
			c.aliases = sat_add(sel->alias.value ? 1 : 0, sub.aliases);
			c.cost = sat_add(1, sat_mul(mult, sub.cost));
			cost_merge(out, &c);
		} else if (sel->kind == GQL_SEL_INLINE_FRAGMENT) {
			const struct gql_stype *t = sel->type_condition ?
				gqlv_lookup_type(v, sel->type_condition->name.value) : type;

			sel_cost(v, sel->selection_set, t, intro, nest, &c);
			cost_merge(out, &c);
		} else {
			long k = gqlv_frag_index(v, sel->name.value);

			if (k >= 0)
				cost_merge(out, frag_cost(v, k, intro, nest));
		}
	}
}

void gqlv_check_limits(struct vctx *v)
{
	if (v->max_depth == GQL_VLIMIT_NONE && v->max_aliases == GQL_VLIMIT_NONE &&
	    v->max_complexity == GQL_VLIMIT_NONE)
		return;
	for (unsigned i = 0; i < v->doc->n_defs; i++) {
		const struct gql_definition *op = v->defs[i].def;
		const struct gql_stype *root;
		struct cost c;

		if (op->kind != GQL_DEF_OPERATION)
			continue;
		v->op = op;
		root = gqlv_root_type(v, op->operation);
		sel_cost(v, op->selection_set, root, false, 0, &c);
		if (v->max_depth != GQL_VLIMIT_NONE && c.depth > v->max_depth)
			gqlv_err_at(v, c.deepest->line, c.deepest->column, "Operation is too "
			            "deep: depth %u exceeds max_depth %u.", c.depth,
			            v->max_depth);
		if (v->max_aliases != GQL_VLIMIT_NONE && c.aliases > v->max_aliases)
			gqlv_err_at(v, op->line, op->column, "Operation uses too many "
			            "aliases: %llu exceeds max_aliases %u.",
			            (unsigned long long)c.aliases, v->max_aliases);
		if (v->max_complexity != GQL_VLIMIT_NONE &&
		    c.cost > v->max_complexity)
			gqlv_err_at(v, op->line, op->column, "Operation is too complex: "
			            "complexity %llu exceeds max_complexity %u.",
			            (unsigned long long)c.cost, v->max_complexity);
	}
	v->op = NULL;
}
