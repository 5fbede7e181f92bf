/* balance.c - the hash key of a request and rendezvous hashing; see balance.h. */
#include <string.h>
#include <strings.h>

#include "balance.h"
#include "hash.h"

uint64_t balance_hash(const void *p, size_t n)
{
	return hash_fmix64(hash_fnv1a(0, p, n) ^ n);
}

uint64_t balance_score(uint64_t key, uint64_t server)
{
	/* both inputs are mixed already; mixing them together once more keeps
	   one key's scores on different servers independent */
	return hash_fmix64(key ^ (server * 0x9e3779b97f4a7c15ULL));
}

static pt_str_t trim(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return (pt_str_t){ p, (size_t)(end - p) };
}

/* The value of the first header named NAME (case-insensitive). */
static int header(const pt_str_t *h, unsigned n, const char *name, pt_str_t *out)
{
	size_t len = strlen(name);

	for (unsigned i = 0; i < n; i++)
		if (h[2 * i].len == len && !strncasecmp(h[2 * i].ptr, name, len)) {
			*out = h[2 * i + 1];
			return 0;
		}
	return -1;
}

/* The raw value of query parameter NAME in PATH ("/p?a=1&b=2"). */
static int query_param(pt_str_t path, const char *name, pt_str_t *out)
{
	const char *q = memchr(path.ptr, '?', path.len), *end = path.ptr + path.len;
	size_t len = strlen(name);

	if (!q)
		return -1;
	for (const char *p = q + 1; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));

		if (eq && (size_t)(eq - p) == len && !memcmp(p, name, len)) {
			*out = (pt_str_t){ eq + 1, (size_t)(e - eq - 1) };
			return 0;
		}
		p = e + 1;
	}
	return -1;
}

int balance_key(const struct upstream_conf *u, const pt_str_t *headers, unsigned num_headers,
                pt_str_t path, pt_str_t *key)
{
	pt_str_t v = { NULL, 0 };
	int rc = -1;

	switch (u->hash_by) {
	case UP_HASH_HEADER:
		rc = header(headers, num_headers, u->hash_name, &v);
		if (rc == 0)
			v = trim(v.ptr, v.ptr + v.len);
		break;
	case UP_HASH_QUERY:
		rc = path.ptr ? query_param(path, u->hash_name, &v) : -1;
		break;
	case UP_HASH_IP:
		rc = header(headers, num_headers, "x-forwarded-for", &v);
		if (rc == 0) {
			const char *comma = v.len ? memrchr(v.ptr, ',', v.len) : NULL;

			v = trim(comma ? comma + 1 : v.ptr, v.ptr + v.len);
		}
		break;
	}
	if (rc != 0 || v.len == 0)
		return -1;
	*key = v;
	return 0;
}
