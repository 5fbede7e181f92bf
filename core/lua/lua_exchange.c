/*
 * lua_exchange.c - running a request in Lua: the coroutine, the `req` and
 * `res` objects, turning return values into a response, the instruction
 * budget, errors (a 500 that says nothing internal; the traceback goes to
 * the log), and waits (sleep, http.request, plugin functions) that yield the
 * coroutine and resume it on the event.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "chain.h"
#include "conf_tree.h"
#include "gen.h"
#include "http/exchange.h"
#include "log.h"
#include "lua_json.h"
#include "lua_priv.h"
#include "watchdog.h"
#include "lua_metrics.h"
#include "worker.h"

#define HOOK_EVERY LUA_HOOK_EVERY   /* instructions between budget checks */
#define REQ_MT "portico.req"
#define RES_MT "portico.res"

/*
 * The Lua side of one exchange (x->lua): the `req` and `res` objects that
 * its filters and handler share, so a filter can leave req.consumer for the
 * handler. Lives in the exchange pool; cleared when the exchange is freed.
 */
struct lx {
	pt_exchange *x;             /* NULL once the exchange is gone */
	lua_State *L;
	int req_ref, res_ref;       /* registry references to the userdata */
};

/* One running handler or filter coroutine; lives in the exchange pool. */
struct lreq {
	struct lx *lx;
	pt_exchange *x;             /* one reference while the coroutine runs */
	lua_State *L;               /* the worker's state */
	lua_State *co;
	int co_ref;
	struct lbudget b;
	int waiting;                /* yielded through lua_wait_begin */
	int filter;                 /* a filter: its result decides what comes next */
	int done;
	int reusable;               /* finished cleanly: its thread can serve again */
	pt_lua_task_fn task_done;   /* a plugin's task (lua_task_resume): its callback */
	void *task_ud;
	int task_async;             /* the task waited: its end goes to task_done */
	int abort_set;              /* handler_abandoned is the exchange's abort callback */
	struct pt_wait *wait;       /* the wait it is in, or NULL */
	int abandoned;              /* the client left during a wait: never resumed */
	int wake_n;                 /* values the wait's end pushed, or -1: no memory */
	void (*task_gone)(void *ud);  /* a task abandoned: instead of task_done */
	struct lreq *tprev, *tnext; /* the state's waiting tasks (lstate.tasks) */
	int tlinked;
	int exact;                  /* counted from its first instruction (a small budget) */
	volatile sig_atomic_t armed;  /* its coroutine has the count hook (lua_tick.c) */
};

/* The request or task whose coroutine this thread resumes now: where the
 * CPU tick's signal sets the count hook (lua_budget_tick). */
static __thread struct lreq *volatile tl_run;

/* The userdata behind `req` and `res`: LX is cleared when the exchange is
 * freed (lx_free), since the userdata may outlive it in a script's variable. */
struct lreq_ud {
	struct lx *lx;
};

/* The request whose coroutine runs now (hooks and waits run inside it). */
static struct lreq *current(lua_State *L)
{
	return lstate_of(L)->running;
}

static pt_exchange *live_x(lua_State *L, const char *mt)
{
	struct lreq_ud *u = luaL_checkudata(L, 1, mt);

	if (!u->lx || !u->lx->x)
		luaL_error(L, "%s used after the request has ended (a req or res is only valid "
		           "during its own request)", mt + 8);
	return u->lx->x;
}

pt_exchange *lua_running_exchange(lua_State *L)
{
	struct lreq *r;

	if (!L || !lstate_of(L) || !(r = current(L)) || r->done || r->co != L)
		return NULL;
	return r->x;
}

pt_exchange *lua_req_exchange(lua_State *L)
{
	return live_x(L, REQ_MT);
}

/* ---- req ------------------------------------------------------------------ */

static void push_str(lua_State *L, pt_str_t s)
{
	lua_pushlstring(L, s.ptr ? s.ptr : "", s.len);
}

/* Case-insensitive header lookup: headers["Content-Type"]. [-0, +1, -] */
static int headers_index(lua_State *L)
{
	size_t n;
	const char *k = luaL_checklstring(L, 2, &n);
	char low[256];

	if (n >= sizeof(low))
		return lua_pushnil(L), 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] | 0x20 : k[i]);
	lua_pushlstring(L, low, n);
	lua_rawget(L, 1);
	return 1;
}

/*
 * A table of N fields F (lower-case names; repeats joined with ", ", RFC
 * 9110 5.3) with any-case lookup: req.headers and req.trailers. Its
 * metatable is protected, so no script can give it a __gc. [-0, +1, m]
 */
static void push_fields(lua_State *L, const struct xhdr *f, unsigned n)
{
	lua_createtable(L, 0, (int)n);
	for (unsigned i = 0; i < n; i++) {
		const struct xhdr *h = &f[i];

		push_str(L, h->name);
		if (lua_rawget(L, -2) == LUA_TSTRING) {
			push_str(L, (pt_str_t){ ", ", 2 });
			push_str(L, h->value);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			push_str(L, h->value);
		}
		push_str(L, h->name);
		lua_insert(L, -2);
		lua_rawset(L, -3);
	}
	if (luaL_newmetatable(L, "portico.headers")) {
		lua_pushcfunction(L, headers_index);
		lua_setfield(L, -2, "__index");
		lua_pushliteral(L, "portico.headers");
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
}

static void push_decoded(lua_State *L, const char *s, size_t n)
{
	luaL_Buffer b;
	char *out = luaL_buffinitsize(L, &b, n);

	luaL_pushresultsize(&b, form_decode_into(s, n, out));
}

/* query: name -> value (the first when repeated; all of them in query_all). */
static void push_query(lua_State *L, pt_exchange *x, int all)
{
	const char *p = x->query.ptr, *end = p + x->query.len;

	lua_newtable(L);
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));

		if (stop > p) {
			push_decoded(L, p, (size_t)((eq ? eq : stop) - p));
			if (eq)
				push_decoded(L, eq + 1, (size_t)(stop - eq - 1));
			else
				lua_pushliteral(L, "");
			if (all) {
				lua_pushvalue(L, -2);
				if (lua_rawget(L, -4) != LUA_TTABLE) {
					lua_pop(L, 1);
					lua_newtable(L);
					lua_pushvalue(L, -3);
					lua_pushvalue(L, -2);
					lua_rawset(L, -6);
				}
				lua_insert(L, -2);
				lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
				lua_pop(L, 2);
			} else {
				lua_pushvalue(L, -2);
				if (lua_rawget(L, -4) == LUA_TNIL) {
					lua_pop(L, 1);
					lua_rawset(L, -3);
				} else {
					lua_pop(L, 3);
				}
			}
		}
		p = amp ? amp + 1 : NULL;
	}
}

static int req_json(lua_State *L)
{
	pt_exchange *x = live_x(L, REQ_MT);
	char err[256];

	if (!x->body_len) {
		lua_pushnil(L);
		lua_pushliteral(L, "json.decode: empty body");
		return 2;
	}
	if (lua_json_push(L, x->body, x->body_len, err, sizeof(err)) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	return 1;
}

static int req_header(lua_State *L)
{
	pt_exchange *x = live_x(L, REQ_MT);
	size_t n;
	const char *name = luaL_checklstring(L, 2, &n);
	pt_str_t v;

	if (xapi_header(x, (pt_str_t){ name, n }, 0, &v) != 0)
		return lua_pushnil(L), 1;
	push_str(L, v);
	return 1;
}

/* req:set_consumer(name): what a Lua auth filter calls once it knows who
 * made the request; handlers and the access log see it. */
static int req_set_consumer(lua_State *L)
{
	pt_exchange *x = live_x(L, REQ_MT);
	size_t n;
	const char *name = luaL_checklstring(L, 2, &n);

	if (n == 0 || n > 256)
		return luaL_argerror(L, 2, "a consumer name is 1 to 256 bytes");
	if (xapi_consumer_set(x, (pt_str_t){ name, n }) != 0)
		return luaL_error(L, "out of memory");
	return 0;
}

/* req.<field>: computed on first use, then cached in the user value. */
static int req_index(lua_State *L)
{
	pt_exchange *x = live_x(L, REQ_MT);
	const char *k = luaL_checkstring(L, 2);

	/* tables made once are kept in the user value, made on first need */
	if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) {
		lua_pushvalue(L, 2);
		if (lua_rawget(L, -2) != LUA_TNIL)
			return 1;
	}
	lua_settop(L, 3);   /* ud, key, the user value or nil (not the rawget's nil) */
	if (!strcmp(k, "method"))
		push_str(L, x->method_name);
	else if (!strcmp(k, "path"))
		push_str(L, x->path);
	else if (!strcmp(k, "host"))
		push_str(L, x->host);
	else if (!strcmp(k, "query_string"))
		push_str(L, x->query);
	else if (!strcmp(k, "remote_addr"))
		push_str(L, x->remote);
	else if (!strcmp(k, "id"))
		push_str(L, xapi_request_id(x));
	else if (!strcmp(k, "body"))
		push_str(L, (pt_str_t){ x->body, x->body_len });
	else if (!strcmp(k, "params")) {
		lua_createtable(L, 0, (int)x->params.n);
		for (unsigned i = 0; i < x->params.n; i++) {
			push_str(L, x->params.p[i].name);
			push_str(L, x->params.p[i].value);
			lua_rawset(L, -3);
		}
	} else if (!strcmp(k, "query"))
		push_query(L, x, 0);
	else if (!strcmp(k, "query_all"))
		push_query(L, x, 1);
	else if (!strcmp(k, "trailers"))
		return push_fields(L, x->req_trailers, x->nreq_trailers), 1;   /* never cached */
	else if (!strcmp(k, "headers"))
		push_fields(L, x->hdrs, x->nhdrs);
	else if (!strcmp(k, "json"))
		lua_pushcfunction(L, req_json);
	else if (!strcmp(k, "header"))
		lua_pushcfunction(L, req_header);
	else if (!strcmp(k, "consumer"))   /* not cached: a filter may set it later */
	{
		if (x->consumer.len)
			push_str(L, x->consumer);
		else
			lua_pushnil(L);
		return 1;
	}
	else if (!strcmp(k, "set_consumer"))
		lua_pushcfunction(L, req_set_consumer);
	else if (!strcmp(k, "ctx"))
		lua_newtable(L);   /* per-request scratch shared by filters and handler */
	else
		return lua_pushnil(L), 1;
	if (lua_istable(L, -1)) {
		if (!lua_istable(L, 3)) {
			lua_newtable(L);
			lua_pushvalue(L, -1);
			lua_setiuservalue(L, 1, 1);
			lua_replace(L, 3);
		}
		lua_pushvalue(L, 2);
		lua_pushvalue(L, -2);
		lua_rawset(L, 3);
	}
	return 1;
}

static int req_newindex(lua_State *L)
{
	pt_exchange *x = live_x(L, REQ_MT);
	const char *k = luaL_checkstring(L, 2);

	/* req.consumer = "name" (or a table with a name): the exchange's
	 * consumer, which C filters, handlers and the access log see too */
	if (!strcmp(k, "consumer")) {
		size_t n = 0;
		const char *name = NULL;

		if (lua_type(L, 3) == LUA_TSTRING) {
			name = lua_tolstring(L, 3, &n);
		} else if (lua_type(L, 3) == LUA_TTABLE) {
			lua_getfield(L, 3, "name");
			name = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
			lua_pop(L, 1);   /* the table keeps the string alive */
		}
		if (name && n <= 256 && xapi_consumer_set(x, (pt_str_t){ name, n }) != 0)
			return luaL_error(L, "out of memory");
		if (lua_type(L, 3) != LUA_TTABLE)
			return 0;
	}
	/* handlers and filters may pass data along: req.ctx / req.consumer / own keys */
	if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setiuservalue(L, 1, 1);
	}
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	lua_rawset(L, -3);
	return 0;
}

/* ---- res ------------------------------------------------------------------ */

static int res_status(lua_State *L)
{
	pt_exchange *x = live_x(L, RES_MT);
	lua_Integer st = luaL_checkinteger(L, 2);

	if (st < 200 || st > 999)
		return luaL_argerror(L, 2, "a status is 200..999");
	if (xapi_status_set(x, (int)st) != 0)
		return luaL_error(L, "res:status: the response has started");
	lua_settop(L, 1);
	return 1;
}

static int res_header(lua_State *L)
{
	pt_exchange *x = live_x(L, RES_MT);
	size_t nl, vl;
	const char *n = luaL_checklstring(L, 2, &nl), *v = luaL_checklstring(L, 3, &vl);
	int rc = xapi_header_set(x, (pt_str_t){ n, nl }, (pt_str_t){ v, vl });

	if (rc == PT_EINVAL)
		return luaL_error(L, "res:header: invalid header name or value");
	if (rc != 0)
		return luaL_error(L, "res:header: the response has started");
	lua_settop(L, 1);
	return 1;
}

/* res:write waiting for a slow client (write_backpressure). */
struct write_drain {
	pt_wait *wait;
	pt_exchange *x;
	int res_ref;
};

static int push_res(lua_State *L, void *ud)
{
	struct write_drain *d = ud;

	lua_rawgeti(L, LUA_REGISTRYINDEX, d->res_ref);
	return 1;
}

/* The client read enough: res:write returns (res, for chained writes). */
static void write_drained(void *ud)
{
	struct write_drain *d = ud;
	pt_wait *w = d->wait;

	d->wait = NULL;
	if (w)
		lua_wait_wake(w, push_res, d);
}

/* The client went away (or the write timeout ended it) during the wait. */
static void write_abandoned(void *ud)
{
	struct write_drain *d = ud;
	pt_wait *w = d->wait;

	xapi_on_drain(d->x, NULL, NULL);
	d->wait = NULL;
	if (w)
		lua_wait_wake(w, NULL, NULL);
}

/*
 * After res:write queued: while PT_EXCHANGE_HIGH (256 KiB) or more of the
 * response waits for the client, the handler waits until it is under
 * PT_EXCHANGE_LOW (64 KiB), so a handler streaming to a slow reader holds
 * a bounded buffer. The client leaving or http.write_timeout ends the wait
 * (and the handler). Only the running request's own res waits: a res kept
 * from another request, or a call from a coroutine the script made or a C
 * callback (table.sort), queues as before.
 */
static int write_backpressure(lua_State *L, pt_exchange *x)
{
	struct lreq *r = current(L);
	struct write_drain *d;
	pt_wait *w;

	if (!r || r->x != x || xapi_queued(x) < PT_EXCHANGE_HIGH)
		return 1;
	if (!(w = lua_wait_begin_safe(L)))
		return 1;
	if (!(d = xapi_alloc(x, sizeof(*d)))) {
		lua_wait_cancel(w);
		return 1;
	}
	d->wait = w;
	d->x = x;
	d->res_ref = ((struct lx *)x->lua)->res_ref;
	if (xapi_on_drain(x, write_drained, d) != 0) {
		lua_wait_cancel(w);
		return 1;
	}
	lua_wait_on_abandon(w, write_abandoned, d);
	return lua_wait_yield(L);
}

static int res_write(lua_State *L)
{
	pt_exchange *x = live_x(L, RES_MT);
	size_t n;
	const char *s = luaL_checklstring(L, 2, &n);

	if (xapi_write(x, s, n) != 0)
		return luaL_error(L, xapi_aborted(x) ? "res:write: the client went away"
		                                     : "res:write: the response has ended");
	lua_settop(L, 1);
	return write_backpressure(L, x);
}

static int res_finish(lua_State *L)
{
	pt_exchange *x = live_x(L, RES_MT);

	if (x->state != X_DONE)
		xapi_finish(x);
	return 0;
}

static int res_trailer(lua_State *L)
{
	pt_exchange *x = live_x(L, RES_MT);
	size_t nl, vl;
	const char *n = luaL_checklstring(L, 2, &nl), *v = luaL_checklstring(L, 3, &vl);

	if (xapi_trailer_add(x, (pt_str_t){ n, nl }, (pt_str_t){ v, vl }) != 0)
		return luaL_error(L, "res:trailer: invalid trailer or the response has ended");
	lua_settop(L, 1);
	return 1;
}

static int has_resp_header(pt_exchange *x, const char *lname);

/*
 * res:json(status, value[, headers]): the whole answer at once, VALUE as
 * JSON (Content-Type application/json unless set). The same as returning
 * `status, value, headers`, for handlers written in the res style.
 * [-(3|4), +0, e]
 */
static int res_json(lua_State *L)
{
	pt_exchange *x = live_x(L, RES_MT);
	lua_Integer st = luaL_checkinteger(L, 2);
	char err[256];
	size_t n;
	char *json;

	if (st < 200 || st > 999)
		return luaL_argerror(L, 2, "a status is 200..999");
	luaL_checkany(L, 3);
	if (x->state != X_HANDLING)
		return luaL_error(L, "res:json: the response has started");
	if (lua_istable(L, 4)) {
		lua_pushnil(L);
		while (lua_next(L, 4)) {
			size_t nl, vl;
			const char *hn = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nl) : NULL;
			const char *hv = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &vl) : NULL;

			if (!hn || !hv || xapi_header_set(x, (pt_str_t){ hn, nl }, (pt_str_t){ hv, vl }))
				return luaL_error(L, "res:json: headers are name = value strings");
			lua_pop(L, 1);
		}
	}
	if (!(json = lua_json_encode_value(L, 3, &n, err, sizeof(err))))
		return luaL_error(L, "res:json: %s", err);
	if (!has_resp_header(x, "content-type"))
		xapi_header_set(x, PT_STR("content-type"), PT_STR("application/json"));
	xapi_respond(x, (int)st, (pt_str_t){ json, n });
	free(json);
	return 0;
}

void lua_exchange_open(lua_State *L)
{
	static const luaL_Reg res_methods[] = {
		{ "status", res_status }, { "header", res_header }, { "write", res_write },
		{ "finish", res_finish }, { "trailer", res_trailer }, { "json", res_json },
		{ NULL, NULL },
	};

	if (luaL_newmetatable(L, REQ_MT)) {
		lua_pushcfunction(L, req_index);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, req_newindex);
		lua_setfield(L, -2, "__newindex");
		lua_pushliteral(L, "portico.req");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	lua_newtable(L);   /* LUA_K_THREADS: weak keys */
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "k");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	lua_setfield(L, LUA_REGISTRYINDEX, LUA_K_THREADS);
	if (luaL_newmetatable(L, RES_MT)) {
		luaL_newlib(L, res_methods);
		lua_setfield(L, -2, "__index");
		lua_pushliteral(L, "portico.res");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
}

static int push_obj(lua_State *L, struct lx *lx, const char *mt)
{
	struct lreq_ud *u = lua_newuserdatauv(L, sizeof(*u), 1);

	u->lx = lx;
	luaL_setmetatable(L, mt);
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Points the userdata at REF away from LX (its pool is being freed). */
static void ud_detach(lua_State *L, int ref)
{
	struct lreq_ud *u;

	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);   /* never allocates */
	if ((u = lua_touserdata(L, -1)) != NULL)
		u->lx = NULL;
	lua_pop(L, 1);
}

/*
 * The exchange is being freed, and LX with its pool: the req/res a script
 * may still hold now refuse to be used ("the request has ended") instead of
 * reading memory the pool's next owner writes.
 */
static void lx_free(void *ud)
{
	struct lx *lx = ud;

	lx->x = NULL;
	ud_detach(lx->L, lx->req_ref);
	ud_detach(lx->L, lx->res_ref);
	luaL_unref(lx->L, LUA_REGISTRYINDEX, lx->req_ref);
	luaL_unref(lx->L, LUA_REGISTRYINDEX, lx->res_ref);
}

/* X's Lua objects in L, made on first use. NULL when out of memory; raises
 * when Lua is (call it in a protected call). */
static struct lx *lx_get(pt_exchange *x, lua_State *L)
{
	struct lx *lx = x->lua;

	if (lx)
		return lx;
	lx = xapi_alloc(x, sizeof(*lx));
	if (!lx || exchange_on_free(x, lx_free, lx) != 0)
		return NULL;
	lx->x = x;
	lx->L = L;
	lx->req_ref = lx->res_ref = LUA_NOREF;   /* push_obj may raise (start_p) */
	lx->req_ref = push_obj(L, lx, REQ_MT);
	lx->res_ref = push_obj(L, lx, RES_MT);
	x->lua = lx;
	return lx;
}

/* ---- running -------------------------------------------------------------- */

/* The budget that counts now: the running request's, else the state's. */
static struct lbudget *budget_of(lua_State *L)
{
	struct lstate *ls = lstate_of(L);

	return ls->running ? &ls->running->b : &ls->outside;
}

/* Marks B spent, with a message naming the script line AR (or the Lua
 * function that called the running C function) stands at. */
static void budget_kill(lua_State *L, struct lbudget *b, lua_Debug *ar)
{
	struct lstate *ls = lstate_of(L);
	lua_Debug here;
	char where[96] = "";   /* the message's head, cut if it must be */

	if (!ar && lua_getstack(L, 1, &here))
		ar = &here;
	if (ar && lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
		snprintf(where, sizeof(where), "%s:%d: ", ar->short_src, ar->currentline);
	b->killed = 1;
	if (ls->running || ls->frozen)
		snprintf(b->why, sizeof(b->why), "%sinstruction budget exceeded (%llu instructions; "
		         "lua.max_instructions)", where, (unsigned long long)b->limit);
	else
		snprintf(b->why, sizeof(b->why), "%sscript takes too long to load (more than %llu "
		         "instructions)", where, (unsigned long long)b->limit);
}

static int budget_raise(lua_State *L, struct lbudget *b)
{
	lua_pushstring(L, b->why);
	return lua_error(L);
}

void lua_budget_hook(lua_State *L, lua_Debug *ar)
{
	struct lbudget *b = budget_of(L);
	struct lreq *r = lstate_of(L)->running;

	if (r && r->x && watchdog_wants_line(r->x->w) && lua_getinfo(L, "Sl", ar))
		watchdog_lua_line(r->x->w, ar->source[0] == '@' ? ar->source + 1 : ar->short_src,
		                  ar->currentline);
	if (r && r->x)   /* on the worker's thread: a request is running */
		lua_metrics_instructions(r->x->w->id, HOOK_EVERY);
	if (!b->killed) {
		b->count += HOOK_EVERY;
		if (!b->limit || b->count <= b->limit)
			return;
		budget_kill(L, b, ar);
	}
	/* a yield no pcall sees: the resumer finds the budget spent and ends
	 * the coroutine; where it cannot yield (a C function's callback, an
	 * error handler, a finalizer of a closed variable) raise, again at
	 * every later hook call until the catcher gives up */
	if (lua_isyieldable(L)) {
		lua_yield(L, 0);
		return;
	}
	budget_raise(L, b);
}

void lua_budget_charge(lua_State *L, uint64_t steps)
{
	struct lbudget *b = budget_of(L);

	if (!b->killed) {
		b->count += steps;
		if (!b->limit || b->count <= b->limit)
			return;
		budget_kill(L, b, NULL);
	}
	budget_raise(L, b);
}

void lua_budget_check(lua_State *L)
{
	struct lbudget *b = budget_of(L);

	if (b->killed)
		budget_raise(L, b);
}

/* pt_api.lua_budget_renew: the coroutine running L (a handler's or a
 * task's, not the state's own thread) counts from 0 again; a spent budget
 * stays spent. */
int lua_budget_renew(lua_State *L)
{
	struct lstate *ls = L ? lstate_of(L) : NULL;
	struct lreq *r = ls ? ls->running : NULL;

	if (!r || r->done || r->co != L || r->b.killed)
		return PT_ESTATE;
	r->b.count = 0;
	if (!r->exact && r->armed) {
		/* counted again from the next tick: the hook goes first, then
		 * the mark, so a tick between the two only waits for the next */
		lua_sethook(L, NULL, 0, 0);
		atomic_signal_fence(memory_order_seq_cst);
		r->armed = 0;
	}
	return 0;
}

/* The CPU tick's signal (lua_tick.c), on this thread: the run going on now
 * is counted from here. Only stores: lua_sethook marks the thread's frames. */
void lua_budget_tick(void)
{
	struct lreq *r = tl_run;

	if (r && !r->armed && r->co) {
		lua_sethook(r->co, lua_budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
		atomic_signal_fence(memory_order_seq_cst);
		r->armed = 1;
	}
}

/* R's coroutine is counted from now on: a small budget from its start,
 * __close handlers after the budget ran out, a plugin's coroutine handed
 * back after its task. */
static void budget_arm(struct lreq *r)
{
	if (lua_gethook(r->co) != lua_budget_hook)
		lua_sethook(r->co, lua_budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
	atomic_signal_fence(memory_order_seq_cst);
	r->armed = 1;
}

/* Before R's coroutine first runs: a budget under LUA_EXACT_BELOW (or a
 * thread with no CPU tick) is counted from the first instruction, a larger
 * one from the run's first CPU tick. */
static void budget_start(struct lreq *r)
{
	uint64_t lim = r->b.limit;

	r->exact = (lim && lim < LUA_EXACT_BELOW) || !lua_tick_running();
	if (r->exact) {
		budget_arm(r);
		return;
	}
	r->armed = 0;
	if (lua_gethook(r->co))
		lua_sethook(r->co, NULL, 0, 0);
}

/* Resuming R's coroutine starts (RUN_ENTER) and ends (RUN_LEAVE with what
 * RUN_ENTER returned): the running request of the state and the thread. */
struct run_prev {
	struct lreq *state, *thread;
};

static struct run_prev run_enter(struct lstate *ls, struct lreq *r)
{
	struct run_prev p = { ls->running, tl_run };

	ls->running = r;
	atomic_signal_fence(memory_order_seq_cst);
	tl_run = r;
	return p;
}

static void run_leave(struct lstate *ls, struct run_prev p)
{
	tl_run = p.thread;
	atomic_signal_fence(memory_order_seq_cst);
	ls->running = p.state;
}

const char *lua_budget_killed(lua_State *L)
{
	struct lbudget *b = budget_of(L);

	return b->killed ? b->why : NULL;
}

/* A fresh outside budget when C code enters Lua for a request: a plugin's
 * direct call that spent it earlier fails only until then. */
static void outside_reset(struct lstate *ls)
{
	if (ls->frozen && (ls->outside.count || ls->outside.killed)) {
		ls->outside.count = 0;
		ls->outside.killed = 0;
	}
}

/*
 * The base of every coroutine Portico runs (handler, filter, plugin task):
 * calls the function at 1 with the rest as arguments in a protected call,
 * then raises its error again. An error the count hook raises leaves the
 * hooks of its thread off (Lua restores them only where a protected call
 * catches it), so it must never reach lua_resume directly: the thread's
 * __close handlers, or its next use, would run without a budget. A
 * request's body adds the traceback (for the log) as the error unwinds.
 */
static int body_end(lua_State *L, int status, lua_KContext traced)
{
	if (status != LUA_OK && status != LUA_YIELD)
		return lua_error(L);
	return lua_gettop(L) - (int)traced;
}

static int body_traceback(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TSTRING)
		luaL_traceback(L, L, lua_tostring(L, 1), 1);
	return 1;
}

static int body_request(lua_State *L)
{
	lua_pushcfunction(L, body_traceback);
	lua_insert(L, 1);
	return body_end(L, lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 1, 1, body_end), 1);
}

static int body_task(lua_State *L)
{
	return body_end(L, lua_pcallk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, 0, body_end), 0);
}

/* Marks CO as Portico's: the sandbox's coroutine.resume/close refuse it. */
static void thread_own(lua_State *L, lua_State *co)
{
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_K_THREADS);
	lua_pushthread(co);
	lua_xmove(co, L, 1);
	lua_pushboolean(L, 1);
	lua_rawset(L, -3);
	lua_pop(L, 1);
}

static int has_resp_header(pt_exchange *x, const char *lname)
{
	size_t n = strlen(lname);

	for (unsigned i = 0; i < x->nrhdrs; i++)
		if (x->rhdrs[i].name.len == n && !memcmp(x->rhdrs[i].name.ptr, lname, n))
			return 1;
	return 0;
}

/* Pushes a pt_conf value as Lua (filter options). [-0, +1, m] */
static void push_conf(lua_State *L, const pt_conf *c)
{
	const pt_conf *v;
	const char *k;

	switch (conf_type(c)) {
	case PT_CONF_BOOL: lua_pushboolean(L, c->u.b); return;
	case PT_CONF_NUMBER:
		if (c->u.n == (double)(lua_Integer)c->u.n)
			lua_pushinteger(L, (lua_Integer)c->u.n);
		else
			lua_pushnumber(L, c->u.n);
		return;
	case PT_CONF_STRING: lua_pushlstring(L, c->u.s.ptr, c->u.s.len); return;
	case PT_CONF_TABLE: break;
	default: lua_pushnil(L); return;
	}
	lua_createtable(L, (int)conf_len(c), (int)c->u.t.nkeys);
	for (size_t i = 0; i < conf_len(c); i++) {
		push_conf(L, conf_at(c, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	for (size_t i = 0; (k = conf_key_at(c, i, &v)) != NULL; i++) {
		push_conf(L, v);
		lua_setfield(L, -2, k);
	}
}

/* Turns the values a handler (or answering filter) returned into a response. */
static void respond_from(struct lreq *r, int nres)
{
	lua_State *co = r->co;
	pt_exchange *x = r->x;
	int base = lua_gettop(co) - nres + 1, bi = base, last = base + nres - 1;
	lua_Integer status = 200;
	char err[256];

	if (x->state == X_DONE || x->transport_gone)
		return;
	if (x->state == X_STREAMING) {
		xapi_finish(x);   /* res:write without res:finish */
		return;
	}
	if (nres == 0 || lua_isnil(co, base)) {
		xapi_respond(x, x->status != 200 ? x->status : 204, (pt_str_t){ NULL, 0 });
		return;
	}
	if (lua_type(co, base) == LUA_TNUMBER) {
		if (!lua_isinteger(co, base) || (status = lua_tointeger(co, base)) < 200 ||
		    status > 999) {
			log_error("lua", "%.*s: the handler returned status %s", (int)x->path.len,
			          x->path.ptr, lua_tostring(co, base));
			exchange_error(x, 500, "internal error");
			return;
		}
		bi = base + 1;
	}
	if (bi + 1 <= last && lua_istable(co, bi + 1)) {
		lua_pushnil(co);
		while (lua_next(co, bi + 1)) {
			size_t nl, vl;
			const char *n, *v;

			if (lua_type(co, -2) == LUA_TSTRING &&
			    (lua_type(co, -1) == LUA_TSTRING || lua_type(co, -1) == LUA_TNUMBER)) {
				lua_pushvalue(co, -1);   /* tolstring on a copy: lua_next needs the key */
				n = lua_tolstring(co, -3, &nl);
				v = lua_tolstring(co, -1, &vl);
				if (xapi_header_set(x, (pt_str_t){ n, nl }, (pt_str_t){ v, vl }) != 0)
					log_warn("lua", "%.*s: invalid response header '%s' left out",
					         (int)x->path.len, x->path.ptr, n);
				lua_pop(co, 1);
			}
			lua_pop(co, 1);
		}
	}
	if (bi > last || lua_isnil(co, bi)) {
		xapi_respond(x, (int)status, (pt_str_t){ NULL, 0 });
	} else if (lua_type(co, bi) == LUA_TSTRING || lua_type(co, bi) == LUA_TNUMBER) {
		size_t n;
		const char *s = lua_tolstring(co, bi, &n);

		if (!has_resp_header(x, "content-type"))
			xapi_header_set(x, PT_STR("content-type"), PT_STR("text/plain; charset=utf-8"));
		xapi_respond(x, (int)status, (pt_str_t){ s, n });
	} else if (lua_istable(co, bi)) {
		size_t n;
		char *json = lua_json_encode_value(co, bi, &n, err, sizeof(err));

		if (!json) {
			log_error("lua", "%.*s: cannot encode the returned table: %s", (int)x->path.len,
			          x->path.ptr, err);
			exchange_error(x, 500, "internal error");
			return;
		}
		if (!has_resp_header(x, "content-type"))
			xapi_header_set(x, PT_STR("content-type"), PT_STR("application/json"));
		xapi_respond(x, (int)status, (pt_str_t){ json, n });
		free(json);
	} else {
		log_error("lua", "%.*s: the handler returned a %s as the body", (int)x->path.len,
		          x->path.ptr, luaL_typename(co, bi));
		exchange_error(x, 500, "internal error");
	}
}

/*
 * Coroutines that finished cleanly are kept (LSTATE_IDLE of them per state)
 * and serve the next request: creating a thread and its stack was the
 * largest Lua cost of a small handler. A thread that raised is dropped.
 */
static void handler_abandoned(void *ud);

/*
 * Closes the pending to-be-closed variables of R's coroutine, which raised
 * or was stopped (budget) in a yield: their __close handlers run under R's
 * budget (once spent, each ends at its first hook call) and may not wait.
 * Its stack is gone after this: log its traceback first.
 */
static void co_close(struct lreq *r)
{
	struct lstate *ls = lstate_of(r->L);
	struct run_prev prev;

	r->done = 1;   /* lua_wait_begin_safe refuses */
	budget_arm(r);
	prev = run_enter(ls, r);
	lua_resetthread(r->co);
	run_leave(ls, prev);
}

static void lreq_end(struct lreq *r)
{
	struct lstate *ls = lstate_of(r->L);

	r->done = 1;
	if (r->abort_set && r->x->abort_fn == handler_abandoned) {
		xapi_on_abort(r->x, NULL, NULL);
		r->abort_set = 0;
	}
	if (!r->reusable)
		co_close(r);
	lua_settop(r->co, 0);
	if (r->reusable && lua_status(r->co) == LUA_OK && ls->nidle < LSTATE_IDLE) {
		ls->idle[ls->nidle].co = r->co;
		ls->idle[ls->nidle++].ref = r->co_ref;
	} else {
		luaL_unref(r->L, LUA_REGISTRYINDEX, r->co_ref);
	}
	xapi_unref(r->x);
}

static int task_run(struct lreq *r, int nargs, int *nres_out);

struct protect {
	void (*fn)(void *);
	void *ud;
};

static int protect_p(lua_State *L)
{
	struct protect *p = lua_touserdata(L, 1);

	p->fn(p->ud);
	return 0;
}

/*
 * Runs FN(UD), which uses L or its coroutines, in a protected call on L: 0,
 * or -1 when it raised. At the memory limit any allocation raises, and
 * outside a protected call that aborts the process; an error on a
 * coroutine that is not running is thrown again on the main thread (Lua
 * resets that coroutine first).
 */
static int protect(lua_State *L, void (*fn)(void *), void *ud)
{
	struct protect p = { fn, ud };
	int top = lua_gettop(L);

	if (!lua_checkstack(L, 2))
		return -1;
	lua_pushcfunction(L, protect_p);
	lua_pushlightuserdata(L, &p);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		lua_settop(L, top);
		return -1;
	}
	return 0;
}

/* How a run ended, for resume_end. */
struct run_end {
	struct lreq *r;
	int st, nres;
	const char *msg;       /* the error (with its traceback when TRACED) */
	int traced;
	int result;            /* PT_FILTER_* */
};

static void log_failure(struct lreq *r, const char *msg)
{
	pt_exchange *x = r->x;
	pt_str_t id = xapi_request_id(x);

	log_error("lua", "%s %.*s %.*s (request %.*s): %s", r->filter ? "filter on" : "handler of",
	          (int)x->method_name.len, x->method_name.ptr, (int)x->path.len, x->path.ptr,
	          (int)id.len, id.ptr, msg);
}

/* The response (or error) after R's run ended; runs under protect(). */
static void resume_end(void *ud)
{
	struct run_end *e = ud;
	struct lreq *r = e->r;
	lua_State *co = r->co;
	pt_exchange *x = r->x;

	if (e->st == LUA_OK) {
		r->reusable = 1;
		if (!r->filter || (e->nres > 0 && !lua_isnil(co, -e->nres))) {
			respond_from(r, e->nres);
			e->result = PT_FILTER_DONE;
		}
	} else if (xapi_aborted(x)) {
		/* the client left and a write said so: how a streaming handler
		 * ends, not a script error (no traceback, not at error level) */
		pt_str_t id = xapi_request_id(x);

		log_info("lua", "%s %.*s %.*s (request %.*s) stopped: %.*s",
		         r->filter ? "filter on" : "handler of", (int)x->method_name.len,
		         x->method_name.ptr, (int)x->path.len, x->path.ptr, (int)id.len, id.ptr,
		         (int)strcspn(e->msg, "\n"), e->msg);
		if (x->state == X_STREAMING)
			exchange_abort(x);
		else
			exchange_error(x, 500, "internal error");
		e->result = PT_FILTER_DONE;
	} else {
		/* the log gets the traceback, the client a 500 that says nothing internal */
		if (e->traced) {   /* body_traceback made it as the error unwound */
			log_failure(r, e->msg);
		} else {
			luaL_traceback(r->L, co, e->msg, 0);
			log_failure(r, lua_tostring(r->L, -1));
			lua_pop(r->L, 1);
		}
		if (x->state == X_STREAMING) {
			/* cut the stream so the client sees it failed: a finish would
			 * send the last chunk (or END_STREAM) of a complete answer */
			exchange_abort(x);
		} else {
			exchange_error(x, 500, "internal error");
		}
		e->result = PT_FILTER_DONE;
	}
}

/* Resumes R's coroutine with NARGS values on its stack. */
static void resume(struct lreq *r, int nargs)
{
	lua_State *co = r->co;
	pt_exchange *x = r->x;
	struct run_end e = { r, 0, 0, NULL, 1, PT_FILTER_NEXT };
	struct lstate *ls = lstate_of(r->L);
	struct run_prev prev;

	r->waiting = 0;
	prev = run_enter(ls, r);
	e.st = lua_resume(co, r->L, nargs, &e.nres);
	run_leave(ls, prev);
	if (e.st == LUA_YIELD) {
		if (r->waiting)
			return;   /* a Portico wait: its event resumes the coroutine */
		e.msg = r->b.killed ? r->b.why   /* the count hook yielded: the budget is spent */
		        : "coroutine.yield() outside a coroutine of the handler's own: only "
		          "Portico functions (sleep, http.request, ...) may wait here";
		e.st = LUA_ERRRUN;
		e.traced = 0;   /* its stack is still there for the traceback */
	} else if (r->b.killed) {
		/* never a normal end; and the budget's error, not what a catcher
		 * may have made of it (the traced one if it is there) */
		const char *m = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1) : NULL;

		e.msg = m;
		if (e.st == LUA_OK || !m || strncmp(m, r->b.why, strlen(r->b.why)) != 0) {
			e.msg = r->b.why;
			e.traced = 0;
		}
		e.st = LUA_ERRRUN;
	} else if (e.st != LUA_OK) {
		e.msg = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1)   /* never converts */
		        : "an error object (not a string)";
	}
	if (protect(r->L, resume_end, &e) != 0) {
		/* no memory left to answer from the script's values (or to log) */
		log_failure(r, "not enough memory to answer (lua.max_memory)");
		r->reusable = 0;
		if (x->state == X_STREAMING)
			exchange_abort(x);
		else if (x->state != X_DONE && !x->transport_gone)
			exchange_error(x, 500, "internal error");
		e.result = PT_FILTER_DONE;
	}
	if (r->filter)
		chain_filter_done(x, e.result);
	lreq_end(r);
}

struct start_args {
	pt_exchange *x;
	struct lreq *r;
	const pt_conf *opts;
	int fresh;             /* the coroutine was made here, not taken from the idle list */
};

/*
 * start's Lua half, in a protected call (every step may allocate): (fn, ud)
 * -> R's coroutine holding body_request, fn, req, res[, opts].
 */
static int start_p(lua_State *L)
{
	struct start_args *a = lua_touserdata(L, 2);
	struct lreq *r = a->r;
	struct lstate *ls = lstate_of(L);
	struct lx *lx = lx_get(a->x, L);
	lua_State *co;

	if (!lx)
		return luaL_error(L, "out of memory");
	r->lx = lx;
	if (ls->nidle) {
		ls->nidle--;
		co = ls->idle[ls->nidle].co;
		r->co_ref = ls->idle[ls->nidle].ref;
	} else {
		co = lua_newthread(L);
		r->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* keeps the thread alive */
		a->fresh = 1;
		lua_sethook(co, lua_budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
		thread_own(L, co);
	}
	r->co = co;
	if (!lua_checkstack(co, 8))
		return luaL_error(L, "out of memory");
	lua_pushcfunction(co, body_request);
	lua_pushvalue(L, 1);
	lua_xmove(L, co, 1);                          /* the function */
	lua_rawgeti(co, LUA_REGISTRYINDEX, lx->req_ref);
	lua_rawgeti(co, LUA_REGISTRYINDEX, lx->res_ref);
	if (r->filter)
		push_conf(co, a->opts);   /* an error here is thrown again on L */
	return 0;
}

/* Runs the function on top of L as a coroutine for X: handler (req, res) or
 * filter (req, res, opts). Pops the function. */
static int start(pt_exchange *x, lua_State *L, int filter, const pt_conf *opts)
{
	struct lreq *r = xapi_alloc(x, sizeof(*r));
	struct lstate *ls = lstate_of(L);
	struct start_args a = { x, r, opts, 0 };

	if (!r || !lua_checkstack(L, 3)) {
		lua_pop(L, 1);
		return PT_ENOMEM;
	}
	memset(r, 0, sizeof(*r));
	r->x = x;
	r->L = L;
	r->filter = filter;
	r->b.limit = ls->set->max_instructions;
	outside_reset(ls);
	lua_pushcfunction(L, start_p);
	lua_insert(L, -2);
	lua_pushlightuserdata(L, &a);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		/* at the memory limit: this request fails, the worker goes on */
		log_failure(r, lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot start");
		lua_pop(L, 1);
		if (r->co) {
			lua_settop(r->co, 0);
			if (a.fresh || ls->nidle >= LSTATE_IDLE || lua_status(r->co) != LUA_OK) {
				luaL_unref(L, LUA_REGISTRYINDEX, r->co_ref);
			} else {
				ls->idle[ls->nidle].co = r->co;
				ls->idle[ls->nidle++].ref = r->co_ref;
			}
		}
		return PT_ENOMEM;
	}
	xapi_ref(x);
	budget_start(r);
	resume(r, filter ? 4 : 3);   /* the function and its arguments, to body_request */
	return 0;
}

static lua_State *state_for(pt_exchange *x)
{
	char err[1024];
	lua_State *L = lua_gen_state(x->gen->lua, x->w, err, sizeof(err));

	if (!L)
		log_error("lua", "worker %u: cannot load the route scripts: %s", x->w->id, err);
	return L;
}

int lua_handler(pt_exchange *x, const pt_conf *opts, void *ud)
{
	lua_State *L;

	(void)opts;
	(void)ud;
	if (!x->route || x->route->lua_fn <= 0 || !(L = state_for(x)))
		return PT_ESTATE;
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_K_FNS);
	lua_rawgeti(L, -1, x->route->lua_fn);
	lua_remove(L, -2);
	if (!lua_isfunction(L, -1)) {
		lua_pop(L, 1);
		return PT_ESTATE;
	}
	return start(x, L, 0, NULL);
}

int lua_filter_run(pt_exchange *x, const char *name, const pt_conf *opts)
{
	lua_State *L = state_for(x);

	if (!L)
		return PT_ESTATE;
	if (!lua_push_filter(L, name)) {
		lua_pop(L, 1);
		return PT_ENOENT;
	}
	return start(x, L, 1, opts) == 0 ? PT_FILTER_WAIT : PT_ENOMEM;
}

/* ---- waits: sleep, http.request, plugin functions ---------------------- */

struct pt_wait {
	struct lreq *r;
	void (*abandon)(void *ud);  /* lua_wait_on_abandon */
	void *abandon_ud;
};

pt_wait *lua_wait_begin(lua_State *L)
{
	pt_wait *w = lua_wait_begin_safe(L);

	if (!w)
		luaL_error(L, "this function waits, so it can only run in a request handler or "
		           "filter, not inside a coroutine the handler created");
	return w;
}

/*
 * The client left while a route handler waited (sleep, http.request, a
 * plugin's wait): the handler ends now instead of running on when the wait
 * is over only to find at its next write that nobody reads. What it waits
 * for still holds its own reference and ends as it would (its timer, its
 * call's timeout); lua_wait_wake then lets the coroutine go, unresumed.
 */
static void handler_abandoned(void *ud)
{
	struct lreq *r = ud;
	pt_exchange *x = r->x;
	pt_wait *w = r->wait;
	void (*end_wait)(void *) = w ? w->abandon : NULL;
	pt_str_t id;

	r->abort_set = 0;
	if (r->done || !r->waiting)
		return;
	id = xapi_request_id(x);
	log_info("lua", "handler of %.*s %.*s (request %.*s) stopped while it waited: "
	         "the client went away", (int)x->method_name.len, x->method_name.ptr,
	         (int)x->path.len, x->path.ptr, (int)id.len, id.ptr);
	r->done = 1;
	r->abandoned = 1;
	xapi_unref(x);   /* the handler's reference; the wait keeps its own */
	if (end_wait) {
		/* last: ending the wait may drop X, and R with its pool */
		w->abandon = NULL;
		end_wait(w->abandon_ud);
	}
}

/* An abandoned coroutine is dropped (not reused) once its wait is over. */
static void wait_over(struct lreq *r)
{
	if (r->abandoned) {
		r->abandoned = 0;
		luaL_unref(r->L, LUA_REGISTRYINDEX, r->co_ref);
	}
}

pt_wait *lua_wait_begin_safe(lua_State *L)
{
	struct lreq *r = current(L);
	pt_wait *w;

	/* not yieldable (a callback of table.sort, gsub, __close...): the
	 * yield would fail after the wait was armed */
	if (!r || r->done || r->co != L || !lua_isyieldable(L) ||
	    !(w = xapi_alloc(r->x, sizeof(*w))))
		return NULL;
	w->r = r;
	w->abandon = NULL;
	r->waiting = 1;
	r->wait = w;
	xapi_ref(r->x);
	/* route handlers only: a filter's end drives the chain, a task's its
	 * plugin, and both are answered by whoever started them */
	if (!r->filter && !r->task_done && !r->abort_set &&
	    xapi_on_abort(r->x, handler_abandoned, r) == 0)
		r->abort_set = 1;
	return w;
}

void lua_wait_cancel(pt_wait *w)
{
	struct lreq *r = w->r;
	pt_exchange *x = r->x;

	r->waiting = 0;
	r->wait = NULL;
	wait_over(r);
	xapi_unref(x);
}

void lua_wait_on_abandon(pt_wait *w, void (*fn)(void *ud), void *ud)
{
	w->abandon = fn;
	w->abandon_ud = ud;
}

/* Where a waiting C function goes on: returns what the wake pushed, or
 * raises when that failed for memory. */
static int wait_resumed(lua_State *L, int status, lua_KContext ctx)
{
	struct lreq *r = current(L);

	(void)status;
	(void)ctx;
	if (r && r->wake_n < 0)
		return luaL_error(L, "not enough memory for the result of a wait");
	return r ? r->wake_n : 0;
}

int lua_wait_yield(lua_State *L)
{
	return lua_yieldk(L, 0, 0, wait_resumed);
}

struct wake_push {
	pt_lua_push_fn push;
	void *ud;
};

static int wake_push_p(lua_State *L)
{
	struct wake_push *p = lua_touserdata(L, 1);

	lua_pop(L, 1);
	return p->push(L, p->ud);
}

/*
 * Puts what PUSH makes on R's coroutine: made on the state's main thread in
 * a protected call (at the memory limit an allocation fails, and this runs
 * from the event loop, where nothing would catch it), then moved. The count,
 * or -1 when it failed.
 */
static int wake_values(struct lreq *r, pt_lua_push_fn push, void *ud)
{
	struct wake_push p = { push, ud };
	lua_State *L = r->L;
	int top = lua_gettop(L), n;

	if (!lua_checkstack(L, 4))
		return -1;
	lua_pushcfunction(L, wake_push_p);
	lua_pushlightuserdata(L, &p);
	if (lua_pcall(L, 1, LUA_MULTRET, 0) != LUA_OK) {
		lua_settop(L, top);
		return -1;
	}
	n = lua_gettop(L) - top;
	if (!lua_checkstack(r->co, n + 1)) {
		lua_settop(L, top);
		return -1;
	}
	lua_xmove(L, r->co, n);
	return n;
}

int lua_wait_wake(pt_wait *w, pt_lua_push_fn push, void *ud)
{
	struct lreq *r = w->r;
	pt_exchange *x = r->x;
	pt_exchange *was;
	int n = 0;

	r->wait = NULL;
	if (r->done) {
		wait_over(r);
		xapi_unref(x);
		return PT_ESTATE;
	}
	if (push)
		n = wake_values(r, push, ud);
	r->wake_n = n;
	if (n < 0)
		n = 0;
	was = watchdog_enter(x->w, x);   /* the watchdog names X if this never returns */
	if (r->task_done)
		task_run(r, n, NULL);
	else
		resume(r, n);
	watchdog_leave(x->w, was);
	xapi_unref(x);
	return 0;
}

pt_exchange *lua_wait_exchange(pt_wait *w)
{
	return w && !w->r->done ? w->r->x : NULL;
}

/* ---- tasks: Lua that C handlers run (pt_api.lua_task_resume) ------------ */

lua_State *lua_exchange_state(pt_exchange *x);

/*
 * Resumes a task's coroutine. When it ends: the status, with *NRES_OUT set
 * on the first (synchronous) run, or task_done called once it has waited.
 * LUA_YIELD while it waits on a Portico event.
 */
/* A task's error as its one result, under protect(): R's thread ended for
 * good (the plugin may reuse it: it must not continue a yield). */
static void task_error(void *ud)
{
	struct lreq *r = ud;

	if (r->b.killed)
		lua_pushstring(r->co, r->b.why);
	else if (lua_status(r->co) == LUA_YIELD)
		lua_pushliteral(r->co, "coroutine.yield() outside a coroutine of the resolver's own: "
		                "only Portico functions (sleep, http.request, ...) may wait here");
	lua_xmove(r->co, r->L, 1);   /* kept aside while the thread closes */
	co_close(r);
	lua_settop(r->co, 0);
	lua_xmove(r->L, r->co, 1);
}

/* The state's list of waiting tasks, which lua_task_abandon looks in. */
static void task_link(struct lstate *ls, struct lreq *r)
{
	r->tprev = NULL;
	r->tnext = ls->tasks;
	if (ls->tasks)
		ls->tasks->tprev = r;
	ls->tasks = r;
	r->tlinked = 1;
}

static void task_unlink(struct lstate *ls, struct lreq *r)
{
	if (!r->tlinked)
		return;
	if (r->tprev)
		r->tprev->tnext = r->tnext;
	else
		ls->tasks = r->tnext;
	if (r->tnext)
		r->tnext->tprev = r->tprev;
	r->tlinked = 0;
}

static int task_run(struct lreq *r, int nargs, int *nres_out)
{
	struct lstate *ls = lstate_of(r->L);
	struct run_prev prev;
	int nres = 0, st;

	task_unlink(ls, r);
	r->waiting = 0;
	prev = run_enter(ls, r);
	st = lua_resume(r->co, r->L, nargs, &nres);
	run_leave(ls, prev);
	if (st == LUA_YIELD) {
		if (r->waiting) {
			r->task_async = 1;
			task_link(ls, r);
			return LUA_YIELD;
		}
		lua_pop(r->co, nres);
		st = LUA_ERRRUN;
	}
	if (st != LUA_OK) {
		if (protect(r->L, task_error, r) != 0) {
			co_close(r);
			lua_settop(r->co, 0);
			lua_pushnil(r->co);   /* no memory for a message */
		}
		nres = 1;
	}
	r->done = 1;
	/* the plugin gets its coroutine back counted from the first
	 * instruction, as lua_newthread made it: Lua it runs there outside a
	 * task is under the state's budget */
	budget_arm(r);
	if (r->task_async)
		r->task_done(r->co, st, nres, r->task_ud);
	else if (nres_out)
		*nres_out = nres;
	return st;
}

int lua_task_resume(pt_exchange *x, lua_State *co, int nargs, int *nres, pt_lua_task_fn done,
                    void *ud)
{
	return lua_task_resume_gone(x, co, nargs, nres, done, NULL, ud);
}

/*
 * The plugin gave up on CO (a deadline, a cancelled call): it is never
 * resumed and its DONE never runs. Its wait ends now when the waiting
 * function said how (sleep's timer, http.request's call: their
 * lua_wait_on_abandon), else as it would; the wake then finds the task
 * done and lets it go.
 */
int lua_task_abandon(lua_State *co)
{
	struct lstate *ls;
	struct lreq *r;
	pt_wait *w;
	void (*end_wait)(void *);
	void (*gone)(void *);
	void *gone_ud;

	if (!co)
		return PT_EINVAL;
	ls = lstate_of(co);
	for (r = ls ? ls->tasks : NULL; r && r->co != co; r = r->tnext)
		;
	if (!r || r->done || !r->waiting)
		return PT_ESTATE;
	task_unlink(ls, r);
	r->done = 1;
	w = r->wait;
	end_wait = w ? w->abandon : NULL;
	gone = r->task_gone;
	gone_ud = r->task_ud;
	if (end_wait) {
		/* may drop the wait's reference to X, not the task owner's */
		w->abandon = NULL;
		end_wait(w->abandon_ud);
	}
	if (gone)
		gone(gone_ud);   /* last: it may let X (and R, in its pool) go */
	return 0;
}

int lua_task_resume_gone(pt_exchange *x, lua_State *co, int nargs, int *nres,
                         pt_lua_task_fn done, void (*gone)(void *ud), void *ud)
{
	struct lreq *r = xapi_alloc(x, sizeof(*r));
	lua_State *L = lua_exchange_state(x);

	if (!r || !L || !done || lstate_of(co)->L != L) {
		lua_settop(co, 0);
		lua_pushstring(co, r ? "lua_task_resume: no callback or no Lua state, or a "
		               "coroutine of another state (another generation's?)" : "out of memory");
		*nres = 1;
		return LUA_ERRMEM;
	}
	memset(r, 0, sizeof(*r));
	r->x = x;
	r->L = L;
	r->co = co;
	r->b.limit = lstate_of(L)->set->max_instructions;
	outside_reset(lstate_of(L));
	r->task_done = done;
	r->task_gone = gone;
	r->task_ud = ud;
	thread_own(L, co);   /* a plugin's coroutine: scripts cannot resume it */
	budget_start(r);
	if (lua_status(co) == LUA_OK && lua_gettop(co) == nargs + 1) {
		/* a start, not a continuation: through body_task */
		lua_pushcfunction(co, body_task);
		lua_insert(co, 1);
		nargs++;
	}
	return task_run(r, nargs, nres);
}

lua_State *lua_exchange_state(pt_exchange *x)
{
	return x->w && x->gen && x->gen->lua && x->gen->lua->nscripts ? state_for(x) : NULL;
}

pt_worker *lua_worker_of(lua_State *L)
{
	return lstate_of(L)->w;
}

/* ---- req for a plugin's Lua (pt_api.exchange_lua_req) ---------------------- */

struct req_push {
	pt_exchange *x;
	lua_State *L;
	struct lx *lx;
};

static void req_push_p(void *ud)
{
	struct req_push *a = ud;

	a->lx = lx_get(a->x, a->L);
}

int lua_push_req(pt_exchange *x, lua_State *co)
{
	struct req_push a = { x, lua_exchange_state(x), NULL };

	if (!a.L || lstate_of(co)->L != a.L)
		return PT_ESTATE;
	if (!lua_checkstack(co, 1) || protect(a.L, req_push_p, &a) != 0 || !a.lx)
		return PT_ENOMEM;
	lua_rawgeti(co, LUA_REGISTRYINDEX, a.lx->req_ref);
	return 0;
}
