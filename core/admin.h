/*
 * admin.h - the admin listener: /metrics (Prometheus text) and the admin
 * API (/status, /routes, /plugins, /upstreams, POST /reload), HTTP/1.1,
 * one request per connection, behind a bearer token.
 *
 * It runs on the main thread's event loop, beside the signals and the
 * watchdog: that thread never serves a request, so a scrape works while
 * every worker is busy or stuck, and POST /reload runs the same reload
 * as SIGHUP on the thread that owns it (doc/architecture.md).
 */
#ifndef PT_ADMIN_H
#define PT_ADMIN_H

#include <stddef.h>

#include "portico/api.h"

struct event_base;
struct admin_conf;
struct gen;

/* Runs a reload; 0 when the new generation is live, else -1 with ERR. */
typedef int (*admin_reload_fn)(char *err, size_t errlen);
/* The running generation (borrowed: valid until the next reload). */
typedef const struct gen *(*admin_gen_fn)(void);

/*
 * Opens the admin listener of A on BASE (nothing when A->port is 0).
 * Returns 0, or -1 with ERR. The token is copied.
 */
int admin_start(struct event_base *base, const struct admin_conf *a, admin_reload_fn reload,
                admin_gen_fn gen, char *err, size_t errlen);
/* A reload's admin block: a new token applies at once; address and port
 * at the next restart (warned). */
void admin_update(const struct admin_conf *a);
/* Closes the listener and every admin connection. */
void admin_stop(void);

/* pt_api.admin_route_register (main thread, from a plugin's load). */
struct pt_plugin_ctx;
int admin_route_register(struct pt_plugin_ctx *ctx, const char *prefix, pt_admin_fn fn,
                         void *ud);
/* Forgets every plugin endpoint (at exit, after the plugins unloaded). */
void admin_routes_free(void);

#endif
