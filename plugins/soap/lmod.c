/*
 * lmod.c - the `soap` Lua module (a global in route scripts). See soap.h.
 */
#include <lua.h>

#include "soap.h"

const char sl_null_key = 0;

int soap_lua_open(lua_State *L)
{
	lua_newtable(L);
	lua_pushlightuserdata(L, (void *)&sl_null_key);
	lua_setfield(L, -2, "null");
	return 1;
}
