/*
 * transcode_req.c - REST transcoding's JSON: the request message built
 * from body, path variables and query parameters; the answer cut to
 * response_body; gRPC status codes as HTTP statuses and error bodies.
 * Pure C on jansson (transcode.h says the rules).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "transcode.h"

#define MAX_FIELD_DEPTH 16	/* dots in a field path */

static int jerr(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
	snprintf(err, errlen, fmt, a, b);
	return -1;
}

static json_t *value_of(const struct tc_field *f)
{
	int b = f->kind & TC_KIND_BOOL;

	if (b && f->value_len == 4 && !memcmp(f->value, "true", 4))
		return json_true();
	if (b && f->value_len == 5 && !memcmp(f->value, "false", 5))
		return json_false();
	return json_stringn(f->value, f->value_len);
}

/*
 * Sets the dotted FIELD of ROOT to V (taken). APPEND: a repeated query
 * parameter: a value already there becomes an array. 0, or -1 with ERR.
 */
static int set_field(json_t *root, const struct tc_field *f, json_t *v, int append,
                     const char *what, char *err, size_t errlen)
{
	json_t *o = root;
	const char *p = f->field, *end = f->field + f->field_len;
	char key[256], name[300];
	unsigned depth = 0;

	snprintf(name, sizeof(name), "%.*s", (int)(f->field_len > 200 ? 200 : f->field_len),
	         f->field);
	if (!v)
		return jerr(err, errlen, "%s %s: out of memory", what, name);
	for (;;) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);
		json_t *cur;

		if (n == 0 || n >= sizeof(key) || memchr(p, '\0', n) || ++depth > MAX_FIELD_DEPTH) {
			json_decref(v);
			return jerr(err, errlen, "%s %s: not a field path (names joined by '.')", what,
			            name);
		}
		memcpy(key, p, n);
		key[n] = '\0';
		cur = json_object_get(o, key);
		if (!dot) {
			if (append && cur && json_is_array(cur))
				return json_array_append_new(cur, v) == 0 ? 0 : -1;
			if ((f->kind & TC_KIND_REPEATED) && !cur && !json_is_array(v)) {
				json_t *a = json_array();

				json_array_append_new(a, v);
				return json_object_set_new(o, key, a) == 0 ? 0 : -1;
			}
			if (append && cur && !json_is_object(cur)) {
				json_t *a = json_array();

				json_array_append(a, cur);
				json_array_append_new(a, v);
				return json_object_set_new(o, key, a) == 0 ? 0 : -1;
			}
			if (cur && json_is_object(cur) && !json_is_object(v)) {
				json_decref(v);
				return jerr(err, errlen, "%s %s: this field is a message, not a value", what,
				            name);
			}
			return json_object_set_new(o, key, v) == 0 ? 0 : -1;
		}
		if (!cur) {
			cur = json_object();
			if (json_object_set_new(o, key, cur) != 0) {
				json_decref(v);
				return -1;
			}
		} else if (!json_is_object(cur)) {
			json_decref(v);
			return jerr(err, errlen, "%s %s: a part of this path is a value, not a message",
			            what, name);
		}
		o = cur;
		p = dot + 1;
	}
}

int tc_request_json(const char *body_rule, const char *body, size_t body_len,
                    const struct tc_field *path, unsigned npath,
                    const struct tc_field *query, unsigned nquery, char **out,
                    char *err, size_t errlen)
{
	json_t *root = NULL, *b = NULL;
	json_error_t je;
	int whole = body_rule && !strcmp(body_rule, "*");
	int field = body_rule && *body_rule && !whole;
	size_t i = 0;

	*out = NULL;
	/* the body: JSON text when the rule takes one */
	while (i < body_len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' ||
	                        body[i] == '\n'))
		i++;
	if ((whole || field) && i < body_len) {
		b = json_loadb(body, body_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
		if (!b) {
			snprintf(err, errlen, "the body is not JSON: line %d column %d: %s", je.line,
			         je.column, je.text);
			return -1;
		}
	}
	if (whole) {
		if (b && !json_is_object(b)) {
			snprintf(err, errlen, "the body must be a JSON object (the request message), "
			         "not %s", json_is_array(b) ? "an array" : "a value");
			json_decref(b);
			return -1;
		}
		root = b ? b : json_object();
		b = NULL;   /* root owns it */
	} else {
		root = json_object();
		/* the query parameters fill the fields the body does not */
		for (unsigned k = 0; k < nquery; k++)
			if (set_field(root, &query[k], value_of(&query[k]), 1,
			              "query parameter", err, errlen) != 0)
				goto fail;
		if (field && b) {
			struct tc_field f = { body_rule, strlen(body_rule), "", 0, 0 };

			if (set_field(root, &f, b, 0, "body field", err, errlen) != 0) {
				b = NULL;
				goto fail;
			}
			b = NULL;
		}
	}
	for (unsigned k = 0; k < npath; k++)
		if (set_field(root, &path[k], value_of(&path[k]), 0, "path variable", err,
		              errlen) != 0)
			goto fail;
	if (!(*out = json_dumps(root, JSON_COMPACT))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	json_decref(b);
	return -1;
}

/* "order_id" -> "orderId" into OUT. */
static void camel(const char *s, char *out, size_t outlen)
{
	size_t o = 0;
	int up = 0;

	for (; *s && o + 1 < outlen; s++) {
		if (*s == '_') {
			up = 1;
			continue;
		}
		out[o++] = up && *s >= 'a' && *s <= 'z' ? (char)(*s - 32) : *s;
		up = 0;
	}
	out[o] = '\0';
}

int tc_response_pick(const char *json, size_t len, const char *response_body, char **out)
{
	json_t *j, *v;
	char alt[256];

	*out = NULL;
	if (!response_body || !*response_body) {
		if (!(*out = malloc(len + 1)))
			return -1;
		memcpy(*out, json, len);
		(*out)[len] = '\0';
		return 0;
	}
	if (!(j = json_loadb(json, len, 0, NULL)))
		return -1;
	camel(response_body, alt, sizeof(alt));
	if (!(v = json_object_get(j, response_body)))
		v = json_object_get(j, alt);
	*out = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
	json_decref(j);
	return *out ? 0 : -1;
}

int tc_http_status(int code)
{
	static const int map[17] = {
		200,	/* OK */
		499,	/* CANCELLED */
		500,	/* UNKNOWN */
		400,	/* INVALID_ARGUMENT */
		504,	/* DEADLINE_EXCEEDED */
		404,	/* NOT_FOUND */
		409,	/* ALREADY_EXISTS */
		403,	/* PERMISSION_DENIED */
		429,	/* RESOURCE_EXHAUSTED */
		400,	/* FAILED_PRECONDITION */
		409,	/* ABORTED */
		400,	/* OUT_OF_RANGE */
		501,	/* UNIMPLEMENTED */
		500,	/* INTERNAL */
		503,	/* UNAVAILABLE */
		500,	/* DATA_LOSS */
		401,	/* UNAUTHENTICATED */
	};

	return code >= 0 && code < 17 ? map[code] : 500;
}

int tc_error_json(int code, const char *msg, size_t msglen, const char *details_json,
                  char **out)
{
	json_t *j = json_object(), *d = NULL;

	if (details_json)
		d = json_loads(details_json, 0, NULL);
	if (!d || !json_is_array(d)) {
		json_decref(d);
		d = json_array();
	}
	json_object_set_new(j, "code", json_integer(code));
	/* a message that is not UTF-8 is not JSON: say so rather than drop it */
	json_object_set_new(j, "message", msg ? json_stringn(msg, msglen) : json_string(""));
	if (!json_object_get(j, "message"))
		json_object_set_new(j, "message", json_string("(a message that is not UTF-8)"));
	json_object_set_new(j, "details", d);
	*out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return *out ? 0 : -1;
}
