/*
 * pb_json_parse.c - JSON text to message bytes per the proto3 JSON mapping.
 *
 * jansson parses the text; one walk fills protobuf-c structs in the call's
 * arena (strings borrowed from the jansson tree, alive until the end of
 * the call) and protobuf-c packs them. Accepted: lowerCamelCase or proto
 * field names, 64-bit integers as numbers or strings, integral floats for
 * integer fields, enums by name or number, bytes in standard or url-safe
 * base64, "NaN"/"Infinity"/"-Infinity", null for "not set".
 */
#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pb_priv.h"

struct jr {
	const struct pb_registry *r;
	const struct pb_json_opts *o;
	struct pb_arena *a;
	struct pb_path path;
	int depth;
	char *err;
	size_t errlen;
};

static int fail(struct jr *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct jr *c, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pb_path_err(&c->path, c->err, c->errlen, "%s", msg);
	return -1;
}

static const char *kind(const json_t *j)
{
	static const char *const k[] = { "an object", "an array", "a string", "an integer",
		"a number", "true", "false", "null" };

	return k[json_typeof(j)];
}

static int to_msg(struct jr *c, const struct pb_msg *m, json_t *j, ProtobufCMessage **out);

/* An integer from a JSON number or numeric string, within [LO, HI]. */
static int get_int(struct jr *c, json_t *j, long long lo, long long hi, int unsig,
                   uint64_t *out)
{
	double hid;

	if (json_is_integer(j)) {
		long long v = json_integer_value(j);

		if (v < lo || (!unsig && v > hi) || (unsig && v < 0))
			return fail(c, "%lld is out of range", v);
		*out = (uint64_t)v;
		return 0;
	}
	/* a float's range check: [lo, hi + 1) is exact in doubles for every
	 * bound we use (hi + 1 is a power of two) */
	hid = (unsig ? (double)(unsigned long long)hi : (double)hi) + 1.0;
	if (json_is_real(j)) {
		double d = json_real_value(j);

		if (d != floor(d) || !(d >= (double)lo && d < hid))
			return fail(c, "%g is not an integer in range", d);
		*out = d < 0 ? (uint64_t)(long long)d : (uint64_t)d;
		return 0;
	}
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		char *end;

		errno = 0;
		if (!*s || *s == ' ' || (unsig && *s == '-'))
			return fail(c, "\"%.40s\" is not an integer", s);
		if (strpbrk(s, ".eE")) {	/* exponent notation: an integral value */
			double d = strtod(s, &end);

			if (*end || d != floor(d) || !(d >= (double)lo && d < hid))
				goto bad;
			*out = d < 0 ? (uint64_t)(long long)d : (uint64_t)d;
		} else if (unsig) {
			unsigned long long v = strtoull(s, &end, 10);

			if (errno || *end || v > (unsigned long long)hi)
				goto bad;
			*out = v;
		} else {
			long long v = strtoll(s, &end, 10);

			if (errno || *end || v < lo || v > hi)
				goto bad;
			*out = (uint64_t)v;
		}
		return 0;
bad:
		return fail(c, "\"%.40s\" is not an integer in range", s);
	}
	return fail(c, "expected an integer, got %s", kind(j));
}

static int get_float(struct jr *c, json_t *j, int is_float, double *out)
{
	if (json_is_number(j)) {
		*out = json_number_value(j);
	} else if (json_is_string(j)) {
		const char *s = json_string_value(j);
		char *end;

		if (!strcmp(s, "NaN"))
			*out = NAN;
		else if (!strcmp(s, "Infinity"))
			*out = INFINITY;
		else if (!strcmp(s, "-Infinity"))
			*out = -INFINITY;
		else {
			*out = strtod(s, &end);
			if (!*s || *end || isinf(*out) || isnan(*out))
				return fail(c, "\"%.40s\" is not a number", s);
		}
		return 0;
	} else {
		return fail(c, "expected a number, got %s", kind(j));
	}
	if (is_float && isfinite(*out) && isinf((float)*out))	/* rounding to FLT_MAX is fine */
		return fail(c, "%g is out of range for a float", *out);
	return 0;
}

/* Reads J into one value of F at DST. *SKIP set: leave the field unset
 * (an unknown enum name with ignore_unknown). */
static int to_value(struct jr *c, const struct pb_field *f, json_t *j, void *dst, int *skip)
{
	uint64_t u;
	double d = 0;

	switch (f->type) {
	case PBT_INT32: case PBT_SINT32: case PBT_SFIXED32:
		if (get_int(c, j, INT32_MIN, INT32_MAX, 0, &u))
			return -1;
		*(int32_t *)dst = (int32_t)u;
		return 0;
	case PBT_UINT32: case PBT_FIXED32:
		if (get_int(c, j, 0, UINT32_MAX, 1, &u))
			return -1;
		*(uint32_t *)dst = (uint32_t)u;
		return 0;
	case PBT_INT64: case PBT_SINT64: case PBT_SFIXED64:
		if (get_int(c, j, INT64_MIN, INT64_MAX, 0, &u))
			return -1;
		*(int64_t *)dst = (int64_t)u;
		return 0;
	case PBT_UINT64: case PBT_FIXED64:
		if (get_int(c, j, 0, (long long)UINT64_MAX, 1, &u))
			return -1;
		*(uint64_t *)dst = u;
		return 0;
	case PBT_DOUBLE: case PBT_FLOAT:
		if (get_float(c, j, f->type == PBT_FLOAT, &d))
			return -1;
		if (f->type == PBT_FLOAT)
			*(float *)dst = (float)d;
		else
			*(double *)dst = d;
		return 0;
	case PBT_BOOL:
		if (!json_is_boolean(j))
			return fail(c, "expected true or false, got %s", kind(j));
		*(protobuf_c_boolean *)dst = json_is_true(j);
		return 0;
	case PBT_ENUM:
		if (json_is_string(j)) {
			const struct pb_enum_value *ev =
				pb_enum_by_name(f->en, json_string_value(j), json_string_length(j));

			if (!ev) {
				if (c->o->ignore_unknown) {
					*skip = 1;
					return 0;
				}
				return fail(c, "\"%.60s\" is not a value of %s", json_string_value(j),
				            f->en->full_name);
			}
			*(int32_t *)dst = ev->number;
			return 0;
		}
		if (json_is_null(j) && !strcmp(f->en->full_name, "google.protobuf.NullValue")) {
			*(int32_t *)dst = 0;
			return 0;
		}
		if (get_int(c, j, INT32_MIN, INT32_MAX, 0, &u))
			return -1;
		*(int32_t *)dst = (int32_t)u;
		return 0;
	case PBT_STRING: case PBT_BYTES: {
		ProtobufCBinaryData *b = dst;

		if (!json_is_string(j))
			return fail(c, "expected a string, got %s", kind(j));
		if (f->type == PBT_STRING) {
			b->len = json_string_length(j);
			b->data = b->len ? (uint8_t *)json_string_value(j) : NULL;
		} else {
			b->data = pb_b64_decode(c->a, json_string_value(j), json_string_length(j), &b->len);
			if (!b->data)
				return fail(c, "bad base64");
			if (!b->len)
				b->data = NULL;
		}
		return 0;
	}
	case PBT_MESSAGE:
		return to_msg(c, f->msg, j, (ProtobufCMessage **)dst);
	}
	return fail(c, "unsupported field type");
}

/* A map key from its JSON object key text. */
static int to_key(struct jr *c, const struct pb_field *kf, const char *k, size_t kl, void *dst)
{
	json_t *j;
	int rc, skip = 0;

	if (kf->type == PBT_STRING) {
		ProtobufCBinaryData *b = dst;

		b->data = kl ? (uint8_t *)k : NULL;
		b->len = kl;
		return 0;
	}
	if (kf->type == PBT_BOOL) {
		if (!strcmp(k, "true") || !strcmp(k, "false")) {
			*(protobuf_c_boolean *)dst = k[0] == 't';
			return 0;
		}
		return fail(c, "map key \"%.40s\" is not true or false", k);
	}
	j = json_stringn_nocheck(k, kl);
	if (!j)
		return fail(c, "out of memory");
	rc = to_value(c, kf, j, dst, &skip);
	json_decref(j);
	return rc;
}

static int to_field(struct jr *c, const struct pb_msg *m, const struct pb_field *f, json_t *j,
                    ProtobufCMessage *cm)
{
	const ProtobufCFieldDescriptor *cf = f->cf;
	int skip = 0;

	if (f->is_map) {
		const struct pb_msg *em = f->msg;
		ProtobufCMessage **es;
		const char *k;
		json_t *v;
		size_t n = 0;

		if (!json_is_object(j))
			return fail(c, "expected an object (a map), got %s", kind(j));
		es = pb_arena_alloc(c->a, (json_object_size(j) + 1) * sizeof(*es));
		if (!es)
			return fail(c, "out of memory");
		json_object_foreach(j, k, v) {
			ProtobufCMessage *e = pb_msg_new(em, c->a);

			if (!e)
				return fail(c, "out of memory");
			c->path.kind[c->path.depth - 1] = PATH_SKEY;
			c->path.key[c->path.depth - 1] = k;
			if (to_key(c, &em->fields[0], k, strlen(k), PB_AT(e, em->fields[0].cf->offset)))
				return -1;
			if (json_is_null(v) && em->fields[1].msg && em->fields[1].msg->wkt != WKT_VALUE)
				return fail(c, "null map value");
			skip = 0;
			if (to_value(c, &em->fields[1], v, PB_AT(e, em->fields[1].cf->offset), &skip))
				return -1;
			if (!skip)
				es[n++] = e;
		}
		*(size_t *)PB_AT(cm, cf->quantifier_offset) = n;
		*(ProtobufCMessage ***)PB_AT(cm, cf->offset) = es;
		return 0;
	}
	if (f->label == 3) {
		size_t n = 0, sz = pb_field_elt_size(f);
		char *arr;

		if (!json_is_array(j))
			return fail(c, "expected an array, got %s", kind(j));
		arr = pb_arena_alloc(c->a, (json_array_size(j) + 1) * sz);
		if (!arr)
			return fail(c, "out of memory");
		memset(arr, 0, (json_array_size(j) + 1) * sz);
		for (size_t i = 0; i < json_array_size(j); i++) {
			json_t *v = json_array_get(j, i);

			pb_path_index(&c->path, (long long)i);
			if (json_is_null(v) && !(f->msg && f->msg->wkt == WKT_VALUE))
				return fail(c, "null in an array");
			skip = 0;
			if (to_value(c, f, v, arr + n * sz, &skip))
				return -1;
			if (!skip)
				n++;
		}
		*(size_t *)PB_AT(cm, cf->quantifier_offset) = n;
		*(char **)PB_AT(cm, cf->offset) = arr;
		return 0;
	}
	if (to_value(c, f, j, PB_AT(cm, cf->offset), &skip))
		return -1;
	if (skip)
		return 0;
	if (f->oneof >= 0) {
		uint32_t *q = (uint32_t *)PB_AT(cm, cf->quantifier_offset);

		if (*q && *q != f->number)
			return fail(c, "oneof %s has more than one member set", m->oneofs[f->oneof]);
		*q = f->number;
	} else if (f->presence && f->type != PBT_MESSAGE) {
		*(protobuf_c_boolean *)PB_AT(cm, cf->quantifier_offset) = 1;
	}
	return 0;
}

static int pb_json_wkt(struct jr *c, const struct pb_msg *m, json_t *j, ProtobufCMessage *cm);

static int to_msg(struct jr *c, const struct pb_msg *m, json_t *j, ProtobufCMessage **out)
{
	ProtobufCMessage *cm = pb_msg_new(m, c->a);
	const char *k;
	json_t *v;

	if (!cm)
		return fail(c, "out of memory");
	if (++c->depth > PB_MAX_DEPTH + 1)
		return fail(c, "messages nested deeper than %d", PB_MAX_DEPTH);
	*out = cm;
	if (m->wkt) {
		if (pb_json_wkt(c, m, j, cm))
			return -1;
		c->depth--;
		return 0;
	}
	if (!json_is_object(j))
		return fail(c, "expected an object, got %s", kind(j));
	json_object_foreach(j, k, v) {
		const struct pb_field *f = pb_field_by_json(m, k, strlen(k));

		if (!f) {
			if (c->o->ignore_unknown)
				continue;
			return fail(c, "%s has no field \"%.60s\"", m->full_name, k);
		}
		if (json_is_null(v) && !(f->msg && f->msg->wkt == WKT_VALUE && f->label != 3))
			continue;	/* null: not set */
		pb_path_push(&c->path, f->name);
		if (to_field(c, m, f, v, cm))
			return -1;
		pb_path_pop(&c->path);
	}
	for (unsigned i = 0; i < m->nfields; i++)
		if (m->fields[i].label == 2 && !pb_field_present(cm, &m->fields[i])) {
			pb_path_push(&c->path, m->fields[i].name);
			return fail(c, "required field missing");
		}
	c->depth--;
	return 0;
}

#define VAL(cm, m, i) PB_AT(cm, (m)->fields[i].cf->offset)

static int to_any(struct jr *c, const struct pb_msg *m, json_t *j, ProtobufCMessage *cm)
{
	ProtobufCBinaryData *url = (void *)VAL(cm, m, 0), *val = (void *)VAL(cm, m, 1);
	json_t *t = json_object_get(j, "@type"), *copy, *inner_j;
	const struct pb_msg *tm;
	ProtobufCMessage *inner;
	int rc;

	if (!json_is_object(j))
		return fail(c, "expected an object with \"@type\", got %s", kind(j));
	if (!t) {
		if (json_object_size(j) == 0)
			return 0;
		return fail(c, "Any needs an \"@type\"");
	}
	if (!json_is_string(t))
		return fail(c, "\"@type\" must be a string");
	tm = pb_any_type(c->r, json_string_value(t), json_string_length(t));
	if (!tm)
		return fail(c, "Any: type %.200s is not in the loaded contracts", json_string_value(t));
	url->data = (uint8_t *)json_string_value(t);
	url->len = json_string_length(t);
	if (tm->wkt && tm->wkt != WKT_EMPTY) {
		inner_j = json_object_get(j, "value");
		if (!inner_j)
			return fail(c, "Any of %s needs a \"value\"", tm->full_name);
		rc = to_msg(c, tm, inner_j, &inner);
	} else {
		copy = json_copy(j);	/* shallow: values stay shared and alive in J */
		if (!copy)
			return fail(c, "out of memory");
		json_object_del(copy, "@type");
		rc = to_msg(c, tm, copy, &inner);
		json_decref(copy);
		/* strings borrowed from COPY's values are J's (shared), still alive */
	}
	if (rc)
		return -1;
	val->len = protobuf_c_message_get_packed_size(inner);
	val->data = pb_arena_alloc(c->a, val->len ? val->len : 1);
	if (!val->data)
		return fail(c, "out of memory");
	protobuf_c_message_pack(inner, val->data);
	return 0;
}

static int to_struct_entries(struct jr *c, const struct pb_msg *m, json_t *j, ProtobufCMessage *cm)
{
	pb_path_push(&c->path, "fields");
	if (to_field(c, m, &m->fields[0], j, cm))
		return -1;
	pb_path_pop(&c->path);
	return 0;
}

static int pb_json_wkt(struct jr *c, const struct pb_msg *m, json_t *j, ProtobufCMessage *cm)
{
	int64_t secs;
	int32_t nanos;
	int rc;

	switch (m->wkt) {
	case WKT_TIMESTAMP: case WKT_DURATION:
		if (!json_is_string(j))
			return fail(c, "expected a %s string, got %s",
			            m->wkt == WKT_TIMESTAMP ? "RFC 3339 time" : "duration (\"1.5s\")", kind(j));
		rc = m->wkt == WKT_TIMESTAMP ?
			pb_parse_timestamp(json_string_value(j), json_string_length(j), &secs, &nanos) :
			pb_parse_duration(json_string_value(j), json_string_length(j), &secs, &nanos);
		if (rc)
			return fail(c, "bad %s \"%.60s\"", m->wkt == WKT_TIMESTAMP ? "timestamp" : "duration",
			            json_string_value(j));
		*(int64_t *)VAL(cm, m, 0) = secs;
		*(int32_t *)VAL(cm, m, 1) = nanos;
		return 0;
	case WKT_STRUCT:
		if (!json_is_object(j))
			return fail(c, "expected an object, got %s", kind(j));
		return to_struct_entries(c, m, j, cm);
	case WKT_LIST:
		if (!json_is_array(j))
			return fail(c, "expected an array, got %s", kind(j));
		pb_path_push(&c->path, "values");
		if (to_field(c, m, &m->fields[0], j, cm))
			return -1;
		pb_path_pop(&c->path);
		return 0;
	case WKT_VALUE: {
		uint32_t which;
		int skip = 0;

		switch (json_typeof(j)) {
		case JSON_NULL: which = 1; break;
		case JSON_INTEGER: case JSON_REAL: which = 2; break;
		case JSON_STRING: which = 3; break;
		case JSON_TRUE: case JSON_FALSE: which = 4; break;
		case JSON_OBJECT: which = 5; break;
		default: which = 6; break;
		}
		if (which > 1 && to_value(c, &m->fields[which - 1], j, VAL(cm, m, which - 1), &skip))
			return -1;
		*(uint32_t *)PB_AT(cm, m->fields[0].cf->quantifier_offset) = which;
		return 0;
	}
	case WKT_EMPTY:
		if (!json_is_object(j))
			return fail(c, "expected {}, got %s", kind(j));
		return 0;
	case WKT_FIELDMASK:
		if (!json_is_string(j))
			return fail(c, "expected a field mask string (\"a.b,c\"), got %s", kind(j));
		rc = pb_fieldmask_from_text(c->a, json_string_value(j), json_string_length(j),
		                            (ProtobufCBinaryData **)VAL(cm, m, 0),
		                            (size_t *)PB_AT(cm, m->fields[0].cf->quantifier_offset));
		if (rc)
			return fail(c, rc == -2 ? "bad field mask" : "out of memory");
		return 0;
	case WKT_ANY:
		return to_any(c, m, j, cm);
	default: {	/* wrappers */
		int skip = 0;

		return to_value(c, &m->fields[0], j, VAL(cm, m, 0), &skip);
	}
	}
}

int pb_from_json(const struct pb_registry *r, const struct pb_msg *m, const char *json,
                 size_t len, const struct pb_json_opts *o, struct pb_buf *out, char *err,
                 size_t errlen)
{
	static const struct pb_json_opts none;
	struct jr c;
	json_error_t je;
	json_t *j;
	ProtobufCMessage *cm;
	int rc;

	j = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!j) {
		snprintf(err, errlen, "bad JSON: %s at line %d column %d", je.text, je.line, je.column);
		return -1;
	}
	memset(&c, 0, sizeof(c));
	c.r = r;
	c.o = o ? o : &none;
	c.a = pb_scratch();
	c.err = err;
	c.errlen = errlen;
	rc = to_msg(&c, m, j, &cm);
	if (!rc && pb_pack(cm, out)) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	pb_scratch_done(c.a);
	json_decref(j);
	return rc;
}
