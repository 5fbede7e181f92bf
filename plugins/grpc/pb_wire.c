/*
 * pb_wire.c - the guard in front of protobuf-c's unpacker, and pack/unpack
 * wrappers over the per-call arena.
 *
 * protobuf-c recurses into sub-messages without a depth limit and reports
 * bad input only as NULL. One cheap pass over the bytes first checks tags,
 * wire types against the declared field types, lengths and nesting depth,
 * so hostile bytes get an error naming the field path and never reach a
 * deep recursion.
 */
#include <string.h>

#include "pb_priv.h"

static int varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;

	for (int i = 0; i < 10; i++) {
		if (p >= end)
			return -1;
		x |= (uint64_t)(*p & 0x7f) << (7 * i);
		if (!(*p++ & 0x80)) {
			*pp = p;
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* The wire type a field of type T has when not packed. */
static int wire_of(int t)
{
	switch (t) {
	case PBT_DOUBLE: case PBT_FIXED64: case PBT_SFIXED64:
		return 1;
	case PBT_FLOAT: case PBT_FIXED32: case PBT_SFIXED32:
		return 5;
	case PBT_STRING: case PBT_BYTES: case PBT_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

static const char *const wt_name[] = { "varint", "64-bit", "length-delimited", "group start",
	"group end", "32-bit", "6", "7" };

/*
 * *COST adds up what protobuf-c will allocate (structs, repeated arrays,
 * copies of bytes and unknown fields), so a small input that would expand
 * into gigabytes (a million empty elements of a large message) is refused.
 */
static int scan(const struct pb_msg *m, const uint8_t *p, const uint8_t *end,
                struct pb_path *path, size_t *cost, char *err, size_t errlen)
{
	*cost += m->desc.sizeof_message + 16;
	while (p < end) {
		uint64_t tag, v;
		const ProtobufCFieldDescriptor *cf;
		const struct pb_field *f = NULL;
		const uint8_t *body = NULL;
		int wt;

		if (varint(&p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
			pb_path_err(path, err, errlen, "bad field tag");
			return -1;
		}
		wt = tag & 7;
		cf = protobuf_c_message_descriptor_get_field(&m->desc, (unsigned)(tag >> 3));
		if (cf)
			f = &m->fields[cf - m->desc.fields];
		if (f) {
			if (path->depth >= PB_MAX_DEPTH + 4) {
				pb_path_err(path, err, errlen, "messages nested deeper than %d",
				            PB_MAX_DEPTH);
				return -1;
			}
			pb_path_push(path, f->name);
		}
		switch (wt) {
		case 0:
			if (varint(&p, end, &v))
				goto trunc;
			break;
		case 1:
			if (end - p < 8)
				goto trunc;
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				goto trunc;
			p += 4;
			break;
		case 2:
			if (varint(&p, end, &v) || v > (uint64_t)(end - p))
				goto trunc;
			body = p;
			p += v;
			break;
		default:
			pb_path_err(path, err, errlen, "unsupported wire type %d in field %u", wt,
			            (unsigned)(tag >> 3));
			return -1;
		}
		if (!f) {
			*cost += 48 + (body ? (size_t)(p - body) : 8);
			continue;
		}
		if (!body || f->type == PBT_MESSAGE)
			*cost += 16;	/* a slot; a message adds its own below */
		else if (f->type == PBT_STRING || f->type == PBT_BYTES)
			*cost += 16 + (size_t)(p - body);
		else
			*cost += 8 * (size_t)(p - body);	/* packed: at most one value a byte */
		if (wt != wire_of(f->type)) {
			int w = wire_of(f->type);

			if (!(wt == 2 && f->label == 3 && w != 2)) {
				pb_path_err(path, err, errlen, "wrong wire type (%s for a %s field)",
				            wt_name[wt], wt_name[w]);
				return -1;
			}
			/* packed repeated scalars */
			if ((w == 1 && (p - body) % 8) || (w == 5 && (p - body) % 4)) {
				pb_path_err(path, err, errlen, "packed field length is not a multiple of %d",
				            w == 1 ? 8 : 4);
				return -1;
			}
			for (const uint8_t *q = body; w == 0 && q < p;)
				if (varint(&q, p, &v)) {
					pb_path_err(path, err, errlen, "bad varint in packed field");
					return -1;
				}
		} else if (f->type == PBT_MESSAGE) {
			if (path->depth >= PB_MAX_DEPTH) {
				pb_path_err(path, err, errlen, "messages nested deeper than %d",
				            PB_MAX_DEPTH);
				return -1;
			}
			if (scan(f->msg, body, p, path, cost, err, errlen))
				return -1;
		}
		path->depth--;
	}
	return 0;
trunc:
	pb_path_err(path, err, errlen, "truncated message (a length or value runs past the end)");
	return -1;
}

ProtobufCMessage *pb_unpack(const struct pb_msg *m, const uint8_t *data, size_t len,
                            struct pb_arena *a, char *err, size_t errlen)
{
	struct pb_path path;
	ProtobufCAllocator al;
	ProtobufCMessage *cm;
	size_t cost = 0;

	if (!data)
		data = (const uint8_t *)"";	/* empty bytes (an Any's value) */
	path.depth = 0;
	if (scan(m, data, data + len, &path, &cost, err, errlen))
		return NULL;
	if (cost / PB_DECODE_EXPANSION > len + ((size_t)1 << 20)) {
		pb_path_err(NULL, err, errlen, "a %zu-byte %s would take %zu MB to decode (the limit "
		            "is %d times its size)", len, m->full_name, cost >> 20, PB_DECODE_EXPANSION);
		return NULL;
	}
	pb_arena_allocator(a, &al);
	cm = protobuf_c_message_unpack(&m->desc, &al, len, data);
	if (!cm)
		pb_path_err(NULL, err, errlen, "invalid %s message (or out of memory)", m->full_name);
	return cm;
}

int pb_pack(const ProtobufCMessage *cm, struct pb_buf *out)
{
	size_t n = protobuf_c_message_get_packed_size(cm);

	if (n == 0)
		return 0;
	if (out->cap - out->len < n) {
		size_t had = out->len;

		if (pb_buf_add(out, NULL, n))
			return -1;
		out->len = had;
	}
	out->len += protobuf_c_message_pack(cm, out->p + out->len);
	return 0;
}

ProtobufCMessage *pb_msg_new(const struct pb_msg *m, struct pb_arena *a)
{
	ProtobufCMessage *cm = pb_arena_alloc(a, m->desc.sizeof_message);

	if (cm) {
		memset(cm, 0, m->desc.sizeof_message);
		cm->descriptor = &m->desc;
	}
	return cm;
}

size_t pb_field_count(const ProtobufCMessage *cm, const struct pb_field *f)
{
	return *(const size_t *)PB_AT(cm, f->cf->quantifier_offset);
}

int pb_field_present(const ProtobufCMessage *cm, const struct pb_field *f)
{
	const ProtobufCFieldDescriptor *cf = f->cf;
	const char *v = PB_AT(cm, cf->offset);

	if (f->label == 3)
		return *(const size_t *)PB_AT(cm, cf->quantifier_offset) != 0;
	if (f->oneof >= 0)
		return *(const uint32_t *)PB_AT(cm, cf->quantifier_offset) == f->number;
	if (f->type == PBT_MESSAGE)
		return *(void *const *)v != NULL;
	if (f->presence)
		return *(const protobuf_c_boolean *)PB_AT(cm, cf->quantifier_offset) != 0;
	/* proto3 without presence: present when not the default */
	switch (f->type) {
	case PBT_STRING: case PBT_BYTES:
		return ((const ProtobufCBinaryData *)v)->len != 0;
	case PBT_DOUBLE: {
		double d;

		memcpy(&d, v, 8);
		return d != 0 || (1 / d) < 0;	/* -0.0 is written */
	}
	case PBT_FLOAT: {
		float x;

		memcpy(&x, v, 4);
		return x != 0 || (1 / x) < 0;
	}
	case PBT_INT64: case PBT_UINT64: case PBT_FIXED64: case PBT_SFIXED64: case PBT_SINT64:
		return *(const uint64_t *)v != 0;
	default:
		return *(const uint32_t *)v != 0;
	}
}
