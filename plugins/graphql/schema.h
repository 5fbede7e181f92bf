/*
 * schema.h - a GraphQL schema built from SDL (specification, October 2021,
 * "Type System"), read-only once built: the validator and the executor of
 * many requests on many threads read it at the same time.
 *
 * Everything lives in the schema's own arena. Types are interned: each named
 * type has exactly one struct gql_stype, so types compare by pointer, and a
 * type reference (NAMED / LIST / NON_NULL wrapper chain) points at it.
 *
 * The schema always holds the built-in scalars (Int, Float, String,
 * Boolean, ID), the built-in directives (@include, @skip, @deprecated,
 * @specifiedBy) and the introspection types (__Schema, __Type, __Field,
 * __InputValue, __EnumValue, __Directive, __TypeKind, __DirectiveLocation),
 * flagged `builtin`, so that introspection queries validate and execute like
 * any other. The meta-fields __typename, __schema and __type(name:) are not
 * members of any type's field list: gql_meta_field() returns their
 * definitions.
 */
#ifndef PORTICO_GQL_SCHEMA_H
#define PORTICO_GQL_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "gql_arena.h"
#include "ast.h"

enum gql_kind {
	GQL_SCALAR = 1,
	GQL_OBJECT = 2,
	GQL_INTERFACE = 3,
	GQL_UNION = 4,
	GQL_ENUM = 5,
	GQL_INPUT_OBJECT = 6,
};

struct gql_stype;

/* A type reference: a named type wrapped in LIST / NON_NULL. */
struct gql_tref {
	enum gql_type_kind kind;        /* GQL_TYPE_NAMED, _LIST, _NON_NULL (ast.h) */
	struct gql_stype *named;        /* NAMED */
	const struct gql_tref *of;      /* LIST, NON_NULL */
};

/* An argument definition or an input object field. */
struct gql_input_value {
	const char *name;
	const char *description;        /* NULL when none */
	const struct gql_tref *type;
	const struct gql_value *default_value;  /* a const AST value; NULL: none */
	bool deprecated;
	const char *deprecation_reason;
	unsigned line, column;          /* in the SDL file */
};

struct gql_field {
	const char *name;
	const char *description;
	struct gql_input_value *args;
	unsigned n_args;
	const struct gql_tref *type;
	bool deprecated;
	const char *deprecation_reason; /* "No longer supported" when @deprecated has no reason */
	unsigned index;                 /* position in its type's field list */
	unsigned line, column;
};

struct gql_enum_value {
	const char *name;
	const char *description;
	bool deprecated;
	const char *deprecation_reason;
};

struct gql_stype {
	enum gql_kind kind;
	const char *name;
	const char *description;
	const char *specified_by;       /* SCALAR: @specifiedBy(url:), or NULL */
	bool builtin;                   /* built-in scalar or introspection type */
	unsigned index;                 /* position in schema->types */
	/* OBJECT, INTERFACE: fields in SDL order (extensions appended) */
	struct gql_field *fields;
	unsigned n_fields;
	/* OBJECT, INTERFACE: the interfaces it implements */
	struct gql_stype **interfaces;
	unsigned n_interfaces;
	/* UNION: its members; INTERFACE: the object types implementing it
	 * (directly or through another interface), in schema order */
	struct gql_stype **possible;
	unsigned n_possible;
	/* ENUM */
	struct gql_enum_value *values;
	unsigned n_values;
	/* INPUT_OBJECT */
	struct gql_input_value *input_fields;
	unsigned n_input_fields;
	unsigned line, column;
};

/* Directive locations as bits (specification 3.13). */
enum gql_dloc {
	GQL_LOC_QUERY = 1u << 0,
	GQL_LOC_MUTATION = 1u << 1,
	GQL_LOC_SUBSCRIPTION = 1u << 2,
	GQL_LOC_FIELD = 1u << 3,
	GQL_LOC_FRAGMENT_DEFINITION = 1u << 4,
	GQL_LOC_FRAGMENT_SPREAD = 1u << 5,
	GQL_LOC_INLINE_FRAGMENT = 1u << 6,
	GQL_LOC_VARIABLE_DEFINITION = 1u << 7,
	GQL_LOC_SCHEMA = 1u << 8,
	GQL_LOC_SCALAR = 1u << 9,
	GQL_LOC_OBJECT = 1u << 10,
	GQL_LOC_FIELD_DEFINITION = 1u << 11,
	GQL_LOC_ARGUMENT_DEFINITION = 1u << 12,
	GQL_LOC_INTERFACE = 1u << 13,
	GQL_LOC_UNION = 1u << 14,
	GQL_LOC_ENUM = 1u << 15,
	GQL_LOC_ENUM_VALUE = 1u << 16,
	GQL_LOC_INPUT_OBJECT = 1u << 17,
	GQL_LOC_INPUT_FIELD_DEFINITION = 1u << 18,
};

/* The location's name ("FIELD_DEFINITION") for a single bit, or NULL. */
const char *gql_dloc_name(unsigned bit);

struct gql_directive_def {
	const char *name;
	const char *description;
	struct gql_input_value *args;
	unsigned n_args;
	bool repeatable;
	unsigned locations;             /* enum gql_dloc bits */
	bool builtin;
};

struct gql_schema {
	struct gql_arena arena;             /* owns everything below */
	const char *description;
	struct gql_stype **types;       /* every named type, built-ins first */
	unsigned n_types;
	struct gql_stype *query;        /* never NULL in a built schema */
	struct gql_stype *mutation;     /* NULL when none */
	struct gql_stype *subscription; /* NULL when none */
	struct gql_directive_def **directives;
	unsigned n_directives;
	void *index;                    /* private: name -> type lookup */
};

/* One problem found while building: "file:line:column: message". */
struct gql_schema_error {
	char text[512];
};

/*
 * Builds a schema from the SDL documents SOURCES[0..N) (each NUL-terminated
 * text, named by NAMES[i] in messages). Type extensions may be in any file.
 * Validates the type system per the specification (unique names, known
 * types, input/output type positions, interface implementation rules with
 * covariant field types and contravariant arguments, union members being
 * objects, non-empty fields/values, directive locations and arguments, root
 * types being objects, names not starting with "__"). Returns the schema,
 * or NULL with up to MAX_ERRS messages in ERRS and their count in *N_ERRS.
 */
struct gql_schema *gql_schema_build(const char *const *sources, const char *const *names,
                                    unsigned n, struct gql_schema_error *errs,
                                    unsigned max_errs, unsigned *n_errs);
void gql_schema_free(struct gql_schema *s);

/* The named type, or NULL. Includes built-ins and introspection types. */
struct gql_stype *gql_schema_type(const struct gql_schema *s, const char *name);
/* Field NAME of an object or interface type, or NULL (meta-fields excluded). */
const struct gql_field *gql_type_field(const struct gql_stype *t, const char *name);
/* __typename (any composite type), __schema and __type (the query type
 * only, per the spec), or NULL. */
const struct gql_field *gql_meta_field(const struct gql_schema *s, const struct gql_stype *parent,
                                       const char *name);
const struct gql_directive_def *gql_schema_directive(const struct gql_schema *s,
                                                     const char *name);
/* Whether object type OBJ is a possible type of abstract type T (or T itself). */
bool gql_is_possible(const struct gql_stype *t, const struct gql_stype *obj);
/* The named type at the bottom of a reference. */
struct gql_stype *gql_tref_named(const struct gql_tref *t);
/* Input types: scalars, enums, input objects (and lists / non-null of them). */
bool gql_is_input_type(const struct gql_tref *t);
bool gql_is_output_type(const struct gql_tref *t);
/* The same type reference (same wrappers, same named type). */
bool gql_tref_equal(const struct gql_tref *a, const struct gql_tref *b);
/* isTypeSubTypeOf: SUB may stand where SUPER is expected (covariant:
 * non-null for nullable, an implementation or member for an abstract type). */
bool gql_tref_subtype(const struct gql_tref *sub, const struct gql_tref *super);
/* Writes a reference as GraphQL text ("[User!]!"); returns the length. */
size_t gql_tref_print(const struct gql_tref *t, char *buf, size_t cap);
/*
 * Whether T is in the schema's type map as graphql-js builds it: every type
 * but a standard scalar (Int, Float, ID) that no field, argument or input
 * field of the SDL refers to. Such a scalar is unknown to graphql-js: a
 * variable of that type is an "Unknown type" error and __schema.types and
 * __type(name:) leave it out. (Added by the validator's author.)
 */
bool gql_schema_type_visible(const struct gql_schema *s, const struct gql_stype *t);

#endif
