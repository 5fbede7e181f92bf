/*
 * whg.h - the glue's own parts (not the contract between the webhook
 * pieces, which is wh.h):
 *
 *   webhook.c   the plugin: options, store, command, metrics
 *   lmod.c      the `webhook` Lua module: webhook.source, webhook.send
 *   receive.c   the "webhook" handler: verify, store, answer
 *   run.c       jobs from the store into the sources' Lua handlers
 */
#ifndef PORTICO_WHG_H
#define PORTICO_WHG_H

#include <lua.h>
#include "wh.h"

/* The plugin needs ABI 1.8 (worker_lua, var_dir, commands, labelled
 * metrics): send.c and send_run.c still test this, from when the parts
 * were built against older cores. */
#define WHG_ABI18 (PT_ABI_MINOR >= 8)

extern pt_plugin_ctx *whg_ctx;

/* A source's counters (labelled source="<name>"), made when a script
 * first names the source, kept until the process ends (the core keeps
 * metrics that long): bounded by the distinct names scripts use. */
struct whg_metrics {
	pt_metric *received, *rejected, *duplicates, *processed, *retried, *dead, *lag;
};

/* The metrics of SOURCE, made on first use; NULL when out of memory or
 * past WHG_MAX_SOURCES names (metric_add accepts NULL members). Thread-safe. */
#define WHG_MAX_SOURCES 1000
struct whg_metrics *whg_metrics(const char *source);
/* Counter helper: adds 1 to M's member FIELD when M is not NULL. */
#define WHG_COUNT(m, field) do { if ((m) && (m)->field) wh_api->metric_add((m)->field, 1); } while (0)
void whg_metrics_free(void);

/* A source as one Lua state keeps it: a userdata in the state's registry
 * table WHG_K_SOURCES under its name, with user values 1 = the handler
 * function, 2 = opts.verify (scheme "lua") or nil. Freed by __gc with the
 * state. */
#define WHG_K_SOURCES "portico.webhook.sources"
struct whg_src {
	struct wh_source *s;
	struct whg_metrics *m;
};

/* The source NAME of L's state, or NULL. With WHICH 1 or 2, pushes that
 * user value onto L as well (only when the source is found). [-0, +0|1, m] */
struct whg_src *whg_source_get(lua_State *L, const char *name, int which);

/* webhook.c: the daemon's store, opened on first call (the first
 * webhook.source); NULL when it cannot open (wh_store_error). */
struct wh_store *whg_store_ensure(void);

/* lmod.c: the `webhook` module's open function. */
int whg_lua_open(lua_State *L);

/* receive.c: the "webhook" handler (route opts: source = name). */
int whg_receive(pt_exchange *x, const pt_conf *opts, void *ud);

/* run.c: the store's job function: one job on W. */
void whg_job(pt_worker *w, struct wh_job *job, void *ud);

/* admin.c: GET /webhooks and friends on the admin listener. */
int whg_admin_register(pt_plugin_ctx *ctx);

#endif
