/* tls.c - see tls.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* Ex-data slot on the default context: the SNI table. */
struct sni_table {
	unsigned n;
	int http2;
	SSL_CTX *ctx[CONF_MAX_CERTS];
};

static int sni_index = -1;

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char h2_h1[] = "\x02h2\x08http/1.1";
	static const unsigned char h1[] = "\x08http/1.1";
	struct sni_table *t = arg;
	const unsigned char *prefs = t->http2 ? h2_h1 : h1;
	unsigned plen = t->http2 ? sizeof(h2_h1) - 1 : sizeof(h1) - 1;

	(void)ssl;
	if (SSL_select_next_proto((unsigned char **)out, outlen, prefs, plen, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;   /* no ALPN match: HTTP/1.1 */
	return SSL_TLSEXT_ERR_OK;
}

static int sni_cb(SSL *ssl, int *ad, void *arg)
{
	struct sni_table *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)ad;
	if (!name || t->n < 2)
		return SSL_TLSEXT_ERR_OK;
	for (unsigned i = 0; i < t->n; i++) {
		X509 *cert = SSL_CTX_get0_certificate(t->ctx[i]);

		if (cert && X509_check_host(cert, name, 0, 0, NULL) == 1) {
			if (i > 0)
				SSL_set_SSL_CTX(ssl, t->ctx[i]);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_OK;   /* unknown name: the default certificate */
}

static SSL_CTX *one_ctx(const struct tls_cert_conf *c, struct sni_table *t, char *err,
                        size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	unsigned long e;

	if (!ctx) {
		snprintf(err, errlen, "TLS: cannot create a context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                         SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		e = ERR_get_error();
		snprintf(err, errlen, "TLS: certificate %s / key %s: %s", c->cert, c->key,
		         e ? ERR_reason_error_string(e) : "unusable");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, t);
	return ctx;
}

SSL_CTX *tls_ctx_new(const struct listen_conf *l, char *err, size_t errlen)
{
	struct sni_table *t = calloc(1, sizeof(*t));

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sni_index < 0)
		sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	t->http2 = l->http2;
	for (unsigned i = 0; i < l->ncerts; i++) {
		t->ctx[i] = one_ctx(&l->certs[i], t, err, errlen);
		if (!t->ctx[i]) {
			while (i--)
				SSL_CTX_free(t->ctx[i]);
			free(t);
			return NULL;
		}
		t->n++;
	}
	SSL_CTX_set_tlsext_servername_callback(t->ctx[0], sni_cb);
	SSL_CTX_set_tlsext_servername_arg(t->ctx[0], t);
	SSL_CTX_set_ex_data(t->ctx[0], sni_index, t);
	return t->ctx[0];
}

void tls_ctx_free(SSL_CTX *ctx)
{
	struct sni_table *t;

	if (!ctx)
		return;
	t = SSL_CTX_get_ex_data(ctx, sni_index);
	if (!t) {
		SSL_CTX_free(ctx);
		return;
	}
	for (unsigned i = 0; i < t->n; i++)
		SSL_CTX_free(t->ctx[i]);
	free(t);
}
