/*
 * ucall.c - streaming upstream calls (pt_api.ucall_*, ABI 1.7) on the
 * worker's outbound client: the gRPC client and proxy stream request and
 * response bodies through them.
 *
 * A call to a named upstream takes its server the way the streaming proxy
 * does (pool.c's upstream_try_*: balancing, active and passive health, the
 * retry budget, the upstream's TLS and protocol); a call to a URL goes to
 * the worker's client (HTTP/2 for a gRPC content-type, since gRPC needs
 * it). A failed attempt is tried again on another server only while
 * nothing of it can have been seen twice: no response head came, the whole
 * request body was given at the start, and the method is idempotent (gRPC's
 * POST never is).
 *
 * Response bytes go through C->HELD: the client's callback moves them there
 * (no copy) and pump() hands them to ops->data while the owner has not
 * paused, so a paused owner gets nothing more until it resumes, whatever
 * the client had already read; the client itself is paused too (HTTP/2 flow
 * control, or no more reads on HTTP/1.1), so HELD stays within a window.
 * The end (ops->done) waits until HELD is delivered.
 *
 * Re-entrance: ops callbacks may call ucall_pause, ucall_write, ucall_end
 * and ucall_cancel. The client's callbacks must not cancel their call, so
 * a cancel from inside one marks the call and the outer frame ends it (a
 * callback returning -1 to the client, or the KICK event on the loop).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conf.h"
#include "gen.h"
#include "http/exchange.h"
#include "http_client.h"
#include "log.h"
#include "outbound.h"
#include "pool.h"
#include "ucall.h"
#include "worker.h"

_Static_assert(PT_UCALL_HIGH == HTTP_CLIENT_OUT_HIGH && PT_UCALL_LOW == HTTP_CLIENT_OUT_LOW,
               "ucall_write's queue levels are the outbound client's");

struct pt_ucall {
	pt_worker *w;
	pt_exchange *x;                  /* one reference, or NULL */
	struct pt_ucall_ops ops;         /* a copy */
	void *ud;
	struct upstream_try *t;          /* a named upstream's choice and accounting */
	const char *upstream;            /* its name (in buf), for logs */
	struct http_client_call *call;   /* the attempt in flight */
	struct http_client_req hr;       /* copies in buf; the url per attempt */
	char *buf;
	pt_str_t *hdrs;                  /* request headers (in buf) */
	struct event *deadline;          /* REQ->timeout_ms */
	struct event *kick;              /* deferred work on the loop */
	struct evbuffer *held;           /* response bytes not yet delivered */
	pt_str_t *trl;                   /* the response's trailers (one block) */
	unsigned ntrl;
	uint64_t t0;                     /* for the access log's upstream time */
	int err;                         /* the end: 0 or PT_E*, once FIN */
	const char *errmsg;
	unsigned char body_more;         /* ucall_write may still add */
	unsigned char paused;
	unsigned char head_seen;
	unsigned char fin;               /* the call is over; done waits for HELD */
	unsigned char late;              /* KICK reports a failure to start */
	unsigned char cancelled;         /* ucall_cancel from inside: end silently */
	unsigned char owner_stop;        /* a callback returned < 0 */
	unsigned in_client;              /* inside a callback of the client */
	unsigned in_ops;                 /* inside an ops callback */
};

static const struct http_client_stream stream_ops;
static void call_done(const struct http_client_res *res, void *ud);

/* ---- life ------------------------------------------------------------------ */

static void ufree(pt_ucall *c)
{
	if (c->x) {
		c->x->upstream_us += mono_us() - c->t0;
		xapi_unref(c->x);
	}
	if (c->deadline)
		event_free(c->deadline);
	if (c->kick)
		event_free(c->kick);
	if (c->held)
		evbuffer_free(c->held);
	upstream_try_end(c->t);
	free(c->trl);
	free(c->hdrs);
	free(c->buf);
	free(c);
}

/* The access log's $upstream_addr: the server of the last attempt. */
static void note_addr(pt_ucall *c, const char *addr)
{
	size_t n = addr ? strlen(addr) : 0;
	char *a;

	if (c->x && n && (a = xapi_alloc(c->x, n + 1))) {
		memcpy(a, addr, n + 1);
		c->x->upstream_addr = (pt_str_t){ a, n };
	}
}

/* Ends the attempt in flight (no callback of it follows). */
static void drop_call(pt_ucall *c)
{
	if (!c->call)
		return;
	if (c->t)
		upstream_try_done(c->t, 1, NULL);   /* not the server's failure */
	http_client_cancel(c->call);
	c->call = NULL;
}

/* The call is over with ERR: ops->done once HELD is delivered (at once for
 * a failure, whose held bytes are dropped). May free C. */
static void settle(pt_ucall *c)
{
	if (c->cancelled) {
		ufree(c);
		return;
	}
	if (c->err == 0 && evbuffer_get_length(c->held))
		return;   /* pump() calls again once the owner took them */
	c->in_ops++;
	c->ops.done(c, c->err, c->errmsg, c->err ? NULL : c->trl, c->err ? 0 : c->ntrl, c->ud);
	ufree(c);
}

static void finish(pt_ucall *c, int err, const char *msg)
{
	if (c->fin)
		return;
	c->fin = 1;
	c->err = err;
	c->errmsg = err ? (msg ? msg : "upstream call failed") : NULL;
	if (err)
		evbuffer_drain(c->held, evbuffer_get_length(c->held));
	evtimer_del(c->deadline);
	settle(c);
}

/* Hands HELD to ops->data while the owner takes it. */
static void pump(pt_ucall *c)
{
	while (!c->paused && !c->cancelled && !c->owner_stop && evbuffer_get_length(c->held)) {
		struct evbuffer_iovec v;
		int rc;

		if (evbuffer_peek(c->held, -1, NULL, &v, 1) < 1)
			break;
		c->in_ops++;
		rc = c->ops.data(c, v.iov_base, v.iov_len, c->ud);
		c->in_ops--;
		evbuffer_drain(c->held, v.iov_len);
		if (rc < 0)
			c->owner_stop = 1;
	}
}

/* Deferred work, on the loop: a cancel from inside, a failure to start,
 * delivery after a resume, or an owner's stop outside the client. */
static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_ucall *c = arg;

	(void)fd;
	(void)what;
	if (c->in_ops || c->in_client) {
		event_active(c->kick, EV_TIMEOUT, 1);   /* cannot happen; be safe */
		return;
	}
	if (c->late) {
		c->late = 0;
		finish(c, c->err, c->errmsg);
		return;
	}
	if (!c->cancelled)
		pump(c);
	if (c->cancelled) {
		drop_call(c);
		ufree(c);
	} else if (c->owner_stop) {
		drop_call(c);
		c->fin = 0;   /* even when the response was whole: the owner said stop */
		finish(c, PT_ECANCELED, "cancelled by the caller");
	} else if (c->fin && !c->call) {
		settle(c);
	}
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_ucall *c = arg;

	(void)fd;
	(void)what;
	drop_call(c);
	finish(c, PT_ETIMEDOUT, "deadline exceeded");
}

/* ---- attempts ---------------------------------------------------------------- */

/* Starts the next attempt. 0; or PT_EIO, PT_ELIMIT, PT_ENOMEM when none can
 * start (nothing is sent then). */
static int attempt(pt_ucall *c)
{
	struct http_client *client;
	int why = PT_ENOMEM;

	if (c->t) {
		client = upstream_try_next(c->t, &c->hr, &why);
		if (!client)
			return why;
		note_addr(c, upstream_try_server(c->t));
	} else if (!(client = worker_http_client(c->w))) {
		return PT_ENOMEM;
	}
	c->hr.stream = &stream_ops;
	c->call = http_client_request(client, &c->hr, call_done, c);
	if (!c->call) {
		if (c->t)
			upstream_try_done(c->t, 1, NULL);
		return PT_ENOMEM;
	}
	if (c->paused)
		http_client_pause(c->call, 1);
	return 0;
}

/* A failed attempt may go again: see the file's comment. */
static int can_retry(const pt_ucall *c)
{
	const struct upstream_conf *u = c->t ? upstream_try_conf(c->t) : NULL;

	return u && !c->head_seen && !c->body_more && !c->fin &&
	       upstream_try_attempts(c->t) <= u->retries && upstream_idempotent(c->hr.method);
}

/* ---- the client's callbacks ---------------------------------------------- */

static int stop_now(const pt_ucall *c)
{
	return c->cancelled || c->owner_stop ? -1 : 0;
}

static int up_head(const struct http_client_res *res, void *ud)
{
	pt_ucall *c = ud;
	pt_str_t stack[64], *h = stack;
	char *names = NULL;
	size_t nlen = 0;
	unsigned n = res->num_headers;
	int rc;

	if (stop_now(c))
		return -1;
	c->head_seen = 1;
	if (!c->t)
		note_addr(c, res->peer);
	/* names lower-case, as HTTP/2 has them: HTTP/1.1 servers may differ */
	for (unsigned i = 0; i < n; i++)
		nlen += res->headers[2 * i].len;
	if ((2 * n > sizeof(stack) / sizeof(stack[0]) && !(h = malloc(2 * n * sizeof(*h)))) ||
	    (nlen && !(names = malloc(nlen)))) {
		if (h != stack)
			free(h);
		c->owner_stop = 1;
		return -1;
	}
	nlen = 0;
	for (unsigned i = 0; i < n; i++) {
		pt_str_t nm = res->headers[2 * i];

		for (size_t k = 0; k < nm.len; k++)
			names[nlen + k] = (char)tolower((unsigned char)nm.ptr[k]);
		h[2 * i] = (pt_str_t){ names + nlen, nm.len };
		h[2 * i + 1] = res->headers[2 * i + 1];
		nlen += nm.len;
	}
	c->in_client++;
	c->in_ops++;
	rc = c->ops.head(c, res->status, h, n, c->ud);
	c->in_ops--;
	c->in_client--;
	if (h != stack)
		free(h);
	free(names);
	if (rc < 0)
		c->owner_stop = 1;
	return stop_now(c);
}

static int up_body(struct evbuffer *buf, size_t n, int last, void *ud)
{
	pt_ucall *c = ud;

	(void)last;   /* the end comes with call_done */
	if (stop_now(c)) {
		evbuffer_drain(buf, n);
		return -1;
	}
	if (n && evbuffer_remove_buffer(buf, c->held, n) != (int)n) {
		evbuffer_drain(buf, n);
		c->owner_stop = 1;
		return -1;
	}
	c->in_client++;
	pump(c);
	c->in_client--;
	return stop_now(c);
}

static void up_drain(void *ud)
{
	pt_ucall *c = ud;

	if (stop_now(c) || !c->ops.drain)
		return;
	c->in_client++;
	c->in_ops++;
	c->ops.drain(c, c->ud);
	c->in_ops--;
	c->in_client--;
	if (c->cancelled)
		event_active(c->kick, EV_TIMEOUT, 1);   /* cannot cancel from here */
}

static int up_trailers(const pt_str_t *pairs, unsigned n, void *ud)
{
	pt_ucall *c = ud;
	size_t bytes = 0;
	char *p;

	if (stop_now(c))
		return -1;
	free(c->trl);
	c->trl = NULL;
	c->ntrl = 0;
	for (unsigned i = 0; i < 2 * n; i++)
		bytes += pairs[i].len;
	if (!n || !(c->trl = malloc(2 * n * sizeof(pt_str_t) + bytes + 1)))
		return n ? (c->owner_stop = 1, -1) : 0;
	p = (char *)(c->trl + 2 * n);
	for (unsigned i = 0; i < 2 * n; i++) {
		if (pairs[i].len)
			memcpy(p, pairs[i].ptr, pairs[i].len);
		if (i % 2 == 0)
			for (size_t k = 0; k < pairs[i].len; k++)
				p[k] = (char)tolower((unsigned char)p[k]);
		c->trl[i] = (pt_str_t){ p, pairs[i].len };
		p += pairs[i].len;
	}
	c->ntrl = n;
	return 0;
}

static const struct http_client_stream stream_ops = {
	.head = up_head, .body = up_body, .drain = up_drain, .trailers = up_trailers,
};

static void call_done(const struct http_client_res *res, void *ud)
{
	pt_ucall *c = ud;
	int rc;

	c->call = NULL;
	if (c->t)
		upstream_try_result(c->t, res);
	if (c->t)
		upstream_try_done(c->t, res->status >= 0 || c->cancelled || c->owner_stop,
		                  res->error);
	if (c->cancelled) {
		ufree(c);
		return;
	}
	if (c->owner_stop) {
		finish(c, PT_ECANCELED, "cancelled by the caller");
		return;
	}
	if (res->status >= 0) {
		if (!c->ntrl && res->num_trailers)
			up_trailers(res->trailers, res->num_trailers, c);
		finish(c, 0, NULL);
		return;
	}
	if (can_retry(c)) {
		log_info("upstream", "%s: %s failed (%s): trying another server", c->upstream,
		         upstream_try_server(c->t), res->error ? res->error : "error");
		if ((rc = attempt(c)) == 0)
			return;
	}
	if (c->t)
		log_info("upstream", "%s (%s): %s", c->upstream, upstream_try_server(c->t),
		         res->error ? res->error : "failed");
	finish(c, res->status, res->error);
}

/* ---- pt_api ---------------------------------------------------------------- */

/* 1 when HEADERS say gRPC (not gRPC-Web): the call must be HTTP/2. */
static int grpc_request(const pt_str_t *h, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (h[2 * i].len == 12 && !strncasecmp(h[2 * i].ptr, "content-type", 12))
			return h[2 * i + 1].len >= 16 &&
			       !strncasecmp(h[2 * i + 1].ptr, "application/grpc", 16) &&
			       !(h[2 * i + 1].len >= 20 &&
			         !strncasecmp(h[2 * i + 1].ptr + 16, "-web", 4));
	return 0;
}

/* Copies REQ into C (one block). */
static int copy_req(pt_ucall *c, const struct pt_upstream_req *req)
{
	size_t need = req->method.len + req->path.len + req->body.len + 2 +
	              (req->upstream ? strlen(req->upstream) : 0) + (req->url ? strlen(req->url) : 0);
	size_t off = 0;
	char *p;

	for (unsigned i = 0; i < req->num_headers * 2; i++)
		need += req->headers[i].len;
	if (!(p = c->buf = malloc(need + 1)) ||
	    !(c->hdrs = calloc(req->num_headers * 2 + 1, sizeof(pt_str_t))))
		return PT_ENOMEM;
#define COPY(dst, src) do { if ((src).len) memcpy(p + off, (src).ptr, (src).len); \
	(dst) = (pt_str_t){ p + off, (src).len }; off += (src).len; } while (0)
	COPY(c->hr.method, req->method);
	COPY(c->hr.body, req->body);
	for (unsigned i = 0; i < req->num_headers * 2; i++)
		COPY(c->hdrs[i], req->headers[i]);
	if (req->upstream) {
		pt_str_t path, name = { req->upstream, strlen(req->upstream) };

		COPY(path, req->path);
		c->upstream = p + off;
		COPY(name, name);
		p[off++] = '\0';
		c->hr.url = path;   /* upstream_try_start borrows it, attempts replace it */
	} else {
		pt_str_t url = { req->url, strlen(req->url) };

		COPY(c->hr.url, url);
		c->upstream = "url";
	}
#undef COPY
	if (!c->hr.method.len)
		c->hr.method = PT_STR("POST");
	c->hr.headers = c->hdrs;
	c->hr.num_headers = req->num_headers;
	c->hr.body_more = c->body_more;
	c->hr.body_length = -1;
	return 0;
}

pt_ucall *ucall_start(pt_worker *w, pt_exchange *x, const struct pt_upstream_req *req,
                      int body_more, const struct pt_ucall_ops *ops, void *ud, int *err)
{
	pt_ucall *c;
	int dummy, rc;

	if (!err)
		err = &dummy;
	*err = PT_EINVAL;
	if (!w && x)
		w = x->w;
	if (!w || !req || req->size < sizeof(*req) || (!req->upstream && !req->url) ||
	    (x && x->w != w) || !ops || ops->size < sizeof(*ops) || !ops->head || !ops->data ||
	    !ops->done || (req->num_headers && !req->headers))
		return NULL;
	if (req->upstream && !config_upstream((x ? x->gen : w->gen)->cfg, req->upstream)) {
		*err = PT_ENOENT;
		return NULL;
	}
	*err = PT_ENOMEM;
	if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	c->w = w;
	c->ops = *ops;
	c->ud = ud;
	c->body_more = body_more != 0;
	if (copy_req(c, req) != 0 || !(c->held = evbuffer_new()) ||
	    !(c->deadline = evtimer_new(w->base, deadline_cb, c)) ||
	    !(c->kick = event_new(w->base, -1, 0, kick_cb, c)))
		goto fail;
	if (req->upstream) {
		c->t = upstream_try_start(w, x ? x->gen : w->gen, c->upstream, c->hdrs,
		                          req->num_headers, c->hr.url);
		if (!c->t)
			goto fail;
	} else {
		c->hr.timeout = req->timeout_ms ? req->timeout_ms / 1000.0 : 30;
		c->hr.connect_timeout = c->hr.timeout < 5 ? c->hr.timeout : 5;
		c->hr.h2 = grpc_request(c->hdrs, req->num_headers);
	}
	if (req->timeout_ms) {
		struct timeval tv = { req->timeout_ms / 1000, (req->timeout_ms % 1000) * 1000 };

		evtimer_add(c->deadline, &tv);
	}
	if (x) {
		c->x = x;
		c->t0 = mono_us();
		xapi_ref(x);
	}
	rc = attempt(c);
	if (rc == PT_ENOMEM && !c->t)
		goto fail;
	if (rc != 0) {
		/* no server to try: said from the loop, as a call's failure */
		if (rc == PT_EIO || rc == PT_ELIMIT)
			log_warn("upstream", "%s: no server is available", c->upstream);
		c->late = 1;
		c->err = rc == PT_ENOMEM ? PT_ENOMEM : PT_EIO;
		c->errmsg = rc == PT_ENOMEM ? "out of memory" : "no upstream server is available";
		event_active(c->kick, EV_TIMEOUT, 1);
	}
	*err = 0;
	return c;
fail:
	ufree(c);
	return NULL;
}

int64_t ucall_write(pt_ucall *c, const void *data, size_t len)
{
	ssize_t n;

	if (!c || (len && !data))
		return PT_EINVAL;
	if (!c->body_more)
		return PT_ESTATE;
	if (!c->call)
		return PT_EIO;   /* failing: done follows */
	n = http_client_body_write(c->call, data, len);
	return n < 0 ? (int64_t)n : (int64_t)n;
}

int ucall_end(pt_ucall *c, const pt_str_t *trailers, uint32_t ntrailers)
{
	int rc = 0;

	if (!c || (ntrailers && !trailers))
		return PT_EINVAL;
	if (!c->body_more)
		return PT_ESTATE;
	c->body_more = 0;
	if (!c->call)
		return PT_EIO;
	if (ntrailers)
		rc = http_client_body_trailers(c->call, trailers, ntrailers);
	if (rc == 0)
		rc = http_client_body_end(c->call);
	return rc;
}

void ucall_pause(pt_ucall *c, int paused)
{
	if (!c || c->cancelled)
		return;
	c->paused = paused != 0;
	if (c->call)
		http_client_pause(c->call, c->paused);
	if (!c->paused && (evbuffer_get_length(c->held) || (c->fin && !c->call)))
		event_active(c->kick, EV_TIMEOUT, 1);
}

void ucall_cancel(pt_ucall *c)
{
	if (!c || c->cancelled)
		return;
	c->cancelled = 1;
	if (c->in_ops || c->in_client) {
		event_active(c->kick, EV_TIMEOUT, 1);   /* the outer frame ends it */
		return;
	}
	drop_call(c);
	ufree(c);
}
