/*
 * watchdog.h - notices a worker whose loop stopped coming back (a C
 * plugin's endless loop, a script stuck in C, a bug of ours) and says what
 * it was running.
 *
 * Each worker's loop stamps a heartbeat from a timer, and around the code
 * it runs for an exchange (its filters and handler, a Lua coroutine it
 * resumes) it records that exchange in its slot. The main thread checks
 * the slots twice a second: a worker whose heartbeat is older than
 * `watchdog_timeout` is logged once, at error level, with the request, the
 * route, where the route was declared (file:line) and its handler, and
 * counted in the portico_worker_stalls_total metric; one more line says
 * when it is back. The watchdog only reports: a stuck thread cannot be
 * stopped safely from outside.
 */
#ifndef PT_WATCHDOG_H
#define PT_WATCHDOG_H

#include <stdint.h>
#include "portico/portico.h"

/* Slots for N workers (before they start). 0, or -1 out of memory. */
int watchdog_init(unsigned n);
/* After the workers are joined. */
void watchdog_free(void);

/* Worker thread: its loop is alive (a timer calls it). */
void watchdog_beat(unsigned worker);
/* Main thread: slot WORKER has a thread now (1) or no more (0); only live
 * slots are checked. */
void watchdog_set_live(unsigned worker, int live);
/*
 * Worker thread: W now runs code for X (borrowed: X must stay alive until
 * the matching watchdog_leave). Returns what W ran before, to hand back to
 * watchdog_leave: entries nest (a handler that wakes another exchange).
 */
pt_exchange *watchdog_enter(pt_worker *w, pt_exchange *x);
void watchdog_leave(pt_worker *w, pt_exchange *prev);
/*
 * Worker thread, from the Lua instruction hook: nonzero when W's loop is
 * late and the watchdog would like the Lua line it runs, which
 * watchdog_lua_line then records (SRC is copied). A script looping in Lua
 * is named by its line; one stuck in C never reaches the hook, and the
 * message names the route's line only.
 */
int watchdog_wants_line(pt_worker *w);
void watchdog_lua_line(pt_worker *w, const char *src, int line);

/* Milliseconds on the monotonic clock, the heartbeats' time. */
uint64_t watchdog_now_ms(void);
/*
 * Main thread: logs the workers whose heartbeat is older than TIMEOUT
 * seconds at NOW_MS (once per stall) and those back from one. TIMEOUT 0
 * checks nothing. Returns the number of workers stuck now.
 */
unsigned watchdog_check(double timeout, uint64_t now_ms);
/* Stalls seen since start (the metric's value). */
double watchdog_stalls(void);

#endif
