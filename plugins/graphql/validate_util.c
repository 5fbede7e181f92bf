/*
 * validate_util.c - what the validator's rules share: arena memory,
 * messages and error reports, hash maps, and schema helpers (TypeInfo's
 * lookups); see validate.c.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "printer.h"
#include "validate_priv.h"

/* ---- memory, strings, errors ---- */

void *gqlv_vcalloc(struct vctx *v, size_t n)
{
	void *p = gql_arena_calloc(v->a, n ? n : 1);

	if (!p)
		longjmp(v->bail, 1);
	return p;
}

/* Room for one more element of SIZE in ARR (N used, *CAP allocated). */
void *gqlv_grow(struct vctx *v, void *arr, unsigned n, unsigned *cap,
                size_t size)
{
	void *na;
	unsigned nc;

	if (n < *cap)
		return arr;
	nc = *cap ? *cap * 2 : 4;
	if (nc < *cap)
		longjmp(v->bail, 1);
	na = gqlv_vcalloc(v, (size_t)nc * size);
	if (n)
		memcpy(na, arr, (size_t)n * size);
	*cap = nc;
	return na;
}

static char *vfmt(struct vctx *v, const char *f, va_list ap)
	__attribute__((format(printf, 2, 0)));

static char *vfmt(struct vctx *v, const char *f, va_list ap)
{
	va_list aq;
	char probe[1];
	int n;
	char *s;

	if (!f)
		f = "";	/* never; quiets gcc 12's -Wformat-truncation under UBSan */
	va_copy(aq, ap);
	n = vsnprintf(probe, sizeof(probe), f, aq);
	va_end(aq);
	if (n < 0)
		n = 0;
	s = gqlv_vcalloc(v, (size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, f, ap);
	return s;
}

char *gqlv_fmt(struct vctx *v, const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	s = vfmt(v, f, ap);
	va_end(ap);
	return s;
}

/* Add an error; past max_errors, graphql-js's abort error and stop. */
void gqlv_report(struct vctx *v, const char *msg, unsigned n,
                 const struct gql_vloc *locs)
{
	struct gql_verror *e;

	if (v->n_errs >= v->max_errors) {
		e = PUSH(v, v->errs, v->n_errs, v->cap_errs);
		e->message = "Too many validation errors, error limit reached. "
		             "Validation aborted.";
		e->n_locs = 0;
		e->locs = NULL;
		longjmp(v->bail, 2);
	}
	e = PUSH(v, v->errs, v->n_errs, v->cap_errs);
	e->message = msg;
	e->n_locs = n;
	e->locs = locs;
}

void gqlv_err_at(struct vctx *v, unsigned line, unsigned column,
                 const char *f, ...)
{
	struct gql_vloc *l = gqlv_vcalloc(v, sizeof(*l));
	va_list ap;
	char *msg;

	va_start(ap, f);
	msg = vfmt(v, f, ap);
	va_end(ap);
	l->line = line;
	l->column = column;
	gqlv_report(v, msg, 1, l);
}

void gqlv_err_at2(struct vctx *v, unsigned l1, unsigned c1, unsigned l2,
                  unsigned c2, const char *f, ...)
{
	struct gql_vloc *l = gqlv_vcalloc(v, 2 * sizeof(*l));
	va_list ap;
	char *msg;

	va_start(ap, f);
	msg = vfmt(v, f, ap);
	va_end(ap);
	l[0].line = l1;
	l[0].column = c1;
	l[1].line = l2;
	l[1].column = c2;
	gqlv_report(v, msg, 2, l);
}

const char *gqlv_print_value(struct vctx *v, const struct gql_value *val)
{
	char *s = gql_print_value(v->a, val, NULL);

	if (!s)
		longjmp(v->bail, 1);
	return s;
}

const char *gqlv_print_type(struct vctx *v, const struct gql_type *t)
{
	char *s = gql_print_type(v->a, t, NULL);

	if (!s)
		longjmp(v->bail, 1);
	return s;
}

const char *gqlv_tref_str(struct vctx *v, const struct gql_tref *t)
{
	size_t n = gql_tref_print(t, NULL, 0);
	char *s = gqlv_vcalloc(v, n + 1);

	gql_tref_print(t, s, n + 1);
	return s;
}

void gqlv_sb_add(struct vctx *v, struct sbuf *b, const char *s)
{
	size_t l = strlen(s);

	if (b->n + l + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *np;

		while (nc < b->n + l + 1)
			nc *= 2;
		if (nc > MAX_MESSAGE)
			nc = MAX_MESSAGE;
		if (b->n + 1 >= nc)
			return;
		np = gqlv_vcalloc(v, nc);
		if (b->n)
			memcpy(np, b->p, b->n);
		b->p = np;
		b->cap = nc;
		if (b->n + l + 1 > nc)
			l = nc - b->n - 1;
	}
	memcpy(b->p + b->n, s, l);
	b->n += l;
	b->p[b->n] = '\0';
}

/* ---- hash maps ---- */

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static uint32_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

/* Value of KEY, or -1. */
long gqlv_smap_get(const struct smap *m, const char *key)
{
	uint32_t i;

	if (!m->cap)
		return -1;
	for (i = hash_str(key) & (m->cap - 1); m->keys[i];
	     i = (i + 1) & (m->cap - 1))
		if (strcmp(m->keys[i], key) == 0)
			return m->vals[i];
	return -1;
}

void gqlv_smap_put(struct vctx *v, struct smap *m, const char *key,
                   unsigned val)
{
	uint32_t i;

	if (2 * (m->n + 1) > m->cap) {
		struct smap old = *m;

		m->cap = m->cap ? m->cap * 2 : 16;
		m->keys = gqlv_vcalloc(v, m->cap * sizeof(*m->keys));
		m->vals = gqlv_vcalloc(v, m->cap * sizeof(*m->vals));
		m->n = 0;
		for (unsigned k = 0; k < old.cap; k++)
			if (old.keys[k])
				gqlv_smap_put(v, m, old.keys[k], old.vals[k]);
	}
	for (i = hash_str(key) & (m->cap - 1); m->keys[i];
	     i = (i + 1) & (m->cap - 1))
		if (strcmp(m->keys[i], key) == 0) {
			m->vals[i] = val;
			return;
		}
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
}

void *gqlv_pmap_get(const struct pmap *m, const void *key)
{
	uint32_t i;

	if (!m->cap)
		return NULL;
	for (i = hash_u64((uintptr_t)key) & (m->cap - 1); m->keys[i];
	     i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key)
			return m->vals[i];
	return NULL;
}

void gqlv_pmap_put(struct vctx *v, struct pmap *m, const void *key,
                   void *val)
{
	uint32_t i;

	if (2 * (m->n + 1) > m->cap) {
		struct pmap old = *m;

		m->cap = m->cap ? m->cap * 2 : 64;
		m->keys = gqlv_vcalloc(v, m->cap * sizeof(*m->keys));
		m->vals = gqlv_vcalloc(v, m->cap * sizeof(*m->vals));
		m->n = 0;
		for (unsigned k = 0; k < old.cap; k++)
			if (old.keys[k])
				gqlv_pmap_put(v, m, old.keys[k], old.vals[k]);
	}
	for (i = hash_u64((uintptr_t)key) & (m->cap - 1); m->keys[i];
	     i = (i + 1) & (m->cap - 1))
		;
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
}

/* 0: absent, else 1 + the stored flag. */
unsigned gqlv_pairs_get(const struct pairset *p, uint64_t key)
{
	uint32_t i;

	if (!p->cap)
		return 0;
	for (i = hash_u64(key) & (p->cap - 1); p->keys[i];
	     i = (i + 1) & (p->cap - 1))
		if (p->keys[i] == key)
			return p->vals[i];
	return 0;
}

void gqlv_pairs_put(struct vctx *v, struct pairset *p, uint64_t key,
                    unsigned val)
{
	uint32_t i;

	if (2 * (p->n + 1) > p->cap) {
		struct pairset old = *p;

		p->cap = p->cap ? p->cap * 2 : 64;
		p->keys = gqlv_vcalloc(v, p->cap * sizeof(*p->keys));
		p->vals = gqlv_vcalloc(v, p->cap);
		p->n = 0;
		for (unsigned k = 0; k < old.cap; k++)
			if (old.keys[k])
				gqlv_pairs_put(v, p, old.keys[k], old.vals[k]);
	}
	for (i = hash_u64(key) & (p->cap - 1); p->keys[i];
	     i = (i + 1) & (p->cap - 1))
		if (p->keys[i] == key) {
			p->vals[i] = (unsigned char)val;
			return;
		}
	p->keys[i] = key;
	p->vals[i] = (unsigned char)val;
	p->n++;
}

/*
 * For each of NAMES[0..N), the index of its first occurrence: groups of
 * equal names as graphql-js's groupBy, in linear time.
 */
unsigned *gqlv_first_index(struct vctx *v, const char *const *names,
                           unsigned n)
{
	unsigned *first = gqlv_vcalloc(v, (size_t)n * sizeof(*first));
	struct smap m = { 0 };

	for (unsigned i = 0; i < n; i++) {
		long k = -1;

		if (n <= 8) {
			for (unsigned j = 0; j < i && k < 0; j++)
				if (strcmp(names[j], names[i]) == 0)
					k = j;
		} else if ((k = gqlv_smap_get(&m, names[i])) < 0) {
			gqlv_smap_put(v, &m, names[i], i);
		}
		first[i] = k < 0 ? i : (unsigned)k;
	}
	return first;
}

/* ---- schema helpers ---- */

bool gqlv_is_leaf(const struct gql_stype *t)
{
	return t && (t->kind == GQL_SCALAR || t->kind == GQL_ENUM);
}

bool gqlv_is_composite(const struct gql_stype *t)
{
	return t && (t->kind == GQL_OBJECT || t->kind == GQL_INTERFACE ||
	             t->kind == GQL_UNION);
}

bool gqlv_is_abstract(const struct gql_stype *t)
{
	return t && (t->kind == GQL_INTERFACE || t->kind == GQL_UNION);
}

const struct gql_tref *gqlv_nullable(const struct gql_tref *t)
{
	return t && t->kind == GQL_TYPE_NON_NULL ? t->of : t;
}

/* A type by name as graphql-js's schema knows it (see schema.h). */
const struct gql_stype *gqlv_lookup_type(const struct vctx *v, const char *name)
{
	const struct gql_stype *t = gql_schema_type(v->s, name);

	return t && gql_schema_type_visible(v->s, t) ? t : NULL;
}

/* typeFromAST: NULL when a name is unknown. */
const struct gql_tref *gqlv_tref_from_ast(struct vctx *v,
                                          const struct gql_type *t)
{
	struct gql_tref *r;
	const struct gql_tref *of = NULL;
	const struct gql_stype *n = NULL;

	if (t->kind == GQL_TYPE_NAMED) {
		if (!(n = gqlv_lookup_type(v, t->name.value)))
			return NULL;
	} else if (!(of = gqlv_tref_from_ast(v, t->of))) {
		return NULL;
	}
	r = gqlv_vcalloc(v, sizeof(*r));
	r->kind = t->kind;
	r->named = (struct gql_stype *)n;
	r->of = of;
	return r;
}

/* schema.isSubType(ABSTRACT, SUB) */
bool gqlv_is_sub_type(const struct gql_stype *abs, const struct gql_stype *sub)
{
	if (abs->kind == GQL_UNION)
		return gql_is_possible(abs, sub) && abs != sub;
	if (abs->kind != GQL_INTERFACE)
		return false;
	if (sub->kind == GQL_OBJECT)
		return gql_is_possible(abs, sub) && abs != sub;
	if (sub->kind == GQL_INTERFACE)
		for (unsigned i = 0; i < sub->n_interfaces; i++)
			if (sub->interfaces[i] == abs)
				return true;
	return false;
}

/* TypeInfo's getFieldDef: meta-fields first. */
const struct gql_field *gqlv_field_def(const struct vctx *v,
                                       const struct gql_stype *parent,
                                       const char *name)
{
	const struct gql_field *f;

	if (!parent)
		return NULL;
	if ((f = gql_meta_field(v->s, parent, name)))
		return f;
	return gql_type_field(parent, name);
}

bool gqlv_is_introspection_field(const struct vctx *v, const struct gql_field *f,
                                 const struct gql_stype *parent)
{
	return f && parent == v->s->query && f->name[0] == '_' &&
	       (f == gql_meta_field(v->s, parent, "__schema") ||
	        f == gql_meta_field(v->s, parent, "__type"));
}

const struct gql_input_value *gqlv_find_input(const struct gql_input_value *iv,
                                              unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(iv[i].name, name) == 0)
			return &iv[i];
	return NULL;
}

bool gqlv_required(const struct gql_input_value *iv)
{
	return iv->type && iv->type->kind == GQL_TYPE_NON_NULL &&
	       !iv->default_value;
}

long gqlv_frag_index(const struct vctx *v, const char *name)
{
	return gqlv_smap_get(&v->frag_by_name, name);
}

const struct gql_stype *gqlv_root_type(const struct vctx *v, enum gql_op op)
{
	switch (op) {
	case GQL_OP_MUTATION: return v->s->mutation;
	case GQL_OP_SUBSCRIPTION: return v->s->subscription;
	default: return v->s->query;
	}
}

/* A guard on anything that follows spreads into fragments. */
bool gqlv_nest_ok(struct vctx *v, unsigned depth)
{
	if (depth <= MAX_FRAG_NEST)
		return true;
	v->frag_too_deep = true;
	return false;
}
