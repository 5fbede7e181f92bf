/*
 * validate_overlap.c - OverlappingFieldsCanBeMerged (25): the fields of a
 * selection set by response name, compared pairwise, with those of the
 * fragments it spreads and between those fragments (graphql-js's
 * findConflictsWithinSelectionSet); memoised per selection set and
 * fragment pair, and bounded by a budget of comparisons.
 */
#include <stdlib.h>
#include <string.h>

#include "validate_priv.h"

#define OVERLAP_BUDGET 2000000ul	/* field comparisons per document */
#define OVERLAP_MAX_DEPTH 400u		/* recursion of the merging rule */

struct reason {
	const char *name;
	const char *text;		/* NULL: see subs */
	struct reason *subs;
	unsigned n_subs;
};

struct nodes {
	const struct gql_selection **v;
	unsigned n, cap;
};

struct conflict {
	struct reason r;
	struct nodes f1, f2;
};

struct conflicts {
	struct conflict *v;
	unsigned n, cap;
};

/* ---- OverlappingFieldsCanBeMerged (25) ---- */

static bool spend(struct vctx *v, unsigned long n)
{
	if (v->exhausted)
		return false;
	if (v->spent + n > OVERLAP_BUDGET) {
		v->exhausted = true;
		return false;
	}
	v->spent += n;
	return true;
}

struct fgroup *gqlv_fm_group(struct vctx *v, struct fmap *fm, const char *name)
{
	long k = -1;
	struct fgroup *g;

	if (fm->n_g <= 8) {
		for (unsigned i = 0; i < fm->n_g && k < 0; i++)
			if (strcmp(fm->g[i].name, name) == 0)
				k = i;
	} else {
		k = gqlv_smap_get(&fm->gidx, name);
	}
	if (k >= 0)
		return &fm->g[k];
	g = PUSH(v, fm->g, fm->n_g, fm->cap_g);
	memset(g, 0, sizeof(*g));
	g->name = name;
	if (fm->n_g == 9)
		for (unsigned i = 0; i < fm->n_g; i++)
			gqlv_smap_put(v, &fm->gidx, fm->g[i].name, i);
	else if (fm->n_g > 9)
		gqlv_smap_put(v, &fm->gidx, name, fm->n_g - 1);
	return g;
}

static const struct fgroup *fm_find(const struct fmap *fm, const char *name)
{
	long k = -1;

	if (fm->n_g <= 8) {
		for (unsigned i = 0; i < fm->n_g; i++)
			if (strcmp(fm->g[i].name, name) == 0)
				return &fm->g[i];
		return NULL;
	}
	k = gqlv_smap_get(&fm->gidx, name);
	return k >= 0 ? &fm->g[k] : NULL;
}

static void fm_collect(struct vctx *v, const struct gql_stype *parent,
                       const struct gql_selection_set *ss, struct fmap *fm)
{
	for (unsigned i = 0; i < ss->n_items; i++) {
		const struct gql_selection *sel = ss->items[i];

		if (sel->kind == GQL_SEL_FIELD) {
			struct fgroup *g = gqlv_fm_group(v, fm, sel->alias.value ?
			                                 sel->alias.value : sel->name.value);
			struct fent *e = PUSH(v, g->e, g->n, g->cap);

			e->parent = parent;
			e->node = sel;
			e->def = parent && (parent->kind == GQL_OBJECT ||
			                    parent->kind == GQL_INTERFACE) ?
			         gql_type_field(parent, sel->name.value) : NULL;
		} else if (sel->kind == GQL_SEL_FRAGMENT_SPREAD) {
			if (gqlv_smap_get(&fm->fidx, sel->name.value) < 0) {
				gqlv_smap_put(v, &fm->fidx, sel->name.value, fm->n_frags);
				*PUSH(v, fm->frags, fm->n_frags, fm->cap_frags) =
					sel->name.value;
			}
		} else {
			const struct gql_stype *t = sel->type_condition ?
				gqlv_lookup_type(v, sel->type_condition->name.value) : parent;

			fm_collect(v, t, sel->selection_set, fm);
		}
	}
}

/* getFieldsAndFragmentNames, cached per selection set. */
static const struct fmap *fields_of(struct vctx *v, const struct gql_stype *parent,
                                    const struct gql_selection_set *ss)
{
	struct fmap *fm = gqlv_pmap_get(&v->fmaps, ss);

	if (fm)
		return fm;
	fm = gqlv_vcalloc(v, sizeof(*fm));
	fm_collect(v, parent, ss, fm);
	gqlv_pmap_put(v, &v->fmaps, ss, fm);
	spend(v, ss->n_items);
	return fm;
}

static const struct fmap *fields_of_frag(struct vctx *v, long k)
{
	const struct gql_definition *d = v->defs[k].def;
	struct fmap *fm = gqlv_pmap_get(&v->fmaps, d->selection_set);

	if (fm)
		return fm;
	return fields_of(v, gqlv_lookup_type(v, d->type_condition->name.value),
	                 d->selection_set);
}

static bool pair_has(struct vctx *v, long a, long b, bool excl)
{
	uint64_t key = a < b ? ((uint64_t)a << 32 | (uint64_t)b) :
	               ((uint64_t)b << 32 | (uint64_t)a);
	unsigned r = gqlv_pairs_get(&v->pairs, key + 1);

	if (!r)
		return false;
	return excl ? true : (r - 1) == 0;
}

static void pair_add(struct vctx *v, long a, long b, bool excl)
{
	uint64_t key = a < b ? ((uint64_t)a << 32 | (uint64_t)b) :
	               ((uint64_t)b << 32 | (uint64_t)a);

	gqlv_pairs_put(v, &v->pairs, key + 1, 1u + excl);
}

static bool value_equal(struct vctx *v, const struct gql_value *a,
                        const struct gql_value *b);

static int field_cmp(const void *x, const void *y)
{
	const struct gql_argument *a = *(const struct gql_argument *const *)x;
	const struct gql_argument *b = *(const struct gql_argument *const *)y;
	int c = gqlv_natural_compare(a->name.value, b->name.value);

	/* stable, as sortValueNode's sort */
	return c ? c : (a < b ? -1 : a > b);
}

/* print(sortValueNode(A)) === print(sortValueNode(B)) */
static bool value_equal(struct vctx *v, const struct gql_value *a,
                        const struct gql_value *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case GQL_VALUE_BOOLEAN:
		return a->boolean == b->boolean;
	case GQL_VALUE_NULL:
		return true;
	case GQL_VALUE_STRING:
		return a->block == b->block && a->len == b->len &&
		       memcmp(a->str, b->str, a->len) == 0;
	case GQL_VALUE_LIST:
		if (a->n_items != b->n_items)
			return false;
		for (unsigned i = 0; i < a->n_items; i++)
			if (!value_equal(v, a->items[i], b->items[i]))
				return false;
		return true;
	case GQL_VALUE_OBJECT: {
		const struct gql_argument **fa, **fb;

		if (a->n_fields != b->n_fields)
			return false;
		if (a->n_fields == 0)
			return true;
		fa = gqlv_vcalloc(v, a->n_fields * sizeof(*fa));
		fb = gqlv_vcalloc(v, b->n_fields * sizeof(*fb));
		memcpy(fa, a->fields, a->n_fields * sizeof(*fa));
		memcpy(fb, b->fields, b->n_fields * sizeof(*fb));
		qsort(fa, a->n_fields, sizeof(*fa), field_cmp);
		qsort(fb, b->n_fields, sizeof(*fb), field_cmp);
		for (unsigned i = 0; i < a->n_fields; i++)
			if (strcmp(fa[i]->name.value, fb[i]->name.value) != 0 ||
			    !value_equal(v, fa[i]->value, fb[i]->value))
				return false;
		return true;
	}
	default:
		return strcmp(a->str, b->str) == 0;
	}
}

static bool same_arguments(struct vctx *v, const struct gql_selection *f1,
                           const struct gql_selection *f2)
{
	if (f1->n_args == 0)
		return f2->n_args == 0;
	if (f2->n_args == 0 || f1->n_args != f2->n_args)
		return false;
	spend(v, f1->n_args);
	for (unsigned i = 0; i < f1->n_args; i++) {
		const struct gql_value *v2 = NULL;

		/* a Map of the second list: the last of a name wins */
		for (unsigned j = f2->n_args; j-- > 0 && !v2;)
			if (strcmp(f2->args[j]->name.value, f1->args[i]->name.value) == 0)
				v2 = f2->args[j]->value;
		if (!v2 || !value_equal(v, f1->args[i]->value, v2))
			return false;
	}
	return true;
}

static bool types_conflict(const struct gql_tref *a, const struct gql_tref *b)
{
	if (a->kind == GQL_TYPE_LIST)
		return b->kind == GQL_TYPE_LIST ? types_conflict(a->of, b->of) : true;
	if (b->kind == GQL_TYPE_LIST)
		return true;
	if (a->kind == GQL_TYPE_NON_NULL)
		return b->kind == GQL_TYPE_NON_NULL ? types_conflict(a->of, b->of) : true;
	if (b->kind == GQL_TYPE_NON_NULL)
		return true;
	if (gqlv_is_leaf(a->named) || gqlv_is_leaf(b->named))
		return a->named != b->named;
	return false;
}

static void collect_between(struct vctx *v, struct conflicts *out, bool excl,
                            const struct fmap *m1, const struct fmap *m2,
                            unsigned depth);
static void between_fields_and_fragment(struct vctx *v, struct conflicts *out,
                                        bool excl, const struct fmap *fm,
                                        const char *name, unsigned depth);
static void between_fragments(struct vctx *v, struct conflicts *out, bool excl,
                              const char *n1, const char *n2, unsigned depth);

static void sub_selection_conflicts(struct vctx *v, struct conflicts *out,
                                    bool excl, const struct gql_stype *p1,
                                    const struct gql_selection_set *s1,
                                    const struct gql_stype *p2,
                                    const struct gql_selection_set *s2,
                                    unsigned depth)
{
	const struct fmap *m1 = fields_of(v, p1, s1);
	const struct fmap *m2 = fields_of(v, p2, s2);

	collect_between(v, out, excl, m1, m2, depth);
	for (unsigned i = 0; i < m2->n_frags; i++)
		between_fields_and_fragment(v, out, excl, m1, m2->frags[i], depth);
	for (unsigned i = 0; i < m1->n_frags; i++)
		between_fields_and_fragment(v, out, excl, m2, m1->frags[i], depth);
	for (unsigned i = 0; i < m1->n_frags; i++)
		for (unsigned j = 0; j < m2->n_frags; j++)
			between_fragments(v, out, excl, m1->frags[i], m2->frags[j],
			                  depth);
}

static void add_conflict(struct vctx *v, struct conflicts *out, const char *name,
                         const char *text, const struct fent *a,
                         const struct fent *b)
{
	struct conflict *c = PUSH(v, out->v, out->n, out->cap);

	memset(c, 0, sizeof(*c));
	c->r.name = name;
	c->r.text = text;
	*PUSH(v, c->f1.v, c->f1.n, c->f1.cap) = a->node;
	*PUSH(v, c->f2.v, c->f2.n, c->f2.cap) = b->node;
}

/* findConflict: adds at most one conflict to OUT. */
static void find_conflict(struct vctx *v, struct conflicts *out,
                          bool parent_excl, const char *name,
                          const struct fent *a, const struct fent *b,
                          unsigned depth)
{
	const struct gql_tref *t1 = a->def ? a->def->type : NULL;
	const struct gql_tref *t2 = b->def ? b->def->type : NULL;
	bool excl = parent_excl || (a->parent != b->parent && a->parent &&
	            b->parent && a->parent->kind == GQL_OBJECT &&
	            b->parent->kind == GQL_OBJECT);
	struct conflicts sub = { 0 };

	if (!spend(v, 1) || depth > OVERLAP_MAX_DEPTH) {
		v->exhausted = true;
		return;
	}
	if (!excl) {
		if (strcmp(a->node->name.value, b->node->name.value) != 0)
			return add_conflict(v, out, name, gqlv_fmt(v, "\"%s\" and \"%s\" "
			                    "are different fields", a->node->name.value,
			                    b->node->name.value), a, b);
		if (!same_arguments(v, a->node, b->node))
			return add_conflict(v, out, name, "they have differing "
			                    "arguments", a, b);
	}
	if (t1 && t2 && types_conflict(t1, t2))
		return add_conflict(v, out, name, gqlv_fmt(v, "they return conflicting "
		                    "types \"%s\" and \"%s\"", gqlv_tref_str(v, t1),
		                    gqlv_tref_str(v, t2)), a, b);
	if (!a->node->selection_set || !b->node->selection_set)
		return;
	sub_selection_conflicts(v, &sub, excl, gql_tref_named(t1),
	                        a->node->selection_set, gql_tref_named(t2),
	                        b->node->selection_set, depth + 1);
	if (sub.n) {
		struct conflict *c = PUSH(v, out->v, out->n, out->cap);

		memset(c, 0, sizeof(*c));
		c->r.name = name;
		c->r.n_subs = sub.n;
		c->r.subs = gqlv_vcalloc(v, sub.n * sizeof(*c->r.subs));
		*PUSH(v, c->f1.v, c->f1.n, c->f1.cap) = a->node;
		*PUSH(v, c->f2.v, c->f2.n, c->f2.cap) = b->node;
		for (unsigned i = 0; i < sub.n; i++) {
			c->r.subs[i] = sub.v[i].r;
			for (unsigned k = 0; k < sub.v[i].f1.n; k++)
				*PUSH(v, c->f1.v, c->f1.n, c->f1.cap) = sub.v[i].f1.v[k];
			for (unsigned k = 0; k < sub.v[i].f2.n; k++)
				*PUSH(v, c->f2.v, c->f2.n, c->f2.cap) = sub.v[i].f2.v[k];
		}
	}
}

/* Two leaf fields that compare alike with any field, and never conflict. */
static bool same_leaf(struct vctx *v, const struct fent *a, const struct fent *b)
{
	return !a->node->selection_set && !b->node->selection_set &&
	       a->parent == b->parent &&
	       strcmp(a->node->name.value, b->node->name.value) == 0 &&
	       same_arguments(v, a->node, b->node);
}

/* Whether OUT (the rule's own list) already holds more than can be reported. */
static bool out_full(const struct vctx *v, const struct conflicts *out)
{
	return out == v->top_out && out->n > v->max_errors;
}

/*
 * collectConflictsWithin: every pair of fields sharing a response name.
 * Hostile documents repeat a leaf field verbatim (`name name ...` ten
 * thousand times): such copies fall in one class, the classes are compared
 * once, and a pair of fields only costs work when its classes conflict, at
 * which point it yields an error (and errors are capped). The conflicts
 * come out as graphql-js's pair order has them.
 */
static void collect_within(struct vctx *v, struct conflicts *out,
                           const struct fmap *fm)
{
	for (unsigned g = 0; g < fm->n_g && !v->exhausted && !out_full(v, out); g++) {
		const struct fgroup *gr = &fm->g[g];
		unsigned n = gr->n, n_cls = 0, *cls, *rep, *first, *next, *cur, *pos;
		unsigned char *verdict;	/* per class pair: 0 unknown, 1 none, 2 conflict */
		struct conflict *res;	/* per class pair, when 2 */

		if (n < 2)
			continue;
		cls = gqlv_vcalloc(v, n * sizeof(*cls));
		rep = gqlv_vcalloc(v, n * sizeof(*rep));
		for (unsigned i = 0; i < n; i++) {
			unsigned k = n_cls;

			for (unsigned c = 0; c < n_cls && c < 16; c++)
				if (same_leaf(v, &gr->e[rep[c]], &gr->e[i])) {
					k = c;
					break;
				}
			if (k == n_cls)
				rep[n_cls++] = i;
			cls[i] = k;
		}
		if (n_cls == n || n_cls > 64) {
			/* no copies (or too many kinds): graphql-js's plain loop */
			for (unsigned i = 0; i + 1 < n && !v->exhausted; i++)
				for (unsigned j = i + 1; j < n && !v->exhausted &&
				     !out_full(v, out); j++)
					find_conflict(v, out, false, gr->name, &gr->e[i],
					              &gr->e[j], 0);
			continue;
		}
		if (n_cls == 1)
			continue;	/* all copies of one leaf */
		/* members of each class in order, as linked lists */
		first = gqlv_vcalloc(v, n_cls * sizeof(*first));
		next = gqlv_vcalloc(v, n * sizeof(*next));
		for (unsigned i = n; i-- > 0;) {
			next[i] = first[cls[i]];
			first[cls[i]] = i + 1;
		}
		verdict = gqlv_vcalloc(v, (size_t)n_cls * n_cls);
		res = gqlv_vcalloc(v, (size_t)n_cls * n_cls * sizeof(*res));
		cur = gqlv_vcalloc(v, n_cls * sizeof(*cur));
		pos = gqlv_vcalloc(v, n_cls * sizeof(*pos));
		memcpy(pos, first, n_cls * sizeof(*pos));
		for (unsigned i = 0; i + 1 < n && !v->exhausted && !out_full(v, out); i++) {
			unsigned ci = cls[i];

			memset(cur, 0, n_cls * sizeof(*cur));
			/* the first member after I of every conflicting class */
			for (unsigned c = 0; c < n_cls && !v->exhausted; c++) {
				size_t pc = (size_t)ci * n_cls + c;

				while (pos[c] && pos[c] - 1 <= i)
					pos[c] = next[pos[c] - 1];
				if (c == ci || !pos[c])
					continue;
				if (!verdict[pc]) {
					struct conflicts one = { 0 };

					find_conflict(v, &one, false, gr->name, &gr->e[rep[ci]],
					              &gr->e[rep[c]], 0);
					verdict[pc] = one.n ? 2 : 1;
					if (one.n)
						res[pc] = one.v[0];
				}
				if (verdict[pc] == 2)
					cur[c] = pos[c];
			}
			/* merge them by index: J ascending, as graphql-js's loop */
			for (;;) {
				unsigned best = 0, bc = 0;
				struct conflict *cf;
				const struct conflict *proto;

				for (unsigned c = 0; c < n_cls; c++)
					if (cur[c] && (!best || cur[c] < best)) {
						best = cur[c];
						bc = c;
					}
				if (!best || out_full(v, out))
					break;
				cur[bc] = next[best - 1];
				proto = &res[(size_t)ci * n_cls + bc];
				cf = PUSH(v, out->v, out->n, out->cap);
				memset(cf, 0, sizeof(*cf));
				cf->r = proto->r;
				if (gr->e[i].node->selection_set &&
				    gr->e[best - 1].node->selection_set) {
					/* two singletons: the prototype is this very pair */
					cf->f1 = proto->f1;
					cf->f2 = proto->f2;
				} else {
					*PUSH(v, cf->f1.v, cf->f1.n, cf->f1.cap) = gr->e[i].node;
					*PUSH(v, cf->f2.v, cf->f2.n, cf->f2.cap) =
						gr->e[best - 1].node;
				}
			}
		}
	}
}

static void collect_between(struct vctx *v, struct conflicts *out, bool excl,
                            const struct fmap *m1, const struct fmap *m2,
                            unsigned depth)
{
	if (!spend(v, m1->n_g))
		return;
	for (unsigned g = 0; g < m1->n_g && !v->exhausted; g++) {
		const struct fgroup *g1 = &m1->g[g];
		const struct fgroup *g2 = fm_find(m2, g1->name);

		for (unsigned i = 0; g2 && i < g1->n && !v->exhausted; i++)
			for (unsigned j = 0; j < g2->n && !v->exhausted &&
			     !out_full(v, out); j++)
				find_conflict(v, out, excl, g1->name, &g1->e[i],
				              &g2->e[j], depth);
	}
}

static void between_fields_and_fragment(struct vctx *v, struct conflicts *out,
                                        bool excl, const struct fmap *fm,
                                        const char *name, unsigned depth)
{
	long k = gqlv_frag_index(v, name);
	const struct fmap *fm2;

	if (k < 0 || v->exhausted)
		return;
	if (!gqlv_nest_ok(v, depth) || !spend(v, 1)) {
		v->exhausted = true;
		return;
	}
	fm2 = fields_of_frag(v, k);
	if (fm == fm2)
		return;
	collect_between(v, out, excl, fm, fm2, depth);
	for (unsigned i = 0; i < fm2->n_frags && !v->exhausted; i++) {
		long r = gqlv_frag_index(v, fm2->frags[i]);

		if (r < 0 || pair_has(v, r, k, excl))
			continue;
		pair_add(v, r, k, excl);
		between_fields_and_fragment(v, out, excl, fm, fm2->frags[i],
		                            depth + 1);
	}
}

static void between_fragments(struct vctx *v, struct conflicts *out, bool excl,
                              const char *n1, const char *n2, unsigned depth)
{
	long k1, k2;
	const struct fmap *m1, *m2;

	if (strcmp(n1, n2) == 0 || v->exhausted)
		return;
	k1 = gqlv_frag_index(v, n1);
	k2 = gqlv_frag_index(v, n2);
	if (k1 < 0 || k2 < 0 || pair_has(v, k1, k2, excl))
		return;
	pair_add(v, k1, k2, excl);
	if (!gqlv_nest_ok(v, depth) || !spend(v, 1)) {
		v->exhausted = true;
		return;
	}
	m1 = fields_of_frag(v, k1);
	m2 = fields_of_frag(v, k2);
	collect_between(v, out, excl, m1, m2, depth);
	for (unsigned i = 0; i < m2->n_frags && !v->exhausted; i++)
		between_fragments(v, out, excl, n1, m2->frags[i], depth + 1);
	for (unsigned i = 0; i < m1->n_frags && !v->exhausted; i++)
		between_fragments(v, out, excl, m1->frags[i], n2, depth + 1);
}

static void reason_message(struct vctx *v, struct sbuf *b, const struct reason *r)
{
	if (r->text)
		return gqlv_sb_add(v, b, r->text);
	for (unsigned i = 0; i < r->n_subs && b->n + 1 < MAX_MESSAGE; i++) {
		if (i)
			gqlv_sb_add(v, b, " and ");
		gqlv_sb_add(v, b, "subfields \"");
		gqlv_sb_add(v, b, r->subs[i].name);
		gqlv_sb_add(v, b, "\" conflict because ");
		reason_message(v, b, &r->subs[i]);
	}
}

void gqlv_rule_overlapping(struct vctx *v, const struct gql_stype *parent,
                           const struct gql_selection_set *ss)
{
	struct conflicts out = { 0 };
	const struct fmap *fm;

	if (v->exhausted)
		return;
	v->top_out = &out;
	fm = fields_of(v, parent, ss);
	collect_within(v, &out, fm);
	for (unsigned i = 0; i < fm->n_frags && !v->exhausted; i++) {
		between_fields_and_fragment(v, &out, false, fm, fm->frags[i], 0);
		for (unsigned j = i + 1; j < fm->n_frags && !v->exhausted; j++)
			between_fragments(v, &out, false, fm->frags[i], fm->frags[j], 0);
	}
	for (unsigned i = 0; i < out.n; i++) {
		const struct conflict *c = &out.v[i];
		struct sbuf b = { 0 };
		struct gql_vloc *l = gqlv_vcalloc(v, (c->f1.n + c->f2.n) * sizeof(*l));
		unsigned n = 0;

		gqlv_sb_add(v, &b, "Fields \"");
		gqlv_sb_add(v, &b, c->r.name);
		gqlv_sb_add(v, &b, "\" conflict because ");
		reason_message(v, &b, &c->r);
		gqlv_sb_add(v, &b, ". Use different aliases on the fields to fetch both "
		            "if this was intentional.");
		for (unsigned k = 0; k < c->f1.n; k++, n++) {
			l[n].line = c->f1.v[k]->line;
			l[n].column = c->f1.v[k]->column;
		}
		for (unsigned k = 0; k < c->f2.n; k++, n++) {
			l[n].line = c->f2.v[k]->line;
			l[n].column = c->f2.v[k]->column;
		}
		gqlv_report(v, b.p, n, l);
	}
	if (v->exhausted && !v->exhausted_reported) {
		v->exhausted_reported = true;
		gqlv_err_at(v, ss->line, ss->column, "Too many fields to compare for "
		            "conflicts (more than %lu comparisons): simplify the "
		            "selections; validation of field merging stopped here.",
		            OVERLAP_BUDGET);
	}
}
