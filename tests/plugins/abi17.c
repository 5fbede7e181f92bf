/*
 * A fixture plugin that drives ABI 1.7 from C, for tests/integration/
 * test_abi17.py: streaming upstream calls, request body flow control,
 * abandoned Lua tasks, and a full-duplex HTTP/2 handler.
 *
 *   handler "abi17.call"     (stream_body route) a ucall to route option
 *                            `upstream` or `url` (path: the request's),
 *                            the request body streamed into it (paused at
 *                            PT_UCALL_HIGH, resumed by drain), the response
 *                            streamed back with its trailers; options
 *                            timeout_ms, cancel_after (bytes: ucall_cancel
 *                            from inside data, then "cancelled after N"),
 *                            stop_after (bytes: data returns -1),
 *                            pause_ms (pause after the first bytes, then go
 *                            on). Trailers x-ucall-err, x-ucall-msg,
 *                            x-ucall-bytes, x-ucall-early (bytes that came
 *                            while paused: must be 0).
 *   handler "abi17.duplex"   (stream_body route) writes "echo:" and each
 *                            chunk at once, trailer x-chunks at the end.
 *   handler "abi17.empty"    option mode: "trailers" (a streamed response
 *                            with no bytes and a trailer), "headers" (only
 *                            headers: trailers-only).
 *   handler "abi17.sink"     (stream_body route) pauses its body after each
 *                            chunk for option delay_ms (default 20), or
 *                            holds it hold_ms once at the first chunk;
 *                            answers the byte count. early = true: pauses
 *                            and answers at the first chunk, never resumes.
 *   handler "abi17.fetch"    exchange_upstream_request to option
 *                            `upstream`, path /<query>; answers the status,
 *                            body length and the response's trailers.
 *   handler "abi17.abandon"  runs a Lua task `sleep(2)` and abandons it
 *                            after 100 ms; "abi17.stats" says how many
 *                            task done callbacks ran (must stay 0).
 *   handler "abi17.ws"       a WebSocket whose each message starts such a
 *                            task (ws_lua_task_resume) and abandons it.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <portico/portico.h>

static const struct pt_api *api;
static unsigned task_dones, abandons;

/* ---- abi17.call ------------------------------------------------------------ */

struct call {
	pt_exchange *x;
	pt_ucall *c;
	pt_timer *tmr;
	double cancel_after, stop_after, pause_ms;
	uint64_t bytes, early;
	int paused, body_paused, started, answered, ended;
};

/* S lives in X's pool: the body's calls, which go on after the answer
 * (they stop only for a paused body), find it with s->c NULL. */
static void call_free(struct call *s)
{
	if (s->tmr)
		api->timer_free(s->tmr);
	s->tmr = NULL;
	s->c = NULL;
	api->exchange_on_abort(s->x, NULL, NULL);
	api->exchange_unref(s->x);
}

static int c_head(pt_ucall *c, int status, const pt_str_t *h, uint32_t n, void *ud)
{
	struct call *s = ud;

	(void)c;
	api->exchange_status_set(s->x, status);
	for (uint32_t i = 0; i < n; i++)
		if ((h[2 * i].len == 12 && !memcmp(h[2 * i].ptr, "content-type", 12)) ||
		    (h[2 * i].len > 2 && !memcmp(h[2 * i].ptr, "x-", 2)) ||
		    (h[2 * i].len > 5 && !memcmp(h[2 * i].ptr, "grpc-", 5)))
			api->exchange_header_add(s->x, h[2 * i], h[2 * i + 1]);
	/* the head goes at once, as a gRPC proxy sends it */
	s->started = 1;
	return api->exchange_write(s->x, "", 0) == 0 ? 0 : -1;
}

static void unpause(void *ud)
{
	struct call *s = ud;

	s->paused = 0;
	api->ucall_pause(s->c, 0);
}

static void num_trailer(pt_exchange *x, const char *name, long long v)
{
	char b[32];

	snprintf(b, sizeof(b), "%lld", v);
	api->exchange_trailer_add(x, (pt_str_t){ name, strlen(name) }, (pt_str_t){ b, strlen(b) });
}

static int c_data(pt_ucall *c, const void *data, size_t len, void *ud)
{
	struct call *s = ud;

	if (s->paused)
		s->early += len;
	s->bytes += len;
	if (s->cancel_after > 0 && s->bytes >= s->cancel_after) {
		char b[64];
		int n = snprintf(b, sizeof(b), "cancelled after %llu\n", (unsigned long long)s->bytes);

		api->ucall_cancel(c);   /* from inside: done never comes */
		s->c = NULL;
		api->exchange_write(s->x, b, (size_t)n);
		api->exchange_finish(s->x);
		call_free(s);
		return 0;
	}
	if (s->stop_after > 0 && s->bytes >= s->stop_after)
		return -1;
	s->started = 1;
	api->exchange_write(s->x, data, len);
	if (s->pause_ms > 0 && !s->tmr) {
		s->paused = 1;
		api->ucall_pause(c, 1);
		s->tmr = api->timer_new(api->exchange_worker(s->x), unpause, s);
		api->timer_start(s->tmr, (uint64_t)s->pause_ms, 0);
	}
	return 0;
}

static void c_drain(pt_ucall *c, void *ud)
{
	struct call *s = ud;

	(void)c;
	if (s->body_paused) {
		s->body_paused = 0;
		api->exchange_body_pause(s->x, 0);
	}
}

static void c_done(pt_ucall *c, int err, const char *msg, const pt_str_t *t, uint32_t n,
                   void *ud)
{
	struct call *s = ud;
	pt_exchange *x = s->x;

	(void)c;
	s->c = NULL;
	if (!s->started && err) {
		char b[256];
		int k = snprintf(b, sizeof(b), "err=%d %s\n", err, msg ? msg : "");

		api->exchange_header_set(x, PT_STR("x-ucall-err"),
		                         (pt_str_t){ b + 4, (size_t)(strchr(b, ' ') - b - 4) });
		api->exchange_respond(x, err == PT_ETIMEDOUT ? 504 : 502, (pt_str_t){ b, (size_t)k });
		call_free(s);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		api->exchange_trailer_add(x, t[2 * i], t[2 * i + 1]);
	num_trailer(x, "x-ucall-err", err);
	if (msg)
		api->exchange_trailer_add(x, PT_STR("x-ucall-msg"), (pt_str_t){ msg, strlen(msg) });
	num_trailer(x, "x-ucall-bytes", (long long)s->bytes);
	num_trailer(x, "x-ucall-early", (long long)s->early);
	if (!s->started)
		api->exchange_write(x, "", 0);
	api->exchange_finish(x);
	call_free(s);
}

static const struct pt_ucall_ops call_ops = {
	.size = sizeof(struct pt_ucall_ops),
	.head = c_head, .data = c_data, .drain = c_drain, .done = c_done,
};

static void call_body(pt_exchange *x, const char *data, size_t len, int last, void *ud)
{
	struct call *s = ud;

	if (!s->c || s->ended)
		return;
	if (len && api->ucall_write(s->c, data, len) >= (int64_t)PT_UCALL_HIGH && !s->body_paused) {
		s->body_paused = 1;
		api->exchange_body_pause(x, 1);
	}
	if (last) {
		static const pt_str_t trl[] = { PT_STR("x-client-done"), PT_STR("1") };

		s->ended = 1;
		api->ucall_end(s->c, trl, 1);
	}
}

static void call_aborted(void *ud)
{
	struct call *s = ud;

	if (s->c)
		api->ucall_cancel(s->c);
	s->c = NULL;
	call_free(s);
}

static int h_call(pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct call *s = api->exchange_alloc(x, sizeof(*s));
	struct pt_upstream_req req = { .size = sizeof(req) };
	pt_str_t hdrs[4], up, url, ct;
	double t = 0;
	char ubuf[256], urlbuf[512];
	unsigned nh = 0;
	int err = 0;

	(void)ud;
	if (!s)
		return PT_ENOMEM;
	memset(s, 0, sizeof(*s));
	api->conf_num(opts, "cancel_after", &s->cancel_after);
	api->conf_num(opts, "stop_after", &s->stop_after);
	api->conf_num(opts, "pause_ms", &s->pause_ms);
	api->conf_num(opts, "timeout_ms", &t);
	if (api->conf_str(opts, "upstream", &up) == 0 && up.len < sizeof(ubuf)) {
		memcpy(ubuf, up.ptr, up.len);
		ubuf[up.len] = '\0';
		req.upstream = ubuf;
	} else if (api->conf_str(opts, "url", &url) == 0 && url.len < sizeof(urlbuf)) {
		memcpy(urlbuf, url.ptr, url.len);
		urlbuf[url.len] = '\0';
		req.url = urlbuf;
	}
	req.method = PT_STR("POST");
	{
		pt_str_t path = api->exchange_path(x), q = api->exchange_query(x);
		char *p = api->exchange_alloc(x, path.len + q.len + 2);

		if (!p)
			return PT_ENOMEM;
		memcpy(p, path.ptr, path.len);
		if (q.len) {
			p[path.len] = '?';
			memcpy(p + path.len + 1, q.ptr, q.len);
		}
		req.path = (pt_str_t){ p, path.len + (q.len ? q.len + 1 : 0) };
	}
	if (api->exchange_header(x, PT_STR("content-type"), 0, &ct) == 0) {
		hdrs[nh * 2] = PT_STR("content-type");
		hdrs[nh++ * 2 + 1] = ct;
	}
	hdrs[nh * 2] = PT_STR("te");
	hdrs[nh++ * 2 + 1] = PT_STR("trailers");
	req.headers = hdrs;
	req.num_headers = nh;
	req.timeout_ms = (uint32_t)t;
	s->x = x;
	api->exchange_ref(x);
	s->c = api->ucall_start(api->exchange_worker(x), x, &req, 1, &call_ops, s, &err);
	if (!s->c) {
		char b[64];
		int n = snprintf(b, sizeof(b), "start: %d\n", err);

		api->exchange_respond(x, err == PT_ENOENT ? 404 : 500, (pt_str_t){ b, (size_t)n });
		api->exchange_unref(x);
		return 0;
	}
	api->exchange_on_abort(x, call_aborted, s);
	api->exchange_body_read(x, call_body, s);
	return 0;
}

/* ---- abi17.fetch: the buffered call's trailers (pt_upstream_res, 1.7) ---- */

static void fetched(const struct pt_upstream_res *res, void *ud)
{
	pt_exchange *x = ud;
	char b[1024];
	int n = snprintf(b, sizeof(b), "status=%d body=%zu trailers=", res->status, res->body.len);

	if (res->size >= offsetof(struct pt_upstream_res, num_trailers) + sizeof(uint32_t))
		for (uint32_t i = 0; i < res->num_trailers && n < (int)sizeof(b) - 200; i++)
			n += snprintf(b + n, sizeof(b) - (size_t)n, "%.*s:%.*s;",
			              (int)res->trailers[2 * i].len, res->trailers[2 * i].ptr,
			              (int)res->trailers[2 * i + 1].len, res->trailers[2 * i + 1].ptr);
	b[n++] = '\n';
	api->exchange_respond(x, 200, (pt_str_t){ b, (size_t)n });
}

static int h_fetch(pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct pt_upstream_req req = { .size = sizeof(req) };
	pt_str_t up, q = api->exchange_query(x);
	char ubuf[128], *path;
	int rc;

	(void)ud;
	if (api->conf_str(opts, "upstream", &up) != 0 || up.len >= sizeof(ubuf) ||
	    !(path = api->exchange_alloc(x, q.len + 1)))
		return PT_EINVAL;
	memcpy(ubuf, up.ptr, up.len);
	ubuf[up.len] = '\0';
	path[0] = '/';
	memcpy(path + 1, q.ptr, q.len);   /* /fetch?big?n=10 asks for /big?n=10 */
	req.upstream = ubuf;
	req.method = PT_STR("GET");
	req.path = (pt_str_t){ path, q.len + 1 };
	req.timeout_ms = 5000;
	rc = api->exchange_upstream_request(x, &req, fetched, x);
	return rc;
}

/* ---- abi17.duplex ------------------------------------------------------------ */

struct duplex {
	pt_exchange *x;
	unsigned chunks;
	double finish_after;         /* chunks; 0: at the body's end */
	int finished;
};

static void duplex_body(pt_exchange *x, const char *data, size_t len, int last, void *ud)
{
	struct duplex *d = ud;

	if (d->finished)
		return;   /* answered already: the rest of the upload is dropped */
	if (api->exchange_aborted(x))
		return;   /* duplex_aborted lets go */
	if (len) {
		d->chunks++;
		api->exchange_write(x, "echo:", 5);
		api->exchange_write(x, data, len);
	}
	if (last || (d->finish_after > 0 && d->chunks >= d->finish_after)) {
		d->finished = 1;
		api->exchange_on_abort(x, NULL, NULL);
		num_trailer(x, "x-chunks", d->chunks);
		api->exchange_finish(x);
		api->exchange_unref(x);
	}
}

/* The client reset the stream: no last call comes. */
static void duplex_aborted(void *ud)
{
	struct duplex *d = ud;

	if (!d->finished) {
		d->finished = 1;
		api->exchange_unref(d->x);
	}
}



static int h_duplex(pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct duplex *d = api->exchange_alloc(x, sizeof(*d));

	(void)ud;
	if (!d)
		return PT_ENOMEM;
	d->x = x;
	d->chunks = 0;
	d->finished = 0;
	d->finish_after = 0;
	api->conf_num(opts, "finish_after", &d->finish_after);
	api->exchange_ref(x);
	api->exchange_on_abort(x, duplex_aborted, d);
	api->exchange_header_set(x, PT_STR("content-type"), PT_STR("application/octet-stream"));
	/* the head goes before any body arrives: a bidi stream starts so */
	api->exchange_write(x, "", 0);
	return api->exchange_body_read(x, duplex_body, d);
}

/* ---- abi17.empty ------------------------------------------------------------- */

static int h_empty(pt_exchange *x, const pt_conf *opts, void *ud)
{
	pt_str_t mode = PT_STR("trailers");

	(void)ud;
	api->conf_str(opts, "mode", &mode);
	api->exchange_header_set(x, PT_STR("content-type"), PT_STR("application/grpc"));
	if (mode.len == 7 && !memcmp(mode.ptr, "headers", 7)) {
		api->exchange_header_add(x, PT_STR("grpc-status"), PT_STR("5"));
		api->exchange_header_add(x, PT_STR("grpc-message"), PT_STR("nope"));
		return api->exchange_finish(x);
	}
	api->exchange_write(x, "", 0);
	api->exchange_trailer_add(x, PT_STR("grpc-status"), PT_STR("0"));
	return api->exchange_finish(x);
}

/* ---- abi17.sink -------------------------------------------------------------- */

struct sink {
	pt_exchange *x;
	pt_timer *tmr;
	double delay_ms, hold_ms;
	int early;
	uint64_t bytes;
	int held, done, paused;
};

static void sink_free(struct sink *k)
{
	api->timer_free(k->tmr);
	api->exchange_on_abort(k->x, NULL, NULL);
	api->exchange_unref(k->x);
	free(k);
}

static void sink_go(void *ud)
{
	struct sink *k = ud;

	k->paused = 0;
	api->exchange_body_pause(k->x, 0);
}

static void sink_body(pt_exchange *x, const char *data, size_t len, int last, void *ud)
{
	struct sink *k = ud;

	(void)data;
	if (k->paused)
		k->bytes += 1ull << 40;   /* a chunk while paused: the answer shows it */
	k->bytes += len;
	if (last) {
		char b[64];
		int n = snprintf(b, sizeof(b), "%llu\n", (unsigned long long)k->bytes);

		api->timer_stop(k->tmr);
		api->exchange_respond(x, 200, (pt_str_t){ b, (size_t)n });
		sink_free(k);
		return;
	}
	if (k->early) {
		/* answer while the body is paused and never resume it: the core
		 * must drop the rest without calling us (K is gone) */
		api->exchange_body_pause(x, 1);
		api->exchange_respond(x, 200, PT_STR("early\n"));
		sink_free(k);
		return;
	}
	if (k->hold_ms > 0 && !k->held) {
		k->held = 1;
		k->paused = 1;
		api->exchange_body_pause(x, 1);
		api->timer_start(k->tmr, (uint64_t)k->hold_ms, 0);
	} else if (k->delay_ms > 0 && !k->hold_ms) {
		k->paused = 1;
		api->exchange_body_pause(x, 1);
		api->timer_start(k->tmr, (uint64_t)k->delay_ms, 0);
	}
}

static void sink_aborted(void *ud)
{
	sink_free(ud);
}

static int h_sink(pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct sink *k = calloc(1, sizeof(*k));

	(void)ud;
	if (!k)
		return PT_ENOMEM;
	k->x = x;
	k->delay_ms = 20;
	api->conf_num(opts, "delay_ms", &k->delay_ms);
	api->conf_num(opts, "hold_ms", &k->hold_ms);
	api->conf_bool(opts, "early", &k->early);
	k->tmr = api->timer_new(api->exchange_worker(x), sink_go, k);
	api->exchange_ref(x);
	api->exchange_on_abort(x, sink_aborted, k);
	return api->exchange_body_read(x, sink_body, k);
}

/* ---- abi17.abandon ----------------------------------------------------------- */

struct ab {
	pt_exchange *x;
	lua_State *L, *co;
	int ref;
	pt_timer *tmr;
};

static void task_done(lua_State *co, int status, int nres, void *ud)
{
	(void)co;
	(void)status;
	(void)nres;
	(void)ud;
	task_dones++;
}

static void ab_fire(void *ud)
{
	struct ab *a = ud;
	int rc = api->lua_task_abandon(a->co);
	int again = api->lua_task_abandon(a->co);
	char b[64];
	int n = snprintf(b, sizeof(b), "abandoned %d %d\n", rc, again);

	abandons++;
	api->exchange_respond(a->x, 200, (pt_str_t){ b, (size_t)n });
	luaL_unref(a->L, LUA_REGISTRYINDEX, a->ref);
	api->timer_free(a->tmr);
	api->exchange_unref(a->x);
	free(a);
}

static int h_abandon(pt_exchange *x, const pt_conf *opts, void *ud)
{
	lua_State *L = api->exchange_lua(x);
	struct ab *a;
	int nres = 0, st;

	(void)opts;
	(void)ud;
	if (!L || !(a = calloc(1, sizeof(*a))))
		return PT_ENOMEM;
	a->x = x;
	a->L = L;
	a->co = lua_newthread(L);
	a->ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (luaL_loadstring(a->co, "sleep(2) return 'woke'") != LUA_OK) {
		luaL_unref(L, LUA_REGISTRYINDEX, a->ref);
		free(a);
		return PT_EINVAL;
	}
	api->exchange_ref(x);
	st = api->lua_task_resume(x, a->co, 0, &nres, task_done, a);
	if (st != LUA_YIELD) {
		luaL_unref(L, LUA_REGISTRYINDEX, a->ref);
		api->exchange_respond(x, 500, PT_STR("the task did not wait\n"));
		api->exchange_unref(x);
		free(a);
		return 0;
	}
	a->tmr = api->timer_new(api->exchange_worker(x), ab_fire, a);
	api->timer_start(a->tmr, 100, 0);
	return 0;
}

/* ---- abi17.ws: the same for a WebSocket task (ws_lua_task_resume) ------ */

struct wsab {
	pt_ws *ws;                   /* NULL once closed */
	lua_State *L, *co;
	int ref, pending;
	pt_timer *tmr;
};

static void wsab_release(struct wsab *a)
{
	if (a->ws || a->pending)
		return;
	api->timer_free(a->tmr);
	free(a);
}

static void wsab_fire(void *ud)
{
	struct wsab *a = ud;
	int rc = api->lua_task_abandon(a->co), again = api->lua_task_abandon(a->co);
	char b[64];
	int n = snprintf(b, sizeof(b), "abandoned %d %d", rc, again);

	abandons++;
	a->pending = 0;
	luaL_unref(a->L, LUA_REGISTRYINDEX, a->ref);
	if (a->ws)
		api->ws_send(a->ws, b, (size_t)n, 0);
	wsab_release(a);
}

static void ws_msg(pt_ws *ws, const char *data, size_t len, int binary, void *ud)
{
	struct wsab *a = ud;
	int nres = 0, st;

	(void)data;
	(void)len;
	(void)binary;
	if (a->pending || !(a->L = api->ws_lua(ws)))
		return;
	a->co = lua_newthread(a->L);
	a->ref = luaL_ref(a->L, LUA_REGISTRYINDEX);
	if (luaL_loadstring(a->co, "sleep(2) return 'woke'") != LUA_OK) {
		luaL_unref(a->L, LUA_REGISTRYINDEX, a->ref);
		return;
	}
	st = api->ws_lua_task_resume(ws, a->co, 0, &nres, task_done, a);
	if (st != LUA_YIELD) {
		luaL_unref(a->L, LUA_REGISTRYINDEX, a->ref);
		api->ws_send(ws, "no wait", 7, 0);
		return;
	}
	a->pending = 1;
	api->timer_start(a->tmr, 100, 0);
}

static void ws_closed(pt_ws *ws, unsigned code, pt_str_t reason, void *ud)
{
	struct wsab *a = ud;

	(void)ws;
	(void)code;
	(void)reason;
	a->ws = NULL;
	wsab_release(a);
}

static const struct pt_ws_ops ws_ops = {
	.size = sizeof(struct pt_ws_ops), .on_message = ws_msg, .on_close = ws_closed,
};

static int h_ws(pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct pt_ws_opts o = { .size = sizeof(o) };
	struct wsab *a = calloc(1, sizeof(*a));

	(void)opts;
	(void)ud;
	if (!a || !(a->tmr = api->timer_new(api->exchange_worker(x), wsab_fire, a))) {
		free(a);
		return PT_ENOMEM;
	}
	a->ws = api->ws_accept(x, &o, &ws_ops, a, NULL);
	if (!a->ws) {
		api->timer_free(a->tmr);
		free(a);
	}
	return 0;
}

static int h_stats(pt_exchange *x, const pt_conf *opts, void *ud)
{
	char b[64];
	int n = snprintf(b, sizeof(b), "dones=%u abandons=%u\n", task_dones, abandons);

	(void)opts;
	(void)ud;
	return api->exchange_respond(x, 200, (pt_str_t){ b, (size_t)n });
}

/* ---- the plugin -------------------------------------------------------------- */

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	(void)conf;
	api = a;
	if (!PT_API_HAS(a, lua_task_abandon))
		return PT_ENOSYS;
	return a->handler_register(ctx, "abi17.call", h_call, NULL) ||
	       a->handler_register(ctx, "abi17.duplex", h_duplex, NULL) ||
	       a->handler_register(ctx, "abi17.empty", h_empty, NULL) ||
	       a->handler_register(ctx, "abi17.sink", h_sink, NULL) ||
	       a->handler_register(ctx, "abi17.abandon", h_abandon, NULL) ||
	       a->handler_register(ctx, "abi17.stats", h_stats, NULL) ||
	       a->handler_register(ctx, "abi17.fetch", h_fetch, NULL) ||
	       a->handler_register(ctx, "abi17.ws", h_ws, NULL) ? PT_EINVAL : 0;
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "abi17",
	.version = "1",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
