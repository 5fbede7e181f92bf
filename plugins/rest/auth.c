/*
 * auth.c - the authentication filters: "key-auth", "jwt", "basic", and
 * "auth", which accepts the first of several methods that succeeds.
 *
 *   route.get("/a", h, { jwt = true })                 -- or { aud = "orders" }
 *   route.get("/b", h, { ["key-auth"] = true })        -- or { header = "x-api-key" }
 *   route.get("/c", h, { basic = { realm = "ops" } })
 *   route.get("/d", h, { auth = { "jwt", "key-auth" } })
 *
 * A success names the consumer (pt_api.exchange_consumer_set); a failure
 * answers 401 with a WWW-Authenticate challenge and a log line saying why.
 * Every comparison of a secret is constant-time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rest.h"
#include "basic.h"
#include "jwt.h"
#include "passwd.h"

enum method { M_KEY = 1, M_JWT = 2, M_BASIC = 3 };

struct auth_state {
	struct rest_conf *rc;        /* a reference */
	enum method order[3];
	unsigned n;
	/* per-use overrides */
	char *key_header, *key_query;
	char *iss;
	char **aud;
	size_t naud;
	char *realm;
};

static const struct {
	const char *name;
	enum method m;
} method_names[] = { { "key-auth", M_KEY }, { "jwt", M_JWT }, { "basic", M_BASIC } };

static void auth_release(void *state, void *ud)
{
	struct auth_state *s = state;

	(void)ud;
	if (!s)
		return;
	rest_conf_unref(s->rc);
	free(s->key_header);
	free(s->key_query);
	free(s->iss);
	rest_str_list_free(s->aud, s->naud);
	free(s->realm);
	free(s);
}

#define REALM_MAX 200

/* A realm goes between quotes in a header: no quote, backslash or control
 * byte, and short enough to be a label, not a payload. */
static int realm_ok(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n > REALM_MAX)
		return 0;
	for (; *r; r++)
		if ((unsigned char)*r < 0x20 || *r == 0x7f || *r == '"' || *r == '\\')
			return 0;
	return 1;
}

/* Options of one method used on its own: `true` or a table of overrides. */
static int read_overrides(struct auth_state *s, const pt_conf *o, char *err, size_t errlen)
{
	const pt_conf *v;
	const char *k;

	if (rest_api->conf_type(o) == PT_CONF_BOOL)
		return 0;
	if (rest_api->conf_type(o) != PT_CONF_TABLE) {
		snprintf(err, errlen, "options are `true` or a table");
		return -1;
	}
	for (size_t i = 0; (k = rest_api->conf_key_at(o, i, &v)) != NULL; i++) {
		if (!strcmp(k, "header") && s->order[0] == M_KEY)
			s->key_header = rest_strdup_conf(v);
		else if (!strcmp(k, "query") && s->order[0] == M_KEY)
			s->key_query = rest_strdup_conf(v);
		else if (!strcmp(k, "iss") && s->order[0] == M_JWT)
			s->iss = rest_strdup_conf(v);
		else if (!strcmp(k, "aud") && s->order[0] == M_JWT) {
			if (!(s->aud = rest_str_list(v, "aud", &s->naud, err, errlen)))
				return -1;
			continue;
		} else if (!strcmp(k, "realm") && s->order[0] == M_BASIC) {
			if (!(s->realm = rest_strdup_conf(v)) || !realm_ok(s->realm)) {
				snprintf(err, errlen, "realm must be a string of 1 to %d printable "
				         "characters without '\"' or '\\' (it is sent quoted in "
				         "WWW-Authenticate)", REALM_MAX);
				return -1;
			}
		} else {
			snprintf(err, errlen, "unknown option '%s'", k);
			return -1;
		}
	}
	return 0;
}

static int check_configured(const struct auth_state *s, char *err, size_t errlen)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (s->order[i] == M_JWT && !s->rc->keys) {
			snprintf(err, errlen, "jwt needs keys: set plugin \"rest\" { jwt = { secret | "
			         "jwks | pem } }");
			return -1;
		}
		if ((s->order[i] == M_KEY || s->order[i] == M_BASIC) && !s->rc->nconsumers) {
			snprintf(err, errlen, "%s needs consumers: set plugin \"rest\" { consumers = "
			         "{ ... } }", s->order[i] == M_KEY ? "key-auth" : "basic");
			return -1;
		}
	}
	return 0;
}

static struct auth_state *state_new(char *err, size_t errlen)
{
	struct auth_state *s = calloc(1, sizeof(*s));

	if (!s || !(s->rc = rest_conf_get())) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return s;
}

static int compile_one(enum method m, const pt_conf *opts, void **state, char *err,
                       size_t errlen)
{
	struct auth_state *s = state_new(err, errlen);

	if (!s)
		return PT_ENOMEM;
	s->order[s->n++] = m;
	if (read_overrides(s, opts, err, errlen) != 0 || check_configured(s, err, errlen) != 0) {
		auth_release(s, NULL);
		return PT_EINVAL;
	}
	*state = s;
	return 0;
}

static int compile_key(const pt_conf *o, void **st, char *err, size_t n, void *ud)
{
	(void)ud;
	return compile_one(M_KEY, o, st, err, n);
}

static int compile_jwt(const pt_conf *o, void **st, char *err, size_t n, void *ud)
{
	(void)ud;
	return compile_one(M_JWT, o, st, err, n);
}

static int compile_basic(const pt_conf *o, void **st, char *err, size_t n, void *ud)
{
	(void)ud;
	return compile_one(M_BASIC, o, st, err, n);
}

/* auth = "jwt" or auth = { "jwt", "key-auth" }: any one of them. */
static int compile_auth(const pt_conf *o, void **state, char *err, size_t errlen, void *ud)
{
	struct auth_state *s = state_new(err, errlen);
	size_t n = 0;
	char **names;

	(void)ud;
	if (!s)
		return PT_ENOMEM;
	names = rest_str_list(o, "auth", &n, err, errlen);
	if (!names || n == 0 || n > 3) {
		if (names)
			snprintf(err, errlen, "auth lists one to three of key-auth, jwt, basic");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		while (j < 3 && strcmp(method_names[j].name, names[i]))
			j++;
		if (j == 3) {
			snprintf(err, errlen, "auth: unknown method '%s' (key-auth, jwt or basic; "
			         "custom checks are Lua filters)", names[i]);
			goto fail;
		}
		s->order[s->n++] = method_names[j].m;
	}
	rest_str_list_free(names, n);
	if (check_configured(s, err, errlen) != 0) {
		auth_release(s, NULL);
		return PT_EINVAL;
	}
	*state = s;
	return 0;
fail:
	rest_str_list_free(names, n);
	auth_release(s, NULL);
	return PT_EINVAL;
}

/* ---- the methods --------------------------------------------------------- */

/* Each returns 1 (authenticated), 0 (no credentials of its kind) or -1
 * (credentials present but wrong) with *WHY set. */

static int try_key(pt_exchange *x, const struct auth_state *s, const char **why)
{
	const char *hname = s->key_header ? s->key_header : s->rc->key_header;
	const char *qname = s->key_query ? s->key_query : s->rc->key_query;
	const struct consumer *found = NULL;
	pt_str_t key;

	if (rest_api->exchange_header(x, (pt_str_t){ hname, strlen(hname) }, 0, &key) != 0 &&
	    (!qname || rest_api->exchange_query_arg(x, (pt_str_t){ qname, strlen(qname) }, 0,
	                                            &key) != 0))
		return 0;
	/* every key is compared, whatever matched, so timing says nothing */
	for (size_t i = 0; i < s->rc->nconsumers; i++) {
		const struct consumer *c = &s->rc->consumers[i];

		for (size_t j = 0; j < c->nkeys; j++)
			if (ct_equal(key.ptr, key.len, c->keys[j], strlen(c->keys[j])) && !found)
				found = c;
	}
	if (!found) {
		*why = "unknown API key";
		return -1;
	}
	rest_api->exchange_consumer_set(x, (pt_str_t){ found->name, strlen(found->name) });
	return 1;
}

static int try_jwt(pt_exchange *x, const struct auth_state *s, const char **why)
{
	const struct rest_conf *rc = s->rc;
	struct jwt_rules r = {
		.algs = (const char *const *)rc->algs, .nalgs = rc->nalgs,
		.iss = s->iss ? s->iss : rc->iss,
		.aud = (const char *const *)(s->aud ? s->aud : rc->aud),
		.naud = s->aud ? s->naud : rc->naud,
		.leeway = rc->leeway, .require_exp = 1,
	};
	json_t *claims = NULL, *who;
	pt_str_t h;
	int rv;

	if (rest_api->exchange_header(x, PT_STR("authorization"), 0, &h) == 0 && h.len >= 7 &&
	    strncasecmp(h.ptr, "Bearer ", 7) == 0) {
		h.ptr += 7;
		h.len -= 7;
	} else if (!rc->jwt_query || rest_api->exchange_query_arg(x, (pt_str_t){
	           rc->jwt_query, strlen(rc->jwt_query) }, 0, &h) != 0 || !h.len) {
		return 0;
	}
	rv = jwt_verify(rc->keys, h.ptr, h.len, &r, &claims, why);
	if (rv != 0)
		return -1;
	who = json_object_get(claims, rc->consumer_claim);
	if (json_is_string(who))
		rest_api->exchange_consumer_set(x, (pt_str_t){ json_string_value(who),
		                                               json_string_length(who) });
	json_decref(claims);
	return 1;
}

/* ---- basic (the checks are in basic.c) ------------------------------------ */

static struct bcache *bcache_of(pt_exchange *x)
{
	pt_worker *w = rest_api->exchange_worker(x);
	struct bcache *b = rest_api->worker_get_data(rest_ctx, w);

	if (!b && (b = basic_cache_new()))
		rest_api->worker_set_data(rest_ctx, w, b);
	return b;
}

void rest_auth_worker_stop(pt_worker *w)
{
	free(rest_api->worker_get_data(rest_ctx, w));
	rest_api->worker_set_data(rest_ctx, w, NULL);
}

static int try_basic(pt_exchange *x, const struct auth_state *s, const char **why)
{
	unsigned char dec[768];
	const struct consumer *c;
	size_t dlen;
	pt_str_t h;

	if (rest_api->exchange_header(x, PT_STR("authorization"), 0, &h) != 0 || h.len < 6 ||
	    strncasecmp(h.ptr, "Basic ", 6) != 0)
		return 0;
	*why = "malformed basic credentials";
	if (basic_decode(h.ptr + 6, h.len - 6, dec, &dlen) != 0 || !memchr(dec, ':', dlen))
		return -1;
	*why = "wrong user or password";
	c = basic_check(s->rc->consumers, s->rc->nconsumers, s->rc->basic_dummy,
	                (const char *)dec, dlen, bcache_of(x), time(NULL));
	if (!c)
		return -1;
	rest_api->exchange_consumer_set(x, (pt_str_t){ c->name, strlen(c->name) });
	return 1;
}

/* ---- the filter ------------------------------------------------------------ */

/*
 * Adds one WWW-Authenticate value. snprintf returns the length the value
 * WOULD have: a longer one is formatted again into exchange memory, never
 * sent from past the end of the stack buffer.
 */
static void add_challenge(pt_exchange *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_challenge(pt_exchange *x, const char *fmt, ...)
{
	char stack[256], *hdr = stack;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(stack, sizeof(stack), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(stack)) {
		if (!(hdr = rest_api->exchange_alloc(x, (size_t)n + 1)))
			return;
		va_start(ap, fmt);
		n = vsnprintf(hdr, (size_t)n + 1, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
	}
	rest_api->exchange_header_add(x, PT_STR("www-authenticate"), (pt_str_t){ hdr, (size_t)n });
}

static int challenge(pt_exchange *x, const struct auth_state *s, enum method failed,
                     const char *why)
{
	pt_str_t m = rest_api->exchange_method_name(x), p = rest_api->exchange_path(x),
	         ra = rest_api->exchange_remote_addr(x);

	for (unsigned i = 0; i < s->n; i++) {
		switch (s->order[i]) {
		case M_JWT:
			if (failed == M_JWT)
				add_challenge(x, "Bearer realm=\"portico\", error=\"invalid_token\""
				              ", error_description=\"%s\"", why);
			else
				add_challenge(x, "Bearer realm=\"portico\"");
			break;
		case M_BASIC:
			add_challenge(x, "Basic realm=\"%s\", charset=\"UTF-8\"",
			              s->realm ? s->realm : "portico");
			break;
		default:
			add_challenge(x, "ApiKey header=\"%s\"",
			              s->key_header ? s->key_header : s->rc->key_header);
			break;
		}
	}
	rest_api->log(rest_ctx, PT_LOG_INFO, "401 %.*s %.*s from %.*s: %s", (int)m.len, m.ptr,
	              (int)p.len, p.ptr, (int)ra.len, ra.ptr, why);
	rest_error(x, 401, why);
	return PT_FILTER_DONE;
}

static int auth_run(pt_exchange *x, void *state, void *ud)
{
	const struct auth_state *s = state;
	const char *why = "credentials required";
	enum method failed = 0;

	(void)ud;
	for (unsigned i = 0; i < s->n; i++) {
		const char *w = NULL;
		int rv = s->order[i] == M_KEY ? try_key(x, s, &w) :
		         s->order[i] == M_JWT ? try_jwt(x, s, &w) : try_basic(x, s, &w);

		if (rv > 0)
			return PT_FILTER_NEXT;
		if (rv < 0 && !failed) {
			failed = s->order[i];
			why = w;
		}
	}
	return challenge(x, s, failed, why);
}

const struct pt_filter_def rest_auth_filters[] = {
	{ sizeof(struct pt_filter_def), "key-auth", PT_PHASE_ACCESS, 0, compile_key, auth_release,
	  auth_run },
	{ sizeof(struct pt_filter_def), "jwt", PT_PHASE_ACCESS, 0, compile_jwt, auth_release,
	  auth_run },
	{ sizeof(struct pt_filter_def), "basic", PT_PHASE_ACCESS, 0, compile_basic, auth_release,
	  auth_run },
	{ sizeof(struct pt_filter_def), "auth", PT_PHASE_ACCESS, 0, compile_auth, auth_release,
	  auth_run },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
