/*
 * router.h - the request router: host + method + path -> opaque target.
 *
 * One router is built per worker at load time (router_add), then used
 * read-only on every request (router_match), from one thread, without locks.
 * Matching never allocates and never scans the path for a NUL.
 *
 * Pattern syntax (segments are the bytes between '/'; compared raw, percent
 * encoding is NOT decoded, so "a%2Fb" is one segment):
 *
 *   /v1/users        static segments, compared byte for byte (case-sensitive)
 *   /v1/users/:id    a named parameter: one whole, non-empty segment
 *   /files/ *rest    a catch-all, last segment only: zero or more remaining
 *                    segments, value without the leading slash; a bare '*'
 *                    names the parameter "*".  (The space after '/' here and
 *                    below is only because a C comment can't hold slash-star;
 *                    real patterns have none.)
 *
 *   - Trailing slash is strict: "/v1/users/" and "/v1/users" are different
 *     routes (the first ends with an empty segment).  An empty segment (from
 *     "//" or a trailing '/') is an ordinary static "" segment.
 *   - A catch-all also matches zero segments: "/files/ *rest" matches
 *     "/files" and "/files/" (rest = "" both times) and "/files/a/b"
 *     (rest = "a/b").  A static route at the same place wins.
 *   - Precedence at each segment: static, then parameter, then catch-all, with
 *     backtracking: with "/a/:x/c" and "/a/b/d", "/a/b/c" matches the first.
 *     The search goes on past a route whose path matches but whose method
 *     doesn't, so "/a/b" GET and "/a/:x" POST answer a POST /a/b.
 *   - Parameter names belong to the route, not to the trie position, so
 *     "/u/:id" and "/u/:name/x" coexist (unlike httprouter).  Two routes with
 *     the same shape (same statics, params and catch-all at the same places)
 *     for the same method and host conflict (PT_EEXIST), whatever the names.
 *   - Hosts: a route may be bound to an exact host (case-insensitive) or a
 *     leading wildcard "*.example.com" (one or more labels before
 *     ".example.com"; not "example.com" itself).  The request host loses its
 *     ":port" and a trailing '.' before the compare.  Order tried: the exact
 *     host, the wildcards (longest suffix first), then host-less routes; the
 *     first route that matches path and method wins.
 *   - HEAD uses a GET route at the same place when that place has no HEAD
 *     route.  OPTIONS is not answered here: with no OPTIONS route the caller
 *     gets NULL and *ALLOWED for its own OPTIONS/405 reply.
 */
#ifndef PORTICO_ROUTER_H
#define PORTICO_ROUTER_H

#include <stddef.h>

#include "portico/types.h"

#define ROUTER_MAX_PARAMS 16	/* params + catch-all in one pattern */
#define ROUTER_MAX_SEGMENTS 128	/* segments in one pattern */

/* Borrowed: NAME from the router (lives as long as it), VALUE a view into the
 * matched path (lives as long as the caller's path buffer). */
struct router_param {
	pt_str_t name;
	pt_str_t value;
};

struct router_params {
	unsigned n;
	struct router_param p[ROUTER_MAX_PARAMS];
};

struct router;

/* Returns a new empty router (owned by the caller, free with router_free), or
 * NULL when out of memory. */
struct router *router_new(void);

/* Frees R and every string it copied; targets are the caller's. NULL is ok. */
void router_free(struct router *r);

/*
 * Adds PATTERN for METHODS (bit set of enum pt_method, PT_METHOD_ANY for any)
 * and HOST (NULL or "" = any host; exact or "*.suffix"; no port).  TARGET is
 * returned on match (borrowed, non-NULL; the caller keeps it alive).  HOST and
 * PATTERN are copied.  Returns 0, or PT_EINVAL (bad pattern, host, methods or
 * target), PT_EEXIST (same method + host + pattern shape already added),
 * PT_ELIMIT (too many params or segments), PT_ENOMEM; on error nothing is
 * added and ERR (ERRLEN bytes, may be NULL) gets a sentence.
 */
int router_add(struct router *r, unsigned methods, const char *host,
               const char *pattern, void *target, char *err, size_t errlen);

/*
 * Finds the route for METHOD (one bit) at HOST (may carry ":port"; empty or
 * NULL ptr = none) and PATH (raw, starting with '/').  On a match fills PARAMS
 * (may be NULL) and returns the target, with *ALLOWED = the methods of the
 * matched place.  Otherwise returns NULL, PARAMS->n = 0 and *ALLOWED = every
 * method that would match the path at this host (0 -> 404, else 405).
 * HEAD is in *ALLOWED whenever GET is.  ALLOWED may be NULL.
 */
void *router_match(const struct router *r, unsigned method, pt_str_t host,
                   pt_str_t path, struct router_params *params,
                   unsigned *allowed);

/* Returns the value of parameter NAME (NUL-terminated) in P, or NULL.  The
 * pointer is into P (borrowed). */
const pt_str_t *router_param_get(const struct router_params *p,
                                 const char *name);

/*
 * Writes "GET, HEAD, POST" style text for an Allow header into BUF (BUFLEN
 * bytes, NUL-terminated and truncated like snprintf).  HEAD is included
 * whenever GET is; OPTIONS always.  Returns the full length (without NUL).
 */
size_t router_allow_header(unsigned allowed, char *buf, size_t buflen);

/* Calls FN for every route in the order added: its method bits, host (NULL
 * for any host; lowercased), pattern and target.  The strings are borrowed
 * for the call.  FN must not add routes. */
void router_foreach(const struct router *r,
                    void (*fn)(void *ud, unsigned methods, const char *host,
                               const char *pattern, void *target),
                    void *ud);

#endif
