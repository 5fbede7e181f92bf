/*
 * portico/api.h - the table of core functions handed to a plugin.
 *
 * The core passes a `const struct pt_api *` to the plugin's load callback;
 * the pointer stays valid until unload. This is the only way into the core:
 * the daemon exports no other symbol (it is linked with hidden visibility).
 *
 * Rules of the table (the SQLite extension model):
 *  - append only: new functions go at the end with the minor version that
 *    added them; nothing is ever removed, reordered or changed in meaning;
 *  - `size` is sizeof(struct pt_api) in the running core. A plugin built
 *    against a newer minor checks PT_API_HAS(api, member) before it calls a
 *    member the running core may lack (the loader already refuses plugins
 *    whose minor is newer, so this only matters for optional use).
 *
 * Threads: functions taking a pt_worker or pt_exchange must be called on
 * that worker's thread. pt_api.post and pt_api.hub_publish are the
 * thread-safe ways in from elsewhere.
 *
 * Errors: functions return 0 or a negative PT_E* code; api->strerror names it.
 * PT_ENOSYS means "declared, not served by this core yet": a member whose
 * work the core does not do (filter phases other than access) says so
 * instead of pretending to succeed; members returning a pointer return
 * NULL then.
 * Strings: pt_str_t values returned by the core are borrowed; their lifetime is
 * stated per function (usually "until the exchange ends").
 */
#ifndef PORTICO_API_H
#define PORTICO_API_H

#include <stdarg.h>
#include "portico/types.h"
#include "portico/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PT_PRINTF(f, a)
#endif

typedef struct pt_exchange pt_exchange; /* one request/response, either HTTP version */
typedef struct pt_timer pt_timer;
typedef struct pt_sub pt_sub;           /* a hub subscription */
typedef struct pt_metric pt_metric;
typedef struct pt_wait pt_wait;         /* a suspended Lua coroutine */
struct lua_State;                       /* Lua 5.4; see the build signature */

/* Config value types (pt_api.conf_type). */
enum pt_conf_type {
	PT_CONF_NIL = 0,
	PT_CONF_BOOL = 1,
	PT_CONF_NUMBER = 2,
	PT_CONF_STRING = 3,
	PT_CONF_TABLE = 4,
};

/*
 * A handler answers an exchange. Return 0 when it has answered or will
 * answer later (it then holds a reference: exchange_ref/unref); a negative
 * PT_E* makes the core answer 500 and log the code. ROUTE_OPTS are the
 * options of the route that chose the handler (borrowed, exchange lifetime).
 */
typedef int (*pt_handler_fn)(pt_exchange *x, const pt_conf *route_opts, void *ud);

/* Filter phases, in the order an exchange would run them. Only the access
 * phase runs in this core: registering a filter for another phase returns
 * PT_ENOSYS (headers an access filter sets stay on every answer, and the
 * access log is the core's). */
enum pt_phase {
	PT_PHASE_ACCESS = 1,   /* before the handler: auth, rate limit, IP lists */
	PT_PHASE_HEADER = 2,   /* not run yet: PT_ENOSYS */
	PT_PHASE_BODY = 3,     /* not run yet: PT_ENOSYS */
	PT_PHASE_LOG = 4,      /* not run yet: PT_ENOSYS */
};

/* What a filter returns (or a negative PT_E*: 500). */
enum pt_filter_result {
	PT_FILTER_NEXT = 0,    /* go on with the next filter / the handler */
	PT_FILTER_DONE = 1,    /* the filter answered (e.g. 401, 429): stop */
	PT_FILTER_WAIT = 2,    /* async: call exchange_resume later */
};

/* OPTS are the options given where the filter is used (`use("cors", {...})`). */
typedef int (*pt_filter_fn)(pt_exchange *x, const pt_conf *opts, void *ud);

/*
 * A filter whose options are checked and prepared once, when a generation
 * is built, instead of on every request (pt_api.filter_define).
 */
struct pt_filter_def {
	uint32_t size;               /* sizeof(struct pt_filter_def) */
	const char *name;
	int phase;                   /* PT_PHASE_ACCESS (others: PT_ENOSYS) */
	unsigned flags;              /* PT_FILTER_* below */
	/*
	 * Main thread, at generation build, once per place the filter is used
	 * (a `use` shared by many routes is compiled once): check OPTS and make
	 * *STATE. Return 0, or a negative PT_E* with ERR set; the core adds the
	 * file and line and refuses the generation. NULL: STATE is OPTS.
	 */
	int (*compile)(const pt_conf *opts, void **state, char *err, size_t errlen, void *ud);
	/* When the generation is freed (any thread). May be NULL. */
	void (*release)(void *state, void *ud);
	/* Per exchange: like pt_filter_fn, with the compiled state. */
	int (*run)(pt_exchange *x, void *state, void *ud);
};

/* pt_filter_def.flags: run for CORS preflight requests too. An OPTIONS
 * request with Origin and Access-Control-Request-Method that no route
 * answers as OPTIONS is routed as the method it asks about, and then only
 * filters with this flag run (auth filters must not see preflights). */
#define PT_FILTER_PREFLIGHT 1u

/* The outcome of pt_api.rate_take. */
struct pt_rate {
	int allowed;
	double remaining;      /* whole requests left */
	double reset;          /* seconds until the bucket is full again */
	double retry_after;    /* seconds until a refused request would pass */
};

/* A Redis reply (pt_api.redis_eval), borrowed for the callback. */
enum pt_redis_type {
	PT_REDIS_FAILED = -1,  /* no reply: see the err string (timeout, not connected, ...) */
	PT_REDIS_NIL = 0,
	PT_REDIS_INT = 1,
	PT_REDIS_STRING = 2,
	PT_REDIS_STATUS = 3,
	PT_REDIS_ERROR = 4,    /* Redis answered with an error: str holds it */
	PT_REDIS_ARRAY = 5,
};

struct pt_redis_reply {
	int type;
	long long integer;
	const char *str;
	size_t len;
	size_t nelem;
	const struct pt_redis_reply *elem;
};
typedef void (*pt_redis_fn)(const struct pt_redis_reply *r, const char *err, void *ud);

/* Streamed request body: DATA/LEN borrowed for the call; LAST on the final call. */
typedef void (*pt_body_fn)(pt_exchange *x, const char *data, size_t len, int last, void *ud);

typedef void (*pt_task_fn)(void *ud);
typedef void (*pt_hub_fn)(pt_worker *w, pt_str_t channel, pt_str_t message, void *ud);

/* An outbound HTTP request (pt_api.upstream_request). */
struct pt_upstream_req {
	uint32_t size;               /* sizeof(struct pt_upstream_req) */
	const char *upstream;        /* a named upstream, or NULL with url set */
	const char *url;             /* absolute http:// URL when upstream is NULL */
	pt_str_t method;
	pt_str_t path;               /* with query; ignored when url is set */
	const pt_str_t *headers;     /* name, value, name, value, ... */
	uint32_t num_headers;        /* pairs */
	pt_str_t body;
	uint32_t timeout_ms;         /* whole request; 0: the upstream's default */
};

/* The answer to an upstream request: borrowed for the callback only. */
struct pt_upstream_res {
	uint32_t size;
	int status;                  /* HTTP status, or a negative PT_E* */
	const pt_str_t *headers;     /* name, value pairs, names lower-case */
	uint32_t num_headers;
	pt_str_t body;
	const pt_str_t *trailers;    /* 1.7: the response's trailer fields (HTTP/2
	                              * HEADERS after the DATA, HTTP/1.1 chunked
	                              * trailers), names lower-case; borrowed */
	uint32_t num_trailers;       /* pairs */
	const char *error;           /* 1.11: when status < 0, what happened, in a few
	                              * words ("connection refused", "DNS lookup
	                              * failed", "request timed out"); static text;
	                              * NULL otherwise. Read it with
	                              * PT_UPSTREAM_ERROR(res) (older cores lack it) */
};
typedef void (*pt_upstream_fn)(const struct pt_upstream_res *res, void *ud);

/* Pushes the values a resumed Lua coroutine receives; returns their count. */
typedef int (*pt_lua_push_fn)(struct lua_State *L, void *ud);
typedef int (*pt_lua_open_fn)(struct lua_State *L);
/* A task coroutine ended after it waited (pt_api.lua_task_resume): STATUS is
 * LUA_OK with NRES results on CO's stack, or an error status with the
 * message on top. */
typedef void (*pt_lua_task_fn)(struct lua_State *co, int status, int nres, void *ud);

/* ---- 1.6: WebSocket (pt_api.ws_accept and friends) ------------------------ */

typedef struct pt_ws pt_ws;           /* one WebSocket connection, after its upgrade */

/* pt_ws_opts.on_full: what a send does when the client's queue is full. */
enum pt_ws_full {
	PT_WS_FULL_CLOSE = 0,          /* close the connection with 1008 (logged) */
	PT_WS_FULL_DROP_OLDEST = 1,    /* drop queued whole messages, oldest first */
};

/* How a connection is accepted; zero fields take the defaults. */
struct pt_ws_opts {
	uint32_t size;                 /* sizeof(struct pt_ws_opts) */
	const pt_str_t *subprotocols;  /* the server's, in its order of preference */
	unsigned nsubprotocols;        /* 0: the client's offers are ignored, no header */
	int require_subprotocol;       /* refuse (400) a client that offers none of them */
	size_t max_message;            /* bytes of one incoming message; 0: 1 MiB */
	double ping_interval;          /* seconds between pings; 0: 30; < 0: none */
	double ping_timeout;           /* silent this long after a ping: closed; 0: 10 */
	size_t queue_max;              /* bytes queued toward a slow client; 0: 1 MiB */
	int on_full;                   /* enum pt_ws_full */
	int no_deflate;                /* 1: never accept permessage-deflate */
};

/*
 * What the core tells the owner of a connection, on its worker's thread.
 * on_message: one whole message (reassembled, inflated; text is valid
 * UTF-8), DATA borrowed for the call. on_close: the last call, once, for
 * any end (the client's close frame with CODE and REASON, 1006 for a
 * connection lost, the code the core closed with after a protocol error, a
 * ping timeout, a full queue, ws_close, or the worker stopping: 1001); WS
 * is freed when it returns.
 */
struct pt_ws_ops {
	uint32_t size;                 /* sizeof(struct pt_ws_ops) */
	void (*on_message)(pt_ws *ws, const char *data, size_t len, int binary, void *ud);
	void (*on_close)(pt_ws *ws, unsigned code, pt_str_t reason, void *ud);
};

/* ---- 1.9: a plugin's admin API endpoints (pt_api.admin_route_register) ---- */

/* A request to a plugin's admin endpoint: borrowed for the call. The admin
 * listener reads no request body. */
struct pt_admin_req {
	uint32_t size;               /* sizeof(struct pt_admin_req) */
	pt_str_t method;             /* "GET", "POST", ... */
	pt_str_t path;               /* the whole path, "/webhooks/12/replay", no query */
	pt_str_t query;              /* after '?', undecoded; empty when none */
};
/*
 * Answers REQ on the main thread, synchronously (keep it short: the admin
 * listener and reloads share the thread): returns the HTTP status and sets
 * *BODY to a malloc'd JSON document of *LEN bytes (the core frees it) or
 * leaves it NULL for an empty answer. A status outside 200..599 is a 500.
 */
typedef int (*pt_admin_fn)(const struct pt_admin_req *req, char **body, size_t *len, void *ud);

/* ---- 1.7: streaming upstream calls (pt_api.ucall_start and friends) ------- */

typedef struct pt_ucall pt_ucall;    /* a streaming upstream call */

/* What a streaming upstream call tells its owner, on its worker's thread,
 * never from inside a pt_api call. A callback returning < 0 cancels the
 * call: done then follows with PT_ECANCELED (see done). */
struct pt_ucall_ops {
	uint32_t size;               /* sizeof(struct pt_ucall_ops) */
	/* The final response head: STATUS, header pairs (names lower-case). */
	int (*head)(pt_ucall *c, int status, const pt_str_t *headers, uint32_t nheaders,
	            void *ud);
	/* Response body bytes, borrowed for the call. */
	int (*data)(pt_ucall *c, const void *data, size_t len, void *ud);
	/* The request bytes queued fell under PT_UCALL_LOW after ucall_write
	 * returned PT_UCALL_HIGH or more. May be NULL. */
	void (*drain)(pt_ucall *c, void *ud);
	/* The end, exactly once (unless ucall_cancel): ERR 0 when the response
	 * ended normally, with its TRAILERS (name, value pairs, names
	 * lower-case; 0 pairs when it had none), or a negative PT_E*
	 * (PT_ETIMEDOUT: the deadline or a silence; PT_EIO: refused, reset,
	 * malformed; PT_ELIMIT; PT_ENOENT: no such upstream; PT_ECANCELED: a
	 * callback returned < 0) with ERRMSG a static sentence. C is freed
	 * when done returns. */
	void (*done)(pt_ucall *c, int err, const char *errmsg, const pt_str_t *trailers,
	             uint32_t ntrailers, void *ud);
};

#define PT_UCALL_HIGH (256u << 10)
#define PT_UCALL_LOW (64u << 10)

/* ---- 1.10: response backpressure (pt_api.exchange_queued, exchange_on_drain) */

/* Response bytes queued toward a client above which a producer should wait
 * (exchange_on_drain), and the level under which it is told to go on. */
#define PT_EXCHANGE_HIGH (256u << 10)
#define PT_EXCHANGE_LOW (64u << 10)

/* ---- 1.8: how the process runs, commands (pt_api.run_mode, command_register) */

/* pt_api.run_mode(): a plugin's load() checks it before it starts threads
 * or touches state on disk. */
enum pt_run_mode {
	PT_RUN_DAEMON = 0,             /* serving */
	PT_RUN_CHECK = 1,              /* portico -t: load and check, then exit */
	PT_RUN_COMMAND = 2,            /* portico NAME ARGS...: a plugin's command */
};

/* A command's body: ARGV[0] is its NAME, ARGV[ARGC] NULL. Returns the
 * process's exit status (0 ok, 1 failure, 2 usage). */
typedef int (*pt_command_fn)(pt_plugin_ctx *ctx, int argc, char **argv, void *ud);

struct pt_api {
	uint32_t size;                 /* sizeof(struct pt_api) in the running core */
	uint16_t abi_major, abi_minor; /* the running core's ABI */

	/* ---- 1.0: core facts and logging ---------------------------------- */

	/* The core's version string, e.g. "0.1.0". Static. */
	const char *(*version)(void);
	/* A sentence for a PT_E* code. Static. */
	const char *(*strerror)(int err);
	/* Log a line at LEVEL (enum pt_log_level), prefixed with the plugin's name. */
	void (*log)(pt_plugin_ctx *ctx, int level, const char *fmt, ...) PT_PRINTF(3, 4);
	void (*vlog)(pt_plugin_ctx *ctx, int level, const char *fmt, va_list ap);
	/* Plugin-wide private pointer (owned by the plugin). */
	void (*ctx_set_data)(pt_plugin_ctx *ctx, void *data);
	void *(*ctx_get_data)(pt_plugin_ctx *ctx);

	/* ---- 1.0: config values --------------------------------------------
	 * A pt_conf is a node of the config tree: a table, string, number or
	 * boolean. Nodes are borrowed: valid until the generation they came
	 * with is replaced (the plugin's reload callback says when). */

	int (*conf_type)(const pt_conf *c);
	/* The child at KEY of a table, or NULL. KEY may be a dotted path "a.b". */
	const pt_conf *(*conf_get)(const pt_conf *c, const char *key);
	/* The array length of a table (its 1..n part), 0 for other types. */
	size_t (*conf_len)(const pt_conf *c);
	/* The I-th array element (0-based), or NULL. */
	const pt_conf *(*conf_at)(const pt_conf *c, size_t i);
	/* The I-th key of a table's hash part (0-based), or NULL past the end. */
	const char *(*conf_key_at)(const pt_conf *c, size_t i, const pt_conf **value);
	/* Typed reads of child KEY (NULL key: C itself). 0, PT_ENOENT if absent,
	 * PT_ETYPE if it has another type. OUT is untouched unless 0 is returned. */
	int (*conf_str)(const pt_conf *c, const char *key, pt_str_t *out);
	int (*conf_num)(const pt_conf *c, const char *key, double *out);
	int (*conf_int)(const pt_conf *c, const char *key, int64_t *out);
	int (*conf_bool)(const pt_conf *c, const char *key, int *out);
	/* The config file and line a node came from, for error messages. */
	int (*conf_where)(const pt_conf *c, const char **file, int *line);

	/* ---- 1.0: handlers and filters --------------------------------------
	 * Names are global across plugins ("proxy", "graphql", "hello.text").
	 * Call from load. UD is the plugin's, passed back on each call.
	 * filter_register: PT_ENOSYS for PT_PHASE_HEADER, _BODY and _LOG (not
	 * run by this core), PT_EINVAL for a phase that does not exist. */

	int (*handler_register)(pt_plugin_ctx *ctx, const char *name, pt_handler_fn fn, void *ud);
	int (*filter_register)(pt_plugin_ctx *ctx, const char *name, int phase, pt_filter_fn fn, void *ud);

	/* ---- 1.0: the exchange: request ------------------------------------
	 * Strings are borrowed until the exchange ends. */

	unsigned (*exchange_method)(pt_exchange *x);          /* enum pt_method bit */
	pt_str_t (*exchange_method_name)(pt_exchange *x);
	pt_str_t (*exchange_path)(pt_exchange *x);            /* raw, without query */
	pt_str_t (*exchange_query)(pt_exchange *x);           /* raw, without '?' */
	pt_str_t (*exchange_host)(pt_exchange *x);            /* Host or :authority */
	/* The IDX-th (0-based) decoded value of query argument NAME. */
	int (*exchange_query_arg)(pt_exchange *x, pt_str_t name, unsigned idx, pt_str_t *out);
	/* The IDX-th value of header NAME (case-insensitive). */
	int (*exchange_header)(pt_exchange *x, pt_str_t name, unsigned idx, pt_str_t *out);
	unsigned (*exchange_header_count)(pt_exchange *x);
	/* Header I in arrival order; names are lower-case. */
	int (*exchange_header_at)(pt_exchange *x, unsigned i, pt_str_t *name, pt_str_t *value);
	/* A route parameter (`:id`, `*rest`). */
	int (*exchange_param)(pt_exchange *x, pt_str_t name, pt_str_t *out);
	pt_str_t (*exchange_remote_addr)(pt_exchange *x);     /* "ip:port" */
	pt_str_t (*exchange_request_id)(pt_exchange *x);
	/* The whole request body, once received (routes buffer it by default,
	 * up to the body limit). PT_ESTATE while it is still streaming. */
	int (*exchange_body)(pt_exchange *x, pt_str_t *out);
	/* Stream the body instead: FN gets each chunk as it arrives. Call from
	 * the handler of a route with `stream_body = true`. */
	int (*exchange_body_read)(pt_exchange *x, pt_body_fn fn, void *ud);

	/* ---- 1.0: the exchange: response ---------------------------------- */

	int (*exchange_status_set)(pt_exchange *x, int status);
	/* Add a header (copied). PT_ESTATE once headers are sent. */
	int (*exchange_header_add)(pt_exchange *x, pt_str_t name, pt_str_t value);
	/* Replace every header NAME with one value (copied). */
	int (*exchange_header_set)(pt_exchange *x, pt_str_t name, pt_str_t value);
	/* Send a whole response: status, the headers added so far, BODY (copied). */
	int (*exchange_respond)(pt_exchange *x, int status, pt_str_t body);
	/* Stream: the first write sends the headers (chunked on HTTP/1.1, DATA
	 * frames on HTTP/2); DATA is copied. finish ends the body. */
	int (*exchange_write)(pt_exchange *x, const void *data, size_t len);
	/* Trailers go out after a streamed body (chunked HTTP/1.1, HTTP/2);
	 * HTTP/1.1 sends none after a whole exchange_respond body. */
	int (*exchange_trailer_add)(pt_exchange *x, pt_str_t name, pt_str_t value);
	int (*exchange_finish)(pt_exchange *x);

	/* ---- 1.0: the exchange: life --------------------------------------- */

	/* Keep X alive past the handler's return (async answers). */
	void (*exchange_ref)(pt_exchange *x);
	void (*exchange_unref)(pt_exchange *x);
	/* 1 once the client went away: stop work, just unref. */
	int (*exchange_aborted)(pt_exchange *x);
	/* Memory freed with the exchange. */
	void *(*exchange_alloc)(pt_exchange *x, size_t size);
	pt_worker *(*exchange_worker)(pt_exchange *x);
	/* After PT_FILTER_WAIT: go on with the next filter / the handler. */
	int (*exchange_resume)(pt_exchange *x);

	/* ---- 1.0: workers, timers, threads --------------------------------- */

	/* W's slot, unique among the live workers and below max_workers (at
	 * most 1024). A reload may grow or shrink the workers, so an id may
	 * be >= worker_count(): size per-worker tables by 1024 or check. */
	unsigned (*worker_id)(pt_worker *w);
	unsigned (*worker_count)(void);                       /* serving now */
	/* Per-worker private pointer of this plugin. */
	void (*worker_set_data)(pt_plugin_ctx *ctx, pt_worker *w, void *data);
	void *(*worker_get_data)(pt_plugin_ctx *ctx, pt_worker *w);
	/* A timer on W's loop; FN runs on W's thread. */
	pt_timer *(*timer_new)(pt_worker *w, pt_task_fn fn, void *ud);
	int (*timer_start)(pt_timer *t, uint64_t ms, int repeat);
	void (*timer_stop)(pt_timer *t);
	void (*timer_free)(pt_timer *t);
	/* Thread-safe: run FN(UD) soon on W's thread. */
	int (*post)(pt_worker *w, pt_task_fn fn, void *ud);

	/* ---- 1.0: hub (publish/subscribe across workers and plugins) -------- */

	/* Thread-safe. MESSAGE is copied. Returns the number of subscribers. */
	int (*hub_publish)(pt_str_t channel, pt_str_t message);
	/* FN runs on W's thread for each message on CHANNEL ("prefix.*" matches
	 * every channel starting with "prefix."). */
	pt_sub *(*hub_subscribe)(pt_worker *w, pt_str_t channel, pt_hub_fn fn, void *ud);
	void (*hub_unsubscribe)(pt_sub *s);

	/* ---- 1.0: metrics (Prometheus text on the admin listener) ----------
	 * Served at the admin listener's GET /metrics (doc/operations.md) when
	 * the config has an `admin { ... }` block. NAME is a Prometheus metric
	 * name ([a-zA-Z_:][a-zA-Z0-9_:]*; prefix it with portico_<plugin>_),
	 * without labels. A metric lives until the process exits: the pointer
	 * stays valid across reloads. metric_counter and metric_gauge return
	 * NULL for a bad name or a name already registered with the other kind
	 * (and cores before this one returned NULL always); metric_add and
	 * metric_set accept NULL and do nothing, so a plugin keeps the NULL and
	 * calls on. */

	/* A counter or gauge named NAME. Same name twice: the same metric. */
	pt_metric *(*metric_counter)(pt_plugin_ctx *ctx, const char *name, const char *help);
	pt_metric *(*metric_gauge)(pt_plugin_ctx *ctx, const char *name, const char *help);
	void (*metric_add)(pt_metric *m, double v);          /* thread-safe */
	void (*metric_set)(pt_metric *m, double v);          /* thread-safe, gauges */

	/* ---- 1.0: Lua ------------------------------------------------------
	 * Lua 5.4: plugins may use the Lua C API on the states the core hands
	 * them. `require(NAME)` in scripts returns what OPEN pushes. */

	int (*lua_module_register)(pt_plugin_ctx *ctx, const char *name, pt_lua_open_fn open);
	/* Inside a C function called from a request coroutine: suspend it.
	 * Usage: `pt_wait *w = api->lua_wait_begin(L); start I/O;
	 * return api->lua_wait_yield(L);` and later, on the worker's thread,
	 * `api->lua_wait_wake(w, push, ud)`. (Not named lua_yield & co: those
	 * are macros in lua.h.) */
	pt_wait *(*lua_wait_begin)(struct lua_State *L);
	int (*lua_wait_yield)(struct lua_State *L);
	int (*lua_wait_wake)(pt_wait *w, pt_lua_push_fn push, void *ud);

	/* ---- 1.0: upstreams ------------------------------------------------ */

	/* An HTTP request on W's loop: through the named upstream REQ->upstream
	 * (balancing, passive health, retries for idempotent methods; PT_ENOENT
	 * when the config declares no such upstream), or to REQ->url (http:// or
	 * https://). Keep-alive pools per worker; a timeout is always on
	 * (REQ->timeout_ms, else the upstream's read timeout or 30 s). FN is
	 * called exactly once, later, on W's thread, unless this returns non-zero.
	 * The call belongs to no exchange: the access log does not see it (use
	 * exchange_upstream_request, 1.4, when a request is being answered). */
	int (*upstream_request)(pt_worker *w, const struct pt_upstream_req *req,
	                        pt_upstream_fn fn, void *ud);

	/* ---- 1.0: Lua, continued -------------------------------------------- */

	/* The worker whose state L (or a coroutine of it) belongs to, for
	 * timers and upstream calls started from a Lua function; NULL while
	 * scripts load on the main thread. */
	pt_worker *(*lua_worker)(struct lua_State *L);

	/* ---- 1.1: the authenticated consumer --------------------------------- */

	/* Auth filters name who made the request (copied); handlers, Lua
	 * (`req.consumer`) and the access log see it. */
	int (*exchange_consumer_set)(pt_exchange *x, pt_str_t name);
	pt_str_t (*exchange_consumer)(pt_exchange *x);

	/* ---- 1.1: filters with compiled options ----------------------------- */

	/* Like filter_register, with options compiled per generation. DEF is
	 * copied. Call from load. PT_ENOSYS when DEF->phase is not
	 * PT_PHASE_ACCESS (see enum pt_phase). */
	int (*filter_define)(pt_plugin_ctx *ctx, const struct pt_filter_def *def, void *ud);

	/* ---- 1.1: rate limiting ------------------------------------------- */

	/* A token bucket shared by every worker (in the shared dictionary):
	 * LIMIT requests per PERIOD seconds, up to BURST at once, keyed by KEY.
	 * Takes COST tokens if they are there. Thread-safe, never blocks on I/O.
	 * 0, or PT_EINVAL / PT_ENOMEM. */
	int (*rate_take)(pt_str_t key, double limit, double period, double burst, double cost,
	                 struct pt_rate *out);

	/* ---- 1.1: Redis (the config's `redis = { ... }`) -------------------- */

	/* 1 when the config names a Redis server. */
	int (*redis_configured)(void);
	/* EVAL of SCRIPT (static storage: its SHA1 is cached, EVALSHA is sent)
	 * with NKEYS of the ARGC arguments as keys, on W's connection. FN runs
	 * exactly once, later, on W's thread; the command timeout is always on.
	 * PT_ENOENT when no Redis is configured. */
	int (*redis_eval)(pt_worker *w, const char *script, int nkeys, int argc,
	                  const char *const *argv, const size_t *argvlen, pt_redis_fn fn, void *ud);

	/* ---- 1.2: Lua run by handlers written in C ------------------------- */

	/* The Lua state of X's generation on X's worker (the one its route
	 * scripts ran in, made on first use), or NULL when the scripts cannot
	 * load there (logged). Borrowed: valid while X lives. */
	struct lua_State *(*exchange_lua)(pt_exchange *x);
	/*
	 * Resume CO, a coroutine of exchange_lua(X) with a function and NARGS
	 * arguments (or a waiting task's wake values) on its stack, as a task of
	 * X: the instruction budget applies and Portico waits (sleep,
	 * http.request, lua_wait_*) may suspend it, as in a route handler.
	 * Returns LUA_OK (results on CO's stack, their count in *NRES) or an
	 * error status (the message on top) when CO ended without waiting;
	 * LUA_YIELD when it waits: DONE(CO, status, nres, UD) is then called
	 * exactly once, later, on X's worker, when CO ends (X is kept alive
	 * until then). A coroutine.yield() that is not a Portico wait is an
	 * error. CO stays the caller's: the core keeps no reference to it.
	 */
	int (*lua_task_resume)(pt_exchange *x, struct lua_State *co, int nargs, int *nres,
	                       pt_lua_task_fn done, void *ud);

	/* ---- 1.3: the client leaving ---------------------------------------- */

	/*
	 * FN(UD) runs once, later, on X's worker, when the client goes away
	 * before X's answer is complete (HTTP/1.1: the connection closes or
	 * fails; HTTP/2: RST_STREAM or the connection's end), so a handler that
	 * waits or streams (a subscription) stops at once instead of at its
	 * next write. exchange_aborted is 1 from then on. One callback per
	 * exchange: a second call replaces it; FN NULL removes it, and a call
	 * already due is then dropped: remove it before UD is freed. FN may end
	 * the response and drop the handler's reference. 0; PT_ESTATE when the
	 * connection has let go of X already (aborted, or answered).
	 */
	int (*exchange_on_abort)(pt_exchange *x, pt_task_fn fn, void *ud);

	/* ---- 1.4: upstream calls made for an exchange ----------------------- */

	/*
	 * upstream_request on X's worker, made on X's behalf: the access log's
	 * upstream fields report it ($upstream_addr: the server of the last
	 * call that reached one; $upstream_latency_ms: the time spent waiting,
	 * summed over X's calls), filled before FN runs. X is kept alive until
	 * FN has returned, so FN may still answer or unref X. Everything else
	 * (REQ, FN, the returns) is as for upstream_request; PT_EINVAL when X
	 * is NULL. Call on X's worker.
	 */
	int (*exchange_upstream_request)(pt_exchange *x, const struct pt_upstream_req *req,
	                                 pt_upstream_fn fn, void *ud);

	/* ---- 1.5: hub message ids -------------------------------------------- */

	/*
	 * Inside a pt_hub_fn: the id of the message being delivered. The hub
	 * numbers every message when it is published, 1, 2, 3, ... over all
	 * channels, so ids increase in publish order on each channel (with gaps)
	 * and every worker sees the same id for the same message. They restart
	 * at 1 with the process. Outside a delivery: the id of the last message
	 * published so far (0 before the first); read right after hub_subscribe,
	 * every message with a greater id reaches the new subscription.
	 * Thread-safe.
	 */
	uint64_t (*hub_message_id)(void);

	/* ---- 1.6: WebSocket ------------------------------------------------- */

	/*
	 * From a handler (or after its filters, when it answers later): check X
	 * as a WebSocket opening handshake (RFC 6455 4.2.1: GET over HTTP/1.1,
	 * Upgrade: websocket, Connection: upgrade, a Sec-WebSocket-Key of 16
	 * bytes, Sec-WebSocket-Version 13), choose a subprotocol (the first of
	 * O's that the client offers) and permessage-deflate (RFC 7692), then
	 * answer 101 with the headers added to X so far and take the connection
	 * over. X's answer is complete then (the access log says 101); the
	 * returned connection lives on X's worker until ops->on_close. A request
	 * that is no handshake is answered by this call: 426 with
	 * `Sec-WebSocket-Version: 13` for another version or a plain GET, 400
	 * for a missing or bad key, a body, or a required subprotocol missing;
	 * NULL is returned then, with *ERR (when ERR is not NULL) PT_EINVAL.
	 * HTTP/2 requests (RFC 8441) are not served: 426 as well.
	 */
	pt_ws *(*ws_accept)(pt_exchange *x, const struct pt_ws_opts *o,
	                    const struct pt_ws_ops *ops, void *ud, int *err);
	/*
	 * Queue a message (DATA copied; BINARY 0: text, which must be valid
	 * UTF-8: PT_EINVAL otherwise). 0; PT_ESTATE once the connection is
	 * closing; PT_ELIMIT when the queue is full and on_full is
	 * PT_WS_FULL_CLOSE (the connection is closing with 1008 then: on_close
	 * follows, later). With PT_WS_FULL_DROP_OLDEST a full queue drops older
	 * messages not yet started and returns 0.
	 */
	int (*ws_send)(pt_ws *ws, const void *data, size_t len, int binary);
	/* Start the closing handshake with CODE (1000, 3000-4999, ...; 0: 1000)
	 * and REASON (<= 123 bytes, UTF-8). on_close follows, later. 0;
	 * PT_EINVAL for a code that may not be sent; PT_ESTATE when closing. */
	int (*ws_close)(pt_ws *ws, unsigned code, pt_str_t reason);
	/* Stop (1) or resume (0) handing messages to on_message: a handler that
	 * waits keeps its connection's messages in order. While paused the core
	 * reads no more from the client beyond max_message (TCP pushes back). */
	void (*ws_pause)(pt_ws *ws, int paused);
	/* The subprotocol chosen ("" for none), borrowed for WS's life. */
	pt_str_t (*ws_subprotocol)(pt_ws *ws);
	/* A number for logs, unique in the process; the worker; the client
	 * "ip:port"; the request id of its upgrade. */
	uint64_t (*ws_id)(pt_ws *ws);
	pt_worker *(*ws_worker)(pt_ws *ws);
	pt_str_t (*ws_remote_addr)(pt_ws *ws);
	pt_str_t (*ws_request_id)(pt_ws *ws);
	/* Bytes queued toward the client, not yet written to the socket. */
	size_t (*ws_queued)(pt_ws *ws);
	/* The Lua state of the generation WS's upgrade ran in, on its worker
	 * (the one exchange_lua gave for it), or NULL. Valid while WS lives. */
	struct lua_State *(*ws_lua)(pt_ws *ws);
	/* lua_task_resume for a connection: the same contract, with no request
	 * in progress (a fresh budget per call; Portico waits may suspend CO;
	 * DONE runs on WS's worker even when WS has closed meanwhile). */
	int (*ws_lua_task_resume)(pt_ws *ws, struct lua_State *co, int nargs, int *nres,
	                          pt_lua_task_fn done, void *ud);
	/* Pushes X's `req` object (the one route handlers get; it refuses use
	 * once X has ended) onto CO, a thread of exchange_lua(X): 0, PT_ESTATE,
	 * PT_ENOMEM. Never raises. */
	int (*exchange_lua_req)(pt_exchange *x, struct lua_State *co);

	/* ---- 1.7: streaming upstream calls (gRPC client and proxy) ---------- */

	/*
	 * Start REQ (as for upstream_request: a named upstream with its
	 * balancing, health, TLS and protocol -- HTTP/2 when the upstream says
	 * `http2 = true` or protocol "h2c"/"h2" -- or a URL) as a streaming
	 * call on W. X, when not NULL, is the exchange it is made for (the
	 * access log's upstream fields, as exchange_upstream_request). REQ->body
	 * is the first part of the request body; BODY_MORE 1: more follows
	 * through ucall_write until ucall_end; 0: REQ->body is all of it.
	 * REQ->timeout_ms is a deadline for the whole call (0: none; the
	 * upstream's read timeout still bounds each silence). Returns the
	 * call, or NULL with *ERR (PT_ENOENT no such upstream, PT_EINVAL,
	 * PT_ENOMEM); OPS->done is never called then.
	 */
	pt_ucall *(*ucall_start)(pt_worker *w, pt_exchange *x, const struct pt_upstream_req *req,
	                         int body_more, const struct pt_ucall_ops *ops, void *ud, int *err);
	/* Queue LEN more request bytes (copied). Returns the bytes now queued
	 * (pause the source at PT_UCALL_HIGH or more; ops->drain says when to go
	 * on), or a negative PT_E* (PT_ESTATE after ucall_end). */
	int64_t (*ucall_write)(pt_ucall *c, const void *data, size_t len);
	/* The request body is complete; TRAILERS (N pairs, copied) go after it
	 * (HTTP/2 HEADERS with END_STREAM). 0 or a negative PT_E*. */
	int (*ucall_end)(pt_ucall *c, const pt_str_t *trailers, uint32_t ntrailers);
	/* Stop (1) / go on (0) taking response bytes: HTTP/2 flow control holds
	 * the server back. Never calls back at once. */
	void (*ucall_pause)(pt_ucall *c, int paused);
	/* Cancel: HTTP/2 RST_STREAM(CANCEL), an HTTP/1.1 connection closed;
	 * done is never called; C is freed. */
	void (*ucall_cancel)(pt_ucall *c);

	/* ---- 1.7: request body flow control --------------------------------- */

	/* For a handler streaming the request body (exchange_body_read): stop
	 * (1) or go on (0) delivering chunks. While paused the core reads no
	 * more of this body (HTTP/2: its stream window is not given back; the
	 * body timeout does not run). 0, or PT_ESTATE when X streams no body. */
	int (*exchange_body_pause)(pt_exchange *x, int paused);

	/* ---- 1.7: abandoning a task ----------------------------------------- */

	/*
	 * CO is a task (lua_task_resume / ws_lua_task_resume returned
	 * LUA_YIELD) that is waiting: it is never resumed (what it waits for
	 * ends as it would, its timer or its call's timeout, and is dropped),
	 * and its DONE callback is never called. For a deadline that expired
	 * or a call the client cancelled. 0, or PT_ESTATE when CO is not a
	 * waiting task.
	 */
	int (*lua_task_abandon)(struct lua_State *co);

	/* ---- 1.8: Lua tasks with no exchange (queues, background jobs) ---- */

	/*
	 * The Lua state of W's CURRENT generation (the one a new exchange on W
	 * would use: its route scripts have run in it), made on first use;
	 * NULL when the scripts cannot load there (logged), when the config
	 * loads no route scripts, or once W has stopped. Call on W's thread.
	 * Borrowed: valid until control returns to W's loop, or for as long as
	 * a task started on it with worker_lua_task_resume is alive (the task
	 * pins the generation).
	 */
	struct lua_State *(*worker_lua)(pt_worker *w);
	/*
	 * lua_task_resume for work that belongs to no exchange (a webhook
	 * handler run from a queue): CO is a coroutine of worker_lua(W) with a
	 * function and NARGS arguments (or a waiting task's wake values) on its
	 * stack. The instruction budget and memory limit apply as for a route
	 * handler (a fresh budget per call); Portico waits (sleep,
	 * http.request, grpc.call, lua_wait_*) may suspend it. Returns LUA_OK
	 * (results on CO, their count in *NRES) or an error status (message on
	 * top) when CO ended without waiting; LUA_YIELD when it waits:
	 * DONE(CO, status, nres, UD) is then called exactly once, later, on
	 * W's thread, when CO ends. The generation of worker_lua(W) is kept
	 * alive until then: a task waiting across a reload ends in the
	 * generation it started in. When W stops, a task still waiting is
	 * dropped before the plugins' worker_stop: DONE is never called (the
	 * webhook store recovers such jobs at the next start); do not touch CO
	 * afterwards. lua_task_abandon works on these tasks too.
	 */
	int (*worker_lua_task_resume)(pt_worker *w, struct lua_State *co, int nargs, int *nres,
	                              pt_lua_task_fn done, void *ud);

	/* ---- 1.8: where Portico keeps state, how it runs, commands -------- */

	/*
	 * The config's top-level `var_dir` (absolute path, no trailing slash).
	 * Default: "$(localstatedir)/lib/portico" from configure. Relative
	 * values are resolved against the config file's directory. The core
	 * does NOT create it; a plugin that needs it does (mkdir 0700) and
	 * reports failures itself. Never NULL. Valid for the process's life (a
	 * reload that changes var_dir is refused: "var_dir cannot change on
	 * reload").
	 */
	const char *(*var_dir)(void);
	/* How this process runs: enum pt_run_mode. */
	int (*run_mode)(void);
	/*
	 * A command: `portico [-c FILE] NAME ARGS...` (e.g. `portico webhooks
	 * list --state dead`). The core parses -c, loads the config and the
	 * plugins (load() runs with run_mode() == PT_RUN_COMMAND; no route
	 * script runs, no worker or listener starts, no log file is opened:
	 * logs go to stderr), then calls FN(CTX, ARGC, ARGV, UD) on the main
	 * thread with ARGV[0] == NAME; its return value is the process's exit
	 * status (0 ok, 1 failure, 2 usage). Then unload() runs and the
	 * process exits. Register in load() (PT_ESTATE elsewhere). NAME:
	 * [a-z][a-z0-9-]* (at most 31 bytes), SUMMARY one line (copied):
	 * PT_EINVAL otherwise; PT_EEXIST when taken. `portico -h` lists the
	 * registered commands with their SUMMARY. An unknown NAME: "portico:
	 * unknown command 'x'" and exit 2.
	 */
	int (*command_register)(pt_plugin_ctx *ctx, const char *name, const char *summary,
	                        pt_command_fn fn, void *ud);

	/* ---- 1.8: labelled metrics ------------------------------------------
	 * As metric_counter / metric_gauge, with a label set: LABELS is the
	 * text between the braces, e.g. `source="stripe"` (label names
	 * [a-zA-Z_][a-zA-Z0-9_]*, values escaped by the caller as Prometheus
	 * text requires; the core checks the syntax and returns NULL when it is
	 * bad). Same NAME with different LABELS: one metric family (one # HELP
	 * / # TYPE), one series per label set. Same NAME and LABELS twice: the
	 * same metric (the order of the labels does not matter: they are kept
	 * sorted by name). At most 10,000 series per name (NULL beyond:
	 * bounded label sets), 16 labels and 1024 bytes per set. NULL too for
	 * a NAME taken by the other kind. Served at /metrics as for
	 * metric_counter; a series lives until the process ends. */
	pt_metric *(*metric_counter_l)(pt_plugin_ctx *ctx, const char *name, const char *help,
	                               const char *labels);
	pt_metric *(*metric_gauge_l)(pt_plugin_ctx *ctx, const char *name, const char *help,
	                             const char *labels);

	/* ---- 1.9: the exchange a Lua function runs for ----------------------- */

	/*
	 * Inside a C function called from Lua: the exchange whose coroutine
	 * (route handler, filter or task) is running L, so a plugin's waiting
	 * call can be made on its behalf (exchange_upstream_request: the access
	 * log's upstream fields; its request id and traceparent headers passed
	 * on). NULL while the scripts load or outside any request's coroutine.
	 * A task with no request (a WebSocket message, worker_lua_task_resume)
	 * runs for an internal exchange: its request id works, its request
	 * headers are empty, and it must never be answered. Borrowed: valid
	 * until the C function returns (exchange_ref to keep it).
	 */
	pt_exchange *(*lua_exchange)(struct lua_State *L);

	/* ---- 1.9: a plugin's admin API endpoints ----------------------------- */

	/*
	 * Serves PREFIX ("/webhooks": the path itself and every path under
	 * "/webhooks/") on the admin listener with FN, behind the admin token
	 * like the core's endpoints. Call from load. PREFIX: "/" and at most 63
	 * bytes of [a-z0-9_-/], not a core endpoint (/metrics, /status, ...):
	 * PT_EINVAL; PT_EEXIST when taken. Without an admin listener in the
	 * config it is registered and never called.
	 */
	int (*admin_route_register)(pt_plugin_ctx *ctx, const char *prefix, pt_admin_fn fn,
	                            void *ud);

	/* ---- 1.10: the trace context of an exchange -------------------------- */

	/*
	 * The W3C traceparent a call made for X sends on (a header, or gRPC
	 * metadata), so the hops of one request share one trace id: the
	 * client's when it is well formed (version 00 layout, 55 bytes), else
	 * one the core made for X on first ask (a random trace id, sampled),
	 * the same for every call made for X. Valid while X is.
	 */
	pt_str_t (*exchange_traceparent)(pt_exchange *x);

	/* ---- 1.10: streaming handlers: backpressure, abandoned waits, budget */

	/*
	 * Response bytes of X queued toward the client and not yet written to
	 * its socket: what exchange_write copied that the transport could not
	 * send yet (HTTP/2: the stream's flow-control window is closed; both:
	 * the socket does not take more). 0 once the client has gone (nothing
	 * more will be sent). Call on X's worker. A producer that writes as it
	 * pleases (a server-streaming gRPC handler, a feed) checks it after
	 * each write and waits at PT_EXCHANGE_HIGH or more (exchange_on_drain).
	 */
	size_t (*exchange_queued)(pt_exchange *x);
	/*
	 * FN(UD) runs once, later, on X's worker from its loop (never inside
	 * this call or a write), when X's queued bytes fall under
	 * PT_EXCHANGE_LOW -- at once (still later) when they are under it
	 * already. One callback per exchange: a second call replaces it; FN
	 * NULL removes it, and a call already due is then dropped: remove it
	 * before UD is freed. It never runs once the client has gone: the
	 * abort callback (exchange_on_abort) says that instead, and a stalled
	 * client is cut by the transport's write timeout (HTTP/2: no window
	 * for the stream within it resets the stream). FN may write, answer
	 * or drop the handler's reference. 0; PT_ESTATE when the connection
	 * has let go of X; PT_ENOMEM.
	 */
	int (*exchange_on_drain)(pt_exchange *x, pt_task_fn fn, void *ud);
	/*
	 * Between lua_wait_begin(L) and lua_wait_wake(W): FN(UD) runs once,
	 * at once (inside lua_task_abandon, or when the route handler that
	 * waits loses its client), if the task or handler waiting on W is
	 * abandoned, so what the wait stands for (an upstream call) is
	 * cancelled now instead of running to its timeout. FN should end the
	 * wait: lua_wait_wake(W, ...) then returns PT_ESTATE, resumes nothing
	 * and releases W (any time later is fine too: until then W holds its
	 * exchange). A second call replaces FN; FN NULL removes it. The core's
	 * own waits (sleep, http.request) do the same. 0, or PT_EINVAL.
	 */
	int (*lua_wait_on_abandon)(pt_wait *w, pt_task_fn fn, void *ud);
	/*
	 * Inside a C function called from Lua: a fresh instruction budget
	 * (lua.max_instructions, counted from 0 again) for the handler or task
	 * whose coroutine runs L. For work that lives as long as a stream: a
	 * plugin calls it once per unit (the gRPC server: each ctx:send and
	 * each ctx:recv), so the budget bounds the work per message, not a
	 * stream's whole life; Lua that loops without reaching such a call is
	 * still stopped. A plugin that calls several script functions one
	 * after another inside one task (the GraphQL executor: a level's
	 * resolvers, each under lua_pcallk in one task) calls it before each,
	 * so each has the budget a task of its own would have. 0; PT_ESTATE
	 * outside a request's or task's coroutine (scripts loading, a
	 * coroutine of the script's own) or when the budget is spent already
	 * (a spent budget stays spent: the task must end).
	 */
	int (*lua_budget_renew)(struct lua_State *L);
};

/* Whether the running core's table has MEMBER. */
#define PT_API_HAS(api, member) \
	((api)->size >= offsetof(struct pt_api, member) + sizeof((api)->member) && \
	 (api)->member != NULL)

/* 1.11: the words of a failed upstream answer RES (pt_upstream_res.error),
 * or NULL: a success, or a core before 1.11 (RES's size says). */
#define PT_UPSTREAM_ERROR(res) \
	((res)->size >= offsetof(struct pt_upstream_res, error) + sizeof((res)->error) ? \
	 (res)->error : NULL)

#ifdef __cplusplus
}
#endif
#endif
