/*
 * exec_response.c - the errors of an execution (field errors with the
 * path of their place, request errors with a location) and the response
 * JSON, written from the result tree when the execution ends.
 */
#include <string.h>

#include "exec_priv.h"

/* ---- errors --------------------------------------------------------------- */

static void add_error(struct gql_exec *e, struct gerr *g)
{
	unsigned max = e->req.max_errors ? e->req.max_errors : 100;

	if (e->nerrs++ >= max)
		return;
	*e->errs_tail = g;
	e->errs_tail = &g->next;
}

void gql_field_error(struct gql_exec *e, const struct cfield *cf, struct rnode *at,
                     const char *msg, const char *ext)
{
	struct gerr *g = gql_arena_calloc(&e->arena, sizeof(*g));

	if (!g) {
		e->fatal = 1;
		return;
	}
	g->msg = msg ? msg : "error";
	g->cf = cf;
	g->at = at;
	g->ext = ext;
	add_error(e, g);
}

void gqlx_request_error(struct gql_exec *e, const char *msg, unsigned line, unsigned col)
{
	struct gerr *g = gql_arena_calloc(&e->arena, sizeof(*g));

	if (!g) {
		e->fatal = 1;
		return;
	}
	g->msg = msg ? msg : "error";
	g->line = line;
	g->col = col;
	add_error(e, g);
}

/* ---- the response ----------------------------------------------------------- */

static void write_node(struct jbuf *b, const struct rnode *n)
{
	if (!n || n->kind == RN_NULL) {
		jb_put(b, "null", 4);
		return;
	}
	switch (n->kind) {
	case RN_RAW:
		jb_put(b, n->u.raw.s, n->u.raw.n);
		return;
	case RN_LIST:
		jb_putc(b, '[');
		for (unsigned i = 0; i < n->u.list.n; i++) {
			if (i)
				jb_putc(b, ',');
			write_node(b, n->u.list.v[i]);
		}
		jb_putc(b, ']');
		return;
	case RN_OBJ: {
		const struct cfield *cf = n->u.obj.plan->f;
		unsigned nf = n->u.obj.plan->n;

		jb_putc(b, '{');
		for (unsigned i = 0; i < nf; i++) {
			const struct rnode *v = n->u.obj.v[i];

			jb_put(b, cf[i].jkey + !i, cf[i].jkey_len - !i);
			if (v && v->kind == RN_RAW)   /* a leaf: most of the nodes */
				jb_put(b, v->u.raw.s, v->u.raw.n);
			else
				write_node(b, v);
		}
		jb_putc(b, '}');
		return;
	}
	}
}

static void write_errors(struct gql_exec *e, struct jbuf *b)
{
	unsigned max = e->req.max_errors ? e->req.max_errors : 100;

	jb_put(b, "\"errors\":[", 10);
	for (struct gerr *g = e->errs; g; g = g->next) {
		if (g != e->errs)
			jb_putc(b, ',');
		jb_put(b, "{\"message\":", 11);
		jb_cstr(b, g->msg);
		if (g->cf) {
			jb_put(b, ",\"locations\":[", 14);
			for (unsigned i = 0; i < g->cf->n_nodes; i++)
				jb_fmt(b, "%s{\"line\":%u,\"column\":%u}", i ? "," : "",
				       g->cf->nodes[i]->line, g->cf->nodes[i]->column);
			jb_putc(b, ']');
		} else if (g->line) {
			jb_fmt(b, ",\"locations\":[{\"line\":%u,\"column\":%u}]", g->line, g->col);
		}
		if (g->at) {
			struct pseg segs[256];
			unsigned n = gqlx_path_of(g->at, segs, 256);

			jb_put(b, ",\"path\":[", 9);
			for (unsigned i = 0; i < n; i++) {
				if (i)
					jb_putc(b, ',');
				if (segs[i].key)
					jb_cstr(b, segs[i].key);
				else
					jb_fmt(b, "%u", segs[i].idx);
			}
			jb_putc(b, ']');
		}
		if (g->ext) {
			jb_put(b, ",\"extensions\":", 14);
			jb_put(b, g->ext, strlen(g->ext));
		}
		jb_putc(b, '}');
	}
	if (e->nerrs > max)
		jb_fmt(b, ",{\"message\":\"Too many errors processing request, error limit "
		       "reached. Execution aborted.\"}");
	jb_putc(b, ']');
}

static __thread size_t out_hint;

void gqlx_finish(struct gql_exec *e)
{
	struct jbuf *b = &e->out;

	if (e->finished)
		return;
	e->finished = 1;
	b->n = 0;
	/* room for a response like the thread's last one, at once */
	if (!e->fatal && out_hint > b->cap)
		jb_grow(b, out_hint);
	if (e->fatal) {
		jb_put(b, "{\"errors\":[{\"message\":\"Internal server error.\"}]}", 49);
		e->result.internal = 1;
	} else {
		jb_putc(b, '{');
		if (e->errs)
			write_errors(e, b);
		if (e->root && e->req.mode != GQL_EXEC_SOURCE) {
			if (e->errs)
				jb_putc(b, ',');
			jb_put(b, "\"data\":", 7);
			write_node(b, e->root);
		}
		jb_putc(b, '}');
		e->result.has_data = e->root != NULL && e->req.mode != GQL_EXEC_SOURCE;
		if (b->oom) {
			b->oom = 0;
			b->n = 0;
			jb_put(b, "{\"errors\":[{\"message\":\"Internal server error.\"}]}", 49);
			e->result.internal = 1;
			e->result.has_data = 0;
		}
	}
	if (!e->result.internal)
		out_hint = b->n < (1u << 20) ? b->n + 64 : 0;
	e->result.json = b->p;
	e->result.len = b->n;
	e->running = 0;
	e->req.done(e, &e->result, e->req.ud);   /* may free E */
}
