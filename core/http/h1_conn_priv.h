/*
 * h1_conn_priv.h - what the two files of an HTTP/1.1 server connection
 * share: h1_conn.c (reading, the states, timers, closing) and
 * h1_conn_write.c (responses and their staging, the exchange of a request).
 * The functions one calls in the other are named h1c_*; like every core
 * symbol they are hidden from plugins. Nothing else includes this.
 */
#ifndef PT_HTTP_H1_CONN_PRIV_H
#define PT_HTTP_H1_CONN_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "exchange.h"
#include "h1_parser.h"

struct conn;
struct event;
struct evbuffer;

enum h1_state {
	S_HEAD = 0,        /* waiting for (the rest of) a request head */
	S_BODY = 1,        /* reading the request body */
	S_WAIT = 2,        /* the exchange is being answered */
	S_CLOSING = 3,     /* flushing the last bytes, then close */
	S_LINGER = 4,      /* written and half-closed: discarding what the client still sends */
	S_UPGRADE = 5,     /* answered 101: the connection goes to the WebSocket (h1c_handover) */
};

enum h1_timer { T_NONE = 0, T_IDLE, T_HEADER, T_BODY, T_LINGER };

struct h1_conn {
	struct conn *c;
	struct http_conf hc;           /* a copy: the generation may go first */
	struct h1_limits lim;
	struct h1_header *hdrs;        /* [hc.max_headers] parse scratch */
	struct h1_progress pg;         /* how far the head in h->in was looked at */
	pt_exchange *x;                /* the current exchange */
	int state;
	int keepalive;
	int draining;
	int peer_eof;
	int expect_100;                /* the client waits for 100 Continue */
	int end_held;                  /* a streamed body ended while its handler had
	                                  paused it: the last call waits for want_body */
	int out_paused;                /* OUT_HIGH reached: resume once written */
	int resp_chunked;              /* streaming response framing */
	int resp_close;                /* close once the response is out */
	int body_kind;
	uint64_t body_left;
	struct h1_chunked ch;
	struct event *tmr;
	int tmr_kind;
	struct event *kick;            /* deferred h1c_process(): a streamed body resumes */
	struct evbuffer *stage;        /* response bytes not yet handed to the socket */
	struct event *rev;             /* cleartext: our own read event (see raw_read) */
	struct event *cev;             /* the client's FIN or RST alone (see close_watch) */
	int cev_on;
	struct evbuffer *own_in;
	struct evbuffer *in;           /* request bytes: our own on cleartext, else the bev's */
	int rev_on, read_stopped;
	int bulk;                      /* reads fill 16 KiB: read into the evbuffer */
	size_t in_high;                /* stop reading past this much unparsed input */
	int linger;                    /* answered before the body ended: linger at close */
	size_t linger_left;            /* bytes still to discard while lingering */
	int busy;                      /* inside h1c_process(): no recursion, no free */
	int dead;                      /* closed while busy: free on the way out */
	struct pt_ws *upgrade;         /* S_UPGRADE: who takes the connection */
};

/* ---- h1_conn.c: reading, the states, timers, closing */

/* Runs the states on the buffered input, then flushes and resumes reading (or
 * closes). What may run inside it checks h->busy before calling it. */
void h1c_process(struct h1_conn *h);
/* No more reading on this connection. */
void h1c_read_stop(struct h1_conn *h);
/* Sets the one timer to KIND (enum h1_timer; T_NONE stops it) for SECS; one
 * of the same kind keeps its deadline. */
void h1c_timer_set(struct h1_conn *h, int kind, double secs);
/* The output is written and nothing more will be: close, or linger first
 * when the client may still be sending a body we did not read. */
void h1c_close_written(struct h1_conn *h);

/* The 101 is out of the exchange: give the connection to h->upgrade and
 * free H (never while busy: h1c_process() calls it on its way out). */
void h1c_handover(struct h1_conn *h);

/* ---- h1_conn_write.c: responses, their staging, the exchange */

/* Hands the staged response bytes to the socket. */
void h1c_flush(struct h1_conn *h);
/* Response bytes not yet written: staged, and in the bufferevent. */
size_t h1c_out_len(struct h1_conn *h);
/* A response the connection itself makes (parse errors, timeouts): then close. */
void h1c_send_simple(struct h1_conn *h, int status, const char *msg);
/* The response is complete in the output buffer: on to the next request. */
void h1c_response_done(struct h1_conn *h);
/* Copies the head into the exchange pool so the input buffer can be drained. */
int h1c_build_exchange(struct h1_conn *h, const char *head, size_t hlen,
                       const struct h1_request *req);

#endif
