/*
 * lmod.c - the `soap` Lua module (a global in route scripts). See soap.h.
 *
 *   local ledger = soap.client("ledger"[, { port = "...", timeout = 5,
 *                                           wsse = { username, password, digest } }])
 *   local r, fault = ledger:GetAccount({ accountId = 7 })      -- client.c
 *   soap.describe("ledger"[, port])   -- operations and their JSON Schemas
 *   soap.null, soap.expose (expose.c), soap.endpoint and soap.fault (endpoint.c)
 *
 * The module holds the services set it was opened with (a userdata in the
 * registry whose __gc drops it): a state keeps its generation's services
 * across a reload, and its clients keep them too.
 */
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "soap.h"

const char sl_null_key = 0;

#define K_SET "portico.soap.set"

/* The set L's module was opened with. */
static struct soap_services *state_set(lua_State *L)
{
	struct soap_services **box;

	lua_getfield(L, LUA_REGISTRYINDEX, K_SET);
	box = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return box ? *box : NULL;
}

static int set_gc(lua_State *L)
{
	struct soap_services **box = lua_touserdata(L, 1);

	soap_services_put(*box);
	*box = NULL;
	return 0;
}

/* The service NAME of L's set or an error listing those there are. */
static const struct soap_service *check_service(lua_State *L, const char *fn, const char *name)
{
	const struct soap_services *s = state_set(L);
	const struct soap_service *svc = soap_service_find(s, name);
	luaL_Buffer b;

	if (svc)
		return svc;
	luaL_buffinit(L, &b);
	for (unsigned i = 0; s && i < s->n; i++) {
		if (i)
			luaL_addstring(&b, ", ");
		luaL_addstring(&b, s->v[i].name);
	}
	luaL_pushresult(&b);
	luaL_error(L, "%s: no SOAP service named '%s' (the config's plugin \"soap\" services: %s)",
	           fn, name, s && s->n ? lua_tostring(L, -1) : "none");
	return NULL;
}

/* PORT (NULL: the service's) of SVC, or an error listing the SOAP ports. */
static const struct wsdl_port *check_port(lua_State *L, const char *fn,
                                          const struct soap_service *svc, const char *port)
{
	const struct wsdl_port *p = wsdl_port(svc->w, port ? port : svc->port);
	luaL_Buffer b;

	if (p)
		return p;
	luaL_buffinit(L, &b);
	for (unsigned i = 0; i < svc->w->nports; i++) {
		if (i)
			luaL_addstring(&b, ", ");
		luaL_addstring(&b, svc->w->ports[i].name);
	}
	luaL_pushresult(&b);
	luaL_error(L, "%s: service %s has no SOAP port '%s' (its ports: %s)", fn, svc->name,
	           port ? port : "", lua_tostring(L, -1));
	return NULL;
}

/* ---- the client object ---------------------------------------------------------- */

static struct soap_client *check_client(lua_State *L, int idx, const char *op)
{
	struct soap_client *c = luaL_testudata(L, idx, SOAP_CLIENT_MT);

	if (!c)
		luaL_error(L, "soap: call %s with a colon, client:%s(t) (its first argument must be "
		           "the client, got %s)", op, op, luaL_typename(L, idx));
	if (!c->set)
		luaL_error(L, "soap: this client is closed");
	return c;
}

/* The method client:Op (upvalue 1: the operation's name). [-?, +2, e] */
static int client_method(lua_State *L)
{
	const char *name = lua_tostring(L, lua_upvalueindex(1));
	struct soap_client *c = check_client(L, 1, name);
	const struct wsdl_op *op = wsdl_op(c->port, name);

	if (!op)   /* a method taken from another service's client */
		return luaL_error(L, "soap: service %s (port %s) has no operation '%s'",
		                  c->svc->name, c->port->name, name);
	lua_settop(L, 2);
	return soap_client_call(L, c, op);
}

/* client.Name: the method (made once per client and name, kept in the
 * client's user value), or an error listing the operations. [-0, +1, e] */
static int client_index(lua_State *L)
{
	struct soap_client *c = check_client(L, 1, "a method");
	const char *name = luaL_checkstring(L, 2);
	luaL_Buffer b;

	lua_getiuservalue(L, 1, 1);
	lua_pushvalue(L, 2);
	if (lua_rawget(L, -2) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	if (wsdl_op(c->port, name)) {
		lua_pushvalue(L, 2);
		lua_pushcclosure(L, client_method, 1);
		lua_pushvalue(L, 2);
		lua_pushvalue(L, -2);
		lua_rawset(L, -4);
		return 1;
	}
	luaL_buffinit(L, &b);
	for (unsigned i = 0; i < c->port->nops; i++) {
		if (i)
			luaL_addstring(&b, ", ");
		luaL_addstring(&b, c->port->ops[i].name);
	}
	luaL_pushresult(&b);
	return luaL_error(L, "soap: service %s (port %s) has no operation '%s' (its operations: "
	                  "%s)", c->svc->name, c->port->name, name, lua_tostring(L, -1));
}

static int client_newindex(lua_State *L)
{
	return luaL_error(L, "soap: a client is read-only (set fields on a table of your own)");
}

static int client_tostring(lua_State *L)
{
	struct soap_client *c = luaL_checkudata(L, 1, SOAP_CLIENT_MT);

	if (!c->set)
		lua_pushliteral(L, "soap.client (closed)");
	else
		lua_pushfstring(L, "soap.client(%s, port %s, SOAP %s)", c->svc->name, c->port->name,
		                c->port->soap_version == 12 ? "1.2" : "1.1");
	return 1;
}

static int client_gc(lua_State *L)
{
	struct soap_client *c = luaL_checkudata(L, 1, SOAP_CLIENT_MT);

	free(c->wsse_mem);
	c->wsse_mem = NULL;
	soap_services_put(c->set);
	c->set = NULL;
	return 0;
}

/* A string field of the options table at IDX, or NULL. */
static const char *opt_str(lua_State *L, int idx, const char *key, const char *what)
{
	const char *s = NULL;
	int t = lua_getfield(L, idx, key);

	if (t == LUA_TSTRING)
		s = lua_tostring(L, -1);
	else if (t != LUA_TNIL)
		luaL_error(L, "soap.client: %s%s must be a string, got %s", what, key,
		           luaL_typename(L, -1));
	lua_pop(L, 1);   /* the string stays alive in the options table */
	return s;
}

/* opts.wsse into C (its strings copied into one allocation). */
static void opt_wsse(lua_State *L, int idx, struct soap_client *c)
{
	const char *u, *p;
	size_t ul, pl;

	lua_getfield(L, idx, "wsse");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return;
	}
	if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {   /* wsse = false: none */
		memset(&c->wsse, 0, sizeof(c->wsse));
		lua_pop(L, 1);
		return;
	}
	if (!lua_istable(L, -1))
		luaL_error(L, "soap.client: wsse must be a table { username = ..., password = ..., "
		           "digest = true|false } or false");
	u = opt_str(L, -1, "username", "wsse.");
	p = opt_str(L, -1, "password", "wsse.");
	if (!u || !p)
		luaL_error(L, "soap.client: wsse needs both username and password");
	ul = strlen(u);
	pl = strlen(p);
	lua_getfield(L, -1, "digest");
	c->wsse.digest = lua_toboolean(L, -1);
	lua_pop(L, 1);
	if (!(c->wsse_mem = malloc(ul + pl + 2)))
		luaL_error(L, "soap.client: out of memory");
	memcpy(c->wsse_mem, u, ul + 1);
	memcpy(c->wsse_mem + ul + 1, p, pl + 1);
	c->wsse.username = c->wsse_mem;
	c->wsse.password = c->wsse_mem + ul + 1;
	lua_pop(L, 1);
}

/* soap.client(name[, opts]) -> client. [-1|2, +1, e] */
static int sl_client(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const struct soap_service *svc = check_service(L, "soap.client", name);
	const char *port = NULL;
	struct soap_client *c;

	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_pushnil(L);
		while (lua_next(L, 2)) {
			const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;

			if (!k || (strcmp(k, "port") && strcmp(k, "wsse") && strcmp(k, "timeout")))
				return luaL_error(L, "soap.client: unknown option '%s' (known: port, wsse, "
				                  "timeout)", k ? k : luaL_typename(L, -2));
			lua_pop(L, 1);
		}
		port = opt_str(L, 2, "port", "");
	}
	lua_settop(L, 2);
	c = lua_newuserdatauv(L, sizeof(*c), 1);   /* 3 */
	memset(c, 0, sizeof(*c));
	c->svc = svc;
	c->port = check_port(L, "soap.client", svc, port);
	/* the port chosen here has its own soap:address: unless the config
	 * says where, calls go there (its path, through the upstream) */
	if (svc->upstream)
		c->path = svc->path_set || !c->port->address ? svc->path
		                                             : soap_url_path(c->port->address);
	else
		c->url = svc->url_set ? svc->url : c->port->address;
	if (!svc->upstream && (!c->url || !soap_http_url(c->url)))
		return luaL_error(L, "soap.client: port %s of service %s has no http(s) "
		                  "soap:address: give the service an upstream or a url", c->port->name,
		                  svc->name);
	c->timeout_ms = svc->timeout_ms;
	c->wsse = svc->wsse;
	if (luaL_newmetatable(L, SOAP_CLIENT_MT)) {
		static const luaL_Reg mt[] = {
			{ "__index", client_index }, { "__newindex", client_newindex },
			{ "__tostring", client_tostring }, { "__gc", client_gc }, { NULL, NULL },
		};
		luaL_setfuncs(L, mt, 0);
		lua_pushliteral(L, "soap.client");
		lua_setfield(L, -2, "__name");
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, 3);
	lua_newtable(L);
	lua_setiuservalue(L, 3, 1);
	if (!lua_isnil(L, 2)) {
		double t;

		lua_getfield(L, 2, "timeout");
		if (!lua_isnil(L, -1)) {
			t = lua_tonumber(L, -1);
			if (!lua_isnumber(L, -1) || !(t >= 0.001 && t <= 3600))
				return luaL_error(L, "soap.client: timeout must be a number of seconds from "
				                  "0.001 to 3600");
			c->timeout_ms = (uint32_t)(t * 1000 + 0.5);
		}
		lua_pop(L, 1);
		opt_wsse(L, 2, c);
	}
	/* last: from here the client's __gc drops the reference */
	c->set = state_set(L);
	soap_services_hold(c->set);
	lua_settop(L, 3);
	return 1;
}

/* ---- soap.describe -------------------------------------------------------------- */

static void set_str(lua_State *L, const char *key, const char *v)
{
	if (v) {
		lua_pushstring(L, v);
		lua_setfield(L, -2, key);
	}
}

/* soap.describe(name[, port]) -> { service, port, version, address,
 * operations = { Name = { input, output, action, style, wrapped, doc,
 * faults } } }. [-1|2, +1, e] */
static int sl_describe(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *pname = luaL_optstring(L, 2, NULL);
	const struct soap_service *svc = check_service(L, "soap.describe", name);
	const struct wsdl_port *p = check_port(L, "soap.describe", svc, pname);

	lua_settop(L, 2);
	lua_createtable(L, 0, 6);
	set_str(L, "service", svc->name);
	set_str(L, "port", p->name);
	set_str(L, "version", p->soap_version == 12 ? "1.2" : "1.1");
	set_str(L, "address", svc->upstream ? svc->path : svc->url);
	set_str(L, "upstream", svc->upstream);
	lua_createtable(L, 0, (int)p->nops);
	for (unsigned i = 0; i < p->nops; i++) {
		const struct wsdl_op *op = &p->ops[i];

		luaL_checkstack(L, 8, "soap.describe");
		lua_createtable(L, 0, 8);
		schema_push(L, svc->w, op, SC_INPUT);
		lua_setfield(L, -2, "input");
		if (op->out) {
			schema_push(L, svc->w, op, SC_OUTPUT);
			lua_setfield(L, -2, "output");
		}
		lua_pushboolean(L, op->out == NULL);
		lua_setfield(L, -2, "one_way");
		set_str(L, "action", op->action);
		set_str(L, "style", op->style == WSDL_RPC ? "rpc" : "document");
		lua_pushboolean(L, op->wrapped);
		lua_setfield(L, -2, "wrapped");
		set_str(L, "doc", op->doc);
		lua_createtable(L, (int)op->nfaults, 0);
		for (unsigned f = 0; f < op->nfaults; f++) {
			lua_pushstring(L, op->faults[f].name);
			lua_rawseti(L, -2, (lua_Integer)f + 1);
		}
		lua_setfield(L, -2, "faults");
		lua_setfield(L, -2, op->name);
	}
	lua_setfield(L, -2, "operations");
	return 1;
}

/* ---- the module ------------------------------------------------------------------ */

/* Opens the module in L, holding the current services set. [-0, +1, m] */
int soap_lua_open(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "client", sl_client }, { "describe", sl_describe }, { "expose", sl_expose },
		{ "endpoint", sl_endpoint }, { "fault", sl_fault }, { NULL, NULL },
	};

	if (!state_set(L)) {
		struct soap_services **box = lua_newuserdatauv(L, sizeof(*box), 0);

		*box = NULL;
		lua_createtable(L, 0, 1);
		lua_pushcfunction(L, set_gc);
		lua_setfield(L, -2, "__gc");
		lua_setmetatable(L, -2);
		*box = soap_services_get();
		lua_setfield(L, LUA_REGISTRYINDEX, K_SET);
	}
	luaL_newlib(L, fns);
	lua_pushlightuserdata(L, (void *)&sl_null_key);
	lua_setfield(L, -2, "null");
	return 1;
}
