/*
 * http_client_req.c - the outbound client's copy of a request (see
 * http_client.c for the shape): the URL taken apart into scheme, host, port,
 * authority, path and pool key, and the method, headers and body checked
 * and copied into the call's one string block -- for HTTP/1.1 the headers
 * go straight into their wire form.
 */
#include "http_client_priv.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "swar.h"

/* ---------------------------------------------------------------- helpers */

/* A NUL-terminated copy of P/N, or NULL when out of memory. */
static char *dupn(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		if (n)
			memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* N bytes of CALL's string block (sized by http_client_request), 8-aligned. */
static char *blk_alloc(struct http_client_call *call, size_t n)
{
	size_t off = (call->blk_len + 7) & ~(size_t)7;
	char *p;

	if (off + n > call->blk_cap)
		return NULL;
	p = call->blk + off;
	call->blk_len = off + n;
	return p;
}

/* A NUL-terminated copy of P/N in CALL's block. */
static char *blk_dup(struct http_client_call *call, const char *p, size_t n)
{
	char *s = blk_alloc(call, n + 1);

	if (s) {
		if (n)
			memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* Writes V in decimal to DST; the digit count. */
size_t hc_put_u64(char *dst, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	return n;
}

/* RFC 9110 token characters, as a table: this runs for every header byte. */
static const unsigned char tchar_tab[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
};

/* Bytes a header value may not hold: CR, LF, NUL. */
static const unsigned char vbad_tab[256] = { ['\0'] = 1, ['\n'] = 1, ['\r'] = 1 };

/* Non-zero when V/N holds CR, LF or NUL (HTAB, 0x09, is below the word
 * check's bound: the table decides from the first word that might hold one). */
static unsigned value_bad(const char *v, size_t n)
{
	unsigned bad = 0;

	for (size_t i = swar_skip_below(v, 0, n, 0x0e); i < n; i++)
		bad |= vbad_tab[(unsigned char)v[i]];
	return bad;
}

/* Token characters lower-cased, 0 for every other byte: one load a byte. */
static const unsigned char name_tab[256] = {
	['!'] = '!', ['#'] = '#', ['$'] = '$', ['%'] = '%', ['&'] = '&', ['\''] = '\'',
	['*'] = '*', ['+'] = '+', ['-'] = '-', ['.'] = '.', ['^'] = '^', ['_'] = '_',
	['`'] = '`', ['|'] = '|', ['~'] = '~',
	['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4', ['5'] = '5',
	['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
#define L(c) [c] = c, [c - 'a' + 'A'] = c
	L('a'), L('b'), L('c'), L('d'), L('e'), L('f'), L('g'), L('h'), L('i'), L('j'),
	L('k'), L('l'), L('m'), L('n'), L('o'), L('p'), L('q'), L('r'), L('s'), L('t'),
	L('u'), L('v'), L('w'), L('x'), L('y'), L('z'),
#undef L
};

/* Copies the header name N (LEN bytes) lower-cased to DST; non-zero when a
 * byte is not a token character. */
static unsigned name_lower(char *restrict dst, const char *restrict n, size_t len)
{
	unsigned bad = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = name_tab[(unsigned char)n[i]];

		bad |= !c;
		dst[i] = (char)c;
	}
	return bad;
}

static int tchar(unsigned char c)
{
	return tchar_tab[c];
}

static int ieq_lit(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* ---------------------------------------------------------------- URL and request */

/* Parse URL into CALL's scheme, host, port, authority and path. */
int hc_url_parse(struct http_client_call *call, pt_str_t url)
{
	const char *p = url.ptr, *end = url.ptr + url.len, *hs, *he, *a;
	size_t i;
	unsigned long port;
	char buf[16];

	if (!p)
		return PT_EINVAL;
	for (i = 0; i < url.len; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] == 0x7f)
			return PT_EINVAL;
	if (url.len >= 7 && strncasecmp(p, "http://", 7) == 0) {
		p += 7;
		call->port = 80;
	} else if (url.len >= 8 && strncasecmp(p, "https://", 8) == 0) {
		p += 8;
		call->https = 1;
		call->port = 443;
	} else {
		return PT_EINVAL;
	}
	a = p;
	while (p < end && *p != '/' && *p != '?' && *p != '#')
		p++;
	/* authority a..p: host [":" port]; no userinfo */
	if (memchr(a, '@', (size_t)(p - a)))
		return PT_EINVAL;
	if (a < p && *a == '[') {
		hs = a + 1;
		he = memchr(hs, ']', (size_t)(p - hs));
		if (!he || he == hs)
			return PT_EINVAL;
		for (const char *q = hs; q < he; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return PT_EINVAL;
		a = he + 1;
	} else {
		hs = a;
		he = a;
		while (he < p && *he != ':')
			he++;
		if (he == hs)
			return PT_EINVAL;
		for (const char *q = hs; q < he; q++)
			if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-' && *q != '_')
				return PT_EINVAL;
		a = he;
	}
	if (a < p) {
		if (*a != ':' || p - a < 2 || p - a > 6)
			return PT_EINVAL;
		port = 0;
		for (const char *q = a + 1; q < p; q++) {
			if (!isdigit((unsigned char)*q))
				return PT_EINVAL;
			port = port * 10 + (unsigned long)(*q - '0');
		}
		if (port == 0 || port > 65535)
			return PT_EINVAL;
		call->port = (unsigned)port;
	}
	call->host = blk_dup(call, hs, (size_t)(he - hs));
	/* the path: up to a fragment, "/" when empty */
	{
		const char *ps = p, *pe = memchr(p, '#', (size_t)(end - p));

		if (!pe)
			pe = end;
		if (ps == pe || *ps == '?') {
			size_t n = (size_t)(pe - ps);

			call->path = blk_alloc(call, n + 2);
			if (call->path) {
				call->path[0] = '/';
				memcpy(call->path + 1, ps, n);
				call->path[n + 1] = '\0';
			}
		} else {
			call->path = blk_dup(call, ps, (size_t)(pe - ps));
		}
	}
	{
		/* by hand: snprintf showed in the per-request profile */
		int dflt = call->port == (call->https ? 443u : 80u);
		int v6 = memchr(hs, ':', (size_t)(he - hs)) != NULL;
		size_t hl = (size_t)(he - hs), pl = hc_put_u64(buf, call->port), o = 0;
		char *q;

		call->authority = blk_alloc(call, hl + pl + 4);
		call->key = blk_alloc(call, hl + pl + 16);
		if (call->authority && call->key) {
			q = call->authority;
			if (v6)
				q[o++] = '[';
			memcpy(q + o, hs, hl);
			o += hl;
			if (v6)
				q[o++] = ']';
			if (!dflt) {
				q[o++] = ':';
				memcpy(q + o, buf, pl);
				o += pl;
			}
			q[o] = '\0';
			q = call->key;
			o = 0;
			memcpy(q, call->https ? "https://" : "http://", call->https ? 8 : 7);
			o = call->https ? 8 : 7;
			if (v6)
				q[o++] = '[';
			for (size_t k = 0; k < hl; k++)
				q[o++] = (char)tolower((unsigned char)hs[k]);
			if (v6)
				q[o++] = ']';
			q[o++] = ':';
			memcpy(q + o, buf, pl);
			o += pl;
			if (call->https && call->insecure) {
				q[o++] = '|';
				q[o++] = 'i';
			}
			q[o] = '\0';
		}
	}
	if (!call->host || !call->path || !call->authority || !call->key)
		return PT_ENOMEM;
	return 0;
}

static int req_copy_body(struct http_client_call *call, const struct http_client_req *req);

/*
 * HTTP/1.1 only: REQ's headers go straight into their wire form
 * ("name: value\r\n", names lower-cased, framing headers left out) while
 * they are checked, so hc_h1_send copies one block. Then the body.
 */
static int req_copy_h1(struct http_client_call *call, const struct http_client_req *req)
{
	size_t cap = 0, o = 0;
	unsigned j;
	char *b;

	for (j = 0; j < req->num_headers; j++)
		cap += req->headers[j * 2].len + req->headers[j * 2 + 1].len + 4;
	if (!(b = blk_alloc(call, cap + 1)))
		return PT_ENOMEM;
	for (j = 0; j < req->num_headers; j++) {
		pt_str_t n = req->headers[j * 2], v = req->headers[j * 2 + 1];
		size_t start = o, vstart;

		if (n.len == 0 || (!n.ptr && n.len) || (!v.ptr && v.len))
			return PT_EINVAL;
		{
			/* table-driven: a bad byte anywhere shows in BAD at the end */
			unsigned bad = 0;

			bad |= name_lower(b + o, n.ptr, n.len);
			o += n.len;
			b[o++] = ':';
			b[o++] = ' ';
			vstart = o;
			memcpy(b + o, v.ptr, v.len);
			bad |= value_bad(v.ptr, v.len);
			o += v.len;
			if (bad)
				return PT_EINVAL;
		}
		b[o++] = '\r';
		b[o++] = '\n';
		if ((n.len == 14 && !memcmp(b + start, "content-length", 14)) ||
		    (n.len == 17 && !memcmp(b + start, "transfer-encoding", 17))) {
			o = start;	/* we frame the body ourselves */
			continue;
		}
		if (n.len == 4 && !memcmp(b + start, "host", 4))
			call->has_host = 1;
		if (n.len == 10 && !memcmp(b + start, "connection", 10) &&
		    memmem(b + vstart, v.len, "close", 5))
			call->req_close = 1;
	}
	b[o] = '\0';
	call->hblock = b;
	call->hblock_len = o;
	return req_copy_body(call, req);
}

/* Copy REQ's method, headers and body into CALL, validating them. */
int hc_req_copy(struct http_client_call *call, const struct http_client_req *req)
{
	pt_str_t m = req->method.len ? req->method : PT_STR("GET");
	size_t i;
	unsigned j;

	for (i = 0; i < m.len; i++)
		if (!tchar((unsigned char)m.ptr[i]))
			return PT_EINVAL;
	if (!(call->method = blk_dup(call, m.ptr, m.len)))
		return PT_ENOMEM;
	call->head = m.len == 4 && !memcmp(m.ptr, "HEAD", 4);
	call->idempotent = call->head || (m.len == 3 && !memcmp(m.ptr, "GET", 3)) ||
	                   !strcmp(call->method, "PUT") || !strcmp(call->method, "DELETE") ||
	                   !strcmp(call->method, "OPTIONS") || !strcmp(call->method, "TRACE");
	if (req->num_headers && !req->headers)
		return PT_EINVAL;
	if (!call->h2)
		return req_copy_h1(call, req);
	if (req->num_headers) {
		call->hdrs = (pt_str_t *)blk_alloc(call, (size_t)req->num_headers * 2 *
		                                           sizeof(pt_str_t));
		if (!call->hdrs)
			return PT_ENOMEM;
	}
	for (j = 0; j < req->num_headers; j++) {
		pt_str_t n = req->headers[j * 2], v = req->headers[j * 2 + 1];
		char *ns, *vs;

		if (n.len == 0 || (!n.ptr && n.len) || (!v.ptr && v.len))
			return PT_EINVAL;
		for (i = 0; i < v.len; i++)
			if ((unsigned char)v.ptr[i] <= '\r' &&
			    (v.ptr[i] == '\r' || v.ptr[i] == '\n' || v.ptr[i] == '\0'))
				return PT_EINVAL;
		ns = blk_alloc(call, n.len + 1);
		vs = blk_dup(call, v.ptr ? v.ptr : "", v.len);
		if (!ns || !vs)
			return PT_ENOMEM;
		/* checked and lower-cased in one pass */
		for (i = 0; i < n.len; i++) {
			unsigned char ch = (unsigned char)n.ptr[i];

			if (!tchar(ch))
				return PT_EINVAL;
			ns[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch);
		}
		ns[n.len] = '\0';
		call->hdrs[call->nhdrs * 2] = (pt_str_t){ ns, n.len };
		call->hdrs[call->nhdrs * 2 + 1] = (pt_str_t){ vs, v.len };
		call->nhdrs++;
		if (n.len == 4 && !strcmp(ns, "host"))
			call->has_host = 1;
		if (n.len == 10 && !strcmp(ns, "connection") && strstr(vs, "close"))
			call->req_close = 1;
	}
	return req_copy_body(call, req);
}

/* Copy REQ's body into CALL. */
static int req_copy_body(struct http_client_call *call, const struct http_client_req *req)
{
	if (req->body.len && !req->body.ptr)
		return PT_EINVAL;
	if (req->stream && req->body.len <= REPLAY_MAX) {
		/* kept for a resend, and sent from there (made when needed) */
		if (req->body.len && (!(call->replay = evbuffer_new()) ||
		    evbuffer_add(call->replay, req->body.ptr, req->body.len) != 0))
			return PT_ENOMEM;
	} else if (req->body.len) {
		if (!(call->body = dupn(req->body.ptr, req->body.len)))
			return PT_ENOMEM;
		call->body_len = req->body.len;
	}
	return 0;
}

/* Headers we frame ourselves: the caller's copies are dropped. */
int hc_framing_header(pt_str_t n)
{
	return ieq_lit(n.ptr, n.len, "content-length") ||
	       ieq_lit(n.ptr, n.len, "transfer-encoding");
}
