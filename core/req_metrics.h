/*
 * req_metrics.h - the core's request metrics: requests by route pattern,
 * method, status class and protocol, a latency histogram per route
 * pattern, request and response bytes.
 *
 * Each worker counts into its own table (no lock, no shared atomic
 * read-modify-write on the request path: a relaxed load and store of a
 * counter only its worker writes); the main thread sums the workers' tables
 * when /metrics is scraped. Labels are bounded: the route's pattern as
 * declared (never the raw path), a known method or OTHER, a status class,
 * one of four protocols; a worker keeps at most REQ_METRICS_SLOTS label
 * sets and folds the rest into route="(overflow)".
 */
#ifndef PT_REQ_METRICS_H
#define PT_REQ_METRICS_H

#include <stdint.h>
#include <stdio.h>

#define REQ_METRICS_SLOTS 1024

enum req_proto { RQ_H1 = 0, RQ_H2 = 1, RQ_WS = 2, RQ_GRPC = 3 };

/* Sizes the per-worker tables; once, before the workers start. -1: no memory. */
int req_metrics_init(unsigned nworkers);
/*
 * Counts one finished request on worker W (its own thread only). ROUTE is
 * the matched pattern (borrowed for the call; NULL: no route matched);
 * METHOD an enum pt_method bit (0: an extension method); STATUS the status
 * reported; US the time from head to end.
 */
void req_metrics_count(unsigned w, const char *route, unsigned method, int status,
                       enum req_proto proto, uint64_t us, uint64_t bytes_in,
                       uint64_t bytes_out);
/* Appends the families to F (main thread, at a scrape). */
void req_metrics_render(FILE *f);
/* Writes S as a label value, with \, " and line feeds escaped (format 0.0.4). */
void req_metrics_put_label(FILE *f, const char *s);
void req_metrics_free(void);

#endif
