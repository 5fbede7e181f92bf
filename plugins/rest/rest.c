/*
 * rest.c - the gateway policy plugin: its options and its filters.
 *
 *   plugin "rest" {
 *     consumers = { { name = "alice", keys = { "k1" }, password = "$2b$..." } },
 *     jwt = { secret = "...", jwks = "conf/jwks.json", pem = "conf/pub.pem",
 *             algs = { "RS256" }, iss = "...", aud = { "..." }, leeway = 30,
 *             consumer_claim = "sub" },
 *     key_auth = { header = "apikey", query = "apikey" },
 *   }
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "rest.h"
#include "jwt.h"
#include "passwd.h"

const struct pt_api *rest_api;
pt_plugin_ctx *rest_ctx;

static struct rest_conf *current;
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;

char *rest_strdup_conf(const pt_conf *c)
{
	pt_str_t s;

	if (!c || rest_api->conf_str(c, NULL, &s) != 0)
		return NULL;
	return strndup(s.ptr, s.len);
}

void rest_str_list_free(char **l, size_t n)
{
	for (size_t i = 0; l && i < n; i++)
		free(l[i]);
	free(l);
}

char **rest_str_list(const pt_conf *c, const char *what, size_t *n, char *err, size_t errlen)
{
	size_t len = rest_api->conf_type(c) == PT_CONF_TABLE ? rest_api->conf_len(c) : 1;
	char **l = calloc(len + 1, sizeof(*l));

	*n = 0;
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		const pt_conf *e = rest_api->conf_type(c) == PT_CONF_TABLE ?
		                   rest_api->conf_at(c, i) : c;

		if (!(l[i] = rest_strdup_conf(e))) {
			snprintf(err, errlen, "%s must be a string or a list of strings", what);
			rest_str_list_free(l, i);
			return NULL;
		}
		*n = i + 1;
	}
	if (rest_api->conf_type(c) == PT_CONF_TABLE && rest_api->conf_key_at(c, 0, NULL)) {
		snprintf(err, errlen, "%s must be a list (found a key '%s')", what,
		         rest_api->conf_key_at(c, 0, NULL));
		rest_str_list_free(l, *n);
		return NULL;
	}
	return l;
}

int rest_error(pt_exchange *x, int status, const char *message)
{
	char body[512];
	int n = 0;

	rest_api->exchange_header_set(x, PT_STR("content-type"), PT_STR("application/json"));
	n = snprintf(body, sizeof(body), "{\"error\":{\"status\":%d,\"message\":\"", status);
	for (const char *p = message; *p && n < (int)sizeof(body) - 8; p++) {
		if (*p == '"' || *p == '\\')
			body[n++] = '\\';
		body[n++] = (unsigned char)*p < 0x20 ? ' ' : *p;
	}
	n += snprintf(body + n, sizeof(body) - (size_t)n, "\"}}");
	return rest_api->exchange_respond(x, status, (pt_str_t){ body, (size_t)n });
}

/* ---- the plugin's options ----------------------------------------------- */

static void conf_free(struct rest_conf *rc)
{
	if (!rc)
		return;
	for (size_t i = 0; i < rc->nconsumers; i++) {
		free(rc->consumers[i].name);
		rest_str_list_free(rc->consumers[i].keys, rc->consumers[i].nkeys);
		free(rc->consumers[i].password);
	}
	free(rc->consumers);
	free(rc->basic_dummy);
	jwt_keyset_free(rc->keys);
	rest_str_list_free(rc->algs, rc->nalgs);
	rest_str_list_free(rc->aud, rc->naud);
	free(rc->iss);
	free(rc->consumer_claim);
	free(rc->jwt_query);
	free(rc->key_header);
	free(rc->key_query);
	free(rc);
}

struct rest_conf *rest_conf_get(void)
{
	struct rest_conf *rc;

	pthread_mutex_lock(&current_lock);
	rc = current;
	if (rc)
		atomic_fetch_add(&rc->refs, 1);
	pthread_mutex_unlock(&current_lock);
	return rc;
}

void rest_conf_unref(struct rest_conf *rc)
{
	if (rc && atomic_fetch_sub(&rc->refs, 1) == 1)
		conf_free(rc);
}

/* Logs "file:line: message" for option C and fails. */
static int bad(const pt_conf *c, const char *fmt, const char *a)
{
	const char *file = "config";
	int line = 0;

	if (c)
		rest_api->conf_where(c, &file, &line);
	rest_api->log(rest_ctx, PT_LOG_ERROR, "%s:%d: plugin \"rest\": %s%s", file, line, fmt,
	              a ? a : "");
	return PT_EINVAL;
}

static int read_consumers(struct rest_conf *rc, const pt_conf *list)
{
	char err[256];

	if (!list)
		return 0;
	if (rest_api->conf_type(list) != PT_CONF_TABLE)
		return bad(list, "consumers must be a list of { name = ..., keys = ..., "
		           "password = ... }", NULL);
	rc->nconsumers = rest_api->conf_len(list);
	rc->consumers = calloc(rc->nconsumers + 1, sizeof(*rc->consumers));
	if (!rc->consumers)
		return PT_ENOMEM;
	for (size_t i = 0; i < rc->nconsumers; i++) {
		const pt_conf *c = rest_api->conf_at(list, i), *k;
		struct consumer *cs = &rc->consumers[i];

		if (!(cs->name = rest_strdup_conf(rest_api->conf_get(c, "name"))) || !cs->name[0])
			return bad(c, "each consumer needs a name", NULL);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(rc->consumers[j].name, cs->name))
				return bad(c, "two consumers are named ", cs->name);
		if ((k = rest_api->conf_get(c, "keys")) &&
		    !(cs->keys = rest_str_list(k, "keys", &cs->nkeys, err, sizeof(err))))
			return bad(k, err, NULL);
		for (size_t j = 0; j < cs->nkeys; j++)
			if (strlen(cs->keys[j]) < 8)
				return bad(k, "an API key must be at least 8 characters: consumer ",
				           cs->name);
		if ((k = rest_api->conf_get(c, "password"))) {
			cs->password = rest_strdup_conf(k);
			if (!cs->password || !passwd_hash_supported(cs->password))
				return bad(k, "password must be a bcrypt ($2b$), SHA-256-crypt ($5$) or "
				           "SHA-512-crypt ($6$) hash, never plain text: consumer ",
				           cs->name);
			/* unknown users are checked against a hash of this kind and cost */
			if (!rc->basic_dummy && !(rc->basic_dummy = passwd_dummy_like(cs->password)))
				return PT_ENOMEM;
		}
	}
	return 0;
}

static int read_jwt(struct rest_conf *rc, const pt_conf *j)
{
	const pt_conf *v;
	char err[256];
	double d;

	rc->consumer_claim = strdup("sub");
	if (!j)
		return rc->consumer_claim ? 0 : PT_ENOMEM;
	if (!(rc->keys = jwt_keyset_new()))
		return PT_ENOMEM;
	if ((v = rest_api->conf_get(j, "secret"))) {
		char *s = rest_strdup_conf(v);
		int r;

		if (!s || strlen(s) < 32) {
			free(s);
			return bad(v, "jwt.secret must be a string of at least 32 bytes", NULL);
		}
		r = jwt_keyset_add_secret(rc->keys, NULL, s, strlen(s), err, sizeof(err));
		free(s);
		if (r != 0)
			return bad(v, err, NULL);
	}
	if ((v = rest_api->conf_get(j, "jwks"))) {
		char *path = rest_strdup_conf(v);
		int r = path ? jwt_keyset_load_jwks_file(rc->keys, path, err, sizeof(err)) : -1;

		free(path);
		if (r != 0)
			return bad(v, path ? err : "jwt.jwks must be a file name", NULL);
	}
	if ((v = rest_api->conf_get(j, "pem"))) {
		char *path = rest_strdup_conf(v), pem[65536];
		FILE *f = path ? fopen(path, "r") : NULL;
		size_t n = f ? fread(pem, 1, sizeof(pem), f) : 0;
		int r;

		if (f)
			fclose(f);
		r = f ? jwt_keyset_add_pem(rc->keys, NULL, pem, n, err, sizeof(err)) : -1;
		if (!f)
			snprintf(err, sizeof(err), "jwt.pem: cannot read %s", path ? path : "(not a string)");
		free(path);
		if (r != 0)
			return bad(v, err, NULL);
	}
	if (!jwt_keyset_count(rc->keys))
		return bad(j, "jwt needs a key: secret, jwks or pem", NULL);
	if ((v = rest_api->conf_get(j, "algs")) &&
	    !(rc->algs = rest_str_list(v, "jwt.algs", &rc->nalgs, err, sizeof(err))))
		return bad(v, err, NULL);
	if ((v = rest_api->conf_get(j, "aud")) &&
	    !(rc->aud = rest_str_list(v, "jwt.aud", &rc->naud, err, sizeof(err))))
		return bad(v, err, NULL);
	if ((v = rest_api->conf_get(j, "iss")) && !(rc->iss = rest_strdup_conf(v)))
		return bad(v, "jwt.iss must be a string", NULL);
	if ((v = rest_api->conf_get(j, "query")) && !(rc->jwt_query = rest_strdup_conf(v)))
		return bad(v, "jwt.query must be the name of a query argument", NULL);
	if ((v = rest_api->conf_get(j, "consumer_claim"))) {
		free(rc->consumer_claim);
		if (!(rc->consumer_claim = rest_strdup_conf(v)))
			return bad(v, "jwt.consumer_claim must be a string", NULL);
	}
	rc->leeway = 0;
	if (rest_api->conf_num(j, "leeway", &d) == 0) {
		if (d < 0 || d > 3600)
			return bad(j, "jwt.leeway is 0 to 3600 seconds", NULL);
		rc->leeway = (long)d;
	}
	return 0;
}

static const char *const top_keys[] = { "consumers", "jwt", "key_auth", NULL };

static struct rest_conf *conf_read(const pt_conf *conf)
{
	struct rest_conf *rc = calloc(1, sizeof(*rc));
	const pt_conf *ka, *v;
	const char *k;

	if (!rc)
		return NULL;
	atomic_init(&rc->refs, 1);
	for (size_t i = 0; (k = rest_api->conf_key_at(conf, i, &v)) != NULL; i++) {
		size_t j = 0;

		while (top_keys[j] && strcmp(top_keys[j], k))
			j++;
		if (!top_keys[j]) {
			bad(v, "unknown option ", k);
			goto fail;
		}
	}
	if (read_consumers(rc, rest_api->conf_get(conf, "consumers")) != 0 ||
	    read_jwt(rc, rest_api->conf_get(conf, "jwt")) != 0)
		goto fail;
	ka = rest_api->conf_get(conf, "key_auth");
	rc->key_header = rest_strdup_conf(rest_api->conf_get(ka, "header"));
	if (!rc->key_header)
		rc->key_header = strdup("apikey");
	rc->key_query = rest_strdup_conf(rest_api->conf_get(ka, "query"));
	return rc;
fail:
	conf_free(rc);
	return NULL;
}

/* ---- the plugin ------------------------------------------------------------ */

static int install(const pt_conf *conf)
{
	struct rest_conf *rc = conf_read(conf), *old;

	if (!rc)
		return PT_EINVAL;
	pthread_mutex_lock(&current_lock);
	old = current;
	current = rc;
	pthread_mutex_unlock(&current_lock);
	rest_conf_unref(old);
	return 0;
}

static int load(pt_plugin_ctx *ctx, const struct pt_api *api, const pt_conf *conf)
{
	int rc;

	rest_api = api;
	rest_ctx = ctx;
	if (!PT_API_HAS(api, rate_take)) {
		api->log(ctx, PT_LOG_ERROR, "needs plugin ABI 1.1 or later");
		return PT_ENOSYS;
	}
	if ((rc = install(conf)) != 0)
		return rc;
	for (const struct pt_filter_def *d = rest_auth_filters; d->name; d++)
		if ((rc = api->filter_define(ctx, d, NULL)) != 0)
			return rc;
	if ((rc = api->filter_define(ctx, &rest_rate_filter, NULL)) != 0 ||
	    (rc = api->filter_define(ctx, &rest_cors_filter, NULL)) != 0 ||
	    (rc = api->filter_define(ctx, &rest_ip_filter, NULL)) != 0)
		return rc;
	return 0;
}

static int reload(pt_plugin_ctx *ctx, const pt_conf *conf)
{
	(void)ctx;
	return install(conf);
}

static void worker_stop(pt_plugin_ctx *ctx, pt_worker *w)
{
	(void)ctx;
	rest_auth_worker_stop(w);
}

static void unload(pt_plugin_ctx *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&current_lock);
	rest_conf_unref(current);
	current = NULL;
	pthread_mutex_unlock(&current_lock);
}

static const struct pt_plugin desc = {
	PT_PLUGIN_HEAD,
	.name = "rest",
	.version = PT_REST_VERSION,
	.load = load,
	.worker_stop = worker_stop,
	.unload = unload,
	.reload = reload,
};

PT_PLUGIN_ENTRY
{
	return &desc;
}
