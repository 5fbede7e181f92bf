/*
 * parser_sdl.c - the type system half of the GraphQL parser (see parser.c
 * for the machinery, values, types and executable definitions): schema,
 * scalar, object, interface, union, enum and input object definitions and
 * their extensions, directive definitions; and gqlr_parse_definition, which
 * tells a definition by its keyword and rejects a kind gql_accept excludes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "parser.h"
#include "parser_priv.h"

/* ---- type system definitions ---- */

static struct gql_value *parse_description(struct parser *p)
{
	if (gqlr_peek(p, GQL_TOK_STRING) || gqlr_peek(p, GQL_TOK_BLOCK_STRING))
		return gqlr_parse_string_literal(p);
	return NULL;
}

static struct gql_root_operation *parse_root_operation(struct parser *p)
{
	struct gql_root_operation *r = NEW(p, struct gql_root_operation);

	r->line = p->tok.line;
	r->column = p->tok.column;
	r->operation = gqlr_parse_operation_type(p);
	gqlr_expect(p, GQL_TOK_COLON);
	r->type = gqlr_parse_named_type(p);
	return r;
}

/* { RootOperationTypeDefinition+ }, optional in an extension. */
static void parse_root_operations(struct parser *p, bool required,
                                  struct gql_definition *d)
{
	size_t m = p->n_stk;

	if (required)
		gqlr_expect(p, GQL_TOK_BRACE_L);
	else if (!gqlr_optional(p, GQL_TOK_BRACE_L))
		return;
	do
		gqlr_push(p, parse_root_operation(p));
	while (!gqlr_optional(p, GQL_TOK_BRACE_R));
	COLLECT(p, m, d->root_ops, d->n_root_ops);
}

static struct gql_input_value_definition *parse_input_value_definition(
	struct parser *p)
{
	struct gql_input_value_definition *iv =
		NEW(p, struct gql_input_value_definition);

	iv->line = p->tok.line;
	iv->column = p->tok.column;
	iv->description = parse_description(p);
	iv->name = gqlr_parse_name(p);
	gqlr_expect(p, GQL_TOK_COLON);
	iv->type = gqlr_parse_type(p);
	if (gqlr_optional(p, GQL_TOK_EQUALS))
		iv->default_value = gqlr_parse_value(p, true);
	gqlr_parse_directives(p, true, &iv->directives, &iv->n_directives);
	return iv;
}

/* OPEN InputValueDefinition+ CLOSE, or nothing when OPEN is absent. */
static void parse_input_values(struct parser *p, enum gql_tok open,
                               enum gql_tok close,
                               struct gql_input_value_definition ***out,
                               unsigned *n)
{
	size_t m = p->n_stk;

	if (gqlr_optional(p, open)) {
		do
			gqlr_push(p, parse_input_value_definition(p));
		while (!gqlr_optional(p, close));
	}
	COLLECT(p, m, *out, *n);
}

static struct gql_field_definition *parse_field_definition(struct parser *p)
{
	struct gql_field_definition *f = NEW(p, struct gql_field_definition);

	f->line = p->tok.line;
	f->column = p->tok.column;
	f->description = parse_description(p);
	f->name = gqlr_parse_name(p);
	parse_input_values(p, GQL_TOK_PAREN_L, GQL_TOK_PAREN_R, &f->args,
	                   &f->n_args);
	gqlr_expect(p, GQL_TOK_COLON);
	f->type = gqlr_parse_type(p);
	gqlr_parse_directives(p, true, &f->directives, &f->n_directives);
	return f;
}

/* implements &? A & B ... */
static void parse_implements(struct parser *p, struct gql_definition *d)
{
	size_t m = p->n_stk;

	if (gqlr_optional_keyword(p, "implements")) {
		gqlr_optional(p, GQL_TOK_AMP);
		do
			gqlr_push(p, gqlr_parse_named_type(p));
		while (gqlr_optional(p, GQL_TOK_AMP));
	}
	COLLECT(p, m, d->interfaces, d->n_interfaces);
}

static void parse_fields(struct parser *p, struct gql_definition *d)
{
	size_t m = p->n_stk;

	if (gqlr_optional(p, GQL_TOK_BRACE_L)) {
		do
			gqlr_push(p, parse_field_definition(p));
		while (!gqlr_optional(p, GQL_TOK_BRACE_R));
	}
	COLLECT(p, m, d->fields, d->n_fields);
}

/* = |? A | B ... */
static void parse_union_members(struct parser *p, struct gql_definition *d)
{
	size_t m = p->n_stk;

	if (gqlr_optional(p, GQL_TOK_EQUALS)) {
		gqlr_optional(p, GQL_TOK_PIPE);
		do
			gqlr_push(p, gqlr_parse_named_type(p));
		while (gqlr_optional(p, GQL_TOK_PIPE));
	}
	COLLECT(p, m, d->types, d->n_types);
}

static struct gql_enum_value_definition *parse_enum_value(struct parser *p)
{
	struct gql_enum_value_definition *ev =
		NEW(p, struct gql_enum_value_definition);
	const struct gql_token *t;

	ev->line = p->tok.line;
	ev->column = p->tok.column;
	ev->description = parse_description(p);
	t = &p->tok;
	/* graphql-js checks the token's value whatever its kind; so do we */
	if (t->value && ((t->value_len == 4 && !memcmp(t->value, "true", 4)) ||
	                 (t->value_len == 5 && !memcmp(t->value, "false", 5)) ||
	                 (t->value_len == 4 && !memcmp(t->value, "null", 4)))) {
		char d[160];

		gqlr_fail_at(p, t->line, t->column, "%s is reserved and "
		             "cannot be used for an enum value.",
		             gqlr_describe(t, d));
	}
	ev->name = gqlr_parse_name(p);
	gqlr_parse_directives(p, true, &ev->directives, &ev->n_directives);
	return ev;
}

static void parse_enum_values(struct parser *p, struct gql_definition *d)
{
	size_t m = p->n_stk;

	if (gqlr_optional(p, GQL_TOK_BRACE_L)) {
		do
			gqlr_push(p, parse_enum_value(p));
		while (!gqlr_optional(p, GQL_TOK_BRACE_R));
	}
	COLLECT(p, m, d->values, d->n_values);
}

static const char *const directive_locations[] = {
	"QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION",
	"FRAGMENT_SPREAD", "INLINE_FRAGMENT", "VARIABLE_DEFINITION", "SCHEMA",
	"SCALAR", "OBJECT", "FIELD_DEFINITION", "ARGUMENT_DEFINITION",
	"INTERFACE", "UNION", "ENUM", "ENUM_VALUE", "INPUT_OBJECT",
	"INPUT_FIELD_DEFINITION",
};

static struct gql_name *parse_directive_location(struct parser *p)
{
	struct gql_token start = p->tok;
	struct gql_name *n = NEW(p, struct gql_name);

	*n = gqlr_parse_name(p);
	for (size_t i = 0; i < sizeof(directive_locations) /
	                       sizeof(directive_locations[0]); i++)
		if (strcmp(n->value, directive_locations[i]) == 0)
			return n;
	gqlr_unexpected(p, &start);
}

static struct gql_definition *parse_directive_definition(struct parser *p)
{
	struct gql_definition *d = gqlr_new_def(p, GQL_DEF_DIRECTIVE);
	size_t m;

	d->description = parse_description(p);
	gqlr_expect_keyword(p, "directive");
	gqlr_expect(p, GQL_TOK_AT);
	d->name = gqlr_parse_name(p);
	parse_input_values(p, GQL_TOK_PAREN_L, GQL_TOK_PAREN_R, &d->args,
	                   &d->n_args);
	d->repeatable = gqlr_optional_keyword(p, "repeatable");
	gqlr_expect_keyword(p, "on");
	m = p->n_stk;
	gqlr_optional(p, GQL_TOK_PIPE);
	do
		gqlr_push(p, parse_directive_location(p));
	while (gqlr_optional(p, GQL_TOK_PIPE));
	COLLECT(p, m, d->locations, d->n_locations);
	return d;
}

/*
 * A type definition or, with EXTEND, an extension; KEYWORD has been
 * identified by the caller. Mirrors graphql-js's parse*TypeDefinition and
 * parse*TypeExtension, which differ only in the leading `extend`, the
 * description, and that an extension must add something.
 */
static struct gql_definition *parse_type_definition(struct parser *p,
                                                    enum gql_def_kind kind,
                                                    const char *keyword,
                                                    bool extend)
{
	struct gql_definition *d = gqlr_new_def(p, kind);
	bool empty;

	d->extension = extend;
	if (extend)
		gqlr_expect_keyword(p, "extend");
	else
		d->description = parse_description(p);
	gqlr_expect_keyword(p, keyword);
	if (kind != GQL_DEF_SCHEMA)
		d->name = gqlr_parse_name(p);
	if (kind == GQL_DEF_OBJECT || kind == GQL_DEF_INTERFACE)
		parse_implements(p, d);
	gqlr_parse_directives(p, true, &d->directives, &d->n_directives);
	switch (kind) {
	case GQL_DEF_SCHEMA:
		parse_root_operations(p, !extend, d);
		break;
	case GQL_DEF_OBJECT:
	case GQL_DEF_INTERFACE:
		parse_fields(p, d);
		break;
	case GQL_DEF_UNION:
		parse_union_members(p, d);
		break;
	case GQL_DEF_ENUM:
		parse_enum_values(p, d);
		break;
	case GQL_DEF_INPUT_OBJECT:
		parse_input_values(p, GQL_TOK_BRACE_L, GQL_TOK_BRACE_R,
		                   &d->input_fields, &d->n_input_fields);
		break;
	default:
		break;
	}
	empty = !d->n_directives && !d->n_root_ops && !d->n_interfaces &&
	        !d->n_fields && !d->n_types && !d->n_values &&
	        !d->n_input_fields;
	if (extend && empty)
		gqlr_unexpected(p, &p->tok);
	return d;
}

static const struct {
	const char *keyword;
	enum gql_def_kind kind;
} type_keywords[] = {
	{ "schema", GQL_DEF_SCHEMA },
	{ "scalar", GQL_DEF_SCALAR },
	{ "type", GQL_DEF_OBJECT },
	{ "interface", GQL_DEF_INTERFACE },
	{ "union", GQL_DEF_UNION },
	{ "enum", GQL_DEF_ENUM },
	{ "input", GQL_DEF_INPUT_OBJECT },
};

static int type_keyword(const struct gql_token *t)
{
	for (size_t i = 0; i < sizeof(type_keywords) / sizeof(type_keywords[0]);
	     i++)
		if (gqlr_is_keyword(t, type_keywords[i].keyword))
			return (int)i;
	return -1;
}

/* Reject a definition the caller's gql_accept excludes, at token T. */
static void check_accept(struct parser *p, const struct gql_token *t,
                         bool type_system)
{
	char d[160];

	if (type_system && p->accept == GQL_ACCEPT_EXECUTABLE)
		gqlr_fail_at(p, t->line, t->column, "Unexpected %s: type "
		             "system definitions are not allowed in an "
		             "executable document.", gqlr_describe(t, d));
	if (!type_system && p->accept == GQL_ACCEPT_TYPE_SYSTEM)
		gqlr_fail_at(p, t->line, t->column, "Unexpected %s: "
		             "operations and fragments are not allowed in a "
		             "type system document.", gqlr_describe(t, d));
}

struct gql_definition *gqlr_parse_definition(struct parser *p)
{
	bool has_description;
	struct gql_token kw;
	int i;

	if (gqlr_peek(p, GQL_TOK_BRACE_L)) {
		check_accept(p, &p->tok, false);
		return gqlr_parse_operation(p);
	}
	has_description = gqlr_peek(p, GQL_TOK_STRING) ||
	                  gqlr_peek(p, GQL_TOK_BLOCK_STRING);
	kw = has_description ? *gqlr_lookahead(p) : p->tok;
	if (kw.kind == GQL_TOK_NAME) {
		if ((i = type_keyword(&kw)) >= 0) {
			check_accept(p, &kw, true);
			return parse_type_definition(p, type_keywords[i].kind,
			                             type_keywords[i].keyword,
			                             false);
		}
		if (gqlr_is_keyword(&kw, "directive")) {
			check_accept(p, &kw, true);
			return parse_directive_definition(p);
		}
		if (has_description)
			gqlr_fail_at(p, p->tok.line, p->tok.column,
			             "Unexpected description, descriptions are "
			             "supported only on type definitions.");
		if (gqlr_is_keyword(&kw, "query") ||
		    gqlr_is_keyword(&kw, "mutation") ||
		    gqlr_is_keyword(&kw, "subscription")) {
			check_accept(p, &kw, false);
			return gqlr_parse_operation(p);
		}
		if (gqlr_is_keyword(&kw, "fragment")) {
			check_accept(p, &kw, false);
			return gqlr_parse_fragment_definition(p);
		}
		if (gqlr_is_keyword(&kw, "extend")) {
			const struct gql_token *next;

			check_accept(p, &kw, true);
			next = gqlr_lookahead(p);
			if ((i = type_keyword(next)) >= 0)
				return parse_type_definition(
					p, type_keywords[i].kind,
					type_keywords[i].keyword, true);
			gqlr_unexpected(p, next);
		}
	}
	gqlr_unexpected(p, &kw);
}
