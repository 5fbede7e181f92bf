/*
 * client.c - one outgoing gRPC call on the wire (grpc.call, grpc.stream;
 * the Lua side is client_lua.c).
 *
 * The call rides the core's upstreams through ABI 1.7's streaming calls
 * (ucall_start/write/end/pause/cancel): balancing, health, keep-alive and
 * HTTP/2 are the core's. Here: the response's 5-byte length-prefixed
 * messages are cut as DATA arrives (a length past max_receive_message ends
 * the call with RESOURCE_EXHAUSTED before the bytes are read), inflated
 * per grpc-encoding, and queued for the Lua side; past RECV_HIGH queued
 * bytes the response is paused (HTTP/2 flow control holds the server back)
 * until the reader takes them. The status comes from the trailers, or the
 * headers of a Trailers-Only answer; an HTTP status other than 200 and
 * failures of the call itself map to gRPC codes as grpc's
 * http-grpc-status-mapping.md says (UNAVAILABLE for a refused or reset
 * connection, DEADLINE_EXCEEDED for the deadline).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lua.h>
#include <lauxlib.h>

#include "client_priv.h"

#define RECV_HIGH ((size_t)1 << 20)    /* pause the response past this much queued */
#define RECV_LOW ((size_t)256 << 10)   /* and go on under this */

static const struct pt_api *A(void)
{
	return grpc_api;
}

/* ---- small helpers -------------------------------------------------------------------- */

void gcl_timeout_str(uint32_t ms, char *buf, size_t n)
{
	/* at most 8 digits (the spec's limit) */
	if (ms <= 99999999u)
		snprintf(buf, n, "%um", ms);
	else
		snprintf(buf, n, "%uS", (ms + 999) / 1000);
}

int gcl_frame(struct gcl *c, const uint8_t *msg, size_t len, struct pb_buf *out)
{
	size_t at = out->len;
	uint32_t n;

	if (pb_buf_add(out, "\0\0\0\0\0", 5) != 0)
		return -1;
	if (c->enc_out != GRPC_ENC_IDENTITY) {
		if (grpc_deflate(c->enc_out, msg, len, out) != 0)
			return -1;
	} else if (len && pb_buf_add(out, msg, len) != 0) {
		return -1;
	}
	n = (uint32_t)(out->len - at - 5);
	out->p[at] = c->enc_out != GRPC_ENC_IDENTITY;
	out->p[at + 1] = (uint8_t)(n >> 24);
	out->p[at + 2] = (uint8_t)(n >> 16);
	out->p[at + 3] = (uint8_t)(n >> 8);
	out->p[at + 4] = (uint8_t)n;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int gcl_percent_decode(const char *s, size_t len, struct pb_buf *out)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t ch = (uint8_t)s[i];

		/* a '%' not followed by two hex digits stays as it is (the spec) */
		if (ch == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			ch = (uint8_t)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		}
		if (pb_buf_add(out, &ch, 1) != 0)
			return -1;
	}
	return 0;
}

/* Copies N pairs into MD (one block). 0 or -1. */
static int md_copy(struct gcl_md *md, const pt_str_t *pairs, unsigned n)
{
	size_t bytes = 0;
	char *p;

	free(md->v);
	md->v = NULL;
	md->n = 0;
	if (!n)
		return 0;
	for (unsigned i = 0; i < 2 * n; i++)
		bytes += pairs[i].len;
	if (!(md->v = malloc(2 * n * sizeof(pt_str_t) + bytes + 1)))
		return -1;
	p = (char *)(md->v + 2 * n);
	for (unsigned i = 0; i < 2 * n; i++) {
		if (pairs[i].len)
			memcpy(p, pairs[i].ptr, pairs[i].len);
		md->v[i] = (pt_str_t){ p, pairs[i].len };
		p += pairs[i].len;
	}
	md->n = n;
	return 0;
}

static const pt_str_t *md_find(const pt_str_t *pairs, unsigned n, const char *name)
{
	size_t k = strlen(name);

	for (unsigned i = 0; i < n; i++)
		if (pairs[2 * i].len == k && !strncasecmp(pairs[2 * i].ptr, name, k))
			return &pairs[2 * i + 1];
	return NULL;
}

#define set_lit(c, code, lit) set_status(c, code, lit, sizeof(lit) - 1)

/* Sets C's status unless one is set already. */
static void set_status(struct gcl *c, int code, const char *msg, size_t len)
{
	if (c->code >= 0)
		return;
	c->code = code;
	free(c->message);
	c->message = NULL;
	if (msg && (c->message = malloc(len + 1))) {
		memcpy(c->message, msg, len);
		c->message[len] = '\0';
	}
}

/* The status in PAIRS (trailers, or a Trailers-Only head): 1 when there
 * was a grpc-status, else 0. */
static int status_from(struct gcl *c, const pt_str_t *pairs, unsigned n)
{
	const pt_str_t *st = md_find(pairs, n, "grpc-status");
	const pt_str_t *msg = md_find(pairs, n, "grpc-message");
	const pt_str_t *det = md_find(pairs, n, "grpc-status-details-bin");
	struct pb_buf m = { 0 };
	int code = 0;

	if (!st)
		return 0;
	if (!st->len || st->len > 3)
		code = GRPC_UNKNOWN;
	for (size_t i = 0; i < st->len && code != GRPC_UNKNOWN; i++) {
		if (st->ptr[i] < '0' || st->ptr[i] > '9')
			code = GRPC_UNKNOWN;
		else
			code = code * 10 + (st->ptr[i] - '0');
	}
	if (code >= GRPC_NCODES)
		code = GRPC_UNKNOWN;
	if (msg && gcl_percent_decode(msg->ptr, msg->len, &m) == 0)
		set_status(c, code, (const char *)m.p ? (const char *)m.p : "", m.len);
	else
		set_status(c, code, NULL, 0);
	pb_buf_free(&m);
	c->details.len = 0;
	if (det && grpc_base64_decode(det->ptr, det->len, &c->details) != 0)
		c->details.len = 0;   /* not base64: left out */
	return 1;
}

/* An HTTP status other than 200 (grpc's http-grpc-status-mapping.md). */
static int code_of_http(int status)
{
	switch (status) {
	case 400: return GRPC_INTERNAL;
	case 401: return GRPC_UNAUTHENTICATED;
	case 403: return GRPC_PERMISSION_DENIED;
	case 404: return GRPC_UNIMPLEMENTED;
	case 429: case 502: case 503: case 504: return GRPC_UNAVAILABLE;
	default: return GRPC_UNKNOWN;
	}
}

/* ---- the end -------------------------------------------------------------------------- */

static void queue_free(struct gcl *c)
{
	while (c->q_head) {
		struct cmsg *m = c->q_head;

		c->q_head = m->next;
		free(m);
	}
	c->q_tail = NULL;
	c->q_bytes = 0;
}

void gcl_fail(struct gcl *c, int code, const char *msg)
{
	if (c->ended)
		return;
	set_status(c, code, msg, msg ? strlen(msg) : 0);
	c->ended = 1;
	if (c->uc) {
		pt_ucall *u = c->uc;

		c->uc = NULL;
		A()->ucall_cancel(u);
	}
	gcl_wake(c);
}

void gcl_wake(struct gcl *c)
{
	pt_wait *w = c->wait;

	if (!w)
		return;
	switch (c->wait_kind) {
	case GCL_WAIT_RECV:
		if (!c->q_head && !c->ended)
			return;
		break;
	case GCL_WAIT_DRAIN:
		if (c->send_blocked && !c->ended)
			return;
		break;
	default:
		if (!c->ended)
			return;
		break;
	}
	c->wait = NULL;
	c->in_cb++;
	/* the anchor goes first: the resumed thread may wait on C again */
	if (c->self_ref != LUA_NOREF) {
		luaL_unref(c->L, LUA_REGISTRYINDEX, c->self_ref);
		c->self_ref = LUA_NOREF;
	}
	A()->lua_wait_wake(w, gcl_push_wake, c);
	c->in_cb--;
	gcl_maybe_free(c);
}

void gcl_maybe_free(struct gcl *c)
{
	if (!c->ud_gone || c->in_cb || c->wait)
		return;
	if (c->uc) {
		pt_ucall *u = c->uc;

		c->uc = NULL;
		A()->ucall_cancel(u);
	}
	if (c->self_ref != LUA_NOREF)
		luaL_unref(c->L, LUA_REGISTRYINDEX, c->self_ref);
	queue_free(c);
	pb_buf_free(&c->in.cur);
	pb_buf_free(&c->details);
	free(c->head.v);
	free(c->trailers.v);
	free(c->message);
	grpc_conf_unref(c->conf);
	free(c);
}

struct cmsg *gcl_pop(struct gcl *c)
{
	struct cmsg *m = c->q_head;

	if (!m)
		return NULL;
	c->q_head = m->next;
	if (!c->q_head)
		c->q_tail = NULL;
	c->q_bytes -= m->len;
	if (c->paused && c->q_bytes < RECV_LOW && c->uc) {
		c->paused = 0;
		A()->ucall_pause(c->uc, 0);
	}
	return m;
}

/* ---- the ucall's callbacks ---------------------------------------------------------- */

static int on_head(pt_ucall *u, int status, const pt_str_t *h, uint32_t n, void *ud)
{
	struct gcl *c = ud;
	const pt_str_t *ct = md_find(h, n, "content-type"), *enc;

	(void)u;
	c->head_seen = 1;
	c->http_status = status;
	if (md_copy(&c->head, h, n) != 0) {
		set_lit(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	if (status_from(c, h, n))
		return 0;   /* Trailers-Only: the status is in the head */
	if (status != 200) {
		char msg[96];

		snprintf(msg, sizeof(msg), "the server answered HTTP %d, not a gRPC response", status);
		set_status(c, code_of_http(status), msg, strlen(msg));
		return -1;
	}
	if (!ct || ct->len < 16 || strncasecmp(ct->ptr, "application/grpc", 16) != 0 ||
	    (ct->len > 16 && ct->ptr[16] != '+' && ct->ptr[16] != ';')) {
		set_lit(c, GRPC_UNKNOWN, "the response's content-type is not application/grpc");
		return -1;
	}
	if ((enc = md_find(h, n, "grpc-encoding")) != NULL) {
		c->enc_in = grpc_enc_parse(*enc);
		if (c->enc_in == GRPC_ENC_UNKNOWN) {
			set_lit(c, GRPC_INTERNAL, "the server's grpc-encoding is not one this "
			           "client accepts");
			return -1;
		}
	}
	return 0;
}

/* A whole response message (FLAG: compressed): queued. 0 or -1. */
static int message_in(struct gcl *c, int flag, const uint8_t *p, size_t len)
{
	struct pb_buf z = { 0 };
	struct cmsg *m;

	if (flag) {
		int rc;

		if (c->enc_in == GRPC_ENC_IDENTITY) {
			set_lit(c, GRPC_INTERNAL, "a compressed response message without "
			           "grpc-encoding");
			return -1;
		}
		rc = grpc_inflate(c->enc_in, p, len, c->conf->max_receive, &z);
		if (rc != 0) {
			pb_buf_free(&z);
			if (rc == -2)
				set_lit(c, GRPC_RESOURCE_EXHAUSTED, "a response message inflates past "
				           "max_receive_message");
			else
				set_lit(c, GRPC_INTERNAL, "a response message does not inflate");
			return -1;
		}
		p = z.p;
		len = z.len;
	}
	c->nrecv++;
	if ((c->kind == GRPC_UNARY || c->kind == GRPC_CLIENT_STREAM) && c->nrecv > 1) {
		pb_buf_free(&z);
		set_lit(c, GRPC_INTERNAL, "more than one response message for a method that "
		           "returns one");
		return -1;
	}
	if (c->discard) {
		pb_buf_free(&z);
		return 0;
	}
	if (!(m = malloc(sizeof(*m) + len))) {
		pb_buf_free(&z);
		set_lit(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	m->next = NULL;
	m->len = len;
	if (len)
		memcpy(m->data, p, len);
	pb_buf_free(&z);
	if (c->q_tail)
		c->q_tail->next = m;
	else
		c->q_head = m;
	c->q_tail = m;
	c->q_bytes += len;
	if (c->q_bytes > RECV_HIGH && !c->paused && c->uc) {
		c->paused = 1;
		A()->ucall_pause(c->uc, 1);
	}
	return 0;
}

static int on_message(void *ud, unsigned flags, const uint8_t *msg, size_t len)
{
	return message_in(ud, (uint8_t)flags, msg, len);
}

/* Cuts DATA into messages. 0 or -1 (the status set). */
static int feed(struct gcl *c, const uint8_t *data, size_t len)
{
	char msg[128];

	switch (grpc_deframe(&c->in, data, len, c->conf->max_receive, on_message, c)) {
	case 0:
		return 0;
	case GRPC_DEFRAME_FLAGS:
		set_lit(c, GRPC_INTERNAL, "a response message's flags byte is not 0 or 1");
		return -1;
	case GRPC_DEFRAME_TOO_LARGE:
		snprintf(msg, sizeof(msg), "a response message of %zu bytes is larger "
		         "than max_receive_message (%zu)", c->in.need, c->conf->max_receive);
		set_status(c, GRPC_RESOURCE_EXHAUSTED, msg, strlen(msg));
		return -1;
	case GRPC_DEFRAME_NOMEM:
		set_lit(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	default:
		return -1;
	}
}

static int on_data(pt_ucall *u, const void *data, size_t len, void *ud)
{
	struct gcl *c = ud;
	int rc;

	(void)u;
	if (c->ended)
		return -1;
	rc = feed(c, data, len);
	if (rc == 0 && c->q_head) {
		c->in_cb++;
		gcl_wake(c);
		c->in_cb--;
		if (c->ud_gone && !c->wait) {
			gcl_maybe_free(c);   /* cancels the call: nothing more comes */
			return -1;
		}
	}
	return rc;
}

static void on_drain(pt_ucall *u, void *ud)
{
	struct gcl *c = ud;

	(void)u;
	c->send_blocked = 0;
	c->in_cb++;
	gcl_wake(c);
	c->in_cb--;
	gcl_maybe_free(c);
}

static void on_done(pt_ucall *u, int err, const char *errmsg, const pt_str_t *trl,
                    uint32_t ntrl, void *ud)
{
	struct gcl *c = ud;

	(void)u;
	c->uc = NULL;   /* freed when this returns */
	c->in_cb++;
	if (err == 0) {
		if (md_copy(&c->trailers, trl, ntrl) != 0)
			set_lit(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		if (c->in.hdr_have)
			set_lit(c, GRPC_INTERNAL, "the response ends inside a message");
		else if (!status_from(c, trl, ntrl))
			set_lit(c, GRPC_INTERNAL, "the server ended the response without a "
			           "grpc-status");
	} else {
		switch (err) {
		case PT_ETIMEDOUT:
			if (c->timeout_ms)
				set_lit(c, GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
			else
				set_lit(c, GRPC_DEADLINE_EXCEEDED, "the upstream was silent past its read "
				        "timeout");
			break;
		case PT_ECANCELED:
			set_lit(c, GRPC_CANCELLED, "cancelled");
			break;
		case PT_ENOMEM:
		case PT_ELIMIT:
			set_status(c, GRPC_RESOURCE_EXHAUSTED, errmsg, strlen(errmsg));
			break;
		default:
			set_status(c, GRPC_UNAVAILABLE, errmsg, strlen(errmsg));
			break;
		}
	}
	/* a unary result has exactly one message (grpc's spec: else INTERNAL) */
	if (c->code == GRPC_OK && (c->kind == GRPC_UNARY || c->kind == GRPC_CLIENT_STREAM) &&
	    c->nrecv != 1) {
		c->code = -1;
		set_lit(c, GRPC_INTERNAL, "the server sent no response message");
	}
	c->ended = 1;
	gcl_wake(c);
	c->in_cb--;
	gcl_maybe_free(c);
}

/* The task waiting on C was abandoned (a grpc.service handler whose
 * client reset the stream or whose deadline passed, a route whose client
 * left): the upstream call is cancelled now (RST_STREAM), and the wait ends
 * (its wake resumes nothing). */
static void on_abandoned(void *ud)
{
	struct gcl *c = ud;

	c->in_cb++;
	gcl_fail(c, GRPC_CANCELLED, "the Lua task waiting on this call was abandoned");
	c->in_cb--;
	gcl_maybe_free(c);
}

void gcl_on_abandon(struct gcl *c, pt_wait *w)
{
#if PT_ABI_MINOR >= 10
	if (PT_API_HAS(A(), lua_wait_on_abandon))
		A()->lua_wait_on_abandon(w, on_abandoned, c);
#else
	(void)c;
	(void)w;
#endif
}

const struct pt_ucall_ops grpc_client_ops = {
	.size = sizeof(struct pt_ucall_ops),
	.head = on_head,
	.data = on_data,
	.drain = on_drain,
	.done = on_done,
};
