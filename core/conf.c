/*
 * conf.c - evaluate conf/portico.conf (Lua) and validate it in C.
 *
 * The file runs in an environment holding only the directives (listen,
 * routes, plugin, route). Assignments land in a settings table through
 * __newindex, which records the line; directives record theirs too. The
 * result is copied into a pt_conf tree, checked against the schemas below,
 * and read into struct config.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "conf.h"
#include "log.h"
#include "lua_alloc.h"

#define CONF_MAX_DEPTH 16
#define CONF_MAX_INSTRUCTIONS 10000000
#define CONF_MAX_MEMORY (64u << 20)

/* ---- building errors ---------------------------------------------------- */

struct errbuf {
	char *buf;
	size_t cap, len;
	int count;
};

static void errf(struct errbuf *e, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void errf(struct errbuf *e, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	e->count++;
	if (e->count > 20 || e->len + 2 >= e->cap)
		return;
	if (e->len)
		e->buf[e->len++] = '\n';
	n = line > 0 ? snprintf(e->buf + e->len, e->cap - e->len, "%s:%d: ", file, line)
	             : snprintf(e->buf + e->len, e->cap - e->len, "%s: ", file);
	if (n > 0)
		e->len += (size_t)n < e->cap - e->len ? (size_t)n : e->cap - e->len - 1;
	va_start(ap, fmt);
	n = vsnprintf(e->buf + e->len, e->cap - e->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		e->len += (size_t)n < e->cap - e->len ? (size_t)n : e->cap - e->len - 1;
}

/* ---- the Lua side ------------------------------------------------------- */

/* Registry keys of the tables the directives fill. */
static const char K_SETTINGS[] = "pt.settings";
static const char K_LINES[] = "pt.lines";
static const char K_DIRECTIVES[] = "pt.directives";  /* array of {kind, line, name, value} */

static int caller_line(lua_State *L)
{
	lua_Debug ar;

	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
		return ar.currentline;
	return 0;
}

/* __newindex of the environment: `key = value` at the top level. */
static int env_newindex(lua_State *L)
{
	int line = caller_line(L);

	if (lua_type(L, 2) != LUA_TSTRING)
		return luaL_error(L, "only named settings may be assigned");
	lua_getfield(L, LUA_REGISTRYINDEX, K_SETTINGS);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	lua_rawset(L, -3);
	lua_getfield(L, LUA_REGISTRYINDEX, K_LINES);
	lua_pushvalue(L, 2);
	lua_pushinteger(L, line);
	lua_rawset(L, -3);
	return 0;
}

/* __index of the environment: settings made earlier, then directives. */
static int env_index(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, K_SETTINGS);
	lua_pushvalue(L, 2);
	if (lua_rawget(L, -2) != LUA_TNIL)
		return 1;
	lua_pop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));  /* the directive functions */
	lua_pushvalue(L, 2);
	lua_rawget(L, -2);
	return 1;
}

/* Appends {kind, line, name, value} to the directive list. */
static void record(lua_State *L, const char *kind, int line, int name_idx, int value_idx)
{
	lua_getfield(L, LUA_REGISTRYINDEX, K_DIRECTIVES);
	lua_createtable(L, 0, 4);
	lua_pushstring(L, kind);
	lua_setfield(L, -2, "kind");
	lua_pushinteger(L, line);
	lua_setfield(L, -2, "line");
	if (name_idx) {
		lua_pushvalue(L, name_idx);
		lua_setfield(L, -2, "name");
	}
	if (value_idx) {
		lua_pushvalue(L, value_idx);
		lua_setfield(L, -2, "value");
	}
	lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
	lua_pop(L, 1);
}

/* listen { address = ..., port = ... } and route { ... }: one table argument. */
static int dir_table(lua_State *L)
{
	const char *kind = lua_tostring(L, lua_upvalueindex(1));

	if (lua_type(L, 1) != LUA_TTABLE)
		return luaL_error(L, "%s expects a table: %s { ... }", kind, kind);
	record(L, kind, caller_line(L), 0, 1);
	return 0;
}

/* routes "path": one string argument. */
static int dir_routes(lua_State *L)
{
	if (lua_type(L, 1) != LUA_TSTRING)
		return luaL_error(L, "routes expects a path: routes \"conf/routes\"");
	record(L, "routes", caller_line(L), 0, 1);
	return 0;
}

/* plugin "name" { options }: the second call sets the options. */
static int dir_plugin_opts(lua_State *L)
{
	if (lua_type(L, 1) != LUA_TTABLE)
		return luaL_error(L, "plugin options must be a table: plugin \"name\" { ... }");
	lua_pushvalue(L, lua_upvalueindex(1));   /* the record */
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "value");
	return 0;
}

/* plugin "name" { ... } and upstream "name" { ... }: the kind is upvalue 1. */
static int dir_plugin(lua_State *L)
{
	const char *kind = lua_tostring(L, lua_upvalueindex(1));

	if (lua_type(L, 1) != LUA_TSTRING)
		return luaL_error(L, "%s expects a name: %s \"name\" { ... }", kind, kind);
	record(L, kind, caller_line(L), 1, 0);
	lua_getfield(L, LUA_REGISTRYINDEX, K_DIRECTIVES);
	lua_rawgeti(L, -1, luaL_len(L, -1));
	lua_pushcclosure(L, dir_plugin_opts, 1);
	return 1;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
	lua_getinfo(L, "Sl", ar);
	luaL_error(L, "%s:%d: config takes too long to evaluate (more than %d instructions)",
	           ar->short_src, ar->currentline, CONF_MAX_INSTRUCTIONS);
}

/*
 * Lua cuts chunk names to LUA_IDSIZE characters, so the chunk is named with
 * a short marker that messages then get the whole path back for.
 */
#define CHUNK_MARK "\001cfg"

static void lua_error_msg(struct errbuf *e, const char *file, const char *msg)
{
	const char *p = msg ? strstr(msg, CHUNK_MARK) : NULL;
	char fixed[1024];

	if (!msg)
		msg = "config raised an error";
	if (p) {
		snprintf(fixed, sizeof(fixed), "%.*s%s%s", (int)(p - msg), msg, file,
		         p + sizeof(CHUNK_MARK) - 1);
		msg = fixed;
	}
	/* the message already says file:line */
	errf(e, msg, 0, "%s", "");
	if (e->len >= 2 && e->buf[e->len - 2] == ':' && e->buf[e->len - 1] == ' ') {
		e->len -= 2;
		e->buf[e->len] = '\0';
	}
}

static int load_text(lua_State *L, const char *file, struct errbuf *e)
{
	FILE *f = fopen(file, "rb");
	char *text;
	long n;
	int rc;

	if (!f) {
		errf(e, file, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (long)CONF_MAX_MEMORY / 4 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		errf(e, file, 0, "cannot read (or larger than %u bytes)", CONF_MAX_MEMORY / 4);
		fclose(f);
		return -1;
	}
	text = malloc((size_t)n + 1);
	if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
		errf(e, file, 0, "cannot read: %s", text ? strerror(errno) : "out of memory");
		free(text);
		fclose(f);
		return -1;
	}
	fclose(f);
	rc = luaL_loadbufferx(L, text, (size_t)n, "=" CHUNK_MARK, "t");
	free(text);
	if (rc != LUA_OK) {
		lua_error_msg(e, file, lua_tostring(L, -1));
		return -1;
	}
	return 0;
}

static int eval_file(lua_State *L, const char *file, struct errbuf *e)
{
	static const char *const tables[] = { "listen", "route" };

	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, K_SETTINGS);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, K_LINES);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, K_DIRECTIVES);

	if (load_text(L, file, e) != 0)
		return -1;
	/* the environment: empty, with directives reachable through __index */
	lua_newtable(L);                                 /* env */
	lua_createtable(L, 0, 2);                        /* its metatable */
	lua_createtable(L, 0, 4);                        /* directives */
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		lua_pushstring(L, tables[i]);
		lua_pushcclosure(L, dir_table, 1);
		lua_setfield(L, -2, tables[i]);
	}
	lua_pushcfunction(L, dir_routes);
	lua_setfield(L, -2, "routes");
	lua_pushliteral(L, "plugin");
	lua_pushcclosure(L, dir_plugin, 1);
	lua_setfield(L, -2, "plugin");
	lua_pushliteral(L, "upstream");
	lua_pushcclosure(L, dir_plugin, 1);
	lua_setfield(L, -2, "upstream");
	lua_pushcclosure(L, env_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, env_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_setmetatable(L, -2);
	if (!lua_setupvalue(L, -2, 1))
		lua_pop(L, 1);

	lua_sethook(L, count_hook, LUA_MASKCOUNT, CONF_MAX_INSTRUCTIONS);
	if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
		lua_error_msg(e, file, lua_tostring(L, -1));
		return -1;
	}
	lua_sethook(L, NULL, 0, 0);
	return 0;
}

/* ---- Lua values -> pt_conf tree ----------------------------------------- */

struct build {
	struct arena *a;
	struct errbuf *e;
	const char *file;
	int line;
	int skip_functions;   /* route options may hold functions: leave them out */
};

static int keycmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Copies the value at IDX; NULL on error (reported). [-0, +0, m] */
static pt_conf *to_tree(lua_State *L, int idx, struct build *b, int depth, const char *where)
{
	pt_conf *c = arena_calloc(b->a, sizeof(*c));
	size_t len;
	const char *s;

	if (!c)
		return NULL;
	idx = lua_absindex(L, idx);
	c->file = b->file;
	c->line = b->line;
	switch (lua_type(L, idx)) {
	case LUA_TBOOLEAN:
		c->type = PT_CONF_BOOL;
		c->u.b = lua_toboolean(L, idx);
		return c;
	case LUA_TNUMBER:
		c->type = PT_CONF_NUMBER;
		c->u.n = lua_tonumber(L, idx);
		return c;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		c->type = PT_CONF_STRING;
		c->u.s.ptr = arena_strndup(b->a, s, len);
		c->u.s.len = len;
		return c->u.s.ptr ? c : NULL;
	case LUA_TTABLE:
		break;
	case LUA_TFUNCTION:
		if (b->skip_functions) {
			c->type = PT_CONF_NIL;
			return c;
		}
		/* fall through */
	default:
		errf(b->e, b->file, b->line, "%s: a %s cannot be a config value", where,
		     luaL_typename(L, idx));
		return NULL;
	}
	if (depth >= CONF_MAX_DEPTH) {
		errf(b->e, b->file, b->line, "%s: tables nested deeper than %d", where,
		     CONF_MAX_DEPTH);
		return NULL;
	}
	c->type = PT_CONF_TABLE;
	size_t narr = lua_rawlen(L, idx), nkeys = 0, i;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) == LUA_TSTRING)
			nkeys++;
		else if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 ||
		         (size_t)lua_tointeger(L, -2) > narr) {
			errf(b->e, b->file, b->line, "%s: table keys must be names or 1..n", where);
			lua_pop(L, 2);
			return NULL;
		}
		lua_pop(L, 1);
	}
	c->u.t.narr = narr;
	c->u.t.nkeys = nkeys;
	c->u.t.arr = arena_calloc(b->a, (narr + 1) * sizeof(pt_conf *));
	c->u.t.keys = arena_calloc(b->a, (nkeys + 1) * sizeof(char *));
	c->u.t.vals = arena_calloc(b->a, (nkeys + 1) * sizeof(pt_conf *));
	if (!c->u.t.arr || !c->u.t.keys || !c->u.t.vals)
		return NULL;
	for (i = 0; i < narr; i++) {
		lua_rawgeti(L, idx, (lua_Integer)i + 1);
		c->u.t.arr[i] = to_tree(L, -1, b, depth + 1, where);
		lua_pop(L, 1);
		if (!c->u.t.arr[i])
			return NULL;
	}
	/* keys sorted, values fetched by key afterwards so they stay paired */
	i = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) == LUA_TSTRING)
			c->u.t.keys[i++] = arena_strdup(b->a, lua_tostring(L, -1));
	}
	qsort(c->u.t.keys, nkeys, sizeof(char *), keycmp);
	for (i = 0; i < nkeys; i++) {
		lua_getfield(L, idx, c->u.t.keys[i]);
		c->u.t.vals[i] = to_tree(L, -1, b, depth + 1, c->u.t.keys[i]);
		lua_pop(L, 1);
		if (!c->u.t.vals[i])
			return NULL;
	}
	return c;
}

/* ---- schemas ------------------------------------------------------------ */

#define S_INT 0x1       /* a number that must be whole */
#define S_REQUIRED 0x2
#define S_ANY_KEYS 0x4  /* a table whose keys are not checked (handler options) */

struct spec {
	const char *key;
	int type;
	int flags;
	double min, max;
	const struct spec *sub;
};

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

static const struct spec top_spec[] = {
	{ "redis", PT_CONF_TABLE, 0, 0, 0, redis_spec },
	{ "access_log", PT_CONF_TABLE, 0, 0, 0, access_log_spec },
	{ "openapi", PT_CONF_TABLE, 0, 0, 0, openapi_spec },
	{ "lua", PT_CONF_TABLE, 0, 0, 0, lua_spec },
	{ "workers", PT_CONF_NUMBER, S_INT, 1, 1024, NULL },
	{ "plugins_dir", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "pid_file", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "log", PT_CONF_TABLE, 0, 0, 0, log_spec },
	{ "shutdown_timeout", PT_CONF_NUMBER, 0, 0, 3600, NULL },
	{ "http", PT_CONF_TABLE, 0, 0, 0, http_spec },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec cert_spec[] = {
	{ "cert", PT_CONF_STRING, S_REQUIRED, 0, 0, NULL },
	{ "key", PT_CONF_STRING, S_REQUIRED, 0, 0, NULL },
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

/* Edit distance for "did you mean"; small strings only. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], i, j;

	if (la >= 63 || lb >= 63)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t prev = row[0], tmp;

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

static void unknown_key(struct errbuf *e, const pt_conf *where, const char *ctx,
                        const char *key, const struct spec *spec)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (const struct spec *s = spec; s->key; s++) {
		size_t d = distance(key, s->key);

		if (d < bestd) {
			bestd = d;
			best = s->key;
		}
	}
	if (best)
		errf(e, where->file, where->line, "%s'%s' is not a known setting (did you mean '%s'?)",
		     ctx, key, best);
	else
		errf(e, where->file, where->line, "%s'%s' is not a known setting", ctx, key);
}

/* Checks table C against SPEC; CTX prefixes messages ("listen: "). */
static void check(struct errbuf *e, const pt_conf *c, const struct spec *spec, const char *ctx)
{
	const pt_conf *v;
	const char *k;
	char sub[128];

	for (size_t i = 0; (k = conf_key_at(c, i, &v)) != NULL; i++) {
		const struct spec *s;

		for (s = spec; s->key && strcmp(s->key, k) != 0; s++)
			;
		if (!s->key) {
			unknown_key(e, v, ctx, k, spec);
			continue;
		}
		if (v->type != s->type) {
			errf(e, v->file, v->line, "%s'%s' must be a %s, not a %s", ctx, k,
			     conf_type_name(s->type), conf_type_name(v->type));
			continue;
		}
		if (s->type == PT_CONF_NUMBER) {
			if ((s->flags & S_INT) && v->u.n != floor(v->u.n))
				errf(e, v->file, v->line, "%s'%s' must be a whole number", ctx, k);
			else if (v->u.n < s->min || v->u.n > s->max)
				errf(e, v->file, v->line, "%s'%s' must be between %g and %g, not %g",
				     ctx, k, s->min, s->max, v->u.n);
		}
		if (s->type == PT_CONF_TABLE && s->sub) {
			snprintf(sub, sizeof(sub), "%s%s.", ctx, k);
			check(e, v, s->sub, sub);
		}
	}
	if (conf_len(c) > 0 && spec != NULL)
		errf(e, c->file, c->line, "%sunexpected list items (use name = value)", ctx);
	for (const struct spec *s = spec; s->key; s++)
		if ((s->flags & S_REQUIRED) && !conf_get(c, s->key))
			errf(e, c->file, c->line, "%s'%s' is required", ctx, s->key);
}

/* ---- reading the validated tree into struct config ---------------------- */

static double num_or(const pt_conf *c, const char *key, double dflt)
{
	double v;

	return conf_num(c, key, &v) == 0 ? v : dflt;
}

static const char *str_or(const pt_conf *c, const char *key, const char *dflt)
{
	pt_str_t s;

	return conf_str(c, key, &s) == 0 ? s.ptr : dflt;
}

static int bool_or(const pt_conf *c, const char *key, int dflt)
{
	int v;

	return conf_bool(c, key, &v) == 0 ? v : dflt;
}

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
			errf(e, path->file, path->line, "lua.path must be a list of folders");
			l->npath = 0;
			return;
		}
		l->path[i] = s.ptr;
	}
}

static int file_readable(const char *path)
{
	return access(path, R_OK) == 0;
}

static void read_tls(struct errbuf *e, struct listen_conf *l, const pt_conf *tls)
{
	size_t n = conf_len(tls), single = n == 0;

	if (single)  /* tls = { cert = ..., key = ... } */
		n = 1;
	if (n > CONF_MAX_CERTS) {
		errf(e, l->file, l->line, "listen.tls: at most %d certificates", CONF_MAX_CERTS);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const pt_conf *c = single ? tls : conf_at(tls, i);

		if (conf_type(c) != PT_CONF_TABLE) {
			errf(e, l->file, l->line, "listen.tls[%zu] must be { cert = ..., key = ... }", i + 1);
			return;
		}
		check(e, c, cert_spec, "listen.tls: ");
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
		errf(e, c->file, c->line, "route: 'path' must be a string starting with '/'");
	if (!r->handler)
		errf(e, c->file, c->line, "route: 'handler' must name a handler (e.g. \"static\")");
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
		errf(e, c->file, c->line, "route: 'method' must be a method name or a list of them "
		     "(GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, ANY)");
}

static const struct spec up_timeout_spec[] = {
	{ "connect", PT_CONF_NUMBER, 0, 0.001, 600, NULL },
	{ "read", PT_CONF_NUMBER, 0, 0.001, 3600, NULL },
	{ "send", PT_CONF_NUMBER, 0, 0.001, 3600, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec up_health_spec[] = {
	{ "path", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "interval", PT_CONF_NUMBER, 0, 0.05, 3600, NULL },
	{ "timeout", PT_CONF_NUMBER, 0, 0.001, 600, NULL },
	{ "healthy", PT_CONF_NUMBER, S_INT, 1, 100, NULL },
	{ "unhealthy", PT_CONF_NUMBER, S_INT, 1, 100, NULL },
	{ "status", PT_CONF_TABLE, S_ANY_KEYS, 0, 0, NULL },   /* checked by read_health */
	{ "host", PT_CONF_STRING, 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec up_tls_spec[] = {
	{ "verify", PT_CONF_BOOL, 0, 0, 0, NULL },
	{ "ca", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "sni", PT_CONF_STRING, 0, 0, 0, NULL },   /* refused by read_upstream_tls */
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec up_spec[] = {
	{ "servers", PT_CONF_TABLE, S_REQUIRED | S_ANY_KEYS, 0, 0, NULL },
	{ "balance", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "timeout", PT_CONF_TABLE, 0, 0, 0, up_timeout_spec },
	{ "retries", PT_CONF_NUMBER, S_INT, 0, 10, NULL },
	{ "keepalive", PT_CONF_NUMBER, S_INT, 1, 65536, NULL },
	{ "retry_budget", PT_CONF_NUMBER, 0, 0, 1, NULL },
	{ "retry_budget_min", PT_CONF_NUMBER, 0, 0, 10000, NULL },
	{ "max_fails", PT_CONF_NUMBER, S_INT, 1, 1000, NULL },
	{ "fail_timeout", PT_CONF_NUMBER, 0, 0.001, 3600, NULL },
	{ "health", PT_CONF_TABLE, 0, 0, 0, up_health_spec },
	{ "protocol", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "tls", PT_CONF_TABLE, 0, 0, 0, up_tls_spec },
	{ NULL, 0, 0, 0, 0, NULL },
};

/* The closest of NAMES to S for "did you mean", or NULL. */
static const char *closest(const char *s, const char *const *names)
{
	const char *best = NULL;
	size_t bestd = 4;

	for (; *names; names++) {
		size_t d = distance(s, *names);

		if (d < bestd) {
			bestd = d;
			best = *names;
		}
	}
	return best;
}

/* A header or query parameter name for hash(...): token characters only. */
static int hash_name_ok(const char *s)
{
	if (!*s || strlen(s) > 128)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

/*
 * balance = "round_robin" | "least_conn" | "hash(ip)" | "hash(header:NAME)" |
 * "hash(query:NAME)". Header names are kept lower-case (requests carry them so).
 */
static void read_balance(struct errbuf *e, struct config *cfg, struct upstream_conf *u,
                         const char *bal)
{
	static const char *const plain[] = { "round_robin", "least_conn", NULL };
	static const char *const kinds[] = { "ip", "header", "query", NULL };
	size_t n = strlen(bal);
	char hint[200] = "";

	if (!strcmp(bal, "round_robin") || !strcmp(bal, "least_conn")) {
		u->balance = bal[0] == 'r' ? UP_BALANCE_ROUND_ROBIN : UP_BALANCE_LEAST_CONN;
		return;
	}
	if (n > 6 && !strncmp(bal, "hash(", 5) && bal[n - 1] == ')') {
		const char *in = bal + 5, *colon = memchr(in, ':', n - 6);
		char kind[32], *name = colon ? arena_strndup(&cfg->arena, colon + 1,
		                                             (size_t)(bal + n - 1 - colon - 1)) : NULL;
		size_t kl = colon ? (size_t)(colon - in) : n - 6;
		const char *k;

		snprintf(kind, sizeof(kind), "%.*s", (int)(kl < sizeof(kind) ? kl : 0), in);
		if (!strcmp(kind, "ip") && !colon) {
			u->balance = UP_BALANCE_HASH;
			u->hash_by = UP_HASH_IP;
			return;
		}
		if ((!strcmp(kind, "header") || !strcmp(kind, "query")) && name && hash_name_ok(name)) {
			if (kind[0] == 'h')
				for (char *p = name; *p; p++)
					*p = (char)tolower((unsigned char)*p);
			u->balance = UP_BALANCE_HASH;
			u->hash_by = kind[0] == 'h' ? UP_HASH_HEADER : UP_HASH_QUERY;
			u->hash_name = name;
			return;
		}
		k = !strcmp(kind, "ip") || !strcmp(kind, "header") || !strcmp(kind, "query") ? kind :
		    closest(kind, kinds);
		if (k && !strcmp(k, "ip"))
			snprintf(hint, sizeof(hint), " (did you mean \"hash(ip)\"?)");
		else if (k)
			snprintf(hint, sizeof(hint), " (did you mean \"hash(%s:%.64s)\"?)", k,
			         name && hash_name_ok(name) ? name : "NAME");
	} else {
		const char *k = closest(bal, plain);

		if (k)
			snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", k);
	}
	errf(e, cfg->file, u->line, "upstream \"%s\": balance is \"round_robin\", \"least_conn\", "
	     "\"hash(ip)\", \"hash(header:NAME)\" or \"hash(query:NAME)\", not \"%s\"%s",
	     u->name, bal, hint);
}

/* health = { path, interval, timeout, healthy, unhealthy, status = { lo, hi }, host } */
static void read_health(struct errbuf *e, struct config *cfg, struct upstream_conf *u,
                        const pt_conf *h)
{
	struct upstream_health_conf *hc = &u->health;
	const pt_conf *st = conf_get(h, "status");
	double lo, hi;

	hc->enabled = 1;
	hc->path = str_or(h, "path", "/");
	hc->host = str_or(h, "host", NULL);
	hc->interval = num_or(h, "interval", 2);
	hc->timeout = num_or(h, "timeout", 1);
	hc->healthy = (unsigned)num_or(h, "healthy", 2);
	hc->unhealthy = (unsigned)num_or(h, "unhealthy", 2);
	hc->status_min = 200;
	hc->status_max = 399;
	if (hc->path[0] != '/' || strpbrk(hc->path, " \r\n"))
		errf(e, cfg->file, u->line, "upstream \"%s\": health.path must start with '/' and "
		     "hold no space, not \"%s\"", u->name, hc->path);
	if (hc->host && (!*hc->host || strpbrk(hc->host, " \r\n/")))
		errf(e, cfg->file, u->line, "upstream \"%s\": health.host must be a host name "
		     "(optionally with :port), not \"%s\"", u->name, hc->host);
	if (!st)
		return;
	if (conf_len(st) < 1 || conf_len(st) > 2 || st->u.t.nkeys ||
	    conf_num(conf_at(st, 0), NULL, &lo) != 0 ||
	    conf_num(conf_at(st, conf_len(st) - 1), NULL, &hi) != 0 ||
	    lo != floor(lo) || hi != floor(hi) || lo < 100 || hi > 599 || lo > hi) {
		errf(e, cfg->file, u->line, "upstream \"%s\": health.status is { lowest, highest } "
		     "of the statuses that mean healthy (100-599), e.g. { 200, 399 }, or { 200 }",
		     u->name);
		return;
	}
	hc->status_min = (int)lo;
	hc->status_max = (int)hi;
}

/* protocol = "http" | "https" | "h2c" | "h2", and tls = { verify, ca }. */
static void read_protocol(struct errbuf *e, struct config *cfg, struct upstream_conf *u,
                          const pt_conf *v)
{
	static const char *const names[] = { "http", "https", "h2c", "h2", NULL };
	const char *p = str_or(v, "protocol", "http"), *hint;
	const pt_conf *tls = conf_get(v, "tls");
	int i;

	for (i = 0; names[i] && strcmp(names[i], p); i++)
		;
	if (!names[i]) {
		hint = closest(p, names);
		errf(e, cfg->file, u->line, "upstream \"%s\": protocol is \"http\", \"https\", "
		     "\"h2c\" (HTTP/2, prior knowledge) or \"h2\" (HTTP/2 over TLS), not \"%s\"%s%s%s",
		     u->name, p, hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");
		return;
	}
	u->protocol = (enum upstream_protocol)i;
	u->tls_verify = 1;
	if (!tls)
		return;
	if (u->protocol != UP_PROTO_HTTPS && u->protocol != UP_PROTO_H2) {
		errf(e, cfg->file, u->line, "upstream \"%s\": 'tls' needs protocol = \"https\" or "
		     "\"h2\" (it is \"%s\")", u->name, p);
		return;
	}
	if (conf_get(tls, "sni"))
		errf(e, cfg->file, u->line, "upstream \"%s\": tls.sni is not supported: name the "
		     "servers by host name (\"api.internal:443\"); SNI and the certificate check "
		     "use it", u->name);
	if (conf_bool(tls, "verify", &u->tls_verify) != 0)
		u->tls_verify = 1;
	u->tls_ca = str_or(tls, "ca", NULL);
	if (u->tls_ca && !file_readable(u->tls_ca))
		errf(e, cfg->file, u->line, "upstream \"%s\": tls.ca: cannot read %s: %s", u->name,
		     u->tls_ca, strerror(errno));
	if (u->tls_ca && !u->tls_verify)
		errf(e, cfg->file, u->line, "upstream \"%s\": tls.ca is pointless with "
		     "verify = false", u->name);
}

/* upstream "name" { servers = { "127.0.0.1:9001", ... }, ... } */
static void read_upstream(struct errbuf *e, struct config *cfg, const char *name, int line,
                          const pt_conf *v)
{
	struct upstream_conf *u = &cfg->upstreams[cfg->nupstreams];
	const pt_conf *servers = conf_get(v, "servers");
	char ctx[96];

	if (!v || v->type != PT_CONF_TABLE) {
		errf(e, cfg->file, line, "upstream \"%s\" needs a table: upstream \"%s\" { servers = "
		     "{ \"127.0.0.1:9001\" } }", name, name);
		return;
	}
	snprintf(ctx, sizeof(ctx), "upstream \"%.64s\": ", name);
	check(e, v, up_spec, ctx);
	if (config_upstream(cfg, name)) {
		errf(e, cfg->file, line, "upstream \"%s\" is declared twice", name);
		return;
	}
	u->name = arena_strdup(&cfg->arena, name);
	u->line = line;
	u->nservers = (unsigned)conf_len(servers);
	u->servers = arena_calloc(&cfg->arena, (u->nservers + 1) * sizeof(char *));
	if (!u->nservers)
		errf(e, cfg->file, line, "upstream \"%s\": 'servers' must list at least one "
		     "\"host:port\"", name);
	for (unsigned i = 0; u->servers && i < u->nservers; i++) {
		pt_str_t s;
		const char *colon;

		if (conf_str(conf_at(servers, i), NULL, &s) != 0 || !(colon = strrchr(s.ptr, ':')) ||
		    colon == s.ptr || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535 ||
		    strpbrk(s.ptr, "/ ")) {
			errf(e, cfg->file, line, "upstream \"%s\": servers are \"host:port\" strings",
			     name);
			return;
		}
		u->servers[i] = s.ptr;
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(u->servers[j], s.ptr))
				errf(e, cfg->file, line, "upstream \"%s\": server %s is listed twice",
				     name, s.ptr);
	}
	read_balance(e, cfg, u, str_or(v, "balance", "round_robin"));
	u->connect_timeout = num_or(v, "timeout.connect", 1);
	u->read_timeout = num_or(v, "timeout.read", 30);
	u->send_timeout = num_or(v, "timeout.send", 30);
	u->retries = (unsigned)num_or(v, "retries", 1);
	u->keepalive = (unsigned)num_or(v, "keepalive", 256);
	u->retry_budget = num_or(v, "retry_budget", 0.2);
	u->retry_budget_min = num_or(v, "retry_budget_min", 3);
	u->max_fails = (unsigned)num_or(v, "max_fails", 3);
	u->fail_timeout = num_or(v, "fail_timeout", 10);
	if (conf_type(conf_get(v, "health")) == PT_CONF_TABLE)
		read_health(e, cfg, u, conf_get(v, "health"));
	read_protocol(e, cfg, u, v);
	cfg->nupstreams++;
}

const struct upstream_conf *config_upstream(const struct config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->nupstreams; i++)
		if (!strcmp(cfg->upstreams[i].name, name))
			return &cfg->upstreams[i];
	return NULL;
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
		errf(e, c->file, c->line, "plugin \"%s\": 'enabled' must be a boolean", p->name);
	if (conf_get(c, "optional") && conf_bool(c, "optional", &p->optional) != 0)
		errf(e, c->file, c->line, "plugin \"%s\": 'optional' must be a boolean", p->name);
	copy = arena_alloc(a, sizeof(*copy));
	if (!copy)
		return conf_empty();
	*copy = *c;
	copy->u.t.keys = arena_calloc(a, (c->u.t.nkeys + 1) * sizeof(char *));
	copy->u.t.vals = arena_calloc(a, (c->u.t.nkeys + 1) * sizeof(pt_conf *));
	if (!copy->u.t.keys || !copy->u.t.vals)
		return conf_empty();
	for (size_t i = 0; i < c->u.t.nkeys; i++) {
		if (!strcmp(c->u.t.keys[i], "enabled") || !strcmp(c->u.t.keys[i], "optional"))
			continue;
		copy->u.t.keys[j] = c->u.t.keys[i];
		copy->u.t.vals[j++] = c->u.t.vals[i];
	}
	copy->u.t.nkeys = j;
	return copy;
}

/* Reads the directive list at the top of the stack into CFG. [-0, +0, m] */
static void read_directives(lua_State *L, struct config *cfg, struct build *b)
{
	int idx = lua_gettop(L);
	size_t n = lua_rawlen(L, idx);
	struct errbuf *e = b->e;
	unsigned nl = 0, np = 0, nr = 0, ns = 0;

	cfg->listeners = arena_calloc(&cfg->arena, (n + 1) * sizeof(*cfg->listeners));
	cfg->plugins = arena_calloc(&cfg->arena, (n + 1) * sizeof(*cfg->plugins));
	cfg->routes = arena_calloc(&cfg->arena, (n + 1) * sizeof(*cfg->routes));
	cfg->upstreams = arena_calloc(&cfg->arena, (n + 1) * sizeof(*cfg->upstreams));
	cfg->route_scripts = arena_calloc(&cfg->arena, (n + 1) * sizeof(char *));
	if (!cfg->listeners || !cfg->plugins || !cfg->routes || !cfg->route_scripts ||
	    !cfg->upstreams) {
		errf(e, cfg->file, 0, "out of memory");
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
			v = to_tree(L, -1, b, 1, kind);
		lua_getfield(L, -4, "name");

		if (!strcmp(kind, "listen") && v) {
			struct listen_conf *l = &cfg->listeners[nl++];

			check(e, v, listen_spec, "listen: ");
			l->file = cfg->file;
			l->line = b->line;
			l->address = str_or(v, "address", "127.0.0.1");
			l->port = (int)num_or(v, "port", 0);
			l->backlog = (int)num_or(v, "backlog", 511);
			l->http2 = 1;
			conf_bool(v, "http2", &l->http2);
			if (conf_get(v, "tls"))
				read_tls(e, l, conf_get(v, "tls"));
			for (unsigned j = 0; j < l->ncerts; j++) {
				if (l->certs[j].cert && !file_readable(l->certs[j].cert))
					errf(e, cfg->file, l->line, "listen.tls: cannot read certificate %s: %s",
					     l->certs[j].cert, strerror(errno));
				if (l->certs[j].key && !file_readable(l->certs[j].key))
					errf(e, cfg->file, l->line, "listen.tls: cannot read key %s: %s",
					     l->certs[j].key, strerror(errno));
			}
			for (unsigned j = 0; j + 1 < nl; j++)
				if (cfg->listeners[j].port == l->port &&
				    !strcmp(cfg->listeners[j].address, l->address))
					errf(e, cfg->file, l->line, "listen: %s:%d is already declared at line %d",
					     l->address, l->port, cfg->listeners[j].line);
		} else if (!strcmp(kind, "routes") && v) {
			cfg->route_scripts[ns++] = v->u.s.ptr;
			if (access(v->u.s.ptr, R_OK) != 0)
				errf(e, cfg->file, b->line, "routes: cannot read %s: %s", v->u.s.ptr,
				     strerror(errno));
		} else if (!strcmp(kind, "route") && v) {
			read_route(e, &cfg->routes[nr++], v);
		} else if (!strcmp(kind, "plugin")) {
			struct plugin_conf *p = &cfg->plugins[np];

			p->name = arena_strdup(&cfg->arena, lua_tostring(L, -1));
			p->line = b->line;
			if (v && v->type != PT_CONF_TABLE)
				v = NULL;
			if (!plugin_name_ok(p->name)) {
				errf(e, cfg->file, b->line, "plugin \"%s\": names are lower-case letters, "
				     "digits, '_' and '-'", p->name);
			} else if (config_plugin(cfg, p->name)) {
				errf(e, cfg->file, b->line, "plugin \"%s\" is configured twice", p->name);
			} else {
				p->opts = plugin_opts(&cfg->arena, v, p, e);
				np++;
				cfg->nplugins = np;
			}
		} else if (!strcmp(kind, "upstream")) {
			read_upstream(e, cfg, lua_tostring(L, -1), b->line, v);
		}
		lua_pop(L, 5);
	}
	cfg->nlisteners = nl;
	cfg->nplugins = np;
	cfg->nroutes = nr;
	cfg->nroute_scripts = ns;
	if (nl == 0)
		errf(e, cfg->file, 0, "no listener: add listen { address = \"127.0.0.1\", port = 8080 }");
}

/* Reads the top-level settings at the top of the stack (settings table). */
static void read_settings(lua_State *L, struct config *cfg, struct build *b)
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
	qsort(root->u.t.keys, nkeys, sizeof(char *), keycmp);
	for (i = 0; i < nkeys; i++) {
		lua_getfield(L, lines, root->u.t.keys[i]);
		b->line = (int)lua_tointeger(L, -1);
		lua_getfield(L, settings, root->u.t.keys[i]);
		root->u.t.vals[i] = to_tree(L, -1, b, 1, root->u.t.keys[i]);
		lua_pop(L, 2);
		if (!root->u.t.vals[i]) {
			root->u.t.nkeys = i;
			return;
		}
	}
	cfg->root = root;
	check(b->e, root, top_spec, "");

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = (int)num_or(root, "workers", ncpu > 0 ? (double)ncpu : 1);
	cfg->plugins_dir = str_or(root, "plugins_dir", PT_PLUGIN_DIR);
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
	cfg->log_level = PT_LOG_INFO;
	const char *lvl = str_or(root, "log.level", NULL);

	if (lvl && (cfg->log_level = log_level_parse(lvl)) < 0) {
		const pt_conf *lc = conf_get(root, "log.level");

		errf(b->e, cfg->file, lc ? lc->line : 0,
		     "log.level must be \"error\", \"warn\", \"info\" or \"debug\", not \"%s\"", lvl);
		cfg->log_level = PT_LOG_INFO;
	}
	read_http(&cfg->http, conf_get(root, "http"));
	read_lua(b->e, cfg, conf_get(root, "lua"));
}

const pt_conf *conf_from_lua(struct lua_State *L, int idx, struct arena *a, const char *file,
                             int line, char *err, size_t errlen)
{
	struct errbuf e = { err, errlen, 0, 0 };
	struct build b = { a, &e, file, line, 1 };
	const pt_conf *c;

	err[0] = '\0';
	c = to_tree(L, idx, &b, 1, "options");
	return e.count ? NULL : c;
}

struct config *config_load(const char *file, char *err, size_t errlen)
{
	struct errbuf e = { err, errlen, 0, 0 };
	struct lua_mem mem = { .limit = CONF_MAX_MEMORY };
	struct config *cfg;
	struct build b;
	lua_State *L;

	err[0] = '\0';
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		snprintf(err, errlen, "%s: out of memory", file);
		return NULL;
	}
	arena_init(&cfg->arena, 16384);
	cfg->file = arena_strdup(&cfg->arena, file);
	L = lua_newstate(lua_mem_alloc, &mem);
	if (!L || !cfg->file) {
		snprintf(err, errlen, "%s: out of memory", file);
		config_free(cfg);
		return NULL;
	}
	b.a = &cfg->arena;
	b.e = &e;
	b.file = cfg->file;
	b.line = 0;
	b.skip_functions = 0;
	if (eval_file(L, file, &e) == 0) {
		lua_getfield(L, LUA_REGISTRYINDEX, K_SETTINGS);
		lua_getfield(L, LUA_REGISTRYINDEX, K_LINES);
		read_settings(L, cfg, &b);
		lua_pop(L, 2);
		lua_getfield(L, LUA_REGISTRYINDEX, K_DIRECTIVES);
		read_directives(L, cfg, &b);
		lua_pop(L, 1);
	}
	lua_close(L);
	lua_mem_release(&mem);
	if (e.count) {
		if (e.count > 20 && e.len + 40 < e.cap)
			snprintf(err + e.len, e.cap - e.len, "\n%s: (%d more errors)", file, e.count - 20);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	arena_close(&cfg->arena);
	free(cfg);
}

const struct plugin_conf *config_plugin(const struct config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->nplugins; i++)
		if (!strcmp(cfg->plugins[i].name, name))
			return &cfg->plugins[i];
	return NULL;
}
