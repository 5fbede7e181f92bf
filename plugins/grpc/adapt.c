/*
 * adapt.c - the translating API table (adapt.h says why): gRPC-Web and
 * transcoded calls run through server.c unchanged.
 *
 * Every exchange function the server uses to read its request or write
 * its answer is wrapped: the wrapper finds X among this thread's adapted
 * calls (a short list, empty for plain gRPC) and otherwise calls the core.
 * An adapter leaves the list when the answer is out or the client left,
 * so no pointer outlives its exchange.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "adapt.h"

static const struct pt_api *core;
static struct pt_api table;
static __thread struct adapt *active;
static __thread struct adapt *running;   /* the call adapt_run is starting */

const struct pt_api *adapt_core(void)
{
	return core;
}

static struct adapt *find(pt_exchange *x)
{
	for (struct adapt *a = active; a; a = a->next)
		if (a->x == x)
			return a;
	return NULL;
}

static void leave(struct adapt *ad)
{
	for (struct adapt **p = &active; *p; p = &(*p)->next)
		if (*p == ad) {
			*p = ad->next;
			break;
		}
	ad->next = NULL;
	pb_buf_free(&ad->trailers);
	pb_buf_free(&ad->out);
	pb_buf_free(&ad->msg);
	pb_buf_free(&ad->details);
	ad->trailers = ad->out = ad->msg = ad->details = (struct pb_buf){ 0 };
}

static int is(pt_str_t s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && !strncasecmp(s.ptr, lit, n);
}

/* ---- the request ------------------------------------------------------------------- */

static int w_header(pt_exchange *x, pt_str_t name, unsigned idx, pt_str_t *out)
{
	struct adapt *ad = active ? find(x) : NULL;

	if (ad && is(name, "content-type")) {
		if (idx)
			return PT_ENOENT;
		*out = (pt_str_t){ "application/grpc", 16 };
		return 0;
	}
	if (ad && ad->mode == ADAPT_TRANSCODE &&
	    (is(name, "grpc-encoding") || is(name, "grpc-accept-encoding")))
		return PT_ENOENT;   /* JSON in, JSON out: no message compression */
	return core->exchange_header(x, name, idx, out);
}

static int w_conf_int(const pt_conf *c, const char *key, int64_t *out)
{
	if (running && running->mode == ADAPT_TRANSCODE && !strcmp(key, "grpc_method")) {
		*out = running->method_id;
		return 0;
	}
	return core->conf_int(c, key, out);
}

/* A piece of a grpc-web-text body: decoded on to the server. A bad body
 * gives the server a message it refuses at once (flags 0xff), and the
 * status says what was wrong (see adapt_status_field). */
static void text_body(pt_exchange *x, const char *data, size_t len, int last, void *ud)
{
	struct adapt *ad = ud;
	struct pb_buf b = { 0 };

	if (ad->bad_body)
		return;
	if (b64s_feed(&ad->b64, data, len, &b) != 0 || (last && b64s_end(&ad->b64, &b) != 0)) {
		pb_buf_free(&b);
		ad->bad_body = "the grpc-web-text body is not base64";
		core->log(grpc_ctx, PT_LOG_INFO, "%s (near character %zu)", ad->bad_body, ad->b64.at);
		ad->body_fn(x, "\xff\0\0\0\0", 5, 1, ad->body_ud);
		return;
	}
	if (b.len || last)
		ad->body_fn(x, b.len ? (const char *)b.p : "", b.len, last, ad->body_ud);
	pb_buf_free(&b);
}

static int w_body_read(pt_exchange *x, pt_body_fn fn, void *ud)
{
	struct adapt *ad = active ? find(x) : NULL;

	if (!ad || ad->mode == ADAPT_WEB)
		return core->exchange_body_read(x, fn, ud);
	ad->body_fn = fn;
	ad->body_ud = ud;
	if (ad->mode == ADAPT_WEB_TEXT)
		return core->exchange_body_read(x, text_body, ad);
	/* transcoding: the message built from JSON, at once */
	fn(x, (const char *)ad->frame, ad->frame_len, 1, ud);
	return 0;
}

static void on_gone(void *ud)
{
	struct adapt *ad = ud;
	pt_task_fn fn = ad->abort_fn;

	ad->ended = 1;
	leave(ad);
	if (fn)
		fn(ad->abort_ud);
}

static int w_on_abort(pt_exchange *x, pt_task_fn fn, void *ud)
{
	struct adapt *ad = active ? find(x) : NULL;
	int rc;

	if (!ad)
		return core->exchange_on_abort(x, fn, ud);
	ad->abort_fn = fn;
	ad->abort_ud = ud;
	rc = core->exchange_on_abort(x, fn ? on_gone : NULL, fn ? ad : NULL);
	if (rc != 0 && fn) {
		/* the client is gone already: the server ends the call without
		 * an answer, so nothing would take AD off the list */
		ad->ended = 1;
		leave(ad);
	}
	return rc;
}

/* ---- the answer ----------------------------------------------------------------------- */

static int hexv(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 :
	       c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A status field of the server's: kept (both modes); 1 when it was one. */
int adapt_status_field(struct adapt *ad, pt_str_t name, pt_str_t v)
{
	if (is(name, "grpc-status")) {
		int code = 0;

		for (size_t i = 0; i < v.len && i < 3; i++)
			code = code * 10 + (v.ptr[i] - '0');
		ad->code = code;
		if (ad->bad_body) {   /* the server saw our bogus flags: say why */
			ad->code = GRPC_INVALID_ARGUMENT;
			ad->msg.len = 0;
			pb_buf_add(&ad->msg, ad->bad_body, strlen(ad->bad_body));
		}
		return 1;
	}
	if (is(name, "grpc-message")) {
		if (ad->bad_body)
			return 1;
		ad->msg.len = 0;
		for (size_t i = 0; i < v.len; i++) {
			uint8_t c = (uint8_t)v.ptr[i];

			if (c == '%' && i + 2 < v.len && hexv(v.ptr[i + 1]) >= 0 &&
			    hexv(v.ptr[i + 2]) >= 0) {
				c = (uint8_t)(hexv(v.ptr[i + 1]) << 4 | hexv(v.ptr[i + 2]));
				i += 2;
			}
			pb_buf_add(&ad->msg, &c, 1);
		}
		return 1;
	}
	if (is(name, "grpc-status-details-bin")) {
		ad->details.len = 0;
		pb_buf_add(&ad->details, v.ptr, v.len);
		return 1;
	}
	return 0;
}

/* gRPC-Web: the status and trailers as "name: value\r\n" lines. */
static void web_trailer(struct adapt *ad, pt_str_t name, pt_str_t v)
{
	for (size_t i = 0; i < name.len; i++) {
		char c = name.ptr[i] >= 'A' && name.ptr[i] <= 'Z' ? (char)(name.ptr[i] + 32)
		         : name.ptr[i];

		pb_buf_add(&ad->trailers, &c, 1);
	}
	pb_buf_add(&ad->trailers, ": ", 2);
	pb_buf_add(&ad->trailers, v.ptr, v.len);
	pb_buf_add(&ad->trailers, "\r\n", 2);
}

static void web_status_lines(struct adapt *ad)
{
	char code[8];

	if (!ad->bad_body)
		return;
	/* the server's own status lines were replaced: write ours */
	ad->trailers.len = 0;
	snprintf(code, sizeof(code), "%d", ad->code);
	web_trailer(ad, PT_STR("grpc-status"), (pt_str_t){ code, strlen(code) });
	web_trailer(ad, PT_STR("grpc-message"), (pt_str_t){ ad->bad_body, strlen(ad->bad_body) });
}

static int w_header_add(pt_exchange *x, pt_str_t name, pt_str_t v)
{
	struct adapt *ad = active ? find(x) : NULL;

	if (!ad)
		return core->exchange_header_add(x, name, v);
	if (is(name, "content-type")) {
		if (ad->mode == ADAPT_TRANSCODE)
			return 0;
		return core->exchange_header_set(x, name, (pt_str_t){ ad->content_type,
		                                                      strlen(ad->content_type) });
	}
	if (ad->mode == ADAPT_TRANSCODE && (is(name, "grpc-accept-encoding") ||
	                                    is(name, "grpc-encoding")))
		return 0;
	if (adapt_status_field(ad, name, v)) {
		/* Trailers-Only's status: in the trailer frame for gRPC-Web too,
		 * so every answer ends the same way */
		if (ad->mode != ADAPT_TRANSCODE)
			web_trailer(ad, name, v);
		return 0;
	}
	return core->exchange_header_add(x, name, v);
}

static int w_header_set(pt_exchange *x, pt_str_t name, pt_str_t v)
{
	struct adapt *ad = active ? find(x) : NULL;

	if (!ad)
		return core->exchange_header_set(x, name, v);
	return w_header_add(x, name, v);
}

static int w_trailer_add(pt_exchange *x, pt_str_t name, pt_str_t v)
{
	struct adapt *ad = active ? find(x) : NULL;

	if (!ad)
		return core->exchange_trailer_add(x, name, v);
	if (adapt_status_field(ad, name, v) && ad->mode == ADAPT_TRANSCODE)
		return 0;
	if (ad->mode == ADAPT_TRANSCODE)   /* nothing is sent yet: a header */
		return core->exchange_header_add(x, name, v);
	web_trailer(ad, name, v);
	return 0;
}

static int w_status_set(pt_exchange *x, int status)
{
	struct adapt *ad = active ? find(x) : NULL;

	if (ad && ad->mode == ADAPT_TRANSCODE)
		return 0;
	return core->exchange_status_set(x, status);
}

/* DATA/LEN as the body wants it: as is, or base64 (grpc-web-text). */
static int web_write(struct adapt *ad, const void *data, size_t len)
{
	struct pb_buf b = { 0 };
	int rc;

	if (ad->mode == ADAPT_WEB)
		return core->exchange_write(ad->x, data, len);
	if (grpc_base64_encode(data, len, &b) != 0) {
		pb_buf_free(&b);
		return PT_ENOMEM;
	}
	rc = core->exchange_write(ad->x, b.p, b.len);
	pb_buf_free(&b);
	return rc;
}

static int w_write(pt_exchange *x, const void *data, size_t len)
{
	struct adapt *ad = active ? find(x) : NULL;

	if (!ad)
		return core->exchange_write(x, data, len);
	if (ad->mode == ADAPT_TRANSCODE) {
		/* a REST answer is collected whole: a stream past the cap ends
		 * the call (the server's send fails; the answer says why) */
		if (ad->too_big || (ad->out_max && ad->out.len + len > ad->out_max)) {
			ad->too_big = 1;
			return PT_ELIMIT;
		}
		return pb_buf_add(&ad->out, data, len) == 0 ? 0 : PT_ENOMEM;
	}
	return web_write(ad, data, len);
}

/* The trailer frame: 0x80, the length, the lines. Into B. */
static int trailer_frame(struct adapt *ad, struct pb_buf *b)
{
	uint8_t h[5] = { 0x80 };
	uint32_t n;

	web_status_lines(ad);
	n = (uint32_t)ad->trailers.len;
	h[1] = (uint8_t)(n >> 24);
	h[2] = (uint8_t)(n >> 16);
	h[3] = (uint8_t)(n >> 8);
	h[4] = (uint8_t)n;
	if (pb_buf_add(b, h, 5) != 0 || (n && pb_buf_add(b, ad->trailers.p, n) != 0))
		return -1;
	return 0;
}

/* The end of a transcoded call: the reply function answers. */
static int transcode_end(struct adapt *ad)
{
	ad->ended = 1;
	if (ad->code < 0)
		ad->code = GRPC_OK;
	if (ad->too_big) {
		static const char why[] = "the streamed reply is larger than max_receive_message "
		                          "(a REST answer is collected whole)";

		ad->code = GRPC_RESOURCE_EXHAUSTED;
		ad->msg.len = 0;
		pb_buf_add(&ad->msg, why, sizeof(why) - 1);
		core->log(grpc_ctx, PT_LOG_INFO, "%s", why);
	}
	ad->reply(ad);
	leave(ad);
	return 0;
}

static int w_finish(pt_exchange *x)
{
	struct adapt *ad = active ? find(x) : NULL;
	struct pb_buf b = { 0 };
	int rc;

	if (!ad)
		return core->exchange_finish(x);
	if (ad->mode == ADAPT_TRANSCODE)
		return transcode_end(ad);
	ad->ended = 1;
	if (trailer_frame(ad, &b) == 0)
		web_write(ad, b.p, b.len);
	pb_buf_free(&b);
	leave(ad);
	rc = core->exchange_finish(x);
	return rc;
}

static int w_respond(pt_exchange *x, int status, pt_str_t body)
{
	struct adapt *ad = active ? find(x) : NULL;
	struct pb_buf b = { 0 }, t = { 0 };
	int rc;

	if (!ad)
		return core->exchange_respond(x, status, body);
	if (ad->mode == ADAPT_TRANSCODE) {
		if (body.len)
			pb_buf_add(&ad->out, body.ptr, body.len);
		return transcode_end(ad);
	}
	/* gRPC-Web: the messages, then the trailer frame, in one body */
	ad->ended = 1;
	if ((body.len && pb_buf_add(&b, body.ptr, body.len) != 0) || trailer_frame(ad, &b) != 0) {
		pb_buf_free(&b);
		leave(ad);
		return core->exchange_respond(x, 500, PT_STR(""));
	}
	if (ad->mode == ADAPT_WEB_TEXT && grpc_base64_encode(b.p, b.len, &t) == 0) {
		pb_buf_free(&b);
		b = t;
	}
	leave(ad);
	rc = core->exchange_respond(x, status, (pt_str_t){ (const char *)b.p, b.len });
	pb_buf_free(&b);
	return rc;
}

/* ---- running ---------------------------------------------------------------------------- */

int adapt_run(struct adapt *ad, pt_exchange *x, const pt_conf *opts, void *ud)
{
	struct adapt *prev = running;
	int rc;

	ad->x = x;
	ad->code = -1;
	ad->next = active;
	active = ad;
	running = ad;
	rc = grpc_server_handle(x, opts, ud);
	running = prev;
	if (rc != 0 && !ad->ended)
		leave(ad);
	return rc;
}

void adapt_install(const struct pt_api **api)
{
	size_t n = (*api)->size < sizeof(table) ? (*api)->size : sizeof(table);

	core = *api;
	memset(&table, 0, sizeof(table));
	memcpy(&table, core, n);
	table.size = (uint32_t)n;
	table.conf_int = w_conf_int;
	table.exchange_header = w_header;
	table.exchange_body_read = w_body_read;
	table.exchange_on_abort = w_on_abort;
	table.exchange_header_add = w_header_add;
	table.exchange_header_set = w_header_set;
	table.exchange_trailer_add = w_trailer_add;
	table.exchange_status_set = w_status_set;
	table.exchange_write = w_write;
	table.exchange_finish = w_finish;
	table.exchange_respond = w_respond;
	*api = &table;
}

int grpc_adapt_load(pt_plugin_ctx *ctx, const struct pt_api **api)
{
	int rc;

	adapt_install(api);
	grpc_web_install();
	if ((rc = core->handler_register(ctx, "grpc_transcode", grpc_transcode_handle, NULL)) != 0)
		core->log(ctx, PT_LOG_ERROR, "cannot register the grpc_transcode handler: %s",
		          core->strerror(rc));
	return rc;
}
