/*
 * gqlp.h - the graphql plugin's shared parts: its options (a refcounted
 * struct gqlp_conf that a reload replaces while requests in flight keep
 * theirs), the per-worker document cache, the Lua module and the HTTP
 * handler.
 */
#ifndef PORTICO_GQLP_H
#define PORTICO_GQLP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <portico/portico.h>

#include "gql_arena.h"
#include "ast.h"
#include "parser.h"
#include "schema.h"

struct lua_State;
struct jbuf;

extern const struct pt_api *gqlp_api;
extern pt_plugin_ctx *gqlp_ctx;

struct gqlp_conf {
	atomic_uint refs;
	unsigned id;                    /* changes with every reload: cache key */
	struct gql_schema *schema;
	struct gql_limits limits;       /* parser: max_bytes, max_tokens */
	unsigned max_depth, max_complexity, max_aliases;
	bool introspection, graphiql;
	char *path;                     /* where GraphiQL posts; "/graphql" */
	/* subscriptions over SSE (sub.c) */
	double sse_heartbeat;           /* seconds between ":" comments; 0: none */
	double max_duration;            /* seconds a stream may last; 0: no limit */
	unsigned max_events;            /* events a stream may carry; 0: no limit */
	/* GraphQL over WebSocket, graphql-transport-ws (ws.c): `ws = { ... }` */
	bool ws;                        /* `ws = false` refuses upgrades (426) */
	double ws_init_timeout;         /* connection_init_wait_timeout, seconds */
	unsigned ws_max_operations;     /* operations running at once on a connection */
	unsigned ws_max_message;        /* bytes of one client message */
	double ws_ping_interval;        /* seconds between WebSocket pings; < 0: none */
};

/* The current options with a reference (drop it with gqlp_conf_unref), or NULL. */
struct gqlp_conf *gqlp_conf_get(void);
void gqlp_conf_unref(struct gqlp_conf *c);

/*
 * A parsed and checked document, cached per worker by query text. ERRORS is
 * NULL for a document that may run, else the JSON array of its syntax or
 * validation errors. Refcounted: a request holds it until it has answered.
 */
struct gqlp_doc {
	unsigned refs;
	uint64_t hash;
	char *text;
	size_t len;
	unsigned conf_id;
	struct gql_arena arena;
	struct gql_doc *doc;
	char *errors;
	size_t errors_len;
	unsigned long used;             /* LRU clock */
};

struct gqlp_sub;

struct gqlp_worker {
	struct gqlp_doc *docs[64];
	unsigned long clock;
	struct lua_State *fallback;     /* for routes without scripts (no resolvers) */
	struct gqlp_sub *subs;          /* the worker's open subscriptions (sub.c) */
};

/* The document for TEXT, parsed and checked under C, from W's cache. NULL:
 * out of memory. The caller drops it with gqlp_doc_unref. */
struct gqlp_doc *gqlp_doc_get(struct gqlp_worker *w, struct gqlp_conf *c, const char *text,
                              size_t len);
void gqlp_doc_unref(struct gqlp_doc *d);
void gqlp_docs_clear(struct gqlp_worker *w);

/*
 * Validation of DOC under C's rules and limits (validate.c, and the
 * introspection switch). 0, or the number of errors with their JSON array
 * in OUT ("[{message, locations}, ...]").
 */
int gqlp_check(const struct gqlp_conf *c, struct gql_arena *a, const struct gql_doc *doc,
               struct jbuf *out);

int gqlp_lua_open(struct lua_State *L);
/* Pushes the graphql.context function and returns 1, or 0. */
int gqlp_lua_push_context_fn(struct lua_State *L);
/* Pushes the graphql.on_init function (WebSocket connection_init) and
 * returns 1, or 0. */
int gqlp_lua_push_init_fn(struct lua_State *L);
/* Decodes the JSON text P[0..N) (borrowed for the call) with the core's
 * json.decode, so that its size and depth limits and its null apply, in
 * protected mode: pushes the value and returns 0 (LUA_OK), or pushes the
 * error message and returns the lua_pcall status. [-0, +1, -] */
int gqlp_lua_json_decode(struct lua_State *L, const char *p, size_t n);
/* Pushes the ctx table of a request made from X's headers, consumer,
 * request id and remote address (http.c). [-0, +1, m] */
void gqlp_push_ctx(struct lua_State *L, pt_exchange *x);

/* The "graphql" handler (http.c). */
int gqlp_handler(pt_exchange *x, const pt_conf *opts, void *ud);
/* 1 when X asks for a WebSocket upgrade (Upgrade: websocket). */
int gqlp_ws_wanted(pt_exchange *x);
/* Answers X's upgrade and speaks graphql-transport-ws on it (ws.c). Takes
 * the reference to C. Returns 0 (answered), or a negative PT_E*. */
int gqlp_ws_upgrade(pt_exchange *x, struct gqlp_conf *c, struct gqlp_worker *gw);

/* Media types an answer can take (http.c negotiates). */
enum gqlp_media { GQLP_M_GQL = 0, GQLP_M_JSON = 1, GQLP_M_HTML = 2, GQLP_M_NONE = 3,
                  GQLP_M_SSE = 4 };

struct gqlp_req;
struct gqlp_sub;

/*
 * Where a subscription's output goes (sub.c): NULL in a request means
 * Server-Sent Events on its exchange; ws.c sends graphql-transport-ws
 * messages instead. Each returns 0, or -1 when the client is gone.
 */
struct gqlp_sink {
	/* S serves R from now on until it is freed (gqlp_req_free(R)). */
	void (*attach)(struct gqlp_req *r, struct gqlp_sub *s);
	/* The channel is subscribed: events follow. */
	int (*start)(struct gqlp_req *r);
	/* One event: JSON[0..N) is a GraphQL response ({"data":...}). */
	int (*next)(struct gqlp_req *r, const char *json, size_t n);
	/* The subscription failed before it started: JSON[0..N) is a response
	 * with errors, STATUS the HTTP status it would have. */
	void (*fail)(struct gqlp_req *r, int status, const char *json, size_t n);
	/* The end. COMPLETE: the stream ended (max_events, max_duration): tell
	 * the client; else the client left or the server stops. */
	void (*end)(struct gqlp_req *r, int complete);
	/* 1 when the client is gone. */
	int (*gone)(struct gqlp_req *r);
};

/* One GraphQL request over HTTP, ready to execute (http.c builds it), or
 * one operation of a WebSocket connection (ws.c: X is NULL, SINK set). */
struct gqlp_req {
	pt_exchange *x;                 /* one reference, or NULL */
	pt_worker *w;                   /* the worker it runs on */
	const struct gqlp_sink *sink;   /* NULL: SSE on X */
	void *sink_ud;
	void (*on_free)(struct gqlp_req *r);   /* called by gqlp_req_free, or NULL */
	/* resolver tasks (struct gql_exec_req.resume), NULL: lua_task_resume(x) */
	int (*resume)(void *resume_ud, struct lua_State *co, int nargs, int *nres,
	              pt_lua_task_fn done, void *ud);
	struct gqlp_conf *conf;         /* one reference: the options it started with */
	struct gqlp_doc *doc;           /* one reference */
	json_t *body;                   /* the parsed POST body, or GET's variables */
	json_t *vars;                   /* borrowed from body */
	char *opname;
	int media;                      /* enum gqlp_media */
	int subscription;               /* a subscription operation (over SSE) */
	int mutation;                   /* a mutation (metrics) */
	struct lua_State *L;            /* the exchange's state (or the worker's fallback) */
	int ctx_ref;                    /* registry: the ctx table */
	int co_ref;                     /* registry: the context hook's coroutine */
};

/* Frees R and drops the references it holds (the exchange's last). */
void gqlp_req_free(struct gqlp_req *r);

/* metrics.c: the plugin's series (made at load; no-ops before ABI 1.8). */
struct gql_result;
void gqlp_metrics_init(void);
void gqlp_metrics_result(int mutation, const struct gql_result *res);
void gqlp_metrics_refused(void);
void gqlp_metrics_subscription(int delta);
void gqlp_metrics_event(void);
struct gql_exec_req;
/* Fills Q to execute R: schema, document, operation, variables, state,
 * exchange, resolver-task resume (R->RESUME with R->SINK_UD) and api, the
 * rest zero; the caller sets mode, ctx_index, done and ud. Q borrows from R. */
void gqlp_exec_req_init(struct gql_exec_req *q, const struct gqlp_req *r);
struct gql_exec;
struct gql_result;
/* Starts executing R's query or mutation with R's ctx table: DONE(e, res, R)
 * is called once, maybe before this returns (R may then be freed already).
 * Returns 0, or -1 when it did not start (DONE is not called). Leaves R->L's
 * stack as it was. */
int gqlp_exec_start(struct gqlp_req *r,
                    void (*done)(struct gql_exec *e, const struct gql_result *res, void *ud));
/* Answers {"errors":[{"message": MSG}]} with STATUS in R's media type. */
int gqlp_respond_error(struct gqlp_req *r, int status, const char *msg);
/* Answers BODY (a GraphQL response) with STATUS in R's media type. */
int gqlp_respond(struct gqlp_req *r, int status, const char *body, size_t len);

/*
 * Runs the subscription R asks for and streams its events as Server-Sent
 * Events, or through R->sink (sub.c). Takes R: it is freed when the stream
 * ends.
 */
void gqlp_sub_start(struct gqlp_req *r);
/* The client stopped S (graphql-transport-ws "complete", the connection
 * closed): no more output; S and its request are freed now or when the
 * running execution ends. */
void gqlp_sub_cancel(struct gqlp_sub *s);
/* The worker stops: ends W's open subscriptions (no more writes). */
void gqlp_subs_stop(struct gqlp_worker *w);

#endif
