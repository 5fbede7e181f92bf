/*
 * lua_proxy.c - `upstream(name)` and `proxy(upstream, opts)` for route
 * scripts: a route handler that forwards the request to a named upstream
 * (upstream/pool.c: balancing, passive health, retries, timeouts) and
 * answers with what it got, or with a JSON 502/503/504.
 *
 *   local users = upstream "users"
 *   route.get("/v1/users/:id", proxy(users, { strip_prefix = "/v1" }))
 *   route.post("/orders.v1.Orders/:method", proxy("orders", { grpc = true }))
 *
 * The work is upstream/proxy.c's. A route whose handler is just proxy(...)
 * never enters Lua: lua_proxy_route_opts lets the route collector turn it
 * into the "proxy" handler with streamed request bodies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "http/exchange.h"
#include "log.h"
#include "lua_priv.h"
#include "upstream/proxy.h"

static void check_upstream(lua_State *L, const char *name)
{
	struct lstate *ls = lstate_of(L);

	if (ls->lg && ls->lg->cfg && !config_upstream(ls->lg->cfg, name))
		luaL_error(L, "upstream '%s' is not declared: add upstream \"%s\" { servers = "
		           "{ \"host:port\" } } to the config", name, name);
}

/* upstream(name) -> name, after checking it is declared. */
static int l_upstream(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);

	check_upstream(L, name);
	lua_settop(L, 1);
	return 1;
}

static void proxied(pt_exchange *x, void *ud)
{
	(void)x;
	lua_wait_wake(ud, NULL, NULL);   /* the proxy answered: the handler returns nothing */
}

/*
 * The handler proxy() returns: (req, res). Answers the request itself
 * (upstream/proxy.c streams both bodies) and returns nothing once done, so
 * a Lua function calling it should `return` it. Yields.
 */
static int proxy_handler_lua(lua_State *L)
{
	pt_exchange *x = lua_req_exchange(L);
	struct proxy_conf pc = { 0 };
	pt_str_t *h = NULL;
	pt_wait *wait;
	int rc;

	pc.upstream = lua_tostring(L, lua_upvalueindex(1));
	if (lua_getfield(L, lua_upvalueindex(2), "strip_prefix") == LUA_TSTRING)
		pc.strip_prefix.ptr = lua_tolstring(L, -1, &pc.strip_prefix.len);
	lua_pop(L, 1);   /* the opts table (an upvalue) keeps the string alive */
	if (lua_getfield(L, lua_upvalueindex(2), "prefix") == LUA_TSTRING)
		pc.prefix.ptr = lua_tolstring(L, -1, &pc.prefix.len);
	lua_pop(L, 1);
	if (lua_getfield(L, lua_upvalueindex(2), "timeout") == LUA_TNUMBER)
		pc.timeout = lua_tonumber(L, -1);
	lua_pop(L, 1);
	lua_getfield(L, lua_upvalueindex(2), "grpc");
	pc.grpc = lua_toboolean(L, -1);
	lua_pop(L, 1);
	if (lua_getfield(L, lua_upvalueindex(2), "remove_headers") == LUA_TTABLE) {
		for (lua_Integer i = 1; pc.nremove < PROXY_MAX_REMOVE; i++) {
			pt_str_t *r = &pc.remove[pc.nremove];

			if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
				lua_pop(L, 1);
				break;
			}
			r->ptr = lua_tolstring(L, -1, &r->len);   /* the opts table keeps it alive */
			pc.nremove++;
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	if (lua_getfield(L, lua_upvalueindex(2), "headers") == LUA_TTABLE) {
		unsigned n = 0;

		lua_pushnil(L);
		while (lua_next(L, -2)) {
			n++;
			lua_pop(L, 1);
		}
		if (n && !(h = xapi_alloc(x, 2 * n * sizeof(*h))))
			return luaL_error(L, "proxy: out of memory");
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
				h[2 * pc.nheaders].ptr = lua_tolstring(L, -2, &h[2 * pc.nheaders].len);
				h[2 * pc.nheaders + 1].ptr = lua_tolstring(L, -1,
				                                           &h[2 * pc.nheaders + 1].len);
				pc.nheaders++;
			}
			lua_pop(L, 1);
		}
		pc.headers = h;   /* proxy_start copies what it keeps */
	}
	lua_pop(L, 1);
	wait = lua_wait_begin(L);
	rc = proxy_start(x, &pc, proxied, wait);
	if (rc != 0) {
		lua_wait_cancel(wait);
		return luaL_error(L, "proxy: upstream '%s': %s", pc.upstream, rc == PT_ENOENT ?
		                  "not declared in this generation" : "out of memory");
	}
	return lua_wait_yield(L);
}

int lua_proxy_route_opts(lua_State *L, int fn, int opts)
{
	fn = lua_absindex(L, fn);
	opts = lua_absindex(L, opts);
	if (lua_tocfunction(L, fn) != proxy_handler_lua)
		return 0;
	lua_newtable(L);
	if (lua_istable(L, opts)) {
		lua_pushnil(L);
		while (lua_next(L, opts)) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, -4);
		}
	}
	lua_getupvalue(L, fn, 2);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -5);
	}
	lua_pop(L, 1);
	lua_getupvalue(L, fn, 1);
	lua_setfield(L, -2, "upstream");
	if (lua_getfield(L, -1, "buffer_body") != LUA_TBOOLEAN || !lua_toboolean(L, -1)) {
		lua_pushboolean(L, 1);   /* bodies go as they arrive */
		lua_setfield(L, -3, "stream_body");
	}
	lua_pop(L, 1);
	return 1;
}

/* proxy(upstream [, opts]) -> a route handler. */
static int l_proxy(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);

	check_upstream(L, name);
	if (lua_isnoneornil(L, 2)) {
		lua_settop(L, 1);
		lua_newtable(L);
	} else {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_settop(L, 2);
	}
	lua_pushcclosure(L, proxy_handler_lua, 2);
	return 1;
}

void lua_proxy_open(lua_State *L)
{
	lua_register(L, "upstream", l_upstream);
	lua_register(L, "proxy", l_proxy);
}
