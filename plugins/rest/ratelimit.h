/* ratelimit.h - the "rate" filter's compiled options, shared by the local
 * and the Redis paths (ratelimit.c, ratelimit_redis.c). */
#ifndef PT_REST_RATELIMIT_H
#define PT_REST_RATELIMIT_H

#include "rest.h"

enum rate_key { RK_IP = 0, RK_CONSUMER = 1, RK_GLOBAL = 2, RK_HEADER = 3 };
enum rate_scope { RS_LOCAL, RS_REDIS };

struct rate_state {
	double limit, period, burst;
	enum rate_key key;
	enum rate_scope scope;
	char *header;                /* RK_HEADER: lower-case name */
	char *zone;                  /* bucket namespace: `name`, or file:line */
};

/* The bucket key of X into BUF; its length. */
size_t rate_bucket_key(pt_exchange *x, const struct rate_state *s, char *buf, size_t cap);
/* Sets the RateLimit headers from R; 429 when R refuses. A filter result. */
int rate_answer(pt_exchange *x, const struct rate_state *s, const struct pt_rate *r);
/* Takes a token in Redis; PT_FILTER_WAIT, then resumes or answers. */
int rate_redis_take(pt_exchange *x, const struct rate_state *s, const char *key, size_t klen);

#endif
