/*
 * proxy_request.c - what the proxy sends upstream (see proxy.h): the route's
 * options parsed (and cached per worker), and the forwarded request's path
 * and headers built from the client's -- hop-by-hop fields dropped,
 * X-Forwarded-*, one request id, a traceparent, gRPC's te and grpc-timeout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf_tree.h"
#include "gen.h"
#include "http/exchange.h"
#include "proxy.h"
#include "proxy_request.h"

#define MAX_FWD_HEADERS 128

/* Names a proxy does not pass on (hop-by-hop, or framed by each side). By
 * length first: this runs for every header both ways. */
static int ieq(const char *s, const char *lower, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] | 0x20 : s[i]) != lower[i])
			return 0;
	return 1;
}

static int is_hop(pt_str_t n)
{
#define IS(lit) (n.len == sizeof(lit) - 1 && ieq(n.ptr, lit, sizeof(lit) - 1))
	switch (n.len) {
	case 2: return IS("te");
	case 4: return IS("host");
	case 6: return IS("expect");
	case 7: return IS("trailer") || IS("upgrade");
	case 10: return IS("connection") || IS("keep-alive");
	case 14: return IS("content-length");
	case 16: return IS("proxy-connection");
	case 17: return IS("transfer-encoding");
	default: return 0;
	}
#undef IS
}

/* The transport writes its own Server and Date. */
int proxy_resp_skipped(pt_str_t n)
{
	return is_hop(n) || (n.len == 6 && ieq(n.ptr, "server", 6)) ||
	       (n.len == 4 && ieq(n.ptr, "date", 4));
}

/* Appends header NAME: VALUE to H (VAL copied into X's pool). */
static void add(pt_exchange *x, pt_str_t *h, unsigned *n, unsigned cap, pt_str_t name,
                const char *val, size_t vlen)
{
	char *v;

	if (*n >= cap || !(v = xapi_alloc(x, vlen + 1)))
		return;
	memcpy(v, val, vlen);
	h[2 * *n] = name;
	h[2 * *n + 1] = (pt_str_t){ v, vlen };
	(*n)++;
}

/* Whether NAME (lower-case) is in the route's remove_headers. */
static int removed(const struct proxy_conf *pc, pt_str_t name)
{
	for (unsigned i = 0; i < pc->nremove; i++)
		if (pc->remove[i].len == name.len && ieq(pc->remove[i].ptr, name.ptr, name.len))
			return 1;
	return 0;
}

int proxy_request_build(pt_exchange *x, const struct proxy_conf *pc, int deadline,
                        struct http_client_req *hr, pt_str_t *fwd_path,
                        pt_str_t **grpc_timeout)
{
	unsigned cap = x->nhdrs + 10 + pc->nheaders;
	pt_str_t *h;
	pt_str_t path = x->path, xff = { NULL, 0 }, v;
	unsigned n = 0;
	const char *colon;
	char *full;
	size_t iplen, off = 0;
	char *buf;

	if (cap > MAX_FWD_HEADERS + 2)
		cap = MAX_FWD_HEADERS + 2;
	if (!(h = xapi_alloc(x, 2 * cap * sizeof(pt_str_t))))
		return PT_ENOMEM;
	if (pc->strip_prefix.len && path.len >= pc->strip_prefix.len &&
	    !memcmp(path.ptr, pc->strip_prefix.ptr, pc->strip_prefix.len)) {
		path.ptr += pc->strip_prefix.len;
		path.len -= pc->strip_prefix.len;
	}
	if (!(full = xapi_alloc(x, pc->prefix.len + path.len + x->query.len + 3)))
		return PT_ENOMEM;
	*fwd_path = (pt_str_t){ full, 0 };
	if (pc->prefix.len) {
		memcpy(full, pc->prefix.ptr, pc->prefix.len);
		fwd_path->len = pc->prefix.len;
		if (full[fwd_path->len - 1] == '/' && path.len && path.ptr[0] == '/')
			fwd_path->len--;   /* "/v2/" + "/users": one slash */
	}
	if (!fwd_path->len && (!path.len || path.ptr[0] != '/'))
		full[fwd_path->len++] = '/';
	else if (fwd_path->len && full[fwd_path->len - 1] != '/' && path.len && path.ptr[0] != '/')
		full[fwd_path->len++] = '/';
	memcpy(full + fwd_path->len, path.ptr, path.len);
	fwd_path->len += path.len;
	if (x->query.len) {
		full[fwd_path->len++] = '?';
		memcpy(full + fwd_path->len, x->query.ptr, x->query.len);
		fwd_path->len += x->query.len;
	}
	for (unsigned i = 0; i < x->nhdrs && n + 8 < cap; i++) {
		if (is_hop(x->hdrs[i].name) || removed(pc, x->hdrs[i].name))
			continue;
		if (pc->grpc && x->hdrs[i].name.len == 12 && !memcmp(x->hdrs[i].name.ptr,
		                                                     "grpc-timeout", 12))
			continue;   /* goes on below, reduced by the time spent */
		if (x->hdrs[i].name.len == 15 && !memcmp(x->hdrs[i].name.ptr, "x-forwarded-for", 15)) {
			xff = x->hdrs[i].value;
			continue;
		}
		if (x->hdrs[i].name.len == 12 && !memcmp(x->hdrs[i].name.ptr, "x-request-id", 12))
			continue;   /* goes on once below: the request id, which is the
			               client's when it sent a usable one */
		if (x->hdrs[i].name.len == 11 && !memcmp(x->hdrs[i].name.ptr, "traceparent", 11))
			continue;   /* likewise: the client's when well formed */
		h[2 * n] = x->hdrs[i].name;
		h[2 * n + 1] = x->hdrs[i].value;
		n++;
	}
	/* X-Forwarded-For: what came, then the client's address without its port */
	colon = x->remote.len ? memrchr(x->remote.ptr, ':', x->remote.len) : NULL;
	iplen = colon ? (size_t)(colon - x->remote.ptr) : x->remote.len;
	if (!(buf = xapi_alloc(x, xff.len + iplen + 3)))
		return PT_ENOMEM;
	if (xff.len) {
		memcpy(buf, xff.ptr, xff.len);
		off = xff.len;
		memcpy(buf + off, ", ", 2);
		off += 2;
	}
	memcpy(buf + off, x->remote.ptr, iplen);
	h[2 * n] = PT_STR("x-forwarded-for");
	h[2 * n + 1] = (pt_str_t){ buf, off + iplen };
	n++;
	h[2 * n] = PT_STR("x-forwarded-proto");
	h[2 * n + 1] = x->tls ? PT_STR("https") : PT_STR("http");
	n++;
	if (x->host.len) {
		h[2 * n] = PT_STR("x-forwarded-host");
		h[2 * n + 1] = x->host;
		n++;
	}
	if (pc->grpc) {
		/* grpc's servers want te: trailers (a hop-by-hop name otherwise) */
		h[2 * n] = PT_STR("te");
		h[2 * n + 1] = PT_STR("trailers");
		n++;
		if (deadline) {
			char *tv = xapi_alloc(x, 12);

			if (!tv)
				return PT_ENOMEM;
			h[2 * n] = PT_STR("grpc-timeout");
			h[2 * n + 1] = (pt_str_t){ tv, 0 };   /* set by each attempt */
			*grpc_timeout = &h[2 * n + 1];
			n++;
		}
	}
	v = xapi_request_id(x);
	add(x, h, &n, cap, PT_STR("x-request-id"), v.ptr, v.len);
	/* the exchange's trace context: the client's when well formed, else
	 * one made for it, shared by every hop it makes (proxy, grpc.call, SOAP) */
	v = xapi_traceparent(x);
	add(x, h, &n, cap, PT_STR("traceparent"), v.ptr, v.len);
	for (unsigned i = 0; i < pc->nheaders && n < cap; i++) {
		pt_str_t nm = pc->headers[2 * i], val = pc->headers[2 * i + 1];
		char *c = xapi_alloc(x, nm.len + 1);

		if (!c)
			return PT_ENOMEM;
		memcpy(c, nm.ptr, nm.len);
		add(x, h, &n, cap, (pt_str_t){ c, nm.len }, val.ptr, val.len);
	}
	hr->method = x->method_name;
	hr->headers = h;
	hr->num_headers = n;
	return 0;
}

/*
 * The parsed options of the proxy routes a worker served lately, by
 * (options, generation): parsing them was several lookups per request. An
 * entry's strings point into the generation's config; the key's generation
 * id keeps a later generation's options (perhaps at the same address) apart.
 * Routes with more added headers than an entry holds are parsed each time.
 */
#define OPTS_CACHE 8
#define OPTS_HEADERS 16

struct opts_entry {
	const pt_conf *opts;
	unsigned gen_id;
	struct proxy_conf pc;
	pt_str_t headers[2 * OPTS_HEADERS];
};

static __thread struct opts_entry opts_cache[OPTS_CACHE];

/* Parses OPTS into PC; added headers go to H (CAP pairs). */
static int opts_parse(const pt_conf *opts, struct proxy_conf *pc, pt_str_t *h, size_t cap)
{
	const pt_conf *hdrs = conf_get(opts, "headers"), *v, *rm;
	pt_str_t up;
	const char *k;

	memset(pc, 0, sizeof(*pc));
	if (conf_str(opts, "upstream", &up) != 0)
		return PT_EINVAL;
	pc->upstream = up.ptr;
	conf_str(opts, "strip_prefix", &pc->strip_prefix);
	conf_str(opts, "prefix", &pc->prefix);
	rm = conf_get(opts, "remove_headers");
	for (size_t i = 0; i < conf_len(rm) && pc->nremove < PROXY_MAX_REMOVE; i++)
		if (conf_str(conf_at(rm, i), NULL, &pc->remove[pc->nremove]) == 0)
			pc->nremove++;
	conf_num(opts, "timeout", &pc->timeout);
	if (conf_bool(opts, "grpc", &pc->grpc) != 0)
		pc->grpc = 0;
	for (size_t i = 0; hdrs && (k = conf_key_at(hdrs, i, &v)) != NULL; i++) {
		pt_str_t val;

		if (conf_str(v, NULL, &val) != 0 || pc->nheaders >= cap)
			continue;
		h[2 * pc->nheaders] = (pt_str_t){ k, strlen(k) };
		h[2 * pc->nheaders + 1] = val;
		pc->nheaders++;
	}
	pc->headers = h;
	return 0;
}

int proxy_handler(pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct opts_entry *e = &opts_cache[((uintptr_t)opts >> 4) % OPTS_CACHE];
	const pt_conf *hdrs;
	size_t nh;
	int rc;

	(void)ud;
	if (e->opts == opts && e->gen_id == x->gen->id)
		return proxy_start(x, &e->pc, NULL, NULL);
	hdrs = conf_get(opts, "headers");
	nh = hdrs && conf_type(hdrs) == PT_CONF_TABLE ? hdrs->u.t.nkeys : 0;
	if (nh > OPTS_HEADERS) {
		struct proxy_conf pc;
		pt_str_t *h = xapi_alloc(x, 2 * nh * sizeof(*h));

		if (!h)
			return PT_ENOMEM;
		if ((rc = opts_parse(opts, &pc, h, nh)) != 0)
			return rc;
		return proxy_start(x, &pc, NULL, NULL);
	}
	e->opts = NULL;
	if ((rc = opts_parse(opts, &e->pc, e->headers, OPTS_HEADERS)) != 0)
		return rc;
	e->opts = opts;
	e->gen_id = x->gen->id;
	return proxy_start(x, &e->pc, NULL, NULL);
}
