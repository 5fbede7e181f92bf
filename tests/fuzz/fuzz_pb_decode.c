/*
 * fuzz_pb_decode.c - libFuzzer target for the run-time protobuf library
 * (plugins/grpc/pb_*.c): hostile bytes decoded to Lua and to JSON.
 *
 * Input: one byte choosing the message type, then the wire bytes. The
 * contracts are the .proto files of tests/unit/data/pb, compiled once with protoc (run
 * from the repository root, as tests/fuzz/run.sh does). Decoding may fail,
 * never crash; what decodes must encode back (Lua) and what becomes JSON
 * must parse back; the Lua stack must be balanced either way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "pb.h"

static const char *const types[] = {
	"pbtest.All", "pbtest.Wkt", "pbtest.Maps", "pbtest.Repeated", "pbtest.Nested",
	"pbtest.Scalars", "pbtest.Oneofs", "pbtest2.P2", "google.protobuf.Any",
	"google.protobuf.Value", "google.protobuf.Struct",
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static struct pb_registry *R;
static lua_State *L;

static void init(void)
{
	const char *protos[] = { "tests/unit/data/pb/all.proto", "tests/unit/data/pb/p2.proto" };
	const char *imports[] = { "tests/unit/data/pb", "proto" };
	char err[1024];

	R = pb_registry_new();
	for (unsigned i = 0; i < 2; i++) {
		struct pb_buf b = { 0 };

		if (pb_protoc(NULL, protos[i], imports, 2, &b, err, sizeof(err)) ||
		    pb_registry_add_set(R, b.p, b.len, protos[i], err, sizeof(err))) {
			fprintf(stderr, "fuzz_pb_decode: %s (run from the repository root)\n", err);
			abort();
		}
		pb_buf_free(&b);
	}
	if (pb_registry_link(R, err, sizeof(err))) {
		fprintf(stderr, "fuzz_pb_decode: %s\n", err);
		abort();
	}
	L = luaL_newstate();
	luaL_openlibs(L);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct pb_msg *m;
	struct pb_buf out = { 0 }, json = { 0 }, back = { 0 };
	char err[512];

	if (!R)
		init();
	if (size < 1)
		return 0;
	m = pb_find_msg(R, types[data[0] % NTYPES]);
	data++;
	size--;
	lua_settop(L, 0);
	if (pb_decode_lua(L, R, m, data, size, err, sizeof(err)) == 0) {
		if (lua_gettop(L) != 1)
			abort();
		if (pb_encode_lua(L, 1, R, m, &out, err, sizeof(err))) {
			fprintf(stderr, "decoded but not encodable: %s\n", err);
			abort();
		}
		if (lua_gettop(L) != 1)
			abort();
		lua_settop(L, 0);
		if (pb_decode_lua(L, R, m, out.p, out.len, err, sizeof(err))) {
			fprintf(stderr, "re-encoded bytes do not decode: %s\n", err);
			abort();
		}
	} else if (lua_gettop(L) != 0) {
		abort();
	}
	lua_settop(L, 0);
	if (pb_to_json(R, m, data, size, NULL, &json, err, sizeof(err)) == 0 &&
	    pb_from_json(R, m, (const char *)json.p, json.len, NULL, &back, err, sizeof(err)) &&
	    !strstr(err, "NUL byte in object key")) {	/* jansson's limit: NUL in map keys */
		fprintf(stderr, "JSON %.*s does not parse back: %s\n", (int)json.len, json.p, err);
		abort();
	}
	pb_buf_free(&out);
	pb_buf_free(&json);
	pb_buf_free(&back);
	return 0;
}
