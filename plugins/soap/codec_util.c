/*
 * codec_util.c - what the codec's files share (codec.h): error paths, the
 * questions the codec asks of the schema model, and value formatting; and
 * sc_match_op, which operation a request's Body calls.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>

#include "soap.h"
#include "codec.h"

/* ---- the error path ---------------------------------------------------------------- */

static void path_push(struct sc_path *p, const char *fmt, const char *s, unsigned long i)
{
	int n;

	if (p->n == sizeof(p->mark) / sizeof(p->mark[0])) {
		p->over++;
		return;
	}
	p->mark[p->n++] = p->len;
	if (p->len >= sizeof(p->buf) - 1)
		return;
	n = s ? snprintf(p->buf + p->len, sizeof(p->buf) - p->len, fmt, s)
	      : snprintf(p->buf + p->len, sizeof(p->buf) - p->len, fmt, i);
	if (n > 0)
		p->len += (size_t)n;
	if (p->len > sizeof(p->buf) - 1)
		p->len = sizeof(p->buf) - 1;
}

void sc_path_field(struct sc_path *p, const char *name)
{
	path_push(p, p->len ? ".%s" : "%s", name, 0);
}

void sc_path_index(struct sc_path *p, unsigned long i)
{
	path_push(p, "[%lu]", NULL, i);
}

void sc_path_pop(struct sc_path *p)
{
	if (p->over) {
		p->over--;
		return;
	}
	if (p->n == 0)
		return;
	p->len = p->mark[--p->n];
	p->buf[p->len] = '\0';
}

void sc_path_error(const struct sc_path *p, const char *msg, char *err, size_t errlen)
{
	size_t need = strlen(msg) + 3, keep = p->len;

	if (!errlen)
		return;
	if (!p->len) {
		snprintf(err, errlen, "%s", msg);
		return;
	}
	/* a deep path gives way to the message: "...kid[1].kid: message" */
	if (keep + need > errlen)
		keep = errlen > need + 16 ? errlen - need - 3 : 0;
	if (keep < p->len && keep > 0)
		snprintf(err, errlen, "...%.*s: %s", (int)keep, p->buf + p->len - keep, msg);
	else if (keep < p->len)
		snprintf(err, errlen, "%s", msg);
	else
		snprintf(err, errlen, "%.*s: %s", (int)p->len, p->buf, msg);
}

/* ---- the model ----------------------------------------------------------------------- */

const struct xs_type sc_any_simple = {
	.ns = XS_NS, .name = "anySimpleType", .kind = XS_SIMPLE, .prim = XS_P_ANY,
	.f = { .length = -1, .min_length = -1, .max_length = -1, .total_digits = -1,
	       .fraction_digits = -1 },
};

int sc_type_is_any(const struct xs_type *t)
{
	if (!t)
		return 1;
	if (t->ns && t->name && strcmp(t->ns, XS_NS) == 0 && strcmp(t->name, "anyType") == 0)
		return 1;
	return t->kind == XS_COMPLEX && t->prim == XS_P_ANY && !t->content && !t->nattrs &&
	       !t->simple_content;
}

int sc_int_unbounded(const struct xs_type *t)
{
	static const char *const names[] = { "integer", "nonNegativeInteger", "positiveInteger",
	                                     "nonPositiveInteger", "negativeInteger" };

	for (unsigned hops = 0; t && hops < 64; t = t->base, hops++) {
		if (t->ns && t->name && strcmp(t->ns, XS_NS) == 0) {
			for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (strcmp(t->name, names[i]) == 0)
					return 1;
			return 0;
		}
		if (!t->base && t->int_lo == 0 && t->int_hi == 0 && !t->int_unsigned_long)
			return 1;
	}
	return 0;
}

int sc_particle_has(const struct xs_particle *p, const char *name)
{
	if (p->kind == XS_ELEMENT)
		return strcmp(p->el->name, name) == 0;
	for (unsigned i = 0; i < p->nkids; i++)
		if (sc_particle_has(p->kids[i], name))
			return 1;
	return 0;
}

static const struct xs_particle *find(const struct xs_particle *p, const char *ns,
                                      const char *name, int strict_ns, int *repeats)
{
	if (p->kind == XS_ELEMENT) {
		const char *ens = p->el->ns && *p->el->ns ? p->el->ns : NULL;

		if (strcmp(p->el->name, name) != 0)
			return NULL;
		if (strict_ns ? !(ens == ns || (ens && ns && strcmp(ens, ns) == 0)) : ens && ns)
			return NULL;
		*repeats = p->max > 1;
		return p;
	}
	for (unsigned i = 0; i < p->nkids; i++) {
		const struct xs_particle *f = find(p->kids[i], ns, name, strict_ns, repeats);

		if (f) {
			*repeats |= p->max > 1;
			return f;
		}
	}
	return NULL;
}

const struct xs_particle *sc_particle_find(const struct xs_particle *p, const char *ns,
                                           const char *name, int *repeats)
{
	const struct xs_particle *f;

	*repeats = 0;
	/* the exact name first; then, for servers that get elementFormDefault
	 * wrong, the local name when one side has no namespace */
	if ((f = find(p, ns && *ns ? ns : NULL, name, 1, repeats)))
		return f;
	*repeats = 0;
	return find(p, ns && *ns ? ns : NULL, name, 0, repeats);
}

int sc_particle_has_any(const struct xs_particle *p)
{
	if (p->kind == XS_ANY)
		return 1;
	for (unsigned i = 0; i < p->nkids; i++)
		if (sc_particle_has_any(p->kids[i]))
			return 1;
	return 0;
}

int sc_particle_emptiable(const struct xs_particle *p)
{
	if (p->min == 0)
		return 1;
	switch (p->kind) {
	case XS_SEQUENCE:
	case XS_ALL:
		for (unsigned i = 0; i < p->nkids; i++)
			if (!sc_particle_emptiable(p->kids[i]))
				return 0;
		return 1;
	case XS_CHOICE:
		for (unsigned i = 0; i < p->nkids; i++)
			if (sc_particle_emptiable(p->kids[i]))
				return 1;
		return p->nkids == 0;
	default:
		return 0;
	}
}

int sc_type_has_key(const struct xs_type *t, const char *key)
{
	if (strcmp(key, "$value") == 0)
		return t->simple_content || t->mixed;
	for (unsigned i = 0; i < t->nattrs; i++)
		if (strcmp(t->attrs[i]->name, key[0] == '@' ? key + 1 : key) == 0)
			return 1;
	return t->content && sc_particle_has(t->content, key);
}

const struct xs_type *sc_xsi_type(const struct wsdl *w, xmlNodePtr node,
                                  const struct xs_type *t, const char *qname)
{
	const char *colon = strchr(qname, ':'), *local = colon ? colon + 1 : qname;
	char prefix[128];
	xmlNsPtr ns;
	const struct xs_type *x = NULL, *b;
	unsigned hops;

	if (colon) {
		if ((size_t)(colon - qname) >= sizeof(prefix))
			return NULL;
		memcpy(prefix, qname, (size_t)(colon - qname));
		prefix[colon - qname] = '\0';
	}
	ns = xmlSearchNs(node->doc, node, colon ? (const xmlChar *)prefix : NULL);
	if (!ns || !ns->href)
		x = colon ? NULL : (w && w->xs ? xs_find_type(w->xs, NULL, local) : NULL);
	else if (strcmp((const char *)ns->href, XS_NS) == 0)
		x = xs_builtin(local);
	else if (w && w->xs)
		x = xs_find_type(w->xs, (const char *)ns->href, local);
	if (!x)
		return NULL;
	if (sc_type_is_any(t))
		return x;
	for (b = x, hops = 0; b && hops < 64; b = b->base, hops++)
		if (b == t)
			return x;
	return NULL;
}

/* ---- which operation a request calls (the endpoint) ------------------------------------ */

/* ACTION as sent, without the quotes SOAPAction wears. */
static int action_is(const char *want, const char *action)
{
	size_t n;

	if (!want || !action)
		return 0;
	n = strlen(action);
	if (n >= 2 && action[0] == '"' && action[n - 1] == '"')
		return strlen(want) == n - 2 && strncmp(want, action + 1, n - 2) == 0;
	return strcmp(want, action) == 0;
}

/* 1 when NS (NULL or "": none) is N's namespace. */
static int same_ns(xmlNodePtr n, const char *ns)
{
	const char *h = sx_ns(n);

	if (h && !*h)
		h = NULL;
	if (!ns || !*ns)
		return h == NULL;
	return h && strcmp(h, ns) == 0;
}

static int op_matches(const struct wsdl_op *op, xmlNodePtr first)
{
	if (!first)
		return 0;
	if (op->style == WSDL_RPC)
		return strcmp(op->name, (const char *)first->name) == 0 &&
		       (!op->rpc_ns || !*op->rpc_ns || same_ns(first, op->rpc_ns));
	for (unsigned i = 0; i < op->nin_parts; i++) {
		const struct wsdl_part *part = op->in_parts[i];

		if (part->element)
			return strcmp(part->element->name, (const char *)first->name) == 0 &&
			       same_ns(first, part->element->ns);
		if (strcmp(part->name, (const char *)first->name) == 0)
			return 1;
	}
	return 0;
}

const struct wsdl_op *sc_match_op(const struct wsdl_port *p, xmlNodePtr body,
                                  const char *action)
{
	xmlNodePtr first = sx_first_el(body);
	const struct wsdl_op *found = NULL;
	int has_action = action && *action && strcmp(action, "\"\"") != 0;

	for (unsigned i = 0; i < p->nops; i++) {
		const struct wsdl_op *op = &p->ops[i];

		if (!op_matches(op, first))
			continue;
		/* two operations with the same input element: the action decides */
		if (!has_action || action_is(op->action, action))
			return op;
		if (!found)
			found = op;
	}
	if (found || first)
		return found;
	/* an empty Body: an operation with no input part, by action if given */
	for (unsigned i = 0; i < p->nops; i++) {
		const struct wsdl_op *op = &p->ops[i];

		if (op->style == WSDL_RPC || op->nin_parts)
			continue;
		if (!has_action || action_is(op->action, action))
			return op;
	}
	return NULL;
}

/* ---- Lua values ------------------------------------------------------------------ */

int sc_is_sequence(lua_State *L, int idx)
{
	int t = lua_rawgeti(L, idx, 1);

	lua_pop(L, 1);
	return t != LUA_TNIL;
}

int sc_is_empty(lua_State *L, int idx)
{
	lua_pushnil(L);
	if (lua_next(L, idx)) {
		lua_pop(L, 2);
		return 0;
	}
	return 1;
}

void sc_describe(lua_State *L, int idx, char *out, size_t cap)
{
	switch (lua_type(L, idx)) {
	case LUA_TSTRING: {
		size_t n, i, o = 0;
		const char *s = lua_tolstring(L, idx, &n);
		char q[48];

		/* cut at a character boundary: the message may end up in JSON */
		for (i = 0; i < n && (o < 36 || ((unsigned char)s[i] & 0xc0) == 0x80) && o < 44; i++)
			q[o++] = ((unsigned char)s[i] < 0x20 || s[i] == '"') ? '?' : s[i];
		q[o] = '\0';
		snprintf(out, cap, "string \"%s%s\"", q, i < n ? "..." : "");
		break;
	}
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			snprintf(out, cap, "integer %lld", (long long)lua_tointeger(L, idx));
		else
			snprintf(out, cap, "number %.17g", lua_tonumber(L, idx));
		break;
	case LUA_TBOOLEAN:
		snprintf(out, cap, "boolean %s", lua_toboolean(L, idx) ? "true" : "false");
		break;
	case LUA_TLIGHTUSERDATA:
		snprintf(out, cap, "%s", SL_IS_NULL(L, idx) ? "soap.null" : "a userdata");
		break;
	default:
		snprintf(out, cap, "%s", lua_typename(L, lua_type(L, idx)));
	}
}

void sc_fmt_double(double v, char *out, size_t cap)
{
	if (isnan(v)) {
		snprintf(out, cap, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, cap, "%s", v > 0 ? "INF" : "-INF");
		return;
	}
	for (int p = 15; p <= 17; p++) {
		snprintf(out, cap, "%.*g", p, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

void sc_fmt_decimal(double v, char *out, size_t cap)
{
	char e[40], digits[24];
	int p, exp10, nd = 0;
	size_t o = 0;

	for (p = 15; p <= 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	/* e is "-d.ddddde+XX" */
	for (const char *s = e; *s && *s != 'e'; s++)
		if (*s >= '0' && *s <= '9')
			digits[nd++] = *s;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	exp10 = atoi(strchr(e, 'e') + 1);
	if (v < 0 && o < cap - 1)
		out[o++] = '-';
	if (exp10 < 0) {
		o += (size_t)snprintf(out + o, cap - o, "0.");
		for (int i = 0; i < -exp10 - 1 && o < cap - 1; i++)
			out[o++] = '0';
		for (int i = 0; i < nd && o < cap - 1; i++)
			out[o++] = digits[i];
	} else {
		for (int i = 0; i <= exp10 && o < cap - 1; i++)
			out[o++] = i < nd ? digits[i] : '0';
		if (nd > exp10 + 1 && o < cap - 1) {
			out[o++] = '.';
			for (int i = exp10 + 1; i < nd && o < cap - 1; i++)
				out[o++] = digits[i];
		}
	}
	out[o] = '\0';
}

int sc_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], need, cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07;
		else
			return 0;
		if (n - i <= need)
			return 0;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) || cp == 0xfffe || cp == 0xffff)
			return 0;
		i += need + 1;
	}
	return 1;
}
