/* access_log.c - one line per finished exchange; see access_log.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "http/exchange.h"
#include "log.h"
#include "upstream/proxy_grpc.h"
#include "worker.h"

enum field {
	F_LITERAL, F_TIME, F_TIME_LOCAL, F_REMOTE, F_METHOD, F_PATH, F_QUERY, F_TARGET,
	F_PROTOCOL, F_HOST, F_STATUS, F_BYTES, F_LATENCY, F_UPSTREAM_ADDR, F_UPSTREAM_LATENCY,
	F_CONSUMER, F_REQUEST_ID, F_USER_AGENT, F_REFERER, F_GRPC_STATUS,
};

static const struct {
	const char *name;
	enum field f;
} fields[] = {
	{ "time", F_TIME }, { "time_local", F_TIME_LOCAL }, { "remote_addr", F_REMOTE },
	{ "method", F_METHOD }, { "path", F_PATH }, { "query", F_QUERY },
	{ "target", F_TARGET }, { "protocol", F_PROTOCOL }, { "host", F_HOST },
	{ "status", F_STATUS }, { "bytes", F_BYTES }, { "latency_ms", F_LATENCY },
	{ "upstream_addr", F_UPSTREAM_ADDR }, { "upstream_latency_ms", F_UPSTREAM_LATENCY },
	{ "consumer", F_CONSUMER }, { "request_id", F_REQUEST_ID },
	{ "user_agent", F_USER_AGENT }, { "referer", F_REFERER },
	{ "grpc_status", F_GRPC_STATUS },
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* The JSON format: every field, in this order. */
static const enum field json_fields[] = {
	F_TIME, F_REMOTE, F_METHOD, F_PATH, F_QUERY, F_PROTOCOL, F_HOST, F_STATUS, F_BYTES,
	F_LATENCY, F_UPSTREAM_ADDR, F_UPSTREAM_LATENCY, F_CONSUMER, F_REQUEST_ID, F_USER_AGENT,
	F_GRPC_STATUS,
};

#define TEXT_FORMAT "$remote_addr - $consumer [$time_local] \"$method $target $protocol\" " \
	"$status $bytes $latency_ms \"$upstream_addr\" $upstream_latency_ms $request_id"

struct seg {
	enum field f;
	const char *lit;          /* F_LITERAL */
	size_t len;
};

#define REDACT_MAX 32

struct access_log {
	int fd;
	int json;
	struct seg *segs;
	unsigned nsegs;
	char *path;
	/* query parameters whose values the log never shows (credentials a
	 * browser can only send in the URL: a WebSocket's access_token) */
	char *redact[REDACT_MAX];
	size_t nredact;
};

/* Redacted unless the config says otherwise (access_log.redact). */
static const char *const default_redact[] = {
	"access_token", "token", "api_key", "apikey", "password", "secret", "client_secret",
	"id_token", "refresh_token", "signature",
};

static const char *field_name(enum field f)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].f == f)
			return fields[i].name;
	return "";
}

/* Splits FORMAT into literals and $fields; ERR names an unknown field. */
static int compile(struct access_log *al, const char *format, char *err, size_t errlen)
{
	size_t cap = 2 * strlen(format) + 1;
	const char *p = format;

	al->segs = calloc(cap, sizeof(*al->segs));
	if (!al->segs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (*p) {
		const char *start = p;
		size_t n;

		if (*p != '$') {
			while (*p && *p != '$')
				p++;
			al->segs[al->nsegs++] = (struct seg){ F_LITERAL, start, (size_t)(p - start) };
			continue;
		}
		p++;
		while ((*p >= 'a' && *p <= 'z') || *p == '_')
			p++;
		n = (size_t)(p - start - 1);
		for (size_t i = 0; i < NFIELDS; i++) {
			if (strlen(fields[i].name) == n && !memcmp(fields[i].name, start + 1, n)) {
				al->segs[al->nsegs++] = (struct seg){ fields[i].f, NULL, 0 };
				goto next;
			}
		}
		snprintf(err, errlen, "access_log.format: unknown field '$%.*s' (known: $time, "
		         "$time_local, $remote_addr, $method, $path, $query, $target, $protocol, $host, "
		         "$status, $bytes, $latency_ms, $upstream_addr, $upstream_latency_ms, "
		         "$consumer, $request_id, $user_agent, $referer, $grpc_status)", (int)n,
		         start + 1);
		return -1;
next:;
	}
	return 0;
}

struct access_log *access_log_open(const char *path, const char *format, char *err,
                                   size_t errlen)
{
	struct access_log *al = calloc(1, sizeof(*al));

	if (!al) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	al->fd = -1;
	if (access_log_redact(al, default_redact,
	                      sizeof(default_redact) / sizeof(default_redact[0])) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!format || !strcmp(format, "text"))
		format = TEXT_FORMAT;
	al->json = !strcmp(format, "json");
	if (!al->json && compile(al, format, err, errlen) != 0)
		goto fail;
	if (!path || !strcmp(path, "-") || !strcmp(path, "stderr")) {
		al->fd = dup(STDERR_FILENO);
	} else {
		al->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		al->path = strdup(path);
	}
	if (al->fd < 0) {
		snprintf(err, errlen, "access_log: cannot open %s: %s", path ? path : "stderr",
		         strerror(errno));
		goto fail;
	}
	return al;
fail:
	access_log_close(al);
	return NULL;
}

void access_log_close(struct access_log *al)
{
	if (!al)
		return;
	if (al->fd >= 0)
		close(al->fd);
	free(al->segs);
	free(al->path);
	for (size_t i = 0; i < al->nredact; i++)
		free(al->redact[i]);
	free(al);
}

int access_log_redact(struct access_log *al, const char *const *names, size_t n)
{
	for (size_t i = 0; i < al->nredact; i++)
		free(al->redact[i]);
	al->nredact = 0;
	if (n > REDACT_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!(al->redact[i] = strdup(names[i])))
			return -1;
		al->nredact++;
	}
	return 0;
}

/* ---- formatting ---------------------------------------------------------- */

struct line {
	char buf[4096];
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - 1 - l->len)
		n = sizeof(l->buf) - 1 - l->len;   /* a huge field is cut, the line still ends */
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void putf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof(l->buf) - 1 - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < sizeof(l->buf) - 1 - l->len ? (size_t)n :
		          sizeof(l->buf) - 1 - l->len;
}

/* Text lines escape what would let a client forge a line or a field:
 * control bytes, quotes and backslashes as \xHH; JSON escapes per RFC 8259. */
static void put_escaped(struct line *l, const char *s, size_t n, int json)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
			if (json && c == '"')
				put(l, "\\\"", 2);
			else if (json && c == '\\')
				put(l, "\\\\", 2);
			else if (json)
				putf(l, "\\u%04x", c);
			else
				putf(l, "\\x%02X", c);
		} else {
			put(l, (const char *)&s[i], 1);
		}
	}
}

static pt_str_t header_of(pt_exchange *x, const char *name)
{
	pt_str_t v = { NULL, 0 };

	xapi_header(x, (pt_str_t){ name, strlen(name) }, 0, &v);
	return v;
}

/* Header NAME in the list H (N fields), or an empty string. */
static pt_str_t field_in(const struct xhdr *h, unsigned n, const char *name)
{
	size_t len = strlen(name);

	for (unsigned i = 0; i < n; i++)
		if (h[i].name.len == len && !memcmp(h[i].name.ptr, name, len))
			return h[i].value;
	return (pt_str_t){ NULL, 0 };
}

/*
 * $grpc_status: the gRPC status X ended with -- grpc-status in its trailers,
 * or in its head (trailers-only) -- whoever made it (the proxy relaying or
 * making one, a gRPC service). For a gRPC request answered without one
 * (a filter's 401, a 404), the code its client derives from the HTTP
 * status (grpc's PROTOCOL-HTTP2.md), written into BUF; 1 (CANCELLED) for
 * one whose client went away first. Empty for other requests.
 */
static pt_str_t grpc_status(pt_exchange *x, char *buf, size_t len)
{
	pt_str_t s = field_in(x->trailers, x->ntrailers, "grpc-status");

	if (s.len || (s = field_in(x->rhdrs, x->nrhdrs, "grpc-status")).len)
		return s;
	if (!grpc_content_type(header_of(x, "content-type")))
		return (pt_str_t){ NULL, 0 };
	if (x->aborted)
		return PT_STR("1");   /* CANCELLED: the client went away */
	if (x->state < X_DONE || x->status == 200)
		return (pt_str_t){ NULL, 0 };
	return (pt_str_t){ buf, (size_t)snprintf(buf, len, "%d", grpc_code_of_http(x->status)) };
}

/* The time as ISO 8601 UTC with milliseconds, or nginx's $time_local form. */
static void put_time(struct line *l, int local)
{
	struct timeval tv;
	struct tm tm;
	char b[64];
	size_t n;

	gettimeofday(&tv, NULL);
	if (local) {
		localtime_r(&tv.tv_sec, &tm);
		n = strftime(b, sizeof(b), "%d/%b/%Y:%H:%M:%S %z", &tm);
	} else {
		gmtime_r(&tv.tv_sec, &tm);
		n = strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(b + n, sizeof(b) - n, ".%03dZ", (int)(tv.tv_usec / 1000));
	}
	put(l, b, n);
}

/*
 * The status an exchange is logged with. One that ended before its answer
 * was complete is 499 when the client left (nginx's code), but 503 when the
 * server cut it at the end of shutdown_timeout: the server, not the client,
 * ended it, and 503 (the service is going away) is what the client would
 * have got had it been answered. A stream whose head was already sent
 * keeps the status the client saw; its short $bytes tell it was cut.
 */
static int logged_status(pt_exchange *x)
{
	if (!x->aborted || x->state >= X_DONE)
		return x->log_status ? x->log_status : x->status;
	if (!x->w || !x->w->cutting)
		return 499;
	return x->state == X_STREAMING ? x->status : 503;
}

/* Field F of X: strings escaped and, in JSON, quoted; absent ones are "-"
 * in text and null in JSON. */
/* Whether the query parameter NAME (LEN bytes, as sent) is one to redact. */
static int redacted(const struct access_log *al, const char *name, size_t len)
{
	for (size_t i = 0; i < al->nredact; i++)
		if (strlen(al->redact[i]) == len && !strncasecmp(al->redact[i], name, len))
			return 1;
	return 0;
}

/* S (a path with its query, or a query) escaped, with the values of the
 * redacted parameters written as REDACTED. */
static void put_target(struct line *l, const struct access_log *al, pt_str_t s, int json)
{
	const char *q = memchr(s.ptr, '?', s.len), *end = s.ptr + s.len, *p;

	if (!al->nredact) {
		put_escaped(l, s.ptr, s.len, json);
		return;
	}
	p = q ? q + 1 : s.ptr;
	if (!q && s.len && s.ptr[0] == '/') {   /* a path without a query */
		put_escaped(l, s.ptr, s.len, json);
		return;
	}
	put_escaped(l, s.ptr, (size_t)(p - s.ptr), json);
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));

		if (eq && redacted(al, p, (size_t)(eq - p))) {
			put_escaped(l, p, (size_t)(eq - p) + 1, json);
			put(l, "REDACTED", 8);
		} else {
			put_escaped(l, p, (size_t)(e - p), json);
		}
		if (amp)
			put(l, "&", 1);
		p = amp ? amp + 1 : end;
	}
}

static void put_field(struct line *l, const struct access_log *al, pt_exchange *x, enum field f,
                      int json, uint64_t now)
{
	pt_str_t s = { NULL, 0 };
	char num[12];

	switch (f) {
	case F_LITERAL:
		return;
	case F_TIME:
	case F_TIME_LOCAL:
		if (json)
			put(l, "\"", 1);
		put_time(l, f == F_TIME_LOCAL);
		if (json)
			put(l, "\"", 1);
		return;
	case F_STATUS:
		putf(l, "%d", logged_status(x));
		return;
	case F_BYTES:
		putf(l, "%" PRIu64, x->bytes_out);
		return;
	case F_LATENCY:
		putf(l, "%.3f", x->start_us ? (double)(now - x->start_us) / 1000.0 : 0.0);
		return;
	case F_UPSTREAM_LATENCY:
		if (x->upstream_addr.len)
			putf(l, "%.3f", (double)x->upstream_us / 1000.0);
		else
			put(l, json ? "null" : "-", json ? 4 : 1);
		return;
	case F_REMOTE: s = x->remote; break;
	case F_METHOD: s = x->method_name; break;
	case F_PATH: s = x->path; break;
	case F_QUERY: s = x->query; break;
	case F_TARGET: s = x->target.len ? x->target : x->path; break;
	case F_PROTOCOL:
		s = x->minor_version == 20 ? PT_STR("HTTP/2") : x->minor_version == 0 ?
		    PT_STR("HTTP/1.0") : PT_STR("HTTP/1.1");
		break;
	case F_HOST: s = x->host; break;
	case F_UPSTREAM_ADDR: s = x->upstream_addr; break;
	case F_CONSUMER: s = x->consumer; break;
	case F_REQUEST_ID: s = xapi_request_id(x); break;
	case F_USER_AGENT: s = header_of(x, "user-agent"); break;
	case F_REFERER: s = header_of(x, "referer"); break;
	case F_GRPC_STATUS: s = grpc_status(x, num, sizeof(num)); break;
	}
	if (!s.len && f != F_QUERY) {
		put(l, json ? "null" : "-", json ? 4 : 1);
		return;
	}
	if (json)
		put(l, "\"", 1);
	if (f == F_QUERY || f == F_TARGET)
		put_target(l, al, s, json);
	else
		put_escaped(l, s.ptr, s.len, json);
	if (json)
		put(l, "\"", 1);
}

void access_log_write(struct access_log *al, pt_exchange *x)
{
	struct line l;
	uint64_t now = mono_us();

	l.len = 0;
	if (al->json) {
		put(&l, "{", 1);
		for (size_t i = 0; i < sizeof(json_fields) / sizeof(json_fields[0]); i++) {
			putf(&l, "%s\"%s\":", i ? "," : "", field_name(json_fields[i]));
			put_field(&l, al, x, json_fields[i], 1, now);
		}
		put(&l, "}", 1);
	} else {
		for (unsigned i = 0; i < al->nsegs; i++) {
			if (al->segs[i].f == F_LITERAL)
				put(&l, al->segs[i].lit, al->segs[i].len);
			else
				put_field(&l, al, x, al->segs[i].f, 0, now);
		}
	}
	l.buf[l.len++] = '\n';
	/* O_APPEND: each line is one write, so lines from workers never mix */
	if (write(al->fd, l.buf, l.len) < 0) {
		static atomic_int warned;

		if (!atomic_fetch_add(&warned, 1))
			log_error("core", "access log %s: %s", al->path ? al->path : "stderr",
			          strerror(errno));
	}
}
