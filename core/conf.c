/*
 * conf.c - evaluate conf/portico.conf (Lua) and validate it in C.
 *
 * The file runs in an environment holding only the directives (listen,
 * routes, plugin, route) and env() / secret_file() (secret.h). Assignments land in a settings table through
 * __newindex, which records the line; directives record theirs too. The
 * result is copied into a pt_conf tree, checked against the schemas (with
 * "did you mean" for a misspelt key), and read into struct config: the
 * settings and directives by conf_sections.c, the upstream blocks by
 * conf_upstream.c. What these files share is in conf_priv.h.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "conf.h"
#include "conf_priv.h"
#include "lua_alloc.h"
#include "secret.h"

#define CONF_MAX_DEPTH 16
#define CONF_MAX_INSTRUCTIONS 10000000
#define CONF_MAX_MEMORY (64u << 20)

/* ---- building errors ---------------------------------------------------- */

void conf_errf(struct errbuf *e, const char *file, int line, const char *fmt, ...)
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

/* env("NAME"[, default]) and secret_file("path"): secret.h. */
static int conf_env(lua_State *L)
{
	return secret_lua_env(L);
}

static int conf_secret_file(lua_State *L)
{
	return secret_lua_file(L, lua_tostring(L, lua_upvalueindex(1)));
}

/* tonumber(v): v when a number, a numeric string as a number (integers stay
 * integers), else an error naming the value, so `workers =
 * tonumber(env("WORKERS"))` says what was wrong instead of giving nil. */
static int conf_tonumber(lua_State *L)
{
	size_t len;
	const char *s;

	luaL_checkany(L, 1);
	if (lua_type(L, 1) == LUA_TNUMBER) {
		lua_settop(L, 1);
		return 1;
	}
	s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
	if (s && len <= 64 && lua_stringtonumber(L, s) == len + 1)
		return 1;
	if (s) {
		char cut[80];

		snprintf(cut, sizeof(cut), "%.64s%s", s, len > 64 ? "..." : "");
		return luaL_error(L, "tonumber(\"%s\"): not a number", cut);
	}
	return luaL_error(L, "tonumber(%s): not a number", luaL_typename(L, 1));
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
	conf_errf(e, msg, 0, "%s", "");
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
		conf_errf(e, file, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (long)CONF_MAX_MEMORY / 4 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		conf_errf(e, file, 0, "cannot read (or larger than %u bytes)", CONF_MAX_MEMORY / 4);
		fclose(f);
		return -1;
	}
	text = malloc((size_t)n + 1);
	if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
		conf_errf(e, file, 0, "cannot read: %s", text ? strerror(errno) : "out of memory");
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
	static const char *const tables[] = { "listen", "route", "admin" };

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
	lua_pushcfunction(L, conf_env);
	lua_setfield(L, -2, "env");
	lua_pushcfunction(L, conf_tonumber);
	lua_setfield(L, -2, "tonumber");
	lua_pushstring(L, file);
	lua_pushcclosure(L, conf_secret_file, 1);
	lua_setfield(L, -2, "secret_file");
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

int conf_keycmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Copies the value at IDX; NULL on error (reported). [-0, +0, m] */
pt_conf *conf_to_tree(lua_State *L, int idx, struct build *b, int depth, const char *where)
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
		conf_errf(b->e, b->file, b->line, "%s: a %s cannot be a config value", where,
		          luaL_typename(L, idx));
		return NULL;
	}
	if (depth >= CONF_MAX_DEPTH) {
		conf_errf(b->e, b->file, b->line, "%s: tables nested deeper than %d", where,
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
			conf_errf(b->e, b->file, b->line, "%s: table keys must be names or 1..n", where);
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
		c->u.t.arr[i] = conf_to_tree(L, -1, b, depth + 1, where);
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
	qsort(c->u.t.keys, nkeys, sizeof(char *), conf_keycmp);
	for (i = 0; i < nkeys; i++) {
		lua_getfield(L, idx, c->u.t.keys[i]);
		c->u.t.vals[i] = conf_to_tree(L, -1, b, depth + 1, c->u.t.keys[i]);
		lua_pop(L, 1);
		if (!c->u.t.vals[i])
			return NULL;
	}
	return c;
}

/* ---- checking tables against their schemas ------------------------------ */

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
		conf_errf(e, where->file, where->line, "%s'%s' is not a known setting (did you mean '%s'?)",
		          ctx, key, best);
	else
		conf_errf(e, where->file, where->line, "%s'%s' is not a known setting", ctx, key);
}

/* Checks table C against SPEC; CTX prefixes messages ("listen: "). */
void conf_check(struct errbuf *e, const pt_conf *c, const struct spec *spec, const char *ctx)
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
			conf_errf(e, v->file, v->line, "%s'%s' must be a %s, not a %s", ctx, k,
			          conf_type_name(s->type), conf_type_name(v->type));
			continue;
		}
		if (s->type == PT_CONF_NUMBER) {
			if ((s->flags & S_INT) && v->u.n != floor(v->u.n))
				conf_errf(e, v->file, v->line, "%s'%s' must be a whole number", ctx, k);
			else if (v->u.n < s->min || v->u.n > s->max)
				conf_errf(e, v->file, v->line, "%s'%s' must be between %g and %g, not %g",
				          ctx, k, s->min, s->max, v->u.n);
		}
		if (s->type == PT_CONF_TABLE && s->sub) {
			snprintf(sub, sizeof(sub), "%s%s.", ctx, k);
			conf_check(e, v, s->sub, sub);
		}
	}
	if (conf_len(c) > 0 && spec != NULL)
		conf_errf(e, c->file, c->line, "%sunexpected list items (use name = value)", ctx);
	for (const struct spec *s = spec; s->key; s++)
		if ((s->flags & S_REQUIRED) && !conf_get(c, s->key))
			conf_errf(e, c->file, c->line, "%s'%s' is required", ctx, s->key);
}

/* The closest of NAMES to S for "did you mean", or NULL. */
const char *conf_closest(const char *s, const char *const *names)
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

/* ---- entry points ------------------------------------------------------- */

const pt_conf *conf_from_lua(struct lua_State *L, int idx, struct arena *a, const char *file,
                             int line, char *err, size_t errlen)
{
	struct errbuf e = { err, errlen, 0, 0 };
	struct build b = { a, &e, file, line, 1, NULL, 0 };
	const pt_conf *c;

	err[0] = '\0';
	c = conf_to_tree(L, idx, &b, 1, "options");
	return e.count ? NULL : c;
}

/* The recorded secrets, copied into CFG's arena. 0 or -1 (no memory). */
static int keep_secrets(struct config *cfg, const struct secret_rec *r)
{
	const char **v = arena_alloc(&cfg->arena, (r->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	for (unsigned i = 0; i < r->n; i++)
		if (!(v[i] = arena_strdup(&cfg->arena, r->v[i])))
			return -1;
	v[r->n] = NULL;
	cfg->secrets = v;
	cfg->secrets_overflow = r->overflow;
	return 0;
}

struct config *config_load(const char *file, char *err, size_t errlen)
{
	struct secret_rec rec = { .n = 0 };
	int rc;
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
	b.ptabs = NULL;
	b.nptabs = 0;
	secret_record_start(&rec);
	rc = eval_file(L, file, &e);
	secret_record_stop();
	if (rc == 0 && keep_secrets(cfg, &rec) != 0)
		conf_errf(&e, file, 0, "out of memory");
	secret_rec_clear(&rec);
	if (rc == 0) {
		lua_getfield(L, LUA_REGISTRYINDEX, K_SETTINGS);
		lua_getfield(L, LUA_REGISTRYINDEX, K_LINES);
		conf_read_settings(L, cfg, &b);
		lua_pop(L, 2);
		lua_getfield(L, LUA_REGISTRYINDEX, K_DIRECTIVES);
		conf_read_directives(L, cfg, &b);
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
