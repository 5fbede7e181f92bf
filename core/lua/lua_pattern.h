/* lua_pattern.h - string.find/match/gmatch/gsub that count their steps. */
#ifndef PT_LUA_PATTERN_H
#define PT_LUA_PATTERN_H

#include <stdint.h>

#include <lua.h>

/*
 * Called with the steps a pattern function has done since its last call
 * (about every 1000 steps, and once with the rest when it ends). It may
 * raise a Lua error (then the pattern function ends there: it holds no
 * memory of its own). The runtime passes lua_budget_charge.
 */
typedef void (*lua_pattern_charge_fn)(lua_State *L, uint64_t steps);

/*
 * Sets find, match, gmatch and gsub in the table at the top of the stack
 * (the string table) to versions that behave as Lua 5.4's and report their
 * steps to CHARGE (NULL: steps are not reported). Their recursion is
 * bounded as Lua's ("pattern too complex"). [-0, +0, m]
 */
void lua_pattern_open(lua_State *L, lua_pattern_charge_fn charge);

#endif
