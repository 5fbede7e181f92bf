/*
 * test_proxy_grpc.c - the gRPC pieces of the proxy (core/upstream/
 * proxy_grpc.c): grpc-timeout read and written, what counts as a gRPC
 * content-type, and the HTTP status mapping gRPC clients apply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy_grpc.h"

#define S(lit) ((pt_str_t){ lit, sizeof(lit) - 1 })

static void test_grpc_timeout_units(void **st)
{
	(void)st;
	assert_int_equal(grpc_timeout_parse(S("1H")), 3600LL * 1000000);
	assert_int_equal(grpc_timeout_parse(S("2M")), 120LL * 1000000);
	assert_int_equal(grpc_timeout_parse(S("3S")), 3000000);
	assert_int_equal(grpc_timeout_parse(S("400m")), 400000);
	assert_int_equal(grpc_timeout_parse(S("5u")), 5);
	assert_int_equal(grpc_timeout_parse(S("1n")), 1);	/* rounded up, never 0 */
	assert_int_equal(grpc_timeout_parse(S("99999999H")), 99999999LL * 3600 * 1000000);
}

static void test_grpc_timeout_refuses_what_is_not_one(void **st)
{
	static const char *bad[] = { "", "S", "10", "10s", "10 S", "-1S", "+1S", "123456789S",
	                             "1.5S", "0x10S", "1SS", "\0" "1S" };

	(void)st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(grpc_timeout_parse((pt_str_t){ bad[i], strlen(bad[i]) }), -1);
	assert_int_equal(grpc_timeout_parse((pt_str_t){ "\0" "1S", 3 }), -1);
}

static void test_grpc_timeout_format_fits_eight_digits_rounding_up(void **st)
{
	char b[12];

	(void)st;
	assert_int_equal(grpc_timeout_format(1, b), 2);
	assert_string_equal(b, "1u");
	assert_int_equal(grpc_timeout_format(0, b), 2);
	assert_string_equal(b, "1u");
	grpc_timeout_format(99999999, b);
	assert_string_equal(b, "99999999u");
	grpc_timeout_format(100000001, b);
	assert_string_equal(b, "100001m");
	grpc_timeout_format(INT64_MAX / 2, b);
	assert_true(strlen(b) <= 9);
	assert_int_equal(b[strlen(b) - 1], 'H');
	/* what it writes reads back as at least as long */
	for (int64_t us = 1; us < (int64_t)1 << 50; us = us * 7 + 3) {
		int64_t back;

		grpc_timeout_format(us, b);
		back = grpc_timeout_parse((pt_str_t){ b, strlen(b) });
		assert_true(back >= us);
	}
}

static void test_grpc_content_type(void **st)
{
	(void)st;
	assert_true(grpc_content_type(S("application/grpc")));
	assert_true(grpc_content_type(S("application/grpc+proto")));
	assert_true(grpc_content_type(S("Application/GRPC;charset=x")));
	assert_false(grpc_content_type(S("application/grpc-web")));
	assert_false(grpc_content_type(S("application/grpcx")));
	assert_false(grpc_content_type(S("application/json")));
	assert_false(grpc_content_type(S("")));
	assert_false(grpc_content_type((pt_str_t){ NULL, 0 }));
}

static void test_grpc_code_of_http(void **st)
{
	(void)st;
	assert_int_equal(grpc_code_of_http(400), GRPC_INTERNAL);
	assert_int_equal(grpc_code_of_http(401), GRPC_UNAUTHENTICATED);
	assert_int_equal(grpc_code_of_http(403), GRPC_PERMISSION_DENIED);
	assert_int_equal(grpc_code_of_http(404), GRPC_UNIMPLEMENTED);
	assert_int_equal(grpc_code_of_http(429), GRPC_UNAVAILABLE);
	assert_int_equal(grpc_code_of_http(503), GRPC_UNAVAILABLE);
	assert_int_equal(grpc_code_of_http(500), GRPC_UNKNOWN);
	assert_int_equal(grpc_code_of_http(415), GRPC_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grpc_timeout_units),
		cmocka_unit_test(test_grpc_timeout_refuses_what_is_not_one),
		cmocka_unit_test(test_grpc_timeout_format_fits_eight_digits_rounding_up),
		cmocka_unit_test(test_grpc_content_type),
		cmocka_unit_test(test_grpc_code_of_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
