/*
 * fuzz_lua_pattern.c - libFuzzer target for core/lua/lua_pattern.c,
 * differential against liblua5.4's string library.
 *
 * Input: byte 0 picks the function (find, find plain, match, gmatch, gsub)
 * and gsub's replacement, byte 1 the start position (a signed byte; 0x80
 * means none), byte 2 the subject's length; the subject follows, the rest is
 * the pattern. The call runs in a state with our functions and a charge
 * function that stops it after STEP_CAP steps; when it ends within the cap
 * it runs again in a state with stock Lua's (which then has about as much
 * work to do), and both must print the same results or the same error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_pattern.h"

#define STEP_CAP 300000

static lua_State *stock, *ours;
static uint64_t steps;

static void charge_capped(lua_State *L, uint64_t n)
{
	steps += n;
	if (steps > STEP_CAP)
		luaL_error(L, "fuzz: step cap");
}

static const char HARNESS[] =
	"local function ser(...)\n"
	"  local t = {}\n"
	"  for i = 1, select('#', ...) do\n"
	"    local v = select(i, ...)\n"
	"    if type(v) == 'string' then t[#t + 1] = string.format('%q', v)\n"
	"    elseif type(v) == 'number' then t[#t + 1] = math.type(v) .. ':' .. tostring(v)\n"
	"    else t[#t + 1] = tostring(v) end\n"
	"  end\n"
	"  return '(' .. table.concat(t, ',') .. ')'\n"
	"end\n"
	"local tbl = setmetatable({}, { __index = function(_, k)\n"
	"  if k == '' then return false end\n"
	"  if type(k) == 'string' and #k % 2 == 0 then return '<' .. k .. '>' end\n"
	"  if type(k) == 'number' then return k * 10 end\n"
	"end })\n"
	"local function fn(...)\n"
	"  local n, x = select('#', ...), ...\n"
	"  if n == 0 or x == nil then return nil end\n"
	"  if type(x) == 'number' then return x * 2 end\n"
	"  if #x == 1 then return false end\n"
	"  return '[' .. table.concat({ ... }, '|') .. ']'\n"
	"end\n"
	"local repls = { '%0', '<%1|%2>', '%%', tbl, fn, '%', '%9', 7 }\n"
	"function run(op, s, p, init, r)\n"
	"  if op == 0 then return ser(pcall(string.find, s, p, init)) end\n"
	"  if op == 1 then return ser(pcall(string.find, s, p, init, true)) end\n"
	"  if op == 2 then return ser(pcall(string.match, s, p, init)) end\n"
	"  if op == 3 then\n"
	"    local ok, it = pcall(string.gmatch, s, p, init)\n"
	"    if not ok then return ser(false, it) end\n"
	"    local out = {}\n"
	"    for i = 1, 64 do\n"
	"      local res = table.pack(pcall(it))\n"
	"      out[#out + 1] = ser(table.unpack(res, 1, res.n))\n"
	"      if not res[1] or res.n == 1 then break end\n"
	"    end\n"
	"    return table.concat(out, ';')\n"
	"  end\n"
	"  return ser(pcall(string.gsub, s, p, repls[r % #repls + 1], init))\n"
	"end\n";

static lua_State *state_new(int with_ours)
{
	lua_State *L = luaL_newstate();

	if (!L)
		abort();
	luaL_openlibs(L);
	if (with_ours) {
		lua_getglobal(L, "string");
		lua_pattern_open(L, charge_capped);
		lua_pop(L, 1);
	}
	if (luaL_dostring(L, HARNESS) != LUA_OK)
		abort();
	return L;
}

/* Runs the call in L; its printed results are at the top of L's stack. */
static void run(lua_State *L, int op, const uint8_t *s, size_t sl, const uint8_t *p, size_t pl,
                int init, int r)
{
	lua_settop(L, 0);
	lua_getglobal(L, "run");
	lua_pushinteger(L, op);
	lua_pushlstring(L, (const char *)s, sl);
	lua_pushlstring(L, (const char *)p, pl);
	if (init == -128)
		lua_pushnil(L);
	else
		lua_pushinteger(L, init);
	lua_pushinteger(L, r);
	if (lua_pcall(L, 5, 1, 0) != LUA_OK) {
		fprintf(stderr, "harness error: %s\n", lua_tostring(L, -1));
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int op, init, r;
	size_t sl;
	const char *a, *b;

	if (size < 3)
		return 0;
	if (!stock) {
		stock = state_new(0);
		ours = state_new(1);
	}
	op = data[0] % 5;
	r = data[0] / 5;
	init = (int8_t)data[1];
	sl = data[2] < size - 3 ? data[2] : size - 3;
	data += 3;
	size -= 3;

	steps = 0;
	run(ours, op, data, sl, data + sl, size - sl, init, r);
	a = lua_tostring(ours, -1);
	if (strstr(a, "fuzz: step cap"))
		return 0;
	run(stock, op, data, sl, data + sl, size - sl, init, r);
	b = lua_tostring(stock, -1);
	if (strcmp(a, b) != 0) {
		fprintf(stderr, "op %d init %d repl %d\n  stock: %s\n  ours:  %s\n", op, init, r, b, a);
		abort();
	}
	lua_settop(ours, 0);
	lua_settop(stock, 0);
	return 0;
}
