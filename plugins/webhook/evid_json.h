/*
 * evid_json.h - JSON text on the receiving path without building jansson
 * trees: one value of a body at a dot path (evid_json.c), a request's
 * headers as the JSON the store keeps (headers_json.c).
 */
#ifndef PORTICO_WH_EVID_JSON_H
#define PORTICO_WH_EVID_JSON_H

#include <stddef.h>

/*
 * The value at PATH ("data.object.id": object keys; a part of digits also
 * indexes an array) in BODY, a JSON object, when it is a string (decoded)
 * or an integer (in decimal): copied into BUF (BUFLEN, NUL-terminated,
 * truncated) and its full length returned. -1 when absent, another type,
 * or BODY is not JSON as jansson's json_loadb reads it.
 */
long wh_json_text(const unsigned char *body, size_t len, const char *path, char *buf,
                  size_t buflen);

/* Whether S (N bytes) is UTF-8 as jansson accepts it (no overlongs,
 * surrogates or code points past U+10FFFF). */
int wh_utf8_valid(const char *s, size_t n);

/* S (N bytes, UTF-8) as a JSON string's content, as jansson's json_dumps
 * writes it, into OUT (room for 6 * N bytes): its length. */
size_t wh_json_escape(char *out, const char *s, size_t n);

/* The Ith header's name and value (0) or -1. */
typedef int (*wh_header_at_fn)(void *ud, unsigned i, const char **name, size_t *nlen,
                               const char **val, size_t *vlen);
/*
 * N headers (AT, UD) as {"name":"value",...}: names in first-seen order,
 * repeats joined with ", ", cookie, authorization and proxy-authorization
 * left out, a name of 128 bytes or more, a value over MAX_VALUE bytes or
 * not UTF-8 skipped, nothing more once MAX_TOTAL is reached (each header
 * counted as its name, value and 8). The text jansson's json_dumps
 * (JSON_COMPACT) made of the same object. Owned by the caller (free);
 * NULL: no memory.
 */
char *wh_headers_json(unsigned n, wh_header_at_fn at, void *ud, size_t max_total,
                      size_t max_value);

#endif
