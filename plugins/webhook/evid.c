/*
 * evid.c - an event's id (the deduplication key) and type, from the
 * source's id_header / id_path / type_header / type_path or the scheme's
 * own place for them (wh.h). The body is read as JSON only when it looks
 * like a JSON object and a JSON path is needed, and then only scanned for
 * that value (evid_json.c), never built into a tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evid_json.h"
#include "wh.h"

#define ID_MAX 255              /* the store's bound on an event id */

/* The text of the value at PATH in the body (a string, or an integer in
 * decimal) into BUF (BUFLEN): its length (which may exceed BUFLEN - 1:
 * then BUF holds a truncated copy) or -1 when absent. */
static long json_text(const struct wh_req *r, const char *path, char *buf, size_t buflen)
{
	return wh_json_text(r->body, r->body_len, path, buf, buflen);
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
	long n = -1;
	const char *h;

	if (idlen == 0)
		return -1;
	if (s->id_header)
		n = header_text(r, s->id_header, id, idlen);
	if (n <= 0 && s->id_path)
		n = json_text(r, s->id_path, id, idlen);
	if (n <= 0 && (h = scheme_id_header(s->scheme, r)) != NULL)
		n = header_text(r, h, id, idlen);
	if (n <= 0 && s->scheme == WH_SCHEME_STRIPE)
		n = json_text(r, "id", id, idlen);
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
	long n = -1;
	const char *h = NULL;

	if (len == 0)
		return;
	type[0] = '\0';
	if (s->type_header)
		n = header_text(r, s->type_header, type, len);
	if (n <= 0 && s->type_path)
		n = json_text(r, s->type_path, type, len);
	if (n <= 0) {
		if (s->scheme == WH_SCHEME_GITHUB)
			h = "X-GitHub-Event";
		else if (s->scheme == WH_SCHEME_SHOPIFY)
			h = "X-Shopify-Topic";
		if (h)
			n = header_text(r, h, type, len);
		else if (s->scheme == WH_SCHEME_STRIPE || s->scheme == WH_SCHEME_STANDARD)
			n = json_text(r, "type", type, len);
	}
	if (n <= 0)
		type[0] = '\0';
	for (char *p = type; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}
