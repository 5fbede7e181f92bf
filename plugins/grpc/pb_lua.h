/*
 * pb_lua.h - the walk shared by pb_lua.c (messages) and pb_lua_wkt.c
 * (well-known types). Private to the protobuf library.
 */
#ifndef PT_GRPC_PB_LUA_H
#define PT_GRPC_PB_LUA_H

#include <lua.h>

#include "pb_priv.h"

struct pb_lctx {
	lua_State *L;
	const struct pb_registry *r;
	struct pb_arena *a;		/* the call's scratch arena */
	struct pb_path path;		/* for error messages */
	int depth;			/* message nesting, Any included */
	int cache;			/* stack slot of the names cache */
	char *err;
	size_t errlen;
};

/* Error with the current path; returns -1. */
int pb_lua_fail(struct pb_lctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *pb_lua_typename(struct pb_lctx *c, int idx);

/* [-0, +1, m] json.null when the json module is loaded, else a NULL light
 * userdata: a null Value inside a ListValue, Struct or map keeps its place. */
void pb_lua_push_null(lua_State *L);

/* [-0, +1, m] decoding: a value of F at V; a message. 0 or -1. */
int pb_lua_push_value(struct pb_lctx *c, const struct pb_field *f, const void *v);
int pb_lua_push_msg(struct pb_lctx *c, const struct pb_msg *m, const ProtobufCMessage *cm);
int pb_lua_push_wkt(struct pb_lctx *c, const struct pb_msg *m, const ProtobufCMessage *cm);

/* [-0, +0, m] encoding: the Lua value at IDX (absolute) into DST / *OUT. */
int pb_lua_to_value(struct pb_lctx *c, const struct pb_field *f, int idx, void *dst);
int pb_lua_to_msg(struct pb_lctx *c, const struct pb_msg *m, int idx, ProtobufCMessage **out);
int pb_lua_to_wkt(struct pb_lctx *c, const struct pb_msg *m, int idx, ProtobufCMessage **out);

#endif
