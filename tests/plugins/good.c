/* A well-formed fixture plugin: registers a handler and counts lifecycle calls. */
#include <portico/portico.h>

static const struct pt_api *api;

static int hello(pt_exchange *x, const pt_conf *opts, void *ud)
{
	(void)opts;
	(void)ud;
	api->exchange_header_set(x, PT_STR("content-type"), PT_STR("text/plain"));
	return api->exchange_respond(x, 200, PT_STR("good plugin\n"));
}

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	pt_str_t greeting;

	api = a;
	if (a->conf_str(conf, "greeting", &greeting) == 0)
		a->log(ctx, PT_LOG_INFO, "greeting option: %.*s", (int)greeting.len, greeting.ptr);
	return a->handler_register(ctx, "good.hello", hello, NULL);
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "good",
	.version = "1.0",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
