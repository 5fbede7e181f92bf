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
 *
 * This file holds the machinery (tokens, errors, lists, depth), what both
 * kinds of document use (names, values, types, directives), the executable
 * definitions (selections, operations, fragments) and the entry points.
 * Type system definitions, and telling one kind of definition from the
 * other, are parser_sdl.c's; parser_priv.h holds what both share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "parser_priv.h"

_Noreturn void gqlr_fail_at(struct parser *p, unsigned line, unsigned col,
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
const char *gqlr_describe(const struct gql_token *t, char buf[160])
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

_Noreturn void gqlr_unexpected(struct parser *p, const struct gql_token *t)
{
	char d[160];

	gqlr_fail_at(p, t->line, t->column, "Unexpected %s.",
	             gqlr_describe(t, d));
}

void *gqlr_alloc(struct parser *p, size_t size)
{
	void *m = gql_arena_calloc(p->a, size);

	if (!m)
		fail_oom(p);
	return m;
}

static char *dup_text(struct parser *p, const char *s, size_t len)
{
	char *d = gql_arena_strndup(p->a, s, len);

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
		gqlr_fail_at(p, p->tok.line, p->tok.column, "Document "
		             "contains more than %u tokens. Parsing aborted.",
		             p->max_tokens);
}

const struct gql_token *gqlr_lookahead(struct parser *p)
{
	if (p->tok.kind == GQL_TOK_EOF)
		return &p->tok;
	if (!p->have_ahead) {
		lex(p, &p->ahead);
		p->have_ahead = true;
	}
	return &p->ahead;
}

bool gqlr_peek(const struct parser *p, enum gql_tok kind)
{
	return p->tok.kind == kind;
}

struct gql_token gqlr_expect(struct parser *p, enum gql_tok kind)
{
	struct gql_token t = p->tok;
	char d[160];

	if (t.kind != kind)
		gqlr_fail_at(p, t.line, t.column, "Expected %s, found %s.",
		             gql_tok_describe(kind), gqlr_describe(&t, d));
	advance(p);
	return t;
}

bool gqlr_optional(struct parser *p, enum gql_tok kind)
{
	if (p->tok.kind != kind)
		return false;
	advance(p);
	return true;
}

bool gqlr_is_keyword(const struct gql_token *t, const char *word)
{
	size_t n = strlen(word);

	return t->kind == GQL_TOK_NAME && t->value_len == n &&
	       memcmp(t->value, word, n) == 0;
}

void gqlr_expect_keyword(struct parser *p, const char *word)
{
	char d[160];

	if (!gqlr_is_keyword(&p->tok, word))
		gqlr_fail_at(p, p->tok.line, p->tok.column,
		             "Expected \"%s\", found %s.", word,
		             gqlr_describe(&p->tok, d));
	advance(p);
}

bool gqlr_optional_keyword(struct parser *p, const char *word)
{
	if (!gqlr_is_keyword(&p->tok, word))
		return false;
	advance(p);
	return true;
}

/* ---- list building ---- */

void gqlr_push(struct parser *p, void *item)
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

/* ---- depth ---- */

static void enter(struct parser *p, unsigned *depth, const char *what)
{
	if (++*depth > p->max_depth)
		gqlr_fail_at(p, p->tok.line, p->tok.column, "%s are nested "
		             "more than %u levels deep. Parsing aborted.", what,
		             p->max_depth);
}

/* ---- names, values, types ---- */

struct gql_name gqlr_parse_name(struct parser *p)
{
	struct gql_token t = gqlr_expect(p, GQL_TOK_NAME);
	struct gql_name n = { dup_text(p, t.value, t.value_len), t.line,
	                      t.column };

	return n;
}

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

	gqlr_expect(p, GQL_TOK_DOLLAR);
	n = gqlr_parse_name(p);
	v->str = n.value;
	v->len = strlen(n.value);
	return v;
}

struct gql_value *gqlr_parse_string_literal(struct parser *p)
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
	arg->name = gqlr_parse_name(p);
	gqlr_expect(p, GQL_TOK_COLON);
	arg->value = gqlr_parse_value(p, is_const);
	return arg;
}

/* Value[Const]; IS_CONST forbids variables (default values, SDL). */
struct gql_value *gqlr_parse_value(struct parser *p, bool is_const)
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
		while (!gqlr_optional(p, GQL_TOK_BRACKET_R))
			gqlr_push(p, gqlr_parse_value(p, is_const));
		COLLECT(p, m, v->items, v->n_items);
		p->value_depth--;
		return v;
	case GQL_TOK_BRACE_L:
		enter(p, &p->value_depth, "Values");
		v = new_value(p, GQL_VALUE_OBJECT, &t);
		advance(p);
		m = p->n_stk;
		while (!gqlr_optional(p, GQL_TOK_BRACE_R))
			gqlr_push(p, parse_argument(p, is_const));
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
		return gqlr_parse_string_literal(p);
	case GQL_TOK_NAME:
		advance(p);
		if (gqlr_is_keyword(&t, "true") ||
		    gqlr_is_keyword(&t, "false")) {
			v = new_value(p, GQL_VALUE_BOOLEAN, &t);
			v->boolean = t.value[0] == 't';
		} else if (gqlr_is_keyword(&t, "null")) {
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
			if (gqlr_peek(p, GQL_TOK_NAME))
				gqlr_fail_at(p, t.line, t.column, "Unexpected "
				             "variable \"$%.*s\" in constant "
				             "value.", (int)p->tok.value_len,
				             p->tok.value);
			gqlr_unexpected(p, &t);
		}
		return parse_variable(p);
	default:
		gqlr_unexpected(p, &t);
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

struct gql_type *gqlr_parse_named_type(struct parser *p)
{
	struct gql_type *ty = new_type(p, GQL_TYPE_NAMED, &p->tok);

	ty->name = gqlr_parse_name(p);
	return ty;
}

/* Type: NamedType | [Type] | Type! */
struct gql_type *gqlr_parse_type(struct parser *p)
{
	struct gql_token start = p->tok;
	struct gql_type *ty, *nn;

	if (gqlr_peek(p, GQL_TOK_BRACKET_L)) {
		enter(p, &p->type_depth, "List types");
		advance(p);
		ty = new_type(p, GQL_TYPE_LIST, &start);
		ty->of = gqlr_parse_type(p);
		gqlr_expect(p, GQL_TOK_BRACKET_R);
		p->type_depth--;
	} else {
		ty = gqlr_parse_named_type(p);
	}
	if (!gqlr_optional(p, GQL_TOK_BANG))
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

	if (gqlr_optional(p, GQL_TOK_PAREN_L)) {
		do
			gqlr_push(p, parse_argument(p, is_const));
		while (!gqlr_optional(p, GQL_TOK_PAREN_R));
	}
	COLLECT(p, m, *out, *n);
}

void gqlr_parse_directives(struct parser *p, bool is_const,
                           struct gql_directive ***out, unsigned *n)
{
	size_t m = p->n_stk;

	while (gqlr_peek(p, GQL_TOK_AT)) {
		struct gql_directive *d = NEW(p, struct gql_directive);

		d->line = p->tok.line;
		d->column = p->tok.column;
		advance(p);
		d->name = gqlr_parse_name(p);
		parse_arguments(p, is_const, &d->args, &d->n_args);
		gqlr_push(p, d);
	}
	COLLECT(p, m, *out, *n);
}

static struct gql_selection_set *parse_selection_set(struct parser *p);

/* FragmentName: Name but not `on`. */
static struct gql_name parse_fragment_name(struct parser *p)
{
	if (gqlr_is_keyword(&p->tok, "on"))
		gqlr_unexpected(p, &p->tok);
	return gqlr_parse_name(p);
}

static struct gql_selection *parse_selection(struct parser *p)
{
	struct gql_selection *s = NEW(p, struct gql_selection);

	s->line = p->tok.line;
	s->column = p->tok.column;
	if (gqlr_optional(p, GQL_TOK_SPREAD)) {
		bool has_cond = gqlr_optional_keyword(p, "on");

		if (!has_cond && gqlr_peek(p, GQL_TOK_NAME)) {
			s->kind = GQL_SEL_FRAGMENT_SPREAD;
			s->name = parse_fragment_name(p);
			gqlr_parse_directives(p, false, &s->directives,
			                      &s->n_directives);
			return s;
		}
		s->kind = GQL_SEL_INLINE_FRAGMENT;
		if (has_cond)
			s->type_condition = gqlr_parse_named_type(p);
		gqlr_parse_directives(p, false, &s->directives,
		                      &s->n_directives);
		s->selection_set = parse_selection_set(p);
		return s;
	}
	s->kind = GQL_SEL_FIELD;
	s->name = gqlr_parse_name(p);
	if (gqlr_optional(p, GQL_TOK_COLON)) {
		s->alias = s->name;
		s->name = gqlr_parse_name(p);
	}
	parse_arguments(p, false, &s->args, &s->n_args);
	gqlr_parse_directives(p, false, &s->directives, &s->n_directives);
	if (gqlr_peek(p, GQL_TOK_BRACE_L))
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
	if (gqlr_peek(p, GQL_TOK_BRACE_L))
		enter(p, &p->sel_depth, "Selection sets");
	gqlr_expect(p, GQL_TOK_BRACE_L);
	m = p->n_stk;
	do
		gqlr_push(p, parse_selection(p));
	while (!gqlr_optional(p, GQL_TOK_BRACE_R));
	COLLECT(p, m, ss->items, ss->n_items);
	p->sel_depth--;
	return ss;
}

/* ---- executable definitions ---- */

struct gql_definition *gqlr_new_def(struct parser *p, enum gql_def_kind kind)
{
	struct gql_definition *d = NEW(p, struct gql_definition);

	d->kind = kind;
	d->line = p->tok.line;
	d->column = p->tok.column;
	return d;
}

enum gql_op gqlr_parse_operation_type(struct parser *p)
{
	struct gql_token t = gqlr_expect(p, GQL_TOK_NAME);

	if (gqlr_is_keyword(&t, "query"))
		return GQL_OP_QUERY;
	if (gqlr_is_keyword(&t, "mutation"))
		return GQL_OP_MUTATION;
	if (gqlr_is_keyword(&t, "subscription"))
		return GQL_OP_SUBSCRIPTION;
	gqlr_unexpected(p, &t);
}

static struct gql_variable_definition *parse_variable_definition(
	struct parser *p)
{
	struct gql_variable_definition *v =
		NEW(p, struct gql_variable_definition);

	v->line = p->tok.line;
	v->column = p->tok.column;
	gqlr_expect(p, GQL_TOK_DOLLAR);
	v->name = gqlr_parse_name(p);
	gqlr_expect(p, GQL_TOK_COLON);
	v->type = gqlr_parse_type(p);
	if (gqlr_optional(p, GQL_TOK_EQUALS))
		v->default_value = gqlr_parse_value(p, true);
	gqlr_parse_directives(p, true, &v->directives, &v->n_directives);
	return v;
}

struct gql_definition *gqlr_parse_operation(struct parser *p)
{
	struct gql_definition *d = gqlr_new_def(p, GQL_DEF_OPERATION);
	size_t m;

	if (gqlr_peek(p, GQL_TOK_BRACE_L)) {	/* shorthand query */
		d->operation = GQL_OP_QUERY;
		d->selection_set = parse_selection_set(p);
		return d;
	}
	d->operation = gqlr_parse_operation_type(p);
	if (gqlr_peek(p, GQL_TOK_NAME))
		d->name = gqlr_parse_name(p);
	m = p->n_stk;
	if (gqlr_optional(p, GQL_TOK_PAREN_L)) {
		do
			gqlr_push(p, parse_variable_definition(p));
		while (!gqlr_optional(p, GQL_TOK_PAREN_R));
	}
	COLLECT(p, m, d->variables, d->n_variables);
	gqlr_parse_directives(p, false, &d->directives, &d->n_directives);
	d->selection_set = parse_selection_set(p);
	return d;
}

/* fragment Name on Type Directives? SelectionSet (no variables: 2021). */
struct gql_definition *gqlr_parse_fragment_definition(struct parser *p)
{
	struct gql_definition *d = gqlr_new_def(p, GQL_DEF_FRAGMENT);

	gqlr_expect_keyword(p, "fragment");
	d->name = parse_fragment_name(p);
	gqlr_expect_keyword(p, "on");
	d->type_condition = gqlr_parse_named_type(p);
	gqlr_parse_directives(p, false, &d->directives, &d->n_directives);
	d->selection_set = parse_selection_set(p);
	return d;
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
		r = gqlr_parse_value(p, goal == GOAL_CONST_VALUE);
		gqlr_expect(p, GQL_TOK_EOF);
		break;
	case GOAL_TYPE:
		r = gqlr_parse_type(p);
		gqlr_expect(p, GQL_TOK_EOF);
		break;
	default:
		doc = NEW(p, struct gql_doc);
		m = p->n_stk;
		do
			gqlr_push(p, gqlr_parse_definition(p));
		while (!gqlr_optional(p, GQL_TOK_EOF));
		COLLECT(p, m, doc->defs, doc->n_defs);
		doc->n_tokens = p->n_tokens;
		r = doc;
		break;
	}
	free(p->stk);
	return r;
}

static bool init(struct parser *p, struct gql_arena *a, const char *src,
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

struct gql_doc *gql_parse_as(struct gql_arena *a, const char *src, size_t len,
                             const struct gql_limits *lim,
                             enum gql_accept accept, struct gql_error *err)
{
	struct parser p;

	if (!init(&p, a, src, len, lim, accept, err))
		return NULL;
	return run(&p, GOAL_DOCUMENT);
}

struct gql_doc *gql_parse(struct gql_arena *a, const char *src, size_t len,
                          const struct gql_limits *lim, struct gql_error *err)
{
	return gql_parse_as(a, src, len, lim, GQL_ACCEPT_ANY, err);
}

struct gql_value *gql_parse_value(struct gql_arena *a, const char *src, size_t len,
                                  const struct gql_limits *lim, bool is_const,
                                  struct gql_error *err)
{
	struct parser p;

	if (!init(&p, a, src, len, lim, GQL_ACCEPT_ANY, err))
		return NULL;
	return run(&p, is_const ? GOAL_CONST_VALUE : GOAL_VALUE);
}

struct gql_type *gql_parse_type(struct gql_arena *a, const char *src, size_t len,
                                const struct gql_limits *lim,
                                struct gql_error *err)
{
	struct parser p;

	if (!init(&p, a, src, len, lim, GQL_ACCEPT_ANY, err))
		return NULL;
	return run(&p, GOAL_TYPE);
}
