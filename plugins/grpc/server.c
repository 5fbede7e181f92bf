/*
 * server.c - the "grpc" handler: one call's life.
 *
 * Routes made by grpc.service stream the request body (stream_body), so
 * the 5-byte length-prefixed messages are cut as the DATA frames arrive
 * (body.c): a length past max_receive_message is answered at once
 * (RESOURCE_EXHAUSTED) without reading the message. A unary or
 * server-streaming handler runs once its one message and the end of the
 * request are in; a client-streaming or bidi handler runs at once and takes
 * messages with ctx:recv(), which waits for the next one (messages queue
 * meanwhile; past a bound the body is paused, ABI 1.7, or the call ends
 * with RESOURCE_EXHAUSTED).
 *
 * Replies: a unary reply goes out as one exchange_respond (HEADERS, DATA,
 * trailers), built in a per-thread buffer; streamed messages with
 * exchange_write; an error before any message as Trailers-Only (one
 * HEADERS frame with END_STREAM). The status goes in grpc-status,
 * grpc-message (percent-encoded) and grpc-status-details-bin.
 *
 * The call ends once (grpc_call_finish): by the handler's return or error,
 * by the deadline (grpc-timeout: DEADLINE_EXCEEDED), or by the client
 * leaving (RST_STREAM: nothing is sent). A handler still running then is
 * abandoned (ABI 1.7) or, waiting in ctx:recv(), woken with an error; its
 * result is ignored. The call's memory is the exchange's, kept (a
 * reference) until both the answer and the handler are over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <lua.h>
#include <lauxlib.h>

#include "grpc_priv.h"
#include "server_priv.h"

#define K_THREADS "portico.grpc.threads"
#define MAX_THREADS 64
#define ACCEPT_ENCODING "identity, deflate, gzip"

int (*grpc_web_handle)(pt_exchange *x, const pt_conf *opts, void *ud);

static const struct pt_api *A(void)
{
	return grpc_api;
}

/* The reply buffer of this thread: [5-byte prefix][message]. */
static __thread struct pb_buf obuf;

void grpc_server_worker_stop(void)
{
	pb_buf_free(&obuf);
}

/* ---- coroutines (as ws_endpoint.c: kept per state for the next call) -------------- */

static lua_State *co_take(lua_State *L, int *ref)
{
	lua_State *co;
	lua_Integer n;

	if (!lua_checkstack(L, 4))
		return NULL;
	lua_getfield(L, LUA_REGISTRYINDEX, K_THREADS);
	n = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0;
	if (n > 0) {
		lua_rawgeti(L, -1, n);
		co = lua_tothread(L, -1);
		*ref = luaL_ref(L, LUA_REGISTRYINDEX);
		lua_pushnil(L);
		lua_rawseti(L, -2, n);
		lua_pop(L, 1);
		return co;
	}
	lua_pop(L, 1);
	co = lua_newthread(L);
	*ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return co;
}

static void co_give(lua_State *L, lua_State *co, int ref, int clean)
{
	if (clean && lua_status(co) == LUA_OK && lua_checkstack(L, 3)) {
		lua_settop(co, 0);
		if (lua_getfield(L, LUA_REGISTRYINDEX, K_THREADS) != LUA_TTABLE) {
			lua_pop(L, 1);
			lua_newtable(L);
			lua_pushvalue(L, -1);
			lua_setfield(L, LUA_REGISTRYINDEX, K_THREADS);
		}
		if (lua_rawlen(L, -1) < MAX_THREADS) {
			lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
			lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		}
		lua_pop(L, 1);
	}
	luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

/* ---- answering ------------------------------------------------------------------------ */

pt_exchange *grpc_call_exchange(struct gcall *c)
{
	return c->finished ? NULL : c->x;
}

const struct gconf *grpc_call_conf(struct gcall *c)
{
	return c->conf;
}

static void add_head(struct gcall *c)
{
	const struct pt_api *a = A();

	a->exchange_header_add(c->x, PT_STR("content-type"), PT_STR("application/grpc"));
	a->exchange_header_add(c->x, PT_STR("grpc-accept-encoding"), PT_STR(ACCEPT_ENCODING));
	if (c->enc_out != GRPC_ENC_IDENTITY)
		a->exchange_header_add(c->x, PT_STR("grpc-encoding"),
		                       (pt_str_t){ grpc_enc_name(c->enc_out),
		                                   strlen(grpc_enc_name(c->enc_out)) });
}

/* Whether to compress a LEN-byte message, and with what. */
static int pick_encoding(struct gcall *c, size_t len)
{
	if (c->compress == 0 || !c->accept)
		return GRPC_ENC_IDENTITY;
	if (c->compress < 0 && (!c->conf->compress_min || len < c->conf->compress_min))
		return GRPC_ENC_IDENTITY;
	return c->accept & (1u << GRPC_ENC_GZIP) ? GRPC_ENC_GZIP : GRPC_ENC_DEFLATE;
}

/* Frames LEN bytes at MSG into obuf (prefix + maybe compressed bytes).
 * MSG may be obuf.p + 5 (encoded in place). 0, or -1 (memory). */
static int frame_into_obuf(struct gcall *c, const uint8_t *msg, size_t len, int enc)
{
	uint32_t n;

	if (enc != GRPC_ENC_IDENTITY) {
		struct pb_buf z = { 0 };

		if (grpc_deflate(enc, msg, len, &z) != 0) {
			pb_buf_free(&z);
			return -1;
		}
		obuf.len = 0;
		if (pb_buf_add(&obuf, "\0\0\0\0\0", 5) != 0 || pb_buf_add(&obuf, z.p, z.len) != 0) {
			pb_buf_free(&z);
			return -1;
		}
		pb_buf_free(&z);
		c->sent_compressed = 1;
	} else if (!obuf.p || msg != obuf.p + 5) {
		obuf.len = 0;
		if (pb_buf_add(&obuf, "\0\0\0\0\0", 5) != 0 || pb_buf_add(&obuf, msg, len) != 0)
			return -1;
	} else {
		obuf.len = 5 + len;
	}
	n = (uint32_t)(obuf.len - 5);
	obuf.p[0] = enc != GRPC_ENC_IDENTITY;
	obuf.p[1] = (uint8_t)(n >> 24);
	obuf.p[2] = (uint8_t)(n >> 16);
	obuf.p[3] = (uint8_t)(n >> 8);
	obuf.p[4] = (uint8_t)n;
	return 0;
}

int grpc_call_send(struct gcall *c, const uint8_t *msg, size_t len)
{
	const struct pt_api *a = A();
	int enc;

	if (c->finished)
		return PT_ESTATE;
	if (len > c->conf->max_send)
		return PT_ELIMIT;
	if (!c->headers_sent) {
		/* streaming: say gzip up front when replies may be compressed, so
		 * each later message may be */
		if (c->compress != 0 && c->accept && (c->compress > 0 || c->conf->compress_min))
			c->enc_out = c->accept & (1u << GRPC_ENC_GZIP) ? GRPC_ENC_GZIP : GRPC_ENC_DEFLATE;
		add_head(c);
		a->exchange_status_set(c->x, 200);
	}
	enc = c->enc_out == GRPC_ENC_IDENTITY ? GRPC_ENC_IDENTITY : pick_encoding(c, len);
	if (enc != GRPC_ENC_IDENTITY)
		enc = c->enc_out;
	if (frame_into_obuf(c, msg, len, enc) != 0)
		return PT_ENOMEM;
	c->headers_sent = 1;
	c->nsent++;
	return a->exchange_write(c->x, obuf.p, obuf.len);
}

/* The status trailers (or headers, for Trailers-Only) of an end. */
static void add_status(struct gcall *c, int (*add)(pt_exchange *, pt_str_t, pt_str_t), int code,
                       const char *msg, size_t msglen, const struct pb_buf *details)
{
	add(c->x, PT_STR("grpc-status"), grpc_code_str(code));
	if (msglen) {
		struct pb_buf b = { 0 };

		if (grpc_percent_encode(msg, msglen > 4096 ? 4096 : msglen, &b) == 0)
			add(c->x, PT_STR("grpc-message"), (pt_str_t){ (const char *)b.p, b.len });
		pb_buf_free(&b);
	}
	if (details && details->len) {
		struct pb_buf b = { 0 };

		if (grpc_base64_encode(details->p, details->len, &b) == 0)
			add(c->x, PT_STR("grpc-status-details-bin"), (pt_str_t){ (const char *)b.p,
			                                                         b.len });
		pb_buf_free(&b);
	}
}

static void call_release(struct gcall *c);

/*
 * Ends the call: a unary reply in obuf (UNARY_LEN > 0: framed already) or
 * the status alone. Only the first end counts.
 */
static void finish(struct gcall *c, int code, const char *msg, size_t msglen,
                   const struct pb_buf *details, size_t unary_len)
{
	const struct pt_api *a = A();

	if (c->finished)
		return;
	c->finished = 1;
	c->code = code;
	grpc_metrics_call(c->e.path, code);
	if (c->timer)
		a->timer_stop(c->timer);
	if (!c->gone) {
		if (c->headers_sent) {
			add_status(c, a->exchange_trailer_add, code, msg, msglen, details);
			a->exchange_finish(c->x);
		} else if (unary_len || c->ntrailers_set) {
			if (!unary_len)   /* trailers of the handler's: headers, then trailers */
				a->exchange_header_add(c->x, PT_STR("content-type"),
				                       PT_STR("application/grpc"));
			else
				add_head(c);
			add_status(c, a->exchange_trailer_add, code, msg, msglen, details);
			a->exchange_respond(c->x, 200, (pt_str_t){ (const char *)obuf.p, unary_len });
			if (obuf.cap > ((size_t)1 << 20))
				pb_buf_free(&obuf);   /* a large reply: do not keep its buffer */
		} else {
			/* Trailers-Only */
			a->exchange_header_add(c->x, PT_STR("content-type"), PT_STR("application/grpc"));
			a->exchange_header_add(c->x, PT_STR("grpc-accept-encoding"),
			                       PT_STR(ACCEPT_ENCODING));
			add_status(c, a->exchange_header_add, code, msg, msglen, details);
			a->exchange_respond(c->x, 200, (pt_str_t){ "", 0 });
		}
	}
	call_release(c);
}

void grpc_call_finish(struct gcall *c, int code, const char *msg, size_t msglen,
                      const struct pb_buf *details)
{
	finish(c, code, msg, msglen, details, 0);
}

/* An error the server found in the request: logged, then the status. */
void grpc_call_fail(struct gcall *c, int code, const char *msg)
{
	pt_str_t path = A()->exchange_path(c->x), id = A()->exchange_request_id(c->x);

	A()->log(grpc_ctx, PT_LOG_INFO, "%.*s (request %.*s): %s: %s", (int)path.len, path.ptr,
	         (int)id.len, id.ptr, grpc_code_name(code), msg);
	finish(c, code, msg, strlen(msg), NULL, 0);
}

/* ---- the end of everything ---------------------------------------------------------------- */

static void queue_free(struct gcall *c)
{
	while (c->q_head) {
		struct gmsg *m = c->q_head;

		c->q_head = m->next;
		free(m);
	}
	c->q_tail = NULL;
	c->q_bytes = 0;
}

/* Once the answer is over and no handler runs: drop what the call holds. */
static void call_release(struct gcall *c)
{
	const struct pt_api *a = A();

	if (!c->finished || c->running || c->released)
		return;
	c->released = 1;
	if (c->ctx_ref != LUA_NOREF) {
		grpc_ctx_detach(c->L, c->ctx_ref);
		luaL_unref(c->L, LUA_REGISTRYINDEX, c->ctx_ref);
		c->ctx_ref = LUA_NOREF;
	}
	if (c->timer) {
		a->timer_free(c->timer);
		c->timer = NULL;
	}
	if (c->release_hook)
		c->release_hook(c);
	queue_free(c);
	pb_buf_free(&c->in.cur);
	if (!c->gone)
		a->exchange_on_abort(c->x, NULL, NULL);
#if PT_ABI_MINOR >= 10
	if (PT_API_HAS(a, exchange_on_drain))
		a->exchange_on_drain(c->x, NULL, NULL);
#endif
	grpc_conf_unref(c->conf);
	a->exchange_unref(c->x);
}

/* Stops a handler still running after the end: abandoned (1.7) unless it
 * waits in ctx:recv() or ctx:send(), which are woken with an error instead. */
static void stop_handler(struct gcall *c)
{
	if (!c->running)
		return;
	if (c->wait) {
		pt_wait *w = c->wait;

		c->wait = NULL;
		A()->lua_wait_wake(w, grpc_push_recv_error, c);
		return;
	}
	if (c->send_wait) {   /* ctx:send() waiting for a slow client: nil, "cancelled" */
		pt_wait *w = c->send_wait;

		c->send_wait = NULL;
		A()->lua_wait_wake(w, grpc_push_send_result, c);
		return;
	}
#if PT_ABI_MINOR >= 7
	if (PT_API_HAS(A(), lua_task_abandon) && A()->lua_task_abandon(c->co) == 0) {
		c->running = 0;
		luaL_unref(c->L, LUA_REGISTRYINDEX, c->co_ref);   /* never reused */
		c->co_ref = LUA_NOREF;
		c->co = NULL;
		call_release(c);
	}
#endif
}

/* The deadline and the client leaving end the call, which may drop the
 * last reference to its exchange (and C with its pool): both hold one of
 * their own meanwhile. */
static void on_deadline(void *ud)
{
	struct gcall *c = ud;
	pt_exchange *x = c->x;

	c->cancelled = 1;
	if (c->finished)
		return;
	A()->exchange_ref(x);
	grpc_call_fail(c, GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
	stop_handler(c);
	A()->exchange_unref(x);
}

static void on_abort(void *ud)
{
	struct gcall *c = ud;
	pt_exchange *x = c->x;
	pt_str_t path = A()->exchange_path(x);

	A()->exchange_ref(x);
	c->cancelled = 1;
	c->gone = 1;
	if (!c->finished)
		A()->log(grpc_ctx, PT_LOG_DEBUG, "%.*s: the client cancelled the call",
		         (int)path.len, path.ptr);
	finish(c, GRPC_CANCELLED, NULL, 0, NULL, 0);
	stop_handler(c);
	A()->exchange_unref(x);
}

/* ---- the handler's end -------------------------------------------------------------------- */

int grpc_error_is(lua_State *L, int idx);

/* The error value on top of CO: a grpc.error gives its status; anything
 * else is logged and answered INTERNAL without its text. */
static void handler_error(struct gcall *c, lua_State *co)
{
	if (grpc_error_is(co, -1)) {
		int code;
		size_t mlen = 0;
		const char *msg;
		struct pb_buf det = { 0 };

		lua_getfield(co, -1, "code");
		code = (int)lua_tointeger(co, -1);
		lua_getfield(co, -2, "message");
		msg = lua_tolstring(co, -1, &mlen);
		if (lua_getfield(co, -3, "details") == LUA_TTABLE) {
			lua_Integer n = (lua_Integer)lua_rawlen(co, -1);
			pt_str_t *d = calloc((size_t)n * 2 + 1, sizeof(*d));

			for (lua_Integer i = 1; d && i <= n; i++) {
				lua_rawgeti(co, -1, i);
				lua_getfield(co, -1, "type_url");
				d[2 * (i - 1)].ptr = lua_tolstring(co, -1, &d[2 * (i - 1)].len);
				lua_getfield(co, -2, "value");
				d[2 * (i - 1) + 1].ptr = lua_tolstring(co, -1, &d[2 * (i - 1) + 1].len);
				lua_pop(co, 3);   /* the strings stay in the details table */
			}
			if (d)
				grpc_status_proto(code, msg, mlen, d, (unsigned)n, &det);
			free(d);
		}
		finish(c, code, msg, mlen, det.len ? &det : NULL, 0);
		pb_buf_free(&det);
		lua_pop(co, 3);
		return;
	}
	{
		pt_str_t path = A()->exchange_path(c->x), id = A()->exchange_request_id(c->x);
		const char *msg = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1)
		                  : "(an error value that is not a string)";

		A()->log(grpc_ctx, PT_LOG_ERROR, "%.*s (request %.*s): handler error: %s",
		         (int)path.len, path.ptr, (int)id.len, id.ptr, msg);
		finish(c, GRPC_INTERNAL, "internal error", 14, NULL, 0);
	}
}

/* Encodes the value at IDX of CO as the method's reply into obuf after 5
 * bytes. 0, or -1 after answering INTERNAL (logged). */
static int encode_reply(struct gcall *c, lua_State *co, int idx, size_t *len)
{
	char err[256];

	obuf.len = 0;
	if (pb_buf_add(&obuf, "\0\0\0\0\0", 5) != 0 ||
	    pb_encode_lua(co, idx, c->conf->reg, c->e.m->out, &obuf, err, sizeof(err)) != 0) {
		pt_str_t path = A()->exchange_path(c->x);

		A()->log(grpc_ctx, PT_LOG_ERROR, "%.*s: the handler's reply is not a %s: %s",
		         (int)path.len, path.ptr, pb_msg_name(c->e.m->out), err);
		finish(c, GRPC_INTERNAL, "internal error: bad reply", 25, NULL, 0);
		return -1;
	}
	*len = obuf.len - 5;
	return 0;
}

int grpc_ctx_send_value(struct gcall *c, lua_State *co, int idx, const char **why)
{
	size_t len;
	char err[256];
	int rc;

	if (c->finished) {
		*why = c->cancelled ? "cancelled" : "the call has ended";
		return -1;
	}
	obuf.len = 0;
	if (pb_buf_add(&obuf, "\0\0\0\0\0", 5) != 0 ||
	    pb_encode_lua(co, idx, c->conf->reg, c->e.m->out, &obuf, err, sizeof(err)) != 0) {
		lua_pushfstring(co, "ctx:send: not a %s: %s", pb_msg_name(c->e.m->out), err);
		*why = lua_tostring(co, -1);
		return -2;   /* the caller raises */
	}
	len = obuf.len - 5;
	rc = grpc_call_send(c, obuf.p + 5, len);
	if (rc == PT_ELIMIT) {
		grpc_call_fail(c, GRPC_RESOURCE_EXHAUSTED, "a reply is larger than max_send_message");
		*why = "the message is larger than max_send_message: the call has ended";
		return -1;
	}
	if (rc != 0) {
		*why = "the call has ended";
		return -1;
	}
	return 0;
}

static void handler_done(struct gcall *c, lua_State *co, int status, int nres)
{
	int top = lua_gettop(co), first = top - nres + 1;

	c->running = 0;
	if (c->finished) {
		/* ended meanwhile (deadline, client gone): its result goes nowhere */
	} else if (status != LUA_OK) {
		handler_error(c, co);
	} else if (nres >= 2 && lua_isnil(co, first) && grpc_error_is(co, first + 1)) {
		lua_pushvalue(co, first + 1);
		handler_error(c, co);
	} else if (c->e.kind == GRPC_UNARY || c->e.kind == GRPC_CLIENT_STREAM) {
		size_t len;

		if (nres < 1 || lua_isnil(co, first)) {
			pt_str_t path = A()->exchange_path(c->x);

			A()->log(grpc_ctx, PT_LOG_ERROR, "%.*s: the handler returned no message",
			         (int)path.len, path.ptr);
			finish(c, GRPC_INTERNAL, "internal error: no reply", 24, NULL, 0);
		} else if (encode_reply(c, co, first, &len) == 0) {
			if (len > c->conf->max_send) {
				grpc_call_fail(c, GRPC_RESOURCE_EXHAUSTED, "the reply is larger than max_send_message");
			} else {
				int enc = pick_encoding(c, len);

				c->enc_out = enc;
				if (frame_into_obuf(c, obuf.p + 5, len, enc) == 0)
					finish(c, GRPC_OK, NULL, 0, NULL, obuf.len);
				else
					grpc_call_fail(c, GRPC_INTERNAL, "cannot compress the reply");
			}
		}
	} else {
		finish(c, GRPC_OK, NULL, 0, NULL, 0);
	}
	if (c->co) {
		co_give(c->L, co, c->co_ref, status == LUA_OK);
		c->co = NULL;
		c->co_ref = LUA_NOREF;
	}
	call_release(c);
}

static void task_done(lua_State *co, int status, int nres, void *ud)
{
	handler_done(ud, co, status, nres);
}

/* Runs the Lua handler: (req, ctx) for unary and server streaming, (ctx)
 * for the others. MSG/LEN: the request message (unary kinds). */
void grpc_call_run(struct gcall *c, const uint8_t *msg, size_t len)
{
	const struct pt_api *a = A();
	lua_State *co;
	int nargs, nres = 0, st;
	char err[256];

	if (!(co = co_take(c->L, &c->co_ref))) {
		grpc_call_fail(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	c->co = co;
	lua_rawgeti(co, LUA_REGISTRYINDEX, c->e.fn_ref);
	if (c->e.kind == GRPC_UNARY || c->e.kind == GRPC_SERVER_STREAM) {
		if (pb_decode_lua(co, c->conf->reg, c->e.m->in, msg, len, err, sizeof(err)) != 0) {
			lua_settop(co, 0);
			co_give(c->L, co, c->co_ref, 1);
			c->co = NULL;
			lua_pushfstring(c->L, "cannot decode the request (%s): %s",
			                pb_msg_name(c->e.m->in), err);
			grpc_call_fail(c, GRPC_INTERNAL, lua_tostring(c->L, -1));
			lua_pop(c->L, 1);
			return;
		}
		grpc_ctx_push(co, c);
		nargs = 2;
	} else {
		grpc_ctx_push(co, c);
		nargs = 1;
	}
	c->running = 1;
	st = a->lua_task_resume(c->x, co, nargs, &nres, task_done, c);
	if (st == LUA_YIELD)
		return;
	handler_done(c, co, st, nres);
}

/* ---- the handler ------------------------------------------------------------------------ */

static int content_type_ok(pt_str_t ct)
{
	/* application/grpc, application/grpc+proto, application/grpc;... */
	return ct.len >= 16 && !strncasecmp(ct.ptr, "application/grpc", 16) &&
	       (ct.len == 16 || ct.ptr[16] == '+' || ct.ptr[16] == ';');
}

static double now_unix(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

int grpc_server_handle(pt_exchange *x, const pt_conf *opts, void *ud)
{
	const struct pt_api *a = A();
	struct gcall *c;
	struct gstate *s;
	lua_State *L;
	int64_t id = 0, ms = -1;
	pt_str_t ct = { "", 0 }, v;

	a->exchange_header(x, PT_STR("content-type"), 0, &ct);
	if (!content_type_ok(ct)) {
		if (ct.len >= 20 && !strncasecmp(ct.ptr, "application/grpc-web", 20) && grpc_web_handle)
			return grpc_web_handle(x, opts, ud);
		a->exchange_header_set(x, PT_STR("content-type"), PT_STR("text/plain"));
		return a->exchange_respond(x, 415, PT_STR("this is a gRPC method: send content-type "
		                                          "application/grpc over HTTP/2\n"));
	}
	if (!(L = a->exchange_lua(x)) || !(s = grpc_state(L)) || !s->conf ||
	    a->conf_int(opts, "grpc_method", &id) != 0 || id < 1 || (uint64_t)id > s->n) {
		pt_str_t p = a->exchange_path(x);

		a->log(grpc_ctx, PT_LOG_ERROR, "%.*s: the \"grpc\" handler serves the routes "
		       "grpc.service makes, not a route of its own", (int)p.len, p.ptr);
		return PT_EINVAL;
	}
	if (!(c = a->exchange_alloc(x, sizeof(*c))))
		return PT_ENOMEM;
	memset(c, 0, sizeof(*c));
	c->x = x;
	c->L = L;
	c->e = s->v[id - 1];
	c->conf = s->conf;
	grpc_conf_ref(c->conf);
	c->co_ref = c->ctx_ref = LUA_NOREF;
	c->compress = -1;
	a->exchange_ref(x);
	if (a->exchange_on_abort(x, on_abort, c) != 0) {
		c->gone = 1;
		c->finished = 1;
		call_release(c);
		return 0;
	}
	if (a->exchange_header(x, PT_STR("grpc-accept-encoding"), 0, &v) == 0)
		c->accept = grpc_enc_accepted(v);
	if (a->exchange_header(x, PT_STR("grpc-encoding"), 0, &v) == 0 &&
	    (c->enc_in = grpc_enc_parse(v)) == GRPC_ENC_UNKNOWN) {
		char msg[160];

		snprintf(msg, sizeof(msg), "grpc-encoding %.*s is not supported (%s)",
		         (int)(v.len > 64 ? 64 : v.len), v.ptr, ACCEPT_ENCODING);
		grpc_call_fail(c, GRPC_UNIMPLEMENTED, msg);
		return 0;
	}
	if (a->exchange_header(x, PT_STR("grpc-timeout"), 0, &v) == 0 &&
	    (ms = grpc_timeout_parse(v)) < 0) {
		grpc_call_fail(c, GRPC_INTERNAL, "a malformed grpc-timeout");
		return 0;
	}
	if (ms < 0 && c->conf->default_timeout > 0)
		ms = (int64_t)(c->conf->default_timeout * 1000);
	if (ms >= 0) {
		c->deadline = now_unix() + (double)ms / 1000;
		if (!(c->timer = a->timer_new(a->exchange_worker(x), on_deadline, c)) ||
		    a->timer_start(c->timer, (uint64_t)(ms ? ms : 1), 0) != 0) {
			grpc_call_fail(c, GRPC_RESOURCE_EXHAUSTED, "cannot start the deadline's timer");
			return 0;
		}
	}
	if (!c->e.builtin && c->e.fn_ref == LUA_NOREF) {
		char msg[300];

		snprintf(msg, sizeof(msg), "method %s is not implemented", c->e.m->path);
		finish(c, GRPC_UNIMPLEMENTED, msg, strlen(msg), NULL, 0);
		return 0;
	}
	if (!c->e.builtin && (c->e.kind == GRPC_CLIENT_STREAM || c->e.kind == GRPC_BIDI))
		grpc_call_run(c, NULL, 0);
	if (!c->finished)
		a->exchange_body_read(x, grpc_call_on_body, c);
	return 0;
}
