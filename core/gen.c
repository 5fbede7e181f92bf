/* gen.c - building and releasing generations; see gen.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "log.h"

static atomic_uint next_id = 1;

struct gen *gen_build(struct config *cfg, char *err, size_t errlen)
{
	struct gen *g = calloc(1, sizeof(*g));
	size_t off = 0;
	char why[256], names[512];

	err[0] = '\0';
	if (!g || !(g->router = router_new()) ||
	    !(g->routes = calloc(cfg->nroutes + 1, sizeof(*g->routes)))) {
		snprintf(err, errlen, "%s: out of memory", cfg->file);
		goto fail;
	}
	g->cfg = cfg;
	for (unsigned i = 0; i < cfg->nroutes; i++) {
		const struct route_conf *rc = &cfg->routes[i];
		struct route_entry *re = &g->routes[i];
		int n = 0;

		re->conf = rc;
		re->handler = registry_handler(rc->handler);
		if (!re->handler) {
			registry_handler_names(names, sizeof(names));
			n = snprintf(err + off, errlen - off, "%s%s:%d: route %s: no handler named '%s' "
			             "(registered: %s)", off ? "\n" : "", cfg->file, rc->line, rc->path,
			             rc->handler, names[0] ? names : "none");
		} else if (router_add(g->router, rc->methods, rc->host, rc->path, re, why,
		                      sizeof(why)) != 0) {
			n = snprintf(err + off, errlen - off, "%s%s:%d: route %s: %s", off ? "\n" : "",
			             cfg->file, rc->line, rc->path, why);
		}
		if (n > 0)
			off += (size_t)n < errlen - off ? (size_t)n : errlen - off - 1;
	}
	if (off)
		goto fail;
	atomic_init(&g->refs, 1);
	g->id = atomic_fetch_add(&next_id, 1);
	return g;
fail:
	if (g) {
		router_free(g->router);
		free(g->routes);
		free(g);
	}
	config_free(cfg);
	return NULL;
}

void gen_ref(struct gen *g)
{
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void gen_unref(struct gen *g)
{
	if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
		return;
	log_debug("core", "generation %u released", g->id);
	router_free(g->router);
	free(g->routes);
	config_free(g->cfg);
	free(g);
}
