/*
 * hello - the smallest useful Portico plugin, built out of tree:
 *
 *     make            # uses pkg-config --cflags --libs portico-plugin
 *     cp hello.so /usr/lib/x86_64-linux-gnu/portico/plugins/   # or plugins_dir
 *
 * It registers the handler "hello", which a route points at:
 *
 *     plugin "hello" { greeting = "Hello from a plugin" }
 *     route { method = "GET", path = "/hello/:name", handler = "hello" }
 *
 * GET /hello/ada answers "Hello from a plugin, ada!".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <portico/portico.h>

struct hello {
	char greeting[128];
	pt_metric *served;
};

static const struct pt_api *api;

static int hello_handler(pt_exchange *x, const pt_conf *route_opts, void *ud)
{
	struct hello *h = ud;
	pt_str_t name = PT_STR("world");
	char *body;
	int n;

	(void)route_opts;
	api->exchange_param(x, PT_STR("name"), &name);
	body = api->exchange_alloc(x, sizeof(h->greeting) + name.len + 8);
	if (!body)
		return PT_ENOMEM;
	n = sprintf(body, "%s, %.*s!\n", h->greeting, (int)name.len, name.ptr);
	api->exchange_header_set(x, PT_STR("content-type"), PT_STR("text/plain; charset=utf-8"));
	api->metric_add(h->served, 1);
	return api->exchange_respond(x, 200, (pt_str_t){ body, (size_t)n });
}

static int hello_load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	struct hello *h = calloc(1, sizeof(*h));
	pt_str_t g = PT_STR("Hello");

	if (!h)
		return PT_ENOMEM;
	api = a;
	a->conf_str(conf, "greeting", &g);
	snprintf(h->greeting, sizeof(h->greeting), "%.*s", (int)g.len, g.ptr);
	h->served = a->metric_counter(ctx, "hello_requests_total", "Requests the hello plugin served");
	a->ctx_set_data(ctx, h);
	a->log(ctx, PT_LOG_INFO, "ready (greeting \"%s\")", h->greeting);
	return a->handler_register(ctx, "hello", hello_handler, h);
}

static void hello_unload(pt_plugin_ctx *ctx)
{
	free(api->ctx_get_data(ctx));
}

static const struct pt_plugin hello_plugin = {
	PT_PLUGIN_HEAD,
	.name = "hello",
	.version = "1.0.0",
	.load = hello_load,
	.unload = hello_unload,
};

PT_PLUGIN_ENTRY
{
	return &hello_plugin;
}
