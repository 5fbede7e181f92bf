/*
 * grpc_status.c - the core's errors, told a gRPC client its way.
 *
 * A gRPC client reads the grpc-status of a response, not its HTTP status:
 * a 404 or a 401 with a JSON body is to it a broken response ("Received
 * http2 header with status: 404"), and the reason is lost. So a request
 * whose content-type starts with application/grpc (gRPC, gRPC-Web, gRPC-Web
 * text) that the core or a filter answers with another status than 200
 * goes out as a gRPC "trailers-only" answer: 200, the request's
 * content-type, grpc-status mapped from the HTTP status as grpc's
 * doc/http-grpc-status-mapping.md does (plus 408 and 413, which it leaves
 * out), grpc-message (percent-encoded, gRPC's way) with the reason, and no
 * body. HTTP/2 sends it as one HEADERS frame with END_STREAM, HTTP/1.1
 * (gRPC-Web) as plain headers. The access log keeps the original status.
 *
 * Only whole answers (exchange_respond and the core's errors) are turned:
 * a streamed one has sent its status before anyone could look.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "exchange.h"

/* gRPC status codes (google.rpc.Code). */
enum {
	G_UNKNOWN = 2,
	G_DEADLINE_EXCEEDED = 4,
	G_PERMISSION_DENIED = 7,
	G_RESOURCE_EXHAUSTED = 8,
	G_UNIMPLEMENTED = 12,
	G_INTERNAL = 13,
	G_UNAVAILABLE = 14,
	G_UNAUTHENTICATED = 16,
};

static int grpc_code(int status)
{
	switch (status) {
	case 400: return G_INTERNAL;
	case 401: return G_UNAUTHENTICATED;
	case 403: return G_PERMISSION_DENIED;
	case 404: return G_UNIMPLEMENTED;
	case 408: return G_DEADLINE_EXCEEDED;
	case 413: return G_RESOURCE_EXHAUSTED;
	case 429: case 502: case 503: case 504: return G_UNAVAILABLE;
	default: return G_UNKNOWN;
	}
}

/* The "message" of the core's JSON error body {"error":{...,"message":"..."}}
 * (exchange_error, the rest plugin's filters), unescaped into DST (CAP
 * bytes); 0 when the body has none. */
static size_t json_message(struct evbuffer *out, char *dst, size_t cap)
{
	size_t len = out ? evbuffer_get_length(out) : 0, n = 0;
	const char *b, *p, *end;

	if (!len || len > 4096 || !(b = (const char *)evbuffer_pullup(out, -1)))
		return 0;
	end = b + len;
	for (p = b; p + 11 <= end && memcmp(p, "\"message\":\"", 11); p++)
		;
	if (p + 11 > end)
		return 0;
	for (p += 11; p < end && *p != '"' && n + 3 <= cap; p++) {
		unsigned u = 0;

		if (*p != '\\' || p + 1 >= end) {
			dst[n++] = *p;
			continue;
		}
		switch (*++p) {
		case 'n': dst[n++] = '\n'; break;
		case 't': dst[n++] = '\t'; break;
		case 'r': dst[n++] = '\r'; break;
		case 'b': dst[n++] = '\b'; break;
		case 'f': dst[n++] = '\f'; break;
		case 'u':
			/* \uXXXX as UTF-8 (a surrogate half becomes U+FFFD) */
			for (int k = 1; k <= 4; k++) {
				int c = p + k < end ? p[k] : 0;

				u = u * 16 + (unsigned)(c >= '0' && c <= '9' ? c - '0' :
				                        (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ?
				                        (c | 0x20) - 'a' + 10 : 0);
			}
			p += p + 4 < end ? 4 : (size_t)(end - p - 1);
			if (u >= 0xd800 && u <= 0xdfff)
				u = 0xfffd;
			if (u < 0x80) {
				dst[n++] = (char)u;
			} else if (u < 0x800) {
				dst[n++] = (char)(0xc0 | u >> 6);
				dst[n++] = (char)(0x80 | (u & 0x3f));
			} else {
				dst[n++] = (char)(0xe0 | u >> 12);
				dst[n++] = (char)(0x80 | (u >> 6 & 0x3f));
				dst[n++] = (char)(0x80 | (u & 0x3f));
			}
			break;
		default: dst[n++] = *p; break;
		}
	}
	return n;
}

/* gRPC's percent-encoding of grpc-message: bytes outside 0x20..0x7e and
 * '%' as %XX. DST holds 3 * LEN bytes. */
static size_t pct_encode(const char *s, size_t len, char *dst)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch > 0x7e || ch == '%') {
			dst[n++] = '%';
			dst[n++] = hex[ch >> 4];
			dst[n++] = hex[ch & 15];
		} else {
			dst[n++] = (char)ch;
		}
	}
	return n;
}

/* Response headers a trailers-only gRPC answer keeps: not the error
 * body's framing and type, which are gone with it. */
static int keep_header(pt_str_t n)
{
	return !(n.len == 12 && !strncasecmp(n.ptr, "content-type", 12)) &&
	       !(n.len == 14 && !strncasecmp(n.ptr, "content-length", 14)) &&
	       !(n.len == 16 && !strncasecmp(n.ptr, "content-encoding", 16));
}

int exchange_grpc_error(pt_exchange *x)
{
	pt_str_t ct;
	char msg[256], enc[3 * sizeof(msg)], code[8];
	size_t n, j = 0;
	const char *why;

	if (x->status == 200 || x->status == 101 || x->log_status ||
	    xapi_header(x, PT_STR("content-type"), 0, &ct) != 0 || ct.len < 16 ||
	    strncasecmp(ct.ptr, "application/grpc", 16) != 0)
		return 0;
	n = json_message(x->out, msg, sizeof(msg));
	if (!n) {
		why = http_reason(x->status);
		n = strlen(why);
		if (n > sizeof(msg))
			n = sizeof(msg);
		memcpy(msg, why, n);
	}
	n = pct_encode(msg, n, enc);
	for (unsigned i = 0; i < x->nrhdrs; i++)
		if (keep_header(x->rhdrs[i].name))
			x->rhdrs[j++] = x->rhdrs[i];
	x->nrhdrs = j;
	snprintf(code, sizeof(code), "%d", grpc_code(x->status));
	if (xapi_header_add(x, PT_STR("content-type"), ct) != 0 ||
	    xapi_header_add(x, PT_STR("grpc-status"), (pt_str_t){ code, strlen(code) }) != 0 ||
	    xapi_header_add(x, PT_STR("grpc-message"), (pt_str_t){ enc, n }) != 0)
		return PT_ENOMEM;
	if (x->out)
		evbuffer_drain(x->out, evbuffer_get_length(x->out));
	x->log_status = x->status;
	x->status = 200;
	x->ntrailers = 0;
	return 1;
}
