/*
 * test_lua_json.c - unit tests for core/lua/lua_json.c, driven mostly from
 * Lua snippets run in a fresh state per test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_json.h"

static int setup(void **state)
{
	lua_State *L = luaL_newstate();

	if (!L)
		return -1;
	luaL_openlibs(L);
	luaL_requiref(L, "json", lua_json_open, 1);
	lua_pop(L, 1);
	*state = L;
	return 0;
}

static int teardown(void **state)
{
	lua_close(*state);
	return 0;
}

/* Run CODE; fail the test with Lua's message if it raises. */
static void lua_ok(lua_State *L, const char *code)
{
	if (luaL_dostring(L, code) != LUA_OK) {
		fail_msg("lua error: %s", lua_tostring(L, -1));
	}
	lua_settop(L, 0);
}

/* Run CODE, which must return one string; compare it with WANT. */
static void lua_returns(lua_State *L, const char *code, const char *want)
{
	if (luaL_dostring(L, code) != LUA_OK)
		fail_msg("lua error: %s", lua_tostring(L, -1));
	assert_int_equal(lua_type(L, -1), LUA_TSTRING);
	assert_string_equal(lua_tostring(L, -1), want);
	lua_settop(L, 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_json_roundtrips_nested_document(void **state)
{
	lua_ok(*state,
	       "local doc = '{\"a\":[1,2.5,\"x\",true,false,null,{\"b\":{\"c\":[[]]}}],\"d\":{}}'\n"
	       "local v = assert(json.decode(doc))\n"
	       "assert(v.a[1] == 1 and v.a[2] == 2.5 and v.a[3] == 'x')\n"
	       "assert(v.a[4] == true and v.a[5] == false and v.a[6] == json.null)\n"
	       "assert(#v.a[7].b.c == 1 and #v.a[7].b.c[1] == 0)\n"
	       "local again = json.decode(json.encode(v))\n"
	       "assert(json.encode(again, {sort_keys = true}) == "
	       "json.encode(v, {sort_keys = true}))\n"
	       "assert(json.encode(v, {sort_keys = true}) == doc, json.encode(v, {sort_keys=true}))\n");
}

static void test_json_empty_plain_table_encodes_as_object(void **state)
{
	lua_returns(*state, "return json.encode({})", "{}");
	lua_returns(*state, "return json.encode({x = {}})", "{\"x\":{}}");
}

static void test_json_array_marker_encodes_empty_array(void **state)
{
	lua_returns(*state, "return json.encode(json.array({}))", "[]");
	lua_returns(*state, "return json.encode(json.array())", "[]");
	lua_returns(*state, "return json.encode(json.array({1, 2}))", "[1,2]");
}

static void test_json_decoded_empty_containers_keep_their_kind(void **state)
{
	lua_returns(*state, "return json.encode(json.decode('[]'))", "[]");
	lua_returns(*state, "return json.encode(json.decode('{}'))", "{}");
	lua_returns(*state,
	            "return json.encode(json.decode('{\"a\":[],\"b\":{}}'), "
	            "{sort_keys = true})", "{\"a\":[],\"b\":{}}");
}

static void test_json_null_sentinel_both_ways(void **state)
{
	lua_ok(*state,
	       "assert(type(json.null) == 'userdata')\n"
	       "assert(json.decode('null') == json.null)\n"
	       "local a = json.decode('[null, 1, null]')\n"
	       "assert(#a == 3 and a[1] == json.null and a[3] == json.null)\n"
	       "assert(json.encode(a) == '[null,1,null]')\n"
	       "assert(json.encode({k = json.null}) == '{\"k\":null}')\n"
	       "assert(json.encode(json.null) == 'null')\n"
	       "assert(json.encode(nil) == 'null')\n");
}

static void test_json_integers_stay_integers(void **state)
{
	lua_ok(*state,
	       "assert(math.type(json.decode('42')) == 'integer')\n"
	       "assert(math.type(json.decode('42.0')) == 'float')\n"
	       "assert(math.type(json.decode('4e1')) == 'float')\n"
	       "assert(json.encode(42) == '42')\n"
	       "assert(json.encode(42.0) == '42.0')\n"
	       "assert(json.encode(-7) == '-7')\n"
	       "assert(json.encode(math.maxinteger) == '9223372036854775807')\n"
	       "assert(json.decode('9223372036854775807') == math.maxinteger)\n"
	       "assert(json.decode('-9223372036854775808') == math.mininteger)\n");
}

static void test_json_floats_round_trip_exactly(void **state)
{
	lua_ok(*state,
	       "assert(json.encode(0.1) == '0.1', json.encode(0.1))\n"
	       "assert(json.encode(0.5) == '0.5')\n"
	       "assert(json.encode(1e300) == '1e300', json.encode(1e300))\n"
	       "local vals = {1/3, 2/3, 0.1 + 0.2, 5e-324, 2.2250738585072014e-308,\n"
	       "  1.7976931348623157e308, 123456.789, -0.0001, 2^53, 2^53 + 2}\n"
	       "for k = -1074, 1023 do vals[#vals + 1] = 2.0^k end\n"
	       "math.randomseed(42)\n"
	       "for i = 1, 2000 do\n"
	       "  vals[#vals + 1] = (math.random() - 0.5) * 10.0^math.random(-30, 30)\n"
	       "end\n"
	       "for _, v in ipairs(vals) do\n"
	       "  local back = json.decode(json.encode(v))\n"
	       "  assert(back == v and math.type(back) == 'float', string.format('%.17g', v))\n"
	       "end\n"
	       "local all = json.decode(json.encode(vals))\n"
	       "for i, v in ipairs(vals) do assert(all[i] == v) end\n");
}

static void test_json_unicode_escapes_decode_to_utf8(void **state)
{
	lua_ok(*state,
	       "local s = json.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\\\\n\"')\n"
	       "assert(s == '\\u{e9}\\u{1f600}\\n', s)\n"
	       "assert(json.encode(s) == '\"\\u{e9}\\u{1f600}\\\\n\"')\n"
	       "assert(json.encode('a\"b\\\\c\\1') == '\"a\\\\\"b\\\\\\\\c\\\\u0001\"')\n"
	       "local v, err = json.decode('\"\\\\ud83d\"')\n"
	       "assert(v == nil and err:find('invalid Unicode'), err)\n");
}

static void test_json_invalid_utf8_refused_on_encode(void **state)
{
	lua_ok(*state,
	       "for _, s in ipairs({'\\xff', '\\xc0\\xaf', 'a\\xe2\\x82', "
	       "'\\xed\\xa0\\x80', '\\xf4\\x90\\x80\\x80'}) do\n"
	       "  local ok, err = pcall(json.encode, s)\n"
	       "  assert(not ok and err == 'json.encode: string is not valid UTF-8', err)\n"
	       "end\n"
	       "local ok, err = pcall(json.encode, {['\\xff'] = 1})\n"
	       "assert(not ok and err == 'json.encode: key is not valid UTF-8', err)\n"
	       "assert(json.encode('\\u{10ffff}') == '\"\\u{10ffff}\"')\n");
}

static void test_json_invalid_utf8_refused_on_decode(void **state)
{
	lua_ok(*state,
	       "local v, err = json.decode('\"\\xff\"')\n"
	       "assert(v == nil and err:find('^json.decode: unable to decode byte 0xff'), err)\n");
}

static void test_json_big_numbers_refused_on_decode(void **state)
{
	lua_ok(*state,
	       "local v, err = json.decode('9223372036854775808')\n"
	       "assert(v == nil and err:find('too big integer'), err)\n"
	       "v, err = json.decode('[1e400]')\n"
	       "assert(v == nil and err:find('overflow'), err)\n"
	       "assert(json.decode('1e308') == 1e308)\n");
}

static void test_json_nan_and_inf_refused(void **state)
{
	lua_ok(*state,
	       "for _, x in ipairs({0/0, 1/0, -1/0}) do\n"
	       "  local ok, err = pcall(json.encode, {x})\n"
	       "  assert(not ok and err == 'json.encode: cannot encode NaN/inf', err)\n"
	       "end\n"
	       "assert(json.decode('NaN') == nil)\n");
}

static void test_json_cycle_refused(void **state)
{
	lua_ok(*state,
	       "local t = {}; t.self = t\n"
	       "local ok, err = pcall(json.encode, t)\n"
	       "assert(not ok and err == 'json.encode: nesting deeper than 64', err)\n"
	       "local a = json.array(); a[1] = a\n"
	       "ok, err = pcall(json.encode, a, {max_depth = 5})\n"
	       "assert(not ok and err == 'json.encode: nesting deeper than 5', err)\n");
}

static void test_json_depth_bomb_refused_quickly(void **state)
{
	lua_State *L = *state;
	double t0 = now_s();

	lua_ok(L,
	       "local n = 10000\n"
	       "local bomb = string.rep('[', n) .. string.rep(']', n)\n"
	       "local v, err = json.decode(bomb)\n"
	       "assert(v == nil and err == 'json.decode: nesting deeper than 64 at line 1 column 65', err)\n"
	       "bomb = string.rep('{\"a\":', n) .. '1' .. string.rep('}', n)\n"
	       "v, err = json.decode(bomb, {max_depth = 512})\n"
	       "assert(v == nil and err:find('nesting deeper than 512'), err)\n"
	       "local deep = {} ; local cur = deep\n"
	       "for i = 1, n do cur[1] = {}; cur = cur[1] end\n"
	       "local ok, e2 = pcall(json.encode, deep)\n"
	       "assert(not ok and e2:find('nesting deeper'))\n");
	assert_true(now_s() - t0 < 1.0);
}

static void test_json_depth_limit_is_exact(void **state)
{
	lua_ok(*state,
	       "local function nest(n) return string.rep('[', n) .. string.rep(']', n) end\n"
	       "assert(json.decode(nest(64)))\n"
	       "assert(json.decode(nest(65)) == nil)\n"
	       "assert(json.decode(nest(3), {max_depth = 3}))\n"
	       "assert(json.decode(nest(4), {max_depth = 3}) == nil)\n"
	       "assert(json.decode(nest(200), {max_depth = 200}))\n"
	       "assert(#json.encode(json.decode(nest(64))) == 128)\n"
	       "assert(json.decode('[\"[[[[\"]', {max_depth = 1}))\n"
	       "assert(json.decode('[\"\\\\\"[[\"]', {max_depth = 1}))\n");
}

static void test_json_oversized_document_refused(void **state)
{
	lua_ok(*state,
	       "local big = '\"' .. string.rep('a', 9 * 1024 * 1024) .. '\"'\n"
	       "local v, err = json.decode(big)\n"
	       "assert(v == nil and err:find('^json.decode: document is 9437186 bytes, over the limit of 8388608'), err)\n"
	       "assert(#json.decode(big, {max_size = 10 * 1024 * 1024}) == 9 * 1024 * 1024)\n"
	       "v, err = json.decode('[1,2,3]', {max_size = 6})\n"
	       "assert(v == nil and err:find('over the limit of 6'))\n");
}

static void test_json_duplicate_keys_refused(void **state)
{
	lua_ok(*state,
	       "local v, err = json.decode('{\"a\":1,\"b\":2,\"a\":3}')\n"
	       "assert(v == nil and err:find('^json.decode: duplicate object key'), err)\n");
}

static void test_json_decode_error_has_line_and_column(void **state)
{
	lua_returns(*state,
	            "local v, err = json.decode('{\\n  \"a\": 1,\\n  \"b\": tru\\n}')\n"
	            "assert(v == nil) return err",
	            "json.decode: invalid token near 'tru' at line 3 column 10");
	lua_ok(*state,
	       "for _, bad in ipairs({'', ' ', '[1,]', '{\"a\"}', '[1] x', '\"abc', '{1:2}'}) do\n"
	       "  local v, err = json.decode(bad)\n"
	       "  assert(v == nil and err:find('^json.decode: .* at line %d+ column %d+$'), err)\n"
	       "end\n");
}

static void test_json_decode_bad_input_never_raises(void **state)
{
	lua_ok(*state,
	       "for i = 0, 255 do\n"
	       "  local ok, v, err = pcall(json.decode, '[' .. string.char(i))\n"
	       "  assert(ok and (i == 93 or (v == nil and type(err) == 'string')))\n"
	       "end\n");
}

static void test_json_encode_of_function_refused(void **state)
{
	lua_ok(*state,
	       "local ok, err = pcall(json.encode, {f = print})\n"
	       "assert(not ok and err == 'json.encode: cannot encode function', err)\n"
	       "ok, err = pcall(json.encode, coroutine.create(print))\n"
	       "assert(not ok and err == 'json.encode: cannot encode thread', err)\n"
	       "ok, err = pcall(json.encode, io.stdout)\n"
	       "assert(not ok and err == 'json.encode: cannot encode userdata', err)\n");
}

static void test_json_pretty_output_exact(void **state)
{
	lua_returns(*state,
	            "return json.encode({b = {1, 2}, a = {x = json.array()}, c = 'z'}, "
	            "{pretty = true, sort_keys = true})",
	            "{\n"
	            "  \"a\": {\n"
	            "    \"x\": []\n"
	            "  },\n"
	            "  \"b\": [\n"
	            "    1,\n"
	            "    2\n"
	            "  ],\n"
	            "  \"c\": \"z\"\n"
	            "}");
}

static void test_json_sort_keys_output_exact(void **state)
{
	lua_returns(*state,
	            "return json.encode({zeta = 1, alpha = {b = true, a = false}, mid = 'm'}, "
	            "{sort_keys = true})",
	            "{\"alpha\":{\"a\":false,\"b\":true},\"mid\":\"m\",\"zeta\":1}");
}

static void test_json_sparse_and_mixed_tables_refused(void **state)
{
	lua_ok(*state,
	       "for _, t in ipairs({{[1] = 1, [3] = 3}, {1, 2, x = 3}, {[0] = 1}, "
	       "{[1.5] = 1}, {[true] = 1}, {[-1] = 1}}) do\n"
	       "  local ok, err = pcall(json.encode, t)\n"
	       "  assert(not ok and err == 'json.encode: mixed or non-string keys', err)\n"
	       "end\n"
	       "local ok, err = pcall(json.encode, json.array({[2] = 1}))\n"
	       "assert(not ok and err:find('json.array table has keys other than 1..n'), err)\n");
}

static void test_json_object_marker_forces_object(void **state)
{
	lua_returns(*state, "return json.encode(json.object({}))", "{}");
	lua_returns(*state, "return json.encode(json.object())", "{}");
	lua_ok(*state,
	       "local ok, err = pcall(json.encode, json.object({1}))\n"
	       "assert(not ok and err:find('json.object table has non%-string keys'), err)\n"
	       "local t = json.decode('[]')\n"
	       "assert(json.encode(json.object(t)) == '{}')\n");
}

static void test_json_is_array(void **state)
{
	lua_ok(*state,
	       "assert(json.is_array({1, 2}))\n"
	       "assert(not json.is_array({}))\n"
	       "assert(json.is_array(json.array()))\n"
	       "assert(json.is_array(json.decode('[]')))\n"
	       "assert(not json.is_array(json.decode('{}')))\n"
	       "assert(not json.is_array({a = 1}))\n"
	       "assert(not json.is_array('x'))\n"
	       "assert(not json.is_array(json.object({1})))\n");
}

static void test_json_marker_refuses_foreign_metatable(void **state)
{
	lua_ok(*state,
	       "local t = setmetatable({}, {})\n"
	       "local ok, err = pcall(json.array, t)\n"
	       "assert(not ok and err:find('json.array: table already has a metatable'), err)\n"
	       "ok = pcall(json.array, 5)\n"
	       "assert(not ok)\n"
	       "local c = setmetatable({n = 1}, {__index = function() return 1 end})\n"
	       "assert(json.encode(c) == '{\"n\":1}')\n");
}

static void test_json_nul_bytes_round_trip(void **state)
{
	lua_ok(*state,
	       "local v = json.decode('{\"k\":\"a\\\\u0000b\"}')\n"
	       "assert(v.k == 'a\\0b')\n"
	       "assert(json.encode(v) == '{\"k\":\"a\\\\u0000b\"}', json.encode(v))\n"
	       "assert(json.encode({['k\\0x'] = 1}) == '{\"k\\\\u0000x\":1}')\n"
	       "local bad, err = json.decode('{\"k\\\\u0000x\":1}')\n"
	       "assert(bad == nil and err:find('NUL byte in object key'), err)\n");
}

static void test_json_top_level_scalars(void **state)
{
	lua_ok(*state,
	       "assert(json.decode('\"s\"') == 's')\n"
	       "assert(json.decode(' true ') == true)\n"
	       "assert(json.decode('false') == false)\n"
	       "assert(json.encode('s') == '\"s\"')\n"
	       "assert(json.encode(true) == 'true')\n");
}

static void test_json_bad_opts_raise(void **state)
{
	lua_ok(*state,
	       "assert(not pcall(json.decode, '[]', {max_depth = 0}))\n"
	       "assert(not pcall(json.decode, '[]', {max_depth = 100000}))\n"
	       "assert(not pcall(json.decode, '[]', {max_size = 'x'}))\n"
	       "assert(not pcall(json.decode, '[]', 7))\n"
	       "assert(not pcall(json.encode, 1, 'pretty'))\n"
	       "assert(not pcall(json.decode))\n"
	       "assert(not pcall(json.encode))\n");
}

static void test_json_c_push_and_encode_helpers(void **state)
{
	lua_State *L = *state;
	const char doc[] = "{\"n\":[1,2,{\"x\":null}]}";
	char err[128];
	size_t len;
	char *s;

	assert_int_equal(lua_json_push(L, doc, sizeof(doc) - 1, err, sizeof(err)), 0);
	assert_int_equal(lua_gettop(L), 1);
	assert_int_equal(lua_type(L, 1), LUA_TTABLE);
	s = lua_json_encode_value(L, 1, &len, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(lua_gettop(L), 1);
	assert_string_equal(s, doc);
	assert_int_equal(len, strlen(doc));
	free(s);
	lua_settop(L, 0);

	assert_int_equal(lua_json_push(L, "[1,", 3, err, sizeof(err)), -1);
	assert_int_equal(lua_gettop(L), 0);
	assert_non_null(strstr(err, "at line 1 column"));

	lua_pushcfunction(L, lua_json_open);
	assert_null(lua_json_encode_value(L, -1, &len, err, sizeof(err)));
	assert_string_equal(err, "json.encode: cannot encode function");
	assert_int_equal(lua_gettop(L), 1);

	/* a tiny error buffer is truncated, never overrun */
	assert_int_equal(lua_json_push(L, "x", 1, err, 8), -1);
	assert_string_equal(err, "json.de");
}

static void test_json_push_works_without_module(void **state)
{
	lua_State *L = luaL_newstate();
	char err[128];
	size_t len;
	char *s;

	(void)state;
	assert_int_equal(lua_json_push(L, "[[],{}]", 7, err, sizeof(err)), 0);
	s = lua_json_encode_value(L, -1, &len, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s, "[[],{}]");
	free(s);
	lua_close(L);
}

static void test_json_set_limits_changes_defaults(void **state)
{
	lua_State *L = *state;
	char err[128];

	lua_json_set_limits(16, 2);
	assert_int_equal(lua_json_push(L, "[[1]]", 5, err, sizeof(err)), 0);
	lua_settop(L, 0);
	assert_int_equal(lua_json_push(L, "[[[1]]]", 7, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nesting deeper than 2"));
	assert_int_equal(lua_json_push(L, "\"0123456789abcdef\"", 18, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "over the limit of 16"));
	lua_ok(L, "assert(json.decode('[[[1]]]') == nil)\n"
	          "assert(not pcall(json.encode, {{{1}}}))\n"
	          "assert(json.decode('[[[1]]]', {max_depth = 3}))\n");
	lua_json_set_limits(LUA_JSON_DEFAULT_MAX_SIZE, 100000);  /* clamped */
	lua_ok(L, "assert(json.decode(string.rep('[', 512) .. string.rep(']', 512)))\n"
	          "assert(not json.decode(string.rep('[', 513) .. string.rep(']', 513)))\n");
	lua_json_set_limits(LUA_JSON_DEFAULT_MAX_SIZE, LUA_JSON_DEFAULT_MAX_DEPTH);
	lua_ok(L, "assert(json.decode(string.rep('[', 64) .. string.rep(']', 64)))\n");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_json_roundtrips_nested_document),
		T(test_json_empty_plain_table_encodes_as_object),
		T(test_json_array_marker_encodes_empty_array),
		T(test_json_decoded_empty_containers_keep_their_kind),
		T(test_json_null_sentinel_both_ways),
		T(test_json_integers_stay_integers),
		T(test_json_floats_round_trip_exactly),
		T(test_json_unicode_escapes_decode_to_utf8),
		T(test_json_invalid_utf8_refused_on_encode),
		T(test_json_invalid_utf8_refused_on_decode),
		T(test_json_big_numbers_refused_on_decode),
		T(test_json_nan_and_inf_refused),
		T(test_json_cycle_refused),
		T(test_json_depth_bomb_refused_quickly),
		T(test_json_depth_limit_is_exact),
		T(test_json_oversized_document_refused),
		T(test_json_duplicate_keys_refused),
		T(test_json_decode_error_has_line_and_column),
		T(test_json_decode_bad_input_never_raises),
		T(test_json_encode_of_function_refused),
		T(test_json_pretty_output_exact),
		T(test_json_sort_keys_output_exact),
		T(test_json_sparse_and_mixed_tables_refused),
		T(test_json_object_marker_forces_object),
		T(test_json_is_array),
		T(test_json_marker_refuses_foreign_metatable),
		T(test_json_nul_bytes_round_trip),
		T(test_json_top_level_scalars),
		T(test_json_bad_opts_raise),
		T(test_json_c_push_and_encode_helpers),
		T(test_json_push_works_without_module),
		T(test_json_set_limits_changes_defaults),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
