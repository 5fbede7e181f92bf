/*
 * service.c - grpc.service and grpc.error in route scripts:
 *
 *   grpc.service("orders.v1.Orders", {
 *     Get = function(req, ctx) return { id = req.id } end,        -- unary
 *     Watch = function(req, ctx) ctx:send({ seq = 1 }) end,         -- server streaming
 *     Upload = function(ctx) for m in ctx:recv() do ... end end,    -- client streaming
 *     Chat = function(ctx) for m in ctx:recv() do ctx:send(m) end end,  -- bidi
 *   }, { jwt = true })
 *   error(grpc.error("NOT_FOUND", "no order 7", { { type_url = ..., value = ... } }))
 *
 * grpc.service checks the names against the contracts this state was
 * loaded with (an unknown service or method is an error naming the
 * script's line) and adds one POST route per method of the service, with
 * the handler "grpc" and the options given (filters as on any route): a
 * method without a Lua function answers UNIMPLEMENTED. The first call also
 * adds the built-in services' routes (reflection, health) when they are on.
 * Each state keeps its functions by number (struct gstate): every worker
 * runs the same scripts, so the numbers agree.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "grpc_priv.h"

#define ERROR_MT "portico.grpc.error"

static int fail(lua_State *L, const char *fmt, ...)
{
	va_list ap;

	luaL_where(L, 2);
	lua_pushliteral(L, "grpc.service: ");
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_concat(L, 3);
	return lua_error(L);
}

/* Adds an entry to S; returns its number (1-based) or 0. */
static unsigned entry_add(struct gstate *s, const struct gentry *e)
{
	if (s->n == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 16;
		struct gentry *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return 0;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *e;
	return s->n;
}

static int kind_of(const struct pb_method *m)
{
	return (m->client_streaming ? 2 : 0) | (m->server_streaming ? 1 : 0);
}

/* Pushes { path, id } onto the list at -1. */
static void list_add(lua_State *L, const char *path, unsigned id)
{
	lua_createtable(L, 2, 0);
	lua_pushstring(L, path);
	lua_rawseti(L, -2, 1);
	lua_pushinteger(L, id);
	lua_rawseti(L, -2, 2);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

/* The built-in services' routes, once per state. */
static void add_builtins(lua_State *L, struct gstate *s)
{
	static const struct {
		const char *path;
		grpc_builtin_fn fn;
		int kind, reflection;
	} b[] = {
		{ "/grpc.health.v1.Health/Check", grpc_health_check, GRPC_UNARY, 0 },
		{ "/grpc.health.v1.Health/Watch", grpc_health_watch, GRPC_SERVER_STREAM, 0 },
		{ "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		  grpc_reflection_call, GRPC_BIDI, 1 },
		{ "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
		  grpc_reflection_call, GRPC_BIDI, 1 },
	};

	lua_getfield(L, LUA_REGISTRYINDEX, "portico.grpc.builtins");
	if (lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	lua_pushboolean(L, 1);
	lua_setfield(L, LUA_REGISTRYINDEX, "portico.grpc.builtins");
	for (unsigned i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		struct gentry e = { b[i].path, LUA_NOREF, NULL, b[i].fn, b[i].kind };
		unsigned id;

		if (b[i].reflection ? !s->conf->reflection : !s->conf->health)
			continue;
		if (!(id = entry_add(s, &e)))
			luaL_error(L, "out of memory");
		list_add(L, b[i].path, id);
	}
}

/* check(name, handlers, opts) -> { { path, id }, ... } [-3, +1, e] */
static int l_check(lua_State *L)
{
	struct gstate *s = grpc_state(L);
	const char *name = luaL_checkstring(L, 1);
	const struct pb_service *svc;

	if (!s || !s->conf)
		return fail(L, "the grpc plugin has no contracts loaded");
	if (!(svc = pb_find_service(s->conf->reg, name)))
		return fail(L, "no service %s in the contracts (plugin \"grpc\" protos and "
		            "descriptors: %d services)", name, (int)pb_service_count(s->conf->reg));
	/* one grpc.service per service: a second one would add the same routes */
	if (lua_getfield(L, LUA_REGISTRYINDEX, "portico.grpc.served") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, LUA_REGISTRYINDEX, "portico.grpc.served");
	}
	if (lua_getfield(L, -1, name) == LUA_TSTRING)
		return fail(L, "%s is already served by the grpc.service at %s (one call per service, "
		            "with all its methods)", name, lua_tostring(L, -1));
	lua_pop(L, 1);
	luaL_where(L, 2);
	lua_pushliteral(L, "");
	lua_concat(L, 2);
	{
		/* "file:line: " -> "file:line" */
		size_t n;
		const char *w = lua_tolstring(L, -1, &n);

		lua_pushlstring(L, w, n >= 2 ? n - 2 : n);
		lua_remove(L, -2);
	}
	lua_setfield(L, -2, name);
	lua_pop(L, 1);
	if (!lua_istable(L, 2))
		return fail(L, "the handlers (argument 2) must be a table of functions by method "
		            "name, not %s", luaL_typename(L, 2));
	if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
		return fail(L, "the options (argument 3) must be a table, not %s", luaL_typename(L, 3));
	/* every key is a method of the service, every value a function */
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		unsigned j;

		if (!k)
			return fail(L, "handlers are keyed by method name, not by %s",
			            luaL_typename(L, -2));
		for (j = 0; j < svc->nmethods; j++)
			if (!strcmp(svc->methods[j].name, k))
				break;
		if (j == svc->nmethods) {
			luaL_Buffer b;

			luaL_buffinit(L, &b);
			for (j = 0; j < svc->nmethods; j++) {
				if (j)
					luaL_addstring(&b, ", ");
				luaL_addstring(&b, svc->methods[j].name);
			}
			luaL_pushresult(&b);
			return fail(L, "%s has no method %s (it has: %s)", name, k, lua_tostring(L, -1));
		}
		if (!lua_isfunction(L, -1))
			return fail(L, "handlers.%s must be a function, not %s", k, luaL_typename(L, -1));
		lua_pop(L, 1);
	}
	lua_newtable(L);
	for (unsigned j = 0; j < svc->nmethods; j++) {
		const struct pb_method *m = &svc->methods[j];
		struct gentry e = { m->path, LUA_NOREF, m, NULL, kind_of(m) };
		unsigned id;

		if (lua_getfield(L, 2, m->name) == LUA_TFUNCTION)
			e.fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		else
			lua_pop(L, 1);
		if (!(id = entry_add(s, &e)))
			return luaL_error(L, "out of memory");
		list_add(L, m->path, id);
	}
	add_builtins(L, s);
	return 1;
}

/* The service part of "/pkg.Service/Method". */
static void service_of(const char *path, const char **name, size_t *len)
{
	const char *slash = strrchr(path, '/');

	*name = path + 1;
	*len = slash && slash > path ? (size_t)(slash - path - 1) : 0;
}

int grpc_state_service_at(const struct gstate *s, unsigned i, const char **name, size_t *len)
{
	unsigned k = 0;

	for (unsigned j = 0; s && j < s->n; j++) {
		const char *n;
		size_t l;
		int seen = 0;

		service_of(s->v[j].path, &n, &l);
		for (unsigned p = 0; p < j && !seen; p++) {
			const char *pn;
			size_t pl;

			service_of(s->v[p].path, &pn, &pl);
			seen = pl == l && !memcmp(pn, n, l);
		}
		if (seen)
			continue;
		if (k++ == i) {
			*name = n;
			*len = l;
			return 1;
		}
	}
	return 0;
}

int grpc_state_serves(const struct gstate *s, const char *name, size_t len)
{
	for (unsigned j = 0; s && j < s->n; j++) {
		const char *n;
		size_t l;

		service_of(s->v[j].path, &n, &l);
		if (l == len && !memcmp(n, name, len))
			return 1;
	}
	return 0;
}

/* ---- grpc.error ----------------------------------------------------------------------- */

static int error_tostring(lua_State *L)
{
	lua_getfield(L, 1, "code");
	lua_getfield(L, 1, "message");
	lua_pushfstring(L, "%s: %s", grpc_code_name((int)lua_tointeger(L, -2)) ?
	                grpc_code_name((int)lua_tointeger(L, -2)) : "UNKNOWN",
	                lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
	return 1;
}

/*
 * The detail on top, a message { ["@type"] = "type.googleapis.com/pkg.Msg",
 * fields... }, encoded with the contracts: replaced by { type_url, value }.
 * Raises naming details[I] when the type is unknown or a field does not fit.
 */
static void detail_encode(lua_State *L, int i)
{
	struct gstate *s = grpc_state(L);
	const char *url = (lua_getfield(L, -1, "@type"), lua_tostring(L, -1));
	const char *slash = strrchr(url, '/');
	const struct pb_msg *m = s && s->conf ? pb_find_msg(s->conf->reg, slash ? slash + 1 : url)
	                         : NULL;
	struct pb_buf b = { 0 };
	char err[256];
	int t;

	if (!m)
		luaL_error(L, "grpc.error: details[%d]: no message type %s in the contracts", i, url);
	/* the fields without "@type" */
	lua_newtable(L);
	t = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, t - 2)) {
		if (lua_type(L, -2) == LUA_TSTRING && !strcmp(lua_tostring(L, -2), "@type")) {
			lua_pop(L, 1);
			continue;
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, t);
	}
	if (pb_encode_lua(L, t, s->conf->reg, m, &b, err, sizeof(err)) != 0) {
		pb_buf_free(&b);
		luaL_error(L, "grpc.error: details[%d] (%s): %s", i, url, err);
	}
	lua_createtable(L, 0, 2);
	lua_pushvalue(L, t - 1);
	lua_setfield(L, -2, "type_url");
	lua_pushlstring(L, b.p ? (const char *)b.p : "", b.len);
	lua_setfield(L, -2, "value");
	pb_buf_free(&b);
	lua_replace(L, t - 2);   /* over the detail */
	lua_settop(L, t - 2);
}

/* grpc.error(code, message [, details]) -> an error value for error() */
static int l_error(lua_State *L)
{
	int code;

	if (lua_type(L, 1) == LUA_TNUMBER) {
		lua_Integer c = luaL_checkinteger(L, 1);

		if (c < 1 || c >= GRPC_NCODES)
			return luaL_argerror(L, 1, "a gRPC status code is 1 to 16 (0 is OK, not an error)");
		code = (int)c;
	} else {
		size_t n;
		const char *s = luaL_checklstring(L, 1, &n);

		if ((code = grpc_code_by_name(s, n)) <= 0)
			return luaL_argerror(L, 1, "a gRPC status code name (\"NOT_FOUND\", ...) or "
			                     "number");
	}
	luaL_optstring(L, 2, "");
	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, code);
	lua_setfield(L, -2, "code");
	lua_pushstring(L, luaL_optstring(L, 2, ""));
	lua_setfield(L, -2, "message");
	if (lua_istable(L, 3)) {
		/* each detail: { type_url = ..., value = bytes } */
		lua_Integer n = (lua_Integer)lua_rawlen(L, 3);

		lua_createtable(L, (int)n, 0);
		for (lua_Integer i = 1; i <= n; i++) {
			int typed = 0;

			lua_rawgeti(L, 3, i);
			if (lua_istable(L, -1)) {
				typed = lua_getfield(L, -1, "@type") == LUA_TSTRING;
				lua_pop(L, 1);
			}
			if (typed) {
				detail_encode(L, (int)i);   /* replaces the table on top */
			} else {
				if (!lua_istable(L, -1) || lua_getfield(L, -1, "type_url") != LUA_TSTRING ||
				    lua_getfield(L, -2, "value") != LUA_TSTRING)
					return luaL_argerror(L, 3, "details is a list of { type_url = \"type."
					                     "googleapis.com/pkg.Msg\", value = <encoded bytes> } "
					                     "or of messages { [\"@type\"] = \"type.googleapis.com/"
					                     "pkg.Msg\", <its fields> }");
				lua_pop(L, 2);
			}
			lua_rawseti(L, -2, i);
		}
		lua_setfield(L, -2, "details");
	}
	luaL_setmetatable(L, ERROR_MT);
	return 1;
}

int grpc_error_is(lua_State *L, int idx);

/* 1 when the value at IDX is a grpc.error value. */
int grpc_error_is(lua_State *L, int idx)
{
	int r = 0;

	if (lua_getmetatable(L, idx)) {
		luaL_getmetatable(L, ERROR_MT);
		r = lua_rawequal(L, -1, -2);
		lua_pop(L, 2);
	}
	return r;
}

/* Lua around check so that route.post names the script's line (route.*
 * skip chunks named "=..."). */
static const char module_src[] =
	"local check, M = ...\n"
	"function M.service(name, handlers, opts)\n"
	"  local list = check(name, handlers, opts)\n"
	"  for _, e in ipairs(list) do\n"
	"    local o = {}\n"
	"    if opts then for k, v in pairs(opts) do o[k] = v end end\n"
	"    o.grpc_method = e[2]\n"
	"    o.stream_body = true\n"
	"    if o.summary == nil then o.summary = 'gRPC method (content-type application/grpc)' end\n"
	"    if o.tags == nil then o.tags = { 'gRPC' } end\n"
	"    route.post(e[1], 'grpc', o)\n"
	"  end\n"
	"end\n";

void grpc_service_module(lua_State *L)
{
	int t = lua_gettop(L);

	if (luaL_newmetatable(L, ERROR_MT)) {
		lua_pushcfunction(L, error_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_pop(L, 1);
	lua_pushcfunction(L, l_error);
	lua_setfield(L, t, "error");
	if (luaL_loadbuffer(L, module_src, sizeof(module_src) - 1, "=grpc") != LUA_OK)
		lua_error(L);
	lua_pushcfunction(L, l_check);
	lua_pushvalue(L, t);
	lua_call(L, 2, 0);
	/* the status codes by name: grpc.NOT_FOUND == 5 */
	lua_createtable(L, 0, GRPC_NCODES);
	for (int i = 0; i < GRPC_NCODES; i++) {
		lua_pushinteger(L, i);
		lua_setfield(L, -2, grpc_code_name(i));
	}
	lua_setfield(L, t, "code");
}
