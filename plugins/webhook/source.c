/*
 * source.c - a webhook source's options, read and checked from the Lua
 * table given to webhook.source(name, opts, fn) (wh.h). Strict: an unknown
 * key, a value of the wrong type or out of range, or an option that has no
 * effect with the chosen scheme is an error naming the key, because a typo
 * in a verification setting must not silently weaken it.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <openssl/crypto.h>

#include "wh.h"

#define MAX_TOLERANCE (7 * 86400)
#define MAX_BODY_LIMIT (64u << 20)
#define MAX_PATH 1024
#define MAX_TEXT 256            /* header names, prefixes, JSON paths */

static const char *const keys[] = {
	"path", "scheme", "secrets", "tolerance", "retry", "header", "algorithm", "encoding",
	"prefix", "timestamp_header", "template", "id_header", "id_path", "type_header",
	"type_path", "ordered", "max_body", "verify", NULL,
};

static const char *const scheme_names[] = {
	[WH_SCHEME_STRIPE] = "stripe", [WH_SCHEME_GITHUB] = "github",
	[WH_SCHEME_SHOPIFY] = "shopify", [WH_SCHEME_STANDARD] = "standard",
	[WH_SCHEME_HMAC] = "hmac", [WH_SCHEME_LUA] = "lua",
};
#define NSCHEMES (sizeof(scheme_names) / sizeof(scheme_names[0]))

struct ctx {
	lua_State *L;
	int idx;                /* the options table, absolute */
	const char *name;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct ctx *c, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "webhook.source \"%s\": %s", c->name, msg);
	return -1;
}

static int is_tchar(unsigned char ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Pushes OPTS[KEY] (raw): its Lua type. [-0, +1, -] */
static int get(struct ctx *c, const char *key)
{
	lua_pushstring(c->L, key);
	return lua_rawget(c->L, c->idx);
}

/*
 * OPTS[KEY] as a string of 1..MAX bytes (0..MAX with EMPTY_OK) into *OUT
 * (owned, NUL-terminated; NULL when absent). HEADER: it must be a header
 * name. 0 or -1.
 */
static int opt_str(struct ctx *c, const char *key, char **out, size_t max, int empty_ok,
                   int header)
{
	size_t n;
	int t = get(c, key);

	*out = NULL;
	if (t == LUA_TNIL) {
		lua_pop(c->L, 1);
		return 0;
	}
	if (t != LUA_TSTRING) {
		lua_pop(c->L, 1);
		return bad(c, "%s must be a string, not a %s", key, lua_typename(c->L, t));
	}
	const char *s = lua_tolstring(c->L, -1, &n);

	if ((n == 0 && !empty_ok) || n > max || strlen(s) != n) {
		lua_pop(c->L, 1);
		return bad(c, "%s must be a string of %s1 to %zu bytes without NUL", key,
		           empty_ok ? "0 or " : "", max);
	}
	for (size_t i = 0; header && i < n; i++)
		if (!is_tchar((unsigned char)s[i])) {
			lua_pop(c->L, 1);
			return bad(c, "%s must be a header name (\"%.64s\" is not)", key, s);
		}
	*out = strdup(s);
	lua_pop(c->L, 1);
	return *out ? 0 : bad(c, "out of memory");
}

/* TBL[KEY] (TBL an absolute index) as a number in [LO, HI], an integer
 * when INTEGER; LABEL names it in errors. Absent: *OUT unchanged. 0 or -1. */
static int opt_num(struct ctx *c, int tbl, const char *key, const char *label, double *out,
                   double lo, double hi, int integer)
{
	lua_pushstring(c->L, key);

	int t = lua_rawget(c->L, tbl);

	if (t == LUA_TNIL) {
		lua_pop(c->L, 1);
		return 0;
	}
	if (t != LUA_TNUMBER) {
		lua_pop(c->L, 1);
		return bad(c, "%s must be a number, not a %s", label, lua_typename(c->L, t));
	}
	double v = lua_tonumber(c->L, -1);

	lua_pop(c->L, 1);
	if (!(v >= lo && v <= hi) || (integer && v != (double)(long long)v))
		return bad(c, "%s must be %s from %g to %g", label, integer ? "an integer" : "a number",
		           lo, hi);
	*out = v;
	return 0;
}

/* The table's keys are all strings from NAMES: else an error naming it. */
static int only_keys(struct ctx *c, int tbl, const char *const *names, const char *what)
{
	lua_State *L = c->L;

	lua_pushnil(L);
	while (lua_next(L, tbl)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			int r = bad(c, "%s%soptions must be name = value (a %s key is there)", what,
			            *what ? " " : "", luaL_typename(L, -2));

			lua_pop(L, 2);
			return r;
		}
		const char *k = lua_tostring(L, -2);
		int known = 0;

		for (unsigned i = 0; names[i]; i++)
			known |= strcmp(k, names[i]) == 0;
		if (!known) {
			char list[320] = "";

			for (unsigned i = 0; names[i]; i++) {
				strncat(list, names[i], sizeof(list) - strlen(list) - 1);
				if (names[i + 1])
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			}
			int r = bad(c, "unknown option %s%s%.64s (%s are known)%s", what,
			            *what ? "." : "", k, list,
			            strcmp(k, "secret") == 0 ? "; did you mean secrets = { ... }?" : "");
			lua_pop(L, 2);
			return r;
		}
		lua_pop(L, 1);
	}
	return 0;
}

static int read_scheme(struct ctx *c, struct wh_source *s)
{
	char *name = NULL;
	int t = get(c, "verify"), has_verify = t != LUA_TNIL;

	lua_pop(c->L, 1);
	if (has_verify && t != LUA_TFUNCTION)
		return bad(c, "verify must be a function, not a %s", lua_typename(c->L, t));
	if (opt_str(c, "scheme", &name, 32, 0, 0))
		return -1;
	if (!name) {
		if (!has_verify)
			return bad(c, "scheme is required (stripe, github, shopify, standard, hmac, "
			           "or lua with a verify function)");
		s->scheme = WH_SCHEME_LUA;
		return 0;
	}
	for (unsigned i = 1; i < NSCHEMES; i++)
		if (strcmp(name, scheme_names[i]) == 0)
			s->scheme = (int)i;
	if (!s->scheme) {
		int r = bad(c, "unknown scheme \"%.32s\" (stripe, github, shopify, standard, hmac, "
		            "lua)", name);

		free(name);
		return r;
	}
	free(name);
	if (s->scheme == WH_SCHEME_LUA && !has_verify)
		return bad(c, "scheme = \"lua\" needs verify = function(req) ... end");
	if (s->scheme != WH_SCHEME_LUA && has_verify)
		return bad(c, "verify is only for scheme = \"lua\" (this source's scheme is %s)",
		           scheme_names[s->scheme]);
	return 0;
}

static int read_secrets(struct ctx *c, struct wh_source *s)
{
	lua_State *L = c->L;
	int t = get(c, "secrets");
	lua_Integer n;

	if (s->scheme == WH_SCHEME_LUA) {
		lua_pop(L, 1);
		/* verify(req) decides: secrets here would be kept and never
		 * used, a check that does not happen (as tolerance) */
		return t == LUA_TNIL ? 0 : bad(c, "secrets are not used with scheme = \"lua\": "
		                               "verify(req) checks the signature (read a secret "
		                               "in it with env() or secret_file())");
	}
	if (t != LUA_TTABLE) {
		lua_pop(L, 1);
		return bad(c, "secrets must be a non-empty list of strings%s",
		           t == LUA_TSTRING ? " (write secrets = { \"...\" })" : "");
	}
	n = (lua_Integer)lua_rawlen(L, -1);
	/* exactly a sequence: no holes hiding a nil secret, no other keys */
	lua_Integer count = 0;

	lua_pushnil(L);
	while (lua_next(L, -2)) {
		count++;
		lua_pop(L, 1);
	}
	if (n == 0 || count != n) {
		lua_pop(L, 1);
		return bad(c, "secrets must be a non-empty list of strings%s",
		           n ? " (is one of them an unset variable? use env(\"NAME\"))" : "");
	}
	if (n > WH_MAX_SECRETS) {
		lua_pop(L, 1);
		return bad(c, "secrets has %lld entries, at most %d", (long long)n, WH_MAX_SECRETS);
	}
	s->secrets = calloc((size_t)n, sizeof(*s->secrets));
	if (!s->secrets) {
		lua_pop(L, 1);
		return bad(c, "out of memory");
	}
	for (lua_Integer i = 1; i <= n; i++) {
		char why[192];
		size_t len;

		if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
			int r = bad(c, "secrets[%lld] must be a string, not a %s", (long long)i,
			            luaL_typename(L, -1));

			lua_pop(L, 2);
			return r;
		}
		const char *txt = lua_tolstring(L, -1, &len);

		if (wh_secret_parse(s->scheme, txt, len, &s->secrets[s->nsecrets], why,
		                    sizeof(why))) {
			lua_pop(L, 2);
			return bad(c, "secrets[%lld]: %s", (long long)i, why);
		}
		s->nsecrets++;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return 0;
}

static int read_retry(struct ctx *c, struct wh_source *s)
{
	static const char *const rkeys[] = { "max", "base", "cap", NULL };
	lua_State *L = c->L;
	double max = 8, base = 2, cap = 3600;
	int t = get(c, "retry");

	s->retry = (struct wh_retry){ 8, 2, 3600 };
	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	if (t != LUA_TTABLE) {
		lua_pop(L, 1);
		return bad(c, "retry must be a table { max = 8, base = 2, cap = 3600 }, not a %s",
		           lua_typename(L, t));
	}
	int tbl = lua_absindex(L, -1);

	if (only_keys(c, tbl, rkeys, "retry") ||
	    opt_num(c, tbl, "max", "retry.max", &max, 1, 100, 1) ||
	    opt_num(c, tbl, "base", "retry.base", &base, 0.001, 86400, 0) ||
	    opt_num(c, tbl, "cap", "retry.cap", &cap, 0.001, 7 * 86400, 0)) {
		lua_pop(L, 1);
		return -1;
	}
	lua_pop(L, 1);
	if (cap < base)
		return bad(c, "retry.cap (%g) must not be below retry.base (%g)", cap, base);
	s->retry = (struct wh_retry){ (int)max, base, cap };
	return 0;
}

static int read_hmac(struct ctx *c, struct wh_source *s)
{
	static const char *const hkeys[] = { "header", "algorithm", "encoding", "prefix",
	                                     "timestamp_header", "template", NULL };
	struct wh_hmac *h = &s->hmac;
	char *alg = NULL, *enc = NULL;
	char why[192];

	if (s->scheme != WH_SCHEME_HMAC) {
		for (unsigned i = 0; hkeys[i]; i++) {
			int t = get(c, hkeys[i]);

			lua_pop(c->L, 1);
			if (t != LUA_TNIL)
				return bad(c, "%s is only for scheme = \"hmac\" (this source's scheme is "
				           "%s)", hkeys[i], scheme_names[s->scheme]);
		}
		return 0;
	}
	if (opt_str(c, "header", &h->header, MAX_TEXT, 0, 1) ||
	    opt_str(c, "algorithm", &alg, 16, 0, 0) || opt_str(c, "encoding", &enc, 16, 0, 0) ||
	    opt_str(c, "prefix", &h->prefix, MAX_TEXT, 1, 0) ||
	    opt_str(c, "timestamp_header", &h->timestamp_header, MAX_TEXT, 0, 1) ||
	    opt_str(c, "template", &h->tmpl, MAX_TEXT, 0, 0))
		goto fail;
	if (!h->header) {
		bad(c, "scheme = \"hmac\" needs header (the one carrying the signature)");
		goto fail;
	}
	h->alg = WH_SHA256;
	if (alg && strcmp(alg, "sha1") == 0)
		h->alg = WH_SHA1;
	else if (alg && strcmp(alg, "sha512") == 0)
		h->alg = WH_SHA512;
	else if (alg && strcmp(alg, "sha256") != 0) {
		bad(c, "algorithm must be \"sha1\", \"sha256\" or \"sha512\", not \"%s\"", alg);
		goto fail;
	}
	h->enc = WH_HEX;
	if (enc && strcmp(enc, "base64") == 0)
		h->enc = WH_BASE64;
	else if (enc && strcmp(enc, "hex") != 0) {
		bad(c, "encoding must be \"hex\" or \"base64\", not \"%s\"", enc);
		goto fail;
	}
	if (!h->prefix && !(h->prefix = strdup(""))) {
		bad(c, "out of memory");
		goto fail;
	}
	if (!h->tmpl && !(h->tmpl = strdup(h->timestamp_header ? "{timestamp}.{body}" : "{body}"))) {
		bad(c, "out of memory");
		goto fail;
	}
	if (wh_hmac_template_check(h->tmpl, h->timestamp_header != NULL, s->id_header != NULL,
	                           why, sizeof(why))) {
		bad(c, "%s", why);
		goto fail;
	}
	free(alg);
	free(enc);
	return 0;
fail:
	free(alg);
	free(enc);
	return -1;
}

static int valid_name(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 64)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && !strchr("_.-", n[i]))
			return 0;
	return 1;
}

static int valid_dot_path(const char *p)
{
	size_t n = strlen(p);

	return n && p[0] != '.' && p[n - 1] != '.' && !strstr(p, "..");
}

static int read_all(struct ctx *c, struct wh_source *s)
{
	double tol = 300, max_body = 1 << 20;
	int t;

	if (only_keys(c, c->idx, keys, "") || read_scheme(c, s))
		return -1;
	if (opt_str(c, "path", &s->path, MAX_PATH, 0, 0))
		return -1;
	if (!s->path)
		return bad(c, "path is required (e.g. path = \"/hooks/%s\")", c->name);
	if (s->path[0] != '/')
		return bad(c, "path must start with /");
	for (const char *p = s->path; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return bad(c, "path has a space or control character");
	if (opt_str(c, "id_header", &s->id_header, MAX_TEXT, 0, 1) ||
	    opt_str(c, "id_path", &s->id_path, MAX_TEXT, 0, 0) ||
	    opt_str(c, "type_header", &s->type_header, MAX_TEXT, 0, 1) ||
	    opt_str(c, "type_path", &s->type_path, MAX_TEXT, 0, 0))
		return -1;
	if (s->id_path && !valid_dot_path(s->id_path))
		return bad(c, "id_path must be a dot path such as \"data.object.id\"");
	if (s->type_path && !valid_dot_path(s->type_path))
		return bad(c, "type_path must be a dot path such as \"data.type\"");
	if (read_secrets(c, s) || read_retry(c, s) || read_hmac(c, s))
		return -1;
	if (opt_num(c, c->idx, "tolerance", "tolerance", &tol, 0, MAX_TOLERANCE, 1) ||
	    opt_num(c, c->idx, "max_body", "max_body", &max_body, 1, MAX_BODY_LIMIT, 1))
		return -1;
	t = get(c, "tolerance");
	lua_pop(c->L, 1);
	if (t != LUA_TNIL && (s->scheme == WH_SCHEME_GITHUB || s->scheme == WH_SCHEME_SHOPIFY ||
	                      s->scheme == WH_SCHEME_LUA ||
	                      (s->scheme == WH_SCHEME_HMAC && !s->hmac.timestamp_header)))
		return bad(c, "tolerance has no effect: scheme %s signs no timestamp%s",
		           scheme_names[s->scheme],
		           s->scheme == WH_SCHEME_HMAC ? " (set timestamp_header)" : "");
	s->tolerance = (int64_t)tol;
	s->max_body = (size_t)max_body;
	t = get(c, "ordered");
	if (t != LUA_TNIL && t != LUA_TBOOLEAN) {
		lua_pop(c->L, 1);
		return bad(c, "ordered must be true or false, not a %s", lua_typename(c->L, t));
	}
	s->ordered = lua_toboolean(c->L, -1);
	lua_pop(c->L, 1);
	return 0;
}

int wh_source_from_lua(lua_State *L, int idx, const char *name, struct wh_source **out,
                       char *err, size_t errlen)
{
	struct ctx c = { L, lua_absindex(L, idx), name, err, errlen };
	struct wh_source *s;
	int top = lua_gettop(L);

	*out = NULL;
	if (!valid_name(name))
		return bad(&c, "the name must be 1 to 64 of A-Z a-z 0-9 _ . -");
	if (lua_type(L, c.idx) != LUA_TTABLE)
		return bad(&c, "options must be a table, not a %s", luaL_typename(L, c.idx));
	s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name))) {
		free(s);
		return bad(&c, "out of memory");
	}
	if (read_all(&c, s)) {
		lua_settop(L, top);
		wh_source_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void wh_source_free(struct wh_source *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nsecrets; i++) {
		OPENSSL_cleanse(s->secrets[i].key, s->secrets[i].len);
		free(s->secrets[i].key);
	}
	free(s->secrets);
	free(s->name);
	free(s->path);
	free(s->hmac.header);
	free(s->hmac.prefix);
	free(s->hmac.timestamp_header);
	free(s->hmac.tmpl);
	free(s->id_header);
	free(s->id_path);
	free(s->type_header);
	free(s->type_path);
	free(s);
}
