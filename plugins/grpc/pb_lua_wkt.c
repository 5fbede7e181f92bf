/*
 * pb_lua_wkt.c - the well-known types in Lua, in their JSON form:
 * Timestamp "2024-01-02T03:04:05.5Z", Duration "1.5s", Struct a table,
 * Value any value (nil for null), ListValue an array, wrappers the plain
 * value, Empty {}, FieldMask "a.b,c", Any a table with "@type".
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "pb_lua.h"

#define F(m, i) (&(m)->fields[i])
#define VAL(cm, m, i) PB_AT(cm, (m)->fields[i].cf->offset)

static int push_value_msg(struct pb_lctx *c, const struct pb_msg *m, const ProtobufCMessage *cm);

void pb_lua_push_null(lua_State *L)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) == LUA_TTABLE) {
		lua_pushliteral(L, "json");
		if (lua_rawget(L, -2) == LUA_TTABLE) {
			lua_pushliteral(L, "null");
			if (lua_rawget(L, -2) == LUA_TLIGHTUSERDATA) {
				lua_replace(L, -3);
				lua_pop(L, 1);
				return;
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	lua_pushlightuserdata(L, NULL);
}

static int push_struct(struct pb_lctx *c, const struct pb_msg *m, const ProtobufCMessage *cm)
{
	lua_State *L = c->L;
	const struct pb_field *f = F(m, 0);
	const struct pb_msg *em = f->msg;
	size_t n = pb_field_count(cm, f);
	ProtobufCMessage *const *es = *(ProtobufCMessage *const *const *)VAL(cm, m, 0);

	lua_createtable(L, 0, n > 1000 ? 1000 : (int)n);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCBinaryData *k = (const ProtobufCBinaryData *)VAL(es[i], em, 0);
		const ProtobufCMessage *v = *(ProtobufCMessage *const *)VAL(es[i], em, 1);

		if (!pb_utf8_valid(k->data, k->len))
			return pb_lua_fail(c, "invalid UTF-8 in a Struct key");
		lua_pushlstring(L, k->len ? (const char *)k->data : "", k->len);
		if (v && push_value_msg(c, em->fields[1].msg, v))
			return -1;
		if (!v || lua_isnil(L, -1)) {	/* null keeps its key */
			if (v)
				lua_pop(L, 1);
			pb_lua_push_null(L);
		}
		lua_rawset(L, -3);
	}
	return 0;
}

static int push_list(struct pb_lctx *c, const struct pb_msg *m, const ProtobufCMessage *cm)
{
	lua_State *L = c->L;
	size_t n = pb_field_count(cm, F(m, 0));
	ProtobufCMessage *const *es = *(ProtobufCMessage *const *const *)VAL(cm, m, 0);

	lua_createtable(L, n > 0x7fffffff ? 0x7fffffff : (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		if (push_value_msg(c, F(m, 0)->msg, es[i]))
			return -1;
		if (lua_isnil(L, -1)) {
			/* null keeps its place in an array: json.null when the json
			 * module is loaded, else a NULL light userdata */
			lua_pop(L, 1);
			pb_lua_push_null(L);
		}
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 0;
}

static int push_value_msg(struct pb_lctx *c, const struct pb_msg *m, const ProtobufCMessage *cm)
{
	uint32_t which = *(const uint32_t *)PB_AT(cm, F(m, 0)->cf->quantifier_offset);
	const ProtobufCMessage *sub;

	if (++c->depth > PB_MAX_DEPTH + 1)
		return pb_lua_fail(c, "values nested deeper than %d", PB_MAX_DEPTH);
	if (!lua_checkstack(c->L, 8))
		return pb_lua_fail(c, "out of Lua stack");
	switch (which) {
	case 2: case 3: case 4:
		if (pb_lua_push_value(c, F(m, which - 1), VAL(cm, m, which - 1)))
			return -1;
		break;
	case 5: case 6:
		sub = *(ProtobufCMessage *const *)VAL(cm, m, which - 1);
		if (!sub)
			lua_createtable(c->L, 0, 0);
		else if ((which == 5 ? push_struct : push_list)(c, F(m, which - 1)->msg, sub))
			return -1;
		break;
	default:
		lua_pushnil(c->L);	/* null_value, or nothing set */
		break;
	}
	c->depth--;
	return 0;
}

static int push_any(struct pb_lctx *c, const struct pb_msg *m, const ProtobufCMessage *cm)
{
	lua_State *L = c->L;
	const ProtobufCBinaryData *url = (const ProtobufCBinaryData *)VAL(cm, m, 0);
	const ProtobufCBinaryData *val = (const ProtobufCBinaryData *)VAL(cm, m, 1);
	const struct pb_msg *t;
	ProtobufCMessage *inner;
	char err[256];

	if (url->len == 0 && val->len == 0) {
		lua_createtable(L, 0, 0);
		return 0;
	}
	t = pb_any_type(c->r, (const char *)url->data, url->len);
	if (!t)
		return pb_lua_fail(c, "Any: type %.*s is not in the loaded contracts",
		                   (int)(url->len > 200 ? 200 : url->len), (const char *)url->data);
	if (c->depth >= PB_MAX_DEPTH)
		return pb_lua_fail(c, "messages nested deeper than %d", PB_MAX_DEPTH);
	inner = pb_unpack(t, val->data, val->len, c->a, err, sizeof(err));
	if (!inner)
		return pb_lua_fail(c, "Any(%s): %s", t->full_name, err);
	if (t->wkt && t->wkt != WKT_EMPTY) {
		lua_createtable(L, 0, 2);
		if (pb_lua_push_msg(c, t, inner))
			return -1;
		lua_setfield(L, -2, "value");
	} else if (pb_lua_push_msg(c, t, inner)) {
		return -1;
	}
	lua_pushlstring(L, (const char *)url->data, url->len);
	lua_setfield(L, -2, "@type");
	return 0;
}

int pb_lua_push_wkt(struct pb_lctx *c, const struct pb_msg *m, const ProtobufCMessage *cm)
{
	lua_State *L = c->L;
	char buf[64];
	int n;

	if (!lua_checkstack(L, 8))
		return pb_lua_fail(c, "out of Lua stack");
	switch (m->wkt) {
	case WKT_TIMESTAMP: case WKT_DURATION: {
		int64_t s = *(const int64_t *)VAL(cm, m, 0);
		int32_t ns = *(const int32_t *)VAL(cm, m, 1);

		n = m->wkt == WKT_TIMESTAMP ? pb_fmt_timestamp(s, ns, buf, sizeof(buf)) :
			pb_fmt_duration(s, ns, buf, sizeof(buf));
		if (n < 0)
			return pb_lua_fail(c, "%s out of range", m->full_name);
		lua_pushlstring(L, buf, (size_t)n);
		return 0;
	}
	case WKT_STRUCT:
		return push_struct(c, m, cm);
	case WKT_VALUE:
		return push_value_msg(c, m, cm);
	case WKT_LIST:
		return push_list(c, m, cm);
	case WKT_EMPTY:
		lua_createtable(L, 0, 0);
		return 0;
	case WKT_FIELDMASK: {
		struct pb_buf b = { 0 };
		const ProtobufCBinaryData *paths = *(ProtobufCBinaryData *const *)VAL(cm, m, 0);

		n = pb_fieldmask_to_text(&b, paths, pb_field_count(cm, F(m, 0)));
		if (n) {
			pb_buf_free(&b);
			return pb_lua_fail(c, n == -2 ? "FieldMask path with an upper-case letter or invalid UTF-8" :
			                   "out of memory");
		}
		lua_pushlstring(L, b.len ? (const char *)b.p : "", b.len);
		pb_buf_free(&b);
		return 0;
	}
	case WKT_ANY:
		return push_any(c, m, cm);
	default:	/* wrappers */
		return pb_lua_push_value(c, F(m, 0), VAL(cm, m, 0));
	}
}

/* ---- encoding ---- */

static int to_value_msg(struct pb_lctx *c, const struct pb_msg *m, int idx, ProtobufCMessage **out);

static int is_array(lua_State *L, int idx)
{
	int r;

	if (lua_rawlen(L, idx) > 0)
		return 1;
	if (!lua_getmetatable(L, idx))
		return 0;
	luaL_getmetatable(L, "portico.json.array");
	r = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return r;
}

static int to_struct(struct pb_lctx *c, const struct pb_msg *m, int idx, ProtobufCMessage *cm)
{
	lua_State *L = c->L;
	const struct pb_msg *em = F(m, 0)->msg;
	ProtobufCMessage **es;
	size_t n = 0, k = 0;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		n++;
		lua_pop(L, 1);
	}
	es = pb_arena_alloc(c->a, (n ? n : 1) * sizeof(*es));
	if (!es)
		return pb_lua_fail(c, "out of memory");
	pb_path_push(&c->path, "fields");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		ProtobufCMessage *e = pb_msg_new(em, c->a);
		ProtobufCBinaryData *key;
		size_t kl;
		const char *ks;

		if (!e)
			return pb_lua_fail(c, "out of memory");
		if (lua_type(L, -2) != LUA_TSTRING)
			return pb_lua_fail(c, "Struct keys must be strings, got %s",
			                   pb_lua_typename(c, -2));
		ks = lua_tolstring(L, -2, &kl);
		if (!pb_utf8_valid((const uint8_t *)ks, kl))
			return pb_lua_fail(c, "invalid UTF-8 in a Struct key");
		c->path.kind[c->path.depth - 1] = PATH_SKEY;
		c->path.key[c->path.depth - 1] = ks;
		key = (ProtobufCBinaryData *)VAL(e, em, 0);
		key->data = kl ? (uint8_t *)ks : NULL;
		key->len = kl;
		if (to_value_msg(c, em->fields[1].msg, lua_gettop(L), (ProtobufCMessage **)VAL(e, em, 1)))
			return -1;
		es[k++] = e;
		lua_pop(L, 1);
	}
	pb_path_pop(&c->path);
	*(size_t *)PB_AT(cm, F(m, 0)->cf->quantifier_offset) = k;
	*(ProtobufCMessage ***)VAL(cm, m, 0) = es;
	return 0;
}

static int to_list(struct pb_lctx *c, const struct pb_msg *m, int idx, ProtobufCMessage *cm)
{
	lua_State *L = c->L;
	size_t n = lua_rawlen(L, idx);
	ProtobufCMessage **es = pb_arena_alloc(c->a, (n ? n : 1) * sizeof(*es));

	if (!es)
		return pb_lua_fail(c, "out of memory");
	pb_path_push(&c->path, "values");
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, idx, (lua_Integer)i + 1);
		c->path.kind[c->path.depth - 1] = PATH_INDEX;
		c->path.index[c->path.depth - 1] = (long long)i;
		if (to_value_msg(c, F(m, 0)->msg, lua_gettop(L), &es[i]))
			return -1;
		lua_pop(L, 1);
	}
	pb_path_pop(&c->path);
	*(size_t *)PB_AT(cm, F(m, 0)->cf->quantifier_offset) = n;
	*(ProtobufCMessage ***)VAL(cm, m, 0) = es;
	return 0;
}

static int to_value_msg(struct pb_lctx *c, const struct pb_msg *m, int idx, ProtobufCMessage **out)
{
	lua_State *L = c->L;
	ProtobufCMessage *cm = pb_msg_new(m, c->a), *sub;
	uint32_t which;

	if (!cm)
		return pb_lua_fail(c, "out of memory");
	if (++c->depth > PB_MAX_DEPTH + 1)
		return pb_lua_fail(c, "values nested deeper than %d", PB_MAX_DEPTH);
	if (!lua_checkstack(L, 8))
		return pb_lua_fail(c, "out of Lua stack");
	switch (lua_type(L, idx)) {
	case LUA_TNIL: case LUA_TLIGHTUSERDATA:	/* json.null */
		which = 1;
		break;
	case LUA_TNUMBER:
		which = 2;
		*(double *)VAL(cm, m, 1) = lua_tonumber(L, idx);
		break;
	case LUA_TSTRING:
		which = 3;
		if (pb_lua_to_value(c, F(m, 2), idx, VAL(cm, m, 2)))
			return -1;
		break;
	case LUA_TBOOLEAN:
		which = 4;
		*(protobuf_c_boolean *)VAL(cm, m, 3) = lua_toboolean(L, idx);
		break;
	case LUA_TTABLE:
		which = is_array(L, idx) ? 6 : 5;
		sub = pb_msg_new(F(m, which - 1)->msg, c->a);
		if (!sub)
			return pb_lua_fail(c, "out of memory");
		if ((which == 5 ? to_struct : to_list)(c, F(m, which - 1)->msg, idx, sub))
			return -1;
		*(ProtobufCMessage **)VAL(cm, m, which - 1) = sub;
		break;
	default:
		return pb_lua_fail(c, "a %s cannot be a google.protobuf.Value", pb_lua_typename(c, idx));
	}
	*(uint32_t *)PB_AT(cm, F(m, 0)->cf->quantifier_offset) = which;
	c->depth--;
	*out = cm;
	return 0;
}

static int to_any(struct pb_lctx *c, const struct pb_msg *m, int idx, ProtobufCMessage *cm)
{
	lua_State *L = c->L;
	ProtobufCBinaryData *url = (ProtobufCBinaryData *)VAL(cm, m, 0);
	ProtobufCBinaryData *val = (ProtobufCBinaryData *)VAL(cm, m, 1);
	const struct pb_msg *t;
	ProtobufCMessage *inner;
	size_t n;
	const char *s;

	if (lua_type(L, idx) != LUA_TTABLE)
		return pb_lua_fail(c, "expected a table with \"@type\", got %s", pb_lua_typename(c, idx));
	lua_pushliteral(L, "@type");
	if (lua_rawget(L, idx) != LUA_TSTRING) {
		lua_pop(L, 1);
		lua_pushnil(L);
		if (lua_next(L, idx) == 0)	/* {}: an empty Any */
			return 0;
		return pb_lua_fail(c, "Any needs an \"@type\" string");
	}
	s = lua_tolstring(L, -1, &n);
	t = pb_any_type(c->r, s, n);
	if (!t)
		return pb_lua_fail(c, "Any: type %.200s is not in the loaded contracts", s);
	url->data = (uint8_t *)s;	/* borrowed from the table */
	url->len = n;
	lua_pop(L, 1);
	if (t->wkt && t->wkt != WKT_EMPTY) {
		lua_pushliteral(L, "value");
		lua_rawget(L, idx);
		if (pb_lua_to_msg(c, t, lua_gettop(L), &inner))
			return -1;
		lua_pop(L, 1);
	} else if (pb_lua_to_msg(c, t, idx, &inner)) {
		return -1;
	}
	n = protobuf_c_message_get_packed_size(inner);
	val->data = pb_arena_alloc(c->a, n ? n : 1);
	if (!val->data)
		return pb_lua_fail(c, "out of memory");
	val->len = protobuf_c_message_pack(inner, val->data);
	return 0;
}

int pb_lua_to_wkt(struct pb_lctx *c, const struct pb_msg *m, int idx, ProtobufCMessage **out)
{
	lua_State *L = c->L;
	ProtobufCMessage *cm;
	int64_t secs = 0;
	int32_t nanos = 0;
	size_t n;
	const char *s;
	int rc;

	if (m->wkt == WKT_VALUE)
		return to_value_msg(c, m, idx, out);
	cm = pb_msg_new(m, c->a);
	if (!cm)
		return pb_lua_fail(c, "out of memory");
	*out = cm;
	switch (m->wkt) {
	case WKT_TIMESTAMP:
		if (lua_type(L, idx) != LUA_TSTRING)
			return pb_lua_fail(c, "expected an RFC 3339 time string, got %s",
			                   pb_lua_typename(c, idx));
		s = lua_tolstring(L, idx, &n);
		if (pb_parse_timestamp(s, n, &secs, &nanos))
			return pb_lua_fail(c, "bad timestamp \"%.60s\" (want 2024-01-02T03:04:05Z)", s);
		break;
	case WKT_DURATION:
		if (lua_type(L, idx) == LUA_TNUMBER) {
			double d = lua_tonumber(L, idx), ip;

			if (!(fabs(d) <= 315576000000.0))
				return pb_lua_fail(c, "duration out of range");
			nanos = (int32_t)llround(modf(d, &ip) * 1e9);
			secs = (int64_t)ip;
			if (nanos >= 1000000000 || nanos <= -1000000000) {
				secs += nanos / 1000000000;
				nanos %= 1000000000;
			}
			break;
		}
		if (lua_type(L, idx) != LUA_TSTRING)
			return pb_lua_fail(c, "expected a duration string like \"1.5s\", got %s",
			                   pb_lua_typename(c, idx));
		s = lua_tolstring(L, idx, &n);
		if (pb_parse_duration(s, n, &secs, &nanos))
			return pb_lua_fail(c, "bad duration \"%.60s\" (want \"1.5s\")", s);
		break;
	case WKT_STRUCT: case WKT_LIST:
		if (lua_type(L, idx) != LUA_TTABLE)
			return pb_lua_fail(c, "expected a table, got %s", pb_lua_typename(c, idx));
		return (m->wkt == WKT_STRUCT ? to_struct : to_list)(c, m, idx, cm);
	case WKT_EMPTY:
		if (lua_type(L, idx) != LUA_TTABLE)
			return pb_lua_fail(c, "expected a table, got %s", pb_lua_typename(c, idx));
		return 0;
	case WKT_FIELDMASK:
		if (lua_type(L, idx) != LUA_TSTRING)
			return pb_lua_fail(c, "expected a field mask string like \"a.b,c\", got %s",
			                   pb_lua_typename(c, idx));
		s = lua_tolstring(L, idx, &n);
		rc = pb_fieldmask_from_text(c->a, s, n, (ProtobufCBinaryData **)VAL(cm, m, 0),
		                            (size_t *)PB_AT(cm, F(m, 0)->cf->quantifier_offset));
		if (rc)
			return pb_lua_fail(c, rc == -2 ? "bad field mask \"%.60s\"" : "out of memory", s);
		return 0;
	case WKT_ANY:
		return to_any(c, m, idx, cm);
	default:	/* wrappers */
		return pb_lua_to_value(c, F(m, 0), idx, VAL(cm, m, 0));
	}
	*(int64_t *)VAL(cm, m, 0) = secs;
	*(int32_t *)VAL(cm, m, 1) = nanos;
	return 0;
}
