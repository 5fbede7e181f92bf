/*
 * intro.c - introspection (specification 4.2, __schema and __type) answered
 * from the schema in C, depth first, with no Lua. The introspection types
 * themselves come from the schema (schema.c builds them), so a query selects
 * from them like from any other object type.
 */
#include <string.h>

#include "exec_priv.h"
#include "printer.h"

enum {
	IV_NULL = 0, IV_STR, IV_BOOL, IV_LIST, IV_SCHEMA, IV_TYPE, IV_WRAP, IV_FIELD, IV_INPUT,
	IV_ENUMV, IV_DIRECTIVE,
};

struct ival {
	int kind;
	const void *p;
	bool b;
	struct ival *items;     /* IV_LIST */
	unsigned n;
};

static struct ival *list_new(struct gql_exec *e, struct ival *out, unsigned n)
{
	out->kind = IV_LIST;
	out->n = 0;
	if (!(out->items = gql_arena_calloc(&e->arena, (n + 1) * sizeof(*out->items))))
		e->fatal = 1;
	return out->items;
}

static struct ival str(const char *s)
{
	return (struct ival){ .kind = s ? IV_STR : IV_NULL, .p = s };
}

static struct ival boolean(bool b)
{
	return (struct ival){ .kind = IV_BOOL, .b = b };
}

static struct ival tref_ival(const struct gql_tref *t)
{
	if (!t)
		return (struct ival){ 0 };
	if (t->kind == GQL_TYPE_NAMED)
		return (struct ival){ .kind = IV_TYPE, .p = t->named };
	return (struct ival){ .kind = IV_WRAP, .p = t };
}

static bool include_deprecated(struct gql_exec *e, struct cfield *cf)
{
	const struct gv *v;

	if (gql_coerce_field_args(e, cf) < 0)
		return false;
	v = gv_field(cf->args, "includeDeprecated");
	return v && v->kind == GV_BOOL && v->b;
}

static const char *kind_name(const struct gql_stype *t)
{
	switch (t->kind) {
	case GQL_SCALAR: return "SCALAR";
	case GQL_OBJECT: return "OBJECT";
	case GQL_INTERFACE: return "INTERFACE";
	case GQL_UNION: return "UNION";
	case GQL_ENUM: return "ENUM";
	case GQL_INPUT_OBJECT: return "INPUT_OBJECT";
	}
	return "SCALAR";
}

static void input_list(struct gql_exec *e, struct ival *out, const struct gql_input_value *iv,
                       unsigned n, bool all)
{
	struct ival *items = list_new(e, out, n);

	for (unsigned i = 0; items && i < n; i++)
		if (all || !iv[i].deprecated)
			items[out->n++] = (struct ival){ .kind = IV_INPUT, .p = &iv[i] };
}

static const struct gql_stype *named_of(const struct gql_tref *t)
{
	while (t && t->kind != GQL_TYPE_NAMED)
		t = t->of;
	return t ? t->named : NULL;
}

static int args_use(const struct gql_input_value *a, unsigned n, const struct gql_stype *t)
{
	for (unsigned i = 0; i < n; i++)
		if (named_of(a[i].type) == t)
			return 1;
	return 0;
}

/* Whether a field, argument or input field of the schema (introspection's
 * own types and the directives included) refers to T. */
static int type_used(const struct gql_schema *s, const struct gql_stype *t)
{
	for (unsigned i = 0; i < s->n_types; i++) {
		const struct gql_stype *u = s->types[i];

		for (unsigned k = 0; k < u->n_fields; k++)
			if (named_of(u->fields[k].type) == t ||
			    args_use(u->fields[k].args, u->fields[k].n_args, t))
				return 1;
		if (args_use(u->input_fields, u->n_input_fields, t))
			return 1;
	}
	for (unsigned i = 0; i < s->n_directives; i++)
		if (args_use(s->directives[i]->args, s->directives[i]->n_args, t))
			return 1;
	return 0;
}

/* __schema.types: a standard scalar that nothing refers to is left out, as
 * graphql-js leaves it out of its type map (Float in a schema without one). */
static void type_list(struct gql_exec *e, struct ival *out, struct gql_stype *const *ts,
                      unsigned n)
{
	struct ival *items = list_new(e, out, n);

	for (unsigned i = 0; items && i < n; i++)
		items[out->n++] = (struct ival){ .kind = IV_TYPE, .p = ts[i] };
}

static void schema_types(struct gql_exec *e, struct ival *out, const struct gql_schema *s)
{
	struct ival *items = list_new(e, out, s->n_types);

	for (unsigned i = 0; items && i < s->n_types; i++) {
		const struct gql_stype *t = s->types[i];

		if (t->builtin && t->kind == GQL_SCALAR && !type_used(s, t))
			continue;
		items[out->n++] = (struct ival){ .kind = IV_TYPE, .p = t };
	}
}

/* The value of field CF of the introspection object OBJ. */
static struct ival field_of(struct gql_exec *e, struct cfield *cf, const struct ival *obj)
{
	const char *f = cf->def->name;
	struct ival out = { 0 };

	switch (obj->kind) {
	case IV_SCHEMA: {
		const struct gql_schema *s = obj->p;

		if (!strcmp(f, "description"))
			return str(s->description);
		if (!strcmp(f, "types")) {
			schema_types(e, &out, s);
		} else if (!strcmp(f, "queryType")) {
			out = (struct ival){ .kind = IV_TYPE, .p = s->query };
		} else if (!strcmp(f, "mutationType")) {
			if (s->mutation)
				out = (struct ival){ .kind = IV_TYPE, .p = s->mutation };
		} else if (!strcmp(f, "subscriptionType")) {
			if (s->subscription)
				out = (struct ival){ .kind = IV_TYPE, .p = s->subscription };
		} else if (!strcmp(f, "directives")) {
			struct ival *items = list_new(e, &out, s->n_directives);

			for (unsigned i = 0; items && i < s->n_directives; i++)
				items[out.n++] = (struct ival){ .kind = IV_DIRECTIVE, .p = s->directives[i] };
		}
		return out;
	}
	case IV_WRAP: {
		const struct gql_tref *t = obj->p;

		if (!strcmp(f, "kind"))
			return str(t->kind == GQL_TYPE_LIST ? "LIST" : "NON_NULL");
		if (!strcmp(f, "ofType"))
			return tref_ival(t->of);
		return out;   /* every other field of a wrapper is null */
	}
	case IV_TYPE: {
		const struct gql_stype *t = obj->p;
		bool all;

		if (!strcmp(f, "kind"))
			return str(kind_name(t));
		if (!strcmp(f, "name"))
			return str(t->name);
		if (!strcmp(f, "description"))
			return str(t->description);
		if (!strcmp(f, "specifiedByURL"))
			return str(t->kind == GQL_SCALAR ? t->specified_by : NULL);
		if (!strcmp(f, "isOneOf"))
			return t->kind == GQL_INPUT_OBJECT ? boolean(false) : out;
		if (!strcmp(f, "ofType"))
			return out;
		if (!strcmp(f, "fields")) {
			if (t->kind != GQL_OBJECT && t->kind != GQL_INTERFACE)
				return out;
			all = include_deprecated(e, cf);
			struct ival *items = list_new(e, &out, t->n_fields);

			for (unsigned i = 0; items && i < t->n_fields; i++)
				if (all || !t->fields[i].deprecated)
					items[out.n++] = (struct ival){ .kind = IV_FIELD, .p = &t->fields[i] };
			return out;
		}
		if (!strcmp(f, "interfaces")) {
			if (t->kind == GQL_OBJECT || t->kind == GQL_INTERFACE)
				type_list(e, &out, t->interfaces, t->n_interfaces);
			return out;
		}
		if (!strcmp(f, "possibleTypes")) {
			if (t->kind == GQL_INTERFACE || t->kind == GQL_UNION)
				type_list(e, &out, t->possible, t->n_possible);
			return out;
		}
		if (!strcmp(f, "enumValues")) {
			if (t->kind != GQL_ENUM)
				return out;
			all = include_deprecated(e, cf);
			struct ival *items = list_new(e, &out, t->n_values);

			for (unsigned i = 0; items && i < t->n_values; i++)
				if (all || !t->values[i].deprecated)
					items[out.n++] = (struct ival){ .kind = IV_ENUMV, .p = &t->values[i] };
			return out;
		}
		if (!strcmp(f, "inputFields")) {
			if (t->kind == GQL_INPUT_OBJECT)
				input_list(e, &out, t->input_fields, t->n_input_fields,
				           include_deprecated(e, cf));
			return out;
		}
		return out;
	}
	case IV_FIELD: {
		const struct gql_field *fd = obj->p;

		if (!strcmp(f, "name"))
			return str(fd->name);
		if (!strcmp(f, "description"))
			return str(fd->description);
		if (!strcmp(f, "args"))
			input_list(e, &out, fd->args, fd->n_args, include_deprecated(e, cf));
		else if (!strcmp(f, "type"))
			return tref_ival(fd->type);
		else if (!strcmp(f, "isDeprecated"))
			return boolean(fd->deprecated);
		else if (!strcmp(f, "deprecationReason"))
			return str(fd->deprecated ? fd->deprecation_reason : NULL);
		return out;
	}
	case IV_INPUT: {
		const struct gql_input_value *iv = obj->p;

		if (!strcmp(f, "name"))
			return str(iv->name);
		if (!strcmp(f, "description"))
			return str(iv->description);
		if (!strcmp(f, "type"))
			return tref_ival(iv->type);
		if (!strcmp(f, "defaultValue")) {
			size_t n;

			return str(iv->default_value ? gql_print_value(&e->arena, iv->default_value, &n) :
			           NULL);
		}
		if (!strcmp(f, "isDeprecated"))
			return boolean(iv->deprecated);
		if (!strcmp(f, "deprecationReason"))
			return str(iv->deprecated ? iv->deprecation_reason : NULL);
		return out;
	}
	case IV_ENUMV: {
		const struct gql_enum_value *ev = obj->p;

		if (!strcmp(f, "name"))
			return str(ev->name);
		if (!strcmp(f, "description"))
			return str(ev->description);
		if (!strcmp(f, "isDeprecated"))
			return boolean(ev->deprecated);
		if (!strcmp(f, "deprecationReason"))
			return str(ev->deprecated ? ev->deprecation_reason : NULL);
		return out;
	}
	case IV_DIRECTIVE: {
		const struct gql_directive_def *d = obj->p;

		if (!strcmp(f, "name"))
			return str(d->name);
		if (!strcmp(f, "description"))
			return str(d->description);
		if (!strcmp(f, "isRepeatable"))
			return boolean(d->repeatable);
		if (!strcmp(f, "locations")) {
			struct ival *items = list_new(e, &out, 32);

			for (unsigned bit = 0; items && bit < 32; bit++)
				if (d->locations & (1u << bit) && gql_dloc_name(1u << bit))
					items[out.n++] = str(gql_dloc_name(1u << bit));
		} else if (!strcmp(f, "args")) {
			input_list(e, &out, d->args, d->n_args, include_deprecated(e, cf));
		}
		return out;
	}
	}
	return out;
}

static void complete_c(struct gql_exec *e, struct cfield *cf, const struct gql_tref *t,
                       const struct ival *v, struct rnode *slot, int depth)
{
	struct jbuf b = { 0 };

	if (!slot || e->fatal)
		return;
	if (depth > 200) {
		gql_field_error(e, cf, slot, "introspection nested too deeply", NULL);
		gql_null_out(e, slot);
		return;
	}
	if (t->kind == GQL_TYPE_NON_NULL) {
		if (v->kind == IV_NULL) {
			gql_field_error(e, cf, slot, gql_fmt(&e->arena, "Cannot return null for "
			                "non-nullable field %s.%s.", cf->parent->name, cf->def->name),
			                NULL);
			gql_null_out(e, slot);
			return;
		}
		t = t->of;
	}
	if (v->kind == IV_NULL) {
		slot->kind = RN_NULL;
		return;
	}
	if (t->kind == GQL_TYPE_LIST) {
		if (v->kind != IV_LIST) {
			slot->kind = RN_NULL;
			return;
		}
		slot->kind = slot->shape = RN_LIST;
		slot->u.list.n = v->n;
		if (!(slot->u.list.v = gql_arena_alloc(&e->arena, (v->n + 1) * sizeof(struct rnode *)))) {
			e->fatal = 1;
			return;
		}
		for (unsigned i = 0; i < v->n && slot->kind == RN_LIST; i++) {
			struct rnode *item = gql_rnode(e, slot, i, t->of->kind == GQL_TYPE_NON_NULL);

			slot->u.list.v[i] = item;
			complete_c(e, cf, t->of, &v->items[i], item, depth + 1);
		}
		return;
	}
	if (t->named->kind != GQL_OBJECT) {
		if (v->kind == IV_BOOL)
			jb_put(&b, v->b ? "true" : "false", v->b ? 4 : 5);
		else if (v->kind == IV_STR)
			jb_cstr(&b, v->p);
		else
			jb_put(&b, "null", 4);
		if (b.oom) {
			e->fatal = 1;
		} else {
			slot->kind = RN_RAW;
			slot->u.raw.s = gql_arena_strndup(&e->arena, b.p, b.n);
			slot->u.raw.n = b.n;
		}
		free(b.p);
		return;
	}
	{
		struct plan *p = gql_subplan(e, cf, t->named);

		if (!p)
			return;
		slot->kind = slot->shape = RN_OBJ;
		slot->u.obj.plan = p;
		if (!(slot->u.obj.v = gql_arena_calloc(&e->arena, (p->n + 1) * sizeof(struct rnode *)))) {
			e->fatal = 1;
			return;
		}
		for (unsigned i = 0; i < p->n && slot->kind == RN_OBJ; i++) {
			struct cfield *f = &p->f[i];
			struct rnode *fs = gql_rnode(e, slot, i, f->def->type->kind == GQL_TYPE_NON_NULL);
			struct ival fv;

			slot->u.obj.v[i] = fs;
			if (!fs)
				return;
			if (f->meta == META_TYPENAME) {
				fv = str(p->type->name);
				complete_c(e, f, f->def->type, &fv, fs, depth + 1);
				continue;
			}
			fv = field_of(e, f, v);
			complete_c(e, f, f->def->type, &fv, fs, depth + 1);
		}
	}
}

void gql_intro_field(struct gql_exec *e, struct cfield *cf, struct rnode *at)
{
	struct ival v = { 0 };

	if (cf->meta == META_SCHEMA) {
		v = (struct ival){ .kind = IV_SCHEMA, .p = e->s };
	} else {
		const struct gv *name;
		const struct gql_stype *t;

		if (gql_coerce_field_args(e, cf) < 0) {
			gql_field_error(e, cf, at, cf->args_err, NULL);
			gql_null_out(e, at);
			return;
		}
		name = gv_field(cf->args, "name");
		t = name && name->kind == GV_STRING ? gql_schema_type(e->s, name->s) : NULL;
		if (t)
			v = (struct ival){ .kind = IV_TYPE, .p = t };
	}
	complete_c(e, cf, cf->def->type, &v, at, 0);
}
