/*
 * health.h - active health checks for the upstreams that declare `health`.
 *
 * One checker per generation, on the main thread's loop: probes run from one
 * place, not once per worker, and each verdict is published in the
 * generation's upstream state (state.h) where every worker reads it with a
 * relaxed atomic load. A server failing `unhealthy` probes in a row is down
 * for every worker until `healthy` probes in a row pass; each change is one
 * log line. The checker holds a reference to its generation and stops when
 * the next generation's starts (reload) or at shutdown.
 */
#ifndef PT_UPSTREAM_HEALTH_H
#define PT_UPSTREAM_HEALTH_H

struct event_base;
struct gen;

/*
 * Starts checking G's upstreams on BASE (borrowed; the main thread's, which
 * must outlive the checks) and stops the previous generation's checks. A
 * server both generations list keeps its verdict and its counts. Main thread
 * only, never from inside a probe's callback. 0, or PT_ENOMEM (G then runs
 * without active checks; the previous checker is stopped all the same).
 */
int health_start(struct event_base *base, struct gen *g);

/* Stops the checks and releases their generation (main thread). */
void health_stop(void);

#endif
