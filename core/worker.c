/*
 * worker.c - worker threads and what runs on their loops.
 *
 * Each worker owns an event_base, its own listening sockets (SO_REUSEPORT:
 * the kernel spreads connections), and every connection it accepts: a
 * request never leaves its worker, so the hot path takes no lock. Other
 * threads reach a worker only through worker_post.
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

static pt_worker *workers;
static unsigned nworkers;
static atomic_uint count_hint;
static const struct listener_info *listeners;
static unsigned nlisteners;

unsigned worker_count(void)
{
	return nworkers ? nworkers : atomic_load(&count_hint);
}

void workers_set_count(unsigned n)
{
	atomic_store(&count_hint, n);
}

unsigned worker_index(pt_worker *w)
{
	return w->id;
}

pt_worker *worker_at(unsigned i)
{
	return i < nworkers ? &workers[i] : NULL;
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
	pt_worker *w = evconnlistener_get_base(l) == workers[0].base ? &workers[0] : NULL;
	const struct listener_info *li = arg;

	/* find our worker: listeners are per worker, the base tells which */
	for (unsigned i = 0; !w && i < nworkers; i++)
		if (workers[i].base == evconnlistener_get_base(l))
			w = &workers[i];
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

static void drain_task(void *ud)
{
	struct drain_req *d = ud;
	pt_worker *w = d->w;
	struct timeval tv = { (time_t)d->grace, (suseconds_t)((d->grace - (time_t)d->grace) * 1e6) };
	struct conn *c, *next;

	free(d);
	w->draining = 1;
	for (unsigned i = 0; i < w->nls; i++) {
		evconnlistener_free(w->ls[i]);
		w->ls[i] = NULL;
	}
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

	warm_lua(s->w, s->gen);
	s->w->gen = s->gen;     /* new exchanges take this one */
	free(s);
	gen_unref(old);         /* exchanges in flight keep theirs */
}

void workers_set_gen(struct gen *gen)
{
	for (unsigned i = 0; i < nworkers; i++) {
		struct gen_swap *s = malloc(sizeof(*s));

		if (!s)
			continue;
		s->w = &workers[i];
		s->gen = gen;
		gen_ref(gen);
		if (worker_post(&workers[i], swap_task, s) != 0) {
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
	return NULL;
}

int workers_start(unsigned n, const struct listener_info *ls, unsigned nls, struct gen *gen,
                  char *err, size_t errlen)
{
	sigset_t all, old;
	unsigned i, j;

	workers = calloc(n, sizeof(*workers));
	if (!workers || watchdog_init(n) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	nworkers = n;
	listeners = ls;
	nlisteners = nls;
	for (i = 0; i < n; i++) {
		pt_worker *w = &workers[i];
		struct event_config *ec = event_config_new();

		w->id = i;
		pthread_mutex_init(&w->post_mu, NULL);
		/* one thread per base: no lock inside the loop itself */
		event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
		w->base = event_base_new_with_config(ec);
		event_config_free(ec);
		if (!w->base) {
			w->base = event_base_new();
			if (!w->base) {
				snprintf(err, errlen, "cannot create an event loop");
				return -1;
			}
		}
		w->post_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		w->post_ev = w->post_fd >= 0 ?
			event_new(w->base, w->post_fd, EV_READ | EV_PERSIST, post_cb, w) : NULL;
		if (!w->post_ev || event_add(w->post_ev, NULL) != 0) {
			snprintf(err, errlen, "cannot create the worker's wake-up event");
			return -1;
		}
		w->ls = calloc(nls + 1, sizeof(*w->ls));
		w->lsi = calloc(nls + 1, sizeof(*w->lsi));
		if (!w->ls || !w->lsi) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		w->nls = nls;
		w->gen = gen;
		gen_ref(gen);
		for (j = 0; j < nls; j++) {
			int fd = bind_one(&ls[j], err, errlen);

			if (fd < 0)
				return -1;
			w->lsi[j] = &ls[j];
			w->ls[j] = evconnlistener_new(w->base, accept_cb, (void *)&ls[j],
			                              LEV_OPT_CLOSE_ON_FREE, -1, fd);
			if (!w->ls[j]) {
				snprintf(err, errlen, "listen %s:%d: cannot watch the socket", ls[j].address,
				         ls[j].port);
				close(fd);
				return -1;
			}
			evconnlistener_set_error_cb(w->ls[j], accept_error_cb);
		}
	}
	/* workers take no signal: the main thread handles them all */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < n; i++) {
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
			snprintf(err, errlen, "cannot start worker thread %u: %s", i, strerror(errno));
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return -1;
		}
		workers[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

/* ---- listeners changed by a reload ---------------------------------------- */

struct ls_change {
	pt_worker *w;
	const struct listener_info *li;
	int fd;                         /* adopt: the socket; remove: -1 */
};

static void ls_task(void *ud)
{
	struct ls_change *c = ud;
	pt_worker *w = c->w;

	if (c->fd >= 0) {
		struct evconnlistener **nl = NULL;
		const struct listener_info **ni = NULL;

		if (!w->draining && (nl = realloc(w->ls, (w->nls + 2) * sizeof(*nl))))
			w->ls = nl;
		if (nl && (ni = realloc(w->lsi, (w->nls + 2) * sizeof(*ni))))
			w->lsi = ni;
		if (!nl || !ni) {
			if (!w->draining)
				log_error("worker", "worker %u: out of memory: not listening on %s:%d",
				          w->id, c->li->address, c->li->port);
			close(c->fd);
		} else if (!(w->ls[w->nls] = evconnlistener_new(w->base, accept_cb, (void *)c->li,
		                                                 LEV_OPT_CLOSE_ON_FREE, -1, c->fd))) {
			log_error("worker", "worker %u: cannot watch %s:%d", w->id, c->li->address,
			          c->li->port);
			close(c->fd);
		} else {
			evconnlistener_set_error_cb(w->ls[w->nls], accept_error_cb);
			w->lsi[w->nls++] = c->li;
		}
	} else {
		for (unsigned i = 0; i < w->nls; i++)
			if (w->lsi[i] == c->li) {
				if (w->ls[i])
					evconnlistener_free(w->ls[i]);
				w->ls[i] = w->ls[w->nls - 1];
				w->lsi[i] = w->lsi[w->nls - 1];
				w->nls--;
				break;
			}
	}
	free(c);
}

int workers_listen_bind(const struct listener_info *li, int *fds, char *err, size_t errlen)
{
	for (unsigned i = 0; i < nworkers; i++)
		if ((fds[i] = bind_one(li, err, errlen)) < 0) {
			while (i-- > 0)
				close(fds[i]);
			return -1;
		}
	return 0;
}

static void ls_post(const struct listener_info *li, const int *fds)
{
	for (unsigned i = 0; i < nworkers; i++) {
		struct ls_change *c = malloc(sizeof(*c));

		if (c) {
			c->w = &workers[i];
			c->li = li;
			c->fd = fds ? fds[i] : -1;
		}
		if (!c || worker_post(&workers[i], ls_task, c) != 0) {
			if (fds)
				close(fds[i]);
			free(c);
			log_error("worker", "worker %u: cannot be told of listener %s:%d", i,
			          li->address, li->port);
		}
	}
}

void workers_listen_adopt(const struct listener_info *li, const int *fds)
{
	ls_post(li, fds);
}

void workers_listen_remove(const struct listener_info *li)
{
	ls_post(li, NULL);
}

void workers_stop(double grace)
{
	for (unsigned i = 0; i < nworkers; i++) {
		struct drain_req *d = malloc(sizeof(*d));

		if (!d) {
			event_base_loopbreak(workers[i].base);
			continue;
		}
		d->w = &workers[i];
		d->grace = grace;
		if (worker_post(&workers[i], drain_task, d) != 0)
			event_base_loopbreak(workers[i].base);
	}
	for (unsigned i = 0; i < nworkers; i++) {
		pt_worker *w = &workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		post_cb(-1, 0, w);          /* run what was still queued (frees it) */
		for (unsigned j = 0; j < w->nls; j++)
			if (w->ls[j])
				evconnlistener_free(w->ls[j]);
		free(w->ls);
		free(w->lsi);
		if (w->grace_ev)
			event_free(w->grace_ev);
		event_free(w->post_ev);
		close(w->post_fd);
		gen_unref(w->gen);
		event_base_free(w->base);
		pthread_mutex_destroy(&w->post_mu);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
	watchdog_free();
}
