/*
 * validate_fragments.c - the rules on fragments: FragmentsOnCompositeTypes
 * (6), UniqueFragmentNames (10), KnownFragmentNames (11), NoUnusedFragments
 * (12), PossibleFragmentSpreads (13) and NoFragmentCycles (14); and the
 * spreads of each definition, which other rules follow.
 */
#include <string.h>

#include "validate_priv.h"

/* ---- fragment spreads (ValidationContext.getFragmentSpreads) ---- */

/* Spreads of SS in graphql-js's order: a stack of selection sets. */
static const struct gql_selection **spreads_of(struct vctx *v,
                                               const struct gql_selection_set *ss,
                                               unsigned *n_out)
{
	const struct gql_selection_set **stk = NULL;
	const struct gql_selection **out = NULL;
	unsigned n_stk = 0, cap_stk = 0, n = 0, cap = 0;

	*PUSH(v, stk, n_stk, cap_stk) = ss;
	while (n_stk) {
		const struct gql_selection_set *set = stk[--n_stk];

		for (unsigned i = 0; i < set->n_items; i++) {
			const struct gql_selection *sel = set->items[i];

			if (sel->kind == GQL_SEL_FRAGMENT_SPREAD)
				*PUSH(v, out, n, cap) = sel;
			else if (sel->selection_set)
				*PUSH(v, stk, n_stk, cap_stk) = sel->selection_set;
		}
	}
	*n_out = n;
	return out;
}

static const struct gql_selection **frag_spreads(struct vctx *v, struct defn *d,
                                                 unsigned *n)
{
	if (!d->spreads_done) {
		d->spreads = spreads_of(v, d->def->selection_set, &d->n_spreads);
		d->spreads_done = true;
	}
	*n = d->n_spreads;
	return d->spreads;
}

/* getRecursivelyReferencedFragments, as defn indexes. */
unsigned *gqlv_referenced(struct vctx *v, struct defn *op, unsigned *n_out)
{
	struct defn **stk = NULL;
	unsigned n_stk = 0, cap_stk = 0, cap = 0, stamp = ++v->stamp;

	if (op->refs_done) {
		*n_out = op->n_refs;
		return op->refs;
	}
	*PUSH(v, stk, n_stk, cap_stk) = op;
	while (n_stk) {
		struct defn *d = stk[--n_stk];
		const struct gql_selection **sp;
		unsigned ns;

		/* a fragment's spreads are cached, an operation's are not */
		if (d == op)
			sp = spreads_of(v, d->def->selection_set, &ns);
		else
			sp = frag_spreads(v, d, &ns);
		for (unsigned i = 0; i < ns; i++) {
			long k = gqlv_frag_index(v, sp[i]->name.value);

			if (k < 0 || v->defs[k].stamp == stamp)
				continue;
			v->defs[k].stamp = stamp;
			*PUSH(v, op->refs, op->n_refs, cap) = (unsigned)k;
			*PUSH(v, stk, n_stk, cap_stk) = &v->defs[k];
		}
	}
	op->refs_done = true;
	*n_out = op->n_refs;
	return op->refs;
}

/* ---- spreads and inline fragments ---- */

/* doTypesOverlap */
static bool types_overlap(const struct gql_stype *a, const struct gql_stype *b)
{
	if (a == b)
		return true;
	if (gqlv_is_abstract(a)) {
		if (gqlv_is_abstract(b)) {
			for (unsigned i = 0; i < a->n_possible; i++)
				if (gqlv_is_sub_type(b, a->possible[i]))
					return true;
			return false;
		}
		return gqlv_is_sub_type(a, b);
	}
	if (gqlv_is_abstract(b))
		return gqlv_is_sub_type(b, a);
	return false;
}

void gqlv_walk_spread(struct vctx *v, const struct gql_selection *sel,
                      const struct gql_stype *parent)
{
	if (v->mode == WALK_RULES) {
		long k = gqlv_frag_index(v, sel->name.value);
		const struct gql_stype *ft = NULL;

		/* 11 KnownFragmentNames */
		if (k < 0 && ON(v, KNOWN_FRAGMENT_NAMES))
			gqlv_err_at(v, sel->name.line, sel->name.column, "Unknown fragment "
			            "\"%s\".", sel->name.value);
		else if (k >= 0)
			ft = gqlv_lookup_type(v, v->defs[k].def->type_condition->name.value);
		/* 13 PossibleFragmentSpreads */
		if (gqlv_is_composite(ft) && parent && !types_overlap(ft, parent) &&
		    ON(v, POSSIBLE_FRAGMENT_SPREADS))
			gqlv_err_at(v, sel->line, sel->column, "Fragment \"%s\" cannot be "
			            "spread here as objects of type \"%s\" can never be of "
			            "type \"%s\".", sel->name.value, parent->name, ft->name);
		gqlv_unique_directives(v, sel->directives, sel->n_directives);
	}
	gqlv_walk_directives(v, sel->directives, sel->n_directives,
	                     GQL_LOC_FRAGMENT_SPREAD);
}

void gqlv_walk_inline(struct vctx *v, const struct gql_selection *sel,
                      const struct gql_stype *parent,
                      const struct gql_stype *type)
{
	const struct gql_type *tc = sel->type_condition;
	const struct gql_stype *raw = tc ? gqlv_lookup_type(v, tc->name.value) : type;
	const struct gql_stype *ft = raw && raw->kind != GQL_INPUT_OBJECT ? raw : NULL;

	if (v->mode == WALK_RULES) {
		/* 6 FragmentsOnCompositeTypes */
		if (tc && raw && !gqlv_is_composite(raw) &&
		    ON(v, FRAGMENTS_ON_COMPOSITE_TYPES))
			gqlv_err_at(v, tc->line, tc->column, "Fragment cannot condition on "
			            "non composite type \"%s\".", tc->name.value);
		/* 13 PossibleFragmentSpreads */
		if (gqlv_is_composite(ft) && parent && !types_overlap(ft, parent) &&
		    ON(v, POSSIBLE_FRAGMENT_SPREADS))
			gqlv_err_at(v, sel->line, sel->column, "Fragment cannot be spread "
			            "here as objects of type \"%s\" can never be of type "
			            "\"%s\".", parent->name, ft->name);
		gqlv_unique_directives(v, sel->directives, sel->n_directives);
	}
	if (tc)
		gqlv_known_type_names(v, tc, false);
	gqlv_walk_directives(v, sel->directives, sel->n_directives,
	                     GQL_LOC_INLINE_FRAGMENT);
	gqlv_walk_selection_set(v, sel->selection_set, ft);
}

/* ---- NoFragmentCycles (14) ---- */

/* From the fragment definition DI (graphql-js's detectCycleRecursive). */
static void detect_cycles(struct vctx *v, unsigned di, unsigned depth)
{
	long self = gqlv_frag_index(v, v->defs[di].def->name.value);
	struct defn *d;
	const struct gql_selection **sp;
	unsigned ns;

	if (self < 0 || v->defs[self].cycle_visited || !gqlv_nest_ok(v, depth))
		return;
	d = &v->defs[self];
	d->cycle_visited = true;
	/* the spreads of this very definition, even if a later one has its name */
	sp = frag_spreads(v, &v->defs[di], &ns);
	if (ns == 0)
		return;
	d->path_pos = v->n_path + 1;
	for (unsigned i = 0; i < ns; i++) {
		const char *name = sp[i]->name.value;
		long k = gqlv_frag_index(v, name);
		unsigned at = k >= 0 ? v->defs[k].path_pos : 0;

		*PUSH(v, v->path, v->n_path, v->cap_path) = sp[i];
		if (!at) {
			if (k >= 0)
				detect_cycles(v, (unsigned)k, depth + 1);
		} else {
			unsigned from = at - 1, n = v->n_path - from;
			struct gql_vloc *l = gqlv_vcalloc(v, n * sizeof(*l));
			struct sbuf via = { 0 };

			for (unsigned j = 0; j < n; j++) {
				const struct gql_selection *s = v->path[from + j];

				l[j].line = s->line;
				l[j].column = s->column;
				if (j + 1 < n) {
					gqlv_sb_add(v, &via, j ? ", \"" : " via \"");
					gqlv_sb_add(v, &via, s->name.value);
					gqlv_sb_add(v, &via, "\"");
				}
			}
			gqlv_report(v, gqlv_fmt(v, "Cannot spread fragment \"%s\" within itself%s.",
			                        name, via.p ? via.p : ""), n, l);
		}
		v->n_path--;
	}
	d->path_pos = 0;
}

/* ---- fragment definitions ---- */

void gqlv_walk_fragment(struct vctx *v, unsigned di)
{
	const struct gql_definition *f = v->defs[di].def;
	const struct gql_type *tc = f->type_condition;
	const struct gql_stype *raw = gqlv_lookup_type(v, tc->name.value);

	v->op = NULL;
	if (v->mode == WALK_RULES) {
		long k;

		/* 6 FragmentsOnCompositeTypes */
		if (raw && !gqlv_is_composite(raw) && ON(v, FRAGMENTS_ON_COMPOSITE_TYPES))
			gqlv_err_at(v, tc->line, tc->column, "Fragment \"%s\" cannot condition "
			            "on non composite type \"%s\".", f->name.value,
			            tc->name.value);
		/* 10 UniqueFragmentNames */
		k = gqlv_smap_get(&v->frag_names, f->name.value);
		if (k >= 0 && ON(v, UNIQUE_FRAGMENT_NAMES))
			gqlv_err_at2(v, v->defs[k].def->name.line, v->defs[k].def->name.column,
			             f->name.line, f->name.column, "There can be only one "
			             "fragment named \"%s\".", f->name.value);
		else if (k < 0)
			gqlv_smap_put(v, &v->frag_names, f->name.value, di);
		/* 14 NoFragmentCycles */
		if (ON(v, NO_FRAGMENT_CYCLES))
			detect_cycles(v, di, 0);
		gqlv_unique_directives(v, f->directives, f->n_directives);
	}
	gqlv_known_type_names(v, tc, false);
	gqlv_walk_directives(v, f->directives, f->n_directives,
	                     GQL_LOC_FRAGMENT_DEFINITION);
	gqlv_walk_selection_set(v, f->selection_set,
	                        raw && raw->kind != GQL_INPUT_OBJECT ? raw : NULL);
}

/* 12 NoUnusedFragments, on leaving the document */
void gqlv_no_unused_fragments(struct vctx *v)
{
	unsigned char *used = gqlv_vcalloc(v, v->doc->n_defs);

	for (unsigned i = 0; i < v->doc->n_defs; i++) {
		unsigned nr, *refs;

		if (v->defs[i].def->kind != GQL_DEF_OPERATION)
			continue;
		refs = gqlv_referenced(v, &v->defs[i], &nr);
		for (unsigned k = 0; k < nr; k++)
			used[refs[k]] = 1;
	}
	for (unsigned i = 0; i < v->doc->n_defs; i++) {
		const struct gql_definition *f = v->defs[i].def;

		if (f->kind == GQL_DEF_FRAGMENT && !used[gqlv_frag_index(v, f->name.value)])
			gqlv_err_at(v, f->line, f->column, "Fragment \"%s\" is never used.",
			            f->name.value);
	}
}
