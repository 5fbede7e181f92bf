/*
 * lua_proxy.c - `upstream(name)` and `proxy(upstream, opts)` for route
 * scripts: a route handler that forwards the request to a named upstream
 * (upstream/pool.c: balancing, passive health, retries, timeouts) and
 * answers with what it got, or with a JSON 502/503/504.
 *
 *   local users = upstream "users"
 *   route.get("/v1/users/:id", proxy(users, { strip_prefix = "/v1" }))
 *
 * Bodies are buffered both ways here (the request body up to
 * http.max_body_size, the response up to the client's 8 MiB); streaming
 * them comes with the gateway.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "http/exchange.h"
#include "log.h"
#include "lua_priv.h"
#include "upstream/pool.h"
#include "worker.h"

#define MAX_FWD_HEADERS 128

static const char *const hop_by_hop[] = {
	"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
	"upgrade", "content-length", "host", NULL,
};

static int is_hop(pt_str_t n)
{
	for (int i = 0; hop_by_hop[i]; i++)
		if (n.len == strlen(hop_by_hop[i]) && !memcmp(n.ptr, hop_by_hop[i], n.len))
			return 1;
	return 0;
}

static void check_upstream(lua_State *L, const char *name)
{
	struct lstate *ls = lstate_of(L);

	if (ls->lg && ls->lg->cfg && !config_upstream(ls->lg->cfg, name))
		luaL_error(L, "upstream '%s' is not declared: add upstream \"%s\" { servers = "
		           "{ \"host:port\" } } to the config", name, name);
}

/* upstream(name) -> name, after checking it is declared. */
static int l_upstream(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);

	check_upstream(L, name);
	lua_settop(L, 1);
	return 1;
}

struct pwait {
	pt_wait *wait;
	const struct http_client_res *res;
	const char *upstream;
	char server[128];
};

static int push_answer(lua_State *L, void *ud)
{
	struct pwait *p = ud;
	const struct http_client_res *res = p->res;
	char body[512];

	if (res->status < 0) {
		int st = res->status == PT_ETIMEDOUT ? 504 : res->status == PT_EIO &&
		         res->error && strstr(res->error, "no upstream server") ? 503 : 502;
		int n = snprintf(body, sizeof(body), "{\"error\":{\"status\":%d,\"message\":\"%s\","
		                 "\"upstream\":\"%s\"}}\n", st, st == 504 ? "upstream timed out" :
		                 st == 503 ? "no upstream server is available" :
		                 "upstream failed", p->upstream);

		lua_pushinteger(L, st);
		lua_pushlstring(L, body, (size_t)n);
		lua_createtable(L, 0, 1);
		lua_pushliteral(L, "application/json");
		lua_setfield(L, -2, "content-type");
		return 3;
	}
	lua_pushinteger(L, res->status);
	lua_pushlstring(L, res->body.ptr ? res->body.ptr : "", res->body.len);
	lua_createtable(L, 0, (int)res->num_headers);
	for (unsigned i = 0; i < res->num_headers; i++) {
		const pt_str_t *n = &res->headers[2 * i], *v = &res->headers[2 * i + 1];

		if (is_hop(*n))
			continue;
		lua_pushlstring(L, n->ptr, n->len);
		lua_pushlstring(L, v->ptr, v->len);
		lua_rawset(L, -3);
	}
	return 3;
}

static void proxied(const struct http_client_res *res, const char *server, void *ud)
{
	struct pwait *p = ud;

	p->res = res;
	snprintf(p->server, sizeof(p->server), "%s", server ? server : "-");
	if (res->status < 0)
		log_warn("upstream", "%s (%s): %s", p->upstream, p->server,
		         res->error ? res->error : "failed");
	lua_wait_wake(p->wait, push_answer, p);
	free(p);
}

/* Appends header NAME: VALUE (both copied into X's pool). */
static int add(pt_exchange *x, pt_str_t *h, unsigned *n, pt_str_t name, const char *val,
               size_t vlen)
{
	char *v = xapi_alloc(x, vlen + 1);

	if (!v || *n >= MAX_FWD_HEADERS)
		return -1;
	memcpy(v, val, vlen);
	h[2 * *n] = name;
	h[2 * *n + 1] = (pt_str_t){ v, vlen };
	(*n)++;
	return 0;
}

/* The handler proxy() returns: (req, res) -> status, body, headers. Yields. */
static int proxy_handler(lua_State *L)
{
	pt_exchange *x = lua_req_exchange(L);
	const char *name = lua_tostring(L, lua_upvalueindex(1));
	struct upstream_req ur = { 0 };
	pt_str_t *h = xapi_alloc(x, 2 * MAX_FWD_HEADERS * sizeof(pt_str_t));
	unsigned n = 0;
	pt_str_t path = x->path, xff = { NULL, 0 }, v;
	const char *colon;
	char *full, tp[64];
	struct pwait *p;
	int rc;

	if (!h)
		return luaL_error(L, "proxy: out of memory");
	/* strip_prefix: "/v1" turns /v1/users into /users */
	if (lua_getfield(L, lua_upvalueindex(2), "strip_prefix") == LUA_TSTRING) {
		size_t pl;
		const char *pre = lua_tolstring(L, -1, &pl);

		if (path.len >= pl && !memcmp(path.ptr, pre, pl)) {
			path.ptr += pl;
			path.len -= pl;
		}
	}
	lua_pop(L, 1);
	full = xapi_alloc(x, path.len + x->query.len + 3);
	if (!full)
		return luaL_error(L, "proxy: out of memory");
	ur.path.ptr = full;
	if (!path.len || path.ptr[0] != '/')
		full[ur.path.len++] = '/';
	memcpy(full + ur.path.len, path.ptr, path.len);
	ur.path.len += path.len;
	if (x->query.len) {
		full[ur.path.len++] = '?';
		memcpy(full + ur.path.len, x->query.ptr, x->query.len);
		ur.path.len += x->query.len;
	}
	for (unsigned i = 0; i < x->nhdrs && n < MAX_FWD_HEADERS - 8; i++) {
		if (is_hop(x->hdrs[i].name))
			continue;
		if (x->hdrs[i].name.len == 15 && !memcmp(x->hdrs[i].name.ptr, "x-forwarded-for", 15)) {
			xff = x->hdrs[i].value;
			continue;
		}
		h[2 * n] = x->hdrs[i].name;
		h[2 * n + 1] = x->hdrs[i].value;
		n++;
	}
	/* X-Forwarded-For: what came, then the client's address without its port */
	colon = memrchr(x->remote.ptr, ':', x->remote.len);
	{
		size_t iplen = colon ? (size_t)(colon - x->remote.ptr) : x->remote.len;
		char *buf = xapi_alloc(x, xff.len + iplen + 3);
		size_t off = 0;

		if (!buf)
			return luaL_error(L, "proxy: out of memory");
		if (xff.len) {
			memcpy(buf, xff.ptr, xff.len);
			off = xff.len;
			memcpy(buf + off, ", ", 2);
			off += 2;
		}
		memcpy(buf + off, x->remote.ptr, iplen);
		add(x, h, &n, PT_STR("x-forwarded-for"), buf, off + iplen);
	}
	add(x, h, &n, PT_STR("x-forwarded-proto"), x->tls ? "https" : "http", x->tls ? 5 : 4);
	add(x, h, &n, PT_STR("x-forwarded-host"), x->host.ptr ? x->host.ptr : "", x->host.len);
	v = xapi_request_id(x);
	add(x, h, &n, PT_STR("x-request-id"), v.ptr, v.len);
	if (xapi_header(x, PT_STR("traceparent"), 0, &v) != 0) {
		/* start a W3C trace for the hop when the client sent none */
		unsigned long long a = (unsigned long long)random() << 31 ^ (unsigned long long)random();
		unsigned long long b = (unsigned long long)random() << 31 ^ (unsigned long long)random();
		unsigned long long c = (unsigned long long)random() << 31 ^ (unsigned long long)random();
		int len = snprintf(tp, sizeof(tp), "00-%016llx%016llx-%016llx-01", a, b, c | 1);

		add(x, h, &n, PT_STR("traceparent"), tp, (size_t)len);
	}
	/* opts.headers: set or add */
	if (lua_getfield(L, lua_upvalueindex(2), "headers") == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
				size_t kl, vl;
				const char *k = lua_tolstring(L, -2, &kl), *val = lua_tolstring(L, -1, &vl);
				char *kc = xapi_alloc(x, kl + 1);

				if (kc) {
					memcpy(kc, k, kl);
					add(x, h, &n, (pt_str_t){ kc, kl }, val, vl);
				}
			}
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	ur.method = x->method_name;
	ur.headers = h;
	ur.num_headers = n;
	ur.body = (pt_str_t){ x->body, x->body_len };
	lua_getfield(L, lua_upvalueindex(2), "timeout");
	ur.timeout = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
	lua_pop(L, 1);
	p = calloc(1, sizeof(*p));
	if (!p)
		return luaL_error(L, "proxy: out of memory");
	p->upstream = name;   /* the upvalue outlives the call: the closure is the running function */
	p->wait = lua_wait_begin(L);
	rc = upstream_send(x->w, name, &ur, proxied, p);
	if (rc != 0) {
		lua_wait_cancel(p->wait);
		free(p);
		return luaL_error(L, "proxy: upstream '%s': %s", name, rc == PT_ENOENT ?
		                  "not declared in this generation" : "out of memory");
	}
	return lua_wait_yield(L);
}

/* proxy(upstream [, opts]) -> a route handler. */
static int l_proxy(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);

	check_upstream(L, name);
	if (lua_isnoneornil(L, 2)) {
		lua_settop(L, 1);
		lua_newtable(L);
	} else {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_settop(L, 2);
	}
	lua_pushcclosure(L, proxy_handler, 2);
	return 1;
}

void lua_proxy_open(lua_State *L)
{
	lua_register(L, "upstream", l_upstream);
	lua_register(L, "proxy", l_proxy);
}
