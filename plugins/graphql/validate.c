/*
 * validate.c - the validation rules of the specification's section 5 and
 * the request limits; see validate.h.
 *
 * graphql-js runs its rules in parallel over one walk of the document, each
 * rule hooked on entering or leaving kinds of nodes, and keeps a TypeInfo
 * (parent type, field definition, expected input type) up to date. We walk
 * the same way and, at each node, run the checks of the rules interested in
 * it in graphql-js's `specifiedRules` order, so errors come out in the same
 * order. Rule numbers in comments are positions in that list:
 *
 *   1 ExecutableDefinitions     10 UniqueFragmentNames     19 UniqueDirectivesPerLocation
 *   2 UniqueOperationNames      11 KnownFragmentNames      20 KnownArgumentNames
 *   3 LoneAnonymousOperation    12 NoUnusedFragments       21 UniqueArgumentNames
 *   4 SingleFieldSubscriptions  13 PossibleFragmentSpreads 22 ValuesOfCorrectType
 *   5 KnownTypeNames            14 NoFragmentCycles        23 ProvidedRequiredArguments
 *   6 FragmentsOnCompositeTypes 15 UniqueVariableNames     24 VariablesInAllowedPosition
 *   7 VariablesAreInputTypes    16 NoUndefinedVariables    25 OverlappingFieldsCanBeMerged
 *   8 ScalarLeafs               17 NoUnusedVariables       26 UniqueInputFieldNames
 *   9 FieldsOnCorrectType       18 KnownDirectives
 *
 * A first walk records each definition's variable usages (with the input
 * type expected where each appears), because rules 16, 17 and 24 need
 * those of fragments defined after the operation that spreads them.
 *
 * Bounded work: fragments are walked once as definitions, never inlined;
 * whatever follows spreads (cycles, limits, subscriptions, field merging)
 * memoises per fragment and stops MAX_FRAG_NEST spreads deep; the field
 * merging rule, quadratic by nature, has a budget of comparisons. Memory
 * comes from the caller's arena; running out of it, or reaching the error
 * cap, leaves through a longjmp (nothing but arena memory is held).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portico/types.h"
#include "printer.h"
#include "validate.h"

#define MAX_FRAG_NEST 100u		/* spreads within spreads */
#define OVERLAP_BUDGET 2000000ul	/* field comparisons per document */
#define OVERLAP_MAX_DEPTH 400u		/* recursion of the merging rule */
#define MAX_MESSAGE 16384u
#define DEFAULT_LIST_SIZE 10u

/* Whether rule GQL_RULE_<R> runs (and we are past the usage walk). */
#define ON(v, r) ((v)->mode == WALK_RULES && ((v)->rules & GQL_RULE_##r))

enum walk_mode {
	WALK_USAGES = 1,		/* record variable usages only */
	WALK_RULES = 2,
};

/* A variable where a value is expected (TypeInfo's view of it). */
struct usage {
	const struct gql_value *node;
	const struct gql_tref *type;	/* NULL: unknown position */
	bool has_default;		/* the argument / input field has one */
};

struct cost {
	unsigned depth;
	const struct gql_selection *deepest;
	uint64_t aliases, cost;
};

/* What we know about one definition of the document. */
struct defn {
	const struct gql_definition *def;
	struct usage *usages;
	unsigned n_usages, cap_usages;
	/* FRAGMENT: spreads of its selection set, graphql-js's order */
	const struct gql_selection **spreads;
	unsigned n_spreads;
	bool spreads_done;
	/* OPERATION: recursively referenced fragments (defn indexes) */
	unsigned *refs;
	unsigned n_refs;
	bool refs_done;
	unsigned stamp;
	/* NoFragmentCycles */
	bool cycle_visited;
	unsigned path_pos;		/* position + 1 on the spread path */
	/* limits, per fragment; [0] with list multipliers, [1] without */
	unsigned char cost_state[2];	/* 0 none, 1 computing, 2 done */
	struct cost cost[2];
};

struct smap {
	const char **keys;
	unsigned *vals;
	unsigned cap, n;
};

struct pmap {
	const void **keys;
	void **vals;
	unsigned cap, n;
};

struct pairset {
	uint64_t *keys;
	unsigned char *vals;
	unsigned cap, n;
};

/* OverlappingFieldsCanBeMerged: fields by response name, and spreads. */
struct fent {
	const struct gql_stype *parent;
	const struct gql_selection *node;
	const struct gql_field *def;
};

struct fgroup {
	const char *name;
	struct fent *e;
	unsigned n, cap;
};

struct fmap {
	struct fgroup *g;
	unsigned n_g, cap_g;
	struct smap gidx;		/* used once n_g > 8 */
	const char **frags;
	unsigned n_frags, cap_frags;
	struct smap fidx;
};

struct reason {
	const char *name;
	const char *text;		/* NULL: see subs */
	struct reason *subs;
	unsigned n_subs;
};

struct nodes {
	const struct gql_selection **v;
	unsigned n, cap;
};

struct conflict {
	struct reason r;
	struct nodes f1, f2;
};

struct conflicts {
	struct conflict *v;
	unsigned n, cap;
};

/* Non-repeatable directives already met at one location. */
struct dseen {
	struct smap m;
	const struct gql_directive **first;
	unsigned n, cap;
};

struct vctx {
	const struct gql_schema *s;
	const struct gql_doc *doc;
	struct arena *a;
	jmp_buf bail;
	unsigned max_depth, max_aliases, max_complexity, max_errors;
	bool introspection;
	unsigned rules;			/* enum gql_rule bits */

	struct gql_verror *errs;
	unsigned n_errs, cap_errs;

	struct defn *defs;
	unsigned n_ops;
	struct smap frag_by_name;	/* name -> defn index, last wins */
	enum walk_mode mode;
	struct defn *cur;		/* being walked */
	unsigned stamp;

	struct smap op_names, frag_names;
	struct smap doc_dirs;		/* directive definitions: name -> def */
	struct smap doc_types;		/* type definitions: name -> def */
	struct dseen schema_seen;	/* rule 19 on schema { } and extensions */
	struct smap type_seen_idx;	/* rule 19 per type name */
	struct dseen **type_seen;
	unsigned n_type_seen, cap_type_seen;
	const struct gql_definition *op; /* operation being checked */

	/* NoFragmentCycles */
	const struct gql_selection **path;
	unsigned n_path, cap_path;

	bool frag_too_deep;		/* reported once */

	/* OverlappingFieldsCanBeMerged */
	struct pmap fmaps;
	struct pairset pairs;
	const struct conflicts *top_out;	/* the list rule 25 reports */
	unsigned long spent;
	bool exhausted, exhausted_reported;
};

/* ---- memory, strings, errors ---- */

static void *vcalloc(struct vctx *v, size_t n)
{
	void *p = arena_calloc(v->a, n ? n : 1);

	if (!p)
		longjmp(v->bail, 1);
	return p;
}

/* Room for one more element of SIZE in ARR (N used, *CAP allocated). */
static void *grow(struct vctx *v, void *arr, unsigned n, unsigned *cap,
                  size_t size)
{
	void *na;
	unsigned nc;

	if (n < *cap)
		return arr;
	nc = *cap ? *cap * 2 : 4;
	if (nc < *cap)
		longjmp(v->bail, 1);
	na = vcalloc(v, (size_t)nc * size);
	if (n)
		memcpy(na, arr, (size_t)n * size);
	*cap = nc;
	return na;
}

#define PUSH(v, arr, n, cap) \
	((arr) = grow((v), (arr), (n), &(cap), sizeof(*(arr))), &(arr)[(n)++])

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
	s = vcalloc(v, (size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, f, ap);
	return s;
}

static char *fmt(struct vctx *v, const char *f, ...)
	__attribute__((format(printf, 2, 3)));

static char *fmt(struct vctx *v, const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	s = vfmt(v, f, ap);
	va_end(ap);
	return s;
}

/* Add an error; past max_errors, graphql-js's abort error and stop. */
static void report(struct vctx *v, const char *msg, unsigned n,
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

static void err_at(struct vctx *v, unsigned line, unsigned column,
                   const char *f, ...)
	__attribute__((format(printf, 4, 5)));

static void err_at(struct vctx *v, unsigned line, unsigned column,
                   const char *f, ...)
{
	struct gql_vloc *l = vcalloc(v, sizeof(*l));
	va_list ap;
	char *msg;

	va_start(ap, f);
	msg = vfmt(v, f, ap);
	va_end(ap);
	l->line = line;
	l->column = column;
	report(v, msg, 1, l);
}

static void err_at2(struct vctx *v, unsigned l1, unsigned c1, unsigned l2,
                    unsigned c2, const char *f, ...)
	__attribute__((format(printf, 6, 7)));

static void err_at2(struct vctx *v, unsigned l1, unsigned c1, unsigned l2,
                    unsigned c2, const char *f, ...)
{
	struct gql_vloc *l = vcalloc(v, 2 * sizeof(*l));
	va_list ap;
	char *msg;

	va_start(ap, f);
	msg = vfmt(v, f, ap);
	va_end(ap);
	l[0].line = l1;
	l[0].column = c1;
	l[1].line = l2;
	l[1].column = c2;
	report(v, msg, 2, l);
}

static const char *print_value(struct vctx *v, const struct gql_value *val)
{
	char *s = gql_print_value(v->a, val, NULL);

	if (!s)
		longjmp(v->bail, 1);
	return s;
}

static const char *print_type(struct vctx *v, const struct gql_type *t)
{
	char *s = gql_print_type(v->a, t, NULL);

	if (!s)
		longjmp(v->bail, 1);
	return s;
}

static const char *tref_str(struct vctx *v, const struct gql_tref *t)
{
	size_t n = gql_tref_print(t, NULL, 0);
	char *s = vcalloc(v, n + 1);

	gql_tref_print(t, s, n + 1);
	return s;
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
static long smap_get(const struct smap *m, const char *key)
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

static void smap_put(struct vctx *v, struct smap *m, const char *key,
                     unsigned val)
{
	uint32_t i;

	if (2 * (m->n + 1) > m->cap) {
		struct smap old = *m;

		m->cap = m->cap ? m->cap * 2 : 16;
		m->keys = vcalloc(v, m->cap * sizeof(*m->keys));
		m->vals = vcalloc(v, m->cap * sizeof(*m->vals));
		m->n = 0;
		for (unsigned k = 0; k < old.cap; k++)
			if (old.keys[k])
				smap_put(v, m, old.keys[k], old.vals[k]);
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

static void *pmap_get(const struct pmap *m, const void *key)
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

static void pmap_put(struct vctx *v, struct pmap *m, const void *key,
                     void *val)
{
	uint32_t i;

	if (2 * (m->n + 1) > m->cap) {
		struct pmap old = *m;

		m->cap = m->cap ? m->cap * 2 : 64;
		m->keys = vcalloc(v, m->cap * sizeof(*m->keys));
		m->vals = vcalloc(v, m->cap * sizeof(*m->vals));
		m->n = 0;
		for (unsigned k = 0; k < old.cap; k++)
			if (old.keys[k])
				pmap_put(v, m, old.keys[k], old.vals[k]);
	}
	for (i = hash_u64((uintptr_t)key) & (m->cap - 1); m->keys[i];
	     i = (i + 1) & (m->cap - 1))
		;
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
}

/* 0: absent, else 1 + the stored flag. */
static unsigned pairs_get(const struct pairset *p, uint64_t key)
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

static void pairs_put(struct vctx *v, struct pairset *p, uint64_t key,
                      unsigned val)
{
	uint32_t i;

	if (2 * (p->n + 1) > p->cap) {
		struct pairset old = *p;

		p->cap = p->cap ? p->cap * 2 : 64;
		p->keys = vcalloc(v, p->cap * sizeof(*p->keys));
		p->vals = vcalloc(v, p->cap);
		p->n = 0;
		for (unsigned k = 0; k < old.cap; k++)
			if (old.keys[k])
				pairs_put(v, p, old.keys[k], old.vals[k]);
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
static unsigned *first_index(struct vctx *v, const char *const *names,
                             unsigned n)
{
	unsigned *first = vcalloc(v, (size_t)n * sizeof(*first));
	struct smap m = { 0 };

	for (unsigned i = 0; i < n; i++) {
		long k = -1;

		if (n <= 8) {
			for (unsigned j = 0; j < i && k < 0; j++)
				if (strcmp(names[j], names[i]) == 0)
					k = j;
		} else if ((k = smap_get(&m, names[i])) < 0) {
			smap_put(v, &m, names[i], i);
		}
		first[i] = k < 0 ? i : (unsigned)k;
	}
	return first;
}

/* ---- "Did you mean" (graphql-js suggestionList / didYouMean) ---- */

static int natural_compare(const char *a, const char *b)
{
	size_t i = 0, j = 0, la = strlen(a), lb = strlen(b);

	while (i < la && j < lb) {
		int ca = (unsigned char)a[i], cb = (unsigned char)b[j];

		if (ca >= '0' && ca <= '9' && cb >= '0' && cb <= '9') {
			uint64_t na = 0, nb = 0;

			do {
				++i;
				na = na * 10 + (unsigned)(ca - '0');
				ca = i < la ? (unsigned char)a[i] : 0;
			} while (ca >= '0' && ca <= '9' && na > 0 && na < UINT64_MAX / 20);
			do {
				++j;
				nb = nb * 10 + (unsigned)(cb - '0');
				cb = j < lb ? (unsigned char)b[j] : 0;
			} while (cb >= '0' && cb <= '9' && nb > 0 && nb < UINT64_MAX / 20);
			if (na != nb)
				return na < nb ? -1 : 1;
		} else {
			if (ca != cb)
				return ca < cb ? -1 : 1;
			++i;
			++j;
		}
	}
	return (la - i > lb - j) - (la - i < lb - j);
}

static char *lower(struct vctx *v, const char *s)
{
	size_t n = strlen(s);
	char *l = vcalloc(v, n + 1);

	for (size_t i = 0; i < n; i++)
		l[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	return l;
}

/* Damerau-Levenshtein distance of graphql-js's LexicalDistance, or -1. */
static long lex_distance(struct vctx *v, const char *input,
                         const char *in_lower, const char *option,
                         unsigned threshold, unsigned *rows)
{
	const char *a, *b;
	size_t la, lb, w;
	char *ol;

	if (strcmp(input, option) == 0)
		return 0;
	ol = lower(v, option);
	if (strcmp(ol, in_lower) == 0)
		return 1;
	a = ol;
	b = in_lower;
	if (strlen(a) < strlen(b)) {
		const char *t = a;

		a = b;
		b = t;
	}
	la = strlen(a);
	lb = strlen(b);
	if (la - lb > threshold)
		return -1;
	w = lb + 1;
	for (size_t j = 0; j <= lb; j++)
		rows[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned *up = rows + ((i - 1) % 3) * w;
		unsigned *cur = rows + (i % 3) * w;
		unsigned smallest = cur[0] = (unsigned)i;

		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
			unsigned c = up[j] + 1;

			if (cur[j - 1] + 1 < c)
				c = cur[j - 1] + 1;
			if (up[j - 1] + cost < c)
				c = up[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1]) {
				unsigned dd = rows[((i - 2) % 3) * w + j - 2] + 1;

				if (dd < c)
					c = dd;
			}
			if (c < smallest)
				smallest = c;
			cur[j] = c;
		}
		if (smallest > threshold)
			return -1;
	}
	w = rows[(la % 3) * (lb + 1) + lb];
	return w <= threshold ? (long)w : -1;
}

/* The options close to INPUT, best first; their count in *N_OUT. */
static const char **suggest(struct vctx *v, const char *input,
                            const char *const *opts, unsigned n,
                            unsigned *n_out)
{
	size_t len = strlen(input);
	unsigned threshold = (unsigned)(len * 4 / 10) + 1;
	unsigned *rows = vcalloc(v, 3 * (len + 1) * sizeof(*rows));
	const char *in_lower = lower(v, input);
	const char **out = vcalloc(v, (size_t)n * sizeof(*out) + 1);
	long *dist = vcalloc(v, (size_t)n * sizeof(*dist) + 1);
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		long d = lex_distance(v, input, in_lower, opts[i], threshold, rows);
		unsigned j;

		if (d < 0)
			continue;
		for (j = 0; j < k && strcmp(out[j], opts[i]) != 0; j++)
			;
		if (j < k)
			continue;	/* an object's keys are unique */
		/* insertion sort: by distance, then natural order */
		for (j = k; j > 0 && (dist[j - 1] > d || (dist[j - 1] == d &&
		     natural_compare(out[j - 1], opts[i]) > 0)); j--) {
			out[j] = out[j - 1];
			dist[j] = dist[j - 1];
		}
		out[j] = opts[i];
		dist[j] = d;
		k++;
	}
	*n_out = k;
	return out;
}

static const char *did_you_mean(struct vctx *v, const char *sub,
                                const char *const *list, unsigned n)
{
	char buf[1024];
	size_t at;

	if (n == 0)
		return "";
	at = (size_t)snprintf(buf, sizeof(buf), " Did you mean %s%s", sub ? sub : "",
	                      sub ? " " : "");
	if (n > 5)
		n = 5;
	for (unsigned i = 0; i < n && at < sizeof(buf); i++) {
		const char *sep = "";

		if (i > 0)
			sep = n == 2 ? " or " : (i == n - 1 ? ", or " : ", ");
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s\"%s\"", sep,
		                       list[i]);
	}
	if (at < sizeof(buf))
		snprintf(buf + at, sizeof(buf) - at, "?");
	return fmt(v, "%s", buf);
}

static const char *dym_list(struct vctx *v, const char *input,
                            const char *const *opts, unsigned n)
{
	unsigned k;
	const char **s = suggest(v, input, opts, n, &k);

	return did_you_mean(v, NULL, s, k);
}

/* ---- schema helpers ---- */

static bool is_leaf(const struct gql_stype *t)
{
	return t && (t->kind == GQL_SCALAR || t->kind == GQL_ENUM);
}

static bool is_composite(const struct gql_stype *t)
{
	return t && (t->kind == GQL_OBJECT || t->kind == GQL_INTERFACE ||
	             t->kind == GQL_UNION);
}

static bool is_abstract(const struct gql_stype *t)
{
	return t && (t->kind == GQL_INTERFACE || t->kind == GQL_UNION);
}

static const struct gql_tref *nullable(const struct gql_tref *t)
{
	return t && t->kind == GQL_TYPE_NON_NULL ? t->of : t;
}

/* A type by name as graphql-js's schema knows it (see schema.h). */
static const struct gql_stype *lookup_type(const struct vctx *v, const char *name)
{
	const struct gql_stype *t = gql_schema_type(v->s, name);

	return t && gql_schema_type_visible(v->s, t) ? t : NULL;
}

/* typeFromAST: NULL when a name is unknown. */
static const struct gql_tref *tref_from_ast(struct vctx *v,
                                            const struct gql_type *t)
{
	struct gql_tref *r;
	const struct gql_tref *of = NULL;
	const struct gql_stype *n = NULL;

	if (t->kind == GQL_TYPE_NAMED) {
		if (!(n = lookup_type(v, t->name.value)))
			return NULL;
	} else if (!(of = tref_from_ast(v, t->of))) {
		return NULL;
	}
	r = vcalloc(v, sizeof(*r));
	r->kind = t->kind;
	r->named = (struct gql_stype *)n;
	r->of = of;
	return r;
}

/* schema.isSubType(ABSTRACT, SUB) */
static bool is_sub_type(const struct gql_stype *abs, const struct gql_stype *sub)
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

/* doTypesOverlap */
static bool types_overlap(const struct gql_stype *a, const struct gql_stype *b)
{
	if (a == b)
		return true;
	if (is_abstract(a)) {
		if (is_abstract(b)) {
			for (unsigned i = 0; i < a->n_possible; i++)
				if (is_sub_type(b, a->possible[i]))
					return true;
			return false;
		}
		return is_sub_type(a, b);
	}
	if (is_abstract(b))
		return is_sub_type(b, a);
	return false;
}

/* TypeInfo's getFieldDef: meta-fields first. */
static const struct gql_field *field_def(const struct vctx *v,
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

static bool is_introspection_field(const struct vctx *v, const struct gql_field *f,
                                   const struct gql_stype *parent)
{
	return f && parent == v->s->query && f->name[0] == '_' &&
	       (f == gql_meta_field(v->s, parent, "__schema") ||
	        f == gql_meta_field(v->s, parent, "__type"));
}

static const struct gql_input_value *find_input(const struct gql_input_value *iv,
                                                unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(iv[i].name, name) == 0)
			return &iv[i];
	return NULL;
}

static bool required(const struct gql_input_value *iv)
{
	return iv->type && iv->type->kind == GQL_TYPE_NON_NULL &&
	       !iv->default_value;
}

static long frag_index(const struct vctx *v, const char *name)
{
	return smap_get(&v->frag_by_name, name);
}

static const struct gql_stype *root_type(const struct vctx *v, enum gql_op op)
{
	switch (op) {
	case GQL_OP_MUTATION: return v->s->mutation;
	case GQL_OP_SUBSCRIPTION: return v->s->subscription;
	default: return v->s->query;
	}
}

static unsigned op_loc(enum gql_op op)
{
	switch (op) {
	case GQL_OP_MUTATION: return GQL_LOC_MUTATION;
	case GQL_OP_SUBSCRIPTION: return GQL_LOC_SUBSCRIPTION;
	default: return GQL_LOC_QUERY;
	}
}

/* A guard on anything that follows spreads into fragments. */
static bool nest_ok(struct vctx *v, unsigned depth)
{
	if (depth <= MAX_FRAG_NEST)
		return true;
	v->frag_too_deep = true;
	return false;
}

/* ---- fragment spreads (ValidationContext.getFragmentSpreads) ---- */

/* Spreads of SS in graphql-js's order: a stack of selection sets. */
static const struct gql_selection **spreads_of(struct vctx *v,
                                               const struct gql_selection_set *ss,
                                               unsigned *n_out)
{
	const struct gql_selection_set **stk = NULL;
	const struct gql_selection **out = NULL;
	unsigned n_stk = 0, cap_stk = 0, n = 0, cap = 0;

	*PUSH(v, stk, n_stk, cap_stk) = ss;
	while (n_stk) {
		const struct gql_selection_set *set = stk[--n_stk];

		for (unsigned i = 0; i < set->n_items; i++) {
			const struct gql_selection *sel = set->items[i];

			if (sel->kind == GQL_SEL_FRAGMENT_SPREAD)
				*PUSH(v, out, n, cap) = sel;
			else if (sel->selection_set)
				*PUSH(v, stk, n_stk, cap_stk) = sel->selection_set;
		}
	}
	*n_out = n;
	return out;
}

static const struct gql_selection **frag_spreads(struct vctx *v, struct defn *d,
                                                 unsigned *n)
{
	if (!d->spreads_done) {
		d->spreads = spreads_of(v, d->def->selection_set, &d->n_spreads);
		d->spreads_done = true;
	}
	*n = d->n_spreads;
	return d->spreads;
}

/* getRecursivelyReferencedFragments, as defn indexes. */
static unsigned *referenced(struct vctx *v, struct defn *op, unsigned *n_out)
{
	struct defn **stk = NULL;
	unsigned n_stk = 0, cap_stk = 0, cap = 0, stamp = ++v->stamp;

	if (op->refs_done) {
		*n_out = op->n_refs;
		return op->refs;
	}
	*PUSH(v, stk, n_stk, cap_stk) = op;
	while (n_stk) {
		struct defn *d = stk[--n_stk];
		const struct gql_selection **sp;
		unsigned ns;

		/* a fragment's spreads are cached, an operation's are not */
		if (d == op)
			sp = spreads_of(v, d->def->selection_set, &ns);
		else
			sp = frag_spreads(v, d, &ns);
		for (unsigned i = 0; i < ns; i++) {
			long k = frag_index(v, sp[i]->name.value);

			if (k < 0 || v->defs[k].stamp == stamp)
				continue;
			v->defs[k].stamp = stamp;
			*PUSH(v, op->refs, op->n_refs, cap) = (unsigned)k;
			*PUSH(v, stk, n_stk, cap_stk) = &v->defs[k];
		}
	}
	op->refs_done = true;
	*n_out = op->n_refs;
	return op->refs;
}

/* ---- OverlappingFieldsCanBeMerged (25) ---- */

static bool spend(struct vctx *v, unsigned long n)
{
	if (v->exhausted)
		return false;
	if (v->spent + n > OVERLAP_BUDGET) {
		v->exhausted = true;
		return false;
	}
	v->spent += n;
	return true;
}

static struct fgroup *fm_group(struct vctx *v, struct fmap *fm, const char *name)
{
	long k = -1;
	struct fgroup *g;

	if (fm->n_g <= 8) {
		for (unsigned i = 0; i < fm->n_g && k < 0; i++)
			if (strcmp(fm->g[i].name, name) == 0)
				k = i;
	} else {
		k = smap_get(&fm->gidx, name);
	}
	if (k >= 0)
		return &fm->g[k];
	g = PUSH(v, fm->g, fm->n_g, fm->cap_g);
	memset(g, 0, sizeof(*g));
	g->name = name;
	if (fm->n_g == 9)
		for (unsigned i = 0; i < fm->n_g; i++)
			smap_put(v, &fm->gidx, fm->g[i].name, i);
	else if (fm->n_g > 9)
		smap_put(v, &fm->gidx, name, fm->n_g - 1);
	return g;
}

static const struct fgroup *fm_find(const struct fmap *fm, const char *name)
{
	long k = -1;

	if (fm->n_g <= 8) {
		for (unsigned i = 0; i < fm->n_g; i++)
			if (strcmp(fm->g[i].name, name) == 0)
				return &fm->g[i];
		return NULL;
	}
	k = smap_get(&fm->gidx, name);
	return k >= 0 ? &fm->g[k] : NULL;
}

static void fm_collect(struct vctx *v, const struct gql_stype *parent,
                       const struct gql_selection_set *ss, struct fmap *fm)
{
	for (unsigned i = 0; i < ss->n_items; i++) {
		const struct gql_selection *sel = ss->items[i];

		if (sel->kind == GQL_SEL_FIELD) {
			struct fgroup *g = fm_group(v, fm, sel->alias.value ?
			                            sel->alias.value : sel->name.value);
			struct fent *e = PUSH(v, g->e, g->n, g->cap);

			e->parent = parent;
			e->node = sel;
			e->def = parent && (parent->kind == GQL_OBJECT ||
			                    parent->kind == GQL_INTERFACE) ?
			         gql_type_field(parent, sel->name.value) : NULL;
		} else if (sel->kind == GQL_SEL_FRAGMENT_SPREAD) {
			if (smap_get(&fm->fidx, sel->name.value) < 0) {
				smap_put(v, &fm->fidx, sel->name.value, fm->n_frags);
				*PUSH(v, fm->frags, fm->n_frags, fm->cap_frags) =
					sel->name.value;
			}
		} else {
			const struct gql_stype *t = sel->type_condition ?
				lookup_type(v, sel->type_condition->name.value) : parent;

			fm_collect(v, t, sel->selection_set, fm);
		}
	}
}

/* getFieldsAndFragmentNames, cached per selection set. */
static const struct fmap *fields_of(struct vctx *v, const struct gql_stype *parent,
                                    const struct gql_selection_set *ss)
{
	struct fmap *fm = pmap_get(&v->fmaps, ss);

	if (fm)
		return fm;
	fm = vcalloc(v, sizeof(*fm));
	fm_collect(v, parent, ss, fm);
	pmap_put(v, &v->fmaps, ss, fm);
	spend(v, ss->n_items);
	return fm;
}

static const struct fmap *fields_of_frag(struct vctx *v, long k)
{
	const struct gql_definition *d = v->defs[k].def;
	struct fmap *fm = pmap_get(&v->fmaps, d->selection_set);

	if (fm)
		return fm;
	return fields_of(v, lookup_type(v, d->type_condition->name.value),
	                 d->selection_set);
}

static bool pair_has(struct vctx *v, long a, long b, bool excl)
{
	uint64_t key = a < b ? ((uint64_t)a << 32 | (uint64_t)b) :
	               ((uint64_t)b << 32 | (uint64_t)a);
	unsigned r = pairs_get(&v->pairs, key + 1);

	if (!r)
		return false;
	return excl ? true : (r - 1) == 0;
}

static void pair_add(struct vctx *v, long a, long b, bool excl)
{
	uint64_t key = a < b ? ((uint64_t)a << 32 | (uint64_t)b) :
	               ((uint64_t)b << 32 | (uint64_t)a);

	pairs_put(v, &v->pairs, key + 1, 1u + excl);
}

static bool value_equal(struct vctx *v, const struct gql_value *a,
                        const struct gql_value *b);

static int field_cmp(const void *x, const void *y)
{
	const struct gql_argument *a = *(const struct gql_argument *const *)x;
	const struct gql_argument *b = *(const struct gql_argument *const *)y;
	int c = natural_compare(a->name.value, b->name.value);

	/* stable, as sortValueNode's sort */
	return c ? c : (a < b ? -1 : a > b);
}

/* print(sortValueNode(A)) === print(sortValueNode(B)) */
static bool value_equal(struct vctx *v, const struct gql_value *a,
                        const struct gql_value *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case GQL_VALUE_BOOLEAN:
		return a->boolean == b->boolean;
	case GQL_VALUE_NULL:
		return true;
	case GQL_VALUE_STRING:
		return a->block == b->block && a->len == b->len &&
		       memcmp(a->str, b->str, a->len) == 0;
	case GQL_VALUE_LIST:
		if (a->n_items != b->n_items)
			return false;
		for (unsigned i = 0; i < a->n_items; i++)
			if (!value_equal(v, a->items[i], b->items[i]))
				return false;
		return true;
	case GQL_VALUE_OBJECT: {
		const struct gql_argument **fa, **fb;

		if (a->n_fields != b->n_fields)
			return false;
		if (a->n_fields == 0)
			return true;
		fa = vcalloc(v, a->n_fields * sizeof(*fa));
		fb = vcalloc(v, b->n_fields * sizeof(*fb));
		memcpy(fa, a->fields, a->n_fields * sizeof(*fa));
		memcpy(fb, b->fields, b->n_fields * sizeof(*fb));
		qsort(fa, a->n_fields, sizeof(*fa), field_cmp);
		qsort(fb, b->n_fields, sizeof(*fb), field_cmp);
		for (unsigned i = 0; i < a->n_fields; i++)
			if (strcmp(fa[i]->name.value, fb[i]->name.value) != 0 ||
			    !value_equal(v, fa[i]->value, fb[i]->value))
				return false;
		return true;
	}
	default:
		return strcmp(a->str, b->str) == 0;
	}
}

static bool same_arguments(struct vctx *v, const struct gql_selection *f1,
                           const struct gql_selection *f2)
{
	if (f1->n_args == 0)
		return f2->n_args == 0;
	if (f2->n_args == 0 || f1->n_args != f2->n_args)
		return false;
	spend(v, f1->n_args);
	for (unsigned i = 0; i < f1->n_args; i++) {
		const struct gql_value *v2 = NULL;

		/* a Map of the second list: the last of a name wins */
		for (unsigned j = f2->n_args; j-- > 0 && !v2;)
			if (strcmp(f2->args[j]->name.value, f1->args[i]->name.value) == 0)
				v2 = f2->args[j]->value;
		if (!v2 || !value_equal(v, f1->args[i]->value, v2))
			return false;
	}
	return true;
}

static bool types_conflict(const struct gql_tref *a, const struct gql_tref *b)
{
	if (a->kind == GQL_TYPE_LIST)
		return b->kind == GQL_TYPE_LIST ? types_conflict(a->of, b->of) : true;
	if (b->kind == GQL_TYPE_LIST)
		return true;
	if (a->kind == GQL_TYPE_NON_NULL)
		return b->kind == GQL_TYPE_NON_NULL ? types_conflict(a->of, b->of) : true;
	if (b->kind == GQL_TYPE_NON_NULL)
		return true;
	if (is_leaf(a->named) || is_leaf(b->named))
		return a->named != b->named;
	return false;
}

static void collect_between(struct vctx *v, struct conflicts *out, bool excl,
                            const struct fmap *m1, const struct fmap *m2,
                            unsigned depth);
static void between_fields_and_fragment(struct vctx *v, struct conflicts *out,
                                        bool excl, const struct fmap *fm,
                                        const char *name, unsigned depth);
static void between_fragments(struct vctx *v, struct conflicts *out, bool excl,
                              const char *n1, const char *n2, unsigned depth);

static void sub_selection_conflicts(struct vctx *v, struct conflicts *out,
                                    bool excl, const struct gql_stype *p1,
                                    const struct gql_selection_set *s1,
                                    const struct gql_stype *p2,
                                    const struct gql_selection_set *s2,
                                    unsigned depth)
{
	const struct fmap *m1 = fields_of(v, p1, s1);
	const struct fmap *m2 = fields_of(v, p2, s2);

	collect_between(v, out, excl, m1, m2, depth);
	for (unsigned i = 0; i < m2->n_frags; i++)
		between_fields_and_fragment(v, out, excl, m1, m2->frags[i], depth);
	for (unsigned i = 0; i < m1->n_frags; i++)
		between_fields_and_fragment(v, out, excl, m2, m1->frags[i], depth);
	for (unsigned i = 0; i < m1->n_frags; i++)
		for (unsigned j = 0; j < m2->n_frags; j++)
			between_fragments(v, out, excl, m1->frags[i], m2->frags[j],
			                  depth);
}

static void add_conflict(struct vctx *v, struct conflicts *out, const char *name,
                         const char *text, const struct fent *a,
                         const struct fent *b)
{
	struct conflict *c = PUSH(v, out->v, out->n, out->cap);

	memset(c, 0, sizeof(*c));
	c->r.name = name;
	c->r.text = text;
	*PUSH(v, c->f1.v, c->f1.n, c->f1.cap) = a->node;
	*PUSH(v, c->f2.v, c->f2.n, c->f2.cap) = b->node;
}

/* findConflict: adds at most one conflict to OUT. */
static void find_conflict(struct vctx *v, struct conflicts *out,
                          bool parent_excl, const char *name,
                          const struct fent *a, const struct fent *b,
                          unsigned depth)
{
	const struct gql_tref *t1 = a->def ? a->def->type : NULL;
	const struct gql_tref *t2 = b->def ? b->def->type : NULL;
	bool excl = parent_excl || (a->parent != b->parent && a->parent &&
	            b->parent && a->parent->kind == GQL_OBJECT &&
	            b->parent->kind == GQL_OBJECT);
	struct conflicts sub = { 0 };

	if (!spend(v, 1) || depth > OVERLAP_MAX_DEPTH) {
		v->exhausted = true;
		return;
	}
	if (!excl) {
		if (strcmp(a->node->name.value, b->node->name.value) != 0)
			return add_conflict(v, out, name, fmt(v, "\"%s\" and \"%s\" "
			                    "are different fields", a->node->name.value,
			                    b->node->name.value), a, b);
		if (!same_arguments(v, a->node, b->node))
			return add_conflict(v, out, name, "they have differing "
			                    "arguments", a, b);
	}
	if (t1 && t2 && types_conflict(t1, t2))
		return add_conflict(v, out, name, fmt(v, "they return conflicting "
		                    "types \"%s\" and \"%s\"", tref_str(v, t1),
		                    tref_str(v, t2)), a, b);
	if (!a->node->selection_set || !b->node->selection_set)
		return;
	sub_selection_conflicts(v, &sub, excl, gql_tref_named(t1),
	                        a->node->selection_set, gql_tref_named(t2),
	                        b->node->selection_set, depth + 1);
	if (sub.n) {
		struct conflict *c = PUSH(v, out->v, out->n, out->cap);

		memset(c, 0, sizeof(*c));
		c->r.name = name;
		c->r.n_subs = sub.n;
		c->r.subs = vcalloc(v, sub.n * sizeof(*c->r.subs));
		*PUSH(v, c->f1.v, c->f1.n, c->f1.cap) = a->node;
		*PUSH(v, c->f2.v, c->f2.n, c->f2.cap) = b->node;
		for (unsigned i = 0; i < sub.n; i++) {
			c->r.subs[i] = sub.v[i].r;
			for (unsigned k = 0; k < sub.v[i].f1.n; k++)
				*PUSH(v, c->f1.v, c->f1.n, c->f1.cap) = sub.v[i].f1.v[k];
			for (unsigned k = 0; k < sub.v[i].f2.n; k++)
				*PUSH(v, c->f2.v, c->f2.n, c->f2.cap) = sub.v[i].f2.v[k];
		}
	}
}

/* Two leaf fields that compare alike with any field, and never conflict. */
static bool same_leaf(struct vctx *v, const struct fent *a, const struct fent *b)
{
	return !a->node->selection_set && !b->node->selection_set &&
	       a->parent == b->parent &&
	       strcmp(a->node->name.value, b->node->name.value) == 0 &&
	       same_arguments(v, a->node, b->node);
}

/* Whether OUT (the rule's own list) already holds more than can be reported. */
static bool out_full(const struct vctx *v, const struct conflicts *out)
{
	return out == v->top_out && out->n > v->max_errors;
}

/*
 * collectConflictsWithin: every pair of fields sharing a response name.
 * Hostile documents repeat a leaf field verbatim (`name name ...` ten
 * thousand times): such copies fall in one class, the classes are compared
 * once, and a pair of fields only costs work when its classes conflict, at
 * which point it yields an error (and errors are capped). The conflicts
 * come out as graphql-js's pair order has them.
 */
static void collect_within(struct vctx *v, struct conflicts *out,
                           const struct fmap *fm)
{
	for (unsigned g = 0; g < fm->n_g && !v->exhausted && !out_full(v, out); g++) {
		const struct fgroup *gr = &fm->g[g];
		unsigned n = gr->n, n_cls = 0, *cls, *rep, *first, *next, *cur, *pos;
		unsigned char *verdict;	/* per class pair: 0 unknown, 1 none, 2 conflict */
		struct conflict *res;	/* per class pair, when 2 */

		if (n < 2)
			continue;
		cls = vcalloc(v, n * sizeof(*cls));
		rep = vcalloc(v, n * sizeof(*rep));
		for (unsigned i = 0; i < n; i++) {
			unsigned k = n_cls;

			for (unsigned c = 0; c < n_cls && c < 16; c++)
				if (same_leaf(v, &gr->e[rep[c]], &gr->e[i])) {
					k = c;
					break;
				}
			if (k == n_cls)
				rep[n_cls++] = i;
			cls[i] = k;
		}
		if (n_cls == n || n_cls > 64) {
			/* no copies (or too many kinds): graphql-js's plain loop */
			for (unsigned i = 0; i + 1 < n && !v->exhausted; i++)
				for (unsigned j = i + 1; j < n && !v->exhausted &&
				     !out_full(v, out); j++)
					find_conflict(v, out, false, gr->name, &gr->e[i],
					              &gr->e[j], 0);
			continue;
		}
		if (n_cls == 1)
			continue;	/* all copies of one leaf */
		/* members of each class in order, as linked lists */
		first = vcalloc(v, n_cls * sizeof(*first));
		next = vcalloc(v, n * sizeof(*next));
		for (unsigned i = n; i-- > 0;) {
			next[i] = first[cls[i]];
			first[cls[i]] = i + 1;
		}
		verdict = vcalloc(v, (size_t)n_cls * n_cls);
		res = vcalloc(v, (size_t)n_cls * n_cls * sizeof(*res));
		cur = vcalloc(v, n_cls * sizeof(*cur));
		pos = vcalloc(v, n_cls * sizeof(*pos));
		memcpy(pos, first, n_cls * sizeof(*pos));
		for (unsigned i = 0; i + 1 < n && !v->exhausted && !out_full(v, out); i++) {
			unsigned ci = cls[i];

			memset(cur, 0, n_cls * sizeof(*cur));
			/* the first member after I of every conflicting class */
			for (unsigned c = 0; c < n_cls && !v->exhausted; c++) {
				size_t pc = (size_t)ci * n_cls + c;

				while (pos[c] && pos[c] - 1 <= i)
					pos[c] = next[pos[c] - 1];
				if (c == ci || !pos[c])
					continue;
				if (!verdict[pc]) {
					struct conflicts one = { 0 };

					find_conflict(v, &one, false, gr->name, &gr->e[rep[ci]],
					              &gr->e[rep[c]], 0);
					verdict[pc] = one.n ? 2 : 1;
					if (one.n)
						res[pc] = one.v[0];
				}
				if (verdict[pc] == 2)
					cur[c] = pos[c];
			}
			/* merge them by index: J ascending, as graphql-js's loop */
			for (;;) {
				unsigned best = 0, bc = 0;
				struct conflict *cf;
				const struct conflict *proto;

				for (unsigned c = 0; c < n_cls; c++)
					if (cur[c] && (!best || cur[c] < best)) {
						best = cur[c];
						bc = c;
					}
				if (!best || out_full(v, out))
					break;
				cur[bc] = next[best - 1];
				proto = &res[(size_t)ci * n_cls + bc];
				cf = PUSH(v, out->v, out->n, out->cap);
				memset(cf, 0, sizeof(*cf));
				cf->r = proto->r;
				if (gr->e[i].node->selection_set &&
				    gr->e[best - 1].node->selection_set) {
					/* two singletons: the prototype is this very pair */
					cf->f1 = proto->f1;
					cf->f2 = proto->f2;
				} else {
					*PUSH(v, cf->f1.v, cf->f1.n, cf->f1.cap) = gr->e[i].node;
					*PUSH(v, cf->f2.v, cf->f2.n, cf->f2.cap) =
						gr->e[best - 1].node;
				}
			}
		}
	}
}

static void collect_between(struct vctx *v, struct conflicts *out, bool excl,
                            const struct fmap *m1, const struct fmap *m2,
                            unsigned depth)
{
	if (!spend(v, m1->n_g))
		return;
	for (unsigned g = 0; g < m1->n_g && !v->exhausted; g++) {
		const struct fgroup *g1 = &m1->g[g];
		const struct fgroup *g2 = fm_find(m2, g1->name);

		for (unsigned i = 0; g2 && i < g1->n && !v->exhausted; i++)
			for (unsigned j = 0; j < g2->n && !v->exhausted &&
			     !out_full(v, out); j++)
				find_conflict(v, out, excl, g1->name, &g1->e[i],
				              &g2->e[j], depth);
	}
}

static void between_fields_and_fragment(struct vctx *v, struct conflicts *out,
                                        bool excl, const struct fmap *fm,
                                        const char *name, unsigned depth)
{
	long k = frag_index(v, name);
	const struct fmap *fm2;

	if (k < 0 || v->exhausted)
		return;
	if (!nest_ok(v, depth) || !spend(v, 1)) {
		v->exhausted = true;
		return;
	}
	fm2 = fields_of_frag(v, k);
	if (fm == fm2)
		return;
	collect_between(v, out, excl, fm, fm2, depth);
	for (unsigned i = 0; i < fm2->n_frags && !v->exhausted; i++) {
		long r = frag_index(v, fm2->frags[i]);

		if (r < 0 || pair_has(v, r, k, excl))
			continue;
		pair_add(v, r, k, excl);
		between_fields_and_fragment(v, out, excl, fm, fm2->frags[i],
		                            depth + 1);
	}
}

static void between_fragments(struct vctx *v, struct conflicts *out, bool excl,
                              const char *n1, const char *n2, unsigned depth)
{
	long k1, k2;
	const struct fmap *m1, *m2;

	if (strcmp(n1, n2) == 0 || v->exhausted)
		return;
	k1 = frag_index(v, n1);
	k2 = frag_index(v, n2);
	if (k1 < 0 || k2 < 0 || pair_has(v, k1, k2, excl))
		return;
	pair_add(v, k1, k2, excl);
	if (!nest_ok(v, depth) || !spend(v, 1)) {
		v->exhausted = true;
		return;
	}
	m1 = fields_of_frag(v, k1);
	m2 = fields_of_frag(v, k2);
	collect_between(v, out, excl, m1, m2, depth);
	for (unsigned i = 0; i < m2->n_frags && !v->exhausted; i++)
		between_fragments(v, out, excl, n1, m2->frags[i], depth + 1);
	for (unsigned i = 0; i < m1->n_frags && !v->exhausted; i++)
		between_fragments(v, out, excl, m1->frags[i], n2, depth + 1);
}

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_add(struct vctx *v, struct sbuf *b, const char *s)
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
		np = vcalloc(v, nc);
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

static void reason_message(struct vctx *v, struct sbuf *b, const struct reason *r)
{
	if (r->text)
		return sb_add(v, b, r->text);
	for (unsigned i = 0; i < r->n_subs && b->n + 1 < MAX_MESSAGE; i++) {
		if (i)
			sb_add(v, b, " and ");
		sb_add(v, b, "subfields \"");
		sb_add(v, b, r->subs[i].name);
		sb_add(v, b, "\" conflict because ");
		reason_message(v, b, &r->subs[i]);
	}
}

static void rule_overlapping(struct vctx *v, const struct gql_stype *parent,
                             const struct gql_selection_set *ss)
{
	struct conflicts out = { 0 };
	const struct fmap *fm;

	if (v->exhausted)
		return;
	v->top_out = &out;
	fm = fields_of(v, parent, ss);
	collect_within(v, &out, fm);
	for (unsigned i = 0; i < fm->n_frags && !v->exhausted; i++) {
		between_fields_and_fragment(v, &out, false, fm, fm->frags[i], 0);
		for (unsigned j = i + 1; j < fm->n_frags && !v->exhausted; j++)
			between_fragments(v, &out, false, fm->frags[i], fm->frags[j], 0);
	}
	for (unsigned i = 0; i < out.n; i++) {
		const struct conflict *c = &out.v[i];
		struct sbuf b = { 0 };
		struct gql_vloc *l = vcalloc(v, (c->f1.n + c->f2.n) * sizeof(*l));
		unsigned n = 0;

		sb_add(v, &b, "Fields \"");
		sb_add(v, &b, c->r.name);
		sb_add(v, &b, "\" conflict because ");
		reason_message(v, &b, &c->r);
		sb_add(v, &b, ". Use different aliases on the fields to fetch both "
		       "if this was intentional.");
		for (unsigned k = 0; k < c->f1.n; k++, n++) {
			l[n].line = c->f1.v[k]->line;
			l[n].column = c->f1.v[k]->column;
		}
		for (unsigned k = 0; k < c->f2.n; k++, n++) {
			l[n].line = c->f2.v[k]->line;
			l[n].column = c->f2.v[k]->column;
		}
		report(v, b.p, n, l);
	}
	if (v->exhausted && !v->exhausted_reported) {
		v->exhausted_reported = true;
		err_at(v, ss->line, ss->column, "Too many fields to compare for "
		       "conflicts (more than %lu comparisons): simplify the "
		       "selections; validation of field merging stopped here.",
		       OVERLAP_BUDGET);
	}
}

/* ---- ValuesOfCorrectType (22) ---- */

static const char *enum_suggestion(struct vctx *v, const struct gql_stype *e,
                                   const char *s)
{
	const char **names = vcalloc(v, (e->n_values + 1) * sizeof(*names));
	const char **sug;
	unsigned n;

	for (unsigned i = 0; i < e->n_values; i++)
		names[i] = e->values[i].name;
	sug = suggest(v, s, names, e->n_values, &n);
	return did_you_mean(v, "the enum value", sug, n);
}

/* An Int literal's text fits 32 bits (parseInt, then a range check). */
static bool int32_ok(const char *s)
{
	const char *d = s + (*s == '-');
	size_t n;

	while (*d == '0' && d[1])
		d++;
	n = strlen(d);
	if (n > 10)
		return false;
	if (n < 10)
		return true;
	return strcmp(d, *s == '-' ? "2147483648" : "2147483647") <= 0;
}

/* isValidValueNode: a literal (or a list/object not expected) at TYPE. */
static void check_literal(struct vctx *v, const struct gql_value *val,
                          const struct gql_tref *type)
{
	const struct gql_stype *t = gql_tref_named(type);
	const char *n;
	int k = val->kind;

	if (!t)
		return;
	if (!is_leaf(t)) {
		err_at(v, val->line, val->column, "Expected value of type \"%s\", "
		       "found %s.", tref_str(v, type), print_value(v, val));
		return;
	}
	if (t->kind == GQL_ENUM) {
		const char *p;

		if (k != GQL_VALUE_ENUM) {
			p = print_value(v, val);
			err_at(v, val->line, val->column, "Enum \"%s\" cannot represent "
			       "non-enum value: %s.%s", t->name, p,
			       enum_suggestion(v, t, p));
			return;
		}
		for (unsigned i = 0; i < t->n_values; i++)
			if (strcmp(t->values[i].name, val->str) == 0)
				return;
		err_at(v, val->line, val->column, "Value \"%s\" does not exist in "
		       "\"%s\" enum.%s", val->str, t->name,
		       enum_suggestion(v, t, val->str));
		return;
	}
	if (!t->builtin)
		return;		/* custom scalars take any literal */
	n = t->name;
	if (strcmp(n, "Int") == 0) {
		if (k != GQL_VALUE_INT)
			err_at(v, val->line, val->column, "Int cannot represent "
			       "non-integer value: %s", print_value(v, val));
		else if (!int32_ok(val->str))
			err_at(v, val->line, val->column, "Int cannot represent non "
			       "32-bit signed integer value: %s", val->str);
	} else if (strcmp(n, "Float") == 0) {
		if (k != GQL_VALUE_INT && k != GQL_VALUE_FLOAT)
			err_at(v, val->line, val->column, "Float cannot represent "
			       "non numeric value: %s", print_value(v, val));
	} else if (strcmp(n, "String") == 0) {
		if (k != GQL_VALUE_STRING)
			err_at(v, val->line, val->column, "String cannot represent a "
			       "non string value: %s", print_value(v, val));
	} else if (strcmp(n, "Boolean") == 0) {
		if (k != GQL_VALUE_BOOLEAN)
			err_at(v, val->line, val->column, "Boolean cannot represent a "
			       "non boolean value: %s", print_value(v, val));
	} else if (strcmp(n, "ID") == 0) {
		if (k != GQL_VALUE_STRING && k != GQL_VALUE_INT)
			err_at(v, val->line, val->column, "ID cannot represent a "
			       "non-string and non-integer value: %s",
			       print_value(v, val));
	}
}

/*
 * A value where TYPE is expected (NULL: unknown), HAS_DEFAULT if the
 * argument or input field has a default. VCT: ValuesOfCorrectType still
 * looks at this subtree (it stops below a list or object it rejected).
 */
static void walk_value(struct vctx *v, const struct gql_value *val,
                       const struct gql_tref *type, bool has_default, bool vct)
{
	bool rules = v->mode == WALK_RULES;

	vct = vct && ON(v, VALUES_OF_CORRECT_TYPE);
	switch (val->kind) {
	case GQL_VALUE_VARIABLE:
		if (v->mode == WALK_USAGES) {
			struct defn *d = v->cur;
			struct usage *u = PUSH(v, d->usages, d->n_usages, d->cap_usages);

			u->node = val;
			u->type = type;
			u->has_default = has_default;
		}
		return;
	case GQL_VALUE_NULL:
		if (rules && vct && type && type->kind == GQL_TYPE_NON_NULL &&
		    ON(v, VALUES_OF_CORRECT_TYPE))
			err_at(v, val->line, val->column, "Expected value of type "
			       "\"%s\", found null.", tref_str(v, type));
		return;
	case GQL_VALUE_LIST: {
		const struct gql_tref *lt = nullable(type);
		const struct gql_tref *item = lt && lt->kind == GQL_TYPE_LIST ?
		                              lt->of : lt;

		if (item && !gql_is_input_type(item))
			item = NULL;
		if (rules && vct && !(lt && lt->kind == GQL_TYPE_LIST)) {
			check_literal(v, val, item);
			vct = false;
		}
		for (unsigned i = 0; i < val->n_items; i++)
			walk_value(v, val->items[i], item, false, vct);
		return;
	}
	case GQL_VALUE_OBJECT: {
		const struct gql_stype *t = gql_tref_named(type);
		bool in_obj = t && t->kind == GQL_INPUT_OBJECT;
		const char **names = vcalloc(v, (val->n_fields + 1) * sizeof(*names));
		unsigned *first;
		struct smap present = { 0 };

		for (unsigned i = 0; i < val->n_fields; i++)
			names[i] = val->fields[i]->name.value;
		first = first_index(v, names, val->n_fields);
		if (rules && vct && !in_obj) {
			check_literal(v, val, type);
			vct = false;
		} else if (rules && vct) {
			for (unsigned i = 0; i < val->n_fields; i++)
				if (first[i] == i)
					smap_put(v, &present, names[i], i);
			for (unsigned i = 0; i < t->n_input_fields; i++) {
				const struct gql_input_value *f = &t->input_fields[i];

				if (required(f) && smap_get(&present, f->name) < 0)
					err_at(v, val->line, val->column, "Field \"%s.%s\" of "
					       "required type \"%s\" was not provided.",
					       t->name, f->name, tref_str(v, f->type));
			}
		}
		for (unsigned i = 0; i < val->n_fields; i++) {
			const struct gql_argument *of = val->fields[i];
			const struct gql_input_value *fd = in_obj ?
				find_input(t->input_fields, t->n_input_fields,
				           of->name.value) : NULL;
			const struct gql_tref *ft = fd && gql_is_input_type(fd->type) ?
			                            fd->type : NULL;

			if (rules && vct && in_obj && !ft) {
				const char **opts = vcalloc(v, (t->n_input_fields + 1) *
				                           sizeof(*opts));

				for (unsigned k = 0; k < t->n_input_fields; k++)
					opts[k] = t->input_fields[k].name;
				err_at(v, of->line, of->column, "Field \"%s\" is not "
				       "defined by type \"%s\".%s", of->name.value, t->name,
				       dym_list(v, of->name.value, opts,
				                t->n_input_fields));
			}
			/* 26 UniqueInputFieldNames */
			if (rules && first[i] != i && ON(v, UNIQUE_INPUT_FIELD_NAMES)) {
				const struct gql_argument *f0 = val->fields[first[i]];

				err_at2(v, f0->name.line, f0->name.column, of->name.line,
				        of->name.column, "There can be only one input field "
				        "named \"%s\".", of->name.value);
			}
			walk_value(v, of->value, ft, fd && fd->default_value, vct);
		}
		return;
	}
	default:
		if (rules && vct)
			check_literal(v, val, type);
		return;
	}
}

/* ---- directives and arguments ---- */

/* 21 UniqueArgumentNames over ARGS[0..N) */
static void unique_args(struct vctx *v, struct gql_argument *const *args,
                        unsigned n)
{
	const char **names;
	unsigned *first, *count;

	if (n < 2 || !ON(v, UNIQUE_ARGUMENT_NAMES))
		return;
	names = vcalloc(v, n * sizeof(*names));
	count = vcalloc(v, n * sizeof(*count));
	for (unsigned i = 0; i < n; i++)
		names[i] = args[i]->name.value;
	first = first_index(v, names, n);
	for (unsigned i = 0; i < n; i++)
		count[first[i]]++;
	for (unsigned i = 0; i < n; i++) {
		struct gql_vloc *l;
		unsigned k = 0;

		if (first[i] != i || count[i] < 2)
			continue;
		l = vcalloc(v, count[i] * sizeof(*l));
		for (unsigned j = i; j < n; j++)
			if (first[j] == i) {
				l[k].line = args[j]->name.line;
				l[k++].column = args[j]->name.column;
			}
		report(v, fmt(v, "There can be only one argument named \"%s\".",
		              names[i]), k, l);
	}
}

/*
 * A directive as rules 18, 19, 20 and 23 see it: a definition in the
 * document itself wins over the schema's (graphql-js reads both).
 */
struct dview {
	bool known, repeatable;
	unsigned locations;
	const struct gql_definition *ast;	/* the document's definition */
	const struct gql_directive_def *dd;	/* the schema's */
};

static unsigned ast_locations(const struct gql_definition *d)
{
	unsigned bits = 0;

	for (unsigned i = 0; i < d->n_locations; i++)
		for (unsigned b = 1; b <= GQL_LOC_INPUT_FIELD_DEFINITION; b <<= 1)
			if (strcmp(gql_dloc_name(b), d->locations[i]->value) == 0)
				bits |= b;
	return bits;
}

static struct dview directive_view(const struct vctx *v, const char *name)
{
	struct dview w = { 0 };
	long k = smap_get(&v->doc_dirs, name);

	w.dd = gql_schema_directive(v->s, name);
	if (k >= 0) {
		w.ast = v->doc->defs[k];
		w.known = true;
		w.locations = ast_locations(w.ast);
		w.repeatable = w.ast->repeatable;
	} else if (w.dd) {
		w.known = true;
		w.locations = w.dd->locations;
		w.repeatable = w.dd->repeatable;
	}
	return w;
}

/* 19 UniqueDirectivesPerLocation; SEEN is shared by a type's extensions */
static void unique_directives_in(struct vctx *v, struct gql_directive *const *dirs,
                                 unsigned n, struct dseen *seen)
{
	if (!ON(v, UNIQUE_DIRECTIVES_PER_LOCATION))
		return;
	for (unsigned i = 0; i < n; i++) {
		const struct gql_directive *d = dirs[i];
		struct dview w = directive_view(v, d->name.value);
		long k;

		if (!w.known || w.repeatable)
			continue;
		k = smap_get(&seen->m, d->name.value);
		if (k >= 0) {
			err_at2(v, seen->first[k]->line, seen->first[k]->column, d->line,
			        d->column, "The directive \"@%s\" can only be used once "
			        "at this location.", d->name.value);
		} else {
			smap_put(v, &seen->m, d->name.value, seen->n);
			*PUSH(v, seen->first, seen->n, seen->cap) = d;
		}
	}
}

static void unique_directives(struct vctx *v, struct gql_directive *const *dirs,
                              unsigned n)
{
	struct dseen seen = { 0 };

	if (n > 1)
		unique_directives_in(v, dirs, n, &seen);
}

static void walk_directives(struct vctx *v, struct gql_directive *const *dirs,
                            unsigned n, unsigned loc)
{
	bool rules = v->mode == WALK_RULES;

	for (unsigned i = 0; i < n; i++) {
		const struct gql_directive *d = dirs[i];
		const struct gql_directive_def *dd =
			gql_schema_directive(v->s, d->name.value);
		struct dview w = directive_view(v, d->name.value);
		unsigned nw = !w.known ? 0 : w.ast ? w.ast->n_args : w.dd->n_args;

		if (rules) {
			/* 18 KnownDirectives */
			if (ON(v, KNOWN_DIRECTIVES) && !w.known)
				err_at(v, d->line, d->column, "Unknown directive \"@%s\".",
				       d->name.value);
			else if (ON(v, KNOWN_DIRECTIVES) && !(w.locations & loc))
				err_at(v, d->line, d->column, "Directive \"@%s\" may not "
				       "be used on %s.", d->name.value, gql_dloc_name(loc));
			/* 20 KnownArgumentNames (directives) */
			for (unsigned k = 0; w.known && k < d->n_args &&
			     ON(v, KNOWN_ARGUMENT_NAMES); k++) {
				const struct gql_argument *a = d->args[k];
				const char **opts = vcalloc(v, (nw + 1) * sizeof(*opts));
				unsigned j;

				for (j = 0; j < nw; j++)
					opts[j] = w.ast ? w.ast->args[j]->name.value :
					          w.dd->args[j].name;
				for (j = 0; j < nw && strcmp(opts[j], a->name.value); j++)
					;
				if (j < nw)
					continue;
				err_at(v, a->line, a->column, "Unknown argument \"%s\" on "
				       "directive \"@%s\".%s", a->name.value, d->name.value,
				       dym_list(v, a->name.value, opts, nw));
			}
			unique_args(v, d->args, d->n_args);
		}
		for (unsigned k = 0; k < d->n_args; k++) {
			const struct gql_input_value *ad = dd ?
				find_input(dd->args, dd->n_args, d->args[k]->name.value) :
				NULL;

			walk_value(v, d->args[k]->value, ad ? ad->type : NULL,
			           ad && ad->default_value, true);
		}
		/* 23 ProvidedRequiredArguments (directives), on leaving */
		if (!rules || !ON(v, PROVIDED_REQUIRED_ARGUMENTS))
			continue;
		for (unsigned j = 0; j < nw; j++) {
			const char *an, *ts;
			unsigned k;

			if (w.ast) {
				const struct gql_input_value_definition *ad = w.ast->args[j];

				if (ad->type->kind != GQL_TYPE_NON_NULL || ad->default_value)
					continue;
				an = ad->name.value;
				ts = print_type(v, ad->type);
			} else {
				if (!required(&w.dd->args[j]))
					continue;
				an = w.dd->args[j].name;
				ts = tref_str(v, w.dd->args[j].type);
			}
			for (k = 0; k < d->n_args; k++)
				if (strcmp(d->args[k]->name.value, an) == 0)
					break;
			if (k == d->n_args)
				err_at(v, d->line, d->column, "Directive \"@%s\" argument "
				       "\"%s\" of type \"%s\" is required, but it was not "
				       "provided.", d->name.value, an, ts);
		}
	}
}

static const char *const standard_types[] = {
	"String", "Int", "Float", "Boolean", "ID", "__Schema", "__Type",
	"__TypeKind", "__Field", "__InputValue", "__EnumValue", "__Directive",
	"__DirectiveLocation",
};

#define N_STANDARD (sizeof(standard_types) / sizeof(standard_types[0]))

/*
 * 5 KnownTypeNames over every named type of T. The document's own type
 * definitions count as known; within a type system definition (SDL) so do
 * the standard types.
 */
static void known_type_names(struct vctx *v, const struct gql_type *t, bool sdl)
{
	const struct gql_schema *s = v->s;
	const char **opts;
	unsigned n = 0;

	if (!ON(v, KNOWN_TYPE_NAMES))
		return;
	if (t->kind != GQL_TYPE_NAMED)
		return known_type_names(v, t->of, sdl);
	if (lookup_type(v, t->name.value) ||
	    smap_get(&v->doc_types, t->name.value) >= 0)
		return;
	for (unsigned i = 0; sdl && i < N_STANDARD; i++)
		if (strcmp(standard_types[i], t->name.value) == 0)
			return;
	opts = vcalloc(v, (s->n_types + N_STANDARD + v->doc->n_defs + 1) *
	               sizeof(*opts));
	for (unsigned i = 0; sdl && i < N_STANDARD; i++)
		opts[n++] = standard_types[i];
	for (unsigned i = 0; i < s->n_types; i++)
		if (gql_schema_type_visible(s, s->types[i]))
			opts[n++] = s->types[i]->name;
	for (unsigned i = 0; i < v->doc->n_defs; i++) {
		const struct gql_definition *d = v->doc->defs[i];

		if (d->kind >= GQL_DEF_SCALAR && d->kind <= GQL_DEF_INPUT_OBJECT &&
		    !d->extension)
			opts[n++] = d->name.value;
	}
	err_at(v, t->line, t->column, "Unknown type \"%s\".%s", t->name.value,
	       dym_list(v, t->name.value, opts, n));
}

/* ---- type system definitions in an executable document ---- */

static void sdl_input_values(struct vctx *v,
                             struct gql_input_value_definition *const *ivs,
                             unsigned n, unsigned loc)
{
	for (unsigned i = 0; i < n; i++) {
		const struct gql_input_value_definition *iv = ivs[i];

		unique_directives(v, iv->directives, iv->n_directives);
		known_type_names(v, iv->type, true);
		/* TypeInfo knows no type here: only rule 26 can fire */
		if (iv->default_value)
			walk_value(v, iv->default_value, NULL, false, true);
		walk_directives(v, iv->directives, iv->n_directives, loc);
	}
}

static struct dseen *type_seen(struct vctx *v, const char *name)
{
	long k = smap_get(&v->type_seen_idx, name);
	struct dseen **slot;

	if (k >= 0)
		return v->type_seen[k];
	smap_put(v, &v->type_seen_idx, name, v->n_type_seen);
	slot = PUSH(v, v->type_seen, v->n_type_seen, v->cap_type_seen);
	*slot = vcalloc(v, sizeof(**slot));
	return *slot;
}

static unsigned sdl_loc(enum gql_def_kind k)
{
	switch (k) {
	case GQL_DEF_SCHEMA: return GQL_LOC_SCHEMA;
	case GQL_DEF_SCALAR: return GQL_LOC_SCALAR;
	case GQL_DEF_OBJECT: return GQL_LOC_OBJECT;
	case GQL_DEF_INTERFACE: return GQL_LOC_INTERFACE;
	case GQL_DEF_UNION: return GQL_LOC_UNION;
	case GQL_DEF_ENUM: return GQL_LOC_ENUM;
	default: return GQL_LOC_INPUT_OBJECT;
	}
}

/*
 * graphql-js's rules also visit type system definitions (which
 * ExecutableDefinitions rejects): directives, type names, argument names
 * and values there are checked as anywhere else, in AST order.
 */
static void walk_sdl(struct vctx *v, const struct gql_definition *d)
{
	if (d->kind == GQL_DEF_DIRECTIVE) {
		sdl_input_values(v, d->args, d->n_args, GQL_LOC_ARGUMENT_DEFINITION);
		return;
	}
	unique_directives_in(v, d->directives, d->n_directives,
	                     d->kind == GQL_DEF_SCHEMA ? &v->schema_seen :
	                     type_seen(v, d->name.value));
	switch (d->kind) {
	case GQL_DEF_SCHEMA:
		walk_directives(v, d->directives, d->n_directives, GQL_LOC_SCHEMA);
		for (unsigned i = 0; i < d->n_root_ops; i++)
			known_type_names(v, d->root_ops[i]->type, true);
		break;
	case GQL_DEF_OBJECT:
	case GQL_DEF_INTERFACE:
		for (unsigned i = 0; i < d->n_interfaces; i++)
			known_type_names(v, d->interfaces[i], true);
		walk_directives(v, d->directives, d->n_directives, sdl_loc(d->kind));
		for (unsigned i = 0; i < d->n_fields; i++) {
			const struct gql_field_definition *f = d->fields[i];

			unique_directives(v, f->directives, f->n_directives);
			sdl_input_values(v, f->args, f->n_args,
			                 GQL_LOC_ARGUMENT_DEFINITION);
			known_type_names(v, f->type, true);
			walk_directives(v, f->directives, f->n_directives,
			                GQL_LOC_FIELD_DEFINITION);
		}
		break;
	case GQL_DEF_UNION:
		walk_directives(v, d->directives, d->n_directives, GQL_LOC_UNION);
		for (unsigned i = 0; i < d->n_types; i++)
			known_type_names(v, d->types[i], true);
		break;
	case GQL_DEF_ENUM:
		walk_directives(v, d->directives, d->n_directives, GQL_LOC_ENUM);
		for (unsigned i = 0; i < d->n_values; i++) {
			unique_directives(v, d->values[i]->directives,
			                  d->values[i]->n_directives);
			walk_directives(v, d->values[i]->directives,
			                d->values[i]->n_directives, GQL_LOC_ENUM_VALUE);
		}
		break;
	case GQL_DEF_INPUT_OBJECT:
		walk_directives(v, d->directives, d->n_directives,
		                GQL_LOC_INPUT_OBJECT);
		sdl_input_values(v, d->input_fields, d->n_input_fields,
		                 GQL_LOC_INPUT_FIELD_DEFINITION);
		break;
	default:
		walk_directives(v, d->directives, d->n_directives, sdl_loc(d->kind));
		break;
	}
}

/* ---- selections ---- */

static void walk_selection_set(struct vctx *v, const struct gql_selection_set *ss,
                               const struct gql_stype *type);

/* getSuggestedTypeNames' order: most used, super types, then by name. */
static int type_order(const struct gql_stype *a, unsigned ca,
                      const struct gql_stype *b, unsigned cb)
{
	if (ca != cb)
		return ca < cb ? 1 : -1;
	if (a->kind == GQL_INTERFACE && is_sub_type(a, b))
		return -1;
	if (b->kind == GQL_INTERFACE && is_sub_type(b, a))
		return 1;
	return natural_compare(a->name, b->name);
}

/*
 * Sort TYPES (with their COUNTs) by type_order the way V8's
 * Array.prototype.sort does for fewer than 64 elements (one natural run,
 * then binary insertion): type_order is not a consistent order, so only
 * the same algorithm gives graphql-js's result.
 */
static void v8_sort(const struct gql_stype **types, unsigned *count, unsigned n)
{
	unsigned run = 2;

	if (n < 2)
		return;
	if (type_order(types[1], count[1], types[0], count[0]) < 0) {
		while (run < n && type_order(types[run], count[run], types[run - 1],
		                             count[run - 1]) < 0)
			run++;
		for (unsigned i = 0, j = run - 1; i < j; i++, j--) {
			const struct gql_stype *t = types[i];
			unsigned c = count[i];

			types[i] = types[j];
			count[i] = count[j];
			types[j] = t;
			count[j] = c;
		}
	} else {
		while (run < n && type_order(types[run], count[run], types[run - 1],
		                             count[run - 1]) >= 0)
			run++;
	}
	for (unsigned start = run; start < n; start++) {
		const struct gql_stype *pivot = types[start];
		unsigned pc = count[start], left = 0, right = start;

		while (left < right) {
			unsigned mid = left + ((right - left) >> 1);

			if (type_order(pivot, pc, types[mid], count[mid]) < 0)
				right = mid;
			else
				left = mid + 1;
		}
		memmove(types + left + 1, types + left, (start - left) * sizeof(*types));
		memmove(count + left + 1, count + left, (start - left) * sizeof(*count));
		types[left] = pivot;
		count[left] = pc;
	}
}

/* FieldsOnCorrectType's suggestions for NAME on PARENT. */
static const char *field_suggestion(struct vctx *v, const struct gql_stype *parent,
                                    const char *name)
{
	const struct gql_stype **types;
	unsigned *count, n = 0;
	const char **names;

	if (is_abstract(parent)) {
		unsigned cap = 1;

		for (unsigned i = 0; i < parent->n_possible; i++)
			cap += 1 + parent->possible[i]->n_interfaces;
		types = vcalloc(v, cap * sizeof(*types));
		count = vcalloc(v, cap * sizeof(*count));
		for (unsigned i = 0; i < parent->n_possible; i++) {
			const struct gql_stype *p = parent->possible[i];

			if (!gql_type_field(p, name))
				continue;
			types[n] = p;
			count[n++] = 1;
			for (unsigned k = 0; k < p->n_interfaces; k++) {
				const struct gql_stype *it = p->interfaces[k];
				unsigned j;

				if (!gql_type_field(it, name))
					continue;
				for (j = 0; j < n && types[j] != it; j++)
					;
				if (j == n) {
					types[n] = it;
					count[n++] = 0;
				}
				count[j]++;
			}
		}
		v8_sort(types, count, n);
		if (n) {
			names = vcalloc(v, n * sizeof(*names));
			for (unsigned i = 0; i < n; i++)
				names[i] = types[i]->name;
			return did_you_mean(v, "to use an inline fragment on", names, n);
		}
	}
	if (parent->kind == GQL_OBJECT || parent->kind == GQL_INTERFACE) {
		names = vcalloc(v, (parent->n_fields + 1) * sizeof(*names));
		for (unsigned i = 0; i < parent->n_fields; i++)
			names[i] = parent->fields[i].name;
		return dym_list(v, name, names, parent->n_fields);
	}
	return "";
}

static void walk_field(struct vctx *v, const struct gql_selection *sel,
                       const struct gql_stype *parent)
{
	const struct gql_field *fd = field_def(v, parent, sel->name.value);
	const struct gql_tref *type = fd ? fd->type : NULL;
	bool rules = v->mode == WALK_RULES;

	if (rules) {
		/* 8 ScalarLeafs */
		if (!ON(v, SCALAR_LEAFS) || !type) {
			/* nothing to check */
		} else if (is_leaf(gql_tref_named(type))) {
			if (sel->selection_set)
				err_at(v, sel->selection_set->line,
				       sel->selection_set->column, "Field \"%s\" must not "
				       "have a selection since type \"%s\" has no "
				       "subfields.", sel->name.value, tref_str(v, type));
		} else if (!sel->selection_set) {
			err_at(v, sel->line, sel->column, "Field \"%s\" of type \"%s\" "
			       "must have a selection of subfields. Did you mean "
			       "\"%s { ... }\"?", sel->name.value, tref_str(v, type),
			       sel->name.value);
		}
		/* 9 FieldsOnCorrectType */
		if (parent && !fd && ON(v, FIELDS_ON_CORRECT_TYPE))
			err_at(v, sel->line, sel->column, "Cannot query field \"%s\" on "
			       "type \"%s\".%s", sel->name.value, parent->name,
			       field_suggestion(v, parent, sel->name.value));
		unique_directives(v, sel->directives, sel->n_directives);
		unique_args(v, sel->args, sel->n_args);
		/* the introspection switch, after graphql-js's rules */
		if (!v->introspection && is_introspection_field(v, fd, parent))
			err_at(v, sel->line, sel->column, "GraphQL introspection has "
			       "been disabled, but the requested query contained the "
			       "field \"%s\".", sel->name.value);
	}
	for (unsigned i = 0; i < sel->n_args; i++) {
		const struct gql_argument *a = sel->args[i];
		const struct gql_input_value *ad = fd ?
			find_input(fd->args, fd->n_args, a->name.value) : NULL;

		/* 20 KnownArgumentNames */
		if (rules && !ad && fd && parent && ON(v, KNOWN_ARGUMENT_NAMES)) {
			const char **opts = vcalloc(v, (fd->n_args + 1) * sizeof(*opts));

			for (unsigned j = 0; j < fd->n_args; j++)
				opts[j] = fd->args[j].name;
			err_at(v, a->line, a->column, "Unknown argument \"%s\" on field "
			       "\"%s.%s\".%s", a->name.value, parent->name, fd->name,
			       dym_list(v, a->name.value, opts, fd->n_args));
		}
		walk_value(v, a->value, ad ? ad->type : NULL,
		           ad && ad->default_value, true);
	}
	walk_directives(v, sel->directives, sel->n_directives, GQL_LOC_FIELD);
	if (sel->selection_set)
		walk_selection_set(v, sel->selection_set, gql_tref_named(type));
	/* 23 ProvidedRequiredArguments, on leaving */
	for (unsigned j = 0; rules && fd && j < fd->n_args &&
	     ON(v, PROVIDED_REQUIRED_ARGUMENTS); j++) {
		unsigned k;

		if (!required(&fd->args[j]))
			continue;
		for (k = 0; k < sel->n_args; k++)
			if (strcmp(sel->args[k]->name.value, fd->args[j].name) == 0)
				break;
		if (k == sel->n_args)
			err_at(v, sel->line, sel->column, "Field \"%s\" argument \"%s\" "
			       "of type \"%s\" is required, but it was not provided.",
			       fd->name, fd->args[j].name, tref_str(v, fd->args[j].type));
	}
}

static void walk_spread(struct vctx *v, const struct gql_selection *sel,
                        const struct gql_stype *parent)
{
	if (v->mode == WALK_RULES) {
		long k = frag_index(v, sel->name.value);
		const struct gql_stype *ft = NULL;

		/* 11 KnownFragmentNames */
		if (k < 0 && ON(v, KNOWN_FRAGMENT_NAMES))
			err_at(v, sel->name.line, sel->name.column, "Unknown fragment "
			       "\"%s\".", sel->name.value);
		else if (k >= 0)
			ft = lookup_type(v, v->defs[k].def->type_condition->name.value);
		/* 13 PossibleFragmentSpreads */
		if (is_composite(ft) && parent && !types_overlap(ft, parent) &&
		    ON(v, POSSIBLE_FRAGMENT_SPREADS))
			err_at(v, sel->line, sel->column, "Fragment \"%s\" cannot be "
			       "spread here as objects of type \"%s\" can never be of "
			       "type \"%s\".", sel->name.value, parent->name, ft->name);
		unique_directives(v, sel->directives, sel->n_directives);
	}
	walk_directives(v, sel->directives, sel->n_directives,
	                GQL_LOC_FRAGMENT_SPREAD);
}

static void walk_inline(struct vctx *v, const struct gql_selection *sel,
                        const struct gql_stype *parent,
                        const struct gql_stype *type)
{
	const struct gql_type *tc = sel->type_condition;
	const struct gql_stype *raw = tc ? lookup_type(v, tc->name.value) : type;
	const struct gql_stype *ft = raw && raw->kind != GQL_INPUT_OBJECT ? raw : NULL;

	if (v->mode == WALK_RULES) {
		/* 6 FragmentsOnCompositeTypes */
		if (tc && raw && !is_composite(raw) &&
		    ON(v, FRAGMENTS_ON_COMPOSITE_TYPES))
			err_at(v, tc->line, tc->column, "Fragment cannot condition on "
			       "non composite type \"%s\".", tc->name.value);
		/* 13 PossibleFragmentSpreads */
		if (is_composite(ft) && parent && !types_overlap(ft, parent) &&
		    ON(v, POSSIBLE_FRAGMENT_SPREADS))
			err_at(v, sel->line, sel->column, "Fragment cannot be spread "
			       "here as objects of type \"%s\" can never be of type "
			       "\"%s\".", parent->name, ft->name);
		unique_directives(v, sel->directives, sel->n_directives);
	}
	if (tc)
		known_type_names(v, tc, false);
	walk_directives(v, sel->directives, sel->n_directives,
	                GQL_LOC_INLINE_FRAGMENT);
	walk_selection_set(v, sel->selection_set, ft);
}

/* TYPE: the named type the set selects from (NULL: unknown). */
static void walk_selection_set(struct vctx *v, const struct gql_selection_set *ss,
                               const struct gql_stype *type)
{
	const struct gql_stype *parent = is_composite(type) ? type : NULL;

	if (ON(v, OVERLAPPING_FIELDS_CAN_BE_MERGED))
		rule_overlapping(v, parent, ss);
	for (unsigned i = 0; i < ss->n_items; i++) {
		const struct gql_selection *sel = ss->items[i];

		if (sel->kind == GQL_SEL_FIELD)
			walk_field(v, sel, parent);
		else if (sel->kind == GQL_SEL_FRAGMENT_SPREAD)
			walk_spread(v, sel, parent);
		else
			walk_inline(v, sel, parent, type);
	}
}

/* ---- NoFragmentCycles (14) ---- */

/* From the fragment definition DI (graphql-js's detectCycleRecursive). */
static void detect_cycles(struct vctx *v, unsigned di, unsigned depth)
{
	long self = frag_index(v, v->defs[di].def->name.value);
	struct defn *d;
	const struct gql_selection **sp;
	unsigned ns;

	if (self < 0 || v->defs[self].cycle_visited || !nest_ok(v, depth))
		return;
	d = &v->defs[self];
	d->cycle_visited = true;
	/* the spreads of this very definition, even if a later one has its name */
	sp = frag_spreads(v, &v->defs[di], &ns);
	if (ns == 0)
		return;
	d->path_pos = v->n_path + 1;
	for (unsigned i = 0; i < ns; i++) {
		const char *name = sp[i]->name.value;
		long k = frag_index(v, name);
		unsigned at = k >= 0 ? v->defs[k].path_pos : 0;

		*PUSH(v, v->path, v->n_path, v->cap_path) = sp[i];
		if (!at) {
			if (k >= 0)
				detect_cycles(v, (unsigned)k, depth + 1);
		} else {
			unsigned from = at - 1, n = v->n_path - from;
			struct gql_vloc *l = vcalloc(v, n * sizeof(*l));
			struct sbuf via = { 0 };

			for (unsigned j = 0; j < n; j++) {
				const struct gql_selection *s = v->path[from + j];

				l[j].line = s->line;
				l[j].column = s->column;
				if (j + 1 < n) {
					sb_add(v, &via, j ? ", \"" : " via \"");
					sb_add(v, &via, s->name.value);
					sb_add(v, &via, "\"");
				}
			}
			report(v, fmt(v, "Cannot spread fragment \"%s\" within itself%s.",
			              name, via.p ? via.p : ""), n, l);
		}
		v->n_path--;
	}
	d->path_pos = 0;
}

/* ---- SingleFieldSubscriptions (4) ---- */

static bool directive_if(const struct gql_selection *sel, const char *name,
                         bool *value)
{
	for (unsigned i = 0; i < sel->n_directives; i++) {
		const struct gql_directive *d = sel->directives[i];

		if (strcmp(d->name.value, name) != 0)
			continue;
		for (unsigned k = 0; k < d->n_args; k++)
			if (strcmp(d->args[k]->name.value, "if") == 0 &&
			    d->args[k]->value->kind == GQL_VALUE_BOOLEAN) {
				*value = d->args[k]->value->boolean;
				return true;
			}
	}
	return false;
}

/* shouldIncludeNode with no variable values (a variable: included) */
static bool included(const struct gql_selection *sel)
{
	bool b;

	if (directive_if(sel, "skip", &b) && b)
		return false;
	if (directive_if(sel, "include", &b) && !b)
		return false;
	return true;
}

static bool condition_matches(struct vctx *v, const struct gql_type *tc,
                              const struct gql_stype *type)
{
	const struct gql_stype *t;

	if (!tc)
		return true;
	t = lookup_type(v, tc->name.value);
	if (!t)
		return false;
	if (t == type)
		return true;
	return is_abstract(t) && is_sub_type(t, type);
}

/* execution's collectFields on the subscription root */
static void sub_collect(struct vctx *v, const struct gql_stype *type,
                        const struct gql_selection_set *ss, struct fmap *fm,
                        unsigned stamp, unsigned depth)
{
	for (unsigned i = 0; i < ss->n_items; i++) {
		const struct gql_selection *sel = ss->items[i];
		long k;

		if (!included(sel))
			continue;
		if (sel->kind == GQL_SEL_FIELD) {
			struct fgroup *g = fm_group(v, fm, sel->alias.value ?
			                            sel->alias.value : sel->name.value);
			struct fent *e = PUSH(v, g->e, g->n, g->cap);

			e->node = sel;
		} else if (sel->kind == GQL_SEL_INLINE_FRAGMENT) {
			if (condition_matches(v, sel->type_condition, type))
				sub_collect(v, type, sel->selection_set, fm, stamp, depth);
		} else {
			k = frag_index(v, sel->name.value);
			if (k < 0 || v->defs[k].stamp == stamp)
				continue;
			v->defs[k].stamp = stamp;
			if (condition_matches(v, v->defs[k].def->type_condition, type) &&
			    nest_ok(v, depth))
				sub_collect(v, type, v->defs[k].def->selection_set, fm,
				            stamp, depth + 1);
		}
	}
}

static void single_field_subscription(struct vctx *v,
                                      const struct gql_definition *op)
{
	struct fmap fm = { 0 };
	const char *name = op->name.value;

	sub_collect(v, v->s->subscription, op->selection_set, &fm, ++v->stamp, 0);
	if (fm.n_g > 1) {
		unsigned n = 0, k = 0;
		struct gql_vloc *l;

		for (unsigned g = 1; g < fm.n_g; g++)
			n += fm.g[g].n;
		l = vcalloc(v, n * sizeof(*l));
		for (unsigned g = 1; g < fm.n_g; g++)
			for (unsigned i = 0; i < fm.g[g].n; i++, k++) {
				l[k].line = fm.g[g].e[i].node->line;
				l[k].column = fm.g[g].e[i].node->column;
			}
		report(v, name ? fmt(v, "Subscription \"%s\" must select only one "
		                     "top level field.", name) :
		       "Anonymous Subscription must select only one top level "
		       "field.", n, l);
	}
	for (unsigned g = 0; g < fm.n_g; g++) {
		struct gql_vloc *l;

		if (strncmp(fm.g[g].e[0].node->name.value, "__", 2) != 0)
			continue;
		l = vcalloc(v, fm.g[g].n * sizeof(*l));
		for (unsigned i = 0; i < fm.g[g].n; i++) {
			l[i].line = fm.g[g].e[i].node->line;
			l[i].column = fm.g[g].e[i].node->column;
		}
		report(v, name ? fmt(v, "Subscription \"%s\" must not select an "
		                     "introspection top level field.", name) :
		       "Anonymous Subscription must not select an introspection "
		       "top level field.", fm.g[g].n, l);
	}
}

/* ---- operations and fragments ---- */

/* 15 UniqueVariableNames */
static void unique_variable_names(struct vctx *v, const struct gql_definition *op)
{
	unsigned n = op->n_variables, *first, *count;
	const char **names;

	if (n < 2 || !ON(v, UNIQUE_VARIABLE_NAMES))
		return;
	names = vcalloc(v, n * sizeof(*names));
	count = vcalloc(v, n * sizeof(*count));
	for (unsigned i = 0; i < n; i++)
		names[i] = op->variables[i]->name.value;
	first = first_index(v, names, n);
	for (unsigned i = 0; i < n; i++)
		count[first[i]]++;
	for (unsigned i = 0; i < n; i++) {
		struct gql_vloc *l;
		unsigned k = 0;

		if (first[i] != i || count[i] < 2)
			continue;
		l = vcalloc(v, count[i] * sizeof(*l));
		for (unsigned j = i; j < n; j++)
			if (first[j] == i) {
				l[k].line = op->variables[j]->name.line;
				l[k++].column = op->variables[j]->name.column;
			}
		report(v, fmt(v, "There can be only one variable named \"$%s\".",
		              names[i]), k, l);
	}
}

static void walk_variable_definition(struct vctx *v,
                                     const struct gql_variable_definition *vd)
{
	const struct gql_tref *t = tref_from_ast(v, vd->type);

	if (v->mode == WALK_RULES) {
		/* 7 VariablesAreInputTypes */
		if (t && !gql_is_input_type(t) && ON(v, VARIABLES_ARE_INPUT_TYPES))
			err_at(v, vd->type->line, vd->type->column, "Variable \"$%s\" "
			       "cannot be non-input type \"%s\".", vd->name.value,
			       print_type(v, vd->type));
		unique_directives(v, vd->directives, vd->n_directives);
	}
	known_type_names(v, vd->type, false);
	if (vd->default_value)
		walk_value(v, vd->default_value, t && gql_is_input_type(t) ? t : NULL,
		           false, true);
	walk_directives(v, vd->directives, vd->n_directives,
	                GQL_LOC_VARIABLE_DEFINITION);
}

/* VariablesInAllowedPosition's allowedVariableUsage */
static bool usage_allowed(const struct gql_tref *var_type,
                          const struct gql_value *var_default,
                          const struct gql_tref *loc_type, bool loc_default)
{
	if (loc_type->kind == GQL_TYPE_NON_NULL &&
	    var_type->kind != GQL_TYPE_NON_NULL) {
		if (!(var_default && var_default->kind != GQL_VALUE_NULL) &&
		    !loc_default)
			return false;
		return gql_tref_subtype(var_type, loc_type->of);
	}
	return gql_tref_subtype(var_type, loc_type);
}

/* 16, 17 and 24, on leaving operation D */
static void operation_leave(struct vctx *v, struct defn *d)
{
	const struct gql_definition *op = d->def;
	const char *name = op->name.value;
	struct smap defined = { 0 }, used = { 0 };
	unsigned nr, *refs = referenced(v, d, &nr);

	for (unsigned i = 0; i < op->n_variables; i++)
		smap_put(v, &defined, op->variables[i]->name.value, i);
	for (unsigned r = 0; r <= nr; r++) {
		const struct defn *src = r ? &v->defs[refs[r - 1]] : d;

		for (unsigned i = 0; i < src->n_usages; i++) {
			const struct gql_value *u = src->usages[i].node;

			smap_put(v, &used, u->str, 1);
			if (smap_get(&defined, u->str) >= 0 ||
			    !ON(v, NO_UNDEFINED_VARIABLES))
				continue;
			if (name)
				err_at2(v, u->line, u->column, op->line, op->column,
				        "Variable \"$%s\" is not defined by operation "
				        "\"%s\".", u->str, name);
			else
				err_at2(v, u->line, u->column, op->line, op->column,
				        "Variable \"$%s\" is not defined.", u->str);
		}
	}
	for (unsigned i = 0; i < op->n_variables; i++) {
		const struct gql_variable_definition *vd = op->variables[i];

		if (smap_get(&used, vd->name.value) >= 0 ||
		    !ON(v, NO_UNUSED_VARIABLES))
			continue;
		if (name)
			err_at(v, vd->line, vd->column, "Variable \"$%s\" is never used "
			       "in operation \"%s\".", vd->name.value, name);
		else
			err_at(v, vd->line, vd->column, "Variable \"$%s\" is never "
			       "used.", vd->name.value);
	}
	for (unsigned r = 0; r <= nr; r++) {
		const struct defn *src = r ? &v->defs[refs[r - 1]] : d;

		for (unsigned i = 0; i < src->n_usages; i++) {
			const struct usage *u = &src->usages[i];
			long k = smap_get(&defined, u->node->str);
			const struct gql_variable_definition *vd;
			const struct gql_tref *vt;

			if (k < 0 || !u->type || !ON(v, VARIABLES_IN_ALLOWED_POSITION))
				continue;
			vd = op->variables[k];
			vt = tref_from_ast(v, vd->type);
			if (vt && !usage_allowed(vt, vd->default_value, u->type,
			                         u->has_default))
				err_at2(v, vd->line, vd->column, u->node->line,
				        u->node->column, "Variable \"$%s\" of type \"%s\" "
				        "used in position expecting type \"%s\".",
				        u->node->str, tref_str(v, vt), tref_str(v, u->type));
		}
	}
}

static void walk_operation(struct vctx *v, unsigned di)
{
	struct defn *d = &v->defs[di];
	const struct gql_definition *op = d->def;
	const struct gql_stype *root = root_type(v, op->operation);

	v->op = op;
	if (v->mode == WALK_RULES) {
		/* 2 UniqueOperationNames */
		if (op->name.value && ON(v, UNIQUE_OPERATION_NAMES)) {
			long k = smap_get(&v->op_names, op->name.value);

			if (k >= 0)
				err_at2(v, v->defs[k].def->name.line,
				        v->defs[k].def->name.column, op->name.line,
				        op->name.column, "There can be only one operation "
				        "named \"%s\".", op->name.value);
			else
				smap_put(v, &v->op_names, op->name.value, di);
		}
		/* 3 LoneAnonymousOperation */
		if (!op->name.value && v->n_ops > 1 &&
		    ON(v, LONE_ANONYMOUS_OPERATION))
			err_at(v, op->line, op->column, "This anonymous operation must "
			       "be the only defined operation.");
		/* 4 SingleFieldSubscriptions */
		if (op->operation == GQL_OP_SUBSCRIPTION && v->s->subscription &&
		    ON(v, SINGLE_FIELD_SUBSCRIPTIONS))
			single_field_subscription(v, op);
		unique_variable_names(v, op);
		unique_directives(v, op->directives, op->n_directives);
	}
	for (unsigned i = 0; i < op->n_variables; i++)
		walk_variable_definition(v, op->variables[i]);
	walk_directives(v, op->directives, op->n_directives, op_loc(op->operation));
	walk_selection_set(v, op->selection_set,
	                   root && root->kind == GQL_OBJECT ? root : NULL);
	if (v->mode == WALK_RULES)
		operation_leave(v, d);
}

static void walk_fragment(struct vctx *v, unsigned di)
{
	const struct gql_definition *f = v->defs[di].def;
	const struct gql_type *tc = f->type_condition;
	const struct gql_stype *raw = lookup_type(v, tc->name.value);

	v->op = NULL;
	if (v->mode == WALK_RULES) {
		long k;

		/* 6 FragmentsOnCompositeTypes */
		if (raw && !is_composite(raw) && ON(v, FRAGMENTS_ON_COMPOSITE_TYPES))
			err_at(v, tc->line, tc->column, "Fragment \"%s\" cannot condition "
			       "on non composite type \"%s\".", f->name.value,
			       tc->name.value);
		/* 10 UniqueFragmentNames */
		k = smap_get(&v->frag_names, f->name.value);
		if (k >= 0 && ON(v, UNIQUE_FRAGMENT_NAMES))
			err_at2(v, v->defs[k].def->name.line, v->defs[k].def->name.column,
			        f->name.line, f->name.column, "There can be only one "
			        "fragment named \"%s\".", f->name.value);
		else if (k < 0)
			smap_put(v, &v->frag_names, f->name.value, di);
		/* 14 NoFragmentCycles */
		if (ON(v, NO_FRAGMENT_CYCLES))
			detect_cycles(v, di, 0);
		unique_directives(v, f->directives, f->n_directives);
	}
	known_type_names(v, tc, false);
	walk_directives(v, f->directives, f->n_directives,
	                GQL_LOC_FRAGMENT_DEFINITION);
	walk_selection_set(v, f->selection_set,
	                   raw && raw->kind != GQL_INPUT_OBJECT ? raw : NULL);
}

/* 1 ExecutableDefinitions */
static void executable_definitions(struct vctx *v)
{
	for (unsigned i = 0; i < v->doc->n_defs; i++) {
		const struct gql_definition *d = v->doc->defs[i];

		if (d->kind == GQL_DEF_OPERATION || d->kind == GQL_DEF_FRAGMENT)
			continue;
		if (d->kind == GQL_DEF_SCHEMA)
			err_at(v, d->line, d->column, "The schema definition is not "
			       "executable.");
		else
			err_at(v, d->line, d->column, "The \"%s\" definition is not "
			       "executable.", d->name.value);
	}
}

/* 12 NoUnusedFragments, on leaving the document */
static void no_unused_fragments(struct vctx *v)
{
	unsigned char *used = vcalloc(v, v->doc->n_defs);

	for (unsigned i = 0; i < v->doc->n_defs; i++) {
		unsigned nr, *refs;

		if (v->defs[i].def->kind != GQL_DEF_OPERATION)
			continue;
		refs = referenced(v, &v->defs[i], &nr);
		for (unsigned k = 0; k < nr; k++)
			used[refs[k]] = 1;
	}
	for (unsigned i = 0; i < v->doc->n_defs; i++) {
		const struct gql_definition *f = v->defs[i].def;

		if (f->kind == GQL_DEF_FRAGMENT && !used[frag_index(v, f->name.value)])
			err_at(v, f->line, f->column, "Fragment \"%s\" is never used.",
			       f->name.value);
	}
}

/* ---- limits ---- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return a && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

static uint64_t int_value(const struct gql_value *val, uint64_t dflt)
{
	long long n;

	if (!val || val->kind != GQL_VALUE_INT)
		return dflt;
	n = strtoll(val->str, NULL, 10);
	return n < 0 ? 0 : (uint64_t)n;
}

/* How many items a list field is expected to return. */
static uint64_t list_size(const struct vctx *v, const struct gql_selection *sel)
{
	for (unsigned i = 0; i < sel->n_args; i++) {
		const struct gql_argument *a = sel->args[i];

		if (strcmp(a->name.value, "first") != 0 &&
		    strcmp(a->name.value, "limit") != 0)
			continue;
		if (a->value->kind == GQL_VALUE_VARIABLE) {
			for (unsigned k = 0; v->op && k < v->op->n_variables; k++)
				if (strcmp(v->op->variables[k]->name.value,
				           a->value->str) == 0)
					return int_value(v->op->variables[k]->default_value,
					                 DEFAULT_LIST_SIZE);
			return DEFAULT_LIST_SIZE;
		}
		return int_value(a->value, DEFAULT_LIST_SIZE);
	}
	return DEFAULT_LIST_SIZE;
}

static void cost_merge(struct cost *out, const struct cost *c)
{
	if (c->depth > out->depth) {
		out->depth = c->depth;
		out->deepest = c->deepest;
	}
	out->aliases = sat_add(out->aliases, c->aliases);
	out->cost = sat_add(out->cost, c->cost);
}

static void sel_cost(struct vctx *v, const struct gql_selection_set *ss,
                     const struct gql_stype *type, bool intro, unsigned nest,
                     struct cost *out);

static const struct cost *frag_cost(struct vctx *v, long k, bool intro,
                                    unsigned nest)
{
	static const struct cost zero;
	struct defn *d = &v->defs[k];
	struct cost c;

	if (d->cost_state[intro] == 2)
		return &d->cost[intro];
	if (d->cost_state[intro] == 1 || !nest_ok(v, nest))
		return &zero;	/* a cycle, reported by NoFragmentCycles */
	d->cost_state[intro] = 1;
	sel_cost(v, d->def->selection_set,
	         lookup_type(v, d->def->type_condition->name.value), intro,
	         nest + 1, &c);
	d->cost[intro] = c;
	d->cost_state[intro] = 2;
	return &d->cost[intro];
}

/* Depth, aliases and cost of SS; INTRO: under __schema / __type. */
static void sel_cost(struct vctx *v, const struct gql_selection_set *ss,
                     const struct gql_stype *type, bool intro, unsigned nest,
                     struct cost *out)
{
	const struct gql_stype *parent = is_composite(type) ? type : NULL;

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < ss->n_items; i++) {
		const struct gql_selection *sel = ss->items[i];
		struct cost c = { 0 };

		if (sel->kind == GQL_SEL_FIELD) {
			const struct gql_field *fd = field_def(v, parent, sel->name.value);
			bool in = intro || is_introspection_field(v, fd, parent);
			struct cost sub = { 0 };
			uint64_t mult = 1;

			if (sel->selection_set)
				sel_cost(v, sel->selection_set,
				         fd ? gql_tref_named(fd->type) : NULL, in, nest,
				         &sub);
			if (!in && fd && nullable(fd->type)->kind == GQL_TYPE_LIST)
				mult = list_size(v, sel);
			c.depth = sub.depth + 1;
			c.deepest = sub.deepest ? sub.deepest : sel;
			c.aliases = sat_add(sel->alias.value ? 1 : 0, sub.aliases);
			c.cost = sat_add(1, sat_mul(mult, sub.cost));
			cost_merge(out, &c);
		} else if (sel->kind == GQL_SEL_INLINE_FRAGMENT) {
			const struct gql_stype *t = sel->type_condition ?
				lookup_type(v, sel->type_condition->name.value) : type;

			sel_cost(v, sel->selection_set, t, intro, nest, &c);
			cost_merge(out, &c);
		} else {
			long k = frag_index(v, sel->name.value);

			if (k >= 0)
				cost_merge(out, frag_cost(v, k, intro, nest));
		}
	}
}

static void check_limits(struct vctx *v)
{
	if (v->max_depth == GQL_VLIMIT_NONE && v->max_aliases == GQL_VLIMIT_NONE &&
	    v->max_complexity == GQL_VLIMIT_NONE)
		return;
	for (unsigned i = 0; i < v->doc->n_defs; i++) {
		const struct gql_definition *op = v->defs[i].def;
		const struct gql_stype *root;
		struct cost c;

		if (op->kind != GQL_DEF_OPERATION)
			continue;
		v->op = op;
		root = root_type(v, op->operation);
		sel_cost(v, op->selection_set, root, false, 0, &c);
		if (v->max_depth != GQL_VLIMIT_NONE && c.depth > v->max_depth)
			err_at(v, c.deepest->line, c.deepest->column, "Operation is too "
			       "deep: depth %u exceeds max_depth %u.", c.depth,
			       v->max_depth);
		if (v->max_aliases != GQL_VLIMIT_NONE && c.aliases > v->max_aliases)
			err_at(v, op->line, op->column, "Operation uses too many "
			       "aliases: %llu exceeds max_aliases %u.",
			       (unsigned long long)c.aliases, v->max_aliases);
		if (v->max_complexity != GQL_VLIMIT_NONE &&
		    c.cost > v->max_complexity)
			err_at(v, op->line, op->column, "Operation is too complex: "
			       "complexity %llu exceeds max_complexity %u.",
			       (unsigned long long)c.cost, v->max_complexity);
	}
	v->op = NULL;
}

/* ---- entry ---- */

static const char *const rule_names[] = {
	"ExecutableDefinitions", "UniqueOperationNames", "LoneAnonymousOperation",
	"SingleFieldSubscriptions", "KnownTypeNames", "FragmentsOnCompositeTypes",
	"VariablesAreInputTypes", "ScalarLeafs", "FieldsOnCorrectType",
	"UniqueFragmentNames", "KnownFragmentNames", "NoUnusedFragments",
	"PossibleFragmentSpreads", "NoFragmentCycles", "UniqueVariableNames",
	"NoUndefinedVariables", "NoUnusedVariables", "KnownDirectives",
	"UniqueDirectivesPerLocation", "KnownArgumentNames", "UniqueArgumentNames",
	"ValuesOfCorrectType", "ProvidedRequiredArguments",
	"VariablesInAllowedPosition", "OverlappingFieldsCanBeMerged",
	"UniqueInputFieldNames",
};

unsigned gql_rule_bit(const char *name)
{
	size_t n = strlen(name);

	if (n > 4 && strcmp(name + n - 4, "Rule") == 0)
		n -= 4;
	for (unsigned i = 0; i < sizeof(rule_names) / sizeof(rule_names[0]); i++)
		if (strlen(rule_names[i]) == n && strncmp(rule_names[i], name, n) == 0)
			return 1u << i;
	return 0;
}

static void walk_definition(struct vctx *v, unsigned i)
{
	v->cur = &v->defs[i];
	if (v->defs[i].def->kind == GQL_DEF_OPERATION)
		walk_operation(v, i);
	else if (v->defs[i].def->kind == GQL_DEF_FRAGMENT)
		walk_fragment(v, i);
	else if (v->mode == WALK_RULES)
		walk_sdl(v, v->defs[i].def);
}

static void run(struct vctx *v)
{
	const struct gql_doc *doc = v->doc;
	const struct gql_definition *first_frag = NULL;

	v->defs = vcalloc(v, (doc->n_defs + 1) * sizeof(*v->defs));
	for (unsigned i = 0; i < doc->n_defs; i++) {
		v->defs[i].def = doc->defs[i];
		if (doc->defs[i]->kind == GQL_DEF_OPERATION)
			v->n_ops++;
		if (doc->defs[i]->kind == GQL_DEF_DIRECTIVE)
			smap_put(v, &v->doc_dirs, doc->defs[i]->name.value, i);
		if (doc->defs[i]->kind >= GQL_DEF_SCALAR &&
		    doc->defs[i]->kind <= GQL_DEF_INPUT_OBJECT &&
		    !doc->defs[i]->extension)
			smap_put(v, &v->doc_types, doc->defs[i]->name.value, i);
		if (doc->defs[i]->kind == GQL_DEF_FRAGMENT) {
			smap_put(v, &v->frag_by_name, doc->defs[i]->name.value, i);
			if (!first_frag)
				first_frag = doc->defs[i];
		}
	}
	v->mode = WALK_USAGES;
	for (unsigned i = 0; i < doc->n_defs; i++)
		walk_definition(v, i);
	check_limits(v);
	v->mode = WALK_RULES;
	if (ON(v, EXECUTABLE_DEFINITIONS))
		executable_definitions(v);
	for (unsigned i = 0; i < doc->n_defs; i++)
		walk_definition(v, i);
	if (ON(v, NO_UNUSED_FRAGMENTS))
		no_unused_fragments(v);
	if (v->frag_too_deep && first_frag)
		err_at(v, first_frag->line, first_frag->column, "Fragment spreads are "
		       "nested more than %u deep; only %u levels were checked.",
		       MAX_FRAG_NEST, MAX_FRAG_NEST);
}

static unsigned limit_or(unsigned value, unsigned dflt)
{
	return value ? value : dflt;
}

int gql_validate(const struct gql_schema *s, const struct gql_doc *doc,
                 const struct gql_vlimits *lim, struct arena *a,
                 struct gql_verror **errs, unsigned *n_errs)
{
	struct gql_vlimits none = { 0 };
	struct vctx *v;

	*errs = NULL;
	*n_errs = 0;
	if (!s || !doc || !a)
		return PT_EINVAL;
	if (!lim)
		lim = &none;
	v = arena_calloc(a, sizeof(*v));
	if (!v)
		return PT_ENOMEM;
	v->s = s;
	v->doc = doc;
	v->a = a;
	v->max_depth = limit_or(lim->max_depth, GQL_DEFAULT_MAX_QUERY_DEPTH);
	v->max_aliases = limit_or(lim->max_aliases, GQL_DEFAULT_MAX_ALIASES);
	v->max_complexity = limit_or(lim->max_complexity,
	                             GQL_DEFAULT_MAX_COMPLEXITY);
	v->max_errors = limit_or(lim->max_errors, GQL_DEFAULT_MAX_ERRORS);
	v->introspection = lim->introspection != GQL_INTROSPECTION_OFF;
	v->rules = lim->rules ? lim->rules & GQL_RULE_ALL : GQL_RULE_ALL;
	switch (setjmp(v->bail)) {
	case 0:
		run(v);
		break;
	case 1:
		return PT_ENOMEM;
	default:
		break;		/* the error cap was reached */
	}
	*errs = v->errs;
	*n_errs = v->n_errs;
	return (int)v->n_errs;
}
