/* Fixture plugins the loader must refuse before calling load (which would
 * abort the test if it ran), with a message naming both ABI versions:
 *   wrong_abi.so    built for a future ABI major (PT_ABI_MAJOR + 1);
 *   wrong_minor.so  (this file with -DWRONG_ABI_NEWER_MINOR) built for a
 *                   newer minor than the core it runs on (PT_ABI_MINOR + 1),
 *                   as a plugin built against a later SDK than the core. */
#include <stdlib.h>
#include <portico/portico.h>

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	(void)ctx; (void)a; (void)conf;
	abort();
}

static const struct pt_plugin desc = {
#ifdef WRONG_ABI_NEWER_MINOR
	.abi_major = PT_ABI_MAJOR,
	.abi_minor = PT_ABI_MINOR + 1,
	.name = "wrong_minor",
#else
	.abi_major = PT_ABI_MAJOR + 1,
	.abi_minor = 0,
	.name = "wrong_abi",
#endif
	.size = sizeof(struct pt_plugin),
	.version = "9.9",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
