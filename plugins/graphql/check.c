/*
 * check.c - what a document must pass before it runs: the specification's
 * validation rules with the configured limits and the introspection switch
 * (validate.c, by the schema and validator's author), as a JSON errors array.
 *
 * The plugin is built with GQLP_HAVE_VALIDATE. Without it (a build without
 * validate.c) the fallback below still enforces max_depth, max_aliases,
 * fragment cycles and the introspection switch; the executor is safe on
 * documents that did not validate.
 */
#include <stdio.h>
#include <string.h>

#include "exec_priv.h"
#include "gqlp.h"

#ifdef GQLP_HAVE_VALIDATE
#include "validate.h"

int gqlp_check(const struct gqlp_conf *c, struct gql_arena *a, const struct gql_doc *doc,
               struct jbuf *out)
{
	struct gql_vlimits lim = {
		.max_depth = c->max_depth,
		.max_aliases = c->max_aliases,
		.max_complexity = c->max_complexity,
		.introspection = c->introspection ? GQL_INTROSPECTION_ON : GQL_INTROSPECTION_OFF,
	};
	struct gql_verror *errs = NULL;
	unsigned n = 0;
	int rc = gql_validate(c->schema, doc, &lim, a, &errs, &n);

	if (rc < 0) {
		jb_put(out, "[{\"message\":\"Internal server error.\"}]", 38);
		return 1;
	}
	if (n == 0)
		return 0;
	jb_putc(out, '[');
	for (unsigned i = 0; i < n; i++) {
		if (i)
			jb_putc(out, ',');
		jb_put(out, "{\"message\":", 11);
		jb_cstr(out, errs[i].message);
		if (errs[i].n_locs) {
			jb_put(out, ",\"locations\":[", 14);
			for (unsigned k = 0; k < errs[i].n_locs; k++)
				jb_fmt(out, "%s{\"line\":%u,\"column\":%u}", k ? "," : "",
				       errs[i].locs[k].line, errs[i].locs[k].column);
			jb_putc(out, ']');
		}
		jb_putc(out, '}');
	}
	jb_putc(out, ']');
	return (int)n;
}

#else

static void error(struct jbuf *b, int *n, const char *msg, unsigned line, unsigned col)
{
	jb_put(b, *n ? "," : "[", 1);
	jb_put(b, "{\"message\":", 11);
	jb_cstr(b, msg);
	jb_fmt(b, ",\"locations\":[{\"line\":%u,\"column\":%u}]}", line, col);
	(*n)++;
}

/* Introspection off: any __schema or __type selection is an error. */
static void no_introspection(const struct gql_selection_set *set, struct jbuf *b, int *n,
                             int depth)
{
	for (unsigned i = 0; set && i < set->n_items && depth < 200; i++) {
		const struct gql_selection *s = set->items[i];

		if (s->kind == GQL_SEL_FIELD && s->name.value &&
		    (!strcmp(s->name.value, "__schema") || !strcmp(s->name.value, "__type")))
			error(b, n, "GraphQL introspection is not allowed, but the query contained "
			      "__schema or __type", s->line, s->column);
		no_introspection(s->selection_set, b, n, depth + 1);
	}
}

/* Fragment depths, memoised; cycles reported once. */
struct dwalk {
	const struct gql_doc *doc;
	unsigned *memo;         /* per definition: 0 unknown, 1 visiting, 2 + depth done */
	struct jbuf *b;
	int *n;
	unsigned aliases;
};

static unsigned set_depth(struct dwalk *w, const struct gql_selection_set *set, int guard);

static unsigned frag_depth(struct dwalk *w, const struct gql_selection *spread, int guard)
{
	for (unsigned i = 0; i < w->doc->n_defs; i++) {
		const struct gql_definition *d = w->doc->defs[i];

		if (d->kind != GQL_DEF_FRAGMENT || !d->name.value ||
		    strcmp(d->name.value, spread->name.value))
			continue;
		if (w->memo[i] == 1) {
			char msg[256];

			snprintf(msg, sizeof(msg), "Cannot spread fragment \"%s\" within itself.",
			         d->name.value);
			error(w->b, w->n, msg, spread->line, spread->column);
			w->memo[i] = 2;
			return 0;
		}
		if (w->memo[i] == 0) {
			w->memo[i] = 1;
			w->memo[i] = 2 + set_depth(w, d->selection_set, guard + 1);
		}
		return w->memo[i] - 2;
	}
	return 0;
}

static unsigned set_depth(struct dwalk *w, const struct gql_selection_set *set, int guard)
{
	unsigned max = 0, d;

	for (unsigned i = 0; set && i < set->n_items && guard < 500; i++) {
		const struct gql_selection *s = set->items[i];

		if (s->kind == GQL_SEL_FIELD) {
			w->aliases += s->alias.value != NULL;
			d = 1 + set_depth(w, s->selection_set, guard + 1);
		} else if (s->kind == GQL_SEL_INLINE_FRAGMENT) {
			d = set_depth(w, s->selection_set, guard + 1);
		} else {
			d = frag_depth(w, s, guard + 1);
		}
		if (d > max)
			max = d;
	}
	return max;
}

int gqlp_check(const struct gqlp_conf *c, struct gql_arena *a, const struct gql_doc *doc,
               struct jbuf *out)
{
	int n = 0;
	struct dwalk w = { doc, gql_arena_calloc(a, (doc->n_defs + 1) * sizeof(unsigned)), out, &n, 0 };

	if (!w.memo)
		return -1;
	for (unsigned i = 0; i < doc->n_defs; i++) {
		const struct gql_definition *d = doc->defs[i];
		unsigned depth;
		char msg[256];

		if (d->kind != GQL_DEF_OPERATION)
			continue;
		w.aliases = 0;
		depth = set_depth(&w, d->selection_set, 0);
		if (depth > c->max_depth) {
			snprintf(msg, sizeof(msg), "The operation is %u fields deep, more than the limit "
			         "of %u (max_depth).", depth, c->max_depth);
			error(out, &n, msg, d->line, d->column);
		}
		if (w.aliases > c->max_aliases) {
			snprintf(msg, sizeof(msg), "The operation has %u aliases, more than the limit of "
			         "%u (max_aliases).", w.aliases, c->max_aliases);
			error(out, &n, msg, d->line, d->column);
		}
	}
	if (!c->introspection)
		for (unsigned i = 0; i < doc->n_defs; i++)
			no_introspection(doc->defs[i]->selection_set, out, &n, 0);
	if (n)
		jb_putc(out, ']');
	return n;
}

#endif
