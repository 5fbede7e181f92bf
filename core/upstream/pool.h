/*
 * pool.h - named upstreams: choosing a server (round robin or least
 * connections), passive health (a server failing max_fails times in a row is
 * left out for fail_timeout seconds), bounded retries for idempotent
 * methods, and timeouts always on. Requests go through the worker's
 * keep-alive client; state is per worker, so nothing here takes a lock.
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
 * copied. CB runs exactly once, later, on W's thread. PT_ENOENT when no
 * upstream has that name, PT_ENOMEM.
 */
int upstream_send(pt_worker *w, const char *name, const struct upstream_req *req,
                  upstream_cb cb, void *ud);
/*
 * For callers that run their own attempts (the streaming proxy, proxy.c)
 * with the same choice, health and least-connections accounting.
 */
struct upstream_try {
	const struct upstream_conf *u;   /* set by the caller; the generation keeps it */
	uint64_t tried;                  /* bit per server index tried (first 64) */
	unsigned attempts;
	const char *server;              /* the current attempt's "host:port" (U's) */
};
/* Picks the next server for T (not tried yet, not left out) and counts it
 * busy: 0, or PT_EIO when none is left. */
int upstream_try_next(pt_worker *w, struct upstream_try *t);
/* The attempt on t->server ended: answered (OK) or failed with ERROR. */
void upstream_try_done(pt_worker *w, struct upstream_try *t, int ok, const char *error);
/* GET, HEAD, PUT, DELETE, OPTIONS: what an upstream may be asked twice. */
int upstream_idempotent(pt_str_t method);

/* Frees W's per-server state (worker thread, at its end). */
void upstream_worker_free(pt_worker *w);

#endif
