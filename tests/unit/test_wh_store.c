/*
 * The webhook plugin's embedded store (plugins/webhook/store_sqlite.c,
 * store_queue.c): puts, group commit, the queue, recovery, retention, lag,
 * failing storage, hostile input. The fake core is wh_store_test_util.h.
 */
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "wh_store_test_util.h"

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
	assert_int_equal(wait_jobs(6, 10000), 6);
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
	assert_int_equal(wait_jobs(7, 10000), 7);
	assert_string_equal(got[6].job->event_id, "e06");
	s->ops->finish(s, got[1].job, WH_DONE, 0, 0, NULL);
	got[1].job = NULL;
	assert_int_equal(wait_jobs(8, 10000), 8);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'done'"), 2);
	/* a success is recorded by its job's row alone (WH_SQ_DONE_ATTEMPT) */
	assert_int_equal(q_int("SELECT count(*) FROM attempts"), 0);
	assert_int_equal(q_int("SELECT count(*) FROM (" WH_SQ_DONE_ATTEMPT ")"), 2);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'done' AND attempts = 1"
	                       " AND next_at <= updated_at AND updated_at - next_at < 60000"), 2);
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
	assert_int_equal(wait_jobs(1, 10000), 1);
	sync_writer(s);
	run_tasks(300);
	/* one commit stored it and marked it processing: no poll did it */
	assert_int_equal(stats(s).commits, before + 1);
	assert_int_equal(stats(s).dispatched, 1);
	close_store(s);
}

/* A put that finds free slots is handed out from its own copy: the job
 * is what the row says; with the slots taken, a new put waits as
 * "received" behind the older due jobs. */
static void test_direct_job_matches_its_row_and_backlog_goes_first(void **state)
{
	struct wh_store *s = open_store();
	char sql[256];

	(void)state;
	assert_int_equal(s->ops->start(s, wks, 1, 2, job_cb, NULL), 0);
	sync_writer(s);
	assert_int_equal(put1(s, "src", "d1", "{\"a\":1}"), WH_STORED);
	assert_int_equal(wait_jobs(1, 10000), 1);
	assert_string_equal(got[0].job->event_id, "d1");
	assert_string_equal(got[0].job->type, "t.x");
	assert_string_equal(got[0].job->headers_json, "{\"content-type\":\"application/json\"}");
	assert_null(got[0].job->meta_json);
	assert_int_equal(got[0].job->body_len, 7);
	assert_int_equal(got[0].job->body[7], '\0');
	assert_int_equal(got[0].job->attempt, 1);
	assert_int_equal(got[0].job->max_attempts, 3);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM jobs WHERE id = %s AND state = 'processing'"
	         " AND attempts = 1 AND event_id = 'd1' AND received_at = %lld", got[0].job->key,
	         (long long)got[0].job->received_at_ms);
	assert_int_equal(q_int(sql), 1);
	/* a duplicate takes no slot and runs nothing */
	assert_int_equal(put1(s, "src", "d1", "{}"), WH_DUPLICATE);
	assert_int_equal(put1(s, "src", "d2", "x"), WH_STORED);
	assert_int_equal(wait_jobs(2, 10000), 2);
	assert_string_equal(got[1].job->event_id, "d2");
	/* both slots taken: d3 and d4 wait, oldest first when slots free */
	assert_int_equal(put1(s, "src", "d3", "x"), WH_STORED);
	assert_int_equal(put1(s, "src", "d4", "x"), WH_STORED);
	run_tasks(300);
	assert_int_equal(ngot, 2);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'received'"), 2);
	s->ops->finish(s, got[0].job, WH_DONE, 0, 0, NULL);
	got[0].job = NULL;
	assert_int_equal(wait_jobs(3, 10000), 3);
	assert_string_equal(got[2].job->event_id, "d3");
	close_store(s);
}

static void test_finish_retry_honours_next_at_then_dead(void **state)
{
	struct wh_store *s = open_store();
	int64_t t0;

	(void)state;
	assert_int_equal(put1(s, "src", "r1", "x"), WH_STORED);
	assert_int_equal(s->ops->start(s, wks, 1, 4, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(1, 10000), 1);
	t0 = wh_sq_now_ms();
	s->ops->finish(s, got[0].job, WH_RETRY, t0 + 700, 500, "handler: boom");
	got[0].job = NULL;
	run_tasks(400);
	assert_int_equal(ngot, 1);                               /* not before next_at */
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'retrying'"), 1);
	assert_int_equal(wait_jobs(2, 10000), 2);
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
	/* replayed by hand; then a 100 KB error of 2-byte characters: cut at
	 * 4096 bytes, on a character boundary */
	q_exec("UPDATE jobs SET state = 'received', next_at = 0");
	assert_int_equal(wait_jobs(3, 10000), 3);
	{
		char *e = malloc(100001);

		e[0] = 'x';                 /* odd start: byte 4096 is inside a character */
		for (int i = 1; i + 1 < 100000; i += 2)
			memcpy(e + i, "\xc3\xa9", 2);
		e[99999] = '\0';
		s->ops->finish(s, got[2].job, WH_DEAD, 0, 0, e);
		got[2].job = NULL;
		free(e);
	}
	sync_writer(s);
	assert_int_equal(q_int("SELECT length(CAST(last_error AS BLOB)) FROM jobs"), 4095);
	assert_int_equal(stats(s).finished, 3);
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
	assert_int_equal(wait_jobs(3, 10000), 3);
	close_store(s);                 /* never finished: left in processing */
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'processing'"), 3);

	s = open_store();
	assert_int_equal(s->ops->start(s, wks, 2, 8, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(3, 10000), 3);
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
	assert_int_equal(wait_jobs(3, 10000), 3);
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
	assert_int_equal(wait_jobs(4, 10000), 4);
	assert_string_equal(got[3].job->event_id, "o1");
	s->ops->finish(s, got[3].job, WH_DONE, 0, 0, NULL);
	got[3].job = NULL;
	assert_int_equal(wait_jobs(5, 10000), 5);
	assert_string_equal(got[4].job->event_id, "o2");
	s->ops->finish(s, got[4].job, WH_DEAD, 0, 0, "no");   /* dead also lets the next go */
	got[4].job = NULL;
	assert_int_equal(wait_jobs(6, 10000), 6);
	assert_string_equal(got[5].job->event_id, "o3");
	close_store(s);
}

/* jobs_open indexes ordered jobs only (an unordered event's put and
 * finish move no entry of it): a file with the older index (every
 * unfinished job) gets it remade at open, and jobs stored before a source
 * was made ordered do not hold its ordered ones. */
static void test_jobs_open_holds_ordered_jobs_only(void **state)
{
	struct wh_store *s = open_store();
	struct wh_event_in ev;
	struct put_res r;

	(void)state;
	assert_int_equal(put1(s, "src", "u1", "x"), WH_STORED);   /* unordered */
	close_store(s);
	q_exec("DROP INDEX jobs_open; CREATE INDEX jobs_open ON jobs(kind, source, id)"
	       " WHERE (state = 'received' OR state = 'retrying' OR state = 'processing')");
	s = open_store();
	assert_int_equal(q_int("SELECT count(*) FROM sqlite_master WHERE name = 'jobs_open'"
	                       " AND sql LIKE '%ordered = 1%'"), 1);
	ev = event("src", "o1", "x");
	ev.ordered = 1;
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	assert_int_equal(q_int("SELECT count(*) FROM jobs INDEXED BY jobs_open WHERE kind = 1"
	                       " AND source = 'src' AND ordered = 1 AND (state = 'received'"
	                       " OR state = 'retrying' OR state = 'processing')"), 1);
	assert_int_equal(s->ops->start(s, wks, 1, 4, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(2, 10000), 2);                /* u1 holds nothing */
	close_store(s);
}

/* The writer checkpoints the WAL itself (after its rounds, not inside a
 * commit) once it holds WH_SQ_CHECKPOINT frames: the database file gets
 * the events while the store runs, and the WAL stops growing. */
static void test_writer_checkpoints_the_wal(void **state)
{
	struct wh_opts o = { .durability = WH_DUR_NORMAL };
	struct wh_store *s = open_store_o(&o);
	char body[3001], walpath[160];
	struct stat st, wal;

	(void)state;
	memset(body, 'b', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	assert_int_equal(stat(dbpath, &st), 0);
	assert_true(st.st_size < 100 * 1024);             /* a new file: its schema */
	for (int i = 0; i < 700; i++) {
		char id[32];

		snprintf(id, sizeof(id), "evt_%d", i);
		assert_int_equal(put1(s, "ck", id, body), WH_STORED);
	}
	sync_writer(s);
	assert_int_equal(stat(dbpath, &st), 0);
	snprintf(walpath, sizeof(walpath), "%s-wal", dbpath);
	assert_int_equal(stat(walpath, &wal), 0);
	print_message("database %lld bytes, WAL %lld bytes\n", (long long)st.st_size,
	              (long long)wal.st_size);
	assert_true(st.st_size > 1024 * 1024);            /* copied into the file */
	assert_true(wal.st_size < (WH_SQ_CHECKPOINT + 600) * 4120);   /* started over */
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE source = 'ck'"), 700);

	/* durability full: the checkpoint's writes to the database file are
	 * gathered too; after a full checkpoint the file alone (its WAL
	 * emptied) holds every event, intact */
	close_store(s);
	s = open_store();
	assert_int_equal(put1(s, "ck", "last", body), WH_STORED);
	{
		char err[100], cmd[400], copy[160];
		sqlite3 *db;
		sqlite3_stmt *q;

		assert_int_equal(wh_sq_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)", err, sizeof(err)), 0);
		assert_int_equal(stat(walpath, &wal), 0);
		assert_int_equal(wal.st_size, 0);
		snprintf(copy, sizeof(copy), "%s/copy.db", dir);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", dbpath, copy);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(sqlite3_open_v2(copy, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM jobs WHERE"
		                                    " source = 'ck' AND length(body) = 3000),"
		                                    " (SELECT integrity_check FROM"
		                                    " pragma_integrity_check)", -1, &q, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(q, 0), 701);
		assert_string_equal((const char *)sqlite3_column_text(q, 1), "ok");
		sqlite3_finalize(q);
		sqlite3_close(db);
	}
	close_store(s);
}

/* The WAL's writes are gathered (durability "full": store_file.c's VFS)
 * and written at the commit's sync: every acknowledged event is in the
 * file when the process dies at once (SIGKILL, no close), for either
 * durability, a large one among many small ones (writes of every size). */
static void crash_after_puts(int durability)
{
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct wh_opts o = { .durability = durability };
		struct wh_store *s = open_store_o(&o);
		char *big = malloc(300001);

		memset(big, 'z', 300000);
		big[300000] = '\0';
		for (int i = 0; i < 60; i++) {
			char id[32];

			snprintf(id, sizeof(id), "k%d", i);
			if (put1(s, "crash", id, i == 30 ? big : "{\"a\":1}") != WH_STORED)
				_exit(3);
		}
		raise(SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE source = 'crash'"), 60);
	assert_int_equal(q_int("SELECT length(body) FROM jobs WHERE event_id = 'k30'"), 300000);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE source = 'crash' AND"
	                       " CAST(body AS TEXT) = '{\"a\":1}'"), 59);
}

static void test_acknowledged_events_survive_a_kill(void **state)
{
	char cmd[200];

	(void)state;
	crash_after_puts(WH_DUR_FULL);
	assert_int_equal(q_int("SELECT count(*) FROM pragma_integrity_check"
	                       " WHERE integrity_check = 'ok'"), 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/var'", dir);
	assert_int_equal(system(cmd), 0);
	crash_after_puts(WH_DUR_NORMAL);
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
	assert_int_equal(wait_jobs(2, 10000), 2);
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
	assert_int_equal(wait_jobs(1, 10000), 1);
	sync_writer(s);
	run_tasks(1200);
	pthread_mutex_lock(&lag_mu);
	seen = lag_seconds;
	assert_string_equal(lag_source, "lagging");
	pthread_mutex_unlock(&lag_mu);
	assert_true(seen >= 5.0);
	s->ops->finish(s, got[0].job, WH_DONE, 0, 0, NULL);
	got[0].job = NULL;
	assert_int_equal(wait_jobs(2, 10000), 2);
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
	assert_int_equal(wait_jobs(1, 10000), 1);
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
	assert_int_equal(q_int("SELECT count(*) FROM (" WH_SQ_DONE_ATTEMPT ")"), 1);
	assert_int_equal(put1(s, "src", "g", "x"), WH_STORED);
	close_store(s);
}

/* A WAL write refused at COMMIT, as on a full disk: the file size limit
 * (RLIMIT_FSIZE) stands in for a tiny file system. */
static void test_commit_refused_by_the_file_system_then_recovers(void **state)
{
	struct wh_store *s = open_store();
	struct rlimit old, lim;
	char *big = malloc(512 * 1024 + 1);
	struct wh_event_in ev;
	struct put_res r;
	int rc;

	(void)state;
	memset(big, 'c', 512 * 1024);
	big[512 * 1024] = '\0';
	assert_int_equal(put1(s, "src", "before", "x"), WH_STORED);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 64 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ev = event("src", "big", big);
	rc = put_wait(s, &ev, &r);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_true(rc == WH_EFULL || rc == WH_EIO);
	assert_true(r.err[0] != '\0');
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE event_id = 'big'"), 0);
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);       /* room again */
	assert_int_equal(q_int("SELECT count(*) FROM jobs"), 2);
	free(big);
	close_store(s);
}

/* ---- the deferred commit sync (durability "full") ---------------------------------
 * The store's own fdatasync calls (its syncer's) go through this wrapper
 * (-Wl,--wrap=fdatasync): counted, held at a gate, or failed with EIO as
 * a failing disk would. SQLite's own syncs are inside libsqlite3 and are
 * not wrapped. */
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_shut, gate_waiting, fail_syncs, nsyncs;

int __wrap_fdatasync(int fd)
{
	pthread_mutex_lock(&gate_mu);
	gate_waiting++;
	pthread_cond_broadcast(&gate_cv);
	while (gate_shut)
		pthread_cond_wait(&gate_cv, &gate_mu);
	gate_waiting--;
	nsyncs++;
	if (fail_syncs > 0) {
		fail_syncs--;
		pthread_mutex_unlock(&gate_mu);
		errno = EIO;
		return -1;
	}
	pthread_mutex_unlock(&gate_mu);
	return __real_fdatasync(fd);
}

static int syncs(void)
{
	int n;

	pthread_mutex_lock(&gate_mu);
	n = nsyncs;
	pthread_mutex_unlock(&gate_mu);
	return n;
}

static void gate(int shut)
{
	pthread_mutex_lock(&gate_mu);
	gate_shut = shut;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* Waits until the syncer sits at the shut gate. */
static void gate_reached(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&gate_mu);
	while (!gate_waiting)
		assert_int_equal(pthread_cond_timedwait(&gate_cv, &gate_mu, &ts), 0);
	pthread_mutex_unlock(&gate_mu);
}

/* An answer never leaves before the sync that makes its event durable has
 * returned; the writer stores the next round meanwhile. */
static void test_answers_wait_for_the_deferred_sync(void **state)
{
	struct wh_store *s = open_store();
	struct wh_event_in a = event("src", "a", "x"), b = event("src", "b", "y");
	struct put_res ra, rb;
	int before;

	(void)state;
	before = syncs();
	assert_int_equal(put1(s, "src", "first", "x"), WH_STORED);
	assert_true(syncs() > before);             /* the syncer synced it */

	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	gate(1);
	assert_int_equal(s->ops->put(s, wks[0], &a, put_cb, &ra), 0);
	gate_reached();                            /* "a" committed, its sync held */
	assert_int_equal(s->ops->put(s, wks[1], &b, put_cb, &rb), 0);
	for (int i = 0; i < 200 && q_int("SELECT count(*) FROM jobs") < 3; i++)
		usleep(10000);
	/* both committed (a reader sees them), neither acknowledged */
	assert_int_equal(q_int("SELECT count(*) FROM jobs"), 3);
	run_tasks(200);
	assert_false(ra.done);
	assert_false(rb.done);
	gate(0);
	for (int i = 0; i < 100 && !(ra.done && rb.done); i++)
		run_tasks(50);
	assert_int_equal(ra.rc, WH_STORED);
	assert_int_equal(rb.rc, WH_STORED);
	close_store(s);
}

static int repaired(void)
{
	return q_int("SELECT count(*) FROM jobs WHERE event_id = 'lost'") == 0;
}

/* A deferred sync fails (EIO, as a failing disk answers): its event is
 * refused (503 upstream), removed, its job never runs; the store refuses
 * events until it repaired itself, then takes the same event again as a
 * new one (not a "duplicate" of a row the disk may have lost). */
static void test_failed_deferred_sync_refuses_removes_then_recovers(void **state)
{
	struct wh_store *s = open_store();
	struct put_res r;
	struct wh_event_in ev = event("src", "lost", "z");

	(void)state;
	assert_int_equal(s->ops->start(s, wks, 1, 4, job_cb, NULL), 0);
	assert_int_equal(put1(s, "src", "kept", "x"), WH_STORED);
	assert_int_equal(wait_jobs(1, 10000), 1);
	s->ops->finish(s, got[0].job, WH_DONE, 0, 0, NULL);
	got[0].job = NULL;

	pthread_mutex_lock(&gate_mu);
	fail_syncs = 1;
	pthread_mutex_unlock(&gate_mu);
	assert_int_equal(put_wait(s, &ev, &r), WH_EIO);
	assert_non_null(strstr(r.err, "sync"));
	for (int i = 0; i < 100 && !repaired(); i++)
		run_tasks(50);
	assert_true(repaired());
	assert_int_equal(ngot, 1);                 /* its job was never handed out */
	assert_int_equal(stats(s).failed, 1);
	assert_int_equal(stats(s).stored, 1);

	/* the sender's retry: a new event, stored, run */
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	assert_int_equal(wait_jobs(2, 10000), 2);
	assert_string_equal(got[1].job->event_id, "lost");
	assert_int_equal(got[1].job->attempt, 1);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE event_id = 'lost'"), 1);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE state = 'done'"), 1);
	close_store(s);
}

static void test_job_not_handed_out_is_due_again(void **state)
{
	struct wh_store *s = open_store();

	(void)state;
	assert_int_equal(put1(s, "src", "h", "x"), WH_STORED);
	pthread_mutex_lock(&tmu);
	fail_posts = 1;
	pthread_mutex_unlock(&tmu);
	assert_int_equal(s->ops->start(s, wks, 1, 1, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(1, 10000), 1);
	assert_int_equal(got[0].job->attempt, 2);
	assert_int_equal(q_int("SELECT count(*) FROM attempts WHERE n = 1 AND outcome = 'retry'"
	                       " AND error = 'could not be handed to its worker'"), 1);
	close_store(s);
}

static void test_stopped_worker_gets_nothing_more(void **state)
{
	struct wh_store *s = open_store();
	struct put_res r[4];

	(void)state;
	assert_int_equal(s->ops->start(s, wks, 2, 8, job_cb, NULL), 0);
	sync_writer(s);
	s->ops->worker_stop(s, wks[1]);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 4; i++) {
		char id[8];
		struct wh_event_in ev;

		snprintf(id, sizeof(id), "w%d", i);
		ev = event("src", id, "x");
		/* answers for the stopped worker are dropped, not posted */
		assert_int_equal(s->ops->put(s, wks[i % 2], &ev, put_cb, &r[i]), 0);
	}
	assert_int_equal(wait_jobs(4, 10000), 4);
	sync_writer(s);
	run_tasks(100);
	for (int i = 0; i < 4; i++) {
		assert_ptr_equal(got[i].w, wks[0]);
		assert_int_equal(r[i].done, i % 2 == 0);
	}
	assert_int_equal(q_int("SELECT count(*) FROM jobs"), 4);   /* stored all the same */
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
	assert_int_equal(wait_jobs(5, 10000), 5);
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

static void test_second_writer_on_one_file_is_refused(void **state)
{
	struct wh_store *s = open_store(), *s2 = NULL;
	struct wh_opts o = { .durability = WH_DUR_FULL, .path = dbpath };
	char err[256], want[64];

	(void)state;
	assert_int_equal(wh_store_sqlite_open(&api, &o, &s2, err, sizeof(err)), -1);
	assert_null(s2);
	snprintf(want, sizeof(want), "in use by another process (pid %ld)", (long)getpid());
	assert_non_null(strstr(err, want));
	close_store(s);
	s = open_store();                 /* free again once closed */
	close_store(s);
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
		T(test_direct_job_matches_its_row_and_backlog_goes_first),
		T(test_finish_retry_honours_next_at_then_dead),
		T(test_processing_jobs_are_due_again_after_a_crash),
		T(test_ordered_source_runs_one_at_a_time_in_order),
		T(test_jobs_open_holds_ordered_jobs_only),
		T(test_writer_checkpoints_the_wal),
		T(test_acknowledged_events_survive_a_kill),
		T(test_retention_purges_old_finished_jobs_at_start),
		T(test_queue_lag_reported_per_source),
		T(test_disk_full_answers_efull_then_recovers),
		T(test_finish_kept_until_the_disk_takes_it),
		T(test_commit_refused_by_the_file_system_then_recovers),
		T(test_answers_wait_for_the_deferred_sync),
		T(test_failed_deferred_sync_refuses_removes_then_recovers),
		T(test_job_not_handed_out_is_due_again),
		T(test_stopped_worker_gets_nothing_more),
		T(test_hostile_huge_body_and_odd_ids),
		T(test_corrupt_or_foreign_file_is_refused_clearly),
		T(test_second_writer_on_one_file_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
