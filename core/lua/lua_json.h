/*
 * lua_json.h - the `json` Lua module (jansson underneath) and the C helpers
 * the runtime uses to move JSON between the wire and a lua_State.
 *
 * Lua view:
 *   json.encode(value [, opts]) -> string          raises on unencodable input
 *   json.decode(string [, opts]) -> value | nil, msg  never raises on bad input
 *   json.null, json.array(t), json.object(t), json.is_array(v)
 *
 * Tables: a table encodes as an array when its keys are exactly 1..n (n >= 1)
 * or when it carries the array marker (json.array); otherwise as an object,
 * whose keys must all be strings. An empty plain table encodes as {}; use
 * json.array({}) for []. Decoded arrays and objects carry the markers, so
 * [] and {} survive a decode/encode round trip.
 *
 * Limits (document size, nesting depth) have process-wide defaults that the
 * runtime sets from config with lua_json_set_limits; opts may override them
 * per call ({ max_size = n, max_depth = n }). The depth limit applies to
 * encoding too, which is also how cycles are caught.
 */
#ifndef PT_LUA_JSON_H
#define PT_LUA_JSON_H

#include <stddef.h>

#include <lua.h>

#define LUA_JSON_DEFAULT_MAX_SIZE ((size_t)8 << 20)  /* 8 MiB */
#define LUA_JSON_DEFAULT_MAX_DEPTH 64
/* Hard ceiling on any depth limit: the converters recurse on the C stack. */
#define LUA_JSON_DEPTH_CAP 512

/* Registry names of the marker metatables (usable with luaL_setmetatable
 * once the module is open). */
#define LUA_JSON_ARRAY_MT "portico.json.array"
#define LUA_JSON_OBJECT_MT "portico.json.object"

/*
 * [-0, +1, m]  Push the module table; meant for luaL_requiref(L, "json",
 * lua_json_open, 1). Creates the marker metatables in L's registry.
 */
int lua_json_open(lua_State *L);

/*
 * Set the process-wide defaults used when a call passes no opts. MAX_SIZE 0
 * keeps the current size limit; MAX_DEPTH <= 0 keeps the current depth limit,
 * and depths above LUA_JSON_DEPTH_CAP are clamped to it. Safe to call while
 * other threads decode (the values are atomics); takes effect on their next
 * call.
 */
void lua_json_set_limits(size_t max_size, int max_depth);

/*
 * [-0, +(0|1), -]  Decode BUF[0..LEN) (borrowed for the call) with the
 * default limits and push the value. Returns 0, or -1 with nothing pushed and
 * a NUL-terminated sentence in ERR[0..ERRLEN) ("json.decode: ... at line L
 * column C"). Never raises: a Lua memory error is reported as -1 too.
 */
int lua_json_push(lua_State *L, const char *buf, size_t len, char *err,
                  size_t errlen);

/*
 * [-0, +0, -]  Encode the value at IDX (compact, default depth limit, keys in
 * table order). Returns a NUL-terminated string from malloc() that the caller
 * owns and free()s, with its length (without the NUL) in *LEN; or NULL with a
 * sentence in ERR ("json.encode: ..."). Never raises.
 */
char *lua_json_encode_value(lua_State *L, int idx, size_t *len, char *err,
                            size_t errlen);

#endif
