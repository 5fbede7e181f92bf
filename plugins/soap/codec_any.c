/*
 * codec_any.c - XML with no schema both ways: what xsd:any and xsd:anyType
 * hold, and fault details no wsdl:fault describes (soap.h's pinned mapping,
 * without types: every value is text).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "soap.h"
#include "codec.h"

/* ---- encoding ---------------------------------------------------------------------- */

static int ncname_ok(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The string keys of the table at IDX, sorted (so generic output is
 * stable), that SKIP (may be NULL) does not reject: an array in a
 * userdata pushed on the stack (Lua's memory: nothing leaks if Lua raises
 * meanwhile), of strings the table holds; *N of them. [-0, +1, m] */
static const char **sorted_keys(lua_State *L, int idx, const struct xs_type *skip, size_t *n)
{
	const char **v;
	size_t cap = 0;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		cap += lua_type(L, -1) == LUA_TSTRING;
	}
	v = lua_newuserdatauv(L, (cap ? cap : 1) * sizeof(*v), 0);
	*n = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING || *n == cap)
			continue;
		const char *k = lua_tostring(L, -1);

		if (!skip || !sc_type_has_key(skip, k))
			v[(*n)++] = k;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_str);
	return v;
}

/* The content of a generic element from the table at IDX: "@x" keys as
 * attributes (written by the caller's start tag), "$value" as text, other
 * string keys as unqualified child elements, sequences as repeats. The
 * start tag is open ("<name" written) on entry. SKIP: keys of the schema
 * type around a wildcard, not written here. */
int sc_enc_generic_content(struct sc_enc *e, int idx, const struct xs_type *skip, int attrs_too)
{
	lua_State *L = e->L;
	size_t n, i;
	const char **keys = sorted_keys(L, idx, skip, &n);

	if (attrs_too) {
		for (i = 0; i < n; i++) {
			if (keys[i][0] != '@')
				continue;
			sc_path_field(&e->path, keys[i]);
			lua_pushstring(L, keys[i]);
			lua_rawget(L, idx);
			if (!ncname_ok(keys[i] + 1, strlen(keys[i] + 1)) || lua_type(L, -1) == LUA_TTABLE) {
				sc_enc_fail(e, "not usable as an XML attribute");
			} else {
				sbuf_printf(e->b, " %s=\"", keys[i] + 1);
				e->in_attr = 1;
				sc_enc_simple(e, &sc_any_simple, lua_gettop(L));
				e->in_attr = 0;
				sbuf_putc(e->b, '"');
			}
			lua_pop(L, 1);
			sc_path_pop(&e->path);
			if (e->failed)
				goto out;
		}
		sbuf_putc(e->b, '>');
	}
	for (i = 0; i < n && !e->failed; i++) {
		if (keys[i][0] == '@' && attrs_too)
			continue;
		if (!attrs_too && (keys[i][0] == '@' || strcmp(keys[i], "$value") == 0)) {
			/* beside a schema type's wildcard: only elements can go there */
			sc_path_field(&e->path, keys[i]);
			sc_enc_fail(e, "unknown field (the schema has no attribute or text of that name)");
			sc_path_pop(&e->path);
			break;
		}
		lua_pushstring(L, keys[i]);
		lua_rawget(L, idx);
		if (strcmp(keys[i], "$value") == 0)
			sc_enc_simple(e, &sc_any_simple, lua_gettop(L));
		else
			sc_enc_generic(e, keys[i], lua_gettop(L));
		lua_pop(L, 1);
	}
out:
	lua_pop(L, 1);   /* the keys */
	return e->failed ? -1 : 0;
}

/* <name>value</name> for a value with no schema: a scalar as text, a
 * sequence as repeated elements, a table as generic content. */
int sc_enc_generic(struct sc_enc *e, const char *name, int idx)
{
	lua_State *L = e->L;
	int r = 0;

	sc_path_field(&e->path, name);
	if (!ncname_ok(name, strlen(name))) {
		r = sc_enc_fail(e, "not usable as an XML element name");
	} else if (e->depth >= SC_MAX_DEPTH) {
		r = sc_enc_fail(e, "nested deeper than %d levels", SC_MAX_DEPTH);
	} else if (!lua_checkstack(L, 8)) {
		r = sc_enc_fail(e, "out of Lua stack");
	} else if (lua_type(L, idx) == LUA_TTABLE && sc_is_sequence(L, idx)) {
		lua_Integer len = (lua_Integer)lua_rawlen(L, idx);

		sc_path_pop(&e->path);
		for (lua_Integer i = 1; i <= len && r == 0; i++) {
			lua_rawgeti(L, idx, i);
			sc_path_field(&e->path, name);
			sc_path_index(&e->path, (unsigned long)i);
			if (lua_type(L, -1) == LUA_TTABLE && sc_is_sequence(L, lua_gettop(L)))
				r = sc_enc_fail(e, "a sequence inside a sequence has no XML form");
			sc_path_pop(&e->path);
			sc_path_pop(&e->path);
			if (r == 0)
				r = sc_enc_generic(e, name, lua_gettop(L));
			lua_pop(L, 1);
		}
		return r;
	} else {
		e->depth++;
		sbuf_printf(e->b, "<%s", name);
		if (SL_IS_NULL(L, idx)) {
			sbuf_printf(e->b, " xmlns:xsi=\"%s\" xsi:nil=\"true\"/>", XSI_NS);
		} else if (lua_type(L, idx) == LUA_TTABLE) {
			if ((r = sc_enc_generic_content(e, idx, NULL, 1)) == 0)
				sbuf_printf(e->b, "</%s>", name);
		} else {
			sbuf_putc(e->b, '>');
			if ((r = sc_enc_simple(e, &sc_any_simple, idx)) == 0)
				sbuf_printf(e->b, "</%s>", name);
		}
		e->depth--;
	}
	sc_path_pop(&e->path);
	return r;
}

/* ---- decoding -------------------------------------------------------------------- */

static int blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

static int skipped_attr(xmlAttrPtr a)
{
	return a->ns && a->ns->href && strcmp((const char *)a->ns->href, XSI_NS) == 0;
}

void sc_push_text(lua_State *L, xmlNodePtr el)
{
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	for (xmlNodePtr c = el->children; c; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			luaL_addstring(&b, (const char *)c->content);
	luaL_pushresult(&b);
}

/* 1 when EL has a child element named NAME. */
static int has_child(xmlNodePtr el, const xmlChar *name)
{
	for (xmlNodePtr c = el->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, name))
			return 1;
	return 0;
}

void sc_any_push(lua_State *L, xmlNodePtr el, int depth)
{
	int tidx, cidx, kids = 0, attrs = 0;
	xmlNodePtr c;
	xmlAttrPtr a;
	const char *nil;

	if (!lua_checkstack(L, 8) || depth >= SC_MAX_DEPTH) {
		lua_pushnil(L);   /* deeper than the parser lets through anyway */
		return;
	}
	for (a = el->properties; a; a = a->next) {
		if (skipped_attr(a)) {
			nil = a->children && a->children->content ? (const char *)a->children->content : "";
			if (xmlStrEqual(a->name, (const xmlChar *)"nil") &&
			    (strcmp(nil, "true") == 0 || strcmp(nil, "1") == 0)) {
				lua_pushnil(L);
				return;
			}
			continue;
		}
		attrs++;
	}
	for (c = el->children; c; c = c->next)
		kids += c->type == XML_ELEMENT_NODE;
	if (!kids && !attrs) {
		sc_push_text(L, el);
		return;
	}
	lua_newtable(L);
	tidx = lua_gettop(L);
	for (a = el->properties; a; a = a->next) {
		if (skipped_attr(a))
			continue;
		if (has_child(el, a->name)) {
			lua_pushfstring(L, "@%s", (const char *)a->name);
		} else {
			lua_pushstring(L, (const char *)a->name);
		}
		if (a->children && a->children->content)
			lua_pushstring(L, (const char *)a->children->content);
		else
			lua_pushliteral(L, "");
		lua_rawset(L, tidx);
	}
	/* how many children share each name: two or more make a sequence */
	lua_newtable(L);
	cidx = lua_gettop(L);
	for (c = el->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		lua_pushstring(L, (const char *)c->name);
		lua_pushvalue(L, -1);
		lua_rawget(L, cidx);
		lua_pushinteger(L, lua_tointeger(L, -1) + 1);
		lua_remove(L, -2);
		lua_rawset(L, cidx);
	}
	for (c = el->children; c; c = c->next) {
		int many;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		lua_pushstring(L, (const char *)c->name);
		lua_rawget(L, cidx);
		many = lua_tointeger(L, -1) > 1;
		lua_pop(L, 1);
		sc_any_push(L, c, depth + 1);
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
			continue;
		}
		if (!many) {
			lua_pushstring(L, (const char *)c->name);
			lua_insert(L, -2);
			lua_rawset(L, tidx);
			continue;
		}
		lua_pushstring(L, (const char *)c->name);
		if (lua_rawget(L, tidx) != LUA_TTABLE) {
			lua_pop(L, 1);
			lua_newtable(L);
			lua_pushstring(L, (const char *)c->name);
			lua_pushvalue(L, -2);
			lua_rawset(L, tidx);
		}
		lua_insert(L, -2);
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	/* mixed content: the text beside the children */
	sc_push_text(L, el);
	if (!blank(lua_tostring(L, -1)))
		lua_setfield(L, tidx, "$value");
	else
		lua_pop(L, 1);
}

/* [-2, +1, m] */
static int any_protected(lua_State *L)
{
	xmlNodePtr el = lua_touserdata(L, 1);
	int depth = (int)lua_tointeger(L, 2);

	sc_any_push(L, el, depth);
	return 1;
}

/* sc_any_push under lua_pcall: out of memory pushes nil instead of raising. */
void sc_decode_any(lua_State *L, xmlNodePtr el, int depth)
{
	if (!lua_checkstack(L, 4)) {
		lua_pushnil(L);   /* may raise: there is no room even for the answer */
		return;
	}
	lua_pushcfunction(L, any_protected);
	lua_pushlightuserdata(L, el);
	lua_pushinteger(L, depth);
	if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		lua_pushnil(L);
	}
}
