/*
 * h1_conn_write.c - what an HTTP/1.1 server connection writes (see
 * h1_conn.c for the reading side and the states): the status line and
 * headers put together by hand, bodies with Content-Length or chunked with
 * trailers, nothing for HEAD and the bodiless statuses, the connection's own
 * error answers, and the staging that hands it all to the socket in as few
 * writes as it can. Also the exchange made from each request head, which
 * answers through these writers (h1_xops).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conn.h"
#include "exchange.h"
#include "h1_conn_priv.h"
#include "ws/ws_conn.h"
#include "h1_parser.h"
#include "log.h"
#include "worker.h"

/*
 * Hands the staged response bytes to the socket. On cleartext with nothing
 * queued, they are written at once (one writev), which spares the
 * bufferevent's EPOLLOUT round trip per response; what the kernel does not
 * take goes to the bufferevent. Pipelined answers are staged and flushed
 * together when h1c_process() returns.
 */
void h1c_flush(struct h1_conn *h)
{
	struct evbuffer *out = bufferevent_get_output(h->c->bev);

	if (evbuffer_get_length(h->stage) == 0)
		return;
	if (!h->c->tls && evbuffer_get_length(out) == 0)
		evbuffer_write(h->stage, bufferevent_getfd(h->c->bev));
	if (evbuffer_get_length(h->stage))
		evbuffer_add_buffer(out, h->stage);
	if (h->x && h->x->drain_fn)
		exchange_drained(h->x);   /* a producer waiting for room (the proxy) */
}

size_t h1c_out_len(struct h1_conn *h)
{
	return evbuffer_get_length(h->stage) +
	       evbuffer_get_length(bufferevent_get_output(h->c->bev));
}

/* ---- writing ------------------------------------------------------------- */

static __thread time_t date_at;
static __thread char date_line[48];

static const char *http_date_line(void)
{
	time_t now = time(NULL);

	if (now != date_at) {
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(date_line, sizeof(date_line), "date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		date_at = now;
	}
	return date_line;
}

/* A response the connection itself makes (parse errors, timeouts): then close. */
void h1c_send_simple(struct h1_conn *h, int status, const char *msg)
{
	struct evbuffer *out = h->stage;
	char body[192];
	int n = snprintf(body, sizeof(body), "{\"error\":{\"status\":%d,\"message\":\"%s\"}}\n",
	                 status, msg);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n%sserver: portico\r\ncontent-type: "
	                    "application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n",
	                    status, http_reason(status), http_date_line(), n);
	evbuffer_add(out, body, (size_t)n);
	if (h->state == S_BODY)
		h->linger = 1;
	h->state = S_CLOSING;
	h->keepalive = 0;
	h1c_timer_set(h, T_NONE, 0);
	h1c_read_stop(h);
	if (!h->busy) {
		h1c_flush(h);
		if (h1c_out_len(h) == 0)
			h1c_close_written(h);
	}
}

static int no_body_status(int status)
{
	return status < 200 || status == 204 || status == 304;
}

/* Copies NUL-terminated S to DST; returns its length (no NUL written). */
static size_t put_str(char *dst, const char *s)
{
	size_t n = strlen(s);

	memcpy(dst, s, n);
	return n;
}

/* Writes V in decimal to DST; returns the digit count. */
static size_t put_u64(char *dst, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	return n;
}

/* Writes the status line and headers; LEN < 0: streaming (chunked / close). */
static void write_head(struct h1_conn *h, pt_exchange *x, int64_t len)
{
	struct evbuffer *out = h->stage;
	char buf[8192];
	size_t off = 0;
	int n;

	/* answering before a body the client holds back for 100 Continue: the
	 * client may send it or not, so nothing after it can be framed */
	if (x->close_after || h->draining || (h->state == S_BODY && h->expect_100))
		h->keepalive = 0;
	if (!h->keepalive && h->state == S_BODY)
		h->linger = 1;
	/* the peer half-closed: this is the last answer unless more requests
	 * it pipelined before that are still buffered */
	if (h->peer_eof && evbuffer_get_length(h->in) == 0)
		h->keepalive = 0;
	/* by hand: snprintf was the largest user-space cost per response */
	memcpy(buf, "HTTP/1.1 ", 9);
	buf[7] = (char)('0' + (x->minor_version ? 1 : 0));
	buf[9] = (char)('0' + x->status / 100 % 10);
	buf[10] = (char)('0' + x->status / 10 % 10);
	buf[11] = (char)('0' + x->status % 10);
	buf[12] = ' ';
	off = 13;
	off += put_str(buf + off, http_reason(x->status));
	buf[off++] = '\r';
	buf[off++] = '\n';
	off += put_str(buf + off, http_date_line());
	memcpy(buf + off, "server: portico\r\n", 17);
	off += 17;
	(void)n;
	for (unsigned i = 0; i < x->nrhdrs; i++) {
		const struct xhdr *rh = &x->rhdrs[i];
		size_t need = rh->name.len + rh->value.len + 4;

		/* the framing headers are the transport's */
		if ((rh->name.len == 14 && !memcmp(rh->name.ptr, "content-length", 14)) ||
		    (rh->name.len == 17 && !memcmp(rh->name.ptr, "transfer-encoding", 17)) ||
		    (rh->name.len == 10 && !memcmp(rh->name.ptr, "connection", 10)))
			continue;
		if (off + need > sizeof(buf) - 128) {
			evbuffer_add(out, buf, off);
			off = 0;
		}
		if (need > sizeof(buf) - 128) {
			evbuffer_add_printf(out, "%.*s: %.*s\r\n", (int)rh->name.len, rh->name.ptr,
			                    (int)rh->value.len, rh->value.ptr);
			continue;
		}
		memcpy(buf + off, rh->name.ptr, rh->name.len);
		off += rh->name.len;
		buf[off++] = ':';
		buf[off++] = ' ';
		memcpy(buf + off, rh->value.ptr, rh->value.len);
		off += rh->value.len;
		buf[off++] = '\r';
		buf[off++] = '\n';
	}
	h->resp_chunked = 0;
	if (no_body_status(x->status)) {
		/* no framing header at all */
	} else if (len >= 0) {
		memcpy(buf + off, "content-length: ", 16);
		off += 16;
		off += put_u64(buf + off, (uint64_t)len);
		buf[off++] = '\r';
		buf[off++] = '\n';
	} else if (x->minor_version >= 1) {
		memcpy(buf + off, "transfer-encoding: chunked\r\n", 28);
		off += 28;
		h->resp_chunked = 1;
	} else {
		h->keepalive = 0;   /* HTTP/1.0 streaming: the close ends the body */
	}
	if (x->upgrade && x->status == 101) {
		memcpy(buf + off, "connection: upgrade\r\n", 21);
		off += 21;
	} else if (!h->keepalive) {
		memcpy(buf + off, "connection: close\r\n", 19);
		off += 19;
	} else if (x->minor_version == 0) {
		memcpy(buf + off, "connection: keep-alive\r\n", 24);
		off += 24;
	}
	buf[off++] = '\r';
	buf[off++] = '\n';
	evbuffer_add(out, buf, off);
}

static void trailers_out(struct h1_conn *h, pt_exchange *x)
{
	struct evbuffer *out = h->stage;

	evbuffer_add(out, "0\r\n", 3);
	for (unsigned i = 0; i < x->ntrailers; i++)
		evbuffer_add_printf(out, "%.*s: %.*s\r\n", (int)x->trailers[i].name.len,
		                    x->trailers[i].name.ptr, (int)x->trailers[i].value.len,
		                    x->trailers[i].value.ptr);
	evbuffer_add(out, "\r\n", 2);
}

/* The response is complete in the output buffer: on to the next request. */
void h1c_response_done(struct h1_conn *h)
{
	pt_exchange *x = h->x;

	if (!h->busy)
		h1c_flush(h);   /* an async answer: nothing else will flush it */
	h->x = NULL;
	if (x && x->upgrade && x->status == 101 && h->state != S_BODY) {
		h->upgrade = x->upgrade;
		x->upgrade->accept_x = NULL;   /* claimed: the exchange no longer frees it */
		x->upgrade = NULL;
		h->state = S_UPGRADE;
		h1c_timer_set(h, T_NONE, 0);
		exchange_detach(x, 0);
		if (!h->busy)
			h1c_handover(h);
		return;
	}
	if (x)
		exchange_detach(x, 0);
	if (!h->keepalive || h->state == S_BODY) {
		/* a body we did not read (early answer) means we cannot find the next request */
		if (h->state == S_BODY)
			h->linger = 1;
		h->state = S_CLOSING;
		h1c_read_stop(h);
		if (h1c_out_len(h) == 0)
			h1c_close_written(h);
		return;
	}
	h->state = S_HEAD;
	if (!h->busy)
		h1c_process(h);   /* an async answer: look at pipelined requests now */
}

static void x_send_head(pt_exchange *x, int final)
{
	struct h1_conn *h = x->tp;
	struct evbuffer *out = h->stage;
	size_t len = x->out ? evbuffer_get_length(x->out) : 0;

	if (!final) {
		/* a known length (a proxied Content-Length) streams without chunks */
		write_head(h, x, x->resp_length);
		if (x->head_only || no_body_status(x->status))
			evbuffer_drain(x->out, len);
		else if (len)
			x->ops->send_body(x);
		if (!h->busy)
			h1c_flush(h);
		return;
	}
	write_head(h, x, no_body_status(x->status) ? -1 :
	           x->head_only && x->resp_length >= 0 ? x->resp_length : (int64_t)len);
	if (x->head_only || no_body_status(x->status)) {
		if (len)
			evbuffer_drain(x->out, len);
	} else if (len) {
		evbuffer_add_buffer(out, x->out);
	}
	/* a response that came before the body was read: discard the rest of it,
	 * unless the client waits for 100 Continue (then close, see write_head) */
	if (h->state == S_BODY && !x->close_after && !h->expect_100) {
		if (!h->busy)
			h1c_flush(h);
		return;   /* h1c_process() keeps reading and finishes in S_BODY */
	}
	h1c_response_done(h);
}

static void x_send_body(pt_exchange *x)
{
	struct h1_conn *h = x->tp;
	struct evbuffer *out = h->stage;
	size_t len = evbuffer_get_length(x->out);

	if (!len)
		return;
	if (x->head_only || no_body_status(x->status)) {
		evbuffer_drain(x->out, len);
		return;
	}
	if (h->resp_chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add_buffer(out, x->out);
	if (h->resp_chunked)
		evbuffer_add(out, "\r\n", 2);
	if (!h->busy)
		h1c_flush(h);
}

static void x_send_end(pt_exchange *x)
{
	struct h1_conn *h = x->tp;

	x_send_body(x);
	if (h->resp_chunked && !x->head_only)
		trailers_out(h, x);
	if (h->state == S_BODY && !x->close_after && !h->expect_100)
		return;
	h1c_response_done(h);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	h1c_process(arg);
}

/* The handler takes body bytes again: go on reading from the loop. */
static void x_want_body(pt_exchange *x)
{
	struct h1_conn *h = x->tp;

	if (h->state != S_BODY || x != h->x)
		return;
	if (!h->kick)
		h->kick = event_new(h->c->w->base, -1, 0, kick_cb, h);
	if (h->kick)
		event_active(h->kick, EV_TIMEOUT, 0);
}

static size_t x_out_pending(pt_exchange *x)
{
	return h1c_out_len(x->tp);
}

/* Cut the response: what is written goes out, no last chunk, then close. */
static void x_send_abort(pt_exchange *x)
{
	struct h1_conn *h = x->tp;

	if (x->out && evbuffer_get_length(x->out) && !x->head_only)
		x_send_body(x);
	h->keepalive = 0;
	log_info("http", "%s: response cut: closing the connection", h->c->remote);
	h1c_response_done(h);
}

static const struct xops h1_xops = { x_send_head, x_send_body, x_send_end, x_want_body,
                                     x_out_pending, x_send_abort };

/* ---- the exchange -------------------------------------------------------- */

/* Copies the head into the exchange pool so the input buffer can be drained. */
int h1c_build_exchange(struct h1_conn *h, const char *head, size_t hlen,
                       const struct h1_request *req)
{
	pt_exchange *x = exchange_new(h->c->w, &h1_xops, h, (pt_str_t){ h->c->remote,
	                                                                h->c->remote_len });
	char *copy;

#define REBASE(s) ((pt_str_t){ (s).ptr && (s).ptr >= head && (s).ptr < head + hlen ? \
                               copy + ((s).ptr - head) : (s).ptr, (s).len })
	if (!x)
		return -1;
	x->only = h->c->li && h->c->li->only[0] ? h->c->li->only : NULL;
	copy = arena_alloc(&x->pool, hlen);
	x->hdrs = arena_alloc(&x->pool, (req->num_headers + 1) * sizeof(*x->hdrs));
	if (!copy || !x->hdrs) {
		exchange_detach(x, 1);
		return -1;
	}
	memcpy(copy, head, hlen);
	x->method = req->method_id;
	x->method_name = REBASE(req->method);
	x->target = REBASE(req->target);
	x->path = REBASE(req->path);
	x->query = REBASE(req->query);
	x->host = REBASE(req->host);
	x->minor_version = req->minor_version;
	x->tls = h->c->tls;
	x->nhdrs = req->num_headers;
	for (unsigned i = 0; i < req->num_headers; i++) {
		char *n = copy + (req->headers[i].name - head);

		for (size_t j = 0; j < req->headers[i].name_len; j++)
			if (n[j] >= 'A' && n[j] <= 'Z')
				n[j] = (char)(n[j] | 0x20);
		x->hdrs[i].name = (pt_str_t){ n, req->headers[i].name_len };
		x->hdrs[i].value = (pt_str_t){ copy + (req->headers[i].value - head),
		                               req->headers[i].value_len };
	}
#undef REBASE
	h->x = x;
	return 0;
}
