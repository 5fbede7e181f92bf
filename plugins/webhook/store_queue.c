/*
 * store_queue.c - the embedded store's queue: which due jobs go to which
 * worker, what finish() writes, recovery at start, retention, queue lag.
 * Everything here but wh_sq_start, wh_sq_finish and wh_sq_job_free runs on
 * the writer thread (store_sqlite.c), inside or between its transactions.
 *
 * Due: state received or retrying with next_at <= now, oldest due first.
 * A job handed out is marked processing (attempts + 1) in the same
 * transaction as the round's puts, so dispatch costs no fsync of its own.
 * A round dispatches what was due before its own puts first; the slots
 * left go to those puts directly (inserted as processing, the job made
 * from the put's copy: wh_sq_job_from_put), so an event that finds the
 * queue idle is never read back from the file.
 * An ordered source runs only its oldest unfinished job: a job waiting
 * for a retry holds the ones behind it. Only ordered jobs hold each
 * other (jobs_open indexes them alone): jobs a source stored before it
 * was made ordered were never promised an order and hold nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_sqlite.h"

#define MAX_LAG_SOURCES 10000

static const char due_sql[] =
	"SELECT id, kind, source, event_id, type, body, headers, meta, received_at,"
	" attempts, max_attempts, base, cap FROM jobs"
	" WHERE (state = 'received' OR state = 'retrying') AND next_at <= ?1"
	" AND (ordered = 0 OR NOT EXISTS (SELECT 1 FROM jobs o WHERE o.kind = jobs.kind"
	"  AND o.source = jobs.source AND o.id < jobs.id AND o.ordered = 1"
	"  AND (o.state = 'received' OR o.state = 'retrying' OR o.state = 'processing')))"
	" ORDER BY next_at, id LIMIT ?2";

int wh_sq_queue_prepare(struct sq *s)
{
	static const char take_sql[] =
		"UPDATE jobs SET state = 'processing', attempts = attempts + 1,"
		" updated_at = ?2 WHERE id = ?1";
	static const char attempt_sql[] =
		"INSERT INTO attempts (job_id, n, at, outcome, status, error, duration_ms)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
	static const char finish_sql[] =
		"UPDATE jobs SET state = ?2, next_at = ?3, updated_at = ?4, last_error = ?5,"
		" last_status = ?6 WHERE id = ?1";

	if (sqlite3_prepare_v2(s->db, due_sql, -1, &s->st_due, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, take_sql, -1, &s->st_take, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, attempt_sql, -1, &s->st_attempt, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, finish_sql, -1, &s->st_finish, NULL) != SQLITE_OK)
		return -1;
	return 0;
}

void wh_sq_put_unref(struct sq_op *op)
{
	if (__atomic_sub_fetch(&op->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(op);
}

void wh_sq_job_free(struct wh_job *job)
{
	struct sq_job *j = (struct sq_job *)job;

	if (!job)
		return;
	if (j->put) {                 /* its fields are the put's */
		wh_sq_put_unref(j->put);
		free(j);
		return;
	}
	free(job->source);
	free(job->event_id);
	free(job->type);
	free(job->body);
	free(job->headers_json);
	free(job->meta_json);
	free(job);   /* the struct sq_job it begins */
}

void wh_sq_key(char *key, int64_t id)
{
	char tmp[24];
	unsigned n = 0;
	uint64_t v = id < 0 ? 0 - (uint64_t)id : (uint64_t)id;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (id < 0)
		*key++ = '-';
	while (n)
		*key++ = tmp[--n];
	*key = '\0';
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);
	char *r;

	if (!t)
		return NULL;
	r = malloc((size_t)n + 1);
	if (r) {
		memcpy(r, t, (size_t)n);
		r[n] = '\0';
	}
	return r;
}

static struct sq_job *job_from_row(struct sq *s, sqlite3_stmt *st, int64_t now)
{
	struct sq_job *j = calloc(1, sizeof(*j));
	const void *body;
	int n;

	if (!j)
		return NULL;
	j->store = s;
	j->id = sqlite3_column_int64(st, 0);
	j->started_ms = now;
	j->job.kind = sqlite3_column_int(st, 1);
	wh_sq_key(j->job.key, j->id);
	j->job.source = col_dup(st, 2);
	j->job.event_id = col_dup(st, 3);
	j->job.type = col_dup(st, 4);
	body = sqlite3_column_blob(st, 5);
	n = sqlite3_column_bytes(st, 5);
	j->job.body = malloc((size_t)n + 1);   /* NUL after it: handlers may read it as text */
	if (j->job.body) {
		if (n)
			memcpy(j->job.body, body, (size_t)n);
		j->job.body[n] = '\0';
	}
	j->job.body_len = (size_t)n;
	j->job.headers_json = col_dup(st, 6);
	j->job.meta_json = col_dup(st, 7);
	j->job.received_at_ms = sqlite3_column_int64(st, 8);
	j->job.attempt = sqlite3_column_int(st, 9) + 1;
	j->job.max_attempts = sqlite3_column_int(st, 10);
	j->job.base = sqlite3_column_double(st, 11);
	j->job.cap = sqlite3_column_double(st, 12);
	if (!j->job.source || !j->job.event_id || !j->job.type || !j->job.body) {
		wh_sq_job_free(&j->job);
		return NULL;
	}
	return j;
}

/* Round-robin over the workers with a free slot (one that stopped
 * meanwhile gets it anyway: hand_out sends the job back). */
static void assign(struct sq *s, struct sq_job *j)
{
	for (unsigned k = 0; k < s->nworkers &&
	     (s->inflight[s->rr % s->nworkers] >= s->per_worker ||
	      __atomic_load_n(&s->gone[s->rr % s->nworkers], __ATOMIC_ACQUIRE)); k++)
		s->rr++;
	j->worker = s->rr % s->nworkers;
	s->inflight[j->worker]++;
	s->rr++;
}

unsigned wh_sq_free_slots(struct sq *s)
{
	unsigned slots = 0;

	for (unsigned i = 0; i < s->nworkers; i++)
		if (!__atomic_load_n(&s->gone[i], __ATOMIC_ACQUIRE) && s->inflight[i] < s->per_worker)
			slots += s->per_worker - s->inflight[i];
	return slots;
}

/*
 * The job of a put just inserted as "processing" (row ID), made from the
 * put's own copy of the event: no reading back what was just written, and
 * no copying it again either: the job's fields point into OP's
 * allocation, which it holds a reference to. Assigned a worker slot. NULL
 * when out of memory.
 */
struct sq_job *wh_sq_job_from_put(struct sq *s, struct sq_op *op, int64_t id, int64_t now)
{
	struct sq_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->store = s;
	j->id = id;
	j->started_ms = now;
	j->put = op;
	__atomic_add_fetch(&op->refs, 1, __ATOMIC_RELAXED);
	j->job.kind = op->kind;
	wh_sq_key(j->job.key, id);
	j->job.source = op->source;
	j->job.event_id = op->event_id;
	j->job.type = op->type_s;
	j->job.body = op->body;       /* NUL after it, as job_from_row's */
	j->job.body_len = op->body_len;
	j->job.headers_json = op->headers;
	j->job.meta_json = op->meta;
	j->job.received_at_ms = op->received_at_ms;
	j->job.attempt = 1;
	j->job.max_attempts = op->max_attempts;
	j->job.base = op->base;
	j->job.cap = op->cap;
	assign(s, j);
	return j;
}

int wh_sq_dispatch(struct sq *s, struct sq_job ***out, unsigned *n)
{
	struct sq_job **jobs;
	unsigned slots, got = 0;
	int64_t now = wh_sq_now_ms();
	int rc;

	*out = NULL;
	*n = 0;
	slots = wh_sq_free_slots(s);
	if (slots == 0)
		return SQLITE_OK;
	jobs = calloc(slots, sizeof(*jobs));
	if (!jobs)
		return SQLITE_NOMEM;
	sqlite3_bind_int64(s->st_due, 1, now);
	sqlite3_bind_int64(s->st_due, 2, slots);
	while (got < slots && (rc = sqlite3_step(s->st_due)) == SQLITE_ROW) {
		struct sq_job *j = job_from_row(s, s->st_due, now);

		if (!j) {
			rc = SQLITE_NOMEM;
			break;
		}
		jobs[got++] = j;
	}
	sqlite3_reset(s->st_due);
	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	/* marked after the scan: changing rows under an open cursor on
	 * the same index may skip or repeat them */
	for (unsigned i = 0; i < got && rc == SQLITE_DONE; i++) {
		sqlite3_bind_int64(s->st_take, 1, jobs[i]->id);
		sqlite3_bind_int64(s->st_take, 2, now);
		rc = sqlite3_step(s->st_take);
		sqlite3_reset(s->st_take);
	}
	if (rc != SQLITE_DONE) {
		for (unsigned i = 0; i < got; i++)
			wh_sq_job_free(&jobs[i]->job);
		free(jobs);
		return rc;
	}
	for (unsigned i = 0; i < got; i++)
		assign(s, jobs[i]);
	*out = jobs;
	*n = got;
	return SQLITE_OK;
}

/* The round's transaction failed: the jobs stay where they were. */
void wh_sq_unpick(struct sq *s, struct sq_job **jobs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		s->inflight[jobs[i]->worker]--;
		wh_sq_job_free(&jobs[i]->job);
	}
}

static void job_task(void *ud)
{
	struct sq_job *j = ud;
	struct sq *s = j->store;

	s->job_fn(s->workers[j->worker], &j->job, s->job_ud);
}

void wh_sq_hand_out(struct sq *s, struct sq_job **jobs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct sq_job *j = jobs[i];

		if (__atomic_load_n(&s->gone[j->worker], __ATOMIC_ACQUIRE) ||
		    s->api->post(s->workers[j->worker], job_task, j) != 0) {
			/* due again at once, through the writer (an attempt
			 * of its own: a job that cannot be handed out ends) */
			wh_sq_finish(&s->base, &j->job, WH_RETRY, wh_sq_now_ms(), 0,
			             "could not be handed to its worker");
		}
	}
}

/* Bound values: text or NULL. */
static void bind_text_or_null(sqlite3_stmt *st, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(st, i, t, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

int wh_sq_finish_record(struct sq *s, struct sq_op *op)
{
	static const char *const outcome[] = { "?", "done", "retry", "dead" };
	static const char *const state[] = { WH_STATE_RETRYING, WH_STATE_DONE, WH_STATE_RETRYING,
	                                     WH_STATE_DEAD };
	int64_t now = wh_sq_now_ms();
	int o = op->outcome >= WH_DONE && op->outcome <= WH_DEAD ? op->outcome : 0;
	int rc;

	if (!op->done && s->started && op->worker < s->nworkers && s->inflight[op->worker]) {
		s->inflight[op->worker]--;
		op->done = 1;
	}
	if (o == WH_DONE)          /* the job's row records it (WH_SQ_DONE_ATTEMPT) */
		goto job;
	sqlite3_bind_int64(s->st_attempt, 1, op->job_id);
	sqlite3_bind_int(s->st_attempt, 2, op->attempt);
	sqlite3_bind_int64(s->st_attempt, 3, now);
	sqlite3_bind_text(s->st_attempt, 4, outcome[o], -1, SQLITE_STATIC);
	if (op->status > 0)
		sqlite3_bind_int(s->st_attempt, 5, op->status);
	else
		sqlite3_bind_null(s->st_attempt, 5);
	bind_text_or_null(s->st_attempt, 6, op->error);
	sqlite3_bind_int64(s->st_attempt, 7, op->duration_ms);
	rc = sqlite3_step(s->st_attempt);
	sqlite3_reset(s->st_attempt);
	if (rc != SQLITE_DONE)
		return rc;
job:
	sqlite3_bind_int64(s->st_finish, 1, op->job_id);
	/* an unknown outcome retries: never lose a job to a caller's mistake;
	 * done: next_at is when the run started (its duration, for show) */
	sqlite3_bind_text(s->st_finish, 2, state[o], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->st_finish, 3, o == WH_RETRY || o == 0 ? op->next_at_ms :
	                   o == WH_DONE ? now - (op->duration_ms > 0 ? op->duration_ms : 0) : now);
	sqlite3_bind_int64(s->st_finish, 4, now);
	bind_text_or_null(s->st_finish, 5, op->error);
	if (op->status > 0)
		sqlite3_bind_int(s->st_finish, 6, op->status);
	else
		sqlite3_bind_null(s->st_finish, 6);
	rc = sqlite3_step(s->st_finish);
	sqlite3_reset(s->st_finish);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * Records JOB's run: the writer writes the attempt and the new state in
 * its next transaction. Frees JOB. Any thread.
 */
void wh_sq_finish(struct wh_store *base, struct wh_job *job, int outcome, int64_t next_at_ms,
                  int status, const char *error)
{
	struct sq *s = (struct sq *)base;
	struct sq_job *j = (struct sq_job *)job;
	struct sq_op *op = calloc(1, sizeof(*op));

	/* a handler's error may be a long traceback: its start is kept, cut
	 * before a character, not inside one */
	if (op && error) {
		size_t n = strnlen(error, WH_SQ_MAX_ERROR + 1);

		if (n > WH_SQ_MAX_ERROR) {
			n = WH_SQ_MAX_ERROR;
			while (n > 0 && ((unsigned char)error[n] & 0xc0) == 0x80)
				n--;
		}
		op->error = strndup(error, n);
	}
	if (!op || (error && !op->error)) {
		/* the job stays "processing": due again at the next start */
		if (s->api->log)
			s->api->log(NULL, PT_LOG_ERROR, "webhook store: out of memory finishing job %lld",
			            (long long)j->id);
		free(op);
		wh_sq_job_free(job);
		return;
	}
	op->type = SQ_FINISH;
	op->job_id = j->id;
	op->worker = j->worker;
	op->attempt = job->attempt;
	op->outcome = outcome;
	op->next_at_ms = next_at_ms;
	op->status = status;
	op->duration_ms = wh_sq_now_ms() - j->started_ms;
	wh_sq_job_free(job);
	wh_sq_enqueue(s, op);
}

int wh_sq_start(struct wh_store *base, pt_worker *const *workers, unsigned n,
                unsigned per_worker, wh_job_fn job_fn, void *ud)
{
	struct sq *s = (struct sq *)base;
	pt_worker **w;
	unsigned *inflight;
	int *gone;

	if (n == 0 || !job_fn)
		return WH_EIO;
	w = malloc(n * sizeof(*w));
	inflight = calloc(n, sizeof(*inflight));
	gone = calloc(n, sizeof(*gone));
	if (!w || !inflight || !gone) {
		free(w);
		free(inflight);
		free(gone);
		return WH_EIO;
	}
	memcpy(w, workers, n * sizeof(*w));
	pthread_mutex_lock(&s->mu);
	if (s->workers || s->stopping) {
		pthread_mutex_unlock(&s->mu);
		free(w);
		free(inflight);
		free(gone);
		return WH_EIO;
	}
	s->workers = w;
	s->inflight = inflight;
	s->gone = gone;
	s->nworkers = n;
	if (per_worker)
		s->per_worker = per_worker;
	s->job_fn = job_fn;
	s->job_ud = ud;
	s->start_req = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* One chunk of the retention purge; 1 when more is left (the writer comes
 * back for it at its next wake, so puts never wait long behind it). */
/* On W's thread as it stops: no job and no put's answer is posted to it
 * after this (they would never run). Jobs it was running stay processing
 * in the file: due again at the next start. */
void wh_sq_worker_stop(struct wh_store *base, pt_worker *w)
{
	struct sq *s = (struct sq *)base;

	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < s->nworkers; i++)
		if (s->workers[i] == w)
			__atomic_store_n(&s->gone[i], 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->mu);
}

/* Writer thread: workers is set before started, and never changes. */
int wh_sq_worker_gone(struct sq *s, pt_worker *w)
{
	if (!s->started)
		return 0;
	for (unsigned i = 0; i < s->nworkers; i++)
		if (s->workers[i] == w)
			return __atomic_load_n(&s->gone[i], __ATOMIC_ACQUIRE);
	return 0;
}

static int purge(struct sq *s, int64_t now)
{
	int64_t n = 0;
	int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = wh_sq_purge(s->db, now - s->retention_ms, WH_SQ_PURGE_CHUNK, &n);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		if (s->api->log)
			s->api->log(NULL, PT_LOG_ERROR, "webhook store %s: retention purge: %s",
			            s->path, sqlite3_errmsg(s->db));
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return 0;
	}
	s->purged += n;
	if (n < WH_SQ_PURGE_CHUNK && s->purged) {
		if (s->api->log)
			s->api->log(NULL, PT_LOG_INFO, "webhook store: purged %lld finished jobs older "
			            "than the retention", (long long)s->purged);
		s->purged = 0;
	}
	return n == WH_SQ_PURGE_CHUNK;
}

/* start(): what a dead process left in "processing" is due again, then a
 * retention purge; dispatching begins with the next round. */
void wh_sq_queue_begin(struct sq *s)
{
	static const char recover_sql[] =
		"UPDATE jobs SET state = 'retrying', next_at = ?1, updated_at = ?1,"
		" last_error = 'interrupted: the process stopped during the run'"
		" WHERE state = 'processing'";
	int64_t now = wh_sq_now_ms();
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, recover_sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, now);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE && sqlite3_changes(s->db) && s->api->log)
			s->api->log(NULL, PT_LOG_WARN, "webhook store: %d job(s) interrupted by the "
			            "last stop are due again", sqlite3_changes(s->db));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && s->api->log)
		s->api->log(NULL, PT_LOG_ERROR, "webhook store %s: recovering interrupted jobs: %s",
		            s->path, sqlite3_errmsg(s->db));
	s->next_purge = purge(s, now) ? now : now + WH_SQ_PURGE_MS;
	s->next_poll = 0;
	s->started = 1;
}

static void lags_free(struct sq_lag *l, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(l[i].source);
	free(l);
}

/*
 * Age of each inbound source's oldest due job (since it became due);
 * sources that had one last time and have none now get 0. The sources are
 * found by skipping through jobs_src_due, one seek each, and so is each
 * one's oldest: cheap however long the queue is.
 */
static void report_lag(struct sq *s, int64_t now)
{
	static const char sql[] =
		"WITH RECURSIVE src(s) AS ("
		" SELECT (SELECT MIN(source) FROM jobs WHERE kind = 1"
		"  AND (state = 'received' OR state = 'retrying'))"
		" UNION ALL SELECT (SELECT MIN(source) FROM jobs WHERE kind = 1"
		"  AND (state = 'received' OR state = 'retrying') AND source > src.s)"
		" FROM src WHERE src.s IS NOT NULL LIMIT 100000)"
		" SELECT s, (SELECT MIN(next_at) FROM jobs WHERE kind = 1"
		"  AND (state = 'received' OR state = 'retrying') AND source = src.s)"
		" FROM src WHERE s IS NOT NULL";
	struct sq_lag *nl = NULL;
	unsigned nn = 0;
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *src = (const char *)sqlite3_column_text(st, 0);
		int64_t at = sqlite3_column_int64(st, 1);

		if (!src || at > now)       /* nothing of it due yet */
			continue;
		wh_metrics_lag(src, (double)(now - at) / 1000.0);
		if (nn < MAX_LAG_SOURCES && nn % 16 == 0) {
			struct sq_lag *g = realloc(nl, (nn + 16) * sizeof(*nl));

			if (!g)
				continue;
			nl = g;
		}
		if (nn < MAX_LAG_SOURCES && (nl[nn].source = strdup(src)))
			nn++;
	}
	sqlite3_finalize(st);
	for (unsigned i = 0; i < s->nlags; i++) {
		unsigned k = 0;

		while (k < nn && strcmp(nl[k].source, s->lags[i].source))
			k++;
		if (k == nn)
			wh_metrics_lag(s->lags[i].source, 0);
	}
	lags_free(s->lags, s->nlags);
	s->lags = nl;
	s->nlags = nn;
}

void wh_sq_periodic(struct sq *s, int64_t now)
{
	if (!s->started)
		return;
	if (now >= s->next_lag) {
		report_lag(s, now);
		s->next_lag = now + WH_SQ_LAG_MS;
	}
	if (now >= s->next_purge)
		s->next_purge = purge(s, now) ? now : now + WH_SQ_PURGE_MS;
}

void wh_sq_queue_free(struct sq *s)
{
	sqlite3_finalize(s->st_due);
	sqlite3_finalize(s->st_take);
	sqlite3_finalize(s->st_attempt);
	sqlite3_finalize(s->st_finish);
	lags_free(s->lags, s->nlags);
	free(s->workers);
	free(s->inflight);
	free(s->gone);
}
