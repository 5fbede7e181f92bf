/*
 * exec_plan.c - what an execution runs: the operation, the document's
 * fragments by name, and the plans of CollectFields (specification
 * 6.3.2): an object type's fields by response key with their nodes merged,
 * and each field's arguments, coerced once per request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec_priv.h"

/* ---- operations and fragments ------------------------------------------- */

const struct gql_definition *gql_exec_operation(const struct gql_doc *doc, const char *name,
                                                const char **msg)
{
	const struct gql_definition *op = NULL;

	for (unsigned i = 0; i < doc->n_defs; i++) {
		const struct gql_definition *d = doc->defs[i];

		if (d->kind != GQL_DEF_OPERATION)
			continue;
		if (!name) {
			if (op) {
				*msg = "Must provide operation name if query contains multiple operations.";
				return NULL;
			}
			op = d;
		} else if (d->name.value && !strcmp(d->name.value, name)) {
			return d;
		}
	}
	if (!op)
		*msg = name ? NULL : "Must provide an operation.";
	return op;
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

int gqlx_index_fragments(struct gql_exec *e)
{
	unsigned n = 0, slots = 8;

	for (unsigned i = 0; i < e->req.doc->n_defs; i++)
		n += e->req.doc->defs[i]->kind == GQL_DEF_FRAGMENT;
	while (slots < n * 2)
		slots *= 2;
	e->nfrag_slots = slots;
	if (!(e->frags = gql_arena_calloc(&e->arena, slots * sizeof(*e->frags))))
		return -1;
	for (unsigned i = 0; i < e->req.doc->n_defs; i++) {
		const struct gql_definition *d = e->req.doc->defs[i];
		uint32_t h;

		if (d->kind != GQL_DEF_FRAGMENT || !d->name.value)
			continue;
		h = hash_str(d->name.value) & (slots - 1);
		while (e->frags[h].name && strcmp(e->frags[h].name, d->name.value))
			h = (h + 1) & (slots - 1);
		if (!e->frags[h].name)   /* the first of duplicates, which validation forbids */
			e->frags[h] = (typeof(*e->frags)){ d->name.value, d };
	}
	return 0;
}

static const struct gql_definition *fragment(struct gql_exec *e, const char *name)
{
	uint32_t h = hash_str(name) & (e->nfrag_slots - 1);

	while (e->frags[h].name) {
		if (!strcmp(e->frags[h].name, name))
			return e->frags[h].def;
		h = (h + 1) & (e->nfrag_slots - 1);
	}
	return NULL;
}

/* ---- CollectFields ----------------------------------------------------------- */

/* @skip / @include: 0 when the selection is left out. */
static int included(struct gql_exec *e, struct gql_directive *const *ds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const char *name = ds[i]->name.value;
		int skip = !strcmp(name, "skip");
		bool cond = false;

		if (!skip && strcmp(name, "include") != 0)
			continue;
		for (unsigned k = 0; k < ds[i]->n_args; k++) {
			const struct gql_value *v = ds[i]->args[k]->value;

			if (strcmp(ds[i]->args[k]->name.value, "if") != 0)
				continue;
			if (v->kind == GQL_VALUE_BOOLEAN) {
				cond = v->boolean;
			} else if (v->kind == GQL_VALUE_VARIABLE) {
				const struct gv *x = gvars_get(&e->vars, v->str);

				cond = x && x->kind == GV_BOOL && x->b;
			}
		}
		if (skip ? cond : !cond)
			return 0;
	}
	return 1;
}

static int applies(struct gql_exec *e, const struct gql_type *cond, const struct gql_stype *t)
{
	const struct gql_stype *ct;

	if (!cond)
		return 1;
	ct = gql_schema_type(e->s, cond->name.value);
	if (!ct)
		return 0;
	if (ct == t)
		return 1;
	return (ct->kind == GQL_INTERFACE || ct->kind == GQL_UNION) && gql_is_possible(ct, t);
}

struct visited {
	const char **names;
	unsigned n, cap;
};

struct pbuild {
	struct plan *p;
	unsigned cap;
};

/* Whether T is String or ID, maybe non-null: a Lua string value of it is
 * written as it is (run_object's short way). */
static int plain_str_type(const struct gql_tref *t)
{
	if (t && t->kind == GQL_TYPE_NON_NULL)
		t = t->of;
	return t && t->kind == GQL_TYPE_NAMED && t->named->builtin &&
	       t->named->kind == GQL_SCALAR && (!strcmp(t->named->name, "String") ||
	                                        !strcmp(t->named->name, "ID"));
}

/* CF's key as the response writes it, ,"key": (the comma left out before
 * an object's first field), made once per plan. */
static int plan_jkey(struct gql_exec *e, struct cfield *cf)
{
	struct jbuf b = { 0 };

	jb_putc(&b, ',');
	jb_cstr(&b, cf->key);
	jb_putc(&b, ':');
	if (b.oom || !(cf->jkey = gql_arena_strndup(&e->arena, b.p, b.n))) {
		free(b.p);
		e->fatal = 1;
		return -1;
	}
	cf->jkey_len = b.n;
	free(b.p);
	return 0;
}

static void collect(struct gql_exec *e, struct pbuild *pb, const struct gql_stype *t,
                    const struct gql_selection_set *set, struct visited *vis)
{
	for (unsigned i = 0; set && i < set->n_items; i++) {
		const struct gql_selection *sel = set->items[i];

		if (sel->kind == GQL_SEL_FRAGMENT_SPREAD) {
			const struct gql_definition *f;
			unsigned k;

			for (k = 0; k < vis->n; k++)
				if (!strcmp(vis->names[k], sel->name.value))
					break;
			if (k < vis->n || !included(e, sel->directives, sel->n_directives))
				continue;
			if (gqlx_grow(&e->arena, (void **)&vis->names, &vis->cap, vis->n, sizeof(char *))) {
				e->fatal = 1;
				return;
			}
			vis->names[vis->n++] = sel->name.value;
			f = fragment(e, sel->name.value);
			if (f && applies(e, f->type_condition, t))
				collect(e, pb, t, f->selection_set, vis);
			continue;
		}
		if (!included(e, sel->directives, sel->n_directives))
			continue;
		if (sel->kind == GQL_SEL_INLINE_FRAGMENT) {
			if (applies(e, sel->type_condition, t))
				collect(e, pb, t, sel->selection_set, vis);
			continue;
		}
		{
			const char *key = sel->alias.value ? sel->alias.value : sel->name.value;
			struct plan *p = pb->p;
			struct cfield *cf = NULL;
			unsigned k;

			for (k = 0; k < p->n; k++)
				if (!strcmp(p->f[k].key, key))
					break;
			if (k < p->n) {
				cf = &p->f[k];
			} else {
				const struct gql_field *def = gql_meta_field(e->s, t, sel->name.value);
				int meta = META_NONE;

				if (def)
					meta = !strcmp(sel->name.value, "__typename") ? META_TYPENAME :
					       !strcmp(sel->name.value, "__schema") ? META_SCHEMA : META_TYPE;
				else
					def = gql_type_field(t, sel->name.value);
				if (!def)
					continue;   /* unknown field: left out, as graphql-js does */
				if (gqlx_grow(&e->arena, (void **)&p->f, &pb->cap, p->n, sizeof(*p->f))) {
					e->fatal = 1;
					return;
				}
				cf = &p->f[p->n++];
				memset(cf, 0, sizeof(*cf));
				cf->key = key;
				if (plan_jkey(e, cf) != 0)
					return;
				cf->def = def;
				cf->meta = meta;
				cf->plain_str = plain_str_type(def->type);
				cf->nonnull = def->type->kind == GQL_TYPE_NON_NULL;
				cf->parent = t;
			}
			if (gqlx_grow(&e->arena, (void **)&cf->nodes, &cf->cap_nodes, cf->n_nodes,
			              sizeof(*cf->nodes))) {
				e->fatal = 1;
				return;
			}
			cf->nodes[cf->n_nodes++] = sel;
		}
	}
}

struct plan *gql_plan_build(struct gql_exec *e, const struct gql_stype *t,
                            const struct gql_selection_set *const *sets, unsigned nsets)
{
	struct plan *p = gql_arena_calloc(&e->arena, sizeof(*p));
	struct pbuild pb = { p, 0 };
	struct visited vis = { 0 };

	if (!p) {
		e->fatal = 1;
		return NULL;
	}
	p->type = t;
	for (unsigned i = 0; i < nsets; i++)
		collect(e, &pb, t, sets[i], &vis);
	return p;
}

struct plan *gql_subplan(struct gql_exec *e, struct cfield *cf, const struct gql_stype *t)
{
	const struct gql_selection_set **sets;
	struct subplan *more;
	struct plan *p;
	unsigned n = 0;

	for (unsigned i = 0; i < cf->n_subs; i++)
		if (cf->subs[i].type == t)
			return cf->subs[i].plan;
	if (!(sets = gql_arena_alloc(&e->arena, (cf->n_nodes + 1) * sizeof(*sets))))
		return e->fatal = 1, NULL;
	for (unsigned i = 0; i < cf->n_nodes; i++)
		if (cf->nodes[i]->selection_set)
			sets[n++] = cf->nodes[i]->selection_set;
	if (!(p = gql_plan_build(e, t, sets, n)))
		return NULL;
	if (!(more = gql_arena_alloc(&e->arena, (cf->n_subs + 1) * sizeof(*more))))
		return e->fatal = 1, NULL;
	if (cf->n_subs)
		memcpy(more, cf->subs, cf->n_subs * sizeof(*more));
	more[cf->n_subs++] = (struct subplan){ t, p };
	cf->subs = more;
	return p;
}

int gql_coerce_field_args(struct gql_exec *e, struct cfield *cf)
{
	const struct gql_selection *node = cf->nodes[0];

	if (cf->args_state)
		return cf->args_state;
	if (gql_coerce_args(&e->arena, cf->def->args, cf->def->n_args, node->args, node->n_args,
	                    &e->vars, &cf->args, &cf->args_err) != 0)
		return cf->args_state = -1;
	return cf->args_state = 1;
}
