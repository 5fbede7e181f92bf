/*
 * phase_metrics.h - where a request's time goes: per phase (the access
 * filters, the handler, the wait on upstreams) and per plugin (the time
 * spent inside each plugin's filter and handler callbacks, and Lua's).
 *
 *   portico_request_phase_seconds{phase="filters|handler|upstream_wait"}   histogram
 *   portico_plugin_call_seconds_total{plugin,kind="filter|handler"}          counter
 *   portico_plugin_calls_total{plugin,kind}                                  counter
 *
 * filters: from the request head to the handler's start (or to the answer
 * when a filter answered: a 401, a 429), waits of asynchronous filters
 * (a Redis rate limit, a Lua filter's http.request) included. handler:
 * from the handler's start to the end of the exchange (its upstream waits
 * and the response's transfer included). upstream_wait: the time spent
 * waiting on upstreams, summed over the request's calls (the access log's
 * $upstream_latency_ms). A plugin's call time is the synchronous time in
 * its callback (what it does on the worker's thread before it returns),
 * not the wait it starts: that is upstream_wait.
 *
 * Per-worker tables written only by their worker (relaxed stores), summed
 * by the main thread at a scrape, as req_metrics.h does.
 */
#ifndef PT_PHASE_METRICS_H
#define PT_PHASE_METRICS_H

#include <stdint.h>
#include <stdio.h>

enum phase_kind { PHASE_FILTER = 0, PHASE_HANDLER = 1 };

/* Sizes the per-worker tables; once, before the workers start. -1: no memory. */
int phase_metrics_init(unsigned nworkers);
/* PLUGIN (static or living as long as the process: a plugin's name, "lua",
 * "core") spent US microseconds in one KIND callback on worker W. */
void phase_metrics_call(unsigned w, const char *plugin, enum phase_kind kind, uint64_t us);
/* One finished request's phases on worker W; HANDLER_US is UINT64_MAX when
 * no handler ran. */
void phase_metrics_request(unsigned w, uint64_t filters_us, uint64_t handler_us,
                           uint64_t upstream_us);
void phase_metrics_render(FILE *f);
void phase_metrics_free(void);

#endif
