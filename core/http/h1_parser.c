/*
 * h1_parser.c - strict, zero-copy HTTP/1.1 request-head parser. See
 * h1_parser.h for the contracts.
 *
 * One pass over the bytes, the character classes and field-line scanner of
 * h1_lex.c (shared with the response parser), no allocation.
 */
#include "h1_parser.h"

#include <string.h>

#define H1_MAX_LEADING_CRLF 8	/* empty lines skipped before a request line */

#define IEQ H1_IEQ

/* SP or HTAB. */
static int h1_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/*
 * First index >= P in B/LEN whose byte cannot be in a request-target: outside
 * 0x21-0x7e, or one of the characters RFC 3986 leaves out of URIs ('#' starts
 * a fragment, which is never sent; " < > \ ^ ` { | } must be percent-encoded).
 */
static size_t h1_scan_target(const unsigned char *b, size_t p, size_t len)
{
	while (p < len && (h1_class[b[p]] & H1_C_TARGET))
		p++;
	return p;
}

/* Fill LIM with the documented defaults. */
void h1_limits_default(struct h1_limits *lim)
{
	lim->max_request_line = 8192;
	lim->max_header_bytes = 32768;
	lim->max_headers = 100;
}

/* Non-zero when C is a tchar. */
int h1_token_char(int c)
{
	return c >= 0 && c < 256 && (h1_class[c] & H1_C_TOKEN);
}

/* Method bit for the registered methods (case-sensitive), else PT_METHOD_UNKNOWN. */
unsigned h1_method_id(pt_str_t m)
{
	const char *s = m.ptr;

	switch (m.len) {
	case 3:
		if (memcmp(s, "GET", 3) == 0)
			return PT_METHOD_GET;
		if (memcmp(s, "PUT", 3) == 0)
			return PT_METHOD_PUT;
		break;
	case 4:
		if (memcmp(s, "POST", 4) == 0)
			return PT_METHOD_POST;
		if (memcmp(s, "HEAD", 4) == 0)
			return PT_METHOD_HEAD;
		break;
	case 5:
		if (memcmp(s, "PATCH", 5) == 0)
			return PT_METHOD_PATCH;
		if (memcmp(s, "TRACE", 5) == 0)
			return PT_METHOD_TRACE;
		break;
	case 6:
		if (memcmp(s, "DELETE", 6) == 0)
			return PT_METHOD_DELETE;
		break;
	case 7:
		if (memcmp(s, "OPTIONS", 7) == 0)
			return PT_METHOD_OPTIONS;
		if (memcmp(s, "CONNECT", 7) == 0)
			return PT_METHOD_CONNECT;
		break;
	}
	return PT_METHOD_UNKNOWN;
}

/* First header named LNAME (lowercase), case-insensitive; borrowed from REQ. */
const struct h1_header *h1_header_find(const struct h1_request *req,
                                       const char *lname, size_t len)
{
	unsigned i;

	for (i = 0; i < req->num_headers; i++) {
		const struct h1_header *h = &req->headers[i];

		if (h1_ieq((const unsigned char *)h->name, h->name_len, lname, len))
			return h;
	}
	return NULL;
}

/* What the header section said about framing and connection handling. */
struct h1_scan {
	int host_seen;
	int cl_seen;
	int te_seen;
	int te_chunked;		/* the last coding so far is chunked */
	int te_unsupported;	/* a coding other than plain chunked */
	int conn_close;
	int conn_keep_alive;
	int conn_upgrade;
	int upgrade_seen;
	int expect_100;
	int expect_bad;
};

/* Record STATUS and REASON (static) for the caller; returns H1_ERROR. */
static int h1_fail(int *status, const char **why, int code, const char *reason)
{
	if (status)
		*status = code;
	if (why)
		*why = reason;
	return H1_ERROR;
}

#define FAIL(code, reason) return h1_fail(status, why, (code), (reason))

/*
 * Check one "HTTP/x.y\r\n" at V with AVAIL bytes. Returns 1 when complete and
 * supported (sets *MINOR), 0 when the bytes so far are a valid prefix, -400
 * for garbage, -505 for a well-formed but unsupported version.
 */
static int h1_version(const unsigned char *v, size_t avail, int *minor)
{
	static const char pat[] = "HTTP/0.0\r\n";
	size_t i;

	for (i = 0; i < 10; i++) {
		if (i >= avail)
			return 0;
		if (i == 5 || i == 7) {
			if (v[i] < '0' || v[i] > '9')
				return -400;
		} else if (v[i] != (unsigned char)pat[i]) {
			return -400;
		}
	}
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return -505;
	*minor = v[7] - '0';
	return 1;
}

/*
 * Add one Transfer-Encoding field value V/N to S. Returns 0, or -1 when the
 * list is malformed or anything follows "chunked" (a 400).
 */
static int h1_te_value(struct h1_scan *s, const unsigned char *v, size_t n)
{
	size_t i = 0, start;
	int chunked;

	for (;;) {
		while (i < n && h1_ows(v[i]))
			i++;
		start = i;
		while (i < n && (h1_class[v[i]] & H1_C_TOKEN))
			i++;
		if (i == start || s->te_chunked)
			return -1;
		chunked = IEQ(v + start, i - start, "chunked");
		while (i < n && h1_ows(v[i]))
			i++;
		if (i < n && v[i] == ';') {
			/* parameters: no coding we implement takes any */
			s->te_unsupported = 1;
			for (; i < n && v[i] != ','; i++)
				if (!(h1_class[v[i]] & H1_C_TOKEN) && !h1_ows(v[i]) &&
				    v[i] != ';' && v[i] != '=')
					return -1;
		}
		if (chunked)
			s->te_chunked = 1;
		else
			s->te_unsupported = 1;
		if (i == n)
			return 0;
		if (v[i] != ',')
			return -1;
		i++;
	}
}

/* Note the close / keep-alive / upgrade options of a Connection value. */
static void h1_connection_value(struct h1_scan *s, const unsigned char *v, size_t n)
{
	size_t i = 0, start, end;

	while (i < n) {
		while (i < n && (h1_ows(v[i]) || v[i] == ','))
			i++;
		start = i;
		while (i < n && v[i] != ',')
			i++;
		end = i;
		while (end > start && h1_ows(v[end - 1]))
			end--;
		if (IEQ(v + start, end - start, "close"))
			s->conn_close = 1;
		else if (IEQ(v + start, end - start, "keep-alive"))
			s->conn_keep_alive = 1;
		else if (IEQ(v + start, end - start, "upgrade"))
			s->conn_upgrade = 1;
	}
}

/* Parse a Content-Length value: 1*DIGIT, at most 2^63 - 1. -1 if invalid. */
static int h1_content_length(const unsigned char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)v[i] - '0';

		if (d > 9 || x > ((uint64_t)INT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

/*
 * Split the request-target T/N into path, query and host according to its
 * form. Returns NULL, or the reason it is rejected (a 400).
 */
static const char *h1_target(struct h1_request *req, const unsigned char *t, size_t n,
                             int *absolute)
{
	const unsigned char *q;
	size_t i, a;

	req->query = (pt_str_t){ (const char *)t + n, 0 };
	if (t[0] == '/') {
		if (req->method_id == PT_METHOD_CONNECT)
			return "CONNECT needs an authority-form target";
		q = memchr(t, '?', n);
		if (!q) {
			req->path = (pt_str_t){ (const char *)t, n };
			return NULL;
		}
		req->path = (pt_str_t){ (const char *)t, (size_t)(q - t) };
		req->query = (pt_str_t){ (const char *)q + 1, n - (size_t)(q - t) - 1 };
		return NULL;
	}
	if (n == 1 && t[0] == '*') {
		if (req->method_id != PT_METHOD_OPTIONS)
			return "asterisk-form target outside OPTIONS";
		req->path = (pt_str_t){ (const char *)t, 1 };
		return NULL;
	}
	if (req->method_id == PT_METHOD_CONNECT) {
		for (i = 0; i < n; i++)
			if (!(h1_class[t[i]] & H1_C_HOST))
				return "invalid authority-form target";
		req->path = (pt_str_t){ (const char *)t, n };
		return NULL;
	}
	if (n >= 7 && IEQ(t, 7, "http://"))
		a = 7;
	else if (n >= 8 && IEQ(t, 8, "https://"))
		a = 8;
	else
		return "invalid request-target";
	for (i = a; i < n && t[i] != '/' && t[i] != '?'; i++)
		if (!(h1_class[t[i]] & H1_C_HOST))
			return "invalid authority in absolute-form target";
	if (i == a)
		return "empty authority in absolute-form target";
	*absolute = 1;
	req->host = (pt_str_t){ (const char *)t + a, i - a };
	q = memchr(t + i, '?', n - i);
	if (i == n || t[i] == '?')
		req->path = PT_STR("/");
	else
		req->path = (pt_str_t){ (const char *)t + i,
		                        (size_t)((q ? q : t + n) - (t + i)) };
	if (q)
		req->query = (pt_str_t){ (const char *)q + 1, n - (size_t)(q - t) - 1 };
	return NULL;
}

/* Incomplete request line: 414 once more than the limit is buffered without CRLF. */
static int h1_line_incomplete(const unsigned char *b, size_t line, size_t len,
                              const struct h1_limits *lim, int *status, const char **why)
{
	size_t seen = len - line;

	if (seen > 0 && b[len - 1] == '\r')
		seen--;
	if (seen > lim->max_request_line)
		FAIL(414, "request line too long");
	return H1_INCOMPLETE;
}

/* h1_parse_request; also sets *LINE_END past the request line once it is read. */
static int h1_parse(const char *buf, size_t len, struct h1_request *req,
                    const struct h1_limits *lim, int *status, const char **why,
                    size_t *line_end)
{
	const unsigned char *b = (const unsigned char *)buf;
	struct h1_limits defaults;
	struct h1_scan s;
	struct h1_header f;
	size_t p = 0, line, tstart, hs;
	ssize_t fl;
	unsigned n = 0, maxh;
	int minor = 1, absolute = 0, rc;
	const char *err;

	if (!lim) {
		h1_limits_default(&defaults);
		lim = &defaults;
	}

	/* RFC 9112 2.2: ignore at least one empty line before the request line */
	while (p < len && (b[p] == '\r' || b[p] == '\n')) {
		if (b[p] == '\n')
			FAIL(400, "bare LF before request line");
		if (p + 1 >= len)
			return H1_INCOMPLETE;
		if (b[p + 1] != '\n')
			FAIL(400, "bare CR before request line");
		p += 2;
		if (p > 2 * H1_MAX_LEADING_CRLF)
			FAIL(400, "too many empty lines before request line");
	}
	line = p;

	/* method SP */
	while (p < len && (h1_class[b[p]] & H1_C_TOKEN))
		p++;
	if (p >= len)
		return h1_line_incomplete(b, line, len, lim, status, why);
	if (b[p] != ' ' || p == line)
		FAIL(400, "invalid method");
	req->method = (pt_str_t){ buf + line, p - line };
	req->method_id = h1_method_id(req->method);
	p++;

	/* request-target SP */
	tstart = p;
	p = h1_scan_target(b, p, len);
	if (p >= len)
		return h1_line_incomplete(b, line, len, lim, status, why);
	if (b[p] != ' ') {
		if (b[p] == '\r' || b[p] == '\n')
			FAIL(400, "missing HTTP version");
		FAIL(400, "invalid character in request-target");
	}
	if (p == tstart)
		FAIL(400, "empty request-target");
	req->target = (pt_str_t){ buf + tstart, p - tstart };
	p++;

	/* HTTP-version CRLF */
	rc = h1_version(b + p, len - p, &minor);
	if (rc == 0)
		return h1_line_incomplete(b, line, len, lim, status, why);
	if (p + 8 - line > lim->max_request_line)
		FAIL(414, "request line too long");
	if (rc == -400)
		FAIL(400, "invalid HTTP version");
	if (rc == -505)
		FAIL(505, "unsupported HTTP version");
	req->minor_version = minor;
	p += 10;

	req->host = (pt_str_t){ buf + p, 0 };
	err = h1_target(req, b + tstart, req->target.len, &absolute);
	if (err)
		FAIL(400, err);

	/* header section */
	*line_end = p;
	memset(&s, 0, sizeof(s));
	req->body = H1_BODY_NONE;
	req->content_length = 0;
	req->flags = 0;
	maxh = req->num_headers < lim->max_headers ? req->num_headers : lim->max_headers;
	hs = p;
	for (;;) {
		if (p >= len)
			goto incomplete;
		if (b[p] == '\r') {
			if (p + 1 >= len)
				goto incomplete;
			if (b[p + 1] != '\n')
				FAIL(400, "bare CR in header section");
			p += 2;
			break;
		}
		if (b[p] == '\n')
			FAIL(400, "bare LF in header section");
		fl = h1_field_line(buf, p, len, &f, why);
		if (fl == H1_INCOMPLETE)
			goto incomplete;
		if (fl < 0) {
			if (status)
				*status = 400;
			return H1_ERROR;
		}
		p = (size_t)fl;
		if (p - hs > lim->max_header_bytes)
			FAIL(431, "header section too large");
		if (n >= maxh)
			FAIL(431, "too many header fields");
		req->headers[n++] = f;
		{
			const unsigned char *nm = (const unsigned char *)f.name;
			const unsigned char *v = (const unsigned char *)f.value;
			size_t nl = f.name_len, vl = f.value_len;

			switch (nl) {
			case 4:
				if (!IEQ(nm, nl, "host"))
					break;
				if (s.host_seen)
					FAIL(400, "more than one Host header");
				s.host_seen = 1;
				for (size_t i = 0; i < vl; i++)
					if (!(h1_class[v[i]] & H1_C_HOST))
						FAIL(400, "invalid Host header");
				if (!absolute)
					req->host = (pt_str_t){ (const char *)v, vl };
				break;
			case 6:
				if (!IEQ(nm, nl, "expect"))
					break;
				if (IEQ(v, vl, "100-continue"))
					s.expect_100 = 1;
				else
					s.expect_bad = 1;
				break;
			case 7:
				if (IEQ(nm, nl, "upgrade"))
					s.upgrade_seen = 1;
				break;
			case 10:
				if (IEQ(nm, nl, "connection"))
					h1_connection_value(&s, v, vl);
				break;
			case 14:
				if (!IEQ(nm, nl, "content-length"))
					break;
				if (s.cl_seen)
					FAIL(400, "more than one Content-Length");
				s.cl_seen = 1;
				if (h1_content_length(v, vl, &req->content_length) < 0)
					FAIL(400, "invalid Content-Length");
				break;
			case 17:
				if (!IEQ(nm, nl, "transfer-encoding"))
					break;
				s.te_seen = 1;
				if (h1_te_value(&s, v, vl) < 0)
					FAIL(400, "invalid Transfer-Encoding");
				break;
			}
		}
	}
	if (p - hs > lim->max_header_bytes)
		FAIL(431, "header section too large");

	/* framing: RFC 9112 6.1 and 6.3, with no leniency */
	if (s.te_seen) {
		if (s.cl_seen)
			FAIL(400, "both Content-Length and Transfer-Encoding");
		if (minor == 0)
			FAIL(400, "Transfer-Encoding in an HTTP/1.0 request");
		if (!s.te_chunked)
			FAIL(400, "chunked is not the final transfer-coding");
	}
	if (minor == 1 && !s.host_seen)
		FAIL(400, "missing Host header");
	if (s.te_seen && s.te_unsupported)
		FAIL(501, "unsupported transfer-coding");
	if (minor == 1 && s.expect_bad)
		FAIL(417, "unsupported expectation");

	if (s.te_seen)
		req->body = H1_BODY_CHUNKED;
	else if (s.cl_seen)
		req->body = H1_BODY_LENGTH;
	if (s.conn_close || (minor == 0 && !s.conn_keep_alive))
		req->flags |= H1_F_CLOSE;
	if (minor == 1 && s.expect_100)
		req->flags |= H1_F_EXPECT_100;
	if (s.conn_upgrade && s.upgrade_seen)
		req->flags |= H1_F_UPGRADE;
	req->num_headers = n;
	if (p > (size_t)INT32_MAX)
		FAIL(431, "header section too large");
	return (int)p;

incomplete:
	if (len - hs >= lim->max_header_bytes)
		FAIL(431, "header section too large");
	return H1_INCOMPLETE;
}

/* See h1_parser.h. */
int h1_parse_request(const char *buf, size_t len, struct h1_request *req,
                     const struct h1_limits *lim, int *status, const char **why)
{
	size_t line_end = 0;

	return h1_parse(buf, len, req, lim, status, why, &line_end);
}

/*
 * Whether the bytes B[FROM..LEN) of a partial head can be left for later:
 * nothing among them ends the head or the request line, and none of them can
 * belong to a valid one (those are answered by a whole parse at once).
 * LINE_END is 0 while the request line is not yet known complete.
 */
static int h1_can_wait(const unsigned char *b, size_t from, size_t len, size_t line_end)
{
	size_t i;

	if (!line_end) {
		/* the request line: tokens, the target, the version, SP; its LF
		 * (or that of an empty line before it) is parsed at once */
		for (i = from; i < len; i++)
			if (!(h1_class[b[i]] & (H1_C_TOKEN | H1_C_TARGET)) && b[i] != ' ' &&
			    (b[i] != '\r' || (i + 1 < len && b[i + 1] != '\n')))
				return 0;
		return 1;
	}
	if (from < line_end)
		from = line_end;
	for (i = from; i < len; i++) {
		unsigned char c = b[i];

		if (h1_class[c] & H1_C_FIELD)
			continue;
		if (c == '\r' && (i + 1 == len || b[i + 1] == '\n'))
			continue;
		/* an LF after CR ends a field line; after CRLF, the head */
		if (c == '\n' && i > 0 && b[i - 1] == '\r' &&
		    !(i >= line_end + 2 && b[i - 2] == '\n') && i != line_end + 1)
			continue;
		return 0;
	}
	return 1;
}

/* See h1_parser.h. */
int h1_parse_request_more(const char *buf, size_t len, struct h1_request *req,
                          const struct h1_limits *lim, struct h1_progress *pg,
                          int *status, const char **why)
{
	struct h1_limits defaults;
	size_t from, line_limit, head_limit;
	int rc;

	if (!lim) {
		h1_limits_default(&defaults);
		lim = &defaults;
	}
	if (pg->full_at && len == pg->scanned)
		return H1_INCOMPLETE;	/* nothing new since the last INCOMPLETE */
	if (pg->full_at && len > pg->scanned && len < 2 * pg->full_at) {
		/* 3 bytes back: a CR or LF seen last time gets its neighbours */
		from = pg->scanned > 3 ? pg->scanned - 3 : 0;
		pg->work += len - from;
		/* the limits are checked by a whole parse the first time they pass */
		line_limit = 2 * H1_MAX_LEADING_CRLF + lim->max_request_line + 2;
		head_limit = pg->line_end + lim->max_header_bytes;
		if (h1_can_wait((const unsigned char *)buf, from, len, pg->line_end) &&
		    (pg->line_end || !(pg->full_at < line_limit && line_limit <= len)) &&
		    (!pg->line_end || !(pg->full_at < head_limit && head_limit <= len))) {
			pg->scanned = len;
			return H1_INCOMPLETE;
		}
	}
	pg->work += len;
	rc = h1_parse(buf, len, req, lim, status, why, &pg->line_end);
	pg->full_at = len;
	pg->scanned = len;
	return rc;
}
