/*
 * backplane_link.h - one hiredis asynchronous connection of the hub's Redis
 * backplane that keeps itself up: resolve (evdns), connect, AUTH, SELECT,
 * PING under one connect timeout; on a failure or a loss, back off (100 ms
 * doubling to 5 s) and connect again, by itself, until freed.
 *
 * Everything runs on the base's thread. The owner issues commands on the
 * context bp_link_ac() returns while the link is up; command callbacks must
 * return at once when their context's data is NULL (the link dropped it).
 */
#ifndef PT_BACKPLANE_LINK_H
#define PT_BACKPLANE_LINK_H

#include "upstream/redis.h"

struct event_base;
struct redisAsyncContext;
struct bp_link;

/*
 * UP 1: the link is ready (Redis answered AUTH, SELECT and PING). UP 0: an attempt failed or a
 * ready connection was lost, WHY says how (borrowed for the call); the next
 * attempt is already scheduled. Called from the loop (and from
 * bp_link_fail), never from bp_link_free; must not free the link. With UP 1
 * it may run inside hiredis' connect callback: it may queue commands there,
 * not call bp_link_fail.
 */
typedef void (*bp_link_fn)(struct bp_link *l, int up, const char *why, void *ud);

/* A link on BASE (borrowed); O's strings are copied; NAME (static) is for
 * debug logs. Does not connect yet. NULL when out of memory. */
struct bp_link *bp_link_new(struct event_base *base, const struct redis_opts *o,
                            const char *name, bp_link_fn fn, void *ud);
/* Connects now (once; later attempts are the link's own). */
void bp_link_start(struct bp_link *l);
/* The connection while up, else NULL. */
struct redisAsyncContext *bp_link_ac(const struct bp_link *l);
/* Drops the connection the owner finds broken (a reply overdue): FN is
 * called with UP 0 and WHY before this returns; then back off and retry.
 * Nothing when L is not up. From a timer or a command callback, not from
 * FN. */
void bp_link_fail(struct bp_link *l, const char *why);
/* Closes and frees L (NULL is fine); FN is not called. Not from inside a
 * callback of L's context. */
void bp_link_free(struct bp_link *l);

#endif
