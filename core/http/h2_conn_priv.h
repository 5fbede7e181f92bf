/*
 * h2_conn_priv.h - what the two files of an HTTP/2 server connection
 * share: h2_conn.c (the connection, its events and timers, the request
 * side) and h2_conn_write.c (responses, the frames going out, the send that
 * ends every event). What one calls in the other keeps its h2_ name, or is
 * named h2c_* where the name alone was generic (on_send, on_write, ...);
 * like every core symbol they are hidden from plugins. Nothing else
 * includes this.
 */
#ifndef PT_HTTP_H2_CONN_PRIV_H
#define PT_HTTP_H2_CONN_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

#include "conf.h"
#include "exchange.h"

struct bufferevent;
struct conn;
struct event;
struct h2_conn;

/* One request stream; allocated from its exchange's pool. */
struct h2_stream {
	struct h2_stream *prev, *next;  /* the connection's open streams */
	struct h2_conn *h;
	pt_exchange *x;                 /* one reference until stream close */
	int32_t id;
	size_t hdr_bytes;               /* HPACK-decoded size, as RFC 9113 counts it */
	unsigned caphdrs;               /* capacity of x->hdrs */
	pt_str_t method, path, authority;
	uint64_t clen;                  /* content-length, when has_clen */
	uint64_t received;              /* DATA bytes of the request so far */
	uint64_t read_by;               /* mono_us deadline of the request head or
	                                   body; 0: none (ended, or paused) */
	uint64_t send_by;               /* mono_us deadline for progress of a
	                                   response that has bytes to send; 0: none */
	size_t unconsumed;              /* DATA taken while the handler paused the body:
	                                   their WINDOW_UPDATE waits for their delivery */
	struct evbuffer *held;          /* that DATA, not yet handed to the handler
	                                   (freed with the exchange) */
	unsigned char end_held;         /* the request ended behind HELD */
	size_t trl_bytes;               /* the trailer section so far, as nghttp2
	                                   counts a header list */
	unsigned char has_clen;
	unsigned char reading;          /* the request has not ended */
	unsigned char too_big;          /* header list over the limit: 431 */
	unsigned char head_recv;        /* the request's header block is whole */
	unsigned char head_done;        /* exchange_head_done was called */
	unsigned char discard;          /* drop further DATA (answered early) */
	unsigned char resp_started;     /* send_head was called */
	unsigned char ended;            /* the whole response body is in x->out */
	unsigned char no_body;          /* HEADERS carried END_STREAM */
	unsigned char resp_done;        /* END_STREAM went out */
	unsigned char reset;            /* we reset it (upload after the response, a deadline) */
	char status[4];
	char clen_str[24];
	char date[32];
};

struct h2_conn {
	struct conn *c;
	nghttp2_session *ng;
	struct http_conf hc;            /* a copy: the generation may go first */
	struct h2_stream *streams;
	unsigned nstreams;
	struct event *run_ev;           /* deferred: read what is buffered, send */
	struct event *goaway_ev;        /* draining: the final GOAWAY */
	struct event *tmr;              /* the earliest deadline (see h2_deadline) */
	uint64_t tmr_at;                /* when TMR fires, mono_us; 0: not armed */
	uint64_t idle_by;               /* no stream open: close at this mono_us */
	uint64_t header_us, body_us, idle_us, write_us;
	struct timeval write_tv;
	int busy;                       /* inside nghttp2: no send, no free */
	int dead;                       /* closed while busy */
	int run_pending;
	int need_read;
	int draining;
	int closing;                    /* flush the output, then close */
	int read_paused;                /* output over OUT_HIGH */
	int deliver_pending;            /* a resumed body has held DATA (h2_deliver) */
};

/* Header names and other byte strings against a literal. */
static inline int str_is(const uint8_t *p, size_t len, const char *lit, size_t litlen)
{
	return len == litlen && memcmp(p, lit, litlen) == 0;
}

#define IS(p, len, lit) str_is((const uint8_t *)(p), (len), (lit), sizeof(lit) - 1)

/* A handler streams the request body and has begun its answer (full
 * duplex, gRPC bidi streaming): the body timeout is its business then. */
static inline int h2_duplex(const struct h2_stream *s)
{
	return s->x->body_fn && s->x->state == X_STREAMING && !s->discard;
}

/* ---- h2_conn.c: the connection, its events and timers, the request side */

/* Schedules a send from outside nghttp2's callbacks (async answers). */
void h2_kick(struct h2_conn *h);
/* Arms the connection's timer for AT (a mono_us deadline of the connection
 * or of a stream) unless it fires sooner already; 0 does nothing. Deadlines
 * that move later need no call: the timer looks again when it fires. */
void h2_deadline(struct h2_conn *h, uint64_t at);
/* Hands held request DATA to the handlers that resumed their bodies, and
 * the ends that waited behind it (from h2_after, outside nghttp2). */
void h2_deliver(struct h2_conn *h);
/* Frees the session, detaches the exchanges of open streams, frees the conn;
 * inside nghttp2 (h->busy) it only marks H dead. */
void h2_close(struct h2_conn *h);

/* ---- h2_conn_write.c: responses, the frames going out, the send */

/* The exchange ops of a stream: its response goes out through these. */
extern const struct xops h2_xops;
/* nghttp2's output callbacks (the table is set up in h2_conn.c). */
ssize_t h2c_on_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *ud);
int h2c_on_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
                     size_t length, nghttp2_data_source *src, void *ud);
int h2c_on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud);
/* Starts S's send deadline when its response has bytes waiting to go out,
 * clears it when nothing waits; a deadline already running is kept. */
void h2c_send_deadline(struct h2_stream *s);
/* The send deadline of S passed: a reset when the flow-control window is what
 * holds its response back (the socket's own stall is the write timeout's);
 * else a new deadline. */
void h2c_send_expired(struct h2_conn *h, struct h2_stream *s, uint64_t now);
/* The response went out while the request body still comes: past
 * DISCARD_MAX, the stream is reset with NO_ERROR. */
void h2c_maybe_stop_upload(nghttp2_session *ng, struct h2_stream *s);
/* Stop reading; close once the output buffer is empty. */
void h2_start_closing(struct h2_conn *h);
/* Sends what nghttp2 has queued and decides whether the connection is over.
 * Called at the end of every event; returns 1 when H was freed. */
int h2_after(struct h2_conn *h);
/* The bufferevent's write callback: reading resumes once the client reads
 * again, then what is queued is sent. */
void h2c_on_write(struct bufferevent *bev, void *arg);

#endif
