/*
 * The webhook plugin's embedded store (plugins/webhook/store_sqlite.c,
 * store_queue.c) and its CLI (cli.c), driven through a fake pt_api whose
 * post() queues each call for the test thread to run, as a worker would.
 */
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

static int fake_post(pt_worker *w, pt_task_fn fn, void *ud)
{
	struct task *t = malloc(sizeof(*t));

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

static void fake_log(pt_plugin_ctx *ctx, int level, const char *fmt, ...)
{
	(void)ctx;
	(void)level;
	(void)fmt;
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
	for (int i = 0; i < 100 && !r->done; i++)
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

/* ---- put ---------------------------------------------------------------------- */

static void test_put_stores_once_then_answers_duplicate(void **state)
{
	struct wh_store *s = open_store();
	struct stat st;
	char sub[160];

	(void)state;
	assert_int_equal(put1(s, "stripe", "evt_1", "{\"a\":1}"), WH_STORED);
	assert_int_equal(put1(s, "stripe", "evt_1", "{\"a\":2}"), WH_DUPLICATE);
	assert_int_equal(put1(s, "github", "evt_1", "{}"), WH_STORED);   /* another source */
	assert_int_equal(q_int("SELECT count(*) FROM jobs"), 2);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE CAST(body AS TEXT) = '{\"a\":1}'"), 1);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'received'"), 2);
	assert_int_equal(q_int("PRAGMA user_version"), WH_SQ_SCHEMA);
	assert_int_equal(stat(dbpath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(sub, sizeof(sub), "%s/var/sub", dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(sub, sizeof(sub), "%s-wal", dbpath);
	assert_int_equal(stat(sub, &st), 0);               /* WAL mode */
	assert_int_equal(stats(s).stored, 2);
	assert_int_equal(stats(s).duplicates, 1);
	close_store(s);
}

#define THREADS 8
#define EACH 13

struct putter {
	struct wh_store *s;
	int t;
	struct put_res res[EACH];
};

static void *putter_main(void *arg)
{
	struct putter *p = arg;

	for (int i = 0; i < EACH; i++) {
		char id[32];
		struct wh_event_in ev;

		snprintf(id, sizeof(id), "evt_%d_%d", p->t, i);
		ev = event("stripe", id, "{\"amount\":100}");
		assert_int_equal(p->s->ops->put(p->s, wks[p->t % 4], &ev, put_cb, &p->res[i]), 0);
	}
	return NULL;
}

static struct putter putters[THREADS];

static int all_answered(void)
{
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < EACH; i++)
			if (!putters[t].res[i].done)
				return 0;
	return 1;
}

static void concurrent_puts(struct wh_store *s)
{
	pthread_t th[THREADS];

	memset(putters, 0, sizeof(putters));
	for (int t = 0; t < THREADS; t++) {
		putters[t].s = s;
		putters[t].t = t;
		assert_int_equal(pthread_create(&th[t], NULL, putter_main, &putters[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
}

static void test_concurrent_puts_share_commits(void **state)
{
	struct wh_store *s = open_store();
	struct wh_store_stats st;

	(void)state;
	/* free running: 104 puts from 8 threads */
	concurrent_puts(s);
	assert_true(run_tasks_until(all_answered, 10000));
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < EACH; i++)
			assert_int_equal(putters[t].res[i].rc, WH_STORED);
	st = stats(s);
	assert_int_equal(st.puts, THREADS * EACH);
	assert_true(st.commits < THREADS * EACH);
	print_message("free running: %d puts in %llu commits\n", THREADS * EACH,
	              (unsigned long long)st.commits);

	/* the writer held while they arrive: one transaction for all */
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < EACH; i++)
			putters[t].res[i].done = 0;
	q_exec("DELETE FROM jobs");
	wh_sq_pause(s, 1);
	concurrent_puts(s);
	assert_int_equal(stats(s).pending, THREADS * EACH);
	wh_sq_pause(s, 0);
	assert_true(run_tasks_until(all_answered, 10000));
	assert_int_equal(stats(s).commits, st.commits + 1);
	assert_int_equal(q_int("SELECT count(*) FROM jobs"), THREADS * EACH);
	close_store(s);
}

static void test_max_pending_answers_busy(void **state)
{
	struct wh_opts o = { .durability = WH_DUR_NORMAL, .max_pending = 5 };
	struct wh_store *s = open_store_o(&o);
	struct put_res r[6];

	(void)state;
	memset(r, 0, sizeof(r));
	wh_sq_pause(s, 1);
	for (int i = 0; i < 6; i++) {
		char id[16];
		struct wh_event_in ev;

		snprintf(id, sizeof(id), "e%d", i);
		ev = event("s", id, "x");
		assert_int_equal(s->ops->put(s, wks[0], &ev, put_cb, &r[i]), i < 5 ? 0 : WH_EBUSY);
	}
	wh_sq_pause(s, 0);
	sync_writer(s);
	run_tasks(100);
	for (int i = 0; i < 5; i++) {
		assert_true(r[i].done);
		assert_int_equal(r[i].rc, WH_STORED);
	}
	assert_false(r[5].done);      /* refused: never called back */
	assert_int_equal(stats(s).busy, 1);
	close_store(s);
}

/* ---- the queue ------------------------------------------------------------------ */

static void test_dispatch_round_robin_within_per_worker(void **state)
{
	struct wh_store *s = open_store();
	int per[4] = { 0 };

	(void)state;
	for (int i = 0; i < 20; i++) {
		char id[16];

		snprintf(id, sizeof(id), "e%02d", i);
		assert_int_equal(put1(s, "src", id, "body"), WH_STORED);
	}
	assert_int_equal(s->ops->start(s, wks, 2, 3, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(6, 2000), 6);
	run_tasks(400);                                 /* a poll later: still 6 */
	assert_int_equal(ngot, 6);
	for (int i = 0; i < 6; i++) {
		per[got[i].w->idx]++;
		assert_int_equal(got[i].job->attempt, 1);
		assert_int_equal(got[i].job->kind, WH_INBOUND);
		assert_int_equal(got[i].job->body_len, 4);
		assert_memory_equal(got[i].job->body, "body", 4);
		assert_string_equal(got[i].job->source, "src");
		assert_int_equal(got[i].job->max_attempts, 3);
	}
	assert_int_equal(per[0], 3);
	assert_int_equal(per[1], 3);
	assert_string_equal(got[0].job->event_id, "e00");   /* oldest first */
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'processing'"), 6);

	/* a finish frees a slot: the next job follows at once */
	s->ops->finish(s, got[0].job, WH_DONE, 0, 200, NULL);
	got[0].job = NULL;
	assert_int_equal(wait_jobs(7, 2000), 7);
	assert_string_equal(got[6].job->event_id, "e06");
	s->ops->finish(s, got[1].job, WH_DONE, 0, 0, NULL);
	got[1].job = NULL;
	assert_int_equal(wait_jobs(8, 2000), 8);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'done'"), 2);
	assert_int_equal(q_int("SELECT count(*) FROM attempts WHERE outcome = 'done'"), 2);
	close_store(s);
}

static void test_new_put_dispatched_in_its_own_commit(void **state)
{
	struct wh_store *s = open_store();
	uint64_t before;

	(void)state;
	assert_int_equal(s->ops->start(s, wks, 1, 4, job_cb, NULL), 0);
	sync_writer(s);
	before = stats(s).commits;
	assert_int_equal(put1(s, "src", "now", "x"), WH_STORED);
	assert_int_equal(wait_jobs(1, 2000), 1);
	sync_writer(s);
	run_tasks(300);
	/* one commit stored it and marked it processing: no poll did it */
	assert_int_equal(stats(s).commits, before + 1);
	assert_int_equal(stats(s).dispatched, 1);
	close_store(s);
}

static void test_finish_retry_honours_next_at_then_dead(void **state)
{
	struct wh_store *s = open_store();
	int64_t t0;

	(void)state;
	assert_int_equal(put1(s, "src", "r1", "x"), WH_STORED);
	assert_int_equal(s->ops->start(s, wks, 1, 4, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(1, 2000), 1);
	t0 = wh_sq_now_ms();
	s->ops->finish(s, got[0].job, WH_RETRY, t0 + 700, 500, "handler: boom");
	got[0].job = NULL;
	run_tasks(400);
	assert_int_equal(ngot, 1);                               /* not before next_at */
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'retrying'"), 1);
	assert_int_equal(wait_jobs(2, 3000), 2);
	assert_true(wh_sq_now_ms() >= t0 + 700);
	assert_int_equal(got[1].job->attempt, 2);
	s->ops->finish(s, got[1].job, WH_DEAD, 0, 0, "gave up");
	got[1].job = NULL;
	sync_writer(s);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'dead' AND attempts = 2"
	                       " AND last_error = 'gave up'"), 1);
	assert_int_equal(q_int("SELECT count(*) FROM attempts"), 2);
	assert_int_equal(q_int("SELECT count(*) FROM attempts WHERE n = 1 AND outcome = 'retry'"
	                       " AND status = 500 AND error = 'handler: boom'"), 1);
	assert_int_equal(q_int("SELECT count(*) FROM attempts WHERE n = 2 AND outcome = 'dead'"), 1);
	assert_int_equal(stats(s).finished, 2);
	close_store(s);
}

static void test_processing_jobs_are_due_again_after_a_crash(void **state)
{
	struct wh_store *s = open_store();

	(void)state;
	for (int i = 0; i < 3; i++) {
		char id[8];

		snprintf(id, sizeof(id), "c%d", i);
		assert_int_equal(put1(s, "src", id, "x"), WH_STORED);
	}
	assert_int_equal(s->ops->start(s, wks, 2, 8, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(3, 2000), 3);
	close_store(s);                 /* never finished: left in processing */
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'processing'"), 3);

	s = open_store();
	assert_int_equal(s->ops->start(s, wks, 2, 8, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(3, 2000), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(got[i].job->attempt, 2);
	close_store(s);
}

static void test_ordered_source_runs_one_at_a_time_in_order(void **state)
{
	struct wh_store *s = open_store();
	struct wh_event_in ev;
	struct put_res r;
	const char *ids[] = { "o1", "o2", "o3" };

	(void)state;
	for (int i = 0; i < 3; i++) {
		ev = event("ord", ids[i], "x");
		ev.ordered = 1;
		assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	}
	assert_int_equal(put1(s, "free", "f1", "x"), WH_STORED);
	assert_int_equal(put1(s, "free", "f2", "x"), WH_STORED);
	assert_int_equal(s->ops->start(s, wks, 2, 10, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(3, 2000), 3);
	run_tasks(400);
	assert_int_equal(ngot, 3);
	int o = -1;
	for (int i = 0; i < 3; i++)
		if (!strcmp(got[i].job->source, "ord"))
			o = i;
	assert_true(o >= 0);
	assert_string_equal(got[o].job->event_id, "o1");

	/* a retry holds the ones behind it */
	s->ops->finish(s, got[o].job, WH_RETRY, wh_sq_now_ms() + 500, 0, "later");
	got[o].job = NULL;
	run_tasks(300);
	assert_int_equal(ngot, 3);
	assert_int_equal(wait_jobs(4, 3000), 4);
	assert_string_equal(got[3].job->event_id, "o1");
	s->ops->finish(s, got[3].job, WH_DONE, 0, 0, NULL);
	got[3].job = NULL;
	assert_int_equal(wait_jobs(5, 2000), 5);
	assert_string_equal(got[4].job->event_id, "o2");
	s->ops->finish(s, got[4].job, WH_DEAD, 0, 0, "no");   /* dead also lets the next go */
	got[4].job = NULL;
	assert_int_equal(wait_jobs(6, 2000), 6);
	assert_string_equal(got[5].job->event_id, "o3");
	close_store(s);
}

static void test_retention_purges_old_finished_jobs_at_start(void **state)
{
	struct wh_opts o = { .durability = WH_DUR_FULL, .retention_s = 3600 };
	struct wh_store *s = open_store_o(&o);

	(void)state;
	assert_int_equal(put1(s, "src", "old", "x"), WH_STORED);
	assert_int_equal(put1(s, "src", "new", "x"), WH_STORED);
	assert_int_equal(put1(s, "src", "open", "x"), WH_STORED);
	assert_int_equal(s->ops->start(s, wks, 1, 2, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(2, 2000), 2);
	s->ops->finish(s, got[0].job, WH_DONE, 0, 0, NULL);
	s->ops->finish(s, got[1].job, WH_DEAD, 0, 0, "x");
	got[0].job = got[1].job = NULL;
	close_store(s);
	q_exec("UPDATE jobs SET updated_at = updated_at - 7200 * 1000 WHERE event_id = 'old'");
	q_exec("UPDATE jobs SET updated_at = 0 WHERE event_id = 'open'");   /* unfinished: kept */

	s = open_store_o(&o);
	assert_int_equal(s->ops->start(s, wks, 1, 2, job_cb, NULL), 0);
	sync_writer(s);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE event_id = 'old'"), 0);
	assert_int_equal(q_int("SELECT count(*) FROM jobs"), 2);
	assert_int_equal(q_int("SELECT count(*) FROM attempts"), 1);
	close_store(s);

	/* many at once: purged a chunk per transaction, all in the end */
	q_exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4500)"
	       " INSERT INTO jobs (kind, source, event_id, body, received_at, state,"
	       " max_attempts, base, cap, next_at, updated_at)"
	       " SELECT 1, 'bulk', 'b' || i, x'00', 0, 'done', 3, 1, 1, 0, 0 FROM n");
	q_exec("INSERT INTO attempts (job_id, n, at, outcome) SELECT id, 1, 0, 'done' FROM jobs"
	       " WHERE source = 'bulk'");
	s = open_store_o(&o);
	assert_int_equal(s->ops->start(s, wks, 1, 2, job_cb, NULL), 0);
	for (int i = 0; i < 40 && q_int("SELECT count(*) FROM jobs WHERE source = 'bulk'"); i++)
		run_tasks(100);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE source = 'bulk'"), 0);
	assert_int_equal(q_int("SELECT count(*) FROM attempts"), 1);
	close_store(s);
}

static int lag_zero(void)
{
	int z;

	pthread_mutex_lock(&lag_mu);
	z = lag_calls > 0 && lag_seconds == 0 && !strcmp(lag_source, "lagging");
	pthread_mutex_unlock(&lag_mu);
	return z;
}

static void test_queue_lag_reported_per_source(void **state)
{
	struct wh_store *s = open_store();
	struct wh_event_in ev = event("lagging", "l1", "x");
	struct put_res r;
	double seen;

	(void)state;
	ev.received_at_ms -= 5000;
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	ev.event_id = "l2";
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	assert_int_equal(s->ops->start(s, wks, 1, 1, job_cb, NULL), 0);   /* one slot: l2 waits */
	assert_int_equal(wait_jobs(1, 2000), 1);
	sync_writer(s);
	run_tasks(1200);
	pthread_mutex_lock(&lag_mu);
	seen = lag_seconds;
	assert_string_equal(lag_source, "lagging");
	pthread_mutex_unlock(&lag_mu);
	assert_true(seen >= 5.0);
	s->ops->finish(s, got[0].job, WH_DONE, 0, 0, NULL);
	got[0].job = NULL;
	assert_int_equal(wait_jobs(2, 2000), 2);
	s->ops->finish(s, got[1].job, WH_DONE, 0, 0, NULL);
	got[1].job = NULL;
	assert_true(run_tasks_until(lag_zero, 3000));      /* nothing due: back to 0 */
	close_store(s);
}

/* ---- failures ---------------------------------------------------------------- */

static void test_disk_full_answers_efull_then_recovers(void **state)
{
	struct wh_store *s = open_store();
	char sql[80], err[100];
	char *big = malloc(256 * 1024 + 1);
	struct wh_event_in ev;
	struct put_res r;

	(void)state;
	memset(big, 'a', 256 * 1024);
	big[256 * 1024] = '\0';
	assert_int_equal(put1(s, "src", "small", "x"), WH_STORED);
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", q_int("PRAGMA page_count"));
	assert_int_equal(wh_sq_exec(s, sql, err, sizeof(err)), 0);
	ev = event("src", "big", big);
	assert_int_equal(put_wait(s, &ev, &r), WH_EFULL);
	assert_non_null(strstr(r.err, "full"));
	assert_int_equal(wh_sq_exec(s, "PRAGMA max_page_count = 1000000", err, sizeof(err)), 0);
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);           /* space back */
	assert_int_equal(put1(s, "src", "small2", "y"), WH_STORED);
	assert_int_equal(q_int("SELECT count(*) FROM jobs"), 3);
	assert_int_equal(stats(s).failed, 1);
	free(big);
	close_store(s);
}

static void test_finish_kept_until_the_disk_takes_it(void **state)
{
	struct wh_store *s = open_store();
	char err[100];

	(void)state;
	assert_int_equal(put1(s, "src", "f", "x"), WH_STORED);
	assert_int_equal(s->ops->start(s, wks, 1, 1, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(1, 2000), 1);
	/* every write fails from now on, as on a failing disk */
	assert_int_equal(wh_sq_exec(s, "PRAGMA query_only = 1", err, sizeof(err)), 0);
	assert_int_equal(put1(s, "src", "g", "x"), WH_EIO);
	s->ops->finish(s, got[0].job, WH_DONE, 0, 0, NULL);
	got[0].job = NULL;
	sync_writer(s);
	run_tasks(300);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'processing'"), 1);
	assert_int_equal(wh_sq_exec(s, "PRAGMA query_only = 0", err, sizeof(err)), 0);
	run_tasks(600);                 /* the next poll writes the kept finish */
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'done'"), 1);
	assert_int_equal(q_int("SELECT count(*) FROM attempts"), 1);
	assert_int_equal(put1(s, "src", "g", "x"), WH_STORED);
	close_store(s);
}

static void test_hostile_huge_body_and_odd_ids(void **state)
{
	struct wh_store *s = open_store();
	size_t n = 8u << 20;
	unsigned char *body = malloc(n);
	struct wh_event_in ev;
	struct put_res r;
	char nul_id[] = "a\0b";

	(void)state;
	for (size_t i = 0; i < n; i++)
		body[i] = (unsigned char)(i * 7);
	ev = event("src", "huge", "");
	ev.body = body;
	ev.body_len = n;
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	/* ids are C strings: "a\0b" is "a" */
	assert_int_equal(put1(s, "src", "a", "x"), WH_STORED);
	assert_int_equal(put1(s, "src", nul_id, "x"), WH_DUPLICATE);
	assert_int_equal(put1(s, "src", "\xff\xfe\x1b[2J", "x"), WH_STORED);
	assert_int_equal(put1(s, "src", "", "x"), WH_STORED);
	ev = event("src", "nobody", "");
	ev.body = NULL;
	ev.body_len = 0;
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	ev.body_len = 5;                         /* a length without bytes: refused */
	assert_int_equal(s->ops->put(s, wks[0], &ev, put_cb, &r), WH_EIO);
	ev = event(NULL, "x", "x");
	assert_int_equal(s->ops->put(s, wks[0], &ev, put_cb, &r), WH_EIO);

	assert_int_equal(s->ops->start(s, wks, 1, 10, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(5, 3000), 5);
	assert_int_equal(got[0].job->body_len, n);
	assert_memory_equal(got[0].job->body, body, n);
	assert_int_equal(got[4].job->body_len, 0);
	free(body);
	close_store(s);
}

static void test_corrupt_or_foreign_file_is_refused_clearly(void **state)
{
	struct wh_opts o = { .durability = WH_DUR_FULL };
	struct wh_store *s = NULL;
	char err[256], sub[160];
	int fd;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/var", dir);
	mkdir(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/var/sub", dir);
	mkdir(sub, 0700);
	fd = open(dbpath, O_CREAT | O_WRONLY, 0600);
	for (int i = 0; i < 64; i++)
		assert_int_equal(write(fd, "this is not a database at all, no... ", 37), 37);
	close(fd);
	o.path = dbpath;
	assert_int_equal(wh_store_sqlite_open(&api, &o, &s, err, sizeof(err)), -1);
	assert_null(s);
	assert_non_null(strstr(err, dbpath));
	assert_non_null(strstr(err, "not a database"));

	unlink(dbpath);
	q_exec("CREATE TABLE other (x)");
	assert_int_equal(wh_store_sqlite_open(&api, &o, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a webhooks store"));

	unlink(dbpath);
	q_exec("PRAGMA user_version = 99");
	assert_int_equal(wh_store_sqlite_open(&api, &o, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "newer portico"));

	o.path = "";
	assert_int_equal(wh_store_sqlite_open(&api, &o, &s, err, sizeof(err)), -1);
}

/* ---- the CLI ------------------------------------------------------------------ */

static char out[1 << 16], errout[4096];

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Runs wh_cli with stdout and stderr into files; OUT and ERROUT hold them. */
static int cli(int argc, ...)
{
	char *argv[16], po[160], pe[160];
	va_list ap;
	int o1, e1, fo, fe, rc;

	va_start(ap, argc);
	argv[0] = "webhooks";
	for (int i = 1; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	argv[argc] = NULL;
	va_end(ap);
	snprintf(po, sizeof(po), "%s/out", dir);
	snprintf(pe, sizeof(pe), "%s/err", dir);
	fflush(stdout);
	fflush(stderr);
	fo = open(po, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	fe = open(pe, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	o1 = dup(1);
	e1 = dup(2);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = wh_cli(NULL, argc, argv, NULL);
	fflush(stdout);
	fflush(stderr);
	dup2(o1, 1);
	dup2(e1, 2);
	close(o1);
	close(e1);
	close(fo);
	close(fe);
	slurp(po, out, sizeof(out));
	slurp(pe, errout, sizeof(errout));
	return rc;
}

static void fill_for_cli(void)
{
	struct wh_store *s = open_store();
	struct wh_event_in ev;
	struct put_res r;
	static const unsigned char bin[] = { 0x00, 0xff, 0x10, 'a' };

	assert_int_equal(put1(s, "stripe", "evt_ok", "{\"type\":\"paid\"}\n"), WH_STORED);  /* 1 */
	assert_int_equal(put1(s, "stripe", "evt_bad", "{}"), WH_STORED);                    /* 2 */
	ev = event("github", "evt_\x1b[31mred", "x");                                        /* 3 */
	ev.body = bin;
	ev.body_len = sizeof(bin);
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	ev = event("https://example.test/hook", "msg_1", "{\"a\":1}");                       /* 4 */
	ev.kind = WH_OUTBOUND;
	ev.meta_json = "{\"secret\":\"whsec_TOPSECRET\",\"scheme\":\"standard\"}";
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	assert_int_equal(s->ops->start(s, wks, 1, 2, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(2, 2000), 2);
	s->ops->finish(s, got[0].job, WH_DONE, 0, 0, NULL);
	s->ops->finish(s, got[1].job, WH_DEAD, 0, 0, "handler: boom");
	got[0].job = got[1].job = NULL;
	sync_writer(s);
	close_store(s);
	/* what close left in processing, as a stopped daemon would */
	q_exec("UPDATE jobs SET state = 'received' WHERE state = 'processing'");
	wh_opts_main.store = "sqlite";
	wh_opts_main.path = dbpath;
}

static void test_cli_list_and_show(void **state)
{
	(void)state;
	fill_for_cli();
	assert_int_equal(cli(2, "list"), 0);
	assert_non_null(strstr(out, "EVENT_ID"));
	assert_non_null(strstr(out, "evt_ok"));
	assert_non_null(strstr(out, "msg_1"));
	assert_non_null(strstr(out, "\\x1b[31mred"));       /* escaped, never raw */
	assert_null(strchr(out, 0x1b));
	assert_non_null(strstr(out, "handler: boom"));

	assert_int_equal(cli(4, "list", "--state", "dead"), 0);
	assert_non_null(strstr(out, "evt_bad"));
	assert_null(strstr(out, "evt_ok"));
	assert_int_equal(cli(4, "list", "--kind", "outbound"), 0);
	assert_non_null(strstr(out, "msg_1"));
	assert_null(strstr(out, "evt_ok"));
	assert_int_equal(cli(6, "list", "--source", "stripe", "--limit", "1"), 0);
	assert_non_null(strstr(out, "evt_bad"));
	assert_null(strstr(out, "evt_ok"));

	assert_int_equal(cli(3, "show", "1"), 0);
	assert_non_null(strstr(out, "event_id:     evt_ok"));
	assert_non_null(strstr(out, "content-type: application/json"));
	assert_non_null(strstr(out, "{\"type\":\"paid\"}"));
	assert_non_null(strstr(out, "#1"));
	assert_non_null(strstr(out, "done"));
	assert_int_equal(cli(3, "show", "3"), 0);
	assert_non_null(strstr(out, "base64"));
	assert_non_null(strstr(out, "AP8QYQ=="));
	assert_int_equal(cli(3, "show", "4"), 0);
	assert_non_null(strstr(out, "outbound"));
	assert_null(strstr(out, "TOPSECRET"));
	assert_non_null(strstr(out, "(hidden)"));
	assert_int_equal(cli(3, "show", "99"), 1);
	assert_non_null(strstr(errout, "no job 99"));
}

static void test_cli_replay_and_purge(void **state)
{
	(void)state;
	fill_for_cli();
	assert_int_equal(cli(3, "replay", "2"), 0);
	assert_non_null(strstr(out, "replayed 1 job"));
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE id = 2 AND state = 'received'"
	                       " AND attempts = 0"), 1);
	q_exec("UPDATE jobs SET state = 'dead' WHERE id IN (2, 3)");
	assert_int_equal(cli(6, "replay", "--state", "dead", "--source", "stripe"), 0);
	assert_non_null(strstr(out, "replayed 1 job"));
	assert_int_equal(q_int("SELECT state = 'dead' FROM jobs WHERE id = 3"), 1);
	assert_int_equal(cli(4, "replay", "--state", "dead"), 0);
	assert_non_null(strstr(out, "replayed 1 job"));
	q_exec("UPDATE jobs SET state = 'processing' WHERE id = 3");
	assert_int_equal(cli(3, "replay", "3"), 1);
	assert_non_null(strstr(errout, "being processed"));
	assert_int_equal(cli(3, "replay", "77"), 1);
	assert_non_null(strstr(errout, "no job 77"));

	q_exec("UPDATE jobs SET state = 'done', updated_at = 1000 WHERE id IN (1, 2)");
	assert_int_equal(cli(4, "purge", "--older", "30d"), 0);
	assert_non_null(strstr(out, "purged 2 jobs"));
	assert_int_equal(q_int("SELECT count(*) FROM jobs"), 2);
	assert_int_equal(q_int("SELECT count(*) FROM attempts WHERE job_id IN (1, 2)"), 0);
	assert_int_equal(cli(4, "purge", "--older", "1h"), 0);
	assert_non_null(strstr(out, "purged 0 jobs"));
}

static void test_cli_usage_errors_and_missing_store(void **state)
{
	(void)state;
	fill_for_cli();
	assert_int_equal(cli(1), 2);
	assert_non_null(strstr(errout, "usage:"));
	assert_int_equal(cli(2, "frobnicate"), 2);
	assert_non_null(strstr(errout, "unknown command"));
	assert_int_equal(cli(2, "show"), 2);
	assert_int_equal(cli(3, "show", "abc"), 2);
	assert_int_equal(cli(3, "show", "-1"), 2);
	assert_int_equal(cli(4, "list", "--limit", "0"), 2);
	assert_int_equal(cli(4, "list", "--state", "weird"), 2);
	assert_non_null(strstr(errout, "unknown state"));
	assert_int_equal(cli(3, "list", "--state"), 2);
	assert_int_equal(cli(4, "list", "--kind", "sideways"), 2);
	assert_int_equal(cli(3, "list", "--bogus"), 2);
	assert_int_equal(cli(2, "replay"), 2);
	assert_int_equal(cli(5, "replay", "2", "--state", "dead"), 2);
	assert_int_equal(cli(4, "replay", "--state", "processing"), 2);
	assert_int_equal(cli(2, "purge"), 2);
	assert_int_equal(cli(4, "purge", "--older", "30"), 2);
	assert_int_equal(cli(4, "purge", "--older", "30x"), 2);
	assert_int_equal(cli(4, "purge", "--older", "d"), 2);
	assert_int_equal(cli(4, "purge", "--older", "99999999999999999d"), 2);

	wh_opts_main.path = "/nonexistent/dir/webhooks.db";
	assert_int_equal(cli(2, "list"), 1);
	assert_non_null(strstr(errout, "no store at /nonexistent/dir/webhooks.db"));
	wh_opts_main.store = "redis";
	assert_int_equal(cli(2, "list"), 1);
	assert_non_null(strstr(errout, "SQLite store only"));
	wh_opts_main.store = "sqlite";
	{
		int fd;

		wh_opts_main.path = dbpath;
		unlink(dbpath);
		fd = open(dbpath, O_CREAT | O_WRONLY | O_TRUNC, 0600);
		for (int i = 0; i < 64; i++)
			assert_int_equal(write(fd, "garbage garbage garbage garbage!", 32), 32);
		close(fd);
		assert_int_equal(cli(2, "list"), 1);
		assert_non_null(strstr(errout, "not a database"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_put_stores_once_then_answers_duplicate),
		T(test_concurrent_puts_share_commits),
		T(test_max_pending_answers_busy),
		T(test_dispatch_round_robin_within_per_worker),
		T(test_new_put_dispatched_in_its_own_commit),
		T(test_finish_retry_honours_next_at_then_dead),
		T(test_processing_jobs_are_due_again_after_a_crash),
		T(test_ordered_source_runs_one_at_a_time_in_order),
		T(test_retention_purges_old_finished_jobs_at_start),
		T(test_queue_lag_reported_per_source),
		T(test_disk_full_answers_efull_then_recovers),
		T(test_finish_kept_until_the_disk_takes_it),
		T(test_hostile_huge_body_and_odd_ids),
		T(test_corrupt_or_foreign_file_is_refused_clearly),
		T(test_cli_list_and_show),
		T(test_cli_replay_and_purge),
		T(test_cli_usage_errors_and_missing_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
