/*
 * proxy_request.h - what proxy.c asks of proxy_request.c: the request it
 * forwards, and which response fields it leaves out.
 */
#ifndef PT_UPSTREAM_PROXY_REQUEST_H
#define PT_UPSTREAM_PROXY_REQUEST_H

#include "http_client.h"
#include "proxy.h"

/*
 * Builds the forwarded request for X as PC says: HR's method and headers,
 * and *FWD_PATH (path and query), all in X's pool. In gRPC mode (PC->grpc)
 * te: trailers goes on and, with DEADLINE set, a grpc-timeout whose value
 * (12 bytes of room, empty for now) *GRPC_TIMEOUT points at, for each
 * attempt to fill. 0 or PT_ENOMEM.
 */
int proxy_request_build(pt_exchange *x, const struct proxy_conf *pc, int deadline,
                        struct http_client_req *hr, pt_str_t *fwd_path,
                        pt_str_t **grpc_timeout);

/* Response header names a proxy does not pass on (hop-by-hop, framing,
 * and Server and Date, which the transport writes). */
int proxy_resp_skipped(pt_str_t name);

#endif
