/*
 * proxy_grpc.h - what the proxy's gRPC mode (proxy_conf.grpc, proxy.c)
 * needs of gRPC over HTTP/2 (grpc's PROTOCOL-HTTP2.md): the grpc-timeout
 * header both ways, the status codes a proxy makes, and answers in gRPC's
 * form (a trailers-only response, or trailers ending a started one).
 */
#ifndef PT_UPSTREAM_PROXY_GRPC_H
#define PT_UPSTREAM_PROXY_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "portico/portico.h"

/* google.rpc.Code values the proxy makes. */
enum {
	GRPC_OK = 0,
	GRPC_UNKNOWN = 2,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
	GRPC_PERMISSION_DENIED = 7,
};

/* Whether CT (a content-type value) is gRPC's: "application/grpc", alone or
 * followed by "+codec" or ";params". */
int grpc_content_type(pt_str_t ct);

/* A grpc-timeout value (1 to 8 digits and a unit H M S m u n) in
 * microseconds, or -1 when V is not one. */
int64_t grpc_timeout_parse(pt_str_t v);

/* US (> 0) as a grpc-timeout value into BUF (at least 12 bytes), rounded
 * up to the unit that keeps it within 8 digits; its length. */
size_t grpc_timeout_format(int64_t us, char *buf);

/* The code a gRPC client derives from an HTTP STATUS that came without
 * grpc-status (PROTOCOL-HTTP2.md's mapping, as grpc's clients do). */
int grpc_code_of_http(int status);

/*
 * Ends X with gRPC status CODE and MESSAGE (percent-encoded here): when X
 * has not started its response, a trailers-only one (HTTP 200,
 * content-type application/grpc, grpc-status and grpc-message in the only
 * HEADERS; response headers already set are dropped down to KEEP of them);
 * otherwise as its trailers, ending the stream. 0, or a negative PT_E*.
 */
int grpc_answer(pt_exchange *x, unsigned keep, int code, const char *message);

#endif
