/*
 * verify.c - the webhook signature schemes (wh.h): Stripe, GitHub, Shopify,
 * Standard Webhooks and a configurable HMAC, plus outbound Standard
 * Webhooks signing and secret parsing.
 *
 * Every scheme works the same way: parse the sender's header(s) into at
 * most WH_MAX_SIGNATURES candidate MACs (decoded bytes), check the
 * timestamp when the scheme signs one, then compute the HMAC for EVERY
 * secret and compare it with EVERY candidate with CRYPTO_memcmp, OR-ing the
 * results: the time taken depends on the number of secrets and candidates
 * and the body length, never on which secret (if any) matched or where two
 * MACs first differ. Parsing the headers touches only sender-supplied bytes.
 * A header with more candidates than WH_MAX_SIGNATURES is refused, so a
 * hostile header costs one linear scan and no HMACs.
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "wh.h"

#define MAC_MAX 64              /* SHA-512 */
#define MAX_TS_DIGITS 15        /* far beyond any real unix time: no overflow */

/* One sender-supplied MAC, decoded. */
struct cand {
	unsigned char mac[MAC_MAX];
	size_t len;             /* 0: did not decode (compares as a mismatch) */
};

/* The signed content: pieces fed to the HMAC in order. */
struct piece {
	const void *p;
	size_t len;
};
#define MAX_PIECES 16

/* ---- encodings ---------------------------------------------------------- */

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Hex (either case) into OUT (at most MAX bytes): the length, or -1. */
static long hex_decode(const char *s, size_t n, unsigned char *out, size_t max)
{
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A character's base64 value + 1 (0: not base64): one load a character,
 * where comparisons cost a mispredicted branch on most characters of a
 * signature (0.9% of a webhook request's CPU). */
static const unsigned char b64tab[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
	['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
	['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26,
	['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33,
	['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
	['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47,
	['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52,
	['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59,
	['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static int b64val(unsigned char c)
{
	return (int)b64tab[c] - 1;
}

/* Standard base64, padding optional (0-2 '='), into OUT (at most MAX
 * bytes): the length, or -1 (bad character, bad length, too long,
 * non-zero unused bits). */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t max)
{
	size_t o = 0, i;
	uint32_t acc = 0;
	int bits = 0;

	if (n >= 1 && s[n - 1] == '=')
		n--;
	if (n >= 1 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == max)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* the last character's unused bits must be zero: one text per MAC,
	 * as the senders' libraries, which compare the text */
	if (acc & ((1u << bits) - 1))
		return -1;
	return (long)o;
}

/* Standard base64 with padding; OUT holds 4 * ceil(N / 3) + 1 bytes. */
static size_t b64_encode(const unsigned char *p, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = a[v >> 18];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
		out[o++] = a[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

		out[o++] = a[v >> 18];
		out[o++] = a[v >> 12 & 63];
		out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* ---- HMAC ----------------------------------------------------------------- */

static const char *alg_name(int alg)
{
	return alg == WH_SHA1 ? "SHA1" : alg == WH_SHA512 ? "SHA512" : "SHA256";
}

/* The HMAC implementation, fetched once for the process (kept to its end),
 * and each thread's contexts: one per algorithm, made with their digest
 * once and keyed again for each MAC (a new context per MAC looked the
 * digest up in OpenSSL's provider tables every time), and a few kept keyed
 * with a secret: EVP_MAC_init with no key starts again from the inner and
 * outer states computed when it was keyed, instead of hashing the padded
 * key twice for every MAC (two compression blocks, an eighth of a 1 KB
 * event's verification). A keyed context is found by the key's bytes,
 * never by where the key lives (a reload frees and reuses memory); more
 * keys in use than KEYED_MAX are keyed again as they come, as before.
 * Freed (and the copies of the keys wiped) as the thread ends. */
#define KEYED_MAX 8
#define KEYED_KEY_MAX 128       /* SHA-512's block: longer keys are not kept */

static EVP_MAC *hmac_impl;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static pthread_key_t hmac_key;
static int hmac_key_ok;

struct keyed {
	EVP_MAC_CTX *ctx;       /* NULL: a free slot */
	int alg;
	size_t keylen;
	unsigned char key[KEYED_KEY_MAX];
};

struct hmac_tl {
	EVP_MAC_CTX *ctx[WH_SHA512 + 1];
	struct keyed keyed[KEYED_MAX];
	unsigned next;          /* the slot replaced at the next miss */
};

static void hmac_tl_free(void *p)
{
	struct hmac_tl *t = p;

	for (unsigned i = 0; i <= WH_SHA512; i++)
		EVP_MAC_CTX_free(t->ctx[i]);
	for (unsigned i = 0; i < KEYED_MAX; i++)
		EVP_MAC_CTX_free(t->keyed[i].ctx);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

static void hmac_fetch(void)
{
	hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
	hmac_key_ok = pthread_key_create(&hmac_key, hmac_tl_free) == 0;
}

/* This thread's contexts, or NULL. */
static struct hmac_tl *hmac_tl(void)
{
	struct hmac_tl *t;

	if (!hmac_impl || !hmac_key_ok)
		return NULL;
	if (!(t = pthread_getspecific(hmac_key))) {
		if (!(t = calloc(1, sizeof(*t))))
			return NULL;
		if (pthread_setspecific(hmac_key, t) != 0) {
			free(t);
			return NULL;
		}
	}
	return t;
}

/* T's context for ALG, digest set, or NULL. */
static EVP_MAC_CTX *hmac_ctx(struct hmac_tl *t, int alg)
{
	OSSL_PARAM params[2];

	if (!t->ctx[alg]) {
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		                                             (char *)alg_name(alg), 0);
		params[1] = OSSL_PARAM_construct_end();
		if (!(t->ctx[alg] = EVP_MAC_CTX_new(hmac_impl)))
			return NULL;
		if (!EVP_MAC_CTX_set_params(t->ctx[alg], params)) {
			EVP_MAC_CTX_free(t->ctx[alg]);
			t->ctx[alg] = NULL;
		}
	}
	return t->ctx[alg];
}

/* T's context keyed with KEY for ALG, started for a new MAC: the kept one,
 * or a slot keyed now. NULL when the key is too long to keep or OpenSSL
 * failed (the caller keys its plain context then). */
static EVP_MAC_CTX *hmac_keyed(struct hmac_tl *t, int alg, const unsigned char *key,
                               size_t keylen)
{
	EVP_MAC_CTX *base;
	struct keyed *k;

	if (keylen == 0 || keylen > KEYED_KEY_MAX || !(base = hmac_ctx(t, alg)))
		return NULL;
	for (unsigned i = 0; i < KEYED_MAX; i++) {
		k = &t->keyed[i];
		if (k->ctx && k->alg == alg && k->keylen == keylen &&
		    CRYPTO_memcmp(k->key, key, keylen) == 0)
			return EVP_MAC_init(k->ctx, NULL, 0, NULL) ? k->ctx : NULL;
	}
	k = &t->keyed[t->next];
	t->next = (t->next + 1) % KEYED_MAX;
	if (k->ctx && k->alg != alg) {
		EVP_MAC_CTX_free(k->ctx);
		k->ctx = NULL;
	}
	if (!k->ctx && !(k->ctx = EVP_MAC_CTX_dup(base)))
		return NULL;
	k->alg = alg;
	k->keylen = 0;              /* matches nothing until keyed */
	if (!EVP_MAC_init(k->ctx, key, keylen, NULL))
		return NULL;
	memcpy(k->key, key, keylen);
	k->keylen = keylen;
	return k->ctx;
}

/* HMAC-ALG(KEY, the concatenated PIECES) into OUT: its length, 0 on an
 * OpenSSL failure (which then matches nothing). */
static size_t hmac(int alg, const unsigned char *key, size_t keylen,
                   const struct piece *pieces, unsigned n, unsigned char *out)
{
	static const unsigned char nokey[1];   /* an empty key, by a non-NULL pointer */
	struct hmac_tl *t;
	EVP_MAC_CTX *ctx = NULL;
	size_t len = 0;
	int ok;

	if (alg < WH_SHA1 || alg > WH_SHA512)
		alg = WH_SHA256;               /* as alg_name reads it */
	pthread_once(&hmac_once, hmac_fetch);
	if (!(t = hmac_tl()))
		return 0;
	if (!(ctx = hmac_keyed(t, alg, key, keylen))) {
		ctx = hmac_ctx(t, alg);
		ok = ctx != NULL && EVP_MAC_init(ctx, keylen ? key : nokey, keylen, NULL);
		if (!ok)
			return 0;
	}
	ok = 1;
	for (unsigned i = 0; ok && i < n; i++)
		if (pieces[i].len)
			ok = EVP_MAC_update(ctx, pieces[i].p, pieces[i].len);
	if (ok && !EVP_MAC_final(ctx, out, &len, MAC_MAX))
		len = 0;
	return ok ? len : 0;
}

/*
 * Whether any secret of S signs PIECES to any of the N candidates: all
 * secrets and all candidates are compared, whatever matched before.
 */
static int any_match(const struct wh_source *s, int alg, const struct piece *pieces,
                     unsigned npieces, const struct cand *c, unsigned n)
{
	unsigned char mac[MAC_MAX];
	unsigned found = 0;

	for (unsigned k = 0; k < s->nsecrets; k++) {
		size_t len = hmac(alg, s->secrets[k].key, s->secrets[k].len, pieces, npieces, mac);

		for (unsigned i = 0; i < n; i++) {
			unsigned same = len && c[i].len == len && CRYPTO_memcmp(mac, c[i].mac, len) == 0;

			found |= same;
		}
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	return found != 0;
}

/* ---- headers and timestamps ----------------------------------------------- */

static const char *hdr(const struct wh_req *r, const char *name, size_t *len)
{
	const char *v = r->header(r->ud, name, len);

	if (!v)
		*len = 0;
	return v;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* A unix timestamp in decimal digits: 0 and *TS, or -1. */
static int parse_ts(const char *s, size_t n, int64_t *ts)
{
	int64_t v = 0;

	if (n == 0 || n > MAX_TS_DIGITS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*ts = v;
	return 0;
}

/* TS against R->now and S's tolerance (0: no check), both ways. */
static int check_ts(const struct wh_source *s, const struct wh_req *r, int64_t ts,
                    char *why, size_t whylen)
{
	int64_t age = r->now - ts;

	if (s->tolerance <= 0)
		return 0;
	if (age > s->tolerance) {
		snprintf(why, whylen, "timestamp outside the tolerance (%" PRId64 " s old, %"
		         PRId64 " s allowed)", age, s->tolerance);
		return -1;
	}
	if (-age > s->tolerance) {
		snprintf(why, whylen, "timestamp outside the tolerance (%" PRId64
		         " s in the future, %" PRId64 " s allowed)", -age, s->tolerance);
		return -1;
	}
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- the schemes ------------------------------------------------------------ */

/* Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]; other keys (v0, a
 * future scheme) are ignored. Signed: "<t>." body. */
static int verify_stripe(const struct wh_source *s, const struct wh_req *r, char *why,
                         size_t whylen)
{
	static const char H[] = "Stripe-Signature";
	struct cand c[WH_MAX_SIGNATURES];
	unsigned n = 0;
	size_t len, tlen = 0;
	const char *v = hdr(r, H, &len), *t = NULL;
	int64_t ts;

	if (!v)
		return fail(why, whylen, "missing %s header", H);
	for (size_t i = 0; i <= len;) {
		size_t j = i;

		while (j < len && v[j] != ',')
			j++;
		const char *item = v + i;
		size_t ilen = j - i;

		trim(&item, &ilen);
		if (ilen > 2 && item[0] == 't' && item[1] == '=') {
			if (t)
				return fail(why, whylen, "malformed %s header (two timestamps)", H);
			t = item + 2;
			tlen = ilen - 2;
		} else if (ilen >= 3 && memcmp(item, "v1=", 3) == 0) {
			if (n == WH_MAX_SIGNATURES) {
				snprintf(why, whylen, "malformed %s header (more than %d v1 signatures)",
				         H, WH_MAX_SIGNATURES);
				return -1;
			}
			long got = hex_decode(item + 3, ilen - 3, c[n].mac, MAC_MAX);

			c[n++].len = got == 32 ? 32 : 0;
		}
		i = j + 1;
	}
	if (!t || parse_ts(t, tlen, &ts))
		return fail(why, whylen, "malformed %s header (no t=<unix time>)", H);
	if (n == 0)
		return fail(why, whylen, "malformed %s header (no v1 signature)", H);
	if (check_ts(s, r, ts, why, whylen))
		return -1;

	struct piece p[3] = { { t, tlen }, { ".", 1 }, { r->body, r->body_len } };

	if (!any_match(s, WH_SHA256, p, 3, c, n))
		return fail(why, whylen, "no signature matches");
	return 0;
}

/* X-Hub-Signature-256: sha256=<hex> over the body. The legacy SHA-1
 * X-Hub-Signature is not accepted. */
static int verify_github(const struct wh_source *s, const struct wh_req *r, char *why,
                         size_t whylen)
{
	static const char H[] = "X-Hub-Signature-256";
	struct cand c;
	size_t len;
	const char *v = hdr(r, H, &len);

	if (!v) {
		if (hdr(r, "X-Hub-Signature", &len))
			return fail(why, whylen, "missing %s header (the SHA-1 X-Hub-Signature "
			            "is not accepted)", H);
		return fail(why, whylen, "missing %s header", H);
	}
	trim(&v, &len);
	if (len < 7 || strncasecmp(v, "sha256=", 7) != 0 ||
	    hex_decode(v + 7, len - 7, c.mac, MAC_MAX) != 32)
		return fail(why, whylen, "malformed %s header (want sha256=<64 hex digits>)", H);
	c.len = 32;

	struct piece p = { r->body, r->body_len };

	if (!any_match(s, WH_SHA256, &p, 1, &c, 1))
		return fail(why, whylen, "no signature matches");
	return 0;
}

/* X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of the body. */
static int verify_shopify(const struct wh_source *s, const struct wh_req *r, char *why,
                          size_t whylen)
{
	static const char H[] = "X-Shopify-Hmac-Sha256";
	struct cand c;
	size_t len;
	const char *v = hdr(r, H, &len);

	if (!v)
		return fail(why, whylen, "missing %s header", H);
	trim(&v, &len);
	if (b64_decode(v, len, c.mac, MAC_MAX) != 32)
		return fail(why, whylen, "malformed %s header (want the base64 of 32 bytes)", H);
	c.len = 32;

	struct piece p = { r->body, r->body_len };

	if (!any_match(s, WH_SHA256, &p, 1, &c, 1))
		return fail(why, whylen, "no signature matches");
	return 0;
}

/* The three Standard Webhooks headers, or Svix's names for them when the
 * webhook-* ones are all absent (Svix sends svix-id/-timestamp/-signature). */
static void standard_headers(const struct wh_req *r, const char **id, size_t *idlen,
                             const char **ts, size_t *tslen, const char **sig, size_t *siglen,
                             const char **prefix)
{
	*prefix = "webhook";
	*id = hdr(r, "webhook-id", idlen);
	*ts = hdr(r, "webhook-timestamp", tslen);
	*sig = hdr(r, "webhook-signature", siglen);
	if (!*id && !*ts && !*sig) {
		const char *a, *b, *c;
		size_t al, bl, cl;

		a = hdr(r, "svix-id", &al);
		b = hdr(r, "svix-timestamp", &bl);
		c = hdr(r, "svix-signature", &cl);
		if (a || b || c) {
			*prefix = "svix";
			*id = a, *idlen = al;
			*ts = b, *tslen = bl;
			*sig = c, *siglen = cl;
		}
	}
}

/* webhook-signature: space-separated "v1,<base64>" (other versions, e.g.
 * the asymmetric v1a, are ignored); signed: "<id>.<timestamp>." body. */
static int verify_standard(const struct wh_source *s, const struct wh_req *r, char *why,
                           size_t whylen)
{
	struct cand c[WH_MAX_SIGNATURES];
	unsigned n = 0;
	const char *id, *t, *v, *pre;
	size_t idlen, tlen, len;
	int64_t ts;

	standard_headers(r, &id, &idlen, &t, &tlen, &v, &len, &pre);
	if (!id) {
		snprintf(why, whylen, "missing %s-id header", pre);
		return -1;
	}
	if (!t) {
		snprintf(why, whylen, "missing %s-timestamp header", pre);
		return -1;
	}
	if (!v) {
		snprintf(why, whylen, "missing %s-signature header", pre);
		return -1;
	}
	trim(&id, &idlen);
	trim(&t, &tlen);
	if (idlen == 0) {
		snprintf(why, whylen, "malformed %s-id header (empty)", pre);
		return -1;
	}
	if (parse_ts(t, tlen, &ts)) {
		snprintf(why, whylen, "malformed %s-timestamp header (want unix seconds)", pre);
		return -1;
	}
	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && v[j] != ' ')
			j++;
		if (j - i >= 3 && memcmp(v + i, "v1,", 3) == 0) {
			if (n == WH_MAX_SIGNATURES) {
				snprintf(why, whylen, "malformed %s-signature header (more than %d v1 "
				         "signatures)", pre, WH_MAX_SIGNATURES);
				return -1;
			}
			long got = b64_decode(v + i + 3, j - i - 3, c[n].mac, MAC_MAX);

			c[n++].len = got == 32 ? 32 : 0;
		}
		i = j + 1;
	}
	if (n == 0) {
		snprintf(why, whylen, "malformed %s-signature header (no v1,<base64> signature)",
		         pre);
		return -1;
	}
	if (check_ts(s, r, ts, why, whylen))
		return -1;

	struct piece p[5] = { { id, idlen }, { ".", 1 }, { t, tlen }, { ".", 1 },
	                      { r->body, r->body_len } };

	if (!any_match(s, WH_SHA256, p, 5, c, n))
		return fail(why, whylen, "no signature matches");
	return 0;
}

/* scheme = "hmac": PREFIX then the MAC in hex or base64 in one header; the
 * signed content is the template with {body}, {timestamp} (the timestamp
 * header's value) and {id} (the id_header's value) put in. */
static int verify_hmac(const struct wh_source *s, const struct wh_req *r, char *why,
                       size_t whylen)
{
	const struct wh_hmac *h = &s->hmac;
	struct piece p[MAX_PIECES];
	unsigned np = 0;
	struct cand c;
	const char *v, *t = NULL, *id = NULL;
	size_t len, tlen = 0, idlen = 0, plen = strlen(h->prefix);
	long got;

	v = hdr(r, h->header, &len);
	if (!v)
		return fail(why, whylen, "missing %s header", h->header);
	trim(&v, &len);
	if (len < plen || memcmp(v, h->prefix, plen) != 0) {
		snprintf(why, whylen, "malformed %s header (want %s<%s>)", h->header, h->prefix,
		         h->enc == WH_BASE64 ? "base64" : "hex");
		return -1;
	}
	if (h->enc == WH_BASE64)
		got = b64_decode(v + plen, len - plen, c.mac, MAC_MAX);
	else
		got = hex_decode(v + plen, len - plen, c.mac, MAC_MAX);
	if (got <= 0) {
		snprintf(why, whylen, "malformed %s header (want %s<%s>)", h->header, h->prefix,
		         h->enc == WH_BASE64 ? "base64" : "hex");
		return -1;
	}
	c.len = (size_t)got;
	if (h->timestamp_header) {
		int64_t ts;

		t = hdr(r, h->timestamp_header, &tlen);
		if (!t)
			return fail(why, whylen, "missing %s header", h->timestamp_header);
		trim(&t, &tlen);
		if (parse_ts(t, tlen, &ts))
			return fail(why, whylen, "malformed %s header (want unix seconds)",
			            h->timestamp_header);
		if (check_ts(s, r, ts, why, whylen))
			return -1;
	}
	for (const char *q = h->tmpl; *q && np < MAX_PIECES;) {
		if (strncmp(q, "{body}", 6) == 0) {
			p[np++] = (struct piece){ r->body, r->body_len };
			q += 6;
		} else if (strncmp(q, "{timestamp}", 11) == 0) {
			p[np++] = (struct piece){ t, tlen };
			q += 11;
		} else if (strncmp(q, "{id}", 4) == 0) {
			if (!id) {
				id = s->id_header ? hdr(r, s->id_header, &idlen) : NULL;
				if (!id)
					return fail(why, whylen, "missing %s header",
					            s->id_header ? s->id_header : "id");
				trim(&id, &idlen);
			}
			p[np++] = (struct piece){ id, idlen };
			q += 4;
		} else {
			size_t k = 1;

			while (q[k] && q[k] != '{')
				k++;
			p[np++] = (struct piece){ q, k };
			q += k;
		}
	}
	if (!any_match(s, h->alg, p, np, &c, 1))
		return fail(why, whylen, "no signature matches");
	return 0;
}

int wh_hmac_template_check(const char *tmpl, int has_ts, int has_id, char *err,
                           size_t errlen)
{
	unsigned np = 0, body = 0, ts = 0;

	for (const char *q = tmpl; *q; np++) {
		if (strncmp(q, "{body}", 6) == 0) {
			body++;
			q += 6;
		} else if (strncmp(q, "{timestamp}", 11) == 0) {
			ts++;
			q += 11;
		} else if (strncmp(q, "{id}", 4) == 0) {
			if (!has_id) {
				snprintf(err, errlen, "template uses {id}: set id_header to the "
				         "header that carries it");
				return -1;
			}
			q += 4;
		} else {
			size_t k = 1;

			if (q[0] == '{') {
				while (isalnum((unsigned char)q[k]) || q[k] == '_')
					k++;
				if (k > 1 && q[k] == '}') {
					snprintf(err, errlen, "template has an unknown placeholder "
					         "\"%.*s\" (use {body}, {timestamp}, {id})", (int)(k + 1), q);
					return -1;
				}
				k = 1;
			}
			while (q[k] && q[k] != '{')
				k++;
			q += k;
		}
	}
	if (np > MAX_PIECES) {
		snprintf(err, errlen, "template has more than %d parts", MAX_PIECES);
		return -1;
	}
	if (body == 0) {
		snprintf(err, errlen, "template must contain {body} (else the body is not signed)");
		return -1;
	}
	if (ts && !has_ts) {
		snprintf(err, errlen, "template uses {timestamp}: set timestamp_header");
		return -1;
	}
	if (!ts && has_ts) {
		snprintf(err, errlen, "timestamp_header is set but the template has no "
		         "{timestamp} (the timestamp would not be signed)");
		return -1;
	}
	return 0;
}

int wh_verify(const struct wh_source *s, const struct wh_req *r, char *why, size_t whylen)
{
	switch (s->scheme) {
	case WH_SCHEME_STRIPE:
		return verify_stripe(s, r, why, whylen);
	case WH_SCHEME_GITHUB:
		return verify_github(s, r, why, whylen);
	case WH_SCHEME_SHOPIFY:
		return verify_shopify(s, r, why, whylen);
	case WH_SCHEME_STANDARD:
		return verify_standard(s, r, why, whylen);
	case WH_SCHEME_HMAC:
		return verify_hmac(s, r, why, whylen);
	default:
		return fail(why, whylen, "this source verifies in Lua (%s)", "scheme = \"lua\"");
	}
}

/* ---- outbound signing and secrets ------------------------------------------ */

int wh_sign_standard(const unsigned char *key, size_t keylen, const char *id, int64_t ts,
                     const void *body, size_t len, char *out, size_t outlen)
{
	unsigned char mac[MAC_MAX];
	char tsbuf[24];
	int tn = snprintf(tsbuf, sizeof(tsbuf), "%" PRId64, ts);
	struct piece p[5] = { { id, strlen(id) }, { ".", 1 }, { tsbuf, (size_t)tn }, { ".", 1 },
	                      { body, len } };
	size_t n = hmac(WH_SHA256, key, keylen, p, 5, mac);

	/* "v1," + 44 base64 characters + NUL */
	if (n != 32 || outlen < 3 + 44 + 1)
		return -1;
	memcpy(out, "v1,", 3);
	b64_encode(mac, n, out + 3);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int wh_secret_parse(int scheme, const char *text, size_t len, struct wh_secret *out,
                    char *err, size_t errlen)
{
	out->key = NULL;
	out->len = 0;
	if (len == 0) {
		snprintf(err, errlen, "a secret is empty (is its environment variable set?)");
		return -1;
	}
	if (scheme == WH_SCHEME_STANDARD) {
		/* as the standardwebhooks library: drop whsec_, base64-decode the rest */
		if (len >= 6 && memcmp(text, "whsec_", 6) == 0) {
			text += 6;
			len -= 6;
		}
		unsigned char *k = malloc(len ? len : 1);
		long n = k ? b64_decode(text, len, k, len) : -1;

		if (n <= 0) {
			if (k)
				OPENSSL_cleanse(k, len ? len : 1);
			free(k);
			snprintf(err, errlen, "a standard secret must be \"whsec_\" and base64 "
			         "(as the sender shows it), and not empty");
			return -1;
		}
		out->key = k;
		out->len = (size_t)n;
		return 0;
	}
	if (scheme == WH_SCHEME_STRIPE && len > 3 &&
	    (memcmp(text, "sk_", 3) == 0 || memcmp(text, "rk_", 3) == 0 ||
	     memcmp(text, "pk_", 3) == 0)) {
		snprintf(err, errlen, "a Stripe API key is not the webhook signing secret "
		         "(whsec_..., shown with the endpoint)");
		return -1;
	}
	out->key = malloc(len);
	if (!out->key) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(out->key, text, len);
	out->len = len;
	return 0;
}

/* Used by evid.c: the hex SHA-256 of P (65 bytes into OUT). */
void wh_sha256_hex(const void *p, size_t n, char *out)
{
	unsigned char d[32];
	unsigned dl = 0;

	if (!EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL) || dl != 32)
		memset(d, 0, sizeof(d));
	hex_encode(d, 32, out);
}
