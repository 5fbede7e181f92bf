/*
 * weak.c - stand-ins for the parts of wh.h that land on their own
 * branches (schemes, Redis store), so the plugin always links and loads
 * while they are missing: each one refuses with a sentence. A part's own
 * (strong) definition replaces its stand-in at link time.
 */
#include <stdio.h>

#include "wh.h"

#define WEAK __attribute__((weak))

WEAK int wh_source_from_lua(lua_State *L, int idx, const char *name, struct wh_source **out,
                            char *err, size_t errlen)
{
	(void)L;
	(void)idx;
	*out = NULL;
	snprintf(err, errlen, "webhook.source \"%s\": the signature schemes are not built in", name);
	return -1;
}

WEAK void wh_source_free(struct wh_source *s)
{
	(void)s;
}

WEAK int wh_verify(const struct wh_source *s, const struct wh_req *r, char *why, size_t whylen)
{
	(void)s;
	(void)r;
	snprintf(why, whylen, "no signature schemes in this build");
	return -1;
}

WEAK int wh_event_id(const struct wh_source *s, const struct wh_req *r, char *id, size_t idlen,
                     char *why, size_t whylen)
{
	(void)s;
	(void)r;
	(void)id;
	(void)idlen;
	snprintf(why, whylen, "no event ids in this build");
	return -1;
}

WEAK void wh_event_type(const struct wh_source *s, const struct wh_req *r, char *type, size_t len)
{
	(void)s;
	(void)r;
	if (len)
		type[0] = '\0';
}

WEAK int wh_sign_standard(const unsigned char *key, size_t keylen, const char *id, int64_t ts,
                          const void *body, size_t len, char *out, size_t outlen)
{
	(void)key;
	(void)keylen;
	(void)id;
	(void)ts;
	(void)body;
	(void)len;
	(void)out;
	(void)outlen;
	return -1;
}

WEAK int wh_secret_parse(int scheme, const char *text, size_t len, struct wh_secret *out,
                         char *err, size_t errlen)
{
	(void)scheme;
	(void)text;
	(void)len;
	(void)out;
	snprintf(err, errlen, "no signature schemes in this build");
	return -1;
}

WEAK int wh_store_redis_open(const struct pt_api *api, const struct wh_opts *o,
                             struct wh_store **out, char *err, size_t errlen)
{
	(void)api;
	(void)o;
	*out = NULL;
	snprintf(err, errlen, "the Redis store is not built in");
	return -1;
}
