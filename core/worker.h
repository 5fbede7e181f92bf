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
};

unsigned worker_count(void);
unsigned worker_index(pt_worker *w);
pt_worker *worker_at(unsigned i);

/*
 * Binds every listener of CFG for N workers (SO_REUSEPORT) and starts the
 * threads, each holding a reference to GEN. -1 with ERR when a socket cannot
 * be bound (nothing is left running then).
 */
int workers_start(unsigned n, const struct listener_info *ls, unsigned nls, struct gen *gen,
                  char *err, size_t errlen);
/* Hands each worker a reference to GEN; they switch between requests. */
void workers_set_gen(struct gen *gen);
/* Stops accepting, lets exchanges finish within GRACE seconds, joins threads. */
void workers_stop(double grace);
/* Number of workers so far (0 before start), for plugins sizing arrays. */
void workers_set_count(unsigned n);

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
 * FDS (worker_count() of them): 0, or -1 with ERR and none left open.
 * workers_listen_adopt hands them to the workers (each starts accepting on
 * its own); workers_listen_remove makes each worker close its socket for LI
 * (connections already accepted go on). LI must stay valid until exit.
 */
int workers_listen_bind(const struct listener_info *li, int *fds, char *err, size_t errlen);
void workers_listen_adopt(const struct listener_info *li, const int *fds);
void workers_listen_remove(const struct listener_info *li);

#endif
