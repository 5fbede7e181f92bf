/*
 * store_sqlite.h - inside the embedded store: what store_file.c (the
 * file, its lock and schema), store_sqlite.c (the connection, the writer
 * thread, puts), store_queue.c (dispatching jobs, finishing them,
 * recovery, retention, lag) and cli.c share. Not part of
 * the contract between the plugin's parts (that is wh.h).
 */
#ifndef PORTICO_WH_STORE_SQLITE_H
#define PORTICO_WH_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>
#include "wh.h"

#define WH_SQ_SCHEMA 1          /* PRAGMA user_version this code writes and reads */
#define WH_SQ_POLL_MS 250       /* how often retries and CLI replays are looked for */
#define WH_SQ_LAG_MS 1000       /* how often queue lag is reported */
#define WH_SQ_PURGE_MS (3600 * 1000)
#define WH_SQ_PURGE_CHUNK 2000  /* jobs per purge transaction: puts wait at most one */
#define WH_SQ_FIN_WAIT_MS 5     /* finishes alone wait this long for puts to share a commit */
#define WH_SQ_BATCH 512         /* operations per transaction at most */
#define WH_SQ_MAX_ERROR 4096     /* bytes of a finish's error kept */
#define WH_SQ_BUSY_MS 5000      /* busy_timeout: the CLI may hold the write lock briefly */
#define WH_SQ_CHECKPOINT 1000   /* WAL frames that make the writer checkpoint (SQLite's default) */

enum { SQ_PUT = 1, SQ_FINISH, SQ_EXEC };

/* One request to the writer thread. PUT and FINISH are owned by the queue
 * (then by the writer); EXEC belongs to the thread waiting for it. */
struct sq_op {
	struct sq_op *next;
	int type;
	/* PUT: the event, copied into this allocation; the answer */
	pt_worker *w;
	wh_put_fn cb;
	void *ud;
	int kind, max_attempts, ordered;
	char *source, *event_id, *type_s, *headers, *meta;
	unsigned char *body;
	size_t body_len;
	int64_t received_at_ms;
	double base, cap;
	int rc;
	char err[200];
	/* FINISH */
	int64_t job_id, next_at_ms, duration_ms;
	unsigned worker;
	int attempt, outcome, status;
	char *error;
	/* EXEC (tests): SQL to run on the writer's connection */
	const char *sql;
	int done;                     /* EXEC: ran; FINISH: its worker slot is released */
	/* PUT: owners of this allocation (atomic): the put until answered,
	 * and the job made from it (its strings and body point into it) */
	int refs;
};

/* A job as handed out: the contract's struct first, so finish can find the
 * rest from the pointer it is given. */
struct sq_job {
	struct wh_job job;
	struct sq_op *put;            /* the put whose copy the job's fields are (a ref), or NULL: owned */
	struct sq *store;
	int64_t id;
	unsigned worker;
	int64_t started_ms;
};

struct sq_lag {
	char *source;
};

/* A committed round whose answers and jobs wait for the sync it owes
 * (durability "full": the syncer thread's, store_sqlite.c). */
struct sq_round {
	struct sq_round *next;
	int fd;                       /* the WAL descriptor to fdatasync, or -1: none owed */
	int drop;                     /* closing: answers dropped */
	struct sq_op *puts;           /* answered once synced */
	struct sq_job **jobs, **djobs;/* handed out once synced (jobs taken, jobs of puts) */
	unsigned njobs, ndj;
	int64_t *ins;                 /* rows its puts inserted: a failed sync deletes them */
	unsigned nins;
};

struct sq {
	struct wh_store base;
	const struct pt_api *api;
	sqlite3 *db;                  /* the write connection: the writer thread's only */
	char *path;
	int lock_fd;                  /* PATH.lock, held while open (-1: none) */
	int64_t retention_ms;
	unsigned max_pending;

	pthread_t thread;
	pthread_mutex_t mu;           /* guards everything down to the stats */
	pthread_cond_t cv;            /* the writer waits on it */
	pthread_cond_t exec_cv;       /* EXEC callers wait on it */
	struct sq_op *head, *tail;
	unsigned npending;            /* puts queued */
	int stopping, paused;
	int start_req;                /* start() asked; the writer recovers, then dispatches */
	struct wh_store_stats stats;

	/* the syncer (durability "full"; under mu): the commit's fsync off
	 * the writer's path, so that the writer stores the next round while
	 * the disk syncs the last one */
	pthread_t syncer;
	int has_syncer;
	pthread_cond_t sync_cv;       /* the syncer waits on it */
	struct sq_round *sync_head, *sync_tail;
	int sync_busy;                /* the syncer holds rounds it took */
	int sync_stop;
	int sync_broken;              /* a deferred sync failed: nothing stored until repaired */
	struct sq_round *failed;      /* the rounds it failed, for the writer's repair */

	/* the writer thread's own from here (set under mu by start) */
	int started;
	pt_worker **workers;
	unsigned nworkers, per_worker, rr, *inflight;
	int *gone;                    /* worker_stop ran for it (atomic): nothing more goes there */
	wh_job_fn job_fn;
	void *job_ud;
	struct sq_op *retry;          /* finishes whose transaction failed: tried again */
	int failing;                  /* a failure was logged; a success logs recovery */
	int wal_frames;               /* frames in the WAL after the last commit (its hook) */
	int64_t repair_at;            /* sync_broken: when the writer tries its repair again */
	int64_t next_poll, next_lag, next_purge;
	struct sq_lag *lags;          /* sources reported with a lag > 0 last time */
	int64_t purged;               /* by the purge under way, for its log line */
	unsigned nlags;
	sqlite3_stmt *st_insert, *st_insert_run, *st_attempt, *st_finish, *st_due, *st_take;
	sqlite3_stmt *st_begin, *st_commit;
};

/*
 * A successful run is recorded in its job's row alone, not as a row of
 * attempts (that INSERT was a tenth of the writer's work per event): state
 * done, attempts its number, updated_at when it ended, next_at when it
 * started, last_status its HTTP status (outbound). WH_SQ_DONE_ATTEMPT is
 * that run as a row of attempts (job_id, n, at, outcome, status, error,
 * duration_ms), for the jobs it selects ("AND ..." may follow); a done row
 * that a row of attempts already records (one written before this
 * change: same outcome, same time) is left out. WH_SQ_KEEP_DONE writes
 * those rows into attempts: what a replay runs first, in its transaction,
 * before it makes done jobs due again.
 */
#define WH_SQ_DONE_ATTEMPT \
	"SELECT id, attempts, updated_at, 'done', last_status, NULL, updated_at - next_at" \
	" FROM jobs WHERE state = 'done' AND NOT EXISTS (SELECT 1 FROM attempts a" \
	" WHERE a.job_id = jobs.id AND a.outcome = 'done' AND a.at = jobs.updated_at)"
/* Every run of job ?1 in order (job_id, n, at, outcome, status, error,
 * duration_ms, k): its rows of attempts and the success its row records;
 * what `portico webhooks show` and the admin page's job list. */
#define WH_SQ_RUNS_OF_JOB \
	"SELECT job_id, n, at, outcome, status, error, duration_ms, rowid AS k FROM attempts" \
	" WHERE job_id = ?1 UNION ALL SELECT *, 9223372036854775807 FROM (" \
	WH_SQ_DONE_ATTEMPT " AND id = ?1) ORDER BY k"
#define WH_SQ_KEEP_DONE \
	"INSERT INTO attempts (job_id, n, at, outcome, status, error, duration_ms) " \
	WH_SQ_DONE_ATTEMPT

int64_t wh_sq_now_ms(void);

/* ID in decimal into KEY (a job's key: room for 21 bytes), without
 * snprintf (a writer's round formats one for every event). */
void wh_sq_key(char *key, int64_t id);

/* WH_EFULL for SQLITE_FULL, else WH_EIO. */
int wh_sq_errcode(int rc);

/* Checks DB's schema: creates it when CREATE and the file is new, migrates
 * older versions; -1 with ERR ("file is not a database", "made by a newer
 * portico: schema 7, this one reads 1"). */
int wh_sq_schema(sqlite3 *db, int create, char *err, size_t errlen);

/* Creates PATH's missing directories 0700 and PATH 0600 (a new file and
 * its directory entry fsynced). 0 or -1 with ERR. */
int wh_sq_make_file(const char *path, char *err, size_t errlen);
/* The name of the VFS that gathers a WAL's writes into one pwrite per
 * sync (store_file.c; for durability "full" only), or NULL: the default. */
const char *wh_sq_wal_vfs(void);
/* The calling thread's WAL syncs deferred (1) or real (0); after a
 * deferred commit, the descriptor whose fdatasync it owes, or -1 when it
 * asked for no sync (store_file.c). */
void wh_sq_defer_sync(int on);
int wh_sq_deferred_fd(void);
/* Takes PATH.lock for this process (*LOCK_FD, to close); -1 with ERR when
 * another process holds it. */
int wh_sq_lock(const char *path, int *lock_fd, char *err, size_t errlen);

/* Deletes done and dead jobs finished before BEFORE_MS (the LIMIT oldest
 * of them; 0: all) and their attempts; *N their count. SQLite's result
 * code. In the caller's transaction. */
int wh_sq_purge(sqlite3 *db, int64_t before_ms, int limit, int64_t *n);

/* store_queue.c, on the writer thread. */
int wh_sq_queue_prepare(struct sq *s);
void wh_sq_queue_begin(struct sq *s);          /* start(): recovery and a purge */
int wh_sq_finish_record(struct sq *s, struct sq_op *op);
/* Picks due jobs for the free slots and marks them processing, in the
 * open transaction; *OUT the list (not handed out yet). */
int wh_sq_dispatch(struct sq *s, struct sq_job ***out, unsigned *n);
void wh_sq_hand_out(struct sq *s, struct sq_job **jobs, unsigned n);
/* Free worker slots now (writer thread). */
unsigned wh_sq_free_slots(struct sq *s);
/* The job of put OP, just inserted as "processing" with row ID, made from
 * OP's copy of the event and given a worker slot; NULL: no memory. */
struct sq_job *wh_sq_job_from_put(struct sq *s, struct sq_op *op, int64_t id,
                                  int64_t now);
void wh_sq_unpick(struct sq *s, struct sq_job **jobs, unsigned n);
void wh_sq_periodic(struct sq *s, int64_t now);
void wh_sq_queue_free(struct sq *s);
void wh_sq_job_free(struct wh_job *job);
/* Drops a reference to put OP (wh_sq_job_free drops its job's). */
void wh_sq_put_unref(struct sq_op *op);
/* Queues OP for the writer and wakes it (store_sqlite.c). */
void wh_sq_enqueue(struct sq *s, struct sq_op *op);
void wh_sq_finish(struct wh_store *s, struct wh_job *job, int outcome, int64_t next_at_ms,
                  int status, const char *error);
int wh_sq_start(struct wh_store *s, pt_worker *const *workers, unsigned n,
                unsigned per_worker, wh_job_fn job_fn, void *ud);
void wh_sq_worker_stop(struct wh_store *s, pt_worker *w);
/* Whether W stopped (worker_stop): nothing is posted to it any more. */
int wh_sq_worker_gone(struct sq *s, pt_worker *w);

/* Tests: run SQL on the writer's connection (e.g. PRAGMA max_page_count,
 * which is per connection) after everything queued before it; waits (so
 * it is also a barrier). 0 or -1 with ERR. PAUSE holds the writer (1) or
 * lets it go (0): puts pile up; no EXEC behind them runs while paused. */
int wh_sq_exec(struct wh_store *s, const char *sql, char *err, size_t errlen);
void wh_sq_pause(struct wh_store *s, int pause);

#endif
