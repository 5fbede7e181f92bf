/*
 * endpoint_fault.c - the faults soap.endpoint answers: soap.fault{...}
 * (raised by a handler), a fault's detail table as XML elements, and the
 * fault envelope with the status the SOAP HTTP bindings give it (SOAP
 * 1.1: 500; SOAP 1.2: 400 for Sender faults, 500 for the others).
 */
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "soap.h"

#define DETAIL_MAX_DEPTH 32

/* ---- soap.fault ----------------------------------------------------------- */

/* The 1.1 term for CODE ("Client"/"Server"), or NULL when it is neither
 * (nor Sender/Receiver, with or without a prefix). */
static const char *code_norm(const char *code)
{
	const char *c = strrchr(code, ':');

	c = c ? c + 1 : code;
	if (!strcmp(c, "Client") || !strcmp(c, "Sender"))
		return "Client";
	if (!strcmp(c, "Server") || !strcmp(c, "Receiver"))
		return "Server";
	return NULL;
}

static int fault_tostring(lua_State *L)
{
	lua_getfield(L, 1, "code");
	lua_getfield(L, 1, "reason");
	lua_pushfstring(L, "soap fault %s: %s", luaL_optstring(L, -2, "Server"),
	                luaL_optstring(L, -1, ""));
	return 1;
}

/* soap.fault{ code, reason, subcode, detail } raises the checked fault
 * table (a copy) as the error. [-1, +0, v] */
int sl_fault(lua_State *L)
{
	const char *code, *norm;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_createtable(L, 0, 4);
	if (lua_getfield(L, 1, "code") == LUA_TNIL) {
		lua_pop(L, 1);
		lua_pushliteral(L, "Server");
	}
	if (!(code = lua_tostring(L, -1)) || lua_type(L, -1) != LUA_TSTRING ||
	    !(norm = code_norm(code)))
		return luaL_error(L, "soap.fault: code must be \"Client\" or \"Server\" (or "
		                  "\"Sender\", \"Receiver\")");
	lua_pushstring(L, norm);
	lua_setfield(L, 2, "code");
	lua_pop(L, 1);
	if (lua_getfield(L, 1, "reason") != LUA_TSTRING)
		return luaL_error(L, "soap.fault: reason must be a string");
	lua_setfield(L, 2, "reason");
	switch (lua_getfield(L, 1, "subcode")) {
	case LUA_TNIL: lua_pop(L, 1); break;
	case LUA_TSTRING: lua_setfield(L, 2, "subcode"); break;
	default: return luaL_error(L, "soap.fault: subcode must be a string");
	}
	switch (lua_getfield(L, 1, "detail")) {
	case LUA_TNIL: lua_pop(L, 1); break;
	case LUA_TSTRING: case LUA_TTABLE: case LUA_TNUMBER: case LUA_TBOOLEAN:
		lua_setfield(L, 2, "detail");
		break;
	default: return luaL_error(L, "soap.fault: detail must be a table or a string");
	}
	ep_fault_mt(L);
	lua_setmetatable(L, 2);
	return lua_error(L);
}

/* ---- XML helpers ---------------------------------------------------------- */

static int ncname_ok(const char *s)
{
	if (!*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

static int detail_value(lua_State *L, int idx, struct sbuf *b, int depth);

/* <NAME>value</NAME>, repeated for a sequence. */
static int detail_element(lua_State *L, const char *name, int idx, struct sbuf *b, int depth)
{
	idx = lua_absindex(L, idx);
	if (lua_istable(L, idx) && lua_rawlen(L, idx) > 0) {
		for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, idx); i++) {
			int rc;

			lua_rawgeti(L, idx, i);
			rc = detail_element(L, name, -1, b, depth + 1);
			lua_pop(L, 1);
			if (rc)
				return rc;
		}
		return 0;
	}
	sbuf_printf(b, "<%s>", name);
	if (detail_value(L, idx, b, depth + 1))
		return -1;
	sbuf_printf(b, "</%s>", name);
	return 0;
}

/* A fault detail value as XML content: text, or one element per key. */
static int detail_value(lua_State *L, int idx, struct sbuf *b, int depth)
{
	size_t n;
	const char *s;

	if (depth > DETAIL_MAX_DEPTH || !lua_checkstack(L, 4))
		return -1;
	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TBOOLEAN:
		sbuf_puts(b, lua_toboolean(L, idx) ? "true" : "false");
		return 0;
	case LUA_TNUMBER:
	case LUA_TSTRING:
		lua_pushvalue(L, idx);
		s = lua_tolstring(L, -1, &n);
		n = sbuf_put_xml(b, s, n) < 0 ? (size_t)-1 : 0;
		lua_pop(L, 1);
		return n ? -1 : 0;
	case LUA_TTABLE:
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			if (lua_type(L, -2) == LUA_TSTRING && ncname_ok(lua_tostring(L, -2)) &&
			    detail_element(L, lua_tostring(L, -2), -1, b, depth) != 0) {
				lua_pop(L, 2);
				return -1;
			}
			lua_pop(L, 1);
		}
		return 0;
	default:
		return 0;
	}
}

/* fault(version, code, subcode, reason, detail) -> xml, status,
 * content_type. [-5, +3, m] */
int ep_fault_doc(lua_State *L)
{
	int version = (int)luaL_checkinteger(L, 1) == 12 ? 12 : 11;
	const char *given = luaL_optstring(L, 2, "Server");
	const char *code = !strcmp(given, "VersionMismatch") || !strcmp(given, "MustUnderstand") ?
	                   given : code_norm(given);
	const char *subcode = luaL_optstring(L, 3, NULL);
	const char *reason = luaL_optstring(L, 4, "fault");
	struct sbuf b = { 0 }, d = { 0 };
	char ct[256];

	code = code ? code : "Server";
	if (!lua_isnoneornil(L, 5) && detail_value(L, 5, &d, 0) != 0) {
		sbuf_free(&d);
		d = (struct sbuf){ 0 };
	}
	/* the whole envelope */
	soap_fault_write(&b, version, code, subcode, reason, d.len ? d.p : NULL);
	sbuf_free(&d);
	if (b.oom) {
		sbuf_free(&b);
		return luaL_error(L, "soap.endpoint: out of memory");
	}
	lua_pushlstring(L, b.p, b.len);
	sbuf_free(&b);
	/* SOAP 1.1 HTTP binding: 500; SOAP 1.2: Sender 400, Receiver 500 */
	lua_pushinteger(L, version == 12 && !strcmp(code, "Client") ? 400 : 500);
	soap_content_type(version, NULL, ct, sizeof(ct));
	lua_pushstring(L, ct);
	return 3;
}

/* Pushes the metatable soap.fault's tables carry (created once). [-0, +1, m] */
void ep_fault_mt(lua_State *L)
{
	if (luaL_newmetatable(L, SOAP_FAULT_MT)) {
		lua_pushcfunction(L, fault_tostring);
		lua_setfield(L, -2, "__tostring");
	}
}
