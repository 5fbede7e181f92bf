/*
 * plugin.h - loading plugins from the plugins directory, and the registry of
 * what they registered (handlers, filters, Lua modules).
 */
#ifndef PT_PLUGIN_LOADER_H
#define PT_PLUGIN_LOADER_H

#include "portico/portico.h"
#include "conf.h"

struct pt_plugin_ctx {
	char *path;                     /* owned */
	void *dl;                       /* dlopen handle; NULL for built-ins */
	const struct pt_plugin *desc;   /* the plugin's static descriptor */
	char name[64];
	void *data;                     /* ctx_set_data */
	void **worker_data;             /* [worker count], worker_set_data */
	int loaded;                     /* load() returned 0 */
	struct pt_plugin_ctx *next;
};

struct handler_reg {
	const char *name;               /* owned by the registry */
	pt_handler_fn fn;
	void *ud;
	struct pt_plugin_ctx *owner;    /* NULL: the core */
};

struct filter_reg {
	const char *name;
	int phase;
	pt_filter_fn fn;                /* registered with filter_register */
	struct pt_filter_def def;       /* or defined with filter_define (def.run) */
	void *ud;
	struct pt_plugin_ctx *owner;
};

/*
 * Opens PATH and checks its descriptor without calling any of its code
 * except the entry function. On success returns a ctx (owned by the caller
 * until plugins_add) ; else NULL with ERR naming the file and the reason.
 */
struct pt_plugin_ctx *plugin_open(const char *path, char *err, size_t errlen);
/* Calls the plugin's load callback with OPTS. 0, or negative with ERR. */
int plugin_load(struct pt_plugin_ctx *p, const pt_conf *opts, char *err, size_t errlen);
/* Whether P's load callback is running now (registration is allowed). */
int plugin_loading(const struct pt_plugin_ctx *p);
/* dlcloses and frees P (after unload). */
void plugin_close(struct pt_plugin_ctx *p);

/*
 * Loads every *.so in CFG->plugins_dir (sorted by name), honouring the
 * `plugin "name" { enabled, optional }` blocks. Returns 0, or -1 after
 * logging one line per refused plugin; every plugin that failed and is not
 * optional makes it fail.
 */
int plugins_load_all(const struct config *cfg, char *err, size_t errlen);
/* Hands each loaded plugin its new options; -1 if one refuses them. */
int plugins_reload(const struct config *cfg, char *err, size_t errlen);
void plugins_worker_start(pt_worker *w);
void plugins_worker_stop(pt_worker *w);
/* Calls unload on every plugin and closes them, last loaded first. */
void plugins_unload_all(void);
struct pt_plugin_ctx *plugins_first(void);
unsigned plugins_count(void);

/* The registries, filled during load callbacks (main thread only). */
int registry_handler_add(struct pt_plugin_ctx *owner, const char *name, pt_handler_fn fn, void *ud);
int registry_filter_define(struct pt_plugin_ctx *owner, const struct pt_filter_def *def,
                           void *ud);
int registry_filter_add(struct pt_plugin_ctx *owner, const char *name, int phase,
                        pt_filter_fn fn, void *ud);
const struct handler_reg *registry_handler(const char *name);
const struct filter_reg *registry_filter(const char *name);
/* Comma-separated handler names, for "no such handler" messages. */
void registry_handler_names(char *buf, size_t len);
void registry_clear(void);

#endif
