/*
 * test_ws_frame.c - unit tests for core/ws/ws_frame.c (the reader of client
 * frames, the frame header writer, UTF-8 and close codes) and the accept
 * key of core/ws/ws_handshake.c.
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

/* W[0..N) read whole, then byte by byte, then in 7-byte pieces: the same
 * single event EV each time (and CODE for a close or an error). */
static void expect_one(const unsigned char *w, size_t n, size_t max, int ev, unsigned code)
{
	static const size_t chunks[] = { 0, 1, 7 };

	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct ws_reader r = { .max_message = max };
		struct got g[MAXG];
		int k = drive(&r, w, n, chunks[c], g, MAXG);

		if (k != 1 || g[0].ev != ev || g[0].code != code)
			fail_msg("chunk %zu: %d events, first ev %d code %u (%s), want ev %d code %u",
			         chunks[c], k, k ? g[0].ev : -1, k ? g[0].code : 0,
			         k && g[0].why ? g[0].why : "-", ev, code);
		if (ev == WS_EV_ERROR)
			assert_non_null(g[0].why);
		got_free(g, k);
		ws_reader_free(&r);
	}
}

static void expect_error(const unsigned char *w, size_t n, unsigned code)
{
	expect_one(w, n, 0, WS_EV_ERROR, code);
}

static void test_ws_reads_a_text_message_split_anywhere(void **state)
{
	unsigned char w[64];
	size_t n = 0;
	(void)state;

	put_frame(w, &n, WS_OP_TEXT, 1, "Hello", 5);
	for (size_t chunk = 0; chunk <= n; chunk++) {
		struct ws_reader r = { 0 };
		struct got g[MAXG];
		int k = drive(&r, w, n, chunk, g, MAXG);

		assert_int_equal(k, 1);
		assert_int_equal(g[0].ev, WS_EV_MESSAGE);
		assert_int_equal(g[0].op, WS_OP_TEXT);
		assert_int_equal(g[0].len, 5);
		assert_memory_equal(g[0].data, "Hello", 5);
		got_free(g, k);
		ws_reader_free(&r);
	}
}

/* Every split of the header into two reads, for each length encoding. */
static void test_ws_header_split_at_every_byte(void **state)
{
	static const size_t lens[] = { 3, 200, 70000 };
	(void)state;

	for (size_t li = 0; li < 3; li++) {
		size_t len = lens[li], n = 0;
		unsigned char *p = malloc(len), *w = malloc(len + 14);

		for (size_t i = 0; i < len; i++)
			p[i] = (unsigned char)(i * 7);
		put_frame(w, &n, WS_OP_BINARY, 1, p, len);
		for (size_t cut = 1; cut <= 14 && cut < n; cut++) {
			struct ws_reader r = { 0 };
			struct ws_event ev;
			size_t used;

			assert_int_equal(ws_read(&r, w, cut, &used, &ev), WS_EV_NEED);
			assert_int_equal(used, cut);
			assert_int_equal(ws_read(&r, w + cut, n - cut, &used, &ev), WS_EV_MESSAGE);
			assert_int_equal(used, n - cut);
			assert_int_equal(ev.op, WS_OP_BINARY);
			assert_int_equal(ev.len, len);
			assert_memory_equal(ev.data, p, len);
			ws_reader_free(&r);
		}
		free(p);
		free(w);
	}
}

static void test_ws_rejects_unmasked_frame(void **state)
{
	unsigned char w[32];
	size_t n = 0;
	(void)state;

	put_frame_raw(w, &n, 0x81, "hi", 2, 1);
	expect_error(w, n, WS_CLOSE_PROTOCOL);
}

static void test_ws_rejects_reserved_bits(void **state)
{
	static const unsigned bits[] = { 0x40, 0x20, 0x10, 0x60, 0x70 };
	(void)state;

	for (size_t i = 0; i < 5; i++) {
		unsigned char w[32];
		size_t n = 0;

		put_frame_raw(w, &n, 0x81 | bits[i], "hi", 2, 0);
		expect_error(w, n, WS_CLOSE_PROTOCOL);
	}
}

static void test_ws_rejects_unknown_opcodes(void **state)
{
	static const unsigned ops[] = { 3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF };
	(void)state;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		unsigned char w[32];
		size_t n = 0;

		put_frame_raw(w, &n, 0x80 | ops[i], "x", 1, 0);
		expect_error(w, n, WS_CLOSE_PROTOCOL);
	}
}

static void test_ws_rejects_fragmented_or_long_control_frames(void **state)
{
	unsigned char w[300], p[126];
	size_t n;
	(void)state;

	memset(p, 'a', sizeof(p));
	for (unsigned op = 0x8; op <= 0xA; op++) {
		n = 0;
		put_frame_raw(w, &n, op, "ab", 2, 0);          /* FIN = 0 */
		expect_error(w, n, WS_CLOSE_PROTOCOL);
		n = 0;
		put_frame_raw(w, &n, 0x80 | op, p, 126, 0);
		expect_error(w, n, WS_CLOSE_PROTOCOL);
	}
	n = 0;
	put_frame(w, &n, WS_OP_PING, 1, p, 125);                /* the largest allowed */
	expect_one(w, n, 0, WS_EV_PING, 0);
}

static void test_ws_rejects_continuation_without_message(void **state)
{
	unsigned char w[32];
	size_t n = 0;
	(void)state;

	put_frame(w, &n, WS_OP_CONT, 1, "x", 1);
	expect_error(w, n, WS_CLOSE_PROTOCOL);
}

static void test_ws_rejects_new_message_inside_fragmented_one(void **state)
{
	unsigned char w[64];
	size_t n = 0;
	(void)state;

	put_frame(w, &n, WS_OP_TEXT, 0, "ab", 2);
	put_frame(w, &n, WS_OP_BINARY, 1, "cd", 2);
	expect_error(w, n, WS_CLOSE_PROTOCOL);
	n = 0;
	put_frame(w, &n, WS_OP_BINARY, 0, "ab", 2);
	put_frame(w, &n, WS_OP_TEXT, 0, "cd", 2);
	expect_error(w, n, WS_CLOSE_PROTOCOL);
}

static void test_ws_rejects_64bit_length_with_top_bit(void **state)
{
	unsigned char w[16] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
	(void)state;

	expect_error(w, 14, WS_CLOSE_PROTOCOL);
}

static void test_ws_rejects_close_payload_of_one_byte(void **state)
{
	unsigned char w[32];
	size_t n = 0;
	(void)state;

	put_frame(w, &n, WS_OP_CLOSE, 1, "\x03", 1);
	expect_error(w, n, WS_CLOSE_PROTOCOL);
}

static void test_ws_close_codes(void **state)
{
	static const unsigned bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000,
	                                2999, 5000, 65535 };
	static const unsigned good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
	                                 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999 };
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char w[32], p[2] = { (unsigned char)(bad[i] >> 8), (unsigned char)bad[i] };
		size_t n = 0;

		assert_false(ws_close_code_ok(bad[i]));
		put_frame(w, &n, WS_OP_CLOSE, 1, p, 2);
		expect_error(w, n, WS_CLOSE_PROTOCOL);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		unsigned char w[32], p[2] = { (unsigned char)(good[i] >> 8), (unsigned char)good[i] };
		size_t n = 0;

		assert_true(ws_close_code_ok(good[i]));
		put_frame(w, &n, WS_OP_CLOSE, 1, p, 2);
		expect_one(w, n, 0, WS_EV_CLOSE, good[i]);
	}
}

static void test_ws_close_frames(void **state)
{
	unsigned char w[160];
	size_t n = 0;
	struct ws_reader r = { 0 };
	struct got g[MAXG];
	int k;
	(void)state;

	put_frame(w, &n, WS_OP_CLOSE, 1, "", 0);
	expect_one(w, n, 0, WS_EV_CLOSE, WS_CLOSE_NO_STATUS);
	n = 0;
	put_frame(w, &n, WS_OP_CLOSE, 1, "\x03\xe8", 2);
	k = drive(&r, w, n, 1, g, MAXG);
	assert_int_equal(k, 1);
	assert_int_equal(g[0].ev, WS_EV_CLOSE);
	assert_int_equal(g[0].code, 1000);
	assert_int_equal(g[0].len, 0);
	got_free(g, k);
	n = 0;
	put_frame(w, &n, WS_OP_CLOSE, 1, "\x0f\xa1" "bye \xc3\xa9", 8);
	k = drive(&r, w, n, 0, g, MAXG);
	assert_int_equal(k, 1);
	assert_int_equal(g[0].ev, WS_EV_CLOSE);
	assert_int_equal(g[0].code, 4001);
	assert_int_equal(g[0].len, 6);
	assert_memory_equal(g[0].data, "bye \xc3\xa9", 6);
	got_free(g, k);
	ws_reader_free(&r);
	/* the reason must be UTF-8 */
	n = 0;
	put_frame(w, &n, WS_OP_CLOSE, 1, "\x03\xe8" "a\xc0\xafz", 6);
	expect_error(w, n, WS_CLOSE_BAD_DATA);
	n = 0;
	put_frame(w, &n, WS_OP_CLOSE, 1, "\x03\xe8" "\xe2\x82", 4);   /* truncated */
	expect_error(w, n, WS_CLOSE_BAD_DATA);
}

static void test_ws_fragmented_message_with_interleaved_control(void **state)
{
	unsigned char w[256];
	size_t n = 0;
	(void)state;

	put_frame(w, &n, WS_OP_TEXT, 0, "Hel", 3);
	put_frame(w, &n, WS_OP_PING, 1, "p1", 2);
	put_frame(w, &n, WS_OP_CONT, 0, "", 0);
	put_frame(w, &n, WS_OP_PONG, 1, "", 0);
	put_frame(w, &n, WS_OP_CONT, 0, "lo, ", 4);
	put_frame(w, &n, WS_OP_PING, 1, "p2", 2);
	put_frame(w, &n, WS_OP_CONT, 1, "world", 5);
	put_frame(w, &n, WS_OP_BINARY, 1, "\x00\x01", 2);
	for (size_t chunk = 0; chunk < 12; chunk++) {
		struct ws_reader r = { 0 };
		struct got g[MAXG];
		int k = drive(&r, w, n, chunk, g, MAXG);

		assert_int_equal(k, 5);
		assert_int_equal(g[0].ev, WS_EV_PING);
		assert_int_equal(g[0].len, 2);
		assert_memory_equal(g[0].data, "p1", 2);
		assert_int_equal(g[1].ev, WS_EV_PONG);
		assert_int_equal(g[1].len, 0);
		assert_int_equal(g[2].ev, WS_EV_PING);
		assert_memory_equal(g[2].data, "p2", 2);
		assert_int_equal(g[3].ev, WS_EV_MESSAGE);
		assert_int_equal(g[3].op, WS_OP_TEXT);
		assert_int_equal(g[3].len, 12);
		assert_memory_equal(g[3].data, "Hello, world", 12);
		assert_int_equal(g[4].ev, WS_EV_MESSAGE);
		assert_int_equal(g[4].op, WS_OP_BINARY);
		assert_int_equal(g[4].len, 2);
		assert_memory_equal(g[4].data, "\x00\x01", 2);
		got_free(g, k);
		ws_reader_free(&r);
	}
}

/* An event mid-buffer consumes only its own frame; the rest is read next. */
static void test_ws_event_consumes_only_its_frame(void **state)
{
	unsigned char w[64];
	size_t n = 0, first, used;
	struct ws_reader r = { 0 };
	struct ws_event ev;
	(void)state;

	put_frame(w, &n, WS_OP_TEXT, 1, "one", 3);
	first = n;
	put_frame(w, &n, WS_OP_PING, 1, "", 0);
	put_frame(w, &n, WS_OP_BINARY, 1, "two", 3);
	assert_int_equal(ws_read(&r, w, n, &used, &ev), WS_EV_MESSAGE);
	assert_int_equal(used, first);
	assert_memory_equal(ev.data, "one", 3);
	assert_int_equal(ws_read(&r, w + first, n - first, &used, &ev), WS_EV_PING);
	assert_int_equal(used, 6);
	assert_int_equal(ws_read(&r, w + first + 6, n - first - 6, &used, &ev), WS_EV_MESSAGE);
	assert_int_equal(used, n - first - 6);
	assert_memory_equal(ev.data, "two", 3);
	assert_int_equal(ws_read(&r, w, 0, &used, &ev), WS_EV_NEED);
	assert_int_equal(used, 0);
	ws_reader_free(&r);
}

static void test_ws_empty_messages(void **state)
{
	unsigned char w[64];
	size_t n = 0;
	struct ws_reader r = { 0 };
	struct got g[MAXG];
	int k;
	(void)state;

	put_frame(w, &n, WS_OP_TEXT, 1, "", 0);
	put_frame(w, &n, WS_OP_BINARY, 1, "", 0);
	put_frame(w, &n, WS_OP_TEXT, 0, "", 0);
	put_frame(w, &n, WS_OP_CONT, 0, "", 0);
	put_frame(w, &n, WS_OP_CONT, 1, "", 0);
	k = drive(&r, w, n, 1, g, MAXG);
	assert_int_equal(k, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g[i].ev, WS_EV_MESSAGE);
		assert_int_equal(g[i].len, 0);
	}
	assert_int_equal(g[1].op, WS_OP_BINARY);
	got_free(g, k);
	ws_reader_free(&r);
}

/* 125/126 and 65535/65536 switch the length encoding (7, 16, 64 bits). */
static void test_ws_length_encodings(void **state)
{
	static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 70001 };
	(void)state;

	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t len = lens[li], n = 0, want = len < 126 ? 2 : len <= 65535 ? 4 : 10;
		unsigned char h[10], *p = malloc(len + 1), *w = malloc(len + 14);
		struct ws_reader r = { 0 };
		struct got g[MAXG];
		int k;

		assert_int_equal(ws_frame_head(h, WS_OP_BINARY, 1, 0, len), want);
		assert_int_equal(h[0], 0x82);
		for (size_t i = 0; i < len; i++)
			p[i] = (unsigned char)(i ^ (i >> 8));
		put_frame(w, &n, WS_OP_BINARY, 1, p, len);
		assert_int_equal(n, want + 4 + len);
		k = drive(&r, w, n, len > 1000 ? 999 : 1, g, MAXG);
		assert_int_equal(k, 1);
		assert_int_equal(g[0].ev, WS_EV_MESSAGE);
		assert_int_equal(g[0].len, len);
		if (len)
			assert_memory_equal(g[0].data, p, len);
		got_free(g, k);
		ws_reader_free(&r);
		free(p);
		free(w);
	}
}

static void test_ws_frame_head_bytes(void **state)
{
	unsigned char h[10];
	(void)state;

	assert_int_equal(ws_frame_head(h, WS_OP_TEXT, 1, 0, 5), 2);
	assert_memory_equal(h, "\x81\x05", 2);
	assert_int_equal(ws_frame_head(h, WS_OP_TEXT, 0, 1, 126), 4);
	assert_memory_equal(h, "\x41\x7e\x00\x7e", 4);
	assert_int_equal(ws_frame_head(h, WS_OP_CONT, 1, 0, 65535), 4);
	assert_memory_equal(h, "\x80\x7e\xff\xff", 4);
	assert_int_equal(ws_frame_head(h, WS_OP_BINARY, 1, 0, 65536), 10);
	assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	assert_int_equal(ws_frame_head(h, WS_OP_CLOSE, 1, 0, 0), 2);
	assert_memory_equal(h, "\x88\x00", 2);
}

static void test_ws_utf8_edge_cases(void **state)
{
	static const struct { const char *s; size_t n; int ok; } c[] = {
		{ "", 0, 1 },
		{ "plain ascii, long enough for the 8-byte path", 45, 1 },
		{ "\xc2\x80", 2, 1 },
		{ "\xdf\xbf", 2, 1 },
		{ "\xe0\xa0\x80", 3, 1 },
		{ "\xed\x9f\xbf", 3, 1 },              /* U+D7FF */
		{ "\xee\x80\x80", 3, 1 },              /* U+E000 */
		{ "\xef\xbf\xbf", 3, 1 },
		{ "\xf0\x9f\x98\x80", 4, 1 },          /* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", 4, 1 },          /* U+10FFFF */
		{ "\xc0\x80", 2, 0 },                  /* overlong NUL */
		{ "\xc1\xbf", 2, 0 },
		{ "\xe0\x80\x80", 3, 0 },
		{ "\xe0\x9f\xbf", 3, 0 },
		{ "\xf0\x80\x80\x80", 4, 0 },
		{ "\xf0\x8f\xbf\xbf", 4, 0 },
		{ "\xed\xa0\x80", 3, 0 },              /* U+D800 */
		{ "\xed\xbf\xbf", 3, 0 },              /* U+DFFF */
		{ "\xf4\x90\x80\x80", 4, 0 },          /* U+110000 */
		{ "\xf5\x80\x80\x80", 4, 0 },
		{ "\xff", 1, 0 },
		{ "\x80", 1, 0 },
		{ "\xe2\x82", 2, 0 },                  /* truncated at the end */
		{ "\xf0\x9f\x98", 3, 0 },
		{ "\xe2\x82\x41", 3, 0 },
		{ "abcdefgh\xe2\x82\xacijklmnop\x80", 20, 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		unsigned char w[64];
		size_t n = 0;

		if (ws_utf8_ok(c[i].s, c[i].n) != c[i].ok)
			fail_msg("case %zu: ws_utf8_ok != %d", i, c[i].ok);
		put_frame(w, &n, WS_OP_TEXT, 1, c[i].s, c[i].n);
		if (c[i].ok)
			expect_one(w, n, 0, WS_EV_MESSAGE, 0);
		else
			expect_error(w, n, WS_CLOSE_BAD_DATA);
		/* binary messages are not checked */
		n = 0;
		put_frame(w, &n, WS_OP_BINARY, 1, c[i].s, c[i].n);
		expect_one(w, n, 0, WS_EV_MESSAGE, 0);
	}
	/* a bad byte anywhere around the 8-byte fast path */
	for (size_t at = 0; at < 40; at++) {
		char s[40];

		memset(s, 'a', sizeof(s));
		s[at] = (char)0x80;
		assert_false(ws_utf8_ok(s, sizeof(s)));
	}
}

/* A fragment may end inside a code point; the message may not. */
static void test_ws_utf8_across_fragments(void **state)
{
	static const char s[] = "a\xc3\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80";
	size_t len = sizeof(s) - 1;
	(void)state;

	for (size_t cut = 0; cut <= len; cut++) {
		unsigned char w[64];
		size_t n = 0;
		struct ws_reader r = { 0 };
		struct got g[MAXG];
		int k;

		put_frame(w, &n, WS_OP_TEXT, 0, s, cut);
		put_frame(w, &n, WS_OP_CONT, 1, s + cut, len - cut);
		k = drive(&r, w, n, 0, g, MAXG);
		assert_int_equal(k, 1);
		assert_int_equal(g[0].ev, WS_EV_MESSAGE);
		assert_int_equal(g[0].len, len);
		assert_memory_equal(g[0].data, s, len);
		got_free(g, k);
		ws_reader_free(&r);
	}
}

static void test_ws_utf8_fails_before_message_ends(void **state)
{
	unsigned char w[64];
	size_t n = 0;
	(void)state;

	/* only the first fragment is sent: the bad byte is enough */
	put_frame(w, &n, WS_OP_TEXT, 0, "ok \xed\xa0\x80 more", 11);
	expect_error(w, n, WS_CLOSE_BAD_DATA);
	/* the message ends inside a code point */
	n = 0;
	put_frame(w, &n, WS_OP_TEXT, 0, "ab\xe2", 3);
	put_frame(w, &n, WS_OP_CONT, 1, "\x82", 1);
	expect_error(w, n, WS_CLOSE_BAD_DATA);
}

static void test_ws_max_message(void **state)
{
	unsigned char p[1001], w[1200];
	size_t n;
	(void)state;

	memset(p, 'x', sizeof(p));
	n = 0;
	put_frame(w, &n, WS_OP_TEXT, 1, p, 1000);
	expect_one(w, n, 1000, WS_EV_MESSAGE, 0);
	n = 0;
	put_frame(w, &n, WS_OP_TEXT, 1, p, 1001);
	expect_one(w, n, 1000, WS_EV_ERROR, WS_CLOSE_TOO_BIG);
	/* across fragments: exact, then one over */
	n = 0;
	put_frame(w, &n, WS_OP_BINARY, 0, p, 600);
	put_frame(w, &n, WS_OP_CONT, 1, p, 400);
	expect_one(w, n, 1000, WS_EV_MESSAGE, 0);
	n = 0;
	put_frame(w, &n, WS_OP_BINARY, 0, p, 600);
	put_frame(w, &n, WS_OP_CONT, 1, p, 401);
	expect_one(w, n, 1000, WS_EV_ERROR, WS_CLOSE_TOO_BIG);
	/* a limit too large to add to does not wrap */
	expect_one(w, n, SIZE_MAX, WS_EV_MESSAGE, 0);
	expect_one(w, n, SIZE_MAX - 100, WS_EV_MESSAGE, 0);
}

/* The declared length alone fails: no payload is read or buffered. */
static void test_ws_max_message_checked_on_header(void **state)
{
	unsigned char w[16] = { 0x82, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
	struct ws_reader r = { 0 };
	struct ws_event ev;
	size_t used;
	(void)state;

	assert_int_equal(ws_read(&r, w, 14, &used, &ev), WS_EV_ERROR);
	assert_int_equal(ev.code, WS_CLOSE_TOO_BIG);
	assert_null(r.buf);
	/* and every later read says the same */
	assert_int_equal(ws_read(&r, "\x81\x80", 2, &used, &ev), WS_EV_ERROR);
	assert_int_equal(ev.code, WS_CLOSE_TOO_BIG);
	assert_int_equal(used, 0);
	assert_non_null(ev.why);
	ws_reader_free(&r);
	/* 512 GiB declared against the default limit; the 16-bit form over a small one */
	w[4] = 0;
	w[5] = 0x80;
	expect_error(w, 14, WS_CLOSE_TOO_BIG);
	{
		unsigned char v[8] = { 0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4 };

		expect_one(v, 8, 255, WS_EV_ERROR, WS_CLOSE_TOO_BIG);
	}
}

static void test_ws_error_is_sticky(void **state)
{
	unsigned char w[64];
	size_t n = 0, used;
	struct ws_reader r = { 0 };
	struct ws_event ev;
	(void)state;

	put_frame(w, &n, WS_OP_CONT, 1, "x", 1);
	put_frame(w, &n, WS_OP_TEXT, 1, "fine", 4);
	assert_int_equal(ws_read(&r, w, n, &used, &ev), WS_EV_ERROR);
	assert_int_equal(ev.code, WS_CLOSE_PROTOCOL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ws_read(&r, w + 7, n - 7, &used, &ev), WS_EV_ERROR);
		assert_int_equal(ev.code, WS_CLOSE_PROTOCOL);
		assert_int_equal(used, 0);
	}
	ws_reader_free(&r);
}

/* Small messages reuse the buffer; a big one's buffer is freed afterwards. */
static void test_ws_buffer_reused_and_shrunk(void **state)
{
	size_t big = 200000, n = 0, used;
	unsigned char *w = malloc(big + 64), *p = calloc(1, big);
	struct ws_reader r = { 0 };
	struct ws_event ev;
	const char *buf;
	(void)state;

	put_frame(w, &n, WS_OP_BINARY, 1, "abc", 3);
	assert_int_equal(ws_read(&r, w, n, &used, &ev), WS_EV_MESSAGE);
	buf = r.buf;
	assert_non_null(buf);
	assert_true(r.cap <= 256);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(ws_read(&r, w, n, &used, &ev), WS_EV_MESSAGE);
		assert_ptr_equal(r.buf, buf);
	}
	n = 0;
	put_frame(w, &n, WS_OP_BINARY, 1, p, big);
	assert_int_equal(ws_read(&r, w, n, &used, &ev), WS_EV_MESSAGE);
	assert_int_equal(ev.len, big);
	assert_true(r.cap >= big);
	assert_int_equal(ws_read(&r, w, 0, &used, &ev), WS_EV_NEED);
	assert_true(r.cap <= 16384);
	/* trim frees an idle reader's buffer */
	n = 0;
	put_frame(w, &n, WS_OP_BINARY, 1, "abc", 3);
	assert_int_equal(ws_read(&r, w, n, &used, &ev), WS_EV_MESSAGE);
	assert_non_null(r.buf);
	ws_reader_trim(&r);
	assert_null(r.buf);
	assert_int_equal(ws_read(&r, w, n, &used, &ev), WS_EV_MESSAGE);
	assert_memory_equal(ev.data, "abc", 3);
	/* but not in the middle of a message */
	n = 0;
	put_frame(w, &n, WS_OP_BINARY, 0, "ab", 2);
	assert_int_equal(ws_read(&r, w, n, &used, &ev), WS_EV_NEED);
	ws_reader_trim(&r);
	assert_non_null(r.buf);
	n = 0;
	put_frame(w, &n, WS_OP_CONT, 1, "c", 1);
	assert_int_equal(ws_read(&r, w, n, &used, &ev), WS_EV_MESSAGE);
	assert_int_equal(ev.len, 3);
	assert_memory_equal(ev.data, "abc", 3);
	ws_reader_free(&r);
	free(w);
	free(p);
}

static void test_ws_accept_key(void **state)
{
	char out[29];
	static const char *bad[] = {
		"dGhlIHNhbXBsZSBub25jZQ=",          /* 23 */
		"dGhlIHNhbXBsZSBub25jZQ===",        /* 25 */
		"dGhlIHNhbXBsZSBub25jZQAA",         /* 18 bytes, no padding */
		"dGhlIHNhbXBsZSBub25jZ===",         /* 15 bytes */
		"dGhlIHNhbXBsZSBub25jZ!==",
		"dGhlIHNhbXBsZSBub 25jZ==",
		"dGhlIHNhbXBsZSBub25jZQ=A",
		"",
	};
	(void)state;

	/* RFC 6455 1.3's example */
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ws_accept_key(bad[i], strlen(bad[i]), out), -1);
	/* the length given is what counts, not a NUL */
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==xx", 24, out), 0);
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 22, out), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ws_reads_a_text_message_split_anywhere),
		cmocka_unit_test(test_ws_header_split_at_every_byte),
		cmocka_unit_test(test_ws_rejects_unmasked_frame),
		cmocka_unit_test(test_ws_rejects_reserved_bits),
		cmocka_unit_test(test_ws_rejects_unknown_opcodes),
		cmocka_unit_test(test_ws_rejects_fragmented_or_long_control_frames),
		cmocka_unit_test(test_ws_rejects_continuation_without_message),
		cmocka_unit_test(test_ws_rejects_new_message_inside_fragmented_one),
		cmocka_unit_test(test_ws_rejects_64bit_length_with_top_bit),
		cmocka_unit_test(test_ws_rejects_close_payload_of_one_byte),
		cmocka_unit_test(test_ws_close_codes),
		cmocka_unit_test(test_ws_close_frames),
		cmocka_unit_test(test_ws_fragmented_message_with_interleaved_control),
		cmocka_unit_test(test_ws_event_consumes_only_its_frame),
		cmocka_unit_test(test_ws_empty_messages),
		cmocka_unit_test(test_ws_length_encodings),
		cmocka_unit_test(test_ws_frame_head_bytes),
		cmocka_unit_test(test_ws_utf8_edge_cases),
		cmocka_unit_test(test_ws_utf8_across_fragments),
		cmocka_unit_test(test_ws_utf8_fails_before_message_ends),
		cmocka_unit_test(test_ws_max_message),
		cmocka_unit_test(test_ws_max_message_checked_on_header),
		cmocka_unit_test(test_ws_error_is_sticky),
		cmocka_unit_test(test_ws_buffer_reused_and_shrunk),
		cmocka_unit_test(test_ws_accept_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
