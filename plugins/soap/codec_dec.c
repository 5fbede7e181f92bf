/*
 * codec_dec.c - the SOAP Body's content -> a Lua table, per the schema
 * model (see soap.h for the pinned Lua mapping).
 *
 * The walk follows the document: each child element is looked up among
 * the elements its parent's type declares (by namespace and local name,
 * then by local name alone: servers get elementFormDefault wrong), so an
 * order the schema does not allow is accepted. What is decided here:
 *  - unknown elements and attributes are skipped (servers add fields);
 *    under an xsd:any wildcard they are decoded generically (codec_any.c);
 *  - a value not of its type (text "abc" for an xsd:int, bad base64) is
 *    an error naming the field: the caller makes it kind "malformed";
 *  - a missing required element is an error only for SC_INPUT (the
 *    endpoint decoding a request against its own contract); answers
 *    (SC_OUTPUT) and fault details are taken as they come: real servers
 *    omit elements the schema requires (null members left out), and
 *    zeep accepts the same;
 *  - an element the schema allows once but that comes more than once is
 *    an error: the schema no longer describes the server, and keeping one
 *    of them would drop data silently;
 *  - xsi:nil="true" -> the key is absent (and the item is skipped in a
 *    sequence); every repeating element is a table, empty when none came;
 *  - xsi:type naming the declared type or one derived from it (in the
 *    WSDL's set or built in) decodes as that type; an unknown xsi:type
 *    decodes as the declared type (unknown children skipped), or
 *    generically when the declared type is anyType;
 *  - integers beyond int64 (unsignedLong, xsd:integer) become floats;
 *    integers are not range-checked against their built-in type.
 * Nesting is bounded (SC_MAX_DEPTH), and each level checks the Lua stack.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "soap.h"
#include "codec.h"

struct dec {
	lua_State *L;
	const struct wsdl *w;
	char *err;
	size_t errlen;
	int failed;
	int strict;                           /* missing required elements are errors */
	unsigned depth;
	struct sc_path path;
};

static int fail(struct dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct dec *d, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (d->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sc_path_error(&d->path, msg, d->err, d->errlen);
	d->failed = 1;
	return -1;
}

/* ---- the document ----------------------------------------------------------------- */

static xmlNodePtr first_el(xmlNodePtr n)
{
	for (n = n ? n->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static xmlNodePtr next_el(xmlNodePtr n)
{
	for (n = n->next; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static const char *el_ns(xmlNodePtr n)
{
	return n->ns && n->ns->href && *n->ns->href ? (const char *)n->ns->href : NULL;
}

/* 1 when NS (NULL or "": none) equals the element's namespace. */
static int same_ns(xmlNodePtr n, const char *ns)
{
	const char *h = el_ns(n);

	if (!ns || !*ns)
		return h == NULL;
	return h && strcmp(h, ns) == 0;
}

/* The attribute {NS}NAME's value (NS NULL: no namespace), borrowed, or NULL. */
static const char *attr(xmlNodePtr n, const char *ns, const char *name)
{
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		const char *h = a->ns && a->ns->href ? (const char *)a->ns->href : NULL;

		if (strcmp((const char *)a->name, name) != 0)
			continue;
		if (ns ? !h || strcmp(h, ns) != 0 : h != NULL)
			continue;
		if (!a->children)
			return "";
		if (a->children->type == XML_TEXT_NODE && !a->children->next)
			return (const char *)a->children->content;
		return NULL;   /* not produced by the parser we use */
	}
	return NULL;
}

static int is_nil(xmlNodePtr n)
{
	const char *v = attr(n, XSI_NS, "nil");

	return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* ---- simple values ------------------------------------------------------------------- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The text without XML whitespace at both ends: *S moved, *N shortened. */
static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s))
		(*s)++, (*n)--;
	while (*n && is_space((*s)[*n - 1]))
		(*n)--;
}

/* "abc" for messages: at most 40 bytes, cut at a character boundary. */
static void quote(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;
	char q[52];

	for (i = 0; i < n && (o < 40 || ((unsigned char)s[i] & 0xc0) == 0x80) && o < 48; i++)
		q[o++] = ((unsigned char)s[i] < 0x20 || s[i] == '"') ? '?' : s[i];
	q[o] = '\0';
	snprintf(out, cap, "\"%s%s\"", q, i < n ? "..." : "");
}

static int bad_value(struct dec *d, const char *expected, const char *s, size_t n)
{
	char q[64];

	quote(s, n, q, sizeof(q));
	return fail(d, "expected %s, got %s", expected, q);
}

/* An xsd:integer lexical form: an int64 when it fits, else a float. */
static int push_integer(struct dec *d, const char *s, size_t n)
{
	size_t i = 0;
	int neg = 0;
	uint64_t v = 0, lim;
	int big = 0;
	char buf[128];

	trim(&s, &n);
	if (n && (s[0] == '+' || s[0] == '-'))
		neg = s[0] == '-', i++;
	if (i == n)
		return bad_value(d, "an integer", s, n);
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return bad_value(d, "an integer", s, n);
		if (!big && (v > (lim - (uint64_t)(s[i] - '0')) / 10))
			big = 1;
		if (!big)
			v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (!big) {
		lua_pushinteger(d->L, neg ? (lua_Integer)(0 - v) : (lua_Integer)v);
		return 0;
	}
	if (n >= sizeof(buf)) {
		/* more than 127 digits: still a number, just a huge one */
		lua_pushnumber(d->L, neg ? -HUGE_VAL : HUGE_VAL);
		return 0;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	lua_pushnumber(d->L, strtod(buf, NULL));
	return 0;
}

/* xsd:decimal, float, double: the lexical form checked (strtod alone would
 * take "0x1p3", "inf", "nan(...)"); INF, -INF, NaN for float and double. */
static int push_number(struct dec *d, const struct xs_type *t, const char *s, size_t n)
{
	size_t i = 0, digits = 0;
	char buf[128];
	const char *what = t->prim == XS_P_DECIMAL ? "a decimal number" : "a number";

	trim(&s, &n);
	if (t->prim != XS_P_DECIMAL) {
		if (n == 3 && memcmp(s, "INF", 3) == 0)
			return lua_pushnumber(d->L, HUGE_VAL), 0;
		if (n == 4 && memcmp(s, "+INF", 4) == 0)
			return lua_pushnumber(d->L, HUGE_VAL), 0;
		if (n == 4 && memcmp(s, "-INF", 4) == 0)
			return lua_pushnumber(d->L, -HUGE_VAL), 0;
		if (n == 3 && memcmp(s, "NaN", 3) == 0)
			return lua_pushnumber(d->L, NAN), 0;
	}
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	/* an exponent: float and double; decimal too, as Java's BigDecimal writes one */
	if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t ed = 0;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			ed++;
		if (!ed)
			return bad_value(d, what, s, n);
	}
	if (!digits || i != n)
		return bad_value(d, what, s, n);
	if (n >= sizeof(buf)) {
		char *x = malloc(n + 1);

		if (!x)
			return fail(d, "out of memory");
		memcpy(x, s, n);
		x[n] = '\0';
		lua_pushnumber(d->L, strtod(x, NULL));
		free(x);
		return 0;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	lua_pushnumber(d->L, strtod(buf, NULL));
	return 0;
}

/* The bytes go straight into a Lua buffer: nothing to free if Lua raises. */
static int push_binary(struct dec *d, const struct xs_type *t, const char *s, size_t n)
{
	luaL_Buffer b;
	unsigned char *out;
	long len;

	trim(&s, &n);
	out = (unsigned char *)luaL_buffinitsize(d->L, &b, n / 4 * 3 + 4 + n / 2);
	len = t->prim == XS_P_BASE64 ? sp_b64_decode(s, n, out) : sp_hex_decode(s, n, out);
	if (len < 0) {
		luaL_pushresultsize(&b, 0);
		lua_pop(d->L, 1);
		return bad_value(d, t->prim == XS_P_BASE64 ? "base64" : "hex", s, n);
	}
	luaL_pushresultsize(&b, (size_t)len);
	return 0;
}

static int push_simple(struct dec *d, const struct xs_type *t, const char *s, size_t n);

/* xsd:list: a sequence of the items. */
static int push_list(struct dec *d, const struct xs_type *t, const char *s, size_t n)
{
	lua_Integer k = 0;
	size_t i = 0;

	lua_newtable(d->L);
	while (i < n) {
		size_t j;

		while (i < n && is_space(s[i]))
			i++;
		for (j = i; j < n && !is_space(s[j]); j++)
			;
		if (j == i)
			break;
		sc_path_index(&d->path, (unsigned long)k + 1);
		if (push_simple(d, t->list_item, s + i, j - i) < 0) {
			sc_path_pop(&d->path);
			lua_pop(d->L, 1);
			return -1;
		}
		sc_path_pop(&d->path);
		lua_rawseti(d->L, -2, ++k);
		i = j;
	}
	return 0;
}

/* Pushes the text S (N bytes) as a value of the simple type T. */
static int push_simple(struct dec *d, const struct xs_type *t, const char *s, size_t n)
{
	lua_State *L = d->L;

	if (t->list_item && t->list_item != t)
		return push_list(d, t, s, n);
	switch (t->prim) {
	case XS_P_INTEGER:
		return push_integer(d, s, n);
	case XS_P_DECIMAL:
	case XS_P_FLOAT:
	case XS_P_DOUBLE:
		return push_number(d, t, s, n);
	case XS_P_BOOLEAN:
		trim(&s, &n);
		if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 1 && s[0] == '1'))
			lua_pushboolean(L, 1);
		else if ((n == 5 && memcmp(s, "false", 5) == 0) || (n == 1 && s[0] == '0'))
			lua_pushboolean(L, 0);
		else
			return bad_value(d, "a boolean", s, n);
		return 0;
	case XS_P_BASE64:
	case XS_P_HEX:
		return push_binary(d, t, s, n);
	case XS_P_STRING:
	case XS_P_ANY:
		break;
	default:   /* dates, durations, QNames, URIs: whitespace collapses */
		trim(&s, &n);
	}
	lua_pushlstring(L, s, n);
	return 0;
}

/* ---- complex content -------------------------------------------------------------- */

static int push_value(struct dec *d, xmlNodePtr n, const struct xs_type *t);

/* An empty table for every repeating element under P: arrays are always
 * tables. [-0, +0, m] */
static void make_arrays(struct dec *d, const struct xs_particle *p, int tidx, int repeats)
{
	repeats |= p->max > 1;
	if (p->kind == XS_ELEMENT) {
		if (repeats) {
			lua_pushstring(d->L, p->el->name);
			lua_newtable(d->L);
			lua_rawset(d->L, tidx);
		}
		return;
	}
	for (unsigned i = 0; i < p->nkids; i++)
		make_arrays(d, p->kids[i], tidx, repeats);
}

/* 1 when something of P is in the table at TIDX (an empty array is nothing). */
static int present(struct dec *d, const struct xs_particle *p, int tidx)
{
	lua_State *L = d->L;
	int r;

	if (p->kind == XS_ELEMENT) {
		lua_pushstring(L, p->el->name);
		r = lua_rawget(L, tidx);
		r = r == LUA_TTABLE ? !sc_is_empty(L, lua_gettop(L)) : r != LUA_TNIL;
		lua_pop(L, 1);
		return r;
	}
	for (unsigned i = 0; i < p->nkids; i++)
		if (present(d, p->kids[i], tidx))
			return 1;
	return 0;
}

/* 1 when N has a child NAME with xsi:nil (present, though absent from the
 * table). */
static int nil_child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = first_el(n); c; c = next_el(c))
		if (strcmp((const char *)c->name, name) == 0 && is_nil(c))
			return 1;
	return 0;
}

/* Strict mode: what P requires is in the table at TIDX (or came as
 * xsi:nil among N's children). */
static int check_required(struct dec *d, const struct xs_particle *p, int tidx, xmlNodePtr n)
{
	switch (p->kind) {
	case XS_ELEMENT:
		if (p->min > 0 && !present(d, p, tidx) && !nil_child(n, p->el->name)) {
			sc_path_field(&d->path, p->el->name);
			fail(d, "missing (required)");
			sc_path_pop(&d->path);
			return -1;
		}
		return 0;
	case XS_SEQUENCE:
	case XS_ALL:
		if (p->min == 0 && !present(d, p, tidx))
			return 0;
		for (unsigned i = 0; i < p->nkids; i++)
			if (check_required(d, p->kids[i], tidx, n) < 0)
				return -1;
		return 0;
	case XS_CHOICE:
		for (unsigned i = 0; i < p->nkids; i++)
			if (present(d, p->kids[i], tidx))
				return check_required(d, p->kids[i], tidx, n);
		if (p->min > 0 && !sc_particle_emptiable(p))
			return fail(d, "missing one of the choices (xsd:choice)");
		return 0;
	default:
		return 0;
	}
}

/* A child no declared element matches, under a wildcard: KEY = its local
 * name, a second one makes a sequence. [-0, +0, m] */
static void put_wild(struct dec *d, xmlNodePtr c, int tidx, int seqidx)
{
	lua_State *L = d->L;
	const char *name = (const char *)c->name;

	sc_any_push(L, c, (int)d->depth + 1);
	lua_pushstring(L, name);
	if (lua_rawget(L, tidx) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_pushstring(L, name);
		lua_insert(L, -2);
		lua_rawset(L, tidx);
		return;
	}
	lua_pushstring(L, name);
	if (lua_rawget(L, seqidx) == LUA_TNIL) {   /* the second: {first, second} */
		lua_pop(L, 1);
		lua_createtable(L, 4, 0);
		lua_insert(L, -2);
		lua_rawseti(L, -2, 1);
		lua_pushstring(L, name);
		lua_pushvalue(L, -2);
		lua_rawset(L, seqidx);
		lua_pushstring(L, name);
		lua_pushvalue(L, -2);
		lua_rawset(L, tidx);
	} else {
		lua_remove(L, -2);
	}
	lua_insert(L, -2);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_pop(L, 1);
}

/* Pushes the table for N's attributes and children as complex type T. */
static int push_complex(struct dec *d, xmlNodePtr n, const struct xs_type *t)
{
	lua_State *L = d->L;
	int tidx, seqidx = 0, wild = t->content && sc_particle_has_any(t->content);

	lua_newtable(L);
	tidx = lua_gettop(L);
	for (unsigned i = 0; i < t->nattrs; i++) {
		const struct xs_attr *a = t->attrs[i];
		const char *v = attr(n, a->ns && *a->ns ? a->ns : NULL, a->name);
		char key[256];

		if (!v)
			continue;
		snprintf(key, sizeof(key), "%s%s",
		         t->content && sc_particle_has(t->content, a->name) ? "@" : "", a->name);
		sc_path_field(&d->path, key);
		if (push_simple(d, a->type ? a->type : &sc_any_simple, v, strlen(v)) < 0) {
			sc_path_pop(&d->path);
			lua_settop(L, tidx - 1);
			return -1;
		}
		sc_path_pop(&d->path);
		lua_setfield(L, tidx, key);   /* a fresh table: no metamethods */
	}
	if (t->simple_content || t->mixed) {
		size_t len, plen;
		const char *s, *p;

		sc_push_text(L, n);
		s = p = lua_tolstring(L, -1, &len);
		plen = len;
		trim(&p, &plen);
		if (t->simple_content || plen) {
			sc_path_field(&d->path, "$value");
			if (push_simple(d, t->simple_content ? t->simple_content : &sc_any_simple,
			                s, len) < 0) {
				sc_path_pop(&d->path);
				lua_settop(L, tidx - 1);
				return -1;
			}
			sc_path_pop(&d->path);
			lua_setfield(L, tidx, "$value");
		}
		lua_pop(L, 1);   /* the text */
	}
	if (!t->content)
		return 0;
	make_arrays(d, t->content, tidx, 0);
	if (wild) {
		lua_newtable(L);   /* the wildcard's keys made sequences */
		seqidx = lua_gettop(L);
	}
	for (xmlNodePtr c = first_el(n); c; c = next_el(c)) {
		int repeats;
		const struct xs_particle *p = sc_particle_find(t->content, el_ns(c),
		                                               (const char *)c->name, &repeats);
		const char *name;

		if (!p) {
			if (wild)
				put_wild(d, c, tidx, seqidx);
			continue;   /* unknown: servers add fields */
		}
		name = p->el->name;
		if (repeats) {
			lua_pushstring(L, name);
			if (lua_rawget(L, tidx) != LUA_TTABLE) {   /* make_arrays made it; to be sure */
				lua_pop(L, 1);
				lua_newtable(L);
				lua_pushstring(L, name);
				lua_pushvalue(L, -2);
				lua_rawset(L, tidx);
			}
			sc_path_field(&d->path, name);
			sc_path_index(&d->path, (unsigned long)lua_rawlen(L, -1) + 1);
		} else {
			sc_path_field(&d->path, name);
			lua_pushstring(L, name);
			if (lua_rawget(L, tidx) != LUA_TNIL) {
				fail(d, "more than one, but the schema allows one");
				sc_path_pop(&d->path);
				lua_settop(L, tidx - 1);
				return -1;
			}
			lua_pop(L, 1);
		}
		if (push_value(d, c, p->el->type) < 0) {
			if (repeats)
				sc_path_pop(&d->path);
			sc_path_pop(&d->path);
			lua_settop(L, tidx - 1);
			return -1;
		}
		if (repeats) {
			sc_path_pop(&d->path);
			if (lua_isnil(L, -1))
				lua_pop(L, 1);
			else
				lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
			lua_pop(L, 1);
		} else {
			lua_setfield(L, tidx, name);   /* nil: stays absent */
		}
		sc_path_pop(&d->path);
	}
	if (seqidx)
		lua_pop(L, 1);
	if (d->strict && check_required(d, t->content, tidx, n) < 0) {
		lua_settop(L, tidx - 1);
		return -1;
	}
	return 0;
}

/* Pushes element N's value as type T (nil for xsi:nil). */
static int push_value(struct dec *d, xmlNodePtr n, const struct xs_type *t)
{
	lua_State *L = d->L;
	const char *xt;
	int r;

	if (is_nil(n)) {
		lua_pushnil(L);
		return 0;
	}
	if (d->depth >= SC_MAX_DEPTH)
		return fail(d, "nested deeper than %d levels", SC_MAX_DEPTH);
	if (!lua_checkstack(L, 16))
		return fail(d, "out of Lua stack");
	if ((xt = attr(n, XSI_NS, "type")) != NULL) {
		const struct xs_type *x = sc_xsi_type(d->w, n, t, xt);

		if (x)
			t = x;
	}
	if (sc_type_is_any(t)) {
		sc_any_push(L, n, (int)d->depth);
		return 0;
	}
	d->depth++;
	if (t->kind == XS_COMPLEX) {
		r = push_complex(d, n, t);
	} else {
		size_t len;
		const char *s;

		sc_push_text(L, n);
		s = lua_tolstring(L, -1, &len);
		if ((r = push_simple(d, t, s, len)) < 0)
			lua_pop(L, 1);
		else
			lua_remove(L, -2);   /* the text */
	}
	d->depth--;
	return r;
}

/* ---- messages ------------------------------------------------------------------- */

static void describe_el(xmlNodePtr n, char *out, size_t cap)
{
	if (!n)
		snprintf(out, cap, "nothing");
	else if (el_ns(n))
		snprintf(out, cap, "{%.100s}%.100s", el_ns(n), (const char *)n->name);
	else
		snprintf(out, cap, "%.100s", (const char *)n->name);
}

static int wrong_element(struct dec *d, const char *ns, const char *name, xmlNodePtr got)
{
	char g[220];

	describe_el(got, g, sizeof(g));
	if (ns && *ns)
		return fail(d, "expected element {%.100s}%.100s, got %s", ns, name, g);
	return fail(d, "expected element %.100s, got %s", name, g);
}

/* The child of PARENT named {NS}NAME (by local name alone when none has the
 * namespace), or NULL. */
static xmlNodePtr child_named(xmlNodePtr parent, const char *ns, const char *name)
{
	xmlNodePtr c, loose = NULL;

	for (c = first_el(parent); c; c = next_el(c)) {
		if (strcmp((const char *)c->name, name) != 0)
			continue;
		if (same_ns(c, ns))
			return c;
		if (!loose)
			loose = c;
	}
	return loose;
}

/* The message's parts as children of PARENT, into the table at the top:
 * each keyed by part name. */
static int decode_parts(struct dec *d, xmlNodePtr parent, struct wsdl_part **parts,
                        unsigned nparts)
{
	for (unsigned i = 0; i < nparts; i++) {
		const struct wsdl_part *part = parts[i];
		const struct xs_element *e = part->element;
		/* an element part by its element's name; a type part (rpc) by the
		 * part's name, unqualified */
		xmlNodePtr c = e ? child_named(parent, e->ns, e->name)
		                 : child_named(parent, NULL, part->name);

		sc_path_field(&d->path, part->name);
		if (!c) {
			int r = d->strict ? fail(d, "missing (required part)") : 0;

			sc_path_pop(&d->path);
			if (r < 0)
				return -1;
			continue;
		}
		if (push_value(d, c, e ? e->type : part->type) < 0) {
			sc_path_pop(&d->path);
			return -1;
		}
		sc_path_pop(&d->path);
		lua_setfield(d->L, -2, part->name);
	}
	return 0;
}

/* Pushes the message's table: 1, or -1 with d->err (the walk, run protected). */
static int decode_message(struct dec *d, xmlNodePtr body, const struct wsdl_op *op,
                          enum sc_dir dir)
{
	lua_State *L = d->L;
	struct wsdl_part **parts = dir == SC_INPUT ? op->in_parts : op->out_parts;
	unsigned nparts = dir == SC_INPUT ? op->nin_parts : op->nout_parts;
	xmlNodePtr first = first_el(body);
	int r = 0;

	if (op->style == WSDL_RPC) {
		char name[256];

		snprintf(name, sizeof(name), "%s%s", op->name, dir == SC_OUTPUT ? "Response" : "");
		if (!first || strcmp((const char *)first->name, name) != 0 ||
		    !same_ns(first, op->rpc_ns))
			return wrong_element(d, op->rpc_ns, name, first);
		lua_newtable(L);
		r = decode_parts(d, first, parts, nparts);
	} else if (op->wrapped && nparts == 1 && parts[0]->element) {
		const struct xs_element *e = parts[0]->element;

		if (!first || strcmp((const char *)first->name, e->name) != 0 || !same_ns(first, e->ns))
			return wrong_element(d, e->ns, e->name, first);
		if ((r = push_value(d, first, e->type)) == 0 && lua_isnil(L, -1)) {
			lua_pop(L, 1);   /* a nil wrapper: nothing in it */
			lua_newtable(L);
		}
	} else {
		lua_newtable(L);
		r = decode_parts(d, body, parts, nparts);
	}
	return r < 0 || d->failed ? -1 : 1;
}

struct dec_call {
	struct dec *d;
	xmlNodePtr node;
	const struct wsdl_op *op;             /* NULL: NODE as the element EL */
	const struct xs_element *el;
	enum sc_dir dir;
	int r;
};

/* [-1, +(0|1), m]: the call's light userdata; pushes the result. */
static int decode_protected(lua_State *L)
{
	struct dec_call *c = lua_touserdata(L, 1);

	c->d->L = L;
	if (c->op) {
		c->r = decode_message(c->d, c->node, c->op, c->dir);
	} else {
		sc_path_field(&c->d->path, c->el->name);
		c->r = push_value(c->d, c->node, c->el->type) < 0 || c->d->failed ? -1 : 1;
	}
	return c->r == 1 ? 1 : 0;
}

/* Runs C under lua_pcall, so that Lua running out of memory is an error
 * returned, not raised: 1 and the value pushed, or -1 and nothing. */
static int decode_call(lua_State *L, struct dec_call *c)
{
	int top = lua_gettop(L), st;

	if (c->d->errlen)
		c->d->err[0] = '\0';
	if (!lua_checkstack(L, 4)) {
		snprintf(c->d->err, c->d->errlen, "out of Lua stack");
		return -1;
	}
	lua_pushcfunction(L, decode_protected);
	lua_pushlightuserdata(L, c);
	st = lua_pcall(L, 1, 1, 0);
	if (st != LUA_OK || c->r != 1) {
		if (st != LUA_OK)
			snprintf(c->d->err, c->d->errlen, "%s",
			         st == LUA_ERRMEM ? "out of memory" : "Lua error while decoding");
		lua_settop(L, top);
		return -1;
	}
	return 1;
}

int sc_decode(lua_State *L, xmlNodePtr body, const struct wsdl *w, const struct wsdl_op *op,
              enum sc_dir dir, char *err, size_t errlen)
{
	struct dec d = { .L = L, .w = w, .err = err, .errlen = errlen,
	                 .strict = dir == SC_INPUT };
	struct dec_call c = { .d = &d, .node = body, .op = op, .dir = dir };

	return decode_call(L, &c);
}

int sc_decode_element(lua_State *L, xmlNodePtr el, const struct wsdl *w,
                      const struct xs_element *e, char *err, size_t errlen)
{
	struct dec d = { .L = L, .w = w, .err = err, .errlen = errlen };
	struct dec_call c = { .d = &d, .node = el, .el = e };

	return decode_call(L, &c);
}
