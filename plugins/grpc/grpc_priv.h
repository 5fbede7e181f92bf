/*
 * grpc_priv.h - the grpc plugin's shared declarations.
 *
 * Files: grpc.c (descriptor, options, the registry of contracts, the `grpc`
 * module table), frame.c (the wire: compression, grpc-timeout, status
 * codes and names, grpc-message percent-encoding, google.rpc.Status,
 * base64), server.c (the "grpc" handler: one call's life), body.c (the
 * request's length-prefixed messages), ctx.c (the Lua ctx object),
 * service.c (grpc.service, grpc.error), health.c and reflection.c (the
 * built-in services). pb.h and pb_*.c are the protobuf library.
 *
 * The `grpc` module table is made by one function per file
 * (grpc_*_module), each adding its fields: a later file (the client,
 * gRPC-Web) adds its own function to module_parts in grpc.c.
 */
#ifndef PT_GRPC_PRIV_H
#define PT_GRPC_PRIV_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <portico/portico.h>

#include "pb.h"

struct lua_State;
struct gcall;

extern const struct pt_api *grpc_api;
extern pt_plugin_ctx *grpc_ctx;

/* ---- status codes (google.rpc.Code) ---------------------------------------------- */

enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
	GRPC_UNAUTHENTICATED = 16,
};
#define GRPC_NCODES 17

/* "NOT_FOUND" for 5; NULL past the end. Static. */
const char *grpc_code_name(int code);
/* metrics.c: one server call on PATH ("/pkg.Svc/Method", or NULL) ended with
 * CODE. Thread-safe. */
void grpc_metrics_call(const char *path, int code);
/* The code named NAME (any case), or -1. */
int grpc_code_by_name(const char *name, size_t len);
/* "5" for 5: the grpc-status value, static. */
pt_str_t grpc_code_str(int code);

/* ---- options (plugin "grpc" { ... }) ------------------------------------------------ */

#define GRPC_DEFAULT_MAX_MESSAGE ((size_t)4 << 20)
#define GRPC_MAX_MESSAGE_CAP ((size_t)1 << 30)
#define GRPC_DEFAULT_COMPRESS_MIN 1024
#define GRPC_DEFAULT_MAX_QUEUED ((size_t)16 << 20)

struct gmethod;

/*
 * One generation of the plugin's options and contracts. Immutable once
 * made; shared by every worker; refcounted (a Lua state that ran the route
 * scripts holds the one it checked them against).
 */
struct gconf {
	atomic_int refs;
	struct pb_registry *reg;           /* linked; never NULL */
	size_t max_receive;                /* bytes of one incoming message */
	size_t max_send;                   /* bytes of one outgoing message */
	size_t compress_min;               /* compress replies this large (0: never) */
	double default_timeout;            /* seconds; 0: none */
	int reflection, health;            /* the built-in services are on */
	unsigned id;                       /* 1, 2, ... per load and reload */
};

/* The current options with a reference (never NULL after load); unref. */
struct gconf *grpc_conf_get(void);
void grpc_conf_ref(struct gconf *c);
void grpc_conf_unref(struct gconf *c);

/* ---- the wire (frame.c) -------------------------------------------------------------- */

/* Compression of one message (grpc-encoding). */
enum grpc_enc {
	GRPC_ENC_IDENTITY = 0,
	GRPC_ENC_GZIP = 1,
	GRPC_ENC_DEFLATE = 2,
	GRPC_ENC_UNKNOWN = -1,
};

/* The encoding named by a grpc-encoding value (identity, gzip, deflate). */
int grpc_enc_parse(pt_str_t v);
const char *grpc_enc_name(int enc);
/* Which of gzip/deflate a grpc-accept-encoding value lists: bit (1 << enc). */
unsigned grpc_enc_accepted(pt_str_t v);

/*
 * Compresses (ENC gzip or deflate) IN into OUT (appended). 0, or -1.
 * Inflates IN into OUT (appended), refusing more than MAX bytes out: 0, -1
 * for corrupt data, -2 over MAX.
 */
int grpc_deflate(int enc, const uint8_t *in, size_t len, struct pb_buf *out);
int grpc_inflate(int enc, const uint8_t *in, size_t len, size_t max, struct pb_buf *out);

/*
 * Cuts a stream of length-prefixed messages (a flags byte, a 4-byte
 * big-endian length, the bytes), fed in pieces of any size: the server's
 * request body and the client's response body both. A message that came
 * whole in one piece is handed over in place; one in pieces is gathered in
 * CUR. Zero it to start.
 */
struct grpc_deframer {
	uint8_t hdr[5];
	size_t hdr_have;                   /* 0: between messages */
	size_t need;                       /* the current message's length */
	struct pb_buf cur;                 /* a message arriving in pieces */
};
/* FN gets each whole message (MSG borrowed for the call); non-zero stops. */
typedef int (*grpc_msg_fn)(void *ud, unsigned flags, const uint8_t *msg, size_t len);
enum {
	GRPC_DEFRAME_STOPPED = -1,         /* FN returned non-zero */
	GRPC_DEFRAME_FLAGS = -2,           /* a flags byte other than 0 or 1 */
	GRPC_DEFRAME_TOO_LARGE = -3,       /* longer than MAX: D->need says how long */
	GRPC_DEFRAME_NOMEM = -4,
};
/* Feeds LEN bytes of DATA: 0, or a GRPC_DEFRAME_* (then stop feeding). */
int grpc_deframe(struct grpc_deframer *d, const uint8_t *data, size_t len, size_t max,
                 grpc_msg_fn fn, void *ud);

/* grpc-timeout "1S", "200m", ... (at most 8 digits and a unit) in
 * milliseconds, rounded up; -1 when malformed. */
int64_t grpc_timeout_parse(pt_str_t v);

/* Appends the grpc-message form of MSG (percent-encoding of bytes outside
 * 0x20-0x7e and of '%'). 0 or -1. */
int grpc_percent_encode(const char *msg, size_t len, struct pb_buf *out);

/* Standard base64 (with padding) of IN appended to OUT. 0 or -1. */
int grpc_base64_encode(const uint8_t *in, size_t len, struct pb_buf *out);
/* Decodes base64, padded or not (what gRPC peers send in -bin values). 0,
 * or -1 for a bad character. */
int grpc_base64_decode(const char *in, size_t len, struct pb_buf *out);

/* ---- the protobuf wire, by hand, for the built-in services ----------------------- */

int grpc_pb_varint(struct pb_buf *b, uint64_t v);
/* A field of wire type 2 (bytes, string, message). */
int grpc_pb_bytes(struct pb_buf *b, unsigned field, const void *p, size_t len);
int grpc_pb_uint(struct pb_buf *b, unsigned field, uint64_t v);

/* One field read by grpc_pb_next: its number and wire type, and either its
 * varint value or its bytes (borrowed from the message). */
struct grpc_pb_field {
	unsigned num, type;
	uint64_t u;
	const uint8_t *p;
	size_t len;
};
/* Reads the next field at *POS of [DATA, DATA+LEN): 1, 0 at the end, -1
 * when malformed. */
int grpc_pb_next(const uint8_t *data, size_t len, size_t *pos, struct grpc_pb_field *f);

/* google.rpc.Status { code, message, details: [Any] } into OUT: the value of
 * grpc-status-details-bin before base64. DETAILS are (type_url, value)
 * pairs. 0 or -1. */
int grpc_status_proto(int code, const char *msg, size_t msglen, const pt_str_t *details,
                      unsigned ndetails, struct pb_buf *out);

/* ---- methods ------------------------------------------------------------------------- */

/* How a built-in method is served (C, not Lua). */
typedef void (*grpc_builtin_fn)(struct gcall *c, const uint8_t *msg, size_t len);

/* The four kinds of call. */
enum grpc_kind {
	GRPC_UNARY = 0,
	GRPC_SERVER_STREAM = 1,
	GRPC_CLIENT_STREAM = 2,
	GRPC_BIDI = 3,
};

/* ---- the server (server.c, ctx.c) ----------------------------------------------------- */

struct gcall;

/* The "grpc" handler (route option grpc_method: the method's number in
 * the state's service table). */
int grpc_server_handle(pt_exchange *x, const pt_conf *opts, void *ud);

/* On each worker's thread as it stops: frees the thread's reply buffer. */
void grpc_server_worker_stop(void);

/* A request whose content-type starts with application/grpc-web: NULL until
 * the gRPC-Web part sets it; it then answers X. */
extern int (*grpc_web_handle)(pt_exchange *x, const pt_conf *opts, void *ud);

/*
 * Sends MSG (LEN bytes, already protobuf) as the next message of C,
 * compressing it when the call compresses. The first message sends the
 * headers. 0, or a negative PT_E* (PT_ESTATE: the call has ended;
 * PT_ELIMIT: larger than max_send_message).
 */
int grpc_call_send(struct gcall *c, const uint8_t *msg, size_t len);
/* Ends C with CODE and MSG (may be NULL) and the trailers set so far;
 * DETAILS (google.rpc.Status bytes, may be NULL) become
 * grpc-status-details-bin. Only the first end counts. */
void grpc_call_finish(struct gcall *c, int code, const char *msg, size_t msglen,
                      const struct pb_buf *details);
/* The call's exchange, or NULL once it has ended. */
pt_exchange *grpc_call_exchange(struct gcall *c);
const struct gconf *grpc_call_conf(struct gcall *c);

/* The state-side table of methods (service.c): per Lua state, the number
 * given to grpc.service's routes -> the handler and the method. */
struct gentry {
	const char *path;                  /* "/pkg.Service/Method" (static or the registry's) */
	int fn_ref;                        /* LUA_NOREF: not implemented */
	const struct pb_method *m;         /* NULL for a built-in */
	grpc_builtin_fn builtin;           /* C method (health, reflection) */
	int kind;                          /* enum grpc_kind */
};
struct gstate {
	struct gconf *conf;                /* a reference, dropped at the state's close */
	struct gentry *v;
	unsigned n, cap;
};
/* L's table, made when the module opens in L; NULL if it did not. */
struct gstate *grpc_state(struct lua_State *L);
/* The services S serves (grpc.service and the built-ins), each once: the
 * I-th one's name (borrowed from its path) in *NAME, *LEN; 0 past the end. */
int grpc_state_service_at(const struct gstate *s, unsigned i, const char **name, size_t *len);
/* 1 when S serves the service NAME[0..LEN). */
int grpc_state_serves(const struct gstate *s, const char *name, size_t len);

/* The ctx object (ctx.c). [-0, +1, m] */
void grpc_ctx_push(struct lua_State *L, struct gcall *c);
/* The ctx of C no longer reaches it (the call's memory is going). */
void grpc_ctx_detach(struct lua_State *L, int ctx_ref);

/* ---- module parts: each adds its fields to the table on top. [-0, +0, m] --------- */

void grpc_service_module(struct lua_State *L);
void grpc_health_module(struct lua_State *L);
void grpc_client_module(struct lua_State *L);   /* client_lua.c: call, stream, proxy */

/* ---- built-in services --------------------------------------------------------------- */

/* Health: status per service ("" the server), shared by every worker. */
enum grpc_health_status {
	GRPC_HEALTH_UNKNOWN = 0,
	GRPC_HEALTH_SERVING = 1,
	GRPC_HEALTH_NOT_SERVING = 2,
	GRPC_HEALTH_SERVICE_UNKNOWN = 3,
};
void grpc_health_check(struct gcall *c, const uint8_t *msg, size_t len);
void grpc_health_watch(struct gcall *c, const uint8_t *msg, size_t len);
void grpc_health_clear(void);

void grpc_reflection_call(struct gcall *c, const uint8_t *msg, size_t len);

#endif
