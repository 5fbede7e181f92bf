/*
 * lua_metrics.h - the route-script states' metrics per worker: Lua memory
 * in use (the allocator's count, struct lua_mem) and Lua instructions run
 * (counted by the instruction-budget hook, in steps of LUA_HOOK_EVERY).
 *
 * A worker's states (one per live generation: two for a moment during a
 * reload) are registered here when made and removed when closed; the scrape
 * sums their memory under a lock that only making and closing a state
 * take. The instruction counter is the worker's own (a relaxed load and
 * store, no shared read-modify-write), read at the scrape.
 */
#ifndef PT_LUA_METRICS_H
#define PT_LUA_METRICS_H

#include <stdint.h>
#include <stdio.h>

struct lua_mem;

/* Sizes the per-worker counters; once, before the workers start. -1: no memory. */
int lua_metrics_init(unsigned nworkers);
/* State bookkeeping (any thread): M is the state's allocator record, W its worker. */
void lua_metrics_add_state(unsigned w, const struct lua_mem *m);
void lua_metrics_remove_state(const struct lua_mem *m);
/* N more instructions run on worker W (its own thread only). */
void lua_metrics_instructions(unsigned w, uint64_t n);
/* Appends the families to F (main thread, at a scrape). */
void lua_metrics_render(FILE *f);
void lua_metrics_free(void);

#endif
