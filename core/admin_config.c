/*
 * admin_config.c - the admin API's `GET /config`: the running generation's
 * configuration as JSON, with its secrets masked.
 *
 * Two rules hide a secret, so that neither alone has to be perfect:
 *  - provenance: every value env() or secret_file() gave while the config
 *    loaded (struct config's secrets) is replaced wherever it ended up,
 *    also inside a longer string ("redis://:pw@host" built by
 *    concatenation) when it is at least MIN_SUB bytes long;
 *  - names: every string or number under a key that names a secret
 *    (token, password, secret, key, credential, ...), at any depth below
 *    it (key-auth's `keys = { alice = "..." }`), is masked.
 * A masked value is the string "***". The document says which file it
 * came from and the generation; functions in route options are not there
 * (route scripts are not part of the config view).
 */
#include <ctype.h>
#include <string.h>

#include "admin_json.h"
#include "conf.h"
#include "conf_tree.h"
#include "gen.h"

#define MASK "***"
#define MIN_SUB 6          /* shorter secrets are masked only when whole */

static int secret_key(const char *k)
{
	static const char *const parts[] = { "pass", "secret", "token", "credential", "private",
	                                     "apikey", "api_key", "api-key", "auth_key",
	                                     "signing", "cookie", "session" };
	char low[64];
	size_t n = strlen(k);

	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)k[i]);
	low[n] = '\0';
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (strstr(low, parts[i]))
			return 1;
	/* "key", "keys", "hmac_key", "key_file"? no: only a key that IS a key */
	return !strcmp(low, "key") || !strcmp(low, "keys") ||
	       (n > 4 && (!strcmp(low + n - 4, "_key") || !strcmp(low + n - 4, "-key"))) ||
	       (n > 5 && (!strcmp(low + n - 5, "_keys") || !strcmp(low + n - 5, "-keys")));
}

/* S with every recorded secret in it masked, as a new JSON string. */
static json_t *masked_string(const struct config *cfg, const char *s, size_t len)
{
	char *out = NULL;
	size_t olen = 0;
	json_t *j;

	if (cfg->secrets_overflow)
		return json_string(MASK);
	for (const char **v = cfg->secrets; v && *v; v++) {
		size_t vl = strlen(*v);

		if (vl == len && !memcmp(*v, s, len))
			return json_string(MASK);
	}
	/* substrings: rebuild S, replacing each long-enough secret */
	for (const char **v = cfg->secrets; v && *v; v++) {
		size_t vl = strlen(*v);
		const char *cur = out ? out : s;
		size_t clen = out ? olen : len;
		const char *hit;

		if (vl < MIN_SUB || !(hit = memmem(cur, clen, *v, vl)))
			continue;
		{
			char *nb = malloc(clen + sizeof(MASK));
			size_t o = 0, i = 0;

			if (!nb) {
				free(out);
				return json_string(MASK);
			}
			while (i < clen) {
				const char *h = memmem(cur + i, clen - i, *v, vl);

				if (!h) {
					memcpy(nb + o, cur + i, clen - i);
					o += clen - i;
					break;
				}
				memcpy(nb + o, cur + i, (size_t)(h - (cur + i)));
				o += (size_t)(h - (cur + i));
				memcpy(nb + o, MASK, sizeof(MASK) - 1);
				o += sizeof(MASK) - 1;
				i = (size_t)(h - cur) + vl;
			}
			free(out);
			out = nb;
			olen = o;
		}
	}
	if (!out)
		return json_stringn(s, len);
	j = json_stringn(out, olen);
	free(out);
	return j;
}

static json_t *tree(const struct config *cfg, const pt_conf *c, int hide, int depth)
{
	json_t *j;

	if (!c || depth > 64)
		return json_null();
	switch (c->type) {
	case PT_CONF_STRING:
		return hide ? json_string(MASK) : masked_string(cfg, c->u.s.ptr, c->u.s.len);
	case PT_CONF_BOOL: return json_boolean(c->u.b);
	case PT_CONF_NUMBER:
		if (hide)
			return json_string(MASK);
		if (c->u.n == (double)(json_int_t)c->u.n)
			return json_integer((json_int_t)c->u.n);
		return json_real(c->u.n);
	case PT_CONF_TABLE:
		if (c->u.t.narr && !c->u.t.nkeys) {
			j = json_array();
			for (size_t i = 0; j && i < c->u.t.narr; i++)
				json_array_append_new(j, tree(cfg, c->u.t.arr[i], hide, depth + 1));
			return j;
		}
		j = json_object();
		for (size_t i = 0; j && i < c->u.t.nkeys; i++)
			json_object_set_new(j, c->u.t.keys[i],
			                    tree(cfg, c->u.t.vals[i], hide || secret_key(c->u.t.keys[i]),
			                         depth + 1));
		for (size_t i = 0; j && i < c->u.t.narr; i++) {
			char k[24];

			snprintf(k, sizeof(k), "%zu", i + 1);
			json_object_set_new(j, k, tree(cfg, c->u.t.arr[i], hide, depth + 1));
		}
		return j;
	default:
		return json_null();
	}
}

static json_t *str_or_null(const struct config *cfg, const char *s)
{
	return s ? masked_string(cfg, s, strlen(s)) : json_null();
}

json_t *admin_json_config(const struct gen *g)
{
	const struct config *cfg = g ? g->cfg : NULL;
	json_t *plugins, *ups, *listen, *out;

	if (!cfg)
		return json_pack("{s:n}", "config");
	plugins = json_object();
	for (unsigned i = 0; plugins && i < cfg->nplugins; i++) {
		const struct plugin_conf *p = &cfg->plugins[i];

		json_object_set_new(plugins, p->name,
		                    json_pack("{s:b,s:b,s:o}", "enabled", p->enabled, "optional",
		                              p->optional, "options", tree(cfg, p->opts, 0, 0)));
	}
	ups = json_object();
	for (unsigned i = 0; ups && i < cfg->nupstreams; i++) {
		const struct upstream_conf *u = &cfg->upstreams[i];
		json_t *servers = json_array();

		for (unsigned j = 0; servers && j < u->nservers; j++)
			json_array_append_new(servers, str_or_null(cfg, u->servers[j]));
		json_object_set_new(ups, u->name,
		                    json_pack("{s:o,s:f,s:f,s:f,s:i,s:i}", "servers", servers,
		                              "connect_timeout", u->connect_timeout, "read_timeout",
		                              u->read_timeout, "send_timeout", u->send_timeout,
		                              "retries", (int)u->retries, "keepalive",
		                              (int)u->keepalive));
	}
	listen = json_array();
	for (unsigned i = 0; listen && i < cfg->nlisteners; i++) {
		const struct listen_conf *l = &cfg->listeners[i];

		json_array_append_new(listen, json_pack("{s:s,s:i,s:b,s:b,s:s?}", "address",
		                                        l->address, "port", l->port, "http2",
		                                        l->http2, "tls", l->ncerts > 0, "only",
		                                        l->only));
	}
	out = json_pack("{s:s,s:I,s:i,s:o,s:o,s:o,s:o,s:o}", "file", cfg->file, "generation",
	                (json_int_t)admin_gen_id(g), "workers", cfg->workers, "settings",
	                tree(cfg, cfg->root, 0, 0), "listen", listen, "upstreams", ups,
	                "plugins", plugins, "masked", json_string(MASK));
	return out;
}
