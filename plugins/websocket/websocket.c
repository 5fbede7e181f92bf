/*
 * websocket.c - the websocket plugin: its descriptor, the "sse" handler's
 * options, the channels every worker buffers, and the `sse` Lua module:
 *
 *   local sse = require "sse"
 *   sse.endpoint("/events", { channels = { "orders" }, jwt = true,
 *                             replay = 100, heartbeat = 15 })
 *
 * sse.endpoint checks the options (an error names the script's line), notes
 * the channels so that every worker buffers them from its start, and adds
 * the route as route.get(path, "sse", opts) would: options naming filters
 * (jwt, auth, rate, ...) run as on any route. WebSocket endpoints
 * (`websocket.endpoint`) are in ws_endpoint.c.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "wsp.h"

const struct pt_api *wsp_api;
pt_plugin_ctx *wsp_ctx;

/* ---- options ----------------------------------------------------------------- */

int wsp_channel_ok(const char *name, size_t len)
{
	if (!len || len > WSP_MAX_CHANNEL)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return 1;
}

int wsp_opts_read(const pt_conf *opts, struct wsp_opts *o, char *err, size_t errlen)
{
	const struct pt_api *a = wsp_api;
	const pt_conf *ch = a->conf_get(opts, "channels");
	double d;
	int rc;

	memset(o, 0, sizeof(*o));
	o->replay = WSP_DEFAULT_REPLAY;
	o->replay_bytes = WSP_DEFAULT_REPLAY_BYTES;
	o->heartbeat = WSP_DEFAULT_HEARTBEAT;
	if (!ch || a->conf_type(ch) != PT_CONF_TABLE || !a->conf_len(ch)) {
		snprintf(err, errlen, "channels must be a list of 1 to %d channel names",
		         WSP_MAX_CHANNELS);
		return -1;
	}
	if (a->conf_len(ch) > WSP_MAX_CHANNELS) {
		snprintf(err, errlen, "at most %d channels, not %zu", WSP_MAX_CHANNELS,
		         a->conf_len(ch));
		return -1;
	}
	for (size_t i = 0; i < a->conf_len(ch); i++) {
		pt_str_t s;

		if (a->conf_str(a->conf_at(ch, i), NULL, &s) != 0 || !wsp_channel_ok(s.ptr, s.len)) {
			snprintf(err, errlen, "channels[%zu] must be a channel name: a string of 1 to %d "
			         "bytes without control characters", i + 1, WSP_MAX_CHANNEL);
			return -1;
		}
		if (s.len >= 2 && s.ptr[s.len - 2] == '.' && s.ptr[s.len - 1] == '*') {
			snprintf(err, errlen, "channels[%zu] is a pattern (name.*); an endpoint names "
			         "channels exactly", i + 1);
			return -1;
		}
		o->channels[o->nchannels++] = s;
	}
	if ((rc = a->conf_num(opts, "replay", &d)) == 0) {
		if (!(d >= 0 && d <= WSP_MAX_REPLAY) || d != (double)(unsigned)d) {
			snprintf(err, errlen, "replay must be a whole number of messages from 0 to %d",
			         WSP_MAX_REPLAY);
			return -1;
		}
		o->replay = (unsigned)d;
	} else if (rc != PT_ENOENT) {
		snprintf(err, errlen, "replay must be a number of messages");
		return -1;
	}
	if ((rc = a->conf_num(opts, "replay_bytes", &d)) == 0) {
		if (!(d >= 0 && d <= (double)WSP_MAX_REPLAY_BYTES)) {
			snprintf(err, errlen, "replay_bytes must be from 0 to %zu", WSP_MAX_REPLAY_BYTES);
			return -1;
		}
		o->replay_bytes = (size_t)d;
	} else if (rc != PT_ENOENT) {
		snprintf(err, errlen, "replay_bytes must be a number of bytes");
		return -1;
	}
	if ((rc = a->conf_num(opts, "heartbeat", &d)) == 0) {
		if (!(d == 0 || (d >= 0.01 && d <= WSP_MAX_HEARTBEAT))) {
			snprintf(err, errlen, "heartbeat must be 0 (none) or from 0.01 to %g seconds",
			         WSP_MAX_HEARTBEAT);
			return -1;
		}
		o->heartbeat = d;
	} else if (rc != PT_ENOENT) {
		snprintf(err, errlen, "heartbeat must be a number of seconds");
		return -1;
	}
	return 0;
}

/* ---- the channels of every endpoint ------------------------------------------ */

struct reg {
	struct reg *next;
	char *name;
	size_t len;
	unsigned replay;
	size_t replay_bytes;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct reg *regs;   /* grows with distinct names in scripts; freed at unload */

int wsp_registry_add(pt_str_t channel, unsigned replay, size_t replay_bytes)
{
	struct reg *r;
	int rc = 0;

	pthread_mutex_lock(&reg_mu);
	for (r = regs; r; r = r->next)
		if (r->len == channel.len && !memcmp(r->name, channel.ptr, channel.len))
			break;
	if (!r && (r = calloc(1, sizeof(*r)))) {
		if ((r->name = strndup(channel.ptr, channel.len))) {
			r->len = channel.len;
			r->next = regs;
			regs = r;
		} else {
			free(r);
			r = NULL;
		}
	}
	if (r) {
		if (replay > r->replay)
			r->replay = replay;
		if (replay_bytes > r->replay_bytes)
			r->replay_bytes = replay_bytes;
	} else {
		rc = PT_ENOMEM;
	}
	pthread_mutex_unlock(&reg_mu);
	return rc;
}

void wsp_registry_each(void (*fn)(pt_str_t, unsigned, size_t, void *), void *ud)
{
	pthread_mutex_lock(&reg_mu);
	for (struct reg *r = regs; r; r = r->next)
		fn((pt_str_t){ r->name, r->len }, r->replay, r->replay_bytes, ud);
	pthread_mutex_unlock(&reg_mu);
}

static void registry_clear(void)
{
	pthread_mutex_lock(&reg_mu);
	while (regs) {
		struct reg *r = regs;

		regs = r->next;
		free(r->name);
		free(r);
	}
	pthread_mutex_unlock(&reg_mu);
}

/* ---- the `sse` Lua module ------------------------------------------------------ */

void wsp_push_fail(lua_State *L, const char *who, const char *fmt, va_list ap)
{
	luaL_where(L, 2);
	lua_pushfstring(L, "%s: ", who);
	lua_pushvfstring(L, fmt, ap);
	lua_concat(L, 3);
}

static int fail(lua_State *L, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wsp_push_fail(L, "sse.endpoint", fmt, ap);
	va_end(ap);
	return lua_error(L);
}

/* check(path, opts): raises on bad options, notes the channels. [-2, +0, e] */
static int l_check(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct wsp_opts o;
	unsigned n;

	if (path[0] != '/')
		return fail(L, "a path starts with '/', not \"%s\"", path);
	if (!lua_istable(L, 2))
		return fail(L, "the options (argument 2) must be a table with "
		                  "channels = { ... }, not %s", luaL_typename(L, 2));
	if (lua_getfield(L, 2, "channels") != LUA_TTABLE)
		return fail(L, "channels must be a list of 1 to %d channel "
		                  "names", WSP_MAX_CHANNELS);
	n = (unsigned)lua_rawlen(L, -1);
	if (n == 0 || n > WSP_MAX_CHANNELS)
		return fail(L, "channels must be a list of 1 to %d channel "
		                  "names, not %d", WSP_MAX_CHANNELS, (int)n);
	memset(&o, 0, sizeof(o));
	for (unsigned i = 0; i < n; i++) {
		size_t len;
		const char *s;

		if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TSTRING)
			return fail(L, "channels[%d] must be a string, not %s",
			                  (int)i + 1, luaL_typename(L, -1));
		s = lua_tolstring(L, -1, &len);
		if (!wsp_channel_ok(s, len))
			return fail(L, "channels[%d] must be 1 to %d bytes without "
			                  "control characters", (int)i + 1, WSP_MAX_CHANNEL);
		if (len >= 2 && s[len - 2] == '.' && s[len - 1] == '*')
			return fail(L, "channels[%d]: \"%s\" is a pattern; an endpoint names "
			            "channels exactly", (int)i + 1, s);
		o.channels[i] = (pt_str_t){ s, len };   /* the channels table holds it */
		lua_pop(L, 1);
	}
	o.nchannels = n;
	o.replay = WSP_DEFAULT_REPLAY;
	o.replay_bytes = WSP_DEFAULT_REPLAY_BYTES;
	if (lua_getfield(L, 2, "replay") != LUA_TNIL) {
		lua_Integer v;
		int ok;

		v = lua_tointegerx(L, -1, &ok);
		if (!ok || v < 0 || v > WSP_MAX_REPLAY)
			return fail(L, "replay must be a whole number of messages "
			                  "from 0 to %d", WSP_MAX_REPLAY);
		o.replay = (unsigned)v;
	}
	if (lua_getfield(L, 2, "replay_bytes") != LUA_TNIL) {
		lua_Integer v;
		int ok;

		v = lua_tointegerx(L, -1, &ok);
		if (!ok || v < 0 || (size_t)v > WSP_MAX_REPLAY_BYTES)
			return fail(L, "replay_bytes must be a whole number from 0 "
			                  "to %I", (lua_Integer)WSP_MAX_REPLAY_BYTES);
		o.replay_bytes = (size_t)v;
	}
	if (lua_getfield(L, 2, "heartbeat") != LUA_TNIL) {
		int ok;
		lua_Number v = lua_tonumberx(L, -1, &ok);

		if (!ok || !(v == 0 || (v >= 0.01 && v <= WSP_MAX_HEARTBEAT)))
			return fail(L, "heartbeat must be 0 (none) or from 0.01 to "
			                  "%d seconds", (int)WSP_MAX_HEARTBEAT);
	}
	for (unsigned i = 0; i < n; i++)
		if (wsp_registry_add(o.channels[i], o.replay, o.replay_bytes) != 0)
			return fail(L, "out of memory");
	return 0;
}

/* The module is Lua around check so that route.get is a tail call: the
 * route then names the script's file and line, as a route.get there would. */
static const char module_src[] =
	"local check = ...\n"
	"local M = {}\n"
	"function M.endpoint(path, opts)\n"
	"  check(path, opts)\n"
	"  return route.get(path, 'sse', opts)\n"
	"end\n"
	"return M\n";

int wsp_module_open(lua_State *L, const char *src, size_t len, const char *name,
                    lua_CFunction check)
{
	if (luaL_loadbuffer(L, src, len, name) != LUA_OK)
		return lua_error(L);
	lua_pushcfunction(L, check);
	lua_call(L, 1, 1);
	return 1;
}

int wsp_lua_open(lua_State *L)
{
	return wsp_module_open(L, module_src, sizeof(module_src) - 1, "=sse", l_check);
}

/* ---- the plugin -------------------------------------------------------------------- */

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	int rc;

	(void)conf;
	wsp_api = a;
	wsp_ctx = ctx;
	if (!PT_API_HAS(a, hub_message_id)) {
		a->log(ctx, PT_LOG_ERROR, "this portico lacks hub_message_id (ABI 1.5)");
		return PT_ENOSYS;
	}
	if ((rc = a->handler_register(ctx, "sse", wsp_sse_handle, NULL)) != 0 ||
	    (rc = a->lua_module_register(ctx, "sse", (pt_lua_open_fn)wsp_lua_open)) != 0) {
		a->log(ctx, PT_LOG_ERROR, "cannot register the sse handler and module: %s",
		       a->strerror(rc));
		return rc;
	}
	if (!PT_API_HAS(a, exchange_lua_req)) {
		a->log(ctx, PT_LOG_WARN, "this portico lacks WebSocket (ABI 1.6): "
		       "websocket.endpoint is not available");
		return 0;
	}
	if ((rc = a->handler_register(ctx, "websocket", wsp_ws_handle, NULL)) != 0 ||
	    (rc = a->lua_module_register(ctx, "websocket", (pt_lua_open_fn)wsp_ws_lua_open)) != 0)
		a->log(ctx, PT_LOG_ERROR, "cannot register the websocket handler and module: %s",
		       a->strerror(rc));
	return rc;
}

static int worker_start(pt_plugin_ctx *ctx, pt_worker *w)
{
	struct wsp_worker *ww = wsp_worker_new(w);

	if (!ww)
		return PT_ENOMEM;
	wsp_api->worker_set_data(ctx, w, ww);
	return wsp_ws_worker_start(w);
}

static void worker_stop(pt_plugin_ctx *ctx, pt_worker *w)
{
	wsp_ws_worker_stop(w);
	wsp_worker_free(wsp_api->worker_get_data(ctx, w));
	wsp_api->worker_set_data(ctx, w, NULL);
}

static void unload(pt_plugin_ctx *ctx)
{
	(void)ctx;
	registry_clear();
	wsp_ws_unload();
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "websocket",
	.version = "0.1",
	.load = load,
	.worker_start = worker_start,
	.worker_stop = worker_stop,
	.unload = unload,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
