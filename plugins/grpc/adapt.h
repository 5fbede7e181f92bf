/*
 * adapt.h - running a gRPC call for a request that is not plain gRPC
 * (gRPC-Web, REST transcoding) through the same server code.
 *
 * server.c speaks to its exchange through grpc_api only. adapt.c puts a
 * copy of the core's table there whose exchange functions look the
 * exchange up among this thread's adapted calls (none: straight to the
 * core, one pointer test) and translate for those: the content-type the
 * server checks, the request body (base64 for grpc-web-text; the message
 * built from JSON for transcoding), and the answer (gRPC-Web: trailers as
 * a 0x80 frame at the end of the body; transcoding: the messages and the
 * status collected, then one JSON answer). One server, one set of rules
 * for deadlines, limits, cancellation and errors. (doc/architecture.md:
 * "gRPC-Web and transcoding".)
 */
#ifndef PT_GRPC_ADAPT_H
#define PT_GRPC_ADAPT_H

#include "grpc_priv.h"

enum adapt_mode {
	ADAPT_WEB = 1,         /* application/grpc-web(+proto) */
	ADAPT_WEB_TEXT = 2,    /* application/grpc-web-text: base64 both ways */
	ADAPT_TRANSCODE = 3,   /* REST: JSON in, JSON out */
};

/* An incremental base64 reader (grpc-web-text bodies come in pieces, each
 * maybe padded). */
struct b64s {
	uint8_t q[4];
	unsigned nq;
	size_t at;             /* characters read, for errors */
};
/* Decodes IN/LEN appending to OUT. 0, or -1 on a bad character (at
 * S->at). Whitespace is skipped. */
int b64s_feed(struct b64s *s, const char *in, size_t len, struct pb_buf *out);
/* The end: 0, or -1 when a partial group is left that cannot be bytes. */
int b64s_end(struct b64s *s, struct pb_buf *out);

struct adapt;
/* Transcoding's answer, once the call ended (AD holds what came out). */
typedef void (*adapt_reply_fn)(struct adapt *ad);

/* One adapted call; in its exchange's memory. */
struct adapt {
	struct adapt *next;
	pt_exchange *x;
	int mode;                          /* enum adapt_mode */
	int64_t method_id;                 /* transcoding: the route option grpc_method */
	char content_type[64];             /* gRPC-Web: the answer's content-type */
	/* the request body */
	pt_body_fn body_fn;
	void *body_ud;
	struct b64s b64;
	const uint8_t *frame;              /* transcoding: the message, framed */
	size_t frame_len;
	const char *bad_body;              /* set: the body was refused (why) */
	/* client gone */
	pt_task_fn abort_fn;
	void *abort_ud;
	/* the answer */
	struct pb_buf trailers;            /* gRPC-Web: "name: value\r\n"... */
	struct pb_buf out;                 /* transcoding: the message frames */
	size_t out_max;                    /* transcoding: at most this many bytes of them */
	int code;                          /* grpc-status seen (-1: none) */
	struct pb_buf msg;                 /* grpc-message, percent-decoded */
	struct pb_buf details;             /* grpc-status-details-bin, base64 */
	adapt_reply_fn reply;
	void *ud;                          /* the reply's */
	unsigned ended : 1, too_big : 1;
};

/* A status field (grpc-status, grpc-message, grpc-status-details-bin)
 * NAME/V into AD (the message percent-decoded): 1, or 0 for another name. */
int adapt_status_field(struct adapt *ad, pt_str_t name, pt_str_t v);

/* At load: keep the core's table and give the plugin the translating one
 * (*API is replaced). */
void adapt_install(const struct pt_api **api);
/* The core's own table. */
const struct pt_api *adapt_core(void);

/*
 * Runs the "grpc" handler for X adapted by AD (filled by the caller, in
 * X's memory; its mode, method_id and what the mode needs). The adapter
 * leaves by itself when the answer is out or the client leaves. Returns
 * the handler's result.
 */
int adapt_run(struct adapt *ad, pt_exchange *x, const pt_conf *opts, void *ud);

void grpc_web_install(void);                      /* web.c: sets grpc_web_handle */
int grpc_transcode_handle(pt_exchange *x, const pt_conf *opts, void *ud);
void grpc_transcode_module(struct lua_State *L);  /* transcode.c */

/* The plugin's load: the translating table, gRPC-Web, the transcoding
 * handler. 0 or a PT_E* code. */
int grpc_adapt_load(pt_plugin_ctx *ctx, const struct pt_api **api);

#endif
