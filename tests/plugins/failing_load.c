/* A fixture plugin whose load callback fails. */
#include <portico/portico.h>

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	(void)conf;
	a->log(ctx, PT_LOG_ERROR, "refusing to load: the test asked for it");
	return PT_EINVAL;
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "failing_load",
	.version = "1.0",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
