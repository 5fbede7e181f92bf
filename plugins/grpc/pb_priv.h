/*
 * pb_priv.h - the inside of the run-time protobuf library (pb.h): the
 * registry's records, the protobuf-c descriptors built from them, the
 * per-call arena and the helpers the Lua and JSON mappings share.
 * Private to plugins/grpc/pb_*.c and their unit tests.
 */
#ifndef PT_GRPC_PB_PRIV_H
#define PT_GRPC_PB_PRIV_H

#include <protobuf-c/protobuf-c.h>

#include "pb.h"

/* FieldDescriptorProto.Type values (descriptor.proto). */
enum {
	PBT_DOUBLE = 1, PBT_FLOAT, PBT_INT64, PBT_UINT64, PBT_INT32, PBT_FIXED64,
	PBT_FIXED32, PBT_BOOL, PBT_STRING, PBT_GROUP, PBT_MESSAGE, PBT_BYTES,
	PBT_UINT32, PBT_ENUM, PBT_SFIXED32, PBT_SFIXED64, PBT_SINT32, PBT_SINT64
};

/* The well-known types, which map to their JSON form. */
enum pb_wkt {
	WKT_NONE, WKT_TIMESTAMP, WKT_DURATION, WKT_STRUCT, WKT_VALUE, WKT_LIST,
	WKT_EMPTY, WKT_FIELDMASK, WKT_ANY,
	WKT_DOUBLE, WKT_FLOAT, WKT_INT64, WKT_UINT64, WKT_INT32, WKT_UINT32,
	WKT_BOOL, WKT_STRING, WKT_BYTES
};

/* A bump allocator: blocks freed together. */
struct pb_arena {
	struct pb_ablk *blk;
	char *p, *end;
};
void *pb_arena_alloc(struct pb_arena *a, size_t n);	/* 16-aligned, NULL: memory */
char *pb_arena_strndup(struct pb_arena *a, const char *s, size_t n);
void pb_arena_reset(struct pb_arena *a);	/* keeps one moderate block */
void pb_arena_free(struct pb_arena *a);
/* The calling thread's scratch arena for one top-level call (decode,
 * encode, JSON); pb_scratch_done resets it. Never nested. */
struct pb_arena *pb_scratch(void);
void pb_scratch_done(struct pb_arena *a);
/* A ProtobufCAllocator over an arena (free does nothing). */
void pb_arena_allocator(struct pb_arena *a, ProtobufCAllocator *out);

struct pb_file {
	const char *name, *package;
	int proto3;
	const uint8_t *raw;		/* the FileDescriptorProto bytes */
	size_t rawlen;
	const char **deps;
	unsigned ndeps;
};

struct pb_field {
	const char *name;		/* proto name, "user_id" */
	const char *json_name;		/* "userId" */
	unsigned name_len, json_len;
	uint32_t number;
	uint8_t type;			/* PBT_* */
	uint8_t label;			/* 1 optional, 2 required, 3 repeated */
	uint8_t presence;		/* singular with has-bit/pointer presence */
	uint8_t proto3_optional;
	uint8_t packed_opt;		/* [packed=...]: 0 unset, 1 false, 2 true */
	uint8_t is_map;
	uint8_t is_string_utf8;		/* a proto3 string: must be valid UTF-8 */
	int oneof;			/* index of a real oneof, or -1 */
	const char *type_name;		/* ".pkg.Msg" as written in the set */
	const char *default_text;	/* proto2 [default = ...], or NULL */
	const struct pb_msg *msg;	/* resolved message type */
	const struct pb_enum *en;	/* resolved enum type */
	const ProtobufCFieldDescriptor *cf;
};

struct pb_msg {
	const char *full_name;
	const char *short_name;
	const struct pb_file *file;
	struct pb_field *fields;	/* sorted by number after link */
	unsigned nfields;
	const char **oneofs;		/* names of the real oneofs */
	unsigned noneofs;
	int map_entry;
	enum pb_wkt wkt;
	unsigned index;			/* in the registry's message list */
	ProtobufCMessageDescriptor desc;
};

struct pb_enum_value {
	const char *name;
	unsigned name_len;
	int32_t number;
};

struct pb_enum {
	const char *full_name;
	const struct pb_file *file;
	struct pb_enum_value *values;	/* as declared */
	unsigned nvalues;
	ProtobufCEnumDescriptor desc;
};

struct pb_sym;

struct pb_registry {
	struct pb_arena mem;		/* every string and record */
	uint64_t serial;		/* unique per registry (Lua caches key on it) */
	int linked;
	struct pb_file **files;
	unsigned nfiles, capfiles;
	struct pb_msg **msgs;
	unsigned nmsgs, capmsgs;
	struct pb_enum **enums;
	unsigned nenums, capenums;
	struct pb_service **svcs;
	unsigned nsvcs, capsvcs;
	struct pb_sym *syms;		/* open addressing: name -> record */
	unsigned nsyms, capsyms;
};

enum { SYM_FILE = 1, SYM_MSG, SYM_ENUM, SYM_SVC, SYM_METHOD };
struct pb_sym {
	const char *name;
	int kind;
	void *ptr;
	const struct pb_file *file;
};

int pb_sym_add(struct pb_registry *r, const char *name, int kind, void *ptr,
               const struct pb_file *file);
/* The file named NAME[0..LEN), or NULL. */
const struct pb_sym *pb_file_find(const struct pb_registry *r, const char *name, size_t len);

/* pb_registry.c: the descriptor reader. */
int pb_parse_file(struct pb_registry *r, const uint8_t *data, size_t len, const char *origin,
                  char *err, size_t errlen);
/* pb_layout.c: the protobuf-c descriptors of every message and enum. */
int pb_layout_build(struct pb_registry *r, char *err, size_t errlen);
/* pb_wkt.c: after layout, keeps the well-known mapping only for messages
 * shaped as expected, and checks map entries. */
int pb_wkt_check(struct pb_registry *r, char *err, size_t errlen);

/* ---- wire (pb_wire.c) ---- */
/*
 * Checks DATA against M before protobuf-c sees it (wire types, lengths,
 * nesting within PB_MAX_DEPTH), then unpacks it into A. NULL with ERR
 * naming the field path on bad input.
 */
ProtobufCMessage *pb_unpack(const struct pb_msg *m, const uint8_t *data, size_t len,
                            struct pb_arena *a, char *err, size_t errlen);
/* Packs CM, appending to OUT. 0 or -1 (memory). */
int pb_pack(const ProtobufCMessage *cm, struct pb_buf *out);
/* A zeroed message of M (defaults set) in A, or NULL. */
ProtobufCMessage *pb_msg_new(const struct pb_msg *m, struct pb_arena *a);

/* Field access inside a protobuf-c message struct. */
#define PB_AT(cm, off) ((char *)(cm) + (off))
/* Is singular field F present in CM? (repeated: count > 0) */
int pb_field_present(const ProtobufCMessage *cm, const struct pb_field *f);
size_t pb_field_count(const ProtobufCMessage *cm, const struct pb_field *f);
/* Size of one value of F in a repeated array / the struct. */
size_t pb_field_elt_size(const struct pb_field *f);

/* ---- shared helpers (pb_util.c) ---- */
int pb_utf8_valid(const uint8_t *s, size_t n);
/* lowerCamelCase of NAME (protoc's json_name rule) into the arena. */
char *pb_camel(struct pb_arena *a, const char *name);
const struct pb_field *pb_field_by_name(const struct pb_msg *m, const char *name, size_t len);
const struct pb_field *pb_field_by_json(const struct pb_msg *m, const char *name, size_t len);
const struct pb_enum_value *pb_enum_by_number(const struct pb_enum *e, int32_t v);
const struct pb_enum_value *pb_enum_by_name(const struct pb_enum *e, const char *s, size_t n);
/* Timestamp and Duration text (RFC 3339; "1.5s"). Return length or -1. */
int pb_fmt_timestamp(int64_t secs, int32_t nanos, char *out, size_t outlen);
int pb_parse_timestamp(const char *s, size_t n, int64_t *secs, int32_t *nanos);
int pb_fmt_duration(int64_t secs, int32_t nanos, char *out, size_t outlen);
int pb_parse_duration(const char *s, size_t n, int64_t *secs, int32_t *nanos);
/* base64 (standard out; standard or url-safe, padded or not, in). */
uint8_t *pb_b64_decode(struct pb_arena *a, const char *s, size_t n, size_t *outlen);
/* FieldMask path lists: "a.b,c" <-> paths (camelCase <-> snake_case). */
int pb_fieldmask_to_text(struct pb_buf *b, const ProtobufCBinaryData *paths, size_t n);
int pb_fieldmask_from_text(struct pb_arena *a, const char *s, size_t n,
                           ProtobufCBinaryData **paths, size_t *np);
/* Resolves an Any type URL ("type.googleapis.com/pkg.Msg") to its message. */
const struct pb_msg *pb_any_type(const struct pb_registry *r, const char *url, size_t n);

/* Error text with a path prefix. */
enum { PATH_NONE, PATH_INDEX, PATH_SKEY, PATH_IKEY };
struct pb_path {
	const char *name[PB_MAX_DEPTH + 8];
	uint8_t kind[PB_MAX_DEPTH + 8];	/* PATH_*: what follows the name */
	long long index[PB_MAX_DEPTH + 8];	/* 0-based index, or an integer map key */
	const char *key[PB_MAX_DEPTH + 8];	/* a string map key */
	int depth;
};
/* Enters field NAME (no index yet); pb_path_pop leaves it. */
#define pb_path_push(p, n) ((p)->name[(p)->depth] = (n), (p)->kind[(p)->depth++] = PATH_NONE)
#define pb_path_pop(p) ((p)->depth--)
#define pb_path_index(p, i) ((p)->kind[(p)->depth - 1] = PATH_INDEX, (p)->index[(p)->depth - 1] = (i))
void pb_path_err(const struct pb_path *p, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
