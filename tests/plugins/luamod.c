/*
 * A fixture plugin with a Lua module whose function waits: proves the ABI's
 * lua_module_register / lua_wait_begin / lua_wait_yield / lua_wait_wake /
 * lua_worker / timers work for
 * plugins. `require("luamod").later(ms, value)` returns value after ms.
 */
#include <stdlib.h>
#include <lua.h>
#include <lauxlib.h>
#include <portico/portico.h>

static const struct pt_api *api;

struct later {
	pt_wait *wait;
	pt_timer *timer;
	lua_Integer value;
};

static int push_value(struct lua_State *L, void *ud)
{
	lua_pushinteger(L, ((struct later *)ud)->value);
	return 1;
}

static void fire(void *ud)
{
	struct later *l = ud;

	api->lua_wait_wake(l->wait, push_value, l);
	api->timer_free(l->timer);
	free(l);
}

static int later(lua_State *L)
{
	lua_Integer ms = luaL_checkinteger(L, 1);
	struct later *l = calloc(1, sizeof(*l));
	pt_worker *w = api->lua_worker(L);

	if (!l || !w)
		return luaL_error(L, "luamod.later: no worker or no memory");
	l->value = luaL_checkinteger(L, 2);
	l->timer = api->timer_new(w, fire, l);
	l->wait = api->lua_wait_begin(L);
	api->timer_start(l->timer, (uint64_t)ms, 0);
	return api->lua_wait_yield(L);
}

static int open_luamod(lua_State *L)
{
	lua_newtable(L);
	lua_pushcfunction(L, later);
	lua_setfield(L, -2, "later");
	return 1;
}

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	(void)conf;
	api = a;
	return a->lua_module_register(ctx, "luamod", open_luamod);
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "luamod",
	.version = "1.0",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
