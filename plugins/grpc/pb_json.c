/*
 * pb_json.c - messages to JSON text per the proto3 JSON mapping.
 *
 * The bytes are unpacked by protobuf-c (behind pb_wire.c's guard) and the
 * structs written straight into the output buffer: lowerCamelCase names
 * (or the proto names), 64-bit integers as strings, bytes as base64, enums
 * by name, NaN and Infinity as strings, fields at their default left out
 * unless emit_defaults, and the well-known types in their special forms.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_priv.h"

struct jw {
	const struct pb_registry *r;
	const struct pb_json_opts *o;
	struct pb_buf *b;
	struct pb_arena *a;
	struct pb_path path;
	int depth;
	char *err;
	size_t errlen;
};

static int fail(struct jw *w, const char *what)
{
	pb_path_err(&w->path, w->err, w->errlen, "%s", what);
	return -1;
}

#define PUT(w, s, n) do { if (pb_buf_add((w)->b, (s), (n))) return fail((w), "out of memory"); } while (0)
#define PUTS(w, s) PUT(w, s, strlen(s))

static int put_str(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;

	if (!s)
		s = "";	/* an empty string or bytes field has no data */
	PUT(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char e[6];

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		PUT(w, s + start, i - start);
		start = i + 1;
		e[0] = '\\';
		if (ch == '"' || ch == '\\') {
			e[1] = (char)ch;
			PUT(w, e, 2);
		} else if (ch == '\n' || ch == '\r' || ch == '\t' || ch == '\b' || ch == '\f') {
			e[1] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : ch == '\t' ? 't' : ch == '\b' ? 'b' : 'f';
			PUT(w, e, 2);
		} else {
			e[1] = 'u';
			e[2] = '0';
			e[3] = '0';
			e[4] = hex[ch >> 4];
			e[5] = hex[ch & 15];
			PUT(w, e, 6);
		}
	}
	PUT(w, s + start, n - start);
	PUT(w, "\"", 1);
	return 0;
}

/* Shortest text that reads back as the same double (or float). */
static int put_float(struct jw *w, double d, int is_float)
{
	char s[40];
	int n = 0;

	if (isnan(d))
		return put_str(w, "NaN", 3);
	if (isinf(d))
		return d > 0 ? put_str(w, "Infinity", 8) : put_str(w, "-Infinity", 9);
	for (int p = is_float ? 6 : 15; p <= 17; p++) {
		n = snprintf(s, sizeof(s), "%.*g", p, d);
		if (is_float ? (float)strtod(s, NULL) == (float)d : strtod(s, NULL) == d)
			break;
	}
	PUT(w, s, (size_t)n);
	return 0;
}

static int put_msg(struct jw *w, const struct pb_msg *m, const ProtobufCMessage *cm);

/* Decimal text of V (negative when NEG), quoted when Q, into S; its length. */
static int fmt_int(char *s, uint64_t v, int neg, int q)
{
	char t[24];
	int n = 0, k = 0;

	do {
		t[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (q)
		s[n++] = '"';
	if (neg)
		s[n++] = '-';
	while (k)
		s[n++] = t[--k];
	if (q)
		s[n++] = '"';
	return n;
}

static uint64_t mag(int64_t x)
{
	return x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
}

/* One value of F at V; QUOTE_INTS: a map key (every key is a string). */
static int put_value(struct jw *w, const struct pb_field *f, const void *v, int key)
{
	char s[32];
	int n;

	switch (f->type) {
	case PBT_INT32: case PBT_SINT32: case PBT_SFIXED32:
		n = fmt_int(s, mag(*(const int32_t *)v), *(const int32_t *)v < 0, key);
		break;
	case PBT_UINT32: case PBT_FIXED32:
		n = fmt_int(s, *(const uint32_t *)v, 0, key);
		break;
	case PBT_INT64: case PBT_SINT64: case PBT_SFIXED64:
		n = fmt_int(s, mag(*(const int64_t *)v), *(const int64_t *)v < 0, 1);
		break;
	case PBT_UINT64: case PBT_FIXED64:
		n = fmt_int(s, *(const uint64_t *)v, 0, 1);
		break;
	case PBT_BOOL:
		n = snprintf(s, sizeof(s), key ? "\"%s\"" : "%s",
		             *(const protobuf_c_boolean *)v ? "true" : "false");
		break;
	case PBT_DOUBLE:
		return put_float(w, *(const double *)v, 0);
	case PBT_FLOAT:
		return put_float(w, *(const float *)v, 1);
	case PBT_ENUM: {
		const ProtobufCEnumValue *ev;

		if (!strcmp(f->en->full_name, "google.protobuf.NullValue")) {
			PUTS(w, "null");
			return 0;
		}
		ev = protobuf_c_enum_descriptor_get_value(&f->en->desc, *(const int32_t *)v);
		if (ev)
			return put_str(w, ev->name, strlen(ev->name));
		n = snprintf(s, sizeof(s), "%d", *(const int32_t *)v);
		break;
	}
	case PBT_STRING: {
		const ProtobufCBinaryData *bd = v;

		if (!pb_utf8_valid(bd->data, bd->len))
			return fail(w, "invalid UTF-8 in a string field");
		return put_str(w, (const char *)bd->data, bd->len);
	}
	case PBT_BYTES: {
		const ProtobufCBinaryData *bd = v;

		PUT(w, "\"", 1);
		if (pb_b64_encode(w->b, bd->data, bd->len))
			return fail(w, "out of memory");
		PUT(w, "\"", 1);
		return 0;
	}
	case PBT_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;

		if (!sub && !(sub = pb_msg_new(f->msg, w->a)))
			return fail(w, "out of memory");
		return put_msg(w, f->msg, sub);
	}
	default:
		return fail(w, "unsupported field type");
	}
	PUT(w, s, (size_t)n);
	return 0;
}

static int put_field(struct jw *w, const struct pb_field *f, const ProtobufCMessage *cm)
{
	const void *v = PB_AT(cm, f->cf->offset);

	if (f->is_map) {
		size_t n = pb_field_count(cm, f);
		ProtobufCMessage *const *es = *(ProtobufCMessage *const *const *)v;
		const struct pb_field *kf = &f->msg->fields[0], *vf = &f->msg->fields[1];

		PUT(w, "{", 1);
		for (size_t i = 0; i < n; i++) {
			if (i)
				PUT(w, ",", 1);
			pb_path_index(&w->path, (long long)i);
			if (put_value(w, kf, PB_AT(es[i], kf->cf->offset), 1))
				return -1;
			PUT(w, ":", 1);
			if (put_value(w, vf, PB_AT(es[i], vf->cf->offset), 0))
				return -1;
		}
		PUT(w, "}", 1);
	} else if (f->label == 3) {
		size_t n = pb_field_count(cm, f), sz = pb_field_elt_size(f);
		const char *arr = *(const char *const *)v;

		PUT(w, "[", 1);
		for (size_t i = 0; i < n; i++) {
			if (i)
				PUT(w, ",", 1);
			pb_path_index(&w->path, (long long)i);
			if (put_value(w, f, arr + i * sz, 0))
				return -1;
		}
		PUT(w, "]", 1);
	} else {
		return put_value(w, f, v, 0);
	}
	return 0;
}

static int put_wkt(struct jw *w, const struct pb_msg *m, const ProtobufCMessage *cm);

static int put_msg(struct jw *w, const struct pb_msg *m, const ProtobufCMessage *cm)
{
	int first = 1;

	if (++w->depth > PB_MAX_DEPTH + 1)
		return fail(w, "messages nested too deep");
	if (m->wkt) {
		if (put_wkt(w, m, cm))
			return -1;
		w->depth--;
		return 0;
	}
	PUT(w, "{", 1);
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct pb_field *f = &m->fields[i];

		if (!pb_field_present(cm, f)) {
			if (f->label == 2) {
				pb_path_push(&w->path, f->name);
				return fail(w, "required field missing");
			}
			if (!w->o->emit_defaults || f->oneof >= 0 || f->proto3_optional ||
			    (f->label != 3 && f->type == PBT_MESSAGE))
				continue;
		}
		if (!first)
			PUT(w, ",", 1);
		first = 0;
		if (w->o->original_names) {
			if (put_str(w, f->name, f->name_len))
				return -1;
		} else if (put_str(w, f->json_name, f->json_len)) {
			return -1;
		}
		PUT(w, ":", 1);
		pb_path_push(&w->path, f->name);
		if (put_field(w, f, cm))
			return -1;
		pb_path_pop(&w->path);
	}
	PUT(w, "}", 1);
	w->depth--;
	return 0;
}

#define VAL(cm, m, i) PB_AT(cm, (m)->fields[i].cf->offset)

static int put_any(struct jw *w, const struct pb_msg *m, const ProtobufCMessage *cm)
{
	const ProtobufCBinaryData *url = (const void *)VAL(cm, m, 0);
	const ProtobufCBinaryData *val = (const void *)VAL(cm, m, 1);
	const struct pb_msg *t;
	ProtobufCMessage *inner;
	size_t mark;
	char err[256];

	if (!url->len && !val->len) {
		PUTS(w, "{}");
		return 0;
	}
	t = pb_any_type(w->r, (const char *)url->data, url->len);
	if (t && !pb_utf8_valid(url->data, url->len))
		return fail(w, "Any: invalid UTF-8 in its type URL");
	if (!t)
		return fail(w, "Any: its type is not in the loaded contracts");
	inner = pb_unpack(t, val->data, val->len, w->a, err, sizeof(err));
	if (!inner)
		return fail(w, err);
	PUTS(w, "{\"@type\":");
	if (put_str(w, (const char *)url->data, url->len))
		return -1;
	if (t->wkt && t->wkt != WKT_EMPTY) {
		PUTS(w, ",\"value\":");
		return put_msg(w, t, inner) || pb_buf_add(w->b, "}", 1) ? -1 : 0;
	}
	/* the message's own members follow "@type" */
	mark = w->b->len;
	if (put_msg(w, t, inner))
		return -1;
	if (w->b->len - mark == 2) {	/* "{}" */
		w->b->len = mark;
		PUTS(w, "}");
	} else {
		w->b->p[mark] = ',';
	}
	return 0;
}

static int put_wkt(struct jw *w, const struct pb_msg *m, const ProtobufCMessage *cm)
{
	char s[64];
	int n;

	switch (m->wkt) {
	case WKT_TIMESTAMP: case WKT_DURATION: {
		int64_t secs = *(const int64_t *)VAL(cm, m, 0);
		int32_t ns = *(const int32_t *)VAL(cm, m, 1);

		n = m->wkt == WKT_TIMESTAMP ? pb_fmt_timestamp(secs, ns, s, sizeof(s)) :
			pb_fmt_duration(secs, ns, s, sizeof(s));
		if (n < 0)
			return fail(w, m->wkt == WKT_TIMESTAMP ? "Timestamp out of range" :
			            "Duration out of range");
		return put_str(w, s, (size_t)n);
	}
	case WKT_STRUCT:
		pb_path_push(&w->path, "fields");
		if (put_field(w, &m->fields[0], cm))
			return -1;
		pb_path_pop(&w->path);
		return 0;
	case WKT_LIST:
		pb_path_push(&w->path, "values");
		if (put_field(w, &m->fields[0], cm))
			return -1;
		pb_path_pop(&w->path);
		return 0;
	case WKT_VALUE: {
		uint32_t which = *(const uint32_t *)PB_AT(cm, m->fields[0].cf->quantifier_offset);

		if (which < 2 || which > 6) {
			PUTS(w, "null");
			return 0;
		}
		if (which == 2 && !isfinite(*(const double *)VAL(cm, m, 1)))
			return fail(w, "a Value number cannot be NaN or Infinity");
		return put_value(w, &m->fields[which - 1], VAL(cm, m, which - 1), 0);
	}
	case WKT_EMPTY:
		PUTS(w, "{}");
		return 0;
	case WKT_FIELDMASK: {
		struct pb_buf t = { 0 };

		n = pb_fieldmask_to_text(&t, *(ProtobufCBinaryData *const *)VAL(cm, m, 0),
		                         pb_field_count(cm, &m->fields[0]));
		if (!n)
			n = put_str(w, (const char *)t.p, t.len) ? -3 : 0;
		pb_buf_free(&t);
		if (n == -3)
			return -1;
		if (n)
			return fail(w, n == -2 ? "FieldMask path with an upper-case letter or invalid UTF-8" :
			            "out of memory");
		return 0;
	}
	case WKT_ANY:
		return put_any(w, m, cm);
	default:	/* wrappers */
		return put_value(w, &m->fields[0], VAL(cm, m, 0), 0);
	}
}

int pb_to_json(const struct pb_registry *r, const struct pb_msg *m, const uint8_t *data,
               size_t len, const struct pb_json_opts *o, struct pb_buf *out, char *err,
               size_t errlen)
{
	static const struct pb_json_opts none;
	struct jw w;
	ProtobufCMessage *cm;
	size_t had = out->len;
	int rc;

	memset(&w, 0, sizeof(w));
	w.r = r;
	w.o = o ? o : &none;
	w.b = out;
	w.a = pb_scratch();
	w.err = err;
	w.errlen = errlen;
	cm = pb_unpack(m, data, len, w.a, err, errlen);
	rc = cm ? put_msg(&w, m, cm) : -1;
	pb_scratch_done(w.a);
	if (rc)
		out->len = had;
	return rc;
}
