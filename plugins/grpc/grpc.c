/*
 * grpc.c - the grpc plugin: its descriptor, its options, the contracts
 * they name, and the `grpc` Lua module.
 *
 *   plugin "grpc" {
 *     protos = { "conf/proto/orders.proto" },     -- compiled with protoc
 *     import_paths = { "conf/proto" },
 *     descriptors = { "conf/orders.pb" },         -- protoc --include_imports -o
 *     reflection = true, health = true,           -- the built-in services
 *     max_receive_message = 4194304, max_send_message = 4194304,
 *     compress_min = 1024,                        -- compress replies this large
 *     default_timeout = 0,                        -- seconds, when a call has none
 *     protoc = "protoc",
 *   }
 *
 * The contracts are loaded at start and at reload into a new registry; an
 * error (a protoc message, a missing file) names the config's file:line
 * and refuses the start, or the reload (the old contracts keep serving).
 * Services are served from route scripts: grpc.service (service.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "grpc_priv.h"
#include "adapt.h"

#ifndef GRPC_PROTO_DIR
#define GRPC_PROTO_DIR "/usr/share/grpc-proto"
#endif

const struct pt_api *grpc_api;
pt_plugin_ctx *grpc_ctx;

static struct gconf *current;
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned next_id = 1;

struct gconf *grpc_conf_get(void)
{
	struct gconf *c;

	pthread_mutex_lock(&current_lock);
	c = current;
	if (c)
		atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&current_lock);
	return c;
}

void grpc_conf_ref(struct gconf *c)
{
	atomic_fetch_add(&c->refs, 1);
}

void grpc_conf_unref(struct gconf *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
		pb_registry_free(c->reg);
		free(c);
	}
}

/* ---- options -------------------------------------------------------------------------- */

static int bad(const pt_conf *c, const char *fmt, ...) PT_PRINTF(2, 3);

static int bad(const pt_conf *c, const char *fmt, ...)
{
	const char *file = "config";
	int line = 0;
	char msg[1536];
	va_list ap;

	if (c)
		grpc_api->conf_where(c, &file, &line);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	grpc_api->log(grpc_ctx, PT_LOG_ERROR, "%s:%d: plugin \"grpc\": %s", file, line, msg);
	return PT_EINVAL;
}

/* The strings of list KEY (a string alone counts as a list of one) into a
 * new NULL-ended array of borrowed pointers into the config; *N their
 * count. 0, or a negative PT_E* (logged). */
static int str_list(const pt_conf *conf, const char *key, char ***out, unsigned *n)
{
	const struct pt_api *a = grpc_api;
	const pt_conf *c = a->conf_get(conf, key);
	size_t len;
	char **v;

	*out = NULL;
	*n = 0;
	if (!c)
		return 0;
	len = a->conf_type(c) == PT_CONF_TABLE ? a->conf_len(c) : 1;
	if (a->conf_type(c) != PT_CONF_TABLE && a->conf_type(c) != PT_CONF_STRING)
		return bad(c, "%s must be a list of file names", key);
	if (!(v = calloc(len + 1, sizeof(*v))))
		return PT_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		const pt_conf *e = a->conf_type(c) == PT_CONF_TABLE ? a->conf_at(c, i) : c;
		pt_str_t s;

		if (!e || a->conf_str(e, NULL, &s) != 0 || !s.len) {
			free(v);
			return bad(c, "%s[%zu] must be a file name (a string)", key, i + 1);
		}
		if (!(v[i] = strndup(s.ptr, s.len))) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return PT_ENOMEM;
		}
	}
	*out = v;
	*n = (unsigned)len;
	return 0;
}

static void str_list_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int read_file(const char *path, struct pb_buf *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t buf[65536];
	size_t k;

	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while ((k = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (out->len + k > ((size_t)64 << 20) || pb_buf_add(out, buf, k) != 0) {
			fclose(f);
			snprintf(err, errlen, "cannot read %s (or larger than 64 MiB)", path);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

static int size_opt(const pt_conf *conf, const char *key, size_t def, size_t lo, size_t *out)
{
	double d;
	int rc = grpc_api->conf_num(conf, key, &d);

	*out = def;
	if (rc == PT_ENOENT)
		return 0;
	if (rc != 0 || !(d >= (double)lo && d <= (double)GRPC_MAX_MESSAGE_CAP) ||
	    d != (double)(size_t)d)
		return bad(grpc_api->conf_get(conf, key), "%s must be a whole number of bytes from "
		           "%zu to %zu", key, lo, GRPC_MAX_MESSAGE_CAP);
	*out = (size_t)d;
	return 0;
}

static int bool_opt(const pt_conf *conf, const char *key, int def, int *out)
{
	int rc = grpc_api->conf_bool(conf, key, out);

	if (rc == PT_ENOENT) {
		*out = def;
		return 0;
	}
	return rc == 0 ? 0 : bad(grpc_api->conf_get(conf, key), "%s must be true or false", key);
}

/* The built-in services' contracts, from Debian's grpc-proto: loaded when
 * found (reflection then describes them too); the services work without. */
static void add_builtin_protos(struct gconf *g, const char *protoc)
{
	static const char *const files[] = {
		"grpc/health/v1/health.proto",
		"grpc/reflection/v1/reflection.proto",
		"grpc/reflection/v1alpha/reflection.proto",
	};
	const char *dirs[] = { GRPC_PROTO_DIR };
	char err[1024], path[512];

	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct pb_buf b = { 0 };

		if ((i == 0 && !g->health) || (i > 0 && !g->reflection))
			continue;
		snprintf(path, sizeof(path), "%s/%s", GRPC_PROTO_DIR, files[i]);
		if (access(path, R_OK) != 0) {
			grpc_api->log(grpc_ctx, PT_LOG_INFO, "%s not found (Debian grpc-proto): "
			              "reflection will not describe it", path);
			continue;
		}
		if (pb_protoc(protoc, files[i], dirs, 1, &b, err, sizeof(err)) != 0 ||
		    pb_registry_add_set(g->reg, b.p, b.len, path, err, sizeof(err)) != 0)
			grpc_api->log(grpc_ctx, PT_LOG_WARN, "%s: %s", path, err);
		pb_buf_free(&b);
	}
}

/* Builds a gconf from the plugin's options; NULL after logging why. */
static struct gconf *conf_build(const pt_conf *conf)
{
	const struct pt_api *a = grpc_api;
	struct gconf *g = calloc(1, sizeof(*g));
	char **protos = NULL, **imports = NULL, **descs = NULL;
	unsigned nprotos = 0, nimports = 0, ndescs = 0;
	char err[2048], *protoc = NULL;
	double d;
	pt_str_t s;
	int ok = 0;

	if (!g || !(g->reg = pb_registry_new()))
		goto out;
	atomic_init(&g->refs, 1);
	if (str_list(conf, "protos", &protos, &nprotos) != 0 ||
	    str_list(conf, "import_paths", &imports, &nimports) != 0 ||
	    str_list(conf, "descriptors", &descs, &ndescs) != 0)
		goto out;
	if (size_opt(conf, "max_receive_message", GRPC_DEFAULT_MAX_MESSAGE, 16, &g->max_receive) ||
	    size_opt(conf, "max_send_message", GRPC_DEFAULT_MAX_MESSAGE, 16, &g->max_send) ||
	    bool_opt(conf, "reflection", 1, &g->reflection) || bool_opt(conf, "health", 1, &g->health))
		goto out;
	if (a->conf_num(conf, "compress_min", &d) == 0) {
		if (!(d >= 0 && d <= (double)GRPC_MAX_MESSAGE_CAP)) {
			bad(a->conf_get(conf, "compress_min"), "compress_min must be a number of bytes "
			    "(0: never compress replies)");
			goto out;
		}
		g->compress_min = (size_t)d;
	} else if (a->conf_get(conf, "compress_min")) {
		bad(a->conf_get(conf, "compress_min"), "compress_min must be a number of bytes");
		goto out;
	} else {
		g->compress_min = GRPC_DEFAULT_COMPRESS_MIN;
	}
	if (a->conf_num(conf, "default_timeout", &d) == 0) {
		if (!(d >= 0 && d <= 86400 * 365)) {
			bad(a->conf_get(conf, "default_timeout"), "default_timeout must be a number of "
			    "seconds (0: none)");
			goto out;
		}
		g->default_timeout = d;
	} else if (a->conf_get(conf, "default_timeout")) {
		bad(a->conf_get(conf, "default_timeout"), "default_timeout must be a number of seconds");
		goto out;
	}
	if (a->conf_str(conf, "protoc", &s) == 0)
		protoc = strndup(s.ptr, s.len);
	for (unsigned i = 0; i < ndescs; i++) {
		struct pb_buf b = { 0 };
		int rc = read_file(descs[i], &b, err, sizeof(err)) != 0 ||
		         pb_registry_add_set(g->reg, b.p, b.len, descs[i], err, sizeof(err)) != 0;

		pb_buf_free(&b);
		if (rc) {
			bad(a->conf_get(conf, "descriptors"), "descriptors: %s", err);
			goto out;
		}
	}
	/* google/api/annotations.proto (REST transcoding): Portico's proto folder
	 * after the user's, installed or (run from the build tree) the source's */
	{
		char **more = realloc(imports, (nimports + 3) * sizeof(*more));

		if (more) {
			imports = more;
			if (access(PT_PROTO_DIR, R_OK) == 0)
				imports[nimports++] = strdup(PT_PROTO_DIR);
			else if (access(PT_SRC_PROTO_DIR, R_OK) == 0)
				imports[nimports++] = strdup(PT_SRC_PROTO_DIR);
			imports[nimports] = NULL;
		}
	}
	for (unsigned i = 0; i < nprotos; i++) {
		struct pb_buf b = { 0 };
		int rc = pb_protoc(protoc, protos[i], (const char *const *)imports, nimports, &b,
		                   err, sizeof(err)) != 0 ||
		         pb_registry_add_set(g->reg, b.p, b.len, protos[i], err, sizeof(err)) != 0;

		pb_buf_free(&b);
		if (rc) {
			bad(a->conf_get(conf, "protos"), "protos: %s", err);
			goto out;
		}
	}
	if (nprotos || ndescs)   /* no contracts: no services, nothing to describe */
		add_builtin_protos(g, protoc);
	if (pb_registry_link(g->reg, err, sizeof(err)) != 0) {
		bad(conf, "the contracts do not link: %s", err);
		goto out;
	}
	ok = 1;
out:
	str_list_free(protos);
	str_list_free(imports);
	str_list_free(descs);
	free(protoc);
	if (!ok && g) {
		pb_registry_free(g->reg);
		free(g);
		g = NULL;
	}
	return g;
}

static int conf_apply(const pt_conf *conf)
{
	struct gconf *g = conf_build(conf), *old;

	if (!g)
		return PT_EINVAL;
	pthread_mutex_lock(&current_lock);
	g->id = next_id++;
	old = current;
	current = g;
	pthread_mutex_unlock(&current_lock);
	grpc_api->log(grpc_ctx, PT_LOG_INFO, "%u services in the contracts",
	              pb_service_count(g->reg));
	grpc_conf_unref(old);
	return 0;
}

/* ---- the `grpc` Lua module --------------------------------------------------------------- */

#define K_STATE "portico.grpc.state"

/* Each file adds its fields (see grpc_priv.h). */
static void (*const module_parts[])(lua_State *L) = {
	grpc_service_module,
	grpc_health_module,
	grpc_client_module,
	grpc_transcode_module,
};

static int state_gc(lua_State *L)
{
	struct gstate *s = lua_touserdata(L, 1);

	grpc_conf_unref(s->conf);
	s->conf = NULL;
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
	return 0;
}

struct gstate *grpc_state(lua_State *L)
{
	struct gstate *s;

	lua_getfield(L, LUA_REGISTRYINDEX, K_STATE);
	s = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return s;
}

/* Opens the module in L: L's table of methods (holding the contracts the
 * scripts are checked against), then each part's fields. [-0, +1, m] */
static int module_open(lua_State *L)
{
	struct gstate *s = lua_newuserdatauv(L, sizeof(*s), 0);

	memset(s, 0, sizeof(*s));
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, state_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	s->conf = grpc_conf_get();
	lua_setfield(L, LUA_REGISTRYINDEX, K_STATE);
	lua_newtable(L);
	for (size_t i = 0; i < sizeof(module_parts) / sizeof(module_parts[0]); i++)
		module_parts[i](L);
	return 1;
}

/* ---- the plugin ----------------------------------------------------------------------------- */

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	int rc;

	grpc_api = a;
	grpc_ctx = ctx;
	if ((rc = grpc_adapt_load(ctx, &grpc_api)) != 0)   /* gRPC-Web, transcoding */
		return rc;
	if (!PT_API_HAS(a, exchange_lua_req)) {
		a->log(ctx, PT_LOG_ERROR, "this portico lacks ABI 1.6 (Lua tasks of exchanges)");
		return PT_ENOSYS;
	}
	if ((rc = conf_apply(conf)) != 0)
		return rc;
	if ((rc = a->handler_register(ctx, "grpc", grpc_server_handle, NULL)) != 0 ||
	    (rc = a->lua_module_register(ctx, "grpc", module_open)) != 0)
		a->log(ctx, PT_LOG_ERROR, "cannot register the grpc handler and module: %s",
		       a->strerror(rc));
	return rc;
}

static int reload(pt_plugin_ctx *ctx, const pt_conf *conf)
{
	(void)ctx;
	return conf_apply(conf);
}

static void worker_stop(pt_plugin_ctx *ctx, pt_worker *w)
{
	(void)ctx;
	(void)w;
	grpc_server_worker_stop();
}

static void unload(pt_plugin_ctx *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&current_lock);
	grpc_conf_unref(current);
	current = NULL;
	pthread_mutex_unlock(&current_lock);
	grpc_health_clear();
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "grpc",
	.version = "0.1",
	.load = load,
	.worker_stop = worker_stop,
	.unload = unload,
	.reload = reload,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
