/*
 * test_pb_json.c - messages to and from JSON (the proto3 JSON mapping),
 * checked against Google's json_format output (the .json files of data/pb).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

static const struct pb_msg *msg(const char *name)
{
	const struct pb_msg *m = pb_find_msg(R, name);

	if (!m)
		fail_msg("no message %s", name);
	return m;
}

/* Every fixture's JSON is what Google's json_format wrote (with and
 * without defaults), and that JSON parses back to the same message. */
static void test_fixtures_match_json_format(void **state)
{
	struct pb_case cases[64];
	unsigned n = load_cases(cases, 64);

	assert_true(n >= 10);
	for (unsigned i = 0; i < n; i++) {
		const struct pb_msg *m = msg(cases[i].type);
		size_t len, jl, dl;
		char *bin = fixture(cases[i].name, ".bin", &len), err[512];
		char *js = fixture(cases[i].name, ".json", &jl);
		char *dj = fixture(cases[i].name, ".dflt.json", &dl);
		struct pb_json_opts dflt = { .emit_defaults = 1 };
		struct pb_buf out = { 0 }, back = { 0 }, again = { 0 };

		if (pb_to_json(R, m, (const uint8_t *)bin, len, NULL, &out, err, sizeof(err)))
			fail_msg("to_json %s: %s", cases[i].name, err);
		if (!json_text_same((char *)out.p, out.len, js, jl))
			fail_msg("%s: ours %.*s\njson_format %s", cases[i].name, (int)out.len, out.p, js);
		out.len = 0;
		if (pb_to_json(R, m, (const uint8_t *)bin, len, &dflt, &out, err, sizeof(err)))
			fail_msg("to_json %s: %s", cases[i].name, err);
		if (!json_text_same((char *)out.p, out.len, dj, dl))
			fail_msg("%s defaults: ours %.*s\njson_format %s", cases[i].name, (int)out.len,
			         out.p, dj);
		if (pb_from_json(R, m, js, jl, NULL, &back, err, sizeof(err)))
			fail_msg("from_json %s: %s", cases[i].name, err);
		if (back.len != len || (len && memcmp(back.p, bin, len))) {
			/* map order may differ: compare what the bytes say */
			if (!strcmp(cases[i].name, "scalars_full") || !strcmp(cases[i].name, "repeated_all") ||
			    !strcmp(cases[i].name, "oneof_zero") || !strcmp(cases[i].name, "p2"))
				fail_msg("%s: from_json bytes differ from protobuf's", cases[i].name);
			if (pb_to_json(R, m, back.p, back.len, NULL, &again, err, sizeof(err)))
				fail_msg("%s: %s", cases[i].name, err);
			if (!json_text_same((char *)again.p, again.len, js, jl))
				fail_msg("%s: round trip gave %.*s", cases[i].name, (int)again.len, again.p);
		}
		pb_buf_free(&out);
		pb_buf_free(&back);
		pb_buf_free(&again);
		free(bin);
		free(js);
		free(dj);
	}
}

static int unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	if (!strcmp(h, "-"))
		return 0;
	for (; h[0] && h[1]; h += 2) {
		unsigned v;

		if (sscanf(h, "%2x", &v) != 1)
			fail_msg("bad hex");
		out[n++] = (uint8_t)v;
	}
	return (int)n;
}

/* 150 random messages made by make_fixtures.py (Google's serializer and
 * json_format): ours must write the same JSON, with and without defaults,
 * and read it back to the same JSON. */
static void test_random_messages_match_json_format(void **state)
{
	size_t len;
	char *txt = fixture("random", ".txt", &len), *line, *save = NULL, err[512];
	unsigned n = 0;
	uint8_t *bin = malloc(len / 2 + 1);

	for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char type[128], hex[65536];
		int dflt, off = 0, bl;
		struct pb_json_opts o = { 0 };
		struct pb_buf js = { 0 }, back = { 0 }, again = { 0 };
		const struct pb_msg *m;

		if (sscanf(line, "%127s %d %65535s %n", type, &dflt, hex, &off) != 3 || !off)
			fail_msg("bad line %u", n);
		m = msg(type);
		o.emit_defaults = dflt;
		bl = unhex(hex, bin);
		if (pb_to_json(R, m, bin, (size_t)bl, &o, &js, err, sizeof(err)))
			fail_msg("case %u (%s): %s", n, type, err);
		if (!json_text_same((char *)js.p, js.len, line + off, strlen(line + off)))
			fail_msg("case %u (%s): ours %.*s\njson_format %s", n, type, (int)js.len, js.p,
			         line + off);
		if (pb_from_json(R, m, line + off, strlen(line + off), NULL, &back, err, sizeof(err)))
			fail_msg("case %u (%s) from_json: %s", n, type, err);
		if (pb_to_json(R, m, back.p, back.len, &o, &again, err, sizeof(err)))
			fail_msg("case %u (%s): %s", n, type, err);
		if (!json_text_same((char *)again.p, again.len, line + off, strlen(line + off)))
			fail_msg("case %u (%s): read back as %.*s", n, type, (int)again.len, again.p);
		pb_buf_free(&js);
		pb_buf_free(&back);
		pb_buf_free(&again);
		n++;
	}
	assert_true(n >= 100);
	free(bin);
	free(txt);
}

static char *to_json(const char *type, const char *json, const struct pb_json_opts *o)
{
	struct pb_buf b = { 0 }, j = { 0 };
	char err[512];

	if (pb_from_json(R, msg(type), json, strlen(json), o, &b, err, sizeof(err)))
		fail_msg("from_json %s: %s", json, err);
	if (pb_to_json(R, msg(type), b.p, b.len, o, &j, err, sizeof(err)))
		fail_msg("to_json %s: %s", json, err);
	pb_buf_add(&j, "", 1);
	pb_buf_free(&b);
	return (char *)j.p;
}

static void expect_same(const char *type, const char *in, const char *want,
                        const struct pb_json_opts *o)
{
	char *got = to_json(type, in, o);

	if (!json_text_same(got, strlen(got), want, strlen(want)))
		fail_msg("%s gave %s, want %s", in, got, want);
	free(got);
}

static void test_json_input_forms(void **state)
{
	struct pb_json_opts names = { .original_names = 1 }, lax = { .ignore_unknown = 1 };

	/* both names; 64-bit ints as numbers or strings; floats as strings */
	expect_same("pbtest.Scalars", "{\"big_field_number\": 1, \"i64\": 5, \"u64\": \"18446744073709551615\","
	            " \"d\": \"-Infinity\", \"f\": \"1.5\", \"i32\": \"-3\", \"u32\": 1e3, \"sf64\": \"1e2\"}",
	            "{\"bigFieldNumber\": 1, \"i64\": \"5\", \"u64\": \"18446744073709551615\","
	            " \"d\": \"-Infinity\", \"f\": 1.5, \"i32\": -3, \"u32\": 1000, \"sf64\": \"100\"}", NULL);
	expect_same("pbtest.Scalars", "{\"u64\": 1e3, \"fx64\": \"2.5e1\", \"i64\": -9.2e18}",
	            "{\"u64\": \"1000\", \"fx64\": \"25\", \"i64\": \"-9200000000000000000\"}", NULL);
	expect_same("pbtest.Scalars", "{\"bigFieldNumber\": 2, \"color\": 2}",
	            "{\"big_field_number\": 2, \"color\": \"GREEN\"}", &names);
	/* bytes: standard or url-safe base64, padded or not */
	expect_same("pbtest.Scalars", "{\"by\": \"-_8\"}", "{\"by\": \"+/8=\"}", NULL);
	expect_same("pbtest.Scalars", "{\"by\": \"AQI\"}", "{\"by\": \"AQI=\"}", NULL);
	/* null means not set; unknown fields and enum names skipped when asked */
	expect_same("pbtest.Scalars", "{\"i32\": null, \"nope\": 1, \"color\": \"PURPLE\"}", "{}", &lax);
	expect_same("pbtest.Oneofs", "{\"c\": {}, \"optI\": 0}", "{\"c\": {}, \"optI\": 0}", NULL);
	expect_same("pbtest.Maps", "{\"intStr\": {\"-1\": \"a\"}, \"boolMsg\": {\"false\": {}}}",
	            "{\"intStr\": {\"-1\": \"a\"}, \"boolMsg\": {\"false\": {}}}", NULL);
	expect_same("pbtest.Wkt", "{\"ts\": \"1970-01-01T01:00:00.000000001+01:00\", \"dur\": \"-0.5s\","
	            " \"val\": [1, null, {\"a\": \"b\"}], \"fm\": \"\", \"i64v\": \"7\", \"bv\": false}",
	            "{\"ts\": \"1970-01-01T00:00:00.000000001Z\", \"dur\": \"-0.500s\","
	            " \"val\": [1, null, {\"a\": \"b\"}], \"fm\": \"\", \"i64v\": \"7\", \"bv\": false}", NULL);
	expect_same("pbtest.Wkt", "{\"val\": null}", "{\"val\": null}", NULL);
	expect_same("google.protobuf.Timestamp", "\"2000-01-01T00:00:00Z\"", "\"2000-01-01T00:00:00Z\"", NULL);
	expect_same("google.protobuf.Value", "{\"a\": [true]}", "{\"a\": [true]}", NULL);
	expect_same("pbtest2.P2", "{\"req\": 1}", "{\"req\": 1}", NULL);
}

static void expect_error(const char *type, const char *in, const char *want)
{
	struct pb_buf b = { 0 };
	char err[512] = "";

	if (!pb_from_json(R, msg(type), in, strlen(in), NULL, &b, err, sizeof(err)))
		fail_msg("%s should fail", in);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	assert_int_equal(b.len, 0);
	pb_buf_free(&b);
}

static void test_json_errors_name_the_field(void **state)
{
	expect_error("pbtest.Scalars", "{\"i32\": ", "bad JSON");
	expect_error("pbtest.Scalars", "[]", "expected an object");
	expect_error("pbtest.Scalars", "{\"nope\": 1}", "pbtest.Scalars has no field \"nope\"");
	expect_error("pbtest.Scalars", "{\"i32\": 2147483648}", "i32: 2147483648 is out of range");
	expect_error("pbtest.Scalars", "{\"i32\": 1.5}", "i32: 1.5 is not an integer");
	expect_error("pbtest.Scalars", "{\"u64\": \"-1\"}", "not an integer");
	expect_error("pbtest.Scalars", "{\"u64\": \"18446744073709551616\"}", "u64");
	expect_error("pbtest.Scalars", "{\"i64\": \"12x\"}", "i64");
	expect_error("pbtest.Scalars", "{\"i64\": 9.3e18}", "not an integer in range");
	expect_error("pbtest.Scalars", "{\"u64\": 1.8446744073709552e19}", "not an integer in range");
	expect_error("pbtest.Scalars", "{\"u64\": -1}", "out of range");
	expect_error("pbtest.Scalars", "{\"f\": 1e39}", "out of range for a float");
	expect_error("pbtest.Scalars", "{\"b\": \"true\"}", "b: expected true or false");
	expect_error("pbtest.Scalars", "{\"by\": \"***\"}", "by: bad base64");
	expect_error("pbtest.Scalars", "{\"color\": \"PURPLE\"}", "not a value of pbtest.Color");
	expect_error("pbtest.Scalars", "{\"s\": 5}", "s: expected a string, got an integer");
	expect_error("pbtest.Repeated", "{\"msgs\": [{}, {\"i32\": \"x\"}]}", "msgs[2].i32");
	expect_error("pbtest.Repeated", "{\"i32\": [1, null]}", "null in an array");
	expect_error("pbtest.Oneofs", "{\"a\": 1, \"b\": \"x\"}", "oneof choice");
	expect_error("pbtest.Maps", "{\"intStr\": {\"x\": \"a\"}}", "int_str[\"x\"]");
	expect_error("pbtest.Maps", "{\"boolMsg\": {\"yes\": {}}}", "not true or false");
	expect_error("pbtest.Wkt", "{\"ts\": \"2024-02-30T00:00:00Z\"}", "ts: bad timestamp");
	expect_error("pbtest.Wkt", "{\"ts\": \"10000-01-01T00:00:00Z\"}", "bad timestamp");
	expect_error("pbtest.Wkt", "{\"dur\": \"1.5\"}", "bad duration");
	expect_error("pbtest.Wkt", "{\"dur\": \"315576000001s\"}", "bad duration");
	expect_error("pbtest.Wkt", "{\"any\": {\"i32\": 1}}", "@type");
	expect_error("pbtest.Wkt", "{\"any\": {\"@type\": \"x/pbtest.Nope\"}}", "not in the loaded");
	expect_error("pbtest.Wkt", "{\"any\": {\"@type\": \"x/pbtest.Scalars\", \"zz\": 1}}", "zz");
	expect_error("pbtest.Wkt", "{\"fm\": \"a_b\"}", "bad field mask");
	expect_error("pbtest2.P2", "{\"opt\": 1}", "req: required field missing");
}

static void test_json_depth_is_bounded(void **state)
{
	struct pb_buf b = { 0 };
	char err[256];
	size_t n = 0;
	char *deep = malloc(200 * 10 + 10);

	/* Nested.self 200 deep */
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(deep + n, "{\"self\":");
	n += (size_t)sprintf(deep + n, "{}");
	for (int i = 0; i < 200; i++)
		deep[n++] = '}';
	assert_int_not_equal(pb_from_json(R, msg("pbtest.Nested"), deep, n, NULL, &b, err,
	                                  sizeof(err)), 0);
	if (!strstr(err, "deeper"))
		fail_msg("%s", err);
	/* Value lists 200 deep */
	n = 0;
	for (int i = 0; i < 200; i++)
		deep[n++] = '[';
	for (int i = 0; i < 200; i++)
		deep[n++] = ']';
	assert_int_not_equal(pb_from_json(R, msg("google.protobuf.Value"), deep, n, NULL, &b, err,
	                                  sizeof(err)), 0);
	free(deep);
	pb_buf_free(&b);
}

static void test_json_output_escapes_and_rejects_bad_utf8(void **state)
{
	struct pb_buf out = { 0 };
	char err[256];

	/* s = "\x01\"\\" */
	assert_int_equal(pb_to_json(R, msg("pbtest.Scalars"), (const uint8_t *)"\x72\x03\x01\"\\", 5,
	                            NULL, &out, err, sizeof(err)), 0);
	pb_buf_add(&out, "", 1);
	assert_string_equal((char *)out.p, "{\"s\":\"\\u0001\\\"\\\\\"}");
	out.len = 0;
	assert_int_not_equal(pb_to_json(R, msg("pbtest.Scalars"), (const uint8_t *)"\x72\x01\xc3", 3,
	                                NULL, &out, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "s: invalid UTF-8"));
	assert_int_not_equal(pb_to_json(R, msg("pbtest.Scalars"), (const uint8_t *)"\x72\x05", 2,
	                                NULL, &out, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "truncated"));
	/* a Timestamp out of range */
	assert_int_not_equal(pb_to_json(R, msg("google.protobuf.Timestamp"),
	                                (const uint8_t *)"\x08\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10,
	                                NULL, &out, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "Timestamp out of range"));
	assert_int_equal(out.len, 0);
	pb_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures_match_json_format),
		cmocka_unit_test(test_random_messages_match_json_format),
		cmocka_unit_test(test_json_input_forms),
		cmocka_unit_test(test_json_errors_name_the_field),
		cmocka_unit_test(test_json_depth_is_bounded),
		cmocka_unit_test(test_json_output_escapes_and_rejects_bad_utf8),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
