/* graphql-transport-ws client messages: what is taken, what closes with 4400,
 * and close reasons cut to 123 bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ws_msg.h"

static int parse(const char *text, struct gqlp_wsm *m, const char **why)
{
	*why = NULL;
	return gqlp_wsm_parse(text, strlen(text), m, why);
}

static void assert_bad(const char *text, const char *why_part)
{
	struct gqlp_wsm m;
	const char *why;

	if (parse(text, &m, &why) != -1)
		fail_msg("accepted: %s", text);
	assert_non_null(why);
	assert_null(m.root);
	if (!strstr(why, why_part))
		fail_msg("%s: why is \"%s\", expected it to say \"%s\"", text, why, why_part);
}

static void test_ws_msg_takes_the_client_messages(void **state)
{
	struct gqlp_wsm m;
	const char *why;

	(void)state;
	assert_int_equal(parse("{\"type\":\"connection_init\"}", &m, &why), 0);
	assert_int_equal(m.type, GQLP_WSM_INIT);
	assert_null(m.payload);
	json_decref(m.root);
	assert_int_equal(parse("{\"type\":\"connection_init\",\"payload\":{\"token\":\"t\"}}", &m,
	                       &why), 0);
	assert_true(json_is_object(m.payload));
	json_decref(m.root);
	assert_int_equal(parse("{\"type\":\"connection_init\",\"payload\":null}", &m, &why), 0);
	assert_null(m.payload);
	json_decref(m.root);
	assert_int_equal(parse("{\"type\":\"ping\"}", &m, &why), 0);
	assert_int_equal(m.type, GQLP_WSM_PING);
	json_decref(m.root);
	assert_int_equal(parse("{\"type\":\"pong\",\"payload\":{}}", &m, &why), 0);
	assert_int_equal(m.type, GQLP_WSM_PONG);
	json_decref(m.root);
	assert_int_equal(parse("{\"type\":\"complete\",\"id\":\"7\"}", &m, &why), 0);
	assert_int_equal(m.type, GQLP_WSM_COMPLETE);
	assert_int_equal(m.id_len, 1);
	assert_memory_equal(m.id, "7", 1);
	json_decref(m.root);
}

static void test_ws_msg_reads_subscribe(void **state)
{
	struct gqlp_wsm m;
	const char *why;

	(void)state;
	assert_int_equal(parse("{\"id\":\"a1\",\"type\":\"subscribe\",\"payload\":{\"query\":"
	                       "\"{ hello }\",\"variables\":{\"x\":1},\"operationName\":\"Q\","
	                       "\"extensions\":{}}}", &m, &why), 0);
	assert_int_equal(m.type, GQLP_WSM_SUBSCRIBE);
	assert_string_equal(m.id, "a1");
	assert_string_equal(m.query, "{ hello }");
	assert_int_equal(m.query_len, 9);
	assert_true(json_is_object(m.variables));
	assert_string_equal(m.operation_name, "Q");
	json_decref(m.root);
	/* nullish variables, operationName, extensions */
	assert_int_equal(parse("{\"id\":\"b\",\"type\":\"subscribe\",\"payload\":{\"query\":\"{a}\","
	                       "\"variables\":null,\"operationName\":null,\"extensions\":null}}",
	                       &m, &why), 0);
	assert_null(m.variables);
	assert_null(m.operation_name);
	json_decref(m.root);
}

static void test_ws_msg_refuses_what_is_not_a_client_message(void **state)
{
	(void)state;
	assert_bad("", "not JSON");
	assert_bad("{\"type\":\"ping\"", "not JSON");
	assert_bad("[1,2]", "not a JSON object");
	assert_bad("\"ping\"", "not JSON");   /* jansson wants an array or object */
	assert_bad("{}", "'type'");
	assert_bad("{\"type\":3}", "'type'");
	assert_bad("{\"type\":\"hello\"}", "unknown");
	/* only a server sends these */
	assert_bad("{\"type\":\"connection_ack\"}", "unknown");
	assert_bad("{\"id\":\"1\",\"type\":\"next\",\"payload\":{}}", "unknown");
	assert_bad("{\"id\":\"1\",\"type\":\"error\",\"payload\":[]}", "unknown");
	/* a NUL inside a string is not JSON for us */
	assert_bad("{\"type\":\"ping\\u0000\"}", "not JSON");
	assert_bad("{\"type\":\"ping\",\"type\":\"pong\"}", "not JSON");
}

static void test_ws_msg_refuses_wrong_fields(void **state)
{
	(void)state;
	assert_bad("{\"type\":\"connection_init\",\"payload\":\"token\"}", "payload");
	assert_bad("{\"type\":\"ping\",\"payload\":[1]}", "payload");
	assert_bad("{\"type\":\"subscribe\",\"payload\":{\"query\":\"{a}\"}}", "'id'");
	assert_bad("{\"id\":1,\"type\":\"subscribe\",\"payload\":{\"query\":\"{a}\"}}", "'id'");
	assert_bad("{\"id\":\"\",\"type\":\"subscribe\",\"payload\":{\"query\":\"{a}\"}}", "empty");
	assert_bad("{\"id\":\"1\",\"type\":\"subscribe\"}", "payload");
	assert_bad("{\"id\":\"1\",\"type\":\"subscribe\",\"payload\":null}", "payload");
	assert_bad("{\"id\":\"1\",\"type\":\"subscribe\",\"payload\":{}}", "query");
	assert_bad("{\"id\":\"1\",\"type\":\"subscribe\",\"payload\":{\"query\":1}}", "query");
	assert_bad("{\"id\":\"1\",\"type\":\"subscribe\",\"payload\":{\"query\":\"{a}\","
	           "\"variables\":[]}}", "variables");
	assert_bad("{\"id\":\"1\",\"type\":\"subscribe\",\"payload\":{\"query\":\"{a}\","
	           "\"operationName\":5}}", "operationName");
	assert_bad("{\"id\":\"1\",\"type\":\"subscribe\",\"payload\":{\"query\":\"{a}\","
	           "\"extensions\":\"x\"}}", "extensions");
	assert_bad("{\"type\":\"complete\"}", "'id'");
	assert_bad("{\"type\":\"complete\",\"id\":\"\"}", "empty");
}

static void test_ws_msg_reason_fits_a_close_frame(void **state)
{
	char buf[128], id[300];
	size_t n;

	(void)state;
	n = gqlp_wsm_reason(buf, sizeof(buf), "Subscriber for ", "abc", 3, " already exists");
	assert_string_equal(buf, "Subscriber for abc already exists");
	assert_int_equal(n, strlen(buf));
	memset(id, 'x', sizeof(id));
	n = gqlp_wsm_reason(buf, sizeof(buf), "Subscriber for ", id, sizeof(id), " already exists");
	assert_int_equal(n, 123);
	assert_int_equal(strlen(buf), 123);
	assert_non_null(strstr(buf, "... already exists"));
	/* a cut never splits a UTF-8 character: "é" is 2 bytes, 200 of them */
	for (int i = 0; i < 150; i++)
		memcpy(id + 2 * i, "\xc3\xa9", 2);
	n = gqlp_wsm_reason(buf, sizeof(buf), "Subscriber for ", id, 300, " already exists");
	assert_true(n <= 123);
	{
		const char *dots = strstr(buf, "...");

		assert_non_null(dots);
		/* the bytes before "..." end on a whole character */
		assert_int_equal((dots - buf - 15) % 2, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ws_msg_takes_the_client_messages),
		cmocka_unit_test(test_ws_msg_reads_subscribe),
		cmocka_unit_test(test_ws_msg_refuses_what_is_not_a_client_message),
		cmocka_unit_test(test_ws_msg_refuses_wrong_fields),
		cmocka_unit_test(test_ws_msg_reason_fits_a_close_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
