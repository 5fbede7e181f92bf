/*
 * ws_endpoint.c - WebSocket endpoints in route scripts:
 *
 *   websocket.endpoint("/ws/orders", {
 *     subprotocols = { "orders.v1" }, origins = { "https://app.example.com" },
 *     channels = { "orders" }, jwt = true, max_message = 1048576,
 *     ping_interval = 20, ping_timeout = 10,
 *     queue = { max_bytes = 1048576, on_full = "close" },
 *     on_connect = function(req) return { user = req.consumer } end,
 *     on_message = function(conn, msg, binary) conn:send(msg, binary) end,
 *     on_close = function(conn, code, reason) end,
 *   })
 *
 * The route is route.get(path, "websocket", opts): filters named in OPTS
 * run on the upgrade as on any route. The "websocket" handler checks the
 * Origin, runs on_connect (it may wait), then pt_api.ws_accept takes the
 * connection. Each state keeps the endpoints' functions by number in its
 * registry (every worker runs the same scripts, so the numbers agree).
 *
 * Messages of one connection are handled in order: while on_message waits
 * (sleep, http.request) the connection is paused (ws_pause) and the core
 * holds the next ones. on_close runs when the connection ends, even while
 * an on_message still waits: that one's conn:send then returns nil, "closed".
 *
 * Channels: each worker keeps, per channel, one hub subscription and the
 * list of its connections; a message is framed once per connection.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lua.h>
#include <lauxlib.h>

#include "wsp.h"

#define K_EPS "portico.ws.endpoints"     /* registry: id -> { on_connect, ... } */
#define K_THREADS "portico.ws.threads"   /* registry: idle coroutines */
#define CONN_MT "portico.ws.conn"
#define MAX_THREADS 64
#define MAX_SUBS 64                      /* channels of one connection */
#define MAX_PROTOCOLS 16
#define MAX_ORIGINS 64
#define MAX_MESSAGE_CAP ((size_t)64 << 20)
#define DEFAULT_PING_INTERVAL 30.0
#define DEFAULT_PING_TIMEOUT 10.0

struct wconn;

/* One channel on one worker: its hub subscription and its connections. */
struct wchan {
	struct wchan *next;
	char *name;
	size_t len;
	pt_sub *sub;
	struct wmember *members;
	pt_worker *w;
};

struct wmember {
	struct wmember *prev, *next;   /* the channel's list */
	struct wmember *cnext;         /* the connection's list */
	struct wchan *ch;
	struct wconn *c;
};

/* The Lua side of one connection. */
struct wconn {
	pt_ws *ws;                     /* NULL once the core closed it */
	lua_State *L;
	int ep;                        /* the endpoint's number in K_EPS */
	int ud_ref;                    /* the conn userdata (kept while open) */
	int ident_ref;                 /* what on_connect returned */
	int co_ref;                    /* a waiting on_message's thread, else LUA_NOREF */
	int tasks;                     /* Lua tasks still running for it */
	struct wmember *subs;
	unsigned nsubs;
	pt_worker *w;
};

struct conn_ud {
	struct wconn *c;
};

/* Per worker: its channels. Indexed by worker id: sized for every id the
 * core may give (a reload that raises `workers` starts workers with ids
 * past the count at start; the core caps max_workers at 1024). */
#define WS_WORKER_IDS 1024
static struct wchan **chans;
static unsigned nworkers;

static const struct pt_api *A(void)
{
	return wsp_api;
}

/* ---- coroutines ------------------------------------------------------------------ */

/* A coroutine of L, anchored under *REF. NULL when out of memory. */
static lua_State *co_take(lua_State *L, int *ref)
{
	lua_State *co;
	lua_Integer n;

	if (!lua_checkstack(L, 4))
		return NULL;
	lua_getfield(L, LUA_REGISTRYINDEX, K_THREADS);
	n = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0;
	if (n > 0) {
		lua_rawgeti(L, -1, n);
		co = lua_tothread(L, -1);
		*ref = luaL_ref(L, LUA_REGISTRYINDEX);
		lua_pushnil(L);
		lua_rawseti(L, -2, n);
		lua_pop(L, 1);
		return co;
	}
	lua_pop(L, 1);
	co = lua_newthread(L);
	*ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return co;
}

/* Done with CO: kept for the next message when it ended cleanly. */
static void co_give(lua_State *L, lua_State *co, int ref, int clean)
{
	if (clean && lua_status(co) == LUA_OK && lua_checkstack(L, 3)) {
		lua_settop(co, 0);
		if (lua_getfield(L, LUA_REGISTRYINDEX, K_THREADS) != LUA_TTABLE) {
			lua_pop(L, 1);
			lua_newtable(L);
			lua_pushvalue(L, -1);
			lua_setfield(L, LUA_REGISTRYINDEX, K_THREADS);
		}
		if (lua_rawlen(L, -1) < MAX_THREADS) {
			lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
			lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		}
		lua_pop(L, 1);
	}
	luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

/* Pushes endpoint EP's function NAME onto CO; 1 when it is a function. */
static int push_fn(lua_State *L, lua_State *co, int ep, const char *name)
{
	if (!lua_checkstack(co, 6))
		return 0;
	lua_getfield(co, LUA_REGISTRYINDEX, K_EPS);
	if (lua_rawgeti(co, -1, ep) != LUA_TTABLE) {
		lua_pop(co, 2);
		return 0;
	}
	lua_getfield(co, -1, name);
	lua_replace(co, -3);
	lua_pop(co, 1);
	(void)L;
	if (!lua_isfunction(co, -1)) {
		lua_pop(co, 1);
		return 0;
	}
	return 1;
}

/* ---- channels -------------------------------------------------------------------- */

static void deliver(pt_worker *w, pt_str_t channel, pt_str_t message, void *ud)
{
	struct wchan *ch = ud;
	int binary = 0;

	(void)w;
	(void)channel;
	for (struct wmember *m = ch->members, *next; m; m = next) {
		next = m->next;   /* a send never unlinks (closes come later) */
		if (!m->c->ws)
			continue;
		if (A()->ws_send(m->c->ws, message.ptr, message.len, binary) == PT_EINVAL && !binary) {
			binary = 1;   /* not UTF-8: a binary message to everyone */
			A()->ws_send(m->c->ws, message.ptr, message.len, 1);
		}
	}
}

static struct wchan *chan_get(pt_worker *w, const char *name, size_t len, int make)
{
	unsigned wid = A()->worker_id(w);
	struct wchan *ch;

	if (wid >= nworkers)
		return NULL;
	for (ch = chans[wid]; ch; ch = ch->next)
		if (ch->len == len && !memcmp(ch->name, name, len))
			return ch;
	if (!make || !(ch = calloc(1, sizeof(*ch))))
		return NULL;
	ch->name = malloc(len + 1);
	if (!ch->name) {
		free(ch);
		return NULL;
	}
	memcpy(ch->name, name, len);
	ch->name[len] = '\0';
	ch->len = len;
	ch->w = w;
	ch->sub = A()->hub_subscribe(w, (pt_str_t){ ch->name, len }, deliver, ch);
	if (!ch->sub) {
		free(ch->name);
		free(ch);
		return NULL;
	}
	ch->next = chans[wid];
	chans[wid] = ch;
	return ch;
}

static void chan_drop_if_empty(struct wchan *ch)
{
	unsigned wid = A()->worker_id(ch->w);
	struct wchan **pp;

	if (ch->members)
		return;
	for (pp = &chans[wid]; *pp; pp = &(*pp)->next) {
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	}
	A()->hub_unsubscribe(ch->sub);
	free(ch->name);
	free(ch);
}

/* 0, 1 when already subscribed, or a negative PT_E*. */
static int conn_subscribe(struct wconn *c, const char *name, size_t len)
{
	struct wchan *ch;
	struct wmember *m;

	for (m = c->subs; m; m = m->cnext)
		if (m->ch->len == len && !memcmp(m->ch->name, name, len))
			return 1;
	if (c->nsubs >= MAX_SUBS)
		return PT_ELIMIT;
	if (!(ch = chan_get(c->w, name, len, 1)) || !(m = calloc(1, sizeof(*m)))) {
		if (ch)
			chan_drop_if_empty(ch);
		return PT_ENOMEM;
	}
	m->ch = ch;
	m->c = c;
	m->next = ch->members;
	if (ch->members)
		ch->members->prev = m;
	ch->members = m;
	m->cnext = c->subs;
	c->subs = m;
	c->nsubs++;
	return 0;
}

static void member_free(struct wmember *m)
{
	struct wchan *ch = m->ch;

	if (m->prev)
		m->prev->next = m->next;
	else
		ch->members = m->next;
	if (m->next)
		m->next->prev = m->prev;
	free(m);
	chan_drop_if_empty(ch);
}

static int conn_unsubscribe(struct wconn *c, const char *name, size_t len)
{
	for (struct wmember **pp = &c->subs; *pp; pp = &(*pp)->cnext) {
		struct wmember *m = *pp;

		if (m->ch->len == len && !memcmp(m->ch->name, name, len)) {
			*pp = m->cnext;
			c->nsubs--;
			member_free(m);
			return 0;
		}
	}
	return 1;
}

static void conn_unsubscribe_all(struct wconn *c)
{
	while (c->subs) {
		struct wmember *m = c->subs;

		c->subs = m->cnext;
		member_free(m);
	}
	c->nsubs = 0;
}

/* ---- the connection's life ---------------------------------------------------------- */

/* Frees C once it is closed and no task of it runs. */
static void conn_maybe_free(struct wconn *c)
{
	lua_State *L = c->L;

	if (c->ws || c->tasks)
		return;
	if (c->ud_ref != LUA_NOREF && lua_checkstack(L, 2)) {
		struct conn_ud *u;

		lua_rawgeti(L, LUA_REGISTRYINDEX, c->ud_ref);
		if ((u = lua_touserdata(L, -1)) != NULL)
			u->c = NULL;   /* a kept conn now says "closed" */
		lua_pop(L, 1);
	}
	luaL_unref(L, LUA_REGISTRYINDEX, c->ud_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, c->ident_ref);
	free(c);
}

/* The endpoint's path, for logs: kept with its functions (no copy per
 * connection). */
static const char *ep_path(struct wconn *c, char *buf, size_t n)
{
	lua_State *L = c->L;
	int top = lua_gettop(L);

	snprintf(buf, n, "#%d", c->ep);
	if (!lua_checkstack(L, 3))
		return buf;
	if (lua_getfield(L, LUA_REGISTRYINDEX, K_EPS) == LUA_TTABLE &&
	    lua_rawgeti(L, -1, c->ep) == LUA_TTABLE && lua_getfield(L, -1, "path") == LUA_TSTRING)
		snprintf(buf, n, "%s", lua_tostring(L, -1));
	lua_settop(L, top);
	return buf;
}

static void log_lua_error(struct wconn *c, lua_State *co, const char *what)
{
	const char *msg = lua_isstring(co, -1) ? lua_tostring(co, -1) : "(an error that is not a string)";
	char path[256];

	A()->log(wsp_ctx, PT_LOG_ERROR, "websocket %s: %s: %s", ep_path(c, path, sizeof(path)),
	         what, msg);
}

static void message_done(lua_State *co, int status, int nres, void *ud)
{
	struct wconn *c = ud;
	int ref = c->co_ref;

	(void)nres;
	c->co_ref = LUA_NOREF;
	c->tasks--;
	if (status != LUA_OK) {
		log_lua_error(c, co, "on_message");
		if (c->ws)
			A()->ws_close(c->ws, 1011, (pt_str_t){ "handler error", 13 });
	}
	co_give(c->L, co, ref, status == LUA_OK);
	if (c->ws)
		A()->ws_pause(c->ws, 0);
	conn_maybe_free(c);
}

static void on_message(pt_ws *ws, const char *data, size_t len, int binary, void *ud)
{
	struct wconn *c = ud;
	lua_State *co;
	int ref, st, nres = 0;

	if (!(co = co_take(c->L, &ref)))
		return;
	if (!push_fn(c->L, co, c->ep, "on_message")) {
		co_give(c->L, co, ref, 1);
		return;
	}
	lua_rawgeti(co, LUA_REGISTRYINDEX, c->ud_ref);
	lua_pushlstring(co, data, len);
	lua_pushboolean(co, binary);
	c->tasks++;
	c->co_ref = ref;
	st = A()->ws_lua_task_resume(ws, co, 3, &nres, message_done, c);
	if (st == LUA_YIELD) {
		A()->ws_pause(ws, 1);   /* the next messages wait for this one */
		return;
	}
	c->tasks--;
	c->co_ref = LUA_NOREF;
	if (st != LUA_OK) {
		log_lua_error(c, co, "on_message");
		A()->ws_close(ws, 1011, (pt_str_t){ "handler error", 13 });
	}
	co_give(c->L, co, ref, st == LUA_OK);
}

struct close_task {
	struct wconn *c;
	int ref;
};

static void close_done(lua_State *co, int status, int nres, void *ud)
{
	struct close_task *t = ud;
	struct wconn *c = t->c;

	(void)nres;
	if (status != LUA_OK)
		log_lua_error(c, co, "on_close");
	co_give(c->L, co, t->ref, status == LUA_OK);
	free(t);
	c->tasks--;
	conn_maybe_free(c);
}

static void on_close(pt_ws *ws, unsigned code, pt_str_t reason, void *ud)
{
	struct wconn *c = ud;
	struct close_task *t;
	lua_State *co;
	int st, nres = 0;

	conn_unsubscribe_all(c);
	if ((t = calloc(1, sizeof(*t))) && (co = co_take(c->L, &t->ref)) != NULL) {
		t->c = c;
		if (push_fn(c->L, co, c->ep, "on_close")) {
			lua_rawgeti(co, LUA_REGISTRYINDEX, c->ud_ref);
			lua_pushinteger(co, code);
			lua_pushlstring(co, reason.ptr ? reason.ptr : "", reason.len);
			c->tasks++;
			st = A()->ws_lua_task_resume(ws, co, 3, &nres, close_done, t);
			if (st == LUA_YIELD) {
				c->ws = NULL;
				return;   /* close_done frees T */
			}
			c->tasks--;
			if (st != LUA_OK)
				log_lua_error(c, co, "on_close");
			co_give(c->L, co, t->ref, st == LUA_OK);
		} else {
			co_give(c->L, co, t->ref, 1);
		}
	}
	free(t);
	c->ws = NULL;
	conn_maybe_free(c);
}

static const struct pt_ws_ops ws_ops = {
	.size = sizeof(struct pt_ws_ops),
	.on_message = on_message,
	.on_close = on_close,
};

/* ---- the conn object ------------------------------------------------------------------ */

static struct wconn *check_conn(lua_State *L)
{
	struct conn_ud *u = luaL_checkudata(L, 1, CONN_MT);

	return u->c;
}

static int closed(lua_State *L)
{
	lua_pushnil(L);
	lua_pushliteral(L, "closed");
	return 2;
}

/* conn:send(data [, binary]) -> true | nil, why */
static int l_send(lua_State *L)
{
	struct wconn *c = check_conn(L);
	size_t len;
	const char *s = luaL_checklstring(L, 2, &len);
	int rc;

	if (!c || !c->ws)
		return closed(L);
	rc = A()->ws_send(c->ws, s, len, lua_toboolean(L, 3));
	if (rc == 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushnil(L);
	lua_pushstring(L, rc == PT_EINVAL ? "a text message must be valid UTF-8 (send binary)"
	               : rc == PT_ELIMIT ? "the client's queue is full: closing"
	               : rc == PT_ESTATE ? "closed" : "out of memory");
	return 2;
}

/* conn:close([code [, reason]]) */
static int l_close(lua_State *L)
{
	struct wconn *c = check_conn(L);
	lua_Integer code = luaL_optinteger(L, 2, 1000);
	size_t len = 0;
	const char *reason = luaL_optlstring(L, 3, "", &len);

	if (!((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	      (code >= 3000 && code <= 4999)))
		return luaL_argerror(L, 2, "a close code is 1000-1003, 1007-1014 or 3000-4999 "
		                     "(RFC 6455 7.4)");
	if (len > 123)
		return luaL_argerror(L, 3, "a close reason is at most 123 bytes");
	if (!c || !c->ws)
		return closed(L);
	if (A()->ws_close(c->ws, (unsigned)code, (pt_str_t){ reason, len }) == PT_EINVAL)
		return luaL_argerror(L, 3, "a close reason must be valid UTF-8");
	lua_pushboolean(L, 1);
	return 1;
}

static const char *check_channel(lua_State *L, int idx, size_t *len)
{
	const char *s = luaL_checklstring(L, idx, len);

	if (!wsp_channel_ok(s, *len))
		luaL_argerror(L, idx, "a channel name is 1 to 256 bytes without control characters");
	if (*len >= 2 && s[*len - 2] == '.' && s[*len - 1] == '*')
		luaL_argerror(L, idx, "a connection subscribes to channels by exact name");
	return s;
}

static int l_subscribe(lua_State *L)
{
	struct wconn *c = check_conn(L);
	size_t len;
	const char *s = check_channel(L, 2, &len);
	int rc;

	if (!c || !c->ws)
		return closed(L);
	rc = conn_subscribe(c, s, len);
	if (rc < 0) {
		lua_pushnil(L);
		lua_pushstring(L, rc == PT_ELIMIT ? "too many channels (64 per connection)"
		                                  : "out of memory");
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int l_unsubscribe(lua_State *L)
{
	struct wconn *c = check_conn(L);
	size_t len;
	const char *s = check_channel(L, 2, &len);

	if (!c || !c->ws)
		return closed(L);
	lua_pushboolean(L, conn_unsubscribe(c, s, len) == 0);
	return 1;
}

static int l_index(lua_State *L)
{
	struct wconn *c = check_conn(L);
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "send"))
		lua_pushcfunction(L, l_send);
	else if (!strcmp(k, "close"))
		lua_pushcfunction(L, l_close);
	else if (!strcmp(k, "subscribe"))
		lua_pushcfunction(L, l_subscribe);
	else if (!strcmp(k, "unsubscribe"))
		lua_pushcfunction(L, l_unsubscribe);
	else if (!c)
		return luaL_error(L, "conn.%s: the connection has ended (a conn is only valid until "
		                  "its on_close)", k);
	else if (!strcmp(k, "id"))
		lua_pushinteger(L, c->ws ? (lua_Integer)A()->ws_id(c->ws) : 0);
	else if (!strcmp(k, "identity"))
		lua_rawgeti(L, LUA_REGISTRYINDEX, c->ident_ref);
	else if (!strcmp(k, "subprotocol")) {
		pt_str_t s = c->ws ? A()->ws_subprotocol(c->ws) : (pt_str_t){ "", 0 };

		lua_pushlstring(L, s.ptr, s.len);
	} else if (!strcmp(k, "request_id") || !strcmp(k, "remote_addr")) {
		pt_str_t s = !c->ws ? (pt_str_t){ "", 0 } : k[1] == 'e' && k[2] == 'q'
		             ? A()->ws_request_id(c->ws) : A()->ws_remote_addr(c->ws);

		lua_pushlstring(L, s.ptr, s.len);
	} else if (!strcmp(k, "open"))
		lua_pushboolean(L, c->ws != NULL);
	else
		lua_pushnil(L);
	return 1;
}

static int l_newindex(lua_State *L)
{
	return luaL_error(L, "a conn is read-only (keep your data in conn.identity or a table "
	                  "keyed by conn.id)");
}

static int l_tostring(lua_State *L)
{
	struct wconn *c = check_conn(L);

	lua_pushfstring(L, "websocket.conn(%I)",
	                (lua_Integer)(c && c->ws ? A()->ws_id(c->ws) : 0));
	return 1;
}

/* Pushes a new conn userdata for C. [-0, +1, m] */
static void push_conn(lua_State *L, struct wconn *c)
{
	struct conn_ud *u = lua_newuserdatauv(L, sizeof(*u), 0);

	u->c = c;
	if (luaL_newmetatable(L, CONN_MT)) {
		lua_pushcfunction(L, l_index);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_newindex);
		lua_setfield(L, -2, "__newindex");
		lua_pushcfunction(L, l_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushliteral(L, CONN_MT);
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
}

/* ---- the "websocket" handler ------------------------------------------------------------ */

/* An upgrade in progress: kept in the exchange's memory. */
struct upgrade {
	pt_exchange *x;
	struct wconn *c;
	const pt_conf *opts;
	int co_ref;
};

static int header_has_token(pt_exchange *x, const char *name, const char *tok)
{
	const struct pt_api *a = A();
	size_t tl = strlen(tok);
	pt_str_t v;

	for (unsigned i = 0; a->exchange_header(x, (pt_str_t){ name, strlen(name) }, i, &v) == 0;
	     i++) {
		for (size_t p = 0; p + tl <= v.len; p++)
			if (!strncasecmp(v.ptr + p, tok, tl))
				return 1;
	}
	return 0;
}

static int origin_ok(pt_exchange *x, const pt_conf *opts)
{
	const struct pt_api *a = A();
	const pt_conf *list = a->conf_get(opts, "origins");
	pt_str_t origin, s;

	if (!list || a->conf_type(list) != PT_CONF_TABLE)
		return 1;
	if (a->exchange_header(x, (pt_str_t){ "origin", 6 }, 0, &origin) != 0)
		return 0;
	for (size_t i = 0; i < a->conf_len(list); i++)
		if (a->conf_str(a->conf_at(list, i), NULL, &s) == 0 &&
		    ((s.len == 1 && s.ptr[0] == '*') ||
		     (s.len == origin.len && !strncasecmp(s.ptr, origin.ptr, s.len))))
			return 1;
	return 0;
}

static void read_ws_opts(const pt_conf *opts, struct pt_ws_opts *o, pt_str_t *protos)
{
	const struct pt_api *a = A();
	const pt_conf *list = a->conf_get(opts, "subprotocols");
	pt_str_t s;
	double d;
	int b;

	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->ping_interval = DEFAULT_PING_INTERVAL;
	o->ping_timeout = DEFAULT_PING_TIMEOUT;
	for (size_t i = 0; list && i < a->conf_len(list) && i < MAX_PROTOCOLS; i++)
		if (a->conf_str(a->conf_at(list, i), NULL, &s) == 0)
			protos[o->nsubprotocols++] = s;
	o->subprotocols = protos;
	if (a->conf_num(opts, "max_message", &d) == 0)
		o->max_message = (size_t)d;
	if (a->conf_num(opts, "ping_interval", &d) == 0)
		o->ping_interval = d > 0 ? d : -1;
	if (a->conf_num(opts, "ping_timeout", &d) == 0)
		o->ping_timeout = d;
	if (a->conf_num(opts, "queue.max_bytes", &d) == 0)
		o->queue_max = (size_t)d;
	if (a->conf_str(opts, "queue.on_full", &s) == 0 && s.len == 11 &&
	    !memcmp(s.ptr, "drop_oldest", 11))
		o->on_full = PT_WS_FULL_DROP_OLDEST;
	if (a->conf_bool(opts, "deflate", &b) == 0 && !b)
		o->no_deflate = 1;
}

/* After on_connect (or without one): the handshake. Takes U->c. */
static void accept_now(struct upgrade *u)
{
	const struct pt_api *a = A();
	struct pt_ws_opts o;
	pt_str_t protos[MAX_PROTOCOLS], s;
	const pt_conf *chs;
	struct wconn *c = u->c;
	pt_ws *ws;

	u->c = NULL;
	read_ws_opts(u->opts, &o, protos);
	ws = a->ws_accept(u->x, &o, &ws_ops, c, NULL);
	if (!ws) {
		c->ws = NULL;
		conn_maybe_free(c);
		return;
	}
	c->ws = ws;
	chs = a->conf_get(u->opts, "channels");
	for (size_t i = 0; chs && i < a->conf_len(chs); i++)
		if (a->conf_str(a->conf_at(chs, i), NULL, &s) == 0 &&
		    conn_subscribe(c, s.ptr, s.len) < 0)
			a->log(wsp_ctx, PT_LOG_WARN, "websocket %s: cannot subscribe to %.*s",
			       ep_path(c, (char[256]){ 0 }, 256), (int)s.len, s.ptr);
}

/*
 * on_connect's results on CO: a value (the identity) accepts; false or nil
 * refuses, with a status (default 403) and a message. 1 when accepted.
 */
static int connect_result(struct upgrade *u, lua_State *co, int status, int nres)
{
	const struct pt_api *a = A();
	struct wconn *c = u->c;

	if (status != LUA_OK) {
		log_lua_error(c, co, "on_connect");
		a->exchange_respond(u->x, 500, (pt_str_t){ "{\"error\":\"internal error\"}", 26 });
		return 0;
	}
	if (nres == 0) {
		lua_pushnil(co);   /* no return at all: accepted, no identity */
		nres = 1;
	} else if (!lua_toboolean(co, lua_gettop(co) - nres + 1)) {
		int first = lua_gettop(co) - nres + 1;
		lua_Integer st = nres >= 2 && lua_isinteger(co, first + 1) ? lua_tointeger(co, first + 1)
		                 : 403;
		const char *msg = nres >= 3 && lua_type(co, first + 2) == LUA_TSTRING
		                  ? lua_tostring(co, first + 2) : "refused";
		char body[512];

		if (st < 400 || st > 599)
			st = 403;
		snprintf(body, sizeof(body), "{\"error\":\"%.400s\"}", msg);
		for (char *p = body + 10; *p && p[1]; p++)
			if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
				*p = '\'';
		a->exchange_respond(u->x, (int)st, (pt_str_t){ body, strlen(body) });
		return 0;
	}
	lua_pushvalue(co, lua_gettop(co) - nres + 1);
	lua_xmove(co, c->L, 1);
	luaL_unref(c->L, LUA_REGISTRYINDEX, c->ident_ref);
	c->ident_ref = luaL_ref(c->L, LUA_REGISTRYINDEX);
	return 1;
}

static void connect_done(lua_State *co, int status, int nres, void *ud)
{
	struct upgrade *u = ud;
	struct wconn *c = u->c;
	int ok;

	c->tasks--;
	ok = !A()->exchange_aborted(u->x) && connect_result(u, co, status, nres);
	co_give(c->L, co, u->co_ref, status == LUA_OK);
	if (ok) {
		accept_now(u);
	} else {
		u->c = NULL;
		conn_maybe_free(c);
	}
	A()->exchange_unref(u->x);
}

static struct wconn *wconn_new(pt_exchange *x, lua_State *L, int ep)
{
	struct wconn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->L = L;
	c->ep = ep;
	c->w = A()->exchange_worker(x);
	c->ud_ref = c->ident_ref = c->co_ref = LUA_NOREF;
	if (!lua_checkstack(L, 2))
		goto fail;
	push_conn(L, c);
	c->ud_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (c->ud_ref == LUA_REFNIL || c->ud_ref == LUA_NOREF)
		goto fail;
	return c;
fail:
	free(c);
	return NULL;
}

int wsp_ws_handle(pt_exchange *x, const pt_conf *opts, void *ud)
{
	const struct pt_api *a = A();
	struct upgrade *u;
	lua_State *L = a->exchange_lua(x), *co;
	int64_t ep = 0;
	int st, nres = 0;

	(void)ud;
	if (!L || a->conf_int(opts, "ws_endpoint", &ep) != 0 || ep <= 0)
		return PT_ESTATE;
	if (!header_has_token(x, "upgrade", "websocket") ||
	    !header_has_token(x, "connection", "upgrade")) {
		/* not a handshake: ws_accept answers it (426 or 400), no on_connect */
		a->ws_accept(x, NULL, &ws_ops, NULL, NULL);
		return 0;
	}
	if (!origin_ok(x, opts)) {
		pt_str_t o = { "", 0 };

		a->exchange_header(x, (pt_str_t){ "origin", 6 }, 0, &o);
		a->log(wsp_ctx, PT_LOG_INFO, "websocket: origin \"%.*s\" refused (not in origins)",
		       (int)(o.len > 200 ? 200 : o.len), o.ptr);
		return a->exchange_respond(x, 403, (pt_str_t){ "{\"error\":\"origin not allowed\"}",
		                                               30 });
	}
	u = a->exchange_alloc(x, sizeof(*u));
	if (!u || !(u->c = wconn_new(x, L, (int)ep)))
		return PT_ENOMEM;
	u->x = x;
	u->opts = opts;
	if (!(co = co_take(L, &u->co_ref)))
		return PT_ENOMEM;
	if (!push_fn(L, co, (int)ep, "on_connect")) {
		co_give(L, co, u->co_ref, 1);
		accept_now(u);
		return 0;
	}
	if (a->exchange_lua_req(x, co) != 0) {
		lua_settop(co, 0);
		co_give(L, co, u->co_ref, 0);
		conn_maybe_free(u->c);
		return PT_ENOMEM;
	}
	u->c->tasks++;
	st = a->lua_task_resume(x, co, 1, &nres, connect_done, u);
	if (st == LUA_YIELD) {
		a->exchange_ref(x);
		return 0;
	}
	u->c->tasks--;
	if (connect_result(u, co, st, nres)) {
		co_give(L, co, u->co_ref, 1);
		accept_now(u);
	} else {
		struct wconn *c = u->c;

		co_give(L, co, u->co_ref, st == LUA_OK);
		u->c = NULL;
		conn_maybe_free(c);
	}
	return 0;
}

/* ---- the `websocket` Lua module ---------------------------------------------------------- */

static int fail(lua_State *L, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wsp_push_fail(L, "websocket.endpoint", fmt, ap);
	va_end(ap);
	return lua_error(L);
}

static int is_token_str(const char *s, size_t n)
{
	if (!n || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?={}", s[i]))
			return 0;
	return 1;
}

/* A list of at most MAX strings at key K of the table at 2, each checked by OK. */
static void check_list(lua_State *L, const char *k, unsigned max,
                       int (*ok)(const char *, size_t), const char *what)
{
	unsigned n;

	if (lua_getfield(L, 2, k) == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	if (!lua_istable(L, -1))
		fail(L, "%s must be a list of %s", k, what);
	n = (unsigned)lua_rawlen(L, -1);
	if (n > max)
		fail(L, "%s: at most %d, not %d", k, (int)max, (int)n);
	for (unsigned i = 1; i <= n; i++) {
		size_t len;
		const char *s;

		if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
			fail(L, "%s[%d] must be a string (%s)", k, (int)i, what);
		s = lua_tolstring(L, -1, &len);
		if (ok && !ok(s, len))
			fail(L, "%s[%d] (\"%s\") is not %s", k, (int)i, s, what);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static int channel_name_ok(const char *s, size_t n)
{
	return wsp_channel_ok(s, n) && !(n >= 2 && s[n - 2] == '.' && s[n - 1] == '*');
}

static int origin_str_ok(const char *s, size_t n)
{
	return n > 0 && n <= 256;
}

static double check_num(lua_State *L, int t, const char *k, double lo, double hi, double def)
{
	double v;
	int ok;

	if (lua_getfield(L, t, k) == LUA_TNIL) {
		lua_pop(L, 1);
		return def;
	}
	v = lua_tonumberx(L, -1, &ok);
	if (!ok || !(v >= lo && v <= hi)) {
		char range[64];

		snprintf(range, sizeof(range), "%g to %g", lo, hi);   /* no %g in pushfstring */
		fail(L, "%s must be a number from %s", k, range);
	}
	lua_pop(L, 1);
	return v;
}

/* check(path, opts) -> the endpoint's number. Raises on bad options. */
static int l_check(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	static const char *const fns[] = { "on_connect", "on_message", "on_close", NULL };
	double pi, pt;
	lua_Integer id;

	if (path[0] != '/')
		return fail(L, "a path starts with '/', not \"%s\"", path);
	if (!lua_istable(L, 2))
		return fail(L, "the options (argument 2) must be a table, not %s", luaL_typename(L, 2));
	check_list(L, "subprotocols", MAX_PROTOCOLS, is_token_str, "a subprotocol token");
	check_list(L, "origins", MAX_ORIGINS, origin_str_ok, "an origin (\"https://host[:port]\")");
	check_list(L, "channels", WSP_MAX_CHANNELS, channel_name_ok,
	           "a channel name (1 to 256 bytes, no control characters, not a pattern)");
	check_num(L, 2, "max_message", 1, (double)MAX_MESSAGE_CAP, 0);
	pi = check_num(L, 2, "ping_interval", 0, 86400, DEFAULT_PING_INTERVAL);
	pt = check_num(L, 2, "ping_timeout", 0.01, 3600, DEFAULT_PING_TIMEOUT);
	(void)pi;
	(void)pt;
	if (lua_getfield(L, 2, "queue") != LUA_TNIL) {
		int t = lua_gettop(L);

		if (!lua_istable(L, t))
			return fail(L, "queue must be a table { max_bytes = ..., on_full = ... }");
		check_num(L, t, "max_bytes", 1024, (double)((size_t)1 << 30), 0);
		if (lua_getfield(L, t, "on_full") != LUA_TNIL) {
			const char *s = lua_tostring(L, -1);

			if (!s || (strcmp(s, "close") && strcmp(s, "drop_oldest")))
				return fail(L, "queue.on_full is \"close\" or \"drop_oldest\"");
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, 2, "deflate") != LUA_TNIL && !lua_isboolean(L, -1))
		return fail(L, "deflate must be true or false");
	lua_pop(L, 1);
	/* the functions, kept by number in this state */
	if (lua_getfield(L, LUA_REGISTRYINDEX, K_EPS) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, LUA_REGISTRYINDEX, K_EPS);
	}
	lua_createtable(L, 0, 3);
	for (int i = 0; fns[i]; i++) {
		int t = lua_getfield(L, 2, fns[i]);

		if (t != LUA_TNIL && t != LUA_TFUNCTION)
			return fail(L, "%s must be a function, not %s", fns[i], lua_typename(L, t));
		lua_setfield(L, -2, fns[i]);
	}
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "path");   /* for logs */
	id = (lua_Integer)lua_rawlen(L, -2) + 1;
	lua_rawseti(L, -2, id);
	lua_pop(L, 1);
	lua_pushinteger(L, id);
	return 1;
}

/* Lua around check so that route.get is a tail call (the route names the
 * script's line); the options are copied with the endpoint's number. */
static const char module_src[] =
	"local check = ...\n"
	"local M = {}\n"
	"function M.endpoint(path, opts)\n"
	"  local id = check(path, opts)\n"
	"  local o = {}\n"
	"  for k, v in pairs(opts) do o[k] = v end\n"
	"  o.ws_endpoint = id\n"
	"  return route.get(path, 'websocket', o)\n"
	"end\n"
	"return M\n";

int wsp_ws_lua_open(lua_State *L)
{
	return wsp_module_open(L, module_src, sizeof(module_src) - 1, "=websocket", l_check);
}

/* ---- per worker ----------------------------------------------------------------------------- */

int wsp_ws_worker_start(pt_worker *w)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	int rc = 0;

	(void)w;
	pthread_mutex_lock(&mu);
	if (!chans) {
		unsigned n = A()->worker_count();

		if (n < WS_WORKER_IDS)
			n = WS_WORKER_IDS;
		if ((chans = calloc(n ? n : 1, sizeof(*chans))) != NULL)
			nworkers = n;
		else
			rc = PT_ENOMEM;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

void wsp_ws_worker_stop(pt_worker *w)
{
	unsigned wid = A()->worker_id(w);

	/* connections were ended before this (their on_close unsubscribed) */
	while (wid < nworkers && chans[wid]) {
		struct wchan *ch = chans[wid];

		chans[wid] = ch->next;
		A()->hub_unsubscribe(ch->sub);
		free(ch->name);
		free(ch);
	}
}

void wsp_ws_unload(void)
{
	free(chans);   /* every worker has stopped: its list is empty */
	chans = NULL;
	nworkers = 0;
}
