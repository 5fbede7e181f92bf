/*
 * conf_sections.c - the config read into struct config (see conf.c for how
 * the file is evaluated): the top-level settings (workers, log, http, lua,
 * redis, access_log, openapi, ...) and the listen, routes, route and plugin
 * directives, each table checked against its schema first. The upstream
 * blocks are conf_upstream.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lua.h>

#include "conf.h"
#include "conf_priv.h"
#include "log.h"

static void read_admin(struct errbuf *e, struct config *cfg, const pt_conf *v, int line);

/* ---- schemas ------------------------------------------------------------ */

static const struct spec log_spec[] = {
	{ "level", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "file", PT_CONF_STRING, 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec h2_spec[] = {
	{ "max_concurrent_streams", PT_CONF_NUMBER, S_INT, 1, 65536, NULL },
	{ "max_header_list_size", PT_CONF_NUMBER, S_INT, 1024, 16 << 20, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec http_spec[] = {
	{ "max_request_line", PT_CONF_NUMBER, S_INT, 64, 1 << 20, NULL },
	{ "max_header_size", PT_CONF_NUMBER, S_INT, 256, 16 << 20, NULL },
	{ "max_headers", PT_CONF_NUMBER, S_INT, 1, 10000, NULL },
	{ "max_body_size", PT_CONF_NUMBER, S_INT, 0, 1e15, NULL },
	{ "header_timeout", PT_CONF_NUMBER, 0, 0.001, 3600, NULL },
	{ "body_timeout", PT_CONF_NUMBER, 0, 0.001, 3600, NULL },
	{ "idle_timeout", PT_CONF_NUMBER, 0, 0.001, 86400, NULL },
	{ "write_timeout", PT_CONF_NUMBER, 0, 0.001, 3600, NULL },
	{ "h2", PT_CONF_TABLE, 0, 0, 0, h2_spec },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec lua_spec[] = {
	{ "max_instructions", PT_CONF_NUMBER, S_INT, 0, 1e12, NULL },
	{ "max_memory", PT_CONF_NUMBER, S_INT, 1 << 20, 1e12, NULL },
	{ "path", PT_CONF_TABLE, S_ANY_KEYS, 0, 0, NULL },
	{ "shared_dict_size", PT_CONF_NUMBER, S_INT, 4096, 1e12, NULL },
	{ "json_max_size", PT_CONF_NUMBER, S_INT, 1024, 1e10, NULL },
	{ "json_max_depth", PT_CONF_NUMBER, S_INT, 1, 10000, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec access_log_spec[] = {
	{ "file", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "format", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "enabled", PT_CONF_BOOL, 0, 0, 0, NULL },
	{ "redact", PT_CONF_TABLE, S_ANY_KEYS, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec openapi_spec[] = {
	{ "path", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "title", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "version", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "description", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "servers", PT_CONF_TABLE, S_ANY_KEYS, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec redis_spec[] = {
	{ "host", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "port", PT_CONF_NUMBER, S_INT, 1, 65535, NULL },
	{ "password", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "db", PT_CONF_NUMBER, S_INT, 0, 1 << 20, NULL },
	{ "timeout", PT_CONF_NUMBER, 0, 0.001, 60, NULL },
	{ "connect_timeout", PT_CONF_NUMBER, 0, 0.001, 60, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec hub_spec[] = {
	{ "max_message", PT_CONF_NUMBER, S_INT, 1, 64 << 20, NULL },
	{ "backplane", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "prefix", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "backplane_queue", PT_CONF_NUMBER, S_INT, 1, 10000000, NULL },
	{ "backplane_queue_bytes", PT_CONF_NUMBER, S_INT, 65536, 1e12, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec top_spec[] = {
	{ "hub", PT_CONF_TABLE, 0, 0, 0, hub_spec },
	{ "redis", PT_CONF_TABLE, 0, 0, 0, redis_spec },
	{ "access_log", PT_CONF_TABLE, 0, 0, 0, access_log_spec },
	{ "openapi", PT_CONF_TABLE, 0, 0, 0, openapi_spec },
	{ "lua", PT_CONF_TABLE, 0, 0, 0, lua_spec },
	{ "workers", PT_CONF_NUMBER, S_INT, 1, 1024, NULL },
	{ "max_workers", PT_CONF_NUMBER, S_INT, 1, 1024, NULL },
	{ "plugins_dir", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "var_dir", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "pid_file", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "log", PT_CONF_TABLE, 0, 0, 0, log_spec },
	{ "shutdown_timeout", PT_CONF_NUMBER, 0, 0, 3600, NULL },
	{ "watchdog_timeout", PT_CONF_NUMBER, 0, 0, 3600, NULL },
	{ "http", PT_CONF_TABLE, 0, 0, 0, http_spec },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec cert_spec[] = {
	{ "cert", PT_CONF_STRING, S_REQUIRED, 0, 0, NULL },
	{ "key", PT_CONF_STRING, S_REQUIRED, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec admin_listen_spec[] = {
	{ "address", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "port", PT_CONF_NUMBER, S_INT | S_REQUIRED, 1, 65535, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec admin_spec[] = {
	{ "listen", PT_CONF_TABLE, S_REQUIRED, 0, 0, admin_listen_spec },
	{ "token", PT_CONF_STRING, 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec listen_spec[] = {
	{ "address", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "port", PT_CONF_NUMBER, S_INT | S_REQUIRED, 1, 65535, NULL },
	{ "backlog", PT_CONF_NUMBER, S_INT, 1, 65535, NULL },
	{ "http2", PT_CONF_BOOL, 0, 0, 0, NULL },
	{ "tls", PT_CONF_TABLE, S_ANY_KEYS, 0, 0, NULL },  /* checked by read_tls */
	{ NULL, 0, 0, 0, 0, NULL },
};

/* ---- reading the validated tree into struct config ---------------------- */

static void read_http(struct http_conf *h, const pt_conf *c)
{
	h->max_request_line = (size_t)num_or(c, "max_request_line", 8192);
	h->max_header_size = (size_t)num_or(c, "max_header_size", 32768);
	h->max_headers = (unsigned)num_or(c, "max_headers", 100);
	h->max_body_size = (uint64_t)num_or(c, "max_body_size", 1 << 20);
	h->header_timeout = num_or(c, "header_timeout", 10);
	h->body_timeout = num_or(c, "body_timeout", 30);
	h->idle_timeout = num_or(c, "idle_timeout", 60);
	h->write_timeout = num_or(c, "write_timeout", 30);
	h->h2_max_concurrent_streams = (unsigned)num_or(c, "h2.max_concurrent_streams", 128);
	h->h2_max_header_list_size = (size_t)num_or(c, "h2.max_header_list_size", 65536);
}

static void read_lua(struct errbuf *e, struct config *cfg, const pt_conf *c)
{
	const pt_conf *path = conf_get(c, "path");
	struct lua_conf *l = &cfg->lua;

	l->max_instructions = (uint64_t)num_or(c, "max_instructions", 10000000);
	l->max_memory = (size_t)num_or(c, "max_memory", 64 << 20);
	l->shared_dict_size = (size_t)num_or(c, "shared_dict_size", 16 << 20);
	l->json_max_size = (size_t)num_or(c, "json_max_size", 8 << 20);
	l->json_max_depth = (int)num_or(c, "json_max_depth", 64);
	l->npath = (unsigned)conf_len(path);
	l->path = arena_calloc(&cfg->arena, (l->npath + 1) * sizeof(char *));
	for (unsigned i = 0; l->path && i < l->npath; i++) {
		pt_str_t s;

		if (conf_str(conf_at(path, i), NULL, &s) != 0) {
			conf_errf(e, path->file, path->line, "lua.path must be a list of folders");
			l->npath = 0;
			return;
		}
		l->path[i] = s.ptr;
	}
}

static void read_tls(struct errbuf *e, struct listen_conf *l, const pt_conf *tls)
{
	size_t n = conf_len(tls), single = n == 0;

	if (single)  /* tls = { cert = ..., key = ... } */
		n = 1;
	if (n > CONF_MAX_CERTS) {
		conf_errf(e, l->file, l->line, "listen.tls: at most %d certificates", CONF_MAX_CERTS);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const pt_conf *c = single ? tls : conf_at(tls, i);

		if (conf_type(c) != PT_CONF_TABLE) {
			conf_errf(e, l->file, l->line, "listen.tls[%zu] must be { cert = ..., key = ... }", i + 1);
			return;
		}
		conf_check(e, c, cert_spec, "listen.tls: ");
		l->certs[i].cert = str_or(c, "cert", NULL);
		l->certs[i].key = str_or(c, "key", NULL);
	}
	l->ncerts = (unsigned)n;
}

static unsigned method_bit(const char *m)
{
	static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "DELETE",
	                                     "PATCH", "OPTIONS", "CONNECT", "TRACE" };
	char up[16];
	size_t i;

	for (i = 0; m[i] && i < sizeof(up) - 1; i++)
		up[i] = (char)toupper((unsigned char)m[i]);
	up[i] = '\0';
	if (strcmp(up, "ANY") == 0 || strcmp(up, "*") == 0)
		return PT_METHOD_ANY;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(up, names[i]) == 0)
			return 1u << i;
	return 0;
}

static void read_route(struct errbuf *e, struct route_conf *r, const pt_conf *c)
{
	const pt_conf *m = conf_get(c, "method");
	pt_str_t s;

	r->line = c->line;
	r->opts = c;
	r->path = str_or(c, "path", NULL);
	r->host = str_or(c, "host", NULL);
	r->handler = str_or(c, "handler", NULL);
	if (!r->path || r->path[0] != '/')
		conf_errf(e, c->file, c->line, "route: 'path' must be a string starting with '/'");
	if (!r->handler)
		conf_errf(e, c->file, c->line, "route: 'handler' must name a handler (e.g. \"static\")");
	if (!m) {
		r->methods = PT_METHOD_ANY;
	} else if (conf_str(m, NULL, &s) == 0) {
		r->methods = method_bit(s.ptr);
	} else {
		for (size_t i = 0; i < conf_len(m); i++) {
			unsigned bit = conf_str(conf_at(m, i), NULL, &s) == 0 ? method_bit(s.ptr) : 0;

			if (!bit) {
				r->methods = 0;
				break;
			}
			r->methods |= bit;
		}
	}
	if (!r->methods)
		conf_errf(e, c->file, c->line, "route: 'method' must be a method name or a list of them "
		          "(GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, ANY)");
}

static int plugin_name_ok(const char *s)
{
	if (!*s || strlen(s) > 63)
		return 0;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_' && *s != '-')
			return 0;
	return 1;
}

/* Strips the core's keys (enabled, optional) from a plugin's options. */
static const pt_conf *plugin_opts(struct arena *a, const pt_conf *c, struct plugin_conf *p,
                                  struct errbuf *e)
{
	pt_conf *copy;
	size_t j = 0;
	p->enabled = 1;
	p->optional = 0;
	if (!c)
		return conf_empty();
	if (conf_get(c, "enabled") && conf_bool(c, "enabled", &p->enabled) != 0)
		conf_errf(e, c->file, c->line, "plugin \"%s\": 'enabled' must be a boolean", p->name);
	if (conf_get(c, "optional") && conf_bool(c, "optional", &p->optional) != 0)
		conf_errf(e, c->file, c->line, "plugin \"%s\": 'optional' must be a boolean", p->name);
	copy = arena_alloc(a, sizeof(*copy));
	if (!copy)
		return conf_empty();
	*copy = *c;
	copy->u.t.keys = arena_calloc(a, (c->u.t.nkeys + 1) * sizeof(char *));
	copy->u.t.vals = arena_calloc(a, (c->u.t.nkeys + 1) * sizeof(pt_conf *));
	if (!copy->u.t.keys || !copy->u.t.vals)
		return conf_empty();
	for (size_t i = 0; i < c->u.t.nkeys; i++) {
		if (!strcmp(c->u.t.keys[i], "enabled") || !strcmp(c->u.t.keys[i], "optional") ||
		    !strcmp(c->u.t.keys[i], "listen"))
			continue;
		copy->u.t.keys[j] = c->u.t.keys[i];
		copy->u.t.vals[j++] = c->u.t.vals[i];
	}
	copy->u.t.nkeys = j;
	return copy;
}

/* hub = { backplane = "redis", prefix = "portico:hub:", ... } (max_message is
 * read with the other settings). */
static void read_hub(struct errbuf *e, struct config *cfg, const pt_conf *root)
{
	const pt_conf *bk = conf_get(root, "hub.backplane"), *pc = conf_get(root, "hub.prefix");
	const char *backplane = str_or(root, "hub.backplane", NULL);

	cfg->hub_prefix = str_or(root, "hub.prefix", "portico:hub:");
	cfg->hub_backplane_queue = (unsigned)num_or(root, "hub.backplane_queue", 10000);
	cfg->hub_backplane_queue_bytes = (size_t)num_or(root, "hub.backplane_queue_bytes",
	                                                16 << 20);
	if (backplane && !strcmp(backplane, "redis")) {
		cfg->hub_backplane = 1;
		if (!cfg->redis.host)
			conf_errf(e, cfg->file, bk->line, "hub.backplane = \"redis\" needs the Redis "
			          "server: add redis = { host = \"127.0.0.1\", port = 6379 }");
	} else if (backplane && strcmp(backplane, "none") != 0) {
		conf_errf(e, cfg->file, bk->line, "hub.backplane must be \"redis\" or \"none\", "
		          "not \"%s\"", backplane);
	}
	if (pc) {
		size_t n = strlen(cfg->hub_prefix);
		int bad = n == 0 || n > 128;

		for (size_t i = 0; i < n && !bad; i++)
			bad = (unsigned char)cfg->hub_prefix[i] < 0x20 || cfg->hub_prefix[i] == 0x7f;
		if (bad)
			conf_errf(e, cfg->file, pc->line, "hub.prefix must be 1 to 128 bytes without "
			          "control characters");
	}
}

/* One listener LISTENERS[N - 1] from V (a `listen` directive, or a plugin's
 * own: ONLY names the plugin). */
static void read_listen(struct errbuf *e, struct config *cfg, struct listen_conf *l,
                        const pt_conf *v, int line, unsigned n, const char *only)
{
	conf_check(e, v, listen_spec, only ? "plugin listen: " : "listen: ");
	l->file = cfg->file;
	l->line = line;
	l->only = only;
	l->address = str_or(v, "address", "127.0.0.1");
	l->port = (int)num_or(v, "port", 0);
	l->backlog = (int)num_or(v, "backlog", 511);
	l->http2 = 1;
	conf_bool(v, "http2", &l->http2);
	if (conf_get(v, "tls"))
		read_tls(e, l, conf_get(v, "tls"));
	for (unsigned j = 0; j < l->ncerts; j++) {
		if (l->certs[j].cert && !file_readable(l->certs[j].cert))
			conf_errf(e, cfg->file, l->line, "listen.tls: cannot read certificate %s: %s",
			          l->certs[j].cert, strerror(errno));
		if (l->certs[j].key && !file_readable(l->certs[j].key))
			conf_errf(e, cfg->file, l->line, "listen.tls: cannot read key %s: %s",
			          l->certs[j].key, strerror(errno));
	}
	for (unsigned j = 0; j + 1 < n; j++)
		if (cfg->listeners[j].port == l->port && !strcmp(cfg->listeners[j].address, l->address))
			conf_errf(e, cfg->file, l->line, "listen: %s:%d is already declared at line %d",
			          l->address, l->port, cfg->listeners[j].line);
}

/* P's options V (a `plugin "name" { ... }` block or a top-level table
 * named like the plugin, at LINE), and its own listener if it has one. */
static void plugin_read(struct errbuf *e, struct config *cfg, struct plugin_conf *p,
                        const pt_conf *v, int line, unsigned *nl)
{
	const pt_conf *pl = v ? conf_get(v, "listen") : NULL;

	p->opts = plugin_opts(&cfg->arena, v, p, e);
	if (!pl)
		return;
	if (pl->type != PT_CONF_TABLE) {
		conf_errf(e, cfg->file, line, "plugin \"%s\": listen must be "
		          "{ address = ..., port = ... }", p->name);
		return;
	}
	(*nl)++;
	read_listen(e, cfg, &cfg->listeners[*nl - 1], pl, line, *nl, p->name);
}

/* The top-level tables named like a plugin (conf_read_settings found them):
 * the same as `plugin "name" { ... }`, which may not be there as well. */
static void plugin_tables_read(struct errbuf *e, struct config *cfg, struct build *b,
                               unsigned *np, unsigned *nl)
{
	for (unsigned i = 0; cfg->root && i < b->nptabs; i++) {
		const char *name = b->ptabs[i];
		const pt_conf *v = conf_get(cfg->root, name);
		const struct plugin_conf *prev = config_plugin(cfg, name);
		struct plugin_conf *p = &cfg->plugins[*np];

		if (!v)
			continue;
		if (prev) {
			conf_errf(e, cfg->file, v->line, "%s = { ... } and plugin \"%s\" { ... } at line "
			          "%d both configure plugin \"%s\": keep one", name, name, prev->line,
			          name);
			continue;
		}
		p->name = name;
		p->line = v->line;
		plugin_read(e, cfg, p, v, v->line, nl);
		(*np)++;
		cfg->nplugins = *np;
	}
}

/* Reads the directive list at the top of the stack into CFG. [-0, +0, m] */
void conf_read_directives(lua_State *L, struct config *cfg, struct build *b)
{
	int idx = lua_gettop(L);
	size_t n = lua_rawlen(L, idx);
	struct errbuf *e = b->e;
	unsigned nl = 0, np = 0, nr = 0, ns = 0;

	cfg->listeners = arena_calloc(&cfg->arena, (n + b->nptabs + 1) * sizeof(*cfg->listeners));
	cfg->plugins = arena_calloc(&cfg->arena, (n + b->nptabs + 1) * sizeof(*cfg->plugins));
	cfg->routes = arena_calloc(&cfg->arena, (n + 1) * sizeof(*cfg->routes));
	cfg->upstreams = arena_calloc(&cfg->arena, (n + 1) * sizeof(*cfg->upstreams));
	cfg->route_scripts = arena_calloc(&cfg->arena, (n + 1) * sizeof(char *));
	if (!cfg->listeners || !cfg->plugins || !cfg->routes || !cfg->route_scripts ||
	    !cfg->upstreams) {
		conf_errf(e, cfg->file, 0, "out of memory");
		return;
	}
	for (size_t i = 1; i <= n; i++) {
		const char *kind;
		const pt_conf *v = NULL;

		lua_rawgeti(L, idx, (lua_Integer)i);
		lua_getfield(L, -1, "kind");
		kind = lua_tostring(L, -1);
		lua_getfield(L, -2, "line");
		b->line = (int)lua_tointeger(L, -1);
		lua_getfield(L, -3, "value");
		if (!lua_isnil(L, -1))
			v = conf_to_tree(L, -1, b, 1, kind);
		lua_getfield(L, -4, "name");

		if (!strcmp(kind, "listen") && v) {
			nl++;
			read_listen(e, cfg, &cfg->listeners[nl - 1], v, b->line, nl, NULL);
		} else if (!strcmp(kind, "routes") && v) {
			struct stat st;

			cfg->route_scripts[ns++] = v->u.s.ptr;
			/* a file is one script, a folder its *.lua; anything else (a
			 * fifo, a device) would load nothing, silently */
			if (access(v->u.s.ptr, R_OK) != 0 || stat(v->u.s.ptr, &st) != 0)
				conf_errf(e, cfg->file, b->line, "routes: cannot read %s: %s", v->u.s.ptr,
				          strerror(errno));
			else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
				conf_errf(e, cfg->file, b->line, "routes: %s is neither a file nor a folder "
				          "of *.lua scripts", v->u.s.ptr);
		} else if (!strcmp(kind, "route") && v) {
			read_route(e, &cfg->routes[nr++], v);
		} else if (!strcmp(kind, "plugin")) {
			struct plugin_conf *p = &cfg->plugins[np];

			p->name = arena_strdup(&cfg->arena, lua_tostring(L, -1));
			p->line = b->line;
			if (v && v->type != PT_CONF_TABLE)
				v = NULL;
			if (!plugin_name_ok(p->name)) {
				conf_errf(e, cfg->file, b->line, "plugin \"%s\": names are lower-case letters, "
				          "digits, '_' and '-'", p->name);
			} else if (config_plugin(cfg, p->name)) {
				conf_errf(e, cfg->file, b->line, "plugin \"%s\" is configured twice", p->name);
			} else {
				plugin_read(e, cfg, p, v, b->line, &nl);
				np++;
				cfg->nplugins = np;
			}
		} else if (!strcmp(kind, "upstream")) {
			conf_read_upstream(e, cfg, lua_tostring(L, -1), b->line, v);
		} else if (!strcmp(kind, "admin") && v) {
			read_admin(e, cfg, v, b->line);
		}
		lua_pop(L, 5);
	}
	plugin_tables_read(e, cfg, b, &np, &nl);
	cfg->nlisteners = nl;
	for (unsigned i = 0; cfg->admin.port && i < nl; i++)
		if (cfg->listeners[i].port == cfg->admin.port &&
		    !strcmp(cfg->listeners[i].address, cfg->admin.address))
			conf_errf(e, cfg->file, cfg->admin.line, "admin: %s:%d is already a listener "
			          "(line %d)", cfg->admin.address, cfg->admin.port, cfg->listeners[i].line);
	cfg->nplugins = np;
	cfg->nroutes = nr;
	cfg->nroute_scripts = ns;
	if (nl == 0)
		conf_errf(e, cfg->file, 0, "no listener: add listen { address = \"127.0.0.1\", port = 8080 }");
}

/* Whether ADDR only reaches this host: 127.0.0.0/8, ::1 or "localhost". */
static int loopback(const char *addr)
{
	return !strncmp(addr, "127.", 4) || !strcmp(addr, "::1") || !strcmp(addr, "localhost");
}

/* admin { listen = { address, port }, token = "..." }: at most one; a token
 * is required unless the listener only reaches this host. */
static void read_admin(struct errbuf *e, struct config *cfg, const pt_conf *v, int line)
{
	struct admin_conf *a = &cfg->admin;
	int before = e->count;

	if (a->line) {
		conf_errf(e, cfg->file, line, "admin is already declared at line %d", a->line);
		return;
	}
	a->line = line;
	conf_check(e, v, admin_spec, "admin: ");
	if (e->count != before)
		return;
	a->address = str_or(v, "listen.address", "127.0.0.1");
	a->port = (int)num_or(v, "listen.port", 0);
	a->token = str_or(v, "token", NULL);
	if (a->token && (strlen(a->token) < 16 || strlen(a->token) > 1024))
		conf_errf(e, cfg->file, line, "admin.token must be 16 to 1024 bytes long");
	else if (a->token && strpbrk(a->token, " \t\r\n"))
		conf_errf(e, cfg->file, line, "admin.token cannot hold spaces or line breaks");
	else if (!a->token && !loopback(a->address))
		conf_errf(e, cfg->file, line, "admin: listening on %s needs a token (token = \"...\"): "
		          "without one only a loopback address (127.0.0.1, ::1) is allowed", a->address);
}

/*
 * A top-level key that is no setting but names a plugin in plugins_dir (its
 * file, NAME.so) with a table, `webhook = { store = "redis" }`, is that
 * plugin's options: listed in B for conf_read_directives. Returns ROOT
 * without those keys, for the check that reports any other unknown key.
 */
static const pt_conf *plugin_tables_split(struct config *cfg, const pt_conf *root,
                                          struct build *b)
{
	const char *dir = str_or(root, "plugins_dir", PT_PLUGIN_DIR);
	pt_conf *rest = arena_alloc(&cfg->arena, sizeof(*rest));
	size_t n = root->u.t.nkeys, j = 0;
	char path[4096];

	b->ptabs = arena_calloc(&cfg->arena, (n + 1) * sizeof(char *));
	if (!rest || !b->ptabs)
		return root;
	*rest = *root;
	rest->u.t.keys = arena_calloc(&cfg->arena, (n + 1) * sizeof(char *));
	rest->u.t.vals = arena_calloc(&cfg->arena, (n + 1) * sizeof(pt_conf *));
	if (!rest->u.t.keys || !rest->u.t.vals)
		return root;
	for (size_t i = 0; i < n; i++) {
		const char *k = root->u.t.keys[i];
		const struct spec *s;
		int len;

		for (s = top_spec; s->key && strcmp(s->key, k); s++)
			;
		len = snprintf(path, sizeof(path), "%s/%s.so", dir, k);
		if (!s->key && root->u.t.vals[i]->type == PT_CONF_TABLE && plugin_name_ok(k) &&
		    len > 0 && (size_t)len < sizeof(path) && access(path, F_OK) == 0) {
			b->ptabs[b->nptabs++] = k;
			continue;
		}
		rest->u.t.keys[j] = k;
		rest->u.t.vals[j++] = root->u.t.vals[i];
	}
	rest->u.t.nkeys = j;
	return rest;
}

/*
 * var_dir: absolute, without a trailing '/'. A relative value is taken from
 * the config file's folder (made absolute with the working directory when
 * the file was named by a relative path), so `var_dir = "var"` beside the
 * config means the same whatever folder the daemon starts in.
 */
static void read_var_dir(struct errbuf *e, struct config *cfg, const pt_conf *root)
{
	const pt_conf *v = conf_get(root, "var_dir");
	const char *dir = v && v->type == PT_CONF_STRING ? v->u.s.ptr : PT_VAR_DIR;
	const char *slash = strrchr(cfg->file, '/');
	char cwd[4096], *out;
	size_t n;

	cfg->var_dir_line = v ? v->line : 0;
	if (!*dir || strlen(dir) != (v ? v->u.s.len : strlen(dir)) || strlen(dir) > 3000) {
		conf_errf(e, cfg->file, cfg->var_dir_line, "var_dir must be a folder's path "
		          "(not empty, no NUL byte, under 3000 bytes)");
		return;
	}
	if (dir[0] == '/') {
		out = arena_strdup(&cfg->arena, dir);
	} else {
		/* the config's folder: "/" for "/x.conf", "." for "x.conf" */
		int nfolder = slash == cfg->file ? 1 : slash ? (int)(slash - cfg->file) : 1;
		const char *folder = slash ? cfg->file : ".";

		cwd[0] = '\0';
		if (folder[0] != '/' && !getcwd(cwd, sizeof(cwd))) {
			conf_errf(e, cfg->file, cfg->var_dir_line, "var_dir: cannot tell the "
			          "working folder: %s", strerror(errno));
			return;
		}
		n = strlen(cwd) + (size_t)nfolder + strlen(dir) + 4;
		out = arena_alloc(&cfg->arena, n);
		if (out)
			snprintf(out, n, "%s%s%.*s%s%s", cwd, *cwd ? "/" : "", nfolder, folder,
			         folder[nfolder - 1] == '/' ? "" : "/", dir);
	}
	if (!out) {
		conf_errf(e, cfg->file, cfg->var_dir_line, "out of memory");
		return;
	}
	for (char *p; (p = strstr(out, "/./")) != NULL;)   /* "x.conf"'s folder "." */
		memmove(p, p + 2, strlen(p + 2) + 1);
	for (n = strlen(out); n > 1 && out[n - 1] == '/'; n--)
		out[n - 1] = '\0';
	cfg->var_dir = out;
}

/* Reads the top-level settings at the top of the stack (settings table). */
void conf_read_settings(lua_State *L, struct config *cfg, struct build *b)
{
	int settings = lua_gettop(L) - 1, lines = lua_gettop(L);
	pt_conf *root = arena_calloc(&cfg->arena, sizeof(*root));
	size_t nkeys = 0, i = 0;
	long ncpu;

	if (!root)
		return;
	lua_pushnil(L);
	while (lua_next(L, settings)) {
		nkeys++;
		lua_pop(L, 1);
	}
	root->type = PT_CONF_TABLE;
	root->file = cfg->file;
	root->u.t.nkeys = nkeys;
	root->u.t.keys = arena_calloc(&cfg->arena, (nkeys + 1) * sizeof(char *));
	root->u.t.vals = arena_calloc(&cfg->arena, (nkeys + 1) * sizeof(pt_conf *));
	if (!root->u.t.keys || !root->u.t.vals)
		return;
	lua_pushnil(L);
	while (lua_next(L, settings)) {
		lua_pop(L, 1);
		root->u.t.keys[i++] = arena_strdup(&cfg->arena, lua_tostring(L, -1));
	}
	qsort(root->u.t.keys, nkeys, sizeof(char *), conf_keycmp);
	for (i = 0; i < nkeys; i++) {
		lua_getfield(L, lines, root->u.t.keys[i]);
		b->line = (int)lua_tointeger(L, -1);
		lua_getfield(L, settings, root->u.t.keys[i]);
		root->u.t.vals[i] = conf_to_tree(L, -1, b, 1, root->u.t.keys[i]);
		lua_pop(L, 2);
		if (!root->u.t.vals[i]) {
			root->u.t.nkeys = i;
			return;
		}
	}
	cfg->root = root;
	conf_check(b->e, plugin_tables_split(cfg, root, b), top_spec, "");

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = (int)num_or(root, "workers", ncpu > 0 ? (double)ncpu : 1);
	{
		const pt_conf *v = conf_get(root, "workers"), *m = conf_get(root, "max_workers");
		/* default: room to grow 4x past the CPUs, at least 64 slots */
		double dflt = ncpu > 0 && ncpu * 4 > 64 ? (double)(ncpu * 4) : 64;

		if (dflt > 1024)
			dflt = 1024;
		if (!m && cfg->workers > (int)dflt)
			dflt = cfg->workers;
		cfg->workers_line = v ? v->line : 0;
		cfg->max_workers = (int)num_or(root, "max_workers", dflt);
		if (cfg->workers > cfg->max_workers && cfg->max_workers >= 1)
			conf_errf(b->e, cfg->file, m ? m->line : cfg->workers_line, "workers = %d is "
			          "above max_workers = %d (the worker slots made at start)",
			          cfg->workers, cfg->max_workers);
	}
	cfg->plugins_dir = str_or(root, "plugins_dir", PT_PLUGIN_DIR);
	read_var_dir(b->e, cfg, root);
	cfg->pid_file = str_or(root, "pid_file", NULL);
	cfg->log_file = str_or(root, "log.file", NULL);
	if (conf_get(root, "redis")) {
		cfg->redis.host = str_or(root, "redis.host", "127.0.0.1");
		cfg->redis.port = (int)num_or(root, "redis.port", 6379);
		cfg->redis.password = str_or(root, "redis.password", NULL);
		cfg->redis.db = (int)num_or(root, "redis.db", 0);
		cfg->redis.timeout = num_or(root, "redis.timeout", 1);
		cfg->redis.connect_timeout = num_or(root, "redis.connect_timeout", 1);
	}
	if (conf_get(root, "access_log") && bool_or(root, "access_log.enabled", 1)) {
		cfg->access_log = 1;
		cfg->access_log_file = str_or(root, "access_log.file", NULL);
		cfg->access_log_format = str_or(root, "access_log.format", "text");
	}
	cfg->shutdown_timeout = num_or(root, "shutdown_timeout", 10);
	cfg->watchdog_timeout = num_or(root, "watchdog_timeout", 10);
	if (cfg->watchdog_timeout > 0 && cfg->watchdog_timeout < 1) {
		/* the loops beat four times a second: below a second, a busy but
		 * healthy worker would be called stuck */
		const pt_conf *wc = conf_get(root, "watchdog_timeout");

		conf_errf(b->e, cfg->file, wc ? wc->line : 0, "watchdog_timeout must be 0 (off) or at "
		          "least 1 second, not %g", cfg->watchdog_timeout);
	}
	cfg->log_level = PT_LOG_INFO;
	const char *lvl = str_or(root, "log.level", NULL);

	if (lvl && (cfg->log_level = log_level_parse(lvl)) < 0) {
		const pt_conf *lc = conf_get(root, "log.level");

		conf_errf(b->e, cfg->file, lc ? lc->line : 0,
		          "log.level must be \"error\", \"warn\", \"info\" or \"debug\", not \"%s\"", lvl);
		cfg->log_level = PT_LOG_INFO;
	}
	read_http(&cfg->http, conf_get(root, "http"));
	read_lua(b->e, cfg, conf_get(root, "lua"));
	cfg->hub_max_message = (size_t)num_or(root, "hub.max_message", 65536);
	read_hub(b->e, cfg, root);
}
