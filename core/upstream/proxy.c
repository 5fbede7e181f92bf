/*
 * proxy.c - forwarding an exchange to a named upstream; see proxy.h. The
 * request it sends (and the route's options) come from proxy_request.c,
 * gRPC's pieces from proxy_grpc.c; this file runs the attempts and relays.
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
#include "proxy_request.h"
#include "worker.h"

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
	/* only the access log and the phase metrics (with an admin listener)
	 * read it: no clock reads otherwise */
	if (!p->t0 && (x->gen->alog || x->gen->cfg->admin.port)) {
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
		if (!proxy_resp_skipped(n) && xapi_header_add(x, n, v) != 0)
			log_warn("upstream", "%s: response header '%.*s' left out", p->upstream,
			         (int)n.len, n.ptr);
	}
	if (xapi_status_set(x, 200) != 0)
		return -1;
	x->resp_length = -1;
	if (p->grpc_tonly)
		return 0;
	/* the upstream answered: from now on only the deadline, the end or a
	 * cancel ends the call -- a Watch may be silent for hours */
	http_client_set_idle(p->call, 0);
	p->started = 1;
	return xapi_write(x, NULL, 0) == 0 ? 0 : -1;   /* the head, now */
}

/*
 * The upstream's trailers become the client's (gRPC's grpc-status, or any
 * HTTP trailer: Server-Timing, a digest), less the fields no trailer may
 * carry. They reach an HTTP/2 client, and an HTTP/1.1 client when its
 * response is chunked; a response framed by Content-Length has no place
 * for them.
 */
static int up_trailers(const pt_str_t *pairs, unsigned n, void *ud)
{
	struct proxy *p = ud;
	pt_exchange *x = p->x;

	if (x->transport_gone || x->state >= X_DONE)
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

		if (!proxy_resp_skipped(n) && xapi_header_add(x, n, v) != 0)
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
	upstream_try_result(p->t, res);
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

/* gRPC mode: the client's grpc-timeout, when it sent a valid one, sets the
 * call's deadline (grpc_deadline_arm starts its timer). */
static void grpc_deadline_read(struct proxy *p)
{
	pt_exchange *x = p->x;
	pt_str_t v = header_of(x, "grpc-timeout");
	int64_t us;

	if (!v.len)
		return;
	if ((us = grpc_timeout_parse(v)) < 0) {
		log_info("upstream", "%s: invalid grpc-timeout '%.*s' ignored", p->upstream,
		         (int)(v.len < 32 ? v.len : 32), v.ptr);
		return;
	}
	p->deadline = mono_us() + (uint64_t)us;
}

/* Arms the deadline's timer, once nothing can fail before finish() (which
 * frees it). Without memory for it the upstream's grpc-timeout remains. */
static void grpc_deadline_arm(struct proxy *p)
{
	uint64_t now = mono_us(), left = p->deadline > now ? p->deadline - now : 0;
	struct timeval tv = { (time_t)(left / 1000000), (suseconds_t)(left % 1000000) };

	if (!(p->deadline_ev = evtimer_new(p->x->w->base, deadline_cb, p))) {
		log_warn("upstream", "%s: out of memory: the gRPC deadline is the upstream's",
		         p->upstream);
		return;
	}
	evtimer_add(p->deadline_ev, &tv);
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
		grpc_deadline_read(p);
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
	if (proxy_request_build(x, pc, p->deadline != 0, &p->hr, &p->path, &p->grpc_timeout) != 0)
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
	if (p->deadline)
		grpc_deadline_arm(p);
	p->inside = 1;
	if (p->mode == B_SMALL) {
		xapi_body_read(x, body_in, p);   /* attempts once the body is in */
	} else if (attempt(p) == 0 && p->mode == B_STREAM) {
		xapi_body_read(x, body_in, p);   /* may hand over what is buffered at once */
	}
	p->inside = 0;
	return 0;
}
