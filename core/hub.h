/*
 * hub.h - in-process publish/subscribe across workers and plugins.
 *
 * A subscription belongs to one worker; messages reach it on that worker's
 * thread (through worker_post). Publishing is thread-safe.
 */
#ifndef PT_HUB_H
#define PT_HUB_H

#include "portico/portico.h"

int hub_publish(pt_str_t channel, pt_str_t message);
pt_sub *hub_subscribe(pt_worker *w, pt_str_t channel, pt_hub_fn fn, void *ud);
void hub_unsubscribe(pt_sub *s);

#endif
