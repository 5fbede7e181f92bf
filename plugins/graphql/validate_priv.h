/*
 * validate_priv.h - what the validator's files share: the walk's context
 * (struct vctx), what it knows per definition, and the helpers and rule
 * checks one file calls in another. validate.c describes the walk; the
 * rules live in validate_*.c by family.
 */
#ifndef PORTICO_GQL_VALIDATE_PRIV_H
#define PORTICO_GQL_VALIDATE_PRIV_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "validate.h"

#define MAX_FRAG_NEST 100u		/* spreads within spreads */
#define MAX_MESSAGE 16384u

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

struct conflicts;

/* Non-repeatable directives already met at one location. */
struct dseen {
	struct smap m;
	const struct gql_directive **first;
	unsigned n, cap;
};

struct vctx {
	const struct gql_schema *s;
	const struct gql_doc *doc;
	struct gql_arena *a;
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

/* A message being built (arena memory, cut at MAX_MESSAGE). */
struct sbuf {
	char *p;
	size_t n, cap;
};

/* ---- validate_util.c: memory, strings, errors ---- */

void *gqlv_vcalloc(struct vctx *v, size_t n);
void *gqlv_grow(struct vctx *v, void *arr, unsigned n, unsigned *cap,
                size_t size);

#define PUSH(v, arr, n, cap) \
	((arr) = gqlv_grow((v), (arr), (n), &(cap), sizeof(*(arr))), &(arr)[(n)++])

char *gqlv_fmt(struct vctx *v, const char *f, ...)
	__attribute__((format(printf, 2, 3)));
void gqlv_report(struct vctx *v, const char *msg, unsigned n,
                 const struct gql_vloc *locs);
void gqlv_err_at(struct vctx *v, unsigned line, unsigned column,
                 const char *f, ...)
	__attribute__((format(printf, 4, 5)));
void gqlv_err_at2(struct vctx *v, unsigned l1, unsigned c1, unsigned l2,
                  unsigned c2, const char *f, ...)
	__attribute__((format(printf, 6, 7)));
const char *gqlv_print_value(struct vctx *v, const struct gql_value *val);
const char *gqlv_print_type(struct vctx *v, const struct gql_type *t);
const char *gqlv_tref_str(struct vctx *v, const struct gql_tref *t);
void gqlv_sb_add(struct vctx *v, struct sbuf *b, const char *s);

/* ---- validate_util.c: hash maps ---- */

long gqlv_smap_get(const struct smap *m, const char *key);
void gqlv_smap_put(struct vctx *v, struct smap *m, const char *key,
                   unsigned val);
void *gqlv_pmap_get(const struct pmap *m, const void *key);
void gqlv_pmap_put(struct vctx *v, struct pmap *m, const void *key,
                   void *val);
unsigned gqlv_pairs_get(const struct pairset *p, uint64_t key);
void gqlv_pairs_put(struct vctx *v, struct pairset *p, uint64_t key,
                    unsigned val);
unsigned *gqlv_first_index(struct vctx *v, const char *const *names,
                           unsigned n);

/* ---- validate_util.c: schema helpers ---- */

bool gqlv_is_leaf(const struct gql_stype *t);
bool gqlv_is_composite(const struct gql_stype *t);
bool gqlv_is_abstract(const struct gql_stype *t);
const struct gql_tref *gqlv_nullable(const struct gql_tref *t);
const struct gql_stype *gqlv_lookup_type(const struct vctx *v, const char *name);
const struct gql_tref *gqlv_tref_from_ast(struct vctx *v,
                                          const struct gql_type *t);
bool gqlv_is_sub_type(const struct gql_stype *abs, const struct gql_stype *sub);
const struct gql_field *gqlv_field_def(const struct vctx *v,
                                       const struct gql_stype *parent,
                                       const char *name);
bool gqlv_is_introspection_field(const struct vctx *v, const struct gql_field *f,
                                 const struct gql_stype *parent);
const struct gql_input_value *gqlv_find_input(const struct gql_input_value *iv,
                                              unsigned n, const char *name);
bool gqlv_required(const struct gql_input_value *iv);
long gqlv_frag_index(const struct vctx *v, const char *name);
const struct gql_stype *gqlv_root_type(const struct vctx *v, enum gql_op op);
bool gqlv_nest_ok(struct vctx *v, unsigned depth);

/* ---- validate_suggest.c: "Did you mean" ---- */

int gqlv_natural_compare(const char *a, const char *b);
const char **gqlv_suggest(struct vctx *v, const char *input,
                          const char *const *opts, unsigned n,
                          unsigned *n_out);
const char *gqlv_did_you_mean(struct vctx *v, const char *sub,
                              const char *const *list, unsigned n);
const char *gqlv_dym_list(struct vctx *v, const char *input,
                          const char *const *opts, unsigned n);
const char *gqlv_field_suggestion(struct vctx *v, const struct gql_stype *parent,
                                  const char *name);

/* ---- validate.c: the walk ---- */

void gqlv_walk_selection_set(struct vctx *v, const struct gql_selection_set *ss,
                             const struct gql_stype *type);

/* ---- validate_fragments.c ---- */

unsigned *gqlv_referenced(struct vctx *v, struct defn *op, unsigned *n_out);
void gqlv_walk_spread(struct vctx *v, const struct gql_selection *sel,
                      const struct gql_stype *parent);
void gqlv_walk_inline(struct vctx *v, const struct gql_selection *sel,
                      const struct gql_stype *parent,
                      const struct gql_stype *type);
void gqlv_walk_fragment(struct vctx *v, unsigned di);
void gqlv_no_unused_fragments(struct vctx *v);

/* ---- validate_values.c: arguments, values, variables ---- */

void gqlv_walk_value(struct vctx *v, const struct gql_value *val,
                     const struct gql_tref *type, bool has_default, bool vct);
void gqlv_unique_args(struct vctx *v, struct gql_argument *const *args,
                      unsigned n);
void gqlv_unique_variable_names(struct vctx *v, const struct gql_definition *op);
void gqlv_walk_variable_definition(struct vctx *v,
                                   const struct gql_variable_definition *vd);
void gqlv_operation_leave(struct vctx *v, struct defn *d);

/* ---- validate_directives.c ---- */

void gqlv_unique_directives_in(struct vctx *v, struct gql_directive *const *dirs,
                               unsigned n, struct dseen *seen);
void gqlv_unique_directives(struct vctx *v, struct gql_directive *const *dirs,
                            unsigned n);
void gqlv_walk_directives(struct vctx *v, struct gql_directive *const *dirs,
                          unsigned n, unsigned loc);

/* ---- validate_sdl.c: type names and type system definitions ---- */

void gqlv_known_type_names(struct vctx *v, const struct gql_type *t, bool sdl);
void gqlv_walk_sdl(struct vctx *v, const struct gql_definition *d);

/* ---- validate_overlap.c: OverlappingFieldsCanBeMerged (25) ---- */

struct fgroup *gqlv_fm_group(struct vctx *v, struct fmap *fm, const char *name);
void gqlv_rule_overlapping(struct vctx *v, const struct gql_stype *parent,
                           const struct gql_selection_set *ss);

/* ---- validate_limits.c ---- */

void gqlv_check_limits(struct vctx *v);

#endif
