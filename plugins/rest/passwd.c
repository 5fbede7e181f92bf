/* passwd.c - password hash verification with libxcrypt; see passwd.h. */
#include <stdlib.h>
#include <string.h>

#include <crypt.h>
#include <openssl/crypto.h>

#include "passwd.h"

#define BCRYPT_LEN 60
#define SHACRYPT_SALT_MAX 16

/* The ./0-9A-Za-z alphabet crypt hashes are written in. */
static int all_crypt64(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!(c == '.' || c == '/' || (c >= '0' && c <= '9') ||
		      (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return 0;
	}
	return 1;
}

/* $2a$NN$ then 22 characters of salt and 31 of hash; cost 04..31. */
static int bcrypt_ok(const char *h)
{
	int cost;

	if (strlen(h) != BCRYPT_LEN || h[0] != '$' || h[1] != '2' ||
	    (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') || h[3] != '$')
		return 0;
	if (h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' ||
	    h[6] != '$')
		return 0;
	cost = (h[4] - '0') * 10 + (h[5] - '0');
	return cost >= 4 && cost <= 31 && all_crypt64(h + 7, BCRYPT_LEN - 7);
}

/* $5$ or $6$, optional rounds=N$, a salt of 1..16, $, then the hash. */
static int shacrypt_ok(const char *h)
{
	size_t want = h[1] == '5' ? 43 : 86, n;
	const char *p = h + 3;

	if (!strncmp(p, "rounds=", 7)) {
		p += 7;
		n = strspn(p, "0123456789");
		if (!n || n > 9 || p[0] == '0' || p[n] != '$')
			return 0;
		p += n + 1;
	}
	n = strcspn(p, "$");
	if (!n || n > SHACRYPT_SALT_MAX || p[n] != '$' || !all_crypt64(p, n))
		return 0;
	p += n + 1;
	return strlen(p) == want && all_crypt64(p, want);
}

int passwd_hash_supported(const char *hash)
{
	if (!hash)
		return 0;
	if (!strncmp(hash, "$2", 2))
		return bcrypt_ok(hash);
	if (!strncmp(hash, "$5$", 3) || !strncmp(hash, "$6$", 3))
		return shacrypt_ok(hash);
	return 0;  /* DES, $1$, plain text, ...: never verified */
}

char *passwd_dummy_like(const char *hash)
{
	size_t set, want;
	char *d;

	if (!passwd_hash_supported(hash))
		return NULL;
	if (hash[1] == '2') {
		set = 7;                      /* "$2b$NN$": kind and cost */
		want = BCRYPT_LEN - set;      /* salt and hash, all '.' (a canonical salt) */
	} else {
		/* "$6$" and "rounds=N$" if there: kind and cost; a fixed salt */
		set = !strncmp(hash + 3, "rounds=", 7) ? (size_t)(strchr(hash + 10, '$') - hash) + 1 : 3;
		want = 8 + 1 + (hash[1] == '5' ? 43 : 86);
	}
	if (!(d = malloc(set + want + 1)))
		return NULL;
	memcpy(d, hash, set);
	memset(d + set, '.', want);
	if (hash[1] != '2')
		memcpy(d + set, "portico.$", 9);  /* salt "portico." */
	d[set + want] = '\0';
	return d;
}

int ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return 0;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

int passwd_verify(const char *password, size_t plen, const char *hash)
{
	struct crypt_data *cd;
	const char *out;
	char *phrase;
	int rc;

	if (!passwd_hash_supported(hash))
		return PASSWD_EUNSUPPORTED;
	if (!password)
		plen = 0;
	if (plen > PASSWD_MAX_LEN || (plen && memchr(password, '\0', plen)))
		return 0;
	/* about 32 KiB: too much for a worker thread's stack */
	cd = calloc(1, sizeof(*cd));
	phrase = malloc(plen + 1);
	if (!cd || !phrase) {
		rc = PASSWD_ENOMEM;
	} else {
		if (plen)
			memcpy(phrase, password, plen);
		phrase[plen] = '\0';
		out = crypt_rn(phrase, hash, cd, (int)sizeof(*cd));
		if (!out || out[0] == '*')
			rc = PASSWD_EHASH;
		else
			rc = ct_equal(out, strlen(out), hash, strlen(hash));
	}
	if (phrase)
		OPENSSL_cleanse(phrase, plen + 1);
	free(phrase);
	if (cd)
		OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return rc;
}
