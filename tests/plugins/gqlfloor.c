/*
 * A fixture plugin for tests/bench/graphql_bench.py: the per-field case's
 * resolvers written in C, the floor under the same resolvers in Lua.
 * `require("gqlfloor")` returns { resolvers = {...} } for graphql.resolvers:
 * the same data (Lua tables built once per state, as the Lua script builds
 * them) and the same lookups, without the interpreter running the script.
 * The difference between the two is what the script costs; what remains
 * is the executor and the crossing into Lua.
 *
 *   type Query { users(first: Int!): [User!]! }
 *   type User  { id: ID! name: String! friends(first: Int!): [User!]!
 *                posts(first: Int!): [Post!]! }
 *   type Post  { id: ID! title: String! author: User! }
 */
#include <stdio.h>
#include <lua.h>
#include <lauxlib.h>
#include <portico/portico.h>

#define N_USERS 100
#define N_FRIENDS 8
#define N_POSTS 10

/* Upvalue 1 of every resolver: the users array; upvalue 2: the posts array. */
#define USERS lua_upvalueindex(1)
#define POSTS lua_upvalueindex(2)

static lua_Integer first_of(lua_State *L)
{
	lua_Integer n = 0;

	if (lua_type(L, 2) == LUA_TTABLE && lua_getfield(L, 2, "first") == LUA_TNUMBER)
		n = lua_tointeger(L, -1);
	lua_pop(L, 1);
	return n;
}

/* Query.users(_, {first}) */
static int users(lua_State *L)
{
	lua_Integer n = first_of(L);

	if (n > N_USERS)
		n = N_USERS;
	lua_createtable(L, (int)(n > 0 ? n : 0), 0);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, USERS, i);
		lua_rawseti(L, -2, i);
	}
	return 1;
}

/* The first N of the ids in PARENT[KEY], looked up in FROM. */
static int take(lua_State *L, const char *key, int from)
{
	lua_Integer n = first_of(L), len;

	if (lua_type(L, 1) != LUA_TTABLE || lua_getfield(L, 1, key) != LUA_TTABLE)
		return luaL_error(L, "gqlfloor: the parent has no %s", key);
	len = (lua_Integer)lua_rawlen(L, -1);
	if (n > len)
		n = len;
	lua_createtable(L, (int)(n > 0 ? n : 0), 0);
	for (lua_Integer k = 1; k <= n; k++) {
		lua_rawgeti(L, -2, k);
		lua_rawget(L, from);
		lua_rawseti(L, -2, k);
	}
	return 1;
}

static int friends(lua_State *L)
{
	return take(L, "friend_ids", USERS);
}

static int posts(lua_State *L)
{
	return take(L, "post_ids", POSTS);
}

/* Post.author(post) */
static int author(lua_State *L)
{
	if (lua_type(L, 1) != LUA_TTABLE || lua_getfield(L, 1, "author_id") != LUA_TNUMBER)
		return luaL_error(L, "gqlfloor: the post has no author_id");
	lua_rawget(L, USERS);
	return 1;
}

static void push_resolver(lua_State *L, lua_CFunction fn, int users_idx, int posts_idx,
                          const char *name)
{
	lua_pushvalue(L, users_idx);
	lua_pushvalue(L, posts_idx);
	lua_pushcclosure(L, fn, 2);
	lua_setfield(L, -2, name);
}

static int open_gqlfloor(lua_State *L)
{
	char buf[32];
	int u, p;

	lua_createtable(L, N_USERS, 0);
	u = lua_gettop(L);
	for (int i = 1; i <= N_USERS; i++) {
		lua_createtable(L, 0, 4);
		snprintf(buf, sizeof(buf), "%d", i);
		lua_pushstring(L, buf);
		lua_setfield(L, -2, "id");
		snprintf(buf, sizeof(buf), "user %d", i);
		lua_pushstring(L, buf);
		lua_setfield(L, -2, "name");
		lua_createtable(L, N_FRIENDS, 0);
		for (int k = 1; k <= N_FRIENDS; k++) {
			lua_pushinteger(L, (i * 7 + k * 13) % N_USERS + 1);
			lua_rawseti(L, -2, k);
		}
		lua_setfield(L, -2, "friend_ids");
		lua_createtable(L, N_POSTS, 0);
		for (int k = 1; k <= N_POSTS; k++) {
			lua_pushinteger(L, (i - 1) * N_POSTS + k);
			lua_rawseti(L, -2, k);
		}
		lua_setfield(L, -2, "post_ids");
		lua_rawseti(L, u, i);
	}
	lua_createtable(L, N_USERS * N_POSTS, 0);
	p = lua_gettop(L);
	for (int j = 1; j <= N_USERS * N_POSTS; j++) {
		lua_createtable(L, 0, 3);
		snprintf(buf, sizeof(buf), "p%d", j);
		lua_pushstring(L, buf);
		lua_setfield(L, -2, "id");
		snprintf(buf, sizeof(buf), "post %d", j);
		lua_pushstring(L, buf);
		lua_setfield(L, -2, "title");
		lua_pushinteger(L, j * 31 % N_USERS + 1);
		lua_setfield(L, -2, "author_id");
		lua_rawseti(L, p, j);
	}
	lua_newtable(L);                       /* the module */
	lua_newtable(L);                       /* resolvers */
	lua_newtable(L);
	push_resolver(L, users, u, p, "users");
	lua_setfield(L, -2, "Query");
	lua_newtable(L);
	push_resolver(L, friends, u, p, "friends");
	push_resolver(L, posts, u, p, "posts");
	lua_setfield(L, -2, "User");
	lua_newtable(L);
	push_resolver(L, author, u, p, "author");
	lua_setfield(L, -2, "Post");
	lua_setfield(L, -2, "resolvers");
	return 1;
}

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	(void)conf;
	return a->lua_module_register(ctx, "gqlfloor", open_gqlfloor);
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "gqlfloor",
	.version = "1.0",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
