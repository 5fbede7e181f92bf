/*
 * ast.h - the GraphQL abstract syntax tree (specification, October 2021).
 *
 * Every node, string and array is allocated from the arena handed to the
 * parser and lives exactly as long as that arena; nothing points into the
 * source text, so the caller may free the source once parsing returns.
 *
 * Conventions, the same everywhere so a validator or executor can walk the
 * tree without special cases:
 *  - a list is `T **name; unsigned n_name;` (NULL and 0 when empty);
 *  - an optional child is a pointer that is NULL when absent;
 *  - names are NUL-terminated and carry their own position (struct gql_name,
 *    value NULL when absent), because several spec errors point at the name
 *    rather than at the node (graphql-js reports the same places);
 *  - `line` and `column` are 1-based and give the node's first token; columns
 *    count Unicode code points from the start of the line (graphql-js counts
 *    UTF-16 units, so the two differ only after a character above U+FFFF).
 *    A line ends at "\n", "\r\n" or "\r".
 */
#ifndef PORTICO_GQL_AST_H
#define PORTICO_GQL_AST_H

#include <stdbool.h>
#include <stddef.h>

struct gql_name {
	const char *value;		/* NULL when the name is absent */
	unsigned line, column;
};

enum gql_op {
	GQL_OP_QUERY = 0,
	GQL_OP_MUTATION = 1,
	GQL_OP_SUBSCRIPTION = 2,
};

/* Types: Name, [Type], Type! */
enum gql_type_kind {
	GQL_TYPE_NAMED = 1,
	GQL_TYPE_LIST = 2,
	GQL_TYPE_NON_NULL = 3,		/* `of` is NAMED or LIST, never NON_NULL */
};

struct gql_type {
	enum gql_type_kind kind;
	unsigned line, column;		/* NON_NULL: same as its inner type */
	struct gql_name name;		/* NAMED */
	struct gql_type *of;		/* LIST, NON_NULL */
};

enum gql_value_kind {
	GQL_VALUE_VARIABLE = 1,
	GQL_VALUE_INT = 2,
	GQL_VALUE_FLOAT = 3,
	GQL_VALUE_STRING = 4,
	GQL_VALUE_BOOLEAN = 5,
	GQL_VALUE_NULL = 6,
	GQL_VALUE_ENUM = 7,
	GQL_VALUE_LIST = 8,
	GQL_VALUE_OBJECT = 9,
};

struct gql_argument;

struct gql_value {
	enum gql_value_kind kind;
	unsigned line, column;		/* VARIABLE: of the '$' */
	/*
	 * VARIABLE: the name without '$'; INT, FLOAT: the source text (e.g.
	 * "-0", "1.5e10"); STRING: the decoded value in UTF-8 (escapes and the
	 * block-string indentation already applied; may hold "\0", so use len);
	 * ENUM: the name. Always NUL-terminated; len excludes the NUL.
	 */
	const char *str;
	size_t len;
	bool boolean;			/* BOOLEAN */
	bool block;			/* STRING: written as """block""" (printer hint) */
	struct gql_value **items;	/* LIST */
	unsigned n_items;
	struct gql_argument **fields;	/* OBJECT: its `name: value` fields */
	unsigned n_fields;
};

/* An argument `name: value`; also an object value's field. */
struct gql_argument {
	unsigned line, column;
	struct gql_name name;
	struct gql_value *value;
};

struct gql_directive {
	unsigned line, column;		/* of the '@' */
	struct gql_name name;
	struct gql_argument **args;
	unsigned n_args;
};

enum gql_selection_kind {
	GQL_SEL_FIELD = 1,
	GQL_SEL_FRAGMENT_SPREAD = 2,
	GQL_SEL_INLINE_FRAGMENT = 3,
};

struct gql_selection;

/* `{ ... }`: never empty (the grammar requires one selection). */
struct gql_selection_set {
	unsigned line, column;		/* of the '{' */
	struct gql_selection **items;
	unsigned n_items;
};

struct gql_selection {
	enum gql_selection_kind kind;
	unsigned line, column;		/* FIELD: alias or name; else the "..." */
	struct gql_name alias;		/* FIELD: value NULL without an alias */
	struct gql_name name;		/* FIELD; FRAGMENT_SPREAD: fragment name */
	struct gql_argument **args;	/* FIELD */
	unsigned n_args;
	struct gql_type *type_condition; /* INLINE_FRAGMENT: NULL without `on` */
	struct gql_directive **directives;
	unsigned n_directives;
	/* FIELD: NULL for a leaf; INLINE_FRAGMENT: always set; SPREAD: NULL */
	struct gql_selection_set *selection_set;
};

/* `$name: Type = default @dir` in an operation's variable list. */
struct gql_variable_definition {
	unsigned line, column;		/* of the '$' */
	struct gql_name name;		/* without the '$' */
	struct gql_type *type;
	struct gql_value *default_value; /* constant; NULL when absent */
	struct gql_directive **directives;
	unsigned n_directives;
};

/* An argument definition or an input object's field. */
struct gql_input_value_definition {
	unsigned line, column;		/* description's or name's */
	struct gql_value *description;	/* STRING value; NULL when absent */
	struct gql_name name;
	struct gql_type *type;
	struct gql_value *default_value; /* constant; NULL when absent */
	struct gql_directive **directives;
	unsigned n_directives;
};

struct gql_field_definition {
	unsigned line, column;
	struct gql_value *description;
	struct gql_name name;
	struct gql_input_value_definition **args;
	unsigned n_args;
	struct gql_type *type;
	struct gql_directive **directives;
	unsigned n_directives;
};

struct gql_enum_value_definition {
	unsigned line, column;
	struct gql_value *description;
	struct gql_name name;		/* never true, false or null */
	struct gql_directive **directives;
	unsigned n_directives;
};

/* `query: Query` inside schema { ... } */
struct gql_root_operation {
	unsigned line, column;
	enum gql_op operation;
	struct gql_type *type;		/* NAMED */
};

enum gql_def_kind {
	GQL_DEF_OPERATION = 1,
	GQL_DEF_FRAGMENT = 2,
	GQL_DEF_SCHEMA = 3,
	GQL_DEF_SCALAR = 4,
	GQL_DEF_OBJECT = 5,
	GQL_DEF_INTERFACE = 6,
	GQL_DEF_UNION = 7,
	GQL_DEF_ENUM = 8,
	GQL_DEF_INPUT_OBJECT = 9,
	GQL_DEF_DIRECTIVE = 10,
};

/*
 * One top-level definition. The members below the common block apply only
 * to the kinds named in their comment and are NULL/0/false otherwise.
 * A type-system extension (`extend type Foo ...`) has the kind of what it
 * extends and `extension` set; it never has a description.
 */
struct gql_definition {
	enum gql_def_kind kind;
	bool extension;
	unsigned line, column;		/* first token: description, keyword, '{' */
	struct gql_value *description;	/* type-system definitions; STRING */
	struct gql_name name;		/* NULL value: anonymous operation, schema */
	struct gql_directive **directives;
	unsigned n_directives;

	/* OPERATION */
	enum gql_op operation;
	struct gql_variable_definition **variables;
	unsigned n_variables;
	/* OPERATION, FRAGMENT */
	struct gql_selection_set *selection_set;
	/* FRAGMENT: NAMED */
	struct gql_type *type_condition;
	/* SCHEMA */
	struct gql_root_operation **root_ops;
	unsigned n_root_ops;
	/* OBJECT, INTERFACE: implemented interfaces (NAMED) and fields */
	struct gql_type **interfaces;
	unsigned n_interfaces;
	struct gql_field_definition **fields;
	unsigned n_fields;
	/* UNION: member types (NAMED) */
	struct gql_type **types;
	unsigned n_types;
	/* ENUM */
	struct gql_enum_value_definition **values;
	unsigned n_values;
	/* INPUT_OBJECT */
	struct gql_input_value_definition **input_fields;
	unsigned n_input_fields;
	/* DIRECTIVE: arguments, `repeatable`, and locations (e.g. "FIELD") */
	struct gql_input_value_definition **args;
	unsigned n_args;
	bool repeatable;
	struct gql_name **locations;
	unsigned n_locations;
};

struct gql_doc {
	struct gql_definition **defs;	/* never empty */
	unsigned n_defs;
	unsigned n_tokens;		/* tokens read (comments not counted) */
};

#endif
