/*
 * schema.c - builds a struct gql_schema from SDL documents and answers the
 * lookups of schema.h.
 *
 * Building runs in passes over every definition of every file (the
 * built-ins of introspection.sdl.h come first, as file 0): create the named
 * types and directives, attach extensions, fill fields, members and values
 * (resolving type references and applying directives), pick the root types,
 * then check the type system with graphql-js's validateSchema messages.
 * A schema with any error is freed and never returned, so the later passes
 * only need to survive half-built parts (unresolved references are left
 * out), not to make sense of them.
 *
 * Lookups: types and directives by name through open-addressing hash tables
 * (schema->index); the fields of a type with many fields through a hash
 * table stored just before its field array (struct field_head), so that
 * gql_type_field needs nothing but the type.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "introspection.sdl.h"
#include "parser.h"
#include "schema.h"

/* ---- hash tables ---- */

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Name -> pointer, fixed capacity (twice the most keys it will hold). */
struct htab {
	uint32_t mask;
	const char **keys;
	void **vals;
};

static int htab_init(struct htab *h, struct arena *a, unsigned n)
{
	uint32_t cap = 16;

	while (cap < 2 * (uint64_t)n + 2)
		cap *= 2;
	h->mask = cap - 1;
	h->keys = arena_calloc(a, cap * sizeof(*h->keys));
	h->vals = arena_calloc(a, cap * sizeof(*h->vals));
	return h->keys && h->vals ? 0 : -1;
}

static uint32_t htab_slot(const struct htab *h, const char *key)
{
	uint32_t i = hash_str(key) & h->mask;

	while (h->keys[i] && strcmp(h->keys[i], key) != 0)
		i = (i + 1) & h->mask;
	return i;
}

static void *htab_get(const struct htab *h, const char *key)
{
	return h->keys ? h->vals[htab_slot(h, key)] : NULL;
}

static void htab_put(struct htab *h, const char *key, void *val)
{
	uint32_t i = htab_slot(h, key);

	h->keys[i] = key;
	h->vals[i] = val;
}

/*
 * Types with more than FIELD_SCAN fields carry this header in the 16 bytes
 * (FIELD_HEAD) before their `fields` array: slots hold field index + 1.
 */
struct field_head {
	uint32_t mask;
	uint32_t *slots;
};

#define FIELD_SCAN 8u
#define FIELD_HEAD ((sizeof(struct field_head) + 15) & ~(size_t)15)

static const struct field_head *field_head_of(const struct gql_stype *t)
{
	return (const struct field_head *)((const char *)t->fields - FIELD_HEAD);
}

/* What schema->index points at. */
struct sindex {
	struct htab types, dirs;
	unsigned char *hidden;		/* per type index: see gql_schema_type_visible */
	struct gql_field typename_f, schema_f, type_f;
	struct gql_input_value type_arg;
	struct gql_tref string_nn, schema_nn, string_named, schema_named,
	                type_named;
};

/* ---- lookups ---- */

struct gql_stype *gql_schema_type(const struct gql_schema *s, const char *name)
{
	const struct sindex *ix = s->index;

	return ix ? htab_get(&ix->types, name) : NULL;
}

const struct gql_directive_def *gql_schema_directive(const struct gql_schema *s,
                                                     const char *name)
{
	const struct sindex *ix = s->index;

	return ix ? htab_get(&ix->dirs, name) : NULL;
}

const struct gql_field *gql_type_field(const struct gql_stype *t, const char *name)
{
	const struct field_head *fh;
	uint32_t i;

	if (t->kind != GQL_OBJECT && t->kind != GQL_INTERFACE)
		return NULL;
	if (t->n_fields <= FIELD_SCAN) {
		for (unsigned k = 0; k < t->n_fields; k++)
			if (strcmp(t->fields[k].name, name) == 0)
				return &t->fields[k];
		return NULL;
	}
	fh = field_head_of(t);
	for (i = hash_str(name) & fh->mask; fh->slots[i]; i = (i + 1) & fh->mask)
		if (strcmp(t->fields[fh->slots[i] - 1].name, name) == 0)
			return &t->fields[fh->slots[i] - 1];
	return NULL;
}

const struct gql_field *gql_meta_field(const struct gql_schema *s, const struct gql_stype *parent,
                                       const char *name)
{
	const struct sindex *ix = s->index;

	if (!ix || !parent || name[0] != '_' || name[1] != '_')
		return NULL;
	if (strcmp(name, "__typename") == 0)
		return parent->kind == GQL_OBJECT || parent->kind == GQL_INTERFACE ||
		       parent->kind == GQL_UNION ? &ix->typename_f : NULL;
	if (parent != s->query)
		return NULL;
	if (strcmp(name, "__schema") == 0)
		return &ix->schema_f;
	if (strcmp(name, "__type") == 0)
		return &ix->type_f;
	return NULL;
}

bool gql_schema_type_visible(const struct gql_schema *s, const struct gql_stype *t)
{
	const struct sindex *ix = s->index;

	return !(ix && ix->hidden && t->index < s->n_types &&
	         s->types[t->index] == t && ix->hidden[t->index]);
}

bool gql_is_possible(const struct gql_stype *t, const struct gql_stype *obj)
{
	if (t == obj)
		return true;
	if (t->kind != GQL_UNION && t->kind != GQL_INTERFACE)
		return false;
	for (unsigned i = 0; i < t->n_possible; i++)
		if (t->possible[i] == obj)
			return true;
	return false;
}

struct gql_stype *gql_tref_named(const struct gql_tref *t)
{
	while (t && t->kind != GQL_TYPE_NAMED)
		t = t->of;
	return t ? t->named : NULL;
}

bool gql_is_input_type(const struct gql_tref *t)
{
	const struct gql_stype *n = gql_tref_named(t);

	return n && (n->kind == GQL_SCALAR || n->kind == GQL_ENUM ||
	             n->kind == GQL_INPUT_OBJECT);
}

bool gql_is_output_type(const struct gql_tref *t)
{
	const struct gql_stype *n = gql_tref_named(t);

	return n && n->kind != GQL_INPUT_OBJECT;
}

static size_t tref_put(const struct gql_tref *t, char *buf, size_t cap,
                       size_t at)
{
	const char *s;
	size_t n;

	switch (t->kind) {
	case GQL_TYPE_LIST:
		if (at + 1 < cap)
			buf[at] = '[';
		at = tref_put(t->of, buf, cap, at + 1);
		s = "]";
		break;
	case GQL_TYPE_NON_NULL:
		at = tref_put(t->of, buf, cap, at);
		s = "!";
		break;
	default:
		s = t->named ? t->named->name : "?";
		break;
	}
	n = strlen(s);
	if (at < cap)
		memcpy(buf + at, s, at + n < cap ? n : cap - at);
	return at + n;
}

size_t gql_tref_print(const struct gql_tref *t, char *buf, size_t cap)
{
	size_t n = tref_put(t, buf, cap, 0);

	if (cap)
		buf[n < cap ? n : cap - 1] = '\0';
	return n;
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

void gql_schema_free(struct gql_schema *s)
{
	if (!s)
		return;
	arena_close(&s->arena);
	free(s);
}

/* ---- building ---- */

struct ext {
	const struct gql_definition *def;
	unsigned file;
	struct ext *next;
};

/* Where each part of a type came from, for messages; parallel arrays. */
struct tinfo {
	const struct gql_definition *def;
	unsigned file;
	struct ext *exts, **ext_tail;
	/* per field / input field / enum value: its definition and file */
	const void **mnode;
	unsigned *mfile;
	/* per resolved interface / union member: the reference and file */
	const struct gql_type **rnode;
	unsigned *rfile;
};

struct dinfo {
	const struct gql_definition *def;
	unsigned file;
};

struct builder {
	struct gql_schema *s;
	struct arena *a;		/* the schema's */
	struct arena tmp;		/* freed when building ends */
	struct sindex *ix;
	const char *const *names;
	unsigned n_files;		/* file 0 is the built-ins */
	struct gql_schema_error *errs;
	unsigned max_errs, n_errs;
	bool failed;
	struct tinfo *ti;		/* parallel to s->types */
	struct dinfo *di;		/* parallel to s->directives */
	const struct gql_definition *schema_def;
	unsigned schema_file;
	struct ext *schema_exts, **schema_ext_tail;
	unsigned char scalar_copy[8];	/* built-in scalar redefined in SDL */
};

static const char *file_name(const struct builder *b, unsigned file)
{
	if (file == 0)
		return "<builtin>";
	return b->names && b->names[file - 1] ? b->names[file - 1] : "<input>";
}

static void err(struct builder *b, unsigned file, unsigned line,
                unsigned column, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void err(struct builder *b, unsigned file, unsigned line,
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

static void oom(struct builder *b)
{
	err(b, 0, 1, 1, "out of memory while building the schema");
}

static bool reserved(const char *name)
{
	return name[0] == '_' && name[1] == '_';
}

static void check_name(struct builder *b, unsigned file, const struct gql_name *n)
{
	if (file != 0 && reserved(n->value))
		err(b, file, n->line, n->column, "Name \"%s\" must not begin with "
		    "\"__\", which is reserved by GraphQL introspection.", n->value);
}

static const char *desc(const struct gql_value *v)
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

static void add_type(struct builder *b, const struct gql_definition *d,
                     unsigned file)
{
	struct gql_schema *s = b->s;
	struct gql_stype *t = htab_get(&b->ix->types, d->name.value);

	if (file != 0 && reserved(d->name.value)) {
		check_name(b, file, &d->name);
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
		err(b, file, d->name.line, d->name.column,
		    "There can be only one type named \"%s\".", d->name.value);
		return;
	}
	t = arena_calloc(b->a, sizeof(*t));
	if (!t)
		{ oom(b); return; }
	t->kind = def_kind(d->kind);
	t->name = d->name.value;
	t->description = desc(d->description);
	t->builtin = file == 0;
	t->index = s->n_types;
	t->line = d->line;
	t->column = d->column;
	b->ti[s->n_types].def = d;
	b->ti[s->n_types].file = file;
	b->ti[s->n_types].ext_tail = &b->ti[s->n_types].exts;
	s->types[s->n_types++] = t;
	htab_put(&b->ix->types, t->name, t);
}

static void add_directive(struct builder *b, const struct gql_definition *d,
                          unsigned file)
{
	struct gql_schema *s = b->s;
	struct gql_directive_def *dd = htab_get(&b->ix->dirs, d->name.value);
	unsigned i;

	if (dd && !dd->builtin) {
		err(b, file, d->name.line, d->name.column,
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
	dd = arena_calloc(b->a, sizeof(*dd));
	if (!dd)
		{ oom(b); return; }
	dd->name = d->name.value;
	dd->description = desc(d->description);
	dd->repeatable = d->repeatable;
	dd->builtin = file == 0;
	for (unsigned k = 0; k < d->n_locations; k++)
		for (unsigned j = 0; j < N_DLOC; j++)
			if (strcmp(d->locations[k]->value, dloc_names[j]) == 0)
				dd->locations |= 1u << j;
	s->directives[i] = dd;
	b->di[i].def = d;
	b->di[i].file = file;
	htab_put(&b->ix->dirs, dd->name, dd);
}

static void add_extension(struct builder *b, const struct gql_definition *d,
                          unsigned file)
{
	struct gql_stype *t = htab_get(&b->ix->types, d->name.value);
	struct tinfo *ti;
	struct ext *e;

	if (!t || t->builtin) {
		err(b, file, d->line, d->column, "Cannot extend type \"%s\" because "
		    "it is not defined.", d->name.value);
		return;
	}
	if (t->kind != def_kind(d->kind)) {
		err(b, file, d->line, d->column, "Cannot extend non-%s type \"%s\".",
		    kind_word(def_kind(d->kind)), d->name.value);
		return;
	}
	ti = &b->ti[t->index];
	e = arena_calloc(&b->tmp, sizeof(*e));
	if (!e)
		{ oom(b); return; }
	e->def = d;
	e->file = file;
	*ti->ext_tail = e;
	ti->ext_tail = &e->next;
}

/* The reference for AST type N, or NULL (reported) when a name is unknown. */
static const struct gql_tref *resolve(struct builder *b, unsigned file,
                                      const struct gql_type *n)
{
	struct gql_tref *r;
	const struct gql_tref *of = NULL;
	struct gql_stype *t = NULL;

	if (n->kind == GQL_TYPE_NAMED) {
		t = htab_get(&b->ix->types, n->name.value);
		if (!t) {
			err(b, file, n->line, n->column, "Unknown type \"%s\".",
			    n->name.value);
			return NULL;
		}
	} else if (!(of = resolve(b, file, n->of))) {
		return NULL;
	}
	r = arena_calloc(b->a, sizeof(*r));
	if (!r) {
		oom(b);
		return NULL;
	}
	r->kind = n->kind;
	r->named = t;
	r->of = of;
	return r;
}

/* What the directives applied to one element say. */
struct applied {
	bool deprecated;
	const char *reason;
	const char *specified_by;
};

/* Directives seen at one location (a type and its extensions share one). */
struct dseen {
	const struct gql_directive_def *d[32];
	unsigned n;
};

static const struct gql_argument *find_arg(const struct gql_directive *d,
                                           const char *name)
{
	for (unsigned i = 0; i < d->n_args; i++)
		if (strcmp(d->args[i]->name.value, name) == 0)
			return d->args[i];
	return NULL;
}

/*
 * Check the directives DIRS applied at LOC (KnownDirectives, location,
 * UniqueDirectivesPerLocation, argument names and required arguments) and
 * note @deprecated and @specifiedBy in *OUT.
 */
static void apply_dirs(struct builder *b, unsigned file,
                       struct gql_directive *const *dirs, unsigned n,
                       unsigned loc, struct dseen *seen, struct applied *out)
{
	struct dseen local = { .n = 0 };

	if (!seen)
		seen = &local;
	for (unsigned i = 0; i < n; i++) {
		const struct gql_directive *d = dirs[i];
		const struct gql_directive_def *dd = htab_get(&b->ix->dirs,
		                                              d->name.value);
		const struct gql_argument *a;

		if (!dd) {
			err(b, file, d->line, d->column, "Unknown directive \"@%s\".",
			    d->name.value);
			continue;
		}
		if (!(dd->locations & loc))
			err(b, file, d->line, d->column, "Directive \"@%s\" may not be "
			    "used on %s.", dd->name, gql_dloc_name(loc));
		if (!dd->repeatable) {
			unsigned k;

			for (k = 0; k < seen->n && seen->d[k] != dd; k++)
				;
			if (k < seen->n)
				err(b, file, d->line, d->column, "The directive \"@%s\" can "
				    "only be used once at this location.", dd->name);
			else if (seen->n < 32)
				seen->d[seen->n++] = dd;
		}
		for (unsigned k = 0; k < d->n_args; k++) {
			const struct gql_argument *ak = d->args[k];
			unsigned j;

			for (j = 0; j < dd->n_args; j++)
				if (strcmp(dd->args[j].name, ak->name.value) == 0)
					break;
			if (j == dd->n_args)
				err(b, file, ak->line, ak->column, "Unknown argument \"%s\" "
				    "on directive \"@%s\".", ak->name.value, dd->name);
			for (j = 0; j < k; j++)
				if (strcmp(d->args[j]->name.value, ak->name.value) == 0)
					break;
			if (j < k)
				err(b, file, ak->name.line, ak->name.column, "There can be "
				    "only one argument named \"%s\".", ak->name.value);
		}
		for (unsigned j = 0; j < dd->n_args; j++) {
			const struct gql_input_value *ad = &dd->args[j];
			char ts[256];

			if (!ad->type || ad->type->kind != GQL_TYPE_NON_NULL ||
			    ad->default_value || find_arg(d, ad->name))
				continue;
			gql_tref_print(ad->type, ts, sizeof(ts));
			err(b, file, d->line, d->column, "Directive \"@%s\" argument "
			    "\"%s\" of type \"%s\" is required, but it was not "
			    "provided.", dd->name, ad->name, ts);
		}
		if (!out)
			continue;
		if (strcmp(dd->name, "deprecated") == 0) {
			a = find_arg(d, "reason");
			if (!a) {
				const struct gql_input_value *r = dd->n_args ? &dd->args[0] : NULL;

				out->deprecated = true;
				out->reason = r && r->default_value &&
				              r->default_value->kind == GQL_VALUE_STRING ?
				              r->default_value->str : "No longer supported";
			} else if (a->value->kind == GQL_VALUE_STRING) {
				out->deprecated = true;
				out->reason = a->value->str;
			} else if (a->value->kind != GQL_VALUE_NULL) {
				err(b, file, a->value->line, a->value->column, "Argument "
				    "\"reason\" of directive \"@deprecated\" must be a "
				    "String.");
			}
			/* reason: null means not deprecated, as graphql-js reads it */
		} else if (strcmp(dd->name, "specifiedBy") == 0) {
			a = find_arg(d, "url");
			if (a && a->value->kind == GQL_VALUE_STRING)
				out->specified_by = a->value->str;
			else if (a)
				err(b, file, a->value->line, a->value->column, "Argument "
				    "\"url\" of directive \"@specifiedBy\" must be a "
				    "String.");
		}
	}
}

/* Fill IV from the argument / input field definition N. */
static void fill_input_value(struct builder *b, unsigned file,
                             struct gql_input_value *iv,
                             const struct gql_input_value_definition *n,
                             unsigned loc)
{
	struct applied ap = { 0 };

	iv->name = n->name.value;
	iv->description = desc(n->description);
	iv->type = resolve(b, file, n->type);
	iv->default_value = n->default_value;
	iv->line = n->line;
	iv->column = n->column;
	if (loc) {
		apply_dirs(b, file, n->directives, n->n_directives, loc, NULL, &ap);
		iv->deprecated = ap.deprecated;
		iv->deprecation_reason = ap.reason;
	}
}

static struct gql_input_value *fill_args(struct builder *b, unsigned file,
                                         struct gql_input_value_definition *const *args,
                                         unsigned n, unsigned loc)
{
	struct gql_input_value *iv;

	if (!n)
		return NULL;
	iv = arena_calloc(b->a, n * sizeof(*iv));
	if (!iv) {
		oom(b);
		return NULL;
	}
	for (unsigned i = 0; i < n; i++)
		fill_input_value(b, file, &iv[i], args[i], loc);
	return iv;
}

/* The definition of a type and its extensions, in order. */
struct seg {
	const struct gql_definition *def;
	unsigned file;
};

static unsigned segments(struct builder *b, const struct tinfo *ti,
                         struct seg **out)
{
	unsigned n = 1;
	struct seg *sg;

	for (struct ext *e = ti->exts; e; e = e->next)
		n++;
	sg = arena_alloc(&b->tmp, n * sizeof(*sg));
	if (!sg) {
		oom(b);
		return 0;
	}
	sg[0].def = ti->def;
	sg[0].file = ti->file;
	n = 1;
	for (struct ext *e = ti->exts; e; e = e->next, n++) {
		sg[n].def = e->def;
		sg[n].file = e->file;
	}
	*out = sg;
	return n;
}

static unsigned type_loc(enum gql_kind k)
{
	switch (k) {
	case GQL_SCALAR: return GQL_LOC_SCALAR;
	case GQL_OBJECT: return GQL_LOC_OBJECT;
	case GQL_INTERFACE: return GQL_LOC_INTERFACE;
	case GQL_UNION: return GQL_LOC_UNION;
	case GQL_ENUM: return GQL_LOC_ENUM;
	default: return GQL_LOC_INPUT_OBJECT;
	}
}

static bool alloc_members(struct builder *b, struct tinfo *ti, unsigned n)
{
	if (!n)
		return true;
	ti->mnode = arena_calloc(&b->tmp, n * sizeof(*ti->mnode));
	ti->mfile = arena_calloc(&b->tmp, n * sizeof(*ti->mfile));
	if (ti->mnode && ti->mfile)
		return true;
	oom(b);
	return false;
}

static void fill_fields(struct builder *b, struct gql_stype *t,
                        struct tinfo *ti, const struct seg *sg, unsigned ns)
{
	unsigned n = 0, k = 0;
	struct field_head *fh = NULL;
	char *mem;

	for (unsigned i = 0; i < ns; i++)
		n += sg[i].def->n_fields;
	if (!n || !alloc_members(b, ti, n))
		return;
	mem = arena_calloc(b->a, FIELD_HEAD + n * sizeof(*t->fields));
	if (!mem)
		{ oom(b); return; }
	t->fields = (struct gql_field *)(mem + FIELD_HEAD);
	if (n > FIELD_SCAN) {
		uint32_t cap = 16;

		while (cap < 2 * n)
			cap *= 2;
		fh = (struct field_head *)mem;
		fh->mask = cap - 1;
		fh->slots = arena_calloc(b->a, cap * sizeof(*fh->slots));
		if (!fh->slots)
			{ oom(b); return; }
	}
	for (unsigned i = 0; i < ns; i++) {
		for (unsigned j = 0; j < sg[i].def->n_fields; j++, k++) {
			const struct gql_field_definition *fd = sg[i].def->fields[j];
			struct gql_field *f = &t->fields[k];
			unsigned file = sg[i].file;
			struct applied ap = { 0 };
			const struct gql_field *dup = NULL;

			f->name = fd->name.value;
			f->description = desc(fd->description);
			f->n_args = fd->n_args;
			f->args = fill_args(b, file, fd->args, fd->n_args,
			                    GQL_LOC_ARGUMENT_DEFINITION);
			f->type = resolve(b, file, fd->type);
			apply_dirs(b, file, fd->directives, fd->n_directives,
			           GQL_LOC_FIELD_DEFINITION, NULL, &ap);
			f->deprecated = ap.deprecated;
			f->deprecation_reason = ap.reason;
			f->index = k;
			f->line = fd->line;
			f->column = fd->column;
			ti->mnode[k] = fd;
			ti->mfile[k] = file;
			if (fh) {
				uint32_t h = hash_str(f->name) & fh->mask;

				for (; fh->slots[h]; h = (h + 1) & fh->mask)
					if (strcmp(t->fields[fh->slots[h] - 1].name,
					           f->name) == 0)
						break;
				if (fh->slots[h])
					dup = &t->fields[fh->slots[h] - 1];
				else
					fh->slots[h] = k + 1;
			} else {
				for (unsigned m = 0; m < k && !dup; m++)
					if (strcmp(t->fields[m].name, f->name) == 0)
						dup = &t->fields[m];
			}
			t->n_fields = k + 1;
			if (dup)
				err(b, file, fd->name.line, fd->name.column, "Field "
				    "\"%s.%s\" can only be defined once.", t->name,
				    f->name);
		}
	}
}

/* Names already used among the N first strings of a member list. */
static struct htab *name_set(struct builder *b, unsigned n)
{
	struct htab *h = arena_calloc(&b->tmp, sizeof(*h));

	if (!h || htab_init(h, &b->tmp, n) < 0) {
		oom(b);
		return NULL;
	}
	return h;
}

static void fill_input_fields(struct builder *b, struct gql_stype *t,
                              struct tinfo *ti, const struct seg *sg,
                              unsigned ns)
{
	unsigned n = 0, k = 0;
	struct htab *seen;

	for (unsigned i = 0; i < ns; i++)
		n += sg[i].def->n_input_fields;
	if (!n || !alloc_members(b, ti, n) || !(seen = name_set(b, n)))
		return;
	t->input_fields = arena_calloc(b->a, n * sizeof(*t->input_fields));
	if (!t->input_fields)
		{ oom(b); return; }
	for (unsigned i = 0; i < ns; i++) {
		for (unsigned j = 0; j < sg[i].def->n_input_fields; j++, k++) {
			const struct gql_input_value_definition *d =
				sg[i].def->input_fields[j];

			fill_input_value(b, sg[i].file, &t->input_fields[k], d,
			                 GQL_LOC_INPUT_FIELD_DEFINITION);
			ti->mnode[k] = d;
			ti->mfile[k] = sg[i].file;
			t->n_input_fields = k + 1;
			if (htab_get(seen, d->name.value))
				err(b, sg[i].file, d->name.line, d->name.column, "Field "
				    "\"%s.%s\" can only be defined once.", t->name,
				    d->name.value);
			else
				htab_put(seen, d->name.value, (void *)d);
		}
	}
}

static void fill_values(struct builder *b, struct gql_stype *t,
                        struct tinfo *ti, const struct seg *sg, unsigned ns)
{
	unsigned n = 0, k = 0;
	struct htab *seen;

	for (unsigned i = 0; i < ns; i++)
		n += sg[i].def->n_values;
	if (!n || !alloc_members(b, ti, n) || !(seen = name_set(b, n)))
		return;
	t->values = arena_calloc(b->a, n * sizeof(*t->values));
	if (!t->values)
		{ oom(b); return; }
	for (unsigned i = 0; i < ns; i++) {
		for (unsigned j = 0; j < sg[i].def->n_values; j++, k++) {
			const struct gql_enum_value_definition *d = sg[i].def->values[j];
			struct gql_enum_value *v = &t->values[k];
			struct applied ap = { 0 };

			v->name = d->name.value;
			v->description = desc(d->description);
			apply_dirs(b, sg[i].file, d->directives, d->n_directives,
			           GQL_LOC_ENUM_VALUE, NULL, &ap);
			v->deprecated = ap.deprecated;
			v->deprecation_reason = ap.reason;
			ti->mnode[k] = d;
			ti->mfile[k] = sg[i].file;
			t->n_values = k + 1;
			check_name(b, sg[i].file, &d->name);
			if (htab_get(seen, v->name))
				err(b, sg[i].file, d->name.line, d->name.column, "Enum "
				    "value \"%s.%s\" can only be defined once.", t->name,
				    v->name);
			else
				htab_put(seen, v->name, v);
		}
	}
}

/* Interfaces of an object or interface, or members of a union. */
static void fill_refs(struct builder *b, struct gql_stype *t,
                      struct tinfo *ti, const struct seg *sg, unsigned ns)
{
	bool is_union = t->kind == GQL_UNION;
	struct gql_stype **out;
	unsigned n = 0, k = 0;

	for (unsigned i = 0; i < ns; i++)
		n += is_union ? sg[i].def->n_types : sg[i].def->n_interfaces;
	if (!n)
		return;
	out = arena_calloc(b->a, n * sizeof(*out));
	ti->rnode = arena_calloc(&b->tmp, n * sizeof(*ti->rnode));
	ti->rfile = arena_calloc(&b->tmp, n * sizeof(*ti->rfile));
	if (!out || !ti->rnode || !ti->rfile)
		{ oom(b); return; }
	for (unsigned i = 0; i < ns; i++) {
		struct gql_type *const *refs = is_union ? sg[i].def->types :
		                               sg[i].def->interfaces;
		unsigned nr = is_union ? sg[i].def->n_types :
		              sg[i].def->n_interfaces;

		for (unsigned j = 0; j < nr; j++) {
			const struct gql_tref *r = resolve(b, sg[i].file, refs[j]);

			if (!r)
				continue;
			out[k] = r->named;
			ti->rnode[k] = refs[j];
			ti->rfile[k++] = sg[i].file;
		}
	}
	if (is_union) {
		t->possible = out;
		t->n_possible = k;
	} else {
		t->interfaces = out;
		t->n_interfaces = k;
	}
}

static void fill_type(struct builder *b, struct gql_stype *t)
{
	struct tinfo *ti = &b->ti[t->index];
	struct dseen seen = { .n = 0 };
	struct applied ap = { 0 };
	struct seg *sg = NULL;
	unsigned ns = segments(b, ti, &sg);

	for (unsigned i = 0; i < ns; i++)
		apply_dirs(b, sg[i].file, sg[i].def->directives,
		           sg[i].def->n_directives, type_loc(t->kind), &seen, &ap);
	t->specified_by = ap.specified_by;
	switch (t->kind) {
	case GQL_OBJECT:
	case GQL_INTERFACE:
		fill_refs(b, t, ti, sg, ns);
		fill_fields(b, t, ti, sg, ns);
		break;
	case GQL_UNION:
		fill_refs(b, t, ti, sg, ns);
		break;
	case GQL_ENUM:
		fill_values(b, t, ti, sg, ns);
		break;
	case GQL_INPUT_OBJECT:
		fill_input_fields(b, t, ti, sg, ns);
		break;
	default:
		break;
	}
}

static void fill_directive(struct builder *b, unsigned i, bool apply)
{
	struct gql_directive_def *dd = b->s->directives[i];
	const struct gql_definition *d = b->di[i].def;

	if (!apply) {
		dd->n_args = d->n_args;
		dd->args = fill_args(b, b->di[i].file, d->args, d->n_args, 0);
		return;
	}
	/* directives on arguments, once every directive has its arguments */
	for (unsigned k = 0; k < d->n_args && dd->args; k++) {
		struct applied ap = { 0 };

		apply_dirs(b, b->di[i].file, d->args[k]->directives,
		           d->args[k]->n_directives, GQL_LOC_ARGUMENT_DEFINITION,
		           NULL, &ap);
		dd->args[k].deprecated = ap.deprecated;
		dd->args[k].deprecation_reason = ap.reason;
	}
}

static const char *const op_words[] = { "query", "mutation", "subscription" };

static void pick_roots(struct builder *b)
{
	struct gql_schema *s = b->s;
	struct gql_stype *roots[3] = { NULL, NULL, NULL };
	struct dseen seen = { .n = 0 };
	struct seg sg[1 + 64];
	unsigned ns = 0;
	struct ext *e;

	if (b->schema_def) {
		sg[ns].def = b->schema_def;
		sg[ns++].file = b->schema_file;
		s->description = desc(b->schema_def->description);
	}
	for (e = b->schema_exts; e; e = e->next) {
		if (ns == sizeof(sg) / sizeof(sg[0])) {
			err(b, e->file, e->def->line, e->def->column,
			    "Too many schema extensions.");
			break;
		}
		sg[ns].def = e->def;
		sg[ns++].file = e->file;
	}
	for (unsigned i = 0; i < ns; i++) {
		apply_dirs(b, sg[i].file, sg[i].def->directives,
		           sg[i].def->n_directives, GQL_LOC_SCHEMA, &seen, NULL);
		for (unsigned k = 0; k < sg[i].def->n_root_ops; k++) {
			const struct gql_root_operation *ro = sg[i].def->root_ops[k];
			const struct gql_tref *r = resolve(b, sg[i].file, ro->type);
			unsigned op = ro->operation;

			if (op > 2 || !r)
				continue;
			if (roots[op])
				err(b, sg[i].file, ro->line, ro->column, "There can be only "
				    "one %s type in schema.", op_words[op]);
			else
				roots[op] = r->named;
		}
	}
	if (!b->schema_def) {
		static const char *const defaults[] = { "Query", "Mutation",
		                                        "Subscription" };

		for (unsigned op = 0; op < 3; op++)
			if (!roots[op])
				roots[op] = htab_get(&b->ix->types, defaults[op]);
	}
	s->query = roots[0];
	s->mutation = roots[1];
	s->subscription = roots[2];
}

/* ---- type system validation (graphql-js validateSchema) ---- */

static void print_tref(const struct gql_tref *t, char *buf, size_t cap)
{
	gql_tref_print(t, buf, cap);
}

bool gql_tref_equal(const struct gql_tref *a, const struct gql_tref *b)
{
	for (; a && b; a = a->of, b = b->of) {
		if (a->kind != b->kind)
			return false;
		if (a->kind == GQL_TYPE_NAMED)
			return a->named == b->named;
	}
	return false;
}

static bool implements(const struct gql_stype *t, const struct gql_stype *iface)
{
	for (unsigned i = 0; i < t->n_interfaces; i++)
		if (t->interfaces[i] == iface)
			return true;
	return false;
}

bool gql_tref_subtype(const struct gql_tref *sub, const struct gql_tref *super)
{
	if (gql_tref_equal(sub, super))
		return true;
	if (super->kind == GQL_TYPE_NON_NULL)
		return sub->kind == GQL_TYPE_NON_NULL && gql_tref_subtype(sub->of, super->of);
	if (sub->kind == GQL_TYPE_NON_NULL)
		return gql_tref_subtype(sub->of, super);
	if (super->kind == GQL_TYPE_LIST)
		return sub->kind == GQL_TYPE_LIST && gql_tref_subtype(sub->of, super->of);
	if (sub->kind == GQL_TYPE_LIST)
		return false;
	if (super->named->kind == GQL_UNION)
		return sub->named->kind == GQL_OBJECT &&
		       gql_is_possible(super->named, sub->named);
	if (super->named->kind == GQL_INTERFACE)
		return (sub->named->kind == GQL_OBJECT ||
		        sub->named->kind == GQL_INTERFACE) &&
		       implements(sub->named, super->named);
	return false;
}

static bool required(const struct gql_input_value *iv)
{
	return iv->type && iv->type->kind == GQL_TYPE_NON_NULL &&
	       !iv->default_value;
}

static const struct gql_input_value *find_iv(const struct gql_input_value *v,
                                             unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/*
 * Arguments ARGS[0..N) of OWNER ("Type.field" or "@dir"), defined by the
 * AST nodes DEFS in FILE: names, uniqueness, input types, deprecation.
 */
static void check_args(struct builder *b, unsigned file, const char *owner,
                       bool directive,
                       const struct gql_input_value *args, unsigned n,
                       struct gql_input_value_definition *const *defs)
{
	char ts[256];

	for (unsigned i = 0; i < n; i++) {
		const struct gql_input_value *a = &args[i];
		const struct gql_input_value_definition *d = defs[i];

		check_name(b, file, &d->name);
		if (find_iv(args, i, a->name))
			err(b, file, d->name.line, d->name.column, "Argument "
			    "\"%s(%s:)\" can only be defined once.", owner, a->name);
		if (a->type && !gql_is_input_type(a->type)) {
			print_tref(a->type, ts, sizeof(ts));
			err(b, file, d->type->line, d->type->column, "The type of "
			    "%s(%s:) must be Input Type but got: %s.", owner, a->name,
			    ts);
		}
		if (required(a) && a->deprecated)
			err(b, file, d->line, d->column, "Required argument %s(%s:) "
			    "cannot be deprecated.", owner, a->name);
	}
	(void)directive;
}

static void check_implements(struct builder *b, struct gql_stype *t,
                             struct tinfo *ti, unsigned r)
{
	const struct gql_stype *iface = t->interfaces[r];
	const struct gql_type *at = ti->rnode[r];
	unsigned file = ti->rfile[r];
	char s1[256], s2[256];

	for (unsigned i = 0; i < iface->n_interfaces; i++) {
		const struct gql_stype *tr = iface->interfaces[i];

		if (implements(t, tr))
			continue;
		if (tr == t)
			err(b, file, at->line, at->column, "Type %s cannot implement %s "
			    "because it would create a circular reference.", t->name,
			    iface->name);
		else
			err(b, file, at->line, at->column, "Type %s must implement %s "
			    "because it is implemented by %s.", t->name, tr->name,
			    iface->name);
	}
	for (unsigned i = 0; i < iface->n_fields; i++) {
		const struct gql_field *ifd = &iface->fields[i];
		const struct gql_field *f = gql_type_field(t, ifd->name);
		const struct gql_field_definition *fd;
		unsigned ffile;

		if (!f) {
			err(b, ti->file, ti->def->name.line, ti->def->name.column,
			    "Interface field %s.%s expected but %s does not provide it.",
			    iface->name, ifd->name, t->name);
			continue;
		}
		fd = ti->mnode[f->index];
		ffile = ti->mfile[f->index];
		if (f->type && ifd->type && !gql_tref_subtype(f->type, ifd->type)) {
			print_tref(ifd->type, s1, sizeof(s1));
			print_tref(f->type, s2, sizeof(s2));
			err(b, ffile, fd->type->line, fd->type->column, "Interface field "
			    "%s.%s expects type %s but %s.%s is type %s.", iface->name,
			    ifd->name, s1, t->name, f->name, s2);
		}
		for (unsigned k = 0; k < ifd->n_args; k++) {
			const struct gql_input_value *ia = &ifd->args[k];
			const struct gql_input_value *ta = find_iv(f->args, f->n_args,
			                                           ia->name);

			if (!ta) {
				err(b, ffile, fd->name.line, fd->name.column, "Interface field "
				    "argument %s.%s(%s:) expected but %s.%s does not "
				    "provide it.", iface->name, ifd->name, ia->name,
				    t->name, f->name);
				continue;
			}
			if (ia->type && ta->type && !gql_tref_equal(ia->type, ta->type)) {
				const struct gql_input_value_definition *ad =
					fd->args[ta - f->args];

				print_tref(ia->type, s1, sizeof(s1));
				print_tref(ta->type, s2, sizeof(s2));
				err(b, ffile, ad->type->line, ad->type->column, "Interface "
				    "field argument %s.%s(%s:) expects type %s but "
				    "%s.%s(%s:) is type %s.", iface->name, ifd->name,
				    ia->name, s1, t->name, f->name, ta->name, s2);
			}
		}
		for (unsigned k = 0; k < f->n_args; k++) {
			const struct gql_input_value *ta = &f->args[k];

			if (required(ta) && !find_iv(ifd->args, ifd->n_args, ta->name))
				err(b, ffile, fd->args[k]->line, fd->args[k]->column,
				    "Object field %s.%s includes required argument %s that "
				    "is missing from the Interface field %s.%s.", t->name,
				    f->name, ta->name, iface->name, ifd->name);
		}
	}
}

static void check_fields(struct builder *b, struct gql_stype *t,
                         struct tinfo *ti)
{
	char ts[256], owner[512];

	if (t->n_fields == 0)
		err(b, ti->file, ti->def->line, ti->def->column, "Type %s must "
		    "define one or more fields.", t->name);
	for (unsigned i = 0; i < t->n_fields; i++) {
		const struct gql_field *f = &t->fields[i];
		const struct gql_field_definition *fd = ti->mnode[i];

		check_name(b, ti->mfile[i], &fd->name);
		if (f->type && !gql_is_output_type(f->type)) {
			print_tref(f->type, ts, sizeof(ts));
			err(b, ti->mfile[i], fd->type->line, fd->type->column, "The type "
			    "of %s.%s must be Output Type but got: %s.", t->name,
			    f->name, ts);
		}
		if (f->args) {
			snprintf(owner, sizeof(owner), "%s.%s", t->name, f->name);
			check_args(b, ti->mfile[i], owner, false, f->args, f->n_args,
			           fd->args);
		}
	}
	for (unsigned r = 0; r < t->n_interfaces; r++) {
		const struct gql_stype *iface = t->interfaces[r];
		const struct gql_type *at = ti->rnode[r];
		unsigned k;

		if (iface->kind != GQL_INTERFACE) {
			err(b, ti->rfile[r], at->line, at->column, "Type %s must only "
			    "implement Interface types, it cannot implement %s.",
			    t->name, iface->name);
			continue;
		}
		if (iface == t) {
			err(b, ti->rfile[r], at->line, at->column, "Type %s cannot "
			    "implement itself because it would create a circular "
			    "reference.", t->name);
			continue;
		}
		for (k = 0; k < r && t->interfaces[k] != iface; k++)
			;
		if (k < r) {
			err(b, ti->rfile[r], at->line, at->column, "Type %s can only "
			    "implement %s once.", t->name, iface->name);
			continue;
		}
		check_implements(b, t, ti, r);
	}
}

static void check_union(struct builder *b, struct gql_stype *t,
                        struct tinfo *ti)
{
	if (t->n_possible == 0)
		err(b, ti->file, ti->def->line, ti->def->column, "Union type %s must "
		    "define one or more member types.", t->name);
	for (unsigned r = 0; r < t->n_possible; r++) {
		const struct gql_stype *m = t->possible[r];
		const struct gql_type *at = ti->rnode[r];
		unsigned k;

		for (k = 0; k < r && t->possible[k] != m; k++)
			;
		if (k < r)
			err(b, ti->rfile[r], at->line, at->column, "Union type %s can "
			    "only include type %s once.", t->name, m->name);
		else if (m->kind != GQL_OBJECT)
			err(b, ti->rfile[r], at->line, at->column, "Union type %s can "
			    "only include Object types, it cannot include %s.",
			    t->name, m->name);
	}
}

static void check_input_object(struct builder *b, struct gql_stype *t,
                               struct tinfo *ti)
{
	char ts[256];

	if (t->n_input_fields == 0)
		err(b, ti->file, ti->def->line, ti->def->column, "Input Object type "
		    "%s must define one or more fields.", t->name);
	for (unsigned i = 0; i < t->n_input_fields; i++) {
		const struct gql_input_value *f = &t->input_fields[i];
		const struct gql_input_value_definition *d = ti->mnode[i];

		check_name(b, ti->mfile[i], &d->name);
		if (f->type && !gql_is_input_type(f->type)) {
			print_tref(f->type, ts, sizeof(ts));
			err(b, ti->mfile[i], d->type->line, d->type->column, "The type of "
			    "%s.%s must be Input Type but got: %s.", t->name, f->name,
			    ts);
		}
		if (required(f) && f->deprecated)
			err(b, ti->mfile[i], d->line, d->column, "Required input field "
			    "%s.%s cannot be deprecated.", t->name, f->name);
	}
}

/*
 * Input objects referring to themselves through non-null fields cannot be
 * given a finite value. A depth-first walk as graphql-js's: each type is
 * entered once, so the work is linear; the path is an explicit stack.
 */
struct cycle_walk {
	struct builder *b;
	unsigned char *visited;		/* per type index */
	int *on_path;			/* per type index: path position + 1 */
	const struct gql_input_value **path;
	unsigned *path_type;		/* owning type index of path[i] */
	unsigned depth;
};

static void cycle_visit(struct cycle_walk *w, const struct gql_stype *t)
{
	struct builder *b = w->b;

	if (w->visited[t->index])
		return;
	w->visited[t->index] = 1;
	w->on_path[t->index] = (int)w->depth + 1;
	for (unsigned i = 0; i < t->n_input_fields; i++) {
		const struct gql_input_value *f = &t->input_fields[i];
		const struct gql_stype *ft;

		if (!f->type || f->type->kind != GQL_TYPE_NON_NULL ||
		    f->type->of->kind != GQL_TYPE_NAMED ||
		    f->type->of->named->kind != GQL_INPUT_OBJECT)
			continue;
		ft = f->type->of->named;
		w->path[w->depth] = f;
		w->path_type[w->depth++] = t->index;
		if (!w->on_path[ft->index]) {
			cycle_visit(w, ft);
		} else {
			char ps[512];
			size_t n = 0;
			unsigned from = (unsigned)w->on_path[ft->index] - 1;
			const struct tinfo *ti = &b->ti[w->path_type[from]];
			const struct gql_input_value *f0 = w->path[from];

			ps[0] = '\0';
			for (unsigned k = from; k < w->depth && n < sizeof(ps); k++)
				n += (size_t)snprintf(ps + n, sizeof(ps) - n, "%s%s",
				                      k > from ? "." : "",
				                      w->path[k]->name);
			/* the first field of the cycle locates it */
			for (unsigned m = 0; m < b->s->types[w->path_type[from]]->n_input_fields; m++)
				if (&b->s->types[w->path_type[from]]->input_fields[m] == f0) {
					const struct gql_input_value_definition *d = ti->mnode[m];

					err(b, ti->mfile[m], d->line, d->column, "Cannot "
					    "reference Input Object \"%s\" within itself "
					    "through a series of non-null fields: \"%s\".",
					    ft->name, ps);
				}
		}
		w->depth--;
	}
	w->on_path[t->index] = 0;
}

static void check_input_cycles(struct builder *b)
{
	struct gql_schema *s = b->s;
	struct cycle_walk w = { .b = b };

	w.visited = arena_calloc(&b->tmp, s->n_types);
	w.on_path = arena_calloc(&b->tmp, s->n_types * sizeof(int));
	w.path = arena_calloc(&b->tmp, (s->n_types + 1) * sizeof(*w.path));
	w.path_type = arena_calloc(&b->tmp, (s->n_types + 1) * sizeof(unsigned));
	if (!w.visited || !w.on_path || !w.path || !w.path_type)
		{ oom(b); return; }
	for (unsigned i = 0; i < s->n_types; i++)
		if (s->types[i]->kind == GQL_INPUT_OBJECT)
			cycle_visit(&w, s->types[i]);
}

static void check_roots(struct builder *b)
{
	static const char *const caps[] = { "Query", "Mutation", "Subscription" };
	struct gql_stype *roots[3] = { b->s->query, b->s->mutation,
	                               b->s->subscription };
	unsigned file = b->schema_def ? b->schema_file : (b->n_files > 1 ? 1 : 0);
	unsigned line = b->schema_def ? b->schema_def->line : 1;
	unsigned column = b->schema_def ? b->schema_def->column : 1;

	if (!roots[0])
		err(b, file, line, column, "Query root type must be provided.");
	for (unsigned op = 0; op < 3; op++) {
		const struct gql_stype *t = roots[op];

		if (!t || t->kind == GQL_OBJECT)
			continue;
		err(b, file, line, column, "%s root type must be Object type%s, it "
		    "cannot be %s.", caps[op], op ? " if provided" : "", t->name);
	}
}

static void check_directives(struct builder *b)
{
	struct gql_schema *s = b->s;
	char owner[256];

	for (unsigned i = 0; i < s->n_directives; i++) {
		const struct gql_directive_def *dd = s->directives[i];
		const struct gql_definition *d = b->di[i].def;

		if (dd->builtin)
			continue;
		check_name(b, b->di[i].file, &d->name);
		snprintf(owner, sizeof(owner), "@%s", dd->name);
		if (dd->args)
			check_args(b, b->di[i].file, owner, true, dd->args, dd->n_args,
			           d->args);
	}
}

static void check_types(struct builder *b)
{
	struct gql_schema *s = b->s;

	for (unsigned i = 0; i < s->n_types; i++) {
		struct gql_stype *t = s->types[i];
		struct tinfo *ti = &b->ti[i];

		if (t->builtin)
			continue;
		switch (t->kind) {
		case GQL_OBJECT:
		case GQL_INTERFACE:
			check_fields(b, t, ti);
			break;
		case GQL_UNION:
			check_union(b, t, ti);
			break;
		case GQL_ENUM:
			if (t->n_values == 0)
				err(b, ti->file, ti->def->line, ti->def->column, "Enum type "
				    "%s must define one or more values.", t->name);
			break;
		case GQL_INPUT_OBJECT:
			check_input_object(b, t, ti);
			break;
		default:
			break;
		}
	}
	check_input_cycles(b);
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
				it->possible = arena_calloc(b->a, it->n_possible *
				                            sizeof(*it->possible));
				if (!it->possible)
					oom(b);
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
	unsigned char *used = arena_calloc(b->a, s->n_types);

	if (!used) {
		oom(b);
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
	ix->string_named.named = htab_get(&ix->types, "String");
	ix->string_nn.kind = GQL_TYPE_NON_NULL;
	ix->string_nn.of = &ix->string_named;
	ix->schema_named.kind = GQL_TYPE_NAMED;
	ix->schema_named.named = htab_get(&ix->types, "__Schema");
	ix->schema_nn.kind = GQL_TYPE_NON_NULL;
	ix->schema_nn.of = &ix->schema_named;
	ix->type_named.kind = GQL_TYPE_NAMED;
	ix->type_named.named = htab_get(&ix->types, "__Type");

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
			err(b, f, e.line, e.column, "%s", e.message);
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
					err(b, f, d->line, d->column, "Must provide only one "
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
			e = arena_calloc(&b->tmp, sizeof(*e));
			if (!e)
				{ oom(b); return; }
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
	arena_init(&b.tmp, 16384);
	s = calloc(1, sizeof(*s));
	if (!s || n > 0xfffffffeu) {
		free(s);
		s = NULL;
		oom(&b);
		goto out;
	}
	arena_init(&s->arena, 65536);
	b.s = s;
	b.a = &s->arena;
	docs = arena_calloc(&b.tmp, b.n_files * sizeof(*docs));
	b.ix = arena_calloc(b.a, sizeof(*b.ix));
	if (!docs || !b.ix) {
		oom(&b);
		goto out;
	}
	parse_all(&b, sources, docs);
	if (b.failed)
		goto out;
	for (unsigned f = 0; f < b.n_files; f++)
		cap += docs[f]->n_defs;
	s->types = arena_calloc(b.a, cap * sizeof(*s->types));
	s->directives = arena_calloc(b.a, cap * sizeof(*s->directives));
	b.ti = arena_calloc(&b.tmp, cap * sizeof(*b.ti));
	b.di = arena_calloc(&b.tmp, cap * sizeof(*b.di));
	if (!s->types || !s->directives || !b.ti || !b.di ||
	    htab_init(&b.ix->types, b.a, cap) < 0 ||
	    htab_init(&b.ix->dirs, b.a, cap) < 0) {
		oom(&b);
		goto out;
	}
	s->index = b.ix;
	collect(&b, docs);
	for (unsigned i = 0; i < s->n_directives; i++)
		fill_directive(&b, i, false);
	for (unsigned i = 0; i < s->n_directives; i++)
		fill_directive(&b, i, true);
	for (unsigned i = 0; i < s->n_types; i++)
		fill_type(&b, s->types[i]);
	pick_roots(&b);
	check_roots(&b);
	check_directives(&b);
	check_types(&b);
	fill_possible(&b);
	fill_hidden(&b);
	fill_meta(&b);
out:
	arena_close(&b.tmp);
	if (n_errs)
		*n_errs = b.n_errs;
	if (b.failed) {
		gql_schema_free(s);
		return NULL;
	}
	return s;
}
