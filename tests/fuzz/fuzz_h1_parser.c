/*
 * fuzz_h1_parser.c - libFuzzer target for core/http/h1_parser.c.
 *
 * Input: byte 0 picks a split point, byte 1 picks limits; the rest is the
 * wire. Checks, beyond memory safety: a prefix never yields a different
 * verdict than the whole (monotonic), every view lies inside the buffer, and
 * the chunked decoder produces the same body however its input is split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1_parser.h"

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

static int inside(const char *buf, size_t len, const char *p, size_t n)
{
	return n == 0 || (p >= buf && p + n <= buf + len);
}

/* Decode BUF/LEN fed in two pieces split at SPLIT; body into OUT (capped).
 * KEEP: hold the trailer section (keep_trailer) and check the view of it. */
static ssize_t dechunk(const char *buf, size_t len, size_t split, char *out, size_t cap,
                       size_t *outn, int *done, int keep)
{
	struct h1_chunked c;
	size_t off = 0, end = split;
	int stalls = 0;

	h1_chunked_init(&c, 256);
	c.keep_trailer = keep;
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
			if (end == len || ++stalls > 1)
				break;
			end = len;
		}
		if (off == end && end < len)
			end = len;
	}
	*done = c.done;
	if (keep && c.done) {
		/* the section, then the final CRLF, ends what was consumed */
		CHECK(off >= 2 + c.trailer_len);
		CHECK(c.trailer == buf + off - 2 - c.trailer_len);
		CHECK(buf[off - 2] == '\r' && buf[off - 1] == '\n');
		CHECK(c.trailer_len == 0 || (c.trailer[c.trailer_len - 1] == '\n' &&
		                             c.trailer_len <= 256));
	}
	return (ssize_t)off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h1_header hdr[32], hdr2[32];
	struct h1_request req, req2;
	struct h1_limits lim;
	const char *why = NULL, *buf;
	size_t len, split;
	int st = 0, st2 = 0, rc, rc2;

	if (size < 2)
		return 0;
	h1_limits_default(&lim);
	if (data[1] & 1) {
		lim.max_request_line = 64;
		lim.max_header_bytes = 128;
		lim.max_headers = 4;
	}
	buf = (const char *)data + 2;
	len = size - 2;
	split = len ? data[0] % (len + 1) : 0;

	/* heap copy so ASan sees reads past the end */
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return 0;
	memcpy(copy, buf, len);
	buf = copy;

	memset(&req, 0, sizeof(req));
	req.headers = hdr;
	req.num_headers = (data[1] & 2) ? 3 : 32;
	rc = h1_parse_request(buf, len, &req, &lim, &st, &why);

	memset(&req2, 0, sizeof(req2));
	req2.headers = hdr2;
	req2.num_headers = req.num_headers;
	rc2 = h1_parse_request(buf, split, &req2, &lim, &st2, NULL);

	/* the same bytes a few at a time through the resumable entry: the same
	 * head, or the same error (which may wait for its line or the head's end) */
	{
		struct h1_progress pg;
		struct h1_request req3;
		size_t step = 1 + data[0] % 7, at = 0;
		int rc3 = H1_INCOMPLETE, st3 = 0;

		memset(&pg, 0, sizeof(pg));
		while (rc3 == H1_INCOMPLETE && at < len) {
			at = at + step < len ? at + step : len;
			memset(&req3, 0, sizeof(req3));
			req3.headers = hdr2;
			req3.num_headers = req.num_headers;
			rc3 = h1_parse_request_more(buf, at, &req3, &lim, &pg, &st3, NULL);
		}
		if (rc == H1_ERROR)
			CHECK(rc3 == H1_ERROR || rc3 == H1_INCOMPLETE);
		else
			CHECK(rc3 == rc);
		CHECK(pg.work <= 16 * (uint64_t)len + 64);
	}

	if (rc == H1_ERROR) {
		CHECK(why != NULL);
		CHECK(st == 400 || st == 414 || st == 417 || st == 431 || st == 501 || st == 505);
		CHECK(rc2 == H1_INCOMPLETE || rc2 == H1_ERROR || rc2 > 0);
	} else if (rc == H1_INCOMPLETE) {
		CHECK(rc2 == H1_INCOMPLETE);
	} else {
		CHECK(rc > 0 && (size_t)rc <= len);
		CHECK(rc2 == H1_INCOMPLETE || rc2 == rc);
		CHECK(rc2 != H1_INCOMPLETE || split < (size_t)rc);
		CHECK(req.minor_version == 0 || req.minor_version == 1);
		CHECK(inside(buf, len, req.method.ptr, req.method.len));
		CHECK(inside(buf, len, req.target.ptr, req.target.len));
		CHECK(inside(buf, len, req.query.ptr, req.query.len));
		CHECK(inside(buf, len, req.host.ptr, req.host.len));
		CHECK(req.path.len > 0);
		for (unsigned i = 0; i < req.num_headers; i++) {
			CHECK(req.headers[i].name_len > 0);
			CHECK(inside(buf, len, req.headers[i].name, req.headers[i].name_len));
			CHECK(inside(buf, len, req.headers[i].value, req.headers[i].value_len));
		}
		(void)h1_header_find(&req, "host", 4);

		if (req.body == H1_BODY_CHUNKED) {
			static char a[65536], b[65536];
			const char *body = buf + rc;
			size_t blen = len - (size_t)rc, an, bn;
			int ad, bd;
			ssize_t ra, rb;

			ra = dechunk(body, blen, blen, a, sizeof(a), &an, &ad, 0);
			rb = dechunk(body, blen, split % (blen + 1), b, sizeof(b), &bn, &bd,
			             data[1] & 4);
			/* a failed body fails in pieces too; a complete one decodes
			   to the same bytes and ends at the same offset */
			if (ra < 0)
				CHECK(rb < 0);
			else if (ad) {
				CHECK(rb == ra && bd && an == bn);
				if (an <= sizeof(a))
					CHECK(memcmp(a, b, an) == 0);
			}
		}
	}
	free(copy);
	return 0;
}
