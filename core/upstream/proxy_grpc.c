/*
 * proxy_grpc.c - gRPC over HTTP/2 as the proxy needs it; see proxy_grpc.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/exchange.h"
#include "proxy_grpc.h"

int grpc_content_type(pt_str_t ct)
{
	static const char g[] = "application/grpc";
	size_t n = sizeof(g) - 1;

	if (ct.len < n || strncasecmp(ct.ptr, g, n) != 0)
		return 0;
	return ct.len == n || ct.ptr[n] == '+' || ct.ptr[n] == ';';
}

int64_t grpc_timeout_parse(pt_str_t v)
{
	int64_t n = 0;
	size_t i;

	if (v.len < 2 || v.len > 9)
		return -1;
	for (i = 0; i + 1 < v.len; i++) {
		if (v.ptr[i] < '0' || v.ptr[i] > '9')
			return -1;
		n = n * 10 + (v.ptr[i] - '0');
	}
	switch (v.ptr[v.len - 1]) {
	case 'H': return n * 3600 * 1000000;
	case 'M': return n * 60 * 1000000;
	case 'S': return n * 1000000;
	case 'm': return n * 1000;
	case 'u': return n;
	case 'n': return (n + 999) / 1000;
	default: return -1;
	}
}

size_t grpc_timeout_format(int64_t us, char *buf)
{
	static const struct { int64_t div; char unit; } u[] = {
		{ 1, 'u' }, { 1000, 'm' }, { 1000000, 'S' }, { 60000000, 'M' }, { 3600000000, 'H' },
	};
	int64_t v = us;
	size_t i;

	if (us < 1)
		us = 1;
	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		v = (us + u[i].div - 1) / u[i].div;   /* rounded up: never earlier */
		if (v < 100000000)
			break;
	}
	if (i == sizeof(u) / sizeof(u[0])) {
		i--;
		v = 99999999;
	}
	return (size_t)snprintf(buf, 12, "%lld%c", (long long)v, u[i].unit);
}

int grpc_code_of_http(int status)
{
	switch (status) {
	case 400: return GRPC_INTERNAL;
	case 401: return GRPC_UNAUTHENTICATED;
	case 403: return GRPC_PERMISSION_DENIED;
	case 404: return GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504: return GRPC_UNAVAILABLE;
	default: return GRPC_UNKNOWN;
	}
}

/* MSG percent-encoded as grpc-message wants (bytes outside 0x20-0x7e, and
 * '%') into X's pool. */
static pt_str_t pct_encode(pt_exchange *x, const char *msg)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(msg), o = 0;
	char *b = xapi_alloc(x, 3 * n + 1);

	if (!b)
		return (pt_str_t){ "", 0 };
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (c < 0x20 || c > 0x7e || c == '%') {
			b[o++] = '%';
			b[o++] = hex[c >> 4];
			b[o++] = hex[c & 15];
		} else {
			b[o++] = (char)c;
		}
	}
	return (pt_str_t){ b, o };
}

int grpc_answer(pt_exchange *x, unsigned keep, int code, const char *message)
{
	char num[12];
	int n = snprintf(num, sizeof(num), "%d", code);
	pt_str_t st = { num, (size_t)n }, msg = pct_encode(x, message ? message : "");
	char *c;

	if (x->state >= X_DONE || x->transport_gone)
		return PT_ESTATE;
	if (!(c = xapi_alloc(x, (size_t)n)))
		return PT_ENOMEM;
	memcpy(c, num, (size_t)n);
	st.ptr = c;
	if (x->state == X_STREAMING) {
		xapi_trailer_add(x, PT_STR("grpc-status"), st);
		if (msg.len)
			xapi_trailer_add(x, PT_STR("grpc-message"), msg);
		return xapi_finish(x);
	}
	if (x->nrhdrs > keep)
		x->nrhdrs = keep;
	x->ntrailers = 0;
	x->resp_length = -1;
	xapi_header_set(x, PT_STR("content-type"), PT_STR("application/grpc"));
	xapi_header_set(x, PT_STR("grpc-status"), st);
	if (msg.len)
		xapi_header_set(x, PT_STR("grpc-message"), msg);
	return xapi_respond(x, 200, (pt_str_t){ NULL, 0 });
}
