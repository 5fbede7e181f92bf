/*
 * coerce.c - input coercion (specification 6.1.2 CoerceVariableValues,
 * 6.4.1 CoerceArgumentValues, and graphql-js valueFromAST) with graphql-js's
 * error messages, into arena-allocated values (struct gv).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "exec_priv.h"
#include "printer.h"

char *gql_fmt(struct gql_arena *a, const char *fmt, ...)
{
	va_list ap;
	char tmp[1024];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	return gql_arena_strndup(a, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static struct gv *gv_new(struct gql_arena *a, enum gv_kind k)
{
	struct gv *v = gql_arena_calloc(a, sizeof(*v));

	if (v)
		v->kind = k;
	return v;
}

static const char *tref_text(struct gql_arena *a, const struct gql_tref *t)
{
	char buf[256];

	gql_tref_print(t, buf, sizeof(buf));
	return gql_arena_strdup(a, buf);
}

const struct gv *gvars_get(const struct gvars *vars, const char *name)
{
	for (unsigned i = 0; vars && i < vars->n; i++)
		if (!strcmp(vars->v[i].name, name))
			return vars->v[i].value;
	return NULL;
}

const struct gv *gv_field(const struct gv *obj, const char *name)
{
	for (unsigned i = 0; obj && obj->kind == GV_OBJECT && i < obj->n; i++)
		if (!strcmp(obj->keys[i], name))
			return obj->items[i];
	return NULL;
}

/* ---- graphql-js inspect() of a JSON value -------------------------------- */

static void inspect(struct jbuf *b, json_t *v, int depth)
{
	size_t i, n;
	const char *k;
	json_t *e;

	switch (json_typeof(v)) {
	case JSON_NULL: jb_put(b, "null", 4); return;
	case JSON_TRUE: jb_put(b, "true", 4); return;
	case JSON_FALSE: jb_put(b, "false", 5); return;
	case JSON_INTEGER: jb_fmt(b, "%lld", (long long)json_integer_value(v)); return;
	case JSON_REAL: jb_num(b, json_real_value(v)); return;
	case JSON_STRING: jb_str(b, json_string_value(v), json_string_length(v)); return;
	case JSON_ARRAY:
		n = json_array_size(v);
		if (n == 0) {
			jb_put(b, "[]", 2);
			return;
		}
		if (depth >= 2) {
			jb_put(b, "[Array]", 7);
			return;
		}
		jb_putc(b, '[');
		for (i = 0; i < n && i < 10; i++) {
			if (i)
				jb_put(b, ", ", 2);
			inspect(b, json_array_get(v, i), depth + 1);
		}
		if (n > 10)
			jb_fmt(b, ", ... %zu more item%s", n - 10, n - 10 > 1 ? "s" : "");
		jb_putc(b, ']');
		return;
	case JSON_OBJECT:
		if (json_object_size(v) == 0) {
			jb_put(b, "{}", 2);
			return;
		}
		if (depth >= 2) {
			jb_put(b, "[Object]", 8);
			return;
		}
		jb_put(b, "{ ", 2);
		i = 0;
		json_object_foreach(v, k, e) {
			if (i++)
				jb_put(b, ", ", 2);
			jb_cstr(b, k);   /* unquoted by inspect_text, as graphql-js prints keys */
			jb_put(b, ": ", 2);
			inspect(b, e, depth + 1);
		}
		jb_put(b, " }", 2);
		return;
	}
}

/* graphql-js prints object keys without quotes: write them so. */
static char *inspect_text(struct gql_arena *a, json_t *v)
{
	struct jbuf b = { 0 };
	char *s;

	inspect(&b, v, 0);
	if (b.oom) {
		free(b.p);
		return "?";
	}
	/* unquote object keys: `{ "a": 1 }` -> `{ a: 1 }` (keys never hold `": `) */
	s = gql_arena_strndup(a, b.p ? b.p : "", b.n);
	free(b.p);
	if (s && json_is_object(v)) {
		char *w = s, *r = s;
		int in_str = 0, key = 1;

		for (; *r; r++) {
			if (in_str) {
				if (*r == '\\' && r[1]) {
					*w++ = *r++;
				} else if (*r == '"') {
					in_str = 0;
					if (key == 2) {
						key = 0;
						continue;
					}
				}
				*w++ = *r;
				continue;
			}
			if (*r == '"') {
				in_str = 1;
				if (key == 1) {
					key = 2;
					continue;
				}
			} else if (*r == '{' || *r == ',') {
				key = 1;
			} else if (*r == ':' || *r == '[') {
				key = 0;
			}
			*w++ = *r;
		}
		*w = '\0';
	}
	return s;
}

/* ---- JSON input (variables) --------------------------------------------- */

struct cerr {
	struct gql_arena *a;
	const char *msg;        /* the first error */
	json_t *bad;            /* the value that failed */
	char path[256];         /* ".field[0]" */
};

static struct gv *json_untyped(struct gql_arena *a, json_t *j, int depth)
{
	struct gv *v;
	size_t i = 0;
	const char *k;
	json_t *e;

	if (depth > 64)
		return NULL;
	switch (json_typeof(j)) {
	case JSON_NULL: return gv_new(a, GV_NULL);
	case JSON_TRUE:
	case JSON_FALSE:
		if ((v = gv_new(a, GV_BOOL)))
			v->b = json_is_true(j);
		return v;
	case JSON_INTEGER:
		if ((v = gv_new(a, GV_INT)))
			v->i = json_integer_value(j);
		return v;
	case JSON_REAL:
		if ((v = gv_new(a, GV_FLOAT)))
			v->f = json_real_value(j);
		return v;
	case JSON_STRING:
		if ((v = gv_new(a, GV_STRING))) {
			v->s = gql_arena_strndup(a, json_string_value(j), json_string_length(j));
			v->len = json_string_length(j);
		}
		return v;
	case JSON_ARRAY:
		if (!(v = gv_new(a, GV_LIST)))
			return NULL;
		v->n = (unsigned)json_array_size(j);
		v->items = gql_arena_calloc(a, (v->n + 1) * sizeof(*v->items));
		for (i = 0; i < v->n; i++)
			if (!(v->items[i] = json_untyped(a, json_array_get(j, i), depth + 1)))
				return NULL;
		return v;
	case JSON_OBJECT:
		if (!(v = gv_new(a, GV_OBJECT)))
			return NULL;
		v->items = gql_arena_calloc(a, (json_object_size(j) + 1) * sizeof(*v->items));
		v->keys = gql_arena_calloc(a, (json_object_size(j) + 1) * sizeof(*v->keys));
		json_object_foreach(j, k, e) {
			v->keys[v->n] = gql_arena_strdup(a, k);
			if (!(v->items[v->n++] = json_untyped(a, e, depth + 1)))
				return NULL;
		}
		return v;
	}
	return NULL;
}

static struct gv *fail(struct cerr *c, json_t *bad, const char *msg)
{
	if (!c->msg) {
		c->msg = msg;
		c->bad = bad;
	}
	return NULL;
}

static void path_push(char *path, size_t cap, size_t *save, const char *key, long idx)
{
	size_t n = strlen(path);

	*save = n;
	if (key)
		snprintf(path + n, cap - n, ".%s", key);
	else
		snprintf(path + n, cap - n, "[%ld]", idx);
}

static int is_int32(double d)
{
	return d == floor(d) && d >= -2147483648.0 && d <= 2147483647.0;
}

static struct gv *scalar_json(struct cerr *c, json_t *j, const struct gql_stype *t)
{
	struct gql_arena *a = c->a;
	const char *n = t->name;
	struct gv *v;

	if (!strcmp(n, "Int")) {
		double d;

		if (!json_is_number(j))
			return fail(c, j, gql_fmt(a, "Int cannot represent non-integer value: %s",
			                          inspect_text(a, j)));
		d = json_number_value(j);
		if (json_is_integer(j) && (json_integer_value(j) < -2147483648LL ||
		                           json_integer_value(j) > 2147483647LL))
			return fail(c, j, gql_fmt(a, "Int cannot represent non 32-bit signed integer "
			                          "value: %s", inspect_text(a, j)));
		if (d != floor(d))
			return fail(c, j, gql_fmt(a, "Int cannot represent non-integer value: %s",
			                          inspect_text(a, j)));
		if (!is_int32(d))
			return fail(c, j, gql_fmt(a, "Int cannot represent non 32-bit signed integer "
			                          "value: %s", inspect_text(a, j)));
		if ((v = gv_new(a, GV_INT)))
			v->i = json_is_integer(j) ? json_integer_value(j) : (int64_t)d;
		return v;
	}
	if (!strcmp(n, "Float")) {
		if (!json_is_number(j))
			return fail(c, j, gql_fmt(a, "Float cannot represent non numeric value: %s",
			                          inspect_text(a, j)));
		if ((v = gv_new(a, GV_FLOAT)))
			v->f = json_number_value(j);
		return v;
	}
	if (!strcmp(n, "String") || !strcmp(n, "ID")) {
		int id = n[0] == 'I';

		if (json_is_string(j)) {
			if ((v = gv_new(a, GV_STRING))) {
				v->s = gql_arena_strndup(a, json_string_value(j), json_string_length(j));
				v->len = json_string_length(j);
			}
			return v;
		}
		if (id && json_is_integer(j)) {
			if ((v = gv_new(a, GV_STRING))) {
				v->s = gql_fmt(a, "%lld", (long long)json_integer_value(j));
				v->len = strlen(v->s);
			}
			return v;
		}
		if (id && json_is_real(j) && json_real_value(j) == floor(json_real_value(j)) &&
		    fabs(json_real_value(j)) < 1e15) {
			if ((v = gv_new(a, GV_STRING))) {
				v->s = gql_fmt(a, "%lld", (long long)json_real_value(j));
				v->len = strlen(v->s);
			}
			return v;
		}
		return fail(c, j, id ? gql_fmt(a, "ID cannot represent value: %s", inspect_text(a, j)) :
		            gql_fmt(a, "String cannot represent a non string value: %s",
		                    inspect_text(a, j)));
	}
	if (!strcmp(n, "Boolean")) {
		if (!json_is_boolean(j))
			return fail(c, j, gql_fmt(a, "Boolean cannot represent a non boolean value: %s",
			                          inspect_text(a, j)));
		if ((v = gv_new(a, GV_BOOL)))
			v->b = json_is_true(j);
		return v;
	}
	if (!(v = json_untyped(a, j, 0)))
		return fail(c, j, gql_fmt(a, "Expected value of type \"%s\", found %s.", n,
		                          inspect_text(a, j)));
	return v;
}

static struct gv *coerce_json(struct cerr *c, json_t *j, const struct gql_tref *t, int depth)
{
	struct gql_arena *a = c->a;
	const struct gql_stype *nt;
	struct gv *v;
	size_t save;

	if (depth > 64)
		return fail(c, j, "the value is nested too deeply");
	if (t->kind == GQL_TYPE_NON_NULL) {
		if (json_is_null(j))
			return fail(c, j, gql_fmt(a, "Expected non-nullable type \"%s\" not to be null.",
			                          tref_text(a, t)));
		return coerce_json(c, j, t->of, depth);
	}
	if (json_is_null(j))
		return gv_new(a, GV_NULL);
	if (t->kind == GQL_TYPE_LIST) {
		if (!json_is_array(j)) {
			struct gv *item = coerce_json(c, j, t->of, depth + 1);

			if (!item || !(v = gv_new(a, GV_LIST)))
				return NULL;
			v->items = gql_arena_alloc(a, sizeof(*v->items));
			v->items[0] = item;
			v->n = 1;
			return v;
		}
		if (!(v = gv_new(a, GV_LIST)))
			return NULL;
		v->n = (unsigned)json_array_size(j);
		v->items = gql_arena_calloc(a, (v->n + 1) * sizeof(*v->items));
		for (unsigned i = 0; i < v->n; i++) {
			path_push(c->path, sizeof(c->path), &save, NULL, (long)i);
			v->items[i] = coerce_json(c, json_array_get(j, i), t->of, depth + 1);
			if (!v->items[i])
				return NULL;
			c->path[save] = '\0';
		}
		return v;
	}
	nt = t->named;
	if (nt->kind == GQL_INPUT_OBJECT) {
		const char *k;
		json_t *e;

		if (!json_is_object(j))
			return fail(c, j, gql_fmt(a, "Expected type \"%s\" to be an object.", nt->name));
		if (!(v = gv_new(a, GV_OBJECT)))
			return NULL;
		v->keys = gql_arena_calloc(a, (nt->n_input_fields + 1) * sizeof(*v->keys));
		v->items = gql_arena_calloc(a, (nt->n_input_fields + 1) * sizeof(*v->items));
		for (unsigned i = 0; i < nt->n_input_fields; i++) {
			const struct gql_input_value *f = &nt->input_fields[i];
			json_t *fv = json_object_get(j, f->name);

			if (!fv) {
				if (f->default_value) {
					v->keys[v->n] = f->name;
					if (!(v->items[v->n++] = gql_value_from_ast(a, f->default_value, f->type,
					                                            NULL)))
						return fail(c, j, "invalid default value");
				} else if (f->type->kind == GQL_TYPE_NON_NULL) {
					return fail(c, j, gql_fmt(a, "Field \"%s\" of required type \"%s\" was "
					                          "not provided.", f->name,
					                          tref_text(a, f->type)));
				}
				continue;
			}
			path_push(c->path, sizeof(c->path), &save, f->name, 0);
			v->keys[v->n] = f->name;
			if (!(v->items[v->n++] = coerce_json(c, fv, f->type, depth + 1)))
				return NULL;
			c->path[save] = '\0';
		}
		json_object_foreach(j, k, e) {
			unsigned i;

			for (i = 0; i < nt->n_input_fields; i++)
				if (!strcmp(nt->input_fields[i].name, k))
					break;
			if (i == nt->n_input_fields)
				return fail(c, j, gql_fmt(a, "Field \"%s\" is not defined by type \"%s\".", k,
				                          nt->name));
		}
		return v;
	}
	if (nt->kind == GQL_ENUM) {
		if (!json_is_string(j))
			return fail(c, j, gql_fmt(a, "Enum \"%s\" cannot represent non-string value: %s.",
			                          nt->name, inspect_text(a, j)));
		for (unsigned i = 0; i < nt->n_values; i++) {
			if (!strcmp(nt->values[i].name, json_string_value(j))) {
				if ((v = gv_new(a, GV_ENUM))) {
					v->s = nt->values[i].name;
					v->len = strlen(v->s);
				}
				return v;
			}
		}
		return fail(c, j, gql_fmt(a, "Value %s does not exist in \"%s\" enum.",
		                          inspect_text(a, j), nt->name));
	}
	if (nt->kind == GQL_SCALAR)
		return scalar_json(c, j, nt);
	return fail(c, j, gql_fmt(a, "\"%s\" is not an input type.", nt->name));
}

int gql_coerce_variables(struct gql_arena *a, const struct gql_schema *s,
                         const struct gql_definition *op, json_t *vars, struct gvars *out,
                         const char **msg, unsigned *line, unsigned *col)
{
	(void)s;
	out->n = 0;
	out->v = gql_arena_calloc(a, (op->n_variables + 1) * sizeof(*out->v));
	if (!out->v)
		return *msg = "out of memory", -1;
	for (unsigned i = 0; i < op->n_variables; i++) {
		const struct gql_variable_definition *d = op->variables[i];
		const char *name = d->name.value;
		const struct gql_tref *t = NULL;
		json_t *j = json_is_object(vars) ? json_object_get(vars, name) : NULL;
		struct cerr c = { .a = a };
		struct gv *v;
		char tbuf[256];

		*line = d->line;
		*col = d->column;
		t = gqlx_tref_from_ast(a, s, d->type);
		if (!t || !gql_is_input_type(t)) {
			size_t n;
			char *ts = gql_print_type(a, d->type, &n);

			*msg = gql_fmt(a, "Variable \"$%s\" expected value of type \"%s\" which cannot be "
			               "used as an input type.", name, ts ? ts : "?");
			return -1;
		}
		gql_tref_print(t, tbuf, sizeof(tbuf));
		if (!j) {
			if (d->default_value) {
				if (!(v = gql_value_from_ast(a, d->default_value, t, NULL))) {
					*msg = gql_fmt(a, "Variable \"$%s\" has an invalid default value.", name);
					return -1;
				}
				out->v[out->n++] = (struct gvar){ name, v };
			} else if (t->kind == GQL_TYPE_NON_NULL) {
				*msg = gql_fmt(a, "Variable \"$%s\" of required type \"%s\" was not provided.",
				               name, tbuf);
				return -1;
			}
			continue;
		}
		if (json_is_null(j) && t->kind == GQL_TYPE_NON_NULL) {
			*msg = gql_fmt(a, "Variable \"$%s\" of non-null type \"%s\" must not be null.",
			               name, tbuf);
			return -1;
		}
		if (!(v = coerce_json(&c, j, t, 0))) {
			const char *bad = c.bad ? inspect_text(a, c.bad) : "?";

			if (c.path[0])
				*msg = gql_fmt(a, "Variable \"$%s\" got invalid value %s at \"%s%s\"; %s", name,
				               bad, name, c.path, c.msg ? c.msg : "invalid value");
			else
				*msg = gql_fmt(a, "Variable \"$%s\" got invalid value %s; %s", name, bad,
				               c.msg ? c.msg : "invalid value");
			return -1;
		}
		out->v[out->n++] = (struct gvar){ name, v };
	}
	return 0;
}

/* ---- literals (graphql-js valueFromAST) --------------------------------- */

static int missing_var(const struct gql_value *v, const struct gvars *vars)
{
	return v->kind == GQL_VALUE_VARIABLE && !gvars_get(vars, v->str);
}

static struct gv *untyped_ast(struct gql_arena *a, const struct gql_value *l, const struct gvars *vars,
                              int depth)
{
	struct gv *v;

	if (depth > 64)
		return NULL;
	switch (l->kind) {
	case GQL_VALUE_VARIABLE: {
		const struct gv *x = gvars_get(vars, l->str);

		return x ? (struct gv *)x : gv_new(a, GV_NULL);
	}
	case GQL_VALUE_INT:
		if ((v = gv_new(a, GV_INT)))
			v->i = strtoll(l->str, NULL, 10);
		return v;
	case GQL_VALUE_FLOAT:
		if ((v = gv_new(a, GV_FLOAT)))
			v->f = strtod(l->str, NULL);
		return v;
	case GQL_VALUE_STRING:
	case GQL_VALUE_ENUM:
		if ((v = gv_new(a, GV_STRING))) {
			v->s = l->str;
			v->len = l->len;
		}
		return v;
	case GQL_VALUE_BOOLEAN:
		if ((v = gv_new(a, GV_BOOL)))
			v->b = l->boolean;
		return v;
	case GQL_VALUE_NULL:
		return gv_new(a, GV_NULL);
	case GQL_VALUE_LIST:
		if (!(v = gv_new(a, GV_LIST)))
			return NULL;
		v->items = gql_arena_calloc(a, (l->n_items + 1) * sizeof(*v->items));
		for (unsigned i = 0; i < l->n_items; i++)
			if (!(v->items[v->n++] = untyped_ast(a, l->items[i], vars, depth + 1)))
				return NULL;
		return v;
	case GQL_VALUE_OBJECT:
		if (!(v = gv_new(a, GV_OBJECT)))
			return NULL;
		v->items = gql_arena_calloc(a, (l->n_fields + 1) * sizeof(*v->items));
		v->keys = gql_arena_calloc(a, (l->n_fields + 1) * sizeof(*v->keys));
		for (unsigned i = 0; i < l->n_fields; i++) {
			v->keys[v->n] = l->fields[i]->name.value;
			if (!(v->items[v->n++] = untyped_ast(a, l->fields[i]->value, vars, depth + 1)))
				return NULL;
		}
		return v;
	}
	return NULL;
}

static struct gv *from_ast(struct gql_arena *a, const struct gql_value *l, const struct gql_tref *t,
                           const struct gvars *vars, int depth)
{
	const struct gql_stype *nt;
	struct gv *v;

	if (!l || depth > 64)
		return NULL;
	if (l->kind == GQL_VALUE_VARIABLE) {
		const struct gv *x = gvars_get(vars, l->str);

		if (!x || (x->kind == GV_NULL && t->kind == GQL_TYPE_NON_NULL))
			return NULL;
		return (struct gv *)x;
	}
	if (t->kind == GQL_TYPE_NON_NULL) {
		if (l->kind == GQL_VALUE_NULL)
			return NULL;
		return from_ast(a, l, t->of, vars, depth);
	}
	if (l->kind == GQL_VALUE_NULL)
		return gv_new(a, GV_NULL);
	if (t->kind == GQL_TYPE_LIST) {
		if (l->kind != GQL_VALUE_LIST) {
			struct gv *item = from_ast(a, l, t->of, vars, depth + 1);

			if (!item || !(v = gv_new(a, GV_LIST)))
				return NULL;
			v->items = gql_arena_alloc(a, sizeof(*v->items));
			v->items[0] = item;
			v->n = 1;
			return v;
		}
		if (!(v = gv_new(a, GV_LIST)))
			return NULL;
		v->items = gql_arena_calloc(a, (l->n_items + 1) * sizeof(*v->items));
		for (unsigned i = 0; i < l->n_items; i++) {
			if (missing_var(l->items[i], vars)) {
				if (t->of->kind == GQL_TYPE_NON_NULL)
					return NULL;
				v->items[v->n++] = gv_new(a, GV_NULL);
				continue;
			}
			if (!(v->items[v->n++] = from_ast(a, l->items[i], t->of, vars, depth + 1)))
				return NULL;
		}
		return v;
	}
	nt = t->named;
	switch (nt->kind) {
	case GQL_INPUT_OBJECT:
		if (l->kind != GQL_VALUE_OBJECT || !(v = gv_new(a, GV_OBJECT)))
			return NULL;
		v->keys = gql_arena_calloc(a, (nt->n_input_fields + 1) * sizeof(*v->keys));
		v->items = gql_arena_calloc(a, (nt->n_input_fields + 1) * sizeof(*v->items));
		for (unsigned i = 0; i < nt->n_input_fields; i++) {
			const struct gql_input_value *f = &nt->input_fields[i];
			const struct gql_value *fl = NULL;

			for (unsigned k = 0; k < l->n_fields; k++)
				if (!strcmp(l->fields[k]->name.value, f->name))
					fl = l->fields[k]->value;
			if (!fl || missing_var(fl, vars)) {
				if (f->default_value) {
					v->keys[v->n] = f->name;
					if (!(v->items[v->n++] = from_ast(a, f->default_value, f->type, NULL,
					                                  depth + 1)))
						return NULL;
				} else if (f->type->kind == GQL_TYPE_NON_NULL) {
					return NULL;
				}
				continue;
			}
			v->keys[v->n] = f->name;
			if (!(v->items[v->n++] = from_ast(a, fl, f->type, vars, depth + 1)))
				return NULL;
		}
		return v;
	case GQL_ENUM:
		if (l->kind != GQL_VALUE_ENUM)
			return NULL;
		for (unsigned i = 0; i < nt->n_values; i++) {
			if (!strcmp(nt->values[i].name, l->str)) {
				if ((v = gv_new(a, GV_ENUM))) {
					v->s = nt->values[i].name;
					v->len = strlen(v->s);
				}
				return v;
			}
		}
		return NULL;
	case GQL_SCALAR:
		if (!strcmp(nt->name, "Int")) {
			double d;

			if (l->kind != GQL_VALUE_INT)
				return NULL;
			d = strtod(l->str, NULL);
			if (!is_int32(d) || !(v = gv_new(a, GV_INT)))
				return NULL;
			v->i = (int64_t)d;
			return v;
		}
		if (!strcmp(nt->name, "Float")) {
			if ((l->kind != GQL_VALUE_INT && l->kind != GQL_VALUE_FLOAT) ||
			    !(v = gv_new(a, GV_FLOAT)))
				return NULL;
			v->f = strtod(l->str, NULL);
			return v;
		}
		if (!strcmp(nt->name, "String") || !strcmp(nt->name, "ID")) {
			if (l->kind != GQL_VALUE_STRING && !(nt->name[0] == 'I' && l->kind == GQL_VALUE_INT))
				return NULL;
			if ((v = gv_new(a, GV_STRING))) {
				v->s = l->str;
				v->len = l->len;
			}
			return v;
		}
		if (!strcmp(nt->name, "Boolean")) {
			if (l->kind != GQL_VALUE_BOOLEAN || !(v = gv_new(a, GV_BOOL)))
				return NULL;
			v->b = l->boolean;
			return v;
		}
		return untyped_ast(a, l, vars, depth);
	default:
		return NULL;
	}
}

struct gv *gql_value_from_ast(struct gql_arena *a, const struct gql_value *v,
                              const struct gql_tref *type, const struct gvars *vars)
{
	return from_ast(a, v, type, vars, 0);
}

int gql_coerce_args(struct gql_arena *a, const struct gql_input_value *defs, unsigned n,
                    struct gql_argument *const *args, unsigned na, const struct gvars *vars,
                    struct gv **out, const char **msg)
{
	struct gv *o = gv_new(a, GV_OBJECT);
	char tbuf[256];

	if (!o || !(o->keys = gql_arena_calloc(a, (n + 1) * sizeof(*o->keys))) ||
	    !(o->items = gql_arena_calloc(a, (n + 1) * sizeof(*o->items))))
		return *msg = "out of memory", -1;
	*out = o;
	for (unsigned i = 0; i < n; i++) {
		const struct gql_input_value *d = &defs[i];
		const struct gql_value *l = NULL;
		int nonnull = d->type->kind == GQL_TYPE_NON_NULL, is_null;
		struct gv *v;

		for (unsigned k = 0; k < na; k++)
			if (!strcmp(args[k]->name.value, d->name))
				l = args[k]->value;
		gql_tref_print(d->type, tbuf, sizeof(tbuf));
		if (!l) {
			if (d->default_value) {
				o->keys[o->n] = d->name;
				if (!(o->items[o->n++] = from_ast(a, d->default_value, d->type, NULL, 0)))
					return *msg = gql_fmt(a, "Argument \"%s\" has an invalid default value.",
					                      d->name), -1;
			} else if (nonnull) {
				return *msg = gql_fmt(a, "Argument \"%s\" of required type \"%s\" was not "
				                      "provided.", d->name, tbuf), -1;
			}
			continue;
		}
		is_null = l->kind == GQL_VALUE_NULL;
		if (l->kind == GQL_VALUE_VARIABLE) {
			const struct gv *x = gvars_get(vars, l->str);

			if (!x) {
				if (d->default_value) {
					o->keys[o->n] = d->name;
					if (!(o->items[o->n++] = from_ast(a, d->default_value, d->type, NULL, 0)))
						return *msg = "invalid default value", -1;
				} else if (nonnull) {
					return *msg = gql_fmt(a, "Argument \"%s\" of required type \"%s\" was "
					                      "provided the variable \"$%s\" which was not "
					                      "provided a runtime value.", d->name, tbuf,
					                      l->str), -1;
				}
				continue;
			}
			is_null = x->kind == GV_NULL;
		}
		if (is_null && nonnull)
			return *msg = gql_fmt(a, "Argument \"%s\" of non-null type \"%s\" must not be "
			                      "null.", d->name, tbuf), -1;
		if (!(v = from_ast(a, l, d->type, vars, 0))) {
			size_t pn;
			char *p = gql_print_value(a, l, &pn);

			return *msg = gql_fmt(a, "Argument \"%s\" has invalid value %s.", d->name,
			                      p ? p : "?"), -1;
		}
		o->keys[o->n] = d->name;
		o->items[o->n++] = v;
	}
	return 0;
}

/* ---- to Lua ---------------------------------------------------------------- */

void gv_push(lua_State *L, const struct gv *v)
{
	switch (v ? v->kind : GV_NULL) {
	case GV_NULL: lua_pushnil(L); return;
	case GV_INT: lua_pushinteger(L, (lua_Integer)v->i); return;
	case GV_FLOAT: lua_pushnumber(L, v->f); return;
	case GV_BOOL: lua_pushboolean(L, v->b); return;
	case GV_STRING:
	case GV_ENUM: lua_pushlstring(L, v->s, v->len); return;
	case GV_LIST:
		lua_createtable(L, (int)v->n, 0);
		for (unsigned i = 0; i < v->n; i++) {
			gv_push(L, v->items[i]);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		return;
	case GV_OBJECT:
		lua_createtable(L, 0, (int)v->n);
		for (unsigned i = 0; i < v->n; i++) {
			gv_push(L, v->items[i]);
			lua_setfield(L, -2, v->keys[i]);
		}
		return;
	}
}
