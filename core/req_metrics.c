/* req_metrics.c - see req_metrics.h. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "portico/types.h"
#include "req_metrics.h"
#include "worker.h"

#define NBUCKETS 11     /* the bounds below, then +Inf */

static const double bounds[NBUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                       "OPTIONS", "CONNECT", "TRACE", "OTHER" };
static const char *const protos[] = { "h1", "h2", "ws", "grpc" };
static const char *const classes[] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
static const char OVERFLOW[] = "(overflow)";
static const char UNMATCHED[] = "(unmatched)";

/* One label set. ROUTE and the small fields are written before USED is
 * released; the counters only by the owning worker, read by the scrape. */
struct entry {
	_Atomic int used;
	uint32_t hash;
	char *route;                  /* owned (a copy: generations come and go) */
	uint8_t method, cls, proto;
	_Atomic uint64_t count;
	/* the route's latency, kept on its (method, class, proto) rows and
	 * summed per route at the scrape */
	_Atomic uint64_t buckets[NBUCKETS + 1];
	_Atomic uint64_t sum_us;
};

struct wtable {
	struct entry e[REQ_METRICS_SLOTS];
	unsigned used;                /* worker-only */
	_Atomic uint64_t bytes_in, bytes_out;
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

int req_metrics_init(unsigned nworkers)
{
	tabs = calloc(nworkers, sizeof(*tabs));
	if (!tabs)
		return -1;
	ntabs = nworkers;
	return 0;
}

static inline void bump(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
	                      memory_order_relaxed);
}

static uint32_t hash_of(const char *route, unsigned m, unsigned cls, unsigned proto)
{
	uint32_t h = 2166136261u;

	for (const char *p = route; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ (m | cls << 4 | proto << 8)) * 16777619u;
	return h ? h : 1;
}

/* The row for the label set, made on first use; NULL when the table is
 * full (the caller then uses the overflow row). */
static struct entry *find(struct wtable *t, const char *route, unsigned m, unsigned cls,
                          unsigned proto)
{
	uint32_t h = hash_of(route, m, cls, proto);

	for (unsigned i = 0, j = h; i < REQ_METRICS_SLOTS; i++, j++) {
		struct entry *e = &t->e[j % REQ_METRICS_SLOTS];

		if (!atomic_load_explicit(&e->used, memory_order_relaxed)) {
			/* keep one free slot for the overflow row */
			if (t->used + 1 >= REQ_METRICS_SLOTS && route != OVERFLOW)
				return NULL;
			if (!(e->route = strdup(route)))
				return NULL;
			e->hash = h;
			e->method = (uint8_t)m;
			e->cls = (uint8_t)cls;
			e->proto = (uint8_t)proto;
			t->used++;
			atomic_store_explicit(&e->used, 1, memory_order_release);
			return e;
		}
		if (e->hash == h && e->method == m && e->cls == cls && e->proto == proto &&
		    !strcmp(e->route, route))
			return e;
	}
	return NULL;
}

void req_metrics_count(unsigned w, const char *route, unsigned method, int status,
                       enum req_proto proto, uint64_t us, uint64_t bytes_in,
                       uint64_t bytes_out)
{
	struct wtable *t;
	struct entry *e;
	unsigned m = method ? (unsigned)__builtin_ctz(method) : 9, b;
	unsigned cls = status >= 100 && status < 600 ? (unsigned)status / 100 : 0;

	if (w >= ntabs)
		return;
	t = &tabs[w];
	if (m > 9)
		m = 9;
	e = find(t, route ? route : UNMATCHED, m, cls, proto);
	if (!e && !(e = find(t, OVERFLOW, 9, 0, 0)))
		return;
	bump(&e->count, 1);
	for (b = 0; b < NBUCKETS && (double)us / 1e6 > bounds[b]; b++)
		;
	bump(&e->buckets[b], 1);
	bump(&e->sum_us, us);
	bump(&t->bytes_in, bytes_in);
	bump(&t->bytes_out, bytes_out);
}

void req_metrics_put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* The rows of every worker summed: worker 0's rows are the reference,
 * then each other worker's rows merge into a scrape-time table. */
struct sum {
	const char *route;
	uint32_t hash;
	uint8_t method, cls, proto;
	int route_first;              /* the first row of its route: carries the histogram */
	uint64_t count, sum_us, buckets[NBUCKETS + 1];
};

static struct sum *sum_find(struct sum *s, unsigned cap, const struct entry *e, unsigned *n)
{
	for (unsigned i = 0, j = e->hash; i < cap; i++, j++) {
		struct sum *x = &s[j % cap];

		if (!x->route) {
			x->route = e->route;
			x->hash = e->hash;
			x->method = e->method;
			x->cls = e->cls;
			x->proto = e->proto;
			(*n)++;
			return x;
		}
		if (x->hash == e->hash && x->method == e->method && x->cls == e->cls &&
		    x->proto == e->proto && !strcmp(x->route, e->route))
			return x;
	}
	return NULL;
}

static int by_route(const void *a, const void *b)
{
	const struct sum *x = a, *y = b;
	int c;

	if (!x->route || !y->route)
		return !x->route - !y->route;
	if ((c = strcmp(x->route, y->route)))
		return c;
	return (x->method << 16 | x->cls << 8 | x->proto) - (y->method << 16 | y->cls << 8 | y->proto);
}

void req_metrics_render(FILE *f)
{
	unsigned cap = REQ_METRICS_SLOTS * 2, n = 0;
	struct sum *s = calloc(cap, sizeof(*s));
	uint64_t in = 0, out = 0;

	if (!s)
		return;
	for (unsigned w = 0, nt = scan_tabs(); w < nt; w++) {
		in += atomic_load_explicit(&tabs[w].bytes_in, memory_order_relaxed);
		out += atomic_load_explicit(&tabs[w].bytes_out, memory_order_relaxed);
		for (unsigned i = 0; i < REQ_METRICS_SLOTS; i++) {
			const struct entry *e = &tabs[w].e[i];
			struct sum *x;

			if (!atomic_load_explicit(&e->used, memory_order_acquire) ||
			    !(x = sum_find(s, cap, e, &n)))
				continue;
			x->count += atomic_load_explicit(&e->count, memory_order_relaxed);
			x->sum_us += atomic_load_explicit(&e->sum_us, memory_order_relaxed);
			for (unsigned b = 0; b <= NBUCKETS; b++)
				x->buckets[b] += atomic_load_explicit(&e->buckets[b], memory_order_relaxed);
		}
	}
	qsort(s, cap, sizeof(*s), by_route);   /* the n rows first, grouped by route */

	fputs("# HELP portico_http_requests_total Requests answered, by route pattern, method, "
	      "status class and protocol.\n# TYPE portico_http_requests_total counter\n", f);
	for (unsigned i = 0; i < n; i++) {
		fputs("portico_http_requests_total{route=\"", f);
		req_metrics_put_label(f, s[i].route);
		fprintf(f, "\",method=\"%s\",status=\"%s\",protocol=\"%s\"} %llu\n",
		        methods[s[i].method], classes[s[i].cls], protos[s[i].proto],
		        (unsigned long long)s[i].count);
	}
	fputs("# HELP portico_http_request_duration_seconds Time from the request head to the "
	      "end of the exchange, by route pattern.\n"
	      "# TYPE portico_http_request_duration_seconds histogram\n", f);
	for (unsigned i = 0; i < n;) {
		uint64_t b[NBUCKETS + 1] = { 0 }, sum_us = 0, cum = 0;
		unsigned j = i;

		for (; j < n && !strcmp(s[j].route, s[i].route); j++) {
			sum_us += s[j].sum_us;
			for (unsigned k = 0; k <= NBUCKETS; k++)
				b[k] += s[j].buckets[k];
		}
		for (unsigned k = 0; k <= NBUCKETS; k++) {
			cum += b[k];
			fputs("portico_http_request_duration_seconds_bucket{route=\"", f);
			req_metrics_put_label(f, s[i].route);
			if (k < NBUCKETS)
				fprintf(f, "\",le=\"%g\"} %llu\n", bounds[k], (unsigned long long)cum);
			else
				fprintf(f, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		fputs("portico_http_request_duration_seconds_sum{route=\"", f);
		req_metrics_put_label(f, s[i].route);
		fprintf(f, "\"} %.6f\n", (double)sum_us / 1e6);
		fputs("portico_http_request_duration_seconds_count{route=\"", f);
		req_metrics_put_label(f, s[i].route);
		fprintf(f, "\"} %llu\n", (unsigned long long)cum);
		i = j;
	}
	fprintf(f, "# HELP portico_http_request_bytes_total Request body bytes received.\n"
	        "# TYPE portico_http_request_bytes_total counter\nportico_http_request_bytes_total %llu\n"
	        "# HELP portico_http_response_bytes_total Response body bytes sent.\n"
	        "# TYPE portico_http_response_bytes_total counter\n"
	        "portico_http_response_bytes_total %llu\n",
	        (unsigned long long)in, (unsigned long long)out);
	free(s);
}

void req_metrics_free(void)
{
	for (unsigned w = 0; w < ntabs; w++)
		for (unsigned i = 0; i < REQ_METRICS_SLOTS; i++)
			free(tabs[w].e[i].route);
	free(tabs);
	tabs = NULL;
	ntabs = 0;
}
