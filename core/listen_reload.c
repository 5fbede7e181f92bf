/*
 * listen_reload.c - see listen_reload.h.
 *
 * A listener is the same across a reload when its address, port and
 * `only` (a plugin's own listener) are: it keeps its sockets, so nothing
 * queued on it is lost. Its http2 flag is updated in place, and a TLS
 * listener gets a new SSL_CTX made from the new config's certificate files
 * (a certificate renewed on disk takes effect on reload): the context is
 * swapped with an atomic store and the old one is kept until exit, since a
 * worker may be inside SSL_new with it (SSL objects hold their own
 * reference; the few kilobytes per reload are the price of no lock on
 * accept). A new listener gets one SO_REUSEPORT socket per worker, bound
 * here first so that a port already taken refuses the reload with the
 * running config untouched. A removed listener's sockets are closed by
 * each worker; connections it accepted go on until they end.
 *
 * `workers` changes are applied by worker.c (workers_resize_*): new
 * workers bind the listener set this file works out (listen_reload_next),
 * retired ones hand their sockets over (listen_reload_current).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listen_reload.h"
#include "conf.h"
#include "http/tls.h"
#include "log.h"
#include "worker.h"

#define MAX_LIVE 256

struct live {
	struct listener_info *li;
	int owned;                   /* allocated here (freed at exit) */
};

static struct live live[MAX_LIVE];
static unsigned nlive;
static SSL_CTX **grave;          /* replaced TLS contexts, freed at exit */
static unsigned ngrave;

/* What prepare decided; applied by commit, undone by abort. */
static struct {
	struct listener_info *add[MAX_LIVE];
	int *fds[MAX_LIVE];
	unsigned nadd;
	unsigned remove[MAX_LIVE];    /* indexes into live */
	unsigned nremove;
	unsigned keep[MAX_LIVE];      /* indexes into live, with their new ctx / http2 */
	SSL_CTX *keep_ssl[MAX_LIVE];
	int keep_http2[MAX_LIVE];
	unsigned nkeep;
	int active;
} plan;

void listen_reload_init(struct listener_info *ls, unsigned n)
{
	for (unsigned i = 0; i < n && nlive < MAX_LIVE; i++)
		live[nlive++] = (struct live){ &ls[i], 0 };
}

static int same(const struct listener_info *li, const struct listen_conf *l)
{
	return li->port == l->port && !strcmp(li->address, l->address) &&
	       !strcmp(li->only, l->only ? l->only : "");
}

void listen_reload_abort(void)
{
	for (unsigned i = 0; i < plan.nadd; i++) {
		for (unsigned w = 0; plan.fds[i] && w < worker_slots(); w++)
			if (plan.fds[i][w] >= 0)
				close(plan.fds[i][w]);
		free(plan.fds[i]);
		tls_ctx_free(plan.add[i]->ssl);
		free(plan.add[i]);
	}
	for (unsigned i = 0; i < plan.nkeep; i++)
		tls_ctx_free(plan.keep_ssl[i]);
	memset(&plan, 0, sizeof(plan));
}

int listen_reload_prepare(const struct config *nw, char *err, size_t errlen)
{
	int used[MAX_LIVE] = { 0 };

	listen_reload_abort();
	plan.active = 1;
	for (unsigned i = 0; i < nw->nlisteners; i++) {
		const struct listen_conf *l = &nw->listeners[i];
		unsigned j;

		for (j = 0; j < nlive; j++)
			if (!used[j] && live[j].owned != 2 && same(live[j].li, l))
				break;
		if (j < nlive) {
			/* kept: its sockets stay; a TLS context made anew */
			SSL_CTX *ctx = NULL;

			used[j] = 1;
			if (l->ncerts && !(ctx = tls_ctx_new(l, err, errlen))) {
				listen_reload_abort();
				return -1;
			}
			if (!l->ncerts != !live[j].li->ssl) {
				snprintf(err, errlen, "%s:%d: listen %s:%d: switching between TLS and "
				         "cleartext on the same port needs a restart (or a new port)",
				         l->file, l->line, l->address, l->port);
				tls_ctx_free(ctx);
				listen_reload_abort();
				return -1;
			}
			plan.keep[plan.nkeep] = j;
			plan.keep_ssl[plan.nkeep] = ctx;
			plan.keep_http2[plan.nkeep++] = l->http2;
			continue;
		}
		if (plan.nadd == MAX_LIVE || nlive + plan.nadd >= MAX_LIVE) {
			snprintf(err, errlen, "at most %d listeners", MAX_LIVE);
			listen_reload_abort();
			return -1;
		}
		{
			struct listener_info *li = calloc(1, sizeof(*li));
			int *fds = calloc(worker_slots() + 1, sizeof(int));
			char why[512];

			if (!li || !fds) {
				free(li);
				free(fds);
				snprintf(err, errlen, "out of memory");
				listen_reload_abort();
				return -1;
			}
			snprintf(li->address, sizeof(li->address), "%s", l->address);
			li->port = l->port;
			li->backlog = l->backlog;
			li->http2 = l->http2;
			snprintf(li->only, sizeof(li->only), "%s", l->only ? l->only : "");
			if (l->ncerts && !(li->ssl = tls_ctx_new(l, why, sizeof(why)))) {
				snprintf(err, errlen, "%s:%d: %s", l->file, l->line, why);
				free(li);
				free(fds);
				listen_reload_abort();
				return -1;
			}
			if (workers_listen_bind(li, fds, why, sizeof(why)) != 0) {
				snprintf(err, errlen, "%s:%d: %s", l->file, l->line, why);
				tls_ctx_free(li->ssl);
				free(li);
				free(fds);
				listen_reload_abort();
				return -1;
			}
			plan.add[plan.nadd] = li;
			plan.fds[plan.nadd++] = fds;
		}
	}
	for (unsigned j = 0; j < nlive; j++)
		if (!used[j] && live[j].owned != 2)
			plan.remove[plan.nremove++] = j;
	return 0;
}

void listen_reload_commit(void)
{
	struct live kept[MAX_LIVE];
	unsigned nkept = 0;
	int gone[MAX_LIVE] = { 0 };

	if (!plan.active)
		return;
	for (unsigned i = 0; i < plan.nkeep; i++) {
		struct listener_info *li = live[plan.keep[i]].li;

		__atomic_store_n(&li->http2, plan.keep_http2[i], __ATOMIC_RELEASE);
		if (plan.keep_ssl[i]) {
			SSL_CTX *old = __atomic_exchange_n(&li->ssl, plan.keep_ssl[i], __ATOMIC_ACQ_REL);
			SSL_CTX **ng = realloc(grave, (ngrave + 1) * sizeof(*ng));

			if (ng) {
				grave = ng;
				grave[ngrave++] = old;
			}   /* else: leaked, never freed under a worker */
		}
	}
	for (unsigned i = 0; i < plan.nremove; i++) {
		struct listener_info *li = live[plan.remove[i]].li;

		log_info("core", "reload: no longer listening on %s:%d (its connections go on)",
		         li->address, li->port);
		workers_listen_remove(li);
		gone[plan.remove[i]] = 1;
	}
	/* removed listener_infos stay allocated: a worker may still hold one
	 * in a connection (conn->li); they are freed at exit */
	for (unsigned j = 0; j < nlive; j++)
		if (!gone[j])
			kept[nkept++] = live[j];
		else if (live[j].owned)
			kept[nkept++] = (struct live){ live[j].li, 2 };   /* 2: retired, owned */
	for (unsigned i = 0; i < plan.nadd; i++) {
		log_info("core", "reload: listening on %s:%d%s", plan.add[i]->address,
		         plan.add[i]->port, plan.add[i]->ssl ? " (TLS)" : "");
		workers_listen_adopt(plan.add[i], plan.fds[i]);
		free(plan.fds[i]);
		kept[nkept++] = (struct live){ plan.add[i], 1 };
	}
	memcpy(live, kept, nkept * sizeof(kept[0]));
	nlive = nkept;
	memset(&plan, 0, sizeof(plan));
}

unsigned listen_reload_current(const struct listener_info **out, unsigned max)
{
	unsigned n = 0;

	for (unsigned j = 0; j < nlive && n < max; j++)
		if (live[j].owned != 2)
			out[n++] = live[j].li;
	return n;
}

unsigned listen_reload_next(const struct listener_info **out, unsigned max)
{
	unsigned n = 0;

	if (!plan.active)
		return listen_reload_current(out, max);
	for (unsigned i = 0; i < plan.nkeep && n < max; i++)
		out[n++] = live[plan.keep[i]].li;
	for (unsigned i = 0; i < plan.nadd && n < max; i++)
		out[n++] = plan.add[i];
	return n;
}

void listen_reload_free(void)
{
	listen_reload_abort();
	for (unsigned i = 0; i < nlive; i++)
		if (live[i].owned) {
			tls_ctx_free(live[i].li->ssl);
			free(live[i].li);
		}
	nlive = 0;
	for (unsigned i = 0; i < ngrave; i++)
		tls_ctx_free(grave[i]);
	free(grave);
	grave = NULL;
	ngrave = 0;
}
