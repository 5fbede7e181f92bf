/*
 * test_wh_store_redis.c - the webhook plugin's Redis store
 * (plugins/webhook/store_redis.c) against a real redis-server, through a
 * small pt_api of its own: "workers" are fake, all on one event_base, each
 * with its own core Redis client (core/upstream/redis.c, as the daemon's
 * redis_eval uses). Two stores on one prefix are two instances sharing an
 * inbox. The server is ours (free loopback port, killed by its PID, dies
 * with us); without /usr/bin/redis-server the tests are skipped.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "redis.h"
#include "wh.h"

#ifndef REDIS_SERVER
#define REDIS_SERVER "/usr/bin/redis-server"
#endif

/* ---------------------------------------------------------------- fake API */

struct pt_worker {
	unsigned id;
	struct redis_client *c;
	const char *srcs[8];
	struct redis_script scripts[8];
	unsigned ns;
	int port;
};

struct pt_timer {
	struct event *ev;
	pt_task_fn fn;
	void *ud;
};

static struct event_base *base;
static int srv_port;
static pid_t srv_pid;
static char tmpdir[64] = "/tmp/wh_redis_XXXXXX";
static int have_redis;

static unsigned f_worker_id(pt_worker *w) { return w->id; }
static int f_configured(void) { return 1; }
static const char *f_strerror(int e) { return e == PT_ENOENT ? "not configured" : "error"; }

static void f_log(pt_plugin_ctx *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	if (!getenv("TEST_LOG_DEBUG") && level > PT_LOG_ERROR)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

struct call {
	pt_redis_fn fn;
	void *ud;
};

static void on_eval(const struct redis_reply *r, const char *err, void *ud)
{
	struct call c = *(struct call *)ud;

	free(ud);
	c.fn((const struct pt_redis_reply *)(const void *)r, err, c.ud);
}

static int f_eval(pt_worker *w, const char *script, int nkeys, int argc, const char *const *argv,
                  const size_t *lens, pt_redis_fn fn, void *ud)
{
	struct redis_script *s = NULL;
	struct call *c;

	if (!w->c) {
		struct redis_opts o = { .host = "127.0.0.1", .port = w->port, .timeout_ms = 2000,
		                        .connect_timeout_ms = 500 };

		w->c = redis_client_new(base, &o);
	}
	for (unsigned i = 0; i < w->ns; i++)
		if (w->srcs[i] == script)
			s = &w->scripts[i];
	if (!s) {
		w->srcs[w->ns] = script;
		s = &w->scripts[w->ns++];
		s->src = script;
		s->sha[0] = '\0';
	}
	c = malloc(sizeof(*c));
	*c = (struct call){ fn, ud };
	if (redis_client_eval(w->c, s, nkeys, argc, argv, lens, on_eval, c) != 0) {
		free(c);
		return PT_EINVAL;
	}
	return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	pt_timer *t = arg;

	(void)fd;
	(void)what;
	t->fn(t->ud);
}

static pt_timer *f_timer_new(pt_worker *w, pt_task_fn fn, void *ud)
{
	pt_timer *t = calloc(1, sizeof(*t));

	(void)w;
	t->fn = fn;
	t->ud = ud;
	t->ev = evtimer_new(base, on_timer, t);
	return t;
}

static int f_timer_start(pt_timer *t, uint64_t ms, int repeat)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	(void)repeat;
	return evtimer_add(t->ev, &tv);
}

static void f_timer_stop(pt_timer *t) { evtimer_del(t->ev); }

static void f_timer_free(pt_timer *t)
{
	event_free(t->ev);
	free(t);
}

struct posted {
	pt_task_fn fn;
	void *ud;
};

static void on_posted(evutil_socket_t fd, short what, void *arg)
{
	struct posted p = *(struct posted *)arg;

	(void)fd;
	(void)what;
	free(arg);
	p.fn(p.ud);
}

static int f_post(pt_worker *w, pt_task_fn fn, void *ud)
{
	struct posted *p = malloc(sizeof(*p));
	struct timeval zero = { 0, 0 };

	(void)w;
	*p = (struct posted){ fn, ud };
	return event_base_once(base, -1, EV_TIMEOUT, on_posted, p, &zero);
}

static struct pt_api api = {
	.log = f_log,
	.strerror = f_strerror,
	.worker_id = f_worker_id,
	.timer_new = f_timer_new,
	.timer_start = f_timer_start,
	.timer_stop = f_timer_stop,
	.timer_free = f_timer_free,
	.post = f_post,
	.redis_configured = f_configured,
	.redis_eval = f_eval,
};

/* ---------------------------------------------------------------- servers */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &al);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static pid_t redis_start(int port)
{
	char p[16];
	pid_t pid;

	snprintf(p, sizeof(p), "%d", port);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(REDIS_SERVER, "redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
		      "--appendonly", "no", "--dir", tmpdir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250; i++) {
		redisContext *c = redisConnect("127.0.0.1", port);
		int ok = c && !c->err;

		redisFree(c);
		if (ok)
			return pid;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* ---------------------------------------------------------------- harness */

static redisContext *view;    /* the test's own connection to the server */

static long long rint_(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;
	long long v;

	va_start(ap, fmt);
	r = redisvCommand(view, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	if (r->type == REDIS_REPLY_ARRAY && r->elements)   /* XPENDING's summary: its count */
		v = r->element[0]->type == REDIS_REPLY_INTEGER ? r->element[0]->integer : -1;
	else
		v = r->type == REDIS_REPLY_INTEGER ? r->integer :
		    r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
	freeReplyObject(r);
	return v;
}

static char *rstr(const char *fmt, ...)
{
	static char buf[256];
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(view, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	snprintf(buf, sizeof(buf), "%s", r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
	freeReplyObject(r);
	return buf;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Run the loop until *FLAG >= WANT or SECS pass. */
static void run_until(const int *flag, int want, double secs)
{
	double end = mono() + secs;
	struct timeval tick = { 0, 10000 };

	while (*flag < want && mono() < end) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
}

static void run_for(double secs)
{
	int never = 0;

	run_until(&never, 1, secs);
}

static unsigned per_worker = 8;   /* jobs in flight per worker */

/* An instance: a store with its workers. */
struct inst {
	struct wh_store *s;
	pt_worker w[2];
	pt_worker *wp[2];
	unsigned n;
};

/* What handlers saw: per job key, how often; the jobs kept unfinished. */
#define MAXJ 512
struct seen {
	struct wh_job *jobs[MAXJ];
	struct inst *by[MAXJ];
	int attempt[MAXJ];
	int count;
	int finish_with;       /* 0: keep the job; else the outcome */
	int64_t retry_in_ms;
} seen;

static void on_job(pt_worker *w, struct wh_job *job, void *ud)
{
	struct inst *in = ud;

	(void)w;
	if (seen.count < MAXJ) {
		seen.jobs[seen.count] = job;
		seen.by[seen.count] = in;
		seen.attempt[seen.count] = job->attempt;
	}
	seen.count++;
	if (seen.finish_with)
		in->s->ops->finish(in->s, job, seen.finish_with, wall_ms() + seen.retry_in_ms,
		                   seen.finish_with == WH_DONE ? 200 : 500,
		                   seen.finish_with == WH_DONE ? NULL : "handler failed");
}

static void inst_open(struct inst *in, unsigned first_id, unsigned n, int port, int64_t claim_ms)
{
	struct wh_opts o = { .store = "redis", .redis_prefix = "t:", .claim_idle_ms = claim_ms,
	                     .per_worker = per_worker };
	char err[256];

	memset(in, 0, sizeof(*in));
	assert_int_equal(wh_store_redis_open(&api, &o, &in->s, err, sizeof(err)), 0);
	in->n = n;
	for (unsigned i = 0; i < n; i++) {
		in->w[i].id = first_id + i;
		in->w[i].port = port;
		in->wp[i] = &in->w[i];
	}
}

static void inst_start(struct inst *in)
{
	assert_int_equal(in->s->ops->start(in->s, in->wp, in->n, per_worker, on_job, in), 0);
}

static void inst_stop(struct inst *in)
{
	for (unsigned i = 0; i < in->n; i++) {
		if (in->s->ops->worker_stop)
			in->s->ops->worker_stop(in->s, &in->w[i]);
	}
	run_for(0.05);
	for (unsigned i = 0; i < in->n; i++) {
		redis_client_free(in->w[i].c);
		in->w[i].c = NULL;
	}
	in->s->ops->close(in->s);
	in->s = NULL;
}

struct put_res {
	int done;
	int rc;
	char err[256];
};

static void on_put(int rc, const char *err, void *ud)
{
	struct put_res *p = ud;

	p->done++;
	p->rc = rc;
	snprintf(p->err, sizeof(p->err), "%s", err ? err : "");
}

static int put(struct inst *in, const char *id, const void *body, size_t len)
{
	struct wh_event_in ev = {
		.kind = WH_INBOUND, .source = "stripe", .event_id = id, .type = "payment.done",
		.body = body, .body_len = len, .headers_json = "{\"x\":\"1\"}",
		.received_at_ms = wall_ms(), .max_attempts = 3, .base = 0.1, .cap = 1,
	};
	struct put_res p = { 0 };

	assert_int_equal(in->s->ops->put(in->s, &in->w[0], &ev, on_put, &p), 0);
	run_until(&p.done, 1, 5);
	assert_int_equal(p.done, 1);
	return p.rc;
}

static int setup(void **st)
{
	(void)st;
	if (!have_redis)
		return 0;
	base = event_base_new();
	view = redisConnect("127.0.0.1", srv_port);
	assert_true(view && !view->err);
	rint_("FLUSHALL");
	memset(&seen, 0, sizeof(seen));
	per_worker = 8;
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	if (!have_redis)
		return 0;
	redisFree(view);
	event_base_free(base);
	return 0;
}

#define NEED_REDIS() do { \
	if (!have_redis) { \
		print_message("redis-server not found: test skipped\n"); \
		skip(); \
	} \
} while (0)

/* ---------------------------------------------------------------- tests */

static void test_wh_redis_put_then_duplicate_then_done(void **st)
{
	static const char body[] = "{\"id\":\"evt_1\"}\0binary\xff";
	struct inst a;

	(void)st;
	NEED_REDIS();
	inst_open(&a, 0, 1, srv_port, 60000);
	assert_int_equal(put(&a, "evt_1", body, sizeof(body)), WH_STORED);
	assert_int_equal(put(&a, "evt_1", "other", 5), WH_DUPLICATE);
	assert_int_equal(rint_("XLEN t:stream"), 1);
	assert_true(rint_("TTL t:dedup:in:stripe:evt_1") > 6 * 86400);
	seen.finish_with = 0;
	inst_start(&a);
	run_until(&seen.count, 1, 5);
	assert_int_equal(seen.count, 1);
	{
		struct wh_job *j = seen.jobs[0];

		assert_int_equal(j->body_len, sizeof(body));
		assert_memory_equal(j->body, body, sizeof(body));
		assert_string_equal(j->source, "stripe");
		assert_string_equal(j->event_id, "evt_1");
		assert_string_equal(j->type, "payment.done");
		assert_string_equal(j->headers_json, "{\"x\":\"1\"}");
		assert_null(j->meta_json);
		assert_int_equal(j->attempt, 1);
		assert_int_equal(j->max_attempts, 3);
		assert_int_equal(j->kind, WH_INBOUND);
		assert_string_equal(rstr("HGET t:job:%s state", j->key), "processing");
		a.s->ops->finish(a.s, j, WH_DONE, 0, 200, NULL);
	}
	run_for(0.3);
	assert_int_equal(seen.count, 1);
	assert_string_equal(rstr("HGET t:job:1 state"), "done");
	assert_int_equal(rint_("XLEN t:stream"), 0);
	assert_true(rint_("TTL t:job:1") > 29 * 86400);
	assert_int_equal(rint_("LLEN t:attempts:1"), 1);
	inst_stop(&a);
}

/* Two instances, events put alternately to both: each runs exactly once. */
static void test_wh_redis_two_instances_each_event_once(void **st)
{
	struct inst a, b;
	char id[32];
	int ran_a = 0, ran_b = 0;

	(void)st;
	NEED_REDIS();
	inst_open(&a, 0, 2, srv_port, 60000);
	/* distinct consumers: both have this pid, so b's worker ids differ */
	inst_open(&b, 2, 2, srv_port, 60000);
	seen.finish_with = WH_DONE;
	inst_start(&a);
	b.s->ops->start(b.s, b.wp, 2, 8, on_job, &b);
	for (int i = 0; i < 60; i++) {
		snprintf(id, sizeof(id), "e%d", i);
		assert_int_equal(put(i % 2 ? &b : &a, id, id, strlen(id)), WH_STORED);
		if (i % 7 == 0)
			assert_int_equal(put(i % 2 ? &a : &b, id, id, strlen(id)), WH_DUPLICATE);
	}
	run_until(&seen.count, 60, 10);
	run_for(0.5);
	assert_int_equal(seen.count, 60);
	for (int i = 0; i < 60 && i < MAXJ; i++)
		*(seen.by[i] == &a ? &ran_a : &ran_b) += 1;
	assert_int_equal(rint_("XLEN t:stream"), 0);
	assert_int_equal(rint_("ZCARD t:jobs"), 60);
	inst_stop(&a);
	inst_stop(&b);
	print_message("ran on a: %d, on b: %d\n", ran_a, ran_b);
}

/* An instance holding a job dies (stops without finishing): the other
 * claims it after claim_idle_ms; the lost run counts as an attempt. */
static void test_wh_redis_dead_instance_jobs_claimed(void **st)
{
	struct inst a, b;

	(void)st;
	NEED_REDIS();
	inst_open(&a, 0, 1, srv_port, 300);
	seen.finish_with = 0;
	inst_start(&a);
	assert_int_equal(put(&a, "c1", "x", 1), WH_STORED);
	run_until(&seen.count, 1, 5);
	assert_int_equal(seen.count, 1);
	/* a keeps it past claim_idle_ms while alive: its heartbeat holds it */
	run_for(0.8);
	assert_int_equal(seen.count, 1);
	/* "kill" a: its worker stops, the job never finishes */
	for (unsigned i = 0; i < a.n; i++)
		a.s->ops->worker_stop(a.s, &a.w[i]);
	redis_client_free(a.w[0].c);
	a.w[0].c = NULL;

	inst_open(&b, 5, 1, srv_port, 300);
	seen.finish_with = WH_DONE;
	b.s->ops->start(b.s, b.wp, 1, 8, on_job, &b);
	run_until(&seen.count, 2, 5);
	assert_int_equal(seen.count, 2);
	assert_ptr_equal(seen.by[1], &b);
	assert_int_equal(seen.attempt[1], 2);
	run_for(0.3);
	assert_string_equal(rstr("HGET t:job:1 state"), "done");
	assert_int_equal(rint_("LLEN t:attempts:1"), 2);
	assert_int_equal(rint_("XPENDING t:stream portico"), 0);
	/* a's job is freed by close */
	a.s->ops->close(a.s);
	inst_stop(&b);
}

static void test_wh_redis_retry_then_dead(void **st)
{
	struct inst a;

	(void)st;
	NEED_REDIS();
	inst_open(&a, 0, 1, srv_port, 60000);
	seen.finish_with = WH_RETRY;
	seen.retry_in_ms = 200;
	inst_start(&a);
	assert_int_equal(put(&a, "r1", "x", 1), WH_STORED);
	run_until(&seen.count, 1, 5);
	run_for(0.1);
	assert_string_equal(rstr("HGET t:job:1 state"), "retrying");
	assert_int_equal(rint_("ZCARD t:retry"), 1);
	run_until(&seen.count, 2, 5);
	assert_int_equal(seen.count, 2);
	seen.finish_with = WH_DEAD;
	run_until(&seen.count, 3, 5);
	run_for(0.2);
	assert_int_equal(seen.count, 3);
	assert_string_equal(rstr("HGET t:job:1 state"), "dead");
	assert_int_equal(rint_("HGET t:job:1 attempts"), 3);
	assert_int_equal(rint_("ZCARD t:dead"), 1);
	assert_int_equal(rint_("ZCARD t:retry"), 0);
	assert_int_equal(rint_("LLEN t:attempts:1"), 3);
	inst_stop(&a);
}

/* Nothing listens: put answers WH_EIO through the callback (503 then). */
static void test_wh_redis_down_is_eio(void **st)
{
	struct inst a;
	struct wh_event_in ev = { .kind = WH_INBOUND, .source = "s", .event_id = "1",
	                          .body = "x", .body_len = 1, .max_attempts = 1 };
	struct put_res p = { 0 };

	(void)st;
	NEED_REDIS();
	inst_open(&a, 0, 1, free_port(), 60000);
	assert_int_equal(a.s->ops->put(a.s, &a.w[0], &ev, on_put, &p), 0);
	run_until(&p.done, 1, 5);
	assert_int_equal(p.done, 1);
	assert_int_equal(p.rc, WH_EIO);
	assert_non_null(strstr(p.err, "redis"));
	inst_stop(&a);
}

/* A megabyte of every byte value, and an event id full of separators. */
static void test_wh_redis_big_binary_body_and_odd_id(void **st)
{
	size_t n = 1 << 20;
	unsigned char *body = malloc(n);
	struct inst a;

	(void)st;
	NEED_REDIS();
	for (size_t i = 0; i < n; i++)
		body[i] = (unsigned char)(i * 7);
	inst_open(&a, 0, 1, srv_port, 60000);
	assert_int_equal(put(&a, "a:b:c\r\n*3 \"'", body, n), WH_STORED);
	assert_int_equal(put(&a, "a:b:c\r\n*3 \"'", body, n), WH_DUPLICATE);
	seen.finish_with = 0;
	inst_start(&a);
	run_until(&seen.count, 1, 5);
	assert_int_equal(seen.count, 1);
	assert_int_equal(seen.jobs[0]->body_len, n);
	assert_memory_equal(seen.jobs[0]->body, body, n);
	a.s->ops->finish(a.s, seen.jobs[0], WH_DONE, 0, 200, NULL);
	run_for(0.2);
	free(body);
	inst_stop(&a);
}

/* More jobs in flight than one heartbeat carries: a live instance keeps
 * every one of them; the other instance claims none. */
static void test_wh_redis_live_instance_keeps_many_jobs(void **st)
{
	struct inst a, b;
	char id[32];

	(void)st;
	NEED_REDIS();
	per_worker = 300;
	inst_open(&a, 0, 1, srv_port, 300);
	seen.finish_with = 0;
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		assert_int_equal(put(&a, id, "x", 1), WH_STORED);
	}
	inst_start(&a);
	run_until(&seen.count, 300, 10);
	assert_int_equal(seen.count, 300);
	inst_open(&b, 1, 1, srv_port, 300);
	b.s->ops->start(b.s, b.wp, 1, 8, on_job, &b);
	run_for(1.5);   /* five times claim_idle */
	assert_int_equal(seen.count, 300);
	for (int i = 0; i < 300 && i < MAXJ; i++)
		assert_ptr_equal(seen.by[i], &a);
	inst_stop(&b);
	inst_stop(&a);   /* its jobs stay pending; close frees them */
}

/* An outbound delivery keeps its kind, target and meta; its dedup key is
 * apart from an inbound event's with the same source and id. */
static void test_wh_redis_outbound_round_trip(void **st)
{
	static const char meta[] = "{\"secret\":\"whsec_x\",\"scheme\":\"standard\",\"timeout\":10}";
	struct wh_event_in ev = { .kind = WH_OUTBOUND, .source = "https://example.test/hook?a=1",
	                          .event_id = "msg_1", .type = "order.paid", .body = "{}",
	                          .body_len = 2, .headers_json = "{}", .meta_json = meta,
	                          .received_at_ms = 1, .max_attempts = 5, .base = 2, .cap = 60 };
	struct put_res p = { 0 };
	struct inst a;

	(void)st;
	NEED_REDIS();
	inst_open(&a, 0, 1, srv_port, 60000);
	assert_int_equal(a.s->ops->put(a.s, &a.w[0], &ev, on_put, &p), 0);
	run_until(&p.done, 1, 5);
	assert_int_equal(p.rc, WH_STORED);
	ev.kind = WH_INBOUND;
	ev.meta_json = NULL;
	p.done = 0;
	assert_int_equal(a.s->ops->put(a.s, &a.w[0], &ev, on_put, &p), 0);
	run_until(&p.done, 1, 5);
	assert_int_equal(p.rc, WH_STORED);
	seen.finish_with = 0;
	inst_start(&a);
	run_until(&seen.count, 2, 5);
	assert_int_equal(seen.count, 2);
	assert_int_not_equal(seen.jobs[0]->kind, seen.jobs[1]->kind);
	for (int i = 0; i < 2; i++) {
		struct wh_job *j = seen.jobs[i];

		assert_string_equal(j->source, "https://example.test/hook?a=1");
		assert_int_equal(j->max_attempts, 5);
		assert_true(j->base == 2 && j->cap == 60);
		if (j->kind == WH_OUTBOUND)
			assert_string_equal(j->meta_json, meta);
		else
			assert_null(j->meta_json);
		a.s->ops->finish(a.s, j, WH_DONE, 0, 200, NULL);
	}
	run_for(0.2);
	inst_stop(&a);
}

/* Redis restarted empty (FLUSHALL: no group, no stream): the group is made
 * again and new events run. */
static void test_wh_redis_group_lost_is_made_again(void **st)
{
	struct inst a;

	(void)st;
	NEED_REDIS();
	inst_open(&a, 0, 1, srv_port, 60000);
	seen.finish_with = WH_DONE;
	inst_start(&a);
	assert_int_equal(put(&a, "g1", "x", 1), WH_STORED);
	run_until(&seen.count, 1, 5);
	rint_("FLUSHALL");
	run_for(0.3);   /* polls meet NOGROUP */
	assert_int_equal(put(&a, "g2", "x", 1), WH_STORED);
	run_until(&seen.count, 2, 5);
	assert_int_equal(seen.count, 2);
	inst_stop(&a);
}

/* Someone else's data where the store's keys are: errors, never a crash;
 * the store works again once the key is cleared. */
static void test_wh_redis_wrong_type_keys_are_errors(void **st)
{
	struct inst a;
	struct wh_event_in ev = { .kind = WH_INBOUND, .source = "s", .event_id = "w1",
	                          .body = "x", .body_len = 1, .max_attempts = 1 };
	struct put_res p = { 0 };

	(void)st;
	NEED_REDIS();
	rint_("SET t:stream not-a-stream");
	rint_("SET t:retry not-a-zset");
	inst_open(&a, 0, 1, srv_port, 60000);
	seen.finish_with = WH_DONE;
	inst_start(&a);
	assert_int_equal(a.s->ops->put(a.s, &a.w[0], &ev, on_put, &p), 0);
	run_until(&p.done, 1, 5);
	assert_int_equal(p.rc, WH_EIO);
	assert_non_null(strstr(p.err, "WRONGTYPE"));
	run_for(0.3);
	assert_int_equal(seen.count, 0);
	/* the failed put left no dedup key: the sender's retry is stored */
	assert_int_equal(rint_("EXISTS t:dedup:in:s:w1"), 0);
	rint_("DEL t:stream t:retry");
	assert_int_equal(put(&a, "w1", "x", 1), WH_STORED);
	run_until(&seen.count, 1, 5);
	assert_int_equal(seen.count, 1);
	inst_stop(&a);
}

static void test_wh_redis_bad_options(void **st)
{
	struct wh_opts o = { .redis_prefix = "" };
	struct wh_store *s = NULL;
	char err[256];

	(void)st;
	assert_int_equal(wh_store_redis_open(&api, &o, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "redis_prefix"));
	o.redis_prefix = "p:";
	o.claim_idle_ms = 5;
	assert_int_equal(wh_store_redis_open(&api, &o, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "claim_idle_ms"));
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wh_redis_put_then_duplicate_then_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wh_redis_two_instances_each_event_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wh_redis_dead_instance_jobs_claimed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wh_redis_retry_then_dead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wh_redis_down_is_eio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wh_redis_big_binary_body_and_odd_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wh_redis_live_instance_keeps_many_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wh_redis_outbound_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wh_redis_group_lost_is_made_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wh_redis_wrong_type_keys_are_errors, setup, teardown),
		cmocka_unit_test(test_wh_redis_bad_options),
	};
	int rcode;

	signal(SIGPIPE, SIG_IGN);
	log_set_level(getenv("TEST_LOG_DEBUG") ? PT_LOG_DEBUG : PT_LOG_ERROR);
	have_redis = access(REDIS_SERVER, X_OK) == 0 && mkdtemp(tmpdir);
	if (have_redis) {
		srv_port = free_port();
		if ((srv_pid = redis_start(srv_port)) < 0)
			have_redis = 0;
	}
	rcode = cmocka_run_group_tests(tests, NULL, NULL);
	if (srv_pid > 0) {
		kill(srv_pid, SIGTERM);
		waitpid(srv_pid, NULL, 0);
	}
	if (have_redis)
		rmdir(tmpdir);
	return rcode;
}
