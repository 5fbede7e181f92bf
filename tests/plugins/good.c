/* A well-formed fixture plugin: registers a handler and counts lifecycle calls. */
#include <string.h>
#include <portico/portico.h>

static const struct pt_api *api;
static pt_metric *hellos;   /* NULL on cores that do not serve metrics */

static int hello(pt_exchange *x, const pt_conf *opts, void *ud)
{
	(void)opts;
	(void)ud;
	api->metric_add(hellos, 1);
	api->exchange_header_set(x, PT_STR("content-type"), PT_STR("text/plain"));
	return api->exchange_respond(x, 200, PT_STR("good plugin\n"));
}

/* good.fetch?url=...: answers with what an outbound request got. */
static void fetched(const struct pt_upstream_res *res, void *ud)
{
	pt_exchange *x = ud;

	if (res->status < 0)
		api->exchange_respond(x, 502, PT_STR("upstream failed\n"));
	else
		api->exchange_respond(x, res->status, res->body);
	api->exchange_unref(x);
}

/* good.fetch (UD NULL) calls upstream_request, the 1.0 call no exchange owns;
 * good.fetch_x (UD non-NULL) calls exchange_upstream_request (1.4), which the
 * access log reports. */
static int fetch(pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct pt_upstream_req req = { .size = sizeof(req), .method = PT_STR("GET"),
	                               .timeout_ms = 2000 };
	pt_str_t url;
	char *u;
	int rc;

	(void)opts;
	if (api->exchange_query_arg(x, PT_STR("upstream"), 0, &url) == 0) {
		req.path = PT_STR("/x");   /* ?upstream=NAME: a named upstream */
	} else if (api->exchange_query_arg(x, PT_STR("url"), 0, &url) != 0) {
		return api->exchange_respond(x, 400, PT_STR("url?\n"));
	}
	u = api->exchange_alloc(x, url.len + 1);
	memcpy(u, url.ptr, url.len);
	u[url.len] = '\0';
	if (req.path.len)
		req.upstream = u;
	else
		req.url = u;
	api->exchange_ref(x);
	if (ud)
		rc = api->exchange_upstream_request(x, &req, fetched, x);
	else
		rc = api->upstream_request(api->exchange_worker(x), &req, fetched, x);
	if (rc != 0)
		api->exchange_unref(x);
	return rc;
}

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	pt_str_t greeting;

	api = a;
	hellos = a->metric_counter(ctx, "portico_good_hellos_total", "good.hello answers.");
	if (a->conf_str(conf, "greeting", &greeting) == 0)
		a->log(ctx, PT_LOG_INFO, "greeting option: %.*s", (int)greeting.len, greeting.ptr);
	if (a->handler_register(ctx, "good.fetch", fetch, NULL) != 0 ||
	    a->handler_register(ctx, "good.fetch_x", fetch, (void *)a) != 0)
		return PT_EINVAL;
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
