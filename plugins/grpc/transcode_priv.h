/*
 * transcode_priv.h - shared by transcode.c (routes, requests, answers) and
 * transcode_up.c (bindings served by an upstream gRPC server).
 */
#ifndef PT_GRPC_TRANSCODE_PRIV_H
#define PT_GRPC_TRANSCODE_PRIV_H

#include "adapt.h"
#include "transcode.h"

/* One binding of a method to a REST route; per Lua state. */
struct tbind {
	unsigned gid;                      /* the method's number in grpc_state(L); 0: upstream */
	char *upstream;                    /* grpc.transcode: the upstream's name (owned) */
	const struct pb_method *m;
	const struct pb_registry *reg;     /* the state's contracts (it holds them) */
	size_t max_receive;                /* the state's limit on one reply message */
	const char *body, *response_body;  /* borrowed from the registry */
	struct tc_template t;
};

/* Answers AD->x from what AD holds: the status (code, msg, details) and,
 * when OK, the reply frames in AD->out, for the binding AD->ud. */
void transcode_reply(struct adapt *ad);
/* A JSON answer (content-type application/json). */
int transcode_answer_json(pt_exchange *x, int status, const char *json);

/* The TC_KIND_* bits of the field at the dotted PATH/LEN of M (proto or
 * JSON names), or -1 when there is none (transcode_fields.c). */
int transcode_field_kind(const struct pb_registry *reg, const struct pb_msg *m, const char *path,
                         size_t len);

/* Calls B's method on its upstream with the request message FRAME/LEN
 * (framed, in X's memory) and answers X when it ends. 0 or a PT_E*. */
int transcode_upstream(pt_exchange *x, const struct tbind *b, const uint8_t *frame,
                       size_t len);

#endif
