/*
 * parser.c - GraphQL recursive-descent parser; see parser.h.
 *
 * The structure mirrors graphql-js's parser.ts one function per production,
 * so the same input fails at the same token with the same message. Tokens
 * are read lazily, one ahead at most, which also gives the same order of
 * errors: a parse error at a token wins over a lexical error after it.
 *
 * Errors unwind with longjmp to the entry point, which owns nothing but the
 * scratch stack (freed there); everything else lives in the caller's arena.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"

struct parser {
	struct gql_lexer lx;
	struct gql_token tok;		/* current token */
	struct gql_token ahead;		/* the one after, if have_ahead */
	bool have_ahead;
	struct arena *a;
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

static _Noreturn void fail_at(struct parser *p, unsigned line, unsigned col,
                              const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static _Noreturn void fail_at(struct parser *p, unsigned line, unsigned col,
                              const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gql_error_format(p->err, line, col, "%s", msg);
	longjmp(p->fail, 1);
}

static _Noreturn void fail_oom(struct parser *p)
{
	p->err->line = p->tok.line;
	p->err->column = p->tok.column;
	snprintf(p->err->message, sizeof(p->err->message),
	         "Out of memory while parsing the document.");
	longjmp(p->fail, 1);
}

/* graphql-js's getTokenDesc: `Name "foo"`, `"{"`, `<EOF>`, `String "x"`. */
static const char *describe(const struct gql_token *t, char buf[160])
{
	const char *kind = gql_tok_describe(t->kind);
	size_t n = t->value_len;

	if (!t->value)
		return kind;
	if (n > 120) {	/* cut long values, not inside a UTF-8 sequence */
		n = 120;
		while (n > 0 && ((unsigned char)t->value[n] & 0xC0) == 0x80)
			n--;
	}
	/* %.*s stops at a NUL inside a string value; fine for a message */
	snprintf(buf, 160, "%s \"%.*s%s\"", kind, (int)n, t->value,
	         n < t->value_len ? "..." : "");
	return buf;
}

static _Noreturn void unexpected(struct parser *p, const struct gql_token *t)
{
	char d[160];

	fail_at(p, t->line, t->column, "Unexpected %s.", describe(t, d));
}

static void *alloc(struct parser *p, size_t size)
{
	void *m = arena_calloc(p->a, size);

	if (!m)
		fail_oom(p);
	return m;
}

#define NEW(p, type) ((type *)alloc((p), sizeof(type)))

static char *dup_text(struct parser *p, const char *s, size_t len)
{
	char *d = arena_strndup(p->a, s, len);

	if (!d)
		fail_oom(p);
	return d;
}

/* ---- tokens ---- */

static void lex(struct parser *p, struct gql_token *t)
{
	if (gql_lexer_next(&p->lx, t, p->err))
		longjmp(p->fail, 1);
}

static void advance(struct parser *p)
{
	if (p->have_ahead) {
		p->tok = p->ahead;
		p->have_ahead = false;
	} else {
		lex(p, &p->tok);
	}
	if (p->tok.kind != GQL_TOK_EOF && ++p->n_tokens > p->max_tokens)
		fail_at(p, p->tok.line, p->tok.column, "Document contains more "
		        "than %u tokens. Parsing aborted.", p->max_tokens);
}

static const struct gql_token *lookahead(struct parser *p)
{
	if (p->tok.kind == GQL_TOK_EOF)
		return &p->tok;
	if (!p->have_ahead) {
		lex(p, &p->ahead);
		p->have_ahead = true;
	}
	return &p->ahead;
}

static bool peek(const struct parser *p, enum gql_tok kind)
{
	return p->tok.kind == kind;
}

static struct gql_token expect(struct parser *p, enum gql_tok kind)
{
	struct gql_token t = p->tok;
	char d[160];

	if (t.kind != kind)
		fail_at(p, t.line, t.column, "Expected %s, found %s.",
		        gql_tok_describe(kind), describe(&t, d));
	advance(p);
	return t;
}

static bool optional(struct parser *p, enum gql_tok kind)
{
	if (p->tok.kind != kind)
		return false;
	advance(p);
	return true;
}

static bool is_keyword(const struct gql_token *t, const char *word)
{
	size_t n = strlen(word);

	return t->kind == GQL_TOK_NAME && t->value_len == n &&
	       memcmp(t->value, word, n) == 0;
}

static void expect_keyword(struct parser *p, const char *word)
{
	char d[160];

	if (!is_keyword(&p->tok, word))
		fail_at(p, p->tok.line, p->tok.column, "Expected \"%s\", found %s.",
		        word, describe(&p->tok, d));
	advance(p);
}

static bool optional_keyword(struct parser *p, const char *word)
{
	if (!is_keyword(&p->tok, word))
		return false;
	advance(p);
	return true;
}

/* ---- list building ---- */

static void push(struct parser *p, void *item)
{
	if (p->n_stk == p->cap_stk) {
		size_t cap = p->cap_stk ? p->cap_stk * 2 : 64;
		void **s = realloc(p->stk, cap * sizeof(*s));

		if (!s)
			fail_oom(p);
		p->stk = s;
		p->cap_stk = cap;
	}
	p->stk[p->n_stk++] = item;
}

/* Move the items pushed since MARK into an arena array OUT of N items. */
#define COLLECT(p, mark, out, n) do {					\
	size_t k_ = (p)->n_stk - (mark);				\
	(n) = (unsigned)k_;						\
	(out) = NULL;							\
	if (k_) {							\
		(out) = alloc((p), k_ * sizeof(*(out)));		\
		for (size_t i_ = 0; i_ < k_; i_++)			\
			(out)[i_] = (p)->stk[(mark) + i_];		\
	}								\
	(p)->n_stk = (mark);						\
} while (0)

/* ---- depth ---- */

static void enter(struct parser *p, unsigned *depth, const char *what)
{
	if (++*depth > p->max_depth)
		fail_at(p, p->tok.line, p->tok.column, "%s are nested more than "
		        "%u levels deep. Parsing aborted.", what, p->max_depth);
}

/* ---- names, values, types ---- */

static struct gql_name parse_name(struct parser *p)
{
	struct gql_token t = expect(p, GQL_TOK_NAME);
	struct gql_name n = { dup_text(p, t.value, t.value_len), t.line,
	                      t.column };

	return n;
}

static struct gql_value *parse_value(struct parser *p, bool is_const);

static struct gql_value *new_value(struct parser *p, enum gql_value_kind kind,
                                   const struct gql_token *t)
{
	struct gql_value *v = NEW(p, struct gql_value);

	v->kind = kind;
	v->line = t->line;
	v->column = t->column;
	return v;
}

static struct gql_value *parse_variable(struct parser *p)
{
	struct gql_value *v = new_value(p, GQL_VALUE_VARIABLE, &p->tok);
	struct gql_name n;

	expect(p, GQL_TOK_DOLLAR);
	n = parse_name(p);
	v->str = n.value;
	v->len = strlen(n.value);
	return v;
}

static struct gql_value *parse_string_literal(struct parser *p)
{
	struct gql_value *v = new_value(p, GQL_VALUE_STRING, &p->tok);

	v->str = p->tok.value;	/* decoded into the arena by the lexer */
	v->len = p->tok.value_len;
	v->block = p->tok.kind == GQL_TOK_BLOCK_STRING;
	advance(p);
	return v;
}

static struct gql_argument *parse_argument(struct parser *p, bool is_const)
{
	struct gql_argument *arg = NEW(p, struct gql_argument);

	arg->line = p->tok.line;
	arg->column = p->tok.column;
	arg->name = parse_name(p);
	expect(p, GQL_TOK_COLON);
	arg->value = parse_value(p, is_const);
	return arg;
}

/* Value[Const]; IS_CONST forbids variables (default values, SDL). */
static struct gql_value *parse_value(struct parser *p, bool is_const)
{
	struct gql_token t = p->tok;
	struct gql_value *v;
	size_t m;

	switch (t.kind) {
	case GQL_TOK_BRACKET_L:
		enter(p, &p->value_depth, "Values");
		v = new_value(p, GQL_VALUE_LIST, &t);
		advance(p);
		m = p->n_stk;
		while (!optional(p, GQL_TOK_BRACKET_R))
			push(p, parse_value(p, is_const));
		COLLECT(p, m, v->items, v->n_items);
		p->value_depth--;
		return v;
	case GQL_TOK_BRACE_L:
		enter(p, &p->value_depth, "Values");
		v = new_value(p, GQL_VALUE_OBJECT, &t);
		advance(p);
		m = p->n_stk;
		while (!optional(p, GQL_TOK_BRACE_R))
			push(p, parse_argument(p, is_const));
		COLLECT(p, m, v->fields, v->n_fields);
		p->value_depth--;
		return v;
	case GQL_TOK_INT:
	case GQL_TOK_FLOAT:
		v = new_value(p, t.kind == GQL_TOK_INT ? GQL_VALUE_INT :
		              GQL_VALUE_FLOAT, &t);
		v->str = dup_text(p, t.value, t.value_len);
		v->len = t.value_len;
		advance(p);
		return v;
	case GQL_TOK_STRING:
	case GQL_TOK_BLOCK_STRING:
		return parse_string_literal(p);
	case GQL_TOK_NAME:
		advance(p);
		if (is_keyword(&t, "true") || is_keyword(&t, "false")) {
			v = new_value(p, GQL_VALUE_BOOLEAN, &t);
			v->boolean = t.value[0] == 't';
		} else if (is_keyword(&t, "null")) {
			v = new_value(p, GQL_VALUE_NULL, &t);
		} else {
			v = new_value(p, GQL_VALUE_ENUM, &t);
			v->str = dup_text(p, t.value, t.value_len);
			v->len = t.value_len;
		}
		return v;
	case GQL_TOK_DOLLAR:
		if (is_const) {
			advance(p);
			if (peek(p, GQL_TOK_NAME))
				fail_at(p, t.line, t.column, "Unexpected variable "
				        "\"$%.*s\" in constant value.",
				        (int)p->tok.value_len, p->tok.value);
			unexpected(p, &t);
		}
		return parse_variable(p);
	default:
		unexpected(p, &t);
	}
}

static struct gql_type *new_type(struct parser *p, enum gql_type_kind kind,
                                 const struct gql_token *t)
{
	struct gql_type *ty = NEW(p, struct gql_type);

	ty->kind = kind;
	ty->line = t->line;
	ty->column = t->column;
	return ty;
}

static struct gql_type *parse_named_type(struct parser *p)
{
	struct gql_type *ty = new_type(p, GQL_TYPE_NAMED, &p->tok);

	ty->name = parse_name(p);
	return ty;
}

/* Type: NamedType | [Type] | Type! */
static struct gql_type *parse_type(struct parser *p)
{
	struct gql_token start = p->tok;
	struct gql_type *ty, *nn;

	if (peek(p, GQL_TOK_BRACKET_L)) {
		enter(p, &p->type_depth, "List types");
		advance(p);
		ty = new_type(p, GQL_TYPE_LIST, &start);
		ty->of = parse_type(p);
		expect(p, GQL_TOK_BRACKET_R);
		p->type_depth--;
	} else {
		ty = parse_named_type(p);
	}
	if (!optional(p, GQL_TOK_BANG))
		return ty;
	nn = new_type(p, GQL_TYPE_NON_NULL, &start);
	nn->of = ty;
	return nn;
}

/* ---- directives, selections ---- */

static void parse_arguments(struct parser *p, bool is_const,
                            struct gql_argument ***out, unsigned *n)
{
	size_t m = p->n_stk;

	if (optional(p, GQL_TOK_PAREN_L)) {
		do
			push(p, parse_argument(p, is_const));
		while (!optional(p, GQL_TOK_PAREN_R));
	}
	COLLECT(p, m, *out, *n);
}

static void parse_directives(struct parser *p, bool is_const,
                             struct gql_directive ***out, unsigned *n)
{
	size_t m = p->n_stk;

	while (peek(p, GQL_TOK_AT)) {
		struct gql_directive *d = NEW(p, struct gql_directive);

		d->line = p->tok.line;
		d->column = p->tok.column;
		advance(p);
		d->name = parse_name(p);
		parse_arguments(p, is_const, &d->args, &d->n_args);
		push(p, d);
	}
	COLLECT(p, m, *out, *n);
}

static struct gql_selection_set *parse_selection_set(struct parser *p);

/* FragmentName: Name but not `on`. */
static struct gql_name parse_fragment_name(struct parser *p)
{
	if (is_keyword(&p->tok, "on"))
		unexpected(p, &p->tok);
	return parse_name(p);
}

static struct gql_selection *parse_selection(struct parser *p)
{
	struct gql_selection *s = NEW(p, struct gql_selection);

	s->line = p->tok.line;
	s->column = p->tok.column;
	if (optional(p, GQL_TOK_SPREAD)) {
		bool has_cond = optional_keyword(p, "on");

		if (!has_cond && peek(p, GQL_TOK_NAME)) {
			s->kind = GQL_SEL_FRAGMENT_SPREAD;
			s->name = parse_fragment_name(p);
			parse_directives(p, false, &s->directives,
			                 &s->n_directives);
			return s;
		}
		s->kind = GQL_SEL_INLINE_FRAGMENT;
		if (has_cond)
			s->type_condition = parse_named_type(p);
		parse_directives(p, false, &s->directives, &s->n_directives);
		s->selection_set = parse_selection_set(p);
		return s;
	}
	s->kind = GQL_SEL_FIELD;
	s->name = parse_name(p);
	if (optional(p, GQL_TOK_COLON)) {
		s->alias = s->name;
		s->name = parse_name(p);
	}
	parse_arguments(p, false, &s->args, &s->n_args);
	parse_directives(p, false, &s->directives, &s->n_directives);
	if (peek(p, GQL_TOK_BRACE_L))
		s->selection_set = parse_selection_set(p);
	return s;
}

/* { Selection+ } */
static struct gql_selection_set *parse_selection_set(struct parser *p)
{
	struct gql_selection_set *ss = NEW(p, struct gql_selection_set);
	size_t m;

	ss->line = p->tok.line;
	ss->column = p->tok.column;
	if (peek(p, GQL_TOK_BRACE_L))
		enter(p, &p->sel_depth, "Selection sets");
	expect(p, GQL_TOK_BRACE_L);
	m = p->n_stk;
	do
		push(p, parse_selection(p));
	while (!optional(p, GQL_TOK_BRACE_R));
	COLLECT(p, m, ss->items, ss->n_items);
	p->sel_depth--;
	return ss;
}

/* ---- executable definitions ---- */

static struct gql_definition *new_def(struct parser *p, enum gql_def_kind kind)
{
	struct gql_definition *d = NEW(p, struct gql_definition);

	d->kind = kind;
	d->line = p->tok.line;
	d->column = p->tok.column;
	return d;
}

static enum gql_op parse_operation_type(struct parser *p)
{
	struct gql_token t = expect(p, GQL_TOK_NAME);

	if (is_keyword(&t, "query"))
		return GQL_OP_QUERY;
	if (is_keyword(&t, "mutation"))
		return GQL_OP_MUTATION;
	if (is_keyword(&t, "subscription"))
		return GQL_OP_SUBSCRIPTION;
	unexpected(p, &t);
}

static struct gql_variable_definition *parse_variable_definition(
	struct parser *p)
{
	struct gql_variable_definition *v =
		NEW(p, struct gql_variable_definition);

	v->line = p->tok.line;
	v->column = p->tok.column;
	expect(p, GQL_TOK_DOLLAR);
	v->name = parse_name(p);
	expect(p, GQL_TOK_COLON);
	v->type = parse_type(p);
	if (optional(p, GQL_TOK_EQUALS))
		v->default_value = parse_value(p, true);
	parse_directives(p, true, &v->directives, &v->n_directives);
	return v;
}

static struct gql_definition *parse_operation(struct parser *p)
{
	struct gql_definition *d = new_def(p, GQL_DEF_OPERATION);
	size_t m;

	if (peek(p, GQL_TOK_BRACE_L)) {	/* shorthand query */
		d->operation = GQL_OP_QUERY;
		d->selection_set = parse_selection_set(p);
		return d;
	}
	d->operation = parse_operation_type(p);
	if (peek(p, GQL_TOK_NAME))
		d->name = parse_name(p);
	m = p->n_stk;
	if (optional(p, GQL_TOK_PAREN_L)) {
		do
			push(p, parse_variable_definition(p));
		while (!optional(p, GQL_TOK_PAREN_R));
	}
	COLLECT(p, m, d->variables, d->n_variables);
	parse_directives(p, false, &d->directives, &d->n_directives);
	d->selection_set = parse_selection_set(p);
	return d;
}

/* fragment Name on Type Directives? SelectionSet (no variables: 2021). */
static struct gql_definition *parse_fragment_definition(struct parser *p)
{
	struct gql_definition *d = new_def(p, GQL_DEF_FRAGMENT);

	expect_keyword(p, "fragment");
	d->name = parse_fragment_name(p);
	expect_keyword(p, "on");
	d->type_condition = parse_named_type(p);
	parse_directives(p, false, &d->directives, &d->n_directives);
	d->selection_set = parse_selection_set(p);
	return d;
}

/* ---- type system definitions ---- */

static struct gql_value *parse_description(struct parser *p)
{
	if (peek(p, GQL_TOK_STRING) || peek(p, GQL_TOK_BLOCK_STRING))
		return parse_string_literal(p);
	return NULL;
}

static struct gql_root_operation *parse_root_operation(struct parser *p)
{
	struct gql_root_operation *r = NEW(p, struct gql_root_operation);

	r->line = p->tok.line;
	r->column = p->tok.column;
	r->operation = parse_operation_type(p);
	expect(p, GQL_TOK_COLON);
	r->type = parse_named_type(p);
	return r;
}

/* { RootOperationTypeDefinition+ }, optional in an extension. */
static void parse_root_operations(struct parser *p, bool required,
                                  struct gql_definition *d)
{
	size_t m = p->n_stk;

	if (required)
		expect(p, GQL_TOK_BRACE_L);
	else if (!optional(p, GQL_TOK_BRACE_L))
		return;
	do
		push(p, parse_root_operation(p));
	while (!optional(p, GQL_TOK_BRACE_R));
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
	iv->name = parse_name(p);
	expect(p, GQL_TOK_COLON);
	iv->type = parse_type(p);
	if (optional(p, GQL_TOK_EQUALS))
		iv->default_value = parse_value(p, true);
	parse_directives(p, true, &iv->directives, &iv->n_directives);
	return iv;
}

/* OPEN InputValueDefinition+ CLOSE, or nothing when OPEN is absent. */
static void parse_input_values(struct parser *p, enum gql_tok open,
                               enum gql_tok close,
                               struct gql_input_value_definition ***out,
                               unsigned *n)
{
	size_t m = p->n_stk;

	if (optional(p, open)) {
		do
			push(p, parse_input_value_definition(p));
		while (!optional(p, close));
	}
	COLLECT(p, m, *out, *n);
}

static struct gql_field_definition *parse_field_definition(struct parser *p)
{
	struct gql_field_definition *f = NEW(p, struct gql_field_definition);

	f->line = p->tok.line;
	f->column = p->tok.column;
	f->description = parse_description(p);
	f->name = parse_name(p);
	parse_input_values(p, GQL_TOK_PAREN_L, GQL_TOK_PAREN_R, &f->args,
	                   &f->n_args);
	expect(p, GQL_TOK_COLON);
	f->type = parse_type(p);
	parse_directives(p, true, &f->directives, &f->n_directives);
	return f;
}

/* implements &? A & B ... */
static void parse_implements(struct parser *p, struct gql_definition *d)
{
	size_t m = p->n_stk;

	if (optional_keyword(p, "implements")) {
		optional(p, GQL_TOK_AMP);
		do
			push(p, parse_named_type(p));
		while (optional(p, GQL_TOK_AMP));
	}
	COLLECT(p, m, d->interfaces, d->n_interfaces);
}

static void parse_fields(struct parser *p, struct gql_definition *d)
{
	size_t m = p->n_stk;

	if (optional(p, GQL_TOK_BRACE_L)) {
		do
			push(p, parse_field_definition(p));
		while (!optional(p, GQL_TOK_BRACE_R));
	}
	COLLECT(p, m, d->fields, d->n_fields);
}

/* = |? A | B ... */
static void parse_union_members(struct parser *p, struct gql_definition *d)
{
	size_t m = p->n_stk;

	if (optional(p, GQL_TOK_EQUALS)) {
		optional(p, GQL_TOK_PIPE);
		do
			push(p, parse_named_type(p));
		while (optional(p, GQL_TOK_PIPE));
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

		fail_at(p, t->line, t->column, "%s is reserved and cannot be "
		        "used for an enum value.", describe(t, d));
	}
	ev->name = parse_name(p);
	parse_directives(p, true, &ev->directives, &ev->n_directives);
	return ev;
}

static void parse_enum_values(struct parser *p, struct gql_definition *d)
{
	size_t m = p->n_stk;

	if (optional(p, GQL_TOK_BRACE_L)) {
		do
			push(p, parse_enum_value(p));
		while (!optional(p, GQL_TOK_BRACE_R));
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

	*n = parse_name(p);
	for (size_t i = 0; i < sizeof(directive_locations) /
	                       sizeof(directive_locations[0]); i++)
		if (strcmp(n->value, directive_locations[i]) == 0)
			return n;
	unexpected(p, &start);
}

static struct gql_definition *parse_directive_definition(struct parser *p)
{
	struct gql_definition *d = new_def(p, GQL_DEF_DIRECTIVE);
	size_t m;

	d->description = parse_description(p);
	expect_keyword(p, "directive");
	expect(p, GQL_TOK_AT);
	d->name = parse_name(p);
	parse_input_values(p, GQL_TOK_PAREN_L, GQL_TOK_PAREN_R, &d->args,
	                   &d->n_args);
	d->repeatable = optional_keyword(p, "repeatable");
	expect_keyword(p, "on");
	m = p->n_stk;
	optional(p, GQL_TOK_PIPE);
	do
		push(p, parse_directive_location(p));
	while (optional(p, GQL_TOK_PIPE));
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
	struct gql_definition *d = new_def(p, kind);
	bool empty;

	d->extension = extend;
	if (extend)
		expect_keyword(p, "extend");
	else
		d->description = parse_description(p);
	expect_keyword(p, keyword);
	if (kind != GQL_DEF_SCHEMA)
		d->name = parse_name(p);
	if (kind == GQL_DEF_OBJECT || kind == GQL_DEF_INTERFACE)
		parse_implements(p, d);
	parse_directives(p, true, &d->directives, &d->n_directives);
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
		unexpected(p, &p->tok);
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
		if (is_keyword(t, type_keywords[i].keyword))
			return (int)i;
	return -1;
}

/* Reject a definition the caller's gql_accept excludes, at token T. */
static void check_accept(struct parser *p, const struct gql_token *t,
                         bool type_system)
{
	char d[160];

	if (type_system && p->accept == GQL_ACCEPT_EXECUTABLE)
		fail_at(p, t->line, t->column, "Unexpected %s: type system "
		        "definitions are not allowed in an executable document.",
		        describe(t, d));
	if (!type_system && p->accept == GQL_ACCEPT_TYPE_SYSTEM)
		fail_at(p, t->line, t->column, "Unexpected %s: operations and "
		        "fragments are not allowed in a type system document.",
		        describe(t, d));
}

static struct gql_definition *parse_definition(struct parser *p)
{
	bool has_description;
	struct gql_token kw;
	int i;

	if (peek(p, GQL_TOK_BRACE_L)) {
		check_accept(p, &p->tok, false);
		return parse_operation(p);
	}
	has_description = peek(p, GQL_TOK_STRING) ||
	                  peek(p, GQL_TOK_BLOCK_STRING);
	kw = has_description ? *lookahead(p) : p->tok;
	if (kw.kind == GQL_TOK_NAME) {
		if ((i = type_keyword(&kw)) >= 0) {
			check_accept(p, &kw, true);
			return parse_type_definition(p, type_keywords[i].kind,
			                             type_keywords[i].keyword,
			                             false);
		}
		if (is_keyword(&kw, "directive")) {
			check_accept(p, &kw, true);
			return parse_directive_definition(p);
		}
		if (has_description)
			fail_at(p, p->tok.line, p->tok.column, "Unexpected "
			        "description, descriptions are supported only on "
			        "type definitions.");
		if (is_keyword(&kw, "query") || is_keyword(&kw, "mutation") ||
		    is_keyword(&kw, "subscription")) {
			check_accept(p, &kw, false);
			return parse_operation(p);
		}
		if (is_keyword(&kw, "fragment")) {
			check_accept(p, &kw, false);
			return parse_fragment_definition(p);
		}
		if (is_keyword(&kw, "extend")) {
			const struct gql_token *next;

			check_accept(p, &kw, true);
			next = lookahead(p);
			if ((i = type_keyword(next)) >= 0)
				return parse_type_definition(
					p, type_keywords[i].kind,
					type_keywords[i].keyword, true);
			unexpected(p, next);
		}
	}
	unexpected(p, &kw);
}

/* ---- entry points ---- */

enum goal { GOAL_DOCUMENT, GOAL_VALUE, GOAL_CONST_VALUE, GOAL_TYPE };

/*
 * Parse SRC as GOAL. The jmp_buf target is here; P belongs to the caller so
 * no local of this function changes between setjmp and longjmp.
 */
static void *run(struct parser *p, enum goal goal)
{
	struct gql_doc *doc;
	size_t m;
	void *r;

	if (setjmp(p->fail)) {
		free(p->stk);
		return NULL;
	}
	advance(p);
	switch (goal) {
	case GOAL_VALUE:
	case GOAL_CONST_VALUE:
		r = parse_value(p, goal == GOAL_CONST_VALUE);
		expect(p, GQL_TOK_EOF);
		break;
	case GOAL_TYPE:
		r = parse_type(p);
		expect(p, GQL_TOK_EOF);
		break;
	default:
		doc = NEW(p, struct gql_doc);
		m = p->n_stk;
		do
			push(p, parse_definition(p));
		while (!optional(p, GQL_TOK_EOF));
		COLLECT(p, m, doc->defs, doc->n_defs);
		doc->n_tokens = p->n_tokens;
		r = doc;
		break;
	}
	free(p->stk);
	return r;
}

static bool init(struct parser *p, struct arena *a, const char *src,
                 size_t len, const struct gql_limits *lim,
                 enum gql_accept accept, struct gql_error *err)
{
	size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes :
	                   GQL_DEFAULT_MAX_BYTES;

	memset(p, 0, sizeof(*p));
	p->a = a;
	p->err = err;
	p->accept = accept;
	p->max_tokens = lim && lim->max_tokens ? lim->max_tokens :
	                GQL_DEFAULT_MAX_TOKENS;
	p->max_depth = lim && lim->max_depth ? lim->max_depth :
	               GQL_DEFAULT_MAX_DEPTH;
	if (len > max_bytes) {
		gql_error_format(err, 1, 1, "Document is larger than %zu bytes. "
		                 "Parsing aborted.", max_bytes);
		return false;
	}
	gql_lexer_init(&p->lx, a, src, len);
	return true;
}

struct gql_doc *gql_parse_as(struct arena *a, const char *src, size_t len,
                             const struct gql_limits *lim,
                             enum gql_accept accept, struct gql_error *err)
{
	struct parser p;

	if (!init(&p, a, src, len, lim, accept, err))
		return NULL;
	return run(&p, GOAL_DOCUMENT);
}

struct gql_doc *gql_parse(struct arena *a, const char *src, size_t len,
                          const struct gql_limits *lim, struct gql_error *err)
{
	return gql_parse_as(a, src, len, lim, GQL_ACCEPT_ANY, err);
}

struct gql_value *gql_parse_value(struct arena *a, const char *src, size_t len,
                                  const struct gql_limits *lim, bool is_const,
                                  struct gql_error *err)
{
	struct parser p;

	if (!init(&p, a, src, len, lim, GQL_ACCEPT_ANY, err))
		return NULL;
	return run(&p, is_const ? GOAL_CONST_VALUE : GOAL_VALUE);
}

struct gql_type *gql_parse_type(struct arena *a, const char *src, size_t len,
                                const struct gql_limits *lim,
                                struct gql_error *err)
{
	struct parser p;

	if (!init(&p, a, src, len, lim, GQL_ACCEPT_ANY, err))
		return NULL;
	return run(&p, GOAL_TYPE);
}
