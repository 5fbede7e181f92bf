/*
 * ws_test_util.h - builds client frames and drives ws_read the way a
 * connection does, for test_ws_frame.c and test_ws_deflate.c.
 */
#ifndef WS_TEST_UTIL_H
#define WS_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

static const unsigned char test_mask[4] = { 0x37, 0xFA, 0x21, 0x3D };

/*
 * Appends to W (at *N) a client frame: first byte B0 as given (FIN, RSV,
 * opcode), LEN payload bytes from P masked (unless UNMASKED).
 */
static void put_frame_raw(unsigned char *w, size_t *n, unsigned b0, const void *p, size_t len,
                          int unmasked)
{
	unsigned char *o = w + *n;
	size_t h = ws_frame_head(o, 0, 0, 0, len);
	const unsigned char *s = p;

	o[0] = (unsigned char)b0;
	if (!unmasked) {
		o[1] |= 0x80;
		memcpy(o + h, test_mask, 4);
		h += 4;
	}
	for (size_t i = 0; i < len; i++)
		o[h + i] = (unsigned char)(s[i] ^ (unmasked ? 0 : test_mask[i & 3]));
	*n += h + len;
}

static void put_frame(unsigned char *w, size_t *n, int op, int fin, const void *p, size_t len)
{
	put_frame_raw(w, n, (fin ? 0x80u : 0) | (unsigned)op, p, len, 0);
}

struct got {
	int ev, op;
	unsigned code;
	size_t len;
	char *data;
	const char *why;
};

static void got_free(struct got *g, int k)
{
	for (int i = 0; i < k; i++)
		free(g[i].data);
}

/*
 * Feeds W[0..N) to R in pieces of CHUNK bytes (0: all at once), as a
 * connection would: unconsumed bytes are passed again with the next piece.
 * Records up to MAXG events (data copied); stops at an error. Checks that
 * WS_EV_NEED consumed everything it was given.
 */
static int drive(struct ws_reader *r, const unsigned char *w, size_t n, size_t chunk,
                 struct got *g, int maxg)
{
	size_t off = 0, end = chunk && chunk < n ? chunk : n;
	int k = 0;

	for (;;) {
		struct ws_event ev;
		size_t used = 12345;
		int e = ws_read(r, w + off, end - off, &used, &ev);

		assert_int_equal(e, ev.ev);
		assert_true(used <= end - off);
		off += used;
		if (e == WS_EV_NEED) {
			assert_int_equal(off, end);
			if (end == n)
				break;
			end = chunk && end + chunk < n ? end + chunk : n;
			continue;
		}
		assert_true(k < maxg);
		g[k].ev = e;
		g[k].op = ev.op;
		g[k].code = ev.code;
		g[k].len = ev.len;
		g[k].why = ev.why;
		g[k].data = malloc(ev.len + 1);
		assert_non_null(g[k].data);
		if (e != WS_EV_ERROR) {
			assert_non_null(ev.data);
			memcpy(g[k].data, ev.data, ev.len);
		}
		g[k].data[ev.len] = '\0';
		k++;
		if (e == WS_EV_ERROR)
			break;
	}
	return k;
}

#endif
