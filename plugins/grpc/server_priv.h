/*
 * server_priv.h - one call, shared by server.c (the wire and the call's
 * life) and ctx.c (the Lua ctx object).
 */
#ifndef PT_GRPC_SERVER_PRIV_H
#define PT_GRPC_SERVER_PRIV_H

#include "grpc_priv.h"

/* A request message waiting for ctx:recv() (or the unary handler). */
struct gmsg {
	struct gmsg *next;
	size_t len;
	int compressed;
	uint8_t data[];
};

/* One call; in its exchange's memory. */
struct gcall {
	pt_exchange *x;
	struct gconf *conf;                /* a reference */
	struct lua_State *L, *co;          /* the state; the handler's thread */
	int co_ref, ctx_ref;
	struct gentry e;
	/* the request */
	struct grpc_deframer in;           /* messages arriving */
	struct gmsg *one;                  /* unary kinds: the request (exchange memory) */
	struct gmsg *q_head, *q_tail;      /* streams: malloc'd, ctx:recv() frees them */
	size_t q_bytes;
	unsigned nrecv, nsent;
	int enc_in;                        /* grpc-encoding of the request */
	unsigned accept;                   /* grpc-accept-encoding: bits of enc */
	/* the reply */
	int enc_out;                       /* grpc-encoding sent */
	int compress;                      /* -1 by size, 0 never, 1 always */
	int code;                          /* the status it ended with */
	pt_wait *wait;                     /* ctx:recv() waiting */
	pt_wait *send_wait;                /* ctx:send() waiting for the client to read */
	pt_timer *timer;                   /* the deadline */
	double deadline;                   /* Unix time; 0: none */
	void (*release_hook)(struct gcall *c);   /* a built-in's cleanup */
	void *builtin_ud;
	unsigned headers_sent : 1, finished : 1, body_done : 1, running : 1, cancelled : 1,
	         gone : 1, released : 1, last_compressed : 1, sent_compressed : 1,
	         ntrailers_set : 1, paused : 1;
};

/* server.c: an error the server found in the request: logged (info), then
 * the status. */
void grpc_call_fail(struct gcall *c, int code, const char *msg);
/* server.c: runs the Lua handler (MSG/LEN: the request of a unary kind). */
void grpc_call_run(struct gcall *c, const uint8_t *msg, size_t len);
/* body.c: the pt_body_fn of a call. */
void grpc_call_on_body(pt_exchange *x, const char *data, size_t len, int last, void *ud);

/* ctx.c: a message or the end reached a call whose handler may wait in
 * ctx:recv(): wake it. */
void grpc_recv_kick(struct gcall *c);
/* A pt_lua_push_fn: the error ctx:recv() raises once the call has ended. */
int grpc_push_recv_error(struct lua_State *L, void *ud);
/* A pt_lua_push_fn: what a ctx:send() that waited returns (UD the call). */
int grpc_push_send_result(struct lua_State *L, void *ud);
/* server.c: encode the value at IDX as the method's reply and send it.
 * 0; -1 with *WHY when the call has ended; -2 with *WHY (pushed on CO) for
 * a value that does not encode (the caller raises). */
int grpc_ctx_send_value(struct gcall *c, struct lua_State *co, int idx, const char **why);

#endif
