/*
 * rest.h - the gateway policy plugin's shared parts.
 *
 * The plugin registers access filters through the ABI (pt_api.filter_define):
 * auth ("key-auth", "jwt", "basic" and "auth" to pick among them), "rate",
 * "cors" and "ip". Each compiles its options once per generation; the
 * plugin-wide options (consumers, JWT keys, Redis) live in a refcounted
 * struct rest_conf that a reload replaces while the old generation's
 * compiled filters keep theirs.
 */
#ifndef PT_REST_H
#define PT_REST_H

#include <stdatomic.h>
#include <stddef.h>
#include <portico/portico.h>

struct jwt_keyset;

extern const struct pt_api *rest_api;
extern pt_plugin_ctx *rest_ctx;

struct consumer {
	char *name;
	char **keys;                 /* API keys for key-auth */
	size_t nkeys;
	char *password;              /* a crypt(3) hash for basic, or NULL */
};

struct rest_conf {
	atomic_uint refs;
	struct consumer *consumers;
	size_t nconsumers;
	char *basic_dummy;           /* passwd_dummy_like(the first password), or NULL */
	/* jwt */
	struct jwt_keyset *keys;     /* NULL when no key is configured */
	char **algs;
	size_t nalgs;
	char *iss;
	char **aud;
	size_t naud;
	long leeway;
	char *consumer_claim;        /* the claim naming the consumer ("sub") */
	char *jwt_query;             /* a query argument carrying the token when there is
	                                no Authorization header (WebSocket clients in
	                                browsers cannot set one), or NULL */
	/* key-auth defaults */
	char *key_header;            /* "apikey" */
	char *key_query;             /* "apikey", or NULL for header only */
};

/* The current options, with a reference the caller drops with rest_conf_unref. */
struct rest_conf *rest_conf_get(void);
void rest_conf_unref(struct rest_conf *rc);

/* Filter definitions, each in its own file. */
extern const struct pt_filter_def rest_auth_filters[];    /* ends with a zero name */
extern const struct pt_filter_def rest_rate_filter;
extern const struct pt_filter_def rest_cors_filter;
extern const struct pt_filter_def rest_ip_filter;

/* Frees W's basic-auth cache (auth.c). */
void rest_auth_worker_stop(pt_worker *w);

/* A JSON error answer {"error":{"status":N,"message":M}}, like the core's. */
int rest_error(pt_exchange *x, int status, const char *message);

/* Helpers for compile callbacks: a string list from a string or an array
 * of strings (NULL with ERR on other types). */
char **rest_str_list(const pt_conf *c, const char *what, size_t *n, char *err, size_t errlen);
void rest_str_list_free(char **l, size_t n);
/* A NUL-terminated copy of string C, or NULL. */
char *rest_strdup_conf(const pt_conf *c);

#endif
