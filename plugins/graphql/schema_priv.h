/*
 * schema_priv.h - what the schema builder's files share (schema, schema_fill,
 * schema_check, schema_lookup): the index a built schema carries, the
 * builder's state while building, and the helpers one file calls in another.
 */
#ifndef PORTICO_GQL_SCHEMA_PRIV_H
#define PORTICO_GQL_SCHEMA_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "schema.h"

/* ---- hash tables and the index (schema_lookup.c) ---- */

/* Name -> pointer, fixed capacity (twice the most keys it will hold). */
struct htab {
	uint32_t mask;
	const char **keys;
	void **vals;
};

/*
 * Types with more than FIELD_SCAN fields carry this header in the 16 bytes
 * (FIELD_HEAD) before their `fields` array: slots hold field index + 1.
 */
struct field_head {
	uint32_t mask;
	uint32_t *slots;
};

#define FIELD_SCAN 8u
#define FIELD_HEAD ((sizeof(struct field_head) + 15) & ~(size_t)15)

/* What schema->index points at. */
struct sindex {
	struct htab types, dirs;
	unsigned char *hidden;		/* per type index: see gql_schema_type_visible */
	struct gql_field typename_f, schema_f, type_f;
	struct gql_input_value type_arg;
	struct gql_tref string_nn, schema_nn, string_named, schema_named,
	                type_named;
};

uint32_t gqls_hash_str(const char *s);
int gqls_htab_init(struct htab *h, struct gql_arena *a, unsigned n);
void *gqls_htab_get(const struct htab *h, const char *key);
void gqls_htab_put(struct htab *h, const char *key, void *val);

/* ---- building (schema.c) ---- */

struct ext {
	const struct gql_definition *def;
	unsigned file;
	struct ext *next;
};

/* Where each part of a type came from, for messages; parallel arrays. */
struct tinfo {
	const struct gql_definition *def;
	unsigned file;
	struct ext *exts, **ext_tail;
	/* per field / input field / enum value: its definition and file */
	const void **mnode;
	unsigned *mfile;
	/* per resolved interface / union member: the reference and file */
	const struct gql_type **rnode;
	unsigned *rfile;
};

struct dinfo {
	const struct gql_definition *def;
	unsigned file;
};

struct builder {
	struct gql_schema *s;
	struct gql_arena *a;		/* the schema's */
	struct gql_arena tmp;		/* freed when building ends */
	struct sindex *ix;
	const char *const *names;
	unsigned n_files;		/* file 0 is the built-ins */
	struct gql_schema_error *errs;
	unsigned max_errs, n_errs;
	bool failed;
	struct tinfo *ti;		/* parallel to s->types */
	struct dinfo *di;		/* parallel to s->directives */
	const struct gql_definition *schema_def;
	unsigned schema_file;
	struct ext *schema_exts, **schema_ext_tail;
	unsigned char scalar_copy[8];	/* built-in scalar redefined in SDL */
};

void gqls_err(struct builder *b, unsigned file, unsigned line,
              unsigned column, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void gqls_oom(struct builder *b);
void gqls_check_name(struct builder *b, unsigned file, const struct gql_name *n);
const char *gqls_desc(const struct gql_value *v);

/* ---- filling types and directives, the root types (schema_fill.c) ---- */

void gqls_fill_type(struct builder *b, struct gql_stype *t);
void gqls_fill_directive(struct builder *b, unsigned i, bool apply);
void gqls_pick_roots(struct builder *b);

/* ---- type system validation (schema_check.c) ---- */

void gqls_check_roots(struct builder *b);
void gqls_check_directives(struct builder *b);
void gqls_check_types(struct builder *b);

#endif
