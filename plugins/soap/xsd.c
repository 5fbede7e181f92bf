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
 * cycle is refused (xsd_resolve.c).
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

#include "xsd_int.h"

#define MAX_FILES 1000      /* schema files one set reads */
#define MAX_IMPORT_DEPTH 32 /* import/include nesting */

static const char *const gname[G_N] = { "type", "element", "group", "attributeGroup",
                                        "attribute" };

/* ---- small things ------------------------------------------------------------------ */

int xsd_grow(struct sp_pool *pool, void *vp, size_t *cap, size_t n, size_t size)
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

static int is_xs(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       !strcmp((const char *)n->ns->href, XS_NS) &&
	       (!name || !strcmp((const char *)n->name, name));
}

static const char *xattr(xmlNodePtr n, const char *name)
{
	for (xmlAttrPtr a = n->properties; a; a = a->next)
		if (!a->ns && !strcmp((const char *)a->name, name) && a->children &&
		    a->children->type == XML_TEXT_NODE)
			return (const char *)a->children->content;
	return NULL;
}

int xsd_fail_at(char *err, size_t errlen, const char *file, long line, const char *fmt, ...)
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

struct gd *xsd_gfind(const struct xs_set *s, enum gkind k, const char *ns, const char *name)
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
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	if (!*t)
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "%s=\"\": an empty name", attr);
	if (sx_qname(n, t, 1, &ns, &local) != 0)
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n),
		               "%s=\"%.80s\": undeclared namespace prefix (or not a QName)", attr, t);
	if (!ns && c->cham)
		ns = c->cham;
	if (ns && !(ns = sp_strdup(c->s->pool, ns)))
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
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
	xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	return NULL;
}

static int declare(struct copyctx *c, enum gkind k, xmlNodePtr n)
{
	struct xs_set *s = c->s;
	const char *name = xattr(n, "name");
	struct gd *g, *dup;
	struct xr *x;

	if (!name || !*name)
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "a global %s needs a name",
		               (const char *)n->name);
	if ((dup = xsd_gfind(s, k, c->sch->tns, name)) != NULL)
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n),
		               "%s {%s}%s is declared twice (first at %s:%ld)", gname[k],
		               NS(c->sch->tns), name, dup->x->file, dup->x->line);
	if (!(x = copy(c, n)))
		return -1;
	if (!(g = sp_alloc(s->pool, sizeof(*g))) || !(g->name = sp_strdup(s->pool, name)))
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	g->kind = k;
	g->ns = c->sch->tns;
	g->x = x;
	if (hput(s->pool, &s->g[k], g) || xsd_grow(s->pool, &s->all, &s->capall, s->nall, sizeof(*s->all)))
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
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

	if (xsd_grow(s->pool, &s->files, &cap, s->nfiles, sizeof(*s->files)))
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
		return include ? xsd_fail_at(c->err, c->errlen, c->file, line_of(n),
		                         "xsd:include needs a schemaLocation") : 0;
	if (!strncmp(loc, "file://localhost/", 17)) {
		p = loc + 16;   /* RFC 8089: the local host */
	} else if (!strncmp(loc, "file://", 7)) {
		if (loc[7] != '/')
			return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "schemaLocation \"%.200s\": "
			               "a file: URL with a host is not a local file", loc);
		p = loc + 7;
	} else if (!strncmp(loc, "file:", 5)) {
		p = loc + 5;
	} else if (strstr(loc, "://") || !strncmp(loc, "http:", 5) || !strncmp(loc, "https:", 6) ||
	           !strncmp(loc, "ftp:", 4)) {
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "schemaLocation \"%.200s\": "
		               "only local files are read (no network); download it and give a "
		               "relative path", loc);
	}
	if (!*p)
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "an empty schemaLocation");
	slash = strrchr(c->file, '/');
	if (*p == '/')
		rc = snprintf(path, sizeof(path), "%s", p);
	else if (slash)
		rc = snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - c->file), c->file, p);
	else
		rc = snprintf(path, sizeof(path), "%s", p);
	if (rc < 0 || (size_t)rc >= sizeof(path))
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "schemaLocation too long");
	if (!realpath(path, real))
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "schemaLocation \"%.200s\": "
		               "cannot open %s: %s", loc, path, strerror(errno));
	/* an import with no namespace= takes the file's (strictly it should
	 * have none; legacy WSDLs often leave it out) */
	lazy = !include && !ns;
	if (!lazy && seen(s, real, ns, &was))
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	if (was)
		return 0;
	if (s->nfiles > MAX_FILES)
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "more than %d schema files",
		               MAX_FILES);
	if (depth >= MAX_IMPORT_DEPTH)
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n),
		               "imports and includes nested deeper than %d", MAX_IMPORT_DEPTH);
	if (!(doc = sx_parse_file(path, NULL, perr, sizeof(perr))))
		return xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "schemaLocation \"%.200s\": %s",
		               loc, perr);
	root = xmlDocGetRootElement(doc);
	tns = root ? xattr(root, "targetNamespace") : NULL;
	if (!is_xs(root, "schema")) {
		rc = xsd_fail_at(c->err, c->errlen, path, root ? line_of(root) : 0,
		             "not an XML Schema (the root is not {%s}schema)", XS_NS);
	} else if (!include && !lazy && !ns_eq(tns, ns)) {
		rc = xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "xsd:import namespace=\"%s\" but "
		             "%s has targetNamespace \"%s\"", NS(ns), path, NS(tns));
	} else if (lazy && seen(s, real, tns && *tns ? tns : NULL, &was)) {
		rc = xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
	} else if (was) {
		rc = 0;
	} else {
		const char *pp = sp_strdup(s->pool, path);

		rc = pp ? add_schema(s, root, pp, c->sch->tns, include, depth + 1, c->err, c->errlen)
		        : xsd_fail_at(c->err, c->errlen, c->file, line_of(n), "out of memory");
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
		return xsd_fail_at(err, errlen, file, line_of(root), "out of memory");
	if (tns && !*tns)
		tns = NULL;
	if (include && !tns && inc_tns)
		c.cham = inc_tns;   /* a chameleon: it takes the includer's namespace */
	else if (include && !ns_eq(tns, inc_tns))
		return xsd_fail_at(err, errlen, file, line_of(root), "an included schema's "
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
			rc = xsd_fail_at(err, errlen, file, line_of(n), "xsd:redefine is not supported "
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

	if (set->resolved || set->failed)
		return xsd_fail_at(err, errlen, file, 0, set->resolved ? "the schema set is already "
		                   "resolved" : "an earlier schema of the set failed");
	if (!is_xs(schema, "schema"))
		return xsd_fail_at(err, errlen, file, schema ? line_of(schema) : 0,
		               "not an XML Schema (expected {%s}schema)", XS_NS);
	if (!(f = sp_strdup(set->pool, file)))
		return xsd_fail_at(err, errlen, file, 0, "out of memory");
	/* a schema file of its own: an include or import cycle back to it is
	 * not read twice */
	if (schema->parent && schema->parent->type == XML_DOCUMENT_NODE && realpath(file, real)) {
		const char *tns = xattr(schema, "targetNamespace");

		if (seen(set, real, tns && *tns ? tns : NULL, &was))
			return xsd_fail_at(err, errlen, file, 0, "out of memory");
		if (was)
			return 0;
	}
	if (add_schema(set, schema, f, NULL, 0, 0, err, errlen) != 0) {
		set->failed = 1;   /* some of it is declared: resolving it would mislead */
		return -1;
	}
	return 0;
}

struct xs_element *xs_find_element(const struct xs_set *set, const char *ns, const char *name)
{
	struct gd *g = xsd_gfind(set, G_ELEMENT, ns && *ns ? ns : NULL, name);

	return g && set->resolved ? g->obj : NULL;
}

struct xs_type *xs_find_type(const struct xs_set *set, const char *ns, const char *name)
{
	struct gd *g;

	if (ns_eq(ns, XS_NS))
		return xs_builtin(name);
	g = xsd_gfind(set, G_TYPE, ns && *ns ? ns : NULL, name);
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
