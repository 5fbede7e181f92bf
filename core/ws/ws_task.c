/*
 * ws_task.c - Lua run for a WebSocket connection (pt_api.ws_lua_task_resume).
 *
 * The Lua runtime runs tasks for an exchange: the budget, the waits
 * (sleep, http.request) and the request id of logs hang off one. A
 * connection has none after its upgrade, so each task gets a fresh
 * internal exchange: never routed, never answered, not in the access log,
 * of the connection's generation (its Lua state) and carrying the
 * upgrade's request id. It is freed when the task ends, so a connection
 * that handles a million messages holds no memory for them.
 */
#include <string.h>

#include <lua.h>

#include "gen.h"
#include "http/exchange.h"
#include "lua/lua_rt.h"
#include "ws_conn.h"

struct task {
	pt_exchange *x;
	pt_lua_task_fn done;
	void *ud;
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

static void task_done(struct lua_State *co, int status, int nres, void *ud)
{
	struct task *t = ud;
	pt_exchange *x = t->x;

	t->done(co, status, nres, t->ud);
	xapi_unref(x);
}

/* lua_task_abandon: DONE never comes; the task's exchange goes. */
static void task_gone(void *ud)
{
	struct task *t = ud;

	xapi_unref(t->x);
}

int ws_lua_task_resume(pt_ws *ws, struct lua_State *co, int nargs, int *nres,
                       pt_lua_task_fn done, void *ud)
{
	pt_exchange *x = exchange_new(ws->w, &task_ops, NULL,
	                              (pt_str_t){ ws_remote(ws), ws->remote_len });
	struct task *t;
	int st;

	if (!x || !(t = xapi_alloc(x, sizeof(*t)))) {
		if (x)
			xapi_unref(x);
		lua_settop(co, 0);
		lua_pushliteral(co, "out of memory");
		*nres = 1;
		return LUA_ERRMEM;
	}
	if (x->gen != ws->gen) {
		gen_unref(x->gen);
		x->gen = ws->gen;
		gen_ref(x->gen);
	}
	x->state = X_HANDLING;
	x->method = PT_METHOD_GET;
	x->method_name = (pt_str_t){ "GET", 3 };
	memcpy(x->id, ws_reqid(ws), ws->reqid_len);
	x->id_len = ws->reqid_len;
	t->x = x;
	t->done = done;
	t->ud = ud;
	st = lua_task_resume_gone(x, co, nargs, nres, task_done, task_gone, t);
	if (st != LUA_YIELD)
		xapi_unref(x);
	return st;
}
