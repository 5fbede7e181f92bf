/* gen.c - building and releasing generations; see gen.h. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "access_log.h"
#include "openapi.h"
#include "upstream/redis_api.h"
#include "conf_tree.h"
#include "chain.h"
#include "log.h"
#include "lua/lua_rt.h"
#include "upstream/state.h"

static atomic_uint next_id = 1;
static struct gen *live_head, *live_tail;   /* oldest first */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;

static void live_add(struct gen *g)
{
	pthread_mutex_lock(&live_mu);
	g->live_prev = live_tail;
	g->live_next = NULL;
	if (live_tail)
		live_tail->live_next = g;
	else
		live_head = g;
	live_tail = g;
	pthread_mutex_unlock(&live_mu);
}

static void live_remove(struct gen *g)
{
	pthread_mutex_lock(&live_mu);
	if (g->live_prev)
		g->live_prev->live_next = g->live_next;
	else
		live_head = g->live_next;
	if (g->live_next)
		g->live_next->live_prev = g->live_prev;
	else
		live_tail = g->live_prev;
	pthread_mutex_unlock(&live_mu);
}

unsigned gen_oldest_live(void)
{
	unsigned id;

	pthread_mutex_lock(&live_mu);
	id = live_head ? live_head->id : atomic_load(&next_id);
	pthread_mutex_unlock(&live_mu);
	return id;
}

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

/* The state for C filter C used with OPTS: compiled once per generation and
 * use, so a global `use` shared by every route is compiled once. */
static int compile_filter(struct gen *g, struct filter_ref *f, const char *file, int line,
                          char *err, size_t errlen, size_t *off)
{
	const struct filter_reg *c = f->c;
	char why[256] = "";
	void *state = NULL;

	if (!c || !c->def.run)
		return 0;
	for (unsigned i = 0; i < g->ncompiled; i++) {
		if (g->compiled[i].c == c && g->compiled[i].opts == f->opts) {
			f->state = g->compiled[i].state;
			return 0;
		}
	}
	if (g->ncompiled == g->capcompiled) {
		unsigned cap = g->capcompiled ? g->capcompiled * 2 : 8;
		struct compiled_filter *n = realloc(g->compiled, cap * sizeof(*n));

		if (!n) {
			add_err(err, errlen, off, "%s: out of memory", file);
			return -1;
		}
		g->compiled = n;
		g->capcompiled = cap;
	}
	if (c->def.compile) {
		if (c->def.compile(f->opts, &state, why, sizeof(why), c->ud) != 0) {
			add_err(err, errlen, off, "%s:%d: filter '%s': %s", file, line, c->name,
			        why[0] ? why : "bad options");
			return -1;
		}
	} else {
		state = (void *)f->opts;
	}
	g->compiled[g->ncompiled++] = (struct compiled_filter){ c, f->opts, state };
	f->state = state;
	return 0;
}

static void release_filters(struct gen *g)
{
	for (unsigned i = 0; i < g->ncompiled; i++)
		if (g->compiled[i].c->def.compile && g->compiled[i].c->def.release)
			g->compiled[i].c->def.release(g->compiled[i].state, g->compiled[i].c->ud);
	free(g->compiled);
	g->compiled = NULL;
	g->ncompiled = 0;
}

/*
 * The access filters of one route: every `use` in order, then each route
 * option whose key names a filter (C filters in registration order before
 * Lua filters in definition order), with that option's value as its options.
 */
static int resolve_filters(struct gen *g, struct route_entry *re, const char *file, char *err,
                           size_t errlen, size_t *off)
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
	for (unsigned i = 0; i < re->nfilters; i++) {
		const struct filter_reg *c = re->filters[i].c;

		if (compile_filter(g, &re->filters[i], file, re->conf->line, err, errlen, off) != 0)
			return -1;
		if (c && (c->def.flags & PT_FILTER_PREFLIGHT))
			re->preflight = 1;
	}
	return 0;
}

/* The route option `body_limit` (bytes) into *OUT; 0 when absent. */
static int route_body_limit(const struct route_conf *rc, uint64_t *out)
{
	const pt_conf *v = conf_get(rc->opts, "body_limit");

	*out = 0;
	if (!v)
		return 0;
	if (v->type != PT_CONF_NUMBER || v->u.n < 0 || v->u.n > 9007199254740992.0)
		return -1;
	*out = v->u.n < 1 ? 1 : (uint64_t)v->u.n;   /* 0 would mean "the default" */
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
	re->file = file;
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
	if (resolve_filters(g, re, file, err, errlen, off) != 0)
		return -1;
	if (route_body_limit(rc, &re->body_limit) != 0) {
		add_err(err, errlen, off, "%s:%d: route %s: body_limit must be a number of bytes "
		        "from 0 to 2^53", file, rc->line, rc->path);
		return -1;
	}
	if (conf_get(rc->opts, "stream_body") && conf_bool(rc->opts, "stream_body", &re->stream_body)) {
		add_err(err, errlen, off, "%s:%d: route %s: stream_body must be true or false",
		        file, rc->line, rc->path);
		return -1;
	}
	if (router_add(g->router, rc->methods, rc->host, rc->path, re, why, sizeof(why)) != 0) {
		add_err(err, errlen, off, "%s:%d: route %s: %s", file, rc->line, rc->path, why);
		return -1;
	}
	return 0;
}

/* The route serving the OpenAPI document, and the document itself. */
static void add_openapi_route(struct gen *g, char *err, size_t errlen, size_t *off)
{
	const pt_conf *oc = conf_get(g->cfg->root, "openapi");
	struct route_conf *rc = arena_calloc(&g->cfg->arena, sizeof(*rc));
	pt_str_t path = PT_STR("/openapi.json");

	if (!rc) {
		add_err(err, errlen, off, "%s: out of memory", g->cfg->file);
		return;
	}
	conf_str(oc, "path", &path);
	rc->methods = PT_METHOD_GET | PT_METHOD_HEAD;
	rc->path = path.ptr;
	rc->handler = "openapi";
	rc->opts = oc;
	rc->line = oc->line;
	g->routes[g->nroutes].conf = rc;
	if (add_route(g, &g->routes[g->nroutes++], 0, g->cfg->file, err, errlen, off) != 0)
		return;
	if (!(g->openapi = openapi_build(g)))
		add_err(err, errlen, off, "%s: out of memory", g->cfg->file);
}

/* access_log.redact = { "name", ... }: the query parameters the access
 * log writes as REDACTED, instead of the default list ({} for none). */
static int alog_redact(struct access_log *al, const struct config *cfg, char *err,
                       size_t errlen)
{
	const pt_conf *r = conf_get(conf_get(cfg->root, "access_log"), "redact");
	const char *names[32];
	size_t n;

	if (!r)
		return 0;
	n = conf_len(r);
	if (n > sizeof(names) / sizeof(names[0]) || r->u.t.nkeys) {
		snprintf(err, errlen, "%s:%d: access_log.redact: a list of at most 32 query "
		         "parameter names, e.g. { \"access_token\", \"api_key\" }", cfg->file, r->line);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const pt_conf *v = conf_at(r, i);

		if (!v || v->type != PT_CONF_STRING || !v->u.s.len) {
			snprintf(err, errlen, "%s:%d: access_log.redact[%zu]: a query parameter name "
			         "(a non-empty string)", cfg->file, r->line, i + 1);
			return -1;
		}
		names[i] = v->u.s.ptr;
	}
	if (access_log_redact(al, names, n) != 0) {
		snprintf(err, errlen, "out of memory");
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
	redis_api_building(cfg);   /* filters compile against this config's redis */
	if (cfg->access_log) {
		char why[512];

		g->alog = access_log_open(cfg->access_log_file, cfg->access_log_format, why,
		                          sizeof(why));
		if (!g->alog) {
			const pt_conf *c = conf_get(cfg->root, "access_log");

			snprintf(err, errlen, "%s:%d: %s", cfg->file, c ? c->line : 0, why);
			goto fail;
		}
		if (alog_redact(g->alog, cfg, err, errlen) != 0)
			goto fail;
	}
	g->lua = lua_gen_new(cfg, err, errlen);
	if (!g->lua)
		goto fail;
	g->upstreams = upstream_states_new(cfg, err, errlen);
	if (!g->upstreams)
		goto fail;
	nlua = g->lua->nroutes;
	g->routes = calloc(cfg->nroutes + nlua + 2, sizeof(*g->routes));
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
	if (!off && conf_get(cfg->root, "openapi"))
		add_openapi_route(g, err, errlen, &off);
	if (off)
		goto fail;
	atomic_init(&g->refs, 1);
	g->id = atomic_fetch_add(&next_id, 1);
	live_add(g);
	return g;
fail:
	if (g) {
		router_free(g->router);
		free(g->routes);
		release_filters(g);
		access_log_close(g->alog);
		free(g->openapi);
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
	live_remove(g);
	router_free(g->router);
	free(g->routes);
	release_filters(g);
	access_log_close(g->alog);
	free(g->openapi);
	lua_gen_free(g->lua);
	upstream_states_free(g->upstreams);
	config_free(g->cfg);
	free(g);
}
