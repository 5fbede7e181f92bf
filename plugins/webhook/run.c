/*
 * run.c - jobs from the store: an inbound event runs its source's Lua
 * handler on the worker the store chose, in the worker's current
 * generation (worker_lua), as a task that may wait (sleep, http.request,
 * grpc.call); outbound deliveries go to send.c.
 *
 *   handler(event) returns anything (or nothing)   -> done
 *   returns false [, "why"]                        -> retrying, or dead past retry.max
 *   raises an error (traceback logged at warn)     -> retrying, or dead past retry.max
 *   the source is gone from the scripts (a reload) -> dead, "source x no longer configured"
 *
 * A handler that never ends is ended by the instruction budget
 * (lua.max_instructions) or by the timeouts of what it waits on; a
 * `while true do sleep(1) end` is the one thing nothing ends: don't.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <lauxlib.h>

#include "whg.h"


#define EVENT_MT "portico.webhook.event"
#define MAX_WHY 4097            /* the store keeps an error's first 4096 bytes */

struct run {
	struct wh_job *job;
	lua_State *L;          /* worker_lua(w): kept alive by the task */
	int co_ref;
	struct whg_metrics *m;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves JOB on by its outcome (OK, else WHY), counting it. Frees JOB. */
static void conclude(struct wh_job *job, struct whg_metrics *m, int ok, const char *why)
{
	struct wh_store *s = wh_store_main;

	if (!s)
		return;   /* closing: the job is picked up again at the next start */
	if (ok) {
		WHG_COUNT(m, processed);
		s->ops->finish(s, job, WH_DONE, 0, 0, NULL);
	} else if (job->attempt >= job->max_attempts) {
		WHG_COUNT(m, dead);
		wh_api->log(whg_ctx, PT_LOG_WARN, "source \"%s\": event %s is dead after %d "
		            "attempts: %s", job->source, job->event_id, job->attempt, why);
		s->ops->finish(s, job, WH_DEAD, 0, 0, why);
	} else {
		WHG_COUNT(m, retried);
		s->ops->finish(s, job, WH_RETRY,
		               now_ms() + wh_backoff_ms(job->attempt, job->base, job->cap), 0, why);
	}
}

/* ---- the event table --------------------------------------------------------------- */

/* event.json: the body decoded on first access (upvalue 1 the body,
 * upvalue 2 true once it failed), then kept in the table; nil for a body
 * that is not JSON. event.headers: the stored headers JSON (upvalue 3)
 * made a table on first access, then kept: most handlers never read
 * them. [-2, +1, e] */
static void push_headers(lua_State *L, const char *text);

static int event_index(lua_State *L)
{
	const char *k = lua_tostring(L, 2);

	if (k && !strcmp(k, "headers")) {
		push_headers(L, lua_tostring(L, lua_upvalueindex(3)));
		lua_pushvalue(L, -1);
		lua_setfield(L, 1, "headers");
		return 1;
	}
	if (!k || strcmp(k, "json") || lua_toboolean(L, lua_upvalueindex(2)))
		return 0;
	lua_getglobal(L, "json");
	if (!lua_istable(L, -1) || lua_getfield(L, -1, "decode") != LUA_TFUNCTION)
		return 0;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_call(L, 1, 1);
	if (lua_isnil(L, -1)) {
		lua_pushboolean(L, 1);
		lua_replace(L, lua_upvalueindex(2));
		return 1;
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, 1, "json");   /* rawset: the table has no __newindex */
	return 1;
}

/* A jansson value as Lua (strings, numbers, booleans; objects of them).
 * [-0, +1, m] */
static void push_headers(lua_State *L, const char *text)
{
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;
	const char *k;
	json_t *v;

	lua_newtable(L);
	if (!json_is_object(o)) {
		json_decref(o);
		return;
	}
	json_object_foreach(o, k, v) {
		if (!json_is_string(v))
			continue;
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		lua_setfield(L, -2, k);
	}
	json_decref(o);
}

/* event_new(job): the `event` table of JOB (a light userdata), called
 * protected (memory errors). [-1, +1, m] */
static int event_new(lua_State *L)
{
	const struct wh_job *job = lua_touserdata(L, 1);

	lua_createtable(L, 0, 8);
	lua_pushstring(L, job->event_id ? job->event_id : "");
	lua_setfield(L, -2, "id");
	lua_pushstring(L, job->source ? job->source : "");
	lua_setfield(L, -2, "source");
	lua_pushstring(L, job->type ? job->type : "");
	lua_setfield(L, -2, "type");
	lua_pushlstring(L, (const char *)job->body, job->body ? job->body_len : 0);
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "body");
	lua_insert(L, -2);             /* the body, below the event: the metatable's upvalue */
	lua_pushnumber(L, (lua_Number)job->received_at_ms / 1000.0);
	lua_setfield(L, -2, "received_at");
	lua_pushinteger(L, job->attempt);
	lua_setfield(L, -2, "attempt");
	lua_createtable(L, 0, 2);
	lua_rotate(L, -3, -1);         /* event, metatable, body */
	lua_pushboolean(L, 0);
	if (job->headers_json)
		lua_pushstring(L, job->headers_json);
	else
		lua_pushnil(L);
	lua_pushcclosure(L, event_index, 3);
	lua_setfield(L, -2, "__index");
	lua_pushliteral(L, "webhook event");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	return 1;
}

/* ---- running ----------------------------------------------------------------------- */

static void run_end(struct run *r, lua_State *co, int st, int nres)
{
	struct wh_job *job = r->job;
	char why[MAX_WHY];

	if (st != LUA_OK) {
		const char *msg = lua_tostring(co, -1);

		luaL_traceback(r->L, co, msg ? msg : "(error object is not a string)", 0);
		wh_api->log(whg_ctx, PT_LOG_WARN, "source \"%s\": handler failed on event %s "
		            "(attempt %d): %s", job->source, job->event_id, job->attempt,
		            lua_tostring(r->L, -1));
		lua_pop(r->L, 1);
		snprintf(why, sizeof(why), "%s", msg ? msg : "handler error");
		conclude(job, r->m, 0, why);
	} else if (nres >= 1 && lua_type(co, -nres) == LUA_TBOOLEAN && !lua_toboolean(co, -nres)) {
		const char *w = nres >= 2 ? lua_tostring(co, -nres + 1) : NULL;

		snprintf(why, sizeof(why), "%s", w ? w : "the handler returned false");
		if (job->attempt < job->max_attempts)   /* else conclude logs it dead */
			wh_api->log(whg_ctx, PT_LOG_INFO, "source \"%s\": event %s (attempt %d) "
			            "will be retried: %s", job->source, job->event_id, job->attempt,
			            why);
		conclude(job, r->m, 0, why);
	} else {
		conclude(job, r->m, 1, NULL);
	}
	lua_settop(co, 0);
	luaL_unref(r->L, LUA_REGISTRYINDEX, r->co_ref);
	free(r);
}

static void run_done(lua_State *co, int st, int nres, void *ud)
{
	run_end(ud, co, st, nres);
}

void whg_job(pt_worker *w, struct wh_job *job, void *ud)
{
	const struct pt_api *a = wh_api;
	struct whg_metrics *m = NULL;
	struct whg_src *u;
	struct run *r;
	lua_State *L, *co;
	int st, nres = 0, top;
	char why[160];

	(void)ud;
	if (job->kind == WH_OUTBOUND) {
		wh_send_run(w, job, wh_store_main);
		return;
	}
	if (!(L = a->worker_lua(w))) {
		conclude(job, NULL, 0, "the route scripts cannot load on this worker");
		return;
	}
	top = lua_gettop(L);
	if (!(u = whg_source_get(L, job->source, 1)) || !lua_isfunction(L, -1)) {
		lua_settop(L, top);
		snprintf(why, sizeof(why), "source %.64s no longer configured", job->source);
		a->log(whg_ctx, PT_LOG_WARN, "event %s is dead: %s", job->event_id, why);
		wh_store_main->ops->finish(wh_store_main, job, WH_DEAD, 0, 0, why);
		return;
	}
	m = u->m;
	if (!(r = calloc(1, sizeof(*r))) || !lua_checkstack(L, 2) || !(co = lua_newthread(L))) {
		free(r);
		lua_settop(L, top);
		conclude(job, m, 0, "out of memory");
		return;
	}
	r->job = job;
	r->L = L;
	r->m = m;
	r->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* the thread */
	lua_pushcfunction(L, event_new);
	lua_pushlightuserdata(L, job);
	if (!lua_checkstack(co, 8) || lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_settop(L, top);
		luaL_unref(L, LUA_REGISTRYINDEX, r->co_ref);
		free(r);
		conclude(job, m, 0, "out of memory");
		return;
	}
	lua_xmove(L, co, 1);                          /* the event */
	lua_xmove(L, co, 1);                          /* the handler, below it */
	lua_insert(co, 1);
	lua_settop(L, top);
	st = a->worker_lua_task_resume(w, co, 1, &nres, run_done, r);
	if (st != LUA_YIELD)
		run_end(r, co, st, nres);
}
