/*
 * chain.h - what runs between route match and the handler: the access
 * filters (C filters from plugins, Lua filters from scripts), in order, any
 * of which may answer (401, 429) or wait; then the handler.
 */
#ifndef PT_CHAIN_H
#define PT_CHAIN_H

#include "portico/portico.h"

/* One filter a route runs, resolved when the generation was built. */
struct filter_ref {
	const char *name;
	const struct filter_reg *c;    /* a C filter, or NULL for a Lua filter */
	const pt_conf *opts;
	void *state;                    /* compiled options (pt_filter_def), else opts */
};

/* Runs X's filters from the first, then its handler. */
void chain_start(pt_exchange *x);
/* A filter that returned PT_FILTER_WAIT (or a Lua filter) finished with RESULT. */
void chain_filter_done(pt_exchange *x, int result);
/* pt_api.exchange_resume: the waiting C filter says "go on". */
int chain_resume(pt_exchange *x);

#endif
