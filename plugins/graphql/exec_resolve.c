/*
 * exec_resolve.c - calling resolvers: the values table that keeps the
 * execution's Lua values, finding a field's resolver, the coroutine pool,
 * the info table, and a call from its start to the completion of what it
 * returned (or of its error).
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "exec_priv.h"

#define K_BATCH_MT "graphql.batch"

/* ---- Lua: the values table, resolvers, coroutines ------------------------ */

/* Pushes the values table: a copy of it while a level runs, where every
 * value of the level is read from or stored into it. [-0, +1, -] */
void gqlx_push_values(struct gql_exec *e, lua_State *L)
{
	if (L == e->L && e->vtop)
		lua_pushvalue(L, e->vtop);
	else
		lua_rawgeti(L, LUA_REGISTRYINDEX, e->vref);
}

/* Stores the value at the top of L in the values table; pops it. */
int gqlx_store_value(struct gql_exec *e, lua_State *L)
{
	if (L == e->L && e->vtop) {
		lua_rawseti(L, e->vtop, ++e->nvals);
		return e->nvals;
	}
	gqlx_push_values(e, L);
	lua_insert(L, -2);
	lua_rawseti(L, -2, ++e->nvals);
	lua_pop(L, 1);
	return e->nvals;
}

void gqlx_push_stored_slow(struct gql_exec *e, lua_State *L, int idx)
{
	gqlx_push_values(e, L);
	lua_rawgeti(L, -1, idx);
	lua_remove(L, -2);
}

void gqlx_push_name(struct gql_exec *e, lua_State *L, struct cfield *cf, int key)
{
	int *ref = key ? &cf->key_ref : &cf->name_ref;

	if (*ref) {
		gqlx_push_stored(e, L, *ref);
		return;
	}
	lua_pushstring(L, key ? cf->key : cf->def->name);
	lua_pushvalue(L, -1);
	*ref = gqlx_store_value(e, L);
}

/*
 * How many of (parent, args, ctx, info) the function on top of L can see:
 * its fixed parameters, or all four for a vararg or C function. A Lua
 * function declared with fewer drops the others on entry, so they need not
 * be made (most resolvers never take info). [-0, +0, -]
 */
int gqlx_nargs(lua_State *L)
{
	lua_Debug ar;

	lua_pushvalue(L, -1);
	if (!lua_getinfo(L, ">u", &ar) || ar.isvararg || ar.nparams > 4)
		return 4;
	return ar.nparams;
}

void gqlx_find_resolver(struct gql_exec *e, struct cfield *cf)
{
	lua_State *L = e->L;
	int top = lua_gettop(L);

	cf->resolver_looked = 1;
	gqlx_push_stored(e, L, V_RESOLVERS);
	if (!lua_istable(L, -1))
		goto out;
	lua_pushstring(L, cf->parent->name);
	if (lua_rawget(L, -2) != LUA_TTABLE)
		goto out;
	lua_pushstring(L, cf->def->name);
	switch (lua_rawget(L, -2)) {
	case LUA_TFUNCTION:
		cf->nargs = gqlx_nargs(L);
		cf->resolver = gqlx_store_value(e, L);
		break;
	case LUA_TTABLE:   /* graphql.batch(fn) */
		if (lua_getmetatable(L, -1)) {
			luaL_getmetatable(L, K_BATCH_MT);
			if (lua_rawequal(L, -1, -2) && lua_rawgeti(L, -3, 1) == LUA_TFUNCTION) {
				cf->nargs = gqlx_nargs(L);
				cf->resolver = gqlx_store_value(e, L);
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

lua_State *gqlx_co_take(struct gql_exec *e)
{
	lua_State *co;

	if (e->npool) {
		e->npool--;
		return e->pool[e->npool].co;
	}
	co = lua_newthread(e->L);
	gqlx_store_value(e, e->L);   /* the values table keeps it alive */
	return co;
}

void gqlx_co_give(struct gql_exec *e, lua_State *co)
{
	lua_settop(co, 0);
	if (e->npool < sizeof(e->pool) / sizeof(e->pool[0]))
		e->pool[e->npool++].co = co;
}

/* The path of AT, for errors and info.path: segments in order. */
unsigned gqlx_path_of(const struct rnode *at, struct pseg *out, unsigned cap)
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

const char *gqlx_op_name(const struct gql_definition *op)
{
	return op->operation == GQL_OP_MUTATION ? "mutation" :
	       op->operation == GQL_OP_SUBSCRIPTION ? "subscription" : "query";
}

/*
 * What the info tables of CF's calls share (fieldName, parentType,
 * returnType, operation, operationName, context), made once per request
 * and field: their metatable, its own __index. [-0, +1, m]
 */
static void push_info_base(struct gql_exec *e, lua_State *L, struct cfield *cf)
{
	char tbuf[256];

	if (cf->info_ref) {
		gqlx_push_stored(e, L, cf->info_ref);
		return;
	}
	lua_createtable(L, 0, 7);
	gqlx_push_name(e, L, cf, 0);
	lua_setfield(L, -2, "fieldName");
	lua_pushstring(L, cf->parent->name);
	lua_setfield(L, -2, "parentType");
	gql_tref_print(cf->def->type, tbuf, sizeof(tbuf));
	lua_pushstring(L, tbuf);
	lua_setfield(L, -2, "returnType");
	lua_pushstring(L, gqlx_op_name(e->op));
	lua_setfield(L, -2, "operation");
	if (e->op->name.value) {
		lua_pushstring(L, e->op->name.value);
		lua_setfield(L, -2, "operationName");
	}
	gqlx_push_stored(e, L, V_CTX);
	lua_setfield(L, -2, "context");
	lua_pushvalue(L, -1);
	lua_setfield(L, -2, "__index");
	lua_pushvalue(L, -1);
	cf->info_ref = gqlx_store_value(e, L);
}

/*
 * The resolver's info table for a call at SLOT: its own path (keys from
 * the values table, indexes 0-based), the rest from push_info_base through
 * its metatable. [-0, +1, m]
 */
static void push_info(struct gql_exec *e, lua_State *L, struct cfield *cf,
                      const struct rnode *slot)
{
	const struct rnode *r;
	unsigned n = 0;

	for (r = slot; r && r->parent; r = r->parent)
		n++;
	lua_createtable(L, 0, 1);
	lua_createtable(L, (int)n, 0);
	for (r = slot; r && r->parent; r = r->parent) {
		const struct rnode *p = r->parent;

		if (p->shape == RN_OBJ)
			gqlx_push_name(e, L, &p->u.obj.plan->f[r->idx], 1);
		else
			lua_pushinteger(L, r->idx);
		lua_rawseti(L, -2, n--);
	}
	lua_setfield(L, -2, "path");
	push_info_base(e, L, cf);
	lua_setmetatable(L, -2);
}

/* ---- calling resolvers -------------------------------------------------------- */

/* A resolver's error value (on top of CO) as a message and extensions. */
static void error_of(struct gql_exec *e, lua_State *co, const char **msg, const char **ext)
{
	*msg = NULL;
	*ext = NULL;
	if (lua_type(co, -1) == LUA_TTABLE) {
		lua_getfield(co, -1, "message");
		if (lua_type(co, -1) == LUA_TSTRING)
			*msg = gql_arena_strdup(&e->arena, lua_tostring(co, -1));
		lua_pop(co, 1);
		if (lua_getfield(co, -1, "extensions") == LUA_TTABLE) {
			struct jbuf b = { 0 };

			if (jb_lua(&b, co, -1, 0) == 0 && !b.oom)
				*ext = gql_arena_strndup(&e->arena, b.p, b.n);
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
		*msg = gql_arena_strdup(&e->arena, m);
	}
	if (!*msg)
		*msg = "resolver failed";
}

/*
 * Completes the value at IDX on L as CF's value in SLOT; in SOURCE mode the
 * root field's value is kept as it is instead (the subscription's source).
 */
void gqlx_complete_field(struct gql_exec *e, struct cfield *cf, lua_State *L, int idx,
                         struct rnode *slot)
{
	if (e->req.mode == GQL_EXEC_SOURCE && slot->parent == e->root) {
		lua_pushvalue(L, idx);
		if (e->result.source_ref != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, e->result.source_ref);
		e->result.source_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		return;
	}
	gqlx_complete(e, cf, cf->def->type, L, idx, slot, 0);
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
				if (gqlx_dead(pc->bq[i].slot->parent))
					continue;
				gql_field_error(e, pc->bq[i].cf, pc->bq[i].slot, msg, ext);
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
	gqlx_co_give(e, co);
	if (!pc->bq) {
		gqlx_complete_field(e, cf, L, -1, pc->slot);
	} else if (lua_type(L, -1) != LUA_TTABLE) {
		const char *msg = gql_fmt(&e->arena, "the batch resolver of %s.%s returned a %s, not a "
		                          "list of %u values", cf->parent->name, cf->def->name,
		                          luaL_typename(L, -1), pc->n_parents);

		for (unsigned i = 0; i < pc->n_bq; i++) {
			if (gqlx_dead(pc->bq[i].slot->parent))
				continue;
			gql_field_error(e, pc->bq[i].cf, pc->bq[i].slot, msg, NULL);
			gql_null_out(e, pc->bq[i].slot);
		}
	} else {
		for (unsigned i = 0; i < pc->n_bq; i++) {
			if (gqlx_dead(pc->bq[i].slot->parent))
				continue;
			lua_rawgeti(L, -1, (lua_Integer)pc->bq[i].pi + 1);
			gqlx_complete_field(e, pc->bq[i].cf, L, -1, pc->bq[i].slot);
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
}

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
void gqlx_task_done(lua_State *co, int status, int nres, void *ud)
{
	struct pcall *pc = ud;
	struct gql_exec *e = pc->e;
	struct done_args d = { pc, status, nres };

	(void)co;
	e->pending--;
	if (!e->finished)
		gqlx_prot(e, resolved_p, &d);
	gqlx_run(e);
}

/* Pushes the first NARGS of (parent, args, ctx, info) for a call on L (the
 * parents table is on L already for a batch). [-0, +nargs, m] */
static void push_args(struct gql_exec *e, lua_State *L, struct cfield *cf, struct rnode *slot,
                      int parent_vidx, struct bentry *bq, int nargs)
{
	if (nargs < 1 && bq)
		lua_pop(L, 1);
	if (nargs >= 1 && !bq)
		gqlx_push_stored(e, L, parent_vidx);
	if (nargs >= 2 && cf->args_ref == 0) {
		gv_push(L, cf->args);
		lua_pushvalue(L, -1);
		cf->args_ref = gqlx_store_value(e, L);
	} else if (nargs >= 2) {
		gqlx_push_stored(e, L, cf->args_ref);
	}
	if (nargs >= 3)
		gqlx_push_stored(e, L, V_CTX);
	if (nargs >= 4)
		push_info(e, L, cf, bq ? bq[0].slot : slot);
}

/*
 * Calls the function on top of L with the first NARGS of (parent, args,
 * ctx, info) (gqlx_nargs) in a coroutine: PARENT is a value index, or the
 * parents table on L under the function for a batch. Pops the function
 * (and the parents table).
 */
void gqlx_call(struct gql_exec *e, struct cfield *cf, struct rnode *slot, int parent_vidx,
               struct bentry *bq, unsigned n_bq, unsigned n_parents, int nargs)
{
	lua_State *L = e->L, *co = gqlx_co_take(e);
	struct pcall *pc = gql_arena_alloc(&e->arena, sizeof(*pc));   /* all set below */
	int st, nres = 0;

	if (!pc || !co) {
		e->fatal = 1;
		lua_pop(L, bq ? 2 : 1);
		return;
	}
	*pc = (struct pcall){ e, cf, co, slot, bq, n_bq, n_parents };
	/* the call's arguments are made on L, where the values table is at
	 * hand, and moved to CO at once */
	if (!lua_checkstack(L, 8)) {
		e->fatal = 1;
		lua_pop(L, bq ? 2 : 1);
		return;
	}
	push_args(e, L, cf, slot, parent_vidx, bq, nargs);
	lua_xmove(L, co, nargs + 1);   /* the function, parent(s), args, ctx, info */
	if (e->req.resume)
		st = e->req.resume(e->req.resume_ud, co, nargs, &nres, gqlx_task_done, pc);
	else
		st = e->req.api->lua_task_resume(e->req.x, co, nargs, &nres, gqlx_task_done, pc);
	if (st == LUA_YIELD) {
		e->pending++;
		return;
	}
	resolved(e, pc, st, nres);
}

/* Where the level's task goes on when the C stack of its loop is gone: the
 * resolver it called waited (the level went on in another task meanwhile),
 * or an error under a pcall inside the call was recovered (Lua unwinds to
 * lua_resume and continues at the pcall's continuation). The task ends
 * with the resolver's value, or raises its error again, for run_level /
 * gqlx_task_done. */
static int direct_k(lua_State *co, int status, lua_KContext ctx)
{
	(void)ctx;
	if (status != LUA_OK && status != LUA_YIELD)
		return lua_error(co);
	return 1;
}

void gqlx_call_direct(struct gql_exec *e, struct cfield *cf, struct rnode *slot, int parent_vidx,
                      int nargs)
{
	lua_State *co = e->L;
	struct pcall *pc = e->run_pc;
	int st;

	if (e->req.api->lua_budget_renew(co) != 0) {
		/* spent by an earlier call (a hook that could not yield raised
		 * inside its pcall): this call starts the level's next task */
		lua_pop(co, 1);
		e->run_fi--;
		e->run_stop = 1;
		return;
	}
	if (!lua_checkstack(co, 8)) {
		e->fatal = 1;
		lua_pop(co, 1);
		return;
	}
	push_args(e, co, cf, slot, parent_vidx, NULL, nargs);
	pc->cf = cf;
	pc->slot = slot;
	e->run_in_call = 1;
	st = lua_pcallk(co, nargs, 1, 0, 0, direct_k);
	e->run_in_call = 0;
	if (st != LUA_OK) {
		const char *msg, *ext;

		error_of(e, co, &msg, &ext);
		gql_field_error(e, cf, slot, msg, ext);
		gql_null_out(e, slot);
		lua_pop(co, 1);
		return;
	}
	gqlx_complete_field(e, cf, co, -1, slot);
	lua_pop(co, 1);
}
