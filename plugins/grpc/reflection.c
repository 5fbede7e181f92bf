/*
 * reflection.c - grpc.reflection.v1 and v1alpha ServerReflection (the two
 * have the same messages on the wire), so grpcurl and Postman work without
 * the .proto. Each request on the bidi stream gets one response:
 *
 *   list_services (7)                 every service served (grpc.service, built-ins)
 *   file_by_filename (3)              the file and every file it imports,
 *   file_containing_symbol (4)        transitively (serialized
 *                                     FileDescriptorProtos)
 *   file_containing_extension (5)     NOT_FOUND (extensions are not indexed)
 *   all_extension_numbers_of_type (6) the type with no numbers, or NOT_FOUND
 *
 * Written by hand on the wire (field numbers from reflection.proto).
 */
#include <stdlib.h>
#include <string.h>

#include "server_priv.h"

#define MAX_FILES 256

/* Adds NAME and its imports (depth first, each once) to FILES. */
static void collect(const struct pb_registry *r, const char *name, const char **files,
                    unsigned *n, int depth)
{
	const char *const *deps;
	unsigned nd;

	if (depth > 64 || *n >= MAX_FILES)
		return;
	for (unsigned i = 0; i < *n; i++)
		if (!strcmp(files[i], name))
			return;
	files[(*n)++] = name;
	nd = pb_file_deps(r, name, &deps);
	for (unsigned i = 0; i < nd; i++)
		collect(r, deps[i], files, n, depth + 1);
}

static int error_response(struct pb_buf *out, int code, const char *msg)
{
	struct pb_buf e = { 0 };
	int rc = grpc_pb_uint(&e, 1, (uint64_t)code) || grpc_pb_bytes(&e, 2, msg, strlen(msg)) ||
	         grpc_pb_bytes(out, 7, e.p, e.len);

	pb_buf_free(&e);
	return rc;
}

static int file_response(const struct pb_registry *r, const char *name, struct pb_buf *out)
{
	const char *files[MAX_FILES];
	struct pb_buf fr = { 0 };
	unsigned n = 0;
	int rc = 0;

	collect(r, name, files, &n, 0);
	for (unsigned i = 0; i < n && !rc; i++) {
		const uint8_t *data;
		size_t len;

		if (pb_file_by_name(r, files[i], &data, &len) == 0)
			rc = grpc_pb_bytes(&fr, 1, data, len);
	}
	rc = rc || grpc_pb_bytes(out, 4, fr.p, fr.len);
	pb_buf_free(&fr);
	return rc;
}

static int list_services(const struct gstate *s, struct pb_buf *out)
{
	struct pb_buf l = { 0 };
	const char *name;
	size_t len;
	int rc = 0;

	for (unsigned i = 0; !rc && grpc_state_service_at(s, i, &name, &len); i++) {
		struct pb_buf one = { 0 };

		rc = grpc_pb_bytes(&one, 1, name, len) || grpc_pb_bytes(&l, 1, one.p, one.len);
		pb_buf_free(&one);
	}
	rc = rc || grpc_pb_bytes(out, 6, l.p, l.len);
	pb_buf_free(&l);
	return rc;
}

/* A string field as a NUL-ended copy in BUF (at most N-1 bytes); NULL if longer. */
static const char *cstr(const struct grpc_pb_field *f, char *buf, size_t n)
{
	if (f->len >= n)
		return NULL;
	memcpy(buf, f->p, f->len);
	buf[f->len] = '\0';
	return buf;
}

void grpc_reflection_call(struct gcall *c, const uint8_t *msg, size_t len)
{
	const struct pb_registry *r = grpc_call_conf(c)->reg;
	struct grpc_pb_field f;
	struct pb_buf out = { 0 };
	size_t pos = 0;
	int rc, answered = 0;
	char name[1024];

	c->compress = 0;
	while ((rc = grpc_pb_next(msg, len, &pos, &f)) == 1) {
		const char *s, *file;

		if (f.type != 2 || answered)
			continue;
		switch (f.num) {
		case 1:   /* host */
			grpc_pb_bytes(&out, 1, f.p, f.len);
			break;
		case 3:   /* file_by_filename */
			answered = 1;
			if (!(s = cstr(&f, name, sizeof(name))) || pb_file_by_name(r, s, &(const uint8_t *){ 0 },
			                                                          &(size_t){ 0 }) != 0)
				error_response(&out, GRPC_NOT_FOUND, "no such file");
			else
				file_response(r, s, &out);
			break;
		case 4:   /* file_containing_symbol */
			answered = 1;
			if (!(s = cstr(&f, name, sizeof(name))) || pb_file_by_symbol(r, s, &file) != 0)
				error_response(&out, GRPC_NOT_FOUND, "no such symbol");
			else
				file_response(r, file, &out);
			break;
		case 5:   /* file_containing_extension */
			answered = 1;
			error_response(&out, GRPC_NOT_FOUND, "extensions are not indexed");
			break;
		case 6:   /* all_extension_numbers_of_type */
			answered = 1;
			if (!(s = cstr(&f, name, sizeof(name))) || !pb_find_msg(r, s)) {
				error_response(&out, GRPC_NOT_FOUND, "no such type");
			} else {
				struct pb_buf e = { 0 };

				grpc_pb_bytes(&e, 1, s, strlen(s));
				grpc_pb_bytes(&out, 5, e.p, e.len);
				pb_buf_free(&e);
			}
			break;
		case 7:   /* list_services */
			answered = 1;
			list_services(grpc_state(c->L), &out);
			break;
		}
	}
	if (rc < 0) {
		pb_buf_free(&out);
		grpc_call_finish(c, GRPC_INTERNAL, "cannot decode the ServerReflectionRequest", 41,
		                 NULL);
		return;
	}
	if (!answered)
		error_response(&out, GRPC_INVALID_ARGUMENT, "the request names no question");
	grpc_pb_bytes(&out, 2, msg, len);   /* original_request */
	grpc_call_send(c, out.p, out.len);
	pb_buf_free(&out);
}
