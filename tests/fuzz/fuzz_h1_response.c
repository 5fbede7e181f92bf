/*
 * fuzz_h1_response.c - libFuzzer target for core/http/h1_response.c and the
 * shared chunked decoder (core/http/h1_chunked.c).
 *
 * Input: byte 0 picks a split point and the HEAD flag, byte 1 the header
 * limit; the rest is the wire. Checks, beyond memory safety: a prefix never
 * yields a different verdict than the whole (INCOMPLETE or the same answer),
 * every view lies inside the buffer, framing is consistent, and the chunked
 * decoder produces the same body however its input is split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1_response.h"

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

static int inside(const char *buf, size_t len, const char *p, size_t n)
{
	return n == 0 || (p >= buf && p + n <= buf + len);
}

/* Decode BUF/LEN in pieces of STEP bytes; body into OUT (capped at CAP). */
static ssize_t dechunk(const char *buf, size_t len, size_t step, char *out, size_t cap,
                       size_t *outn, int *done)
{
	struct h1_chunked c;
	size_t off = 0, end = step < len ? step : len;

	h1_chunked_init(&c, 256);
	*outn = 0;
	*done = 0;
	while (!c.done) {
		const char *d;
		size_t dl;
		ssize_t r = h1_chunked_decode(&c, buf + off, end - off, &d, &dl);

		if (r < 0)
			return r;
		CHECK((size_t)r <= end - off);
		CHECK(inside(buf + off, (size_t)r, d, dl));
		if (*outn + dl <= cap)
			memcpy(out + *outn, d, dl);
		*outn += dl;
		off += (size_t)r;
		if (r == 0 && dl == 0) {
			if (end == len)
				break;
			end = end + step < len ? end + step : len;
		}
	}
	*done = c.done;
	return (ssize_t)off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h1_resp_header hdr[16], hdr2[16];
	struct h1_resp r, r2;
	const char *buf, *why = NULL;
	size_t len, split, lim;
	unsigned flags;
	int rc, rc2;

	if (size < 2)
		return 0;
	flags = data[0] & 1 ? H1_RESP_HEAD : 0;
	lim = data[1] < 16 ? 0 : (size_t)data[1] * 4;
	buf = (const char *)data + 2;
	len = size - 2;
	split = len ? (size_t)(data[0] >> 1) % (len + 1) : 0;

	memset(&r, 0, sizeof(r));
	r.headers = hdr;
	r.num_headers = 16;
	rc = h1_resp_parse(buf, len, &r, flags, lim, &why);
	CHECK(rc == H1_RESP_INCOMPLETE || rc == H1_RESP_ERROR || (rc > 0 && (size_t)rc <= len));
	if (rc == H1_RESP_ERROR)
		CHECK(why != NULL);

	/* a prefix: INCOMPLETE, or the same verdict */
	memset(&r2, 0, sizeof(r2));
	r2.headers = hdr2;
	r2.num_headers = 16;
	rc2 = h1_resp_parse(buf, split, &r2, flags, lim, NULL);
	if (rc2 != H1_RESP_INCOMPLETE)
		CHECK(rc2 == rc);

	if (rc > 0) {
		unsigned i;

		CHECK(r.status >= 100 && r.status <= 999);
		CHECK(r.num_headers <= 16);
		CHECK(inside(buf, len, r.reason.ptr, r.reason.len));
		for (i = 0; i < r.num_headers; i++) {
			CHECK(r.headers[i].name_len > 0);
			CHECK(inside(buf, (size_t)rc, r.headers[i].name, r.headers[i].name_len));
			CHECK(inside(buf, (size_t)rc, r.headers[i].value, r.headers[i].value_len));
			CHECK(memchr(r.headers[i].value, '\n', r.headers[i].value_len) == NULL);
		}
		if (flags & H1_RESP_HEAD || r.status < 200 || r.status == 204 || r.status == 304)
			CHECK(r.body == H1_RESP_BODY_NONE);
		if (r.body == H1_RESP_BODY_CLOSE)
			CHECK(r.flags & H1_RESP_F_CLOSE);
		if (r.body == H1_RESP_BODY_CHUNKED)
			CHECK(h1_resp_header_find(&r, "content-length", 14) == NULL);
		if (r.body == H1_RESP_BODY_CHUNKED && (size_t)rc < len) {
			const char *b = buf + rc;
			size_t bl = len - (size_t)rc, n1, n2;
			char *o1 = malloc(bl + 1), *o2 = malloc(bl + 1);
			int d1, d2;
			ssize_t c1 = dechunk(b, bl, bl, o1, bl, &n1, &d1);
			ssize_t c2 = dechunk(b, bl, split % 7 + 1, o2, bl, &n2, &d2);

			/* splitting can only delay an error, never change the body */
			if (c1 >= 0 && c2 >= 0) {
				CHECK(c1 == c2 && d1 == d2 && n1 == n2);
				CHECK(n1 <= bl && memcmp(o1, o2, n1) == 0);
			} else {
				CHECK(c1 < 0 && c2 < 0);
			}
			free(o1);
			free(o2);
		}
	}
	return 0;
}
