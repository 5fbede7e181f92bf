/*
 * test_ws_deflate.c - unit tests for permessage-deflate: the negotiation
 * (core/ws/ws_handshake.c), the deflater and the inflater
 * (core/ws/ws_deflate.c) as ws_read drives it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ws_frame.h"
#include "ws_test_util.h"

#define MAXG 16

/* ---- negotiation ------------------------------------------------------------ */

static int nego(const char *hdr, struct ws_pmd *p, char *resp)
{
	return ws_pmd_negotiate(hdr, strlen(hdr), p, resp, 256);
}

static void accepts(const char *hdr, const char *want)
{
	struct ws_pmd p;
	char resp[256];
	int rc = nego(hdr, &p, resp);

	if (rc != 1 || strcmp(resp, want) != 0)
		fail_msg("%s: rc %d resp \"%s\", want \"%s\"", hdr, rc, resp, want);
}

static void refuses(const char *hdr, int want)
{
	struct ws_pmd p;
	char resp[256];
	int rc = nego(hdr, &p, resp);

	if (rc != want)
		fail_msg("%s: rc %d (resp \"%s\"), want %d", hdr, rc, resp, want);
}

static void test_pmd_plain_offer(void **state)
{
	struct ws_pmd p;
	char resp[256];
	(void)state;

	assert_int_equal(nego("permessage-deflate", &p, resp), 1);
	assert_string_equal(resp, "permessage-deflate; server_no_context_takeover");
	assert_int_equal(p.server_no_context_takeover, 1);
	assert_int_equal(p.client_no_context_takeover, 0);
	assert_int_equal(p.server_max_window_bits, 15);
	assert_int_equal(p.client_max_window_bits, 15);
	/* what browsers send */
	accepts("permessage-deflate; client_max_window_bits",
	        "permessage-deflate; server_no_context_takeover; client_max_window_bits=15");
}

static void test_pmd_params(void **state)
{
	struct ws_pmd p;
	char resp[256];
	(void)state;

	assert_int_equal(nego("permessage-deflate; client_max_window_bits=10; "
	                      "server_max_window_bits=12; client_no_context_takeover; "
	                      "server_no_context_takeover", &p, resp), 1);
	assert_string_equal(resp, "permessage-deflate; server_no_context_takeover; "
	                    "client_no_context_takeover; server_max_window_bits=12; "
	                    "client_max_window_bits=10");
	assert_int_equal(p.server_no_context_takeover, 1);
	assert_int_equal(p.client_no_context_takeover, 1);
	assert_int_equal(p.server_max_window_bits, 12);
	assert_int_equal(p.client_max_window_bits, 10);
	accepts("permessage-deflate;server_max_window_bits=9",
	        "permessage-deflate; server_no_context_takeover; server_max_window_bits=9");
	accepts("permessage-deflate; client_max_window_bits=8",
	        "permessage-deflate; server_no_context_takeover; client_max_window_bits=8");
	accepts("  permessage-deflate ;\tclient_max_window_bits = 15 ",
	        "permessage-deflate; server_no_context_takeover; client_max_window_bits=15");
}

static void test_pmd_bad_values_refuse_the_offer(void **state)
{
	static const char *bad[] = {
		"permessage-deflate; server_max_window_bits=7",
		"permessage-deflate; server_max_window_bits=16",
		"permessage-deflate; server_max_window_bits=08",
		"permessage-deflate; server_max_window_bits=abc",
		"permessage-deflate; server_max_window_bits",
		"permessage-deflate; server_max_window_bits=8",   /* zlib cannot: refused */
		"permessage-deflate; client_max_window_bits=16",
		"permessage-deflate; client_max_window_bits=7",
		"permessage-deflate; client_max_window_bits=015",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; client_no_context_takeover=true",
		"permessage-deflate; x-unknown",
		"permessage-deflate; client_max_window_bits=\"1 0\"",
		"permessage-deflate; client_max_window_bits=\"\"",
		"permessage-deflate; client_max_window_bits=\"100000000000000000000000\"",
		"x-webkit-deflate-frame",
		"",
		" , ,",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refuses(bad[i], 0);
}

static void test_pmd_duplicate_params_refuse_the_offer(void **state)
{
	(void)state;

	refuses("permessage-deflate; server_no_context_takeover; server_no_context_takeover", 0);
	refuses("permessage-deflate; client_no_context_takeover; client_no_context_takeover", 0);
	refuses("permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", 0);
	refuses("permessage-deflate; client_max_window_bits; client_max_window_bits=10", 0);
}

static void test_pmd_first_acceptable_offer_wins(void **state)
{
	struct ws_pmd p;
	char resp[256];
	(void)state;

	assert_int_equal(nego("permessage-deflate; server_max_window_bits=8, "
	                      "permessage-deflate; server_max_window_bits=10; x=1, "
	                      "permessage-deflate; client_max_window_bits=11, "
	                      "permessage-deflate", &p, resp), 1);
	assert_string_equal(resp, "permessage-deflate; server_no_context_takeover; "
	                    "client_max_window_bits=11");
	assert_int_equal(p.client_max_window_bits, 11);
	accepts("x-webkit-deflate-frame; no_context_takeover, permessage-deflate",
	        "permessage-deflate; server_no_context_takeover");
	/* empty list elements are allowed (RFC 7230 7) */
	accepts(", permessage-deflate,,", "permessage-deflate; server_no_context_takeover");
}

static void test_pmd_malformed_header(void **state)
{
	static const char *bad[] = {
		"permessage-deflate;",
		"permessage-deflate; ",
		"permessage-deflate; =1",
		"permessage-deflate; a=",
		"permessage-deflate; a=\"unterminated",
		"permessage-deflate; a=\"x\\",
		"permessage-deflate x",
		"permessage-deflate; a=b c",
		"permessage-deflate; a=\"b\"c",
		"@",
		";",
		"permessage-deflate, ;x",                 /* bad after an acceptable one */
		"permessage-deflate; a=\"\x01\"",
		"permessage\xff-deflate",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refuses(bad[i], -1);
}

static void test_pmd_quoted_values(void **state)
{
	(void)state;

	accepts("permessage-deflate; client_max_window_bits=\"10\"",
	        "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
	accepts("permessage-deflate; server_max_window_bits=\"1\\2\"",
	        "permessage-deflate; server_no_context_takeover; server_max_window_bits=12");
	/* an unknown extension's quoted value may hold anything quotable */
	accepts("x-foo; a=\"b, c; d=\\\"e\\\"\", permessage-deflate",
	        "permessage-deflate; server_no_context_takeover");
}

static void test_pmd_small_response_buffer(void **state)
{
	struct ws_pmd p;
	char resp[16];
	(void)state;

	static const char all[] = "permessage-deflate; client_max_window_bits=10; "
	                          "server_max_window_bits=12; client_no_context_takeover; "
	                          "server_no_context_takeover";
	char big[WS_PMD_RESP_MAX];

	assert_int_equal(ws_pmd_negotiate(all, sizeof(all) - 1, &p, big, sizeof(big)), 1);
	assert_int_equal(ws_pmd_negotiate("permessage-deflate", 18, &p, resp, sizeof(resp)), 0);
	/* the length given bounds the parse */
	assert_int_equal(ws_pmd_negotiate("permessage-deflate; x", 18, &p, resp, 0), 0);
}

/* ---- compression --------------------------------------------------------------- */

/* One compressed message as a client would send it: FRAGS frames. */
static void put_compressed(unsigned char *w, size_t *n, int op, const unsigned char *c,
                           size_t clen, int frags)
{
	size_t at = 0;

	for (int f = 0; f < frags; f++) {
		size_t k = f == frags - 1 ? clen - at : clen / (size_t)frags;
		unsigned b0 = (f == 0 ? 0x40u | (unsigned)op : 0) | (f == frags - 1 ? 0x80u : 0);

		put_frame_raw(w, n, b0, c + at, k, 0);
		at += k;
	}
}

/* Deflates MSG with D, sends it in FRAGS frames read in CHUNK pieces, and
 * checks R gives it back. Returns the compressed size. */
static size_t round_trip(struct ws_deflater *d, struct ws_reader *r, const void *msg,
                         size_t len, int frags, size_t chunk)
{
	unsigned char *c, *w;
	size_t clen, n = 0;
	struct got g[MAXG];
	int k;

	assert_int_equal(ws_deflate(d, msg, len, &c, &clen), 0);
	w = malloc(clen + 14 * (size_t)frags + 16);
	put_compressed(w, &n, WS_OP_BINARY, c, clen, frags);
	k = drive(r, w, n, chunk, g, MAXG);
	assert_int_equal(k, 1);
	if (g[0].ev != WS_EV_MESSAGE)
		fail_msg("ev %d code %u: %s", g[0].ev, g[0].code, g[0].why);
	assert_int_equal(g[0].len, len);
	if (len)
		assert_memory_equal(g[0].data, msg, len);
	got_free(g, k);
	free(w);
	free(c);
	return clen;
}

static void check_round_trips(const struct ws_pmd *p, int takeover)
{
	static const char *msgs[] = {
		"{\"order\":1,\"status\":\"shipped\",\"items\":[\"apple\",\"pear\"]}",
		"{\"order\":1,\"status\":\"shipped\",\"items\":[\"apple\",\"pear\"]}",
		"",
		"{\"order\":2,\"status\":\"pending\",\"items\":[\"apple\"]}",
		"{\"order\":1,\"status\":\"shipped\",\"items\":[\"apple\",\"pear\"]}",
	};
	/* a compressor for the client's side: the same code, the client's params */
	struct ws_pmd cp = { .server_no_context_takeover = p->client_no_context_takeover,
	                     .server_max_window_bits = p->client_max_window_bits };
	struct ws_deflater *d = ws_deflater_new(&cp);
	struct ws_reader r = { .inflate = ws_inflater_new(p) };
	size_t first = 0, big = 300000;
	unsigned char *b = malloc(big);

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		size_t c = round_trip(d, &r, msgs[i], strlen(msgs[i]), 1 + (int)(i % 3),
		                      i % 2 ? 1 : 0);

		if (i == 0)
			first = c;
		if (i == 1) {
			if (takeover)
				assert_true(c < first);   /* the second refers to the first */
			else
				assert_int_equal(c, first);
		}
	}
	/* an uncompressed message in between is fine */
	{
		unsigned char w[32];
		size_t n = 0;
		struct got g[MAXG];
		int k;

		put_frame(w, &n, WS_OP_TEXT, 1, "plain", 5);
		k = drive(&r, w, n, 0, g, MAXG);
		assert_int_equal(k, 1);
		assert_int_equal(g[0].ev, WS_EV_MESSAGE);
		assert_memory_equal(g[0].data, "plain", 5);
		got_free(g, k);
	}
	for (size_t i = 0; i < big; i++)
		b[i] = (unsigned char)("abcdefgh"[(i * 31 + i / 7) % 8] ^ (i % 1000 == 0));
	round_trip(d, &r, b, big, 4, 4099);
	round_trip(d, &r, msgs[0], strlen(msgs[0]), 1, 1);
	free(b);
	ws_deflater_free(d);
	ws_inflater_free(r.inflate);
	ws_reader_free(&r);
}

static void test_deflate_round_trip_with_context_takeover(void **state)
{
	struct ws_pmd p = { 0, 0, 15, 15 };
	(void)state;

	check_round_trips(&p, 1);
	p.client_max_window_bits = 10;
	check_round_trips(&p, 1);
}

static void test_deflate_round_trip_without_context_takeover(void **state)
{
	struct ws_pmd p = { 1, 1, 15, 15 };
	(void)state;

	check_round_trips(&p, 0);
	p.client_max_window_bits = 9;
	check_round_trips(&p, 0);
}

/* A window of 8 bits: zlib cannot, so stored blocks only, readable with 8. */
static void test_deflate_window_8_stays_readable(void **state)
{
	struct ws_pmd p = { 0, 0, 8, 8 };
	struct ws_deflater *d = ws_deflater_new(&p);
	struct ws_reader r = { .inflate = ws_inflater_new(&p) };
	unsigned char *big = malloc(5000);
	(void)state;

	memset(big, 'z', 5000);
	assert_true(round_trip(d, &r, big, 5000, 1, 0) > 5000);
	round_trip(d, &r, big, 5000, 2, 333);
	ws_deflater_free(d);
	ws_inflater_free(r.inflate);
	ws_reader_free(&r);
	free(big);
}

/* Deflaters without context share their thread's stream: interleaved,
 * with different windows and one with context, each still reads back. */
static void test_deflaters_interleaved(void **state)
{
	static const struct ws_pmd ps[] = {
		{ 1, 0, 15, 15 }, { 1, 0, 10, 15 }, { 1, 0, 8, 15 }, { 0, 0, 15, 15 },
		{ 1, 0, 15, 15 },
	};
	struct ws_deflater *d[5];
	struct ws_reader r[5];
	char msg[200];
	(void)state;

	for (int i = 0; i < 5; i++) {
		d[i] = ws_deflater_new(&ps[i]);
		memset(&r[i], 0, sizeof(r[i]));
		r[i].inflate = ws_inflater_new(&ps[i]);
	}
	for (int round = 0; round < 6; round++) {
		if (round == 3)
			ws_deflate_thread_end();      /* made again on next use */
		for (int i = 0; i < 5; i++) {
			snprintf(msg, sizeof(msg), "round %d, deflater %d: %s", round, i,
			         "the same words again and again and again and again");
			round_trip(d[i], &r[i], msg, strlen(msg), 1 + round % 2, 0);
		}
	}
	{       /* the same message from two context-free deflaters: same bytes */
		unsigned char *a, *b;
		size_t al, bl;

		assert_int_equal(ws_deflate(d[0], msg, strlen(msg), &a, &al), 0);
		assert_int_equal(ws_deflate(d[4], msg, strlen(msg), &b, &bl), 0);
		assert_int_equal(al, bl);
		assert_memory_equal(a, b, al);
		free(a);
		free(b);
	}
	for (int i = 0; i < 5; i++) {
		ws_deflater_free(d[i]);
		ws_inflater_free(r[i].inflate);
		ws_reader_free(&r[i]);
	}
	ws_deflate_thread_end();
}

static void test_deflate_empty_message_is_one_byte(void **state)
{
	struct ws_pmd p = { 1, 1, 15, 15 };
	struct ws_deflater *d = ws_deflater_new(&p);
	unsigned char *c;
	size_t clen;
	(void)state;

	assert_int_equal(ws_deflate(d, "", 0, &c, &clen), 0);
	assert_int_equal(clen, 1);
	assert_int_equal(c[0], 0x00);
	free(c);
	ws_deflater_free(d);
}

/* Inflates the compressed payloads PAY[] as messages with PMD; checks texts. */
static void expect_inflated(const struct ws_pmd *pmd, const char *const *pay,
                            const size_t *plen, int nmsg, const char *want)
{
	for (size_t chunk = 0; chunk < 3; chunk++) {
		struct ws_reader r = { .inflate = ws_inflater_new(pmd) };
		unsigned char w[256];
		size_t n = 0;
		struct got g[MAXG];
		int k;

		for (int i = 0; i < nmsg; i++)
			put_frame_raw(w, &n, 0xC1, pay[i], plen[i], 0);
		k = drive(&r, w, n, chunk, g, MAXG);
		assert_int_equal(k, nmsg);
		for (int i = 0; i < k; i++) {
			if (g[i].ev != WS_EV_MESSAGE)
				fail_msg("message %d: ev %d code %u %s", i, g[i].ev, g[i].code,
				         g[i].why);
			assert_int_equal(g[i].op, WS_OP_TEXT);
			assert_int_equal(g[i].len, strlen(want));
			assert_memory_equal(g[i].data, want, strlen(want));
		}
		got_free(g, k);
		ws_inflater_free(r.inflate);
		ws_reader_free(&r);
	}
}

/* RFC 7692 7.2.3: the examples' bytes. */
static void test_inflate_rfc7692_examples(void **state)
{
	static const struct ws_pmd takeover = { 0, 0, 15, 15 };
	static const char hello[] = "\xf2\x48\xcd\xc9\xc9\x07\x00";
	static const char again[] = "\xf2\x00\x11\x00\x00";
	static const char stored[] = "\x00\x05\x00\xfa\xff" "Hello" "\x00";
	static const char bfinal[] = "\xf3\x48\xcd\xc9\xc9\x07\x00\x00";
	(void)state;

	{       /* 7.2.3.1 */
		const char *pay[] = { hello };
		const size_t len[] = { 7 };

		expect_inflated(&takeover, pay, len, 1, "Hello");
	}
	{       /* 7.2.3.2: the second refers back to the first */
		const char *pay[] = { hello, again };
		const size_t len[] = { 7, 5 };

		expect_inflated(&takeover, pay, len, 2, "Hello");
	}
	{       /* 7.2.3.3, then 7.2.3.4 (BFINAL) followed by more messages */
		const char *pay[] = { stored, bfinal, hello, again };
		const size_t len[] = { 11, 8, 7, 5 };

		expect_inflated(&takeover, pay, len, 4, "Hello");
	}
	{       /* two streams ended with BFINAL in one message, the second
		 * referring to the first: "Hello" twice */
		static const char two[] = "\xf3\x48\xcd\xc9\xc9\x07\x00" "\xf3\x00\x11\x00";
		const char *pay[] = { two };
		const size_t len[] = { 11 };
		static const struct ws_pmd fresh = { 1, 1, 15, 15 };

		expect_inflated(&fresh, pay, len, 1, "HelloHello");
	}
	{       /* 7.2.3.1 fragmented (the RFC's 7.2.3.? frames) */
		struct ws_reader r = { .inflate = ws_inflater_new(&takeover) };
		unsigned char w[64];
		size_t n = 0;
		struct got g[MAXG];
		int k;

		put_frame_raw(w, &n, 0x41, hello, 3, 0);
		put_frame_raw(w, &n, 0x80, hello + 3, 4, 0);
		k = drive(&r, w, n, 1, g, MAXG);
		assert_int_equal(k, 1);
		assert_int_equal(g[0].ev, WS_EV_MESSAGE);
		assert_string_equal(g[0].data, "Hello");
		got_free(g, k);
		ws_inflater_free(r.inflate);
		ws_reader_free(&r);
	}
}

static void expect_compressed_error(const void *pay, size_t len, int op, unsigned code)
{
	static const struct ws_pmd p = { 0, 0, 15, 15 };
	struct ws_reader r = { .inflate = ws_inflater_new(&p) };
	unsigned char w[256];
	size_t n = 0;
	struct got g[MAXG];
	int k;

	put_frame_raw(w, &n, 0xC0 | (unsigned)op, pay, len, 0);
	k = drive(&r, w, n, 0, g, MAXG);
	assert_int_equal(k, 1);
	assert_int_equal(g[0].ev, WS_EV_ERROR);
	assert_int_equal(g[0].code, code);
	got_free(g, k);
	ws_inflater_free(r.inflate);
	ws_reader_free(&r);
}

static void test_inflate_bad_data(void **state)
{
	static const struct ws_pmd p = { 0, 0, 15, 15 };
	struct ws_deflater *d = ws_deflater_new(&p);
	unsigned char *c;
	size_t clen;
	(void)state;

	/* BTYPE 11 is reserved */
	expect_compressed_error("\xff\xff\xff", 3, WS_OP_BINARY, WS_CLOSE_BAD_DATA);
	/* a stored block cut short by the message's end */
	expect_compressed_error("\x00\x05\x00\xfa\xff" "Hel", 8, WS_OP_BINARY, WS_CLOSE_BAD_DATA);
	/* a text message whose inflated bytes are not UTF-8 */
	assert_int_equal(ws_deflate(d, "ok \xed\xa0\x80", 6, &c, &clen), 0);
	expect_compressed_error(c, clen, WS_OP_TEXT, WS_CLOSE_BAD_DATA);
	free(c);
	ws_deflater_free(d);
}

static void test_rsv1_without_negotiation_is_refused(void **state)
{
	unsigned char w[32];
	size_t n = 0;
	struct ws_reader r = { 0 };
	struct got g[MAXG];
	int k;
	(void)state;

	put_frame_raw(w, &n, 0xC1, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7, 0);
	k = drive(&r, w, n, 0, g, MAXG);
	assert_int_equal(k, 1);
	assert_int_equal(g[0].ev, WS_EV_ERROR);
	assert_int_equal(g[0].code, WS_CLOSE_PROTOCOL);
	got_free(g, k);
	ws_reader_free(&r);
}

/* Inflating past max_message fails with 1009 without ever holding more. */
static void check_bomb(size_t max, size_t len, int want_ok)
{
	static const struct ws_pmd p = { 0, 1, 15, 15 };
	struct ws_deflater *d = ws_deflater_new(&p);
	struct ws_reader r = { .max_message = max, .inflate = ws_inflater_new(&p) };
	unsigned char *m = calloc(1, len), *c, *w;
	size_t clen, n = 0, off = 0, end;
	int e = WS_EV_NEED;

	assert_int_equal(ws_deflate(d, m, len, &c, &clen), 0);
	assert_true(clen < len / 100 + 64);
	w = malloc(clen + 32);
	put_compressed(w, &n, WS_OP_BINARY, c, clen, 1);
	/* fed in 1000-byte pieces, watching the buffer */
	for (end = 0; end < n && e == WS_EV_NEED;) {
		struct ws_event ev;
		size_t used;

		end = end + 1000 < n ? end + 1000 : n;
		e = ws_read(&r, w + off, end - off, &used, &ev);
		off += used;
		assert_true(r.cap <= (max ? max : WS_DEFAULT_MAX_MESSAGE) + 125);
		if (e == WS_EV_ERROR)
			assert_int_equal(ev.code, WS_CLOSE_TOO_BIG);
		if (e == WS_EV_MESSAGE)
			assert_int_equal(ev.len, len);
	}
	assert_int_equal(e, want_ok ? WS_EV_MESSAGE : WS_EV_ERROR);
	free(m);
	free(c);
	free(w);
	ws_deflater_free(d);
	ws_inflater_free(r.inflate);
	ws_reader_free(&r);
}

/* Over max_message, then corrupt: 1009 however the bytes arrive (the
 * fuzzer found zlib reporting both in one call when given everything). */
static void test_inflate_over_max_then_corrupt(void **state)
{
	static const struct ws_pmd p = { 1, 1, 15, 15 };
	struct ws_deflater *d = ws_deflater_new(&p);
	unsigned char m[301], *z, c[100], w[128];
	size_t clen;
	(void)state;

	memset(m, 'a', sizeof(m));
	assert_int_equal(ws_deflate(d, m, sizeof(m), &z, &clen), 0);
	assert_true(clen + 4 < sizeof(c));
	memcpy(c, z, clen);
	free(z);
	memcpy(c + clen - 1, "\x00\xff\xff\x12\x34", 5);     /* bad stored block */
	for (size_t chunk = 0; chunk < 3; chunk++) {
		struct ws_reader r = { .max_message = 300, .inflate = ws_inflater_new(&p) };
		size_t n = 0;
		struct got g[MAXG];
		int k;

		put_frame_raw(w, &n, 0xC2, c, clen + 4, 0);
		k = drive(&r, w, n, chunk, g, MAXG);
		assert_int_equal(k, 1);
		assert_int_equal(g[0].ev, WS_EV_ERROR);
		assert_int_equal(g[0].code, WS_CLOSE_TOO_BIG);
		got_free(g, k);
		ws_inflater_free(r.inflate);
		ws_reader_free(&r);
	}
	ws_deflater_free(d);
}

static void test_inflate_bomb_stops_at_max_message(void **state)
{
	(void)state;

	check_bomb(1 << 20, 64 << 20, 0);
	check_bomb(100000, 100000, 1);
	check_bomb(100000, 100001, 0);
	check_bomb(0, WS_DEFAULT_MAX_MESSAGE, 1);
	check_bomb(0, WS_DEFAULT_MAX_MESSAGE + 1, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pmd_plain_offer),
		cmocka_unit_test(test_pmd_params),
		cmocka_unit_test(test_pmd_bad_values_refuse_the_offer),
		cmocka_unit_test(test_pmd_duplicate_params_refuse_the_offer),
		cmocka_unit_test(test_pmd_first_acceptable_offer_wins),
		cmocka_unit_test(test_pmd_malformed_header),
		cmocka_unit_test(test_pmd_quoted_values),
		cmocka_unit_test(test_pmd_small_response_buffer),
		cmocka_unit_test(test_deflate_round_trip_with_context_takeover),
		cmocka_unit_test(test_deflate_round_trip_without_context_takeover),
		cmocka_unit_test(test_deflate_window_8_stays_readable),
		cmocka_unit_test(test_deflaters_interleaved),
		cmocka_unit_test(test_deflate_empty_message_is_one_byte),
		cmocka_unit_test(test_inflate_rfc7692_examples),
		cmocka_unit_test(test_inflate_bad_data),
		cmocka_unit_test(test_rsv1_without_negotiation_is_refused),
		cmocka_unit_test(test_inflate_bomb_stops_at_max_message),
		cmocka_unit_test(test_inflate_over_max_then_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
