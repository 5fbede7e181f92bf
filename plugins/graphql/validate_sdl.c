/*
 * validate_sdl.c - KnownTypeNames (5), and the type system definitions an
 * executable document may hold: ExecutableDefinitions (1) rejects them,
 * but graphql-js's other rules visit them all the same.
 */
#include <string.h>

#include "validate_priv.h"

/* ---- KnownTypeNames (5) ---- */

static const char *const standard_types[] = {
	"String", "Int", "Float", "Boolean", "ID", "__Schema", "__Type",
	"__TypeKind", "__Field", "__InputValue", "__EnumValue", "__Directive",
	"__DirectiveLocation",
};

#define N_STANDARD (sizeof(standard_types) / sizeof(standard_types[0]))

/*
 * 5 KnownTypeNames over every named type of T. The document's own type
 * definitions count as known; within a type system definition (SDL) so do
 * the standard types.
 */
void gqlv_known_type_names(struct vctx *v, const struct gql_type *t, bool sdl)
{
	const struct gql_schema *s = v->s;
	const char **opts;
	unsigned n = 0;

	if (!ON(v, KNOWN_TYPE_NAMES))
		return;
	if (t->kind != GQL_TYPE_NAMED)
		return gqlv_known_type_names(v, t->of, sdl);
	if (gqlv_lookup_type(v, t->name.value) ||
	    gqlv_smap_get(&v->doc_types, t->name.value) >= 0)
		return;
	for (unsigned i = 0; sdl && i < N_STANDARD; i++)
		if (strcmp(standard_types[i], t->name.value) == 0)
			return;
	opts = gqlv_vcalloc(v, (s->n_types + N_STANDARD + v->doc->n_defs + 1) *
	                    sizeof(*opts));
	for (unsigned i = 0; sdl && i < N_STANDARD; i++)
		opts[n++] = standard_types[i];
	for (unsigned i = 0; i < s->n_types; i++)
		if (gql_schema_type_visible(s, s->types[i]))
			opts[n++] = s->types[i]->name;
	for (unsigned i = 0; i < v->doc->n_defs; i++) {
		const struct gql_definition *d = v->doc->defs[i];

		if (d->kind >= GQL_DEF_SCALAR && d->kind <= GQL_DEF_INPUT_OBJECT &&
		    !d->extension)
			opts[n++] = d->name.value;
	}
	gqlv_err_at(v, t->line, t->column, "Unknown type \"%s\".%s", t->name.value,
	            gqlv_dym_list(v, t->name.value, opts, n));
}

/* ---- type system definitions in an executable document ---- */

static void sdl_input_values(struct vctx *v,
                             struct gql_input_value_definition *const *ivs,
                             unsigned n, unsigned loc)
{
	for (unsigned i = 0; i < n; i++) {
		const struct gql_input_value_definition *iv = ivs[i];

		gqlv_unique_directives(v, iv->directives, iv->n_directives);
		gqlv_known_type_names(v, iv->type, true);
		/* TypeInfo knows no type here: only rule 26 can fire */
		if (iv->default_value)
			gqlv_walk_value(v, iv->default_value, NULL, false, true);
		gqlv_walk_directives(v, iv->directives, iv->n_directives, loc);
	}
}

static struct dseen *type_seen(struct vctx *v, const char *name)
{
	long k = gqlv_smap_get(&v->type_seen_idx, name);
	struct dseen **slot;

	if (k >= 0)
		return v->type_seen[k];
	gqlv_smap_put(v, &v->type_seen_idx, name, v->n_type_seen);
	slot = PUSH(v, v->type_seen, v->n_type_seen, v->cap_type_seen);
	*slot = gqlv_vcalloc(v, sizeof(**slot));
	return *slot;
}

static unsigned sdl_loc(enum gql_def_kind k)
{
	switch (k) {
	case GQL_DEF_SCHEMA: return GQL_LOC_SCHEMA;
	case GQL_DEF_SCALAR: return GQL_LOC_SCALAR;
	case GQL_DEF_OBJECT: return GQL_LOC_OBJECT;
	case GQL_DEF_INTERFACE: return GQL_LOC_INTERFACE;
	case GQL_DEF_UNION: return GQL_LOC_UNION;
	case GQL_DEF_ENUM: return GQL_LOC_ENUM;
	default: return GQL_LOC_INPUT_OBJECT;
	}
}

/*
 * graphql-js's rules also visit type system definitions (which
 * ExecutableDefinitions rejects): directives, type names, argument names
 * and values there are checked as anywhere else, in AST order.
 */
void gqlv_walk_sdl(struct vctx *v, const struct gql_definition *d)
{
	if (d->kind == GQL_DEF_DIRECTIVE) {
		sdl_input_values(v, d->args, d->n_args, GQL_LOC_ARGUMENT_DEFINITION);
		return;
	}
	gqlv_unique_directives_in(v, d->directives, d->n_directives,
	                          d->kind == GQL_DEF_SCHEMA ? &v->schema_seen :
	                          type_seen(v, d->name.value));
	switch (d->kind) {
	case GQL_DEF_SCHEMA:
		gqlv_walk_directives(v, d->directives, d->n_directives, GQL_LOC_SCHEMA);
		for (unsigned i = 0; i < d->n_root_ops; i++)
			gqlv_known_type_names(v, d->root_ops[i]->type, true);
		break;
	case GQL_DEF_OBJECT:
	case GQL_DEF_INTERFACE:
		for (unsigned i = 0; i < d->n_interfaces; i++)
			gqlv_known_type_names(v, d->interfaces[i], true);
		gqlv_walk_directives(v, d->directives, d->n_directives, sdl_loc(d->kind));
		for (unsigned i = 0; i < d->n_fields; i++) {
			const struct gql_field_definition *f = d->fields[i];

			gqlv_unique_directives(v, f->directives, f->n_directives);
			sdl_input_values(v, f->args, f->n_args,
			                 GQL_LOC_ARGUMENT_DEFINITION);
			gqlv_known_type_names(v, f->type, true);
			gqlv_walk_directives(v, f->directives, f->n_directives,
			                     GQL_LOC_FIELD_DEFINITION);
		}
		break;
	case GQL_DEF_UNION:
		gqlv_walk_directives(v, d->directives, d->n_directives, GQL_LOC_UNION);
		for (unsigned i = 0; i < d->n_types; i++)
			gqlv_known_type_names(v, d->types[i], true);
		break;
	case GQL_DEF_ENUM:
		gqlv_walk_directives(v, d->directives, d->n_directives, GQL_LOC_ENUM);
		for (unsigned i = 0; i < d->n_values; i++) {
			gqlv_unique_directives(v, d->values[i]->directives,
			                       d->values[i]->n_directives);
			gqlv_walk_directives(v, d->values[i]->directives,
			                     d->values[i]->n_directives, GQL_LOC_ENUM_VALUE);
		}
		break;
	case GQL_DEF_INPUT_OBJECT:
		gqlv_walk_directives(v, d->directives, d->n_directives,
		                     GQL_LOC_INPUT_OBJECT);
		sdl_input_values(v, d->input_fields, d->n_input_fields,
		                 GQL_LOC_INPUT_FIELD_DEFINITION);
		break;
	default:
		gqlv_walk_directives(v, d->directives, d->n_directives, sdl_loc(d->kind));
		break;
	}
}
