/*
 * openapi.c - an OpenAPI 3.1 document made from the generation's routes;
 * see openapi.h.
 *
 * Each route gives one operation per method: `:id` and `*rest` segments
 * become {id} and {rest} path parameters (OpenAPI has no multi-segment
 * parameter, so {rest} is described as "the rest of the path"). Route
 * options may add `summary`, `description`, `tags`, `deprecated`,
 * `operation_id`, `request` (a JSON Schema for an application/json body),
 * `response` (the schema of the 200 JSON answer) or `responses` (status ->
 * { description, schema }). Auth filters on the route become security
 * requirements; a rate filter documents 429, auth 401.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "openapi.h"
#include "chain.h"
#include "conf_tree.h"
#include "gen.h"
#include "http/exchange.h"
#include "plugin.h"

static const struct {
	unsigned bit;
	const char *name;
} methods[] = {
	{ PT_METHOD_GET, "get" }, { PT_METHOD_PUT, "put" }, { PT_METHOD_POST, "post" },
	{ PT_METHOD_DELETE, "delete" }, { PT_METHOD_OPTIONS, "options" },
	{ PT_METHOD_HEAD, "head" }, { PT_METHOD_PATCH, "patch" }, { PT_METHOD_TRACE, "trace" },
};

/* A config value as JSON: tables with only a 1..n part are arrays. */
static json_t *conf_json(const pt_conf *c, int depth)
{
	json_t *j;

	if (!c || depth > 64)
		return json_null();
	switch (c->type) {
	case PT_CONF_STRING: return json_stringn(c->u.s.ptr, c->u.s.len);
	case PT_CONF_BOOL: return json_boolean(c->u.b);
	case PT_CONF_NUMBER:
		if (c->u.n == (double)(json_int_t)c->u.n)
			return json_integer((json_int_t)c->u.n);
		return json_real(c->u.n);
	case PT_CONF_TABLE:
		if (c->u.t.narr && !c->u.t.nkeys) {
			j = json_array();
			for (size_t i = 0; i < c->u.t.narr; i++)
				json_array_append_new(j, conf_json(c->u.t.arr[i], depth + 1));
			return j;
		}
		j = json_object();
		for (size_t i = 0; i < c->u.t.nkeys; i++)
			json_object_set_new(j, c->u.t.keys[i], conf_json(c->u.t.vals[i], depth + 1));
		return j;
	default:
		return json_null();
	}
}

/* ":id" and "*rest" segments become "{id}" and "{rest}", listed in PARAMS. */
static char *oas_path(const char *path, json_t *params)
{
	size_t n = strlen(path);
	char *out = malloc(2 * n + 3), *o = out;
	const char *p = path;

	if (!out)
		return NULL;
	while (*p) {
		if ((*p == ':' || *p == '*') && (p == path || p[-1] == '/')) {
			const char *s = ++p;
			int rest = s[-1] == '*';
			json_t *prm;

			while (*p && *p != '/')
				p++;
			*o++ = '{';
			memcpy(o, s, (size_t)(p - s));
			o += p - s;
			*o++ = '}';
			prm = json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", s, (size_t)(p - s),
			                "in", "path", "required", 1, "schema", "type", "string");
			if (rest)
				json_object_set_new(prm, "description",
				                    json_string("the rest of the path (may contain '/')"));
			json_array_append_new(params, prm);
			continue;
		}
		*o++ = *p++;
	}
	*o = '\0';
	return out;
}

/* The names of the route's auth filters, and whether it is rate limited. */
static void route_policies(const struct route_entry *re, json_t *security, int *auth,
                           int *rate, json_t *schemes)
{
	for (unsigned i = 0; i < re->nfilters; i++) {
		const char *n = re->filters[i].name;
		const char *scheme = !strcmp(n, "jwt") ? "bearerAuth" : !strcmp(n, "key-auth") ?
		                     "apiKeyAuth" : !strcmp(n, "basic") ? "basicAuth" : NULL;

		if (!strcmp(n, "rate"))
			*rate = 1;
		if (!strcmp(n, "auth")) {
			/* auth = "jwt" or a list: any one of them */
			const pt_conf *o = re->filters[i].opts;
			size_t cnt = o && o->type == PT_CONF_TABLE ? o->u.t.narr : 1;

			for (size_t k = 0; k < cnt; k++) {
				const pt_conf *e = o && o->type == PT_CONF_TABLE ? o->u.t.arr[k] : o;
				const char *m = e && e->type == PT_CONF_STRING ? e->u.s.ptr : "";

				scheme = !strcmp(m, "jwt") ? "bearerAuth" : !strcmp(m, "key-auth") ?
				         "apiKeyAuth" : !strcmp(m, "basic") ? "basicAuth" : NULL;
				if (scheme) {
					json_array_append_new(security, json_pack("{s:[]}", scheme));
					json_object_set_new(schemes, scheme, json_true());
					*auth = 1;
				}
			}
			continue;
		}
		if (scheme) {
			json_array_append_new(security, json_pack("{s:[]}", scheme));
			json_object_set_new(schemes, scheme, json_true());
			*auth = 1;
		}
	}
}

static json_t *json_body(const char *description, const pt_conf *schema)
{
	json_t *r = json_pack("{s:s}", "description", description);

	if (schema)
		json_object_set_new(r, "content", json_pack("{s:{s:o}}", "application/json",
		                                            "schema", conf_json(schema, 0)));
	return r;
}

static json_t *responses(const pt_conf *opts, int auth, int rate)
{
	const pt_conf *rs = conf_get(opts, "responses"), *v;
	json_t *out = json_object();
	const char *k;

	if (rs && rs->type == PT_CONF_TABLE && rs->u.t.nkeys) {
		for (size_t i = 0; (k = conf_key_at(rs, i, &v)) != NULL; i++) {
			pt_str_t d = PT_STR("response");

			conf_str(v, "description", &d);
			json_object_set_new(out, k, json_body(d.ptr, conf_get(v, "schema")));
		}
	} else {
		json_object_set_new(out, "200", json_body("OK", conf_get(opts, "response")));
	}
	if (auth && !json_object_get(out, "401"))
		json_object_set_new(out, "401", json_body("credentials missing or wrong", NULL));
	if (rate && !json_object_get(out, "429"))
		json_object_set_new(out, "429", json_body("rate limit exceeded", NULL));
	return out;
}

static json_t *operation(const struct route_entry *re, const char *method, const char *path,
                         json_t *params, json_t *schemes)
{
	const pt_conf *o = re->conf->opts, *v;
	json_t *op = json_object(), *security = json_array();
	int auth = 0, rate = 0;
	char id[256];

	if ((v = conf_get(o, "summary")) && v->type == PT_CONF_STRING)
		json_object_set_new(op, "summary", conf_json(v, 0));
	if ((v = conf_get(o, "description")) && v->type == PT_CONF_STRING)
		json_object_set_new(op, "description", conf_json(v, 0));
	if ((v = conf_get(o, "tags")) && v->type == PT_CONF_TABLE)
		json_object_set_new(op, "tags", conf_json(v, 0));
	if ((v = conf_get(o, "deprecated")) && v->type == PT_CONF_BOOL)
		json_object_set_new(op, "deprecated", json_boolean(v->u.b));
	if ((v = conf_get(o, "operation_id")) && v->type == PT_CONF_STRING) {
		json_object_set_new(op, "operationId", conf_json(v, 0));
	} else {
		size_t n = (size_t)snprintf(id, sizeof(id), "%s", method);

		/* get /users/{id} -> get_users_id: unique per method and path */
		for (const char *p = path; *p && n + 1 < sizeof(id); p++)
			id[n++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			          (*p >= '0' && *p <= '9') ? *p : '_';
		id[n] = '\0';
		json_object_set_new(op, "operationId", json_string(id));
	}
	if (json_array_size(params))
		json_object_set(op, "parameters", params);
	if ((v = conf_get(o, "request")))
		json_object_set_new(op, "requestBody", json_pack("{s:b, s:{s:{s:o}}}", "required", 1,
		                    "content", "application/json", "schema", conf_json(v, 0)));
	route_policies(re, security, &auth, &rate, schemes);
	if (json_array_size(security))
		json_object_set_new(op, "security", security);
	else
		json_decref(security);
	json_object_set_new(op, "responses", responses(o, auth, rate));
	return op;
}

/* The header key-auth reads: plugin "rest" { key_auth = { header = ... } }. */
static const char *key_header(const struct gen *g)
{
	pt_str_t h = PT_STR("apikey");

	for (unsigned i = 0; i < g->cfg->nplugins; i++)
		if (!strcmp(g->cfg->plugins[i].name, "rest"))
			conf_str(g->cfg->plugins[i].opts, "key_auth.header", &h);
	return h.ptr;
}

static json_t *security_schemes(const struct gen *g, json_t *used)
{
	json_t *s = json_object();

	if (json_object_get(used, "bearerAuth"))
		json_object_set_new(s, "bearerAuth", json_pack("{s:s, s:s, s:s}", "type", "http",
		                    "scheme", "bearer", "bearerFormat", "JWT"));
	if (json_object_get(used, "basicAuth"))
		json_object_set_new(s, "basicAuth", json_pack("{s:s, s:s}", "type", "http",
		                    "scheme", "basic"));
	if (json_object_get(used, "apiKeyAuth"))
		json_object_set_new(s, "apiKeyAuth", json_pack("{s:s, s:s, s:s}", "type", "apiKey",
		                    "in", "header", "name", key_header(g)));
	return s;
}

char *openapi_build(const struct gen *g)
{
	const pt_conf *oc = conf_get(g->cfg->root, "openapi"), *v;
	json_t *doc, *paths = json_object(), *schemes = json_object();
	pt_str_t title = PT_STR("Portico API"), version = PT_STR("1.0.0");
	char *text;

	conf_str(oc, "title", &title);
	conf_str(oc, "version", &version);
	doc = json_pack("{s:s, s:{s:s, s:s}}", "openapi", "3.1.0", "info", "title", title.ptr,
	                "version", version.ptr);
	if ((v = conf_get(oc, "description")) && v->type == PT_CONF_STRING)
		json_object_set_new(json_object_get(doc, "info"), "description", conf_json(v, 0));
	if ((v = conf_get(oc, "servers")) && v->type == PT_CONF_TABLE)
		json_object_set_new(doc, "servers", conf_json(v, 0));
	for (unsigned i = 0; i < g->nroutes; i++) {
		const struct route_entry *re = &g->routes[i];
		json_t *params = json_array(), *item;
		char *p;

		unsigned mset;

		if (!re->conf || !strcmp(re->conf->handler, "openapi") ||
		    !(p = oas_path(re->conf->path, params))) {
			json_decref(params);
			continue;
		}
		if (!(item = json_object_get(paths, p))) {
			item = json_object();
			json_object_set_new(paths, p, item);
		}
		/* route.any: the methods an API means; HEAD goes with GET unsaid */
		mset = re->conf->methods == PT_METHOD_ANY ? PT_METHOD_GET | PT_METHOD_POST |
		       PT_METHOD_PUT | PT_METHOD_PATCH | PT_METHOD_DELETE : re->conf->methods;
		if (mset & PT_METHOD_GET)
			mset &= ~PT_METHOD_HEAD;
		for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
			if ((mset & methods[m].bit) && !json_object_get(item, methods[m].name))
				json_object_set_new(item, methods[m].name,
				                    operation(re, methods[m].name, p, params, schemes));
		json_decref(params);
		free(p);
	}
	json_object_set_new(doc, "paths", paths);
	if (json_object_size(schemes))
		json_object_set_new(doc, "components", json_pack("{s:o}", "securitySchemes",
		                                                 security_schemes(g, schemes)));
	json_decref(schemes);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	return text;
}

/* The "openapi" handler: the document built with the generation. */
static int openapi_handler(pt_exchange *x, const pt_conf *opts, void *ud)
{
	(void)opts;
	(void)ud;
	if (!x->gen->openapi)
		return PT_ENOENT;
	xapi_header_set(x, PT_STR("content-type"), PT_STR("application/json"));
	return xapi_respond(x, 200, (pt_str_t){ x->gen->openapi, strlen(x->gen->openapi) });
}

int openapi_register(void)
{
	return registry_handler_add(NULL, "openapi", openapi_handler, NULL);
}
