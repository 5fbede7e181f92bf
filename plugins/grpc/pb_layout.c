/*
 * pb_layout.c - protobuf-c descriptors built at run time.
 *
 * For every message, a struct layout is computed the way protoc-c would lay
 * out generated code: the ProtobufCMessage base, then per field (in number
 * order) its quantifier (size_t count for repeated, protobuf_c_boolean has_
 * for singular fields with presence, one uint32 case per oneof) and its
 * value (oneof members share one slot). protobuf-c's packer and unpacker
 * then work on these structs.
 *
 * proto `string` fields are described to protobuf-c as BYTES: the wire is
 * the same, lengths survive embedded NULs, and we check UTF-8 ourselves.
 * proto2 `required` is described as OPTIONAL (protobuf-c would crash packing
 * a missing required message); the Lua and JSON mappings check it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_priv.h"

static size_t value_size(const struct pb_field *f)
{
	switch (f->type) {
	case PBT_INT64: case PBT_UINT64: case PBT_FIXED64: case PBT_SFIXED64:
	case PBT_SINT64: case PBT_DOUBLE:
		return 8;
	case PBT_STRING: case PBT_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PBT_MESSAGE:
		return sizeof(void *);
	default:
		return 4;
	}
}

size_t pb_field_elt_size(const struct pb_field *f)
{
	return value_size(f);
}

static ProtobufCType ctype(int t)
{
	static const ProtobufCType map[] = {
		[PBT_DOUBLE] = PROTOBUF_C_TYPE_DOUBLE, [PBT_FLOAT] = PROTOBUF_C_TYPE_FLOAT,
		[PBT_INT64] = PROTOBUF_C_TYPE_INT64, [PBT_UINT64] = PROTOBUF_C_TYPE_UINT64,
		[PBT_INT32] = PROTOBUF_C_TYPE_INT32, [PBT_FIXED64] = PROTOBUF_C_TYPE_FIXED64,
		[PBT_FIXED32] = PROTOBUF_C_TYPE_FIXED32, [PBT_BOOL] = PROTOBUF_C_TYPE_BOOL,
		[PBT_STRING] = PROTOBUF_C_TYPE_BYTES, [PBT_MESSAGE] = PROTOBUF_C_TYPE_MESSAGE,
		[PBT_BYTES] = PROTOBUF_C_TYPE_BYTES, [PBT_UINT32] = PROTOBUF_C_TYPE_UINT32,
		[PBT_ENUM] = PROTOBUF_C_TYPE_ENUM, [PBT_SFIXED32] = PROTOBUF_C_TYPE_SFIXED32,
		[PBT_SFIXED64] = PROTOBUF_C_TYPE_SFIXED64, [PBT_SINT32] = PROTOBUF_C_TYPE_SINT32,
		[PBT_SINT64] = PROTOBUF_C_TYPE_SINT64,
	};
	return map[t];
}

static size_t align(size_t off, size_t a)
{
	return (off + a - 1) & ~(a - 1);
}

static int by_number(const void *a, const void *b)
{
	const struct pb_field *x = a, *y = b;

	return x->number < y->number ? -1 : x->number > y->number;
}

static int by_name(const void *a, const void *b, void *arg)
{
	const ProtobufCFieldDescriptor *f = arg;

	return strcmp(f[*(const unsigned *)a].name, f[*(const unsigned *)b].name);
}

/* Fills the field's default value from its proto2 [default = ...] text. */
static int set_default(struct pb_registry *r, const struct pb_field *f,
                       ProtobufCFieldDescriptor *cf)
{
	const char *t = f->default_text;
	char *end = NULL;
	void *v;

	if (!t || f->label == 3 || f->type == PBT_MESSAGE)
		return 0;
	v = pb_arena_alloc(&r->mem, 16);
	if (!v)
		return -1;
	errno = 0;
	switch (f->type) {
	case PBT_INT32: case PBT_SINT32: case PBT_SFIXED32:
		*(int32_t *)v = (int32_t)strtol(t, &end, 0);
		break;
	case PBT_UINT32: case PBT_FIXED32:
		*(uint32_t *)v = (uint32_t)strtoul(t, &end, 0);
		break;
	case PBT_INT64: case PBT_SINT64: case PBT_SFIXED64:
		*(int64_t *)v = strtoll(t, &end, 0);
		break;
	case PBT_UINT64: case PBT_FIXED64:
		*(uint64_t *)v = strtoull(t, &end, 0);
		break;
	case PBT_DOUBLE: case PBT_FLOAT: {
		double d = !strcmp(t, "inf") ? INFINITY : !strcmp(t, "-inf") ? -INFINITY :
			!strcmp(t, "nan") ? NAN : strtod(t, &end);

		if (!end)
			end = (char *)t + strlen(t);
		if (f->type == PBT_FLOAT)
			*(float *)v = (float)d;
		else
			*(double *)v = d;
		break;
	}
	case PBT_BOOL:
		*(protobuf_c_boolean *)v = !strcmp(t, "true");
		end = (char *)t + strlen(t);
		break;
	case PBT_ENUM: {
		const struct pb_enum_value *ev = pb_enum_by_name(f->en, t, strlen(t));

		*(int32_t *)v = ev ? ev->number : 0;
		end = (char *)t + strlen(t);
		break;
	}
	case PBT_STRING: case PBT_BYTES: {
		/* protoc writes bytes defaults C-escaped; strings as they are. */
		size_t n = strlen(t), o = 0;
		uint8_t *d = pb_arena_alloc(&r->mem, n + 1);
		ProtobufCBinaryData *bd = v;

		if (!d)
			return -1;
		for (size_t i = 0; i < n; i++) {
			if (f->type == PBT_BYTES && t[i] == '\\' && i + 1 < n) {
				char c = t[++i];

				if (c >= '0' && c <= '7') {
					int x = 0, k = 0;

					while (k < 3 && i < n && t[i] >= '0' && t[i] <= '7')
						x = x * 8 + (t[i++] - '0'), k++;
					i--;
					d[o++] = (uint8_t)x;
				} else {
					d[o++] = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
				}
			} else {
				d[o++] = (uint8_t)t[i];
			}
		}
		bd->data = d;
		bd->len = o;
		end = (char *)t + n;
		break;
	}
	}
	if (!end || *end)
		return 0;	/* unreadable default: leave none rather than a wrong one */
	cf->default_value = v;
	return 0;
}

static int packable(int t)
{
	return t != PBT_STRING && t != PBT_BYTES && t != PBT_MESSAGE && t != PBT_GROUP;
}

static int build_msg(struct pb_registry *r, struct pb_msg *m, char *err, size_t errlen)
{
	ProtobufCFieldDescriptor *cf;
	ProtobufCIntRange *ranges;
	unsigned *sorted, nranges = 0;
	size_t off = sizeof(ProtobufCMessage);
	size_t *oneof_case = NULL, *oneof_val = NULL;
	unsigned n = m->nfields;

	qsort(m->fields, n, sizeof(*m->fields), by_number);
	cf = pb_arena_alloc(&r->mem, (n ? n : 1) * sizeof(*cf));
	sorted = pb_arena_alloc(&r->mem, (n ? n : 1) * sizeof(*sorted));
	ranges = pb_arena_alloc(&r->mem, (n + 1) * sizeof(*ranges));
	if (m->noneofs) {
		oneof_case = pb_arena_alloc(&r->mem, m->noneofs * sizeof(size_t));
		oneof_val = pb_arena_alloc(&r->mem, m->noneofs * sizeof(size_t));
	}
	if (!cf || !sorted || !ranges || (m->noneofs && (!oneof_case || !oneof_val)))
		goto nomem;
	memset(cf, 0, (n ? n : 1) * sizeof(*cf));
	for (unsigned i = 0; i < m->noneofs; i++) {
		size_t sz = 4;

		for (unsigned j = 0; j < n; j++)
			if (m->fields[j].oneof == (int)i && value_size(&m->fields[j]) > sz)
				sz = value_size(&m->fields[j]);
		off = align(off, 4);
		oneof_case[i] = off;
		off = align(off + 4, 8);
		oneof_val[i] = off;
		off += sz;
	}
	for (unsigned i = 0; i < n; i++) {
		struct pb_field *f = &m->fields[i];
		ProtobufCFieldDescriptor *c = &cf[i];

		if (i && f->number == m->fields[i - 1].number) {
			snprintf(err, errlen, "%s: %s: field number %u is used twice", m->file->name,
			         m->full_name, f->number);
			return -1;
		}
		c->name = f->name;
		c->id = f->number;
		c->type = ctype(f->type);
		c->descriptor = f->msg ? (const void *)&f->msg->desc :
			f->en ? (const void *)&f->en->desc : NULL;
		if (f->label == 3) {
			c->label = PROTOBUF_C_LABEL_REPEATED;
			off = align(off, sizeof(size_t));
			c->quantifier_offset = (unsigned)off;
			off += sizeof(size_t);
			c->offset = (unsigned)off;
			off += sizeof(void *);
			if (packable(f->type) &&
			    (f->packed_opt == 2 || (f->packed_opt == 0 && m->file->proto3)))
				c->flags |= PROTOBUF_C_FIELD_FLAG_PACKED;
		} else if (f->oneof >= 0) {
			c->label = PROTOBUF_C_LABEL_OPTIONAL;
			c->flags |= PROTOBUF_C_FIELD_FLAG_ONEOF;
			c->quantifier_offset = (unsigned)oneof_case[f->oneof];
			c->offset = (unsigned)oneof_val[f->oneof];
		} else if (f->presence && f->type != PBT_MESSAGE) {
			c->label = PROTOBUF_C_LABEL_OPTIONAL;
			off = align(off, sizeof(protobuf_c_boolean));
			c->quantifier_offset = (unsigned)off;
			off += sizeof(protobuf_c_boolean);
			off = align(off, value_size(f) >= 8 ? 8 : 4);
			c->offset = (unsigned)off;
			off += value_size(f);
		} else {
			c->label = f->type == PBT_MESSAGE ? PROTOBUF_C_LABEL_OPTIONAL :
				PROTOBUF_C_LABEL_NONE;
			off = align(off, value_size(f) >= 8 ? 8 : 4);
			c->offset = (unsigned)off;
			off += value_size(f);
		}
		if (f->label == 2 && f->type != PBT_MESSAGE && c->label != PROTOBUF_C_LABEL_OPTIONAL) {
			/* required scalars in proto2 always have presence (file is proto2) */
			c->label = PROTOBUF_C_LABEL_OPTIONAL;
		}
		if (set_default(r, f, c))
			goto nomem;
		if (!i || f->number != m->fields[i - 1].number + 1) {
			ranges[nranges].start_value = (int)f->number;
			ranges[nranges].orig_index = i;
			nranges++;
		}
		sorted[i] = i;
		f->cf = c;
	}
	ranges[nranges].start_value = 0;
	ranges[nranges].orig_index = n;
	qsort_r(sorted, n, sizeof(*sorted), by_name, cf);
	m->desc.magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC;
	m->desc.name = m->full_name;
	m->desc.short_name = m->short_name;
	m->desc.c_name = m->full_name;
	m->desc.package_name = m->file->package;
	m->desc.sizeof_message = align(off, 8);
	m->desc.n_fields = n;
	m->desc.fields = cf;
	m->desc.fields_sorted_by_name = sorted;
	m->desc.n_field_ranges = nranges;
	m->desc.field_ranges = ranges;
	m->desc.message_init = NULL;	/* protobuf-c then sets defaults itself */
	return 0;
nomem:
	snprintf(err, errlen, "out of memory building %s", m->full_name);
	return -1;
}

static int by_value(const void *a, const void *b)
{
	const ProtobufCEnumValue *x = a, *y = b;

	return x->value < y->value ? -1 : x->value > y->value;
}

static int by_vname(const void *a, const void *b)
{
	return strcmp(((const ProtobufCEnumValueIndex *)a)->name,
	              ((const ProtobufCEnumValueIndex *)b)->name);
}

static int build_enum(struct pb_registry *r, struct pb_enum *e)
{
	unsigned n = e->nvalues, nu = 0, nr = 0;
	ProtobufCEnumValue *vals = pb_arena_alloc(&r->mem, (n ? n : 1) * sizeof(*vals));
	ProtobufCEnumValueIndex *names = pb_arena_alloc(&r->mem, (n ? n : 1) * sizeof(*names));
	ProtobufCIntRange *ranges = pb_arena_alloc(&r->mem, (n + 1) * sizeof(*ranges));
	const char *dot = strrchr(e->full_name, '.');

	if (!vals || !names || !ranges)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		vals[i].name = e->values[i].name;
		vals[i].c_name = e->values[i].name;
		vals[i].value = e->values[i].number;
	}
	/* stable: the first declared name of an aliased value stays */
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && vals[j - 1].value > vals[j].value; j--) {
			ProtobufCEnumValue t = vals[j];

			vals[j] = vals[j - 1];
			vals[j - 1] = t;
		}
	for (unsigned i = 0; i < n; i++)
		if (!nu || vals[nu - 1].value != vals[i].value)
			vals[nu++] = vals[i];
	for (unsigned i = 0; i < n; i++) {
		names[i].name = e->values[i].name;
		for (unsigned j = 0; j < nu; j++)
			if (vals[j].value == e->values[i].number)
				names[i].index = j;
	}
	qsort(names, n, sizeof(*names), by_vname);
	for (unsigned i = 0; i < nu; i++)
		if (!i || vals[i].value != vals[i - 1].value + 1) {
			ranges[nr].start_value = vals[i].value;
			ranges[nr].orig_index = i;
			nr++;
		}
	ranges[nr].start_value = 0;
	ranges[nr].orig_index = nu;
	(void)by_value;
	e->desc.magic = PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC;
	e->desc.name = e->full_name;
	e->desc.short_name = dot ? dot + 1 : e->full_name;
	e->desc.c_name = e->full_name;
	e->desc.package_name = e->file->package;
	e->desc.n_values = nu;
	e->desc.values = vals;
	e->desc.n_value_names = n;
	e->desc.values_by_name = names;
	e->desc.n_value_ranges = nr;
	e->desc.value_ranges = ranges;
	return 0;
}

int pb_layout_build(struct pb_registry *r, char *err, size_t errlen)
{
	for (unsigned i = 0; i < r->nenums; i++)
		if (build_enum(r, r->enums[i])) {
			snprintf(err, errlen, "out of memory building %s", r->enums[i]->full_name);
			return -1;
		}
	for (unsigned i = 0; i < r->nmsgs; i++)
		if (build_msg(r, r->msgs[i], err, errlen))
			return -1;
	return 0;
}
