/*
 * worker.h - worker threads: one event_base each, their own SO_REUSEPORT
 * listening sockets, a cross-thread task queue, and the connections they own.
 */
#ifndef PT_WORKER_H
#define PT_WORKER_H

#include <pthread.h>
#include "portico/portico.h"
#include "conf.h"

struct event_base;
struct event;
struct gen;
struct conn;
struct http_client;
typedef struct ssl_ctx_st SSL_CTX;

/* A listening socket as every worker binds it (fixed at start). */
struct listener_info {
	char address[64];
	int port;
	int backlog;
	int http2;
	SSL_CTX *ssl;          /* NULL: cleartext; shared by the workers */
	char only[64];         /* a plugin's own listener: its routes only; "": all */
	int removed;           /* a reload removed it: a socket handed over late is closed */
};

struct task;

struct pt_worker {
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener **ls;
	const struct listener_info **lsi;   /* what each of ls listens as */
	unsigned nls;
	struct event *post_ev;
	int post_fd;               /* eventfd that wakes the loop for posted tasks */
	pthread_mutex_t post_mu;
	struct task *post_head, *post_tail;
	int post_woken;            /* the eventfd was written and post_cb has not taken the queue yet */
	struct gen *gen;           /* current generation: one reference */
	struct conn *conns;        /* every open connection (intrusive list) */
	unsigned nconns;
	int draining;
	int cutting;               /* the grace period is over: what ends now, the server ends */
	struct event *grace_ev;
	uint64_t req_seq;          /* for request ids */
	struct http_client *http_client;  /* outbound HTTP pools, made on first use */
	void *upstreams;           /* per-server health and load (upstream/pool.c) */
	void *redis;               /* the config's Redis client (upstream/redis_api.c) */
	pt_exchange *x_cache;      /* freed exchanges kept for reuse (exchange.c) */
	unsigned nx_cache;
	int started;
	int stopped;               /* the loop has ended: no Lua task starts any more */
	void *lua_tasks;           /* background Lua tasks waiting now (lua/lua_task.c) */
	/* ---- the slot's life (worker.c; main thread unless said) ---- */
	int slot_state;            /* SLOT_FREE, SLOT_PENDING, SLOT_LIVE, SLOT_RETIRING */
	int retiring;              /* this thread: a reload retires it (drain, then end) */
	int closed;                /* under post_mu: retired and joined, posts are refused */
	_Atomic int exited;        /* the thread ended: the main thread may join it */
	unsigned last_gen;         /* the newest generation it held, once retired */
	const struct listener_info **extra;  /* listeners it has a retired worker's socket of */
	unsigned nextra, capextra;
};

/* Workers serving now (not counting retiring ones); the configured count
 * before start. Any thread. */
unsigned worker_count(void);
/* Worker slots (max_workers, fixed at start): every worker id is below it,
 * so per-worker tables sized by it never move. Any thread. */
unsigned worker_slots(void);
/* Slots used so far (the highest worker id + 1): what a scrape walks. */
unsigned worker_slots_used(void);
unsigned worker_index(pt_worker *w);
pt_worker *worker_at(unsigned i);

/*
 * Binds every listener of CFG for N workers (SO_REUSEPORT) and starts the
 * threads, each holding a reference to GEN. -1 with ERR when a socket cannot
 * be bound (nothing is left running then).
 */
int workers_start(unsigned n, unsigned max, const struct listener_info *ls, unsigned nls,
                  struct gen *gen, char *err, size_t errlen);
/* Hands each serving worker a reference to GEN; they switch between requests. */
void workers_set_gen(struct gen *gen);
/* Stops accepting, lets exchanges finish within GRACE seconds, joins threads. */
void workers_stop(double grace);
/* Before start: the configured count and slots, for tables sized early. */
void workers_set_count(unsigned n, unsigned max);

/*
 * `workers` changed by a reload (main thread). Prepare, before the new
 * generation goes live: for a larger N, takes free slots and makes their
 * loops and sockets for the listeners LIS (the reload's listener set), or
 * -1 with ERR (N above max_workers, no slot free yet, a socket error) and
 * nothing changed. Commit: retires the surplus workers (highest ids first:
 * they stop accepting and hand their listening sockets to the workers that
 * stay, so nothing queued on them is lost, then drain like a shutdown
 * within GRACE seconds and end), hands GEN to the workers that stay, and
 * starts the prepared ones on GEN. Abort undoes prepare.
 */
int workers_resize_prepare(unsigned n, const struct listener_info *const *lis, unsigned nlis,
                           char *err, size_t errlen);
void workers_resize_commit(struct gen *gen, double grace);
void workers_resize_abort(void);
/* Joins the retired workers whose threads ended and frees their loops
 * (their slots are reused later); main thread, from a timer. Returns the
 * number of workers still retiring. */
unsigned workers_reap(void);
/* Retiring workers (draining, not yet ended). */
unsigned workers_retiring(void);

/* Thread-safe: run FN(UD) on W's thread. */
int worker_post(pt_worker *w, pt_task_fn fn, void *ud);

/* Connections register so that draining can find them. */
void worker_conn_add(pt_worker *w, struct conn *c);
void worker_conn_remove(pt_worker *w, struct conn *c);

/* Timers (pt_api). */
pt_timer *timer_new(pt_worker *w, pt_task_fn fn, void *ud);
int timer_start(pt_timer *t, uint64_t ms, int repeat);
void timer_stop(pt_timer *t);
void timer_free(pt_timer *t);

/*
 * Listeners changed by a reload (listen_reload.c), from the main thread.
 * workers_listen_bind binds one SO_REUSEPORT socket per worker for LI into
 * FDS (worker_slots() of them, by worker id; -1 for a slot not serving):
 * 0, or -1 with ERR and none left open.
 * workers_listen_adopt hands them to the workers (each starts accepting on
 * its own); workers_listen_remove makes each worker close its socket for LI
 * (connections already accepted go on). LI must stay valid until exit.
 */
int workers_listen_bind(const struct listener_info *li, int *fds, char *err, size_t errlen);
void workers_listen_adopt(const struct listener_info *li, const int *fds);
void workers_listen_remove(const struct listener_info *li);

#endif
