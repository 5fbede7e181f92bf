/*
 * codec_enc.c - a Lua table -> the SOAP Body's content, per the schema
 * model (see soap.h for the pinned Lua mapping).
 *
 * The walk follows the schema, not the table: each particle of a complex
 * type looks its key up (raw access only: no metamethod of a user's table
 * runs here), so children come out in schema order whatever the table's
 * order, and afterwards every key of the table must be one the type knows
 * (a typo must not vanish). Values are formatted so they parse back to the
 * same Lua value (%.17g at most, INF/-INF/NaN).
 *
 * Namespaces: a qualified name always has a prefix (ns1, ns2, ... declared
 * on the element where first needed, in scope for its subtree); the
 * default namespace is never declared, so an unqualified element (el->ns
 * NULL) is in no namespace; the top elements also say xmlns="" in case an
 * envelope declared one.
 *
 * Errors name the field path ("account.owners[2].name: expected an
 * integer, got string \"x\""); the first error stops the walk. Nothing
 * here raises a Lua error, short of Lua running out of memory for a key
 * string.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>

#include "soap.h"
#include "codec.h"

int sc_enc_fail(struct sc_enc *e, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (e->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sc_path_error(&e->path, msg, e->err, e->errlen);
	e->failed = 1;
	return -1;
}

int sc_enc_oom(struct sc_enc *e)
{
	if (!e->failed)
		snprintf(e->err, e->errlen, "out of memory");
	e->failed = 1;
	return -1;
}

int sc_enc_fail_type(struct sc_enc *e, int idx, const char *expected)
{
	char got[80];

	sc_describe(e->L, idx, got, sizeof(got));
	return sc_enc_fail(e, "expected %s, got %s", expected, got);
}

/* ---- namespaces and names --------------------------------------------------------- */

/* The prefix number for URI in scope, declaring it (written by the caller
 * as xmlns:nsN inside the start tag being written) when *FRESH. */
static int ns_use(struct sc_enc *e, const char *uri, int *fresh)
{
	*fresh = 0;
	for (unsigned i = e->nns; i-- > 0;)
		if (strcmp(e->ns[i], uri) == 0)
			return (int)e->num[i];
	if (e->nns == SC_MAX_NS)
		return sc_enc_fail(e, "more than %d namespaces in scope", SC_MAX_NS);
	e->ns[e->nns] = uri;
	/* the scope is a stack: its depth numbers the prefix, unique in scope */
	e->num[e->nns] = e->nns + 1;
	e->lvl[e->nns] = e->depth;
	e->nns++;
	*fresh = 1;
	return (int)e->num[e->nns - 1];
}

static void ns_pop(struct sc_enc *e)
{
	while (e->nns > 0 && e->lvl[e->nns - 1] >= e->depth)
		e->nns--;
}

/* Writes "<name" (qualified: "<nsN:name xmlns:nsN=..."); the same name is
 * written again by close_tag with the prefix returned (0: none). */
static int open_tag(struct sc_enc *e, const char *ns, const char *name)
{
	int fresh, n = 0;

	if (ns && *ns) {
		if ((n = ns_use(e, ns, &fresh)) < 0)
			return -1;
		sbuf_printf(e->b, "<ns%d:%s", n, name);
		if (fresh) {
			sbuf_printf(e->b, " xmlns:ns%d=\"", n);
			sbuf_put_xml(e->b, ns, strlen(ns));
			sbuf_putc(e->b, '"');
		}
	} else {
		sbuf_printf(e->b, "<%s", name);
		if (e->depth == 1)
			sbuf_puts(e->b, " xmlns=\"\"");
	}
	return n;
}

static void close_tag(struct sc_enc *e, int n, const char *name)
{
	if (n > 0)
		sbuf_printf(e->b, "</ns%d:%s>", n, name);
	else
		sbuf_printf(e->b, "</%s>", name);
}

/* ---- simple values -------------------------------------------------------------- */

/* An integer-typed value into OUT: Lua integers, and floats that are whole;
 * range-checked against the built-in type's range. */
static int fmt_integer(struct sc_enc *e, const struct xs_type *t, int idx, char *out, size_t cap)
{
	lua_State *L = e->L;
	int unbounded = sc_int_unbounded(t);
	int64_t lo = t->int_lo, hi = t->int_hi;
	int64_t v;

	if (lua_type(L, idx) != LUA_TNUMBER)
		return sc_enc_fail_type(e, idx, "an integer");
	if (lo == 0 && hi == 0 && !t->int_unsigned_long)
		lo = INT64_MIN, hi = INT64_MAX;   /* a model with no range: xsd:integer */
	if (t->int_unsigned_long)
		lo = 0;
	if (lua_isinteger(L, idx)) {
		v = lua_tointeger(L, idx);
	} else {
		double d = lua_tonumber(L, idx);

		if (!isfinite(d) || d != floor(d))
			return sc_enc_fail_type(e, idx, "an integer");
		if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
			v = (int64_t)d;
		} else {
			/* beyond int64: unsignedLong up to 2^64-1, xsd:integer (and the
			 * unbounded ones derived from it) any size */
			int ok = t->int_unsigned_long ? d > 0 && d < 18446744073709551616.0
			         : unbounded ? (d > 0 ? hi == INT64_MAX : lo == INT64_MIN) : 0;

			if (!ok)
				return sc_enc_fail(e, "%.17g is out of range", d);
			snprintf(out, cap, "%.0f", d);
			return 0;
		}
	}
	if (v < lo || (!t->int_unsigned_long && v > hi))
		return sc_enc_fail(e, "%lld is out of range (%lld..%lld)", (long long)v, (long long)lo,
		            (long long)hi);
	snprintf(out, cap, "%lld", (long long)v);
	return 0;
}

/* Writes TEXT (N bytes) as XML character data, refusing what XML cannot
 * carry. */
static int put_text(struct sc_enc *e, const char *text, size_t n)
{
	size_t i, run = 0;

	if (!sc_utf8_valid((const unsigned char *)text, n))
		return sc_enc_fail(e, "not valid UTF-8");
	/* in an attribute value a parser turns a raw tab or LF into a space */
	for (i = 0; e->in_attr && i < n; i++) {
		if (text[i] != '\n' && text[i] != '\t')
			continue;
		if (sbuf_put_xml(e->b, text + run, i - run) != 0)
			break;
		sbuf_puts(e->b, text[i] == '\n' ? "&#10;" : "&#9;");
		run = i + 1;
	}
	if ((i < n && e->in_attr) || sbuf_put_xml(e->b, text + run, n - run) != 0)
		return e->b->oom ? sc_enc_oom(e) : sc_enc_fail(e, "contains a control character XML cannot carry");
	return 0;
}

static int put_binary(struct sc_enc *e, const struct xs_type *t, int idx)
{
	size_t n, out_n;
	const char *s;
	char *x;

	if (lua_type(e->L, idx) != LUA_TSTRING)
		return sc_enc_fail_type(e, idx, "a string (bytes)");
	s = lua_tolstring(e->L, idx, &n);
	if ((t->f.length >= 0 && (int64_t)n != t->f.length) ||
	    (t->f.min_length >= 0 && (int64_t)n < t->f.min_length) ||
	    (t->f.max_length >= 0 && (int64_t)n > t->f.max_length))
		return sc_enc_fail(e, "%zu bytes: not within the type's length limits", n);
	out_n = t->prim == XS_P_BASE64 ? sp_b64_len(n) + 1 : n * 2 + 1;
	if (!(x = malloc(out_n)))
		return sc_enc_oom(e);
	if (t->prim == XS_P_BASE64) {
		sp_b64_encode((const unsigned char *)s, n, x);
	} else {
		static const char hex[] = "0123456789ABCDEF";

		for (size_t i = 0; i < n; i++) {
			x[2 * i] = hex[(unsigned char)s[i] >> 4];
			x[2 * i + 1] = hex[(unsigned char)s[i] & 15];
		}
		x[2 * n] = '\0';
	}
	sbuf_puts(e->b, x);
	free(x);
	return e->b->oom ? sc_enc_oom(e) : 0;
}


/* xsd:list: a sequence of items (or one string as it is). */
static int put_list(struct sc_enc *e, const struct xs_type *t, int idx)
{
	lua_State *L = e->L;
	lua_Integer n;

	if (lua_type(L, idx) != LUA_TTABLE)
		return sc_enc_simple(e, t->list_item, idx);   /* "a b c" or a single item */
	n = (lua_Integer)lua_rawlen(L, idx);
	for (lua_Integer i = 1; i <= n; i++) {
		int r;

		lua_rawgeti(L, idx, i);
		sc_path_index(&e->path, (unsigned long)i);
		if (i > 1)
			sbuf_putc(e->b, ' ');
		r = sc_enc_simple(e, t->list_item, lua_gettop(L));
		sc_path_pop(&e->path);
		lua_pop(L, 1);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* An xsd:decimal lexical form: [+-] digits [. digits]. */
static int decimal_ok(const char *s)
{
	int digits = 0;

	if (*s == '+' || *s == '-')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits++;
	return digits && !*s;
}

/* Writes the Lua value at IDX as the text of the simple type T. */
int sc_enc_simple(struct sc_enc *e, const struct xs_type *t, int idx)
{
	lua_State *L = e->L;
	char num[512];
	const char *text = num, *why;
	size_t n;
	int ty = lua_type(L, idx);

	if (t->list_item && t->list_item != t)
		return put_list(e, t, idx);
	switch (t->prim) {
	case XS_P_BASE64:
	case XS_P_HEX:
		return put_binary(e, t, idx);
	case XS_P_BOOLEAN:
		if (ty == LUA_TBOOLEAN) {
			text = lua_toboolean(L, idx) ? "true" : "false";
		} else if (ty == LUA_TSTRING) {
			text = lua_tostring(L, idx);
			if (strcmp(text, "true") && strcmp(text, "false") && strcmp(text, "1") &&
			    strcmp(text, "0"))
				return sc_enc_fail_type(e, idx, "a boolean");
		} else {
			return sc_enc_fail_type(e, idx, "a boolean");
		}
		break;
	case XS_P_INTEGER:
		if (fmt_integer(e, t, idx, num, sizeof(num)) < 0)
			return -1;
		break;
	case XS_P_DECIMAL:
	case XS_P_FLOAT:
	case XS_P_DOUBLE:
		if (ty == LUA_TNUMBER && lua_isinteger(L, idx)) {
			snprintf(num, sizeof(num), "%lld", (long long)lua_tointeger(L, idx));
		} else if (ty == LUA_TNUMBER) {
			double d = lua_tonumber(L, idx);

			if (t->prim == XS_P_DECIMAL && !isfinite(d))
				return sc_enc_fail(e, "xsd:decimal has no INF or NaN");
			if (t->prim == XS_P_DECIMAL)
				sc_fmt_decimal(d, num, sizeof(num));
			else
				sc_fmt_double(d, num, sizeof(num));
		} else if (ty == LUA_TSTRING && t->prim == XS_P_DECIMAL &&
		           decimal_ok(lua_tostring(L, idx))) {
			text = lua_tostring(L, idx);   /* digits beyond a double's, kept */
		} else {
			return sc_enc_fail_type(e, idx, "a number");
		}
		break;
	default:   /* strings, dates, durations, QNames, URIs, anySimpleType */
		if (ty == LUA_TSTRING) {
			text = lua_tostring(L, idx);
		} else if (ty == LUA_TNUMBER && lua_isinteger(L, idx)) {
			snprintf(num, sizeof(num), "%lld", (long long)lua_tointeger(L, idx));
		} else if (ty == LUA_TNUMBER) {
			sc_fmt_double(lua_tonumber(L, idx), num, sizeof(num));
		} else if (ty == LUA_TBOOLEAN && t->prim == XS_P_ANY) {
			text = lua_toboolean(L, idx) ? "true" : "false";
		} else {
			return sc_enc_fail_type(e, idx, "a string");
		}
	}
	n = text == num || ty != LUA_TSTRING ? strlen(text) : lua_rawlen(L, idx);
	if ((why = xs_check_value(t, text, n)) != NULL) {
		char got[80];

		sc_describe(L, idx, got, sizeof(got));
		return sc_enc_fail(e, "%s: %s", got, why);
	}
	return put_text(e, text, n);
}

/* ---- schema-typed content --------------------------------------------------------- */

static int put_element(struct sc_enc *e, const struct xs_element *el, int idx, unsigned long i);

/* The keys of the table at IDX the type T does not know: an error naming
 * the first (in sorted order, so the message is stable), unless T has a
 * wildcard (then sc_enc_generic_content writes them); a number key is
 * one always. */
static int check_keys(struct sc_enc *e, const struct xs_type *t, int idx)
{
	lua_State *L = e->L;
	const char *bad = NULL;
	int badnum = 0;
	lua_Integer badi = 0;
	int wild = t->content && sc_particle_has_any(t->content);

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING) {
			if (!badnum && lua_isinteger(L, -1))
				badi = lua_tointeger(L, -1);
			badnum = 1;
		} else if (!wild && !sc_type_has_key(t, lua_tostring(L, -1))) {
			const char *k = lua_tostring(L, -1);

			if (!bad || strcmp(k, bad) < 0)
				bad = k;   /* the table holds the string */
		}
	}
	if (bad) {
		sc_path_field(&e->path, bad);
		return sc_enc_fail(e, "unknown field (the schema has no element or attribute of that name)");
	}
	if (badnum)
		return sc_enc_fail(e, "expected a table with named fields, got a sequence (key %lld)",
		            (long long)badi);
	return 0;
}

/* 1 when some element under P has a non-nil key in the table at IDX. */
static int particle_present(struct sc_enc *e, const struct xs_particle *p, int idx)
{
	lua_State *L = e->L;
	int t;

	switch (p->kind) {
	case XS_ELEMENT:
		lua_pushstring(L, p->el->name);
		t = lua_rawget(L, idx);
		lua_pop(L, 1);
		return t != LUA_TNIL;
	case XS_SEQUENCE:
	case XS_CHOICE:
	case XS_ALL:
		for (unsigned i = 0; i < p->nkids; i++)
			if (particle_present(e, p->kids[i], idx))
				return 1;
		return 0;
	default:
		return 0;
	}
}

/* The elements of P, named in a message: "a, b, c". */
static void particle_names(const struct xs_particle *p, char *out, size_t cap)
{
	size_t o = strlen(out);

	if (p->kind == XS_ELEMENT) {
		snprintf(out + o, cap - o, "%s%s", o ? ", " : "", p->el->name);
		return;
	}
	for (unsigned i = 0; i < p->nkids; i++)
		particle_names(p->kids[i], out, cap);
}

/* One element particle: its key's value, repeated per maxOccurs. */
static int put_element_particle(struct sc_enc *e, const struct xs_particle *p, int idx,
                                int rep)
{
	lua_State *L = e->L;
	const struct xs_element *el = p->el;
	uint32_t max = rep ? XS_UNBOUNDED : p->max;
	int v, r = 0;

	lua_pushstring(L, el->name);
	lua_rawget(L, idx);
	v = lua_gettop(L);
	if (lua_isnil(L, v)) {
		if (p->min > 0) {
			sc_path_field(&e->path, el->name);
			r = sc_enc_fail(e, "missing (required)");
			sc_path_pop(&e->path);
		}
	} else if (max > 1 && lua_type(L, v) == LUA_TTABLE &&
	           (el->type->kind != XS_COMPLEX || sc_is_sequence(L, v) || sc_is_empty(L, v))) {
		lua_Integer n = (lua_Integer)lua_rawlen(L, v);

		sc_path_field(&e->path, el->name);
		if ((uint64_t)n < p->min)
			r = sc_enc_fail(e, "expected at least %u items, got %lld", p->min, (long long)n);
		else if (max != XS_UNBOUNDED && (uint64_t)n > max)
			r = sc_enc_fail(e, "expected at most %u items, got %lld", max, (long long)n);
		sc_path_pop(&e->path);
		for (lua_Integer i = 1; i <= n && r == 0; i++) {
			lua_rawgeti(L, v, i);
			r = put_element(e, el, lua_gettop(L), (unsigned long)i);
			lua_pop(L, 1);
		}
	} else {
		if (p->min > 1) {
			sc_path_field(&e->path, el->name);
			r = sc_enc_fail(e, "expected at least %u items, got 1", p->min);
			sc_path_pop(&e->path);
		} else {
			r = put_element(e, el, v, 0);
		}
	}
	lua_pop(L, 1);
	return r;
}

/* Writes the children P describes from the table at IDX, in schema order.
 * REP: a group around P repeats (maxOccurs > 1): its elements take
 * sequences, and a repeating choice writes every branch given (branch by
 * branch: the interleaving of a Lua table's keys is not known). */
static int put_particle(struct sc_enc *e, const struct xs_particle *p, int idx, int rep)
{
	switch (p->kind) {
	case XS_ELEMENT:
		return put_element_particle(e, p, idx, rep);
	case XS_SEQUENCE:
	case XS_ALL:
		/* an optional group none of whose elements is given: absent */
		if (p->min == 0 && !particle_present(e, p, idx))
			return 0;
		for (unsigned i = 0; i < p->nkids; i++)
			if (put_particle(e, p->kids[i], idx, rep || p->max > 1) < 0)
				return -1;
		return 0;
	case XS_CHOICE: {
		const struct xs_particle *chosen = NULL;

		rep = rep || p->max > 1;
		for (unsigned i = 0; i < p->nkids; i++) {
			if (!particle_present(e, p->kids[i], idx))
				continue;
			if (rep) {
				if (put_particle(e, p->kids[i], idx, 1) < 0)
					return -1;
				chosen = p->kids[i];
				continue;
			}
			if (chosen) {
				char a[128] = "", b[128] = "";

				particle_names(chosen, a, sizeof(a));
				particle_names(p->kids[i], b, sizeof(b));
				return sc_enc_fail(e, "%s and %s are alternatives (xsd:choice): give only one",
				                   a, b);
			}
			chosen = p->kids[i];
		}
		if (chosen)
			return rep ? 0 : put_particle(e, chosen, idx, 0);
		if (p->min == 0)
			return 0;
		/* none given: fine when a branch may be empty */
		for (unsigned i = 0; i < p->nkids; i++)
			if (sc_particle_emptiable(p->kids[i]))
				return 0;
		{
			char names[200] = "";

			particle_names(p, names, sizeof(names));
			return sc_enc_fail(e, "one of %s is required (xsd:choice)", names);
		}
	}
	case XS_ANY:
		return 0;   /* unknown keys: written after the content (put_complex) */
	}
	return 0;
}

/* The attributes of T from the table at IDX, inside the open start tag. */
static int put_attrs(struct sc_enc *e, const struct xs_type *t, int idx)
{
	lua_State *L = e->L;

	for (unsigned i = 0; i < t->nattrs; i++) {
		const struct xs_attr *a = t->attrs[i];
		char key[256];
		int n = 0, fresh = 0, r = 0;

		snprintf(key, sizeof(key), "@%s", a->name);
		lua_pushstring(L, key);
		if (lua_rawget(L, idx) == LUA_TNIL && !(t->content && sc_particle_has(t->content, a->name))) {
			lua_pop(L, 1);
			lua_pushstring(L, a->name);
			lua_rawget(L, idx);
		}
		sc_path_field(&e->path, key);
		if (lua_isnil(L, -1)) {
			if (a->required)
				r = sc_enc_fail(e, "missing (required attribute)");
		} else if (SL_IS_NULL(L, -1)) {
			r = sc_enc_fail(e, "an attribute cannot be soap.null");
		} else {
			if (a->ns && *a->ns && (n = ns_use(e, a->ns, &fresh)) < 0) {
				r = -1;
			} else {
				if (fresh) {
					sbuf_printf(e->b, " xmlns:ns%d=\"", n);
					sbuf_put_xml(e->b, a->ns, strlen(a->ns));
					sbuf_putc(e->b, '"');
				}
				if (n)
					sbuf_printf(e->b, " ns%d:%s=\"", n, a->name);
				else
					sbuf_printf(e->b, " %s=\"", a->name);
				e->in_attr = 1;
				r = sc_enc_simple(e, a->type ? a->type : &sc_any_simple, lua_gettop(L));
				e->in_attr = 0;
				sbuf_putc(e->b, '"');
			}
		}
		sc_path_pop(&e->path);
		lua_pop(L, 1);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* The rest of an element of complex type T from the value at IDX (a
 * table; a scalar is the "$value" of a simpleContent type): attributes,
 * then ">", the content, and nothing more (the caller closes). */
static int put_complex(struct sc_enc *e, const struct xs_type *t, int idx)
{
	lua_State *L = e->L;

	if (lua_type(L, idx) != LUA_TTABLE) {
		if (t->simple_content) {
			for (unsigned i = 0; i < t->nattrs; i++)
				if (t->attrs[i]->required)
					return sc_enc_fail_type(e, idx, "a table (the type has required attributes)");
			sbuf_putc(e->b, '>');
			return sc_enc_simple(e, t->simple_content, idx);
		}
		return sc_enc_fail_type(e, idx, "a table");
	}
	if (check_keys(e, t, idx) < 0 || put_attrs(e, t, idx) < 0)
		return -1;
	sbuf_putc(e->b, '>');
	if (t->simple_content || t->mixed) {
		lua_pushstring(L, "$value");
		lua_rawget(L, idx);
		if (!lua_isnil(L, -1)) {
			sc_path_field(&e->path, "$value");
			sc_enc_simple(e, t->simple_content ? t->simple_content : &sc_any_simple,
			           lua_gettop(L));
			sc_path_pop(&e->path);
		}
		lua_pop(L, 1);
		if (e->failed)
			return -1;
	}
	if (t->content && put_particle(e, t->content, idx, 0) < 0)
		return -1;
	if (t->content && sc_particle_has_any(t->content))
		return sc_enc_generic_content(e, idx, t, 0);
	return 0;
}

/* <el ...>value</el> for the value at IDX (one occurrence). */
static int put_element_as(struct sc_enc *e, const char *ns, const char *name,
                          const struct xs_type *t, int nillable, int idx)
{
	lua_State *L = e->L;
	int n, r = 0;

	if (e->depth >= SC_MAX_DEPTH)
		return sc_enc_fail(e, "nested deeper than %d levels", SC_MAX_DEPTH);
	if (!lua_checkstack(L, 8))
		return sc_enc_fail(e, "out of Lua stack");
	e->depth++;
	if ((n = open_tag(e, ns, name)) < 0) {
		r = -1;
	} else if (SL_IS_NULL(L, idx)) {
		if (!nillable)
			r = sc_enc_fail(e, "cannot be soap.null (the element is not nillable)");
		else
			sbuf_printf(e->b, " xmlns:xsi=\"%s\" xsi:nil=\"true\"/>", XSI_NS);
	} else {
		if (sc_type_is_any(t)) {
			if (lua_type(L, idx) == LUA_TTABLE) {
				r = sc_enc_generic_content(e, idx, NULL, 1);
			} else {
				sbuf_putc(e->b, '>');
				r = sc_enc_simple(e, &sc_any_simple, idx);
			}
		} else if (t->kind == XS_COMPLEX) {
			r = put_complex(e, t, idx);
		} else {
			sbuf_putc(e->b, '>');
			r = sc_enc_simple(e, t, idx);
		}
		if (r == 0)
			close_tag(e, n, name);
	}
	ns_pop(e);
	e->depth--;
	if (r == 0 && e->b->oom)
		return sc_enc_oom(e);
	return r < 0 || e->failed ? -1 : 0;
}

/* One occurrence of EL; I: its 1-based index in a sequence, else 0. */
static int put_element(struct sc_enc *e, const struct xs_element *el, int idx, unsigned long i)
{
	int r;

	sc_path_field(&e->path, el->name);
	if (i)
		sc_path_index(&e->path, i);
	r = put_element_as(e, el->ns, el->name, el->type, el->nillable, idx);
	if (i)
		sc_path_pop(&e->path);
	sc_path_pop(&e->path);
	return r;
}

/* ---- messages ----------------------------------------------------------------- */

/* A part as a child of the rpc wrapper or of Body (bare): its element, or
 * an unqualified element named as the part, of its type. */
static int put_part(struct sc_enc *e, const struct wsdl_part *part, int idx, int keyed)
{
	lua_State *L = e->L;
	int v = idx, r;

	if (keyed) {
		lua_pushstring(L, part->name);
		lua_rawget(L, idx);
		v = lua_gettop(L);
	}
	if (lua_isnil(L, v)) {
		const struct xs_type *t = part->element ? part->element->type : part->type;

		if (!t || t->kind != XS_COMPLEX) {
			lua_pop(L, keyed);
			sc_path_field(&e->path, part->name);
			r = sc_enc_fail(e, "missing (required part)");
			sc_path_pop(&e->path);
			return r;
		}
		lua_newtable(L);   /* an all-optional complex part may be left out */
		lua_replace(L, v);
	}
	if (part->element) {
		if (keyed)
			sc_path_field(&e->path, part->name);
		/* the path names the part, not the element again */
		r = put_element_as(e, part->element->ns, part->element->name, part->element->type,
		                   part->element->nillable, v);
		if (keyed)
			sc_path_pop(&e->path);
	} else if (part->type) {
		sc_path_field(&e->path, part->name);
		r = put_element_as(e, NULL, part->name, part->type, 0, v);
		sc_path_pop(&e->path);
	} else {
		r = sc_enc_fail(e, "part %s has neither element nor type", part->name);
	}
	lua_pop(L, keyed);
	return r;
}

/* Keys of the table at IDX that are no part name: an error. */
static int check_part_keys(struct sc_enc *e, struct wsdl_part **parts, unsigned nparts, int idx)
{
	lua_State *L = e->L;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		unsigned i;

		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING) {
			lua_pop(L, 1);
			return sc_enc_fail(e, "expected a table keyed by part name, got a sequence");
		}
		for (i = 0; i < nparts; i++)
			if (strcmp(parts[i]->name, lua_tostring(L, -1)) == 0)
				break;
		if (i == nparts) {
			sc_path_field(&e->path, lua_tostring(L, -1));
			lua_pop(L, 1);
			return sc_enc_fail(e, "unknown field (the message has no part of that name)");
		}
	}
	return 0;
}

/* The message from the table at IDX (the walk, run protected). */
static int encode_message(struct sc_enc *e, const struct wsdl_op *op, enum sc_dir dir, int idx)
{
	lua_State *L = e->L;
	struct wsdl_part **parts = dir == SC_INPUT ? op->in_parts : op->out_parts;
	unsigned nparts = dir == SC_INPUT ? op->nin_parts : op->nout_parts;
	int r = 0;

	if (lua_isnoneornil(L, idx)) {
		lua_newtable(L);   /* no argument: an empty table */
		idx = lua_gettop(L);
	} else if (lua_type(L, idx) != LUA_TTABLE) {
		return sc_enc_fail_type(e, idx, "a table");
	}
	if (op->style == WSDL_RPC) {
		const char *name = op->name;
		char resp[256];
		int n;

		if (dir == SC_OUTPUT) {
			snprintf(resp, sizeof(resp), "%sResponse", op->name);
			name = resp;
		}
		e->depth = 1;
		if (check_part_keys(e, parts, nparts, idx) < 0 ||
		    (n = open_tag(e, op->rpc_ns, name)) < 0) {
			r = -1;
		} else {
			sbuf_putc(e->b, '>');
			for (unsigned i = 0; i < nparts && r == 0; i++)
				r = put_part(e, parts[i], idx, 1);
			if (r == 0)
				close_tag(e, n, name);
		}
	} else if (op->wrapped && nparts == 1 && parts[0]->element) {
		r = put_element_as(e, parts[0]->element->ns, parts[0]->element->name,
		                   parts[0]->element->type, 0, idx);
	} else {
		r = check_part_keys(e, parts, nparts, idx);
		for (unsigned i = 0; i < nparts && r == 0; i++)
			r = put_part(e, parts[i], idx, 1);
	}
	return r;
}

struct enc_call {
	struct sc_enc *e;
	const struct wsdl_op *op;
	enum sc_dir dir;
	int r;
};

/* [-2, +0, m]: the table (or nil) and the call's light userdata. */
static int encode_protected(lua_State *L)
{
	struct enc_call *c = lua_touserdata(L, 2);

	c->e->L = L;
	c->r = encode_message(c->e, c->op, c->dir, 1);
	return 0;
}

/* The walk runs under lua_pcall so that Lua running out of memory (a key
 * string, a table) is an error returned, not raised. */
int sc_encode(lua_State *L, int idx, const struct wsdl *w, const struct wsdl_op *op,
              enum sc_dir dir, struct sbuf *b, char *err, size_t errlen)
{
	struct sc_enc e = { .L = L, .b = b, .err = err, .errlen = errlen };
	struct enc_call c = { .e = &e, .op = op, .dir = dir, .r = -1 };
	int top = lua_gettop(L), st;

	(void)w;
	if (errlen)
		err[0] = '\0';
	idx = lua_absindex(L, idx);
	if ((dir == SC_OUTPUT && !op->out) || (dir == SC_INPUT && !op->in)) {
		snprintf(err, errlen, "operation %s has no %s message", op->name,
		         dir == SC_INPUT ? "input" : "output");
		return -1;
	}
	if (!lua_checkstack(L, 4)) {
		snprintf(err, errlen, "out of Lua stack");
		return -1;
	}
	lua_pushcfunction(L, encode_protected);
	lua_pushvalue(L, idx);
	lua_pushlightuserdata(L, &c);
	st = lua_pcall(L, 2, 0, 0);
	lua_settop(L, top);
	if (st != LUA_OK) {
		e.failed = 0;
		return sc_enc_oom(&e);
	}
	if (c.r == 0 && b->oom)
		c.r = sc_enc_oom(&e);
	return c.r < 0 || e.failed ? -1 : 0;
}
