/*
 * backoff.c - when a failed job runs again (wh.h): the delay before
 * attempt n+1 is min(cap, base * 2^(n-1)) seconds times a random factor
 * in [0.5, 1], so senders and handlers that failed together do not all
 * come back at the same instant. Inbound handlers (run.c) and outbound
 * deliveries (send_run.c) share it.
 */
#include <math.h>
#include <stdint.h>
#include <time.h>

#include "wh.h"

/* A uniform double in [0, 1) from a per-thread xorshift: jitter only,
 * nothing secret depends on it. */
static double rand01(void)
{
	static __thread uint64_t x;

	if (!x) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&x ^
		    (uint64_t)ts.tv_sec;
		if (!x)
			x = 88172645463325252ull;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (double)(x >> 11) / 9007199254740992.0;
}

int64_t wh_backoff_ms(int attempt, double base, double cap)
{
	double d;

	if (attempt < 1)
		attempt = 1;
	if (!(base > 0))
		base = 2;
	if (!(cap > 0))
		cap = 3600;
	d = attempt > 60 ? cap : fmin(cap, base * ldexp(1.0, attempt - 1));
	d *= 0.5 + 0.5 * rand01();
	return (int64_t)(d * 1000);
}
