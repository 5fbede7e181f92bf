/*
 * ws_handshake.c - the opening handshake's pieces: Sec-WebSocket-Accept
 * (RFC 6455 4.2.2) and the permessage-deflate negotiation (RFC 7692 7.1).
 *
 * Our answer to a permessage-deflate offer:
 *  - server_no_context_takeover, always (RFC 7692 7.1.1.1 lets a server add
 *    it): a deflater then keeps nothing between messages, so a connection's
 *    outgoing compression costs no memory while idle and a broadcast can be
 *    compressed once for every subscriber.
 *  - client_no_context_takeover when offered (the inflater then frees its
 *    stream after each message).
 *  - server_max_window_bits=N when offered with 9..15: we deflate with N.
 *    An offer of 8 is refused (skipped, the next offer is tried): zlib's raw
 *    deflate has no 8-bit window, and answering 9 would break the client's
 *    limit.
 *  - client_max_window_bits only when offered: its value, or
 *    WS_PMD_CLIENT_BITS when offered without one.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "ws_frame.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* The window we ask of a client that lets us choose it. */
#define WS_PMD_CLIENT_BITS 15

static int b64_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int ws_accept_key(const char *key, size_t len, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char cat[24 + sizeof(WS_GUID)];

	out[0] = '\0';
	/* 16 bytes in base64: 22 characters and "==" */
	if (len != 24 || key[22] != '=' || key[23] != '=')
		return -1;
	for (size_t i = 0; i < 22; i++)
		if (!b64_char((unsigned char)key[i]))
			return -1;
	memcpy(cat, key, 24);
	memcpy(cat + 24, WS_GUID, sizeof(WS_GUID) - 1);
	if (!EVP_Digest(cat, 24 + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) ||
	    mdlen != 20)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, md, 20);
	out[28] = '\0';
	return 0;
}

/* ---- Sec-WebSocket-Extensions (RFC 6455 9.1, RFC 7230 token/quoted-string) -- */

struct lex {
	const char *p, *end;
};

static int tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void ows(struct lex *x)
{
	while (x->p < x->end && (*x->p == ' ' || *x->p == '\t'))
		x->p++;
}

static size_t token(struct lex *x, const char **tok)
{
	*tok = x->p;
	while (x->p < x->end && tchar((unsigned char)*x->p))
		x->p++;
	return (size_t)(x->p - *tok);
}

static int at(const struct lex *x, char c)
{
	return x->p < x->end && *x->p == c;
}

/*
 * A parameter's value, a token or a quoted-string, unescaped into VAL
 * (NUL-terminated; a longer one is cut and marked too long by *VLEN >
 * CAP - 1). -1 when malformed.
 */
static int value(struct lex *x, char *val, size_t cap, size_t *vlen)
{
	size_t n = 0;

	if (at(x, '"')) {
		x->p++;
		for (;;) {
			int c;

			if (x->p >= x->end)
				return -1;                       /* unterminated */
			c = (unsigned char)*x->p++;
			if (c == '"')
				break;
			if (c == '\\') {
				if (x->p >= x->end)
					return -1;
				c = (unsigned char)*x->p++;
			}
			if (c < 0x20 && c != '\t')
				return -1;
			if (c == 0x7F)
				return -1;
			if (n + 1 < cap)
				val[n] = (char)c;
			n++;
		}
	} else {
		const char *t;

		n = token(x, &t);
		if (n == 0)
			return -1;
		memcpy(val, t, n < cap ? n : cap - 1);
	}
	val[n < cap ? n : cap - 1] = '\0';
	*vlen = n;
	return 0;
}

struct offer {
	int bad;
	int snct, cnct;
	int smwb, cmwb;               /* -1 absent; cmwb 0: without a value */
};

/* 8..15 written as decimal without leading zeros; else -1. */
static int window_bits(const char *v, size_t n)
{
	if (n == 1 && v[0] >= '8' && v[0] <= '9')
		return v[0] - '0';
	if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
		return 10 + v[1] - '0';
	return -1;
}

static void offer_param(struct offer *o, const char *name, size_t nlen, int has_val,
                        const char *val, size_t vlen)
{
	int b;

	/* a quoted value must still be a token (RFC 7692 7.1) */
	for (size_t i = 0; has_val && i < vlen; i++)
		if (!tchar((unsigned char)val[i]))
			o->bad = 1;
	if (has_val && vlen == 0)
		o->bad = 1;
#define IS(s) (nlen == sizeof(s) - 1 && memcmp(name, s, nlen) == 0)
	if (IS("server_no_context_takeover")) {
		o->bad |= o->snct || has_val;
		o->snct = 1;
	} else if (IS("client_no_context_takeover")) {
		o->bad |= o->cnct || has_val;
		o->cnct = 1;
	} else if (IS("server_max_window_bits")) {
		b = has_val ? window_bits(val, vlen) : -1;
		o->bad |= o->smwb != -1 || b < 0;
		o->smwb = b;
	} else if (IS("client_max_window_bits")) {
		b = has_val ? window_bits(val, vlen) : 0;
		o->bad |= o->cmwb != -1 || b < 0;
		o->cmwb = b;
	} else {
		o->bad = 1;
	}
#undef IS
}

static int answer(const struct offer *o, struct ws_pmd *out, char *resp, size_t resplen)
{
	int n, cbits = o->cmwb > 0 ? o->cmwb : WS_PMD_CLIENT_BITS;
	char smwb[32] = "", cmwb[32] = "";

	if (o->smwb >= 0)
		snprintf(smwb, sizeof(smwb), "; server_max_window_bits=%d", o->smwb);
	if (o->cmwb >= 0)
		snprintf(cmwb, sizeof(cmwb), "; client_max_window_bits=%d", cbits);
	n = snprintf(resp, resplen, "permessage-deflate; server_no_context_takeover%s%s%s",
	             o->cnct ? "; client_no_context_takeover" : "", smwb, cmwb);
	if (n < 0 || (size_t)n >= resplen)
		return 0;
	out->server_no_context_takeover = 1;
	out->client_no_context_takeover = o->cnct;
	out->server_max_window_bits = o->smwb >= 0 ? o->smwb : 15;
	out->client_max_window_bits = o->cmwb >= 0 ? cbits : 15;
	return 1;
}

int ws_pmd_negotiate(const char *hdr, size_t len, struct ws_pmd *out, char *resp,
                     size_t resplen)
{
	struct lex x = { hdr, hdr + len };
	struct offer chosen;
	int found = 0;

	memset(out, 0, sizeof(*out));
	if (resp && resplen)
		resp[0] = '\0';
	/* the whole list is read, so a malformed tail fails even after a match */
	while (x.p < x.end) {
		const char *name;
		size_t nlen;
		struct offer o = { 0, 0, 0, -1, -1 };
		int pmd;

		ows(&x);
		if (at(&x, ',')) {                       /* an empty list element */
			x.p++;
			continue;
		}
		if (x.p >= x.end)
			break;
		nlen = token(&x, &name);
		if (nlen == 0)
			return -1;
		pmd = nlen == 18 && strncasecmp(name, "permessage-deflate", 18) == 0;
		ows(&x);
		while (at(&x, ';')) {
			const char *pname;
			size_t plen, vlen = 0;
			char val[16] = "";
			int has_val = 0;

			x.p++;
			ows(&x);
			plen = token(&x, &pname);
			if (plen == 0)
				return -1;
			ows(&x);
			if (at(&x, '=')) {
				x.p++;
				ows(&x);
				if (value(&x, val, sizeof(val), &vlen) < 0)
					return -1;
				has_val = 1;
				ows(&x);
			}
			if (pmd)
				offer_param(&o, pname, plen, has_val, val,
				            vlen < sizeof(val) ? vlen : sizeof(val));
		}
		if (x.p < x.end && !at(&x, ','))
			return -1;
		if (pmd && !found && !o.bad && o.smwb != 8) {
			chosen = o;
			found = 1;
		}
	}
	if (!found || !resp)
		return 0;
	return answer(&chosen, out, resp, resplen);
}
