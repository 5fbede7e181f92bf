/*
 * fuzz_pb_json.c - libFuzzer target for pb_from_json (plugins/grpc): the
 * JSON bodies REST transcoding turns into messages.
 *
 * Input: one byte choosing the message type, then JSON text. Parsing may
 * fail, never crash; what parses must write back as JSON and decode to Lua.
 * The contracts are the .proto files of tests/unit/data/pb, compiled once
 * with protoc (run from the repository root, as tests/fuzz/run.sh does).
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
	"google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.Timestamp",
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
			fprintf(stderr, "fuzz_pb_json: %s (run from the repository root)\n", err);
			abort();
		}
		pb_buf_free(&b);
	}
	if (pb_registry_link(R, err, sizeof(err))) {
		fprintf(stderr, "fuzz_pb_json: %s\n", err);
		abort();
	}
	L = luaL_newstate();
	luaL_openlibs(L);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pb_json_opts o = { 0 };
	const struct pb_msg *m;
	struct pb_buf bin = { 0 }, json = { 0 };
	char err[512];

	if (!R)
		init();
	if (size < 1)
		return 0;
	m = pb_find_msg(R, types[(data[0] & 0x7f) % NTYPES]);
	o.ignore_unknown = data[0] >> 7;
	data++;
	size--;
	if (pb_from_json(R, m, (const char *)data, size, &o, &bin, err, sizeof(err)) == 0) {
		if (pb_to_json(R, m, bin.p, bin.len, NULL, &json, err, sizeof(err))) {
			fprintf(stderr, "parsed but not writable: %s\n", err);
			abort();
		}
		lua_settop(L, 0);
		if (pb_decode_lua(L, R, m, bin.p, bin.len, err, sizeof(err))) {
			fprintf(stderr, "parsed but not decodable: %s\n", err);
			abort();
		}
		lua_settop(L, 0);
	} else if (bin.len) {
		abort();
	}
	pb_buf_free(&bin);
	pb_buf_free(&json);
	return 0;
}
