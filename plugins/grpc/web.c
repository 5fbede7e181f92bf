/*
 * web.c - gRPC-Web (the protocol of grpc/grpc-web's PROTOCOL-WEB.md) on
 * the methods grpc.service registers, over HTTP/1.1 and HTTP/2:
 *
 *   application/grpc-web, application/grpc-web+proto   the gRPC framing as is
 *   application/grpc-web-text(+proto)                  the same in base64, both
 *                                                      ways (pieces may each be
 *                                                      padded)
 *
 * The server's answer ends with the trailers as one more length-prefixed
 * frame whose flags byte is 0x80 ("grpc-status: 0\r\n..."), also when the
 * call ends before any message (no Trailers-Only in headers: a browser
 * cannot read trailers, and one shape is easier on clients). Unary and
 * server streaming, as gRPC-Web has; a client-streaming method gets the
 * one message a browser can send. CORS is the gateway's `cors` filter on
 * the service's options (doc/grpc.md lists the headers to allow and
 * expose).
 *
 * The call itself is server.c's, through adapt.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "adapt.h"

/* The media type of CT (up to ';', trimmed), when it is one of ours: 1
 * binary, 2 text, 0 other (e.g. +json, which we do not speak). */
static int web_kind(pt_str_t ct, size_t *mlen)
{
	size_t n = 0;

	while (n < ct.len && ct.ptr[n] != ';' && ct.ptr[n] != ' ')
		n++;
	*mlen = n;
	if ((n == 20 || (n == 26 && !strncasecmp(ct.ptr + 20, "+proto", 6))) &&
	    !strncasecmp(ct.ptr, "application/grpc-web", 20))
		return 1;
	if ((n == 25 || (n == 31 && !strncasecmp(ct.ptr + 25, "+proto", 6))) &&
	    !strncasecmp(ct.ptr, "application/grpc-web-text", 25))
		return 2;
	return 0;
}

static int web_handle(pt_exchange *x, const pt_conf *opts, void *ud)
{
	const struct pt_api *a = adapt_core();
	pt_str_t ct = { "", 0 };
	struct adapt *ad;
	size_t mlen;
	int kind;

	a->exchange_header(x, PT_STR("content-type"), 0, &ct);
	if (!(kind = web_kind(ct, &mlen))) {
		a->exchange_header_set(x, PT_STR("content-type"), PT_STR("text/plain"));
		return a->exchange_respond(x, 415, PT_STR("gRPC-Web here is application/grpc-web, "
		                                          "application/grpc-web+proto or "
		                                          "application/grpc-web-text (not +json)\n"));
	}
	if (!(ad = a->exchange_alloc(x, sizeof(*ad))))
		return PT_ENOMEM;
	memset(ad, 0, sizeof(*ad));
	ad->mode = kind == 2 ? ADAPT_WEB_TEXT : ADAPT_WEB;
	/* answer in the request's own media type, lower-cased */
	for (size_t i = 0; i < mlen && i + 1 < sizeof(ad->content_type); i++)
		ad->content_type[i] = (char)(ct.ptr[i] >= 'A' && ct.ptr[i] <= 'Z' ? ct.ptr[i] + 32
		                                                                  : ct.ptr[i]);
	return adapt_run(ad, x, opts, ud);
}

void grpc_web_install(void)
{
	grpc_web_handle = web_handle;
}
