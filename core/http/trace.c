/*
 * The W3C trace context (traceparent) of an exchange: what every call made
 * for it (a proxied hop, grpc.call, a SOAP call) sends on, so the hops of one
 * request share one trace id.
 *
 * The client's traceparent when it is well formed (version 00 layout: 55
 * bytes, lower-case hex, trace id and parent id not all zeros, version not
 * ff), else one made once for the exchange: a random trace id and span id,
 * sampled. Made once, so a handler calling two services sends both the same
 * trace id even when the client sent none.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include "exchange.h"

static int hexdig(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '0')
			return 0;
	return 1;
}

/* A client's traceparent worth keeping: the version 00 layout exactly. */
int trace_ok(pt_str_t v)
{
	static const size_t dash[] = { 2, 35, 52 };

	if (v.len != PT_TRACEPARENT_LEN)
		return 0;
	for (size_t i = 0, d = 0; i < v.len; i++) {
		if (d < 3 && i == dash[d]) {
			if (v.ptr[i] != '-')
				return 0;
			d++;
		} else if (!hexdig(v.ptr[i])) {
			return 0;
		}
	}
	return memcmp(v.ptr, "ff", 2) != 0 && !all_zero(v.ptr + 3, 32) &&
	       !all_zero(v.ptr + 36, 16);
}

/* 64 random bits: a per-thread xorshift seeded from getrandom. */
static uint64_t rand64(void)
{
	static __thread uint64_t s;

	if (!s) {
		if (getrandom(&s, sizeof(s), 0) != (ssize_t)sizeof(s)) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
			    (uint64_t)(uintptr_t)&s;
		}
		s |= 1;
	}
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

static void hex64(char *dst, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, v >>= 4)
		dst[i] = hex[v & 15];
}

/* A new sampled traceparent at DST (PT_TRACEPARENT_LEN bytes). */
void trace_new(char *dst)
{
	uint64_t hi = rand64(), lo = rand64();

	if (!hi && !lo)
		lo = 1;
	memcpy(dst, "00-", 3);
	hex64(dst + 3, hi);
	hex64(dst + 19, lo);
	dst[35] = '-';
	hex64(dst + 36, rand64() | 1);
	memcpy(dst + 52, "-01", 3);
}

pt_str_t xapi_traceparent(pt_exchange *x)
{
	if (!x->trace_len) {
		pt_str_t v;

		if (xapi_header(x, PT_STR("traceparent"), 0, &v) == 0 && trace_ok(v))
			memcpy(x->trace, v.ptr, v.len);
		else
			trace_new(x->trace);
		x->trace_len = PT_TRACEPARENT_LEN;
	}
	return (pt_str_t){ x->trace, x->trace_len };
}
