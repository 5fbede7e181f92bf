/*
 * schema_fill.c - the building passes after schema.c has created the named
 * types and directives: fill fields, input fields, enum values, interfaces
 * and union members, resolving type references and checking the
 * directives applied to each; then pick the root types.
 */
#include <stdint.h>
#include <string.h>

#include "schema_priv.h"

/* ---- filling types and directives ---- */

/* The reference for AST type N, or NULL (reported) when a name is unknown. */
static const struct gql_tref *resolve(struct builder *b, unsigned file,
                                      const struct gql_type *n)
{
	struct gql_tref *r;
	const struct gql_tref *of = NULL;
	struct gql_stype *t = NULL;

	if (n->kind == GQL_TYPE_NAMED) {
		t = gqls_htab_get(&b->ix->types, n->name.value);
		if (!t) {
			gqls_err(b, file, n->line, n->column, "Unknown type \"%s\".",
			         n->name.value);
			return NULL;
		}
	} else if (!(of = resolve(b, file, n->of))) {
		return NULL;
	}
	r = gql_arena_calloc(b->a, sizeof(*r));
	if (!r) {
		gqls_oom(b);
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
		const struct gql_directive_def *dd = gqls_htab_get(&b->ix->dirs,
		                                                   d->name.value);
		const struct gql_argument *a;

		if (!dd) {
			gqls_err(b, file, d->line, d->column, "Unknown directive \"@%s\".",
			         d->name.value);
			continue;
		}
		if (!(dd->locations & loc))
			gqls_err(b, file, d->line, d->column, "Directive \"@%s\" may not be "
			         "used on %s.", dd->name, gql_dloc_name(loc));
		if (!dd->repeatable) {
			unsigned k;

			for (k = 0; k < seen->n && seen->d[k] != dd; k++)
				;
			if (k < seen->n)
				gqls_err(b, file, d->line, d->column, "The directive \"@%s\" can "
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
				gqls_err(b, file, ak->line, ak->column, "Unknown argument \"%s\" "
				         "on directive \"@%s\".", ak->name.value, dd->name);
			for (j = 0; j < k; j++)
				if (strcmp(d->args[j]->name.value, ak->name.value) == 0)
					break;
			if (j < k)
				gqls_err(b, file, ak->name.line, ak->name.column, "There can be "
				         "only one argument named \"%s\".", ak->name.value);
		}
		for (unsigned j = 0; j < dd->n_args; j++) {
			const struct gql_input_value *ad = &dd->args[j];
			char ts[256];

			if (!ad->type || ad->type->kind != GQL_TYPE_NON_NULL ||
			    ad->default_value || find_arg(d, ad->name))
				continue;
			gql_tref_print(ad->type, ts, sizeof(ts));
			gqls_err(b, file, d->line, d->column, "Directive \"@%s\" argument "
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
				gqls_err(b, file, a->value->line, a->value->column, "Argument "
				         "\"reason\" of directive \"@deprecated\" must be a "
				         "String.");
			}
			/* reason: null means not deprecated, as graphql-js reads it */
		} else if (strcmp(dd->name, "specifiedBy") == 0) {
			a = find_arg(d, "url");
			if (a && a->value->kind == GQL_VALUE_STRING)
				out->specified_by = a->value->str;
			else if (a)
				gqls_err(b, file, a->value->line, a->value->column, "Argument "
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
	iv->description = gqls_desc(n->description);
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
	iv = gql_arena_calloc(b->a, n * sizeof(*iv));
	if (!iv) {
		gqls_oom(b);
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
	sg = gql_arena_alloc(&b->tmp, n * sizeof(*sg));
	if (!sg) {
		gqls_oom(b);
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
	ti->mnode = gql_arena_calloc(&b->tmp, n * sizeof(*ti->mnode));
	ti->mfile = gql_arena_calloc(&b->tmp, n * sizeof(*ti->mfile));
	if (ti->mnode && ti->mfile)
		return true;
	gqls_oom(b);
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
	mem = gql_arena_calloc(b->a, FIELD_HEAD + n * sizeof(*t->fields));
	if (!mem)
		{ gqls_oom(b); return; }
	t->fields = (struct gql_field *)(mem + FIELD_HEAD);
	if (n > FIELD_SCAN) {
		uint32_t cap = 16;

		while (cap < 2 * n)
			cap *= 2;
		fh = (struct field_head *)mem;
		fh->mask = cap - 1;
		fh->slots = gql_arena_calloc(b->a, cap * sizeof(*fh->slots));
		if (!fh->slots)
			{ gqls_oom(b); return; }
	}
	for (unsigned i = 0; i < ns; i++) {
		for (unsigned j = 0; j < sg[i].def->n_fields; j++, k++) {
			const struct gql_field_definition *fd = sg[i].def->fields[j];
			struct gql_field *f = &t->fields[k];
			unsigned file = sg[i].file;
			struct applied ap = { 0 };
			const struct gql_field *dup = NULL;

			f->name = fd->name.value;
			f->description = gqls_desc(fd->description);
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
				uint32_t h = gqls_hash_str(f->name) & fh->mask;

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
				gqls_err(b, file, fd->name.line, fd->name.column, "Field "
				         "\"%s.%s\" can only be defined once.", t->name,
				         f->name);
		}
	}
}

/* Names already used among the N first strings of a member list. */
static struct htab *name_set(struct builder *b, unsigned n)
{
	struct htab *h = gql_arena_calloc(&b->tmp, sizeof(*h));

	if (!h || gqls_htab_init(h, &b->tmp, n) < 0) {
		gqls_oom(b);
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
	t->input_fields = gql_arena_calloc(b->a, n * sizeof(*t->input_fields));
	if (!t->input_fields)
		{ gqls_oom(b); return; }
	for (unsigned i = 0; i < ns; i++) {
		for (unsigned j = 0; j < sg[i].def->n_input_fields; j++, k++) {
			const struct gql_input_value_definition *d =
				sg[i].def->input_fields[j];

			fill_input_value(b, sg[i].file, &t->input_fields[k], d,
			                 GQL_LOC_INPUT_FIELD_DEFINITION);
			ti->mnode[k] = d;
			ti->mfile[k] = sg[i].file;
			t->n_input_fields = k + 1;
			if (gqls_htab_get(seen, d->name.value))
				gqls_err(b, sg[i].file, d->name.line, d->name.column, "Field "
				         "\"%s.%s\" can only be defined once.", t->name,
				         d->name.value);
			else
				gqls_htab_put(seen, d->name.value, (void *)d);
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
	t->values = gql_arena_calloc(b->a, n * sizeof(*t->values));
	if (!t->values)
		{ gqls_oom(b); return; }
	for (unsigned i = 0; i < ns; i++) {
		for (unsigned j = 0; j < sg[i].def->n_values; j++, k++) {
			const struct gql_enum_value_definition *d = sg[i].def->values[j];
			struct gql_enum_value *v = &t->values[k];
			struct applied ap = { 0 };

			v->name = d->name.value;
			v->description = gqls_desc(d->description);
			apply_dirs(b, sg[i].file, d->directives, d->n_directives,
			           GQL_LOC_ENUM_VALUE, NULL, &ap);
			v->deprecated = ap.deprecated;
			v->deprecation_reason = ap.reason;
			ti->mnode[k] = d;
			ti->mfile[k] = sg[i].file;
			t->n_values = k + 1;
			gqls_check_name(b, sg[i].file, &d->name);
			if (gqls_htab_get(seen, v->name))
				gqls_err(b, sg[i].file, d->name.line, d->name.column, "Enum "
				         "value \"%s.%s\" can only be defined once.", t->name,
				         v->name);
			else
				gqls_htab_put(seen, v->name, v);
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
	out = gql_arena_calloc(b->a, n * sizeof(*out));
	ti->rnode = gql_arena_calloc(&b->tmp, n * sizeof(*ti->rnode));
	ti->rfile = gql_arena_calloc(&b->tmp, n * sizeof(*ti->rfile));
	if (!out || !ti->rnode || !ti->rfile)
		{ gqls_oom(b); return; }
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

void gqls_fill_type(struct builder *b, struct gql_stype *t)
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

void gqls_fill_directive(struct builder *b, unsigned i, bool apply)
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

void gqls_pick_roots(struct builder *b)
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
		s->description = gqls_desc(b->schema_def->description);
	}
	for (e = b->schema_exts; e; e = e->next) {
		if (ns == sizeof(sg) / sizeof(sg[0])) {
			gqls_err(b, e->file, e->def->line, e->def->column,
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
				gqls_err(b, sg[i].file, ro->line, ro->column, "There can be only "
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
				roots[op] = gqls_htab_get(&b->ix->types, defaults[op]);
	}
	s->query = roots[0];
	s->mutation = roots[1];
	s->subscription = roots[2];
}
