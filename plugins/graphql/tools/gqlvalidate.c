/*
 * gqlvalidate - command-line driver of the schema builder and validator,
 * for scripts (cats_validate.py, crosscheck_validate.mjs) and people.
 *
 *   gqlvalidate [--no-limits] [--rules A,B] SCHEMA.graphql [QUERY.graphql]
 *       builds the schema, validates the query (stdin without one) and
 *       prints the result as one JSON object (below).
 *   gqlvalidate --batch
 *       reads records from stdin and answers each with one JSON line:
 *         "schema <bytes>\n" <SDL>               -> {"schema":"ok"} or
 *                                                   {"schema_errors":[...]}
 *         "query <bytes> [nolimits] [rules=A,B]\n" <document>
 *                                                -> {"errors":[...]} or
 *                                                   {"syntax":{...}}
 *
 * An error is {"message": "...", "locations": [{"line":1,"column":2}]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "schema.h"
#include "validate.h"

static void put_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void put_error(const char *msg, unsigned n, const struct gql_vloc *l)
{
	fputs("{\"message\":", stdout);
	put_json_string(msg);
	fputs(",\"locations\":[", stdout);
	for (unsigned i = 0; i < n; i++)
		printf("%s{\"line\":%u,\"column\":%u}", i ? "," : "", l[i].line,
		       l[i].column);
	fputs("]}", stdout);
}

static struct gql_schema *load_schema(const char *sdl, const char *name)
{
	struct gql_schema_error errs[20];
	unsigned n = 0;
	struct gql_schema *s = gql_schema_build(&sdl, &name, 1, errs, 20, &n);

	if (s) {
		puts("{\"schema\":\"ok\"}");
		return s;
	}
	fputs("{\"schema_errors\":[", stdout);
	for (unsigned i = 0; i < n; i++) {
		fputs(i ? "," : "", stdout);
		put_json_string(errs[i].text);
	}
	puts("]}");
	return NULL;
}

static unsigned parse_rules(const char *list)
{
	unsigned bits = 0;
	char *copy = strdup(list), *tok, *save = NULL;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned b = gql_rule_bit(tok);

		if (!b)
			fprintf(stderr, "gqlvalidate: unknown rule %s\n", tok);
		bits |= b;
	}
	free(copy);
	return bits ? bits : GQL_RULE_ALL;
}

static void run_query(const struct gql_schema *s, const char *src, size_t len,
                      const struct gql_vlimits *lim)
{
	struct gql_arena a;
	struct gql_error perr;
	struct gql_doc *doc;
	struct gql_verror *errs;
	unsigned n;
	int r;

	gql_arena_init(&a, 0);
	doc = gql_parse(&a, src, len, NULL, &perr);
	if (!doc) {
		struct gql_vloc l = { perr.line, perr.column };

		fputs("{\"syntax\":", stdout);
		put_error(perr.message, 1, &l);
		puts("}");
		gql_arena_close(&a);
		return;
	}
	r = gql_validate(s, doc, lim, &a, &errs, &n);
	if (r < 0) {
		puts("{\"failure\":\"out of memory\"}");
		gql_arena_close(&a);
		return;
	}
	fputs("{\"errors\":[", stdout);
	for (unsigned i = 0; i < n; i++) {
		fputs(i ? "," : "", stdout);
		put_error(errs[i].message, errs[i].n_locs, errs[i].locs);
	}
	puts("]}");
	gql_arena_close(&a);
}

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, r;
	char *buf = malloc(cap + 1);

	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *nb = realloc(buf, 2 * cap + 1);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s;

	if (!f) {
		perror(path);
		exit(2);
	}
	s = read_all(f, len);
	fclose(f);
	return s;
}

static int batch(void)
{
	struct gql_schema *s = NULL;
	char line[4096];

	while (fgets(line, sizeof(line), stdin)) {
		char kind[16], *opts, *body;
		size_t len;
		struct gql_vlimits lim = { 0 };

		if (sscanf(line, "%15s %zu", kind, &len) != 2)
			continue;
		body = malloc(len + 1);
		if (!body || fread(body, 1, len, stdin) != len)
			return 1;
		body[len] = '\0';
		if (strcmp(kind, "schema") == 0) {
			gql_schema_free(s);
			s = load_schema(body, "schema.graphql");
		} else if (!s) {
			puts("{\"failure\":\"no schema\"}");
		} else {
			opts = strchr(line, ' ');
			opts = opts ? strchr(opts + 1, ' ') : NULL;
			for (char *t = opts ? strtok(opts, " \n") : NULL; t;
			     t = strtok(NULL, " \n")) {
				if (strcmp(t, "nolimits") == 0) {
					lim.max_depth = lim.max_aliases = GQL_VLIMIT_NONE;
					lim.max_complexity = GQL_VLIMIT_NONE;
				} else if (strncmp(t, "rules=", 6) == 0) {
					lim.rules = parse_rules(t + 6);
				}
			}
			run_query(s, body, len, &lim);
		}
		fflush(stdout);
		free(body);
	}
	gql_schema_free(s);
	return 0;
}

int main(int argc, char **argv)
{
	struct gql_vlimits lim = { 0 };
	const char *files[2] = { NULL, NULL };
	unsigned nf = 0;
	struct gql_schema *s;
	size_t len;
	char *sdl, *q;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--batch") == 0)
			return batch();
		if (strcmp(argv[i], "--no-limits") == 0) {
			lim.max_depth = lim.max_aliases = GQL_VLIMIT_NONE;
			lim.max_complexity = GQL_VLIMIT_NONE;
		} else if (strcmp(argv[i], "--no-introspection") == 0) {
			lim.introspection = GQL_INTROSPECTION_OFF;
		} else if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc) {
			lim.rules = parse_rules(argv[++i]);
		} else if (nf < 2) {
			files[nf++] = argv[i];
		}
	}
	if (nf < 1) {
		fprintf(stderr, "usage: gqlvalidate [--no-limits] [--no-introspection] "
		        "[--rules A,B] SCHEMA.graphql [QUERY.graphql]\n"
		        "       gqlvalidate --batch\n");
		return 2;
	}
	sdl = read_file(files[0], &len);
	s = load_schema(sdl, files[0]);
	free(sdl);
	if (!s)
		return 1;
	q = files[1] ? read_file(files[1], &len) : read_all(stdin, &len);
	run_query(s, q, len, &lim);
	free(q);
	gql_schema_free(s);
	return 0;
}
