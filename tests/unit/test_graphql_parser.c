/*
 * The GraphQL lexer, parser and printer (plugins/graphql).
 *
 * Expected error positions and messages, and expected printed text, are
 * those of graphql-js 16.8 (the reference implementation of the October 2021
 * specification), except where a comment says why we differ: columns count
 * code points, and the limits, modes and UTF-8 checks are ours.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "parser.h"
#include "printer.h"

/* ---- helpers ---- */

static struct gql_doc *parse_ok(struct gql_arena *a, const char *src)
{
	struct gql_error err;
	struct gql_doc *doc = gql_parse(a, src, strlen(src), NULL, &err);

	if (!doc)
		fail_msg("unexpected error %u:%u %s", err.line, err.column,
		         err.message);
	return doc;
}

static void expect_error_as(const char *src, size_t len,
                            const struct gql_limits *lim,
                            enum gql_accept accept, unsigned line,
                            unsigned column, const char *message)
{
	struct gql_arena a;
	struct gql_error err;

	gql_arena_init(&a, 0);
	memset(&err, 0, sizeof(err));
	if (gql_parse_as(&a, src, len, lim, accept, &err))
		fail_msg("parsed, expected \"%s\"", message);
	assert_string_equal(err.message, message);
	assert_int_equal(err.line, line);
	assert_int_equal(err.column, column);
	gql_arena_close(&a);
}

static void expect_error(const char *src, unsigned line, unsigned column,
                         const char *message)
{
	expect_error_as(src, strlen(src), NULL, GQL_ACCEPT_ANY, line, column,
	                message);
}

/* Print DOC, then check that the text parses and prints the same again. */
static char *print_round_trip(struct gql_arena *a, const struct gql_doc *doc)
{
	size_t len, len2;
	char *text = gql_print(a, doc, &len), *again;
	struct gql_error err;
	struct gql_doc *doc2;

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	doc2 = gql_parse(a, text, len, NULL, &err);
	if (!doc2)
		fail_msg("printed text does not parse: %u:%u %s\n%s", err.line,
		         err.column, err.message, text);
	again = gql_print(a, doc2, &len2);
	assert_string_equal(again, text);
	return text;
}

static struct gql_value *value_ok(struct gql_arena *a, const char *src)
{
	struct gql_error err;
	struct gql_value *v = gql_parse_value(a, src, strlen(src), NULL, false,
	                                      &err);

	if (!v)
		fail_msg("unexpected error %u:%u %s", err.line, err.column,
		         err.message);
	return v;
}

static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 0 : *p >= 0xF0 ? 3 : *p >= 0xE0 ? 2 :
		        *p >= 0xC2 ? 1 : -1;

		if (n < 0)
			return false;
		p++;
		while (n-- > 0)
			if ((*p++ & 0xC0) != 0x80)
				return false;
	}
	return true;
}

/* A string of COUNT copies of UNIT followed by TAIL (malloc'd). */
static char *repeat(const char *head, const char *unit, size_t count,
                    const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * count + tl + 1), *p = s;

	assert_non_null(s);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < count; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

/* ---- table: documents that must fail, with graphql-js's answer ---- */

struct error_case {
	const char *name, *src;
	unsigned line, column;
	const char *message;
};

static const struct error_case error_cases[] = {
	{ "empty_document", "",
	  1, 1, "Syntax Error: Unexpected <EOF>." },
	{ "document_of_only_a_comment", "# nothing here\n",
	  2, 1, "Syntax Error: Unexpected <EOF>." },
	{ "unclosed_selection_set", "{ a",
	  1, 4, "Syntax Error: Expected Name, found <EOF>." },
	{ "empty_selection_set", "{}",
	  1, 2, "Syntax Error: Expected Name, found \"}\"." },
	{ "nested_empty_selection_set", "{ a {} }",
	  1, 6, "Syntax Error: Expected Name, found \"}\"." },
	{ "extra_closing_brace", "{ a } }",
	  1, 7, "Syntax Error: Unexpected \"}\"." },
	{ "fragment_named_on", "fragment on on T { a }",
	  1, 10, "Syntax Error: Unexpected Name \"on\"." },
	{ "fragment_variables", "fragment F($v: Int) on T { a }",
	  1, 11, "Syntax Error: Expected \"on\", found \"(\"." },
	{ "fragment_without_type_condition", "fragment F { a }",
	  1, 12, "Syntax Error: Expected \"on\", found \"{\"." },
	{ "spread_of_fragment_named_on", "{ ...on }",
	  1, 9, "Syntax Error: Expected Name, found \"}\"." },
	{ "inline_fragment_without_selection_set", "{ ... on T }",
	  1, 12, "Syntax Error: Expected \"{\", found \"}\"." },
	{ "spread_without_anything", "{ ... }",
	  1, 7, "Syntax Error: Expected \"{\", found \"}\"." },
	{ "variable_in_default_value", "query Q($a: Int = $b) { a }",
	  1, 19, "Syntax Error: Unexpected variable \"$b\" in constant value." },
	{ "variable_nested_in_default_value", "query Q($a: [In] = [1, {b: $c}]) { a }",
	  1, 28, "Syntax Error: Unexpected variable \"$c\" in constant value." },
	{ "variable_in_sdl_directive_argument", "type T @d(a: $v) { f: Int }",
	  1, 14, "Syntax Error: Unexpected variable \"$v\" in constant value." },
	{ "variable_in_argument_default", "type T { f(a: Int = $v): Int }",
	  1, 21, "Syntax Error: Unexpected variable \"$v\" in constant value." },
	{ "variable_in_variable_directive", "query Q($a: Int @d(x: $b)) { a }",
	  1, 23, "Syntax Error: Unexpected variable \"$b\" in constant value." },
	{ "dollar_without_name_in_constant", "query Q($a: Int = $) { a }",
	  1, 19, "Syntax Error: Unexpected \"$\"." },
	{ "dollar_without_name", "{ a(b: $ 1) }",
	  1, 10, "Syntax Error: Expected Name, found Int \"1\"." },
	{ "empty_argument_list", "{ a() }",
	  1, 5, "Syntax Error: Expected Name, found \")\"." },
	{ "argument_without_value", "{ a(b:) }",
	  1, 7, "Syntax Error: Unexpected \")\"." },
	{ "argument_without_colon", "{ a(b) }",
	  1, 6, "Syntax Error: Expected \":\", found \")\"." },
	{ "empty_variable_list", "query Q() { a }",
	  1, 9, "Syntax Error: Expected \"$\", found \")\"." },
	{ "variable_without_type", "query Q($a) { a }",
	  1, 11, "Syntax Error: Expected \":\", found \")\"." },
	{ "double_non_null_type", "query Q($a: Int!!) { a }",
	  1, 17, "Syntax Error: Expected \"$\", found \"!\"." },
	{ "unclosed_list_type", "query Q($a: [Int) { a }",
	  1, 17, "Syntax Error: Expected \"]\", found \")\"." },
	{ "alias_without_field_name", "{ a: }",
	  1, 6, "Syntax Error: Expected Name, found \"}\"." },
	{ "unknown_operation_keyword", "querx { a }",
	  1, 1, "Syntax Error: Unexpected Name \"querx\"." },
	{ "number_0x", "{ a(x: 0x1) }",
	  1, 9, "Syntax Error: Invalid number, expected digit but got: \"x\"." },
	{ "number_with_trailing_dot", "{ a(x: 1.) }",
	  1, 10, "Syntax Error: Invalid number, expected digit but got: \")\"." },
	{ "number_with_empty_exponent", "{ a(x: 1e) }",
	  1, 10, "Syntax Error: Invalid number, expected digit but got: \")\"." },
	{ "number_with_signed_empty_exponent", "{ a(x: 1.5E+) }",
	  1, 13, "Syntax Error: Invalid number, expected digit but got: \")\"." },
	{ "number_with_leading_zero", "{ a(x: 00) }",
	  1, 9, "Syntax Error: Invalid number, unexpected digit after 0: \"0\"." },
	{ "number_with_two_dots", "{ a(x: 1.0.) }",
	  1, 11, "Syntax Error: Invalid number, expected digit but got: \".\"." },
	{ "number_followed_by_letter", "{ a(x: 1a) }",
	  1, 9, "Syntax Error: Invalid number, expected digit but got: \"a\"." },
	{ "number_followed_by_underscore", "{ a(x: 12_) }",
	  1, 10, "Syntax Error: Invalid number, expected digit but got: \"_\"." },
	{ "minus_without_digits", "{ a(x: -) }",
	  1, 9, "Syntax Error: Invalid number, expected digit but got: \")\"." },
	{ "minus_followed_by_letter", "{ a(x: -b) }",
	  1, 9, "Syntax Error: Invalid number, expected digit but got: \"b\"." },
	{ "float_without_integer_part", "{ a(x: .5) }",
	  1, 8, "Syntax Error: Unexpected character: \".\"." },
	{ "two_dots", "{ a(x: ..) }",
	  1, 8, "Syntax Error: Unexpected character: \".\"." },
	{ "invalid_character_escape", "{ a(x: \"\\q\") }",
	  1, 9, "Syntax Error: Invalid character escape sequence: \"\\q\"." },
	{ "short_unicode_escape", "{ a(x: \"\\u12\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\u12\")\"." },
	{ "non_hex_unicode_escape", "{ a(x: \"\\u12G4\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\u12G4\"." },
	{ "empty_braced_unicode_escape", "{ a(x: \"\\u{}\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\u{}\"." },
	{ "braced_unicode_escape_above_max", "{ a(x: \"\\u{110000}\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\u{110000}\"." },
	{ "braced_unicode_escape_of_surrogate", "{ a(x: \"\\u{DBFF}\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\u{DBFF}\"." },
	{ "braced_unicode_escape_too_long", "{ a(x: \"\\u{000000041}\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\u{000000041\"." },
	{ "unclosed_braced_unicode_escape", "{ a(x: \"\\u{41\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\u{41\"\"." },
	{ "lone_leading_surrogate_escape", "{ a(x: \"\\uD800\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\uD800\"." },
	{ "lone_trailing_surrogate_escape", "{ a(x: \"\\uDC00\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\uDC00\"." },
	{ "leading_surrogate_without_trailing", "{ a(x: \"\\uD83D\\u0041\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\uD83D\"." },
	{ "reversed_surrogate_pair", "{ a(x: \"\\uDE00\\uD83D\") }",
	  1, 9, "Syntax Error: Invalid Unicode escape sequence: \"\\uDE00\"." },
	{ "unterminated_string", "{ a(x: \"abc) }",
	  1, 15, "Syntax Error: Unterminated string." },
	{ "newline_in_string", "{ a(x: \"a\nb\") }",
	  1, 10, "Syntax Error: Unterminated string." },
	{ "carriage_return_in_string", "{ a(x: \"a\rb\") }",
	  1, 10, "Syntax Error: Unterminated string." },
	{ "string_ending_in_backslash", "\"\\",
	  1, 2, "Syntax Error: Invalid character escape sequence: \"\\\"." },
	{ "unterminated_block_string", "{ a(x: \"\"\"abc\n  def) }",
	  2, 9, "Syntax Error: Unterminated string." },
	{ "single_quoted_string", "{ a(x: 'no') }",
	  1, 8, "Syntax Error: Unexpected single quote character ('), did you mean to use a double quote (\")?" },
	{ "control_character_outside_string", "{ a\007 }",
	  1, 4, "Syntax Error: Unexpected character: U+0007." },
	{ "non_ascii_letter_in_name", "{ é }",
	  1, 3, "Syntax Error: Unexpected character: U+00E9." },
	{ "no_break_space", "{ a b }",
	  1, 4, "Syntax Error: Unexpected character: U+00A0." },
	{ "enum_value_true", "enum E { true }",
	  1, 10, "Syntax Error: Name \"true\" is reserved and cannot be used for an enum value." },
	{ "enum_value_null", "enum E { A null }",
	  1, 12, "Syntax Error: Name \"null\" is reserved and cannot be used for an enum value." },
	{ "enum_with_empty_body", "enum E {}",
	  1, 9, "Syntax Error: Expected Name, found \"}\"." },
	{ "type_with_empty_body", "type T {}",
	  1, 9, "Syntax Error: Expected Name, found \"}\"." },
	{ "field_definition_without_type", "type T { a }",
	  1, 12, "Syntax Error: Expected \":\", found \"}\"." },
	{ "input_field_with_arguments", "input I { a(b: C): D }",
	  1, 12, "Syntax Error: Expected \":\", found \"(\"." },
	{ "union_with_trailing_pipe", "union U = A |",
	  1, 14, "Syntax Error: Expected Name, found <EOF>." },
	{ "union_with_no_members_after_equals", "union U =",
	  1, 10, "Syntax Error: Expected Name, found <EOF>." },
	{ "unknown_directive_location", "directive @d on FIELD | FOO",
	  1, 25, "Syntax Error: Unexpected Name \"FOO\"." },
	{ "directive_definition_without_at", "directive d on FIELD",
	  1, 11, "Syntax Error: Expected \"@\", found Name \"d\"." },
	{ "directive_definition_without_locations", "directive @d(a: Int) on",
	  1, 24, "Syntax Error: Expected Name, found <EOF>." },
	{ "directive_definition_without_on", "directive @d repeatable",
	  1, 24, "Syntax Error: Expected \"on\", found <EOF>." },
	{ "type_extension_without_changes", "extend type T",
	  1, 14, "Syntax Error: Unexpected <EOF>." },
	{ "scalar_extension_without_directives", "extend scalar S",
	  1, 16, "Syntax Error: Unexpected <EOF>." },
	{ "schema_extension_without_changes", "extend schema",
	  1, 14, "Syntax Error: Unexpected <EOF>." },
	{ "directive_extension", "extend directive @d on FIELD",
	  1, 8, "Syntax Error: Unexpected Name \"directive\"." },
	{ "extension_of_unknown_kind", "extend foo",
	  1, 8, "Syntax Error: Unexpected Name \"foo\"." },
	{ "schema_with_empty_body", "schema {}",
	  1, 9, "Syntax Error: Expected Name, found \"}\"." },
	{ "schema_with_unknown_operation", "schema { foo: Q }",
	  1, 10, "Syntax Error: Unexpected Name \"foo\"." },
	{ "description_on_operation", "\"d\" query { a }",
	  1, 1, "Syntax Error: Unexpected description, descriptions are supported only on type definitions." },
	{ "description_on_shorthand_query", "\"d\" { a }",
	  1, 5, "Syntax Error: Unexpected \"{\"." },
	{ "description_on_fragment", "\"\"\"d\"\"\" fragment F on T { a }",
	  1, 1, "Syntax Error: Unexpected description, descriptions are supported only on type definitions." },
	{ "description_on_extension", "\"d\" extend type T @d",
	  1, 1, "Syntax Error: Unexpected description, descriptions are supported only on type definitions." },
	{ "description_alone", "\"d\"",
	  1, 4, "Syntax Error: Unexpected <EOF>." },
	{ "comma_separated_interfaces", "type T implements A, B { a: B }",
	  1, 22, "Syntax Error: Unexpected Name \"B\"." },
	{ "implements_without_interface", "type T implements { a: B }",
	  1, 19, "Syntax Error: Expected Name, found \"{\"." },
	{ "object_value_field_without_value", "{ a(b: {c}) }",
	  1, 10, "Syntax Error: Expected \":\", found \"}\"." },
	{ "unclosed_list_value", "{ a(b: [1, 2) }",
	  1, 13, "Syntax Error: Unexpected \")\"." },
	{ "non_null_fragment_type_condition", "fragment F on T! { a }",
	  1, 16, "Syntax Error: Expected \"{\", found \"!\"." },
	{ "list_inline_fragment_type_condition", "{ ... on [T] { a } }",
	  1, 10, "Syntax Error: Expected Name, found \"[\"." },
	{ "error_after_crlf_lines", "query Q\r\n{\r\n  a\r\n  b(\r\n)}",
	  5, 1, "Syntax Error: Expected Name, found \")\"." },
	{ "error_after_cr_lines", "{\r\ra\r\rb(\r)}",
	  6, 1, "Syntax Error: Expected Name, found \")\"." },
	{ "error_after_multiline_block_string", "{ a(x: \"\"\"\n  one\n  two\n\"\"\") b( }",
	  4, 9, "Syntax Error: Expected Name, found \"}\"." },
	{ "error_column_counts_characters", "{ a(x: \"é€\") b() }",
	  1, 16, "Syntax Error: Expected Name, found \")\"." },
	{ "error_after_byte_order_mark", "﻿}",
	  1, 2, "Syntax Error: Unexpected \"}\"." },
	{ "error_after_comment_line", "# c\n  { a(b: 01) }",
	  2, 11, "Syntax Error: Invalid number, unexpected digit after 0: \"1\"." },
};

static void run_error_case(void **state)
{
	const struct error_case *c = *state;

	expect_error(c->src, c->line, c->column, c->message);
}

/* ---- table: documents that must parse, with graphql-js's print() ---- */

struct valid_case {
	const char *name, *src, *printed;
};

static const struct valid_case valid_cases[] = {
	{ "shorthand_query", "{ a }",
	  "{\n"
	  "  a\n"
	  "}" },
	{ "keywords_are_valid_field_names", "{ query mutation subscription fragment on type schema extend true: false null }",
	  "{\n"
	  "  query\n"
	  "  mutation\n"
	  "  subscription\n"
	  "  fragment\n"
	  "  on\n"
	  "  type\n"
	  "  schema\n"
	  "  extend\n"
	  "  true: false\n"
	  "  null\n"
	  "}" },
	{ "keywords_as_arguments_and_enum_values", "{ on: fragment(type: query, implements: on, input: extend) }",
	  "{\n"
	  "  on: fragment(type: query, implements: on, input: extend)\n"
	  "}" },
	{ "anonymous_query_with_variables", "query ($a: Int) { a }",
	  "query ($a: Int) {\n"
	  "  a\n"
	  "}" },
	{ "anonymous_mutation", "mutation { like }",
	  "mutation {\n"
	  "  like\n"
	  "}" },
	{ "named_subscription", "subscription S { onEvent { id } }",
	  "subscription S {\n"
	  "  onEvent {\n"
	  "    id\n"
	  "  }\n"
	  "}" },
	{ "several_anonymous_operations_parse", "{ a } { b } query { c }",
	  "{\n"
	  "  a\n"
	  "}\n"
	  "\n"
	  "{\n"
	  "  b\n"
	  "}\n"
	  "\n"
	  "{\n"
	  "  c\n"
	  "}" },
	{ "commas_are_ignored", ",{ a,,, b, c(d: 1,, e: [1,2,,3],) ,},",
	  "{\n"
	  "  a\n"
	  "  b\n"
	  "  c(d: 1, e: [1, 2, 3])\n"
	  "}" },
	{ "comments_are_ignored", "# lead\n{ a # trailing\n # own line\n b }#end",
	  "{\n"
	  "  a\n"
	  "  b\n"
	  "}" },
	{ "byte_order_mark_is_ignored", "﻿{ a﻿ }",
	  "{\n"
	  "  a\n"
	  "}" },
	{ "crlf_and_cr_line_endings", "{\r\n  a\r  b\n}",
	  "{\n"
	  "  a\n"
	  "  b\n"
	  "}" },
	{ "numbers_keep_their_text", "{ a(i: -0, f: 1.5e-3, g: -2E+10, h: 0.25, big: 123456789012345678901234567890, e: 1e5) }",
	  "{\n"
	  "  a(\n"
	  "    i: -0\n"
	  "    f: 1.5e-3\n"
	  "    g: -2E+10\n"
	  "    h: 0.25\n"
	  "    big: 123456789012345678901234567890\n"
	  "    e: 1e5\n"
	  "  )\n"
	  "}" },
	{ "string_escapes_are_decoded", "{ a(s: \"\\u00e9\\u{1F600}\\uD83D\\uDE00\\t\\\"\\\\\\/\\b\\f\\n\\r\") }",
	  "{\n"
	  "  a(s: \"é😀😀\\t\\\"\\\\/\\b\\f\\n"
	  "\\r\")\n"
	  "}" },
	{ "control_characters_allowed_in_strings", "{ a(s: \"x\001y\177z\") }",
	  "{\n"
	  "  a(s: \"x\\u0001y\\u007Fz\\u0085\")\n"
	  "}" },
	{ "raw_unicode_in_strings", "{ a(s: \"é€😀\") }",
	  "{\n"
	  "  a(s: \"é€😀\")\n"
	  "}" },
	{ "empty_list_and_object_values", "{ a(l: [], o: {}) }",
	  "{\n"
	  "  a(l: [], o: {})\n"
	  "}" },
	{ "nested_values", "{ a(v: [1, [2, {x: [3, {y: null}]}], ENUM_V, true, $var]) }",
	  "{\n"
	  "  a(v: [1, [2, {x: [3, {y: null}]}], ENUM_V, true, $var])\n"
	  "}" },
	{ "variable_definition_directives", "query Q($a: Int = 1 @d, $b: [String!]! = [\"x\"] @e(f: 2)) @g { a }",
	  "query Q($a: Int = 1 @d, $b: [String!]! = [\"x\"] @e(f: 2)) @g {\n"
	  "  a\n"
	  "}" },
	{ "fragment_spread_and_inline_fragments", "{ ...F @d ... on T { a } ... @include(if: $x) { b } ... { c } }",
	  "{\n"
	  "  ...F @d\n"
	  "  ... on T {\n"
	  "    a\n"
	  "  }\n"
	  "  ... @include(if: $x) {\n"
	  "    b\n"
	  "  }\n"
	  "  ... {\n"
	  "    c\n"
	  "  }\n"
	  "}" },
	{ "fragment_definition_with_directives", "fragment F on T @d(x: 1) { a }",
	  "fragment F on T @d(x: 1) {\n"
	  "  a\n"
	  "}" },
	{ "aliases", "{ x: a y: b(c: 1) { z: d } }",
	  "{\n"
	  "  x: a\n"
	  "  y: b(c: 1) {\n"
	  "    z: d\n"
	  "  }\n"
	  "}" },
	{ "deep_selection", "{ a { b { c { d { e } } } } }",
	  "{\n"
	  "  a {\n"
	  "    b {\n"
	  "      c {\n"
	  "        d {\n"
	  "          e\n"
	  "        }\n"
	  "      }\n"
	  "    }\n"
	  "  }\n"
	  "}" },
	{ "long_arguments_wrap", "{ someFieldName(argumentNumberOne: \"a fairly long string\", argumentNumberTwo: 1234567) { id } }",
	  "{\n"
	  "  someFieldName(\n"
	  "    argumentNumberOne: \"a fairly long string\"\n"
	  "    argumentNumberTwo: 1234567\n"
	  "  ) {\n"
	  "    id\n"
	  "  }\n"
	  "}" },
	{ "block_string_argument", "{ a(s: \"\"\"\n    line one\n      line two\n  \"\"\") }",
	  "{\n"
	  "  a(s: \"\"\"\n"
	  "  line one\n"
	  "    line two\n"
	  "  \"\"\")\n"
	  "}" },
	{ "type_with_descriptions", "\"\"\"Type doc\"\"\"\ntype T {\n  \"field doc\" f(\"arg doc\" a: Int = 1): String\n}",
	  "\"\"\"Type doc\"\"\"\n"
	  "type T {\n"
	  "  \"field doc\"\n"
	  "  f(\n"
	  "    \"arg doc\"\n"
	  "    a: Int = 1\n"
	  "  ): String\n"
	  "}" },
	{ "type_without_fields", "type T",
	  "type T" },
	{ "implements_with_leading_ampersand", "type T implements & A & B { f: Int }",
	  "type T implements A & B {\n"
	  "  f: Int\n"
	  "}" },
	{ "interface_implementing_interfaces", "interface I implements J & K @d { f: Int }",
	  "interface I implements J & K @d {\n"
	  "  f: Int\n"
	  "}" },
	{ "union_with_leading_pipe", "union U = | A | B",
	  "union U = A | B" },
	{ "union_without_members", "union U @d",
	  "union U @d" },
	{ "enum_values_with_directives", "enum E { A @d B \"doc\" C }",
	  "enum E {\n"
	  "  A @d\n"
	  "  B\n"
	  "  \"doc\"\n"
	  "  C\n"
	  "}" },
	{ "input_object_with_defaults", "input I { a: Int = 1, b: [I!] = [{a: 2}] @d }",
	  "input I {\n"
	  "  a: Int = 1\n"
	  "  b: [I!] = [{a: 2}] @d\n"
	  "}" },
	{ "scalar_with_directive", "scalar Date @specifiedBy(url: \"https://example.com\")",
	  "scalar Date @specifiedBy(url: \"https://example.com\")" },
	{ "repeatable_directive_definition", "directive @d(a: Int = 1) repeatable on | FIELD | QUERY",
	  "directive @d(a: Int = 1) repeatable on FIELD | QUERY" },
	{ "directive_definition_with_described_argument", "directive @d(\"doc\" a: Int) on FIELD",
	  "directive @d(\n"
	  "  \"doc\"\n"
	  "  a: Int\n"
	  ") on FIELD" },
	{ "schema_definition", "schema @d { query: Q mutation: M subscription: S }",
	  "schema @d {\n"
	  "  query: Q\n"
	  "  mutation: M\n"
	  "  subscription: S\n"
	  "}" },
	{ "schema_extensions", "extend schema @d\nextend schema { subscription: S }",
	  "extend schema @d\n"
	  "\n"
	  "extend schema {\n"
	  "  subscription: S\n"
	  "}" },
	{ "type_extensions", "extend type T implements I\nextend interface I @d\nextend union U = A\nextend enum E { B }\nextend input In { c: Int }\nextend scalar S @d",
	  "extend type T implements I\n"
	  "\n"
	  "extend interface I @d\n"
	  "\n"
	  "extend union U = A\n"
	  "\n"
	  "extend enum E {\n"
	  "  B\n"
	  "}\n"
	  "\n"
	  "extend input In {\n"
	  "  c: Int\n"
	  "}\n"
	  "\n"
	  "extend scalar S @d" },
	{ "mixed_document", "{ a }\ntype T { a: Int }\nfragment F on T { a }",
	  "{\n"
	  "  a\n"
	  "}\n"
	  "\n"
	  "type T {\n"
	  "  a: Int\n"
	  "}\n"
	  "\n"
	  "fragment F on T {\n"
	  "  a\n"
	  "}" },
	{ "type_references", "query ($a: [[Int!]]!, $b: String) { a }",
	  "query ($a: [[Int!]]!, $b: String) {\n"
	  "  a\n"
	  "}" },
	{ "null_default_and_enum_default", "query ($a: Int = null, $b: E = RED) { a }",
	  "query ($a: Int = null, $b: E = RED) {\n"
	  "  a\n"
	  "}" },
	{ "true_false_null_literals", "{ a(t: true, f: false, n: null) }",
	  "{\n"
	  "  a(t: true, f: false, n: null)\n"
	  "}" },
	{ "long_field_name_without_arguments", "{ a KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK @d }",
	  "{\n"
	  "  a\n"
	  "  KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK @d\n"
	  "}" },
	{ "long_arguments_with_block_string", "{ field(first: \"\"\"\n  some block\n  text\n\"\"\", second: \"a string long enough to wrap\") }",
	  "{\n"
	  "  field(first: \"\"\"\n"
	  "  some block\n"
	  "  text\n"
	  "  \"\"\", second: \"a string long enough to wrap\")\n"
	  "}" },
	{ "argument_definitions_with_multiline_default", "type T { f(a: String = \"\"\"x\ny\"\"\", b: Int): Int }",
	  "type T {\n"
	  "  f(\n"
	  "    a: String = \"\"\"\n"
	  "    x\n"
	  "    y\n"
	  "    \"\"\"\n"
	  "    b: Int\n"
	  "  ): Int\n"
	  "}" },
};

static void run_valid_case(void **state)
{
	const struct valid_case *c = *state;
	struct gql_arena a;

	gql_arena_init(&a, 0);
	assert_string_equal(print_round_trip(&a, parse_ok(&a, c->src)),
	                    c->printed);
	gql_arena_close(&a);
}

/* ---- kitchen sinks (our own text, modelled on graphql-js's fixtures) ---- */

static const char kitchen_sink[] =
	"query fetchThings($where: FilterInput, $region: Region = EUROPE, $ids: [ID!]! = [\"a\", \"b\"]) @opQuery {\n"
	"  first99: thing(id: [7, 8]) {\n"
	"    id ,\n"
	"    ... on Gadget @inlineDir {\n"
	"      parts {\n"
	"        id ,\n"
	"        renamed: part(limit:5, cursor:$where,) @include(if: $where) {\n"
	"          id,\n"
	"          ...gadgetBits @spreadDir\n"
	"        }\n"
	"      }\n"
	"    }\n"
	"    ... @skip(unless: $where) {\n"
	"      id\n"
	"    }\n"
	"    ... {\n"
	"      id\n"
	"    }\n"
	"  }\n"
	"}\n"
	"\n"
	"mutation bumpCounter @opMutation {\n"
	"  bump(counter: 42) @fieldDir {\n"
	"    counter {\n"
	"      id @fieldDir\n"
	"    }\n"
	"  }\n"
	"}\n"
	"\n"
	"subscription OnBump($payload: BumpInput @varDir) @opSubscription {\n"
	"  bumped(payload: $payload) {\n"
	"    counter {\n"
	"      watchers {\n"
	"        total\n"
	"      }\n"
	"      summary {\n"
	"        text\n"
	"      }\n"
	"    }\n"
	"  }\n"
	"}\n"
	"\n"
	"fragment gadgetBits on Gadget @fragDir {\n"
	"  attr(size: $size, flag: $flag, cfg: {key: \"value\", block: \"\"\"\n"
	"\n"
	"        block string keeps \\\"\"\" and \"quotes\"\n"
	"          and relative indentation\n"
	"\n"
	"  \"\"\", esc: \"tab\\there \\u00e9 \\u{1F600} \\uD83D\\uDE00 \\\\ \\\" \\/ \\b\\f\\n\\r\"})\n"
	"  numbers(i: -0, f: 1.5e-3, g: -2E+10, h: 0.25)\n"
	"}\n"
	"\n"
	"{\n"
	"  nameless(yes: true, no: false, nothing: null, color: RED, list: [], obj: {}),\n"
	"  query\n"
	"  mutation: subscription\n"
	"  fragment\n"
	"}\n"
	"\n"
	"query { __typename }";

static const char kitchen_sink_printed[] =
	"query fetchThings($where: FilterInput, $region: Region = EUROPE, $ids: [ID!]! = [\"a\", \"b\"]) @opQuery {\n"
	"  first99: thing(id: [7, 8]) {\n"
	"    id\n"
	"    ... on Gadget @inlineDir {\n"
	"      parts {\n"
	"        id\n"
	"        renamed: part(limit: 5, cursor: $where) @include(if: $where) {\n"
	"          id\n"
	"          ...gadgetBits @spreadDir\n"
	"        }\n"
	"      }\n"
	"    }\n"
	"    ... @skip(unless: $where) {\n"
	"      id\n"
	"    }\n"
	"    ... {\n"
	"      id\n"
	"    }\n"
	"  }\n"
	"}\n"
	"\n"
	"mutation bumpCounter @opMutation {\n"
	"  bump(counter: 42) @fieldDir {\n"
	"    counter {\n"
	"      id @fieldDir\n"
	"    }\n"
	"  }\n"
	"}\n"
	"\n"
	"subscription OnBump($payload: BumpInput @varDir) @opSubscription {\n"
	"  bumped(payload: $payload) {\n"
	"    counter {\n"
	"      watchers {\n"
	"        total\n"
	"      }\n"
	"      summary {\n"
	"        text\n"
	"      }\n"
	"    }\n"
	"  }\n"
	"}\n"
	"\n"
	"fragment gadgetBits on Gadget @fragDir {\n"
	"  attr(\n"
	"    size: $size\n"
	"    flag: $flag\n"
	"    cfg: {key: \"value\", block: \"\"\"\n"
	"    block string keeps \\\"\"\" and \"quotes\"\n"
	"      and relative indentation\n"
	"    \"\"\", esc: \"tab\\there é 😀 😀 \\\\ \\\" / \\b\\f\\n\\r\"}\n"
	"  )\n"
	"  numbers(i: -0, f: 1.5e-3, g: -2E+10, h: 0.25)\n"
	"}\n"
	"\n"
	"{\n"
	"  nameless(yes: true, no: false, nothing: null, color: RED, list: [], obj: {})\n"
	"  query\n"
	"  mutation: subscription\n"
	"  fragment\n"
	"}\n"
	"\n"
	"{\n"
	"  __typename\n"
	"}";

static const char schema_kitchen_sink[] =
	"\"\"\"The schema's description.\"\"\"\n"
	"schema @schemaDir(level: 1) {\n"
	"  query: RootQuery\n"
	"  mutation: RootMutation\n"
	"  subscription: RootSubscription\n"
	"}\n"
	"\n"
	"\"\"\"\n"
	"This is a description\n"
	"of the `Gizmo` type.\n"
	"\"\"\"\n"
	"type Gizmo implements Thing & Named @typeDir {\n"
	"  \"Single-line description.\"\n"
	"  one: Kind\n"
	"  \"\"\"\n"
	"  Multi-line description\n"
	"  of a field.\n"
	"  \"\"\"\n"
	"  two(argument: InputKind!): Kind\n"
	"  three(argument: InputKind, other: String): Int\n"
	"  four(argument: String = \"string\"): String\n"
	"  five(argument: [String] = [\"string\", \"string\"]): String\n"
	"  six(argument: InputKind = {key: \"value\"}): Kind\n"
	"  seven(argument: Int = null): Kind\n"
	"  eight(\n"
	"    \"\"\"Argument with a description.\"\"\"\n"
	"    argument: Int = 1 @argDir(x: [1, 2])\n"
	"  ): Kind @deprecated(reason: \"use nine\")\n"
	"}\n"
	"\n"
	"type Decorated @onObject(arg: \"value\") {\n"
	"  annotatedField(arg: Kind = \"default\" @onArgumentDefinition): Kind @onField\n"
	"}\n"
	"\n"
	"type NoFields\n"
	"\n"
	"extend type Gizmo {\n"
	"  seven(argument: [String]): Kind\n"
	"}\n"
	"\n"
	"extend type Gizmo @onObject\n"
	"\n"
	"interface Thing {\n"
	"  one: Kind\n"
	"  four(argument: String = \"string\"): String\n"
	"}\n"
	"\n"
	"interface Named implements & Thing & Other @onInterface {\n"
	"  name: String\n"
	"}\n"
	"\n"
	"interface Bare\n"
	"\n"
	"extend interface Thing {\n"
	"  five(argument: [String] = [\"string\", \"string\"]): String\n"
	"}\n"
	"\n"
	"extend interface Thing @onInterface\n"
	"\n"
	"extend interface Named implements Third\n"
	"\n"
	"union Feed =\n"
	"  | Story\n"
	"  | Article\n"
	"  | Advert\n"
	"\n"
	"union Decorated2 @onUnion = A | B\n"
	"\n"
	"union NoMembers\n"
	"\n"
	"extend union Feed = Photo | Video\n"
	"\n"
	"extend union Feed @onUnion\n"
	"\n"
	"scalar Url\n"
	"\n"
	"scalar Json @onScalar\n"
	"\n"
	"extend scalar Url @onScalar\n"
	"\n"
	"enum Planet {\n"
	"  \"Closest to the sun.\"\n"
	"  MERCURY\n"
	"  VENUS @onEnumValue\n"
	"  EARTH\n"
	"}\n"
	"\n"
	"enum Decorated3 @onEnum {\n"
	"  ONLY\n"
	"}\n"
	"\n"
	"enum NoValues\n"
	"\n"
	"extend enum Planet {\n"
	"  MARS\n"
	"}\n"
	"\n"
	"extend enum Planet @onEnum\n"
	"\n"
	"input InputKind {\n"
	"  key: String!\n"
	"  answer: Int = 42 @onInputFieldDefinition\n"
	"  nested: [InputKind!] = [{key: \"a\"}, {key: \"b\", answer: 1}]\n"
	"}\n"
	"\n"
	"input Decorated4 @onInputObject {\n"
	"  value: Float = -1.25e2\n"
	"}\n"
	"\n"
	"input NoInputFields\n"
	"\n"
	"extend input InputKind {\n"
	"  other: Float = 1.23e4 @onInputFieldDefinition\n"
	"}\n"
	"\n"
	"extend input InputKind @onInputObject\n"
	"\n"
	"\"\"\"\n"
	"This is a description of the `@skip2` directive\n"
	"\"\"\"\n"
	"directive @skip2(\n"
	"  \"\"\"Skip when true.\"\"\"\n"
	"  if: Boolean! @onArgumentDefinition\n"
	") on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
	"\n"
	"directive @include2(if: Boolean!) on\n"
	"  | FIELD\n"
	"  | FRAGMENT_SPREAD\n"
	"  | INLINE_FRAGMENT\n"
	"\n"
	"directive @tag(name: String!) repeatable on OBJECT | INTERFACE | FIELD_DEFINITION | ARGUMENT_DEFINITION | ENUM_VALUE | INPUT_FIELD_DEFINITION | SCALAR | UNION | ENUM | INPUT_OBJECT | SCHEMA | QUERY | MUTATION | SUBSCRIPTION | FRAGMENT_DEFINITION | VARIABLE_DEFINITION\n"
	"\n"
	"extend schema @onSchema\n"
	"\n"
	"extend schema @onSchema {\n"
	"  subscription: SubscriptionType\n"
	"}";

static const char schema_kitchen_sink_printed[] =
	"\"\"\"The schema's description.\"\"\"\n"
	"schema @schemaDir(level: 1) {\n"
	"  query: RootQuery\n"
	"  mutation: RootMutation\n"
	"  subscription: RootSubscription\n"
	"}\n"
	"\n"
	"\"\"\"\n"
	"This is a description\n"
	"of the `Gizmo` type.\n"
	"\"\"\"\n"
	"type Gizmo implements Thing & Named @typeDir {\n"
	"  \"Single-line description.\"\n"
	"  one: Kind\n"
	"  \"\"\"\n"
	"  Multi-line description\n"
	"  of a field.\n"
	"  \"\"\"\n"
	"  two(argument: InputKind!): Kind\n"
	"  three(argument: InputKind, other: String): Int\n"
	"  four(argument: String = \"string\"): String\n"
	"  five(argument: [String] = [\"string\", \"string\"]): String\n"
	"  six(argument: InputKind = {key: \"value\"}): Kind\n"
	"  seven(argument: Int = null): Kind\n"
	"  eight(\n"
	"    \"\"\"Argument with a description.\"\"\"\n"
	"    argument: Int = 1 @argDir(x: [1, 2])\n"
	"  ): Kind @deprecated(reason: \"use nine\")\n"
	"}\n"
	"\n"
	"type Decorated @onObject(arg: \"value\") {\n"
	"  annotatedField(arg: Kind = \"default\" @onArgumentDefinition): Kind @onField\n"
	"}\n"
	"\n"
	"type NoFields\n"
	"\n"
	"extend type Gizmo {\n"
	"  seven(argument: [String]): Kind\n"
	"}\n"
	"\n"
	"extend type Gizmo @onObject\n"
	"\n"
	"interface Thing {\n"
	"  one: Kind\n"
	"  four(argument: String = \"string\"): String\n"
	"}\n"
	"\n"
	"interface Named implements Thing & Other @onInterface {\n"
	"  name: String\n"
	"}\n"
	"\n"
	"interface Bare\n"
	"\n"
	"extend interface Thing {\n"
	"  five(argument: [String] = [\"string\", \"string\"]): String\n"
	"}\n"
	"\n"
	"extend interface Thing @onInterface\n"
	"\n"
	"extend interface Named implements Third\n"
	"\n"
	"union Feed = Story | Article | Advert\n"
	"\n"
	"union Decorated2 @onUnion = A | B\n"
	"\n"
	"union NoMembers\n"
	"\n"
	"extend union Feed = Photo | Video\n"
	"\n"
	"extend union Feed @onUnion\n"
	"\n"
	"scalar Url\n"
	"\n"
	"scalar Json @onScalar\n"
	"\n"
	"extend scalar Url @onScalar\n"
	"\n"
	"enum Planet {\n"
	"  \"Closest to the sun.\"\n"
	"  MERCURY\n"
	"  VENUS @onEnumValue\n"
	"  EARTH\n"
	"}\n"
	"\n"
	"enum Decorated3 @onEnum {\n"
	"  ONLY\n"
	"}\n"
	"\n"
	"enum NoValues\n"
	"\n"
	"extend enum Planet {\n"
	"  MARS\n"
	"}\n"
	"\n"
	"extend enum Planet @onEnum\n"
	"\n"
	"input InputKind {\n"
	"  key: String!\n"
	"  answer: Int = 42 @onInputFieldDefinition\n"
	"  nested: [InputKind!] = [{key: \"a\"}, {key: \"b\", answer: 1}]\n"
	"}\n"
	"\n"
	"input Decorated4 @onInputObject {\n"
	"  value: Float = -1.25e2\n"
	"}\n"
	"\n"
	"input NoInputFields\n"
	"\n"
	"extend input InputKind {\n"
	"  other: Float = 1.23e4 @onInputFieldDefinition\n"
	"}\n"
	"\n"
	"extend input InputKind @onInputObject\n"
	"\n"
	"\"\"\"This is a description of the `@skip2` directive\"\"\"\n"
	"directive @skip2(\n"
	"  \"\"\"Skip when true.\"\"\"\n"
	"  if: Boolean! @onArgumentDefinition\n"
	") on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
	"\n"
	"directive @include2(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
	"\n"
	"directive @tag(name: String!) repeatable on OBJECT | INTERFACE | FIELD_DEFINITION | ARGUMENT_DEFINITION | ENUM_VALUE | INPUT_FIELD_DEFINITION | SCALAR | UNION | ENUM | INPUT_OBJECT | SCHEMA | QUERY | MUTATION | SUBSCRIPTION | FRAGMENT_DEFINITION | VARIABLE_DEFINITION\n"
	"\n"
	"extend schema @onSchema\n"
	"\n"
	"extend schema @onSchema {\n"
	"  subscription: SubscriptionType\n"
	"}";

static void test_kitchen_sink_query_parses_and_prints_like_graphql_js(void **state)
{
	struct gql_arena a;
	struct gql_doc *doc;
	struct gql_definition *d;
	struct gql_selection *s, *in;
	struct gql_variable_definition *v;
	struct gql_value *cfg, *val;

	(void)state;
	gql_arena_init(&a, 0);
	doc = parse_ok(&a, kitchen_sink);
	assert_int_equal(doc->n_defs, 6);

	d = doc->defs[0];
	assert_int_equal(d->kind, GQL_DEF_OPERATION);
	assert_int_equal(d->operation, GQL_OP_QUERY);
	assert_string_equal(d->name.value, "fetchThings");
	assert_int_equal(d->line, 1);
	assert_int_equal(d->column, 1);
	assert_int_equal(d->name.column, 7);
	assert_int_equal(d->n_variables, 3);
	v = d->variables[1];
	assert_string_equal(v->name.value, "region");
	assert_int_equal(v->column, 40);
	assert_int_equal(v->name.column, 41);
	assert_int_equal(v->type->kind, GQL_TYPE_NAMED);
	assert_string_equal(v->type->name.value, "Region");
	assert_int_equal(v->default_value->kind, GQL_VALUE_ENUM);
	assert_string_equal(v->default_value->str, "EUROPE");
	v = d->variables[2];
	assert_int_equal(v->type->kind, GQL_TYPE_NON_NULL);
	assert_int_equal(v->type->of->kind, GQL_TYPE_LIST);
	assert_int_equal(v->type->of->of->kind, GQL_TYPE_NON_NULL);
	assert_string_equal(v->type->of->of->of->name.value, "ID");
	assert_int_equal(v->default_value->kind, GQL_VALUE_LIST);
	assert_int_equal(v->default_value->n_items, 2);
	assert_string_equal(v->default_value->items[1]->str, "b");
	assert_int_equal(d->n_directives, 1);
	assert_string_equal(d->directives[0]->name.value, "opQuery");

	s = d->selection_set->items[0];
	assert_int_equal(s->kind, GQL_SEL_FIELD);
	assert_string_equal(s->alias.value, "first99");
	assert_string_equal(s->name.value, "thing");
	assert_int_equal(s->line, 2);
	assert_int_equal(s->column, 3);
	assert_int_equal(s->name.column, 12);
	assert_int_equal(s->n_args, 1);
	assert_int_equal(s->args[0]->value->kind, GQL_VALUE_LIST);
	assert_string_equal(s->args[0]->value->items[1]->str, "8");
	assert_int_equal(s->selection_set->n_items, 4);
	in = s->selection_set->items[1];
	assert_int_equal(in->kind, GQL_SEL_INLINE_FRAGMENT);
	assert_string_equal(in->type_condition->name.value, "Gadget");
	assert_string_equal(in->directives[0]->name.value, "inlineDir");
	in = s->selection_set->items[2];
	assert_int_equal(in->kind, GQL_SEL_INLINE_FRAGMENT);
	assert_null(in->type_condition);
	assert_string_equal(in->directives[0]->name.value, "skip");
	assert_int_equal(in->directives[0]->args[0]->value->kind,
	                 GQL_VALUE_VARIABLE);
	assert_string_equal(in->directives[0]->args[0]->value->str, "where");
	in = s->selection_set->items[3];
	assert_null(in->type_condition);
	assert_int_equal(in->n_directives, 0);
	/* ...gadgetBits @spreadDir, three levels down */
	in = s->selection_set->items[1]->selection_set->items[0]
	     ->selection_set->items[1];
	assert_string_equal(in->alias.value, "renamed");
	assert_int_equal(in->n_args, 2);
	in = in->selection_set->items[1];
	assert_int_equal(in->kind, GQL_SEL_FRAGMENT_SPREAD);
	assert_string_equal(in->name.value, "gadgetBits");
	assert_string_equal(in->directives[0]->name.value, "spreadDir");

	assert_int_equal(doc->defs[1]->operation, GQL_OP_MUTATION);
	assert_string_equal(doc->defs[1]->name.value, "bumpCounter");
	d = doc->defs[2];
	assert_int_equal(d->operation, GQL_OP_SUBSCRIPTION);
	assert_string_equal(d->variables[0]->directives[0]->name.value, "varDir");

	d = doc->defs[3];
	assert_int_equal(d->kind, GQL_DEF_FRAGMENT);
	assert_string_equal(d->name.value, "gadgetBits");
	assert_string_equal(d->type_condition->name.value, "Gadget");
	assert_string_equal(d->directives[0]->name.value, "fragDir");
	cfg = d->selection_set->items[0]->args[2]->value;
	assert_int_equal(cfg->kind, GQL_VALUE_OBJECT);
	assert_int_equal(cfg->n_fields, 3);
	val = cfg->fields[1]->value;
	assert_true(val->block);
	assert_string_equal(val->str, "block string keeps \"\"\" and \"quotes\"\n"
	                    "  and relative indentation");
	val = cfg->fields[2]->value;
	assert_false(val->block);
	assert_string_equal(val->str, "tab\there \xc3\xa9 \xf0\x9f\x98\x80 "
	                    "\xf0\x9f\x98\x80 \\ \" / \b\f\n\r");
	s = d->selection_set->items[1];
	assert_string_equal(s->args[0]->value->str, "-0");
	assert_int_equal(s->args[0]->value->kind, GQL_VALUE_INT);
	assert_string_equal(s->args[1]->value->str, "1.5e-3");
	assert_int_equal(s->args[1]->value->kind, GQL_VALUE_FLOAT);
	assert_string_equal(s->args[2]->value->str, "-2E+10");

	d = doc->defs[4];
	assert_null(d->name.value);
	s = d->selection_set->items[0];
	assert_int_equal(s->args[0]->value->kind, GQL_VALUE_BOOLEAN);
	assert_true(s->args[0]->value->boolean);
	assert_false(s->args[1]->value->boolean);
	assert_int_equal(s->args[2]->value->kind, GQL_VALUE_NULL);
	assert_int_equal(s->args[3]->value->kind, GQL_VALUE_ENUM);
	assert_int_equal(s->args[4]->value->n_items, 0);
	assert_int_equal(s->args[5]->value->kind, GQL_VALUE_OBJECT);
	assert_int_equal(s->args[5]->value->n_fields, 0);
	assert_string_equal(d->selection_set->items[1]->name.value, "query");
	assert_string_equal(d->selection_set->items[2]->alias.value, "mutation");
	assert_string_equal(d->selection_set->items[2]->name.value,
	                    "subscription");
	assert_string_equal(d->selection_set->items[3]->name.value, "fragment");

	assert_string_equal(print_round_trip(&a, doc), kitchen_sink_printed);
	gql_arena_close(&a);
}

static void test_schema_kitchen_sink_parses_and_prints_like_graphql_js(void **state)
{
	struct gql_arena a;
	struct gql_doc *doc;
	struct gql_definition *d;
	struct gql_field_definition *f;
	unsigned counts[11] = { 0 }, extensions = 0;

	(void)state;
	gql_arena_init(&a, 0);
	doc = parse_ok(&a, schema_kitchen_sink);
	assert_int_equal(doc->n_defs, 35);
	for (unsigned i = 0; i < doc->n_defs; i++) {
		counts[doc->defs[i]->kind]++;
		extensions += doc->defs[i]->extension;
	}
	assert_int_equal(counts[GQL_DEF_SCHEMA], 3);
	assert_int_equal(counts[GQL_DEF_OBJECT], 5);
	assert_int_equal(counts[GQL_DEF_INTERFACE], 6);
	assert_int_equal(counts[GQL_DEF_UNION], 5);
	assert_int_equal(counts[GQL_DEF_SCALAR], 3);
	assert_int_equal(counts[GQL_DEF_ENUM], 5);
	assert_int_equal(counts[GQL_DEF_INPUT_OBJECT], 5);
	assert_int_equal(counts[GQL_DEF_DIRECTIVE], 3);
	assert_int_equal(counts[GQL_DEF_OPERATION] + counts[GQL_DEF_FRAGMENT], 0);
	assert_int_equal(extensions, 14);

	d = doc->defs[0];
	assert_int_equal(d->kind, GQL_DEF_SCHEMA);
	assert_true(d->description->block);
	assert_string_equal(d->description->str, "The schema's description.");
	assert_int_equal(d->n_root_ops, 3);
	assert_int_equal(d->root_ops[2]->operation, GQL_OP_SUBSCRIPTION);
	assert_string_equal(d->root_ops[2]->type->name.value, "RootSubscription");

	d = doc->defs[1];
	assert_int_equal(d->kind, GQL_DEF_OBJECT);
	assert_false(d->extension);
	assert_string_equal(d->description->str,
	                    "This is a description\nof the `Gizmo` type.");
	assert_int_equal(d->line, 8);
	assert_int_equal(d->name.line, 12);
	assert_int_equal(d->name.column, 6);
	assert_int_equal(d->n_interfaces, 2);
	assert_string_equal(d->interfaces[1]->name.value, "Named");
	assert_int_equal(d->n_fields, 8);
	f = d->fields[0];
	assert_false(f->description->block);
	assert_string_equal(f->description->str, "Single-line description.");
	f = d->fields[1];
	assert_string_equal(f->description->str,
	                    "Multi-line description\nof a field.");
	assert_int_equal(f->args[0]->type->kind, GQL_TYPE_NON_NULL);
	f = d->fields[5];
	assert_int_equal(f->args[0]->default_value->kind, GQL_VALUE_OBJECT);
	f = d->fields[7];
	assert_string_equal(f->args[0]->description->str,
	                    "Argument with a description.");
	assert_string_equal(f->args[0]->directives[0]->name.value, "argDir");
	assert_string_equal(f->directives[0]->name.value, "deprecated");
	assert_string_equal(f->directives[0]->args[0]->value->str, "use nine");

	d = doc->defs[3];	/* type NoFields */
	assert_string_equal(d->name.value, "NoFields");
	assert_int_equal(d->n_fields, 0);
	assert_null(d->fields);
	d = doc->defs[5];	/* extend type Gizmo @onObject */
	assert_true(d->extension);
	assert_null(d->description);
	assert_int_equal(d->n_directives, 1);
	d = doc->defs[7];	/* interface Named implements & Thing & Other */
	assert_int_equal(d->kind, GQL_DEF_INTERFACE);
	assert_int_equal(d->n_interfaces, 2);
	d = doc->defs[12];	/* union Feed = | Story | Article | Advert */
	assert_int_equal(d->kind, GQL_DEF_UNION);
	assert_int_equal(d->n_types, 3);
	assert_string_equal(d->types[0]->name.value, "Story");
	d = doc->defs[20];	/* enum Planet */
	assert_int_equal(d->kind, GQL_DEF_ENUM);
	assert_int_equal(d->n_values, 3);
	assert_string_equal(d->values[0]->description->str, "Closest to the sun.");
	assert_string_equal(d->values[1]->directives[0]->name.value,
	                    "onEnumValue");
	d = doc->defs[25];	/* input InputKind */
	assert_int_equal(d->kind, GQL_DEF_INPUT_OBJECT);
	assert_int_equal(d->n_input_fields, 3);
	assert_string_equal(d->input_fields[1]->default_value->str, "42");
	assert_int_equal(d->input_fields[2]->default_value->n_items, 2);
	d = doc->defs[30];	/* directive @skip2 */
	assert_int_equal(d->kind, GQL_DEF_DIRECTIVE);
	assert_string_equal(d->name.value, "skip2");
	assert_false(d->repeatable);
	assert_string_equal(d->args[0]->description->str, "Skip when true.");
	assert_int_equal(d->n_locations, 3);
	assert_string_equal(d->locations[2]->value, "INLINE_FRAGMENT");
	d = doc->defs[32];	/* directive @tag ... repeatable */
	assert_true(d->repeatable);
	assert_int_equal(d->n_locations, 16);
	d = doc->defs[34];	/* extend schema @onSchema { subscription: ... } */
	assert_int_equal(d->kind, GQL_DEF_SCHEMA);
	assert_true(d->extension);
	assert_int_equal(d->n_root_ops, 1);

	assert_string_equal(print_round_trip(&a, doc),
	                    schema_kitchen_sink_printed);
	gql_arena_close(&a);
}

/* ---- strings ---- */

static void test_block_strings_follow_block_string_value(void **state)
{
	static const struct { const char *src, *value; } cases[] = {
		{ "\"\"\"\"\"\"", "" },
		{ "\"\"\"   \t  \"\"\"", "" },
		{ "\"\"\"\n\n  \n\t\n\"\"\"", "" },
		{ "\"\"\"hello\"\"\"", "hello" },
		{ "\"\"\"  first line keeps its indentation\"\"\"",
		  "  first line keeps its indentation" },
		{ "\"\"\"\n    a\n      b\n    c\n\"\"\"", "a\n  b\nc" },
		{ "\"\"\"first\n    a\n    b\"\"\"", "first\na\nb" },
		{ "\"\"\"   x\n y\"\"\"", "   x\ny" },
		{ "\"\"\"\n\n    a\n\n    b\n\n\"\"\"", "a\n\nb" },
		{ "\"\"\"\n    a\n  \n    b\n\"\"\"", "a\n\nb" },
		{ "\"\"\"\n  a\n      \n  b\n\"\"\"", "a\n    \nb" },
		{ "\"\"\"\n\t\ta\n\t\t\tb\n\"\"\"", "a\n\tb" },
		{ "\"\"\"\n \ta\n \t b\n\"\"\"", "a\n b" },
		{ "\"\"\"\r\n  a\r\n  b\r\n\"\"\"", "a\nb" },
		{ "\"\"\"\r  a\r    b\r\"\"\"", "a\n  b" },
		{ "\"\"\"a \\\"\"\" b\"\"\"", "a \"\"\" b" },
		{ "\"\"\"\\\"\"\"\\\"\"\"\"\"\"", "\"\"\"\"\"\"" },
		{ "\"\"\"\\n \\u0041 \\\\ stay raw\"\"\"", "\\n \\u0041 \\\\ stay raw" },
		{ "\"\"\"a \"quoted\" \"\" b\"\"\"", "a \"quoted\" \"\" b" },
		{ "\"\"\"\n  caf\xc3\xa9 \xf0\x9f\x98\x80\n\"\"\"",
		  "caf\xc3\xa9 \xf0\x9f\x98\x80" },
		{ "\"\"\"ctrl \x01 allowed\"\"\"", "ctrl \x01 allowed" },
	};
	struct gql_arena a;

	(void)state;
	gql_arena_init(&a, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gql_value *v = value_ok(&a, cases[i].src);
		char *printed;

		assert_int_equal(v->kind, GQL_VALUE_STRING);
		assert_true(v->block);
		assert_string_equal(v->str, cases[i].value);
		assert_int_equal(v->len, strlen(cases[i].value));
		/* the printed block string must give the same value back */
		printed = gql_print_value(&a, v, NULL);
		assert_string_equal(value_ok(&a, printed)->str, cases[i].value);
	}
	gql_arena_close(&a);
}

static void test_block_string_tracks_lines_for_later_tokens(void **state)
{
	(void)state;
	expect_error("{ a(x: \"\"\"\r\n one\r two\n\"\"\") b( }", 4, 9,
	             "Syntax Error: Expected Name, found \"}\".");
	expect_error("{ a(x: \"\"\"one\n two", 2, 5,
	             "Syntax Error: Unterminated string.");
}

static void test_unicode_escapes_decode_to_utf8(void **state)
{
	static const struct { const char *src, *utf8; size_t len; } cases[] = {
		{ "\"\\u0041\"", "A", 1 },
		{ "\"\\u00e9\\u00E9\"", "\xc3\xa9\xc3\xa9", 4 },
		{ "\"\\u20AC\"", "\xe2\x82\xac", 3 },
		{ "\"\\uFFFF\"", "\xef\xbf\xbf", 3 },
		{ "\"\\u{1F600}\"", "\xf0\x9f\x98\x80", 4 },
		{ "\"\\u{1f600}\"", "\xf0\x9f\x98\x80", 4 },
		{ "\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80", 4 },
		{ "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4 },
		{ "\"\\uD800\\uDC00\"", "\xf0\x90\x80\x80", 4 },
		{ "\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4 },
		{ "\"\\u{10FFFF}\"", "\xf4\x8f\xbf\xbf", 4 },
		{ "\"\\u{00000041}\"", "A", 1 },
		{ "\"\\u{0}\"", "\0", 1 },
		{ "\"a\\u0000b\"", "a\0b", 3 },
		{ "\"\\uD7FF\\uE000\"", "\xed\x9f\xbf\xee\x80\x80", 6 },
		{ "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", "\" \\ / \b \f \n \r \t", 15 },
	};
	struct gql_arena a;

	(void)state;
	gql_arena_init(&a, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gql_value *v = value_ok(&a, cases[i].src);
		char *printed;

		assert_int_equal(v->kind, GQL_VALUE_STRING);
		assert_false(v->block);
		assert_int_equal(v->len, cases[i].len);
		assert_memory_equal(v->str, cases[i].utf8, cases[i].len);
		assert_int_equal(v->str[v->len], '\0');
		printed = gql_print_value(&a, v, NULL);
		v = value_ok(&a, printed);
		assert_int_equal(v->len, cases[i].len);
		assert_memory_equal(v->str, cases[i].utf8, cases[i].len);
	}
	/* NUL and other controls are printed as escapes, as graphql-js does */
	assert_string_equal(gql_print_value(&a, value_ok(&a, "\"a\\u0000\\u001F\""),
	                                    NULL), "\"a\\u0000\\u001F\"");
	gql_arena_close(&a);
}

static void test_lone_surrogate_escapes_are_rejected(void **state)
{
	(void)state;
	expect_error("{ f(s: \"x\\uD83D\") }", 1, 10,
	             "Syntax Error: Invalid Unicode escape sequence: \"\\uD83D\".");
	expect_error("{ f(s: \"\\uDE00\\uD83D\") }", 1, 9,
	             "Syntax Error: Invalid Unicode escape sequence: \"\\uDE00\".");
	expect_error("{ f(s: \"\\uD83D\\uD83D\") }", 1, 9,
	             "Syntax Error: Invalid Unicode escape sequence: \"\\uD83D\".");
	expect_error("{ f(s: \"\\uD83Dx\") }", 1, 9,
	             "Syntax Error: Invalid Unicode escape sequence: \"\\uD83D\".");
	expect_error("{ f(s: \"\\u{D83D}\\u{DE00}\") }", 1, 9,
	             "Syntax Error: Invalid Unicode escape sequence: \"\\u{D83D}\".");
}

/*
 * The source must be UTF-8. graphql-js reads JavaScript strings and cannot
 * see malformed bytes; we report the first one as an invalid character.
 */
static void test_malformed_utf8_is_rejected(void **state)
{
	(void)state;
	expect_error("\xff", 1, 1,
	             "Syntax Error: Invalid character: byte 0xFF (malformed UTF-8).");
	expect_error("{ a\xc3 }", 1, 4,
	             "Syntax Error: Invalid character: byte 0xC3 (malformed UTF-8).");
	expect_error("{ a(s: \"\xc0\xaf\") }", 1, 9, "Syntax Error: Invalid "
	             "character within String: byte 0xC0 (malformed UTF-8).");
	expect_error("{ a(s: \"\xed\xa0\x80\") }", 1, 9, "Syntax Error: Invalid "
	             "character within String: byte 0xED (malformed UTF-8).");
	expect_error("{ a(s: \"\xe2\x82\") }", 1, 9, "Syntax Error: Invalid "
	             "character within String: byte 0xE2 (malformed UTF-8).");
	expect_error("{ a(s: \"\xf4\x90\x80\x80\") }", 1, 9, "Syntax Error: Invalid "
	             "character within String: byte 0xF4 (malformed UTF-8).");
	expect_error("{ a(s: \"\"\"\n ok\n \x80\"\"\") }", 3, 2, "Syntax Error: "
	             "Invalid character within String: byte 0x80 (malformed UTF-8).");
	/* a comment ends at the bad byte, which is then reported */
	expect_error("# caf\xc3\xa9 \xed\xa0\x80\n{ a }", 1, 8,
	             "Syntax Error: Invalid character: byte 0xED (malformed UTF-8).");
}

static void test_nul_bytes_are_characters_not_terminators(void **state)
{
	static const char src[] = "{ a }\0";
	struct gql_arena a;
	struct gql_error err;

	(void)state;
	expect_error_as(src, sizeof(src) - 1, NULL, GQL_ACCEPT_ANY, 1, 6,
	                "Syntax Error: Unexpected character: U+0000.");
	gql_arena_init(&a, 0);
	/* a length shorter than the buffer stops before the NUL */
	assert_non_null(gql_parse(&a, src, 5, NULL, &err));
	gql_arena_close(&a);
}

/* ---- positions ---- */

static void test_nodes_carry_their_positions(void **state)
{
	static const char src[] =
		"query Q(\n"
		"  $var: Int = 1\n"
		") {\n"
		"  alias: field(arg: \"x\") @dir\n"
		"  ...Frag\n"
		"  ... on T { b }\n"
		"}\n"
		"\"\"\"doc\"\"\"\n"
		"type T {\n"
		"  \"d\" f: [Int]!\n"
		"}\n";
	struct gql_arena a;
	struct gql_doc *doc;
	struct gql_definition *d;
	struct gql_variable_definition *v;
	struct gql_selection *s;
	struct gql_field_definition *f;

	(void)state;
	gql_arena_init(&a, 0);
	doc = parse_ok(&a, src);
	d = doc->defs[0];
	v = d->variables[0];
	assert_int_equal(v->line, 2);
	assert_int_equal(v->column, 3);
	assert_int_equal(v->name.line, 2);
	assert_int_equal(v->name.column, 4);
	assert_int_equal(v->type->column, 9);
	assert_int_equal(v->default_value->column, 15);
	assert_int_equal(d->selection_set->line, 3);
	assert_int_equal(d->selection_set->column, 3);
	s = d->selection_set->items[0];
	assert_int_equal(s->line, 4);
	assert_int_equal(s->column, 3);
	assert_int_equal(s->alias.column, 3);
	assert_int_equal(s->name.column, 10);
	assert_int_equal(s->args[0]->column, 16);
	assert_int_equal(s->args[0]->name.column, 16);
	assert_int_equal(s->args[0]->value->column, 21);
	assert_int_equal(s->directives[0]->column, 26);
	assert_int_equal(s->directives[0]->name.column, 27);
	s = d->selection_set->items[1];
	assert_int_equal(s->line, 5);
	assert_int_equal(s->column, 3);
	assert_int_equal(s->name.column, 6);
	s = d->selection_set->items[2];
	assert_int_equal(s->line, 6);
	assert_int_equal(s->type_condition->column, 10);
	assert_int_equal(s->selection_set->column, 12);

	d = doc->defs[1];
	assert_int_equal(d->line, 8);
	assert_int_equal(d->column, 1);
	assert_int_equal(d->name.line, 9);
	assert_int_equal(d->name.column, 6);
	f = d->fields[0];
	assert_int_equal(f->line, 10);
	assert_int_equal(f->column, 3);
	assert_int_equal(f->name.column, 7);
	assert_int_equal(f->type->kind, GQL_TYPE_NON_NULL);
	assert_int_equal(f->type->column, 10);
	assert_int_equal(f->type->of->column, 10);
	assert_int_equal(f->type->of->of->column, 11);
	gql_arena_close(&a);
}

/* graphql-js counts UTF-16 units (it would say 16 here); we count code points. */
static void test_columns_count_code_points(void **state)
{
	(void)state;
	expect_error("{ a(x: \"\xf0\x9f\x98\x80\") b() }", 1, 15,
	             "Syntax Error: Expected Name, found \")\".");
	expect_error("\xef\xbb\xbf\xef\xbb\xbf{ \xc3\xa9 }", 1, 5,
	             "Syntax Error: Unexpected character: U+00E9.");
}

/* ---- limits ---- */

static void test_selection_depth_limit_stops_10000_nested_sets(void **state)
{
	char *src = repeat("", "{a", 10000, "");

	(void)state;
	/* the 65th "{" is at column 129 */
	expect_error(src, 1, 129, "Syntax Error: Selection sets are nested more "
	             "than 64 levels deep. Parsing aborted.");
	free(src);
}

static void test_selection_depth_of_64_is_accepted(void **state)
{
	char *open = repeat("", "{a", 64, ""), *src;
	struct gql_arena a;
	struct gql_limits lim = { .max_depth = 3 };
	struct gql_error err;

	(void)state;
	src = repeat(open, "}", 64, "");
	gql_arena_init(&a, 0);
	print_round_trip(&a, parse_ok(&a, src));
	assert_null(gql_parse(&a, "{a{b{c{d}}}}", 12, &lim, &err));
	assert_int_equal(err.column, 7);
	assert_non_null(gql_parse(&a, "{a{b{c}}}", 9, &lim, &err));
	gql_arena_close(&a);
	free(open);
	free(src);
}

static void test_value_depth_limit_stops_deep_lists_and_objects(void **state)
{
	char *lists = repeat("{ f(a: ", "[", 10000, "");
	char *objects = repeat("query ($v: I = ", "{a: ", 10000, "");

	(void)state;
	expect_error(lists, 1, 72, "Syntax Error: Values are nested more than 64 "
	             "levels deep. Parsing aborted.");
	expect_error(objects, 1, 16 + 64 * 4, "Syntax Error: Values are nested "
	             "more than 64 levels deep. Parsing aborted.");
	free(lists);
	free(objects);
}

static void test_type_depth_limit_stops_deep_list_types(void **state)
{
	char *types = repeat("query ($v: ", "[", 10000, "Int");
	char *sdl = repeat("type T { f: ", "[", 100, "Int");

	(void)state;
	expect_error(types, 1, 76, "Syntax Error: List types are nested more "
	             "than 64 levels deep. Parsing aborted.");
	expect_error(sdl, 1, 77, "Syntax Error: List types are nested more "
	             "than 64 levels deep. Parsing aborted.");
	free(types);
	free(sdl);
}

/* A ~1 MB document of aliases: refused at token 100001, in linear time. */
static void test_token_limit_stops_alias_bomb(void **state)
{
	const size_t fields = 83000;
	char *src = malloc(2 + fields * 12 + 1), *p = src;

	(void)state;
	*p++ = '{';
	for (size_t i = 0; i < fields; i++, p += 12)
		snprintf(p, 13, " a%07zu: b", i);
	*p++ = '}';
	*p = '\0';
	assert_true(strlen(src) > 990000 && strlen(src) < (1u << 20));
	/* token 1 is "{", field i has tokens 2+3i..4+3i: 100001 is alias 33333 */
	expect_error(src, 1, 3 + 12 * 33333, "Syntax Error: Document contains "
	             "more than 100000 tokens. Parsing aborted.");
	free(src);
}

static void test_token_limit_ignores_comments_and_commas(void **state)
{
	struct gql_limits lim = { .max_tokens = 4 };
	struct gql_arena a;
	struct gql_error err;
	static const char ok[] = "# comment\n{ a,,, # more\n b }";
	static const char over[] = "{ a b c }";

	(void)state;
	gql_arena_init(&a, 0);
	assert_non_null(gql_parse(&a, ok, strlen(ok), &lim, &err));
	assert_int_equal(gql_parse(&a, ok, strlen(ok), &lim, &err)->n_tokens, 4);
	gql_arena_close(&a);
	expect_error_as(over, strlen(over), &lim, GQL_ACCEPT_ANY, 1, 9,
	                "Syntax Error: Document contains more than 4 tokens. "
	                "Parsing aborted.");
}

static void test_size_limit_refuses_large_documents(void **state)
{
	struct gql_limits lim = { .max_bytes = 10 };
	char *big = repeat("{", " a", (1u << 19) + 1, "}");

	(void)state;
	expect_error_as("{ abcdefgh }", 12, &lim, GQL_ACCEPT_ANY, 1, 1,
	                "Syntax Error: Document is larger than 10 bytes. "
	                "Parsing aborted.");
	expect_error(big, 1, 1, "Syntax Error: Document is larger than 1048576 "
	             "bytes. Parsing aborted.");
	free(big);
}

/* ---- modes ---- */

static void test_executable_mode_rejects_type_system_definitions(void **state)
{
	static const char ok[] = "{ a } query Q { b } fragment F on T { c }";
	static const char *const bad[][2] = {
		{ "{ a } type T { f: Int }", "1:7 Name \"type\"" },
		{ "extend type T @d", "1:1 Name \"extend\"" },
		{ "\"doc\" scalar S", "1:7 Name \"scalar\"" },
		{ "directive @d on FIELD", "1:1 Name \"directive\"" },
		{ "schema { query: Q }", "1:1 Name \"schema\"" },
	};
	struct gql_arena a;
	struct gql_error err;

	(void)state;
	gql_arena_init(&a, 0);
	assert_non_null(gql_parse_as(&a, ok, strlen(ok), NULL,
	                             GQL_ACCEPT_EXECUTABLE, &err));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[200];

		assert_null(gql_parse_as(&a, bad[i][0], strlen(bad[i][0]), NULL,
		                         GQL_ACCEPT_EXECUTABLE, &err));
		snprintf(want, sizeof(want), "%u:%u %s", err.line, err.column,
		         strchr(err.message, 'N'));
		assert_true(strncmp(want, bad[i][1], strlen(bad[i][1])) == 0);
		assert_non_null(strstr(err.message, ": type system definitions "
		                       "are not allowed in an executable document."));
		/* the same text is a fine document when both kinds are allowed */
		assert_non_null(gql_parse(&a, bad[i][0], strlen(bad[i][0]), NULL,
		                          &err));
	}
	gql_arena_close(&a);
}

static void test_type_system_mode_rejects_operations(void **state)
{
	static const char sdl[] = "type T { f: Int } extend type T @d";
	struct gql_arena a;
	struct gql_error err;

	(void)state;
	expect_error_as("type T { f: Int } { a }", 23, NULL,
	                GQL_ACCEPT_TYPE_SYSTEM, 1, 19, "Syntax Error: Unexpected "
	                "\"{\": operations and fragments are not allowed in a "
	                "type system document.");
	expect_error_as("query { a }", 11, NULL, GQL_ACCEPT_TYPE_SYSTEM, 1, 1,
	                "Syntax Error: Unexpected Name \"query\": operations and "
	                "fragments are not allowed in a type system document.");
	expect_error_as("scalar S\nfragment F on T { a }", 30, NULL,
	                GQL_ACCEPT_TYPE_SYSTEM, 2, 1, "Syntax Error: Unexpected "
	                "Name \"fragment\": operations and fragments are not "
	                "allowed in a type system document.");
	gql_arena_init(&a, 0);
	assert_non_null(gql_parse_as(&a, sdl, strlen(sdl), NULL,
	                             GQL_ACCEPT_TYPE_SYSTEM, &err));
	assert_non_null(gql_parse_as(&a, schema_kitchen_sink,
	                             strlen(schema_kitchen_sink), NULL,
	                             GQL_ACCEPT_TYPE_SYSTEM, &err));
	gql_arena_close(&a);
}

/*
 * graphql-js prints "type T" followed by an anonymous query as "type T\n\n{
 * a }", which reads back as fields of T. We keep the `query` keyword there.
 */
static void test_print_keeps_query_keyword_after_open_definition(void **state)
{
	static const char src[] = "type T query { a } extend schema @d query { b }"
	                          " scalar S { c }";
	struct gql_arena a;

	(void)state;
	gql_arena_init(&a, 0);
	assert_string_equal(print_round_trip(&a, parse_ok(&a, src)),
	                    "type T\n\nquery {\n  a\n}\n\n"
	                    "extend schema @d\n\nquery {\n  b\n}\n\n"
	                    "scalar S\n\n{\n  c\n}");
	gql_arena_close(&a);
}

/* ---- value and type helpers ---- */

static void test_parse_value_and_type_helpers(void **state)
{
	struct gql_arena a;
	struct gql_error err;
	struct gql_value *v;
	struct gql_type *t;

	(void)state;
	gql_arena_init(&a, 0);
	v = gql_parse_value(&a, "[1, $a, {b: \"c\"}]", 17, NULL, false, &err);
	assert_non_null(v);
	assert_int_equal(v->items[1]->kind, GQL_VALUE_VARIABLE);
	assert_string_equal(gql_print_value(&a, v, NULL), "[1, $a, {b: \"c\"}]");
	assert_null(gql_parse_value(&a, "[1, $a]", 7, NULL, true, &err));
	assert_string_equal(err.message, "Syntax Error: Unexpected variable "
	                    "\"$a\" in constant value.");
	assert_int_equal(err.column, 5);
	assert_null(gql_parse_value(&a, "1 2", 3, NULL, false, &err));
	assert_string_equal(err.message,
	                    "Syntax Error: Expected <EOF>, found Int \"2\".");
	assert_null(gql_parse_value(&a, "", 0, NULL, false, &err));
	assert_string_equal(err.message, "Syntax Error: Unexpected <EOF>.");

	t = gql_parse_type(&a, " [Int!]! ", 9, NULL, &err);
	assert_non_null(t);
	assert_int_equal(t->kind, GQL_TYPE_NON_NULL);
	assert_int_equal(t->of->kind, GQL_TYPE_LIST);
	assert_int_equal(t->of->of->kind, GQL_TYPE_NON_NULL);
	assert_string_equal(t->of->of->of->name.value, "Int");
	assert_string_equal(gql_print_type(&a, t, NULL), "[Int!]!");
	assert_null(gql_parse_type(&a, "Int!!", 5, NULL, &err));
	assert_string_equal(err.message,
	                    "Syntax Error: Expected <EOF>, found \"!\".");
	assert_int_equal(err.column, 5);
	gql_arena_close(&a);
}

/* ---- lexer ---- */

static void test_lexer_produces_every_token_kind(void **state)
{
	static const char src[] = "\xef\xbb\xbf! $ & ( ) ... : = @ [ ] { | } "
	                          "name_1 -12 3.5e-1 \"s\\n\" \"\"\"  b\"\"\" # c\n,";
	static const enum gql_tok kinds[] = {
		GQL_TOK_BANG, GQL_TOK_DOLLAR, GQL_TOK_AMP, GQL_TOK_PAREN_L,
		GQL_TOK_PAREN_R, GQL_TOK_SPREAD, GQL_TOK_COLON, GQL_TOK_EQUALS,
		GQL_TOK_AT, GQL_TOK_BRACKET_L, GQL_TOK_BRACKET_R,
		GQL_TOK_BRACE_L, GQL_TOK_PIPE, GQL_TOK_BRACE_R, GQL_TOK_NAME,
		GQL_TOK_INT, GQL_TOK_FLOAT, GQL_TOK_STRING, GQL_TOK_BLOCK_STRING,
		GQL_TOK_EOF, GQL_TOK_EOF,
	};
	struct gql_arena a;
	struct gql_lexer lx;
	struct gql_token t;
	struct gql_error err;

	(void)state;
	gql_arena_init(&a, 0);
	gql_lexer_init(&lx, &a, src, strlen(src));
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		assert_int_equal(gql_lexer_next(&lx, &t, &err), 0);
		assert_int_equal(t.kind, kinds[i]);
		if (t.kind == GQL_TOK_NAME)
			assert_memory_equal(t.value, "name_1", t.value_len);
		if (t.kind == GQL_TOK_FLOAT)
			assert_memory_equal(t.value, "3.5e-1", t.value_len);
		if (t.kind == GQL_TOK_STRING)
			assert_string_equal(t.value, "s\n");
		if (t.kind == GQL_TOK_BLOCK_STRING)
			assert_string_equal(t.value, "  b");
		if (t.kind == GQL_TOK_EOF) {
			assert_int_equal(t.line, 2);
			assert_int_equal(t.column, 2);
		}
	}
	assert_string_equal(gql_tok_describe(GQL_TOK_SPREAD), "\"...\"");
	assert_string_equal(gql_tok_describe(GQL_TOK_BLOCK_STRING), "BlockString");
	gql_arena_close(&a);
}

/* ---- messages and memory ---- */

static void test_error_messages_are_bounded_utf8(void **state)
{
	char *src = repeat("{ a(x: 1 \"", "\xc3\xa9", 300, "\") }");
	static const char prefix[] = "Syntax Error: Expected Name, found "
	                             "String \"\xc3\xa9\xc3\xa9";
	struct gql_arena a;
	struct gql_error err;

	(void)state;
	gql_arena_init(&a, 0);
	assert_null(gql_parse(&a, src, strlen(src), NULL, &err));
	assert_true(strlen(err.message) < sizeof(err.message));
	assert_true(valid_utf8(err.message));
	assert_true(strncmp(err.message, prefix, strlen(prefix)) == 0);
	assert_non_null(strstr(err.message, "...\"."));
	gql_arena_close(&a);
	free(src);
}

static void test_one_arena_serves_many_parses(void **state)
{
	static const char *const docs[] = {
		"{ a }", "{ a", "type T { f: [Int!] }", "\"\\uD800\"", "{ b(c: 1.) }",
	};
	struct gql_arena a;
	struct gql_error err;

	(void)state;
	gql_arena_init(&a, 1024);
	for (int round = 0; round < 200; round++) {
		const char *d = docs[round % 5];
		struct gql_doc *doc = gql_parse(&a, d, strlen(d), NULL, &err);

		assert_true((doc != NULL) == (round % 5 == 0 || round % 5 == 2));
		if (doc)
			assert_non_null(gql_print(&a, doc, NULL));
		if (round % 7 == 0) {
			gql_arena_close(&a);
			gql_arena_init(&a, 1024);
		}
	}
	gql_arena_close(&a);
}

int main(void)
{
	static const struct CMUnitTest named[] = {
		cmocka_unit_test(test_kitchen_sink_query_parses_and_prints_like_graphql_js),
		cmocka_unit_test(test_schema_kitchen_sink_parses_and_prints_like_graphql_js),
		cmocka_unit_test(test_block_strings_follow_block_string_value),
		cmocka_unit_test(test_block_string_tracks_lines_for_later_tokens),
		cmocka_unit_test(test_unicode_escapes_decode_to_utf8),
		cmocka_unit_test(test_lone_surrogate_escapes_are_rejected),
		cmocka_unit_test(test_malformed_utf8_is_rejected),
		cmocka_unit_test(test_nul_bytes_are_characters_not_terminators),
		cmocka_unit_test(test_nodes_carry_their_positions),
		cmocka_unit_test(test_columns_count_code_points),
		cmocka_unit_test(test_selection_depth_limit_stops_10000_nested_sets),
		cmocka_unit_test(test_selection_depth_of_64_is_accepted),
		cmocka_unit_test(test_value_depth_limit_stops_deep_lists_and_objects),
		cmocka_unit_test(test_type_depth_limit_stops_deep_list_types),
		cmocka_unit_test(test_token_limit_stops_alias_bomb),
		cmocka_unit_test(test_token_limit_ignores_comments_and_commas),
		cmocka_unit_test(test_size_limit_refuses_large_documents),
		cmocka_unit_test(test_executable_mode_rejects_type_system_definitions),
		cmocka_unit_test(test_type_system_mode_rejects_operations),
		cmocka_unit_test(test_print_keeps_query_keyword_after_open_definition),
		cmocka_unit_test(test_parse_value_and_type_helpers),
		cmocka_unit_test(test_lexer_produces_every_token_kind),
		cmocka_unit_test(test_error_messages_are_bounded_utf8),
		cmocka_unit_test(test_one_arena_serves_many_parses),
	};
	const size_t n_named = sizeof(named) / sizeof(named[0]);
	const size_t n_err = sizeof(error_cases) / sizeof(error_cases[0]);
	const size_t n_valid = sizeof(valid_cases) / sizeof(valid_cases[0]);
	size_t n = 0;
	struct CMUnitTest *tests = calloc(n_named + n_err + n_valid,
	                                  sizeof(*tests));
	char (*names)[96] = calloc(n_err + n_valid, sizeof(*names));
	int failed;

	if (!tests || !names)
		return 1;
	/* one test per table row, named after the behaviour it checks */
	for (size_t i = 0; i < n_named; i++)
		tests[n++] = named[i];
	for (size_t i = 0; i < n_err; i++) {
		snprintf(names[i], sizeof(names[i]), "test_parse_rejects_%s",
		         error_cases[i].name);
		tests[n].name = names[i];
		tests[n].test_func = run_error_case;
		tests[n++].initial_state = (void *)&error_cases[i];
	}
	for (size_t i = 0; i < n_valid; i++) {
		snprintf(names[n_err + i], sizeof(names[0]),
		         "test_parse_accepts_%s", valid_cases[i].name);
		tests[n].name = names[n_err + i];
		tests[n].test_func = run_valid_case;
		tests[n++].initial_state = (void *)&valid_cases[i];
	}
	failed = _cmocka_run_group_tests("graphql_parser", tests, n, NULL, NULL);
	free(tests);
	free(names);
	return failed;
}
