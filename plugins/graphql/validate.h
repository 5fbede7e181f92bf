/*
 * validate.h - validation of executable documents against a schema
 * (specification, October 2021, section 5), plus request limits.
 *
 * Every rule of section 5 is checked in one walk of the document, with
 * graphql-js 16.8's messages, locations and order (its `validate()` with
 * `specifiedRules`), so clients see the errors they know from the
 * reference implementation. The limits of struct gql_vlimits are checked in
 * the same call; their errors come first.
 *
 * Work is bounded for hostile documents: fragments are never expanded
 * recursively without memoisation, fragment cycles are detected rather
 * than followed, the field-merging rule has a budget of comparisons, and
 * the error list is capped (graphql-js's maxErrors behaviour).
 */
#ifndef PORTICO_GQL_VALIDATE_H
#define PORTICO_GQL_VALIDATE_H

#include <stdbool.h>

#include "gql_arena.h"
#include "ast.h"
#include "schema.h"

enum gql_introspection {
	GQL_INTROSPECTION_DEFAULT = 0,	/* allowed */
	GQL_INTROSPECTION_ON = 1,
	GQL_INTROSPECTION_OFF = 2,	/* __schema and __type are refused */
};

/* The rules of section 5, as bits (graphql-js's names, its order). */
enum gql_rule {
	GQL_RULE_EXECUTABLE_DEFINITIONS = 1u << 0,
	GQL_RULE_UNIQUE_OPERATION_NAMES = 1u << 1,
	GQL_RULE_LONE_ANONYMOUS_OPERATION = 1u << 2,
	GQL_RULE_SINGLE_FIELD_SUBSCRIPTIONS = 1u << 3,
	GQL_RULE_KNOWN_TYPE_NAMES = 1u << 4,
	GQL_RULE_FRAGMENTS_ON_COMPOSITE_TYPES = 1u << 5,
	GQL_RULE_VARIABLES_ARE_INPUT_TYPES = 1u << 6,
	GQL_RULE_SCALAR_LEAFS = 1u << 7,
	GQL_RULE_FIELDS_ON_CORRECT_TYPE = 1u << 8,
	GQL_RULE_UNIQUE_FRAGMENT_NAMES = 1u << 9,
	GQL_RULE_KNOWN_FRAGMENT_NAMES = 1u << 10,
	GQL_RULE_NO_UNUSED_FRAGMENTS = 1u << 11,
	GQL_RULE_POSSIBLE_FRAGMENT_SPREADS = 1u << 12,
	GQL_RULE_NO_FRAGMENT_CYCLES = 1u << 13,
	GQL_RULE_UNIQUE_VARIABLE_NAMES = 1u << 14,
	GQL_RULE_NO_UNDEFINED_VARIABLES = 1u << 15,
	GQL_RULE_NO_UNUSED_VARIABLES = 1u << 16,
	GQL_RULE_KNOWN_DIRECTIVES = 1u << 17,
	GQL_RULE_UNIQUE_DIRECTIVES_PER_LOCATION = 1u << 18,
	GQL_RULE_KNOWN_ARGUMENT_NAMES = 1u << 19,
	GQL_RULE_UNIQUE_ARGUMENT_NAMES = 1u << 20,
	GQL_RULE_VALUES_OF_CORRECT_TYPE = 1u << 21,
	GQL_RULE_PROVIDED_REQUIRED_ARGUMENTS = 1u << 22,
	GQL_RULE_VARIABLES_IN_ALLOWED_POSITION = 1u << 23,
	GQL_RULE_OVERLAPPING_FIELDS_CAN_BE_MERGED = 1u << 24,
	GQL_RULE_UNIQUE_INPUT_FIELD_NAMES = 1u << 25,
	GQL_RULE_ALL = (1u << 26) - 1,
};

/* The bit of a rule named as graphql-js does ("KnownTypeNames", with or
 * without the "Rule" suffix), or 0. */
unsigned gql_rule_bit(const char *name);

/*
 * Zero fields take the defaults; a NULL pointer means all defaults.
 * GQL_VLIMIT_NONE turns a limit off.
 */
struct gql_vlimits {
	/* Fields nested in fields, through fragments; `{a{b}}` is 2. Default 15. */
	unsigned max_depth;
	/* Aliased fields in one operation, counted once per use of the
	 * fragment holding them. Default 30. */
	unsigned max_aliases;
	/*
	 * Estimated fields resolved by one operation: each field counts 1 and
	 * a list field multiplies the cost of its sub-selection by its
	 * `first` or `limit` argument (an Int literal, or a variable's Int
	 * default), else by 10. Below __schema and __type there is no
	 * multiplier: each field counts 1. Default 5000 (a dashboard of
	 * a dozen items with their lists of lists, ~2,600, passes).
	 */
	unsigned max_complexity;
	/* Errors reported before validation stops, as graphql-js's maxErrors
	 * (one more error then says it was aborted). Default 100. */
	unsigned max_errors;
	enum gql_introspection introspection;
	/* enum gql_rule bits of the rules to run; 0 runs them all. The
	 * limits above are not rules: GQL_VLIMIT_NONE turns them off. */
	unsigned rules;
};

#define GQL_VLIMIT_NONE 0xffffffffu
#define GQL_DEFAULT_MAX_QUERY_DEPTH 15u
#define GQL_DEFAULT_MAX_ALIASES 30u
#define GQL_DEFAULT_MAX_COMPLEXITY 5000u
#define GQL_DEFAULT_MAX_ERRORS 100u

struct gql_vloc {
	unsigned line, column;		/* 1-based, as in ast.h */
};

/* One error, as a GraphQL response's `errors` entry. */
struct gql_verror {
	const char *message;		/* UTF-8, NUL-terminated */
	unsigned n_locs;		/* 0 only for the "aborted" error */
	const struct gql_vloc *locs;
};

/*
 * Validate DOC (any document gql_parse accepted; type system definitions
 * in it are reported as not executable) against schema S. The error array,
 * messages and locations are allocated from A and live as long as A;
 * scratch memory also comes from A. S and DOC are only read, so several
 * threads may validate against one schema at once.
 *
 * Returns the number of errors stored in *ERRS / *N_ERRS (0: the document
 * is valid), or PT_ENOMEM (-2) with *N_ERRS = 0.
 */
int gql_validate(const struct gql_schema *s, const struct gql_doc *doc,
                 const struct gql_vlimits *lim, struct gql_arena *a,
                 struct gql_verror **errs, unsigned *n_errs);

#endif
