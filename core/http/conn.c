/*
 * conn.c - accepted connections until they know their protocol.
 *
 * TLS: bufferevent_openssl does the handshake; ALPN "h2" goes to HTTP/2,
 * anything else (or no ALPN) to HTTP/1.1. Cleartext: the first bytes
 * decide: the HTTP/2 client preface means prior-knowledge h2c, anything
 * else is HTTP/1.1. The handshake and the first bytes must come within the
 * header timeout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "gen.h"
#include "log.h"
#include "worker.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(preface) - 1)

void conn_free(struct conn *c)
{
	worker_conn_remove(c->w, c);
	if (c->bev)
		bufferevent_free(c->bev);
	free(c);
}

static void detect_close(struct conn *c)
{
	conn_free(c);
}

/* Draining: a connection whose first bytes have not come yet. At a stop it
 * is closed; on a worker retired by a reload (the daemon goes on) its
 * client has just connected and is sending: it is served (h1 with
 * connection: close, h2 after a shutdown notice), or cut at the grace. */
static void detect_drain(struct conn *c)
{
	if (!c->w->retiring)
		detect_close(c);
}

static const struct conn_ops detect_ops = { detect_drain, detect_close };

void conn_drain(struct conn *c)
{
	c->ops->drain(c);
}

void conn_abort(struct conn *c)
{
	c->ops->abort(c);
}

static void start_proto(struct conn *c, int proto)
{
	int rc;

	c->proto = proto;
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	rc = proto == CONN_H2 ? h2_conn_start(c) : h1_conn_start(c);
	if (rc != 0)
		conn_free(c);
}

static void detect_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	unsigned char buf[PREFACE_LEN];

	if (!__atomic_load_n(&c->li->http2, __ATOMIC_ACQUIRE)) {
		start_proto(c, CONN_H1);
		return;
	}
	if (n > PREFACE_LEN)
		n = PREFACE_LEN;
	evbuffer_copyout(in, buf, n);
	if (memcmp(buf, preface, n) != 0)
		start_proto(c, CONN_H1);
	else if (n == PREFACE_LEN)
		start_proto(c, CONN_H2);
	/* else: a prefix of the preface; wait for more */
}

static void detect_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake done: ALPN decides */
		const unsigned char *alpn = NULL;
		unsigned alen = 0;
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

		SSL_get0_alpn_selected(ssl, &alpn, &alen);
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		start_proto(c, alen == 2 && memcmp(alpn, "h2", 2) == 0 ? CONN_H2 : CONN_H1);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("http", "%s: closed: nothing received within the header timeout", c->remote);
	else if ((what & BEV_EVENT_ERROR) && c->tls)
		log_debug("http", "%s: TLS handshake failed", c->remote);
	conn_free(c);
}

void conn_accept(pt_worker *w, const struct listener_info *li, int fd, struct sockaddr *sa,
                 int socklen)
{
	const struct http_conf *hc = &w->gen->cfg->http;
	struct timeval tmo = { (time_t)hc->header_timeout,
	                       (suseconds_t)((hc->header_timeout - (time_t)hc->header_timeout) * 1e6) };
	struct conn *c = calloc(1, sizeof(*c));
	char ip[INET6_ADDRSTRLEN] = "?";
	int one = 1, port = 0;

	(void)socklen;
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
	}
	c->remote_len = (size_t)snprintf(c->remote, sizeof(c->remote),
	                                 sa->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evutil_make_socket_nonblocking(fd);
	c->w = w;
	c->li = li;
	c->ops = &detect_ops;
	SSL_CTX *ctx = __atomic_load_n(&li->ssl, __ATOMIC_ACQUIRE);   /* a reload swaps it */

	if (ctx) {
		SSL *ssl = SSL_new(ctx);

		c->tls = 1;
		c->bev = ssl ? bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		                                              BEV_OPT_CLOSE_ON_FREE) : NULL;
		if (c->bev)
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
		else if (ssl)
			SSL_free(ssl);
	} else {
		c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!c->bev) {
		log_error("http", "%s: cannot set up the connection", c->remote);
		evutil_closesocket(fd);
		free(c);
		return;
	}
	worker_conn_add(w, c);
	bufferevent_setcb(c->bev, detect_read, NULL, detect_event, c);
	bufferevent_set_timeouts(c->bev, &tmo, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}
