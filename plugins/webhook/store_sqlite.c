/*
 * store_sqlite.c - the embedded webhook store: one SQLite file (WAL) in
 * var_dir, one writer thread with group commit.
 *
 * The file, its schema and its lock: store_file.c.
 *
 * Threads: puts and finishes from worker threads are queued (a mutex and a
 * condition variable); the writer thread takes everything queued (up to
 * WH_SQ_BATCH), runs it as ONE transaction together with the dispatch of
 * due jobs, commits (one fsync with durability "full"), and only then posts
 * each put's answer to its worker and the picked jobs to theirs. The writer
 * thread alone uses the write connection once it runs. Finishes queued
 * with no put wait up to WH_SQ_FIN_WAIT_MS for one, so that under load
 * they ride in the puts' commits instead of taking an fsync of their own.
 *
 * With durability "full" the commit's fsync is not waited for in line: the
 * writer commits with the WAL's sync deferred (store_file.c), hands the
 * round to the syncer thread and goes on with the next round while the
 * disk syncs; the syncer runs one fdatasync for every round committed
 * before it began, and only then posts their answers and jobs. So a 2xx
 * still leaves only once its event is on disk, and the CPU stores the
 * next round during the sync instead of waiting for it. A failed
 * deferred sync: its rounds' puts get an error (503, the sender retries),
 * the store refuses events until the writer repaired it (the rounds'
 * events deleted, their jobs given back, the WAL checkpointed into the
 * database file with real syncs): see repair().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "store_sqlite.h"

static void op_free(struct sq_op *op)
{
	if (op->type == SQ_FINISH)
		free(op->error);
	free(op);
}

/*
 * Appends OP and wakes the writer when it may be waiting for it; S's lock
 * is held (a put has counted itself in npending). The writer waits only
 * on an empty queue (for anything), or on finishes alone (for a put, up
 * to WH_SQ_FIN_WAIT_MS): a finish behind others or a put behind another
 * put finds it awake or already woken. Not signalling those saves the
 * writer a futex wake and a sleep per finish during its finishes' wait.
 */
static void enqueue_locked(struct sq *s, struct sq_op *op)
{
	int wake = !s->head || op->type == SQ_EXEC || (op->type == SQ_PUT && s->npending == 1);

	op->next = NULL;
	if (s->tail)
		s->tail->next = op;
	else
		s->head = op;
	s->tail = op;
	if (wake)
		pthread_cond_signal(&s->cv);
}

void wh_sq_enqueue(struct sq *s, struct sq_op *op)
{
	pthread_mutex_lock(&s->mu);
	enqueue_locked(s, op);
	pthread_mutex_unlock(&s->mu);
}

static char *dup_in(char **p, const char *src)
{
	size_t n = src ? strlen(src) + 1 : 1;
	char *r = *p;

	memcpy(r, src ? src : "", n);
	*p += n;
	return r;
}

/*
 * Copies EV into one allocation and queues it. WH_EBUSY beyond
 * max_pending, WH_EIO for a bad event or no memory: CB is then never called.
 */
static int sq_put(struct wh_store *base, pt_worker *w, const struct wh_event_in *ev,
                  wh_put_fn cb, void *ud)
{
	struct sq *s = (struct sq *)base;
	const char *hdr = ev->headers_json, *meta = ev->meta_json;
	size_t need;
	struct sq_op *op;
	char *p;

	if (!ev->source || !ev->event_id || (ev->body_len && !ev->body) ||
	    (ev->kind != WH_INBOUND && ev->kind != WH_OUTBOUND) ||
	    ev->body_len > (size_t)1 << 30)       /* SQLite's blob limit is about 1e9 */
		return WH_EIO;
	need = sizeof(*op) + strlen(ev->source) + strlen(ev->event_id) +
	       (ev->type ? strlen(ev->type) : 0) + (hdr ? strlen(hdr) : 0) +
	       (meta ? strlen(meta) : 0) + 5 + ev->body_len + 1;
	pthread_mutex_lock(&s->mu);
	if (s->npending >= s->max_pending || s->stopping) {
		s->stats.busy++;
		pthread_mutex_unlock(&s->mu);
		return WH_EBUSY;
	}
	pthread_mutex_unlock(&s->mu);
	op = malloc(need);
	if (!op)
		return WH_EIO;
	memset(op, 0, sizeof(*op));
	op->type = SQ_PUT;
	op->w = w;
	op->cb = cb;
	op->ud = ud;
	op->kind = ev->kind;
	op->max_attempts = ev->max_attempts > 0 ? ev->max_attempts : 8;
	op->ordered = ev->ordered != 0;
	op->base = ev->base > 0 ? ev->base : 2;
	op->cap = ev->cap > 0 ? ev->cap : 3600;
	op->received_at_ms = ev->received_at_ms ? ev->received_at_ms : wh_sq_now_ms();
	p = (char *)(op + 1);
	op->source = dup_in(&p, ev->source);
	op->event_id = dup_in(&p, ev->event_id);
	op->type_s = dup_in(&p, ev->type);
	op->headers = hdr ? dup_in(&p, hdr) : NULL;
	op->meta = meta ? dup_in(&p, meta) : NULL;
	op->body = (unsigned char *)p;
	op->body_len = ev->body_len;
	if (ev->body_len)
		memcpy(p, ev->body, ev->body_len);
	p[ev->body_len] = '\0';      /* a job made from it hands the body out as text too */
	op->refs = 1;                 /* the put's: dropped once answered */

	pthread_mutex_lock(&s->mu);
	if (s->npending >= s->max_pending || s->stopping) {   /* raced with others */
		s->stats.busy++;
		pthread_mutex_unlock(&s->mu);
		free(op);
		return WH_EBUSY;
	}
	s->npending++;
	enqueue_locked(s, op);        /* in the same hold of the lock */
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Inserts OP's event: "received", or with RUN "processing" (attempt 1),
 * handed out directly after the commit. */
static int insert_put(struct sq *s, struct sq_op *op, int64_t now, int run)
{
	sqlite3_stmt *st = run ? s->st_insert_run : s->st_insert;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_int(st, 1, op->kind);
	sqlite3_bind_text(st, 2, op->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, op->event_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, op->type_s, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 5, op->body, op->body_len, SQLITE_STATIC);
	if (op->headers)
		sqlite3_bind_text(st, 6, op->headers, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	if (op->meta)
		sqlite3_bind_text(st, 7, op->meta, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_int64(st, 8, op->received_at_ms);
	sqlite3_bind_int(st, 9, op->max_attempts);
	sqlite3_bind_double(st, 10, op->base);
	sqlite3_bind_double(st, 11, op->cap);
	sqlite3_bind_int(st, 12, op->ordered);
	sqlite3_bind_int64(st, 13, now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return rc;
	op->rc = sqlite3_changes(s->db) ? WH_STORED : WH_DUPLICATE;
	return SQLITE_OK;
}

/* Runs a prepared BEGIN or COMMIT (compiled once, not at every round). */
static int step_once(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Transaction-wide failures: SQLite may have rolled the transaction back. */
static int fatal_rc(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_NOMEM ||
	       rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_CORRUPT ||
	       rc == SQLITE_NOTADB || rc == SQLITE_READONLY || rc == SQLITE_CANTOPEN;
}

static void put_done_task(void *ud)
{
	struct sq_op *op = ud;

	op->cb(op->rc, op->rc < 0 ? op->err : NULL, op->ud);
	wh_sq_put_unref(op);
}

/* Posts each put's answer to its worker; at close (the workers are gone)
 * the answers are dropped. */
static void answer_puts(struct sq *s, struct sq_op *puts, int drop)
{
	while (puts) {
		struct sq_op *op = puts;

		puts = op->next;
		if (drop || !op->cb || wh_sq_worker_gone(s, op->w) ||
		    s->api->post(op->w, put_done_task, op) != 0)
			wh_sq_put_unref(op);
	}
}

static void log_failure(struct sq *s, const char *what, const char *msg)
{
	if (!s->failing && s->api->log)
		s->api->log(NULL, PT_LOG_ERROR, "webhook store %s: %s: %s", s->path, what, msg);
	s->failing = 1;
}

/* After each commit (SQLite's WAL hook): how long the WAL has grown. */
static int wal_hook(void *ud, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct sq *)ud)->wal_frames = frames;
	return SQLITE_OK;
}

/*
 * Copies the WAL into the database file once it holds WH_SQ_CHECKPOINT
 * frames: what SQLite's automatic checkpoint does, but run by the writer
 * after the round's answers and jobs are posted, not inside its COMMIT,
 * where the checkpoint's reads, writes and fsync of the database file held
 * back every put of the round. PASSIVE: readers (the CLI, the admin pages)
 * are never waited for; what they still use is copied at a later one, and
 * the WAL starts over from its beginning once all of it was copied.
 */
static void checkpoint(struct sq *s)
{
	int rc;

	if (s->wal_frames < WH_SQ_CHECKPOINT)
		return;
	s->wal_frames = 0;
	rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY && s->api->log)
		s->api->log(NULL, PT_LOG_WARN, "webhook store %s: checkpoint: %s", s->path,
		            sqlite3_errmsg(s->db));
}

/*
 * One transaction: OPS (puts and finishes) and, when dispatching, the
 * pick of due jobs. After COMMIT, answers and jobs go out; on a failure
 * every put of the round gets the error, finishes are kept for the next
 * round, the picked jobs go back.
 */
static void run_round(struct sq *s, struct sq_op *ops, int stopping)
{
	struct sq_op *puts = NULL, **ptail = &puts, *fin = NULL;
	struct sq_job **jobs = NULL, **djobs = NULL;
	struct sq_round *round = NULL;
	unsigned njobs = 0, direct = 0, ndj = 0, nput_ops = 0;
	int64_t now = wh_sq_now_ms();
	int64_t before = sqlite3_total_changes(s->db);
	int rc, nputs = 0, nfin = 0, broken, fd = -1;
	const char *what = "BEGIN";
	char msg[200] = "";

	/* retried finishes first: their jobs are older */
	if (s->retry) {
		struct sq_op *r = s->retry;

		while (r->next)
			r = r->next;
		r->next = ops;
		ops = s->retry;
		s->retry = NULL;
	}
	if (!ops && (!s->started || stopping))
		return;
	pthread_mutex_lock(&s->mu);
	broken = s->sync_broken;
	pthread_mutex_unlock(&s->mu);
	for (struct sq_op *op = ops; op; op = op->next)
		nput_ops += op->type == SQ_PUT;
	/* with the syncer, what the round answers waits in a round of its
	 * own, made before anything is written (no failing after COMMIT) */
	if (s->has_syncer && !broken &&
	    (!(round = calloc(1, sizeof(*round))) ||
	     (nput_ops && !(round->ins = malloc(nput_ops * sizeof(*round->ins)))))) {
		if (round)
			free(round);
		round = NULL;
		broken = -1;
	}
	/* nothing is written while a failed sync is not repaired (a commit
	 * after it would sit behind what the disk may have lost) */
	rc = broken ? SQLITE_IOERR : step_once(s->st_begin);
	if (broken)
		snprintf(msg, sizeof(msg), "%s", broken < 0 ? "out of memory" :
		         "a sync of the store failed; it refuses events until repaired");
	/* finishes first: the slots they free go to what is due */
	for (struct sq_op *op = ops; op && rc == SQLITE_OK; op = op->next) {
		if (op->type == SQ_PUT)
			continue;
		what = "recording an attempt";
		rc = wh_sq_finish_record(s, op);
		if (rc != SQLITE_OK && !fatal_rc(rc)) {
			/* this record alone: logged, not tried again */
			if (s->api->log)
				s->api->log(NULL, PT_LOG_ERROR, "webhook store %s: job %lld: "
				            "recording its attempt: %s", s->path,
				            (long long)op->job_id, sqlite3_errmsg(s->db));
			rc = SQLITE_OK;
		}
	}
	/* then the jobs due before this round's events, oldest first; when
	 * they leave slots free, this round's events (but an ordered
	 * source's) take them directly: stored as "processing" and handed
	 * out from the put's own copy, not read back */
	if (rc == SQLITE_OK && s->started && !stopping) {
		unsigned slots = wh_sq_free_slots(s);

		what = "dispatching";
		rc = wh_sq_dispatch(s, &jobs, &njobs);
		if (rc == SQLITE_OK && njobs < slots && (direct = wh_sq_free_slots(s)) > 0 &&
		    !(djobs = calloc(direct, sizeof(*djobs))))
			direct = 0;
	}
	for (struct sq_op *op = ops; op && rc == SQLITE_OK; op = op->next) {
		struct sq_job *j = NULL;

		if (op->type != SQ_PUT)
			continue;
		what = "storing an event";
		if (ndj < direct && !op->ordered)
			j = wh_sq_job_from_put(s, op, 0, now);
		rc = insert_put(s, op, now, j != NULL);
		if (rc != SQLITE_OK && !fatal_rc(rc)) {
			/* this event alone (e.g. too big for SQLite) */
			op->rc = wh_sq_errcode(rc);
			snprintf(op->err, sizeof(op->err), "%s", sqlite3_errmsg(s->db));
			rc = SQLITE_OK;
		}
		if (round && rc == SQLITE_OK && op->rc == WH_STORED)
			round->ins[round->nins++] = sqlite3_last_insert_rowid(s->db);
		if (j && rc == SQLITE_OK && op->rc == WH_STORED) {
			j->id = sqlite3_last_insert_rowid(s->db);
			wh_sq_key(j->job.key, j->id);
			djobs[ndj++] = j;
		} else if (j) {
			wh_sq_unpick(s, &j, 1);
		}
	}
	if (rc == SQLITE_OK) {
		what = "COMMIT";
		wh_sq_defer_sync(round != NULL);
		rc = step_once(s->st_commit);
		wh_sq_defer_sync(0);
		fd = round ? wh_sq_deferred_fd() : -1;
	}
	if (rc != SQLITE_OK) {
		if (!broken)
			snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		if (!broken)
			log_failure(s, what, msg);
		wh_sq_unpick(s, jobs, njobs);
		wh_sq_unpick(s, djobs, ndj);
		free(jobs);
		jobs = NULL;
		njobs = 0;
		ndj = 0;
	} else if (s->failing) {
		if (s->api->log)
			s->api->log(NULL, PT_LOG_WARN, "webhook store %s: writing again", s->path);
		s->failing = 0;
	}

	/* sort the round's operations out */
	while (ops) {
		struct sq_op *op = ops;

		ops = op->next;
		op->next = NULL;
		if (op->type == SQ_PUT) {
			if (rc != SQLITE_OK) {
				op->rc = wh_sq_errcode(rc);
				snprintf(op->err, sizeof(op->err), "%s", msg);
			}
			*ptail = op;
			ptail = &op->next;
			nputs++;
		} else if (rc != SQLITE_OK) {
			op->next = fin;
			fin = op;
		} else {
			nfin++;
			op_free(op);
		}
	}
	s->retry = fin;

	pthread_mutex_lock(&s->mu);
	if (rc == SQLITE_OK && sqlite3_total_changes(s->db) != before)
		s->stats.commits++;
	s->stats.puts += nputs;
	for (struct sq_op *op = puts; op; op = op->next) {
		if (op->rc == WH_STORED)
			s->stats.stored++;
		else if (op->rc == WH_DUPLICATE)
			s->stats.duplicates++;
		else
			s->stats.failed++;
	}
	s->stats.finished += nfin;
	s->stats.dispatched += njobs + ndj;
	if (round && rc == SQLITE_OK && (puts || njobs || ndj || fd >= 0)) {
		/* answered and handed out by the syncer, after the sync this
		 * commit owes (FIFO: a round that wrote nothing, duplicates
		 * only, waits for the rounds before it all the same) */
		round->fd = fd;
		round->drop = stopping;
		round->puts = puts;
		round->jobs = jobs;
		round->njobs = njobs;
		round->djobs = djobs;
		round->ndj = ndj;
		if (s->sync_tail)
			s->sync_tail->next = round;
		else
			s->sync_head = round;
		s->sync_tail = round;
		pthread_cond_signal(&s->sync_cv);
		pthread_mutex_unlock(&s->mu);
		checkpoint(s);
		return;
	}
	pthread_mutex_unlock(&s->mu);
	if (round) {
		free(round->ins);
		free(round);
	}
	answer_puts(s, puts, stopping);
	wh_sq_hand_out(s, jobs, njobs);
	wh_sq_hand_out(s, djobs, ndj);
	free(jobs);
	free(djobs);
	if (!broken)
		checkpoint(s);
}

static void round_free(struct sq_round *r)
{
	free(r->jobs);
	free(r->djobs);
	free(r->ins);
	free(r);
}

/*
 * The syncer thread: takes every round committed so far, runs one
 * fdatasync of the WAL for all of them (when one owes it), then posts
 * their answers and jobs in commit order. When the sync fails, or failed
 * before, the rounds' puts are answered with an error and the rounds go
 * to the writer's repair.
 */
static void *syncer_main(void *arg)
{
	struct sq *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct sq_round *rounds, *r, *next;
		int fd = -1, err = 0, broken, nstored = 0, ndup = 0, nput = 0;

		while (!s->sync_head && !s->sync_stop)
			pthread_cond_wait(&s->sync_cv, &s->mu);
		if (!s->sync_head)
			break;
		rounds = s->sync_head;
		s->sync_head = s->sync_tail = NULL;
		s->sync_busy = 1;
		broken = s->sync_broken;
		pthread_mutex_unlock(&s->mu);

		for (r = rounds; r; r = r->next)
			if (r->fd >= 0)
				fd = r->fd;
		if (fd >= 0 && !broken) {
			int rc;

			while ((rc = fdatasync(fd)) != 0 && errno == EINTR)
				;
			if (rc != 0)
				err = errno;
		}
		if (err && s->api->log)
			s->api->log(NULL, PT_LOG_ERROR, "webhook store %s: syncing its WAL failed: %s; "
			            "the events of the commits it covered are refused (503) and "
			            "removed, and the store refuses events until it repaired itself",
			            s->path, strerror(err));
		for (r = rounds; r; r = next) {
			next = r->next;
			if (!err && !broken) {
				answer_puts(s, r->puts, r->drop);
				wh_sq_hand_out(s, r->jobs, r->njobs);
				wh_sq_hand_out(s, r->djobs, r->ndj);
				round_free(r);
				continue;
			}
			for (struct sq_op *op = r->puts; op; op = op->next) {
				nstored += op->rc == WH_STORED;
				ndup += op->rc == WH_DUPLICATE;
				nput++;
				op->rc = WH_EIO;
				snprintf(op->err, sizeof(op->err), "the disk failed to sync the store");
			}
			answer_puts(s, r->puts, r->drop);
			r->puts = NULL;
		}

		pthread_mutex_lock(&s->mu);
		s->sync_busy = 0;
		if (!s->sync_head)
			pthread_cond_broadcast(&s->exec_cv);     /* run_exec's barrier */
		if (err || broken) {
			/* the jobs stay with the rounds: the writer gives them back */
			for (r = rounds; r->next; r = r->next)
				;
			r->next = s->failed;
			s->failed = rounds;
			s->sync_broken = 1;
			s->stats.stored -= nstored;
			s->stats.duplicates -= ndup;
			s->stats.failed += nput;
			pthread_cond_signal(&s->cv);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/*
 * After a failed sync, on the writer thread once the syncer holds no
 * round: what the failed rounds stored is deleted (no 2xx left for it:
 * the sender sends it again, and finds no "duplicate" that the disk may
 * have lost), the jobs they took are due again as they were, and the WAL
 * is checkpointed whole into the database file and truncated, with real
 * syncs: the page cache still holds the frames a failed writeback may
 * have left out of the WAL on disk, and the commits after such a hole
 * would be lost with it. 0 when done: events are taken again.
 */
static int repair(struct sq *s, struct sq_round *failed)
{
	sqlite3_stmt *del = NULL, *back = NULL;
	int64_t now = wh_sq_now_ms();
	unsigned n = 0;
	int rc = sqlite3_prepare_v2(s->db, "DELETE FROM jobs WHERE id = ?1", -1, &del, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "UPDATE jobs SET state = 'retrying', next_at = ?2,"
		                        " updated_at = ?2, attempts = max(attempts - 1, 0)"
		                        " WHERE id = ?1 AND state = 'processing'", -1, &back, NULL);
	if (rc == SQLITE_OK)
		rc = step_once(s->st_begin);
	for (struct sq_round *r = failed; r && rc == SQLITE_OK; r = r->next) {
		for (unsigned i = 0; i < r->nins && rc == SQLITE_OK; i++) {
			sqlite3_bind_int64(del, 1, r->ins[i]);
			rc = step_once(del);
			n++;
		}
		for (unsigned i = 0; i < r->njobs && rc == SQLITE_OK; i++) {
			sqlite3_bind_int64(back, 1, r->jobs[i]->id);
			sqlite3_bind_int64(back, 2, now);
			rc = step_once(back);
		}
	}
	if (rc == SQLITE_OK)
		rc = step_once(s->st_commit);      /* a real sync: not deferred here */
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(del);
	sqlite3_finalize(back);
	if (rc == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc != SQLITE_OK) {
		log_failure(s, "repairing after a failed sync", sqlite3_errmsg(s->db));
		return -1;
	}
	if (s->api->log)
		s->api->log(NULL, PT_LOG_WARN, "webhook store %s: repaired after a failed sync: %u "
		            "unacknowledged event(s) removed; taking events again", s->path, n);
	s->failing = 0;
	return 0;
}

/* The writer's part of a failed sync: repair, then the failed rounds' jobs
 * are given back (their slots freed) and events are taken again; tried
 * again every WH_SQ_POLL_MS until it works. */
static void run_repair(struct sq *s)
{
	struct sq_round *failed;

	pthread_mutex_lock(&s->mu);
	failed = s->failed;
	s->failed = NULL;
	pthread_mutex_unlock(&s->mu);
	if (repair(s, failed) != 0) {
		struct sq_round *r = failed;

		s->repair_at = wh_sq_now_ms() + WH_SQ_POLL_MS;
		pthread_mutex_lock(&s->mu);
		if (r) {
			while (r->next)
				r = r->next;
			r->next = s->failed;
			s->failed = failed;
		}
		pthread_mutex_unlock(&s->mu);
		return;
	}
	while (failed) {
		struct sq_round *r = failed;

		failed = r->next;
		wh_sq_unpick(s, r->jobs, r->njobs);
		wh_sq_unpick(s, r->djobs, r->ndj);
		round_free(r);
	}
	pthread_mutex_lock(&s->mu);
	s->sync_broken = 0;
	pthread_mutex_unlock(&s->mu);
}

static void run_exec(struct sq *s, struct sq_op *op)
{
	char *msg = NULL;
	int rc;

	/* a barrier: what the rounds before it answer and hand out is
	 * posted (by the syncer) before it runs */
	pthread_mutex_lock(&s->mu);
	while (s->sync_head || s->sync_busy)
		pthread_cond_wait(&s->exec_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	rc = sqlite3_exec(s->db, op->sql, NULL, NULL, &msg);

	op->rc = rc == SQLITE_OK ? 0 : -1;
	snprintf(op->err, sizeof(op->err), "%s", msg ? msg : "");
	sqlite3_free(msg);
	pthread_mutex_lock(&s->mu);
	op->done = 1;
	pthread_cond_broadcast(&s->exec_cv);
	pthread_mutex_unlock(&s->mu);
}

static void deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void *writer_main(void *arg)
{
	struct sq *s = arg;

	for (;;) {
		struct sq_op *ops = NULL, **tail = &ops, *exec;
		int stopping, start, poll = 0, fix = 0, broken;
		int64_t fin_until = 0;
		unsigned n = 0;

		pthread_mutex_lock(&s->mu);
		for (;;) {
			struct timespec ts;

			if (s->head && s->head->type == SQ_EXEC && !s->start_req)
				break;
			if (s->stopping || s->start_req)
				break;
			/* a failed sync: repaired once the syncer let go of every
			 * round committed before it */
			if (s->sync_broken && !s->sync_head && !s->sync_busy &&
			    wh_sq_now_ms() >= s->repair_at) {
				fix = 1;
				break;
			}
			if (!s->paused && s->head) {
				/* finishes alone wait a little for puts to share their
				 * commit (an fsync of their own would delay the puts
				 * that arrive meanwhile) */
				int64_t now = wh_sq_now_ms();

				if (s->npending || (s->retry && !s->sync_broken) || !s->started)
					break;
				if (!fin_until)
					fin_until = now + WH_SQ_FIN_WAIT_MS;
				if (now >= fin_until)
					break;
				deadline(&ts, fin_until - now);
				pthread_cond_timedwait(&s->cv, &s->mu, &ts);
				continue;
			}
			if (s->started && !s->paused && wh_sq_now_ms() >= s->next_poll) {
				poll = 1;
				break;
			}
			deadline(&ts, WH_SQ_POLL_MS);
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		}
		if (fix) {
			pthread_mutex_unlock(&s->mu);
			run_repair(s);
			continue;
		}
		/* one EXEC, or up to a batch of puts and finishes */
		if (s->head && s->head->type == SQ_EXEC && !s->start_req) {
			exec = s->head;
			s->head = exec->next;
			if (!s->head)
				s->tail = NULL;
			pthread_mutex_unlock(&s->mu);
			run_exec(s, exec);
			continue;
		} else {
			while (s->head && s->head->type != SQ_EXEC && n < WH_SQ_BATCH &&
			       (!s->paused || s->stopping)) {
				struct sq_op *op = s->head;

				s->head = op->next;
				if (op->type == SQ_PUT)
					s->npending--;
				*tail = op;
				tail = &op->next;
				n++;
			}
			*tail = NULL;
		}
		if (!s->head)
			s->tail = NULL;
		stopping = s->stopping;
		start = s->start_req;
		s->start_req = 0;
		broken = s->sync_broken;
		pthread_mutex_unlock(&s->mu);

		if (start)
			wh_sq_queue_begin(s);
		if (ops || poll || start || s->retry)
			run_round(s, ops, stopping);
		if (poll || start)
			s->next_poll = wh_sq_now_ms() + WH_SQ_POLL_MS;
		if (!stopping && !broken)     /* no purge behind a failed sync */
			wh_sq_periodic(s, wh_sq_now_ms());
		if (stopping) {
			int empty;

			pthread_mutex_lock(&s->mu);
			empty = s->head == NULL;
			pthread_mutex_unlock(&s->mu);
			if (empty)
				break;
		}
	}
	return NULL;
}

int wh_sq_exec(struct wh_store *base, const char *sql, char *err, size_t errlen)
{
	struct sq *s = (struct sq *)base;
	struct sq_op op;

	memset(&op, 0, sizeof(op));
	op.type = SQ_EXEC;
	op.sql = sql;
	/* behind what is queued: it also tells a test that all before it ran */
	wh_sq_enqueue(s, &op);
	pthread_mutex_lock(&s->mu);
	while (!op.done)
		pthread_cond_wait(&s->exec_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (op.rc != 0)
		snprintf(err, errlen, "%s", op.err);
	return op.rc;
}

void wh_sq_pause(struct wh_store *base, int pause)
{
	struct sq *s = (struct sq *)base;

	pthread_mutex_lock(&s->mu);
	s->paused = pause;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void wh_store_sqlite_stats(struct wh_store *base, struct wh_store_stats *out)
{
	struct sq *s = (struct sq *)base;

	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	out->pending = s->npending;
	pthread_mutex_unlock(&s->mu);
}

static void sq_free(struct sq *s)
{
	wh_sq_queue_free(s);
	sqlite3_finalize(s->st_insert);
	sqlite3_finalize(s->st_insert_run);
	sqlite3_finalize(s->st_begin);
	sqlite3_finalize(s->st_commit);
	if (s->db)
		sqlite3_close(s->db);
	pthread_cond_destroy(&s->exec_cv);
	pthread_cond_destroy(&s->sync_cv);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->path);
	free(s);
}

/* Stops dispatching, writes what is queued (answers dropped: the workers
 * are gone), joins the writer, closes the database. */
static void sq_close(struct wh_store *base)
{
	struct sq *s = (struct sq *)base;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	s->paused = 0;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	if (s->has_syncer) {
		/* it syncs and answers (dropped) what the writer's last rounds
		 * committed, then ends */
		pthread_mutex_lock(&s->mu);
		s->sync_stop = 1;
		pthread_cond_signal(&s->sync_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->syncer, NULL);
	}
	while (s->retry) {       /* finishes the disk never took: their jobs are due at the next start */
		struct sq_op *op = s->retry;

		s->retry = op->next;
		op_free(op);
	}
	/* a job the syncer could not hand out to a stopped worker queued its
	 * finish after the writer ended: due again at the next start */
	while (s->head) {
		struct sq_op *op = s->head;

		s->head = op->next;
		if (op->type == SQ_PUT)
			wh_sq_put_unref(op);
		else if (op->type == SQ_FINISH)
			op_free(op);
	}
	while (s->failed) {      /* never repaired: the next start's recovery takes their jobs */
		struct sq_round *r = s->failed;

		s->failed = r->next;
		for (unsigned i = 0; i < r->njobs; i++)
			wh_sq_job_free(&r->jobs[i]->job);
		for (unsigned i = 0; i < r->ndj; i++)
			wh_sq_job_free(&r->djobs[i]->job);
		round_free(r);
	}
	sq_free(s);
}

static const struct wh_store_ops sq_ops = {
	.start = wh_sq_start,
	.put = sq_put,
	.finish = wh_sq_finish,
	.close = sq_close,
	.worker_stop = wh_sq_worker_stop,
};

/* SQLite's memory statistics off: with them on every allocation SQLite
 * makes takes a global mutex to count it (a writer's round makes
 * thousands); nothing in Portico reads them. Only possible before SQLite
 * initializes, which the first sqlite3_open does: this runs before the
 * store's first open, before any SQLite call of the plugin (the CLI and the
 * admin pages open files only once a store runs). Refused (SQLITE_MISUSE,
 * harmless) when something else in the process initialized SQLite
 * first. */
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void sqlite_config(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int open_db(struct sq *s, int durability, char *err, size_t errlen)
{
#define INSERT_SQL(state, attempts) \
		"INSERT INTO jobs (kind, source, event_id, type, body, headers, meta," \
		" received_at, state, attempts, max_attempts, base, cap, ordered, next_at," \
		" updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '" state "', " attempts ", ?9," \
		" ?10, ?11, ?12, ?8, ?13) ON CONFLICT (kind, source, event_id) DO NOTHING"
	static const char insert_sql[] = INSERT_SQL("received", "0");
	/* the same with the job taken at once: "processing", its first attempt */
	static const char run_sql[] = INSERT_SQL("processing", "1");
	char pragmas[160], *msg = NULL;
	sqlite3_stmt *st;
	int rc;

	pthread_once(&config_once, sqlite_config);
	/* no mutex: one thread at a time uses the connection (this one, then
	 * the writer thread alone, then sq_free after joining it); locking
	 * it for every call cost 3% of the writer's instructions */
	rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                     SQLITE_OPEN_NOMUTEX,
	                     durability == WH_DUR_NORMAL ? NULL : wh_sq_wal_vfs());
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s", s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		return -1;
	}
	sqlite3_busy_timeout(s->db, WH_SQ_BUSY_MS);
	/* checkpoints by the writer after its rounds (checkpoint()); this
	 * replaces SQLite's automatic checkpoint, which is a WAL hook too */
	sqlite3_wal_hook(s->db, wal_hook, s);
	sqlite3_extended_result_codes(s->db, 1);
	/* journal_mode answers the mode in force: WAL needs shared memory */
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(st, 0);

		rc = mode && !strcmp(mode, "wal") ? SQLITE_OK : SQLITE_CANTOPEN;
		if (rc != SQLITE_OK)
			snprintf(err, errlen, "WAL mode refused (journal_mode %s)", mode ? mode : "?");
	} else {
		snprintf(err, errlen, "%s", sqlite3_errmsg(s->db));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return -1;
	/* journal_size_limit: a burst's WAL is cut back to 64 MiB after its
	 * checkpoint instead of keeping its peak size on disk */
	snprintf(pragmas, sizeof(pragmas), "PRAGMA synchronous = %s;"
	         "PRAGMA journal_size_limit = 67108864;",
	         durability == WH_DUR_NORMAL ? "NORMAL" : "FULL");
	if (sqlite3_exec(s->db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : "PRAGMA failed");
		sqlite3_free(msg);
		return -1;
	}
	if (wh_sq_schema(s->db, 1, err, errlen) != 0)
		return -1;
	if (sqlite3_prepare_v2(s->db, insert_sql, -1, &s->st_insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, run_sql, -1, &s->st_insert_run, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->st_begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->st_commit, NULL) != SQLITE_OK ||
	    wh_sq_queue_prepare(s) != 0) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

/*
 * Opens (creating it, its directory 0700 and the file 0600) the store at
 * O->path and starts its writer thread. 0 and *OUT, or -1 with ERR
 * naming the file and the reason.
 */
int wh_store_sqlite_open(const struct pt_api *api, const struct wh_opts *o,
                         struct wh_store **out, char *err, size_t errlen)
{
	struct sq *s;
	pthread_condattr_t ca;
	char why[200] = "";

	*out = NULL;
	if (!o->path || !*o->path) {
		snprintf(err, errlen, "webhook store: no path (var_dir unset?)");
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(o->path))) {
		free(s);
		snprintf(err, errlen, "webhook store: out of memory");
		return -1;
	}
	s->base.ops = &sq_ops;
	s->api = api;
	s->lock_fd = -1;
	s->retention_ms = (o->retention_s > 0 ? o->retention_s : 30 * 86400) * 1000;
	s->max_pending = o->max_pending ? o->max_pending : 10000;
	s->per_worker = o->per_worker ? o->per_worker : 64;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->exec_cv, NULL);
	pthread_cond_init(&s->sync_cv, NULL);
	if (wh_sq_make_file(s->path, why, sizeof(why)) != 0 ||
	    wh_sq_lock(s->path, &s->lock_fd, why, sizeof(why)) != 0 ||
	    open_db(s, o->durability, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "webhook store %s: %s", o->path, why);
		sq_free(s);
		return -1;
	}
	/* the commit's sync on a thread of its own: durability "full" (on the
	 * VFS that can defer it) */
	s->has_syncer = o->durability != WH_DUR_NORMAL && wh_sq_wal_vfs() != NULL;
	if (s->has_syncer && pthread_create(&s->syncer, NULL, syncer_main, s) != 0) {
		snprintf(err, errlen, "webhook store %s: cannot start its sync thread", o->path);
		sq_free(s);
		return -1;
	}
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
		snprintf(err, errlen, "webhook store %s: cannot start its thread", o->path);
		if (s->has_syncer) {
			pthread_mutex_lock(&s->mu);
			s->sync_stop = 1;
			pthread_cond_signal(&s->sync_cv);
			pthread_mutex_unlock(&s->mu);
			pthread_join(s->syncer, NULL);
		}
		sq_free(s);
		return -1;
	}
	*out = &s->base;
	return 0;
}
