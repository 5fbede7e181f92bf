/*
 * cors.c - the "cors" filter (Fetch standard, CORS protocol).
 *
 *   use("cors", { origins = { "https://app.example" }, credentials = true,
 *                 methods = { "GET", "POST" }, headers = { "authorization",
 *                 "content-type" }, expose = { "x-request-id" }, max_age = 600 })
 *
 * Preflights (OPTIONS + Origin + Access-Control-Request-Method) reach this
 * filter even on routes without an OPTIONS handler, and before any auth
 * filter (PT_FILTER_PREFLIGHT): an allowed one is answered 204 with the
 * Access-Control-Allow-* headers, a refused one 403. On other requests an
 * allowed Origin gets Access-Control-Allow-Origin (and -Credentials,
 * -Expose-Headers) added to whatever the route answers; a refused Origin
 * gets nothing, so the browser keeps the response from the page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rest.h"

struct cors_state {
	char **origins;
	size_t norigins;
	int any_origin;             /* "*" */
	char *methods;              /* joined with ", " */
	char **headers;             /* allowed request headers, lower-case; NULL: any asked */
	size_t nheaders;
	char *allow_headers;        /* joined */
	char *expose;               /* joined, or NULL */
	int credentials;
	char max_age[16];
};

static void cors_release(void *state, void *ud)
{
	struct cors_state *s = state;

	(void)ud;
	if (!s)
		return;
	rest_str_list_free(s->origins, s->norigins);
	rest_str_list_free(s->headers, s->nheaders);
	free(s->methods);
	free(s->allow_headers);
	free(s->expose);
	free(s);
}

static char *join(char **l, size_t n)
{
	size_t len = 1;
	char *out;

	for (size_t i = 0; i < n; i++)
		len += strlen(l[i]) + 2;
	if (!(out = malloc(len)))
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, ", ");
		strcat(out, l[i]);
	}
	return out;
}

/* A list option joined with ", ", or DFLT when absent. */
static int list_opt(const pt_conf *o, const char *key, const char *dflt, char ***list,
                    size_t *n, char **joined, char *err, size_t errlen)
{
	const pt_conf *v = rest_api->conf_get(o, key);
	char **l;

	*n = 0;
	if (!v) {
		*joined = dflt ? strdup(dflt) : NULL;
		return 0;
	}
	if (!(l = rest_str_list(v, key, n, err, errlen)))
		return -1;
	for (size_t i = 0; i < *n; i++)
		for (char *p = l[i]; *p; p++)
			if ((unsigned char)*p <= ' ' || *p == ',' || *p == '"') {
				snprintf(err, errlen, "%s: '%s' is not a token", key, l[i]);
				rest_str_list_free(l, *n);
				return -1;
			}
	*joined = join(l, *n);
	if (list)
		*list = l;
	else
		rest_str_list_free(l, *n);
	return 0;
}

static int cors_compile(const pt_conf *o, void **state, char *err, size_t errlen, void *ud)
{
	struct cors_state *s = calloc(1, sizeof(*s));
	const pt_conf *v;
	const char *k;
	double age = 600;
	size_t nm;

	(void)ud;
	if (!s)
		return PT_ENOMEM;
	if (rest_api->conf_type(o) != PT_CONF_TABLE) {
		snprintf(err, errlen, "cors takes a table { origins = {...}, ... }");
		goto fail;
	}
	for (size_t i = 0; (k = rest_api->conf_key_at(o, i, &v)) != NULL; i++) {
		static const char *const known[] = { "origins", "methods", "headers", "expose",
		                                     "credentials", "max_age", NULL };
		int j = 0;

		while (known[j] && strcmp(known[j], k))
			j++;
		if (!known[j]) {
			snprintf(err, errlen, "unknown option '%s' (origins, methods, headers, expose, "
			         "credentials, max_age)", k);
			goto fail;
		}
	}
	if (!(v = rest_api->conf_get(o, "origins")) ||
	    !(s->origins = rest_str_list(v, "origins", &s->norigins, err, errlen))) {
		if (!v)
			snprintf(err, errlen, "cors needs origins = { \"https://...\" } (or \"*\")");
		goto fail;
	}
	for (size_t i = 0; i < s->norigins; i++)
		if (!strcmp(s->origins[i], "*"))
			s->any_origin = 1;
	rest_api->conf_bool(o, "credentials", &s->credentials);
	if (s->any_origin && s->credentials) {
		snprintf(err, errlen, "origins \"*\" with credentials = true would let any site read "
		         "responses with the user's cookies: list the origins");
		goto fail;
	}
	if (list_opt(o, "methods", "GET, HEAD, POST, PUT, PATCH, DELETE", NULL, &nm, &s->methods,
	             err, errlen) != 0 ||
	    list_opt(o, "headers", NULL, &s->headers, &s->nheaders, &s->allow_headers, err,
	             errlen) != 0 ||
	    list_opt(o, "expose", NULL, NULL, &nm, &s->expose, err, errlen) != 0)
		goto fail;
	for (size_t i = 0; i < s->nheaders; i++)
		for (char *p = s->headers[i]; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	if (rest_api->conf_num(o, "max_age", &age) == 0 && !(age >= 0 && age <= 86400)) {
		snprintf(err, errlen, "max_age is 0 to 86400 seconds");
		goto fail;
	}
	snprintf(s->max_age, sizeof(s->max_age), "%.0f", age);
	*state = s;
	return 0;
fail:
	cors_release(s, NULL);
	return PT_EINVAL;
}

static int origin_allowed(const struct cors_state *s, pt_str_t origin)
{
	if (s->any_origin)
		return 1;
	for (size_t i = 0; i < s->norigins; i++)
		if (strlen(s->origins[i]) == origin.len &&
		    !strncasecmp(s->origins[i], origin.ptr, origin.len))
			return 1;
	return 0;
}

/* Whether METHOD is in the comma list. */
static int in_list(const char *list, pt_str_t item, int nocase)
{
	const char *p = list;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == item.len && (nocase ? !strncasecmp(p, item.ptr, n) : !memcmp(p, item.ptr, n)))
			return 1;
		p = e ? e + 1 : NULL;
		while (p && *p == ' ')
			p++;
	}
	return 0;
}

/* Each header named in Access-Control-Request-Headers is allowed. */
static int headers_allowed(const struct cors_state *s, pt_str_t req)
{
	const char *p = req.ptr, *end = req.ptr + req.len;

	if (!s->headers)
		return 1;   /* none configured: whatever the browser asks */
	while (p < end) {
		const char *q = p;
		pt_str_t h;

		while (q < end && *q != ',')
			q++;
		h = (pt_str_t){ p, (size_t)(q - p) };
		while (h.len && (*h.ptr == ' ' || *h.ptr == '\t'))
			h.ptr++, h.len--;
		while (h.len && (h.ptr[h.len - 1] == ' ' || h.ptr[h.len - 1] == '\t'))
			h.len--;
		if (h.len && !in_list(s->allow_headers, h, 1))
			return 0;
		p = q + 1;
	}
	return 1;
}

static void set(pt_exchange *x, const char *name, const char *value, size_t len)
{
	rest_api->exchange_header_set(x, (pt_str_t){ name, strlen(name) },
	                              (pt_str_t){ value, len });
}

static void allow_origin(pt_exchange *x, const struct cors_state *s, pt_str_t origin)
{
	if (s->any_origin) {
		set(x, "access-control-allow-origin", "*", 1);
	} else {
		set(x, "access-control-allow-origin", origin.ptr, origin.len);
		rest_api->exchange_header_add(x, PT_STR("vary"), PT_STR("Origin"));
	}
	if (s->credentials)
		set(x, "access-control-allow-credentials", "true", 4);
}

static int cors_run(pt_exchange *x, void *state, void *ud)
{
	const struct cors_state *s = state;
	pt_str_t origin, want, hdrs = { "", 0 };

	(void)ud;
	if (rest_api->exchange_header(x, PT_STR("origin"), 0, &origin) != 0)
		return PT_FILTER_NEXT;   /* not a cross-origin request */
	if (rest_api->exchange_method(x) == PT_METHOD_OPTIONS &&
	    rest_api->exchange_header(x, PT_STR("access-control-request-method"), 0, &want) == 0) {
		rest_api->exchange_header(x, PT_STR("access-control-request-headers"), 0, &hdrs);
		if (!origin_allowed(s, origin) || !in_list(s->methods, want, 0) ||
		    !headers_allowed(s, hdrs)) {
			rest_api->log(rest_ctx, PT_LOG_INFO, "cors: preflight from %.*s for %.*s "
			              "refused", (int)origin.len, origin.ptr, (int)want.len, want.ptr);
			rest_error(x, 403, "CORS preflight refused: origin, method or headers not "
			           "allowed");
			return PT_FILTER_DONE;
		}
		allow_origin(x, s, origin);
		set(x, "access-control-allow-methods", s->methods, strlen(s->methods));
		if (s->allow_headers)
			set(x, "access-control-allow-headers", s->allow_headers,
			    strlen(s->allow_headers));
		else if (hdrs.len)
			set(x, "access-control-allow-headers", hdrs.ptr, hdrs.len);
		set(x, "access-control-max-age", s->max_age, strlen(s->max_age));
		rest_api->exchange_respond(x, 204, (pt_str_t){ NULL, 0 });
		return PT_FILTER_DONE;
	}
	if (origin_allowed(s, origin)) {
		allow_origin(x, s, origin);
		if (s->expose)
			set(x, "access-control-expose-headers", s->expose, strlen(s->expose));
	}
	return PT_FILTER_NEXT;
}

const struct pt_filter_def rest_cors_filter = {
	sizeof(struct pt_filter_def), "cors", PT_PHASE_ACCESS, PT_FILTER_PREFLIGHT, cors_compile,
	cors_release, cors_run,
};
