/*
 * pool.h - named upstreams: choosing a server (round robin, least
 * connections, or rendezvous hashing on a header, query parameter or the
 * client address), passive health (a server failing max_fails times in a row
 * is left out for fail_timeout seconds, per worker), active health (the
 * generation's checker, upstream/health.c, marks servers down for every
 * worker), bounded retries for idempotent methods within the upstream's
 * retry budget, timeouts always on, and HTTP/1.1, HTTPS, h2c or h2 to the
 * servers. Requests go through the worker's client; per-worker state takes
 * no lock and the shared state is read with relaxed atomic loads.
 */
#ifndef PT_UPSTREAM_POOL_H
#define PT_UPSTREAM_POOL_H

#include "portico/portico.h"
#include "conf.h"
#include "http_client.h"

/* RES is borrowed for the call; SERVER names the server that answered (or
 * the last one tried), NULL when none could be tried. */
typedef void (*upstream_cb)(const struct http_client_res *res, const char *server, void *ud);

struct upstream_req {
	pt_str_t method;
	pt_str_t path;               /* with query, starting with '/' */
	const pt_str_t *headers;     /* name, value pairs */
	unsigned num_headers;
	pt_str_t body;
	double timeout;              /* 0: the upstream's read timeout */
};

/*
 * Sends REQ to upstream NAME of W's current generation. Everything is
 * copied. CB runs exactly once, later, on W's thread; when no server is
 * eligible (every one down or left out) it gets PT_EIO with "no upstream
 * server is available" at once. PT_ENOENT when no upstream has that name,
 * PT_ENOMEM.
 */
int upstream_send(pt_worker *w, const char *name, const struct upstream_req *req,
                  upstream_cb cb, void *ud);
/*
 * Attempts run by the caller (the streaming proxy, proxy.c), with the same
 * choice (balancing, active and passive health), retry budget, per-server
 * accounting and clients as upstream_send.
 *
 * upstream_try_start: for upstream NAME of generation G (referenced until
 * upstream_try_end), the request's HEADERS and PATH (for hash balancing;
 * PATH is kept, borrowed, until the end). NULL when G declares no such
 * upstream or memory runs out.
 * upstream_try_next: picks the next server (a later call is a retry and
 * spends the retry budget), counts it busy, fills HR's url, timeouts and
 * protocol (the caller sets the rest), and returns the client to send HR
 * with; NULL with *WHY = PT_EIO (no server left), PT_ELIMIT (retry budget
 * spent) or PT_ENOMEM. The url lives in T until the next call.
 * upstream_try_done: the attempt on the current server ended, answered
 * (OK) or failed with ERROR (passive health).
 */
struct upstream_try;
struct gen;
struct upstream_try *upstream_try_start(pt_worker *w, struct gen *g, const char *name,
                                        const pt_str_t *headers, unsigned nh, pt_str_t path);
struct http_client *upstream_try_next(struct upstream_try *t, struct http_client_req *hr,
                                      int *why);
/* The current attempt's result, before upstream_try_done: the metrics count
 * its failure kind (up_metrics.h). Optional. */
void upstream_try_result(struct upstream_try *t, const struct http_client_res *res);
void upstream_try_done(struct upstream_try *t, int ok, const char *error);
/* The current attempt's "host:port" (the config's string), or NULL. */
const char *upstream_try_server(const struct upstream_try *t);
unsigned upstream_try_attempts(const struct upstream_try *t);
const struct upstream_conf *upstream_try_conf(const struct upstream_try *t);
void upstream_try_end(struct upstream_try *t);
/* GET, HEAD, PUT, DELETE, OPTIONS: what an upstream may be asked twice. */
int upstream_idempotent(pt_str_t method);

/* Frees W's per-server state and clients (worker thread, at its end). */
void upstream_worker_free(pt_worker *w);

#endif
