/*
 * pb_lua.c - messages to Lua tables and back (the mapping in pb.h).
 *
 * Decoding: protobuf-c unpacks into the thread's scratch arena (after
 * pb_wire.c's guard), then one walk over the structs builds the tables.
 * Encoding: one walk over the tables fills structs in the arena, which
 * protobuf-c packs. Field names are never compared: each lua_State keeps,
 * per message type, an array of its field-name strings (interned once) in
 * a cache table in its registry, so a field costs one rawgeti and one
 * rawget/rawset. There is one cache per registry (by serial), for the two
 * most recent registries.
 *
 * Nothing here raises except Lua memory errors: stack space is checked with
 * lua_checkstack and every other failure is an error sentence.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "pb_lua.h"

static const char cache_key;

/* [-0, +1, m] Pushes the names array of M (field i at [i + 1]). */
static void push_names(struct pb_lctx *c, const struct pb_msg *m)
{
	lua_State *L = c->L;

	if (lua_rawgetp(L, c->cache, m) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	lua_createtable(L, (int)m->nfields, 0);
	for (unsigned i = 0; i < m->nfields; i++) {
		lua_pushlstring(L, m->fields[i].name, m->fields[i].name_len);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_pushvalue(L, -1);
	lua_rawsetp(L, c->cache, m);
}

/* [-0, +1, m] Pushes this registry's cache and sets c->cache to its slot.
 * The registry slot holds { [serial] = cache } for at most two registries
 * (the current one and the one a reload replaced, while its calls finish). */
static void open_cache(struct pb_lctx *c)
{
	lua_State *L = c->L;
	lua_Integer serial = (lua_Integer)c->r->serial;
	int n = 0;

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_createtable(L, 2, 0);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
	}
	if (lua_rawgeti(L, -1, serial) == LUA_TTABLE) {
		lua_remove(L, -2);
		c->cache = lua_gettop(L);
		return;
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		n++;
		lua_pop(L, 1);
	}
	if (n >= 2) {	/* a third registry: forget the older ones */
		lua_pop(L, 1);
		lua_createtable(L, 2, 0);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
	}
	lua_createtable(L, 0, 64);
	lua_pushvalue(L, -1);
	lua_rawseti(L, -3, serial);
	lua_remove(L, -2);
	c->cache = lua_gettop(L);
}

int pb_lua_fail(struct pb_lctx *c, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pb_path_err(&c->path, c->err, c->errlen, "%s", msg);
	return -1;
}

/* ---- decoding ---- */

/* [-0, +1, m] Pushes one value of field F stored at V. */
int pb_lua_push_value(struct pb_lctx *c, const struct pb_field *f, const void *v)
{
	lua_State *L = c->L;

	switch (f->type) {
	case PBT_INT32: case PBT_SINT32: case PBT_SFIXED32:
		lua_pushinteger(L, *(const int32_t *)v);
		break;
	case PBT_UINT32: case PBT_FIXED32:
		lua_pushinteger(L, *(const uint32_t *)v);
		break;
	case PBT_INT64: case PBT_SINT64: case PBT_SFIXED64:
	case PBT_UINT64: case PBT_FIXED64:
		lua_pushinteger(L, (lua_Integer) * (const int64_t *)v);
		break;
	case PBT_DOUBLE:
		lua_pushnumber(L, *(const double *)v);
		break;
	case PBT_FLOAT:
		lua_pushnumber(L, *(const float *)v);
		break;
	case PBT_BOOL:
		lua_pushboolean(L, *(const protobuf_c_boolean *)v);
		break;
	case PBT_ENUM: {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(&f->en->desc, *(const int32_t *)v);

		if (ev)
			lua_pushstring(L, ev->name);
		else
			lua_pushinteger(L, *(const int32_t *)v);
		break;
	}
	case PBT_STRING: case PBT_BYTES: {
		const ProtobufCBinaryData *b = v;

		if (f->is_string_utf8 && !pb_utf8_valid(b->data, b->len))
			return pb_lua_fail(c, "invalid UTF-8 in a string field");
		lua_pushlstring(L, b->len ? (const char *)b->data : "", b->len);
		break;
	}
	case PBT_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;

		if (!sub) {
			sub = pb_msg_new(f->msg, c->a);
			if (!sub)
				return pb_lua_fail(c, "out of memory");
		}
		return pb_lua_push_msg(c, f->msg, sub);
	}
	default:
		return pb_lua_fail(c, "unsupported field type %d", f->type);
	}
	return 0;
}

static int push_map(struct pb_lctx *c, const struct pb_field *f, ProtobufCMessage *const *es,
                    size_t n)
{
	lua_State *L = c->L;
	const struct pb_field *kf = &f->msg->fields[0], *vf = &f->msg->fields[1];

	lua_createtable(L, 0, n > 0x7fffffff ? 0x7fffffff : (int)n);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessage *e = es[i];

		c->path.kind[c->path.depth - 1] = PATH_INDEX;
		c->path.index[c->path.depth - 1] = (long long)i;
		if (pb_lua_push_value(c, kf, PB_AT(e, kf->cf->offset)))
			return -1;
		if (pb_lua_push_value(c, vf, PB_AT(e, vf->cf->offset)))
			return -1;
		if (lua_isnil(L, -1) && vf->msg && vf->msg->wkt == WKT_VALUE) {
			lua_pop(L, 1);	/* a null Value keeps its key */
			pb_lua_push_null(L);
		}
		if (lua_isnil(L, -2))
			lua_pop(L, 2);
		else
			lua_rawset(L, -3);
	}
	return 0;
}

int pb_lua_push_msg(struct pb_lctx *c, const struct pb_msg *m, const ProtobufCMessage *cm)
{
	lua_State *L = c->L;
	int t, names;

	if (++c->depth > PB_MAX_DEPTH + 1)
		return pb_lua_fail(c, "messages nested deeper than %d", PB_MAX_DEPTH);
	if (!lua_checkstack(L, 12))
		return pb_lua_fail(c, "out of Lua stack");
	if (m->wkt) {
		if (pb_lua_push_wkt(c, m, cm))
			return -1;
		c->depth--;
		return 0;
	}
	lua_createtable(L, 0, (int)m->nfields);
	t = lua_gettop(L);
	push_names(c, m);
	names = t + 1;
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct pb_field *f = &m->fields[i];
		const void *v = PB_AT(cm, f->cf->offset);

		pb_path_push(&c->path, f->name);
		if (f->label == 3) {
			size_t n = pb_field_count(cm, f);
			const char *arr = *(const char *const *)v;

			lua_rawgeti(L, names, (lua_Integer)i + 1);
			if (f->is_map) {
				if (push_map(c, f, (ProtobufCMessage *const *)arr, n))
					return -1;
			} else {
				size_t sz = pb_field_elt_size(f);

				lua_createtable(L, n > 0x7fffffff ? 0x7fffffff : (int)n, 0);
				for (size_t k = 0; k < n; k++) {
					pb_path_index(&c->path, (long long)k);
					if (pb_lua_push_value(c, f, arr + k * sz))
						return -1;
					lua_rawseti(L, -2, (lua_Integer)k + 1);
				}
			}
			lua_rawset(L, t);
		} else if (!f->presence || pb_field_present(cm, f)) {
			lua_rawgeti(L, names, (lua_Integer)i + 1);
			if (pb_lua_push_value(c, f, v))
				return -1;
			lua_rawset(L, t);
		} else if (f->label == 2) {
			return pb_lua_fail(c, "required field missing");
		}
		pb_path_pop(&c->path);
	}
	lua_settop(L, t);
	c->depth--;
	return 0;
}

int pb_decode_lua(struct lua_State *L, const struct pb_registry *r, const struct pb_msg *m,
                  const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct pb_lctx c;
	ProtobufCMessage *cm;
	int top = lua_gettop(L), rc;

	memset(&c, 0, sizeof(c));
	c.L = L;
	c.r = r;
	c.a = pb_scratch();
	c.err = err;
	c.errlen = errlen;
	cm = pb_unpack(m, data, len, c.a, err, errlen);
	if (!cm) {
		pb_scratch_done(c.a);
		return -1;
	}
	if (!lua_checkstack(L, 16)) {
		pb_scratch_done(c.a);
		snprintf(err, errlen, "out of Lua stack");
		return -1;
	}
	open_cache(&c);
	rc = pb_lua_push_msg(&c, m, cm);
	pb_scratch_done(c.a);
	if (rc) {
		lua_settop(L, top);
		return -1;
	}
	lua_remove(L, c.cache);
	return 0;
}

/* ---- encoding ---- */

const char *pb_lua_typename(struct pb_lctx *c, int idx)
{
	return lua_typename(c->L, lua_type(c->L, idx));
}

static int want(struct pb_lctx *c, int idx, const char *what)
{
	return pb_lua_fail(c, "expected %s, got %s", what, pb_lua_typename(c, idx));
}

static int get_int(struct pb_lctx *c, int idx, lua_Integer lo, lua_Integer hi, lua_Integer *out)
{
	int ok;

	if (lua_type(c->L, idx) != LUA_TNUMBER)
		return want(c, idx, "an integer");
	*out = lua_tointegerx(c->L, idx, &ok);
	if (!ok)
		return pb_lua_fail(c, "expected an integer, got %g", lua_tonumber(c->L, idx));
	if (*out < lo || *out > hi)
		return pb_lua_fail(c, "%lld is out of range", (long long)*out);
	return 0;
}

/* Reads the Lua value at IDX into one value of F at DST. */
int pb_lua_to_value(struct pb_lctx *c, const struct pb_field *f, int idx, void *dst)
{
	lua_State *L = c->L;
	lua_Integer i;

	switch (f->type) {
	case PBT_INT32: case PBT_SINT32: case PBT_SFIXED32:
		if (get_int(c, idx, INT32_MIN, INT32_MAX, &i))
			return -1;
		*(int32_t *)dst = (int32_t)i;
		return 0;
	case PBT_UINT32: case PBT_FIXED32:
		if (get_int(c, idx, 0, UINT32_MAX, &i))
			return -1;
		*(uint32_t *)dst = (uint32_t)i;
		return 0;
	case PBT_INT64: case PBT_SINT64: case PBT_SFIXED64:
	case PBT_UINT64: case PBT_FIXED64:
		if (get_int(c, idx, LUA_MININTEGER, LUA_MAXINTEGER, &i))
			return -1;
		*(int64_t *)dst = (int64_t)i;
		return 0;
	case PBT_DOUBLE:
		if (lua_type(L, idx) != LUA_TNUMBER)
			return want(c, idx, "a number");
		*(double *)dst = lua_tonumber(L, idx);
		return 0;
	case PBT_FLOAT:
		if (lua_type(L, idx) != LUA_TNUMBER)
			return want(c, idx, "a number");
		*(float *)dst = (float)lua_tonumber(L, idx);
		return 0;
	case PBT_BOOL:
		if (lua_type(L, idx) != LUA_TBOOLEAN)
			return want(c, idx, "a boolean");
		*(protobuf_c_boolean *)dst = lua_toboolean(L, idx);
		return 0;
	case PBT_ENUM:
		if (lua_type(L, idx) == LUA_TSTRING) {
			const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(
				&f->en->desc, lua_tostring(L, idx));

			if (!ev)
				return pb_lua_fail(c, "%.60s is not a value of %s", lua_tostring(L, idx),
				                   f->en->full_name);
			*(int32_t *)dst = ev->value;
			return 0;
		}
		if (lua_type(L, idx) != LUA_TNUMBER)
			return want(c, idx, "an enum name or number");
		if (get_int(c, idx, INT32_MIN, INT32_MAX, &i))
			return -1;
		*(int32_t *)dst = (int32_t)i;
		return 0;
	case PBT_STRING: case PBT_BYTES: {
		ProtobufCBinaryData *b = dst;
		size_t n;
		const char *s;

		if (lua_type(L, idx) != LUA_TSTRING)
			return want(c, idx, "a string");
		s = lua_tolstring(L, idx, &n);
		if (f->is_string_utf8 && !pb_utf8_valid((const uint8_t *)s, n))
			return pb_lua_fail(c, "invalid UTF-8 in a string field");
		/* borrowed: the string lives in the caller's table during the call */
		b->data = n ? (uint8_t *)s : NULL;
		b->len = n;
		return 0;
	}
	case PBT_MESSAGE:
		return pb_lua_to_msg(c, f->msg, idx, (ProtobufCMessage **)dst);
	}
	return pb_lua_fail(c, "unsupported field type %d", f->type);
}

static int to_map(struct pb_lctx *c, const struct pb_field *f, int idx, ProtobufCMessage *cm)
{
	lua_State *L = c->L;
	const struct pb_msg *em = f->msg;
	const struct pb_field *kf = &em->fields[0], *vf = &em->fields[1];
	ProtobufCMessage **es;
	size_t n = 0, k = 0;

	if (lua_type(L, idx) != LUA_TTABLE)
		return want(c, idx, "a table");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		n++;
		lua_pop(L, 1);
	}
	es = pb_arena_alloc(c->a, (n ? n : 1) * sizeof(*es));
	if (!es)
		return pb_lua_fail(c, "out of memory");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		ProtobufCMessage *e = pb_msg_new(em, c->a);
		int kt = lua_type(L, -2);

		if (!e)
			return pb_lua_fail(c, "out of memory");
		if (kt == LUA_TSTRING) {
			c->path.kind[c->path.depth - 1] = PATH_SKEY;
			c->path.key[c->path.depth - 1] = lua_tostring(L, -2);
		} else if (kt == LUA_TNUMBER && lua_isinteger(L, -2)) {
			c->path.kind[c->path.depth - 1] = PATH_IKEY;
			c->path.index[c->path.depth - 1] = lua_tointeger(L, -2);
		} else {
			c->path.kind[c->path.depth - 1] = PATH_NONE;
		}
		if (kf->type == PBT_STRING && kt != LUA_TSTRING)
			return pb_lua_fail(c, "map keys must be strings, got %s",
			                   pb_lua_typename(c, -2));
		if (pb_lua_to_value(c, kf, lua_gettop(L) - 1, PB_AT(e, kf->cf->offset)))
			return -1;
		if (pb_lua_to_value(c, vf, lua_gettop(L), PB_AT(e, vf->cf->offset)))
			return -1;
		es[k++] = e;
		lua_pop(L, 1);
	}
	*(size_t *)PB_AT(cm, f->cf->quantifier_offset) = k;
	*(ProtobufCMessage ***)PB_AT(cm, f->cf->offset) = es;
	return 0;
}

static int to_repeated(struct pb_lctx *c, const struct pb_field *f, int idx, ProtobufCMessage *cm)
{
	lua_State *L = c->L;
	size_t n, sz = pb_field_elt_size(f);
	char *arr;

	if (lua_type(L, idx) != LUA_TTABLE)
		return want(c, idx, "a table (an array)");
	n = lua_rawlen(L, idx);
	arr = pb_arena_alloc(c->a, (n ? n : 1) * sz);
	if (!arr)
		return pb_lua_fail(c, "out of memory");
	memset(arr, 0, (n ? n : 1) * sz);
	for (size_t k = 0; k < n; k++) {
		pb_path_index(&c->path, (long long)k);
		lua_rawgeti(L, idx, (lua_Integer)k + 1);
		if (lua_isnil(L, -1))
			return pb_lua_fail(c, "nil in an array");
		if (pb_lua_to_value(c, f, lua_gettop(L), arr + k * sz))
			return -1;
		lua_pop(L, 1);
	}
	*(size_t *)PB_AT(cm, f->cf->quantifier_offset) = n;
	*(char **)PB_AT(cm, f->cf->offset) = arr;
	return 0;
}

int pb_lua_to_msg(struct pb_lctx *c, const struct pb_msg *m, int idx, ProtobufCMessage **out)
{
	lua_State *L = c->L;
	ProtobufCMessage *cm;
	int names;

	if (++c->depth > PB_MAX_DEPTH + 1)
		return pb_lua_fail(c, "messages nested deeper than %d", PB_MAX_DEPTH);
	if (!lua_checkstack(L, 12))
		return pb_lua_fail(c, "out of Lua stack");
	if (m->wkt) {
		if (pb_lua_to_wkt(c, m, idx, out))
			return -1;
		c->depth--;
		return 0;
	}
	if (lua_type(L, idx) != LUA_TTABLE)
		return want(c, idx, "a table");
	cm = pb_msg_new(m, c->a);
	if (!cm)
		return pb_lua_fail(c, "out of memory");
	push_names(c, m);
	names = lua_gettop(L);
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct pb_field *f = &m->fields[i];
		const ProtobufCFieldDescriptor *cf = f->cf;
		int v = names + 1;

		lua_rawgeti(L, names, (lua_Integer)i + 1);
		if (lua_rawget(L, idx) == LUA_TNIL) {
			lua_pop(L, 1);
			if (f->label == 2) {
				pb_path_push(&c->path, f->name);
				return pb_lua_fail(c, "required field missing");
			}
			continue;
		}
		pb_path_push(&c->path, f->name);
		if (f->is_map) {
			if (to_map(c, f, v, cm))
				return -1;
		} else if (f->label == 3) {
			if (to_repeated(c, f, v, cm))
				return -1;
		} else {
			if (pb_lua_to_value(c, f, v, PB_AT(cm, cf->offset)))
				return -1;
			if (f->oneof >= 0) {
				uint32_t *q = (uint32_t *)PB_AT(cm, cf->quantifier_offset);

				if (*q) {
					const ProtobufCFieldDescriptor *o =
						protobuf_c_message_descriptor_get_field(&m->desc, *q);

					return pb_lua_fail(c, "oneof %s has %s set too", m->oneofs[f->oneof],
					                   o ? o->name : "another member");
				}
				*q = f->number;
			} else if (f->presence && f->type != PBT_MESSAGE) {
				*(protobuf_c_boolean *)PB_AT(cm, cf->quantifier_offset) = 1;
			}
		}
		pb_path_pop(&c->path);
		lua_settop(L, names);
	}
	lua_settop(L, names - 1);
	c->depth--;
	*out = cm;
	return 0;
}

int pb_encode_lua(struct lua_State *L, int idx, const struct pb_registry *r,
                  const struct pb_msg *m, struct pb_buf *out, char *err, size_t errlen)
{
	struct pb_lctx c;
	ProtobufCMessage *cm;
	int top = lua_gettop(L), rc;

	memset(&c, 0, sizeof(c));
	c.L = L;
	c.r = r;
	c.a = pb_scratch();
	c.err = err;
	c.errlen = errlen;
	idx = lua_absindex(L, idx);
	if (!lua_checkstack(L, 16)) {
		snprintf(err, errlen, "out of Lua stack");
		return -1;
	}
	open_cache(&c);
	rc = pb_lua_to_msg(&c, m, idx, &cm);
	if (!rc && pb_pack(cm, out)) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	pb_scratch_done(c.a);
	lua_settop(L, top);
	return rc;
}
