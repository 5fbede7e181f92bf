/*
 * http_client.h - the outbound HTTP client of one worker: HTTP/1.1 with
 * per-host keep-alive pools, HTTPS, and HTTP/2 (h2c prior knowledge or ALPN).
 *
 * Everything runs on one event_base's thread; nothing here locks or blocks.
 * Host names are resolved with evdns on the same base. Every request has a
 * deadline (default 30 s) and a connect timeout (default 5 s).
 *
 * Independent of the core: it takes an event_base; the core makes one client
 * per worker on w->base and backs pt_api.upstream_request with it.
 */
#ifndef PORTICO_HTTP_CLIENT_H
#define PORTICO_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "portico/types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct evbuffer;
struct http_client;
struct http_client_call;

struct http_client_opts {
	uint32_t size;			/* sizeof(struct http_client_opts) */
	unsigned max_idle_per_host;	/* idle keep-alive connections kept; 0: 64 */
	double idle_timeout;		/* seconds an idle connection is kept; 0: 60 */
	size_t max_response_bytes;	/* body limit; 0: 8 MiB; over -> PT_ELIMIT */
	size_t max_header_bytes;	/* response head limit; 0: 64 KiB */
	SSL_CTX *tls;			/* borrowed, must outlive the client; NULL:
					   the client makes one with the system CAs */
};

struct http_client_res;

/*
 * Streaming calls (HTTP/1.1 and HTTP/2): the response comes through these
 * callbacks as it arrives, and the request body may follow the call
 * (http_client_body_write/_end). Callbacks run on the loop, never inside a
 * call into the client; they must not cancel the call (return < 0 instead).
 * On HTTP/2 the stream's flow control holds the server back: a paused call
 * keeps at most its stream window (1 MiB) of response.
 */
struct http_client_stream {
	/*
	 * The final response head. RES is borrowed for the callback: status,
	 * headers (names as the server sent them), content_length, version,
	 * peer; no body. Return 0 to go on, < 0 to stop: the call then ends
	 * through its callback with PT_EIO.
	 */
	int (*head)(const struct http_client_res *res, void *ud);
	/*
	 * N body bytes are at the front of BUF: take them all (move them with
	 * evbuffer_remove_buffer, or drain them). LAST: they end the body.
	 * Returns as head does.
	 */
	int (*body)(struct evbuffer *buf, size_t n, int last, void *ud);
	/* The request bytes queued fell under HTTP_CLIENT_OUT_LOW after
	 * http_client_body_write returned HTTP_CLIENT_OUT_HIGH or more
	 * (HTTP/2: the stream's bytes not yet framed). */
	void (*drain)(void *ud);
	/*
	 * The response's trailer fields (HTTP/2: a HEADERS frame after the
	 * DATA, checked by nghttp2; HTTP/1.1: the trailer section of a
	 * chunked body, through the strict decoder): N name/value PAIRS,
	 * names lower-case, borrowed for the callback. Called once, after the
	 * last body bytes and before the call's callback, only when the
	 * response had trailer fields. Past the head's limits (256 fields,
	 * max_header_bytes) the call fails with PT_ELIMIT instead. May be
	 * NULL (they are dropped). Returns as head does.
	 */
	int (*trailers)(const pt_str_t *pairs, unsigned n, void *ud);
};

/* Request bytes queued toward a server: pause the source above HIGH, and
 * stream->drain says when the queue is back under LOW. */
#define HTTP_CLIENT_OUT_HIGH (256u << 10)
#define HTTP_CLIENT_OUT_LOW (64u << 10)

struct http_client_req {
	pt_str_t method;		/* e.g. "GET"; empty: GET */
	pt_str_t url;			/* http[s]://host[:port][/path][?query]; host may
					   be a name, an IPv4 or a [IPv6] literal */
	const pt_str_t *headers;	/* name, value, name, value, ... */
	unsigned num_headers;		/* pairs */
	pt_str_t body;
	double connect_timeout;		/* seconds; 0: 5 (TCP connect + TLS handshake) */
	double timeout;			/* seconds for the whole request; 0: 30 */
	int h2;				/* 1: HTTP/2 (h2c prior knowledge for http://,
					   ALPN for https://, 1.1 if the server says so) */
	int insecure;			/* 1: skip TLS certificate/name verification */
	double send_timeout;		/* seconds without progress writing the request
					   once connected (PT_ETIMEDOUT); 0: none */
	/* streaming, HTTP/1.1 or HTTP/2 */
	const struct http_client_stream *stream;	/* borrowed for the call's life;
					   NULL: buffered both ways. With a stream,
					   TIMEOUT is the longest silence while sending
					   or waiting for the server, not a deadline */
	int body_more;			/* stream: the body goes on after BODY through
					   http_client_body_write, until _body_end */
	int64_t body_length;		/* with body_more: the whole body's length
					   (BODY included) for Content-Length, or -1:
					   chunked */
	unsigned max_idle;		/* idle keep-alive connections the server's pool
					   keeps from now on; 0: max_idle_per_host */
	const pt_str_t *trailers;	/* without body_more: trailer fields sent
					   after BODY (name, value pairs; copied);
					   HTTP/2 only, an HTTP/1.1 body goes with a
					   Content-Length and they are dropped. With
					   body_more: http_client_body_trailers */
	unsigned num_trailers;		/* pairs */
};

struct http_client_res {
	int status;			/* HTTP status, or a negative PT_E*:
					   PT_ETIMEDOUT, PT_EIO (refused, reset, TLS,
					   DNS, malformed response), PT_ELIMIT (too
					   large), PT_EINVAL (bad URL, method or header) */
	const char *error;		/* static message when status < 0, else NULL */
	const pt_str_t *headers;	/* name, value pairs; names lower-case */
	unsigned num_headers;		/* pairs */
	pt_str_t body;
	int http_version;		/* 10, 11 or 20; 0 on error */
	int reused;			/* the connection came from the pool */
	int64_t content_length;		/* the response's Content-Length (also for
					   HEAD), -1 when it has none */
	const char *peer;		/* "ip:port" of the server, NULL before
					   a connection was made */
	const pt_str_t *trailers;	/* buffered calls: the response's trailer
					   fields (name, value pairs, names
					   lower-case; see stream->trailers) */
	unsigned num_trailers;		/* pairs; 0 for streaming calls */
};

/* RES and everything it points to are borrowed for the callback only. */
typedef void (*http_client_cb)(const struct http_client_res *res, void *ud);

/*
 * A client on BASE (borrowed, must outlive the client). O may be NULL for the
 * defaults. Returns NULL when out of memory or when the default SSL_CTX or the
 * DNS resolver cannot be made.
 */
struct http_client *http_client_new(struct event_base *base, const struct http_client_opts *o);

/*
 * Close every connection and cancel every call in flight: their callbacks are
 * never called (as with http_client_cancel), so the owner must drop whatever
 * it waits on. C may be NULL. Must not be called from inside a callback.
 */
void http_client_free(struct http_client *c);

/*
 * Start REQ; everything it points to is copied, so it may be freed on return.
 * CB runs exactly once, later, on the base's thread (never from inside this
 * call), with the response or an error -- an invalid URL, method or header
 * (CR, LF or NUL) is answered through CB with PT_EINVAL -- unless the call is
 * cancelled. Returns the call handle, valid until CB runs or the call is
 * cancelled; NULL (and CB is never called) only when C, REQ or CB is NULL or
 * memory runs out.
 */
struct http_client_call *http_client_request(struct http_client *c,
                                             const struct http_client_req *req,
                                             http_client_cb cb, void *ud);

/*
 * Streaming calls with body_more: queue LEN bytes of the request body
 * (copied). Returns the bytes now queued toward the server (pause the
 * source at HTTP_CLIENT_OUT_HIGH or more; stream->drain says when to go
 * on), or PT_ESTATE once the body was ended. Bytes given while the call
 * has no connection (it is failing) are dropped.
 */
ssize_t http_client_body_write(struct http_client_call *call, const void *data, size_t len);
/* The request body is complete (the last chunk goes for chunked bodies). */
int http_client_body_end(struct http_client_call *call);
/*
 * Streaming calls with body_more, before http_client_body_end: trailer
 * fields to send after the body, N name/value PAIRS (copied; names are
 * lower-cased). HTTP/2 sends them as a HEADERS frame that ends the stream;
 * HTTP/1.1 in the last chunk of a chunked body (a body with a
 * Content-Length has no room for them: they are dropped). Returns 0,
 * PT_ESTATE once the body was ended, PT_EINVAL for a name that is not a
 * token or a value with CR, LF or NUL (nothing is kept), or PT_ENOMEM.
 */
int http_client_body_trailers(struct http_client_call *call, const pt_str_t *pairs,
                              unsigned n);
/* Streaming calls: stop (PAUSED) or go on reading the response. While
 * paused, the silence timeout does not run. Never calls back at once. */
void http_client_pause(struct http_client_call *call, int paused);

/* Streaming calls: the longest silence from now on, SECS; 0: none (for a
 * long-lived stream whose owner has its own deadline). Ignored for a call
 * that is already failing. */
void http_client_set_idle(struct http_client_call *call, double secs);

/*
 * Cancel CALL: its callback is never called. An HTTP/1.1 connection it used is
 * closed, never reused; an HTTP/2 stream is reset and the connection kept.
 * CALL must be live (not yet answered); it is freed.
 */
void http_client_cancel(struct http_client_call *call);

#ifdef __cplusplus
}
#endif
#endif
