/*
 * lua_rt.h - the Lua runtime: route scripts, one state per worker and
 * generation, one coroutine per request.
 *
 * At generation build (main thread) the route scripts run once in a
 * "template" state: that validates them (file:line errors refuse the
 * generation) and collects the routes, filters and `use` lists into C. Each
 * worker then runs the same scripts in its own state for that generation,
 * which holds the route functions by index. A request runs its handler in a
 * new coroutine of its worker's state; functions that wait (sleep,
 * http.request, plugin calls) yield it and resume on the event.
 */
#ifndef PT_LUA_RT_H
#define PT_LUA_RT_H

#include "portico/portico.h"
#include "arena.h"
#include "conf.h"

struct gen;
struct lua_State;

struct lua_settings {
	uint64_t max_instructions;     /* per request (coroutine), 0: unlimited */
	size_t max_memory;             /* per state */
	const char **path;             /* folders `require` searches */
	unsigned npath;
};

/* A route a script declared: either a Lua function (fn >= 1) or a named handler. */
struct lua_route {
	unsigned methods;
	const char *host, *path;
	int fn;                        /* index in the state's route function table, 0: none */
	const char *handler;           /* a registered handler name when fn == 0 */
	const pt_conf *opts;           /* the options table, functions left out */
	const char *file;
	int line;
};

/* A `use("name", opts)` from a script: a filter applied to every route. */
struct lua_use {
	const char *name;
	const pt_conf *opts;
};

struct lua_gen {
	struct arena arena;
	const struct config *cfg;      /* borrowed: the generation's config */
	struct lua_settings set;
	const char **scripts;          /* files, in load order */
	const char **texts;            /* their contents, read once when the generation
	                                * is built: every state runs what was checked */
	size_t *text_lens;
	unsigned nscripts;
	struct lua_route *routes;
	unsigned nroutes;
	struct lua_use *uses;
	unsigned nuses;
	const char **filters;          /* names of filters the scripts defined */
	unsigned nfilters;
	struct lua_State **states;     /* [worker count], made on each worker's thread */
	unsigned nstates;
};

/* Builds the Lua side of a generation from CFG (main thread). NULL with ERR. */
struct lua_gen *lua_gen_new(const struct config *cfg, char *err, size_t errlen);
void lua_gen_free(struct lua_gen *lg);
/* W's state for LG, made on first use (worker thread). NULL with ERR. */
struct lua_State *lua_gen_state(struct lua_gen *lg, pt_worker *w, char *err, size_t errlen);

/* The handler behind every route whose handler is a Lua function ("lua"). */
int lua_handler(pt_exchange *x, const pt_conf *opts, void *ud);
/* Runs the Lua filter NAME of X's generation; PT_FILTER_* or negative. */
int lua_filter_run(pt_exchange *x, const char *name, const pt_conf *opts);

/* Plugin modules (pt_api.lua_module_register), kept for every state. */
int lua_module_add(const char *name, pt_lua_open_fn open);
void lua_modules_clear(void);

/* pt_api waits. */
pt_wait *lua_wait_begin(struct lua_State *L);
int lua_wait_yield(struct lua_State *L);
int lua_wait_wake(pt_wait *w, pt_lua_push_fn push, void *ud);
pt_worker *lua_worker_of(struct lua_State *L);
/* pt_api 1.2: Lua for C handlers. */
struct lua_State *lua_exchange_state(pt_exchange *x);
/* Pushes X's `req` object onto CO (a thread of X's state): 0, PT_ESTATE
 * (no state, or CO of another), PT_ENOMEM. Never raises. */
int lua_push_req(pt_exchange *x, struct lua_State *co);
int lua_task_resume(pt_exchange *x, struct lua_State *co, int nargs, int *nres,
                    pt_lua_task_fn done, void *ud);
/* lua_task_resume with GONE(UD) run when the task is abandoned (instead of
 * DONE, which is then never called): ws_task.c lets its exchange go there. */
int lua_task_resume_gone(pt_exchange *x, struct lua_State *co, int nargs, int *nres,
                         pt_lua_task_fn done, void (*gone)(void *ud), void *ud);
/* pt_api 1.7: CO, a waiting task, is never resumed; see api.h. */
int lua_task_abandon(struct lua_State *co);
/* pt_api 1.10: a plugin's wait learns that its task was abandoned
 * (lua_task.c); a fresh instruction budget for the running coroutine
 * (lua_exchange.c). */
int lua_wait_on_abandon_api(pt_wait *w, void (*fn)(void *ud), void *ud);
int lua_budget_renew(struct lua_State *L);
/* The calling thread's CPU tick, which starts counting a long Lua run
 * (lua_tick.c): each worker thread starts it. 0, or -1 with errno set. */
int lua_tick_thread_start(void);
void lua_tick_thread_stop(void);
/* pt_api.lua_exchange: the exchange whose coroutine runs L, or NULL. */
pt_exchange *lua_running_exchange(struct lua_State *L);

/* Tasks of no request (lua_task.c). A WebSocket message's: on W in
 * generation G, with the connection's REMOTE and request ID (copied). */
int ws_task_start(pt_worker *w, struct gen *g, pt_str_t remote, pt_str_t id,
                  struct lua_State *co, int nargs, int *nres, pt_lua_task_fn done, void *ud);
/* pt_api 1.8: worker_lua, worker_lua_task_resume; see api.h. */
struct lua_State *lua_worker_state(pt_worker *w);
int lua_worker_task_resume(pt_worker *w, struct lua_State *co, int nargs, int *nres,
                           pt_lua_task_fn done, void *ud);
/* W stops: its background tasks still waiting are dropped (DONE never
 * runs); their exchanges and generations are let go. W's thread. */
void lua_worker_tasks_drop(pt_worker *w);

/* Process-wide pieces set up once at start. */
int lua_rt_init(const struct config *cfg, char *err, size_t errlen);
/* The process-wide shared dictionary (after lua_rt_init). */
struct shared_dict *lua_rt_shared(void);
void lua_rt_shutdown(void);

#endif
