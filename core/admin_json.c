/* admin_json.c - see admin_json.h. */
#include <time.h>

#include "admin_json.h"
#include "gen.h"
#include "plugin.h"
#include "portico/plugin.h"
#include "router.h"
#include "upstream/state.h"
#include "worker.h"

static struct timespec started;

void admin_json_started(void)
{
	clock_gettime(CLOCK_MONOTONIC, &started);
}

unsigned admin_gen_id(const struct gen *g)
{
	return g ? g->id : 0;
}

json_t *admin_json_status(const struct gen *g)
{
	struct timespec now;
	char abi[32];

	clock_gettime(CLOCK_MONOTONIC, &now);
	snprintf(abi, sizeof(abi), "%u.%u", PT_ABI_MAJOR, PT_ABI_MINOR);
	return json_pack("{s:s,s:s,s:f,s:I,s:I,s:I,s:I,s:I,s:I}", "version", PACKAGE_VERSION, "abi", abi,
	                 "uptime_seconds", (double)(now.tv_sec - started.tv_sec) +
	                 (now.tv_nsec - started.tv_nsec) / 1e9,
	                 "generation", (json_int_t)admin_gen_id(g),
	                 "workers", (json_int_t)worker_count(),
	                 /* retired by a reload, still finishing their requests */
	                 "workers_retiring", (json_int_t)workers_retiring(),
	                 "max_workers", (json_int_t)worker_slots(),
	                 "routes", (json_int_t)(g ? g->nroutes : 0),
	                 "plugins", (json_int_t)plugins_count());
}

/* The methods a route was declared with, as written ("ANY" for all). */
static json_t *method_list(unsigned bits)
{
	static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
	                                     "OPTIONS", "CONNECT", "TRACE" };
	json_t *a = json_array();

	if ((bits & PT_METHOD_ANY) == PT_METHOD_ANY)
		return json_array_append_new(a, json_string("ANY")), a;
	for (unsigned i = 0; a && i < sizeof(names) / sizeof(names[0]); i++)
		if (bits & (1u << i))
			json_array_append_new(a, json_string(names[i]));
	return a;
}

json_t *admin_json_routes(const struct gen *g)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && g && i < g->nroutes; i++) {
		const struct route_entry *re = &g->routes[i];

		json_array_append_new(a, json_pack("{s:o?,s:s?,s:s,s:s?,s:s?,s:i}", "methods",
		                                   method_list(re->conf->methods),
		                                   "host", re->conf->host, "path", re->conf->path,
		                                   "handler", re->conf->handler, "file", re->file,
		                                   "line", re->conf->line));
	}
	return a;
}

json_t *admin_json_plugins(void)
{
	json_t *a = json_array();

	for (struct pt_plugin_ctx *p = plugins_first(); a && p; p = p->next) {
		char abi[32];

		snprintf(abi, sizeof(abi), "%u.%u", (unsigned)p->desc->abi_major,
		         (unsigned)p->desc->abi_minor);
		json_array_append_new(a, json_pack("{s:s,s:s?,s:s,s:b,s:b}", "name", p->name,
		                                   "version", p->desc->version, "abi", abi,
		                                   "loaded", p->loaded, "builtin", p->dl == NULL));
	}
	return a;
}

json_t *admin_json_upstreams(const struct gen *g)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && g && g->upstreams && i < g->upstreams->n; i++) {
		const struct upstream_state *u = &g->upstreams->u[i];
		json_t *servers = json_array();

		for (unsigned j = 0; servers && j < u->conf->nservers; j++)
			json_array_append_new(servers, json_pack("{s:s,s:s}", "address",
			                                         u->conf->servers[j], "health",
			                                         !u->conf->health.enabled ? "unchecked" :
			                                         upstream_server_down(u, j) ? "down" : "up"));
		json_array_append_new(a, json_pack("{s:s,s:o?,s:b}", "name", u->conf->name,
		                                   "servers", servers, "health_checks",
		                                   u->conf->health.enabled));
	}
	return a;
}
