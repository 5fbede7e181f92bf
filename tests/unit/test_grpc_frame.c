/*
 * test_grpc_frame.c - unit tests for the gRPC wire helpers
 * (plugins/grpc/frame.c): grpc-timeout, status names, grpc-message
 * percent-encoding, base64 of -bin metadata, grpc-encoding, gzip/deflate
 * with the inflate limit, and the hand-written protobuf.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grpc_priv.h"

/* frame.c only needs the declarations of these */
const struct pt_api *grpc_api;
pt_plugin_ctx *grpc_ctx;

static int64_t tmo(const char *s)
{
	return grpc_timeout_parse((pt_str_t){ s, strlen(s) });
}

static void test_grpc_timeout_units_round_up(void **st)
{
	(void)st;
	assert_int_equal(tmo("1S"), 1000);
	assert_int_equal(tmo("2M"), 120000);
	assert_int_equal(tmo("1H"), 3600000);
	assert_int_equal(tmo("250m"), 250);
	assert_int_equal(tmo("1u"), 1);
	assert_int_equal(tmo("1500u"), 2);
	assert_int_equal(tmo("1n"), 1);
	assert_int_equal(tmo("0m"), 0);
	assert_int_equal(tmo("99999999S"), 99999999000LL);
}

static void test_grpc_timeout_rejects_malformed(void **st)
{
	(void)st;
	assert_int_equal(tmo(""), -1);
	assert_int_equal(tmo("S"), -1);
	assert_int_equal(tmo("1"), -1);
	assert_int_equal(tmo("123456789S"), -1);   /* more than 8 digits */
	assert_int_equal(tmo("-1S"), -1);
	assert_int_equal(tmo("1s"), -1);
	assert_int_equal(tmo("1 S"), -1);
}

static void test_status_names_both_ways(void **st)
{
	(void)st;
	assert_string_equal(grpc_code_name(0), "OK");
	assert_string_equal(grpc_code_name(16), "UNAUTHENTICATED");
	assert_null(grpc_code_name(17));
	assert_null(grpc_code_name(-1));
	assert_int_equal(grpc_code_by_name("not_found", 9), 5);
	assert_int_equal(grpc_code_by_name("NOPE", 4), -1);
	assert_int_equal(grpc_code_str(13).len, 2);
	assert_memory_equal(grpc_code_str(13).ptr, "13", 2);
	assert_memory_equal(grpc_code_str(99).ptr, "2", 1);   /* UNKNOWN */
}

static void test_percent_encoding_of_grpc_message(void **st)
{
	struct pb_buf b = { 0 };
	const char in[] = "a%b\t\xe2\x98\xba~";

	(void)st;
	assert_int_equal(grpc_percent_encode(in, strlen(in), &b), 0);
	assert_int_equal(b.len, strlen("a%25b%09%E2%98%BA~"));
	assert_memory_equal(b.p, "a%25b%09%E2%98%BA~", b.len);
	free(b.p);
}

static void test_base64_round_trip_and_unpadded(void **st)
{
	struct pb_buf e = { 0 }, d = { 0 };
	const uint8_t in[] = { 0, 1, 0xff, 0xfe, 'x' };

	(void)st;
	for (size_t n = 0; n <= sizeof(in); n++) {
		e.len = d.len = 0;
		assert_int_equal(grpc_base64_encode(in, n, &e), 0);
		assert_int_equal(e.len % 4, 0);
		assert_int_equal(grpc_base64_decode((const char *)e.p, e.len, &d), 0);
		assert_int_equal(d.len, n);
		if (n)
			assert_memory_equal(d.p, in, n);
	}
	d.len = 0;
	assert_int_equal(grpc_base64_decode("q6ur", 4, &d), 0);   /* 0xab 0xab 0xab */
	assert_int_equal(d.len, 3);
	d.len = 0;
	assert_int_equal(grpc_base64_decode("AAE", 3, &d), 0);     /* unpadded */
	assert_int_equal(d.len, 2);
	d.len = 0;
	assert_int_equal(grpc_base64_decode("A*==", 4, &d), -1);
	free(e.p);
	free(d.p);
}

static void test_encodings(void **st)
{
	(void)st;
	assert_int_equal(grpc_enc_parse(PT_STR("gzip")), GRPC_ENC_GZIP);
	assert_int_equal(grpc_enc_parse(PT_STR("deflate")), GRPC_ENC_DEFLATE);
	assert_int_equal(grpc_enc_parse(PT_STR("identity")), GRPC_ENC_IDENTITY);
	assert_int_equal(grpc_enc_parse(PT_STR("snappy")), GRPC_ENC_UNKNOWN);
	assert_int_equal(grpc_enc_accepted(PT_STR("identity,deflate, gzip")),
	                 (1u << GRPC_ENC_GZIP) | (1u << GRPC_ENC_DEFLATE));
	assert_int_equal(grpc_enc_accepted(PT_STR("identity")), 0);
	assert_int_equal(grpc_enc_accepted(PT_STR("gzipx, xdeflate")), 0);
}

static void test_compression_round_trip_and_bomb_limit(void **st)
{
	uint8_t *big = calloc(1, 200000);
	struct pb_buf z = { 0 }, out = { 0 };

	(void)st;
	for (int enc = GRPC_ENC_GZIP; enc <= GRPC_ENC_DEFLATE; enc++) {
		z.len = out.len = 0;
		assert_int_equal(grpc_deflate(enc, big, 200000, &z), 0);
		assert_true(z.len < 2000);
		assert_int_equal(grpc_inflate(enc, z.p, z.len, 200000, &out), 0);
		assert_int_equal(out.len, 200000);
		out.len = 0;
		assert_int_equal(grpc_inflate(enc, z.p, z.len, 1000, &out), -2);   /* the limit */
		out.len = 0;
		assert_int_equal(grpc_inflate(enc, z.p, z.len - 3, 200000, &out), -1);   /* cut */
		out.len = 0;
		assert_int_equal(grpc_inflate(enc, (const uint8_t *)"garbage!", 8, 200000, &out), -1);
	}
	free(big);
	free(z.p);
	free(out.p);
}

static void test_hand_written_protobuf(void **st)
{
	struct pb_buf b = { 0 };
	struct grpc_pb_field f;
	size_t pos = 0;
	pt_str_t det[2] = { PT_STR("type.googleapis.com/x.Y"), PT_STR("\x08\x01") };

	(void)st;
	assert_int_equal(grpc_status_proto(5, "gone", 4, det, 1, &b), 0);
	assert_int_equal(grpc_pb_next(b.p, b.len, &pos, &f), 1);
	assert_int_equal(f.num, 1);
	assert_int_equal(f.u, 5);
	assert_int_equal(grpc_pb_next(b.p, b.len, &pos, &f), 1);
	assert_int_equal(f.num, 2);
	assert_memory_equal(f.p, "gone", 4);
	assert_int_equal(grpc_pb_next(b.p, b.len, &pos, &f), 1);
	assert_int_equal(f.num, 3);
	assert_int_equal(grpc_pb_next(b.p, b.len, &pos, &f), 0);
	/* truncated or impossible input */
	pos = 0;
	assert_int_equal(grpc_pb_next((const uint8_t *)"\x0a\x05ab", 4, &pos, &f), -1);
	pos = 0;
	assert_int_equal(grpc_pb_next((const uint8_t *)"\x0f\x01", 2, &pos, &f), -1);
	pos = 0;
	assert_int_equal(grpc_pb_next((const uint8_t *)"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
	                              12, &pos, &f), -1);
	pos = 0;
	assert_int_equal(grpc_pb_next((const uint8_t *)"\x00\x01", 2, &pos, &f), -1);   /* field 0 */
	free(b.p);
}

/* ---- grpc_deframe ---- */

struct seen {
	char out[256];
	size_t n;
	unsigned count, stop_after;
};

static int collect(void *ud, unsigned flags, const uint8_t *msg, size_t len)
{
	struct seen *s = ud;

	s->n += (size_t)snprintf(s->out + s->n, sizeof(s->out) - s->n, "%u:%.*s|", flags,
	                         (int)len, (const char *)msg);
	return ++s->count == s->stop_after;
}

static void test_deframe_whole_or_byte_by_byte(void **st)
{
	static const uint8_t in[] = "\0\0\0\0\3abc" "\0\0\0\0\0" "\1\0\0\0\2xy";
	size_t len = sizeof(in) - 1;

	(void)st;
	for (size_t step = 1; step <= len; step++) {
		struct grpc_deframer d = { 0 };
		struct seen s = { .n = 0 };

		for (size_t i = 0; i < len; i += step)
			assert_int_equal(grpc_deframe(&d, in + i, i + step > len ? len - i : step, 16,
			                              collect, &s), 0);
		assert_string_equal(s.out, "0:abc|0:|1:xy|");
		assert_int_equal(d.hdr_have, 0);
		pb_buf_free(&d.cur);
	}
}

static void test_deframe_refuses_and_stops(void **st)
{
	struct grpc_deframer d = { 0 };
	struct seen s = { .stop_after = 1 };

	(void)st;
	assert_int_equal(grpc_deframe(&d, (const uint8_t *)"\2\0\0\0\1a", 6, 16, collect, &s),
	                 GRPC_DEFRAME_FLAGS);
	memset(&d, 0, sizeof(d));
	assert_int_equal(grpc_deframe(&d, (const uint8_t *)"\0\0\0\0\21", 5, 16, collect, &s),
	                 GRPC_DEFRAME_TOO_LARGE);
	assert_int_equal(d.need, 17);
	memset(&d, 0, sizeof(d));
	assert_int_equal(grpc_deframe(&d, (const uint8_t *)"\0\0\0\0\1a\0\0\0\0\1b", 12, 16,
	                              collect, &s), GRPC_DEFRAME_STOPPED);
	assert_string_equal(s.out, "0:a|");
	/* a prefix cut short: the caller sees hdr_have at the end */
	memset(&d, 0, sizeof(d));
	s.stop_after = 0;
	assert_int_equal(grpc_deframe(&d, (const uint8_t *)"\0\0\0", 3, 16, collect, &s), 0);
	assert_int_equal(d.hdr_have, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grpc_timeout_units_round_up),
		cmocka_unit_test(test_grpc_timeout_rejects_malformed),
		cmocka_unit_test(test_status_names_both_ways),
		cmocka_unit_test(test_percent_encoding_of_grpc_message),
		cmocka_unit_test(test_base64_round_trip_and_unpadded),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_compression_round_trip_and_bomb_limit),
		cmocka_unit_test(test_hand_written_protobuf),
		cmocka_unit_test(test_deframe_whole_or_byte_by_byte),
		cmocka_unit_test(test_deframe_refuses_and_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
