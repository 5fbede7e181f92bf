/*
 * lua_alloc.h - a Lua allocator with a memory limit, for the config state
 * and the route-script states alike.
 */
#ifndef PT_LUA_ALLOC_H
#define PT_LUA_ALLOC_H

#include <stddef.h>

struct lua_mem {
	size_t used;
	size_t limit;   /* 0: none */
	int over;       /* an allocation was refused */
};

/* A lua_Alloc: UD is a struct lua_mem (caller-owned, outlives the state).
 * Past the limit it returns NULL and Lua raises "not enough memory". */
void *lua_mem_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

#endif
