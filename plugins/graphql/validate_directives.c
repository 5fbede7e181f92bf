/*
 * validate_directives.c - the rules on applied directives: KnownDirectives
 * (18), UniqueDirectivesPerLocation (19), and KnownArgumentNames (20) and
 * ProvidedRequiredArguments (23) on directives.
 */
#include <string.h>

#include "validate_priv.h"

/* ---- directives and arguments ---- */

/*
 * A directive as rules 18, 19, 20 and 23 see it: a definition in the
 * document itself wins over the schema's (graphql-js reads both).
 */
struct dview {
	bool known, repeatable;
	unsigned locations;
	const struct gql_definition *ast;	/* the document's definition */
	const struct gql_directive_def *dd;	/* the schema's */
};

static unsigned ast_locations(const struct gql_definition *d)
{
	unsigned bits = 0;

	for (unsigned i = 0; i < d->n_locations; i++)
		for (unsigned b = 1; b <= GQL_LOC_INPUT_FIELD_DEFINITION; b <<= 1)
			if (strcmp(gql_dloc_name(b), d->locations[i]->value) == 0)
				bits |= b;
	return bits;
}

static struct dview directive_view(const struct vctx *v, const char *name)
{
	struct dview w = { 0 };
	long k = gqlv_smap_get(&v->doc_dirs, name);

	w.dd = gql_schema_directive(v->s, name);
	if (k >= 0) {
		w.ast = v->doc->defs[k];
		w.known = true;
		w.locations = ast_locations(w.ast);
		w.repeatable = w.ast->repeatable;
	} else if (w.dd) {
		w.known = true;
		w.locations = w.dd->locations;
		w.repeatable = w.dd->repeatable;
	}
	return w;
}

/* 19 UniqueDirectivesPerLocation; SEEN is shared by a type's extensions */
void gqlv_unique_directives_in(struct vctx *v, struct gql_directive *const *dirs,
                               unsigned n, struct dseen *seen)
{
	if (!ON(v, UNIQUE_DIRECTIVES_PER_LOCATION))
		return;
	for (unsigned i = 0; i < n; i++) {
		const struct gql_directive *d = dirs[i];
		struct dview w = directive_view(v, d->name.value);
		long k;

		if (!w.known || w.repeatable)
			continue;
		k = gqlv_smap_get(&seen->m, d->name.value);
		if (k >= 0) {
			gqlv_err_at2(v, seen->first[k]->line, seen->first[k]->column, d->line,
			             d->column, "The directive \"@%s\" can only be used once "
			             "at this location.", d->name.value);
		} else {
			gqlv_smap_put(v, &seen->m, d->name.value, seen->n);
			*PUSH(v, seen->first, seen->n, seen->cap) = d;
		}
	}
}

void gqlv_unique_directives(struct vctx *v, struct gql_directive *const *dirs,
                            unsigned n)
{
	struct dseen seen = { 0 };

	if (n > 1)
		gqlv_unique_directives_in(v, dirs, n, &seen);
}

void gqlv_walk_directives(struct vctx *v, struct gql_directive *const *dirs,
                          unsigned n, unsigned loc)
{
	bool rules = v->mode == WALK_RULES;

	for (unsigned i = 0; i < n; i++) {
		const struct gql_directive *d = dirs[i];
		const struct gql_directive_def *dd =
			gql_schema_directive(v->s, d->name.value);
		struct dview w = directive_view(v, d->name.value);
		unsigned nw = !w.known ? 0 : w.ast ? w.ast->n_args : w.dd->n_args;

		if (rules) {
			/* 18 KnownDirectives */
			if (ON(v, KNOWN_DIRECTIVES) && !w.known)
				gqlv_err_at(v, d->line, d->column, "Unknown directive \"@%s\".",
				            d->name.value);
			else if (ON(v, KNOWN_DIRECTIVES) && !(w.locations & loc))
				gqlv_err_at(v, d->line, d->column, "Directive \"@%s\" may not "
				            "be used on %s.", d->name.value, gql_dloc_name(loc));
			/* 20 KnownArgumentNames (directives) */
			for (unsigned k = 0; w.known && k < d->n_args &&
			     ON(v, KNOWN_ARGUMENT_NAMES); k++) {
				const struct gql_argument *a = d->args[k];
				const char **opts = gqlv_vcalloc(v, (nw + 1) * sizeof(*opts));
				unsigned j;

				for (j = 0; j < nw; j++)
					opts[j] = w.ast ? w.ast->args[j]->name.value :
					          w.dd->args[j].name;
				for (j = 0; j < nw && strcmp(opts[j], a->name.value); j++)
					;
				if (j < nw)
					continue;
				gqlv_err_at(v, a->line, a->column, "Unknown argument \"%s\" on "
				            "directive \"@%s\".%s", a->name.value, d->name.value,
				            gqlv_dym_list(v, a->name.value, opts, nw));
			}
			gqlv_unique_args(v, d->args, d->n_args);
		}
		for (unsigned k = 0; k < d->n_args; k++) {
			const struct gql_input_value *ad = dd ?
				gqlv_find_input(dd->args, dd->n_args, d->args[k]->name.value) :
				NULL;

			gqlv_walk_value(v, d->args[k]->value, ad ? ad->type : NULL,
			                ad && ad->default_value, true);
		}
		/* 23 ProvidedRequiredArguments (directives), on leaving */
		if (!rules || !ON(v, PROVIDED_REQUIRED_ARGUMENTS))
			continue;
		for (unsigned j = 0; j < nw; j++) {
			const char *an, *ts;
			unsigned k;

			if (w.ast) {
				const struct gql_input_value_definition *ad = w.ast->args[j];

				if (ad->type->kind != GQL_TYPE_NON_NULL || ad->default_value)
					continue;
				an = ad->name.value;
				ts = gqlv_print_type(v, ad->type);
			} else {
				if (!gqlv_required(&w.dd->args[j]))
					continue;
				an = w.dd->args[j].name;
				ts = gqlv_tref_str(v, w.dd->args[j].type);
			}
			for (k = 0; k < d->n_args; k++)
				if (strcmp(d->args[k]->name.value, an) == 0)
					break;
			if (k == d->n_args)
				gqlv_err_at(v, d->line, d->column, "Directive \"@%s\" argument "
				            "\"%s\" of type \"%s\" is required, but it was not "
				            "provided.", d->name.value, an, ts);
		}
	}
}
