/*
 * tls.h - server TLS contexts: one per certificate, chosen by SNI, with
 * ALPN offering h2 (when the listener allows it) and http/1.1.
 */
#ifndef PT_HTTP_TLS_H
#define PT_HTTP_TLS_H

#include <stddef.h>
#include "conf.h"

typedef struct ssl_ctx_st SSL_CTX;

/* A context for listener L (its first certificate is the default). NULL with ERR. */
SSL_CTX *tls_ctx_new(const struct listen_conf *l, char *err, size_t errlen);
void tls_ctx_free(SSL_CTX *ctx);

#endif
