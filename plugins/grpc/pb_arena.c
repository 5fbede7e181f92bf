/*
 * pb_arena.c - the bump allocator behind the registry's records and each
 * decode/encode call, and the growing byte buffer of pb.h.
 *
 * A call (pb_decode_lua, pb_encode_lua, pb_to_json, pb_from_json) unpacks
 * into or builds its protobuf-c structs in the thread's scratch arena and
 * resets it at the end: no malloc per field, no free_unpacked walk. Reset
 * keeps one block of at most KEEP bytes so a worker's steady state makes no
 * allocation at all.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pb_priv.h"

struct pb_ablk {
	struct pb_ablk *next;
	size_t size;
	max_align_t data[];
};

#define FIRST ((size_t)16 << 10)
#define KEEP ((size_t)1 << 20)

void *pb_arena_alloc(struct pb_arena *a, size_t n)
{
	char *p;

	if (n > SIZE_MAX / 4)
		return NULL;
	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if ((size_t)(a->end - a->p) < n) {
		size_t sz = a->blk ? a->blk->size * 2 : FIRST;
		struct pb_ablk *b;

		while (sz < n + 64)
			sz *= 2;
		if (sz > ((size_t)64 << 20) && n + 64 < ((size_t)64 << 20))
			sz = (size_t)64 << 20;
		if (sz < n + 64)
			sz = n + 64;
		b = malloc(sizeof(*b) + sz);
		if (!b)
			return NULL;
		b->size = sz;
		b->next = a->blk;
		a->blk = b;
		a->p = (char *)b->data;
		a->end = a->p + sz;
	}
	p = a->p;
	a->p += n;
	return p;
}

char *pb_arena_strndup(struct pb_arena *a, const char *s, size_t n)
{
	char *d = pb_arena_alloc(a, n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

void pb_arena_reset(struct pb_arena *a)
{
	struct pb_ablk *b = a->blk, *keep = NULL;

	while (b) {
		struct pb_ablk *next = b->next;

		if (!keep && b->size <= KEEP) {
			keep = b;
			keep->next = NULL;
		} else {
			free(b);
		}
		b = next;
	}
	a->blk = keep;
	a->p = keep ? (char *)keep->data : NULL;
	a->end = keep ? a->p + keep->size : NULL;
}

void pb_arena_free(struct pb_arena *a)
{
	while (a->blk) {
		struct pb_ablk *next = a->blk->next;

		free(a->blk);
		a->blk = next;
	}
	a->p = a->end = NULL;
}

static __thread struct pb_arena scratch;
static __thread int scratch_keyed;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

/* A thread that ends frees its scratch blocks (a worker's pool may stop
 * threads; leak checkers see no orphaned block). */
static void scratch_free(void *a)
{
	pb_arena_free(a);
}

static void scratch_key_make(void)
{
	if (pthread_key_create(&scratch_key, scratch_free))
		scratch_key = 0;
}

struct pb_arena *pb_scratch(void)
{
	if (!scratch_keyed) {
		scratch_keyed = 1;
		pthread_once(&scratch_once, scratch_key_make);
		pthread_setspecific(scratch_key, &scratch);
	}
	return &scratch;
}

void pb_scratch_done(struct pb_arena *a)
{
	/* The newest block is the biggest: keep it unless it is huge. */
	if (a->blk && a->blk->next == NULL && a->blk->size <= KEEP) {
		a->p = (char *)a->blk->data;
		return;
	}
	pb_arena_reset(a);
}

static void *arena_palloc(void *data, size_t size)
{
	return pb_arena_alloc(data, size);
}

static void arena_pfree(void *data, void *p)
{
	(void)data;
	(void)p;
}

void pb_arena_allocator(struct pb_arena *a, ProtobufCAllocator *out)
{
	out->alloc = arena_palloc;
	out->free = arena_pfree;
	out->allocator_data = a;
}

int pb_buf_add(struct pb_buf *b, const void *data, size_t len)
{
	if (b->cap - b->len < len) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	if (len && data)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

void pb_buf_free(struct pb_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
