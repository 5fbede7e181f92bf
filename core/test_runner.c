/*
 * test_runner.c - `portico test`: see test_runner.h and doc/testing.md.
 *
 * The daemon starts as it would for real (the config, the plugins, the
 * route scripts, the workers), on a loopback port of its own; the tests
 * run in a plain Lua state on the main thread and send real HTTP requests
 * to it with libevent's client, so what they test is what production runs:
 * filters, plugins, the Lua sandbox and its budget. The upstreams answer
 * from the tests' stubs (`stub.upstream(name, fn)`), served by the runner
 * on loopback from the same event loop that waits for the answer, so a
 * stub runs while its test waits in request().
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <sys/queue.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "test_runner.h"
#include "arena.h"
#include "conf.h"
#include "log.h"
#include "lua/lua_json.h"

#define MAX_STUBS 64
#define MAX_FILES 512
#define REQUEST_TIMEOUT 10   /* seconds */

struct stub {
	const char *name;            /* the upstream's (config arena) */
	struct evhttp *http;
	int fn_ref;                  /* LUA_NOREF: no stub: 502 */
};

static struct event_base *tbase;
static struct stub stubs[MAX_STUBS];
static unsigned nstubs;
static int port;
static char var_dir[512];
static lua_State *TL;

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), p = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		p = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return p;
}

/* ---- the stubs ------------------------------------------------------------------ */

static void stub_answer(struct evhttp_request *req, void *arg)
{
	struct stub *s = arg;
	lua_State *L = TL;
	struct evbuffer *out = evbuffer_new();
	int top, status = 502;

	if (!out) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	if (!L || s->fn_ref == LUA_NOREF) {
		evbuffer_add_printf(out, "no stub for upstream \"%s\": stub.upstream(\"%s\", fn)\n",
		                    s->name, s->name);
		evhttp_send_reply(req, 502, "Bad Gateway", out);
		evbuffer_free(out);
		return;
	}
	top = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->fn_ref);
	/* req: method, path (with query), headers (lower-case), body */
	lua_createtable(L, 0, 4);
	{
		static const char *const names[] = { "GET", "POST", "HEAD", "PUT", "DELETE",
		                                     "OPTIONS", "TRACE", "CONNECT", "PATCH" };
		enum evhttp_cmd_type c = evhttp_request_get_command(req);
		struct evkeyvalq *h = evhttp_request_get_input_headers(req);
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		struct evkeyval *kv;
		int i = 0;

		while (i < 9 && (1 << i) != (int)c)
			i++;
		lua_pushstring(L, i < 9 ? names[i] : "?");
		lua_setfield(L, -2, "method");
		lua_pushstring(L, evhttp_request_get_uri(req));
		lua_setfield(L, -2, "path");
		lua_newtable(L);
		TAILQ_FOREACH(kv, h, next) {
			char low[256];
			size_t k;

			for (k = 0; kv->key[k] && k + 1 < sizeof(low); k++)
				low[k] = (char)tolower((unsigned char)kv->key[k]);
			low[k] = '\0';
			lua_pushstring(L, kv->value);
			lua_setfield(L, -2, low);
		}
		lua_setfield(L, -2, "headers");
		lua_pushlstring(L, (const char *)evbuffer_pullup(in, (ev_ssize_t)n), n);
		lua_setfield(L, -2, "body");
	}
	/* fn(req) -> status, body (string or table: JSON), headers */
	if (lua_pcall(L, 1, 3, 0) != LUA_OK) {
		evbuffer_add_printf(out, "stub for \"%s\" failed: %s\n", s->name,
		                    lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
		fprintf(stderr, "portico test: stub for upstream \"%s\" failed: %s\n", s->name,
		        lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
	} else {
		struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

		status = lua_isinteger(L, top + 1) ? (int)lua_tointeger(L, top + 1) : 200;
		if (status < 100 || status > 599)
			status = 500;
		if (lua_istable(L, top + 2)) {
			char err[200];
			size_t len;
			char *j = lua_json_encode_value(L, top + 2, &len, err, sizeof(err));

			if (j) {
				evbuffer_add(out, j, len);
				evhttp_add_header(oh, "Content-Type", "application/json");
				free(j);
			}
		} else if (lua_type(L, top + 2) == LUA_TSTRING) {
			size_t len;
			const char *b = lua_tolstring(L, top + 2, &len);

			evbuffer_add(out, b, len);
		}
		if (lua_istable(L, top + 3)) {
			lua_pushnil(L);
			while (lua_next(L, top + 3)) {
				if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
					evhttp_remove_header(oh, lua_tostring(L, -2));
					evhttp_add_header(oh, lua_tostring(L, -2), lua_tostring(L, -1));
				}
				lua_pop(L, 1);
			}
		}
	}
	lua_settop(L, top);
	evhttp_send_reply(req, status, "Stub", out);
	evbuffer_free(out);
}

int test_runner_prepare(struct config *cfg, struct event_base *base, char *err, size_t errlen)
{
	struct listen_conf *l;

	tbase = base;
	if ((port = free_port()) < 0 || !(l = arena_alloc(&cfg->arena, sizeof(*l)))) {
		snprintf(err, errlen, "test: no free loopback port");
		return -1;
	}
	memset(l, 0, sizeof(*l));
	l->address = "127.0.0.1";
	l->port = port;
	l->backlog = 128;
	l->http2 = 1;
	l->file = cfg->file;
	cfg->listeners = l;
	cfg->nlisteners = 1;
	cfg->admin.port = 0;
	cfg->pid_file = NULL;
	cfg->access_log = 0;
	cfg->log_file = NULL;
	if (cfg->log_level > PT_LOG_WARN)
		cfg->log_level = PT_LOG_WARN;
	{
		const char *tmp = getenv("TMPDIR");

		if (!tmp || tmp[0] != '/' || strlen(tmp) > sizeof(var_dir) - 32)
			tmp = "/tmp";
		snprintf(var_dir, sizeof(var_dir), "%s/portico-test.XXXXXX", tmp);
	}
	if (!mkdtemp(var_dir) || !(cfg->var_dir = arena_strdup(&cfg->arena, var_dir))) {
		snprintf(err, errlen, "test: cannot make a temporary var_dir: %s", strerror(errno));
		var_dir[0] = '\0';
		return -1;
	}
	for (unsigned i = 0; i < cfg->nupstreams && nstubs < MAX_STUBS; i++) {
		struct upstream_conf *u = &cfg->upstreams[i];
		struct stub *s = &stubs[nstubs];
		struct evhttp_bound_socket *bs;
		struct sockaddr_in a;
		socklen_t alen = sizeof(a);
		char addr[32];
		const char **servers;

		if (u->protocol == UP_PROTO_H2C || u->protocol == UP_PROTO_H2)
			continue;   /* HTTP/2 upstreams (gRPC) stay as configured */
		if (!(s->http = evhttp_new(base)) ||
		    !(bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0)) ||
		    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&a, &alen) != 0 ||
		    !(servers = arena_alloc(&cfg->arena, sizeof(*servers)))) {
			snprintf(err, errlen, "test: cannot start the stub of upstream \"%s\"", u->name);
			return -1;
		}
		s->name = u->name;
		s->fn_ref = LUA_NOREF;
		evhttp_set_gencb(s->http, stub_answer, s);
		evhttp_set_timeout(s->http, REQUEST_TIMEOUT);
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(a.sin_port));
		servers[0] = arena_strdup(&cfg->arena, addr);
		u->servers = servers;
		u->nservers = 1;
		u->protocol = UP_PROTO_HTTP;
		u->health.enabled = 0;
		u->retries = 0;
		nstubs++;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void test_runner_cleanup(void)
{
	for (unsigned i = 0; i < nstubs; i++)
		if (stubs[i].http)
			evhttp_free(stubs[i].http);
	nstubs = 0;
	if (var_dir[0])
		nftw(var_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	var_dir[0] = '\0';
}

/* ---- the tests' Lua ---------------------------------------------------------------- */

/* stub.upstream(name, fn) [-2, +0, e] */
static int l_stub(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);

	luaL_checktype(L, 2, LUA_TFUNCTION);
	for (unsigned i = 0; i < nstubs; i++)
		if (!strcmp(stubs[i].name, name)) {
			luaL_unref(L, LUA_REGISTRYINDEX, stubs[i].fn_ref);
			lua_pushvalue(L, 2);
			stubs[i].fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
			return 0;
		}
	return luaL_error(L, "stub.upstream: the config has no HTTP/1.1 upstream named \"%s\"",
	                  name);
}

/* stub.reset(): every upstream unstubbed (502). */
static int l_stub_reset(lua_State *L)
{
	for (unsigned i = 0; i < nstubs; i++) {
		luaL_unref(L, LUA_REGISTRYINDEX, stubs[i].fn_ref);
		stubs[i].fn_ref = LUA_NOREF;
	}
	return 0;
}

struct answer {
	int done, status;
	struct evhttp_request *req;
	lua_State *L;
	int res;                       /* stack index of the result table */
};

static void on_answer(struct evhttp_request *req, void *arg)
{
	struct answer *a = arg;
	lua_State *L = a->L;

	a->done = 1;
	if (!req || !evhttp_request_get_response_code(req)) {
		a->status = 0;
		return;
	}
	a->status = evhttp_request_get_response_code(req);
	{
		struct evkeyvalq *h = evhttp_request_get_input_headers(req);
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		struct evkeyval *kv;

		lua_pushinteger(L, a->status);
		lua_setfield(L, a->res, "status");
		lua_newtable(L);
		TAILQ_FOREACH(kv, h, next) {
			char low[256];
			size_t k;

			for (k = 0; kv->key[k] && k + 1 < sizeof(low); k++)
				low[k] = (char)tolower((unsigned char)kv->key[k]);
			low[k] = '\0';
			lua_pushstring(L, kv->value);
			lua_setfield(L, -2, low);
		}
		lua_setfield(L, a->res, "headers");
		lua_pushlstring(L, (const char *)evbuffer_pullup(in, (ev_ssize_t)n), n);
		lua_setfield(L, a->res, "body");
	}
}

/*
 * request(method, path[, { headers = {...}, body = "..." | table (JSON) }])
 * -> { status, headers, body, json } [-3, +1, e]
 */
static int l_request(lua_State *L)
{
	static const struct { const char *name; enum evhttp_cmd_type t; } cmds[] = {
		{ "GET", EVHTTP_REQ_GET }, { "POST", EVHTTP_REQ_POST }, { "PUT", EVHTTP_REQ_PUT },
		{ "DELETE", EVHTTP_REQ_DELETE }, { "PATCH", EVHTTP_REQ_PATCH },
		{ "HEAD", EVHTTP_REQ_HEAD }, { "OPTIONS", EVHTTP_REQ_OPTIONS },
	};
	const char *method = luaL_checkstring(L, 1), *path = luaL_checkstring(L, 2);
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	struct answer a = { 0 };
	struct evkeyvalq *oh;
	int have_ct = 0;
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcasecmp(method, cmds[i].name))
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0]))
		return luaL_error(L, "request: unknown method \"%s\"", method);
	if (path[0] != '/')
		return luaL_error(L, "request: the path must start with '/', not \"%s\"", path);
	lua_settop(L, 3);
	lua_newtable(L);
	a.L = L;
	a.res = 4;
	if (!(conn = evhttp_connection_base_new(tbase, NULL, "127.0.0.1", (unsigned short)port)))
		return luaL_error(L, "request: out of memory");
	evhttp_connection_set_timeout(conn, REQUEST_TIMEOUT);
	if (!(req = evhttp_request_new(on_answer, &a))) {
		evhttp_connection_free(conn);
		return luaL_error(L, "request: out of memory");
	}
	oh = evhttp_request_get_output_headers(req);
	evhttp_add_header(oh, "Host", "portico.test");
	evhttp_add_header(oh, "Connection", "close");
	if (lua_istable(L, 3)) {
		if (lua_getfield(L, 3, "headers") == LUA_TTABLE) {
			lua_pushnil(L);
			while (lua_next(L, -2)) {
				if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1)) {
					const char *k = lua_tostring(L, -2);

					have_ct |= !strcasecmp(k, "content-type");
					if (!strcasecmp(k, "host"))
						evhttp_remove_header(oh, "Host");
					evhttp_add_header(oh, k, lua_tostring(L, -1));
				}
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
		lua_getfield(L, 3, "body");
		if (lua_istable(L, -1)) {
			char err[200];
			size_t len;
			char *j = lua_json_encode_value(L, lua_gettop(L), &len, err, sizeof(err));

			if (!j) {
				evhttp_request_free(req);
				evhttp_connection_free(conn);
				return luaL_error(L, "request: body: %s", err);
			}
			evbuffer_add(evhttp_request_get_output_buffer(req), j, len);
			if (!have_ct)
				evhttp_add_header(oh, "Content-Type", "application/json");
			free(j);
		} else if (lua_type(L, -1) == LUA_TSTRING) {
			size_t len;
			const char *b = lua_tolstring(L, -1, &len);

			evbuffer_add(evhttp_request_get_output_buffer(req), b, len);
		}
		lua_pop(L, 1);
	}
	if (evhttp_make_request(conn, req, cmds[i].t, path) != 0) {
		evhttp_connection_free(conn);
		return luaL_error(L, "request: cannot send");
	}
	while (!a.done && event_base_loop(tbase, EVLOOP_ONCE) == 0)
		;
	evhttp_connection_free(conn);
	if (!a.status)
		return luaL_error(L, "request: %s %s: no answer (connection failed or timed out "
		                  "after %d s)", method, path, REQUEST_TIMEOUT);
	return 1;
}

/* describe/it/expect, and the request's lazy `json`: the harness in Lua. */
static const char harness[] =
	"local request_c, json, out = ...\n"
	"local results = { passed = 0, failed = 0, n = 0, failures = {} }\n"
	"local names, befores = {}, {}\n"
	"local function fmt(v) if type(v) == 'string' then return string.format('%q', v) end\n"
	"  if type(v) == 'table' then local ok, s = pcall(json.encode, v) if ok then return s end end\n"
	"  return tostring(v) end\n"
	"local function deep(a, b) if a == b then return true end\n"
	"  if type(a) ~= 'table' or type(b) ~= 'table' then return false end\n"
	"  for k, v in pairs(a) do if not deep(v, b[k]) then return false end end\n"
	"  for k in pairs(b) do if a[k] == nil then return false end end\n"
	"  return true end\n"
	"function request(method, path, opts)\n"
	"  local r = request_c(method, path, opts)\n"
	"  return setmetatable(r, { __index = function(t, k)\n"
	"    if k == 'json' then local ok, v = pcall(json.decode, t.body)\n"
	"      rawset(t, 'json', ok and v or nil) return ok and v or nil end end })\n"
	"end\n"
	"function expect(actual)\n"
	"  local e = {}\n"
	"  local function check(ok, what, expected)\n"
	"    if not ok then error(string.format('expected %s %s%s', fmt(actual), what,\n"
	"      expected ~= nil and (' ' .. fmt(expected)) or ''), 3) end end\n"
	"  function e.to_be(x) check(actual == x, 'to be', x) end\n"
	"  function e.to_equal(x) check(deep(actual, x), 'to equal', x) end\n"
	"  function e.to_match(p) check(type(actual) == 'string' and actual:find(p) ~= nil, 'to match', p) end\n"
	"  function e.to_contain(s) check(type(actual) == 'string' and actual:find(s, 1, true) ~= nil, 'to contain', s) end\n"
	"  function e.to_be_nil() check(actual == nil, 'to be nil') end\n"
	"  function e.to_be_truthy() check(actual and true, 'to be truthy') end\n"
	"  function e.to_be_greater_than(x) check(type(actual) == 'number' and actual > x, 'to be greater than', x) end\n"
	"  function e.to_be_less_than(x) check(type(actual) == 'number' and actual < x, 'to be less than', x) end\n"
	"  return e\n"
	"end\n"
	"function describe(name, fn)\n"
	"  names[#names + 1] = tostring(name)\n"
	"  befores[#names] = nil\n"
	"  local ok, err = pcall(fn)\n"
	"  if not ok then results.n = results.n + 1; results.failed = results.failed + 1\n"
	"    out(false, results.n, table.concat(names, ' '), 'describe failed: ' .. tostring(err)) end\n"
	"  befores[#names] = nil\n"
	"  names[#names] = nil\n"
	"end\n"
	"function before_each(fn) befores[#names] = fn end\n"
	"function it(name, fn)\n"
	"  local full = table.concat(names, ' ') .. (#names > 0 and ' ' or '') .. tostring(name)\n"
	"  results.n = results.n + 1\n"
	"  local ok, err = pcall(function()\n"
	"    for i = 1, #names do if befores[i] then befores[i]() end end\n"
	"    fn() end)\n"
	"  if ok then results.passed = results.passed + 1 else results.failed = results.failed + 1 end\n"
	"  out(ok, results.n, full, not ok and tostring(err) or nil)\n"
	"end\n"
	"return results\n";

static int tap;
static lua_Integer tapn;        /* tests so far, over every file: TAP's numbers */

/* out(ok, n, name, err): N is the file's count; TAP numbers the whole run. [-4, +0, -] */
static int l_out(lua_State *L)
{
	int ok = lua_toboolean(L, 1);
	lua_Integer n = ++tapn;
	const char *name = luaL_optstring(L, 3, ""), *err = luaL_optstring(L, 4, NULL);

	if (tap)
		printf("%s %lld - %s\n", ok ? "ok" : "not ok", (long long)n, name);
	else if (!ok)
		printf("FAIL %s\n", name);
	if (!ok && err)
		printf("%s%s\n", tap ? "# " : "     ", err);
	fflush(stdout);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect(const char *dir, char **files, unsigned *n, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d || depth > 8) {
		if (d)
			closedir(d);
		return;
	}
	while ((e = readdir(d)) && *n < MAX_FILES) {
		char path[4096];
		size_t len = strlen(e->d_name);
		struct stat st;

		if (e->d_name[0] == '.' || !strcmp(e->d_name, "node_modules"))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
		    stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			collect(path, files, n, depth + 1);
		else if (len > 9 && !strcmp(e->d_name + len - 9, "_test.lua"))
			files[(*n)++] = strdup(path);
	}
	closedir(d);
}

int test_runner_run(const char *dir, int as_tap)
{
	char *files[MAX_FILES];
	unsigned nfiles = 0;
	lua_Integer passed = 0, failed = 0;
	lua_State *L;
	struct stat st;

	tap = as_tap;
	tapn = 0;
	if (!dir)
		dir = ".";
	if (stat(dir, &st) != 0) {
		fprintf(stderr, "portico test: %s: %s\n", dir, strerror(errno));
		return 2;
	}
	if (S_ISDIR(st.st_mode))
		collect(dir, files, &nfiles, 0);
	else
		files[nfiles++] = strdup(dir);
	if (!nfiles) {
		fprintf(stderr, "portico test: no *_test.lua file under %s\n", dir);
		printf("0 passed, 0 failed\n");
		return 2;
	}
	qsort(files, nfiles, sizeof(files[0]), by_name);
	/* the workers listen once they run: wait for the port (5 s at most) */
	for (int tries = 0; tries < 100; tries++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			break;
		usleep(50000);
	}
	if (!(TL = L = luaL_newstate())) {
		fprintf(stderr, "portico test: out of memory\n");
		return 1;
	}
	luaL_openlibs(L);
	luaL_requiref(L, "json", lua_json_open, 1);
	lua_pop(L, 1);
	lua_newtable(L);
	lua_pushcfunction(L, l_stub);
	lua_setfield(L, -2, "upstream");
	lua_pushcfunction(L, l_stub_reset);
	lua_setfield(L, -2, "reset");
	lua_setglobal(L, "stub");
	if (tap)
		printf("TAP version 13\n");
	for (unsigned i = 0; i < nfiles; i++) {
		int st2;

		l_stub_reset(L);
		if (luaL_loadbuffer(L, harness, sizeof(harness) - 1, "=harness") != LUA_OK) {
			fprintf(stderr, "portico test: %s\n", lua_tostring(L, -1));
			break;
		}
		lua_pushcfunction(L, l_request);
		lua_getglobal(L, "json");
		lua_pushcfunction(L, l_out);
		lua_call(L, 3, 1);   /* the results table of this file */
		if (tap)
			printf("# %s\n", files[i]);
		st2 = luaL_loadfile(L, files[i]);
		if (st2 == LUA_OK)
			st2 = lua_pcall(L, 0, 0, 0);
		lua_getfield(L, -2 + (st2 == LUA_OK), "passed");
		lua_getfield(L, -3 + (st2 == LUA_OK), "failed");
		passed += lua_tointeger(L, -2);
		failed += lua_tointeger(L, -1);
		lua_pop(L, 2);
		if (st2 != LUA_OK) {
			printf("%s %s: %s\n", tap ? "not ok - file" : "FAIL", files[i],
			       lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
			failed++;
			lua_pop(L, 1);
		}
		lua_settop(L, 0);
		free(files[i]);
	}
	lua_close(L);
	TL = NULL;
	if (tap)
		printf("1..%lld\n", (long long)(passed + failed));
	printf("%lld passed, %lld failed\n", (long long)passed, (long long)failed);
	fflush(stdout);
	return failed ? 1 : 0;
}
