/*
 * transcode_up.c - REST transcoding for a service another server runs:
 *
 *   upstream "orders" { servers = { "127.0.0.1:9000" }, http2 = true }
 *   grpc.transcode("orders.v1.Orders", { upstream = "orders", jwt = true })
 *
 * The REST routes are made as for grpc.service (transcode.c) from the
 * contract's annotations; a request's message goes to the upstream as a
 * gRPC call (a streaming upstream call of ABI 1.7: HTTP/2, the upstream's
 * balancing and health), its reply messages are collected (at most
 * max_receive_message bytes in all) and answered as JSON with the gRPC
 * status mapped as for a Lua service. The REST request's headers go along
 * as metadata (not the hop-by-hop and content ones); grpc-timeout, when
 * the client sent one, is the call's deadline.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transcode_priv.h"

#define MAX_FWD_HEADERS 64

struct upcall {
	struct adapt ad;                   /* what transcode_reply reads */
	pt_ucall *c;
	int http_status;
	unsigned too_big : 1;
};

static const struct pt_api *A(void)
{
	return adapt_core();
}

static int skip_header(pt_str_t n)
{
	static const char *const skip[] = { "host", "content-type", "content-length", "connection",
		"te", "transfer-encoding", "keep-alive", "upgrade", "proxy-connection", "expect",
		"http2-settings", "accept-encoding", "grpc-encoding", "grpc-accept-encoding" };

	if (n.len && n.ptr[0] == ':')
		return 1;
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strlen(skip[i]) == n.len && !strncasecmp(n.ptr, skip[i], n.len))
			return 1;
	return 0;
}

static void end(struct upcall *u)
{
	A()->exchange_on_abort(u->ad.x, NULL, NULL);
	transcode_reply(&u->ad);
	pb_buf_free(&u->ad.out);
	pb_buf_free(&u->ad.msg);
	pb_buf_free(&u->ad.details);
	A()->exchange_unref(u->ad.x);
}

static void set_status(struct upcall *u, int code, const char *msg)
{
	u->ad.code = code;
	u->ad.msg.len = 0;
	pb_buf_add(&u->ad.msg, msg, strlen(msg));
}

static int on_head(pt_ucall *c, int status, const pt_str_t *h, uint32_t n, void *ud)
{
	struct upcall *u = ud;

	(void)c;
	u->http_status = status;
	for (uint32_t i = 0; i < n; i++)   /* Trailers-Only */
		adapt_status_field(&u->ad, h[2 * i], h[2 * i + 1]);
	return 0;
}

static int on_data(pt_ucall *c, const void *data, size_t len, void *ud)
{
	struct upcall *u = ud;
	const struct tbind *b = u->ad.ud;

	(void)c;
	if (u->ad.out.len + len > b->max_receive + 5) {
		u->too_big = 1;
		return -1;
	}
	return pb_buf_add(&u->ad.out, data, len) == 0 ? 0 : -1;
}

static void on_done(pt_ucall *c, int err, const char *errmsg, const pt_str_t *t, uint32_t n,
                    void *ud)
{
	struct upcall *u = ud;
	const struct tbind *b = u->ad.ud;

	(void)c;
	u->c = NULL;
	if (u->too_big) {
		set_status(u, GRPC_RESOURCE_EXHAUSTED, "the upstream's reply is larger than "
		           "max_receive_message");
	} else if (err) {
		set_status(u, err == PT_ETIMEDOUT ? GRPC_DEADLINE_EXCEEDED : GRPC_UNAVAILABLE,
		           errmsg ? errmsg : "the upstream call failed");
	} else {
		for (uint32_t i = 0; i < n; i++)
			adapt_status_field(&u->ad, t[2 * i], t[2 * i + 1]);
		if (u->ad.code < 0)
			set_status(u, u->http_status == 200 ? GRPC_UNKNOWN : GRPC_UNAVAILABLE,
			           u->http_status == 200 ? "the upstream's answer has no grpc-status"
			           : "the upstream did not answer as a gRPC server");
	}
	if (u->ad.code != GRPC_OK)
		A()->log(grpc_ctx, PT_LOG_INFO, "%s on upstream %s: %s: %.*s", b->m->path, b->upstream,
		         grpc_code_name(u->ad.code) ? grpc_code_name(u->ad.code) : "?",
		         (int)u->ad.msg.len, (const char *)u->ad.msg.p);
	end(u);
}

static void on_abort(void *ud)
{
	struct upcall *u = ud;

	if (u->c)
		A()->ucall_cancel(u->c);
	u->c = NULL;
	pb_buf_free(&u->ad.out);
	pb_buf_free(&u->ad.msg);
	pb_buf_free(&u->ad.details);
	A()->exchange_unref(u->ad.x);
}

int transcode_upstream(pt_exchange *x, const struct tbind *b, const uint8_t *frame, size_t len)
{
	const struct pt_api *a = A();
	static const struct pt_ucall_ops ops = { sizeof(ops), on_head, on_data, NULL, on_done };
	struct pt_upstream_req req;
	pt_str_t h[2 * (MAX_FWD_HEADERS + 2)], name, value, v;
	struct upcall *u;
	unsigned nh = 0, count;
	int64_t ms = 0;
	int err = 0;

	if (!PT_API_HAS(a, ucall_start)) {
		char *j = NULL;
		int rc;

		tc_error_json(GRPC_UNIMPLEMENTED, "this portico lacks ABI 1.7 (upstream calls)", 43,
		              NULL, &j);
		rc = j ? transcode_answer_json(x, 501, j) : PT_ENOMEM;
		free(j);
		return rc;
	}
	if (!(u = a->exchange_alloc(x, sizeof(*u))))
		return PT_ENOMEM;
	memset(u, 0, sizeof(*u));
	u->ad.x = x;
	u->ad.ud = (void *)b;
	u->ad.code = -1;
	h[nh++] = PT_STR("content-type");
	h[nh++] = PT_STR("application/grpc");
	h[nh++] = PT_STR("te");
	h[nh++] = PT_STR("trailers");
	count = a->exchange_header_count(x);
	for (unsigned i = 0; i < count && nh < 2 * (MAX_FWD_HEADERS + 2); i++)
		if (a->exchange_header_at(x, i, &name, &value) == 0 && !skip_header(name)) {
			h[nh++] = name;
			h[nh++] = value;
		}
	if (a->exchange_header(x, PT_STR("grpc-timeout"), 0, &v) == 0 &&
	    (ms = grpc_timeout_parse(v)) < 0)
		ms = 0;
	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.upstream = b->upstream;
	req.method = PT_STR("POST");
	req.path = (pt_str_t){ b->m->path, strlen(b->m->path) };
	req.headers = h;
	req.num_headers = nh / 2;
	req.body = (pt_str_t){ (const char *)frame, len };
	req.timeout_ms = ms > 0 && ms < UINT32_MAX ? (uint32_t)ms : 0;
	a->exchange_ref(x);
	if (a->exchange_on_abort(x, on_abort, u) != 0) {
		a->exchange_unref(x);
		return 0;
	}
	if (!(u->c = a->ucall_start(a->exchange_worker(x), x, &req, 0, &ops, u, &err))) {
		set_status(u, GRPC_UNAVAILABLE, err == PT_ENOENT ? "no such upstream" :
		           a->strerror(err));
		end(u);
	}
	return 0;
}
