/*
 * http_client_h1.c - HTTP/1.1 for the outbound client (see http_client.c for
 * the shape): a call's request written on a connection (the head built by
 * hand, then the body, or the first of it for a streaming call), and the
 * response read with h1_response.c -- collected into the call, or handed to
 * a streaming call's callbacks as it arrives. A pooled connection the server
 * closed under us gets the request once more on a fresh one.
 */
#include "http_client_priv.h"

#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#define MAX_RESP_HEADERS HC_MAX_FIELDS

/* ---------------------------------------------------------------- HTTP/1.1 */

/* A request head built on the stack, spilling into an evbuffer when long. */
struct hbuf {
	char b[4096];
	size_t n;
	struct evbuffer *out;
};

static void hb_put(struct hbuf *h, const void *p, size_t n)
{
	if (h->n + n > sizeof(h->b)) {
		evbuffer_add(h->out, h->b, h->n);
		h->n = 0;
		if (n > sizeof(h->b)) {
			evbuffer_add(h->out, p, n);
			return;
		}
	}
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void hb_str(struct hbuf *h, const char *s)
{
	hb_put(h, s, strlen(s));
}

static void hb_u64(struct hbuf *h, uint64_t v)
{
	char d[24];

	hb_put(h, d, hc_put_u64(d, v));
}

/*
 * Write CALL's request to CONN and bind them. The head is built by hand (the
 * printf family was the largest user-space cost here); a head with no body
 * on an idle connected socket goes out with one send(), without an
 * evbuffer chain.
 */
void hc_h1_send(struct conn *conn, struct http_client_call *call)
{
	struct evbuffer *out = conn->out;
	size_t before = evbuffer_get_length(out);
	size_t kept = call->replay ? evbuffer_get_length(call->replay) : 0;
	size_t have = call->body_len + kept, sent = 0;
	struct hbuf h;
	unsigned i;

	conn->call = call;
	call->conn = conn;
	call->reused = conn->reused;
	call->got_bytes = 0;
	conn->send_timeout = call->send_timeout;
	if (conn->connected)
		hc_conn_send_timeout(conn);
	call->head_done = 0;
	call->peer[0] = '\0';
	h.n = 0;
	h.out = out;
	hb_str(&h, call->method);
	hb_put(&h, " ", 1);
	hb_str(&h, call->path);
	hb_put(&h, " HTTP/1.1\r\n", 11);
	if (!call->has_host) {
		hb_put(&h, "host: ", 6);
		hb_str(&h, call->authority);
		hb_put(&h, "\r\n", 2);
	}
	if (call->hblock)
		hb_put(&h, call->hblock, call->hblock_len);
	for (i = 0; i < call->nhdrs; i++) {
		pt_str_t n = call->hdrs[i * 2], v = call->hdrs[i * 2 + 1];

		if (hc_framing_header(n))
			continue;
		hb_put(&h, n.ptr, n.len);
		hb_put(&h, ": ", 2);
		hb_put(&h, v.ptr, v.len);
		hb_put(&h, "\r\n", 2);
	}
	call->body_chunked = 0;
	if (call->body_more && call->body_length < 0) {
		hb_put(&h, "transfer-encoding: chunked\r\n", 28);
		call->body_chunked = 1;
	} else if (call->body_more) {
		hb_put(&h, "content-length: ", 16);
		hb_u64(&h, (uint64_t)call->body_length);
		hb_put(&h, "\r\n", 2);
	} else if (have || !strcmp(call->method, "POST") || !strcmp(call->method, "PUT") ||
	           !strcmp(call->method, "PATCH")) {
		hb_put(&h, "content-length: ", 16);
		hb_u64(&h, have);
		hb_put(&h, "\r\n", 2);
	}
	hb_put(&h, "\r\n", 2);
	if (!have && conn->fd >= 0 && !conn->wev_on && !conn->write_failed &&
	    evbuffer_get_length(out) == 0) {
		ssize_t w = send(conn->fd, h.b, h.n, MSG_NOSIGNAL);

		/* a failure is found again by raw_write, from the evbuffer */
		sent = w > 0 ? (size_t)w : 0;
	}
	if (h.n > sent)
		evbuffer_add(out, h.b + sent, h.n - sent);
	if (have) {
		if (call->body_chunked) {
			char line[24];

			evbuffer_add(out, line, hc_chunk_line(line, have));
		}
		if (call->body_len)
			evbuffer_add(out, call->body, call->body_len);
		if (kept)
			evbuffer_add(out, evbuffer_pullup(call->replay, -1), kept);
		if (call->body_chunked)
			evbuffer_add(out, "\r\n", 2);
	}
	call->req_len = evbuffer_get_length(out) + sent - before;
	call->last_us = now_us();
}

/* The response to CONN's call is complete: park or close CONN, then answer. */
void hc_h1_complete(struct conn *conn)
{
	struct http_client_call *call = conn->call;
	/* a request still going out (an early answer) leaves the connection
	 * in the middle of a message */
	int reusable = call->framing != H1_RESP_BODY_CLOSE &&
	               !(call->resp_flags & H1_RESP_F_CLOSE) && !call->req_close &&
	               evbuffer_get_length(conn->in) == 0 && !call->body_more &&
	               evbuffer_get_length(conn->out) == 0;

	hc_call_unbind(call);
	if (reusable)
		hc_conn_idle(conn);
	else
		hc_conn_free(conn);
	hc_call_deliver(call, call->status, NULL);
}

/* CONN's call failed: close CONN and answer, or retry once on a fresh one. */
void hc_h1_fail(struct conn *conn, int status, const char *err)
{
	struct http_client_call *call = conn->call;
	int written = evbuffer_get_length(conn->out) < call->req_len;

	hc_call_unbind(call);
	hc_conn_free(conn);
	if (status == PT_EIO && call->reused && !call->got_bytes && !call->retried &&
	    (call->idempotent || !written) && !call->replay_lost) {
		/* the server closed an idle connection just as we used it */
		call->retried = 1;
		hc_h1_start(call);
		return;
	}
	hc_call_deliver(call, status, err);
}

/* A chunked response body begins: its trailer section is kept, within the
 * head's byte limit, and handed over (h1_chunked_trailers). */
static void h1_chunked_start(struct http_client_call *call)
{
	h1_chunked_init(&call->chunk, call->owner->max_header);
	call->chunk.keep_trailer = 1;
}

/*
 * The chunked decoder failed: PT_ELIMIT when the trailer section went past
 * its budget (extensions have their own, smaller one), else PT_EIO.
 */
static void h1_chunked_fail(struct conn *conn)
{
	struct http_client_call *call = conn->call;

	if (call->chunk.count > call->chunk.max_trailer)
		hc_h1_fail(conn, PT_ELIMIT, "response trailers too large");
	else
		hc_h1_fail(conn, PT_EIO, "malformed chunked body from upstream");
}

/*
 * The decoder just set done: copy the trailer section (a view into the
 * buffer it was given, checked by the decoder) into CALL's trailers, field
 * by field through the scanner head fields go through. 0, or -1 when the
 * call failed (too many fields, or a line the scanner refuses).
 */
static int h1_chunked_trailers(struct conn *conn)
{
	struct http_client_call *call = conn->call;
	const char *t = call->chunk.trailer, *why = NULL;
	size_t p = 0, len = call->chunk.trailer_len;

	while (p < len) {
		struct h1_header f;
		ssize_t e = h1_field_line(t, p, len, &f, &why);
		int rc;

		if (e < 0) {
			hc_h1_fail(conn, PT_EIO, "malformed trailer from upstream");
			return -1;
		}
		p = (size_t)e;
		rc = hc_resp_trailer_add(call, f.name, f.name_len, f.value, f.value_len);
		if (rc < 0) {
			hc_h1_fail(conn, rc, rc == PT_ELIMIT ? "response trailers too large" :
			                                      "out of memory");
			return -1;
		}
	}
	return 0;
}

/* Move up to N bytes of IN into CALL's body; PT_ELIMIT past the limit. */
static int h1_take(struct http_client_call *call, struct evbuffer *in, size_t n)
{
	struct http_client *c = call->conn->client;

	if (evbuffer_get_length(call->body_buf) + n > c->max_body)
		return PT_ELIMIT;
	evbuffer_remove_buffer(in, call->body_buf, n);
	return 0;
}

/* The receiver of a streaming call said stop: close, and answer PT_EIO. */
static void h1_stream_stop(struct conn *conn)
{
	struct http_client_call *call = conn->call;

	hc_call_unbind(call);
	hc_conn_free(conn);
	hc_call_deliver(call, PT_EIO, "cancelled by the receiver");
}

/*
 * A streaming call's head R (RC bytes of IN) is parsed: hand it over with
 * the header views into IN, then drop it. 1, or -1 when the call is over.
 */
static int h1_stream_head(struct conn *conn, struct evbuffer *in, const struct h1_resp *r,
                          int rc)
{
	struct http_client_call *call = conn->call;
	pt_str_t hs[2 * MAX_RESP_HEADERS];
	struct http_client_res res;
	unsigned i;

	for (i = 0; i < r->num_headers; i++) {
		hs[2 * i] = (pt_str_t){ r->headers[i].name, r->headers[i].name_len };
		hs[2 * i + 1] = (pt_str_t){ r->headers[i].value, r->headers[i].value_len };
	}
	call->status = r->status;
	call->version = r->minor_version ? 11 : 10;
	call->framing = r->body;
	call->resp_flags = r->flags;
	call->remaining = r->content_length;
	call->head_done = 1;
	call->resp_clen = r->body == H1_RESP_BODY_LENGTH ? (int64_t)r->content_length : -1;
	if (call->head && r->body == H1_RESP_BODY_NONE) {
		/* HEAD: the length a GET would have had */
		const struct h1_resp_header *cl = h1_resp_header_find(r, "content-length", 14);
		int64_t v = 0;

		for (i = 0; cl && i < cl->value_len && cl->value[i] >= '0' && cl->value[i] <= '9' &&
		     v < ((int64_t)1 << 56); i++)
			v = v * 10 + (cl->value[i] - '0');
		if (cl && cl->value_len && i == cl->value_len)
			call->resp_clen = v;
	}
	if (r->body == H1_RESP_BODY_CHUNKED)
		h1_chunked_start(call);
	memset(&res, 0, sizeof(res));
	res.status = r->status;
	res.headers = hs;
	res.num_headers = r->num_headers;
	res.http_version = call->version;
	res.reused = call->reused;
	res.content_length = call->resp_clen;
	res.peer = call->peer[0] ? call->peer : NULL;
	if (call->st->head(&res, call->ud) < 0) {
		h1_stream_stop(conn);
		return -1;
	}
	evbuffer_drain(in, (size_t)rc);
	return 1;
}

/* Hands the N bytes at the front of IN to the receiver; -1 when it stopped. */
static int h1_stream_give(struct conn *conn, struct evbuffer *in, size_t n, int last)
{
	struct http_client_call *call = conn->call;
	size_t before = evbuffer_get_length(in), taken;
	int rc = call->st->body(in, n, last, call->ud);

	taken = before - evbuffer_get_length(in);
	if (taken < n)
		evbuffer_drain(in, n - taken);	/* whatever it left is not the next message */
	if (rc < 0) {
		h1_stream_stop(conn);
		return -1;
	}
	return 0;
}

/* A streaming call's body: 1 when complete, 0 for more (or paused), -1 over. */
static int h1_stream_body(struct conn *conn, struct evbuffer *in)
{
	struct http_client_call *call = conn->call;

	switch (call->framing) {
	case H1_RESP_BODY_NONE:
		return 1;
	case H1_RESP_BODY_LENGTH:
		while (call->remaining) {
			size_t n = evbuffer_get_length(in);

			if (!n || call->paused)
				return 0;
			if ((uint64_t)n > call->remaining)
				n = (size_t)call->remaining;
			call->remaining -= n;
			if (h1_stream_give(conn, in, n, call->remaining == 0) < 0)
				return -1;
		}
		return 1;
	case H1_RESP_BODY_CHUNKED:
		while (!call->chunk.done) {
			struct evbuffer_iovec v;
			const char *d;
			size_t dl, pre;
			ssize_t r;

			if (call->paused || evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				return 0;
			r = h1_chunked_decode(&call->chunk, v.iov_base, v.iov_len, &d, &dl);
			if (r < 0) {
				h1_chunked_fail(conn);
				return -1;
			}
			/* the section is a view into V: copy it before anything moves */
			if (call->chunk.done && h1_chunked_trailers(conn) < 0)
				return -1;
			if (dl) {
				/* the data go on by reference; only the framing is dropped */
				pre = (size_t)(d - (const char *)v.iov_base);
				evbuffer_drain(in, pre);
				if (h1_stream_give(conn, in, dl, 0) < 0)
					return -1;
				evbuffer_drain(in, (size_t)r - pre - dl);
			} else {
				evbuffer_drain(in, (size_t)r);
			}
			if (r == 0 && dl == 0) {
				/* the decoder needs bytes that span segments: up to a
				 * whole trailer section, which it takes in one piece */
				size_t have = evbuffer_get_length(in);
				size_t most = 16384 + call->chunk.max_trailer;

				if (have <= v.iov_len)
					return 0;
				evbuffer_pullup(in, (ssize_t)(have < most ? have : most));
			}
		}
		return 1;
	case H1_RESP_BODY_CLOSE:
		if (!call->paused && evbuffer_get_length(in) &&
		    h1_stream_give(conn, in, evbuffer_get_length(in), 0) < 0)
			return -1;
		return 0;	/* complete at EOF */
	}
	return 0;
}

/* Parse the response head in IN. Returns 1 when parsed, 0 for more, <0 failed. */
static int h1_head(struct conn *conn, struct evbuffer *in)
{
	struct http_client_call *call = conn->call;
	struct http_client *c = conn->client;
	struct h1_resp_header hv[MAX_RESP_HEADERS];
	struct h1_resp r;
	const char *why = NULL;
	size_t n, m;
	const char *p;
	int rc;
	unsigned i;

	for (;;) {
		n = evbuffer_get_length(in);
		if (n == 0)
			return 0;
		m = n < c->max_header ? n : c->max_header;
		p = (const char *)evbuffer_pullup(in, (ssize_t)m);
		memset(&r, 0, sizeof(r));
		r.headers = hv;
		r.num_headers = MAX_RESP_HEADERS;
		rc = h1_resp_parse(p, m, &r, call->head ? H1_RESP_HEAD : 0, c->max_header, &why);
		if (rc == H1_RESP_INCOMPLETE)
			return 0;
		if (rc < 0) {
			if (why && (!strcmp(why, "response head too large") ||
			            !strcmp(why, "too many headers"))) {
				hc_h1_fail(conn, PT_ELIMIT, "response head too large");
				return -1;
			}
			hc_h1_fail(conn, PT_EIO, "malformed response from upstream");
			return -1;
		}
		if (r.status == 101) {
			hc_h1_fail(conn, PT_EIO, "unexpected protocol switch");
			return -1;
		}
		if (r.status < 200) {
			/* 1xx interim: skip it, the final head follows */
			evbuffer_drain(in, (size_t)rc);
			continue;
		}
		break;
	}
	if (call->st)
		return h1_stream_head(conn, in, &r, rc);
	for (i = 0; i < r.num_headers; i++) {
		if (hc_resp_header_add(call, hv[i].name, hv[i].name_len, hv[i].value,
		                       hv[i].value_len) < 0) {
			hc_h1_fail(conn, PT_ENOMEM, "out of memory");
			return -1;
		}
	}
	call->status = r.status;
	call->version = r.minor_version ? 11 : 10;
	call->framing = r.body;
	call->resp_flags = r.flags;
	call->remaining = r.content_length;
	call->head_done = 1;
	evbuffer_drain(in, (size_t)rc);
	if (r.body == H1_RESP_BODY_LENGTH && r.content_length > c->max_body && !call->st) {
		hc_h1_fail(conn, PT_ELIMIT, "response body too large");
		return -1;
	}
	if (r.body == H1_RESP_BODY_CHUNKED)
		h1_chunked_start(call);
	return 1;
}

/* Consume what IN holds of CONN's response; answer when it is complete. */
void hc_h1_read(struct conn *conn, struct evbuffer *in)
{
	struct http_client_call *call = conn->call;

	if (evbuffer_get_length(in)) {
		if (!call->got_bytes && conn->peer[0])
			memcpy(call->peer, conn->peer, sizeof(call->peer));
		call->got_bytes = 1;
	}
	if (call->st) {
		if (call->paused && call->head_done)
			return;
		call->last_us = now_us();
	}
	if (!call->head_done) {
		int rc = h1_head(conn, in);

		if (rc <= 0)
			return;
	}
	if (call->st) {
		if (h1_stream_body(conn, in) != 1)
			return;
		if (hc_resp_trailers_give(call) < 0) {
			h1_stream_stop(conn);
			return;
		}
		hc_h1_complete(conn);
		return;
	}
	switch (call->framing) {
	case H1_RESP_BODY_NONE:
		break;
	case H1_RESP_BODY_LENGTH: {
		size_t n = evbuffer_get_length(in);

		if ((uint64_t)n > call->remaining)
			n = (size_t)call->remaining;
		if (h1_take(call, in, n) < 0) {
			hc_h1_fail(conn, PT_ELIMIT, "response body too large");
			return;
		}
		call->remaining -= n;
		if (call->remaining)
			return;
		break;
	}
	case H1_RESP_BODY_CHUNKED:
		while (!call->chunk.done) {
			size_t n = evbuffer_get_length(in), dl;
			const char *p = (const char *)evbuffer_pullup(in, (ssize_t)n), *d;
			ssize_t r;

			if (n == 0)
				return;
			r = h1_chunked_decode(&call->chunk, p, n, &d, &dl);
			if (r < 0) {
				h1_chunked_fail(conn);
				return;
			}
			if (call->chunk.done && h1_chunked_trailers(conn) < 0)
				return;
			if (evbuffer_get_length(call->body_buf) + dl > conn->client->max_body) {
				hc_h1_fail(conn, PT_ELIMIT, "response body too large");
				return;
			}
			if (dl)
				evbuffer_add(call->body_buf, d, dl);
			evbuffer_drain(in, (size_t)r);
			if (r == 0 && dl == 0)
				return;
		}
		break;
	case H1_RESP_BODY_CLOSE:
		if (h1_take(call, in, evbuffer_get_length(in)) < 0)
			hc_h1_fail(conn, PT_ELIMIT, "response body too large");
		return;	/* complete at EOF */
	}
	hc_h1_complete(conn);
}

/* Start CALL on an idle pooled connection or a new one. */
void hc_h1_start(struct http_client_call *call)
{
	struct http_client *c = call->client;
	struct pool *p = hc_pool_get(c, call->key);
	struct conn *conn;

	if (!p) {
		hc_call_fail_later(call, PT_ENOMEM, "out of memory");
		return;
	}
	if (call->max_idle)
		p->max_idle = call->max_idle;
	hc_resp_headers_clear(call);
	evbuffer_drain(call->body_buf, evbuffer_get_length(call->body_buf));
	conn = call->retried ? NULL : TAILQ_FIRST(&p->idle);
	if (conn) {
		TAILQ_REMOVE(&p->idle, conn, idle_link);
		p->nidle--;
		conn->idle = 0;	/* its idle timer, if it fires, finds it busy */
	} else {
		conn = hc_conn_open(c, p, call, 0);
		if (!conn) {
			hc_call_fail_later(call, PT_EIO, "cannot open a connection");
			return;
		}
	}
	hc_h1_send(conn, call);
	hc_conn_send(conn);
}
