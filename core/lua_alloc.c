/* lua_alloc.c - see lua_alloc.h. */
#include <stdlib.h>
#include <string.h>

#include "lua_alloc.h"

#define CLASS_MAX (16 * LUA_MEM_CLASSES)
#define KEEP_PER_CLASS 4096

/* Only the state's thread writes USED; /metrics reads it from the main
 * thread (lua_metrics.c), so the store is a relaxed atomic one (a plain
 * store on the machines we build for). */
static inline void set_used(struct lua_mem *m, size_t v)
{
	__atomic_store_n(&m->used, v, __ATOMIC_RELAXED);
}

#if !defined(__SANITIZE_ADDRESS__)
/* The size class of N bytes (1..CLASS_MAX), 0-based. */
static unsigned cls(size_t n)
{
	return (unsigned)((n + 15) / 16) - 1;
}

static void *get(struct lua_mem *m, size_t n)
{
	unsigned c;
	void *p;

	if (n > CLASS_MAX)
		return malloc(n);
	c = cls(n);
	if ((p = m->free[c]) != NULL) {
		m->free[c] = *(void **)p;
		m->nfree[c]--;
		return p;
	}
	return malloc((c + 1) * 16);
}

static void put(struct lua_mem *m, void *p, size_t n)
{
	unsigned c;

	if (n > CLASS_MAX || m->nfree[c = cls(n)] >= KEEP_PER_CLASS) {
		free(p);
		return;
	}
	*(void **)p = m->free[c];
	m->free[c] = p;
	m->nfree[c]++;
}

#endif

#if defined(__SANITIZE_ADDRESS__)
/*
 * Under AddressSanitizer every block goes back to malloc: a block kept on a
 * free list and handed to the next object would hide a use after free (a
 * pointer into a string the collector took) from the sanitizer.
 */
void *lua_mem_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct lua_mem *m = ud;
	void *np;

	if (!ptr)
		osize = 0;
	if (nsize == 0) {
		set_used(m, m->used - osize);
		free(ptr);
		return NULL;
	}
	if (nsize > osize && m->limit && m->used + (nsize - osize) > m->limit) {
		m->over = 1;
		return NULL;
	}
	if (!(np = realloc(ptr, nsize)))
		return NULL;
	set_used(m, m->used - osize + nsize);
	return np;
}
#else
void *lua_mem_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct lua_mem *m = ud;
	void *np;

	if (!ptr)
		osize = 0;   /* Lua passes the object type there */
	if (nsize == 0) {
		set_used(m, m->used - osize);
		if (ptr)
			put(m, ptr, osize);
		return NULL;
	}
	if (nsize > osize && m->limit && m->used + (nsize - osize) > m->limit) {
		m->over = 1;
		return NULL;
	}
	if (ptr && osize <= CLASS_MAX && nsize <= CLASS_MAX && cls(osize) == cls(nsize)) {
		np = ptr;   /* the block already fits */
	} else if (ptr && osize > CLASS_MAX && nsize > CLASS_MAX) {
		np = realloc(ptr, nsize);
		if (!np)
			return NULL;
	} else {
		np = get(m, nsize);
		if (!np)
			return NULL;
		if (ptr) {
			memcpy(np, ptr, osize < nsize ? osize : nsize);
			put(m, ptr, osize);
		}
	}
	set_used(m, m->used - osize + nsize);
	return np;
}
#endif

void lua_mem_release(struct lua_mem *m)
{
	for (unsigned c = 0; c < LUA_MEM_CLASSES; c++) {
		while (m->free[c]) {
			void *p = m->free[c];

			m->free[c] = *(void **)p;
			free(p);
		}
		m->nfree[c] = 0;
	}
}
