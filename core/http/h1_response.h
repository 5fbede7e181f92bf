/*
 * h1_response.h - strict, zero-copy HTTP/1.x response-head parser for the
 * outbound client (http_client.c). Chunked bodies go through h1_chunked.h,
 * the decoder request bodies use.
 *
 * Nothing here allocates. Every view filled in points into the caller's
 * buffer and is valid while that buffer is unchanged.
 *
 * The upstream is not trusted: anything two implementations could frame
 * differently (duplicate Content-Length, Content-Length with
 * Transfer-Encoding, a transfer coding other than chunked, obs-fold, bare CR
 * or LF, a bad chunk size) is an error, so a hostile server cannot make the
 * client misread where one response ends and desync a pooled connection.
 */
#ifndef PORTICO_H1_RESPONSE_H
#define PORTICO_H1_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "portico/types.h"
#include "h1_chunked.h"

#ifdef __cplusplus
extern "C" {
#endif

#define H1_RESP_INCOMPLETE (-1)	/* more bytes are needed */
#define H1_RESP_ERROR (-2)	/* malformed or over a limit; see *why */

#define H1_RESP_MAX_HEADER_BYTES 65536	/* default for max_header_bytes == 0 */

struct h1_resp_header {
	const char *name;	/* as sent (not lower-cased) */
	size_t name_len;
	const char *value;	/* leading/trailing SP and HTAB trimmed */
	size_t value_len;
};

enum h1_resp_body {
	H1_RESP_BODY_NONE = 0,		/* HEAD, 1xx, 204, 304 */
	H1_RESP_BODY_LENGTH = 1,	/* content_length bytes follow (may be 0) */
	H1_RESP_BODY_CHUNKED = 2,	/* run h1_chunked_decode on what follows */
	H1_RESP_BODY_CLOSE = 3,		/* everything until the peer closes */
};

#define H1_RESP_F_CLOSE 0x1	/* Connection: close, or HTTP/1.0 without keep-alive */
#define H1_RESP_F_KEEPALIVE 0x2	/* Connection: keep-alive was sent */

/* Input flags for h1_resp_parse. */
#define H1_RESP_HEAD 0x1	/* the request was HEAD: the response has no body */

struct h1_resp {
	int minor_version;	/* 0 or 1 (any HTTP/1.x with x > 1 reads as 1) */
	int status;		/* 100..999 */
	pt_str_t reason;	/* may be empty */
	struct h1_resp_header *headers;	/* caller-owned array */
	unsigned num_headers;	/* in: capacity; out (on success only): count */
	enum h1_resp_body body;
	uint64_t content_length;	/* for H1_RESP_BODY_LENGTH */
	unsigned flags;		/* H1_RESP_F_* */
};

/*
 * Parse one response head from BUF/LEN (everything received so far, from the
 * first byte of the response; call again with more after H1_RESP_INCOMPLETE).
 * IN_FLAGS is H1_RESP_HEAD or 0. MAX_HEADER_BYTES bounds the whole head (0:
 * H1_RESP_MAX_HEADER_BYTES): once that many bytes hold no complete head the
 * answer is H1_RESP_ERROR, never INCOMPLETE. Returns the bytes consumed (>0)
 * up to and including the blank line, H1_RESP_INCOMPLETE, or H1_RESP_ERROR
 * with *WHY (may be NULL) set to a static reason. A 1xx head parses like any
 * other (body NONE); the caller skips it and parses the next head.
 */
int h1_resp_parse(const char *buf, size_t len, struct h1_resp *res, unsigned in_flags,
                  size_t max_header_bytes, const char **why);

/* First header named LNAME (lowercase, LEN bytes), case-insensitive, or NULL. */
const struct h1_resp_header *h1_resp_header_find(const struct h1_resp *res,
                                                 const char *lname, size_t len);

#ifdef __cplusplus
}
#endif
#endif
