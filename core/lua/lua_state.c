/*
 * lua_state.c - Lua states for route scripts: the sandbox, the memory
 * limit, `require`, and running the scripts to collect routes, filters and
 * `use` lists. See lua_rt.h for how generations use them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "conf.h"
#include "log.h"
#include "lua_alloc.h"
#include "lua_json.h"
#include "lua_priv.h"
#include "lua_rt.h"
#include "lua_metrics.h"
#include "worker.h"

#define LOAD_MAX_INSTRUCTIONS LUA_FREE_MAX_STEPS  /* running the scripts themselves */
#define GC_STEPS_PER_KB 256   /* budget a full collection costs per KiB of heap */

static const char K_ROUTES[] = "pt.routes";    /* [{methods, host, path, fn|handler, opts, line, file}] */
static const char K_FILTERS[] = "pt.filters";
static const char K_LIBS[] = "pt.libs";        /* name -> true: the library globals */  /* name -> function */
static const char K_FNAMES[] = "pt.fnames";    /* [name] in definition order */
static const char K_USES[] = "pt.uses";        /* [{name, opts}] */
static const char K_PREFIX[] = "pt.prefix";    /* group() prefix while running */
static const char K_LOADED[] = "pt.loaded";    /* require cache */

struct module {
	char *name;
	pt_lua_open_fn open;
};

static struct module *modules;
static unsigned nmodules;

int lua_module_add(const char *name, pt_lua_open_fn open)
{
	struct module *m;

	if (!name || !*name || !open)
		return PT_EINVAL;
	for (unsigned i = 0; i < nmodules; i++)
		if (!strcmp(modules[i].name, name))
			return PT_EEXIST;
	m = realloc(modules, (nmodules + 1) * sizeof(*m));
	if (!m)
		return PT_ENOMEM;
	modules = m;
	if (!(modules[nmodules].name = strdup(name)))
		return PT_ENOMEM;
	modules[nmodules++].open = open;
	return 0;
}

void lua_modules_clear(void)
{
	for (unsigned i = 0; i < nmodules; i++)
		free(modules[i].name);
	free(modules);
	modules = NULL;
	nmodules = 0;
}

/* ---- the sandbox -------------------------------------------------------- */

/* load(chunk [, name [, mode [, env]]]) with text chunks only. [-?, +?, e] */
static int safe_load(lua_State *L)
{
	int n = lua_gettop(L);

	lua_settop(L, 4);
	lua_pushvalue(L, lua_upvalueindex(1));   /* the real load */
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	lua_pushliteral(L, "t");                 /* never binary chunks */
	if (n >= 4)
		lua_pushvalue(L, 4);
	lua_call(L, n >= 4 ? 4 : 3, 2);
	lua_budget_check(L);   /* a reader function's errors end as nil, msg */
	return 2;
}

/*
 * Everything that catches errors re-raises a spent budget (lua_budget_*):
 * pcall, xpcall, coroutine.resume/wrap/close and load's reader. A loop of
 * them then ends like any other loop.
 */

/* pcall's end and continuation (after a yield): the protected call's STATUS. */
static int pcall_end(lua_State *L, int status, lua_KContext base)
{
	lua_budget_check(L);
	if (status != LUA_OK && status != LUA_YIELD) {
		lua_pushboolean(L, 0);
		lua_pushvalue(L, -2);
		return 2;   /* false, error */
	}
	return lua_gettop(L) - (int)base;   /* true, results */
}

/* pcall(f, ...) [-?, +?, -] */
static int l_pcall(lua_State *L)
{
	int st;

	luaL_checkany(L, 1);
	lua_pushboolean(L, 1);
	lua_insert(L, 1);
	st = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, pcall_end);
	return pcall_end(L, st, 0);
}

/*
 * xpcall's message handler around the script's (upvalue 1), which is not
 * run once the budget is spent: the count hook's error calls it with the
 * hooks off, where a loop in it would never end.
 */
static int xpcall_handler(lua_State *L)
{
	if (lua_budget_killed(L))
		return 1;   /* the error as it is */
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* xpcall(f, msgh, ...) [-?, +?, -] */
static int l_xpcall(lua_State *L)
{
	int n = lua_gettop(L), st;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, xpcall_handler, 1);
	lua_replace(L, 2);
	lua_pushboolean(L, 1);
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2);   /* f, msgh, true, f, args... */
	st = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, pcall_end);
	return pcall_end(L, st, 2);
}

/* After the budget ran out inside the coroutine at IDX: close it (its
 * __close handlers end at their first hook call) and raise. */
static void co_killed(lua_State *L, int idx)
{
	lua_State *co = lua_tothread(L, idx);

	if (!lua_budget_killed(L))
		return;
	if (co && co != L && lua_status(co) != LUA_OK)   /* suspended, or dead by error */
		lua_resetthread(co);
	lua_budget_check(L);
}

/*
 * coroutine.resume and coroutine.close: Lua's (upvalue 1), then co_killed.
 * Portico's own coroutines (a request's, a plugin task's, which a script
 * can get from coroutine.running()) are refused: they belong to their
 * request's waits, maybe another request's.
 */
static int l_co_guarded(lua_State *L)
{
	int n = lua_gettop(L);

	luaL_checktype(L, 1, LUA_TTHREAD);   /* kept at 1 while the call runs */
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_K_THREADS);
	lua_pushvalue(L, 1);
	if (lua_rawget(L, -2) != LUA_TNIL)
		return luaL_error(L, "this coroutine is Portico's (a request's or a plugin task's): "
		                  "only coroutines the script created can be resumed or closed");
	lua_pop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	for (int i = 1; i <= n; i++)
		lua_pushvalue(L, i);
	lua_call(L, n, LUA_MULTRET);
	co_killed(L, 1);
	return lua_gettop(L) - n;
}

/* The function coroutine.wrap returns: Lua's (upvalue 1), then co_killed. */
static int l_wrapped(lua_State *L)
{
	int n = lua_gettop(L);

	lua_getupvalue(L, lua_upvalueindex(1), 1);   /* its coroutine */
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_rotate(L, 1, 2);
	lua_call(L, n, LUA_MULTRET);
	co_killed(L, 1);
	return lua_gettop(L) - 1;
}

/*
 * The base of a coroutine a script creates: its function (upvalue 1) in a
 * protected call, its error raised again. As for Portico's own coroutines
 * (body_request in lua_exchange.c): an error the count hook raises must
 * not reach lua_resume directly, or the thread keeps its hooks off.
 */
static int co_body_end(lua_State *L, int status, lua_KContext ctx)
{
	(void)ctx;
	if (status != LUA_OK && status != LUA_YIELD)
		return lua_error(L);
	return lua_gettop(L);
}

static int co_body(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	return co_body_end(L, lua_pcallk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, 0, co_body_end), 0);
}

/* coroutine.create(f) and coroutine.wrap(f): Lua's (upvalue 1) on co_body. */
static int l_co_make(lua_State *L)
{
	lua_State *co;

	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	lua_pushcclosure(L, co_body, 1);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 1, 1);
	/* counted from its first instruction, whatever its creator's run
	 * does: the CPU tick sets the hook on Portico's coroutines only */
	co = lua_tothread(L, -1);
	if (!co && lua_getupvalue(L, -1, 1)) {   /* wrap's function: its coroutine */
		co = lua_tothread(L, -1);
		lua_pop(L, 1);
	}
	if (co)
		lua_sethook(co, lua_budget_hook, LUA_MASKCOUNT, LUA_HOOK_EVERY);
	return 1;
}

static int l_wrap(lua_State *L)
{
	l_co_make(L);
	lua_pushcclosure(L, l_wrapped, 1);
	return 1;
}

/*
 * setmetatable(t, mt), refusing a metatable with a __gc field (even false:
 * the object is marked for finalization then, and a function put there
 * later would run). Lua runs finalizers with hooks off, so a finalizer
 * would escape the instruction budget. The metatables C code sets on what
 * scripts get are protected (__metatable), so none can gain a __gc either.
 */
static int l_setmetatable(lua_State *L)
{
	int t = lua_type(L, 2);

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: a metatable with a __gc field is refused "
			                  "(finalizers would run outside the instruction budget)");
		lua_pop(L, 1);
	}
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

static int global_set(lua_State *L);
static int library_set(lua_State *L);

/* rawset(t, k, v), except into _G or a library once the scripts have loaded. */
static int l_rawset(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checkany(L, 2);
	luaL_checkany(L, 3);
	if (lstate_of(L)->frozen && lua_getmetatable(L, 1)) {
		lua_CFunction set;

		lua_getfield(L, -1, "__newindex");
		set = lua_tocfunction(L, -1);
		if (set == global_set || set == library_set)
			return luaL_error(L, "rawset: the globals and the libraries are read-only while "
			                  "requests run");
		lua_pop(L, 2);
	}
	lua_settop(L, 3);
	lua_rawset(L, 1);
	return 1;
}

/*
 * collectgarbage(opt): the collector is the worker's, shared by every
 * request, so only what cannot change it for the others: "count",
 * "isrunning", and "collect"/"step", which cost budget by the heap's size.
 */
static int l_collectgarbage(lua_State *L)
{
	const char *opt = luaL_optstring(L, 1, "collect");
	uint64_t kb = (uint64_t)lua_gc(L, LUA_GCCOUNT, 0);

	if (!strcmp(opt, "count")) {
		lua_pushnumber(L, (lua_Number)kb + (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024);
	} else if (!strcmp(opt, "isrunning")) {
		lua_pushboolean(L, lua_gc(L, LUA_GCISRUNNING, 0));
	} else if (!strcmp(opt, "collect")) {
		lua_budget_charge(L, (kb + 1) * GC_STEPS_PER_KB);
		lua_gc(L, LUA_GCCOLLECT, 0);
		lua_pushinteger(L, 0);
	} else if (!strcmp(opt, "step")) {
		lua_budget_charge(L, (kb + 1) * GC_STEPS_PER_KB / 8);
		lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, 0));
	} else {
		return luaL_error(L, "collectgarbage(\"%s\") is not available to route scripts: the "
		                  "collector is shared by all requests of the worker (\"count\", "
		                  "\"isrunning\", \"step\" and \"collect\" are)", opt);
	}
	return 1;
}

/* Sets __metatable on the registry metatable NAME (made if missing), so
 * getmetatable() on the objects that carry it gives them no access. */
static void protect_mt(lua_State *L, const char *name)
{
	luaL_newmetatable(L, name);
	lua_pushstring(L, name);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
}

/* Replaces FIELD of the table on top with FN, Lua's as its upvalue. */
static void wrap_field(lua_State *L, const char *field, lua_CFunction fn)
{
	lua_getfield(L, -1, field);
	lua_pushcclosure(L, fn, 1);
	lua_setfield(L, -2, field);
}

static void open_guards(lua_State *L)
{
	lua_pushglobaltable(L);
	lua_pushcfunction(L, l_pcall);
	lua_setfield(L, -2, "pcall");
	lua_pushcfunction(L, l_xpcall);
	lua_setfield(L, -2, "xpcall");
	lua_pushcfunction(L, l_setmetatable);
	lua_setfield(L, -2, "setmetatable");
	lua_pushcfunction(L, l_rawset);
	lua_setfield(L, -2, "rawset");
	lua_pushcfunction(L, l_collectgarbage);
	lua_setfield(L, -2, "collectgarbage");
	lua_getfield(L, -1, "coroutine");
	wrap_field(L, "resume", l_co_guarded);
	wrap_field(L, "close", l_co_guarded);
	wrap_field(L, "create", l_co_make);
	wrap_field(L, "wrap", l_wrap);
	lua_pop(L, 2);
	/* the string metatable: shared by every string of the state */
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		lua_pushliteral(L, "string");
		lua_setfield(L, -2, "__metatable");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/* __newindex of _G once the scripts have loaded. [-3, +0, e] */
static int global_set(lua_State *L)
{
	const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";

	return luaL_error(L, "assignment to global '%s' while a request runs: globals are "
	                  "read-only once the scripts have loaded (use a local, or req.ctx for "
	                  "what a request's filters and handler share)", k);
}

/* __newindex of a library table (string, table, json, ...) once the
 * scripts have loaded. [-3, +0, e] */
static int library_set(lua_State *L)
{
	int t = lua_type(L, 2);
	const char *k = t == LUA_TSTRING || t == LUA_TNUMBER ? lua_tostring(L, 2) : "?";

	return luaL_error(L, "assignment to '%s.%s' while a request runs: the libraries are "
	                  "read-only once the scripts have loaded", lua_tostring(L, lua_upvalueindex(1)),
	                  k);
}

/* Notes which globals are libraries (tables the runtime put there before
 * any script ran): globals_freeze makes them read-only. */
static void libraries_note(lua_State *L)
{
	lua_newtable(L);
	lua_pushglobaltable(L);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		if (lua_type(L, -1) == LUA_TTABLE && lua_type(L, -2) == LUA_TSTRING &&
		    strcmp(lua_tostring(L, -2), "_G")) {
			lua_pushvalue(L, -2);
			lua_pushboolean(L, 1);
			lua_rawset(L, -6);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	lua_setfield(L, LUA_REGISTRYINDEX, K_LIBS);
}

/*
 * The library table on top is replaced by an empty one that reads through
 * to it and refuses assignments (what the scripts added while loading, such
 * as a string.trim, stays readable). `pairs` on it sees nothing. The string
 * metatable's __index keeps the real table: s:find() costs nothing more.
 * NAME is at index KEY. [-1, +1, m]
 */
static void library_freeze(lua_State *L, int key)
{
	lua_newtable(L);
	lua_createtable(L, 0, 3);
	lua_rotate(L, -3, -1);
	lua_setfield(L, -2, "__index");
	lua_pushvalue(L, key);
	lua_pushcclosure(L, library_set, 1);
	lua_setfield(L, -2, "__newindex");
	lua_pushvalue(L, key);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
}

/*
 * After the scripts have loaded: the globals move to a table _G reads fall
 * through to (__index), _G itself stays empty, and any assignment to it
 * raises with the script's line; the libraries become read-only. Requests
 * of a worker run interleaved in one state, so a global one of them sets
 * (or a library function it replaces) would be seen by the others.
 */
static void set_lazy_modules(lua_State *L);

static void globals_freeze(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, K_LIBS);
	lua_pushglobaltable(L);
	lua_newtable(L);   /* the globals, behind _G */
	lua_pushnil(L);
	while (lua_next(L, -3)) {   /* libs, G, hidden, key, value */
		if (lua_type(L, -1) == LUA_TTABLE) {
			int lib;

			lua_pushvalue(L, -2);
			lib = lua_rawget(L, -6) == LUA_TBOOLEAN;
			lua_pop(L, 1);
			if (lib)
				library_freeze(L, lua_gettop(L) - 1);
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -4);
	}
	set_lazy_modules(L);   /* behind the globals, as while loading */
	lua_pushnil(L);
	while (lua_next(L, -2)) {   /* clearing fields while traversing is allowed */
		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_pushnil(L);
		lua_rawset(L, -5);
	}
	lua_createtable(L, 0, 3);
	lua_insert(L, -2);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, global_set);
	lua_setfield(L, -2, "__newindex");
	lua_pushliteral(L, "the globals");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_pop(L, 2);
	lstate_of(L)->frozen = 1;
}

static int lstate_require(lua_State *L);

/*
 * __index behind the globals: a plugin's Lua module by its own name
 * (`sse.endpoint(...)`, `graphql.resolvers{...}`), opened on first use as
 * require would (the same table). A global of that name wins. [-0, +1, e]
 */
static int lazy_module(lua_State *L)
{
	const char *name = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;

	for (unsigned i = 0; name && i < nmodules; i++)
		if (!strcmp(modules[i].name, name)) {
			lua_pushcfunction(L, lstate_require);
			lua_pushvalue(L, 2);
			lua_call(L, 1, 1);
			return 1;
		}
	return 0;
}

/* Gives the table on top a metatable whose __index is lazy_module. */
static void set_lazy_modules(lua_State *L)
{
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, lazy_module);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
}

static void open_sandbox(lua_State *L)
{
	static const char *const drop_base[] = { "dofile", "loadfile", NULL };
	static const char *const keep_os[] = { "time", "clock", "date", "difftime", NULL };

	luaL_requiref(L, "_G", luaopen_base, 1);
	lua_pop(L, 1);
	luaL_requiref(L, "string", luaopen_string, 1);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	lua_pattern_open(L, lua_budget_charge);   /* find/match/gmatch/gsub count their steps */
	lua_pop(L, 1);
	luaL_requiref(L, "table", luaopen_table, 1);
	lua_pop(L, 1);
	luaL_requiref(L, "math", luaopen_math, 1);
	lua_pop(L, 1);
	luaL_requiref(L, "utf8", luaopen_utf8, 1);
	lua_pop(L, 1);
	luaL_requiref(L, "coroutine", luaopen_coroutine, 1);
	lua_pop(L, 1);
	/* os: only the clock and calendar functions */
	luaopen_os(L);
	lua_newtable(L);
	for (int i = 0; keep_os[i]; i++) {
		lua_getfield(L, -2, keep_os[i]);
		lua_setfield(L, -2, keep_os[i]);
	}
	lua_setglobal(L, "os");
	lua_pop(L, 1);
	for (int i = 0; drop_base[i]; i++) {
		lua_pushnil(L);
		lua_setglobal(L, drop_base[i]);
	}
	lua_getglobal(L, "load");
	lua_pushcclosure(L, safe_load, 1);
	lua_setglobal(L, "load");
	lua_pushcfunction(L, lstate_require);
	lua_setglobal(L, "require");
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, K_LOADED);
	open_guards(L);
	lua_pushglobaltable(L);
	set_lazy_modules(L);
	lua_pop(L, 1);
}

/* ---- require ------------------------------------------------------------ */

static int load_file_chunk(lua_State *L, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	int rc;
	char name[4096 + 2];   /* "@" and a path of up to 4095 bytes */

	if (!f)
		return luaL_error(L, "cannot open %s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    n > (16 << 20)) {
		fclose(f);
		return luaL_error(L, "cannot read %s (or larger than 16 MiB)", path);
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return luaL_error(L, "cannot read %s", path);
	}
	fclose(f);
	snprintf(name, sizeof(name), "@%s", path);
	rc = luaL_loadbufferx(L, buf, (size_t)n, name, "t");
	free(buf);
	if (rc != LUA_OK)
		return lua_error(L);
	return 0;
}

/* Script I of the state's generation as a chunk: (i) -> chunk. [-1, +1, e] */
static int l_load_script(lua_State *L)
{
	struct lua_gen *lg = lstate_of(L)->lg;
	unsigned i = (unsigned)luaL_checkinteger(L, 1);
	char name[4096];

	snprintf(name, sizeof(name), "@%s", lg->scripts[i]);
	if (luaL_loadbufferx(L, lg->texts[i], lg->text_lens[i], name, "t") != LUA_OK)
		return lua_error(L);
	return 1;
}

/* Reads every script of LG into its arena (at most 16 MiB each). */
static int read_scripts(struct lua_gen *lg, char *err, size_t errlen)
{
	lg->texts = arena_calloc(&lg->arena, (lg->nscripts + 1) * sizeof(char *));
	lg->text_lens = arena_calloc(&lg->arena, (lg->nscripts + 1) * sizeof(size_t));
	if (!lg->texts || !lg->text_lens) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < lg->nscripts; i++) {
		FILE *f = fopen(lg->scripts[i], "rb");
		long n = -1;
		char *buf = NULL;

		if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= (16 << 20) &&
		    fseek(f, 0, SEEK_SET) == 0 && (buf = arena_alloc(&lg->arena, (size_t)n + 1)) &&
		    fread(buf, 1, (size_t)n, f) == (size_t)n) {
			fclose(f);
			lg->texts[i] = buf;
			lg->text_lens[i] = (size_t)n;
			continue;
		}
		snprintf(err, errlen, "routes %s: %s", lg->scripts[i],
		         !f ? strerror(errno) : n > (16 << 20) ? "larger than 16 MiB" : "cannot read it");
		if (f)
			fclose(f);
		return -1;
	}
	return 0;
}

/* require(name): cache, built-in and plugin modules, then lua.path files. */
static int lstate_require(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	struct lstate *ls = lstate_of(L);
	char path[4096], file[512];

	lua_getfield(L, LUA_REGISTRYINDEX, K_LOADED);
	if (lua_getfield(L, -1, name) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	for (unsigned i = 0; i < nmodules; i++) {
		if (!strcmp(modules[i].name, name)) {
			lua_pushcfunction(L, (lua_CFunction)modules[i].open);
			lua_call(L, 0, 1);
			goto cache;
		}
	}
	if (lua_builtin_module(L, name))
		goto cache;
	/* "a.b" -> a/b.lua, no way out of the folder */
	if (strlen(name) >= sizeof(file) - 5 || strstr(name, "..") || strchr(name, '/'))
		return luaL_error(L, "module '%s' not found (bad name)", name);
	snprintf(file, sizeof(file), "%s.lua", name);
	for (char *p = file; *p && p < file + strlen(name); p++)
		if (*p == '.')
			*p = '/';
	for (unsigned i = 0; ls && i < ls->set->npath; i++) {
		snprintf(path, sizeof(path), "%s/%s", ls->set->path[i], file);
		if (access(path, R_OK) == 0) {
			load_file_chunk(L, path);
			lua_pushstring(L, name);
			lua_call(L, 1, 1);
			goto cache;
		}
	}
	return luaL_error(L, "module '%s' not found (searched lua.path and plugin modules)", name);
cache:
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, name);
	return 1;
}

/* ---- the route API ------------------------------------------------------ */

static const char *const method_names[] = { "get", "head", "post", "put", "delete", "patch",
                                            "options", "connect", "trace", NULL };

static void push_prefixed(lua_State *L, const char *path)
{
	lua_getfield(L, LUA_REGISTRYINDEX, K_PREFIX);
	if (lua_isstring(L, -1)) {
		lua_pushstring(L, path);
		lua_concat(L, 2);
	} else {
		lua_pop(L, 1);
		lua_pushstring(L, path);
	}
}

/* route.<method>(path, handler [, opts]) [-3, +0, e] */
static int route_add(lua_State *L)
{
	unsigned methods = (unsigned)lua_tointeger(L, lua_upvalueindex(1));
	const char *path = luaL_checkstring(L, 1);
	lua_Debug ar;
	int t;

	lua_settop(L, 3);   /* absent opts: nil at 3, not whatever is pushed next */
	if (path[0] != '/')
		return luaL_argerror(L, 1, "a route path starts with '/'");
	t = lua_type(L, 2);
	if (t != LUA_TFUNCTION && t != LUA_TSTRING)
		return luaL_argerror(L, 2, "a handler is a function or the name of a plugin handler");
	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	lua_getfield(L, LUA_REGISTRYINDEX, K_ROUTES);
	lua_createtable(L, 0, 8);
	lua_pushinteger(L, methods);
	lua_setfield(L, -2, "methods");
	push_prefixed(L, path);
	lua_setfield(L, -2, "path");
	lua_pushvalue(L, 2);
	lua_setfield(L, -2, t == LUA_TFUNCTION ? "fn" : "handler");
	if (lua_istable(L, 3)) {
		lua_pushvalue(L, 3);
		lua_setfield(L, -2, "opts");
		if (lua_getfield(L, 3, "host") == LUA_TSTRING)
			lua_setfield(L, -2, "host");
		else
			lua_pop(L, 1);
	}
	/* the script's line: past C functions and plugin modules' own chunks
	 * ("=name", e.g. sse.endpoint calling route.get) */
	for (int level = 1; lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar); level++) {
		if (level < 8 && (ar.what[0] == 'C' || ar.source[0] == '='))
			continue;
		lua_pushinteger(L, ar.currentline);
		lua_setfield(L, -2, "line");
		lua_pushstring(L, ar.source[0] == '@' ? ar.source + 1 : ar.short_src);
		lua_setfield(L, -2, "file");
		break;
	}
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	return 0;
}

/* filter(name, fn): a Lua filter routes may use by name. */
static int filter_def(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_getfield(L, LUA_REGISTRYINDEX, K_FILTERS);
	if (lua_getfield(L, -1, name) != LUA_TNIL)
		return luaL_error(L, "filter '%s' is defined twice", name);
	lua_pop(L, 1);
	lua_pushvalue(L, 2);
	lua_setfield(L, -2, name);
	lua_getfield(L, LUA_REGISTRYINDEX, K_FNAMES);
	lua_pushvalue(L, 1);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	return 0;
}

/* use(name [, opts]): apply a filter to every route. */
static int use_filter(lua_State *L)
{
	luaL_checkstring(L, 1);
	lua_settop(L, 2);
	if (!lua_isnil(L, 2) && !lua_istable(L, 2) && !lua_isstring(L, 2))
		return luaL_argerror(L, 2, "filter options are a table or a string");
	lua_getfield(L, LUA_REGISTRYINDEX, K_USES);
	lua_createtable(L, 0, 2);
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "name");
	lua_pushvalue(L, 2);
	lua_setfield(L, -2, "opts");
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	return 0;
}

/* group(prefix, fn): routes declared inside fn get the prefix. */
static int group(lua_State *L)
{
	luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_getfield(L, LUA_REGISTRYINDEX, K_PREFIX);   /* old, for nesting */
	push_prefixed(L, lua_tostring(L, 1));
	lua_setfield(L, LUA_REGISTRYINDEX, K_PREFIX);
	lua_pushvalue(L, 2);
	lua_call(L, 0, 0);
	lua_setfield(L, LUA_REGISTRYINDEX, K_PREFIX);
	return 0;
}

/*
 * __index of the route table: a plugin's module may add route.<its name>
 * (the grpc plugin's route.grpc); a script can use it before it names the
 * module, so reading route.<name> opens module <name> first. [-0, +1, e]
 */
static int route_lazy(lua_State *L)
{
	const char *name = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;

	for (unsigned i = 0; name && i < nmodules; i++)
		if (!strcmp(modules[i].name, name)) {
			lua_pushcfunction(L, lstate_require);
			lua_pushvalue(L, 2);
			lua_call(L, 1, 0);
			lua_pushvalue(L, 2);
			lua_rawget(L, 1);
			return 1;
		}
	return 0;
}

static void open_route_api(lua_State *L)
{
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, K_ROUTES);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, K_FILTERS);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, K_FNAMES);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, K_USES);
	lua_newtable(L);
	for (int i = 0; method_names[i]; i++) {
		lua_pushinteger(L, 1 << i);
		lua_pushcclosure(L, route_add, 1);
		lua_setfield(L, -2, method_names[i]);
	}
	lua_pushinteger(L, PT_METHOD_ANY);
	lua_pushcclosure(L, route_add, 1);
	lua_setfield(L, -2, "any");
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, route_lazy);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_setglobal(L, "route");
	lua_register(L, "filter", filter_def);
	lua_register(L, "use", use_filter);
	lua_register(L, "group", group);
}

/* ---- states ------------------------------------------------------------- */

static int traceback(lua_State *L)
{
	luaL_traceback(L, L, lua_tostring(L, 1), 1);
	return 1;
}

/*
 * A new sandboxed state with every script of LG run in it. NULL with ERR
 * (the script error with file:line and a traceback).
 */
static lua_State *state_new(struct lua_gen *lg, pt_worker *w, char *err, size_t errlen)
{
	struct lstate *ls = calloc(1, sizeof(*ls));
	lua_State *L;

	if (!ls) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ls->mem.limit = lg->set.max_memory;
	ls->set = &lg->set;
	ls->lg = lg;
	ls->w = w;
	L = lua_newstate(lua_mem_alloc, &ls->mem);
	if (!L) {
		free(ls);
		snprintf(err, errlen, "cannot create a Lua state");
		return NULL;
	}
	*(struct lstate **)lua_getextraspace(L) = ls;
	ls->L = L;
	open_sandbox(L);
	open_route_api(L);
	lua_open_globals(L);
	lua_exchange_open(L);
	lua_proxy_open(L);
	protect_mt(L, LUA_JSON_ARRAY_MT);
	protect_mt(L, LUA_JSON_OBJECT_MT);
	libraries_note(L);
	/* every thread made from here on inherits the hook */
	ls->outside.limit = LOAD_MAX_INSTRUCTIONS;
	lua_sethook(L, lua_budget_hook, LUA_MASKCOUNT, LUA_HOOK_EVERY);
	for (unsigned i = 0; i < lg->nscripts; i++) {
		lua_pushcfunction(L, traceback);
		lua_pushcfunction(L, l_load_script);
		lua_pushinteger(L, i);
		if (lua_pcall(L, 1, 1, -3) != LUA_OK || lua_pcall(L, 0, 0, -2) != LUA_OK) {
			snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
			lua_state_close(L);
			return NULL;
		}
		lua_pop(L, 1);
	}
	/* Lua a plugin calls outside any request (a GraphQL __resolveType)
	 * gets a request's budget, renewed when a request next starts */
	ls->outside = (struct lbudget){ .limit = lg->set.max_instructions };
	globals_freeze(L);
	if (w)
		lua_metrics_add_state(w->id, &ls->mem);
	return L;
}

void lua_state_close(lua_State *L)
{
	struct lstate *ls;

	if (!L)
		return;
	ls = lstate_of(L);
	if (ls->w)
		lua_metrics_remove_state(&ls->mem);
	lua_close(L);
	lua_mem_release(&ls->mem);
	free(ls);
}

static int collect_scripts(struct lua_gen *lg, const struct config *cfg, char *err, size_t errlen)
{
	unsigned cap = 16;

	lg->scripts = arena_calloc(&lg->arena, cap * sizeof(char *));
	for (unsigned i = 0; i < cfg->nroute_scripts; i++) {
		const char *p = cfg->route_scripts[i];
		struct stat st;
		struct dirent **ents;
		int n;

		if (stat(p, &st) != 0) {
			snprintf(err, errlen, "routes %s: %s", p, strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			n = -1;   /* one file: the loop below runs once, for j = -1 */
			ents = NULL;
		} else if ((n = scandir(p, &ents, NULL, alphasort)) < 0) {
			snprintf(err, errlen, "routes %s: %s", p, strerror(errno));
			return -1;
		}
		for (int j = n < 0 ? -1 : 0; j < (n < 0 ? 0 : n); j++) {
			const char *file = p;
			char buf[4096];

			if (j >= 0) {
				size_t len = strlen(ents[j]->d_name);

				if (len < 5 || strcmp(ents[j]->d_name + len - 4, ".lua") != 0 ||
				    ents[j]->d_name[0] == '.') {
					free(ents[j]);
					continue;
				}
				snprintf(buf, sizeof(buf), "%s/%s", p, ents[j]->d_name);
				free(ents[j]);
				file = buf;
			}
			if (lg->nscripts + 1 >= cap) {
				const char **more = arena_calloc(&lg->arena, cap * 2 * sizeof(char *));

				if (!more)
					return -1;
				memcpy(more, lg->scripts, lg->nscripts * sizeof(char *));
				lg->scripts = more;
				cap *= 2;
			}
			lg->scripts[lg->nscripts++] = arena_strdup(&lg->arena, file);
		}
		if (n >= 0)
			free(ents);
	}
	return 0;
}

/* Reads the routes, filters and uses the template state collected. */
static int collect_routes(struct lua_gen *lg, lua_State *L, char *err, size_t errlen)
{
	size_t n;
	char why[512];

	lua_getfield(L, LUA_REGISTRYINDEX, K_ROUTES);
	n = lua_rawlen(L, -1);
	lg->routes = arena_calloc(&lg->arena, (n + 1) * sizeof(*lg->routes));
	for (size_t i = 1; i <= n; i++) {
		struct lua_route *r = &lg->routes[lg->nroutes];

		lua_rawgeti(L, -1, (lua_Integer)i);
		lua_getfield(L, -1, "methods");
		r->methods = (unsigned)lua_tointeger(L, -1);
		lua_getfield(L, -2, "path");
		r->path = arena_strdup(&lg->arena, lua_tostring(L, -1));
		lua_getfield(L, -3, "host");
		r->host = lua_isstring(L, -1) ? arena_strdup(&lg->arena, lua_tostring(L, -1)) : NULL;
		lua_getfield(L, -4, "handler");
		r->handler = lua_isstring(L, -1) ? arena_strdup(&lg->arena, lua_tostring(L, -1)) : NULL;
		r->fn = r->handler ? 0 : (int)i;
		lua_getfield(L, -5, "line");
		r->line = (int)lua_tointeger(L, -1);
		lua_getfield(L, -6, "file");
		r->file = arena_strdup(&lg->arena, lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
		lua_getfield(L, -7, "opts");
		lua_getfield(L, -8, "fn");
		if (!r->handler && lua_proxy_route_opts(L, -1, -2)) {
			/* just proxy(...): the "proxy" handler, no Lua per request */
			r->handler = "proxy";
			r->fn = 0;
			lua_replace(L, -3);   /* its options stand for the route's */
		}
		lua_pop(L, 1);
		r->opts = lua_istable(L, -1) ? conf_from_lua(L, -1, &lg->arena, r->file, r->line, why,
		                                              sizeof(why)) : conf_empty();
		if (!r->opts) {
			snprintf(err, errlen, "%s:%d: route %s: %s", r->file, r->line, r->path, why);
			lua_pop(L, 9);
			return -1;
		}
		lua_pop(L, 8);
		lg->nroutes++;
	}
	lua_pop(L, 1);

	lua_getfield(L, LUA_REGISTRYINDEX, K_FNAMES);
	n = lua_rawlen(L, -1);
	lg->filters = arena_calloc(&lg->arena, (n + 1) * sizeof(char *));
	for (size_t i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i);
		lg->filters[lg->nfilters++] = arena_strdup(&lg->arena, lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	lua_pop(L, 1);

	lua_getfield(L, LUA_REGISTRYINDEX, K_USES);
	n = lua_rawlen(L, -1);
	lg->uses = arena_calloc(&lg->arena, (n + 1) * sizeof(*lg->uses));
	for (size_t i = 1; i <= n; i++) {
		struct lua_use *u = &lg->uses[lg->nuses++];

		lua_rawgeti(L, -1, (lua_Integer)i);
		lua_getfield(L, -1, "name");
		u->name = arena_strdup(&lg->arena, lua_tostring(L, -1));
		lua_getfield(L, -2, "opts");
		u->opts = lua_isnil(L, -1) ? conf_empty() :
		          conf_from_lua(L, -1, &lg->arena, "use", 0, why, sizeof(why));
		lua_pop(L, 3);
		if (!u->opts) {
			snprintf(err, errlen, "use(\"%s\"): %s", u->name, why);
			return -1;
		}
	}
	lua_pop(L, 1);
	return 0;
}

struct lua_gen *lua_gen_new(const struct config *cfg, char *err, size_t errlen)
{
	struct lua_gen *lg = calloc(1, sizeof(*lg));
	lua_State *L;

	if (!lg) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	arena_init(&lg->arena, 8192);
	lg->cfg = cfg;
	lg->set.max_instructions = cfg->lua.max_instructions;
	lg->set.max_memory = cfg->lua.max_memory;
	lg->set.npath = cfg->lua.npath;
	lg->set.path = arena_calloc(&lg->arena, (cfg->lua.npath + 1) * sizeof(char *));
	for (unsigned i = 0; i < cfg->lua.npath; i++)
		lg->set.path[i] = arena_strdup(&lg->arena, cfg->lua.path[i]);
	lg->nstates = worker_slots() ? worker_slots() : 1;   /* every id a reload may start */
	lg->states = arena_calloc(&lg->arena, lg->nstates * sizeof(lua_State *));
	if (collect_scripts(lg, cfg, err, errlen) != 0 || read_scripts(lg, err, errlen) != 0)
		goto fail;
	if (lg->nscripts == 0)
		return lg;
	L = state_new(lg, NULL, err, errlen);
	if (!L)
		goto fail;
	if (collect_routes(lg, L, err, errlen) != 0) {
		lua_state_close(L);
		goto fail;
	}
	lua_state_close(L);
	return lg;
fail:
	lua_gen_free(lg);
	return NULL;
}

void lua_gen_free(struct lua_gen *lg)
{
	if (!lg)
		return;
	for (unsigned i = 0; lg->states && i < lg->nstates; i++)
		lua_state_close(lg->states[i]);
	arena_close(&lg->arena);
	free(lg);
}

lua_State *lua_gen_state(struct lua_gen *lg, pt_worker *w, char *err, size_t errlen)
{
	lua_State *L;
	size_t n;

	if (w->id < lg->nstates && lg->states[w->id])
		return lg->states[w->id];
	if (w->id >= lg->nstates) {
		snprintf(err, errlen, "worker %u has no Lua state slot", w->id);
		return NULL;
	}
	L = state_new(lg, w, err, errlen);
	if (!L)
		return NULL;
	/* the route functions, by the index the template state gave them */
	lua_getfield(L, LUA_REGISTRYINDEX, K_ROUTES);
	n = lua_rawlen(L, -1);
	if (n != lg->nroutes) {
		snprintf(err, errlen, "the route scripts declared %zu routes on worker %u but %u at "
		         "load: routes must not depend on run-time state", n, w->id, lg->nroutes);
		lua_state_close(L);
		return NULL;
	}
	lua_createtable(L, (int)n, 0);
	for (size_t i = 1; i <= n; i++) {
		lua_rawgeti(L, -2, (lua_Integer)i);
		lua_getfield(L, -1, "fn");
		lua_rawseti(L, -3, (lua_Integer)i);
		lua_pop(L, 1);
	}
	lua_setfield(L, LUA_REGISTRYINDEX, LUA_K_FNS);
	lua_pop(L, 1);
	lg->states[w->id] = L;
	return L;
}

/* Pushes the filter function NAME of L, or nil. [-0, +1, -] */
int lua_push_filter(lua_State *L, const char *name)
{
	lua_getfield(L, LUA_REGISTRYINDEX, K_FILTERS);
	lua_getfield(L, -1, name);
	lua_remove(L, -2);
	return lua_isfunction(L, -1);
}
