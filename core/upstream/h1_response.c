/*
 * h1_response.c - strict, zero-copy HTTP/1.x response-head parser and chunked
 * body decoder for the outbound client. See h1_response.h for the contracts.
 *
 * Heads are parsed one complete line at a time, so a prefix of a response is
 * either INCOMPLETE or fails on the same line the whole would fail on. The
 * one early answer is the status line: bytes that cannot begin "HTTP/1." are
 * refused at once, so a server speaking garbage fails fast instead of timing
 * out.
 */
#include "h1_response.h"

#include <string.h>

#include "swar.h"

#define MAX_CHUNK_LINE 4096	/* bytes of a chunk-size line with extensions */

/* Case-insensitive compare of S/LEN against the lowercase literal L/LLEN. */
static int ieq(const char *s, size_t len, const char *l, size_t llen)
{
	size_t i;

	if (len != llen)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c != (unsigned char)l[i])
			return 0;
	}
	return 1;
}

#define IEQ(s, n, lit) ieq((s), (n), lit, sizeof(lit) - 1)

/* Non-zero when C is an RFC 9110 tchar. */
static int token_char(unsigned char c)
{
	/* a table: this runs for every byte of every header name */
	static const unsigned char t[256] = {
		['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
		['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
		['~'] = 1,
		['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
		['7'] = 1, ['8'] = 1, ['9'] = 1,
		['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
		['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
		['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
		['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
		['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
		['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
		['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
		['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	};

	return t[c];
}

/* Field content: SP, HTAB, VCHAR, obs-text; never CR, LF, NUL or DEL. */
static int field_char(unsigned char c)
{
	/* 1 for HTAB, SP..'~' and obs-text: a table, this runs per value byte */
	static const unsigned char t[256] = {
		['\t'] = 1,
#define R16(b) [b] = 1, [b + 1] = 1, [b + 2] = 1, [b + 3] = 1, [b + 4] = 1, [b + 5] = 1, \
	[b + 6] = 1, [b + 7] = 1, [b + 8] = 1, [b + 9] = 1, [b + 10] = 1, [b + 11] = 1, \
	[b + 12] = 1, [b + 13] = 1, [b + 14] = 1, [b + 15] = 1
		R16(0x20), R16(0x30), R16(0x40), R16(0x50), R16(0x60),
		[0x70] = 1, [0x71] = 1, [0x72] = 1, [0x73] = 1, [0x74] = 1, [0x75] = 1, [0x76] = 1,
		[0x77] = 1, [0x78] = 1, [0x79] = 1, [0x7a] = 1, [0x7b] = 1, [0x7c] = 1, [0x7d] = 1,
		[0x7e] = 1,
		R16(0x80), R16(0x90), R16(0xa0), R16(0xb0), R16(0xc0), R16(0xd0), R16(0xe0),
		R16(0xf0),
#undef R16
	};

	return t[c];
}

/* First index in S[P..END) whose byte is not field content, or END. */
static size_t scan_field(const char *s, size_t p, size_t end)
{
	p = swar_skip_text(s, p, end);
	while (p < end && field_char((unsigned char)s[p]))
		p++;
	return p;
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

		/* A field line: name ":" OWS value OWS */
		size_t c = 0, vs, ve;

		if (l[0] == ' ' || l[0] == '\t')
			return fail(why, "obsolete line folding");
		while (c < n && token_char((unsigned char)l[c]))
			c++;
		if (c == 0 || c == n || l[c] != ':')
			return fail(why, "bad header name");
		vs = c + 1;
		ve = n;
		while (vs < ve && (l[vs] == ' ' || l[vs] == '\t'))
			vs++;
		while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
			ve--;
		if (scan_field(l, vs, ve) != ve)
			return fail(why, "bad character in header value");
		if (nh >= cap)
			return fail(why, "too many headers");
		out.headers[nh].name = l;
		out.headers[nh].name_len = c;
		out.headers[nh].value = l + vs;
		out.headers[nh].value_len = ve - vs;
		nh++;

		if (IEQ(l, c, "content-length")) {
			if (have_cl)
				return fail(why, "duplicate content-length");
			if (parse_length(l + vs, ve - vs, &cl) < 0)
				return fail(why, "bad content-length");
			have_cl = 1;
		} else if (IEQ(l, c, "transfer-encoding")) {
			if (have_te)
				return fail(why, "duplicate transfer-encoding");
			if (!IEQ(l + vs, ve - vs, "chunked"))
				return fail(why, "unsupported transfer-encoding");
			have_te = 1;
		} else if (IEQ(l, c, "connection")) {
			connection_value(l + vs, ve - vs, &flags);
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
		if (ieq(res->headers[i].name, res->headers[i].name_len, lname, len))
			return &res->headers[i];
	return NULL;
}

enum {
	S_SIZE = 0,	/* hex digits of chunk-size */
	S_EXT,		/* ";" chunk-ext up to CR */
	S_SIZE_LF,	/* LF after the size line */
	S_DATA,
	S_DATA_CR,
	S_DATA_LF,
	S_TRAILER_START,	/* start of a trailer line or the final CRLF */
	S_TRAILER,
	S_TRAILER_LF,
	S_END_LF,
	S_DONE,
	S_ERROR,
};

void h1_resp_chunked_init(struct h1_resp_chunked *c, size_t max_trailer_bytes)
{
	memset(c, 0, sizeof(*c));
	c->max_trailer = max_trailer_bytes;
	c->state = S_SIZE;
}

static int hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

ssize_t h1_resp_chunked_decode(struct h1_resp_chunked *c, const char *buf, size_t len,
                               const char **data, size_t *data_len)
{
	size_t p = 0;

	*data = buf;
	*data_len = 0;
	if (c->state == S_ERROR)
		return H1_RESP_ERROR;
	while (p < len && c->state != S_DONE) {
		unsigned char ch = (unsigned char)buf[p];
		int v;

		switch (c->state) {
		case S_SIZE:
			if (++c->count > MAX_CHUNK_LINE)
				goto bad;
			v = hexval(ch);
			if (v >= 0) {
				if (c->digits >= 16 || c->remaining > (UINT64_MAX >> 4))
					goto bad;
				c->remaining = (c->remaining << 4) | (uint64_t)v;
				c->digits++;
			} else if (ch == ';' && c->digits) {
				c->state = S_EXT;
			} else if (ch == '\r' && c->digits) {
				c->state = S_SIZE_LF;
			} else {
				goto bad;
			}
			p++;
			break;
		case S_EXT:
			if (++c->count > MAX_CHUNK_LINE)
				goto bad;
			if (ch == '\r')
				c->state = S_SIZE_LF;
			else if (!field_char(ch))
				goto bad;
			p++;
			break;
		case S_SIZE_LF:
			if (ch != '\n')
				goto bad;
			p++;
			c->count = 0;
			c->state = c->remaining ? S_DATA : S_TRAILER_START;
			break;
		case S_DATA: {
			size_t n = len - p;

			if ((uint64_t)n > c->remaining)
				n = (size_t)c->remaining;
			*data = buf + p;
			*data_len = n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = S_DATA_CR;
			return (ssize_t)(p + n);
		}
		case S_DATA_CR:
			if (ch != '\r')
				goto bad;
			c->state = S_DATA_LF;
			p++;
			break;
		case S_DATA_LF:
			if (ch != '\n')
				goto bad;
			c->state = S_SIZE;
			c->digits = 0;
			c->count = 0;
			p++;
			break;
		case S_TRAILER_START:
			if (ch == '\r') {
				c->state = S_END_LF;
				p++;
				break;
			}
			if (!token_char(ch))
				goto bad;
			c->state = S_TRAILER;
			/* fall through */
		case S_TRAILER:
			if (++c->count > c->max_trailer)
				goto bad;
			if (ch == '\r')
				c->state = S_TRAILER_LF;
			else if (!field_char(ch))
				goto bad;
			p++;
			break;
		case S_TRAILER_LF:
			if (ch != '\n')
				goto bad;
			c->state = S_TRAILER_START;
			p++;
			break;
		case S_END_LF:
			if (ch != '\n')
				goto bad;
			c->state = S_DONE;
			c->done = 1;
			p++;
			break;
		default:
			goto bad;
		}
	}
	return (ssize_t)p;
bad:
	c->state = S_ERROR;
	*data_len = 0;
	return H1_RESP_ERROR;
}
