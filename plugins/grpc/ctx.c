/*
 * ctx.c - the ctx object a gRPC handler gets:
 *
 *   ctx.metadata        request metadata, lower-case keys; "-bin" values
 *                       base64-decoded; a repeated key: its values joined
 *                       with ", " ("-bin": the first)
 *   ctx.method          "/pkg.Service/Method"
 *   ctx.peer            the client's "ip:port"
 *   ctx.deadline        the call's deadline as Unix time, or nil
 *   ctx.compressed      whether the last request message came compressed
 *   ctx.request         the route handlers' req object (req.consumer, ...)
 *   ctx:cancelled()     true once the client cancelled or the deadline passed
 *   ctx:set_header(k, v)   response metadata, before the first message
 *   ctx:set_trailer(k, v)  trailing metadata
 *   ctx:send(msg)       the next reply (server and bidi streaming); waits
 *                       while PT_EXCHANGE_HIGH bytes of replies wait for the
 *                       client (true; nil, why once the call has ended)
 *   for m in ctx:recv() do ... end   the request messages (client and bidi
 *                       streaming); waits for the next one; ends with the
 *                       client's half-close, or the call's end
 *   ctx:set_compression(false | true | "gzip" | "deflate")
 *
 * A ctx kept past its call refuses use ("the call has ended").
 *
 * The instruction budget of a streaming handler counts per message: each
 * ctx:send and each step of ctx:recv() starts a fresh one (ABI 1.10).
 */
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "server_priv.h"

#define CTX_MT "portico.grpc.ctx"
#define QUEUE_HIGH ((size_t)1 << 20)   /* pause the body past this much queued */

struct ctx_ud {
	struct gcall *c;
};

static const struct pt_api *A(void)
{
	return grpc_api;
}

static struct gcall *check_call(lua_State *L)
{
	struct ctx_ud *u = luaL_checkudata(L, 1, CTX_MT);

	if (!u->c)
		luaL_error(L, "ctx: the call has ended (a ctx is only valid during its call)");
	return u->c;
}

/* ---- metadata in -------------------------------------------------------------------- */

static int reserved(pt_str_t n)
{
	static const char *const names[] = { "content-type", "te", "grpc-timeout",
		"grpc-encoding", "grpc-accept-encoding", "content-length", "connection", NULL };

	if (n.len && n.ptr[0] == ':')
		return 1;
	for (int i = 0; names[i]; i++)
		if (strlen(names[i]) == n.len && !memcmp(names[i], n.ptr, n.len))
			return 1;
	return 0;
}

static int is_bin(pt_str_t n)
{
	return n.len > 4 && !memcmp(n.ptr + n.len - 4, "-bin", 4);
}

/* Pushes the metadata table of C. [-0, +1, m] */
static void push_metadata(lua_State *L, struct gcall *c)
{
	const struct pt_api *a = A();
	unsigned n = a->exchange_header_count(c->x);
	pt_str_t name, value;

	lua_createtable(L, 0, (int)n);
	for (unsigned i = 0; i < n; i++) {
		if (a->exchange_header_at(c->x, i, &name, &value) != 0 || reserved(name))
			continue;
		lua_pushlstring(L, name.ptr, name.len);
		if (lua_rawget(L, -2) != LUA_TNIL) {
			if (is_bin(name)) {
				lua_pop(L, 1);
				continue;
			}
			lua_pushlstring(L, name.ptr, name.len);
			lua_insert(L, -2);
			lua_pushliteral(L, ", ");
			lua_pushlstring(L, value.ptr, value.len);
			lua_concat(L, 3);
			lua_rawset(L, -3);
			continue;
		}
		lua_pop(L, 1);
		lua_pushlstring(L, name.ptr, name.len);
		if (is_bin(name)) {
			struct pb_buf b = { 0 };

			if (grpc_base64_decode(value.ptr, value.len, &b) != 0) {
				pb_buf_free(&b);
				lua_pop(L, 1);
				continue;   /* not base64: left out */
			}
			lua_pushlstring(L, b.p ? (const char *)b.p : "", b.len);
			pb_buf_free(&b);
		} else {
			lua_pushlstring(L, value.ptr, value.len);
		}
		lua_rawset(L, -3);
	}
}

/* ---- metadata out ------------------------------------------------------------------- */

/* Checks a metadata key and value (argument 2 and 3): a lower-case token
 * not reserved by gRPC; pushes the value as sent (base64 for -bin). */
static pt_str_t check_md(lua_State *L, pt_str_t *value)
{
	size_t kl, vl;
	const char *k = luaL_checklstring(L, 2, &kl);
	const char *v = luaL_checklstring(L, 3, &vl);
	pt_str_t key = { k, kl };

	if (!kl)
		luaL_argerror(L, 2, "an empty metadata key");
	for (size_t i = 0; i < kl; i++) {
		char ch = k[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		      ch == '.'))
			luaL_argerror(L, 2, "a metadata key is lower-case letters, digits, '-', '_', '.'");
	}
	if (reserved(key) || (kl > 5 && !memcmp(k, "grpc-", 5)))
		luaL_argerror(L, 2, "grpc-* and HTTP/2 framing keys are the server's");
	if (is_bin(key)) {
		struct pb_buf b = { 0 };

		if (grpc_base64_encode((const uint8_t *)v, vl, &b) != 0)
			luaL_error(L, "out of memory");
		lua_pushlstring(L, b.p ? (const char *)b.p : "", b.len);
		pb_buf_free(&b);
	} else {
		for (size_t i = 0; i < vl; i++)
			if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
				luaL_argerror(L, 3, "a metadata value is printable ASCII (use a -bin key "
				              "for bytes)");
		lua_pushvalue(L, 3);
	}
	value->ptr = lua_tolstring(L, -1, &value->len);
	return key;
}

static int l_set_header(lua_State *L)
{
	struct gcall *c = check_call(L);
	pt_str_t v, k = check_md(L, &v);

	if (c->headers_sent || c->finished)
		return luaL_error(L, "ctx:set_header: the headers are already sent (set them before "
		                  "the first ctx:send)");
	A()->exchange_header_add(c->x, k, v);
	return 0;
}

static int l_set_trailer(lua_State *L)
{
	struct gcall *c = check_call(L);
	pt_str_t v, k = check_md(L, &v);

	if (c->finished)
		return luaL_error(L, "ctx:set_trailer: the call has ended");
	A()->exchange_trailer_add(c->x, k, v);
	c->ntrailers_set = 1;
	return 0;
}

/* ---- messages -------------------------------------------------------------------------- */

/* Each message sent or received starts a fresh instruction budget (ABI
 * 1.10): a stream's handler is bounded per message, not for its life. */
static void budget_renew(lua_State *L)
{
#if PT_ABI_MINOR >= 10
	if (PT_API_HAS(A(), lua_budget_renew))
		A()->lua_budget_renew(L);
#else
	(void)L;
#endif
}

int grpc_push_send_result(lua_State *L, void *ud)
{
	struct gcall *c = ud;

	if (c->finished) {
		lua_pushnil(L);
		lua_pushstring(L, c->cancelled ? "cancelled" : "the call has ended");
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

#if PT_ABI_MINOR >= 10
/* The client took enough of the replies: ctx:send() goes on. */
static void on_send_drain(void *ud)
{
	struct gcall *c = ud;
	pt_wait *w = c->send_wait;

	if (!w)
		return;
	c->send_wait = NULL;
	A()->lua_wait_wake(w, grpc_push_send_result, c);
}
#endif

/*
 * After a reply went out: while PT_EXCHANGE_HIGH bytes or more wait for
 * the client (a slow reader, a closed HTTP/2 window), ctx:send() waits
 * for them to drain, so the queue stays bounded; the deadline, the
 * client's reset or the write timeout end the wait. Returns the results
 * to return, or yields.
 */
static int send_backpressure(lua_State *L, struct gcall *c)
{
#if PT_ABI_MINOR >= 10
	const struct pt_api *a = A();

	if (!c->finished && PT_API_HAS(a, exchange_on_drain) &&
	    a->exchange_queued(c->x) >= PT_EXCHANGE_HIGH) {
		if (!lua_isyieldable(L)) {
			/* a callback of table.sort & co: it cannot wait, and may
			 * not queue without bound either */
			if (a->exchange_queued(c->x) > GRPC_DEFAULT_MAX_QUEUED)
				grpc_call_fail(c, GRPC_RESOURCE_EXHAUSTED, "replies queued past the "
				               "bound while the client does not read them (ctx:send "
				               "from a callback that cannot wait)");
		} else if (a->exchange_on_drain(c->x, on_send_drain, c) == 0) {
			c->send_wait = a->lua_wait_begin(L);
			return a->lua_wait_yield(L);
		}
	}
#endif
	return grpc_push_send_result(L, c);
}

static int l_send(lua_State *L)
{
	struct gcall *c = check_call(L);
	const char *why = NULL;
	int rc;

	if (c->e.kind != GRPC_SERVER_STREAM && c->e.kind != GRPC_BIDI)
		return luaL_error(L, "ctx:send is for streaming replies; this method's handler "
		                  "returns its one reply");
	luaL_checkany(L, 2);
	if (!c->finished)
		budget_renew(L);
	rc = grpc_ctx_send_value(c, L, 2, &why);
	if (rc == -2)
		return lua_error(L);
	if (rc < 0) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	return send_backpressure(L, c);
}

/* Pops the next queued message of C and pushes it decoded (nil at the end,
 * or when it does not decode: the call then ends INTERNAL). [-0, +1, m] */
static int push_next(lua_State *L, void *ud)
{
	struct gcall *c = ud;
	struct gmsg *m = c->q_head;
	char err[256];

	if (!m || c->finished) {
		lua_pushnil(L);
		return 1;
	}
	c->q_head = m->next;
	if (!c->q_head)
		c->q_tail = NULL;
	c->q_bytes -= m->len;
	c->last_compressed = m->compressed;
	if (pb_decode_lua(L, c->conf->reg, c->e.m->in, m->data, m->len, err, sizeof(err)) != 0) {
		pt_str_t path = A()->exchange_path(c->x);

		free(m);
		A()->log(grpc_ctx, PT_LOG_INFO, "%.*s: a request message is not a %s: %s",
		         (int)path.len, path.ptr, pb_msg_name(c->e.m->in), err);
		grpc_call_finish(c, GRPC_INTERNAL, "cannot decode a request message", 31, NULL);
		lua_pushnil(L);
		return 1;
	}
	free(m);
#if PT_ABI_MINOR >= 7
	if (c->paused && c->q_bytes < QUEUE_HIGH / 2 && !c->finished) {
		c->paused = 0;
		A()->exchange_body_pause(c->x, 0);
	}
#endif
	return 1;
}

int grpc_push_recv_error(lua_State *L, void *ud)
{
	(void)ud;
	lua_pushnil(L);
	return 1;
}

void grpc_recv_kick(struct gcall *c)
{
	if (c->wait && (c->q_head || c->body_done || c->finished)) {
		pt_wait *w = c->wait;

		c->wait = NULL;
		A()->lua_wait_wake(w, push_next, c);
		return;
	}
	if (c->q_bytes > QUEUE_HIGH && !c->paused && !c->finished) {
#if PT_ABI_MINOR >= 7
		if (PT_API_HAS(A(), exchange_body_pause) && A()->exchange_body_pause(c->x, 1) == 0) {
			c->paused = 1;
			return;
		}
#endif
		if (c->q_bytes > GRPC_DEFAULT_MAX_QUEUED)
			grpc_call_finish(c, GRPC_RESOURCE_EXHAUSTED, "too many request messages queued "
			                 "while the handler does not read them", 61, NULL);
	}
}

/* The iterator ctx:recv() returns. */
static int recv_next(lua_State *L)
{
	struct ctx_ud *u = lua_touserdata(L, lua_upvalueindex(1));
	struct gcall *c = u ? u->c : NULL;

	if (!c || c->finished) {
		lua_pushnil(L);
		return 1;
	}
	budget_renew(L);
	if (c->q_head)
		return push_next(L, c);
	if (c->body_done) {
		lua_pushnil(L);
		return 1;
	}
	if (c->wait)
		return luaL_error(L, "ctx:recv: another ctx:recv() of this call is waiting");
	c->wait = A()->lua_wait_begin(L);
	return A()->lua_wait_yield(L);
}

static int l_recv(lua_State *L)
{
	struct gcall *c = check_call(L);

	if (c->e.kind != GRPC_CLIENT_STREAM && c->e.kind != GRPC_BIDI)
		return luaL_error(L, "ctx:recv is for streaming requests; this method's handler gets "
		                  "its one request as its first argument");
	lua_pushvalue(L, 1);
	lua_pushcclosure(L, recv_next, 1);
	return 1;
}

static int l_cancelled(lua_State *L)
{
	struct ctx_ud *u = luaL_checkudata(L, 1, CTX_MT);

	lua_pushboolean(L, !u->c || u->c->cancelled);
	return 1;
}

static int l_set_compression(lua_State *L)
{
	struct gcall *c = check_call(L);

	if (lua_isboolean(L, 2)) {
		c->compress = lua_toboolean(L, 2);
	} else {
		size_t n;
		const char *s = luaL_checklstring(L, 2, &n);
		int enc = grpc_enc_parse((pt_str_t){ s, n });

		if (enc == GRPC_ENC_UNKNOWN)
			return luaL_argerror(L, 2, "false, true, \"gzip\", \"deflate\" or \"identity\"");
		c->compress = enc != GRPC_ENC_IDENTITY;
		if (enc != GRPC_ENC_IDENTITY && (c->accept & (1u << enc)))
			c->accept = 1u << enc;   /* the client's choice narrowed to this one */
	}
	return 0;
}

static int l_index(lua_State *L)
{
	struct ctx_ud *u = luaL_checkudata(L, 1, CTX_MT);
	const char *k = luaL_checkstring(L, 2);
	struct gcall *c = u->c;

	switch (k[0]) {
	case 's':
		if (!strcmp(k, "send")) { lua_pushcfunction(L, l_send); return 1; }
		if (!strcmp(k, "set_header")) { lua_pushcfunction(L, l_set_header); return 1; }
		if (!strcmp(k, "set_trailer")) { lua_pushcfunction(L, l_set_trailer); return 1; }
		if (!strcmp(k, "set_compression")) {
			lua_pushcfunction(L, l_set_compression);
			return 1;
		}
		break;
	case 'r':
		if (!strcmp(k, "recv")) { lua_pushcfunction(L, l_recv); return 1; }
		break;
	case 'c':
		if (!strcmp(k, "cancelled")) { lua_pushcfunction(L, l_cancelled); return 1; }
		break;
	}
	if (!c)
		return luaL_error(L, "ctx.%s: the call has ended (a ctx is only valid during its call)",
		                  k);
	if (!strcmp(k, "metadata")) {
		if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE)
			return 1;
		lua_pop(L, 1);
		push_metadata(L, c);
		lua_pushvalue(L, -1);
		lua_setiuservalue(L, 1, 1);
	} else if (!strcmp(k, "method")) {
		pt_str_t p = A()->exchange_path(c->x);

		lua_pushlstring(L, p.ptr, p.len);
	} else if (!strcmp(k, "peer")) {
		pt_str_t p = A()->exchange_remote_addr(c->x);

		lua_pushlstring(L, p.ptr, p.len);
	} else if (!strcmp(k, "deadline")) {
		if (c->deadline > 0)
			lua_pushnumber(L, c->deadline);
		else
			lua_pushnil(L);
	} else if (!strcmp(k, "compressed")) {
		lua_pushboolean(L, c->last_compressed);
	} else if (!strcmp(k, "request")) {
		if (A()->exchange_lua_req(c->x, L) != 0)
			lua_pushnil(L);
	} else {
		lua_pushnil(L);
	}
	return 1;
}

static int l_newindex(lua_State *L)
{
	return luaL_error(L, "ctx is read-only (keep your data in a local or a table)");
}

void grpc_ctx_push(lua_State *L, struct gcall *c)
{
	struct ctx_ud *u = lua_newuserdatauv(L, sizeof(*u), 1);

	u->c = c;
	if (luaL_newmetatable(L, CTX_MT)) {
		lua_pushcfunction(L, l_index);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_newindex);
		lua_setfield(L, -2, "__newindex");
		lua_pushliteral(L, CTX_MT);
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	c->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void grpc_ctx_detach(lua_State *L, int ctx_ref)
{
	struct ctx_ud *u;

	lua_rawgeti(L, LUA_REGISTRYINDEX, ctx_ref);
	if ((u = lua_touserdata(L, -1)) != NULL)
		u->c = NULL;
	lua_pop(L, 1);
}
