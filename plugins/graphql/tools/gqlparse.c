/*
 * gqlparse - run the GraphQL parser from the command line (a test tool).
 *
 *   gqlparse [-e|-s] [-v|-c|-t] [FILE]   parse FILE (default stdin); print the
 *                                        canonical text, or "L:C: message"
 *                                        on stderr and exit 1
 *   gqlparse --batch [-e|-s] [-v|-c|-t]  read records "<byte length>\n<bytes>"
 *                                        from stdin; answer each with one JSON
 *                                        line {"ok":true,"print":"..."} or
 *                                        {"ok":false,"line":L,"column":C,
 *                                        "message":"..."}
 *
 * -e accepts executable definitions only, -s type system ones only; -v parses
 * a value, -c a constant value, -t a type instead of a document.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "printer.h"

static enum gql_accept accept = GQL_ACCEPT_ANY;
static char goal = 'd';

/* Parse SRC; the printed text (from A) or NULL with *ERR filled. */
static char *run(struct gql_arena *a, const char *src, size_t len, size_t *out_len,
                 struct gql_error *err)
{
	switch (goal) {
	case 'v':
	case 'c': {
		struct gql_value *v = gql_parse_value(a, src, len, NULL, goal == 'c',
		                                      err);
		return v ? gql_print_value(a, v, out_len) : NULL;
	}
	case 't': {
		struct gql_type *t = gql_parse_type(a, src, len, NULL, err);
		return t ? gql_print_type(a, t, out_len) : NULL;
	}
	default: {
		struct gql_doc *d = gql_parse_as(a, src, len, NULL, accept, err);
		return d ? gql_print(a, d, out_len) : NULL;
	}
	}
}

static void json_string(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0, r;
	char *buf = malloc(cap);

	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *b = realloc(buf, cap *= 2);

			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
		}
	}
	*len = n;
	return buf;
}

static int batch(void)
{
	size_t len;

	while (scanf("%zu", &len) == 1) {
		struct gql_arena a;
		struct gql_error err;
		char *src = malloc(len ? len : 1), *out;
		size_t out_len = 0;

		if (getchar() != '\n' || !src || fread(src, 1, len, stdin) != len)
			return 2;
		gql_arena_init(&a, 0);
		out = run(&a, src, len, &out_len, &err);
		if (out) {
			printf("{\"ok\":true,\"print\":");
			json_string(out, out_len);
		} else {
			printf("{\"ok\":false,\"line\":%u,\"column\":%u,\"message\":",
			       err.line, err.column);
			json_string(err.message, strlen(err.message));
		}
		printf("}\n");
		fflush(stdout);
		gql_arena_close(&a);
		free(src);
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool is_batch = false;
	const char *path = NULL;
	struct gql_arena a;
	struct gql_error err;
	char *src, *out;
	size_t len, out_len = 0;
	FILE *f = stdin;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--batch"))
			is_batch = true;
		else if (!strcmp(argv[i], "-e"))
			accept = GQL_ACCEPT_EXECUTABLE;
		else if (!strcmp(argv[i], "-s"))
			accept = GQL_ACCEPT_TYPE_SYSTEM;
		else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "-c") ||
		         !strcmp(argv[i], "-t"))
			goal = argv[i][1];
		else
			path = argv[i];
	}
	if (is_batch)
		return batch();
	if (path && !(f = fopen(path, "rb"))) {
		perror(path);
		return 2;
	}
	src = read_all(f, &len);
	if (!src)
		return 2;
	gql_arena_init(&a, 0);
	out = run(&a, src, len, &out_len, &err);
	if (out) {
		fwrite(out, 1, out_len, stdout);
		putchar('\n');
	} else {
		fprintf(stderr, "%u:%u: %s\n", err.line, err.column, err.message);
	}
	gql_arena_close(&a);
	free(src);
	return out ? 0 : 1;
}
