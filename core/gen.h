/*
 * gen.h - a generation: one config with its compiled routes.
 *
 * A reload builds a new generation beside the running one and swaps it in
 * only when it is complete. Workers hold a reference to the current one and
 * every exchange holds one to the generation it started with, so the old
 * generation is freed when its last exchange ends.
 */
#ifndef PT_GEN_H
#define PT_GEN_H

#include <stdatomic.h>
#include "conf.h"
#include "plugin.h"
#include "router.h"

struct access_log;
struct filter_ref;
struct lua_gen;
struct upstream_states;

struct route_entry {
	const struct route_conf *conf;
	const char *file;             /* where it was declared (the config or a script), for messages */
	const struct handler_reg *handler;
	int lua_fn;                   /* a Lua route function's index, 0 otherwise */
	struct filter_ref *filters;   /* access filters: `use` globals, then the route's */
	unsigned nfilters;
	int preflight;                /* a filter answers CORS preflights (PT_FILTER_PREFLIGHT) */
	uint64_t body_limit;          /* the route's `body_limit`, 0: http.max_body_size */
	int stream_body;              /* the route's `stream_body`: the handler reads as it comes */
};

/* One compiled filter use, released with the generation. */
struct compiled_filter {
	const struct filter_reg *c;
	const pt_conf *opts;
	void *state;
};

struct gen {
	atomic_uint refs;
	struct gen *live_prev, *live_next;   /* every generation not yet freed (gen.c) */
	unsigned id;
	struct config *cfg;           /* owned */
	struct router *router;        /* owned; read-only once built */
	struct route_entry *routes;   /* config routes, then script routes */
	unsigned nroutes;
	struct upstream_states *upstreams;  /* owned: health, retry budget (upstream/state.h) */
	struct lua_gen *lua;          /* owned: the route scripts' side */
	struct access_log *alog;      /* owned, NULL when off */
	char *openapi;                /* owned: the OpenAPI document, NULL when off */
	struct compiled_filter *compiled;   /* owned: filter states, one per distinct use */
	unsigned ncompiled, capcompiled;
};

/* Takes ownership of CFG (also on failure). NULL with ERR as file:line lines. */
struct gen *gen_build(struct config *cfg, char *err, size_t errlen);
void gen_ref(struct gen *g);
void gen_unref(struct gen *g);
/*
 * The id of the oldest generation not yet freed (an exchange or a worker
 * still holds it), or the next id to be given when none is alive. A
 * retired worker's slot is reused only once every generation it may have
 * made a Lua state in is gone (worker.c). Any thread.
 */
unsigned gen_oldest_live(void);

#endif
