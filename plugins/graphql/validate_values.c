/*
 * validate_values.c - the rules on arguments, values and variables:
 * VariablesAreInputTypes (7), UniqueVariableNames (15), NoUndefinedVariables
 * (16), NoUnusedVariables (17), UniqueArgumentNames (21),
 * ValuesOfCorrectType (22), VariablesInAllowedPosition (24) and
 * UniqueInputFieldNames (26). Walking values is also how the first walk
 * records variable usages.
 */
#include <string.h>

#include "validate_priv.h"

/* ---- ValuesOfCorrectType (22) ---- */

static const char *enum_suggestion(struct vctx *v, const struct gql_stype *e,
                                   const char *s)
{
	const char **names = gqlv_vcalloc(v, (e->n_values + 1) * sizeof(*names));
	const char **sug;
	unsigned n;

	for (unsigned i = 0; i < e->n_values; i++)
		names[i] = e->values[i].name;
	sug = gqlv_suggest(v, s, names, e->n_values, &n);
	return gqlv_did_you_mean(v, "the enum value", sug, n);
}

/* An Int literal's text fits 32 bits (parseInt, then a range check). */
static bool int32_ok(const char *s)
{
	const char *d = s + (*s == '-');
	size_t n;

	while (*d == '0' && d[1])
		d++;
	n = strlen(d);
	if (n > 10)
		return false;
	if (n < 10)
		return true;
	return strcmp(d, *s == '-' ? "2147483648" : "2147483647") <= 0;
}

/* isValidValueNode: a literal (or a list/object not expected) at TYPE. */
static void check_literal(struct vctx *v, const struct gql_value *val,
                          const struct gql_tref *type)
{
	const struct gql_stype *t = gql_tref_named(type);
	const char *n;
	int k = val->kind;

	if (!t)
		return;
	if (!gqlv_is_leaf(t)) {
		gqlv_err_at(v, val->line, val->column, "Expected value of type \"%s\", "
		            "found %s.", gqlv_tref_str(v, type), gqlv_print_value(v, val));
		return;
	}
	if (t->kind == GQL_ENUM) {
		const char *p;

		if (k != GQL_VALUE_ENUM) {
			p = gqlv_print_value(v, val);
			gqlv_err_at(v, val->line, val->column, "Enum \"%s\" cannot represent "
			            "non-enum value: %s.%s", t->name, p,
			            enum_suggestion(v, t, p));
			return;
		}
		for (unsigned i = 0; i < t->n_values; i++)
			if (strcmp(t->values[i].name, val->str) == 0)
				return;
		gqlv_err_at(v, val->line, val->column, "Value \"%s\" does not exist in "
		            "\"%s\" enum.%s", val->str, t->name,
		            enum_suggestion(v, t, val->str));
		return;
	}
	if (!t->builtin)
		return;		/* custom scalars take any literal */
	n = t->name;
	if (strcmp(n, "Int") == 0) {
		if (k != GQL_VALUE_INT)
			gqlv_err_at(v, val->line, val->column, "Int cannot represent "
			            "non-integer value: %s", gqlv_print_value(v, val));
		else if (!int32_ok(val->str))
			gqlv_err_at(v, val->line, val->column, "Int cannot represent non "
			            "32-bit signed integer value: %s", val->str);
	} else if (strcmp(n, "Float") == 0) {
		if (k != GQL_VALUE_INT && k != GQL_VALUE_FLOAT)
			gqlv_err_at(v, val->line, val->column, "Float cannot represent "
			            "non numeric value: %s", gqlv_print_value(v, val));
	} else if (strcmp(n, "String") == 0) {
		if (k != GQL_VALUE_STRING)
			gqlv_err_at(v, val->line, val->column, "String cannot represent a "
			            "non string value: %s", gqlv_print_value(v, val));
	} else if (strcmp(n, "Boolean") == 0) {
		if (k != GQL_VALUE_BOOLEAN)
			gqlv_err_at(v, val->line, val->column, "Boolean cannot represent a "
			            "non boolean value: %s", gqlv_print_value(v, val));
	} else if (strcmp(n, "ID") == 0) {
		if (k != GQL_VALUE_STRING && k != GQL_VALUE_INT)
			gqlv_err_at(v, val->line, val->column, "ID cannot represent a "
			            "non-string and non-integer value: %s",
			            gqlv_print_value(v, val));
	}
}

/*
 * A value where TYPE is expected (NULL: unknown), HAS_DEFAULT if the
 * argument or input field has a default. VCT: ValuesOfCorrectType still
 * looks at this subtree (it stops below a list or object it rejected).
 */
void gqlv_walk_value(struct vctx *v, const struct gql_value *val,
                     const struct gql_tref *type, bool has_default, bool vct)
{
	bool rules = v->mode == WALK_RULES;

	vct = vct && ON(v, VALUES_OF_CORRECT_TYPE);
	switch (val->kind) {
	case GQL_VALUE_VARIABLE:
		if (v->mode == WALK_USAGES) {
			struct defn *d = v->cur;
			struct usage *u = PUSH(v, d->usages, d->n_usages, d->cap_usages);

			u->node = val;
			u->type = type;
			u->has_default = has_default;
		}
		return;
	case GQL_VALUE_NULL:
		if (rules && vct && type && type->kind == GQL_TYPE_NON_NULL &&
		    ON(v, VALUES_OF_CORRECT_TYPE))
			gqlv_err_at(v, val->line, val->column, "Expected value of type "
			            "\"%s\", found null.", gqlv_tref_str(v, type));
		return;
	case GQL_VALUE_LIST: {
		const struct gql_tref *lt = gqlv_nullable(type);
		const struct gql_tref *item = lt && lt->kind == GQL_TYPE_LIST ?
		                              lt->of : lt;

		if (item && !gql_is_input_type(item))
			item = NULL;
		if (rules && vct && !(lt && lt->kind == GQL_TYPE_LIST)) {
			check_literal(v, val, item);
			vct = false;
		}
		for (unsigned i = 0; i < val->n_items; i++)
			gqlv_walk_value(v, val->items[i], item, false, vct);
		return;
	}
	case GQL_VALUE_OBJECT: {
		const struct gql_stype *t = gql_tref_named(type);
		bool in_obj = t && t->kind == GQL_INPUT_OBJECT;
		const char **names = gqlv_vcalloc(v, (val->n_fields + 1) * sizeof(*names));
		unsigned *first;
		struct smap present = { 0 };

		for (unsigned i = 0; i < val->n_fields; i++)
			names[i] = val->fields[i]->name.value;
		first = gqlv_first_index(v, names, val->n_fields);
		if (rules && vct && !in_obj) {
			check_literal(v, val, type);
			vct = false;
		} else if (rules && vct) {
			for (unsigned i = 0; i < val->n_fields; i++)
				if (first[i] == i)
					gqlv_smap_put(v, &present, names[i], i);
			for (unsigned i = 0; i < t->n_input_fields; i++) {
				const struct gql_input_value *f = &t->input_fields[i];

				if (gqlv_required(f) && gqlv_smap_get(&present, f->name) < 0)
					gqlv_err_at(v, val->line, val->column, "Field \"%s.%s\" of "
					            "required type \"%s\" was not provided.",
					            t->name, f->name, gqlv_tref_str(v, f->type));
			}
		}
		for (unsigned i = 0; i < val->n_fields; i++) {
			const struct gql_argument *of = val->fields[i];
			const struct gql_input_value *fd = in_obj ?
				gqlv_find_input(t->input_fields, t->n_input_fields,
				                of->name.value) : NULL;
			const struct gql_tref *ft = fd && gql_is_input_type(fd->type) ?
			                            fd->type : NULL;

			if (rules && vct && in_obj && !ft) {
				const char **opts = gqlv_vcalloc(v, (t->n_input_fields + 1) *
				                                sizeof(*opts));

				for (unsigned k = 0; k < t->n_input_fields; k++)
					opts[k] = t->input_fields[k].name;
				gqlv_err_at(v, of->line, of->column, "Field \"%s\" is not "
				            "defined by type \"%s\".%s", of->name.value, t->name,
				            gqlv_dym_list(v, of->name.value, opts,
				                          t->n_input_fields));
			}
			/* 26 UniqueInputFieldNames */
			if (rules && first[i] != i && ON(v, UNIQUE_INPUT_FIELD_NAMES)) {
				const struct gql_argument *f0 = val->fields[first[i]];

				gqlv_err_at2(v, f0->name.line, f0->name.column, of->name.line,
				             of->name.column, "There can be only one input field "
				             "named \"%s\".", of->name.value);
			}
			gqlv_walk_value(v, of->value, ft, fd && fd->default_value, vct);
		}
		return;
	}
	default:
		if (rules && vct)
			check_literal(v, val, type);
		return;
	}
}

/* ---- arguments ---- */

/* 21 UniqueArgumentNames over ARGS[0..N) */
void gqlv_unique_args(struct vctx *v, struct gql_argument *const *args,
                      unsigned n)
{
	const char **names;
	unsigned *first, *count;

	if (n < 2 || !ON(v, UNIQUE_ARGUMENT_NAMES))
		return;
	names = gqlv_vcalloc(v, n * sizeof(*names));
	count = gqlv_vcalloc(v, n * sizeof(*count));
	for (unsigned i = 0; i < n; i++)
		names[i] = args[i]->name.value;
	first = gqlv_first_index(v, names, n);
	for (unsigned i = 0; i < n; i++)
		count[first[i]]++;
	for (unsigned i = 0; i < n; i++) {
		struct gql_vloc *l;
		unsigned k = 0;

		if (first[i] != i || count[i] < 2)
			continue;
		l = gqlv_vcalloc(v, count[i] * sizeof(*l));
		for (unsigned j = i; j < n; j++)
			if (first[j] == i) {
				l[k].line = args[j]->name.line;
				l[k++].column = args[j]->name.column;
			}
		gqlv_report(v, gqlv_fmt(v, "There can be only one argument named \"%s\".",
		                        names[i]), k, l);
	}
}

/* ---- variables ---- */

/* 15 UniqueVariableNames */
void gqlv_unique_variable_names(struct vctx *v, const struct gql_definition *op)
{
	unsigned n = op->n_variables, *first, *count;
	const char **names;

	if (n < 2 || !ON(v, UNIQUE_VARIABLE_NAMES))
		return;
	names = gqlv_vcalloc(v, n * sizeof(*names));
	count = gqlv_vcalloc(v, n * sizeof(*count));
	for (unsigned i = 0; i < n; i++)
		names[i] = op->variables[i]->name.value;
	first = gqlv_first_index(v, names, n);
	for (unsigned i = 0; i < n; i++)
		count[first[i]]++;
	for (unsigned i = 0; i < n; i++) {
		struct gql_vloc *l;
		unsigned k = 0;

		if (first[i] != i || count[i] < 2)
			continue;
		l = gqlv_vcalloc(v, count[i] * sizeof(*l));
		for (unsigned j = i; j < n; j++)
			if (first[j] == i) {
				l[k].line = op->variables[j]->name.line;
				l[k++].column = op->variables[j]->name.column;
			}
		gqlv_report(v, gqlv_fmt(v, "There can be only one variable named \"$%s\".",
		                        names[i]), k, l);
	}
}

void gqlv_walk_variable_definition(struct vctx *v,
                                   const struct gql_variable_definition *vd)
{
	const struct gql_tref *t = gqlv_tref_from_ast(v, vd->type);

	if (v->mode == WALK_RULES) {
		/* 7 VariablesAreInputTypes */
		if (t && !gql_is_input_type(t) && ON(v, VARIABLES_ARE_INPUT_TYPES))
			gqlv_err_at(v, vd->type->line, vd->type->column, "Variable \"$%s\" "
			            "cannot be non-input type \"%s\".", vd->name.value,
			            gqlv_print_type(v, vd->type));
		gqlv_unique_directives(v, vd->directives, vd->n_directives);
	}
	gqlv_known_type_names(v, vd->type, false);
	if (vd->default_value)
		gqlv_walk_value(v, vd->default_value, t && gql_is_input_type(t) ? t : NULL,
		                false, true);
	gqlv_walk_directives(v, vd->directives, vd->n_directives,
	                     GQL_LOC_VARIABLE_DEFINITION);
}

/* VariablesInAllowedPosition's allowedVariableUsage */
static bool usage_allowed(const struct gql_tref *var_type,
                          const struct gql_value *var_default,
                          const struct gql_tref *loc_type, bool loc_default)
{
	if (loc_type->kind == GQL_TYPE_NON_NULL &&
	    var_type->kind != GQL_TYPE_NON_NULL) {
		if (!(var_default && var_default->kind != GQL_VALUE_NULL) &&
		    !loc_default)
			return false;
		return gql_tref_subtype(var_type, loc_type->of);
	}
	return gql_tref_subtype(var_type, loc_type);
}

/* 16, 17 and 24, on leaving operation D */
void gqlv_operation_leave(struct vctx *v, struct defn *d)
{
	const struct gql_definition *op = d->def;
	const char *name = op->name.value;
	struct smap defined = { 0 }, used = { 0 };
	unsigned nr, *refs = gqlv_referenced(v, d, &nr);

	for (unsigned i = 0; i < op->n_variables; i++)
		gqlv_smap_put(v, &defined, op->variables[i]->name.value, i);
	for (unsigned r = 0; r <= nr; r++) {
		const struct defn *src = r ? &v->defs[refs[r - 1]] : d;

		for (unsigned i = 0; i < src->n_usages; i++) {
			const struct gql_value *u = src->usages[i].node;

			gqlv_smap_put(v, &used, u->str, 1);
			if (gqlv_smap_get(&defined, u->str) >= 0 ||
			    !ON(v, NO_UNDEFINED_VARIABLES))
				continue;
			if (name)
				gqlv_err_at2(v, u->line, u->column, op->line, op->column,
				             "Variable \"$%s\" is not defined by operation "
				             "\"%s\".", u->str, name);
			else
				gqlv_err_at2(v, u->line, u->column, op->line, op->column,
				             "Variable \"$%s\" is not defined.", u->str);
		}
	}
	for (unsigned i = 0; i < op->n_variables; i++) {
		const struct gql_variable_definition *vd = op->variables[i];

		if (gqlv_smap_get(&used, vd->name.value) >= 0 ||
		    !ON(v, NO_UNUSED_VARIABLES))
			continue;
		if (name)
			gqlv_err_at(v, vd->line, vd->column, "Variable \"$%s\" is never used "
			            "in operation \"%s\".", vd->name.value, name);
		else
			gqlv_err_at(v, vd->line, vd->column, "Variable \"$%s\" is never "
			            "used.", vd->name.value);
	}
	for (unsigned r = 0; r <= nr; r++) {
		const struct defn *src = r ? &v->defs[refs[r - 1]] : d;

		for (unsigned i = 0; i < src->n_usages; i++) {
			const struct usage *u = &src->usages[i];
			long k = gqlv_smap_get(&defined, u->node->str);
			const struct gql_variable_definition *vd;
			const struct gql_tref *vt;

			if (k < 0 || !u->type || !ON(v, VARIABLES_IN_ALLOWED_POSITION))
				continue;
			vd = op->variables[k];
			vt = gqlv_tref_from_ast(v, vd->type);
			if (vt && !usage_allowed(vt, vd->default_value, u->type,
			                         u->has_default))
				gqlv_err_at2(v, vd->line, vd->column, u->node->line,
				             u->node->column, "Variable \"$%s\" of type \"%s\" "
				             "used in position expecting type \"%s\".",
				             u->node->str, gqlv_tref_str(v, vt), gqlv_tref_str(v, u->type));
		}
	}
}
