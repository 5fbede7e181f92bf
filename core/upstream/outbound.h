/* outbound.h - the worker's outbound client and pt_api.upstream_request. */
#ifndef PT_OUTBOUND_H
#define PT_OUTBOUND_H

#include "portico/portico.h"
#include "http_client.h"

/* W's client, made on first use (W's thread only). NULL when out of memory. */
struct http_client *worker_http_client(pt_worker *w);
/* pt_api.upstream_request: to a named upstream (PT_ENOENT when the config
 * declares none of that name) or to a URL. FN runs once, later, on W. */
int upstream_request_api(pt_worker *w, const struct pt_upstream_req *req, pt_upstream_fn fn,
                         void *ud);
/* pt_api.exchange_upstream_request: the same, on X's worker, for X: the
 * access log's upstream fields report the call; X is referenced until FN
 * has run. */
int upstream_request_for(pt_exchange *x, const struct pt_upstream_req *req, pt_upstream_fn fn,
                         void *ud);

#endif
