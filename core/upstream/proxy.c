/*
 * proxy.c - forwarding an exchange to a named upstream; see proxy.h.
 *
 * Request body, by what the client announced:
 *   none                 the request goes at once;
 *   already buffered     (a Lua handler's request) sent from x->body;
 *   Content-Length up to KEEP_MAX
 *                        collected, then sent in one write with the head;
 *   larger or chunked    streamed: the request goes at once and each piece
 *                        of body follows as it arrives. Above
 *                        HTTP_CLIENT_OUT_HIGH queued toward the upstream
 *                        the client's body is paused (exchange_body_pause)
 *                        until the client's drain callback.
 * Response: the head is copied into the exchange, the body moves from the
 * upstream's input buffer to the exchange without a copy. A body that is
 * complete with its head goes out as one response with Content-Length;
 * otherwise it streams (Content-Length kept when the upstream gave one), and
 * the upstream is not read while the client's output is above X_OUT_HIGH.
 *
 * Retries (another server, idempotent methods, upstream `retries` within
 * the retry budget) happen only before the upstream's head came, and only
 * while every body byte sent so far is still kept (KEEP_MAX); past that a
 * failure is answered. An upstream failing after its head is a cut response
 * for the client and a log line.
 *
 * All of this holds for h2/h2c upstreams too: the client streams HTTP/2
 * calls the same way, with the stream's flow control holding the upstream
 * back (see http_client_h2.c).
 *
 * gRPC mode (proxy_conf.grpc) changes four things: the request body always
 * streams (never collected first) and the upstream's head goes to the
 * client at once, so both sides talk at the same time (bidi calls); the
 * upstream's trailers become the client's; grpc-timeout is the call's
 * deadline (a timer here) and goes on reduced by the time spent; and every
 * failure is a gRPC status (proxy_grpc.c: trailers-only before the
 * response started, trailers after), never a 502 or a cut stream. Calls
 * are POSTs: retried only while no body byte came from the client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conf_tree.h"
#include "gen.h"
#include "http/exchange.h"
#include "http_client.h"
#include "log.h"
#include "outbound.h"
#include "pool.h"
#include "proxy.h"
#include "proxy_grpc.h"
#include "worker.h"

#define MAX_FWD_HEADERS 128
#define KEEP_MAX (64u << 10)   /* body bytes kept for a resend (and small bodies) */

enum { B_NONE, B_BUFFERED, B_SMALL, B_STREAM };

struct proxy {
	pt_exchange *x;                  /* one reference until finish_now */
	const char *upstream;
	const struct upstream_conf *u;
	struct upstream_try *t;          /* server choice and accounting (pool.c) */
	double timeout;                  /* the route's, or 0 */
	struct http_client_call *call;   /* the attempt in flight */
	struct http_client_req hr;       /* method and headers; url per attempt */
	pt_str_t path;                   /* forwarded path and query */
	int mode;                        /* B_* */
	struct evbuffer *kept;           /* body so far while <= KEEP_MAX */
	int kept_lost;
	int body_done;                   /* the client's body is all in */
	uint64_t body_seen;
	uint64_t body_limit;             /* x->body_limit; gRPC: the route's own, if any */
	int head_seen;                   /* the upstream's head came */
	unsigned nrhdrs_before;          /* x's response headers before the upstream's */
	int status;
	int started;                     /* the response went to the transport */
	uint64_t t0, us_before;
	int last_status;                 /* the last attempt's failure */
	const char *retry_error;         /* why the next attempt is a retry */
	int inside;                      /* in proxy_start or a body callback: the
	                                    done callback must wait for the loop */
	proxy_done_fn done;
	void *done_ud;
	int finished;
	/* gRPC mode */
	int grpc;
	int grpc_tonly;                  /* the upstream's head carried grpc-status */
	int grpc_status_seen;            /* its trailers did */
	int grpc_answered;               /* the proxy ended X with a status of its own */
	uint64_t deadline;               /* mono_us() when grpc-timeout runs out; 0: none */
	struct event *deadline_ev;
	pt_str_t *grpc_timeout;          /* the forwarded grpc-timeout's value */
};

/* Names a proxy does not pass on (hop-by-hop, or framed by each side). By
 * length first: this runs for every header both ways. */
static int ieq(const char *s, const char *lower, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] | 0x20 : s[i]) != lower[i])
			return 0;
	return 1;
}

static int is_hop(pt_str_t n)
{
#define IS(lit) (n.len == sizeof(lit) - 1 && ieq(n.ptr, lit, sizeof(lit) - 1))
	switch (n.len) {
	case 2: return IS("te");
	case 4: return IS("host");
	case 6: return IS("expect");
	case 7: return IS("trailer") || IS("upgrade");
	case 10: return IS("connection") || IS("keep-alive");
	case 14: return IS("content-length");
	case 16: return IS("proxy-connection");
	case 17: return IS("transfer-encoding");
	default: return 0;
	}
#undef IS
}

/* The transport writes its own Server and Date. */
static int is_resp_skipped(pt_str_t n)
{
	return is_hop(n) || (n.len == 6 && ieq(n.ptr, "server", 6)) ||
	       (n.len == 4 && ieq(n.ptr, "date", 4));
}

/* A per-thread xorshift: trace ids need no lock and no crypto. */
static uint64_t rand64(void)
{
	static __thread uint64_t s;

	if (!s) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&s;
		s |= 1;
	}
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

/* 16 lower-case hex digits of V at DST. */
static void hex64(char *dst, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, v >>= 4)
		dst[i] = hex[v & 15];
}

/* ---- finishing ------------------------------------------------------------ */

static void discard_body(pt_exchange *x, const char *data, size_t len, int last, void *ud)
{
	(void)x, (void)data, (void)len, (void)last, (void)ud;
}

static void body_in(pt_exchange *x, const char *data, size_t len, int last, void *ud);
static void note_time(struct proxy *p);

static void finish_now(struct proxy *p)
{
	pt_exchange *x = p->x;

	if (p->done)
		p->done(x, p->done_ud);
	xapi_unref(x);
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish_now(arg);
}

/* The proxy is done with X. LATER: called from inside the transport, so the
 * done callback and the last unref wait for the loop. */
static void finish(struct proxy *p, int later)
{
	pt_exchange *x = p->x;
	struct timeval zero = { 0, 0 };

	if (p->finished)
		return;
	p->finished = 1;
	exchange_on_stop(x, NULL, NULL);
	exchange_on_drain(x, NULL, NULL);
	if (x->body_fn == body_in)
		x->body_fn = discard_body;   /* the transport reads and drops the rest */
	exchange_body_resume(x);
	note_time(p);
	if (p->t) {
		if (p->call) {
			/* the transport let go while the upstream still talked */
			http_client_cancel(p->call);
			p->call = NULL;
			upstream_try_done(p->t, 1, NULL);
		}
		upstream_try_end(p->t);
		p->t = NULL;
	}
	if (p->kept)
		evbuffer_free(p->kept);
	p->kept = NULL;
	if (p->deadline_ev)
		event_free(p->deadline_ev);
	p->deadline_ev = NULL;
	if ((later || p->inside) && event_base_once(x->w->base, -1, EV_TIMEOUT, finish_cb, p, &zero) == 0)
		return;
	finish_now(p);
}

/* The access log's upstream time: from the first attempt until now. */
static void note_time(struct proxy *p)
{
	if (p->t0) {
		p->x->upstream_us = p->us_before + (mono_us() - p->t0);
	}
}

static void set_addr(struct proxy *p, const char *addr)
{
	pt_exchange *x = p->x;
	size_t n = addr ? strlen(addr) : 0;
	char *c;

	if (!n || (x->upstream_addr.len == n && !memcmp(x->upstream_addr.ptr, addr, n)))
		return;
	if ((c = xapi_alloc(x, n + 1))) {
		memcpy(c, addr, n + 1);
		x->upstream_addr = (pt_str_t){ c, n };
	}
}

/* Answers a failure before the upstream's head: 502, 503 or 504 in JSON. */
static void answer_error(struct proxy *p, int status, const char *error)
{
	pt_exchange *x = p->x;
	int st = status == PT_ETIMEDOUT ? 504 : status == PT_ENOENT ? 503 : 502;
	char body[512];
	int n;

	if (p->grpc) {
		note_time(p);
		snprintf(body, sizeof(body), "upstream %s: %s", p->upstream, status == PT_ENOENT ?
		         "no server is available" : error ? error : status == PT_ETIMEDOUT ?
		         "timed out" : "failed");
		p->grpc_answered = 1;
		grpc_answer(x, p->nrhdrs_before, GRPC_UNAVAILABLE, body);
		return;
	}
	if (x->state >= X_STREAMING || x->transport_gone)
		return;
	note_time(p);
	x->nrhdrs = p->nrhdrs_before;   /* nothing of an upstream head that came */
	x->resp_length = -1;
	n = snprintf(body, sizeof(body), "{\"error\":{\"status\":%d,\"message\":\"%s\","
	             "\"upstream\":\"%s\"}}\n", st, st == 504 ? "upstream timed out" :
	             st == 503 ? "no upstream server is available" : "upstream failed",
	             p->upstream);
	(void)error;
	xapi_header_set(x, PT_STR("content-type"), PT_STR("application/json"));
	xapi_respond(x, st, (pt_str_t){ body, n > 0 ? (size_t)n : 0 });
}

/* ---- attempts ------------------------------------------------------------- */

static const struct http_client_stream stream_ops;
static void call_done(const struct http_client_res *res, void *ud);

/* Every body byte the upstream was given can be given again. */
static int can_resend(const struct proxy *p)
{
	return p->mode != B_STREAM || !p->kept_lost;
}

/* Starts the next attempt; 0, or the failure was answered (and finished). */
static int attempt(struct proxy *p)
{
	pt_exchange *x = p->x;
	struct http_client *client;
	const char *prev = upstream_try_server(p->t);
	int why;

	p->hr.stream = &stream_ops;
	client = upstream_try_next(p->t, &p->hr, &why);
	if (client && p->retry_error)
		log_info("upstream", "%s: %s failed (%s), retrying on %s", p->upstream, prev,
		         p->retry_error, upstream_try_server(p->t));
	p->retry_error = NULL;
	if (!client) {
		if (upstream_try_attempts(p->t) == 0)
			log_warn("upstream", "%s: no server is available", p->upstream);
		/* nothing (more) to try: the last failure says what happened */
		answer_error(p, upstream_try_attempts(p->t) > 0 ? p->last_status :
		             why == PT_EIO ? PT_ENOENT : why, NULL);
		finish(p, 0);
		return -1;
	}
	if (p->grpc && !p->hr.h2) {
		log_warn("upstream", "%s: a gRPC proxy needs an HTTP/2 upstream (protocol = \"h2c\" "
		         "or \"h2\")", p->upstream);
		upstream_try_done(p->t, 1, NULL);
		answer_error(p, PT_EIO, "not an HTTP/2 upstream");
		finish(p, 0);
		return -1;
	}
	if (p->grpc_timeout) {
		uint64_t now = mono_us();

		p->grpc_timeout->len = grpc_timeout_format(p->deadline > now ?
		                                           (int64_t)(p->deadline - now) : 1,
		                                           (char *)p->grpc_timeout->ptr);
	}
	if (p->timeout > 0)
		p->hr.timeout = p->timeout;
	p->hr.body = (pt_str_t){ NULL, 0 };
	p->hr.body_more = 0;
	p->hr.body_length = -1;
	switch (p->mode) {
	case B_BUFFERED:
		p->hr.body = (pt_str_t){ x->body, x->body_len };
		break;
	case B_SMALL:
	case B_STREAM:
		if (p->kept && evbuffer_get_length(p->kept))
			p->hr.body = (pt_str_t){ (const char *)evbuffer_pullup(p->kept, -1),
			                         evbuffer_get_length(p->kept) };
		p->hr.body_more = p->mode == B_STREAM && !p->body_done;
		p->hr.body_length = x->req_length;
		break;
	default:
		break;
	}
	/* a body already whole (buffered, or a resend) takes the client's
	 * trailers with it; a streamed one hands them over at its end */
	p->hr.trailers = (const pt_str_t *)x->req_trailers;
	p->hr.num_trailers = p->hr.body_more ? 0 : x->nreq_trailers;
	set_addr(p, upstream_try_server(p->t));
	if (!p->t0 && x->gen->alog) {   /* only the access log reads it */
		p->t0 = mono_us();
		p->us_before = x->upstream_us;
	}
	p->call = http_client_request(client, &p->hr, call_done, p);
	if (!p->call) {
		upstream_try_done(p->t, 1, NULL);
		answer_error(p, PT_ENOMEM, NULL);
		finish(p, 0);
		return -1;
	}
	/* a body paused for the last attempt goes on into this one */
	exchange_body_resume(x);
	return 0;
}

/* ---- the upstream's answer ------------------------------------------------ */

/* Header NAME (lower-case) of RES, or an empty string. */
static pt_str_t res_header(const struct http_client_res *res, const char *name)
{
	size_t n = strlen(name);

	for (unsigned i = 0; i < res->num_headers; i++)
		if (res->headers[2 * i].len == n && !memcmp(res->headers[2 * i].ptr, name, n))
			return res->headers[2 * i + 1];
	return (pt_str_t){ "", 0 };
}

/*
 * gRPC mode: the upstream's head. A gRPC answer (200, application/grpc)
 * goes to the client at once -- the client may wait for it before it sends
 * more -- unless it is trailers-only (grpc-status in it: it goes whole at
 * the end). Anything else is the status a gRPC client would make of it.
 */
static int grpc_head(struct proxy *p, const struct http_client_res *res)
{
	pt_exchange *x = p->x;
	char why[96];

	if (res->status != 200 || !grpc_content_type(res_header(res, "content-type"))) {
		snprintf(why, sizeof(why), "upstream %s answered HTTP %d, not gRPC", p->upstream,
		         res->status);
		log_info("upstream", "%s", why);
		p->grpc_answered = 1;
		grpc_answer(x, p->nrhdrs_before, res->status == 200 ? GRPC_UNKNOWN :
		            grpc_code_of_http(res->status), why);
		return -1;   /* the call ends; call_done sees grpc_answered */
	}
	for (unsigned i = 0; i < res->num_headers; i++) {
		pt_str_t n = res->headers[2 * i], v = res->headers[2 * i + 1];

		if (n.len == 11 && !memcmp(n.ptr, "grpc-status", 11))
			p->grpc_tonly = 1;
		if (!is_resp_skipped(n) && xapi_header_add(x, n, v) != 0)
			log_warn("upstream", "%s: response header '%.*s' left out", p->upstream,
			         (int)n.len, n.ptr);
	}
	if (xapi_status_set(x, 200) != 0)
		return -1;
	x->resp_length = -1;
	if (p->grpc_tonly)
		return 0;
	p->started = 1;
	return xapi_write(x, NULL, 0) == 0 ? 0 : -1;   /* the head, now */
}

/* The upstream's trailers: in gRPC mode, the client's (grpc-status, ...). */
static int up_trailers(const pt_str_t *pairs, unsigned n, void *ud)
{
	struct proxy *p = ud;
	pt_exchange *x = p->x;

	if (!p->grpc || x->transport_gone || x->state >= X_DONE)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		pt_str_t nm = pairs[2 * i], v = pairs[2 * i + 1];

		if (exchange_trailer_forbidden(nm))
			continue;
		if (nm.len == 11 && !memcmp(nm.ptr, "grpc-status", 11))
			p->grpc_status_seen = 1;
		if (xapi_trailer_add(x, nm, v) != 0)
			return -1;
	}
	return 0;
}

static int up_head(const struct http_client_res *res, void *ud)
{
	struct proxy *p = ud;
	pt_exchange *x = p->x;

	if (x->transport_gone || x->state >= X_STREAMING)
		return -1;
	p->head_seen = 1;
	p->status = res->status;
	set_addr(p, res->peer);
	note_time(p);
	if (p->grpc)
		return grpc_head(p, res);
	for (unsigned i = 0; i < res->num_headers; i++) {
		pt_str_t n = res->headers[2 * i], v = res->headers[2 * i + 1];

		if (!is_resp_skipped(n) && xapi_header_add(x, n, v) != 0)
			log_warn("upstream", "%s: response header '%.*s' left out", p->upstream,
			         (int)n.len, n.ptr);
	}
	if (xapi_status_set(x, res->status) != 0)
		return -1;
	x->resp_length = res->content_length;
	return 0;
}

static void client_drained(void *ud)
{
	struct proxy *p = ud;

	if (p->call)
		http_client_pause(p->call, 0);
}

static int up_body(struct evbuffer *buf, size_t n, int last, void *ud)
{
	struct proxy *p = ud;
	pt_exchange *x = p->x;

	if (x->transport_gone || x->aborted)
		return -1;
	if (!p->started && last) {
		/* all of it came with the head: one response with its length. The
		 * transport may let go of X at once: that is no stop, the call
		 * ends right after this */
		p->started = 1;
		exchange_on_stop(x, NULL, NULL);
		note_time(p);
		return exchange_respond_buffer(x, p->status, buf, n) == 0 ? 0 : -1;
	}
	p->started = 1;
	if (exchange_write_buffer(x, buf, n) != 0)
		return -1;
	if (exchange_out_pending(x) >= X_OUT_HIGH) {
		/* the client reads slower than the upstream sends */
		http_client_pause(p->call, 1);
		exchange_on_drain(x, client_drained, p);
	}
	return 0;
}

static void up_drain(void *ud)
{
	struct proxy *p = ud;

	exchange_body_resume(p->x);
}

static const struct http_client_stream stream_ops = { up_head, up_body, up_drain, up_trailers };

static void call_done(const struct http_client_res *res, void *ud)
{
	struct proxy *p = ud;
	pt_exchange *x = p->x;
	const struct upstream_conf *u = p->u;
	const char *server = upstream_try_server(p->t);

	p->call = NULL;
	set_addr(p, res->peer);
	note_time(p);
	if (p->grpc_answered) {
		upstream_try_done(p->t, 1, NULL);
		finish(p, 0);
		return;
	}
	if (res->status >= 0) {
		upstream_try_done(p->t, 1, NULL);
		if (p->grpc && !x->transport_gone && x->state < X_DONE &&
		    !p->grpc_tonly && !p->grpc_status_seen) {
			/* a gRPC call always ends with a status */
			log_info("upstream", "%s: the upstream ended a gRPC call without grpc-status",
			         p->upstream);
			grpc_answer(x, p->nrhdrs_before, GRPC_INTERNAL,
			            "upstream ended the call without grpc-status");
		} else if (!x->transport_gone && x->state < X_DONE) {
			if (!p->started)
				xapi_respond(x, p->status, (pt_str_t){ NULL, 0 });
			else
				xapi_finish(x);
		}
		finish(p, 0);
		return;
	}
	upstream_try_done(p->t, 0, res->error);
	if (p->started && p->grpc) {
		log_warn("upstream", "%s (%s): %s during a gRPC call", p->upstream, server,
		         res->error ? res->error : "failed");
		answer_error(p, res->status, res->error);   /* as its trailers */
		finish(p, 0);
		return;
	}
	if (p->started) {
		log_warn("upstream", "%s (%s): %s after %llu response bytes: the response is cut",
		         p->upstream, server, res->error ? res->error : "failed",
		         (unsigned long long)x->bytes_out);
		exchange_abort(x);
		finish(p, 0);
		return;
	}
	log_warn("upstream", "%s (%s): %s", p->upstream, server, res->error ? res->error : "failed");
	p->last_status = res->status;
	if (!p->head_seen && !x->transport_gone && upstream_try_attempts(p->t) <= u->retries &&
	    (p->grpc ? p->body_seen == 0 : upstream_idempotent(x->method_name) && can_resend(p))) {
		p->retry_error = res->error ? res->error : "error";
		attempt(p);
		return;
	}
	answer_error(p, res->status, res->error);
	finish(p, 0);
}

/* ---- the client's body ---------------------------------------------------- */

static void body_take(pt_exchange *x, struct proxy *p, const char *data, size_t len, int last);

static void body_in(pt_exchange *x, const char *data, size_t len, int last, void *ud)
{
	struct proxy *p = ud;

	p->inside++;
	body_take(x, p, data, len, last);
	p->inside--;
}

static void body_take(pt_exchange *x, struct proxy *p, const char *data, size_t len, int last)
{
	if (len) {
		p->body_seen += len;
		if (p->body_seen > p->body_limit) {
			/* a chunked body past the limit (a Content-Length one was
			 * refused before it started) */
			log_info("upstream", "%s: request body over %llu bytes: 413", p->upstream,
			         (unsigned long long)p->body_limit);
			finish(p, 1);   /* drops the upstream call */
			if (p->grpc) {
				grpc_answer(x, p->nrhdrs_before, GRPC_RESOURCE_EXHAUSTED,
				            "request body too large");
				return;
			}
			x->close_after = 1;
			if (x->state >= X_STREAMING)
				exchange_abort(x);
			else
				exchange_error(x, 413, "request body too large");
			return;
		}
		if (!p->kept_lost) {
			if (!p->kept)
				p->kept = evbuffer_new();
			if (p->kept && evbuffer_get_length(p->kept) + len <= KEEP_MAX) {
				evbuffer_add(p->kept, data, len);
			} else {
				p->kept_lost = 1;   /* a failure from now on is answered, not retried */
				if (p->kept)
					evbuffer_free(p->kept);
				p->kept = NULL;
			}
		}
		if (p->mode == B_STREAM && p->call &&
		    http_client_body_write(p->call, data, len) >= (ssize_t)HTTP_CLIENT_OUT_HIGH)
			exchange_body_pause(x);   /* up_drain resumes it */
	}
	if (!last)
		return;
	p->body_done = 1;
	if (p->mode == B_STREAM && p->call && x->nreq_trailers)
		/* struct xhdr is a name,value pair of pt_str_t: the client's list as is */
		http_client_body_trailers(p->call, (const pt_str_t *)x->req_trailers,
		                          x->nreq_trailers);
	if (p->mode == B_STREAM && p->call)
		http_client_body_end(p->call);
	else if (p->mode == B_SMALL && !p->call && !p->head_seen)
		attempt(p);
}

/* The transport let go of X (the client went away), or X answered by itself. */
static void on_stop(void *ud)
{
	struct proxy *p = ud;

	if (p->call)
		log_info("upstream", "%s (%s): the client went away: upstream call dropped",
		         p->upstream, upstream_try_server(p->t));
	finish(p, 1);   /* drops the upstream call */
}

/* ---- the request ---------------------------------------------------------- */

/* Appends header NAME: VALUE to H (VAL copied into X's pool). */
static void add(pt_exchange *x, pt_str_t *h, unsigned *n, unsigned cap, pt_str_t name,
                const char *val, size_t vlen)
{
	char *v;

	if (*n >= cap || !(v = xapi_alloc(x, vlen + 1)))
		return;
	memcpy(v, val, vlen);
	h[2 * *n] = name;
	h[2 * *n + 1] = (pt_str_t){ v, vlen };
	(*n)++;
}

/* Whether NAME (lower-case) is in the route's remove_headers. */
static int removed(const struct proxy_conf *pc, pt_str_t name)
{
	for (unsigned i = 0; i < pc->nremove; i++)
		if (pc->remove[i].len == name.len && ieq(pc->remove[i].ptr, name.ptr, name.len))
			return 1;
	return 0;
}

/* The forwarded request's path and headers, in X's pool. */
static int build_request(struct proxy *p, const struct proxy_conf *pc)
{
	pt_exchange *x = p->x;
	unsigned cap = x->nhdrs + 10 + pc->nheaders;
	pt_str_t *h;
	pt_str_t path = x->path, xff = { NULL, 0 }, v;
	unsigned n = 0;
	const char *colon;
	char *full;
	size_t iplen, off = 0;
	char *buf;

	if (cap > MAX_FWD_HEADERS + 2)
		cap = MAX_FWD_HEADERS + 2;
	if (!(h = xapi_alloc(x, 2 * cap * sizeof(pt_str_t))))
		return PT_ENOMEM;
	if (pc->strip_prefix.len && path.len >= pc->strip_prefix.len &&
	    !memcmp(path.ptr, pc->strip_prefix.ptr, pc->strip_prefix.len)) {
		path.ptr += pc->strip_prefix.len;
		path.len -= pc->strip_prefix.len;
	}
	if (!(full = xapi_alloc(x, pc->prefix.len + path.len + x->query.len + 3)))
		return PT_ENOMEM;
	p->path = (pt_str_t){ full, 0 };
	if (pc->prefix.len) {
		memcpy(full, pc->prefix.ptr, pc->prefix.len);
		p->path.len = pc->prefix.len;
		if (full[p->path.len - 1] == '/' && path.len && path.ptr[0] == '/')
			p->path.len--;   /* "/v2/" + "/users": one slash */
	}
	if (!p->path.len && (!path.len || path.ptr[0] != '/'))
		full[p->path.len++] = '/';
	else if (p->path.len && full[p->path.len - 1] != '/' && path.len && path.ptr[0] != '/')
		full[p->path.len++] = '/';
	memcpy(full + p->path.len, path.ptr, path.len);
	p->path.len += path.len;
	if (x->query.len) {
		full[p->path.len++] = '?';
		memcpy(full + p->path.len, x->query.ptr, x->query.len);
		p->path.len += x->query.len;
	}
	for (unsigned i = 0; i < x->nhdrs && n + 8 < cap; i++) {
		if (is_hop(x->hdrs[i].name) || removed(pc, x->hdrs[i].name))
			continue;
		if (p->grpc && x->hdrs[i].name.len == 12 && !memcmp(x->hdrs[i].name.ptr,
		                                                     "grpc-timeout", 12))
			continue;   /* goes on below, reduced by the time spent */
		if (x->hdrs[i].name.len == 15 && !memcmp(x->hdrs[i].name.ptr, "x-forwarded-for", 15)) {
			xff = x->hdrs[i].value;
			continue;
		}
		if (x->hdrs[i].name.len == 12 && !memcmp(x->hdrs[i].name.ptr, "x-request-id", 12))
			continue;   /* goes on once below: the request id, which is the
			               client's when it sent a usable one */
		h[2 * n] = x->hdrs[i].name;
		h[2 * n + 1] = x->hdrs[i].value;
		n++;
	}
	/* X-Forwarded-For: what came, then the client's address without its port */
	colon = x->remote.len ? memrchr(x->remote.ptr, ':', x->remote.len) : NULL;
	iplen = colon ? (size_t)(colon - x->remote.ptr) : x->remote.len;
	if (!(buf = xapi_alloc(x, xff.len + iplen + 3)))
		return PT_ENOMEM;
	if (xff.len) {
		memcpy(buf, xff.ptr, xff.len);
		off = xff.len;
		memcpy(buf + off, ", ", 2);
		off += 2;
	}
	memcpy(buf + off, x->remote.ptr, iplen);
	h[2 * n] = PT_STR("x-forwarded-for");
	h[2 * n + 1] = (pt_str_t){ buf, off + iplen };
	n++;
	h[2 * n] = PT_STR("x-forwarded-proto");
	h[2 * n + 1] = x->tls ? PT_STR("https") : PT_STR("http");
	n++;
	if (x->host.len) {
		h[2 * n] = PT_STR("x-forwarded-host");
		h[2 * n + 1] = x->host;
		n++;
	}
	if (p->grpc) {
		/* grpc's servers want te: trailers (a hop-by-hop name otherwise) */
		h[2 * n] = PT_STR("te");
		h[2 * n + 1] = PT_STR("trailers");
		n++;
		if (p->deadline) {
			char *tv = xapi_alloc(x, 12);

			if (!tv)
				return PT_ENOMEM;
			h[2 * n] = PT_STR("grpc-timeout");
			h[2 * n + 1] = (pt_str_t){ tv, 0 };   /* set by each attempt */
			p->grpc_timeout = &h[2 * n + 1];
			n++;
		}
	}
	v = xapi_request_id(x);
	add(x, h, &n, cap, PT_STR("x-request-id"), v.ptr, v.len);
	if (xapi_header(x, PT_STR("traceparent"), 0, &v) != 0) {
		/* start a W3C trace for the hop when the client sent none */
		char tp[56];

		memcpy(tp, "00-", 3);
		hex64(tp + 3, rand64());
		hex64(tp + 19, rand64());
		tp[35] = '-';
		hex64(tp + 36, rand64() | 1);
		memcpy(tp + 52, "-01", 3);
		add(x, h, &n, cap, PT_STR("traceparent"), tp, 55);
	}
	for (unsigned i = 0; i < pc->nheaders && n < cap; i++) {
		pt_str_t nm = pc->headers[2 * i], val = pc->headers[2 * i + 1];
		char *c = xapi_alloc(x, nm.len + 1);

		if (!c)
			return PT_ENOMEM;
		memcpy(c, nm.ptr, nm.len);
		add(x, h, &n, cap, (pt_str_t){ c, nm.len }, val.ptr, val.len);
	}
	p->hr.method = x->method_name;
	p->hr.headers = h;
	p->hr.num_headers = n;
	return 0;
}

/* Request header NAME (lower-case) of X, or an empty string. */
static pt_str_t header_of(pt_exchange *x, const char *name)
{
	pt_str_t v;

	if (xapi_header(x, (pt_str_t){ name, strlen(name) }, 0, &v) != 0)
		return (pt_str_t){ "", 0 };
	return v;
}

/* gRPC mode: grpc-timeout ran out. The upstream's stream is reset. */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *p = arg;

	(void)fd;
	(void)what;
	if (p->finished)
		return;
	log_info("upstream", "%s: gRPC deadline exceeded: upstream call cancelled", p->upstream);
	note_time(p);
	if (p->call) {
		http_client_cancel(p->call);
		p->call = NULL;
		upstream_try_done(p->t, 1, NULL);
	}
	p->grpc_answered = 1;
	grpc_answer(p->x, p->nrhdrs_before, GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
	finish(p, 0);
}

/* gRPC mode: the client's grpc-timeout, when it sent a valid one, arms the
 * call's deadline. 0 or PT_ENOMEM. */
static int grpc_start(struct proxy *p)
{
	pt_exchange *x = p->x;
	pt_str_t v = header_of(x, "grpc-timeout");
	int64_t us;
	struct timeval tv;

	if (!v.len)
		return 0;
	if ((us = grpc_timeout_parse(v)) < 0) {
		log_info("upstream", "%s: invalid grpc-timeout '%.*s' ignored", p->upstream,
		         (int)(v.len < 32 ? v.len : 32), v.ptr);
		return 0;
	}
	if (!(p->deadline_ev = evtimer_new(x->w->base, deadline_cb, p)))
		return PT_ENOMEM;
	p->deadline = mono_us() + (uint64_t)us;
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	evtimer_add(p->deadline_ev, &tv);
	return 0;
}

int proxy_start(pt_exchange *x, const struct proxy_conf *pc, proxy_done_fn done, void *ud)
{
	const struct upstream_conf *u = config_upstream(x->gen->cfg, pc->upstream);
	struct proxy *p;

	if (!u)
		return PT_ENOENT;
	if (!(p = xapi_alloc(x, sizeof(*p))))
		return PT_ENOMEM;
	memset(p, 0, sizeof(*p));
	p->x = x;
	p->u = u;
	p->upstream = u->name;
	p->done = done;
	p->done_ud = ud;
	p->nrhdrs_before = x->nrhdrs;
	p->timeout = pc->timeout;
	p->grpc = pc->grpc;
	/* a gRPC stream may go on for hours with its memory bounded by flow
	 * control: only a body_limit the route sets bounds it */
	p->body_limit = !p->grpc ? x->body_limit : x->route && x->route->body_limit ?
	                x->route->body_limit : UINT64_MAX;
	if (p->grpc) {
		int rc = grpc_start(p);

		if (rc != 0)
			return rc;
		if (!grpc_content_type(header_of(x, "content-type"))) {
			/* answered here; DONE still runs, later */
			xapi_ref(x);
			exchange_error(x, 415, "a gRPC route takes content-type application/grpc");
			if (x->has_body && !x->body_complete)
				xapi_body_read(x, discard_body, NULL);
			finish(p, 1);
			return 0;
		}
	}
	if (build_request(p, pc) != 0)
		return PT_ENOMEM;
	if (!(p->t = upstream_try_start(x->w, x->gen, pc->upstream, p->hr.headers,
	                                p->hr.num_headers, p->path)))
		return PT_ENOMEM;
	if (x->body_complete)
		p->mode = B_BUFFERED;
	else if (!x->has_body)
		p->mode = B_NONE;
	else if (x->req_length >= 0 && (uint64_t)x->req_length <= KEEP_MAX && !p->grpc)
		p->mode = B_SMALL;
	else
		p->mode = B_STREAM;
	xapi_ref(x);
	exchange_on_stop(x, on_stop, p);
	p->inside = 1;
	if (p->mode == B_SMALL) {
		xapi_body_read(x, body_in, p);   /* attempts once the body is in */
	} else if (attempt(p) == 0 && p->mode == B_STREAM) {
		xapi_body_read(x, body_in, p);   /* may hand over what is buffered at once */
	}
	p->inside = 0;
	return 0;
}

/*
 * The parsed options of the proxy routes a worker served lately, by
 * (options, generation): parsing them was several lookups per request. An
 * entry's strings point into the generation's config; the key's generation
 * id keeps a later generation's options (perhaps at the same address) apart.
 * Routes with more added headers than an entry holds are parsed each time.
 */
#define OPTS_CACHE 8
#define OPTS_HEADERS 16

struct opts_entry {
	const pt_conf *opts;
	unsigned gen_id;
	struct proxy_conf pc;
	pt_str_t headers[2 * OPTS_HEADERS];
};

static __thread struct opts_entry opts_cache[OPTS_CACHE];

/* Parses OPTS into PC; added headers go to H (CAP pairs). */
static int opts_parse(const pt_conf *opts, struct proxy_conf *pc, pt_str_t *h, size_t cap)
{
	const pt_conf *hdrs = conf_get(opts, "headers"), *v, *rm;
	pt_str_t up;
	const char *k;

	memset(pc, 0, sizeof(*pc));
	if (conf_str(opts, "upstream", &up) != 0)
		return PT_EINVAL;
	pc->upstream = up.ptr;
	conf_str(opts, "strip_prefix", &pc->strip_prefix);
	conf_str(opts, "prefix", &pc->prefix);
	rm = conf_get(opts, "remove_headers");
	for (size_t i = 0; i < conf_len(rm) && pc->nremove < PROXY_MAX_REMOVE; i++)
		if (conf_str(conf_at(rm, i), NULL, &pc->remove[pc->nremove]) == 0)
			pc->nremove++;
	conf_num(opts, "timeout", &pc->timeout);
	if (conf_bool(opts, "grpc", &pc->grpc) != 0)
		pc->grpc = 0;
	for (size_t i = 0; hdrs && (k = conf_key_at(hdrs, i, &v)) != NULL; i++) {
		pt_str_t val;

		if (conf_str(v, NULL, &val) != 0 || pc->nheaders >= cap)
			continue;
		h[2 * pc->nheaders] = (pt_str_t){ k, strlen(k) };
		h[2 * pc->nheaders + 1] = val;
		pc->nheaders++;
	}
	pc->headers = h;
	return 0;
}

int proxy_handler(pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct opts_entry *e = &opts_cache[((uintptr_t)opts >> 4) % OPTS_CACHE];
	const pt_conf *hdrs;
	size_t nh;
	int rc;

	(void)ud;
	if (e->opts == opts && e->gen_id == x->gen->id)
		return proxy_start(x, &e->pc, NULL, NULL);
	hdrs = conf_get(opts, "headers");
	nh = hdrs && conf_type(hdrs) == PT_CONF_TABLE ? hdrs->u.t.nkeys : 0;
	if (nh > OPTS_HEADERS) {
		struct proxy_conf pc;
		pt_str_t *h = xapi_alloc(x, 2 * nh * sizeof(*h));

		if (!h)
			return PT_ENOMEM;
		if ((rc = opts_parse(opts, &pc, h, nh)) != 0)
			return rc;
		return proxy_start(x, &pc, NULL, NULL);
	}
	e->opts = NULL;
	if ((rc = opts_parse(opts, &e->pc, e->headers, OPTS_HEADERS)) != 0)
		return rc;
	e->opts = opts;
	e->gen_id = x->gen->id;
	return proxy_start(x, &e->pc, NULL, NULL);
}
