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
#include "lua_priv.h"
#include "lua_rt.h"
#include "worker.h"

#define LOAD_MAX_INSTRUCTIONS 100000000  /* running the scripts themselves */

static const char K_ROUTES[] = "pt.routes";    /* [{methods, host, path, fn|handler, opts, line, file}] */
static const char K_FILTERS[] = "pt.filters";  /* name -> function */
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
	return 2;
}

static int lstate_require(lua_State *L);

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
}

/* ---- require ------------------------------------------------------------ */

static int load_file_chunk(lua_State *L, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	int rc;
	char name[4096];

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

/* load_file_chunk as a Lua function: (path) -> chunk. [-1, +1, e] */
static int l_load_file(lua_State *L)
{
	load_file_chunk(L, luaL_checkstring(L, 1));
	return 1;
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
	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar)) {
		lua_pushinteger(L, ar.currentline);
		lua_setfield(L, -2, "line");
		lua_pushstring(L, ar.source[0] == '@' ? ar.source + 1 : ar.short_src);
		lua_setfield(L, -2, "file");
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
	lua_setglobal(L, "route");
	lua_register(L, "filter", filter_def);
	lua_register(L, "use", use_filter);
	lua_register(L, "group", group);
}

/* ---- states ------------------------------------------------------------- */

static void load_hook(lua_State *L, lua_Debug *ar)
{
	lua_getinfo(L, "Sl", ar);
	luaL_error(L, "%s:%d: script takes too long to load (more than %d instructions)",
	           ar->short_src, ar->currentline, LOAD_MAX_INSTRUCTIONS);
}

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
	lua_sethook(L, load_hook, LUA_MASKCOUNT, LOAD_MAX_INSTRUCTIONS);
	for (unsigned i = 0; i < lg->nscripts; i++) {
		lua_pushcfunction(L, traceback);
		lua_pushcfunction(L, l_load_file);
		lua_pushstring(L, lg->scripts[i]);
		if (lua_pcall(L, 1, 1, -3) != LUA_OK || lua_pcall(L, 0, 0, -2) != LUA_OK) {
			snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
			lua_state_close(L);
			return NULL;
		}
		lua_pop(L, 1);
	}
	lua_sethook(L, NULL, 0, 0);
	return L;
}

void lua_state_close(lua_State *L)
{
	struct lstate *ls;

	if (!L)
		return;
	ls = lstate_of(L);
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
	lg->nstates = worker_count() ? worker_count() : 1;
	lg->states = arena_calloc(&lg->arena, lg->nstates * sizeof(lua_State *));
	if (collect_scripts(lg, cfg, err, errlen) != 0)
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
