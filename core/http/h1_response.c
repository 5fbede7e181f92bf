/*
 * h1_response.c - strict, zero-copy HTTP/1.x response-head parser for the
 * outbound client. See h1_response.h for the contract. Field lines go through
 * the request parser's scanner and character table (h1_lex.c), and bodies
 * through its chunked decoder (h1_chunked.c): one set of rules both ways.
 *
 * Heads are parsed one complete line at a time, so a prefix of a response is
 * either INCOMPLETE or fails on the same line the whole would fail on. The
 * one early answer is the status line: bytes that cannot begin "HTTP/1." are
 * refused at once, so a server speaking garbage fails fast instead of timing
 * out.
 */
#include "h1_response.h"

#include <string.h>

#include "h1_lex.h"

#define IEQ H1_IEQ

/* Field content: SP, HTAB, VCHAR, obs-text; never CR, LF, NUL or DEL. */
static int field_char(unsigned char c)
{
	return h1_class[c] & H1_C_FIELD;
}

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return H1_RESP_ERROR;
}

/* Parse a Content-Length value: 1*DIGIT without overflow. */
static int parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 19)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

/* Fold the tokens of one Connection value into *FLAGS. */
static void connection_value(const char *v, size_t n, unsigned *flags)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (IEQ(v + s, e - s, "close"))
			*flags |= H1_RESP_F_CLOSE;
		else if (IEQ(v + s, e - s, "keep-alive"))
			*flags |= H1_RESP_F_KEEPALIVE;
	}
}

/* Whether B/N (fewer bytes than a full status line) can still begin one. */
static int status_prefix_ok(const char *b, size_t n)
{
	static const char pat[] = "HTTP/1.";
	size_t i;

	for (i = 0; i < n && i < sizeof(pat) - 1; i++)
		if (b[i] != pat[i])
			return 0;
	return 1;
}

/* Parse status line L/N (without CRLF) into RES. */
static int status_line(const char *l, size_t n, struct h1_resp *res, const char **why)
{
	size_t i;

	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' || l[8] != ' ')
		return fail(why, "bad status line");
	if (l[9] < '1' || l[9] > '9' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9')
		return fail(why, "bad status code");
	if (n > 12 && l[12] != ' ')
		return fail(why, "bad status code");
	for (i = 13; i < n; i++)
		if (!field_char((unsigned char)l[i]))
			return fail(why, "bad character in reason phrase");
	res->minor_version = l[7] == '0' ? 0 : 1;
	res->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	res->reason.ptr = n > 13 ? l + 13 : l + n;
	res->reason.len = n > 13 ? n - 13 : 0;
	return 0;
}

int h1_resp_parse(const char *buf, size_t len, struct h1_resp *res, unsigned in_flags,
                  size_t max_header_bytes, const char **why)
{
	size_t lim = max_header_bytes ? max_header_bytes : H1_RESP_MAX_HEADER_BYTES;
	size_t scan = len < lim ? len : lim;
	size_t p = 0, cap = res->num_headers;
	unsigned nh = 0, flags = 0;
	int have_cl = 0, have_te = 0, first = 1;
	uint64_t cl = 0;
	struct h1_resp out = *res;

	for (;;) {
		const char *nl = memchr(buf + p, '\n', scan - p);
		const char *l = buf + p;
		size_t n;

		if (nl == NULL) {
			if (first && !status_prefix_ok(buf, scan))
				return fail(why, "not an HTTP/1.x response");
			if (len >= lim)
				return fail(why, "response head too large");
			return H1_RESP_INCOMPLETE;
		}
		n = (size_t)(nl - l);
		if (n == 0 || l[n - 1] != '\r')
			return fail(why, "bare LF in response head");
		n--;
		p += n + 2;
		if (first) {
			if (status_line(l, n, &out, why) < 0)
				return H1_RESP_ERROR;
			first = 0;
			continue;
		}
		if (n == 0)
			break;

		/* a field line, by the scanner the request parser uses */
		struct h1_header f;
		ssize_t e = h1_field_line(l, 0, n + 2, &f, why);

		if (e == H1_ERROR)
			return H1_RESP_ERROR;
		if (e < 0)	/* cannot be: the line is whole */
			return fail(why, "bad header line");
		if (nh >= cap)
			return fail(why, "too many headers");
		out.headers[nh].name = f.name;
		out.headers[nh].name_len = f.name_len;
		out.headers[nh].value = f.value;
		out.headers[nh].value_len = f.value_len;
		nh++;

		if (IEQ(f.name, f.name_len, "content-length")) {
			if (have_cl)
				return fail(why, "duplicate content-length");
			if (parse_length(f.value, f.value_len, &cl) < 0)
				return fail(why, "bad content-length");
			have_cl = 1;
		} else if (IEQ(f.name, f.name_len, "transfer-encoding")) {
			if (have_te)
				return fail(why, "duplicate transfer-encoding");
			if (!IEQ(f.value, f.value_len, "chunked"))
				return fail(why, "unsupported transfer-encoding");
			have_te = 1;
		} else if (IEQ(f.name, f.name_len, "connection")) {
			connection_value(f.value, f.value_len, &flags);
		}
	}

	if (have_cl && have_te)
		return fail(why, "content-length with transfer-encoding");
	if (have_te && out.minor_version == 0)
		return fail(why, "transfer-encoding in an HTTP/1.0 response");
	if (out.minor_version == 0 && !(flags & H1_RESP_F_KEEPALIVE))
		flags |= H1_RESP_F_CLOSE;

	out.content_length = 0;
	if ((in_flags & H1_RESP_HEAD) || out.status < 200 || out.status == 204 ||
	    out.status == 304) {
		out.body = H1_RESP_BODY_NONE;
	} else if (have_te) {
		out.body = H1_RESP_BODY_CHUNKED;
	} else if (have_cl) {
		out.body = H1_RESP_BODY_LENGTH;
		out.content_length = cl;
	} else {
		out.body = H1_RESP_BODY_CLOSE;
		flags |= H1_RESP_F_CLOSE;
	}
	out.flags = flags;
	out.num_headers = nh;
	*res = out;
	return (int)p;
}

const struct h1_resp_header *h1_resp_header_find(const struct h1_resp *res,
                                                 const char *lname, size_t len)
{
	unsigned i;

	for (i = 0; i < res->num_headers; i++)
		if (h1_ieq(res->headers[i].name, res->headers[i].name_len, lname, len))
			return &res->headers[i];
	return NULL;
}
