/*
 * wh_store_test_util.h - a fake core for the webhook store's tests
 * (test_wh_store.c, test_wh_cli.c): post() queues each call for the test
 * thread to run, as a worker would; a temporary store; a reader
 * connection of the test's own.
 */
#ifndef WH_STORE_TEST_UTIL_H
#define WH_STORE_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "store_sqlite.h"

struct pt_worker {
	int idx;
};

/* each test uses some of these helpers */
#pragma GCC diagnostic ignored "-Wunused-function"

/* ---- the fake core --------------------------------------------------------- */

struct task {
	struct task *next;
	pt_worker *w;
	pt_task_fn fn;
	void *ud;
};

static pthread_mutex_t tmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tcv = PTHREAD_COND_INITIALIZER;
static struct task *thead, **ttail = &thead;

static int fail_posts;    /* the next N posts fail (under tmu) */

static int fake_post(pt_worker *w, pt_task_fn fn, void *ud)
{
	struct task *t;

	pthread_mutex_lock(&tmu);
	if (fail_posts > 0) {
		fail_posts--;
		pthread_mutex_unlock(&tmu);
		return PT_EIO;
	}
	pthread_mutex_unlock(&tmu);
	t = malloc(sizeof(*t));
	if (!t)
		return PT_ENOMEM;
	t->next = NULL;
	t->w = w;
	t->fn = fn;
	t->ud = ud;
	pthread_mutex_lock(&tmu);
	*ttail = t;
	ttail = &t->next;
	pthread_cond_signal(&tcv);
	pthread_mutex_unlock(&tmu);
	return 0;
}

/* WH_TEST_LOG=1 shows the store's log lines */
static void fake_log(pt_plugin_ctx *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	if (!getenv("WH_TEST_LOG"))
		return;
	va_start(ap, fmt);
	fprintf(stderr, "log[%d]: ", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static struct pt_api api = { .post = fake_post, .log = fake_log };

/* Runs the posted tasks that arrive within MS milliseconds; stops early
 * when DONE() holds. Returns DONE() (or 1 without one). */
static int run_tasks_until(int (*done)(void), int ms)
{
	struct timespec end;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		struct task *t;

		if (done && done())
			return 1;
		pthread_mutex_lock(&tmu);
		while (!thead) {
			if (pthread_cond_timedwait(&tcv, &tmu, &end) != 0)
				break;
		}
		t = thead;
		if (t) {
			thead = t->next;
			if (!thead)
				ttail = &thead;
		}
		pthread_mutex_unlock(&tmu);
		if (!t)
			return done ? done() : 1;
		t->fn(t->ud);
		free(t);
	}
}

static void run_tasks(int ms)
{
	run_tasks_until(NULL, ms);
}

/* ---- what the store calls back ----------------------------------------------- */

struct put_res {
	int done, rc;
	char err[200];
};

static void put_cb(int rc, const char *err, void *ud)
{
	struct put_res *r = ud;

	r->done = 1;
	r->rc = rc;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
}

#define MAXGOT 256
static struct got {
	pt_worker *w;
	struct wh_job *job;
} got[MAXGOT];
static int ngot, want_got;

static void job_cb(pt_worker *w, struct wh_job *job, void *ud)
{
	(void)ud;
	assert_true(ngot < MAXGOT);
	got[ngot].w = w;
	got[ngot].job = job;
	ngot++;
}

static int got_enough(void)
{
	return ngot >= want_got;
}

static int wait_jobs(int n, int ms)
{
	want_got = n;
	run_tasks_until(got_enough, ms);
	return ngot;
}

/* lag reports arrive on the writer thread */
static pthread_mutex_t lag_mu = PTHREAD_MUTEX_INITIALIZER;
static char lag_source[64];
static double lag_seconds = -1;
static int lag_calls;

void wh_metrics_lag(const char *source, double seconds)
{
	pthread_mutex_lock(&lag_mu);
	snprintf(lag_source, sizeof(lag_source), "%s", source);
	lag_seconds = seconds;
	lag_calls++;
	pthread_mutex_unlock(&lag_mu);
}

struct wh_opts wh_opts_main;

/* ---- fixtures ---------------------------------------------------------------- */

static char dir[64], dbpath[128];
static struct pt_worker wk[4] = { { 0 }, { 1 }, { 2 }, { 3 } };
static pt_worker *const wks[4] = { &wk[0], &wk[1], &wk[2], &wk[3] };

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/whstore-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/var/sub/webhooks.db", dir);
	ngot = 0;
	lag_calls = 0;
	lag_seconds = -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	run_tasks(0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct wh_store *open_store_o(struct wh_opts *o)
{
	struct wh_store *s = NULL;
	char err[256];

	o->path = dbpath;
	if (wh_store_sqlite_open(&api, o, &s, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	return s;
}

static struct wh_store *open_store(void)
{
	struct wh_opts o = { .durability = WH_DUR_FULL };

	return open_store_o(&o);
}

static void sync_writer(struct wh_store *s);

/* Jobs held by the test and tasks not run yet go before the store: the
 * writer is flushed and held (no poll posts a job after the drain). */
static void close_store(struct wh_store *s)
{
	sync_writer(s);
	wh_sq_pause(s, 1);
	sync_writer(s);
	run_tasks(0);
	s->ops->close(s);
	run_tasks(0);
	for (int i = 0; i < ngot; i++)
		if (got[i].job)
			wh_sq_job_free(got[i].job);
	ngot = 0;
}

static struct wh_event_in event(const char *source, const char *id, const char *body)
{
	struct wh_event_in ev = {
		.kind = WH_INBOUND, .source = source, .event_id = id, .type = "t.x",
		.body = body, .body_len = strlen(body),
		.headers_json = "{\"content-type\":\"application/json\"}",
		.received_at_ms = wh_sq_now_ms(), .max_attempts = 3, .base = 1, .cap = 10,
	};
	return ev;
}

static int put_wait(struct wh_store *s, const struct wh_event_in *ev, struct put_res *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = s->ops->put(s, wks[0], ev, put_cb, r);
	if (rc != 0)
		return rc;
	for (int i = 0; i < 400 && !r->done; i++)
		run_tasks(50);
	assert_true(r->done);
	return r->rc;
}

static int put1(struct wh_store *s, const char *source, const char *id, const char *body)
{
	struct wh_event_in ev = event(source, id, body);
	struct put_res r;

	return put_wait(s, &ev, &r);
}

/* A reader connection of the test's own (WAL: beside the writer). */
static long long q_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void q_exec(const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                                 NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void sync_writer(struct wh_store *s)
{
	char err[100];

	assert_int_equal(wh_sq_exec(s, "SELECT 1", err, sizeof(err)), 0);
}

static struct wh_store_stats stats(struct wh_store *s)
{
	struct wh_store_stats st;

	wh_store_sqlite_stats(s, &st);
	return st;
}

#endif
