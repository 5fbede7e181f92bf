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
 * Blocks of an execution's arena (GQL_ARENA_REUSE bytes, or a power of two
 * times that up to 512 KiB for a large allocation) that closed arenas hand
 * back, kept per thread for the next arena: a request that allocates and
 * frees them would otherwise make malloc give the top of a worker thread's
 * heap back to the kernel (madvise) and fault it in again, request after
 * request. At most REUSE_BYTES per thread.
 */
#define REUSE_CLASSES 6
#define REUSE_BYTES (2u << 20)

static __thread struct gql_arena_block *reuse[REUSE_CLASSES];
static __thread size_t reuse_bytes;

/* The class of a block of BS bytes, or -1 when it is not kept. */
static int reuse_class(size_t bs)
{
	for (int c = 0; c < REUSE_CLASSES; c++)
		if (bs == (size_t)GQL_ARENA_REUSE << c)
			return c;
	return -1;
}

void gql_arena_close(struct gql_arena *a)
{
	struct gql_arena_block *b = a->head, *next;

	for (; b; b = next) {
		int c = reuse_class(b->size);

		next = b->next;
		if (c >= 0 && reuse_bytes + b->size <= REUSE_BYTES) {
			b->next = reuse[c];
			reuse[c] = b;
			reuse_bytes += b->size;
		} else {
			free(b);
		}
	}
	a->head = NULL;
}

static struct gql_arena_block *block_new(size_t bs)
{
	struct gql_arena_block *b;
	int c = reuse_class(bs);

	if (c >= 0 && reuse[c]) {
		b = reuse[c];
		reuse[c] = b->next;
		reuse_bytes -= b->size;
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
		int large = need > bs / 2;

		if (large) {
			bs = need;  /* large: a block of its own */
			if (a->block_size == GQL_ARENA_REUSE) {
				/* of a size kept for reuse, when it is not huge */
				size_t k = GQL_ARENA_REUSE;

				while (k < need && k < ((size_t)GQL_ARENA_REUSE << (REUSE_CLASSES - 1)))
					k <<= 1;
				if (k >= need)
					bs = k;
			}
		}
		if (bs > SIZE_MAX - sizeof(*b))
			return NULL;
		b = block_new(bs);
		if (!b)
			return NULL;
		b->size = bs;
		b->used = 0;
		if (a->head && large && a->head->size - a->head->used > 0) {
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
