/*
 * sub.c - GraphQL subscriptions on the in-process hub, streamed as
 * Server-Sent Events (GraphQL over SSE, "distinct connections" mode).
 *
 * A subscription runs its root field's resolver once (GQL_EXEC_SOURCE, so
 * it may wait); what it returns names a hub channel: a string, or a table
 * whose `channel` field is one. The stream then subscribes to that channel
 * on the exchange's worker. Each hub message is JSON text: decoded, it is
 * the root field's value for one execution of the selection set
 * (GQL_EXEC_EVENT, nested resolvers as in a query), written as
 *
 *     event: next\ndata: {"data":{...}}\n\n
 *
 * Events execute one at a time, in arrival order; up to QMAX wait behind
 * the running one. Past that the oldest waiting event is dropped, and the
 * client gets a "next" with an error saying how many were lost before the
 * next event. A ":" comment line every sse_heartbeat seconds keeps proxies
 * from timing the stream out. A client that leaves ends the subscription
 * at once (exchange_on_abort); a failed write ends it too.
 *
 * The stream ends with "event: complete" after max_events events or
 * max_duration seconds; silently when the client leaves; and when the
 * worker stops (the daemon's shutdown, after shutdown_timeout: the plugin
 * ABI does not tell a handler that its worker drains).
 *
 * A request with a sink (struct gqlp_sink: ws.c's graphql-transport-ws
 * operations) gets the same engine with its output going to the sink
 * instead of the exchange: no heartbeat (WebSocket pings instead), and the
 * sink's owner ends it with gqlp_sub_cancel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "exec.h"
#include "exec_priv.h"
#include "gqlp.h"

#define QMAX 64

struct gqlp_sub {
	struct gqlp_sub *prev, *next;   /* the worker's list */
	struct gqlp_worker *gw;
	struct gqlp_req *r;             /* owned: the exchange reference, conf, doc, ctx */
	pt_sub *hub;
	pt_timer *beat, *end;
	char *channel;
	struct { char *p; size_t n; } q[QMAX];  /* waiting events (owned copies) */
	unsigned qhead, qn;
	unsigned long dropped;          /* events lost to a full queue, not yet told */
	unsigned long sent;
	int busy;                       /* an execution runs for it */
	int pumping;                    /* inside pump(): it frees, not the callee */
	int closing;                    /* unsubscribed: freed once nothing runs */
};

static const struct pt_api *api(void)
{
	return gqlp_api;
}

static void sub_free(struct gqlp_sub *s)
{
	if (s->gw) {
		if (s->prev)
			s->prev->next = s->next;
		else
			s->gw->subs = s->next;
		if (s->next)
			s->next->prev = s->prev;
	}
	api()->hub_unsubscribe(s->hub);
	api()->timer_free(s->beat);
	api()->timer_free(s->end);
	while (s->qn) {
		free(s->q[s->qhead].p);
		s->qhead = (s->qhead + 1) % QMAX;
		s->qn--;
	}
	api()->log(gqlp_ctx, PT_LOG_DEBUG, "subscription to %s ended after %lu event(s)",
	           s->channel ? s->channel : "(none)", s->sent);
	free(s->channel);
	gqlp_metrics_subscription(-1);
	if (!s->r->sink)
		api()->exchange_on_abort(s->r->x, NULL, NULL);   /* S goes: no call back */
	gqlp_req_free(s->r);
	free(s);
}

static void maybe_free(struct gqlp_sub *s)
{
	if (s->closing && !s->busy && !s->pumping)
		sub_free(s);
}

static int gone(struct gqlp_sub *s)
{
	return s->r->sink ? s->r->sink->gone(s->r) : api()->exchange_aborted(s->r->x);
}

/* Answers a subscription that did not start with JSON[0..N), STATUS. */
static void fail(struct gqlp_sub *s, int status, const char *json, size_t n)
{
	if (s->r->sink)
		s->r->sink->fail(s->r, status, json, n);
	else
		gqlp_respond(s->r, status, json, n);
}

static void fail_msg(struct gqlp_sub *s, int status, const char *msg)
{
	struct jbuf b = { 0 };

	jb_put(&b, "{\"errors\":[{\"message\":", 22);
	jb_cstr(&b, msg);
	jb_put(&b, "}]}", 3);
	if (!b.oom)
		fail(s, status, b.p, b.n);
	else
		fail(s, 500, "{\"errors\":[{\"message\":\"out of memory\"}]}", 41);
	free(b.p);
}

/* Writes to the SSE stream; 0, or -1 when the client is gone. */
static int put(struct gqlp_sub *s, const char *p, size_t n)
{
	if (api()->exchange_aborted(s->r->x))
		return -1;
	return api()->exchange_write(s->r->x, p, n) == 0 ? 0 : -1;
}

/*
 * Ends S: no more events. COMPLETE: tell the client ("complete") and end
 * the response; else it just stops (the client left). S is freed now or
 * when its running execution ends.
 */
static void sub_close(struct gqlp_sub *s, int complete)
{
	static const char done[] = "event: complete\ndata:\n\n";

	if (!s->closing) {
		s->closing = 1;
		api()->hub_unsubscribe(s->hub);
		s->hub = NULL;
		api()->timer_stop(s->beat);
		api()->timer_stop(s->end);
		if (s->r->sink)
			s->r->sink->end(s->r, complete);
		else if (!complete || put(s, done, sizeof(done) - 1) == 0)
			api()->exchange_finish(s->r->x);   /* PT_ESTATE when answered or gone */
	}
	maybe_free(s);
}

/* "event: next" with the GraphQL response JSON[0..N). */
static int put_next(struct gqlp_sub *s, const char *json, size_t n)
{
	struct jbuf b = { 0 };
	int rc;

	if (s->r->sink)
		return s->r->sink->next(s->r, json, n);
	jb_put(&b, "event: next\ndata: ", 18);
	jb_put(&b, json, n);
	jb_put(&b, "\n\n", 2);
	rc = b.oom ? -1 : put(s, b.p, b.n);
	free(b.p);
	return rc;
}

static int put_error(struct gqlp_sub *s, const char *msg)
{
	struct jbuf b = { 0 };
	int rc;

	jb_put(&b, "{\"errors\":[{\"message\":", 22);
	jb_cstr(&b, msg);
	jb_put(&b, "}]}", 3);
	rc = b.oom ? -1 : put_next(s, b.p, b.n);
	free(b.p);
	return rc;
}

static void pump(struct gqlp_sub *s);

static void event_done(struct gql_exec *e, const struct gql_result *res, void *ud)
{
	struct gqlp_sub *s = ud;
	unsigned max = s->r->conf->max_events;

	s->busy = 0;
	if (!s->closing) {
		if (put_next(s, res->json, res->len) != 0) {
			gql_exec_free(e);
			sub_close(s, 0);
			return;
		}
		s->sent++;
		gqlp_metrics_event();
	}
	gql_exec_free(e);
	if (!s->closing && max && s->sent >= max)
		sub_close(s, 1);
	else if (s->closing)
		maybe_free(s);
	else if (!s->pumping)
		pump(s);
}

/* Starts executing the event MSG[0..N); 0, or -1 when it did not start. */
static int run_event(struct gqlp_sub *s, const char *msg, size_t n)
{
	struct gqlp_req *r = s->r;
	lua_State *L = r->L;
	int top = lua_gettop(L), rc = 0;
	struct gql_exec_req q;

	gqlp_exec_req_init(&q, r);
	q.mode = GQL_EXEC_EVENT;
	q.done = event_done;
	q.ud = s;
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->ctx_ref);
	q.ctx_index = lua_gettop(L);
	if (gqlp_lua_json_decode(L, msg, n) != LUA_OK) {
		char why[256];

		snprintf(why, sizeof(why), "An event on %s is not JSON: %s", s->channel,
		         lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
		lua_settop(L, top);
		return put_error(s, why);
	}
	q.event_index = lua_gettop(L);
	s->busy = 1;
	if (gql_exec_start(&q) != 0) {
		s->busy = 0;
		rc = put_error(s, "Internal server error.");
	}
	lua_settop(L, top);
	return rc;
}

/* Runs waiting events one at a time until one waits or none are left. */
static void pump(struct gqlp_sub *s)
{
	s->pumping = 1;
	while (!s->closing && !s->busy && s->qn) {
		char *p = s->q[s->qhead].p;
		size_t n = s->q[s->qhead].n;
		int rc = 0;

		s->qhead = (s->qhead + 1) % QMAX;
		s->qn--;
		if (s->dropped) {
			char why[160];

			snprintf(why, sizeof(why), "%lu event(s) were dropped: the subscription "
			         "fell more than %u events behind its channel", s->dropped, QMAX);
			s->dropped = 0;
			rc = put_error(s, why);
		}
		if (rc == 0)
			rc = run_event(s, p, n);
		free(p);
		if (rc != 0)
			sub_close(s, 0);
	}
	s->pumping = 0;
	maybe_free(s);
}

/* A hub message on the channel (on the worker's thread). */
static void on_message(pt_worker *w, pt_str_t channel, pt_str_t message, void *ud)
{
	struct gqlp_sub *s = ud;
	char *copy;

	(void)w;
	(void)channel;
	if (s->closing)
		return;
	if (gone(s)) {
		sub_close(s, 0);
		return;
	}
	if (!(copy = malloc(message.len + 1))) {
		s->dropped++;
		return;
	}
	memcpy(copy, message.ptr, message.len);
	copy[message.len] = '\0';
	if (s->qn == QMAX) {
		free(s->q[s->qhead].p);
		s->qhead = (s->qhead + 1) % QMAX;
		s->qn--;
		s->dropped++;
	}
	s->q[(s->qhead + s->qn) % QMAX].p = copy;
	s->q[(s->qhead + s->qn) % QMAX].n = message.len;
	s->qn++;
	if (!s->pumping)
		pump(s);
}

static void on_beat(void *ud)
{
	struct gqlp_sub *s = ud;

	if (!s->closing && put(s, ":\n\n", 3) != 0)
		sub_close(s, 0);
}

static void on_end(void *ud)
{
	sub_close(ud, 1);
}

/* The client left (from the loop): unsubscribe now, not at the next write. */
static void on_abort(void *ud)
{
	sub_close(ud, 0);
}

static uint64_t ms_of(double secs)
{
	return secs < 0.001 ? 1 : (uint64_t)(secs * 1000.0 + 0.5);
}

/* The source resolver returned: subscribe to its channel and start the stream. */
static void source_done(struct gql_exec *e, const struct gql_result *res, void *ud)
{
	struct gqlp_sub *s = ud;
	struct gqlp_req *r = s->r;
	lua_State *L = r->L;
	pt_worker *w = r->w;
	const struct gqlp_conf *c = r->conf;
	int top = lua_gettop(L), t;
	const char *why = NULL;
	size_t n = 0;

	s->busy = 0;
	if (s->closing || gone(s)) {
		gql_exec_free(e);
		sub_close(s, 0);
		return;
	}
	if (res->source_ref == LUA_NOREF) {
		fail(s, res->internal ? 500 : r->media == GQLP_M_JSON ? 200 : 400, res->json,
		     res->len);
		gql_exec_free(e);
		sub_close(s, 0);
		return;
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, res->source_ref);
	if (lua_type(L, -1) == LUA_TTABLE)
		lua_getfield(L, -1, "channel");
	if ((t = lua_type(L, -1)) == LUA_TSTRING) {
		const char *ch = lua_tolstring(L, -1, &n);

		if (n && !(s->channel = strndup(ch, n)))
			why = "Internal server error.";
	}
	lua_settop(L, top);
	gql_exec_free(e);
	if (!s->channel && !why) {
		api()->log(gqlp_ctx, PT_LOG_ERROR, "the subscription's resolver returned %s, not a "
		           "hub channel name (a string, or { channel = \"name\" })",
		           t == LUA_TSTRING ? "an empty string" : lua_typename(L, t));
		why = "The subscription's resolver returned no channel to subscribe to.";
	}
	if (!why && !(s->hub = api()->hub_subscribe(w, (pt_str_t){ s->channel, n }, on_message, s)))
		why = "Internal server error.";
	if (why) {
		fail_msg(s, 500, why);
		sub_close(s, 0);
		return;
	}
	if (r->sink) {
		if (r->sink->start(r) != 0) {
			sub_close(s, 0);
			return;
		}
		if (c->max_duration > 0 && (s->end = api()->timer_new(w, on_end, s)))
			api()->timer_start(s->end, ms_of(c->max_duration), 0);
		api()->log(gqlp_ctx, PT_LOG_DEBUG, "subscription to %s started", s->channel);
		return;
	}
	api()->exchange_header_set(r->x, PT_STR("content-type"),
	                           PT_STR("text/event-stream; charset=utf-8"));
	api()->exchange_header_set(r->x, PT_STR("cache-control"), PT_STR("no-cache"));
	api()->exchange_header_set(r->x, PT_STR("x-accel-buffering"), PT_STR("no"));
	api()->exchange_status_set(r->x, 200);
	/* the headers go out now: a client that has them is subscribed */
	if (put(s, ":\n\n", 3) != 0) {
		sub_close(s, 0);
		return;
	}
	if (c->sse_heartbeat > 0 && (s->beat = api()->timer_new(w, on_beat, s)))
		api()->timer_start(s->beat, ms_of(c->sse_heartbeat), 1);
	if (c->max_duration > 0 && (s->end = api()->timer_new(w, on_end, s)))
		api()->timer_start(s->end, ms_of(c->max_duration), 0);
	api()->log(gqlp_ctx, PT_LOG_DEBUG, "subscription to %s started", s->channel);
}

void gqlp_sub_start(struct gqlp_req *r)
{
	struct gqlp_sub *s = calloc(1, sizeof(*s));
	struct gql_exec_req q;
	int top = lua_gettop(r->L);

	if (!s) {
		if (r->sink)
			r->sink->fail(r, 500, "{\"errors\":[{\"message\":\"out of memory\"}]}", 41);
		else
			gqlp_respond_error(r, 500, "Internal server error.");
		gqlp_req_free(r);
		return;
	}
	gqlp_exec_req_init(&q, r);
	q.mode = GQL_EXEC_SOURCE;
	q.done = source_done;
	s->r = r;
	gqlp_metrics_subscription(1);
	if (r->sink)
		r->sink->attach(r, s);
	else   /* PT_ESTATE: the client is gone already, which source_done sees */
		api()->exchange_on_abort(r->x, on_abort, s);
	s->gw = api()->worker_get_data(gqlp_ctx, r->w);
	if (s->gw) {
		s->next = s->gw->subs;
		if (s->next)
			s->next->prev = s;
		s->gw->subs = s;
	}
	q.ud = s;
	lua_rawgeti(r->L, LUA_REGISTRYINDEX, r->ctx_ref);
	q.ctx_index = lua_gettop(r->L);
	s->busy = 1;
	s->pumping = 1;   /* source_done may run before gql_exec_start returns */
	if (gql_exec_start(&q) != 0) {
		s->busy = 0;
		fail_msg(s, 500, "Internal server error.");
		s->closing = 1;
	}
	lua_settop(r->L, top);
	s->pumping = 0;
	maybe_free(s);
}

void gqlp_sub_cancel(struct gqlp_sub *s)
{
	sub_close(s, 0);
}

void gqlp_subs_stop(struct gqlp_worker *gw)
{
	while (gw->subs) {
		struct gqlp_sub *s = gw->subs;

		gw->subs = s->next;
		if (s->next)
			s->next->prev = NULL;
		s->next = s->prev = NULL;
		s->gw = NULL;
		s->closing = 1;
		api()->hub_unsubscribe(s->hub);
		s->hub = NULL;
		api()->timer_free(s->beat);
		api()->timer_free(s->end);
		s->beat = s->end = NULL;
		/* a resolver still waiting holds it: the process is ending anyway */
		if (!s->busy)
			sub_free(s);
	}
}
