/*
 * wsp.h - the websocket plugin's shared declarations: Server-Sent Events
 * endpoints (sse.c) and WebSocket endpoints (ws_endpoint.c), both fed by
 * the hub. The WebSocket protocol itself is the core's (core/ws, ABI 1.6).
 */
#ifndef WSP_H
#define WSP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <portico/portico.h>

#define WSP_MAX_CHANNEL 256          /* bytes in a channel name (as hub.publish) */
#define WSP_MAX_CHANNELS 16          /* channels of one endpoint */
#define WSP_MAX_REPLAY 10000         /* messages kept per channel */
#define WSP_DEFAULT_REPLAY 100
#define WSP_DEFAULT_REPLAY_BYTES ((size_t)1 << 20)
#define WSP_MAX_REPLAY_BYTES ((size_t)64 << 20)
#define WSP_DEFAULT_HEARTBEAT 15.0
#define WSP_MAX_HEARTBEAT 3600.0

extern const struct pt_api *wsp_api;
extern pt_plugin_ctx *wsp_ctx;

/* An endpoint's options, read from its route options. */
struct wsp_opts {
	pt_str_t channels[WSP_MAX_CHANNELS];   /* borrowed from the route's options */
	unsigned nchannels;
	unsigned replay;
	size_t replay_bytes;
	double heartbeat;                      /* seconds; 0: none */
};

/*
 * Reads and checks OPTS (a route's options); 0, or -1 with a sentence in
 * ERR. Channel names are checked as hub.publish checks them.
 */
int wsp_opts_read(const pt_conf *opts, struct wsp_opts *o, char *err, size_t errlen);
/* 1 when NAME[0..LEN) is a channel name hub.publish accepts. */
int wsp_channel_ok(const char *name, size_t len);

/* The channels every worker buffers from its start (sse.endpoint adds to it). */
int wsp_registry_add(pt_str_t channel, unsigned replay, size_t replay_bytes);
/* Calls FN for each registered channel (under the registry's lock). */
void wsp_registry_each(void (*fn)(pt_str_t channel, unsigned replay, size_t replay_bytes,
                                  void *ud), void *ud);

/* Per worker: its channels' replay buffers and its open streams. */
struct wsp_worker;
struct wsp_worker *wsp_worker_new(pt_worker *w);
void wsp_worker_free(struct wsp_worker *ww);

/* The "sse" handler. */
int wsp_sse_handle(pt_exchange *x, const pt_conf *opts, void *ud);

/* Pushes "file:line: WHO: <FMT...>" naming the script's call (level 2: the
 * checking C function's caller is the module's Lua wrapper), for a
 * lua_error. [-0, +1, m] */
void wsp_push_fail(struct lua_State *L, const char *who, const char *fmt, va_list ap);

/* A module that is Lua source SRC (chunk NAME, "=name" so that route.* skip
 * it when naming the script's line) called with CHECK. [-0, +1, e] */
int wsp_module_open(struct lua_State *L, const char *src, size_t len, const char *name,
                    int (*check)(struct lua_State *L));

/* The `sse` Lua module: [-0, +1, m] */
int wsp_lua_open(struct lua_State *L);

/* WebSocket endpoints (ws_endpoint.c): the "websocket" handler, the
 * `websocket` Lua module, and each worker's channels. */
int wsp_ws_handle(pt_exchange *x, const pt_conf *opts, void *ud);
int wsp_ws_lua_open(struct lua_State *L);
int wsp_ws_worker_start(pt_worker *w);
void wsp_ws_worker_stop(pt_worker *w);
void wsp_ws_unload(void);

#endif
