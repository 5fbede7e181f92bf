/* up_metrics.c - see up_metrics.h. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portico/types.h"
#include "gen.h"
#include "req_metrics.h"
#include "upstream/state.h"
#include "upstream/up_metrics.h"
#include "worker.h"

#define NBUCKETS 11     /* the bounds below, then +Inf */

static const char *const kinds[UPF_N] = { "connect", "timeout", "error", "5xx" };
static const double bounds[NBUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

/* One (upstream, server) pair. The names are written before USED is
 * released; the counters only by the owning worker, read by the scrape. */
struct entry {
	_Atomic int used;
	uint32_t hash;
	char *upstream, *server;      /* owned copies: generations come and go */
	_Atomic uint64_t requests;
	_Atomic uint64_t fails[UPF_N];
	_Atomic uint64_t conns[2];    /* new, reused */
	_Atomic uint64_t buckets[NBUCKETS + 1];
	_Atomic uint64_t sum_us;
};

struct wtable {
	struct entry e[UP_METRICS_SLOTS];
	unsigned used;                /* worker-only */
	_Atomic uint64_t dropped;
};

static struct wtable *tabs;
static unsigned ntabs;

/* The tables a scrape walks: the worker slots used so far, not all of
 * max_workers (a retired worker's table stays in the sums). */
static unsigned scan_tabs(void)
{
	unsigned u = worker_slots_used();

	return u && u < ntabs ? u : ntabs;
}

int up_metrics_init(unsigned nworkers)
{
	tabs = calloc(nworkers ? nworkers : 1, sizeof(*tabs));
	if (!tabs)
		return -1;
	ntabs = nworkers;
	return 0;
}

enum up_fail up_metrics_kind(int status, int connected)
{
	if (status >= 500)
		return UPF_5XX;
	if (status >= 0)
		return UPF_NONE;
	if (status == PT_ETIMEDOUT)
		return UPF_TIMEOUT;
	return connected ? UPF_ERROR : UPF_CONNECT;
}

static inline void bump(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
	                      memory_order_relaxed);
}

static uint32_t hash_of(const char *up, const char *server)
{
	uint32_t h = 2166136261u;

	for (const char *p = up; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (const char *p = server; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static struct entry *find(struct wtable *t, const char *up, const char *server)
{
	uint32_t h = hash_of(up, server);

	for (unsigned i = 0, j = h; i < UP_METRICS_SLOTS; i++, j++) {
		struct entry *e = &t->e[j % UP_METRICS_SLOTS];

		if (!atomic_load_explicit(&e->used, memory_order_relaxed)) {
			if (t->used >= UP_METRICS_SLOTS / 2)   /* keep probing short */
				return NULL;
			if (!(e->upstream = strdup(up)) || !(e->server = strdup(server))) {
				free(e->upstream);
				e->upstream = NULL;
				return NULL;
			}
			e->hash = h;
			t->used++;
			atomic_store_explicit(&e->used, 1, memory_order_release);
			return e;
		}
		if (e->hash == h && !strcmp(e->upstream, up) && !strcmp(e->server, server))
			return e;
	}
	return NULL;
}

void up_metrics_count(unsigned w, const char *upstream, const char *server, enum up_fail kind,
                      enum up_conn conn, uint64_t us)
{
	struct entry *e;
	unsigned b;

	if (w >= ntabs || !upstream || !server)
		return;
	if (!(e = find(&tabs[w], upstream, server))) {
		bump(&tabs[w].dropped, 1);
		return;
	}
	bump(&e->requests, 1);
	if (kind != UPF_NONE)
		bump(&e->fails[kind], 1);
	if (conn != UPC_NONE)
		bump(&e->conns[conn == UPC_REUSED], 1);
	for (b = 0; b < NBUCKETS && (double)us / 1e6 > bounds[b]; b++)
		;
	bump(&e->buckets[b], 1);
	bump(&e->sum_us, us);
}

static void put_pair(FILE *f, const char *name, const char *up, const char *server)
{
	fprintf(f, "%s{upstream=\"", name);
	req_metrics_put_label(f, up);
	fputs("\",server=\"", f);
	req_metrics_put_label(f, server);
	fputc('"', f);
}

struct sum {
	const char *upstream, *server;
	uint64_t requests, fails[UPF_N], conns[2], buckets[NBUCKETS + 1], sum_us;
};

static int by_name(const void *a, const void *b)
{
	const struct sum *x = a, *y = b;
	int c = strcmp(x->upstream, y->upstream);

	return c ? c : strcmp(x->server, y->server);
}

void up_metrics_render(FILE *f, const struct gen *g)
{
	unsigned nt = scan_tabs();
	struct sum *s = calloc((size_t)UP_METRICS_SLOTS * (nt ? nt : 1), sizeof(*s));
	unsigned n = 0;
	uint64_t dropped = 0;

	if (!s)
		return;
	for (unsigned w = 0; w < nt; w++) {
		dropped += atomic_load_explicit(&tabs[w].dropped, memory_order_relaxed);
		for (unsigned i = 0; i < UP_METRICS_SLOTS; i++) {
			const struct entry *e = &tabs[w].e[i];
			unsigned k;

			if (!atomic_load_explicit(&e->used, memory_order_acquire))
				continue;
			for (k = 0; k < n; k++)   /* a few pairs: a scan is enough */
				if (!strcmp(s[k].upstream, e->upstream) && !strcmp(s[k].server, e->server))
					break;
			if (k == n) {
				s[n].upstream = e->upstream;
				s[n].server = e->server;
				n++;
			}
			s[k].requests += atomic_load_explicit(&e->requests, memory_order_relaxed);
			for (unsigned j = 0; j < UPF_N; j++)
				s[k].fails[j] += atomic_load_explicit(&e->fails[j], memory_order_relaxed);
			for (unsigned j = 0; j < 2; j++)
				s[k].conns[j] += atomic_load_explicit(&e->conns[j], memory_order_relaxed);
			for (unsigned j = 0; j <= NBUCKETS; j++)
				s[k].buckets[j] += atomic_load_explicit(&e->buckets[j], memory_order_relaxed);
			s[k].sum_us += atomic_load_explicit(&e->sum_us, memory_order_relaxed);
		}
	}
	qsort(s, n, sizeof(*s), by_name);
	fputs("# HELP portico_upstream_requests_total Attempts sent to an upstream's server "
	      "(a retry is one more).\n# TYPE portico_upstream_requests_total counter\n", f);
	for (unsigned i = 0; i < n; i++) {
		put_pair(f, "portico_upstream_requests_total", s[i].upstream, s[i].server);
		fprintf(f, "} %llu\n", (unsigned long long)s[i].requests);
	}
	fputs("# HELP portico_upstream_failures_total Attempts that failed, by kind: connect "
	      "(no connection made), timeout, error (reset, TLS, malformed response), 5xx "
	      "(answered with a 5xx status).\n# TYPE portico_upstream_failures_total counter\n", f);
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < UPF_N; j++) {
			put_pair(f, "portico_upstream_failures_total", s[i].upstream, s[i].server);
			fprintf(f, ",kind=\"%s\"} %llu\n", kinds[j], (unsigned long long)s[i].fails[j]);
		}
	fputs("# HELP portico_upstream_connections_total Attempts by the connection they "
	      "used: a new one, or one reused from the worker's pool.\n"
	      "# TYPE portico_upstream_connections_total counter\n", f);
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < 2; j++) {
			put_pair(f, "portico_upstream_connections_total", s[i].upstream, s[i].server);
			fprintf(f, ",reused=\"%s\"} %llu\n", j ? "yes" : "no",
			        (unsigned long long)s[i].conns[j]);
		}
	fputs("# HELP portico_upstream_duration_seconds Time from an attempt's start to its "
	      "end (the response's end, or the failure).\n"
	      "# TYPE portico_upstream_duration_seconds histogram\n", f);
	for (unsigned i = 0; i < n; i++) {
		uint64_t cum = 0;

		for (unsigned k = 0; k <= NBUCKETS; k++) {
			cum += s[i].buckets[k];
			put_pair(f, "portico_upstream_duration_seconds_bucket", s[i].upstream,
			         s[i].server);
			if (k < NBUCKETS)
				fprintf(f, ",le=\"%g\"} %llu\n", bounds[k], (unsigned long long)cum);
			else
				fprintf(f, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		put_pair(f, "portico_upstream_duration_seconds_sum", s[i].upstream, s[i].server);
		fprintf(f, "} %.6f\n", (double)s[i].sum_us / 1e6);
		put_pair(f, "portico_upstream_duration_seconds_count", s[i].upstream, s[i].server);
		fprintf(f, "} %llu\n", (unsigned long long)cum);
	}
	fprintf(f, "# HELP portico_upstream_metrics_dropped_total Attempts not counted: a "
	        "worker's table of (upstream, server) pairs was full.\n"
	        "# TYPE portico_upstream_metrics_dropped_total counter\n"
	        "portico_upstream_metrics_dropped_total %llu\n", (unsigned long long)dropped);
	fputs("# HELP portico_upstream_up Active health of each server of the running "
	      "generation's upstreams: 1 up, 0 down (always 1 without health checks).\n"
	      "# TYPE portico_upstream_up gauge\n", f);
	for (unsigned i = 0; g && g->upstreams && i < g->upstreams->n; i++) {
		const struct upstream_state *u = &g->upstreams->u[i];

		for (unsigned j = 0; j < u->conf->nservers; j++) {
			put_pair(f, "portico_upstream_up", u->conf->name, u->conf->servers[j]);
			fprintf(f, "} %d\n", !upstream_server_down(u, j));
		}
	}
	free(s);
}

void up_metrics_free(void)
{
	for (unsigned w = 0; w < ntabs; w++)
		for (unsigned i = 0; i < UP_METRICS_SLOTS; i++) {
			free(tabs[w].e[i].upstream);
			free(tabs[w].e[i].server);
		}
	free(tabs);
	tabs = NULL;
	ntabs = 0;
}
