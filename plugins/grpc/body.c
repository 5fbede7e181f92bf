/*
 * body.c - the request body of a call: cut into 5-byte length-prefixed
 * messages as the DATA frames arrive (the routes stream it), each checked
 * against max_receive_message by its prefix before it is read, inflated
 * when its flag says so, then handed on: the one message of a unary kind
 * is kept until the request ends, a stream's queue for ctx:recv(), a
 * built-in bidi method takes each at once. A message whole in one DATA
 * frame is copied once, straight from the frame (no gathering buffer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_priv.h"

static const struct pt_api *A(void)
{
	return grpc_api;
}

/* A whole message arrived (FLAG: compressed). Inflated if it was. */
static void message_in(struct gcall *c, int flag, const uint8_t *p, size_t len)
{
	struct pb_buf z = { 0 };
	struct gmsg *m;

	if (flag) {
		int rc;

		if (c->enc_in == GRPC_ENC_IDENTITY) {
			grpc_call_fail(c, GRPC_INTERNAL, "a compressed message without grpc-encoding");
			return;
		}
		rc = grpc_inflate(c->enc_in, p, len, c->conf->max_receive, &z);
		if (rc != 0) {
			pb_buf_free(&z);
			grpc_call_fail(c, rc == -2 ? GRPC_RESOURCE_EXHAUSTED : GRPC_INTERNAL, rc == -2 ?
			     "a message inflates past max_receive_message" : "a message does not inflate");
			return;
		}
		p = z.p;
		len = z.len;
	}
	c->last_compressed = flag != 0;
	c->nrecv++;
	if (c->e.kind == GRPC_UNARY || c->e.kind == GRPC_SERVER_STREAM) {
		if (c->nrecv > 1) {
			pb_buf_free(&z);
			grpc_call_fail(c, GRPC_UNIMPLEMENTED, "more than one request message for a method that "
			     "takes one");
			return;
		}
	}
	if (c->e.builtin && c->e.kind == GRPC_BIDI) {
		c->e.builtin(c, p, len);
		pb_buf_free(&z);
		return;
	}
	/* the one message of a unary kind lives as long as the exchange: its
	 * pool, no malloc; a stream's are freed as ctx:recv() takes them */
	m = c->e.kind == GRPC_UNARY || c->e.kind == GRPC_SERVER_STREAM
	    ? A()->exchange_alloc(c->x, sizeof(*m) + len) : malloc(sizeof(*m) + len);
	if (!m) {
		pb_buf_free(&z);
		grpc_call_fail(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	m->next = NULL;
	m->len = len;
	m->compressed = flag != 0;
	if (len)
		memcpy(m->data, p, len);
	pb_buf_free(&z);
	if (c->e.kind == GRPC_UNARY || c->e.kind == GRPC_SERVER_STREAM) {
		c->one = m;
		return;
	}
	if (c->q_tail)
		c->q_tail->next = m;
	else
		c->q_head = m;
	c->q_tail = m;
	c->q_bytes += len;
	if (c->e.kind == GRPC_CLIENT_STREAM || c->e.kind == GRPC_BIDI)
		grpc_recv_kick(c);
}

static int on_message(void *ud, unsigned flags, const uint8_t *msg, size_t len)
{
	struct gcall *c = ud;

	message_in(c, (uint8_t)flags, msg, len);
	return c->finished;
}

/* Cuts DATA into messages. 0, or -1 once the call has ended. */
static int feed(struct gcall *c, const uint8_t *data, size_t len)
{
	char msg[128];

	switch (grpc_deframe(&c->in, data, len, c->conf->max_receive, on_message, c)) {
	case 0:
		break;
	case GRPC_DEFRAME_FLAGS:
		grpc_call_fail(c, GRPC_INTERNAL, "a message's flags byte is not 0 or 1");
		return -1;
	case GRPC_DEFRAME_TOO_LARGE:
		snprintf(msg, sizeof(msg), "a message of %zu bytes is larger than "
		         "max_receive_message (%zu)", c->in.need, c->conf->max_receive);
		grpc_call_fail(c, GRPC_RESOURCE_EXHAUSTED, msg);
		return -1;
	case GRPC_DEFRAME_NOMEM:
		grpc_call_fail(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	default:
		return -1;
	}
	return c->finished ? -1 : 0;
}

void grpc_call_on_body(pt_exchange *x, const char *data, size_t len, int last, void *ud)
{
	struct gcall *c = ud;

	(void)x;
	if (c->finished || c->body_done)
		return;
	if (len && feed(c, (const uint8_t *)data, len) != 0)
		return;
	if (!last)
		return;
	c->body_done = 1;
	if (c->in.hdr_have) {
		grpc_call_fail(c, GRPC_INTERNAL, c->in.hdr_have < 5 ? "the request ends inside a message's "
		     "5-byte prefix" : "the request ends inside a message (truncated)");
		return;
	}
	if (c->e.kind == GRPC_UNARY || c->e.kind == GRPC_SERVER_STREAM) {
		struct gmsg *m = c->one;

		if (!m) {
			grpc_call_fail(c, GRPC_UNIMPLEMENTED, "no request message for a method that takes one");
			return;
		}
		if (c->e.builtin)
			c->e.builtin(c, m->data, m->len);
		else
			grpc_call_run(c, m->data, m->len);
		return;
	}
	if (c->e.builtin) {   /* bidi built-in: the client is done, so are we */
		grpc_call_finish(c, GRPC_OK, NULL, 0, NULL);
		return;
	}
	grpc_recv_kick(c);
}

