/*
 * arena.h - bump allocator whose memory is freed all at once.
 *
 * Used for a config generation and for each exchange: everything allocated
 * from an arena lives exactly as long as the arena.
 */
#ifndef PT_ARENA_H
#define PT_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head;
	size_t block_size;
};

/* The caller owns A (often embedded); FIRST_BLOCK is the default block size. */
void arena_init(struct arena *a, size_t block_size);
/* Frees every allocation; A may be reused after arena_init. */
void arena_close(struct arena *a);
/* Like arena_close but keeps the first block for reuse (per-request pools). */
void arena_reset(struct arena *a);
/* 16-byte aligned memory of SIZE bytes, or NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t size);
void *arena_calloc(struct arena *a, size_t size);
/* A NUL-terminated copy of S[0..LEN). */
char *arena_strndup(struct arena *a, const char *s, size_t len);
char *arena_strdup(struct arena *a, const char *s);

#endif
