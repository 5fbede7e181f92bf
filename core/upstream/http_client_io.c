/*
 * http_client_io.c - the outbound client's own socket I/O for cleartext
 * connections (see http_client.c for the shape, and why below), and the
 * write callback of TLS ones, which keep their bufferevent_openssl.
 */
#include "http_client_priv.h"

#include <errno.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

/* Formats SS as "ip:port" ("[v6]:port") into BUF. */
void hc_peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
	} else {
		buf[0] = '\0';
	}
}

/* ---------------------------------------------------------------- cleartext I/O */

/*
 * Cleartext connections do their own I/O once connected, as the server
 * side does (h1_conn.c): one recv() per read event into CONN->in, and
 * writes straight from CONN->out with writev as soon as there is something
 * to send, arming EPOLLOUT only while the kernel takes less than that. A
 * bufferevent asks the kernel how much is readable before every read
 * (ioctl FIONREAD) and waits for EPOLLOUT before every write. TLS keeps
 * its bufferevent_openssl.
 */

/* Writes what CONN->out holds; a failure is reported by the read side. */
static void raw_write(struct conn *conn)
{
	size_t len = evbuffer_get_length(conn->out);

	if (len && !conn->write_failed) {
		int n = evbuffer_write(conn->out, conn->fd);

		if (n > 0 && conn->call && conn->call->st)
			conn->call->last_us = now_us();
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			/* the response may still be readable (an early answer):
			 * the read side finds out what happened */
			conn->write_failed = 1;
			event_active(conn->rev, EV_READ, 0);
		}
		len = evbuffer_get_length(conn->out);
	}
	if (len && !conn->write_failed && !conn->wev_on) {
		/* the send timeout runs while the kernel takes nothing more */
		struct timeval tv = tv_of(conn->send_timeout);

		event_add(conn->wev, conn->send_timeout > 0 ? &tv : NULL);
		conn->wev_on = 1;
	} else if ((!len || conn->write_failed) && conn->wev_on) {
		event_del(conn->wev);
		conn->wev_on = 0;
	}
}

/* CONN->out has new bytes: send them now unless EPOLLOUT is awaited. */
void hc_conn_send(struct conn *conn)
{
	if (conn->fd < 0 || conn->wev_on)
		return;	/* TLS (its bufferevent writes), still connecting, or waiting */
	raw_write(conn);
}

/* After a write event: a streaming call (or an h2 session) waiting for room
 * hears of it. */
static void conn_drained(struct conn *conn)
{
	struct http_client_call *call = conn->is_h2 ? NULL : conn->call;

	if (conn->is_h2 && conn->blocked && evbuffer_get_length(conn->out) < HTTP_CLIENT_OUT_LOW)
		hc_h2_kick(conn);	/* nghttp2 has more to send */
	if (call && call->drain_armed && evbuffer_get_length(conn->out) < HTTP_CLIENT_OUT_LOW) {
		call->drain_armed = 0;
		if (call->st->drain)
			call->st->drain(call->ud);
	}
}

static void raw_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	if (what & EV_TIMEOUT) {
		hc_conn_lost(arg, BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT);
		return;
	}
	raw_write(arg);
	conn_drained(arg);
}

/* TLS: the bufferevent's output fell under its low-water mark. */
void hc_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *conn = arg;

	(void)bev;
	if (conn->call && conn->call->st)
		conn->call->last_us = now_us();
	conn_drained(conn);
}

static __thread char scratch[16384];

static void raw_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *conn = arg;
	struct evbuffer_iovec v;
	ssize_t n;

	(void)what;
	if (conn->last_read < sizeof(scratch)) {
		/*
		 * Small answers: recv into a scratch buffer and copy what came
		 * into a chain of its size. Reserving 16 KiB in the evbuffer
		 * costs a large malloc and free per response; a small chain
		 * comes from malloc's thread cache.
		 */
		n = recv(fd, scratch, sizeof(scratch), 0);
		if (n > 0) {
			conn->last_read = (size_t)n;
			if (evbuffer_add(conn->in, scratch, (size_t)n) != 0) {
				hc_conn_lost(conn, BEV_EVENT_ERROR);
				return;
			}
			hc_conn_input(conn);
			return;
		}
	} else {
		/* bulk bodies: read into the evbuffer itself, 64 KiB at a time,
		 * so the bytes move on to the client without a copy */
		if (evbuffer_reserve_space(conn->in, 65536, &v, 1) < 1) {
			hc_conn_lost(conn, BEV_EVENT_ERROR);
			return;
		}
		n = recv(fd, v.iov_base, v.iov_len, 0);
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(conn->in, &v, 1);
			/* stay in bulk mode while reads stay large */
			conn->last_read = (size_t)n >= 8192 ? sizeof(scratch) : (size_t)n;
			hc_conn_input(conn);
			return;
		}
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		if (conn->write_failed)
			hc_conn_lost(conn, BEV_EVENT_WRITING | BEV_EVENT_ERROR);
		else if (evbuffer_get_length(conn->in))
			hc_conn_input(conn);	/* woken to go on with what is buffered */
		return;
	}
	hc_conn_lost(conn, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR));
}

/*
 * The bufferevent connected CONN's socket: take the socket from it. Bytes
 * it may have read already move to our input; what the call queued in
 * CONN->out goes now. Returns 0, or -1 (the bufferevent still owns the
 * socket; hc_conn_free closes it).
 */
int hc_conn_raw_start(struct conn *conn)
{
	struct bufferevent *bev = conn->bev;
	struct event_base *base = conn->client->base;
	evutil_socket_t fd = bufferevent_getfd(bev);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1;

	if (fd < 0 || !(conn->in = evbuffer_new()) ||
	    !(conn->rev = event_new(base, fd, EV_READ | EV_PERSIST, raw_read_cb, conn)) ||
	    !(conn->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, raw_write_cb, conn)))
		return -1;
	evbuffer_add_buffer(conn->in, bufferevent_get_input(bev));
	bufferevent_setfd(bev, -1);	/* it no longer closes FD */
	bufferevent_free(bev);
	conn->bev = NULL;
	conn->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		hc_peer_name(&ss, conn->peer, sizeof(conn->peer));
	event_add(conn->rev, NULL);
	raw_write(conn);
	return 0;
}

/*
 * Arm CONN's write-progress timeout. A bufferevent (TLS) runs it only while
 * output waits; cleartext puts it on the write event, armed only then too.
 */
void hc_conn_send_timeout(struct conn *conn)
{
	struct timeval tv = tv_of(conn->send_timeout);

	if (conn->bev)
		bufferevent_set_timeouts(conn->bev, NULL, conn->send_timeout > 0 ? &tv : NULL);
}
