/*
 * h2_conn.c - HTTP/2 connections (h2c prior knowledge, and h2 after ALPN)
 * on top of nghttp2's callback API.
 *
 * Every stream carries one exchange. Its per-stream state lives in the
 * exchange's pool, so a stream costs no malloc of its own; the exchange may
 * outlive the stream (an async handler holding a reference), but once the
 * stream closes we call exchange_detach and never touch the exchange again.
 *
 * Timeouts are deadlines kept per stream, so no frame of another stream (a
 * PING every few seconds) pushes them back: the header block must be whole
 * within header_timeout (else the connection goes: nothing else may come
 * before its end), the request body within body_timeout of the head (408,
 * or a reset when already answering; a streamed body counts from its last
 * DATA, and not while the handler paused it nor once it answers while the
 * body still comes: full duplex, whose pace is the handler's), and a response with bytes to
 * send may wait on a closed flow-control window for write_timeout, then
 * the stream is reset and its exchange aborted. With no stream open the
 * connection goes after idle_timeout, whatever frames come meanwhile. One
 * timer per connection fires at the earliest deadline. The bufferevent's
 * write timeout stays: no progress writing to the socket closes.
 *
 * This file is the connection and the request side: the session's receive
 * callbacks (streams opening, request heads and bodies, flow control,
 * stream close), the callback table, the events, timers, GOAWAY and close.
 * What goes out (responses, frames, the send that ends every event, and how
 * output is paced) is h2_conn_write.c's; h2_conn_priv.h holds what both
 * share.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "conf.h"
#include "conn.h"
#include "exchange.h"
#include "gen.h"
#include "h1_parser.h"
#include "h2_conn_priv.h"
#include "log.h"
#include "worker.h"

#define H2_STREAM_WINDOW (1u << 20)     /* per-stream receive window we offer */
#define H2_CONN_WINDOW (16u << 20)      /* connection receive window */
#define OUT_LOW (16 * 1024)             /* the write callback fires below this */
#define GOAWAY_DELAY_MS 1000            /* shutdown notice -> final GOAWAY */

/* ---- small helpers ------------------------------------------------------- */

static struct timeval tv_of(double secs)
{
	struct timeval tv = { (time_t)secs, (suseconds_t)((secs - (time_t)secs) * 1e6) };

	return tv;
}

static uint64_t us_of(double secs)
{
	return secs > 0 ? (uint64_t)(secs * 1e6) : 0;
}

/* Schedules a send from outside nghttp2's callbacks (async answers). */
void h2_kick(struct h2_conn *h)
{
	if (h->busy || h->run_pending)
		return;   /* inside an event that ends with a send anyway */
	h->run_pending = 1;
	event_active(h->run_ev, EV_TIMEOUT, 1);
}

/* Arms the timer for AT unless it fires sooner already; 0 does nothing. */
void h2_deadline(struct h2_conn *h, uint64_t at)
{
	uint64_t now;
	struct timeval tv;

	if (!at || (h->tmr_at && h->tmr_at <= at) || h->closing)
		return;
	now = mono_us();
	tv.tv_sec = at > now ? (time_t)((at - now) / 1000000u) : 0;
	tv.tv_usec = at > now ? (suseconds_t)((at - now) % 1000000u) : 0;
	if (evtimer_add(h->tmr, &tv) == 0)
		h->tmr_at = at;
}

/* The idle deadline runs while no stream is open. */
static void idle_update(struct h2_conn *h)
{
	if (h->nstreams) {
		h->idle_by = 0;
	} else if (!h->idle_by) {
		h->idle_by = mono_us() + h->idle_us;
		h2_deadline(h, h->idle_by);
	}
}

static void stream_read_done(struct h2_stream *s)
{
	s->reading = 0;
	s->read_by = 0;
}

/* A request body deadline from now (a head, a streamed body's progress). */
static void body_deadline(struct h2_conn *h, struct h2_stream *s)
{
	if (!s->reading || s->x->body_paused || h2_duplex(s))
		return;
	s->read_by = mono_us() + h->body_us;
	h2_deadline(h, s->read_by);
}

/* ---- nghttp2 callbacks: input -------------------------------------------- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2_conn *h = ud;
	struct conn *c = h->c;
	struct h2_stream *s;
	pt_exchange *x;
	char *remote;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;   /* trailers of a known stream */
	x = exchange_new(c->w, &h2_xops, NULL, (pt_str_t){ c->remote, c->remote_len });
	if (!x)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	x->only = c->li && c->li->only[0] ? c->li->only : NULL;
	s = arena_calloc(&x->pool, sizeof(*s));
	/* the exchange may outlive the connection: own a copy of the address */
	remote = arena_strndup(&x->pool, c->remote, c->remote_len);
	if (!s || !remote) {
		exchange_detach(x, 1);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	x->remote = (pt_str_t){ remote, c->remote_len };
	x->tp = s;
	x->minor_version = 20;
	x->tls = c->tls;
	s->x = x;
	s->h = h;
	s->id = frame->hd.stream_id;
	s->reading = 1;
	s->read_by = mono_us() + h->header_us;   /* the whole header block */
	s->next = h->streams;
	if (h->streams)
		h->streams->prev = s;
	h->streams = s;
	h->nstreams++;
	nghttp2_session_set_stream_user_data(ng, s->id, s);
	idle_update(h);
	h2_deadline(h, s->read_by);
	return 0;
}

static struct xhdr *hdr_push(struct h2_stream *s)
{
	pt_exchange *x = s->x;

	if (x->nhdrs == s->caphdrs) {
		unsigned ncap = s->caphdrs ? s->caphdrs * 2 : 16;
		struct xhdr *a = arena_alloc(&x->pool, ncap * sizeof(*a));

		if (!a)
			return NULL;
		if (x->nhdrs)
			memcpy(a, x->hdrs, x->nhdrs * sizeof(*a));
		x->hdrs = a;
		s->caphdrs = ncap;
	}
	return &x->hdrs[x->nhdrs++];
}

static uint64_t parse_u64(const uint8_t *p, size_t len)
{
	uint64_t v = 0;

	/* nghttp2 already checked the digits and that copies agree */
	for (size_t i = 0; i < len && v < UINT64_MAX / 10; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	return v;
}

/*
 * One field of the request's trailer section (nghttp2 has checked it as it
 * checks header fields and refused pseudo-headers). Kept on the exchange
 * within the header section's limits, counted apart from the head; fields
 * that may not be trailers are dropped. Past a limit the stream is reset:
 * its head was answered or handed on already, so no 431 can go out.
 */
static int on_trailer(struct h2_conn *h, struct h2_stream *s, const uint8_t *name,
                      size_t namelen, const uint8_t *value, size_t valuelen)
{
	pt_exchange *x = s->x;

	s->trl_bytes += namelen + valuelen + 32;
	if (s->trl_bytes > h->hc.h2_max_header_list_size || x->nreq_trailers >= h->hc.max_headers) {
		log_info("h2", "%s: stream %d: request trailers over %zu bytes or %u fields: reset",
		         h->c->remote, s->id, h->hc.h2_max_header_list_size, h->hc.max_headers);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	if (exchange_req_trailer_add(x, (pt_str_t){ (const char *)name, namelen },
	                             (pt_str_t){ (const char *)value, valuelen }) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

/*
 * Copies one request header field into the exchange pool. nghttp2 has
 * validated it (lower-case names, no connection-specific fields, pseudo
 * headers first and known); we enforce the size limits.
 */
static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s;
	pt_exchange *x;
	struct xhdr *hd;
	char *p;

	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (!s || s->too_big)
		return 0;
	x = s->x;
	if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return on_trailer(h, s, name, namelen, value, valuelen);
	s->hdr_bytes += namelen + valuelen + 32;
	if (s->hdr_bytes > h->hc.h2_max_header_list_size ||
	    (name[0] != ':' && x->nhdrs >= h->hc.max_headers)) {
		s->too_big = 1;   /* answered with 431 once the block is decoded */
		return 0;
	}
	if (name[0] == ':') {
		pt_str_t *dst = IS(name, namelen, ":method") ? &s->method :
		                IS(name, namelen, ":path") ? &s->path :
		                IS(name, namelen, ":authority") ? &s->authority : NULL;

		if (!dst)
			return 0;   /* :scheme: nghttp2 checked it is there */
		if (!(p = arena_strndup(&x->pool, (const char *)value, valuelen)))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		*dst = (pt_str_t){ p, valuelen };
		return 0;
	}
	hd = hdr_push(s);
	p = arena_alloc(&x->pool, namelen + valuelen + 2);
	if (!hd || !p)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	memcpy(p, name, namelen + 1);
	memcpy(p + namelen + 1, value, valuelen + 1);
	hd->name = (pt_str_t){ p, namelen };
	hd->value = (pt_str_t){ p + namelen + 1, valuelen };
	if (IS(name, namelen, "content-length")) {
		s->clen = parse_u64(value, valuelen);
		s->has_clen = 1;
	}
	return 0;
}

/* HTTP/2 may split cookies into crumbs; handlers get one "cookie" header. */
static void join_cookies(struct h2_stream *s)
{
	pt_exchange *x = s->x;
	unsigned first = 0, count = 0, j;
	size_t total = 0, off = 0;
	char *v;

	for (unsigned i = 0; i < x->nhdrs; i++)
		if (IS(x->hdrs[i].name.ptr, x->hdrs[i].name.len, "cookie")) {
			if (!count++)
				first = i;
			total += x->hdrs[i].value.len + 2;
		}
	if (count < 2 || !(v = arena_alloc(&x->pool, total)))
		return;
	for (unsigned i = first; i < x->nhdrs; i++)
		if (IS(x->hdrs[i].name.ptr, x->hdrs[i].name.len, "cookie")) {
			if (off) {
				v[off++] = ';';
				v[off++] = ' ';
			}
			memcpy(v + off, x->hdrs[i].value.ptr, x->hdrs[i].value.len);
			off += x->hdrs[i].value.len;
		}
	v[off] = '\0';
	x->hdrs[first].value = (pt_str_t){ v, off };
	for (unsigned i = j = first + 1; i < x->nhdrs; i++)
		if (!IS(x->hdrs[i].name.ptr, x->hdrs[i].name.len, "cookie"))
			x->hdrs[j++] = x->hdrs[i];
	x->nhdrs = j;
}

static int same_host(pt_str_t a, pt_str_t b)
{
	if (a.len != b.len)
		return 0;
	for (size_t i = 0; i < a.len; i++) {
		unsigned char ca = (unsigned char)a.ptr[i], cb = (unsigned char)b.ptr[i];

		if ((unsigned)(ca - 'A') < 26u)
			ca += 'a' - 'A';
		if ((unsigned)(cb - 'A') < 26u)
			cb += 'a' - 'A';
		if (ca != cb)
			return 0;
	}
	return 1;
}

/*
 * Sets *HOST to the host header (NULL when none; nghttp2 refuses a second
 * one) and says whether it differs from :authority: RFC 9113 8.3.1 calls
 * such a request malformed, and a front proxy and the handler could each
 * take a different one. Host names compare without case.
 */
static int host_conflict(struct h2_stream *s, const struct xhdr **host)
{
	pt_exchange *x = s->x;

	*host = NULL;
	for (unsigned i = 0; i < x->nhdrs; i++)
		if (IS(x->hdrs[i].name.ptr, x->hdrs[i].name.len, "host")) {
			*host = &x->hdrs[i];
			break;
		}
	return *host && s->authority.len && !same_host(s->authority, (*host)->value);
}

/* The request head is complete: fill the exchange and hand it over. */
static void request_head(struct h2_conn *h, struct h2_stream *s, int end_stream)
{
	pt_exchange *x = s->x;
	const struct xhdr *host = NULL;
	const char *q;

	s->head_recv = 1;
	if (end_stream)
		stream_read_done(s);
	else
		body_deadline(h, s);
	x->method_name = s->method;
	x->method = h1_method_id(s->method);
	x->target = s->path;
	q = s->path.len ? memchr(s->path.ptr, '?', s->path.len) : NULL;
	x->path = (pt_str_t){ s->path.ptr, q ? (size_t)(q - s->path.ptr) : s->path.len };
	x->query = q ? (pt_str_t){ q + 1, s->path.len - (size_t)(q + 1 - s->path.ptr) }
	             : (pt_str_t){ "", 0 };
	if (s->too_big) {
		log_info("h2", "%s: stream %d: 431: header list over %zu bytes or %u fields",
		         h->c->remote, s->id, h->hc.h2_max_header_list_size, h->hc.max_headers);
		s->discard = 1;
		exchange_error(x, 431, "request header fields too large");
		return;
	}
	if (x->method == PT_METHOD_CONNECT) {
		s->discard = 1;
		nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
		return;
	}
	join_cookies(s);
	if (host_conflict(s, &host)) {
		log_info("h2", "%s: stream %d: 400: host header differs from :authority",
		         h->c->remote, s->id);
		s->discard = 1;
		exchange_error(x, 400, "host header differs from :authority");
		return;
	}
	if (s->authority.len) {
		x->host = s->authority;
		if (!host) {
			/* handlers written for HTTP/1.1 look for a host header */
			struct xhdr *hd = hdr_push(s);

			if (hd) {
				hd->name = PT_STR("host");
				hd->value = s->authority;
			}
		}
	} else if (host) {
		x->host = host->value;
	}
	s->head_done = 1;
	x->req_length = end_stream ? 0 : s->has_clen ? (int64_t)s->clen : -1;
	if (exchange_head_done(x, s->clen, !end_stream))
		s->discard = 1;   /* answered (404, 405, 413...): the body is dropped */
	else if (end_stream)
		exchange_body_end(x);
}

static void request_end(struct h2_conn *h, struct h2_stream *s)
{
	(void)h;
	if (!s->reading)
		return;
	stream_read_done(s);
	if (s->held && evbuffer_get_length(s->held))
		s->end_held = 1;   /* after the DATA the paused handler has not had */
	else if (s->head_done && !s->discard)
		exchange_body_end(s->x);
}

static void held_free(void *ud)
{
	evbuffer_free(ud);
}

/* Keeps DATA for a handler that paused its body (or has not had the
 * earlier held DATA yet): 0, or -1 when no buffer can be made. */
static int hold(struct h2_stream *s, const uint8_t *data, size_t len)
{
	if (!s->held) {
		struct evbuffer *b = evbuffer_new();

		if (!b)
			return -1;
		if (exchange_on_free(s->x, held_free, b) != 0) {
			evbuffer_free(b);
			return -1;
		}
		s->held = b;
	}
	return evbuffer_add(s->held, data, len);
}

/* Hands S's held DATA over while its handler takes it. */
static void deliver_stream(struct h2_conn *h, struct h2_stream *s)
{
	pt_exchange *x = s->x;

	while (s->held && evbuffer_get_length(s->held) && (!x->body_paused || s->discard)) {
		struct evbuffer_iovec v;

		if (evbuffer_peek(s->held, -1, NULL, &v, 1) < 1)
			break;
		if (!s->discard && exchange_body_data(x, v.iov_base, v.iov_len) != 0)
			s->discard = 1;
		evbuffer_drain(s->held, v.iov_len);
		nghttp2_session_consume(h->ng, s->id, v.iov_len);
		s->unconsumed -= v.iov_len < s->unconsumed ? v.iov_len : s->unconsumed;
	}
	if (s->held && evbuffer_get_length(s->held))
		return;
	if (s->unconsumed && !x->body_paused) {
		nghttp2_session_consume(h->ng, s->id, s->unconsumed);
		s->unconsumed = 0;
	}
	if (s->end_held && !x->body_paused) {
		s->end_held = 0;
		if (!s->discard)
			exchange_body_end(x);
	}
}

void h2_deliver(struct h2_conn *h)
{
	h->deliver_pending = 0;
	for (struct h2_stream *s = h->streams; s; s = s->next)
		if ((s->held && evbuffer_get_length(s->held)) || s->end_held || s->unconsumed)
			if (!s->x->body_paused)
				deliver_stream(h, s);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s;
	int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		if (!(s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id)))
			return 0;
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
			request_head(h, s, end);
		else if (end)
			request_end(h, s);   /* trailers */
		break;
	case NGHTTP2_DATA:
		if (end && (s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id)))
			request_end(h, s);
		break;
	default:
		break;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
	struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, id);

	(void)flags;
	(void)ud;
	/* window updates are ours (no_auto_window_update): a body the handler
	 * paused keeps its window closed until want_body */
	if (!s) {
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	s->received += len;
	if (s->discard || !s->head_done) {
		nghttp2_session_consume(ng, id, len);
		h2c_maybe_stop_upload(ng, s);
		return 0;
	}
	if (s->x->body_fn && (s->x->body_paused || (s->held && evbuffer_get_length(s->held))) &&
	    hold(s, data, len) == 0) {
		/* the handler paused its body: nothing more reaches it, and the
		 * window stays closed, until it goes on (want_body) */
		s->unconsumed += len;
		s->read_by = 0;   /* the handler's own timeouts run meanwhile */
		return 0;
	}
	if (exchange_body_data(s->x, (const char *)data, len) != 0)
		s->discard = 1;   /* 413 (or 500) answered: the rest goes nowhere */
	if (s->x->body_paused && !s->discard) {
		s->unconsumed += len;
		s->read_by = 0;   /* the handler's own timeouts run meanwhile */
	} else {
		nghttp2_session_consume(ng, id, len);
		if (s->x->body_fn && !s->discard)
			body_deadline(s->h, s);   /* streamed: from its last progress */
	}
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, id);

	if (!s)
		return 0;
	if (s->prev)
		s->prev->next = s->next;
	else
		h->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	h->nstreams--;
	if (s->unconsumed)
		nghttp2_session_consume_connection(ng, s->unconsumed);
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	/* S lives in the exchange's pool: this may free it */
	exchange_detach(s->x, !s->resp_done || error_code != NGHTTP2_NO_ERROR);
	idle_update(h);
	return 0;
}

static nghttp2_session_callbacks *callbacks;
static nghttp2_option *options;
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;

/* The callback table and options, shared read-only by every session. */
static void setup(void)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return;
	nghttp2_session_callbacks_set_send_callback(cb, h2c_on_send);
	nghttp2_session_callbacks_set_send_data_callback(cb, h2c_on_send_data);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, h2c_on_frame_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	if (nghttp2_option_new(&options) == 0) {
		/* closed streams are kept (nghttp2's default), so frames on them
		 * get STREAM_CLOSED (RFC 9113 5.1); nghttp2 bounds them by our
		 * SETTINGS_MAX_CONCURRENT_STREAMS less the open ones */
		/* flow control for streamed request bodies: see on_data_chunk */
		nghttp2_option_set_no_auto_window_update(options, 1);
	}
	callbacks = cb;
}

/* ---- the connection ------------------------------------------------------ */

/* Feeds buffered input to nghttp2. */
static void h2_recv(struct h2_conn *h)
{
	struct evbuffer *in = bufferevent_get_input(h->c->bev);
	size_t n;
	ssize_t rv = 0;

	if (h->closing) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	h->busy++;
	while ((n = evbuffer_get_contiguous_space(in)) > 0) {
		const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)n);

		rv = nghttp2_session_mem_recv(h->ng, p, n);
		if (rv < 0)
			break;
		evbuffer_drain(in, n);
		if (h->dead)
			break;
	}
	h->busy--;
	if (rv < 0) {
		/* protocol errors are answered by nghttp2 itself (GOAWAY); these are not */
		log_info("h2", "%s: closing: %s", h->c->remote, nghttp2_strerror((int)rv));
		evbuffer_drain(in, evbuffer_get_length(in));
		if (rv != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
			nghttp2_session_terminate_session(h->ng, NGHTTP2_PROTOCOL_ERROR);
		h2_start_closing(h);
	}
}

static void run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *h = arg;

	(void)fd;
	(void)what;
	h->run_pending = 0;
	if (h->need_read) {
		h->need_read = 0;
		h2_recv(h);
	}
	h2_after(h);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct h2_conn *h = arg;

	(void)bev;
	h->need_read = 0;
	h2_recv(h);
	h2_after(h);
}

/*
 * S's request did not arrive in time. A header block cut short leaves the
 * connection unusable (nothing else may come before its end): it goes. A
 * body gets 408, or a reset when the stream is answered already.
 */
static void read_expired(struct h2_conn *h, struct h2_stream *s, uint64_t now)
{
	s->read_by = 0;
	if (!s->head_recv) {
		log_info("h2", "%s: stream %d: header timeout: closing", h->c->remote, s->id);
		nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
		return;
	}
	if (h2_duplex(s))
		return;   /* armed before the answer began */
	log_info("h2", "%s: stream %d: body timeout", h->c->remote, s->id);
	if (!s->resp_started) {
		s->discard = 1;
		exchange_error(s->x, 408, "request body timeout");
		s->read_by = now + h->body_us;   /* still arriving then: reset */
	} else if (!s->reset) {
		s->reset = 1;
		nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
	}
}

/* The earliest deadline came: acts on every one that passed, re-arms. */
static void tmr_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *h = arg;
	struct h2_stream *s;
	uint64_t now = mono_us(), next = 0;

	(void)fd;
	(void)what;
	h->tmr_at = 0;
	if (h->closing)
		return;
	if (!h->nstreams && h->idle_by && now >= h->idle_by) {
		log_debug("h2", "%s: idle timeout", h->c->remote);
		h->idle_by = 0;
		nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
		h2_after(h);
		return;
	}
	h->busy++;
	for (s = h->streams; s; s = s->next) {
		if (s->read_by && now >= s->read_by)
			read_expired(h, s, now);
		if (s->send_by && now >= s->send_by)
			h2c_send_expired(h, s, now);
	}
	h->busy--;
	next = h->nstreams ? 0 : h->idle_by;
	for (s = h->streams; s; s = s->next) {
		if (s->read_by && (!next || s->read_by < next))
			next = s->read_by;
		if (s->send_by && (!next || s->send_by < next))
			next = s->send_by;
	}
	h2_deadline(h, next);
	h2_after(h);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct h2_conn *h = arg;

	if (h->busy) {
		h->dead = 1;   /* h2_after closes on the way out */
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("h2", "%s: write timeout: closing", h->c->remote);
	else if (what & BEV_EVENT_ERROR)
		log_debug("h2", "%s: connection error", h->c->remote);
	h2_close(h);
}

static void goaway_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *h = arg;

	(void)fd;
	(void)what;
	nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ng),
	                      NGHTTP2_NO_ERROR, NULL, 0);
	h2_after(h);
}

/*
 * Graceful stop: a shutdown notice at once, the real GOAWAY (naming the last
 * stream we took) a moment later so requests already in flight are not
 * lost; open streams finish, then the connection closes. An idle connection
 * gets the GOAWAY at once and may be freed before this returns.
 */
static void h2_drain(struct conn *c)
{
	struct h2_conn *h = c->impl;
	struct timeval tv = { GOAWAY_DELAY_MS / 1000, (GOAWAY_DELAY_MS % 1000) * 1000 };

	if (h->draining || h->closing)
		return;
	h->draining = 1;
	/* a worker retired by a reload (the daemon goes on): even an idle
	 * connection gets the notice first, since its client may be sending a
	 * request right now that the final GOAWAY must still count */
	if (h->nstreams == 0 && !(c->w && c->w->retiring)) {
		nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
		                      nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR,
		                      NULL, 0);
	} else {
		nghttp2_submit_shutdown_notice(h->ng);
		h->goaway_ev = evtimer_new(bufferevent_get_base(c->bev), goaway_cb, h);
		if (h->goaway_ev)
			evtimer_add(h->goaway_ev, &tv);
	}
	if (h->busy)
		h2_kick(h);
	else
		h2_after(h);
}

static void h2_abort(struct conn *c)
{
	h2_close(c->impl);
}

static const struct conn_ops h2_ops = { h2_drain, h2_abort };

/* Frees the session, detaches the exchanges of open streams, frees C. */
void h2_close(struct h2_conn *h)
{
	struct conn *c = h->c;
	struct h2_stream *s, *next;

	if (h->busy) {
		h->dead = 1;
		return;
	}
	/* first: queued frames point into the exchanges' pools */
	nghttp2_session_del(h->ng);
	for (s = h->streams; s; s = next) {
		next = s->next;
		exchange_detach(s->x, 1);
	}
	event_free(h->run_ev);
	event_free(h->tmr);
	if (h->goaway_ev)
		event_free(h->goaway_ev);
	free(h);
	c->impl = NULL;
	conn_free(c);
}

/*
 * Takes over C for HTTP/2. Bytes already in its input (the client preface)
 * are fed to nghttp2 from the loop, not from here. Returns 0, or a negative
 * PT_E* with C untouched (the caller frees it).
 */
int h2_conn_start(struct conn *c)
{
	const struct http_conf *hc = &c->w->gen->cfg->http;
	struct h2_conn *h;
	nghttp2_settings_entry iv[3];

	pthread_once(&setup_once, setup);
	if (!callbacks || !(h = calloc(1, sizeof(*h))))
		return PT_ENOMEM;
	h->c = c;
	h->hc = *hc;
	h->header_us = us_of(hc->header_timeout);
	h->body_us = us_of(hc->body_timeout);
	h->idle_us = us_of(hc->idle_timeout);
	h->write_us = us_of(hc->write_timeout);
	h->write_tv = tv_of(hc->write_timeout);
	h->run_ev = event_new(bufferevent_get_base(c->bev), -1, 0, run_cb, h);
	h->tmr = evtimer_new(bufferevent_get_base(c->bev), tmr_cb, h);
	if (!h->run_ev || !h->tmr ||
	    nghttp2_session_server_new2(&h->ng, callbacks, h, options) != 0) {
		if (h->run_ev)
			event_free(h->run_ev);
		if (h->tmr)
			event_free(h->tmr);
		free(h);
		return PT_ENOMEM;
	}
	iv[0] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
	                                  hc->h2_max_concurrent_streams };
	iv[1] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW };
	iv[2] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
	                                  hc->h2_max_header_list_size > UINT32_MAX ? UINT32_MAX :
	                                  (uint32_t)hc->h2_max_header_list_size };
	if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
	    nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0,
	                                          (int32_t)H2_CONN_WINDOW) != 0) {
		nghttp2_session_del(h->ng);
		event_free(h->run_ev);
		event_free(h->tmr);
		free(h);
		return PT_ENOMEM;
	}
	c->impl = h;
	c->ops = &h2_ops;
	bufferevent_setcb(c->bev, on_read, h2c_on_write, on_event, h);
	bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW, 0);
	bufferevent_set_timeouts(c->bev, NULL, &h->write_tv);
	idle_update(h);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	h->need_read = 1;   /* the preface may be buffered already */
	/* accepted just before its worker began to retire: the shutdown
	 * notice goes out with our SETTINGS, what the client sent is served */
	if (c->w->retiring)
		h2_drain(c);
	h2_kick(h);
	return 0;
}
