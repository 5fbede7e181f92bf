/*
 * http_client.c - the outbound HTTP client of one worker. See http_client.h.
 *
 * Shape: a client owns pools keyed by "scheme://host:port" (plus "|i" for
 * unverified TLS, so an insecure connection never serves a verified request).
 * A pool holds a LIFO of idle HTTP/1.1 connections and at most one HTTP/2
 * connection that new h2 requests multiplex onto.
 *
 * A call owns its copied request, a deadline timer and the response it
 * collects. Every answer goes through hc_call_deliver(), which unlinks the call
 * from everything before running the user's callback and frees it after, so
 * the callback may start or cancel other calls. Bufferevents are made with
 * BEV_OPT_DEFER_CALLBACKS and errors found while starting a call are reported
 * from a zero timer, so no callback ever runs inside http_client_request().
 *
 * HTTP/2 callbacks from nghttp2 never call user code: finished streams are
 * queued on the connection's done list and delivered after nghttp2 returns
 * (h2_work), which also flushes frames and closes a dead connection.
 *
 * Writes can raise SIGPIPE on a peer that closed: the process must ignore
 * SIGPIPE (the worker does).
 *
 * The code, by idea (http_client_priv.h holds what the files share):
 *   http_client.c      calls, pools and connections, their events, the API;
 *   http_client_req.c  the URL and the request, checked and copied;
 *   http_client_io.c   the reads and writes of cleartext connections;
 *   http_client_h1.c   HTTP/1.1: the request on the wire, the response read
 *                      into the call or streamed to the caller;
 *   http_client_h2.c   HTTP/2 on nghttp2: sessions, streams, the done list.
 */
#include "http_client_priv.h"
#include "h1_parser.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/x509v3.h>

#define DEF_MAX_IDLE 64
#define DEF_IDLE_TIMEOUT 60.0
#define DEF_MAX_RESPONSE (8u << 20)
#define DEF_MAX_HEADER (64u << 10)
#define DEF_CONNECT_TIMEOUT 5.0
#define DEF_TIMEOUT 30.0

/* Calls kept for reuse, with their timer, body buffer and string block: a
 * proxied request then allocates almost nothing here. */
#define CALL_CACHE 64

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);

/* ---------------------------------------------------------------- calls */

/* Append a pair to the field list *V (*N pairs of *CAP), copied, the name
 * lower-cased; *BYTES grows as for the head's limit. */
static int fields_add(pt_str_t **v, unsigned *n, unsigned *cap, size_t *bytes,
                      const char *nm, size_t nl, const char *val, size_t vl)
{
	char *s;
	size_t i;

	if (*n == *cap) {
		unsigned c2 = *cap ? *cap * 2 : 16;
		pt_str_t *nv = realloc(*v, (size_t)c2 * 2 * sizeof(*nv));

		if (!nv)
			return PT_ENOMEM;
		*v = nv;
		*cap = c2;
	}
	s = malloc(nl + vl + 2);
	if (!s)
		return PT_ENOMEM;
	for (i = 0; i < nl; i++)
		s[i] = (char)tolower((unsigned char)nm[i]);
	s[nl] = '\0';
	if (vl)
		memcpy(s + nl + 1, val, vl);
	s[nl + 1 + vl] = '\0';
	(*v)[*n * 2] = (pt_str_t){ s, nl };
	(*v)[*n * 2 + 1] = (pt_str_t){ s + nl + 1, vl };
	(*n)++;
	*bytes += nl + vl + 4;
	return 0;
}

/* Append a response header pair to CALL (copied, name lower-cased). */
int hc_resp_header_add(struct http_client_call *call, const char *n, size_t nl,
                       const char *v, size_t vl)
{
	return fields_add(&call->rh, &call->nrh, &call->caprh, &call->rh_bytes, n, nl, v, vl);
}

int hc_resp_trailer_add(struct http_client_call *call, const char *n, size_t nl,
                        const char *v, size_t vl)
{
	if (call->nrt >= HC_MAX_FIELDS ||
	    call->rt_bytes + nl + vl + 4 > call->owner->max_header)
		return PT_ELIMIT;
	return fields_add(&call->rt, &call->nrt, &call->caprt, &call->rt_bytes, n, nl, v, vl);
}

/* Drop CALL's response trailers (the array too: few responses have any). */
static void trailers_clear(struct http_client_call *call)
{
	for (unsigned i = 0; i < call->nrt; i++)
		free((char *)call->rt[i * 2].ptr);
	free(call->rt);
	call->rt = NULL;
	call->nrt = call->caprt = 0;
	call->rt_bytes = 0;
}

int hc_resp_trailers_give(struct http_client_call *call)
{
	if (!call->nrt || !call->st->trailers)
		return 0;
	return call->st->trailers(call->rt, call->nrt, call->ud);
}

void hc_resp_headers_clear(struct http_client_call *call)
{
	unsigned i;

	for (i = 0; i < call->nrh; i++)
		free((char *)call->rh[i * 2].ptr);
	call->nrh = 0;
	call->rh_bytes = 0;
	trailers_clear(call);
}

/* Free CALL and everything it owns (or keep it for reuse); it must be
 * unlinked already. */
static void call_free(struct http_client_call *call)
{
	struct http_client *c = call->owner;

	hc_resp_headers_clear(call);
	free(call->body);
	free(call->trailers);
	if (call->replay)
		evbuffer_free(call->replay);
	if (call->h2_body)
		evbuffer_free(call->h2_body);
	if (c && c->ncache < CALL_CACHE && call->timer && call->body_buf) {
		struct event *timer = call->timer;
		struct evbuffer *bb = call->body_buf;
		char *blk = call->blk;
		size_t cap = call->blk_cap;
		pt_str_t *rh = call->rh;
		unsigned caprh = call->caprh;

		evbuffer_drain(bb, evbuffer_get_length(bb));
		memset(call, 0, sizeof(*call));
		call->timer = timer;
		call->body_buf = bb;
		call->blk = blk;
		call->blk_cap = cap;
		call->rh = rh;
		call->caprh = caprh;
		call->owner = c;
		call->next_free = c->cache;
		c->cache = call;
		c->ncache++;
		return;
	}
	if (call->timer)
		event_free(call->timer);
	free(call->rh);
	if (call->body_buf)
		evbuffer_free(call->body_buf);
	free(call->blk);
	free(call);
}

/* Unlink CALL from its connection (left open) and the connection's lists. */
void hc_call_unbind(struct http_client_call *call)
{
	struct conn *conn = call->conn;

	if (call->q) {
		TAILQ_REMOVE(call->q, call, qlink);
		call->q = NULL;
	}
	if (conn) {
		if (conn->peer[0] && !call->peer[0])
			memcpy(call->peer, conn->peer, sizeof(call->peer));
		if (!conn->is_h2 && conn->call == call)
			conn->call = NULL;
		if (conn->is_h2 && conn->ng && call->stream_id > 0)
			nghttp2_session_set_stream_user_data(conn->ng, call->stream_id, NULL);
		call->conn = NULL;
	}
}

/* Unlink CALL from everything: client, timer, connection. */
static void call_detach(struct http_client_call *call)
{
	hc_call_unbind(call);
	if (call->client) {
		TAILQ_REMOVE(&call->client->calls, call, link);
		call->client = NULL;
	}
	if (call->timer)
		event_del(call->timer);
}

/* Report the deferred error STATUS for CALL from its timer, on the loop. */
void hc_call_fail_later(struct http_client_call *call, int status, const char *err)
{
	static const struct timeval zero = { 0, 0 };

	hc_call_unbind(call);
	call->pending_status = status;
	call->pending_error = err;
	evtimer_add(call->timer, &zero);
}

/*
 * Answer CALL with STATUS (an HTTP status or a negative PT_E*) and free it.
 * The call is unlinked first, so the callback may use the client freely.
 */
void hc_call_deliver(struct http_client_call *call, int status, const char *err)
{
	struct http_client_res res;

	if (call->starting) {
		hc_call_fail_later(call, status, err);
		return;
	}
	call_detach(call);
	memset(&res, 0, sizeof(res));
	res.status = status;
	res.error = status < 0 ? (err ? err : "request failed") : NULL;
	res.content_length = -1;
	if (status >= 0 && call->st) {
		res.http_version = call->version;	/* head and body went to st */
		res.content_length = call->resp_clen;
	} else if (status >= 0) {
		res.headers = call->rh;
		res.num_headers = call->nrh;
		res.trailers = call->rt;
		res.num_trailers = call->nrt;
		res.http_version = call->version;
		if (call->body_buf && evbuffer_get_length(call->body_buf)) {
			res.body.len = evbuffer_get_length(call->body_buf);
			res.body.ptr = (const char *)evbuffer_pullup(call->body_buf, -1);
		}
		res.content_length = (int64_t)res.body.len;
	}
	res.reused = call->reused;
	res.peer = call->peer[0] ? call->peer : NULL;
	call->cb(&res, call->ud);
	call_free(call);
}

/* Drop CALL's connection state without answering: h1 closes, h2 resets. */
static void call_abandon(struct http_client_call *call)
{
	struct conn *conn = call->conn;

	if (!conn)
		return;
	if (!conn->is_h2) {
		hc_call_unbind(call);
		hc_conn_free(conn);
		return;
	}
	if (call->stream_id > 0 && conn->ng && call->q == &conn->active && !call->h2_closed) {
		nghttp2_submit_rst_stream(conn->ng, NGHTTP2_FLAG_NONE, call->stream_id,
		                          NGHTTP2_CANCEL);
		hc_h2_kick(conn);
	}
	hc_call_unbind(call);
}

static void call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_client_call *call = arg;

	(void)fd;
	(void)what;
	if (call->pending_status) {
		hc_call_deliver(call, call->pending_status, call->pending_error);
		return;
	}
	if (call->st) {
		/* streaming: a silence timeout, not a deadline. Waiting on our own
		 * caller (paused, or no request bytes to send) is not the server's */
		uint64_t now = now_us(), idle = (uint64_t)(call->idle * 1e6);
		int ours = call->paused || (call->body_more && (!call->conn ||
		           evbuffer_get_length(call->h2_body ? call->h2_body : call->conn->out) == 0));
		struct timeval tv;

		if (ours || now - call->last_us < idle) {
			tv = tv_of(ours ? call->idle : (double)(idle - (now - call->last_us)) / 1e6);
			if (ours)
				call->last_us = now;
			evtimer_add(call->timer, &tv);
			return;
		}
	}
	call_abandon(call);
	hc_call_deliver(call, PT_ETIMEDOUT, "request timed out");
}

/* ---------------------------------------------------------------- pools and connections */

struct pool *hc_pool_get(struct http_client *c, const char *key)
{
	struct pool *p;

	for (p = c->pools; p; p = p->next)
		if (!strcmp(p->key, key))
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->key = strdup(key);
	if (!p->key) {
		free(p);
		return NULL;
	}
	TAILQ_INIT(&p->idle);
	p->next = c->pools;
	c->pools = p;
	return p;
}

/* Close CONN; a call it serves must have been detached (h1) or moved (h2). */
void hc_conn_free(struct conn *conn)
{
	struct pool *p = conn->pool;

	if (conn->idle) {
		TAILQ_REMOVE(&p->idle, conn, idle_link);
		p->nidle--;
		conn->idle = 0;
	}
	if (p && p->h2 == conn)
		p->h2 = NULL;
	if (conn->call)
		conn->call->conn = NULL;
	TAILQ_REMOVE(&conn->client->conns, conn, all);
	if (conn->timer)
		event_free(conn->timer);
	if (conn->work)
		event_free(conn->work);
	if (conn->ng)
		nghttp2_session_del(conn->ng);
	if (conn->rev)
		event_free(conn->rev);
	if (conn->wev)
		event_free(conn->wev);
	if (conn->fd >= 0)
		evutil_closesocket(conn->fd);
	if (conn->bev)
		bufferevent_free(conn->bev);
	if (!conn->tls && conn->in)
		evbuffer_free(conn->in);
	if (!conn->tls && conn->out)
		evbuffer_free(conn->out);
	free(conn);
}

/* Open a connection for CALL's pool P (TLS when https, ALPN h2 when H2). */
struct conn *hc_conn_open(struct http_client *c, struct pool *p,
                                 struct http_client_call *call, int h2)
{
	struct conn *conn = calloc(1, sizeof(*conn));
	int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct timeval tv = tv_of(call->connect_timeout);

	if (!conn)
		return NULL;
	conn->client = c;
	conn->pool = p;
	conn->fd = -1;
	conn->send_timeout = call->send_timeout;
	TAILQ_INIT(&conn->waiting);
	TAILQ_INIT(&conn->active);
	TAILQ_INIT(&conn->done);
	TAILQ_INSERT_TAIL(&c->conns, conn, all);
	conn->timer = evtimer_new(c->base, conn_timer_cb, conn);
	if (!conn->timer)
		goto fail;
	if (call->https) {
		SSL *ssl = SSL_new(c->tls);
		unsigned char ip[16];
		int is_ip;

		if (!ssl)
			goto fail;
		is_ip = evutil_inet_pton(AF_INET, call->host, ip) == 1 ||
		        evutil_inet_pton(AF_INET6, call->host, ip) == 1;
		if (!is_ip)
			SSL_set_tlsext_host_name(ssl, call->host);
		if (call->insecure) {
			SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		} else {
			X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

			SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
			X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if (is_ip ? !X509_VERIFY_PARAM_set1_ip_asc(vp, call->host)
			          : !X509_VERIFY_PARAM_set1_host(vp, call->host, 0)) {
				SSL_free(ssl);
				goto fail;
			}
		}
		if (h2)
			SSL_set_alpn_protos(ssl, (const unsigned char *)"\x02h2\x08http/1.1", 12);
		conn->bev = bufferevent_openssl_socket_new(c->base, -1, ssl,
		                                           BUFFEREVENT_SSL_CONNECTING, opts);
		if (!conn->bev) {
			SSL_free(ssl);
			goto fail;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(conn->bev, 1);
		conn->tls = 1;
		conn->in = bufferevent_get_input(conn->bev);
		conn->out = bufferevent_get_output(conn->bev);
	} else {
		/* the bufferevent only connects (names through evdns), then
		 * hc_conn_raw_start takes the socket from it */
		conn->bev = bufferevent_socket_new(c->base, -1, opts);
		conn->out = evbuffer_new();
		if (!conn->bev || !conn->out)
			goto fail;
	}
	bufferevent_setcb(conn->bev, conn_read_cb, conn->tls ? hc_conn_write_cb : NULL,
	                  conn_event_cb, conn);
	if (conn->tls)
		bufferevent_setwatermark(conn->bev, EV_WRITE, HTTP_CLIENT_OUT_LOW, 0);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	evtimer_add(conn->timer, &tv);
	if (bufferevent_socket_connect_hostname(conn->bev, c->dns, AF_UNSPEC, call->host,
	                                        (int)call->port) < 0)
		goto fail;
	return conn;
fail:
	hc_conn_free(conn);
	return NULL;
}

/* Park CONN in its pool after a clean response, or close it if the pool is full. */
void hc_conn_idle(struct conn *conn)
{
	struct pool *p = conn->pool;
	struct timeval tv = tv_of(conn->client->idle_timeout);

	if (p->nidle >= (p->max_idle ? p->max_idle : conn->client->max_idle)) {
		hc_conn_free(conn);
		return;
	}
	conn->idle = 1;
	conn->reused = 1;
	TAILQ_INSERT_HEAD(&p->idle, conn, idle_link);
	p->nidle++;
	/* the idle timer stays armed while the connection serves calls and
	 * checks when it fires: no timer heap work per request */
	conn->idle_since = now_us();
	if (!evtimer_pending(conn->timer, NULL))
		evtimer_add(conn->timer, &tv);
}

/* A static message for a connection that failed with WHAT before/after connecting. */
static const char *conn_error(struct conn *conn, short what)
{
	if (!conn->connected) {
		if (bufferevent_socket_get_dns_error(conn->bev))
			return "DNS lookup failed";
		if (conn->tls) {
			SSL *ssl = bufferevent_openssl_get_ssl(conn->bev);

			if (ssl && SSL_get_verify_result(ssl) != X509_V_OK)
				return "TLS certificate verification failed";
			if (bufferevent_get_openssl_error(conn->bev))
				return "TLS handshake failed";
		}
		/* errno as libevent left it for the failed connect (SO_ERROR);
		 * anything else keeps the general words */
		switch (conn->connect_errno) {
		case ECONNREFUSED:
			return "connection refused";
		case EHOSTUNREACH:
			return "host unreachable";
		case ENETUNREACH:
			return "network unreachable";
		case ETIMEDOUT:
			return "connect timed out";
		default:
			return "connect failed";
		}
	}
	if (what & BEV_EVENT_EOF)
		return "connection closed by upstream";
	return "connection reset";
}

/* ---------------------------------------------------------------- connection events */

/* What CONN's input holds is for its call(s). */
void hc_conn_input(struct conn *conn)
{
	if (conn->is_h2) {
		hc_h2_read(conn, conn->in);
		return;
	}
	if (!conn->call) {
		/* bytes on an idle connection: the server is confused; drop it */
		hc_conn_free(conn);
		return;
	}
	hc_h1_read(conn, conn->in);
}

/* CONN ended with WHAT (BEV_EVENT_EOF, _ERROR, ...): fail or complete its call(s). */
void hc_conn_lost(struct conn *conn, short what)
{
	struct http_client_call *call = conn->call;

	if (what & BEV_EVENT_TIMEOUT) {
		if (conn->is_h2)
			hc_h2_close(conn, PT_ETIMEDOUT, "send timed out", NULL);
		else if (call)
			hc_h1_fail(conn, PT_ETIMEDOUT, "send timed out");
		else
			hc_conn_free(conn);
		return;
	}
	if (conn->is_h2) {
		hc_h2_close(conn, PT_EIO, conn_error(conn, what), (what & BEV_EVENT_EOF) ?
		            "connection closed before the response was complete" : NULL);
		return;
	}
	if (!call) {
		hc_conn_free(conn);	/* idle connection closed by the server */
		return;
	}
	if ((what & BEV_EVENT_EOF) && call->head_done && call->framing == H1_RESP_BODY_CLOSE) {
		hc_h1_complete(conn);
		return;
	}
	if ((what & BEV_EVENT_EOF) && call->head_done)
		hc_h1_fail(conn, PT_EIO, "connection closed before the response was complete");
	else
		hc_h1_fail(conn, PT_EIO, conn_error(conn, what));
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	hc_conn_input(arg);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *conn = arg;

	(void)bev;
	if (!conn->connected && !(what & BEV_EVENT_CONNECTED))
		conn->connect_errno = errno;
	if (what & BEV_EVENT_CONNECTED) {
		conn->connected = 1;
		event_del(conn->timer);
		if (!conn->tls && hc_conn_raw_start(conn) < 0) {
			hc_conn_lost(conn, BEV_EVENT_ERROR);
			return;
		}
		hc_conn_send_timeout(conn);
		if (conn->tls) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);

			if (getpeername(bufferevent_getfd(conn->bev), (struct sockaddr *)&ss, &sl) == 0)
				hc_peer_name(&ss, conn->peer, sizeof(conn->peer));
		}
		if (conn->is_h2)
			hc_h2_connected(conn);
		return;
	}
	hc_conn_lost(conn, what);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *conn = arg;

	(void)fd;
	(void)what;
	if (!conn->connected) {
		if (conn->is_h2)
			hc_h2_close(conn, PT_ETIMEDOUT, "connect timed out", NULL);
		else if (conn->call)
			hc_h1_fail(conn, PT_ETIMEDOUT, "connect timed out");
		else
			hc_conn_free(conn);
		return;
	}
	if (conn->is_h2) {
		if (TAILQ_EMPTY(&conn->active) && TAILQ_EMPTY(&conn->waiting))
			hc_h2_close(conn, PT_EIO, "idle", NULL);
		return;
	}
	if (conn->idle) {
		uint64_t idle = (uint64_t)(conn->client->idle_timeout * 1e6), now = now_us();

		if (now - conn->idle_since + 5000 >= idle) {
			hc_conn_free(conn);	/* idle too long */
		} else {
			struct timeval tv = tv_of((double)(idle - (now - conn->idle_since)) / 1e6);

			evtimer_add(conn->timer, &tv);
		}
	}
}

/* ---------------------------------------------------------------- public API */

struct http_client *http_client_new(struct event_base *base, const struct http_client_opts *o)
{
	struct http_client *c;
	struct http_client_opts d;

	if (!base)
		return NULL;
	memset(&d, 0, sizeof(d));
	if (o)
		memcpy(&d, o, o->size && o->size < sizeof(d) ? o->size : sizeof(d));
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->base = base;
	c->max_idle = d.max_idle_per_host ? d.max_idle_per_host : DEF_MAX_IDLE;
	c->idle_timeout = d.idle_timeout > 0 ? d.idle_timeout : DEF_IDLE_TIMEOUT;
	c->max_body = d.max_response_bytes ? d.max_response_bytes : DEF_MAX_RESPONSE;
	c->max_header = d.max_header_bytes ? d.max_header_bytes : DEF_MAX_HEADER;
	TAILQ_INIT(&c->calls);
	TAILQ_INIT(&c->conns);
	if (d.tls) {
		c->tls = d.tls;
	} else {
		c->tls = SSL_CTX_new(TLS_client_method());
		if (!c->tls)
			goto fail;
		c->own_tls = 1;
		SSL_CTX_set_min_proto_version(c->tls, TLS1_2_VERSION);
		SSL_CTX_set_verify(c->tls, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_set_default_verify_paths(c->tls) != 1)
			goto fail;
	}
	/* nameserver sockets only while lookups run, so the loop can exit */
	c->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	                                  EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!c->dns) {
		/* no usable resolv.conf: literals and /etc/hosts still work */
		c->dns = evdns_base_new(base, 0);
		if (!c->dns)
			goto fail;
		evdns_base_load_hosts(c->dns, NULL);
	}
	return c;
fail:
	if (c->own_tls && c->tls)
		SSL_CTX_free(c->tls);
	free(c);
	return NULL;
}

void http_client_free(struct http_client *c)
{
	struct http_client_call *call;
	struct conn *conn;
	struct pool *p;

	if (!c)
		return;
	while ((call = TAILQ_FIRST(&c->calls))) {
		call_detach(call);
		call->owner = NULL;	/* not into the cache: it goes too */
		call_free(call);
	}
	while ((call = c->cache)) {
		c->cache = call->next_free;
		call->owner = NULL;
		call_free(call);
	}
	while ((conn = TAILQ_FIRST(&c->conns)))
		hc_conn_free(conn);
	while ((p = c->pools)) {
		c->pools = p->next;
		free(p->key);
		free(p);
	}
	evdns_base_free(c->dns, 0);
	if (c->own_tls)
		SSL_CTX_free(c->tls);
	free(c);
}

static int trailers_copy(struct http_client_call *call, const pt_str_t *pairs, unsigned n);

struct http_client_call *http_client_request(struct http_client *c,
                                             const struct http_client_req *req,
                                             http_client_cb cb, void *ud)
{
	struct http_client_call *call;
	struct timeval tv;
	int rc;

	if (!c || !req || !cb)
		return NULL;
	if ((call = c->cache)) {
		c->cache = call->next_free;
		c->ncache--;
		call->next_free = NULL;
	} else {
		if (!(call = calloc(1, sizeof(*call))))
			return NULL;
		call->owner = c;
		call->timer = evtimer_new(c->base, call_timer_cb, call);
		call->body_buf = evbuffer_new();
		if (!call->timer || !call->body_buf) {
			call->owner = NULL;
			call_free(call);
			return NULL;
		}
	}
	{
		/* every copied string in one block: method, URL parts, headers */
		size_t need = req->method.len + 8 + 4 * req->url.len + 96 +
		              (size_t)req->num_headers * (2 * sizeof(pt_str_t) + 16);

		for (unsigned j = 0; req->headers && j < req->num_headers * 2; j++)
			need += req->headers[j].len;
		if (need > call->blk_cap) {
			char *b = malloc(need);

			if (!b) {
				call_free(call);
				return NULL;
			}
			free(call->blk);
			call->blk = b;
			call->blk_cap = need;
		}
		call->blk_len = 0;
	}
	call->cb = cb;
	call->ud = ud;
	call->client = c;
	TAILQ_INSERT_TAIL(&c->calls, call, link);
	call->connect_timeout = req->connect_timeout > 0 ? req->connect_timeout : DEF_CONNECT_TIMEOUT;
	call->send_timeout = req->send_timeout;
	call->h2 = req->h2;
	call->st = req->stream;
	call->body_more = req->stream && req->body_more;
	call->body_length = call->body_more ? req->body_length : -1;
	call->resp_clen = -1;
	call->insecure = req->insecure;
	call->max_idle = req->max_idle;
	call->starting = 1;
	rc = hc_req_copy(call, req);
	if (rc == 0)
		rc = hc_url_parse(call, req->url);
	if (rc == 0 && req->num_trailers && !call->body_more)
		rc = trailers_copy(call, req->trailers, req->num_trailers);
	if (rc == PT_ENOMEM) {
		call_detach(call);
		call_free(call);
		return NULL;
	}
	if (rc < 0) {
		hc_call_fail_later(call, PT_EINVAL, "invalid URL, method or header");
		call->starting = 0;
		return call;
	}
	call->idle = req->timeout > 0 ? req->timeout : DEF_TIMEOUT;
	call->last_us = now_us();
	tv = tv_of(call->idle);
	evtimer_add(call->timer, &tv);
	if (call->h2)
		hc_h2_start(call);
	else
		hc_h1_start(call);
	call->starting = 0;
	return call;
}

void http_client_cancel(struct http_client_call *call)
{
	if (!call)
		return;
	call_abandon(call);
	call_detach(call);
	call_free(call);
}

/* Appends LEN in hex and CRLF to DST (a chunk-size line); its length. */
size_t hc_chunk_line(char *dst, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0, i;

	do {
		tmp[n++] = hex[len & 15];
		len >>= 4;
	} while (len);
	for (i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	dst[n] = '\r';
	dst[n + 1] = '\n';
	return n + 2;
}

ssize_t http_client_body_write(struct http_client_call *call, const void *data, size_t len)
{
	struct conn *conn;
	size_t queued;

	if (!call || !call->body_more)
		return PT_ESTATE;
	if (call->h2_body)
		return hc_h2_body_write(call, data, len);	/* its stream's own queue */
	if (len && !call->replay_lost) {
		if (!call->replay && !call->body)
			call->replay = evbuffer_new();
		if (call->replay && evbuffer_get_length(call->replay) + len <= REPLAY_MAX) {
			evbuffer_add(call->replay, data, len);
		} else {
			call->replay_lost = 1;
			if (call->replay)
				evbuffer_free(call->replay);
			call->replay = NULL;
		}
	}
	conn = call->conn;
	if (!conn || conn->is_h2)
		return 0;	/* failing: the answer is on its way */
	if (len) {
		if (call->body_chunked) {
			char line[24];

			evbuffer_add(conn->out, line, hc_chunk_line(line, len));
		}
		evbuffer_add(conn->out, data, len);
		if (call->body_chunked)
			evbuffer_add(conn->out, "\r\n", 2);
		hc_conn_send(conn);
	}
	queued = evbuffer_get_length(conn->out);
	if (queued >= HTTP_CLIENT_OUT_HIGH)
		call->drain_armed = 1;
	return (ssize_t)queued;
}

/* Keeps N trailer PAIRS on CALL (replacing any): see http_client_body_trailers. */
static int trailers_copy(struct http_client_call *call, const pt_str_t *pairs, unsigned n)
{
	size_t need = (size_t)n * 2 * sizeof(pt_str_t);
	pt_str_t *t;
	char *w;

	for (unsigned i = 0; i < n; i++) {
		pt_str_t nm = pairs[2 * i], v = pairs[2 * i + 1];

		if (nm.len == 0)
			return PT_EINVAL;
		for (size_t j = 0; j < nm.len; j++)
			if (!h1_token_char((unsigned char)nm.ptr[j]))
				return PT_EINVAL;
		for (size_t j = 0; j < v.len; j++)
			if (v.ptr[j] == '\r' || v.ptr[j] == '\n' || v.ptr[j] == '\0')
				return PT_EINVAL;
		need += nm.len + v.len + 2;
	}
	free(call->trailers);
	call->trailers = NULL;
	call->ntrailers = 0;
	if (n == 0)
		return 0;
	if (!(t = malloc(need)))
		return PT_ENOMEM;
	w = (char *)(t + 2 * n);
	for (unsigned i = 0; i < n; i++) {
		pt_str_t nm = pairs[2 * i], v = pairs[2 * i + 1];

		for (size_t j = 0; j < nm.len; j++)
			w[j] = (char)tolower((unsigned char)nm.ptr[j]);
		w[nm.len] = '\0';
		t[2 * i] = (pt_str_t){ w, nm.len };
		w += nm.len + 1;
		memcpy(w, v.ptr, v.len);
		w[v.len] = '\0';
		t[2 * i + 1] = (pt_str_t){ w, v.len };
		w += v.len + 1;
	}
	call->trailers = t;
	call->ntrailers = n;
	return 0;
}

int http_client_body_trailers(struct http_client_call *call, const pt_str_t *pairs,
                              unsigned n)
{
	if (!call || !call->body_more)
		return PT_ESTATE;
	return trailers_copy(call, pairs, n);
}

int http_client_body_end(struct http_client_call *call)
{
	struct conn *conn;

	if (!call || !call->body_more)
		return PT_ESTATE;
	call->body_more = 0;
	if (call->h2_body) {
		hc_h2_body_end(call);
		return 0;
	}
	conn = call->conn;
	if (conn && !conn->is_h2 && call->body_chunked) {
		evbuffer_add(conn->out, "0\r\n", 3);
		for (unsigned i = 0; i < call->ntrailers; i++)
			evbuffer_add_printf(conn->out, "%s: %s\r\n", call->trailers[2 * i].ptr,
			                    call->trailers[2 * i + 1].ptr);
		evbuffer_add(conn->out, "\r\n", 2);
		hc_conn_send(conn);
	}
	return 0;
}

void http_client_set_idle(struct http_client_call *call, double secs)
{
	struct timeval tv;

	if (!call || !call->st || call->pending_status)
		return;
	call->idle = secs > 0 ? secs : 1e9;	/* "none": some thirty years */
	call->last_us = now_us();
	tv = tv_of(call->idle);
	evtimer_add(call->timer, &tv);	/* re-arms it */
}

void http_client_pause(struct http_client_call *call, int paused)
{
	struct conn *conn;

	if (!call || !call->st || call->paused == !!paused)
		return;
	call->paused = !!paused;
	conn = call->conn;
	if (!paused)
		call->last_us = now_us();
	if (conn && conn->is_h2) {
		if (!paused)
			hc_h2_resume(call);	/* h2_work hands over what waits */
		return;
	}
	if (!conn || !conn->connected)
		return;
	if (conn->rev) {
		if (paused) {
			event_del(conn->rev);
		} else {
			event_add(conn->rev, NULL);
			if (evbuffer_get_length(conn->in))
				event_active(conn->rev, EV_READ, 0);	/* go on from the loop */
		}
	} else if (conn->bev) {
		if (paused) {
			bufferevent_disable(conn->bev, EV_READ);
		} else {
			bufferevent_enable(conn->bev, EV_READ);
			if (evbuffer_get_length(conn->in))
				bufferevent_trigger(conn->bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
		}
	}
}
