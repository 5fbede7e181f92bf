/*
 * client_lua.c - the gRPC client in Lua (the wire is client.c):
 *
 *   local r, err, md = grpc.call("orders", "orders.v1.Orders/Get", { id = 1 },
 *                                { timeout = 1, metadata = { ["x-k"] = "v" },
 *                                  compress = "gzip" })
 *   for m in grpc.call("orders", "orders.v1.Orders/Watch", { id = 1 }) do ... end
 *   local s = grpc.stream("orders", "orders.v1.Orders/Chat", opts)
 *   s:send(m); s:close_send(); local m, err = s:recv(); s:finish(); s:cancel()
 *
 * grpc.call waits (yields) for a unary method and returns the response
 * (then nil and { headers = ..., trailers = ... }), or nil and an error
 * object: { code, status, message, details, metadata } with grpc.error's
 * metatable, so a grpc.service handler may return or raise it as it is.
 * For a server-streaming method it returns at once an iterator for a
 * generic for (a failed stream raises its error object; leaving the loop
 * early cancels the call: the call object is the loop's closing value).
 * grpc.stream returns the call object for any kind. The method must be in
 * the plugin's contracts and every message is checked against its type
 * before anything is sent: both are Lua errors naming the script's line.
 *
 * Deadlines: opts.timeout, and inside a grpc.service handler whose call
 * has a deadline, what is left of it (the smaller wins), sent as
 * grpc-timeout. Without either the upstream's read timeout bounds each
 * silence. While such a handler's thread waits on a call, its ctx is
 * polled: a cancelled or expired server call cancels the client call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <lua.h>
#include <lauxlib.h>

#include "client_priv.h"

#define CALL_MT "portico.grpc.client_call"
#define ERROR_MT "portico.grpc.error"
#define CTX_MT "portico.grpc.ctx"
#define K_ITER "portico.grpc.client_iter"
#define MAX_MD 64                      /* metadata entries a call sends */
#define MAX_MD_BYTES ((size_t)64 << 10)

struct gcl_ud {
	struct gcl *c;
};

static const struct pt_api *A(void)
{
	return grpc_api;
}

static struct gcl *check_call(lua_State *L)
{
	return ((struct gcl_ud *)luaL_checkudata(L, 1, CALL_MT))->c;
}

static double now_unix(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* ---- metadata in ------------------------------------------------------------------------ */

static int md_reserved(pt_str_t n)
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

static int is_bin(const char *p, size_t n)
{
	return n > 4 && !memcmp(p + n - 4, "-bin", 4);
}

/* Pushes a table of the metadata in MD, as ctx.metadata has it: lower-case
 * keys, "-bin" values decoded, repeated keys joined with ", ". [-0, +1, m] */
static void md_push(lua_State *L, const struct gcl_md *md)
{
	lua_createtable(L, 0, (int)md->n);
	for (unsigned i = 0; i < md->n; i++) {
		pt_str_t k = md->v[2 * i], v = md->v[2 * i + 1];
		struct pb_buf b = { 0 };

		if (md_reserved(k))
			continue;
		lua_pushlstring(L, k.ptr, k.len);
		if (is_bin(k.ptr, k.len)) {
			if (grpc_base64_decode(v.ptr, v.len, &b) != 0) {
				pb_buf_free(&b);
				lua_pop(L, 1);
				continue;
			}
			v = (pt_str_t){ b.p ? (const char *)b.p : "", b.len };
		}
		lua_pushvalue(L, -1);
		if (lua_rawget(L, -3) == LUA_TSTRING && !is_bin(k.ptr, k.len)) {
			lua_pushliteral(L, ", ");
			lua_pushlstring(L, v.ptr, v.len);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			lua_pushlstring(L, v.ptr, v.len);
		}
		pb_buf_free(&b);
		lua_rawset(L, -3);
	}
}

/* { headers = ..., trailers = ... } [-0, +1, m] */
static void push_md_pair(lua_State *L, struct gcl *c)
{
	lua_createtable(L, 0, 2);
	md_push(L, &c->head);
	lua_setfield(L, -2, "headers");
	md_push(L, &c->trailers);
	lua_setfield(L, -2, "trailers");
}

/* ---- values a thread gets ---------------------------------------------------------- */

/* Pushes the details of google.rpc.Status bytes: { { type_url=, value= }, ... } */
static void push_details(lua_State *L, const struct pb_buf *st)
{
	struct grpc_pb_field f, g;
	size_t pos = 0;
	int n = 0;

	lua_newtable(L);
	while (grpc_pb_next(st->p, st->len, &pos, &f) == 1) {
		size_t p2 = 0;

		if (f.num != 3 || f.type != 2)
			continue;
		lua_createtable(L, 0, 2);
		lua_pushliteral(L, "");
		lua_setfield(L, -2, "type_url");
		lua_pushliteral(L, "");
		lua_setfield(L, -2, "value");
		while (grpc_pb_next(f.p, f.len, &p2, &g) == 1) {
			if (g.type != 2 || (g.num != 1 && g.num != 2))
				continue;
			lua_pushlstring(L, (const char *)g.p, g.len);
			lua_setfield(L, -2, g.num == 1 ? "type_url" : "value");
		}
		lua_rawseti(L, -2, ++n);
	}
}

void gcl_push_error(lua_State *L, struct gcl *c)
{
	int code = c->code > 0 ? c->code : GRPC_UNKNOWN;

	lua_createtable(L, 0, 5);
	lua_pushinteger(L, code);
	lua_setfield(L, -2, "code");
	lua_pushstring(L, grpc_code_name(code));
	lua_setfield(L, -2, "status");
	lua_pushstring(L, c->message ? c->message : "");
	lua_setfield(L, -2, "message");
	push_details(L, &c->details);
	lua_setfield(L, -2, "details");
	/* the trailers; a Trailers-Only answer has its status in the head */
	md_push(L, c->trailers.n ? &c->trailers : &c->head);
	lua_setfield(L, -2, "metadata");
	luaL_getmetatable(L, ERROR_MT);
	if (lua_istable(L, -1))
		lua_setmetatable(L, -2);
	else
		lua_pop(L, 1);
}

/* nil, err after an error end; nil at a clean one. */
static int push_end(lua_State *L, struct gcl *c)
{
	lua_pushnil(L);
	if (c->code == GRPC_OK)
		return 1;
	gcl_push_error(L, c);
	return 2;
}

/* Decodes M (taken: freed) as the method's response and pushes it; on
 * failure ends the call INTERNAL and pushes nil, err. */
static int push_msg(lua_State *L, struct gcl *c, struct cmsg *m)
{
	char err[256];
	int rc = pb_decode_lua(L, c->conf->reg, c->m->out, m->data, m->len, err, sizeof(err));

	free(m);
	if (rc == 0)
		return 1;
	lua_pushfstring(L, "a response message is not a %s: %s", pb_msg_name(c->m->out), err);
	c->code = -1;   /* whatever the server said: the message is unusable */
	c->ended = 0;
	gcl_fail(c, GRPC_INTERNAL, lua_tostring(L, -1));
	lua_pop(L, 1);
	return push_end(L, c);
}

/* s:recv()'s values: the next message, or the end. */
static int push_recv(lua_State *L, struct gcl *c)
{
	struct cmsg *m = gcl_pop(c);

	return m ? push_msg(L, c, m) : push_end(L, c);
}

/* The values of an ended call: a unary kind's response (msg, nil, md), a
 * streaming kind's true, nil, md; or nil, err. */
static int push_result(lua_State *L, struct gcl *c)
{
	struct cmsg *m;

	if (c->code != GRPC_OK)
		return push_end(L, c);
	if (c->kind == GRPC_UNARY || c->kind == GRPC_CLIENT_STREAM) {
		if (!(m = gcl_pop(c)))
			return push_end(L, c);
		if (push_msg(L, c, m) != 1)
			return 2;
	} else {
		lua_pushboolean(L, 1);
	}
	lua_pushnil(L);
	push_md_pair(L, c);
	return 3;
}

int gcl_push_wake(lua_State *L, void *ud)
{
	struct gcl *c = ud;

	switch (c->wait_kind) {
	case GCL_WAIT_RECV:
		return push_recv(L, c);
	case GCL_WAIT_DRAIN:
		if (c->ended && c->code != GRPC_OK)
			return push_end(L, c);
		lua_pushboolean(L, 1);
		return 1;
	default:
		return push_result(L, c);
	}
}

/* Waits on C (the call object at UD_IDX) for KIND. */
static int wait_on(lua_State *L, struct gcl *c, int kind, int ud_idx)
{
	pt_wait *w;

	if (c->wait)
		return luaL_error(L, "grpc: another thread is waiting on this call");
	if (!lua_isyieldable(L)) {
		gcl_fail(c, GRPC_CANCELLED, "not in a thread that may wait");
		return luaL_error(L, "grpc: this call waits, so it runs in a request handler, a "
		                  "grpc.service handler or a resolver, not in a coroutine of "
		                  "your own or a callback such as table.sort's");
	}
	w = A()->lua_wait_begin(L);   /* raises where waits are not allowed */
	c->wait = w;
	c->wait_kind = kind;
	lua_pushvalue(L, ud_idx);
	c->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	gcl_poll_start(c);
	return A()->lua_wait_yield(L);
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

struct copts {
	double timeout;                    /* seconds; 0: none given */
	int enc;
	int opts;                          /* stack index of the options table, or 0 */
};

static void check_opts(lua_State *L, int idx, const char *fn, struct copts *o)
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
		if (md_reserved((pt_str_t){ k, kl }) || (kl > 5 && !memcmp(k, "grpc-", 5)))
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
			if (is_bin(k, kl)) {
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

/*
 * Makes a call object (pushed) and starts the call: FIRST (LEN bytes of
 * framed request, may be empty) with BODY_MORE as ucall_start has it.
 * Arguments: upstream at 1, method at 2, options at OPTS_IDX. M is the
 * method. A call that cannot start is pushed ended (its error waits).
 */
static struct gcl *call_start(lua_State *L, const char *fn, const struct pb_method *m,
                              struct gconf *conf, const struct pb_buf *first, int body_more,
                              const struct copts *o)
{
	const char *up = luaL_checkstring(L, 1);
	pt_worker *w = A()->lua_worker(L);
	struct pt_upstream_req req = { 0 };
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
	luaL_setmetatable(L, CALL_MT);
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
	c->uc = A()->ucall_start(w, NULL, &req, body_more, &grpc_client_ops, c, &err);
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
static const struct pb_method *method_arg(lua_State *L, const char *fn, struct gconf **conf)
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
static void encode_arg(lua_State *L, int idx, const char *fn, const struct pb_method *m,
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

/* grpc.call(upstream, method, msg [, opts]) */
static int l_call(lua_State *L)
{
	struct gconf *conf;
	const struct pb_method *m = method_arg(L, "grpc.call", &conf);
	struct pb_buf first = { 0 };
	struct copts o;
	struct gcl *c;
	int ud;

	if (m->client_streaming)
		return luaL_error(L, "grpc.call: %s takes a stream of messages: use grpc.stream",
		                  m->path);
	luaL_checkany(L, 3);
	lua_settop(L, 4);
	check_opts(L, 4, "grpc.call", &o);
	encode_arg(L, 3, "grpc.call", m, conf, o.enc, &first);
	/* kept as a Lua string: starting may raise */
	lua_pushlstring(L, first.p ? (const char *)first.p : "", first.len);
	pb_buf_free(&first);
	first.p = (uint8_t *)lua_tolstring(L, -1, &first.len);
	c = call_start(L, "grpc.call", m, conf, &first, 0, &o);
	ud = lua_gettop(L);
	if (m->server_streaming) {
		lua_getfield(L, LUA_REGISTRYINDEX, K_ITER);
		lua_pushvalue(L, ud);
		lua_pushnil(L);
		lua_pushvalue(L, ud);   /* the closing value: leaving the loop cancels */
		return 4;
	}
	if (c->ended)
		return push_result(L, c);
	return wait_on(L, c, GCL_WAIT_END, ud);
}

/* grpc.stream(upstream, method [, opts]) -> the call object */
static int l_stream(lua_State *L)
{
	struct gconf *conf;
	const struct pb_method *m = method_arg(L, "grpc.stream", &conf);
	struct pb_buf none = { 0 };
	struct copts o;

	lua_settop(L, 3);
	check_opts(L, 3, "grpc.stream", &o);
	call_start(L, "grpc.stream", m, conf, &none, 1, &o);
	return 1;
}

/* ---- the call object ------------------------------------------------------------------ */

static int l_send(lua_State *L)
{
	struct gcl *c = check_call(L);
	struct pb_buf b = { 0 };
	int64_t rc;

	luaL_checkany(L, 2);
	if (c->send_closed)
		return luaL_error(L, "s:send after s:close_send (or s:finish)");
	if (!c->m->client_streaming && c->nsent >= 1)
		return luaL_error(L, "s:send: %s takes one request message", c->m->path);
	if (c->ended)
		return push_end(L, c);
	lua_settop(L, 2);
	encode_arg(L, 2, "s:send", c->m, c->conf, c->enc_out, &b);
	c->nsent++;
	rc = c->uc ? A()->ucall_write(c->uc, b.p, b.len) : PT_ESTATE;
	pb_buf_free(&b);
	if (c->ended)
		return push_end(L, c);
	if (rc >= 0 && rc < (int64_t)PT_UCALL_HIGH) {
		lua_pushboolean(L, 1);
		return 1;
	}
	/* too much queued: wait for the drain; failing: wait for the end */
	c->send_blocked = 1;
	return wait_on(L, c, GCL_WAIT_DRAIN, 1);
}

static void close_send(struct gcl *c)
{
	if (c->send_closed)
		return;
	c->send_closed = 1;
	if (c->uc)
		A()->ucall_end(c->uc, NULL, 0);
}

static int l_close_send(lua_State *L)
{
	struct gcl *c = check_call(L);

	if (!c->m->client_streaming && !c->nsent && !c->ended)
		return luaL_error(L, "s:close_send: %s takes one request message: s:send it first",
		                  c->m->path);
	close_send(c);
	return 0;
}

static int l_recv(lua_State *L)
{
	struct gcl *c = check_call(L);

	if (c->q_head || c->ended)
		return push_recv(L, c);
	return wait_on(L, c, GCL_WAIT_RECV, 1);
}

static int l_finish(lua_State *L)
{
	struct gcl *c = check_call(L);

	if (!c->m->client_streaming && !c->nsent && !c->ended)
		return luaL_error(L, "s:finish: %s takes one request message: s:send it first",
		                  c->m->path);
	close_send(c);
	if (c->m->server_streaming) {
		struct cmsg *m;

		c->discard = 1;   /* messages not read are dropped */
		while ((m = gcl_pop(c)) != NULL)
			free(m);
	}
	if (c->ended)
		return push_result(L, c);
	return wait_on(L, c, GCL_WAIT_END, 1);
}

static int l_cancel(lua_State *L)
{
	struct gcl *c = check_call(L);

	gcl_fail(c, GRPC_CANCELLED, "cancelled by the caller");
	return 0;
}

static int l_index(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "send", l_send }, { "close_send", l_close_send }, { "recv", l_recv },
		{ "finish", l_finish }, { "cancel", l_cancel }, { NULL, NULL },
	};
	struct gcl *c = check_call(L);
	const char *k = luaL_checkstring(L, 2);

	for (int i = 0; methods[i].name; i++)
		if (!strcmp(k, methods[i].name)) {
			lua_pushcfunction(L, methods[i].func);
			return 1;
		}
	if (!strcmp(k, "headers")) {
		if (c->head_seen)
			md_push(L, &c->head);
		else
			lua_pushnil(L);
	} else if (!strcmp(k, "trailers")) {
		if (c->ended)
			md_push(L, &c->trailers);
		else
			lua_pushnil(L);
	} else if (!strcmp(k, "code")) {
		if (c->ended)
			lua_pushinteger(L, c->code);
		else
			lua_pushnil(L);
	} else if (!strcmp(k, "error")) {
		if (c->ended && c->code != GRPC_OK)
			gcl_push_error(L, c);
		else
			lua_pushnil(L);
	} else if (!strcmp(k, "method")) {
		lua_pushstring(L, c->m->path);
	} else {
		lua_pushnil(L);
	}
	return 1;
}

/* __close (leaving a block or a for loop early) and __gc: cancel. */
static int l_close(lua_State *L)
{
	struct gcl_ud *u = luaL_checkudata(L, 1, CALL_MT);

	if (u->c && !u->c->ended)
		gcl_fail(u->c, GRPC_CANCELLED, "the call object was closed");
	return 0;
}

static int l_gc(lua_State *L)
{
	struct gcl_ud *u = luaL_checkudata(L, 1, CALL_MT);
	struct gcl *c = u->c;

	u->c = NULL;
	if (!c)
		return 0;
	c->ud_gone = 1;
	/* a waiting call is anchored: collected while waiting means the state
	 * is closing, and its waits with it */
	c->wait = NULL;
	if (!c->ended)
		gcl_fail(c, GRPC_CANCELLED, "the call object was collected");
	gcl_maybe_free(c);
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct gcl *c = check_call(L);

	lua_pushfstring(L, "grpc call %s (%s)", c->m->path, !c->ended ? "open" :
	                c->code == GRPC_OK ? "OK" : grpc_code_name(c->code));
	return 1;
}

/* For `for m in grpc.call(...)`: a failed stream raises its error object. */
static const char iter_src[] =
	"return function(s)\n"
	"  local m, err = s:recv()\n"
	"  if m == nil and err ~= nil then error(err, 0) end\n"
	"  return m\n"
	"end\n";

void grpc_client_module(lua_State *L)
{
	int t = lua_gettop(L);

	if (luaL_newmetatable(L, CALL_MT)) {
		lua_pushcfunction(L, l_index);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_close);
		lua_setfield(L, -2, "__close");
		lua_pushcfunction(L, l_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushliteral(L, CALL_MT);
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	if (luaL_loadbuffer(L, iter_src, sizeof(iter_src) - 1, "=grpc.call") != LUA_OK)
		lua_error(L);
	lua_call(L, 0, 1);
	lua_setfield(L, LUA_REGISTRYINDEX, K_ITER);
	lua_pushcfunction(L, l_call);
	lua_setfield(L, t, "call");
	lua_pushcfunction(L, l_stream);
	lua_setfield(L, t, "stream");
	grpc_proxy_module(L);
}
