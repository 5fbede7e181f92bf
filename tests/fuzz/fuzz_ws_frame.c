/*
 * fuzz_ws_frame.c - libFuzzer target for core/ws/ws_frame.c and the
 * inflating half of core/ws/ws_deflate.c.
 *
 * Input: byte 0 picks the settings (permessage-deflate or not, context
 * takeover, window, a small max_message), byte 1 seeds the split points;
 * the rest is what a client sent. The bytes are read twice, whole and in
 * random pieces, and must give the same events. Checks, beyond memory
 * safety: *used never exceeds what was given, WS_EV_NEED takes everything,
 * messages stay within max_message, text and close reasons are UTF-8, an
 * error sticks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)
#define MAXEV 64

struct rec {
	int ev, op;
	unsigned code;
	size_t len;
	uint32_t sum;
};

static uint32_t sum(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

/* Reads W[0..N) in pieces (SEED 0: whole); records the events into OUT. */
static int run(unsigned flags, unsigned seed, const uint8_t *w, size_t n, struct rec *out)
{
	struct ws_pmd pmd = {
		.server_no_context_takeover = 1,
		.client_no_context_takeover = (flags >> 1) & 1,
		.server_max_window_bits = 15,
		.client_max_window_bits = 8 + (int)((flags >> 2) & 7),
	};
	struct ws_reader r = { 0 };
	size_t off = 0, end, max;
	uint32_t rng = seed * 2654435761u + 1;
	int k = 0, failed = 0;
	unsigned fail_code = 0;

	r.max_message = (flags & 0x20) ? 300 : (flags & 0x40) ? 70000 : 0;
	max = r.max_message ? r.max_message : WS_DEFAULT_MAX_MESSAGE;
	if (flags & 1)
		r.inflate = ws_inflater_new(&pmd);
	end = seed ? 0 : n;
	for (;;) {
		struct ws_event ev;
		size_t used = (size_t)-1;
		int e;

		if (seed && end < n && (end == off || (rng & 3) == 0)) {
			rng = rng * 1103515245u + 12345u;
			end += 1 + (rng >> 16) % 97;
			if (end > n)
				end = n;
		}
		e = ws_read(&r, w + off, end - off, &used, &ev);
		CHECK(e == ev.ev);
		CHECK(used <= end - off);
		if (failed) {
			CHECK(e == WS_EV_ERROR && ev.code == fail_code && used == 0);
			break;
		}
		off += used;
		if (e == WS_EV_NEED) {
			CHECK(off == end);
			if (end == n)
				break;
			continue;
		}
		CHECK(k < MAXEV);
		out[k].ev = e;
		out[k].op = ev.op;
		out[k].code = ev.code;
		out[k].len = ev.len;
		out[k].sum = 0;
		switch (e) {
		case WS_EV_MESSAGE:
			CHECK(ev.op == WS_OP_TEXT || ev.op == WS_OP_BINARY);
			CHECK(ev.len <= max && ev.data);
			CHECK(ev.op != WS_OP_TEXT || ws_utf8_ok(ev.data, ev.len));
			out[k].sum = sum(ev.data, ev.len);
			break;
		case WS_EV_PING:
		case WS_EV_PONG:
			CHECK(ev.len <= 125 && ev.data);
			out[k].sum = sum(ev.data, ev.len);
			break;
		case WS_EV_CLOSE:
			CHECK(ev.code == WS_CLOSE_NO_STATUS || ws_close_code_ok(ev.code));
			CHECK(ev.len <= 123 && ws_utf8_ok(ev.data, ev.len));
			out[k].sum = sum(ev.data, ev.len);
			break;
		case WS_EV_ERROR:
			CHECK(ev.why != NULL);
			CHECK(ev.code == WS_CLOSE_PROTOCOL || ev.code == WS_CLOSE_BAD_DATA ||
			      ev.code == WS_CLOSE_TOO_BIG || ev.code == WS_CLOSE_INTERNAL);
			failed = 1;
			fail_code = ev.code;
			break;
		default:
			CHECK(0);
		}
		CHECK(r.cap <= max + 125);
		if (++k == MAXEV)
			break;
	}
	ws_reader_free(&r);
	ws_inflater_free(r.inflate);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rec a[MAXEV], b[MAXEV];
	int ka, kb;

	if (size < 2)
		return 0;
	ka = run(data[0], 0, data + 2, size - 2, a);
	kb = run(data[0], data[1] | 0x100u, data + 2, size - 2, b);
	CHECK(ka == kb);
	for (int i = 0; i < ka; i++) {
		CHECK(a[i].ev == b[i].ev && a[i].op == b[i].op && a[i].code == b[i].code);
		CHECK(a[i].len == b[i].len && a[i].sum == b[i].sum);
	}
	return 0;
}
