/*
 * http_client_h2.c - HTTP/2 for the outbound client (see http_client.c for
 * the shape), on nghttp2: a session per connection, a stream per call.
 * Calls wait on a connection until it is connected and ALPN chose h2 (else
 * they go to HTTP/1.1 on it). nghttp2's callbacks never call user code:
 * finished streams wait on the done list for h2_work.
 */
#include "http_client_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

/* ---------------------------------------------------------------- HTTP/2 */

/* Make H2_WORK run soon on CONN's loop. */
void hc_h2_kick(struct conn *conn)
{
	if (conn->work)
		event_active(conn->work, EV_TIMEOUT, 0);
}

/* Mark CONN unusable: no new streams; h2_work closes it. */
static void h2_dead(struct conn *conn)
{
	conn->dead = 1;
	if (conn->pool && conn->pool->h2 == conn)
		conn->pool->h2 = NULL;
	hc_h2_kick(conn);
}

/* Queue CALL's answer STATUS on CONN's done list (delivered by h2_work). */
static void h2_finish(struct conn *conn, struct http_client_call *call, int status,
                      const char *err)
{
	if (conn->ng && call->stream_id > 0)
		nghttp2_session_set_stream_user_data(conn->ng, call->stream_id, NULL);
	if (call->q)
		TAILQ_REMOVE(call->q, call, qlink);
	TAILQ_INSERT_TAIL(&conn->done, call, qlink);
	call->q = &conn->done;
	call->result = status;
	call->result_error = err;
	hc_h2_kick(conn);
}

static ssize_t h2_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags,
                          void *ud)
{
	struct conn *conn = ud;

	(void)s;
	(void)flags;
	if (evbuffer_add(conn->out, data, len) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

static int h2_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *ud)
{
	struct conn *conn = ud;
	struct http_client_call *call;

	(void)flags;
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!call || call->h2_state != 0)
		return 0;	/* gone, or trailers */
	if (namelen == 7 && !memcmp(name, ":status", 7)) {
		int st = 0;
		size_t i;

		for (i = 0; i < valuelen && i < 3; i++)
			st = st * 10 + (value[i] - '0');
		if (st >= 100 && st < 200) {
			call->h2_interim = 1;
			return 0;
		}
		call->status = st;
		return 0;
	}
	if (call->h2_interim || (namelen && name[0] == ':'))
		return 0;
	if (call->rh_bytes + namelen + valuelen > conn->client->max_header) {
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_CANCEL);
		h2_finish(conn, call, PT_ELIMIT, "response head too large");
		return 0;
	}
	if (hc_resp_header_add(call, (const char *)name, namelen, (const char *)value, valuelen) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int h2_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct conn *conn = ud;
	struct http_client_call *call;

	if (f->hd.type == NGHTTP2_GOAWAY) {
		/* streams above last_stream_id are closed by nghttp2 (REFUSED) */
		if (conn->pool && conn->pool->h2 == conn)
			conn->pool->h2 = NULL;
		return 0;
	}
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!call || call->h2_state != 0)
		return 0;
	if (call->h2_interim) {
		call->h2_interim = 0;
		return 0;
	}
	call->h2_state = 1;
	return 0;
}

static int h2_data_cb(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                      size_t len, void *ud)
{
	struct conn *conn = ud;
	struct http_client_call *call = nghttp2_session_get_stream_user_data(s, id);

	(void)flags;
	if (!call)
		return 0;
	if (evbuffer_get_length(call->body_buf) + len > conn->client->max_body) {
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
		h2_finish(conn, call, PT_ELIMIT, "response body too large");
		return 0;
	}
	if (evbuffer_add(call->body_buf, data, len) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int h2_close_cb(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
	struct conn *conn = ud;
	struct http_client_call *call = nghttp2_session_get_stream_user_data(s, id);

	if (!call)
		return 0;
	if (error_code != NGHTTP2_NO_ERROR)
		h2_finish(conn, call, PT_EIO, "stream reset by upstream");
	else if (call->h2_state == 0 || call->status < 200)
		h2_finish(conn, call, PT_EIO, "no response from upstream");
	else
		h2_finish(conn, call, call->status, NULL);
	return 0;
}

static ssize_t h2_body_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                               uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
	struct http_client_call *call = nghttp2_session_get_stream_user_data(s, id);
	size_t n;

	(void)src;
	(void)ud;
	if (!call)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	n = call->body_len - call->body_off;
	if (n > len)
		n = len;
	memcpy(buf, call->body + call->body_off, n);
	call->body_off += n;
	if (call->body_off == call->body_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Submit CALL as a stream on CONN's session. */
static int h2_submit(struct conn *conn, struct http_client_call *call)
{
	nghttp2_nv *nv;
	nghttp2_data_provider prd;
	size_t n = 0;
	unsigned i;
	char clen[24];
	int32_t id;

#define NV(nm, nl, vl_, vlen) \
	(nv[n++] = (nghttp2_nv){ (uint8_t *)(nm), (uint8_t *)(vl_), (nl), (vlen), NGHTTP2_NV_FLAG_NONE })
	nv = calloc((size_t)call->nhdrs + 6, sizeof(*nv));
	if (!nv)
		return PT_ENOMEM;
	NV(":method", 7, call->method, strlen(call->method));
	NV(":scheme", 7, call->https ? "https" : "http", call->https ? 5u : 4u);
	NV(":authority", 10, call->authority, strlen(call->authority));
	NV(":path", 5, call->path, strlen(call->path));
	for (i = 0; i < call->nhdrs; i++) {
		pt_str_t nm = call->hdrs[i * 2], v = call->hdrs[i * 2 + 1];

		if (hc_framing_header(nm) || !strcmp(nm.ptr, "connection") ||
		    !strcmp(nm.ptr, "keep-alive") || !strcmp(nm.ptr, "proxy-connection") ||
		    !strcmp(nm.ptr, "upgrade") || !strcmp(nm.ptr, "host") ||
		    (!strcmp(nm.ptr, "te") && strcmp(v.ptr, "trailers")))
			continue;
		NV(nm.ptr, nm.len, v.ptr, v.len);
	}
	if (call->body_len || !strcmp(call->method, "POST") || !strcmp(call->method, "PUT") ||
	    !strcmp(call->method, "PATCH")) {
		snprintf(clen, sizeof(clen), "%zu", call->body_len);
		NV("content-length", 14, clen, strlen(clen));
	}
#undef NV
	prd.source.ptr = NULL;
	prd.read_callback = h2_body_read_cb;
	call->body_off = 0;
	call->h2_state = 0;
	call->h2_interim = 0;
	call->status = 0;
	call->version = 20;
	id = nghttp2_submit_request(conn->ng, NULL, nv, n, call->body_len ? &prd : NULL, call);
	free(nv);
	if (id < 0)
		return PT_EIO;
	call->stream_id = id;
	call->conn = conn;
	call->reused = conn->reused;
	conn->reused = 1;
	TAILQ_INSERT_TAIL(&conn->active, call, qlink);
	call->q = &conn->active;
	event_del(conn->timer);
	hc_h2_kick(conn);
	return 0;
}

/* CONN is connected and speaks h2: make the session, submit the waiting calls. */
static int h2_session_start(struct conn *conn)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	int rv;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return PT_ENOMEM;
	nghttp2_session_callbacks_set_send_callback(cbs, h2_send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, h2_header_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_frame_recv_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_data_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_close_cb);
	rv = nghttp2_session_client_new(&conn->ng, cbs, conn);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0)
		return PT_ENOMEM;
	if (nghttp2_submit_settings(conn->ng, NGHTTP2_FLAG_NONE, iv, 2) != 0)
		return PT_EIO;
	hc_h2_kick(conn);
	return 0;
}

/* Close CONN and answer every call still on it with STATUS. */
void hc_h2_close(struct conn *conn, int status, const char *err)
{
	struct call_list todo;
	struct http_client_call *call;

	/* answered streams keep their answer; the rest fail with STATUS. Calls
	   sit on TODO with q set, so a callback may cancel one still queued. */
	TAILQ_INIT(&todo);
	while ((call = TAILQ_FIRST(&conn->done)) || (call = TAILQ_FIRST(&conn->active)) ||
	       (call = TAILQ_FIRST(&conn->waiting))) {
		if (call->q != &conn->done) {
			call->result = status;
			call->result_error = err;
		}
		TAILQ_REMOVE(call->q, call, qlink);
		TAILQ_INSERT_TAIL(&todo, call, qlink);
		call->q = &todo;
		call->conn = NULL;
	}
	hc_conn_free(conn);
	while ((call = TAILQ_FIRST(&todo))) {
		TAILQ_REMOVE(&todo, call, qlink);
		call->q = NULL;
		hc_call_deliver(call, call->result, call->result_error);
	}
}

/* Flush frames, deliver finished streams, close CONN when it is over. */
static void h2_work(struct conn *conn)
{
	struct http_client_call *call;

	if (conn->ng && !conn->dead && nghttp2_session_send(conn->ng) != 0)
		h2_dead(conn);
	hc_conn_send(conn);
	while ((call = TAILQ_FIRST(&conn->done))) {
		TAILQ_REMOVE(&conn->done, call, qlink);
		call->q = NULL;
		call->conn = NULL;
		hc_call_deliver(call, call->result, call->result_error);
	}
	if (!conn->connected)
		return;
	if (conn->dead || !conn->ng ||
	    (!nghttp2_session_want_read(conn->ng) && !nghttp2_session_want_write(conn->ng))) {
		hc_h2_close(conn, PT_EIO, "HTTP/2 connection closed");
		return;
	}
	if (TAILQ_EMPTY(&conn->active) && TAILQ_EMPTY(&conn->waiting) &&
	    !evtimer_pending(conn->timer, NULL)) {
		struct timeval tv = tv_of(conn->client->idle_timeout);

		evtimer_add(conn->timer, &tv);
	}
}

static void h2_work_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	h2_work(arg);
}

/* Feed what IN holds to CONN's session. */
void hc_h2_read(struct conn *conn, struct evbuffer *in)
{
	size_t n = evbuffer_get_length(in);

	if (n && conn->ng && !conn->dead) {
		ssize_t rv = nghttp2_session_mem_recv(conn->ng, evbuffer_pullup(in, -1), n);

		if (rv < 0)
			h2_dead(conn);
	}
	evbuffer_drain(in, n);
	h2_work(conn);
}

/* CONN connected (after TLS): start h2, or fall back to 1.1 if ALPN says so. */
void hc_h2_connected(struct conn *conn)
{
	struct http_client_call *call;
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;

	if (conn->tls)
		SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(conn->bev), &alpn, &alpn_len);
	if (conn->tls && !(alpn_len == 2 && !memcmp(alpn, "h2", 2))) {
		struct call_list todo;

		conn->pool->no_h2 = 1;
		if (conn->pool->h2 == conn)
			conn->pool->h2 = NULL;
		conn->is_h2 = 0;
		event_free(conn->work);
		conn->work = NULL;
		TAILQ_INIT(&todo);
		TAILQ_CONCAT(&todo, &conn->waiting, qlink);
		TAILQ_FOREACH(call, &todo, qlink) {
			call->q = &todo;
			call->conn = NULL;
		}
		call = TAILQ_FIRST(&todo);
		if (!call) {
			hc_conn_idle(conn);
			return;
		}
		TAILQ_REMOVE(&todo, call, qlink);
		call->q = NULL;
		hc_h1_send(conn, call);
		while ((call = TAILQ_FIRST(&todo))) {
			TAILQ_REMOVE(&todo, call, qlink);
			call->q = NULL;
			call->conn = NULL;
			hc_h1_start(call);
		}
		return;
	}
	if (h2_session_start(conn) < 0) {
		hc_h2_close(conn, PT_EIO, "cannot start HTTP/2");
		return;
	}
	while ((call = TAILQ_FIRST(&conn->waiting))) {
		TAILQ_REMOVE(&conn->waiting, call, qlink);
		call->q = NULL;
		if (h2_submit(conn, call) < 0)
			h2_finish(conn, call, PT_EIO, "cannot submit HTTP/2 request");
	}
}

/* Start CALL on its pool's h2 connection, opening one if needed. */
void hc_h2_start(struct http_client_call *call)
{
	struct http_client *c = call->client;
	struct pool *p = hc_pool_get(c, call->key);
	struct conn *conn;

	if (!p) {
		hc_call_fail_later(call, PT_ENOMEM, "out of memory");
		return;
	}
	if (p->no_h2) {
		hc_h1_start(call);
		return;
	}
	conn = p->h2;
	if (!conn) {
		conn = hc_conn_open(c, p, call, 1);
		if (!conn) {
			hc_call_fail_later(call, PT_EIO, "cannot open a connection");
			return;
		}
		conn->is_h2 = 1;
		conn->work = event_new(c->base, -1, 0, h2_work_cb, conn);
		if (!conn->work) {
			hc_conn_free(conn);
			hc_call_fail_later(call, PT_ENOMEM, "out of memory");
			return;
		}
		p->h2 = conn;
	}
	if (!conn->connected) {
		TAILQ_INSERT_TAIL(&conn->waiting, call, qlink);
		call->q = &conn->waiting;
		call->conn = conn;
		return;
	}
	if (h2_submit(conn, call) < 0) {
		h2_dead(conn);
		hc_call_fail_later(call, PT_EIO, "cannot submit HTTP/2 request");
	}
}
