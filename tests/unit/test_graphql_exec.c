/*
 * The GraphQL executor through a real Lua state: resolvers from a script,
 * null propagation, batching, coercion messages, introspection. The core is
 * replaced by a pt_api whose lua_task_resume is a plain lua_resume (nothing
 * waits here; the integration tests cover waits).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "exec.h"
#include "gql_arena.h"
#include "gqlp.h"
#include "parser.h"

/* lmod.c asks the plugin for its schema; here it checks against this one */
const struct pt_api *gqlp_api;
pt_plugin_ctx *gqlp_ctx;
static struct gql_schema *schema;

struct gqlp_conf *gqlp_conf_get(void)
{
	static struct gqlp_conf c;

	c.schema = schema;
	return &c;
}

void gqlp_conf_unref(struct gqlp_conf *c)
{
	(void)c;
}

static int resume(pt_exchange *x, lua_State *co, int nargs, int *nres, pt_lua_task_fn done,
                  void *ud)
{
	(void)x, (void)done, (void)ud;
	return lua_resume(co, NULL, nargs, nres);
}

static void log_(pt_plugin_ctx *c, int level, const char *fmt, ...)
{
	(void)c, (void)level, (void)fmt;
}

static struct pt_api api = { .size = sizeof(struct pt_api), .lua_task_resume = resume,
                             .log = log_ };

static const char SDL[] =
	"type Query { user(id: ID!): User users: [User!]! n(x: Int = 3): Int must: Int! "
	"  thing: Thing }\n"
	"type User { id: ID! name: String! posts: [Post!]! best: User }\n"
	"type Post { id: ID! title: String }\n"
	"union Thing = User | Post\n";

static const char SCRIPT[] =
	"local graphql = require 'graphql'\n"
	"calls = 0\n"
	"local U = { { id = '1', name = 'ada' }, { id = '2', name = nil } }\n"
	"graphql.resolvers { Query = {\n"
	"  user = function(_, a) return U[tonumber(a.id)] end,\n"
	"  users = function() return U end,\n"
	"  n = function(_, a) return a.x * 2 end,\n"
	"  must = function() return nil end,\n"
	"  thing = function() return { __typename = 'Post', id = 'p', title = 't' } end },\n"
	"  User = { posts = graphql.batch(function(parents)\n"
	"    calls = calls + 1\n"
	"    local out = {} for i, p in ipairs(parents) do out[i] = { { id = p.id .. 'a' } } end\n"
	"    return out end) } }\n";

struct out {
	char *json;
	int has_data;
};

static void done(struct gql_exec *e, const struct gql_result *r, void *ud)
{
	struct out *o = ud;

	o->json = strndup(r->json, r->len);
	o->has_data = r->has_data;
	gql_exec_free(e);
}

static lua_State *L;

static int require_graphql(lua_State *l)
{
	return gqlp_lua_open(l);
}

static int setup(void **state)
{
	const char *src[] = { SDL }, *names[] = { "test.graphql" };
	struct gql_schema_error errs[4];
	unsigned n;

	(void)state;
	gqlp_api = &api;
	schema = gql_schema_build(src, names, 1, errs, 4, &n);
	if (!schema) {
		fprintf(stderr, "%s\n", errs[0].text);
		return -1;
	}
	L = luaL_newstate();
	luaL_openlibs(L);
	luaL_requiref(L, "graphql", require_graphql, 0);
	lua_pop(L, 1);
	if (luaL_dostring(L, SCRIPT) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lua_close(L);
	gql_schema_free(schema);
	return 0;
}

static struct out run(const char *query, const char *vars)
{
	struct gql_arena a;
	struct gql_error err;
	struct out o = { 0 };
	json_t *v = vars ? json_loads(vars, 0, NULL) : NULL;
	struct gql_doc *doc;

	gql_arena_init(&a, 4096);
	doc = gql_parse(&a, query, strlen(query), NULL, &err);
	assert_non_null(doc);
	struct gql_exec_req req = { .schema = schema, .doc = doc, .variables = v, .L = L,
	                            .api = &api, .done = done, .ud = &o };
	assert_int_equal(gql_exec_start(&req), 0);
	assert_non_null(o.json);
	json_decref(v);
	gql_arena_close(&a);
	return o;
}

static void expect(const char *query, const char *vars, const char *want)
{
	struct out o = run(query, vars);

	if (strcmp(o.json, want) != 0)
		fail_msg("query %s\n got  %s\n want %s", query, o.json, want);
	free(o.json);
}

static void test_graphql_exec_resolves_in_request_order(void **s)
{
	(void)s;
	expect("{ b: n a: user(id: 1) { name id } }", NULL,
	       "{\"data\":{\"b\":6,\"a\":{\"name\":\"ada\",\"id\":\"1\"}}}");
	expect("query($x: Int) { n(x: $x) }", "{\"x\": 5}", "{\"data\":{\"n\":10}}");
}

static void test_graphql_exec_null_goes_to_the_nearest_nullable_parent(void **s)
{
	(void)s;
	expect("{ users { name } }", NULL,
	       "{\"errors\":[{\"message\":\"Cannot return null for non-nullable field User.name.\","
	       "\"locations\":[{\"line\":1,\"column\":11}],\"path\":[\"users\",1,\"name\"]}],"
	       "\"data\":null}");
	expect("{ n must }", NULL,
	       "{\"errors\":[{\"message\":\"Cannot return null for non-nullable field Query.must.\","
	       "\"locations\":[{\"line\":1,\"column\":5}],\"path\":[\"must\"]}],\"data\":null}");
}

static void test_graphql_exec_batch_is_one_call_per_level(void **s)
{
	(void)s;
	assert_int_equal(luaL_dostring(L, "calls = 0"), LUA_OK);
	expect("{ users { id posts { id } } }", NULL,
	       "{\"data\":{\"users\":[{\"id\":\"1\",\"posts\":[{\"id\":\"1a\"}]},"
	       "{\"id\":\"2\",\"posts\":[{\"id\":\"2a\"}]}]}}");
	lua_getglobal(L, "calls");
	assert_int_equal(lua_tointeger(L, -1), 1);
	lua_pop(L, 1);
}

static void test_graphql_exec_variable_errors_have_no_data(void **s)
{
	struct out o;

	(void)s;
	o = run("query($x: Int) { n(x: $x) }", "{\"x\": \"no\"}");
	assert_int_equal(o.has_data, 0);
	assert_string_equal(o.json, "{\"errors\":[{\"message\":\"Variable \\\"$x\\\" got invalid "
	                    "value \\\"no\\\"; Int cannot represent non-integer value: \\\"no\\\"\","
	                    "\"locations\":[{\"line\":1,\"column\":7}]}]}");
	free(o.json);
}

static void test_graphql_exec_abstract_and_introspection(void **s)
{
	(void)s;
	expect("{ thing { __typename ... on Post { title } } }", NULL,
	       "{\"data\":{\"thing\":{\"__typename\":\"Post\",\"title\":\"t\"}}}");
	expect("{ __type(name: \"Thing\") { kind possibleTypes { name } } }", NULL,
	       "{\"data\":{\"__type\":{\"kind\":\"UNION\",\"possibleTypes\":[{\"name\":\"User\"},"
	       "{\"name\":\"Post\"}]}}}");
}

/* A closed execution arena's blocks serve the next one (no malloc/free per
 * request: glibc would trim and refault the heap); large allocations get
 * a kept size too; memory stays 16-byte aligned and distinct. */
static void test_graphql_arena_blocks_come_back_per_thread(void **s)
{
	struct gql_arena a, b;
	unsigned char *p1, *big1, *p2, *big2, *q;

	(void)s;
	gql_arena_init(&a, GQL_ARENA_REUSE);
	p1 = gql_arena_alloc(&a, 100);
	big1 = gql_arena_alloc(&a, 40000);      /* a block of its own: 64 KiB */
	assert_non_null(p1);
	assert_non_null(big1);
	memset(big1, 0xab, 40000);
	q = gql_arena_alloc(&a, 24);             /* still from the first block */
	assert_ptr_equal(q, p1 + 112);
	gql_arena_close(&a);
	gql_arena_init(&b, GQL_ARENA_REUSE);
	p2 = gql_arena_alloc(&b, 8);
	big2 = gql_arena_alloc(&b, 50000);
	assert_ptr_equal(big2, big1);            /* the 64 KiB block again */
	assert_ptr_equal(p2, p1);                /* and the 16 KiB one */
	assert_int_equal((uintptr_t)p2 % 16, 0);
	assert_null(gql_arena_alloc(&b, SIZE_MAX - 8));   /* overflow: refused */
	gql_arena_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_graphql_arena_blocks_come_back_per_thread),
		cmocka_unit_test(test_graphql_exec_resolves_in_request_order),
		cmocka_unit_test(test_graphql_exec_null_goes_to_the_nearest_nullable_parent),
		cmocka_unit_test(test_graphql_exec_batch_is_one_call_per_level),
		cmocka_unit_test(test_graphql_exec_variable_errors_have_no_data),
		cmocka_unit_test(test_graphql_exec_abstract_and_introspection),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
