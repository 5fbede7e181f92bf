/*
 * jbuf.c - the response writer: a growing buffer of JSON text, strings
 * escaped as JSON requires, and Lua values (custom scalars, error
 * extensions) written as JSON.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "exec_priv.h"

int jb_grow(struct jbuf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->oom)
		return -1;
	if (b->n + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 1024;
	while (cap < b->n + more)
		cap *= 2;
	if (!(p = realloc(b->p, cap))) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}


void jb_cstr(struct jbuf *b, const char *s)
{
	jb_str(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at S (at most N bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void jb_str(struct jbuf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	/* worst case: every byte becomes \u00XX */
	if (jb_grow(b, n * 6 + 2) != 0)
		return;
	b->p[b->n++] = '"';
	while (i < n) {
		unsigned char c = s[i];

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			run++;
			continue;
		}
		memcpy(b->p + b->n, s + i - run, run);
		b->n += run;
		run = 0;
		if (c >= 0x80) {
			size_t l = utf8_len(s + i, n - i);

			if (l) {
				memcpy(b->p + b->n, s + i, l);
				b->n += l;
				i += l;
			} else {
				memcpy(b->p + b->n, "\xef\xbf\xbd", 3);   /* U+FFFD */
				b->n += 3;
				i++;
			}
			continue;
		}
		b->p[b->n++] = '\\';
		switch (c) {
		case '"': b->p[b->n++] = '"'; break;
		case '\\': b->p[b->n++] = '\\'; break;
		case '\n': b->p[b->n++] = 'n'; break;
		case '\r': b->p[b->n++] = 'r'; break;
		case '\t': b->p[b->n++] = 't'; break;
		case '\b': b->p[b->n++] = 'b'; break;
		case '\f': b->p[b->n++] = 'f'; break;
		default:
			memcpy(b->p + b->n, "u00", 3);
			b->n += 3;
			b->p[b->n++] = hex[c >> 4];
			b->p[b->n++] = hex[c & 15];
		}
		i++;
	}
	memcpy(b->p + b->n, s + i - run, run);
	b->n += run;
	b->p[b->n++] = '"';
}

void jb_fmt(struct jbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		jb_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

void jb_num(struct jbuf *b, double d)
{
	char tmp[32];
	int n;

	if (!isfinite(d)) {
		jb_put(b, "null", 4);
		return;
	}
	if (d == floor(d) && fabs(d) < 1e15) {
		n = snprintf(tmp, sizeof(tmp), "%lld", (long long)d);
	} else {
		/* the shortest text that reads back the same double, as JavaScript prints */
		for (int prec = 15; prec <= 17; prec++) {
			n = snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
			if (strtod(tmp, NULL) == d)
				break;
		}
	}
	jb_put(b, tmp, (size_t)n);
}

/* A table is written as a JSON array when its keys are exactly 1..#t. */
static int is_array(lua_State *L, int idx)
{
	lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
			lua_pop(L, 1);
			return 0;
		}
		count++;
	}
	return count == n;
}

int jb_lua(struct jbuf *b, lua_State *L, int idx, int depth)
{
	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		jb_put(b, "null", 4);
		return 0;
	case LUA_TBOOLEAN:
		if (lua_toboolean(L, idx))
			jb_put(b, "true", 4);
		else
			jb_put(b, "false", 5);
		return 0;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			jb_fmt(b, "%lld", (long long)lua_tointeger(L, idx));
		else
			jb_num(b, lua_tonumber(L, idx));
		return 0;
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);

		jb_str(b, s, n);
		return 0;
	}
	case LUA_TLIGHTUSERDATA:   /* json.null */
		jb_put(b, "null", 4);
		return 0;
	case LUA_TTABLE:
		break;
	default:
		return -1;
	}
	if (depth > 64 || !lua_checkstack(L, 4))
		return -1;
	if (is_array(L, idx) && lua_rawlen(L, idx) > 0) {
		size_t n = lua_rawlen(L, idx);

		jb_putc(b, '[');
		for (size_t i = 1; i <= n; i++) {
			if (i > 1)
				jb_putc(b, ',');
			lua_rawgeti(L, idx, (lua_Integer)i);
			if (jb_lua(b, L, -1, depth + 1) != 0) {
				lua_pop(L, 1);
				return -1;
			}
			lua_pop(L, 1);
		}
		jb_putc(b, ']');
		return 0;
	}
	{
		int first = 1;

		jb_putc(b, '{');
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			size_t n;
			const char *k;

			if (lua_type(L, -2) == LUA_TSTRING) {
				k = lua_tolstring(L, -2, &n);
			} else if (lua_type(L, -2) == LUA_TNUMBER) {
				lua_pushvalue(L, -2);
				k = lua_tolstring(L, -1, &n);
				lua_pop(L, 1);   /* the number key keeps no string: copy now */
				k = NULL;
			} else {
				lua_pop(L, 1);
				continue;
			}
			if (!first)
				jb_putc(b, ',');
			first = 0;
			if (k) {
				jb_str(b, k, n);
			} else {
				lua_pushvalue(L, -2);
				k = lua_tolstring(L, -1, &n);
				jb_str(b, k, n);
				lua_pop(L, 1);
			}
			jb_putc(b, ':');
			if (jb_lua(b, L, -1, depth + 1) != 0) {
				lua_pop(L, 2);
				return -1;
			}
			lua_pop(L, 1);
		}
		jb_putc(b, '}');
	}
	return 0;
}
