/*
 * passwd.h - password hash checks for HTTP Basic auth.
 *
 * Hashes come from htpasswd-style files: bcrypt ($2a$, $2b$, $2y$),
 * SHA-256-crypt ($5$) and SHA-512-crypt ($6$), computed by libxcrypt's
 * re-entrant crypt_rn, so every function here is thread-safe. Weak or
 * unsalted kinds (DES, MD5 $1$, plain text) are refused, not verified.
 */
#ifndef PT_PASSWD_H
#define PT_PASSWD_H

#include <stddef.h>

enum {
	PASSWD_EUNSUPPORTED = -1,	/* a kind we refuse, or a malformed hash */
	PASSWD_ENOMEM = -2,
	PASSWD_EHASH = -3,		/* libxcrypt could not compute it */
};

/* Longest password hashed; longer ones never match (bounds CPU per try). */
#define PASSWD_MAX_LEN 1024

/*
 * 1 when PASSWORD[0..PLEN) matches HASH (NUL-terminated), 0 when it does
 * not, a negative PASSWD_E* code when HASH is not a supported, well-formed
 * hash. A password holding a NUL byte never matches (crypt would silently
 * cut it there). bcrypt itself only reads the first 72 bytes.
 */
int passwd_verify(const char *password, size_t plen, const char *hash);

/* 1 when HASH is a well-formed hash of a supported kind, else 0; for
 * validating a password file at config load. */
int passwd_hash_supported(const char *hash);

/*
 * A fixed hash of the same kind and cost as HASH (a supported one) that no
 * password is meant to match: unknown users are checked against it, so
 * that they cost as much as a wrong password (no user enumeration by
 * timing). Malloc'd (the caller frees), or NULL when HASH is unsupported
 * or memory runs out.
 */
char *passwd_dummy_like(const char *hash);

/*
 * 1 when A[0..ALEN) equals B[0..BLEN), else 0. The time taken does not
 * depend on where the bytes differ; it may reveal whether the lengths do.
 */
int ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
