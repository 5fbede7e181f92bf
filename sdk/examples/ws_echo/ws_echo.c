/*
 * ws_echo - a WebSocket endpoint written in C, built out of tree:
 *
 *     make            # uses pkg-config --cflags --libs portico-plugin
 *     cp ws_echo.so "$(pkg-config --variable=plugindir portico-plugin)"
 *
 * It registers the handler "ws_echo.echo", which a GET route points at:
 *
 *     route { method = "GET", path = "/echo", handler = "ws_echo.echo",
 *             max_message = 65536, delay_ms = 0 }
 *
 * Every message a client sends comes back to it, text as text and binary
 * as binary. With delay_ms > 0 each echo waits on a timer first: the
 * connection is paused meanwhile (api->ws_pause), so the echoes keep the
 * order of the messages, which is how a handler that waits (a database, an
 * upstream call) keeps its connection's messages in order.
 */
#include <stdlib.h>
#include <string.h>

#include <portico/portico.h>

static const struct pt_api *api;
static pt_plugin_ctx *plugin;

/* One connection: owned by the plugin from ws_accept until on_close. */
struct echo {
	pt_ws *ws;
	pt_timer *timer;               /* delay_ms > 0 only */
	uint64_t delay_ms;
	char *held;                    /* the message waiting for the timer */
	size_t held_len;
	int held_binary;
};

/* The timer of a delayed echo: send it, then take the next message. */
static void echo_later(void *ud)
{
	struct echo *e = ud;

	api->ws_send(e->ws, e->held, e->held_len, e->held_binary);
	free(e->held);
	e->held = NULL;
	api->ws_pause(e->ws, 0);
}

/* DATA is borrowed for the call: send copies it, a delayed echo keeps a copy. */
static void echo_message(pt_ws *ws, const char *data, size_t len, int binary, void *ud)
{
	struct echo *e = ud;
	int rc;

	if (!e->timer) {
		/* PT_ESTATE (closing) and PT_ELIMIT (queue full: closing with 1008)
		 * need nothing from us: on_close follows */
		if ((rc = api->ws_send(ws, data, len, binary)) != 0 && rc != PT_ESTATE)
			api->log(plugin, PT_LOG_INFO, "connection %llu: send: %s",
			         (unsigned long long)api->ws_id(ws), api->strerror(rc));
		return;
	}
	if (!(e->held = malloc(len ? len : 1))) {
		api->ws_close(ws, 1011, PT_STR("out of memory"));
		return;
	}
	memcpy(e->held, data, len);
	e->held_len = len;
	e->held_binary = binary;
	api->ws_pause(ws, 1);          /* no on_message until echo_later resumes */
	api->timer_start(e->timer, e->delay_ms, 0);
}

/* The last call for WS, once, however it ended: free what the connection
 * owns. WS itself is freed by the core when this returns. */
static void echo_close(pt_ws *ws, unsigned code, pt_str_t reason, void *ud)
{
	struct echo *e = ud;

	api->log(plugin, PT_LOG_DEBUG, "connection %llu from %.*s closed: %u %.*s",
	         (unsigned long long)api->ws_id(ws), (int)api->ws_remote_addr(ws).len,
	         api->ws_remote_addr(ws).ptr, code, (int)reason.len, reason.ptr ? reason.ptr : "");
	if (e->timer)
		api->timer_free(e->timer);   /* a pending echo_later never runs */
	free(e->held);
	free(e);
}

static const struct pt_ws_ops echo_ops = {
	.size = sizeof(struct pt_ws_ops),
	.on_message = echo_message,
	.on_close = echo_close,
};

static int echo_handler(pt_exchange *x, const pt_conf *route_opts, void *ud)
{
	struct pt_ws_opts o = { .size = sizeof(o) };
	struct echo *e;
	int64_t v;
	int err;

	(void)ud;
	if (api->conf_int(route_opts, "max_message", &v) == 0 && v > 0)
		o.max_message = (size_t)v;
	if (!(e = calloc(1, sizeof(*e))))
		return PT_ENOMEM;
	if (api->conf_int(route_opts, "delay_ms", &v) == 0 && v > 0) {
		e->delay_ms = (uint64_t)v;
		if (!(e->timer = api->timer_new(api->exchange_worker(x), echo_later, e))) {
			free(e);
			return PT_ENOMEM;
		}
	}
	/* answers 101 and hands the connection to echo_ops, or answers the
	 * request itself (400, 426) when it is not a valid handshake */
	if (!(e->ws = api->ws_accept(x, &o, &echo_ops, e, &err))) {
		if (e->timer)
			api->timer_free(e->timer);
		free(e);
		return err == PT_EINVAL ? 0 : err;
	}
	return 0;
}

static int echo_load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	(void)conf;
	api = a;
	plugin = ctx;
	if (!PT_API_HAS(a, ws_accept)) {
		a->log(ctx, PT_LOG_ERROR, "this portico has no WebSocket (plugin ABI 1.6 needed)");
		return PT_ENOSYS;
	}
	return a->handler_register(ctx, "ws_echo.echo", echo_handler, NULL);
}

static const struct pt_plugin echo_plugin = {
	PT_PLUGIN_HEAD,
	.name = "ws_echo",
	.version = "1.0.0",
	.load = echo_load,
};

PT_PLUGIN_ENTRY
{
	return &echo_plugin;
}
