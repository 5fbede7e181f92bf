/*
 * send_outcome.c - what a receiver's answer to an outbound delivery means:
 * delivered, try again (when: backoff or Retry-After), or never again; and
 * the error text each failed attempt is recorded with. No I/O, no state.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "send.h"
#include "wh.h"

#define YEAR_MS (366LL * 24 * 3600 * 1000)

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static int digits(const char *p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

static int month_of(const char *p)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	for (int i = 0; i < 12; i++)
		if (!strncmp(p, names + 3 * i, 3))
			return i + 1;
	return 0;
}

/* Days from 1970-01-01 to Y-M-D (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "HH:MM:SS" at P into seconds of the day, or -1. */
static int clock_of(const char *p)
{
	int h, m, s;

	if (p[2] != ':' || p[5] != ':' || digits(p, 2, &h) || digits(p + 3, 2, &m) ||
	    digits(p + 6, 2, &s) || h > 23 || m > 59 || s > 60)
		return -1;
	return h * 3600 + m * 60 + s;
}

/*
 * An HTTP-date (S[0..N), trimmed) as unix seconds, or -1. Weekday names are
 * not checked against the date (recipients need not, and a wrong one does
 * not make the moment unclear).
 */
static int64_t http_date(const char *s, size_t n)
{
	int d = 0, mon, y = 0, secs;
	const char *c = memchr(s, ',', n);

	if (c && n - (size_t)(c - s) == 26 && c - s == 3) {
		/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
		c += 1;
		if (c[0] != ' ' || digits(c + 1, 2, &d) || c[3] != ' ' || !(mon = month_of(c + 4)) ||
		    c[7] != ' ' || digits(c + 8, 4, &y) || c[12] != ' ' ||
		    (secs = clock_of(c + 13)) < 0 || strncmp(c + 21, " GMT", 4))
			return -1;
	} else if (c && c - s >= 6 && c - s <= 9 && n - (size_t)(c - s) == 24) {
		/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
		c += 1;
		if (c[0] != ' ' || digits(c + 1, 2, &d) || c[3] != '-' || !(mon = month_of(c + 4)) ||
		    c[7] != '-' || digits(c + 8, 2, &y) || c[10] != ' ' ||
		    (secs = clock_of(c + 11)) < 0 || strncmp(c + 19, " GMT", 4))
			return -1;
		/* two-digit years (RFC 9110 5.6.7: no more than 50 years ahead):
		 * 00-69 are 2000-2069, 70-99 are 1970-1999 */
		y += y < 70 ? 2000 : 1900;
	} else if (!c && n == 24) {
		/* asctime: "Sun Nov  6 08:49:37 1994" */
		char day[2] = { s[8] == ' ' ? '0' : s[8], s[9] };

		if (s[3] != ' ' || !(mon = month_of(s + 4)) || s[7] != ' ' || digits(day, 2, &d) ||
		    s[10] != ' ' || (secs = clock_of(s + 11)) < 0 || s[19] != ' ' ||
		    digits(s + 20, 4, &y))
			return -1;
	} else {
		return -1;
	}
	if (d < 1 || d > 31 || y < 1970)
		return -1;
	return days_from_civil(y, mon, d) * 86400 + secs;
}

int64_t wh_retry_after_ms(const char *v, size_t len, int64_t now_s)
{
	int64_t secs = 0, at;
	size_t i;

	while (len && is_ows(*v))
		v++, len--;
	while (len && is_ows(v[len - 1]))
		len--;
	if (!len)
		return -1;
	for (i = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++)
		if (secs < YEAR_MS / 1000)
			secs = secs * 10 + (v[i] - '0');
	if (i == len)
		return secs * 1000 < YEAR_MS ? secs * 1000 : YEAR_MS;
	if (i != 0 || (at = http_date(v, len)) < 0)
		return -1;
	if (at <= now_s)
		return 0;
	return (at - now_s) * 1000 < YEAR_MS ? (at - now_s) * 1000 : YEAR_MS;
}

int wh_send_classify(int status)
{
	if (status < 0)
		return WH_SEND_AGAIN;            /* no answer: timeout, refused, reset */
	if (status >= 200 && status <= 299)
		return WH_SEND_OK;
	if (status == 408 || status == 429 || (status >= 500 && status <= 599))
		return WH_SEND_AGAIN;
	return WH_SEND_REFUSED;
}

int wh_send_decide(int status, int attempt, int max, int64_t backoff_ms,
                   int64_t retry_after_ms, double cap, int64_t now_ms, int64_t *next_at_ms)
{
	int64_t delay = backoff_ms > 0 ? backoff_ms : 0;
	int64_t cap_ms = cap > 0 ? (int64_t)(cap * 1000) : 0;

	switch (wh_send_classify(status)) {
	case WH_SEND_OK:
		return WH_DONE;
	case WH_SEND_REFUSED:
		return WH_DEAD;
	default:
		break;
	}
	if (attempt >= max)
		return WH_DEAD;
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	if (cap_ms > 0 && delay > cap_ms)
		delay = cap_ms;
	*next_at_ms = now_ms + delay;
	return WH_RETRY;
}

void wh_send_error(int status, const char *body, size_t body_len, int64_t timeout_ms,
                   const char *target, const char *reason, char *out, size_t outlen)
{
	size_t n, i;

	if (!outlen)
		return;
	if (status == PT_ETIMEDOUT) {
		snprintf(out, outlen, "timed out after %lld.%03lld s", (long long)(timeout_ms / 1000),
		         (long long)(timeout_ms % 1000));
		return;
	}
	if (status == PT_ENOENT) {
		snprintf(out, outlen, "no upstream named \"%s\" in the config", target);
		return;
	}
	if (status == PT_ELIMIT) {
		snprintf(out, outlen, "the answer was too large for the outbound client (not read)");
		return;
	}
	if (status < 0) {
		snprintf(out, outlen, "connection failed: %s", reason ? reason : "unknown error");
		return;
	}
	n = (size_t)snprintf(out, outlen, "HTTP %d", status);
	if (n + 3 >= outlen || !body_len)
		return;
	memcpy(out + n, ": ", 2);
	n += 2;
	for (i = 0; i < body_len && i < 200 && n + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)body[i];

		out[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[n] = '\0';
}

int wh_send_is_url(const char *s, size_t len)
{
	return (len >= 7 && !strncasecmp(s, "http://", 7)) ||
	       (len >= 8 && !strncasecmp(s, "https://", 8));
}
