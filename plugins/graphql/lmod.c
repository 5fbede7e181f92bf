/*
 * lmod.c - the `graphql` Lua module of route scripts, and the plugin's
 * other Lua helpers (gqlp_lua_*). The module:
 *
 *   local graphql = require "graphql"
 *   graphql.resolvers {
 *     Query = { user = function(parent, args, ctx, info) ... end },
 *     User  = { posts = graphql.batch(function(parents, args, ctx, info)
 *                 return { posts_of_parent1, posts_of_parent2, ... } end) },
 *     Node  = { __resolveType = function(value, ctx, typename) return "User" end },
 *   }
 *   graphql.context(function(ctx) ctx.user = ... end)   -- per request, may wait
 *   graphql.on_init(function(payload, ctx) return true end)  -- WebSocket
 *                                 -- connection_init: true, a ctx table, or refuse
 *   local n = graphql.publish("posts.ada", post)  -- to subscriptions (hub)
 *
 * The tables live in the registry of the state that ran the scripts
 * (K_RESOLVERS, K_CONTEXT), where the executor finds them. Type and field
 * names are checked against the plugin's schema when one is loaded: a typo
 * refuses the scripts with file:line.
 */
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "exec_priv.h"
#include "gqlp.h"

#define K_RESOLVERS "graphql.resolvers"
#define K_BATCH_MT "graphql.batch"
#define K_CONTEXT "graphql.context"
#define K_INIT "graphql.on_init"

/* graphql.batch(fn): marks a resolver that gets every parent of a level. */
static int l_batch(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_createtable(L, 1, 0);
	lua_pushvalue(L, 1);
	lua_rawseti(L, -2, 1);
	luaL_setmetatable(L, K_BATCH_MT);
	return 1;
}

static int is_batch(lua_State *L, int idx)
{
	int r = 0;

	if (lua_getmetatable(L, idx)) {
		luaL_getmetatable(L, K_BATCH_MT);
		r = lua_rawequal(L, -1, -2);
		lua_pop(L, 2);
	}
	return r;
}

/* Checks TYPE.FIELD against the schema: NULL, or why not (pushed on L). */
static const char *check_name(lua_State *L, const struct gql_schema *s, const char *type,
                              const char *field)
{
	const struct gql_stype *t;

	if (!s)
		return NULL;
	if (!(t = gql_schema_type(s, type)) || t->builtin)
		return lua_pushfstring(L, "graphql.resolvers: the schema has no type %s", type);
	if (!field)
		return NULL;
	if (!strcmp(field, "__resolveType")) {
		if (t->kind != GQL_INTERFACE && t->kind != GQL_UNION)
			return lua_pushfstring(L, "graphql.resolvers: __resolveType is for interfaces "
			                       "and unions, and %s is neither", type);
		return NULL;
	}
	if (t->kind != GQL_OBJECT && t->kind != GQL_INTERFACE)
		return lua_pushfstring(L, "graphql.resolvers: %s is not an object type: only object "
		                       "fields have resolvers", type);
	if (!gql_type_field(t, field))
		return lua_pushfstring(L, "graphql.resolvers: the schema has no field %s.%s", type,
		                       field);
	return NULL;
}

/* Merges T (at index 1) into the registry table at index 2; NULL or why not. */
static const char *merge(lua_State *L, const struct gql_schema *s)
{
	const char *why;

	lua_pushnil(L);
	while (lua_next(L, 1)) {
		const char *type;

		if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TTABLE)
			return lua_pushliteral(L, "graphql.resolvers: expected { TypeName = { field = "
			                       "function, ... } }");
		type = lua_tostring(L, -2);
		if ((why = check_name(L, s, type, NULL)))
			return why;
		lua_pushvalue(L, -2);
		if (lua_rawget(L, 2) != LUA_TTABLE) {   /* registry[type] */
			lua_pop(L, 1);
			lua_newtable(L);
			lua_pushvalue(L, -3);
			lua_pushvalue(L, -2);
			lua_rawset(L, 2);
		}
		lua_pushnil(L);
		while (lua_next(L, -3)) {
			const char *field;

			if (lua_type(L, -2) != LUA_TSTRING ||
			    (!lua_isfunction(L, -1) && !(lua_istable(L, -1) && is_batch(L, -1))))
				return lua_pushfstring(L, "graphql.resolvers: %s's resolvers must be "
				                       "functions or graphql.batch(function)", type);
			field = lua_tostring(L, -2);
			if ((why = check_name(L, s, type, field)))
				return why;
			if (!strcmp(field, "__resolveType") && !lua_isfunction(L, -1))
				return lua_pushfstring(L, "graphql.resolvers: %s.__resolveType is a "
				                       "function", type);
			lua_pushvalue(L, -2);
			lua_pushvalue(L, -2);
			lua_rawset(L, -5);
			lua_pop(L, 1);
		}
		lua_pop(L, 2);
	}
	return NULL;
}

/* graphql.resolvers{ Type = { field = fn | graphql.batch(fn) } }: merged in. */
static int l_resolvers(lua_State *L)
{
	struct gqlp_conf *c;
	const char *why;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	if (lua_getfield(L, LUA_REGISTRYINDEX, K_RESOLVERS) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, LUA_REGISTRYINDEX, K_RESOLVERS);
	}
	c = gqlp_conf_get();   /* held across no Lua error: merge only pushes */
	why = merge(L, c ? c->schema : NULL);
	gqlp_conf_unref(c);
	if (why)
		return luaL_error(L, "%s", why);
	return 0;
}

/* graphql.context(fn): fn(ctx) runs before each operation; it may wait. */
static int l_context(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_pushvalue(L, 1);
	lua_setfield(L, LUA_REGISTRYINDEX, K_CONTEXT);
	return 0;
}

/*
 * graphql.on_init(fn): fn(payload, ctx) runs for a WebSocket client's
 * connection_init (ws.c) and may wait; it returns true or a ctx table
 * (and maybe the ack's payload), or false/nil [, why] to refuse. nil
 * removes it.
 */
static int l_on_init(lua_State *L)
{
	if (!lua_isnil(L, 1))
		luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	lua_setfield(L, LUA_REGISTRYINDEX, K_INIT);
	return 0;
}

/*
 * graphql.publish(channel, value) -> subscribers: VALUE as JSON text on the
 * hub's CHANNEL (a string is taken as JSON text already, e.g. from
 * json.encode). Returns how many subscriptions (of any plugin) took it.
 */
static int l_publish(lua_State *L)
{
	size_t clen;
	const char *ch = luaL_checklstring(L, 1, &clen);
	struct jbuf b = { 0 };
	pt_str_t msg;
	int n;

	luaL_checkany(L, 2);
	if (lua_type(L, 2) == LUA_TSTRING) {
		msg.ptr = lua_tolstring(L, 2, &msg.len);
	} else {
		if (jb_lua(&b, L, 2, 0) != 0 || b.oom) {
			free(b.p);
			return luaL_error(L, "graphql.publish: the value cannot be JSON (a function, "
			                  "a cycle, or too deep)");
		}
		msg = (pt_str_t){ b.p, b.n };
	}
	n = gqlp_api->hub_publish((pt_str_t){ ch, clen }, msg);
	free(b.p);
	if (n < 0)
		return luaL_error(L, "graphql.publish: %s", gqlp_api->strerror(n));
	lua_pushinteger(L, n);
	return 1;
}

int gqlp_lua_open(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "resolvers", l_resolvers }, { "batch", l_batch }, { "context", l_context },
		{ "publish", l_publish }, { "on_init", l_on_init }, { NULL, NULL },
	};

	if (luaL_newmetatable(L, K_BATCH_MT)) {
		lua_pushliteral(L, "graphql.batch");
		lua_setfield(L, -2, "__name");
		/* no script may change it (a __gc would run outside any budget) */
		lua_pushliteral(L, "graphql.batch");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	luaL_newlib(L, fns);
	return 1;
}

int gqlp_lua_push_context_fn(lua_State *L)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, K_CONTEXT) == LUA_TFUNCTION)
		return 1;
	lua_pop(L, 1);
	return 0;
}

int gqlp_lua_push_init_fn(lua_State *L)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, K_INIT) == LUA_TFUNCTION)
		return 1;
	lua_pop(L, 1);
	return 0;
}

struct decode_args {
	const char *p;
	size_t n;
};

/* Protected: the text decoded by json.decode. [-1, +1, e] */
static int decode_p(lua_State *L)
{
	struct decode_args *a = lua_touserdata(L, 1);

	lua_pop(L, 1);
	if (lua_getglobal(L, "json") != LUA_TTABLE || lua_getfield(L, -1, "decode") != LUA_TFUNCTION)
		return luaL_error(L, "the json module is missing");
	lua_pushlstring(L, a->p, a->n);
	lua_call(L, 1, 2);
	if (lua_isnil(L, -2))
		return luaL_error(L, "%s", lua_tostring(L, -1));
	lua_pop(L, 1);
	lua_remove(L, -2);
	return 1;
}

int gqlp_lua_json_decode(lua_State *L, const char *p, size_t n)
{
	struct decode_args a = { p, n };

	lua_pushcfunction(L, decode_p);
	lua_pushlightuserdata(L, &a);
	return lua_pcall(L, 1, 1, 0);
}
