/*
 * check.c - what a document must pass before it runs: the specification's
 * validation rules and the configured limits (validate.c, by the schema and
 * validator's author), and the introspection switch.
 */
#include <string.h>

#include "exec_priv.h"
#include "gqlp.h"

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

int gqlp_check(const struct gqlp_conf *c, struct arena *a, const struct gql_doc *doc,
               struct jbuf *out)
{
	int n = 0;

	(void)a;
	if (!c->introspection)
		for (unsigned i = 0; i < doc->n_defs; i++)
			no_introspection(doc->defs[i]->selection_set, out, &n, 0);
	if (n)
		jb_putc(out, ']');
	return n;
}
