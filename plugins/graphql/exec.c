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
 * A level runs as one Lua task (run_level, runner_fn): its resolvers are
 * called one after another in the task's coroutine under lua_pcallk, each
 * with a fresh budget; one that waits keeps the task (and its coroutine)
 * and the level goes on in another, taken from a small pool. Batched
 * resolvers, subscriptions' executions and a WebSocket's (its own resume)
 * call each resolver in a task of its own (gqlx_call).
 *
 * Every Lua call the executor makes outside a resolver runs under
 * lua_pcall (prot), so an allocation failure in a state at its memory limit
 * ends the request with an error, never the process.
 *
 * The executor's files: this one schedules (tasks, levels, batches, the
 * protected calls, start and end); exec_plan.c plans what runs
 * (CollectFields), exec_resolve.c calls resolvers, exec_complete.c
 * completes their values into the result tree, exec_response.c keeps the
 * errors and writes the response; exec_priv.h is what they share.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "exec_priv.h"

#define K_RESOLVERS "graphql.resolvers"

/* ---- small helpers -------------------------------------------------------- */

const struct gql_tref *gqlx_tref_from_ast(struct gql_arena *a, const struct gql_schema *s,
                                          const struct gql_type *t)
{
	struct gql_tref *r;

	if (!t || !(r = gql_arena_calloc(a, sizeof(*r))))
		return NULL;
	r->kind = t->kind;
	if (t->kind == GQL_TYPE_NAMED)
		return (r->named = gql_schema_type(s, t->name.value)) ? r : NULL;
	return (r->of = gqlx_tref_from_ast(a, s, t->of)) ? r : NULL;
}

int gqlx_grow(struct gql_arena *a, void **arr, unsigned *cap, unsigned n, size_t size)
{
	void *more;
	unsigned nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 8;
	if (!(more = gql_arena_alloc(a, (size_t)nc * size)))
		return -1;
	if (n)
		memcpy(more, *arr, (size_t)n * size);
	*arr = more;
	*cap = nc;
	return 0;
}

void gqlx_tasks_push(struct gql_exec *e, struct tasks *ts, struct rnode *obj, int vidx,
                     const struct plan *p, unsigned f0, unsigned f1)
{
	if (gqlx_grow(&e->arena, (void **)&ts->t, &ts->cap, ts->n, sizeof(*ts->t)) != 0) {
		e->fatal = 1;
		return;
	}
	ts->t[ts->n++] = (struct otask){ obj, f0, f1, vidx, p };
}

struct rnode *gql_rnode(struct gql_exec *e, struct rnode *parent, unsigned idx, bool nonnull)
{
	struct rnode *n = gql_arena_alloc(&e->arena, sizeof(*n));

	if (!n) {
		e->fatal = 1;
		return NULL;
	}
	gqlx_rnode_init(n, parent, idx, nonnull);
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

int gqlx_dead(const struct rnode *n)
{
	for (; n; n = n->parent)
		if (n->kind == RN_NULL)
			return 1;
	return 0;
}

/* ---- running a level ------------------------------------------------------ */

/* Runs the fields F0..F1 of the object task T; its parent value stays on
 * L meanwhile, read by default resolvers with one raw get of a kept key. */
static void run_object(struct gql_exec *e, const struct otask *t)
{
	lua_State *L = e->L;
	const struct plan *p = t->plan;
	int top = lua_gettop(L), parent, ptab, ty, left = 0;
	/* the root's values are kept, not completed, in SOURCE mode */
	int source = e->req.mode == GQL_EXEC_SOURCE && t->obj == e->root;
	/* the object's slots in one allocation; a level's next task goes on
	 * with the object its last one left (run_level) */
	unsigned from = e->run_mid ? e->run_fi : t->f0;
	struct rnode *slots = e->run_mid ? e->run_slots :
	                      gql_arena_alloc(&e->arena, (t->f1 - t->f0 + 1) * sizeof(*slots));

	e->run_mid = 0;
	if (!slots) {
		e->fatal = 1;
		return;
	}
	if (!lua_checkstack(L, 40)) {
		e->fatal = 1;
		return;
	}
	gqlx_push_stored(e, L, t->vidx);
	parent = lua_gettop(L);
	ptab = lua_type(L, parent) == LUA_TTABLE;
	for (unsigned i = from; i < t->f1 && !e->fatal; i++) {
		struct cfield *cf = &p->f[i];
		struct rnode *slot;

		if (t->obj->kind != RN_OBJ)
			break;   /* an earlier field nulled this object */
		slot = &slots[i - t->f0];
		gqlx_rnode_init(slot, t->obj, i, cf->nonnull);
		t->obj->u.obj.v[i] = slot;
		if (cf->meta == META_TYPENAME) {
			struct jbuf b = { 0 };

			jb_cstr(&b, p->type->name);
			gqlx_set_jbuf(e, slot, &b);
			continue;
		}
		if (cf->meta) {
			gql_intro_field(e, cf, slot);
			continue;
		}
		if (e->req.mode == GQL_EXEC_EVENT && t->obj == e->root) {
			gqlx_push_stored(e, L, V_EVENT);
			gqlx_complete(e, cf, cf->def->type, L, -1, slot, 0);
			lua_pop(L, 1);
			continue;
		}
		if (!cf->resolver_looked)
			gqlx_find_resolver(e, cf);
		if (cf->args_state != 1 && gql_coerce_field_args(e, cf) < 0) {
			gql_field_error(e, cf, slot, cf->args_err, NULL);
			gql_null_out(e, slot);
			continue;
		}
		if (cf->batch) {
			if (gqlx_grow(&e->arena, (void **)&cf->bq, &cf->cap_bq, cf->n_bq, sizeof(*cf->bq))) {
				e->fatal = 1;
				break;
			}
			cf->bq[cf->n_bq++] = (struct bentry){ slot, t->vidx, cf, 0 };
			if (!cf->bqueued) {
				cf->bqueued = 1;
				cf->bnext = e->batched;
				e->batched = cf;
			}
			continue;
		}
		if (cf->resolver) {
			gqlx_push_stored(e, L, cf->resolver);
			if (!e->runner) {
				gqlx_call(e, cf, slot, t->vidx, NULL, 0, 0, cf->nargs);
				continue;
			}
			ty = cf->nargs;
			goto direct;
		}
		/* the default resolver: parent[fieldName], a method when a function */
		if (!ptab) {
			lua_pushnil(L);
			ty = LUA_TNIL;
		} else {
			if (cf->name_ref)
				lua_rawgeti(L, e->vtop, cf->name_ref);
			else
				gqlx_push_name(e, L, cf, 0);
			ty = lua_rawget(L, parent);
		}
		if (ty == LUA_TFUNCTION) {
			if (!e->runner) {
				gqlx_call(e, cf, slot, t->vidx, NULL, 0, 0, gqlx_nargs(L));
				continue;
			}
			ty = gqlx_nargs(L);
direct:
			/* in the level's task: where the next task goes on if this
			 * call waits, then the call */
			e->run_mid = 1;
			e->run_fi = i + 1;
			e->run_slots = slots;
			gqlx_call_direct(e, cf, slot, t->vidx, ty);
			if (e->run_stop)
				return;   /* the task ends: its stack goes with it */
			e->run_mid = 0;
			continue;
		}
		if (ty == LUA_TSTRING && cf->plain_str && !source) {
			/* the common leaf the short way (what gqlx_complete would do) */
			size_t n;
			const char *s = lua_tolstring(L, -1, &n);

			if (gqlx_set_plain_str(e, slot, s, n) == 0)
				goto next;
		}
		gqlx_complete_field(e, cf, L, -1, slot);
next:
		/* the values read stay on the stack, dropped 16 at a time */
		if (++left == 16) {
			lua_settop(L, parent);
			left = 0;
		}
	}
	lua_settop(L, top);
}

/* Whether two coerced argument values are the same. */
static int gv_equal(const struct gv *a, const struct gv *b)
{
	if (!a || !b)
		return a == b;
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case GV_NULL:
		return 1;
	case GV_INT:
		return a->i == b->i;
	case GV_FLOAT:
		return a->f == b->f;
	case GV_BOOL:
		return a->b == b->b;
	case GV_STRING:
	case GV_ENUM:
		return a->len == b->len && !memcmp(a->s, b->s, a->len);
	case GV_LIST:
	case GV_OBJECT:
		if (a->n != b->n)
			return 0;
		for (unsigned i = 0; i < a->n; i++)
			if ((a->kind == GV_OBJECT && strcmp(a->keys[i], b->keys[i])) ||
			    !gv_equal(a->items[i], b->items[i]))
				return 0;
		return 1;
	}
	return 0;
}

/* CF and G are aliases of one field that one batch call can serve. */
static int same_batch(const struct cfield *cf, const struct cfield *g)
{
	return g->def == cf->def && g->parent == cf->parent && g->args_state == 1 &&
	       cf->args_state == 1 && gv_equal(g->args, cf->args);
}

/* Where VIDX is in PARENTS[0..NP): looked for from FROM on first (aliases
 * queue the same parents in the same order), then before it; NP if absent. */
static unsigned parent_index(const int *parents, unsigned np, unsigned from, int vidx)
{
	for (unsigned k = from; k < np; k++)
		if (parents[k] == vidx)
			return k;
	for (unsigned k = 0; k < from && k < np; k++)
		if (parents[k] == vidx)
			return k;
	return np;
}

/*
 * Moves the live queued parents of CF into BQ (from *N on), giving each the
 * index of its parent in PARENTS (value indexes, *NP so far): a parent
 * already there (the same object, queued by another alias) is shared.
 */
static void take_parents(struct cfield *cf, struct bentry *bq, unsigned *n, int *parents,
                         unsigned *np)
{
	unsigned cur = 0;

	for (unsigned i = 0; i < cf->n_bq; i++) {
		struct bentry b = cf->bq[i];

		if (gqlx_dead(b.slot->parent))
			continue;   /* its object was nulled meanwhile */
		b.pi = parent_index(parents, *np, cur, b.vidx);
		if (b.pi == *np)
			parents[(*np)++] = b.vidx;
		cur = b.pi + 1;
		bq[(*n)++] = b;
	}
	cf->n_bq = 0;
	cf->bqueued = 0;
}

/*
 * Calls each batched field of the level once with every parent: aliases of
 * one field with the same arguments (`a: user(id: 1) b: user(id: 1)`)
 * share the call, and the values go to every alias.
 */
static void run_batches(struct gql_exec *e)
{
	lua_State *L = e->L;

	while (e->batched && !e->fatal) {
		struct cfield *cf = e->batched, **pp;
		struct bentry *bq;
		unsigned n = 0, np = 0, total = cf->n_bq;
		int *parents;

		e->batched = cf->bnext;
		for (struct cfield *g = e->batched; g; g = g->bnext)
			if (same_batch(cf, g))
				total += g->n_bq;
		bq = gql_arena_alloc(&e->arena, (total + 1) * sizeof(*bq));
		parents = gql_arena_alloc(&e->arena, (total + 1) * sizeof(*parents));
		if (!bq || !parents) {
			e->fatal = 1;
			return;
		}
		take_parents(cf, bq, &n, parents, &np);
		for (pp = &e->batched; *pp;) {
			struct cfield *g = *pp;

			if (same_batch(cf, g)) {
				*pp = g->bnext;
				take_parents(g, bq, &n, parents, &np);
			} else {
				pp = &g->bnext;
			}
		}
		if (!n)
			continue;
		gqlx_push_stored(e, L, cf->resolver);
		lua_createtable(L, (int)np, 0);
		gqlx_push_values(e, L);
		for (unsigned i = 0; i < np; i++) {
			lua_rawgeti(L, -1, parents[i]);
			lua_rawseti(L, -3, (lua_Integer)i + 1);
		}
		lua_pop(L, 1);
		gqlx_call(e, cf, NULL, 0, bq, n, np, cf->nargs);
	}
}

/* ---- a level in one task ---------------------------------------------------- */

/*
 * The level's loop as a Lua task (pt_api.lua_task_resume): resolvers that
 * do not wait are called in its coroutine with lua_pcallk, each with a
 * budget of its own (lua_budget_renew), so a level of 250 calls
 * starts one task instead of 250. A call that waits keeps the task (its
 * end comes to gqlx_task_done, like a task of its own) and the level goes
 * on from the next field in a new task; a task whose budget was spent by
 * a call ends and the next one starts at the field after it. An error
 * under any pcall in a coroutine (the resolver's own pcall, or ours around
 * it) unwinds the C stack to lua_resume: the task then ends with the
 * call's value or error (direct_k) and the next one goes on. The order of
 * everything (calls, default reads, completions, errors) is the one the
 * task per call had.
 */
static int runner_fn(lua_State *co)
{
	struct pcall *pc = lua_touserdata(co, 1);
	struct gql_exec *e = pc->e;

	gqlx_push_values(e, co);   /* e->L is still the state's thread here */
	e->L = co;
	e->vtop = lua_gettop(co);
	while (e->run_ti < e->cur.n && !e->fatal && !e->run_stop) {
		const struct otask *t = &e->cur.t[e->run_ti];

		if (!gqlx_dead(t->obj))
			run_object(e, t);
		if (e->run_stop)
			break;
		e->run_mid = 0;
		e->run_ti++;
	}
	return 0;
}

static void co_take_p(struct gql_exec *e, void *ud)
{
	*(lua_State **)ud = gqlx_co_take(e);
}

/* Runs e->cur in level tasks (see runner_fn). */
static void run_level(struct gql_exec *e)
{
	lua_State *L0 = e->L;

	e->run_ti = 0;
	e->run_mid = 0;
	while (!e->fatal && e->run_ti < e->cur.n) {
		lua_State *co = NULL;
		struct pcall *pc;
		int st, nres = 0;

		if (gqlx_prot(e, co_take_p, &co) != 0 || !co ||
		    !(pc = gql_arena_alloc(&e->arena, sizeof(*pc)))) {
			e->fatal = 1;
			break;
		}
		*pc = (struct pcall){ e, NULL, co, NULL, NULL, 0, 0 };
		e->run_pc = pc;
		e->run_stop = 0;
		e->run_in_call = 0;
		e->runner = 1;
		lua_pushcfunction(co, runner_fn);
		lua_pushlightuserdata(co, pc);
		st = e->req.api->lua_task_resume(e->req.x, co, 1, &nres, gqlx_task_done, pc);
		e->runner = 0;
		e->L = L0;
		e->vtop = 0;
		if (st == LUA_YIELD) {
			e->pending++;   /* the call waits in that task; run_fi is past it */
			continue;
		}
		if (st == LUA_OK && !e->run_in_call) {
			gqlx_co_give(e, co);
			continue;
		}
		if (e->run_in_call) {
			/* the task ended inside the call: Lua's error recovery (an
			 * error raised under a pcall in a coroutine unwinds the C
			 * stack to lua_resume and goes on at the pcall's
			 * continuation) left the resolver's value as the task's
			 * result, or its error, or the budget's; complete it as a
			 * call that waited, and on (gqlx_task_done's gqlx_run is a
			 * no-op inside gqlx_run) */
			e->run_in_call = 0;
			e->pending++;
			gqlx_task_done(co, st, nres, pc);
			continue;
		}
		e->req.api->log(NULL, PT_LOG_ERROR, "graphql: executing: %s",
		                lua_tostring(co, -1) ? lua_tostring(co, -1) : "error");
		e->fatal = 1;
	}
	e->cur.n = 0;
	e->run_mid = 0;
}

static void batches_p(struct gql_exec *e, void *ud)
{
	(void)ud;
	gqlx_push_values(e, e->L);
	e->vtop = lua_gettop(e->L);   /* until gqlx_prot returns */
	run_batches(e);
}

/* One level: every task of e->cur, then the batches it queued. */
static void level_p(struct gql_exec *e, void *ud)
{
	(void)ud;
	gqlx_push_values(e, e->L);
	e->vtop = lua_gettop(e->L);   /* until gqlx_prot returns */
	for (unsigned i = 0; i < e->cur.n && !e->fatal; i++) {
		const struct otask *t = &e->cur.t[i];

		if (!gqlx_dead(t->obj))
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

int gqlx_prot(struct gql_exec *e, void (*fn)(struct gql_exec *, void *), void *ud)
{
	struct prot_args a = { e, fn, ud };
	lua_State *L = e->L;
	int top = lua_gettop(L), vtop = e->vtop;

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
	e->vtop = vtop;
	return e->fatal ? -1 : 0;
}

/* Runs levels until one waits or all are done. May free E (via finish). */
void gqlx_run(struct gql_exec *e)
{
	if (e->running || e->finished)
		return;
	e->running = 1;
	for (;;) {
		if (e->fatal) {
			gqlx_finish(e);
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
				gqlx_tasks_push(e, &e->cur, e->root, V_ROOT, e->root_plan, e->root_next,
				                e->root_next + 1);
				e->root_next++;
			} else {
				gqlx_finish(e);
				return;
			}
		}
		if (e->req.mode == GQL_EXEC_NORMAL && !e->req.resume &&
		    PT_API_HAS(e->req.api, lua_budget_renew)) {
			run_level(e);
			if (!e->fatal && e->batched)
				gqlx_prot(e, batches_p, NULL);
		} else {
			gqlx_prot(e, level_p, NULL);
		}
	}
	e->running = 0;
}

/* ---- start ---------------------------------------------------------------------- */

/* How many values the thread's last execution stored: the next values
 * table is made that large at once instead of growing by rehashes. */
static __thread int nvals_hint;

/* The values table: ctx (argument 2), the root value, the resolvers. */
static int start_tramp(lua_State *L)
{
	struct gql_exec *e = lua_touserdata(L, 1);

	lua_createtable(L, nvals_hint > 64 && nvals_hint <= 4096 ? nvals_hint : 64, 0);
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

/* The response buffer of the thread's last execution, for its next one
 * (see gql_arena.c: memory that comes and goes each request makes malloc
 * trim and refault the heap). */
static __thread struct jbuf spare_out;

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
	e->out = spare_out;
	spare_out = (struct jbuf){ 0 };
	gql_arena_init(&e->arena, GQL_ARENA_REUSE);
	if (req->ctx_index)
		e->req.ctx_index = lua_absindex(req->L, req->ctx_index);
	if (req->event_index)
		e->req.event_index = lua_absindex(req->L, req->event_index);
	e->op = gql_exec_operation(req->doc, req->operation_name, &msg);
	if (!e->op) {
		gqlx_request_error(e, msg ? msg : gql_fmt(&e->arena, "Unknown operation named \"%s\".",
		                                          req->operation_name), 0, 0);
		gqlx_finish(e);
		return 0;
	}
	root_type = e->op->operation == GQL_OP_QUERY ? e->s->query :
	            e->op->operation == GQL_OP_MUTATION ? e->s->mutation : e->s->subscription;
	if (!root_type) {
		gqlx_request_error(e, gql_fmt(&e->arena, "Schema is not configured to execute %s "
		                   "operation.", gqlx_op_name(e->op)), e->op->line, e->op->column);
		gqlx_finish(e);
		return 0;
	}
	if (gqlx_index_fragments(e) != 0 ||
	    gql_coerce_variables(&e->arena, e->s, e->op, req->variables, &e->vars, &msg, &line,
	                         &col) != 0) {
		if (msg)
			gqlx_request_error(e, msg, line, col);
		else
			e->fatal = 1;
		gqlx_finish(e);
		return 0;
	}
	if (start_values(e) != 0) {
		e->fatal = 1;
		gqlx_finish(e);
		return 0;
	}
	{
		const struct gql_selection_set *set = e->op->selection_set;

		e->root_plan = gql_plan_build(e, root_type, &set, 1);
	}
	e->root = gql_rnode(e, NULL, 0, false);
	if (!e->root_plan || !e->root ||
	    !(e->root->u.obj.v = gql_arena_calloc(&e->arena, (e->root_plan->n + 1) *
	                                      sizeof(struct rnode *)))) {
		e->fatal = 1;
		gqlx_finish(e);
		return 0;
	}
	e->root->kind = e->root->shape = RN_OBJ;
	e->root->u.obj.plan = e->root_plan;
	if (e->op->operation != GQL_OP_MUTATION)
		gqlx_tasks_push(e, &e->cur, e->root, V_ROOT, e->root_plan, 0, e->root_plan->n);
	gqlx_run(e);
	return 0;
}

void gql_exec_free(struct gql_exec *e)
{
	if (!e)
		return;
	if (e->vref != LUA_NOREF && e->L) {
		luaL_unref(e->L, LUA_REGISTRYINDEX, e->vref);
		nvals_hint = e->nvals;
	}
	if (e->result.source_ref != LUA_NOREF && e->L)
		luaL_unref(e->L, LUA_REGISTRYINDEX, e->result.source_ref);
	if (!spare_out.p && e->out.cap <= (1u << 20)) {
		spare_out = (struct jbuf){ .p = e->out.p, .cap = e->out.cap };
		e->out.p = NULL;
	}
	free(e->out.p);
	free(e->leaf.p);
	gql_arena_close(&e->arena);
	free(e);
}
