/*
 * conf.h - the daemon's config: evaluated from Lua, validated in C.
 *
 * conf/portico.conf is Lua evaluated in an environment that holds only the
 * directives below; every top-level assignment and directive call records its
 * line, so a mistake is reported as `file:line: what is wrong`.
 */
#ifndef PT_CONF_H
#define PT_CONF_H

#include <stdint.h>
#include "conf_tree.h"

#define CONF_MAX_CERTS 16

struct tls_cert_conf {
	const char *cert, *key;
};

struct listen_conf {
	const char *address;
	int port;
	int backlog;
	int http2;                 /* h2c prior knowledge / ALPN h2 offered */
	unsigned ncerts;           /* 0: cleartext */
	struct tls_cert_conf certs[CONF_MAX_CERTS];
	const char *only;          /* a plugin's own listener (plugin "x" { listen = ... }):
	                              only routes its handlers serve; NULL: every route */
	const char *file;
	int line;
};

struct plugin_conf {
	const char *name;
	const pt_conf *opts;       /* without the core's own keys */
	int enabled, optional;
	int line;
};

struct route_conf {
	unsigned methods;          /* enum pt_method bits */
	const char *host;          /* NULL: any */
	const char *path;
	const char *handler;
	const pt_conf *opts;       /* the whole route table */
	int line;
};

/* How an upstream picks a server for a request. */
enum upstream_balance {
	UP_BALANCE_ROUND_ROBIN = 0,
	UP_BALANCE_LEAST_CONN = 1,
	UP_BALANCE_HASH = 2,        /* rendezvous hashing on hash_by/hash_name */
};

/* What `balance = "hash(...)"` hashes. */
enum upstream_hash_by {
	UP_HASH_IP = 0,             /* the client address */
	UP_HASH_HEADER = 1,         /* a request header, hash_name */
	UP_HASH_QUERY = 2,          /* a query parameter, hash_name */
};

/* How requests reach the servers. */
enum upstream_protocol {
	UP_PROTO_HTTP = 0,          /* HTTP/1.1, cleartext */
	UP_PROTO_HTTPS = 1,         /* HTTP/1.1 over TLS */
	UP_PROTO_H2C = 2,           /* HTTP/2 with prior knowledge, cleartext */
	UP_PROTO_H2 = 3,            /* HTTP/2 over TLS (ALPN) */
};

/* Active health checks (`health = { ... }`); enabled is 0 without the table. */
struct upstream_health_conf {
	int enabled;
	const char *path;           /* "/" when not given */
	const char *host;           /* Host header; NULL: the server's host:port */
	double interval, timeout;   /* seconds */
	unsigned healthy;           /* successes in a row that bring a server back */
	unsigned unhealthy;         /* failures in a row that take it down */
	int status_min, status_max; /* a success answers within [min, max] */
};

/* A named group of upstream servers (`upstream "name" { ... }`). */
struct upstream_conf {
	const char *name;
	const char **servers;       /* "host:port" */
	unsigned nservers;
	enum upstream_balance balance;
	enum upstream_hash_by hash_by;
	const char *hash_name;      /* header (lower-case) or query parameter name */
	double connect_timeout, read_timeout;
	double send_timeout;        /* no progress writing the request */
	unsigned retries;           /* extra tries, idempotent methods only */
	unsigned keepalive;         /* idle connections kept per server and worker */
	double retry_budget;        /* retries may be this share of requests (10 s) */
	double retry_budget_min;    /* ... plus this many per second */
	unsigned max_fails;         /* consecutive failures before ejection */
	double fail_timeout;        /* seconds a server stays ejected */
	enum upstream_protocol protocol;
	int tls_verify;             /* check the certificate (https, h2) */
	const char *tls_ca;         /* CA file; NULL: the system's */
	struct upstream_health_conf health;
	int line;
};

/* Limits and timeouts of the HTTP engine (see doc/config.md for defaults). */
struct http_conf {
	size_t max_request_line;
	size_t max_header_size;
	unsigned max_headers;
	uint64_t max_body_size;
	double header_timeout, body_timeout, idle_timeout, write_timeout;
	unsigned h2_max_concurrent_streams;
	size_t h2_max_header_list_size;
};

/* The Lua runtime's limits (see doc/config.md). */
struct lua_conf {
	uint64_t max_instructions;  /* per request */
	size_t max_memory;          /* per state (one per worker) */
	const char **path;          /* folders `require` searches */
	unsigned npath;
	size_t shared_dict_size;
	size_t json_max_size;
	int json_max_depth;
};

/* The Redis server plugins share (`redis = { ... }`); host NULL when none. */
struct redis_conf {
	const char *host;
	int port;
	const char *password;
	int db;
	double timeout, connect_timeout;
};

/* The admin listener (`admin { listen = {...}, token = "..." }`); port 0: none. */
struct admin_conf {
	const char *address;
	int port;
	const char *token;          /* NULL only when bound to loopback */
	int line;
};

struct config {
	struct arena arena;        /* owns every string and node below */
	const char *file;
	int workers;
	int max_workers;            /* worker slots, fixed at start: `workers` may grow to it on reload */
	int workers_line;           /* where `workers` was set, 0: the default */
	const char *plugins_dir;
	const char *var_dir;        /* absolute, no trailing '/' (pt_api.var_dir) */
	int var_dir_line;           /* where it was set, 0: the default */
	const char *pid_file;
	int log_level;
	const char *log_file;
	int access_log;             /* an access_log table is there and enabled */
	const char *access_log_file, *access_log_format;
	double shutdown_timeout;
	double watchdog_timeout;    /* seconds a worker's loop may stay away; 0: no watchdog */
	struct http_conf http;
	struct lua_conf lua;
	size_t hub_max_message;    /* hub.publish from Lua: bytes */
	int hub_backplane;          /* hub.backplane = "redis" */
	const char *hub_prefix;     /* Redis channel prefix, "portico:hub:" */
	unsigned hub_backplane_queue;       /* messages waiting for Redis, at most */
	size_t hub_backplane_queue_bytes;   /* ... and their bytes */
	struct redis_conf redis;
	struct admin_conf admin;
	struct listen_conf *listeners;
	unsigned nlisteners;
	struct plugin_conf *plugins;
	unsigned nplugins;
	struct route_conf *routes;
	unsigned nroutes;
	struct upstream_conf *upstreams;
	unsigned nupstreams;
	const char **route_scripts;
	unsigned nroute_scripts;
	const pt_conf *root;       /* the whole file as a tree */
	const char **secrets;      /* what env() and secret_file() gave while it loaded
	                            * (the admin config view masks them), NULL-ended */
	int secrets_overflow;      /* more than SECRET_REC_MAX: mask every string */
};

/*
 * Evaluates and validates FILE. Returns a config (owned by the caller, free
 * with config_free) or NULL with ERR holding one `file:line: message` line
 * per problem found.
 */
struct config *config_load(const char *file, char *err, size_t errlen);
void config_free(struct config *cfg);
/*
 * Copies the Lua value at IDX into a pt_conf tree allocated from A (functions
 * are left out as nil nodes). NULL with ERR on values a config cannot hold.
 * [-0, +0, m]
 */
struct lua_State;
const pt_conf *conf_from_lua(struct lua_State *L, int idx, struct arena *a, const char *file,
                             int line, char *err, size_t errlen);

/* The upstream named NAME, or NULL. */
const struct upstream_conf *config_upstream(const struct config *cfg, const char *name);

/* The plugin block named NAME, or NULL. */
const struct plugin_conf *config_plugin(const struct config *cfg, const char *name);

#endif
