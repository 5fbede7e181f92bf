/* lua_alloc.c - see lua_alloc.h. */
#include <stdlib.h>

#include "lua_alloc.h"

void *lua_mem_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct lua_mem *m = ud;

	if (!ptr)
		osize = 0;   /* Lua passes the object type there */
	if (nsize == 0) {
		m->used -= osize;
		free(ptr);
		return NULL;
	}
	if (nsize > osize && m->limit && m->used + (nsize - osize) > m->limit) {
		m->over = 1;
		return NULL;
	}
	ptr = realloc(ptr, nsize);
	if (ptr)
		m->used = m->used - osize + nsize;
	return ptr;
}
