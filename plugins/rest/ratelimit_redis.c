/*
 * ratelimit_redis.c - the "rate" filter's Redis path: the same GCRA bucket
 * as the local one (core/shared_dict.c), computed inside Redis by one script
 * so that concurrent instances cannot both take the last token. The clock
 * is Redis's (TIME), so instances with skewed clocks still agree.
 *
 * When Redis cannot answer (down, timeout), the request is let through and
 * a warning is logged: a rate limiter must not turn a Redis outage into an
 * API outage. The answer carries no RateLimit headers then.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratelimit.h"

/* KEYS[1]: the bucket. ARGV: interval (s), burst, cost.
 * Returns { allowed, remaining, reset_ms, retry_after_ms }. */
static const char script[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) + tonumber(t[2]) / 1e6\n"
	"local interval, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local cap = burst * interval\n"
	"local tat = tonumber(redis.call('GET', KEYS[1]) or 0)\n"
	"if tat < now then tat = now end\n"
	"local nxt = tat + cost * interval\n"
	"local allowed = 0\n"
	"if nxt - now <= cap + 1e-9 then\n"
	"  allowed = 1\n"
	"  tat = nxt\n"
	"  redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX',\n"
	"             math.ceil((tat - now) * 1000) + 1000)\n"
	"end\n"
	"local remaining = math.floor((cap - (tat - now)) / interval + 1e-9)\n"
	"if remaining < 0 then remaining = 0 end\n"
	"return { allowed, remaining, math.ceil((tat - now) * 1000),\n"
	"         math.ceil((nxt - now - cap) * 1000) }\n";

struct pending {
	pt_exchange *x;
	const struct rate_state *s;   /* lives with the generation, which X holds */
};

static void warn_failed(const char *err)
{
	static atomic_llong last;
	long long now = (long long)time(NULL);

	/* once a second at most: an outage must not flood the log */
	if (atomic_exchange(&last, now) != now) {
		rest_api->log(rest_ctx, PT_LOG_WARN, "rate: Redis did not answer (%s): letting "
		              "requests through", err ? err : "bad reply");
	}
}

static void on_reply(const struct pt_redis_reply *r, const char *err, void *ud)
{
	struct pending *p = ud;
	pt_exchange *x = p->x;

	if (!rest_api->exchange_aborted(x)) {
		if (r && r->type == PT_REDIS_ARRAY && r->nelem == 4 &&
		    r->elem[0].type == PT_REDIS_INT && r->elem[1].type == PT_REDIS_INT &&
		    r->elem[2].type == PT_REDIS_INT && r->elem[3].type == PT_REDIS_INT) {
			struct pt_rate rate = {
				.allowed = r->elem[0].integer == 1,
				.remaining = (double)r->elem[1].integer,
				.reset = (double)r->elem[2].integer / 1000.0,
				.retry_after = (double)r->elem[3].integer / 1000.0,
			};

			if (rate_answer(x, p->s, &rate) == PT_FILTER_NEXT)
				rest_api->exchange_resume(x);
		} else {
			warn_failed(r && r->type == PT_REDIS_ERROR ? r->str : err);
			rest_api->exchange_resume(x);
		}
	}
	rest_api->exchange_unref(x);
	free(p);
}

int rate_redis_take(pt_exchange *x, const struct rate_state *s, const char *key, size_t klen)
{
	char a1[32], a2[32];
	const char *argv[4] = { key, a1, a2, "1" };
	size_t lens[4] = { klen, 0, 0, 1 };
	struct pending *p = malloc(sizeof(*p));
	int rc;

	if (!p)
		return PT_ENOMEM;
	lens[1] = (size_t)snprintf(a1, sizeof(a1), "%.9g", s->period / s->limit);
	lens[2] = (size_t)snprintf(a2, sizeof(a2), "%.9g", s->burst);
	p->x = x;
	p->s = s;
	rest_api->exchange_ref(x);
	rc = rest_api->redis_eval(rest_api->exchange_worker(x), script, 1, 4, argv, lens, on_reply,
	                          p);
	if (rc != 0) {
		rest_api->exchange_unref(x);
		free(p);
		warn_failed("cannot send");
		return PT_FILTER_NEXT;
	}
	return PT_FILTER_WAIT;
}
