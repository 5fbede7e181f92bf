/*
 * send.c - webhook.send(target, event, opts) in Lua: checks its arguments,
 * stores the delivery as a WH_OUTBOUND job and waits until the store has
 * committed it. The deliveries themselves run from the queue (send_run.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "send.h"
#include "whg.h"

#if WHG_ABI18   /* as the glue: the plugin builds and loads on cores before 1.8 */

#define SEND_ID_MAX 255

/* What one webhook.send call waits for; freed when it is woken. */
struct send_wait {
	pt_wait *wait;
	int rc;                 /* WH_STORED, WH_DUPLICATE, or < 0 */
	char err[256];
	char id[SEND_ID_MAX + 1];
};

/* Everything the arguments say, borrowed from the Lua stack: its strings
 * stay there (or in the scratch table at 4) until the call returns. Nothing
 * here is owned, so a raise while checking leaks nothing. */
struct send_args {
	const char *target;
	int is_url;
	const char *body;
	size_t body_len;
	const char *type;
	char id[SEND_ID_MAX + 1];
	const char *secret;
	size_t secret_len;
	const char *scheme;
	double timeout;
	const char *path;
	const char *content_type;
	struct {
		char name[129];     /* lower-case */
		const char *value;
	} hdr[WH_SEND_MAX_HEADERS];
	int nhdr;
	struct wh_retry retry;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A random "msg_" id: 26 base32 characters carry 130 random bits. */
static int random_id(char *out)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char r[26];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	memcpy(out, "msg_", 4);
	for (size_t i = 0; i < sizeof(r); i++)
		out[4 + i] = b32[r[i] & 31];
	out[30] = '\0';
	return 0;
}

/* The bytes of a header name (RFC 9110 tchar). */
static int is_token(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
			return 0;
	}
	return 1;
}

/* 1 when S has a control byte (HTAB allowed only with ALLOW_SPACE, as a space). */
static int has_ctl(const char *s, size_t n, int allow_space)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f || (!allow_space && (c == ' ' || c == '\t')))
			return 1;
	}
	return 0;
}

/*
 * Why the outbound client would refuse the authority at HOST (a URL's part
 * after the scheme) at every attempt, or NULL: it takes a host name or an
 * [IPv6] literal, an optional port 1 to 65535, and no user:password@.
 * Said at webhook.send, not as "invalid argument" on each attempt.
 */
static const char *bad_authority(const char *host)
{
	const char *p = host, *end = host + strcspn(host, "/?#");
	unsigned long port = 0;

	if (memchr(host, '@', (size_t)(end - host)))
		return "has user:password@ in it, which is not sent (give an authorization "
		       "header in opts.headers)";
	if (p < end && *p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb || rb == p + 1)
			return "has a malformed [IPv6] host";
		while (++p < rb)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return "has a malformed [IPv6] host";
		p = rb + 1;
	} else {
		for (; p < end && *p != ':'; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
				return "has a host with a character no host name has";
		if (p == host)
			return "has no host";
	}
	if (p == end)
		return NULL;
	if (*p != ':' || end - p < 2 || end - p > 6)
		return "has a bad port (1 to 65535)";
	while (++p < end) {
		if (!isdigit((unsigned char)*p))
			return "has a bad port (1 to 65535)";
		port = port * 10 + (unsigned long)(*p - '0');
	}
	return port >= 1 && port <= 65535 ? NULL : "has a bad port (1 to 65535)";
}

/* The target (argument 1): a URL with a host, or an upstream's name. */
static void check_target(lua_State *L, struct send_args *a)
{
	size_t n;
	const char *s, *host, *why;

	if (lua_type(L, 1) != LUA_TSTRING)
		luaL_error(L, "webhook.send: the target (argument 1) must be a URL or an upstream "
		           "name, not %s", luaL_typename(L, 1));
	s = lua_tolstring(L, 1, &n);
	a->target = s;
	a->is_url = wh_send_is_url(s, n);
	if (a->is_url) {
		host = s + (s[4] == ':' ? 7 : 8);
		if (n > WH_SEND_MAX_URL || has_ctl(s, n, 0) || strlen(s) != n)
			luaL_error(L, "webhook.send: the target (argument 1) is not a usable URL (at "
			           "most %d bytes, no spaces or control characters)", WH_SEND_MAX_URL);
		if ((why = bad_authority(host)))
			luaL_error(L, "webhook.send: the target (argument 1) \"%s\" %s", s, why);
		return;
	}
	if (n == 0 || n > 64)
		luaL_error(L, "webhook.send: the target (argument 1) must be an http:// or https:// "
		           "URL or an upstream name (1 to 64 characters)");
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
		            s[i]) || !s[i])
			luaL_error(L, "webhook.send: the target (argument 1) \"%s\" is neither an http:// "
			           "or https:// URL nor an upstream name ([A-Za-z0-9_.-])", s);
}

/* The event (argument 2): a table, encoded as json.encode does, or the
 * string sent as it is. Pushes the body; its "type" field, a string, is
 * kept in the scratch table at 4. [-0, +1, e] */
static void check_event(lua_State *L, struct send_args *a)
{
	int t = lua_type(L, 2);

	if (t == LUA_TSTRING) {
		lua_pushvalue(L, 2);
	} else if (t == LUA_TTABLE) {
		lua_getglobal(L, "json");
		if (lua_type(L, -1) != LUA_TTABLE ||
		    lua_getfield(L, -1, "encode") != LUA_TFUNCTION)
			luaL_error(L, "webhook.send: the json module is not available");
		lua_remove(L, -2);
		lua_pushvalue(L, 2);
		if (lua_pcall(L, 1, 1, 0) != LUA_OK)
			luaL_error(L, "webhook.send: the event (argument 2) cannot be sent as JSON: %s",
			           lua_tostring(L, -1));
		lua_pushliteral(L, "type");
		if (lua_rawget(L, 2) == LUA_TSTRING && lua_rawlen(L, -1) <= 255 &&
		    !has_ctl(lua_tostring(L, -1), lua_rawlen(L, -1), 1)) {
			a->type = lua_tostring(L, -1);
			lua_rawseti(L, 4, (lua_Integer)lua_rawlen(L, 4) + 1);
		} else {
			lua_pop(L, 1);
		}
	} else {
		luaL_error(L, "webhook.send: the event (argument 2) must be a table (sent as JSON) "
		           "or a string (sent as it is), not %s", luaL_typename(L, 2));
	}
	a->body = lua_tolstring(L, -1, &a->body_len);
	if (a->body_len > WH_SEND_MAX_BODY)
		luaL_error(L, "webhook.send: the event (argument 2) is %d bytes as JSON: at most %d",
		           (int)a->body_len, (int)WH_SEND_MAX_BODY);
}

/* A number option at the top of the stack within [LO, HI]. */
static double opt_num(lua_State *L, const char *name, double lo, double hi)
{
	double v;

	if (lua_type(L, -1) != LUA_TNUMBER)
		luaL_error(L, "webhook.send: opts.%s must be a number, not %s", name,
		           luaL_typename(L, -1));
	v = lua_tonumber(L, -1);
	if (!(v >= lo && v <= hi)) {
		char msg[160];   /* lua_pushfstring has no %g */

		snprintf(msg, sizeof(msg), "must be between %g and %g, not %g", lo, hi, v);
		luaL_error(L, "webhook.send: opts.%s %s", name, msg);
	}
	return v;
}

static const char *opt_str(lua_State *L, const char *name, size_t *n)
{
	if (lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "webhook.send: opts.%s must be a string, not %s", name,
		           luaL_typename(L, -1));
	return lua_tolstring(L, -1, n);
}

/* opts.retry = { max, base, cap } at the top of the stack. */
static void check_retry(lua_State *L, struct wh_retry *r)
{
	if (lua_type(L, -1) != LUA_TTABLE)
		luaL_error(L, "webhook.send: opts.retry must be a table { max, base, cap }");
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";

		if (!strcmp(k, "max"))
			r->max = (int)opt_num(L, "retry.max", 1, 100);
		else if (!strcmp(k, "base"))
			r->base = opt_num(L, "retry.base", 0.001, 86400);
		else if (!strcmp(k, "cap"))
			r->cap = opt_num(L, "retry.cap", 0.001, 7 * 86400);
		else
			luaL_error(L, "webhook.send: opts.retry has an unknown key \"%s\" (max, base, "
			           "cap)", k);
		lua_pop(L, 1);
	}
	if (r->cap < r->base) {
		char msg[160];

		snprintf(msg, sizeof(msg), "opts.retry.cap (%g) is smaller than retry.base (%g)",
		         r->cap, r->base);
		luaL_error(L, "webhook.send: %s", msg);
	}
}

/* Header names webhook.send sets itself or the client must own. */
static int reserved_header(const char *name)
{
	static const char *const names[] = {
		"content-length", "transfer-encoding", "host", "connection", "keep-alive", "te",
		"upgrade", "trailer", "expect", "proxy-connection", "webhook-id", "webhook-timestamp",
		"webhook-signature", NULL,
	};

	for (int i = 0; names[i]; i++)
		if (!strcmp(name, names[i]))
			return 1;
	return 0;
}

/* opts.headers = { name = value } at the top of the stack, into A (names
 * lower-case). A number value is converted on a copy kept in the scratch
 * table at 4; content-type is kept apart (the meta holds it). */
static void check_headers(lua_State *L, struct send_args *a)
{
	if (lua_type(L, -1) != LUA_TTABLE)
		luaL_error(L, "webhook.send: opts.headers must be a table of name = value strings");
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		char name[129];
		const char *k, *v;
		size_t kn, vn;

		if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
			luaL_error(L, "webhook.send: opts.headers must be a table of name = value strings");
		k = lua_tolstring(L, -2, &kn);
		if (!is_token(k, kn) || kn >= sizeof(name))
			luaL_error(L, "webhook.send: opts.headers: \"%s\" is not a header name", k);
		for (size_t i = 0; i <= kn; i++)
			name[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 : k[i]);
		if (reserved_header(name))
			luaL_error(L, "webhook.send: opts.headers may not set %s", name);
		if (lua_type(L, -1) != LUA_TSTRING) {
			lua_pushvalue(L, -1);
			lua_tolstring(L, -1, NULL);
			lua_rawseti(L, 4, (lua_Integer)lua_rawlen(L, 4) + 1);
			lua_rawgeti(L, 4, (lua_Integer)lua_rawlen(L, 4));
			lua_replace(L, -2);
		}
		v = lua_tolstring(L, -1, &vn);
		if (vn > WH_SEND_MAX_HEADER_VALUE || has_ctl(v, vn, 1) || strlen(v) != vn)
			luaL_error(L, "webhook.send: opts.headers[\"%s\"]: a value is at most %d bytes "
			           "without control characters", name, WH_SEND_MAX_HEADER_VALUE);
		if (!strcmp(name, "content-type")) {
			a->content_type = v;
		} else {
			if (a->nhdr == WH_SEND_MAX_HEADERS)
				luaL_error(L, "webhook.send: opts.headers has more than %d headers",
				           WH_SEND_MAX_HEADERS);
			memcpy(a->hdr[a->nhdr].name, name, kn + 1);
			a->hdr[a->nhdr++].value = v;
		}
		lua_pop(L, 1);
	}
}

/* The options (argument 3, may be nil) into A. */
static void check_opts(lua_State *L, struct send_args *a)
{
	const char *s;
	size_t n;
	int t = lua_type(L, 3);

	if (t != LUA_TNIL && t != LUA_TTABLE)
		luaL_error(L, "webhook.send: opts (argument 3) must be a table, not %s",
		           luaL_typename(L, 3));
	a->retry = (struct wh_retry){ 8, 2, 3600 };
	a->scheme = "standard";
	a->timeout = WH_SEND_TIMEOUT_DEFAULT;
	a->content_type = "application/json";
	if (t == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, 3)) {
			const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";

			if (!strcmp(k, "secret")) {
				a->secret = opt_str(L, "secret", &a->secret_len);
			} else if (!strcmp(k, "scheme")) {
				a->scheme = opt_str(L, "scheme", &n);
				if (strcmp(a->scheme, "standard") && strcmp(a->scheme, "none"))
					luaL_error(L, "webhook.send: opts.scheme must be \"standard\" or "
					           "\"none\", not \"%s\"", a->scheme);
			} else if (!strcmp(k, "id")) {
				s = opt_str(L, "id", &n);
				if (n == 0 || n > SEND_ID_MAX || has_ctl(s, n, 0) || strlen(s) != n)
					luaL_error(L, "webhook.send: opts.id must be 1 to %d printable "
					           "characters without spaces", SEND_ID_MAX);
				memcpy(a->id, s, n + 1);
			} else if (!strcmp(k, "timeout")) {
				a->timeout = opt_num(L, "timeout", 0.001, WH_SEND_TIMEOUT_MAX);
			} else if (!strcmp(k, "path")) {
				s = opt_str(L, "path", &n);
				if (s[0] != '/' || n > WH_SEND_MAX_URL || has_ctl(s, n, 0) || strlen(s) != n)
					luaL_error(L, "webhook.send: opts.path must start with / and have no "
					           "spaces or control characters");
				a->path = s;
			} else if (!strcmp(k, "headers")) {
				check_headers(L, a);
			} else if (!strcmp(k, "retry")) {
				check_retry(L, &a->retry);
			} else {
				luaL_error(L, "webhook.send: opts has an unknown key \"%s\" (secret, scheme, "
				           "id, headers, timeout, path, retry)", k);
			}
			lua_pop(L, 1);
		}
	}
	if (a->is_url && a->path)
		luaL_error(L, "webhook.send: opts.path is for an upstream target; a URL carries "
		           "its own path");
	if (!strcmp(a->scheme, "none") && a->secret)
		luaL_error(L, "webhook.send: opts.secret is given but opts.scheme is \"none\"");
	if (!strcmp(a->scheme, "standard")) {
		struct wh_secret key = { 0 };
		char err[200] = "";

		if (!a->secret)
			luaL_error(L, "webhook.send: opts.secret is required (a \"whsec_...\" string) "
			           "for the standard scheme; scheme = \"none\" sends unsigned");
		if (wh_secret_parse(WH_SCHEME_STANDARD, a->secret, a->secret_len, &key, err,
		                    sizeof(err)) != 0)
			luaL_error(L, "webhook.send: opts.secret: %s", err);
		OPENSSL_cleanse(key.key, key.len);
		free(key.key);
		if (!key.len)
			luaL_error(L, "webhook.send: opts.secret: the key is empty");
	}
}

/* The job's meta and extra headers as JSON text (malloc'd), or -1. */
static int build_json(const struct send_args *a, char **meta, char **headers)
{
	json_t *m = json_object(), *h = json_object();
	int bad = !m || !h;

	if (!bad) {
		if (a->secret)
			bad |= json_object_set_new(m, "secret", json_stringn(a->secret, a->secret_len));
		bad |= json_object_set_new(m, "scheme", json_string(a->scheme));
		bad |= json_object_set_new(m, "timeout", json_real(a->timeout));
		bad |= json_object_set_new(m, "content_type", json_string(a->content_type));
		if (a->path)
			bad |= json_object_set_new(m, "path", json_string(a->path));
		for (int i = 0; i < a->nhdr; i++)
			bad |= json_object_set_new(h, a->hdr[i].name, json_string(a->hdr[i].value));
	}
	*meta = bad ? NULL : json_dumps(m, JSON_COMPACT);
	*headers = bad ? NULL : json_dumps(h, JSON_COMPACT);
	json_decref(m);
	json_decref(h);
	if (*meta && *headers)
		return 0;
	free(*meta);
	free(*headers);
	return -1;
}

/* Pushes what webhook.send returns. [-0, +1|2, m] */
static int push_result(lua_State *L, void *ud)
{
	struct send_wait *sw = ud;

	if (sw->rc == WH_STORED) {
		lua_pushstring(L, sw->id);
		return 1;
	}
	if (sw->rc == WH_DUPLICATE) {
		lua_pushstring(L, sw->id);
		lua_pushliteral(L, "duplicate");
		return 2;
	}
	lua_pushnil(L);
	lua_pushfstring(L, "webhook store unavailable: %s", sw->err);
	return 2;
}

static void wake(struct send_wait *sw)
{
	wh_api->lua_wait_wake(sw->wait, push_result, sw);
	free(sw);
}

static void stored(int rc, const char *err, void *ud)
{
	struct send_wait *sw = ud;

	sw->rc = rc;
	if (rc < 0)
		snprintf(sw->err, sizeof(sw->err), "%s", err && *err ? err : "the write failed");
	wake(sw);
}

static void wake_task(void *ud)
{
	wake(ud);
}

/* __gc of the box that owns a send_wait until the wait has begun. */
static int box_gc(lua_State *L)
{
	struct send_wait **box = lua_touserdata(L, 1);

	free(*box);
	*box = NULL;
	return 0;
}

/* The wait is armed: the store's callback or the loop must wake it. */
static void wake_later(pt_worker *w, struct send_wait *sw, int rc, const char *err)
{
	sw->rc = rc;
	snprintf(sw->err, sizeof(sw->err), "%s", err);
	if (wh_api->post(w, wake_task, sw) != 0)
		wh_api->log(NULL, PT_LOG_ERROR, "webhook.send: cannot wake a waiting handler (out of "
		            "memory): it stays suspended until its request ends");
}

/*
 * webhook.send(target, event, opts) -> id | id, "duplicate" | nil, err.
 * Bad arguments raise; a store that cannot take the delivery is nil, err.
 * Waits while the store commits the delivery. [-3, +1|2, e]
 */
int wh_send_lua(lua_State *L)
{
	struct send_args a;
	struct wh_event_in ev = { .kind = WH_OUTBOUND };
	struct send_wait *sw, **box;
	struct wh_store *store;
	pt_worker *w = wh_api->lua_worker(L);
	char *meta, *headers;
	int rc;

	memset(&a, 0, sizeof(a));
	lua_settop(L, 3);
	check_target(L, &a);
	lua_newtable(L);               /* 4: scratch */
	check_event(L, &a);            /* the body at 5 */
	check_opts(L, &a);
	if (!w)
		return luaL_error(L, "webhook.send: can only run while serving (in a handler), not "
		                  "while the scripts load");
	if (!(store = whg_store_ensure())) {   /* opened on first use */
		lua_pushnil(L);
		lua_pushfstring(L, "webhook store unavailable: %s",
		                *wh_store_error ? wh_store_error : "not open");
		return 2;
	}
	if (!a.id[0] && random_id(a.id) != 0)
		return luaL_error(L, "webhook.send: no random bytes for an id");
	box = lua_newuserdatauv(L, sizeof(*box), 0);
	*box = NULL;
	if (luaL_newmetatable(L, "portico.webhook.send")) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	if (!(sw = *box = calloc(1, sizeof(*sw))))
		return luaL_error(L, "webhook.send: out of memory");
	memcpy(sw->id, a.id, sizeof(sw->id));
	sw->wait = wh_api->lua_wait_begin(L);   /* raises when L cannot wait: the box frees SW */
	*box = NULL;
	if (build_json(&a, &meta, &headers) != 0) {
		wake_later(w, sw, WH_EIO, "out of memory");
		return wh_api->lua_wait_yield(L);
	}
	ev.source = a.target;
	ev.event_id = a.id;
	ev.type = a.type ? a.type : "";
	ev.body = a.body;
	ev.body_len = a.body_len;
	ev.headers_json = headers;
	ev.meta_json = meta;
	ev.received_at_ms = now_ms();
	ev.max_attempts = a.retry.max;
	ev.base = a.retry.base;
	ev.cap = a.retry.cap;
	rc = store->ops->put(store, w, &ev, stored, sw);
	free(meta);
	free(headers);
	if (rc != 0) {
		/* the store took nothing and will not call back */
		wake_later(w, sw, rc < 0 ? rc : WH_EIO,
		           rc == WH_EBUSY ? "too many writes waiting to be stored (max_pending)" :
		           rc == WH_EFULL ? "storage full" : "the store refused the write");
	}
	return wh_api->lua_wait_yield(L);
}

#endif
