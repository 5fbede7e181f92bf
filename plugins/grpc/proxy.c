/*
 * proxy.c - grpc.proxy and route.grpc in route scripts:
 *
 *   route.grpc("/orders.v1.Orders/" .. "*", grpc.proxy("orders", { jwt = true }))
 *   (one pattern for every method: a catch-all, written "/orders.v1.Orders/" then '*')
 *   route.grpc("/orders.v1.Orders/Get", function(req, res) ... end)
 *
 * grpc.proxy(upstream, opts) is the core's proxy(upstream, opts) with
 * grpc = true: the core's proxy in gRPC mode streams both ways with flow
 * control, relays the trailers, turns upstream failures into gRPC statuses
 * and logs $grpc_status. Being the core's proxy handler, a route whose
 * handler is just grpc.proxy(...) never enters Lua. route.grpc(pattern,
 * handler, opts) is route.post for gRPC paths (gRPC calls are POSTs).
 * The core opens this module when a script first reads route.grpc, so
 * route.grpc works before any use of `grpc`.
 */
#include <lua.h>
#include <lauxlib.h>

#include "client_priv.h"

/* Errors name the script's line (level 2), not this chunk's. */
static const char proxy_src[] =
	"local M = ...\n"
	"function M.proxy(upstream, opts)\n"
	"  if type(upstream) ~= 'string' then\n"
	"    error('grpc.proxy: argument 1 is the name of an upstream (a string), not ' ..\n"
	"          type(upstream), 2)\n"
	"  end\n"
	"  if opts ~= nil and type(opts) ~= 'table' then\n"
	"    error('grpc.proxy: the options (argument 2) must be a table, not ' .. type(opts), 2)\n"
	"  end\n"
	"  local o = {}\n"
	"  if opts then for k, v in pairs(opts) do o[k] = v end end\n"
	"  if o.grpc == false then\n"
	"    error('grpc.proxy: grpc = false is a plain proxy: use proxy(upstream, opts)', 2)\n"
	"  end\n"
	"  o.grpc = true\n"
	"  local ok, h = pcall(proxy, upstream, o)\n"
	"  if not ok then error('grpc.proxy: ' .. tostring(h):gsub('^[^:]*:%d+: ', ''), 2) end\n"
	"  return h\n"
	"end\n"
	"local function grpc_route(pattern, handler, opts)\n"
	"  if type(pattern) ~= 'string' or pattern:sub(1, 1) ~= '/' then\n"
	"    error('route.grpc: argument 1 is a path pattern such as \"/orders.v1.Orders/*\"', 2)\n"
	"  end\n"
	"  if type(handler) ~= 'function' and type(handler) ~= 'string' then\n"
	"    error('route.grpc: the handler (argument 2) is grpc.proxy(...), a function or a '\n"
	"          .. 'handler name, not ' .. type(handler), 2)\n"
	"  end\n"
	"  if opts ~= nil and type(opts) ~= 'table' then\n"
	"    error('route.grpc: the options (argument 3) must be a table, not ' .. type(opts), 2)\n"
	"  end\n"
	"  return route.post(pattern, handler, opts)\n"
	"end\n"
	"-- while requests run the globals are frozen: route.grpc is for loading\n"
	"if type(route) == 'table' and rawget(route, 'grpc') == nil then\n"
	"  pcall(rawset, route, 'grpc', grpc_route)\n"
	"end\n";

/* Adds grpc.proxy to the module table on top and route.grpc to the
 * route table. [-0, +0, e] */
void grpc_proxy_module(lua_State *L)
{
	int t = lua_gettop(L);

	if (luaL_loadbuffer(L, proxy_src, sizeof(proxy_src) - 1, "=grpc.proxy") != LUA_OK)
		lua_error(L);
	lua_pushvalue(L, t);
	lua_call(L, 1, 0);
}
