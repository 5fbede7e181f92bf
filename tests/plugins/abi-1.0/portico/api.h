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

/* Filter phases, in the order an exchange runs them. */
enum pt_phase {
	PT_PHASE_ACCESS = 1,   /* before the handler: auth, rate limit, IP lists */
	PT_PHASE_HEADER = 2,   /* response headers, before they are sent */
	PT_PHASE_BODY = 3,     /* each response body chunk */
	PT_PHASE_LOG = 4,      /* after the response is sent */
};

/* What a filter returns (or a negative PT_E*: 500). */
enum pt_filter_result {
	PT_FILTER_NEXT = 0,    /* go on with the next filter / the handler */
	PT_FILTER_DONE = 1,    /* the filter answered (e.g. 401, 429): stop */
	PT_FILTER_WAIT = 2,    /* async: call exchange_resume later */
};

/* OPTS are the options given where the filter is used (`use("cors", {...})`). */
typedef int (*pt_filter_fn)(pt_exchange *x, const pt_conf *opts, void *ud);

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
};
typedef void (*pt_upstream_fn)(const struct pt_upstream_res *res, void *ud);

/* Pushes the values a resumed Lua coroutine receives; returns their count. */
typedef int (*pt_lua_push_fn)(struct lua_State *L, void *ud);
typedef int (*pt_lua_open_fn)(struct lua_State *L);

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
	 * Call from load. UD is the plugin's, passed back on each call. */

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

	unsigned (*worker_id)(pt_worker *w);                  /* 0..n-1 */
	unsigned (*worker_count)(void);
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

	/* ---- 1.0: metrics (Prometheus text on the admin listener) ---------- */

	/* A counter or gauge named NAME (with optional constant LABELS text,
	 * e.g. `plugin="rest"`). Same name twice: the same metric. */
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
	 * called exactly once, later, on W's thread, unless this returns non-zero. */
	int (*upstream_request)(pt_worker *w, const struct pt_upstream_req *req,
	                        pt_upstream_fn fn, void *ud);

	/* ---- 1.0: Lua, continued -------------------------------------------- */

	/* The worker whose state L (or a coroutine of it) belongs to, for
	 * timers and upstream calls started from a Lua function; NULL while
	 * scripts load on the main thread. */
	pt_worker *(*lua_worker)(struct lua_State *L);
};

/* Whether the running core's table has MEMBER. */
#define PT_API_HAS(api, member) \
	((api)->size >= offsetof(struct pt_api, member) + sizeof((api)->member) && \
	 (api)->member != NULL)

#ifdef __cplusplus
}
#endif
#endif
