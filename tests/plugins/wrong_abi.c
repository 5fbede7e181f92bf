/* A fixture plugin built for a future ABI major: the loader must refuse it
 * before calling load (which would abort the test if it ran). */
#include <stdlib.h>
#include <portico/portico.h>

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	(void)ctx; (void)a; (void)conf;
	abort();
}

static const struct pt_plugin desc = {
	.abi_major = PT_ABI_MAJOR + 1,
	.abi_minor = 0,
	.size = sizeof(struct pt_plugin),
	.name = "wrong_abi",
	.version = "9.9",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
