/*
 * jwt.h - JSON Web Token verification (RFC 7519 on RFC 7515 compact JWS).
 *
 * A keyset is built once at config load and is read-only afterwards, so any
 * number of threads may call jwt_verify on the same keyset at once. Nothing
 * here does I/O except jwt_keyset_load_jwks_file, and nothing keeps global
 * state.
 *
 * The key decides the algorithm family, never the token: an HMAC secret is
 * only used for HS256/384/512, an RSA key only for RS256/384/512, an EC P-256
 * key only for ES256. "alg": "none" is refused in any spelling.
 */
#ifndef PT_JWT_H
#define PT_JWT_H

#include <stddef.h>

#include <jansson.h>

/* jwt_verify results; WHY names the reason in a sentence fragment. */
enum {
	JWT_OK = 0,
	JWT_EMALFORMED = -1,	/* not a compact JWS with JSON object parts */
	JWT_ETOOLONG = -2,	/* longer than rules.max_len */
	JWT_EALGNONE = -3,	/* "alg": "none" */
	JWT_EALG = -4,		/* unknown alg, or not in rules.algs */
	JWT_EKEYALG = -5,	/* alg of a family no candidate key belongs to */
	JWT_ENOKEY = -6,	/* no key for the token's kid */
	JWT_ESIG = -7,		/* no candidate key verifies the signature */
	JWT_EEXPIRED = -8,	/* exp passed, or missing with require_exp */
	JWT_ENOTYET = -9,	/* nbf (or iat) in the future */
	JWT_EISS = -10,
	JWT_EAUD = -11,
	JWT_ENOMEM = -12,
	JWT_EINVAL = -13,	/* bad argument, or a key that cannot be used */
};

struct jwt_keyset;

/* An empty keyset, or NULL when out of memory. Free with jwt_keyset_free. */
struct jwt_keyset *jwt_keyset_new(void);
void jwt_keyset_free(struct jwt_keyset *ks);

/*
 * The keyset_add/load functions return 0, or a negative JWT_E* code with a
 * sentence for the operator in ERR (may be NULL). On failure the keyset is
 * unchanged. KID and the key bytes are copied: the caller keeps its buffers.
 *
 * A key without a kid (KID NULL) matches tokens without a kid, and tokens
 * with any kid when it is the only key in the set.
 */

/* An HMAC secret (non-empty) for HS256, HS384 and HS512. */
int jwt_keyset_add_secret(struct jwt_keyset *ks, const char *kid,
			  const void *secret, size_t len,
			  char *err, size_t errlen);

/*
 * A PEM "PUBLIC KEY", "RSA PUBLIC KEY" or "CERTIFICATE" (its public key; the
 * certificate is not validated). RSA keys (2048 bits or more) serve
 * RS256/384/512, EC keys on P-256 serve ES256. Private keys are refused so
 * that secrets do not end up in verifier configs.
 */
int jwt_keyset_add_pem(struct jwt_keyset *ks, const char *kid,
		       const char *pem, size_t len, char *err, size_t errlen);

/*
 * A JWKS document {"keys": [...]} (RFC 7517) of at most 1 MiB. Understands
 * kty RSA (n, e), EC (crv P-256, x, y) and oct (k). A key's "alg", when
 * present, pins it to that one algorithm. Keys meant for something else
 * ("use" other than "sig", "key_ops" without "verify") and kinds this module
 * does not support (other kty, crv or alg) are skipped; a key of a supported
 * kind with bad fields is an error. A document that yields no usable key is
 * an error too.
 */
int jwt_keyset_load_jwks(struct jwt_keyset *ks, const char *json, size_t len,
			 char *err, size_t errlen);
/* The same from the file at PATH (refused when larger than 1 MiB). */
int jwt_keyset_load_jwks_file(struct jwt_keyset *ks, const char *path,
			      char *err, size_t errlen);

size_t jwt_keyset_count(const struct jwt_keyset *ks);

/* What a token must satisfy besides its signature. Zeroed = defaults. */
struct jwt_rules {
	/* allowed "alg" values; NULL or 0 = any the candidate key allows */
	const char *const *algs;
	size_t nalgs;
	/* required "iss", or NULL */
	const char *iss;
	/* "aud" (a string or an array) must name one of these; NULL or 0 =
	 * no audience required */
	const char *const *aud;
	size_t naud;
	long leeway;		/* seconds of clock skew for exp, nbf, iat */
	int require_exp;	/* reject tokens without "exp" */
	long long now;		/* unix time; 0 = time(NULL) */
	size_t max_len;		/* token length cap; 0 = 8192 */
};

/*
 * Verify TOKEN[0..LEN) against the keys in KS under rules R (NULL = all
 * defaults). Returns 0 and sets *CLAIMS to the payload object (owned by the
 * caller: json_decref it; CLAIMS may be NULL), or a negative JWT_E* code.
 * *WHY (WHY may be NULL) always points to a static English reason fit for a
 * 401 body and a log line ("valid" on success).
 *
 * With a "kid" in the header, only keys with that kid are candidates;
 * without one, every key whose family fits the alg is tried. Claims are
 * checked only once the signature holds.
 */
int jwt_verify(const struct jwt_keyset *ks, const char *token, size_t len,
	       const struct jwt_rules *r, json_t **claims, const char **why);

/*
 * Decode strict unpadded base64url (RFC 4648 section 5, as JWS uses it):
 * '=' padding, characters outside [A-Za-z0-9_-], a length of 4n+1 and
 * non-zero unused trailing bits are all rejected, so every byte string has
 * exactly one accepted encoding. On input *OUTLEN is the room in OUT (at
 * least B64URL_DECODED_MAX(LEN) always suffices); on success it is set to the
 * decoded length. Returns 0, or -1 on bad input or lack of room.
 */
#define B64URL_DECODED_MAX(len) ((len) / 4 * 3 + 2)
int b64url_decode(const char *in, size_t len, unsigned char *out,
		  size_t *outlen);

#endif
