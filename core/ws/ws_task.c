/*
 * ws_task.c - Lua run for a WebSocket connection (pt_api.ws_lua_task_resume).
 *
 * A connection has no exchange after its upgrade: each task runs as a task
 * of no request (core/lua/lua_task.c), in the connection's generation (its
 * Lua state) and carrying the upgrade's request id.
 */
#include "lua/lua_rt.h"
#include "ws_conn.h"

int ws_lua_task_resume(pt_ws *ws, struct lua_State *co, int nargs, int *nres,
                       pt_lua_task_fn done, void *ud)
{
	return ws_task_start(ws->w, ws->gen, (pt_str_t){ ws_remote(ws), ws->remote_len },
	                     (pt_str_t){ ws_reqid(ws), ws->reqid_len }, co, nargs, nres, done, ud);
}
