/*
 * fuzz_jwt.c - libFuzzer target for plugins/rest/jwt.c.
 *
 * Input: arbitrary bytes, verified as a token against one long-lived keyset
 * holding an HMAC secret (no kid) and an RSA key (kid "rsa1") from the PEM
 * below, under rules picked by the input's length so that the claim checks
 * run too. Inputs starting with '{' are also loaded as a JWKS into a fresh
 * keyset. Nothing may crash or leak; the result must keep its contract:
 * claims exactly on success, and always a reason.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Iplugins/rest \
 *   tests/fuzz/fuzz_jwt.c plugins/rest/jwt.c -lssl -lcrypto -ljansson
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

static const char rsa_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArEPB7DdwJyaVS87Cetiz\n"
	"uaxaZg5QPL70L/lx2DzNDRQ0hg5wvn0JDVvjGIC4fG/aYZ6ahxh5NDNRXTy1371s\n"
	"6y7PIzmsummB4oG6Ib8l8bta8GZrryNMaIK1XgZSRwzePCw6p/6Z+Gtk2nyr2x5l\n"
	"Uyywu9EZbUco38JvvzajrkqL7DFqxXlQl5CX/yrEaDT7PUlt8KKO2OUbv8EnQmah\n"
	"dmBGQk9l8lppQnHcs+pOEn9LJycV7puC/P6LCRUczaFgvibEqwg0UVwaNYBMXdio\n"
	"6z0w4GyTVtB87AxBxI+c7Ps8lhZm7KJKPIIn0e5xdpLKhidqolZNr57B5+JxVZf9\n"
	"xwIDAQAB\n"
	"-----END PUBLIC KEY-----\n";

static const char secret[] = "fuzz-secret-fuzz-secret-fuzz-sec";

static struct jwt_keyset *ks;

static void check_jwks(const uint8_t *data, size_t size)
{
	struct jwt_keyset *tmp = jwt_keyset_new();
	char err[256];
	int rc;

	if (!tmp)
		abort();
	err[0] = '\0';
	rc = jwt_keyset_load_jwks(tmp, (const char *)data, size, err,
				  sizeof(err));
	/* a failure leaves the keyset empty and says why */
	if (rc && (jwt_keyset_count(tmp) || !err[0]))
		abort();
	if (!rc && !jwt_keyset_count(tmp))
		abort();
	jwt_keyset_free(tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const aud[] = { "api" };
	static const char *const algs[] = { "HS256", "RS256" };
	struct jwt_rules r = { .now = 1700000000 };
	json_t *claims = (json_t *)&r;
	const char *why = NULL;
	int rc;

	if (!ks) {
		ks = jwt_keyset_new();
		if (!ks ||
		    jwt_keyset_add_secret(ks, NULL, secret, strlen(secret),
					  NULL, 0) ||
		    jwt_keyset_add_pem(ks, "rsa1", rsa_pem, strlen(rsa_pem),
				       NULL, 0))
			abort();
	}
	if (size % 2) {
		r.iss = "https://idp";
		r.aud = aud;
		r.naud = 1;
		r.require_exp = 1;
		r.leeway = 30;
	}
	if (size % 3 == 0) {
		r.algs = algs;
		r.nalgs = 2;
	}
	rc = jwt_verify(ks, (const char *)data, size, &r, &claims, &why);
	if (!why || rc > 0 || (rc == 0) != (claims != NULL))
		abort();
	if (claims && !json_is_object(claims))
		abort();
	json_decref(claims);
	if (size && data[0] == '{')
		check_jwks(data, size);
	return 0;
}
