/*
 * schema.c - JSON Schema (as Lua tables) for an operation's input or output
 * message, shaped as the Lua mapping in soap.h shapes the value: one
 * property per child element (a sequence for maxOccurs > 1), attributes by
 * name ("@name" when a child element has it too), simpleContent's text
 * under "$value". soap.describe hands the tables to scripts; soap.expose
 * puts them in the OpenAPI document through route options.
 *
 * Route options go through the config tree, which keeps tables at most 16
 * deep (core/conf.c) and turns a table that has no 1..n part into a JSON
 * object: so "required" and "enum" are only set when they have items, and
 * schema_push_limited cuts the schema where the Lua tables would nest
 * deeper than the caller can carry.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "soap.h"

#define SCHEMA_MAX_ELEMENTS 16            /* element nesting shown (recursive types) */

struct sctx {
	lua_State *L;
	enum sc_dir dir;
	int max_tables;                       /* Lua table nesting allowed below the root */
};

static void push_type(struct sctx *c, const struct xs_type *t, int tables, int elems);

static void set_str(lua_State *L, const char *k, const char *v)
{
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, double v)
{
	if (!isfinite(v))
		return;
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		lua_pushinteger(L, (lua_Integer)v);
	else
		lua_pushnumber(L, v);
	lua_setfield(L, -2, k);
}

/* Sets "type" on the table on top: NAME, or { NAME, "null" } when NULLABLE
 * and a table more fits in the budget. */
static void set_type(struct sctx *c, const char *name, int nullable, int tables)
{
	lua_State *L = c->L;

	if (nullable && tables + 1 <= c->max_tables) {
		lua_createtable(L, 2, 0);
		lua_pushstring(L, name);
		lua_rawseti(L, -2, 1);
		lua_pushliteral(L, "null");
		lua_rawseti(L, -2, 2);
	} else {
		lua_pushstring(L, name);
	}
	lua_setfield(L, -2, "type");
}

/* The JSON type name of a simple type's values in the Lua mapping. */
static const char *simple_json_type(const struct xs_type *t)
{
	if (t->list_item)
		return "string";
	switch (t->prim) {
	case XS_P_BOOLEAN: return "boolean";
	case XS_P_INTEGER: return "integer";
	case XS_P_DECIMAL: case XS_P_FLOAT: case XS_P_DOUBLE: return "number";
	case XS_P_ANY: return NULL;
	default: return "string";
	}
}

/* Facets of T on the schema table on top (T simple). */
static void put_facets(struct sctx *c, const struct xs_type *t, int tables)
{
	lua_State *L = c->L;
	const struct xs_facets *f = &t->f;
	const char *jt = simple_json_type(t);
	int numeric = jt && (!strcmp(jt, "integer") || !strcmp(jt, "number"));
	int binary = t->prim == XS_P_BASE64 || t->prim == XS_P_HEX;

	if (!t->list_item) {
		switch (t->prim) {
		case XS_P_DATETIME: set_str(L, "format", "date-time"); break;
		case XS_P_DATE: set_str(L, "format", "date"); break;
		case XS_P_TIME: set_str(L, "format", "time"); break;
		case XS_P_DURATION: set_str(L, "format", "duration"); break;
		case XS_P_ANYURI: set_str(L, "format", "uri-reference"); break;
		case XS_P_BASE64:
			/* bytes in Lua; base64 text in JSON (soap.expose converts) */
			set_str(L, "format", "byte");
			set_str(L, "contentEncoding", "base64");
			break;
		case XS_P_HEX:
			set_str(L, "contentEncoding", "base16");
			break;
		default:
			break;
		}
	}
	if (f->nenums && tables + 1 <= c->max_tables) {
		lua_createtable(L, (int)f->nenums, 0);
		for (unsigned i = 0; i < f->nenums; i++) {
			if (!numeric || !lua_stringtonumber(L, f->enums[i]))
				lua_pushstring(L, f->enums[i]);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_setfield(L, -2, "enum");
	}
	if (numeric) {
		double lo = f->has_min ? f->min : -INFINITY, hi = f->has_max ? f->max : INFINITY;
		int lo_ex = f->has_min && f->min_excl, hi_ex = f->has_max && f->max_excl;

		/* the built-in integer type's range, unless the facet is tighter;
		 * the int64 ends are not worth stating (and not exact as doubles) */
		if (t->prim == XS_P_INTEGER) {
			if (t->int_lo > INT64_MIN && (double)t->int_lo > lo) {
				lo = (double)t->int_lo;
				lo_ex = 0;
			}
			if (t->int_hi < INT64_MAX && (double)t->int_hi < hi && !t->int_unsigned_long) {
				hi = (double)t->int_hi;
				hi_ex = 0;
			}
		}
		set_num(L, lo_ex ? "exclusiveMinimum" : "minimum", lo);
		set_num(L, hi_ex ? "exclusiveMaximum" : "maximum", hi);
	} else if (!binary && jt && !strcmp(jt, "string")) {
		if (f->length >= 0) {
			set_num(L, "minLength", (double)f->length);
			set_num(L, "maxLength", (double)f->length);
		}
		if (f->min_length >= 0)
			set_num(L, "minLength", (double)f->min_length);
		if (f->max_length >= 0)
			set_num(L, "maxLength", (double)f->max_length);
	}
	if (f->pattern && !binary) {
		/* XSD patterns match the whole value */
		lua_pushfstring(L, "^(?:%s)$", f->pattern);
		lua_setfield(L, -2, "pattern");
	}
}

/* 1 when an element particle named NAME is in P (groups already inlined). */
static int has_element(const struct xs_particle *p, const char *name, int depth)
{
	if (!p || depth > 64)
		return 0;
	if (p->kind == XS_ELEMENT)
		return p->el && p->el->name && !strcmp(p->el->name, name);
	for (unsigned i = 0; i < p->nkids; i++)
		if (has_element(p->kids[i], name, depth + 1))
			return 1;
	return 0;
}

/* The schema of one occurrence of element E (its content as the mapping
 * shapes it). TABLES: the nesting of the table about to be pushed. */
static void push_element_value(struct sctx *c, const struct xs_element *e, int tables,
                               int elems)
{
	lua_State *L = c->L;
	const struct xs_type *t = e->type;
	const char *jt;

	if (!t) {
		lua_newtable(L);
		return;
	}
	if (t->kind == XS_COMPLEX) {
		push_type(c, t, tables, elems + 1);
	} else {
		lua_newtable(L);
		if ((jt = simple_json_type(t)))
			set_type(c, jt, e->nillable, tables);
		put_facets(c, t, tables);
	}
	/* a nillable object: { "object", "null" } */
	if (e->nillable && t->kind == XS_COMPLEX && tables + 1 <= c->max_tables) {
		if (lua_getfield(L, -1, "type") == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "object")) {
			lua_pop(L, 1);
			set_type(c, "object", 1, tables);
		} else {
			lua_pop(L, 1);
		}
	}
	if (e->doc)
		set_str(L, "description", e->doc);
	else if (t->doc)
		set_str(L, "description", t->doc);
}

/* Adds property NAME with E's schema (a sequence for MAX > 1) to the
 * object schema whose properties table is at PROPS, and NAME to the
 * required list at REQ when REQUIRED. */
static void add_element(struct sctx *c, const struct xs_element *e, uint32_t min, uint32_t max,
                        int required, int props, int req, int tables, int elems)
{
	lua_State *L = c->L;

	if (max > 1) {
		lua_newtable(L);
		set_str(L, "type", "array");
		if (tables + 1 <= c->max_tables) {
			push_element_value(c, e, tables + 1, elems);
			lua_setfield(L, -2, "items");
		}
		if (min > 0)
			set_num(L, "minItems", min);
		if (max != XS_UNBOUNDED)
			set_num(L, "maxItems", max);
		if (e->doc)
			set_str(L, "description", e->doc);
	} else {
		push_element_value(c, e, tables, elems);
	}
	lua_setfield(L, props, e->name);
	/* decoded: nil (xsi:nil) leaves the key out even when min is 1 */
	if (required && min >= 1 && !(c->dir == SC_OUTPUT && e->nillable && max <= 1)) {
		lua_pushstring(L, e->name);
		lua_rawseti(L, req, (lua_Integer)lua_rawlen(L, req) + 1);
	}
}

/* The properties of particle P into PROPS / REQ; REQUIRED: P's elements
 * must be there (not under a choice or an optional group). */
static void add_particle(struct sctx *c, const struct xs_particle *p, int required, int props,
                         int req, int tables, int elems, int depth)
{
	if (!p || depth > 64 || !lua_checkstack(c->L, 8))
		return;
	switch (p->kind) {
	case XS_ELEMENT:
		if (p->el && p->el->name)
			add_element(c, p->el, p->min, p->max, required, props, req, tables, elems);
		break;
	case XS_SEQUENCE:
	case XS_ALL:
		for (unsigned i = 0; i < p->nkids; i++)
			add_particle(c, p->kids[i], required && p->min >= 1, props, req, tables, elems,
			             depth + 1);
		break;
	case XS_CHOICE:
		/* the key present chooses the branch: none of them is required */
		for (unsigned i = 0; i < p->nkids; i++)
			add_particle(c, p->kids[i], 0, props, req, tables, elems, depth + 1);
		break;
	case XS_ANY:
	default:
		break;
	}
}

static int has_any(const struct xs_particle *p, int depth)
{
	if (!p || depth > 64)
		return 0;
	if (p->kind == XS_ANY)
		return 1;
	for (unsigned i = 0; i < p->nkids; i++)
		if (has_any(p->kids[i], depth + 1))
			return 1;
	return 0;
}

/* T's value schema: an object for complex types, a scalar one else. */
static void push_type(struct sctx *c, const struct xs_type *t, int tables, int elems)
{
	lua_State *L = c->L;
	int obj, props, req;
	const char *jt;

	lua_newtable(L);
	if (t->kind != XS_COMPLEX) {
		if ((jt = simple_json_type(t)))
			set_type(c, jt, 0, tables);
		put_facets(c, t, tables);
		goto doc;
	}
	set_str(L, "type", "object");
	/* an object with properties needs two more levels: the cut */
	if (elems > SCHEMA_MAX_ELEMENTS || tables + 2 > c->max_tables) {
		set_str(L, "description", "(nested too deep to be described here)");
		return;
	}
	obj = lua_gettop(L);
	lua_newtable(L);
	props = lua_gettop(L);
	lua_newtable(L);
	req = lua_gettop(L);
	for (unsigned i = 0; i < t->nattrs; i++) {
		const struct xs_attr *a = t->attrs[i];
		char key[256];

		if (!a || !a->name)
			continue;
		snprintf(key, sizeof(key), has_element(t->content, a->name, 0) ? "@%s" : "%s",
		         a->name);
		lua_newtable(L);
		if (a->type) {
			if ((jt = simple_json_type(a->type)))
				set_type(c, jt, 0, tables + 2);
			put_facets(c, a->type, tables + 2);
		}
		lua_setfield(L, props, key);
		if (a->required) {
			lua_pushstring(L, key);
			lua_rawseti(L, req, (lua_Integer)lua_rawlen(L, req) + 1);
		}
	}
	if (t->simple_content) {
		lua_newtable(L);
		if ((jt = simple_json_type(t->simple_content)))
			set_type(c, jt, 0, tables + 2);
		put_facets(c, t->simple_content, tables + 2);
		lua_setfield(L, props, "$value");
	}
	add_particle(c, t->content, 1, props, req, tables + 2, elems, 0);
	lua_pushvalue(L, props);
	lua_setfield(L, obj, "properties");
	if (lua_rawlen(L, req) > 0) {
		lua_pushvalue(L, req);
		lua_setfield(L, obj, "required");
	}
	/* an unknown key is an input error; unknown elements are skipped */
	if (!has_any(t->content, 0) && !t->mixed) {
		lua_pushboolean(L, 0);
		lua_setfield(L, obj, "additionalProperties");
	}
	lua_settop(L, obj);
doc:
	if (t->doc)
		set_str(L, "description", t->doc);
}

/* A part's schema: its element's content, or its type (rpc). */
static void push_part(struct sctx *c, const struct wsdl_part *p, int tables)
{
	if (p->element)
		push_element_value(c, p->element, tables, 0);
	else if (p->type)
		push_type(c, p->type, tables, 0);
	else
		lua_newtable(c->L);
}

int schema_push_limited(lua_State *L, const struct wsdl *w, const struct wsdl_op *op,
                        enum sc_dir dir, int max_tables)
{
	struct sctx c = { L, dir, max_tables < 1 ? 1 : max_tables };
	struct wsdl_part **parts = dir == SC_INPUT ? op->in_parts : op->out_parts;
	unsigned nparts = dir == SC_INPUT ? op->nin_parts : op->nout_parts;
	int obj;

	(void)w;
	luaL_checkstack(L, 32, "schema");
	if (dir == SC_OUTPUT && !op->out) {
		/* one-way: nothing comes back */
		lua_newtable(L);
		set_str(L, "type", "object");
		set_str(L, "description", "one-way operation: no answer");
		return 1;
	}
	if (op->wrapped && nparts == 1 && parts[0]->element) {
		const struct xs_element *e = parts[0]->element;

		if (e->type && e->type->kind == XS_COMPLEX)
			push_type(&c, e->type, 0, 0);
		else
			push_element_value(&c, e, 0, 0);
		if (e->doc)
			set_str(L, "description", e->doc);
		goto doc;
	}
	/* bare and rpc: keyed by part name */
	lua_newtable(L);
	obj = lua_gettop(L);
	set_str(L, "type", "object");
	if (c.max_tables < 2) {
		lua_settop(L, obj);
		goto doc;
	}
	lua_newtable(L);
	lua_newtable(L);
	for (unsigned i = 0; i < nparts; i++) {
		if (!parts[i] || !parts[i]->name)
			continue;
		push_part(&c, parts[i], 2);
		lua_setfield(L, obj + 1, parts[i]->name);
		if (!(dir == SC_OUTPUT && parts[i]->element && parts[i]->element->nillable)) {
			lua_pushstring(L, parts[i]->name);
			lua_rawseti(L, obj + 2, (lua_Integer)lua_rawlen(L, obj + 2) + 1);
		}
	}
	if (lua_rawlen(L, obj + 2) > 0)
		lua_setfield(L, obj, "required");
	else
		lua_pop(L, 1);
	lua_setfield(L, obj, "properties");
	lua_pushboolean(L, 0);
	lua_setfield(L, obj, "additionalProperties");
doc:
	if (op->doc) {
		int none = lua_getfield(L, -1, "description") == LUA_TNIL;

		lua_pop(L, 1);
		if (none)
			set_str(L, "description", op->doc);
	}
	return 1;
}

int schema_push(lua_State *L, const struct wsdl *w, const struct wsdl_op *op, enum sc_dir dir)
{
	/* the element nesting cut (16) comes first: tables are not counted */
	return schema_push_limited(L, w, op, dir, 1 << 20);
}
