/* gen.c - building and releasing generations; see gen.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "chain.h"
#include "log.h"
#include "lua/lua_rt.h"
#include "upstream/state.h"

static atomic_uint next_id = 1;

/* Appends a line to ERR at *OFF. */
static void add_err(char *err, size_t errlen, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_err(char *err, size_t errlen, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off + 2 >= errlen)
		return;
	if (*off)
		err[(*off)++] = '\n';
	va_start(ap, fmt);
	n = vsnprintf(err + *off, errlen - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n < errlen - *off ? (size_t)n : errlen - *off - 1;
}

static int lua_filter_exists(const struct lua_gen *lg, const char *name)
{
	for (unsigned i = 0; lg && i < lg->nfilters; i++)
		if (!strcmp(lg->filters[i], name))
			return 1;
	return 0;
}

/*
 * The access filters of one route: every `use` in order, then each route
 * option whose key names a filter (C filters in registration order before
 * Lua filters in definition order), with that option's value as its options.
 */
static int resolve_filters(struct gen *g, struct route_entry *re, char *err, size_t errlen,
                           size_t *off)
{
	const struct lua_gen *lg = g->lua;
	const pt_conf *opts = re->conf->opts, *v;
	unsigned cap = (lg ? lg->nuses + lg->nfilters : 0) + (unsigned)(opts && opts->type ==
	               PT_CONF_TABLE ? opts->u.t.nkeys : 0);
	const char *k;

	re->filters = cap ? arena_calloc(&g->cfg->arena, cap * sizeof(*re->filters)) : NULL;
	for (unsigned i = 0; lg && i < lg->nuses; i++) {
		struct filter_ref *f = &re->filters[re->nfilters];
		const struct filter_reg *c = registry_filter(lg->uses[i].name);

		if ((!c || c->phase != PT_PHASE_ACCESS) && !lua_filter_exists(lg, lg->uses[i].name)) {
			add_err(err, errlen, off, "use(\"%s\"): no filter of that name (define it with "
			        "filter(name, fn) or load the plugin that provides it)", lg->uses[i].name);
			return -1;
		}
		f->name = lg->uses[i].name;
		f->c = c && c->phase == PT_PHASE_ACCESS ? c : NULL;
		f->opts = lg->uses[i].opts;
		re->nfilters++;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; (k = conf_key_at(opts, i, &v)) != NULL; i++) {
			const struct filter_reg *c = registry_filter(k);
			int is_c = c && c->phase == PT_PHASE_ACCESS;

			if ((pass == 0 && !is_c) || (pass == 1 && (is_c || !lua_filter_exists(lg, k))))
				continue;
			re->filters[re->nfilters].name = k;
			re->filters[re->nfilters].c = is_c ? c : NULL;
			re->filters[re->nfilters].opts = v;
			re->nfilters++;
		}
	}
	return 0;
}

/* Resolves RE's handler and filters and adds it to the router; FILE names
 * where it was declared (the config or a route script) for messages. */
static int add_route(struct gen *g, struct route_entry *re, int lua_fn, const char *file,
                     char *err, size_t errlen, size_t *off)
{
	const struct route_conf *rc = re->conf;
	char why[256], names[512];

	re->lua_fn = lua_fn;
	re->handler = registry_handler(lua_fn ? "lua" : rc->handler);
	if (!lua_fn && !strcmp(rc->handler, "lua")) {
		add_err(err, errlen, off, "%s:%d: route %s: the 'lua' handler is for route scripts",
		        file, rc->line, rc->path);
		return -1;
	}
	if (!re->handler) {
		registry_handler_names(names, sizeof(names));
		add_err(err, errlen, off, "%s:%d: route %s: no handler named '%s' (registered: %s)",
		        file, rc->line, rc->path, rc->handler, names[0] ? names : "none");
		return -1;
	}
	if (resolve_filters(g, re, err, errlen, off) != 0)
		return -1;
	if (router_add(g->router, rc->methods, rc->host, rc->path, re, why, sizeof(why)) != 0) {
		add_err(err, errlen, off, "%s:%d: route %s: %s", file, rc->line, rc->path, why);
		return -1;
	}
	return 0;
}

struct gen *gen_build(struct config *cfg, char *err, size_t errlen)
{
	struct gen *g = calloc(1, sizeof(*g));
	size_t off = 0;
	unsigned nlua;

	err[0] = '\0';
	if (!g || !(g->router = router_new())) {
		snprintf(err, errlen, "%s: out of memory", cfg->file);
		goto fail;
	}
	g->cfg = cfg;
	g->lua = lua_gen_new(cfg, err, errlen);
	if (!g->lua)
		goto fail;
	g->upstreams = upstream_states_new(cfg, err, errlen);
	if (!g->upstreams)
		goto fail;
	nlua = g->lua->nroutes;
	g->routes = calloc(cfg->nroutes + nlua + 1, sizeof(*g->routes));
	if (!g->routes) {
		snprintf(err, errlen, "%s: out of memory", cfg->file);
		goto fail;
	}
	for (unsigned i = 0; i < cfg->nroutes; i++) {
		g->routes[g->nroutes].conf = &cfg->routes[i];
		add_route(g, &g->routes[g->nroutes++], 0, cfg->file, err, errlen, &off);
	}
	for (unsigned i = 0; i < nlua; i++) {
		const struct lua_route *lr = &g->lua->routes[i];
		struct route_conf *rc = arena_calloc(&cfg->arena, sizeof(*rc));

		if (!rc)
			break;
		rc->methods = lr->methods;
		rc->host = lr->host;
		rc->path = lr->path;
		rc->handler = lr->handler ? lr->handler : "lua";
		rc->opts = lr->opts;
		rc->line = lr->line;
		g->routes[g->nroutes].conf = rc;
		add_route(g, &g->routes[g->nroutes++], lr->handler ? 0 : lr->fn, lr->file, err, errlen,
		          &off);
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
		lua_gen_free(g->lua);
		upstream_states_free(g->upstreams);
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
	lua_gen_free(g->lua);
	upstream_states_free(g->upstreams);
	config_free(g->cfg);
	free(g);
}
