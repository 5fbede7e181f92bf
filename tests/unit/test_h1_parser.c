/*
 * test_h1_parser.c - unit tests for core/http/h1_parser.c, h1_lex.c and
 * h1_chunked.c (the request side of the HTTP/1 codec).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "h1_parser.h"
#include "h1_chunk_ext_cases.h"

#define MAXH 64

struct px {
	struct h1_request req;
	struct h1_header hdr[MAXH];
	int status;
	const char *why;
	int rc;
};

/* Parse S/LEN with LIM (NULL for defaults) and header capacity CAP. */
static int parse_lim(struct px *x, const char *s, size_t len, const struct h1_limits *lim,
                     unsigned cap)
{
	memset(x, 0, sizeof(*x));
	x->req.headers = x->hdr;
	x->req.num_headers = cap;
	x->status = 0;
	x->why = NULL;
	x->rc = h1_parse_request(s, len, &x->req, lim, &x->status, &x->why);
	return x->rc;
}

static int parse_n(struct px *x, const char *s, size_t len)
{
	return parse_lim(x, s, len, NULL, MAXH);
}

static int parse(struct px *x, const char *s)
{
	return parse_n(x, s, strlen(s));
}

static int str_is(pt_str_t s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* Assert that S fails with STATUS. */
#define REJECT(s, st) do { \
	struct px x_; \
	assert_int_equal(parse(&x_, (s)), H1_ERROR); \
	assert_int_equal(x_.status, (st)); \
	assert_non_null(x_.why); \
} while (0)

#define REJECT_N(s, st) do { \
	struct px x_; \
	assert_int_equal(parse_n(&x_, (s), sizeof(s) - 1), H1_ERROR); \
	assert_int_equal(x_.status, (st)); \
} while (0)

#define ACCEPT(s) do { \
	struct px x_; \
	assert_int_equal(parse(&x_, (s)), (int)strlen(s)); \
} while (0)

/* ---- request line and happy paths ---- */

static void test_h1_parses_simple_get(void **state)
{
	static const char r[] = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n"
	                        "User-Agent: t\r\n\r\n";
	struct px x;

	(void)state;
	assert_int_equal(parse(&x, r), (int)strlen(r));
	assert_true(str_is(x.req.method, "GET"));
	assert_int_equal(x.req.method_id, PT_METHOD_GET);
	assert_true(str_is(x.req.target, "/index.html"));
	assert_true(str_is(x.req.path, "/index.html"));
	assert_int_equal(x.req.query.len, 0);
	assert_true(str_is(x.req.host, "example.com"));
	assert_int_equal(x.req.minor_version, 1);
	assert_int_equal(x.req.num_headers, 2);
	assert_int_equal(x.req.body, H1_BODY_NONE);
	assert_int_equal(x.req.flags, 0);
	assert_int_equal(x.hdr[1].name_len, 10);
	assert_memory_equal(x.hdr[1].name, "User-Agent", 10);
	/* zero-copy: views point into the input */
	assert_ptr_equal(x.req.method.ptr, r);
}

static void test_h1_splits_path_and_query(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "GET /a/b?x=1&y=?2 HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
	assert_true(str_is(x.req.path, "/a/b"));
	assert_true(str_is(x.req.query, "x=1&y=?2"));
	assert_true(parse(&x, "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
	assert_true(str_is(x.req.path, "/a"));
	assert_int_equal(x.req.query.len, 0);
}

static void test_h1_parses_post_with_content_length(void **state)
{
	static const char r[] = "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
	struct px x;

	(void)state;
	assert_int_equal(parse(&x, r), (int)strlen(r) - 5);
	assert_int_equal(x.req.method_id, PT_METHOD_POST);
	assert_int_equal(x.req.body, H1_BODY_LENGTH);
	assert_int_equal(x.req.content_length, 5);
}

static void test_h1_parses_chunked_request(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ChUnKeD\r\n\r\n") > 0);
	assert_int_equal(x.req.body, H1_BODY_CHUNKED);
	assert_true(parse(&x, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  chunked \t\r\n\r\n") > 0);
	assert_int_equal(x.req.body, H1_BODY_CHUNKED);
}

static void test_h1_trims_header_value_ows(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "GET / HTTP/1.1\r\nHost: h\r\nX-A: \t a b \t \r\nX-B:\r\nX-C:c\r\n\r\n") > 0);
	assert_int_equal(x.req.num_headers, 4);
	assert_int_equal(x.hdr[1].value_len, 3);
	assert_memory_equal(x.hdr[1].value, "a b", 3);
	assert_int_equal(x.hdr[2].value_len, 0);
	assert_int_equal(x.hdr[3].value_len, 1);
	assert_memory_equal(x.hdr[3].value, "c", 1);
}

static void test_h1_returns_incomplete_for_every_prefix(void **state)
{
	static const char r[] = "POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
	                        "Expect: 100-continue\r\n\r\n";
	size_t i;
	struct px x;

	(void)state;
	for (i = 0; i < sizeof(r) - 1; i++)
		assert_int_equal(parse_n(&x, r, i), H1_INCOMPLETE);
	assert_int_equal(parse_n(&x, r, sizeof(r) - 1), (int)sizeof(r) - 1);
	assert_int_equal(x.req.flags, H1_F_EXPECT_100);
}

/* Feed R/LEN to h1_parse_request_more one byte more per call, from 1 byte on,
 * until it stops answering H1_INCOMPLETE; returns that answer and the work. */
static int dribble(struct px *x, const char *r, size_t len, const struct h1_limits *lim,
                   size_t *at, uint64_t *work)
{
	struct h1_progress pg;
	size_t i;
	int rc = H1_INCOMPLETE;

	memset(&pg, 0, sizeof(pg));
	for (i = 1; i <= len && rc == H1_INCOMPLETE; i++) {
		memset(x, 0, sizeof(*x));
		x->req.headers = x->hdr;
		x->req.num_headers = MAXH;
		rc = h1_parse_request_more(r, i, &x->req, lim, &pg, &x->status, &x->why);
	}
	*at = i - 1;
	*work = pg.work;
	return rc;
}

/* A 40 KiB head sent one byte at a time costs work linear in its size. */
static void test_h1_partial_head_resumes_in_linear_work(void **state)
{
	static char r[48 * 1024];
	struct h1_limits lim;
	struct px x;
	size_t n, at, i;
	uint64_t work;

	(void)state;
	h1_limits_default(&lim);
	lim.max_header_bytes = 64 * 1024;
	n = (size_t)sprintf(r, "GET /p HTTP/1.1\r\nHost: h\r\n");
	for (i = 0; i < 62; i++) {
		n += (size_t)sprintf(r + n, "X-F%02zu: ", i);
		memset(r + n, 'a' + (int)(i % 26), 670);
		n += 670;
		n += (size_t)sprintf(r + n, "\r\n");
	}
	n += (size_t)sprintf(r + n, "\r\n");
	assert_true(n > 40 * 1024);
	assert_int_equal(dribble(&x, r, n, &lim, &at, &work), (int)n);
	assert_int_equal(at, n);
	assert_int_equal(x.req.num_headers, 63);
	assert_int_equal(x.req.headers[62].value_len, 670);
	assert_int_equal(x.req.headers[62].value[0], 'a' + 61 % 26);
	if (work > 8 * (uint64_t)n)
		fail_msg("%llu bytes examined for a %zu-byte head", (unsigned long long)work, n);
}

/* Asked again with no new byte (a write event, a timer), nothing is parsed. */
static void test_h1_partial_head_asked_again_costs_nothing(void **state)
{
	static const char r[] = "GET /p HTTP/1.1\r\nHost: h\r\nX-A: 1234567890\r\n";
	struct h1_progress pg;
	struct px x;
	uint64_t w;
	int i;

	(void)state;
	memset(&pg, 0, sizeof(pg));
	memset(&x, 0, sizeof(x));
	x.req.headers = x.hdr;
	x.req.num_headers = MAXH;
	assert_int_equal(h1_parse_request_more(r, sizeof(r) - 1, &x.req, NULL, &pg, &x.status,
	                                       &x.why), H1_INCOMPLETE);
	w = pg.work;
	for (i = 0; i < 1000; i++)
		assert_int_equal(h1_parse_request_more(r, sizeof(r) - 1, &x.req, NULL, &pg,
		                                       &x.status, &x.why), H1_INCOMPLETE);
	assert_true(pg.work == w);
}

/* Errors in a dribbled head are still found, and no later than the head's end. */
static void test_h1_partial_head_still_finds_errors(void **state)
{
	static const struct { const char *r; int status; } cases[] = {
		{ "GET /p HTTP/1.1\r\nHost: h\r\nX-A: a\001b\r\n\r\n", 400 },
		{ "GET /p HTTP/1.1\r\nHost: h\r\nX-A : b\r\n\r\n", 400 },
		{ "GET /p HTTP/1.1\r\nHost: h\r\nX-A: b\nX: c\r\n\r\n", 400 },
		{ "GET /p HTTP/1.1\r\nHost: h\r\nX-A: b\rX: c\r\n\r\n", 400 },
		{ "GET /p HTTP/1.1\r\nHost: h\r\n X: c\r\n\r\n", 400 },
		{ "GET /a<b HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n", 400 },
		{ "GET /p HTTP/2.0\r\nHost: h\r\n\r\n", 505 },
		{ "\r\n\r\nGET /p HTTP/1.1\r\nHost: h\r\n\r\n", 0 },
	};
	struct px x, whole;
	size_t i, at, n;
	uint64_t work;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = strlen(cases[i].r);
		rc = dribble(&x, cases[i].r, n, NULL, &at, &work);
		parse(&whole, cases[i].r);
		assert_int_equal(rc, whole.rc);
		if (cases[i].status) {
			assert_int_equal(rc, H1_ERROR);
			assert_int_equal(x.status, cases[i].status);
			assert_int_equal(x.status, whole.status);
		} else {
			assert_int_equal(rc, (int)n);
		}
	}
}

/* A head over the limits fed in pieces is refused by the time the limit is
 * passed, so the connection never buffers more than the limits. */
static void test_h1_partial_head_hits_limits_in_time(void **state)
{
	static char r[80 * 1024];
	struct h1_limits lim;
	struct px x;
	size_t n, at;
	uint64_t work;

	(void)state;
	h1_limits_default(&lim);
	/* a request line without an end: 414 once it passes the limit */
	memcpy(r, "GET /", 5);
	memset(r + 5, 'a', sizeof(r) - 5);
	assert_int_equal(dribble(&x, r, sizeof(r), &lim, &at, &work), H1_ERROR);
	assert_int_equal(x.status, 414);
	assert_true(at <= lim.max_request_line + 2 * 8 + 3);	/* 8 empty lines may lead */
	/* header fields without an end: 431 once the section passes the limit */
	n = (size_t)sprintf(r, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
	memset(r + n, 'b', sizeof(r) - n);
	assert_int_equal(dribble(&x, r, sizeof(r), &lim, &at, &work), H1_ERROR);
	assert_int_equal(x.status, 431);
	assert_true(at <= 16 + lim.max_header_bytes + 2);
	assert_true(work <= 8 * (uint64_t)at);
}

static void test_h1_pipelined_pair_consumes_only_first(void **state)
{
	static const char r[] = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
	struct px x;
	int n;

	(void)state;
	n = parse(&x, r);
	assert_int_equal(n, (int)strlen(r) / 2);
	assert_true(str_is(x.req.path, "/1"));
	assert_int_equal(parse(&x, r + n), n);
	assert_true(str_is(x.req.path, "/2"));
}

static void test_h1_skips_bounded_leading_empty_lines(void **state)
{
	struct px x;

	(void)state;
	assert_int_equal(parse(&x, "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 31);
	assert_true(str_is(x.req.method, "GET"));
	REJECT("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_h1_method_ids(void **state)
{
	static const struct { const char *m; unsigned id; } t[] = {
		{ "GET", PT_METHOD_GET }, { "HEAD", PT_METHOD_HEAD }, { "POST", PT_METHOD_POST },
		{ "PUT", PT_METHOD_PUT }, { "DELETE", PT_METHOD_DELETE },
		{ "PATCH", PT_METHOD_PATCH }, { "OPTIONS", PT_METHOD_OPTIONS },
		{ "CONNECT", PT_METHOD_CONNECT }, { "TRACE", PT_METHOD_TRACE },
		{ "get", PT_METHOD_UNKNOWN }, { "PROPFIND", PT_METHOD_UNKNOWN },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(h1_method_id((pt_str_t){ t[i].m, strlen(t[i].m) }), t[i].id);
}

static void test_h1_accepts_extension_method_token(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "M-SEARCH! /x HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
	assert_int_equal(x.req.method_id, PT_METHOD_UNKNOWN);
	assert_true(str_is(x.req.method, "M-SEARCH!"));
}

static void test_h1_rejects_invalid_method(void **state)
{
	(void)state;
	REJECT("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("bad_method\x01 /foo HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_h1_rejects_bad_request_target(void **state)
{
	(void)state;
	REJECT("GET  HTTP/1.1\r\nHost: h\r\n\r\n", 400);		/* empty */
	REJECT("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400);	/* space */
	REJECT("GET /a\tHTTP/1.1 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET /\xd1\x81 HTTP/1.1\r\nHost: h\r\n\r\n", 400);	/* non-ASCII */
	REJECT("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET /a\rHTTP/1.1 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET /a\nHTTP/1.1 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET /foo\r\nHost: h\r\n\r\n", 400);		/* HTTP/0.9 */
}

static void test_h1_accepts_odd_but_allowed_target_chars(void **state)
{
	(void)state;
	ACCEPT("POST /user:pass123@www.example.com:8080/site/index.php?action=login%20++~!@$%25&*()"
	       "_+:?,./;'[]~&prev=index HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
	ACCEPT("GET /path-%0D-uri HTTP/1.1\r\nHost: h\r\n\r\n");
	/* the excluded characters percent-encoded: %23 %22 %3C %3E %5C %5E %60 %7B %7C %7D */
	ACCEPT("GET /a%23b%22c%3Cd%3Ee%5Cf%5Eg%60h%7Bi%7Cj%7Dk?q=%7B%7D HTTP/1.1\r\nHost: h\r\n\r\n");
}

/* RFC 3986 / RFC 9112 3.2: '#' (a fragment is never sent) and the characters
 * outside the URI grammar are refused in every form and position. */
static void test_h1_rejects_target_chars_outside_uri_grammar(void **state)
{
	static const char bad[] = "#\"<>\\^`{|}";
	static const char *const forms[] = {
		"GET /a%cb HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a?q=%c HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET http://h/a%c HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /%c HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%cbbbbbbbbbbbbbbbbbbb HTTP/1.1\r\nHost: h\r\n\r\n",
	};
	char req[256];
	size_t i, f;
	struct px x;

	(void)state;
	for (i = 0; i < sizeof(bad) - 1; i++) {
		for (f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
			snprintf(req, sizeof(req), forms[f], bad[i]);
			if (parse(&x, req) != H1_ERROR || x.status != 400)
				fail_msg("'%c' accepted in \"%s\"", bad[i], req);
			/* the same answer before the rest of the line has come */
			if (parse_n(&x, req, (size_t)(strchr(req, ' ') - req) + 1 +
			            (size_t)(strchr(strchr(req, ' ') + 1, ' ') - strchr(req, ' ') - 1))
			    != H1_ERROR)
				fail_msg("'%c' not refused early in \"%s\"", bad[i], req);
		}
	}
}

static void test_h1_absolute_form_extracts_path_and_authority(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "GET http://Example.com:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n") > 0);
	assert_true(str_is(x.req.host, "Example.com:8080"));
	assert_true(str_is(x.req.path, "/a/b"));
	assert_true(str_is(x.req.query, "c=d"));
	assert_true(parse(&x, "GET https://e.com?q HTTP/1.1\r\nHost: e.com\r\n\r\n") > 0);
	assert_true(str_is(x.req.path, "/"));
	assert_true(str_is(x.req.query, "q"));
	REJECT("GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET http://u@e.com/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET ftp://e.com/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_h1_asterisk_form_only_for_options(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
	assert_true(str_is(x.req.path, "*"));
	REJECT("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_h1_connect_needs_authority_form(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "CONNECT e.com:443 HTTP/1.1\r\nHost: e.com:443\r\n\r\n") > 0);
	assert_true(str_is(x.req.path, "e.com:443"));
	REJECT("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET e.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_h1_rejects_unsupported_version_with_505(void **state)
{
	(void)state;
	REJECT("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
	REJECT("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505);
	REJECT("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505);
}

static void test_h1_rejects_garbage_version_with_400(void **state)
{
	(void)state;
	REJECT("GET / http/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT("GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400);
	REJECT("GET / HTTP/11\r\nHost: h\r\n\r\n", 400);
	REJECT("GET / HTTQ/1.1\r\n", 400);
	REJECT("GET / XYZ", 400);	/* detected before the line is complete */
}

static void test_h1_accepts_http10_without_host(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "GET / HTTP/1.0\r\n\r\n") > 0);
	assert_int_equal(x.req.minor_version, 0);
	assert_int_equal(x.req.host.len, 0);
	assert_int_equal(x.req.flags & H1_F_CLOSE, H1_F_CLOSE);
}

/* ---- header syntax ---- */

static void test_h1_rejects_missing_host_in_http11(void **state)
{
	(void)state;
	REJECT("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400);
	REJECT("GET http://e.com/ HTTP/1.1\r\n\r\n", 400);
}

static void test_h1_rejects_duplicate_host(void **state)
{
	(void)state;
	REJECT("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400);
}

static void test_h1_rejects_invalid_host_value(void **state)
{
	(void)state;
	REJECT("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400);
	ACCEPT("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
	ACCEPT("GET / HTTP/1.1\r\nHost:\r\n\r\n");
}

static void test_h1_rejects_obs_fold(void **state)
{
	(void)state;
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400);
}

static void test_h1_rejects_bare_cr(void **state)
{
	(void)state;
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nX: a\rContent-Length: 5\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nX\r: 1\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\n\rX", 400);
}

static void test_h1_rejects_bare_lf_line_terminator(void **state)
{
	(void)state;
	REJECT("GET / HTTP/1.1\nHost: h\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\n\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nX: a\n Transfer-Encoding: chunked\r\n\r\n", 400);
}

static void test_h1_rejects_whitespace_before_colon(void **state)
{
	(void)state;
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length\t: 1\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer- Encoding: chunked\r\n\r\n", 400);
}

static void test_h1_rejects_non_token_header_name(void **state)
{
	(void)state;
	REJECT("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\n\x01X: v\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nTran\xc5\xbf" "fer-Encoding: chunked\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400);
	ACCEPT("GET / HTTP/1.1\r\nHost: h\r\nMy-H.!#$%&'*+^_`|~09: v\r\n\r\n");
}

static void test_h1_rejects_control_chars_in_value(void **state)
{
	(void)state;
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400);
	REJECT("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b[0m\r\n\r\n", 400);
}

static void test_h1_accepts_tab_and_obs_text_in_value(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "GET / HTTP/1.1\r\nHost: h\r\nX: \t\t\tCustom-Value;`\x85\x93\xa0\r\n\r\n") > 0);
	assert_int_equal(x.hdr[1].value_len, 17);
}

static void test_h1_rejects_nul_anywhere(void **state)
{
	(void)state;
	REJECT_N("G\0T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT_N("GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REJECT_N("GET / HTTP/1.1\0\r\nHost: h\r\n\r\n", 400);
	REJECT_N("GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n", 400);
	REJECT_N("GET / HTTP/1.1\r\nHost: h\0\r\n\r\n", 400);
	REJECT_N("GET / HTTP/1.1\r\nHost: h\r\nX: a\0content-length: 1\r\n\r\n", 400);
	REJECT_N("GET / HTTP/1.1\r\nHost: h\r\n\0\r\n\r\n", 400);
}

/* ---- message framing ---- */

static void test_h1_rejects_cl_with_te(void **state)
{
	(void)state;
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400);
}

static void test_h1_rejects_duplicate_cl_even_when_equal(void **state)
{
	(void)state;
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\nContent-Length: 42\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\ncontent-length: 100\r\n\r\n", 400);
}

static void test_h1_rejects_cl_lists(void **state)
{
	(void)state;
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42, 42\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000,1000\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000 1000\r\n\r\n", 400);
}

static void test_h1_rejects_malformed_cl(void **state)
{
	(void)state;
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000.1000\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\x11\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\xa0\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \"5\"\r\n\r\n", 400);
}

static void test_h1_rejects_overflowing_cl(void **state)
{
	struct px x;

	(void)state;
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", 400);
	assert_true(parse(&x, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n") > 0);
	assert_true(x.req.content_length == 9223372036854775807ull);
	assert_true(parse(&x, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:  007  \r\n\r\n") > 0);
	assert_true(x.req.content_length == 7);
}

static void test_h1_rejects_chunked_not_final(void **state)
{
	(void)state;
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunk\r\n\r\n", 400);
}

static void test_h1_answers_unsupported_coding_with_501(void **state)
{
	(void)state;
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \t\tchunked;custom_param;\t\t\r\n\r\n", 501);
}

static void test_h1_rejects_te_lookalikes(void **state)
{
	(void)state;
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\x11\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \x01" "chunked\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \xa0" "chunked\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\xa0\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ch unked\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n", 400);
}

static void test_h1_rejects_duplicated_chunked(void **state)
{
	(void)state;
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
	REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,chunked\r\n\r\n", 400);
}

static void test_h1_rejects_te_in_http10(void **state)
{
	(void)state;
	REJECT("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

static void test_h1_underscore_header_is_not_framing(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "POST / HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\n\r\n") > 0);
	assert_int_equal(x.req.body, H1_BODY_NONE);
}

/* ---- connection options ---- */

static void test_h1_sets_close_flag(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, Close\r\n\r\n") > 0);
	assert_int_equal(x.req.flags, H1_F_CLOSE);
	assert_true(parse(&x, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") > 0);
	assert_int_equal(x.req.flags, 0);
	assert_true(parse(&x, "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n") > 0);
	assert_int_equal(x.req.flags, 0);
}

static void test_h1_expect_100_continue_sets_flag(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n") > 0);
	assert_int_equal(x.req.flags, H1_F_EXPECT_100);
	/* RFC 9110 10.1.1: ignored in HTTP/1.0 */
	assert_true(parse(&x, "PUT / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n") > 0);
	assert_int_equal(x.req.flags & H1_F_EXPECT_100, 0);
}

static void test_h1_rejects_other_expectation_with_417(void **state)
{
	(void)state;
	REJECT("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417);
}

static void test_h1_upgrade_needs_connection_option_and_header(void **state)
{
	struct px x;

	(void)state;
	assert_true(parse(&x, "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n") > 0);
	assert_int_equal(x.req.flags, H1_F_UPGRADE);
	assert_true(parse(&x, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n") > 0);
	assert_int_equal(x.req.flags, 0);
}

/* ---- limits ---- */

static void test_h1_request_line_too_long_is_414(void **state)
{
	static char r[400];
	struct h1_limits lim;
	struct px x;

	(void)state;
	h1_limits_default(&lim);
	lim.max_request_line = 100;
	snprintf(r, sizeof(r), "GET /%0300d", 0);
	/* incomplete, no CRLF yet: detected as soon as the limit is passed */
	assert_int_equal(parse_lim(&x, r, 100, &lim, MAXH), H1_INCOMPLETE);
	assert_int_equal(parse_lim(&x, r, 101, &lim, MAXH), H1_ERROR);
	assert_int_equal(x.status, 414);
	/* a line of exactly the limit passes; one byte more fails */
	snprintf(r, sizeof(r), "GET /%086d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
	assert_int_equal(parse_lim(&x, r, strlen(r), &lim, MAXH), (int)strlen(r));
	assert_int_equal(parse_lim(&x, r, 101, &lim, MAXH), H1_INCOMPLETE);	/* line + CR */
	snprintf(r, sizeof(r), "GET /%087d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
	assert_int_equal(parse_lim(&x, r, 101, &lim, MAXH), H1_ERROR);
	assert_int_equal(x.status, 414);
	assert_int_equal(parse_lim(&x, r, strlen(r), &lim, MAXH), H1_ERROR);
	assert_int_equal(x.status, 414);
}

static void test_h1_header_section_too_large_is_431(void **state)
{
	static char r[2048];
	struct h1_limits lim;
	struct px x;
	size_t n;

	(void)state;
	h1_limits_default(&lim);
	lim.max_header_bytes = 64;
	n = (size_t)snprintf(r, sizeof(r), "GET / HTTP/1.1\r\nHost: h\r\nX: %0200d", 0);
	assert_int_equal(parse_lim(&x, r, n, &lim, MAXH), H1_ERROR);
	assert_int_equal(x.status, 431);
	/* exactly 64 bytes of header section: "Host: h\r\n" (9) + "X: " + 48 + CRLF + CRLF */
	n = (size_t)snprintf(r, sizeof(r), "GET / HTTP/1.1\r\nHost: h\r\nX: %048d\r\n\r\n", 0);
	assert_int_equal(parse_lim(&x, r, n, &lim, MAXH), (int)n);
	n = (size_t)snprintf(r, sizeof(r), "GET / HTTP/1.1\r\nHost: h\r\nX: %049d\r\n\r\n", 0);
	assert_int_equal(parse_lim(&x, r, n, &lim, MAXH), H1_ERROR);
	assert_int_equal(x.status, 431);
	/* and incomplete: over the limit without the blank line yet */
	assert_int_equal(parse_lim(&x, r, 16 + 64, &lim, MAXH), H1_ERROR);
	assert_int_equal(x.status, 431);
	assert_int_equal(parse_lim(&x, r, 16 + 63, &lim, MAXH), H1_INCOMPLETE);
	n = (size_t)snprintf(r, sizeof(r), "GET / HTTP/1.1\r\nHost: h\r\nX: %049d\r\n\r\n", 0);
	assert_int_equal(parse_lim(&x, r, n, &lim, MAXH), H1_ERROR);
	assert_int_equal(x.status, 431);
}

static void test_h1_too_many_headers_is_431(void **state)
{
	static const char r[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	struct h1_limits lim;
	struct px x;

	(void)state;
	h1_limits_default(&lim);
	lim.max_headers = 3;
	assert_int_equal(parse_lim(&x, r, strlen(r), &lim, MAXH), H1_ERROR);
	assert_int_equal(x.status, 431);
	lim.max_headers = 4;
	assert_int_equal(parse_lim(&x, r, strlen(r), &lim, MAXH), (int)strlen(r));
	/* the caller's array capacity is a limit too */
	assert_int_equal(parse_lim(&x, r, strlen(r), NULL, 2), H1_ERROR);
	assert_int_equal(x.status, 431);
}

static void test_h1_leaves_capacity_untouched_when_incomplete(void **state)
{
	static const char r[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n";
	struct px x;

	(void)state;
	assert_int_equal(parse(&x, r), H1_INCOMPLETE);
	assert_int_equal(x.req.num_headers, MAXH);
}

static void test_h1_header_find_is_case_insensitive(void **state)
{
	struct px x;
	const struct h1_header *h;

	(void)state;
	assert_true(parse(&x, "GET / HTTP/1.1\r\nHost: h\r\nX-Token: abc\r\n\r\n") > 0);
	h = h1_header_find(&x.req, "x-token", 7);
	assert_non_null(h);
	assert_int_equal(h->value_len, 3);
	assert_null(h1_header_find(&x.req, "x-tok", 5));
	assert_true(h1_token_char('!'));
	assert_false(h1_token_char(':'));
	assert_false(h1_token_char(0x80));
}

/* Every Severe case of aws/http-desync-guardian, as a raw request. */
static void test_h1_rejects_desync_guardian_severe_cases(void **state)
{
#define P "POST /foo/bar HTTP/1.1\r\nHost: h\r\n"
#define E "Connection: keep-alive\r\n\r\n"
	static const struct { const char *r; size_t n; } t[] = {
#define C(s) { s, sizeof(s) - 1 }
		C(P "Content-Length: 1000\r\nContent-Length: 100\r\n" E),
		C(P "Content-Length: 1000,1000\r\n" E),
		C(P "Content-Length: 1000 1000\r\n" E),
		C(P "Content-Length: 1000.1000\r\n" E),
		C(P "Content-Length: 18446744073709551616\r\n" E),
		C(P "Transfer-Encoding: xchunked\r\n" E),
		C(P "Transfer-Encoding: chunked\x11\r\n" E),
		C(P "Content-Length: 1000\x11\r\n" E),
		C(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n" E),
		C(P "Transfer-Encoding: chunked,chunked\r\n" E),
		C(P "Content-Length: 1000\r\nSome-Custom-Header: Multi-line values\r\n are \n deprecated.\r\n" E),
		C(P "Content-Length: 1000\r\nSome-Custom-Header: Multi-line values\n are\r\n" E),
		C(P "Content-Length: 1000\r\nSome-Custom-Header: Parser error\r must not\r\n" E),
		C(P "Some-Bad-Header\r: 1000\r\n" E),
		C(P "Some-Bad-Header\n: Content-Length:1000\r\n Transfer-Encoding: chunked\r\nContent-Length: 100\r\n" E),
		C(P "Some-Bad-Header\0: 1000\r\n" E),
		C(P "Some-Bad-Header: value\rcontent-length: 1000\r\nContent-Length: 100\r\n" E),
		C(P "Some-Bad-Header: value\0content-length: 1000\r\nContent-Length: 100\r\n" E),
		C(P "\0Some-Bad-Header: value\r\nContent-Length: 100\r\n" E),
		C(P "Content-Length : 100\r\nContent-Length: 1000\r\n" E),
		C(P " Content-Length: 100\r\nContent-Length: 1000\r\n" E),
		C(P "Transfer-Encoding : chunked\r\nTransfer-Encoding: chunked\r\n" E),
		C("bad_method\x01 /foo/bar HTTP/1.1\r\nHost: localhost\r\n" E),
		C(P "Transfer-Encoding: \x01" "chunked\r\n" E),
		C(P "Transfer-Encoding: chunked\xa0\r\n" E),
		C(P "Content-Length: \x01" "1000\r\n" E),
		C(P "Content-Length: 1000\xa0\r\n" E),
		C(P "Transfer-Encoding: chunked\x7f\r\n" E),
		C(P "Transfer-Encoding: chunked\x80\r\nContent-Length: $9000\r\n" E),
		C(P "\rTransfer-Encoding: chunked\r\n" E),
		C(P "Transfer-Encoding: chunk\r\nContent-Length: 4\r\n" E),
		C(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n" E),
		C(P "Transfer-Encoding:  \0chunked\r\nContent-Length: 6\r\n" E),
		C("GET /endpoint_a HTTP/1.1 HTTP/1.1\r\nHost: h\r\n" E),
		C("GET /endpoint_a\rHTTP/1.1 HTTP/1.1\r\nHost: h\r\n" E),
		C("GET /endpoint_a\nHTTP/1.1 HTTP/1.1\r\nHost: h\r\n" E),
		C("GET /endpoint_a\tHTTP/1.1\r\nHost:localhost\r\n\r\nGET\t/endpoint_b\t HTTP/1.1\r\n" E),
		C("GET /endpoint_a\0HTTP/1.1 HTTP/1.1\r\nHost: h\r\n" E),
		C("GET \0/endpoint_aHTTP/1.1 HTTP/1.1\r\nHost: h\r\n" E),
#undef C
	};
	size_t i;
	struct px x;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = parse_n(&x, t[i].r, t[i].n);

		if (rc != H1_ERROR)
			fail_msg("severe case %zu accepted (rc %d)", i, rc);
		assert_true(x.status >= 400);
	}
#undef P
#undef E
}

/* ---- chunked decoder ---- */

/* Decode IN in pieces of STEP bytes (0 = all at once) into OUT; returns
 * the total consumed, or -1 on error. */
static long dechunk(const char *in, size_t n, size_t step, char *out, size_t *outn,
                    size_t max_trailer, int *done)
{
	struct h1_chunked c;
	size_t off = 0, avail, guard = 0;

	h1_chunked_init(&c, max_trailer);
	*outn = 0;
	while (off < n && !c.done) {
		const char *d;
		size_t dl;
		ssize_t r;

		avail = step && n - off > step ? step : n - off;
		r = h1_chunked_decode(&c, in + off, avail, &d, &dl);
		if (r < 0)
			return -1;
		memcpy(out + *outn, d, dl);
		*outn += dl;
		off += (size_t)r;
		if (r == 0 && ++guard > 2)
			break;	/* made no progress with everything available */
		if (r > 0)
			guard = 0;
	}
	*done = c.done;
	return (long)off;
}

static void test_h1_chunked_decodes_body(void **state)
{
	static const char in[] = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	char out[64];
	size_t outn;
	int done;

	(void)state;
	assert_int_equal(dechunk(in, sizeof(in) - 1, 0, out, &outn, 0, &done), sizeof(in) - 1);
	assert_true(done);
	assert_int_equal(outn, 11);
	assert_memory_equal(out, "hello world", 11);
}

static void test_h1_chunked_decodes_in_any_split(void **state)
{
	static const char in[] = "A;ext=1;q=\"a\\\"b\"\r\n0123456789\r\n1f\r\n"
	                         "abcdefghijklmnopqrstuvwxyzABCDE\r\n0\r\nX-T: v\r\n\r\n";
	char out[128];
	size_t outn, step, split;
	int done;

	(void)state;
	for (step = 1; step < sizeof(in); step++) {
		assert_int_equal(dechunk(in, sizeof(in) - 1, step, out, &outn, 64, &done),
		                 sizeof(in) - 1);
		assert_true(done);
		assert_int_equal(outn, 41);
		assert_memory_equal(out, "0123456789abcdefghijklmnopqrstuvwxyzABCDE", 41);
	}
	/* two pieces split at every point */
	for (split = 0; split < sizeof(in) - 1; split++) {
		struct h1_chunked c;
		const char *d;
		size_t dl, got = 0, off = 0;
		ssize_t r;

		h1_chunked_init(&c, 64);
		while (off < split) {
			r = h1_chunked_decode(&c, in + off, split - off, &d, &dl);
			assert_true(r >= 0);
			got += dl;
			if (r == 0)
				break;
			off += (size_t)r;
		}
		while (!c.done) {
			r = h1_chunked_decode(&c, in + off, sizeof(in) - 1 - off, &d, &dl);
			assert_true(r > 0);
			got += dl;
			off += (size_t)r;
		}
		assert_int_equal(got, 41);
		assert_int_equal(off, sizeof(in) - 1);
	}
}

static void test_h1_chunked_stops_at_end_of_body(void **state)
{
	static const char in[] = "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	char out[16];
	size_t outn;
	int done;
	struct h1_chunked c;
	const char *d;
	size_t dl;

	(void)state;
	assert_int_equal(dechunk(in, sizeof(in) - 1, 0, out, &outn, 0, &done), 11);
	assert_true(done);
	h1_chunked_init(&c, 0);
	/* framing after the data slice is consumed too, but not the next request */
	assert_int_equal(h1_chunked_decode(&c, in, sizeof(in) - 1, &d, &dl), 11);
	assert_int_equal(dl, 1);
	assert_int_equal(*d, 'a');
	assert_true(c.done);
	assert_int_equal(h1_chunked_decode(&c, in + 11, 10, &d, &dl), 0);
}

#define DECHUNK_FAILS(s, trailer) do { \
	char o_[256]; size_t on_; int d_; \
	assert_int_equal(dechunk((s), sizeof(s) - 1, 0, o_, &on_, (trailer), &d_), -1); \
} while (0)

static void test_h1_chunked_rejects_bad_size(void **state)
{
	(void)state;
	DECHUNK_FAILS("g\r\n", 0);
	DECHUNK_FAILS("+5\r\nhello\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("-5\r\nhello\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS(" 5\r\nhello\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("5 \r\nhello\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("0x5\r\nhello\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("\r\n", 0);
}

static void test_h1_chunked_rejects_oversized_size(void **state)
{
	struct h1_chunked c;
	const char *d;
	size_t dl;

	(void)state;
	DECHUNK_FAILS("00000000000000001\r\n", 0);		/* 17 digits */
	DECHUNK_FAILS("8000000000000000\r\n", 0);		/* 2^63 */
	DECHUNK_FAILS("ffffffffffffffff\r\n", 0);
	h1_chunked_init(&c, 0);
	assert_int_equal(h1_chunked_decode(&c, "7fffffffffffffff\r\n", 18, &d, &dl), 18);
	assert_true(c.remaining == 0x7fffffffffffffffull);
	h1_chunked_init(&c, 0);
	assert_int_equal(h1_chunked_decode(&c, "000000000000000a\r\n", 18, &d, &dl), 18);
}

static void test_h1_chunked_validates_extensions(void **state)
{
	static char big[5000];
	struct h1_chunked c;
	const char *d;
	size_t dl;
	char o[64];
	size_t on;
	int done;

	(void)state;
	assert_int_equal(dechunk("1;a;b=c;d=\"x y\"\r\nz\r\n0;last\r\n\r\n", 30, 0, o, &on, 0, &done), 30);
	assert_true(done);
	DECHUNK_FAILS("1 ;a\r\nz\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("1;\r\nz\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("1;a=\r\nz\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("1;a=b c\r\nz\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("1;a=\"b\r\nz\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("1;a=\"b\"c\r\nz\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("1;a\nz\r\n0\r\n\r\n", 0);
	/* bounded length */
	memset(big, 'x', sizeof(big));
	memcpy(big, "1;", 2);
	h1_chunked_init(&c, 0);
	assert_int_equal(h1_chunked_decode(&c, big, sizeof(big), &d, &dl), H1_ERROR);
}

/* The chunk-ext table both directions run (h1_chunk_ext_cases.h). */
static void test_h1_chunk_ext_rules_are_the_same_both_ways(void **state)
{
	(void)state;
	chunk_ext_check_all();
}

static void test_h1_chunked_requires_crlf_after_data(void **state)
{
	(void)state;
	DECHUNK_FAILS("5\r\nhelloX\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("5\r\nhello\n0\r\n\r\n", 0);
	DECHUNK_FAILS("5\r\nhello\r0\r\n\r\n", 0);
	DECHUNK_FAILS("3\r\nhello\r\n0\r\n\r\n", 0);
}

static void test_h1_chunked_rejects_bare_lf_and_cr(void **state)
{
	(void)state;
	DECHUNK_FAILS("5\nhello\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("5\rhello\r\n0\r\n\r\n", 0);
	DECHUNK_FAILS("0\r\n\n", 0);
	DECHUNK_FAILS("0\r\n\rX", 0);
}

static void test_h1_chunked_bounds_and_checks_trailers(void **state)
{
	static const char ok[] = "0\r\nX-A: 1\r\nX-B: two\r\n\r\n";
	char o[64];
	size_t on;
	int done;

	(void)state;
	assert_int_equal(dechunk(ok, sizeof(ok) - 1, 0, o, &on, 64, &done), sizeof(ok) - 1);
	assert_true(done);
	/* the budget counts field lines with their CRLF: 8 + 10 bytes */
	assert_int_equal(dechunk(ok, sizeof(ok) - 1, 0, o, &on, 18, &done), sizeof(ok) - 1);
	assert_int_equal(dechunk(ok, sizeof(ok) - 1, 0, o, &on, 17, &done), -1);
	DECHUNK_FAILS("0\r\nX-A: 1\r\n\r\n", 0);		/* no trailer budget */
	DECHUNK_FAILS("0\r\n X-A: 1\r\n\r\n", 64);		/* leading whitespace */
	DECHUNK_FAILS("0\r\nX-A : 1\r\n\r\n", 64);
	DECHUNK_FAILS("0\r\nX-A: 1\x01\r\n\r\n", 64);
	DECHUNK_FAILS("0\r\nX-A: 1\r\n\tfold\r\n\r\n", 64);
	DECHUNK_FAILS("0\r\nX-A: 1\n\r\n", 64);
}

/*
 * keep_trailer: decode BODY arriving STEP bytes at a time into a buffer that
 * keeps what was not consumed (as h1_conn's input does). Returns the bytes
 * consumed in all when done (-1 on error, -2 when it never ended) and copies
 * the trailer section into TR.
 */
static int dechunk_keep(const char *body, size_t len, size_t step, size_t budget,
                        char *tr, size_t *trn)
{
	struct h1_chunked c;
	size_t off = 0, avail = 0;

	h1_chunked_init(&c, budget);
	c.keep_trailer = 1;
	*trn = 0;
	while (!c.done) {
		const char *d;
		size_t dl;
		ssize_t r;

		avail = avail + step < len ? avail + step : len;
		r = h1_chunked_decode(&c, body + off, avail - off, &d, &dl);
		if (r < 0)
			return -1;
		off += (size_t)r;
		if (c.done)
			break;
		if (avail == len && r == 0 && dl == 0)
			return -2;
	}
	memcpy(tr, c.trailer, c.trailer_len);
	*trn = c.trailer_len;
	return (int)off;
}

static void test_h1_chunked_keeps_the_trailer_section_whole(void **state)
{
	static const char b[] = "5\r\nhello\r\n0\r\nX-A: 1\r\nX-B:  two \r\n\r\nGET /next";
	static const char none[] = "2\r\nhi\r\n0\r\n\r\nGET";
	char tr[128];
	size_t trn, step;

	(void)state;
	for (step = 1; step <= sizeof(b) - 1; step++) {
		assert_int_equal(dechunk_keep(b, sizeof(b) - 1, step, 64, tr, &trn),
		                 (int)(sizeof(b) - 1 - 9));
		assert_int_equal(trn, 20);
		assert_memory_equal(tr, "X-A: 1\r\nX-B:  two \r\n", 20);
	}
	for (step = 1; step <= sizeof(none) - 1; step++) {
		assert_int_equal(dechunk_keep(none, sizeof(none) - 1, step, 64, tr, &trn),
		                 (int)(sizeof(none) - 1 - 3));
		assert_int_equal(trn, 0);
	}
	/* the budget and the field syntax hold as without keep_trailer */
	assert_int_equal(dechunk_keep(b, sizeof(b) - 1, 3, 19, tr, &trn), -1);
#define KEEP(lit) dechunk_keep(lit, sizeof(lit) - 1, 1, 64, tr, &trn)
	assert_int_equal(KEEP("0\r\nX A: 1\r\n\r\n"), -1);
	assert_int_equal(KEEP("0\r\nX-A: 1\n\r\n"), -1);
	assert_int_equal(KEEP("0\r\nX-A: 1\r\n"), -2);
#undef KEEP
}

static void test_h1_chunked_error_is_sticky(void **state)
{
	struct h1_chunked c;
	const char *d;
	size_t dl;

	(void)state;
	h1_chunked_init(&c, 0);
	assert_int_equal(h1_chunked_decode(&c, "z", 1, &d, &dl), H1_ERROR);
	assert_int_equal(h1_chunked_decode(&c, "0\r\n\r\n", 5, &d, &dl), H1_ERROR);
	assert_int_equal(h1_chunked_decode(&c, "", 0, &d, &dl), H1_ERROR);
	assert_false(c.done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_h1_chunk_ext_rules_are_the_same_both_ways),
		cmocka_unit_test(test_h1_parses_simple_get),
		cmocka_unit_test(test_h1_splits_path_and_query),
		cmocka_unit_test(test_h1_parses_post_with_content_length),
		cmocka_unit_test(test_h1_parses_chunked_request),
		cmocka_unit_test(test_h1_trims_header_value_ows),
		cmocka_unit_test(test_h1_returns_incomplete_for_every_prefix),
		cmocka_unit_test(test_h1_partial_head_resumes_in_linear_work),
		cmocka_unit_test(test_h1_partial_head_asked_again_costs_nothing),
		cmocka_unit_test(test_h1_partial_head_still_finds_errors),
		cmocka_unit_test(test_h1_partial_head_hits_limits_in_time),
		cmocka_unit_test(test_h1_pipelined_pair_consumes_only_first),
		cmocka_unit_test(test_h1_skips_bounded_leading_empty_lines),
		cmocka_unit_test(test_h1_method_ids),
		cmocka_unit_test(test_h1_accepts_extension_method_token),
		cmocka_unit_test(test_h1_rejects_invalid_method),
		cmocka_unit_test(test_h1_rejects_bad_request_target),
		cmocka_unit_test(test_h1_accepts_odd_but_allowed_target_chars),
		cmocka_unit_test(test_h1_rejects_target_chars_outside_uri_grammar),
		cmocka_unit_test(test_h1_absolute_form_extracts_path_and_authority),
		cmocka_unit_test(test_h1_asterisk_form_only_for_options),
		cmocka_unit_test(test_h1_connect_needs_authority_form),
		cmocka_unit_test(test_h1_rejects_unsupported_version_with_505),
		cmocka_unit_test(test_h1_rejects_garbage_version_with_400),
		cmocka_unit_test(test_h1_accepts_http10_without_host),
		cmocka_unit_test(test_h1_rejects_missing_host_in_http11),
		cmocka_unit_test(test_h1_rejects_duplicate_host),
		cmocka_unit_test(test_h1_rejects_invalid_host_value),
		cmocka_unit_test(test_h1_rejects_obs_fold),
		cmocka_unit_test(test_h1_rejects_bare_cr),
		cmocka_unit_test(test_h1_rejects_bare_lf_line_terminator),
		cmocka_unit_test(test_h1_rejects_whitespace_before_colon),
		cmocka_unit_test(test_h1_rejects_non_token_header_name),
		cmocka_unit_test(test_h1_rejects_control_chars_in_value),
		cmocka_unit_test(test_h1_accepts_tab_and_obs_text_in_value),
		cmocka_unit_test(test_h1_rejects_nul_anywhere),
		cmocka_unit_test(test_h1_rejects_cl_with_te),
		cmocka_unit_test(test_h1_rejects_duplicate_cl_even_when_equal),
		cmocka_unit_test(test_h1_rejects_cl_lists),
		cmocka_unit_test(test_h1_rejects_malformed_cl),
		cmocka_unit_test(test_h1_rejects_overflowing_cl),
		cmocka_unit_test(test_h1_rejects_chunked_not_final),
		cmocka_unit_test(test_h1_answers_unsupported_coding_with_501),
		cmocka_unit_test(test_h1_rejects_te_lookalikes),
		cmocka_unit_test(test_h1_rejects_duplicated_chunked),
		cmocka_unit_test(test_h1_rejects_te_in_http10),
		cmocka_unit_test(test_h1_underscore_header_is_not_framing),
		cmocka_unit_test(test_h1_sets_close_flag),
		cmocka_unit_test(test_h1_expect_100_continue_sets_flag),
		cmocka_unit_test(test_h1_rejects_other_expectation_with_417),
		cmocka_unit_test(test_h1_upgrade_needs_connection_option_and_header),
		cmocka_unit_test(test_h1_request_line_too_long_is_414),
		cmocka_unit_test(test_h1_header_section_too_large_is_431),
		cmocka_unit_test(test_h1_too_many_headers_is_431),
		cmocka_unit_test(test_h1_leaves_capacity_untouched_when_incomplete),
		cmocka_unit_test(test_h1_header_find_is_case_insensitive),
		cmocka_unit_test(test_h1_rejects_desync_guardian_severe_cases),
		cmocka_unit_test(test_h1_chunked_decodes_body),
		cmocka_unit_test(test_h1_chunked_decodes_in_any_split),
		cmocka_unit_test(test_h1_chunked_stops_at_end_of_body),
		cmocka_unit_test(test_h1_chunked_rejects_bad_size),
		cmocka_unit_test(test_h1_chunked_rejects_oversized_size),
		cmocka_unit_test(test_h1_chunked_validates_extensions),
		cmocka_unit_test(test_h1_chunked_requires_crlf_after_data),
		cmocka_unit_test(test_h1_chunked_rejects_bare_lf_and_cr),
		cmocka_unit_test(test_h1_chunked_bounds_and_checks_trailers),
		cmocka_unit_test(test_h1_chunked_keeps_the_trailer_section_whole),
		cmocka_unit_test(test_h1_chunked_error_is_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
