/*
 * transcode_fields.c - what a path variable or query parameter names: is
 * the field repeated (the values make an array, even one), a bool (JSON
 * true/false, not a string), a message (a value cannot go there)?
 *
 * Read from the contract through pb.h only: the serialized
 * FileDescriptorProto of the file declaring the message
 * (pb_file_by_symbol, pb_file_by_name), walked with the plugin's
 * hand-written protobuf reader (grpc_pb_next). A dotted path follows
 * message fields (by proto name or JSON name).
 */
#include <stdio.h>
#include <string.h>

#include "transcode_priv.h"

#define MAX_DEPTH 16

/* FieldDescriptorProto.type values we care about. */
enum { T_BOOL = 8, T_MESSAGE = 11, T_GROUP = 10 };

/* The DescriptorProto of the message named FULL (no leading dot) inside
 * D/N (a FileDescriptorProto, or a DescriptorProto when NESTED), SCOPE its
 * full name prefix. 0 with *OUT, or -1. */
static int find_msg(const uint8_t *d, size_t n, int nested, const char *scope, const char *full,
                    struct grpc_pb_field *out, int depth)
{
	struct grpc_pb_field f, g;
	size_t pos = 0;
	unsigned list = nested ? 3 : 4;   /* nested_type / message_type */

	if (depth > MAX_DEPTH)
		return -1;
	while (grpc_pb_next(d, n, &pos, &f) == 1) {
		size_t p2 = 0;
		char name[512];

		if (f.num != list || f.type != 2)
			continue;
		name[0] = '\0';
		while (grpc_pb_next(f.p, f.len, &p2, &g) == 1)
			if (g.num == 1 && g.type == 2) {
				snprintf(name, sizeof(name), "%s%s%.*s", scope, *scope ? "." : "",
				         (int)g.len, (const char *)g.p);
				break;
			}
		if (!name[0])
			continue;
		if (!strcmp(name, full)) {
			*out = f;
			return 0;
		}
		if (!strncmp(full, name, strlen(name)) && full[strlen(name)] == '.' &&
		    find_msg(f.p, f.len, 1, name, full, out, depth + 1) == 0)
			return 0;
	}
	return -1;
}

/* The package of file D/N into PKG. */
static void package_of(const uint8_t *d, size_t n, char *pkg, size_t len)
{
	struct grpc_pb_field f;
	size_t pos = 0;

	pkg[0] = '\0';
	while (grpc_pb_next(d, n, &pos, &f) == 1)
		if (f.num == 2 && f.type == 2) {
			snprintf(pkg, len, "%.*s", (int)f.len, (const char *)f.p);
			return;
		}
}

/* The DescriptorProto of message FULL. 0 or -1. */
static int msg_desc(const struct pb_registry *reg, const char *full, struct grpc_pb_field *out)
{
	const char *file;
	const uint8_t *d;
	size_t n;
	char pkg[256];

	if (pb_file_by_symbol(reg, full, &file) != 0 || pb_file_by_name(reg, file, &d, &n) != 0)
		return -1;
	package_of(d, n, pkg, sizeof(pkg));
	return find_msg(d, n, 0, pkg, full, out, 0);
}

int transcode_field_kind(const struct pb_registry *reg, const struct pb_msg *m, const char *path,
                         size_t len)
{
	char type[512];
	const char *p = path, *end = path + len;
	unsigned depth = 0;

	snprintf(type, sizeof(type), "%s", pb_msg_name(m));
	for (;;) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t seg = dot ? (size_t)(dot - p) : (size_t)(end - p);
		struct grpc_pb_field md, f, g;
		size_t pos = 0;
		int found = 0, label = 0, t = 0;
		char tname[512] = "";

		if (++depth > MAX_DEPTH || msg_desc(reg, type, &md) != 0)
			return -1;
		while (!found && grpc_pb_next(md.p, md.len, &pos, &f) == 1) {
			size_t p2 = 0;
			int match = 0;

			if (f.num != 2 || f.type != 2)
				continue;
			label = t = 0;
			tname[0] = '\0';
			while (grpc_pb_next(f.p, f.len, &p2, &g) == 1) {
				if ((g.num == 1 || g.num == 10) && g.type == 2 && g.len == seg &&
				    !memcmp(g.p, p, seg))
					match = 1;
				else if (g.num == 4 && g.type == 0)
					label = (int)g.u;
				else if (g.num == 5 && g.type == 0)
					t = (int)g.u;
				else if (g.num == 6 && g.type == 2)
					snprintf(tname, sizeof(tname), "%.*s", (int)g.len, (const char *)g.p);
			}
			found = match;
		}
		if (!found)
			return -1;
		if (!dot) {
			int k = label == 3 ? TC_KIND_REPEATED : 0;

			if (t == T_BOOL)
				k |= TC_KIND_BOOL;
			if (t == T_MESSAGE || t == T_GROUP)
				k |= TC_KIND_MESSAGE;
			return k;
		}
		if (t != T_MESSAGE || label == 3 || tname[0] != '.')
			return -1;   /* a path through a value or a list */
		snprintf(type, sizeof(type), "%s", tname + 1);
		p = dot + 1;
	}
}
