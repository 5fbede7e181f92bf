/*
 * redis_dial.c - resolve, connect and attach one hiredis context. See
 * redis_dial.h.
 *
 * A lookup (struct redis_dial) outlives a cancel: evdns still calls its
 * callback (with an error, maybe later from the loop), which frees it; the
 * cancel only cuts it off from the caller (SLOT NULL).
 */
#include "redis_dial.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/hiredis.h>

struct redis_dial {
	struct redis_dial_req r;	/* R.HOST not kept; R.SLOT NULL once cancelled */
	struct evdns_getaddrinfo_request *req;
};

static void conn_open(const struct redis_dial_req *r, const char *ip)
{
	redisAsyncContext *ac = redisAsyncConnect(ip, r->port);
	char why[160];

	if (!ac) {
		r->fn(NULL, REDIS_DIAL_FAILED, "out of memory", r->ud);
		return;
	}
	if (ac->c.err || redisLibeventAttach(ac, r->base) != REDIS_OK) {
		snprintf(why, sizeof(why), "%s", ac->c.err ? ac->c.errstr : "cannot attach");
		redisAsyncFree(ac);
		r->fn(NULL, REDIS_DIAL_FAILED, why, r->ud);
		return;
	}
	ac->data = r->data;
	redisAsyncSetConnectCallback(ac, r->on_connect);
	redisAsyncSetDisconnectCallback(ac, r->on_disconnect);
	redisEnableKeepAlive(&ac->c);
	r->fn(ac, REDIS_DIAL_OK, NULL, r->ud);
}

static void on_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct redis_dial *d = arg;
	struct redis_dial_req r = d->r;
	struct evutil_addrinfo *a;
	char ip[INET6_ADDRSTRLEN];
	unsigned n = 0, pick;
	const void *addr;

	free(d);
	if (!r.slot) {			/* cancelled */
		if (ai)
			evutil_freeaddrinfo(ai);
		return;
	}
	*r.slot = NULL;
	for (a = ai; a; a = a->ai_next)
		if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
			n++;
	if (err || !n) {
		if (ai)
			evutil_freeaddrinfo(ai);
		r.fn(NULL, REDIS_DIAL_UNRESOLVED, err ? evutil_gai_strerror(err) : "no address",
		     r.ud);
		return;
	}
	/* rotate over the addresses from one failed attempt to the next */
	pick = r.attempt % n;
	for (a = ai; a; a = a->ai_next)
		if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) && pick-- == 0)
			break;
	addr = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
	                               : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
	evutil_inet_ntop(a->ai_family, addr, ip, sizeof(ip));
	evutil_freeaddrinfo(ai);
	conn_open(&r, ip);
}

static struct evdns_base *dns_make(struct event_base *base)
{
	struct evdns_base *dns;

	/* nameserver sockets only while lookups run, so the loop can exit */
	dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	                               EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!dns) {
		/* no usable resolv.conf: /etc/hosts still works */
		dns = evdns_base_new(base, 0);
		if (dns)
			evdns_base_load_hosts(dns, NULL);
	}
	return dns;
}

void redis_dial_start(const struct redis_dial_req *r)
{
	struct evutil_addrinfo hints = { 0 };
	struct evdns_getaddrinfo_request *req;
	struct redis_dial *d;

	if (r->host_is_ip) {
		conn_open(r, r->host);
		return;
	}
	if (!*r->dns && !(*r->dns = dns_make(r->base))) {
		r->fn(NULL, REDIS_DIAL_FAILED, "cannot make a DNS resolver", r->ud);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		r->fn(NULL, REDIS_DIAL_FAILED, "out of memory", r->ud);
		return;
	}
	d->r = *r;
	d->r.host = NULL;
	*r->slot = d;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* may call on_resolved before returning (hosts file); then NULL */
	req = evdns_getaddrinfo(*r->dns, r->host, NULL, &hints, on_resolved, d);
	if (*r->slot) {
		if (req) {
			d->req = req;
		} else {
			free(d);
			*r->slot = NULL;
			r->fn(NULL, REDIS_DIAL_FAILED, "cannot start a DNS lookup", r->ud);
		}
	}
}

void redis_dial_cancel(struct redis_dial **slot)
{
	struct redis_dial *d = *slot;

	if (!d)
		return;
	*slot = NULL;
	d->r.slot = NULL;
	if (d->req)
		evdns_getaddrinfo_cancel(d->req);	/* its callback frees D */
}
