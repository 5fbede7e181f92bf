/*
 * http_client_priv.h - what the outbound client's files share (see
 * http_client.c for the shape): the client, its pools, connections and
 * calls, and the functions one of its files calls in another. Those are
 * named hc_*; like every core symbol they are hidden from plugins. Nothing
 * outside core/upstream/http_client*.c includes this.
 */
#ifndef PORTICO_HTTP_CLIENT_PRIV_H
#define PORTICO_HTTP_CLIENT_PRIV_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <event2/util.h>
#include <nghttp2/nghttp2.h>

#include "h1_response.h"
#include "http_client.h"

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

struct pool {
	struct pool *next;
	char *key;
	struct conn_list idle;		/* LIFO: head is the most recent */
	unsigned nidle;
	unsigned max_idle;		/* the last call's max_idle; 0: the client's */
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
	int connect_errno;		/* errno when connecting failed (its message) */
	int idle;
	int reused;			/* served a request before */
	double send_timeout;		/* write progress timeout once connected */
	/* HTTP/1.1 */
	struct http_client_call *call;
	/* HTTP/2 */
	int is_h2;
	int dead;
	int blocked;			/* nghttp2 was told WOULDBLOCK (out was full):
					   h2_work goes on once out drains */
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
	unsigned max_idle;
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
	struct h1_chunked chunk;
	pt_str_t *rh;
	unsigned nrh, caprh;
	size_t rh_bytes;
	pt_str_t *rt;			/* the response's trailer fields, as rh */
	unsigned nrt, caprt;
	size_t rt_bytes;
	struct evbuffer *body_buf;
	int h2_state;			/* 0: before final headers; 1: after */
	int h2_interim;
	int result;			/* h2: status to deliver from the done list */
	const char *result_error;

	/* streaming */
	const struct http_client_stream *st;
	double idle;			/* the longest silence, seconds */
	uint64_t last_us;		/* the last progress either way */
	int body_more;			/* body_write may add more */
	int body_chunked;		/* the request body goes chunked */
	int64_t body_length;		/* for Content-Length, or -1 */
	pt_str_t *trailers;		/* http_client_body_trailers: name,value pairs
					   (names lower-case) in one malloc'd block */
	unsigned ntrailers;
	struct evbuffer *replay;	/* the body so far, for a resend, while it
					   fits REPLAY_MAX; NULL once it did not */
	int replay_lost;		/* body bytes were given that cannot be resent */
	int paused;			/* the receiver asked for no more for now */
	int drain_armed;		/* tell st->drain when the queue gets low */
	int64_t resp_clen;
	char peer[64];

	/* streaming over HTTP/2: body_buf holds the response bytes the
	   receiver has not taken yet */
	struct evbuffer *h2_body;	/* request bytes nghttp2 has not taken yet */
	int h2_due;			/* h2_work has something to hand over */
	int h2_drain_due;		/* h2_work tells st->drain */
	int h2_eos;			/* the response is complete (END_STREAM) */
	int h2_closed;			/* nghttp2 closed the stream */
};

/* Fields a response head, or its trailer section, may have. */
#define HC_MAX_FIELDS 256

/* Body bytes a streaming call keeps to send again on a fresh connection when
 * a pooled one turns out closed: past this the request cannot be resent. */
#define REPLAY_MAX (64u << 10)

/* A coarse monotonic clock (a few ms): enough for the silence timeouts of
 * streaming calls, and cheaper than the precise one per read and write. */
static inline uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline struct timeval tv_of(double secs)
{
	struct timeval tv;

	if (secs < 0)
		secs = 0;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	return tv;
}

/* ---- http_client.c: calls, pools and connections, their events */

/* Append a response header pair to CALL (copied, name lower-cased). */
int hc_resp_header_add(struct http_client_call *call, const char *n, size_t nl,
                       const char *v, size_t vl);
void hc_resp_headers_clear(struct http_client_call *call);
/* Append a response trailer pair to CALL (copied, name lower-cased):
 * PT_ELIMIT past HC_MAX_FIELDS fields or the client's max_header bytes. */
int hc_resp_trailer_add(struct http_client_call *call, const char *n, size_t nl,
                        const char *v, size_t vl);
/* Streaming CALL's response is complete: hand its trailers (if any) to
 * st->trailers. The callback's result. */
int hc_resp_trailers_give(struct http_client_call *call);
/* Unlink CALL from its connection (left open) and the connection's lists. */
void hc_call_unbind(struct http_client_call *call);
/* Report the deferred error STATUS for CALL from its timer, on the loop. */
void hc_call_fail_later(struct http_client_call *call, int status, const char *err);
/* Answer CALL with STATUS (an HTTP status or a negative PT_E*) and free it. */
void hc_call_deliver(struct http_client_call *call, int status, const char *err);
struct pool *hc_pool_get(struct http_client *c, const char *key);
/* Open a connection for CALL's pool P (TLS when https, ALPN h2 when H2). */
struct conn *hc_conn_open(struct http_client *c, struct pool *p,
                          struct http_client_call *call, int h2);
/* Close CONN; a call it serves must have been detached (h1) or moved (h2). */
void hc_conn_free(struct conn *conn);
/* Park CONN in its pool after a clean response, or close it if the pool is full. */
void hc_conn_idle(struct conn *conn);
/* What CONN's input holds is for its call(s). */
void hc_conn_input(struct conn *conn);
/* CONN ended with WHAT (BEV_EVENT_EOF, _ERROR, ...): fail or complete its call(s). */
void hc_conn_lost(struct conn *conn, short what);
/* Appends LEN in hex and CRLF to DST (a chunk-size line); its length. */
size_t hc_chunk_line(char *dst, size_t len);

/* ---- http_client_req.c: the URL and the request */

/* Parse URL into CALL's scheme, host, port, authority and path. */
int hc_url_parse(struct http_client_call *call, pt_str_t url);
/* Copy REQ's method, headers and body into CALL, validating them. */
int hc_req_copy(struct http_client_call *call, const struct http_client_req *req);
/* Headers we frame ourselves: the caller's copies are dropped. */
int hc_framing_header(pt_str_t n);
/* Writes V in decimal to DST; the digit count. */
size_t hc_put_u64(char *dst, uint64_t v);

/* ---- http_client_io.c: cleartext I/O */

/* Formats SS as "ip:port" ("[v6]:port") into BUF. */
void hc_peer_name(const struct sockaddr_storage *ss, char *buf, size_t len);
/* CONN->out has new bytes: send them now unless EPOLLOUT is awaited. */
void hc_conn_send(struct conn *conn);
/* TLS: the bufferevent's output fell under its low-water mark. */
void hc_conn_write_cb(struct bufferevent *bev, void *arg);
/* The bufferevent connected CONN's socket: take the socket from it. 0 or -1. */
int hc_conn_raw_start(struct conn *conn);
/* Arm CONN's write-progress timeout. */
void hc_conn_send_timeout(struct conn *conn);

/* ---- http_client_h1.c: HTTP/1.1 */

/* Write CALL's request to CONN and bind them. */
void hc_h1_send(struct conn *conn, struct http_client_call *call);
/* Start CALL on an idle pooled connection or a new one. */
void hc_h1_start(struct http_client_call *call);
/* Consume what IN holds of CONN's response; answer when it is complete. */
void hc_h1_read(struct conn *conn, struct evbuffer *in);
/* The response to CONN's call is complete: park or close CONN, then answer. */
void hc_h1_complete(struct conn *conn);
/* CONN's call failed: close CONN and answer, or retry once on a fresh one. */
void hc_h1_fail(struct conn *conn, int status, const char *err);

/* ---- http_client_h2.c: HTTP/2 */

/* Start CALL on its pool's h2 connection, opening one if needed. */
void hc_h2_start(struct http_client_call *call);
/* Make H2_WORK run soon on CONN's loop. */
void hc_h2_kick(struct conn *conn);
/* Feed what IN holds to CONN's session. */
void hc_h2_read(struct conn *conn, struct evbuffer *in);
/* Close CONN and answer every call still on it with STATUS and ERR (MID,
 * when not NULL, for streaming calls whose head came). */
void hc_h2_close(struct conn *conn, int status, const char *err, const char *mid);
/* CONN connected (after TLS): start h2, or fall back to 1.1 if ALPN says so. */
void hc_h2_connected(struct conn *conn);
/* Streaming CALL on h2: LEN more request body bytes (copied); the bytes queued
 * for its stream, as http_client_body_write returns them. */
ssize_t hc_h2_body_write(struct http_client_call *call, const void *data, size_t len);
/* Streaming CALL on h2: its request body is complete. */
void hc_h2_body_end(struct http_client_call *call);
/* Streaming CALL on h2: the receiver takes the response again. */
void hc_h2_resume(struct http_client_call *call);

#endif
