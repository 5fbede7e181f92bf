/*
 * ws_frame.c - the server side of RFC 6455's framing: a pull reader of
 * client frames (every check a server must make, in the order the bytes
 * arrive) and the server's frame header writer.
 *
 * The reader keeps no pointer into the caller's bytes: a header split
 * across reads is held in r->hdr, payload is unmasked into r->buf as it
 * arrives (a compressed message is inflated into it instead), and a control
 * frame's payload waits just past the message being reassembled, so a ping
 * in the middle of a fragmented message does not disturb it.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"
#include "ws_inflate.h"

/* A reassembly buffer bigger than this is freed once its message is read. */
#define WS_READER_KEEP ((size_t)16 << 10)
#define WS_CTL_MAX 125

/* ---- UTF-8 -------------------------------------------------------------- */

/*
 * The incremental check's state: 0 between code points; else the number of
 * continuation bytes still due and the range the next one must fall in
 * (which is how overlongs, surrogates and > U+10FFFF are refused at their
 * second byte). UTF8_BAD once a byte was wrong.
 */
#define UTF8_ST(need, lo, hi) ((unsigned)(need) | (unsigned)(lo) << 8 | (unsigned)(hi) << 16)
#define UTF8_BAD 1u

static unsigned utf8_run(unsigned st, const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c;

		if (st == 0) {
			while (i + 8 <= n) {
				uint64_t w;

				memcpy(&w, s + i, 8);
				if (w & 0x8080808080808080ull)
					break;
				i += 8;
			}
			while (i < n && s[i] < 0x80)
				i++;
			if (i == n)
				break;
			c = s[i++];
			if (c < 0xC2)           /* a stray continuation, or C0/C1 (overlong) */
				return UTF8_BAD;
			else if (c < 0xE0)
				st = UTF8_ST(1, 0x80, 0xBF);
			else if (c < 0xF0)
				st = UTF8_ST(2, c == 0xE0 ? 0xA0 : 0x80, c == 0xED ? 0x9F : 0xBF);
			else if (c < 0xF5)
				st = UTF8_ST(3, c == 0xF0 ? 0x90 : 0x80, c == 0xF4 ? 0x8F : 0xBF);
			else
				return UTF8_BAD;
		} else {
			unsigned need = st & 0xFF;

			c = s[i++];
			if (c < ((st >> 8) & 0xFF) || c > ((st >> 16) & 0xFF))
				return UTF8_BAD;
			st = need > 1 ? UTF8_ST(need - 1, 0x80, 0xBF) : 0;
		}
	}
	return st;
}

int ws_utf8_ok(const void *s, size_t len)
{
	return utf8_run(0, s, len) == 0;
}

int ws_close_code_ok(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

size_t ws_frame_head(unsigned char *out, int op, int fin, int rsv1, uint64_t len)
{
	size_t n = 2;

	out[0] = (unsigned char)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (op & 0x0F));
	if (len < 126) {
		out[1] = (unsigned char)len;
	} else if (len <= 0xFFFF) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		n = 4;
	} else {
		out[1] = 127;
		for (int k = 0; k < 8; k++)
			out[2 + k] = (unsigned char)(len >> (56 - 8 * k));
		n = 10;
	}
	return n;
}

/* ---- the reader ----------------------------------------------------------- */

static size_t max_message(const struct ws_reader *r)
{
	return r->max_message ? r->max_message : WS_DEFAULT_MAX_MESSAGE;
}

static int fail(struct ws_reader *r, struct ws_event *ev, unsigned code, const char *why)
{
	r->failed = 1;
	r->fail_code = code;
	r->fail_why = why;
	ev->ev = WS_EV_ERROR;
	ev->code = code;
	ev->why = why;
	return WS_EV_ERROR;
}

/* Room for NEED bytes in buf, growing it geometrically (capped near the
 * largest message plus a control payload). 0, or -1 (no memory). */
static int reserve(struct ws_reader *r, size_t need)
{
	size_t cap, limit = max_message(r) + WS_CTL_MAX;
	char *nb;

	if (need <= r->cap)
		return 0;
	cap = r->cap ? r->cap * 2 : 256;
	if (cap > limit)
		cap = limit;
	if (cap < need)
		cap = need;
	nb = realloc(r->buf, cap);
	if (!nb)
		return -1;
	r->buf = nb;
	r->cap = cap;
	return 0;
}

/* DST = SRC xor the frame's mask, continuing at r->mask_off. */
static void unmask(struct ws_reader *r, unsigned char *dst, const unsigned char *src,
                   size_t n)
{
	unsigned off = r->mask_off;
	size_t i = 0;

	if (n >= 16) {
		unsigned char m8[8];
		uint64_t m, w;

		for (int k = 0; k < 8; k++)
			m8[k] = r->mask[(off + (unsigned)k) & 3];
		memcpy(&m, m8, 8);
		for (; i + 8 <= n; i += 8) {
			memcpy(&w, src + i, 8);
			w ^= m;
			memcpy(dst + i, &w, 8);
		}
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ r->mask[(off + i) & 3];
	r->mask_off = (unsigned char)((off + n) & 3);
}

static int check_text(struct ws_reader *r, const void *p, size_t n)
{
	if (r->msg_op != WS_OP_TEXT)
		return 0;
	r->utf8_state = utf8_run(r->utf8_state, p, n);
	return r->utf8_state == UTF8_BAD ? -1 : 0;
}

/*
 * Inflates IN[0..N) into buf, never letting the message grow past
 * max_message: once it is full, a 1-byte probe tells whether more output
 * would follow (then 1009), so a deflate bomb costs max_message at most.
 */
static int inflate_into(struct ws_reader *r, const unsigned char *in, size_t n, int trailer,
                        struct ws_event *ev)
{
	size_t max = max_message(r);

	for (;;) {
		unsigned char probe, *out;
		size_t room, got = 0;
		int rc;

		if (r->len < max) {
			if (r->len == r->cap && reserve(r, r->len + 1) < 0)
				return fail(r, ev, WS_CLOSE_INTERNAL, "out of memory inflating a message");
			out = (unsigned char *)r->buf + r->len;
			room = (r->cap < max ? r->cap : max) - r->len;
		} else {
			out = &probe;
			room = 1;
		}
		rc = ws_inflate_some(r->inflate, &in, &n, out, room, trailer, &got);
		if (rc == -2)
			return fail(r, ev, WS_CLOSE_INTERNAL, "out of memory inflating a message");
		if (rc < 0)
			return fail(r, ev, WS_CLOSE_BAD_DATA, "invalid compressed data");
		if (out == &probe && got)
			return fail(r, ev, WS_CLOSE_TOO_BIG, "inflated message over max_message");
		if (got && check_text(r, out, got) < 0)
			return fail(r, ev, WS_CLOSE_BAD_DATA, "invalid UTF-8 in a text message");
		r->len += got;
		if (rc == 1)
			return 0;
	}
}

static int unmask_inflate(struct ws_reader *r, const unsigned char *p, size_t n,
                          struct ws_event *ev)
{
	unsigned char tmp[4096];

	while (n) {
		size_t k = n < sizeof(tmp) ? n : sizeof(tmp);

		unmask(r, tmp, p, k);
		if (inflate_into(r, tmp, k, 0, ev))
			return WS_EV_ERROR;
		p += k;
		n -= k;
	}
	return 0;
}

/* Bytes of header the frame starting with H[0..HAVE) has (2 until known). */
static size_t head_size(const unsigned char *h, size_t have)
{
	unsigned l7;

	if (have < 2)
		return 2;
	l7 = h[1] & 0x7F;
	return 2 + 4 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0);
}

/* Checks on the first two bytes: the frame's kind, before its length. */
static int check_start(struct ws_reader *r, struct ws_event *ev)
{
	unsigned b0 = r->hdr[0], b1 = r->hdr[1], op = b0 & 0x0F, l7 = b1 & 0x7F;
	int ctl = op >= 0x8;

	if (b0 & 0x30)
		return fail(r, ev, WS_CLOSE_PROTOCOL, "reserved bit RSV2 or RSV3 set");
	if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
	    op != WS_OP_PING && op != WS_OP_PONG)
		return fail(r, ev, WS_CLOSE_PROTOCOL, "unknown opcode");
	if (!(b1 & 0x80))
		return fail(r, ev, WS_CLOSE_PROTOCOL, "client frame not masked");
	if (ctl) {
		if (!(b0 & 0x80))
			return fail(r, ev, WS_CLOSE_PROTOCOL, "fragmented control frame");
		if (l7 > WS_CTL_MAX)
			return fail(r, ev, WS_CLOSE_PROTOCOL, "control frame payload over 125 bytes");
		if (b0 & 0x40)
			return fail(r, ev, WS_CLOSE_PROTOCOL, "RSV1 set on a control frame");
		if (op == WS_OP_CLOSE && l7 == 1)
			return fail(r, ev, WS_CLOSE_PROTOCOL, "close frame with a 1-byte payload");
		return 0;
	}
	if (b0 & 0x40) {
		if (!r->inflate)
			return fail(r, ev, WS_CLOSE_PROTOCOL,
			            "RSV1 set without permessage-deflate negotiated");
		if (op == WS_OP_CONT)
			return fail(r, ev, WS_CLOSE_PROTOCOL, "RSV1 set on a continuation frame");
	}
	if (op == WS_OP_CONT && !r->in_message)
		return fail(r, ev, WS_CLOSE_PROTOCOL, "continuation frame without a message");
	if (op != WS_OP_CONT && r->in_message)
		return fail(r, ev, WS_CLOSE_PROTOCOL, "new data message inside a fragmented one");
	return 0;
}

/* The header is whole: its length, the size limits, the frame starts. */
static int start_frame(struct ws_reader *r, struct ws_event *ev)
{
	const unsigned char *h = r->hdr;
	unsigned op = h[0] & 0x0F, l7 = h[1] & 0x7F;
	uint64_t len = l7;
	size_t at = 2, max = max_message(r);

	if (l7 == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
		at = 4;
	} else if (l7 == 127) {
		len = 0;
		for (int k = 0; k < 8; k++)
			len = len << 8 | h[2 + k];
		at = 10;
		if (len >> 63)
			return fail(r, ev, WS_CLOSE_PROTOCOL, "64-bit payload length with the top bit set");
	}
	memcpy(r->mask, h + at, 4);
	if (op < 0x8) {
		int first = op != WS_OP_CONT;
		int compressed = first ? (h[0] & 0x40) != 0 : r->msg_compressed;

		if (!compressed && len > (uint64_t)(max - (first ? 0 : r->len)))
			return fail(r, ev, WS_CLOSE_TOO_BIG, "message over max_message");
		/* compressed bytes are not kept, but a stream that inflates to
		 * little forever is refused too */
		if (compressed && len > 2 * (uint64_t)max + 1024 - (first ? 0 : r->wire))
			return fail(r, ev, WS_CLOSE_TOO_BIG, "compressed message over max_message");
		if (first) {
			r->in_message = 1;
			r->msg_op = (int)op;
			r->msg_compressed = compressed;
			r->utf8_state = 0;
			r->len = 0;
			r->wire = 0;
			if (compressed && ws_inflate_begin(r->inflate) < 0)
				return fail(r, ev, WS_CLOSE_INTERNAL, "out of memory starting to inflate");
		}
		r->wire += len;
	} else {
		r->ctl_len = 0;
		if (reserve(r, r->len + (size_t)len) < 0)
			return fail(r, ev, WS_CLOSE_INTERNAL, "out of memory reading a control frame");
	}
	r->in_frame = 1;
	r->frame_op = (unsigned char)op;
	r->frame_fin = (h[0] & 0x80) != 0;
	r->frame_left = len;
	r->mask_off = 0;
	r->hdr_len = 0;
	return 0;
}

/* The payload bytes P[0..N) of the current frame. */
static int take_payload(struct ws_reader *r, const unsigned char *p, size_t n,
                        struct ws_event *ev)
{
	if (r->frame_op >= 0x8) {
		unmask(r, (unsigned char *)r->buf + r->len + r->ctl_len, p, n);
		r->ctl_len += n;
		return 0;
	}
	if (r->msg_compressed)
		return unmask_inflate(r, p, n, ev);
	if (reserve(r, r->len + n) < 0)
		return fail(r, ev, WS_CLOSE_INTERNAL, "out of memory reading a message");
	unmask(r, (unsigned char *)r->buf + r->len, p, n);
	if (check_text(r, r->buf + r->len, n) < 0)
		return fail(r, ev, WS_CLOSE_BAD_DATA, "invalid UTF-8 in a text message");
	r->len += n;
	return 0;
}

static int control_event(struct ws_reader *r, struct ws_event *ev)
{
	const unsigned char *p = (const unsigned char *)(r->buf ? r->buf + r->len : "");
	size_t n = r->ctl_len;

	ev->data = (const char *)p;
	ev->len = n;
	if (r->frame_op == WS_OP_PING)
		return ev->ev = WS_EV_PING;
	if (r->frame_op == WS_OP_PONG)
		return ev->ev = WS_EV_PONG;
	if (n == 0) {
		ev->code = WS_CLOSE_NO_STATUS;
		return ev->ev = WS_EV_CLOSE;
	}
	ev->code = (unsigned)p[0] << 8 | p[1];
	ev->data = (const char *)p + 2;
	ev->len = n - 2;
	if (!ws_close_code_ok(ev->code))
		return fail(r, ev, WS_CLOSE_PROTOCOL, "close code not allowed");
	if (!ws_utf8_ok(ev->data, ev->len))
		return fail(r, ev, WS_CLOSE_BAD_DATA, "close reason not valid UTF-8");
	return ev->ev = WS_EV_CLOSE;
}

static int message_event(struct ws_reader *r, struct ws_event *ev)
{
	static const unsigned char trailer[4] = { 0x00, 0x00, 0xFF, 0xFF };

	if (r->msg_compressed) {
		int rc;

		if (inflate_into(r, trailer, sizeof(trailer), 1, ev))
			return WS_EV_ERROR;
		rc = ws_inflate_end(r->inflate);
		if (rc < 0)
			return fail(r, ev, WS_CLOSE_INTERNAL, "out of memory ending a message");
	}
	if (r->msg_op == WS_OP_TEXT && r->utf8_state != 0)
		return fail(r, ev, WS_CLOSE_BAD_DATA, "text message ends inside a UTF-8 sequence");
	r->in_message = 0;
	r->delivered = 1;
	ev->ev = WS_EV_MESSAGE;
	ev->op = r->msg_op;
	ev->data = r->buf ? r->buf : "";
	ev->len = r->len;
	return WS_EV_MESSAGE;
}

int ws_read(struct ws_reader *r, const void *data, size_t len, size_t *used,
            struct ws_event *ev)
{
	const unsigned char *p = data;
	size_t n = len;

	memset(ev, 0, sizeof(*ev));
	*used = 0;
	if (r->failed) {
		ev->ev = WS_EV_ERROR;
		ev->code = r->fail_code;
		ev->why = r->fail_why;
		return WS_EV_ERROR;
	}
	if (r->delivered) {
		r->delivered = 0;
		r->len = 0;
		if (r->cap > WS_READER_KEEP)
			ws_reader_free(r);
	}
	for (;;) {
		size_t take;

		while (!r->in_frame) {
			size_t want = head_size(r->hdr, r->hdr_len), k;

			if (r->hdr_len == want) {
				if (start_frame(r, ev))
					goto out;
				break;
			}
			if (n == 0)
				goto out;
			k = want - r->hdr_len < n ? want - r->hdr_len : n;
			memcpy(r->hdr + r->hdr_len, p, k);
			r->hdr_len = (unsigned char)(r->hdr_len + k);
			p += k;
			n -= k;
			if (r->hdr_len == 2 && check_start(r, ev))
				goto out;
		}
		take = r->frame_left < n ? (size_t)r->frame_left : n;
		if (take && take_payload(r, p, take, ev))
			goto out;
		p += take;
		n -= take;
		r->frame_left -= take;
		if (r->frame_left)
			goto out;                /* n == 0: the rest comes later */
		r->in_frame = 0;
		if (r->frame_op >= 0x8) {
			control_event(r, ev);
			goto out;
		}
		if (r->frame_fin) {
			message_event(r, ev);
			goto out;
		}
	}
out:
	*used = len - n;
	return ev->ev;
}

void ws_reader_free(struct ws_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
}

void ws_reader_trim(struct ws_reader *r)
{
	if (r->in_message || r->in_frame)
		return;
	r->delivered = 0;
	ws_reader_free(r);
}
