/*
 * wh.h - the contract between the webhook plugin's parts (issue 14).
 *
 *   verify.c, source.c   signature schemes, event ids and types, a source's
 *                        options read from its Lua table; outbound signing
 *   store_sqlite.c       the embedded store: SQLite (WAL) in var_dir, one
 *                        writer thread with group commit, the queue that
 *                        hands due jobs to workers
 *   store_redis.c        the same store on Redis Streams (store = "redis")
 *   cli.c                `portico webhooks ...` on the SQLite store
 *   webhook.c            the plugin: options, Lua module (webhook.source,
 *                        webhook.send), the receiving handler, running jobs
 *   send.c               outbound delivery: sign, POST, classify the answer
 *
 * Threads: put/finish are called on worker threads; the store's callbacks
 * come back on the worker named in the call (pt_api.post), never at once.
 */
#ifndef PORTICO_WH_H
#define PORTICO_WH_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include "portico/api.h"

/* ---- sources and schemes (verify.c, source.c) ---------------------------- */

enum wh_scheme {
	WH_SCHEME_STRIPE = 1,   /* Stripe-Signature: t=..,v1=<hex>[,v1=..]; HMAC-SHA256(secret, "t." body) */
	WH_SCHEME_GITHUB,       /* X-Hub-Signature-256: sha256=<hex> over the body */
	WH_SCHEME_SHOPIFY,      /* X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of the body */
	WH_SCHEME_STANDARD,     /* webhook-id/-timestamp/-signature "v1,<b64> v1,<b64>"; key = b64dec(secret after whsec_) */
	WH_SCHEME_HMAC,         /* configurable, below */
	WH_SCHEME_LUA,          /* opts.verify(req) decides (webhook.c runs it) */
};

enum wh_alg { WH_SHA1 = 1, WH_SHA256, WH_SHA512 };
enum wh_enc { WH_HEX = 1, WH_BASE64 };

/* scheme = "hmac": header (required), algorithm ("sha256"), encoding
 * ("hex"), prefix ("" e.g. "sha256="), timestamp_header (none), template
 * ("{body}"; with a timestamp header e.g. "{timestamp}.{body}"; the
 * placeholders are {body}, {timestamp}, {id}). */
struct wh_hmac {
	char *header;
	int alg;
	int enc;
	char *prefix;
	char *timestamp_header;
	char *tmpl;
};

struct wh_secret {
	unsigned char *key;     /* the HMAC key (standard: base64-decoded after whsec_) */
	size_t len;
};

struct wh_retry {
	int max;                /* attempts in all, default 8 (1..100) */
	double base;            /* seconds, default 2: delay = min(cap, base * 2^(attempt-1)), full jitter */
	double cap;             /* seconds, default 3600 */
};

/*
 * One source, made from webhook.source(name, opts, fn)'s OPTS by
 * wh_source_from_lua. Immutable once made; each worker's Lua state has its
 * own copy (a userdata in the state's registry), freed with the state.
 */
struct wh_source {
	char *name;             /* [A-Za-z0-9_.-]{1,64} */
	char *path;             /* the route's path */
	int scheme;
	struct wh_secret *secrets;   /* at least one, except WH_SCHEME_LUA; tried in order */
	unsigned nsecrets;
	int64_t tolerance;      /* seconds, default 300; 0 = no timestamp check (stripe/standard/hmac+timestamp) */
	struct wh_hmac hmac;
	char *id_header;        /* overrides the scheme's event id: a header */
	char *id_path;          /* or a dot path into the JSON body ("data.object.id") */
	char *type_header;      /* overrides the scheme's type */
	char *type_path;
	struct wh_retry retry;
	int ordered;            /* one job of this source at a time, in arrival order */
	size_t max_body;        /* default 1 MiB (1..64 MiB): larger -> 413 */
};

/*
 * Reads and checks the options table at IDX of L for source NAME: path,
 * scheme, secrets (strings), tolerance, retry, hmac fields (header,
 * algorithm, encoding, prefix, timestamp_header, template), id_header,
 * id_path, type_header, type_path, ordered, max_body. verify (a function)
 * is allowed only with scheme = "lua" (or no scheme and a verify: lua);
 * webhook.c keeps the function itself. Unknown keys are errors (a typo
 * must not silently disable checking). 0 and *OUT, or -1 with ERR
 * ("webhook.source \"x\": secrets must be a non-empty list of strings").
 */
int wh_source_from_lua(lua_State *L, int idx, const char *name, struct wh_source **out,
                       char *err, size_t errlen);
void wh_source_free(struct wh_source *s);

/* What verification and id extraction read of a request. */
struct wh_req {
	/* The header NAME (case-insensitive) or NULL; *LEN its length. */
	const char *(*header)(void *ud, const char *name, size_t *len);
	void *ud;
	const unsigned char *body;
	size_t body_len;
	int64_t now;            /* unix seconds */
};

/*
 * Checks R's signature against every secret of S (constant-time compares,
 * all secrets tried). 0 when one matches. -1 when not, with WHY a short
 * sentence for the 401 body and the log: "missing Stripe-Signature header",
 * "malformed webhook-signature header", "timestamp outside the tolerance
 * (412 s old, 300 s allowed)", "no signature matches". Never called for
 * WH_SCHEME_LUA.
 */
int wh_verify(const struct wh_source *s, const struct wh_req *r, char *why, size_t whylen);

/*
 * The event's id for deduplication: id_header / id_path when set, else the
 * scheme's (stripe: the JSON body's "id"; github: X-GitHub-Delivery;
 * shopify: X-Shopify-Webhook-Id; standard: webhook-id; hmac/lua: none),
 * else "sha256:" and the hex SHA-256 of the body. Writes a NUL-terminated
 * string of at most IDLEN-1 bytes (ids longer than 255 bytes are refused:
 * -1 with WHY). 0 on success.
 */
int wh_event_id(const struct wh_source *s, const struct wh_req *r, char *id, size_t idlen,
                char *why, size_t whylen);

/* The event's type: type_header / type_path, else the scheme's (stripe and
 * standard: JSON "type"; github: X-GitHub-Event; shopify:
 * X-Shopify-Topic), else "". Same buffer rules; never fails (truncates). */
void wh_event_type(const struct wh_source *s, const struct wh_req *r, char *type, size_t len);

/* Outbound signing, Standard Webhooks: writes "v1,<base64>" for
 * HMAC-SHA256(KEY, ID "." TS "." BODY). 0 or -1 (buffer too small). */
int wh_sign_standard(const unsigned char *key, size_t keylen, const char *id, int64_t ts,
                     const void *body, size_t len, char *out, size_t outlen);
/* A secret as given in config: "whsec_<base64>" decoded for the standard
 * scheme, otherwise the bytes as they are. 0 or -1 with ERR. */
int wh_secret_parse(int scheme, const char *text, size_t len, struct wh_secret *out,
                    char *err, size_t errlen);

/* Bounds on what a sender's header and a source may make us do: a header
 * with more v1 signatures than this is refused (401, malformed); a source
 * has at most this many secrets. */
#define WH_MAX_SIGNATURES 16
#define WH_MAX_SECRETS 16

/* scheme = "hmac": whether TMPL is usable: known placeholders only, {body}
 * present, {timestamp} exactly when HAS_TS (a timestamp header), {id} only
 * with HAS_ID (an id_header), at most 16 parts. 0 or -1 with ERR. */
int wh_hmac_template_check(const char *tmpl, int has_ts, int has_id, char *err,
                           size_t errlen);
/* The lowercase hex SHA-256 of P, N into OUT (65 bytes with the NUL). */
void wh_sha256_hex(const void *p, size_t n, char *out);

/* ---- the store (store_sqlite.c, store_redis.c) ------------------------------ */

enum wh_kind { WH_INBOUND = 1, WH_OUTBOUND = 2 };

/* Job states, as stored and as the CLI prints them. */
#define WH_STATE_RECEIVED   "received"
#define WH_STATE_PROCESSING "processing"
#define WH_STATE_DONE       "done"
#define WH_STATE_RETRYING   "retrying"
#define WH_STATE_DEAD       "dead"

/* What put stores: inbound, an event that passed verification; outbound, a
 * delivery to make (webhook.send). All borrowed for the call (copied). */
struct wh_event_in {
	int kind;
	const char *source;      /* inbound: source name; outbound: the target (URL or upstream name) */
	const char *event_id;    /* dedup key within (kind, source) */
	const char *type;
	const void *body;
	size_t body_len;
	const char *headers_json; /* {"lowercase-name":"value",...}: inbound, the request's headers
	                             but cookie/authorization/proxy-authorization; outbound, extra
	                             headers to send */
	const char *meta_json;    /* outbound: {"secret":"whsec_..","scheme":"standard","timeout":10,
	                             "path":"/x"}; inbound: NULL */
	int64_t received_at_ms;
	int max_attempts;         /* retry.max, kept with the job (replay resets attempts to 0) */
	double base, cap;         /* retry.base, retry.cap in seconds */
	int ordered;
};

/* put's outcome: WH_STORED (committed as durably as the store's durability
 * setting promises), WH_DUPLICATE (an event with this (kind, source,
 * event_id) is stored already: nothing written), or a negative code with
 * ERR: WH_EFULL (disk or database full), WH_EIO (any other storage
 * failure), WH_EBUSY (queue of pending writes over its bound). */
enum { WH_STORED = 0, WH_DUPLICATE = 1, WH_EFULL = -1, WH_EIO = -2, WH_EBUSY = -3 };
typedef void (*wh_put_fn)(int rc, const char *err, void *ud);

/* A job handed to a worker: owned by the receiver until it calls finish. */
struct wh_job {
	int kind;
	char key[64];            /* the store's id for it: "42" (SQLite rowid), "1700000000000-0" (stream) */
	char *source;
	char *event_id;
	char *type;
	unsigned char *body;
	size_t body_len;
	char *headers_json;
	char *meta_json;
	int64_t received_at_ms;
	int attempt;             /* this run's number, 1 on the first */
	int max_attempts;
	double base, cap;
};
/* Runs on the worker W the store chose. */
typedef void (*wh_job_fn)(pt_worker *w, struct wh_job *job, void *ud);

/* finish's outcome. */
enum { WH_DONE = 1, WH_RETRY = 2, WH_DEAD = 3 };

struct wh_store;
struct wh_store_ops {
	/* Start handing due jobs to WORKERS (all of them started): JOB_FN on the
	 * chosen worker, at most PER_WORKER jobs in flight on each. Jobs left in
	 * "processing" by a process that died are due again (at-least-once). */
	int (*start)(struct wh_store *s, pt_worker *const *workers, unsigned n,
	             unsigned per_worker, wh_job_fn job_fn, void *ud);
	/* Store EV; CB(rc, err, UD) later on W. Non-zero: CB is never called. */
	int (*put)(struct wh_store *s, pt_worker *w, const struct wh_event_in *ev,
	           wh_put_fn cb, void *ud);
	/* Record the attempt (number, time, OUTCOME, HTTP STATUS or 0, ERROR or
	 * NULL) and move the job: DONE -> done; RETRY -> retrying, due at
	 * NEXT_AT_MS; DEAD -> dead. Frees JOB. Any thread. */
	void (*finish)(struct wh_store *s, struct wh_job *job, int outcome, int64_t next_at_ms,
	               int status, const char *error);
	/* Stop dispatching, flush pending writes, close. Main thread, after the
	 * workers stopped. */
	void (*close)(struct wh_store *s);
	/* May be NULL. On W's thread as W stops (the plugin's worker_stop):
	 * stop dispatching on W and free what lives on its loop (timers), while
	 * that loop still exists. Jobs W was running stay due again later. */
	void (*worker_stop)(struct wh_store *s, pt_worker *w);
};
struct wh_store {
	const struct wh_store_ops *ops;
};

enum wh_durability {
	WH_DUR_FULL = 1,    /* default: fsync per group commit (survives power loss) */
	WH_DUR_NORMAL,      /* WAL synchronous=NORMAL: survives a process crash, may lose the
	                       last commits on power loss */
};

/* The plugin's options (plugin "webhook" { ... } or top-level webhook = { ... }). */
struct wh_opts {
	const char *store;        /* "sqlite" (default) or "redis" */
	const char *path;         /* sqlite file, default "<var_dir>/webhooks.db" */
	int durability;
	int64_t retention_s;      /* done and dead jobs older than this are purged: default 30 days */
	unsigned max_pending;     /* puts waiting for the writer: default 10000 (then WH_EBUSY -> 503) */
	unsigned per_worker;      /* jobs in flight per worker: default 64 */
	const char *redis_prefix; /* redis keys prefix: default "portico:webhook:" */
	int64_t dedup_ttl_s;      /* redis dedup keys expiry: default 7 days */
	int64_t claim_idle_ms;    /* redis: pending entries idle this long are claimed: default 60000 */
};

int wh_store_sqlite_open(const struct pt_api *api, const struct wh_opts *o,
                         struct wh_store **out, char *err, size_t errlen);
int wh_store_redis_open(const struct pt_api *api, const struct wh_opts *o,
                        struct wh_store **out, char *err, size_t errlen);

/* The SQLite store's counters (tests, metrics): a consistent copy. */
struct wh_store_stats {
	uint64_t commits;       /* transactions committed that wrote something */
	uint64_t puts;          /* puts answered: stored + duplicates + failed */
	uint64_t stored, duplicates, failed;
	uint64_t busy;          /* puts refused with WH_EBUSY (never queued) */
	uint64_t dispatched;    /* jobs handed to workers */
	uint64_t finished;      /* finish() calls recorded */
	unsigned pending;       /* puts waiting for the writer now */
};
void wh_store_sqlite_stats(struct wh_store *s, struct wh_store_stats *out);

/* Per-source counters for /metrics, labelled source="<name>" (webhook.c
 * makes them through pt_api.metric_counter_l; the stores update
 * queue lag through wh_metrics_lag). */
void wh_metrics_lag(const char *source, double seconds);

/* ---- the CLI (cli.c) ---------------------------------------------------------- */

/* `portico webhooks list|show|replay|purge ...`: the pt_command_fn. */
int wh_cli(pt_plugin_ctx *ctx, int argc, char **argv, void *ud);

/* ---- outbound (send.c) -------------------------------------------------------- */

/* Lua: webhook.send(url_or_upstream, event_table, opts): checks, builds the
 * body (JSON of event_table), id (opts.id or a random "msg_..."), and puts
 * an WH_OUTBOUND job; yields until it is stored; returns the id, or nil and
 * an error. [-3, +1|2, e] */
int wh_send_lua(lua_State *L);
/* Runs an outbound job on W: sign, POST with a timeout, then finish():
 * 2xx done; 5xx, 429, timeouts, connection errors retried with backoff
 * (Retry-After honoured, up to cap); other 4xx dead. */
void wh_send_run(pt_worker *w, struct wh_job *job, struct wh_store *s);

/* Backoff: full jitter, min(cap, base * 2^(attempt-1)) * random[0.5, 1]. */
int64_t wh_backoff_ms(int attempt, double base, double cap);

extern const struct pt_api *wh_api;       /* set in load() (webhook.c) */
extern struct wh_opts wh_opts_main;       /* the plugin's options, read in load() (webhook.c) */
extern struct wh_store *wh_store_main;    /* the open store, or NULL (webhook.c) */
extern char wh_store_error[256];         /* why it is NULL */

#endif
