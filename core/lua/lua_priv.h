/* lua_priv.h - what the Lua runtime's files share, not for the rest of the core. */
#ifndef PT_LUA_PRIV_H
#define PT_LUA_PRIV_H

#include <stdint.h>

#include <lua.h>
#include "lua_alloc.h"
#include "lua_pattern.h"
#include "lua_rt.h"

#define LUA_K_FNS "pt.fns"    /* registry: route index -> function */
#define LUA_K_THREADS "pt.threads"   /* registry: Portico's coroutines -> true (weak) */

/* Per state: its limits and memory accounting; in the state's extra space. */
struct lreq;

#define LSTATE_IDLE 64
#define LUA_FREE_MAX_STEPS 100000000ull  /* the load limit on instructions and C steps */

/*
 * An instruction budget: a request's (each handler, filter or plugin task
 * run has one) or, outside any request, the state's (while the scripts
 * load, then for Lua a plugin calls directly). Once spent it is killed for
 * good: every later hook call, pcall, coroutine resume and C charge raises
 * WHY again, so nothing a script does catches it.
 */
struct lbudget {
	uint64_t count, limit;      /* limit 0: none */
	int killed;
	char why[224];              /* "file:line: instruction budget exceeded ..." */
};

struct lstate {
	lua_State *L;
	struct lua_mem mem;         /* the state's memory limit and use */
	const struct lua_settings *set;
	struct lua_gen *lg;
	pt_worker *w;               /* NULL for the template state */
	struct lreq *running;       /* the request coroutine being resumed now, if any */
	struct lreq *tasks;         /* plugins' tasks waiting now (lua_task_abandon) */
	struct { lua_State *co; int ref; } idle[LSTATE_IDLE];   /* reusable coroutines */
	unsigned nidle;
	struct lbudget outside;     /* the budget when no request runs */
	int frozen;                 /* the scripts have loaded: globals are read-only */
};

static inline struct lstate *lstate_of(lua_State *L)
{
	return *(struct lstate **)lua_getextraspace(L);
}

void lua_state_close(lua_State *L);
/*
 * Counts STEPS of work a C function does for a script (a pattern match)
 * against the running request's instruction budget, as the count hook
 * counts instructions; outside a request, against the load limit. When the
 * budget is spent it raises the budget error and does not return.
 */
void lua_budget_charge(lua_State *L, uint64_t steps);
/* The count hook every thread of a state runs (each HOOK_EVERY
 * instructions): charges the running budget; once it is spent, yields the
 * request's coroutine when it can (its resumer ends it) and raises otherwise. */
void lua_budget_hook(lua_State *L, lua_Debug *ar);
#define LUA_HOOK_EVERY 1000
/* Budgets under this are counted from a run's first instruction; larger
 * ones (the default) from the run's first CPU tick on (lua_tick.c). */
#define LUA_EXACT_BELOW 5000000ull
/* The CPU tick's signal: counts the run this thread resumes now from here
 * on (async-signal-safe). */
void lua_budget_tick(void);
/* Whether the calling thread has its CPU tick. */
int lua_tick_running(void);
/* Raises the running budget's error again if it is spent. [-0, +0, v] */
void lua_budget_check(lua_State *L);
/* The running budget's error when it is spent, else NULL. */
const char *lua_budget_killed(lua_State *L);
int lua_push_filter(lua_State *L, const char *name);
/* Globals every state gets: json, shared, http, sleep, log. */
void lua_open_globals(lua_State *L);
/* Pushes built-in module NAME ("json") and returns 1, or 0. */
int lua_builtin_module(lua_State *L, const char *name);

/* The exchange of the `req` at stack index 1 (raises if it has ended). */
pt_exchange *lua_req_exchange(lua_State *L);
/* upstream() and proxy() (lua_proxy.c). */
void lua_proxy_open(lua_State *L);
/* When the value at FN is a handler proxy() made, pushes the options of a
 * "proxy" route (the route's OPTS table, if any, the proxy's options,
 * upstream = name, stream_body unless buffer_body) and returns 1; else
 * returns 0 and pushes nothing. [-0, +(0|1), m] */
int lua_proxy_route_opts(lua_State *L, int fn, int opts);

/* The req/res metatables, once per state. */
void lua_exchange_open(lua_State *L);
/* lua_wait_begin without raising: NULL outside a request coroutine. */
pt_wait *lua_wait_begin_safe(lua_State *L);
/* The exchange a pending wait belongs to, or NULL. */
pt_exchange *lua_wait_exchange(pt_wait *w);
/* Undoes a wait that never yielded. */
void lua_wait_cancel(pt_wait *w);
/* FN(UD) ends W early when its handler is abandoned (the client left): it
 * must stop what W waits for and then call lua_wait_wake (which finds the
 * handler done and lets it go). Core waits only: sleep, http.request. */
void lua_wait_on_abandon(pt_wait *w, void (*fn)(void *ud), void *ud);

#endif
