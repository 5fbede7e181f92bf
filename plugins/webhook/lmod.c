/*
 * lmod.c - the `webhook` Lua module (a global in route scripts, like sse):
 *
 *   webhook.source("stripe", {
 *     path = "/hooks/stripe", scheme = "stripe",
 *     secrets = { env("STRIPE_WHSEC") }, retry = { max = 8 },
 *     ip = { allow = { "10.0.0.0/8" } },          -- route filters pass through
 *   }, function(event) hub.publish("orders", event.json.data) end)
 *
 *   webhook.send(url_or_upstream, event_table, { secret = ..., id = ... })
 *
 * webhook.source checks the options (source.c's wh_source_from_lua; an
 * error names the script's file and line), keeps the compiled source, the
 * handler and opts.verify in this Lua state's registry under the source's
 * name, and adds the route as route.post(path, "webhook", { source = name,
 * body_limit = max_body, <filters> }) would. The options that name a route
 * filter (host, jwt, basic, key-auth, auth, rate, ip, cors) go to the route
 * as they are; `filters = { name = opts, ... }` passes any other filter
 * (a Lua filter(name, fn) too). Every other key is the source's, and an
 * unknown one is an error (a typo must not silently disable checking).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "whg.h"


#define SRC_MT "portico.webhook.source"

static const char *const route_keys[] = { "host", "jwt", "basic", "key-auth", "auth", "rate",
                                          "ip", "cors", NULL };

static int fail(lua_State *L, const char *fmt, ...)
{
	va_list ap;

	luaL_where(L, 2);
	lua_pushliteral(L, "webhook.source: ");
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_concat(L, 3);
	return lua_error(L);
}

static int src_gc(lua_State *L)
{
	struct whg_src *u = luaL_testudata(L, 1, SRC_MT);

	if (u && u->s) {
		wh_source_free(u->s);
		u->s = NULL;
	}
	return 0;
}

struct whg_src *whg_source_get(lua_State *L, const char *name, int which)
{
	struct whg_src *u = NULL;
	int top = lua_gettop(L);

	if (!lua_checkstack(L, 4))
		return NULL;
	if (lua_getfield(L, LUA_REGISTRYINDEX, WHG_K_SOURCES) == LUA_TTABLE &&
	    lua_getfield(L, -1, name) == LUA_TUSERDATA)
		u = luaL_testudata(L, -1, SRC_MT);
	if (!u || !u->s) {
		lua_settop(L, top);
		return NULL;
	}
	if (which == 1 || which == 2) {
		lua_getiuservalue(L, -1, which);
		lua_replace(L, top + 1);
	}
	lua_settop(L, top + (which == 1 || which == 2));
	return u;
}

static int name_ok(const char *s, size_t n)
{
	if (!n || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

static int is_route_key(const char *k)
{
	for (int i = 0; route_keys[i]; i++)
		if (!strcmp(k, route_keys[i]))
			return 1;
	return 0;
}

/*
 * check(name, opts, fn) -> path, route_opts. Raises on bad arguments or
 * options (with the script's file:line), on a name used twice in this
 * state, and in the daemon when the store did not open. [-3, +2, e]
 */
static int l_check(lua_State *L)
{
	size_t nlen;
	const char *name = luaL_checklstring(L, 1, &nlen);
	struct wh_source *s = NULL;
	struct whg_src *u;
	char err[512];
	int src_opts, route_opts;

	if (!name_ok(name, nlen))
		return fail(L, "a source name is 1 to 64 letters, digits, '_', '.', '-', not \"%s\"",
		            name);
	if (!lua_istable(L, 2))
		return fail(L, "\"%s\": the options (argument 2) must be a table, not %s", name,
		            luaL_typename(L, 2));
	if (!lua_isfunction(L, 3))
		return fail(L, "\"%s\": the handler (argument 3) must be a function(event), not %s",
		            name, luaL_typename(L, 3));
	/* from a handler (its exchange): the routes are built already */
	if (PT_API_HAS(wh_api, lua_exchange) && wh_api->lua_exchange(L))
		return fail(L, "\"%s\": sources are declared while the scripts load, not while "
		            "serving", name);
	if (wh_api->run_mode() == PT_RUN_DAEMON && !whg_store_ensure())
		return fail(L, "\"%s\": the webhook store is not available: %s", name,
		            wh_store_error[0] ? wh_store_error : "not opened");
	if (whg_source_get(L, name, 0))
		return fail(L, "\"%s\" is defined twice (source names are unique)", name);
	/* split the options: the route's filters, the source's own */
	lua_settop(L, 3);
	lua_newtable(L);
	src_opts = lua_gettop(L);
	lua_newtable(L);
	route_opts = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;

		if (k && is_route_key(k)) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, route_opts);
		} else if (k && !strcmp(k, "filters")) {
			if (!lua_istable(L, -1))
				return fail(L, "\"%s\": filters must be a table { filter_name = options }",
				            name);
			lua_pushnil(L);
			while (lua_next(L, -2)) {
				if (lua_type(L, -2) != LUA_TSTRING)
					return fail(L, "\"%s\": filters: keys are filter names", name);
				lua_pushvalue(L, -2);
				lua_insert(L, -2);
				lua_rawset(L, route_opts);
			}
			lua_pop(L, 1);
		} else {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, src_opts);
		}
	}
	if (wh_source_from_lua(L, src_opts, name, &s, err, sizeof(err)) != 0 || !s) {
		/* ERR names the source already: webhook.source "x": ... */
		luaL_where(L, 2);
		lua_pushstring(L, err[0] ? err : "webhook.source: bad options");
		lua_concat(L, 2);
		return lua_error(L);
	}
	if (s->scheme == WH_SCHEME_LUA) {
		lua_getfield(L, src_opts, "verify");
		if (!lua_isfunction(L, -1)) {
			wh_source_free(s);
			return fail(L, "\"%s\": scheme \"lua\" needs verify = function(req)", name);
		}
		lua_pop(L, 1);
	}
	/* keep it: registry[K][name] = userdata { s } with fn, verify */
	u = lua_newuserdatauv(L, sizeof(*u), 2);
	u->s = s;
	u->m = whg_metrics(name);
	if (luaL_newmetatable(L, SRC_MT)) {
		lua_pushcfunction(L, src_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushliteral(L, "webhook source");
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
	lua_pushvalue(L, 3);
	lua_setiuservalue(L, -2, 1);
	if (s->scheme == WH_SCHEME_LUA)
		lua_getfield(L, src_opts, "verify");
	else
		lua_pushnil(L);
	lua_setiuservalue(L, -2, 2);
	if (lua_getfield(L, LUA_REGISTRYINDEX, WHG_K_SOURCES) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, LUA_REGISTRYINDEX, WHG_K_SOURCES);
	}
	lua_insert(L, -2);
	lua_setfield(L, -2, name);
	lua_pop(L, 1);
	/* the route's options */
	lua_pushvalue(L, 1);
	lua_setfield(L, route_opts, "source");
	lua_pushinteger(L, (lua_Integer)s->max_body);
	lua_setfield(L, route_opts, "body_limit");
	lua_pushstring(L, s->path);
	lua_pushvalue(L, route_opts);
	return 2;
}

/* Lua around check so that route.post is a tail call: the route then names
 * the script's file and line, as a route.post there would. */
static const char module_src[] =
	"local check, send = ...\n"
	"local M = {}\n"
	"function M.source(name, opts, fn)\n"
	"  local path, o = check(name, opts, fn)\n"
	"  return route.post(path, 'webhook', o)\n"
	"end\n"
	"M.send = send\n"
	"return M\n";

int whg_lua_open(lua_State *L)
{
	if (luaL_loadbuffer(L, module_src, sizeof(module_src) - 1, "=webhook") != LUA_OK)
		return lua_error(L);
	lua_pushcfunction(L, l_check);
	lua_pushcfunction(L, wh_send_lua);
	lua_call(L, 2, 1);
	return 1;
}
