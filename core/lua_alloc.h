/*
 * lua_alloc.h - a Lua allocator with a memory limit, for the config state
 * and the route-script states alike. Small blocks are kept on per-size free
 * lists: a request creates and drops many small Lua objects, and malloc/free
 * were the largest user-space cost of a small Lua handler.
 */
#ifndef PT_LUA_ALLOC_H
#define PT_LUA_ALLOC_H

#include <stddef.h>

#define LUA_MEM_CLASSES 16     /* 16, 32, ... 256 bytes */

struct lua_mem {
	size_t used;
	size_t limit;   /* 0: none */
	int over;       /* an allocation was refused */
	void *free[LUA_MEM_CLASSES];
	unsigned nfree[LUA_MEM_CLASSES];
};

/* A lua_Alloc: UD is a struct lua_mem (caller-owned, zeroed, outlives the
 * state). Past the limit it returns NULL and Lua raises "not enough memory". */
void *lua_mem_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* Frees the cached blocks; call after lua_close. */
void lua_mem_release(struct lua_mem *m);

#endif
