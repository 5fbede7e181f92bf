/*
 * router.c - a segment trie per host, matched with backtracking.
 *
 * Each trie node stands for a sequence of pattern segments.  It has sorted
 * static children (binary search on length then bytes), at most one param
 * child and at most one catch-all child, and a route per method (9 slots).
 * Parameter names live in the route, not the node: matching records values by
 * position and the accepted route names them.
 *
 * Backtracking visits at most every trie node whose prefix matches the path,
 * so the cost is bounded by the routes, not the request: a long path stops
 * at the first segment with no child.
 */
#include "router.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMETHODS 9
#define END ((size_t)-1)	/* path position once every segment is consumed */

struct route {
	unsigned methods;
	char *host;		/* NULL = any, else lowercased as given */
	char *pattern;
	void *target;
	unsigned nparams;
	pt_str_t names[ROUTER_MAX_PARAMS];	/* point into pattern or "*" */
};

struct node {
	char *label;		/* static segment; NULL for param/catch-all */
	size_t len;
	struct node **kids;	/* static children, sorted by (len, bytes) */
	unsigned nkids, capkids;
	struct node *param;
	struct node *catchall;
	unsigned methods;	/* union of the slots below */
	const struct route *slot[NMETHODS];
};

struct tree {
	char *host;		/* lowercased; for a wildcard, the ".suffix" */
	size_t hostlen;
	int wildcard;
	struct node *root;
};

struct router {
	struct node *any;	/* host-less routes */
	struct tree *trees;	/* exact hosts first, then wildcards by length */
	unsigned ntrees, captrees;
	struct route **routes;	/* every route, in the order added */
	size_t nroutes, caproutes;
};

/* One parsed pattern segment. */
enum segkind { SEG_STATIC, SEG_PARAM, SEG_CATCHALL };
struct seg {
	enum segkind kind;
	const char *ptr;	/* static bytes or param name, into the pattern */
	size_t len;
};

static const char *const method_names[NMETHODS] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT",
	"TRACE",
};

static const char star_name[] = "*";

/* Writes a formatted sentence to ERR when there is room; returns CODE. */
__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Compares A (any case) with B (already lowercase) over N bytes. */
static int same_host(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != (unsigned char)b[i])
			return 0;
	return 1;
}

static unsigned method_index(unsigned bit)
{
	return (unsigned)__builtin_ctz(bit);
}

/* Frees node N and everything under it (owned). */
static void node_free(struct node *n)
{
	if (!n)
		return;
	for (unsigned i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	node_free(n->param);
	node_free(n->catchall);
	free(n->label);
	free(n);
}

struct router *router_new(void)
{
	return calloc(1, sizeof(struct router));
}

void router_free(struct router *r)
{
	if (!r)
		return;
	node_free(r->any);
	for (unsigned i = 0; i < r->ntrees; i++) {
		node_free(r->trees[i].root);
		free(r->trees[i].host);
	}
	free(r->trees);
	for (size_t i = 0; i < r->nroutes; i++) {
		free(r->routes[i]->host);
		free(r->routes[i]->pattern);
		free(r->routes[i]);
	}
	free(r->routes);
	free(r);
}

/* Orders static labels by length, then bytes; returns <0, 0, >0. */
static int label_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return alen ? memcmp(a, b, alen) : 0;
}

/*
 * Finds the static child of N labelled S (LEN bytes).  Returns it, or NULL
 * with *AT set to where it would be inserted.  The result is borrowed.
 */
static struct node *kid_find(const struct node *n, const char *s, size_t len,
                             unsigned *at)
{
	unsigned lo = 0, hi = n->nkids;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct node *k = n->kids[mid];
		int c = label_cmp(s, len, k->label, k->len);

		if (c == 0)
			return n->kids[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (at)
		*at = lo;
	return NULL;
}

/* Returns the static child of N for S, creating it; NULL when out of memory.
 * The child is owned by N. */
static struct node *kid_get(struct node *n, const char *s, size_t len)
{
	unsigned at;
	struct node *k = kid_find(n, s, len, &at);

	if (k)
		return k;
	if (n->nkids == n->capkids) {
		unsigned cap = n->capkids ? n->capkids * 2 : 4;
		struct node **v = realloc(n->kids, cap * sizeof(*v));

		if (!v)
			return NULL;
		n->kids = v;
		n->capkids = cap;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->label = malloc(len + 1);
	if (!k->label) {
		free(k);
		return NULL;
	}
	memcpy(k->label, s, len);
	k->label[len] = '\0';
	k->len = len;
	memmove(n->kids + at + 1, n->kids + at,
	        (n->nkids - at) * sizeof(*n->kids));
	n->kids[at] = k;
	n->nkids++;
	return k;
}

/*
 * Splits PATTERN into SEGS (at most ROUTER_MAX_SEGMENTS, views into PATTERN)
 * and checks it.  Returns the number of segments or a negative PT_E* with a
 * sentence in ERR.
 */
static int parse_pattern(const char *pattern, struct seg *segs, char *err,
                         size_t errlen)
{
	const char *p;
	int nseg = 0;
	unsigned nparams = 0;

	if (!pattern || pattern[0] != '/')
		return fail(err, errlen, PT_EINVAL,
		            "route pattern \"%s\" must start with '/'",
		            pattern ? pattern : "(null)");
	p = pattern + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		struct seg *s;

		if (nseg == ROUTER_MAX_SEGMENTS)
			return fail(err, errlen, PT_ELIMIT,
			            "route pattern \"%.40s...\" has more than "
			            "%d segments", pattern,
			            ROUTER_MAX_SEGMENTS);
		s = &segs[nseg++];
		if (len && p[0] == ':') {
			s->kind = SEG_PARAM;
			s->ptr = p + 1;
			s->len = len - 1;
			if (!s->len)
				return fail(err, errlen, PT_EINVAL,
				            "route pattern \"%s\" has a parameter "
				            "with an empty name; write ':name'",
				            pattern);
		} else if (len && p[0] == '*') {
			s->kind = SEG_CATCHALL;
			s->ptr = len > 1 ? p + 1 : star_name;
			s->len = len > 1 ? len - 1 : 1;
			if (slash)
				return fail(err, errlen, PT_EINVAL,
				            "route pattern \"%s\" has a catch-all "
				            "'*' before the last segment; it must "
				            "come last", pattern);
		} else {
			s->kind = SEG_STATIC;
			s->ptr = p;
			s->len = len;
		}
		if (s->kind != SEG_STATIC) {
			if (++nparams > ROUTER_MAX_PARAMS)
				return fail(err, errlen, PT_ELIMIT,
				            "route pattern \"%s\" has more than %d "
				            "parameters", pattern,
				            ROUTER_MAX_PARAMS);
			for (int i = 0; i < nseg - 1; i++)
				if (segs[i].kind != SEG_STATIC &&
				    segs[i].len == s->len &&
				    !memcmp(segs[i].ptr, s->ptr, s->len))
					return fail(err, errlen, PT_EINVAL,
					            "route pattern \"%s\" uses the "
					            "parameter name \"%.*s\" twice",
					            pattern, (int)s->len, s->ptr);
		}
		if (!slash)
			return nseg;
		p = slash + 1;
	}
}

/*
 * Checks HOST for router_add and writes its lowercase form (without a
 * trailing '.') to OUT (HOSTMAX bytes).  Returns 0 or PT_EINVAL/PT_ELIMIT.
 */
static int parse_host(const char *host, char *out, size_t hostmax,
                      int *wildcard, char *err, size_t errlen)
{
	size_t n = strlen(host), i, start = 0;
	int bracket = 0;

	if (n >= hostmax)
		return fail(err, errlen, PT_ELIMIT,
		            "route host \"%.64s...\" is longer than %zu bytes",
		            host, hostmax - 1);
	if (n > 1 && host[n - 1] == '.')
		n--;
	*wildcard = 0;
	if (host[0] == '*') {
		if (n < 3 || host[1] != '.')
			return fail(err, errlen, PT_EINVAL,
			            "route host \"%s\" has a '*' that is not a "
			            "leading \"*.\" before a domain", host);
		*wildcard = 1;
		start = 1;	/* keep the '.' so "x.example.com" ends in it */
	}
	for (i = start; i < n; i++) {
		unsigned char c = (unsigned char)host[i];

		if (c == '[' && i == start)
			bracket = 1;
		else if (c == ']')
			bracket = 0;
		else if (c == ':' && !bracket)
			return fail(err, errlen, PT_EINVAL,
			            "route host \"%s\" includes a port; remove "
			            "it (ports are stripped from the request "
			            "host)", host);
		if (c == '*')
			return fail(err, errlen, PT_EINVAL,
			            "route host \"%s\" has a '*' that is not a "
			            "leading \"*.\" before a domain", host);
		if (c <= ' ' || c == '/' || c >= 0x7f)
			return fail(err, errlen, PT_EINVAL,
			            "route host \"%s\" has a character not "
			            "allowed in a host name", host);
		out[i - start] = (char)lower(c);
	}
	out[n - start] = '\0';
	return 0;
}

/* Returns the root slot of the trie for HOST (lowercase, NULL = any),
 * creating the tree when CREATE; NULL when absent or out of memory.
 * Borrowed. */
static struct node **tree_root(struct router *r, const char *host,
                               int wildcard, int create)
{
	struct tree t = { .wildcard = wildcard };
	unsigned at;

	if (!host)
		return &r->any;
	t.hostlen = strlen(host);
	for (unsigned i = 0; i < r->ntrees; i++)
		if (r->trees[i].wildcard == wildcard &&
		    r->trees[i].hostlen == t.hostlen &&
		    !memcmp(r->trees[i].host, host, t.hostlen))
			return &r->trees[i].root;
	if (!create)
		return NULL;
	if (r->ntrees == r->captrees) {
		unsigned cap = r->captrees ? r->captrees * 2 : 4;
		struct tree *v = realloc(r->trees, cap * sizeof(*v));

		if (!v)
			return NULL;
		r->trees = v;
		r->captrees = cap;
	}
	t.host = strdup(host);
	if (!t.host)
		return NULL;
	/* exact hosts first, then wildcards by decreasing suffix length */
	for (at = 0; at < r->ntrees; at++) {
		const struct tree *o = &r->trees[at];

		if (o->wildcard && (!wildcard || o->hostlen < t.hostlen))
			break;
	}
	memmove(r->trees + at + 1, r->trees + at,
	        (r->ntrees - at) * sizeof(*r->trees));
	r->trees[at] = t;
	r->ntrees++;
	return &r->trees[at].root;
}

/*
 * Walks SEGS from ROOT without creating anything; returns the route already
 * holding one of METHODS at that place, or NULL.  Borrowed.
 */
static const struct route *find_existing(const struct node *n,
                                         const struct seg *segs, int nseg,
                                         unsigned methods)
{
	for (int i = 0; n && i < nseg; i++) {
		if (segs[i].kind == SEG_STATIC)
			n = kid_find(n, segs[i].ptr, segs[i].len, NULL);
		else if (segs[i].kind == SEG_PARAM)
			n = n->param;
		else
			n = n->catchall;
	}
	if (!n || !(n->methods & methods))
		return NULL;
	return n->slot[method_index(n->methods & methods)];
}

/* Returns a malloc'd (owned by the route) copy of the normalised HOST for
 * router_foreach, with the '*' put back for a wildcard; NULL on no memory. */
static char *host_copy(const char *host, int wildcard)
{
	size_t len = strlen(host);
	char *s = malloc(len + 2);

	if (!s)
		return NULL;
	s[0] = '*';
	memcpy(s + (wildcard ? 1 : 0), host, len + 1);
	return s;
}

int router_add(struct router *r, unsigned methods, const char *host,
               const char *pattern, void *target, char *err, size_t errlen)
{
	struct seg segs[ROUTER_MAX_SEGMENTS];
	char hostbuf[256];
	const char *h = NULL;
	int wildcard = 0, nseg, rc;
	struct node **rootp, *n;
	const struct route *old;
	struct route *rt;

	if (!r || !target)
		return fail(err, errlen, PT_EINVAL,
		            "router_add needs a router and a non-NULL target");
	if (!methods || (methods & ~(unsigned)PT_METHOD_ANY))
		return fail(err, errlen, PT_EINVAL,
		            "route \"%s\" has an invalid method set 0x%x",
		            pattern ? pattern : "(null)", methods);
	nseg = parse_pattern(pattern, segs, err, errlen);
	if (nseg < 0)
		return nseg;
	if (host && host[0]) {
		rc = parse_host(host, hostbuf, sizeof(hostbuf), &wildcard, err,
		                errlen);
		if (rc)
			return rc;
		h = hostbuf;
	}

	rootp = tree_root(r, h, wildcard, 0);
	if (rootp && (old = find_existing(*rootp, segs, nseg, methods))) {
		unsigned both = old->methods & methods;

		return fail(err, errlen, PT_EEXIST,
		            "route %s %s%s%s conflicts with %s %s added before "
		            "for the same host; each method, host and pattern "
		            "shape may be added once",
		            method_names[method_index(both)], pattern,
		            h ? " for host " : "", h ? host : "",
		            method_names[method_index(both)], old->pattern);
	}

	/* Allocate everything that can fail before changing the trie. */
	if (r->nroutes == r->caproutes) {
		size_t cap = r->caproutes ? r->caproutes * 2 : 16;
		struct route **v = realloc(r->routes, cap * sizeof(*v));

		if (!v)
			goto nomem;
		r->routes = v;
		r->caproutes = cap;
	}
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		goto nomem;
	rt->methods = methods;
	rt->target = target;
	rt->pattern = strdup(pattern);
	rt->host = h ? host_copy(h, wildcard) : NULL;
	if (!rt->pattern || (h && !rt->host)) {
		free(rt->pattern);
		free(rt->host);
		free(rt);
		goto nomem;
	}

	rootp = tree_root(r, h, wildcard, 1);
	if (rootp && !*rootp)
		*rootp = calloc(1, sizeof(**rootp));
	n = rootp ? *rootp : NULL;
	for (int i = 0; n && i < nseg; i++) {
		const struct seg *s = &segs[i];
		struct node **next;

		if (s->kind == SEG_STATIC) {
			n = kid_get(n, s->ptr, s->len);
			continue;
		}
		/* names point into rt->pattern, or to star_name */
		rt->names[rt->nparams].ptr = s->ptr == star_name ? star_name :
		        rt->pattern + (s->ptr - pattern);
		rt->names[rt->nparams].len = s->len;
		rt->nparams++;
		next = s->kind == SEG_PARAM ? &n->param : &n->catchall;
		if (!*next)
			*next = calloc(1, sizeof(**next));
		n = *next;
	}
	if (!n) {
		/* empty nodes left behind are harmless: they hold no route */
		free(rt->pattern);
		free(rt->host);
		free(rt);
		goto nomem;
	}
	for (unsigned m = methods; m; m &= m - 1)
		n->slot[method_index(m)] = rt;
	n->methods |= methods;
	r->routes[r->nroutes++] = rt;
	return 0;
nomem:
	return fail(err, errlen, PT_ENOMEM,
	            "out of memory adding route \"%s\"", pattern);
}

/* Matching state, on the matcher's stack. */
struct mstate {
	const char *path;
	size_t len;
	unsigned method;
	unsigned allowed;	/* union of methods at every place passed */
	unsigned np;		/* parameter values recorded so far */
	const struct node *at;	/* the place of the accepted route */
	struct router_params *params;
};

/* Returns the route at N for the method (HEAD falling back to GET), noting
 * N's methods in ST->allowed.  Borrowed. */
static const struct route *accept(const struct node *n, struct mstate *st)
{
	const struct route *rt = NULL;

	if (!n->methods)
		return NULL;
	st->allowed |= n->methods;
	if (n->methods & st->method)
		rt = n->slot[method_index(st->method)];
	else if (st->method == PT_METHOD_HEAD && (n->methods & PT_METHOD_GET))
		rt = n->slot[method_index(PT_METHOD_GET)];
	if (rt)
		st->at = n;
	return rt;
}

/* Tries the catch-all child of N with VALUE as its rest. */
static const struct route *try_catchall(const struct node *n, pt_str_t value,
                                        struct mstate *st)
{
	const struct route *rt;

	if (!n->catchall)
		return NULL;
	st->params->p[st->np].value = value;
	st->np++;
	rt = accept(n->catchall, st);
	st->np--;
	return rt;
}

/*
 * Matches the path from POS (the start of a segment, or END) against the
 * trie under N in precedence order.  Recursion depth is bounded by the trie
 * depth (ROUTER_MAX_SEGMENTS + 1), not by the path.
 */
static const struct route *walk(const struct node *n, size_t pos,
                                struct mstate *st)
{
	const struct route *rt;
	const struct node *k;
	const char *s, *slash;
	size_t e, next;

	if (pos == END) {
		rt = accept(n, st);
		if (rt)
			return rt;
		return try_catchall(n, (pt_str_t){ st->path + st->len, 0 },
		                    st);
	}
	s = st->path + pos;
	slash = memchr(s, '/', st->len - pos);
	e = slash ? (size_t)(slash - st->path) : st->len;
	next = slash ? e + 1 : END;

	if (n->nkids) {
		k = kid_find(n, s, e - pos, NULL);
		if (k && (rt = walk(k, next, st)))
			return rt;
	}
	if (n->param && e > pos) {
		st->params->p[st->np].value = (pt_str_t){ s, e - pos };
		st->np++;
		rt = walk(n->param, next, st);
		st->np--;
		if (rt)
			return rt;
	}
	return try_catchall(n, (pt_str_t){ s, st->len - pos }, st);
}

/* Strips ":port" and a trailing '.' from a request host. */
static pt_str_t host_strip(pt_str_t h)
{
	size_t n = h.len;
	const char *c;

	if (!h.ptr)
		return (pt_str_t){ "", 0 };
	if (n && h.ptr[0] == '[') {
		c = memchr(h.ptr, ']', n);
		if (c)
			n = (size_t)(c - h.ptr) + 1;
	} else if ((c = memchr(h.ptr, ':', n))) {
		n = (size_t)(c - h.ptr);
	}
	if (n > 1 && h.ptr[n - 1] == '.')
		n--;
	return (pt_str_t){ h.ptr, n };
}

static int tree_wants(const struct tree *t, pt_str_t h)
{
	if (!t->wildcard)
		return h.len == t->hostlen && same_host(h.ptr, t->host, h.len);
	return h.len > t->hostlen &&
	       same_host(h.ptr + h.len - t->hostlen, t->host, t->hostlen);
}

void *router_match(const struct router *r, unsigned method, pt_str_t host,
                   pt_str_t path, struct router_params *params,
                   unsigned *allowed)
{
	struct router_params scratch;
	struct mstate st = { .path = path.ptr, .len = path.len,
	                     .params = params ? params : &scratch };
	const struct route *rt = NULL;
	unsigned bits;

	/* a method that isn't exactly one known bit matches nothing, but
	 * still learns which methods would (for a 405 or 501) */
	st.method = (method & (method - 1)) || (method & ~(unsigned)PT_METHOD_ANY)
	            ? 0 : method;
	st.params->n = 0;
	if (r && path.ptr && path.len && path.ptr[0] == '/') {
		pt_str_t h = host_strip(host);

		for (unsigned i = 0; !rt && h.len && i < r->ntrees; i++)
			if (r->trees[i].root && tree_wants(&r->trees[i], h))
				rt = walk(r->trees[i].root, 1, &st);
		if (!rt && r->any)
			rt = walk(r->any, 1, &st);
	}
	if (rt) {
		st.params->n = rt->nparams;
		for (unsigned i = 0; i < rt->nparams; i++)
			st.params->p[i].name = rt->names[i];
		bits = st.at->methods;
	} else {
		bits = st.allowed;
	}
	if (bits & PT_METHOD_GET)
		bits |= PT_METHOD_HEAD;
	if (allowed)
		*allowed = bits;
	return rt ? rt->target : NULL;
}

const pt_str_t *router_param_get(const struct router_params *p,
                                 const char *name)
{
	size_t len = strlen(name);

	for (unsigned i = 0; i < p->n; i++)
		if (p->p[i].name.len == len &&
		    !memcmp(p->p[i].name.ptr, name, len))
			return &p->p[i].value;
	return NULL;
}

size_t router_allow_header(unsigned allowed, char *buf, size_t buflen)
{
	char tmp[96];	/* all nine names with separators take 60 */
	size_t n = 0;

	allowed |= PT_METHOD_OPTIONS;
	if (allowed & PT_METHOD_GET)
		allowed |= PT_METHOD_HEAD;
	for (unsigned i = 0; i < NMETHODS; i++) {
		size_t len = strlen(method_names[i]);

		if (!(allowed & (1u << i)))
			continue;
		if (n) {
			memcpy(tmp + n, ", ", 2);
			n += 2;
		}
		memcpy(tmp + n, method_names[i], len);
		n += len;
	}
	tmp[n] = '\0';
	if (buflen)
		snprintf(buf, buflen, "%s", tmp);
	return n;
}

void router_foreach(const struct router *r,
                    void (*fn)(void *ud, unsigned methods, const char *host,
                               const char *pattern, void *target),
                    void *ud)
{
	for (size_t i = 0; r && i < r->nroutes; i++) {
		const struct route *rt = r->routes[i];

		fn(ud, rt->methods, rt->host, rt->pattern, rt->target);
	}
}
