/*
 * test_wh_verify.c - unit tests for the webhook signature schemes
 * (plugins/webhook/verify.c), event ids and types (evid.c) and a source's
 * options (source.c).
 *
 * The accepted vectors were made ONCE by the providers' official libraries,
 * through tests/integration/node/webhooks/sign.js (npm ci there first):
 *
 *   printf '%s' "$BODY" > body.json     # BODY below, no newline
 *   node sign.js stripe   whsec_portico_stripe_current_0001  body.json 1700000000 msg_2Kq9xRkL
 *   node sign.js stripe   whsec_portico_stripe_previous_002  body.json 1700000000 msg_2Kq9xRkL
 *   node sign.js github   gh-secret-current                  body.json 1700000000 msg_2Kq9xRkL
 *   node sign.js github   gh-secret-previous                 body.json 1700000000 msg_2Kq9xRkL
 *   node sign.js standard whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw body.json 1700000000 msg_2Kq9xRkL
 *   node sign.js standard whsec_cG9ydGljby1wcmV2aW91cy1rZXktMDI= body.json 1700000000 msg_2Kq9xRkL
 *   node sign.js shopify  shpss_current_secret               body.json 1700000000 msg_2Kq9xRkL
 *   node sign.js shopify  shpss_previous_secret              body.json 1700000000 msg_2Kq9xRkL
 *
 * (stripe: npm stripe 23.2 generateTestHeaderString; github:
 * @octokit/webhooks-methods 6.0 sign; standard: standardwebhooks 1.3
 * Webhook.sign; shopify: its documented algorithm with node's crypto.) Two
 * more are the providers' documented examples: GitHub's ("It's a Secret to
 * Everybody", "Hello, World!") and Slack's signing example for scheme =
 * "hmac". The other hmac vectors come from Python's hmac module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "evid_json.h"
#include "wh.h"

/* wh.h declares these for the plugin's other parts */
const struct pt_api *wh_api;
struct wh_store *wh_store_main;
char wh_store_error[256];

#define BODY "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":" \
	"{\"id\":\"pi_1\",\"amount\":2000}}}"
#define TS 1700000000
#define ID "msg_2Kq9xRkL"

#define STRIPE_CUR "324e04271486bc00ac8de5ba45fb7d4f88a5c8df6262d75fcaf806f26e95fbee"
#define STRIPE_PREV "b830b5123a3071bb84e061399d5dd387af34483836f5dbbbd4d3fe95ae5c0a67"
#define GITHUB_CUR "sha256=d7cf27de1f03121e1c063527e3317cde9e937dea004001a24685eb832b595f68"
#define GITHUB_PREV "sha256=b3da427a89677e70c986555efd6be06141ed291960a3863838c795b8c1d538ab"
#define STD_CUR "v1,/ZPn9RkU4GxDQIq8AbOZrd2w3Wfv+PxGXVNFyq2kOp4="
#define STD_PREV "v1,Uq/DNcevMUwehx+LGCrkqEZ6PzyukHtHdqtC9dqKfpk="
#define SHOPIFY_CUR "JUNn10KZu7hJf+UJf/5MNkATAOFEJf5V9yzTvejJaT8="
#define SHOPIFY_PREV "rY5rDXsxPMkq1gdTPOU/X6en/11KGXqAgoxFJ4Q5/hA="

/* ---- a request: up to 8 headers ----------------------------------------- */

struct hdrs {
	const char *name[8];
	const char *value[8];
	int n;
};

static const char *get_header(void *ud, const char *name, size_t *len)
{
	struct hdrs *h = ud;

	for (int i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0) {
			*len = strlen(h->value[i]);
			return h->value[i];
		}
	return NULL;
}

static struct hdrs H;

static void hclear(void)
{
	H.n = 0;
}

static void hset(const char *name, const char *value)
{
	H.name[H.n] = name;
	H.value[H.n++] = value;
}

static struct wh_req req_body(const char *body, size_t len, int64_t now)
{
	return (struct wh_req){ get_header, &H, (const unsigned char *)body, len, now };
}

static struct wh_req req(int64_t now)
{
	return req_body(BODY, strlen(BODY), now);
}

#define STD_SRC "{ path = '/std', scheme = 'standard', secrets = { " \
	"'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_cG9ydGljby1wcmV2aW91cy1rZXktMDI=' } }"

static void std_headers(const char *ts, const char *sig)
{
	hclear();
	hset("webhook-id", ID);
	hset("webhook-timestamp", ts);
	hset("webhook-signature", sig);
}

/* ---- sources from Lua ---------------------------------------------------- */

static lua_State *L;
static char err[512];

static int setup(void **st)
{
	(void)st;
	L = luaL_newstate();
	luaL_openlibs(L);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	lua_close(L);
	return 0;
}

/* A source from the Lua table constructor OPTS, or NULL with err set. */
static struct wh_source *src(const char *opts)
{
	char code[2048];
	struct wh_source *s = NULL;

	snprintf(code, sizeof(code), "return %s", opts);
	if (luaL_dostring(L, code)) {
		fail_msg("lua: %s", lua_tostring(L, -1));
	}
	err[0] = '\0';
	int top = lua_gettop(L);
	int rc = wh_source_from_lua(L, -1, "test", &s, err, sizeof(err));

	assert_int_equal(lua_gettop(L), top);
	lua_pop(L, 1);
	assert_true(rc == 0 ? s != NULL : s == NULL);
	return s;
}

static void src_fails(const char *opts, const char *needle)
{
	struct wh_source *s = src(opts);

	if (s)
		fail_msg("accepted: %s", opts);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	assert_non_null(strstr(err, "webhook.source \"test\": "));
}

static char why[256];

static int ok(const struct wh_source *s, struct wh_req r)
{
	why[0] = '\0';
	return wh_verify(s, &r, why, sizeof(why)) == 0;
}

static void rejected(const struct wh_source *s, struct wh_req r, const char *needle)
{
	why[0] = '\0';
	if (wh_verify(s, &r, why, sizeof(why)) == 0)
		fail_msg("accepted, wanted \"%s\"", needle);
	if (!strstr(why, needle))
		fail_msg("why \"%s\" lacks \"%s\"", why, needle);
}

/* ---- stripe ------------------------------------------------------------- */

#define STRIPE_SRC "{ path = '/hooks/stripe', scheme = 'stripe', secrets = { " \
	"'whsec_portico_stripe_current_0001', 'whsec_portico_stripe_previous_002' } }"

static void test_stripe_accepts_each_rotated_secret(void **st)
{
	struct wh_source *s = src(STRIPE_SRC);

	(void)st;
	assert_non_null(s);
	hclear();
	hset("Stripe-Signature", "t=1700000000,v1=" STRIPE_CUR);
	assert_true(ok(s, req(TS + 10)));
	hclear();
	hset("stripe-signature", "t=1700000000,v1=" STRIPE_PREV);
	assert_true(ok(s, req(TS + 10)));
	/* what Stripe sends while a rolled secret is still active: both, plus v0 */
	hclear();
	hset("Stripe-Signature", "t=1700000000, v1=" STRIPE_PREV ",v1=" STRIPE_CUR
	     ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,x=1");
	assert_true(ok(s, req(TS - 299)));
	/* hex digits in upper case are the same signature */
	char up[128] = "t=1700000000,v1=" STRIPE_CUR;

	for (char *p = up + 16; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	hclear();
	hset("Stripe-Signature", up);
	assert_true(ok(s, req(TS)));
	wh_source_free(s);
}

static void test_stripe_rejects(void **st)
{
	struct wh_source *s = src(STRIPE_SRC);
	static char huge[16 * 80 + 200];

	(void)st;
	hclear();
	rejected(s, req(TS), "missing Stripe-Signature header");
	hset("Stripe-Signature", "t=1700000000,v1=" STRIPE_CUR);
	rejected(s, req_body(BODY " ", strlen(BODY) + 1, TS), "no signature matches");
	rejected(s, req(TS + 301), "timestamp outside the tolerance (301 s old, 300 s allowed)");
	rejected(s, req(TS - 301), "timestamp outside the tolerance (301 s in the future");
	hclear();
	hset("Stripe-Signature", "t=1700000001,v1=" STRIPE_CUR);
	rejected(s, req(TS), "no signature matches");
	hclear();
	hset("Stripe-Signature", "t=1700000000,v1=" STRIPE_CUR "0");
	rejected(s, req(TS), "no signature matches");
	hclear();
	hset("Stripe-Signature", "t=1700000000,v0=" STRIPE_CUR);
	rejected(s, req(TS), "malformed Stripe-Signature header (no v1 signature)");
	hclear();
	hset("Stripe-Signature", "t=1700000000");
	rejected(s, req(TS), "malformed Stripe-Signature header (no v1 signature)");
	hclear();
	hset("Stripe-Signature", "v1=" STRIPE_CUR);
	rejected(s, req(TS), "malformed Stripe-Signature header (no t=<unix time>)");
	hclear();
	hset("Stripe-Signature", "");
	rejected(s, req(TS), "malformed Stripe-Signature header");
	hclear();
	hset("Stripe-Signature", "\x01garbage,,,===,t=,v1=zz");
	rejected(s, req(TS), "malformed Stripe-Signature header");
	hclear();
	hset("Stripe-Signature", "t=-1700000000,v1=" STRIPE_CUR);
	rejected(s, req(TS), "malformed");
	hclear();
	hset("Stripe-Signature", "t=1700000000,t=1700000000,v1=" STRIPE_CUR);
	rejected(s, req(TS), "two timestamps");
	/* 17 v1 entries, the valid one last: refused before any HMAC */
	strcpy(huge, "t=1700000000");
	for (int i = 0; i < 16; i++)
		strcat(huge, ",v1=" STRIPE_PREV);
	strcat(huge, ",v1=" STRIPE_CUR);
	hclear();
	hset("Stripe-Signature", huge);
	rejected(s, req(TS), "more than 16 v1 signatures");
	wh_source_free(s);

	/* a removed secret: the old one's signature no longer passes */
	s = src("{ path = '/s', scheme = 'stripe', secrets = { 'whsec_portico_stripe_current_0001' } }");
	hclear();
	hset("Stripe-Signature", "t=1700000000,v1=" STRIPE_PREV);
	rejected(s, req(TS), "no signature matches");
	wh_source_free(s);

	/* tolerance = 0: no timestamp check */
	s = src("{ path = '/s', scheme = 'stripe', tolerance = 0, secrets = { "
	        "'whsec_portico_stripe_current_0001' } }");
	hclear();
	hset("Stripe-Signature", "t=1700000000,v1=" STRIPE_CUR);
	assert_true(ok(s, req(TS + 86400 * 365)));
	wh_source_free(s);
}

static void test_huge_headers_are_cheap_and_refused(void **st)
{
	size_t n = 10000 * 68 + 16;
	char *h = malloc(n > (1 << 20) + 1 ? n : (1 << 20) + 1);

	(void)st;
	strcpy(h, "t=1700000000");
	char *p = h + strlen(h);

	for (int i = 0; i < 10000; i++) {
		memcpy(p, ",v1=" STRIPE_CUR, 68);
		p += 68;
	}
	*p = '\0';
	struct wh_source *s = src(STRIPE_SRC);

	hclear();
	hset("Stripe-Signature", h);
	rejected(s, req(TS), "more than 16 v1 signatures");
	wh_source_free(s);

	/* one 1 MiB value in each scheme's header: malformed, at once */
	memset(h, 'a', 1 << 20);
	h[1 << 20] = '\0';
	static const struct {
		const char *src, *header, *needle;
	} big[] = {
		{ STRIPE_SRC, "Stripe-Signature", "malformed Stripe-Signature header" },
		{ "{ path = '/g', scheme = 'github', secrets = { 'k' } }", "X-Hub-Signature-256",
		  "malformed X-Hub-Signature-256 header" },
		{ "{ path = '/s', scheme = 'shopify', secrets = { 'k' } }", "X-Shopify-Hmac-Sha256",
		  "malformed X-Shopify-Hmac-Sha256 header" },
		{ "{ path = '/h', scheme = 'hmac', header = 'X-Sig', secrets = { 'k' } }", "X-Sig",
		  "malformed X-Sig header" },
	};
	for (unsigned i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		s = src(big[i].src);
		hclear();
		hset(big[i].header, h);
		rejected(s, req(TS), big[i].needle);
		wh_source_free(s);
	}
	s = src(STD_SRC);
	std_headers("1700000000", h);
	rejected(s, req(TS), "malformed webhook-signature header");
	std_headers(h, STD_CUR);
	rejected(s, req(TS), "malformed webhook-timestamp header");
	wh_source_free(s);
	free(h);
}

/* ---- github --------------------------------------------------------------- */

static void test_github(void **st)
{
	struct wh_source *s = src("{ path = '/gh', scheme = 'github', secrets = { "
	                          "'gh-secret-current', 'gh-secret-previous' } }");

	(void)st;
	hclear();
	hset("X-Hub-Signature-256", GITHUB_CUR);
	assert_true(ok(s, req(TS)));
	hclear();
	hset("x-hub-signature-256", GITHUB_PREV);
	assert_true(ok(s, req(0)));    /* no timestamp: any time */
	rejected(s, req_body("{}", 2, TS), "no signature matches");
	hclear();
	rejected(s, req(TS), "missing X-Hub-Signature-256 header");
	hset("X-Hub-Signature", "sha1=0123456789012345678901234567890123456789");
	rejected(s, req(TS), "the SHA-1 X-Hub-Signature is not accepted");
	hclear();
	hset("X-Hub-Signature-256", &GITHUB_CUR[7]);
	rejected(s, req(TS), "malformed X-Hub-Signature-256 header");
	hclear();
	hset("X-Hub-Signature-256", "sha1=d7cf27de1f03121e1c063527e3317cde9e937dea");
	rejected(s, req(TS), "malformed X-Hub-Signature-256 header");
	hclear();
	hset("X-Hub-Signature-256", "sha256=d7cf27de1f03121e1c063527e3317cde9e937dea004001a24685eb832b595f6");
	rejected(s, req(TS), "malformed");
	hclear();
	hset("X-Hub-Signature-256", "sha256=d7cf27de1f03121e1c063527e3317cde9e937dea004001a24685eb832b595f6g");
	rejected(s, req(TS), "malformed");
	hclear();
	hset("X-Hub-Signature-256", "sha256=e7cf27de1f03121e1c063527e3317cde9e937dea004001a24685eb832b595f68");
	rejected(s, req(TS), "no signature matches");
	wh_source_free(s);

	/* GitHub's documented example */
	s = src("{ path = '/gh', scheme = 'github', secrets = { \"It's a Secret to Everybody\" } }");
	hclear();
	hset("X-Hub-Signature-256",
	     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
	assert_true(ok(s, req_body("Hello, World!", 13, TS)));
	wh_source_free(s);
}

/* ---- shopify ------------------------------------------------------------- */

static void test_shopify(void **st)
{
	struct wh_source *s = src("{ path = '/shop', scheme = 'shopify', secrets = { "
	                          "'shpss_current_secret', 'shpss_previous_secret' } }");

	(void)st;
	hclear();
	hset("X-Shopify-Hmac-Sha256", SHOPIFY_CUR);
	assert_true(ok(s, req(TS)));
	hclear();
	hset("X-Shopify-Hmac-Sha256", SHOPIFY_PREV);
	assert_true(ok(s, req(TS)));
	rejected(s, req_body(BODY, strlen(BODY) - 1, TS), "no signature matches");
	hclear();
	rejected(s, req(TS), "missing X-Shopify-Hmac-Sha256 header");
	hset("X-Shopify-Hmac-Sha256", "JUNn10KZu7hJf+UJf/5MNkATAOFEJf5V9yzTvejJaT");
	rejected(s, req(TS), "malformed X-Shopify-Hmac-Sha256 header");
	hclear();
	hset("X-Shopify-Hmac-Sha256", "");
	rejected(s, req(TS), "malformed");
	hclear();
	hset("X-Shopify-Hmac-Sha256", "not base64 at all!!");
	rejected(s, req(TS), "malformed");
	hclear();
	/* one character off the alphabet each: the URL-safe pair, a byte
	 * over 0x7f, a NUL-free control, '=' inside */
	{
		static const char *const bad[] = {
			"JUNn10KZu7hJf-UJf/5MNkATAOFEJf5V9yzTvejJaT8=",
			"JUNn10KZu7hJf+UJf_5MNkATAOFEJf5V9yzTvejJaT8=",
			"JUNn10KZu7hJf+UJf/5MNkATAOFEJf5V9yzTvejJa\xc3\xa9=",
			"JUNn10KZu7hJf+UJf/5MNkATAOFEJf5V9yzTvejJ\x01T8=",
			"JUNn10KZu7hJf+UJf/5MNkA=AOFEJf5V9yzTvejJaT8=",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			hset("X-Shopify-Hmac-Sha256", bad[i]);
			rejected(s, req(TS), "malformed");
			hclear();
		}
	}
	hset("X-Shopify-Hmac-Sha256", "KUNn10KZu7hJf+UJf/5MNkATAOFEJf5V9yzTvejJaT8=");
	rejected(s, req(TS), "no signature matches");
	wh_source_free(s);
}

/* ---- standard webhooks ---------------------------------------------------- */

static void test_standard(void **st)
{
	struct wh_source *s = src(STD_SRC);
	static char many[17 * 48 + 8];

	(void)st;
	std_headers("1700000000", STD_CUR);
	assert_true(ok(s, req(TS)));
	std_headers("1700000000", STD_PREV);
	assert_true(ok(s, req(TS + 300)));
	assert_true(ok(s, req(TS - 300)));
	std_headers("1700000000", "v1a,c29tZSBlZDI1NTE5 v1,AAAA " STD_PREV " v2,xyz");
	assert_true(ok(s, req(TS)));
	/* Svix's header names */
	hclear();
	hset("svix-id", ID);
	hset("svix-timestamp", "1700000000");
	hset("svix-signature", STD_CUR);
	assert_true(ok(s, req(TS)));

	std_headers("1700000000", STD_CUR);
	rejected(s, req(TS + 301), "timestamp outside the tolerance (301 s old, 300 s allowed)");
	rejected(s, req(TS - 301), "timestamp outside the tolerance (301 s in the future, 300 s");
	rejected(s, req_body(BODY "x", strlen(BODY) + 1, TS), "no signature matches");
	std_headers("1700000001", STD_CUR);
	rejected(s, req(TS), "no signature matches");
	std_headers("1700000000", "v1,/ZPn9RkU4GxDQIq8AbOZrd2w3Wfv+PxGXVNFyq2kOp5=");
	rejected(s, req(TS), "no signature matches");
	std_headers("1700000000", "v1,/ZPn9RkU4GxDQIq8AbOZrd2w3Wfv+PxGXVNFyq2kOp4");
	assert_true(ok(s, req(TS)));    /* unpadded: the same bytes */
	std_headers("1700000000", "v2,/ZPn9RkU4GxDQIq8AbOZrd2w3Wfv+PxGXVNFyq2kOp4=");
	rejected(s, req(TS), "malformed webhook-signature header (no v1,<base64> signature)");
	std_headers("1700000000", "");
	rejected(s, req(TS), "malformed webhook-signature header");
	std_headers("soon", STD_CUR);
	rejected(s, req(TS), "malformed webhook-timestamp header");
	std_headers("", STD_CUR);
	rejected(s, req(TS), "malformed webhook-timestamp header");
	hclear();
	hset("webhook-timestamp", "1700000000");
	hset("webhook-signature", STD_CUR);
	rejected(s, req(TS), "missing webhook-id header");
	hclear();
	hset("webhook-id", ID);
	hset("webhook-signature", STD_CUR);
	rejected(s, req(TS), "missing webhook-timestamp header");
	hclear();
	hset("webhook-id", ID);
	hset("webhook-timestamp", "1700000000");
	rejected(s, req(TS), "missing webhook-signature header");
	/* the id is signed: another id, same signature */
	hclear();
	hset("webhook-id", "msg_other");
	hset("webhook-timestamp", "1700000000");
	hset("webhook-signature", STD_CUR);
	rejected(s, req(TS), "no signature matches");
	many[0] = '\0';
	for (int i = 0; i < 16; i++)
		strcat(many, STD_PREV " ");
	strcat(many, STD_CUR);
	std_headers("1700000000", many);
	rejected(s, req(TS), "more than 16 v1 signatures");
	wh_source_free(s);

	/* a removed secret */
	s = src("{ path = '/std', scheme = 'standard', secrets = { "
	        "'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' } }");
	std_headers("1700000000", STD_PREV);
	rejected(s, req(TS), "no signature matches");
	wh_source_free(s);
	/* the secret without its whsec_ prefix is the same key */
	s = src("{ path = '/std', scheme = 'standard', secrets = { 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' } }");
	std_headers("1700000000", STD_CUR);
	assert_true(ok(s, req(TS)));
	wh_source_free(s);
}

/* Kept keyed HMAC contexts (verify.c) are found by the key's bytes: a key
 * changed where it lives (a reload reusing freed memory) is not answered
 * from the old one, and more keys than are kept all still verify, round
 * after round (evicted slots keyed again). */
static void test_kept_hmac_keys_follow_the_key_bytes(void **st)
{
	struct wh_source *s = src("{ path = '/gh', scheme = 'github', secrets = { "
	                          "'gh-secret-current' } }"), *many[20];
	unsigned char mac[32];
	unsigned int maclen = 0;
	char key[32], sig[20][8 + 64];

	(void)st;
	hclear();
	hset("X-Hub-Signature-256", GITHUB_CUR);
	assert_true(ok(s, req(TS)));
	s->secrets[0].key[0] ^= 1;
	rejected(s, req(TS), "no signature matches");
	s->secrets[0].key[0] ^= 1;
	assert_true(ok(s, req(TS)));
	wh_source_free(s);

	for (int i = 0; i < 20; i++) {
		char opts[128];

		snprintf(key, sizeof(key), "gh-key-%02d", i);
		snprintf(opts, sizeof(opts), "{ path = '/gh', scheme = 'github', secrets = { '%s' } }",
		         key);
		many[i] = src(opts);
		assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)BODY,
		                     strlen(BODY), mac, &maclen));
		strcpy(sig[i], "sha256=");
		for (unsigned k = 0; k < maclen; k++)
			sprintf(sig[i] + 7 + 2 * k, "%02x", mac[k]);
	}
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 20; i++) {
			hclear();
			hset("X-Hub-Signature-256", sig[i]);
			assert_true(ok(many[i], req(TS)));
			rejected(many[(i + 1) % 20], req(TS), "no signature matches");
		}
	for (int i = 0; i < 20; i++)
		wh_source_free(many[i]);
}

static void test_sign_standard_matches_the_library(void **st)
{
	struct wh_secret k;
	char out[64], e[128];
	const char *sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

	(void)st;
	assert_int_equal(wh_secret_parse(WH_SCHEME_STANDARD, sec, strlen(sec), &k, e, sizeof(e)), 0);
	assert_int_equal(wh_sign_standard(k.key, k.len, ID, TS, BODY, strlen(BODY), out,
	                                  sizeof(out)), 0);
	assert_string_equal(out, STD_CUR);
	assert_int_equal(wh_sign_standard(k.key, k.len, ID, TS, BODY, strlen(BODY), out, 47), -1);
	free(k.key);

	assert_int_equal(wh_secret_parse(WH_SCHEME_STANDARD, "whsec_", 6, &k, e, sizeof(e)), -1);
	assert_non_null(strstr(e, "base64"));
	assert_int_equal(wh_secret_parse(WH_SCHEME_STANDARD, "whsec_a$b", 9, &k, e, sizeof(e)), -1);
	assert_int_equal(wh_secret_parse(WH_SCHEME_STRIPE, "", 0, &k, e, sizeof(e)), -1);
	assert_non_null(strstr(e, "empty"));
	/* stripe keys are used as given, whsec_ and all */
	assert_int_equal(wh_secret_parse(WH_SCHEME_STRIPE, "whsec_x", 7, &k, e, sizeof(e)), 0);
	assert_int_equal(k.len, 7);
	assert_memory_equal(k.key, "whsec_x", 7);
	free(k.key);
}

/* ---- hmac ---------------------------------------------------------------- */

#define SLACK_BODY "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow" \
	"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner" \
	"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F" \
	"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=" \
	"398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"

static void test_hmac_slack_example(void **st)
{
	struct wh_source *s = src("{ path = '/slack', scheme = 'hmac', header = 'X-Slack-Signature', "
	                          "prefix = 'v0=', timestamp_header = 'X-Slack-Request-Timestamp', "
	                          "template = 'v0:{timestamp}:{body}', "
	                          "secrets = { '8f742231b10e8888abcd99yyyzzz85a5' } }");

	(void)st;
	assert_non_null(s);
	hclear();
	hset("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
	hset("X-Slack-Request-Timestamp", "1531420618");
	assert_true(ok(s, req_body(SLACK_BODY, strlen(SLACK_BODY), 1531420618 + 60)));
	rejected(s, req_body(SLACK_BODY, strlen(SLACK_BODY), 1531420618 + 600),
	         "timestamp outside the tolerance (600 s old");
	rejected(s, req_body(SLACK_BODY "&x=1", strlen(SLACK_BODY) + 4, 1531420618),
	         "no signature matches");
	hclear();
	hset("X-Slack-Signature", "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
	hset("X-Slack-Request-Timestamp", "1531420618");
	rejected(s, req_body(SLACK_BODY, strlen(SLACK_BODY), 1531420618),
	         "malformed X-Slack-Signature header (want v0=<hex>)");
	hclear();
	hset("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
	rejected(s, req_body(SLACK_BODY, strlen(SLACK_BODY), 1531420618),
	         "missing X-Slack-Request-Timestamp header");
	wh_source_free(s);
}

static void test_hmac_algorithms_and_encodings(void **st)
{
	struct wh_source *s;

	(void)st;
	s = src("{ path = '/h', scheme = 'hmac', header = 'X-Sig', algorithm = 'sha1', "
	        "encoding = 'base64', secrets = { 'wrong', 'hmac-secret' } }");
	hclear();
	hset("X-Sig", "xAsISCm/WAjIMF//SyMU7w7GNW4=");
	assert_true(ok(s, req(TS)));
	hclear();
	hset("X-Sig", "yAsISCm/WAjIMF//SyMU7w7GNW4=");
	rejected(s, req(TS), "no signature matches");
	hclear();    /* the same MAC with non-zero unused bits: one text per MAC */
	hset("X-Sig", "xAsISCm/WAjIMF//SyMU7w7GNW5=");
	rejected(s, req(TS), "malformed X-Sig header (want <base64>)");
	hclear();
	rejected(s, req(TS), "missing X-Sig header");
	wh_source_free(s);

	s = src("{ path = '/h', scheme = 'hmac', header = 'X-Sig', algorithm = 'sha512', "
	        "secrets = { 'hmac-secret' } }");
	hclear();
	hset("X-Sig", "937671D8EB43214427F7DA55E7C856F13B9AD9611C4BFF5BC7949870DC25C31C"
	              "3C5A4DE40E2DEF15ED9369AB2D789971B9C57A7F575BF95A6C9D3A24021FA870");
	assert_true(ok(s, req(TS)));
	/* a SHA-256-length MAC under sha512: no match, not a crash */
	hclear();
	hset("X-Sig", STRIPE_CUR);
	rejected(s, req(TS), "no signature matches");
	wh_source_free(s);

	/* {id} from id_header, timestamp header with its own template */
	s = src("{ path = '/h', scheme = 'hmac', header = 'X-Sig', id_header = 'X-Id', "
	        "timestamp_header = 'X-Ts', template = '{id}/{timestamp}/{body}', tolerance = 60, "
	        "secrets = { 'hmac-secret' } }");
	hclear();
	hset("X-Sig", "ad9b31829b30c63a1da0f17677958f8c819bb0891a1c04554d71dd62ae663a63");
	hset("X-Id", ID);
	hset("X-Ts", "1700000000");
	assert_true(ok(s, req(TS + 60)));
	rejected(s, req(TS + 61), "61 s old, 60 s allowed");
	H.n = 2;    /* no X-Ts */
	rejected(s, req(TS), "missing X-Ts header");
	hclear();
	hset("X-Sig", "ad9b31829b30c63a1da0f17677958f8c819bb0891a1c04554d71dd62ae663a63");
	hset("X-Ts", "1700000000");
	rejected(s, req(TS), "missing X-Id header");
	wh_source_free(s);
}

/* ---- options --------------------------------------------------------------- */

static void test_source_defaults(void **st)
{
	struct wh_source *s = src(STRIPE_SRC);

	(void)st;
	assert_string_equal(s->name, "test");
	assert_string_equal(s->path, "/hooks/stripe");
	assert_int_equal(s->scheme, WH_SCHEME_STRIPE);
	assert_int_equal(s->nsecrets, 2);
	assert_int_equal(s->secrets[1].len, strlen("whsec_portico_stripe_previous_002"));
	assert_int_equal(s->tolerance, 300);
	assert_int_equal(s->retry.max, 8);
	assert_true(s->retry.base == 2 && s->retry.cap == 3600);
	assert_int_equal(s->max_body, 1 << 20);
	assert_int_equal(s->ordered, 0);
	assert_null(s->id_header);
	wh_source_free(s);

	s = src("{ path = '/h', scheme = 'hmac', header = 'X-Sig', timestamp_header = 'X-Ts', "
	        "secrets = { 'k' }, retry = { max = 3, base = 0.5, cap = 10 }, ordered = true, "
	        "max_body = 4096, id_path = 'data.object.id', type_header = 'X-Type' }");
	assert_non_null(s);
	assert_int_equal(s->hmac.alg, WH_SHA256);
	assert_int_equal(s->hmac.enc, WH_HEX);
	assert_string_equal(s->hmac.prefix, "");
	assert_string_equal(s->hmac.tmpl, "{timestamp}.{body}");
	assert_int_equal(s->retry.max, 3);
	assert_true(s->retry.base == 0.5 && s->retry.cap == 10);
	assert_int_equal(s->ordered, 1);
	assert_int_equal(s->max_body, 4096);
	wh_source_free(s);

	s = src("{ path = '/l', verify = function(req) return true end }");
	assert_non_null(s);
	assert_int_equal(s->scheme, WH_SCHEME_LUA);
	assert_int_equal(s->nsecrets, 0);
	wh_source_free(s);
}

static void test_source_rejects_bad_options(void **st)
{
	(void)st;
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, tolerence = 10 }",
	          "unknown option tolerence");
	src_fails("{ path = '/x', scheme = 'stripe', secret = 'a' }",
	          "did you mean secrets");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = 'a' }",
	          "secrets must be a non-empty list of strings (write secrets = { \"...\" })");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { } }",
	          "secrets must be a non-empty list of strings");
	src_fails("{ path = '/x', scheme = 'stripe' }", "secrets must be a non-empty list");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a', 42 } }",
	          "secrets[2] must be a string, not a number");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a', nil, 'c' } }",
	          "secrets must be a non-empty list of strings");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a', '' } }",
	          "secrets[2]: a secret is empty");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a', x = 'b' } }",
	          "secrets must be a non-empty list");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'whsec_a', 'sk_live_123' } }",
	          "secrets[2]: a Stripe API key is not the webhook signing secret");
	src_fails("{ path = '/x', scheme = 'standard', secrets = { 'whsec_not base64!' } }",
	          "secrets[1]: a standard secret must be \"whsec_\" and base64");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a','a','a','a','a','a','a','a',"
	          "'a','a','a','a','a','a','a','a','a' } }", "at most 16");
	src_fails("{ path = '/x', scheme = 'strype', secrets = { 'a' } }", "unknown scheme \"strype\"");
	src_fails("{ path = '/x', secrets = { 'a' } }", "scheme is required");
	src_fails("{ path = '/x', scheme = 42, secrets = { 'a' } }", "scheme must be a string, not a number");
	src_fails("{ path = '/x', scheme = 'lua' }", "needs verify");
	src_fails("{ path = '/x', scheme = 'github', secrets = { 'a' }, verify = print }",
	          "verify is only for scheme = \"lua\"");
	src_fails("{ path = '/x', scheme = 'lua', verify = 'yes' }", "verify must be a function");
	src_fails("{ scheme = 'github', secrets = { 'a' } }", "path is required");
	src_fails("{ path = 'x', scheme = 'github', secrets = { 'a' } }", "path must start with /");
	src_fails("{ path = '/a b', scheme = 'github', secrets = { 'a' } }", "space or control");
	src_fails("{ path = '/x', scheme = 'github', secrets = { 'a' }, tolerance = 60 }",
	          "tolerance has no effect: scheme github signs no timestamp");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, tolerance = -1 }",
	          "tolerance must be an integer from 0 to");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, tolerance = 1.5 }",
	          "tolerance must be an integer");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, tolerance = '300' }",
	          "tolerance must be a number, not a string");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, retry = 3 }",
	          "retry must be a table");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, retry = { maximum = 3 } }",
	          "unknown option retry.maximum");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, retry = { max = 0 } }",
	          "retry.max must be an integer from 1 to 100");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, retry = { base = 10, cap = 5 } }",
	          "retry.cap (5) must not be below retry.base (10)");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, max_body = 0 }",
	          "max_body must be an integer from 1 to");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, ordered = 1 }",
	          "ordered must be true or false");
	src_fails("{ path = '/x', scheme = 'stripe', secrets = { 'a' }, header = 'X-Sig' }",
	          "header is only for scheme = \"hmac\"");
	src_fails("{ path = '/x', scheme = 'hmac', secrets = { 'a' } }", "needs header");
	src_fails("{ path = '/x', scheme = 'hmac', header = 'X Sig', secrets = { 'a' } }",
	          "header must be a header name");
	src_fails("{ path = '/x', scheme = 'hmac', header = 'X-Sig', algorithm = 'md5', secrets = { 'a' } }",
	          "algorithm must be \"sha1\", \"sha256\" or \"sha512\", not \"md5\"");
	src_fails("{ path = '/x', scheme = 'hmac', header = 'X-Sig', encoding = 'base32', secrets = { 'a' } }",
	          "encoding must be \"hex\" or \"base64\"");
	src_fails("{ path = '/x', scheme = 'hmac', header = 'X-Sig', template = '{timestamp}', secrets = { 'a' } }",
	          "template must contain {body}");
	src_fails("{ path = '/x', scheme = 'hmac', header = 'X-Sig', template = '{ts}.{body}', secrets = { 'a' } }",
	          "unknown placeholder \"{ts}\"");
	src_fails("{ path = '/x', scheme = 'hmac', header = 'X-Sig', template = '{timestamp}.{body}', secrets = { 'a' } }",
	          "template uses {timestamp}: set timestamp_header");
	src_fails("{ path = '/x', scheme = 'hmac', header = 'X-Sig', timestamp_header = 'X-Ts', "
	          "template = '{body}', secrets = { 'a' } }", "the timestamp would not be signed");
	src_fails("{ path = '/x', scheme = 'hmac', header = 'X-Sig', template = '{id}.{body}', secrets = { 'a' } }",
	          "template uses {id}: set id_header");
	src_fails("{ path = '/x', scheme = 'hmac', header = 'X-Sig', tolerance = 5, secrets = { 'a' } }",
	          "(set timestamp_header)");
	src_fails("{ path = '/x', scheme = 'github', secrets = { 'a' }, id_path = 'data..id' }",
	          "id_path must be a dot path");
	src_fails("{ path = '/x', scheme = 'github', secrets = { 'a' }, [1] = 'x' }",
	          "options must be name = value (a number key is there)");
	src_fails("42", "options must be a table, not a number");

	struct wh_source *s = NULL;

	lua_newtable(L);
	assert_int_equal(wh_source_from_lua(L, -1, "bad name!", &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the name must be 1 to 64"));
	lua_pop(L, 1);
}

/* ---- ids and types ------------------------------------------------------- */

static void test_event_ids_and_types(void **st)
{
	struct wh_source *s;
	char id[256], type[64], small[8];

	(void)st;
	s = src(STRIPE_SRC);
	hclear();
	struct wh_req r = req(TS);

	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_string_equal(id, "evt_1");
	wh_event_type(s, &r, type, sizeof(type));
	assert_string_equal(type, "payment_intent.succeeded");
	wh_event_type(s, &r, small, sizeof(small));
	assert_string_equal(small, "payment");
	/* not JSON: the body's hash, no type */
	r = req_body("a=1", 3, TS);
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_string_equal(id, "sha256:c22fea5d7428e5cf47ef6354c97c9223c95d6dcdc3e0d2300ff79056b1ff3d85");
	wh_event_type(s, &r, type, sizeof(type));
	assert_string_equal(type, "");
	wh_source_free(s);

	s = src("{ path = '/gh', scheme = 'github', secrets = { 'k' } }");
	hclear();
	hset("X-GitHub-Delivery", " 72d3162e-cc78-11e3-81ab-4c9367dc0958 ");
	hset("X-GitHub-Event", "push");
	r = req(TS);
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_string_equal(id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
	wh_event_type(s, &r, type, sizeof(type));
	assert_string_equal(type, "push");
	assert_int_equal(wh_event_id(s, &r, small, sizeof(small), why, sizeof(why)), -1);
	assert_non_null(strstr(why, "event id longer than 7 bytes"));
	hclear();
	hset("X-GitHub-Delivery", "a\nb");
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), -1);
	assert_non_null(strstr(why, "control character"));
	wh_source_free(s);

	s = src("{ path = '/s', scheme = 'shopify', secrets = { 'k' } }");
	hclear();
	hset("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
	hset("X-Shopify-Topic", "orders/create");
	r = req(TS);
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_string_equal(id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
	wh_event_type(s, &r, type, sizeof(type));
	assert_string_equal(type, "orders/create");
	wh_source_free(s);

	s = src(STD_SRC);
	std_headers("1700000000", STD_CUR);
	r = req(TS);
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_string_equal(id, ID);
	wh_event_type(s, &r, type, sizeof(type));
	assert_string_equal(type, "payment_intent.succeeded");
	hclear();
	hset("svix-id", "msg_svix");
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_string_equal(id, "msg_svix");
	wh_source_free(s);

	/* configured: a JSON path (an integer too), a header, array indexes */
	s = src("{ path = '/h', scheme = 'hmac', header = 'X-Sig', secrets = { 'k' }, "
	        "id_path = 'data.object.amount', type_path = 'items.1.kind' }");
	const char *b = "{\"data\":{\"object\":{\"amount\":2000}},\"items\":[{\"kind\":\"a\"},{\"kind\":\"b\"}]}";

	hclear();
	r = req_body(b, strlen(b), TS);
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_string_equal(id, "2000");
	wh_event_type(s, &r, type, sizeof(type));
	assert_string_equal(type, "b");
	/* the path is absent: the body's hash */
	r = req_body("{\"data\":{}}", 11, TS);
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_int_equal(strncmp(id, "sha256:", 7), 0);
	wh_source_free(s);

	s = src("{ path = '/h', scheme = 'stripe', secrets = { 'k' }, id_header = 'X-Request-Id', "
	        "type_header = 'X-Kind' }");
	hclear();
	hset("X-Request-Id", "req-9");
	hset("X-Kind", "a\tb");
	r = req(TS);
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_string_equal(id, "req-9");
	wh_event_type(s, &r, type, sizeof(type));
	assert_string_equal(type, "a?b");
	hclear();       /* the configured header absent: the scheme's own */
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_string_equal(id, "evt_1");
	wh_source_free(s);
}

static void test_event_id_of_hostile_json(void **st)
{
	struct wh_source *s = src(STRIPE_SRC);
	char id[256], type[64];
	static char deep[6 * 50000 + 1];

	(void)st;
	hclear();
	/* {"a":{"a":... 50000 deep, never closed: refused by the parser */
	for (int i = 0; i < 50000; i++)
		memcpy(deep + 6 * i, "{\"a\":", 5), deep[6 * i + 5] = ' ';
	struct wh_req r = req_body(deep, sizeof(deep) - 1, TS);

	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_int_equal(strncmp(id, "sha256:", 7), 0);
	const char *b = "{\"id\":\"evt\\u0001x\",\"type\":7}";

	r = req_body(b, strlen(b), TS);
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), -1);
	wh_event_type(s, &r, type, sizeof(type));
	assert_string_equal(type, "7");
	b = "{\"id\":\"\"}";
	r = req_body(b, strlen(b), TS);
	assert_int_equal(wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)), 0);
	assert_int_equal(strncmp(id, "sha256:", 7), 0);
	wh_source_free(s);
}

/* evid_json.c reads a value as jansson would: the last of repeated keys,
 * nothing from a body jansson refuses, escapes decoded, a digit part
 * naming an object's key or an array's element. */
static void test_json_value_scan(void **st)
{
	static const struct { const char *body, *path, *want; } c[] = {
		{ "{\"type\":\"a\",\"type\":\"b\"}", "type", "b" },
		{ "{\"data\":{\"id\":\"x\"},\"data\":2}", "data.id", NULL },
		{ "{\"data\":[1,\"x\"]}", "data.1", "x" },
		{ "{\"data\":{\"1\":\"k\"}}", "data.1", "k" },
		{ " {\"type\":\"x\"}\n", "type", "x" },
		{ "{\"type\":\"x\"} x", "type", NULL },
		{ "{\"type\":\"x\",}", "type", NULL },
		{ "{\"id\":-0}", "id", "0" },
		{ "{\"id\":1.5}", "id", NULL },
		{ "{\"id\":99999999999999999999}", "id", NULL },
		{ "{\"id\":\"a\",\"n\":1e999}", "id", NULL },
		{ "{\"ty\\u0070e\":\"\\u00e9\\ud83d\\ude00\"}", "type", "\xc3\xa9\xf0\x9f\x98\x80" },
		{ "{\"type\":\"\\ud800\"}", "type", NULL },
		{ "{\"type\":\"\\u0000\"}", "type", NULL },
		{ "{\"type\":\"\xc0\x80\"}", "type", NULL },
		{ "{\"type\":\"a\tb\"}", "type", NULL },
		{ "{\"type\":\"a\"", "type", NULL },
		{ "[\"type\"]", "type", NULL },
	};
	char buf[64];

	(void)st;
	for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
		long n = wh_json_text((const unsigned char *)c[i].body, strlen(c[i].body), c[i].path,
		                      buf, sizeof(buf));

		if (!c[i].want) {
			assert_int_equal(n, -1);
		} else {
			assert_int_equal(n, (long)strlen(c[i].want));
			assert_string_equal(buf, c[i].want);
		}
	}
	/* truncated into a small buffer, the full length returned */
	assert_int_equal(wh_json_text((const unsigned char *)"{\"id\":\"abcdef\"}", 15, "id",
	                              buf, 4), 6);
	assert_string_equal(buf, "abc");

	/* the eight-bytes-a-step skip over a long string that is not the
	 * value: each special byte found at every offset of a word */
	for (int pos = 0; pos < 24; pos++) {
		static const struct { const char *ins, *want; } sp[] = {
			{ "\t", NULL }, { "\x1f", NULL }, { "\xff", NULL }, { "\xc3\xa9", "t" },
			{ "\\\"", "t" }, { "\\u00e9", "t" }, { "\\x", NULL }, { "\"", NULL },
			{ "\x7f", "t" }, { " ", "t" }, { "~", "t" },
		};

		for (size_t k = 0; k < sizeof(sp) / sizeof(*sp); k++) {
			char body[128];
			long n;

			snprintf(body, sizeof(body), "{\"pad\":\"%.*s%s%.*s\",\"type\":\"t\"}", pos,
			         "xxxxxxxxxxxxxxxxxxxxxxxx", sp[k].ins, 24 - pos, "yyyyyyyyyyyyyyyyyyyyyyyy");
			n = wh_json_text((const unsigned char *)body, strlen(body), "type", buf,
			                 sizeof(buf));
			if (sp[k].want ? n != 1 : n != -1)
				fail_msg("special %zu at %d: %ld for %s", k, pos, n, body);
		}
	}
}

/* headers_json.c: the stored headers' text, as jansson wrote it. */
static const char *const th[][2] = {
	{ "content-type", "application/json" }, { "cookie", "s=1" }, { "x-a", "1" },
	{ "authorization", "Bearer t" }, { "x-a", "2\"\n" }, { "x-bad", "\xc0\x80" },
	{ "x-c", "\xc3\xa9/" },
};

static int th_at(void *ud, unsigned i, const char **name, size_t *nlen, const char **val,
                 size_t *vlen)
{
	(void)ud;
	*name = th[i][0];
	*nlen = strlen(th[i][0]);
	*val = th[i][1];
	*vlen = strlen(th[i][1]);
	return 0;
}

static void test_headers_json(void **st)
{
	char *t = wh_headers_json(7, th_at, NULL, 32768, 8192);

	(void)st;
	assert_non_null(t);
	assert_string_equal(t, "{\"content-type\":\"application/json\",\"x-a\":\"1, 2\\\"\\n\","
	                    "\"x-c\":\"\xc3\xa9/\"}");
	free(t);
	/* the total bound stops it; the value bound skips one */
	t = wh_headers_json(7, th_at, NULL, 2 + 12 + 16 + 8 + 1, 8192);
	assert_string_equal(t, "{\"content-type\":\"application/json\"}");
	free(t);
	t = wh_headers_json(7, th_at, NULL, 32768, 2);
	assert_string_equal(t, "{\"x-a\":\"1\"}");
	free(t);
	/* the eight-bytes-a-step escaping and UTF-8 check: each special
	 * byte at every offset of a word, against the byte-by-byte answer */
	for (int pos = 0; pos < 20; pos++) {
		static const char *const sp[] = { "\"", "\\", "\n", "\x01", "\x1f", "\x7f",
		                                  "\xc3\xa9", "\xff", "\xc3", "/" };

		for (size_t k = 0; k < sizeof(sp) / sizeof(*sp); k++) {
			char in[64], want[256], got[256];
			size_t n, w = 0, g;
			int valid = strcmp(sp[k], "\xff") && strcmp(sp[k], "\xc3");

			n = (size_t)snprintf(in, sizeof(in), "%.*s%s%.*s", pos, "abcdefghijklmnopqrst",
			                     sp[k], 20 - pos, "ABCDEFGHIJKLMNOPQRST");
			for (size_t i = 0; i < n; i++) {
				unsigned char c = (unsigned char)in[i];

				if (c == '"' || c == '\\')
					w += (size_t)sprintf(want + w, "\\%c", c);
				else if (c == '\n')
					w += (size_t)sprintf(want + w, "\\n");
				else if (c < 0x20)
					w += (size_t)sprintf(want + w, "\\u%04X", c);
				else
					want[w++] = (char)c;
			}
			g = wh_json_escape(got, in, n);
			assert_int_equal(g, w);
			assert_memory_equal(got, want, w);
			assert_int_equal(wh_utf8_valid(in, n), valid);
		}
	}
}

/* scripts/webhook-sign (the demo's helper) makes headers this code accepts. */
static void test_webhook_sign_script_output_verifies(void **st)
{
	static const struct {
		const char *scheme, *src, *secret;
	} cases[] = {
		{ "stripe", STRIPE_SRC, "whsec_portico_stripe_previous_002" },
		{ "github", "{ path = '/gh', scheme = 'github', secrets = { 'gh-secret-current' } }",
		  "gh-secret-current" },
		{ "shopify", "{ path = '/s', scheme = 'shopify', secrets = { 'shpss_current_secret' } }",
		  "shpss_current_secret" },
		{ "standard", STD_SRC, "whsec_cG9ydGljby1wcmV2aW91cy1rZXktMDI=" },
	};
	char file[] = "/tmp/test_wh_verify.XXXXXX";
	int fd = mkstemp(file);

	(void)st;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, BODY, strlen(BODY)), (ssize_t)strlen(BODY));
	close(fd);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char cmd[1024], out[2048];
		json_error_t jerr;

		snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/scripts/webhook-sign %s '%s' %s "
		         "--json --timestamp 1700000000 --id " ID, TEST_SRCDIR, cases[i].scheme,
		         cases[i].secret, file);
		FILE *p = popen(cmd, "r");

		assert_non_null(p);
		size_t n = fread(out, 1, sizeof(out) - 1, p);

		out[n] = '\0';
		assert_int_equal(pclose(p), 0);
		json_t *j = json_loads(out, 0, &jerr);
		const char *k;
		json_t *v;

		if (!j)
			fail_msg("%s: not JSON: %s", cases[i].scheme, out);
		hclear();
		json_object_foreach(j, k, v)
			hset(k, json_string_value(v));
		struct wh_source *s = src(cases[i].src);

		if (!ok(s, req(TS + 5)))
			fail_msg("%s: %s (%s)", cases[i].scheme, why, out);
		rejected(s, req_body(BODY " ", strlen(BODY) + 1, TS), "no signature matches");
		wh_source_free(s);
		json_decref(j);
	}
	unlink(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stripe_accepts_each_rotated_secret),
		cmocka_unit_test(test_stripe_rejects),
		cmocka_unit_test(test_huge_headers_are_cheap_and_refused),
		cmocka_unit_test(test_github),
		cmocka_unit_test(test_shopify),
		cmocka_unit_test(test_standard),
		cmocka_unit_test(test_kept_hmac_keys_follow_the_key_bytes),
		cmocka_unit_test(test_sign_standard_matches_the_library),
		cmocka_unit_test(test_hmac_slack_example),
		cmocka_unit_test(test_hmac_algorithms_and_encodings),
		cmocka_unit_test(test_source_defaults),
		cmocka_unit_test(test_source_rejects_bad_options),
		cmocka_unit_test(test_event_ids_and_types),
		cmocka_unit_test(test_event_id_of_hostile_json),
		cmocka_unit_test(test_json_value_scan),
		cmocka_unit_test(test_headers_json),
		cmocka_unit_test(test_webhook_sign_script_output_verifies),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
