/* jwt.c - JWT verification with OpenSSL 3 EVP; see jwt.h. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "jwt.h"

#define TOKEN_MAX_DEFAULT 8192
#define JWKS_MAX (1024 * 1024)
/* jansson only stops at 2048 levels; real headers and claims use a few */
#define JSON_MAX_DEPTH 32
#define RSA_MIN_BITS 2048

enum family { FAM_HMAC, FAM_RSA, FAM_EC };

struct alg {
	const char *name;
	enum family fam;
	const EVP_MD *(*md)(void);
};

/* Every algorithm we verify. ES384/ES512 are absent: we only take P-256. */
static const struct alg algs[] = {
	{ "HS256", FAM_HMAC, EVP_sha256 },
	{ "HS384", FAM_HMAC, EVP_sha384 },
	{ "HS512", FAM_HMAC, EVP_sha512 },
	{ "RS256", FAM_RSA, EVP_sha256 },
	{ "RS384", FAM_RSA, EVP_sha384 },
	{ "RS512", FAM_RSA, EVP_sha512 },
	{ "ES256", FAM_EC, EVP_sha256 },
};

struct key {
	char *kid;			/* owned, or NULL */
	enum family fam;		/* by key material, never a token */
	const struct alg *only;		/* pinned by a JWK "alg", or NULL */
	unsigned char *secret;		/* FAM_HMAC, owned, wiped on free */
	size_t secret_len;
	EVP_PKEY *pkey;			/* FAM_RSA, FAM_EC, owned */
};

struct jwt_keyset {
	struct key *keys;
	size_t n, cap;
};

struct seg {
	const char *p;
	size_t n;
};

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int because(const char **why, int code, const char *reason)
{
	*why = reason;
	return code;
}

static const struct alg *alg_find(const char *name)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (!strcmp(algs[i].name, name))
			return &algs[i];
	return NULL;
}

static const char *family_name(enum family f)
{
	return f == FAM_HMAC ? "oct" : f == FAM_RSA ? "RSA" : "EC";
}

/* ---- base64url ---- */

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int b64url_decode(const char *in, size_t len, unsigned char *out,
		  size_t *outlen)
{
	unsigned long acc = 0;
	size_t o = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -1;  /* 6 bits cannot make a byte */
	if (len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > *outlen)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64val((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1UL << bits) - 1;
		}
	}
	/* non-zero leftover bits would give one value several encodings */
	if (acc)
		return -1;
	*outlen = o;
	return 0;
}

/* Decode into a fresh heap buffer (free with free()); NULL on bad input. */
static unsigned char *b64url_dup(const char *in, size_t len, size_t *outlen)
{
	unsigned char *buf;

	*outlen = B64URL_DECODED_MAX(len);
	buf = malloc(*outlen);
	if (buf && b64url_decode(in, len, buf, outlen)) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

/* ---- keys ---- */

static void key_clear(struct key *k)
{
	free(k->kid);
	OPENSSL_clear_free(k->secret, k->secret_len);
	EVP_PKEY_free(k->pkey);
	memset(k, 0, sizeof(*k));
}

/* Append N keys, taking ownership of them whether or not it succeeds. */
static int keyset_take(struct jwt_keyset *ks, struct key *add, size_t n,
		       char *err, size_t errlen)
{
	if (ks->cap - ks->n < n) {
		size_t cap = ks->cap ? ks->cap : 4;
		struct key *keys;

		while (cap - ks->n < n)
			cap *= 2;
		keys = realloc(ks->keys, cap * sizeof(*keys));
		if (!keys) {
			for (size_t i = 0; i < n; i++)
				key_clear(&add[i]);
			return fail(err, errlen, JWT_ENOMEM, "out of memory");
		}
		ks->keys = keys;
		ks->cap = cap;
	}
	memcpy(ks->keys + ks->n, add, n * sizeof(*add));
	ks->n += n;
	return 0;
}

static int key_set_kid(struct key *k, const char *kid)
{
	if (kid && !(k->kid = strdup(kid)))
		return -1;
	return 0;
}

/* Which family PKEY belongs to, refusing kinds and sizes we do not verify. */
static int pkey_family(EVP_PKEY *pkey, enum family *fam,
		       char *err, size_t errlen)
{
	char group[64];
	size_t glen;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS)
			return fail(err, errlen, JWT_EINVAL, "RSA key of %d "
				    "bits is too weak; use %d bits or more",
				    EVP_PKEY_get_bits(pkey), RSA_MIN_BITS);
		*fam = FAM_RSA;
		return 0;
	}
	if (EVP_PKEY_is_a(pkey, "EC")) {
		if (!EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen))
			group[0] = '\0';
		if (strcmp(group, "prime256v1") && strcmp(group, "P-256"))
			return fail(err, errlen, JWT_EINVAL, "EC key on curve "
				    "'%s': only P-256 (ES256) is supported",
				    group);
		*fam = FAM_EC;
		return 0;
	}
	return fail(err, errlen, JWT_EINVAL, "%s keys are not supported; "
		    "use RSA or EC P-256", EVP_PKEY_get0_type_name(pkey));
}

/* Whether PKEY's public part is sound (on the curve, odd modulus...). */
static int pkey_public_ok(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok = ctx && EVP_PKEY_public_check(ctx) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

struct jwt_keyset *jwt_keyset_new(void)
{
	return calloc(1, sizeof(struct jwt_keyset));
}

void jwt_keyset_free(struct jwt_keyset *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; i < ks->n; i++)
		key_clear(&ks->keys[i]);
	free(ks->keys);
	free(ks);
}

size_t jwt_keyset_count(const struct jwt_keyset *ks)
{
	return ks ? ks->n : 0;
}

int jwt_keyset_add_secret(struct jwt_keyset *ks, const char *kid,
			  const void *secret, size_t len,
			  char *err, size_t errlen)
{
	struct key k = { .fam = FAM_HMAC };

	if (!ks || !secret)
		return fail(err, errlen, JWT_EINVAL, "bad argument");
	if (!len)
		return fail(err, errlen, JWT_EINVAL,
			    "an HMAC secret must not be empty");
	if (len > INT_MAX)
		return fail(err, errlen, JWT_EINVAL, "HMAC secret too long");
	k.secret = OPENSSL_malloc(len);
	if (!k.secret || key_set_kid(&k, kid)) {
		key_clear(&k);
		return fail(err, errlen, JWT_ENOMEM, "out of memory");
	}
	memcpy(k.secret, secret, len);
	k.secret_len = len;
	return keyset_take(ks, &k, 1, err, errlen);
}

static int mem_has(const char *hay, size_t n, const char *needle)
{
	size_t nl = strlen(needle);

	for (size_t i = 0; i + nl <= n; i++)
		if (!memcmp(hay + i, needle, nl))
			return 1;
	return 0;
}

/* Never prompt for a passphrase: verifier configs hold no encrypted PEM. */
static int no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf, (void)size, (void)rw, (void)u;
	return -1;
}

/* The first public key (SPKI or PKCS#1) or certificate key in PEM. */
static EVP_PKEY *pem_public_key(const char *pem, size_t len)
{
	OSSL_DECODER_CTX *dctx;
	EVP_PKEY *pkey = NULL;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x;

	if (!bio)
		return NULL;
	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
					     EVP_PKEY_PUBLIC_KEY, NULL, NULL);
	if (dctx && !OSSL_DECODER_from_bio(dctx, bio))
		pkey = NULL;
	OSSL_DECODER_CTX_free(dctx);
	if (!pkey && BIO_reset(bio) == 1) {
		x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
		if (x)
			pkey = X509_get_pubkey(x);
		X509_free(x);
	}
	BIO_free(bio);
	return pkey;
}

int jwt_keyset_add_pem(struct jwt_keyset *ks, const char *kid,
		       const char *pem, size_t len, char *err, size_t errlen)
{
	struct key k = { 0 };
	int rc;

	if (!ks || !pem || !len || len > INT_MAX)
		return fail(err, errlen, JWT_EINVAL, "bad argument");
	if (mem_has(pem, len, "PRIVATE KEY"))
		return fail(err, errlen, JWT_EINVAL, "this PEM holds a private "
			    "key; configure the public key or certificate");
	ERR_set_mark();
	k.pkey = pem_public_key(pem, len);
	ERR_pop_to_mark();
	if (!k.pkey)
		return fail(err, errlen, JWT_EINVAL, "no PEM public key or "
			    "certificate found");
	rc = pkey_family(k.pkey, &k.fam, err, errlen);
	if (!rc && key_set_kid(&k, kid))
		rc = fail(err, errlen, JWT_ENOMEM, "out of memory");
	if (rc) {
		key_clear(&k);
		return rc;
	}
	return keyset_take(ks, &k, 1, err, errlen);
}

/* ---- JWKS ---- */

/* A public key of type NAME from the parameters in BLD, checked sound. */
static EVP_PKEY *pkey_fromdata(const char *name, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
	EVP_PKEY *pkey = NULL;

	if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	if (pkey && !pkey_public_ok(pkey)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

static EVP_PKEY *rsa_from_ne(const unsigned char *n, size_t nlen,
			     const unsigned char *e, size_t elen)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL);
	BIGNUM *be = BN_bin2bn(e, (int)elen, NULL);
	EVP_PKEY *pkey = NULL;

	if (bld && bn && be &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		pkey = pkey_fromdata("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return pkey;
}

static EVP_PKEY *p256_from_xy(const unsigned char *x, const unsigned char *y)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	unsigned char point[65];
	EVP_PKEY *pkey = NULL;

	point[0] = 0x04;  /* uncompressed: 04 || x || y */
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	if (bld &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    "prime256v1", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					     point, sizeof(point)))
		pkey = pkey_fromdata("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

/* The base64url member NAME of JWK JK, decoded; NULL when absent or bad. */
static unsigned char *jwk_bytes(json_t *jk, const char *name, size_t *len)
{
	json_t *v = json_object_get(jk, name);

	if (!json_is_string(v) || !json_string_length(v))
		return NULL;
	return b64url_dup(json_string_value(v), json_string_length(v), len);
}

static int jwk_oct(json_t *jk, size_t i, struct key *k, char *err, size_t el)
{
	unsigned char *raw = jwk_bytes(jk, "k", &k->secret_len);

	if (!raw || !k->secret_len || k->secret_len > INT_MAX) {
		free(raw);
		return fail(err, el, JWT_EINVAL, "JWKS key %zu: \"k\" is "
			    "missing, empty or not base64url", i);
	}
	/* move into OpenSSL's heap so key_clear can wipe it */
	k->secret = OPENSSL_memdup(raw, k->secret_len);
	OPENSSL_cleanse(raw, k->secret_len);
	free(raw);
	if (!k->secret)
		return fail(err, el, JWT_ENOMEM, "out of memory");
	k->fam = FAM_HMAC;
	return 0;
}

static int jwk_rsa(json_t *jk, size_t i, struct key *k, char *err, size_t el)
{
	size_t nlen = 0, elen = 0;
	unsigned char *n = jwk_bytes(jk, "n", &nlen);
	unsigned char *e = jwk_bytes(jk, "e", &elen);
	int rc = 0;

	if (!n || !e)
		rc = fail(err, el, JWT_EINVAL, "JWKS key %zu: RSA \"n\" or "
			  "\"e\" is missing or not base64url", i);
	else if (!(k->pkey = rsa_from_ne(n, nlen, e, elen)))
		rc = fail(err, el, JWT_EINVAL, "JWKS key %zu: not a valid "
			  "RSA public key", i);
	free(n);
	free(e);
	if (rc)
		return rc;
	rc = pkey_family(k->pkey, &k->fam, err, el);
	if (rc) {
		char why[160];

		snprintf(why, sizeof(why), "%s", err ? err : "");
		return fail(err, el, rc, "JWKS key %zu: %s", i, why);
	}
	return 0;
}

static int jwk_ec(json_t *jk, size_t i, struct key *k, char *err, size_t el)
{
	size_t xlen = 0, ylen = 0;
	unsigned char *x = jwk_bytes(jk, "x", &xlen);
	unsigned char *y = jwk_bytes(jk, "y", &ylen);
	int rc = 0;

	if (!x || !y || xlen != 32 || ylen != 32)
		rc = fail(err, el, JWT_EINVAL, "JWKS key %zu: EC \"x\" and "
			  "\"y\" must be 32 bytes of base64url each", i);
	else if (!(k->pkey = p256_from_xy(x, y)))
		rc = fail(err, el, JWT_EINVAL, "JWKS key %zu: point is not "
			  "on P-256", i);
	else
		k->fam = FAM_EC;
	free(x);
	free(y);
	return rc;
}

/* Whether JWK "key_ops", when present, allows verification. */
static int jwk_ops_verify(json_t *ops)
{
	size_t i;
	json_t *op;

	if (!ops)
		return 1;
	json_array_foreach(ops, i, op)
		if (json_is_string(op) && !strcmp(json_string_value(op),
						  "verify"))
			return 1;
	return 0;
}

/*
 * Parse the I-th JWK into K: 1 when taken, 0 when skipped as meant for
 * something else or of a kind we do not support, negative on a bad key.
 */
static int jwk_parse(json_t *jk, size_t i, struct key *k,
		     char *err, size_t el)
{
	json_t *use = json_object_get(jk, "use");
	json_t *ops = json_object_get(jk, "key_ops");
	json_t *alg = json_object_get(jk, "alg");
	json_t *kid = json_object_get(jk, "kid");
	json_t *crv = json_object_get(jk, "crv");
	const char *kty = json_string_value(json_object_get(jk, "kty"));
	int rc;

	if (!json_is_object(jk))
		return fail(err, el, JWT_EINVAL, "JWKS key %zu is not an "
			    "object", i);
	if (!kty)
		return fail(err, el, JWT_EINVAL, "JWKS key %zu has no "
			    "\"kty\" string", i);
	if ((use && !json_is_string(use)) || (ops && !json_is_array(ops)) ||
	    (alg && !json_is_string(alg)) || (kid && !json_is_string(kid)))
		return fail(err, el, JWT_EINVAL, "JWKS key %zu: \"use\", "
			    "\"alg\" and \"kid\" must be strings, \"key_ops\" "
			    "an array", i);
	if (use && strcmp(json_string_value(use), "sig"))
		return 0;
	if (!jwk_ops_verify(ops))
		return 0;
	if (alg && !(k->only = alg_find(json_string_value(alg))))
		return 0;
	if (!strcmp(kty, "oct"))
		rc = jwk_oct(jk, i, k, err, el);
	else if (!strcmp(kty, "RSA"))
		rc = jwk_rsa(jk, i, k, err, el);
	else if (!strcmp(kty, "EC") && json_is_string(crv) &&
		 !strcmp(json_string_value(crv), "P-256"))
		rc = jwk_ec(jk, i, k, err, el);
	else if (!strcmp(kty, "EC") && !json_is_string(crv))
		return fail(err, el, JWT_EINVAL, "JWKS key %zu: EC key "
			    "without \"crv\"", i);
	else
		return 0;  /* another curve or kty: not ours to use */
	if (!rc && k->only && k->only->fam != k->fam)
		rc = fail(err, el, JWT_EINVAL, "JWKS key %zu: alg %s does not "
			  "fit kty %s", i, k->only->name, family_name(k->fam));
	if (!rc && key_set_kid(k, json_string_value(kid)))
		rc = fail(err, el, JWT_ENOMEM, "out of memory");
	if (rc)
		return rc;
	return 1;
}

static int jwks_take(struct jwt_keyset *ks, json_t *keys,
		     char *err, size_t errlen)
{
	size_t i, n = 0, total = json_array_size(keys);
	struct key *add = calloc(total ? total : 1, sizeof(*add));
	json_t *jk;
	int rc = 0;

	if (!add)
		return fail(err, errlen, JWT_ENOMEM, "out of memory");
	json_array_foreach(keys, i, jk) {
		rc = jwk_parse(jk, i, &add[n], err, errlen);
		if (rc < 0)
			break;
		if (rc == 0)
			key_clear(&add[n]);
		else
			n++;
	}
	if (rc >= 0 && !n)
		rc = fail(err, errlen, JWT_EINVAL, "JWKS has no usable signing "
			  "key (RSA, EC P-256 or oct)");
	if (rc >= 0) {
		rc = keyset_take(ks, add, n, err, errlen);
	} else {
		for (i = 0; i <= n && i < total; i++)
			key_clear(&add[i]);
	}
	free(add);
	return rc;
}

int jwt_keyset_load_jwks(struct jwt_keyset *ks, const char *json, size_t len,
			 char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc, *keys;
	int rc;

	if (!ks || !json)
		return fail(err, errlen, JWT_EINVAL, "bad argument");
	if (len > JWKS_MAX)
		return fail(err, errlen, JWT_EINVAL, "JWKS is larger than "
			    "1 MiB");
	doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return fail(err, errlen, JWT_EINVAL, "JWKS is not valid JSON: "
			    "%s (line %d, column %d)", jerr.text, jerr.line,
			    jerr.column);
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys))
		rc = fail(err, errlen, JWT_EINVAL, "JWKS has no \"keys\" "
			  "array");
	else {
		ERR_set_mark();
		rc = jwks_take(ks, keys, err, errlen);
		ERR_pop_to_mark();
	}
	json_decref(doc);
	return rc;
}

int jwt_keyset_load_jwks_file(struct jwt_keyset *ks, const char *path,
			      char *err, size_t errlen)
{
	char msg[256];
	char *buf;
	size_t n;
	FILE *f;
	int rc;

	if (!ks || !path)
		return fail(err, errlen, JWT_EINVAL, "bad argument");
	f = fopen(path, "rb");
	if (!f)
		return fail(err, errlen, JWT_EINVAL, "cannot open JWKS file "
			    "%s: %m", path);
	buf = malloc(JWKS_MAX + 1);
	if (!buf) {
		fclose(f);
		return fail(err, errlen, JWT_ENOMEM, "out of memory");
	}
	/* one byte more than allowed tells "too large" from "just fits" */
	n = fread(buf, 1, JWKS_MAX + 1, f);
	if (ferror(f))
		rc = fail(err, errlen, JWT_EINVAL, "cannot read JWKS file %s: "
			  "%m", path);
	else if (n > JWKS_MAX)
		rc = fail(err, errlen, JWT_EINVAL, "JWKS file %s is larger "
			  "than 1 MiB", path);
	else if ((rc = jwt_keyset_load_jwks(ks, buf, n, msg, sizeof(msg))))
		fail(err, errlen, rc, "%s: %s", path, msg);
	fclose(f);
	free(buf);
	return rc;
}

/* ---- verification ---- */

/* Split into exactly three dot-separated segments. */
static int split(const char *t, size_t len, struct seg s[3])
{
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && t[i] != '.')
			continue;
		if (k == 3)
			return -1;
		s[k].p = t + start;
		s[k].n = i - start;
		k++;
		start = i + 1;
	}
	return k == 3 ? 0 : -1;
}

/* Whether valid JSON in S nests deeper than JSON_MAX_DEPTH (a pre-check:
 * invalid JSON is left for the parser to refuse). */
static int json_too_deep(const unsigned char *s, size_t n)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < n; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
		} else if (s[i] == '"') {
			in_str = 1;
		} else if (s[i] == '{' || s[i] == '[') {
			if (++depth > JSON_MAX_DEPTH)
				return 1;
		} else if (s[i] == '}' || s[i] == ']') {
			depth--;
		}
	}
	return 0;
}

/* A base64url segment holding a JSON object, or NULL. */
static json_t *segment_object(const struct seg *s)
{
	unsigned char *raw;
	json_t *obj = NULL;
	size_t n;

	if (!s->n)
		return NULL;
	raw = b64url_dup(s->p, s->n, &n);
	if (raw && !json_too_deep(raw, n))
		obj = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES,
				 NULL);
	free(raw);
	if (obj && !json_is_object(obj)) {
		json_decref(obj);
		obj = NULL;
	}
	return obj;
}

static int header_check(json_t *hdr, const struct jwt_rules *r,
			const struct alg **alg, const char **kid,
			const char **why)
{
	json_t *jalg = json_object_get(hdr, "alg");
	json_t *jkid = json_object_get(hdr, "kid");
	const char *name = json_string_value(jalg);
	size_t i;

	if (!name)
		return because(why, JWT_EMALFORMED, "malformed token");
	if (!strcasecmp(name, "none"))
		return because(why, JWT_EALGNONE, "alg none refused");
	*alg = alg_find(name);
	if (!*alg)
		return because(why, JWT_EALG, "unsupported algorithm");
	for (i = 0; r->algs && i < r->nalgs; i++)
		if (r->algs[i] && !strcmp(r->algs[i], name))
			break;
	if (r->algs && r->nalgs && i == r->nalgs)
		return because(why, JWT_EALG, "algorithm not allowed");
	if (jkid && !json_is_string(jkid))
		return because(why, JWT_EMALFORMED, "malformed token");
	*kid = json_string_value(jkid);
	/* RFC 7515 4.1.11: we understand no extension, so none may be crit */
	if (json_object_get(hdr, "crit"))
		return because(why, JWT_EMALFORMED,
			       "unsupported critical header");
	return 0;
}

/* Claims that must be numbers when present; others are the caller's. */
static int claim_types_ok(json_t *p)
{
	static const char *const nums[] = { "exp", "nbf", "iat" };

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		json_t *v = json_object_get(p, nums[i]);

		if (v && !json_is_number(v))
			return 0;
	}
	return 1;
}

/* JOSE ES256 signatures are r||s, 32 bytes each; EVP wants DER. */
static int es256_to_der(const unsigned char *sig, size_t slen,
			unsigned char **der)
{
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	int n = -1;

	if (slen != 64)
		return -1;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
		r = s = NULL;  /* now owned by es */
		n = i2d_ECDSA_SIG(es, der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return n > 0 ? n : -1;
}

static int hmac_ok(const struct key *k, const struct alg *a,
		   const unsigned char *msg, size_t mlen,
		   const unsigned char *sig, size_t slen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int ok;

	if (!HMAC(a->md(), k->secret, (int)k->secret_len, msg, mlen, mac,
		  &maclen))
		return 0;
	ok = slen == maclen && !CRYPTO_memcmp(mac, sig, maclen);
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

static int pkey_ok(const struct key *k, const struct alg *a,
		   const unsigned char *msg, size_t mlen,
		   const unsigned char *sig, size_t slen)
{
	unsigned char *der = NULL;
	EVP_MD_CTX *ctx;
	int ok = 0, n;

	if (a->fam == FAM_EC) {
		n = es256_to_der(sig, slen, &der);
		if (n < 0)
			return 0;
		sig = der;
		slen = (size_t)n;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestVerifyInit(ctx, NULL, a->md(), NULL,
					k->pkey) == 1)
		ok = EVP_DigestVerify(ctx, sig, slen, msg, mlen) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

/* A key serves ALG only if its own family says so: never the token. */
static int key_fits(const struct key *k, const struct alg *a)
{
	return k->fam == a->fam && (!k->only || k->only == a);
}

static int key_named(const struct jwt_keyset *ks, const struct key *k,
		     const char *kid)
{
	if (!kid)
		return 1;
	if (k->kid)
		return !strcmp(k->kid, kid);
	return ks->n == 1;
}

static int signature_check(const struct jwt_keyset *ks, const struct alg *a,
			   const char *kid, const struct seg s[3],
			   const unsigned char *sig, size_t slen,
			   const char **why)
{
	const unsigned char *msg = (const unsigned char *)s[0].p;
	size_t mlen = (size_t)(s[2].p - s[0].p) - 1;  /* header.payload */
	size_t named = 0, tried = 0;

	for (size_t i = 0; i < ks->n; i++) {
		const struct key *k = &ks->keys[i];

		if (!key_named(ks, k, kid))
			continue;
		named++;
		if (!key_fits(k, a))
			continue;
		tried++;
		if (a->fam == FAM_HMAC ? hmac_ok(k, a, msg, mlen, sig, slen)
				       : pkey_ok(k, a, msg, mlen, sig, slen))
			return 0;
	}
	if (tried)
		return because(why, JWT_ESIG, "signature mismatch");
	if (!named)
		return because(why, JWT_ENOKEY, kid ? "no key for kid"
						    : "no key configured");
	return because(why, JWT_EKEYALG, "algorithm not allowed for this key");
}

static int aud_named(const char *aud, const struct jwt_rules *r)
{
	for (size_t i = 0; i < r->naud; i++)
		if (r->aud[i] && !strcmp(r->aud[i], aud))
			return 1;
	return 0;
}

static int aud_ok(json_t *v, const struct jwt_rules *r)
{
	json_t *e;
	size_t i;

	if (json_is_string(v))
		return aud_named(json_string_value(v), r);
	json_array_foreach(v, i, e)
		if (json_is_string(e) && aud_named(json_string_value(e), r))
			return 1;
	return 0;
}

static int claims_check(json_t *p, const struct jwt_rules *r,
			const char **why)
{
	double now = r->now ? (double)r->now : (double)time(NULL);
	double leeway = r->leeway > 0 ? (double)r->leeway : 0;
	json_t *exp = json_object_get(p, "exp");
	json_t *nbf = json_object_get(p, "nbf");
	json_t *iat = json_object_get(p, "iat");
	json_t *iss = json_object_get(p, "iss");

	if (!exp && r->require_exp)
		return because(why, JWT_EEXPIRED, "token has no expiry");
	/* RFC 7519 4.1.4: valid only while now is before exp */
	if (exp && now >= json_number_value(exp) + leeway)
		return because(why, JWT_EEXPIRED, "token expired");
	if (nbf && now + leeway < json_number_value(nbf))
		return because(why, JWT_ENOTYET, "token not yet valid");
	if (iat && now + leeway < json_number_value(iat))
		return because(why, JWT_ENOTYET, "token issued in the future");
	if (r->iss && (!json_is_string(iss) ||
		       strcmp(json_string_value(iss), r->iss)))
		return because(why, JWT_EISS, "issuer mismatch");
	if (r->aud && r->naud && !aud_ok(json_object_get(p, "aud"), r))
		return because(why, JWT_EAUD, "audience mismatch");
	return 0;
}

/*
 * Cheap structural checks come first so junk costs no public-key
 * operation; claims are judged only once the signature holds, so an
 * attacker learns nothing about them from forged tokens.
 */
static int verify(const struct jwt_keyset *ks, const char *token, size_t len,
		  const struct jwt_rules *r, json_t **payload, const char **why)
{
	size_t max = r->max_len ? r->max_len : TOKEN_MAX_DEFAULT;
	const struct alg *alg = NULL;
	const char *kid = NULL;
	unsigned char *sig = NULL;
	struct seg s[3];
	json_t *hdr;
	size_t slen;
	int rc;

	if (len > max)
		return because(why, JWT_ETOOLONG, "token too long");
	if (split(token, len, s) || !(hdr = segment_object(&s[0])))
		return because(why, JWT_EMALFORMED, "malformed token");
	rc = header_check(hdr, r, &alg, &kid, why);
	if (!rc && (!s[2].n || !(*payload = segment_object(&s[1])) ||
		    !claim_types_ok(*payload) ||
		    !(sig = b64url_dup(s[2].p, s[2].n, &slen))))
		rc = because(why, JWT_EMALFORMED, "malformed token");
	if (!rc)
		rc = signature_check(ks, alg, kid, s, sig, slen, why);
	if (!rc)
		rc = claims_check(*payload, r, why);
	free(sig);
	json_decref(hdr);  /* last: KID points into it */
	return rc;
}

int jwt_verify(const struct jwt_keyset *ks, const char *token, size_t len,
	       const struct jwt_rules *r, json_t **claims, const char **why)
{
	static const struct jwt_rules defaults;
	const char *reason = "valid";
	json_t *payload = NULL;
	int rc;

	if (!ks || !token) {
		rc = because(&reason, JWT_EINVAL, "bad argument");
	} else {
		/* keep OpenSSL's per-thread error queue as we found it, so a
		 * TLS connection on this thread never sees our failures */
		ERR_set_mark();
		rc = verify(ks, token, len, r ? r : &defaults, &payload,
			    &reason);
		ERR_pop_to_mark();
	}
	if (why)
		*why = reason;
	if (claims)
		*claims = rc ? NULL : payload;
	if (rc || !claims)
		json_decref(payload);
	return rc;
}
