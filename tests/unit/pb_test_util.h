/*
 * pb_test_util.h - shared by test_pb.c and test_pb_json.c: the test
 * contracts (the .proto files of tests/unit/data/pb, compiled with protoc through
 * pb_protoc at test time) and the fixtures make_fixtures.py made with
 * Google's python protobuf.
 */
#ifndef PB_TEST_UTIL_H
#define PB_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pb.h"

#define PB_DATA TEST_SRCDIR "/tests/unit/data/pb"

static inline struct pb_registry *load_protos(const char *const *protos, unsigned n)
{
	const char *imports[] = { PB_DATA, TEST_SRCDIR "/proto" };
	struct pb_registry *r = pb_registry_new();
	char err[1024];

	assert_non_null(r);
	for (unsigned i = 0; i < n; i++) {
		struct pb_buf b = { 0 };

		if (pb_protoc(NULL, protos[i], imports, 2, &b, err, sizeof(err)))
			fail_msg("pb_protoc %s: %s", protos[i], err);
		if (pb_registry_add_set(r, b.p, b.len, protos[i], err, sizeof(err)))
			fail_msg("add_set %s: %s", protos[i], err);
		pb_buf_free(&b);
	}
	if (pb_registry_link(r, err, sizeof(err)))
		fail_msg("link: %s", err);
	return r;
}

static inline struct pb_registry *load_test_registry(void)
{
	const char *protos[] = { PB_DATA "/all.proto", PB_DATA "/p2.proto" };

	return load_protos(protos, 2);
}

/* The whole file, malloc'd (NUL-terminated), or NULL. */
static inline char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		p = malloc((size_t)n + 1);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		} else if (p) {
			p[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return p;
}

static inline char *fixture(const char *name, const char *suffix, size_t *len)
{
	char path[512];
	char *p;

	snprintf(path, sizeof(path), "%s/%s%s", PB_DATA, name, suffix);
	p = slurp(path, len);
	if (!p)
		fail_msg("no fixture %s", path);
	return p;
}

/* The cases: "name type" lines of cases.txt. */
struct pb_case {
	char name[64], type[128];
};

static inline unsigned load_cases(struct pb_case *cases, unsigned max)
{
	size_t len;
	char *txt = fixture("cases", ".txt", &len), *line, *save = NULL;
	unsigned n = 0;

	for (line = strtok_r(txt, "\n", &save); line && n < max; line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "%63s %127s", cases[n].name, cases[n].type) == 2)
			n++;
	free(txt);
	return n;
}

/* JSON values equal, numbers compared by value (1 == 1.0). */
static inline int json_same(json_t *a, json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_typeof(a) != json_typeof(b))
		return 0;
	if (json_is_object(a)) {
		const char *k;
		json_t *v;

		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach(a, k, v) {
			json_t *w = json_object_get(b, k);

			if (!w || !json_same(v, w))
				return 0;
		}
		return 1;
	}
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!json_same(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	}
	return json_equal(a, b);
}

static inline int json_text_same(const char *x, size_t xl, const char *y, size_t yl)
{
	json_t *a = json_loadb(x, xl, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	json_t *b = json_loadb(y, yl, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	int same = a && b && json_same(a, b);

	json_decref(a);
	json_decref(b);
	return same;
}

#endif
