/*
 * lua_globals.c - what route scripts get besides the route API: json,
 * shared, http.request, sleep, hub.publish, log. The waiting ones (sleep, http.request)
 * suspend the request's coroutine through lua_wait_begin and resume it from
 * the worker's loop, so a waiting request never blocks the worker.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <lua.h>
#include <lauxlib.h>

#include "gen.h"
#include "http/exchange.h"
#include "api_table.h"
#include "hub.h"
#include "log.h"
#include "lua_json.h"
#include "lua_priv.h"
#include "secret.h"
#include "shared_dict.h"
#include "upstream/outbound.h"
#include "worker.h"

#define MAX_SLEEP 86400.0
#define HUB_MAX_CHANNEL 256

static struct shared_dict *shared;   /* one for the process: every worker sees it */
static atomic_size_t hub_max_message = 65536;   /* hub.max_message; set on (re)load */

int lua_rt_init(const struct config *cfg, char *err, size_t errlen)
{
	lua_json_set_limits(cfg->lua.json_max_size, cfg->lua.json_max_depth);
	atomic_store(&hub_max_message, cfg->hub_max_message);
	if (!shared) {
		shared = shared_dict_new(cfg->lua.shared_dict_size, 0);
		if (!shared) {
			snprintf(err, errlen, "cannot allocate the shared dictionary");
			return -1;
		}
	}
	return 0;
}

struct shared_dict *lua_rt_shared(void)
{
	return shared;
}

void lua_rt_shutdown(void)
{
	shared_dict_free(shared);
	shared = NULL;
	lua_modules_clear();
}

/* ---- env, secret_file ---------------------------------------------------- */

/* While the scripts load only: a handler reading the environment or the
 * file system at request time would put secrets and disk I/O on the
 * request path (and see values the loaded generation never checked). */
static int l_env(lua_State *L)
{
	if (lstate_of(L)->frozen)
		return luaL_error(L, "env() is only available while scripts load (read it at the "
		                  "top of the script into a local)");
	return secret_lua_env(L);
}

static int l_secret_file(lua_State *L)
{
	struct lstate *ls = lstate_of(L);

	if (ls->frozen)
		return luaL_error(L, "secret_file() is only available while scripts load (read it "
		                  "at the top of the script into a local)");
	return secret_lua_file(L, ls->lg && ls->lg->cfg ? ls->lg->cfg->file : NULL);
}

/* ---- sleep ------------------------------------------------------------- */

struct sleeper {
	pt_wait *wait;
	struct event *ev;
};

static void sleep_done(evutil_socket_t fd, short what, void *arg)
{
	struct sleeper *s = arg;

	(void)fd;
	(void)what;
	event_free(s->ev);
	lua_wait_wake(s->wait, NULL, NULL);
	free(s);
}

/* The handler was abandoned (its client left): the timer goes now. */
static void sleep_abandoned(void *ud)
{
	sleep_done(-1, 0, ud);
}

/* sleep(seconds): yields the request for that long. [-1, +0, e] */
static int l_sleep(lua_State *L)
{
	double secs = luaL_checknumber(L, 1);
	struct lstate *ls = lstate_of(L);
	struct timeval tv;
	struct sleeper *s;

	if (!(secs >= 0) || secs > MAX_SLEEP)
		return luaL_argerror(L, 1, "seconds must be between 0 and 86400");
	if (!ls->w)
		return luaL_error(L, "sleep() cannot run while the scripts load");
	s = calloc(1, sizeof(*s));
	if (!s)
		return luaL_error(L, "out of memory");
	s->ev = evtimer_new(ls->w->base, sleep_done, s);
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - floor(secs)) * 1e6);
	if (!s->ev) {
		free(s);
		return luaL_error(L, "sleep: cannot make a timer");
	}
	/* may raise (not in a request): then nothing is armed yet */
	s->wait = lua_wait_begin_safe(L);
	if (!s->wait) {
		event_free(s->ev);
		free(s);
		return luaL_error(L, "sleep() waits, so it can only run in a request handler or "
		                  "filter, not inside a coroutine the handler created");
	}
	evtimer_add(s->ev, &tv);
	lua_wait_on_abandon(s->wait, sleep_abandoned, s);
	return lua_wait_yield(L);
}

/* ---- http.request ------------------------------------------------------ */

struct http_wait {
	pt_wait *wait;
	const struct http_client_res *res;
	uint64_t t0;
	struct http_client_call *call;
};

static int push_response(lua_State *L, void *ud)
{
	const struct http_client_res *res = ((struct http_wait *)ud)->res;

	if (res->status < 0) {
		lua_pushnil(L);
		lua_pushstring(L, res->error ? res->error : "request failed");
		return 2;
	}
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, res->status);
	lua_setfield(L, -2, "status");
	lua_pushlstring(L, res->body.ptr ? res->body.ptr : "", res->body.len);
	lua_setfield(L, -2, "body");
	lua_createtable(L, 0, (int)res->num_headers);
	for (unsigned i = 0; i < res->num_headers; i++) {
		const pt_str_t *n = &res->headers[2 * i], *v = &res->headers[2 * i + 1];

		lua_pushlstring(L, n->ptr, n->len);
		if (lua_rawget(L, -2) == LUA_TSTRING) {
			lua_pushliteral(L, ", ");
			lua_pushlstring(L, v->ptr, v->len);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			lua_pushlstring(L, v->ptr, v->len);
		}
		lua_pushlstring(L, n->ptr, n->len);
		lua_insert(L, -2);
		lua_rawset(L, -3);
	}
	lua_setfield(L, -2, "headers");
	lua_pushinteger(L, res->http_version);
	lua_setfield(L, -2, "version");
	return 1;
}

static void http_done(const struct http_client_res *res, void *ud)
{
	struct http_wait *hw = ud;
	pt_exchange *x = lua_wait_exchange(hw->wait);

	if (x) {
		/* the access log's upstream facts */
		size_t n = res->peer ? strlen(res->peer) : 0;
		char *a = n ? xapi_alloc(x, n + 1) : NULL;

		if (hw->t0)
			x->upstream_us += mono_us() - hw->t0;
		if (a) {
			memcpy(a, res->peer, n + 1);
			x->upstream_addr = (pt_str_t){ a, n };
		}
	}
	hw->res = res;
	lua_wait_wake(hw->wait, push_response, hw);
	free(hw);
}

/* The handler was abandoned (its client left): the call goes now (an
 * HTTP/1.1 connection it used is closed, an h2 stream reset). */
static void http_abandoned(void *ud)
{
	struct http_wait *hw = ud;

	http_client_cancel(hw->call);
	lua_wait_wake(hw->wait, NULL, NULL);
	free(hw);
}

static pt_str_t field_str(lua_State *L, int t, const char *k, const char *dflt)
{
	pt_str_t s = { dflt, dflt ? strlen(dflt) : 0 };

	if (lua_getfield(L, t, k) == LUA_TSTRING)
		s.ptr = lua_tolstring(L, -1, &s.len);   /* stays alive: the table holds it */
	else if (!lua_isnil(L, -1))
		luaL_error(L, "http.request: '%s' must be a string", k);
	lua_pop(L, 1);
	return s;
}

/*
 * http.request{ method = "GET", url = "http://...", headers = {...},
 *               body = "...", timeout = 5, h2 = false }
 * -> { status, headers, body, version } or nil, message. Yields.
 */
static int l_http_request(lua_State *L)
{
	struct lstate *ls = lstate_of(L);
	struct http_client_req req = { 0 };
	struct http_wait *hw;
	pt_str_t *hdrs = NULL;
	unsigned nh = 0;
	struct http_client *c;

	luaL_checktype(L, 1, LUA_TTABLE);
	if (!ls->w)
		return luaL_error(L, "http.request() cannot run while the scripts load");
	req.method = field_str(L, 1, "method", "GET");
	req.url = field_str(L, 1, "url", NULL);
	req.body = field_str(L, 1, "body", NULL);
	if (!req.url.ptr)
		return luaL_error(L, "http.request: 'url' is required");
	lua_getfield(L, 1, "timeout");
	req.timeout = lua_isnil(L, -1) ? 30 : luaL_checknumber(L, -1);
	lua_pop(L, 1);
	if (!(req.timeout > 0) || req.timeout > 3600)
		return luaL_error(L, "http.request: 'timeout' must be between 0 and 3600 seconds");
	req.connect_timeout = req.timeout < 5 ? req.timeout : 5;
	lua_getfield(L, 1, "h2");
	req.h2 = lua_toboolean(L, -1);
	lua_pop(L, 1);
	lua_getfield(L, 1, "insecure");
	req.insecure = lua_toboolean(L, -1);
	lua_pop(L, 1);
	if (lua_getfield(L, 1, "headers") == LUA_TTABLE) {
		unsigned cap = 16;

		hdrs = lua_newuserdatauv(L, cap * 2 * sizeof(*hdrs), 0);   /* freed by the GC */
		/* the strings made from number values: only this table holds them
		 * until the client has copied them (the headers table holds the
		 * numbers), and the collector may run at each conversion */
		lua_createtable(L, (int)cap, 0);
		lua_pushnil(L);
		while (lua_next(L, -4)) {
			if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
				return luaL_error(L, "http.request: headers are name = value strings");
			if (nh == cap)
				return luaL_error(L, "http.request: at most %u headers", cap);
			hdrs[2 * nh].ptr = lua_tolstring(L, -2, &hdrs[2 * nh].len);   /* a string key */
			if (lua_type(L, -1) == LUA_TSTRING) {
				hdrs[2 * nh + 1].ptr = lua_tolstring(L, -1, &hdrs[2 * nh + 1].len);
			} else {
				lua_pushvalue(L, -1);   /* converted in place: a copy, kept */
				hdrs[2 * nh + 1].ptr = lua_tolstring(L, -1, &hdrs[2 * nh + 1].len);
				lua_rawseti(L, -4, (lua_Integer)nh + 1);
			}
			lua_pop(L, 1);
			nh++;
		}
	}
	req.headers = hdrs;
	req.num_headers = nh;
	c = worker_http_client(ls->w);
	hw = calloc(1, sizeof(*hw));
	if (!c || !hw) {
		free(hw);
		return luaL_error(L, "http.request: out of memory");
	}
	hw->wait = lua_wait_begin_safe(L);
	if (!hw->wait) {
		free(hw);
		return luaL_error(L, "http.request() waits, so it can only run in a request handler "
		                  "or filter, not inside a coroutine the handler created");
	}
	{
		pt_exchange *wx = lua_wait_exchange(hw->wait);

		if (wx && wx->gen->alog)   /* only the access log reads the time */
			hw->t0 = mono_us();
	}
	/* the client copies everything and never calls back from inside this call */
	if (!(hw->call = http_client_request(c, &req, http_done, hw))) {
		lua_wait_cancel(hw->wait);
		free(hw);
		lua_pushnil(L);
		lua_pushliteral(L, "http.request: out of memory");
		return 2;
	}
	lua_wait_on_abandon(hw->wait, http_abandoned, hw);
	return lua_wait_yield(L);
}

/* ---- hub ---------------------------------------------------------------- */

/*
 * hub.publish(channel, message) -> n: MESSAGE on the hub's CHANNEL, for
 * every subscriber on every worker (SSE endpoints, GraphQL subscriptions,
 * plugins). A string goes as it is; a table, number or boolean as its JSON
 * text. N is how many subscriptions took it (each SSE endpoint's channel
 * counts once per worker that serves it, whatever its number of clients).
 * Bad arguments raise an error that says which and why.  [-2, +1, e]
 */
static int l_hub_publish(lua_State *L)
{
	size_t clen, max = atomic_load(&hub_max_message);
	const char *ch;
	char *owned = NULL, err[256];
	pt_str_t msg;
	int t = lua_type(L, 2), n;

	if (lua_type(L, 1) != LUA_TSTRING)
		return luaL_error(L, "hub.publish: the channel (argument 1) must be a string, not %s",
		                  luaL_typename(L, 1));
	ch = lua_tolstring(L, 1, &clen);
	if (clen == 0 || clen > HUB_MAX_CHANNEL)
		return luaL_error(L, "hub.publish: a channel name is 1 to %d bytes, not %d",
		                  HUB_MAX_CHANNEL, (int)clen);
	for (size_t i = 0; i < clen; i++)
		if ((unsigned char)ch[i] < 0x20 || ch[i] == 0x7f)
			return luaL_error(L, "hub.publish: the channel name has a control character "
			                  "at byte %d", (int)i + 1);
	if (t == LUA_TSTRING) {
		msg.ptr = lua_tolstring(L, 2, &msg.len);
	} else if (t == LUA_TTABLE || t == LUA_TNUMBER || t == LUA_TBOOLEAN) {
		if (!(owned = lua_json_encode_value(L, 2, &msg.len, err, sizeof(err))))
			return luaL_error(L, "hub.publish: the message cannot be JSON: %s", err);
		msg.ptr = owned;
	} else {
		return luaL_error(L, "hub.publish: the message (argument 2) must be a string, or a "
		                  "table, number or boolean (sent as JSON), not %s",
		                  luaL_typename(L, 2));
	}
	if (msg.len > max) {
		size_t len = msg.len;

		free(owned);
		return luaL_error(L, "hub.publish: the message is %I bytes, over hub.max_message "
		                  "(%I)", (lua_Integer)len, (lua_Integer)max);
	}
	n = hub_publish((pt_str_t){ ch, clen }, msg);
	free(owned);
	if (n < 0)
		return luaL_error(L, "hub.publish: %s", pt_strerror_impl(n));
	lua_pushinteger(L, n);
	return 1;
}

/* ---- log ---------------------------------------------------------------- */

static int l_log(lua_State *L)
{
	int level = (int)lua_tointeger(L, lua_upvalueindex(1));
	int n = lua_gettop(L);
	luaL_Buffer b;
	lua_Debug ar;
	char where[300] = "lua";

	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
		if (i < n)
			luaL_addchar(&b, ' ');
	}
	luaL_pushresult(&b);
	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar))
		snprintf(where, sizeof(where), "%s:%d", ar.short_src, ar.currentline);
	log_msg(level, where, "%s", lua_tostring(L, -1));
	return 0;
}

int lua_builtin_module(lua_State *L, const char *name)
{
	if (!strcmp(name, "json")) {
		lua_getglobal(L, "json");
		return 1;
	}
	return 0;
}

void lua_open_globals(lua_State *L)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };

	luaL_requiref(L, "json", lua_json_open, 1);
	lua_pop(L, 1);
	lua_shared_open(L, shared);
	lua_setglobal(L, "shared");
	lua_newtable(L);
	lua_pushcfunction(L, l_http_request);
	lua_setfield(L, -2, "request");
	lua_setglobal(L, "http");
	lua_register(L, "sleep", l_sleep);
	lua_register(L, "env", l_env);
	lua_register(L, "secret_file", l_secret_file);
	lua_newtable(L);
	lua_pushcfunction(L, l_hub_publish);
	lua_setfield(L, -2, "publish");
	lua_setglobal(L, "hub");
	lua_newtable(L);
	for (int i = 0; i < 4; i++) {
		lua_pushinteger(L, i);
		lua_pushcclosure(L, l_log, 1);
		lua_setfield(L, -2, levels[i]);
	}
	lua_setglobal(L, "log");
}
