/*
 * exec_complete.c - completing values (specification 6.4.3 CompleteValue):
 * a resolver's Lua value into the result tree as its field's type says:
 * leaves as JSON (graphql-js's messages when they cannot be), abstract
 * types resolved, lists item by item, objects queued for the next level.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "exec_priv.h"

/* ---- completing values ----------------------------------------------------- */

/* A short text for a Lua value in messages (graphql-js inspect). */
static const char *inspect_lua(struct gql_exec *e, lua_State *L, int idx)
{
	switch (lua_type(L, idx)) {
	case LUA_TNIL: return "null";
	case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "true" : "false";
	case LUA_TNUMBER: {
		struct jbuf b = { 0 };
		char *s;

		if (lua_isinteger(L, idx))
			jb_fmt(&b, "%lld", (long long)lua_tointeger(L, idx));
		else if (isnan(lua_tonumber(L, idx)))
			jb_put(&b, "NaN", 3);
		else if (isinf(lua_tonumber(L, idx)))
			jb_put(&b, lua_tonumber(L, idx) > 0 ? "Infinity" : "-Infinity",
			       lua_tonumber(L, idx) > 0 ? 8 : 9);
		else
			jb_num(&b, lua_tonumber(L, idx));
		s = gql_arena_strndup(&e->arena, b.p ? b.p : "", b.n);
		free(b.p);
		return s ? s : "?";
	}
	case LUA_TSTRING: {
		struct jbuf b = { 0 };
		size_t n;
		const char *v = lua_tolstring(L, idx, &n);
		char *s;

		jb_str(&b, v, n);
		s = gql_arena_strndup(&e->arena, b.p ? b.p : "", b.n);
		free(b.p);
		return s ? s : "?";
	}
	case LUA_TTABLE: return lua_rawlen(L, idx) ? "[...]" : "{ ... }";
	case LUA_TFUNCTION: return "[function]";
	default: return luaL_typename(L, idx);
	}
}

static void set_raw(struct gql_exec *e, struct rnode *slot, const char *s, size_t n, int copy)
{
	slot->kind = RN_RAW;
	slot->u.raw.s = copy ? gql_arena_strndup(&e->arena, s, n) : s;
	slot->u.raw.n = n;
	if (!slot->u.raw.s)
		e->fatal = 1;
}

/* Copies B's JSON into SLOT; frees B, or empties it when it is E's scratch. */
void gqlx_set_jbuf(struct gql_exec *e, struct rnode *slot, struct jbuf *b)
{
	if (b->oom)
		e->fatal = 1;
	else
		set_raw(e, slot, b->p, b->n, 1);
	if (b == &e->leaf) {
		b->n = 0;
		return;
	}
	free(b->p);
}

static void leaf_error(struct gql_exec *e, const struct cfield *cf, struct rnode *slot,
                       const char *msg)
{
	gql_field_error(e, cf, slot, msg, NULL);
	gql_null_out(e, slot);
}

/* Parses a whole string as a number, as JavaScript's Number(s). */
static int str_number(const char *s, size_t n, double *d)
{
	char *end;

	if (!n)
		return 0;
	*d = strtod(s, &end);
	while (end < s + n && (*end == ' ' || *end == '\t' || *end == '\n'))
		end++;
	return end == s + n;
}

enum { LEAF_CUSTOM = 0, LEAF_INT, LEAF_FLOAT, LEAF_STRING, LEAF_ID, LEAF_BOOLEAN };

/* Which built-in scalar T is (a user's scalar may not take their names). */
static int leaf_kind(const struct gql_stype *t)
{
	const char *n = t->name;

	if (!t->builtin)
		return LEAF_CUSTOM;
	switch (n[0]) {
	case 'I': return n[1] == 'n' ? LEAF_INT : LEAF_ID;
	case 'F': return LEAF_FLOAT;
	case 'S': return LEAF_STRING;
	case 'B': return LEAF_BOOLEAN;
	default: return LEAF_CUSTOM;
	}
}

const unsigned char gqlx_json_bad[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x7f ... 0xff] = 1,
};

/* TY: the Lua type of the value at IDX. */
static void complete_leaf(struct gql_exec *e, const struct cfield *cf, const struct gql_stype *t,
                          lua_State *L, int idx, int ty, struct rnode *slot)
{
	struct jbuf *b = &e->leaf;   /* reused: no malloc per leaf */
	int kind;
	const char *n = t->name;

	if (t->kind == GQL_ENUM) {
		if (ty == LUA_TSTRING) {
			const char *s = lua_tostring(L, idx);

			for (unsigned i = 0; i < t->n_values; i++) {
				if (!strcmp(t->values[i].name, s)) {
					jb_cstr(b, t->values[i].name);
					gqlx_set_jbuf(e, slot, b);
					return;
				}
			}
		}
		leaf_error(e, cf, slot, gql_fmt(&e->arena, "Enum \"%s\" cannot represent value: %s", n,
		                                inspect_lua(e, L, idx)));
		return;
	}
	kind = leaf_kind(t);
	if (kind == LEAF_INT || kind == LEAF_FLOAT) {
		int is_int = kind == LEAF_INT;
		double d = 0;

		if (ty == LUA_TNUMBER) {
			if (lua_isinteger(L, idx)) {
				lua_Integer i = lua_tointeger(L, idx);

				if (is_int && (i < -2147483648LL || i > 2147483647LL))
					goto range;
				jb_fmt(b, "%lld", (long long)i);
				gqlx_set_jbuf(e, slot, b);
				return;
			}
			d = lua_tonumber(L, idx);
		} else if (ty == LUA_TBOOLEAN) {
			d = lua_toboolean(L, idx);
		} else if (ty == LUA_TSTRING) {
			size_t sl;
			const char *s = lua_tolstring(L, idx, &sl);

			if (!str_number(s, sl, &d))
				goto bad;
		} else {
			goto bad;
		}
		if (!isfinite(d))
			goto bad;
		if (is_int) {
			if (d != floor(d))
				goto bad;
			if (d < -2147483648.0 || d > 2147483647.0)
				goto range;
		}
		jb_num(b, d);
		gqlx_set_jbuf(e, slot, b);
		return;
bad:
		leaf_error(e, cf, slot, gql_fmt(&e->arena, is_int ?
		           "Int cannot represent non-integer value: %s" :
		           "Float cannot represent non numeric value: %s", inspect_lua(e, L, idx)));
		return;
range:
		leaf_error(e, cf, slot, gql_fmt(&e->arena, "Int cannot represent non 32-bit signed "
		           "integer value: %s", inspect_lua(e, L, idx)));
		return;
	}
	if (kind == LEAF_STRING || kind == LEAF_ID) {
		int id = kind == LEAF_ID;

		if (ty == LUA_TSTRING) {
			size_t sl;
			const char *s = lua_tolstring(L, idx, &sl);

			if (gqlx_set_plain_str(e, slot, s, sl) == 0)
				return;
			jb_str(b, s, sl);
		} else if (ty == LUA_TNUMBER && lua_isinteger(L, idx)) {
			jb_fmt(b, "\"%lld\"", (long long)lua_tointeger(L, idx));
		} else if (ty == LUA_TNUMBER && (!id || lua_tonumber(L, idx) ==
		                                 floor(lua_tonumber(L, idx))) &&
		           isfinite(lua_tonumber(L, idx))) {
			jb_putc(b, '"');
			jb_num(b, lua_tonumber(L, idx));
			jb_putc(b, '"');
		} else if (ty == LUA_TBOOLEAN && !id) {
			jb_cstr(b, lua_toboolean(L, idx) ? "true" : "false");
		} else {
			leaf_error(e, cf, slot, gql_fmt(&e->arena, "%s cannot represent value: %s", n,
			                                inspect_lua(e, L, idx)));
			return;
		}
		gqlx_set_jbuf(e, slot, b);
		return;
	}
	if (kind == LEAF_BOOLEAN) {
		if (ty == LUA_TBOOLEAN)
			set_raw(e, slot, lua_toboolean(L, idx) ? "true" : "false",
			        lua_toboolean(L, idx) ? 4 : 5, 0);
		else if (ty == LUA_TNUMBER && isfinite(lua_tonumber(L, idx)))
			set_raw(e, slot, lua_tonumber(L, idx) != 0 ? "true" : "false",
			        lua_tonumber(L, idx) != 0 ? 4 : 5, 0);
		else
			leaf_error(e, cf, slot, gql_fmt(&e->arena, "Boolean cannot represent a non "
			           "boolean value: %s", inspect_lua(e, L, idx)));
		return;
	}
	/* a custom scalar: the value as JSON */
	if (jb_lua(b, L, idx, 0) != 0) {
		b->n = 0;
		b->oom = 0;
		leaf_error(e, cf, slot, gql_fmt(&e->arena, "Expected a value of type \"%s\" but "
		           "received: %s", n, inspect_lua(e, L, idx)));
		return;
	}
	gqlx_set_jbuf(e, slot, b);
}

/* The object type an abstract type's value resolves to, or NULL (error set). */
static const struct gql_stype *resolve_type(struct gql_exec *e, const struct cfield *cf,
                                            const struct gql_stype *abs, lua_State *L, int idx,
                                            struct rnode *slot)
{
	const struct gql_stype *t;
	const char *name = NULL;

	if (lua_type(L, idx) == LUA_TTABLE) {
		lua_pushliteral(L, "__typename");
		if (lua_rawget(L, idx) == LUA_TSTRING)
			name = gql_arena_strdup(&e->arena, lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	if (!name) {
		gqlx_push_stored(e, L, V_RESOLVERS);
		if (lua_istable(L, -1)) {
			lua_pushstring(L, abs->name);
			if (lua_rawget(L, -2) == LUA_TTABLE) {
				lua_pushliteral(L, "__resolveType");
				if (lua_rawget(L, -2) == LUA_TFUNCTION) {
					lua_pushvalue(L, idx);
					gqlx_push_stored(e, L, V_CTX);
					lua_pushstring(L, abs->name);
					if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
						const char *m = lua_tostring(L, -1);

						gql_field_error(e, cf, slot, gql_fmt(&e->arena, "%s",
						                m ? m : "__resolveType failed"), NULL);
						lua_pop(L, 3);
						gql_null_out(e, slot);
						return NULL;
					}
					if (lua_type(L, -1) == LUA_TSTRING)
						name = gql_arena_strdup(&e->arena, lua_tostring(L, -1));
				}
				lua_pop(L, 1);
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	if (!name) {
		gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Abstract type \"%s\" must resolve to "
		                "an Object type at runtime for field \"%s.%s\". Either the \"%s\" type "
		                "should provide a \"resolveType\" function or each possible type should "
		                "provide an \"isTypeOf\" function.", abs->name, cf->parent->name,
		                cf->def->name, abs->name), NULL);
		gql_null_out(e, slot);
		return NULL;
	}
	t = gql_schema_type(e->s, name);
	if (!t) {
		gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Abstract type \"%s\" was resolved to "
		                "a type \"%s\" that does not exist inside the schema.", abs->name,
		                name), NULL);
	} else if (t->kind != GQL_OBJECT) {
		gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Abstract type \"%s\" was resolved to "
		                "a non-object type \"%s\".", abs->name, name), NULL);
		t = NULL;
	} else if (!gql_is_possible(abs, t)) {
		gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Runtime Object type \"%s\" is not a "
		                "possible type for \"%s\".", name, abs->name), NULL);
		t = NULL;
	}
	if (!t)
		gql_null_out(e, slot);
	return t;
}

/* Completes the Lua value at IDX of L as type T into SLOT (6.4.3 CompleteValue). */
void gqlx_complete(struct gql_exec *e, struct cfield *cf, const struct gql_tref *t,
                   lua_State *L, int idx, struct rnode *slot, int depth)
{
	const struct gql_stype *nt;
	int ty, null;

	idx = lua_absindex(L, idx);
	if (!slot || e->fatal)
		return;
	ty = lua_type(L, idx);
	null = ty == LUA_TNIL || ty == LUA_TLIGHTUSERDATA;   /* json.null: null like nil */
	if (t->kind == GQL_TYPE_NON_NULL) {
		if (null) {
			gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Cannot return null for "
			                "non-nullable field %s.%s.", cf->parent->name, cf->def->name),
			                NULL);
			gql_null_out(e, slot);
			return;
		}
		t = t->of;
	}
	if (null) {
		slot->kind = RN_NULL;
		return;
	}
	if (t->kind == GQL_TYPE_LIST) {
		size_t n;
		const struct gql_tref *of = t->of;
		struct rnode *items;

		if (ty != LUA_TTABLE || depth > 64) {
			gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Expected Iterable, but did not "
			                "find one for field \"%s.%s\".", cf->parent->name, cf->def->name),
			                NULL);
			gql_null_out(e, slot);
			return;
		}
		n = lua_rawlen(L, idx);
		slot->kind = slot->shape = RN_LIST;
		slot->u.list.n = (unsigned)n;
		if (!(slot->u.list.v = gql_arena_alloc(&e->arena, (n + 1) * sizeof(struct rnode *)))) {
			e->fatal = 1;
			return;
		}
		if (!lua_checkstack(L, 4) ||
		    !(items = gql_arena_alloc(&e->arena, (n + 1) * sizeof(*items)))) {
			e->fatal = 1;
			return;
		}
		/* a list of objects of one type (the common case): its plan found
		 * once, each table item stored and queued without a completion of
		 * its own */
		const struct gql_tref *in = of->kind == GQL_TYPE_NON_NULL ? of->of : of;
		const struct plan *p = NULL;

		if (in->kind == GQL_TYPE_NAMED && in->named->kind == GQL_OBJECT && L == e->L &&
		    e->vtop && !(p = gql_subplan(e, cf, in->named)))
			return;
		for (size_t i = 0; i < n && slot->kind == RN_LIST; i++) {
			struct rnode *item = &items[i];

			gqlx_rnode_init(item, slot, (unsigned)i, of->kind == GQL_TYPE_NON_NULL);
			slot->u.list.v[i] = item;
			if (lua_rawgeti(L, idx, (lua_Integer)i + 1) == LUA_TTABLE && p) {
				item->kind = item->shape = RN_OBJ;
				item->u.obj.plan = p;
				if (!(item->u.obj.v = gqlx_alloc_fields(e, p->n))) {
					e->fatal = 1;
					lua_pop(L, 1);
					return;
				}
				lua_rawseti(L, e->vtop, ++e->nvals);   /* pops it */
				gqlx_tasks_push(e, &e->next, item, e->nvals, p, 0, p->n);
				continue;
			}
			gqlx_complete(e, cf, of, L, -1, item, depth + 1);
			lua_pop(L, 1);
		}
		return;
	}
	nt = t->named;
	if (nt->kind == GQL_SCALAR || nt->kind == GQL_ENUM) {
		complete_leaf(e, cf, nt, L, idx, ty, slot);
		return;
	}
	if (nt->kind == GQL_INTERFACE || nt->kind == GQL_UNION) {
		if (!(nt = resolve_type(e, cf, nt, L, idx, slot)))
			return;
	}
	if (nt->kind != GQL_OBJECT) {
		leaf_error(e, cf, slot, "the schema names an input type as a field's type");
		return;
	}
	{
		const struct plan *p = gql_subplan(e, cf, nt);
		int vidx;

		if (!p)
			return;
		slot->kind = slot->shape = RN_OBJ;
		slot->u.obj.plan = p;
		if (!(slot->u.obj.v = gqlx_alloc_fields(e, p->n))) {
			e->fatal = 1;
			return;
		}
		lua_pushvalue(L, idx);
		vidx = gqlx_store_value(e, L);
		gqlx_tasks_push(e, &e->next, slot, vidx, p, 0, p->n);
	}
}
