/*
 * exchange.c - the request/response object shared by both HTTP versions,
 * and the pt_api functions that read and answer it. See exchange.h.
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "exchange.h"
#include "chain.h"
#include "conf_tree.h"
#include "gen.h"
#include "h1_parser.h"
#include "access_log.h"
#include "phase_metrics.h"
#include "req_metrics.h"
#include "worker.h"
#include "log.h"
#include "api_table.h"
#include "plugin.h"
#include "worker.h"

#define X_POOL_BLOCK 2048

uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Each worker keeps a few freed exchanges, with their pool's first block
 * and output buffer, so a request allocates nothing in the common case.
 */
#define X_CACHE_MAX 64

pt_exchange *exchange_new(pt_worker *w, const struct xops *ops, void *tp, pt_str_t remote)
{
	pt_exchange *x = w->x_cache;

	if (x) {
		w->x_cache = x->tp;   /* the cache links through tp */
		w->nx_cache--;
	} else {
		x = calloc(1, sizeof(*x));
		if (!x)
			return NULL;
		arena_init(&x->pool, X_POOL_BLOCK);
	}
	x->refs = 1;
	x->w = w;
	x->gen = w->gen;
	gen_ref(x->gen);
	x->ops = ops;
	x->tp = tp;
	/* copied: an async exchange may outlive its connection */
	x->remote.ptr = arena_strndup(&x->pool, remote.ptr ? remote.ptr : "", remote.len);
	x->remote.len = x->remote.ptr ? remote.len : 0;
	x->status = 200;
	x->minor_version = 1;
	x->req_length = -1;
	x->resp_length = -1;
	x->body_limit = x->gen->cfg->http.max_body_size;
	x->seq = ++w->req_seq;
	return x;
}

int exchange_on_free(pt_exchange *x, void (*fn)(void *ud), void *ud)
{
	struct x_cleanup *c = arena_alloc(&x->pool, sizeof(*c));

	if (!c)
		return PT_ENOMEM;
	c->fn = fn;
	c->ud = ud;
	c->next = x->cleanups;
	x->cleanups = c;
	return 0;
}

static void exchange_free(pt_exchange *x)
{
	if (x->abort_ev)
		event_free(x->abort_ev);   /* a call still due goes with it */
	x->abort_ev = NULL;
	if (x->drain_ev)
		event_free(x->drain_ev);
	x->drain_ev = NULL;
	for (struct x_cleanup *c = x->cleanups; c; c = c->next)
		c->fn(c->ud);
	gen_unref(x->gen);
	free(x->body);
	if (x->w->nx_cache < X_CACHE_MAX) {
		pt_worker *w = x->w;
		struct arena pool = x->pool;
		struct evbuffer *out = x->out;

		arena_reset(&pool);
		if (out)
			evbuffer_drain(out, evbuffer_get_length(out));
		memset(x, 0, sizeof(*x));
		x->pool = pool;
		x->out = out;
		x->tp = w->x_cache;
		w->x_cache = x;
		w->nx_cache++;
		return;
	}
	if (x->out)
		evbuffer_free(x->out);
	arena_close(&x->pool);
	free(x);
}

void exchange_cache_free(pt_worker *w)
{
	while (w->x_cache) {
		pt_exchange *x = w->x_cache;

		w->x_cache = x->tp;
		if (x->out)
			evbuffer_free(x->out);
		arena_close(&x->pool);
		free(x);
	}
	w->nx_cache = 0;
}

void xapi_ref(pt_exchange *x)
{
	x->refs++;
}

void xapi_unref(pt_exchange *x)
{
	if (--x->refs == 0)
		exchange_free(x);
}

/* Runs the stop callback, once. */
static void stop_handler(pt_exchange *x)
{
	void (*fn)(void *) = x->stop_fn;

	if (fn) {
		x->stop_fn = NULL;
		fn(x->stop_ud);
	}
}

/* The client-gone callback, from the loop (see xapi_on_abort). FN may
 * drop the last reference: nothing of X is touched after it. */
static void abort_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_exchange *x = arg;
	void (*fn)(void *) = x->abort_fn;

	(void)fd;
	(void)what;
	x->abort_fn = NULL;
	if (fn)
		fn(x->abort_ud);
}

int xapi_on_abort(pt_exchange *x, pt_task_fn fn, void *ud)
{
	if (!fn) {
		x->abort_fn = NULL;
		x->abort_ud = NULL;
		return 0;
	}
	if (x->transport_gone)
		return PT_ESTATE;
	if (!x->abort_ev && !(x->abort_ev = event_new(x->w->base, -1, 0, abort_cb, x)))
		return PT_ENOMEM;
	x->abort_fn = fn;
	x->abort_ud = ud;
	return 0;
}

/* One finished request into its worker's metrics (req_metrics.h). */
static void count_request(pt_exchange *x)
{
	enum req_proto proto = x->minor_version == 20 ? RQ_H2 : RQ_H1;
	int status = x->log_status ? x->log_status : x->status;
	uint64_t in = x->body_streamed ? (x->req_length > 0 ? (uint64_t)x->req_length : 0) :
	              x->body_len, now;
	pt_str_t ct;

	if (x->upgrade || status == 101)
		proto = RQ_WS;
	else if (x->method == PT_METHOD_POST &&
	         xapi_header(x, PT_STR("content-type"), 0, &ct) == 0 && ct.len >= 16 &&
	         !strncasecmp(ct.ptr, "application/grpc", 16))
		proto = RQ_GRPC;
	now = mono_us();
	req_metrics_count(x->w->id, x->route ? x->route->conf->path : NULL, x->method, status,
	                  proto, now - x->start_us, in, x->bytes_out);
	if (x->route)
		phase_metrics_request(x->w->id, (x->handler_start_us ? x->handler_start_us : now) -
		                      x->start_us, x->handler_start_us ? now - x->handler_start_us :
		                      UINT64_MAX, x->upstream_us);
}

void exchange_detach(pt_exchange *x, int aborted)
{
	x->transport_gone = 1;
	if (aborted)
		x->aborted = 1;
	x->drain_fn = NULL;
	x->pdrain_fn = NULL;   /* a plugin learns of the end from its abort callback */
	/* later, from the loop: the transport is in the middle of something,
	 * and so may be the handler (a write that failed) */
	if (aborted && x->state != X_DONE && x->abort_fn)
		event_active(x->abort_ev, EV_TIMEOUT, 1);
	stop_handler(x);
	if (x->start_us) {
		count_request(x);
		if (x->gen->alog)
			access_log_write(x->gen->alog, x);
	}
	xapi_unref(x);
}

void exchange_on_stop(pt_exchange *x, void (*fn)(void *ud), void *ud)
{
	x->stop_fn = fn;
	x->stop_ud = ud;
}

void exchange_body_pause(pt_exchange *x)
{
	x->body_paused = 1;
}

void exchange_body_resume(pt_exchange *x)
{
	if (!x->body_paused)
		return;
	x->body_paused = 0;
	if (!x->transport_gone && x->ops->want_body)
		x->ops->want_body(x);
}

size_t exchange_out_pending(pt_exchange *x)
{
	size_t n = x->out ? evbuffer_get_length(x->out) : 0;

	if (!x->transport_gone && x->ops->out_pending)
		n += x->ops->out_pending(x);
	return n;
}

void exchange_on_drain(pt_exchange *x, void (*fn)(void *ud), void *ud)
{
	x->drain_fn = fn;
	x->drain_ud = ud;
}

void exchange_drained(pt_exchange *x)
{
	void (*fn)(void *) = x->drain_fn;

	if (fn && exchange_out_pending(x) < X_OUT_LOW) {
		x->drain_fn = NULL;
		fn(x->drain_ud);
	}
}

/* ---- response backpressure for plugins (pt_api 1.10) ---------------------- */

/* The plugin's drain callback, from the loop. FN may drop the last
 * reference: nothing of X is touched after it. */
static void pdrain_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_exchange *x = arg;
	void (*fn)(void *) = x->pdrain_fn;

	(void)fd;
	(void)what;
	x->pdrain_fn = NULL;
	if (fn)
		fn(x->pdrain_ud);
}

/* exchange_drained's callback: the transport is inside its write path
 * (an nghttp2 send callback), where a plugin must not write: later. */
static void pdrain_due(void *ud)
{
	pt_exchange *x = ud;

	if (x->pdrain_fn && x->drain_ev)
		event_active(x->drain_ev, EV_TIMEOUT, 1);
}

size_t xapi_queued(pt_exchange *x)
{
	return x->transport_gone ? 0 : exchange_out_pending(x);
}

int xapi_on_drain(pt_exchange *x, pt_task_fn fn, void *ud)
{
	if (!fn) {
		x->pdrain_fn = NULL;
		x->pdrain_ud = NULL;
		if (x->drain_fn == pdrain_due)
			x->drain_fn = NULL;
		if (x->drain_ev)
			event_del(x->drain_ev);   /* a call already due is dropped */
		return 0;
	}
	if (x->transport_gone)
		return PT_ESTATE;
	if (!x->drain_ev && !(x->drain_ev = event_new(x->w->base, -1, 0, pdrain_cb, x)))
		return PT_ENOMEM;
	x->pdrain_fn = fn;
	x->pdrain_ud = ud;
	if (exchange_out_pending(x) < X_OUT_LOW)
		event_active(x->drain_ev, EV_TIMEOUT, 1);   /* under the mark already */
	else
		exchange_on_drain(x, pdrain_due, x);
	return 0;
}

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return status < 200 ? "Informational" : status < 300 ? "OK" :
	                status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
	}
}

/* ---- response building -------------------------------------------------- */

static int answered(const pt_exchange *x)
{
	return x->state >= X_STREAMING;
}

static struct xhdr *hdr_push(pt_exchange *x, struct xhdr **arr, unsigned *n, unsigned *cap)
{
	if (*n == *cap) {
		unsigned ncap = *cap ? *cap * 2 : 8;
		struct xhdr *a = arena_alloc(&x->pool, ncap * sizeof(*a));

		if (!a)
			return NULL;
		if (*n)
			memcpy(a, *arr, *n * sizeof(*a));
		*arr = a;
		*cap = ncap;
	}
	return &(*arr)[(*n)++];
}

/* Header names and values may not carry CR, LF or NUL (response splitting). */
static int hdr_ok(pt_str_t name, pt_str_t value)
{
	if (!name.len)
		return 0;
	for (size_t i = 0; i < name.len; i++) {
		unsigned char ch = (unsigned char)name.ptr[i];

		if (ch <= ' ' || ch >= 0x7f || ch == ':')
			return 0;
	}
	for (size_t i = 0; i < value.len; i++)
		if (value.ptr[i] == '\r' || value.ptr[i] == '\n' || value.ptr[i] == '\0')
			return 0;
	return 1;
}

static int add_hdr(pt_exchange *x, struct xhdr **arr, unsigned *n, unsigned *cap,
                   pt_str_t name, pt_str_t value)
{
	struct xhdr *h;
	char *lname;

	if (!hdr_ok(name, value))
		return PT_EINVAL;
	h = hdr_push(x, arr, n, cap);
	lname = arena_alloc(&x->pool, name.len + value.len + 2);
	if (!h || !lname)
		return PT_ENOMEM;
	for (size_t i = 0; i < name.len; i++)
		lname[i] = (char)tolower((unsigned char)name.ptr[i]);
	lname[name.len] = '\0';
	memcpy(lname + name.len + 1, value.ptr, value.len);
	lname[name.len + 1 + value.len] = '\0';
	h->name = (pt_str_t){ lname, name.len };
	h->value = (pt_str_t){ lname + name.len + 1, value.len };
	return 0;
}

int xapi_status_set(pt_exchange *x, int status)
{
	if (answered(x))
		return PT_ESTATE;
	if (status < 200 || status > 999)
		return PT_EINVAL;
	x->status = status;
	return 0;
}

int xapi_header_add(pt_exchange *x, pt_str_t name, pt_str_t value)
{
	if (answered(x))
		return PT_ESTATE;
	return add_hdr(x, &x->rhdrs, &x->nrhdrs, &x->caprhdrs, name, value);
}

int xapi_header_set(pt_exchange *x, pt_str_t name, pt_str_t value)
{
	unsigned j = 0;

	if (answered(x))
		return PT_ESTATE;
	for (unsigned i = 0; i < x->nrhdrs; i++)
		if (!(x->rhdrs[i].name.len == name.len &&
		      strncasecmp(x->rhdrs[i].name.ptr, name.ptr, name.len) == 0))
			x->rhdrs[j++] = x->rhdrs[i];
	x->nrhdrs = j;
	return add_hdr(x, &x->rhdrs, &x->nrhdrs, &x->caprhdrs, name, value);
}

int xapi_trailer_add(pt_exchange *x, pt_str_t name, pt_str_t value)
{
	if (x->state == X_DONE)
		return PT_ESTATE;
	return add_hdr(x, &x->trailers, &x->ntrailers, &x->captrailers, name, value);
}

/*
 * Whether NAME may not come in a trailer section (RFC 9110 6.5.1): fields of
 * message framing, routing, request modifiers (controls and conditionals),
 * authentication, content processing, and the connection itself. A
 * recipient must not merge them with the header section; we drop them.
 */
int exchange_trailer_forbidden(pt_str_t name)
{
	static const char *const names[] = {
		"age", "authorization", "cache-control", "connection", "content-encoding",
		"content-length", "content-range", "content-type", "cookie", "date",
		"expect", "expires", "host", "if-match", "if-modified-since",
		"if-none-match", "if-range", "if-unmodified-since", "keep-alive",
		"location", "max-forwards", "pragma", "proxy-authenticate",
		"proxy-authorization", "proxy-connection", "range", "retry-after",
		"set-cookie", "te", "trailer", "transfer-encoding", "upgrade", "vary",
		"www-authenticate",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == name.len && !strncasecmp(names[i], name.ptr, name.len))
			return 1;
	return name.len > 0 && name.ptr[0] == ':';
}

/* See exchange.h. */
int exchange_req_trailer_add(pt_exchange *x, pt_str_t name, pt_str_t value)
{
	if (exchange_trailer_forbidden(name))
		return 1;
	return add_hdr(x, &x->req_trailers, &x->nreq_trailers, &x->capreq_trailers, name, value);
}

static struct evbuffer *out_buf(pt_exchange *x)
{
	if (!x->out)
		x->out = evbuffer_new();
	return x->out;
}

static void body_dropped(pt_exchange *x, const char *data, size_t len, int last, void *ud)
{
	(void)x;
	(void)data;
	(void)len;
	(void)last;
	(void)ud;
}

/*
 * The answer is complete while the handler holds its streamed body
 * paused: it will never resume it, and a body left paused would keep the
 * connection (HTTP/1.1) or the stream (HTTP/2, its window shut) open with
 * no timeout running. The rest is read and dropped instead; the handler
 * gets no more calls.
 */
static void answer_unpause(pt_exchange *x)
{
	if (!x->body_paused || !x->body_fn)
		return;
	x->body_fn = body_dropped;
	x->body_ud = NULL;
	exchange_body_resume(x);
}

/* The whole body (LEN bytes) is in x->out: the answer is complete. */
static int answer_out(pt_exchange *x, size_t len)
{
	if (x->status != 200 && exchange_grpc_error(x) == 1)
		len = 0;   /* a gRPC client is told the error its way */
	x->bytes_out = x->head_only ? 0 : len;
	x->state = X_DONE;
	if (!x->transport_gone)
		x->ops->send_head(x, 1);
	answer_unpause(x);
	return 0;
}

/* LEN more streamed bytes are in x->out: the first ones send the head. */
static int stream_out(pt_exchange *x, size_t len)
{
	x->bytes_out += len;
	if (x->state != X_STREAMING) {
		x->state = X_STREAMING;
		if (!x->transport_gone)
			x->ops->send_head(x, 0);
	} else if (len && !x->transport_gone) {
		x->ops->send_body(x);
	}
	return 0;
}

int xapi_respond(pt_exchange *x, int status, pt_str_t body)
{
	if (answered(x))
		return PT_ESTATE;
	if ((status < 200 && !(status == 101 && x->upgrade)) || status > 999)
		return PT_EINVAL;   /* 101 only through ws_accept */
	x->status = status;
	if (!out_buf(x))
		return PT_ENOMEM;
	if (body.len && evbuffer_add(x->out, body.ptr, body.len) != 0)
		return PT_ENOMEM;
	return answer_out(x, body.len);
}

int xapi_write(pt_exchange *x, const void *data, size_t len)
{
	if (x->state == X_DONE)
		return PT_ESTATE;
	if (x->aborted)
		return PT_EIO;
	if (!out_buf(x))
		return PT_ENOMEM;
	if (len && evbuffer_add(x->out, data, len) != 0)
		return PT_ENOMEM;
	return stream_out(x, len);
}

int exchange_respond_buffer(pt_exchange *x, int status, struct evbuffer *src, size_t n)
{
	if (answered(x))
		return PT_ESTATE;
	if (!out_buf(x))
		return PT_ENOMEM;
	if (n && evbuffer_remove_buffer(src, x->out, n) != (int)n)
		return PT_ENOMEM;
	x->status = status;
	return answer_out(x, n);
}

int exchange_write_buffer(pt_exchange *x, struct evbuffer *src, size_t n)
{
	if (x->state == X_DONE)
		return PT_ESTATE;
	if (x->aborted)
		return PT_EIO;
	if (!out_buf(x))
		return PT_ENOMEM;
	if (n && evbuffer_remove_buffer(src, x->out, n) != (int)n)
		return PT_ENOMEM;
	return stream_out(x, n);
}

void exchange_abort(pt_exchange *x)
{
	if (x->state == X_DONE)
		return;
	x->state = X_DONE;
	x->close_after = 1;
	if (!x->transport_gone)
		x->ops->send_abort(x);
	answer_unpause(x);
}

int xapi_finish(pt_exchange *x)
{
	if (x->state == X_DONE)
		return PT_ESTATE;
	if (x->state != X_STREAMING)
		return xapi_respond(x, x->status, (pt_str_t){ NULL, 0 });
	x->state = X_DONE;
	if (!x->transport_gone)
		x->ops->send_end(x);
	answer_unpause(x);
	return 0;
}

void exchange_error(pt_exchange *x, int status, const char *message)
{
	char body[256];
	int n;

	if (answered(x))
		return;
	n = snprintf(body, sizeof(body), "{\"error\":{\"status\":%d,\"message\":\"%s\"}}\n",
	             status, message);
	xapi_header_set(x, PT_STR("content-type"), PT_STR("application/json"));
	xapi_respond(x, status, (pt_str_t){ body, n > 0 ? (size_t)n : 0 });
}

/* ---- request flow -------------------------------------------------------- */


static void answer_options(pt_exchange *x, unsigned allowed)
{
	char allow[128];
	size_t n = router_allow_header(allowed, allow, sizeof(allow));

	xapi_header_set(x, PT_STR("allow"), (pt_str_t){ allow, n });
	xapi_respond(x, 204, (pt_str_t){ NULL, 0 });
}

/*
 * A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method)
 * at a path with no OPTIONS route: route it as the method it asks about when
 * that route has a filter that answers preflights. 1 when X is routed.
 */
static int route_preflight(pt_exchange *x)
{
	pt_str_t origin, want;
	const struct route_entry *re;
	unsigned m, allowed = 0;

	if (xapi_header(x, PT_STR("origin"), 0, &origin) != 0 ||
	    xapi_header(x, PT_STR("access-control-request-method"), 0, &want) != 0)
		return 0;
	m = h1_method_id(want);
	if (m == PT_METHOD_UNKNOWN || m == PT_METHOD_OPTIONS)
		return 0;
	re = router_match(x->gen->router, m, x->host, x->path, &x->params, &allowed);
	if (!re || !re->preflight)
		return 0;
	x->route = re;
	x->preflight = 1;
	return 1;
}

/* 1 when NEEDLE (lower-case) is in S[0..LEN), in any case. */
static int memmem_ci(const char *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, needle, n) == 0)
			return 1;
	return 0;
}

/*
 * GraphQL over WebSocket on a route declared for POST only: the upgrade is a
 * GET, and `route.post("/graphql", "graphql")` is how GraphQL is served, so
 * a GET carrying Upgrade: websocket goes to that route's graphql handler
 * (which answers it as graphql-transport-ws) instead of 405.
 */
static const struct route_entry *graphql_ws_route(pt_exchange *x)
{
	const struct route_entry *re;
	unsigned allowed = 0;
	pt_str_t v;

	if (xapi_header(x, PT_STR("upgrade"), 0, &v) != 0 || v.len < 9 ||
	    !memmem_ci(v.ptr, v.len, "websocket"))
		return NULL;
	re = router_match(x->gen->router, PT_METHOD_POST, x->host, x->path, &x->params, &allowed);
	if (!re || !re->handler || strcmp(re->handler->name, "graphql") != 0)
		return NULL;
	return re;
}

int exchange_head_done(pt_exchange *x, uint64_t content_length, int has_body)
{
	unsigned allowed = 0;
	int is_options_star = x->path.len == 1 && x->path.ptr[0] == '*';

	x->head_only = x->method == PT_METHOD_HEAD;
	x->has_body = has_body;
	x->start_us = mono_us();   /* the access log and the latency histogram */
	if (is_options_star) {
		if (x->method == PT_METHOD_OPTIONS)
			answer_options(x, PT_METHOD_ANY & ~(PT_METHOD_CONNECT | PT_METHOD_TRACE));
		else
			exchange_error(x, 400, "'*' is only a target for OPTIONS");
		return 1;
	}
	x->route = router_match(x->gen->router, x->method, x->host, x->path, &x->params, &allowed);
	if (!x->route && x->method == PT_METHOD_GET && (allowed & PT_METHOD_POST))
		x->route = graphql_ws_route(x);
	if (x->route && x->only && (!x->route->handler || !x->route->handler->owner ||
	                            strcmp(x->route->handler->owner->name, x->only) != 0)) {
		/* a plugin's own listener serves that plugin's routes alone */
		x->route = NULL;
		allowed = 0;
	}
	if (!x->route && !(x->method == PT_METHOD_OPTIONS && allowed && route_preflight(x))) {
		if (x->method == PT_METHOD_OPTIONS && allowed) {
			answer_options(x, allowed);
		} else if (allowed) {
			char allow[128];
			size_t n = router_allow_header(allowed, allow, sizeof(allow));

			xapi_header_set(x, PT_STR("allow"), (pt_str_t){ allow, n });
			exchange_error(x, 405, "method not allowed");
		} else {
			exchange_error(x, 404, "not found");
		}
		return 1;
	}
	if (x->route->body_limit)
		x->body_limit = x->route->body_limit;
	if (has_body && content_length > x->body_limit) {
		/* before answering: the transport frames the reply by it, and may
		 * release X while sending */
		x->close_after = 1;
		exchange_error(x, 413, "request body too large");
		return 1;
	}
	x->body_streamed = x->route->stream_body;   /* read once, when the generation was built */
	if (x->body_streamed)
		chain_start(x);   /* the body follows through exchange_body_read */
	return 0;
}

int exchange_body_data(pt_exchange *x, const char *data, size_t len)
{
	if (x->body_fn) {
		x->body_fn(x, data, len, 0, x->body_ud);
		return 0;
	}
	if (!x->body_streamed && x->state != X_READING)
		return 0;  /* answered early: the transport discards the rest */
	if (len > x->body_limit - x->body_len) {
		x->close_after = 1;   /* first: see exchange_head_done */
		exchange_error(x, 413, "request body too large");
		stop_handler(x);
		return PT_ELIMIT;
	}
	if (x->body_len + len > x->body_cap) {
		size_t cap = x->body_cap ? x->body_cap : 1024;
		char *b;

		while (cap < x->body_len + len)
			cap *= 2;
		if (cap > x->body_limit)
			cap = (size_t)x->body_limit;
		b = realloc(x->body, cap);
		if (!b) {
			exchange_error(x, 500, "out of memory");
			return PT_ENOMEM;
		}
		x->body = b;
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, data, len);
	x->body_len += len;
	return 0;
}

void exchange_body_end(pt_exchange *x)
{
	x->body_complete = 1;
	if (x->body_fn) {
		x->body_fn(x, NULL, 0, 1, x->body_ud);
		return;
	}
	if (x->state == X_READING && x->route && !x->body_streamed)
		chain_start(x);
}

/* ---- request accessors --------------------------------------------------- */

unsigned xapi_method(pt_exchange *x) { return x->method; }
pt_str_t xapi_method_name(pt_exchange *x) { return x->method_name; }
pt_str_t xapi_path(pt_exchange *x) { return x->path; }
pt_str_t xapi_query(pt_exchange *x) { return x->query; }
pt_str_t xapi_host(pt_exchange *x) { return x->host; }
pt_str_t xapi_remote_addr(pt_exchange *x) { return x->remote; }
int xapi_aborted(pt_exchange *x) { return x->aborted; }
void *xapi_alloc(pt_exchange *x, size_t size) { return arena_alloc(&x->pool, size); }
pt_worker *xapi_worker(pt_exchange *x) { return x->w; }
unsigned xapi_header_count(pt_exchange *x) { return x->nhdrs; }

int xapi_consumer_set(pt_exchange *x, pt_str_t name)
{
	char *p = arena_strndup(&x->pool, name.ptr, name.len);

	if (!p)
		return PT_ENOMEM;
	x->consumer = (pt_str_t){ p, name.len };
	return 0;
}

pt_str_t xapi_consumer(pt_exchange *x) { return x->consumer; }

/* 48 random bits drawn once per process: ids of two instances, or of one
 * before and after a restart, do not meet. */
static uint64_t run_id;
static pthread_once_t run_id_once = PTHREAD_ONCE_INIT;

static void run_id_init(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		v = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^
		    ((uint64_t)getpid() << 32);
	}
	run_id = v & 0xffffffffffffull;
}

/* Lower-case hex of V at DST, at least WIDTH digits; returns the length. */
static size_t put_hex(char *dst, uint64_t v, size_t width)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	size_t k = 0, n = 0;

	do {
		tmp[k++] = hex[v & 15];
		v >>= 4;
	} while (v || k < width);
	while (k)
		dst[n++] = tmp[--k];
	return n;
}

/* A client's X-Request-Id worth keeping: 1 to 40 visible ASCII bytes. */
static int id_ok(pt_str_t v)
{
	if (v.len == 0 || v.len > 40)
		return 0;
	for (size_t i = 0; i < v.len; i++)
		if ((unsigned char)v.ptr[i] < 0x21 || (unsigned char)v.ptr[i] > 0x7e)
			return 0;
	return 1;
}

/*
 * The client's X-Request-Id when it sent a usable one, so a trace keeps one id
 * across tiers; otherwise "RRRRRRRRRRRR-W-S": the process's random prefix,
 * the worker, and the exchange's place in the worker's count, in hex.
 */
pt_str_t xapi_request_id(pt_exchange *x)
{
	if (!x->id_len) {
		pt_str_t v;
		size_t n;

		if (xapi_header(x, PT_STR("x-request-id"), 0, &v) == 0 && id_ok(v)) {
			memcpy(x->id, v.ptr, v.len);
			x->id_len = v.len;
			return (pt_str_t){ x->id, x->id_len };
		}
		pthread_once(&run_id_once, run_id_init);
		n = put_hex(x->id, run_id, 12);
		x->id[n++] = '-';
		n += put_hex(x->id + n, x->w->id, 1);
		x->id[n++] = '-';
		n += put_hex(x->id + n, x->seq, 1);
		x->id_len = n;
	}
	return (pt_str_t){ x->id, x->id_len };
}

int xapi_header(pt_exchange *x, pt_str_t name, unsigned idx, pt_str_t *out)
{
	for (unsigned i = 0; i < x->nhdrs; i++) {
		const struct xhdr *h = &x->hdrs[i];

		if (h->name.len == name.len && strncasecmp(h->name.ptr, name.ptr, name.len) == 0 &&
		    idx-- == 0) {
			*out = h->value;
			return 0;
		}
	}
	return PT_ENOENT;
}

int xapi_header_at(pt_exchange *x, unsigned i, pt_str_t *name, pt_str_t *value)
{
	if (i >= x->nhdrs)
		return PT_ENOENT;
	*name = x->hdrs[i].name;
	*value = x->hdrs[i].value;
	return 0;
}

int xapi_param(pt_exchange *x, pt_str_t name, pt_str_t *out)
{
	for (unsigned i = 0; i < x->params.n; i++) {
		const struct router_param *p = &x->params.p[i];

		if (p->name.len == name.len && memcmp(p->name.ptr, name.ptr, name.len) == 0) {
			*out = p->value;
			return 0;
		}
	}
	return PT_ENOENT;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t form_decode_into(const char *s, size_t len, char *out)
{
	size_t j = 0;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '+') {
			out[j++] = ' ';
		} else if (s[i] == '%' && i + 2 < len && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		           (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			out[j++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[j++] = s[i];
		}
	}
	return j;
}

/* Decodes S into the pool, NUL-terminated; NULL when out of memory. */
static char *form_decode(pt_exchange *x, const char *s, size_t len, size_t *outlen)
{
	char *d = arena_alloc(&x->pool, len + 1);

	if (!d)
		return NULL;
	*outlen = form_decode_into(s, len, d);
	d[*outlen] = '\0';
	return d;
}

int xapi_query_arg(pt_exchange *x, pt_str_t name, unsigned idx, pt_str_t *out)
{
	const char *p = x->query.ptr, *end = p + x->query.len;

	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *kend = eq ? eq : stop;
		size_t klen;
		char *k = form_decode(x, p, (size_t)(kend - p), &klen);

		if (!k)
			return PT_ENOMEM;
		if (klen == name.len && memcmp(k, name.ptr, klen) == 0 && idx-- == 0) {
			size_t vlen = 0;
			char *v = eq ? form_decode(x, eq + 1, (size_t)(stop - eq - 1), &vlen) : (char *)"";

			if (!v)
				return PT_ENOMEM;
			*out = (pt_str_t){ v, vlen };
			return 0;
		}
		p = amp ? amp + 1 : NULL;
	}
	return PT_ENOENT;
}

int xapi_body(pt_exchange *x, pt_str_t *out)
{
	if (!x->body_complete || x->body_fn)
		return PT_ESTATE;
	*out = (pt_str_t){ x->body ? x->body : "", x->body_len };
	return 0;
}

int xapi_body_read(pt_exchange *x, pt_body_fn fn, void *ud)
{
	if (x->body_complete) {
		/* already buffered: hand it over in one piece */
		fn(x, x->body ? x->body : "", x->body_len, 1, ud);
		return 0;
	}
	x->body_fn = fn;
	x->body_ud = ud;
	if (x->body_len)
		fn(x, x->body, x->body_len, 0, ud);
	x->body_len = 0;
	if (!x->transport_gone && x->ops->want_body)
		x->ops->want_body(x);
	return 0;
}

/* pt_api.exchange_body_pause: the transports hold the rest back (see
 * exchange_body_pause in exchange.h); a resume hands it over from the loop. */
int xapi_body_pause(pt_exchange *x, int paused)
{
	if (!x->body_fn)
		return PT_ESTATE;
	if (paused)
		exchange_body_pause(x);
	else
		exchange_body_resume(x);
	return 0;
}

int xapi_resume(pt_exchange *x)
{
	return chain_resume(x);
}
