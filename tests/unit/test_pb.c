/*
 * test_pb.c - the run-time protobuf library (plugins/grpc/pb.h): loading
 * contracts through protoc, linking, and messages to Lua tables and back,
 * checked against bytes made by Google's protobuf (the .bin files of data/pb), and
 * hostile bytes and values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_json.h"
#include "pb_test_util.h"

static struct pb_registry *R;

static int group_setup(void **state)
{
	R = load_test_registry();
	return 0;
}

static int group_teardown(void **state)
{
	pb_registry_free(R);
	return 0;
}

static lua_State *new_lua(void)
{
	lua_State *L = luaL_newstate();

	assert_non_null(L);
	luaL_openlibs(L);
	/* deep(a, b): structural equality of decoded tables */
	if (luaL_dostring(L, "function deep(a, b)\n"
	                  "  if type(a) ~= type(b) then return false end\n"
	                  "  if type(a) ~= 'table' then return a == b or (a ~= a and b ~= b) end\n"
	                  "  for k, v in pairs(a) do if not deep(v, b[k]) then return false end end\n"
	                  "  for k in pairs(b) do if a[k] == nil then return false end end\n"
	                  "  return true end"))
		fail_msg("%s", lua_tostring(L, -1));
	return L;
}

static const struct pb_msg *msg(const char *name)
{
	const struct pb_msg *m = pb_find_msg(R, name);

	if (!m)
		fail_msg("no message %s", name);
	return m;
}

/* Runs CODE with the table at the top of the stack as `t`. */
static void check_lua(lua_State *L, const char *code)
{
	lua_setglobal(L, "t");
	if (luaL_dostring(L, code))
		fail_msg("%s", lua_tostring(L, -1));
}

static void decode_case(lua_State *L, const char *name, const char *type)
{
	size_t len;
	char *bin = fixture(name, ".bin", &len), err[512];

	if (pb_decode_lua(L, R, msg(type), (const uint8_t *)bin, len, err, sizeof(err)))
		fail_msg("decode %s: %s", name, err);
	free(bin);
}

static void test_registry_finds_types_services_and_files(void **state)
{
	const struct pb_method *pm;
	const struct pb_service *s;
	const char *file, *const *deps;
	const uint8_t *raw;
	size_t rawlen;
	unsigned n;

	assert_non_null(pb_find_msg(R, "pbtest.Nested.Inner"));
	assert_non_null(pb_find_msg(R, ".pbtest.Scalars"));
	assert_null(pb_find_msg(R, "pbtest.Color"));
	assert_non_null(pb_find_enum(R, "pbtest.Color"));
	assert_non_null(pb_find_msg(R, "google.protobuf.Timestamp"));
	assert_string_equal(pb_msg_name(msg("pbtest2.P2")), "pbtest2.P2");
	s = pb_find_service(R, "pbtest.Svc");
	assert_non_null(s);
	assert_int_equal(s->nmethods, 3);
	assert_string_equal(s->file, "all.proto");
	assert_int_equal(pb_service_count(R), 1);
	assert_ptr_equal(pb_service_at(R, 0), s);
	pm = pb_find_method(R, "/pbtest.Svc/Get");
	assert_non_null(pm);
	assert_ptr_equal(pm, pb_find_method(R, "pbtest.Svc/Get"));
	assert_null(pb_find_method(R, "/pbtest.Svc/Nope"));
	assert_null(pb_find_method(R, "/pbtest.Svc.Get"));
	assert_string_equal(pm->path, "/pbtest.Svc/Get");
	assert_ptr_equal(pm->in, msg("pbtest.Scalars"));
	assert_ptr_equal(pm->service, s);
	assert_string_equal(pm->http_verb, "GET");
	assert_string_equal(pm->http_path, "/v1/scalars/{i32}");
	assert_string_equal(pm->http_body, "");
	assert_int_equal(pm->nhttp_more, 2);
	assert_string_equal(pm->http_more[0].verb, "POST");
	assert_string_equal(pm->http_more[0].body, "*");
	assert_string_equal(pm->http_more[1].verb, "HEAD");
	assert_string_equal(pm->http_more[1].path, "/v1/head");
	pm = pb_find_method(R, "/pbtest.Svc/Chat");
	assert_true(pm->client_streaming && pm->server_streaming);
	assert_null(pm->http_verb);
	pm = pb_find_method(R, "/pbtest.Svc/Put");
	assert_string_equal(pm->http_verb, "PUT");
	assert_string_equal(pm->http_body, "nested");
	assert_ptr_equal(pm->out, msg("google.protobuf.Empty"));

	assert_int_equal(pb_file_by_symbol(R, "pbtest.Nested.Inner", &file), 0);
	assert_string_equal(file, "all.proto");
	assert_int_equal(pb_file_by_symbol(R, "pbtest.Svc.Get", &file), 0);
	assert_int_equal(pb_file_by_symbol(R, "pbtest.Scalars.u64", &file), 0);
	assert_int_equal(pb_file_by_symbol(R, "google.protobuf.Duration", &file), 0);
	assert_string_equal(file, "google/protobuf/duration.proto");
	assert_int_equal(pb_file_by_symbol(R, "pbtest2.E", &file), 0);
	assert_string_equal(file, "p2.proto");
	assert_int_not_equal(pb_file_by_symbol(R, "pbtest.Nope", &file), 0);
	assert_int_not_equal(pb_file_by_symbol(R, "pbtest.Scalars.nope", &file), 0);
	assert_int_equal(pb_file_by_name(R, "all.proto", &raw, &rawlen), 0);
	assert_true(rawlen > 100);
	assert_int_not_equal(pb_file_by_name(R, "nope.proto", &raw, &rawlen), 0);
	n = pb_file_deps(R, "all.proto", &deps);
	assert_int_equal(n, 8);
	assert_string_equal(deps[0], "google/api/annotations.proto");
	assert_int_equal(pb_file_deps(R, "google/protobuf/empty.proto", &deps), 0);
}

static void test_field_info_describes_the_contract(void **state)
{
	const struct pb_msg *m = msg("pbtest.Oneofs");
	struct pb_field_info fi;
	const struct pb_enum *e = pb_find_enum(R, "pbtest.Color");
	int32_t num;

	assert_int_equal(pb_msg_field_count(m), 9);
	assert_int_equal(pb_msg_field_at(m, 0, &fi), 0);
	assert_string_equal(fi.name, "a");
	assert_string_equal(fi.oneof, "choice");
	assert_true(fi.has_presence);
	assert_int_equal(pb_msg_field_at(m, 9, &fi), -1);
	assert_int_equal(pb_msg_field_find(m, "optS", &fi), 0);
	assert_string_equal(fi.name, "opt_s");
	assert_int_equal(fi.type, PB_STRING);
	assert_null(fi.oneof);
	assert_true(fi.has_presence);
	assert_int_equal(pb_msg_field_find(m, "opt_m", &fi), 0);
	assert_ptr_equal(fi.msg, msg("pbtest.Scalars"));
	assert_int_equal(pb_msg_field_find(m, "nope", &fi), -1);
	assert_int_equal(pb_msg_field_find(msg("pbtest.Maps"), "str_int", &fi), 0);
	assert_true(fi.repeated && fi.map);
	assert_int_equal(pb_msg_field_find(msg("pbtest.Scalars"), "bigFieldNumber", &fi), 0);
	assert_int_equal(fi.number, 100000);
	assert_false(fi.has_presence);
	assert_int_equal(pb_msg_field_find(msg("pbtest2.P2"), "req", &fi), 0);
	assert_true(fi.required);
	assert_string_equal(pb_msg_file(m), "all.proto");
	assert_string_equal(pb_enum_name(e), "pbtest.Color");
	assert_int_equal(pb_enum_value_count(e), 4);
	assert_string_equal(pb_enum_value_at(e, 3, &num), "NEGATIVE");
	assert_int_equal(num, -3);
	assert_null(pb_enum_value_at(e, 4, &num));
}

/* Every fixture decodes, encodes back to Google's bytes (or, where map
 * order may differ, to bytes that decode to the same table). */
static void test_fixtures_round_trip_through_lua(void **state)
{
	struct pb_case cases[64];
	unsigned n = load_cases(cases, 64);
	lua_State *L = new_lua();

	assert_true(n >= 10);
	for (unsigned i = 0; i < n; i++) {
		const struct pb_msg *m = msg(cases[i].type);
		struct pb_buf out = { 0 };
		size_t len;
		char *bin = fixture(cases[i].name, ".bin", &len), err[512];

		if (pb_decode_lua(L, R, m, (const uint8_t *)bin, len, err, sizeof(err)))
			fail_msg("decode %s: %s", cases[i].name, err);
		if (pb_encode_lua(L, -1, R, m, &out, err, sizeof(err)))
			fail_msg("encode %s: %s", cases[i].name, err);
		assert_int_equal(lua_gettop(L), 1);
		if (out.len != len || (len && memcmp(out.p, bin, len))) {
			if (!strcmp(cases[i].name, "maps_one") || !strncmp(cases[i].name, "scalars", 7) ||
			    !strcmp(cases[i].name, "p2") ||
			    !strncmp(cases[i].name, "repeated", 8) || !strncmp(cases[i].name, "oneof", 5))
				fail_msg("%s: bytes differ from protobuf's (%zu vs %zu)", cases[i].name,
				         out.len, len);
			if (pb_decode_lua(L, R, m, out.p, out.len, err, sizeof(err)))
				fail_msg("re-decode %s: %s", cases[i].name, err);
			lua_getglobal(L, "deep");
			lua_insert(L, 1);
			lua_call(L, 2, 1);
			if (!lua_toboolean(L, -1))
				fail_msg("%s: re-encoded bytes decode differently", cases[i].name);
		}
		lua_settop(L, 0);
		pb_buf_free(&out);
		free(bin);
	}
	lua_close(L);
}

/* The random messages of random.txt (Google's bytes) go through Lua and
 * back to the same JSON (a null Value field becomes nil: those skipped). */
static void test_random_messages_round_trip_through_lua(void **state)
{
	size_t len;
	char *txt = fixture("random", ".txt", &len), *line, *save = NULL, err[512];
	uint8_t *bin = malloc(len / 2 + 1);
	lua_State *L = new_lua();
	unsigned n = 0;

	for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char type[128], hex[65536];
		int dflt, off = 0;
		size_t bl = 0;
		struct pb_json_opts o = { 0 };
		struct pb_buf out = { 0 }, js = { 0 };
		const struct pb_msg *m;

		if (sscanf(line, "%127s %d %65535s %n", type, &dflt, hex, &off) != 3 || !off)
			fail_msg("bad line %u", n);
		if (strstr(line + off, "\"val\":null"))
			continue;
		for (const char *h = hex; strcmp(hex, "-") && h[0] && h[1]; h += 2) {
			unsigned v;

			sscanf(h, "%2x", &v);
			bin[bl++] = (uint8_t)v;
		}
		m = msg(type);
		o.emit_defaults = dflt;
		if (pb_decode_lua(L, R, m, bin, bl, err, sizeof(err)))
			fail_msg("case %u: %s", n, err);
		if (pb_encode_lua(L, -1, R, m, &out, err, sizeof(err)))
			fail_msg("case %u: %s", n, err);
		if (pb_to_json(R, m, out.p, out.len, &o, &js, err, sizeof(err)))
			fail_msg("case %u: %s", n, err);
		if (!json_text_same((char *)js.p, js.len, line + off, strlen(line + off)))
			fail_msg("case %u (%s): %.*s\nwant %s", n, type, (int)js.len, js.p, line + off);
		lua_settop(L, 0);
		pb_buf_free(&out);
		pb_buf_free(&js);
		n++;
	}
	assert_true(n >= 100);
	lua_close(L);
	free(bin);
	free(txt);
}

static void test_decoded_values_follow_the_mapping(void **state)
{
	lua_State *L = new_lua();

	decode_case(L, "scalars_full", "pbtest.Scalars");
	check_lua(L, "assert(t.d == -1.5e300 and t.f == 3.25 and t.i32 == -2147483648)\n"
	          "assert(t.i64 == math.mininteger and math.type(t.i64) == 'integer')\n"
	          "assert(t.u32 == 4294967295 and t.u64 == -1, 'uint64 max wraps to -1')\n"
	          "assert(t.s32 == -5 and t.s64 == -9000000000 and t.fx32 == 4000000000)\n"
	          "assert(math.ult(1, t.fx64) and t.sf32 == -7 and t.sf64 == -8 and t.b == true)\n"
	          "assert(t.s == 'h\\u{e9}llo \"q\"\\n\\1' and t.by == '\\0\\255\\16')\n"
	          "assert(t.color == 'NEGATIVE' and t.big_field_number == 7)");
	decode_case(L, "scalars_zero", "pbtest.Scalars");
	check_lua(L, "assert(t.i32 == 0 and t.s == '' and t.by == '' and t.b == false)\n"
	          "assert(t.color == 'COLOR_UNSPECIFIED' and t.d == 0.0 and t.u64 == 0)");
	decode_case(L, "scalars_odd", "pbtest.Scalars");
	check_lua(L, "assert(t.d ~= t.d and t.f == -math.huge and t.color == 42)");
	decode_case(L, "repeated_empty", "pbtest.Repeated");
	check_lua(L, "assert(type(t.d) == 'table' and #t.d == 0 and #t.msgs == 0)");
	decode_case(L, "repeated_all", "pbtest.Repeated");
	check_lua(L, "assert(#t.d == 3 and t.d[3] == -2.25 and t.u64[2] == -1)\n"
	          "assert(t.color[1] == 'RED' and t.color[3] == 99 and t.s[3] == '\\u{20ac}')\n"
	          "assert(#t.msgs == 3 and t.msgs[2].i32 == 0 and t.msgs[3].s == 'x')\n"
	          "assert(t.unpacked[2] == -2 and t.b[2] == false)");
	decode_case(L, "maps_one", "pbtest.Maps");
	check_lua(L, "assert(t.str_int.a == 1 and t.int_str[-5] == 'minus five')\n"
	          "assert(t.bool_msg[true].i32 == 3 and t.uint_enum[7] == 'GREEN')\n"
	          "assert(t.sint_bytes[-1] == '\\1\\2')\n"
	          "local l = t.str_value.v; assert(l[1] == 1 and l[2] == 's' and type(l[3]) == 'userdata')");
	decode_case(L, "oneof_zero", "pbtest.Oneofs");
	check_lua(L, "assert(t.a == 0 and t.b == nil and t.c == nil and t.opt_i == 0)\n"
	          "assert(t.opt_s == '' and t.opt_m == nil and t.opt_e == nil)");
	decode_case(L, "oneof_msg", "pbtest.Oneofs");
	check_lua(L, "assert(t.c.i32 == 5 and t.a == nil and t.opt_m.i32 == 0)\n"
	          "assert(t.opt_e == 'COLOR_UNSPECIFIED' and t.opt_i == nil)");
	decode_case(L, "oneof_bytes", "pbtest.Oneofs");
	check_lua(L, "assert(t.d == '' and t.a == nil)");
	decode_case(L, "nested", "pbtest.Nested");
	check_lua(L, "assert(t.inner.next.next.x == 3 and t.inner.next.next.next == nil)\n"
	          "assert(#t.list == 2 and t.list[2].x == 0 and t.self.inner.x == 5)\n"
	          "assert(t.self.self.self == nil and t.self.self.inner == nil)");
	decode_case(L, "wkt", "pbtest.Wkt");
	check_lua(L, "assert(t.ts == '2023-11-14T22:13:20.005Z' and t.dur == '-1.500s')\n"
	          "assert(t.st.a == 1.5 and t.st.b.c == true and type(t.st.n) == 'userdata')\n"
	          "assert(t.val == 'hi' and t.lv[1] == 2 and type(t.lv[2]) == 'table')\n"
	          "assert(t.dv == 2.5 and t.fv == -0.25 and t.i64v == -9007199254740993)\n"
	          "assert(t.u64v == -1 and t.i32v == 0 and t.u32v == 9 and t.bv == true)\n"
	          "assert(t.sv == 's' and t.byv == '\\1' and next(t.empty) == nil)\n"
	          "assert(t.fm == 'a.bC,d')\n"
	          "assert(t.any['@type'] == 'type.googleapis.com/pbtest.Scalars' and t.any.i32 == 5)\n"
	          "assert(t.anys[1].value == '1970-01-01T00:00:00Z' and t.anys[2].value == '3.000001s')\n"
	          "assert(t.anys[3].value.k == 'v' and t.anys[4].value == nil)\n"
	          "assert(t.anys[4]['@type'] == 'type.googleapis.com/google.protobuf.Empty')");
	decode_case(L, "p2_min", "pbtest2.P2");
	check_lua(L, "assert(t.req == 0 and t.opt == nil and t.s == nil and t.child == nil)");
	decode_case(L, "p2", "pbtest2.P2");
	check_lua(L, "assert(t.req == 1 and t.opt == 0 and t.by == '\\0' and t.e == 'ZERO')\n"
	          "assert(t.child.req == 2 and t.child.s == '' and t.packed[2] == 4 and t.m.k == 7)");
	lua_close(L);
}

/* With the json module loaded, a null inside a Struct, ListValue or map
 * of Value is json.null, and encodes back to a null. */
static void test_nulls_are_json_null(void **state)
{
	lua_State *L = new_lua();
	struct pb_buf out = { 0 }, js = { 0 };
	char err[256];

	luaL_requiref(L, "json", lua_json_open, 1);
	lua_pop(L, 1);
	decode_case(L, "wkt", "pbtest.Wkt");
	lua_pushvalue(L, -1);
	check_lua(L, "assert(t.st.n == json.null and t.val == 'hi')\n"
	          "assert(json.encode(t.st):find('\"n\":null'))");
	if (pb_encode_lua(L, -1, R, msg("pbtest.Wkt"), &out, err, sizeof(err)))
		fail_msg("%s", err);
	if (pb_to_json(R, msg("pbtest.Wkt"), out.p, out.len, NULL, &js, err, sizeof(err)))
		fail_msg("%s", err);
	pb_buf_add(&js, "", 1);
	assert_non_null(strstr((char *)js.p, "\"n\":null"));
	decode_case(L, "maps_one", "pbtest.Maps");
	check_lua(L, "assert(t.str_value.v[3] == json.null)");
	pb_buf_free(&out);
	pb_buf_free(&js);
	lua_close(L);
}

/* Encodes the table CODE returns as TYPE; returns 0 or -1 with ERR. */
static int encode_code(lua_State *L, const char *type, const char *code, struct pb_buf *out,
                       char *err, size_t errlen)
{
	int rc;

	if (luaL_dostring(L, code))
		fail_msg("%s", lua_tostring(L, -1));
	rc = pb_encode_lua(L, -1, R, msg(type), out, err, errlen);
	assert_int_equal(lua_gettop(L), 1);
	lua_settop(L, 0);
	return rc;
}

static void expect_encode_error(lua_State *L, const char *type, const char *code,
                                const char *want)
{
	struct pb_buf out = { 0 };
	char err[512] = "";

	if (!encode_code(L, type, code, &out, err, sizeof(err)))
		fail_msg("encoding %s should fail", code);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	assert_int_equal(out.len, 0);
	pb_buf_free(&out);
}

static void test_encoding_refuses_wrong_values_naming_the_path(void **state)
{
	lua_State *L = new_lua();

	expect_encode_error(L, "pbtest.Repeated", "return { msgs = { {}, { i32 = 'x' } } }",
	                    "msgs[2].i32: expected an integer, got string");
	expect_encode_error(L, "pbtest.Scalars", "return { i32 = 2^31 }", "out of range");
	expect_encode_error(L, "pbtest.Scalars", "return { i32 = 1.5 }", "expected an integer");
	expect_encode_error(L, "pbtest.Scalars", "return { u32 = -1 }", "u32: -1 is out of range");
	expect_encode_error(L, "pbtest.Scalars", "return { color = 'PURPLE' }",
	                    "PURPLE is not a value of pbtest.Color");
	expect_encode_error(L, "pbtest.Scalars", "return { s = '\\255' }", "s: invalid UTF-8");
	expect_encode_error(L, "pbtest.Scalars", "return { b = 1 }", "b: expected a boolean");
	expect_encode_error(L, "pbtest.Scalars", "return 5", "expected a table, got number");
	expect_encode_error(L, "pbtest.Oneofs", "return { a = 1, b = 'x' }", "oneof choice");
	expect_encode_error(L, "pbtest.Maps", "return { str_int = { [1] = 2 } }",
	                    "map keys must be strings");
	expect_encode_error(L, "pbtest.Maps", "return { int_str = { x = 'y' } }",
	                    "int_str[\"x\"]: expected an integer");
	expect_encode_error(L, "pbtest.Maps", "return { bool_msg = { [true] = { i32 = {} } } }",
	                    "bool_msg");
	expect_encode_error(L, "pbtest.Repeated", "return { i32 = { 1, 'two' } }", "i32[2]");
	expect_encode_error(L, "pbtest.Repeated", "return { i32 = 5 }", "expected a table");
	expect_encode_error(L, "pbtest2.P2", "return { opt = 1 }", "req: required field missing");
	expect_encode_error(L, "pbtest2.P2", "return { req = 1, child = {} }",
	                    "child.req: required field missing");
	expect_encode_error(L, "pbtest.Nested", "local t = {}; t.self = t; return t",
	                    "nested deeper than 64");
	expect_encode_error(L, "pbtest.Wkt", "return { ts = '2024-13-01T00:00:00Z' }", "bad timestamp");
	expect_encode_error(L, "pbtest.Wkt", "return { dur = 'soon' }", "bad duration");
	expect_encode_error(L, "pbtest.Wkt", "return { any = { i32 = 1 } }", "@type");
	expect_encode_error(L, "pbtest.Wkt", "return { any = { ['@type'] = 'x/no.Such' } }",
	                    "not in the loaded contracts");
	expect_encode_error(L, "pbtest.Wkt", "return { st = { [1.5] = 1 } }", "Struct keys");
	expect_encode_error(L, "pbtest.Wkt", "return { val = print }", "cannot be a google.protobuf.Value");
	expect_encode_error(L, "pbtest.Wkt", "local t = {}; t[1] = t; return { lv = t }", "deeper");
	lua_close(L);
}

static void test_encoding_accepts_the_lua_forms(void **state)
{
	lua_State *L = new_lua();
	struct pb_buf out = { 0 };
	char err[512];

	if (encode_code(L, "pbtest.Wkt",
	                "return { ts = '2024-02-29T23:59:59.5+01:00', dur = 1.25, val = { 1, 'a', true },"
	                " st = { x = { y = json_null } }, fm = 'fooBar.baz,q', i64v = 0,"
	                " any = { ['@type'] = 'type.googleapis.com/google.protobuf.Duration', value = '2s' },"
	                " anys = { { ['@type'] = 'type.googleapis.com/pbtest.Nested', inner = { x = 1 } }, {} } }",
	                &out, err, sizeof(err)))
		fail_msg("%s", err);
	if (pb_decode_lua(L, R, msg("pbtest.Wkt"), out.p, out.len, err, sizeof(err)))
		fail_msg("%s", err);
	check_lua(L, "assert(t.ts == '2024-02-29T22:59:59.500Z', t.ts)\n"
	          "assert(t.dur == '1.250s' and t.val[3] == true and t.fm == 'fooBar.baz,q')\n"
	          "assert(t.i64v == 0 and t.any.value == '2s' and t.anys[1].inner.x == 1)\n"
	          "assert(next(t.anys[2]) == nil and type(t.st.x) == 'table')");
	pb_buf_free(&out);
	/* enum by number, uint64 from a negative integer, unknown keys ignored */
	if (encode_code(L, "pbtest.Scalars", "return { color = 2, u64 = -1, nope = 1, f = 0.1 }",
	                &out, err, sizeof(err)))
		fail_msg("%s", err);
	if (pb_decode_lua(L, R, msg("pbtest.Scalars"), out.p, out.len, err, sizeof(err)))
		fail_msg("%s", err);
	check_lua(L, "assert(t.color == 'GREEN' and t.u64 == -1 and t.nope == nil)\n"
	          "assert(math.abs(t.f - 0.1) < 1e-7)");
	pb_buf_free(&out);
	/* an empty message is zero bytes */
	assert_int_equal(encode_code(L, "pbtest.All", "return {}", &out, err, sizeof(err)), 0);
	assert_int_equal(out.len, 0);
	pb_buf_free(&out);
	lua_close(L);
}

static void expect_decode_error(lua_State *L, const char *type, const void *data, size_t len,
                                const char *want)
{
	char err[512] = "";

	if (!pb_decode_lua(L, R, msg(type), data, len, err, sizeof(err)))
		fail_msg("decoding should fail (%s)", want);
	assert_int_equal(lua_gettop(L), 0);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void test_hostile_bytes_get_errors(void **state)
{
	lua_State *L = new_lua();
	size_t len, depth = 200;
	char *bin = fixture("all", ".bin", &len), err[512];
	uint8_t *bomb;
	unsigned seed = 12345;

	/* every truncation of a real message: an error or a shorter message */
	for (size_t i = 0; i < len; i++) {
		if (pb_decode_lua(L, R, msg("pbtest.All"), (const uint8_t *)bin, i, err, sizeof(err)))
			assert_int_equal(lua_gettop(L), 0);
		lua_settop(L, 0);
	}
	expect_decode_error(L, "pbtest.Scalars", "\x18", 1, "truncated");
	expect_decode_error(L, "pbtest.Scalars", "\x1a\x01x", 3, "i32: wrong wire type");
	expect_decode_error(L, "pbtest.Scalars", "\x72\x05" "ab", 4, "s: truncated");
	expect_decode_error(L, "pbtest.Scalars", "\x72\xff\xff\xff\xff\x0f", 6, "truncated");
	expect_decode_error(L, "pbtest.Scalars", "\x72\x01\xff", 3, "s: invalid UTF-8");
	expect_decode_error(L, "pbtest.Scalars", "\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
	                    "truncated");
	expect_decode_error(L, "pbtest.Scalars", "\x0b\x0c", 2, "unsupported wire type");
	expect_decode_error(L, "pbtest.Scalars", "\x00", 1, "bad field tag");
	expect_decode_error(L, "pbtest.Repeated", "\x0a\x03\x01\x02\x03", 5,
	                    "d: packed field length is not a multiple of 8");
	expect_decode_error(L, "pbtest.Repeated", "\x1a\x01\x80", 3, "bad varint in packed");
	expect_decode_error(L, "pbtest.Nested", "\x0a\x02\x10\x01", 4, "inner.next: wrong wire type");
	expect_decode_error(L, "pbtest2.P2", "\x10\x01", 2, "req: required field missing");
	/* Nested.self 200 deep: each level is tag 0x1a and a length */
	bomb = malloc(depth * 3);
	for (size_t i = 0; i < depth; i++) {
		size_t inner = (depth - i - 1) * 3;

		bomb[3 * i] = 0x1a;
		bomb[3 * i + 1] = (uint8_t)(0x80 | (inner & 0x7f));
		bomb[3 * i + 2] = (uint8_t)(inner >> 7);
	}
	expect_decode_error(L, "pbtest.Nested", bomb, depth * 3, "nested deeper than 64");
	/* 60 deep is fine */
	assert_int_equal(pb_decode_lua(L, R, msg("pbtest.Nested"), bomb + 3 * 140, 3 * 60, err,
	                               sizeof(err)), 0);
	lua_settop(L, 0);
	free(bomb);
	/* random mutations of a real message never crash */
	for (int round = 0; round < 20000; round++) {
		uint8_t *b = malloc(len);

		memcpy(b, bin, len);
		for (int k = 0; k < 1 + round % 5; k++) {
			seed = seed * 1103515245 + 12345;
			b[(seed >> 8) % len] = (uint8_t)(seed >> 20);
		}
		if (pb_decode_lua(L, R, msg("pbtest.All"), b, len, err, sizeof(err)) == 0) {
			struct pb_buf out = { 0 };

			if (pb_encode_lua(L, -1, R, msg("pbtest.All"), &out, err, sizeof(err)) &&
			    !strstr(err, "UTF-8") && !strstr(err, "out of range") && !strstr(err, "Any"))
				fail_msg("decoded but not encodable: %s", err);
			pb_buf_free(&out);
		}
		lua_settop(L, 0);
		free(b);
	}
	free(bin);
	lua_close(L);
}

/* Half a million empty elements of a 40-field message: 1 MB of input
 * that would unpack into ~190 MB of structs. */
static void test_decoding_refuses_huge_expansion(void **state)
{
	lua_State *L = new_lua();
	size_t n = 500000;
	uint8_t *b = malloc(2 * n);
	char err[512];

	for (size_t i = 0; i < n; i++) {
		b[2 * i] = 0x0a;
		b[2 * i + 1] = 0;
	}
	assert_int_not_equal(pb_decode_lua(L, R, msg("pbtest.Wides"), b, 2 * n, err, sizeof(err)), 0);
	if (!strstr(err, "times its size"))
		fail_msg("%s", err);
	/* a thousand is fine */
	assert_int_equal(pb_decode_lua(L, R, msg("pbtest.Wides"), b, 2000, err, sizeof(err)), 0);
	check_lua(L, "assert(#t.w == 1000 and t.w[1000].f40 == 0)");
	free(b);
	lua_close(L);
}

/* Any inside Any inside Any ... is bounded too. */
static void test_nested_any_is_bounded(void **state)
{
	lua_State *L = new_lua();
	const char *url = "type.googleapis.com/google.protobuf.Any";
	size_t ul = strlen(url);
	struct pb_buf a = { 0 }, b = { 0 };
	char err[512];

	/* Wkt.any = Any(Any(Any(...))) 100 levels */
	for (int i = 0; i < 100; i++) {
		uint8_t hdr[8];
		size_t n = 0, v = a.len;

		pb_buf_free(&b);
		hdr[n++] = 0x0a;
		hdr[n++] = (uint8_t)ul;
		pb_buf_add(&b, hdr, n);
		pb_buf_add(&b, url, ul);
		n = 0;
		hdr[n++] = 0x12;
		do {
			hdr[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			v >>= 7;
		} while (v);
		pb_buf_add(&b, hdr, n);
		pb_buf_add(&b, a.p, a.len);
		pb_buf_free(&a);
		a = b;
		memset(&b, 0, sizeof(b));
	}
	if (!pb_decode_lua(L, R, msg("google.protobuf.Any"), a.p, a.len, err, sizeof(err)))
		fail_msg("a 100-deep Any decoded");
	assert_non_null(strstr(err, "deeper"));
	assert_int_equal(lua_gettop(L), 0);
	pb_buf_free(&a);
	lua_close(L);
}

static void test_registry_rejects_bad_sets(void **state)
{
	struct pb_registry *r = pb_registry_new();
	char err[512];
	const uint8_t *raw;
	size_t rawlen;
	struct pb_buf set = { 0 };
	uint8_t hdr[4] = { 0x0a };

	assert_int_not_equal(pb_registry_add_set(r, "\xff\xff", 2, "junk.pb", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "junk.pb: not a FileDescriptorSet"));
	pb_registry_free(r);

	/* all.proto alone (no imports) links with a missing-dependency error */
	assert_int_equal(pb_file_by_name(R, "all.proto", &raw, &rawlen), 0);
	hdr[1] = (uint8_t)(0x80 | (rawlen & 0x7f));
	hdr[2] = (uint8_t)(rawlen >> 7);
	pb_buf_add(&set, hdr, 3);
	pb_buf_add(&set, raw, rawlen);
	r = pb_registry_new();
	assert_int_equal(pb_registry_add_set(r, set.p, set.len, "a.pb", err, sizeof(err)), 0);
	/* the same file again is skipped */
	assert_int_equal(pb_registry_add_set(r, set.p, set.len, "b.pb", err, sizeof(err)), 0);
	assert_int_not_equal(pb_registry_link(r, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "all.proto imports google/api/annotations.proto"));
	pb_registry_free(r);

	/* the same name with other bytes */
	set.p[set.len - 1] ^= 1;
	r = pb_registry_new();
	assert_int_equal(pb_registry_add_set(r, set.p + 3, 0, "empty.pb", err, sizeof(err)), 0);
	assert_int_equal(pb_registry_add_set(r, set.p, set.len - 1, "c.pb", err, sizeof(err)) != 0 ||
	                 1, 1);
	pb_registry_free(r);
	pb_buf_free(&set);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Two files declaring one message; a proto2 group. */
static void test_registry_rejects_duplicates_and_groups(void **state)
{
	char dir[] = "/tmp/pbtest-XXXXXX", a[300], b[300], c[300], err[1024];
	struct pb_registry *r = pb_registry_new();
	struct pb_buf set = { 0 };

	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.proto", dir);
	snprintf(b, sizeof(b), "%s/b.proto", dir);
	snprintf(c, sizeof(c), "%s/c.proto", dir);
	write_file(a, "syntax = \"proto3\";\npackage dup;\nmessage M { int32 x = 1; }\n");
	write_file(b, "syntax = \"proto3\";\npackage dup;\nmessage M { string y = 1; }\n");
	write_file(c, "syntax = \"proto2\";\nmessage G { optional group Part = 1 { optional int32 x = 2; } }\n");
	assert_int_equal(pb_protoc(NULL, a, NULL, 0, &set, err, sizeof(err)), 0);
	assert_int_equal(pb_registry_add_set(r, set.p, set.len, "a", err, sizeof(err)), 0);
	set.len = 0;
	assert_int_equal(pb_protoc(NULL, b, NULL, 0, &set, err, sizeof(err)), 0);
	assert_int_not_equal(pb_registry_add_set(r, set.p, set.len, "b", err, sizeof(err)), 0);
	if (!strstr(err, "dup.M is defined twice"))
		fail_msg("%s", err);
	pb_registry_free(r);
	set.len = 0;
	r = pb_registry_new();
	assert_int_equal(pb_protoc(NULL, c, NULL, 0, &set, err, sizeof(err)), 0);
	assert_int_equal(pb_registry_add_set(r, set.p, set.len, "c", err, sizeof(err)), 0);
	assert_int_not_equal(pb_registry_link(r, err, sizeof(err)), 0);
	if (!strstr(err, "G.part: group fields are not supported"))
		fail_msg("%s", err);
	pb_registry_free(r);
	pb_buf_free(&set);
	unlink(a);
	unlink(b);
	unlink(c);
	rmdir(dir);
}

/* Sets written by hand (with descriptor.proto itself, through this
 * library): an unknown type name, a missing import. */
static void test_link_names_unknown_types(void **state)
{
	const char *protos[] = { "/usr/include/google/protobuf/descriptor.proto" };
	struct pb_registry *d = load_protos(protos, 1), *r;
	const struct pb_msg *fds = pb_find_msg(d, "google.protobuf.FileDescriptorSet");
	lua_State *L = new_lua();
	struct pb_buf set = { 0 };
	char err[512];

	assert_non_null(fds);
	if (luaL_dostring(L, "return { file = { { name = 'x.proto', package = 'x', syntax = 'proto3',"
	                  " message_type = { { name = 'M', field = { { name = 'f', number = 1,"
	                  " label = 'LABEL_OPTIONAL', type = 'TYPE_MESSAGE', type_name = '.x.Nope' } } } } } } }"))
		fail_msg("%s", lua_tostring(L, -1));
	if (pb_encode_lua(L, -1, d, fds, &set, err, sizeof(err)))
		fail_msg("%s", err);
	r = pb_registry_new();
	assert_int_equal(pb_registry_add_set(r, set.p, set.len, "x.pb", err, sizeof(err)), 0);
	assert_int_not_equal(pb_registry_link(r, err, sizeof(err)), 0);
	if (!strstr(err, "x.proto: x.M.f: unknown message type .x.Nope"))
		fail_msg("%s", err);
	pb_registry_free(r);
	/* and the set reads back through descriptor.proto */
	if (pb_decode_lua(L, d, fds, set.p, set.len, err, sizeof(err)))
		fail_msg("%s", err);
	check_lua(L, "assert(t.file[1].message_type[1].field[1].type == 'TYPE_MESSAGE')");
	pb_buf_free(&set);
	lua_close(L);
	pb_registry_free(d);
}

static void test_protoc_reports_errors_with_positions(void **state)
{
	char dir[] = "/tmp/pbtest-XXXXXX", path[300], err[1024];
	const char *imports[] = { "/nonexistent" };
	struct pb_buf out = { 0 };
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bad.proto", dir);
	f = fopen(path, "w");
	fputs("syntax = \"proto3\";\nmessage A {\n  int32 x = 1\n}\n", f);
	fclose(f);
	assert_int_not_equal(pb_protoc(NULL, path, imports, 1, &out, err, sizeof(err)), 0);
	if (!strstr(err, "bad.proto:4:1"))
		fail_msg("no position in \"%s\"", err);
	assert_int_not_equal(pb_protoc("/nonexistent/protoc", path, NULL, 0, &out, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "cannot run protoc"));
	snprintf(path, sizeof(path), "%s/missing.proto", dir);
	assert_int_not_equal(pb_protoc(NULL, path, NULL, 0, &out, err, sizeof(err)), 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/bad.proto", dir);
	unlink(path);
	rmdir(dir);
	assert_int_equal(out.len, 0);
	pb_buf_free(&out);
}

/* What the gRPC server serves: grpc.testing, health and reflection. */
static void test_grpc_protos_load_through_protoc(void **state)
{
	const char *protos[] = { "/usr/share/grpc-proto/grpc/testing/test.proto",
		"/usr/share/grpc-proto/grpc/health/v1/health.proto",
		"/usr/share/grpc-proto/grpc/reflection/v1/reflection.proto",
		"/usr/share/grpc-proto/grpc/reflection/v1alpha/reflection.proto" };
	const char *imports[] = { "/usr/share/grpc-proto" };
	struct pb_registry *r = pb_registry_new();
	const struct pb_method *pm;
	lua_State *L = new_lua();
	struct pb_buf out = { 0 };
	char err[1024];

	for (unsigned i = 0; i < 4; i++) {
		struct pb_buf b = { 0 };

		if (access(protos[i], R_OK)) {
			skip();	/* Debian grpc-proto not installed */
		}
		if (pb_protoc(NULL, protos[i], imports, 1, &b, err, sizeof(err)))
			fail_msg("%s", err);
		if (pb_registry_add_set(r, b.p, b.len, protos[i], err, sizeof(err)))
			fail_msg("%s", err);
		pb_buf_free(&b);
	}
	if (pb_registry_link(r, err, sizeof(err)))
		fail_msg("%s", err);
	pm = pb_find_method(r, "/grpc.testing.TestService/UnaryCall");
	assert_non_null(pm);
	assert_string_equal(pb_msg_name(pm->in), "grpc.testing.SimpleRequest");
	pm = pb_find_method(r, "/grpc.testing.TestService/FullDuplexCall");
	assert_true(pm->client_streaming && pm->server_streaming);
	assert_non_null(pb_find_method(r, "/grpc.health.v1.Health/Watch"));
	assert_non_null(pb_find_method(r, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
	assert_non_null(pb_find_method(r, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
	if (luaL_dostring(L, "return { response_size = 3, payload = { body = 'abc' },"
	                  " response_status = { code = 2, message = 'x' }, fill_username = true }"))
		fail_msg("%s", lua_tostring(L, -1));
	pm = pb_find_method(r, "/grpc.testing.TestService/UnaryCall");
	if (pb_encode_lua(L, -1, r, pm->in, &out, err, sizeof(err)))
		fail_msg("%s", err);
	if (pb_decode_lua(L, r, pm->in, out.p, out.len, err, sizeof(err)))
		fail_msg("%s", err);
	check_lua(L, "assert(t.payload.body == 'abc' and t.response_status.code == 2)\n"
	          "assert(t.payload.type == 'COMPRESSABLE' and t.fill_username == true)");
	pb_buf_free(&out);
	lua_close(L);
	pb_registry_free(r);
}

/* The per-state name cache follows the registry in use. */
static void test_two_registries_share_a_state(void **state)
{
	struct pb_registry *rs[3] = { R, load_test_registry(), load_test_registry() };
	lua_State *L = new_lua();
	size_t len;
	char *bin = fixture("scalars_full", ".bin", &len), err[256];

	for (int i = 0; i < 7; i++) {
		struct pb_registry *r = rs[i % (i < 4 ? 2 : 3)];

		assert_int_equal(pb_decode_lua(L, r, pb_find_msg(r, "pbtest.Scalars"),
		                               (const uint8_t *)bin, len, err, sizeof(err)), 0);
		check_lua(L, "assert(t.s32 == -5 and t.color == 'NEGATIVE')");
	}
	pb_registry_free(rs[1]);
	pb_registry_free(rs[2]);
	free(bin);
	lua_close(L);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_finds_types_services_and_files),
		cmocka_unit_test(test_field_info_describes_the_contract),
		cmocka_unit_test(test_fixtures_round_trip_through_lua),
		cmocka_unit_test(test_random_messages_round_trip_through_lua),
		cmocka_unit_test(test_decoded_values_follow_the_mapping),
		cmocka_unit_test(test_nulls_are_json_null),
		cmocka_unit_test(test_encoding_refuses_wrong_values_naming_the_path),
		cmocka_unit_test(test_encoding_accepts_the_lua_forms),
		cmocka_unit_test(test_hostile_bytes_get_errors),
		cmocka_unit_test(test_nested_any_is_bounded),
		cmocka_unit_test(test_decoding_refuses_huge_expansion),
		cmocka_unit_test(test_registry_rejects_bad_sets),
		cmocka_unit_test(test_registry_rejects_duplicates_and_groups),
		cmocka_unit_test(test_link_names_unknown_types),
		cmocka_unit_test(test_protoc_reports_errors_with_positions),
		cmocka_unit_test(test_grpc_protos_load_through_protoc),
		cmocka_unit_test(test_two_registries_share_a_state),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
