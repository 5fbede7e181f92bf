/*
 * A fixture plugin that drives ABI 1.8 from C, for tests/integration/
 * test_abi18.py: Lua tasks with no exchange, var_dir, run_mode, commands
 * and labelled metrics.
 *
 *   Lua module "abi18"
 *     spawn(key, fn, arg)  from a route handler: posts a job to this worker;
 *                          the job, with no exchange, runs fn(arg) in
 *                          worker_lua(W) through worker_lua_task_resume
 *                          (fn may sleep). Its end is kept under KEY:
 *     result(key)          "ok:<first result>", "err:<message>", or nil
 *                          while it runs.
 *     stats()              "dones=N sync=N pending=N"
 *     hit(i)               adds 1 to the labelled counter I (1..2)
 *   handler "abi18.info"   JSON: var_dir, run_mode at load and now, whether
 *                          the labelled metrics were given.
 *   command "abi18-echo"   prints its arguments, var_dir and run_mode;
 *                          `abi18-echo fail` exits 1, `abi18-echo usage` 2.
 *   option stats_file      at unload, "dones=N dropped=N" written there
 *                          (jobs whose task was still waiting when the
 *                          worker stopped: DONE must never have run).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <portico/portico.h>

#define NRESULTS 64

static const struct pt_api *api;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct { char key[32]; char val[256]; } results[NRESULTS];
static unsigned nresults, dones, syncs, dropped;
static int load_mode = -1;
static char stats_file[1024];
static pt_metric *hits[2], *bad_labels, *gauge_l;

struct job {
	pt_worker *w;
	lua_State *L;              /* the state the function was taken from */
	lua_State *co;
	int fn_ref, co_ref;
	char key[32];
	struct job *next;          /* this worker's jobs in flight (only 1 worker in tests) */
};

static struct job *jobs;

static void result_set(const char *key, const char *prefix, const char *msg)
{
	pthread_mutex_lock(&mu);
	for (unsigned i = 0; i < nresults; i++)
		if (!strcmp(results[i].key, key)) {
			snprintf(results[i].val, sizeof(results[i].val), "%s%s", prefix, msg);
			pthread_mutex_unlock(&mu);
			return;
		}
	if (nresults < NRESULTS) {
		snprintf(results[nresults].key, sizeof(results[nresults].key), "%s", key);
		snprintf(results[nresults].val, sizeof(results[nresults].val), "%s%s", prefix, msg);
		nresults++;
	}
	pthread_mutex_unlock(&mu);
}

static void job_unlink(struct job *j)
{
	for (struct job **p = &jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			return;
		}
}

static void job_end(lua_State *co, int status, int nres, struct job *j)
{
	const char *s = nres > 0 ? lua_tostring(co, -nres) : NULL;

	if (status == LUA_OK)
		result_set(j->key, "ok:", s ? s : "(none)");
	else
		result_set(j->key, "err:", nres > 0 && lua_type(co, -1) == LUA_TSTRING ?
		           lua_tostring(co, -1) : "(no message)");
	lua_settop(co, 0);
	if (lua_getfield(j->L, LUA_REGISTRYINDEX, "abi18.args") == LUA_TTABLE) {
		lua_pushnil(j->L);
		lua_rawseti(j->L, -2, j->fn_ref);
	}
	lua_pop(j->L, 1);
	luaL_unref(j->L, LUA_REGISTRYINDEX, j->co_ref);
	luaL_unref(j->L, LUA_REGISTRYINDEX, j->fn_ref);
	job_unlink(j);
	free(j);
}

static void job_done(lua_State *co, int status, int nres, void *ud)
{
	pthread_mutex_lock(&mu);
	dones++;
	pthread_mutex_unlock(&mu);
	job_end(co, status, nres, ud);
}

/* Posted: runs with no exchange, on the worker's loop. */
static void job_run(void *ud)
{
	struct job *j = ud;
	lua_State *L = api->worker_lua(j->w);
	int nres = 0, st;

	if (L != j->L) {
		/* a reload between spawn and now: the function is of another state */
		result_set(j->key, "err:", L ? "the worker's state changed" : "no worker state");
		if (L)
			luaL_unref(j->L, LUA_REGISTRYINDEX, j->fn_ref);
		free(j);
		return;
	}
	j->co = lua_newthread(L);
	j->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_rawgeti(j->co, LUA_REGISTRYINDEX, j->fn_ref);
	lua_getfield(L, LUA_REGISTRYINDEX, "abi18.args");
	lua_rawgeti(L, -1, j->fn_ref);
	lua_xmove(L, j->co, 1);
	lua_pop(L, 1);
	j->next = jobs;
	jobs = j;
	st = api->worker_lua_task_resume(j->w, j->co, 1, &nres, job_done, j);
	if (st != LUA_YIELD) {
		pthread_mutex_lock(&mu);
		syncs++;
		pthread_mutex_unlock(&mu);
		job_end(j->co, st, nres, j);
	}
}

/* abi18.spawn(key, fn, arg) */
static int l_spawn(lua_State *L)
{
	const char *key = luaL_checkstring(L, 1);
	pt_worker *w = api->lua_worker(L);
	struct job *j;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_settop(L, 3);
	if (!w || !(j = calloc(1, sizeof(*j))))
		return luaL_error(L, "abi18.spawn: no worker or no memory");
	j->w = w;
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	j->L = lua_tothread(L, -1);
	lua_pop(L, 1);
	snprintf(j->key, sizeof(j->key), "%s", key);
	lua_pushvalue(L, 2);
	j->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	/* the argument, under the same number in a side table */
	if (lua_getfield(L, LUA_REGISTRYINDEX, "abi18.args") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, LUA_REGISTRYINDEX, "abi18.args");
	}
	lua_pushvalue(L, 3);
	lua_rawseti(L, -2, j->fn_ref);
	lua_pop(L, 1);
	if (api->post(w, job_run, j) != 0) {
		luaL_unref(L, LUA_REGISTRYINDEX, j->fn_ref);
		free(j);
		return luaL_error(L, "abi18.spawn: post failed");
	}
	return 0;
}

static int l_result(lua_State *L)
{
	const char *key = luaL_checkstring(L, 1);

	pthread_mutex_lock(&mu);
	for (unsigned i = 0; i < nresults; i++)
		if (!strcmp(results[i].key, key)) {
			lua_pushstring(L, results[i].val);
			pthread_mutex_unlock(&mu);
			return 1;
		}
	pthread_mutex_unlock(&mu);
	lua_pushnil(L);
	return 1;
}

static int l_stats(lua_State *L)
{
	unsigned pending = 0;

	for (struct job *j = jobs; j; j = j->next)
		pending++;
	pthread_mutex_lock(&mu);
	lua_pushfstring(L, "dones=%d sync=%d pending=%d", (int)dones, (int)syncs, (int)pending);
	pthread_mutex_unlock(&mu);
	return 1;
}

static int l_hit(lua_State *L)
{
	lua_Integer i = luaL_checkinteger(L, 1);

	if (i >= 1 && i <= 2)
		api->metric_add(hits[i - 1], 1);
	api->metric_set(gauge_l, (double)i);
	return 0;
}

static int open_abi18(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "spawn", l_spawn }, { "result", l_result }, { "stats", l_stats },
		{ "hit", l_hit }, { NULL, NULL },
	};

	luaL_newlib(L, fns);
	return 1;
}

static int h_info(pt_exchange *x, const pt_conf *opts, void *ud)
{
	char b[2048];
	int n;

	(void)opts;
	(void)ud;
	n = snprintf(b, sizeof(b), "{\"var_dir\":\"%s\",\"load_mode\":%d,\"run_mode\":%d,"
	             "\"hits\":[%d,%d],\"bad_labels\":%d,\"gauge_l\":%d}\n", api->var_dir(),
	             load_mode, api->run_mode(), hits[0] != NULL, hits[1] != NULL,
	             bad_labels != NULL, gauge_l != NULL);
	api->exchange_header_set(x, PT_STR("content-type"), PT_STR("application/json"));
	return api->exchange_respond(x, 200, (pt_str_t){ b, (size_t)n });
}

static int echo(pt_plugin_ctx *ctx, int argc, char **argv, void *ud)
{
	(void)ctx;
	(void)ud;
	printf("command: %s\nargs:", argv[0]);
	for (int i = 1; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf("\nvar_dir: %s\nrun_mode: %d\nload_mode: %d\n", api->var_dir(), api->run_mode(),
	       load_mode);
	if (argc > 1 && !strcmp(argv[1], "fail"))
		return 1;
	if (argc > 1 && !strcmp(argv[1], "usage"))
		return 2;
	return 0;
}

static void worker_stop(pt_plugin_ctx *ctx, pt_worker *w)
{
	(void)ctx;
	/* the core dropped the tasks still waiting: their DONE never comes,
	 * and their state may be closed already (an old generation's) */
	for (struct job *j = jobs, *next; j; j = next) {
		next = j->next;
		if (j->w != w)
			continue;
		job_unlink(j);
		free(j);
		dropped++;
	}
}

static void unload(pt_plugin_ctx *ctx)
{
	FILE *f;

	(void)ctx;
	if (!stats_file[0] || !(f = fopen(stats_file, "w")))
		return;
	fprintf(f, "dones=%u dropped=%u\n", dones, dropped);
	fclose(f);
}

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	pt_str_t sf;

	api = a;
	if (!PT_API_HAS(a, metric_gauge_l))
		return PT_ENOSYS;
	load_mode = a->run_mode();
	if (a->conf_str(conf, "stats_file", &sf) == 0 && sf.len < sizeof(stats_file))
		snprintf(stats_file, sizeof(stats_file), "%.*s", (int)sf.len, sf.ptr);
	hits[0] = a->metric_counter_l(ctx, "abi18_hits_total", "Hits by source.", "source=\"a\"");
	hits[1] = a->metric_counter_l(ctx, "abi18_hits_total", "Hits by source.",
	                              "source=\"b\",kind=\"x\\\"y\"");
	bad_labels = a->metric_counter_l(ctx, "abi18_hits_total", "Hits by source.",
	                                 "source=\"unterminated");
	gauge_l = a->metric_gauge_l(ctx, "abi18_level", "A level.", "q=\"1\"");
	if (a->command_register(ctx, "abi18-echo", "print the arguments, var_dir and run_mode",
	                        echo, NULL) != 0 ||
	    a->command_register(ctx, "abi18-echo", "twice", echo, NULL) != PT_EEXIST ||
	    a->command_register(ctx, "Bad_Name", "bad", echo, NULL) != PT_EINVAL)
		return PT_EINVAL;
	return a->lua_module_register(ctx, "abi18", open_abi18) ||
	       a->handler_register(ctx, "abi18.info", h_info, NULL);
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "abi18",
	.version = "1",
	.load = load,
	.worker_stop = worker_stop,
	.unload = unload,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
