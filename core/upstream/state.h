/*
 * state.h - what the workers of one generation share about its upstreams:
 *
 *  - each server's active-health verdict, written only by the health
 *    checker (upstream/health.c, main thread) and read by every worker with
 *    a relaxed atomic load: a stale answer for one request is harmless, a
 *    lock on the request path is not;
 *  - the retry budget: requests and retries of the last 10 seconds in
 *    one-second slots, each a lock-free (second, count) word;
 *  - the servers' hashes for rendezvous balancing;
 *  - the TLS context of an upstream that names its own CA.
 *
 * The generation owns it (built with the generation, freed with it), so an
 * exchange that keeps an old generation keeps that generation's state.
 */
#ifndef PT_UPSTREAM_STATE_H
#define PT_UPSTREAM_STATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "conf.h"

#define UPSTREAM_BUDGET_SLOTS 10    /* seconds the retry budget looks back */

struct upstream_server_state {
	atomic_uint down;           /* 1: the active checks say it is down */
	uint64_t hash;              /* balance_hash of "host:port" */
};

struct upstream_state {
	const struct upstream_conf *conf;
	struct upstream_server_state *servers;   /* conf->nservers */
	SSL_CTX *tls;               /* conf->tls_ca loaded; NULL: the client's own */
	_Atomic uint64_t reqs[UPSTREAM_BUDGET_SLOTS];     /* second << 32 | count */
	_Atomic uint64_t retries[UPSTREAM_BUDGET_SLOTS];
	atomic_uint budget_logged;  /* second of the last "budget spent" line */
};

struct upstream_states {
	unsigned n;
	struct upstream_state *u;   /* one per cfg->upstreams[i], same order */
};

/*
 * The state of every upstream of CFG (borrowed; must outlive the result).
 * NULL with ERR (`file:line: message`) when a CA file cannot be loaded or
 * memory runs out.
 */
struct upstream_states *upstream_states_new(const struct config *cfg, char *err, size_t errlen);
void upstream_states_free(struct upstream_states *s);

/* The state of U, one of the config's upstreams; NULL if S has none. */
struct upstream_state *upstream_state_of(struct upstream_states *s,
                                         const struct upstream_conf *u);

/* Whether server I of S is down by the active checks (relaxed load). */
static inline int upstream_server_down(const struct upstream_state *s, unsigned i)
{
	return atomic_load_explicit(&s->servers[i].down, memory_order_relaxed) != 0;
}

/* The retry budget. NOW is a monotonic second. A request counts once. */
void upstream_budget_request(struct upstream_state *s, uint32_t now);
/*
 * 1 (and the retry is counted) when retries in the window stay below
 * retry_budget_min per second plus retry_budget times the requests; else 0.
 * Workers check and count without a lock, so a burst may overshoot by a
 * retry or two per worker.
 */
int upstream_budget_retry(struct upstream_state *s, uint32_t now);

#endif
