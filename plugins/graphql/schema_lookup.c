/*
 * schema_lookup.c - the lookups of schema.h on a built schema.
 *
 * Lookups: types and directives by name through open-addressing hash tables
 * (schema->index); the fields of a type with many fields through a hash
 * table stored just before its field array (struct field_head), so that
 * gql_type_field needs nothing but the type.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema_priv.h"

/* ---- hash tables ---- */

uint32_t gqls_hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int gqls_htab_init(struct htab *h, struct gql_arena *a, unsigned n)
{
	uint32_t cap = 16;

	while (cap < 2 * (uint64_t)n + 2)
		cap *= 2;
	h->mask = cap - 1;
	h->keys = gql_arena_calloc(a, cap * sizeof(*h->keys));
	h->vals = gql_arena_calloc(a, cap * sizeof(*h->vals));
	return h->keys && h->vals ? 0 : -1;
}

static uint32_t htab_slot(const struct htab *h, const char *key)
{
	uint32_t i = gqls_hash_str(key) & h->mask;

	while (h->keys[i] && strcmp(h->keys[i], key) != 0)
		i = (i + 1) & h->mask;
	return i;
}

void *gqls_htab_get(const struct htab *h, const char *key)
{
	return h->keys ? h->vals[htab_slot(h, key)] : NULL;
}

void gqls_htab_put(struct htab *h, const char *key, void *val)
{
	uint32_t i = htab_slot(h, key);

	h->keys[i] = key;
	h->vals[i] = val;
}

static const struct field_head *field_head_of(const struct gql_stype *t)
{
	return (const struct field_head *)((const char *)t->fields - FIELD_HEAD);
}

/* ---- lookups ---- */

struct gql_stype *gql_schema_type(const struct gql_schema *s, const char *name)
{
	const struct sindex *ix = s->index;

	return ix ? gqls_htab_get(&ix->types, name) : NULL;
}

const struct gql_directive_def *gql_schema_directive(const struct gql_schema *s,
                                                     const char *name)
{
	const struct sindex *ix = s->index;

	return ix ? gqls_htab_get(&ix->dirs, name) : NULL;
}

const struct gql_field *gql_type_field(const struct gql_stype *t, const char *name)
{
	const struct field_head *fh;
	uint32_t i;

	if (t->kind != GQL_OBJECT && t->kind != GQL_INTERFACE)
		return NULL;
	if (t->n_fields <= FIELD_SCAN) {
		for (unsigned k = 0; k < t->n_fields; k++)
			if (strcmp(t->fields[k].name, name) == 0)
				return &t->fields[k];
		return NULL;
	}
	fh = field_head_of(t);
	for (i = gqls_hash_str(name) & fh->mask; fh->slots[i]; i = (i + 1) & fh->mask)
		if (strcmp(t->fields[fh->slots[i] - 1].name, name) == 0)
			return &t->fields[fh->slots[i] - 1];
	return NULL;
}

const struct gql_field *gql_meta_field(const struct gql_schema *s, const struct gql_stype *parent,
                                       const char *name)
{
	const struct sindex *ix = s->index;

	if (!ix || !parent || name[0] != '_' || name[1] != '_')
		return NULL;
	if (strcmp(name, "__typename") == 0)
		return parent->kind == GQL_OBJECT || parent->kind == GQL_INTERFACE ||
		       parent->kind == GQL_UNION ? &ix->typename_f : NULL;
	if (parent != s->query)
		return NULL;
	if (strcmp(name, "__schema") == 0)
		return &ix->schema_f;
	if (strcmp(name, "__type") == 0)
		return &ix->type_f;
	return NULL;
}

bool gql_schema_type_visible(const struct gql_schema *s, const struct gql_stype *t)
{
	const struct sindex *ix = s->index;

	return !(ix && ix->hidden && t->index < s->n_types &&
	         s->types[t->index] == t && ix->hidden[t->index]);
}

bool gql_is_possible(const struct gql_stype *t, const struct gql_stype *obj)
{
	if (t == obj)
		return true;
	if (t->kind != GQL_UNION && t->kind != GQL_INTERFACE)
		return false;
	for (unsigned i = 0; i < t->n_possible; i++)
		if (t->possible[i] == obj)
			return true;
	return false;
}

struct gql_stype *gql_tref_named(const struct gql_tref *t)
{
	while (t && t->kind != GQL_TYPE_NAMED)
		t = t->of;
	return t ? t->named : NULL;
}

bool gql_is_input_type(const struct gql_tref *t)
{
	const struct gql_stype *n = gql_tref_named(t);

	return n && (n->kind == GQL_SCALAR || n->kind == GQL_ENUM ||
	             n->kind == GQL_INPUT_OBJECT);
}

bool gql_is_output_type(const struct gql_tref *t)
{
	const struct gql_stype *n = gql_tref_named(t);

	return n && n->kind != GQL_INPUT_OBJECT;
}

static size_t tref_put(const struct gql_tref *t, char *buf, size_t cap,
                       size_t at)
{
	const char *s;
	size_t n;

	switch (t->kind) {
	case GQL_TYPE_LIST:
		if (at + 1 < cap)
			buf[at] = '[';
		at = tref_put(t->of, buf, cap, at + 1);
		s = "]";
		break;
	case GQL_TYPE_NON_NULL:
		at = tref_put(t->of, buf, cap, at);
		s = "!";
		break;
	default:
		s = t->named ? t->named->name : "?";
		break;
	}
	n = strlen(s);
	if (at < cap)
		memcpy(buf + at, s, at + n < cap ? n : cap - at);
	return at + n;
}

size_t gql_tref_print(const struct gql_tref *t, char *buf, size_t cap)
{
	size_t n = tref_put(t, buf, cap, 0);

	if (cap)
		buf[n < cap ? n : cap - 1] = '\0';
	return n;
}

void gql_schema_free(struct gql_schema *s)
{
	if (!s)
		return;
	gql_arena_close(&s->arena);
	free(s);
}
