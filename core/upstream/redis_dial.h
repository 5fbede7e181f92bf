/*
 * redis_dial.h - one attempt to open a hiredis asynchronous connection:
 * resolve the host with evdns (unless it is an IP literal), pick one of its
 * addresses, connect, attach the context to the libevent loop, turn on TCP
 * keepalive. Shared by the worker's Redis client (redis.c) and the hub's
 * backplane links (backplane_link.c); each keeps its own state machine
 * (timeouts, AUTH/SELECT, backoff) and only asks this for a context.
 *
 * Everything runs on the base's thread.
 */
#ifndef PORTICO_REDIS_DIAL_H
#define PORTICO_REDIS_DIAL_H

#include <hiredis/async.h>

struct event_base;
struct evdns_base;
struct redis_dial;

enum redis_dial_result {
	REDIS_DIAL_OK = 0,		/* AC is the new context */
	REDIS_DIAL_UNRESOLVED = 1,	/* WHY: the resolver's reason; the
					   caller words it (with the name or not) */
	REDIS_DIAL_FAILED = 2,		/* WHY: a sentence for the log */
};

/*
 * The end of an attempt. With REDIS_DIAL_OK, AC is connecting (not connected
 * yet): its data is the request's DATA, its connect and disconnect callbacks
 * are set, and the caller owns it. Else AC is NULL and WHY (borrowed for the
 * call) says what failed.
 */
typedef void (*redis_dial_fn)(redisAsyncContext *ac, int result, const char *why, void *ud);

struct redis_dial_req {
	struct event_base *base;	/* borrowed */
	struct evdns_base **dns;	/* the caller's resolver, made here on the
					   first lookup; the caller frees it */
	const char *host;		/* borrowed for the call */
	int host_is_ip;			/* HOST is an IP literal: no lookup */
	int port;
	unsigned attempt;		/* picks among the resolved addresses, so
					   that retries rotate over them */
	redisConnectCallback *on_connect;
	redisDisconnectCallback *on_disconnect;
	void *data;			/* becomes the context's data */
	redis_dial_fn fn;
	void *ud;
	struct redis_dial **slot;	/* the caller's handle of the pending
					   lookup: set while one runs, NULL after */
};

/*
 * Start an attempt described by R (copied). FN is called exactly once, unless
 * the attempt is cancelled first, and may be called before this returns (an
 * IP literal, a name from the hosts file, a failure to start the lookup).
 * While a lookup runs, *R->SLOT holds it.
 */
void redis_dial_start(const struct redis_dial_req *r);

/*
 * Cancel the lookup in *SLOT, if any, and clear *SLOT: FN will not be called.
 * Once the context has been handed over there is nothing to cancel here.
 */
void redis_dial_cancel(struct redis_dial **slot);

#endif
