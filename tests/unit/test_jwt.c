/*
 * JWT verification (plugins/rest/jwt.c) and password hashes
 * (plugins/rest/passwd.c) for the gateway's auth filters. Keys are made
 * here with OpenSSL, and tokens signed by the small signer below.
 */
#define _GNU_SOURCE  /* asprintf */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <crypt.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jwt.h"
#include "passwd.h"

#define NOW 1700000000LL
#define SECRET "a-shared-secret-of-decent-length!"

static struct {
	EVP_PKEY *rsa, *rsa2, *ec, *ec2;
	char *rsa_pem, *rsa2_pem, *ec_pem;
} K;

/* ---- a tiny signer ---- */

static char *b64url(const void *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	size_t len;

	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	len = strcspn(out, "=");
	out[len] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	return out;
}

static const EVP_MD *md_for(const char *alg)
{
	if (strstr(alg, "384"))
		return EVP_sha384();
	if (strstr(alg, "512"))
		return EVP_sha512();
	return EVP_sha256();
}

/* DER ECDSA-Sig-Value to JOSE r||s. */
static size_t der_to_raw(const unsigned char *der, size_t n, unsigned char *raw)
{
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &der, (long)n);
	const BIGNUM *r, *s;

	assert_non_null(es);
	ECDSA_SIG_get0(es, &r, &s);
	BN_bn2binpad(r, raw, 32);
	BN_bn2binpad(s, raw + 32, 32);
	ECDSA_SIG_free(es);
	return 64;
}

/* Sign HDR.PAYLOAD with SECRET (HS*) or PKEY (RS*, ES*); DER keeps an ES256
 * signature in DER form; a NULL key leaves the signature empty. */
static char *sign_ex(const char *hdr, const char *payload, const void *secret,
		     size_t slen, EVP_PKEY *pkey, int der)
{
	json_t *h = json_loads(hdr, 0, NULL);
	const char *alg = json_string_value(json_object_get(h, "alg"));
	char *eh = b64url(hdr, strlen(hdr)), *ep = b64url(payload,
							   strlen(payload));
	unsigned char sig[1024], raw[64];
	size_t siglen = 0;
	char *input, *esig, *tok;

	assert_non_null(alg);
	assert_true(asprintf(&input, "%s.%s", eh, ep) > 0);
	if (secret) {
		unsigned int n = 0;

		HMAC(md_for(alg), secret, (int)slen, (unsigned char *)input,
		     strlen(input), sig, &n);
		siglen = n;
	} else if (pkey) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		siglen = sizeof(sig);
		assert_int_equal(EVP_DigestSignInit(ctx, NULL, md_for(alg),
						    NULL, pkey), 1);
		assert_int_equal(EVP_DigestSign(ctx, sig, &siglen,
						(unsigned char *)input,
						strlen(input)), 1);
		EVP_MD_CTX_free(ctx);
		if (EVP_PKEY_is_a(pkey, "EC") && !der) {
			siglen = der_to_raw(sig, siglen, raw);
			memcpy(sig, raw, siglen);
		}
	}
	esig = b64url(sig, siglen);
	assert_true(asprintf(&tok, "%s.%s", input, esig) > 0);
	free(eh);
	free(ep);
	free(input);
	free(esig);
	json_decref(h);
	return tok;
}

static char *sign_hs(const char *hdr, const char *payload)
{
	return sign_ex(hdr, payload, SECRET, strlen(SECRET), NULL, 0);
}

static char *sign_pk(const char *hdr, const char *payload, EVP_PKEY *pkey)
{
	return sign_ex(hdr, payload, NULL, 0, pkey, 0);
}

static int verify(const struct jwt_keyset *ks, const char *tok,
		  const struct jwt_rules *r, const char **why)
{
	struct jwt_rules dflt = { .now = NOW };
	const char *reason = NULL;
	json_t *claims = (json_t *)1;
	int rc;

	rc = jwt_verify(ks, tok, strlen(tok), r ? r : &dflt, &claims, &reason);
	assert_non_null(reason);
	if (rc) {
		assert_null(claims);
	} else {
		assert_true(json_is_object(claims));
		json_decref(claims);
	}
	if (why)
		*why = reason;
	return rc;
}

static struct jwt_keyset *hs_keyset(void)
{
	struct jwt_keyset *ks = jwt_keyset_new();
	char err[256];

	assert_non_null(ks);
	assert_int_equal(jwt_keyset_add_secret(ks, NULL, SECRET,
					       strlen(SECRET), err,
					       sizeof(err)), 0);
	return ks;
}

static struct jwt_keyset *pem_keyset(const char *kid, const char *pem)
{
	struct jwt_keyset *ks = jwt_keyset_new();
	char err[256];

	assert_int_equal(jwt_keyset_add_pem(ks, kid, pem, strlen(pem), err,
					    sizeof(err)), 0);
	return ks;
}

static char *pubkey_pem(EVP_PKEY *pkey, const char *structure)
{
	OSSL_ENCODER_CTX *ectx;
	unsigned char *data = NULL;
	size_t len = 0;
	char *s;

	ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_PUBLIC_KEY, "PEM",
					     structure, NULL);
	assert_non_null(ectx);
	assert_int_equal(OSSL_ENCODER_to_data(ectx, &data, &len), 1);
	OSSL_ENCODER_CTX_free(ectx);
	s = strndup((char *)data, len);
	OPENSSL_free(data);
	return s;
}

static int keys_setup(void **state)
{
	(void)state;
	K.rsa = EVP_RSA_gen(2048);
	K.rsa2 = EVP_RSA_gen(2048);
	K.ec = EVP_EC_gen("P-256");
	K.ec2 = EVP_EC_gen("P-256");
	if (!K.rsa || !K.rsa2 || !K.ec || !K.ec2)
		return -1;
	K.rsa_pem = pubkey_pem(K.rsa, "SubjectPublicKeyInfo");
	K.rsa2_pem = pubkey_pem(K.rsa2, "SubjectPublicKeyInfo");
	K.ec_pem = pubkey_pem(K.ec, "SubjectPublicKeyInfo");
	return 0;
}

static int keys_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(K.rsa);
	EVP_PKEY_free(K.rsa2);
	EVP_PKEY_free(K.ec);
	EVP_PKEY_free(K.ec2);
	free(K.rsa_pem);
	free(K.rsa2_pem);
	free(K.ec_pem);
	return 0;
}

/* ---- valid tokens ---- */

static void test_jwt_accepts_hs256_hs384_hs512(void **state)
{
	static const char *const hdrs[] = {
		"{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS384\"}",
		"{\"alg\":\"HS512\"}",
	};
	struct jwt_keyset *ks = hs_keyset();
	const char *why;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		char *tok = sign_hs(hdrs[i], "{\"sub\":\"alice\"}");

		assert_int_equal(verify(ks, tok, NULL, &why), 0);
		assert_string_equal(why, "valid");
		free(tok);
	}
	jwt_keyset_free(ks);
}

static void test_jwt_returns_claims_to_caller(void **state)
{
	struct jwt_keyset *ks = hs_keyset();
	char *tok = sign_hs("{\"alg\":\"HS256\"}",
			    "{\"sub\":\"alice\",\"exp\":1700000100}");
	struct jwt_rules r = { .now = NOW, .require_exp = 1 };
	json_t *claims = NULL;
	const char *why;

	(void)state;
	assert_int_equal(jwt_verify(ks, tok, strlen(tok), &r, &claims, &why),
			 0);
	assert_string_equal(json_string_value(json_object_get(claims, "sub")),
			    "alice");
	json_decref(claims);
	/* CLAIMS and WHY may be NULL */
	assert_int_equal(jwt_verify(ks, tok, strlen(tok), &r, NULL, NULL), 0);
	free(tok);
	jwt_keyset_free(ks);
}

static void test_jwt_accepts_rs256_rs384_rs512(void **state)
{
	static const char *const hdrs[] = {
		"{\"alg\":\"RS256\"}", "{\"alg\":\"RS384\"}",
		"{\"alg\":\"RS512\"}",
	};
	struct jwt_keyset *ks = pem_keyset(NULL, K.rsa_pem);

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		char *tok = sign_pk(hdrs[i], "{\"sub\":\"bob\"}", K.rsa);

		assert_int_equal(verify(ks, tok, NULL, NULL), 0);
		free(tok);
	}
	jwt_keyset_free(ks);
}

static void test_jwt_accepts_es256(void **state)
{
	struct jwt_keyset *ks = pem_keyset(NULL, K.ec_pem);

	(void)state;
	/* ECDSA signatures are randomised: sign a few */
	for (int i = 0; i < 8; i++) {
		char *tok = sign_pk("{\"alg\":\"ES256\"}", "{\"n\":1}", K.ec);

		assert_int_equal(verify(ks, tok, NULL, NULL), 0);
		free(tok);
	}
	jwt_keyset_free(ks);
}

static void test_jwt_accepts_pkcs1_pem_and_certificate(void **state)
{
	char *pkcs1 = pubkey_pem(K.rsa, "type-specific");
	char *tok = sign_pk("{\"alg\":\"RS256\"}", "{}", K.rsa);
	struct jwt_keyset *ks;
	X509 *x = X509_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *cert;
	long n;

	(void)state;
	assert_non_null(strstr(pkcs1, "BEGIN RSA PUBLIC KEY"));
	ks = pem_keyset(NULL, pkcs1);
	assert_int_equal(verify(ks, tok, NULL, NULL), 0);
	jwt_keyset_free(ks);

	/* a self-signed certificate carrying the RSA key */
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
				   MBSTRING_ASC, (unsigned char *)"jwt", -1,
				   -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, K.rsa);
	assert_true(X509_sign(x, K.rsa, EVP_sha256()) > 0);
	PEM_write_bio_X509(bio, x);
	n = BIO_get_mem_data(bio, &cert);
	ks = jwt_keyset_new();
	assert_int_equal(jwt_keyset_add_pem(ks, "c", cert, (size_t)n, NULL,
					    0), 0);
	assert_int_equal(verify(ks, tok, NULL, NULL), 0);
	jwt_keyset_free(ks);
	BIO_free(bio);
	X509_free(x);
	free(tok);
	free(pkcs1);
}

/* ---- forgeries ---- */

static void test_jwt_rejects_tampered_payload(void **state)
{
	struct jwt_keyset *ks = hs_keyset();
	char *tok = sign_hs("{\"alg\":\"HS256\"}", "{\"admin\":false}");
	char *evil = b64url("{\"admin\":true}", 14);
	char *dot1 = strchr(tok, '.'), *dot2 = strchr(dot1 + 1, '.');
	char *forged;
	const char *why;

	(void)state;
	assert_true(asprintf(&forged, "%.*s.%s%s", (int)(dot1 - tok), tok,
			     evil, dot2) > 0);
	assert_int_equal(verify(ks, forged, NULL, &why), JWT_ESIG);
	assert_string_equal(why, "signature mismatch");
	free(forged);
	free(evil);
	free(tok);
	jwt_keyset_free(ks);
}

static void test_jwt_rejects_tampered_signature(void **state)
{
	struct jwt_keyset *hks = hs_keyset();
	struct jwt_keyset *rks = pem_keyset(NULL, K.rsa_pem);
	struct jwt_keyset *eks = pem_keyset(NULL, K.ec_pem);
	char *toks[3] = {
		sign_hs("{\"alg\":\"HS256\"}", "{}"),
		sign_pk("{\"alg\":\"RS256\"}", "{}", K.rsa),
		sign_pk("{\"alg\":\"ES256\"}", "{}", K.ec),
	};
	const struct jwt_keyset *kss[3] = { hks, rks, eks };

	(void)state;
	for (int i = 0; i < 3; i++) {
		char *sig = strrchr(toks[i], '.') + 1;

		/* flip a character well inside the signature */
		sig[5] = sig[5] == 'A' ? 'B' : 'A';
		assert_int_equal(verify(kss[i], toks[i], NULL, NULL),
				 JWT_ESIG);
		/* and drop the last one (a truncated signature) */
		toks[i][strlen(toks[i]) - 2] = '\0';
		assert_int_not_equal(verify(kss[i], toks[i], NULL, NULL), 0);
		free(toks[i]);
	}
	jwt_keyset_free(hks);
	jwt_keyset_free(rks);
	jwt_keyset_free(eks);
}

static void test_jwt_rejects_wrong_key(void **state)
{
	struct jwt_keyset *ks = jwt_keyset_new();
	char *t1 = sign_ex("{\"alg\":\"HS256\"}", "{}", "other", 5, NULL, 0);
	char *t2 = sign_pk("{\"alg\":\"RS256\"}", "{}", K.rsa2);
	char *t3 = sign_pk("{\"alg\":\"ES256\"}", "{}", K.ec2);

	(void)state;
	assert_int_equal(jwt_keyset_add_secret(ks, NULL, SECRET,
					       strlen(SECRET), NULL, 0), 0);
	assert_int_equal(jwt_keyset_add_pem(ks, NULL, K.rsa_pem,
					    strlen(K.rsa_pem), NULL, 0), 0);
	assert_int_equal(jwt_keyset_add_pem(ks, NULL, K.ec_pem,
					    strlen(K.ec_pem), NULL, 0), 0);
	assert_int_equal(jwt_keyset_count(ks), 3);
	assert_int_equal(verify(ks, t1, NULL, NULL), JWT_ESIG);
	assert_int_equal(verify(ks, t2, NULL, NULL), JWT_ESIG);
	assert_int_equal(verify(ks, t3, NULL, NULL), JWT_ESIG);
	free(t1);
	free(t2);
	free(t3);
	jwt_keyset_free(ks);
}

/* ---- claims ---- */

static void test_jwt_rejects_expired_but_honours_leeway(void **state)
{
	struct jwt_keyset *ks = hs_keyset();
	char *tok = sign_hs("{\"alg\":\"HS256\"}", "{\"exp\":1699999990}");
	char *ok = sign_hs("{\"alg\":\"HS256\"}", "{\"exp\":1700000001.5}");
	struct jwt_rules r = { .now = NOW };
	const char *why;

	(void)state;
	assert_int_equal(verify(ks, tok, &r, &why), JWT_EEXPIRED);
	assert_string_equal(why, "token expired");
	r.leeway = 30;
	assert_int_equal(verify(ks, tok, &r, NULL), 0);
	r.leeway = 10;  /* exp + leeway == now is already expired */
	assert_int_equal(verify(ks, tok, &r, NULL), JWT_EEXPIRED);
	r.leeway = 0;
	assert_int_equal(verify(ks, ok, &r, NULL), 0);
	free(tok);
	free(ok);
	jwt_keyset_free(ks);
}

static void test_jwt_rejects_nbf_and_iat_in_future(void **state)
{
	struct jwt_keyset *ks = hs_keyset();
	char *nbf = sign_hs("{\"alg\":\"HS256\"}", "{\"nbf\":1700000060}");
	char *iat = sign_hs("{\"alg\":\"HS256\"}", "{\"iat\":1700000060}");
	struct jwt_rules r = { .now = NOW };
	const char *why;

	(void)state;
	assert_int_equal(verify(ks, nbf, &r, &why), JWT_ENOTYET);
	assert_string_equal(why, "token not yet valid");
	assert_int_equal(verify(ks, iat, &r, NULL), JWT_ENOTYET);
	r.leeway = 60;
	assert_int_equal(verify(ks, nbf, &r, NULL), 0);
	assert_int_equal(verify(ks, iat, &r, NULL), 0);
	free(nbf);
	free(iat);
	jwt_keyset_free(ks);
}

static void test_jwt_requires_exp_when_asked(void **state)
{
	struct jwt_keyset *ks = hs_keyset();
	char *tok = sign_hs("{\"alg\":\"HS256\"}", "{\"sub\":\"x\"}");
	struct jwt_rules r = { .now = NOW, .require_exp = 1 };

	(void)state;
	assert_int_equal(verify(ks, tok, &r, NULL), JWT_EEXPIRED);
	r.require_exp = 0;
	assert_int_equal(verify(ks, tok, &r, NULL), 0);
	free(tok);
	jwt_keyset_free(ks);
}

static void test_jwt_checks_issuer(void **state)
{
	struct jwt_keyset *ks = hs_keyset();
	char *tok = sign_hs("{\"alg\":\"HS256\"}", "{\"iss\":\"https://idp\"}");
	char *none = sign_hs("{\"alg\":\"HS256\"}", "{}");
	struct jwt_rules r = { .now = NOW, .iss = "https://idp" };
	const char *why;

	(void)state;
	assert_int_equal(verify(ks, tok, &r, NULL), 0);
	r.iss = "https://other";
	assert_int_equal(verify(ks, tok, &r, &why), JWT_EISS);
	assert_string_equal(why, "issuer mismatch");
	assert_int_equal(verify(ks, none, &r, NULL), JWT_EISS);
	free(tok);
	free(none);
	jwt_keyset_free(ks);
}

static void test_jwt_checks_audience_string_and_array(void **state)
{
	static const char *const want[] = { "api", "admin" };
	static const char *const other[] = { "billing" };
	struct jwt_keyset *ks = hs_keyset();
	char *str = sign_hs("{\"alg\":\"HS256\"}", "{\"aud\":\"admin\"}");
	char *arr = sign_hs("{\"alg\":\"HS256\"}",
			    "{\"aud\":[\"web\",7,\"api\"]}");
	char *none = sign_hs("{\"alg\":\"HS256\"}", "{}");
	struct jwt_rules r = { .now = NOW, .aud = want, .naud = 2 };
	const char *why;

	(void)state;
	assert_int_equal(verify(ks, str, &r, NULL), 0);
	assert_int_equal(verify(ks, arr, &r, NULL), 0);
	assert_int_equal(verify(ks, none, &r, &why), JWT_EAUD);
	assert_string_equal(why, "audience mismatch");
	r.aud = other;
	r.naud = 1;
	assert_int_equal(verify(ks, str, &r, NULL), JWT_EAUD);
	assert_int_equal(verify(ks, arr, &r, NULL), JWT_EAUD);
	r.naud = 0;  /* none required */
	assert_int_equal(verify(ks, none, &r, NULL), 0);
	free(str);
	free(arr);
	free(none);
	jwt_keyset_free(ks);
}

/* ---- algorithm attacks ---- */

static void test_jwt_refuses_alg_none(void **state)
{
	static const char *const hdrs[] = {
		"{\"alg\":\"none\"}", "{\"alg\":\"NONE\"}",
		"{\"alg\":\"nOnE\",\"typ\":\"JWT\"}",
	};
	static const char *const algs[] = { "none", "HS256" };
	struct jwt_keyset *ks = hs_keyset();
	struct jwt_rules r = { .now = NOW, .algs = algs, .nalgs = 2 };
	const char *why;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		char *bare = sign_ex(hdrs[i], "{}", NULL, 0, NULL, 0);
		char *sig = sign_hs(hdrs[i], "{}");

		assert_int_equal(verify(ks, bare, NULL, &why), JWT_EALGNONE);
		assert_string_equal(why, "alg none refused");
		assert_int_equal(verify(ks, sig, NULL, NULL), JWT_EALGNONE);
		/* even when a careless config allows it */
		assert_int_equal(verify(ks, sig, &r, NULL), JWT_EALGNONE);
		free(bare);
		free(sig);
	}
	jwt_keyset_free(ks);
}

static void test_jwt_refuses_hs256_signed_with_rsa_public_pem(void **state)
{
	struct jwt_keyset *ks = pem_keyset(NULL, K.rsa_pem);
	struct jwt_keyset *kid = pem_keyset("rsa1", K.rsa_pem);
	char *tok = sign_ex("{\"alg\":\"HS256\"}", "{\"admin\":true}",
			    K.rsa_pem, strlen(K.rsa_pem), NULL, 0);
	char *ktok = sign_ex("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", "{}",
			     K.rsa_pem, strlen(K.rsa_pem), NULL, 0);
	const char *why;

	(void)state;
	assert_int_equal(verify(ks, tok, NULL, &why), JWT_EKEYALG);
	assert_string_equal(why, "algorithm not allowed for this key");
	assert_int_equal(verify(kid, ktok, NULL, NULL), JWT_EKEYALG);
	/* the same with HS384/512 and with the EC key */
	free(tok);
	tok = sign_ex("{\"alg\":\"HS512\"}", "{}", K.ec_pem,
		      strlen(K.ec_pem), NULL, 0);
	jwt_keyset_free(ks);
	ks = pem_keyset(NULL, K.ec_pem);
	assert_int_equal(verify(ks, tok, NULL, NULL), JWT_EKEYALG);
	free(tok);
	free(ktok);
	jwt_keyset_free(ks);
	jwt_keyset_free(kid);
}

static void test_jwt_refuses_cross_family_public_keys(void **state)
{
	struct jwt_keyset *rks = pem_keyset(NULL, K.rsa_pem);
	struct jwt_keyset *eks = pem_keyset(NULL, K.ec_pem);
	struct jwt_keyset *hks = hs_keyset();
	char *es = sign_pk("{\"alg\":\"ES256\"}", "{}", K.ec);
	char *rs = sign_pk("{\"alg\":\"RS256\"}", "{}", K.rsa);

	(void)state;
	assert_int_equal(verify(rks, es, NULL, NULL), JWT_EKEYALG);
	assert_int_equal(verify(eks, rs, NULL, NULL), JWT_EKEYALG);
	assert_int_equal(verify(hks, rs, NULL, NULL), JWT_EKEYALG);
	free(es);
	free(rs);
	jwt_keyset_free(rks);
	jwt_keyset_free(eks);
	jwt_keyset_free(hks);
}

static void test_jwt_refuses_es256_der_signature(void **state)
{
	struct jwt_keyset *ks = pem_keyset(NULL, K.ec_pem);
	char *tok = sign_ex("{\"alg\":\"ES256\"}", "{}", NULL, 0, K.ec, 1);

	(void)state;
	assert_int_equal(verify(ks, tok, NULL, NULL), JWT_ESIG);
	free(tok);
	jwt_keyset_free(ks);
}

static void test_jwt_honours_allowed_algs(void **state)
{
	static const char *const rs_only[] = { "RS256" };
	struct jwt_keyset *ks = hs_keyset();
	char *hs = sign_hs("{\"alg\":\"HS256\"}", "{}");
	char *ps = sign_hs("{\"alg\":\"PS256\"}", "{}");
	struct jwt_rules r = { .now = NOW, .algs = rs_only, .nalgs = 1 };
	const char *why;

	(void)state;
	assert_int_equal(verify(ks, hs, &r, &why), JWT_EALG);
	assert_string_equal(why, "algorithm not allowed");
	assert_int_equal(verify(ks, ps, NULL, &why), JWT_EALG);
	assert_string_equal(why, "unsupported algorithm");
	free(hs);
	free(ps);
	jwt_keyset_free(ks);
}

/* ---- malformed input ---- */

static void test_jwt_rejects_malformed_tokens(void **state)
{
	static const char *const bad_tokens[] = {
		"", ".", "..", "...", "abc", "a.b", "a.b.c.d",
		"eyJhbGciOiJIUzI1NiJ9.e30",
		"eyJhbGciOiJIUzI1NiJ9.e30.c2ln.c2ln",
		"eyJhbGciOiJIUzI1NiJ9.e30.",		/* empty signature */
		"eyJhbGciOiJIUzI1NiJ9.e30.c2ln=",	/* padding */
		"eyJhbGciOiJIUzI1NiJ9.e3+.c2ln",	/* standard alphabet */
		"eyJhbGciOiJIUzI1NiJ9.e30 .c2ln",
		"eyJhbGciOiJIUzI1NiJ9=.e30.c2ln",
		"bm90IGpzb24.e30.c2ln",			/* header "not json" */
		"W10.e30.c2ln",				/* header [] */
		"eyJhbGciOjF9.e30.c2ln",		/* alg 1 */
		"e30.e30.c2ln",				/* no alg */
	};
	static const char *const bad_payloads[] = {
		"[1,2]", "\"str\"", "42", "{\"exp\":\"tomorrow\"}",
		"{\"nbf\":null}", "{\"iat\":[1]}", "{\"a\":1,\"a\":2}",
		"{not json}", "",
	};
	struct jwt_keyset *ks = hs_keyset();
	char deep[200] = "{\"a\":";
	const char *why;
	char *tok;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_tokens) / sizeof(*bad_tokens); i++) {
		assert_int_equal(verify(ks, bad_tokens[i], NULL, &why),
				 JWT_EMALFORMED);
		assert_string_equal(why, "malformed token");
	}
	for (size_t i = 0; i < sizeof(bad_payloads) / sizeof(*bad_payloads);
	     i++) {
		tok = sign_hs("{\"alg\":\"HS256\"}", bad_payloads[i]);
		assert_int_equal(verify(ks, tok, NULL, NULL), JWT_EMALFORMED);
		free(tok);
	}
	/* nesting past the depth limit, in the payload */
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	for (int i = 0; i < 40; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	tok = sign_hs("{\"alg\":\"HS256\"}", deep);
	assert_int_equal(verify(ks, tok, NULL, NULL), JWT_EMALFORMED);
	free(tok);
	/* a critical header extension we cannot honour */
	tok = sign_hs("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
		      "{}");
	assert_int_equal(verify(ks, tok, NULL, NULL), JWT_EMALFORMED);
	free(tok);
	/* a kid that is not a string */
	tok = sign_hs("{\"alg\":\"HS256\",\"kid\":5}", "{}");
	assert_int_equal(verify(ks, tok, NULL, NULL), JWT_EMALFORMED);
	free(tok);
	assert_int_equal(jwt_verify(ks, NULL, 0, NULL, NULL, &why),
			 JWT_EINVAL);
	jwt_keyset_free(ks);
}

static void test_jwt_rejects_too_long_token(void **state)
{
	struct jwt_keyset *ks = hs_keyset();
	char *payload = malloc(9000), *tok;
	struct jwt_rules r = { .now = NOW };
	const char *why;

	(void)state;
	strcpy(payload, "{\"pad\":\"");
	memset(payload + 8, 'x', 7000);
	strcpy(payload + 7008, "\"}");
	tok = sign_hs("{\"alg\":\"HS256\"}", payload);
	assert_true(strlen(tok) > 8192);
	assert_int_equal(verify(ks, tok, &r, &why), JWT_ETOOLONG);
	assert_string_equal(why, "token too long");
	r.max_len = 16384;
	assert_int_equal(verify(ks, tok, &r, NULL), 0);
	r.max_len = 64;
	free(tok);
	tok = sign_hs("{\"alg\":\"HS256\"}", "{\"sub\":\"just a bit long\"}");
	assert_int_equal(verify(ks, tok, &r, NULL), JWT_ETOOLONG);
	free(tok);
	free(payload);
	jwt_keyset_free(ks);
}

/* ---- key selection and JWKS ---- */

static json_t *jwk_b64(const unsigned char *p, size_t n)
{
	char *s = b64url(p, n);
	json_t *v = json_string(s);

	free(s);
	return v;
}

static json_t *jwk_bn(EVP_PKEY *pkey, const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char buf[512];
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(pkey, name, &bn), 1);
	n = BN_bn2bin(bn, buf);
	BN_free(bn);
	return jwk_b64(buf, (size_t)n);
}

static json_t *jwk_rsa(EVP_PKEY *pkey, const char *kid)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "kty", "RSA", "kid", kid,
			 "use", "sig", "n", jwk_bn(pkey, OSSL_PKEY_PARAM_RSA_N),
			 "e", jwk_bn(pkey, OSSL_PKEY_PARAM_RSA_E));
}

static json_t *jwk_ec(EVP_PKEY *pkey, const char *kid)
{
	unsigned char pt[65];
	size_t n = 0;

	assert_int_equal(EVP_PKEY_get_octet_string_param(pkey,
				OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &n), 1);
	assert_int_equal(n, 65);
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "kty", "EC", "kid",
			 kid, "alg", "ES256", "crv", "P-256",
			 "x", jwk_b64(pt + 1, 32), "y", jwk_b64(pt + 33, 32));
}

static char *jwks_text(void)
{
	json_t *keys = json_array(), *doc;
	char *s;

	json_array_append_new(keys, jwk_rsa(K.rsa, "rsa1"));
	json_array_append_new(keys, jwk_rsa(K.rsa2, "rsa2"));
	json_array_append_new(keys, jwk_ec(K.ec, "ec1"));
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:o}",
		"kty", "oct", "kid", "hmac1", "alg", "HS256",
		"k", jwk_b64((const unsigned char *)SECRET, strlen(SECRET))));
	/* skipped: an encryption key, an Ed25519 key, a P-384 key, PS256 */
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s}",
		"kty", "oct", "kid", "enc", "use", "enc", "k", "AAAA"));
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s}",
		"kty", "OKP", "crv", "Ed25519", "x", "AAAA"));
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s}",
		"kty", "EC", "crv", "P-384", "x", "AAAA", "y", "AAAA"));
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s}",
		"kty", "RSA", "alg", "PS256", "n", "AAAA", "e", "AQAB"));
	doc = json_pack("{s:o}", "keys", keys);
	s = json_dumps(doc, 0);
	json_decref(doc);
	return s;
}

static void test_jwt_loads_jwks_and_selects_by_kid(void **state)
{
	struct jwt_keyset *ks = jwt_keyset_new();
	char *jwks = jwks_text(), err[256] = "";
	char *rs1 = sign_pk("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "{}",
			    K.rsa);
	char *rs2 = sign_pk("{\"alg\":\"RS512\",\"kid\":\"rsa2\"}", "{}",
			    K.rsa2);
	char *mix = sign_pk("{\"alg\":\"RS256\",\"kid\":\"rsa2\"}", "{}",
			    K.rsa);
	char *nokid = sign_pk("{\"alg\":\"RS256\"}", "{}", K.rsa2);
	char *es = sign_pk("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", "{}", K.ec);
	char *hs = sign_hs("{\"alg\":\"HS256\",\"kid\":\"hmac1\"}", "{}");
	char *hs512 = sign_hs("{\"alg\":\"HS512\",\"kid\":\"hmac1\"}", "{}");
	char *enc = sign_ex("{\"alg\":\"HS256\",\"kid\":\"enc\"}", "{}",
			    "\0\0\0", 3, NULL, 0);
	char *esrs = sign_pk("{\"alg\":\"RS256\",\"kid\":\"ec1\"}", "{}",
			     K.rsa);
	const char *why;

	(void)state;
	assert_int_equal(jwt_keyset_load_jwks(ks, jwks, strlen(jwks), err,
					      sizeof(err)), 0);
	assert_int_equal(jwt_keyset_count(ks), 4);
	assert_int_equal(verify(ks, rs1, NULL, NULL), 0);
	assert_int_equal(verify(ks, rs2, NULL, NULL), 0);
	assert_int_equal(verify(ks, es, NULL, NULL), 0);
	assert_int_equal(verify(ks, hs, NULL, NULL), 0);
	/* kid picks the key: rsa1's signature does not pass as rsa2 */
	assert_int_equal(verify(ks, mix, NULL, NULL), JWT_ESIG);
	/* no kid: every RSA key is tried */
	assert_int_equal(verify(ks, nokid, NULL, NULL), 0);
	/* JWK "alg" pins the key to one algorithm */
	assert_int_equal(verify(ks, hs512, NULL, &why), JWT_EKEYALG);
	assert_int_equal(verify(ks, esrs, NULL, NULL), JWT_EKEYALG);
	/* the skipped "use": "enc" key is not there */
	assert_int_equal(verify(ks, enc, NULL, &why), JWT_ENOKEY);
	assert_string_equal(why, "no key for kid");
	free(jwks);
	free(rs1);
	free(rs2);
	free(mix);
	free(nokid);
	free(es);
	free(hs);
	free(hs512);
	free(enc);
	free(esrs);
	jwt_keyset_free(ks);
}

static void test_jwt_kidless_key_matches_any_kid_only_alone(void **state)
{
	struct jwt_keyset *ks = hs_keyset();
	char *tok = sign_hs("{\"alg\":\"HS256\",\"kid\":\"whatever\"}", "{}");
	const char *why;

	(void)state;
	assert_int_equal(verify(ks, tok, NULL, NULL), 0);
	assert_int_equal(jwt_keyset_add_pem(ks, "rsa1", K.rsa_pem,
					    strlen(K.rsa_pem), NULL, 0), 0);
	assert_int_equal(verify(ks, tok, NULL, &why), JWT_ENOKEY);
	free(tok);
	jwt_keyset_free(ks);
	ks = jwt_keyset_new();
	tok = sign_hs("{\"alg\":\"HS256\"}", "{}");
	assert_int_equal(verify(ks, tok, NULL, &why), JWT_ENOKEY);
	free(tok);
	jwt_keyset_free(ks);
}

static void test_jwt_jwks_junk_gives_clear_error(void **state)
{
	static const struct {
		const char *json, *says;
	} junk[] = {
		{ "not json at all", "not valid JSON" },
		{ "{\"keys\":[", "not valid JSON" },
		{ "[1,2,3]", "no \"keys\" array" },
		{ "{\"keys\":{}}", "no \"keys\" array" },
		{ "{\"keys\":[]}", "no usable signing key" },
		{ "{\"keys\":[42]}", "key 0 is not an object" },
		{ "{\"keys\":[{\"n\":\"AQAB\"}]}", "no \"kty\"" },
		{ "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"}]}",
		  "not base64url" },
		{ "{\"keys\":[{\"kty\":\"oct\"}]}", "\"k\" is missing" },
		{ "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\","
		  "\"y\":\"AAAA\"}]}", "32 bytes" },
		{ "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\",\"alg\":\"RS256\""
		  "}]}", "does not fit" },
		{ "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\",\"use\":\"enc\"}"
		  "]}", "no usable signing key" },
		{ "{\"keys\":[],\"keys\":[]}", "duplicate" },
	};
	struct jwt_keyset *ks = hs_keyset();
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(junk) / sizeof(*junk); i++) {
		err[0] = '\0';
		assert_true(jwt_keyset_load_jwks(ks, junk[i].json,
						 strlen(junk[i].json), err,
						 sizeof(err)) < 0);
		if (!strstr(err, junk[i].says))
			fail_msg("JWKS %zu: \"%s\" lacks \"%s\"", i, err,
				 junk[i].says);
		assert_int_equal(jwt_keyset_count(ks), 1);
	}
	jwt_keyset_free(ks);
}

static void test_jwt_jwks_rejects_bad_points_and_weak_keys(void **state)
{
	EVP_PKEY *weak = EVP_RSA_gen(1024);
	json_t *doc = json_pack("{s:[o]}", "keys", jwk_rsa(weak, "weak"));
	char *s = json_dumps(doc, 0), err[256] = "";
	/* x = y = 1 is not on P-256 */
	static const char off_curve[] = "{\"keys\":[{\"kty\":\"EC\",\"crv\":"
		"\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
		"\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}";
	struct jwt_keyset *ks = jwt_keyset_new();

	(void)state;
	assert_int_equal(jwt_keyset_load_jwks(ks, s, strlen(s), err,
					      sizeof(err)), JWT_EINVAL);
	assert_non_null(strstr(err, "too weak"));
	assert_int_equal(jwt_keyset_load_jwks(ks, off_curve, strlen(off_curve),
					      err, sizeof(err)), JWT_EINVAL);
	assert_non_null(strstr(err, "not on P-256"));
	assert_int_equal(jwt_keyset_count(ks), 0);
	free(s);
	json_decref(doc);
	EVP_PKEY_free(weak);
	jwt_keyset_free(ks);
}

static void test_jwt_pem_refuses_private_weak_and_odd_keys(void **state)
{
	EVP_PKEY *weak = EVP_RSA_gen(1024), *p384 = EVP_EC_gen("P-384");
	char *weak_pem = pubkey_pem(weak, "SubjectPublicKeyInfo");
	char *p384_pem = pubkey_pem(p384, "SubjectPublicKeyInfo");
	struct jwt_keyset *ks = jwt_keyset_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char err[256], *priv;
	long n;

	(void)state;
	PEM_write_bio_PrivateKey(bio, K.rsa, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &priv);
	assert_int_equal(jwt_keyset_add_pem(ks, NULL, priv, (size_t)n, err,
					    sizeof(err)), JWT_EINVAL);
	assert_non_null(strstr(err, "private key"));
	assert_int_equal(jwt_keyset_add_pem(ks, NULL, weak_pem,
					    strlen(weak_pem), err,
					    sizeof(err)), JWT_EINVAL);
	assert_non_null(strstr(err, "too weak"));
	assert_int_equal(jwt_keyset_add_pem(ks, NULL, p384_pem,
					    strlen(p384_pem), err,
					    sizeof(err)), JWT_EINVAL);
	assert_non_null(strstr(err, "only P-256"));
	assert_int_equal(jwt_keyset_add_pem(ks, NULL, "junk", 4, err,
					    sizeof(err)), JWT_EINVAL);
	assert_non_null(strstr(err, "no PEM public key"));
	assert_int_equal(jwt_keyset_add_secret(ks, NULL, "", 0, err,
					       sizeof(err)), JWT_EINVAL);
	assert_int_equal(jwt_keyset_count(ks), 0);
	BIO_free(bio);
	free(weak_pem);
	free(p384_pem);
	EVP_PKEY_free(weak);
	EVP_PKEY_free(p384);
	jwt_keyset_free(ks);
}

static void test_jwt_loads_jwks_file_with_size_cap(void **state)
{
	char path[] = "/tmp/test_jwt.XXXXXX", err[512];
	char *jwks = jwks_text(), *big;
	struct jwt_keyset *ks = jwt_keyset_new();
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(jwks, f);
	fclose(f);
	assert_int_equal(jwt_keyset_load_jwks_file(ks, path, err,
						   sizeof(err)), 0);
	assert_int_equal(jwt_keyset_count(ks), 4);
	/* the same document padded past 1 MiB */
	big = malloc(1024 * 1024 + 16);
	memset(big, ' ', 1024 * 1024 + 15);
	big[1024 * 1024 + 15] = '\0';
	memcpy(big, jwks, strlen(jwks));
	f = fopen(path, "w");
	fputs(big, f);
	fclose(f);
	assert_int_equal(jwt_keyset_load_jwks_file(ks, path, err,
						   sizeof(err)), JWT_EINVAL);
	assert_non_null(strstr(err, "larger than 1 MiB"));
	unlink(path);
	assert_int_equal(jwt_keyset_load_jwks_file(ks, path, err,
						   sizeof(err)), JWT_EINVAL);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(jwt_keyset_count(ks), 4);
	free(big);
	free(jwks);
	jwt_keyset_free(ks);
}

/* ---- base64url ---- */

static int dec(const char *in, char *out, size_t room)
{
	size_t n = room;

	if (b64url_decode(in, strlen(in), (unsigned char *)out, &n))
		return -1;
	out[n] = '\0';
	return (int)n;
}

static void test_b64url_decode_is_strict(void **state)
{
	char out[64];
	size_t n = 1;

	(void)state;
	assert_int_equal(dec("", out, 63), 0);
	assert_int_equal(dec("Zm9v", out, 63), 3);
	assert_string_equal(out, "foo");
	assert_int_equal(dec("Zm9vYg", out, 63), 4);
	assert_string_equal(out, "foob");
	assert_int_equal(dec("Zm9vYmE", out, 63), 5);
	assert_int_equal(dec("-_-_", out, 63), 3);
	assert_int_equal((unsigned char)out[0], 0xfb);
	assert_int_equal(dec("Zm9vYg==", out, 63), -1);	/* padding */
	assert_int_equal(dec("Zm9v+/", out, 63), -1);	/* base64 alphabet */
	assert_int_equal(dec("Zm9vY", out, 63), -1);	/* 4n+1 */
	assert_int_equal(dec("Zm9vYh", out, 63), -1);	/* stray low bits */
	assert_int_equal(dec("Zm 9v", out, 63), -1);
	assert_int_equal(dec("Zm9vYmE", out, 4), -1);	/* no room */
	assert_int_equal(b64url_decode("Zm9v", 4, (unsigned char *)out, &n),
			 -1);
}

/* ---- passwords ---- */

static void test_passwd_verifies_generated_hashes(void **state)
{
	static const struct {
		const char *prefix;
		unsigned long count;
	} kinds[] = { { "$2b$", 4 }, { "$2y$", 4 }, { "$2a$", 4 },
		      { "$5$", 1000 }, { "$6$", 1000 }, { "$6$", 0 } };
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char salt[CRYPT_GENSALT_OUTPUT_SIZE], hash[CRYPT_OUTPUT_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
		assert_non_null(crypt_gensalt_rn(kinds[i].prefix,
						 kinds[i].count, NULL, 0,
						 salt, sizeof(salt)));
		assert_non_null(crypt_rn("s3cret pass", salt, cd,
					 (int)sizeof(*cd)));
		strcpy(hash, cd->output);
		assert_int_equal(passwd_hash_supported(hash), 1);
		assert_int_equal(passwd_verify("s3cret pass", 11, hash), 1);
		assert_int_equal(passwd_verify("s3cret pasS", 11, hash), 0);
		assert_int_equal(passwd_verify("s3cret pass", 10, hash), 0);
		assert_int_equal(passwd_verify("s3cret pass!", 12, hash), 0);
		assert_int_equal(passwd_verify("", 0, hash), 0);
	}
	free(cd);
}

static void test_passwd_matches_known_vectors(void **state)
{
	(void)state;
	/* Drepper's SHA-crypt spec and the OpenBSD/Openwall bcrypt tests */
	assert_int_equal(passwd_verify("Hello world!", 12,
		"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
		1);
	assert_int_equal(passwd_verify("Hello world!", 12,
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFN"
		"jnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"), 1);
	assert_int_equal(passwd_verify("U*U", 3,
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
		1);
	assert_int_equal(passwd_verify("", 0,
		"$2y$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy"),
		1);
	assert_int_equal(passwd_verify("U*V", 3,
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
		0);
	assert_int_equal(passwd_verify("Hello world?", 12,
		"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
		0);
	/* a password with a NUL would be cut by crypt: never a match */
	assert_int_equal(passwd_verify("U*U\0x", 5,
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
		0);
}

static void test_passwd_refuses_unsupported_hashes(void **state)
{
	static const char *const bad[] = {
		"$1$abc$OGyl6dDvZCDiGmIVbeuCq/",	/* MD5-crypt */
		"abJnggxhB/yWI",			/* DES */
		"s3cret pass",				/* plain text */
		"",
		"$apr1$abc$OGyl6dDvZCDiGmIVbeuCq/",
		"$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe*",
		"$5$saltstring$",
		"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc",
		("$6$$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4"
		 "OTLiBFdcbYEdFCoEOfaS35inz1"),
		"$5$rounds=$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
		"$y$j9T$abc$def",				/* yescrypt */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(passwd_hash_supported(bad[i]), 0);
		assert_true(passwd_verify("s3cret pass", 11, bad[i]) < 0);
	}
	assert_int_equal(passwd_hash_supported(NULL), 0);
	assert_int_equal(passwd_hash_supported(
		"$5$rounds=5000$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/"
		"GNooZaBBGWEc5"), 1);
}

static void test_ct_equal_compares_bytes_and_lengths(void **state)
{
	(void)state;
	assert_int_equal(ct_equal("abc", 3, "abc", 3), 1);
	assert_int_equal(ct_equal("abc", 3, "abd", 3), 0);
	assert_int_equal(ct_equal("abc", 3, "abcd", 4), 0);
	assert_int_equal(ct_equal("a\0b", 3, "a\0c", 3), 0);
	assert_int_equal(ct_equal("", 0, "", 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jwt_accepts_hs256_hs384_hs512),
		cmocka_unit_test(test_jwt_returns_claims_to_caller),
		cmocka_unit_test(test_jwt_accepts_rs256_rs384_rs512),
		cmocka_unit_test(test_jwt_accepts_es256),
		cmocka_unit_test(test_jwt_accepts_pkcs1_pem_and_certificate),
		cmocka_unit_test(test_jwt_rejects_tampered_payload),
		cmocka_unit_test(test_jwt_rejects_tampered_signature),
		cmocka_unit_test(test_jwt_rejects_wrong_key),
		cmocka_unit_test(test_jwt_rejects_expired_but_honours_leeway),
		cmocka_unit_test(test_jwt_rejects_nbf_and_iat_in_future),
		cmocka_unit_test(test_jwt_requires_exp_when_asked),
		cmocka_unit_test(test_jwt_checks_issuer),
		cmocka_unit_test(test_jwt_checks_audience_string_and_array),
		cmocka_unit_test(test_jwt_refuses_alg_none),
		cmocka_unit_test(test_jwt_refuses_hs256_signed_with_rsa_public_pem),
		cmocka_unit_test(test_jwt_refuses_cross_family_public_keys),
		cmocka_unit_test(test_jwt_refuses_es256_der_signature),
		cmocka_unit_test(test_jwt_honours_allowed_algs),
		cmocka_unit_test(test_jwt_rejects_malformed_tokens),
		cmocka_unit_test(test_jwt_rejects_too_long_token),
		cmocka_unit_test(test_jwt_loads_jwks_and_selects_by_kid),
		cmocka_unit_test(test_jwt_kidless_key_matches_any_kid_only_alone),
		cmocka_unit_test(test_jwt_jwks_junk_gives_clear_error),
		cmocka_unit_test(test_jwt_jwks_rejects_bad_points_and_weak_keys),
		cmocka_unit_test(test_jwt_pem_refuses_private_weak_and_odd_keys),
		cmocka_unit_test(test_jwt_loads_jwks_file_with_size_cap),
		cmocka_unit_test(test_b64url_decode_is_strict),
		cmocka_unit_test(test_passwd_verifies_generated_hashes),
		cmocka_unit_test(test_passwd_matches_known_vectors),
		cmocka_unit_test(test_passwd_refuses_unsupported_hashes),
		cmocka_unit_test(test_ct_equal_compares_bytes_and_lengths),
	};

	return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
