/*
 * admin_dash.h - the admin listener's dashboard: the page and its
 * WebSocket of metrics (admin_dash.c). Main thread only.
 */
#ifndef PT_ADMIN_DASH_H
#define PT_ADMIN_DASH_H

#include <stddef.h>

struct bufferevent;

/* The whole /metrics text (malloc'd, *LEN bytes), or NULL. */
typedef char *(*dash_render_fn)(size_t *len);

/* dashboard/index.html (malloc'd), from $PORTICO_DASHBOARD_DIR, the
 * installed PT_DASHBOARD_DIR or the source tree's; NULL when none. */
char *dash_page(size_t *len);
/* Sec-WebSocket-Accept for KEY (RFC 6455 4.2.2) into OUT; -1 when KEY is
 * not 16 bytes of base64. */
int dash_accept_key(const char *key, char out[29]);
/* Takes BEV over (answered 101, then a metrics frame each second);
 * -1 when full or out of memory (BEV still the caller's). */
int dash_adopt(struct bufferevent *bev, const char *accept_key, dash_render_fn fn);
/* Closes every dashboard connection. */
void dash_stop(void);

#endif
