/*
 * hub.h - in-process publish/subscribe across workers and plugins.
 *
 * A subscription belongs to one worker; messages reach it on that worker's
 * thread (through worker_post). Publishing is thread-safe.
 */
#ifndef PT_HUB_H
#define PT_HUB_H

#include "portico/portico.h"

/* Delivers MESSAGE to this process's subscribers of CHANNEL, then hands it
 * to the Redis backplane when one runs (backplane.h). Returns how many
 * subscriptions here took it, or PT_EINVAL / PT_ENOMEM. */
int hub_publish(pt_str_t channel, pt_str_t message);
/* The same, this process only: how the backplane delivers what other
 * instances published (never sent back to Redis). */
int hub_publish_local(pt_str_t channel, pt_str_t message);
pt_sub *hub_subscribe(pt_worker *w, pt_str_t channel, pt_hub_fn fn, void *ud);
void hub_unsubscribe(pt_sub *s);
/* Inside a pt_hub_fn: the id of the message being delivered (1, 2, ... in
 * publish order over every channel, the same on every worker, restarting at
 * 1 with the process). Elsewhere: the id of the last message published so
 * far (0 before the first); read right after hub_subscribe, every message
 * with a greater id reaches the new subscription. */
uint64_t hub_message_id(void);

#endif
