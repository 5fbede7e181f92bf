/*
 * printer.h - AST back to GraphQL text, in the canonical layout of
 * graphql-js's print() (two-space indentation, one selection per line,
 * arguments wrapped past 80 columns, block strings kept as block strings).
 *
 * For any tree produced by gql_parse, printing and parsing again yields an
 * equivalent tree, and printing that prints the same text. Recursion follows
 * the tree, whose depth the parser bounds.
 */
#ifndef PORTICO_GQL_PRINTER_H
#define PORTICO_GQL_PRINTER_H

#include <stddef.h>

#include "gql_arena.h"
#include "ast.h"

/*
 * The text of DOC (definitions separated by a blank line, no final newline),
 * NUL-terminated and allocated from A; its length in *LEN if LEN is not
 * NULL. NULL when out of memory.
 */
char *gql_print(struct gql_arena *a, const struct gql_doc *doc, size_t *len);

/* One value or type reference, e.g. for error messages ("[1, 2]", "Int!"). */
char *gql_print_value(struct gql_arena *a, const struct gql_value *v, size_t *len);
char *gql_print_type(struct gql_arena *a, const struct gql_type *t, size_t *len);

#endif
