/*
 * test_h1_response.c - unit tests for core/http/h1_response.c and, through
 * it, the chunked decoder both directions share (core/http/h1_chunked.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "h1_response.h"
#include "h1_chunk_ext_cases.h"

#define MAXH 32

struct rx {
	struct h1_resp res;
	struct h1_resp_header hdr[MAXH];
	const char *why;
	int rc;
};

/* Parse the literal S as a response head (FLAGS, header limit LIM). */
static int parse_f(struct rx *x, const char *s, unsigned flags, size_t lim)
{
	memset(x, 0, sizeof(*x));
	x->res.headers = x->hdr;
	x->res.num_headers = MAXH;
	x->rc = h1_resp_parse(s, strlen(s), &x->res, flags, lim, &x->why);
	return x->rc;
}

static int parse(struct rx *x, const char *s)
{
	return parse_f(x, s, 0, 0);
}

/* Decode the whole chunked body S into OUT; returns consumed or H1_RESP_ERROR. */
static ssize_t dechunk(const char *s, size_t len, size_t step, char *out, size_t *outn,
                       int *done)
{
	struct h1_chunked c;
	size_t off = 0, end = step < len ? step : len;

	h1_chunked_init(&c, 1024);
	*outn = 0;
	while (!c.done) {
		const char *d;
		size_t dl;
		ssize_t r = h1_chunked_decode(&c, s + off, end - off, &d, &dl);

		if (r < 0)
			return r;
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

static void test_h1r_content_length(void **st)
{
	struct rx x;
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhello";

	(void)st;
	assert_int_equal(parse(&x, s), (int)(strlen(s) - 5));
	assert_int_equal(x.res.status, 200);
	assert_int_equal(x.res.minor_version, 1);
	assert_int_equal(x.res.body, H1_RESP_BODY_LENGTH);
	assert_int_equal(x.res.content_length, 5);
	assert_int_equal(x.res.num_headers, 2);
	assert_int_equal(x.res.flags, 0);
	assert_int_equal(x.hdr[1].value_len, 1);
	assert_memory_equal(x.hdr[1].value, "b", 1);
	assert_int_equal(x.res.reason.len, 2);
}

static void test_h1r_chunked_head(void **st)
{
	struct rx x;

	(void)st;
	assert_true(parse(&x, "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n") > 0);
	assert_int_equal(x.res.body, H1_RESP_BODY_CHUNKED);
}

static void test_h1r_close_delimited(void **st)
{
	struct rx x;

	(void)st;
	assert_true(parse(&x, "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n") > 0);
	assert_int_equal(x.res.body, H1_RESP_BODY_CLOSE);
	assert_true(x.res.flags & H1_RESP_F_CLOSE);
}

static void test_h1r_head_has_no_body(void **st)
{
	struct rx x;

	(void)st;
	assert_true(parse_f(&x, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", H1_RESP_HEAD,
	                    0) > 0);
	assert_int_equal(x.res.body, H1_RESP_BODY_NONE);
	assert_int_equal(x.res.flags & H1_RESP_F_CLOSE, 0);
}

static void test_h1r_204_304_no_body(void **st)
{
	struct rx x;

	(void)st;
	assert_true(parse(&x, "HTTP/1.1 204 No Content\r\n\r\n") > 0);
	assert_int_equal(x.res.body, H1_RESP_BODY_NONE);
	assert_true(parse(&x, "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n") > 0);
	assert_int_equal(x.res.body, H1_RESP_BODY_NONE);
	assert_int_equal(x.res.flags & H1_RESP_F_CLOSE, 0);
}

static void test_h1r_1xx_then_final(void **st)
{
	struct rx x;
	const char *s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	int rc;

	(void)st;
	rc = parse(&x, s);
	assert_int_equal(rc, 25);
	assert_int_equal(x.res.status, 100);
	assert_int_equal(x.res.body, H1_RESP_BODY_NONE);
	memset(&x.res, 0, sizeof(x.res));
	x.res.headers = x.hdr;
	x.res.num_headers = MAXH;
	rc = h1_resp_parse(s + 25, strlen(s) - 25, &x.res, 0, 0, NULL);
	assert_true(rc > 0);
	assert_int_equal(x.res.status, 200);
	assert_int_equal(x.res.body, H1_RESP_BODY_LENGTH);
}

static void test_h1r_incomplete(void **st)
{
	struct rx x;

	(void)st;
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nContent-Le"), H1_RESP_INCOMPLETE);
	assert_int_equal(parse(&x, "HTTP/1."), H1_RESP_INCOMPLETE);
	assert_int_equal(parse(&x, ""), H1_RESP_INCOMPLETE);
}

static void test_h1r_every_prefix_incomplete(void **st)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nA: b\r\n\r\n";
	struct h1_resp_header hdr[MAXH];
	size_t i, n = strlen(s);

	(void)st;
	for (i = 0; i < n; i++) {
		struct h1_resp r = { .headers = hdr, .num_headers = MAXH };

		assert_int_equal(h1_resp_parse(s, i, &r, 0, 0, NULL), H1_RESP_INCOMPLETE);
	}
}

static void test_h1r_http10_closes(void **st)
{
	struct rx x;

	(void)st;
	assert_true(parse(&x, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n") > 0);
	assert_true(x.res.flags & H1_RESP_F_CLOSE);
	assert_true(parse(&x, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
	                      "Content-Length: 1\r\n\r\n") > 0);
	assert_int_equal(x.res.flags & H1_RESP_F_CLOSE, 0);
}

static void test_h1r_connection_close(void **st)
{
	struct rx x;

	(void)st;
	assert_true(parse(&x, "HTTP/1.1 200 OK\r\nConnection: foo, Close\r\n"
	                      "Content-Length: 0\r\n\r\n") > 0);
	assert_true(x.res.flags & H1_RESP_F_CLOSE);
}

static void test_h1r_empty_reason(void **st)
{
	struct rx x;

	(void)st;
	assert_true(parse(&x, "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n") > 0);
	assert_int_equal(x.res.status, 404);
	assert_int_equal(x.res.reason.len, 0);
	assert_true(parse(&x, "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n") > 0);
}

static void test_h1r_rejects_duplicate_cl(void **st)
{
	struct rx x;

	(void)st;
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	                           "Content-Length: 5\r\n\r\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	                           "content-length: 6\r\n\r\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"),
	                 H1_RESP_ERROR);
}

static void test_h1r_rejects_bad_cl(void **st)
{
	struct rx x;

	(void)st;
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n"),
	                 H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"),
	                 H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n"), H1_RESP_ERROR);
}

static void test_h1r_rejects_cl_with_te(void **st)
{
	struct rx x;

	(void)st;
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	                           "Transfer-Encoding: chunked\r\n\r\n"), H1_RESP_ERROR);
	assert_string_equal(x.why, "content-length with transfer-encoding");
}

static void test_h1r_rejects_unknown_te(void **st)
{
	struct rx x;

	(void)st;
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
	                 H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	                           "Transfer-Encoding: chunked\r\n\r\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
	                 H1_RESP_ERROR);
}

static void test_h1r_rejects_garbage_early(void **st)
{
	struct rx x;

	(void)st;
	assert_int_equal(parse(&x, "garbage"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/2 200"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "ICY 200 OK\r\n\r\n"), H1_RESP_ERROR);
}

static void test_h1r_rejects_bad_status_line(void **st)
{
	struct rx x;

	(void)st;
	assert_int_equal(parse(&x, "HTTP/1.1 20 OK\r\n\r\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 099 OK\r\n\r\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 2000 OK\r\n\r\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1  200 OK\r\n\r\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 200 O\x01K\r\n\r\n"), H1_RESP_ERROR);
}

static void test_h1r_rejects_bare_lf_and_cr(void **st)
{
	struct rx x;

	(void)st;
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\nContent-Length: 0\n\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n"), H1_RESP_ERROR);
}

static void test_h1r_rejects_obs_fold(void **st)
{
	struct rx x;

	(void)st;
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"), H1_RESP_ERROR);
}

static void test_h1r_rejects_bad_header_name(void **st)
{
	struct rx x;

	(void)st;
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\n: 5\r\n\r\n"), H1_RESP_ERROR);
	assert_int_equal(parse(&x, "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"), H1_RESP_ERROR);
}

static void test_h1r_rejects_nul_in_value(void **st)
{
	struct h1_resp_header hdr[4];
	struct h1_resp r = { .headers = hdr, .num_headers = 4 };
	static const char s[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n";

	(void)st;
	assert_int_equal(h1_resp_parse(s, sizeof(s) - 1, &r, 0, 0, NULL), H1_RESP_ERROR);
}

static void test_h1r_header_limit(void **st)
{
	struct rx x;
	char big[300];

	(void)st;
	memset(big, 0, sizeof(big));
	strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
	memset(big + strlen(big), 'a', 200);
	assert_int_equal(parse_f(&x, big, 0, 100), H1_RESP_ERROR);
	assert_string_equal(x.why, "response head too large");
	assert_int_equal(parse_f(&x, big, 0, 1000), H1_RESP_INCOMPLETE);
}

static void test_h1r_too_many_headers(void **st)
{
	struct h1_resp_header hdr[2];
	struct h1_resp r = { .headers = hdr, .num_headers = 2 };
	const char *s = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";

	(void)st;
	assert_int_equal(h1_resp_parse(s, strlen(s), &r, 0, 0, NULL), H1_RESP_ERROR);
	assert_int_equal(r.num_headers, 2);	/* untouched on failure */
}

static void test_h1r_header_find(void **st)
{
	struct rx x;
	const struct h1_resp_header *h;

	(void)st;
	assert_true(parse(&x, "HTTP/1.1 200 OK\r\nX-Thing: v\r\nContent-Length: 0\r\n\r\n") > 0);
	h = h1_resp_header_find(&x.res, "x-thing", 7);
	assert_non_null(h);
	assert_memory_equal(h->value, "v", 1);
	assert_null(h1_resp_header_find(&x.res, "x-other", 7));
}

static void test_h1r_chunked_decode(void **st)
{
	const char *s = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT";
	char out[64];
	size_t n, step;
	int done;

	(void)st;
	for (step = 1; step <= strlen(s); step++) {
		ssize_t r = dechunk(s, strlen(s), step, out, &n, &done);

		assert_int_equal(r, (ssize_t)strlen(s) - 4);
		assert_true(done);
		assert_int_equal(n, 11);
		assert_memory_equal(out, "hello world", 11);
	}
}

static void test_h1r_chunked_trailers_skipped(void **st)
{
	const char *s = "3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n";
	char out[16];
	size_t n;
	int done;

	(void)st;
	assert_int_equal(dechunk(s, strlen(s), strlen(s), out, &n, &done), (ssize_t)strlen(s));
	assert_true(done);
	assert_int_equal(n, 3);
}

/* Trailer fields of a response follow the request side's rules: a token,
 * a colon, field content, CRLF (the old decoder took any field bytes). */
static void test_h1r_chunked_trailer_fields_are_checked_like_requests(void **st)
{
	static const char *const bad[] = {
		"0\r\nX-Sum 1\r\n\r\n", "0\r\nX-Sum : 1\r\n\r\n", "0\r\nX(S): 1\r\n\r\n",
		"0\r\nX: 1\r\n\tfold\r\n\r\n", "0\r\nX: 1\n\r\n",
	};
	char out[16];
	size_t n, i;
	int done;

	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dechunk(bad[i], strlen(bad[i]), strlen(bad[i]), out, &n, &done) != H1_ERROR)
			fail_msg("trailer case %zu accepted", i);
	assert_int_equal(dechunk("0\r\nX: \r\n\r\n", 9, 9, out, &n, &done), 9);
}

static void test_h1r_chunked_rejects_bad_sizes(void **st)
{
	static const char *bad[] = {
		"x\r\n", "\r\n", "-1\r\n", " 5\r\nhello\r\n", "5 \r\nhello\r\n",
		"11111111111111111\r\n", "5\r\nhelloXX0\r\n\r\n", "5\nhello\r\n",
		"0\r\n\r\r", "3\r\nabc\r\n0\r\n: bad\r\n\r\n",
	};
	size_t i, n;
	char out[64];
	int done;

	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dechunk(bad[i], strlen(bad[i]), 64, out, &n, &done), H1_RESP_ERROR);
}

static void test_h1r_chunked_trailer_limit(void **st)
{
	struct h1_chunked c;
	const char *s = "0\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	const char *d;
	size_t dl;

	(void)st;
	h1_chunked_init(&c, 8);
	assert_int_equal(h1_chunked_decode(&c, s, strlen(s), &d, &dl), H1_RESP_ERROR);
	/* the error is sticky */
	assert_int_equal(h1_chunked_decode(&c, "0\r\n\r\n", 5, &d, &dl), H1_RESP_ERROR);
}

/* The chunk-ext table both directions run (h1_chunk_ext_cases.h). */
static void test_h1r_chunk_ext_rules_are_the_same_both_ways(void **state)
{
	(void)state;
	chunk_ext_check_all();
}

static void test_h1r_chunked_large_size(void **st)
{
	struct h1_chunked c;
	const char *d;
	size_t dl;

	(void)st;
	/* the request side's bound: 16 digits, below 2^63 */
	h1_chunked_init(&c, 0);
	assert_int_equal(h1_chunked_decode(&c, "7fffffffffffffff\r\nab", 20, &d, &dl), 20);
	assert_int_equal(dl, 2);
	assert_true(c.remaining == 0x7fffffffffffffffull - 2);
	h1_chunked_init(&c, 0);
	assert_int_equal(h1_chunked_decode(&c, "8000000000000000\r\n", 18, &d, &dl), H1_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_h1r_chunk_ext_rules_are_the_same_both_ways),
		cmocka_unit_test(test_h1r_content_length),
		cmocka_unit_test(test_h1r_chunked_head),
		cmocka_unit_test(test_h1r_close_delimited),
		cmocka_unit_test(test_h1r_head_has_no_body),
		cmocka_unit_test(test_h1r_204_304_no_body),
		cmocka_unit_test(test_h1r_1xx_then_final),
		cmocka_unit_test(test_h1r_incomplete),
		cmocka_unit_test(test_h1r_every_prefix_incomplete),
		cmocka_unit_test(test_h1r_http10_closes),
		cmocka_unit_test(test_h1r_connection_close),
		cmocka_unit_test(test_h1r_empty_reason),
		cmocka_unit_test(test_h1r_rejects_duplicate_cl),
		cmocka_unit_test(test_h1r_rejects_bad_cl),
		cmocka_unit_test(test_h1r_rejects_cl_with_te),
		cmocka_unit_test(test_h1r_rejects_unknown_te),
		cmocka_unit_test(test_h1r_rejects_garbage_early),
		cmocka_unit_test(test_h1r_rejects_bad_status_line),
		cmocka_unit_test(test_h1r_rejects_bare_lf_and_cr),
		cmocka_unit_test(test_h1r_rejects_obs_fold),
		cmocka_unit_test(test_h1r_rejects_bad_header_name),
		cmocka_unit_test(test_h1r_rejects_nul_in_value),
		cmocka_unit_test(test_h1r_header_limit),
		cmocka_unit_test(test_h1r_too_many_headers),
		cmocka_unit_test(test_h1r_header_find),
		cmocka_unit_test(test_h1r_chunked_decode),
		cmocka_unit_test(test_h1r_chunked_trailers_skipped),
		cmocka_unit_test(test_h1r_chunked_trailer_fields_are_checked_like_requests),
		cmocka_unit_test(test_h1r_chunked_rejects_bad_sizes),
		cmocka_unit_test(test_h1r_chunked_trailer_limit),
		cmocka_unit_test(test_h1r_chunked_large_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
