/*
 * watchdog.c - stuck workers; see watchdog.h.
 *
 * A slot is written by its worker and read by the main thread. The
 * heartbeat is one atomic. What the worker runs is an exchange pointer
 * under the slot's mutex: the worker takes it only to set or clear the
 * pointer (never while running the code), and the main thread holds it
 * while it reads the exchange. So the exchange cannot end under the
 * reader: the worker clears the pointer before it lets the exchange go,
 * and clearing waits for the mutex.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gen.h"
#include "http/exchange.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"
#include "watchdog.h"
#include "worker.h"

#define PATH_SHOWN 256     /* a request path longer than this is cut in the message */

struct slot {
	_Atomic uint64_t beat_ms;    /* the loop's last heartbeat */
	pthread_mutex_t mu;
	pt_exchange *x;              /* under mu: the exchange whose code runs now, or NULL */
	char lua_at[320];            /* under mu: "file:line" the Lua hook saw x run, or "" */
	atomic_int want_line;        /* the loop is late: the Lua hook should fill lua_at */
	/* the main thread's alone */
	int live;                    /* a worker runs in this slot (watchdog_set_live) */
	int stuck;
	uint64_t stuck_beat;         /* the heartbeat the stall began after */
};

static struct slot *slots;
static unsigned nslots;
static pt_metric *stalls;

uint64_t watchdog_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int watchdog_init(unsigned n)
{
	uint64_t now = watchdog_now_ms();

	watchdog_free();
	slots = calloc(n ? n : 1, sizeof(*slots));
	if (!slots)
		return -1;
	nslots = n;
	for (unsigned i = 0; i < n; i++) {
		atomic_init(&slots[i].beat_ms, now);
		slots[i].live = 1;   /* workers.c marks the slots it leaves free */
		pthread_mutex_init(&slots[i].mu, NULL);
	}
	stalls = metric_new(METRIC_COUNTER, "portico_worker_stalls_total",
	                    "Times a worker's loop did not come back within watchdog_timeout");
	return 0;
}

void watchdog_free(void)
{
	for (unsigned i = 0; i < nslots; i++)
		pthread_mutex_destroy(&slots[i].mu);
	free(slots);
	slots = NULL;
	nslots = 0;
}

void watchdog_set_live(unsigned worker, int live)
{
	if (worker >= nslots)
		return;
	/* a new thread starts with a fresh heartbeat, not its predecessor's */
	atomic_store_explicit(&slots[worker].beat_ms, watchdog_now_ms(), memory_order_relaxed);
	slots[worker].live = live;
	slots[worker].stuck = 0;
}

void watchdog_beat(unsigned worker)
{
	if (worker < nslots) {
		atomic_store_explicit(&slots[worker].beat_ms, watchdog_now_ms(), memory_order_relaxed);
		atomic_store_explicit(&slots[worker].want_line, 0, memory_order_relaxed);
	}
}

int watchdog_wants_line(pt_worker *w)
{
	return w && w->id < nslots &&
	       atomic_load_explicit(&slots[w->id].want_line, memory_order_relaxed);
}

void watchdog_lua_line(pt_worker *w, const char *src, int line)
{
	struct slot *s;

	if (!w || w->id >= nslots)
		return;
	s = &slots[w->id];
	pthread_mutex_lock(&s->mu);
	snprintf(s->lua_at, sizeof(s->lua_at), "%s:%d", src ? src : "?", line);
	pthread_mutex_unlock(&s->mu);
}

static void set_running(pt_worker *w, pt_exchange *x)
{
	struct slot *s = &slots[w->id];

	pthread_mutex_lock(&s->mu);
	s->x = x;
	s->lua_at[0] = '\0';
	pthread_mutex_unlock(&s->mu);
}

pt_exchange *watchdog_enter(pt_worker *w, pt_exchange *x)
{
	pt_exchange *prev;

	if (!w || w->id >= nslots)
		return NULL;
	prev = slots[w->id].x;   /* only this thread writes it */
	if (prev != x)
		set_running(w, x);
	return prev;
}

void watchdog_leave(pt_worker *w, pt_exchange *prev)
{
	if (w && w->id < nslots && slots[w->id].x != prev)
		set_running(w, prev);
}

/* What slot S runs, as the end of a log line; the caller holds S's mutex. */
static void describe(const struct slot *s, char *buf, size_t len)
{
	const pt_exchange *x = s->x;
	const struct route_entry *re;
	const struct handler_reg *h;
	size_t id_len;

	if (!x) {
		snprintf(buf, len, "outside any request (a timer, a plugin's task or the loop "
		         "itself)");
		return;
	}
	re = x->route;
	h = re ? re->handler : NULL;
	/* the id is made on first ask, maybe by the late code right now */
	id_len = x->id_len < sizeof(x->id) ? x->id_len : 0;
	snprintf(buf, len, "%.*s %.*s%s, route %s at %s:%d, handler %s%s%s%s%.*s%s%s",
	         (int)x->method_name.len, x->method_name.ptr,
	         x->path.len > PATH_SHOWN ? PATH_SHOWN : (int)x->path.len, x->path.ptr,
	         x->path.len > PATH_SHOWN ? "..." : "",
	         re && re->conf->path ? re->conf->path : "?", re && re->file ? re->file : "?",
	         re ? re->conf->line : 0, h ? h->name : "?",
	         h && h->owner ? " of plugin " : "", h && h->owner ? h->owner->name : "",
	         id_len ? ", request " : "", (int)id_len, x->id,
	         s->lua_at[0] ? ", Lua running at " : "", s->lua_at);
}

unsigned watchdog_check(double timeout, uint64_t now_ms)
{
	uint64_t limit = (uint64_t)(timeout * 1000);
	unsigned nstuck = 0;
	char what[1024];

	for (unsigned i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];
		uint64_t beat = atomic_load_explicit(&s->beat_ms, memory_order_relaxed);

		if (!s->live)
			continue;   /* a free worker slot (max_workers) */

		if (s->stuck && beat != s->stuck_beat) {
			s->stuck = 0;
			log_warn("watchdog", "worker %u recovered: its loop is back after %.1f s", i,
			         (double)(beat - s->stuck_beat) / 1000.0);
		}
		if (!limit || now_ms < beat || now_ms - beat <= limit) {
			/* late already: by the timeout, Lua code will have said its line */
			if (limit && now_ms > beat && now_ms - beat > limit / 2)
				atomic_store_explicit(&s->want_line, 1, memory_order_relaxed);
			nstuck += s->stuck;
			continue;
		}
		nstuck++;
		if (s->stuck)
			continue;   /* said once per stall */
		s->stuck = 1;
		s->stuck_beat = beat;
		metric_add(stalls, 1);
		pthread_mutex_lock(&s->mu);
		describe(s, what, sizeof(what));
		pthread_mutex_unlock(&s->mu);
		log_error("watchdog", "worker %u stuck for %.1f s (watchdog_timeout %g s): %s", i,
		          (double)(now_ms - beat) / 1000.0, timeout, what);
	}
	return nstuck;
}

double watchdog_stalls(void)
{
	return metric_value(stalls);
}
