/*
 * webhook.c - the webhook plugin (issue 14): being written. This skeleton
 * loads and does nothing, so the parts (wh.h) can be built side by side.
 */
#include "wh.h"
#include "portico/plugin.h"

const struct pt_api *wh_api;
struct wh_store *wh_store_main;
char wh_store_error[256];

static int load(pt_plugin_ctx *ctx, const struct pt_api *api, const pt_conf *conf)
{
	(void)ctx;
	(void)conf;
	wh_api = api;
	return 0;
}

static const struct pt_plugin plugin = {
	PT_PLUGIN_HEAD,
	.name = "webhook",
	.version = "0.1",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &plugin;
}
