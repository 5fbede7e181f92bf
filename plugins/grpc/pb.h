/*
 * pb.h - protobuf contracts loaded at run time, for the grpc plugin.
 *
 * A registry holds every file of one or more FileDescriptorSets (from
 * `protoc --include_imports -o`, or made by running protoc on .proto files
 * at start and reload). Linking it builds a protobuf-c
 * ProtobufCMessageDescriptor for every message (field offsets from a
 * computed layout), so protobuf-c's own packer and unpacker do the wire
 * work for services that were never compiled in.
 *
 * Messages map to Lua tables both ways and to JSON per the proto3 JSON
 * mapping (doc/grpc.md says the rules). A registry is immutable once
 * linked: workers share it read-only.
 *
 * CONTRACT between the pieces of the grpc plugin: functions may be added;
 * what is here keeps its meaning.
 */
#ifndef PT_GRPC_PB_H
#define PT_GRPC_PB_H

#include <stddef.h>
#include <stdint.h>

struct lua_State;
struct pb_registry;
struct pb_msg;		/* one message type */
struct pb_enum;		/* one enum type */

/* A growing byte buffer (malloc'd); pb_buf_free releases it. */
struct pb_buf {
	uint8_t *p;
	size_t len, cap;
};
int pb_buf_add(struct pb_buf *b, const void *data, size_t len);	/* 0 or -1 (memory) */
void pb_buf_free(struct pb_buf *b);
/* Standard base64 (padded) of S appended to B: 0 or -1 (memory). */
int pb_b64_encode(struct pb_buf *b, const uint8_t *s, size_t n);
/* The 6-bit value of a base64 character (standard or URL-safe alphabet), or -1. */
int pb_b64_value(int c);

struct pb_method {
	const char *name;		/* "Get" */
	const char *path;		/* "/orders.v1.Orders/Get" (the HTTP/2 :path) */
	const struct pb_msg *in, *out;
	int client_streaming, server_streaming;
	const struct pb_service *service;
	/* google.api.http, when the method has one (else NULL verb) */
	const char *http_verb;		/* "GET", "POST", ... ("*" for custom: see http_custom) */
	const char *http_path;		/* the path template, e.g. "/v1/orders/{id}" */
	const char *http_body;		/* "", "*" or a field name */
	const char *http_response_body;	/* "" or a field name */
	/* additional_bindings: more (verb, path, body) triples */
	const struct pb_http_rule *http_more;
	unsigned nhttp_more;
};

struct pb_http_rule {
	const char *verb, *path, *body, *response_body;
};
/* (added) A `custom` pattern gives its kind as the verb: "HEAD", "OPTIONS",
 * or "*" for any method (pb_method has no http_custom field). body and
 * response_body are "" when absent; path is never NULL when verb is set. */

struct pb_service {
	const char *full_name;		/* "orders.v1.Orders" */
	const char *file;		/* the .proto file name it is declared in */
	const struct pb_method *methods;
	unsigned nmethods;
};

/* ---- building a registry (main thread, at start and reload) ----------------- */

struct pb_registry *pb_registry_new(void);
void pb_registry_free(struct pb_registry *r);

/*
 * Adds the files of a serialized FileDescriptorSet. ORIGIN names where it
 * came from for errors ("conf/orders.pb"). A file already present with the
 * same name and bytes is skipped; the same name with other bytes is an
 * error. 0, or -1 with ERR set.
 */
int pb_registry_add_set(struct pb_registry *r, const void *data, size_t len,
                        const char *origin, char *err, size_t errlen);

/*
 * Runs protoc (PROTOC, NULL: "protoc" on PATH) on PROTO with the import
 * folders (and the system's, /usr/include, for google/protobuf/...), with
 * --include_imports, into a temporary FileDescriptorSet, and returns its
 * bytes in OUT. A timeout of 30 s; protoc's own messages (file:line:col)
 * are passed on in ERR. 0, or -1 with ERR set.
 */
int pb_protoc(const char *protoc, const char *proto, const char *const *import_paths,
              unsigned nimport, struct pb_buf *out, char *err, size_t errlen);

/*
 * Resolves every type reference and builds the protobuf-c descriptors.
 * After this the registry is read-only. 0, or -1 with ERR (a missing
 * dependency, an unknown type name).
 */
int pb_registry_link(struct pb_registry *r, char *err, size_t errlen);

/* ---- lookups (any thread, after link) ----------------------------------------- */

const struct pb_msg *pb_find_msg(const struct pb_registry *r, const char *full_name);
const struct pb_enum *pb_find_enum(const struct pb_registry *r, const char *full_name);
const struct pb_service *pb_find_service(const struct pb_registry *r, const char *full_name);
/* PATH: "/pkg.Service/Method" (leading slash optional). */
const struct pb_method *pb_find_method(const struct pb_registry *r, const char *path);
unsigned pb_service_count(const struct pb_registry *r);
const struct pb_service *pb_service_at(const struct pb_registry *r, unsigned i);
const char *pb_msg_name(const struct pb_msg *m);	/* full name, no leading dot */

/* For server reflection: the serialized FileDescriptorProto of a file by
 * name, or of the file declaring SYMBOL (a message, enum, service, method
 * or field full name); and the names of the files a file imports. */
int pb_file_by_name(const struct pb_registry *r, const char *name,
                    const uint8_t **data, size_t *len);
int pb_file_by_symbol(const struct pb_registry *r, const char *symbol,
                      const char **file_name);
unsigned pb_file_deps(const struct pb_registry *r, const char *name,
                      const char *const **deps);

/* ---- the fields of a message type (added: transcoding, OpenAPI) ----------------- */

/* Field types: descriptor.proto's FieldDescriptorProto.Type numbers. */
enum pb_type {
	PB_DOUBLE = 1, PB_FLOAT = 2, PB_INT64 = 3, PB_UINT64 = 4, PB_INT32 = 5, PB_FIXED64 = 6,
	PB_FIXED32 = 7, PB_BOOL = 8, PB_STRING = 9, PB_MESSAGE = 11, PB_BYTES = 12,
	PB_UINT32 = 13, PB_ENUM = 14, PB_SFIXED32 = 15, PB_SFIXED64 = 16, PB_SINT32 = 17,
	PB_SINT64 = 18
};

struct pb_field_info {
	const char *name;		/* the proto name, "user_id" */
	const char *json_name;		/* "userId" */
	uint32_t number;
	enum pb_type type;
	int repeated;			/* maps too */
	int map;			/* a map: MSG is the entry (key field 1, value field 2) */
	int has_presence;		/* singular and "unset" differs from the default */
	int required;			/* proto2 required */
	const char *oneof;		/* the name of its (real) oneof, or NULL */
	const struct pb_msg *msg;	/* PB_MESSAGE: the type */
	const struct pb_enum *en;	/* PB_ENUM: the type */
};

/* Fields in number order; pb_msg_field_at fills FI and returns 0, or -1
 * past the end. pb_msg_field_find takes the proto or the JSON name. The
 * strings and types are the registry's (valid while it lives). */
unsigned pb_msg_field_count(const struct pb_msg *m);
int pb_msg_field_at(const struct pb_msg *m, unsigned i, struct pb_field_info *fi);
int pb_msg_field_find(const struct pb_msg *m, const char *name, struct pb_field_info *fi);
/* The file a message is declared in ("orders.proto"). */
const char *pb_msg_file(const struct pb_msg *m);
/* An enum's full name, and its values as declared (name, number). */
const char *pb_enum_name(const struct pb_enum *e);
unsigned pb_enum_value_count(const struct pb_enum *e);
const char *pb_enum_value_at(const struct pb_enum *e, unsigned i, int32_t *number);

/* ---- limits ---------------------------------------------------------------------- */

#define PB_MAX_DEPTH 64		/* nesting of messages/values, both directions */
/* Decoding refuses input whose unpacked structs would take more than this
 * many times its size (plus 1 MiB): e.g. a million empty elements of a
 * message type with many fields. */
#define PB_DECODE_EXPANSION 64

/* ---- messages <-> Lua -------------------------------------------------------------
 * Mapping (doc/grpc.md): a message is a table keyed by field name; proto3
 * scalars without presence are always there on decode (0, "", false);
 * unset message fields, unset `optional` fields and unset oneof members
 * are nil; repeated fields are always arrays (possibly empty); maps are
 * tables keyed by the map key; enums decode to their value name (a number
 * without a name stays a number) and encode from a name or a number;
 * 64-bit integers are Lua integers (exact; uint64 above 2^63-1 wraps to a
 * negative integer, as math.ult reads it); bytes are strings. The
 * well-known types take their JSON form: Timestamp an RFC 3339 string,
 * Duration "1.5s", Struct a table, Value any value (nil for null...),
 * ListValue an array, wrappers the plain value, Empty {}, FieldMask
 * "a.b,c", Any a table with "@type" (its message fields beside it).
 * Encoding refuses a value of the wrong type naming the field path
 * ("items[2].price: expected a number, got string").
 */

/* Decodes DATA as M and pushes a table. 0, or -1 with ERR (nothing pushed).
 * Never raises except for memory. */
int pb_decode_lua(struct lua_State *L, const struct pb_registry *r, const struct pb_msg *m,
                  const uint8_t *data, size_t len, char *err, size_t errlen);
/* Encodes the value at IDX as M, appending the wire bytes to OUT. 0, or -1
 * with ERR. Never raises except for memory. */
int pb_encode_lua(struct lua_State *L, int idx, const struct pb_registry *r,
                  const struct pb_msg *m, struct pb_buf *out, char *err, size_t errlen);

/* ---- messages <-> JSON (proto3 JSON mapping) ---------------------------------- */

struct pb_json_opts {
	int emit_defaults;		/* fields with default values are written too */
	int original_names;		/* proto field names instead of lowerCamelCase */
	int ignore_unknown;		/* parsing: unknown fields are skipped, not errors */
};

int pb_to_json(const struct pb_registry *r, const struct pb_msg *m, const uint8_t *data,
               size_t len, const struct pb_json_opts *o, struct pb_buf *out, char *err,
               size_t errlen);
int pb_from_json(const struct pb_registry *r, const struct pb_msg *m, const char *json,
                 size_t len, const struct pb_json_opts *o, struct pb_buf *out, char *err,
                 size_t errlen);

#endif
