/*
 * exec.c - the executor (specification section 6), level by level.
 *
 * The result is a tree of struct rnode in the request's arena. An object
 * to fill is a task; the tasks of one level run together: each field's
 * resolver is started (default resolvers and resolvers that return at once
 * complete on the spot, those that wait are counted as pending, batched
 * ones are queued and called once per level with every parent), and the
 * objects their values hold become the tasks of the next level. Nulls
 * travel up the tree to the nearest nullable place (gql_null_out) and the
 * JSON is written from the tree at the end, fields in request order.
 *
 * Resolvers run in coroutines of the request's Lua state, taken from a small
 * pool: a resolver that returns without waiting gives its coroutine back at
 * once, so a level of 100 resolver calls that never wait uses one
 * coroutine; one that waits keeps its coroutine until it ends.
 *
 * Every Lua call the executor makes outside a resolver runs under
 * lua_pcall (prot), so an allocation failure in a state at its memory limit
 * ends the request with an error, never the process.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "exec_priv.h"

#define K_RESOLVERS "graphql.resolvers"
#define K_BATCH_MT "graphql.batch"
#define V_CTX 1
#define V_ROOT 2
#define V_RESOLVERS 3
#define V_EVENT 4          /* GQL_EXEC_EVENT: the event (the root field's value) */

static void run(struct gql_exec *e);

/* ---- small helpers -------------------------------------------------------- */

const struct gql_tref *gqlx_tref_from_ast(struct arena *a, const struct gql_schema *s,
                                          const struct gql_type *t)
{
	struct gql_tref *r;

	if (!t || !(r = arena_calloc(a, sizeof(*r))))
		return NULL;
	r->kind = t->kind;
	if (t->kind == GQL_TYPE_NAMED)
		return (r->named = gql_schema_type(s, t->name.value)) ? r : NULL;
	return (r->of = gqlx_tref_from_ast(a, s, t->of)) ? r : NULL;
}

static int grow(struct arena *a, void **arr, unsigned *cap, unsigned n, size_t size)
{
	void *more;
	unsigned nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 8;
	if (!(more = arena_alloc(a, (size_t)nc * size)))
		return -1;
	if (n)
		memcpy(more, *arr, (size_t)n * size);
	*arr = more;
	*cap = nc;
	return 0;
}

static void tasks_push(struct gql_exec *e, struct tasks *ts, struct rnode *obj, int vidx,
                       const struct plan *p, unsigned f0, unsigned f1)
{
	if (grow(&e->arena, (void **)&ts->t, &ts->cap, ts->n, sizeof(*ts->t)) != 0) {
		e->fatal = 1;
		return;
	}
	ts->t[ts->n++] = (struct otask){ obj, f0, f1, vidx, p };
}

struct rnode *gql_rnode(struct gql_exec *e, struct rnode *parent, unsigned idx, bool nonnull)
{
	struct rnode *n = arena_alloc(&e->arena, sizeof(*n));

	if (!n) {
		e->fatal = 1;
		return NULL;
	}
	n->kind = RN_NULL;
	n->shape = RN_NULL;
	n->nonnull = nonnull;
	n->parent = parent;
	n->idx = idx;
	return n;
}

void gql_null_out(struct gql_exec *e, struct rnode *at)
{
	(void)e;
	while (at) {
		at->kind = RN_NULL;
		if (!at->nonnull)
			return;
		at = at->parent;
	}
}

static int dead(const struct rnode *n)
{
	for (; n; n = n->parent)
		if (n->kind == RN_NULL)
			return 1;
	return 0;
}

static void add_error(struct gql_exec *e, struct gerr *g)
{
	unsigned max = e->req.max_errors ? e->req.max_errors : 100;

	if (e->nerrs++ >= max)
		return;
	*e->errs_tail = g;
	e->errs_tail = &g->next;
}

void gql_field_error(struct gql_exec *e, const struct cfield *cf, struct rnode *at,
                     const char *msg, const char *ext)
{
	struct gerr *g = arena_calloc(&e->arena, sizeof(*g));

	if (!g) {
		e->fatal = 1;
		return;
	}
	g->msg = msg ? msg : "error";
	g->cf = cf;
	g->at = at;
	g->ext = ext;
	add_error(e, g);
}

static void request_error(struct gql_exec *e, const char *msg, unsigned line, unsigned col)
{
	struct gerr *g = arena_calloc(&e->arena, sizeof(*g));

	if (!g) {
		e->fatal = 1;
		return;
	}
	g->msg = msg ? msg : "error";
	g->line = line;
	g->col = col;
	add_error(e, g);
}

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

static int index_fragments(struct gql_exec *e)
{
	unsigned n = 0, slots = 8;

	for (unsigned i = 0; i < e->req.doc->n_defs; i++)
		n += e->req.doc->defs[i]->kind == GQL_DEF_FRAGMENT;
	while (slots < n * 2)
		slots *= 2;
	e->nfrag_slots = slots;
	if (!(e->frags = arena_calloc(&e->arena, slots * sizeof(*e->frags))))
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
			if (grow(&e->arena, (void **)&vis->names, &vis->cap, vis->n, sizeof(char *))) {
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
				if (grow(&e->arena, (void **)&p->f, &pb->cap, p->n, sizeof(*p->f))) {
					e->fatal = 1;
					return;
				}
				cf = &p->f[p->n++];
				memset(cf, 0, sizeof(*cf));
				cf->key = key;
				cf->def = def;
				cf->meta = meta;
				cf->parent = t;
			}
			if (grow(&e->arena, (void **)&cf->nodes, &cf->cap_nodes, cf->n_nodes,
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
	struct plan *p = arena_calloc(&e->arena, sizeof(*p));
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
	if (!(sets = arena_alloc(&e->arena, (cf->n_nodes + 1) * sizeof(*sets))))
		return e->fatal = 1, NULL;
	for (unsigned i = 0; i < cf->n_nodes; i++)
		if (cf->nodes[i]->selection_set)
			sets[n++] = cf->nodes[i]->selection_set;
	if (!(p = gql_plan_build(e, t, sets, n)))
		return NULL;
	if (!(more = arena_alloc(&e->arena, (cf->n_subs + 1) * sizeof(*more))))
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

/* ---- Lua: the values table, resolvers, coroutines ------------------------ */

/* Pushes the values table. [-0, +1, -] */
static void push_values(struct gql_exec *e, lua_State *L)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->vref);
}

/* Stores the value at the top of L in the values table; pops it. */
static int store_value(struct gql_exec *e, lua_State *L)
{
	push_values(e, L);
	lua_insert(L, -2);
	lua_rawseti(L, -2, ++e->nvals);
	lua_pop(L, 1);
	return e->nvals;
}

static void push_stored(struct gql_exec *e, lua_State *L, int idx)
{
	push_values(e, L);
	lua_rawgeti(L, -1, idx);
	lua_remove(L, -2);
}

static void find_resolver(struct gql_exec *e, struct cfield *cf)
{
	lua_State *L = e->L;
	int top = lua_gettop(L);

	cf->resolver_looked = 1;
	push_stored(e, L, V_RESOLVERS);
	if (!lua_istable(L, -1))
		goto out;
	lua_pushstring(L, cf->parent->name);
	if (lua_rawget(L, -2) != LUA_TTABLE)
		goto out;
	lua_pushstring(L, cf->def->name);
	switch (lua_rawget(L, -2)) {
	case LUA_TFUNCTION:
		cf->resolver = store_value(e, L);
		break;
	case LUA_TTABLE:   /* graphql.batch(fn) */
		if (lua_getmetatable(L, -1)) {
			luaL_getmetatable(L, K_BATCH_MT);
			if (lua_rawequal(L, -1, -2) && lua_rawgeti(L, -3, 1) == LUA_TFUNCTION) {
				cf->resolver = store_value(e, L);
				cf->batch = 1;
			}
		}
		break;
	default:
		break;
	}
out:
	lua_settop(L, top);
}

static lua_State *co_take(struct gql_exec *e)
{
	lua_State *co;

	if (e->npool) {
		e->npool--;
		return e->pool[e->npool].co;
	}
	co = lua_newthread(e->L);
	store_value(e, e->L);   /* the values table keeps it alive */
	return co;
}

static void co_give(struct gql_exec *e, lua_State *co)
{
	lua_settop(co, 0);
	if (e->npool < sizeof(e->pool) / sizeof(e->pool[0]))
		e->pool[e->npool++].co = co;
}

/* The path of AT, for errors and info.path: segments in order. */
struct pseg {
	const char *key;
	unsigned idx;
};

static unsigned path_of(const struct rnode *at, struct pseg *out, unsigned cap)
{
	struct pseg tmp[256];
	unsigned n = 0, k = 0;

	for (const struct rnode *r = at; r && r->parent && n < 256; r = r->parent) {
		const struct rnode *p = r->parent;

		if (p->shape == RN_OBJ)
			tmp[n++] = (struct pseg){ p->u.obj.plan->f[r->idx].key, 0 };
		else
			tmp[n++] = (struct pseg){ NULL, r->idx };
	}
	while (n && k < cap)
		out[k++] = tmp[--n];
	return k;
}

static const char *op_name(const struct gql_definition *op)
{
	return op->operation == GQL_OP_MUTATION ? "mutation" :
	       op->operation == GQL_OP_SUBSCRIPTION ? "subscription" : "query";
}

/* The resolver's info table on CO. [-0, +1, m] */
static void push_info(struct gql_exec *e, lua_State *co, const struct cfield *cf,
                      const struct rnode *slot)
{
	struct pseg segs[256];
	unsigned n = path_of(slot, segs, 256);
	char tbuf[256];

	lua_createtable(co, 0, 7);
	lua_pushstring(co, cf->def->name);
	lua_setfield(co, -2, "fieldName");
	lua_pushstring(co, cf->parent->name);
	lua_setfield(co, -2, "parentType");
	gql_tref_print(cf->def->type, tbuf, sizeof(tbuf));
	lua_pushstring(co, tbuf);
	lua_setfield(co, -2, "returnType");
	lua_createtable(co, (int)n, 0);
	for (unsigned i = 0; i < n; i++) {
		if (segs[i].key)
			lua_pushstring(co, segs[i].key);
		else
			lua_pushinteger(co, segs[i].idx);
		lua_rawseti(co, -2, i + 1);
	}
	lua_setfield(co, -2, "path");
	lua_pushstring(co, op_name(e->op));
	lua_setfield(co, -2, "operation");
	if (e->op->name.value) {
		lua_pushstring(co, e->op->name.value);
		lua_setfield(co, -2, "operationName");
	}
	push_stored(e, co, V_CTX);
	lua_setfield(co, -2, "context");
}

/* ---- completing values ----------------------------------------------------- */

/* A short text for a Lua value in messages (graphql-js inspect). */
static const char *inspect_lua(struct gql_exec *e, lua_State *L, int idx)
{
	switch (lua_type(L, idx)) {
	case LUA_TNIL: return "null";
	case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "true" : "false";
	case LUA_TNUMBER: {
		struct jbuf b = { 0 };
		char *s;

		if (lua_isinteger(L, idx))
			jb_fmt(&b, "%lld", (long long)lua_tointeger(L, idx));
		else if (isnan(lua_tonumber(L, idx)))
			jb_put(&b, "NaN", 3);
		else if (isinf(lua_tonumber(L, idx)))
			jb_put(&b, lua_tonumber(L, idx) > 0 ? "Infinity" : "-Infinity",
			       lua_tonumber(L, idx) > 0 ? 8 : 9);
		else
			jb_num(&b, lua_tonumber(L, idx));
		s = arena_strndup(&e->arena, b.p ? b.p : "", b.n);
		free(b.p);
		return s ? s : "?";
	}
	case LUA_TSTRING: {
		struct jbuf b = { 0 };
		size_t n;
		const char *v = lua_tolstring(L, idx, &n);
		char *s;

		jb_str(&b, v, n);
		s = arena_strndup(&e->arena, b.p ? b.p : "", b.n);
		free(b.p);
		return s ? s : "?";
	}
	case LUA_TTABLE: return lua_rawlen(L, idx) ? "[...]" : "{ ... }";
	case LUA_TFUNCTION: return "[function]";
	default: return luaL_typename(L, idx);
	}
}

static int is_null(lua_State *L, int idx)
{
	/* json.null is a light userdata: null like nil */
	return lua_isnil(L, idx) || lua_type(L, idx) == LUA_TLIGHTUSERDATA;
}

static void set_raw(struct gql_exec *e, struct rnode *slot, const char *s, size_t n, int copy)
{
	slot->kind = RN_RAW;
	slot->u.raw.s = copy ? arena_strndup(&e->arena, s, n) : s;
	slot->u.raw.n = n;
	if (!slot->u.raw.s)
		e->fatal = 1;
}

static void set_jbuf(struct gql_exec *e, struct rnode *slot, struct jbuf *b)
{
	if (b->oom)
		e->fatal = 1;
	else
		set_raw(e, slot, b->p, b->n, 1);
	free(b->p);
}

static void leaf_error(struct gql_exec *e, const struct cfield *cf, struct rnode *slot,
                       const char *msg)
{
	gql_field_error(e, cf, slot, msg, NULL);
	gql_null_out(e, slot);
}

/* Parses a whole string as a number, as JavaScript's Number(s). */
static int str_number(const char *s, size_t n, double *d)
{
	char *end;

	if (!n)
		return 0;
	*d = strtod(s, &end);
	while (end < s + n && (*end == ' ' || *end == '\t' || *end == '\n'))
		end++;
	return end == s + n;
}

static void complete_leaf(struct gql_exec *e, const struct cfield *cf, const struct gql_stype *t,
                          lua_State *L, int idx, struct rnode *slot)
{
	struct jbuf b = { 0 };
	int ty = lua_type(L, idx);
	const char *n = t->name;

	if (t->kind == GQL_ENUM) {
		if (ty == LUA_TSTRING) {
			const char *s = lua_tostring(L, idx);

			for (unsigned i = 0; i < t->n_values; i++) {
				if (!strcmp(t->values[i].name, s)) {
					jb_cstr(&b, t->values[i].name);
					set_jbuf(e, slot, &b);
					return;
				}
			}
		}
		leaf_error(e, cf, slot, gql_fmt(&e->arena, "Enum \"%s\" cannot represent value: %s", n,
		                                inspect_lua(e, L, idx)));
		return;
	}
	if (!strcmp(n, "Int") || !strcmp(n, "Float")) {
		int is_int = n[0] == 'I';
		double d = 0;

		if (ty == LUA_TNUMBER) {
			if (lua_isinteger(L, idx)) {
				lua_Integer i = lua_tointeger(L, idx);

				if (is_int && (i < -2147483648LL || i > 2147483647LL))
					goto range;
				jb_fmt(&b, "%lld", (long long)i);
				set_jbuf(e, slot, &b);
				return;
			}
			d = lua_tonumber(L, idx);
		} else if (ty == LUA_TBOOLEAN) {
			d = lua_toboolean(L, idx);
		} else if (ty == LUA_TSTRING) {
			size_t sl;
			const char *s = lua_tolstring(L, idx, &sl);

			if (!str_number(s, sl, &d))
				goto bad;
		} else {
			goto bad;
		}
		if (!isfinite(d))
			goto bad;
		if (is_int) {
			if (d != floor(d))
				goto bad;
			if (d < -2147483648.0 || d > 2147483647.0)
				goto range;
		}
		jb_num(&b, d);
		set_jbuf(e, slot, &b);
		return;
bad:
		leaf_error(e, cf, slot, gql_fmt(&e->arena, is_int ?
		           "Int cannot represent non-integer value: %s" :
		           "Float cannot represent non numeric value: %s", inspect_lua(e, L, idx)));
		return;
range:
		leaf_error(e, cf, slot, gql_fmt(&e->arena, "Int cannot represent non 32-bit signed "
		           "integer value: %s", inspect_lua(e, L, idx)));
		return;
	}
	if (!strcmp(n, "String") || !strcmp(n, "ID")) {
		int id = n[0] == 'I';

		if (ty == LUA_TSTRING) {
			size_t sl;
			const char *s = lua_tolstring(L, idx, &sl);

			jb_str(&b, s, sl);
		} else if (ty == LUA_TNUMBER && lua_isinteger(L, idx)) {
			jb_fmt(&b, "\"%lld\"", (long long)lua_tointeger(L, idx));
		} else if (ty == LUA_TNUMBER && (!id || lua_tonumber(L, idx) ==
		                                 floor(lua_tonumber(L, idx))) &&
		           isfinite(lua_tonumber(L, idx))) {
			jb_putc(&b, '"');
			jb_num(&b, lua_tonumber(L, idx));
			jb_putc(&b, '"');
		} else if (ty == LUA_TBOOLEAN && !id) {
			jb_cstr(&b, lua_toboolean(L, idx) ? "true" : "false");
		} else {
			leaf_error(e, cf, slot, gql_fmt(&e->arena, "%s cannot represent value: %s", n,
			                                inspect_lua(e, L, idx)));
			return;
		}
		set_jbuf(e, slot, &b);
		return;
	}
	if (!strcmp(n, "Boolean")) {
		if (ty == LUA_TBOOLEAN)
			set_raw(e, slot, lua_toboolean(L, idx) ? "true" : "false",
			        lua_toboolean(L, idx) ? 4 : 5, 0);
		else if (ty == LUA_TNUMBER && isfinite(lua_tonumber(L, idx)))
			set_raw(e, slot, lua_tonumber(L, idx) != 0 ? "true" : "false",
			        lua_tonumber(L, idx) != 0 ? 4 : 5, 0);
		else
			leaf_error(e, cf, slot, gql_fmt(&e->arena, "Boolean cannot represent a non "
			           "boolean value: %s", inspect_lua(e, L, idx)));
		return;
	}
	/* a custom scalar: the value as JSON */
	if (jb_lua(&b, L, idx, 0) != 0) {
		free(b.p);
		leaf_error(e, cf, slot, gql_fmt(&e->arena, "Expected a value of type \"%s\" but "
		           "received: %s", n, inspect_lua(e, L, idx)));
		return;
	}
	set_jbuf(e, slot, &b);
}

/* The object type an abstract type's value resolves to, or NULL (error set). */
static const struct gql_stype *resolve_type(struct gql_exec *e, const struct cfield *cf,
                                            const struct gql_stype *abs, lua_State *L, int idx,
                                            struct rnode *slot)
{
	const struct gql_stype *t;
	const char *name = NULL;

	if (lua_type(L, idx) == LUA_TTABLE) {
		lua_pushliteral(L, "__typename");
		if (lua_rawget(L, idx) == LUA_TSTRING)
			name = arena_strdup(&e->arena, lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	if (!name) {
		push_stored(e, L, V_RESOLVERS);
		if (lua_istable(L, -1)) {
			lua_pushstring(L, abs->name);
			if (lua_rawget(L, -2) == LUA_TTABLE) {
				lua_pushliteral(L, "__resolveType");
				if (lua_rawget(L, -2) == LUA_TFUNCTION) {
					lua_pushvalue(L, idx);
					push_stored(e, L, V_CTX);
					lua_pushstring(L, abs->name);
					if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
						const char *m = lua_tostring(L, -1);

						gql_field_error(e, cf, slot, gql_fmt(&e->arena, "%s",
						                m ? m : "__resolveType failed"), NULL);
						lua_pop(L, 3);
						gql_null_out(e, slot);
						return NULL;
					}
					if (lua_type(L, -1) == LUA_TSTRING)
						name = arena_strdup(&e->arena, lua_tostring(L, -1));
				}
				lua_pop(L, 1);
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	if (!name) {
		gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Abstract type \"%s\" must resolve to "
		                "an Object type at runtime for field \"%s.%s\". Either the \"%s\" type "
		                "should provide a \"resolveType\" function or each possible type should "
		                "provide an \"isTypeOf\" function.", abs->name, cf->parent->name,
		                cf->def->name, abs->name), NULL);
		gql_null_out(e, slot);
		return NULL;
	}
	t = gql_schema_type(e->s, name);
	if (!t) {
		gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Abstract type \"%s\" was resolved to "
		                "a type \"%s\" that does not exist inside the schema.", abs->name,
		                name), NULL);
	} else if (t->kind != GQL_OBJECT) {
		gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Abstract type \"%s\" was resolved to "
		                "a non-object type \"%s\".", abs->name, name), NULL);
		t = NULL;
	} else if (!gql_is_possible(abs, t)) {
		gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Runtime Object type \"%s\" is not a "
		                "possible type for \"%s\".", name, abs->name), NULL);
		t = NULL;
	}
	if (!t)
		gql_null_out(e, slot);
	return t;
}

/* Completes the Lua value at IDX of L as type T into SLOT (6.4.3 CompleteValue). */
static void complete(struct gql_exec *e, struct cfield *cf, const struct gql_tref *t,
                     lua_State *L, int idx, struct rnode *slot, int depth)
{
	const struct gql_stype *nt;

	idx = lua_absindex(L, idx);
	if (!slot || e->fatal)
		return;
	if (t->kind == GQL_TYPE_NON_NULL) {
		if (is_null(L, idx)) {
			gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Cannot return null for "
			                "non-nullable field %s.%s.", cf->parent->name, cf->def->name),
			                NULL);
			gql_null_out(e, slot);
			return;
		}
		t = t->of;
	}
	if (is_null(L, idx)) {
		slot->kind = RN_NULL;
		return;
	}
	if (t->kind == GQL_TYPE_LIST) {
		size_t n;
		const struct gql_tref *of = t->of;

		if (lua_type(L, idx) != LUA_TTABLE || depth > 64) {
			gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Expected Iterable, but did not "
			                "find one for field \"%s.%s\".", cf->parent->name, cf->def->name),
			                NULL);
			gql_null_out(e, slot);
			return;
		}
		n = lua_rawlen(L, idx);
		slot->kind = slot->shape = RN_LIST;
		slot->u.list.n = (unsigned)n;
		if (!(slot->u.list.v = arena_alloc(&e->arena, (n + 1) * sizeof(struct rnode *)))) {
			e->fatal = 1;
			return;
		}
		if (!lua_checkstack(L, 4)) {
			e->fatal = 1;
			return;
		}
		for (size_t i = 0; i < n && slot->kind == RN_LIST; i++) {
			struct rnode *item = gql_rnode(e, slot, (unsigned)i,
			                               of->kind == GQL_TYPE_NON_NULL);

			slot->u.list.v[i] = item;
			lua_rawgeti(L, idx, (lua_Integer)i + 1);
			complete(e, cf, of, L, -1, item, depth + 1);
			lua_pop(L, 1);
		}
		return;
	}
	nt = t->named;
	if (nt->kind == GQL_SCALAR || nt->kind == GQL_ENUM) {
		complete_leaf(e, cf, nt, L, idx, slot);
		return;
	}
	if (nt->kind == GQL_INTERFACE || nt->kind == GQL_UNION) {
		if (!(nt = resolve_type(e, cf, nt, L, idx, slot)))
			return;
	}
	if (nt->kind != GQL_OBJECT) {
		leaf_error(e, cf, slot, "the schema names an input type as a field's type");
		return;
	}
	{
		const struct plan *p = gql_subplan(e, cf, nt);
		int vidx;

		if (!p)
			return;
		slot->kind = slot->shape = RN_OBJ;
		slot->u.obj.plan = p;
		if (!(slot->u.obj.v = arena_calloc(&e->arena, (p->n + 1) * sizeof(struct rnode *)))) {
			e->fatal = 1;
			return;
		}
		lua_pushvalue(L, idx);
		vidx = store_value(e, L);
		tasks_push(e, &e->next, slot, vidx, p, 0, p->n);
	}
}

/* ---- calling resolvers -------------------------------------------------------- */

/* A resolver call that waits: what to complete when it ends. */
struct pcall {
	struct gql_exec *e;
	struct cfield *cf;
	lua_State *co;
	struct rnode *slot;         /* one parent */
	struct bentry *bq;          /* batched parents */
	unsigned n_bq;
};

/* A resolver's error value (on top of CO) as a message and extensions. */
static void error_of(struct gql_exec *e, lua_State *co, const char **msg, const char **ext)
{
	*msg = NULL;
	*ext = NULL;
	if (lua_type(co, -1) == LUA_TTABLE) {
		lua_getfield(co, -1, "message");
		if (lua_type(co, -1) == LUA_TSTRING)
			*msg = arena_strdup(&e->arena, lua_tostring(co, -1));
		lua_pop(co, 1);
		if (lua_getfield(co, -1, "extensions") == LUA_TTABLE) {
			struct jbuf b = { 0 };

			if (jb_lua(&b, co, -1, 0) == 0 && !b.oom)
				*ext = arena_strndup(&e->arena, b.p, b.n);
			free(b.p);
		}
		lua_pop(co, 1);
	} else if (lua_type(co, -1) == LUA_TSTRING) {
		const char *m = lua_tostring(co, -1), *p = m;

		/* "file.lua:12: message": the client gets the message only */
		while (*p && *p != ':' && *p != '\n')
			p++;
		if (*p == ':' && p[1] >= '0' && p[1] <= '9') {
			const char *q = p + 1;

			while (*q >= '0' && *q <= '9')
				q++;
			if (q[0] == ':' && q[1] == ' ')
				m = q + 2;
		}
		*msg = arena_strdup(&e->arena, m);
	}
	if (!*msg)
		*msg = "resolver failed";
}

/*
 * Completes the value at IDX on L as CF's value in SLOT; in SOURCE mode the
 * root field's value is kept as it is instead (the subscription's source).
 */
static void complete_field(struct gql_exec *e, struct cfield *cf, lua_State *L, int idx,
                           struct rnode *slot)
{
	if (e->req.mode == GQL_EXEC_SOURCE && slot->parent == e->root) {
		lua_pushvalue(L, idx);
		if (e->result.source_ref != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, e->result.source_ref);
		e->result.source_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		return;
	}
	complete(e, cf, cf->def->type, L, idx, slot, 0);
}

/* A resolver ended: STATUS and NRES results on CO. Runs protected. */
static void resolved(struct gql_exec *e, struct pcall *pc, int status, int nres)
{
	lua_State *co = pc->co, *L = e->L;
	struct cfield *cf = pc->cf;

	if (status != LUA_OK) {
		const char *msg, *ext;

		error_of(e, co, &msg, &ext);
		if (pc->bq) {
			for (unsigned i = 0; i < pc->n_bq; i++) {
				if (dead(pc->bq[i].slot->parent))
					continue;
				gql_field_error(e, cf, pc->bq[i].slot, msg, ext);
				gql_null_out(e, pc->bq[i].slot);
			}
		} else {
			gql_field_error(e, cf, pc->slot, msg, ext);
			gql_null_out(e, pc->slot);
		}
		lua_settop(co, 0);   /* a coroutine that raised is dead: not given back */
		return;
	}
	if (nres > 0)
		lua_settop(co, lua_gettop(co) - nres + 1);
	else
		lua_pushnil(co);
	lua_xmove(co, L, 1);
	co_give(e, co);
	if (!pc->bq) {
		complete_field(e, cf, L, -1, pc->slot);
	} else if (lua_type(L, -1) != LUA_TTABLE) {
		const char *msg = gql_fmt(&e->arena, "the batch resolver of %s.%s returned a %s, not a "
		                          "list of %u values", cf->parent->name, cf->def->name,
		                          luaL_typename(L, -1), pc->n_bq);

		for (unsigned i = 0; i < pc->n_bq; i++) {
			gql_field_error(e, cf, pc->bq[i].slot, msg, NULL);
			gql_null_out(e, pc->bq[i].slot);
		}
	} else {
		for (unsigned i = 0; i < pc->n_bq; i++) {
			if (dead(pc->bq[i].slot->parent))
				continue;
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			complete_field(e, cf, L, -1, pc->bq[i].slot);
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
}

/* Runs FN(E, UD) under lua_pcall on E's state. */
static int prot(struct gql_exec *e, void (*fn)(struct gql_exec *, void *), void *ud);

struct done_args {
	struct pcall *pc;
	int status, nres;
};

static void resolved_p(struct gql_exec *e, void *ud)
{
	struct done_args *d = ud;

	resolved(e, d->pc, d->status, d->nres);
}

/* A waiting resolver ended (called by the core, on the worker). */
static void task_done(lua_State *co, int status, int nres, void *ud)
{
	struct pcall *pc = ud;
	struct gql_exec *e = pc->e;
	struct done_args d = { pc, status, nres };

	(void)co;
	e->pending--;
	if (!e->finished)
		prot(e, resolved_p, &d);
	run(e);
}

/*
 * Calls the function on top of L with (parent, args, ctx, info) in a
 * coroutine: PARENT is a value index, or the parents table on L under the
 * function for a batch. Pops the function (and the parents table).
 */
static void call(struct gql_exec *e, struct cfield *cf, struct rnode *slot, int parent_vidx,
                 struct bentry *bq, unsigned n_bq)
{
	lua_State *L = e->L, *co = co_take(e);
	struct pcall *pc = arena_calloc(&e->arena, sizeof(*pc));
	int st, nres = 0;

	if (!pc || !co) {
		e->fatal = 1;
		lua_pop(L, bq ? 2 : 1);
		return;
	}
	*pc = (struct pcall){ e, cf, co, slot, bq, n_bq };
	if (bq) {
		lua_xmove(L, co, 2);   /* function, parents */
	} else {
		lua_xmove(L, co, 1);
		push_stored(e, co, parent_vidx);
	}
	if (cf->args_ref == 0) {
		gv_push(co, cf->args);
		lua_pushvalue(co, -1);
		lua_xmove(co, L, 1);
		cf->args_ref = store_value(e, L);
	} else {
		push_stored(e, co, cf->args_ref);
	}
	push_stored(e, co, V_CTX);
	push_info(e, co, cf, bq ? bq[0].slot : slot);
	st = e->req.api->lua_task_resume(e->req.x, co, 4, &nres, task_done, pc);
	if (st == LUA_YIELD) {
		e->pending++;
		return;
	}
	resolved(e, pc, st, nres);
}

/* Runs the fields F0..F1 of the object task T. */
static void run_object(struct gql_exec *e, const struct otask *t)
{
	lua_State *L = e->L;
	const struct plan *p = t->plan;

	for (unsigned i = t->f0; i < t->f1 && !e->fatal; i++) {
		struct cfield *cf = &p->f[i];
		struct rnode *slot;

		if (t->obj->kind != RN_OBJ)
			return;   /* an earlier field nulled this object */
		slot = gql_rnode(e, t->obj, i, cf->def->type->kind == GQL_TYPE_NON_NULL);
		t->obj->u.obj.v[i] = slot;
		if (!slot)
			return;
		if (cf->meta == META_TYPENAME) {
			struct jbuf b = { 0 };

			jb_cstr(&b, p->type->name);
			set_jbuf(e, slot, &b);
			continue;
		}
		if (cf->meta) {
			gql_intro_field(e, cf, slot);
			continue;
		}
		if (e->req.mode == GQL_EXEC_EVENT && t->obj == e->root) {
			push_stored(e, L, V_EVENT);
			complete(e, cf, cf->def->type, L, -1, slot, 0);
			lua_pop(L, 1);
			continue;
		}
		if (!cf->resolver_looked)
			find_resolver(e, cf);
		if (gql_coerce_field_args(e, cf) < 0) {
			gql_field_error(e, cf, slot, cf->args_err, NULL);
			gql_null_out(e, slot);
			continue;
		}
		if (cf->batch) {
			if (grow(&e->arena, (void **)&cf->bq, &cf->cap_bq, cf->n_bq, sizeof(*cf->bq))) {
				e->fatal = 1;
				return;
			}
			cf->bq[cf->n_bq++] = (struct bentry){ slot, t->vidx };
			if (!cf->bqueued) {
				cf->bqueued = 1;
				cf->bnext = e->batched;
				e->batched = cf;
			}
			continue;
		}
		if (cf->resolver) {
			push_stored(e, L, cf->resolver);
			call(e, cf, slot, t->vidx, NULL, 0);
			continue;
		}
		/* the default resolver: parent[fieldName], a method when a function */
		push_stored(e, L, t->vidx);
		if (lua_type(L, -1) == LUA_TTABLE) {
			lua_pushstring(L, cf->def->name);
			lua_rawget(L, -2);
		} else {
			lua_pushnil(L);
		}
		lua_remove(L, -2);
		if (lua_type(L, -1) == LUA_TFUNCTION) {
			call(e, cf, slot, t->vidx, NULL, 0);
			continue;
		}
		complete_field(e, cf, L, -1, slot);
		lua_pop(L, 1);
	}
}

static void run_batches(struct gql_exec *e)
{
	lua_State *L = e->L;

	while (e->batched && !e->fatal) {
		struct cfield *cf = e->batched;
		struct bentry *bq;
		unsigned n = 0;

		e->batched = cf->bnext;
		cf->bqueued = 0;
		/* parents whose object was nulled meanwhile are left out */
		bq = arena_alloc(&e->arena, (cf->n_bq + 1) * sizeof(*bq));
		if (!bq) {
			e->fatal = 1;
			return;
		}
		for (unsigned i = 0; i < cf->n_bq; i++)
			if (!dead(cf->bq[i].slot->parent))
				bq[n++] = cf->bq[i];
		cf->n_bq = 0;
		if (!n)
			continue;
		push_stored(e, L, cf->resolver);
		lua_createtable(L, (int)n, 0);
		push_values(e, L);
		for (unsigned i = 0; i < n; i++) {
			lua_rawgeti(L, -1, bq[i].vidx);
			lua_rawseti(L, -3, (lua_Integer)i + 1);
		}
		lua_pop(L, 1);
		call(e, cf, NULL, 0, bq, n);
	}
}

/* One level: every task of e->cur, then the batches it queued. */
static void level_p(struct gql_exec *e, void *ud)
{
	(void)ud;
	for (unsigned i = 0; i < e->cur.n && !e->fatal; i++) {
		const struct otask *t = &e->cur.t[i];

		if (!dead(t->obj))
			run_object(e, t);
	}
	e->cur.n = 0;
	run_batches(e);
}

struct prot_args {
	struct gql_exec *e;
	void (*fn)(struct gql_exec *, void *);
	void *ud;
};

static int prot_tramp(lua_State *L)
{
	struct prot_args *a = lua_touserdata(L, 1);

	lua_pop(L, 1);
	a->fn(a->e, a->ud);
	return 0;
}

static int prot(struct gql_exec *e, void (*fn)(struct gql_exec *, void *), void *ud)
{
	struct prot_args a = { e, fn, ud };
	lua_State *L = e->L;
	int top = lua_gettop(L);

	if (!lua_checkstack(L, 8)) {
		e->fatal = 1;
		return -1;
	}
	lua_pushcfunction(L, prot_tramp);
	lua_pushlightuserdata(L, &a);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		e->req.api->log(NULL, PT_LOG_ERROR, "graphql: executing: %s",
		                lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
		e->fatal = 1;
	}
	lua_settop(L, top);
	return e->fatal ? -1 : 0;
}

/* ---- the response ----------------------------------------------------------- */

static void write_node(struct jbuf *b, const struct rnode *n)
{
	if (!n || n->kind == RN_NULL) {
		jb_put(b, "null", 4);
		return;
	}
	switch (n->kind) {
	case RN_RAW:
		jb_put(b, n->u.raw.s, n->u.raw.n);
		return;
	case RN_LIST:
		jb_putc(b, '[');
		for (unsigned i = 0; i < n->u.list.n; i++) {
			if (i)
				jb_putc(b, ',');
			write_node(b, n->u.list.v[i]);
		}
		jb_putc(b, ']');
		return;
	case RN_OBJ:
		jb_putc(b, '{');
		for (unsigned i = 0; i < n->u.obj.plan->n; i++) {
			if (i)
				jb_putc(b, ',');
			jb_cstr(b, n->u.obj.plan->f[i].key);
			jb_putc(b, ':');
			write_node(b, n->u.obj.v[i]);
		}
		jb_putc(b, '}');
		return;
	}
}

static void write_errors(struct gql_exec *e, struct jbuf *b)
{
	unsigned max = e->req.max_errors ? e->req.max_errors : 100;

	jb_put(b, "\"errors\":[", 10);
	for (struct gerr *g = e->errs; g; g = g->next) {
		if (g != e->errs)
			jb_putc(b, ',');
		jb_put(b, "{\"message\":", 11);
		jb_cstr(b, g->msg);
		if (g->cf) {
			jb_put(b, ",\"locations\":[", 14);
			for (unsigned i = 0; i < g->cf->n_nodes; i++)
				jb_fmt(b, "%s{\"line\":%u,\"column\":%u}", i ? "," : "",
				       g->cf->nodes[i]->line, g->cf->nodes[i]->column);
			jb_putc(b, ']');
		} else if (g->line) {
			jb_fmt(b, ",\"locations\":[{\"line\":%u,\"column\":%u}]", g->line, g->col);
		}
		if (g->at) {
			struct pseg segs[256];
			unsigned n = path_of(g->at, segs, 256);

			jb_put(b, ",\"path\":[", 9);
			for (unsigned i = 0; i < n; i++) {
				if (i)
					jb_putc(b, ',');
				if (segs[i].key)
					jb_cstr(b, segs[i].key);
				else
					jb_fmt(b, "%u", segs[i].idx);
			}
			jb_putc(b, ']');
		}
		if (g->ext) {
			jb_put(b, ",\"extensions\":", 14);
			jb_put(b, g->ext, strlen(g->ext));
		}
		jb_putc(b, '}');
	}
	if (e->nerrs > max)
		jb_fmt(b, ",{\"message\":\"Too many errors processing request, error limit "
		       "reached. Execution aborted.\"}");
	jb_putc(b, ']');
}

static void finish(struct gql_exec *e)
{
	struct jbuf *b = &e->out;

	if (e->finished)
		return;
	e->finished = 1;
	b->n = 0;
	if (e->fatal) {
		jb_put(b, "{\"errors\":[{\"message\":\"Internal server error.\"}]}", 49);
		e->result.internal = 1;
	} else {
		jb_putc(b, '{');
		if (e->errs)
			write_errors(e, b);
		if (e->root && e->req.mode != GQL_EXEC_SOURCE) {
			if (e->errs)
				jb_putc(b, ',');
			jb_put(b, "\"data\":", 7);
			write_node(b, e->root);
		}
		jb_putc(b, '}');
		e->result.has_data = e->root != NULL && e->req.mode != GQL_EXEC_SOURCE;
		if (b->oom) {
			b->oom = 0;
			b->n = 0;
			jb_put(b, "{\"errors\":[{\"message\":\"Internal server error.\"}]}", 49);
			e->result.internal = 1;
			e->result.has_data = 0;
		}
	}
	e->result.json = b->p;
	e->result.len = b->n;
	e->running = 0;
	e->req.done(e, &e->result, e->req.ud);   /* may free E */
}

/* Runs levels until one waits or all are done. May free E (via finish). */
static void run(struct gql_exec *e)
{
	if (e->running || e->finished)
		return;
	e->running = 1;
	for (;;) {
		if (e->fatal) {
			finish(e);
			return;
		}
		if (e->pending)
			break;
		if (e->cur.n == 0) {
			if (e->next.n) {
				struct tasks t = e->cur;

				e->cur = e->next;
				e->next = t;
				e->next.n = 0;
			} else if (e->op->operation == GQL_OP_MUTATION && e->root &&
			           e->root->kind == RN_OBJ && e->root_next < e->root_plan->n) {
				/* mutations: one top-level field, all its levels, then the next */
				tasks_push(e, &e->cur, e->root, V_ROOT, e->root_plan, e->root_next,
				           e->root_next + 1);
				e->root_next++;
			} else {
				finish(e);
				return;
			}
		}
		prot(e, level_p, NULL);
	}
	e->running = 0;
}

/* ---- start ---------------------------------------------------------------------- */

/* The values table: ctx (argument 2), the root value, the resolvers. */
static int start_tramp(lua_State *L)
{
	struct gql_exec *e = lua_touserdata(L, 1);

	lua_createtable(L, 64, 0);
	if (lua_istable(L, 2))
		lua_pushvalue(L, 2);
	else
		lua_newtable(L);
	lua_rawseti(L, -2, V_CTX);
	lua_newtable(L);                              /* the root value */
	lua_rawseti(L, -2, V_ROOT);
	lua_getfield(L, LUA_REGISTRYINDEX, K_RESOLVERS);
	lua_rawseti(L, -2, V_RESOLVERS);
	lua_pushvalue(L, 3);                          /* the event, or nil */
	lua_rawseti(L, -2, V_EVENT);
	e->nvals = V_EVENT;
	e->vref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

static int start_values(struct gql_exec *e)
{
	lua_State *L = e->L;
	int top = lua_gettop(L);

	if (!lua_checkstack(L, 8))
		return -1;
	lua_pushcfunction(L, start_tramp);
	lua_pushlightuserdata(L, e);
	if (e->req.ctx_index)
		lua_pushvalue(L, e->req.ctx_index);
	else
		lua_pushnil(L);
	if (e->req.mode == GQL_EXEC_EVENT && e->req.event_index)
		lua_pushvalue(L, e->req.event_index);
	else
		lua_pushnil(L);
	if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
		lua_settop(L, top);
		return -1;
	}
	return 0;
}

int gql_exec_start(const struct gql_exec_req *req)
{
	struct gql_exec *e = calloc(1, sizeof(*e));
	const struct gql_stype *root_type;
	const char *msg = NULL;
	unsigned line = 0, col = 0;

	if (!e)
		return -1;
	e->req = *req;
	e->s = req->schema;
	e->L = req->L;
	e->vref = LUA_NOREF;
	e->result.source_ref = LUA_NOREF;
	e->errs_tail = &e->errs;
	arena_init(&e->arena, 16384);
	if (req->ctx_index)
		e->req.ctx_index = lua_absindex(req->L, req->ctx_index);
	if (req->event_index)
		e->req.event_index = lua_absindex(req->L, req->event_index);
	e->op = gql_exec_operation(req->doc, req->operation_name, &msg);
	if (!e->op) {
		request_error(e, msg ? msg : gql_fmt(&e->arena, "Unknown operation named \"%s\".",
		                                     req->operation_name), 0, 0);
		finish(e);
		return 0;
	}
	root_type = e->op->operation == GQL_OP_QUERY ? e->s->query :
	            e->op->operation == GQL_OP_MUTATION ? e->s->mutation : e->s->subscription;
	if (!root_type) {
		request_error(e, gql_fmt(&e->arena, "Schema is not configured to execute %s "
		              "operation.", op_name(e->op)), e->op->line, e->op->column);
		finish(e);
		return 0;
	}
	if (index_fragments(e) != 0 ||
	    gql_coerce_variables(&e->arena, e->s, e->op, req->variables, &e->vars, &msg, &line,
	                         &col) != 0) {
		if (msg)
			request_error(e, msg, line, col);
		else
			e->fatal = 1;
		finish(e);
		return 0;
	}
	if (start_values(e) != 0) {
		e->fatal = 1;
		finish(e);
		return 0;
	}
	{
		const struct gql_selection_set *set = e->op->selection_set;

		e->root_plan = gql_plan_build(e, root_type, &set, 1);
	}
	e->root = gql_rnode(e, NULL, 0, false);
	if (!e->root_plan || !e->root ||
	    !(e->root->u.obj.v = arena_calloc(&e->arena, (e->root_plan->n + 1) *
	                                      sizeof(struct rnode *)))) {
		e->fatal = 1;
		finish(e);
		return 0;
	}
	e->root->kind = e->root->shape = RN_OBJ;
	e->root->u.obj.plan = e->root_plan;
	if (e->op->operation != GQL_OP_MUTATION)
		tasks_push(e, &e->cur, e->root, V_ROOT, e->root_plan, 0, e->root_plan->n);
	run(e);
	return 0;
}

void gql_exec_free(struct gql_exec *e)
{
	if (!e)
		return;
	if (e->vref != LUA_NOREF && e->L)
		luaL_unref(e->L, LUA_REGISTRYINDEX, e->vref);
	if (e->result.source_ref != LUA_NOREF && e->L)
		luaL_unref(e->L, LUA_REGISTRYINDEX, e->result.source_ref);
	free(e->out.p);
	arena_close(&e->arena);
	free(e);
}
