/*
 * worker.c - worker threads and what runs on their loops.
 *
 * Each worker owns an event_base, its own listening sockets (SO_REUSEPORT:
 * the kernel spreads connections), and every connection it accepts: a
 * request never leaves its worker, so the hot path takes no lock. Other
 * threads reach a worker only through worker_post.
 *
 * Workers live in slots: max_workers of them, made at start and never
 * moved, so tables indexed by worker id (metrics, watchdog, plugin data,
 * Lua states) are sized once and read without a lock. A reload changing
 * `workers` starts new threads in free slots or retires the highest ones
 * (workers_resize_*). A retired worker hands its listening sockets to the
 * workers that stay (closing a SO_REUSEPORT socket would reset the
 * connections queued on it), drains like a shutdown and ends; the main
 * thread joins it and frees its loop. Its slot is reused once no
 * generation it ran is alive any more (its Lua states are in those), so a
 * new worker never finds a predecessor's state, and with a new struct
 * (the retired one is kept until exit, refusing posts), so a plugin that
 * kept the old pointer never takes the new worker for it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "gen.h"
#include "listen_reload.h"
#include "http/conn.h"
#include "http/exchange.h"
#include "log.h"
#include "lua/lua_rt.h"
#include "upstream/http_client.h"
#include "upstream/outbound.h"
#include "upstream/pool.h"
#include "upstream/redis_api.h"
#include "plugin.h"
#include "watchdog.h"
#include "worker.h"
#include "ws/ws_frame.h"

struct task {
	struct task *next;
	pt_task_fn fn;
	void *ud;
};

struct pt_timer {
	struct event *ev;
	pt_task_fn fn;
	void *ud;
	int repeat;
};

enum { SLOT_FREE, SLOT_PENDING, SLOT_LIVE, SLOT_RETIRING };

static pt_worker **workers;         /* nslots of them, fixed at start */
static pt_worker **grave;           /* retired workers' structs, freed at exit */
static unsigned ngrave;
static unsigned nslots;
static atomic_uint nhigh;           /* slots used so far */
static atomic_uint nlive;           /* serving workers */
static atomic_uint count_hint, slots_hint;
static _Thread_local pt_worker *self;   /* the worker this thread runs */

unsigned worker_count(void)
{
	return workers ? atomic_load(&nlive) : atomic_load(&count_hint);
}

unsigned worker_slots(void)
{
	unsigned n = workers ? nslots : atomic_load(&slots_hint);

	return n ? n : worker_count();
}

unsigned worker_slots_used(void)
{
	return workers ? atomic_load(&nhigh) : worker_count();
}

void workers_set_count(unsigned n, unsigned max)
{
	atomic_store(&count_hint, n);
	atomic_store(&slots_hint, max > n ? max : n);
}

unsigned worker_index(pt_worker *w)
{
	return w->id;
}

pt_worker *worker_at(unsigned i)
{
	return workers && i < atomic_load(&nhigh) ? workers[i] : NULL;
}

/* ---- cross-thread tasks ------------------------------------------------- */

static void post_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_worker *w = arg;
	struct task *t, *next;

	uint64_t n;

	(void)what;
	if (fd >= 0 && read(fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: a concurrent read took the count; the queue is what matters */
	}
	pthread_mutex_lock(&w->post_mu);
	t = w->post_head;
	w->post_head = w->post_tail = NULL;
	w->post_woken = 0;
	pthread_mutex_unlock(&w->post_mu);
	for (; t; t = next) {
		next = t->next;
		t->fn(t->ud);
		free(t);
	}
}

int worker_post(pt_worker *w, pt_task_fn fn, void *ud)
{
	struct task *t = malloc(sizeof(*t));
	int wake;

	if (!t)
		return PT_ENOMEM;
	t->next = NULL;
	t->fn = fn;
	t->ud = ud;
	pthread_mutex_lock(&w->post_mu);
	if (w->closed) {
		/* a retired worker: what was meant for it runs nowhere */
		pthread_mutex_unlock(&w->post_mu);
		free(t);
		return PT_EIO;
	}
	if (w->post_tail)
		w->post_tail->next = t;
	else
		w->post_head = t;
	w->post_tail = t;
	/* one wake per batch: a thread posting many tasks (the webhook
	 * store answering a group commit's puts) writes the eventfd once,
	 * until post_cb takes the queue */
	wake = !w->post_woken;
	w->post_woken = 1;
	pthread_mutex_unlock(&w->post_mu);
	/* the bases take no locks: wake the loop through its eventfd */
	if (wake) {
		uint64_t one = 1;

		if (write(w->post_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
			pthread_mutex_lock(&w->post_mu);
			w->post_woken = 0;     /* the next post tries again */
			pthread_mutex_unlock(&w->post_mu);
			return PT_EIO;
		}
	}
	return 0;
}

/* ---- timers ------------------------------------------------------------- */

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_timer *t = arg;

	(void)fd;
	(void)what;
	t->fn(t->ud);
}

pt_timer *timer_new(pt_worker *w, pt_task_fn fn, void *ud)
{
	pt_timer *t;

	if (!w || !fn || !(t = calloc(1, sizeof(*t))))
		return NULL;
	t->fn = fn;
	t->ud = ud;
	t->ev = event_new(w->base, -1, 0, timer_cb, t);
	if (!t->ev) {
		free(t);
		return NULL;
	}
	return t;
}

int timer_start(pt_timer *t, uint64_t ms, int repeat)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	if (!t)
		return PT_EINVAL;
	event_del(t->ev);
	if (repeat != t->repeat) {
		struct event_base *base = event_get_base(t->ev);

		event_free(t->ev);
		t->ev = event_new(base, -1, repeat ? EV_PERSIST : 0, timer_cb, t);
		if (!t->ev)
			return PT_ENOMEM;
		t->repeat = repeat;
	}
	return event_add(t->ev, &tv) == 0 ? 0 : PT_EIO;
}

void timer_stop(pt_timer *t)
{
	if (t)
		event_del(t->ev);
}

void timer_free(pt_timer *t)
{
	if (!t)
		return;
	event_free(t->ev);
	free(t);
}

/* ---- connections and draining ------------------------------------------- */

void worker_conn_add(pt_worker *w, struct conn *c)
{
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
}

void worker_conn_remove(pt_worker *w, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	w->nconns--;
	if (w->draining && w->nconns == 0)
		event_base_loopbreak(w->base);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
	pt_worker *w = self;   /* listeners are per worker: the thread is the worker */
	const struct listener_info *li = arg;

	(void)l;
	if (!w || w->draining) {
		evutil_closesocket(fd);
		return;
	}
	conn_accept(w, li, fd, sa, socklen);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	/* EMFILE and friends: log and go on; the listener stays armed */
	log_error("worker", "accept: %s", evutil_socket_error_to_string(err));
}

static int bind_one(const struct listener_info *li, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (strchr(li->address, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)li->port);
		if (inet_pton(AF_INET6, li->address, &s6->sin6_addr) != 1)
			goto bad_addr;
		slen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)li->port);
		if (inet_pton(AF_INET, li->address, &s4->sin_addr) != 1)
			goto bad_addr;
		slen = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "listen %s:%d: socket: %s", li->address, li->port, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, li->backlog) != 0) {
		snprintf(err, errlen, "listen %s:%d: %s", li->address, li->port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
bad_addr:
	snprintf(err, errlen, "listen: '%s' is not an IPv4 or IPv6 address", li->address);
	return -1;
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_worker *w = arg;

	(void)fd;
	(void)what;
	if (w->nconns)
		log_warn("worker", "worker %u: grace period over, closing %u connection(s)", w->id,
		         w->nconns);
	w->cutting = 1;   /* the access log then tells these from clients that left */
	while (w->conns)
		conn_abort(w->conns);
	event_base_loopbreak(w->base);
}

struct drain_req {
	pt_worker *w;
	double grace;
};

/* Stops accepting on W's remaining listeners, closes idle connections,
 * asks the others to end, and ends the loop when none is left (or when
 * the grace period is over). */
static void drain_conns(pt_worker *w, double grace)
{
	struct timeval tv = { (time_t)grace, (suseconds_t)((grace - (time_t)grace) * 1e6) };
	struct conn *c, *next;

	w->draining = 1;
	for (unsigned i = 0; i < w->nls; i++) {
		if (w->ls[i])
			evconnlistener_free(w->ls[i]);
		w->ls[i] = NULL;
	}
	w->nls = 0;
	for (c = w->conns; c; c = next) {
		next = c->next;
		conn_drain(c);   /* may close c at once when idle */
	}
	if (w->nconns == 0) {
		event_base_loopbreak(w->base);
		return;
	}
	w->grace_ev = evtimer_new(w->base, grace_cb, w);
	if (w->grace_ev)
		evtimer_add(w->grace_ev, &tv);
}

static void drain_task(void *ud)
{
	struct drain_req *d = ud;
	pt_worker *w = d->w;
	double grace = d->grace;

	free(d);
	if (!w->draining)
		drain_conns(w, grace);
}

struct gen_swap {
	pt_worker *w;
	struct gen *gen;
};

/* Loads the route scripts of G on W now, not on the first request. */
static void warm_lua(pt_worker *w, struct gen *g)
{
	char err[1024];

	if (g->lua && g->lua->nscripts && !lua_gen_state(g->lua, w, err, sizeof(err)))
		log_error("lua", "worker %u: %s", w->id, err);
}

static void swap_task(void *ud)
{
	struct gen_swap *s = ud;
	struct gen *old = s->w->gen;

	if (!s->w->retiring)
		warm_lua(s->w, s->gen);
	s->w->gen = s->gen;     /* new exchanges take this one */
	free(s);
	gen_unref(old);         /* exchanges in flight keep theirs */
}

void workers_set_gen(struct gen *gen)
{
	for (unsigned i = 0; i < atomic_load(&nhigh); i++) {
		struct gen_swap *s;

		if (workers[i]->slot_state != SLOT_LIVE || !(s = malloc(sizeof(*s))))
			continue;
		s->w = workers[i];
		s->gen = gen;
		gen_ref(gen);
		if (worker_post(workers[i], swap_task, s) != 0) {
			gen_unref(gen);
			free(s);
		}
	}
}

/* The loop is alive: tell the watchdog, four times a second. */
#define BEAT_MS 250

static void beat_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_worker *w = arg;

	(void)fd;
	(void)what;
	watchdog_beat(w->id);
}

static void *worker_main(void *arg)
{
	pt_worker *w = arg;
	struct timeval every = { 0, BEAT_MS * 1000 };
	struct event *beat = event_new(w->base, -1, EV_PERSIST, beat_cb, w);

	self = w;
	if (lua_tick_thread_start() != 0)
		log_warn("worker", "worker %u: no CPU tick timer (%s): Lua budgets are counted "
		         "from every run's first instruction", w->id, strerror(errno));
	if (!beat || event_add(beat, &every) != 0)
		log_error("worker", "worker %u: no heartbeat timer: the watchdog will call it stuck",
		          w->id);
	plugins_worker_start(w);
	warm_lua(w, w->gen);
	/* the outbound client now, not at the first proxied request: its TLS
	 * context reads openssl.cnf and the system CA bundle, ~30 ms during
	 * which the loop would answer nobody */
	if (!worker_http_client(w))
		log_warn("worker", "outbound HTTP client: out of memory or no TLS context");
	watchdog_beat(w->id);   /* starting took what it took: the loop begins now */
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	if (beat)
		event_free(beat);
	w->cutting = 1;
	while (w->conns)
		conn_abort(w->conns);
	/* before worker_stop: no task of a plugin's calls back into it after */
	w->stopped = 1;
	lua_worker_tasks_drop(w);
	plugins_worker_stop(w);
	if (w->http_client) {
		http_client_free(w->http_client);
		w->http_client = NULL;
	}
	exchange_cache_free(w);
	ws_deflate_thread_end();   /* the thread's shared permessage-deflate streams */
	upstream_worker_free(w);
	redis_worker_free(w);
	lua_tick_thread_stop();
	atomic_store(&w->exited, 1);   /* the main thread may join it now */
	return NULL;
}

/* ---- slots ------------------------------------------------------------------ */

static int watch_fd(pt_worker *w, const struct listener_info *li, int fd);

/* The loop, wake-up event and sockets of slot W for the listeners LIS
 * (SKIP[j] set: that listener's socket comes from another worker). */
static int slot_setup(pt_worker *w, const struct listener_info *const *lis, unsigned nlis,
                      const unsigned char *skip, char *err, size_t errlen)
{
	struct event_config *ec = event_config_new();

	/* one thread per base: no lock inside the loop itself */
	if (ec)
		event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	w->base = ec ? event_base_new_with_config(ec) : NULL;
	if (ec)
		event_config_free(ec);
	if (!w->base && !(w->base = event_base_new())) {
		snprintf(err, errlen, "cannot create an event loop");
		return -1;
	}
	/* the eventfd is the slot's for life: a late poster never writes a
	 * descriptor that was closed and reused */
	if (w->post_fd < 0)
		w->post_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->post_ev = w->post_fd >= 0 ?
		event_new(w->base, w->post_fd, EV_READ | EV_PERSIST, post_cb, w) : NULL;
	if (!w->post_ev || event_add(w->post_ev, NULL) != 0) {
		snprintf(err, errlen, "cannot create the worker's wake-up event");
		return -1;
	}
	w->ls = calloc(nlis + 1, sizeof(*w->ls));
	w->lsi = calloc(nlis + 1, sizeof(*w->lsi));
	if (!w->ls || !w->lsi) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned j = 0; j < nlis; j++) {
		int fd;

		if (skip && skip[j])
			continue;
		if ((fd = bind_one(lis[j], err, errlen)) < 0)
			return -1;
		if (watch_fd(w, lis[j], fd) != 0) {
			snprintf(err, errlen, "listen %s:%d: cannot watch the socket", lis[j]->address,
			         lis[j]->port);
			return -1;
		}
	}
	return 0;
}

/* Frees what slot_setup and the thread left; the slot keeps its id, its
 * mutex and eventfd (posters may still hold the pointer). */
static void slot_teardown(pt_worker *w)
{
	for (unsigned j = 0; w->ls && j < w->nls; j++)
		if (w->ls[j])
			evconnlistener_free(w->ls[j]);
	free(w->ls);
	free(w->lsi);
	w->ls = NULL;
	w->lsi = NULL;
	w->nls = 0;
	if (w->grace_ev)
		event_free(w->grace_ev);
	w->grace_ev = NULL;
	if (w->post_ev)
		event_free(w->post_ev);
	w->post_ev = NULL;
	if (w->gen) {
		w->last_gen = w->gen->id;
		gen_unref(w->gen);
		w->gen = NULL;
	}
	if (w->base)
		event_base_free(w->base);
	w->base = NULL;
	/* not memset: a late poster may hold post_mu right now */
	w->conns = NULL;
	w->nconns = 0;
	w->draining = w->cutting = w->started = w->stopped = w->retiring = 0;
	w->req_seq = 0;
	w->http_client = NULL;
	w->upstreams = w->redis = w->lua_tasks = NULL;
	w->x_cache = NULL;
	w->nx_cache = 0;
	w->nextra = 0;
	atomic_store(&w->exited, 0);
	w->slot_state = SLOT_FREE;
}

/* A worker's struct for slot ID. A slot used again gets a new one: a
 * plugin that kept the retired worker's pointer (to post to it, or to
 * tell its workers apart) never mistakes the new worker for it. */
static pt_worker *slot_new(unsigned id)
{
	pt_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->id = id;
	w->post_fd = -1;
	pthread_mutex_init(&w->post_mu, NULL);
	return w;
}

static void slot_destroy(pt_worker *w)
{
	if (w->post_fd >= 0)
		close(w->post_fd);
	free(w->extra);
	pthread_mutex_destroy(&w->post_mu);
	free(w);
}

static int start_thread(pt_worker *w, char *err, size_t errlen)
{
	sigset_t all, old;
	int rc;

	/* workers take no signal: the main thread handles them all */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start worker thread %u: %s", w->id, strerror(rc));
		return -1;
	}
	w->started = 1;
	return 0;
}

int workers_start(unsigned n, unsigned max, const struct listener_info *ls, unsigned nls,
                  struct gen *gen, char *err, size_t errlen)
{
	const struct listener_info **lis = calloc(nls + 1, sizeof(*lis));
	unsigned i;

	if (max < n)
		max = n;
	workers = calloc(max, sizeof(*workers));
	if (!workers || !lis || watchdog_init(max) != 0) {
		free(lis);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	nslots = max;
	for (i = 0; i < max; i++) {
		if (!(workers[i] = slot_new(i))) {
			free(lis);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (i >= n)
			watchdog_set_live(i, 0);
	}
	for (i = 0; i < nls; i++)
		lis[i] = &ls[i];
	for (i = 0; i < n; i++) {
		pt_worker *w = workers[i];

		if (slot_setup(w, lis, nls, NULL, err, errlen) != 0) {
			free(lis);
			return -1;
		}
		w->gen = gen;
		gen_ref(gen);
		w->slot_state = SLOT_LIVE;
	}
	free(lis);
	atomic_store(&nhigh, n);
	atomic_store(&nlive, n);
	for (i = 0; i < n; i++)
		if (start_thread(workers[i], err, errlen) != 0)
			return -1;
	return 0;
}

/* ---- listeners changed by a reload, and sockets changing hands ------------- */

struct ls_change {
	pt_worker *w;
	const struct listener_info *li;
	int fd;                         /* adopt: the socket; remove or give: -1 */
	pt_worker *to;                  /* give: the worker to hand a socket of LI to */
};

static void ls_post_one(pt_worker *w, const struct listener_info *li, int fd, pt_worker *to);

/* Makes FD (listening for LI) accepted on W's loop: 0, or -1 (FD closed). */
static int watch_fd(pt_worker *w, const struct listener_info *li, int fd)
{
	struct evconnlistener **nl;
	const struct listener_info **ni;

	if (!(nl = realloc(w->ls, (w->nls + 2) * sizeof(*nl)))) {
		close(fd);
		return -1;
	}
	w->ls = nl;
	if (!(ni = realloc(w->lsi, (w->nls + 2) * sizeof(*ni)))) {
		close(fd);
		return -1;
	}
	w->lsi = ni;
	w->ls[w->nls] = evconnlistener_new(w->base, accept_cb, (void *)li, LEV_OPT_CLOSE_ON_FREE,
	                                   -1, fd);
	if (!w->ls[w->nls]) {
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(w->ls[w->nls], accept_error_cb);
	w->lsi[w->nls++] = li;
	return 0;
}

/* Takes socket I of W off its loop without closing it: the descriptor
 * returned (a dup) keeps the socket, and what is queued on it, alive. */
static int take_fd(pt_worker *w, unsigned i)
{
	int fd = dup(evconnlistener_get_fd(w->ls[i]));

	evconnlistener_free(w->ls[i]);
	w->ls[i] = w->ls[w->nls - 1];
	w->lsi[i] = w->lsi[w->nls - 1];
	w->nls--;
	return fd;
}

static void ls_task(void *ud)
{
	struct ls_change *c = ud;
	pt_worker *w = c->w;

	if (c->fd >= 0) {
		if (__atomic_load_n(&c->li->removed, __ATOMIC_ACQUIRE)) {
			close(c->fd);
		} else if (w->draining) {
			/* retiring: the socket goes to worker 0 (which never retires) */
			if (w != workers[0])
				ls_post_one(workers[0], c->li, c->fd, NULL);
			else
				close(c->fd);
		} else if (watch_fd(w, c->li, c->fd) != 0) {
			log_error("worker", "worker %u: cannot watch %s:%d", w->id, c->li->address,
			          c->li->port);
		}
	} else if (c->to) {
		/* give one of our sockets of LI to a new worker, if we have two */
		unsigned n = 0, at = 0;

		for (unsigned i = 0; i < w->nls; i++)
			if (w->lsi[i] == c->li && w->ls[i]) {
				n++;
				at = i;
			}
		if (n >= 2 && !w->draining) {
			int fd = take_fd(w, at);

			if (fd >= 0)
				ls_post_one(c->to, c->li, fd, NULL);
		}
	} else {
		for (unsigned i = 0; i < w->nls; )
			if (w->lsi[i] == c->li) {
				if (w->ls[i])
					evconnlistener_free(w->ls[i]);
				w->ls[i] = w->ls[w->nls - 1];
				w->lsi[i] = w->lsi[w->nls - 1];
				w->nls--;
			} else {
				i++;
			}
	}
	free(c);
}

static void ls_post_one(pt_worker *w, const struct listener_info *li, int fd, pt_worker *to)
{
	struct ls_change *c = malloc(sizeof(*c));

	if (c) {
		c->w = w;
		c->li = li;
		c->fd = fd;
		c->to = to;
		if (worker_post(w, ls_task, c) == 0)
			return;
		/* a socket for a worker that retired meanwhile (a retirement
		 * decided before its own): worker 0, which never retires, takes
		 * it, so what is queued on it is still accepted */
		if (fd >= 0 && w != workers[0]) {
			c->w = workers[0];
			if (worker_post(workers[0], ls_task, c) == 0)
				return;
		}
	}
	if (fd >= 0)
		close(fd);
	free(c);
	pthread_mutex_lock(&workers[0]->post_mu);
	fd = workers[0]->closed;   /* stopping: every worker is gone or going */
	pthread_mutex_unlock(&workers[0]->post_mu);
	if (fd)
		return;
	log_error("worker", "worker %u: cannot be told of listener %s:%d", w->id, li->address,
	          li->port);
}

int workers_listen_bind(const struct listener_info *li, int *fds, char *err, size_t errlen)
{
	for (unsigned i = 0; i < nslots; i++)
		fds[i] = -1;
	for (unsigned i = 0; i < atomic_load(&nhigh); i++)
		if (workers[i]->slot_state == SLOT_LIVE && (fds[i] = bind_one(li, err, errlen)) < 0) {
			while (i-- > 0)
				if (fds[i] >= 0)
					close(fds[i]);
			return -1;
		}
	return 0;
}

/* Main thread: W took a retired worker's socket of LI (what growth takes back). */
static void extra_add(pt_worker *w, const struct listener_info *li)
{
	if (w->nextra == w->capextra) {
		unsigned cap = w->capextra ? w->capextra * 2 : 8;
		const struct listener_info **n = realloc(w->extra, cap * sizeof(*n));

		if (!n)
			return;   /* only the spread suffers */
		w->extra = n;
		w->capextra = cap;
	}
	w->extra[w->nextra++] = li;
}

static int extra_take(pt_worker *w, const struct listener_info *li)
{
	for (unsigned i = 0; i < w->nextra; i++)
		if (w->extra[i] == li) {
			w->extra[i] = w->extra[--w->nextra];
			return 1;
		}
	return 0;
}

void workers_listen_adopt(const struct listener_info *li, const int *fds)
{
	for (unsigned i = 0; i < nslots; i++) {
		if (fds[i] < 0)
			continue;
		if (workers[i]->slot_state == SLOT_LIVE || workers[i]->slot_state == SLOT_RETIRING)
			ls_post_one(workers[i], li, fds[i], NULL);
		else
			close(fds[i]);
	}
}

void workers_listen_remove(const struct listener_info *li)
{
	__atomic_store_n(&((struct listener_info *)li)->removed, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < atomic_load(&nhigh); i++) {
		pt_worker *w = workers[i];

		while (extra_take(w, li))
			;
		if (w->slot_state == SLOT_LIVE || w->slot_state == SLOT_RETIRING)
			ls_post_one(w, li, -1, NULL);
	}
}

/* ---- workers changed by a reload -------------------------------------------- */

#define MAX_GIVE 4096

static struct {
	pt_worker *start[1024];         /* slots prepared, started at commit */
	unsigned nstart;
	struct { pt_worker *from, *to; const struct listener_info *li; } give[MAX_GIVE];
	unsigned ngive;
	unsigned target;                /* the worker count asked for */
	int active;
} rz;

struct retire_req {
	pt_worker *w;
	double grace;
	unsigned nmap;
	struct { const struct listener_info *li; pt_worker *to; } map[];
};

/* On the retiring worker: its sockets go to the workers that stay, then
 * it drains as at shutdown, soft on idle HTTP/1.1 connections. */
static void retire_task(void *ud)
{
	struct retire_req *r = ud;
	pt_worker *w = r->w;

	w->retiring = 1;
	while (w->nls) {
		const struct listener_info *li = w->lsi[w->nls - 1];
		pt_worker *to = workers[0];
		int fd;

		if (!w->ls[w->nls - 1]) {
			w->nls--;
			continue;
		}
		for (unsigned k = 0; k < r->nmap; k++)
			if (r->map[k].li == li)
				to = r->map[k].to;
		fd = take_fd(w, w->nls - 1);
		if (fd < 0)
			log_error("worker", "worker %u: cannot hand over %s:%d: %s", w->id, li->address,
			          li->port, strerror(errno));
		else
			ls_post_one(to, li, fd, NULL);
	}
	log_info("worker", "worker %u retiring: %u connection(s) to finish", w->id, w->nconns);
	drain_conns(w, r->grace);
	free(r);
}

void workers_resize_abort(void)
{
	for (unsigned i = 0; i < rz.nstart; i++)
		slot_teardown(rz.start[i]);
	for (unsigned k = 0; k < rz.ngive; k++)
		extra_add(rz.give[k].from, rz.give[k].li);   /* not taken after all */
	memset(&rz, 0, sizeof(rz));
}

static int slot_reusable(const pt_worker *w, unsigned oldest)
{
	if (w->slot_state != SLOT_FREE)
		return 0;
	/* never used, or every generation it ran (its Lua states) is gone */
	return w->id >= atomic_load(&nhigh) || w->last_gen < oldest;
}

int workers_resize_prepare(unsigned n, const struct listener_info *const *lis, unsigned nlis,
                           char *err, size_t errlen)
{
	unsigned live = atomic_load(&nlive), oldest, need, found = 0, retiring = 0;
	unsigned char *skip = NULL;

	workers_resize_abort();
	if (!workers) {
		snprintf(err, errlen, "no workers running");
		return -1;
	}
	if (n < 1 || n > nslots) {
		snprintf(err, errlen, "workers = %u is above max_workers = %u (the worker slots are "
		         "made at start: restart to raise max_workers)", n, nslots);
		return -1;
	}
	rz.active = 1;
	rz.target = n;
	if (n <= live)
		return 0;
	need = n - live;
	oldest = gen_oldest_live();
	for (unsigned i = 0; i < nslots && found < need; i++)
		if (slot_reusable(workers[i], oldest)) {
			if (i < atomic_load(&nhigh)) {
				/* used before: a new struct, the old one kept (see slot_new) */
				pt_worker *fresh = slot_new(i);
				pt_worker **ng = realloc(grave, (ngrave + 1) * sizeof(*ng));

				if (!fresh || !ng) {
					free(fresh);
					if (ng)
						grave = ng;
					continue;
				}
				grave = ng;
				grave[ngrave++] = workers[i];
				fresh->extra = NULL;
				workers[i] = fresh;
			}
			rz.start[found++] = workers[i];
		}
		else if (workers[i]->slot_state == SLOT_RETIRING ||
		         (workers[i]->slot_state == SLOT_FREE && i < atomic_load(&nhigh)))
			retiring++;
	if (found < need) {
		snprintf(err, errlen, "workers = %u: only %u more worker slot(s) of max_workers = %u "
		         "can start now (%u held by retired workers still finishing their requests "
		         "or by a generation still in use; try again in a moment)", n, found, nslots,
		         retiring);
		memset(&rz, 0, sizeof(rz));
		return -1;
	}
	if (nlis && !(skip = calloc(nlis, 1))) {
		snprintf(err, errlen, "out of memory");
		memset(&rz, 0, sizeof(rz));
		return -1;
	}
	for (unsigned k = 0; k < found; k++) {
		pt_worker *w = rz.start[k];

		/* a socket a live worker took from a retired one goes to the new
		 * worker (the kernel spreads connections over sockets, not
		 * workers); a fresh socket otherwise */
		for (unsigned j = 0; j < nlis; j++) {
			skip[j] = 0;
			for (unsigned i = 0; i < atomic_load(&nhigh) && !skip[j]; i++) {
				pt_worker *o = workers[i];

				if (o->slot_state == SLOT_LIVE && rz.ngive < MAX_GIVE &&
				    extra_take(o, lis[j])) {
					rz.give[rz.ngive].from = o;
					rz.give[rz.ngive].to = w;
					rz.give[rz.ngive++].li = lis[j];
					skip[j] = 1;
				}
			}
		}
		w->slot_state = SLOT_PENDING;
		rz.nstart = k + 1;
		if (slot_setup(w, lis, nlis, skip, err, errlen) != 0) {
			free(skip);
			workers_resize_abort();
			return -1;
		}
	}
	free(skip);
	return 0;
}

void workers_resize_commit(struct gen *gen, double grace)
{
	char err[256];
	unsigned hi;

	if (!rz.active) {
		workers_set_gen(gen);
		return;
	}
	/* shrink: the highest serving ids retire */
	while (atomic_load(&nlive) > rz.target) {
		pt_worker *w = NULL, *stay[1024];
		unsigned nstay = 0;
		struct retire_req *r;
		const struct listener_info *lis[256];
		unsigned nlis = 0;

		for (unsigned i = atomic_load(&nhigh); i-- > 0; )
			if (workers[i]->slot_state == SLOT_LIVE) {
				w = workers[i];
				break;
			}
		if (!w || w == workers[0])
			break;
		w->slot_state = SLOT_RETIRING;
		atomic_fetch_sub(&nlive, 1);
		for (unsigned i = 0; i < atomic_load(&nhigh) && nstay < 1024; i++)
			if (workers[i]->slot_state == SLOT_LIVE)
				stay[nstay++] = workers[i];
		nlis = listen_reload_current(lis, 256);
		r = malloc(sizeof(*r) + (nlis + 1) * sizeof(r->map[0]));
		if (!r) {
			/* cannot say where its sockets go: it keeps them while it drains */
			struct drain_req *d = malloc(sizeof(*d));

			log_error("worker", "worker %u: out of memory: retiring it closes its sockets",
			          w->id);
			if (d) {
				d->w = w;
				d->grace = grace;
				if (worker_post(w, drain_task, d) != 0)
					free(d);
			}
			continue;
		}
		r->w = w;
		r->grace = grace;
		r->nmap = nlis;
		for (unsigned j = 0; j < nlis; j++) {
			/* spread by listener over the workers that stay */
			pt_worker *to = stay[(w->id + j) % nstay];

			r->map[j].li = lis[j];
			r->map[j].to = to;
			extra_add(to, lis[j]);
			/* and whatever it had taken from workers retired before */
			while (extra_take(w, lis[j]))
				extra_add(to, lis[j]);
		}
		w->nextra = 0;
		if (worker_post(w, retire_task, r) != 0) {
			free(r);
			log_error("worker", "worker %u cannot be told to retire", w->id);
		}
		log_info("worker", "reload: worker %u retires (workers = %u)", w->id, rz.target);
	}
	workers_set_gen(gen);   /* to the workers that stay */
	/* grow: the prepared slots start on GEN */
	hi = atomic_load(&nhigh);
	for (unsigned k = 0; k < rz.nstart; k++) {
		pt_worker *w = rz.start[k];

		w->gen = gen;
		gen_ref(gen);
		pthread_mutex_lock(&w->post_mu);
		w->closed = 0;
		pthread_mutex_unlock(&w->post_mu);
		atomic_store(&w->exited, 0);
		w->slot_state = SLOT_LIVE;
		watchdog_set_live(w->id, 1);
		if (w->id + 1 > hi)
			hi = w->id + 1;
		atomic_store(&nhigh, hi);
		if (start_thread(w, err, sizeof(err)) != 0) {
			log_error("worker", "reload: %s", err);
			watchdog_set_live(w->id, 0);
			slot_teardown(w);
			continue;
		}
		atomic_fetch_add(&nlive, 1);
		log_info("worker", "reload: worker %u starts (workers = %u)", w->id, rz.target);
	}
	for (unsigned k = 0; k < rz.ngive; k++)
		if (rz.give[k].to->slot_state == SLOT_LIVE)
			ls_post_one(rz.give[k].from, rz.give[k].li, -1, rz.give[k].to);
	memset(&rz, 0, sizeof(rz));
}

/* Joins W (its thread ended or is ending) and runs what was still queued. */
static void slot_join(pt_worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = 0;
	pthread_mutex_lock(&w->post_mu);
	w->closed = 1;   /* from now on a post to it fails instead of waiting forever */
	pthread_mutex_unlock(&w->post_mu);
	post_cb(-1, 0, w);   /* run what was still queued (frees it) */
}

unsigned workers_reap(void)
{
	unsigned left = 0;

	for (unsigned i = 0; i < atomic_load(&nhigh); i++) {
		pt_worker *w = workers[i];

		if (w->slot_state != SLOT_RETIRING)
			continue;
		if (!atomic_load(&w->exited)) {
			left++;
			continue;
		}
		slot_join(w);
		watchdog_set_live(w->id, 0);
		slot_teardown(w);
		log_info("worker", "worker %u retired", i);
	}
	return left;
}

unsigned workers_retiring(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < atomic_load(&nhigh); i++)
		n += workers[i]->slot_state == SLOT_RETIRING;
	return n;
}

void workers_stop(double grace)
{
	unsigned hi = atomic_load(&nhigh);

	workers_resize_abort();
	for (unsigned i = 0; i < hi; i++) {
		struct drain_req *d;

		if (workers[i]->slot_state != SLOT_LIVE)
			continue;   /* retiring ones drain already */
		if (!(d = malloc(sizeof(*d)))) {
			event_base_loopbreak(workers[i]->base);
			continue;
		}
		d->w = workers[i];
		d->grace = grace;
		if (worker_post(workers[i], drain_task, d) != 0) {
			free(d);
			event_base_loopbreak(workers[i]->base);
		}
	}
	for (unsigned i = 0; i < hi; i++) {
		pt_worker *w = workers[i];

		if (w->slot_state != SLOT_LIVE && w->slot_state != SLOT_RETIRING)
			continue;
		slot_join(w);
		slot_teardown(w);
	}
	for (unsigned i = 0; i < nslots; i++)
		slot_destroy(workers[i]);
	for (unsigned i = 0; i < ngrave; i++)
		slot_destroy(grave[i]);
	free(grave);
	grave = NULL;
	ngrave = 0;
	free(workers);
	workers = NULL;
	nslots = 0;
	atomic_store(&nhigh, 0);
	atomic_store(&nlive, 0);
	watchdog_free();
}
