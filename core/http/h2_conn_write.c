/*
 * h2_conn_write.c - what an HTTP/2 connection writes (see h2_conn.c for the
 * connection, its events and the request side): response heads submitted
 * with nghttp2, bodies through a data provider reading x->out, trailers after
 * the last DATA frame, the exchange ops (h2_xops) that drive them, the
 * frames handed to the bufferevent, and the send that ends every event, with
 * its back-pressure (no new requests while the client does not read).
 *
 * Output: nghttp2_session_send writes frames straight into the bufferevent's
 * output buffer; DATA frames use NO_COPY so large bodies move from x->out to
 * the socket buffer by chain, without a copy. Sending happens once per event
 * (read, write, or a deferred "run" event for answers that come later), never
 * per frame, and stops while the output holds more than OUT_HIGH bytes.
 *
 * A response with bytes waiting has a send deadline, pushed back by each of
 * its DATA frames; when it passes with the stream's or the connection's
 * flow-control window at zero, the stream is reset (h2_conn.c's timer
 * calls h2c_send_expired).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "conn.h"
#include "exchange.h"
#include "h2_conn_priv.h"
#include "log.h"

#define OUT_HIGH (64 * 1024)            /* stop producing frames above this */
#define SMALL_DATA 4096                 /* DATA payloads up to this are copied */
#define DISCARD_MAX (2u << 20)          /* request bytes we read and drop after
                                           an early answer before a reset */

/* ---- small helpers ------------------------------------------------------- */

static int no_body_status(int status)
{
	return status < 200 || status == 204 || status == 304;
}

/* Copies the current IMF-fixdate into DST (at least 32 bytes); its length. */
static size_t http_date(char *dst)
{
	static __thread time_t at;
	static __thread char buf[32];
	static __thread size_t len;
	time_t now = time(NULL);

	if (now != at) {
		struct tm tm;

		gmtime_r(&now, &tm);
		len = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		at = now;
	}
	memcpy(dst, buf, len + 1);
	return len;
}

/* ---- the response: xops -------------------------------------------------- */

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud);

static void nv_set(nghttp2_nv *nv, const char *name, size_t nlen, const char *value, size_t vlen)
{
	nv->name = (uint8_t *)name;
	nv->namelen = nlen;
	nv->value = (uint8_t *)value;
	nv->valuelen = vlen;
	/* both live in the exchange pool (or are static) until the stream closes */
	nv->flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
}

#define NV_LIT(nv, name, value, vlen) nv_set((nv), name, sizeof(name) - 1, (value), (vlen))

/* Framing and connection-specific headers are the transport's business. */
static int skip_rhdr(pt_str_t n)
{
	switch (n.len) {
	case 7:
		return IS(n.ptr, n.len, "upgrade");
	case 10:
		return IS(n.ptr, n.len, "connection") || IS(n.ptr, n.len, "keep-alive");
	case 14:
		return IS(n.ptr, n.len, "content-length");
	case 16:
		return IS(n.ptr, n.len, "proxy-connection");
	case 17:
		return IS(n.ptr, n.len, "transfer-encoding");
	default:
		return 0;
	}
}

static void x_send_head(pt_exchange *x, int final)
{
	struct h2_stream *s = x->tp;
	struct h2_conn *h = s->h;
	size_t len = x->out ? evbuffer_get_length(x->out) : 0;
	int nobody = x->head_only || no_body_status(x->status);
	nghttp2_nv stack[32], *nv = stack;
	size_t cap = (size_t)x->nrhdrs + 4, n = 0;
	int has_server = 0, has_date = 0, rv;
	unsigned st;
	nghttp2_data_provider prd;

	if (cap > sizeof(stack) / sizeof(stack[0]) &&
	    !(nv = arena_alloc(&x->pool, cap * sizeof(*nv)))) {
		nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
		h2_kick(h);
		return;
	}
	st = (unsigned)x->status % 1000;   /* the exchange keeps it in 200..999 */
	s->status[0] = (char)('0' + st / 100);
	s->status[1] = (char)('0' + st / 10 % 10);
	s->status[2] = (char)('0' + st % 10);
	NV_LIT(&nv[n++], ":status", s->status, 3);
	for (unsigned i = 0; i < x->nrhdrs; i++) {
		const struct xhdr *rh = &x->rhdrs[i];

		if (skip_rhdr(rh->name))
			continue;
		if (IS(rh->name.ptr, rh->name.len, "server"))
			has_server = 1;
		else if (IS(rh->name.ptr, rh->name.len, "date"))
			has_date = 1;
		nv_set(&nv[n++], rh->name.ptr, rh->name.len, rh->value.ptr, rh->value.len);
	}
	if (!has_server)
		NV_LIT(&nv[n++], "server", "portico", 7);
	if (!has_date)
		NV_LIT(&nv[n++], "date", s->date, http_date(s->date));
	if ((final || x->resp_length >= 0) && !no_body_status(x->status)) {
		/* HEAD too: the length GET would have sent; a streaming response
		 * whose length is known (proxied) says it as well */
		int k = snprintf(s->clen_str, sizeof(s->clen_str), "%" PRId64,
		                 !final || (x->head_only && x->resp_length >= 0) ?
		                 x->resp_length : (int64_t)len);

		NV_LIT(&nv[n++], "content-length", s->clen_str, (size_t)k);
	}
	s->resp_started = 1;
	if (final)
		s->ended = 1;
	if (nobody || (final && len == 0 && x->ntrailers == 0)) {
		s->no_body = 1;
		if (len)
			evbuffer_drain(x->out, len);
		rv = nghttp2_submit_response(h->ng, s->id, nv, n, NULL);
	} else {
		prd.source.ptr = s;
		prd.read_callback = read_body;
		rv = nghttp2_submit_response(h->ng, s->id, nv, n, &prd);
	}
	if (rv != 0)
		log_debug("h2", "%s: stream %d: cannot submit the response: %s", h->c->remote, s->id,
		          nghttp2_strerror(rv));
	h2c_send_deadline(s);
	h2_kick(h);
}

static void x_send_body(pt_exchange *x)
{
	struct h2_stream *s = x->tp;

	if (s->no_body) {
		if (x->out)
			evbuffer_drain(x->out, evbuffer_get_length(x->out));
		return;
	}
	nghttp2_session_resume_data(s->h->ng, s->id);   /* fails harmlessly if not deferred */
	h2c_send_deadline(s);
	h2_kick(s->h);
}

static void x_send_end(pt_exchange *x)
{
	struct h2_stream *s = x->tp;

	s->ended = 1;
	x_send_body(x);
}

/* The handler takes body bytes again: reopen the window they held, and
 * the body deadline runs again. */
static void x_want_body(pt_exchange *x)
{
	struct h2_stream *s = x->tp;

	if (s->reading && !x->body_paused && !h2_duplex(s)) {
		s->read_by = mono_us() + s->h->body_us;
		h2_deadline(s->h, s->read_by);
	}
	if (!s->unconsumed && !s->end_held)
		return;
	/* held DATA goes to the handler from the loop, never from inside its
	 * own call, then its window opens (the WINDOW_UPDATE) */
	s->h->deliver_pending = 1;
	h2_kick(s->h);
}

/* Cut the response: the client sees the stream reset. */
static void x_send_abort(pt_exchange *x)
{
	struct h2_stream *s = x->tp;

	if (x->out)
		evbuffer_drain(x->out, evbuffer_get_length(x->out));
	log_info("h2", "%s: stream %d: response cut: resetting it", s->h->c->remote, s->id);
	nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
	h2_kick(s->h);
}

const struct xops h2_xops = { x_send_head, x_send_body, x_send_end, x_want_body,
                                     NULL, x_send_abort };

/* Queues x->trailers after the last DATA frame; 0 when queued. */
static int submit_trailers(struct h2_conn *h, struct h2_stream *s)
{
	pt_exchange *x = s->x;
	nghttp2_nv stack[16], *nv = stack;

	if (x->ntrailers > sizeof(stack) / sizeof(stack[0]) &&
	    !(nv = arena_alloc(&x->pool, x->ntrailers * sizeof(*nv))))
		return -1;
	for (unsigned i = 0; i < x->ntrailers; i++)
		nv_set(&nv[i], x->trailers[i].name.ptr, x->trailers[i].name.len,
		       x->trailers[i].value.ptr, x->trailers[i].value.len);
	return nghttp2_submit_trailer(h->ng, s->id, nv, x->ntrailers) == 0 ? 0 : -1;
}

/*
 * The data source of a response: says how much of x->out the next DATA frame
 * carries (h2c_on_send_data moves the bytes), or DEFERRED until the handler
 * writes more.
 */
static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2_stream *s = src->ptr;
	pt_exchange *x = s->x;
	size_t avail = x->out ? evbuffer_get_length(x->out) : 0;
	size_t n = avail < length ? avail : length;

	(void)ng;
	(void)id;
	(void)buf;
	if (n == avail && s->ended) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (x->ntrailers && submit_trailers(ud, s) == 0)
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	} else if (n == 0) {
		return NGHTTP2_ERR_DEFERRED;
	}
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	return (ssize_t)n;
}

/* ---- nghttp2 callbacks: output ------------------------------------------- */

ssize_t h2c_on_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct h2_conn *h = ud;
	struct evbuffer *out = bufferevent_get_output(h->c->bev);

	(void)ng;
	(void)flags;
	if (evbuffer_get_length(out) >= OUT_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (evbuffer_add(out, data, len) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

int h2c_on_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
                     size_t length, nghttp2_data_source *src, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s = src->ptr;
	struct evbuffer *out = bufferevent_get_output(h->c->bev);

	(void)ng;
	(void)frame;   /* no padding: we set no select_padding callback */
	if (evbuffer_get_length(out) >= OUT_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (length <= SMALL_DATA) {
		/* small frames: one contiguous copy beats a chain per frame */
		struct evbuffer_iovec v;

		if (evbuffer_reserve_space(out, (ev_ssize_t)(9 + length), &v, 1) < 1)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		memcpy(v.iov_base, framehd, 9);
		if (length && evbuffer_remove(s->x->out, (char *)v.iov_base + 9, length) != (int)length)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		v.iov_len = 9 + length;
		if (evbuffer_commit_space(out, &v, 1) != 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
	} else if (evbuffer_add(out, framehd, 9) != 0 ||
	           evbuffer_remove_buffer(s->x->out, out, length) != (int)length) {
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	s->send_by = 0;   /* progress: a new deadline if more waits */
	h2c_send_deadline(s);
	if (s->x->drain_fn)
		exchange_drained(s->x);   /* a producer waiting for room (the proxy) */
	return 0;
}

/* Response bytes (or the end of the stream) wait to go out. */
static int send_pending(const struct h2_stream *s)
{
	const pt_exchange *x = s->x;

	return s->resp_started && !s->resp_done && !s->no_body &&
	       (s->ended || (x->out && evbuffer_get_length(x->out) > 0));
}

void h2c_send_deadline(struct h2_stream *s)
{
	if (!send_pending(s)) {
		s->send_by = 0;
	} else if (!s->send_by) {
		s->send_by = mono_us() + s->h->write_us;
		h2_deadline(s->h, s->send_by);
	}
}

void h2c_send_expired(struct h2_conn *h, struct h2_stream *s, uint64_t now)
{
	int32_t sw, cw;

	s->send_by = 0;
	if (!send_pending(s) || s->reset)
		return;
	sw = nghttp2_session_get_stream_remote_window_size(h->ng, s->id);
	cw = nghttp2_session_get_remote_window_size(h->ng);
	if (sw > 0 && cw > 0) {
		s->send_by = now + h->write_us;
		return;
	}
	log_info("h2", "%s: stream %d: no flow-control window for the response within the "
	         "write timeout: resetting it", h->c->remote, s->id);
	s->reset = 1;
	nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
}

/*
 * The response is complete but the request body is still coming (an early
 * 404, 413...). Small rests are read and dropped, because some clients
 * (curl) report a reset stream as an error even after a full response;
 * past DISCARD_MAX the stream is reset with NO_ERROR (RFC 9113 8.1).
 */
void h2c_maybe_stop_upload(nghttp2_session *ng, struct h2_stream *s)
{
	uint64_t expect = s->has_clen && s->clen > s->received ? s->clen : s->received;

	if (!s->reading || !s->resp_done || s->reset || expect <= DISCARD_MAX)
		return;
	s->reset = 1;
	nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
}

int h2c_on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2_stream *s;

	(void)ud;
	if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (!s)
		return 0;
	s->resp_done = 1;
	s->send_by = 0;
	h2c_maybe_stop_upload(ng, s);
	return 0;
}

/* ---- sending ------------------------------------------------------------- */

/* Stop reading; close once the output buffer is empty. */
void h2_start_closing(struct h2_conn *h)
{
	struct bufferevent *bev = h->c->bev;

	if (h->closing)
		return;
	h->closing = 1;
	bufferevent_disable(bev, EV_READ);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(bev, NULL, &h->write_tv);
}

/*
 * Sends what nghttp2 has queued and decides whether the connection is over.
 * Called at the end of every event; returns 1 when H was freed.
 */
int h2_after(struct h2_conn *h)
{
	struct bufferevent *bev = h->c->bev;
	struct evbuffer *out = bufferevent_get_output(bev);
	int rv;

	if (h->dead) {
		h->dead = 0;
		h2_close(h);
		return 1;
	}
	if (h->deliver_pending && !h->busy)
		h2_deliver(h);
	h->busy++;
	rv = nghttp2_session_send(h->ng);
	h->busy--;
	if (h->deliver_pending)
		h2_kick(h);   /* a body resumed while frames went out */
	if (rv != 0 || h->dead) {
		if (rv != 0)
			log_info("h2", "%s: closing: %s", h->c->remote, nghttp2_strerror(rv));
		h->dead = 0;
		h2_close(h);
		return 1;
	}
	if (!nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng))
		h2_start_closing(h);
	if (h->closing) {
		if (evbuffer_get_length(out) == 0) {
			h2_close(h);
			return 1;
		}
		return 0;
	}
	if (!h->read_paused && evbuffer_get_length(out) >= OUT_HIGH) {
		/* the client does not read: take no new requests until it does */
		h->read_paused = 1;
		bufferevent_disable(bev, EV_READ);
	}
	return 0;
}

void h2c_on_write(struct bufferevent *bev, void *arg)
{
	struct h2_conn *h = arg;

	if (h->busy)
		return;
	if (h->read_paused && !h->closing) {
		h->read_paused = 0;
		bufferevent_enable(bev, EV_READ);
	}
	h2_after(h);
}
