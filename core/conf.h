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

/* A named group of upstream servers (`upstream "name" { ... }`). */
struct upstream_conf {
	const char *name;
	const char **servers;       /* "host:port" */
	unsigned nservers;
	int least_conn;             /* else round robin */
	double connect_timeout, read_timeout;
	unsigned retries;           /* extra tries, idempotent methods only */
	unsigned max_fails;         /* consecutive failures before ejection */
	double fail_timeout;        /* seconds a server stays ejected */
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

struct config {
	struct arena arena;        /* owns every string and node below */
	const char *file;
	int workers;
	const char *plugins_dir;
	const char *pid_file;
	int log_level;
	const char *log_file;
	int access_log;             /* an access_log table is there and enabled */
	const char *access_log_file, *access_log_format;
	double shutdown_timeout;
	struct http_conf http;
	struct lua_conf lua;
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
