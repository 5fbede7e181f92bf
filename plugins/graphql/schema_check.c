/*
 * schema_check.c - the type system validation of a built schema, with
 * graphql-js's validateSchema messages; and the comparisons of type
 * references (gql_tref_equal, gql_tref_subtype) the validator uses too.
 */
#include <stdio.h>
#include <string.h>

#include "schema_priv.h"

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

		gqls_check_name(b, file, &d->name);
		if (find_iv(args, i, a->name))
			gqls_err(b, file, d->name.line, d->name.column, "Argument "
			         "\"%s(%s:)\" can only be defined once.", owner, a->name);
		if (a->type && !gql_is_input_type(a->type)) {
			print_tref(a->type, ts, sizeof(ts));
			gqls_err(b, file, d->type->line, d->type->column, "The type of "
			         "%s(%s:) must be Input Type but got: %s.", owner, a->name,
			         ts);
		}
		if (required(a) && a->deprecated)
			gqls_err(b, file, d->line, d->column, "Required argument %s(%s:) "
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
			gqls_err(b, file, at->line, at->column, "Type %s cannot implement %s "
			         "because it would create a circular reference.", t->name,
			         iface->name);
		else
			gqls_err(b, file, at->line, at->column, "Type %s must implement %s "
			         "because it is implemented by %s.", t->name, tr->name,
			         iface->name);
	}
	for (unsigned i = 0; i < iface->n_fields; i++) {
		const struct gql_field *ifd = &iface->fields[i];
		const struct gql_field *f = gql_type_field(t, ifd->name);
		const struct gql_field_definition *fd;
		unsigned ffile;

		if (!f) {
			gqls_err(b, ti->file, ti->def->name.line, ti->def->name.column,
			         "Interface field %s.%s expected but %s does not provide it.",
			         iface->name, ifd->name, t->name);
			continue;
		}
		fd = ti->mnode[f->index];
		ffile = ti->mfile[f->index];
		if (f->type && ifd->type && !gql_tref_subtype(f->type, ifd->type)) {
			print_tref(ifd->type, s1, sizeof(s1));
			print_tref(f->type, s2, sizeof(s2));
			gqls_err(b, ffile, fd->type->line, fd->type->column, "Interface field "
			         "%s.%s expects type %s but %s.%s is type %s.", iface->name,
			         ifd->name, s1, t->name, f->name, s2);
		}
		for (unsigned k = 0; k < ifd->n_args; k++) {
			const struct gql_input_value *ia = &ifd->args[k];
			const struct gql_input_value *ta = find_iv(f->args, f->n_args,
			                                           ia->name);

			if (!ta) {
				gqls_err(b, ffile, fd->name.line, fd->name.column, "Interface field "
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
				gqls_err(b, ffile, ad->type->line, ad->type->column, "Interface "
				         "field argument %s.%s(%s:) expects type %s but "
				         "%s.%s(%s:) is type %s.", iface->name, ifd->name,
				         ia->name, s1, t->name, f->name, ta->name, s2);
			}
		}
		for (unsigned k = 0; k < f->n_args; k++) {
			const struct gql_input_value *ta = &f->args[k];

			if (required(ta) && !find_iv(ifd->args, ifd->n_args, ta->name))
				gqls_err(b, ffile, fd->args[k]->line, fd->args[k]->column,
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
		gqls_err(b, ti->file, ti->def->line, ti->def->column, "Type %s must "
		         "define one or more fields.", t->name);
	for (unsigned i = 0; i < t->n_fields; i++) {
		const struct gql_field *f = &t->fields[i];
		const struct gql_field_definition *fd = ti->mnode[i];

		gqls_check_name(b, ti->mfile[i], &fd->name);
		if (f->type && !gql_is_output_type(f->type)) {
			print_tref(f->type, ts, sizeof(ts));
			gqls_err(b, ti->mfile[i], fd->type->line, fd->type->column, "The type "
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
			gqls_err(b, ti->rfile[r], at->line, at->column, "Type %s must only "
			         "implement Interface types, it cannot implement %s.",
			         t->name, iface->name);
			continue;
		}
		if (iface == t) {
			gqls_err(b, ti->rfile[r], at->line, at->column, "Type %s cannot "
			         "implement itself because it would create a circular "
			         "reference.", t->name);
			continue;
		}
		for (k = 0; k < r && t->interfaces[k] != iface; k++)
			;
		if (k < r) {
			gqls_err(b, ti->rfile[r], at->line, at->column, "Type %s can only "
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
		gqls_err(b, ti->file, ti->def->line, ti->def->column, "Union type %s must "
		         "define one or more member types.", t->name);
	for (unsigned r = 0; r < t->n_possible; r++) {
		const struct gql_stype *m = t->possible[r];
		const struct gql_type *at = ti->rnode[r];
		unsigned k;

		for (k = 0; k < r && t->possible[k] != m; k++)
			;
		if (k < r)
			gqls_err(b, ti->rfile[r], at->line, at->column, "Union type %s can "
			         "only include type %s once.", t->name, m->name);
		else if (m->kind != GQL_OBJECT)
			gqls_err(b, ti->rfile[r], at->line, at->column, "Union type %s can "
			         "only include Object types, it cannot include %s.",
			         t->name, m->name);
	}
}

static void check_input_object(struct builder *b, struct gql_stype *t,
                               struct tinfo *ti)
{
	char ts[256];

	if (t->n_input_fields == 0)
		gqls_err(b, ti->file, ti->def->line, ti->def->column, "Input Object type "
		         "%s must define one or more fields.", t->name);
	for (unsigned i = 0; i < t->n_input_fields; i++) {
		const struct gql_input_value *f = &t->input_fields[i];
		const struct gql_input_value_definition *d = ti->mnode[i];

		gqls_check_name(b, ti->mfile[i], &d->name);
		if (f->type && !gql_is_input_type(f->type)) {
			print_tref(f->type, ts, sizeof(ts));
			gqls_err(b, ti->mfile[i], d->type->line, d->type->column, "The type of "
			         "%s.%s must be Input Type but got: %s.", t->name, f->name,
			         ts);
		}
		if (required(f) && f->deprecated)
			gqls_err(b, ti->mfile[i], d->line, d->column, "Required input field "
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

					gqls_err(b, ti->mfile[m], d->line, d->column, "Cannot "
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

	w.visited = gql_arena_calloc(&b->tmp, s->n_types);
	w.on_path = gql_arena_calloc(&b->tmp, s->n_types * sizeof(int));
	w.path = gql_arena_calloc(&b->tmp, (s->n_types + 1) * sizeof(*w.path));
	w.path_type = gql_arena_calloc(&b->tmp, (s->n_types + 1) * sizeof(unsigned));
	if (!w.visited || !w.on_path || !w.path || !w.path_type)
		{ gqls_oom(b); return; }
	for (unsigned i = 0; i < s->n_types; i++)
		if (s->types[i]->kind == GQL_INPUT_OBJECT)
			cycle_visit(&w, s->types[i]);
}

void gqls_check_roots(struct builder *b)
{
	static const char *const caps[] = { "Query", "Mutation", "Subscription" };
	struct gql_stype *roots[3] = { b->s->query, b->s->mutation,
	                               b->s->subscription };
	unsigned file = b->schema_def ? b->schema_file : (b->n_files > 1 ? 1 : 0);
	unsigned line = b->schema_def ? b->schema_def->line : 1;
	unsigned column = b->schema_def ? b->schema_def->column : 1;

	if (!roots[0])
		gqls_err(b, file, line, column, "Query root type must be provided.");
	for (unsigned op = 0; op < 3; op++) {
		const struct gql_stype *t = roots[op];

		if (!t || t->kind == GQL_OBJECT)
			continue;
		gqls_err(b, file, line, column, "%s root type must be Object type%s, it "
		         "cannot be %s.", caps[op], op ? " if provided" : "", t->name);
	}
}

void gqls_check_directives(struct builder *b)
{
	struct gql_schema *s = b->s;
	char owner[256];

	for (unsigned i = 0; i < s->n_directives; i++) {
		const struct gql_directive_def *dd = s->directives[i];
		const struct gql_definition *d = b->di[i].def;

		if (dd->builtin)
			continue;
		gqls_check_name(b, b->di[i].file, &d->name);
		snprintf(owner, sizeof(owner), "@%s", dd->name);
		if (dd->args)
			check_args(b, b->di[i].file, owner, true, dd->args, dd->n_args,
			           d->args);
	}
}

void gqls_check_types(struct builder *b)
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
				gqls_err(b, ti->file, ti->def->line, ti->def->column, "Enum type "
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
