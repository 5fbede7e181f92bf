/*
 * schema.c - builds a struct gql_schema from SDL documents; see schema.h.
 *
 * Building runs in passes over every definition of every file (the
 * built-ins of introspection.sdl.h come first, as file 0): create the named
 * types and directives, attach extensions (this file), fill fields, members
 * and values (resolving type references and applying directives), pick the
 * root types (schema_fill.c), then check the type system with graphql-js's
 * validateSchema messages (schema_check.c).
 * A schema with any error is freed and never returned, so the later passes
 * only need to survive half-built parts (unresolved references are left
 * out), not to make sense of them.
 *
 * schema_lookup.c answers the lookups of schema.h on the built schema.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "introspection.sdl.h"
#include "parser.h"
#include "schema_priv.h"

/* ---- building ---- */

static const char *file_name(const struct builder *b, unsigned file)
{
	if (file == 0)
		return "<builtin>";
	return b->names && b->names[file - 1] ? b->names[file - 1] : "<input>";
}

void gqls_err(struct builder *b, unsigned file, unsigned line,
              unsigned column, const char *fmt, ...)
{
	char *t;
	size_t n, cap;
	va_list ap;

	b->failed = true;
	if (b->n_errs >= b->max_errs || !b->errs)
		return;
	t = b->errs[b->n_errs++].text;
	cap = sizeof(b->errs[0].text);
	n = (size_t)snprintf(t, cap, "%s:%u:%u: ", file_name(b, file), line,
	                     column);
	if (n < cap) {
		va_start(ap, fmt);
		vsnprintf(t + n, cap - n, fmt, ap);
		va_end(ap);
	}
	n = strlen(t);
	if (n == cap - 1) {
		/* cut off: do not leave half a UTF-8 sequence */
		while (n > 0 && ((unsigned char)t[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0 && ((unsigned char)t[n - 1] & 0x80))
			n--;
		t[n] = '\0';
	}
}

void gqls_oom(struct builder *b)
{
	gqls_err(b, 0, 1, 1, "out of memory while building the schema");
}

static bool reserved(const char *name)
{
	return name[0] == '_' && name[1] == '_';
}

void gqls_check_name(struct builder *b, unsigned file, const struct gql_name *n)
{
	if (file != 0 && reserved(n->value))
		gqls_err(b, file, n->line, n->column, "Name \"%s\" must not begin with "
		         "\"__\", which is reserved by GraphQL introspection.", n->value);
}

const char *gqls_desc(const struct gql_value *v)
{
	return v && v->kind == GQL_VALUE_STRING ? v->str : NULL;
}

static enum gql_kind def_kind(enum gql_def_kind k)
{
	switch (k) {
	case GQL_DEF_SCALAR: return GQL_SCALAR;
	case GQL_DEF_OBJECT: return GQL_OBJECT;
	case GQL_DEF_INTERFACE: return GQL_INTERFACE;
	case GQL_DEF_UNION: return GQL_UNION;
	case GQL_DEF_ENUM: return GQL_ENUM;
	default: return GQL_INPUT_OBJECT;
	}
}

static const char *kind_word(enum gql_kind k)
{
	switch (k) {
	case GQL_SCALAR: return "scalar";
	case GQL_OBJECT: return "object";
	case GQL_INTERFACE: return "interface";
	case GQL_UNION: return "union";
	case GQL_ENUM: return "enum";
	default: return "input object";
	}
}

static const char *const dloc_names[] = {
	"QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION",
	"FRAGMENT_SPREAD", "INLINE_FRAGMENT", "VARIABLE_DEFINITION", "SCHEMA",
	"SCALAR", "OBJECT", "FIELD_DEFINITION", "ARGUMENT_DEFINITION",
	"INTERFACE", "UNION", "ENUM", "ENUM_VALUE", "INPUT_OBJECT",
	"INPUT_FIELD_DEFINITION",
};

#define N_DLOC (sizeof(dloc_names) / sizeof(dloc_names[0]))

const char *gql_dloc_name(unsigned bit)
{
	for (unsigned i = 0; i < N_DLOC; i++)
		if (bit == 1u << i)
			return dloc_names[i];
	return NULL;
}

static void add_type(struct builder *b, const struct gql_definition *d,
                     unsigned file)
{
	struct gql_schema *s = b->s;
	struct gql_stype *t = gqls_htab_get(&b->ix->types, d->name.value);

	if (file != 0 && reserved(d->name.value)) {
		gqls_check_name(b, file, &d->name);
		return;
	}
	if (t) {
		/* graphql-js keeps its own standard scalars over an SDL copy */
		if (t->builtin && t->kind == GQL_SCALAR && d->kind == GQL_DEF_SCALAR &&
		    !reserved(t->name)) {
			if (t->index < sizeof(b->scalar_copy))
				b->scalar_copy[t->index] = 1;
			return;
		}
		gqls_err(b, file, d->name.line, d->name.column,
		         "There can be only one type named \"%s\".", d->name.value);
		return;
	}
	t = gql_arena_calloc(b->a, sizeof(*t));
	if (!t)
		{ gqls_oom(b); return; }
	t->kind = def_kind(d->kind);
	t->name = d->name.value;
	t->description = gqls_desc(d->description);
	t->builtin = file == 0;
	t->index = s->n_types;
	t->line = d->line;
	t->column = d->column;
	b->ti[s->n_types].def = d;
	b->ti[s->n_types].file = file;
	b->ti[s->n_types].ext_tail = &b->ti[s->n_types].exts;
	s->types[s->n_types++] = t;
	gqls_htab_put(&b->ix->types, t->name, t);
}

static void add_directive(struct builder *b, const struct gql_definition *d,
                          unsigned file)
{
	struct gql_schema *s = b->s;
	struct gql_directive_def *dd = gqls_htab_get(&b->ix->dirs, d->name.value);
	unsigned i;

	if (dd && !dd->builtin) {
		gqls_err(b, file, d->name.line, d->name.column,
		         "There can be only one directive named \"@%s\".", d->name.value);
		return;
	}
	if (dd) {
		/* an SDL definition replaces the built-in one, as in graphql-js */
		for (i = 0; s->directives[i] != dd; i++)
			;
	} else {
		i = s->n_directives++;
	}
	dd = gql_arena_calloc(b->a, sizeof(*dd));
	if (!dd)
		{ gqls_oom(b); return; }
	dd->name = d->name.value;
	dd->description = gqls_desc(d->description);
	dd->repeatable = d->repeatable;
	dd->builtin = file == 0;
	for (unsigned k = 0; k < d->n_locations; k++)
		for (unsigned j = 0; j < N_DLOC; j++)
			if (strcmp(d->locations[k]->value, dloc_names[j]) == 0)
				dd->locations |= 1u << j;
	s->directives[i] = dd;
	b->di[i].def = d;
	b->di[i].file = file;
	gqls_htab_put(&b->ix->dirs, dd->name, dd);
}

static void add_extension(struct builder *b, const struct gql_definition *d,
                          unsigned file)
{
	struct gql_stype *t = gqls_htab_get(&b->ix->types, d->name.value);
	struct tinfo *ti;
	struct ext *e;

	if (!t || t->builtin) {
		gqls_err(b, file, d->line, d->column, "Cannot extend type \"%s\" because "
		         "it is not defined.", d->name.value);
		return;
	}
	if (t->kind != def_kind(d->kind)) {
		gqls_err(b, file, d->line, d->column, "Cannot extend non-%s type \"%s\".",
		         kind_word(def_kind(d->kind)), d->name.value);
		return;
	}
	ti = &b->ti[t->index];
	e = gql_arena_calloc(&b->tmp, sizeof(*e));
	if (!e)
		{ gqls_oom(b); return; }
	e->def = d;
	e->file = file;
	*ti->ext_tail = e;
	ti->ext_tail = &e->next;
}

/* INTERFACE: the object types implementing it, in schema order. */
static void fill_possible(struct builder *b)
{
	struct gql_schema *s = b->s;

	for (unsigned pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < s->n_types; i++) {
			const struct gql_stype *o = s->types[i];

			if (o->kind != GQL_OBJECT)
				continue;
			for (unsigned k = 0; k < o->n_interfaces; k++) {
				struct gql_stype *it = o->interfaces[k];

				if (it->kind != GQL_INTERFACE)
					continue;
				if (pass == 1 && it->possible)
					it->possible[it->n_possible] = (struct gql_stype *)o;
				it->n_possible++;
			}
		}
		for (unsigned i = 0; pass == 0 && i < s->n_types; i++) {
			struct gql_stype *it = s->types[i];

			if (it->kind != GQL_INTERFACE)
				continue;
			if (it->n_possible) {
				it->possible = gql_arena_calloc(b->a, it->n_possible *
				                            sizeof(*it->possible));
				if (!it->possible)
					gqls_oom(b);
			}
			it->n_possible = 0;
		}
	}
}

static void mark_ref(unsigned char *used, const struct gql_tref *r)
{
	const struct gql_stype *t = gql_tref_named(r);

	if (t)
		used[t->index] = 1;
}

static void mark_args(unsigned char *used, const struct gql_input_value *v,
                      unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		mark_ref(used, v[i].type);
}

/*
 * graphql-js's type map holds the SDL's types, the root types, the types of
 * directive arguments and the introspection types (which use String and
 * Boolean), with everything they refer to: so a standard scalar is missing
 * only when nothing refers to it.
 */
static void fill_hidden(struct builder *b)
{
	struct gql_schema *s = b->s;
	unsigned char *used = gql_arena_calloc(b->a, s->n_types);

	if (!used) {
		gqls_oom(b);
		return;
	}
	for (unsigned i = 0; i < s->n_types; i++) {
		const struct gql_stype *t = s->types[i];

		for (unsigned k = 0; k < t->n_fields; k++) {
			mark_ref(used, t->fields[k].type);
			mark_args(used, t->fields[k].args, t->fields[k].n_args);
		}
		mark_args(used, t->input_fields, t->n_input_fields);
	}
	for (unsigned i = 0; i < s->n_directives; i++)
		mark_args(used, s->directives[i]->args, s->directives[i]->n_args);
	for (unsigned i = 0; i < s->n_types; i++) {
		const struct gql_stype *t = s->types[i];

		used[i] = t->builtin && t->kind == GQL_SCALAR && !used[i] &&
		          !(i < sizeof(b->scalar_copy) && b->scalar_copy[i]);
	}
	b->ix->hidden = used;
}

static void fill_meta(struct builder *b)
{
	struct sindex *ix = b->ix;

	ix->string_named.kind = GQL_TYPE_NAMED;
	ix->string_named.named = gqls_htab_get(&ix->types, "String");
	ix->string_nn.kind = GQL_TYPE_NON_NULL;
	ix->string_nn.of = &ix->string_named;
	ix->schema_named.kind = GQL_TYPE_NAMED;
	ix->schema_named.named = gqls_htab_get(&ix->types, "__Schema");
	ix->schema_nn.kind = GQL_TYPE_NON_NULL;
	ix->schema_nn.of = &ix->schema_named;
	ix->type_named.kind = GQL_TYPE_NAMED;
	ix->type_named.named = gqls_htab_get(&ix->types, "__Type");

	ix->typename_f.name = "__typename";
	ix->typename_f.description = "The name of the current Object type at "
	                             "runtime.";
	ix->typename_f.type = &ix->string_nn;
	ix->schema_f.name = "__schema";
	ix->schema_f.description = "Access the current type schema of this "
	                           "server.";
	ix->schema_f.type = &ix->schema_nn;
	ix->type_arg.name = "name";
	ix->type_arg.type = &ix->string_nn;
	ix->type_f.name = "__type";
	ix->type_f.description = "Request the type information of a single "
	                         "type.";
	ix->type_f.args = &ix->type_arg;
	ix->type_f.n_args = 1;
	ix->type_f.type = &ix->type_named;
}

/* Parse every file; NULL entries in DOCS for files with a syntax error. */
static void parse_all(struct builder *b, const char *const *sources,
                      struct gql_doc **docs)
{
	for (unsigned f = 0; f < b->n_files; f++) {
		const char *src = f ? sources[f - 1] : gql_builtin_sdl;
		size_t len = src ? strlen(src) : 0;
		struct gql_limits lim = { 0, 0, 0 };
		struct gql_error e;

		/* SDL is trusted configuration: allow big files */
		if (len > GQL_DEFAULT_MAX_BYTES)
			lim.max_bytes = len;
		if (len >= GQL_DEFAULT_MAX_TOKENS)
			lim.max_tokens = len < 0xfffffffeu ? (unsigned)len + 1 :
			                 0xffffffffu;
		docs[f] = gql_parse_as(b->a, src ? src : "", len, &lim,
		                       GQL_ACCEPT_TYPE_SYSTEM, &e);
		if (!docs[f])
			gqls_err(b, f, e.line, e.column, "%s", e.message);
	}
}

static void collect(struct builder *b, struct gql_doc **docs)
{
	/* definitions first, so that extensions may precede them */
	for (unsigned f = 0; f < b->n_files; f++) {
		for (unsigned i = 0; docs[f] && i < docs[f]->n_defs; i++) {
			const struct gql_definition *d = docs[f]->defs[i];

			if (d->extension)
				continue;
			if (d->kind == GQL_DEF_DIRECTIVE) {
				add_directive(b, d, f);
			} else if (d->kind == GQL_DEF_SCHEMA) {
				if (b->schema_def) {
					gqls_err(b, f, d->line, d->column, "Must provide only one "
					         "schema definition.");
				} else {
					b->schema_def = d;
					b->schema_file = f;
				}
			} else if (d->kind >= GQL_DEF_SCALAR) {
				add_type(b, d, f);
			}
		}
	}
	for (unsigned f = 0; f < b->n_files; f++) {
		for (unsigned i = 0; docs[f] && i < docs[f]->n_defs; i++) {
			const struct gql_definition *d = docs[f]->defs[i];
			struct ext *e;

			if (!d->extension)
				continue;
			if (d->kind != GQL_DEF_SCHEMA) {
				add_extension(b, d, f);
				continue;
			}
			e = gql_arena_calloc(&b->tmp, sizeof(*e));
			if (!e)
				{ gqls_oom(b); return; }
			e->def = d;
			e->file = f;
			*b->schema_ext_tail = e;
			b->schema_ext_tail = &e->next;
		}
	}
}

struct gql_schema *gql_schema_build(const char *const *sources, const char *const *names,
                                    unsigned n, struct gql_schema_error *errs,
                                    unsigned max_errs, unsigned *n_errs)
{
	struct builder b;
	struct gql_schema *s;
	struct gql_doc **docs;
	unsigned cap = 0;

	memset(&b, 0, sizeof(b));
	b.names = names;
	b.n_files = n + 1;
	b.errs = errs;
	b.max_errs = max_errs;
	b.schema_ext_tail = &b.schema_exts;
	gql_arena_init(&b.tmp, 16384);
	s = calloc(1, sizeof(*s));
	if (!s || n > 0xfffffffeu) {
		free(s);
		s = NULL;
		gqls_oom(&b);
		goto out;
	}
	gql_arena_init(&s->arena, 65536);
	b.s = s;
	b.a = &s->arena;
	docs = gql_arena_calloc(&b.tmp, b.n_files * sizeof(*docs));
	b.ix = gql_arena_calloc(b.a, sizeof(*b.ix));
	if (!docs || !b.ix) {
		gqls_oom(&b);
		goto out;
	}
	parse_all(&b, sources, docs);
	if (b.failed)
		goto out;
	for (unsigned f = 0; f < b.n_files; f++)
		cap += docs[f]->n_defs;
	s->types = gql_arena_calloc(b.a, cap * sizeof(*s->types));
	s->directives = gql_arena_calloc(b.a, cap * sizeof(*s->directives));
	b.ti = gql_arena_calloc(&b.tmp, cap * sizeof(*b.ti));
	b.di = gql_arena_calloc(&b.tmp, cap * sizeof(*b.di));
	if (!s->types || !s->directives || !b.ti || !b.di ||
	    gqls_htab_init(&b.ix->types, b.a, cap) < 0 ||
	    gqls_htab_init(&b.ix->dirs, b.a, cap) < 0) {
		gqls_oom(&b);
		goto out;
	}
	s->index = b.ix;
	collect(&b, docs);
	for (unsigned i = 0; i < s->n_directives; i++)
		gqls_fill_directive(&b, i, false);
	for (unsigned i = 0; i < s->n_directives; i++)
		gqls_fill_directive(&b, i, true);
	for (unsigned i = 0; i < s->n_types; i++)
		gqls_fill_type(&b, s->types[i]);
	gqls_pick_roots(&b);
	gqls_check_roots(&b);
	gqls_check_directives(&b);
	gqls_check_types(&b);
	fill_possible(&b);
	fill_hidden(&b);
	fill_meta(&b);
out:
	gql_arena_close(&b.tmp);
	if (n_errs)
		*n_errs = b.n_errs;
	if (b.failed) {
		gql_schema_free(s);
		return NULL;
	}
	return s;
}
