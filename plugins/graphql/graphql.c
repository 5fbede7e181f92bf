/*
 * graphql.c - the graphql plugin: its options, the schema, the handler and
 * the Lua module.
 *
 *   plugin "graphql" {
 *     schema = "conf/schema.graphql",   -- or a list of files
 *     path = "/graphql", introspection = true, graphiql = false,
 *     max_depth = 15, max_complexity = 5000, max_aliases = 30,
 *     max_tokens = 20000, max_bytes = 262144,
 *     sse_heartbeat = 15, max_duration = 3600, max_events = 0,  -- subscriptions
 *     ws = { connection_init_wait_timeout = 3, max_operations = 100,
 *            max_message = 1048576, ping_interval = 30 },   -- or ws = false
 *   }
 *
 * Routes name the handler: route.post("/graphql", "graphql", { jwt = true }).
 * A schema with errors is logged as file:line:column and refuses the start
 * (or the reload, and the old schema keeps serving).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <lua.h>
#include <lauxlib.h>

#include "gqlp.h"
#include "validate.h"

const struct pt_api *gqlp_api;
pt_plugin_ctx *gqlp_ctx;

static struct gqlp_conf *current;
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned next_id = 1;

struct gqlp_conf *gqlp_conf_get(void)
{
	struct gqlp_conf *c;

	pthread_mutex_lock(&current_lock);
	c = current;
	if (c)
		atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&current_lock);
	return c;
}

static void conf_free(struct gqlp_conf *c)
{
	if (!c)
		return;
	gql_schema_free(c->schema);
	free(c->path);
	free(c);
}

void gqlp_conf_unref(struct gqlp_conf *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		conf_free(c);
}

static int bad(const pt_conf *c, const char *fmt, const char *a)
{
	const char *file = "config";
	int line = 0;

	if (c)
		gqlp_api->conf_where(c, &file, &line);
	gqlp_api->log(gqlp_ctx, PT_LOG_ERROR, "%s:%d: plugin \"graphql\": %s%s", file, line, fmt,
	              a ? a : "");
	return PT_EINVAL;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f) {
		snprintf(err, errlen, "cannot open schema %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (16 << 20) ||
	    fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)n + 1)) ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		snprintf(err, errlen, "cannot read schema %s (or larger than 16 MiB)", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Builds the schema from the files named by C (a string or a list). */
static struct gql_schema *load_schema(const pt_conf *c)
{
	size_t n = gqlp_api->conf_type(c) == PT_CONF_TABLE ? gqlp_api->conf_len(c) : 1;
	const char **names = calloc(n + 1, sizeof(*names));
	char **texts = calloc(n + 1, sizeof(*texts));
	struct gql_schema_error errs[20];
	struct gql_schema *s = NULL;
	unsigned nerr = 0;
	char err[512];

	if (!names || !texts)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const pt_conf *e = gqlp_api->conf_type(c) == PT_CONF_TABLE ? gqlp_api->conf_at(c, i) : c;
		pt_str_t p;

		if (!e || gqlp_api->conf_str(e, NULL, &p) != 0) {
			bad(c, "schema must be a file name or a list of file names", NULL);
			goto out;
		}
		names[i] = strndup(p.ptr, p.len);
		if (!names[i] || !(texts[i] = read_file(names[i], err, sizeof(err)))) {
			bad(c, err, NULL);
			goto out;
		}
	}
	s = gql_schema_build((const char *const *)texts, names, (unsigned)n, errs, 20, &nerr);
	if (!s) {
		for (unsigned i = 0; i < nerr && i < 20; i++)
			gqlp_api->log(gqlp_ctx, PT_LOG_ERROR, "%s", errs[i].text);
		if (nerr > 20)
			gqlp_api->log(gqlp_ctx, PT_LOG_ERROR, "... and %u more schema errors", nerr - 20);
		bad(c, "the schema has errors (above); fix them to start or reload", NULL);
	}
out:
	for (size_t i = 0; names && texts && i < n; i++) {
		free((char *)names[i]);
		free(texts[i]);
	}
	free(names);
	free(texts);
	return s;
}

static int read_uint(const pt_conf *conf, const char *key, unsigned def, unsigned max,
                     unsigned *out)
{
	int64_t v;
	int rc = gqlp_api->conf_int(conf, key, &v);

	if (rc == PT_ENOENT) {
		*out = def;
		return 0;
	}
	if (rc != 0 || v < 1 || (uint64_t)v > max) {
		char why[128];

		snprintf(why, sizeof(why), " must be an integer from 1 to %u", max);
		bad(gqlp_api->conf_get(conf, key), key, why);
		return PT_EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int read_bool(const pt_conf *conf, const char *key, bool def, bool *out)
{
	int v, rc = gqlp_api->conf_bool(conf, key, &v);

	if (rc == PT_ENOENT) {
		*out = def;
		return 0;
	}
	if (rc != 0)
		return bad(gqlp_api->conf_get(conf, key), key, " must be true or false");
	*out = v != 0;
	return 0;
}

/* A number of seconds from 0 to MAX (0: off). */
static int read_secs(const pt_conf *conf, const char *key, double def, double max, double *out)
{
	double v;
	int rc = gqlp_api->conf_num(conf, key, &v);

	if (rc == PT_ENOENT) {
		*out = def;
		return 0;
	}
	if (rc != 0 || !(v >= 0 && v <= max)) {
		char why[128];

		snprintf(why, sizeof(why), " must be a number of seconds from 0 (off) to %g", max);
		return bad(gqlp_api->conf_get(conf, key), key, why);
	}
	*out = v;
	return 0;
}

/* `ws = false`, `ws = true` or `ws = { ... }`: GraphQL over WebSocket. */
static int read_ws(const pt_conf *conf, struct gqlp_conf *c)
{
	static const char *const known[] = { "connection_init_wait_timeout", "max_operations",
	                                     "max_message", "ping_interval", NULL };
	const pt_conf *w = gqlp_api->conf_get(conf, "ws"), *v;
	const char *k;
	int on;

	c->ws = true;
	c->ws_init_timeout = 3;
	c->ws_max_operations = 100;
	c->ws_max_message = 1 << 20;
	c->ws_ping_interval = 30;
	if (!w)
		return 0;
	if (gqlp_api->conf_bool(w, NULL, &on) == 0) {
		c->ws = on != 0;
		return 0;
	}
	if (gqlp_api->conf_type(w) != PT_CONF_TABLE)
		return bad(w, "ws must be true, false or a table { connection_init_wait_timeout, "
		           "max_operations, max_message, ping_interval }", NULL);
	for (size_t i = 0; (k = gqlp_api->conf_key_at(w, i, &v)) != NULL; i++) {
		size_t j;

		for (j = 0; known[j] && strcmp(known[j], k); j++)
			;
		if (!known[j])
			return bad(v, "unknown option ws.", k);
	}
	if (read_secs(w, "connection_init_wait_timeout", 3, 3600, &c->ws_init_timeout) ||
	    read_uint(w, "max_operations", 100, 100000, &c->ws_max_operations) ||
	    read_uint(w, "max_message", 1 << 20, 64u << 20, &c->ws_max_message) ||
	    read_secs(w, "ping_interval", 30, 3600, &c->ws_ping_interval))
		return PT_EINVAL;
	if (c->ws_ping_interval == 0)
		c->ws_ping_interval = -1;   /* 0 is "off" here, "default" in pt_ws_opts */
	return 0;
}

static struct gqlp_conf *conf_read(const pt_conf *conf)
{
	static const char *const known[] = { "schema", "path", "introspection", "graphiql",
	                                     "max_depth", "max_complexity", "max_aliases",
	                                     "max_tokens", "max_bytes", "sse_heartbeat",
	                                     "max_duration", "max_events", "ws", NULL };
	struct gqlp_conf *c = calloc(1, sizeof(*c));
	const pt_conf *sc, *v;
	const char *k;
	unsigned tokens, bytes;
	pt_str_t p;

	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	for (size_t i = 0; (k = gqlp_api->conf_key_at(conf, i, &v)) != NULL; i++) {
		size_t j;

		for (j = 0; known[j] && strcmp(known[j], k); j++)
			;
		if (!known[j]) {
			bad(v, "unknown option ", k);
			goto fail;
		}
	}
	if (gqlp_api->conf_str(conf, "path", &p) == 0) {
		if (!p.len || p.ptr[0] != '/') {
			bad(gqlp_api->conf_get(conf, "path"), "path must start with '/'", NULL);
			goto fail;
		}
		c->path = strndup(p.ptr, p.len);
	} else {
		c->path = strdup("/graphql");
	}
	if (!c->path ||
	    read_bool(conf, "introspection", true, &c->introspection) ||
	    read_bool(conf, "graphiql", false, &c->graphiql) ||
	    read_uint(conf, "max_depth", 15, 1000, &c->max_depth) ||
	    read_uint(conf, "max_complexity", GQL_DEFAULT_MAX_COMPLEXITY, 100000000,
	              &c->max_complexity) ||
	    read_uint(conf, "max_aliases", 30, 100000, &c->max_aliases) ||
	    read_uint(conf, "max_tokens", 20000, 10000000, &tokens) ||
	    read_uint(conf, "max_bytes", 262144, 64u << 20, &bytes))
		goto fail;
	if (read_secs(conf, "sse_heartbeat", 15, 3600, &c->sse_heartbeat) ||
	    read_secs(conf, "max_duration", 3600, 30 * 86400, &c->max_duration) ||
	    read_ws(conf, c))
		goto fail;
	{
		int64_t ev = 0;
		int rc = gqlp_api->conf_int(conf, "max_events", &ev);

		if ((rc != 0 && rc != PT_ENOENT) || ev < 0 || ev > 100000000) {
			bad(gqlp_api->conf_get(conf, "max_events"), "max_events",
			    " must be an integer from 0 (no limit) to 100000000");
			goto fail;
		}
		c->max_events = (unsigned)ev;
	}
	c->limits.max_tokens = tokens;
	c->limits.max_bytes = bytes;
	if (!(sc = gqlp_api->conf_get(conf, "schema"))) {
		/* loaded from the plugins folder but not configured: stay idle
		 * (said when serving or checking, not under another plugin's
		 * command, whose output it is not) */
		if (gqlp_api->run_mode() != PT_RUN_COMMAND)
			gqlp_api->log(gqlp_ctx, PT_LOG_WARN, "no schema configured (plugin "
			              "\"graphql\" { schema = \"file.graphql\" }): the graphql "
			              "handler answers 503");
	} else if (!(c->schema = load_schema(sc))) {
		goto fail;
	}
	pthread_mutex_lock(&current_lock);
	c->id = next_id++;
	pthread_mutex_unlock(&current_lock);
	return c;
fail:
	conf_free(c);
	return NULL;
}

static void conf_swap(struct gqlp_conf *c)
{
	struct gqlp_conf *old;

	pthread_mutex_lock(&current_lock);
	old = current;
	current = c;
	pthread_mutex_unlock(&current_lock);
	gqlp_conf_unref(old);
}

static int load(pt_plugin_ctx *ctx, const struct pt_api *api, const pt_conf *conf)
{
	struct gqlp_conf *c;
	int rc;

	gqlp_api = api;
	gqlp_ctx = ctx;
	if (!PT_API_HAS(api, lua_task_resume)) {
		api->log(ctx, PT_LOG_ERROR, "needs a portico with plugin ABI 1.2 (Lua tasks)");
		return PT_ENOSYS;
	}
	if (!(c = conf_read(conf)))
		return PT_EINVAL;
	conf_swap(c);
	gqlp_metrics_init();
	if ((rc = api->handler_register(ctx, "graphql", gqlp_handler, NULL)) != 0 ||
	    (rc = api->lua_module_register(ctx, "graphql", gqlp_lua_open)) != 0) {
		api->log(ctx, PT_LOG_ERROR, "cannot register: %s", api->strerror(rc));
		return rc;
	}
	return 0;
}

static int reload(pt_plugin_ctx *ctx, const pt_conf *conf)
{
	struct gqlp_conf *c = conf_read(conf);

	(void)ctx;
	if (!c)
		return PT_EINVAL;
	conf_swap(c);
	return 0;
}

static int worker_start(pt_plugin_ctx *ctx, pt_worker *w)
{
	struct gqlp_worker *gw = calloc(1, sizeof(*gw));

	if (!gw)
		return PT_ENOMEM;
	gqlp_api->worker_set_data(ctx, w, gw);
	return 0;
}

static void worker_stop(pt_plugin_ctx *ctx, pt_worker *w)
{
	struct gqlp_worker *gw = gqlp_api->worker_get_data(ctx, w);

	if (!gw)
		return;
	gqlp_subs_stop(gw);
	gqlp_docs_clear(gw);
	if (gw->fallback)
		lua_close(gw->fallback);
	free(gw);
	gqlp_api->worker_set_data(ctx, w, NULL);
}

static void unload(pt_plugin_ctx *ctx)
{
	(void)ctx;
	conf_swap(NULL);
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "graphql",
	.version = "0.1.0",
	.load = load,
	.worker_start = worker_start,
	.worker_stop = worker_stop,
	.unload = unload,
	.reload = reload,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
