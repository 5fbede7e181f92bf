/*
 * backplane.h - the hub's Redis backplane (`hub = { backplane = "redis" }`):
 * every hub_publish also goes to Redis (PUBLISH <prefix><channel>), and what
 * other Portico instances publish comes back through one PSUBSCRIBE
 * <prefix>* and is delivered locally (hub_publish_local), never re-published.
 *
 * One thread of its own runs both Redis connections on its own event_base;
 * publishers hand it messages through a bounded, mutex-guarded queue and an
 * eventfd. See doc/architecture.md, "The hub's Redis backplane".
 */
#ifndef PT_BACKPLANE_H
#define PT_BACKPLANE_H

#include "portico/portico.h"

struct config;

/*
 * Makes the running backplane match CFG (main thread: at start and on each
 * reload): starts it, stops it, restarts it when its Redis settings or
 * prefix changed, or keeps it (taking the new hub.max_message). Returns 0,
 * or -1 with ERR when it cannot start (no thread, no memory); the backplane
 * is then off.
 */
int backplane_apply(const struct config *cfg, char *err, size_t errlen);

/* Stops the backplane if it runs: closes its connections, joins its thread,
 * drops what it still queued. Main thread. */
void backplane_stop(void);

/*
 * Called by hub_publish after local delivery: queue CHANNEL and MESSAGE
 * (copied) for Redis. Any thread; does not block on Redis. Nothing when the
 * backplane is off. When the queue is full the oldest message is dropped
 * (counted in portico_hub_backplane_dropped_total).
 */
void backplane_forward(pt_str_t channel, pt_str_t message);

/* Whether CHANNEL may cross the backplane: the same rule as hub.publish in
 * Lua (1 to 256 bytes, no control characters). */
int backplane_channel_ok(pt_str_t channel);

#endif
