/*
 * proxy.h - the gateway's proxy: forwards an exchange to a named upstream
 * and relays the answer, streaming the bodies both ways with backpressure.
 * Route scripts reach it through proxy(upstream, opts) (lua_proxy.c); a
 * route whose handler is just that proxy() runs it as the "proxy" handler
 * without entering Lua.
 */
#ifndef PT_UPSTREAM_PROXY_H
#define PT_UPSTREAM_PROXY_H

#include "portico/portico.h"

#define PROXY_MAX_REMOVE 16

struct proxy_conf {
	const char *upstream;            /* a name the generation's config declares */
	pt_str_t strip_prefix;           /* "/v1" forwards /v1/users as /users */
	pt_str_t prefix;                 /* then prepended: "/v2" forwards /users as /v2/users */
	double timeout;                  /* longest upstream silence; 0: its read timeout */
	const pt_str_t *headers;         /* name, value pairs added to the request */
	unsigned nheaders;
	pt_str_t remove[PROXY_MAX_REMOVE];   /* request headers not forwarded (lower-case) */
	unsigned nremove;
	int grpc;                        /* pass gRPC calls (proxy_grpc.h): bodies
	                                    streamed both ways at once, trailers
	                                    relayed, grpc-timeout as a deadline,
	                                    failures as gRPC statuses, no retry
	                                    once body bytes came */
};

/* Runs once the proxy is finished with X (answered, cut, or the client went
 * away), from the loop, never inside proxy_start. */
typedef void (*proxy_done_fn)(pt_exchange *x, void *ud);

/*
 * Proxies X as PC says (PC and what it points to are borrowed for the call,
 * except PC->upstream: a name the generation keeps alive). X is answered by the proxy: the upstream's
 * response, streamed, or a JSON 502/503/504. Returns 0 (then DONE runs
 * once, later), or PT_ENOENT when no upstream has that name, PT_ENOMEM: X
 * is untouched and DONE never runs.
 */
int proxy_start(pt_exchange *x, const struct proxy_conf *pc, proxy_done_fn done, void *ud);

/* The "proxy" route handler. Route options: upstream (required),
 * strip_prefix, prefix, timeout, headers = { name = value },
 * remove_headers = { name, ... }, grpc = true. */
int proxy_handler(pt_exchange *x, const pt_conf *opts, void *ud);

#endif
