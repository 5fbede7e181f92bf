/*
 * wsse.c - the WS-Security UsernameToken header (OASIS WSS 1.0, Username
 * Token Profile 1.0), as zeep and WSS4J write it:
 *
 *   <wsse:Security xmlns:wsse="...secext-1.0.xsd" xmlns:wsu="...utility-1.0.xsd">
 *     <wsse:UsernameToken>
 *       <wsse:Username>u</wsse:Username>
 *       <wsse:Password Type="...#PasswordText">p</wsse:Password>        (or)
 *       <wsse:Password Type="...#PasswordDigest">base64(sha1(nonce + created + p))</wsse:Password>
 *       <wsse:Nonce EncodingType="...#Base64Binary">base64(16 random bytes)</wsse:Nonce>
 *       <wsu:Created>2026-12-07T13:45:00Z</wsu:Created>
 *     </wsse:UsernameToken>
 *   </wsse:Security>
 *
 * Nonce and Created are sent with PasswordText too (the profile allows it
 * and servers use them against replays). No mustUnderstand: the header does
 * not know the envelope's version (1.1 wants "1", 1.2 "true"), and zeep does
 * not set it either.
 */
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "soap.h"

#define WSSE_NS "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define WSU_NS "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
#define WSS_TOKEN "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
#define WSS_MSG "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0"

void wsse_created(time_t t, char out[21])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int wsse_digest(const unsigned char *nonce, size_t nonce_len, const char *created,
                const char *password, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 &&
	         EVP_DigestUpdate(c, nonce, nonce_len) == 1 &&
	         EVP_DigestUpdate(c, created, strlen(created)) == 1 &&
	         EVP_DigestUpdate(c, password, strlen(password)) == 1 &&
	         EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 20;

	EVP_MD_CTX_free(c);
	if (!ok)
		return -1;
	sp_b64_encode(md, 20, out);
	return 0;
}

int wsse_header_at(struct sbuf *b, const struct wsse *ws, const unsigned char nonce[16],
                   time_t now)
{
	char created[21], nonce64[25], digest[29];
	const char *pw = ws->password ? ws->password : "";
	size_t start = b->len;

	wsse_created(now, created);
	sp_b64_encode(nonce, 16, nonce64);
	sbuf_puts(b, "<wsse:Security xmlns:wsse=\"" WSSE_NS "\" xmlns:wsu=\"" WSU_NS "\">"
	          "<wsse:UsernameToken><wsse:Username>");
	if (sbuf_put_xml(b, ws->username ? ws->username : "", ws->username ? strlen(ws->username) : 0))
		goto bad;
	if (ws->digest) {
		if (wsse_digest(nonce, 16, created, pw, digest) != 0)
			goto bad;
		sbuf_puts(b, "</wsse:Username><wsse:Password Type=\"" WSS_TOKEN "#PasswordDigest\">");
		sbuf_puts(b, digest);
	} else {
		sbuf_puts(b, "</wsse:Username><wsse:Password Type=\"" WSS_TOKEN "#PasswordText\">");
		if (sbuf_put_xml(b, pw, strlen(pw)))
			goto bad;
	}
	sbuf_printf(b, "</wsse:Password><wsse:Nonce EncodingType=\"" WSS_MSG "#Base64Binary\">%s"
	            "</wsse:Nonce><wsu:Created>%s</wsu:Created></wsse:UsernameToken>"
	            "</wsse:Security>", nonce64, created);
	if (b->oom)
		return -1;
	return 0;
bad:
	/* a control character in the username or password, or no SHA-1: nothing
	 * is appended */
	if (!b->oom) {
		b->len = start;
		if (b->p)
			b->p[start] = '\0';
	}
	return -1;
}

int wsse_header(struct sbuf *b, const struct wsse *ws)
{
	unsigned char nonce[16];

	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -1;
	return wsse_header_at(b, ws, nonce, time(NULL));
}
