/*
 * outbound.c - each worker's outbound HTTP client, and pt_api.upstream_request
 * on top of it (plugins' outbound calls: gRPC, SOAP, webhooks' deliveries).
 */
#include <stdlib.h>
#include <string.h>

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
};

static void done(const struct http_client_res *r, void *ud)
{
	struct call *c = ud;
	struct pt_upstream_res res = {
		.size = sizeof(res),
		.status = r->status,
		.headers = r->headers,
		.num_headers = r->num_headers,
		.body = r->body,
	};

	c->fn(&res, c->ud);
	free(c);
}

static void named_done(const struct http_client_res *r, const char *server, void *ud)
{
	(void)server;
	done(r, ud);
}

int upstream_request_api(pt_worker *w, const struct pt_upstream_req *req, pt_upstream_fn fn,
                         void *ud)
{
	struct http_client_req hr = { 0 };
	struct http_client *client;
	struct call *c;

	if (!w || !req || !fn || req->size < sizeof(*req))
		return PT_EINVAL;
	if (req->upstream) {
		struct upstream_req ur = { req->method, req->path, req->headers, req->num_headers,
		                           req->body, req->timeout_ms / 1000.0 };
		int rc;

		if (!(c = malloc(sizeof(*c))))
			return PT_ENOMEM;
		c->fn = fn;
		c->ud = ud;
		rc = upstream_send(w, req->upstream, &ur, named_done, c);
		if (rc != 0)
			free(c);
		return rc;
	}
	if (!req->url)
		return PT_EINVAL;
	if (!(client = worker_http_client(w)) || !(c = malloc(sizeof(*c))))
		return PT_ENOMEM;
	c->fn = fn;
	c->ud = ud;
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
