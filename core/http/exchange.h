/*
 * exchange.h - one request and its response, the same for HTTP/1.1 and
 * HTTP/2. Transports (h1_conn.c, h2_conn.c) fill in the request and carry
 * the response; handlers and plugins see only the pt_exchange API.
 *
 * Life: the transport creates it when a request head is complete
 * (exchange_new, holding one reference), sets the request fields, calls
 * exchange_head_done, feeds body bytes with exchange_body_data and ends
 * them with exchange_body_end (which runs the handler unless the route
 * streams its body). A handler may answer at once or later. When the
 * response is complete the transport gets xops->send_head/send_end; once
 * the bytes are out (or the client is gone) it calls exchange_detach, which
 * drops its reference. Everything allocated for the exchange lives in
 * x->pool and goes with the last reference.
 */
#ifndef PT_HTTP_EXCHANGE_H
#define PT_HTTP_EXCHANGE_H

#include "portico/portico.h"
#include "arena.h"
#include "router.h"

struct event;
struct evbuffer;
struct gen;
struct route_entry;

struct xhdr {
	pt_str_t name;      /* lower-case */
	pt_str_t value;
};
/* An array of xhdr is read as name,value pt_str_t pairs (proxy.c). */
_Static_assert(sizeof(struct xhdr) == 2 * sizeof(pt_str_t), "xhdr is a pair of pt_str_t");

/* What a transport does for its exchanges (called on the worker thread). */
struct xops {
	/*
	 * Send the status line/HEADERS. FINAL: the response body is complete
	 * in x->out (send it with a content-length, then end the stream, with
	 * x->trailers if any). Not FINAL: streaming starts; more comes through
	 * send_body and send_end.
	 */
	void (*send_head)(pt_exchange *x, int final);
	/* Streaming: x->out has more bytes. */
	void (*send_body)(pt_exchange *x);
	/* Streaming: the body is over; x->trailers may hold trailers. */
	void (*send_end)(pt_exchange *x);
	/* Streamed request bodies: the handler is ready for more (flow control). */
	void (*want_body)(pt_exchange *x);
	/* Response bytes the transport holds that the client has not taken
	 * (beyond x->out); NULL: none are held. */
	size_t (*out_pending)(pt_exchange *x);
	/* Cut a streaming response: the client must see it incomplete
	 * (HTTP/1.1: close without the last chunk; HTTP/2: RST_STREAM). */
	void (*send_abort)(pt_exchange *x);
};

/* Response bytes pending toward a client above which a producer should
 * wait (exchange_on_drain), and the level at which it is told to go on. */
#define PT_TRACEPARENT_LEN 55   /* a W3C traceparent, version 00 */
#define X_OUT_HIGH (256u << 10)
#define X_OUT_LOW (64u << 10)

enum x_state {
	X_READING = 0,      /* request body still arriving */
	X_HANDLING = 1,     /* handler called, no answer yet */
	X_STREAMING = 2,    /* headers sent, body streaming */
	X_DONE = 3,         /* response complete (handed to the transport) */
};

struct pt_exchange {
	struct arena pool;
	unsigned refs;
	int state;
	int aborted;                     /* the client went away */
	int transport_gone;              /* exchange_detach was called */
	pt_worker *w;
	struct gen *gen;                 /* one reference */
	const struct xops *ops;
	void *tp;                        /* the transport's per-exchange data */
	pt_str_t remote;                 /* borrowed from the connection */

	/* request */
	unsigned method;                 /* enum pt_method; 0 for extension methods */
	pt_str_t method_name, target, path, query, host;
	struct xhdr *hdrs;
	unsigned nhdrs;
	struct xhdr *req_trailers;       /* the request's trailer fields (names lower-case),
	                                    set before the body ends; see
	                                    exchange_req_trailer_add */
	unsigned nreq_trailers, capreq_trailers;
	int minor_version;               /* 1.x minor; 20 for HTTP/2 */
	int tls;                         /* it came over TLS */
	const struct route_entry *route;
	struct router_params params;
	char *body;                      /* buffered request body (pool or malloc) */
	size_t body_len, body_cap;
	uint64_t body_limit;
	int body_complete;
	int body_streamed;
	pt_body_fn body_fn;
	void *body_ud;
	int has_body;                    /* the request has a body (set by head_done) */
	int64_t req_length;              /* its length when the client said, else -1
	                                    (chunked, or h2 without content-length) */
	int body_paused;                 /* exchange_body_pause: no more body for now */
	uint64_t seq;                    /* the worker's count of exchanges, this one's */
	char id[48];                     /* the request id, made on first ask */
	size_t id_len;
	char trace[PT_TRACEPARENT_LEN];  /* the trace context, made on first ask (trace.c) */
	uint8_t trace_len;
	pt_str_t consumer;               /* who authenticated (auth filters), pool copy */
	uint64_t start_us;               /* monotonic, when the head was complete (access log on) */

	/* what the access log reports of the handler's upstream call */
	pt_str_t upstream_addr;          /* "ip:port" of the last attempt, pool copy */
	uint64_t upstream_us;            /* time spent waiting on upstreams */
	uint64_t handler_start_us;       /* monotonic, when the handler was called; 0: not yet */

	/* response */
	int status;
	int log_status;                  /* the status the access log reports when the
	                                    client was told another (exchange_grpc_error) */
	struct xhdr *rhdrs;
	unsigned nrhdrs, caprhdrs;
	struct xhdr *trailers;
	unsigned ntrailers, captrailers;
	struct evbuffer *out;            /* response body bytes not yet taken */
	int head_only;                   /* HEAD: send no body */
	int close_after;                 /* the transport should close after this */
	int preflight;                   /* a CORS preflight routed as the method it asks about */
	uint64_t bytes_out;              /* response body bytes handed to the transport */
	int64_t resp_length;             /* a streaming response's length when known
	                                    (Content-Length framing), else -1 */
	void (*drain_fn)(void *ud);      /* exchange_on_drain, one shot */
	void *drain_ud;
	void (*stop_fn)(void *ud);       /* exchange_on_stop, one shot */
	void *stop_ud;
	void (*abort_fn)(void *ud);      /* xapi_on_abort, one shot */
	void *abort_ud;
	struct event *abort_ev;          /* runs abort_fn from the loop; freed with X */

	/* the filter chain (chain.c) */
	unsigned fpos;                   /* next filter to run */
	int chain_busy;                  /* inside chain step(): results are picked up there */
	int chain_result;                /* a filter's result that arrived while busy, or -1 */
	void *lua;                       /* the Lua runtime's per-exchange data */
	struct x_cleanup *cleanups;      /* run when the exchange is freed */
	const char *only;                /* came on a plugin's own listener: only that
	                                    plugin's routes answer (borrowed) */
	struct pt_ws *upgrade;           /* answered 101 by ws_accept: the HTTP/1.1
	                                    transport hands its connection to it */
};

struct x_cleanup {
	struct x_cleanup *next;
	void (*fn)(void *ud);
	void *ud;
};

/* Frees W's cache of exchanges (worker thread, at its end). */
void exchange_cache_free(pt_worker *w);

/* FN(UD) runs when X is freed (last reference gone), last registered first. */
int exchange_on_free(pt_exchange *x, void (*fn)(void *ud), void *ud);

/* A new exchange on W (one reference, held by the transport). */
pt_exchange *exchange_new(pt_worker *w, const struct xops *ops, void *tp, pt_str_t remote);
/*
 * The request head is set: match the route. Returns 0 when the body should
 * be read (or there is none), or 1 when the exchange already answered
 * (404/405/OPTIONS, 413 by content length): the transport may skip the body.
 */
int exchange_head_done(pt_exchange *x, uint64_t content_length, int has_body);
/* Body bytes from the client. 0, or PT_ELIMIT once past the body limit
 * (the exchange has answered 413). */
int exchange_body_data(pt_exchange *x, const char *data, size_t len);
/*
 * A trailer field of the request (transports, before exchange_body_end).
 * NAME and VALUE are copied into the pool, the name lower-cased. Returns 0,
 * 1 when the field was dropped because it may not be a trailer (see
 * exchange_trailer_forbidden), PT_EINVAL for CR, LF or NUL, or PT_ENOMEM.
 */
int exchange_req_trailer_add(pt_exchange *x, pt_str_t name, pt_str_t value);
/* Non-zero for a field RFC 9110 6.5.1 keeps out of trailer sections (framing,
 * routing, controls, conditionals, authentication, content processing, the
 * connection) or a pseudo-header; NAME in any case. */
int exchange_trailer_forbidden(pt_str_t name);
/* The body is over: runs the handler (buffered routes). */
void exchange_body_end(pt_exchange *x);
/* The transport is finished with X (bytes out, or the client gone). */
void exchange_detach(pt_exchange *x, int aborted);
/*
 * Streaming both ways (the proxy; core-internal, not in the plugin ABI).
 *
 * Request body flow control: a pt_body_fn that cannot take more for now
 * calls exchange_body_pause; the transport then stops handing over body
 * bytes (HTTP/1.1 stops reading past its input limit, HTTP/2 withholds
 * WINDOW_UPDATE) until exchange_body_resume.
 *
 * Response backpressure: after writing, a producer compares
 * exchange_out_pending with X_OUT_HIGH and, above it, waits for
 * exchange_on_drain's callback (run once the transport's output is under
 * X_OUT_LOW; it must not write or free anything synchronously).
 */
void exchange_body_pause(pt_exchange *x);
void exchange_body_resume(pt_exchange *x);
size_t exchange_out_pending(pt_exchange *x);
void exchange_on_drain(pt_exchange *x, void (*fn)(void *ud), void *ud);
/* Transports: X's output fell under X_OUT_LOW. */
void exchange_drained(pt_exchange *x);
/* FN(UD) runs once when the transport lets go of X before the handler
 * cleared it (exchange_on_stop(x, NULL, NULL)): the client is gone, or the
 * exchange answered by itself. It may not free X's last reference. */
void exchange_on_stop(pt_exchange *x, void (*fn)(void *ud), void *ud);
/* Like pt_api's write and respond, taking N bytes from SRC without a copy. */
int exchange_write_buffer(pt_exchange *x, struct evbuffer *src, size_t n);
int exchange_respond_buffer(pt_exchange *x, int status, struct evbuffer *src, size_t n);
/*
 * A whole answer with a status other than 200 to a gRPC request
 * (content-type application/grpc*) becomes a gRPC trailers-only answer:
 * 200, grpc-status and grpc-message, no body; x->log_status keeps the
 * status (grpc_status.c). 1 when X was turned, 0 when it is no such case,
 * PT_ENOMEM. Called by the respond path before the head goes out.
 */
int exchange_grpc_error(pt_exchange *x);
/* Ends a streaming response as failed (see xops.send_abort). */
void exchange_abort(pt_exchange *x);
/* Answer with a small JSON error body {"error": ...} unless already answering. */
void exchange_error(pt_exchange *x, int status, const char *message);
/* Decodes %XX and '+' of S[0..LEN) into OUT (at least LEN bytes, not
 * NUL-terminated); returns the decoded length. */
size_t form_decode_into(const char *s, size_t len, char *out);
/* Microseconds on the monotonic clock. */
uint64_t mono_us(void);
/* The reason phrase for STATUS ("Not Found"). */
const char *http_reason(int status);

/* The pt_api exchange functions (installed in the table by api.c). */
unsigned xapi_method(pt_exchange *x);
pt_str_t xapi_method_name(pt_exchange *x);
pt_str_t xapi_path(pt_exchange *x);
pt_str_t xapi_query(pt_exchange *x);
pt_str_t xapi_host(pt_exchange *x);
int xapi_query_arg(pt_exchange *x, pt_str_t name, unsigned idx, pt_str_t *out);
int xapi_header(pt_exchange *x, pt_str_t name, unsigned idx, pt_str_t *out);
unsigned xapi_header_count(pt_exchange *x);
int xapi_header_at(pt_exchange *x, unsigned i, pt_str_t *name, pt_str_t *value);
int xapi_param(pt_exchange *x, pt_str_t name, pt_str_t *out);
pt_str_t xapi_remote_addr(pt_exchange *x);
pt_str_t xapi_request_id(pt_exchange *x);
pt_str_t xapi_traceparent(pt_exchange *x);   /* trace.c */
int trace_ok(pt_str_t v);
void trace_new(char *dst);
int xapi_body(pt_exchange *x, pt_str_t *out);
int xapi_body_read(pt_exchange *x, pt_body_fn fn, void *ud);
int xapi_body_pause(pt_exchange *x, int paused);
int xapi_status_set(pt_exchange *x, int status);
int xapi_header_add(pt_exchange *x, pt_str_t name, pt_str_t value);
int xapi_header_set(pt_exchange *x, pt_str_t name, pt_str_t value);
int xapi_respond(pt_exchange *x, int status, pt_str_t body);
int xapi_write(pt_exchange *x, const void *data, size_t len);
int xapi_trailer_add(pt_exchange *x, pt_str_t name, pt_str_t value);
int xapi_finish(pt_exchange *x);
void xapi_ref(pt_exchange *x);
void xapi_unref(pt_exchange *x);
int xapi_aborted(pt_exchange *x);
int xapi_on_abort(pt_exchange *x, pt_task_fn fn, void *ud);
void *xapi_alloc(pt_exchange *x, size_t size);
pt_worker *xapi_worker(pt_exchange *x);
int xapi_resume(pt_exchange *x);
int xapi_consumer_set(pt_exchange *x, pt_str_t name);
pt_str_t xapi_consumer(pt_exchange *x);

#endif
