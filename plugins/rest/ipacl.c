/*
 * ipacl.c - the "ip" filter: allow and deny lists of addresses and CIDR
 * blocks, IPv4 and IPv6.
 *
 *   use("ip", { deny = { "10.0.0.0/8" } })
 *   route.get("/admin", h, { ip = { allow = { "127.0.0.1", "::1", "192.168.0.0/16" } } })
 *
 * deny is checked first; then, when allow is given, the address must be in
 * it. A refusal is 403. The address is the TCP peer: behind a trusted proxy
 * put the rule on that proxy instead (X-Forwarded-For is the client's to
 * forge).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest.h"

struct cidr {
	unsigned char addr[16];      /* IPv4 as ::ffff:a.b.c.d */
	unsigned bits;               /* prefix length over the 128-bit form */
};

struct ip_state {
	struct cidr *allow, *deny;
	size_t nallow, ndeny;
};

static void ip_release(void *state, void *ud)
{
	struct ip_state *s = state;

	(void)ud;
	if (s) {
		free(s->allow);
		free(s->deny);
		free(s);
	}
}

/* TEXT[0..LEN) as a 128-bit address (IPv4 mapped); 0 or -1. */
static int parse_addr(const char *text, size_t len, unsigned char out[16], int *v4)
{
	char buf[64];

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	*v4 = 0;
	if (inet_pton(AF_INET6, buf, out) == 1)
		return 0;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	*v4 = 1;
	return inet_pton(AF_INET, buf, out + 12) == 1 ? 0 : -1;
}

static int parse_cidr(const char *s, struct cidr *c)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	int v4;
	long bits;
	char *end;

	if (parse_addr(s, alen, c->addr, &v4) != 0)
		return -1;
	c->bits = 128;
	if (slash) {
		bits = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || bits < 0 || bits > (v4 ? 32 : 128))
			return -1;
		c->bits = (unsigned)bits + (v4 ? 96 : 0);
	}
	return 0;
}

static int in_cidr(const struct cidr *c, const unsigned char a[16])
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->addr, a, full) != 0)
		return 0;
	return !rest || ((c->addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0;
}

static int read_list(const pt_conf *o, const char *key, struct cidr **out, size_t *n,
                     char *err, size_t errlen)
{
	const pt_conf *v = rest_api->conf_get(o, key);
	char **l;

	*n = 0;
	if (!v)
		return 0;
	if (!(l = rest_str_list(v, key, n, err, errlen)))
		return -1;
	*out = calloc(*n + 1, sizeof(**out));
	for (size_t i = 0; *out && i < *n; i++) {
		if (parse_cidr(l[i], &(*out)[i]) != 0) {
			snprintf(err, errlen, "%s: '%s' is not an address or CIDR block", key, l[i]);
			rest_str_list_free(l, *n);
			return -1;
		}
	}
	rest_str_list_free(l, *n);
	return *out ? 0 : -1;
}

static int ip_compile(const pt_conf *o, void **state, char *err, size_t errlen, void *ud)
{
	struct ip_state *s = calloc(1, sizeof(*s));
	const pt_conf *v;
	const char *k;

	(void)ud;
	if (!s)
		return PT_ENOMEM;
	for (size_t i = 0; (k = rest_api->conf_key_at(o, i, &v)) != NULL; i++) {
		if (strcmp(k, "allow") && strcmp(k, "deny")) {
			snprintf(err, errlen, "unknown option '%s' (allow, deny)", k);
			goto fail;
		}
	}
	if (read_list(o, "allow", &s->allow, &s->nallow, err, errlen) != 0 ||
	    read_list(o, "deny", &s->deny, &s->ndeny, err, errlen) != 0)
		goto fail;
	if (!s->nallow && !s->ndeny) {
		snprintf(err, errlen, "ip needs allow = { ... } or deny = { ... }");
		goto fail;
	}
	*state = s;
	return 0;
fail:
	ip_release(s, NULL);
	return PT_EINVAL;
}

static int ip_run(pt_exchange *x, void *state, void *ud)
{
	const struct ip_state *s = state;
	pt_str_t ra = rest_api->exchange_remote_addr(x);
	const char *colon = ra.len ? memrchr(ra.ptr, ':', ra.len) : NULL;
	pt_str_t host = { ra.ptr, colon ? (size_t)(colon - ra.ptr) : ra.len };
	unsigned char a[16];
	int v4, ok;

	(void)ud;
	if (host.len >= 2 && host.ptr[0] == '[')   /* "[::1]:port" */
		host = (pt_str_t){ host.ptr + 1, host.len - 2 };
	ok = parse_addr(host.ptr, host.len, a, &v4) == 0;
	for (size_t i = 0; ok && i < s->ndeny; i++)
		if (in_cidr(&s->deny[i], a))
			ok = 0;
	if (ok && s->nallow) {
		ok = 0;
		for (size_t i = 0; i < s->nallow && !ok; i++)
			ok = in_cidr(&s->allow[i], a);
	}
	if (ok)
		return PT_FILTER_NEXT;
	rest_api->log(rest_ctx, PT_LOG_INFO, "ip: %.*s refused", (int)host.len, host.ptr);
	rest_error(x, 403, "forbidden");
	return PT_FILTER_DONE;
}

const struct pt_filter_def rest_ip_filter = {
	sizeof(struct pt_filter_def), "ip", PT_PHASE_ACCESS, 0, ip_compile, ip_release, ip_run,
};
