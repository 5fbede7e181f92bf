/*
 * client.c - client:Operation(t): the input encoded per the schema (an
 * input that does not fit is refused before anything is sent), the
 * envelope (with the WS-Security header when configured), one HTTP POST
 * through the named upstream or to the URL, the coroutine waiting, and the
 * answer decoded while the core still lends it (in the upstream callback:
 * parsed there, turned into Lua values by the wake's push function).
 *
 * Retries: only operations the service lists as `idempotent`, after a
 * transport error, a timeout or a 502/503/504, at most `retries` more
 * attempts. A call holds its own references (the services set, the
 * exchange), never the client object's, so a client kept in a global and a
 * request whose client leaves mid-call are both fine.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>

#include "soap.h"

/* What the wake pushes. */
enum result {
	R_TRUE = 1,           /* a one-way operation was accepted */
	R_DECODE,             /* BODY holds the answer: decode it */
	R_FAULT,              /* FAULT_EL is a SOAP Fault */
	R_SIMPLE,             /* a client-side fault: OUTCOME and REASON */
};

struct call {
	struct soap_services *set;            /* held */
	const struct soap_service *svc;
	const struct wsdl_port *port;
	const struct wsdl_op *op;
	pt_exchange *x;                       /* referenced: the access log reports the call */
	pt_worker *w;
	pt_wait *wait;
	struct pt_upstream_req req;
	struct sbuf body;                     /* the envelope, kept for retries */
	pt_str_t *hdrs;                       /* the request's header pairs */
	char *hdr_mem;                        /* their copied values */
	unsigned attempts;
	struct timespec t0;
	/* the answer */
	enum result result;
	enum soap_outcome outcome;
	int status;                           /* HTTP status, 0 for none */
	int version;                          /* the answer's SOAP version */
	xmlDocPtr doc;
	xmlNodePtr body_el, fault_el;
	char reason[1024];
};

static void call_free(struct call *c)
{
	if (c->doc)
		xmlFreeDoc(c->doc);
	if (c->x)
		soap_api->exchange_unref(c->x);
	sbuf_free(&c->body);
	free(c->hdrs);
	free(c->hdr_mem);
	soap_services_put(c->set);
	free(c);
}

static uint64_t usec_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)(t.tv_sec - t0->tv_sec) * 1000000u +
	       (uint64_t)((t.tv_nsec - t0->tv_nsec) / 1000);
}

/* Pushes what client:Op returns. Runs on the state's main thread in a
 * protected call (the wake's); sc_decode turns the answer into Lua values
 * here. [-0, +1|2, m] */
static int push_answer(lua_State *L, void *ud)
{
	struct call *c = ud;
	char err[512];

	switch (c->result) {
	case R_TRUE:
		lua_pushboolean(L, 1);
		return 1;
	case R_DECODE:
		if (sc_decode(L, c->body_el, c->svc->w, c->op, SC_OUTPUT, err, sizeof(err)) >= 0) {
			lua_pushnil(L);
			return 2;
		}
		c->outcome = SOAP_MALFORMED;
		snprintf(c->reason, sizeof(c->reason), "the answer from %s does not fit the schema "
		         "of %s: %s", c->svc->name, c->op->name, err);
		soap_api->log(soap_ctx, PT_LOG_WARN, "service %s: %s", c->svc->name, c->reason);
		break;
	case R_FAULT:
		lua_pushnil(L);
		soap_fault_push_w(L, c->fault_el, c->version, c->svc->w, c->op, c->status);
		return 2;
	case R_SIMPLE:
		break;
	}
	lua_pushnil(L);
	soap_fault_push_simple(L, soap_outcome_name(c->outcome), c->reason, c->status,
	                       c->op->name, c->version);
	return 2;
}

/* Wakes the coroutine with the answer, counts the call, frees C. */
static void finish(struct call *c)
{
	soap_api->lua_wait_wake(c->wait, push_answer, c);
	soap_metric_call(c->svc, c->op->name, c->outcome, usec_since(&c->t0));
	call_free(c);
}

static void simple(struct call *c, enum soap_outcome o, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void simple(struct call *c, enum soap_outcome o, int status, const char *fmt, ...)
{
	va_list ap;

	c->result = R_SIMPLE;
	c->outcome = o;
	c->status = status;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

static const pt_str_t *res_header(const struct pt_upstream_res *res, const char *name)
{
	for (uint32_t i = 0; i < res->num_headers; i++)
		if (res->headers[2 * i].len == strlen(name) &&
		    !strncasecmp(res->headers[2 * i].ptr, name, res->headers[2 * i].len))
			return &res->headers[2 * i + 1];
	return NULL;
}

/* An XML answer: its Content-Type says xml, or it has none and starts
 * with '<'. */
static int looks_xml(const struct pt_upstream_res *res)
{
	const pt_str_t *ct = res_header(res, "content-type");
	size_t i = 0;

	if (ct) {
		for (size_t k = 0; k + 3 <= ct->len; k++)
			if (!strncasecmp(ct->ptr + k, "xml", 3))
				return 1;
		return 0;
	}
	while (i < res->body.len && strchr(" \t\r\n", res->body.ptr[i]))
		i++;
	return i < res->body.len && res->body.ptr[i] == '<';
}

/* Classifies an HTTP answer into C (parsing it: RES is borrowed now). */
static void classify(struct call *c, const struct pt_upstream_res *res)
{
	int st = res->status, ok = st >= 200 && st < 300;
	char what[160], err[512];
	xmlNodePtr header;

	c->status = st;
	if (ok && !c->op->out && (!res->body.len || !looks_xml(res))) {
		c->result = R_TRUE;
		c->outcome = SOAP_OK;
		return;
	}
	if (!res->body.len || !looks_xml(res)) {
		if (ok)
			simple(c, SOAP_HTTP, st, "the answer from %s (HTTP %d) is not XML", c->svc->name,
			       st);
		else
			simple(c, SOAP_HTTP, st, "%s answered HTTP %d without a SOAP envelope",
			       c->svc->name, st);
		return;
	}
	snprintf(what, sizeof(what), "answer from %s", c->svc->name);
	if (!(c->doc = sx_parse(res->body.ptr, res->body.len, &c->svc->limits, what, err,
	                        sizeof(err)))) {
		if (ok || st == 500 || st == 400)
			simple(c, SOAP_MALFORMED, st, "the answer from %s was refused: %s", c->svc->name,
			       err);
		else
			simple(c, SOAP_HTTP, st, "%s answered HTTP %d (not a SOAP envelope: %s)",
			       c->svc->name, st, err);
		return;
	}
	if (soap_env_split(c->doc, &c->version, &header, &c->body_el, err, sizeof(err)) != 0) {
		if (ok || st == 500 || st == 400)
			simple(c, SOAP_MALFORMED, st, "the answer from %s: %s", c->svc->name, err);
		else
			simple(c, SOAP_HTTP, st, "%s answered HTTP %d (%s)", c->svc->name, st, err);
		return;
	}
	/* an answer in the other SOAP version than the request was sent in
	 * (a server that picked another binding) is not this operation's */
	if (c->port && c->version != c->port->soap_version) {
		simple(c, SOAP_MALFORMED, st, "the answer from %s is a SOAP 1.%d envelope; the request "
		       "was SOAP 1.%d", c->svc->name, c->version == 12 ? 2 : 1,
		       c->port->soap_version == 12 ? 2 : 1);
		return;
	}
	if ((c->fault_el = soap_fault_el(c->body_el, c->version))) {
		c->result = R_FAULT;
		c->outcome = SOAP_FAULT;
		return;
	}
	if (!ok) {
		simple(c, SOAP_HTTP, st, "%s answered HTTP %d with an envelope that holds no Fault",
		       c->svc->name, st);
		return;
	}
	if (!c->op->out) {
		c->result = R_TRUE;
		c->outcome = SOAP_OK;
		return;
	}
	c->result = R_DECODE;
	c->outcome = SOAP_OK;
}

static int start(struct call *c);

static void on_answer(const struct pt_upstream_res *res, void *ud)
{
	struct call *c = ud;
	int st = res->status;
	/* the core's words for a failed call ("connection refused"), 1.11 */
	const char *err = st >= 0 ? NULL : PT_UPSTREAM_ERROR(res) ? PT_UPSTREAM_ERROR(res) :
	                  soap_api->strerror(st);

	c->attempts++;
	if (st < 0 || st == 502 || st == 503 || st == 504) {
		int retry = c->attempts <= c->svc->retries && soap_op_idempotent(c->svc, c->op->name) &&
		            !soap_api->exchange_aborted(c->x) && st != PT_ENOENT;
		const char *why = st < 0 ? err : "a gateway error";

		if (retry) {
			if (st < 0)
				soap_api->log(soap_ctx, PT_LOG_WARN, "service %s: %s attempt %u failed (%s): "
				              "retrying", c->svc->name, c->op->name, c->attempts, why);
			else
				soap_api->log(soap_ctx, PT_LOG_WARN, "service %s: %s attempt %u failed (HTTP "
				              "%d): retrying", c->svc->name, c->op->name, c->attempts, st);
			start(c);   /* on failure the loop finishes C */
			return;
		}
	}
	if (st == PT_ENOENT && c->svc->upstream)
		simple(c, SOAP_TRANSPORT, 0, "no upstream named %s (service %s): declare it with "
		       "upstream \"%s\" { ... } in the config", c->svc->upstream, c->svc->name,
		       c->svc->upstream);
	else if (st == PT_ETIMEDOUT)
		simple(c, SOAP_TIMEOUT, 0, "%s did not answer %s in time (%.3g s%s, %u attempt%s)",
		       c->svc->name, c->op->name, c->req.timeout_ms / 1000.0,
		       c->req.timeout_ms ? "" : ": the upstream's read timeout", c->attempts,
		       c->attempts == 1 ? "" : "s");
	else if (st == PT_ELIMIT)   /* the core's HTTP client: a head or body over its limit */
		simple(c, SOAP_MALFORMED, 0, "the answer from %s is larger than the HTTP client "
		       "takes (%s)", c->svc->name, soap_api->strerror(st));
	else if (st < 0)
		simple(c, SOAP_TRANSPORT, 0, "cannot reach %s: %s", c->svc->name, err);
	else
		classify(c, res);
	if (c->outcome == SOAP_TRANSPORT || c->outcome == SOAP_TIMEOUT)
		soap_api->log(soap_ctx, PT_LOG_WARN, "service %s: %s failed: %s", c->svc->name,
		              c->op->name, c->reason);
	finish(c);   /* RES is still lent: C's document was parsed from it and is its own */
}

/* A failure to start an attempt is answered from the loop (the coroutine
 * must have yielded before it is woken). */
static void start_failed(void *ud)
{
	finish(ud);
}

/* Starts one attempt; 0, or -1 when it could not (C then holds the fault
 * and will be finished from the loop). */
static int start(struct call *c)
{
	int rc = soap_api->exchange_upstream_request(c->x, &c->req, on_answer, c);

	if (rc == 0)
		return 0;
	if (rc == PT_ENOENT && c->svc->upstream)
		simple(c, SOAP_TRANSPORT, 0, "no upstream named %s (service %s): declare it with "
		       "upstream \"%s\" { ... } in the config", c->svc->upstream, c->svc->name,
		       c->svc->upstream);
	else
		simple(c, SOAP_TRANSPORT, 0, "cannot call %s: %s", c->svc->name,
		       soap_api->strerror(rc));
	soap_api->log(soap_ctx, PT_LOG_WARN, "service %s: %s", c->svc->name, c->reason);
	if (soap_api->post(c->w, start_failed, c) != 0)
		soap_api->log(soap_ctx, PT_LOG_ERROR, "service %s: cannot wake a waiting handler "
		              "(out of memory): it stays suspended until its request ends",
		              c->svc->name);
	return -1;
}

/* The request's headers: Content-Type, SOAPAction (1.1), Accept, the
 * request's id and trace context, the service's own. 0 or -1 (memory). */
static int build_headers(struct call *c, const struct soap_client *cl)
{
	const struct soap_service *svc = cl->svc;
	int v = cl->port->soap_version;
	const char *action = c->op->action ? c->op->action : "";
	pt_str_t id = { 0 }, tp = { 0 };
	size_t mem = 0, n = 0;
	char ct[1024];
	char *p;

	soap_content_type(v, action, ct, sizeof(ct));
	id = soap_api->exchange_request_id(c->x);
	tp = soap_api->exchange_traceparent(c->x);
	mem = strlen(ct) + 1 + strlen(action) + 3 + id.len + 1 + tp.len + 1;
	if (!(c->hdrs = calloc(2 * (6 + svc->nheaders), sizeof(pt_str_t))) ||
	    !(p = c->hdr_mem = malloc(mem)))
		return -1;
#define PUT(name, s, len)                                                      \
	do {                                                                   \
		c->hdrs[2 * n] = (pt_str_t){ name, strlen(name) };             \
		memcpy(p, s, len);                                             \
		c->hdrs[2 * n + 1] = (pt_str_t){ p, len };                     \
		p += len;                                                      \
		*p++ = 0;                                                      \
		n++;                                                           \
	} while (0)
	PUT("content-type", ct, strlen(ct));
	if (v == 11) {
		char q[1024];
		int k = snprintf(q, sizeof(q), "\"%s\"", action);

		if (k < 0 || (size_t)k >= sizeof(q))
			return -1;
		PUT("soapaction", q, (size_t)k);
	}
	c->hdrs[2 * n] = (pt_str_t){ "accept", 6 };
	c->hdrs[2 * n + 1] = v == 12 ? (pt_str_t){ "application/soap+xml", 20 }
	                             : (pt_str_t){ "text/xml", 8 };
	n++;
	if (id.len)
		PUT("x-request-id", id.ptr, id.len);
	if (tp.len)
		PUT("traceparent", tp.ptr, tp.len);
#undef PUT
	for (unsigned i = 0; i < svc->nheaders; i++, n++) {
		c->hdrs[2 * n] = (pt_str_t){ svc->headers[2 * i], strlen(svc->headers[2 * i]) };
		c->hdrs[2 * n + 1] = (pt_str_t){ svc->headers[2 * i + 1],
		                                 strlen(svc->headers[2 * i + 1]) };
	}
	c->req.headers = c->hdrs;
	c->req.num_headers = (uint32_t)n;
	return 0;
}

/* The envelope into C->body from the input at 2: 0, or -1 with ERR (an
 * input error naming the field, or memory). */
static int build_body(lua_State *L, struct call *c, const struct soap_client *cl, char *err,
                      size_t errlen)
{
	struct sbuf hdr = { 0 };
	int v = cl->port->soap_version;

	if (cl->wsse.username && wsse_header(&hdr, &cl->wsse) != 0) {
		sbuf_free(&hdr);
		snprintf(err, errlen, "cannot build the WS-Security header (memory or randomness)");
		return -1;
	}
	soap_env_open(&c->body, v, hdr.len ? hdr.p : NULL);
	sbuf_free(&hdr);
	if (sc_encode(L, 2, cl->svc->w, c->op, SC_INPUT, &c->body, err, errlen) != 0)
		return -1;
	soap_env_close(&c->body, v);
	if (c->body.oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* __gc of the box owning a call until its wait has begun. */
static int box_gc(lua_State *L)
{
	struct call **box = lua_touserdata(L, 1);

	if (*box)
		call_free(*box);
	*box = NULL;
	return 0;
}

int soap_client_call(lua_State *L, struct soap_client *cl, const struct wsdl_op *op)
{
	pt_worker *w = soap_api->lua_worker(L);
	pt_exchange *x = soap_api->lua_exchange(L);
	struct call *c, **box;
	char err[1024];

	/* a task with no request runs for an internal exchange: no X means
	 * the scripts are loading (or L is no request's coroutine) */
	if (!w || !x)
		return luaL_error(L, "soap: %s:%s() waits, so it runs only while serving, in a "
		                  "request's handler, filter or task: not while the scripts load, "
		                  "nor inside a coroutine the handler created", cl->svc->name,
		                  op->name);
	if (lua_isnil(L, 2)) {
		lua_newtable(L);
		lua_replace(L, 2);
	}
	if (!lua_istable(L, 2))
		return luaL_error(L, "soap: %s.%s: the input must be a table, got %s", cl->svc->name,
		                  op->name, luaL_typename(L, 2));
	box = lua_newuserdatauv(L, sizeof(*box), 0);   /* 3 */
	*box = NULL;
	if (luaL_newmetatable(L, "portico.soap.call")) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	if (!(c = *box = calloc(1, sizeof(*c))))
		return luaL_error(L, "soap: out of memory");
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	c->set = cl->set;
	soap_services_hold(c->set);
	c->svc = cl->svc;
	c->port = cl->port;
	c->op = op;
	c->w = w;
	c->version = cl->port->soap_version;
	if (build_body(L, c, cl, err, sizeof(err)) != 0) {
		/* nothing was sent: nil, fault{ kind = "invalid" } */
		*box = NULL;
		soap_metric_call(c->svc, op->name, SOAP_INVALID, usec_since(&c->t0));
		call_free(c);
		lua_pushnil(L);
		soap_fault_push_simple(L, "invalid", err, 0, op->name, cl->port->soap_version);
		return 2;
	}
	soap_api->exchange_ref(x);
	c->x = x;
	if (build_headers(c, cl) != 0)
		return luaL_error(L, "soap: out of memory");   /* the box frees C */
	c->req.size = sizeof(c->req);
	c->req.upstream = cl->svc->upstream;
	c->req.url = cl->svc->upstream ? NULL : cl->url;
	c->req.method = (pt_str_t){ "POST", 4 };
	c->req.path = cl->svc->upstream ? (pt_str_t){ cl->path, strlen(cl->path) }
	                                : (pt_str_t){ "/", 1 };
	c->req.body = (pt_str_t){ c->body.p, c->body.len };
	c->req.timeout_ms = cl->timeout_ms ? cl->timeout_ms : (cl->svc->upstream ? 0 : 30000);
	c->wait = soap_api->lua_wait_begin(L);   /* raises when L cannot wait: the box frees C */
	*box = NULL;
	start(c);   /* on failure the loop finishes C */
	return soap_api->lua_wait_yield(L);
}
