/*
 * fuzz_router.c - libFuzzer target for core/router.c.
 *
 * Input: byte 0 picks the method (low 4 bits: bit index, 9+ = not one known
 * method) and the mode (bit 7).  Mode 0: the rest is "host\npath" (or just a
 * path when there is no '\n'), matched against a fixed router.  Mode 1: the
 * rest (up to the first NUL) is a pattern added to a scratch router, which
 * is then matched with the same bytes as the path.  Nothing may crash, and
 * every match result must stay inside the path it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

static struct router *fixed;
static int targets[16];

static const struct {
	unsigned methods;
	const char *host;
	const char *pattern;
} routes[] = {
	{ PT_METHOD_GET, NULL, "/" },
	{ PT_METHOD_GET, NULL, "/v1/users" },
	{ PT_METHOD_GET, NULL, "/v1/users/" },
	{ PT_METHOD_GET | PT_METHOD_PUT, NULL, "/v1/users/:id" },
	{ PT_METHOD_DELETE, NULL, "/v1/users/:uid" },
	{ PT_METHOD_GET, NULL, "/v1/users/:id/posts/:post" },
	{ PT_METHOD_GET, NULL, "/a/:x/c" },
	{ PT_METHOD_GET, NULL, "/a/b/d" },
	{ PT_METHOD_POST, NULL, "/a/*rest" },
	{ PT_METHOD_GET, NULL, "/static/*" },
	{ PT_METHOD_ANY, "example.com", "/:p1/:p2/:p3/*tail" },
	{ PT_METHOD_GET, "*.example.com", "/v1/users/:id" },
	{ PT_METHOD_HEAD, "api.example.com", "/v1//x" },
	{ PT_METHOD_OPTIONS, NULL, "/files/*path" },
};

static void check(const uint8_t *path, size_t len, unsigned method,
                  void *t, const struct router_params *p, unsigned allowed)
{
	char buf[128];

	if (allowed & ~(unsigned)PT_METHOD_ANY)
		abort();
	if (!t && p->n)
		abort();
	if (t && !(allowed & method) && method != PT_METHOD_HEAD)
		abort();
	if (p->n > ROUTER_MAX_PARAMS)
		abort();
	for (unsigned i = 0; i < p->n; i++) {
		const char *v = p->p[i].value.ptr;

		if (!p->p[i].name.ptr || !p->p[i].name.len)
			abort();
		if (v < (const char *)path ||
		    v + p->p[i].value.len > (const char *)path + len)
			abort();
	}
	router_allow_header(allowed, buf, sizeof(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct router_params p;
	unsigned method, allowed;
	const uint8_t *rest, *nl;
	pt_str_t host = { NULL, 0 }, path;
	void *t;

	if (!fixed) {
		fixed = router_new();
		if (!fixed)
			abort();
		for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
			if (router_add(fixed, routes[i].methods, routes[i].host,
			               routes[i].pattern, &targets[i], NULL, 0))
				abort();
	}
	if (size < 1)
		return 0;
	method = 1u << (data[0] & 15);
	rest = data + 1;
	size--;

	if (data[0] & 0x80) {
		/* mode 1: the input is a pattern, then a path */
		struct router *r = router_new();
		size_t plen = size > 512 ? 512 : size;
		char *pat = malloc(plen + 1);
		int one;

		if (!r || !pat)
			abort();
		memcpy(pat, rest, plen);
		pat[plen] = '\0';
		if (router_add(r, PT_METHOD_ANY, NULL, pat, &one, NULL, 0) == 0) {
			path = (pt_str_t){ (const char *)rest, size };
			t = router_match(r, method, host, path, &p, &allowed);
			check(rest, size, method, t, &p, allowed);
			if (t && t != &one)
				abort();
		}
		free(pat);
		router_free(r);
		return 0;
	}

	nl = memchr(rest, '\n', size);
	if (nl) {
		host = (pt_str_t){ (const char *)rest, (size_t)(nl - rest) };
		size -= (size_t)(nl - rest) + 1;
		rest = nl + 1;
	}
	path = (pt_str_t){ (const char *)rest, size };
	t = router_match(fixed, method, host, path, &p, &allowed);
	check(rest, size, method, t, &p, allowed);
	return 0;
}
