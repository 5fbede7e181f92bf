/*
 * validate_suggest.c - the validator's "Did you mean" suggestions, and the
 * order in which FieldsOnCorrectType (9) suggests types.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "validate_priv.h"

/* ---- "Did you mean" (graphql-js suggestionList / didYouMean) ---- */

int gqlv_natural_compare(const char *a, const char *b)
{
	size_t i = 0, j = 0, la = strlen(a), lb = strlen(b);

	while (i < la && j < lb) {
		int ca = (unsigned char)a[i], cb = (unsigned char)b[j];

		if (ca >= '0' && ca <= '9' && cb >= '0' && cb <= '9') {
			uint64_t na = 0, nb = 0;

			do {
				++i;
				na = na * 10 + (unsigned)(ca - '0');
				ca = i < la ? (unsigned char)a[i] : 0;
			} while (ca >= '0' && ca <= '9' && na > 0 && na < UINT64_MAX / 20);
			do {
				++j;
				nb = nb * 10 + (unsigned)(cb - '0');
				cb = j < lb ? (unsigned char)b[j] : 0;
			} while (cb >= '0' && cb <= '9' && nb > 0 && nb < UINT64_MAX / 20);
			if (na != nb)
				return na < nb ? -1 : 1;
		} else {
			if (ca != cb)
				return ca < cb ? -1 : 1;
			++i;
			++j;
		}
	}
	return (la - i > lb - j) - (la - i < lb - j);
}

static char *lower(struct vctx *v, const char *s)
{
	size_t n = strlen(s);
	char *l = gqlv_vcalloc(v, n + 1);

	for (size_t i = 0; i < n; i++)
		l[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	return l;
}

/* Damerau-Levenshtein distance of graphql-js's LexicalDistance, or -1. */
static long lex_distance(struct vctx *v, const char *input,
                         const char *in_lower, const char *option,
                         unsigned threshold, unsigned *rows)
{
	const char *a, *b;
	size_t la, lb, w;
	char *ol;

	if (strcmp(input, option) == 0)
		return 0;
	ol = lower(v, option);
	if (strcmp(ol, in_lower) == 0)
		return 1;
	a = ol;
	b = in_lower;
	if (strlen(a) < strlen(b)) {
		const char *t = a;

		a = b;
		b = t;
	}
	la = strlen(a);
	lb = strlen(b);
	if (la - lb > threshold)
		return -1;
	w = lb + 1;
	for (size_t j = 0; j <= lb; j++)
		rows[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned *up = rows + ((i - 1) % 3) * w;
		unsigned *cur = rows + (i % 3) * w;
		unsigned smallest = cur[0] = (unsigned)i;

		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
			unsigned c = up[j] + 1;

			if (cur[j - 1] + 1 < c)
				c = cur[j - 1] + 1;
			if (up[j - 1] + cost < c)
				c = up[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1]) {
				unsigned dd = rows[((i - 2) % 3) * w + j - 2] + 1;

				if (dd < c)
					c = dd;
			}
			if (c < smallest)
				smallest = c;
			cur[j] = c;
		}
		if (smallest > threshold)
			return -1;
	}
	w = rows[(la % 3) * (lb + 1) + lb];
	return w <= threshold ? (long)w : -1;
}

/* The options close to INPUT, best first; their count in *N_OUT. */
const char **gqlv_suggest(struct vctx *v, const char *input,
                          const char *const *opts, unsigned n,
                          unsigned *n_out)
{
	size_t len = strlen(input);
	unsigned threshold = (unsigned)(len * 4 / 10) + 1;
	unsigned *rows = gqlv_vcalloc(v, 3 * (len + 1) * sizeof(*rows));
	const char *in_lower = lower(v, input);
	const char **out = gqlv_vcalloc(v, (size_t)n * sizeof(*out) + 1);
	long *dist = gqlv_vcalloc(v, (size_t)n * sizeof(*dist) + 1);
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		long d = lex_distance(v, input, in_lower, opts[i], threshold, rows);
		unsigned j;

		if (d < 0)
			continue;
		for (j = 0; j < k && strcmp(out[j], opts[i]) != 0; j++)
			;
		if (j < k)
			continue;	/* an object's keys are unique */
		/* insertion sort: by distance, then natural order */
		for (j = k; j > 0 && (dist[j - 1] > d || (dist[j - 1] == d &&
		     gqlv_natural_compare(out[j - 1], opts[i]) > 0)); j--) {
			out[j] = out[j - 1];
			dist[j] = dist[j - 1];
		}
		out[j] = opts[i];
		dist[j] = d;
		k++;
	}
	*n_out = k;
	return out;
}

const char *gqlv_did_you_mean(struct vctx *v, const char *sub,
                              const char *const *list, unsigned n)
{
	char buf[1024];
	size_t at;

	if (n == 0)
		return "";
	at = (size_t)snprintf(buf, sizeof(buf), " Did you mean %s%s", sub ? sub : "",
	                      sub ? " " : "");
	if (n > 5)
		n = 5;
	for (unsigned i = 0; i < n && at < sizeof(buf); i++) {
		const char *sep = "";

		if (i > 0)
			sep = n == 2 ? " or " : (i == n - 1 ? ", or " : ", ");
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s\"%s\"", sep,
		                       list[i]);
	}
	if (at < sizeof(buf))
		snprintf(buf + at, sizeof(buf) - at, "?");
	return gqlv_fmt(v, "%s", buf);
}

const char *gqlv_dym_list(struct vctx *v, const char *input,
                          const char *const *opts, unsigned n)
{
	unsigned k;
	const char **s = gqlv_suggest(v, input, opts, n, &k);

	return gqlv_did_you_mean(v, NULL, s, k);
}

/* ---- FieldsOnCorrectType's suggestions (9) ---- */

/* getSuggestedTypeNames' order: most used, super types, then by name. */
static int type_order(const struct gql_stype *a, unsigned ca,
                      const struct gql_stype *b, unsigned cb)
{
	if (ca != cb)
		return ca < cb ? 1 : -1;
	if (a->kind == GQL_INTERFACE && gqlv_is_sub_type(a, b))
		return -1;
	if (b->kind == GQL_INTERFACE && gqlv_is_sub_type(b, a))
		return 1;
	return gqlv_natural_compare(a->name, b->name);
}

/*
 * Sort TYPES (with their COUNTs) by type_order the way V8's
 * Array.prototype.sort does for fewer than 64 elements (one natural run,
 * then binary insertion): type_order is not a consistent order, so only
 * the same algorithm gives graphql-js's result.
 */
static void v8_sort(const struct gql_stype **types, unsigned *count, unsigned n)
{
	unsigned run = 2;

	if (n < 2)
		return;
	if (type_order(types[1], count[1], types[0], count[0]) < 0) {
		while (run < n && type_order(types[run], count[run], types[run - 1],
		                             count[run - 1]) < 0)
			run++;
		for (unsigned i = 0, j = run - 1; i < j; i++, j--) {
			const struct gql_stype *t = types[i];
			unsigned c = count[i];

			types[i] = types[j];
			count[i] = count[j];
			types[j] = t;
			count[j] = c;
		}
	} else {
		while (run < n && type_order(types[run], count[run], types[run - 1],
		                             count[run - 1]) >= 0)
			run++;
	}
	for (unsigned start = run; start < n; start++) {
		const struct gql_stype *pivot = types[start];
		unsigned pc = count[start], left = 0, right = start;

		while (left < right) {
			unsigned mid = left + ((right - left) >> 1);

			if (type_order(pivot, pc, types[mid], count[mid]) < 0)
				right = mid;
			else
				left = mid + 1;
		}
		memmove(types + left + 1, types + left, (start - left) * sizeof(*types));
		memmove(count + left + 1, count + left, (start - left) * sizeof(*count));
		types[left] = pivot;
		count[left] = pc;
	}
}

/* FieldsOnCorrectType's suggestions for NAME on PARENT. */
const char *gqlv_field_suggestion(struct vctx *v, const struct gql_stype *parent,
                                  const char *name)
{
	const struct gql_stype **types;
	unsigned *count, n = 0;
	const char **names;

	if (gqlv_is_abstract(parent)) {
		unsigned cap = 1;

		for (unsigned i = 0; i < parent->n_possible; i++)
			cap += 1 + parent->possible[i]->n_interfaces;
		types = gqlv_vcalloc(v, cap * sizeof(*types));
		count = gqlv_vcalloc(v, cap * sizeof(*count));
		for (unsigned i = 0; i < parent->n_possible; i++) {
			const struct gql_stype *p = parent->possible[i];

			if (!gql_type_field(p, name))
				continue;
			types[n] = p;
			count[n++] = 1;
			for (unsigned k = 0; k < p->n_interfaces; k++) {
				const struct gql_stype *it = p->interfaces[k];
				unsigned j;

				if (!gql_type_field(it, name))
					continue;
				for (j = 0; j < n && types[j] != it; j++)
					;
				if (j == n) {
					types[n] = it;
					count[n++] = 0;
				}
				count[j]++;
			}
		}
		v8_sort(types, count, n);
		if (n) {
			names = gqlv_vcalloc(v, n * sizeof(*names));
			for (unsigned i = 0; i < n; i++)
				names[i] = types[i]->name;
			return gqlv_did_you_mean(v, "to use an inline fragment on", names, n);
		}
	}
	if (parent->kind == GQL_OBJECT || parent->kind == GQL_INTERFACE) {
		names = gqlv_vcalloc(v, (parent->n_fields + 1) * sizeof(*names));
		for (unsigned i = 0; i < parent->n_fields; i++)
			names[i] = parent->fields[i].name;
		return gqlv_dym_list(v, name, names, parent->n_fields);
	}
	return "";
}
