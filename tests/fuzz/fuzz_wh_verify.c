/*
 * fuzz_wh_verify.c - libFuzzer target for the webhook signature schemes
 * (plugins/webhook/verify.c) and event ids and types (evid.c): hostile
 * header values and bodies through every scheme.
 *
 * Input: one byte choosing the source (stripe, github, shopify, standard,
 * three hmac variants), then header lines "Name:value\n" up to an empty
 * line, then the body. Each value and the body are copied into buffers of
 * their exact size, so an over-read is caught. The clock is fixed at
 * 1700000000, the time the seed corpus was signed at, so the seeds reach
 * the accepting path. Verification may fail, never crash; "why" is always
 * a NUL-terminated sentence; an id is NUL-terminated and within bounds.
 * The body also goes through wh_secret_parse and wh_hmac_template_check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wh.h"

#define NOW 1700000000
#define MAXH 16

struct hdrs {
	char *name[MAXH];
	char *value[MAXH];
	size_t len[MAXH];
	int n;
};

static const char *get_header(void *ud, const char *name, size_t *len)
{
	struct hdrs *h = ud;

	for (int i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0) {
			*len = h->len[i];
			return h->value[i];
		}
	return NULL;
}

static struct wh_source sources[7];

static void add_secret(struct wh_source *s, const char *text)
{
	char err[256];

	s->secrets = realloc(s->secrets, (s->nsecrets + 1) * sizeof(*s->secrets));
	if (!s->secrets || wh_secret_parse(s->scheme, text, strlen(text),
	                                   &s->secrets[s->nsecrets], err, sizeof(err))) {
		fprintf(stderr, "fuzz_wh_verify: %s\n", err);
		abort();
	}
	s->nsecrets++;
}

static void init(void)
{
	struct wh_source *s = sources;

	for (int i = 0; i < 7; i++) {
		s[i].tolerance = 300;
		s[i].max_body = 1 << 20;
	}
	s[0].scheme = WH_SCHEME_STRIPE;
	add_secret(&s[0], "whsec_portico_stripe_current_0001");
	add_secret(&s[0], "whsec_portico_stripe_previous_002");
	s[0].id_path = "data.object.id";
	s[1].scheme = WH_SCHEME_GITHUB;
	add_secret(&s[1], "gh-secret-current");
	add_secret(&s[1], "gh-secret-previous");
	s[2].scheme = WH_SCHEME_SHOPIFY;
	add_secret(&s[2], "shpss_current_secret");
	s[3].scheme = WH_SCHEME_STANDARD;
	add_secret(&s[3], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
	add_secret(&s[3], "whsec_cG9ydGljby1wcmV2aW91cy1rZXktMDI=");
	s[3].type_path = "items.1.kind";
	for (int i = 4; i < 7; i++) {
		s[i].scheme = WH_SCHEME_HMAC;
		s[i].hmac.header = "X-Sig";
		s[i].hmac.prefix = "";
		s[i].hmac.alg = WH_SHA256;
		s[i].hmac.enc = WH_HEX;
		s[i].hmac.tmpl = "{body}";
		add_secret(&s[i], "hmac-secret");
	}
	s[4].hmac.prefix = "sha256=";
	s[4].tolerance = 0;
	s[5].hmac.alg = WH_SHA1;
	s[5].hmac.enc = WH_BASE64;
	s[5].hmac.timestamp_header = "X-Ts";
	s[5].id_header = "X-Id";
	s[5].hmac.tmpl = "{id}:{timestamp}:{body}";
	s[5].type_header = "X-Type";
	s[6].hmac.alg = WH_SHA512;
	s[6].hmac.prefix = "v0=";
	s[6].tolerance = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct hdrs h = { .n = 0 };
	char why[256], id[256], type[64], err[256];
	size_t i = 1;

	if (!ready) {
		init();
		ready = 1;
	}
	if (size == 0)
		return 0;

	const struct wh_source *s = &sources[data[0] % 7];

	/* header lines up to an empty line */
	while (i < size && h.n < MAXH) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t end = nl ? (size_t)(nl - data) : size;

		if (end == i) {
			i++;
			break;
		}
		const uint8_t *colon = memchr(data + i, ':', end - i);

		if (colon) {
			size_t nlen = (size_t)(colon - (data + i)), vlen = end - i - nlen - 1;

			h.name[h.n] = strndup((const char *)data + i, nlen);
			h.value[h.n] = malloc(vlen ? vlen : 1);
			memcpy(h.value[h.n], colon + 1, vlen);
			h.len[h.n++] = vlen;
		}
		i = end + 1;
	}
	size_t blen = i < size ? size - i : 0;
	unsigned char *body = malloc(blen ? blen : 1);

	memcpy(body, data + size - blen, blen);

	struct wh_req r = { get_header, &h, body, blen, NOW };

	why[0] = '\0';
	if (wh_verify(s, &r, why, sizeof(why)) != 0 && strlen(why) == 0)
		abort();
	why[0] = '\0';
	if (wh_event_id(s, &r, id, sizeof(id), why, sizeof(why)) == 0) {
		if (strlen(id) == 0 || strlen(id) > 255)
			abort();
	} else if (strlen(why) == 0) {
		abort();
	}
	wh_event_type(s, &r, type, sizeof(type));
	if (strlen(type) >= sizeof(type))
		abort();

	/* the body as a secret and as a template */
	struct wh_secret sec;

	if (wh_secret_parse(WH_SCHEME_STANDARD, (const char *)body, blen, &sec, err,
	                    sizeof(err)) == 0)
		free(sec.key);
	char *tmpl = strndup((const char *)body, blen);

	if (tmpl) {
		wh_hmac_template_check(tmpl, data[0] & 1, data[0] & 2, err, sizeof(err));
		free(tmpl);
	}

	free(body);
	for (int k = 0; k < h.n; k++) {
		free(h.name[k]);
		free(h.value[k]);
	}
	return 0;
}
