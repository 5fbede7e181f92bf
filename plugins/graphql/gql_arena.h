/*
 * gql_arena.h - the GraphQL plugin's bump allocator: memory freed all at once.
 *
 * A document, a schema, an execution: everything allocated from one arena
 * lives exactly as long as it. The plugin keeps its own allocator instead of
 * the core's (core/arena.c): a plugin sees the SDK only (doc/architecture.md,
 * "Plugin ABI").
 */
#ifndef GQL_ARENA_H
#define GQL_ARENA_H

#include <stddef.h>

struct gql_arena_block {
	struct gql_arena_block *next;
	size_t size, used;
	_Alignas(16) unsigned char data[];
};

struct gql_arena {
	struct gql_arena_block *head;
	size_t block_size;
};

/* The block size whose blocks are kept for reuse when an arena closes (an
 * execution's: a request's memory comes back without malloc). */
#define GQL_ARENA_REUSE 16384

/* The caller owns A (often embedded); BLOCK_SIZE 0 means 4 KiB. */
void gql_arena_init(struct gql_arena *a, size_t block_size);
/* Frees every allocation; A may be reused after gql_arena_init. */
void gql_arena_close(struct gql_arena *a);
void *gql_arena_alloc_slow(struct gql_arena *a, size_t size);

/* 16-byte aligned memory of SIZE bytes, or NULL when out of memory. The
 * common case (room in the current block) inline. */
static inline void *gql_arena_alloc(struct gql_arena *a, size_t size)
{
	struct gql_arena_block *b = a->head;
	size_t need = (size + 15) & ~(size_t)15;

	if (b && need >= size && b->size - b->used >= need) {
		b->used += need;
		return b->data + b->used - need;
	}
	return gql_arena_alloc_slow(a, size);
}
void *gql_arena_calloc(struct gql_arena *a, size_t size);
/* A NUL-terminated copy of S[0..LEN), or NULL. */
char *gql_arena_strndup(struct gql_arena *a, const char *s, size_t len);
char *gql_arena_strdup(struct gql_arena *a, const char *s);

#endif
