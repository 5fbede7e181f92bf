/*
 * client_start.c - starting a gRPC client call from Lua (client_lua.c has
 * the rest of the Lua side): the method in the contracts, the message
 * checked and framed, the options, the metadata, the deadline (with what
 * is left of a grpc.service handler's own), and ucall_start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <lua.h>
#include <lauxlib.h>

#include "client_priv.h"

#define CTX_MT "portico.grpc.ctx"        /* ctx.c's metatable */
#define MAX_MD 64                      /* metadata entries a call sends */
#define MAX_MD_BYTES ((size_t)64 << 10)

static const struct pt_api *A(void)
{
	return grpc_api;
}

static double now_unix(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

int gcl_md_reserved(pt_str_t n)
{
	static const char *const names[] = { "content-type", "te", "grpc-status", "grpc-message",
		"grpc-status-details-bin", "grpc-encoding", "grpc-accept-encoding", "grpc-timeout",
		"content-length", "user-agent", "connection", "host", NULL };

	if (n.len && n.ptr[0] == ':')
		return 1;
	for (int i = 0; names[i]; i++)
		if (strlen(names[i]) == n.len && !memcmp(names[i], n.ptr, n.len))
			return 1;
	return 0;
}

int gcl_md_is_bin(const char *p, size_t n)
{
	return n > 4 && !memcmp(p + n - 4, "-bin", 4);
}

/* ---- the server call a handler runs for ---------------------------------------------- */

/* ctx:cancelled() of the ctx at 1. */
static int ctx_cancelled_p(lua_State *L)
{
	lua_getfield(L, 1, "cancelled");
	lua_pushvalue(L, 1);
	lua_call(L, 1, 1);
	return 1;
}

int gcl_ctx_cancelled(struct gcl *c)
{
	lua_State *L = c->L;
	int r = 0;

	/* from a timer, outside any protected call: nothing here may raise */
	if (c->ctx_ref == LUA_NOREF || !lua_checkstack(L, 3))
		return 0;
	lua_pushcfunction(L, ctx_cancelled_p);
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->ctx_ref);
	if (lua_pcall(L, 1, 1, 0) == LUA_OK)
		r = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return r;
}

static int ctx_deadline_p(lua_State *L)
{
	lua_getfield(L, 1, "deadline");
	return 1;
}

/*
 * The ctx of the grpc.service handler L runs (the first or second argument
 * of its outermost Lua function: the core's C frames sit below it), or 0,
 * pushed. Its deadline in *DEADLINE (0: none; -1: the call has ended).
 */
static int find_ctx(lua_State *L, double *deadline)
{
	lua_Debug ar;
	int level = 0, found = 0;

	*deadline = 0;
	while (lua_getstack(L, level + 1, &ar))
		level++;
	for (; level > 0; level--)
		if (lua_getstack(L, level, &ar) && lua_getinfo(L, "S", &ar) && ar.what[0] == 'L')
			break;
	if (level <= 0)
		return 0;
	for (int n = 1; n <= 2 && !found; n++) {
		if (!lua_getlocal(L, &ar, n))
			break;
		if (luaL_testudata(L, -1, CTX_MT))
			found = lua_gettop(L);
		else
			lua_pop(L, 1);
	}
	if (!found)
		return 0;
	lua_pushcfunction(L, ctx_deadline_p);
	lua_pushvalue(L, found);
	if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TNUMBER)
		*deadline = lua_tonumber(L, -1);
	else if (!lua_isnil(L, -1))
		*deadline = -1;   /* the call has ended already */
	lua_pop(L, 1);
	return found;
}

/* ---- starting a call -------------------------------------------------------------------- */

void gcl_check_opts(lua_State *L, int idx, const char *fn, struct gcl_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (lua_isnoneornil(L, idx))
		return;
	if (!lua_istable(L, idx))
		luaL_error(L, "%s: the options (argument %d) must be a table, not %s", fn, idx,
		           luaL_typename(L, idx));
	o->opts = idx;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";

		if (!strcmp(k, "timeout")) {
			double t = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;

			if (!(t > 0 && t <= 4294967.0))
				luaL_error(L, "%s: timeout must be a number of seconds above 0", fn);
			o->timeout = t;
		} else if (!strcmp(k, "metadata")) {
			if (!lua_istable(L, -1))
				luaL_error(L, "%s: metadata must be a table of strings by key", fn);
		} else if (!strcmp(k, "compress")) {
			size_t n = 0;
			const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;

			if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
				o->enc = GRPC_ENC_IDENTITY;
			else if (!s || (o->enc = grpc_enc_parse((pt_str_t){ s, n })) == GRPC_ENC_UNKNOWN)
				luaL_error(L, "%s: compress must be \"gzip\", \"deflate\", \"identity\" or "
				           "false", fn);
		} else {
			luaL_error(L, "%s: unknown option %s (timeout, metadata, compress)", fn, k);
		}
		lua_pop(L, 1);
	}
}

/* Adds the metadata table at IDX to H (pairs from *N on, at most MAX): the
 * strings are Lua's (kept on the stack: -bin values are pushed base64'd). */
static void add_metadata(lua_State *L, int idx, const char *fn, pt_str_t *h, unsigned *n,
                         unsigned max)
{
	size_t bytes = 0;

	lua_pushnil(L);
	while (luaL_checkstack(L, 6, "metadata"), lua_next(L, idx)) {
		size_t kl;
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kl) : NULL;
		int list = lua_istable(L, -1);
		lua_Integer nv = list ? (lua_Integer)lua_rawlen(L, -1) : 1;

		if (!k || !kl)
			luaL_error(L, "%s: metadata keys are strings", fn);
		for (size_t i = 0; i < kl; i++) {
			char ch = k[i];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			      ch == '_' || ch == '.'))
				luaL_error(L, "%s: metadata key \"%s\": lower-case letters, digits, '-', '_' "
				           "and '.' only", fn, k);
		}
		if (gcl_md_reserved((pt_str_t){ k, kl }) || (kl > 5 && !memcmp(k, "grpc-", 5)))
			luaL_error(L, "%s: metadata key \"%s\" is reserved (grpc-*, HTTP/2 framing)",
			           fn, k);
		for (lua_Integer j = 1; j <= nv; j++) {
			size_t vl;
			const char *v;

			if (list)
				lua_rawgeti(L, -1, j);
			else
				lua_pushvalue(L, -1);
			if (lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "%s: metadata \"%s\" must be a string or a list of strings",
				           fn, k);
			v = lua_tolstring(L, -1, &vl);
			if (gcl_md_is_bin(k, kl)) {
				struct pb_buf b = { 0 };

				if (grpc_base64_encode((const uint8_t *)v, vl, &b) != 0)
					luaL_error(L, "out of memory");
				lua_pushlstring(L, b.p ? (const char *)b.p : "", b.len);
				pb_buf_free(&b);
				lua_remove(L, -2);
				v = lua_tolstring(L, -1, &vl);
			} else {
				for (size_t i = 0; i < vl; i++)
					if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
						luaL_error(L, "%s: metadata \"%s\": a value is printable ASCII "
						           "(use a key ending in -bin for bytes)", fn, k);
			}
			bytes += kl + vl;
			if (*n >= max || bytes > MAX_MD_BYTES)
				luaL_error(L, "%s: more metadata than %d entries or %d bytes", fn, MAX_MD,
				           (int)MAX_MD_BYTES);
			h[2 * *n] = (pt_str_t){ k, kl };
			h[2 * *n + 1] = (pt_str_t){ v, vl };
			(*n)++;
			lua_insert(L, idx + 1);   /* kept alive above the table, below the iteration */
		}
		lua_pop(L, 1);
	}
}

/* Whether the N header pairs at H have NAME (lower-case). */
static int has_header(const pt_str_t *h, unsigned n, const char *name)
{
	size_t len = strlen(name);

	for (unsigned i = 0; i < n; i++)
		if (h[2 * i].len == len && !strncasecmp(h[2 * i].ptr, name, len))
			return 1;
	return 0;
}

/*
 * Makes a call object (pushed) and starts the call: FIRST (LEN bytes of
 * framed request, may be empty) with BODY_MORE as ucall_start has it.
 * Arguments: upstream at 1, method at 2, options at OPTS_IDX. M is the
 * method. A call that cannot start is pushed ended (its error waits).
 */
struct gcl *gcl_call_start(lua_State *L, const char *fn, const struct pb_method *m,
                              struct gconf *conf, const struct pb_buf *first, int body_more,
                              const struct gcl_opts *o)
{
	const char *up = luaL_checkstring(L, 1);
	pt_worker *w = A()->lua_worker(L);
	struct pt_upstream_req req = { 0 };
	pt_exchange *x;
	pt_str_t h[2 * (MAX_MD + 8)];
	char tbuf[24], ua[64], *url = NULL;
	double deadline = 0, t = o->timeout;
	struct gcl_ud *u;
	struct gcl *c;
	unsigned n = 0;
	int ctx, err = 0, top;

	if (!w)
		luaL_error(L, "%s: calls run while requests are served, not while the scripts load",
		           fn);
	ctx = find_ctx(L, &deadline);
	u = lua_newuserdatauv(L, sizeof(*u), 0);
	u->c = NULL;
	luaL_setmetatable(L, GCL_CALL_MT);
	top = lua_gettop(L);
	if (!(c = calloc(1, sizeof(*c))))
		luaL_error(L, "out of memory");
	u->c = c;
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	c->L = lua_tothread(L, -1);
	lua_pop(L, 1);
	c->w = w;
	c->conf = conf;
	grpc_conf_ref(conf);
	c->m = m;
	c->kind = (m->client_streaming ? 2 : 0) | (m->server_streaming ? 1 : 0);
	c->enc_out = o->enc;
	c->code = -1;
	c->self_ref = c->ctx_ref = LUA_NOREF;
	if (ctx) {
		lua_pushvalue(L, ctx);
		c->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		if (deadline < 0) {
			gcl_fail(c, GRPC_CANCELLED, "the gRPC call this one is made for has ended");
			return c;
		}
		if (deadline > 0) {
			double left = deadline - now_unix();

			if (left <= 0) {
				gcl_fail(c, GRPC_DEADLINE_EXCEEDED, "the deadline of the gRPC call this one "
				         "is made for has passed");
				return c;
			}
			if (t <= 0 || left < t)
				t = left;
		}
	}
	if (t > 0) {
		double ms = t * 1000;

		c->timeout_ms = ms >= 4294967294.0 ? 4294967295u : (uint32_t)ms + ((uint32_t)ms < ms);
	}
	h[2 * n] = PT_STR("content-type"), h[2 * n++ + 1] = PT_STR("application/grpc");
	h[2 * n] = PT_STR("te"), h[2 * n++ + 1] = PT_STR("trailers");
	snprintf(ua, sizeof(ua), "portico-grpc/%s", A()->version());
	h[2 * n] = PT_STR("user-agent"), h[2 * n++ + 1] = (pt_str_t){ ua, strlen(ua) };
	h[2 * n] = PT_STR("grpc-accept-encoding"), h[2 * n++ + 1] = PT_STR("identity, deflate, gzip");
	if (c->enc_out != GRPC_ENC_IDENTITY) {
		h[2 * n] = PT_STR("grpc-encoding");
		h[2 * n + 1] = (pt_str_t){ grpc_enc_name(c->enc_out), strlen(grpc_enc_name(c->enc_out)) };
		n++;
	}
	if (c->timeout_ms) {
		gcl_timeout_str(c->timeout_ms, tbuf, sizeof(tbuf));
		h[2 * n] = PT_STR("grpc-timeout"), h[2 * n++ + 1] = (pt_str_t){ tbuf, strlen(tbuf) };
	}
	if (o->opts && lua_getfield(L, o->opts, "metadata") == LUA_TTABLE)
		add_metadata(L, lua_gettop(L), fn, h, &n, n + MAX_MD);
	if ((x = A()->lua_exchange(L)) != NULL) {
		/* the request this call is made for: its id and trace context go
		 * on, unless the metadata set them */
		if (!has_header(h, n, "x-request-id")) {
			h[2 * n] = PT_STR("x-request-id");
			h[2 * n++ + 1] = A()->exchange_request_id(x);
		}
		if (!has_header(h, n, "traceparent")) {
			h[2 * n] = PT_STR("traceparent");
			h[2 * n++ + 1] = A()->exchange_traceparent(x);
		}
	}
	req.size = sizeof(req);
	if (!strncmp(up, "http://", 7) || !strncmp(up, "https://", 8)) {
		size_t ul = strlen(up);

		while (ul && up[ul - 1] == '/')
			ul--;
		lua_pushlstring(L, up, ul);
		lua_pushstring(L, m->path);
		lua_concat(L, 2);
		url = (char *)lua_tostring(L, -1);
		req.url = url;
	} else {
		req.upstream = up;
	}
	req.method = PT_STR("POST");
	req.path = (pt_str_t){ m->path, strlen(m->path) };
	req.headers = h;
	req.num_headers = n;
	req.body = (pt_str_t){ first->p ? (const char *)first->p : "", first->len };
	req.timeout_ms = c->timeout_ms;
	if (!body_more) {
		c->send_closed = 1;   /* the one message is the whole body */
		c->nsent = 1;
	}
	c->uc = A()->ucall_start(w, x, &req, body_more, &grpc_client_ops, c, &err);
	if (!c->uc) {
		if (err == PT_ENOENT)
			luaL_error(L, "%s: upstream '%s' is not declared: add upstream \"%s\" { servers "
			           "= { \"host:port\" }, http2 = true } to the config", fn, up, up);
		gcl_fail(c, err == PT_ENOMEM ? GRPC_RESOURCE_EXHAUSTED : GRPC_INTERNAL,
		         A()->strerror(err));
	}
	lua_settop(L, top);
	return c;
}

/* The method named at 2 in the state's contracts, and the contracts. */
const struct pb_method *gcl_method_arg(lua_State *L, const char *fn, struct gconf **conf)
{
	struct gstate *s = grpc_state(L);
	const char *name = luaL_checkstring(L, 2);
	const struct pb_method *m;

	luaL_checkstring(L, 1);
	if (!s || !s->conf)
		luaL_error(L, "%s: the grpc plugin has no contracts loaded", fn);
	if (name[0] != '/') {   /* the :path form, whichever the registry takes */
		lua_pushfstring(L, "/%s", name);
		lua_replace(L, 2);
		name = lua_tostring(L, 2);
	}
	if (!(m = pb_find_method(s->conf->reg, name)))
		luaL_error(L, "%s: no method %s in the contracts (plugin \"grpc\" protos and "
		           "descriptors); name it \"pkg.Service/Method\"", fn, name);
	*conf = s->conf;
	return m;
}

/* Encodes the value at IDX as M's input and frames it for C into OUT;
 * raises naming the field for a value of the wrong shape. */
void gcl_encode_arg(lua_State *L, int idx, const char *fn, const struct pb_method *m,
                       struct gconf *conf, int enc, struct pb_buf *out)
{
	struct pb_buf b = { 0 };
	struct gcl tmp;
	char err[256];

	if (pb_encode_lua(L, idx, conf->reg, m->in, &b, err, sizeof(err)) != 0) {
		pb_buf_free(&b);
		luaL_error(L, "%s %s: the request is not a %s: %s", fn, m->path, pb_msg_name(m->in),
		           err);
	}
	if (b.len > conf->max_send) {
		pb_buf_free(&b);
		luaL_error(L, "%s %s: the request (%d bytes) is larger than max_send_message (%d)",
		           fn, m->path, (int)b.len, (int)conf->max_send);
	}
	tmp.enc_out = enc;
	if (gcl_frame(&tmp, b.p ? b.p : (const uint8_t *)"", b.len, out) != 0) {
		pb_buf_free(&b);
		pb_buf_free(out);
		luaL_error(L, "out of memory");
	}
	pb_buf_free(&b);
}
