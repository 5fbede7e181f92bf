/*
 * h1_conn.c - HTTP/1.1 connections: keep-alive, pipelining (one exchange at
 * a time, so responses leave in request order), Content-Length and chunked
 * bodies both ways, Expect: 100-continue, HEAD, and the timeouts that close
 * slow clients: header (whole head), body (whole buffered body), idle
 * (between keep-alive requests) and write (no progress sending). A client
 * that closes while its answer is in progress aborts the exchange at once
 * (see client_gone).
 *
 * This file is the reading side: the socket (cleartext with its own recv),
 * request heads and bodies, the states, timers, lingering and closing.
 * What goes out is h1_conn_write.c's; h1_conn_priv.h holds what both share.
 */
#include <errno.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf.h"
#include "conn.h"
#include "exchange.h"
#include "gen.h"
#include "h1_conn_priv.h"
#include "ws/ws_conn.h"
#include "h1_parser.h"
#include "log.h"
#include "worker.h"

/*
 * Lingering close: closing a socket with unread bytes makes the kernel send
 * RST, and a client still uploading (a 413 answered early) may then lose our
 * answer. So after an early answer the connection half-closes and discards
 * what arrives for a while, as nginx does (lingering_close).
 */
#define LINGER_SECS 2.0
#define LINGER_MAX_BYTES (8u << 20)

/* Answers queued for a client that does not read them: above this, no new
 * request is taken until the output is written out (pipelining bound). */
#define OUT_HIGH (256 * 1024)

static void h1_close(struct h1_conn *h);
static void finish(struct h1_conn *h);

static void close_watch(struct h1_conn *h);

/* No more reading on this connection. */
void h1c_read_stop(struct h1_conn *h)
{
	h->read_stopped = 1;
	if (h->rev && h->rev_on) {
		event_del(h->rev);
		h->rev_on = 0;
	}
	bufferevent_disable(h->c->bev, EV_READ);
	close_watch(h);
}

/*
 * Reads wait while the input holds in_high bytes not parsed yet (pipelined
 * requests behind a running exchange, a paused upload), and go on once it
 * has room. Cleartext: our own read event. TLS: the bufferevent's reading
 * is disabled. Not a read watermark: with one, libevent 2.1.11 and later
 * call the read callback again and again while the input stays above it
 * (libevent issue #891: a busy worker), and a TLS bufferevent stops there
 * in the middle of a record, whose rest waits in OpenSSL for more bytes to
 * arrive. Disabled from our read callback, it has taken whole records.
 */
static void read_resume(struct h1_conn *h)
{
	struct bufferevent *bev = h->c->bev;
	int room = evbuffer_get_length(h->in) < h->in_high;

	if (h->read_stopped) {
		/* closing or lingering */
	} else if (h->rev) {
		if (!h->rev_on && room) {
			event_add(h->rev, NULL);
			h->rev_on = 1;
		}
	} else if (room && !(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_enable(bev, EV_READ);
	} else if (!room && (bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_disable(bev, EV_READ);
	}
	close_watch(h);
}

/* ---- timers -------------------------------------------------------------- */

void h1c_timer_set(struct h1_conn *h, int kind, double secs)
{
	struct timeval tv = { (time_t)secs, (suseconds_t)((secs - (time_t)secs) * 1e6) };

	if (h->tmr_kind == kind)
		return;   /* deadlines are not pushed back by each byte */
	h->tmr_kind = kind;
	if (kind == T_NONE)
		event_del(h->tmr);
	else
		event_add(h->tmr, &tv);
}

/* The output is written and nothing more will be: close, or linger first
 * when the client may still be sending a body we did not read. */
void h1c_close_written(struct h1_conn *h)
{
	if (h->busy)
		return;   /* h1c_process() calls again on its way out (S_CLOSING) */
	if (!h->linger || !h->rev || h->peer_eof) {
		h1_close(h);
		return;
	}
	shutdown(event_get_fd(h->rev), SHUT_WR);
	h->state = S_LINGER;
	h->linger_left = LINGER_MAX_BYTES;
	h->tmr_kind = T_NONE;
	h1c_timer_set(h, T_LINGER, LINGER_SECS);
	if (!h->rev_on) {
		event_add(h->rev, NULL);
		h->rev_on = 1;
	}
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h1_conn *h = arg;
	int kind = h->tmr_kind;

	(void)fd;
	(void)what;
	h->tmr_kind = T_NONE;
	if (kind == T_LINGER) {
		h1_close(h);
	} else if (kind == T_IDLE) {
		/* idle means nothing to do: a long answer still going out is not */
		if (h1c_out_len(h) > 0)
			h1c_timer_set(h, T_IDLE, h->hc.idle_timeout);
		else
			h1_close(h);
	} else if (kind == T_BODY && h->x && h->x->state == X_DONE) {
		/* answered early and the rest of the body stalls: no second answer */
		log_info("http", "%s: body timeout after the response: closing", h->c->remote);
		h->keepalive = 0;
		h1c_response_done(h);
	} else {
		log_info("http", "%s: %s timeout: closing", h->c->remote,
		         kind == T_HEADER ? "header" : "body");
		if (h->x) {
			exchange_detach(h->x, 1);
			h->x = NULL;
		}
		h1c_send_simple(h, 408, kind == T_HEADER ? "request header timeout" : "request body timeout");
	}
}

/* ---- reading ------------------------------------------------------------- */

/*
 * Parses the next request head, if all of it is buffered, and starts its
 * exchange. Returns 1 when a request was taken (the caller looks again: a
 * synchronous answer leaves the connection back in S_HEAD with pipelined
 * requests, or none and the idle timer still to arm), 0 when more bytes are
 * needed, -1 when the connection is answered and closing.
 */
static int read_head(struct h1_conn *h)
{
	struct evbuffer *in = h->in;
	size_t avail = evbuffer_get_length(in), want;
	struct h1_request req;
	const char *why = NULL, *data;
	int rc, status = 400, answered;

	if (avail == 0) {
		if (h->draining || h->peer_eof) {
			finish(h);
			return -1;
		}
		h1c_timer_set(h, T_IDLE, h->hc.idle_timeout);
		return 0;
	}
	want = h->lim.max_request_line + h->lim.max_header_bytes + 8;
	if (want > avail)
		want = avail;
	data = (const char *)evbuffer_pullup(in, (ssize_t)want);
	memset(&req, 0, sizeof(req));
	req.headers = h->hdrs;
	req.num_headers = h->hc.max_headers;
	rc = h1_parse_request_more(data, want, &req, &h->lim, &h->pg, &status, &why);
	if (rc != H1_INCOMPLETE)
		memset(&h->pg, 0, sizeof(h->pg));   /* the next head starts afresh */
	if (rc == H1_INCOMPLETE) {
		if (want >= h->lim.max_request_line + h->lim.max_header_bytes + 8) {
			status = 431;
			why = "request head too large";
		} else if (h->peer_eof) {
			finish(h);   /* the rest of this head will never come */
			return -1;
		} else {
			/* the header timeout runs only for heads that come in pieces:
			 * a whole head (the usual case) costs no timer work */
			if (h->tmr_kind == T_IDLE)
				h1c_timer_set(h, T_NONE, 0);
			h1c_timer_set(h, T_HEADER, h->hc.header_timeout);
			return 0;
		}
	}
	if (rc < 0) {
		log_info("http", "%s: %d: %s", h->c->remote, status, why ? why : "bad request");
		h1c_send_simple(h, status, why ? why : "bad request");
		return -1;
	}
	h1c_timer_set(h, T_NONE, 0);
	if (h1c_build_exchange(h, data, (size_t)rc, &req) != 0) {
		h1c_send_simple(h, 500, "out of memory");
		return -1;
	}
	evbuffer_drain(in, (size_t)rc);
	h->keepalive = !(req.flags & H1_F_CLOSE) && !h->draining;
	h->body_kind = req.body;
	h->end_held = 0;
	h->body_left = req.content_length;
	if (req.body == H1_BODY_CHUNKED) {
		/* trailer fields are kept, within the header section's limits */
		h1_chunked_init(&h->ch, h->lim.max_header_bytes);
		h->ch.keep_trailer = 1;
	}
	if (req.body == H1_BODY_LENGTH && req.content_length == 0)
		h->body_kind = H1_BODY_NONE;
	h->state = h->body_kind == H1_BODY_NONE ? S_WAIT : S_BODY;
	h->expect_100 = h->body_kind != H1_BODY_NONE && (req.flags & H1_F_EXPECT_100);
	h->x->req_length = h->body_kind == H1_BODY_LENGTH ? (int64_t)req.content_length :
	                   h->body_kind == H1_BODY_NONE ? 0 : -1;
	answered = exchange_head_done(h->x, req.content_length, h->body_kind != H1_BODY_NONE);
	if (answered && h->body_kind != H1_BODY_NONE)
		return 1;   /* the early answer is out (or closing); the body is discarded */
	if (!answered && h->expect_100) {
		{
		evbuffer_add(h->stage, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		h1c_flush(h);   /* the client waits for it before it sends the body */
	}
		h->expect_100 = 0;
	}
	/* no body: its end now, for a buffered body (the handler starts) and
	 * for a streamed one alike (its handler started in head_done and
	 * waits for the end of a body that has no bytes) */
	if (h->body_kind == H1_BODY_NONE && h->x &&
	    (h->x->state == X_READING || (h->x->body_streamed && !h->x->body_complete)))
		exchange_body_end(h->x);
	return 1;
}

/*
 * Hands the trailer section of a chunked body (h->ch.trailer, checked by the
 * decoder) to the exchange, field by field, through the scanner header
 * fields go through; fields that may not be trailers are dropped. Returns 0,
 * or -1 for a section the header limits refuse.
 */
static int take_trailers(struct h1_conn *h)
{
	const char *t = h->ch.trailer, *why = "bad trailer field";
	size_t p = 0, len = h->ch.trailer_len;
	unsigned n = 0;

	while (p < len) {
		struct h1_header f;
		ssize_t e = h1_field_line(t, p, len, &f, &why);

		if (e < 0 || ++n > h->lim.max_headers) {
			log_info("http", "%s: 400: %s", h->c->remote,
			         e < 0 ? why : "too many trailer fields");
			return -1;
		}
		p = (size_t)e;
		if (h->x && exchange_req_trailer_add(h->x, (pt_str_t){ f.name, f.name_len },
		                                     (pt_str_t){ f.value, f.value_len }) < 0)
			return -1;
	}
	return 0;
}

/* The body is complete: 1, or 0 when its handler paused it (the last call
 * of a streamed body waits, like its bytes, until the handler goes on). */
static int body_over(struct h1_conn *h, int streamed)
{
	if (!streamed || !h->x->body_paused)
		return 1;
	h->end_held = 1;
	h1c_timer_set(h, T_NONE, 0);
	return 0;
}

/* Feeds body bytes; returns 1 when the body is complete, 0 for more, -1 on error. */
static int read_body(struct h1_conn *h)
{
	struct evbuffer *in = h->in;
	int streamed = h->x && h->x->body_fn;

	if (streamed && h->x->body_paused) {
		/* the handler waits for room (the proxy's upstream): its own
		 * timeouts run meanwhile, the input stops at its limit */
		h1c_timer_set(h, T_NONE, 0);
		return 0;
	}
	if (h->end_held) {
		h->end_held = 0;
		return 1;
	}
	if (streamed && evbuffer_get_length(in))
		h->tmr_kind = T_NONE;   /* a streamed body's timeout counts from its last progress */
	h1c_timer_set(h, T_BODY, h->hc.body_timeout);
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		size_t used;

		if (streamed && h->x->body_paused)
			return 0;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		if (h->body_kind == H1_BODY_LENGTH) {
			used = v.iov_len < h->body_left ? v.iov_len : (size_t)h->body_left;
			if (h->x && exchange_body_data(h->x, v.iov_base, used) == PT_ELIMIT)
				return -1;
			h->body_left -= used;
			evbuffer_drain(in, used);
			if (h->body_left == 0)
				return body_over(h, streamed);
		} else {
			const char *d;
			size_t dlen;
			ssize_t n = h1_chunked_decode(&h->ch, v.iov_base, v.iov_len, &d, &dlen);

			if (n < 0) {
				log_info("http", "%s: 400: bad chunked body", h->c->remote);
				return -2;
			}
			if (dlen && h->x && exchange_body_data(h->x, d, dlen) == PT_ELIMIT)
				return -1;
			if (h->ch.done && take_trailers(h) < 0)
				return -2;   /* before the drain: the section is in the buffer */
			evbuffer_drain(in, (size_t)n);
			if (h->ch.done)
				return body_over(h, streamed);
			if (n == 0 && dlen == 0) {
				/* the decoder needs bytes that span segments: up to a
				 * whole trailer section, which it takes in one piece */
				size_t have = evbuffer_get_length(in);
				size_t most = 16384 + h->ch.max_trailer;

				if (have <= v.iov_len)
					break;
				evbuffer_pullup(in, (ssize_t)(have < most ? have : most));
			}
		}
	}
	return 0;
}

static void process_loop(struct h1_conn *h);

void h1c_process(struct h1_conn *h)
{
	h->busy++;
	process_loop(h);
	while (h->busy == 1 && h->out_paused && !h->dead) {
		/* paused for output: if the socket took it all, no write event
		 * will come to resume us, so go on here */
		h1c_flush(h);
		if (h1c_out_len(h) >= OUT_HIGH)
			break;
		h->out_paused = 0;
		process_loop(h);
	}
	if (--h->busy == 0) {
		if (h->state == S_UPGRADE && !h->dead) {
			h1c_handover(h);
			return;
		}
		h1c_flush(h);
		read_resume(h);
		if (h->dead) {
			h->dead = 0;
			h1_close(h);
		} else if (h->state == S_CLOSING && h1c_out_len(h) == 0) {
			h1c_close_written(h);
		}
	}
}

static void process_loop(struct h1_conn *h)
{
	for (;;) {
		if (h->dead)
			return;
		int rc;

		switch (h->state) {
		case S_HEAD:
			if (h1c_out_len(h) >= OUT_HIGH) {
				/* input stops at the read watermark; the write timeout
				 * covers a client that never reads */
				h->out_paused = 1;
				return;
			}
			if (read_head(h) <= 0)
				return;
			break;
		case S_BODY:
			rc = read_body(h);
			if (rc == 0)
				return;
			h1c_timer_set(h, T_NONE, 0);
			if (rc == -2) {
				if (h->x) {
					exchange_detach(h->x, 1);
					h->x = NULL;
				}
				h1c_send_simple(h, 400, "bad chunked body");
				return;
			}
			if (rc == -1) {
				/* 413 was answered by the exchange; its response closes */
				h->keepalive = 0;
				if (h->x && h->x->state == X_DONE)
					h->state = S_WAIT, h1c_response_done(h);
				return;
			}
			h->state = S_WAIT;
			if (h->x && h->x->state == X_READING) {
				exchange_body_end(h->x);
			} else if (h->x && h->x->state == X_DONE) {
				/* answered before the body ended: now finish that response,
				 * then look at what follows (pipelined, or the idle timer) */
				h1c_response_done(h);
				break;
			} else if (h->x) {
				exchange_body_end(h->x);   /* streamed bodies: the last call */
			}
			break;
		case S_WAIT:
		case S_CLOSING:
		default:
			return;
		}
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg);

/* An exchange runs that has not handed over its whole answer. */
static int in_flight(const struct h1_conn *h)
{
	return h->x && (h->state == S_WAIT || h->state == S_BODY) && h->x->state != X_DONE;
}

/*
 * The client left while its answer was in progress (EOF, or an error on
 * the socket). As nginx does (proxy_ignore_client_abort off), that ends the
 * exchange at once, aborted, and the connection with it: a stream (SSE, a
 * proxied download) or a waiting handler would otherwise hold on until a
 * write fails. The price: a client that half-closes after its request and
 * still waits for the answer does not get it (browsers and curl never do).
 */
static void client_gone(struct h1_conn *h)
{
	log_debug("http", "%s: the client closed the connection before its answer was complete",
	          h->c->remote);
	h1_close(h);
}

static void close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h1_conn *h = arg;

	(void)fd;
	(void)what;
	if (in_flight(h)) {
		client_gone(h);
		return;
	}
	event_del(h->cev);
	h->cev_on = 0;
}

/*
 * While reads wait for room (the input holds in_high bytes a running
 * exchange does not let us parse yet: pipelined requests, a paused upload),
 * the socket is still watched for the client's FIN or RST alone (EV_CLOSED:
 * EPOLLRDHUP), so a client that leaves is noticed without reading more of
 * what it sent. Called wherever reading stops or resumes. Without EV_CLOSED
 * in the backend, such a client is noticed at the next write.
 */
static void close_watch(struct h1_conn *h)
{
	struct event_base *base = h->c->w->base;
	int want = !h->read_stopped && in_flight(h) && evbuffer_get_length(h->in) >= h->in_high;

	if (want && !h->cev) {
		if (!(event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE))
			return;
		h->cev = event_new(base, bufferevent_getfd(h->c->bev), EV_CLOSED | EV_PERSIST,
		                   close_cb, h);
		if (!h->cev)
			return;
	}
	if (want && !h->cev_on) {
		event_add(h->cev, NULL);
		h->cev_on = 1;
	} else if (!want && h->cev_on) {
		event_del(h->cev);
		h->cev_on = 0;
	}
}

/*
 * Cleartext connections read with one recv() into the input evbuffer:
 * bufferevent's own read asks the kernel how much is readable (an ioctl)
 * before every read, one syscall per request more than needed.
 */
static __thread char scratch[16384];

static void raw_read(evutil_socket_t fd, short what, void *arg)
{
	struct h1_conn *h = arg;
	struct evbuffer *in = h->in;
	struct evbuffer_iovec v;
	ssize_t n;

	(void)what;
	if (h->state == S_LINGER) {
		char junk[16384];

		n = recv(fd, junk, sizeof(junk), 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n > 0 && (size_t)n < h->linger_left) {
			h->linger_left -= (size_t)n;
			return;
		}
		h1_close(h);   /* EOF, an error, or enough discarded */
		return;
	}
	if (evbuffer_get_length(in) >= h->in_high) {
		/* the head limit is buffered and not consumed: wait for h1c_process() */
		event_del(h->rev);
		h->rev_on = 0;
		close_watch(h);
		return;
	}
	if (!h->bulk) {
		/*
		 * Requests: recv into a scratch buffer and copy what came into a
		 * chain of its size. Reserving 16 KiB in the evbuffer costs a
		 * large malloc and free per request; a small chain comes from
		 * malloc's thread cache. A read that fills the scratch (a large
		 * body) switches to reading into the evbuffer itself.
		 */
		n = recv(fd, scratch, sizeof(scratch), 0);
		if (n > 0) {
			h->bulk = (size_t)n == sizeof(scratch);
			if (evbuffer_add(in, scratch, (size_t)n) == 0)
				h1c_process(h);
			return;
		}
	} else {
		if (evbuffer_reserve_space(in, 16384, &v, 1) < 1)
			return;
		n = recv(fd, v.iov_base, v.iov_len, 0);
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(in, &v, 1);
			h->bulk = n >= 8192;
			h1c_process(h);
			return;
		}
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	on_event(h->c->bev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), h);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	h1c_process(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct h1_conn *h = arg;

	(void)bev;
	if (h->x && h->x->drain_fn)
		exchange_drained(h->x);
	if (h->state == S_CLOSING) {
		h1c_close_written(h);
	} else if (h->out_paused) {
		h->out_paused = 0;
		h1c_process(h);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct h1_conn *h = arg;

	(void)bev;
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING)) {
		/* EOF between requests: answer what was asked before it, then close */
		h->peer_eof = 1;
		h1c_read_stop(h);
		if (h->state == S_WAIT && in_flight(h)) {
			client_gone(h);
			return;
		}
		if (h->state == S_HEAD && h->out_paused)
			return;   /* pipelined requests wait for on_write */
		finish(h);    /* flush what is answered already */
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("http", "%s: write timeout: closing", h->c->remote);
	h1_close(h);
}

/* ---- life ---------------------------------------------------------------- */

/* No more requests on this connection: close once the output is written. */
static void finish(struct h1_conn *h)
{
	h1c_flush(h);
	if (h->x) {
		exchange_detach(h->x, h->x->state != X_DONE);
		h->x = NULL;
	}
	h1c_timer_set(h, T_NONE, 0);
	h->state = S_CLOSING;
	h->keepalive = 0;
	h1c_read_stop(h);
	if (h1c_out_len(h) == 0)
		h1c_close_written(h);
}

/* Frees H's own state; its struct conn is the caller's. */
static void h1_release(struct h1_conn *h)
{
	event_free(h->tmr);
	if (h->kick)
		event_free(h->kick);
	if (h->rev)
		event_free(h->rev);
	if (h->cev)
		event_free(h->cev);
	if (h->own_in)
		evbuffer_free(h->own_in);
	if (h->stage)
		evbuffer_free(h->stage);
	free(h->hdrs);
	free(h);
}

static void h1_close(struct h1_conn *h)
{
	struct conn *c = h->c;

	if (h->busy) {
		h->dead = 1;
		return;
	}
	if (h->x) {
		exchange_detach(h->x, 1);
		h->x = NULL;
	}
	if (h->upgrade) {
		ws_unclaimed(h->upgrade);   /* closed between the 101 and the handover */
		h->upgrade = NULL;
	}
	h1_release(h);
	conn_free(c);
}

void h1c_handover(struct h1_conn *h)
{
	struct conn *c = h->c;
	pt_ws *ws = h->upgrade;
	struct evbuffer *in = h->own_in;   /* what the client sent after its head */

	h1c_flush(h);
	h->own_in = NULL;
	h->upgrade = NULL;
	h1_release(h);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	if (ws_conn_start(c, ws, in) != 0)
		conn_free(c);
}

static void h1_drain(struct conn *c)
{
	struct h1_conn *h = c->impl;

	h->draining = 1;
	if (h->state == S_HEAD && evbuffer_get_length(h->in) == 0)
		finish(h);   /* idle, or its last answer still going out */
	/* otherwise the current response carries connection: close */
}

static void h1_abort(struct conn *c)
{
	h1_close(c->impl);
}

static const struct conn_ops h1_ops = { h1_drain, h1_abort };

int h1_conn_start(struct conn *c)
{
	struct h1_conn *h = calloc(1, sizeof(*h));
	struct timeval wt;

	if (!h)
		return -1;
	h->c = c;
	h->hc = c->w->gen->cfg->http;
	h->lim.max_request_line = h->hc.max_request_line;
	h->lim.max_header_bytes = h->hc.max_header_size;
	h->lim.max_headers = h->hc.max_headers;
	h->hdrs = malloc(h->hc.max_headers * sizeof(*h->hdrs));
	h->tmr = evtimer_new(c->w->base, timer_cb, h);
	h->stage = evbuffer_new();
	if (!h->hdrs || !h->tmr || !h->stage) {
		if (h->tmr)
			event_free(h->tmr);
		if (h->stage)
			evbuffer_free(h->stage);
		free(h->hdrs);
		free(h);
		return -1;
	}
	c->impl = h;
	c->ops = &h1_ops;
	wt.tv_sec = (time_t)h->hc.write_timeout;
	wt.tv_usec = (suseconds_t)((h->hc.write_timeout - (time_t)h->hc.write_timeout) * 1e6);
	bufferevent_set_timeouts(c->bev, NULL, &wt);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, h);
	/* stop reading while a response is pending and the head limit is
	 * buffered (see read_resume) */
	h->in_high = h->lim.max_request_line + h->lim.max_header_bytes + 65536;
	h->in = bufferevent_get_input(c->bev);
	if (!c->tls && (h->rev = event_new(c->w->base, bufferevent_getfd(c->bev), EV_READ | EV_PERSIST,
	                                   raw_read, h)) != NULL && (h->own_in = evbuffer_new())) {
		bufferevent_disable(c->bev, EV_READ);
		/* what protocol detection already read */
		evbuffer_add_buffer(h->own_in, h->in);
		h->in = h->own_in;
		bufferevent_enable(c->bev, EV_WRITE);
		event_add(h->rev, NULL);
		h->rev_on = 1;
	} else {
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	}
	h1c_process(h);
	return 0;
}
