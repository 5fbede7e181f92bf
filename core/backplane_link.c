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
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "log.h"

#define WHO "hub"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

enum state { ST_BACKOFF, ST_CONNECTING, ST_UP };

/* An evdns lookup; outlives a link freed meanwhile (L is then NULL). */
struct lookup {
	struct bp_link *l;
	struct evdns_getaddrinfo_request *req;
};

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
	struct lookup *lookup;
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

static void lookup_cancel(struct bp_link *l)
{
	struct lookup *lk = l->lookup;

	if (!lk)
		return;
	l->lookup = NULL;
	lk->l = NULL;
	if (lk->req)
		evdns_getaddrinfo_cancel(lk->req);	/* its callback frees LK */
}

/*
 * The attempt failed or the connection died: let the context go (FREE_AC:
 * we free it; else hiredis is tearing it down already), back off, tell the
 * owner.
 */
static void link_down(struct bp_link *l, const char *why, int free_ac)
{
	redisAsyncContext *ac = l->ac;

	lookup_cancel(l);
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

static void conn_open(struct bp_link *l, const char *ip)
{
	redisAsyncContext *ac = redisAsyncConnect(ip, l->port);
	char why[160];

	if (!ac) {
		link_down(l, "out of memory", 0);
		return;
	}
	if (ac->c.err || redisLibeventAttach(ac, l->base) != REDIS_OK) {
		snprintf(why, sizeof(why), "%s", ac->c.err ? ac->c.errstr : "cannot attach");
		redisAsyncFree(ac);
		link_down(l, why, 0);
		return;
	}
	ac->data = l;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	redisEnableKeepAlive(&ac->c);
	l->ac = ac;
}

static void on_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct lookup *lk = arg;
	struct bp_link *l = lk->l;
	struct evutil_addrinfo *a;
	char ip[INET6_ADDRSTRLEN], why[160];
	unsigned n = 0, pick;
	const void *addr;

	free(lk);
	if (!l) {
		if (ai)
			evutil_freeaddrinfo(ai);
		return;
	}
	l->lookup = NULL;
	for (a = ai; a; a = a->ai_next)
		if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
			n++;
	if (err || !n) {
		snprintf(why, sizeof(why), "cannot resolve %s: %s", l->host,
		         err ? evutil_gai_strerror(err) : "no address");
		if (ai)
			evutil_freeaddrinfo(ai);
		link_down(l, why, 0);
		return;
	}
	pick = l->attempt % n;
	for (a = ai; a; a = a->ai_next)
		if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) && pick-- == 0)
			break;
	addr = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
	                               : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
	evutil_inet_ntop(a->ai_family, addr, ip, sizeof(ip));
	evutil_freeaddrinfo(ai);
	conn_open(l, ip);
}

static void resolve(struct bp_link *l)
{
	struct evutil_addrinfo hints = { 0 };
	struct evdns_getaddrinfo_request *req;
	struct lookup *lk;

	if (!l->dns) {
		l->dns = evdns_base_new(l->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
		                                     EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!l->dns && (l->dns = evdns_base_new(l->base, 0)))
			evdns_base_load_hosts(l->dns, NULL);	/* no resolv.conf */
		if (!l->dns) {
			link_down(l, "cannot make a DNS resolver", 0);
			return;
		}
	}
	if (!(lk = calloc(1, sizeof(*lk)))) {
		link_down(l, "out of memory", 0);
		return;
	}
	lk->l = l;
	l->lookup = lk;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* may call on_resolved before returning (hosts file): then NULL */
	req = evdns_getaddrinfo(l->dns, l->host, NULL, &hints, on_resolved, lk);
	if (l->lookup) {
		if (req) {
			l->lookup->req = req;
		} else {
			free(l->lookup);
			l->lookup = NULL;
			link_down(l, "cannot start a DNS lookup", 0);
		}
	}
}

static void attempt(struct bp_link *l)
{
	l->state = ST_CONNECTING;
	l->hs_left = 0;
	arm_ms(l->ev_conn, l->connect_timeout_ms);
	if (l->host_is_ip)
		conn_open(l, l->host);
	else
		resolve(l);
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
	lookup_cancel(l);
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
