/* pool.c - named upstreams; see pool.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "gen.h"
#include "log.h"
#include "outbound.h"
#include "pool.h"
#include "worker.h"

/* One server's health and load as this worker sees it. */
struct srv {
	char key[192];               /* "upstream|host:port" */
	unsigned active;
	unsigned fails;
	double ejected_until;
};

struct up_worker {
	struct srv *srv;
	unsigned nsrv, cap;
	unsigned rr;                 /* round-robin cursor, shared by the upstreams */
};

struct call {
	pt_worker *w;
	struct gen *gen;             /* keeps U alive during the call */
	const struct upstream_conf *u;
	struct upstream_req req;     /* copies */
	pt_str_t *headers;
	char *buf;
	unsigned attempts;
	uint64_t tried;              /* bit per server index (first 64) */
	struct srv *cur;
	const char *cur_name;
	upstream_cb cb;
	void *ud;
	int last_status;             /* the last attempt's failure */
	const char *last_error;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct up_worker *uw_of(pt_worker *w)
{
	if (!w->upstreams)
		w->upstreams = calloc(1, sizeof(struct up_worker));
	return w->upstreams;
}

static struct srv *srv_get(struct up_worker *uw, const char *up, const char *server)
{
	char key[192];

	snprintf(key, sizeof(key), "%s|%s", up, server);
	for (unsigned i = 0; i < uw->nsrv; i++)
		if (!strcmp(uw->srv[i].key, key))
			return &uw->srv[i];
	if (uw->nsrv == uw->cap) {
		unsigned cap = uw->cap ? uw->cap * 2 : 16;
		struct srv *s = realloc(uw->srv, cap * sizeof(*s));

		if (!s)
			return NULL;
		uw->srv = s;
		uw->cap = cap;
	}
	memset(&uw->srv[uw->nsrv], 0, sizeof(struct srv));
	snprintf(uw->srv[uw->nsrv].key, sizeof(uw->srv[0].key), "%s", key);
	return &uw->srv[uw->nsrv++];
}

void upstream_worker_free(pt_worker *w)
{
	struct up_worker *uw = w->upstreams;

	if (uw) {
		free(uw->srv);
		free(uw);
		w->upstreams = NULL;
	}
}

static int idempotent(pt_str_t m)
{
	static const char *const ok[] = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS", NULL };

	for (int i = 0; ok[i]; i++)
		if (m.len == strlen(ok[i]) && !memcmp(m.ptr, ok[i], m.len))
			return 1;
	return 0;
}

/* Picks a server not tried yet and not ejected; -1 when none is left. */
static int choose(struct call *c, struct up_worker *uw, double now)
{
	const struct upstream_conf *u = c->u;
	int best = -1;
	unsigned best_active = ~0u;

	for (unsigned k = 0; k < u->nservers; k++) {
		unsigned i = (uw->rr + k) % u->nservers;
		struct srv *s = srv_get(uw, u->name, u->servers[i]);

		if (!s || (i < 64 && (c->tried & (1ull << i))) || s->ejected_until > now)
			continue;
		if (!u->least_conn) {
			best = (int)i;
			break;
		}
		if (s->active < best_active) {
			best_active = s->active;
			best = (int)i;
		}
	}
	uw->rr++;
	return best;
}

static void attempt(struct call *c);

static void finish(struct call *c, const struct http_client_res *res)
{
	c->cb(res, c->cur_name, c->ud);
	gen_unref(c->gen);
	free(c->headers);
	free(c->buf);
	free(c);
}

/* An attempt on SERVER of U ended: answered (OK) or failed with ERROR. */
static void srv_result(pt_worker *w, const struct upstream_conf *u, const char *server, int ok,
                       const char *error)
{
	/* the server list may have moved (realloc): find it again */
	struct srv *s = srv_get(uw_of(w), u->name, server);
	double now = now_s();

	if (s && s->active)
		s->active--;
	if (ok) {
		if (s)
			s->fails = 0;
		return;
	}
	if (s && ++s->fails >= u->max_fails && s->ejected_until <= now) {
		s->ejected_until = now + u->fail_timeout;
		log_warn("upstream", "%s: server %s left out for %gs after %u failures (last: %s)",
		         u->name, server, u->fail_timeout, s->fails, error ? error : "error");
	}
}

static void done(const struct http_client_res *res, void *ud)
{
	struct call *c = ud;

	srv_result(c->w, c->u, c->cur_name, res->status >= 0, res->error);
	if (res->status >= 0) {
		finish(c, res);
		return;
	}
	c->last_status = res->status;
	c->last_error = res->error;
	if (c->attempts <= c->u->retries && idempotent(c->req.method)) {
		log_info("upstream", "%s: %s failed (%s), retrying on another server", c->u->name,
		         c->cur_name, res->error ? res->error : "error");
		attempt(c);
		return;
	}
	finish(c, res);
}

struct late {
	struct call *c;
	int status;
	const char *error;
};

static void late_cb(evutil_socket_t fd, short what, void *arg)
{
	struct late *l = arg;
	struct http_client_res res = { .status = l->status, .error = l->error };

	(void)fd;
	(void)what;
	finish(l->c, &res);
	free(l);
}

/* Fails C from the loop, never from inside upstream_send (callers may not
 * be ready for their callback yet). */
static void fail_later(struct call *c, int status, const char *error)
{
	struct late *l = malloc(sizeof(*l));
	struct timeval zero = { 0, 0 };

	if (l) {
		l->c = c;
		l->status = status;
		l->error = error;
		if (event_base_once(c->w->base, -1, EV_TIMEOUT, late_cb, l, &zero) == 0)
			return;
		free(l);
	}
	log_error("upstream", "%s: cannot schedule a failure: the call is dropped", c->u->name);
}

static void attempt(struct call *c)
{
	struct up_worker *uw = uw_of(c->w);
	struct http_client *client = worker_http_client(c->w);
	struct http_client_req hr = { 0 };
	char url[4096];
	int i = uw ? choose(c, uw, now_s()) : -1;
	int n;

	if (i < 0 || !client) {
		/* nothing left to try: the last failure says what happened */
		if (c->attempts)
			fail_later(c, c->last_status, c->last_error);
		else
			fail_later(c, PT_EIO, "no upstream server is available");
		return;
	}
	c->attempts++;
	if (i < 64)
		c->tried |= 1ull << i;
	c->cur_name = c->u->servers[i];
	c->cur = srv_get(uw, c->u->name, c->cur_name);
	if (c->cur)
		c->cur->active++;
	n = snprintf(url, sizeof(url), "http://%s%.*s", c->cur_name, (int)c->req.path.len,
	             c->req.path.ptr);
	hr.method = c->req.method;
	hr.url = (pt_str_t){ url, n > 0 && (size_t)n < sizeof(url) ? (size_t)n : 0 };
	hr.headers = c->headers;
	hr.num_headers = c->req.num_headers;
	hr.body = c->req.body;
	hr.connect_timeout = c->u->connect_timeout;
	hr.timeout = c->req.timeout > 0 ? c->req.timeout : c->u->read_timeout;
	if (!http_client_request(client, &hr, done, c)) {
		if (c->cur && c->cur->active)
			c->cur->active--;
		fail_later(c, PT_ENOMEM, "out of memory");
	}
}

int upstream_send(pt_worker *w, const char *name, const struct upstream_req *req,
                  upstream_cb cb, void *ud)
{
	const struct upstream_conf *u = config_upstream(w->gen->cfg, name);
	struct call *c;
	size_t need = req->method.len + req->path.len + req->body.len, off = 0;
	char *p;

	if (!u)
		return PT_ENOENT;
	for (unsigned i = 0; i < req->num_headers * 2; i++)
		need += req->headers[i].len;
	c = calloc(1, sizeof(*c));
	p = malloc(need + 1);
	if (c)
		c->headers = calloc(req->num_headers * 2 + 1, sizeof(pt_str_t));
	if (!c || !p || !c->headers) {
		if (c)
			free(c->headers);
		free(c);
		free(p);
		return PT_ENOMEM;
	}
#define COPY(dst, src) do { memcpy(p + off, (src).ptr, (src).len); \
	(dst) = (pt_str_t){ p + off, (src).len }; off += (src).len; } while (0)
	c->req = *req;
	COPY(c->req.method, req->method);
	COPY(c->req.path, req->path);
	COPY(c->req.body, req->body);
	for (unsigned i = 0; i < req->num_headers * 2; i++)
		COPY(c->headers[i], req->headers[i]);
#undef COPY
	c->req.headers = c->headers;
	c->buf = p;
	c->w = w;
	c->gen = w->gen;
	gen_ref(c->gen);
	c->u = u;
	c->cb = cb;
	c->ud = ud;
	attempt(c);
	return 0;
}

int upstream_idempotent(pt_str_t method)
{
	return idempotent(method);
}

int upstream_try_next(pt_worker *w, struct upstream_try *t)
{
	struct up_worker *uw = uw_of(w);
	struct call c = { .u = t->u, .tried = t->tried };
	int i = uw ? choose(&c, uw, now_s()) : -1;
	struct srv *s;

	if (i < 0)
		return PT_EIO;
	t->attempts++;
	if (i < 64)
		t->tried |= 1ull << i;
	t->server = t->u->servers[i];
	if ((s = srv_get(uw, t->u->name, t->server)))
		s->active++;
	return 0;
}

void upstream_try_done(pt_worker *w, struct upstream_try *t, int ok, const char *error)
{
	if (t->server)
		srv_result(w, t->u, t->server, ok, error);
}
