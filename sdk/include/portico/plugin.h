/*
 * portico/plugin.h - what a plugin exports.
 *
 * A plugin is a shared object with ONE exported symbol, PT_PLUGIN_ENTRY_NAME
 * ("portico_plugin"), returning a descriptor. The core checks the descriptor's
 * ABI before it calls any other code of the plugin: a plugin whose ABI major
 * differs from the core's, or whose minor is newer than the core's, is refused
 * with a message naming the file and both versions.
 *
 * ABI changelog (append-only; a minor adds, never changes):
 *   1.0  first stable table: log, config, handlers, filters, exchange,
 *        timers, cross-thread post, hub, metrics, Lua modules and waits,
 *        upstream requests.
 *   1.1  the authenticated consumer, filters with compiled options, rate
 *        limiting, Redis.
 *   1.2  exchange_lua and lua_task_resume: C handlers run Lua (GraphQL
 *        resolvers) that may wait.
 *   1.3  exchange_on_abort: a handler hears at once that its client left.
 *   1.4  exchange_upstream_request: an upstream call the access log reports.
 *        Members the core does not serve now say so: filter_register and
 *        filter_define return PT_ENOSYS for the header, body and log phases,
 *        metric_counter and metric_gauge return NULL (no /metrics yet;
 *        served since the admin listener, with ABI 1.7's core).
 *   1.5  hub_message_id: the id the hub gave the message being delivered.
 *   1.6  WebSocket: ws_accept and friends, exchange_lua_req.
 *   1.7  streaming upstream calls (ucall_*), response trailers in
 *        pt_upstream_res, exchange_body_pause, lua_task_abandon;
 *        PT_ECANCELED.
 *   1.8  worker_lua and worker_lua_task_resume (Lua tasks with no exchange),
 *        var_dir, run_mode, command_register (`portico NAME ARGS...`),
 *        metric_counter_l and metric_gauge_l (labelled metrics).
 *   1.9  lua_exchange: the exchange a Lua coroutine runs for;
 *        admin_route_register: a plugin's admin API endpoints.
 *   1.10 exchange_queued, exchange_on_drain (response backpressure,
 *        PT_EXCHANGE_HIGH/LOW), lua_wait_on_abandon (a plugin's wait told
 *        that its task was abandoned), lua_budget_renew (a streaming
 *        handler's instruction budget per message).
 */
#ifndef PORTICO_PLUGIN_H
#define PORTICO_PLUGIN_H

#include "portico/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_ABI_MAJOR 1
#define PT_ABI_MINOR 11

#if defined(__GNUC__)
#define PT_EXPORT __attribute__((visibility("default")))
#else
#define PT_EXPORT
#endif

typedef struct pt_plugin_ctx pt_plugin_ctx; /* one per loaded plugin, core-owned */
typedef struct pt_worker pt_worker;         /* one per worker thread, core-owned */
typedef struct pt_conf pt_conf;             /* a read-only config value tree */
struct pt_api;

/*
 * The descriptor a plugin returns. Static storage in the plugin: the core
 * reads it, never writes or frees it. Every callback may be NULL.
 */
struct pt_plugin {
	uint32_t abi_major;     /* PT_ABI_MAJOR the plugin was built against */
	uint32_t abi_minor;     /* PT_ABI_MINOR the plugin was built against */
	uint32_t size;          /* sizeof(struct pt_plugin) when built */
	uint32_t reserved;      /* zero */
	const char *name;       /* short name, [a-z0-9_-]+; config refers to it */
	const char *version;    /* the plugin's own version, free text */

	/*
	 * Main thread, once, before any worker starts. API is valid for the
	 * plugin's life; CONF holds the `plugin "name" { ... }` options
	 * (an empty table if there are none), valid until reload. Register
	 * handlers, filters and Lua modules here. Return 0, or a negative
	 * PT_E* after logging why: the daemon then refuses to start (or skips
	 * the plugin if the config marks it optional).
	 */
	int (*load)(pt_plugin_ctx *ctx, const struct pt_api *api, const pt_conf *conf);

	/* In each worker thread, before it accepts its first connection. */
	int (*worker_start)(pt_plugin_ctx *ctx, pt_worker *w);

	/* In each worker thread, after its last exchange has ended. */
	void (*worker_stop)(pt_plugin_ctx *ctx, pt_worker *w);

	/* Main thread, once, after every worker has stopped. */
	void (*unload)(pt_plugin_ctx *ctx);

	/*
	 * Main thread, on reload (SIGHUP), with the new options. Return 0 to
	 * accept them; a negative PT_E* refuses the whole new generation and
	 * the old config keeps serving. NULL: the plugin keeps its options.
	 */
	int (*reload)(pt_plugin_ctx *ctx, const pt_conf *conf);
};

#define PT_PLUGIN_ENTRY_NAME "portico_plugin"

/* Declare the entry point: PT_PLUGIN_ENTRY { return &my_descriptor; } */
#define PT_PLUGIN_ENTRY \
	PT_EXPORT const struct pt_plugin *portico_plugin(void); \
	PT_EXPORT const struct pt_plugin *portico_plugin(void)

/* Initialiser for the descriptor's fixed head. */
#define PT_PLUGIN_HEAD \
	.abi_major = PT_ABI_MAJOR, .abi_minor = PT_ABI_MINOR, \
	.size = sizeof(struct pt_plugin), .reserved = 0

#ifdef __cplusplus
}
#endif
#endif
