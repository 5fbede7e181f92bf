/*
 * h1_parser.h - strict, zero-copy HTTP/1.1 request-head parser. Its chunked
 * body decoder (h1_chunked.h) and field-line scanner (h1_lex.h) are shared
 * with the response parser (h1_response.h).
 *
 * Nothing here allocates. Every pt_str_t and h1_header filled in is a borrowed
 * view into the caller's buffer, valid while that buffer is unchanged (the one
 * exception: the path of an absolute-form target without a path is the static
 * string "/").
 *
 * The parser is deliberately strict (RFC 9112 plus request-smuggling hardening):
 * anything that two implementations could frame differently is answered with
 * an error, and the caller is expected to send *status and close.
 */
#ifndef PORTICO_H1_PARSER_H
#define PORTICO_H1_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "portico/types.h"
#include "h1_chunked.h"
#include "h1_lex.h"

#ifdef __cplusplus
extern "C" {
#endif

struct h1_limits {
	size_t max_request_line;	/* bytes before CRLF; default 8192, over -> 414 */
	size_t max_header_bytes;	/* header section incl. final CRLF; 32768 -> 431 */
	unsigned max_headers;		/* field lines; default 100, over -> 431 */
};

/* Fill LIM with the defaults above. */
void h1_limits_default(struct h1_limits *lim);

enum h1_body {
	H1_BODY_NONE = 0,
	H1_BODY_LENGTH = 1,	/* content_length bytes follow (may be 0) */
	H1_BODY_CHUNKED = 2,	/* run h1_chunked_decode on what follows */
};

#define H1_F_CLOSE 0x1		/* Connection: close, or HTTP/1.0 without keep-alive */
#define H1_F_EXPECT_100 0x2	/* Expect: 100-continue (HTTP/1.1 only) */
#define H1_F_UPGRADE 0x4	/* Connection: upgrade + Upgrade header present */

struct h1_request {
	pt_str_t method;
	unsigned method_id;	/* enum pt_method bit, PT_METHOD_UNKNOWN for extensions */
	pt_str_t target;	/* request-target as sent */
	pt_str_t path;		/* origin-form up to '?'; "*" for OPTIONS *; the
				   path of absolute-form; the authority for CONNECT */
	pt_str_t query;		/* after '?', without it; len 0 if none */
	pt_str_t host;		/* Host value, or authority of absolute-form */
	int minor_version;	/* 0 or 1 */
	struct h1_header *headers;	/* caller-owned array */
	unsigned num_headers;	/* in: capacity of headers; out (on success
				   only): count. Left untouched on failure. */
	enum h1_body body;
	uint64_t content_length;
	unsigned flags;		/* H1_F_* */
};

/*
 * Parse one request head from BUF/LEN (the whole buffer so far, from the
 * start of the request; call again with more bytes after H1_INCOMPLETE).
 * LIM may be NULL for the defaults. Returns the bytes consumed (>0) up to and
 * including the blank line, H1_INCOMPLETE, or H1_ERROR with *status set to
 * the HTTP status to answer (400, 414, 417, 431, 501, 505) and *why to a
 * static reason for the log. STATUS and WHY may be NULL.
 */
int h1_parse_request(const char *buf, size_t len, struct h1_request *req,
                     const struct h1_limits *lim, int *status, const char **why);

/*
 * Where h1_parse_request_more left a head that is still coming. Zero it for
 * each new request (the first byte of BUF moves on), that is after any
 * answer but H1_INCOMPLETE.
 */
struct h1_progress {
	size_t scanned;		/* bytes of BUF already looked at */
	size_t full_at;		/* LEN at the last whole parse; 0: none yet */
	size_t line_end;	/* offset past the request line's CRLF, once known */
	uint64_t work;		/* bytes examined in all (whole parses count LEN) */
};

/*
 * Like h1_parse_request, for a head that arrives in pieces: BUF/LEN is still
 * the whole buffer from the start of the request, and PG carries over what the
 * calls before learnt, so a head fed N bytes at a time costs time linear in
 * its length, not quadratic. Only the new bytes are looked at until the head
 * is complete or one of them cannot belong to a valid head; then (and at a
 * limit, and each time LEN has doubled) the whole head is parsed. Returns the
 * same as h1_parse_request, though an error in a partial head may be answered
 * only once its line or the head ends.
 */
int h1_parse_request_more(const char *buf, size_t len, struct h1_request *req,
                          const struct h1_limits *lim, struct h1_progress *pg,
                          int *status, const char **why);

/* The enum pt_method bit for a (case-sensitive) method name, or 0. */
unsigned h1_method_id(pt_str_t method);

/* Non-zero when C is an RFC 9110 tchar. */
int h1_token_char(int c);

/* First header named LNAME (LEN bytes, lowercase), case-insensitive, or NULL. */
const struct h1_header *h1_header_find(const struct h1_request *req,
                                       const char *lname, size_t len);

#ifdef __cplusplus
}
#endif
#endif
