/*
 * pb_registry.c - the registry of pb.h: files added from FileDescriptorSets,
 * a symbol table, linking (type references, map fields, methods, the
 * well-known types) and the lookups the server, client and reflection use.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_priv.h"

static atomic_uint_fast64_t serials;

struct pb_registry *pb_registry_new(void)
{
	struct pb_registry *r = calloc(1, sizeof(*r));

	if (r)
		r->serial = atomic_fetch_add(&serials, 1) + 1;
	return r;
}

void pb_registry_free(struct pb_registry *r)
{
	if (!r)
		return;
	pb_arena_free(&r->mem);
	free(r->files);
	free(r->msgs);
	free(r->enums);
	free(r->svcs);
	free(r->syms);
	free(r);
}

/* ---- symbols: open addressing, FNV-1a ---- */

static uint32_t hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static int sym_grow(struct pb_registry *r)
{
	unsigned cap = r->capsyms ? r->capsyms * 2 : 256;
	struct pb_sym *t = calloc(cap, sizeof(*t));

	if (!t)
		return -1;
	for (unsigned i = 0; i < r->capsyms; i++) {
		struct pb_sym *s = &r->syms[i];
		unsigned j;

		if (!s->name)
			continue;
		j = hash(s->name, strlen(s->name)) & (cap - 1);
		while (t[j].name)
			j = (j + 1) & (cap - 1);
		t[j] = *s;
	}
	free(r->syms);
	r->syms = t;
	r->capsyms = cap;
	return 0;
}

/* One table for file names and symbols; files are a namespace of their own
 * (kind SYM_FILE), so a file "a.b" and a message "a.b" do not collide.
 * 0, 1 (already there) or -1 (memory). */
int pb_sym_add(struct pb_registry *r, const char *name, int kind, void *ptr,
               const struct pb_file *file)
{
	size_t n = strlen(name);
	unsigned j;

	if ((r->nsyms + 1) * 4 >= r->capsyms * 3 && sym_grow(r))
		return -1;
	j = hash(name, n) & (r->capsyms - 1);
	while (r->syms[j].name) {
		if (!strcmp(r->syms[j].name, name) &&
		    (r->syms[j].kind == SYM_FILE) == (kind == SYM_FILE))
			return 1;
		j = (j + 1) & (r->capsyms - 1);
	}
	r->syms[j].name = name;
	r->syms[j].kind = kind;
	r->syms[j].ptr = ptr;
	r->syms[j].file = file;
	r->nsyms++;
	return 0;
}

static const struct pb_sym *sym_find_kind(const struct pb_registry *r, const char *name,
                                          size_t n, int files)
{
	unsigned j;

	if (!r->capsyms)
		return NULL;
	j = hash(name, n) & (r->capsyms - 1);
	while (r->syms[j].name) {
		const struct pb_sym *s = &r->syms[j];

		if ((s->kind == SYM_FILE) == files && !strncmp(s->name, name, n) && !s->name[n])
			return s;
		j = (j + 1) & (r->capsyms - 1);
	}
	return NULL;
}

const struct pb_sym *pb_file_find(const struct pb_registry *r, const char *name, size_t len)
{
	return sym_find_kind(r, name, len, 1);
}

static const struct pb_sym *sym(const struct pb_registry *r, const char *name)
{
	if (*name == '.')
		name++;
	return sym_find_kind(r, name, strlen(name), 0);
}

/* ---- adding sets ---- */

int pb_registry_add_set(struct pb_registry *r, const void *data, size_t len,
                        const char *origin, char *err, size_t errlen)
{
	const uint8_t *p = data, *end = p + len;

	if (r->linked) {
		snprintf(err, errlen, "%s: the registry is already linked", origin);
		return -1;
	}
	/* FileDescriptorSet: repeated FileDescriptorProto file = 1. */
	while (p < end) {
		uint64_t tag = 0, n = 0;
		int shift = 0;

		for (;;) {
			if (p >= end || shift > 63)
				goto bad;
			tag |= (uint64_t)(*p & 0x7f) << shift;
			shift += 7;
			if (!(*p++ & 0x80))
				break;
		}
		if (tag != ((1 << 3) | 2))
			goto bad;
		for (shift = 0;;) {
			if (p >= end || shift > 63)
				goto bad;
			n |= (uint64_t)(*p & 0x7f) << shift;
			shift += 7;
			if (!(*p++ & 0x80))
				break;
		}
		if (n > (uint64_t)(end - p))
			goto bad;
		if (pb_parse_file(r, p, (size_t)n, origin, err, errlen))
			return -1;
		p += n;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s: not a FileDescriptorSet (make one with "
	         "protoc --include_imports -o FILE.pb FILE.proto)", origin);
	return -1;
}

/* ---- linking ---- */

static const struct {
	const char *name;
	enum pb_wkt wkt;
} wkts[] = {
	{ "google.protobuf.Timestamp", WKT_TIMESTAMP }, { "google.protobuf.Duration", WKT_DURATION },
	{ "google.protobuf.Struct", WKT_STRUCT }, { "google.protobuf.Value", WKT_VALUE },
	{ "google.protobuf.ListValue", WKT_LIST }, { "google.protobuf.Empty", WKT_EMPTY },
	{ "google.protobuf.FieldMask", WKT_FIELDMASK }, { "google.protobuf.Any", WKT_ANY },
	{ "google.protobuf.DoubleValue", WKT_DOUBLE }, { "google.protobuf.FloatValue", WKT_FLOAT },
	{ "google.protobuf.Int64Value", WKT_INT64 }, { "google.protobuf.UInt64Value", WKT_UINT64 },
	{ "google.protobuf.Int32Value", WKT_INT32 }, { "google.protobuf.UInt32Value", WKT_UINT32 },
	{ "google.protobuf.BoolValue", WKT_BOOL }, { "google.protobuf.StringValue", WKT_STRING },
	{ "google.protobuf.BytesValue", WKT_BYTES },
};

static int link_fields(struct pb_registry *r, struct pb_msg *m, char *err, size_t errlen)
{
	for (unsigned i = 0; i < m->nfields; i++) {
		struct pb_field *f = &m->fields[i];

		if (f->number < 1 || f->number > 536870911 || f->type < PBT_DOUBLE ||
		    f->type > PBT_SINT64 || f->label < 1 || f->label > 3) {
			snprintf(err, errlen, "%s: %s.%s: bad field number, type or label",
			         m->file->name, m->full_name, f->name);
			return -1;
		}
		if (f->type == PBT_GROUP) {
			snprintf(err, errlen, "%s: %s.%s: group fields are not supported "
			         "(use a nested message)", m->file->name, m->full_name, f->name);
			return -1;
		}
		if (f->type == PBT_MESSAGE || f->type == PBT_ENUM) {
			const struct pb_sym *s = f->type_name ? sym(r, f->type_name) : NULL;
			int want = f->type == PBT_MESSAGE ? SYM_MSG : SYM_ENUM;

			if (!s || s->kind != want) {
				snprintf(err, errlen, "%s: %s.%s: unknown %s type %s", m->file->name,
				         m->full_name, f->name, f->type == PBT_MESSAGE ? "message" : "enum",
				         f->type_name ? f->type_name : "(none)");
				return -1;
			}
			if (want == SYM_MSG)
				f->msg = s->ptr;
			else
				f->en = s->ptr;
		}
		f->is_map = f->label == 3 && f->msg && f->msg->map_entry;
		if (f->oneof >= 0 && (f->proto3_optional || (unsigned)f->oneof >= m->noneofs))
			f->oneof = -1;	/* synthetic (proto3 optional) or bad index */
		/* a map entry's key and value are plain values in proto2 files too:
		 * written when not the default, read as the default when absent */
		f->presence = f->label != 3 &&
			(f->type == PBT_MESSAGE || f->oneof >= 0 || f->proto3_optional ||
			 (!m->file->proto3 && !m->map_entry));
		f->is_string_utf8 = f->type == PBT_STRING && m->file->proto3;
	}
	return 0;
}

/* Drops the synthetic oneofs of proto3 `optional` (always declared after the
 * real ones) so oneof indexes name real oneofs only. */
static void trim_oneofs(struct pb_msg *m)
{
	unsigned real = 0;

	for (unsigned i = 0; i < m->nfields; i++) {
		const struct pb_field *f = &m->fields[i];

		if (f->oneof >= 0 && !f->proto3_optional && (unsigned)f->oneof + 1 > real)
			real = (unsigned)f->oneof + 1;
	}
	if (real < m->noneofs)
		m->noneofs = real;
}

static int link_methods(struct pb_registry *r, struct pb_service *s, char *err, size_t errlen)
{
	struct pb_method *ms = (struct pb_method *)s->methods;

	for (unsigned i = 0; i < s->nmethods; i++) {
		struct pb_method *pm = &ms[i];
		const char *names[2] = { (const char *)pm->in, (const char *)pm->out };
		const struct pb_msg *t[2];
		size_t sn = strlen(s->full_name), mn = strlen(pm->name);
		char *path = pb_arena_alloc(&r->mem, sn + mn + 3);

		for (int k = 0; k < 2; k++) {
			const struct pb_sym *y = sym(r, names[k]);

			if (!y || y->kind != SYM_MSG) {
				snprintf(err, errlen, "%s: %s.%s: unknown message type %s", s->file,
				         s->full_name, pm->name, names[k]);
				return -1;
			}
			t[k] = y->ptr;
		}
		if (!path) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		pm->in = t[0];
		pm->out = t[1];
		path[0] = '/';
		memcpy(path + 1, s->full_name, sn);
		path[sn + 1] = '/';
		memcpy(path + sn + 2, pm->name, mn + 1);
		pm->path = path;
		if (pb_sym_add(r, path + 1, SYM_METHOD, pm,
		               ((const struct pb_sym *)sym(r, s->full_name))->file) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

int pb_registry_link(struct pb_registry *r, char *err, size_t errlen)
{
	if (r->linked) {
		snprintf(err, errlen, "the registry is already linked");
		return -1;
	}
	for (unsigned i = 0; i < r->nfiles; i++) {
		const struct pb_file *f = r->files[i];

		for (unsigned j = 0; j < f->ndeps; j++)
			if (!sym_find_kind(r, f->deps[j], strlen(f->deps[j]), 1)) {
				snprintf(err, errlen, "%s imports %s, which is not in the descriptor set "
				         "(make it with protoc --include_imports)", f->name, f->deps[j]);
				return -1;
			}
	}
	for (unsigned i = 0; i < r->nmsgs; i++) {
		struct pb_msg *m = r->msgs[i];

		m->index = i;
		if (link_fields(r, m, err, errlen))
			return -1;
		trim_oneofs(m);
		m->wkt = WKT_NONE;
		if (!strncmp(m->full_name, "google.protobuf.", 16))
			for (unsigned k = 0; k < sizeof(wkts) / sizeof(wkts[0]); k++)
				if (!strcmp(m->full_name, wkts[k].name))
					m->wkt = wkts[k].wkt;
	}
	for (unsigned i = 0; i < r->nsvcs; i++)
		if (link_methods(r, r->svcs[i], err, errlen))
			return -1;
	if (pb_layout_build(r, err, errlen) || pb_wkt_check(r, err, errlen))
		return -1;
	r->linked = 1;
	return 0;
}

/* ---- lookups ---- */

const struct pb_msg *pb_find_msg(const struct pb_registry *r, const char *full_name)
{
	const struct pb_sym *s = sym(r, full_name);

	return s && s->kind == SYM_MSG ? s->ptr : NULL;
}

const struct pb_enum *pb_find_enum(const struct pb_registry *r, const char *full_name)
{
	const struct pb_sym *s = sym(r, full_name);

	return s && s->kind == SYM_ENUM ? s->ptr : NULL;
}

const struct pb_service *pb_find_service(const struct pb_registry *r, const char *full_name)
{
	const struct pb_sym *s = sym(r, full_name);

	return s && s->kind == SYM_SVC ? s->ptr : NULL;
}

const struct pb_method *pb_find_method(const struct pb_registry *r, const char *path)
{
	const struct pb_sym *s;

	if (*path == '/')
		path++;
	s = sym_find_kind(r, path, strlen(path), 0);
	return s && s->kind == SYM_METHOD ? s->ptr : NULL;
}

unsigned pb_service_count(const struct pb_registry *r)
{
	return r->nsvcs;
}

const struct pb_service *pb_service_at(const struct pb_registry *r, unsigned i)
{
	return i < r->nsvcs ? r->svcs[i] : NULL;
}

const char *pb_msg_name(const struct pb_msg *m)
{
	return m->full_name;
}

int pb_file_by_name(const struct pb_registry *r, const char *name, const uint8_t **data,
                    size_t *len)
{
	const struct pb_sym *s = sym_find_kind(r, name, strlen(name), 1);

	if (!s)
		return -1;
	*data = ((const struct pb_file *)s->ptr)->raw;
	*len = ((const struct pb_file *)s->ptr)->rawlen;
	return 0;
}

int pb_file_by_symbol(const struct pb_registry *r, const char *symbol, const char **file_name)
{
	const struct pb_sym *s = sym(r, symbol);
	const char *dot;

	if (s && s->kind != SYM_METHOD) {
		*file_name = s->file->name;
		return 0;
	}
	/* A member: a method of a service, a field of a message, a value of an enum. */
	dot = strrchr(symbol, '.');
	if (!dot)
		return -1;
	if (*symbol == '.')
		symbol++;
	s = sym_find_kind(r, symbol, (size_t)(dot - symbol), 0);
	if (!s)
		return -1;
	if (s->kind == SYM_SVC) {
		const struct pb_service *v = s->ptr;

		for (unsigned i = 0; i < v->nmethods; i++)
			if (!strcmp(v->methods[i].name, dot + 1))
				goto found;
	} else if (s->kind == SYM_MSG) {
		if (pb_field_by_name(s->ptr, dot + 1, strlen(dot + 1)))
			goto found;
	} else if (s->kind == SYM_ENUM) {
		if (pb_enum_by_name(s->ptr, dot + 1, strlen(dot + 1)))
			goto found;
	}
	return -1;
found:
	*file_name = s->file->name;
	return 0;
}

unsigned pb_file_deps(const struct pb_registry *r, const char *name, const char *const **deps)
{
	const struct pb_sym *s = sym_find_kind(r, name, strlen(name), 1);

	if (!s) {
		*deps = NULL;
		return 0;
	}
	*deps = ((const struct pb_file *)s->ptr)->deps;
	return ((const struct pb_file *)s->ptr)->ndeps;
}
