/*
 * handlers.c - handlers the core itself provides.
 *
 *   route { path = "/health", handler = "static", status = 200,
 *           body = "ok", content_type = "text/plain", headers = { ... } }
 *
 * "static" answers a fixed response from the route's options: the way to
 * serve health checks, robots.txt or a maintenance reply with no plugin.
 * "proxy" forwards to a named upstream (upstream/proxy.c); route scripts
 * get it from proxy(upstream, opts).
 */
#include <string.h>

#include "conf_tree.h"
#include "handlers.h"
#include "http/exchange.h"
#include "lua/lua_rt.h"
#include "openapi.h"
#include "plugin.h"
#include "upstream/proxy.h"

static int static_handler(pt_exchange *x, const pt_conf *opts, void *ud)
{
	pt_str_t body = { "", 0 }, ctype = PT_STR("text/plain; charset=utf-8");
	const pt_conf *hdrs = conf_get(opts, "headers"), *v;
	const char *k;
	int64_t status = 200;

	(void)ud;
	conf_int(opts, "status", &status);
	conf_str(opts, "body", &body);
	conf_str(opts, "content_type", &ctype);
	xapi_header_add(x, PT_STR("content-type"), ctype);
	for (size_t i = 0; (k = conf_key_at(hdrs, i, &v)) != NULL; i++) {
		pt_str_t val;

		if (conf_str(v, NULL, &val) == 0)
			xapi_header_add(x, (pt_str_t){ k, strlen(k) }, val);
	}
	return xapi_respond(x, (int)status, body);
}

int handlers_register_builtin(void)
{
	int rc = registry_handler_add(NULL, "static", static_handler, NULL);

	if (!rc)
		rc = registry_handler_add(NULL, "proxy", proxy_handler, NULL);
	if (!rc)
		rc = registry_handler_add(NULL, "lua", lua_handler, NULL);
	return rc ? rc : openapi_register();
}
