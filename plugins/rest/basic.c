/*
 * basic.c - HTTP Basic credential checks; see basic.h.
 *
 * bcrypt costs tens of milliseconds on purpose; a client sending the same
 * credentials on every request must not make the worker pay that each time.
 * The cache holds SHA-256(user, password, stored hash) of successes for a
 * minute, so a changed password or hash in a reload never hits.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "basic.h"
#include "passwd.h"

#define BCACHE_SLOTS 256
#define BCACHE_TTL 60

struct bcache {
	unsigned char digest[BCACHE_SLOTS][32];
	time_t until[BCACHE_SLOTS];
};

struct bcache *basic_cache_new(void)
{
	return calloc(1, sizeof(struct bcache));
}

static void bdigest(const char *cred, size_t len, const char *hash, unsigned char out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned n = 32;

	memset(out, 0, 32);
	if (!c)
		return;
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, cred, len);
	EVP_DigestUpdate(c, "", 1);
	EVP_DigestUpdate(c, "", 1);
	EVP_DigestUpdate(c, hash, strlen(hash));
	EVP_DigestFinal_ex(c, out, &n);
	EVP_MD_CTX_free(c);
}

int basic_decode(const char *in, size_t len, unsigned char *out, size_t *outlen)
{
	size_t pad = 0;
	int n;

	if (len == 0 || len % 4 || len > 1000)
		return -1;
	while (pad < 2 && in[len - 1 - pad] == '=')
		pad++;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	*outlen = (size_t)n - pad;   /* EVP_DecodeBlock counts padding as zero bytes */
	out[*outlen] = '\0';
	return 0;
}

const struct consumer *basic_check(const struct consumer *cs, size_t n, const char *dummy,
                                   const char *cred, size_t len, struct bcache *b, time_t now)
{
	const char *colon = memchr(cred, ':', len);
	const struct consumer *c = NULL;
	unsigned char dg[32];
	size_t ulen;

	if (!colon)
		return NULL;
	ulen = (size_t)(colon - cred);
	for (size_t i = 0; i < n; i++)
		if (cs[i].password && strlen(cs[i].name) == ulen && !memcmp(cs[i].name, cred, ulen))
			c = &cs[i];
	if (!c) {
		/* the same work as a wrong password, the answer thrown away */
		if (dummy)
			(void)passwd_verify(colon + 1, len - ulen - 1, dummy);
		return NULL;
	}
	bdigest(cred, len, c->password, dg);
	if (b && b->until[dg[0]] > now && ct_equal(b->digest[dg[0]], 32, dg, 32))
		return c;
	if (passwd_verify(colon + 1, len - ulen - 1, c->password) != 1)
		return NULL;
	if (b) {
		memcpy(b->digest[dg[0]], dg, 32);
		b->until[dg[0]] = now + BCACHE_TTL;
	}
	return c;
}
