/*
 * ws_conn.h - WebSocket connections in the core: the opening handshake on
 * an exchange (ws_accept.c) and the connection it becomes (ws_conn.c).
 *
 * Life: ws_accept checks the request, makes a struct pt_ws that is not
 * running yet, and answers 101 with X->upgrade set. The HTTP/1.1 transport,
 * once the 101 is written, hands its struct conn over (ws_conn_start), with
 * the bytes the client sent after its request head. A cleartext connection
 * then leaves its bufferevent (ws_conn.c reads and writes the socket
 * itself); a TLS one keeps it. From then on the connection is a
 * WebSocket on the same worker loop. If the exchange is freed before that
 * (the client left), ws_accept's cleanup tells the owner with on_close 1006.
 */
#ifndef PT_WS_CONN_H
#define PT_WS_CONN_H

#include "portico/portico.h"
#include "ws_frame.h"

struct conn;
struct event;
struct gen;
struct lua_State;

/* A whole frame waiting behind the socket's output (see ws_conn.c). */
struct wsq {
	struct wsq *next;
	size_t len;
	unsigned char data[];
};

struct pt_ws {
	struct conn *c;              /* NULL until ws_conn_start */
	pt_worker *w;
	struct gen *gen;             /* one reference: the Lua state stays */
	struct lua_State *L;         /* the generation's state on W, or NULL */
	uint64_t id;
	struct pt_ws_ops ops;
	void *ud;
	struct ws_reader rd;
	struct ws_pmd pmd;
	int deflate;                 /* permessage-deflate negotiated */
	struct ws_deflater *defl;    /* made on the first compressed send */
	char *subproto;              /* "" for none */
	char *strs;                  /* "remote\0request-id\0" (one allocation) */
	uint8_t remote_len, reqid_len, subproto_len, close_reason_len;
	uint8_t tmr_phase, state;    /* enums in ws_conn.c */
	uint8_t told;                /* on_close was called */
	uint8_t on_full;
	uint8_t paused, dead, read_off;
	uint8_t discard;             /* ending without writing what is buffered */
	uint16_t close_code;         /* what on_close reports */
	int busy;
	float ping_interval;         /* seconds; < 0: none */
	float ping_timeout;
	size_t queue_max;
	struct event *tmr;           /* heartbeat, then the closing deadline */
	struct event *later;         /* on_close and the end, outside callbacks */
	int fd;                      /* cleartext: the socket, ours (no bufferevent); -1: TLS */
	float write_timeout;         /* http.write_timeout: no write progress that long ends it */
	struct evbuffer *out;        /* cleartext: bytes the kernel did not take yet, or NULL */
	struct event *wev;           /* cleartext: armed while OUT holds bytes */
	struct event *rev;           /* cleartext: our own read event (see raw_read) */
	struct evbuffer *in;         /* bytes read, not yet parsed: own_in, or the bev's */
	struct evbuffer *own_in;     /* cleartext: ours (a bufferevent's input takes no
	                                reads but its own) */
	uint64_t last_rx_us, ping_sent_us;
	char *close_reason;          /* malloc'd when set, NULL for none */
	struct wsq *qh, *qt;         /* frames not yet in the socket's output */
	size_t qbytes;
	uint64_t dropped;            /* messages dropped by drop_oldest */
	pt_exchange *accept_x;       /* the upgrade exchange until the handover */
};

/* The pt_api members (api.c installs them). */
pt_ws *ws_accept(pt_exchange *x, const struct pt_ws_opts *o, const struct pt_ws_ops *ops,
                 void *ud, int *err);
int ws_send(pt_ws *ws, const void *data, size_t len, int binary);
int ws_close(pt_ws *ws, unsigned code, pt_str_t reason);
void ws_pause(pt_ws *ws, int paused);
pt_str_t ws_subprotocol(pt_ws *ws);
uint64_t ws_id(pt_ws *ws);
pt_worker *ws_worker(pt_ws *ws);
pt_str_t ws_remote_addr(pt_ws *ws);
pt_str_t ws_request_id(pt_ws *ws);
size_t ws_queued(pt_ws *ws);
struct lua_State *ws_lua(pt_ws *ws);
int ws_lua_task_resume(pt_ws *ws, struct lua_State *co, int nargs, int *nres,
                       pt_lua_task_fn done, void *ud);

struct evbuffer;

/* The HTTP/1.1 transport: the 101 for WS is in C's output; take C over,
 * with IN (taken) holding what the client sent after its head, read on our
 * own on cleartext; NULL: it is in the bufferevent's input (TLS).
 * Returns 0, or -1 (C is then the caller's to close; WS has been told). */
int ws_conn_start(struct conn *c, pt_ws *ws, struct evbuffer *in);
/* Frees WS before it ever ran (the upgrade exchange went first). */
void ws_unclaimed(pt_ws *ws);

/* The client's "ip:port" and the upgrade's request id, NUL-terminated. */
static inline const char *ws_remote(const pt_ws *ws)
{
	return ws->strs;
}

static inline const char *ws_reqid(const pt_ws *ws)
{
	return ws->strs + ws->remote_len + 1;
}

#endif
