/*
 * ws_conn.c - a WebSocket connection on its worker's loop, after the
 * HTTP/1.1 transport handed it over: reading frames (ws_frame.c checks
 * them), answering pings, heartbeats, the closing handshake, and the
 * queue toward a slow client.
 *
 * Output: a frame goes to the socket at once when nothing is buffered
 * (cleartext), else into the output (ours on cleartext, the bufferevent's
 * on TLS) while that holds less than OUT_CHUNK; beyond, whole frames wait
 * in our own queue (so drop_oldest can drop whole messages that have not
 * started), refilled as the socket takes bytes. queue_max bounds both.
 *
 * Ends: every way a connection ends (the peer's close, a protocol error,
 * ws_close answered or timed out, the connection lost, a silent peer, a
 * full queue, the worker stopping) sets close_code and goes through
 * later_cb, which tells the owner (on_close, once, never from inside one
 * of its own calls) and frees the connection once its last bytes are out.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gen.h"
#include "http/conn.h"
#include "http/exchange.h"
#include "log.h"
#include "lua/lua_rt.h"
#include "metrics.h"
#include "worker.h"
#include "ws_conn.h"

#define OUT_CHUNK (64u << 10)
#define OUT_LOW (16u << 10)
#define CLOSE_WAIT_SECS 5.0   /* for the peer's close frame, or our last bytes */

enum ws_state {
	WS_OPEN = 0,
	WS_CLOSING = 1,    /* we sent a close frame; waiting for the peer's */
	WS_DONE = 2,       /* no more frames either way: flush, tell, free */
};

enum ws_phase { TP_NONE = 0, TP_IDLE, TP_PONG, TP_CLOSE };

static pt_metric *m_open, *m_dropped, *m_closed_proto;

static void later_cb(evutil_socket_t fd, short what, void *arg);
static void tmr_cb(evutil_socket_t fd, short what, void *arg);
static void reading(pt_ws *ws, int on);

static void metrics_init(void)
{
	if (!m_open)
		m_open = metric_new(METRIC_GAUGE, "portico_ws_connections",
		                    "WebSocket connections open");
	if (!m_dropped)
		m_dropped = metric_new(METRIC_COUNTER, "portico_ws_dropped_messages_total",
		                       "messages dropped for slow clients (on_full = drop_oldest)");
	if (!m_closed_proto)
		m_closed_proto = metric_new(METRIC_COUNTER, "portico_ws_protocol_errors_total",
		                            "WebSocket connections closed for a protocol error");
}

/*
 * The socket's output. TLS: the bufferevent's. Cleartext: the connection
 * keeps no bufferevent (its 632 bytes and two buffers were a third of an
 * idle connection): frames go to the socket at once, and what the kernel
 * does not take waits in ws->out, made when needed and freed once written,
 * with a write event (ws->wev) armed only meanwhile.
 */
static size_t out_len(pt_ws *ws)
{
	if (!ws->c)
		return 0;
	if (ws->fd < 0)
		return evbuffer_get_length(bufferevent_get_output(ws->c->bev));
	return ws->out ? evbuffer_get_length(ws->out) : 0;
}

static void on_writable(evutil_socket_t fd, short what, void *arg);

/* (Re)starts the write event with the write timeout: no progress for that
 * long ends the connection. */
static void arm_write(pt_ws *ws)
{
	struct timeval tv;

	tv.tv_sec = (time_t)ws->write_timeout;
	tv.tv_usec = (suseconds_t)((ws->write_timeout - (float)tv.tv_sec) * 1e6f);
	event_add(ws->wev, &tv);
}

/* Appends to the output (after what is there). */
static void out_add(pt_ws *ws, const void *p, size_t n)
{
	if (!n)
		return;
	if (ws->fd < 0) {
		evbuffer_add(bufferevent_get_output(ws->c->bev), p, n);
		return;
	}
	if (!ws->out && !(ws->out = evbuffer_new()))
		return;   /* no memory: the frame is lost, the write timeout ends it */
	if (!ws->wev && !(ws->wev = event_new(ws->w->base, ws->fd, EV_WRITE | EV_PERSIST,
	                                      on_writable, ws)))
		return;
	evbuffer_add(ws->out, p, n);
	if (!event_pending(ws->wev, EV_WRITE, NULL))
		arm_write(ws);
}

/* Nothing more will be written: what is buffered is dropped. */
static void out_stop(pt_ws *ws)
{
	if (!ws->c)
		return;
	if (ws->fd < 0) {
		/* the output's start is the bufferevent's (frozen): stop writing */
		bufferevent_disable(ws->c->bev, EV_WRITE);
		return;
	}
	if (ws->wev)
		event_del(ws->wev);
	if (ws->out) {
		evbuffer_free(ws->out);
		ws->out = NULL;
	}
}

static void set_timer(pt_ws *ws, int phase, double secs)
{
	struct timeval tv = { (time_t)secs, (suseconds_t)((secs - (time_t)secs) * 1e6) };

	if (!ws->tmr && !(ws->tmr = evtimer_new(ws->w->base, tmr_cb, ws)))
		return;
	ws->tmr_phase = phase;
	if (phase == TP_NONE) {
		evtimer_del(ws->tmr);
		return;
	}
	evtimer_add(ws->tmr, &tv);
}

/* Runs later_cb from the loop soon. */
static void schedule(pt_ws *ws)
{
	if (!ws->later && !(ws->later = event_new(ws->w->base, -1, 0, later_cb, ws)))
		return;   /* no memory: the closing deadline timer ends it */
	event_active(ws->later, EV_TIMEOUT, 1);
}

static void queue_free(pt_ws *ws)
{
	while (ws->qh) {
		struct wsq *q = ws->qh;

		ws->qh = q->next;
		free(q);
	}
	ws->qt = NULL;
	ws->qbytes = 0;
}

static void ws_free(pt_ws *ws)
{
	if (ws->busy) {
		ws->dead = 1;
		return;
	}
	if (ws->rev)
		event_free(ws->rev);
	if (ws->wev)
		event_free(ws->wev);
	if (ws->out)
		evbuffer_free(ws->out);
	if (ws->own_in)
		evbuffer_free(ws->own_in);
	if (ws->fd >= 0)
		evutil_closesocket(ws->fd);
	if (ws->c) {
		metric_add(m_open, -1);
		conn_free(ws->c);
	}
	if (ws->tmr)
		event_free(ws->tmr);
	if (ws->later)
		event_free(ws->later);
	queue_free(ws);
	ws_reader_free(&ws->rd);
	if (ws->rd.inflate)
		ws_inflater_free(ws->rd.inflate);
	if (ws->defl)
		ws_deflater_free(ws->defl);
	gen_unref(ws->gen);
	if (ws->subproto_len)
		free(ws->subproto);
	free(ws->strs);
	free(ws->close_reason);
	free(ws);
}

static void tell(pt_ws *ws)
{
	if (ws->told)
		return;
	ws->told = 1;
	ws->busy++;
	if (ws->ops.on_close)
		ws->ops.on_close(ws, ws->close_code,
		                 (pt_str_t){ ws->close_reason ? ws->close_reason : "",
		                             ws->close_reason_len }, ws->ud);
	ws->busy--;
}

static void set_close(pt_ws *ws, unsigned code, const char *reason, size_t len)
{
	ws->close_code = (uint16_t)code;
	if (len > 123)
		len = 123;
	free(ws->close_reason);
	ws->close_reason = NULL;
	ws->close_reason_len = 0;
	if (len && (ws->close_reason = malloc(len + 1)) != NULL) {
		memcpy(ws->close_reason, reason, len);
		ws->close_reason[len] = '\0';
		ws->close_reason_len = (uint8_t)len;
	}
}

/* Writes one whole frame into the socket's output (control frames, and
 * data frames when nothing waits in the queue). */
/*
 * A frame's bytes toward the socket. Cleartext with nothing buffered: one
 * sendmsg() at once, and only what the kernel does not take is buffered.
 * Through the bufferevent every frame would cost two epoll_ctl calls (arm
 * and disarm EPOLLOUT) and a loop turn before its first byte left: a
 * publish to 10,000 connections then armed them all before any was sent.
 */
static void emit(pt_ws *ws, const unsigned char *head, size_t hl, const void *p, size_t len)
{
	size_t done = 0;

	if (ws->fd >= 0 && out_len(ws) == 0) {
		struct iovec iov[2] = { { (void *)head, hl }, { (void *)p, len } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
		ssize_t n = sendmsg(ws->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			done = (size_t)n;   /* an error shows again in on_writable's write */
		if (done == hl + len)
			return;
	}
	if (done < hl) {
		out_add(ws, head + done, hl - done);
		done = 0;
	} else {
		done -= hl;
	}
	if (len > done)
		out_add(ws, (const char *)p + done, len - done);
}

static void put_frame(pt_ws *ws, int op, int rsv1, const void *p, size_t len)
{
	unsigned char head[14];
	size_t hl = ws_frame_head(head, op, 1, rsv1, len);

	emit(ws, head, hl, p, len);
}

static void send_close_frame(pt_ws *ws, unsigned code, const char *reason, size_t len)
{
	unsigned char p[125];

	if (!ws->c)
		return;
	if (code == WS_CLOSE_NO_STATUS || code == WS_CLOSE_ABNORMAL || !code) {
		put_frame(ws, WS_OP_CLOSE, 0, NULL, 0);
		return;
	}
	if (len > 123)
		len = 123;
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	if (len)
		memcpy(p + 2, reason, len);
	put_frame(ws, WS_OP_CLOSE, 0, p, len + 2);
}

/* No more frames either way: the owner is told, the bytes already queued
 * toward the socket go out (DISCARD: they are dropped), then the end. */
static void end(pt_ws *ws, int discard)
{
	ws->state = WS_DONE;
	queue_free(ws);
	if (ws->c) {
		reading(ws, 0);
		if (discard) {
			ws->discard = 1;   /* free without waiting for the output */
			out_stop(ws);
		}
	}
	set_timer(ws, TP_CLOSE, CLOSE_WAIT_SECS);
	schedule(ws);
}

/* The connection is broken beyond a close frame: free it now-ish. */
static void lost(pt_ws *ws, unsigned code, const char *why)
{
	log_debug("ws", "%s: websocket %llu: the connection ends (%u%s%s)", ws_remote(ws),
	          (unsigned long long)ws->id, code, *why ? ": " : "", why);
	if (ws->state != WS_DONE || !ws->close_code)
		set_close(ws, code, why, strlen(why));
	end(ws, 1);
}

/* The client broke the protocol (or a limit): close with CODE, logged. */
static void fail(pt_ws *ws, unsigned code, const char *why)
{
	log_info("ws", "%s: websocket %llu: %s: closing with %u", ws_remote(ws),
	         (unsigned long long)ws->id, why, code);
	metric_add(m_closed_proto, 1);
	send_close_frame(ws, code, why, strlen(why));
	set_close(ws, code, why, strlen(why));
	end(ws, 0);
}

static void refill(pt_ws *ws)
{
	while (ws->qh && out_len(ws) < OUT_CHUNK) {
		struct wsq *q = ws->qh;

		emit(ws, q->data, q->len, NULL, 0);
		ws->qbytes -= q->len;
		ws->qh = q->next;
		if (!ws->qh)
			ws->qt = NULL;
		free(q);
	}
}

/* ---- reading ------------------------------------------------------------------ */

/* Reading on or off: our own event on cleartext, the bufferevent's on TLS. */
static void reading(pt_ws *ws, int on)
{
	if (ws->rev) {
		if (on)
			event_add(ws->rev, NULL);
		else
			event_del(ws->rev);
	} else if (!ws->c->bev) {
		/* cleartext that never got its read event (no memory): ending */
	} else if (on) {
		bufferevent_enable(ws->c->bev, EV_READ);
	} else {
		bufferevent_disable(ws->c->bev, EV_READ);
	}
}

static void read_off(pt_ws *ws, int off)
{
	if (!ws->c || ws->read_off == off)
		return;
	ws->read_off = (uint8_t)off;
	if (off)
		reading(ws, 0);
	else if (ws->state != WS_DONE)
		reading(ws, 1);
}

static void on_frame(pt_ws *ws, const struct ws_event *e)
{
	switch (e->ev) {
	case WS_EV_MESSAGE:
		if (ws->state == WS_OPEN && ws->ops.on_message)
			ws->ops.on_message(ws, e->data, e->len, e->op == WS_OP_BINARY, ws->ud);
		break;   /* after our close frame: discarded (RFC 6455 5.5.1) */
	case WS_EV_PING:
		if (ws->state == WS_OPEN)
			put_frame(ws, WS_OP_PONG, 0, e->data, e->len);
		break;
	case WS_EV_PONG:
		break;   /* any byte counts as alive (last_rx_us) */
	case WS_EV_CLOSE:
		if (ws->state == WS_OPEN) {
			/* echo the code (RFC 6455 5.5.1); the reason stays ours to give */
			send_close_frame(ws, e->code, NULL, 0);
			set_close(ws, e->code, e->data ? e->data : "", e->data ? e->len : 0);
		}
		end(ws, 0);
		break;
	case WS_EV_ERROR:
	default:
		fail(ws, e->code ? e->code : WS_CLOSE_PROTOCOL, e->why ? e->why : "protocol error");
		break;
	}
}

static size_t in_len(const pt_ws *ws)
{
	return ws->in ? evbuffer_get_length(ws->in) : 0;
}

/*
 * Parses P[0..N): a read into the thread's scratch (nothing was buffered
 * before it, so a connection keeps no input buffer between messages), or
 * the buffered input. Returns how many bytes are left unparsed (the
 * connection paused); the caller keeps them.
 */
static size_t process_bytes(pt_ws *ws, const unsigned char *p, size_t n)
{
	while (n && !ws->dead && ws->state != WS_DONE && !ws->paused) {
		struct ws_event e;
		size_t used = 0;

		memset(&e, 0, sizeof(e));
		ws_read(&ws->rd, p, n, &used, &e);
		if (e.ev != WS_EV_NEED)
			on_frame(ws, &e);
		else if (!used)
			break;
		p += used;
		n -= used;
	}
	return ws->dead || ws->state == WS_DONE ? 0 : n;
}

/* Parses what waits in ws->in: bytes kept while paused, what came with
 * the handover, or a TLS connection's input. */
static void process(pt_ws *ws)
{
	struct evbuffer *in = ws->in;
	unsigned char *p;
	size_t n;

	if (!ws->c || !in)
		return;
	ws->busy++;
	n = evbuffer_get_length(in);
	if (n && !ws->paused) {
		if ((p = evbuffer_pullup(in, (ssize_t)n)) != NULL)
			evbuffer_drain(in, n - process_bytes(ws, p, n));
		else
			lost(ws, WS_CLOSE_INTERNAL, "out of memory");
	}
	if (ws->paused && evbuffer_get_length(in) > ws->rd.max_message + 14)
		read_off(ws, 1);
	else if (ws->c && ws->state != WS_DONE && !ws->paused)
		read_off(ws, 0);
	if (ws->own_in && !evbuffer_get_length(ws->own_in)) {
		evbuffer_free(ws->own_in);   /* back to reading through the scratch */
		ws->own_in = ws->in = NULL;
	}
	ws->busy--;
	if (ws->dead)
		ws_free(ws);
}

/*
 * Cleartext: one recv() into the input buffer per readable event. The
 * bufferevent asks the kernel how much is readable (an ioctl) before every
 * read, one syscall per message more than needed (as h1_conn.c found).
 */
static __thread unsigned char rscratch[16384];

static void raw_read(evutil_socket_t fd, short what, void *arg)
{
	pt_ws *ws = arg;
	struct evbuffer_iovec v;
	ssize_t n;

	(void)what;
	if (!in_len(ws)) {
		size_t left;

		n = recv(fd, rscratch, sizeof(rscratch), 0);
		if (n > 0) {
			ws->last_rx_us = mono_us();
			ws->busy++;
			left = process_bytes(ws, rscratch, (size_t)n);
			if (left && ((!ws->in && !(ws->own_in = ws->in = evbuffer_new())) ||
			             evbuffer_add(ws->in, rscratch + (size_t)n - left, left) != 0))
				lost(ws, WS_CLOSE_INTERNAL, "out of memory");
			ws->busy--;
			if (ws->dead)
				ws_free(ws);
			else if (ws->paused && left > ws->rd.max_message + 14)
				read_off(ws, 1);
			return;
		}
	} else {
		if (evbuffer_reserve_space(ws->in, 16384, &v, 1) < 1) {
			lost(ws, WS_CLOSE_INTERNAL, "out of memory");
			return;
		}
		n = recv(fd, v.iov_base, v.iov_len, 0);
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(ws->in, &v, 1);
			ws->last_rx_us = mono_us();
			process(ws);
			return;
		}
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	lost(ws, WS_CLOSE_ABNORMAL, n == 0 ? "" : "connection lost");
}

static void on_read(struct bufferevent *bev, void *arg)
{
	pt_ws *ws = arg;

	(void)bev;
	ws->last_rx_us = mono_us();
	process(ws);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	pt_ws *ws = arg;

	(void)bev;
	if (ws->state != WS_DONE) {
		refill(ws);
		return;
	}
	if (ws->told && out_len(ws) == 0)
		ws_free(ws);
}

/* Cleartext: the socket takes more of ws->out. */
static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	pt_ws *ws = arg;
	int n;

	if (what & EV_TIMEOUT) {
		if (ws->state == WS_DONE) {
			ws->discard = 1;
			out_stop(ws);
			schedule(ws);
			return;
		}
		log_info("ws", "%s: websocket %llu: write timeout: closing", ws_remote(ws),
		         (unsigned long long)ws->id);
		lost(ws, WS_CLOSE_ABNORMAL, "write timeout");
		return;
	}
	n = ws->out ? evbuffer_write(ws->out, fd) : 0;
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		ws->discard = 1;
		out_stop(ws);
		if (ws->state == WS_DONE)
			schedule(ws);
		else
			lost(ws, WS_CLOSE_ABNORMAL, "connection lost");
		return;
	}
	if (out_len(ws) == 0)
		out_stop(ws);   /* written: no event, no buffer until the next time */
	else if (n > 0)
		arm_write(ws);   /* progress: the timeout starts again */
	if (ws->state != WS_DONE) {
		if (out_len(ws) < OUT_LOW)
			refill(ws);
		return;
	}
	if (ws->told && out_len(ws) == 0)
		ws_free(ws);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	pt_ws *ws = arg;

	(void)bev;
	if (ws->state == WS_DONE) {
		/* the last bytes will not go out: end now */
		ws->discard = 1;
		bufferevent_disable(ws->c->bev, EV_READ | EV_WRITE);
		schedule(ws);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("ws", "%s: websocket %llu: write timeout: closing", ws_remote(ws),
		         (unsigned long long)ws->id);
	lost(ws, WS_CLOSE_ABNORMAL, (what & BEV_EVENT_EOF) ? "" : "connection lost");
}

/* ---- timers and the deferred end ------------------------------------------------ */

static void tmr_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_ws *ws = arg;

	(void)fd;
	(void)what;
	switch (ws->tmr_phase) {
	case TP_IDLE:
		if (ws->state != WS_OPEN)
			return;
		ws->ping_sent_us = mono_us();
		put_frame(ws, WS_OP_PING, 0, NULL, 0);
		set_timer(ws, TP_PONG, ws->ping_timeout);
		return;
	case TP_PONG:
		if (ws->last_rx_us >= ws->ping_sent_us) {
			double left = ws->ping_interval - ws->ping_timeout;

			set_timer(ws, TP_IDLE, left > 0.001 ? left : 0.001);
			return;
		}
		log_info("ws", "%s: websocket %llu: silent for %gs after a ping: closing", ws_remote(ws),
		         (unsigned long long)ws->id, ws->ping_timeout);
		lost(ws, WS_CLOSE_ABNORMAL, "ping timeout");
		return;
	case TP_CLOSE:
		if (ws->state == WS_CLOSING) {
			/* the peer never answered our close frame */
			end(ws, 1);
			return;
		}
		/* done and the bytes are still not out: give up on them */
		tell(ws);
		ws_free(ws);
		return;
	default:
		return;
	}
}

static void later_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_ws *ws = arg;

	(void)fd;
	(void)what;
	if (ws->state != WS_DONE) {
		process(ws);   /* ws_pause(ws, 0) or bytes that came with the handover */
		return;
	}
	tell(ws);
	if (ws->dead || !ws->c || ws->discard || out_len(ws) == 0)
		ws_free(ws);
	/* else on_write frees it once the output is written (or TP_CLOSE fires) */
}

/* ---- the connection's conn_ops ------------------------------------------------------ */

static void ws_drain(struct conn *c)
{
	pt_ws *ws = c->impl;

	if (ws->state == WS_OPEN)
		ws_close(ws, WS_CLOSE_GOING_AWAY, (pt_str_t){ "server shutting down", 20 });
}

static void ws_abort(struct conn *c)
{
	pt_ws *ws = c->impl;

	if (!ws->close_code || ws->state != WS_DONE)
		set_close(ws, WS_CLOSE_GOING_AWAY, "server shutting down", 20);
	ws->state = WS_DONE;
	tell(ws);
	ws_free(ws);
}

static const struct conn_ops ws_conn_ops = { ws_drain, ws_abort };

/*
 * Cleartext: the socket leaves its bufferevent. What the bufferevent still
 * holds of the 101 moves to our output first. 0, or -1 (no memory: the
 * bufferevent stays and does the work, as on TLS).
 */
static int detach(pt_ws *ws, struct conn *c)
{
	struct evbuffer *bo = bufferevent_get_output(c->bev);
	size_t n = evbuffer_get_length(bo);
	char *tmp = NULL;

	if (n && (!(tmp = malloc(n)) || evbuffer_copyout(bo, tmp, n) != (ev_ssize_t)n)) {
		free(tmp);
		return -1;
	}
	ws->fd = bufferevent_getfd(c->bev);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setfd(c->bev, -1);   /* freed without closing the socket */
	bufferevent_free(c->bev);
	c->bev = NULL;
	out_add(ws, tmp, n);
	free(tmp);
	return 0;
}

int ws_conn_start(struct conn *c, pt_ws *ws, struct evbuffer *in)
{
	ws->own_in = in;   /* cleartext: what the client sent after its head */
	ws->in = in ? in : bufferevent_get_input(c->bev);
	metrics_init();
	ws->c = c;
	ws->accept_x = NULL;
	c->impl = ws;
	c->ops = &ws_conn_ops;
	c->proto = CONN_WS;
	metric_add(m_open, 1);
	if (ws->deflate && !(ws->rd.inflate = ws_inflater_new(&ws->pmd))) {
		lost(ws, WS_CLOSE_INTERNAL, "out of memory");
		return 0;
	}
	{
		/*
		 * The kernel's send buffer is a queue too, and autotuning grows it
		 * to megabytes for a client that does not read: bound it with
		 * queue_max, so that queue.max_bytes means what it says (a quarter
		 * of it, 16 KiB to 256 KiB; the kernel doubles the value).
		 */
		size_t q = ws->queue_max / 4;
		int sb = (int)(q < (16u << 10) ? (16u << 10) : q > (256u << 10) ? (256u << 10) : q);

		setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
	}
	ws->write_timeout = (float)ws->gen->cfg->http.write_timeout;
	if (ws->own_in) {
		/* cleartext (the HTTP/1.1 transport read it on its own too) */
		if (detach(ws, c) != 0 ||
		    !(ws->rev = event_new(c->w->base, ws->fd, EV_READ | EV_PERSIST, raw_read, ws))) {
			lost(ws, WS_CLOSE_INTERNAL, "out of memory");
			return 0;
		}
		event_add(ws->rev, NULL);
		if (!in_len(ws)) {
			/* reads go through the thread's scratch from now on */
			evbuffer_free(ws->own_in);
			ws->own_in = ws->in = NULL;
		}
	} else {
		bufferevent_setcb(c->bev, on_read, on_write, on_event, ws);
		bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW, 0);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	}
	ws->last_rx_us = mono_us();
	if (ws->state == WS_CLOSING)
		set_timer(ws, TP_CLOSE, CLOSE_WAIT_SECS);
	else if (ws->ping_interval > 0)
		set_timer(ws, TP_IDLE, ws->ping_interval);
	refill(ws);   /* what the owner sent before the handover */
	if (ws->state == WS_DONE || in_len(ws))
		schedule(ws);
	return 0;
}

void ws_unclaimed(pt_ws *ws)
{
	set_close(ws, WS_CLOSE_ABNORMAL, "the client left before the upgrade", 34);
	tell(ws);
	ws_free(ws);
}

/* ---- the pt_api members ---------------------------------------------------------------- */

static int enqueue(pt_ws *ws, const unsigned char *head, size_t hl, const void *p, size_t len)
{
	struct wsq *q = malloc(sizeof(*q) + hl + len);

	if (!q)
		return PT_ENOMEM;
	q->next = NULL;
	q->len = hl + len;
	memcpy(q->data, head, hl);
	if (len)
		memcpy(q->data + hl, p, len);
	if (ws->qt)
		ws->qt->next = q;
	else
		ws->qh = q;
	ws->qt = q;
	ws->qbytes += q->len;
	return 0;
}

static int overflow(pt_ws *ws, size_t need)
{
	if (ws->on_full == PT_WS_FULL_DROP_OLDEST) {
		while (ws->qh && out_len(ws) + ws->qbytes + need > ws->queue_max) {
			struct wsq *q = ws->qh;

			ws->qh = q->next;
			if (!ws->qh)
				ws->qt = NULL;
			ws->qbytes -= q->len;
			free(q);
			ws->dropped++;
			metric_add(m_dropped, 1);
		}
		if (out_len(ws) + ws->qbytes + need <= ws->queue_max)
			return 0;
		ws->dropped++;
		metric_add(m_dropped, 1);
		return 1;   /* the new message itself is dropped */
	}
	log_warn("ws", "%s: websocket %llu: the client reads too slowly (queue over %zu bytes): "
	         "closing with 1008", ws_remote(ws), (unsigned long long)ws->id, ws->queue_max);
	queue_free(ws);
	send_close_frame(ws, WS_CLOSE_POLICY, "client too slow", 15);
	set_close(ws, WS_CLOSE_POLICY, "client too slow", 15);
	end(ws, 0);
	return -1;
}

int ws_send(pt_ws *ws, const void *data, size_t len, int binary)
{
	unsigned char head[14], *z = NULL;
	const void *p = data;
	size_t hl, plen = len;
	int rsv1 = 0, rc = 0;

	if (!ws || ws->state != WS_OPEN)
		return PT_ESTATE;
	if (!binary && !ws_utf8_ok(data, len))
		return PT_EINVAL;
	if (ws->deflate && len >= 64) {
		if (!ws->defl && !(ws->defl = ws_deflater_new(&ws->pmd)))
			return PT_ENOMEM;
		if (ws_deflate(ws->defl, data, len, &z, &plen) != 0)
			return PT_ENOMEM;
		p = z;
		rsv1 = 1;
	}
	hl = ws_frame_head(head, binary ? WS_OP_BINARY : WS_OP_TEXT, 1, rsv1, plen);
	if (out_len(ws) + ws->qbytes + hl + plen > ws->queue_max) {
		int o = overflow(ws, hl + plen);

		if (o != 0) {
			free(z);
			return o < 0 ? PT_ELIMIT : 0;
		}
	}
	if (ws->c && !ws->qh && out_len(ws) < OUT_CHUNK) {
		emit(ws, head, hl, p, plen);
	} else {
		rc = enqueue(ws, head, hl, p, plen);
	}
	free(z);
	return rc;
}

int ws_close(pt_ws *ws, unsigned code, pt_str_t reason)
{
	if (!ws || ws->state != WS_OPEN)
		return PT_ESTATE;
	if (!code)
		code = WS_CLOSE_NORMAL;
	if (!ws_close_code_ok(code) || reason.len > 123 || !ws_utf8_ok(reason.ptr, reason.len))
		return PT_EINVAL;
	if (!ws->c) {
		/* before the handover: the close frame follows the 101 */
		unsigned char p[125], head[14];
		size_t hl;

		p[0] = (unsigned char)(code >> 8);
		p[1] = (unsigned char)code;
		if (reason.len)
			memcpy(p + 2, reason.ptr, reason.len);
		hl = ws_frame_head(head, WS_OP_CLOSE, 1, 0, reason.len + 2);
		if (enqueue(ws, head, hl, p, reason.len + 2) != 0)
			return PT_ENOMEM;
	} else {
		send_close_frame(ws, code, reason.ptr, reason.len);
	}
	set_close(ws, code, reason.ptr, reason.len);
	ws->state = WS_CLOSING;
	if (ws->c)
		set_timer(ws, TP_CLOSE, CLOSE_WAIT_SECS);
	return 0;
}

void ws_pause(pt_ws *ws, int paused)
{
	if (!ws || ws->paused == !!paused)
		return;
	ws->paused = !!paused;
	if (!paused && ws->c && ws->state != WS_DONE) {
		read_off(ws, 0);
		if (in_len(ws))
			schedule(ws);
	}
}

pt_str_t ws_subprotocol(pt_ws *ws)
{
	return (pt_str_t){ ws->subproto, ws->subproto_len };
}

uint64_t ws_id(pt_ws *ws)
{
	return ws->id;
}

pt_worker *ws_worker(pt_ws *ws)
{
	return ws->w;
}

pt_str_t ws_remote_addr(pt_ws *ws)
{
	return (pt_str_t){ ws_remote(ws), ws->remote_len };
}

pt_str_t ws_request_id(pt_ws *ws)
{
	return (pt_str_t){ ws_reqid(ws), ws->reqid_len };
}

size_t ws_queued(pt_ws *ws)
{
	return out_len(ws) + ws->qbytes;
}

struct lua_State *ws_lua(pt_ws *ws)
{
	return ws->L;
}
