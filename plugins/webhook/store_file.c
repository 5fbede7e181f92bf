/*
 * store_file.c - the embedded store's file: made 0600 in a directory made
 * 0700, locked against a second daemon, its schema created or checked,
 * and finished jobs purged. Shared by the store (store_sqlite.c) and the
 * CLI (cli.c).
 *
 * Schema (PRAGMA user_version = 1; times are unix milliseconds):
 *
 *   jobs      one inbound event or outbound delivery
 *     id INTEGER PRIMARY KEY   the key the CLI shows ("webhooks show 42")
 *     kind INTEGER             1 inbound, 2 outbound
 *     source TEXT              inbound: the source's name; outbound: the target
 *     event_id TEXT            UNIQUE (kind, source, event_id): the dedup key
 *     type TEXT, body BLOB (raw bytes), headers TEXT (JSON), meta TEXT (JSON)
 *     received_at INTEGER
 *     state TEXT               received, processing, done, retrying, dead
 *     attempts INTEGER         runs started (replay sets it back to 0)
 *     max_attempts INTEGER, base REAL, cap REAL, ordered INTEGER
 *     next_at INTEGER          due from then (received, retrying)
 *     updated_at INTEGER       last state change (retention counts from it)
 *     last_error TEXT, last_status INTEGER
 *   attempts  one row per finished run
 *     job_id, n, at, outcome (done|retry|dead), status (HTTP or 0), error,
 *     duration_ms
 *
 * Indexes: jobs_due (next_at) over received/retrying, what the dispatcher
 * reads oldest first; jobs_src_due (kind, source, next_at), the same rows
 * per source, what queue lag reads (one index seek per source); jobs_open
 * (kind, source, id) over unfinished jobs, what an ordered source's "one
 * at a time, in id order" checks (ordered jobs only: an unordered job
 * never enters it, so storing and finishing one moves no entry of it);
 * jobs_finished (updated_at) over
 * done/dead, what retention deletes by; attempts_job (job_id).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "store_sqlite.h"

/* The partial indexes (also in schema_v1): their conditions are ORs of
 * equalities, not "state IN (...)": SQLite builds an ephemeral table for
 * an IN list in an index's condition each time a row is written (five
 * per event, half the writer's instructions). Queries spell the same
 * conditions so that the planner matches them with the indexes. */
#define INDEXES_V1 \
	"CREATE INDEX jobs_due ON jobs(next_at) WHERE (state = 'received' OR state = 'retrying');" \
	"CREATE INDEX jobs_src_due ON jobs(kind, source, next_at)" \
	" WHERE (state = 'received' OR state = 'retrying');" \
	"CREATE INDEX jobs_open ON jobs(kind, source, id)" \
	" WHERE ordered = 1 AND (state = 'received' OR state = 'retrying' OR state = 'processing');" \
	"CREATE INDEX jobs_finished ON jobs(updated_at) WHERE (state = 'done' OR state = 'dead');"

static const char schema_v1[] =
	"CREATE TABLE jobs ("
	" id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, source TEXT NOT NULL,"
	" event_id TEXT NOT NULL, type TEXT NOT NULL DEFAULT '', body BLOB NOT NULL,"
	" headers TEXT, meta TEXT, received_at INTEGER NOT NULL, state TEXT NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,"
	" base REAL NOT NULL, cap REAL NOT NULL, ordered INTEGER NOT NULL DEFAULT 0,"
	" next_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	" last_error TEXT, last_status INTEGER,"
	" UNIQUE (kind, source, event_id));"
	INDEXES_V1
	"CREATE TABLE attempts ("
	" job_id INTEGER NOT NULL, n INTEGER NOT NULL, at INTEGER NOT NULL,"
	" outcome TEXT NOT NULL, status INTEGER, error TEXT, duration_ms INTEGER);"
	"CREATE INDEX attempts_job ON attempts(job_id);"
	"PRAGMA user_version = 1;";

int64_t wh_sq_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wh_sq_errcode(int rc)
{
	return (rc & 0xff) == SQLITE_FULL ? WH_EFULL : WH_EIO;
}

/* A file made before the indexes took their present form (same schema
 * version: only how fast it is differs) gets them remade: before their
 * conditions were ORs, or before jobs_open held ordered jobs only. */
static int indexes_fixup(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int old = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND"
	                       " ((name = 'jobs_due' AND sql LIKE '%state IN (%') OR"
	                       " (name = 'jobs_open' AND sql NOT LIKE '%ordered = 1%'))", -1, &st,
	                       NULL) == SQLITE_OK)
		old = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (!old)
		return 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE; DROP INDEX jobs_due; DROP INDEX jobs_src_due;"
	                 " DROP INDEX jobs_open; DROP INDEX jobs_finished;" INDEXES_V1
	                 " COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "remaking its indexes: %s", sqlite3_errmsg(db));
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

int wh_sq_schema(sqlite3 *db, int create, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc, version;

	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		rc = SQLITE_OK;
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version == WH_SQ_SCHEMA)
		return create ? indexes_fixup(db, err, errlen) : 0;
	if (version > WH_SQ_SCHEMA) {
		snprintf(err, errlen, "made by a newer portico: schema %d, this one reads %d",
		         version, WH_SQ_SCHEMA);
		return -1;
	}
	if (!create) {
		snprintf(err, errlen, "not a webhooks store (no schema yet: the daemon makes it)");
		return -1;
	}
	/* version 0: a new file, unless someone else's tables are in it */
	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0) {
		sqlite3_finalize(st);
		snprintf(err, errlen, "has tables but no webhooks schema: not a webhooks store");
		return -1;
	}
	sqlite3_finalize(st);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, schema_v1, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "creating the schema: %s", sqlite3_errmsg(db));
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

int wh_sq_purge(sqlite3 *db, int64_t before_ms, int limit, int64_t *n)
{
	static const char *const sql[] = {
		"DELETE FROM attempts WHERE job_id IN (SELECT id FROM jobs WHERE"
		" (state = 'done' OR state = 'dead') AND updated_at < ?1 ORDER BY updated_at, id LIMIT ?2)",
		"DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE"
		" (state = 'done' OR state = 'dead') AND updated_at < ?1 ORDER BY updated_at, id LIMIT ?2)",
	};
	int rc = SQLITE_OK;

	*n = 0;
	for (unsigned i = 0; i < 2 && rc == SQLITE_OK; i++) {
		sqlite3_stmt *st;

		rc = sqlite3_prepare_v2(db, sql[i], -1, &st, NULL);
		if (rc != SQLITE_OK)
			break;
		sqlite3_bind_int64(st, 1, before_ms);
		sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_finalize(st);
		if (i == 1 && rc == SQLITE_OK)
			*n = sqlite3_changes(db);
	}
	return rc;
}

/* mkdir -p DIR, creating what is missing 0700. */
static int make_dir(const char *dir, char *err, size_t errlen)
{
	char buf[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
				snprintf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
				return -1;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/* Makes the file 0600 before SQLite opens it (its -wal and -shm files
 * take the database file's mode). */
int wh_sq_make_file(const char *path, char *err, size_t errlen)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd;

	if (slash && slash != path) {
		if ((size_t)(slash - path) >= sizeof(dir)) {
			snprintf(err, errlen, "path too long");
			return -1;
		}
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (make_dir(dir, err, errlen) != 0)
			return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		int dfd;

		/* a new file: its directory entry reaches the disk before
		 * anything stored in it is acknowledged */
		if (fsync(fd) == 0 && slash) {
			memcpy(dir, path, slash == path ? 1 : (size_t)(slash - path));
			dir[slash == path ? 1 : slash - path] = '\0';
			if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
				if (fsync(dfd) != 0) {
					/* some file systems refuse: SQLite syncs what it writes */
				}
				close(dfd);
			}
		}
		close(fd);
		return 0;
	}
	if (errno != EEXIST || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) != 0) {
		/* someone else's file: SQLite will say whether it can be used */
	}
	/* what a previous process committed but had not synced yet (a
	 * deferred sync owed when it was killed) reaches the disk before a
	 * duplicate of it is acknowledged */
	if (fdatasync(fd) != 0) {
		/* SQLite's own syncs will report a failing disk */
	}
	close(fd);
	if (strlen(path) + sizeof("-wal") <= sizeof(dir)) {
		snprintf(dir, sizeof(dir), "%s-wal", path);
		if ((fd = open(dir, O_RDONLY | O_CLOEXEC)) >= 0) {
			if (fdatasync(fd) != 0) {
				/* as above */
			}
			close(fd);
		}
	}
	return 0;
}

/* Holds PATH.lock (flock) for the store's life: two daemons writing one
 * file would each take the other's running jobs for crashed ones. The CLI
 * does not take it. */
int wh_sq_lock(const char *path, int *lock_fd, char *err, size_t errlen)
{
	size_t n = strlen(path) + sizeof(".lock");
	char *p = malloc(n), pid[32];
	int fd;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(p, n, "%s.lock", path);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(p);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open its lock file: %s", strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		ssize_t r = e == EWOULDBLOCK ? pread(fd, pid, sizeof(pid) - 1, 0) : -1;

		pid[r > 0 ? r : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			snprintf(err, errlen, "in use by another process%s%s%s (two daemons with "
			         "the same var_dir?)", *pid ? " (pid " : "", pid, *pid ? ")" : "");
		else
			snprintf(err, errlen, "cannot lock: %s", strerror(e));
		close(fd);
		return -1;
	}
	n = (size_t)snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, n, 0) < 0) {
		/* the pid is only for the message above */
	}
	*lock_fd = fd;
	return 0;
}


/* ---- the WAL's writes, gathered ---------------------------------------------------
 *
 * SQLite writes a WAL frame as two pwrite calls (its 24-byte header, then
 * the page), each a system call of its own: 2.3 calls per stored event, a
 * seventh of the daemon's time under load; a checkpoint writes each page
 * with a call of its own too. The VFS "portico-wal" wraps the default one
 * and, for the WAL and the database file, gathers writes that follow
 * each other in one buffer, written with one pwrite when something needs
 * the file as it is: a sync (a commit's fsync), a read, a size, a
 * truncate, a file control, a write elsewhere, closing, or the buffer
 * full. Only for durability "full": there every commit syncs the WAL
 * before SQLite publishes the commit to readers (the wal-index), so what
 * readers and a crash can see is unchanged. With "normal" no sync marks
 * the end of a commit, and the default VFS is used.
 */
/* The default VFS writes at most 0x1ffff bytes a call (it masks the
 * length with it: SQLite's own writes are a page and a frame header at
 * most), so a gathered write stays below: 31 frames of 4 KiB pages. */
#define WAL_BUF 0x1ffff

struct walf {
	sqlite3_file base;            /* methods: wal_io */
	sqlite3_file *real;           /* the default VFS's file, right after this struct */
	unsigned char *buf;
	sqlite3_int64 off;            /* where buf[0] goes */
	int len;
	int sync_fd;                  /* WAL: a descriptor of its own for deferred syncs, or -1 */
	int synced;                   /* WAL: synced once (the first one syncs its directory too) */
};

/*
 * Deferred commit syncs. Between wh_sq_defer_sync(1) and (0) a thread's
 * syncs of a WAL file (what SQLite does at COMMIT with synchronous FULL)
 * write what is gathered and return without the fsync; the thread then
 * owes one, on the descriptor wh_sq_deferred_fd() gives, before anything
 * the commit stored is acknowledged (store_sqlite.c's syncer). The
 * frames are in the file (the page cache) before SQLite publishes the
 * commit in the wal-index, as with a real sync, so readers see the same;
 * a process crash loses nothing; power loss may lose the commits whose
 * owed sync had not returned, none of them acknowledged. Only the
 * store's writer thread sets it, around its COMMIT; every other sync
 * (checkpoints, the first sync of a WAL, other threads) stays real.
 */
static __thread int tl_defer;
static __thread int tl_deferred_fd = -1;

void wh_sq_defer_sync(int on)
{
	tl_defer = on;
	if (on)
		tl_deferred_fd = -1;
}

int wh_sq_deferred_fd(void)
{
	return tl_deferred_fd;
}

static sqlite3_vfs wal_vfs;
static sqlite3_vfs *root_vfs;

/* Writes what is gathered; on an error it is dropped (it belonged to the
 * transaction that fails with it; SQLite writes its frames again). */
static int walf_flush(struct walf *f)
{
	int rc, n = f->len;

	if (!n)
		return SQLITE_OK;
	f->len = 0;
	rc = f->real->pMethods->xWrite(f->real, f->buf, n, f->off);
	return rc;
}

static int walf_close(sqlite3_file *p)
{
	struct walf *f = (struct walf *)p;
	int rc = walf_flush(f), rc2 = f->real->pMethods->xClose(f->real);

	sqlite3_free(f->buf);
	f->buf = NULL;
	if (f->sync_fd >= 0)
		close(f->sync_fd);
	f->sync_fd = -1;
	return rc != SQLITE_OK ? rc : rc2;
}

static int walf_read(sqlite3_file *p, void *out, int n, sqlite3_int64 off)
{
	struct walf *f = (struct walf *)p;
	int rc = walf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, n, off);
}

static int walf_write(sqlite3_file *p, const void *in, int n, sqlite3_int64 off)
{
	struct walf *f = (struct walf *)p;
	int rc;

	if (f->len && off == f->off + f->len && f->len + n <= WAL_BUF) {
		memcpy(f->buf + f->len, in, (size_t)n);
		f->len += n;
		return SQLITE_OK;
	}
	if ((rc = walf_flush(f)) != SQLITE_OK)
		return rc;
	if (n >= WAL_BUF / 2 || (!f->buf && !(f->buf = sqlite3_malloc(WAL_BUF))))
		return f->real->pMethods->xWrite(f->real, in, n, off);
	memcpy(f->buf, in, (size_t)n);
	f->off = off;
	f->len = n;
	return SQLITE_OK;
}

static int walf_truncate(sqlite3_file *p, sqlite3_int64 size)
{
	struct walf *f = (struct walf *)p;
	int rc = walf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int walf_sync(sqlite3_file *p, int flags)
{
	struct walf *f = (struct walf *)p;
	int rc = walf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

/* The WAL's: deferred inside a writer's COMMIT (above), else real. */
static int walf_wal_sync(sqlite3_file *p, int flags)
{
	struct walf *f = (struct walf *)p;
	int rc;

	if (tl_defer && f->synced && f->sync_fd >= 0) {
		rc = walf_flush(f);
		if (rc == SQLITE_OK)
			tl_deferred_fd = f->sync_fd;
		return rc;
	}
	rc = walf_sync(p, flags);
	if (rc == SQLITE_OK)
		f->synced = 1;
	return rc;
}

static int walf_size(sqlite3_file *p, sqlite3_int64 *size)
{
	struct walf *f = (struct walf *)p;
	int rc = walf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int walf_lock(sqlite3_file *p, int lock)
{
	struct walf *f = (struct walf *)p;

	return f->real->pMethods->xLock(f->real, lock);
}

static int walf_unlock(sqlite3_file *p, int lock)
{
	struct walf *f = (struct walf *)p;

	return f->real->pMethods->xUnlock(f->real, lock);
}

static int walf_reserved(sqlite3_file *p, int *out)
{
	struct walf *f = (struct walf *)p;

	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int walf_fcntl(sqlite3_file *p, int op, void *arg)
{
	struct walf *f = (struct walf *)p;
	int rc = walf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int walf_sector(sqlite3_file *p)
{
	struct walf *f = (struct walf *)p;

	return f->real->pMethods->xSectorSize(f->real);
}

static int walf_devchar(sqlite3_file *p)
{
	struct walf *f = (struct walf *)p;

	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* Version 1: SQLite maps no WAL file into memory nor puts shared memory
 * on it (the wal-index belongs to the database file). */
static const sqlite3_io_methods wal_io = {
	1, walf_close, walf_read, walf_write, walf_truncate, walf_wal_sync, walf_size, walf_lock,
	walf_unlock, walf_reserved, walf_fcntl, walf_sector, walf_devchar,
	NULL, NULL, NULL, NULL, NULL, NULL,
};

/* The database file: its writes are a checkpoint's, page by page in page
 * order (new pages follow each other); the checkpoint's file controls
 * (SQLITE_FCNTL_CKPT_DONE, from SQLite 3.32 on: older ones get the default
 * VFS's file) and its sync flush them before it lets readers at the
 * copied pages (nBackfill). The rest goes to the default VFS as it is
 * (the wal-index in shared memory, locks, mappings). */
static int dbf_lock(sqlite3_file *p, int lock)
{
	struct walf *f = (struct walf *)p;
	int rc = walf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xLock(f->real, lock);
}

static int dbf_unlock(sqlite3_file *p, int lock)
{
	struct walf *f = (struct walf *)p;
	int rc = walf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xUnlock(f->real, lock);
}

static int dbf_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **pp)
{
	struct walf *f = (struct walf *)p;

	return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int dbf_shm_lock(sqlite3_file *p, int off, int n, int flags)
{
	struct walf *f = (struct walf *)p;

	return f->real->pMethods->xShmLock(f->real, off, n, flags);
}

static void dbf_shm_barrier(sqlite3_file *p)
{
	struct walf *f = (struct walf *)p;

	f->real->pMethods->xShmBarrier(f->real);
}

static int dbf_shm_unmap(sqlite3_file *p, int del)
{
	struct walf *f = (struct walf *)p;

	return f->real->pMethods->xShmUnmap(f->real, del);
}

static int dbf_fetch(sqlite3_file *p, sqlite3_int64 off, int n, void **pp)
{
	struct walf *f = (struct walf *)p;
	int rc = walf_flush(f);

	*pp = NULL;
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, n, pp);
}

static int dbf_unfetch(sqlite3_file *p, sqlite3_int64 off, void *ptr)
{
	struct walf *f = (struct walf *)p;

	return f->real->pMethods->xUnfetch(f->real, off, ptr);
}

static const sqlite3_io_methods db_io = {
	3, walf_close, walf_read, walf_write, walf_truncate, walf_sync, walf_size, dbf_lock,
	dbf_unlock, walf_reserved, walf_fcntl, walf_sector, walf_devchar,
	dbf_shm_map, dbf_shm_lock, dbf_shm_barrier, dbf_shm_unmap, dbf_fetch, dbf_unfetch,
};

/* Files but WAL and database files are the default VFS's own, opened in
 * place. */
static int walv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags,
                     int *out_flags)
{
	struct walf *f = (struct walf *)p;
	int rc;

	(void)vfs;
	if (!(flags & SQLITE_OPEN_WAL) &&
	    (!(flags & SQLITE_OPEN_MAIN_DB) || sqlite3_libversion_number() < 3032000))
		return root_vfs->xOpen(root_vfs, name, p, flags, out_flags);
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	f->sync_fd = -1;
	rc = root_vfs->xOpen(root_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK || !f->real->pMethods) {
		/* as the default VFS left it: SQLite calls xClose if methods are set */
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		f->base.pMethods = NULL;
		return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
	}
	if (flags & SQLITE_OPEN_WAL) {
		f->base.pMethods = &wal_io;
		/* for the syncer thread: the same file, never written through
		 * (an fsync on it flushes the file's pages, and reports a
		 * writeback error that happened while it was open); none: the
		 * syncs stay SQLite's own */
		f->sync_fd = open(name, O_RDONLY | O_CLOEXEC);
	} else if (f->real->pMethods->iVersion >= 3) {
		f->base.pMethods = &db_io;
	} else {
		/* a default VFS without shared memory: WAL mode will say no */
		f->real->pMethods->xClose(f->real);
		f->base.pMethods = NULL;
		return SQLITE_CANTOPEN;
	}
	return SQLITE_OK;
}

#define FWD(name, args, call) \
	static int walv_##name args { (void)vfs; return root_vfs->x##call; }
FWD(delete, (sqlite3_vfs *vfs, const char *n, int sync), Delete(root_vfs, n, sync))
FWD(access, (sqlite3_vfs *vfs, const char *n, int fl, int *out), Access(root_vfs, n, fl, out))
FWD(fullpath, (sqlite3_vfs *vfs, const char *n, int len, char *out),
    FullPathname(root_vfs, n, len, out))
FWD(random, (sqlite3_vfs *vfs, int n, char *out), Randomness(root_vfs, n, out))
FWD(sleep, (sqlite3_vfs *vfs, int us), Sleep(root_vfs, us))
FWD(lasterr, (sqlite3_vfs *vfs, int n, char *out), GetLastError(root_vfs, n, out))
FWD(now64, (sqlite3_vfs *vfs, sqlite3_int64 *out), CurrentTimeInt64(root_vfs, out))
#undef FWD

static void *walv_dlopen(sqlite3_vfs *vfs, const char *n)
{
	(void)vfs;
	return root_vfs->xDlOpen(root_vfs, n);
}

static void walv_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	root_vfs->xDlError(root_vfs, n, out);
}

static void (*walv_dlsym(sqlite3_vfs *vfs, void *h, const char *n))(void)
{
	(void)vfs;
	return root_vfs->xDlSym(root_vfs, h, n);
}

static void walv_dlclose(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	root_vfs->xDlClose(root_vfs, h);
}

static int walv_now(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return root_vfs->xCurrentTime(root_vfs, out);
}

static pthread_once_t wal_vfs_once = PTHREAD_ONCE_INIT;

static void wal_vfs_register(void)
{
	root_vfs = sqlite3_vfs_find(NULL);
	if (!root_vfs || root_vfs->iVersion < 2 || !root_vfs->xCurrentTimeInt64 ||
	    !root_vfs->xDlOpen || !root_vfs->xDlError || !root_vfs->xDlSym || !root_vfs->xDlClose)
		return;
	wal_vfs.iVersion = 2;
	wal_vfs.szOsFile = (int)sizeof(struct walf) + root_vfs->szOsFile;
	wal_vfs.mxPathname = root_vfs->mxPathname;
	wal_vfs.zName = "portico-wal";
	wal_vfs.xOpen = walv_open;
	wal_vfs.xDelete = walv_delete;
	wal_vfs.xAccess = walv_access;
	wal_vfs.xFullPathname = walv_fullpath;
	wal_vfs.xDlOpen = walv_dlopen;
	wal_vfs.xDlError = walv_dlerror;
	wal_vfs.xDlSym = walv_dlsym;
	wal_vfs.xDlClose = walv_dlclose;
	wal_vfs.xRandomness = walv_random;
	wal_vfs.xSleep = walv_sleep;
	wal_vfs.xCurrentTime = walv_now;
	wal_vfs.xGetLastError = walv_lasterr;
	wal_vfs.xCurrentTimeInt64 = walv_now64;
	if (sqlite3_vfs_register(&wal_vfs, 0) != SQLITE_OK)
		wal_vfs.zName = NULL;
}

const char *wh_sq_wal_vfs(void)
{
	pthread_once(&wal_vfs_once, wal_vfs_register);
	return wal_vfs.zName;
}
