/*
 * ratelimit.c - the "rate" filter: a token bucket per key.
 *
 *   route.get("/a", h, { rate = "100/s" })
 *   route.get("/b", h, { rate = { limit = 10, period = 60, burst = 20,
 *                                  key = "consumer", scope = "redis" } })
 *
 * key: "ip" (default), "consumer" (the authenticated consumer, else the ip),
 * "header:NAME" (else the ip), or "global". Buckets are named by where the
 * option is written (file:line) unless `name` is given, so two routes with
 * the same numbers do not share a bucket, and a `use("rate", ...)` applies
 * one bucket per key across every route it covers. Every answer carries
 * RateLimit-Limit/-Remaining/-Reset; a refusal is 429 with Retry-After.
 *
 * scope "local" (the default without Redis) counts in the shared dictionary
 * of this instance; "redis" counts in Redis with one atomic script so that
 * several instances share the limit (see redis.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest.h"
#include "ratelimit.h"

static const char *const key_kinds[] = { "ip", "consumer", "global", NULL };

static void rate_release(void *state, void *ud)
{
	struct rate_state *s = state;

	(void)ud;
	if (s) {
		free(s->zone);
		free(s->header);
		free(s);
	}
}

/* "100/s", "10/m", "1000/h", "5/d", "3/10s": LIMIT per PERIOD seconds. */
static int parse_spec(const char *spec, double *limit, double *period)
{
	char *end;
	double n = strtod(spec, &end), mult = 1;

	if (end == spec || *end != '/' || !(n >= 1) || n > 1e9)
		return -1;
	spec = end + 1;
	if (*spec >= '0' && *spec <= '9') {
		mult = strtod(spec, &end);
		if (!(mult > 0))
			return -1;
		spec = end;
	}
	*limit = n;
	switch (*spec) {
	case 's': *period = mult; break;
	case 'm': *period = 60 * mult; break;
	case 'h': *period = 3600 * mult; break;
	case 'd': *period = 86400 * mult; break;
	default: return -1;
	}
	return spec[1] == '\0' ? 0 : -1;
}

static int read_key(struct rate_state *s, const char *key, char *err, size_t errlen)
{
	if (!strncmp(key, "header:", 7) && key[7]) {
		s->key = RK_HEADER;
		for (char *p = s->header = strdup(key + 7); p && *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		return s->header ? 0 : -1;
	}
	for (int i = 0; key_kinds[i]; i++) {
		if (!strcmp(key, key_kinds[i])) {
			s->key = (enum rate_key)i;
			return 0;
		}
	}
	snprintf(err, errlen, "key must be \"ip\", \"consumer\", \"global\" or \"header:NAME\", "
	         "not \"%s\"", key);
	return -1;
}

static int rate_compile(const pt_conf *o, void **state, char *err, size_t errlen, void *ud)
{
	struct rate_state *s = calloc(1, sizeof(*s));
	const char *file = "?", *k;
	const pt_conf *v;
	char zone[512];
	pt_str_t str;
	int line = 0;

	(void)ud;
	if (!s)
		return PT_ENOMEM;
	s->scope = rest_api->redis_configured && rest_api->redis_configured() ? RS_REDIS : RS_LOCAL;
	if (rest_api->conf_str(o, NULL, &str) == 0) {
		if (parse_spec(str.ptr, &s->limit, &s->period) != 0) {
			snprintf(err, errlen, "rate \"%s\": write LIMIT/UNIT, e.g. \"100/s\", \"10/m\", "
			         "\"1000/h\", \"5/10s\"", str.ptr);
			goto fail;
		}
	} else if (rest_api->conf_type(o) == PT_CONF_TABLE) {
		for (size_t i = 0; (k = rest_api->conf_key_at(o, i, &v)) != NULL; i++) {
			static const char *const known[] = { "limit", "period", "burst", "key", "scope",
			                                     "name", "rate", NULL };
			int j = 0;

			while (known[j] && strcmp(known[j], k))
				j++;
			if (!known[j]) {
				snprintf(err, errlen, "unknown option '%s' (limit, period, burst, key, "
				         "scope, name, rate)", k);
				goto fail;
			}
		}
		if (rest_api->conf_str(o, "rate", &str) == 0) {
			if (parse_spec(str.ptr, &s->limit, &s->period) != 0) {
				snprintf(err, errlen, "rate \"%s\": write LIMIT/UNIT, e.g. \"100/s\"", str.ptr);
				goto fail;
			}
		} else if (rest_api->conf_num(o, "limit", &s->limit) != 0 || !(s->limit >= 1)) {
			snprintf(err, errlen, "rate needs limit (>= 1) or rate = \"N/unit\"");
			goto fail;
		} else {
			s->period = 1;
			if (rest_api->conf_num(o, "period", &s->period) == 0 &&
			    !(s->period > 0 && s->period <= 86400 * 366)) {
				snprintf(err, errlen, "period is seconds, more than 0");
				goto fail;
			}
		}
		if (rest_api->conf_num(o, "burst", &s->burst) == 0 && !(s->burst >= 1)) {
			snprintf(err, errlen, "burst must be 1 or more");
			goto fail;
		}
		if (rest_api->conf_str(o, "key", &str) == 0 &&
		    read_key(s, str.ptr, err, errlen) != 0)
			goto fail;
		if (rest_api->conf_str(o, "scope", &str) == 0) {
			if (!strcmp(str.ptr, "local")) {
				s->scope = RS_LOCAL;
			} else if (!strcmp(str.ptr, "redis")) {
				if (!rest_api->redis_configured || !rest_api->redis_configured()) {
					snprintf(err, errlen, "scope \"redis\" needs redis = { host = ..., "
					         "port = ... } in the config");
					goto fail;
				}
				s->scope = RS_REDIS;
			} else {
				snprintf(err, errlen, "scope is \"local\" or \"redis\"");
				goto fail;
			}
		}
		if (rest_api->conf_str(o, "name", &str) == 0)
			s->zone = strdup(str.ptr);
	} else {
		snprintf(err, errlen, "rate is \"N/unit\" or a table { limit, period, burst, key, "
		         "scope, name }");
		goto fail;
	}
	if (!(s->burst >= 1))
		s->burst = s->limit;
	if (!s->zone) {
		rest_api->conf_where(o, &file, &line);
		snprintf(zone, sizeof(zone), "%s:%d", file, line);
		s->zone = strdup(zone);
	}
	if (!s->zone)
		goto fail;
	*state = s;
	return 0;
fail:
	rate_release(s, NULL);
	return PT_EINVAL;
}

/* The bucket's key: "rl|zone|kind|value". */
size_t rate_bucket_key(pt_exchange *x, const struct rate_state *s, char *buf, size_t cap)
{
	pt_str_t v = { "", 0 };
	const char *kind = "ip";
	int n;

	if (s->key == RK_CONSUMER) {
		v = rest_api->exchange_consumer(x);
		kind = "consumer";
	} else if (s->key == RK_HEADER &&
	           rest_api->exchange_header(x, (pt_str_t){ s->header, strlen(s->header) }, 0,
	                                     &v) == 0) {
		kind = "header";
	} else if (s->key == RK_GLOBAL) {
		kind = "global";
	}
	if (s->key != RK_GLOBAL && !v.len) {
		pt_str_t ra = rest_api->exchange_remote_addr(x);
		const char *colon = ra.len ? memrchr(ra.ptr, ':', ra.len) : NULL;

		v = (pt_str_t){ ra.ptr, colon ? (size_t)(colon - ra.ptr) : ra.len };
		kind = "ip";
	}
	if (v.len > 200)
		v.len = 200;   /* a huge header value must not make a huge key */
	n = snprintf(buf, cap, "rl|%s|%s|%.*s", s->zone, kind, (int)v.len, v.ptr);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

int rate_answer(pt_exchange *x, const struct rate_state *s, const struct pt_rate *r)
{
	char b[32];
	int n;

	n = snprintf(b, sizeof(b), "%.0f", s->burst);
	rest_api->exchange_header_set(x, PT_STR("ratelimit-limit"), (pt_str_t){ b, (size_t)n });
	n = snprintf(b, sizeof(b), "%.0f", r->remaining);
	rest_api->exchange_header_set(x, PT_STR("ratelimit-remaining"), (pt_str_t){ b, (size_t)n });
	n = snprintf(b, sizeof(b), "%.0f", ceil(r->reset));
	rest_api->exchange_header_set(x, PT_STR("ratelimit-reset"), (pt_str_t){ b, (size_t)n });
	if (r->allowed)
		return PT_FILTER_NEXT;
	n = snprintf(b, sizeof(b), "%.0f", ceil(r->retry_after) < 1 ? 1 : ceil(r->retry_after));
	rest_api->exchange_header_set(x, PT_STR("retry-after"), (pt_str_t){ b, (size_t)n });
	rest_error(x, 429, "rate limit exceeded");
	return PT_FILTER_DONE;
}

static int rate_run(pt_exchange *x, void *state, void *ud)
{
	const struct rate_state *s = state;
	struct pt_rate r;
	char key[512];
	size_t klen = rate_bucket_key(x, s, key, sizeof(key));

	(void)ud;
	if (s->scope == RS_REDIS)
		return rate_redis_take(x, s, key, klen);
	if (rest_api->rate_take((pt_str_t){ key, klen }, s->limit, s->period, s->burst, 1, &r) != 0)
		return PT_ENOMEM;
	return rate_answer(x, s, &r);
}

const struct pt_filter_def rest_rate_filter = {
	sizeof(struct pt_filter_def), "rate", PT_PHASE_ACCESS, 0, rate_compile, rate_release,
	rate_run,
};
