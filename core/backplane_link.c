/*
 * backplane_link.c - a self-reconnecting hiredis connection for the hub's
 * backplane. See backplane_link.h.
 *
 * States: CONNECTING (evdns lookup unless the host is an IP literal, TCP
 * connect, AUTH, SELECT, PING, all under the connect timeout) -> UP; any failure
 * -> BACKOFF -> CONNECTING again when the backoff timer fires. The context's
 * data points to the link while the link owns it; it is set to NULL before
 * the link lets it go, so that hiredis' teardown callbacks (every pending
 * command is called back with a NULL reply) know to do nothing.
 */
#include "backplane_link.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "upstream/redis_dial.h"

#define WHO "hub"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

enum state { ST_BACKOFF, ST_CONNECTING, ST_UP };

struct bp_link {
	struct event_base *base;
	struct evdns_base *dns;
	char *host, *password;
	int port, db, host_is_ip;
	unsigned connect_timeout_ms;
	const char *name;
	bp_link_fn fn;
	void *ud;

	int state;
	redisAsyncContext *ac;
	struct redis_dial *lookup;	/* while a name lookup runs */
	unsigned attempt;		/* rotates over resolved addresses */
	int hs_left;			/* AUTH/SELECT replies awaited */
	unsigned backoff_ms;
	struct event *ev_conn;		/* connect timeout */
	struct event *ev_retry;		/* end of the backoff */
};

static void arm_ms(struct event *ev, unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000u), (suseconds_t)(ms % 1000u) * 1000 };

	evtimer_add(ev, &tv);
}

/*
 * The attempt failed or the connection died: let the context go (FREE_AC:
 * we free it; else hiredis is tearing it down already), back off, tell the
 * owner.
 */
static void link_down(struct bp_link *l, const char *why, int free_ac)
{
	redisAsyncContext *ac = l->ac;

	redis_dial_cancel(&l->lookup);
	l->ac = NULL;
	if (ac)
		ac->data = NULL;
	evtimer_del(l->ev_conn);
	l->hs_left = 0;
	l->attempt++;
	l->state = ST_BACKOFF;
	arm_ms(l->ev_retry, l->backoff_ms);
	log_debug(WHO, "backplane %s connection to %s:%d down: %s (next try in %u ms)", l->name,
	          l->host, l->port, why, l->backoff_ms);
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
	if (ac && free_ac)
		redisAsyncFree(ac);	/* deferred by hiredis inside its callbacks */
	l->fn(l, 0, why, l->ud);
}

static void link_up(struct bp_link *l)
{
	evtimer_del(l->ev_conn);
	l->state = ST_UP;
	l->backoff_ms = BACKOFF_MIN_MS;
	l->attempt = 0;
	log_debug(WHO, "backplane %s connection to %s:%d up", l->name, l->host, l->port);
	l->fn(l, 1, NULL, l->ud);
}

static void on_handshake(redisAsyncContext *ac, void *r, void *priv)
{
	struct bp_link *l = ac->data;
	redisReply *reply = r;
	char why[160];

	(void)priv;
	if (!l)
		return;
	if (!reply) {
		link_down(l, ac->c.err ? ac->c.errstr : "closed during AUTH/SELECT/PING", 0);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "AUTH/SELECT/PING refused: %.120s", reply->str);
		link_down(l, why, 1);
		return;
	}
	if (--l->hs_left == 0)
		link_up(l);
}

/* TCP is up (inside hiredis' write handler: the context must not be freed
 * here; if queueing fails, the connect timer ends the attempt). */
static void on_connect(const redisAsyncContext *cac, int status)
{
	struct bp_link *l = cac->data;
	char db[16];

	if (!l)
		return;
	if (status != REDIS_OK) {
		link_down(l, cac->c.errstr, 0);	/* hiredis frees the context */
		return;
	}
	if (l->password) {
		const char *argv[2] = { "AUTH", l->password };

		if (redisAsyncCommandArgv(l->ac, on_handshake, NULL, 2, argv, NULL) == REDIS_OK)
			l->hs_left++;
	}
	if (l->db) {
		const char *argv[2] = { "SELECT", db };

		snprintf(db, sizeof(db), "%d", l->db);
		if (redisAsyncCommandArgv(l->ac, on_handshake, NULL, 2, argv, NULL) == REDIS_OK)
			l->hs_left++;
	}
	/* a TCP connect proves only that the kernel accepted it (a frozen Redis
	 * still does): up when Redis answers */
	{
		const char *argv[1] = { "PING" };

		if (redisAsyncCommandArgv(l->ac, on_handshake, NULL, 1, argv, NULL) == REDIS_OK)
			l->hs_left++;
	}
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct bp_link *l = ac->data;

	if (l)
		link_down(l, status == REDIS_OK || !ac->c.err ? "closed by the server" : ac->c.errstr, 0);
}

/* The end of the dial: keep the context, or fail the attempt. */
static void on_dialed(redisAsyncContext *ac, int result, const char *why, void *ud)
{
	struct bp_link *l = ud;
	char buf[160];

	if (result == REDIS_DIAL_UNRESOLVED) {
		snprintf(buf, sizeof(buf), "cannot resolve %s: %s", l->host, why);
		why = buf;
	}
	if (!ac) {
		link_down(l, why, 0);
		return;
	}
	l->ac = ac;
}

static void attempt(struct bp_link *l)
{
	struct redis_dial_req r = {
		.base = l->base, .dns = &l->dns, .host = l->host, .host_is_ip = l->host_is_ip,
		.port = l->port, .attempt = l->attempt, .on_connect = on_connect,
		.on_disconnect = on_disconnect, .data = l, .fn = on_dialed, .ud = l,
		.slot = &l->lookup,
	};

	l->state = ST_CONNECTING;
	l->hs_left = 0;
	arm_ms(l->ev_conn, l->connect_timeout_ms);
	redis_dial_start(&r);
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct bp_link *l = arg;
	char why[64];

	(void)fd;
	(void)what;
	if (l->state != ST_CONNECTING)
		return;
	snprintf(why, sizeof(why), "no connection within %u ms", l->connect_timeout_ms);
	link_down(l, why, 1);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct bp_link *l = arg;

	(void)fd;
	(void)what;
	if (l->state == ST_BACKOFF)
		attempt(l);
}

struct bp_link *bp_link_new(struct event_base *base, const struct redis_opts *o,
                            const char *name, bp_link_fn fn, void *ud)
{
	unsigned char buf[sizeof(struct in6_addr)];
	struct bp_link *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->base = base;
	l->host = strdup(o->host ? o->host : "127.0.0.1");
	l->password = o->password ? strdup(o->password) : NULL;
	l->port = o->port ? o->port : 6379;
	l->db = o->db;
	l->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 1000;
	l->name = name;
	l->fn = fn;
	l->ud = ud;
	l->state = ST_BACKOFF;
	l->backoff_ms = BACKOFF_MIN_MS;
	l->ev_conn = evtimer_new(base, on_conn_timer, l);
	l->ev_retry = evtimer_new(base, on_retry, l);
	if (!l->host || (o->password && !l->password) || !l->ev_conn || !l->ev_retry) {
		bp_link_free(l);
		return NULL;
	}
	l->host_is_ip = inet_pton(AF_INET, l->host, buf) == 1 ||
	                inet_pton(AF_INET6, l->host, buf) == 1;
	return l;
}

void bp_link_start(struct bp_link *l)
{
	if (l->state == ST_BACKOFF && !evtimer_pending(l->ev_retry, NULL))
		attempt(l);
}

struct redisAsyncContext *bp_link_ac(const struct bp_link *l)
{
	return l->state == ST_UP ? l->ac : NULL;
}

void bp_link_fail(struct bp_link *l, const char *why)
{
	if (l->state == ST_UP)
		link_down(l, why, 1);
}

void bp_link_free(struct bp_link *l)
{
	redisAsyncContext *ac;

	if (!l)
		return;
	redis_dial_cancel(&l->lookup);
	ac = l->ac;
	l->ac = NULL;
	if (ac) {
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	if (l->ev_conn)
		event_free(l->ev_conn);
	if (l->ev_retry)
		event_free(l->ev_retry);
	if (l->dns)
		evdns_base_free(l->dns, 0);
	free(l->host);
	free(l->password);
	free(l);
}
