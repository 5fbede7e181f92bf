/* health.c - active health checks on the main thread; see health.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gen.h"
#include "health.h"
#include "http_client.h"
#include "log.h"
#include "state.h"

struct hup;

/* One server's probes and verdict. */
struct hsrv {
	struct hup *up;
	unsigned idx;                /* in up->u->servers */
	struct http_client_call *call;   /* the probe in flight, or NULL */
	unsigned ok, fails;          /* probes in a row */
	int down;
};

/* One upstream with `health`. */
struct hup {
	const struct upstream_conf *u;
	struct upstream_state *st;
	struct http_client *client;  /* the checker's, or this upstream's (own CA) */
	int own_client;
	struct event *timer;
	struct hsrv *srv;            /* u->nservers */
};

struct checker {
	struct gen *gen;             /* one reference */
	struct http_client *client;  /* for upstreams without a CA of their own */
	struct hup *ups;
	unsigned nups;
};

static struct checker *current;

static void probe_done(const struct http_client_res *res, void *ud)
{
	struct hsrv *s = ud;
	const struct upstream_conf *u = s->up->u;
	const struct upstream_health_conf *h = &u->health;
	char why[96];

	s->call = NULL;
	if (res->status >= h->status_min && res->status <= h->status_max) {
		s->fails = 0;
		s->ok++;
		if (s->down && s->ok >= h->healthy) {
			s->down = 0;
			atomic_store_explicit(&s->up->st->servers[s->idx].down, 0, memory_order_relaxed);
			log_info("upstream", "%s: server %s is up again: %u health checks passed in a "
			         "row", u->name, u->servers[s->idx], s->ok);
		}
		return;
	}
	s->ok = 0;
	s->fails++;
	if (!s->down && s->fails >= h->unhealthy) {
		if (res->status >= 0)
			snprintf(why, sizeof(why), "status %d", res->status);
		else
			snprintf(why, sizeof(why), "%s", res->error ? res->error : "failed");
		s->down = 1;
		atomic_store_explicit(&s->up->st->servers[s->idx].down, 1, memory_order_relaxed);
		log_warn("upstream", "%s: server %s is down: %u health checks failed in a row "
		         "(last: %s %s)", u->name, u->servers[s->idx], s->fails, h->path, why);
	}
}

/* Sends one probe to S unless one is still in flight. */
static void probe(struct hsrv *s)
{
	const struct upstream_conf *u = s->up->u;
	const struct upstream_health_conf *h = &u->health;
	int tls = u->protocol == UP_PROTO_HTTPS || u->protocol == UP_PROTO_H2;
	pt_str_t hdrs[4] = { PT_STR("user-agent"), PT_STR("portico-health-check") };
	struct http_client_req hr = { 0 };
	char url[2048];
	int n;

	if (s->call)
		return;
	if (h->host) {
		hdrs[2] = PT_STR("host");
		hdrs[3] = (pt_str_t){ h->host, strlen(h->host) };
	}
	n = snprintf(url, sizeof(url), "%s://%s%s", tls ? "https" : "http", u->servers[s->idx],
	             h->path);
	hr.method = PT_STR("GET");
	hr.url = (pt_str_t){ url, n > 0 && (size_t)n < sizeof(url) ? (size_t)n : 0 };
	hr.headers = hdrs;
	hr.num_headers = h->host ? 2 : 1;
	hr.connect_timeout = u->connect_timeout < h->timeout ? u->connect_timeout : h->timeout;
	hr.timeout = h->timeout;
	hr.h2 = u->protocol == UP_PROTO_H2C || u->protocol == UP_PROTO_H2;
	hr.insecure = tls && !u->tls_verify;
	s->call = http_client_request(s->up->client, &hr, probe_done, s);
	if (!s->call)
		log_error("upstream", "%s: cannot probe %s: out of memory", u->name,
		          u->servers[s->idx]);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	struct hup *up = arg;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < up->u->nservers; i++)
		probe(&up->srv[i]);
}

/* The previous checker's record of server NAME of upstream UP, or NULL. */
static const struct hsrv *previous(const struct checker *old, const char *up, const char *name)
{
	for (unsigned i = 0; old && i < old->nups; i++) {
		const struct hup *h = &old->ups[i];

		if (strcmp(h->u->name, up) != 0)
			continue;
		for (unsigned j = 0; j < h->u->nservers; j++)
			if (!strcmp(h->u->servers[j], name))
				return &h->srv[j];
	}
	return NULL;
}

/* Cancels probes, frees everything, releases the generation. */
static void checker_free(struct checker *ck)
{
	if (!ck)
		return;
	for (unsigned i = 0; i < ck->nups; i++) {
		struct hup *up = &ck->ups[i];

		if (up->timer)
			event_free(up->timer);
		for (unsigned j = 0; up->srv && j < up->u->nservers; j++)
			if (up->srv[j].call)
				http_client_cancel(up->srv[j].call);
		if (up->own_client)
			http_client_free(up->client);
		free(up->srv);
	}
	http_client_free(ck->client);
	free(ck->ups);
	gen_unref(ck->gen);
	free(ck);
}

/* Sets up the checks of G's upstreams (not started); NULL when out of memory. */
static struct checker *checker_new(struct event_base *base, struct gen *g,
                                   const struct checker *old)
{
	const struct config *cfg = g->cfg;
	struct checker *ck = calloc(1, sizeof(*ck));

	if (!ck)
		return NULL;
	gen_ref(g);
	ck->gen = g;
	ck->ups = calloc(cfg->nupstreams + 1, sizeof(*ck->ups));
	if (!ck->ups)
		goto fail;
	for (unsigned i = 0; i < cfg->nupstreams; i++) {
		const struct upstream_conf *u = &cfg->upstreams[i];
		struct hup *up = &ck->ups[ck->nups];

		if (!u->health.enabled)
			continue;
		ck->nups++;
		up->u = u;
		up->st = upstream_state_of(g->upstreams, u);
		up->srv = calloc(u->nservers, sizeof(*up->srv));
		if (!up->st || !up->srv)
			goto fail;
		if (up->st->tls) {
			up->client = http_client_new(base, &(struct http_client_opts){
				.size = sizeof(struct http_client_opts), .tls = up->st->tls });
			up->own_client = 1;
		} else {
			if (!ck->client)
				ck->client = http_client_new(base, NULL);
			up->client = ck->client;
		}
		up->timer = event_new(base, -1, EV_PERSIST, tick, up);
		if (!up->client || !up->timer)
			goto fail;
		for (unsigned j = 0; j < u->nservers; j++) {
			struct hsrv *s = &up->srv[j];
			const struct hsrv *was = previous(old, u->name, u->servers[j]);

			s->up = up;
			s->idx = j;
			if (was) {
				s->ok = was->ok;
				s->fails = was->fails;
				s->down = was->down;
				atomic_store_explicit(&up->st->servers[j].down, (unsigned)s->down,
				                      memory_order_relaxed);
			}
		}
	}
	return ck;
fail:
	checker_free(ck);
	return NULL;
}

int health_start(struct event_base *base, struct gen *g)
{
	struct checker *ck = checker_new(base, g, current);

	health_stop();
	if (!ck) {
		log_error("upstream", "cannot start the active health checks: out of memory");
		return PT_ENOMEM;
	}
	if (ck->nups == 0) {
		checker_free(ck);
		return 0;
	}
	for (unsigned i = 0; i < ck->nups; i++) {
		struct hup *up = &ck->ups[i];
		double iv = up->u->health.interval;
		struct timeval tv = { (time_t)iv, (suseconds_t)((iv - (double)(time_t)iv) * 1e6) };

		event_add(up->timer, &tv);
		tick(-1, 0, up);   /* the first round now: callbacks come later */
		log_debug("upstream", "%s: health checks on %s every %gs", up->u->name,
		          up->u->health.path, iv);
	}
	current = ck;
	return 0;
}

void health_stop(void)
{
	checker_free(current);
	current = NULL;
}
