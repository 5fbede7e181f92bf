/*
 * lua_task.c - Lua tasks that belong to no request: a WebSocket message's
 * (pt_api.ws_lua_task_resume) and a plugin's background job
 * (pt_api.worker_lua_task_resume, a webhook handler run from a queue).
 *
 * The Lua runtime runs tasks for an exchange: the budget, the waits (sleep,
 * http.request) and the request id of logs hang off one. Such a task gets
 * a fresh internal exchange: never routed, never answered, not in the
 * access log, holding the generation it runs in (its Lua state) for as
 * long as the task lives. It is freed when the task ends, so a queue that
 * runs a million jobs holds no memory for them.
 *
 * A worker's background tasks are listed on the worker: when it stops,
 * those still waiting are dropped (never resumed, DONE never called) so
 * their timers, exchanges and generations are freed with the worker.
 */
#include <string.h>

#include <lua.h>

#include "gen.h"
#include "http/exchange.h"
#include "log.h"
#include "lua_priv.h"
#include "worker.h"

struct dtask {
	pt_exchange *x;
	lua_State *co;
	pt_lua_task_fn done;
	void *ud;
	pt_worker *w;                  /* set when listed on the worker (background tasks) */
	struct dtask *prev, *next;
};

static void nop(pt_exchange *x) { (void)x; }
static void nop_head(pt_exchange *x, int final) { (void)x; (void)final; }

static const struct xops task_ops = {
	.send_head = nop_head,
	.send_body = nop,
	.send_end = nop,
	.want_body = nop,
	.out_pending = NULL,
	.send_abort = nop,
};

static void task_unlist(struct dtask *t)
{
	if (!t->w)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		t->w->lua_tasks = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->w = NULL;
}

static void task_done(lua_State *co, int status, int nres, void *ud)
{
	struct dtask *t = ud;
	pt_exchange *x = t->x;

	task_unlist(t);
	t->done(co, status, nres, t->ud);
	xapi_unref(x);   /* last: T lives in X's pool */
}

/* lua_task_abandon (the plugin's, or the worker stopping): DONE never
 * comes; the task's exchange goes, and with it the generation's hold. */
static void task_gone(void *ud)
{
	struct dtask *t = ud;

	task_unlist(t);
	xapi_unref(t->x);
}

static int fail(lua_State *co, int *nres, int status, const char *msg)
{
	lua_settop(co, 0);
	lua_pushstring(co, msg);
	*nres = 1;
	return status;
}

/*
 * Runs CO as a task of a new internal exchange on W in generation G,
 * carrying REMOTE and request id ID (empty: one is made when asked). LIST:
 * a background task, listed on W while it waits. The contract is
 * lua_task_resume's (see api.h).
 */
static int task_start(pt_worker *w, struct gen *g, pt_str_t remote, pt_str_t id, int list,
                      lua_State *co, int nargs, int *nres, pt_lua_task_fn done, void *ud)
{
	pt_exchange *x;
	struct dtask *t;
	int st;

	if (!done)
		return fail(co, nres, LUA_ERRRUN, "a task needs a done callback");
	x = exchange_new(w, &task_ops, NULL, remote);
	if (!x || !(t = xapi_alloc(x, sizeof(*t)))) {
		if (x)
			xapi_unref(x);
		return fail(co, nres, LUA_ERRMEM, "out of memory");
	}
	if (x->gen != g) {
		gen_unref(x->gen);
		x->gen = g;
		gen_ref(x->gen);
	}
	x->state = X_HANDLING;
	x->method = PT_METHOD_GET;
	x->method_name = (pt_str_t){ "GET", 3 };
	if (id.len && id.len < sizeof(x->id)) {
		memcpy(x->id, id.ptr, id.len);
		x->id_len = id.len;
	}
	memset(t, 0, sizeof(*t));
	t->x = x;
	t->co = co;
	t->done = done;
	t->ud = ud;
	st = lua_task_resume_gone(x, co, nargs, nres, task_done, task_gone, t);
	if (st != LUA_YIELD) {
		xapi_unref(x);
	} else if (list) {
		t->w = w;
		t->next = w->lua_tasks;
		if (t->next)
			t->next->prev = t;
		w->lua_tasks = t;
	}
	return st;
}

int ws_task_start(pt_worker *w, struct gen *g, pt_str_t remote, pt_str_t id, lua_State *co,
                  int nargs, int *nres, pt_lua_task_fn done, void *ud)
{
	return task_start(w, g, remote, id, 0, co, nargs, nres, done, ud);
}

lua_State *lua_worker_state(pt_worker *w)
{
	char err[1024];
	lua_State *L;

	if (!w || w->stopped || !w->gen || !w->gen->lua || !w->gen->lua->nscripts)
		return NULL;
	L = lua_gen_state(w->gen->lua, w, err, sizeof(err));
	if (!L)
		log_error("lua", "worker %u: cannot load the route scripts: %s", w->id, err);
	return L;
}

int lua_worker_task_resume(pt_worker *w, lua_State *co, int nargs, int *nres,
                           pt_lua_task_fn done, void *ud)
{
	static const pt_str_t none = { "", 0 };

	if (!co || !nres)
		return LUA_ERRRUN;
	if (!w || w->stopped || !w->gen)
		return fail(co, nres, LUA_ERRRUN, "worker_lua_task_resume: no worker, or it has stopped");
	/* a coroutine of another generation's state (kept across a reload)
	 * is refused by lua_task_resume_gone: worker_lua(W) is the one */
	return task_start(w, w->gen, none, none, 1, co, nargs, nres, done, ud);
}

void lua_worker_tasks_drop(pt_worker *w)
{
	unsigned n = 0;

	while (w->lua_tasks) {
		struct dtask *t = w->lua_tasks;

		n++;
		if (lua_task_abandon(t->co) != 0)
			task_gone(t);   /* not waiting (cannot be, listed): let it go anyway */
	}
	if (n)
		log_info("lua", "worker %u: %u background task(s) still waiting were dropped", w->id,
		         n);
}

/* pt_api.lua_wait_on_abandon: the core's own waits (sleep, http.request)
 * use the same hook; FN ends the wait at once (lua_wait_wake then finds the
 * task gone and resumes nothing). */
int lua_wait_on_abandon_api(pt_wait *w, void (*fn)(void *ud), void *ud)
{
	if (!w)
		return PT_EINVAL;
	lua_wait_on_abandon(w, fn, ud);
	return 0;
}
