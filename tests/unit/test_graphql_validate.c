/*
 * The GraphQL validator (plugins/graphql/validate.c).
 *
 * Expected messages, locations and order are graphql-js 16.8's `validate()`
 * with its specified rules (checked with tools/crosscheck_validate.mjs),
 * except for the limits, which are ours. Each error is rendered as
 * "message @line:column[,line:column...]" and the errors of a document are
 * joined with "\n".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "parser.h"
#include "validate.h"

static const char schema_sdl[] =
	"schema { query: Query mutation: Mutation subscription: Subscription }\n"
	"directive @onField on FIELD\n"
	"directive @rep repeatable on FIELD\n"
	"directive @needs(level: Int!) on FIELD\n"
	"interface Named { name: String }\n"
	"interface Pet implements Named { name: String legs: Int }\n"
	"enum Color { RED GREEN BLUE }\n"
	"scalar JSON\n"
	"type Dog implements Pet & Named { name: String legs: Int barks: Boolean\n"
	"  nickname: String color: Color owner: Human\n"
	"  isAt(x: Int, y: Int): Boolean friends(first: Int): [Dog] }\n"
	"type Cat implements Pet & Named { name: String legs: Int meows: Boolean }\n"
	"type Human implements Named { name: String pets: [Pet] iq: Int }\n"
	"union CatOrDog = Cat | Dog\n"
	"input Point { x: Int! y: Int = 0 label: String near: Point }\n"
	"type Args { int(v: Int): Int req(v: Int!): Int str(v: String): Int\n"
	"  bool(v: Boolean): Int float(v: Float): Int id(v: ID): Int\n"
	"  color(v: Color): Int list(v: [String!]): Int point(v: Point): Int\n"
	"  json(v: JSON): Int dflt(v: Int! = 1): Int }\n"
	"type Query { dog: Dog cat: Cat pet: Pet named: Named human: Human\n"
	"  catOrDog: CatOrDog args: Args dogs(first: Int, limit: Int): [Dog]\n"
	"  count: Int }\n"
	"type Mutation { setCount(n: Int!): Int }\n"
	"type Subscription { newDog: Dog count: Int }\n";

static struct gql_schema *schema;

static int setup(void **state)
{
	const char *src[1] = { schema_sdl };
	struct gql_schema_error errs[4];
	unsigned n = 0;

	schema = gql_schema_build(src, NULL, 1, errs, 4, &n);
	if (!schema) {
		fprintf(stderr, "schema: %s\n", n ? errs[0].text : "?");
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	gql_schema_free(schema);
	return 0;
}

/* The errors of SRC under LIM, rendered (see the file comment). */
static char *validate_text(const char *src, const struct gql_vlimits *lim,
                           unsigned *count)
{
	static char out[65536];
	struct gql_arena a;
	struct gql_error perr;
	struct gql_doc *doc;
	struct gql_verror *errs;
	unsigned n;
	size_t at = 0;
	int r;

	gql_arena_init(&a, 0);
	doc = gql_parse(&a, src, strlen(src), NULL, &perr);
	if (!doc)
		fail_msg("syntax error %u:%u %s", perr.line, perr.column, perr.message);
	r = gql_validate(schema, doc, lim, &a, &errs, &n);
	assert_true(r >= 0);
	assert_int_equal((unsigned)r, n);
	out[0] = '\0';
	for (unsigned i = 0; i < n && at < sizeof(out); i++) {
		at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s @", i ? "\n" : "",
		                       errs[i].message);
		for (unsigned k = 0; k < errs[i].n_locs && at < sizeof(out); k++)
			at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%u:%u",
			                       k ? "," : "", errs[i].locs[k].line,
			                       errs[i].locs[k].column);
	}
	if (count)
		*count = n;
	gql_arena_close(&a);
	return out;
}

static const struct gql_vlimits no_limits = {
	.max_depth = GQL_VLIMIT_NONE,
	.max_aliases = GQL_VLIMIT_NONE,
	.max_complexity = GQL_VLIMIT_NONE,
};

static void expect(const char *src, const char *errors)
{
	assert_string_equal(validate_text(src, &no_limits, NULL), errors);
}

static void expect_valid(const char *src)
{
	expect(src, "");
}

/* ---- valid documents ---- */

static void test_validate_accepts_valid_documents(void **state)
{
	expect_valid("query Q($id: Int, $c: Color = RED) {\n"
	             "  dog { ...D name @include(if: true) color }\n"
	             "  args { int(v: $id) color(v: $c) point(v: {x: 1, near: {x: 2}})\n"
	             "         list(v: [\"a\"]) json(v: {any: [1, \"x\"]}) dflt }\n"
	             "  pet { ... on Dog { barks } __typename }\n"
	             "}\nfragment D on Dog { nickname friends(first: 2) { name } }");
	expect_valid("mutation { setCount(n: 3) }");
	expect_valid("subscription { newDog { name } }");
	expect_valid("{ __schema { types { name fields(includeDeprecated: true) { name } } }"
	             " __type(name: \"Dog\") { kind } }");
}

static void test_validate_visits_type_system_definitions(void **state)
{
	/* graphql-js's rules look inside them too, after rule 1 */
	expect("{ count }\ntype T implements Nope @onField { a(x: Strin): Int "
	       "@deprecated(reason: 1, why: 2) @deprecated }\n"
	       "enum E { A @deprecated @deprecated }",
	       "The \"T\" definition is not executable. @2:1\n"
	       "The \"E\" definition is not executable. @3:1\n"
	       "Unknown type \"Nope\". @2:19\n"
	       "Directive \"@onField\" may not be used on OBJECT. @2:24\n"
	       "The directive \"@deprecated\" can only be used once at this "
	       "location. @2:52,2:83\n"
	       "Unknown type \"Strin\". Did you mean \"String\"? @2:40\n"
	       "Unknown argument \"why\" on directive \"@deprecated\". @2:75\n"
	       "String cannot represent a non string value: 1 @2:72\n"
	       "The directive \"@deprecated\" can only be used once at this "
	       "location. @3:12,3:24");
	/* its own directive definitions and types count as known */
	expect("directive @mine(level: Int!) repeatable on FIELD | QUERY\n"
	       "directive @once on FIELD\n"
	       "query @mine(level: 1) @mine(level: 2) { dog @mine @once @once { name } }",
	       "The \"mine\" definition is not executable. @1:1\n"
	       "The \"once\" definition is not executable. @2:1\n"
	       "The directive \"@once\" can only be used once at this location. "
	       "@3:51,3:57\n"
	       "Directive \"@mine\" argument \"level\" of type \"Int!\" is "
	       "required, but it was not provided. @3:45");
	expect("type Extra { a: Int }\nquery ($e: Extra, $f: Extraa) { dog { ... on Extra { a } } }",
	       "The \"Extra\" definition is not executable. @1:1\n"
	       "Unknown type \"Extraa\". Did you mean \"Extra\"? @2:23\n"
	       "Variable \"$e\" is never used. @2:8\n"
	       "Variable \"$f\" is never used. @2:19");
}

/* ---- document-level rules ---- */

static void test_validate_executable_definitions(void **state)
{
	expect("{ dog { name } }\ntype Foo { a: Int }\nschema { query: Foo }",
	       "The \"Foo\" definition is not executable. @2:1\n"
	       "The schema definition is not executable. @3:1");
}

static void test_validate_operation_names_and_anonymous(void **state)
{
	expect("query A { count } query A { count }",
	       "There can be only one operation named \"A\". @1:7,1:25");
	expect("{ count } query B { count }",
	       "This anonymous operation must be the only defined operation. @1:1");
}

static void test_validate_single_field_subscriptions(void **state)
{
	expect("subscription S { newDog { name } count }",
	       "Subscription \"S\" must select only one top level field. @1:34");
	expect("subscription { ...F }\nfragment F on Subscription { newDog { name } c: count }",
	       "Anonymous Subscription must select only one top level field. @2:46");
	expect("subscription { __typename }",
	       "Anonymous Subscription must not select an introspection top level field. @1:16");
	/* a literal @skip removes a field, as in execution */
	expect_valid("subscription { newDog { name } count @skip(if: true) }");
}

/* ---- types and fields ---- */

static void test_validate_known_type_names(void **state)
{
	expect("query ($a: Dogg, $b: [Strin!]) { dog { ... on Kat { name } } }",
	       "Unknown type \"Dogg\". Did you mean \"Dog\"? @1:12\n"
	       "Unknown type \"Strin\". Did you mean \"String\"? @1:23\n"
	       "Unknown type \"Kat\". Did you mean \"Cat\", \"Int\", or \"Pet\"? @1:47\n"
	       "Variable \"$a\" is never used. @1:8\n"
	       "Variable \"$b\" is never used. @1:18");
}

static void test_validate_unreferenced_standard_scalar_is_unknown(void **state)
{
	/* nothing in the schema uses ID: graphql-js's type map lacks it */
	expect_valid("query ($a: ID) { args { id(v: $a) } }");
	expect("query ($a: Float) { count }",
	       "Variable \"$a\" is never used. @1:8");
}

static void test_validate_fragments_on_composite_types(void **state)
{
	expect("{ dog { ... on Boolean { x } } }\nfragment S on Point { x }",
	       "Fragment cannot condition on non composite type \"Boolean\". @1:16\n"
	       "Fragment \"S\" cannot condition on non composite type \"Point\". @2:15\n"
	       "Fragment \"S\" is never used. @2:1");
}

static void test_validate_variables_are_input_types(void **state)
{
	expect("query ($a: Dog, $b: [CatOrDog]!) { count }",
	       "Variable \"$a\" cannot be non-input type \"Dog\". @1:12\n"
	       "Variable \"$b\" cannot be non-input type \"[CatOrDog]!\". @1:21\n"
	       "Variable \"$a\" is never used. @1:8\n"
	       "Variable \"$b\" is never used. @1:17");
}

static void test_validate_leaf_field_selections(void **state)
{
	expect("{ dog { name { x } } human }",
	       "Field \"name\" must not have a selection since type \"String\" has no subfields. @1:14\n"
	       "Field \"human\" of type \"Human\" must have a selection of subfields. Did you mean \"human { ... }\"? @1:22");
}

static void test_validate_fields_on_correct_type(void **state)
{
	expect("{ dog { nam } pet { barks } catOrDog { name } }",
	       "Cannot query field \"nam\" on type \"Dog\". Did you mean \"name\"? @1:9\n"
	       "Cannot query field \"barks\" on type \"Pet\". Did you mean to use an inline fragment on \"Dog\"? @1:21\n"
	       "Cannot query field \"name\" on type \"CatOrDog\". Did you mean to use an inline fragment on \"Named\", \"Pet\", \"Cat\", or \"Dog\"? @1:40");
	/* __schema and __type exist on the query type only */
	expect("{ dog { __schema { types { name } } __typename } }",
	       "Cannot query field \"__schema\" on type \"Dog\". @1:9");
}

/* ---- fragments ---- */

static void test_validate_fragment_names(void **state)
{
	expect("{ dog { ...F ...Nope } }\n"
	       "fragment F on Dog { name }\nfragment F on Dog { barks }",
	       "Unknown fragment \"Nope\". @1:17\n"
	       "There can be only one fragment named \"F\". @2:10,3:10");
}

static void test_validate_unused_fragments(void **state)
{
	expect("{ dog { ...A } }\nfragment A on Dog { ...B }\n"
	       "fragment B on Dog { name }\nfragment C on Dog { name }",
	       "Fragment \"C\" is never used. @4:1");
}

static void test_validate_possible_fragment_spreads(void **state)
{
	expect("{ dog { ...C ... on Cat { meows } ... on CatOrDog { __typename } } }\n"
	       "fragment C on Cat { meows }",
	       "Fragment \"C\" cannot be spread here as objects of type \"Dog\" can never be of type \"Cat\". @1:9\n"
	       "Fragment cannot be spread here as objects of type \"Dog\" can never be of type \"Cat\". @1:14");
	expect("{ human { ... on CatOrDog { __typename } } pet { ... on Named { name } } }",
	       "Fragment cannot be spread here as objects of type \"Human\" can never be of type \"CatOrDog\". @1:11");
}

static void test_validate_fragment_cycles(void **state)
{
	expect("{ dog { ...A } }\nfragment A on Dog { ...B name }\n"
	       "fragment B on Dog { ...C }\nfragment C on Dog { ...A ...B }",
	       "Cannot spread fragment \"A\" within itself via \"B\", \"C\". @2:21,3:21,4:21\n"
	       "Cannot spread fragment \"B\" within itself via \"C\". @3:21,4:26");
	expect("{ dog { ...S } }\nfragment S on Dog { friends { ...S } }",
	       "Cannot spread fragment \"S\" within itself. @2:31");
}

/* ---- variables ---- */

static void test_validate_variable_names_and_use(void **state)
{
	expect("query ($a: Int, $a: String, $b: Int) { args { int(v: $a) } }",
	       "There can be only one variable named \"$a\". @1:9,1:18\n"
	       "Variable \"$b\" is never used. @1:29\n"
	       "Variable \"$a\" of type \"String\" used in position expecting type \"Int\". @1:17,1:54");
	expect("query Q($a: Int) { args { int(v: $b) } ...F }\n"
	       "fragment F on Query { args { str(v: $c) } }",
	       "Variable \"$b\" is not defined by operation \"Q\". @1:34,1:1\n"
	       "Variable \"$c\" is not defined by operation \"Q\". @2:37,1:1\n"
	       "Variable \"$a\" is never used in operation \"Q\". @1:9");
}

static void test_validate_variables_in_allowed_position(void **state)
{
	expect("query ($i: Int, $s: String, $l: [String], $n: Int!, $d: Int = 2) {\n"
	       "  args { req(v: $i) str(v: $n) list(v: $l) int(v: $s) a: req(v: $d)"
	       " dflt(v: $i) }\n}",
	       "Variable \"$i\" of type \"Int\" used in position expecting type \"Int!\". @1:8,2:17\n"
	       "Variable \"$n\" of type \"Int!\" used in position expecting type \"String\". @1:43,2:28\n"
	       "Variable \"$l\" of type \"[String]\" used in position expecting type \"[String!]\". @1:29,2:40\n"
	       "Variable \"$s\" of type \"String\" used in position expecting type \"Int\". @1:17,2:51");
	/* inside lists and input objects, positions are the item and field */
	expect("query ($s: String, $x: Int) { args { list(v: [$s]) point(v: {x: $x}) } }",
	       "Variable \"$s\" of type \"String\" used in position expecting type \"String!\". @1:8,1:47\n"
	       "Variable \"$x\" of type \"Int\" used in position expecting type \"Int!\". @1:20,1:65");
}

/* ---- directives and arguments ---- */

static void test_validate_directives(void **state)
{
	expect("query @onField { dog @unknown { name @skip(if: true) @skip(if: false) "
	       "@rep @rep } }",
	       "Directive \"@onField\" may not be used on QUERY. @1:7\n"
	       "Unknown directive \"@unknown\". @1:22\n"
	       "The directive \"@skip\" can only be used once at this location. @1:38,1:54");
	expect("{ dog { name @include @needs } }",
	       "Directive \"@include\" argument \"if\" of type \"Boolean!\" is required, but it was not provided. @1:14\n"
	       "Directive \"@needs\" argument \"level\" of type \"Int!\" is required, but it was not provided. @1:23");
}

static void test_validate_arguments(void **state)
{
	expect("{ dog { isAt(x: 1, z: 2, x: 3) name @skip(iff: true, if: false) } }",
	       "There can be only one argument named \"x\". @1:14,1:26\n"
	       "Unknown argument \"z\" on field \"Dog.isAt\". Did you mean \"x\" or \"y\"? @1:20\n"
	       "Unknown argument \"iff\" on directive \"@skip\". Did you mean \"if\"? @1:43");
	expect("{ args { req dflt } }",
	       "Field \"req\" argument \"v\" of type \"Int!\" is required, but it was not provided. @1:10");
}

/* ---- values ---- */

static void test_validate_scalar_literals(void **state)
{
	expect("{ args { a: int(v: \"3\") b: int(v: 2147483648) c: int(v: -2147483648)\n"
	       "d: str(v: 1) e: bool(v: \"t\") f: float(v: 1) g: float(v: true)\n"
	       "h: id(v: 1) i: id(v: 1.5) j: json(v: {x: [1]}) } }",
	       "Int cannot represent non-integer value: \"3\" @1:20\n"
	       "Int cannot represent non 32-bit signed integer value: 2147483648 @1:35\n"
	       "String cannot represent a non string value: 1 @2:11\n"
	       "Boolean cannot represent a non boolean value: \"t\" @2:25\n"
	       "Float cannot represent non numeric value: true @2:57\n"
	       "ID cannot represent a non-string and non-integer value: 1.5 @3:22");
}

static void test_validate_enum_literals(void **state)
{
	expect("{ args { a: color(v: \"RED\") b: color(v: red) c: color(v: PINK) } }",
	       "Enum \"Color\" cannot represent non-enum value: \"RED\". Did you mean the enum value \"RED\" or \"GREEN\"? @1:22\n"
	       "Value \"red\" does not exist in \"Color\" enum. Did you mean the enum value \"RED\"? @1:41\n"
	       "Value \"PINK\" does not exist in \"Color\" enum. @1:58");
}

static void test_validate_lists_objects_and_null(void **state)
{
	expect("{ args { a: list(v: [\"a\", null]) b: int(v: [1]) c: req(v: null)\n"
	       "d: point(v: {y: 1, z: 2, near: {x: \"s\"}}) e: point(v: [{x: 1}]) } }",
	       "Expected value of type \"String!\", found null. @1:27\n"
	       "Int cannot represent non-integer value: [1] @1:44\n"
	       "Expected value of type \"Int!\", found null. @1:59\n"
	       "Field \"Point.x\" of required type \"Int!\" was not provided. @2:13\n"
	       "Field \"z\" is not defined by type \"Point\". Did you mean \"x\" or \"y\"? @2:20\n"
	       "Int cannot represent non-integer value: \"s\" @2:36\n"
	       "Expected value of type \"Point\", found [{x: 1}]. @2:55");
	expect("{ args { point(v: {x: 1, x: 2, near: {x: 1, label: \"a\", label: \"b\"}}) } }",
	       "There can be only one input field named \"x\". @1:20,1:26\n"
	       "There can be only one input field named \"label\". @1:45,1:57");
	/* default values of variables are checked too */
	expect("query ($a: Int = \"x\", $b: Point = {y: 2}) { args { int(v: $a) point(v: $b) } }",
	       "Int cannot represent non-integer value: \"x\" @1:18\n"
	       "Field \"Point.x\" of required type \"Int!\" was not provided. @1:35");
}

/* ---- field merging ---- */

static void test_validate_overlapping_fields(void **state)
{
	expect("{ dog { name: nickname name } }",
	       "Fields \"name\" conflict because \"nickname\" and \"name\" are different fields. Use different aliases on the fields to fetch both if this was intentional. @1:9,1:24");
	expect("{ dog { isAt(x: 1) isAt(x: 2) } }",
	       "Fields \"isAt\" conflict because they have differing arguments. Use different aliases on the fields to fetch both if this was intentional. @1:9,1:20");
	expect("{ catOrDog { ... on Dog { x: barks } ... on Cat { x: legs } } }",
	       "Fields \"x\" conflict because they return conflicting types \"Boolean\" and \"Int\". Use different aliases on the fields to fetch both if this was intentional. @1:27,1:51");
	expect("{ dog { owner { name } owner { name: iq } } }",
	       "Fields \"owner\" conflict because subfields \"name\" conflict because \"name\" and \"iq\" are different fields. Use different aliases on the fields to fetch both if this was intentional. @1:9,1:17,1:24,1:32");
	expect("{ dog { ...A ...B } }\nfragment A on Dog { n: name }\n"
	       "fragment B on Dog { n: nickname }",
	       "Fields \"n\" conflict because \"name\" and \"nickname\" are different fields. Use different aliases on the fields to fetch both if this was intentional. @2:21,3:21");
	/* different object types: names may differ, leaf types may not */
	expect("{ catOrDog { ... on Dog { name } ... on Cat { name: meows } } }",
	       "Fields \"name\" conflict because they return conflicting types \"String\" and \"Boolean\". Use different aliases on the fields to fetch both if this was intentional. @1:27,1:47");
	/* argument order and object field order do not matter */
	expect_valid("{ dog { isAt(x: 1, y: 2) isAt(y: 2, x: 1) } "
	             "args { point(v: {x: 1, y: 2}) point(v: {y: 2, x: 1}) } }");
}

/* ---- limits ---- */

static void test_validate_limit_depth(void **state)
{
	struct gql_vlimits lim = { .max_depth = 3 };

	assert_string_equal(validate_text("{ dog { owner { name } } }", &lim, NULL), "");
	assert_string_equal(validate_text("{ dog { owner { pets { name } } } }", &lim, NULL),
	                    "Operation is too deep: depth 4 exceeds max_depth 3. @1:24");
	/* through fragments too */
	assert_string_equal(validate_text("{ dog { ...F } }\n"
	                                  "fragment F on Dog { friends { friends { name } } }",
	                                  &lim, NULL),
	                    "Operation is too deep: depth 4 exceeds max_depth 3. @2:41");
}

static void test_validate_limit_aliases(void **state)
{
	struct gql_vlimits lim = { .max_aliases = 2 };

	assert_string_equal(validate_text("{ a: count b: count }", &lim, NULL), "");
	assert_string_equal(validate_text("query Q { a: count b: count ...F ...F }\n"
	                                  "fragment F on Query { c: count }", &lim, NULL),
	                    "Operation uses too many aliases: 4 exceeds max_aliases 2. @1:1");
}

static void test_validate_limit_complexity(void **state)
{
	struct gql_vlimits lim = { .max_complexity = 100 };

	/* 1 + 10 * (1 + 10 * 1): lists count 10 without first/limit */
	assert_string_equal(validate_text("{ dogs { friends { name } } }", &lim, NULL),
	                    "Operation is too complex: complexity 111 exceeds "
	                    "max_complexity 100. @1:1");
	assert_string_equal(validate_text("{ dogs(first: 3) { friends(first: 5) { name } } }",
	                                  &lim, NULL), "");
	assert_string_equal(validate_text("query ($n: Int = 49) { dogs(limit: $n) { name nickname } }",
	                                  &lim, NULL), "");
	assert_string_equal(validate_text("query ($n: Int = 60) { dogs(limit: $n) { name nickname } }",
	                                  &lim, NULL),
	                    "Operation is too complex: complexity 121 exceeds "
	                    "max_complexity 100. @1:1");
}

static void test_validate_default_limits_allow_introspection_query(void **state)
{
	/* graphql-js's getIntrospectionQuery(), abridged to its shape */
	static const char q[] =
		"query IntrospectionQuery { __schema { queryType { name } mutationType { name }\n"
		"  subscriptionType { name } types { ...FullType }\n"
		"  directives { name description locations args { ...InputValue } } } }\n"
		"fragment FullType on __Type { kind name description specifiedByURL\n"
		"  fields(includeDeprecated: true) { name description args { ...InputValue }\n"
		"    type { ...TypeRef } isDeprecated deprecationReason }\n"
		"  inputFields { ...InputValue } interfaces { ...TypeRef }\n"
		"  enumValues(includeDeprecated: true) { name description isDeprecated\n"
		"    deprecationReason } possibleTypes { ...TypeRef } }\n"
		"fragment InputValue on __InputValue { name description type { ...TypeRef }\n"
		"  defaultValue }\n"
		"fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name\n"
		"  ofType { kind name ofType { kind name ofType { kind name ofType { kind name\n"
		"  ofType { kind name ofType { kind name } } } } } } } } }\n";

	assert_string_equal(validate_text(q, NULL, NULL), "");
}

static void test_validate_introspection_switch(void **state)
{
	struct gql_vlimits lim = { .introspection = GQL_INTROSPECTION_OFF };

	assert_string_equal(validate_text("{ __typename dog { __typename } }", &lim, NULL), "");
	assert_string_equal(validate_text("{ __schema { queryType { name } } ...F }\n"
	                                  "fragment F on Query { t: __type(name: \"Dog\") { name } }",
	                                  &lim, NULL),
	                    "GraphQL introspection has been disabled, but the "
	                    "requested query contained the field \"__schema\". @1:3\n"
	                    "GraphQL introspection has been disabled, but the "
	                    "requested query contained the field \"__type\". @2:23");
}

static void test_validate_rule_selection(void **state)
{
	struct gql_vlimits lim = { .rules = GQL_RULE_FIELDS_ON_CORRECT_TYPE };

	assert_int_equal(gql_rule_bit("NoUnusedFragmentsRule"), GQL_RULE_NO_UNUSED_FRAGMENTS);
	assert_int_equal(gql_rule_bit("ScalarLeafs"), GQL_RULE_SCALAR_LEAFS);
	assert_int_equal(gql_rule_bit("Nope"), 0);
	assert_string_equal(validate_text("query ($v: Int) { nope human }\n"
	                                  "fragment F on Dog { name }", &lim, NULL),
	                    "Cannot query field \"nope\" on type \"Query\". @1:19");
}

/* ---- hostile documents ---- */

static char *repeat(const char *head, const char *unit, unsigned n,
                    const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * n + tl + 1), *p = s;

	memcpy(p, head, hl);
	p += hl;
	for (unsigned i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

static double seconds(clock_t t0)
{
	return (double)(clock() - t0) / CLOCKS_PER_SEC;
}

static void test_validate_errors_are_capped(void **state)
{
	char *q = repeat("{ ", "nope ", 5000, "}");
	unsigned n;
	const char *out = validate_text(q, &no_limits, &n);

	assert_int_equal(n, GQL_DEFAULT_MAX_ERRORS + 1);
	assert_non_null(strstr(out, "Too many validation errors, error limit "
	                       "reached. Validation aborted. @"));
	free(q);
}

static void test_validate_many_identical_fields_bounded(void **state)
{
	/* 20000 `name` fields: 2e8 pairs naively; bounded by the budget */
	char *q = repeat("{ dog { ", "name ", 20000, "} }");
	clock_t t0 = clock();
	unsigned n;

	validate_text(q, &no_limits, &n);
	assert_int_equal(n, 0);
	assert_true(seconds(t0) < 5.0);
	free(q);
	/* conflicting copies: every pair is an error, as in graphql-js, so
	 * the error cap stops it */
	q = repeat("{ dog { ", "name: nickname name ", 10000, "} }");
	t0 = clock();
	validate_text(q, &no_limits, &n);
	assert_int_equal(n, GQL_DEFAULT_MAX_ERRORS + 1);
	assert_true(seconds(t0) < 5.0);
	free(q);
	/* distinct subtrees are not merged: the budget stops the rule */
	q = repeat("{ dog { ", "owner { name } owner { iq } ", 5000, "} }");
	t0 = clock();
	assert_non_null(strstr(validate_text(q, &no_limits, &n), "Too many fields "
	                       "to compare for conflicts"));
	assert_true(seconds(t0) < 5.0);
	free(q);
}

static void test_validate_many_aliases_bounded(void **state)
{
	char *q = malloc(400000), *p = q;
	clock_t t0 = clock();
	unsigned n;
	const char *out;

	p += sprintf(p, "{ ");
	for (int i = 0; i < 10000; i++)
		p += sprintf(p, "a%d: dog { name } ", i);
	sprintf(p, "}");
	out = validate_text(q, NULL, &n);
	assert_int_equal(n, 2);
	assert_string_equal(out, "Operation uses too many aliases: 10000 exceeds "
	                    "max_aliases 30. @1:1\n"
	                    "Operation is too complex: complexity 20000 exceeds "
	                    "max_complexity 5000. @1:1");
	assert_true(seconds(t0) < 5.0);
	free(q);
}

static void test_validate_fragment_fanout_is_memoised(void **state)
{
	/* F0 spreads F1 twice, F1 spreads F2 twice...: 2^40 leaves expanded */
	char *q = malloc(8192), *p = q;
	clock_t t0 = clock();
	unsigned n;
	const char *out;

	p += sprintf(p, "{ dog { ...F0 } }\n");
	for (int i = 0; i < 40; i++)
		p += sprintf(p, "fragment F%d on Dog { ...F%d owner { pets { ... on Dog { ...F%d } } } }\n",
		             i, i + 1, i + 1);
	sprintf(p, "fragment F40 on Dog { name }\n");
	out = validate_text(q, NULL, &n);
	assert_true(seconds(t0) < 5.0);
	assert_non_null(strstr(out, "Operation is too deep"));
	assert_non_null(strstr(out, "Operation is too complex: complexity "
	                       "18446744073709551615 exceeds"));
	free(q);
}

static void test_validate_fragment_cycles_terminate(void **state)
{
	char *q = malloc(1 << 20), *p = q;
	clock_t t0 = clock();
	unsigned n;

	/* every fragment spreads every other one */
	p += sprintf(p, "{ dog { ...F0 } }\n");
	for (int i = 0; i < 60; i++) {
		p += sprintf(p, "fragment F%d on Dog { name ", i);
		for (int k = 0; k < 60; k++)
			p += sprintf(p, "...F%d ", k);
		p += sprintf(p, "}\n");
	}
	validate_text(q, NULL, &n);
	assert_true(n > 0);
	assert_true(seconds(t0) < 5.0);
	free(q);
}

static void test_validate_long_fragment_chain_is_cut(void **state)
{
	char *q = malloc(1 << 20), *p = q;
	clock_t t0 = clock();
	unsigned n;
	const char *out;

	p += sprintf(p, "{ dog { ...F0 } }\n");
	for (int i = 0; i < 3000; i++)
		p += sprintf(p, "fragment F%d on Dog { ...F%d name }\n", i, i + 1);
	sprintf(p, "fragment F3000 on Dog { name: nickname }\n");
	out = validate_text(q, &no_limits, &n);
	assert_true(seconds(t0) < 5.0);
	assert_non_null(strstr(out, "Fragment spreads are nested more than 100 deep"));
	free(q);
}

static void test_validate_deep_nesting(void **state)
{
	struct gql_vlimits lim = { .max_complexity = GQL_VLIMIT_NONE };
	char q[4096], *p = q;
	unsigned n;
	const char *out;

	/* 16 fields deep, with inline fragments (which do not count) between */
	p += sprintf(p, "{ dog ");
	for (int i = 0; i < 7; i++)
		p += sprintf(p, "{ owner { pets { ... on Dog ");
	p += sprintf(p, "{ owner { name } }");
	for (int i = 0; i < 7; i++)
		p += sprintf(p, " } } }");
	sprintf(p, " }");
	out = validate_text(q, &lim, &n);
	assert_string_equal(out, "Operation is too deep: depth 17 exceeds "
	                    "max_depth 15. @1:213");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_accepts_valid_documents),
		cmocka_unit_test(test_validate_executable_definitions),
		cmocka_unit_test(test_validate_visits_type_system_definitions),
		cmocka_unit_test(test_validate_operation_names_and_anonymous),
		cmocka_unit_test(test_validate_single_field_subscriptions),
		cmocka_unit_test(test_validate_known_type_names),
		cmocka_unit_test(test_validate_unreferenced_standard_scalar_is_unknown),
		cmocka_unit_test(test_validate_fragments_on_composite_types),
		cmocka_unit_test(test_validate_variables_are_input_types),
		cmocka_unit_test(test_validate_leaf_field_selections),
		cmocka_unit_test(test_validate_fields_on_correct_type),
		cmocka_unit_test(test_validate_fragment_names),
		cmocka_unit_test(test_validate_unused_fragments),
		cmocka_unit_test(test_validate_possible_fragment_spreads),
		cmocka_unit_test(test_validate_fragment_cycles),
		cmocka_unit_test(test_validate_variable_names_and_use),
		cmocka_unit_test(test_validate_variables_in_allowed_position),
		cmocka_unit_test(test_validate_directives),
		cmocka_unit_test(test_validate_arguments),
		cmocka_unit_test(test_validate_scalar_literals),
		cmocka_unit_test(test_validate_enum_literals),
		cmocka_unit_test(test_validate_lists_objects_and_null),
		cmocka_unit_test(test_validate_overlapping_fields),
		cmocka_unit_test(test_validate_limit_depth),
		cmocka_unit_test(test_validate_limit_aliases),
		cmocka_unit_test(test_validate_limit_complexity),
		cmocka_unit_test(test_validate_default_limits_allow_introspection_query),
		cmocka_unit_test(test_validate_introspection_switch),
		cmocka_unit_test(test_validate_rule_selection),
		cmocka_unit_test(test_validate_errors_are_capped),
		cmocka_unit_test(test_validate_many_identical_fields_bounded),
		cmocka_unit_test(test_validate_many_aliases_bounded),
		cmocka_unit_test(test_validate_fragment_fanout_is_memoised),
		cmocka_unit_test(test_validate_fragment_cycles_terminate),
		cmocka_unit_test(test_validate_long_fragment_chain_is_cut),
		cmocka_unit_test(test_validate_deep_nesting),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
