/*
 * send.h - outbound delivery's parts inside the webhook plugin (send.c: the
 * Lua side; send_run.c: one attempt; send_outcome.c: what an answer means).
 * send_outcome.c depends on nothing but libc, so its unit test links it alone.
 */
#ifndef PORTICO_WH_SEND_H
#define PORTICO_WH_SEND_H

#include <stddef.h>
#include <stdint.h>

/* Limits of webhook.send (checked when it is called). */
#define WH_SEND_MAX_BODY (1u << 20)        /* bytes of the JSON body */
#define WH_SEND_MAX_URL 2048
#define WH_SEND_MAX_HEADERS 32             /* opts.headers entries */
#define WH_SEND_MAX_HEADER_VALUE 4096
#define WH_SEND_TIMEOUT_DEFAULT 10.0       /* seconds, per attempt */
#define WH_SEND_TIMEOUT_MAX 300.0

/*
 * The delay a Retry-After value V[0..LEN) asks for, in milliseconds from
 * NOW_S (unix seconds): delta-seconds ("120") or an HTTP-date in any of the
 * three forms RFC 9110 says a recipient must accept (IMF-fixdate "Sun, 06
 * Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT", asctime
 * "Sun Nov  6 08:49:37 1994"). A date in the past is 0. Values are clamped
 * to one year. -1 when V is empty or not one of these.
 */
int64_t wh_retry_after_ms(const char *v, size_t len, int64_t now_s);

/* How an attempt's answer is classified. STATUS: the HTTP status, or a
 * negative PT_E* when there was none (timeout, connection failure). */
enum wh_send_class {
	WH_SEND_OK = 1,        /* 2xx: delivered */
	WH_SEND_AGAIN = 2,     /* 408, 429, 5xx, no answer: try again later */
	WH_SEND_REFUSED = 3,   /* 1xx, 3xx, other 4xx (410 Gone too): never again */
};
int wh_send_classify(int status);

/*
 * The outcome of attempt ATTEMPT of MAX (WH_DONE, WH_RETRY or WH_DEAD from
 * wh.h) for STATUS, and for WH_RETRY *NEXT_AT_MS: NOW_MS plus BACKOFF_MS, or
 * plus RETRY_AFTER_MS when that is larger (-1: the answer had none), never
 * more than CAP seconds. The last allowed attempt failing is WH_DEAD.
 */
int wh_send_decide(int status, int attempt, int max, int64_t backoff_ms,
                   int64_t retry_after_ms, double cap, int64_t now_ms, int64_t *next_at_ms);

/*
 * The error text recorded with a failed attempt, into OUT[0..OUTLEN)
 * (always NUL-terminated): "HTTP 503: <the start of BODY, control bytes
 * and non-ASCII as '?', at most 200 bytes>", or for a negative STATUS:
 * "timed out after 10.000 s", "no upstream named \"x\" in the config", "the
 * answer was too large ..." (PT_ELIMIT), or "connection failed: <REASON>".
 * TIMEOUT_MS and TARGET for the sentences.
 */
void wh_send_error(int status, const char *body, size_t body_len, int64_t timeout_ms,
                   const char *target, const char *reason, char *out, size_t outlen);

/* 1 when S[0..LEN) starts with http:// or https:// (any case). */
int wh_send_is_url(const char *s, size_t len);

#endif
