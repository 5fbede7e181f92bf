/*
 * expose.c - soap.expose(name, prefix [, opts]): one JSON route per
 * operation of the service's port, `POST <prefix>/<Operation>`, with the
 * request and response JSON Schemas (schema.c) and the fault answers in the
 * route options the OpenAPI document is made from.
 *
 *   soap.expose("ledger", "/v1/ledger", {
 *     port = "LedgerSoap12",                  -- default: the service's port
 *     operations = { "GetAccount" },          -- default: every operation
 *     body_limit = 65536, tags = { "ledger" },
 *     ["key-auth"] = true, rate = {...},      -- route filters pass through
 *   })
 *
 * A request's JSON object is the operation's input table (JSON null ->
 * soap.null, base64Binary/hexBinary fields decoded from their text); the
 * answer is 200 and the output table as JSON (arrays always arrays, bytes
 * as base64/hex text). A fault answers { error = { kind, code, subcode,
 * reason, detail } } with 400 (the input does not fit, or a Client/Sender
 * fault), 504 (timeout) or 502 (any other fault, transport error, malformed
 * or non-SOAP answer). A body that is not a JSON object is a 400.
 *
 * The routes are made in Lua (module_src below) with route.post, so they
 * go through everything a script's route does; route.post names the
 * script's line (it skips this chunk, named "=soap.expose").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "soap.h"

/*
 * The config tree (core/conf.c) keeps 16 levels of tables: route options
 * (1) -> request (2) is the input schema's root, -> responses (2) ->
 * "200" (3) -> schema (4) the output's.
 */
#define REQUEST_TABLES 13
#define RESPONSE_TABLES 11

static const char *const route_keys[] = { "host", "jwt", "basic", "key-auth", "auth", "rate",
                                          "ip", "cors", "body_limit", NULL };
static const char *const own_keys[] = { "port", "operations", "tags", "filters", NULL };

static int in_list(const char *k, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(k, list[i]))
			return 1;
	return 0;
}

/*
 * ops(name, port_or_nil) -> port_name, { { name, doc, request, response,
 * input, output, oneway }, ... }: the service's operations with their
 * schemas (limited ones for the OpenAPI document, whole ones for the
 * conversions). Raises when there is no such service or port. [-2, +2, e]
 */
static int l_ops(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *pname = luaL_optstring(L, 2, NULL);
	struct soap_services *ss = soap_services_get();
	const struct soap_service *svc = ss ? soap_service_find(ss, name) : NULL;
	const struct wsdl_port *p;
	char msg[512];

	if (!svc) {
		size_t n = (size_t)snprintf(msg, sizeof(msg), "no service \"%s\" (the soap plugin's "
		                            "`services`:", name);

		for (unsigned i = 0; ss && i < ss->n && n < sizeof(msg) - 80; i++)
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, " %s", ss->v[i].name);
		snprintf(msg + n, sizeof(msg) - n, "%s)", ss && ss->n ? "" : " none");
		if (ss)
			soap_services_put(ss);
		lua_pushstring(L, msg);
		return lua_error(L);
	}
	if (!(p = wsdl_port(svc->w, pname ? pname : svc->port))) {
		snprintf(msg, sizeof(msg), "service \"%s\" has no SOAP port \"%s\"", name,
		         pname ? pname : svc->port ? svc->port : "?");
		soap_services_put(ss);
		lua_pushstring(L, msg);
		return lua_error(L);
	}
	/* a Lua error below would leak the reference: only memory errors can
	 * raise, and then the set stays (a leak, not a crash) */
	lua_pushstring(L, p->name);
	lua_createtable(L, (int)p->nops, 0);
	for (unsigned i = 0; i < p->nops; i++) {
		const struct wsdl_op *op = &p->ops[i];

		lua_createtable(L, 0, 8);
		lua_pushstring(L, op->name);
		lua_setfield(L, -2, "name");
		if (op->doc) {
			lua_pushstring(L, op->doc);
			lua_setfield(L, -2, "doc");
		}
		schema_push_limited(L, svc->w, op, SC_INPUT, REQUEST_TABLES);
		lua_setfield(L, -2, "request");
		schema_push_limited(L, svc->w, op, SC_OUTPUT, RESPONSE_TABLES);
		lua_setfield(L, -2, "response");
		schema_push(L, svc->w, op, SC_INPUT);
		lua_setfield(L, -2, "input");
		schema_push(L, svc->w, op, SC_OUTPUT);
		lua_setfield(L, -2, "output");
		lua_pushboolean(L, op->out == NULL);
		lua_setfield(L, -2, "oneway");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	soap_services_put(ss);
	return 2;
}

/* bytes(s, how, decode) -> string | nil, message: base64 or hex (how is
 * "base64" or "base16") both ways. [-3, +1|2, m] */
static int l_bytes(lua_State *L)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	int hex = !strcmp(luaL_checkstring(L, 2), "base16");
	int decode = lua_toboolean(L, 3);
	luaL_Buffer b;
	long got;

	if (decode) {
		unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, n + 4);

		got = hex ? sp_hex_decode(s, n, out) : sp_b64_decode(s, n, out);
		if (got < 0) {
			lua_pushnil(L);
			lua_pushstring(L, hex ? "not hexadecimal text" : "not base64 text");
			return 2;
		}
		luaL_pushresultsize(&b, (size_t)got);
		return 1;
	}
	if (hex) {
		static const char digits[] = "0123456789ABCDEF";
		char *out = luaL_buffinitsize(L, &b, 2 * n + 1);

		for (size_t i = 0; i < n; i++) {
			out[2 * i] = digits[(unsigned char)s[i] >> 4];
			out[2 * i + 1] = digits[(unsigned char)s[i] & 15];
		}
		luaL_pushresultsize(&b, 2 * n);
		return 1;
	}
	{
		char *out = luaL_buffinitsize(L, &b, sp_b64_len(n) + 1);

		sp_b64_encode((const unsigned char *)s, n, out);
		luaL_pushresultsize(&b, strlen(out));
	}
	return 1;
}

/* check(opts) -> route options (filters), own options; raises on a key
 * that is neither (a typo must not drop a filter silently). [-1, +2, e] */
static int l_split(lua_State *L)
{
	lua_settop(L, 1);
	lua_newtable(L);
	lua_newtable(L);
	if (lua_isnil(L, 1))
		return 2;
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;

		if (!k)
			return luaL_error(L, "the options' keys are names");
		if (in_list(k, route_keys)) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, 2);
		} else if (in_list(k, own_keys)) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, 3);
		} else {
			return luaL_error(L, "unknown option \"%s\" (options: port, operations, tags, "
			                  "body_limit, filters, and the route filters host, jwt, basic, "
			                  "key-auth, auth, rate, ip, cors)", k);
		}
	}
	return 2;
}

static const char module_src[] =
	"local ops, bytes, split = ...\n"
	"local null = soap.null\n"
	"local jnull = json.null\n"
	"local function errschema(what)\n"
	"  return { description = what, schema = { type = 'object', required = { 'error' },\n"
	"    properties = { error = { type = 'object', required = { 'kind', 'reason' },\n"
	"      properties = { kind = { type = 'string', enum = { 'soap', 'transport', 'timeout',\n"
	"          'http', 'malformed', 'invalid', 'input' } },\n"
	"        code = { type = 'string' }, subcode = { type = 'string' },\n"
	"        reason = { type = 'string' }, detail = {} } } } } }\n"
	"end\n"
	/* JSON -> the codec's input: null -> soap.null, bytes decoded */
	"local function input(v, s, path)\n"
	"  if v == jnull then return null end\n"
	"  if type(v) == 'string' and s and s.contentEncoding then\n"
	"    local b, err = bytes(v, s.contentEncoding, true)\n"
	"    if not b then error({ path = path, msg = err }, 0) end\n"
	"    return b\n"
	"  end\n"
	"  if type(v) ~= 'table' then return v end\n"
	"  local out = {}\n"
	"  for k, x in pairs(v) do\n"
	"    local sub\n"
	"    if s and s.items and type(k) == 'number' then sub = s.items\n"
	"    elseif s and s.properties and type(k) == 'string' then sub = s.properties[k]\n"
	"    elseif s and s.items then sub = s.items end\n"
	"    local p = type(k) == 'number' and (path .. '[' .. k .. ']') or\n"
	"      (path == '' and k or path .. '.' .. k)\n"
	"    out[k] = input(x, sub, p)\n"
	"  end\n"
	"  return out\n"
	"end\n"
	/* the output table -> JSON: sequences marked, bytes as text */
	"local function output(v, s)\n"
	"  if type(v) == 'string' and s and s.contentEncoding then\n"
	"    return bytes(v, s.contentEncoding, false)\n"
	"  end\n"
	"  if type(v) ~= 'table' or not s then return v end\n"
	"  if s.type == 'array' then\n"
	"    for i = 1, #v do v[i] = output(v[i], s.items) end\n"
	"    return json.array(v)\n"
	"  end\n"
	"  if s.properties then\n"
	"    for k, x in pairs(v) do v[k] = output(x, s.properties[k]) end\n"
	"  end\n"
	"  return v\n"
	"end\n"
	"local function localname(code)\n"
	"  return type(code) == 'string' and (code:match(':([^:]*)$') or code) or ''\n"
	"end\n"
	"local function status_of(f)\n"
	"  if f.kind == 'invalid' then return 400 end\n"
	"  if f.kind == 'timeout' then return 504 end\n"
	"  if f.kind == 'soap' then\n"
	"    local c = localname(f.code)\n"
	"    if c == 'Client' or c == 'Sender' or c:match('^Client%.') then return 400 end\n"
	"  end\n"
	"  return 502\n"
	"end\n"
	"local function fault_body(f)\n"
	"  local e = { kind = f.kind, code = f.code, subcode = f.subcode,\n"
	"    reason = f.reason }\n"
	"  if f.detail ~= nil and pcall(json.encode, f.detail) then e.detail = f.detail\n"
	"  elseif f.detail ~= nil then e.detail = tostring(f.detail) end\n"
	"  return { error = e }\n"
	"end\n"
	"local function bad(reason)\n"
	"  return 400, { error = { kind = 'input', reason = reason } }\n"
	"end\n"
	"return function(name, prefix, opts)\n"
	"  if type(name) ~= 'string' then error('soap.expose: the service name (argument 1) "
	"must be a string', 3) end\n"
	"  if type(prefix) ~= 'string' or prefix:sub(1, 1) ~= '/' then\n"
	"    error('soap.expose: the path prefix (argument 2) must be a string starting with /', 3)\n"
	"  end\n"
	"  prefix = prefix:gsub('/+$', '')\n"
	"  local okk, ropts, own = pcall(split, opts)\n"
	"  if not okk then error('soap.expose: ' .. ropts, 3) end\n"
	"  if own.filters ~= nil then\n"
	"    if type(own.filters) ~= 'table' then error('soap.expose: filters must be a table "
	"{ filter_name = options }', 3) end\n"
	"    for k, v in pairs(own.filters) do ropts[k] = v end\n"
	"  end\n"
	"  if own.port ~= nil and type(own.port) ~= 'string' then\n"
	"    error('soap.expose: port must be a string', 3)\n"
	"  end\n"
	"  local ok, port, list = pcall(ops, name, own.port)\n"
	"  if not ok then error('soap.expose: ' .. port, 3) end\n"
	"  local only\n"
	"  if own.operations ~= nil then\n"
	"    if type(own.operations) ~= 'table' then error('soap.expose: operations must be a "
	"list of operation names', 3) end\n"
	"    only = {}\n"
	"    for _, o in ipairs(own.operations) do\n"
	"      local found = false\n"
	"      for _, op in ipairs(list) do if op.name == o then found = true end end\n"
	"      if not found then error(('soap.expose: service \"%s\" port \"%s\" has no operation "
	"\"%s\"'):format(name, port, tostring(o)), 3) end\n"
	"      only[o] = true\n"
	"    end\n"
	"  end\n"
	"  local client\n"
	"  for _, op in ipairs(list) do\n"
	"    if not only or only[op.name] then\n"
	"      local o = {}\n"
	"      for k, v in pairs(ropts) do o[k] = v end\n"
	"      o.summary = op.doc or op.request.description or (name .. ' ' .. op.name)\n"
	"      o.tags = own.tags or { name }\n"
	"      o.operation_id = name .. '_' .. op.name\n"
	"      o.request = op.request\n"
	"      o.responses = {\n"
	"        ['200'] = { description = op.oneway and 'sent (one-way operation)' or\n"
	"          ('the ' .. op.name .. ' answer'), schema = op.response },\n"
	"        ['400'] = errschema('the input does not fit the schema, or a Client/Sender "
	"fault'),\n"
	"        ['502'] = errschema('a Server/Receiver fault, or the service failed or "
	"answered something that is not a SOAP answer'),\n"
	"        ['504'] = errschema('the service did not answer in time'),\n"
	"      }\n"
	"      local opname, input_s, output_s = op.name, op.input, op.output\n"
	"      route.post(prefix .. '/' .. opname, function(req, res)\n"
	"        local t\n"
	"        local body = req.body\n"
	"        if body == nil or body:match('^%s*$') then t = {}\n"
	"        else\n"
	"          local err\n"
	"          t, err = req:json()\n"
	"          if t == nil and err then return bad('the body is not JSON: ' .. tostring(err)) end\n"
	"          if type(t) ~= 'table' or json.is_array(t) then\n"
	"            return bad('the body must be a JSON object (the ' .. opname .. ' input)')\n"
	"          end\n"
	"        end\n"
	"        local okc, conv = pcall(input, t, input_s, '')\n"
	"        if not okc then\n"
	"          if type(conv) == 'table' then return bad(conv.path .. ': ' .. conv.msg) end\n"
	"          error(conv, 0)\n"
	"        end\n"
	"        if not client then client = soap.client(name, { port = port }) end\n"
	"        local r, f = client[opname](client, conv)\n"
	"        if f then return status_of(f), fault_body(f) end\n"
	"        if type(r) ~= 'table' then return 200, {} end\n"
	"        return 200, output(r, output_s)\n"
	"      end, o)\n"
	"    end\n"
	"  end\n"
	"end\n";

static const char expose_key = 0;   /* registry: the compiled expose function */

/* soap.expose(name, prefix [, opts]) [-3, +0, e] */
int sl_expose(lua_State *L)
{
	lua_settop(L, 3);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &expose_key) != LUA_TFUNCTION) {
		lua_pop(L, 1);
		if (luaL_loadbuffer(L, module_src, sizeof(module_src) - 1, "=soap.expose") != LUA_OK)
			return lua_error(L);
		lua_pushcfunction(L, l_ops);
		lua_pushcfunction(L, l_bytes);
		lua_pushcfunction(L, l_split);
		lua_call(L, 3, 1);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &expose_key);
	}
	lua_insert(L, 1);
	lua_call(L, 3, 0);
	return 0;
}
