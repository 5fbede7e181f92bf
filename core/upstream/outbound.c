/*
 * outbound.c - each worker's outbound HTTP client, and pt_api.upstream_request
 * on top of it (plugins' outbound calls: gRPC, SOAP, webhooks' deliveries).
 */
#include <stdlib.h>
#include <string.h>

#include "http/exchange.h"
#include "outbound.h"
#include "pool.h"
#include "worker.h"

struct http_client *worker_http_client(pt_worker *w)
{
	if (!w->http_client) {
		struct http_client_opts o = { .size = sizeof(o) };

		w->http_client = http_client_new(w->base, &o);
	}
	return w->http_client;
}

struct call {
	pt_upstream_fn fn;
	void *ud;
	pt_exchange *x;          /* exchange_upstream_request: referenced, else NULL */
	uint64_t t0;             /* when the call started, for the access log */
};

/* The access log's upstream facts for X: the server and the time waited. */
static void note_exchange(struct call *c, const char *server)
{
	pt_exchange *x = c->x;
	size_t n = server ? strlen(server) : 0;
	char *a;

	x->upstream_us += mono_us() - c->t0;
	if (n && (a = xapi_alloc(x, n + 1))) {
		memcpy(a, server, n + 1);
		x->upstream_addr = (pt_str_t){ a, n };
	}
}

static void call_end(const struct http_client_res *r, const char *server, struct call *c)
{
	pt_exchange *x = c->x;
	struct pt_upstream_res res = {
		.size = sizeof(res),
		.status = r->status,
		.headers = r->headers,
		.num_headers = r->num_headers,
		.body = r->body,
		.trailers = r->trailers,
		.num_trailers = r->num_trailers,
		.error = r->status < 0 ? r->error : NULL,
	};

	if (x)
		note_exchange(c, server);
	c->fn(&res, c->ud);
	free(c);
	if (x)
		xapi_unref(x);
}

static void done(const struct http_client_res *r, void *ud)
{
	call_end(r, r->peer, ud);
}

static void named_done(const struct http_client_res *r, const char *server, void *ud)
{
	call_end(r, server ? server : r->peer, ud);
}

static struct call *call_new(pt_upstream_fn fn, void *ud)
{
	struct call *c = malloc(sizeof(*c));

	if (c)
		*c = (struct call){ .fn = fn, .ud = ud };
	return c;
}

/* Sends REQ for call C (owned: freed here when this fails). */
static int send_call(pt_worker *w, const struct pt_upstream_req *req, struct call *c)
{
	struct http_client_req hr = { 0 };
	struct http_client *client;

	if (req->upstream) {
		struct upstream_req ur = { req->method, req->path, req->headers, req->num_headers,
		                           req->body, req->timeout_ms / 1000.0 };
		int rc = upstream_send(w, req->upstream, &ur, named_done, c);

		if (rc != 0)
			free(c);
		return rc;
	}
	if (!req->url) {
		free(c);
		return PT_EINVAL;
	}
	if (!(client = worker_http_client(w))) {
		free(c);
		return PT_ENOMEM;
	}
	hr.method = req->method;
	hr.url = (pt_str_t){ req->url, strlen(req->url) };
	hr.headers = req->headers;
	hr.num_headers = req->num_headers;
	hr.body = req->body;
	hr.timeout = req->timeout_ms ? req->timeout_ms / 1000.0 : 30;
	hr.connect_timeout = hr.timeout < 5 ? hr.timeout : 5;
	if (!http_client_request(client, &hr, done, c)) {
		free(c);
		return PT_ENOMEM;
	}
	return 0;
}

int upstream_request_api(pt_worker *w, const struct pt_upstream_req *req, pt_upstream_fn fn,
                         void *ud)
{
	struct call *c;

	if (!w || !req || !fn || req->size < sizeof(*req))
		return PT_EINVAL;
	if (!(c = call_new(fn, ud)))
		return PT_ENOMEM;
	return send_call(w, req, c);
}

int upstream_request_for(pt_exchange *x, const struct pt_upstream_req *req, pt_upstream_fn fn,
                         void *ud)
{
	struct call *c;
	int rc;

	if (!x || !req || !fn || req->size < sizeof(*req))
		return PT_EINVAL;
	if (!(c = call_new(fn, ud)))
		return PT_ENOMEM;
	c->x = x;
	c->t0 = mono_us();
	xapi_ref(x);
	rc = send_call(x->w, req, c);
	if (rc != 0)
		xapi_unref(x);
	return rc;
}
