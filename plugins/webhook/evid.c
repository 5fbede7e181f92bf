/*
 * evid.c - an event's id (the deduplication key) and type, from the
 * source's id_header / id_path / type_header / type_path or the scheme's
 * own place for them (wh.h). The body is read as JSON only when it looks
 * like a JSON object and a JSON path is needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "wh.h"

#define ID_MAX 255              /* the store's bound on an event id */
#define PATH_DEPTH 32

/* The body as a JSON object, or NULL (not JSON, not an object). */
static json_t *body_json(const struct wh_req *r)
{
	size_t i = 0;

	while (i < r->body_len && (r->body[i] == ' ' || r->body[i] == '\t' ||
	                           r->body[i] == '\r' || r->body[i] == '\n'))
		i++;
	if (i == r->body_len || r->body[i] != '{')
		return NULL;

	json_t *j = json_loadb((const char *)r->body, r->body_len, 0, NULL);

	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/*
 * The value at the dot path PATH ("data.object.id"; a numeric part indexes
 * an array) in ROOT, borrowed from ROOT; NULL when absent.
 */
static json_t *json_at(json_t *root, const char *path)
{
	json_t *v = root;
	char part[256];
	unsigned depth = 0;

	while (v && *path && depth++ < PATH_DEPTH) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n == 0 || n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		if (json_is_object(v)) {
			v = json_object_get(v, part);
		} else if (json_is_array(v)) {
			char *end;
			unsigned long k = strtoul(part, &end, 10);

			v = *end == '\0' && part[0] >= '0' && part[0] <= '9' ? json_array_get(v, k) : NULL;
		} else {
			return NULL;
		}
		path += n + (dot ? 1 : 0);
	}
	return *path ? NULL : v;
}

/*
 * The text of the value at PATH in the body (a string, or an integer in
 * decimal) into BUF (BUFLEN); *J caches the parsed body across calls.
 * Returns the length (which may exceed BUFLEN - 1: then BUF holds a
 * truncated copy) or -1 when absent.
 */
static long json_text(const struct wh_req *r, json_t **j, int *tried, const char *path,
                      char *buf, size_t buflen)
{
	const char *s;
	size_t n;
	char num[32];

	if (!*tried) {
		*j = body_json(r);
		*tried = 1;
	}
	json_t *v = *j ? json_at(*j, path) : NULL;

	if (json_is_string(v)) {
		s = json_string_value(v);
		n = json_string_length(v);
	} else if (json_is_integer(v)) {
		n = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		s = num;
	} else {
		return -1;
	}
	if (buflen) {
		size_t c = n < buflen - 1 ? n : buflen - 1;

		memcpy(buf, s, c);
		buf[c] = '\0';
	}
	return (long)n;
}

/* A header's value, trimmed, into BUF: the full length or -1 when absent. */
static long header_text(const struct wh_req *r, const char *name, char *buf, size_t buflen)
{
	size_t n;
	const char *v = r->header(r->ud, name, &n);

	if (!v)
		return -1;
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (buflen) {
		size_t c = n < buflen - 1 ? n : buflen - 1;

		memcpy(buf, v, c);
		buf[c] = '\0';
	}
	return (long)n;
}

static const char *scheme_id_header(int scheme, const struct wh_req *r)
{
	size_t n;

	switch (scheme) {
	case WH_SCHEME_GITHUB:
		return "X-GitHub-Delivery";
	case WH_SCHEME_SHOPIFY:
		return "X-Shopify-Webhook-Id";
	case WH_SCHEME_STANDARD:
		/* Svix's name when the sender uses Svix's headers */
		return r->header(r->ud, "webhook-id", &n) || !r->header(r->ud, "svix-id", &n)
		       ? "webhook-id" : "svix-id";
	default:
		return NULL;
	}
}

int wh_event_id(const struct wh_source *s, const struct wh_req *r, char *id, size_t idlen,
                char *why, size_t whylen)
{
	json_t *j = NULL;
	int tried = 0;
	long n = -1;
	const char *h;

	if (idlen == 0)
		return -1;
	if (s->id_header)
		n = header_text(r, s->id_header, id, idlen);
	if (n <= 0 && s->id_path)
		n = json_text(r, &j, &tried, s->id_path, id, idlen);
	if (n <= 0 && (h = scheme_id_header(s->scheme, r)) != NULL)
		n = header_text(r, h, id, idlen);
	if (n <= 0 && s->scheme == WH_SCHEME_STRIPE)
		n = json_text(r, &j, &tried, "id", id, idlen);
	json_decref(j);
	if (n <= 0) {
		char hex[65];

		wh_sha256_hex(r->body, r->body_len, hex);
		n = snprintf(id, idlen, "sha256:%s", hex);
	}
	if ((size_t)n >= idlen || n > ID_MAX) {
		snprintf(why, whylen, "event id longer than %zu bytes",
		         idlen - 1 < ID_MAX ? idlen - 1 : (size_t)ID_MAX);
		return -1;
	}
	for (long i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];

		if (c < 0x20 || c == 0x7f) {
			snprintf(why, whylen, "event id has a control character");
			return -1;
		}
	}
	return 0;
}

void wh_event_type(const struct wh_source *s, const struct wh_req *r, char *type, size_t len)
{
	json_t *j = NULL;
	int tried = 0;
	long n = -1;
	const char *h = NULL;

	if (len == 0)
		return;
	type[0] = '\0';
	if (s->type_header)
		n = header_text(r, s->type_header, type, len);
	if (n <= 0 && s->type_path)
		n = json_text(r, &j, &tried, s->type_path, type, len);
	if (n <= 0) {
		if (s->scheme == WH_SCHEME_GITHUB)
			h = "X-GitHub-Event";
		else if (s->scheme == WH_SCHEME_SHOPIFY)
			h = "X-Shopify-Topic";
		if (h)
			n = header_text(r, h, type, len);
		else if (s->scheme == WH_SCHEME_STRIPE || s->scheme == WH_SCHEME_STANDARD)
			n = json_text(r, &j, &tried, "type", type, len);
	}
	json_decref(j);
	if (n <= 0)
		type[0] = '\0';
	for (char *p = type; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}
