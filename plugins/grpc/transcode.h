/*
 * transcode.h - REST transcoding from google.api.http annotations: the
 * pure parts (no pt_api, no Lua), unit-tested in
 * tests/unit/test_grpc_transcode.c.
 *
 * A path template (google/api/http.proto):
 *   Template = "/" Segments [ ":" Verb ]
 *   Segment  = "*" | "**" | LITERAL | "{" FieldPath [ "=" Segments ] "}"
 * is parsed once (tc_template_parse), turned into a core route pattern
 * (tc_template_route: `:name` and `*name` segments, so the router and the
 * OpenAPI document see it) and matched against each request path
 * (tc_template_match), which gives the variables' values.
 *
 * The request is built as proto3 JSON (tc_request_json) from the body,
 * the path variables and the query parameters, then handed to
 * pb_from_json; the answer's JSON is cut to response_body
 * (tc_response_pick) and a gRPC status becomes an HTTP one (tc_http_status).
 */
#ifndef PT_GRPC_TRANSCODE_H
#define PT_GRPC_TRANSCODE_H

#include <stddef.h>

#define TC_MAX_TEMPLATE 1024	/* bytes of a template */
#define TC_MAX_SEGS 32		/* segments of a template (and of a matched path) */
#define TC_MAX_VARS 8		/* variables of a template */
#define TC_MAX_PATH 8192	/* bytes of a request path we try to match */
#define TC_MAX_QUERY_ARGS 64	/* query parameters turned into fields */

enum tc_seg_kind {
	TC_LIT = 0,		/* a literal segment */
	TC_STAR = 1,		/* "*": one segment */
	TC_DSTAR = 2,		/* "**": the rest (zero or more segments), last only */
};

struct tc_seg {
	int kind;		/* enum tc_seg_kind */
	char *lit;		/* TC_LIT: the text (owned) */
};

struct tc_var {
	char *field;		/* "id", "book.name" (owned) */
	unsigned first, end;	/* the segments it covers: [first, end) */
};

struct tc_template {
	struct tc_seg seg[TC_MAX_SEGS];
	unsigned nseg;
	struct tc_var var[TC_MAX_VARS];
	unsigned nvar;
	char *verb;		/* "cancel" for ":cancel", or NULL (owned) */
};

/*
 * Parses TEXT (NUL-terminated) into T. 0, or -1 with ERR set to a sentence
 * naming the problem and its offset. T is cleared first; free it with
 * tc_template_free either way.
 */
int tc_template_parse(struct tc_template *t, const char *text, char *err, size_t errlen);
void tc_template_free(struct tc_template *t);

/*
 * The core route pattern of T into OUT (NUL-terminated): literal segments
 * as they are, "*" and single-segment variables as ":name", "**" as
 * "*name", the verb glued to the last literal. 0, or -1 when OUT is too
 * small.
 */
int tc_template_route(const struct tc_template *t, char *out, size_t outlen);

/* One variable's value, malloc'd (percent-decoded). */
struct tc_binding {
	const char *field;	/* borrowed from the template */
	char *value;		/* owned: free with tc_bindings_free */
};

/*
 * Matches PATH (LEN bytes, raw, without the query) against T. On a match
 * returns the number of variables filled into OUT (T->nvar), else -1 (no
 * match, or a path over the limits, or a value that does not decode). A
 * single-segment variable decodes every %XX; a multi-segment one keeps
 * %2F as it is (google.api.http's rule).
 */
int tc_template_match(const struct tc_template *t, const char *path, size_t len,
                      struct tc_binding *out);
void tc_bindings_free(struct tc_binding *b, unsigned n);

/* What the contract says of a field (transcode_field_kind). */
#define TC_KIND_REPEATED 1	/* its values make an array, even one */
#define TC_KIND_BOOL 2		/* "true"/"false" are JSON booleans */
#define TC_KIND_MESSAGE 4

/* One value for a field of the request message (a path variable or a
 * query parameter): FIELD is a dotted path ("shelf.id"); KIND its
 * TC_KIND_* bits (0 when unknown: a string). */
struct tc_field {
	const char *field;
	size_t field_len;
	const char *value;
	size_t value_len;
	int kind;
};

/*
 * Builds the request's proto3 JSON into *OUT (malloc'd, NUL-terminated).
 * BODY_RULE: "" (no body: the query parameters are fields), "*" (the body
 * is the whole message) or a field name (the body is that field; the query
 * parameters fill the others). BODY/BODY_LEN: the request body (JSON when
 * the rule names one; an empty body is {} for "*"). PATH fields override
 * what the body says; QUERY fields never replace a path field. Repeated
 * query names, or a field of kind TC_KIND_REPEATED, make an array. Values
 * are JSON strings (proto3 JSON takes numbers, enums and 64-bit integers
 * as strings), "true"/"false" for a TC_KIND_BOOL field JSON booleans.
 * 0, or -1 with ERR naming the problem ("the body is not JSON: line 1
 * column 7: ...", "query parameter a.b: a.b is both a value and a message").
 */
int tc_request_json(const char *body_rule, const char *body, size_t body_len,
                    const struct tc_field *path, unsigned npath,
                    const struct tc_field *query, unsigned nquery, char **out,
                    char *err, size_t errlen);

/*
 * The JSON to answer for a reply whose JSON is JSON/LEN: itself, or its
 * field RESPONSE_BODY (a proto field name or its lowerCamelCase form) when
 * given ("null" when the field is absent). *OUT malloc'd. 0 or -1.
 */
int tc_response_pick(const char *json, size_t len, const char *response_body, char **out);

/* The HTTP status for a gRPC status code (google.rpc.Code's mapping). */
int tc_http_status(int grpc_code);

/*
 * The error body {"code": CODE, "message": MSG, "details": [...]} into
 * *OUT (malloc'd). DETAILS_JSON: a JSON array text or NULL. 0 or -1.
 */
int tc_error_json(int code, const char *msg, size_t msglen, const char *details_json,
                  char **out);

#endif
