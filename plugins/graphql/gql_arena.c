/* gql_arena.c - bump allocator; see gql_arena.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gql_arena.h"

void gql_arena_init(struct gql_arena *a, size_t block_size)
{
	a->head = NULL;
	a->block_size = block_size ? block_size : 4096;
}

/*
 * Blocks of GQL_ARENA_REUSE bytes (an execution's) that closed arenas hand
 * back, kept per thread for the next arena: a request that allocates and
 * frees a few 16 KiB blocks would otherwise make malloc give the top of a
 * worker thread's heap back to the kernel (madvise) and fault it in again,
 * request after request. At most REUSE_MAX blocks (1 MiB) per thread.
 */
#define REUSE_MAX 64

static __thread struct gql_arena_block *reuse;
static __thread unsigned n_reuse;

void gql_arena_close(struct gql_arena *a)
{
	struct gql_arena_block *b = a->head, *next;

	for (; b; b = next) {
		next = b->next;
		if (b->size == GQL_ARENA_REUSE && n_reuse < REUSE_MAX) {
			b->next = reuse;
			reuse = b;
			n_reuse++;
		} else {
			free(b);
		}
	}
	a->head = NULL;
}

static struct gql_arena_block *block_new(size_t bs)
{
	struct gql_arena_block *b;

	if (bs == GQL_ARENA_REUSE && reuse) {
		b = reuse;
		reuse = b->next;
		n_reuse--;
		return b;
	}
	return malloc(sizeof(*b) + bs);
}

/* gql_arena_alloc when the current block has no room (or there is none). */
void *gql_arena_alloc_slow(struct gql_arena *a, size_t size)
{
	struct gql_arena_block *b = a->head;
	size_t need = (size + 15) & ~(size_t)15;

	if (need < size)
		return NULL;
	if (!b || b->size - b->used < need) {
		size_t bs = a->block_size;

		if (need > bs / 2)
			bs = need;  /* large: a block of its own */
		if (bs > SIZE_MAX - sizeof(*b))
			return NULL;
		b = block_new(bs);
		if (!b)
			return NULL;
		b->size = bs;
		b->used = 0;
		if (a->head && need == bs && a->head->size - a->head->used > 0) {
			/* keep the partly used block at the head for small allocations */
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	b->used += need;
	return b->data + b->used - need;
}

void *gql_arena_calloc(struct gql_arena *a, size_t size)
{
	void *p = gql_arena_alloc(a, size);

	if (p)
		memset(p, 0, size);
	return p;
}

char *gql_arena_strndup(struct gql_arena *a, const char *s, size_t len)
{
	char *p = gql_arena_alloc(a, len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

char *gql_arena_strdup(struct gql_arena *a, const char *s)
{
	return gql_arena_strndup(a, s, strlen(s));
}
