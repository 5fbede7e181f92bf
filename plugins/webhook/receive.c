/*
 * receive.c - the "webhook" handler: a source's POST is verified (a
 * scheme of verify.c, or opts.verify(req) run as a task for scheme
 * "lua"), its event id and type found, and the event stored; the 2xx
 * leaves only once the store said WH_STORED or WH_DUPLICATE. Anything
 * else is refused before storing (401 signature or timestamp, 400 an
 * unusable id) or answered 503 with Retry-After (the store is full, failing
 * or over its queue bound), so the sender delivers again: an acknowledged
 * event is a stored one.
 *
 * A client that leaves while its event is being stored changes nothing:
 * the exchange is kept (exchange_ref) until the store calls back, and the
 * event, once stored, is processed as any other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <lauxlib.h>

#include "evid_json.h"
#include "whg.h"


#define MAX_HEADERS_JSON (32u << 10)   /* bytes of header values kept with an event */
#define MAX_HEADER_VALUE (8u << 10)
#define MAX_ID 255                  /* bytes of an event id kept (wh_event_id's buffer) */

struct rx {
	pt_exchange *x;
	const struct wh_source *s;   /* the state's: alive while X is */
	struct whg_metrics *m;
	pt_str_t body;
	lua_State *L;                /* scheme "lua": the verify task */
	int co_ref;
	char source[65];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Answers X with STATUS and {"KEY": VAL} (or BODY when not NULL). */
static void answer(pt_exchange *x, int status, const char *key, const char *val)
{
	const struct pt_api *a = wh_api;
	json_t *o = json_object();
	char *text = NULL;

	if (o) {
		if (key) {
			json_t *v = json_string(val);

			json_object_set_new(o, key, v ? v : json_string("(not UTF-8)"));
		}
		text = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	a->exchange_header_set(x, PT_STR("content-type"), PT_STR("application/json"));
	a->exchange_respond(x, status, text ? (pt_str_t){ text, strlen(text) } :
	                    PT_STR("{\"error\":\"out of memory\"}"));
	free(text);
}

static void reject(struct rx *r, int status, const char *why)
{
	const struct pt_api *a = wh_api;
	pt_str_t ip = a->exchange_remote_addr(r->x);

	WHG_COUNT(r->m, rejected);
	a->log(whg_ctx, PT_LOG_INFO, "source \"%s\": %d from %.*s: %s", r->source, status,
	       (int)ip.len, ip.ptr, why);
	answer(r->x, status, "error", why);
}

static void unavailable(pt_exchange *x, const char *source, const char *why)
{
	wh_api->log(whg_ctx, PT_LOG_WARN, "source \"%s\": not stored, answered 503: %s", source,
	            why);
	wh_api->exchange_header_set(x, PT_STR("retry-after"), PT_STR("5"));
	answer(x, 503, "error", "the event cannot be stored now; retry later");
}

static const char *header_of(void *ud, const char *name, size_t *len)
{
	pt_str_t v;

	if (wh_api->exchange_header(ud, (pt_str_t){ name, strlen(name) }, 0, &v) != 0)
		return NULL;
	*len = v.len;
	return v.ptr;
}

static int header_at(void *ud, unsigned i, const char **name, size_t *nlen,
                     const char **val, size_t *vlen)
{
	pt_str_t n, v;

	if (wh_api->exchange_header_at(ud, i, &n, &v) != 0)
		return -1;
	*name = n.ptr;
	*nlen = n.len;
	*val = v.ptr;
	*vlen = v.len;
	return 0;
}

/* The request's headers as {"name":"value"} (lowercase names, repeats
 * joined with ", "), without cookie, authorization and
 * proxy-authorization, values that are not UTF-8, or anything past
 * MAX_HEADERS_JSON bytes (headers_json.c). Owned by the caller (free);
 * NULL: no memory. */
static char *headers_json(pt_exchange *x)
{
	return wh_headers_json(wh_api->exchange_header_count(x), header_at, x, MAX_HEADERS_JSON,
	                       MAX_HEADER_VALUE);
}

static void put_done(int rc, const char *err, void *ud)
{
	struct rx *r = ud;
	pt_exchange *x = r->x;
	const struct pt_api *a = wh_api;
	const char *id = (const char *)(r + 1);

	if (rc == WH_STORED)
		WHG_COUNT(r->m, received);
	else if (rc == WH_DUPLICATE)
		WHG_COUNT(r->m, duplicates);
	if (a->exchange_aborted(x)) {
		if (rc != WH_STORED && rc != WH_DUPLICATE)
			a->log(whg_ctx, PT_LOG_WARN, "source \"%s\": event %s not stored (the client "
			       "left meanwhile): %s", r->source, id, err ? err : "storage error");
	} else if (rc == WH_STORED || rc == WH_DUPLICATE) {
		/* {"ok":true,"id":ID}, written here (jansson's pack and dump
		 * were a twentieth of an event): an id that is not UTF-8
		 * (jansson would refuse it) is left out */
		char text[sizeof("{\"ok\":true,\"id\":\"\"}") + 6 * MAX_ID];
		size_t n = strlen(id), len = sizeof("{\"ok\":true") - 1;

		memcpy(text, "{\"ok\":true", len);
		if (n <= MAX_ID && wh_utf8_valid(id, n)) {
			memcpy(text + len, ",\"id\":\"", 7);
			len += 7;
			len += wh_json_escape(text + len, id, n);
			text[len++] = '"';
		}
		text[len++] = '}';
		if (rc == WH_DUPLICATE)
			a->exchange_header_set(x, PT_STR("x-portico-duplicate"), PT_STR("1"));
		a->exchange_header_set(x, PT_STR("content-type"), PT_STR("application/json"));
		a->exchange_respond(x, 200, (pt_str_t){ text, len });
	} else {
		char why[300];

		snprintf(why, sizeof(why), "%s (%s)", err ? err : "storage error",
		         rc == WH_EFULL ? "full" : rc == WH_EBUSY ? "busy" : "I/O");
		unavailable(x, r->source, why);
	}
	a->exchange_unref(x);
}

/* Verified: the event's id, type and headers, then the store. */
static void store_event(struct rx *r)
{
	const struct pt_api *a = wh_api;
	pt_exchange *x = r->x;
	const struct wh_source *s = r->s;
	struct wh_req req = { header_of, x, (const unsigned char *)r->body.ptr, r->body.len,
	                      (int64_t)time(NULL) };
	char id[MAX_ID + 1], type[256], why[256] = "";
	struct wh_event_in ev;
	struct rx *r2;
	char *hj;
	int rc;

	if (wh_event_id(s, &req, id, sizeof(id), why, sizeof(why)) != 0) {
		reject(r, 400, why[0] ? why : "no usable event id");
		return;
	}
	wh_event_type(s, &req, type, sizeof(type));
	if (!wh_store_main) {
		unavailable(x, r->source, wh_store_error[0] ? wh_store_error : "no store");
		return;
	}
	/* the id is answered from put_done: keep it with the exchange */
	if (!(r2 = a->exchange_alloc(x, sizeof(*r2) + strlen(id) + 1)) || !(hj = headers_json(x))) {
		unavailable(x, r->source, "out of memory");
		return;
	}
	*r2 = *r;
	strcpy((char *)(r2 + 1), id);
	memset(&ev, 0, sizeof(ev));
	ev.kind = WH_INBOUND;
	ev.source = r->source;
	ev.event_id = id;
	ev.type = type;
	ev.body = r->body.ptr;
	ev.body_len = r->body.len;
	ev.headers_json = hj;
	ev.received_at_ms = now_ms();
	ev.max_attempts = s->retry.max;
	ev.base = s->retry.base;
	ev.cap = s->retry.cap;
	ev.ordered = s->ordered;
	a->exchange_ref(x);
	rc = wh_store_main->ops->put(wh_store_main, a->exchange_worker(x), &ev, put_done, r2);
	free(hj);
	if (rc != 0) {
		unavailable(x, r->source, rc == WH_EBUSY ? "too many events waiting to be stored" :
		            rc == WH_EFULL ? "storage full" : "the store refused the event");
		a->exchange_unref(x);
	}
}

/* ---- scheme "lua": opts.verify(req) ---------------------------------------------- */

/* The verify task ended: truthy -> store; false/nil [, why] -> 401; an
 * error -> 500 (logged), never stored. */
static void verify_result(struct rx *r, lua_State *co, int st, int nres)
{
	const struct pt_api *a = wh_api;

	if (st != LUA_OK) {
		const char *msg = lua_tostring(co, -1);

		a->log(whg_ctx, PT_LOG_WARN, "source \"%s\": verify failed: %s", r->source,
		       msg ? msg : "(error object is not a string)");
		answer(r->x, 500, "error", "verify failed");
	} else if (nres >= 1 && lua_toboolean(co, -nres)) {
		store_event(r);
	} else {
		char why[200] = "verify refused the request";

		if (nres >= 2 && lua_type(co, -nres + 1) == LUA_TSTRING)
			snprintf(why, sizeof(why), "%s", lua_tostring(co, -nres + 1));
		reject(r, 401, why);
	}
	lua_settop(co, 0);
	luaL_unref(r->L, LUA_REGISTRYINDEX, r->co_ref);
	r->co_ref = LUA_NOREF;
}

static void verify_done(lua_State *co, int st, int nres, void *ud)
{
	struct rx *r = ud;
	pt_exchange *x = r->x;

	if (wh_api->exchange_aborted(x)) {
		lua_settop(co, 0);
		luaL_unref(r->L, LUA_REGISTRYINDEX, r->co_ref);
	} else {
		verify_result(r, co, st, nres);
	}
	wh_api->exchange_unref(x);
}

static int verify_lua(struct rx *r, lua_State *L)
{
	const struct pt_api *a = wh_api;
	lua_State *co;
	int st, nres = 0, top = lua_gettop(L);

	if (!lua_checkstack(L, 3) || !(co = lua_newthread(L)))
		return PT_ENOMEM;
	r->L = L;
	r->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (!whg_source_get(L, r->source, 2) || !lua_isfunction(L, -1)) {
		lua_settop(L, top);
		luaL_unref(L, LUA_REGISTRYINDEX, r->co_ref);
		return PT_ESTATE;
	}
	lua_xmove(L, co, 1);
	if (a->exchange_lua_req(r->x, co) != 0) {
		lua_settop(co, 0);
		luaL_unref(L, LUA_REGISTRYINDEX, r->co_ref);
		return PT_ENOMEM;
	}
	st = a->lua_task_resume(r->x, co, 1, &nres, verify_done, r);
	if (st == LUA_YIELD) {
		a->exchange_ref(r->x);
		return 0;
	}
	verify_result(r, co, st, nres);
	return 0;
}

/* ---- the handler ----------------------------------------------------------------- */

int whg_receive(pt_exchange *x, const pt_conf *opts, void *ud)
{
	const struct pt_api *a = wh_api;
	lua_State *L = a->exchange_lua(x);
	struct whg_src *u;
	struct rx *r;
	pt_str_t name;
	char why[256] = "";

	(void)ud;
	if (a->conf_str(opts, "source", &name) != 0 || !name.len || name.len > 64 || !L)
		return PT_ESTATE;
	if (!(r = a->exchange_alloc(x, sizeof(*r))))
		return PT_ENOMEM;
	memset(r, 0, sizeof(*r));
	r->x = x;
	r->co_ref = LUA_NOREF;
	memcpy(r->source, name.ptr, name.len);
	r->source[name.len] = '\0';
	if (!(u = whg_source_get(L, r->source, 0))) {
		a->log(whg_ctx, PT_LOG_ERROR, "source \"%s\": no such source in this generation",
		       r->source);
		return PT_ESTATE;
	}
	r->s = u->s;
	r->m = u->m;
	if (a->exchange_body(x, &r->body) != 0)
		r->body = (pt_str_t){ "", 0 };
	if (r->body.len > r->s->max_body) {
		reject(r, 413, "body larger than max_body");
		return 0;
	}
	if (!wh_store_main) {
		unavailable(x, r->source, wh_store_error[0] ? wh_store_error : "no store");
		return 0;
	}
	if (r->s->scheme == WH_SCHEME_LUA)
		return verify_lua(r, L);
	{
		struct wh_req req = { header_of, x, (const unsigned char *)r->body.ptr, r->body.len,
		                      (int64_t)time(NULL) };

		if (wh_verify(r->s, &req, why, sizeof(why)) != 0) {
			reject(r, 401, why[0] ? why : "signature does not verify");
			return 0;
		}
	}
	store_event(r);
	return 0;
}
