/*
 * client_priv.h - one outgoing gRPC call (grpc.call, grpc.stream), shared
 * by client.c (the call on the wire: ABI 1.7 ucall, framing, status),
 * client_start.c (starting a call from Lua) and client_lua.c (the Lua
 * functions and the call object).
 *
 * Life: a struct gcl is malloc'd when the call starts and freed once both
 * its Lua object is gone (collected, or never made) and no core callback
 * runs on it; its ucall ends first (done, or cancelled). While a Lua
 * thread waits on it, the Lua object is anchored in the registry, so a
 * waiting call is never collected; the wait ends by the call's end at the
 * latest (its deadline, or the upstream's read timeout on a silence).
 */
#ifndef PT_GRPC_CLIENT_PRIV_H
#define PT_GRPC_CLIENT_PRIV_H

#include "grpc_priv.h"

/* A response message waiting for s:recv() or the unary result. */
struct cmsg {
	struct cmsg *next;
	size_t len;
	uint8_t data[];
};

/* Name/value pairs copied from the core (headers, trailers): one block. */
struct gcl_md {
	pt_str_t *v;                       /* 2 * n: name, value, ... */
	unsigned n;
};

/* What a waiting Lua thread waits for. */
enum gcl_wait {
	GCL_WAIT_NONE = 0,
	GCL_WAIT_RECV = 1,                 /* the next message or the end */
	GCL_WAIT_DRAIN = 2,                /* the request queue under PT_UCALL_LOW, or the end */
	GCL_WAIT_END = 3,                  /* the end (unary result, s:finish) */
};

struct gcl {
	struct lua_State *L;               /* the state's main thread */
	pt_worker *w;
	pt_ucall *uc;                      /* NULL once the call is over */
	struct gconf *conf;                /* a reference */
	const struct pb_method *m;
	int kind;                          /* enum grpc_kind */
	int enc_out;                       /* grpc-encoding of our messages */
	int enc_in;                        /* the server's grpc-encoding */
	uint32_t timeout_ms;               /* 0: none (the upstream's read timeout) */
	/* the response */
	struct gcl_md head, trailers;
	int http_status;
	struct grpc_deframer in;           /* messages arriving */
	struct cmsg *q_head, *q_tail;
	size_t q_bytes;
	unsigned nrecv, nsent;
	/* the end */
	int code;                          /* -1 until known */
	char *message;                     /* grpc-message, decoded (malloc'd) or NULL */
	struct pb_buf details;             /* google.rpc.Status bytes, or empty */
	/* the Lua side */
	pt_wait *wait;
	int wait_kind;                     /* enum gcl_wait */
	int self_ref;                      /* the Lua object while a thread waits */
	unsigned in_cb;                    /* inside a callback of the core */
	unsigned head_seen : 1, ended : 1, send_closed : 1, paused : 1, ud_gone : 1,
	         discard : 1, send_blocked : 1;
};

/* ---- client.c: the call ------------------------------------------------------------- */

/* The ucall callbacks (the owner's UD is the struct gcl). */
extern const struct pt_ucall_ops grpc_client_ops;

/* Frames MSG (LEN bytes) for C into OUT (5-byte prefix, compressed when C
 * compresses). 0, or -1 (memory). */
int gcl_frame(struct gcl *c, const uint8_t *msg, size_t len, struct pb_buf *out);

/* Ends C with CODE and MSG (copied; may be NULL) unless it has ended:
 * cancels the ucall, wakes a waiter. */
void gcl_fail(struct gcl *c, int code, const char *msg);

/* Wakes the thread waiting on C (if any) with what its wait kind asks. */
void gcl_wake(struct gcl *c);

/* Frees C when nothing holds it any more (its Lua object gone, no callback
 * running); else does nothing. */
void gcl_maybe_free(struct gcl *c);

/* Pops the next queued message (owned by the caller: free()), resuming a
 * paused response under the low mark. NULL when none. */
struct cmsg *gcl_pop(struct gcl *c);

/* While a thread waits on C: the wait's task abandoned (its client gone,
 * its deadline passed) cancels C at once (ABI 1.10 lua_wait_on_abandon). */
void gcl_on_abandon(struct gcl *c, pt_wait *w);

/* The grpc-timeout value for MS milliseconds into BUF (>= 16 bytes). */
void gcl_timeout_str(uint32_t ms, char *buf, size_t n);

/* ---- client_start.c: starting a call from Lua --------------------------------------- */

#define GCL_CALL_MT "portico.grpc.client_call"   /* the call object's metatable */

/* The call object: a Lua userdata pointing at its call. */
struct gcl_ud {
	struct gcl *c;
};

/* grpc.call's and grpc.stream's options. */
struct gcl_opts {
	double timeout;                    /* seconds; 0: none given */
	int enc;                           /* enum grpc_enc of the requests */
	int opts;                          /* stack index of the options table, or 0 */
};

/* Reads the options table at IDX (none or nil: defaults); raises naming FN
 * for a bad or unknown one. */
void gcl_check_opts(struct lua_State *L, int idx, const char *fn, struct gcl_opts *o);
/* The method named at argument 2 (argument 1 the upstream) in L's
 * contracts, and those contracts in *CONF (borrowed: L's); raises. */
const struct pb_method *gcl_method_arg(struct lua_State *L, const char *fn,
                                       struct gconf **conf);
/* Encodes the value at IDX as M's input and frames it (ENC) into OUT;
 * raises naming the field for a value of the wrong shape. */
void gcl_encode_arg(struct lua_State *L, int idx, const char *fn, const struct pb_method *m,
                    struct gconf *conf, int enc, struct pb_buf *out);
/* Pushes a call object and starts its call with FIRST (framed bytes,
 * borrowed) and BODY_MORE as ucall_start has them; one that cannot start
 * is pushed ended. Raises for an undeclared upstream or bad metadata. */
struct gcl *gcl_call_start(struct lua_State *L, const char *fn, const struct pb_method *m,
                           struct gconf *conf, const struct pb_buf *first, int body_more,
                           const struct gcl_opts *o);
/* Metadata keys the client never sends or shows (HTTP/2 framing, grpc-*). */
int gcl_md_reserved(pt_str_t name);
int gcl_md_is_bin(const char *name, size_t len);

/* ---- client_lua.c: values pushed on a wake --------------------------------------- */

/* The error object of C's end (grpc.error's metatable, so a server
 * handler may return or raise it and its client gets the same status).
 * [-0, +1, m] */
void gcl_push_error(struct lua_State *L, struct gcl *c);
/* The values a waiter gets (a pt_lua_push_fn, UD the struct gcl). */
int gcl_push_wake(struct lua_State *L, void *ud);

/* proxy.c: grpc.proxy into the module table on top, route.grpc. [-0, +0, e] */
void grpc_proxy_module(struct lua_State *L);

/* Percent-decoding of grpc-message into OUT (appended). 0 or -1 (memory). */
int gcl_percent_decode(const char *s, size_t len, struct pb_buf *out);

#endif
