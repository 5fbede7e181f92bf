/* state.c - upstream state shared by a generation's workers; see state.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "balance.h"
#include "state.h"

/* A TLS client context that trusts only U's CA file; NULL with ERR. */
static SSL_CTX *tls_with_ca(const struct config *cfg, const struct upstream_conf *u, char *err,
                            size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char why[256] = "out of memory";

	if (ctx) {
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_load_verify_locations(ctx, u->tls_ca, NULL) == 1)
			return ctx;
		ERR_error_string_n(ERR_get_error(), why, sizeof(why));
		SSL_CTX_free(ctx);
	}
	ERR_clear_error();
	snprintf(err, errlen, "%s:%d: upstream \"%s\": tls.ca: cannot load %s: %s", cfg->file,
	         u->line, u->name, u->tls_ca, why);
	return NULL;
}

struct upstream_states *upstream_states_new(const struct config *cfg, char *err, size_t errlen)
{
	struct upstream_states *s = calloc(1, sizeof(*s));

	if (!s || !(s->u = calloc(cfg->nupstreams + 1, sizeof(*s->u))))
		goto oom;
	for (unsigned i = 0; i < cfg->nupstreams; i++) {
		const struct upstream_conf *u = &cfg->upstreams[i];
		struct upstream_state *st = &s->u[i];

		s->n++;
		st->conf = u;
		st->servers = calloc(u->nservers + 1, sizeof(*st->servers));
		if (!st->servers)
			goto oom;
		for (unsigned j = 0; j < u->nservers; j++) {
			atomic_init(&st->servers[j].down, 0);
			st->servers[j].hash = balance_hash(u->servers[j], strlen(u->servers[j]));
		}
		for (unsigned j = 0; j < UPSTREAM_BUDGET_SLOTS; j++) {
			atomic_init(&st->reqs[j], 0);
			atomic_init(&st->retries[j], 0);
		}
		atomic_init(&st->budget_logged, 0);
		if (u->tls_ca && u->tls_verify && !(st->tls = tls_with_ca(cfg, u, err, errlen))) {
			upstream_states_free(s);
			return NULL;
		}
	}
	return s;
oom:
	upstream_states_free(s);
	snprintf(err, errlen, "%s: out of memory", cfg->file);
	return NULL;
}

void upstream_states_free(struct upstream_states *s)
{
	if (!s)
		return;
	for (unsigned i = 0; s->u && i < s->n; i++) {
		free(s->u[i].servers);
		SSL_CTX_free(s->u[i].tls);
	}
	free(s->u);
	free(s);
}

struct upstream_state *upstream_state_of(struct upstream_states *s,
                                         const struct upstream_conf *u)
{
	for (unsigned i = 0; s && i < s->n; i++)
		if (s->u[i].conf == u)
			return &s->u[i];
	return NULL;
}

/* Adds one to SLOT for second NOW, restarting it when it held an older second. */
static void slot_add(_Atomic uint64_t *slot, uint32_t now)
{
	uint64_t old = atomic_load_explicit(slot, memory_order_relaxed), nw;

	do {
		nw = (uint32_t)(old >> 32) == now ? old + 1 : ((uint64_t)now << 32) | 1;
	} while (!atomic_compare_exchange_weak_explicit(slot, &old, nw, memory_order_relaxed,
	                                                memory_order_relaxed));
}

/* The counts of SLOTS whose second lies in the window ending at NOW. */
static uint64_t window_sum(_Atomic uint64_t *slots, uint32_t now)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < UPSTREAM_BUDGET_SLOTS; i++) {
		uint64_t v = atomic_load_explicit(&slots[i], memory_order_relaxed);
		int32_t age = (int32_t)(now - (uint32_t)(v >> 32));

		if (age >= 0 && age < UPSTREAM_BUDGET_SLOTS)
			sum += (uint32_t)v;
	}
	return sum;
}

void upstream_budget_request(struct upstream_state *s, uint32_t now)
{
	slot_add(&s->reqs[now % UPSTREAM_BUDGET_SLOTS], now);
}

int upstream_budget_retry(struct upstream_state *s, uint32_t now)
{
	double allowed = s->conf->retry_budget_min * UPSTREAM_BUDGET_SLOTS +
	                 s->conf->retry_budget * (double)window_sum(s->reqs, now);

	if ((double)window_sum(s->retries, now) >= allowed)
		return 0;
	slot_add(&s->retries[now % UPSTREAM_BUDGET_SLOTS], now);
	return 1;
}
