/*
 * http_client_h2.c - HTTP/2 for the outbound client (see http_client.c for
 * the shape), on nghttp2: a session per connection, a stream per call.
 * Calls wait on a connection until it is connected and ALPN chose h2 (else
 * they go to HTTP/1.1 on it). nghttp2's callbacks never call user code:
 * finished streams wait on the done list for h2_work.
 *
 * Streaming calls keep the HTTP/1.1 contract with flow control doing the
 * holding back. Request: body_write queues bytes for the stream (h2_body),
 * whose data source says DEFERRED while it is empty and is resumed by the
 * next write; the queue's length is what body_write returns, and st->drain
 * runs once nghttp2 took it under HTTP_CLIENT_OUT_LOW. Response: window
 * updates are ours (no_auto_window_update). DATA waits in the call's
 * body_buf for h2_work to hand it over; the connection's window reopens at
 * once, the stream's only by what the receiver took, so a paused stream
 * holds at most H2_STREAM_WINDOW and the server waits. Output stops at
 * HTTP_CLIENT_OUT_HIGH queued on the connection (WOULDBLOCK) and goes on
 * when it drains.
 */
#include "http_client_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#define H2_STREAM_WINDOW (1u << 20)	/* the receive window a stream is offered */
#define H2_CONN_WINDOW (16u << 20)	/* the connection's receive window */

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
	if (evbuffer_get_length(conn->out) >= HTTP_CLIENT_OUT_HIGH) {
		conn->blocked = 1;
		return NGHTTP2_ERR_WOULDBLOCK;
	}
	if (evbuffer_add(conn->out, data, len) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

/*
 * A DATA frame of a streaming call (NO_COPY): its header, then LENGTH bytes
 * moved from the call's queue. The queue falling under HTTP_CLIENT_OUT_LOW
 * is news for st->drain, told from h2_work.
 */
static int h2_send_data_cb(nghttp2_session *s, nghttp2_frame *f, const uint8_t *framehd,
                           size_t length, nghttp2_data_source *src, void *ud)
{
	struct conn *conn = ud;
	struct http_client_call *call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);

	(void)src;
	if (!call || !call->h2_body)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;	/* cancelled meanwhile */
	if (evbuffer_get_length(conn->out) >= HTTP_CLIENT_OUT_HIGH) {
		conn->blocked = 1;
		return NGHTTP2_ERR_WOULDBLOCK;
	}
	/* no padding: we set no select_padding callback */
	if (evbuffer_add(conn->out, framehd, 9) != 0 ||
	    evbuffer_remove_buffer(call->h2_body, conn->out, length) != (int)length)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	call->last_us = now_us();
	if (call->drain_armed && evbuffer_get_length(call->h2_body) < HTTP_CLIENT_OUT_LOW) {
		call->drain_armed = 0;
		call->h2_drain_due = 1;
		call->h2_due = 1;
		hc_h2_kick(conn);
	}
	return 0;
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
	if (!call)
		return 0;	/* gone */
	if (call->h2_state != 0) {
		/* trailers: nghttp2 let only a HEADERS with END_STREAM and no
		   pseudo-header through after the final head */
		int rc = hc_resp_trailer_add(call, (const char *)name, namelen,
		                             (const char *)value, valuelen);

		if (rc == PT_ELIMIT) {
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id,
			                          NGHTTP2_CANCEL);
			h2_finish(conn, call, PT_ELIMIT, "response trailers too large");
			return 0;
		}
		return rc < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
	}
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
	if (namelen == 14 && !memcmp(name, "content-length", 14)) {
		/* streaming calls report it (a HEAD's too), as HTTP/1.1 does */
		int64_t v = 0;
		size_t i;

		for (i = 0; i < valuelen && value[i] >= '0' && value[i] <= '9' &&
		     v < ((int64_t)1 << 56); i++)
			v = v * 10 + (value[i] - '0');
		if (valuelen && i == valuelen)
			call->resp_clen = v;
	}
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
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!call)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && call->h2_state == 0) {
		if (call->h2_interim) {
			call->h2_interim = 0;
			return 0;
		}
		call->h2_state = 1;
	}
	if (call->st) {
		/* h2_work hands the head and the body over */
		if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
			call->h2_eos = 1;
		call->h2_due = 1;
		call->last_us = now_us();
	}
	return 0;
}

static int h2_data_cb(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                      size_t len, void *ud)
{
	struct conn *conn = ud;
	struct http_client_call *call = nghttp2_session_get_stream_user_data(s, id);

	(void)flags;
	if (!call || !call->st) {
		/* window updates are ours (no_auto_window_update) */
		nghttp2_session_consume(s, id, len);
		if (!call)
			return 0;
	} else {
		/* streaming: the stream's window reopens as the receiver takes
		 * the bytes (h2_stream_give), the connection's at once */
		nghttp2_session_consume_connection(s, len);
		if (evbuffer_add(call->body_buf, data, len) < 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		call->last_us = now_us();
		return 0;
	}
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
	if (call->st) {
		call->h2_closed = 1;
		if (call->h2_eos && call->h2_state == 1 && call->status >= 200)
			call->h2_due = 1;	/* complete: h2_work hands the rest over */
		else
			h2_finish(conn, call, PT_EIO, call->h2_state == 0 && !error_code ?
			          "no response from upstream" : "stream reset by upstream");
		return 0;
	}
	if (error_code != NGHTTP2_NO_ERROR)
		h2_finish(conn, call, PT_EIO, "stream reset by upstream");
	else if (call->h2_state == 0 || call->status < 200)
		h2_finish(conn, call, PT_EIO, "no response from upstream");
	else
		h2_finish(conn, call, call->status, NULL);
	return 0;
}

/* Queues CALL's request trailers on stream ID (from its data source, at its
 * end, as nghttp2 asks); 0, or -1 and the stream ends without them. */
static int h2_submit_trailers(nghttp2_session *s, int32_t id, struct http_client_call *call)
{
	nghttp2_nv *nv = calloc(call->ntrailers, sizeof(*nv));
	int rc;

	if (!nv)
		return -1;
	for (unsigned i = 0; i < call->ntrailers; i++)
		nv[i] = (nghttp2_nv){ (uint8_t *)call->trailers[2 * i].ptr,
		                      (uint8_t *)call->trailers[2 * i + 1].ptr,
		                      call->trailers[2 * i].len, call->trailers[2 * i + 1].len,
		                      NGHTTP2_NV_FLAG_NONE };
	rc = nghttp2_submit_trailer(s, id, nv, call->ntrailers);
	free(nv);
	return rc == 0 ? 0 : -1;
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
	if (call->body_off == call->body_len) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		if (call->ntrailers && h2_submit_trailers(s, id, call) == 0)
			*data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;	/* they end it */
	}
	return (ssize_t)n;
}

/*
 * The data source of a streaming call: how much of its queue the next DATA
 * frame carries (h2_send_data_cb moves the bytes), DEFERRED while the queue
 * is empty and the body goes on (hc_h2_body_write resumes it), EOF after
 * the last byte.
 */
static ssize_t h2_stream_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                                 uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
	struct http_client_call *call = nghttp2_session_get_stream_user_data(s, id);
	size_t have, n;

	(void)buf;
	(void)src;
	(void)ud;
	if (!call || !call->h2_body)
		return NGHTTP2_ERR_DEFERRED;	/* answered: its RST_STREAM is queued */
	have = evbuffer_get_length(call->h2_body);
	if (have == 0 && call->body_more)
		return NGHTTP2_ERR_DEFERRED;
	n = have < len ? have : len;
	if (n == have && !call->body_more) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		if (call->ntrailers && h2_submit_trailers(s, id, call) == 0)
			*data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;	/* they end it */
	}
	*data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
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
	/* a streaming call's body: what is queued, and maybe more to come */
	int64_t blen = call->h2_body ? (call->body_more ? call->body_length :
	               (int64_t)evbuffer_get_length(call->h2_body)) : (int64_t)call->body_len;
	int has_body = call->ntrailers || (call->h2_body ? call->body_more ||
	               evbuffer_get_length(call->h2_body) : call->body_len != 0);

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
	if (blen > 0 || (blen == 0 && (call->body_more || !strcmp(call->method, "POST") ||
	    !strcmp(call->method, "PUT") || !strcmp(call->method, "PATCH")))) {
		snprintf(clen, sizeof(clen), "%lld", (long long)blen);
		NV("content-length", 14, clen, strlen(clen));
	}
#undef NV
	prd.source.ptr = NULL;
	prd.read_callback = call->h2_body ? h2_stream_read_cb : h2_body_read_cb;
	call->body_off = 0;
	call->h2_state = 0;
	call->h2_interim = 0;
	call->status = 0;
	call->version = 20;
	id = nghttp2_submit_request(conn->ng, NULL, nv, n, has_body ? &prd : NULL, call);
	free(nv);
	if (id < 0)
		return PT_EIO;
	call->stream_id = id;
	call->conn = conn;
	call->reused = conn->reused;
	memcpy(call->peer, conn->peer, sizeof(call->peer));
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
	nghttp2_option *opt;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW },
	};
	int rv;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return PT_ENOMEM;
	nghttp2_session_callbacks_set_send_callback(cbs, h2_send_cb);
	nghttp2_session_callbacks_set_send_data_callback(cbs, h2_send_data_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, h2_header_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_frame_recv_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_data_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_close_cb);
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cbs);
		return PT_ENOMEM;
	}
	/* window updates are ours: a paused streaming call holds its stream's */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	rv = nghttp2_session_client_new2(&conn->ng, cbs, conn, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0)
		return PT_ENOMEM;
	if (nghttp2_submit_settings(conn->ng, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
	    nghttp2_session_set_local_window_size(conn->ng, NGHTTP2_FLAG_NONE, 0,
	                                          (int32_t)H2_CONN_WINDOW) != 0)
		return PT_EIO;
	hc_h2_kick(conn);
	return 0;
}

/* The receiver of streaming CALL said stop: reset the stream, answer PT_EIO. */
static void h2_stream_stop(struct conn *conn, struct http_client_call *call)
{
	if (conn && conn->ng && !call->h2_closed) {
		nghttp2_submit_rst_stream(conn->ng, NGHTTP2_FLAG_NONE, call->stream_id,
		                          NGHTTP2_CANCEL);
		hc_h2_kick(conn);
	}
	hc_call_deliver(call, PT_EIO, "cancelled by the receiver");
}

/*
 * Hand streaming CALL what is due: a drain, the head once, then the body
 * bytes that came while the receiver takes them (FORCE: even paused), the
 * stream's window reopening by as many; once the response is complete and
 * handed over, answer the call. CONN is NULL when it is closing. 0, or -1
 * when the call is over.
 */
static int h2_stream_give(struct conn *conn, struct http_client_call *call, int force)
{
	const struct http_client_stream *st = call->st;
	size_t n;

	if (call->h2_drain_due) {
		call->h2_drain_due = 0;
		if (st->drain)
			st->drain(call->ud);
	}
	if (call->h2_state == 1 && !call->head_done) {
		struct http_client_res res;

		memset(&res, 0, sizeof(res));
		res.status = call->status;
		res.headers = call->rh;
		res.num_headers = call->nrh;
		res.http_version = 20;
		res.reused = call->reused;
		res.content_length = call->resp_clen;
		res.peer = call->peer[0] ? call->peer : NULL;
		call->head_done = 1;
		if (st->head(&res, call->ud) < 0) {
			h2_stream_stop(conn, call);
			return -1;
		}
	}
	if (!call->head_done || (call->paused && !force))
		return 0;
	if ((n = evbuffer_get_length(call->body_buf))) {
		int rc = st->body(call->body_buf, n, call->h2_eos, call->ud);
		size_t left = evbuffer_get_length(call->body_buf);

		if (left)
			evbuffer_drain(call->body_buf, left);	/* it was to take them all */
		if (conn && conn->ng && !call->h2_closed)
			nghttp2_session_consume_stream(conn->ng, call->stream_id, n);
		if (rc < 0) {
			h2_stream_stop(conn, call);
			return -1;
		}
	}
	if (!call->h2_eos)
		return 0;
	if (hc_resp_trailers_give(call) < 0) {
		h2_stream_stop(conn, call);
		return -1;
	}
	if (conn && conn->ng && !call->h2_closed) {
		/* the response is complete before the request: stop sending it */
		nghttp2_submit_rst_stream(conn->ng, NGHTTP2_FLAG_NONE, call->stream_id,
		                          NGHTTP2_CANCEL);
		hc_h2_kick(conn);
	}
	hc_call_deliver(call, call->status, NULL);
	return -1;
}

/* Streaming calls on CONN with something due get it; a receiver may end
 * other calls, so the scan starts over after each. */
static void h2_pump(struct conn *conn)
{
	struct http_client_call *call;

again:
	TAILQ_FOREACH(call, &conn->active, qlink) {
		if (call->h2_due) {
			call->h2_due = 0;
			h2_stream_give(conn, call, 0);
			goto again;
		}
	}
}

/* Close CONN and answer every call still on it with STATUS and ERR (MID,
 * when not NULL, for streaming calls whose head came). */
void hc_h2_close(struct conn *conn, int status, const char *err, const char *mid)
{
	struct call_list ended;
	struct http_client_call *call;

	/* answered streams keep their answer, and complete streaming ones
	   (held by a paused receiver) are handed over; the rest fail with
	   STATUS. Calls sit on ENDED with q set, so a callback may cancel one
	   still queued. */
	TAILQ_INIT(&ended);
	while ((call = TAILQ_FIRST(&conn->done)) || (call = TAILQ_FIRST(&conn->active)) ||
	       (call = TAILQ_FIRST(&conn->waiting))) {
		if (call->q == &conn->active && call->st && call->h2_eos &&
		    call->h2_state == 1 && call->status >= 200) {
			call->result = call->status;
			call->h2_closed = 1;
		} else if (call->q != &conn->done) {
			call->result = status;
			call->result_error = mid && call->st && call->h2_state == 1 ? mid : err;
		}
		TAILQ_REMOVE(call->q, call, qlink);
		TAILQ_INSERT_TAIL(&ended, call, qlink);
		call->q = &ended;
		call->conn = NULL;
	}
	hc_conn_free(conn);
	while ((call = TAILQ_FIRST(&ended))) {
		TAILQ_REMOVE(&ended, call, qlink);
		call->q = NULL;
		if (call->st && call->result >= 0)
			h2_stream_give(NULL, call, 1);	/* answers it */
		else
			hc_call_deliver(call, call->result, call->result_error);
	}
}

/* Flush frames, deliver finished streams, close CONN when it is over. */
static void h2_work(struct conn *conn)
{
	struct http_client_call *call;

	h2_pump(conn);
	do {
		/* the connection's output takes up to HTTP_CLIENT_OUT_HIGH: what
		   the socket took at once makes room for more */
		conn->blocked = 0;
		if (conn->ng && !conn->dead && nghttp2_session_send(conn->ng) != 0)
			h2_dead(conn);
		hc_conn_send(conn);
	} while (conn->blocked && !conn->dead &&
	         evbuffer_get_length(conn->out) < HTTP_CLIENT_OUT_LOW);
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
		hc_h2_close(conn, PT_EIO, "HTTP/2 connection closed", NULL);
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

/*
 * Streaming CALL, bound for h2, goes to HTTP/1.1 instead (ALPN said so):
 * its stream's queue holds its whole body so far (nothing was sent), and
 * goes as what HTTP/1.1 sends first and could send again.
 */
static void h2_to_h1(struct http_client_call *call)
{
	if (!call->h2_body)
		return;
	if (call->replay)
		evbuffer_free(call->replay);
	call->replay = call->h2_body;
	call->h2_body = NULL;
	call->replay_lost = 0;
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
		struct call_list queued;

		conn->pool->no_h2 = 1;
		if (conn->pool->h2 == conn)
			conn->pool->h2 = NULL;
		conn->is_h2 = 0;
		event_free(conn->work);
		conn->work = NULL;
		TAILQ_INIT(&queued);
		TAILQ_CONCAT(&queued, &conn->waiting, qlink);
		TAILQ_FOREACH(call, &queued, qlink) {
			call->q = &queued;
			call->conn = NULL;
		}
		call = TAILQ_FIRST(&queued);
		if (!call) {
			hc_conn_idle(conn);
			return;
		}
		TAILQ_REMOVE(&queued, call, qlink);
		call->q = NULL;
		h2_to_h1(call);
		hc_h1_send(conn, call);
		while ((call = TAILQ_FIRST(&queued))) {
			TAILQ_REMOVE(&queued, call, qlink);
			call->q = NULL;
			call->conn = NULL;
			h2_to_h1(call);
			hc_h1_start(call);
		}
		return;
	}
	if (h2_session_start(conn) < 0) {
		hc_h2_close(conn, PT_EIO, "cannot start HTTP/2", NULL);
		return;
	}
	while ((call = TAILQ_FIRST(&conn->waiting))) {
		TAILQ_REMOVE(&conn->waiting, call, qlink);
		call->q = NULL;
		if (h2_submit(conn, call) < 0)
			h2_finish(conn, call, PT_EIO, "cannot submit HTTP/2 request");
	}
}

/* Frees a request body handed to an evbuffer (hc_h2_start). */
static void h2_body_unref(const void *data, size_t len, void *extra)
{
	(void)len;
	(void)extra;
	free((void *)data);
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
	if (call->st && !call->h2_body) {
		/* the stream's queue starts with the body the request came with:
		   a large one is handed over, not copied. The evbuffer frees it
		   once its bytes left (they may sit in CONN->out after the call) */
		if (!(call->h2_body = evbuffer_new()) ||
		    (call->replay && evbuffer_add_buffer(call->h2_body, call->replay) != 0)) {
			hc_call_fail_later(call, PT_ENOMEM, "out of memory");
			return;
		}
		if (call->body_len) {
			if (evbuffer_add_reference(call->h2_body, call->body, call->body_len,
			                           h2_body_unref, NULL) != 0) {
				hc_call_fail_later(call, PT_ENOMEM, "out of memory");
				return;
			}
			call->body = NULL;
			call->body_len = 0;
		}
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

/* CALL's stream may send again: its data source said DEFERRED, or is due. */
static void h2_resume_data(struct conn *conn, struct http_client_call *call)
{
	if (call->q == &conn->active && conn->ng && !call->h2_closed) {
		nghttp2_session_resume_data(conn->ng, call->stream_id);	/* fails harmlessly if
									   not deferred */
		hc_h2_kick(conn);
	}
}

ssize_t hc_h2_body_write(struct http_client_call *call, const void *data, size_t len)
{
	struct conn *conn = call->conn;
	size_t queued;

	if (!conn || call->q == &conn->done)
		return 0;	/* failing: the answer is on its way */
	if (len) {
		if (evbuffer_add(call->h2_body, data, len) != 0)
			return PT_ENOMEM;
		h2_resume_data(conn, call);
	}
	queued = evbuffer_get_length(call->h2_body);
	if (queued >= HTTP_CLIENT_OUT_HIGH)
		call->drain_armed = 1;
	return (ssize_t)queued;
}

void hc_h2_body_end(struct http_client_call *call)
{
	if (call->conn)
		h2_resume_data(call->conn, call);	/* the data source says EOF */
}

void hc_h2_resume(struct http_client_call *call)
{
	call->h2_due = 1;
	if (call->conn)
		hc_h2_kick(call->conn);
}
