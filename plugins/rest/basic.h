/*
 * basic.h - HTTP Basic credentials checked against the consumers' hashes,
 * with a per-worker cache of recent successes. No pt_api here: the
 * checks are plain functions a unit test can drive.
 */
#ifndef PT_REST_BASIC_H
#define PT_REST_BASIC_H

#include <stddef.h>
#include <time.h>

#include "rest.h"

struct bcache;

/* A worker's cache (calloc'd; free() it), or NULL when out of memory. */
struct bcache *basic_cache_new(void);

/*
 * Standard base64 (padded) of "user:password" from a header value into OUT
 * (at least 768 bytes), NUL-terminated. 0, or -1 when malformed or longer
 * than 1000 characters.
 */
int basic_decode(const char *in, size_t len, unsigned char *out, size_t *outlen);

/*
 * The consumer of CS[0..N) that CRED[0..LEN) ("user:password", with a
 * colon) names with its password, or NULL. Exactly one password hash is
 * computed either way, so an unknown user costs what a wrong password
 * costs: DUMMY (passwd_dummy_like of a consumer's hash; NULL skips it) when
 * no consumer has that name. A success found in B (NULL: no cache) at NOW
 * computes none; new successes are added to it.
 */
const struct consumer *basic_check(const struct consumer *cs, size_t n, const char *dummy,
                                   const char *cred, size_t len, struct bcache *b, time_t now);

#endif
