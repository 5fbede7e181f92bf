/*
 * test_grpc_transcode.c - unit tests for the grpc plugin's REST transcoding
 * (plugins/grpc/transcode_path.c: google.api.http path templates;
 * transcode_req.c: the request's JSON, response_body, statuses) and the
 * grpc-web-text base64 reader (web_text.c). Hostile templates and paths
 * included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapt.h"
#include "transcode.h"

/* pb.h's buffer, which web_text.c appends to (the plugin has it from the
 * protobuf library). */
int pb_buf_add(struct pb_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		uint8_t *p;

		while (cap < b->len + len)
			cap *= 2;
		if (!(p = realloc(b->p, cap)))
			return -1;
		b->p = p;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

void pb_buf_free(struct pb_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static char err[512];

/* Parses T or fails the test. */
static void parse_ok(struct tc_template *t, const char *text)
{
	err[0] = '\0';
	if (tc_template_parse(t, text, err, sizeof(err)) != 0)
		fail_msg("%s: %s", text, err);
}

static void parse_bad(const char *text, const char *why)
{
	struct tc_template t;

	err[0] = '\0';
	assert_int_equal(tc_template_parse(&t, text, err, sizeof(err)), -1);
	if (!strstr(err, why))
		fail_msg("%s: wanted \"%s\" in \"%s\"", text, why, err);
	tc_template_free(&t);
}

/* Matches PATH against TEXT: the values joined as "field=value;..." in
 * OUT, or -1. */
static int match(const char *text, const char *path, char *out, size_t outlen)
{
	struct tc_template t;
	struct tc_binding b[TC_MAX_VARS];
	int n;

	parse_ok(&t, text);
	n = tc_template_match(&t, path, strlen(path), b);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t l = strlen(out);

		snprintf(out + l, outlen - l, "%s%s=%s", i ? ";" : "", b[i].field, b[i].value);
	}
	if (n > 0)
		tc_bindings_free(b, (unsigned)n);
	tc_template_free(&t);
	return n;
}

static void route_is(const char *text, const char *want)
{
	struct tc_template t;
	char out[512];

	parse_ok(&t, text);
	assert_int_equal(tc_template_route(&t, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	tc_template_free(&t);
}

/* ---- templates -------------------------------------------------------------------------- */

static void test_template_parses_the_grammar(void **state)
{
	struct tc_template t;

	(void)state;
	parse_ok(&t, "/v1/orders/{id}");
	assert_int_equal(t.nseg, 3);
	assert_int_equal(t.nvar, 1);
	assert_string_equal(t.var[0].field, "id");
	assert_int_equal(t.var[0].first, 2);
	assert_int_equal(t.var[0].end, 3);
	assert_null(t.verb);
	tc_template_free(&t);

	parse_ok(&t, "/v1/{name=shelves/*/books/*}:publish");
	assert_int_equal(t.nseg, 5);
	assert_int_equal(t.var[0].first, 1);
	assert_int_equal(t.var[0].end, 5);
	assert_string_equal(t.verb, "publish");
	tc_template_free(&t);

	parse_ok(&t, "/v1/{book.name=**}");
	assert_int_equal(t.seg[1].kind, TC_DSTAR);
	assert_string_equal(t.var[0].field, "book.name");
	tc_template_free(&t);

	parse_ok(&t, "/v1/*/x/{a}/{b.c_d}");
	assert_int_equal(t.nvar, 2);
	tc_template_free(&t);
}

static void test_template_rejects_hostile_text(void **state)
{
	char big[2048];

	(void)state;
	parse_bad("", "empty");
	parse_bad("v1/x", "start with '/'");
	parse_bad("/v1//x", "empty segment");
	parse_bad("/v1/x/", "empty segment");
	parse_bad("/v1/{id", "'}' expected");
	parse_bad("/v1/{}", "name a field");
	parse_bad("/v1/{1abc}", "name a field");
	parse_bad("/v1/{a..b}", "name a field");
	parse_bad("/v1/{a=x/{b}}", "do not nest");
	parse_bad("/v1/{a}/{a}", "bound twice");
	parse_bad("/v1/**/x", "'**' must be the last");
	parse_bad("/v1/x:", "empty verb");
	parse_bad("/v1/x:a:b", "unexpected character");
	parse_bad("/v1/x?y=1", "unexpected character");
	parse_bad("/v1/{id}}", "unexpected character");
	parse_bad("/v1/***", "unexpected character");
	parse_bad("/v1/a b", "unexpected character");
	parse_bad("/v1/\x01", "unexpected character");
	parse_bad("/v1/\xc3\xa9", "unexpected character");
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	parse_bad(big, "longer than");
	/* 33 segments */
	{
		char s[200] = "";

		for (int i = 0; i < 33; i++)
			strcat(s, "/a");
		parse_bad(s, "more than 32 segments");
	}
	parse_bad("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", "more than 8 variables");
}

static void test_template_route_pattern(void **state)
{
	(void)state;
	route_is("/v1/orders/{id}", "/v1/orders/:id");
	route_is("/v1/orders/{id}:cancel", "/v1/orders/:id");
	route_is("/v1/orders:batchGet", "/v1/orders:batchGet");
	route_is("/v1/{name=shelves/*/books/*}", "/v1/shelves/:name_2/books/:name_4");
	route_is("/v1/{name=files/**}", "/v1/files/*name_2");
	route_is("/v1/*/x", "/v1/:_2/x");
	route_is("/v1/{a.b}", "/v1/:a.b");
	{
		struct tc_template t;
		char small[8];

		parse_ok(&t, "/v1/orders/{id}");
		assert_int_equal(tc_template_route(&t, small, sizeof(small)), -1);
		tc_template_free(&t);
	}
}

static void test_match_variables_and_verbs(void **state)
{
	char out[512];

	(void)state;
	assert_int_equal(match("/v1/orders/{id}", "/v1/orders/42", out, sizeof(out)), 1);
	assert_string_equal(out, "id=42");
	assert_int_equal(match("/v1/orders/{id}", "/v1/orders/4%2F2", out, sizeof(out)), 1);
	assert_string_equal(out, "id=4/2");   /* one segment: everything decodes */
	assert_int_equal(match("/v1/orders/{id}", "/v1/orders/", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/orders/{id}", "/v1/orders/1/2", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/orders/{id}", "/v1/order/1", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/orders/{id}", "/v1/orders", out, sizeof(out)), -1);

	assert_int_equal(match("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books/b%2F2", out,
	                       sizeof(out)), 1);
	assert_string_equal(out, "name=shelves/s1/books/b%2F2");   /* multi: %2F stays */
	assert_int_equal(match("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/book/b2", out,
	                       sizeof(out)), -1);

	assert_int_equal(match("/v1/{name=files/**}", "/v1/files/a/b/c.txt", out, sizeof(out)), 1);
	assert_string_equal(out, "name=files/a/b/c.txt");
	assert_int_equal(match("/v1/{name=files/**}", "/v1/files", out, sizeof(out)), 1);
	assert_int_equal(match("/v1/files/{rest=**}", "/v1/files", out, sizeof(out)), 1);
	assert_string_equal(out, "rest=");

	assert_int_equal(match("/v1/orders/{id}:cancel", "/v1/orders/7:cancel", out, sizeof(out)),
	                 1);
	assert_string_equal(out, "id=7");
	assert_int_equal(match("/v1/orders/{id}:cancel", "/v1/orders/7", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/orders/{id}:cancel", "/v1/orders/7:other", out, sizeof(out)),
	                 -1);
	assert_int_equal(match("/v1/orders/{id}", "/v1/orders/7:cancel", out, sizeof(out)), 1);
	assert_string_equal(out, "id=7:cancel");   /* no verb in the template: part of the value */
	assert_int_equal(match("/v1/orders:batchGet", "/v1/orders:batchGet", out, sizeof(out)), 0);
	assert_int_equal(match("/v1/*/x", "/v1/anything/x", out, sizeof(out)), 0);
}

static void test_match_refuses_hostile_paths(void **state)
{
	char out[512], *big;

	(void)state;
	assert_int_equal(match("/v1/{id}", "", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/{id}", "v1/x", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/{id}", "/v1/%", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/{id}", "/v1/%4", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/{id}", "/v1/%zz", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/{id}", "/v1/%00", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/{id}:x", ":x", out, sizeof(out)), -1);
	assert_int_equal(match("/v1/{id}:x", "/:x", out, sizeof(out)), -1);
	{
		/* a NUL inside the path */
		struct tc_template t;
		struct tc_binding b[TC_MAX_VARS];

		parse_ok(&t, "/v1/{id}");
		assert_int_equal(tc_template_match(&t, "/v1/a\0b", 7, b), -1);
		tc_template_free(&t);
	}
	/* thousands of segments against "**" and a long path */
	big = malloc(TC_MAX_PATH + 16);
	for (size_t i = 0; i < TC_MAX_PATH + 8; i += 2)
		memcpy(big + i, "/a", 2);
	big[TC_MAX_PATH + 8] = '\0';
	assert_int_equal(match("/v1/{x=**}", big, out, sizeof(out)), -1);
	big[200] = '\0';
	assert_int_equal(match("/{x=**}", big, out, sizeof(out)), -1);   /* > 33 segments */
	assert_int_equal(match("/a/a/{x}", big, out, sizeof(out)), -1);
	free(big);
}

/* ---- the request's JSON -------------------------------------------------------------------- */

static char *req(const char *rule, const char *body, const struct tc_field *p, unsigned np,
                 const struct tc_field *q, unsigned nq)
{
	char *out = NULL;

	err[0] = '\0';
	if (tc_request_json(rule, body, strlen(body), p, np, q, nq, &out, err,
	                    sizeof(err)) != 0)
		return NULL;
	return out;
}

#define F(k, v) { k, sizeof(k) - 1, v, sizeof(v) - 1, 0 }
#define FK(k, v, kind) { k, sizeof(k) - 1, v, sizeof(v) - 1, kind }

static void test_request_from_path_and_query(void **state)
{
	struct tc_field p[] = { F("id", "42"), F("shelf.name", "s1") };
	struct tc_field q[] = { F("view", "FULL"), F("tags", "a"), F("tags", "b"),
		                F("page.size", "10"), F("id", "99"), F("flag", "true") };
	char *j;

	(void)state;
	j = req("", "", p, 2, q, 6);
	assert_non_null(j);
	assert_string_equal(j, "{\"view\":\"FULL\",\"tags\":[\"a\",\"b\"],\"page\":{\"size\":"
	                       "\"10\"},\"id\":\"42\",\"flag\":\"true\",\"shelf\":{\"name\":"
	                       "\"s1\"}}");
	free(j);
	{
		/* the contract's kinds: a bool, a repeated field given once */
		struct tc_field k[] = { FK("flag", "true", TC_KIND_BOOL), FK("tags", "a", TC_KIND_REPEATED),
			                FK("on", "yes", TC_KIND_BOOL) };

		j = req("", "", p, 1, k, 3);
		assert_string_equal(j, "{\"flag\":true,\"tags\":[\"a\"],\"on\":\"yes\",\"id\":\"42\"}");
		free(j);
	}
	/* no body rule: a body is ignored */
	j = req("", "{\"x\": 1}", NULL, 0, NULL, 0);
	assert_string_equal(j, "{}");
	free(j);
}

static void test_request_body_star_and_field(void **state)
{
	struct tc_field p[] = { F("id", "7") };
	struct tc_field q[] = { F("view", "FULL") };
	char *j;

	(void)state;
	j = req("*", "{\"id\": \"1\", \"item\": {\"n\": 2}}", p, 1, q, 1);
	assert_string_equal(j, "{\"id\":\"7\",\"item\":{\"n\":2}}");   /* path wins, no query */
	free(j);
	j = req("*", "  ", p, 1, NULL, 0);
	assert_string_equal(j, "{\"id\":\"7\"}");
	free(j);
	j = req("order", "{\"qty\": 3}", p, 1, q, 1);
	assert_string_equal(j, "{\"view\":\"FULL\",\"order\":{\"qty\":3},\"id\":\"7\"}");
	free(j);
	j = req("note", "\"hello\"", NULL, 0, NULL, 0);
	assert_string_equal(j, "{\"note\":\"hello\"}");
	free(j);
}

static void test_request_refuses_bad_input(void **state)
{
	struct tc_field bad1[] = { F("a..b", "1") };
	struct tc_field bad2[] = { F("a", "1"), F("a.b", "2") };
	struct tc_field bad3[] = { F("", "1") };
	struct tc_field nested[] = { F("a.b", "1"), F("a", "2") };
	struct tc_field deep[] = { F("a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a", "1") };

	(void)state;
	assert_null(req("*", "{\"id\": ", NULL, 0, NULL, 0));
	assert_non_null(strstr(err, "the body is not JSON: line 1"));
	assert_null(req("*", "[1, 2]", NULL, 0, NULL, 0));
	assert_non_null(strstr(err, "must be a JSON object"));
	assert_null(req("*", "{\"a\": 1, \"a\": 2}", NULL, 0, NULL, 0));
	assert_non_null(strstr(err, "not JSON"));
	assert_null(req("x", "nope", NULL, 0, NULL, 0));
	assert_null(req("", "", NULL, 0, bad1, 1));
	assert_non_null(strstr(err, "query parameter a..b"));
	assert_null(req("", "", NULL, 0, bad2, 2));
	assert_non_null(strstr(err, "is a value, not a message"));
	assert_null(req("", "", NULL, 0, bad3, 1));
	assert_null(req("", "", NULL, 0, nested, 2));
	assert_non_null(strstr(err, "is a message, not a value"));
	assert_null(req("", "", NULL, 0, deep, 1));
	/* a path variable into a body field that is an object */
	assert_null(req("*", "{\"a\": {\"b\": 1}}", nested + 1, 1, NULL, 0));
}

/* ---- the answer ------------------------------------------------------------------------------ */

static void test_response_body_and_statuses(void **state)
{
	char *o;

	(void)state;
	assert_int_equal(tc_response_pick("{\"a\":1}", 7, "", &o), 0);
	assert_string_equal(o, "{\"a\":1}");
	free(o);
	assert_int_equal(tc_response_pick("{\"orderItems\":[1,2]}", 20, "order_items", &o), 0);
	assert_string_equal(o, "[1,2]");
	free(o);
	assert_int_equal(tc_response_pick("{\"x\":\"s\"}", 9, "x", &o), 0);
	assert_string_equal(o, "\"s\"");
	free(o);
	assert_int_equal(tc_response_pick("{}", 2, "x", &o), 0);
	assert_string_equal(o, "null");
	free(o);
	assert_int_equal(tc_response_pick("{", 1, "x", &o), -1);

	assert_int_equal(tc_http_status(0), 200);
	assert_int_equal(tc_http_status(3), 400);
	assert_int_equal(tc_http_status(4), 504);
	assert_int_equal(tc_http_status(5), 404);
	assert_int_equal(tc_http_status(6), 409);
	assert_int_equal(tc_http_status(7), 403);
	assert_int_equal(tc_http_status(8), 429);
	assert_int_equal(tc_http_status(9), 400);
	assert_int_equal(tc_http_status(12), 501);
	assert_int_equal(tc_http_status(13), 500);
	assert_int_equal(tc_http_status(14), 503);
	assert_int_equal(tc_http_status(16), 401);
	assert_int_equal(tc_http_status(-1), 500);
	assert_int_equal(tc_http_status(99), 500);

	assert_int_equal(tc_error_json(5, "no order 7", 10, NULL, &o), 0);
	assert_string_equal(o, "{\"code\":5,\"message\":\"no order 7\",\"details\":[]}");
	free(o);
	assert_int_equal(tc_error_json(3, "bad \xff", 5, "[{\"@type\":\"t\"}]", &o), 0);
	assert_non_null(strstr(o, "not UTF-8"));
	assert_non_null(strstr(o, "\"@type\":\"t\""));
	free(o);
}

/* ---- grpc-web-text's base64 ---------------------------------------------------------------- */

/* Decodes IN fed in pieces of STEP characters: the bytes, or -1. */
static long b64(const char *in, size_t step, uint8_t *out)
{
	struct b64s s = { 0 };
	struct pb_buf b = { 0 };
	size_t n = strlen(in);
	long r;

	for (size_t i = 0; i < n; i += step)
		if (b64s_feed(&s, in + i, i + step > n ? n - i : step, &b) != 0) {
			pb_buf_free(&b);
			return -1;
		}
	if (b64s_end(&s, &b) != 0) {
		pb_buf_free(&b);
		return -1;
	}
	r = (long)b.len;
	if (b.len)
		memcpy(out, b.p, b.len);
	pb_buf_free(&b);
	return r;
}

static void test_base64_in_pieces(void **state)
{
	uint8_t out[64];

	(void)state;
	for (size_t step = 1; step <= 9; step++) {
		assert_int_equal(b64("aGVsbG8=", step, out), 5);
		assert_memory_equal(out, "hello", 5);
		/* two padded pieces back to back */
		assert_int_equal(b64("aGk=aGVsbG8=", step, out), 7);
		assert_memory_equal(out, "hihello", 7);
		assert_int_equal(b64("YQ==Yg==", step, out), 2);
		assert_memory_equal(out, "ab", 2);
		assert_int_equal(b64("aGVsbG8", step, out), 5);   /* unpadded end */
		assert_int_equal(b64("aGVs\r\nbG8=", step, out), 5);
		assert_int_equal(b64("", step, out), 0);
		assert_int_equal(b64("AAAA!", step, out), -1);
		assert_int_equal(b64("A", step, out), -1);
		assert_int_equal(b64("AAAAA", step, out), -1);
		assert_int_equal(b64("=AAA", step, out), -1);
		assert_int_equal(b64("AA=A", step, out), -1);
		assert_int_equal(b64("A===", step, out), -1);
		assert_int_equal(b64("\xff\xfe", step, out), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_parses_the_grammar),
		cmocka_unit_test(test_template_rejects_hostile_text),
		cmocka_unit_test(test_template_route_pattern),
		cmocka_unit_test(test_match_variables_and_verbs),
		cmocka_unit_test(test_match_refuses_hostile_paths),
		cmocka_unit_test(test_request_from_path_and_query),
		cmocka_unit_test(test_request_body_star_and_field),
		cmocka_unit_test(test_request_refuses_bad_input),
		cmocka_unit_test(test_response_body_and_statuses),
		cmocka_unit_test(test_base64_in_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
