/*
 * xsd_resolve.c - xs_set_resolve: the soap.h model built from the copies
 * xsd.c made of each schema. Every global type, element and attribute is
 * first made an empty shell (so a recursive type points at its own shell,
 * whatever the declaration order), then each is filled; a fill forces
 * only what it must read -- a base type (its content and attributes), a
 * group, an attribute group, a substitution group's head -- and a cycle
 * there is an error. Groups are inlined (the reference's occurrences on
 * the group's model group), extension content is sequence[base, own],
 * restriction facets are merged along the chain and patterns compiled.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlerror.h>
#include <libxml/xmlregexp.h>

#include "xsd_int.h"

#define MAX_BUILD_DEPTH 256 /* nested anonymous types and base chains */
#define SOAPENC_NS "http://schemas.xmlsoap.org/soap/encoding/"

static struct xs_type *type_new(struct xs_set *s)
{
	struct xs_type *t = sp_alloc(s->pool, sizeof(*t));

	if (t) {
		t->f.length = t->f.min_length = t->f.max_length = -1;
		t->f.total_digits = t->f.fraction_digits = -1;
	}
	return t;
}

static int oom(struct xs_set *s, const struct xr *x)
{
	return FAIL(s, x, "out of memory");
}

static int build_type(struct xs_set *s, struct xs_type *t, const struct xr *x);
static int fill_element(struct xs_set *s, struct gd *g);
static int particle(struct xs_set *s, const struct xr *x, struct xs_particle **out);

/* The first xsd: child of X with one of the tags (a space-separated list). */
static const struct xr *child(const struct xr *x, const char *tags)
{
	for (const struct xr *k = x->kid; k; k = k->next) {
		size_t n = strlen(k->tag);

		for (const char *p = tags; (p = strstr(p, k->tag)) != NULL; p += n)
			if ((p == tags || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
				return k;
	}
	return NULL;
}

/* Fills global G of kind TYPE, refusing a cycle through base types. */
static int fill_gtype(struct xs_set *s, struct gd *g, const struct xr *from)
{
	int rc;

	if (g->state == 2)
		return 0;
	if (g->state == 1)
		return FAIL(s, from, "type {%s}%s derives from itself (a cycle through base types)",
		            NS(g->ns), g->name);
	if (s->depth >= MAX_BUILD_DEPTH)
		return FAIL(s, from, "types nested or derived deeper than %d", MAX_BUILD_DEPTH);
	g->state = 1;
	s->depth++;
	rc = build_type(s, g->obj, g->x);
	s->depth--;
	g->state = 2;
	return rc;
}

/* The type named Q (a built-in or a global), not necessarily filled;
 * *G gets the global (NULL for a built-in). */
static struct xs_type *type_ref(struct xs_set *s, const struct xr *x, struct xq q, struct gd **g)
{
	struct xs_type *t;

	*g = NULL;
	if (ns_eq(q.ns, XS_NS)) {
		if (!(t = xs_builtin(q.local)))
			FAIL(s, x, "unknown type {%s}%s", XS_NS, q.local);
		return t;
	}
	if (!(*g = xsd_gfind(s, G_TYPE, q.ns, q.local))) {
		if (ns_eq(q.ns, SOAPENC_NS))
			FAIL(s, x, "unknown type {%s}%s: SOAP encoding (use=\"encoded\") is not "
			     "supported, only literal", SOAPENC_NS, q.local);
		else
			FAIL(s, x, "unknown type {%s}%s", NS(q.ns), q.local);
		return NULL;
	}
	return (*g)->obj;
}

/* A base type: filled before its derived types read it. */
static struct xs_type *base_type(struct xs_set *s, const struct xr *x, struct xq q)
{
	struct gd *g;
	struct xs_type *t = type_ref(s, x, q, &g);

	if (t && g && fill_gtype(s, g, x))
		return NULL;
	return t;
}

/* An anonymous type declared by X (complexType or simpleType). */
static struct xs_type *anon_type(struct xs_set *s, const struct xr *x)
{
	struct xs_type *t = type_new(s);
	int rc;

	if (!t)
		return oom(s, x), NULL;
	if (s->depth >= MAX_BUILD_DEPTH)
		return FAIL(s, x, "types nested or derived deeper than %d", MAX_BUILD_DEPTH), NULL;
	s->depth++;
	rc = build_type(s, t, x);
	s->depth--;
	return rc ? NULL : t;
}

/* ---- simple types ---------------------------------------------------------------- */

static int is_numeric(enum xs_prim p)
{
	return p == XS_P_INTEGER || p == XS_P_DECIMAL || p == XS_P_FLOAT || p == XS_P_DOUBLE;
}

static int facet_int(struct xs_set *s, const struct xr *k, int64_t max, int64_t *out)
{
	const char *v = ra(k, "value");
	char *end;
	long long n;

	if (!v)
		return FAIL(s, k, "%s needs a value", k->tag);
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < 0 || n > max)
		return FAIL(s, k, "%s value=\"%.80s\" is not a count (0..%lld)", k->tag, v,
		            (long long)max);
	*out = n;
	return 0;
}

static int facet_bound(struct xs_set *s, struct xs_type *t, const struct xr *k, int is_min,
                       int excl)
{
	const char *v = ra(k, "value");
	char *end;
	double d;

	if (!v)
		return FAIL(s, k, "%s needs a value", k->tag);
	if (!is_numeric(t->prim))
		return 0;   /* bounds of dates and durations: not checked */
	d = !strcmp(v, "INF") ? INFINITY : !strcmp(v, "-INF") ? -INFINITY : strtod(v, &end);
	if (strcmp(v, "INF") && strcmp(v, "-INF") && (end == v || *end))
		return FAIL(s, k, "%s value=\"%.80s\" is not a number", k->tag, v);
	if (is_min) {
		t->f.has_min = 1;
		t->f.min = d;
		t->f.min_excl = excl;
	} else {
		t->f.has_max = 1;
		t->f.max = d;
		t->f.max_excl = excl;
	}
	return 0;
}

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static int compile_pattern(struct xs_set *s, struct xs_type *t, const struct xr *at,
                           const char *pattern)
{
	xmlGenericErrorFunc saved = xmlGenericError;
	void *saved_ctx = xmlGenericErrorContext;
	xmlRegexpPtr re;
	size_t cap = s->capres;

	xmlSetGenericErrorFunc(NULL, quiet);   /* libxml2 prints why; the error says which */
	re = xmlRegexpCompile((const xmlChar *)pattern);
	xmlSetGenericErrorFunc(saved_ctx, saved);
	if (!re)
		return FAIL(s, at, "pattern \"%.200s\" is not a valid XML Schema regular expression",
		            pattern);
	if (xsd_grow(s->pool, &s->res, &cap, s->nres, sizeof(*s->res))) {
		xmlRegFreeRegexp(re);
		return oom(s, at);
	}
	s->capres = (unsigned)cap;
	s->res[s->nres++] = re;
	t->f.pattern = pattern;
	t->f.pattern_re = re;
	return 0;
}

/* The facets of restriction R, over those T copied from its base. */
static int apply_facets(struct xs_set *s, struct xs_type *t, const struct xr *r)
{
	unsigned nenums = 0, npat = 0;
	const struct xr *pat_at = NULL;
	struct sbuf pat = { 0 };
	int rc = 0;

	for (const struct xr *k = r->kid; k; k = k->next)
		nenums += tag_is(k, "enumeration");
	if (nenums) {
		t->f.enums = sp_alloc(s->pool, nenums * sizeof(*t->f.enums));
		t->f.nenums = 0;
		if (!t->f.enums)
			return oom(s, r);
	}
	for (const struct xr *k = r->kid; k && !rc; k = k->next) {
		const char *v = ra(k, "value");
		int64_t n;

		if (tag_is(k, "enumeration")) {
			if (!v)
				rc = FAIL(s, k, "enumeration needs a value");
			else
				t->f.enums[t->f.nenums++] = v;
		} else if (tag_is(k, "minInclusive") || tag_is(k, "minExclusive")) {
			rc = facet_bound(s, t, k, 1, tag_is(k, "minExclusive"));
		} else if (tag_is(k, "maxInclusive") || tag_is(k, "maxExclusive")) {
			rc = facet_bound(s, t, k, 0, tag_is(k, "maxExclusive"));
		} else if (tag_is(k, "length")) {
			rc = facet_int(s, k, INT64_MAX, &t->f.length);
		} else if (tag_is(k, "minLength")) {
			rc = facet_int(s, k, INT64_MAX, &t->f.min_length);
		} else if (tag_is(k, "maxLength")) {
			rc = facet_int(s, k, INT64_MAX, &t->f.max_length);
		} else if (tag_is(k, "totalDigits") || tag_is(k, "fractionDigits")) {
			if ((rc = facet_int(s, k, INT_MAX, &n)) == 0)
				*(tag_is(k, "totalDigits") ? &t->f.total_digits : &t->f.fraction_digits) = (int)n;
		} else if (tag_is(k, "pattern")) {
			/* several patterns in one step: any may match */
			if (!v) {
				rc = FAIL(s, k, "pattern needs a value");
				break;
			}
			sbuf_puts(&pat, npat++ ? ")|(" : "(");
			sbuf_puts(&pat, v);
			pat_at = k;
		}
	}
	if (!rc && npat) {
		const char *p;

		sbuf_putc(&pat, ')');
		if (pat.oom || !(p = npat == 1 ? sp_strdup(s->pool, ra(pat_at, "value"))
		                               : sp_strndup(s->pool, pat.p, pat.len)))
			rc = oom(s, r);
		else
			rc = compile_pattern(s, t, pat_at, p);
	}
	sbuf_free(&pat);
	return rc;
}

/* The simple type restriction R derives from: base= or a nested simpleType. */
static struct xs_type *restriction_base(struct xs_set *s, const struct xr *r)
{
	const struct xr *st;

	if (r->base.local)
		return base_type(s, r, r->base);
	if ((st = child(r, "simpleType")) != NULL)
		return anon_type(s, st);
	FAIL(s, r, "%s needs base= or a simpleType", r->tag);
	return NULL;
}

static void copy_simple(struct xs_type *t, const struct xs_type *b)
{
	t->prim = b->prim;
	t->int_lo = b->int_lo;
	t->int_hi = b->int_hi;
	t->int_unsigned_long = b->int_unsigned_long;
	t->list_item = b->list_item;
	t->f = b->f;
}

static int build_simple(struct xs_set *s, struct xs_type *t, const struct xr *x)
{
	const struct xr *d = child(x, "restriction list union"), *st;
	struct xs_type *b;

	t->kind = XS_SIMPLE;
	if (!d)
		return FAIL(s, x, "simpleType needs a restriction, list or union");
	if (tag_is(d, "restriction")) {
		if (!(b = restriction_base(s, d)))
			return -1;
		if (b->kind != XS_SIMPLE)
			return FAIL(s, d, "simpleType restricts {%s}%s, a complex type", NS(b->ns),
			            b->name ? b->name : "(anonymous)");
		copy_simple(t, b);
		t->base = b;
		return apply_facets(s, t, d);
	}
	if (tag_is(d, "list")) {
		struct gd *g;

		t->prim = XS_P_STRING;
		if (d->item.local)
			t->list_item = type_ref(s, d, d->item, &g);
		else if ((st = child(d, "simpleType")) != NULL)
			t->list_item = anon_type(s, st);
		else
			return FAIL(s, d, "list needs itemType= or a simpleType");
		if (!t->list_item)
			return -1;
		if (t->list_item->kind == XS_COMPLEX)
			return FAIL(s, d, "list item type {%s}%s is a complex type",
			            NS(t->list_item->ns), t->list_item->name);
		return 0;
	}
	/* union: its values are taken as strings (member types not checked) */
	t->prim = XS_P_STRING;
	for (const struct xr *k = d->kid; k; k = k->next)
		if (tag_is(k, "simpleType") && !anon_type(s, k))
			return -1;
	return 0;
}

/* ---- attributes ------------------------------------------------------------------- */

static int attr_type(struct xs_set *s, const struct xr *x, struct xs_attr *a)
{
	const struct xr *st;
	struct gd *g;

	if (x->type.local)
		a->type = type_ref(s, x, x->type, &g);
	else if ((st = child(x, "simpleType")) != NULL)
		a->type = anon_type(s, st);
	else
		a->type = xs_builtin("anySimpleType");
	if (!a->type)
		return -1;
	if (a->type->kind == XS_COMPLEX)
		return FAIL(s, x, "attribute %s: type {%s}%s is not a simple type", a->name,
		            NS(a->type->ns), a->type->name);
	return 0;
}

static int fill_gattr(struct xs_set *s, struct gd *g)
{
	struct xs_attr *a = g->obj;

	if (g->state)
		return 0;
	g->state = 2;
	a->default_value = ra(g->x, "default");
	a->fixed = ra(g->x, "fixed");
	return attr_type(s, g->x, a);
}

static int alist_push(struct xs_set *s, const struct xr *x, struct alist *l, struct xs_attr *a)
{
	size_t cap = l->cap;

	if (xsd_grow(s->pool, &l->v, &cap, l->n, sizeof(*l->v)))
		return oom(s, x);
	l->cap = (unsigned)cap;
	l->v[l->n++] = a;
	return 0;
}

static int attr_use(struct xs_set *s, const struct xr *x, struct alist *l)
{
	struct xs_attr *a = sp_alloc(s->pool, sizeof(*a));
	const char *use = ra(x, "use"), *form = ra(x, "form");

	if (!a)
		return oom(s, x);
	a->required = use && !strcmp(use, "required") ? 1 : use && !strcmp(use, "prohibited") ? -1 : 0;
	if (x->ref.local) {
		struct gd *g = xsd_gfind(s, G_ATTR, x->ref.ns, x->ref.local);

		if (!g)
			return FAIL(s, x, "unknown attribute {%s}%s", NS(x->ref.ns), x->ref.local);
		if (fill_gattr(s, g))
			return -1;
		const struct xs_attr *ga = g->obj;

		a->ns = ga->ns;
		a->name = ga->name;
		a->type = ga->type;
		a->default_value = ra(x, "default") ? ra(x, "default") : ga->default_value;
		a->fixed = ra(x, "fixed") ? ra(x, "fixed") : ga->fixed;
		return alist_push(s, x, l, a);
	}
	if (!(a->name = ra(x, "name")))
		return FAIL(s, x, "an attribute needs name= or ref=");
	if (form ? !strcmp(form, "qualified") : x->sch->qual_attr)
		a->ns = x->sch->tns;
	a->default_value = ra(x, "default");
	a->fixed = ra(x, "fixed");
	if (attr_type(s, x, a))
		return -1;
	return alist_push(s, x, l, a);
}

static int collect_attrs(struct xs_set *s, const struct xr *x, struct alist *l);

/* The attribute uses of attribute group G (filled once; a cycle refused). */
static int agroup(struct xs_set *s, const struct xr *ref, struct alist *l)
{
	struct gd *g = xsd_gfind(s, G_AGROUP, ref->ref.ns, ref->ref.local);
	struct alist *own;

	if (!ref->ref.local)
		return FAIL(s, ref, "a local attributeGroup needs ref=");
	if (!g)
		return FAIL(s, ref, "unknown attributeGroup {%s}%s", NS(ref->ref.ns), ref->ref.local);
	if (g->state == 1)
		return FAIL(s, ref, "attributeGroup {%s}%s contains itself", NS(g->ns), g->name);
	if (g->state == 0) {
		if (!(own = sp_alloc(s->pool, sizeof(*own))))
			return oom(s, ref);
		g->state = 1;
		if (collect_attrs(s, g->x, own))
			return -1;
		g->obj = own;
		g->state = 2;
	}
	own = g->obj;
	for (unsigned i = 0; i < own->n; i++)
		if (alist_push(s, ref, l, own->v[i]))
			return -1;
	return 0;
}

static int collect_attrs(struct xs_set *s, const struct xr *x, struct alist *l)
{
	for (const struct xr *k = x->kid; k; k = k->next) {
		if (tag_is(k, "attribute") && attr_use(s, k, l))
			return -1;
		if (tag_is(k, "attributeGroup") && agroup(s, k, l))
			return -1;
	}
	return 0;
}

/* T's attributes: BASE's, then OWN's replacing those of the same name
 * (use="prohibited" removes one). */
static int merge_attrs(struct xs_set *s, const struct xr *x, struct xs_type *t,
                       const struct xs_type *base, const struct alist *own)
{
	struct alist out = { 0 };

	for (unsigned i = 0; base && i < base->nattrs; i++)
		if (alist_push(s, x, &out, base->attrs[i]))
			return -1;
	for (unsigned i = 0; i < own->n; i++) {
		struct xs_attr *a = own->v[i];
		unsigned j;

		for (j = 0; j < out.n; j++)
			if (!strcmp(out.v[j]->name, a->name) && ns_eq(out.v[j]->ns, a->ns))
				break;
		if (a->required < 0) {
			if (j < out.n)
				memmove(out.v + j, out.v + j + 1, (out.n - j - 1) * sizeof(*out.v));
			out.n -= j < out.n;
		} else if (j < out.n) {
			out.v[j] = a;
		} else if (alist_push(s, x, &out, a)) {
			return -1;
		}
	}
	t->attrs = out.v;
	t->nattrs = out.n;
	return 0;
}

/* ---- particles --------------------------------------------------------------------- */

static int occurs(struct xs_set *s, const struct xr *x, uint32_t *min, uint32_t *max)
{
	const char *mn = ra(x, "minOccurs"), *mx = ra(x, "maxOccurs");
	unsigned long long v;
	char *end;

	*min = *max = 1;
	if (mn) {
		errno = 0;
		v = strtoull(mn, &end, 10);
		if (errno || end == mn || *end || *mn == '-' || v >= XS_UNBOUNDED)
			return FAIL(s, x, "minOccurs=\"%.40s\" is not a count", mn);
		*min = (uint32_t)v;
	}
	if (mx && !strcmp(mx, "unbounded")) {
		*max = XS_UNBOUNDED;
	} else if (mx) {
		errno = 0;
		v = strtoull(mx, &end, 10);
		if (errno || end == mx || *end || *mx == '-' || v >= XS_UNBOUNDED)
			return FAIL(s, x, "maxOccurs=\"%.40s\" is not a count or \"unbounded\"", mx);
		*max = (uint32_t)v;
	}
	if (*max < *min)
		return FAIL(s, x, "maxOccurs is less than minOccurs");
	return 0;
}

/* The type of element declaration X: type=, an anonymous type, the
 * substitution group head's, else anyType. */
static int element_type(struct xs_set *s, const struct xr *x, struct xs_element *e)
{
	const struct xr *at = child(x, "complexType simpleType");
	struct gd *g;

	if (x->type.local)
		e->type = type_ref(s, x, x->type, &g);
	else if (at)
		e->type = anon_type(s, at);
	else if (x->subst.local) {
		if (!(g = xsd_gfind(s, G_ELEMENT, x->subst.ns, x->subst.local)))
			return FAIL(s, x, "unknown element {%s}%s", NS(x->subst.ns), x->subst.local);
		if (fill_element(s, g))
			return -1;
		e->type = ((struct xs_element *)g->obj)->type;
	} else
		e->type = xs_builtin("anyType");
	return e->type ? 0 : -1;
}

static void element_props(struct xs_element *e, const struct xr *x)
{
	e->nillable = ra_true(x, "nillable");
	e->default_value = ra(x, "default");
	e->fixed = ra(x, "fixed");
	e->doc = x->doc;
}

static int fill_element(struct xs_set *s, struct gd *g)
{
	if (g->state == 2)
		return 0;
	if (g->state == 1)
		return FAIL(s, g->x, "element {%s}%s: a cycle through substitutionGroup", NS(g->ns),
		            g->name);
	g->state = 1;
	element_props(g->obj, g->x);
	if (element_type(s, g->x, g->obj))
		return -1;
	g->state = 2;
	return 0;
}

static int local_element(struct xs_set *s, const struct xr *x, struct xs_element **out)
{
	const char *form = ra(x, "form");
	struct xs_element *e;

	if (x->ref.local) {
		struct gd *g = xsd_gfind(s, G_ELEMENT, x->ref.ns, x->ref.local);

		if (!g)
			return FAIL(s, x, "unknown element {%s}%s", NS(x->ref.ns), x->ref.local);
		*out = g->obj;   /* a shell until filled: its type is set by the end */
		return 0;
	}
	if (!(e = sp_alloc(s->pool, sizeof(*e))))
		return oom(s, x);
	if (!(e->name = ra(x, "name")))
		return FAIL(s, x, "a local element needs name= or ref=");
	if (form ? !strcmp(form, "qualified") : x->sch->qual_el)
		e->ns = x->sch->tns;
	element_props(e, x);
	*out = e;
	return element_type(s, x, e);
}

/* Group G's model group, built once (a group containing itself refused). */
static int group(struct xs_set *s, const struct xr *ref, struct xs_particle **out)
{
	struct gd *g = xsd_gfind(s, G_GROUP, ref->ref.ns, ref->ref.local);
	const struct xr *mg;
	struct xs_particle *p;

	*out = NULL;
	if (!ref->ref.local)
		return FAIL(s, ref, "a local group needs ref=");
	if (!g)
		return FAIL(s, ref, "unknown group {%s}%s", NS(ref->ref.ns), ref->ref.local);
	if (g->state == 1)
		return FAIL(s, ref, "group {%s}%s contains itself", NS(g->ns), g->name);
	if (g->state == 0) {
		g->state = 1;
		if ((mg = child(g->x, "sequence choice all")) != NULL && particle(s, mg, &p))
			return -1;
		g->obj = mg ? p : NULL;
		g->state = 2;
	}
	*out = g->obj;
	return 0;
}

static int particle(struct xs_set *s, const struct xr *x, struct xs_particle **out)
{
	struct xs_particle *p, *in;
	uint32_t min, max;

	*out = NULL;
	if (occurs(s, x, &min, &max))
		return -1;
	if (tag_is(x, "group")) {
		if (group(s, x, &in))
			return -1;
		if (!in || !max)
			return 0;
		if (!(p = sp_alloc(s->pool, sizeof(*p))))
			return oom(s, x);
		*p = *in;   /* the reference's occurrences on the group's model group */
		p->min = min;
		p->max = max;
		*out = p;
		return 0;
	}
	if (!(p = sp_alloc(s->pool, sizeof(*p))))
		return oom(s, x);
	p->min = min;
	p->max = max;
	if (tag_is(x, "element")) {
		p->kind = XS_ELEMENT;
		if (local_element(s, x, &p->el))
			return -1;
	} else if (tag_is(x, "any")) {
		p->kind = XS_ANY;
		p->any_ns = ra(x, "namespace") ? ra(x, "namespace") : "##any";
	} else if (tag_is(x, "sequence") || tag_is(x, "choice") || tag_is(x, "all")) {
		unsigned n = 0;

		p->kind = tag_is(x, "sequence") ? XS_SEQUENCE : tag_is(x, "choice") ? XS_CHOICE : XS_ALL;
		for (const struct xr *k = x->kid; k; k = k->next)
			n++;
		if (n && !(p->kids = sp_alloc(s->pool, n * sizeof(*p->kids))))
			return oom(s, x);
		for (const struct xr *k = x->kid; k; k = k->next) {
			struct xs_particle *kp;

			if (!tag_is(k, "element") && !tag_is(k, "any") && !tag_is(k, "sequence") &&
			    !tag_is(k, "choice") && !tag_is(k, "all") && !tag_is(k, "group"))
				continue;
			if (particle(s, k, &kp))
				return -1;
			if (kp)
				p->kids[p->nkids++] = kp;
		}
		if (!p->nkids)
			return 0;   /* an empty model group: no content */
	} else {
		return 0;
	}
	if (max)
		*out = p;
	return 0;
}

/* Sequence [A, B] (extension: the base's content then the extension's). */
static struct xs_particle *concat(struct xs_set *s, struct xs_particle *a, struct xs_particle *b)
{
	struct xs_particle *p;

	if (!a || !b)
		return a ? a : b;
	if (!(p = sp_alloc(s->pool, sizeof(*p))) || !(p->kids = sp_alloc(s->pool, 2 * sizeof(*p->kids))))
		return NULL;
	p->kind = XS_SEQUENCE;
	p->min = p->max = 1;
	p->kids[0] = a;
	p->kids[1] = b;
	p->nkids = 2;
	return p;
}

/* ---- complex types ------------------------------------------------------------------- */

/* X's own content (its sequence, choice, all or group) and attributes. */
static int own_content(struct xs_set *s, const struct xr *x, struct xs_particle **content,
                       struct alist *attrs)
{
	const struct xr *mg = child(x, "sequence choice all group");

	*content = NULL;
	if (mg && particle(s, mg, content))
		return -1;
	return collect_attrs(s, x, attrs);
}

static int complex_content(struct xs_set *s, struct xs_type *t, const struct xr *cc)
{
	const struct xr *d = child(cc, "extension restriction");
	struct xs_particle *own;
	struct alist attrs = { 0 };
	struct xs_type *b;

	if (!d)
		return FAIL(s, cc, "complexContent needs an extension or a restriction");
	if (!d->base.local)
		return FAIL(s, d, "%s needs base=", d->tag);
	if (!(b = base_type(s, d, d->base)))
		return -1;
	if (b->kind != XS_COMPLEX)
		return FAIL(s, d, "complexContent base {%s}%s is a simple type (use simpleContent)",
		            NS(b->ns), b->name ? b->name : "");
	if (own_content(s, d, &own, &attrs))
		return -1;
	t->base = b;
	t->mixed |= ra_true(cc, "mixed");
	if (tag_is(d, "restriction") || b == xs_builtin("anyType")) {
		t->content = own;
	} else {
		t->content = concat(s, b->content, own);
		if (b->content && own && !t->content)
			return oom(s, d);
		t->mixed |= b->mixed;
	}
	return merge_attrs(s, d, t, b, &attrs);
}

static int simple_content(struct xs_set *s, struct xs_type *t, const struct xr *sc)
{
	const struct xr *d = child(sc, "extension restriction"), *st;
	struct alist attrs = { 0 };
	struct xs_type *b, *text;

	if (!d)
		return FAIL(s, sc, "simpleContent needs an extension or a restriction");
	if (!d->base.local)
		return FAIL(s, d, "%s needs base=", d->tag);
	if (!(b = base_type(s, d, d->base)))
		return -1;
	text = b->kind == XS_SIMPLE ? b : b->simple_content;
	if (!text)
		return FAIL(s, d, "simpleContent base {%s}%s has no simple content", NS(b->ns),
		            b->name ? b->name : "");
	if (tag_is(d, "restriction")) {
		struct xs_type *r = type_new(s), *rb = text;

		if (!r)
			return oom(s, d);
		if ((st = child(d, "simpleType")) != NULL && !(rb = anon_type(s, st)))
			return -1;
		r->kind = XS_SIMPLE;
		copy_simple(r, rb);
		r->base = rb;
		if (apply_facets(s, r, d))
			return -1;
		text = r;
	}
	if (collect_attrs(s, d, &attrs))
		return -1;
	t->base = b;
	t->simple_content = text;
	return merge_attrs(s, d, t, b->kind == XS_COMPLEX ? b : NULL, &attrs);
}

static int build_complex(struct xs_set *s, struct xs_type *t, const struct xr *x)
{
	const struct xr *d;
	struct alist attrs = { 0 };

	t->kind = XS_COMPLEX;
	t->mixed = ra_true(x, "mixed");
	t->abstract = ra_true(x, "abstract");
	if ((d = child(x, "simpleContent")) != NULL)
		return simple_content(s, t, d);
	if ((d = child(x, "complexContent")) != NULL)
		return complex_content(s, t, d);
	if (own_content(s, x, &t->content, &attrs))
		return -1;
	return merge_attrs(s, x, t, NULL, &attrs);
}

static int build_type(struct xs_set *s, struct xs_type *t, const struct xr *x)
{
	if (!t->doc)
		t->doc = x->doc;
	return tag_is(x, "simpleType") ? build_simple(s, t, x) : build_complex(s, t, x);
}

static int resolve(struct xs_set *s)
{
	/* shells first: references point at them whatever the order */
	for (size_t i = 0; i < s->nall; i++) {
		struct gd *g = s->all[i];

		if (g->kind == G_TYPE) {
			struct xs_type *t = type_new(s);

			if (!t)
				return oom(s, g->x);
			t->ns = g->ns;
			t->name = g->name;
			t->kind = tag_is(g->x, "complexType") ? XS_COMPLEX : XS_SIMPLE;
			g->obj = t;
		} else if (g->kind == G_ELEMENT || g->kind == G_ATTR) {
			struct xs_element *e;
			struct xs_attr *a;

			if (g->kind == G_ELEMENT && (g->obj = e = sp_alloc(s->pool, sizeof(*e)))) {
				e->ns = g->ns;
				e->name = g->name;
				e->global = 1;
			} else if (g->kind == G_ATTR && (g->obj = a = sp_alloc(s->pool, sizeof(*a)))) {
				a->ns = g->ns;
				a->name = g->name;
			}
			if (!g->obj)
				return oom(s, g->x);
		}
	}
	for (size_t i = 0; i < s->nall; i++) {
		struct gd *g = s->all[i];
		struct xs_particle *p;
		struct alist l = { 0 };
		struct xr ref = *g->x;
		int rc = 0;

		ref.ref.ns = g->ns;
		ref.ref.local = g->name;
		switch (g->kind) {
		case G_TYPE: rc = fill_gtype(s, g, g->x); break;
		case G_ELEMENT: rc = fill_element(s, g); break;
		case G_ATTR: rc = fill_gattr(s, g); break;
		case G_GROUP: rc = group(s, &ref, &p); break;
		case G_AGROUP: rc = agroup(s, &ref, &l); break;
		case G_N: break;
		}
		if (rc)
			return -1;
	}
	return 0;
}

int xs_set_resolve(struct xs_set *set, char *err, size_t errlen)
{
	if (set->resolved)
		return 0;
	if (set->failed) {
		/* half-filled shells are left: nothing can be trusted */
		snprintf(err, errlen, "the schema set failed to resolve before");
		return -1;
	}
	set->err = err;
	set->errlen = errlen;
	if (resolve(set) != 0) {
		set->failed = 1;
		return -1;
	}
	set->resolved = 1;
	return 0;
}

