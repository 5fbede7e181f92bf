/*
 * transcode.c - REST routes for the methods of a grpc.service whose
 * contract has google.api.http annotations:
 *
 *   rpc GetOrder(GetOrderRequest) returns (Order) {
 *     option (google.api.http) = { get: "/v1/orders/{id}" };
 *   }
 *
 * grpc.service (wrapped here) adds, besides the gRPC routes, one route per
 * binding (the rule and its additional_bindings) with the handler
 * "grpc_transcode" and the service's options, so the same filters run and
 * the OpenAPI document lists them. Bindings that make the same route
 * (verb and pattern; ":verb" suffixes differ inside one router segment)
 * share it, and the handler matches the full template.
 *
 * A request: the template's variables, the query parameters and the body
 * (transcode_req.c) make proto3 JSON, pb_from_json makes the message, and
 * the call runs in server.c as any gRPC call (adapt.c). The answer: each
 * message through pb_to_json (a JSON array for server streaming), cut to
 * response_body; a gRPC error as the HTTP status google.rpc.Code maps it
 * to, with {"code", "message", "details"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lua.h>
#include <lauxlib.h>

#include "adapt.h"
#include "transcode.h"
#include "transcode_priv.h"

#define K_TSTATE "portico.grpc.transcode"

/* L's bindings. */
struct tstate {
	struct tbind *v;
	unsigned n, cap;
};

static int tstate_gc(lua_State *L)
{
	struct tstate *ts = lua_touserdata(L, 1);

	for (unsigned i = 0; i < ts->n; i++) {
		tc_template_free(&ts->v[i].t);
		free(ts->v[i].upstream);
	}
	free(ts->v);
	ts->v = NULL;
	ts->n = ts->cap = 0;
	return 0;
}

/* L's bindings, made on first use when MAKE. */
static struct tstate *tstate_get(lua_State *L, int make)
{
	struct tstate *ts;

	lua_getfield(L, LUA_REGISTRYINDEX, K_TSTATE);
	ts = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (ts || !make)
		return ts;
	ts = lua_newuserdatauv(L, sizeof(*ts), 0);
	memset(ts, 0, sizeof(*ts));
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, tstate_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	lua_setfield(L, LUA_REGISTRYINDEX, K_TSTATE);
	return ts;
}

/* ---- registration ------------------------------------------------------------------------ */

static const char *route_verb(const char *v)
{
	static const char *const known[] = { "get", "put", "post", "delete", "patch", "head",
		                             "options" };
	char low[16];
	size_t i;

	for (i = 0; v[i] && i + 1 < sizeof(low); i++)
		low[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
	low[i] = '\0';
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(low, known[i]))
			return known[i];
	return "any";   /* a custom verb ("*" and others): any method */
}

/* Adds one binding of M and pushes { verb, pattern, number } onto the list
 * at -1. Raises for a template that does not parse. */
static void bind_add(lua_State *L, struct tstate *ts, unsigned gid, const char *upstream,
                     const struct gconf *conf, const struct pb_method *m, const char *verb,
                     const char *path, const char *body, const char *response_body)
{
	struct tbind *b;
	char err[256] = "", pattern[2 * TC_MAX_TEMPLATE];

	if (ts->n == ts->cap) {
		unsigned cap = ts->cap ? ts->cap * 2 : 8;
		struct tbind *v = realloc(ts->v, cap * sizeof(*v));

		if (!v)
			luaL_error(L, "out of memory");
		ts->v = v;
		ts->cap = cap;
	}
	b = &ts->v[ts->n];
	memset(b, 0, sizeof(*b));
	if (tc_template_parse(&b->t, path ? path : "", err, sizeof(err)) != 0 ||
	    tc_template_route(&b->t, pattern, sizeof(pattern)) != 0) {
		tc_template_free(&b->t);
		luaL_where(L, 2);
		lua_pushfstring(L, "%s: %s: google.api.http: %s", upstream ? "grpc.transcode" :
		                "grpc.service", m->path, err[0] ? err : "template too long");
		lua_concat(L, 2);
		lua_error(L);
	}
	if (upstream && !(b->upstream = strdup(upstream))) {
		tc_template_free(&b->t);
		luaL_error(L, "out of memory");
	}
	b->gid = gid;
	b->m = m;
	b->reg = conf->reg;
	b->max_receive = conf->max_receive;
	b->body = body ? body : "";
	b->response_body = response_body ? response_body : "";
	ts->n++;
	lua_createtable(L, 5, 0);
	lua_pushstring(L, route_verb(verb));
	lua_rawseti(L, -2, 1);
	lua_pushstring(L, pattern);
	lua_rawseti(L, -2, 2);
	lua_pushinteger(L, ts->n);
	lua_rawseti(L, -2, 3);
	lua_pushstring(L, m->path + 1);
	lua_rawseti(L, -2, 4);
	/* for the OpenAPI document */
	lua_pushfstring(L, "gRPC %s %s: the request message %s is built from the path "
	                "variables%s; the answer is %s%s%s in proto3 JSON. gRPC errors map to "
	                "HTTP statuses with a {code, message, details} body.",
	                m->path + 1, path, pb_msg_name(m->in),
	                !b->body[0] ? " and the query parameters" : !strcmp(b->body, "*") ?
	                " and the JSON body" : " and the query parameters, the JSON body being "
	                "its field ", !b->body[0] || !strcmp(b->body, "*") ? "" : b->body,
	                m->server_streaming ? "an array of " : "", pb_msg_name(m->out),
	                b->response_body[0] ? " (its field given by response_body)" : "");
	lua_rawseti(L, -2, 5);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

/* bindings(service [, upstream]) -> { { verb, pattern, number, method,
 * description }, ... }: those of the methods grpc.service is about to
 * register (called just before it, so that it can be a tail call and name
 * its caller's line in its errors), or (UPSTREAM) of every annotated
 * method, served by that upstream.
 * [-2, +1, e] */
static int l_bindings(lua_State *L)
{
	struct gstate *s = grpc_state(L);
	const char *name = luaL_checkstring(L, 1);
	const char *upstream = luaL_optstring(L, 2, NULL);
	const struct pb_service *svc = NULL;
	struct tstate *ts = tstate_get(L, 1);

	lua_newtable(L);
	if ((!s || !s->conf || !(svc = pb_find_service(s->conf->reg, name))) && upstream) {
		luaL_where(L, 2);
		lua_pushfstring(L, "grpc.transcode: no service %s in the contracts (plugin \"grpc\" "
		                "protos and descriptors)", name);
		lua_concat(L, 2);
		return lua_error(L);
	}
	/* grpc.service refuses a second call for a service: let it say so */
	if (!svc || (!upstream && grpc_state_serves(s, name, strlen(name))))
		return 1;
	for (unsigned j = 0; j < svc->nmethods; j++) {
		const struct pb_method *m = &svc->methods[j];
		/* the number grpc.service is about to give M: it adds one entry
		 * per method, in order, after those there (service.c l_check) */
		unsigned gid = upstream ? 0 : s->n + 1 + j;

		if (!m->http_verb)
			continue;
		bind_add(L, ts, gid, upstream, s->conf, m, m->http_verb, m->http_path, m->http_body,
		         m->http_response_body);
		for (unsigned k = 0; k < m->nhttp_more; k++) {
			const struct pb_http_rule *r = &m->http_more[k];

			bind_add(L, ts, gid, upstream, s->conf, m, r->verb ? r->verb : "*", r->path,
			         r->body, r->response_body);
		}
	}
	return 1;
}

/* The REST routes, then grpc.service (chunk "=grpc": route.* name the
 * caller's line). */
static const char module_src[] =
	"local bindings, M = ...\n"
	"local function add_routes(name, list, opts, extra)\n"
	"  local groups, order = {}, {}\n"
	"  for _, b in ipairs(list) do\n"
	"    local k = b[1] .. ' ' .. b[2]\n"
	"    if not groups[k] then groups[k] = { b[1], b[2], {}, {}, {} }; order[#order + 1] = k end\n"
	"    local g = groups[k]\n"
	"    g[3][#g[3] + 1] = tostring(b[3])\n"
	"    g[4][#g[4] + 1] = b[4]\n"
	"    g[5][#g[5] + 1] = b[5]\n"
	"  end\n"
	"  for _, k in ipairs(order) do\n"
	"    local g = groups[k]\n"
	"    local o = {}\n"
	"    if opts then for key, v in pairs(opts) do o[key] = v end end\n"
	"    for key, v in pairs(extra) do o[key] = v end\n"
	"    o.grpc_transcode = table.concat(g[3], ',')\n"
	"    o.summary = o.summary or table.concat(g[4], ', ')\n"
	"    o.description = o.description or table.concat(g[5], ' ')\n"
	"    o.tags = o.tags or { name }\n"
	"    o.operation_id = nil\n"
	"    route[g[1]](g[2], 'grpc_transcode', o)\n"
	"  end\n"
	"end\n"
	"local service = M.service\n"
	"function M.service(name, handlers, opts)\n"
	"  add_routes(name, bindings(name), opts, {})\n"
	"  return service(name, handlers, opts)   -- a tail call: its errors name the caller's line\n"
	"end\n"
	"function M.transcode(name, opts)\n"
	"  if type(name) ~= 'string' then\n"
	"    error('grpc.transcode: the service (argument 1) must be a name such as '\n"
	"          .. '\"orders.v1.Orders\"', 2)\n"
	"  end\n"
	"  if type(opts) ~= 'table' or type(opts.upstream) ~= 'string' then\n"
	"    error('grpc.transcode: the options (argument 2) must name the upstream: '\n"
	"          .. '{ upstream = \"orders\" }', 2)\n"
	"  end\n"
	"  local o = {}\n"
	"  for k, v in pairs(opts) do if k ~= 'upstream' then o[k] = v end end\n"
	"  add_routes(name, bindings(name, opts.upstream), o, {})\n"
	"end\n";

void grpc_transcode_module(lua_State *L)
{
	int t = lua_gettop(L);

	if (luaL_loadbuffer(L, module_src, sizeof(module_src) - 1, "=grpc") != LUA_OK)
		lua_error(L);
	lua_pushcfunction(L, l_bindings);
	lua_pushvalue(L, t);
	lua_call(L, 2, 0);
}

/* ---- a request ------------------------------------------------------------------------------ */

int transcode_answer_json(pt_exchange *x, int status, const char *json)
{
	const struct pt_api *a = adapt_core();

	a->exchange_header_set(x, PT_STR("content-type"), PT_STR("application/json"));
	return a->exchange_respond(x, status, (pt_str_t){ json, strlen(json) });
}

/* An error answered before the call runs (logged at info). */
static int answer_error(pt_exchange *x, int code, const char *msg)
{
	const struct pt_api *a = adapt_core();
	pt_str_t path = a->exchange_path(x);
	char *j = NULL;
	int rc;

	a->log(grpc_ctx, PT_LOG_INFO, "%.*s: %s", (int)(path.len > 200 ? 200 : path.len),
	       path.ptr, msg);
	if (tc_error_json(code, msg, strlen(msg), NULL, &j) != 0)
		return PT_ENOMEM;
	rc = transcode_answer_json(x, tc_http_status(code), j);
	free(j);
	return rc;
}

/* "%41b+c" -> "Ab c" in place; the new length, or -1 for a bad escape. */
static long form_decode(char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			char h[3] = { 0 };
			char *end;

			if (i + 2 >= n)
				return -1;
			h[0] = s[i + 1];
			h[1] = s[i + 2];
			c = (int)strtol(h, &end, 16);
			if (end != h + 2 || !c)
				return -1;
			i += 2;
		}
		s[o++] = (char)c;
	}
	return (long)o;
}

/* Splits the raw query (copied into X's memory) into fields. The count,
 * or -1 with ERR. */
static int query_fields(pt_exchange *x, struct tc_field *q, unsigned max, char *err,
                        size_t errlen)
{
	const struct pt_api *a = adapt_core();
	pt_str_t raw = a->exchange_query(x);
	char *s, *p, *end;
	unsigned n = 0;

	if (!raw.len)
		return 0;
	if (!(s = a->exchange_alloc(x, raw.len + 1)))
		return -1;
	memcpy(s, raw.ptr, raw.len);
	s[raw.len] = '\0';
	for (p = s, end = s + raw.len; p < end;) {
		char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		size_t len = amp ? (size_t)(amp - p) : (size_t)(end - p);
		long kl, vl;

		if (len) {
			if (n == max) {
				snprintf(err, errlen, "more than %u query parameters", max);
				return -1;
			}
			eq = memchr(p, '=', len);
			kl = form_decode(p, eq ? (size_t)(eq - p) : len);
			vl = eq ? form_decode(eq + 1, len - (size_t)(eq + 1 - p)) : 0;
			if (kl < 0 || vl < 0) {
				snprintf(err, errlen, "a query parameter has a bad %%-escape");
				return -1;
			}
			if (kl) {
				q[n++] = (struct tc_field){ p, (size_t)kl, eq ? eq + 1 : "",
				                            (size_t)vl, 0 };
			}
		}
		p += len + 1;
	}
	return (int)n;
}

/* The google.rpc.Status details (base64 DETAILS) as a JSON array text:
 * each Any as {"@type", fields...} when the contracts know the type, else
 * {"@type", "value": base64}. NULL: none. */
static char *details_json(const struct pb_registry *reg, const struct pb_buf *b64)
{
	struct pb_buf raw = { 0 };
	struct grpc_pb_field f, g;
	size_t pos = 0;
	json_t *arr;
	char *out;

	if (!b64->len || grpc_base64_decode((const char *)b64->p, b64->len, &raw) != 0) {
		pb_buf_free(&raw);
		return NULL;
	}
	arr = json_array();
	while (grpc_pb_next(raw.p, raw.len, &pos, &f) == 1) {
		const uint8_t *url = NULL, *val = (const uint8_t *)"";
		size_t ul = 0, vl = 0, p2 = 0;
		json_t *d = NULL;

		if (f.num != 3 || f.type != 2)
			continue;
		while (grpc_pb_next(f.p, f.len, &p2, &g) == 1) {
			if (g.num == 1 && g.type == 2)
				url = g.p, ul = g.len;
			else if (g.num == 2 && g.type == 2)
				val = g.p, vl = g.len;
		}
		if (!url)
			continue;
		{
			const uint8_t *slash = memrchr(url, '/', ul);
			char name[256];
			const struct pb_msg *m;
			struct pb_buf j = { 0 };
			struct pb_json_opts o = { 0 };
			char err[128];
			size_t nl = slash ? ul - (size_t)(slash + 1 - url) : ul;

			snprintf(name, sizeof(name), "%.*s", (int)nl, slash ? (const char *)slash + 1
			                                                      : (const char *)url);
			if ((m = pb_find_msg(reg, name)) &&
			    pb_to_json(reg, m, val, vl, &o, &j, err, sizeof(err)) == 0)
				d = json_loadb((const char *)j.p, j.len, 0, NULL);
			pb_buf_free(&j);
			if (!d || !json_is_object(d)) {
				struct pb_buf e = { 0 };

				json_decref(d);
				d = json_object();
				if (grpc_base64_encode(val, vl, &e) == 0)
					json_object_set_new(d, "value", json_stringn((const char *)e.p,
					                                             e.len));
				pb_buf_free(&e);
			}
			json_object_set_new(d, "@type", json_stringn((const char *)url, ul));
		}
		json_array_append_new(arr, d);
	}
	pb_buf_free(&raw);
	out = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return out;
}

/* The call ended: answer the JSON (adapt.c calls this once). */
void transcode_reply(struct adapt *ad)
{
	const struct tbind *b = ad->ud;
	struct pb_buf all = { 0 };
	size_t pos = 0;
	unsigned n = 0;
	char err[256];

	if (ad->code != GRPC_OK) {
		char *d = details_json(b->reg, &ad->details), *j = NULL;

		if (tc_error_json(ad->code, (const char *)ad->msg.p, ad->msg.len, d, &j) == 0)
			transcode_answer_json(ad->x, tc_http_status(ad->code), j);
		else
			adapt_core()->exchange_respond(ad->x, 500, PT_STR(""));
		free(d);
		free(j);
		return;
	}
	if (b->m->server_streaming)
		pb_buf_add(&all, "[", 1);
	while (pos + 5 <= ad->out.len) {
		const uint8_t *h = ad->out.p + pos;
		size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
		struct pb_buf j = { 0 };
		struct pb_json_opts o = { 0 };
		char *pick = NULL;

		if (h[0] != 0 || pos + 5 + len > ad->out.len)
			break;
		if (pb_to_json(b->reg, b->m->out, h + 5, len, &o, &j, err, sizeof(err)) != 0 ||
		    tc_response_pick((const char *)j.p, j.len, b->response_body, &pick) != 0) {
			char *e = NULL;

			adapt_core()->log(grpc_ctx, PT_LOG_ERROR, "%s: the reply does not map to JSON: %s",
			                  b->m->path, err);
			pb_buf_free(&j);
			pb_buf_free(&all);
			free(pick);
			if (tc_error_json(GRPC_INTERNAL, "the reply does not map to JSON", 30, NULL,
			                  &e) == 0)
				transcode_answer_json(ad->x, 500, e);
			free(e);
			return;
		}
		if (n++)
			pb_buf_add(&all, ",", 1);
		pb_buf_add(&all, pick, strlen(pick));
		free(pick);
		pb_buf_free(&j);
		pos += 5 + len;
	}
	if (b->m->server_streaming)
		pb_buf_add(&all, "]", 1);
	else if (!n)
		pb_buf_add(&all, "{}", 2);
	pb_buf_add(&all, "", 1);
	transcode_answer_json(ad->x, 200, (const char *)all.p);
	pb_buf_free(&all);
}

int grpc_transcode_handle(pt_exchange *x, const pt_conf *opts, void *ud)
{
	const struct pt_api *a = adapt_core();
	lua_State *L = a->exchange_lua(x);
	struct tstate *ts = L ? tstate_get(L, 0) : NULL;
	struct tc_binding vars[TC_MAX_VARS];
	struct tc_field pf[TC_MAX_VARS], *qf;
	const struct tbind *b = NULL;
	pt_str_t ids, path = a->exchange_path(x), body = { "", 0 };
	char err[512], *json = NULL;
	struct pb_buf msg = { 0 };
	struct pb_json_opts jo = { 0 };
	struct adapt *ad;
	uint8_t *frame;
	size_t mlen;
	int nv = -1, nq, rc;

	if (!ts || a->conf_str(opts, "grpc_transcode", &ids) != 0)
		return PT_ESTATE;
	/* the first binding of this route whose whole template matches, those
	 * with a ":verb" first ("/v1/x/{id}" would take "7:cancel" as an id) */
	for (int pass = 0; pass < 2 && nv < 0; pass++)
		for (const char *p = ids.ptr, *end = ids.ptr + ids.len; p < end && nv < 0;) {
			unsigned long id = strtoul(p, NULL, 10);
			const char *comma = memchr(p, ',', (size_t)(end - p));

			if (id >= 1 && id <= ts->n && (ts->v[id - 1].t.verb == NULL) == pass &&
			    (nv = tc_template_match(&ts->v[id - 1].t, path.ptr, path.len, vars)) >= 0)
				b = &ts->v[id - 1];
			p = comma ? comma + 1 : end;
		}
	if (!b)
		return answer_error(x, GRPC_NOT_FOUND, "no REST binding matches this path");
	for (int i = 0; i < nv; i++)
		pf[i] = (struct tc_field){ vars[i].field, strlen(vars[i].field), vars[i].value,
		                           strlen(vars[i].value), 0 };
	if (!(qf = a->exchange_alloc(x, TC_MAX_QUERY_ARGS * sizeof(*qf))) ||
	    (nq = query_fields(x, qf, TC_MAX_QUERY_ARGS, err, sizeof(err))) < 0) {
		tc_bindings_free(vars, (unsigned)nv);
		return qf ? answer_error(x, GRPC_INVALID_ARGUMENT, err) : PT_ENOMEM;
	}
	if (*b->body)
		a->exchange_body(x, &body);
	for (int i = 0; i < nv; i++)
		pf[i].kind = transcode_field_kind(b->reg, b->m->in, pf[i].field, pf[i].field_len);
	for (int i = 0; i < nq; i++)
		qf[i].kind = transcode_field_kind(b->reg, b->m->in, qf[i].field, qf[i].field_len);
	for (int i = 0; i < nv; i++)
		pf[i].kind = pf[i].kind < 0 ? 0 : pf[i].kind;
	for (int i = 0; i < nq; i++)
		qf[i].kind = qf[i].kind < 0 ? 0 : qf[i].kind;
	rc = tc_request_json(b->body, body.ptr, body.len, pf, (unsigned)nv, qf, (unsigned)nq,
	                     &json, err, sizeof(err));
	if (rc == 0 && pb_from_json(b->reg, b->m->in, json, strlen(json), &jo, &msg, err,
	                            sizeof(err)) != 0) {
		char tmp[sizeof(err)];

		rc = -1;
		snprintf(tmp, sizeof(tmp), "the request is not a %.100s: %.380s",
		         pb_msg_name(b->m->in), err);
		memcpy(err, tmp, sizeof(err));
	}
	free(json);
	tc_bindings_free(vars, (unsigned)nv);
	if (rc != 0) {
		pb_buf_free(&msg);
		return answer_error(x, GRPC_INVALID_ARGUMENT, err);
	}
	if (!(frame = a->exchange_alloc(x, msg.len + 5)) || !(ad = a->exchange_alloc(x, sizeof(*ad)))) {
		pb_buf_free(&msg);
		return PT_ENOMEM;
	}
	mlen = msg.len;
	frame[0] = 0;
	frame[1] = (uint8_t)(mlen >> 24);
	frame[2] = (uint8_t)(mlen >> 16);
	frame[3] = (uint8_t)(mlen >> 8);
	frame[4] = (uint8_t)mlen;
	if (mlen)
		memcpy(frame + 5, msg.p, mlen);
	pb_buf_free(&msg);
	if (b->upstream)
		return transcode_upstream(x, b, frame, mlen + 5);
	memset(ad, 0, sizeof(*ad));
	ad->mode = ADAPT_TRANSCODE;
	ad->method_id = b->gid;
	ad->frame = frame;
	ad->frame_len = mlen + 5;
	ad->out_max = b->max_receive;
	ad->reply = transcode_reply;
	ad->ud = (void *)b;
	return adapt_run(ad, x, opts, ud);
}
