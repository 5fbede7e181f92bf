/*
 * send_run.c - one attempt of an outbound delivery (a WH_OUTBOUND job):
 * sign it (Standard Webhooks, timestamp = now), POST it with a timeout to
 * the URL or through the named upstream, and tell the store what came of
 * it (send_outcome.c decides: done, retry when, or dead).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "send.h"
#include "whg.h"

#if WHG_ABI18   /* as the glue: the plugin builds and loads on cores before 1.8 */

#define MAX_REQ_HEADERS (WH_SEND_MAX_HEADERS + 6)

/* One attempt in flight; freed when it ends. */
struct attempt {
	struct wh_store *s;
	struct wh_job *job;
	json_t *meta;               /* the job's meta: its strings are borrowed below */
	json_t *headers;            /* the job's extra headers */
	int64_t timeout_ms;
	char ts[24];
	char sig[128];
	pt_str_t hdr[2 * MAX_REQ_HEADERS];
	uint32_t nhdr;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3)))
static void send_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wh_api->vlog(whg_ctx, level, fmt, ap);
	va_end(ap);
}

static void attempt_free(struct attempt *at)
{
	json_decref(at->meta);
	json_decref(at->headers);
	free(at);
}

static void add_header(struct attempt *at, const char *name, const char *value)
{
	if (at->nhdr < MAX_REQ_HEADERS) {
		at->hdr[2 * at->nhdr] = (pt_str_t){ name, strlen(name) };
		at->hdr[2 * at->nhdr + 1] = (pt_str_t){ value, strlen(value) };
		at->nhdr++;
	}
}

/* The Retry-After header among the answer's, or NULL. */
static const pt_str_t *retry_after(const struct pt_upstream_res *res)
{
	for (uint32_t i = 0; res && i < res->num_headers; i++)
		if (res->headers[2 * i].len == 11 &&
		    !memcmp(res->headers[2 * i].ptr, "retry-after", 11))
			return &res->headers[2 * i + 1];
	return NULL;
}

/*
 * The attempt of AT ended with STATUS (an HTTP status or a negative PT_E*)
 * and RES (NULL when the request never started): record it, free AT.
 */
static void attempt_end(struct attempt *at, int status, const struct pt_upstream_res *res)
{
	struct wh_job *job = at->job;
	const pt_str_t *ra = retry_after(res);
	int64_t now = now_ms(), next = 0, ra_ms = -1;
	const char *why;
	char err[320];
	int outcome;

	if (ra && wh_send_classify(status) == WH_SEND_AGAIN)
		ra_ms = wh_retry_after_ms(ra->ptr, ra->len, now / 1000);
	outcome = wh_send_decide(status, job->attempt, job->max_attempts,
	                         wh_backoff_ms(job->attempt, job->base, job->cap), ra_ms, job->cap,
	                         now, &next);
	if (outcome == WH_DONE) {
		at->s->ops->finish(at->s, job, WH_DONE, 0, status, NULL);
		attempt_free(at);
		return;
	}
	why = status >= 0 ? NULL : res && PT_UPSTREAM_ERROR(res) ? PT_UPSTREAM_ERROR(res) :
	      wh_api->strerror(status);     /* the core's words ("connection refused"), 1.11 */
	wh_send_error(status, res ? res->body.ptr : NULL, res ? res->body.len : 0, at->timeout_ms,
	              job->source, why, err, sizeof(err));
	if (outcome == WH_RETRY)
		send_log(PT_LOG_INFO, "delivery %s to %s: attempt %d of %d failed (status %d): %s; "
		         "next attempt in %.1f s", job->event_id, job->source, job->attempt,
		         job->max_attempts, status > 0 ? status : 0, err, (double)(next - now) / 1000);
	else
		send_log(PT_LOG_INFO, "delivery %s to %s: attempt %d of %d failed (status %d): %s; "
		         "dead (%s)", job->event_id, job->source, job->attempt, job->max_attempts,
		         status > 0 ? status : 0, err,
		         wh_send_classify(status) == WH_SEND_REFUSED ? "the receiver refused it"
		                                                     : "no attempts left");
	at->s->ops->finish(at->s, job, outcome, next, status > 0 ? status : 0, err);
	attempt_free(at);
}

static void answered(const struct pt_upstream_res *res, void *ud)
{
	attempt_end(ud, res->status, res);
}

/* A job this code cannot read (a damaged row): dead, with why. */
static void unreadable(struct wh_store *s, struct wh_job *job, const char *why)
{
	char err[200];

	snprintf(err, sizeof(err), "the stored delivery is unreadable: %s", why);
	send_log(PT_LOG_WARN, "delivery %s to %s: %s", job->event_id, job->source, err);
	s->ops->finish(s, job, WH_DEAD, 0, 0, err);
}

/* Signs AT's job for the standard scheme into at->sig. 0 or -1 with ERR. */
static int sign(struct attempt *at, const char *secret, int64_t ts, char *err, size_t errlen)
{
	struct wh_secret key = { 0 };
	int rc;

	if (wh_secret_parse(WH_SCHEME_STANDARD, secret, strlen(secret), &key, err, errlen) != 0)
		return -1;
	rc = wh_sign_standard(key.key, key.len, at->job->event_id, ts, at->job->body,
	                      at->job->body_len, at->sig, sizeof(at->sig));
	OPENSSL_cleanse(key.key, key.len);
	free(key.key);
	if (rc != 0)
		snprintf(err, errlen, "signing failed");
	return rc;
}

void wh_send_run(pt_worker *w, struct wh_job *job, struct wh_store *s)
{
	struct pt_upstream_req req = { .size = sizeof(req), .method = PT_STR("POST") };
	struct attempt *at = calloc(1, sizeof(*at));
	const char *scheme, *secret, *ctype, *path, *k;
	char err[200];
	json_t *v;
	int64_t ts = now_ms() / 1000;
	double timeout;
	int rc;

	if (!at) {
		s->ops->finish(s, job, WH_RETRY, now_ms() + 1000, 0, "out of memory");
		return;
	}
	at->s = s;
	at->job = job;
	at->meta = json_loads(job->meta_json ? job->meta_json : "{}", 0, NULL);
	at->headers = json_loads(job->headers_json ? job->headers_json : "{}", 0, NULL);
	if (!json_is_object(at->meta) || !json_is_object(at->headers)) {
		unreadable(s, job, "its meta or headers are not JSON objects");
		attempt_free(at);
		return;
	}
	scheme = json_string_value(json_object_get(at->meta, "scheme"));
	secret = json_string_value(json_object_get(at->meta, "secret"));
	ctype = json_string_value(json_object_get(at->meta, "content_type"));
	path = json_string_value(json_object_get(at->meta, "path"));
	timeout = json_number_value(json_object_get(at->meta, "timeout"));
	if (!(timeout > 0 && timeout <= WH_SEND_TIMEOUT_MAX))
		timeout = WH_SEND_TIMEOUT_DEFAULT;
	at->timeout_ms = (int64_t)(timeout * 1000 + 0.5);
	if (at->timeout_ms < 1)
		at->timeout_ms = 1;
	snprintf(at->ts, sizeof(at->ts), "%lld", (long long)ts);
	add_header(at, "content-type", ctype ? ctype : "application/json");
	if (!json_object_get(at->headers, "user-agent"))
		add_header(at, "user-agent", "Portico-Webhooks");
	add_header(at, "webhook-id", job->event_id);
	add_header(at, "webhook-timestamp", at->ts);
	if (!scheme || !strcmp(scheme, "standard")) {
		if (!secret || sign(at, secret, ts, err, sizeof(err)) != 0) {
			unreadable(s, job, secret ? err : "no secret for the standard scheme");
			attempt_free(at);
			return;
		}
		add_header(at, "webhook-signature", at->sig);
	}
	json_object_foreach(at->headers, k, v)
		if (json_is_string(v))
			add_header(at, k, json_string_value(v));
	if (wh_send_is_url(job->source, strlen(job->source))) {
		req.url = job->source;
	} else {
		req.upstream = job->source;
		req.path = path ? (pt_str_t){ path, strlen(path) } : PT_STR("/");
	}
	req.headers = at->hdr;
	req.num_headers = at->nhdr;
	req.body = (pt_str_t){ (const char *)job->body, job->body_len };
	req.timeout_ms = (uint32_t)at->timeout_ms;
	rc = wh_api->upstream_request(w, &req, answered, at);
	if (rc != 0)
		attempt_end(at, rc, NULL);   /* never started: FN will not be called */
}

#endif
