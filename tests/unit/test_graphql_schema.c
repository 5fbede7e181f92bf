/*
 * The GraphQL schema builder (plugins/graphql/schema.c).
 *
 * Error messages are graphql-js 16.8's (validateSchema and the SDL rules);
 * positions are ours: one per error, usually the name or reference the
 * message is about, prefixed by the file name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "printer.h"
#include "schema.h"

/* ---- helpers ---- */

static struct gql_schema *build2(const char *a, const char *b)
{
	const char *src[2] = { a, b };
	const char *names[2] = { "a.graphql", "b.graphql" };
	struct gql_schema_error errs[8];
	unsigned n = 0;
	struct gql_schema *s = gql_schema_build(src, names, b ? 2 : 1, errs, 8, &n);

	if (!s)
		fail_msg("schema rejected (%u errors), first: %s", n,
		         n ? errs[0].text : "?");
	assert_int_equal(n, 0);
	return s;
}

static struct gql_schema *build(const char *sdl)
{
	return build2(sdl, NULL);
}

/* Building SDL fails and the first error is EXPECTED. */
static void expect_error(const char *sdl, const char *expected)
{
	const char *src[1] = { sdl };
	const char *names[1] = { "s.graphql" };
	struct gql_schema_error errs[16];
	unsigned n = 0;
	struct gql_schema *s = gql_schema_build(src, names, 1, errs, 16, &n);

	if (s) {
		gql_schema_free(s);
		fail_msg("built, expected \"%s\"", expected);
	}
	assert_true(n > 0);
	for (unsigned i = 0; i < n; i++)
		if (strcmp(errs[i].text, expected) == 0)
			return;
	for (unsigned i = 0; i < n; i++)
		print_message("got: %s\n", errs[i].text);
	fail_msg("missing \"%s\"", expected);
}

static const char *tref(const struct gql_tref *t)
{
	static char buf[128];

	gql_tref_print(t, buf, sizeof(buf));
	return buf;
}

static const struct gql_field *field(const struct gql_schema *s,
                                     const char *type, const char *name)
{
	const struct gql_stype *t = gql_schema_type(s, type);

	assert_non_null(t);
	return gql_type_field(t, name);
}

/* ---- a rich schema ---- */

static const char rich_a[] =
	"\"\"\"The root\"\"\"\n"
	"schema { query: Root mutation: Mut }\n"
	"type Root {\n"
	"  node(id: ID!): Node\n"
	"  search(term: String, first: Int = 10): [SearchResult!]!\n"
	"  old: String @deprecated\n"
	"  older(arg: Int @deprecated(reason: \"use other\")): String @deprecated(reason: \"gone\")\n"
	"  color: Color\n"
	"  when: DateTime\n"
	"}\n"
	"type Mut { add(input: AddInput!): User }\n"
	"\"Something with an id\"\n"
	"interface Node { id: ID! }\n"
	"interface Named implements Node { id: ID! name(upper: Boolean): String }\n"
	"type User implements Node & Named {\n"
	"  id: ID!\n"
	"  name(upper: Boolean, lang: String = \"en\"): String!\n"
	"  friends: [User!]\n"
	"}\n"
	"union SearchResult = User | Photo\n"
	"enum Color { RED \"the green\" GREEN BLUE @deprecated(reason: \"too blue\") }\n"
	"input AddInput { name: String! tags: [String!] = [] nested: AddInput }\n"
	"scalar DateTime @specifiedBy(url: \"https://tools.ietf.org/html/rfc3339\")\n";

static const char rich_b[] =
	"type Photo implements Node { id: ID! }\n"
	"extend type Photo implements Named { name(upper: Boolean): String width: Int }\n"
	"extend union SearchResult = Place\n"
	"type Place { id: ID }\n"
	"extend enum Color { BLACK }\n"
	"extend input AddInput { age: Int }\n"
	"extend type Root { extra: Int }\n"
	"directive @auth(role: String! = \"user\") repeatable on FIELD_DEFINITION | OBJECT\n"
	"extend type User @auth @auth(role: \"admin\")\n";

static void test_schema_rich_types_and_roots(void **state)
{
	struct gql_schema *s = build2(rich_a, rich_b);
	const struct gql_stype *root = gql_schema_type(s, "Root");

	assert_ptr_equal(s->query, root);
	assert_ptr_equal(s->mutation, gql_schema_type(s, "Mut"));
	assert_null(s->subscription);
	assert_string_equal(s->description, "The root");
	assert_int_equal(root->kind, GQL_OBJECT);
	/* extension fields are appended */
	assert_int_equal(root->n_fields, 7);
	assert_string_equal(root->fields[6].name, "extra");
	assert_int_equal(root->fields[6].index, 6);
	assert_string_equal(tref(field(s, "Root", "search")->type),
	                    "[SearchResult!]!");
	assert_string_equal(field(s, "Root", "search")->args[1].default_value->str,
	                    "10");
	assert_null(gql_type_field(root, "nope"));
	assert_ptr_equal(gql_tref_named(field(s, "Root", "node")->type),
	                 gql_schema_type(s, "Node"));
	/* types are interned */
	assert_ptr_equal(gql_tref_named(field(s, "User", "friends")->type),
	                 gql_schema_type(s, "User"));
	for (unsigned i = 0; i < s->n_types; i++)
		assert_int_equal(s->types[i]->index, i);
	assert_true(s->types[0]->builtin);
	assert_false(root->builtin);
	gql_schema_free(s);
}

static void test_schema_rich_abstract_types(void **state)
{
	struct gql_schema *s = build2(rich_a, rich_b);
	const struct gql_stype *node = gql_schema_type(s, "Node");
	const struct gql_stype *named = gql_schema_type(s, "Named");
	const struct gql_stype *user = gql_schema_type(s, "User");
	const struct gql_stype *photo = gql_schema_type(s, "Photo");
	const struct gql_stype *sr = gql_schema_type(s, "SearchResult");

	assert_string_equal(node->description, "Something with an id");
	/* an interface implementing an interface is not a possible type */
	assert_int_equal(node->n_possible, 2);
	assert_ptr_equal(node->possible[0], user);
	assert_ptr_equal(node->possible[1], photo);
	assert_int_equal(named->n_interfaces, 1);
	assert_int_equal(named->n_possible, 2);
	assert_int_equal(photo->n_interfaces, 2);
	assert_ptr_equal(photo->interfaces[1], named);
	assert_int_equal(photo->n_fields, 3);
	assert_int_equal(sr->n_possible, 3);
	assert_ptr_equal(sr->possible[2], gql_schema_type(s, "Place"));
	assert_true(gql_is_possible(sr, photo));
	assert_true(gql_is_possible(node, user));
	assert_true(gql_is_possible(user, user));
	assert_false(gql_is_possible(sr, gql_schema_type(s, "Root")));
	assert_false(gql_is_possible(node, gql_schema_type(s, "Place")));
	gql_schema_free(s);
}

static void test_schema_rich_enums_inputs_scalars(void **state)
{
	struct gql_schema *s = build2(rich_a, rich_b);
	const struct gql_stype *color = gql_schema_type(s, "Color");
	const struct gql_stype *in = gql_schema_type(s, "AddInput");
	const struct gql_stype *dt = gql_schema_type(s, "DateTime");

	assert_int_equal(color->n_values, 4);
	assert_string_equal(color->values[1].description, "the green");
	assert_true(color->values[2].deprecated);
	assert_string_equal(color->values[2].deprecation_reason, "too blue");
	assert_false(color->values[0].deprecated);
	assert_string_equal(color->values[3].name, "BLACK");
	assert_int_equal(in->kind, GQL_INPUT_OBJECT);
	assert_int_equal(in->n_input_fields, 4);
	assert_string_equal(tref(in->input_fields[1].type), "[String!]");
	assert_int_equal(in->input_fields[1].default_value->kind, GQL_VALUE_LIST);
	assert_true(gql_is_input_type(in->input_fields[2].type));
	assert_false(gql_is_output_type(in->input_fields[2].type));
	assert_int_equal(dt->kind, GQL_SCALAR);
	assert_string_equal(dt->specified_by, "https://tools.ietf.org/html/rfc3339");
	assert_null(gql_schema_type(s, "String")->specified_by);
	gql_schema_free(s);
}

static void test_schema_deprecation(void **state)
{
	struct gql_schema *s = build2(rich_a, rich_b);
	const struct gql_field *old = field(s, "Root", "old");
	const struct gql_field *older = field(s, "Root", "older");

	assert_true(old->deprecated);
	assert_string_equal(old->deprecation_reason, "No longer supported");
	assert_true(older->deprecated);
	assert_string_equal(older->deprecation_reason, "gone");
	assert_true(older->args[0].deprecated);
	assert_string_equal(older->args[0].deprecation_reason, "use other");
	assert_false(field(s, "Root", "color")->deprecated);
	assert_null(field(s, "Root", "color")->deprecation_reason);
	gql_schema_free(s);
}

static void test_schema_directives(void **state)
{
	struct gql_schema *s = build2(rich_a, rich_b);
	const struct gql_directive_def *d;

	d = gql_schema_directive(s, "include");
	assert_non_null(d);
	assert_true(d->builtin);
	assert_int_equal(d->locations, GQL_LOC_FIELD | GQL_LOC_FRAGMENT_SPREAD |
	                 GQL_LOC_INLINE_FRAGMENT);
	assert_string_equal(tref(d->args[0].type), "Boolean!");
	assert_non_null(gql_schema_directive(s, "skip"));
	d = gql_schema_directive(s, "deprecated");
	assert_int_equal(d->locations, GQL_LOC_FIELD_DEFINITION |
	                 GQL_LOC_ARGUMENT_DEFINITION |
	                 GQL_LOC_INPUT_FIELD_DEFINITION | GQL_LOC_ENUM_VALUE);
	assert_string_equal(d->args[0].default_value->str, "No longer supported");
	assert_int_equal(gql_schema_directive(s, "specifiedBy")->locations,
	                 GQL_LOC_SCALAR);
	d = gql_schema_directive(s, "auth");
	assert_true(d->repeatable);
	assert_false(d->builtin);
	assert_int_equal(d->locations, GQL_LOC_FIELD_DEFINITION | GQL_LOC_OBJECT);
	assert_null(gql_schema_directive(s, "nope"));
	assert_string_equal(gql_dloc_name(GQL_LOC_INPUT_FIELD_DEFINITION),
	                    "INPUT_FIELD_DEFINITION");
	assert_string_equal(gql_dloc_name(GQL_LOC_QUERY), "QUERY");
	assert_null(gql_dloc_name(3));
	gql_schema_free(s);
}

static void test_schema_introspection_types(void **state)
{
	struct gql_schema *s = build("type Query { a: Int }");
	const struct gql_stype *t = gql_schema_type(s, "__Type");
	const struct gql_stype *k = gql_schema_type(s, "__TypeKind");
	const char *scalars[] = { "Int", "Float", "String", "Boolean", "ID" };
	const char *intro[] = { "__Schema", "__Type", "__Field", "__InputValue",
	                        "__EnumValue", "__Directive", "__TypeKind",
	                        "__DirectiveLocation" };
	const char *tfields[] = { "kind", "name", "description", "specifiedByURL",
	                          "fields", "interfaces", "possibleTypes",
	                          "enumValues", "inputFields", "ofType" };

	for (unsigned i = 0; i < 5; i++) {
		assert_non_null(gql_schema_type(s, scalars[i]));
		assert_true(gql_schema_type(s, scalars[i])->builtin);
		assert_int_equal(gql_schema_type(s, scalars[i])->kind, GQL_SCALAR);
	}
	for (unsigned i = 0; i < 8; i++)
		assert_true(gql_schema_type(s, intro[i])->builtin);
	assert_int_equal(t->n_fields, 10);
	for (unsigned i = 0; i < 10; i++)
		assert_string_equal(t->fields[i].name, tfields[i]);
	assert_string_equal(tref(field(s, "__Type", "fields")->args[0].type), "Boolean");
	assert_int_equal(field(s, "__Type", "fields")->args[0].default_value->kind,
	                 GQL_VALUE_BOOLEAN);
	assert_false(field(s, "__Type", "fields")->args[0].default_value->boolean);
	assert_string_equal(tref(field(s, "__Schema", "types")->type), "[__Type!]!");
	assert_non_null(field(s, "__Schema", "description"));
	assert_non_null(field(s, "__InputValue", "isDeprecated"));
	assert_non_null(field(s, "__InputValue", "deprecationReason"));
	assert_non_null(field(s, "__Directive", "isRepeatable"));
	assert_non_null(field(s, "__Field", "args")->args);
	assert_int_equal(k->n_values, 8);
	assert_string_equal(k->values[7].name, "NON_NULL");
	assert_int_equal(gql_schema_type(s, "__DirectiveLocation")->n_values, 19);
	assert_string_equal(gql_schema_type(s, "__DirectiveLocation")->values[18].name,
	                    "INPUT_FIELD_DEFINITION");
	/* user types come after the built-ins */
	assert_false(s->types[s->n_types - 1]->builtin);
	assert_ptr_equal(s->query, gql_schema_type(s, "Query"));
	gql_schema_free(s);
}

static void test_schema_meta_fields(void **state)
{
	struct gql_schema *s = build("type Query { a: A } type A { b: Int } union U = A");
	const struct gql_stype *a = gql_schema_type(s, "A");
	const struct gql_field *f;

	f = gql_meta_field(s, a, "__typename");
	assert_non_null(f);
	assert_string_equal(tref(f->type), "String!");
	assert_non_null(gql_meta_field(s, gql_schema_type(s, "U"), "__typename"));
	assert_null(gql_meta_field(s, gql_schema_type(s, "Int"), "__typename"));
	assert_null(gql_meta_field(s, a, "__schema"));
	assert_null(gql_meta_field(s, a, "__type"));
	f = gql_meta_field(s, s->query, "__schema");
	assert_string_equal(tref(f->type), "__Schema!");
	f = gql_meta_field(s, s->query, "__type");
	assert_string_equal(tref(f->type), "__Type");
	assert_int_equal(f->n_args, 1);
	assert_string_equal(f->args[0].name, "name");
	assert_string_equal(tref(f->args[0].type), "String!");
	assert_null(gql_meta_field(s, s->query, "__other"));
	assert_null(gql_type_field(s->query, "__typename"));
	gql_schema_free(s);
}

static void test_schema_many_fields_use_hash(void **state)
{
	char sdl[8192];
	size_t n = 0;
	struct gql_schema *s;
	const struct gql_stype *q;

	n += (size_t)snprintf(sdl + n, sizeof(sdl) - n, "type Query {");
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(sdl + n, sizeof(sdl) - n, " f%d: Int", i);
	snprintf(sdl + n, sizeof(sdl) - n, " }");
	s = build(sdl);
	q = s->query;
	assert_int_equal(q->n_fields, 300);
	for (int i = 0; i < 300; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		assert_ptr_equal(gql_type_field(q, name), &q->fields[i]);
	}
	assert_null(gql_type_field(q, "f300"));
	gql_schema_free(s);
}

static void test_schema_default_roots_and_standard_scalar_copy(void **state)
{
	/* a copy of a standard scalar is accepted and ignored, as graphql-js */
	struct gql_schema *s = build("scalar String\n"
	                             "type Query { a: String }\n"
	                             "type Mutation { b: Int }\n"
	                             "type Subscription { c: Int }\n");

	assert_ptr_equal(s->query, gql_schema_type(s, "Query"));
	assert_ptr_equal(s->mutation, gql_schema_type(s, "Mutation"));
	assert_ptr_equal(s->subscription, gql_schema_type(s, "Subscription"));
	assert_true(gql_schema_type(s, "String")->builtin);
	gql_schema_free(s);
}

static void test_schema_unreferenced_standard_scalars_hidden(void **state)
{
	struct gql_schema *s = build("type Query { a(x: Int): String }");

	assert_true(gql_schema_type_visible(s, gql_schema_type(s, "Int")));
	assert_true(gql_schema_type_visible(s, gql_schema_type(s, "String")));
	assert_true(gql_schema_type_visible(s, gql_schema_type(s, "Boolean")));
	assert_false(gql_schema_type_visible(s, gql_schema_type(s, "Float")));
	assert_false(gql_schema_type_visible(s, gql_schema_type(s, "ID")));
	assert_true(gql_schema_type_visible(s, gql_schema_type(s, "__Type")));
	assert_true(gql_schema_type_visible(s, s->query));
	gql_schema_free(s);
	/* an explicit copy in the SDL puts it in the type map */
	s = build("scalar ID type Query { a: String }");
	assert_true(gql_schema_type_visible(s, gql_schema_type(s, "ID")));
	assert_false(gql_schema_type_visible(s, gql_schema_type(s, "Int")));
	gql_schema_free(s);
}

static void test_schema_tref_print_truncates(void **state)
{
	struct gql_schema *s = build("type Query { a: [[Int!]]! }");
	char buf[5];

	assert_int_equal(gql_tref_print(field(s, "Query", "a")->type, buf,
	                                sizeof(buf)), 9);
	assert_string_equal(buf, "[[In");
	gql_schema_free(s);
}

static void test_schema_large_sdl_beyond_token_limit(void **state)
{
	size_t cap = 2u << 20, n = 0;
	char *sdl = malloc(cap);
	struct gql_schema *s;

	n += (size_t)snprintf(sdl + n, cap - n, "type Query { a: Int }\n");
	for (int i = 0; i < 30000; i++)
		n += (size_t)snprintf(sdl + n, cap - n, "type T%d { a: Int b: T%d }\n",
		                      i, i);
	s = build(sdl);
	assert_non_null(gql_schema_type(s, "T29999"));
	gql_schema_free(s);
	free(sdl);
}

/* ---- errors ---- */

static void test_schema_error_syntax(void **state)
{
	expect_error("type Query { a: }",
	             "s.graphql:1:17: Syntax Error: Expected Name, found \"}\".");
	expect_error("type Query { a: Int }\n{ a }",
	             "s.graphql:2:1: Syntax Error: Unexpected \"{\": operations and fragments "
	             "are not allowed in a type system document.");
}

static void test_schema_error_names(void **state)
{
	expect_error("type Query { a: Int }\ntype Query { b: Int }",
	             "s.graphql:2:6: There can be only one type named \"Query\".");
	expect_error("type Query { a: Int }\ntype __Foo { b: Int }",
	             "s.graphql:2:6: Name \"__Foo\" must not begin with \"__\", "
	             "which is reserved by GraphQL introspection.");
	expect_error("type Query { __a: Int }",
	             "s.graphql:1:14: Name \"__a\" must not begin with \"__\", "
	             "which is reserved by GraphQL introspection.");
	expect_error("type Query { a: Int }\ndirective @d on FIELD\ndirective @d on FIELD",
	             "s.graphql:3:12: There can be only one directive named \"@d\".");
	expect_error("type Query { a: Int\n a: String }",
	             "s.graphql:2:2: Field \"Query.a\" can only be defined once.");
	expect_error("type Query { a(x: Int, x: Int): Int }",
	             "s.graphql:1:24: Argument \"Query.a(x:)\" can only be defined once.");
	expect_error("type Query { a: E } enum E { A B A }",
	             "s.graphql:1:34: Enum value \"E.A\" can only be defined once.");
	expect_error("type Query { a(i: I): Int } input I { x: Int x: Int }",
	             "s.graphql:1:46: Field \"I.x\" can only be defined once.");
	expect_error("type Query { a: Int }\nschema { query: Query }\nschema { query: Query }",
	             "s.graphql:3:1: Must provide only one schema definition.");
	expect_error("type Query { a: Int }\nschema { query: Query query: Query }",
	             "s.graphql:2:23: There can be only one query type in schema.");
}

static void test_schema_error_unknown_types_and_extensions(void **state)
{
	expect_error("type Query { a: Foo }",
	             "s.graphql:1:17: Unknown type \"Foo\".");
	expect_error("type Query { a(x: [Bar!]): Int }",
	             "s.graphql:1:20: Unknown type \"Bar\".");
	expect_error("type Query { a: Int }\nextend type Nope { b: Int }",
	             "s.graphql:2:1: Cannot extend type \"Nope\" because it is "
	             "not defined.");
	expect_error("type Query { a: Int }\nextend input Query { b: Int }",
	             "s.graphql:2:1: Cannot extend non-input object type \"Query\".");
	expect_error("type Query { a: Int }\nextend scalar String @specifiedBy(url: \"x\")",
	             "s.graphql:2:1: Cannot extend type \"String\" because it is "
	             "not defined.");
}

static void test_schema_error_roots(void **state)
{
	expect_error("type Foo { a: Int }",
	             "s.graphql:1:1: Query root type must be provided.");
	expect_error("schema { query: I }\ninterface I { a: Int }",
	             "s.graphql:1:1: Query root type must be Object type, it "
	             "cannot be I.");
	expect_error("type Query { a: Int }\nschema { query: Query mutation: In }\ninput In { a: Int }",
	             "s.graphql:2:1: Mutation root type must be Object type if "
	             "provided, it cannot be In.");
	expect_error("schema { query: Nope }",
	             "s.graphql:1:17: Unknown type \"Nope\".");
}

static void test_schema_error_type_positions(void **state)
{
	expect_error("type Query { a: In }\ninput In { a: Int }",
	             "s.graphql:1:17: The type of Query.a must be Output Type but "
	             "got: In.");
	expect_error("type Query { a(x: [Query]): Int }",
	             "s.graphql:1:19: The type of Query.a(x:) must be Input Type "
	             "but got: [Query].");
	expect_error("type Query { a(i: In): Int }\ninput In { q: Query! }",
	             "s.graphql:2:15: The type of In.q must be Input Type but "
	             "got: Query!.");
	expect_error("type Query { a: Int }\ndirective @d(x: Query) on FIELD",
	             "s.graphql:2:17: The type of @d(x:) must be Input Type but "
	             "got: Query.");
}

static void test_schema_error_empty_types(void **state)
{
	expect_error("type Query { a: Int }\ntype Empty\n",
	             "s.graphql:2:1: Type Empty must define one or more fields.");
	expect_error("type Query { a: Int }\nunion U\n",
	             "s.graphql:2:1: Union type U must define one or more member types.");
	expect_error("type Query { a: Int }\nenum E\n",
	             "s.graphql:2:1: Enum type E must define one or more values.");
	expect_error("type Query { a: Int }\ninput I\n",
	             "s.graphql:2:1: Input Object type I must define one or more fields.");
}

static void test_schema_error_unions(void **state)
{
	expect_error("type Query { a: U }\nunion U = Query | I\ninterface I { a: Int }",
	             "s.graphql:2:19: Union type U can only include Object types, "
	             "it cannot include I.");
	expect_error("type Query { a: U }\nunion U = Query | Query",
	             "s.graphql:2:19: Union type U can only include type Query once.");
}

static void test_schema_error_interfaces(void **state)
{
	expect_error("type Query implements Int { a: Int }",
	             "s.graphql:1:23: Type Query must only implement Interface "
	             "types, it cannot implement Int.");
	expect_error("type Query { a: Int }\ninterface I implements I { a: Int }",
	             "s.graphql:2:24: Type I cannot implement itself because it "
	             "would create a circular reference.");
	expect_error("type Query implements I & I { a: Int }\ninterface I { a: Int }",
	             "s.graphql:1:27: Type Query can only implement I once.");
	expect_error("type Query implements J { a: Int }\n"
	             "interface I { a: Int }\ninterface J implements I { a: Int }",
	             "s.graphql:1:23: Type Query must implement I because it is "
	             "implemented by J.");
	expect_error("type Query { a: Int }\n"
	             "interface I implements J { a: Int }\ninterface J implements I { a: Int }",
	             "s.graphql:2:24: Type I cannot implement J because it would "
	             "create a circular reference.");
	expect_error("type Query implements I { b: Int }\ninterface I { a: Int }",
	             "s.graphql:1:6: Interface field I.a expected but Query does "
	             "not provide it.");
	expect_error("type Query implements I { a: String }\ninterface I { a: Int }",
	             "s.graphql:1:30: Interface field I.a expects type Int but "
	             "Query.a is type String.");
	expect_error("type Query implements I { a: Int }\ninterface I { a(x: Int): Int }",
	             "s.graphql:1:27: Interface field argument I.a(x:) expected "
	             "but Query.a does not provide it.");
	expect_error("type Query implements I { a(x: Int!): Int }\ninterface I { a(x: Int): Int }",
	             "s.graphql:1:32: Interface field argument I.a(x:) expects "
	             "type Int but Query.a(x:) is type Int!.");
	expect_error("type Query implements I { a(y: Int!): Int }\ninterface I { a: Int }",
	             "s.graphql:1:29: Object field Query.a includes required "
	             "argument y that is missing from the Interface field I.a.");
}

static void test_schema_covariant_field_types(void **state)
{
	/* non-null, list, interface and union subtypes all satisfy */
	struct gql_schema *s = build(
		"type Query implements I { a: Int! b: [Query!]! c: Query d: Query u: Query }\n"
		"interface I { a: Int b: [I] c: I d: I u: U }\n"
		"union U = Query\n");

	gql_schema_free(s);
	expect_error("type Query implements I { b: Query }\ninterface I { b: [I] }",
	             "s.graphql:1:30: Interface field I.b expects type [I] but "
	             "Query.b is type Query.");
}

static void test_schema_error_input_cycles_and_deprecation(void **state)
{
	expect_error("type Query { a(i: A): Int }\n"
	             "input A { b: B! }\ninput B { a: A! }",
	             "s.graphql:2:11: Cannot reference Input Object \"A\" within "
	             "itself through a series of non-null fields: \"b.a\".");
	/* a list or a nullable field breaks the cycle */
	gql_schema_free(build("type Query { a(i: A): Int }\n"
	                      "input A { b: [A!]! c: A }"));
	expect_error("type Query { a(i: In): Int }\ninput In { x: Int! @deprecated }",
	             "s.graphql:2:12: Required input field In.x cannot be deprecated.");
	expect_error("type Query { a(x: Int! @deprecated): Int }",
	             "s.graphql:1:16: Required argument Query.a(x:) cannot be "
	             "deprecated.");
	expect_error("type Query { a: Int }\ndirective @d(x: Int! @deprecated) on FIELD",
	             "s.graphql:2:14: Required argument @d(x:) cannot be deprecated.");
}

static void test_schema_error_directive_uses(void **state)
{
	expect_error("type Query { a: Int @nope }",
	             "s.graphql:1:21: Unknown directive \"@nope\".");
	expect_error("type Query @deprecated { a: Int }",
	             "s.graphql:1:12: Directive \"@deprecated\" may not be used on "
	             "OBJECT.");
	expect_error("type Query { a: Int @deprecated @deprecated }",
	             "s.graphql:1:33: The directive \"@deprecated\" can only be "
	             "used once at this location.");
	expect_error("type Query @d { a: Int }\nextend type Query @d\n"
	             "directive @d on OBJECT",
	             "s.graphql:2:19: The directive \"@d\" can only be used once "
	             "at this location.");
	expect_error("type Query { a: Int @deprecated(why: \"x\") }",
	             "s.graphql:1:33: Unknown argument \"why\" on directive "
	             "\"@deprecated\".");
	expect_error("scalar S @specifiedBy\ntype Query { a: S }",
	             "s.graphql:1:10: Directive \"@specifiedBy\" argument \"url\" "
	             "of type \"String!\" is required, but it was not provided.");
	expect_error("type Query { a: Int @deprecated(reason: \"a\", reason: \"b\") }",
	             "s.graphql:1:46: There can be only one argument named \"reason\".");
}

static void test_schema_errors_named_by_file_and_capped(void **state)
{
	const char *src[2] = { "type Query { a: Int }", "type T { a: X b: Y c: Z }" };
	const char *names[2] = { "one.graphql", "two.graphql" };
	struct gql_schema_error errs[2];
	unsigned n = 0;

	assert_null(gql_schema_build(src, names, 2, errs, 2, &n));
	assert_int_equal(n, 2);
	assert_string_equal(errs[0].text, "two.graphql:1:13: Unknown type \"X\".");
	assert_string_equal(errs[1].text, "two.graphql:1:18: Unknown type \"Y\".");
}

static void test_schema_replaces_builtin_directive(void **state)
{
	struct gql_schema *s = build("type Query { a: Int @deprecated(reason: \"r\") }\n"
	                             "directive @deprecated(reason: String) on "
	                             "FIELD_DEFINITION | ENUM_VALUE\n");
	const struct gql_directive_def *d = gql_schema_directive(s, "deprecated");

	assert_false(d->builtin);
	assert_int_equal(d->locations, GQL_LOC_FIELD_DEFINITION | GQL_LOC_ENUM_VALUE);
	assert_string_equal(field(s, "Query", "a")->deprecation_reason, "r");
	gql_schema_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_rich_types_and_roots),
		cmocka_unit_test(test_schema_rich_abstract_types),
		cmocka_unit_test(test_schema_rich_enums_inputs_scalars),
		cmocka_unit_test(test_schema_deprecation),
		cmocka_unit_test(test_schema_directives),
		cmocka_unit_test(test_schema_introspection_types),
		cmocka_unit_test(test_schema_meta_fields),
		cmocka_unit_test(test_schema_many_fields_use_hash),
		cmocka_unit_test(test_schema_default_roots_and_standard_scalar_copy),
		cmocka_unit_test(test_schema_unreferenced_standard_scalars_hidden),
		cmocka_unit_test(test_schema_tref_print_truncates),
		cmocka_unit_test(test_schema_large_sdl_beyond_token_limit),
		cmocka_unit_test(test_schema_error_syntax),
		cmocka_unit_test(test_schema_error_names),
		cmocka_unit_test(test_schema_error_unknown_types_and_extensions),
		cmocka_unit_test(test_schema_error_roots),
		cmocka_unit_test(test_schema_error_type_positions),
		cmocka_unit_test(test_schema_error_empty_types),
		cmocka_unit_test(test_schema_error_unions),
		cmocka_unit_test(test_schema_error_interfaces),
		cmocka_unit_test(test_schema_covariant_field_types),
		cmocka_unit_test(test_schema_error_input_cycles_and_deprecation),
		cmocka_unit_test(test_schema_error_directive_uses),
		cmocka_unit_test(test_schema_errors_named_by_file_and_capped),
		cmocka_unit_test(test_schema_replaces_builtin_directive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
