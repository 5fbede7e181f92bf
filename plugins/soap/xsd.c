/*
 * xsd.c - the XML Schema model of a WSDL's schemas (see soap.h).
 *
 * xs_set_add copies each schema's declarations into small trees of its own
 * (struct xr: the xsd: elements, their attributes, QNames already resolved
 * in the scope of the node that holds them, file and line kept), so the
 * DOM may be freed as soon as it returns; imported and included files are
 * read, copied and freed the same way. xs_set_resolve then builds the
 * public structs from those trees in two passes: every global type,
 * element and attribute first as an empty shell (a recursive type just
 * points at its shell), then each one filled, forcing only what a fill
 * needs -- a base type, a group, an attribute group -- which is where a
 * cycle is refused.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlregexp.h>

#include "soap.h"

#define MAX_FILES 1000      /* schema files one set reads */
#define MAX_IMPORT_DEPTH 32 /* import/include nesting */
#define MAX_BUILD_DEPTH 256 /* nested anonymous types and base chains */

struct xq {
	const char *ns, *local;               /* local NULL: the attribute is absent */
};

struct xschema {
	const char *tns;                      /* NULL: no namespace */
	int qual_el, qual_attr;               /* element/attributeFormDefault="qualified" */
};

/* One xsd: element of a schema, copied. */
struct xr {
	const char *tag;                      /* local name in XS_NS */
	const char **av;                      /* unqualified attributes: name, value, ... */
	unsigned na;
	struct xq ref, type, base, item, subst;
	struct xr *kid, *next;
	const char *doc;
	const char *file;
	long line;
	const struct xschema *sch;
};

enum gkind { G_TYPE, G_ELEMENT, G_GROUP, G_AGROUP, G_ATTR, G_N };
static const char *const gname[G_N] = { "type", "element", "group", "attributeGroup",
                                        "attribute" };

/* A global declaration. */
struct gd {
	enum gkind kind;
	const char *ns, *name;
	struct xr *x;
	void *obj;      /* xs_type, xs_element, xs_attr, xs_particle (group), alist (attributeGroup) */
	int state;      /* 0: a shell, 1: being filled, 2: filled */
};

struct hmap {
	struct gd **v;
	size_t cap, n;
};

/* Attribute uses being merged; required -1 marks use="prohibited". */
struct alist {
	struct xs_attr **v;
	unsigned n, cap;
};

struct xs_set {
	struct sp_pool *pool;
	struct hmap g[G_N];
	struct gd **all;                      /* document order, for filling */
	size_t nall, capall;
	const char **files;                   /* "realpath\n namespace" of each file read */
	unsigned nfiles, capfiles;
	void **res;                           /* compiled patterns (xmlRegexpPtr) */
	unsigned nres, capres;
	int resolved;
	unsigned depth;
	char *err;                            /* while resolving */
	size_t errlen;
};

/* ---- small things ------------------------------------------------------------------ */

static int grow(struct sp_pool *pool, void *vp, size_t *cap, size_t n, size_t size)
{
	void **v = vp;
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if (!(nv = sp_alloc(pool, ncap * size)))
		return -1;
	if (*v)
		memcpy(nv, *v, n * size);
	*v = nv;
	*cap = ncap;
	return 0;
}

static int ns_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static int is_xs(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       !strcmp((const char *)n->ns->href, XS_NS) && (!name || !strcmp((const char *)n->name, name));
}

static const char *xattr(xmlNodePtr n, const char *name)
{
	for (xmlAttrPtr a = n->properties; a; a = a->next)
		if (!a->ns && !strcmp((const char *)a->name, name) && a->children &&
		    a->children->type == XML_TEXT_NODE)
			return (const char *)a->children->content;
	return NULL;
}

static const char *ra(const struct xr *x, const char *name)
{
	for (unsigned i = 0; i < x->na; i++)
		if (!strcmp(x->av[2 * i], name))
			return x->av[2 * i + 1];
	return NULL;
}

static int ra_true(const struct xr *x, const char *name)
{
	const char *v = ra(x, name);

	return v && (!strcmp(v, "true") || !strcmp(v, "1"));
}

static int tag_is(const struct xr *x, const char *tag)
{
	return x && !strcmp(x->tag, tag);
}

static int fail_at(char *err, size_t errlen, const char *file, long line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fail_at(char *err, size_t errlen, const char *file, long line, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = line > 0 ? snprintf(err, errlen, "%s:%ld: ", file, line) : snprintf(err, errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

#define FAIL(s, x, ...) fail_at((s)->err, (s)->errlen, (x)->file, (x)->line, __VA_ARGS__)
#define NS(q) ((q) ? (q) : "")

/* ---- the global declarations ---------------------------------------------------- */

static size_t hash(const char *ns, const char *name)
{
	size_t h = 2166136261u;

	for (const char *p = ns ? ns : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 1) * 16777619u;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static struct gd *gfind(const struct xs_set *s, enum gkind k, const char *ns, const char *name)
{
	const struct hmap *m = &s->g[k];

	if (!m->cap || !name)
		return NULL;
	for (size_t i = hash(ns, name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct gd *g = m->v[i];

		if (!g)
			return NULL;
		if (!strcmp(g->name, name) && ns_eq(g->ns, ns))
			return g;
	}
}

static int hput(struct sp_pool *pool, struct hmap *m, struct gd *g)
{
	if ((m->n + 1) * 10 > m->cap * 7) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct gd **v = sp_alloc(pool, cap * sizeof(*v));

		if (!v)
			return -1;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->v[i])
				continue;
			size_t j = hash(m->v[i]->ns, m->v[i]->name) & (cap - 1);

			while (v[j])
				j = (j + 1) & (cap - 1);
			v[j] = m->v[i];
		}
		m->v = v;
		m->cap = cap;
	}
	size_t i = hash(g->ns, g->name) & (m->cap - 1);

	while (m->v[i])
		i = (i + 1) & (m->cap - 1);
	m->v[i] = g;
	m->n++;
	return 0;
}

/* ---- copying a schema ------------------------------------------------------------- */

struct copyctx {
	struct xs_set *s;
	const char *file;
	const struct xschema *sch;
	const char *cham;                     /* chameleon include: no-namespace names go here */
	char *err;
	size_t errlen;
};

static long line_of(xmlNodePtr n)
{
	long l = xmlGetLineNo(n);

	return l > 0 ? l : 0;
}

/* A QName attribute of N resolved in N's scope (schema QNames: no prefix
 * takes the default namespace); the chameleon's namespace for none. */
static int qname(struct copyctx *c, xmlNodePtr n, const char *attr, struct xq *q)
{
	const char *v = xattr(n, attr), *ns, *local;
	char *t;
	size_t len;

	q->ns = q->local = NULL;
	if (!v)
		return 0;
	while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
		v++;
	for (len = strlen(v); len && strchr(" \t\r\n", v[len - 1]); len--)
		;
	if (!(t = sp_strndup(c->s->pool, v, len)))
		return fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	if (!*t)
		return fail_at(c->err, c->errlen, c->file, line_of(n), "%s=\"\": an empty name", attr);
	if (sx_qname(n, t, 1, &ns, &local) != 0)
		return fail_at(c->err, c->errlen, c->file, line_of(n),
		               "%s=\"%.80s\": undeclared namespace prefix (or not a QName)", attr, t);
	if (!ns && c->cham)
		ns = c->cham;
	if (ns && !(ns = sp_strdup(c->s->pool, ns)))
		return fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	q->ns = ns;
	q->local = local;
	return 0;
}

/* xsd:annotation/xsd:documentation text, trimmed, several joined by "\n". */
static const char *doc_text(struct copyctx *c, xmlNodePtr annotation)
{
	struct sbuf b = { 0 };
	const char *out;

	for (xmlNodePtr d = annotation->children; d; d = d->next) {
		xmlChar *t;
		const char *p, *e;

		if (!is_xs(d, "documentation") || !(t = xmlNodeGetContent(d)))
			continue;
		for (p = (const char *)t; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
			;
		for (e = p + strlen(p); e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
		                                  e[-1] == '\r'); e--)
			;
		if (e > p) {
			if (b.len)
				sbuf_putc(&b, '\n');
			sbuf_put(&b, p, (size_t)(e - p));
		}
		xmlFree(t);
	}
	out = b.len && !b.oom ? sp_strndup(c->s->pool, b.p, b.len) : NULL;
	sbuf_free(&b);
	return out;
}

/* Copies N (an xsd: element) and its xsd: descendants; NULL on error. */
static struct xr *copy(struct copyctx *c, xmlNodePtr n)
{
	struct sp_pool *pool = c->s->pool;
	struct xr *x = sp_alloc(pool, sizeof(*x)), **tail;
	unsigned na = 0;

	if (!x)
		goto oom;
	if (!(x->tag = sp_strdup(pool, (const char *)n->name)))
		goto oom;
	x->file = c->file;
	x->line = line_of(n);
	x->sch = c->sch;
	for (xmlAttrPtr a = n->properties; a; a = a->next)
		na += !a->ns;
	if (na && !(x->av = sp_alloc(pool, 2 * na * sizeof(*x->av))))
		goto oom;
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		const char *v;

		if (a->ns || !(v = xattr(n, (const char *)a->name)))
			continue;
		x->av[2 * x->na] = sp_strdup(pool, (const char *)a->name);
		x->av[2 * x->na + 1] = sp_strdup(pool, v);
		if (!x->av[2 * x->na] || !x->av[2 * x->na + 1])
			goto oom;
		x->na++;
	}
	if (qname(c, n, "ref", &x->ref) || qname(c, n, "type", &x->type) ||
	    qname(c, n, "base", &x->base) || qname(c, n, "itemType", &x->item) ||
	    qname(c, n, "substitutionGroup", &x->subst))
		return NULL;
	tail = &x->kid;
	for (xmlNodePtr k = n->children; k; k = k->next) {
		if (!is_xs(k, NULL))
			continue;
		if (is_xs(k, "annotation")) {
			if (!x->doc)
				x->doc = doc_text(c, k);
			continue;
		}
		if (!(*tail = copy(c, k)))
			return NULL;
		tail = &(*tail)->next;
	}
	return x;
oom:
	fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	return NULL;
}

static int declare(struct copyctx *c, enum gkind k, xmlNodePtr n)
{
	struct xs_set *s = c->s;
	const char *name = xattr(n, "name");
	struct gd *g, *dup;
	struct xr *x;

	if (!name || !*name)
		return fail_at(c->err, c->errlen, c->file, line_of(n), "a global %s needs a name",
		               (const char *)n->name);
	if ((dup = gfind(s, k, c->sch->tns, name)) != NULL)
		return fail_at(c->err, c->errlen, c->file, line_of(n),
		               "%s {%s}%s is declared twice (first at %s:%ld)", gname[k],
		               NS(c->sch->tns), name, dup->x->file, dup->x->line);
	if (!(x = copy(c, n)))
		return -1;
	if (!(g = sp_alloc(s->pool, sizeof(*g))) || !(g->name = sp_strdup(s->pool, name)))
		return fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	g->kind = k;
	g->ns = c->sch->tns;
	g->x = x;
	if (hput(s->pool, &s->g[k], g) || grow(s->pool, &s->all, &s->capall, s->nall, sizeof(*s->all)))
		return fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	s->all[s->nall++] = g;
	return 0;
}

static int add_schema(struct xs_set *s, xmlNodePtr root, const char *file, const char *inc_tns,
                      int include, unsigned depth, char *err, size_t errlen);

/* Records KEY as read; 1 when it already was. */
static int seen(struct xs_set *s, const char *path, const char *ns, int *out)
{
	size_t n = strlen(path), m = ns ? strlen(ns) : 0;
	char *key = sp_alloc(s->pool, n + m + 2);

	if (!key)
		return -1;
	memcpy(key, path, n);
	key[n] = '\n';
	if (m)
		memcpy(key + n + 1, ns, m);
	for (unsigned i = 0; i < s->nfiles; i++)
		if (!strcmp(s->files[i], key))
			return *out = 1, 0;
	size_t cap = s->capfiles;

	if (grow(s->pool, &s->files, &cap, s->nfiles, sizeof(*s->files)))
		return -1;
	s->capfiles = (unsigned)cap;
	s->files[s->nfiles++] = key;
	*out = 0;
	return 0;
}

/* xsd:include (INCLUDE 1) or xsd:import of N's schemaLocation. */
static int load_location(struct copyctx *c, xmlNodePtr n, int include, unsigned depth)
{
	struct xs_set *s = c->s;
	const char *loc = xattr(n, "schemaLocation"), *ns = include ? c->sch->tns
	                                                           : xattr(n, "namespace");
	char path[PATH_MAX], real[PATH_MAX], perr[PATH_MAX + 512];
	const char *slash, *p = loc, *tns;
	xmlDocPtr doc;
	xmlNodePtr root;
	int was = 0, rc, lazy;

	if (!loc)
		return include ? fail_at(c->err, c->errlen, c->file, line_of(n),
		                         "xsd:include needs a schemaLocation") : 0;
	if (!strncmp(loc, "file://localhost/", 17)) {
		p = loc + 16;   /* RFC 8089: the local host */
	} else if (!strncmp(loc, "file://", 7)) {
		if (loc[7] != '/')
			return fail_at(c->err, c->errlen, c->file, line_of(n), "schemaLocation \"%.200s\": "
			               "a file: URL with a host is not a local file", loc);
		p = loc + 7;
	} else if (!strncmp(loc, "file:", 5)) {
		p = loc + 5;
	} else if (strstr(loc, "://") || !strncmp(loc, "http:", 5) || !strncmp(loc, "https:", 6) ||
	           !strncmp(loc, "ftp:", 4)) {
		return fail_at(c->err, c->errlen, c->file, line_of(n), "schemaLocation \"%.200s\": "
		               "only local files are read (no network); download it and give a "
		               "relative path", loc);
	}
	if (!*p)
		return fail_at(c->err, c->errlen, c->file, line_of(n), "an empty schemaLocation");
	slash = strrchr(c->file, '/');
	if (*p == '/')
		rc = snprintf(path, sizeof(path), "%s", p);
	else if (slash)
		rc = snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - c->file), c->file, p);
	else
		rc = snprintf(path, sizeof(path), "%s", p);
	if (rc < 0 || (size_t)rc >= sizeof(path))
		return fail_at(c->err, c->errlen, c->file, line_of(n), "schemaLocation too long");
	if (!realpath(path, real))
		return fail_at(c->err, c->errlen, c->file, line_of(n), "schemaLocation \"%.200s\": "
		               "cannot open %s: %s", loc, path, strerror(errno));
	/* an import with no namespace= takes the file's (strictly it should
	 * have none; legacy WSDLs often leave it out) */
	lazy = !include && !ns;
	if (!lazy && seen(s, real, ns, &was))
		return fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	if (was)
		return 0;
	if (s->nfiles > MAX_FILES)
		return fail_at(c->err, c->errlen, c->file, line_of(n), "more than %d schema files",
		               MAX_FILES);
	if (depth >= MAX_IMPORT_DEPTH)
		return fail_at(c->err, c->errlen, c->file, line_of(n),
		               "imports and includes nested deeper than %d", MAX_IMPORT_DEPTH);
	if (!(doc = sx_parse_file(path, NULL, perr, sizeof(perr))))
		return fail_at(c->err, c->errlen, c->file, line_of(n), "schemaLocation \"%.200s\": %s",
		               loc, perr);
	root = xmlDocGetRootElement(doc);
	tns = root ? xattr(root, "targetNamespace") : NULL;
	if (!is_xs(root, "schema")) {
		rc = fail_at(c->err, c->errlen, path, root ? line_of(root) : 0,
		             "not an XML Schema (the root is not {%s}schema)", XS_NS);
	} else if (!include && !lazy && !ns_eq(tns, ns)) {
		rc = fail_at(c->err, c->errlen, c->file, line_of(n), "xsd:import namespace=\"%s\" but "
		             "%s has targetNamespace \"%s\"", NS(ns), path, NS(tns));
	} else if (lazy && seen(s, real, tns && *tns ? tns : NULL, &was)) {
		rc = fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	} else if (was) {
		rc = 0;
	} else {
		const char *pp = sp_strdup(s->pool, path);

		rc = pp ? add_schema(s, root, pp, c->sch->tns, include, depth + 1, c->err, c->errlen)
		        : fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	}
	xmlFreeDoc(doc);
	return rc;
}

static int add_schema(struct xs_set *s, xmlNodePtr root, const char *file, const char *inc_tns,
                      int include, unsigned depth, char *err, size_t errlen)
{
	struct copyctx c = { .s = s, .file = file, .err = err, .errlen = errlen };
	struct xschema *sch = sp_alloc(s->pool, sizeof(*sch));
	const char *tns = xattr(root, "targetNamespace"), *v;

	if (!sch)
		return fail_at(err, errlen, file, line_of(root), "out of memory");
	if (tns && !*tns)
		tns = NULL;
	if (include && !tns && inc_tns)
		c.cham = inc_tns;   /* a chameleon: it takes the includer's namespace */
	else if (include && !ns_eq(tns, inc_tns))
		return fail_at(err, errlen, file, line_of(root), "an included schema's "
		               "targetNamespace \"%s\" differs from the including schema's \"%s\"",
		               NS(tns), NS(inc_tns));
	sch->tns = c.cham ? c.cham : tns ? sp_strdup(s->pool, tns) : NULL;
	sch->qual_el = (v = xattr(root, "elementFormDefault")) && !strcmp(v, "qualified");
	sch->qual_attr = (v = xattr(root, "attributeFormDefault")) && !strcmp(v, "qualified");
	c.sch = sch;
	for (xmlNodePtr n = root->children; n; n = n->next) {
		int rc = 0;

		if (!is_xs(n, NULL))
			continue;
		if (is_xs(n, "include"))
			rc = load_location(&c, n, 1, depth);
		else if (is_xs(n, "import"))
			rc = load_location(&c, n, 0, depth);
		else if (is_xs(n, "redefine"))
			rc = fail_at(err, errlen, file, line_of(n), "xsd:redefine is not supported "
			             "(include the schema and change its types in place)");
		else if (is_xs(n, "element"))
			rc = declare(&c, G_ELEMENT, n);
		else if (is_xs(n, "complexType") || is_xs(n, "simpleType"))
			rc = declare(&c, G_TYPE, n);
		else if (is_xs(n, "group"))
			rc = declare(&c, G_GROUP, n);
		else if (is_xs(n, "attributeGroup"))
			rc = declare(&c, G_AGROUP, n);
		else if (is_xs(n, "attribute"))
			rc = declare(&c, G_ATTR, n);
		if (rc)
			return -1;
	}
	return 0;
}

struct xs_set *xs_set_new(struct sp_pool *pool)
{
	struct xs_set *s = sp_alloc(pool, sizeof(*s));

	if (s)
		s->pool = pool;
	return s;
}

int xs_set_add(struct xs_set *set, xmlNodePtr schema, const char *file, char *err, size_t errlen)
{
	char real[PATH_MAX];
	const char *f;
	int was = 0;

	if (set->resolved)
		return fail_at(err, errlen, file, 0, "the schema set is already resolved");
	if (!is_xs(schema, "schema"))
		return fail_at(err, errlen, file, schema ? line_of(schema) : 0,
		               "not an XML Schema (expected {%s}schema)", XS_NS);
	if (!(f = sp_strdup(set->pool, file)))
		return fail_at(err, errlen, file, 0, "out of memory");
	/* a schema file of its own: an include or import cycle back to it is
	 * not read twice */
	if (schema->parent && schema->parent->type == XML_DOCUMENT_NODE && realpath(file, real)) {
		const char *tns = xattr(schema, "targetNamespace");

		if (seen(set, real, tns && *tns ? tns : NULL, &was))
			return fail_at(err, errlen, file, 0, "out of memory");
		if (was)
			return 0;
	}
	return add_schema(set, schema, f, NULL, 0, 0, err, errlen);
}

/* ---- resolution ------------------------------------------------------------------ */

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
	if (!(*g = gfind(s, G_TYPE, q.ns, q.local))) {
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
	if (grow(s->pool, &s->res, &cap, s->nres, sizeof(*s->res))) {
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

	if (grow(s->pool, &l->v, &cap, l->n, sizeof(*l->v)))
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
		struct gd *g = gfind(s, G_ATTR, x->ref.ns, x->ref.local);

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
	struct gd *g = gfind(s, G_AGROUP, ref->ref.ns, ref->ref.local);
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
		if (!(g = gfind(s, G_ELEMENT, x->subst.ns, x->subst.local)))
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
		struct gd *g = gfind(s, G_ELEMENT, x->ref.ns, x->ref.local);

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
	struct gd *g = gfind(s, G_GROUP, ref->ref.ns, ref->ref.local);
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

int xs_set_resolve(struct xs_set *set, char *err, size_t errlen)
{
	struct xs_set *s = set;

	if (s->resolved)
		return 0;
	s->err = err;
	s->errlen = errlen;
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
	s->resolved = 1;
	return 0;
}

struct xs_element *xs_find_element(const struct xs_set *set, const char *ns, const char *name)
{
	struct gd *g = gfind(set, G_ELEMENT, ns && *ns ? ns : NULL, name);

	return g && set->resolved ? g->obj : NULL;
}

struct xs_type *xs_find_type(const struct xs_set *set, const char *ns, const char *name)
{
	struct gd *g;

	if (ns_eq(ns, XS_NS))
		return xs_builtin(name);
	g = gfind(set, G_TYPE, ns && *ns ? ns : NULL, name);
	return g && set->resolved ? g->obj : NULL;
}

void xs_set_free(struct xs_set *set)
{
	if (!set)
		return;
	for (unsigned i = 0; i < set->nres; i++)
		xmlRegFreeRegexp(set->res[i]);
	set->nres = 0;
}
