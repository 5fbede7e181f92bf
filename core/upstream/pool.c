/* pool.c - named upstreams; see pool.h. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "balance.h"
#include "gen.h"
#include "http/exchange.h"
#include "log.h"
#include "outbound.h"
#include "pool.h"
#include "state.h"
#include "up_metrics.h"
#include "worker.h"

/* One server's health and load as this worker sees it. */
struct srv {
	char key[192];               /* "upstream|host:port" */
	unsigned active;
	unsigned fails;
	double ejected_until;
};

/* A client for the upstreams that trust their own CA (one per SSL_CTX). */
struct tls_client {
	SSL_CTX *ctx;                /* one reference, ours */
	struct http_client *client;
	unsigned calls;              /* in flight */
	unsigned gen_id;             /* the newest generation that used it */
};

struct up_worker {
	struct srv *srv;
	unsigned nsrv, cap;
	unsigned rr;                 /* round-robin cursor, shared by the upstreams */
	struct tls_client **tls;     /* each allocated alone: calls point at them */
	unsigned ntls;
	int prune_queued;
};

struct call {
	pt_worker *w;
	struct gen *gen;             /* keeps U and ST alive during the call */
	const struct upstream_conf *u;
	struct upstream_state *st;   /* U's shared state; NULL if the gen has none */
	struct upstream_req req;     /* copies */
	pt_str_t *headers;
	char *buf;
	unsigned attempts;
	uint64_t tried;              /* bit per server index (first 64) */
	uint64_t key_hash;           /* hash balancing: the request's key */
	int has_key;
	struct srv *cur;
	const char *cur_name;
	struct tls_client *tc;       /* the client of this attempt, if not the worker's */
	upstream_cb cb;
	void *ud;
	int last_status;             /* the last attempt's failure */
	const char *last_error;
	/* the current attempt's result, for the metrics (up_metrics.h) */
	int res_status, res_connected, res_reused, res_set;
	uint64_t t_start;            /* mono_us() when the attempt started */
};

/* Ejections, budgets and health are kept in seconds: the coarse clock (a
 * few ms, no TSC read) is precise enough and cheap three times a request. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
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
	size_t ul = strlen(up), sl = strlen(server);

	if (ul + 1 + sl < sizeof(key)) {
		/* compared in place: this runs a few times per request */
		for (unsigned i = 0; i < uw->nsrv; i++) {
			const char *k = uw->srv[i].key;

			if (!memcmp(k, up, ul) && k[ul] == '|' && !memcmp(k + ul + 1, server, sl + 1))
				return &uw->srv[i];
		}
		memcpy(key, up, ul);
		key[ul] = '|';
		memcpy(key + ul + 1, server, sl + 1);
	} else {
		snprintf(key, sizeof(key), "%s|%s", up, server);
		for (unsigned i = 0; i < uw->nsrv; i++)
			if (!strcmp(uw->srv[i].key, key))
				return &uw->srv[i];
	}
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

static void tls_client_close(struct tls_client *t)
{
	http_client_free(t->client);
	SSL_CTX_free(t->ctx);
	free(t);
}

void upstream_worker_free(pt_worker *w)
{
	struct up_worker *uw = w->upstreams;

	if (uw) {
		for (unsigned i = 0; i < uw->ntls; i++)
			tls_client_close(uw->tls[i]);
		free(uw->tls);
		free(uw->srv);
		free(uw);
		w->upstreams = NULL;
	}
}

/* Closes the CA clients no call and no current upstream uses. Runs from the
 * loop, never inside a client's callback (freeing that client there would
 * pull it from under its caller). */
static void prune_cb(evutil_socket_t fd, short what, void *arg)
{
	pt_worker *w = arg;
	struct up_worker *uw = w->upstreams;
	unsigned j = 0;

	(void)fd;
	(void)what;
	if (!uw)
		return;
	uw->prune_queued = 0;
	for (unsigned i = 0; i < uw->ntls; i++) {
		if (uw->tls[i]->calls == 0 && uw->tls[i]->gen_id != w->gen->id)
			tls_client_close(uw->tls[i]);
		else
			uw->tls[j++] = uw->tls[i];
	}
	uw->ntls = j;
}

/* The client for C's upstream: the worker's, or one trusting the upstream's CA. */
static struct http_client *client_for(struct call *c, struct up_worker *uw)
{
	SSL_CTX *ctx = c->st ? c->st->tls : NULL;
	struct tls_client *t, **grown;
	struct timeval zero = { 0, 0 };

	c->tc = NULL;
	if (!ctx)
		return worker_http_client(c->w);
	for (unsigned i = 0; i < uw->ntls; i++)
		if (uw->tls[i]->ctx == ctx) {
			c->tc = uw->tls[i];
			c->tc->gen_id = c->gen->id;
			return c->tc->client;
		}
	grown = realloc(uw->tls, (uw->ntls + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	uw->tls = grown;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->client = http_client_new(c->w->base, &(struct http_client_opts){
		.size = sizeof(struct http_client_opts), .tls = ctx });
	if (!t->client) {
		free(t);
		return NULL;
	}
	SSL_CTX_up_ref(ctx);
	t->ctx = ctx;
	t->gen_id = c->gen->id;
	uw->tls[uw->ntls++] = t;
	c->tc = t;
	/* a new CA client usually means a reload: drop the old generation's */
	if (uw->ntls > 1 && !uw->prune_queued &&
	    event_base_once(c->w->base, -1, EV_TIMEOUT, prune_cb, c->w, &zero) == 0)
		uw->prune_queued = 1;
	return t->client;
}

static int idempotent(pt_str_t m)
{
	static const char *const ok[] = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS", NULL };

	for (int i = 0; ok[i]; i++)
		if (m.len == strlen(ok[i]) && !memcmp(m.ptr, ok[i], m.len))
			return 1;
	return 0;
}

/*
 * Picks a server not tried yet, not down by the active checks and not left
 * out by this worker's passive ones; -1 when none is left. With a hash key
 * the highest rendezvous score wins, so a retry or an ejection moves the
 * request to the key's next server.
 */
static int choose(struct call *c, struct up_worker *uw, double now)
{
	const struct upstream_conf *u = c->u;
	int best = -1;
	unsigned best_active = ~0u;
	uint64_t best_score = 0;

	for (unsigned k = 0; k < u->nservers; k++) {
		unsigned i = (uw->rr + k) % u->nservers;
		struct srv *s;

		if ((i < 64 && (c->tried & (1ull << i))) || (c->st && upstream_server_down(c->st, i)))
			continue;
		s = srv_get(uw, u->name, u->servers[i]);
		if (!s || s->ejected_until > now)
			continue;
		if (c->has_key) {
			uint64_t score = balance_score(c->key_hash, c->st->servers[i].hash);

			if (best < 0 || score > best_score) {
				best_score = score;
				best = (int)i;
			}
		} else if (u->balance != UP_BALANCE_LEAST_CONN) {
			best = (int)i;
			break;
		} else if (s->active < best_active) {
			best_active = s->active;
			best = (int)i;
		}
	}
	if (!c->has_key)
		uw->rr++;
	return best;
}

static void attempt(struct call *c, int i);

static void finish(struct call *c, const struct http_client_res *res)
{
	c->cb(res, c->cur_name, c->ud);
	gen_unref(c->gen);
	free(c->headers);
	free(c->buf);
	free(c);
}

/* Logs that the budget stopped a retry, at most once a second per upstream. */
static void budget_spent(struct call *c, uint32_t sec)
{
	unsigned last = atomic_load_explicit(&c->st->budget_logged, memory_order_relaxed);

	if (last != sec && atomic_compare_exchange_strong_explicit(&c->st->budget_logged, &last,
	                   sec, memory_order_relaxed, memory_order_relaxed))
		log_warn("upstream", "%s: retry budget spent (%g/s + %g%% of requests over %ds): "
		         "%s failed and is not retried", c->u->name, c->u->retry_budget_min,
		         c->u->retry_budget * 100, UPSTREAM_BUDGET_SLOTS, c->cur_name);
}

/* C's attempt on c->cur_name ended: answered (OK) or failed with ERROR. */
static void attempt_ended(struct call *c, int ok, const char *error, double now)
{
	struct srv *s;
	enum up_fail kind = c->res_set ? up_metrics_kind(c->res_status, c->res_connected) : UPF_NONE;

	if (!ok && kind == UPF_NONE)
		kind = UPF_ERROR;
	else if (ok && kind != UPF_5XX)
		kind = UPF_NONE;   /* ended on our side (cancelled): not the server's failure */
	up_metrics_count(c->w->id, c->u->name, c->cur_name, kind,
	                 !c->res_set || !c->res_connected ? UPC_NONE :
	                 c->res_reused ? UPC_REUSED : UPC_NEW, mono_us() - c->t_start);
	if (c->tc && c->tc->calls)
		c->tc->calls--;
	/* the server list may have moved (realloc): find it again */
	s = srv_get(uw_of(c->w), c->u->name, c->cur_name);
	if (s && s->active)
		s->active--;
	if (ok) {
		if (s)
			s->fails = 0;
		return;
	}
	if (s && ++s->fails >= c->u->max_fails && s->ejected_until <= now) {
		s->ejected_until = now + c->u->fail_timeout;
		log_warn("upstream", "%s: server %s left out for %gs after %u failures (last: %s)",
		         c->u->name, c->cur_name, c->u->fail_timeout, s->fails,
		         error ? error : "error");
	}
}

static void done(const struct http_client_res *res, void *ud)
{
	struct call *c = ud;
	double now = now_s();
	int next;

	c->res_status = res->status;
	c->res_connected = res->peer != NULL;
	c->res_reused = res->reused;
	c->res_set = 1;
	attempt_ended(c, res->status >= 0, res->error, now);
	if (res->status >= 0) {
		finish(c, res);
		return;
	}
	c->last_status = res->status;
	c->last_error = res->error;
	if (c->attempts > c->u->retries || !idempotent(c->req.method) || !c->w->upstreams ||
	    (next = choose(c, c->w->upstreams, now)) < 0) {
		finish(c, res);
		return;
	}
	if (c->st && !upstream_budget_retry(c->st, (uint32_t)now)) {
		budget_spent(c, (uint32_t)now);
		finish(c, res);
		return;
	}
	log_info("upstream", "%s: %s failed (%s), retrying on %s", c->u->name, c->cur_name,
	         res->error ? res->error : "error", c->u->servers[next]);
	attempt(c, next);
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

/*
 * Counts C's attempt on server I (from choose) and fills HR's url (into
 * URL, LEN bytes), timeouts and protocol for it. Returns the client to send
 * it with, or NULL when out of memory (nothing counted).
 */
static struct http_client *attempt_prepare(struct call *c, int i, struct http_client_req *hr,
                                           char *url, size_t len)
{
	const struct upstream_conf *u = c->u;
	struct up_worker *uw = uw_of(c->w);
	struct http_client *client = uw ? client_for(c, uw) : NULL;
	int tls = u->protocol == UP_PROTO_HTTPS || u->protocol == UP_PROTO_H2;
	int n;

	if (!client)
		return NULL;
	c->attempts++;
	if (i < 64)
		c->tried |= 1ull << i;
	c->cur_name = u->servers[i];
	c->res_set = 0;
	c->t_start = mono_us();
	c->cur = srv_get(uw, u->name, c->cur_name);
	if (c->cur)
		c->cur->active++;
	if (c->tc)
		c->tc->calls++;
	{
		size_t sl = strlen(c->cur_name), off = tls ? 8 : 7;

		n = (int)(off + sl + c->req.path.len);
		if ((size_t)n < len) {
			memcpy(url, tls ? "https://" : "http://", off);
			memcpy(url + off, c->cur_name, sl);
			if (c->req.path.len)
				memcpy(url + off + sl, c->req.path.ptr, c->req.path.len);
		}
	}
	hr->url = (pt_str_t){ url, n > 0 && (size_t)n < len ? (size_t)n : 0 };
	hr->connect_timeout = u->connect_timeout;
	hr->timeout = c->req.timeout > 0 ? c->req.timeout : u->read_timeout;
	hr->send_timeout = u->send_timeout;
	hr->h2 = u->protocol == UP_PROTO_H2C || u->protocol == UP_PROTO_H2;
	hr->insecure = tls && !u->tls_verify;
	hr->max_idle = u->keepalive;
	return client;
}

/* Sends C to server I (from choose). */
static void attempt(struct call *c, int i)
{
	struct http_client_req hr = { 0 };
	char url[4096];
	struct http_client *client = attempt_prepare(c, i, &hr, url, sizeof(url));

	if (!client) {
		fail_later(c, PT_ENOMEM, "out of memory");
		return;
	}
	hr.method = c->req.method;
	hr.headers = c->headers;
	hr.num_headers = c->req.num_headers;
	hr.body = c->req.body;
	if (!http_client_request(client, &hr, done, c)) {
		if (c->cur && c->cur->active)
			c->cur->active--;
		if (c->tc && c->tc->calls)
			c->tc->calls--;
		fail_later(c, PT_ENOMEM, "out of memory");
	}
}

int upstream_send(pt_worker *w, const char *name, const struct upstream_req *req,
                  upstream_cb cb, void *ud)
{
	const struct upstream_conf *u = config_upstream(w->gen->cfg, name);
	struct up_worker *uw;
	struct call *c;
	size_t need = req->method.len + req->path.len + req->body.len, off = 0;
	double now = now_s();
	char *p;
	int first;

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
#define COPY(dst, src) do { if ((src).len) memcpy(p + off, (src).ptr, (src).len); \
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
	c->st = upstream_state_of(c->gen->upstreams, u);
	c->cb = cb;
	c->ud = ud;
	if (c->st) {
		pt_str_t key;

		upstream_budget_request(c->st, (uint32_t)now);
		if (u->balance == UP_BALANCE_HASH &&
		    balance_key(u, c->headers, req->num_headers, c->req.path, &key) == 0) {
			c->key_hash = balance_hash(key.ptr, key.len);
			c->has_key = 1;
		}
	}
	uw = uw_of(w);
	first = uw ? choose(c, uw, now) : -1;
	if (first < 0)
		fail_later(c, uw ? PT_EIO : PT_ENOMEM, uw ? "no upstream server is available" :
		           "out of memory");
	else
		attempt(c, first);
	return 0;
}

/* ---- attempts run by the caller (the streaming proxy) ---------------------- */

struct upstream_try {
	struct call c;               /* the choice and accounting state; no callback */
	char *big;                   /* a URL longer than SMALL (malloc) */
	size_t big_cap;
	char small[384];             /* small enough that T comes from malloc's cache */
};

struct upstream_try *upstream_try_start(pt_worker *w, struct gen *g, const char *name,
                                        const pt_str_t *headers, unsigned nh, pt_str_t path)
{
	const struct upstream_conf *u = config_upstream(g->cfg, name);
	struct upstream_try *t;
	double now = now_s();

	if (!u || !(t = malloc(sizeof(*t))))
		return NULL;
	memset(t, 0, offsetof(struct upstream_try, small));   /* not the url buffer */
	t->c.w = w;
	t->c.gen = g;
	gen_ref(g);
	t->c.u = u;
	t->c.req.path = path;    /* borrowed: used only while the caller runs */
	t->c.st = upstream_state_of(g->upstreams, u);
	if (t->c.st) {
		pt_str_t key;

		upstream_budget_request(t->c.st, (uint32_t)now);
		if (u->balance == UP_BALANCE_HASH &&
		    balance_key(u, headers, nh, path, &key) == 0) {
			t->c.key_hash = balance_hash(key.ptr, key.len);
			t->c.has_key = 1;
		}
	}
	return t;
}

struct http_client *upstream_try_next(struct upstream_try *t, struct http_client_req *hr,
                                      int *why)
{
	struct call *c = &t->c;
	struct up_worker *uw = uw_of(c->w);
	double now = now_s();
	int i = uw ? choose(c, uw, now) : -1;
	struct http_client *client;

	*why = PT_EIO;
	if (i < 0)
		return NULL;
	if (c->attempts && c->st && !upstream_budget_retry(c->st, (uint32_t)now)) {
		budget_spent(c, (uint32_t)now);
		*why = PT_ELIMIT;
		return NULL;
	}
	{
		size_t need = 9 + strlen(c->u->servers[i]) + c->req.path.len;
		char *url = t->small;

		if (need > sizeof(t->small)) {
			if (need > t->big_cap) {
				free(t->big);
				t->big_cap = 0;
				if (!(t->big = malloc(need))) {
					*why = PT_ENOMEM;
					return NULL;
				}
				t->big_cap = need;
			}
			url = t->big;
		}
		if (!(client = attempt_prepare(c, i, hr, url, need)))
			*why = PT_ENOMEM;
	}
	return client;
}

void upstream_try_result(struct upstream_try *t, const struct http_client_res *res)
{
	t->c.res_status = res->status;
	t->c.res_connected = res->peer != NULL;
	t->c.res_reused = res->reused;
	t->c.res_set = 1;
}

void upstream_try_done(struct upstream_try *t, int ok, const char *error)
{
	if (t->c.cur_name)
		attempt_ended(&t->c, ok, error, now_s());
}

const char *upstream_try_server(const struct upstream_try *t)
{
	return t->c.cur_name;
}

unsigned upstream_try_attempts(const struct upstream_try *t)
{
	return t->c.attempts;
}

const struct upstream_conf *upstream_try_conf(const struct upstream_try *t)
{
	return t->c.u;
}

void upstream_try_end(struct upstream_try *t)
{
	if (t) {
		gen_unref(t->c.gen);
		free(t->big);
		free(t);
	}
}

int upstream_idempotent(pt_str_t method)
{
	return idempotent(method);
}
