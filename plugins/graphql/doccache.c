/*
 * doccache.c - parsed and checked documents, cached per worker by query
 * text (a small LRU), so a client repeating a query pays for neither the
 * parser nor the validator again. Entries are refcounted: one reference is
 * the cache's, one each request's, so an entry evicted while a request
 * still executes it lives until that request answers.
 */
#include <stdlib.h>
#include <string.h>

#include "exec_priv.h"
#include "gqlp.h"

#define NSLOTS (sizeof(((struct gqlp_worker *)0)->docs) / sizeof(struct gqlp_doc *))
#define MAX_CACHED_TEXT 65536

static uint64_t hash_text(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

void gqlp_doc_unref(struct gqlp_doc *d)
{
	if (!d || --d->refs)
		return;
	gql_arena_close(&d->arena);
	free(d->text);
	free(d);
}

void gqlp_docs_clear(struct gqlp_worker *w)
{
	for (size_t i = 0; i < NSLOTS; i++) {
		gqlp_doc_unref(w->docs[i]);
		w->docs[i] = NULL;
	}
}

/* Parses and checks TEXT into D: D->doc, or D->errors. */
static int prepare(struct gqlp_doc *d, struct gqlp_conf *c)
{
	struct gql_error perr;
	struct jbuf b = { 0 };

	memset(&perr, 0, sizeof(perr));
	d->doc = gql_parse_as(&d->arena, d->text, d->len, &c->limits, GQL_ACCEPT_ANY, &perr);
	if (!d->doc) {
		jb_put(&b, "[{\"message\":", 12);
		jb_cstr(&b, perr.message);
		jb_fmt(&b, ",\"locations\":[{\"line\":%u,\"column\":%u}]}]", perr.line, perr.column);
	} else if (gqlp_check(c, &d->arena, d->doc, &b) == 0) {
		free(b.p);
		return 0;
	}
	if (b.oom) {
		free(b.p);
		return -1;
	}
	d->errors = gql_arena_strndup(&d->arena, b.p, b.n);
	d->errors_len = b.n;
	free(b.p);
	return d->errors ? 0 : -1;
}

struct gqlp_doc *gqlp_doc_get(struct gqlp_worker *w, struct gqlp_conf *c, const char *text,
                              size_t len)
{
	uint64_t h = hash_text(text, len);
	struct gqlp_doc *d;
	size_t victim = 0;

	for (size_t i = 0; w && i < NSLOTS; i++) {
		d = w->docs[i];
		if (!d) {
			victim = i;
			continue;
		}
		if (d->hash == h && d->len == len && d->conf_id == c->id &&
		    !memcmp(d->text, text, len)) {
			d->used = ++w->clock;
			d->refs++;
			return d;
		}
		if (w->docs[victim] && d->used < w->docs[victim]->used)
			victim = i;
	}
	if (!(d = calloc(1, sizeof(*d))) || !(d->text = malloc(len + 1))) {
		free(d);
		return NULL;
	}
	memcpy(d->text, text, len);
	d->text[len] = '\0';
	d->len = len;
	d->hash = h;
	d->conf_id = c->id;
	d->refs = 1;
	gql_arena_init(&d->arena, 8192);
	if (prepare(d, c) != 0) {
		gqlp_doc_unref(d);
		return NULL;
	}
	if (w && len <= MAX_CACHED_TEXT) {
		gqlp_doc_unref(w->docs[victim]);
		w->docs[victim] = d;
		d->refs++;
		d->used = ++w->clock;
	}
	return d;
}
