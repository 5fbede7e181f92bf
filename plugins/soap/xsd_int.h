/*
 * xsd_int.h - what xsd.c (reading schemas into copies of their own) and
 * xsd_resolve.c (building the soap.h model from the copies) share. Private
 * to those two files.
 */
#ifndef XSD_INT_H
#define XSD_INT_H

#include <string.h>

#include "soap.h"

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
	int resolved, failed;
	unsigned depth;
	char *err;                            /* while resolving */
	size_t errlen;
};

static inline int ns_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* X's unqualified attribute NAME, or NULL. */
static inline const char *ra(const struct xr *x, const char *name)
{
	for (unsigned i = 0; i < x->na; i++)
		if (!strcmp(x->av[2 * i], name))
			return x->av[2 * i + 1];
	return NULL;
}

static inline int ra_true(const struct xr *x, const char *name)
{
	const char *v = ra(x, name);

	return v && (!strcmp(v, "true") || !strcmp(v, "1"));
}

static inline int tag_is(const struct xr *x, const char *tag)
{
	return x && !strcmp(x->tag, tag);
}

/* Makes room for one more of SIZE bytes in *VP (N used of *CAP), from POOL. */
int xsd_grow(struct sp_pool *pool, void *vp, size_t *cap, size_t n, size_t size);
/* ERR = "FILE:LINE: message" (no LINE when 0); returns -1. */
int xsd_fail_at(char *err, size_t errlen, const char *file, long line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
struct gd *xsd_gfind(const struct xs_set *s, enum gkind k, const char *ns, const char *name);

#define FAIL(s, x, ...) xsd_fail_at((s)->err, (s)->errlen, (x)->file, (x)->line, __VA_ARGS__)
#define NS(q) ((q) ? (q) : "")

#endif
