/*
 * client_lua.c - the gRPC client in Lua (the wire is client.c, starting a
 * call client_start.c):
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
 * silence. A thread waiting on a call that is abandoned (the grpc.service
 * call it serves is cancelled or past its deadline, the route's client
 * left) cancels the call at once (ABI 1.10 lua_wait_on_abandon).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "client_priv.h"

#define ERROR_MT "portico.grpc.error"
#define K_ITER "portico.grpc.client_iter"

static const struct pt_api *A(void)
{
	return grpc_api;
}

static struct gcl *check_call(lua_State *L)
{
	return ((struct gcl_ud *)luaL_checkudata(L, 1, GCL_CALL_MT))->c;
}

/* ---- metadata in ------------------------------------------------------------------------ */

/* Pushes a table of the metadata in MD, as ctx.metadata has it: lower-case
 * keys, "-bin" values decoded, repeated keys joined with ", ". [-0, +1, m] */
static void md_push(lua_State *L, const struct gcl_md *md)
{
	lua_createtable(L, 0, (int)md->n);
	for (unsigned i = 0; i < md->n; i++) {
		pt_str_t k = md->v[2 * i], v = md->v[2 * i + 1];
		struct pb_buf b = { 0 };

		if (gcl_md_reserved(k))
			continue;
		lua_pushlstring(L, k.ptr, k.len);
		if (gcl_md_is_bin(k.ptr, k.len)) {
			if (grpc_base64_decode(v.ptr, v.len, &b) != 0) {
				pb_buf_free(&b);
				lua_pop(L, 1);
				continue;
			}
			v = (pt_str_t){ b.p ? (const char *)b.p : "", b.len };
		}
		lua_pushvalue(L, -1);
		if (lua_rawget(L, -3) == LUA_TSTRING && !gcl_md_is_bin(k.ptr, k.len)) {
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
	gcl_on_abandon(c, w);
	return A()->lua_wait_yield(L);
}


/* grpc.call(upstream, method, msg [, opts]) */
static int l_call(lua_State *L)
{
	struct gconf *conf;
	const struct pb_method *m = gcl_method_arg(L, "grpc.call", &conf);
	struct pb_buf first = { 0 };
	struct gcl_opts o;
	struct gcl *c;
	int ud;

	if (m->client_streaming)
		return luaL_error(L, "grpc.call: %s takes a stream of messages: use grpc.stream",
		                  m->path);
	luaL_checkany(L, 3);
	lua_settop(L, 4);
	gcl_check_opts(L, 4, "grpc.call", &o);
	gcl_encode_arg(L, 3, "grpc.call", m, conf, o.enc, &first);
	/* kept as a Lua string: starting may raise */
	lua_pushlstring(L, first.p ? (const char *)first.p : "", first.len);
	pb_buf_free(&first);
	first.p = (uint8_t *)lua_tolstring(L, -1, &first.len);
	c = gcl_call_start(L, "grpc.call", m, conf, &first, 0, &o);
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
	const struct pb_method *m = gcl_method_arg(L, "grpc.stream", &conf);
	struct pb_buf none = { 0 };
	struct gcl_opts o;

	lua_settop(L, 3);
	gcl_check_opts(L, 3, "grpc.stream", &o);
	gcl_call_start(L, "grpc.stream", m, conf, &none, 1, &o);
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
	gcl_encode_arg(L, 2, "s:send", c->m, c->conf, c->enc_out, &b);
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
	struct gcl_ud *u = luaL_checkudata(L, 1, GCL_CALL_MT);

	if (u->c && !u->c->ended)
		gcl_fail(u->c, GRPC_CANCELLED, "the call object was closed");
	return 0;
}

static int l_gc(lua_State *L)
{
	struct gcl_ud *u = luaL_checkudata(L, 1, GCL_CALL_MT);
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

	if (luaL_newmetatable(L, GCL_CALL_MT)) {
		lua_pushcfunction(L, l_index);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_close);
		lua_setfield(L, -2, "__close");
		lua_pushcfunction(L, l_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushliteral(L, GCL_CALL_MT);
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
