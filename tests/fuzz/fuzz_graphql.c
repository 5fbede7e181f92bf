/*
 * fuzz_graphql.c - libFuzzer target for plugins/graphql (lexer, parser,
 * printer).
 *
 * Input: arbitrary bytes, parsed as a document with the default limits (and
 * as a value and a type, for the helpers' entry points). Whenever a document
 * parses, its printed text must parse again and print to the same bytes; a
 * document accepted in a restricted mode must also be accepted in
 * GQL_ACCEPT_ANY. Nothing may crash, leak, or overflow the stack.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined
 *   -Icore -Iplugins/graphql tests/fuzz/fuzz_graphql.c plugins/graphql/lexer.c
 *   plugins/graphql/parser.c plugins/graphql/parser_sdl.c
 *   plugins/graphql/printer.c plugins/graphql/gql_arena.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "printer.h"

static void check(int ok, const char *what, const char *text)
{
	if (!ok) {
		fprintf(stderr, "fuzz_graphql: %s\n%s\n", what, text ? text : "");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the printed text may be longer (indentation, escapes): no size limit */
	const struct gql_limits again = { .max_bytes = SIZE_MAX,
	                                  .max_tokens = UINT32_MAX };
	const char *src = (const char *)data;
	struct gql_arena a;
	struct gql_error err;
	struct gql_doc *doc, *doc2;
	struct gql_value *v;
	struct gql_type *t;
	char *text, *text2;
	size_t len, len2;

	gql_arena_init(&a, 0);
	doc = gql_parse(&a, src, size, NULL, &err);
	if (doc) {
		text = gql_print(&a, doc, &len);
		check(text != NULL, "print failed", NULL);
		doc2 = gql_parse(&a, text, len, &again, &err);
		if (!doc2)
			fprintf(stderr, "%u:%u: %s\n", err.line, err.column,
			        err.message);
		check(doc2 != NULL, "printed document does not parse", text);
		check(doc2->n_defs == doc->n_defs, "definitions lost", text);
		text2 = gql_print(&a, doc2, &len2);
		check(text2 && len2 == len && memcmp(text, text2, len) == 0,
		      "printing is not stable", text);
	} else {
		check(err.line >= 1 && err.column >= 1, "error without position",
		      err.message);
		check(strlen(err.message) < sizeof(err.message), "long message",
		      NULL);
	}
	for (int mode = GQL_ACCEPT_EXECUTABLE; mode <= GQL_ACCEPT_TYPE_SYSTEM;
	     mode++)
		if (gql_parse_as(&a, src, size, NULL, (enum gql_accept)mode, &err))
			check(doc != NULL, "restricted mode accepted more", NULL);

	v = gql_parse_value(&a, src, size, NULL, false, &err);
	if (v) {
		text = gql_print_value(&a, v, &len);
		check(text != NULL, "print value failed", NULL);
		v = gql_parse_value(&a, text, len, &again, false, &err);
		check(v != NULL, "printed value does not parse", text);
		text2 = gql_print_value(&a, v, &len2);
		check(len2 == len && memcmp(text, text2, len) == 0,
		      "value printing is not stable", text);
	}
	t = gql_parse_type(&a, src, size, NULL, &err);
	if (t) {
		text = gql_print_type(&a, t, &len);
		check(gql_parse_type(&a, text, len, NULL, &err) != NULL,
		      "printed type does not parse", text);
	}
	gql_arena_close(&a);
	return 0;
}
