/* lua_json.c - the `json` Lua module over jansson; see lua_json.h. */
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "lua_json.h"

/* Addresses used as identities: json.null and the registry slots of the
 * marker metatables (lightuserdata keys, so lookups never allocate). */
static const char null_key;
static const char array_key;
static const char object_key;

#define NULL_SENTINEL ((void *)&null_key)

static _Atomic size_t default_max_size = LUA_JSON_DEFAULT_MAX_SIZE;
static _Atomic int default_max_depth = LUA_JSON_DEFAULT_MAX_DEPTH;

void lua_json_set_limits(size_t max_size, int max_depth)
{
	if (max_size)
		atomic_store_explicit(&default_max_size, max_size,
		                      memory_order_relaxed);
	if (max_depth > 0) {
		if (max_depth > LUA_JSON_DEPTH_CAP)
			max_depth = LUA_JSON_DEPTH_CAP;
		atomic_store_explicit(&default_max_depth, max_depth,
		                      memory_order_relaxed);
	}
}

static size_t limit_size(void)
{
	return atomic_load_explicit(&default_max_size, memory_order_relaxed);
}

static int limit_depth(void)
{
	return atomic_load_explicit(&default_max_depth, memory_order_relaxed);
}

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * [-0, +0, m]  Create the two marker metatables in L's registry unless they
 * exist. Each is also registered under its LUA_JSON_*_MT name.
 */
static void markers_ensure(lua_State *L)
{
	static const void *const keys[2] = { &array_key, &object_key };
	static const char *const names[2] = { LUA_JSON_ARRAY_MT,
	                                      LUA_JSON_OBJECT_MT };

	luaL_checkstack(L, 3, "json: markers");
	for (int i = 0; i < 2; i++) {
		if (lua_rawgetp(L, LUA_REGISTRYINDEX, keys[i]) == LUA_TNIL) {
			lua_pop(L, 1);
			luaL_newmetatable(L, names[i]);
			lua_pushvalue(L, -1);
			lua_rawsetp(L, LUA_REGISTRYINDEX, keys[i]);
		}
		lua_pop(L, 1);
	}
}

/* Strict UTF-8 check, same rules as jansson: no overlongs, no surrogates,
 * nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (len - i - 1 < n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			unsigned b = s[i + k];

			if ((b & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (b & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/*
 * The fewest significant digits (%.Ng) that read back as exactly D. Most
 * doubles need 17; "nice" ones such as 0.1 need far fewer, so try 15 first
 * and only search below it when that already round-trips.
 */
static int real_digits(double d)
{
	char buf[40];
	int p;

	snprintf(buf, sizeof(buf), "%.15g", d);
	if (strtod(buf, NULL) != d) {
		snprintf(buf, sizeof(buf), "%.16g", d);
		return strtod(buf, NULL) == d ? 16 : 17;
	}
	for (p = 1; p < 15; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			return p;
	}
	return 15;
}

/* ---- encoding: Lua -> json_t, without raising ---- */

struct enc {
	lua_State *L;
	int max_depth;
	int array_mt, object_mt;  /* absolute stack slots (nil if never made) */
	int digits;               /* %.Ng precision every real so far needs */
	int failed;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static json_t *enc_fail(struct enc *e, const char *fmt, ...)
{
	va_list ap;

	if (e->failed++)
		return NULL;  /* keep the innermost message */
	if (e->err && e->errlen) {
		va_start(ap, fmt);
		vsnprintf(e->err, e->errlen, fmt, ap);
		va_end(ap);
	}
	return NULL;
}

enum shape { SHAPE_OBJECT, SHAPE_ARRAY, SHAPE_BAD };

/*
 * [-0, +0, -]  Decide how the table at IDX encodes; for an array, *N is its
 * length. On SHAPE_BAD, *WHY says which rule the keys break.
 */
static enum shape enc_shape(struct enc *e, int idx, lua_Integer *n,
                            const char **why)
{
	lua_State *L = e->L;
	lua_Integer count = 0, max = 0;
	size_t nstr = 0;
	int other = 0, kind = 0;  /* kind: 0 plain, 1 array marker, 2 object */

	if (lua_getmetatable(L, idx)) {
		if (lua_rawequal(L, -1, e->array_mt))
			kind = 1;
		else if (lua_rawequal(L, -1, e->object_mt))
			kind = 2;
		lua_pop(L, 1);
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) == LUA_TSTRING) {
			nstr++;
		} else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
			lua_Integer k = lua_tointeger(L, -1);

			count++;
			if (k > max)
				max = k;
		} else {
			other = 1;
		}
	}
	*n = max;
	if (kind == 1) {
		*why = "json.encode: json.array table has keys other than 1..n";
		return !nstr && !other && count == max ? SHAPE_ARRAY : SHAPE_BAD;
	}
	if (kind == 2) {
		*why = "json.encode: json.object table has non-string keys";
		return !count && !other ? SHAPE_OBJECT : SHAPE_BAD;
	}
	*why = "json.encode: mixed or non-string keys";
	if (count && !nstr && !other && count == max)
		return SHAPE_ARRAY;
	return !count && !other ? SHAPE_OBJECT : SHAPE_BAD;
}

static json_t *enc_value(struct enc *e, int idx, int depth);

/* [-0, +0, -]  The table at IDX (absolute), which sits at DEPTH (1 = top). */
static json_t *enc_table(struct enc *e, int idx, int depth)
{
	lua_State *L = e->L;
	const char *why = NULL;
	lua_Integer n;
	json_t *j, *v;

	if (depth > e->max_depth)
		return enc_fail(e, "json.encode: nesting deeper than %d",
		                e->max_depth);
	if (!lua_checkstack(L, 4))
		return enc_fail(e, "json.encode: out of Lua stack");
	switch (enc_shape(e, idx, &n, &why)) {
	case SHAPE_ARRAY:
		if (!(j = json_array()))
			return enc_fail(e, "json.encode: out of memory");
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, i);
			v = enc_value(e, lua_gettop(L), depth);
			lua_pop(L, 1);
			if (!v || json_array_append_new(j, v)) {
				json_decref(j);
				return enc_fail(e, "json.encode: out of memory");
			}
		}
		return j;
	case SHAPE_OBJECT:
		if (!(j = json_object()))
			return enc_fail(e, "json.encode: out of memory");
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			size_t klen;
			const char *k = lua_tolstring(L, -2, &klen);

			if (!utf8_valid((const unsigned char *)k, klen)) {
				json_decref(j);
				return enc_fail(e, "json.encode: key is not valid "
				                "UTF-8");
			}
			v = enc_value(e, lua_gettop(L), depth);
			lua_pop(L, 1);
			if (!v || json_object_setn_new_nocheck(j, k, klen, v)) {
				lua_pop(L, 1);
				json_decref(j);
				return enc_fail(e, "json.encode: out of memory");
			}
		}
		return j;
	case SHAPE_BAD:
		break;
	}
	return enc_fail(e, "%s", why);
}

/* [-0, +0, -]  The value at IDX (absolute) inside a container at DEPTH. */
static json_t *enc_value(struct enc *e, int idx, int depth)
{
	lua_State *L = e->L;
	const char *s;
	size_t len;
	double d;
	json_t *j = NULL;
	int t = lua_type(L, idx);

	switch (t) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			j = json_integer((json_int_t)lua_tointeger(L, idx));
			break;
		}
		d = lua_tonumber(L, idx);
		if (!isfinite(d))
			return enc_fail(e, "json.encode: cannot encode NaN/inf");
		if (e->digits < 17) {
			int p = real_digits(d);

			if (p > e->digits)
				e->digits = p;
		}
		j = json_real(d);
		break;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		if (!utf8_valid((const unsigned char *)s, len))
			return enc_fail(e, "json.encode: string is not valid "
			                "UTF-8");
		j = json_stringn_nocheck(s, len);
		break;
	case LUA_TTABLE:
		return enc_table(e, idx, depth + 1);
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) == NULL_SENTINEL)
			return json_null();
		/* fall through */
	default:
		return enc_fail(e, "json.encode: cannot encode %s",
		                t == LUA_TLIGHTUSERDATA ? "light userdata"
		                : lua_typename(L, t));
	}
	if (!j)
		return enc_fail(e, "json.encode: out of memory");
	return j;
}

struct buf {
	char *data;
	size_t len, cap;
};

static int buf_append(const char *p, size_t n, void *arg)
{
	struct buf *b = arg;

	if (n + 1 > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		char *nd;

		while (n + 1 > cap - b->len) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		if (!(nd = realloc(b->data, cap)))
			return -1;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

struct enc_opts {
	int max_depth;
	int pretty, sort_keys;
};

/*
 * [-0, +0, -]  Encode the value at IDX as configured by O. Returns a
 * malloc'd NUL-terminated string (caller frees) with *LEN, or NULL with ERR.
 */
static char *encode(lua_State *L, int idx, const struct enc_opts *o,
                    size_t *len, char *err, size_t errlen)
{
	struct enc e = { L, o->max_depth, 0, 0, 1, 0, err, errlen };
	struct buf b = { NULL, 0, 0 };
	int top = lua_gettop(L);
	size_t flags;
	json_t *root;

	idx = lua_absindex(L, idx);
	if (!lua_checkstack(L, 4)) {
		set_err(err, errlen, "json.encode: out of Lua stack");
		return NULL;
	}
	lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &object_key);
	e.array_mt = top + 1;
	e.object_mt = top + 2;
	root = enc_value(&e, idx, 0);
	lua_settop(L, top);
	if (!root)
		return NULL;
	flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(e.digits);
	flags |= o->pretty ? JSON_INDENT(2) : JSON_COMPACT;
	if (o->sort_keys)
		flags |= JSON_SORT_KEYS;
	if (json_dump_callback(root, buf_append, &b, flags) || !b.data) {
		json_decref(root);
		free(b.data);
		set_err(err, errlen, "json.encode: out of memory");
		return NULL;
	}
	json_decref(root);
	*len = b.len;
	return b.data;
}

/*
 * A fast path for what handlers return most: plain tables (no metatable)
 * of ASCII strings, integers, booleans, json.null and such tables. It writes
 * the text directly instead of building a jansson tree; anything else
 * (floats, non-ASCII text, marker metatables, deep nesting) returns -1 and
 * the jansson encoder handles the whole value, so the output rules stay the
 * ones above.
 */
struct fbuf {
	char *p;
	size_t len, cap;
};

static int fput(struct fbuf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		char *p;

		while (cap < b->len + n)
			cap *= 2;
		if (!(p = realloc(b->p, cap)))
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

static int fast_str(struct fbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;

	if (fput(b, "\"", 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 'u', '0', '0', 0, 0 };

		if (c >= 0x80)
			return -1;   /* UTF-8 checks: the full encoder */
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (fput(b, s + start, i - start))
			return -1;
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			if (fput(b, esc, 2))
				return -1;
		} else {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			if (fput(b, esc, 6))
				return -1;
		}
		start = i + 1;
	}
	if (fput(b, s + start, n - start) || fput(b, "\"", 1))
		return -1;
	return 0;
}

static int fast_value(lua_State *L, int idx, struct fbuf *b, int depth)
{
	char num[32];
	size_t n;
	const char *s;

	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return fput(b, "null", 4);
	case LUA_TBOOLEAN:
		return lua_toboolean(L, idx) ? fput(b, "true", 4) : fput(b, "false", 5);
	case LUA_TNUMBER:
		if (!lua_isinteger(L, idx))
			return -1;
		n = (size_t)snprintf(num, sizeof(num), LUA_INTEGER_FMT, lua_tointeger(L, idx));
		return fput(b, num, n);
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &n);
		return fast_str(b, s, n);
	case LUA_TLIGHTUSERDATA:
		return lua_touserdata(L, idx) == NULL_SENTINEL ? fput(b, "null", 4) : -1;
	case LUA_TTABLE:
		break;
	default:
		return -1;
	}
	if (depth > 16 || lua_getmetatable(L, idx) || !lua_checkstack(L, 4))
		return -1;   /* (lua_getmetatable pushed nothing when it returned 0) */
	idx = lua_absindex(L, idx);
	lua_Unsigned len = lua_rawlen(L, idx), keys = 0;
	int is_array = len > 0;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		keys++;
		if (lua_type(L, -2) != LUA_TSTRING)
			is_array &= lua_isinteger(L, -2);
		else
			is_array = 0;
		lua_pop(L, 1);
	}
	if (is_array && keys == len) {
		if (fput(b, "[", 1))
			return -1;
		for (lua_Unsigned i = 1; i <= len; i++) {
			int rc;

			lua_rawgeti(L, idx, (lua_Integer)i);
			rc = (i > 1 && fput(b, ",", 1)) || fast_value(L, -1, b, depth + 1);
			lua_pop(L, 1);
			if (rc)
				return -1;
		}
		return fput(b, "]", 1);
	}
	if (fput(b, "{", 1))
		return -1;
	keys = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 2);
			return -1;   /* mixed keys: the full encoder says why */
		}
		s = lua_tolstring(L, -2, &n);
		if ((keys++ && fput(b, ",", 1)) || fast_str(b, s, n) || fput(b, ":", 1) ||
		    fast_value(L, -1, b, depth + 1)) {
			lua_pop(L, 2);
			return -1;
		}
		lua_pop(L, 1);
	}
	return fput(b, "}", 1);
}

char *lua_json_encode_value(lua_State *L, int idx, size_t *len, char *err,
                            size_t errlen)
{
	struct enc_opts o = { limit_depth(), 0, 0 };
	struct fbuf b = { NULL, 0, 0 };
	int top = lua_gettop(L);

	idx = lua_absindex(L, idx);
	if (fast_value(L, idx, &b, 0) == 0 && fput(&b, "", 1) == 0) {
		*len = b.len - 1;
		return b.p;
	}
	free(b.p);
	lua_settop(L, top);
	return encode(L, idx, &o, len, err, errlen);
}

/* ---- decoding: bytes -> json_t -> Lua ---- */

/*
 * Find where BUF first nests deeper than MAX_DEPTH, counting brackets outside
 * strings, before jansson (which recurses) sees it. Returns 0 when within the
 * limit, else -1 with the 1-based line and character column of the bracket.
 * Malformed input may pass or fail here; jansson judges it next.
 */
static int scan_depth(const char *buf, size_t len, int max_depth, int *line,
                      int *col)
{
	int depth = 0, in_str = 0;

	*line = 1;
	*col = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if ((c & 0xc0) != 0x80)
			(*col)++;
		if (c == '\n') {
			(*line)++;
			*col = 0;
		} else if (in_str) {
			if (c == '\\')
				i++;  /* escaped char: never a quote; jansson
				       * rejects a raw newline in a string */
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return -1;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

struct dec {
	json_t *root;
	int max_depth;
};

/*
 * [-0, +1, m]  Push J; the marker metatables sit at stack slots 2 (array)
 * and 3 (object) of the protected call's frame.
 */
static void dec_value(lua_State *L, json_t *j, int depth, int max_depth)
{
	const char *key;
	size_t klen, n;
	json_t *v;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		if (depth >= max_depth)
			luaL_error(L, "json.decode: nesting deeper than %d",
			           max_depth);
		luaL_checkstack(L, 4, "json.decode");
		n = json_object_size(j);
		lua_createtable(L, 0, n > INT32_MAX ? 0 : (int)n);
		json_object_keylen_foreach(j, key, klen, v) {
			lua_pushlstring(L, key, klen);
			dec_value(L, v, depth + 1, max_depth);
			lua_rawset(L, -3);
		}
		lua_pushvalue(L, 3);
		lua_setmetatable(L, -2);
		break;
	case JSON_ARRAY:
		if (depth >= max_depth)
			luaL_error(L, "json.decode: nesting deeper than %d",
			           max_depth);
		luaL_checkstack(L, 4, "json.decode");
		n = json_array_size(j);
		lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
		for (size_t i = 0; i < n; i++) {
			dec_value(L, json_array_get(j, i), depth + 1, max_depth);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_pushvalue(L, 2);
		lua_setmetatable(L, -2);
		break;
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(j));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(j));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	case JSON_NULL:
	default:
		lua_pushlightuserdata(L, NULL_SENTINEL);
		break;
	}
}

/* [-1, +1, e]  Protected body of decode: arg 1 is a struct dec. */
static int dec_protected(lua_State *L)
{
	struct dec *d = lua_touserdata(L, 1);

	markers_ensure(L);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &object_key);
	dec_value(L, d->root, 0, d->max_depth);
	return 1;
}

/*
 * [-0, +(0|1), -]  Decode BUF[0..LEN) under the given limits and push the
 * value; 0, or -1 with ERR and nothing pushed. Lua errors during conversion
 * (memory) are caught so the jansson tree is always freed.
 */
static int decode(lua_State *L, const char *buf, size_t len, size_t max_size,
                  int max_depth, char *err, size_t errlen)
{
	json_error_t jerr;
	struct dec d;
	int line, col, rc;

	if (len > max_size) {
		set_err(err, errlen, "json.decode: document is %zu bytes, over "
		        "the limit of %zu", len, max_size);
		return -1;
	}
	if (scan_depth(buf, len, max_depth, &line, &col)) {
		set_err(err, errlen, "json.decode: nesting deeper than %d at "
		        "line %d column %d", max_depth, line, col);
		return -1;
	}
	d.max_depth = max_depth;
	d.root = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES
	                    | JSON_ALLOW_NUL, &jerr);
	if (!d.root) {
		if (jerr.line > 0)
			set_err(err, errlen, "json.decode: %s at line %d column "
			        "%d", jerr.text, jerr.line, jerr.column);
		else
			set_err(err, errlen, "json.decode: %s", jerr.text);
		return -1;
	}
	if (!lua_checkstack(L, 4)) {
		json_decref(d.root);
		set_err(err, errlen, "json.decode: out of Lua stack");
		return -1;
	}
	lua_pushcfunction(L, dec_protected);
	lua_pushlightuserdata(L, &d);
	rc = lua_pcall(L, 1, 1, 0);
	json_decref(d.root);
	if (rc != LUA_OK) {
		const char *msg = lua_tostring(L, -1);

		set_err(err, errlen, "%s", msg ? msg : "json.decode: failed");
		lua_pop(L, 1);
		return -1;
	}
	return 0;
}

int lua_json_push(lua_State *L, const char *buf, size_t len, char *err,
                  size_t errlen)
{
	return decode(L, buf, len, limit_size(), limit_depth(), err, errlen);
}

/* ---- the Lua module ---- */

/* [-0, +0, e]  Read integer field NAME of the opts table at IDX, in range. */
static lua_Integer opt_int(lua_State *L, int idx, const char *name,
                           lua_Integer def, lua_Integer min, lua_Integer max)
{
	lua_Integer v = def;
	int isnum;

	if (lua_getfield(L, idx, name) != LUA_TNIL) {
		v = lua_tointegerx(L, -1, &isnum);
		if (!isnum || v < min || v > max)
			luaL_error(L, "opts.%s must be an integer from %I to %I",
			           name, min, max);
	}
	lua_pop(L, 1);
	return v;
}

/* [-0, +0, e] */
static int opt_bool(lua_State *L, int idx, const char *name)
{
	int v;

	lua_getfield(L, idx, name);
	v = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

/* json.encode(value [, opts]) -> string   [-(1|2), +1, e] */
static int l_encode(lua_State *L)
{
	struct enc_opts o = { limit_depth(), 0, 0 };
	char err[256];
	size_t len;
	char *s;

	luaL_checkany(L, 1);
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		o.pretty = opt_bool(L, 2, "pretty");
		o.sort_keys = opt_bool(L, 2, "sort_keys");
		o.max_depth = (int)opt_int(L, 2, "max_depth", o.max_depth, 1,
		                           LUA_JSON_DEPTH_CAP);
	}
	s = encode(L, 1, &o, &len, err, sizeof(err));
	if (!s)
		return luaL_error(L, "%s", err);
	/* a memory error raised here would leak S; Lua OOM ends the request
	 * anyway, and the string is about to be freed */
	lua_pushlstring(L, s, len);
	free(s);
	return 1;
}

/* json.decode(string [, opts]) -> value | nil, msg   [-(1|2), +(1|2), e] */
static int l_decode(lua_State *L)
{
	size_t len, max_size = limit_size();
	const char *s = luaL_checklstring(L, 1, &len);
	int max_depth = limit_depth();
	char err[256];

	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		max_size = (size_t)opt_int(L, 2, "max_size", (lua_Integer)max_size,
		                           1, LUA_MAXINTEGER);
		max_depth = (int)opt_int(L, 2, "max_depth", max_depth, 1,
		                         LUA_JSON_DEPTH_CAP);
	}
	if (decode(L, s, len, max_size, max_depth, err, sizeof(err))) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	return 1;
}

/* [-0, +0, e]  Put marker KEY on table arg 1, refusing foreign metatables. */
static int l_mark(lua_State *L, const void *key, const char *fname)
{
	if (lua_isnoneornil(L, 1)) {
		lua_settop(L, 0);
		lua_newtable(L);
	}
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	if (lua_getmetatable(L, 1)) {
		lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key);
		lua_rawgetp(L, LUA_REGISTRYINDEX, &object_key);
		if (!lua_rawequal(L, 2, 3) && !lua_rawequal(L, 2, 4))
			return luaL_error(L, "%s: table already has a metatable",
			                  fname);
		lua_settop(L, 1);
	}
	lua_rawgetp(L, LUA_REGISTRYINDEX, key);
	lua_setmetatable(L, 1);
	return 1;
}

/* json.array([t]) -> t   [-(0|1), +1, e] */
static int l_array(lua_State *L)
{
	return l_mark(L, &array_key, "json.array");
}

/* json.object([t]) -> t   [-(0|1), +1, e] */
static int l_object(lua_State *L)
{
	return l_mark(L, &object_key, "json.object");
}

/* json.is_array(v) -> boolean: whether encode would emit an array.
 * [-1, +1, -] */
static int l_is_array(lua_State *L)
{
	struct enc e = { L, 0, 0, 0, 1, 0, NULL, 0 };
	const char *why;
	lua_Integer n;

	luaL_checkany(L, 1);
	lua_settop(L, 1);
	if (lua_type(L, 1) != LUA_TTABLE) {
		lua_pushboolean(L, 0);
		return 1;
	}
	lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &object_key);
	e.array_mt = 2;
	e.object_mt = 3;
	lua_pushboolean(L, enc_shape(&e, 1, &n, &why) == SHAPE_ARRAY);
	return 1;
}

int lua_json_open(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "encode", l_encode },
		{ "decode", l_decode },
		{ "array", l_array },
		{ "object", l_object },
		{ "is_array", l_is_array },
		{ NULL, NULL },
	};

	markers_ensure(L);
	luaL_newlib(L, funcs);
	lua_pushlightuserdata(L, NULL_SENTINEL);
	lua_setfield(L, -2, "null");
	return 1;
}
