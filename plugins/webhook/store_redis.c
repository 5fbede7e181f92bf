/*
 * store_redis.c - the webhook store on Redis Streams (store = "redis"), for
 * several Portico instances sharing one inbox: the config's top-level
 * `redis = { ... }` names the server, each worker talks to it on its own
 * connection (pt_api.redis_eval), and everything that must be atomic is one
 * script (store_redis_lua.c).
 *
 * put: one script sets the dedup key (NX, expiring after dedup_ttl) and,
 * when it is new, writes the job hash and adds its id to the stream. A
 * Redis error or timeout is WH_EIO: the handler answers 503 + Retry-After,
 * the sender retries; if the script did run, the retry is a duplicate.
 *
 * dispatch: each worker is a consumer of the group "portico", named
 * host:pid:worker, and polls (POLL_MS, and at once after a local put or
 * when a full batch came back) with XREADGROUP for as many jobs as it has
 * free slots. Entries idle longer than claim_idle_ms are taken over with
 * XAUTOCLAIM: an instance that died (or lost Redis) leaves its entries
 * pending, another one runs them (at-least-once across instances). While a
 * job runs, its worker resets the entry's idle time every claim_idle_ms/3
 * (XCLAIM JUSTID), so a slow handler is not taken over while alive.
 *
 * finish: XACK + XDEL, the attempt recorded; retry: the job id into a
 * sorted set by due time, moved back into the stream by the next poll.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "wh.h"
#include "store_redis.h"

#define GROUP "portico"
#define POLL_MS 100            /* idle poll period */
#define BATCH 16               /* jobs per poll at most (their bodies travel in one reply) */
#define MAINT_MS 60000         /* index trimming, stale consumers: worker 0 */
#define SID_MAX 48

/* queue lag metric: webhook.c defines it; absent in tests and tools */
#pragma weak wh_metrics_lag

struct rstore;

struct rjob {
	struct wh_job job;          /* first: finish gets &job */
	struct rworker *rw;
	char sid[SID_MAX];          /* the stream entry being run */
	struct rjob *prev, *next;   /* RW's jobs in flight */
	/* finish's arguments, carried to RW's thread */
	int outcome;
	int64_t delay_ms;
	int status;
	char *error;
};

struct rworker {
	struct rstore *s;
	pt_worker *w;
	pt_timer *timer;
	struct rjob *jobs;
	unsigned inflight;
	int polling;                /* a fetch is on the wire */
	int kick;                   /* poll again as soon as it answers */
	int need_group;             /* XGROUP CREATE with the next fetch */
	int stopped;
	int beating;                /* heartbeats on the wire */
	int64_t next_claim, next_beat, next_maint;
	char cursor[SID_MAX];       /* XAUTOCLAIM's, "0-0" to start over */
	char consumer[160];
};

struct rstore {
	struct wh_store base;
	const struct pt_api *api;
	char *prefix;
	char *k_stream, *k_retry, *k_dead, *k_seq, *k_jobs;
	char retention[24], claim_idle[24], dedup_ttl[24];
	int64_t claim_idle_ms;
	unsigned per_worker;
	wh_job_fn job_fn;
	void *ud;
	struct rworker *ws;
	unsigned n;
};

static int64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A warning at most every 10 s per kind: an outage must not flood the log. */
static void warn_every(struct rstore *s, _Atomic int64_t *last, const char *fmt, ...)
{
	int64_t t = mono_ms(), was = atomic_load(last);
	char buf[512];
	va_list ap;

	/* warned, or another thread warns now */
	if ((was && t - was < 10000) || !atomic_compare_exchange_strong(last, &was, t))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->api->log(NULL, PT_LOG_WARN, "webhook: redis store: %s", buf);
}

static char *cat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 1);

	if (p) {
		memcpy(p, a, la);
		memcpy(p + la, b, lb + 1);
	}
	return p;
}

static struct rworker *rworker_of(struct rstore *s, pt_worker *w)
{
	for (unsigned i = 0; s->ws && i < s->n; i++)
		if (s->ws[i].w == w)
			return &s->ws[i];
	return NULL;
}

/* ---- put -------------------------------------------------------------------- */

struct put_call {
	struct rstore *s;
	pt_worker *w;
	wh_put_fn cb;
	void *ud;
};

static void poll_soon(struct rworker *rw);

static void on_put(const struct pt_redis_reply *r, const char *err, void *ud)
{
	struct put_call *p = ud;
	static _Atomic int64_t warned;
	char why[256];

	if (r && r->type == PT_REDIS_ARRAY && r->nelem == 2 && r->elem[0].type == PT_REDIS_INT) {
		int dup = r->elem[0].integer == 1;
		struct rworker *rw = dup ? NULL : rworker_of(p->s, p->w);

		p->cb(dup ? WH_DUPLICATE : WH_STORED, NULL, p->ud);
		if (rw)
			poll_soon(rw);
	} else {
		int full = r && r->type == PT_REDIS_ERROR && r->str && strncmp(r->str, "OOM", 3) == 0;

		snprintf(why, sizeof(why), "redis: %s",
		         r && r->type == PT_REDIS_ERROR && r->str ? r->str :
		         err ? err : "unexpected reply to the put script");
		warn_every(p->s, &warned, "cannot store an event (%s): answering 503", why);
		p->cb(full ? WH_EFULL : WH_EIO, why, p->ud);
	}
	free(p);
}

static int rs_put(struct wh_store *base, pt_worker *w, const struct wh_event_in *ev,
                  wh_put_fn cb, void *ud)
{
	struct rstore *s = (struct rstore *)base;
	const char *kind = ev->kind == WH_OUTBOUND ? "out" : "in";
	char *dedup, rcv[24], max[16], b[32], c[32], ord[4];
	const char *argv[18];
	size_t lens[18];
	struct put_call *p;
	int n, rc;

	if (!ev->source || !ev->event_id || !cb)
		return WH_EIO;
	if (ev->ordered) {
		static _Atomic int64_t warned;

		warn_every(s, &warned, "source \"%s\" has ordered = true, which this store does not "
		           "keep: its events may run concurrently and out of order", ev->source);
	}
	/* an outbound job's source is its URL: no bound here but memory's */
	n = snprintf(NULL, 0, "%sdedup:%s:%s:%s", s->prefix, kind, ev->source, ev->event_id);
	if (n < 0 || !(dedup = malloc((size_t)n + 1)))
		return WH_EBUSY;
	snprintf(dedup, (size_t)n + 1, "%sdedup:%s:%s:%s", s->prefix, kind, ev->source,
	         ev->event_id);
	snprintf(rcv, sizeof(rcv), "%lld", (long long)ev->received_at_ms);
	snprintf(max, sizeof(max), "%d", ev->max_attempts > 0 ? ev->max_attempts : 1);
	snprintf(b, sizeof(b), "%.17g", ev->base);
	snprintf(c, sizeof(c), "%.17g", ev->cap);
	snprintf(ord, sizeof(ord), "%d", ev->ordered ? 1 : 0);
	argv[0] = dedup;
	argv[1] = s->k_seq;
	argv[2] = s->k_stream;
	argv[3] = s->k_jobs;
	argv[4] = s->prefix;
	argv[5] = s->dedup_ttl;
	argv[6] = ev->kind == WH_OUTBOUND ? "2" : "1";
	argv[7] = ev->source;
	argv[8] = ev->event_id;
	argv[9] = ev->type ? ev->type : "";
	argv[10] = ev->body ? ev->body : "";
	argv[11] = ev->headers_json ? ev->headers_json : "";
	argv[12] = ev->meta_json ? ev->meta_json : "";
	argv[13] = rcv;
	argv[14] = max;
	argv[15] = b;
	argv[16] = c;
	argv[17] = ord;
	for (int i = 0; i < 18; i++)
		lens[i] = i == 10 ? (ev->body ? ev->body_len : 0) : strlen(argv[i]);
	if (!(p = malloc(sizeof(*p)))) {
		free(dedup);
		return WH_EBUSY;
	}
	*p = (struct put_call){ s, w, cb, ud };
	rc = s->api->redis_eval(w, wh_redis_put_lua, 4, 18, argv, lens, on_put, p);
	free(dedup);   /* copied by the client */
	if (rc != 0) {
		static _Atomic int64_t warned;

		free(p);
		warn_every(s, &warned, "cannot send to Redis (%s)%s", s->api->strerror(rc),
		           rc == PT_ENOENT ? ": store = \"redis\" needs the config's "
		           "redis = { host = ..., port = ... }" : "");
		return rc == PT_ENOMEM ? WH_EBUSY : WH_EIO;
	}
	return 0;
}

/* ---- dispatch --------------------------------------------------------------- */

static void tick(void *ud);

static void arm(struct rworker *rw, uint64_t ms)
{
	if (!rw->stopped && rw->timer)
		rw->s->api->timer_start(rw->timer, ms, 0);
}

static void poll_soon(struct rworker *rw)
{
	if (rw->polling)
		rw->kick = 1;
	else
		arm(rw, 0);
}

static char *dup_str(const struct pt_redis_reply *e)
{
	char *p;

	if (e->type != PT_REDIS_STRING && e->type != PT_REDIS_STATUS) {
		if (e->type != PT_REDIS_INT)
			return strdup("");
		if ((p = malloc(24)))
			snprintf(p, 24, "%lld", e->integer);
		return p;
	}
	if ((p = malloc(e->len + 1))) {
		memcpy(p, e->str, e->len);
		p[e->len] = '\0';
	}
	return p;
}

static double num(const struct pt_redis_reply *e)
{
	char buf[64];

	if (e->type == PT_REDIS_INT)
		return (double)e->integer;
	if (e->type != PT_REDIS_STRING || e->len >= sizeof(buf))
		return 0;
	memcpy(buf, e->str, e->len);
	buf[e->len] = '\0';
	return strtod(buf, NULL);
}

static void rjob_free(struct rjob *j)
{
	free(j->job.source);
	free(j->job.event_id);
	free(j->job.type);
	free(j->job.body);
	free(j->job.headers_json);
	free(j->job.meta_json);
	free(j->error);
	free(j);
}

/* A job from one fetched element E: { sid, id, attempt, kind, source,
 * event_id, type, body, headers, meta, received_at, max, base, cap,
 * ordered }. NULL when E is malformed or memory runs out. */
static struct rjob *job_from(struct rworker *rw, const struct pt_redis_reply *e)
{
	const struct pt_redis_reply *f = e->elem;
	struct rjob *j;
	char *id;

	if (e->type != PT_REDIS_ARRAY || e->nelem != 15 || f[0].type != PT_REDIS_STRING ||
	    f[0].len >= SID_MAX || !(j = calloc(1, sizeof(*j))))
		return NULL;
	j->rw = rw;
	memcpy(j->sid, f[0].str, f[0].len);
	id = dup_str(&f[1]);
	if (id)
		snprintf(j->job.key, sizeof(j->job.key), "%s", id);
	free(id);
	j->job.attempt = (int)num(&f[2]);
	j->job.kind = num(&f[3]) == 2 ? WH_OUTBOUND : WH_INBOUND;
	j->job.source = dup_str(&f[4]);
	j->job.event_id = dup_str(&f[5]);
	j->job.type = dup_str(&f[6]);
	j->job.body = (unsigned char *)dup_str(&f[7]);
	j->job.body_len = f[7].type == PT_REDIS_STRING ? f[7].len : 0;
	j->job.headers_json = dup_str(&f[8]);
	j->job.meta_json = f[9].type == PT_REDIS_STRING && f[9].len ? dup_str(&f[9]) : NULL;
	j->job.received_at_ms = (int64_t)num(&f[10]);
	j->job.max_attempts = (int)num(&f[11]);
	j->job.base = num(&f[12]);
	j->job.cap = num(&f[13]);
	if (!id || !j->job.source || !j->job.event_id || !j->job.type || !j->job.body ||
	    !j->job.headers_json || (f[9].type == PT_REDIS_STRING && f[9].len && !j->job.meta_json)) {
		rjob_free(j);
		return NULL;
	}
	return j;
}

static void on_fetch(const struct pt_redis_reply *r, const char *err, void *ud)
{
	struct rworker *rw = ud;
	struct rstore *s = rw->s;
	static _Atomic int64_t warned;
	size_t got = 0;

	rw->polling = 0;
	if (rw->stopped)
		return;
	if (!r || r->type != PT_REDIS_ARRAY || r->nelem < 1) {
		const char *why = r && r->type == PT_REDIS_ERROR && r->str ? r->str :
		                  err ? err : "unexpected reply to the fetch script";

		if (strstr(why, "NOGROUP"))
			rw->need_group = 1;   /* the stream or group was deleted: make it again */
		warn_every(s, &warned, "cannot fetch jobs (%s): trying again", why);
		rw->kick = 0;
		arm(rw, rw->need_group ? POLL_MS : 1000);
		return;
	}
	rw->need_group = 0;
	if (r->elem[0].type == PT_REDIS_STRING && r->elem[0].len && r->elem[0].len < SID_MAX) {
		memcpy(rw->cursor, r->elem[0].str, r->elem[0].len);
		rw->cursor[r->elem[0].len] = '\0';
	}
	for (size_t i = 1; i < r->nelem; i++) {
		struct rjob *j = job_from(rw, &r->elem[i]);

		if (!j) {
			/* left pending: claimed again after claim_idle_ms */
			warn_every(s, &warned, "a fetched job is malformed or memory ran out");
			continue;
		}
		got++;
		j->next = rw->jobs;
		if (rw->jobs)
			rw->jobs->prev = j;
		rw->jobs = j;
		rw->inflight++;
		if (&wh_metrics_lag && j->job.attempt == 1)
			wh_metrics_lag(j->job.source, (double)(now_ms() - j->job.received_at_ms) / 1000.0);
		s->job_fn(rw->w, &j->job, s->ud);
	}
	arm(rw, rw->kick || (got == BATCH && rw->inflight < s->per_worker) ? 0 : POLL_MS);
	rw->kick = 0;
}

static void on_beat(const struct pt_redis_reply *r, const char *err, void *ud)
{
	struct rworker *rw = ud;
	static _Atomic int64_t warned;

	rw->beating--;
	if (!rw->stopped && (!r || r->type != PT_REDIS_INT))
		warn_every(rw->s, &warned, "cannot keep running jobs claimed (%s): another instance "
		           "may take them over after claim_idle_ms",
		           r && r->type == PT_REDIS_ERROR ? r->str : err ? err : "bad reply");
}

/* Resets the idle time of the entries RW is running, BEAT_MAX a call. */
#define BEAT_MAX 256
static void beat(struct rworker *rw)
{
	struct rstore *s = rw->s;
	const char *argv[3 + BEAT_MAX];
	struct rjob *j = rw->jobs;

	argv[0] = s->k_stream;
	argv[1] = GROUP;
	argv[2] = rw->consumer;
	while (j) {
		int argc = 3;

		for (; j && argc < 3 + BEAT_MAX; j = j->next)
			argv[argc++] = j->sid;
		if (s->api->redis_eval(rw->w, wh_redis_beat_lua, 1, argc, argv, NULL, on_beat,
		                       rw) == 0)
			rw->beating++;
	}
}

static void tick(void *ud)
{
	struct rworker *rw = ud;
	struct rstore *s = rw->s;
	int64_t t = mono_ms();
	unsigned free_slots = s->per_worker > rw->inflight ? s->per_worker - rw->inflight : 0;
	char count[16];
	const char *argv[11];
	int claim = 0, maint = 0;

	if (rw->stopped || rw->polling)
		return;
	if (t >= rw->next_beat) {
		rw->next_beat = t + (s->claim_idle_ms / 3 > 50 ? s->claim_idle_ms / 3 : 50);
		if (!rw->beating)
			beat(rw);
	}
	if (free_slots == 0) {
		arm(rw, POLL_MS);   /* finish kicks earlier */
		return;
	}
	if (t >= rw->next_claim) {
		claim = 1;
		rw->next_claim = t + (s->claim_idle_ms / 4 > 1000 ? 1000 : s->claim_idle_ms / 4 + 1);
	}
	if (rw == &s->ws[0] && t >= rw->next_maint) {
		maint = 1;
		rw->next_maint = t + MAINT_MS;
	}
	snprintf(count, sizeof(count), "%u", free_slots < BATCH ? free_slots : BATCH);
	argv[0] = s->k_stream;
	argv[1] = s->k_retry;
	argv[2] = s->prefix;
	argv[3] = GROUP;
	argv[4] = rw->consumer;
	argv[5] = count;
	argv[6] = s->claim_idle;
	argv[7] = claim ? rw->cursor : "";
	argv[8] = rw->need_group ? "1" : "0";
	argv[9] = s->retention;
	argv[10] = maint ? "1" : "0";
	if (s->api->redis_eval(rw->w, wh_redis_fetch_lua, 2, 11, argv, NULL, on_fetch, rw) != 0) {
		static _Atomic int64_t warned;

		warn_every(s, &warned, "cannot send the fetch to Redis: is redis = { ... } configured?");
		arm(rw, 1000);
		return;
	}
	rw->polling = 1;
}

/* On W's thread: its timer, its first poll. */
static void start_on(void *ud)
{
	struct rworker *rw = ud;

	if (rw->stopped || rw->timer)
		return;
	if (!(rw->timer = rw->s->api->timer_new(rw->w, tick, rw))) {
		rw->s->api->log(NULL, PT_LOG_ERROR, "webhook: redis store: no timer on worker %u: "
		                "it will run no jobs", rw->s->api->worker_id(rw->w));
		return;
	}
	arm(rw, 0);
}

static int rs_start(struct wh_store *base, pt_worker *const *workers, unsigned n,
                    unsigned per_worker, wh_job_fn job_fn, void *ud)
{
	struct rstore *s = (struct rstore *)base;
	char host[64] = "host";

	if (s->ws || !n || !job_fn)
		return PT_EINVAL;
	if (!s->api->redis_configured())
		s->api->log(NULL, PT_LOG_ERROR, "webhook: store = \"redis\" needs the config's "
		            "redis = { host = ..., port = ... }: events will be answered 503");
	if (!(s->ws = calloc(n, sizeof(*s->ws))))
		return PT_ENOMEM;
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	s->n = n;
	s->per_worker = per_worker ? per_worker : (s->per_worker ? s->per_worker : 64);
	s->job_fn = job_fn;
	s->ud = ud;
	for (unsigned i = 0; i < n; i++) {
		struct rworker *rw = &s->ws[i];

		rw->s = s;
		rw->w = workers[i];
		rw->need_group = 1;
		strcpy(rw->cursor, "0-0");
		snprintf(rw->consumer, sizeof(rw->consumer), "%s:%ld:%u", host, (long)getpid(),
		         s->api->worker_id(workers[i]));
	}
	for (unsigned i = 0; i < n; i++)
		if (s->api->post(s->ws[i].w, start_on, &s->ws[i]) != 0)
			s->api->log(NULL, PT_LOG_ERROR, "webhook: redis store: cannot start worker %u",
			            i);
	return 0;
}

/* ---- finish ----------------------------------------------------------------- */

static void on_finish(const struct pt_redis_reply *r, const char *err, void *ud)
{
	struct rstore *s = ud;
	static _Atomic int64_t warned;

	if (!r || (r->type != PT_REDIS_INT))
		warn_every(s, &warned, "cannot record a job's outcome (%s): it stays pending and "
		           "runs again after claim_idle_ms",
		           r && r->type == PT_REDIS_ERROR ? r->str : err ? err : "bad reply");
}

/* On the job's worker: out of the in-flight list, then the script. */
static void finish_on(void *ud)
{
	struct rjob *j = ud;
	struct rworker *rw = j->rw;
	struct rstore *s = rw->s;
	static const char *const names[] = { "", "done", "retry", "dead" };
	char delay[24], attempt[16], status[16];
	const char *argv[14];

	if (j->prev)
		j->prev->next = j->next;
	else
		rw->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	rw->inflight--;
	if (!rw->stopped) {
		snprintf(delay, sizeof(delay), "%lld", (long long)j->delay_ms);
		snprintf(attempt, sizeof(attempt), "%d", j->job.attempt);
		snprintf(status, sizeof(status), "%d", j->status);
		argv[0] = s->k_stream;
		argv[1] = s->k_retry;
		argv[2] = s->k_dead;
		argv[3] = s->prefix;
		argv[4] = GROUP;
		argv[5] = j->sid;
		argv[6] = j->job.key;
		argv[7] = names[j->outcome];
		argv[8] = delay;
		argv[9] = attempt;
		argv[10] = status;
		argv[11] = j->error ? j->error : "";
		argv[12] = s->retention;
		argv[13] = rw->consumer;
		if (s->api->redis_eval(rw->w, wh_redis_finish_lua, 3, 14, argv, NULL, on_finish, s))
			on_finish(NULL, "cannot send", s);
		poll_soon(rw);   /* a slot is free */
	}
	rjob_free(j);
}

static void rs_finish(struct wh_store *base, struct wh_job *job, int outcome,
                      int64_t next_at_ms, int status, const char *error)
{
	struct rjob *j = (struct rjob *)job;
	int64_t delay = next_at_ms - now_ms();

	(void)base;
	j->outcome = outcome == WH_DONE || outcome == WH_RETRY ? outcome : WH_DEAD;
	j->delay_ms = outcome == WH_RETRY && delay > 0 ? delay : 0;
	j->status = status;
	/* an error is kept short: it is stored with every attempt */
	j->error = error ? strndup(error, 1024) : NULL;
	if (j->rw->s->api->post(j->rw->w, finish_on, j) != 0) {
		/* the worker is gone: the entry stays pending, claimed later */
		rjob_free(j);
	}
}

/* ---- open, stop, close ------------------------------------------------------ */

/* W's thread, as it stops: no more polls, its timer freed while its loop
 * still exists. Jobs still running stay pending in Redis. */
static void rs_worker_stop(struct wh_store *base, pt_worker *w)
{
	struct rworker *rw = rworker_of((struct rstore *)base, w);

	if (!rw)
		return;
	rw->stopped = 1;
	if (rw->timer) {
		rw->s->api->timer_free(rw->timer);
		rw->timer = NULL;
	}
}

static void rs_close(struct wh_store *base)
{
	struct rstore *s = (struct rstore *)base;

	if (!s)
		return;
	for (unsigned i = 0; s->ws && i < s->n; i++) {
		struct rworker *rw = &s->ws[i];

		/* a timer not freed by worker_stop belongs to a loop that may be
		 * gone: left alone (its memory is lost at exit) */
		while (rw->jobs) {
			struct rjob *j = rw->jobs;

			rw->jobs = j->next;
			rjob_free(j);
		}
	}
	free(s->ws);
	free(s->prefix);
	free(s->k_stream);
	free(s->k_retry);
	free(s->k_dead);
	free(s->k_seq);
	free(s->k_jobs);
	free(s);
}

static const struct wh_store_ops ops = {
	.start = rs_start,
	.put = rs_put,
	.finish = rs_finish,
	.close = rs_close,
	.worker_stop = rs_worker_stop,
};

int wh_store_redis_open(const struct pt_api *api, const struct wh_opts *o,
                        struct wh_store **out, char *err, size_t errlen)
{
	const char *prefix = o->redis_prefix ? o->redis_prefix : "portico:webhook:";
	int64_t ttl = o->dedup_ttl_s > 0 ? o->dedup_ttl_s : 7 * 86400;
	int64_t idle = o->claim_idle_ms > 0 ? o->claim_idle_ms : 60000;
	int64_t ret = o->retention_s > 0 ? o->retention_s : 30 * 86400;
	struct rstore *s;

	if (!*prefix || strlen(prefix) > 200) {
		snprintf(err, errlen, "webhook: redis_prefix must be a string of 1 to 200 bytes");
		return -1;
	}
	if (idle < 100 || idle > 86400000) {
		snprintf(err, errlen, "webhook: claim_idle_ms must be between 100 and 86400000");
		return -1;
	}
	if (!(s = calloc(1, sizeof(*s))))
		goto oom;
	s->base.ops = &ops;
	s->api = api;
	s->claim_idle_ms = idle;
	s->per_worker = o->per_worker;
	snprintf(s->retention, sizeof(s->retention), "%lld", (long long)ret);
	snprintf(s->claim_idle, sizeof(s->claim_idle), "%lld", (long long)idle);
	snprintf(s->dedup_ttl, sizeof(s->dedup_ttl), "%lld", (long long)ttl);
	s->prefix = strdup(prefix);
	s->k_stream = cat(prefix, "stream");
	s->k_retry = cat(prefix, "retry");
	s->k_dead = cat(prefix, "dead");
	s->k_seq = cat(prefix, "seq");
	s->k_jobs = cat(prefix, "jobs");
	if (!s->prefix || !s->k_stream || !s->k_retry || !s->k_dead || !s->k_seq || !s->k_jobs) {
		rs_close(&s->base);
		goto oom;
	}
	*out = &s->base;
	return 0;
oom:
	snprintf(err, errlen, "webhook: redis store: out of memory");
	return -1;
}
