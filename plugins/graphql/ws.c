/*
 * ws.c - GraphQL over WebSocket: the graphql-transport-ws subprotocol (the
 * protocol of the npm graphql-ws library) on the GraphQL route.
 *
 * A GET to the route with `Upgrade: websocket` is accepted through the core
 * (pt_api.ws_accept, ABI 1.6) when the client offers graphql-transport-ws;
 * a client that offers no such subprotocol is refused at the handshake
 * (400), not accepted and closed with 4406 as graphql-ws's own server does:
 * the legacy subscriptions-transport-ws protocol calls itself "graphql-ws",
 * and a failed handshake tells such a client at once that it speaks the
 * wrong protocol.
 *
 * The connection (struct conn) then waits for connection_init (4408 after
 * `ws.connection_init_wait_timeout`). connection_init runs graphql.on_init
 * (payload, ctx) and graphql.context(ctx) as one Lua task on the
 * connection (both may wait): true acknowledges, a table becomes the
 * connection's ctx (a second result, a table, is connection_ack's payload),
 * false or nil closes with 4403, an error with 4500. Each
 * subscribe is one operation (struct op) keyed by its id: queries and
 * mutations run the executor once (next, complete); subscriptions run
 * sub.c with this file as their sink, so a hub message reaches them exactly
 * as it reaches an SSE stream. complete from the client, or the
 * connection's end, cancels operations; results of a cancelled one are
 * dropped.
 *
 * Lifetimes: the connection holds one reference for itself (dropped by
 * on_close, the core's last call), one per operation's request and one
 * while the init hook runs; Lua tasks finishing after the close see a
 * connection without a socket (ws NULL) and send nothing. Resolver tasks
 * run through ws_lua_task_resume; once the connection or the operation is
 * gone no new task starts (the resolver fails instead, so the execution
 * ends quickly).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "exec.h"
#include "exec_priv.h"
#include "gqlp.h"
#include "ws_msg.h"

#define PROTOCOL "graphql-transport-ws"

struct conn;

/* One operation: a subscribe message until it completes. */
struct op {
	struct op *next;                /* the connection's list, while listed */
	struct conn *c;
	struct gqlp_req *r;             /* the request; frees OP with it */
	struct gqlp_sub *sub;           /* a running subscription (sub.c), or NULL */
	char *id;
	size_t id_len;
	int listed;                     /* in c->ops: its id is taken */
	int done;                       /* completed or cancelled: nothing more is sent */
};

struct conn {
	pt_ws *ws;                      /* NULL once on_close ran */
	unsigned refs;
	struct gqlp_conf *conf;         /* one reference */
	struct gqlp_worker *gw;
	pt_worker *w;
	lua_State *L;
	int ctx_ref;                    /* the ctx every operation gets */
	int init_co_ref;                /* the init hook's coroutine while it runs */
	pt_timer *init_timer;
	int init_seen, acked, closing;
	unsigned nops;
	struct op *ops;
	char tag[80];                   /* "#id (request id)" for logs */
};

static const struct pt_api *api(void)
{
	return gqlp_api;
}

static void conn_unref(struct conn *c)
{
	if (--c->refs)
		return;
	gqlp_conf_unref(c->conf);
	free(c);
}

/* Closes the socket with CODE and REASON (logged at LEVEL). */
static void conn_close(struct conn *c, int level, unsigned code, const char *reason)
{
	if (!c->ws || c->closing)
		return;
	c->closing = 1;
	api()->log(gqlp_ctx, level, "graphql-ws %s: closing with %u: %s", c->tag, code, reason);
	api()->ws_close(c->ws, code, (pt_str_t){ reason, strlen(reason) });
}

/* Sends {"id":ID,"type":TYPE,"payload":PAYLOAD} (no id when ID is NULL, no
 * payload when PAYLOAD is NULL). 0, or -1 when it cannot go out. */
static int send_msg(struct conn *c, const char *type, const char *id, size_t id_len,
                    const char *payload, size_t plen)
{
	struct jbuf b = { 0 };
	int rc;

	if (!c->ws || c->closing)
		return -1;
	jb_putc(&b, '{');
	if (id) {
		jb_put(&b, "\"id\":", 5);
		jb_str(&b, id, id_len);
		jb_putc(&b, ',');
	}
	jb_put(&b, "\"type\":", 7);
	jb_cstr(&b, type);
	if (payload) {
		jb_put(&b, ",\"payload\":", 11);
		jb_put(&b, payload, plen);
	}
	jb_putc(&b, '}');
	rc = b.oom ? PT_ENOMEM : api()->ws_send(c->ws, b.p, b.n, 0);
	free(b.p);
	if (rc != 0 && rc != PT_ESTATE)
		api()->log(gqlp_ctx, PT_LOG_WARN, "graphql-ws %s: cannot send %s: %s", c->tag, type,
		           api()->strerror(rc));
	return rc == 0 ? 0 : -1;
}

/* ---- operations ------------------------------------------------------------- */

static void op_unlist(struct op *o)
{
	struct conn *c = o->c;

	if (!o->listed)
		return;
	for (struct op **pp = &c->ops; *pp; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	}
	o->listed = 0;
	o->next = NULL;
	c->nops--;
}

static struct op *op_find(struct conn *c, const char *id, size_t len)
{
	for (struct op *o = c->ops; o; o = o->next)
		if (o->id_len == len && !memcmp(o->id, id, len))
			return o;
	return NULL;
}

/* The operation is over on our side: its id may be used again. */
static void op_finish(struct op *o)
{
	o->done = 1;
	op_unlist(o);
}

/* gqlp_req_free of an operation's request: the operation goes with it. */
static void op_req_freed(struct gqlp_req *r)
{
	struct op *o = r->sink_ud;
	struct conn *c = o->c;

	op_unlist(o);
	free(o->id);
	free(o);
	r->sink_ud = NULL;
	conn_unref(c);
}

/* Sends an error message with MSG as its one GraphQLError, and ends O. */
static void op_error(struct op *o, const char *msg)
{
	struct jbuf b = { 0 };

	jb_put(&b, "[{\"message\":", 12);
	jb_cstr(&b, msg);
	jb_put(&b, "}]", 2);
	if (!o->done && !b.oom)
		send_msg(o->c, "error", o->id, o->id_len, b.p, b.n);
	free(b.p);
	op_finish(o);
}

/* Resolver tasks of O's executions: refused once O or its connection is gone. */
static int op_resume(void *ud, lua_State *co, int nargs, int *nres, pt_lua_task_fn done,
                     void *tud)
{
	struct op *o = ud;

	if (o->done || !o->c->ws) {
		lua_pushliteral(co, "the operation was cancelled");
		return LUA_ERRRUN;
	}
	return api()->ws_lua_task_resume(o->c->ws, co, nargs, nres, done, tud);
}

/* The sink of a subscription (sub.c) */

static void sink_attach(struct gqlp_req *r, struct gqlp_sub *s)
{
	((struct op *)r->sink_ud)->sub = s;
}

static int sink_start(struct gqlp_req *r)
{
	struct op *o = r->sink_ud;

	return o->done || !o->c->ws ? -1 : 0;
}

static int sink_next(struct gqlp_req *r, const char *json, size_t n)
{
	struct op *o = r->sink_ud;

	if (o->done)
		return -1;
	return send_msg(o->c, "next", o->id, o->id_len, json, n);
}

/* The source failed (the resolver raised, no channel): as graphql-ws's
 * server does with an ExecutionResult from subscribe, one next, then
 * complete. */
static void sink_fail(struct gqlp_req *r, int status, const char *json, size_t n)
{
	struct op *o = r->sink_ud;

	(void)status;
	if (!o->done && send_msg(o->c, "next", o->id, o->id_len, json, n) == 0)
		send_msg(o->c, "complete", o->id, o->id_len, NULL, 0);
	op_finish(o);
}

static void sink_end(struct gqlp_req *r, int complete)
{
	struct op *o = r->sink_ud;

	if (complete && !o->done)
		send_msg(o->c, "complete", o->id, o->id_len, NULL, 0);
	o->sub = NULL;   /* it is going: no cancel any more */
	op_finish(o);
}

static int sink_gone(struct gqlp_req *r)
{
	struct op *o = r->sink_ud;

	return o->done || !o->c->ws || o->c->closing;
}

static const struct gqlp_sink ws_sink = {
	sink_attach, sink_start, sink_next, sink_fail, sink_end, sink_gone,
};

/* A query or mutation ended: next, complete, unless the client completed it. */
static void exec_done(struct gql_exec *e, const struct gql_result *res, void *ud)
{
	struct gqlp_req *r = ud;
	struct op *o = r->sink_ud;

	gqlp_metrics_result(r->mutation, res);
	if (!o->done && send_msg(o->c, "next", o->id, o->id_len, res->json, res->len) == 0)
		send_msg(o->c, "complete", o->id, o->id_len, NULL, 0);
	op_finish(o);
	gql_exec_free(e);
	gqlp_req_free(r);
}

/* Starts the operation of a subscribe message M (ack'd, id free). */
static void op_start(struct conn *c, struct gqlp_wsm *m)
{
	struct op *o = calloc(1, sizeof(*o));
	struct gqlp_req *r = calloc(1, sizeof(*r));
	const struct gql_definition *def;
	const char *msg = NULL;
	lua_State *L = c->L;

	if (!o || !r || !(o->id = malloc(m->id_len + 1))) {
		free(o ? o->id : NULL);
		free(o);
		free(r);
		conn_close(c, PT_LOG_ERROR, 1011, "out of memory");
		return;
	}
	memcpy(o->id, m->id, m->id_len);
	o->id[m->id_len] = '\0';
	o->id_len = m->id_len;
	o->c = c;
	o->r = r;
	o->listed = 1;
	o->next = c->ops;
	c->ops = o;
	c->nops++;
	c->refs++;                              /* dropped by op_req_freed */
	r->w = c->w;
	r->sink = &ws_sink;
	r->sink_ud = o;
	r->on_free = op_req_freed;
	r->resume = op_resume;
	r->media = GQLP_M_JSON;
	r->conf = c->conf;
	atomic_fetch_add(&c->conf->refs, 1);
	r->body = json_incref(m->root);
	r->vars = m->variables;
	r->L = L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->ctx_ref);
	r->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	r->co_ref = LUA_NOREF;
	if (m->operation_name && !(r->opname = strdup(m->operation_name))) {
		op_error(o, "out of memory");
		gqlp_req_free(r);
		return;
	}
	if (m->query_len > c->conf->limits.max_bytes) {
		op_error(o, "The query is larger than max_bytes.");
		gqlp_req_free(r);
		return;
	}
	if (!(r->doc = gqlp_doc_get(c->gw, c->conf, m->query, m->query_len))) {
		op_error(o, "Internal server error.");
		gqlp_req_free(r);
		return;
	}
	if (r->doc->errors) {   /* a JSON array of GraphQLError: the error payload */
		gqlp_metrics_refused();
		send_msg(c, "error", o->id, o->id_len, r->doc->errors, r->doc->errors_len);
		op_finish(o);
		gqlp_req_free(r);
		return;
	}
	if (!(def = gql_exec_operation(r->doc->doc, r->opname, &msg))) {
		char why[300];

		if (!msg) {   /* as the executor words it */
			snprintf(why, sizeof(why), "Unknown operation named \"%.200s\".",
			         r->opname ? r->opname : "");
			msg = why;
		}
		op_error(o, msg);
		gqlp_req_free(r);
		return;
	}
	r->mutation = def->operation == GQL_OP_MUTATION;
	if (def->operation == GQL_OP_SUBSCRIPTION) {
		r->subscription = 1;
		gqlp_sub_start(r);
		return;
	}
	/* resolver tasks run through op_resume (R->RESUME) with O */
	if (gqlp_exec_start(r, exec_done) != 0) {
		op_error(o, "Internal server error.");
		gqlp_req_free(r);
	}
}

/* Cancels every operation of C (its end). */
static void ops_cancel(struct conn *c)
{
	while (c->ops) {
		struct op *o = c->ops;
		struct gqlp_sub *s = o->sub;

		op_finish(o);
		o->sub = NULL;
		if (s)
			gqlp_sub_cancel(s);   /* may free O */
	}
}

/* ---- connection_init -------------------------------------------------------- */

/* The task run for connection_init: on_init, then graphql.context. */
static const char init_chunk[] =
	"local on_init, context, payload, ctx = ...\n"
	"local ack\n"
	"if on_init then\n"
	"  local ok, extra = on_init(payload, ctx)\n"
	"  if not ok then return false, extra end\n"
	"  if type(ok) == 'table' then ctx = ok end\n"
	"  ack = extra\n"
	"end\n"
	"if context then\n"
	"  local r = context(ctx)\n"
	"  if type(r) == 'table' then ctx = r end\n"
	"end\n"
	"return true, ctx, ack\n";

static void init_done(lua_State *co, int status, int nres, void *ud)
{
	struct conn *c = ud;

	if (!c->ws || c->closing) {
		/* closed meanwhile */
	} else if (status != LUA_OK) {
		const char *e = lua_tostring(co, -1);

		api()->log(gqlp_ctx, PT_LOG_ERROR, "graphql-ws %s: graphql.on_init: %s", c->tag,
		           e ? e : "error");
		conn_close(c, PT_LOG_WARN, 4500, "Internal server error");
	} else if (nres < 2 || !lua_toboolean(co, -nres)) {
		const char *why = nres >= 2 ? lua_tostring(co, -nres + 1) : NULL;

		conn_close(c, PT_LOG_INFO, GQLP_WS_FORBIDDEN, "Forbidden");
		if (why)
			api()->log(gqlp_ctx, PT_LOG_INFO, "graphql-ws %s: graphql.on_init refused: %s",
			           c->tag, why);
	} else {
		struct jbuf ack = { 0 };

		if (lua_istable(co, -nres + 1)) {
			lua_pushvalue(co, -nres + 1);
			lua_rawseti(co, LUA_REGISTRYINDEX, c->ctx_ref);
		}
		/* a table as the hook's second result: the ack's payload */
		if (nres >= 3 && lua_istable(co, -nres + 2) &&
		    (jb_lua(&ack, co, -nres + 2, 0) != 0 || ack.oom || ack.n < 2 || ack.p[0] != '{')) {
			api()->log(gqlp_ctx, PT_LOG_ERROR, "graphql-ws %s: graphql.on_init: the "
			           "connection_ack payload must be a table with string keys that "
			           "JSON can hold; sent without it", c->tag);
			ack.n = 0;
		}
		c->acked = 1;
		send_msg(c, "connection_ack", NULL, 0, ack.n ? ack.p : NULL, ack.n);
		free(ack.p);
	}
	lua_settop(co, 0);
	if (c->L && c->init_co_ref != LUA_NOREF)
		luaL_unref(c->L, LUA_REGISTRYINDEX, c->init_co_ref);
	c->init_co_ref = LUA_NOREF;
	conn_unref(c);
}

/* connection_init with PAYLOAD (an object or NULL): run the hooks. */
static void on_init(struct conn *c, json_t *payload)
{
	lua_State *L = c->L, *co;
	int top = lua_gettop(L), st, nres = 0;
	char *text = NULL;

	api()->timer_stop(c->init_timer);
	if (luaL_loadbufferx(L, init_chunk, sizeof(init_chunk) - 1, "=graphql.on_init", "t") != 0)
		goto fail;
	if (!gqlp_lua_push_init_fn(L))
		lua_pushnil(L);
	if (!gqlp_lua_push_context_fn(L))
		lua_pushnil(L);
	if (payload) {
		if (!(text = json_dumps(payload, JSON_COMPACT)))
			goto fail;
		if (gqlp_lua_json_decode(L, text, strlen(text)) != LUA_OK)
			goto fail;
	} else {
		lua_pushnil(L);
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->ctx_ref);
	if (!lua_isnil(L, -2)) {   /* ctx.connection_params = payload */
		lua_pushvalue(L, -2);
		lua_setfield(L, -2, "connection_params");
	}
	if (lua_isnil(L, -4) && lua_isnil(L, -3)) {
		/* no hook (the scripts set none, or there are no scripts and L is
		 * the worker's fallback state): acknowledge without a task */
		free(text);
		lua_settop(L, top);
		c->acked = 1;
		send_msg(c, "connection_ack", NULL, 0, NULL, 0);
		return;
	}
	co = lua_newthread(L);
	c->init_co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_xmove(L, co, 5);
	free(text);
	lua_settop(L, top);
	c->refs++;                              /* dropped by init_done */
	st = api()->ws_lua_task_resume(c->ws, co, 4, &nres, init_done, c);
	if (st != LUA_YIELD)
		init_done(co, st, nres, c);
	return;
fail:
	free(text);
	api()->log(gqlp_ctx, PT_LOG_ERROR, "graphql-ws %s: connection_init: %s", c->tag,
	           lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "out of memory");
	lua_settop(L, top);
	conn_close(c, PT_LOG_WARN, 4500, "Internal server error");
}

static void init_timeout(void *ud)
{
	struct conn *c = ud;

	if (!c->init_seen)
		conn_close(c, PT_LOG_INFO, GQLP_WS_INIT_TIMEOUT, "Connection initialisation timeout");
}

/* ---- the socket --------------------------------------------------------------- */

static void on_message(pt_ws *ws, const char *data, size_t len, int binary, void *ud)
{
	struct conn *c = ud;
	struct gqlp_wsm m;
	const char *why = NULL;
	char reason[128];

	(void)binary;   /* graphql-ws reads either as text; bad UTF-8 is bad JSON */
	if (!c->ws)
		c->ws = ws;
	if (c->closing)
		return;
	if (gqlp_wsm_parse(data, len, &m, &why) != 0) {
		snprintf(reason, sizeof(reason), "Invalid message: %s", why);
		conn_close(c, PT_LOG_INFO, GQLP_WS_BAD_MESSAGE, reason);
		return;
	}
	switch (m.type) {
	case GQLP_WSM_INIT:
		if (c->init_seen) {
			conn_close(c, PT_LOG_INFO, GQLP_WS_TOO_MANY_INITS,
			           "Too many initialisation requests");
			break;
		}
		c->init_seen = 1;
		on_init(c, m.payload);
		break;
	case GQLP_WSM_PING: {
		char *p = m.payload ? json_dumps(m.payload, JSON_COMPACT) : NULL;

		send_msg(c, "pong", NULL, 0, p, p ? strlen(p) : 0);
		free(p);
		break;
	}
	case GQLP_WSM_PONG:
		break;
	case GQLP_WSM_SUBSCRIBE:
		if (!c->acked) {
			conn_close(c, PT_LOG_INFO, GQLP_WS_UNAUTHORIZED, "Unauthorized");
		} else if (op_find(c, m.id, m.id_len)) {
			gqlp_wsm_reason(reason, sizeof(reason), "Subscriber for ", m.id, m.id_len,
			                " already exists");
			conn_close(c, PT_LOG_INFO, GQLP_WS_DUPLICATE, reason);
		} else if (c->nops >= c->conf->ws_max_operations) {
			char msg[128];
			struct jbuf b = { 0 };

			api()->log(gqlp_ctx, PT_LOG_WARN, "graphql-ws %s: refused an operation: "
			           "%u already run (ws.max_operations)", c->tag, c->nops);
			snprintf(msg, sizeof(msg), "Too many operations at once on this connection "
			         "(at most %u).", c->conf->ws_max_operations);
			jb_put(&b, "[{\"message\":", 12);
			jb_cstr(&b, msg);
			jb_put(&b, "}]", 2);
			if (!b.oom)
				send_msg(c, "error", m.id, m.id_len, b.p, b.n);
			free(b.p);
		} else {
			op_start(c, &m);
		}
		break;
	case GQLP_WSM_COMPLETE: {
		struct op *o = op_find(c, m.id, m.id_len);   /* unknown ids are ignored */

		if (o) {
			struct gqlp_sub *s = o->sub;

			op_finish(o);
			o->sub = NULL;
			if (s)
				gqlp_sub_cancel(s);   /* may free O */
		}
		break;
	}
	}
	json_decref(m.root);
}

static void on_close(pt_ws *ws, unsigned code, pt_str_t reason, void *ud)
{
	struct conn *c = ud;

	(void)ws;
	api()->log(gqlp_ctx, PT_LOG_DEBUG, "graphql-ws %s: closed (%u %.*s), %u operation(s) "
	           "cancelled", c->tag, code, (int)(reason.len > 123 ? 123 : reason.len),
	           reason.ptr ? reason.ptr : "", c->nops);
	c->closing = 1;
	ops_cancel(c);
	c->ws = NULL;
	api()->timer_free(c->init_timer);
	c->init_timer = NULL;
	/* the state is valid while the connection lives: let go of ctx now */
	luaL_unref(c->L, LUA_REGISTRYINDEX, c->ctx_ref);
	c->ctx_ref = LUA_NOREF;
	conn_unref(c);
}

/* ---- the upgrade ------------------------------------------------------------- */

int gqlp_ws_wanted(pt_exchange *x)
{
	pt_str_t v;

	for (unsigned i = 0; api()->exchange_header(x, PT_STR("upgrade"), i, &v) == 0; i++)
		for (size_t j = 0; j + 9 <= v.len; j++)
			if (!strncasecmp(v.ptr + j, "websocket", 9))
				return 1;
	return 0;
}

static int ctx_p(lua_State *L)
{
	gqlp_push_ctx(L, lua_touserdata(L, 1));
	return 1;
}

static int refuse(pt_exchange *x, int status, const char *msg)
{
	struct jbuf b = { 0 };
	int rc;

	jb_put(&b, "{\"errors\":[{\"message\":", 22);
	jb_cstr(&b, msg);
	jb_put(&b, "}]}", 3);
	api()->exchange_header_set(x, PT_STR("content-type"),
	                           PT_STR("application/json; charset=utf-8"));
	rc = b.oom ? PT_ENOMEM : api()->exchange_respond(x, status, (pt_str_t){ b.p, b.n });
	free(b.p);
	return rc;
}

int gqlp_ws_upgrade(pt_exchange *x, struct gqlp_conf *conf, struct gqlp_worker *gw)
{
	static const pt_str_t protos[] = { PT_STR(PROTOCOL) };
	static const struct pt_ws_ops ops = { sizeof(struct pt_ws_ops), on_message, on_close };
	struct pt_ws_opts o = {
		.size = sizeof(o),
		.subprotocols = protos,
		.nsubprotocols = 1,
		.require_subprotocol = 1,
		.max_message = conf->ws_max_message,
		.ping_interval = conf->ws_ping_interval,
	};
	struct conn *c;
	lua_State *L;
	pt_str_t rid, addr;
	int err = 0;

	if (!conf->ws) {
		gqlp_conf_unref(conf);
		return refuse(x, 400, "GraphQL over WebSocket is off here (graphql { ws = false }).");
	}
	if (!PT_API_HAS(api(), ws_accept)) {
		gqlp_conf_unref(conf);
		return refuse(x, 501, "This portico cannot accept WebSocket connections "
		              "(plugin ABI 1.6 needed).");
	}
	if (!(L = api()->exchange_lua(x)) && gw) {
		if (!gw->fallback && (gw->fallback = luaL_newstate()))
			luaL_openlibs(gw->fallback);
		L = gw->fallback;
	}
	if (!L || !(c = calloc(1, sizeof(*c)))) {
		gqlp_conf_unref(conf);
		return refuse(x, 500, "Internal server error.");
	}
	c->refs = 1;
	c->conf = conf;
	c->gw = gw;
	c->L = L;
	c->init_co_ref = LUA_NOREF;
	lua_pushcfunction(L, ctx_p);
	lua_pushlightuserdata(L, x);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		conn_unref(c);
		return refuse(x, 500, "Internal server error.");
	}
	c->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (!(c->ws = api()->ws_accept(x, &o, &ops, c, &err))) {
		/* answered (400/426) when ERR is PT_EINVAL; else the core answers 500 */
		luaL_unref(L, LUA_REGISTRYINDEX, c->ctx_ref);
		conn_unref(c);
		if (err == PT_EINVAL)
			api()->log(gqlp_ctx, PT_LOG_INFO, "graphql-ws: upgrade refused (no valid "
			           "handshake offering " PROTOCOL ")");
		return err == PT_EINVAL ? 0 : (err ? err : PT_ENOMEM);
	}
	c->w = api()->ws_worker(c->ws);
	rid = api()->ws_request_id(c->ws);
	addr = api()->ws_remote_addr(c->ws);
	snprintf(c->tag, sizeof(c->tag), "#%llu (%.*s)",
	         (unsigned long long)api()->ws_id(c->ws), (int)(rid.len > 40 ? 40 : rid.len),
	         rid.ptr ? rid.ptr : "");
	if (conf->ws_init_timeout > 0 && (c->init_timer = api()->timer_new(c->w, init_timeout, c)))
		api()->timer_start(c->init_timer, (uint64_t)(conf->ws_init_timeout * 1000.0 + 0.5), 0);
	api()->log(gqlp_ctx, PT_LOG_DEBUG, "graphql-ws %s: connected from %.*s", c->tag,
	           (int)addr.len, addr.ptr ? addr.ptr : "");
	return 0;
}
