/*
 * A fixture plugin built against the frozen ABI 1.0 headers next to it
 * (tests/plugins/abi-1.0/portico/, copied verbatim from commit dc1f319, the
 * last whose PT_ABI_MINOR was 0: the 1.0 table as it was closed, which the
 * changelog in plugin.h describes; the first 1.0 commit, d8f9aae, has the same
 * layout minus lua_worker, with lua_wait/lua_yield/lua_wake named as before
 * the rename). Never edit them. Every later core must load this plugin and
 * serve its routes: test_abi_compat.py holds the append-only promise of api.h.
 *
 * It uses only 1.0 members: options, the request (params, query, headers,
 * body), a whole and a streamed response, an answer later from a timer,
 * a metric, and a Lua module whose function waits.
 *
 *   abi10.echo    GET /echo/:name?n=...  "<greeting> <name> n=<n> x=<x-test>"
 *                 POST: the body back; headers x-abi-core / x-abi-plugin
 *   abi10.stream  N chunks "0\n1\n..." with exchange_write / finish
 *   abi10.later   answers from a timer after ?ms= (exchange_ref / unref)
 *   require("abi10").later(ms, v) -> v after ms; .built() -> "1.0"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <portico/portico.h>

/* Refuse to build against anything but the frozen 1.0 headers. */
_Static_assert(PT_ABI_MAJOR == 1 && PT_ABI_MINOR == 0, "abi10 must see the ABI 1.0 headers");

static const struct pt_api *api;
static pt_metric *answers;

/* "N" of a query argument, or DEF when absent or not a number 0..1000. */
static long query_num(pt_exchange *x, const char *name, size_t len, long def)
{
	pt_str_t v;
	char buf[16];
	char *end;
	long n;

	if (api->exchange_query_arg(x, (pt_str_t){ name, len }, 0, &v) != 0 ||
	    v.len == 0 || v.len >= sizeof(buf))
		return def;
	snprintf(buf, sizeof(buf), "%.*s", (int)v.len, v.ptr);
	n = strtol(buf, &end, 10);
	return (*end || n < 0 || n > 1000) ? def : n;
}

static int echo(pt_exchange *x, const pt_conf *opts, void *ud)
{
	pt_str_t greeting = PT_STR("hello"), name = PT_STR("?"), xt = PT_STR("-"), body;
	char core[32];
	char *out;
	int n;

	(void)ud;
	api->metric_add(answers, 1);
	api->conf_str(opts, "greeting", &greeting);
	api->exchange_param(x, PT_STR("name"), &name);
	api->exchange_header(x, PT_STR("x-test"), 0, &xt);
	snprintf(core, sizeof(core), "%u.%u", (unsigned)api->abi_major, (unsigned)api->abi_minor);
	api->exchange_header_set(x, PT_STR("x-abi-core"), (pt_str_t){ core, strlen(core) });
	api->exchange_header_set(x, PT_STR("x-abi-plugin"), PT_STR("1.0"));
	api->exchange_header_set(x, PT_STR("content-type"), PT_STR("text/plain"));
	if (api->exchange_body(x, &body) == 0 && body.len)
		return api->exchange_respond(x, 200, body);
	out = api->exchange_alloc(x, greeting.len + name.len + xt.len + 64);
	if (!out)
		return PT_ENOMEM;
	n = sprintf(out, "%.*s %.*s n=%ld x=%.*s\n", (int)greeting.len, greeting.ptr,
	            (int)name.len, name.ptr, query_num(x, "n", 1, -1), (int)xt.len, xt.ptr);
	return api->exchange_respond(x, 200, (pt_str_t){ out, (size_t)n });
}

static int stream(pt_exchange *x, const pt_conf *opts, void *ud)
{
	long n = query_num(x, "n", 1, 3);
	char line[24];
	int rc = 0;

	(void)opts; (void)ud;
	api->exchange_status_set(x, 200);
	api->exchange_header_set(x, PT_STR("content-type"), PT_STR("text/plain"));
	for (long i = 0; i < n && rc == 0; i++) {
		int len = snprintf(line, sizeof(line), "%ld\n", i);

		rc = api->exchange_write(x, line, (size_t)len);
	}
	return rc ? rc : api->exchange_finish(x);
}

struct pending {
	pt_exchange *x;
	pt_timer *timer;
};

static void answer_later(void *ud)
{
	struct pending *p = ud;

	if (!api->exchange_aborted(p->x))
		api->exchange_respond(p->x, 200, PT_STR("later\n"));
	api->exchange_unref(p->x);
	api->timer_free(p->timer);
	free(p);
}

static int later_handler(pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct pending *p = calloc(1, sizeof(*p));

	(void)opts; (void)ud;
	if (!p)
		return PT_ENOMEM;
	p->x = x;
	p->timer = api->timer_new(api->exchange_worker(x), answer_later, p);
	if (!p->timer) {
		free(p);
		return PT_ENOMEM;
	}
	api->exchange_ref(x);
	api->timer_start(p->timer, (uint64_t)query_num(x, "ms", 2, 50), 0);
	return 0;
}

/* ---- the Lua module ---- */

struct wait {
	pt_wait *w;
	pt_timer *timer;
	lua_Integer value;
};

static int push_value(struct lua_State *L, void *ud)
{
	lua_pushinteger(L, ((struct wait *)ud)->value);
	return 1;
}

static void wake(void *ud)
{
	struct wait *w = ud;

	api->lua_wait_wake(w->w, push_value, w);
	api->timer_free(w->timer);
	free(w);
}

static int l_later(lua_State *L)
{
	lua_Integer ms = luaL_checkinteger(L, 1), v = luaL_checkinteger(L, 2);
	pt_worker *wk = api->lua_worker(L);
	struct wait *w;

	luaL_argcheck(L, ms >= 0 && ms <= 10000, 1, "0 to 10000 ms");
	if (!wk)
		return luaL_error(L, "abi10.later: only while a request runs");
	w = calloc(1, sizeof(*w));
	if (!w)
		return luaL_error(L, "abi10.later: out of memory");
	w->value = v;
	w->timer = api->timer_new(wk, wake, w);
	if (!w->timer) {
		free(w);
		return luaL_error(L, "abi10.later: no timer");
	}
	w->w = api->lua_wait_begin(L);
	api->timer_start(w->timer, (uint64_t)ms, 0);
	return api->lua_wait_yield(L);
}

static int l_built(lua_State *L)
{
	lua_pushfstring(L, "%d.%d", PT_ABI_MAJOR, PT_ABI_MINOR);
	return 1;
}

static int open_abi10(lua_State *L)
{
	lua_newtable(L);
	lua_pushcfunction(L, l_later);
	lua_setfield(L, -2, "later");
	lua_pushcfunction(L, l_built);
	lua_setfield(L, -2, "built");
	return 1;
}

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	(void)conf;
	api = a;
	answers = a->metric_counter(ctx, "portico_abi10_answers_total", "abi10.echo answers.");
	a->log(ctx, PT_LOG_INFO, "abi10: built for ABI %d.%d, core %s provides %u.%u",
	       PT_ABI_MAJOR, PT_ABI_MINOR, a->version(), (unsigned)a->abi_major,
	       (unsigned)a->abi_minor);
	if (a->handler_register(ctx, "abi10.echo", echo, NULL) != 0 ||
	    a->handler_register(ctx, "abi10.stream", stream, NULL) != 0 ||
	    a->handler_register(ctx, "abi10.later", later_handler, NULL) != 0)
		return PT_EINVAL;
	return a->lua_module_register(ctx, "abi10", open_abi10);
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "abi10",
	.version = "1.0",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
