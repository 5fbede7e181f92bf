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
 */
#include "http_client.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "h1_response.h"

#define DEF_MAX_IDLE 64
#define DEF_IDLE_TIMEOUT 60.0
#define DEF_MAX_RESPONSE (8u << 20)
#define DEF_MAX_HEADER (64u << 10)
#define DEF_CONNECT_TIMEOUT 5.0
#define DEF_TIMEOUT 30.0
#define MAX_RESP_HEADERS 256
#define MAX_CHUNK_TRAILER 16384

struct conn;
struct pool;

TAILQ_HEAD(call_list, http_client_call);
TAILQ_HEAD(conn_list, conn);

struct http_client {
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *tls;
	int own_tls;
	unsigned max_idle;
	double idle_timeout;
	size_t max_body;
	size_t max_header;
	struct pool *pools;
	struct call_list calls;		/* every live call */
	struct conn_list conns;		/* every connection */
	struct http_client_call *cache;	/* finished calls kept for reuse */
	unsigned ncache;
};

/* Calls kept for reuse, with their timer, body buffer and string block: a
 * proxied request then allocates almost nothing here. */
#define CALL_CACHE 64

struct pool {
	struct pool *next;
	char *key;
	struct conn_list idle;		/* LIFO: head is the most recent */
	unsigned nidle;
	struct conn *h2;		/* the connection h2 requests go to */
	int no_h2;			/* ALPN answered http/1.1 */
};

struct conn {
	struct http_client *client;
	struct pool *pool;
	struct bufferevent *bev;	/* TLS; cleartext only while connecting */
	evutil_socket_t fd;		/* cleartext once connected, else -1 */
	struct event *rev, *wev;	/* cleartext: our own read and write events */
	struct evbuffer *in, *out;	/* the bufferevent's (TLS), or our own */
	int wev_on;
	int write_failed;		/* a write failed: the read side reports it */
	size_t last_read;		/* bytes the last recv() got: sizes the next one */
	uint64_t idle_since;		/* now_us() when it was last parked */
	char peer[64];			/* "ip:port" once connected, else "" */
	struct event *timer;		/* connect timeout, then idle timeout */
	TAILQ_ENTRY(conn) all;
	TAILQ_ENTRY(conn) idle_link;
	int tls;
	int connected;
	int idle;
	int reused;			/* served a request before */
	double send_timeout;		/* write progress timeout once connected */
	/* HTTP/1.1 */
	struct http_client_call *call;
	/* HTTP/2 */
	int is_h2;
	int dead;
	nghttp2_session *ng;
	struct event *work;		/* h2_work, made active when needed */
	struct call_list waiting;	/* queued until connected */
	struct call_list active;	/* streams open */
	struct call_list done;		/* answered, not yet delivered */
};

struct http_client_call {
	struct http_client *client;
	struct http_client *owner;	/* never cleared: where a finished call is cached */
	struct http_client_call *next_free;
	char *blk;			/* one block for the copied strings below */
	size_t blk_len, blk_cap;
	http_client_cb cb;
	void *ud;
	TAILQ_ENTRY(http_client_call) link;	/* in client->calls */
	TAILQ_ENTRY(http_client_call) qlink;	/* in one of a conn's lists */
	struct call_list *q;			/* that list, or NULL */
	struct event *timer;		/* deadline, or a deferred error */
	int pending_status;		/* deferred error to report from timer */
	const char *pending_error;
	int starting;			/* inside http_client_request */

	/* the request, copied */
	int https;
	char *host;			/* without brackets */
	unsigned port;
	char *authority;		/* host[:port] as for Host / :authority */
	char *path;
	char *key;
	char *method;
	pt_str_t *hdrs;			/* name,value; names lower-case (h2 calls) */
	unsigned nhdrs;
	char *hblock;			/* HTTP/1.1 calls: the headers in wire form */
	size_t hblock_len;
	char *body;
	size_t body_len;
	size_t body_off;		/* h2 data provider position */
	double connect_timeout;
	double send_timeout;
	int h2;
	int insecure;
	int head;
	int idempotent;
	int has_host;
	int req_close;

	/* progress */
	struct conn *conn;
	int32_t stream_id;
	int retried;
	int got_bytes;
	size_t req_len;
	int reused;

	/* response */
	int head_done;
	int status;
	int version;
	enum h1_resp_body framing;
	unsigned resp_flags;
	uint64_t remaining;
	struct h1_resp_chunked chunk;
	pt_str_t *rh;
	unsigned nrh, caprh;
	size_t rh_bytes;
	struct evbuffer *body_buf;
	int h2_state;			/* 0: before final headers; 1: after */
	int h2_interim;
	int result;			/* h2: status to deliver from the done list */
	const char *result_error;

	/* streaming (HTTP/1.1) */
	const struct http_client_stream *st;
	double idle;			/* the longest silence, seconds */
	uint64_t last_us;		/* the last progress either way */
	int body_more;			/* body_write may add more */
	int body_chunked;		/* the request body goes chunked */
	int64_t body_length;		/* for Content-Length, or -1 */
	struct evbuffer *replay;	/* the body so far, for a resend, while it
					   fits REPLAY_MAX; NULL once it did not */
	int replay_lost;		/* body bytes were given that cannot be resent */
	int paused;			/* the receiver asked for no more for now */
	int drain_armed;		/* tell st->drain when the queue gets low */
	int64_t resp_clen;
	char peer[64];
};

/* Body bytes a streaming call keeps to send again on a fresh connection when
 * a pooled one turns out closed: past this the request cannot be resent. */
#define REPLAY_MAX (64u << 10)

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void hc_conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void call_timer_cb(evutil_socket_t fd, short what, void *arg);
static void hc_h1_start(struct http_client_call *call);
static void hc_h2_start(struct http_client_call *call);
static void h2_work_cb(evutil_socket_t fd, short what, void *arg);
static void hc_h2_kick(struct conn *conn);
static void hc_conn_free(struct conn *conn);
static size_t hc_chunk_line(char *dst, size_t len);
static void hc_conn_input(struct conn *conn);
static void hc_conn_lost(struct conn *conn, short what);
static void hc_conn_send(struct conn *conn);
static int hc_conn_raw_start(struct conn *conn);
static void hc_h1_read(struct conn *conn, struct evbuffer *in);
static void hc_h1_complete(struct conn *conn);
static void hc_h1_fail(struct conn *conn, int status, const char *err);
static void hc_h2_read(struct conn *conn, struct evbuffer *in);
static void hc_h2_close(struct conn *conn, int status, const char *err);
static const char *conn_error(struct conn *conn, short what);

/* ---------------------------------------------------------------- helpers */

/* A coarse monotonic clock (a few ms): enough for the silence timeouts of
 * streaming calls, and cheaper than the precise one per read and write. */
static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct timeval tv_of(double secs)
{
	struct timeval tv;

	if (secs < 0)
		secs = 0;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	return tv;
}

/* Formats SS as "ip:port" ("[v6]:port") into BUF. */
static void hc_peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
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

/* A NUL-terminated copy of P/N, or NULL when out of memory. */
static char *dupn(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		if (n)
			memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* N bytes of CALL's string block (sized by http_client_request), 8-aligned. */
static char *blk_alloc(struct http_client_call *call, size_t n)
{
	size_t off = (call->blk_len + 7) & ~(size_t)7;
	char *p;

	if (off + n > call->blk_cap)
		return NULL;
	p = call->blk + off;
	call->blk_len = off + n;
	return p;
}

/* A NUL-terminated copy of P/N in CALL's block. */
static char *blk_dup(struct http_client_call *call, const char *p, size_t n)
{
	char *s = blk_alloc(call, n + 1);

	if (s) {
		if (n)
			memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* Writes V in decimal to DST; the digit count. */
static size_t hc_put_u64(char *dst, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	return n;
}

/* RFC 9110 token characters, as a table: this runs for every header byte. */
static const unsigned char tchar_tab[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
};

/* Bytes a header value may not hold: CR, LF, NUL. */
static const unsigned char vbad_tab[256] = { ['\0'] = 1, ['\n'] = 1, ['\r'] = 1 };

static int tchar(unsigned char c)
{
	return tchar_tab[c];
}

static int ieq_lit(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* ---------------------------------------------------------------- calls */

/* Append a response header pair to CALL (copied, name lower-cased). */
static int hc_resp_header_add(struct http_client_call *call, const char *n, size_t nl,
                              const char *v, size_t vl)
{
	char *s;
	size_t i;

	if (call->nrh == call->caprh) {
		unsigned cap = call->caprh ? call->caprh * 2 : 16;
		pt_str_t *rh = realloc(call->rh, (size_t)cap * 2 * sizeof(*rh));

		if (!rh)
			return PT_ENOMEM;
		call->rh = rh;
		call->caprh = cap;
	}
	s = malloc(nl + vl + 2);
	if (!s)
		return PT_ENOMEM;
	for (i = 0; i < nl; i++)
		s[i] = (char)tolower((unsigned char)n[i]);
	s[nl] = '\0';
	if (vl)
		memcpy(s + nl + 1, v, vl);
	s[nl + 1 + vl] = '\0';
	call->rh[call->nrh * 2] = (pt_str_t){ s, nl };
	call->rh[call->nrh * 2 + 1] = (pt_str_t){ s + nl + 1, vl };
	call->nrh++;
	call->rh_bytes += nl + vl + 4;
	return 0;
}

static void hc_resp_headers_clear(struct http_client_call *call)
{
	unsigned i;

	for (i = 0; i < call->nrh; i++)
		free((char *)call->rh[i * 2].ptr);
	call->nrh = 0;
	call->rh_bytes = 0;
}

/* Free CALL and everything it owns (or keep it for reuse); it must be
 * unlinked already. */
static void call_free(struct http_client_call *call)
{
	struct http_client *c = call->owner;

	hc_resp_headers_clear(call);
	free(call->body);
	if (call->replay)
		evbuffer_free(call->replay);
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
static void hc_call_unbind(struct http_client_call *call)
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
static void hc_call_fail_later(struct http_client_call *call, int status, const char *err)
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
static void hc_call_deliver(struct http_client_call *call, int status, const char *err)
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
	if (call->stream_id > 0 && conn->ng && call->q == &conn->active) {
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
		int ours = call->paused || (call->body_more &&
		           (!call->conn || evbuffer_get_length(call->conn->out) == 0));
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

/* ---------------------------------------------------------------- URL and request */

/* Parse URL into CALL's scheme, host, port, authority and path. */
static int hc_url_parse(struct http_client_call *call, pt_str_t url)
{
	const char *p = url.ptr, *end = url.ptr + url.len, *hs, *he, *a;
	size_t i;
	unsigned long port;
	char buf[16];

	if (!p)
		return PT_EINVAL;
	for (i = 0; i < url.len; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] == 0x7f)
			return PT_EINVAL;
	if (url.len >= 7 && strncasecmp(p, "http://", 7) == 0) {
		p += 7;
		call->port = 80;
	} else if (url.len >= 8 && strncasecmp(p, "https://", 8) == 0) {
		p += 8;
		call->https = 1;
		call->port = 443;
	} else {
		return PT_EINVAL;
	}
	a = p;
	while (p < end && *p != '/' && *p != '?' && *p != '#')
		p++;
	/* authority a..p: host [":" port]; no userinfo */
	if (memchr(a, '@', (size_t)(p - a)))
		return PT_EINVAL;
	if (a < p && *a == '[') {
		hs = a + 1;
		he = memchr(hs, ']', (size_t)(p - hs));
		if (!he || he == hs)
			return PT_EINVAL;
		for (const char *q = hs; q < he; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return PT_EINVAL;
		a = he + 1;
	} else {
		hs = a;
		he = a;
		while (he < p && *he != ':')
			he++;
		if (he == hs)
			return PT_EINVAL;
		for (const char *q = hs; q < he; q++)
			if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-' && *q != '_')
				return PT_EINVAL;
		a = he;
	}
	if (a < p) {
		if (*a != ':' || p - a < 2 || p - a > 6)
			return PT_EINVAL;
		port = 0;
		for (const char *q = a + 1; q < p; q++) {
			if (!isdigit((unsigned char)*q))
				return PT_EINVAL;
			port = port * 10 + (unsigned long)(*q - '0');
		}
		if (port == 0 || port > 65535)
			return PT_EINVAL;
		call->port = (unsigned)port;
	}
	call->host = blk_dup(call, hs, (size_t)(he - hs));
	/* the path: up to a fragment, "/" when empty */
	{
		const char *ps = p, *pe = memchr(p, '#', (size_t)(end - p));

		if (!pe)
			pe = end;
		if (ps == pe || *ps == '?') {
			size_t n = (size_t)(pe - ps);

			call->path = blk_alloc(call, n + 2);
			if (call->path) {
				call->path[0] = '/';
				memcpy(call->path + 1, ps, n);
				call->path[n + 1] = '\0';
			}
		} else {
			call->path = blk_dup(call, ps, (size_t)(pe - ps));
		}
	}
	{
		/* by hand: snprintf showed in the per-request profile */
		int dflt = call->port == (call->https ? 443u : 80u);
		int v6 = memchr(hs, ':', (size_t)(he - hs)) != NULL;
		size_t hl = (size_t)(he - hs), pl = hc_put_u64(buf, call->port), o = 0;
		char *q;

		call->authority = blk_alloc(call, hl + pl + 4);
		call->key = blk_alloc(call, hl + pl + 16);
		if (call->authority && call->key) {
			q = call->authority;
			if (v6)
				q[o++] = '[';
			memcpy(q + o, hs, hl);
			o += hl;
			if (v6)
				q[o++] = ']';
			if (!dflt) {
				q[o++] = ':';
				memcpy(q + o, buf, pl);
				o += pl;
			}
			q[o] = '\0';
			q = call->key;
			o = 0;
			memcpy(q, call->https ? "https://" : "http://", call->https ? 8 : 7);
			o = call->https ? 8 : 7;
			if (v6)
				q[o++] = '[';
			for (size_t k = 0; k < hl; k++)
				q[o++] = (char)tolower((unsigned char)hs[k]);
			if (v6)
				q[o++] = ']';
			q[o++] = ':';
			memcpy(q + o, buf, pl);
			o += pl;
			if (call->https && call->insecure) {
				q[o++] = '|';
				q[o++] = 'i';
			}
			q[o] = '\0';
		}
	}
	if (!call->host || !call->path || !call->authority || !call->key)
		return PT_ENOMEM;
	return 0;
}

static int req_copy_body(struct http_client_call *call, const struct http_client_req *req);

/*
 * HTTP/1.1 only: REQ's headers go straight into their wire form
 * ("name: value\r\n", names lower-cased, framing headers left out) while
 * they are checked, so hc_h1_send copies one block. Then the body.
 */
static int req_copy_h1(struct http_client_call *call, const struct http_client_req *req)
{
	size_t cap = 0, o = 0, i;
	unsigned j;
	char *b;

	for (j = 0; j < req->num_headers; j++)
		cap += req->headers[j * 2].len + req->headers[j * 2 + 1].len + 4;
	if (!(b = blk_alloc(call, cap + 1)))
		return PT_ENOMEM;
	for (j = 0; j < req->num_headers; j++) {
		pt_str_t n = req->headers[j * 2], v = req->headers[j * 2 + 1];
		size_t start = o, vstart;

		if (n.len == 0 || (!n.ptr && n.len) || (!v.ptr && v.len))
			return PT_EINVAL;
		{
			/* table-driven: a bad byte anywhere shows in BAD at the end */
			unsigned bad = 0;

			for (i = 0; i < n.len; i++) {
				unsigned char ch = (unsigned char)n.ptr[i];

				bad |= !tchar_tab[ch];
				b[o++] = (char)(ch | (((unsigned)ch - 'A' < 26u) << 5));
			}
			b[o++] = ':';
			b[o++] = ' ';
			vstart = o;
			memcpy(b + o, v.ptr, v.len);
			for (i = 0; i < v.len; i++)
				bad |= vbad_tab[(unsigned char)v.ptr[i]];
			o += v.len;
			if (bad)
				return PT_EINVAL;
		}
		b[o++] = '\r';
		b[o++] = '\n';
		if ((n.len == 14 && !memcmp(b + start, "content-length", 14)) ||
		    (n.len == 17 && !memcmp(b + start, "transfer-encoding", 17))) {
			o = start;	/* we frame the body ourselves */
			continue;
		}
		if (n.len == 4 && !memcmp(b + start, "host", 4))
			call->has_host = 1;
		if (n.len == 10 && !memcmp(b + start, "connection", 10) &&
		    memmem(b + vstart, v.len, "close", 5))
			call->req_close = 1;
	}
	b[o] = '\0';
	call->hblock = b;
	call->hblock_len = o;
	return req_copy_body(call, req);
}

/* Copy REQ's method, headers and body into CALL, validating them. */
static int hc_req_copy(struct http_client_call *call, const struct http_client_req *req)
{
	pt_str_t m = req->method.len ? req->method : PT_STR("GET");
	size_t i;
	unsigned j;

	for (i = 0; i < m.len; i++)
		if (!tchar((unsigned char)m.ptr[i]))
			return PT_EINVAL;
	if (!(call->method = blk_dup(call, m.ptr, m.len)))
		return PT_ENOMEM;
	call->head = m.len == 4 && !memcmp(m.ptr, "HEAD", 4);
	call->idempotent = call->head || (m.len == 3 && !memcmp(m.ptr, "GET", 3)) ||
	                   !strcmp(call->method, "PUT") || !strcmp(call->method, "DELETE") ||
	                   !strcmp(call->method, "OPTIONS") || !strcmp(call->method, "TRACE");
	if (req->num_headers && !req->headers)
		return PT_EINVAL;
	if (!call->h2)
		return req_copy_h1(call, req);
	if (req->num_headers) {
		call->hdrs = (pt_str_t *)blk_alloc(call, (size_t)req->num_headers * 2 *
		                                           sizeof(pt_str_t));
		if (!call->hdrs)
			return PT_ENOMEM;
	}
	for (j = 0; j < req->num_headers; j++) {
		pt_str_t n = req->headers[j * 2], v = req->headers[j * 2 + 1];
		char *ns, *vs;

		if (n.len == 0 || (!n.ptr && n.len) || (!v.ptr && v.len))
			return PT_EINVAL;
		for (i = 0; i < v.len; i++)
			if ((unsigned char)v.ptr[i] <= '\r' &&
			    (v.ptr[i] == '\r' || v.ptr[i] == '\n' || v.ptr[i] == '\0'))
				return PT_EINVAL;
		ns = blk_alloc(call, n.len + 1);
		vs = blk_dup(call, v.ptr ? v.ptr : "", v.len);
		if (!ns || !vs)
			return PT_ENOMEM;
		/* checked and lower-cased in one pass */
		for (i = 0; i < n.len; i++) {
			unsigned char ch = (unsigned char)n.ptr[i];

			if (!tchar(ch))
				return PT_EINVAL;
			ns[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch);
		}
		ns[n.len] = '\0';
		call->hdrs[call->nhdrs * 2] = (pt_str_t){ ns, n.len };
		call->hdrs[call->nhdrs * 2 + 1] = (pt_str_t){ vs, v.len };
		call->nhdrs++;
		if (n.len == 4 && !strcmp(ns, "host"))
			call->has_host = 1;
		if (n.len == 10 && !strcmp(ns, "connection") && strstr(vs, "close"))
			call->req_close = 1;
	}
	return req_copy_body(call, req);
}

/* Copy REQ's body into CALL. */
static int req_copy_body(struct http_client_call *call, const struct http_client_req *req)
{
	if (req->body.len && !req->body.ptr)
		return PT_EINVAL;
	if (req->stream && req->body.len <= REPLAY_MAX) {
		/* kept for a resend, and sent from there (made when needed) */
		if (req->body.len && (!(call->replay = evbuffer_new()) ||
		    evbuffer_add(call->replay, req->body.ptr, req->body.len) != 0))
			return PT_ENOMEM;
	} else if (req->body.len) {
		if (!(call->body = dupn(req->body.ptr, req->body.len)))
			return PT_ENOMEM;
		call->body_len = req->body.len;
	}
	return 0;
}

/* Headers we frame ourselves: the caller's copies are dropped. */
static int hc_framing_header(pt_str_t n)
{
	return ieq_lit(n.ptr, n.len, "content-length") ||
	       ieq_lit(n.ptr, n.len, "transfer-encoding");
}

/* ---------------------------------------------------------------- pools and connections */

static struct pool *hc_pool_get(struct http_client *c, const char *key)
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
static void hc_conn_free(struct conn *conn)
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
static struct conn *hc_conn_open(struct http_client *c, struct pool *p,
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
static void hc_conn_idle(struct conn *conn)
{
	struct pool *p = conn->pool;
	struct timeval tv = tv_of(conn->client->idle_timeout);

	if (p->nidle >= conn->client->max_idle) {
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
		return "connect failed";
	}
	if (what & BEV_EVENT_EOF)
		return "connection closed by upstream";
	return "connection reset";
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
static void hc_conn_send(struct conn *conn)
{
	if (conn->fd < 0 || conn->wev_on)
		return;	/* TLS (its bufferevent writes), still connecting, or waiting */
	raw_write(conn);
}

/* After a write event: a streaming call waiting for room hears of it. */
static void conn_drained(struct conn *conn)
{
	struct http_client_call *call = conn->is_h2 ? NULL : conn->call;

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
static void hc_conn_write_cb(struct bufferevent *bev, void *arg)
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
static int hc_conn_raw_start(struct conn *conn)
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
static void hc_conn_send_timeout(struct conn *conn)
{
	struct timeval tv = tv_of(conn->send_timeout);

	if (conn->bev)
		bufferevent_set_timeouts(conn->bev, NULL, conn->send_timeout > 0 ? &tv : NULL);
}

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
static void hc_h1_send(struct conn *conn, struct http_client_call *call)
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
static void hc_h1_complete(struct conn *conn)
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
static void hc_h1_fail(struct conn *conn, int status, const char *err)
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
		h1_resp_chunked_init(&call->chunk, MAX_CHUNK_TRAILER);
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
			r = h1_resp_chunked_decode(&call->chunk, v.iov_base, v.iov_len, &d, &dl);
			if (r < 0) {
				hc_h1_fail(conn, PT_EIO, "malformed chunked body from upstream");
				return -1;
			}
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
				/* the decoder needs bytes that span segments */
				size_t have = evbuffer_get_length(in);

				if (have <= v.iov_len)
					return 0;
				evbuffer_pullup(in, (ssize_t)(have < 16384 ? have : 16384));
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
		h1_resp_chunked_init(&call->chunk, MAX_CHUNK_TRAILER);
	return 1;
}

/* Consume what IN holds of CONN's response; answer when it is complete. */
static void hc_h1_read(struct conn *conn, struct evbuffer *in)
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
		if (h1_stream_body(conn, in) == 1)
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
			r = h1_resp_chunked_decode(&call->chunk, p, n, &d, &dl);
			if (r < 0) {
				hc_h1_fail(conn, PT_EIO, "malformed chunked body from upstream");
				return;
			}
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
static void hc_h1_start(struct http_client_call *call)
{
	struct http_client *c = call->client;
	struct pool *p = hc_pool_get(c, call->key);
	struct conn *conn;

	if (!p) {
		hc_call_fail_later(call, PT_ENOMEM, "out of memory");
		return;
	}
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

/* ---------------------------------------------------------------- HTTP/2 */

/* Make H2_WORK run soon on CONN's loop. */
static void hc_h2_kick(struct conn *conn)
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
static void hc_h2_close(struct conn *conn, int status, const char *err)
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
static void hc_h2_read(struct conn *conn, struct evbuffer *in)
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
static void hc_h2_connected(struct conn *conn)
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
static void hc_h2_start(struct http_client_call *call)
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

/* ---------------------------------------------------------------- connection events */

/* What CONN's input holds is for its call(s). */
static void hc_conn_input(struct conn *conn)
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
static void hc_conn_lost(struct conn *conn, short what)
{
	struct http_client_call *call = conn->call;

	if (what & BEV_EVENT_TIMEOUT) {
		if (conn->is_h2)
			hc_h2_close(conn, PT_ETIMEDOUT, "send timed out");
		else if (call)
			hc_h1_fail(conn, PT_ETIMEDOUT, "send timed out");
		else
			hc_conn_free(conn);
		return;
	}
	if (conn->is_h2) {
		hc_h2_close(conn, PT_EIO, conn_error(conn, what));
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
			hc_h2_close(conn, PT_ETIMEDOUT, "connect timed out");
		else if (conn->call)
			hc_h1_fail(conn, PT_ETIMEDOUT, "connect timed out");
		else
			hc_conn_free(conn);
		return;
	}
	if (conn->is_h2) {
		if (TAILQ_EMPTY(&conn->active) && TAILQ_EMPTY(&conn->waiting))
			hc_h2_close(conn, PT_EIO, "idle");
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
	call->starting = 1;
	rc = hc_req_copy(call, req);
	if (rc == 0)
		rc = hc_url_parse(call, req->url);
	if (rc == PT_ENOMEM) {
		call_detach(call);
		call_free(call);
		return NULL;
	}
	if (rc == 0 && call->st && call->h2)
		rc = PT_EINVAL;		/* streaming is HTTP/1.1 only */
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
static size_t hc_chunk_line(char *dst, size_t len)
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

int http_client_body_end(struct http_client_call *call)
{
	struct conn *conn;

	if (!call || !call->body_more)
		return PT_ESTATE;
	call->body_more = 0;
	conn = call->conn;
	if (conn && !conn->is_h2 && call->body_chunked) {
		evbuffer_add(conn->out, "0\r\n\r\n", 5);
		hc_conn_send(conn);
	}
	return 0;
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
	if (!conn || conn->is_h2 || !conn->connected)
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
