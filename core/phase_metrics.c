/* phase_metrics.c - see phase_metrics.h. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "phase_metrics.h"
#include "req_metrics.h"
#include "worker.h"

#define NB 16               /* the bounds below, then +Inf */
#define NPLUGINS 64         /* plugin x kind slots per worker; more fold into "(other)" */

static const double bounds[NB] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                   0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
static const char *const phases[3] = { "filters", "handler", "upstream_wait" };
static const char *const kinds[2] = { "filter", "handler" };

struct hist {
	_Atomic uint64_t b[NB + 1], sum_us;
};

struct pslot {
	_Atomic(const char *) name;   /* NULL: free */
	unsigned kind;
	_Atomic uint64_t calls, us;
};

struct wtab {
	struct hist ph[3];
	struct pslot p[NPLUGINS];
};

static struct wtab *tabs;
static unsigned ntabs;

/* The tables a scrape walks: the worker slots used so far, not all of
 * max_workers (a retired worker's table stays in the sums). */
static unsigned scan_tabs(void)
{
	unsigned u = worker_slots_used();

	return u && u < ntabs ? u : ntabs;
}

int phase_metrics_init(unsigned nworkers)
{
	free(tabs);
	tabs = calloc(nworkers ? nworkers : 1, sizeof(*tabs));
	ntabs = tabs ? nworkers : 0;
	return tabs ? 0 : -1;
}

static inline void bump(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
	                      memory_order_relaxed);
}

static void observe(struct hist *h, uint64_t us)
{
	unsigned b = 0;

	while (b < NB && (double)us / 1e6 > bounds[b])
		b++;
	bump(&h->b[b], 1);
	bump(&h->sum_us, us);
}

void phase_metrics_call(unsigned w, const char *plugin, enum phase_kind kind, uint64_t us)
{
	struct pslot *p;

	if (w >= ntabs || !plugin)
		return;
	p = tabs[w].p;
	for (unsigned i = 0; i < NPLUGINS; i++) {
		const char *n = atomic_load_explicit(&p[i].name, memory_order_relaxed);

		if (!n) {
			/* a new slot: its kind first, then its name for the scraper */
			p[i].kind = kind;
			atomic_store_explicit(&p[i].name, plugin, memory_order_release);
		} else if (p[i].kind != kind || (n != plugin && strcmp(n, plugin))) {
			continue;
		}
		bump(&p[i].calls, 1);
		bump(&p[i].us, us);
		return;
	}
}

void phase_metrics_request(unsigned w, uint64_t filters_us, uint64_t handler_us,
                           uint64_t upstream_us)
{
	if (w >= ntabs)
		return;
	observe(&tabs[w].ph[0], filters_us);
	if (handler_us != UINT64_MAX)
		observe(&tabs[w].ph[1], handler_us);
	if (upstream_us)
		observe(&tabs[w].ph[2], upstream_us);
}

struct psum {
	const char *name;
	unsigned kind;
	uint64_t calls, us;
};

void phase_metrics_render(FILE *f)
{
	struct psum s[NPLUGINS];
	unsigned n = 0;

	fputs("# HELP portico_request_phase_seconds Time of each request phase: the access "
	      "filters, the handler, the wait on upstreams.\n"
	      "# TYPE portico_request_phase_seconds histogram\n", f);
	for (unsigned k = 0; k < 3; k++) {
		uint64_t b[NB + 1] = { 0 }, sum = 0, cum = 0;

		for (unsigned w = 0, nt = scan_tabs(); w < nt; w++) {
			for (unsigned i = 0; i <= NB; i++)
				b[i] += atomic_load_explicit(&tabs[w].ph[k].b[i], memory_order_relaxed);
			sum += atomic_load_explicit(&tabs[w].ph[k].sum_us, memory_order_relaxed);
		}
		for (unsigned i = 0; i <= NB; i++) {
			cum += b[i];
			if (i < NB)
				fprintf(f, "portico_request_phase_seconds_bucket{phase=\"%s\",le=\"%g\"} "
				        "%llu\n", phases[k], bounds[i], (unsigned long long)cum);
			else
				fprintf(f, "portico_request_phase_seconds_bucket{phase=\"%s\",le=\"+Inf\"} "
				        "%llu\n", phases[k], (unsigned long long)cum);
		}
		fprintf(f, "portico_request_phase_seconds_sum{phase=\"%s\"} %.6f\n"
		        "portico_request_phase_seconds_count{phase=\"%s\"} %llu\n", phases[k],
		        (double)sum / 1e6, phases[k], (unsigned long long)cum);
	}
	for (unsigned w = 0, nt = scan_tabs(); w < nt; w++)
		for (unsigned i = 0; i < NPLUGINS; i++) {
			const struct pslot *p = &tabs[w].p[i];
			const char *nm = atomic_load_explicit(&p->name, memory_order_acquire);
			unsigned j;

			if (!nm)
				break;
			for (j = 0; j < n; j++)
				if (s[j].kind == p->kind && !strcmp(s[j].name, nm))
					break;
			if (j == n) {
				if (n == NPLUGINS)
					continue;
				s[n++] = (struct psum){ nm, p->kind, 0, 0 };
			}
			s[j].calls += atomic_load_explicit(&p->calls, memory_order_relaxed);
			s[j].us += atomic_load_explicit(&p->us, memory_order_relaxed);
		}
	fputs("# HELP portico_plugin_call_seconds_total Time spent inside each plugin's filter "
	      "and handler callbacks (\"lua\": route scripts' filters and handlers).\n"
	      "# TYPE portico_plugin_call_seconds_total counter\n", f);
	for (unsigned j = 0; j < n; j++) {
		fputs("portico_plugin_call_seconds_total{plugin=\"", f);
		req_metrics_put_label(f, s[j].name);
		fprintf(f, "\",kind=\"%s\"} %.6f\n", kinds[s[j].kind], (double)s[j].us / 1e6);
	}
	fputs("# HELP portico_plugin_calls_total Calls of each plugin's filter and handler "
	      "callbacks.\n# TYPE portico_plugin_calls_total counter\n", f);
	for (unsigned j = 0; j < n; j++) {
		fputs("portico_plugin_calls_total{plugin=\"", f);
		req_metrics_put_label(f, s[j].name);
		fprintf(f, "\",kind=\"%s\"} %llu\n", kinds[s[j].kind], (unsigned long long)s[j].calls);
	}
}

void phase_metrics_free(void)
{
	free(tabs);
	tabs = NULL;
	ntabs = 0;
}
