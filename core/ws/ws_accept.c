/*
 * ws_accept.c - the WebSocket opening handshake on an exchange (RFC 6455
 * 4.2.1 and 4.2.2, RFC 7692 for permessage-deflate): check the request,
 * choose a subprotocol and the extension, answer 101 and mark the exchange
 * so that its HTTP/1.1 transport hands the connection over (ws_conn.c).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "http/exchange.h"
#include "log.h"
#include "lua/lua_rt.h"
#include "ws_conn.h"

#define DEFAULT_PING_INTERVAL 30.0
#define DEFAULT_PING_TIMEOUT 10.0
#define DEFAULT_QUEUE_MAX ((size_t)1 << 20)
#define MAX_JOINED 4096   /* bytes of a header's values joined (protocols, extensions) */

static atomic_uint_fast64_t next_id = 1;

static int ieq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		char c = a[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c | 0x20);
		if (c != b[i])
			return 0;
	}
	return 1;
}

/*
 * Calls FN for each comma-separated token of every NAME header of X (spaces
 * and tabs around a token trimmed); stops when FN returns non-zero and
 * returns that. [RFC 9110 5.6.1 lists]
 */
static int each_token(pt_exchange *x, const char *name, int (*fn)(const char *, size_t, void *),
                      void *ud)
{
	pt_str_t v;

	for (unsigned i = 0; xapi_header(x, (pt_str_t){ name, strlen(name) }, i, &v) == 0; i++) {
		size_t p = 0;

		while (p <= v.len) {
			size_t s = p, e;
			int rc;

			while (p < v.len && v.ptr[p] != ',')
				p++;
			e = p++;
			while (s < e && (v.ptr[s] == ' ' || v.ptr[s] == '\t'))
				s++;
			while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t'))
				e--;
			if (e > s && (rc = fn(v.ptr + s, e - s, ud)) != 0)
				return rc;
		}
	}
	return 0;
}

static int is_token(const char *t, size_t n, void *ud)
{
	return ieq(t, n, ud);
}

/* The values of every NAME header joined with ", " into OUT (NUL-terminated);
 * returns the length, or -1 when they do not fit. */
static long joined(pt_exchange *x, const char *name, char *out, size_t cap)
{
	pt_str_t v;
	size_t n = 0;

	out[0] = '\0';
	for (unsigned i = 0; xapi_header(x, (pt_str_t){ name, strlen(name) }, i, &v) == 0; i++) {
		if (n + v.len + 3 > cap)
			return -1;
		if (n) {
			memcpy(out + n, ", ", 2);
			n += 2;
		}
		memcpy(out + n, v.ptr, v.len);
		n += v.len;
		out[n] = '\0';
	}
	return (long)n;
}

struct pick {
	const struct pt_ws_opts *o;
	int best;              /* index into o->subprotocols, or -1 */
};

static int offer_cb(const char *t, size_t n, void *ud)
{
	struct pick *p = ud;

	for (unsigned i = 0; i < p->o->nsubprotocols; i++) {
		const pt_str_t *s = &p->o->subprotocols[i];

		/* subprotocol names are compared exactly (RFC 6455 11.3.4: tokens) */
		if (s->len == n && !memcmp(s->ptr, t, n) && (p->best < 0 || (int)i < p->best))
			p->best = (int)i;
	}
	return 0;
}

static pt_ws *refuse(pt_exchange *x, int status, const char *why, int *err)
{
	log_info("ws", "%.*s: websocket handshake refused (%d): %s", (int)x->remote.len,
	         x->remote.ptr, status, why);
	if (status == 426) {
		xapi_header_set(x, (pt_str_t){ "upgrade", 7 }, (pt_str_t){ "websocket", 9 });
		xapi_header_set(x, (pt_str_t){ "sec-websocket-version", 21 }, (pt_str_t){ "13", 2 });
	}
	exchange_error(x, status, why);
	if (err)
		*err = PT_EINVAL;
	return NULL;
}

/* X's cleanup: a connection the transport never took (x->upgrade is
 * cleared when it does) is told and freed with X. */
static void free_unclaimed(void *ud)
{
	pt_exchange *x = ud;

	if (x->upgrade) {
		pt_ws *ws = x->upgrade;

		x->upgrade = NULL;
		ws_unclaimed(ws);
	}
}

static void opts_apply(pt_ws *ws, const struct pt_ws_opts *o)
{
	ws->rd.max_message = o && o->max_message ? o->max_message : WS_DEFAULT_MAX_MESSAGE;
	ws->ping_interval = (float)(o && o->ping_interval ? o->ping_interval
	                                                   : DEFAULT_PING_INTERVAL);
	ws->ping_timeout = (float)(o && o->ping_timeout > 0 ? o->ping_timeout
	                                                     : DEFAULT_PING_TIMEOUT);
	ws->queue_max = o && o->queue_max ? o->queue_max : DEFAULT_QUEUE_MAX;
	ws->on_full = (uint8_t)(o ? o->on_full : PT_WS_FULL_CLOSE);
}

pt_ws *ws_accept(pt_exchange *x, const struct pt_ws_opts *o, const struct pt_ws_ops *ops,
                 void *ud, int *err)
{
	char accept[29], ext[MAX_JOINED], resp[256];
	struct pick pick = { o, -1 };
	struct ws_pmd pmd;
	int use_pmd = 0;
	long n;
	pt_str_t key, ver;
	pt_ws *ws;

	if (err)
		*err = 0;
	if (!x || !ops || x->state >= X_STREAMING || x->upgrade) {
		if (err)
			*err = PT_ESTATE;
		return NULL;
	}
	if (x->minor_version >= 20)
		return refuse(x, 426, "WebSocket is served over HTTP/1.1 (RFC 8441 over HTTP/2 "
		              "is not)", err);
	if (x->minor_version < 1)
		return refuse(x, 400, "a WebSocket handshake needs HTTP/1.1", err);
	if (x->method != PT_METHOD_GET)
		return refuse(x, 405, "a WebSocket handshake is a GET", err);
	if (!each_token(x, "upgrade", is_token, "websocket"))
		return refuse(x, 426, "this path is a WebSocket endpoint: send Upgrade: websocket",
		              err);
	if (!each_token(x, "connection", is_token, "upgrade"))
		return refuse(x, 400, "a WebSocket handshake needs Connection: Upgrade", err);
	if (xapi_header(x, (pt_str_t){ "sec-websocket-version", 21 }, 1, &ver) == 0 ||
	    xapi_header(x, (pt_str_t){ "sec-websocket-version", 21 }, 0, &ver) != 0 ||
	    ver.len != 2 || memcmp(ver.ptr, "13", 2) != 0)
		return refuse(x, 426, "Sec-WebSocket-Version must be 13", err);
	if (xapi_header(x, (pt_str_t){ "sec-websocket-key", 17 }, 1, &key) == 0 ||
	    xapi_header(x, (pt_str_t){ "sec-websocket-key", 17 }, 0, &key) != 0 ||
	    ws_accept_key(key.ptr, key.len, accept) != 0)
		return refuse(x, 400, "Sec-WebSocket-Key must be one base64 value of 16 bytes", err);
	if (x->has_body || x->req_length > 0)
		return refuse(x, 400, "a WebSocket handshake has no body", err);
	if (o && o->nsubprotocols)
		each_token(x, "sec-websocket-protocol", offer_cb, &pick);
	if (o && o->require_subprotocol && pick.best < 0)
		return refuse(x, 400, "the client offers none of this endpoint's subprotocols "
		              "(Sec-WebSocket-Protocol)", err);
	if (!(o && o->no_deflate)) {
		if ((n = joined(x, "sec-websocket-extensions", ext, sizeof(ext))) < 0)
			return refuse(x, 400, "Sec-WebSocket-Extensions is too long", err);
		if (n > 0 && (use_pmd = ws_pmd_negotiate(ext, (size_t)n, &pmd, resp,
		                                         sizeof(resp))) < 0)
			return refuse(x, 400, "Sec-WebSocket-Extensions is malformed", err);
	}

	ws = calloc(1, sizeof(*ws));
	if (!ws || exchange_on_free(x, free_unclaimed, x) != 0) {
		free(ws);
		if (err)
			*err = PT_ENOMEM;
		exchange_error(x, 500, "out of memory");
		return NULL;
	}
	ws->id = atomic_fetch_add(&next_id, 1);
	ws->fd = -1;
	ws->w = x->w;
	ws->gen = x->gen;
	gen_ref(ws->gen);
	ws->L = lua_exchange_state(x);
	ws->ops = *ops;
	ws->ud = ud;
	ws->accept_x = x;
	opts_apply(ws, o);
	if (pick.best >= 0) {
		const pt_str_t *s = &o->subprotocols[pick.best];

		ws->subproto = strndup(s->ptr, s->len);
		ws->subproto_len = (uint8_t)(s->len < 255 ? s->len : 255);
	} else {
		ws->subproto = (char *)"";   /* not freed: subproto_len is 0 */
	}
	if (use_pmd) {
		ws->deflate = 1;
		ws->pmd = pmd;
	}
	{
		pt_str_t id = xapi_request_id(x);

		ws->reqid_len = (uint8_t)(id.len < 64 ? id.len : 64);
		ws->remote_len = (uint8_t)(x->remote.len < 64 ? x->remote.len : 64);
		if ((ws->strs = malloc((size_t)ws->remote_len + ws->reqid_len + 2)) != NULL) {
			memcpy(ws->strs, x->remote.ptr, ws->remote_len);
			ws->strs[ws->remote_len] = '\0';
			memcpy(ws->strs + ws->remote_len + 1, id.ptr, ws->reqid_len);
			ws->strs[ws->remote_len + 1 + ws->reqid_len] = '\0';
		}
	}
	xapi_header_set(x, (pt_str_t){ "upgrade", 7 }, (pt_str_t){ "websocket", 9 });
	xapi_header_set(x, (pt_str_t){ "sec-websocket-accept", 20 }, (pt_str_t){ accept, 28 });
	if (ws->subproto_len)
		xapi_header_set(x, (pt_str_t){ "sec-websocket-protocol", 22 },
		                (pt_str_t){ ws->subproto, ws->subproto_len });
	if (use_pmd)
		xapi_header_set(x, (pt_str_t){ "sec-websocket-extensions", 24 },
		                (pt_str_t){ resp, strlen(resp) });
	if (!ws->subproto || !ws->strs) {
		ws->told = 1;   /* the owner never had it */
		ws_unclaimed(ws);
		if (err)
			*err = PT_ENOMEM;
		exchange_error(x, 500, "out of memory");
		return NULL;
	}
	x->upgrade = ws;
	xapi_respond(x, 101, (pt_str_t){ NULL, 0 });
	return ws;
}
