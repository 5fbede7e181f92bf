/*
 * test_router.c - unit tests for core/router.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

/* Distinct targets: the router only compares pointers. */
static int T1, T2, T3, T4, T5;

static pt_str_t S(const char *s)
{
	return (pt_str_t){ s, strlen(s) };
}

static const pt_str_t NOHOST = { NULL, 0 };

static int setup(void **state)
{
	*state = router_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	router_free(*state);
	return 0;
}

/* Adds a route that must be accepted. */
static void add_ok(struct router *r, unsigned m, const char *host,
                   const char *pattern, void *target)
{
	char err[256] = "";
	int rc = router_add(r, m, host, pattern, target, err, sizeof(err));

	if (rc)
		fail_msg("router_add(%s) = %d: %s", pattern, rc, err);
}

/* Matches PATH with no host; returns the target. */
static void *get(struct router *r, unsigned m, const char *path,
                 struct router_params *p, unsigned *allowed)
{
	return router_match(r, m, NOHOST, S(path), p, allowed);
}

static void assert_param(const struct router_params *p, const char *name,
                         const char *value)
{
	const pt_str_t *v = router_param_get(p, name);

	if (!v)
		fail_msg("no param %s", name);
	assert_int_equal(v->len, strlen(value));
	assert_memory_equal(v->ptr, value, v->len);
}

static void test_router_matches_static_path(void **state)
{
	struct router *r = *state;
	struct router_params p;
	unsigned allowed = 0;

	add_ok(r, PT_METHOD_GET, NULL, "/v1/users", &T1);
	add_ok(r, PT_METHOD_GET, NULL, "/v1/groups", &T2);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/v1/users", &p, &allowed), &T1);
	assert_int_equal(p.n, 0);
	assert_int_equal(allowed, PT_METHOD_GET | PT_METHOD_HEAD);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/v1/groups", &p, NULL), &T2);
	assert_null(get(r, PT_METHOD_GET, "/v1/Users", &p, NULL));
	assert_null(get(r, PT_METHOD_GET, "/v1", &p, NULL));
	assert_null(get(r, PT_METHOD_GET, "/v1/users/x", &p, NULL));
}

static void test_router_matches_root_path(void **state)
{
	struct router *r = *state;

	add_ok(r, PT_METHOD_GET, NULL, "/", &T1);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/", NULL, NULL), &T1);
	assert_null(get(r, PT_METHOD_GET, "//", NULL, NULL));
	assert_null(get(r, PT_METHOD_GET, "/x", NULL, NULL));
}

static void test_router_trailing_slash_is_strict(void **state)
{
	struct router *r = *state;

	add_ok(r, PT_METHOD_GET, NULL, "/v1/users", &T1);
	assert_null(get(r, PT_METHOD_GET, "/v1/users/", NULL, NULL));
	add_ok(r, PT_METHOD_GET, NULL, "/v1/users/", &T2);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/v1/users", NULL, NULL), &T1);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/v1/users/", NULL, NULL), &T2);
}

static void test_router_param_captures_one_segment(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/users/:id", &T1);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/users/42", &p, NULL), &T1);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.p[0].name.len, 2);
	assert_memory_equal(p.p[0].name.ptr, "id", 2);
	assert_param(&p, "id", "42");
	assert_null(get(r, PT_METHOD_GET, "/users/42/x", &p, NULL));
	assert_int_equal(p.n, 0);
}

static void test_router_param_rejects_empty_segment(void **state)
{
	struct router *r = *state;

	add_ok(r, PT_METHOD_GET, NULL, "/users/:id", &T1);
	assert_null(get(r, PT_METHOD_GET, "/users/", NULL, NULL));
	assert_null(get(r, PT_METHOD_GET, "/users", NULL, NULL));
}

static void test_router_several_params_in_order(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/orgs/:org/repos/:repo/issues/:n", &T1);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/orgs/acme/repos/rocket/issues/7",
	                     &p, NULL), &T1);
	assert_int_equal(p.n, 3);
	assert_param(&p, "org", "acme");
	assert_param(&p, "repo", "rocket");
	assert_param(&p, "n", "7");
	assert_memory_equal(p.p[2].name.ptr, "n", 1);
	assert_null(router_param_get(&p, "nope"));
}

static void test_router_catchall_captures_rest_without_slash(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/files/*path", &T1);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/files/a/b/c.txt", &p, NULL), &T1);
	assert_int_equal(p.n, 1);
	assert_param(&p, "path", "a/b/c.txt");
	assert_ptr_equal(get(r, PT_METHOD_GET, "/files/x", &p, NULL), &T1);
	assert_param(&p, "path", "x");
	assert_ptr_equal(get(r, PT_METHOD_GET, "/files/a//b/", &p, NULL), &T1);
	assert_param(&p, "path", "a//b/");
}

static void test_router_catchall_matches_empty_rest(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/files/*path", &T1);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/files/", &p, NULL), &T1);
	assert_param(&p, "path", "");
	assert_ptr_equal(get(r, PT_METHOD_GET, "/files", &p, NULL), &T1);
	assert_param(&p, "path", "");
	assert_null(get(r, PT_METHOD_GET, "/filesx", &p, NULL));
}

static void test_router_bare_star_names_param_star(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/static/*", &T1);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/static/css/a.css", &p, NULL), &T1);
	assert_param(&p, "*", "css/a.css");
}

static void test_router_root_catchall_matches_everything(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/*all", &T1);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/", &p, NULL), &T1);
	assert_param(&p, "all", "");
	assert_ptr_equal(get(r, PT_METHOD_GET, "/x/y", &p, NULL), &T1);
	assert_param(&p, "all", "x/y");
}

static void test_router_static_beats_param_beats_catchall(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/u/*rest", &T3);
	add_ok(r, PT_METHOD_GET, NULL, "/u/:id", &T2);
	add_ok(r, PT_METHOD_GET, NULL, "/u/me", &T1);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/u/me", &p, NULL), &T1);
	assert_int_equal(p.n, 0);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/u/42", &p, NULL), &T2);
	assert_param(&p, "id", "42");
	assert_ptr_equal(get(r, PT_METHOD_GET, "/u/42/x", &p, NULL), &T3);
	assert_int_equal(p.n, 1);
	assert_param(&p, "rest", "42/x");
	assert_ptr_equal(get(r, PT_METHOD_GET, "/u/", &p, NULL), &T3);
	assert_param(&p, "rest", "");
}

static void test_router_static_route_beats_catchall_at_end(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/files/*rest", &T1);
	add_ok(r, PT_METHOD_GET, NULL, "/files", &T2);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/files", &p, NULL), &T2);
	assert_int_equal(p.n, 0);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/files/", &p, NULL), &T1);
}

static void test_router_backtracks_from_static_to_param(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/a/:x/c", &T1);
	add_ok(r, PT_METHOD_GET, NULL, "/a/b/d", &T2);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/a/b/c", &p, NULL), &T1);
	assert_int_equal(p.n, 1);
	assert_param(&p, "x", "b");
	assert_ptr_equal(get(r, PT_METHOD_GET, "/a/b/d", &p, NULL), &T2);
	assert_int_equal(p.n, 0);
}

static void test_router_backtracks_to_catchall(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/a/*rest", &T1);
	add_ok(r, PT_METHOD_GET, NULL, "/a/:x/c", &T2);
	add_ok(r, PT_METHOD_GET, NULL, "/a/b/d", &T3);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/a/b/e", &p, NULL), &T1);
	assert_int_equal(p.n, 1);
	assert_param(&p, "rest", "b/e");
}

static void test_router_unknown_path_is_404(void **state)
{
	struct router *r = *state;
	unsigned allowed = 99;
	struct router_params p = { .n = 5 };

	add_ok(r, PT_METHOD_GET, NULL, "/a", &T1);
	assert_null(get(r, PT_METHOD_GET, "/b", &p, &allowed));
	assert_int_equal(allowed, 0);
	assert_int_equal(p.n, 0);
}

static void test_router_wrong_method_is_405_with_allowed_set(void **state)
{
	struct router *r = *state;
	unsigned allowed = 0;

	add_ok(r, PT_METHOD_GET, NULL, "/items/:id", &T1);
	add_ok(r, PT_METHOD_PUT | PT_METHOD_DELETE, NULL, "/items/:id", &T2);
	assert_ptr_equal(get(r, PT_METHOD_PUT, "/items/1", NULL, &allowed), &T2);
	assert_ptr_equal(get(r, PT_METHOD_DELETE, "/items/1", NULL, NULL), &T2);
	assert_null(get(r, PT_METHOD_POST, "/items/1", NULL, &allowed));
	assert_int_equal(allowed, PT_METHOD_GET | PT_METHOD_HEAD |
	                          PT_METHOD_PUT | PT_METHOD_DELETE);
}

static void test_router_method_search_continues_past_a_place(void **state)
{
	struct router *r = *state;
	struct router_params p;
	unsigned allowed;

	add_ok(r, PT_METHOD_GET, NULL, "/a/b", &T1);
	add_ok(r, PT_METHOD_POST, NULL, "/a/:x", &T2);
	assert_ptr_equal(get(r, PT_METHOD_POST, "/a/b", &p, NULL), &T2);
	assert_param(&p, "x", "b");
	assert_null(get(r, PT_METHOD_PUT, "/a/b", &p, &allowed));
	assert_int_equal(allowed,
	                 PT_METHOD_GET | PT_METHOD_HEAD | PT_METHOD_POST);
	assert_null(get(r, PT_METHOD_GET, "/a/c", &p, &allowed));
	assert_int_equal(allowed, PT_METHOD_POST);
}

static void test_router_head_falls_back_to_get(void **state)
{
	struct router *r = *state;
	unsigned allowed;

	add_ok(r, PT_METHOD_GET, NULL, "/page", &T1);
	add_ok(r, PT_METHOD_POST, NULL, "/form", &T2);
	assert_ptr_equal(get(r, PT_METHOD_HEAD, "/page", NULL, &allowed), &T1);
	assert_null(get(r, PT_METHOD_HEAD, "/form", NULL, &allowed));
	assert_int_equal(allowed, PT_METHOD_POST);
}

static void test_router_explicit_head_route_wins_over_get(void **state)
{
	struct router *r = *state;

	add_ok(r, PT_METHOD_GET, NULL, "/page", &T1);
	add_ok(r, PT_METHOD_HEAD, NULL, "/page", &T2);
	assert_ptr_equal(get(r, PT_METHOD_HEAD, "/page", NULL, NULL), &T2);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/page", NULL, NULL), &T1);
}

static void test_router_any_matches_every_method(void **state)
{
	struct router *r = *state;
	unsigned allowed;

	add_ok(r, PT_METHOD_ANY, NULL, "/any", &T1);
	for (unsigned m = 1; m <= PT_METHOD_TRACE; m <<= 1)
		assert_ptr_equal(get(r, m, "/any", NULL, &allowed), &T1);
	assert_int_equal(allowed, PT_METHOD_ANY);
}

static void test_router_unknown_method_matches_nothing(void **state)
{
	struct router *r = *state;
	unsigned allowed;

	add_ok(r, PT_METHOD_ANY, NULL, "/any", &T1);
	assert_null(get(r, PT_METHOD_UNKNOWN, "/any", NULL, &allowed));
	assert_int_equal(allowed, PT_METHOD_ANY);
	assert_null(get(r, PT_METHOD_GET | PT_METHOD_POST, "/any", NULL, NULL));
	assert_null(get(r, 1u << 12, "/any", NULL, NULL));
}

static void test_router_host_bound_route_tried_first(void **state)
{
	struct router *r = *state;

	add_ok(r, PT_METHOD_GET, NULL, "/", &T1);
	add_ok(r, PT_METHOD_GET, "api.example.com", "/", &T2);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("api.example.com"),
	                              S("/"), NULL, NULL), &T2);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("www.example.com"),
	                              S("/"), NULL, NULL), &T1);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, NOHOST, S("/"), NULL,
	                              NULL), &T1);
}

static void test_router_host_compare_ignores_case(void **state)
{
	struct router *r = *state;

	add_ok(r, PT_METHOD_GET, "API.Example.com", "/", &T2);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("api.EXAMPLE.com"),
	                              S("/"), NULL, NULL), &T2);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("api.example.com."),
	                              S("/"), NULL, NULL), &T2);
}

static void test_router_host_port_is_stripped(void **state)
{
	struct router *r = *state;

	add_ok(r, PT_METHOD_GET, "example.com", "/", &T1);
	add_ok(r, PT_METHOD_GET, "[::1]", "/", &T2);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("example.com:8080"),
	                              S("/"), NULL, NULL), &T1);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("[::1]:443"), S("/"),
	                              NULL, NULL), &T2);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("[::1]"), S("/"),
	                              NULL, NULL), &T2);
	assert_null(router_match(r, PT_METHOD_GET, S("example.org:80"), S("/"),
	                         NULL, NULL));
}

static void test_router_wildcard_host_matches_subdomains_only(void **state)
{
	struct router *r = *state;

	add_ok(r, PT_METHOD_GET, "*.example.com", "/", &T1);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("a.example.com"),
	                              S("/"), NULL, NULL), &T1);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("x.y.Example.COM:81"),
	                              S("/"), NULL, NULL), &T1);
	assert_null(router_match(r, PT_METHOD_GET, S("example.com"), S("/"),
	                         NULL, NULL));
	assert_null(router_match(r, PT_METHOD_GET, S("badexample.com"), S("/"),
	                         NULL, NULL));
}

static void test_router_exact_host_beats_longer_then_shorter_wildcard(void **state)
{
	struct router *r = *state;

	add_ok(r, PT_METHOD_GET, "*.example.com", "/", &T1);
	add_ok(r, PT_METHOD_GET, "*.api.example.com", "/", &T2);
	add_ok(r, PT_METHOD_GET, "v1.api.example.com", "/", &T3);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("v1.api.example.com"),
	                              S("/"), NULL, NULL), &T3);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("v2.api.example.com"),
	                              S("/"), NULL, NULL), &T2);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("www.example.com"),
	                              S("/"), NULL, NULL), &T1);
}

static void test_router_host_route_falls_back_to_hostless(void **state)
{
	struct router *r = *state;
	unsigned allowed;

	add_ok(r, PT_METHOD_GET, "example.com", "/a", &T1);
	add_ok(r, PT_METHOD_POST, NULL, "/a", &T2);
	add_ok(r, PT_METHOD_GET, NULL, "/b", &T3);
	assert_ptr_equal(router_match(r, PT_METHOD_POST, S("example.com"),
	                              S("/a"), NULL, NULL), &T2);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, S("example.com"),
	                              S("/b"), NULL, NULL), &T3);
	assert_null(router_match(r, PT_METHOD_PUT, S("example.com"), S("/a"),
	                         NULL, &allowed));
	assert_int_equal(allowed,
	                 PT_METHOD_GET | PT_METHOD_HEAD | PT_METHOD_POST);
	assert_null(router_match(r, PT_METHOD_PUT, S("other.com"), S("/a"),
	                         NULL, &allowed));
	assert_int_equal(allowed, PT_METHOD_POST);
}

static void test_router_percent_encoding_is_compared_raw(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/a%20b", &T1);
	add_ok(r, PT_METHOD_GET, NULL, "/f/:name", &T2);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/a%20b", &p, NULL), &T1);
	assert_null(get(r, PT_METHOD_GET, "/a b", &p, NULL));
	assert_ptr_equal(get(r, PT_METHOD_GET, "/f/x%2Fy", &p, NULL), &T2);
	assert_param(&p, "name", "x%2Fy");
}

static void test_router_empty_segments_are_static(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/a//b", &T1);
	add_ok(r, PT_METHOD_GET, NULL, "/c/:x/d", &T2);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/a//b", &p, NULL), &T1);
	assert_null(get(r, PT_METHOD_GET, "/a/b", &p, NULL));
	assert_null(get(r, PT_METHOD_GET, "/c//d", &p, NULL));
}

static void test_router_path_must_start_with_slash(void **state)
{
	struct router *r = *state;
	unsigned allowed;
	pt_str_t empty = { NULL, 0 };

	add_ok(r, PT_METHOD_GET, NULL, "/*rest", &T1);
	assert_null(get(r, PT_METHOD_GET, "x", NULL, &allowed));
	assert_int_equal(allowed, 0);
	assert_null(get(r, PT_METHOD_GET, "", NULL, &allowed));
	assert_null(router_match(r, PT_METHOD_GET, NOHOST, empty, NULL,
	                         &allowed));
}

static void test_router_path_need_not_be_nul_terminated(void **state)
{
	struct router *r = *state;
	struct router_params p;
	const char buf[] = "/users/42XXXX";

	add_ok(r, PT_METHOD_GET, NULL, "/users/:id", &T1);
	assert_ptr_equal(router_match(r, PT_METHOD_GET, NOHOST,
	                              (pt_str_t){ buf, 9 }, &p, NULL), &T1);
	assert_param(&p, "id", "42");
}

static void test_router_param_names_belong_to_the_route(void **state)
{
	struct router *r = *state;
	struct router_params p;

	add_ok(r, PT_METHOD_GET, NULL, "/u/:id", &T1);
	add_ok(r, PT_METHOD_GET, NULL, "/u/:name/x", &T2);
	add_ok(r, PT_METHOD_POST, NULL, "/u/:uid", &T3);
	assert_ptr_equal(get(r, PT_METHOD_GET, "/u/7", &p, NULL), &T1);
	assert_param(&p, "id", "7");
	assert_ptr_equal(get(r, PT_METHOD_GET, "/u/bob/x", &p, NULL), &T2);
	assert_param(&p, "name", "bob");
	assert_null(router_param_get(&p, "id"));
	assert_ptr_equal(get(r, PT_METHOD_POST, "/u/7", &p, NULL), &T3);
	assert_param(&p, "uid", "7");
}

/* Expects router_add to fail with CODE and an error containing NEEDLE. */
static void add_fails(struct router *r, unsigned m, const char *host,
                      const char *pattern, void *target, int code,
                      const char *needle)
{
	char err[256] = "";
	int rc = router_add(r, m, host, pattern, target, err, sizeof(err));

	assert_int_equal(rc, code);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_router_rejects_pattern_without_leading_slash(void **state)
{
	add_fails(*state, PT_METHOD_GET, NULL, "users", &T1, PT_EINVAL,
	          "route pattern \"users\" must start with '/'");
	add_fails(*state, PT_METHOD_GET, NULL, "", &T1, PT_EINVAL,
	          "must start with '/'");
	add_fails(*state, PT_METHOD_GET, NULL, NULL, &T1, PT_EINVAL,
	          "must start with '/'");
}

static void test_router_rejects_empty_param_name(void **state)
{
	add_fails(*state, PT_METHOD_GET, NULL, "/u/:/x", &T1, PT_EINVAL,
	          "route pattern \"/u/:/x\" has a parameter with an empty name");
}

static void test_router_rejects_duplicate_param_name(void **state)
{
	add_fails(*state, PT_METHOD_GET, NULL, "/a/:id/b/:id", &T1, PT_EINVAL,
	          "uses the parameter name \"id\" twice");
	add_fails(*state, PT_METHOD_GET, NULL, "/a/:id/*id", &T1, PT_EINVAL,
	          "uses the parameter name \"id\" twice");
}

static void test_router_rejects_catchall_before_last_segment(void **state)
{
	add_fails(*state, PT_METHOD_GET, NULL, "/a/*rest/b", &T1, PT_EINVAL,
	          "has a catch-all '*' before the last segment");
	add_fails(*state, PT_METHOD_GET, NULL, "/a/*/", &T1, PT_EINVAL,
	          "must come last");
}

static void test_router_rejects_same_method_host_pattern_twice(void **state)
{
	struct router *r = *state;

	add_ok(r, PT_METHOD_GET | PT_METHOD_POST, NULL, "/a/:id", &T1);
	add_fails(r, PT_METHOD_POST, NULL, "/a/:id", &T2, PT_EEXIST,
	          "route POST /a/:id conflicts with POST /a/:id");
	add_fails(r, PT_METHOD_GET, NULL, "/a/:other", &T2, PT_EEXIST,
	          "conflicts with GET /a/:id");
	add_ok(r, PT_METHOD_PUT, NULL, "/a/:id", &T2);
	add_ok(r, PT_METHOD_GET, "example.com", "/a/:id", &T3);
	add_fails(r, PT_METHOD_GET, "EXAMPLE.com", "/a/:id", &T3, PT_EEXIST,
	          "for host EXAMPLE.com");
	assert_ptr_equal(get(r, PT_METHOD_POST, "/a/1", NULL, NULL), &T1);
}

static void test_router_failed_add_changes_nothing(void **state)
{
	struct router *r = *state;
	unsigned allowed;

	add_ok(r, PT_METHOD_GET, NULL, "/a", &T1);
	add_fails(r, PT_METHOD_POST | PT_METHOD_GET, NULL, "/a", &T2,
	          PT_EEXIST, "GET /a");
	assert_null(get(r, PT_METHOD_POST, "/a", NULL, &allowed));
	assert_int_equal(allowed, PT_METHOD_GET | PT_METHOD_HEAD);
}

static void test_router_rejects_bad_methods_target_and_host(void **state)
{
	struct router *r = *state;

	add_fails(r, 0, NULL, "/a", &T1, PT_EINVAL, "invalid method set");
	add_fails(r, 1u << 9, NULL, "/a", &T1, PT_EINVAL, "invalid method set");
	add_fails(r, PT_METHOD_GET, NULL, "/a", NULL, PT_EINVAL,
	          "non-NULL target");
	add_fails(r, PT_METHOD_GET, "example.com:8080", "/a", &T1, PT_EINVAL,
	          "includes a port");
	add_fails(r, PT_METHOD_GET, "a.*.com", "/a", &T1, PT_EINVAL,
	          "not a leading \"*.\"");
	add_fails(r, PT_METHOD_GET, "*", "/a", &T1, PT_EINVAL,
	          "not a leading \"*.\"");
	add_fails(r, PT_METHOD_GET, "a/b", "/a", &T1, PT_EINVAL,
	          "not allowed in a host name");
	/* a NULL error buffer is fine */
	assert_int_equal(router_add(r, PT_METHOD_GET, NULL, "x", &T1, NULL, 0),
	                 PT_EINVAL);
}

static void test_router_limits_params_per_pattern(void **state)
{
	struct router *r = *state;
	struct router_params p;
	char pat[256], path[256];
	size_t n = 0, m = 0;

	for (int i = 0; i < ROUTER_MAX_PARAMS; i++) {
		n += (size_t)snprintf(pat + n, sizeof(pat) - n, "/:p%d", i);
		m += (size_t)snprintf(path + m, sizeof(path) - m, "/v%d", i);
	}
	add_ok(r, PT_METHOD_GET, NULL, pat, &T1);
	assert_ptr_equal(get(r, PT_METHOD_GET, path, &p, NULL), &T1);
	assert_int_equal(p.n, ROUTER_MAX_PARAMS);
	assert_param(&p, "p0", "v0");
	assert_param(&p, "p15", "v15");

	snprintf(pat + n, sizeof(pat) - n, "/*rest");
	add_fails(r, PT_METHOD_GET, NULL, pat, &T2, PT_ELIMIT,
	          "more than 16 parameters");
}

static void test_router_limits_segments_per_pattern(void **state)
{
	char pat[2 * ROUTER_MAX_SEGMENTS + 8];
	size_t n = 0;

	for (int i = 0; i <= ROUTER_MAX_SEGMENTS; i++)
		n += (size_t)snprintf(pat + n, sizeof(pat) - n, "/a");
	add_fails(*state, PT_METHOD_GET, NULL, pat, &T1, PT_ELIMIT,
	          "more than 128 segments");
}

static void test_router_matches_2000_generated_routes(void **state)
{
	struct router *r = *state;
	static char targets[2000];
	static const unsigned nparams[4] = { 0, 1, 2, 1 };
	struct router_params p;
	char pat[64], path[64];

	for (int i = 0; i < 2000; i++) {
		switch (i % 4) {
		case 0: snprintf(pat, sizeof(pat), "/api/v%d/items", i); break;
		case 1: snprintf(pat, sizeof(pat), "/api/v%d/items/:id", i); break;
		case 2: snprintf(pat, sizeof(pat), "/s%d/:a/x/:b", i); break;
		default: snprintf(pat, sizeof(pat), "/f%d/*rest", i); break;
		}
		add_ok(r, PT_METHOD_GET, NULL, pat, &targets[i]);
	}
	for (int i = 0; i < 2000; i++) {
		switch (i % 4) {
		case 0: snprintf(path, sizeof(path), "/api/v%d/items", i); break;
		case 1: snprintf(path, sizeof(path), "/api/v%d/items/%d", i, i); break;
		case 2: snprintf(path, sizeof(path), "/s%d/q/x/r", i); break;
		default: snprintf(path, sizeof(path), "/f%d/a/b", i); break;
		}
		assert_ptr_equal(get(r, PT_METHOD_GET, path, &p, NULL),
		                 &targets[i]);
		assert_int_equal(p.n, nparams[i % 4]);
	}
	assert_null(get(r, PT_METHOD_GET, "/api/v2000/items", &p, NULL));
}

static void test_router_allow_header_lists_methods_in_order(void **state)
{
	char buf[128];
	(void)state;

	assert_int_equal(router_allow_header(PT_METHOD_POST | PT_METHOD_GET,
	                                     buf, sizeof(buf)),
	                 strlen("GET, HEAD, POST, OPTIONS"));
	assert_string_equal(buf, "GET, HEAD, POST, OPTIONS");
	router_allow_header(0, buf, sizeof(buf));
	assert_string_equal(buf, "OPTIONS");
	router_allow_header(PT_METHOD_DELETE | PT_METHOD_OPTIONS, buf,
	                    sizeof(buf));
	assert_string_equal(buf, "DELETE, OPTIONS");
	router_allow_header(PT_METHOD_ANY, buf, sizeof(buf));
	assert_string_equal(buf, "GET, HEAD, POST, PUT, DELETE, PATCH, "
	                         "OPTIONS, CONNECT, TRACE");
}

static void test_router_allow_header_truncates_like_snprintf(void **state)
{
	char buf[8];
	(void)state;

	memset(buf, 'z', sizeof(buf));
	assert_int_equal(router_allow_header(PT_METHOD_GET, buf, sizeof(buf)),
	                 strlen("GET, HEAD, OPTIONS"));
	assert_string_equal(buf, "GET, HE");
	assert_int_equal(router_allow_header(PT_METHOD_GET, NULL, 0),
	                 strlen("GET, HEAD, OPTIONS"));
}

struct seen {
	int n;
	unsigned methods[8];
	const char *host[8];
	char pattern[8][32];
	void *target[8];
};

static void collect(void *ud, unsigned methods, const char *host,
                    const char *pattern, void *target)
{
	struct seen *s = ud;

	if (s->n >= 8)
		return;
	s->methods[s->n] = methods;
	s->host[s->n] = host;
	snprintf(s->pattern[s->n], sizeof(s->pattern[0]), "%s", pattern);
	s->target[s->n] = target;
	s->n++;
}

static void test_router_foreach_visits_every_route_in_order(void **state)
{
	struct router *r = *state;
	struct seen s = { 0 };

	add_ok(r, PT_METHOD_GET | PT_METHOD_POST, NULL, "/a", &T1);
	add_ok(r, PT_METHOD_ANY, "Example.com", "/b/:id", &T2);
	add_ok(r, PT_METHOD_GET, "*.Example.com", "/c/*", &T3);
	add_ok(r, PT_METHOD_DELETE, NULL, "/a", &T4);
	add_fails(r, PT_METHOD_GET, NULL, "/a", &T5, PT_EEXIST, "GET /a");
	router_foreach(r, collect, &s);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.methods[0], PT_METHOD_GET | PT_METHOD_POST);
	assert_null(s.host[0]);
	assert_string_equal(s.pattern[0], "/a");
	assert_ptr_equal(s.target[0], &T1);
	assert_string_equal(s.host[1], "example.com");
	assert_string_equal(s.pattern[1], "/b/:id");
	assert_int_equal(s.methods[1], PT_METHOD_ANY);
	assert_string_equal(s.host[2], "*.example.com");
	assert_string_equal(s.pattern[2], "/c/*");
	assert_ptr_equal(s.target[3], &T4);
}

static void test_router_free_accepts_null(void **state)
{
	(void)state;
	router_free(NULL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_router_matches_static_path),
		T(test_router_matches_root_path),
		T(test_router_trailing_slash_is_strict),
		T(test_router_param_captures_one_segment),
		T(test_router_param_rejects_empty_segment),
		T(test_router_several_params_in_order),
		T(test_router_catchall_captures_rest_without_slash),
		T(test_router_catchall_matches_empty_rest),
		T(test_router_bare_star_names_param_star),
		T(test_router_root_catchall_matches_everything),
		T(test_router_static_beats_param_beats_catchall),
		T(test_router_static_route_beats_catchall_at_end),
		T(test_router_backtracks_from_static_to_param),
		T(test_router_backtracks_to_catchall),
		T(test_router_unknown_path_is_404),
		T(test_router_wrong_method_is_405_with_allowed_set),
		T(test_router_method_search_continues_past_a_place),
		T(test_router_head_falls_back_to_get),
		T(test_router_explicit_head_route_wins_over_get),
		T(test_router_any_matches_every_method),
		T(test_router_unknown_method_matches_nothing),
		T(test_router_host_bound_route_tried_first),
		T(test_router_host_compare_ignores_case),
		T(test_router_host_port_is_stripped),
		T(test_router_wildcard_host_matches_subdomains_only),
		T(test_router_exact_host_beats_longer_then_shorter_wildcard),
		T(test_router_host_route_falls_back_to_hostless),
		T(test_router_percent_encoding_is_compared_raw),
		T(test_router_empty_segments_are_static),
		T(test_router_path_must_start_with_slash),
		T(test_router_path_need_not_be_nul_terminated),
		T(test_router_param_names_belong_to_the_route),
		T(test_router_rejects_pattern_without_leading_slash),
		T(test_router_rejects_empty_param_name),
		T(test_router_rejects_duplicate_param_name),
		T(test_router_rejects_catchall_before_last_segment),
		T(test_router_rejects_same_method_host_pattern_twice),
		T(test_router_failed_add_changes_nothing),
		T(test_router_rejects_bad_methods_target_and_host),
		T(test_router_limits_params_per_pattern),
		T(test_router_limits_segments_per_pattern),
		T(test_router_matches_2000_generated_routes),
		T(test_router_allow_header_lists_methods_in_order),
		T(test_router_allow_header_truncates_like_snprintf),
		T(test_router_foreach_visits_every_route_in_order),
		T(test_router_free_accepts_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
