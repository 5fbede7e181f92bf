/*
 * parser.h - recursive-descent parser for GraphQL documents (specification,
 * October 2021): executable documents (operations, fragments) and type
 * system documents (schema, types, directives, extensions).
 *
 * The parser follows the grammar exactly and reports the first error with
 * graphql-js's wording and position ("Syntax Error: Expected Name, found
 * \"}\"."). Validation rules (lone anonymous operation, unique names, ...)
 * are not its business. Recursion is bounded by gql_limits.max_depth, so a
 * hostile document cannot exhaust the stack; work and memory are linear in
 * the input, bounded by max_bytes and max_tokens.
 */
#ifndef PORTICO_GQL_PARSER_H
#define PORTICO_GQL_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "gql_arena.h"
#include "ast.h"
#include "lexer.h"

/* Zero fields take the defaults; a NULL pointer means all defaults. */
struct gql_limits {
	size_t max_bytes;	/* source size; default 1 MiB */
	unsigned max_tokens;	/* tokens, comments excluded; default 100000 */
	/*
	 * Nesting of selection sets, of list/object values and of list types,
	 * each counted on its own; default 64. `{a{b}}` has depth 2.
	 */
	unsigned max_depth;
};

#define GQL_DEFAULT_MAX_BYTES ((size_t)1 << 20)
#define GQL_DEFAULT_MAX_TOKENS 100000u
#define GQL_DEFAULT_MAX_DEPTH 64u

/* Which definitions a document may hold. */
enum gql_accept {
	GQL_ACCEPT_ANY = 0,		/* both kinds, as graphql-js's parse() */
	GQL_ACCEPT_EXECUTABLE = 1,	/* operations and fragments only */
	GQL_ACCEPT_TYPE_SYSTEM = 2,	/* SDL: definitions and extensions */
};

/*
 * Parse the document SRC[0..LEN) (UTF-8, need not be NUL-terminated; SRC is
 * borrowed for the call only). Returns the document, allocated from A and
 * valid until A is closed; or NULL with *ERR filled. On failure A may still
 * hold partial allocations, released with A. Same as gql_parse_as(...,
 * GQL_ACCEPT_ANY, ...).
 */
struct gql_doc *gql_parse(struct gql_arena *a, const char *src, size_t len,
                          const struct gql_limits *lim, struct gql_error *err);

/*
 * Like gql_parse, but a definition of a kind ACCEPT excludes is a syntax
 * error at its keyword ("Unexpected Name \"type\": type system definitions
 * are not allowed in an executable document."). To report the spec's
 * ExecutableDefinitions validation error instead, parse with GQL_ACCEPT_ANY
 * and let the validator reject the definition.
 */
struct gql_doc *gql_parse_as(struct gql_arena *a, const char *src, size_t len,
                             const struct gql_limits *lim,
                             enum gql_accept accept, struct gql_error *err);

/*
 * One value literal filling SRC[0..LEN), e.g. a default value or a variable
 * given inline; IS_CONST rejects variables. Ownership as gql_parse.
 */
struct gql_value *gql_parse_value(struct gql_arena *a, const char *src, size_t len,
                                  const struct gql_limits *lim, bool is_const,
                                  struct gql_error *err);

/* One type reference filling SRC[0..LEN), e.g. "[String!]!". */
struct gql_type *gql_parse_type(struct gql_arena *a, const char *src, size_t len,
                                const struct gql_limits *lim,
                                struct gql_error *err);

#endif
