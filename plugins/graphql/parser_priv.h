/*
 * parser_priv.h - what the two files of the GraphQL parser share: parser.c
 * (tokens, errors, lists, depth; names, values, types, directives; the
 * executable definitions; the entry points) and parser_sdl.c (type system
 * definitions, and the choice among definitions). The functions one calls
 * in the other are named gqlr_* (gqlp_ is the plugin's own prefix). Nothing
 * else includes this.
 */
#ifndef PORTICO_GQL_PARSER_PRIV_H
#define PORTICO_GQL_PARSER_PRIV_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>

#include "gql_arena.h"
#include "ast.h"
#include "lexer.h"
#include "parser.h"

struct parser {
	struct gql_lexer lx;
	struct gql_token tok;		/* current token */
	struct gql_token ahead;		/* the one after, if have_ahead */
	bool have_ahead;
	struct gql_arena *a;
	struct gql_error *err;
	jmp_buf fail;
	enum gql_accept accept;
	unsigned n_tokens, max_tokens, max_depth;
	unsigned sel_depth, value_depth, type_depth;
	/*
	 * Items of the lists being parsed, innermost last; a finished list is
	 * copied to an arena array and popped. Malloc'd, freed by the entry.
	 */
	void **stk;
	size_t n_stk, cap_stk;
};

/* ---- parser.c: errors and memory; each fails by longjmp to the entry ---- */

_Noreturn void gqlr_fail_at(struct parser *p, unsigned line, unsigned col,
                            const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* graphql-js's getTokenDesc: `Name "foo"`, `"{"`, `<EOF>`, `String "x"`. */
const char *gqlr_describe(const struct gql_token *t, char buf[160]);
/* "Unexpected <T>." at T. */
_Noreturn void gqlr_unexpected(struct parser *p, const struct gql_token *t);
/* Zeroed memory from the caller's arena. */
void *gqlr_alloc(struct parser *p, size_t size);

#define NEW(p, type) ((type *)gqlr_alloc((p), sizeof(type)))

/* ---- parser.c: tokens ---- */

/* The token after the current one, read on demand (at EOF: EOF). */
const struct gql_token *gqlr_lookahead(struct parser *p);
bool gqlr_peek(const struct parser *p, enum gql_tok kind);
/* The current token, which must be of KIND; moves past it. */
struct gql_token gqlr_expect(struct parser *p, enum gql_tok kind);
/* Moves past the current token if it is of KIND. */
bool gqlr_optional(struct parser *p, enum gql_tok kind);
bool gqlr_is_keyword(const struct gql_token *t, const char *word);
void gqlr_expect_keyword(struct parser *p, const char *word);
bool gqlr_optional_keyword(struct parser *p, const char *word);

/* ---- parser.c: list building ---- */

void gqlr_push(struct parser *p, void *item);

/* Move the items pushed since MARK into an arena array OUT of N items. */
#define COLLECT(p, mark, out, n) do {					\
	size_t k_ = (p)->n_stk - (mark);				\
	(n) = (unsigned)k_;						\
	(out) = NULL;							\
	if (k_) {							\
		(out) = gqlr_alloc((p), k_ * sizeof(*(out)));		\
		for (size_t i_ = 0; i_ < k_; i_++)			\
			(out)[i_] = (p)->stk[(mark) + i_];		\
	}								\
	(p)->n_stk = (mark);						\
} while (0)


/* ---- parser.c: the grammar both files use ---- */

struct gql_name gqlr_parse_name(struct parser *p);
struct gql_value *gqlr_parse_string_literal(struct parser *p);
/* Value[Const]; IS_CONST forbids variables (default values, SDL). */
struct gql_value *gqlr_parse_value(struct parser *p, bool is_const);
struct gql_type *gqlr_parse_named_type(struct parser *p);
/* Type: NamedType | [Type] | Type! */
struct gql_type *gqlr_parse_type(struct parser *p);
void gqlr_parse_directives(struct parser *p, bool is_const,
                           struct gql_directive ***out, unsigned *n);
struct gql_definition *gqlr_new_def(struct parser *p, enum gql_def_kind kind);
enum gql_op gqlr_parse_operation_type(struct parser *p);
struct gql_definition *gqlr_parse_operation(struct parser *p);
/* fragment Name on Type Directives? SelectionSet (no variables: 2021). */
struct gql_definition *gqlr_parse_fragment_definition(struct parser *p);

/* ---- parser_sdl.c ---- */

/*
 * One definition of a document: an operation, a fragment, a type system
 * definition or extension, told by its keyword; a kind the caller's
 * gql_accept excludes is a syntax error.
 */
struct gql_definition *gqlr_parse_definition(struct parser *p);

#endif
