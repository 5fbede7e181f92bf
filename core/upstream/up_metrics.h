/*
 * up_metrics.h - the upstreams' metrics: attempts and failures per upstream
 * and server, and each server's active-health verdict.
 *
 * Like req_metrics.c: each worker counts into its own table (a relaxed load
 * and store of counters only it writes, no shared read-modify-write), the
 * main thread sums the tables at a scrape. The latency is one clock read at
 * each end of an attempt (the caller's). Labels are bounded: the
 * upstream's name and the server's address as the config writes them, a
 * failure kind from a fixed set; a worker keeps at most UP_METRICS_SLOTS / 2
 * (upstream, server) pairs (the table half full keeps probing short) and
 * drops the rest (counted in portico_upstream_metrics_dropped_total).
 */
#ifndef PT_UP_METRICS_H
#define PT_UP_METRICS_H

#include <stdint.h>
#include <stdio.h>

#define UP_METRICS_SLOTS 512

enum up_fail { UPF_NONE = -1, UPF_CONNECT = 0, UPF_TIMEOUT, UPF_ERROR, UPF_5XX, UPF_N };

struct gen;

/* Sizes the per-worker tables; once, before the workers start. -1: no memory. */
int up_metrics_init(unsigned nworkers);
/* The failure kind of an attempt that ended with STATUS (an HTTP status, or
 * a negative PT_E*), CONNECTED saying whether a connection was made. */
enum up_fail up_metrics_kind(int status, int connected);
enum up_conn { UPC_NONE = 0, UPC_NEW, UPC_REUSED };

/* One attempt of worker W (its own thread) on SERVER of UPSTREAM ended
 * after US microseconds, failing with KIND or not (UPF_NONE), on a new or
 * a pooled connection (CONN). */
void up_metrics_count(unsigned w, const char *upstream, const char *server, enum up_fail kind,
                      enum up_conn conn, uint64_t us);
/* Appends the families to F (main thread, at a scrape); G the running
 * generation (its servers' health), or NULL. */
void up_metrics_render(FILE *f, const struct gen *g);
void up_metrics_free(void);

#endif
