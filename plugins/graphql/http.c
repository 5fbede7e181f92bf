/*
 * http.c - GraphQL over HTTP (the GraphQL-over-HTTP draft): the "graphql"
 * handler.
 *
 *  - POST with Content-Type application/json: {query, variables,
 *    operationName, extensions}; GET with the same names as query
 *    arguments (variables and extensions JSON-encoded), queries only: a
 *    mutation by GET is 405 with Allow: POST.
 *  - The answer is application/graphql-response+json unless the Accept
 *    header prefers application/json. With graphql-response+json: 200 when
 *    the response has data (even with field errors), 400 for a document
 *    that does not parse or validate, or variables that do not coerce. With
 *    application/json: 200 for every GraphQL response. Requests that are
 *    not GraphQL requests (no query, not JSON, wrong types) are 400, an
 *    unknown content type 415, an Accept we cannot serve 406.
 *  - With Accept: text/event-stream (GraphQL over SSE, "distinct
 *    connections"): a subscription (POST, or GET for EventSource) streams
 *    its events (sub.c); a query or mutation is one "next" event and
 *    "complete". A subscription without it is answered with an error.
 *  - GET with Accept: text/html serves GraphiQL when `graphiql = true`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "exec.h"
#include "exec_priv.h"
#include "gqlp.h"

#define CT_GQL "application/graphql-response+json; charset=utf-8"
#define CT_JSON "application/json; charset=utf-8"
#define CT_SSE "text/event-stream; charset=utf-8"

static const struct pt_api *api(void)
{
	return gqlp_api;
}

void gqlp_req_free(struct gqlp_req *r)
{
	if (r->on_free)
		r->on_free(r);
	if (r->L) {
		luaL_unref(r->L, LUA_REGISTRYINDEX, r->ctx_ref);
		luaL_unref(r->L, LUA_REGISTRYINDEX, r->co_ref);
	}
	json_decref(r->body);
	gqlp_doc_unref(r->doc);
	gqlp_conf_unref(r->conf);
	free(r->opname);
	if (r->x)
		api()->exchange_unref(r->x);
	free(r);
}

/* An SSE request's answer before any stream (request errors) is
 * graphql-response+json, as for a request that accepts it. */
static int respond(pt_exchange *x, int media, int status, const char *body, size_t len)
{
	api()->exchange_header_set(x, PT_STR("content-type"),
	                           media == GQLP_M_JSON ? PT_STR(CT_JSON) : PT_STR(CT_GQL));
	return api()->exchange_respond(x, status, (pt_str_t){ body, len });
}

int gqlp_respond(struct gqlp_req *r, int status, const char *body, size_t len)
{
	return respond(r->x, r->media, status, body, len);
}


/* A request that is not a GraphQL request, or an error before execution. */
static int respond_error(pt_exchange *x, int media, int status, const char *msg)
{
	struct jbuf b = { 0 };
	int rc;

	jb_put(&b, "{\"errors\":[{\"message\":", 22);
	jb_cstr(&b, msg);
	jb_put(&b, "}]}", 3);
	rc = b.oom ? PT_ENOMEM : respond(x, media, status, b.p, b.n);
	free(b.p);
	return rc;
}

void gqlp_exec_req_init(struct gql_exec_req *q, const struct gqlp_req *r)
{
	*q = (struct gql_exec_req){
		.schema = r->conf->schema,
		.doc = r->doc->doc,
		.operation_name = r->opname,
		.variables = r->vars,
		.L = r->L,
		.x = r->x,
		.resume = r->resume,
		.resume_ud = r->sink_ud,
		.api = api(),
	};
}

int gqlp_exec_start(struct gqlp_req *r,
                    void (*done)(struct gql_exec *e, const struct gql_result *res, void *ud))
{
	struct gql_exec_req q;
	lua_State *L = r->L;    /* R may be freed (DONE) before gql_exec_start returns */
	int top = lua_gettop(L), rc;

	gqlp_exec_req_init(&q, r);
	q.done = done;
	q.ud = r;
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->ctx_ref);
	q.ctx_index = lua_gettop(L);
	rc = gql_exec_start(&q);
	lua_settop(L, top);
	return rc;
}

int gqlp_respond_error(struct gqlp_req *r, int status, const char *msg)
{
	return respond_error(r->x, r->media, status, msg);
}

/* The media type to answer with, from Accept (first acceptable one wins). */
static int negotiate(pt_exchange *x)
{
	pt_str_t v;
	const char *p, *end;
	int any = 0;

	if (api()->exchange_header(x, PT_STR("accept"), 0, &v) != 0 || v.len == 0)
		return GQLP_M_GQL;
	p = v.ptr;
	end = v.ptr + v.len;
	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p)), *stop = c ? c : end;
		const char *semi = memchr(p, ';', (size_t)(stop - p)), *te = semi ? semi : stop;
		size_t n;

		while (p < te && (*p == ' ' || *p == '\t'))
			p++;
		while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		n = (size_t)(te - p);
		/* q=0 means "not this one" */
		if (!(semi && memmem(semi, (size_t)(stop - semi), "q=0", 3) &&
		      !memmem(semi, (size_t)(stop - semi), "q=0.", 4))) {
			if (n == 33 && !strncasecmp(p, "application/graphql-response+json", n))
				return GQLP_M_GQL;
			if (n == 16 && !strncasecmp(p, "application/json", n))
				return GQLP_M_JSON;
			if (n == 9 && !strncasecmp(p, "text/html", n))
				return GQLP_M_HTML;
			if (n == 17 && !strncasecmp(p, "text/event-stream", n))
				return GQLP_M_SSE;
			if ((n == 3 && !strncmp(p, "*/*", 3)) ||
			    (n == 13 && !strncasecmp(p, "application/*", n)))
				any = 1;
		}
		p = stop + 1;
	}
	return any ? GQLP_M_GQL : GQLP_M_NONE;
}

static const char graphiql_page[] =
	"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<title>GraphiQL - Portico</title>\n"
	"<link rel=\"stylesheet\" href=\"https://unpkg.com/graphiql@3/graphiql.min.css\">\n"
	"<style>body{margin:0;height:100vh}#graphiql{height:100vh}</style></head>\n"
	"<body><div id=\"graphiql\">Loading GraphiQL...</div>\n"
	"<script crossorigin src=\"https://unpkg.com/react@18/umd/react.production.min.js\"></script>\n"
	"<script crossorigin src=\"https://unpkg.com/react-dom@18/umd/react-dom.production.min.js\"></script>\n"
	"<script crossorigin src=\"https://unpkg.com/graphiql@3/graphiql.min.js\"></script>\n"
	"<script>const fetcher = GraphiQL.createFetcher({ url: %s });\n"
	"ReactDOM.createRoot(document.getElementById('graphiql'))"
	".render(React.createElement(GraphiQL, { fetcher }));</script>\n"
	"</body></html>\n";

static int serve_graphiql(pt_exchange *x, const struct gqlp_conf *c)
{
	struct jbuf path = { 0 }, page = { 0 };
	int rc;

	jb_cstr(&path, c->path);
	/* a JSON string is a JavaScript string; "</" must not close the script */
	for (size_t i = 0; i + 1 < path.n; i++)
		if (path.p[i] == '<')
			path.p[i] = ' ';
	{
		const char *mark = strstr(graphiql_page, "%s");

		jb_put(&page, graphiql_page, (size_t)(mark - graphiql_page));
		jb_put(&page, path.p, path.n);
		jb_put(&page, mark + 2, strlen(mark + 2));
	}
	api()->exchange_header_set(x, PT_STR("content-type"), PT_STR("text/html; charset=utf-8"));
	rc = page.oom ? PT_ENOMEM : api()->exchange_respond(x, 200, (pt_str_t){ page.p, page.n });
	free(path.p);
	free(page.p);
	return rc;
}

/* ---- after execution ---------------------------------------------------- */

static void exec_done(struct gql_exec *e, const struct gql_result *res, void *ud)
{
	struct gqlp_req *r = ud;
	int status = 200;

	gqlp_metrics_result(r->mutation, res);
	if (res->internal)
		status = 500;
	else if (!res->has_data && r->media != GQLP_M_JSON)
		status = 400;
	if (api()->exchange_aborted(r->x)) {
		/* nobody to answer */
	} else if (r->media == GQLP_M_SSE && status == 200) {
		/* a query or mutation over SSE: one "next", then "complete" */
		struct jbuf b = { 0 };

		jb_put(&b, "event: next\ndata: ", 18);
		jb_put(&b, res->json, res->len);
		jb_put(&b, "\n\nevent: complete\ndata:\n\n", 25);
		api()->exchange_header_set(r->x, PT_STR("content-type"), PT_STR(CT_SSE));
		api()->exchange_header_set(r->x, PT_STR("cache-control"), PT_STR("no-cache"));
		if (!b.oom)
			api()->exchange_respond(r->x, 200, (pt_str_t){ b.p, b.n });
		else
			respond(r->x, r->media, 500, "{\"errors\":[{\"message\":\"out of memory\"}]}", 41);
		free(b.p);
	} else {
		respond(r->x, r->media, status, res->json, res->len);
	}
	gql_exec_free(e);
	gqlp_req_free(r);
}

static void start_exec(struct gqlp_req *r)
{
	if (r->subscription) {
		gqlp_sub_start(r);
		return;
	}
	if (gqlp_exec_start(r, exec_done) != 0) {
		respond_error(r->x, r->media, 500, "Internal server error.");
		gqlp_req_free(r);
	}
}

/* The context hook ended: a table it returned replaces ctx. */
static void context_done(lua_State *co, int status, int nres, void *ud)
{
	struct gqlp_req *r = ud;

	if (status != LUA_OK) {
		api()->log(gqlp_ctx, PT_LOG_ERROR, "graphql.context: %s",
		           lua_tostring(co, -1) ? lua_tostring(co, -1) : "error");
		lua_settop(co, 0);
		respond_error(r->x, r->media, 500, "Internal server error.");
		gqlp_req_free(r);
		return;
	}
	if (nres > 0 && lua_istable(co, -nres)) {
		lua_pushvalue(co, -nres);
		lua_rawseti(co, LUA_REGISTRYINDEX, r->ctx_ref);
	}
	lua_settop(co, 0);
	start_exec(r);
}

/* ctx: consumer, headers (lower-case names), request_id, remote_addr. */
void gqlp_push_ctx(lua_State *L, pt_exchange *x)
{
	unsigned n = api()->exchange_header_count(x);
	pt_str_t s, name, value;

	lua_createtable(L, 0, 4);
	s = api()->exchange_consumer(x);
	if (s.len) {
		lua_pushlstring(L, s.ptr, s.len);
		lua_setfield(L, -2, "consumer");
	}
	lua_createtable(L, 0, (int)n);
	for (unsigned i = 0; i < n; i++) {
		if (api()->exchange_header_at(x, i, &name, &value) != 0)
			continue;
		lua_pushlstring(L, name.ptr, name.len);
		if (lua_rawget(L, -2) == LUA_TSTRING) {   /* repeated: joined with ", " */
			lua_pushliteral(L, ", ");
			lua_pushlstring(L, value.ptr, value.len);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			lua_pushlstring(L, value.ptr, value.len);
		}
		lua_pushlstring(L, name.ptr, name.len);
		lua_insert(L, -2);
		lua_rawset(L, -3);
	}
	lua_setfield(L, -2, "headers");
	s = api()->exchange_request_id(x);
	lua_pushlstring(L, s.ptr ? s.ptr : "", s.len);
	lua_setfield(L, -2, "request_id");
	s = api()->exchange_remote_addr(x);
	lua_pushlstring(L, s.ptr ? s.ptr : "", s.len);
	lua_setfield(L, -2, "remote_addr");
}

static int ctx_p(lua_State *L)
{
	gqlp_push_ctx(L, lua_touserdata(L, 1));
	return 1;
}

/* Builds ctx, runs the context hook (which may wait), then executes. */
static void prepare_and_run(struct gqlp_req *r)
{
	lua_State *L = r->L;
	lua_State *co;
	int st, nres = 0;

	lua_pushcfunction(L, ctx_p);
	lua_pushlightuserdata(L, r->x);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		respond_error(r->x, r->media, 500, "Internal server error.");
		gqlp_req_free(r);
		return;
	}
	r->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (!gqlp_lua_push_context_fn(L)) {
		start_exec(r);
		return;
	}
	co = lua_newthread(L);
	r->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_xmove(L, co, 1);
	lua_rawgeti(co, LUA_REGISTRYINDEX, r->ctx_ref);
	st = api()->lua_task_resume(r->x, co, 1, &nres, context_done, r);
	if (st != LUA_YIELD)
		context_done(co, st, nres, r);
}

/* ---- the request ------------------------------------------------------------ */

static int bad_request(struct gqlp_req *r, int status, const char *msg)
{
	respond_error(r->x, r->media, status, msg);
	gqlp_req_free(r);
	return 0;
}

/* Reads {query, variables, operationName, extensions} from a JSON object. */
static const char *read_params(struct gqlp_req *r, json_t *o, const char **query, size_t *qlen)
{
	json_t *q = json_object_get(o, "query"), *v = json_object_get(o, "variables");
	json_t *op = json_object_get(o, "operationName"), *ext = json_object_get(o, "extensions");

	if (!q || json_is_null(q))
		return "Must provide query string.";
	if (!json_is_string(q))
		return "The \"query\" parameter must be a string.";
	if (v && !json_is_null(v) && !json_is_object(v))
		return "The \"variables\" parameter must be an object.";
	if (op && !json_is_null(op) && !json_is_string(op))
		return "The \"operationName\" parameter must be a string.";
	if (ext && !json_is_null(ext) && !json_is_object(ext))
		return "The \"extensions\" parameter must be an object.";
	*query = json_string_value(q);
	*qlen = json_string_length(q);
	r->vars = v && json_is_object(v) ? v : NULL;
	if (op && json_is_string(op) && !(r->opname = strdup(json_string_value(op))))
		return "out of memory";
	return NULL;
}

static json_t *get_json_arg(pt_exchange *x, const char *name, const char **why)
{
	pt_str_t v;
	json_error_t je;
	json_t *j;

	if (api()->exchange_query_arg(x, (pt_str_t){ name, strlen(name) }, 0, &v) != 0 || !v.len)
		return NULL;
	j = json_loadb(v.ptr, v.len, JSON_DECODE_ANY, &je);
	if (!j || (!json_is_object(j) && !json_is_null(j))) {
		json_decref(j);
		*why = !strcmp(name, "variables") ? "The \"variables\" parameter must be a JSON object." :
		       "The \"extensions\" parameter must be a JSON object.";
	}
	return j;
}

int gqlp_handler(pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct gqlp_worker *gw = api()->worker_get_data(gqlp_ctx, api()->exchange_worker(x));
	unsigned method = api()->exchange_method(x);
	struct gqlp_req *r;
	const char *query = NULL, *why = NULL, *msg = NULL;
	size_t qlen = 0;
	const struct gql_definition *op;
	pt_str_t v;

	(void)opts;
	(void)ud;
	if (!(r = calloc(1, sizeof(*r))))
		return PT_ENOMEM;
	r->x = x;
	r->w = api()->exchange_worker(x);
	r->ctx_ref = r->co_ref = LUA_NOREF;
	api()->exchange_ref(x);
	r->media = negotiate(x);
	if (!(r->conf = gqlp_conf_get()) || !r->conf->schema)
		return bad_request(r, 503, "No GraphQL schema is configured.");
	if (method == PT_METHOD_GET && gqlp_ws_wanted(x)) {
		struct gqlp_conf *c = r->conf;

		r->conf = NULL;   /* the connection takes the reference */
		gqlp_req_free(r);
		return gqlp_ws_upgrade(x, c, gw);
	}
	if (method != PT_METHOD_GET && method != PT_METHOD_POST) {
		api()->exchange_header_set(x, PT_STR("allow"), PT_STR("GET, POST"));
		return bad_request(r, 405, "GraphQL only supports GET and POST requests.");
	}
	if (r->media == GQLP_M_HTML) {
		if (method == PT_METHOD_GET && r->conf->graphiql &&
		    api()->exchange_query_arg(x, PT_STR("query"), 0, &v) != 0) {
			serve_graphiql(x, r->conf);
			gqlp_req_free(r);
			return 0;
		}
		r->media = GQLP_M_GQL;
		if (api()->exchange_header(x, PT_STR("accept"), 0, &v) == 0 &&
		    !memmem(v.ptr, v.len, "*/*", 3) && !memmem(v.ptr, v.len, "json", 4))
			r->media = GQLP_M_NONE;
	}
	if (r->media == GQLP_M_NONE) {
		r->media = GQLP_M_JSON;
		return bad_request(r, 406, "Accept application/graphql-response+json, "
		                   "application/json or text/event-stream.");
	}
	if (method == PT_METHOD_POST) {
		json_error_t je;
		pt_str_t body;

		if (api()->exchange_header(x, PT_STR("content-type"), 0, &v) != 0 ||
		    !(v.len >= 16 && !strncasecmp(v.ptr, "application/json", 16) &&
		      (v.len == 16 || v.ptr[16] == ';' || v.ptr[16] == ' ')))
			return bad_request(r, 415, "POST requests need Content-Type: application/json.");
		if (api()->exchange_body(x, &body) != 0 || !body.len)
			return bad_request(r, 400, "POST body missing: send a JSON object with a query.");
		if (!(r->body = json_loadb(body.ptr, body.len, 0, &je)) || !json_is_object(r->body))
			return bad_request(r, 400, "POST body is not a JSON object.");
		if ((why = read_params(r, r->body, &query, &qlen)))
			return bad_request(r, 400, why);
	} else {
		if (api()->exchange_query_arg(x, PT_STR("query"), 0, &v) != 0)
			return bad_request(r, 400, "Must provide query string.");
		query = v.ptr;
		qlen = v.len;
		r->body = get_json_arg(x, "variables", &why);
		if (why)
			return bad_request(r, 400, why);
		r->vars = json_is_object(r->body) ? r->body : NULL;
		{
			json_t *ext = get_json_arg(x, "extensions", &why);

			json_decref(ext);
			if (why)
				return bad_request(r, 400, why);
		}
		if (api()->exchange_query_arg(x, PT_STR("operationName"), 0, &v) == 0 && v.len &&
		    !(r->opname = strndup(v.ptr, v.len)))
			return bad_request(r, 500, "out of memory");
	}
	if (qlen > r->conf->limits.max_bytes)
		return bad_request(r, r->media == GQLP_M_JSON ? 200 : 400,
		                   "The query is larger than max_bytes.");
	if (!(r->doc = gqlp_doc_get(gw, r->conf, query, qlen)))
		return bad_request(r, 500, "Internal server error.");
	if (r->doc->errors) {
		struct jbuf b = { 0 };

		gqlp_metrics_refused();
		jb_put(&b, "{\"errors\":", 10);
		jb_put(&b, r->doc->errors, r->doc->errors_len);
		jb_putc(&b, '}');
		if (!b.oom)
			respond(x, r->media, r->media == GQLP_M_JSON ? 200 : 400, b.p, b.n);
		free(b.p);
		gqlp_req_free(r);
		return 0;
	}
	op = gql_exec_operation(r->doc->doc, r->opname, &msg);
	if (op && method == PT_METHOD_GET && op->operation != GQL_OP_QUERY &&
	    !(op->operation == GQL_OP_SUBSCRIPTION && r->media == GQLP_M_SSE)) {
		api()->exchange_header_set(x, PT_STR("allow"), PT_STR("POST"));
		return bad_request(r, 405, op->operation == GQL_OP_MUTATION ?
		                   "Can only perform a mutation operation from a POST request." :
		                   "Can only perform a subscription operation from a POST request.");
	}
	if (op && op->operation == GQL_OP_SUBSCRIPTION && r->media != GQLP_M_SSE)
		return bad_request(r, r->media == GQLP_M_JSON ? 200 : 400,
		                   "Subscriptions are streamed: send Accept: text/event-stream "
		                   "(Server-Sent Events), or open a WebSocket with the "
		                   "graphql-transport-ws subprotocol on this path.");
	r->subscription = op && op->operation == GQL_OP_SUBSCRIPTION;
	r->mutation = op && op->operation == GQL_OP_MUTATION;
	r->L = api()->exchange_lua(x);
	if (!r->L && gw) {
		if (!gw->fallback && (gw->fallback = luaL_newstate()))
			luaL_openlibs(gw->fallback);
		r->L = gw->fallback;
	}
	if (!r->L)
		return bad_request(r, 500, "Internal server error.");
	prepare_and_run(r);
	return 0;
}
