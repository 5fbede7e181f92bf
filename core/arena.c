/* arena.c - bump allocator; see arena.h. */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "arena.h"

struct arena_block {
	struct arena_block *next;
	size_t size, used;
	_Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a, size_t block_size)
{
	a->head = NULL;
	a->block_size = block_size ? block_size : 4096;
}

void arena_close(struct arena *a)
{
	struct arena_block *b = a->head, *next;

	for (; b; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}

void arena_reset(struct arena *a)
{
	struct arena_block *keep = a->head, *b, *next;

	if (!keep)
		return;
	/* keep the oldest block (the default-sized one): it is last in the list */
	while (keep->next)
		keep = keep->next;
	for (b = a->head; b != keep; b = next) {
		next = b->next;
		free(b);
	}
	keep->used = 0;
	a->head = keep;
}

void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = a->head;
	size_t need = (size + 15) & ~(size_t)15;

	if (need < size)
		return NULL;
	if (!b || b->size - b->used < need) {
		size_t bs = a->block_size;

		if (need > bs / 2)
			bs = need;  /* large: a block of its own */
		if (bs > SIZE_MAX - sizeof(*b))
			return NULL;
		b = malloc(sizeof(*b) + bs);
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

void *arena_calloc(struct arena *a, size_t size)
{
	void *p = arena_alloc(a, size);

	if (p)
		memset(p, 0, size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p = arena_alloc(a, len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}
