/*
 * printer.c - AST to GraphQL text; see printer.h.
 *
 * graphql-js builds each node's text bottom-up and indents a nested block by
 * replacing every "\n" inside it with "\n  ". Here the text streams into one
 * buffer instead and every "\n" written at nesting level L is followed by 2L
 * spaces, which produces the same bytes. Where graphql-js measures a node's
 * text first (argument lists longer than 80 columns, multi-line argument
 * definitions) that part is printed to a scratch buffer at level 0 and then
 * copied in, re-indented.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "printer.h"

struct out {
	char *buf;		/* malloc'd */
	size_t len, cap;
	unsigned level;		/* indentation: 2 spaces per level */
	bool oom;
};

static void raw(struct out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->cap - o->len < n + 1) {
		size_t cap = o->cap ? o->cap : 256;
		char *b;

		while (cap - o->len < n + 1) {
			if (cap > SIZE_MAX / 2) {
				o->oom = true;
				return;
			}
			cap *= 2;
		}
		b = realloc(o->buf, cap);
		if (!b) {
			o->oom = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/* Append S[0..N), indenting after each newline to the current level. */
static void put(struct out *o, const char *s, size_t n)
{
	static const char spaces[] = "                                ";

	while (n > 0) {
		const char *nl = memchr(s, '\n', n);
		size_t k = nl ? (size_t)(nl - s) + 1 : n;

		raw(o, s, k);
		s += k;
		n -= k;
		if (nl)
			for (unsigned i = 0; i < o->level; ) {
				unsigned step = o->level - i > 16 ? 16 :
				                o->level - i;

				raw(o, spaces, 2 * step);
				i += step;
			}
	}
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void nl(struct out *o)
{
	put(o, "\n", 1);
}

/* Length in UTF-16 code units, which is what graphql-js's limits count. */
static size_t utf16_len(const char *s, size_t n)
{
	size_t u = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c & 0xC0) != 0x80)
			u += c >= 0xF0 ? 2 : 1;
	}
	return u;
}

/* ---- strings ---- */

/* "..." escaping controls, '"', '\\' and U+007F..U+009F (graphql-js). */
static void print_string(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, from = 0;

	raw(o, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned cp;
		size_t k = 1;
		char esc[8];
		const char *e = NULL;

		if (c < 0x20 || c == '"' || c == '\\' || c == 0x7F) {
			cp = c;
		} else if (c == 0xC2 && i + 1 < n &&
		           (unsigned char)s[i + 1] >= 0x80 &&
		           (unsigned char)s[i + 1] <= 0x9F) {
			cp = (unsigned char)s[i + 1];
			k = 2;
		} else {
			continue;
		}
		switch (cp) {
		case '\b': e = "\\b"; break;
		case '\t': e = "\\t"; break;
		case '\n': e = "\\n"; break;
		case '\f': e = "\\f"; break;
		case '\r': e = "\\r"; break;
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[cp >> 4];
			esc[5] = hex[cp & 15];
			esc[6] = '\0';
			e = esc;
		}
		raw(o, s + from, i - from);
		raw(o, e, strlen(e));
		i += k - 1;
		from = i + 1;
	}
	raw(o, s + from, n - from);
	raw(o, "\"", 1);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* graphql-js's printBlockString, whose choices keep the value exact. */
static void print_block_string(struct out *o, const char *s, size_t n)
{
	struct out esc = { 0 };
	bool single = true, lead_nl = false, trail_triple, trail_quote;
	bool trail_slash, force_trail, multi, skip_lead;
	size_t i;

	for (i = 0; i < n; i++) {	/* escape """ as \""" */
		if (i + 2 < n && s[i] == '"' && s[i + 1] == '"' && s[i + 2] == '"') {
			raw(&esc, "\\\"\"\"", 4);
			i += 2;
		} else {
			raw(&esc, s + i, 1);
		}
	}
	if (esc.oom) {
		o->oom = true;
		free(esc.buf);
		return;
	}
	/* lines after the first: all empty or indented forces a leading \n */
	for (i = 0; i < esc.len; i++) {
		if (esc.buf[i] != '\n' && esc.buf[i] != '\r')
			continue;
		if (esc.buf[i] == '\r' && i + 1 < esc.len && esc.buf[i + 1] == '\n')
			i++;
		if (single) {
			single = false;
			lead_nl = true;
		}
		if (i + 1 < esc.len && esc.buf[i + 1] != '\n' &&
		    esc.buf[i + 1] != '\r' && !is_ws(esc.buf[i + 1]))
			lead_nl = false;
	}
	trail_triple = esc.len >= 4 &&
	               memcmp(esc.buf + esc.len - 4, "\\\"\"\"", 4) == 0;
	trail_quote = n > 0 && s[n - 1] == '"' && !trail_triple;
	trail_slash = n > 0 && s[n - 1] == '\\';
	force_trail = trail_quote || trail_slash;
	multi = !single || utf16_len(s, n) > 70 || force_trail || lead_nl ||
	        trail_triple;
	skip_lead = single && n > 0 && is_ws(s[0]);

	raw(o, "\"\"\"", 3);
	if ((multi && !skip_lead) || lead_nl)
		nl(o);
	if (esc.len)
		put(o, esc.buf, esc.len);
	if (multi || force_trail)
		nl(o);
	raw(o, "\"\"\"", 3);
	free(esc.buf);
}

/* ---- values, types, directives ---- */

static void print_value(struct out *o, const struct gql_value *v);

static void print_name(struct out *o, const struct gql_name *n)
{
	puts_(o, n->value);
}

static void print_arg(struct out *o, const struct gql_argument *a)
{
	print_name(o, &a->name);
	raw(o, ": ", 2);
	print_value(o, a->value);
}

static void print_value(struct out *o, const struct gql_value *v)
{
	switch (v->kind) {
	case GQL_VALUE_VARIABLE:
		raw(o, "$", 1);
		put(o, v->str, v->len);
		break;
	case GQL_VALUE_INT:
	case GQL_VALUE_FLOAT:
	case GQL_VALUE_ENUM:
		put(o, v->str, v->len);
		break;
	case GQL_VALUE_STRING:
		if (v->block)
			print_block_string(o, v->str, v->len);
		else
			print_string(o, v->str, v->len);
		break;
	case GQL_VALUE_BOOLEAN:
		puts_(o, v->boolean ? "true" : "false");
		break;
	case GQL_VALUE_NULL:
		raw(o, "null", 4);
		break;
	case GQL_VALUE_LIST:
		raw(o, "[", 1);
		for (unsigned i = 0; i < v->n_items; i++) {
			if (i)
				raw(o, ", ", 2);
			print_value(o, v->items[i]);
		}
		raw(o, "]", 1);
		break;
	case GQL_VALUE_OBJECT:
		raw(o, "{", 1);
		for (unsigned i = 0; i < v->n_fields; i++) {
			if (i)
				raw(o, ", ", 2);
			print_arg(o, v->fields[i]);
		}
		raw(o, "}", 1);
		break;
	}
}

static void print_type(struct out *o, const struct gql_type *t)
{
	switch (t->kind) {
	case GQL_TYPE_NAMED:
		print_name(o, &t->name);
		break;
	case GQL_TYPE_LIST:
		raw(o, "[", 1);
		print_type(o, t->of);
		raw(o, "]", 1);
		break;
	case GQL_TYPE_NON_NULL:
		print_type(o, t->of);
		raw(o, "!", 1);
		break;
	}
}

/* "(a: 1, b: 2)" or nothing. */
static void print_args(struct out *o, struct gql_argument *const *args,
                       unsigned n)
{
	if (!n)
		return;
	raw(o, "(", 1);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			raw(o, ", ", 2);
		print_arg(o, args[i]);
	}
	raw(o, ")", 1);
}

/* "@a @b(x: 1)"; with SPACE_BEFORE a leading space when there are any. */
static void print_directives(struct out *o, struct gql_directive *const *d,
                             unsigned n, bool space_before)
{
	for (unsigned i = 0; i < n; i++) {
		if (i || space_before)
			raw(o, " ", 1);
		raw(o, "@", 1);
		print_name(o, &d[i]->name);
		print_args(o, d[i]->args, d[i]->n_args);
	}
}

static void print_description(struct out *o, const struct gql_value *d)
{
	if (!d)
		return;
	print_value(o, d);
	nl(o);
}

/* Copy a level-0 scratch text into O, re-indented at O's level. */
static void put_scratch(struct out *o, struct out *s)
{
	if (s->oom)
		o->oom = true;
	else if (s->len)
		put(o, s->buf, s->len);
	free(s->buf);
}

/* ---- selections ---- */

static void print_selection_set(struct out *o,
                                const struct gql_selection_set *ss);

static void print_field(struct out *o, const struct gql_selection *f)
{
	struct out prefix = { 0 }, args = { 0 };

	if (f->alias.value) {
		print_name(&prefix, &f->alias);
		raw(&prefix, ": ", 2);
	}
	print_name(&prefix, &f->name);
	print_args(&args, f->args, f->n_args);
	if (f->n_args && !prefix.oom && !args.oom &&
	    utf16_len(prefix.buf, prefix.len) +
	    utf16_len(args.buf, args.len) > 80) {
		free(args.buf);
		put_scratch(o, &prefix);
		raw(o, "(", 1);
		o->level++;
		for (unsigned i = 0; i < f->n_args; i++) {
			nl(o);
			print_arg(o, f->args[i]);
		}
		o->level--;
		nl(o);
		raw(o, ")", 1);
	} else {
		put_scratch(o, &prefix);
		put_scratch(o, &args);
	}
	print_directives(o, f->directives, f->n_directives, true);
	if (f->selection_set) {
		raw(o, " ", 1);
		print_selection_set(o, f->selection_set);
	}
}

static void print_selection(struct out *o, const struct gql_selection *s)
{
	switch (s->kind) {
	case GQL_SEL_FIELD:
		print_field(o, s);
		break;
	case GQL_SEL_FRAGMENT_SPREAD:
		raw(o, "...", 3);
		print_name(o, &s->name);
		print_directives(o, s->directives, s->n_directives, true);
		break;
	case GQL_SEL_INLINE_FRAGMENT:
		raw(o, "...", 3);
		if (s->type_condition) {
			raw(o, " on ", 4);
			print_type(o, s->type_condition);
		}
		print_directives(o, s->directives, s->n_directives, true);
		raw(o, " ", 1);
		print_selection_set(o, s->selection_set);
		break;
	}
}

/*
 * graphql-js's block(): "{", the items one per line indented, "}"; nothing
 * at all for no items. PRINT_ITEM prints one of ITEMS.
 */
#define PRINT_BLOCK(o, items, n, print_item) do {			\
	if ((n) > 0) {							\
		raw((o), "{", 1);					\
		(o)->level++;						\
		for (unsigned i_ = 0; i_ < (n); i_++) {			\
			nl(o);						\
			print_item((o), (items)[i_]);			\
		}							\
		(o)->level--;						\
		nl(o);							\
		raw((o), "}", 1);					\
	}								\
} while (0)

static void print_selection_set(struct out *o,
                                const struct gql_selection_set *ss)
{
	PRINT_BLOCK(o, ss->items, ss->n_items, print_selection);
}

/* ---- definitions ---- */

static void print_variable(struct out *o,
                           const struct gql_variable_definition *v)
{
	raw(o, "$", 1);
	print_name(o, &v->name);
	raw(o, ": ", 2);
	print_type(o, v->type);
	if (v->default_value) {
		raw(o, " = ", 3);
		print_value(o, v->default_value);
	}
	print_directives(o, v->directives, v->n_directives, true);
}

/*
 * The query shorthand "{ ... }" is not used right after a definition whose
 * optional braced part is absent ("type T", "extend schema @d"): the parser
 * would take the "{" as that part. (graphql-js's print has this bug.)
 */
static void print_operation(struct out *o, const struct gql_definition *d,
                            bool allow_shorthand)
{
	static const char *const ops[] = { "query", "mutation", "subscription" };

	/* an anonymous query without variables or directives: shorthand */
	if (allow_shorthand && d->operation == GQL_OP_QUERY && !d->name.value &&
	    !d->n_variables && !d->n_directives) {
		print_selection_set(o, d->selection_set);
		return;
	}
	puts_(o, ops[d->operation]);
	if (d->name.value || d->n_variables)
		raw(o, " ", 1);
	if (d->name.value)
		print_name(o, &d->name);
	if (d->n_variables) {
		raw(o, "(", 1);
		for (unsigned i = 0; i < d->n_variables; i++) {
			if (i)
				raw(o, ", ", 2);
			print_variable(o, d->variables[i]);
		}
		raw(o, ")", 1);
	}
	print_directives(o, d->directives, d->n_directives, true);
	raw(o, " ", 1);
	print_selection_set(o, d->selection_set);
}

static void print_input_value(struct out *o,
                              const struct gql_input_value_definition *iv)
{
	print_description(o, iv->description);
	print_name(o, &iv->name);
	raw(o, ": ", 2);
	print_type(o, iv->type);
	if (iv->default_value) {
		raw(o, " = ", 3);
		print_value(o, iv->default_value);
	}
	print_directives(o, iv->directives, iv->n_directives, true);
}

/* Argument definitions, one per line if any of them spans lines. */
static void print_arg_defs(struct out *o,
                           struct gql_input_value_definition *const *args,
                           unsigned n)
{
	bool multiline = false;

	if (!n)
		return;
	for (unsigned i = 0; i < n && !multiline; i++) {
		struct out s = { 0 };

		print_input_value(&s, args[i]);
		multiline = s.oom || (s.len && memchr(s.buf, '\n', s.len));
		if (s.oom)
			o->oom = true;
		free(s.buf);
	}
	raw(o, "(", 1);
	if (multiline)
		o->level++;
	for (unsigned i = 0; i < n; i++) {
		if (multiline)
			nl(o);
		else if (i)
			raw(o, ", ", 2);
		print_input_value(o, args[i]);
	}
	if (multiline) {
		o->level--;
		nl(o);
	}
	raw(o, ")", 1);
}

static void print_field_def(struct out *o, const struct gql_field_definition *f)
{
	print_description(o, f->description);
	print_name(o, &f->name);
	print_arg_defs(o, f->args, f->n_args);
	raw(o, ": ", 2);
	print_type(o, f->type);
	print_directives(o, f->directives, f->n_directives, true);
}

static void print_root_op(struct out *o, const struct gql_root_operation *r)
{
	static const char *const ops[] = { "query", "mutation", "subscription" };

	puts_(o, ops[r->operation]);
	raw(o, ": ", 2);
	print_type(o, r->type);
}

static void print_enum_value(struct out *o,
                             const struct gql_enum_value_definition *ev)
{
	print_description(o, ev->description);
	print_name(o, &ev->name);
	print_directives(o, ev->directives, ev->n_directives, true);
}

static void print_type_list(struct out *o, struct gql_type *const *t,
                            unsigned n, const char *sep)
{
	for (unsigned i = 0; i < n; i++) {
		if (i)
			puts_(o, sep);
		print_type(o, t[i]);
	}
}

static void print_type_system(struct out *o, const struct gql_definition *d)
{
	static const char *const keywords[] = {
		[GQL_DEF_SCHEMA] = "schema",
		[GQL_DEF_SCALAR] = "scalar",
		[GQL_DEF_OBJECT] = "type",
		[GQL_DEF_INTERFACE] = "interface",
		[GQL_DEF_UNION] = "union",
		[GQL_DEF_ENUM] = "enum",
		[GQL_DEF_INPUT_OBJECT] = "input",
	};

	if (d->extension)
		raw(o, "extend ", 7);
	else
		print_description(o, d->description);
	puts_(o, keywords[d->kind]);
	if (d->name.value) {
		raw(o, " ", 1);
		print_name(o, &d->name);
	}
	if (d->n_interfaces) {
		raw(o, " implements ", 12);
		print_type_list(o, d->interfaces, d->n_interfaces, " & ");
	}
	print_directives(o, d->directives, d->n_directives, true);
	switch (d->kind) {
	case GQL_DEF_SCHEMA:
		if (d->n_root_ops)
			raw(o, " ", 1);
		PRINT_BLOCK(o, d->root_ops, d->n_root_ops, print_root_op);
		break;
	case GQL_DEF_OBJECT:
	case GQL_DEF_INTERFACE:
		if (d->n_fields)
			raw(o, " ", 1);
		PRINT_BLOCK(o, d->fields, d->n_fields, print_field_def);
		break;
	case GQL_DEF_UNION:
		if (d->n_types) {
			raw(o, " = ", 3);
			print_type_list(o, d->types, d->n_types, " | ");
		}
		break;
	case GQL_DEF_ENUM:
		if (d->n_values)
			raw(o, " ", 1);
		PRINT_BLOCK(o, d->values, d->n_values, print_enum_value);
		break;
	case GQL_DEF_INPUT_OBJECT:
		if (d->n_input_fields)
			raw(o, " ", 1);
		PRINT_BLOCK(o, d->input_fields, d->n_input_fields,
		            print_input_value);
		break;
	default:
		break;
	}
}

/* Would a "{" after D be read as part of D? */
static bool ends_open(const struct gql_definition *d)
{
	switch (d->kind) {
	case GQL_DEF_SCHEMA:
		return !d->n_root_ops;
	case GQL_DEF_OBJECT:
	case GQL_DEF_INTERFACE:
		return !d->n_fields;
	case GQL_DEF_ENUM:
		return !d->n_values;
	case GQL_DEF_INPUT_OBJECT:
		return !d->n_input_fields;
	default:
		return false;
	}
}

static void print_definition(struct out *o, const struct gql_definition *d,
                             const struct gql_definition *prev)
{
	switch (d->kind) {
	case GQL_DEF_OPERATION:
		print_operation(o, d, !prev || !ends_open(prev));
		break;
	case GQL_DEF_FRAGMENT:
		raw(o, "fragment ", 9);
		print_name(o, &d->name);
		raw(o, " on ", 4);
		print_type(o, d->type_condition);
		print_directives(o, d->directives, d->n_directives, true);
		raw(o, " ", 1);
		print_selection_set(o, d->selection_set);
		break;
	case GQL_DEF_DIRECTIVE:
		print_description(o, d->description);
		raw(o, "directive @", 11);
		print_name(o, &d->name);
		print_arg_defs(o, d->args, d->n_args);
		if (d->repeatable)
			raw(o, " repeatable", 11);
		raw(o, " on ", 4);
		for (unsigned i = 0; i < d->n_locations; i++) {
			if (i)
				raw(o, " | ", 3);
			print_name(o, d->locations[i]);
		}
		break;
	default:
		print_type_system(o, d);
		break;
	}
}

/* Move the buffer into the arena: the caller's memory, freed with A. */
static char *finish(struct gql_arena *a, struct out *o, size_t *len)
{
	char *r = NULL;

	if (!o->oom) {
		r = gql_arena_strndup(a, o->buf ? o->buf : "", o->len);
		if (r && len)
			*len = o->len;
	}
	free(o->buf);
	return r;
}

char *gql_print(struct gql_arena *a, const struct gql_doc *doc, size_t *len)
{
	struct out o = { 0 };

	for (unsigned i = 0; i < doc->n_defs; i++) {
		if (i)
			raw(&o, "\n\n", 2);
		print_definition(&o, doc->defs[i], i ? doc->defs[i - 1] : NULL);
	}
	return finish(a, &o, len);
}

char *gql_print_value(struct gql_arena *a, const struct gql_value *v, size_t *len)
{
	struct out o = { 0 };

	print_value(&o, v);
	return finish(a, &o, len);
}

char *gql_print_type(struct gql_arena *a, const struct gql_type *t, size_t *len)
{
	struct out o = { 0 };

	print_type(&o, t);
	return finish(a, &o, len);
}
