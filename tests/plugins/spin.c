/*
 * A fixture plugin that blocks its worker on purpose, as a buggy C plugin
 * would, so that tests can watch the watchdog see it. Bounded: at most
 * SPIN_MAX seconds per call.
 *
 *   handler "spin.busy"         route option `seconds` (default 2)
 *   require("spin").busy(s)     from a Lua route; returns s
 */
#include <time.h>
#include <lua.h>
#include <lauxlib.h>
#include <portico/portico.h>

#define SPIN_MAX 10.0

static const struct pt_api *api;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Burns the CPU (no sleep: a loop, as a stuck plugin would) for S seconds. */
static void spin(double s)
{
	volatile unsigned long n = 0;
	double end;

	if (!(s > 0))
		return;
	if (s > SPIN_MAX)
		s = SPIN_MAX;
	end = now() + s;
	while (now() < end)
		n++;
}

static int busy(pt_exchange *x, const pt_conf *opts, void *ud)
{
	double s = 2;

	(void)ud;
	api->conf_num(opts, "seconds", &s);
	spin(s);
	api->exchange_header_set(x, PT_STR("content-type"), PT_STR("text/plain"));
	return api->exchange_respond(x, 200, PT_STR("spun\n"));
}

static int l_busy(lua_State *L)
{
	lua_Number s = luaL_checknumber(L, 1);

	spin((double)s);
	lua_pushnumber(L, s);
	return 1;
}

static int open_spin(lua_State *L)
{
	lua_newtable(L);
	lua_pushcfunction(L, l_busy);
	lua_setfield(L, -2, "busy");
	return 1;
}

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	(void)conf;
	api = a;
	if (a->lua_module_register(ctx, "spin", open_spin) != 0)
		return PT_EINVAL;
	return a->handler_register(ctx, "spin.busy", busy, NULL);
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "spin",
	.version = "1.0",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
