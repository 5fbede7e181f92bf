/*
 * soap.c - the SOAP plugin (issue 15): its options, the services it loads
 * from WSDL files at start and reload, and the `soap` Lua module. The
 * pieces are described in soap.h.
 */
#include <string.h>

#include "soap.h"
#include "portico/plugin.h"

const struct pt_api *soap_api;

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	int rc;

	(void)conf;
	soap_api = a;
	if (!PT_API_HAS(a, lua_exchange)) {
		a->log(ctx, PT_LOG_ERROR, "needs plugin ABI 1.9 (lua_exchange); this portico has "
		       "%u.%u", (unsigned)a->abi_major, (unsigned)a->abi_minor);
		return PT_ENOSYS;
	}
	if (a->run_mode() == PT_RUN_COMMAND)
		return 0;
	if ((rc = a->lua_module_register(ctx, "soap", soap_lua_open)) != 0) {
		a->log(ctx, PT_LOG_ERROR, "cannot register the soap module: %s", a->strerror(rc));
		return rc;
	}
	return 0;
}

static const struct pt_plugin soap_plugin = {
	PT_PLUGIN_HEAD,
	.name = "soap",
	.version = "0.1.0",
	.load = load,
};

PT_PLUGIN_ENTRY
{
	return &soap_plugin;
}
