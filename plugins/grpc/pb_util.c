/*
 * pb_util.c - small helpers both mappings (Lua and JSON) share: UTF-8,
 * names, enum lookups, the text forms of Timestamp, Duration, bytes and
 * FieldMask, Any type URLs, and error paths.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_priv.h"

int pb_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			if (i + 1 >= n || (s[i + 1] & 0xc0) != 0x80)
				return 0;
			i += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			if (i + 2 >= n || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80)
				return 0;
			if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f))
				return 0;	/* overlong; surrogates */
			i += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			if (i + 3 >= n || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80 ||
			    (s[i + 3] & 0xc0) != 0x80)
				return 0;
			if ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f))
				return 0;
			i += 4;
		} else {
			return 0;
		}
	}
	return 1;
}

char *pb_camel(struct pb_arena *a, const char *name)
{
	size_t n = strlen(name), o = 0;
	char *s = pb_arena_alloc(a, n + 1);
	int up = 0;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '_') {
			up = 1;
			continue;
		}
		s[o++] = up && name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i];
		up = 0;
	}
	s[o] = 0;
	return s;
}

const struct pb_field *pb_field_by_name(const struct pb_msg *m, const char *name, size_t len)
{
	const unsigned *sorted = m->desc.fields_sorted_by_name;
	unsigned lo = 0, hi = m->nfields;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const struct pb_field *f = &m->fields[sorted[mid]];
		int c = strncmp(f->name, name, len);

		if (!c && f->name_len > len)
			c = 1;
		if (!c)
			return f;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct pb_field *pb_field_by_json(const struct pb_msg *m, const char *name, size_t len)
{
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct pb_field *f = &m->fields[i];

		if (f->json_len == len && !memcmp(f->json_name, name, len))
			return f;
	}
	return pb_field_by_name(m, name, len);
}

const struct pb_enum_value *pb_enum_by_number(const struct pb_enum *e, int32_t v)
{
	for (unsigned i = 0; i < e->nvalues; i++)
		if (e->values[i].number == v)
			return &e->values[i];
	return NULL;
}

const struct pb_enum_value *pb_enum_by_name(const struct pb_enum *e, const char *s, size_t n)
{
	for (unsigned i = 0; i < e->nvalues; i++)
		if (e->values[i].name_len == n && !memcmp(e->values[i].name, s, n))
			return &e->values[i];
	return NULL;
}

/* ---- Timestamp and Duration ---- */

#define TS_MIN (-62135596800LL)	/* 0001-01-01T00:00:00Z */
#define TS_MAX 253402300799LL	/* 9999-12-31T23:59:59Z */
#define DUR_MAX 315576000000LL

/* Days since 1970-01-01 from a civil date, and back (H. Hinnant's method). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* ".5" -> 0, 3, 6 or 9 digits, as the JSON mapping writes them. */
static int frac(char *out, size_t outlen, int32_t nanos)
{
	if (nanos == 0)
		return 0;
	if (nanos % 1000000 == 0)
		return snprintf(out, outlen, ".%03d", nanos / 1000000);
	if (nanos % 1000 == 0)
		return snprintf(out, outlen, ".%06d", nanos / 1000);
	return snprintf(out, outlen, ".%09d", nanos);
}

int pb_fmt_timestamp(int64_t secs, int32_t nanos, char *out, size_t outlen)
{
	int64_t days, y, rem;
	unsigned mo, d;
	int n;

	if (secs < TS_MIN || secs > TS_MAX || nanos < 0 || nanos > 999999999 || outlen < 40)
		return -1;
	days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	rem = secs - days * 86400;
	civil_from_days(days, &y, &mo, &d);
	n = snprintf(out, outlen, "%04d-%02u-%02uT%02d:%02d:%02d", (int)y, mo, d,
	             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	n += frac(out + n, outlen - (size_t)n, nanos);
	out[n++] = 'Z';
	out[n] = 0;
	return n;
}

static int digits(const char *s, size_t n, size_t at, int count, int *v)
{
	*v = 0;
	if (at + (size_t)count > n)
		return -1;
	for (int i = 0; i < count; i++) {
		if (s[at + i] < '0' || s[at + i] > '9')
			return -1;
		*v = *v * 10 + (s[at + i] - '0');
	}
	return 0;
}

/* ".123" after position *AT: nanoseconds, up to 9 digits. */
static int parse_frac(const char *s, size_t n, size_t *at, int32_t *nanos)
{
	int k = 0;
	int32_t v = 0;

	*nanos = 0;
	if (*at >= n || s[*at] != '.')
		return 0;
	(*at)++;
	while (*at < n && s[*at] >= '0' && s[*at] <= '9') {
		if (++k > 9)
			return -1;
		v = v * 10 + (s[(*at)++] - '0');
	}
	if (!k)
		return -1;
	while (k++ < 9)
		v *= 10;
	*nanos = v;
	return 0;
}

int pb_parse_timestamp(const char *s, size_t n, int64_t *secs, int32_t *nanos)
{
	int y, mo, d, h, mi, se, oh = 0, om = 0;
	size_t at = 19;
	int64_t t;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (n < 20 || digits(s, n, 0, 4, &y) || s[4] != '-' || digits(s, n, 5, 2, &mo) ||
	    s[7] != '-' || digits(s, n, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    digits(s, n, 11, 2, &h) || s[13] != ':' || digits(s, n, 14, 2, &mi) ||
	    s[16] != ':' || digits(s, n, 17, 2, &se))
		return -1;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
	    se > 59)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	if (parse_frac(s, n, &at, nanos) || at >= n)
		return -1;
	if (s[at] == 'Z' || s[at] == 'z') {
		at++;
	} else if (s[at] == '+' || s[at] == '-') {
		int sign = s[at] == '-' ? -1 : 1;

		if (digits(s, n, at + 1, 2, &oh) || at + 3 >= n || s[at + 3] != ':' ||
		    digits(s, n, at + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		at += 6;
		oh *= sign;
		om *= sign;
	} else {
		return -1;
	}
	if (at != n)
		return -1;
	t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
	t -= (int64_t)oh * 3600 + (int64_t)om * 60;
	if (t < TS_MIN || t > TS_MAX)
		return -1;
	*secs = t;
	return 0;
}

int pb_fmt_duration(int64_t secs, int32_t nanos, char *out, size_t outlen)
{
	int n;

	if (secs < -DUR_MAX || secs > DUR_MAX || nanos < -999999999 || nanos > 999999999 ||
	    (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0) || outlen < 40)
		return -1;
	if (secs < 0 || nanos < 0) {
		n = snprintf(out, outlen, "-%lld", (long long)-secs);
		nanos = -nanos;
	} else {
		n = snprintf(out, outlen, "%lld", (long long)secs);
	}
	n += frac(out + n, outlen - (size_t)n, nanos);
	out[n++] = 's';
	out[n] = 0;
	return n;
}

int pb_parse_duration(const char *s, size_t n, int64_t *secs, int32_t *nanos)
{
	size_t at = 0;
	int neg = 0, k = 0;
	int64_t v = 0;

	if (n && s[0] == '-') {
		neg = 1;
		at = 1;
	}
	while (at < n && s[at] >= '0' && s[at] <= '9') {
		if (++k > 12)
			return -1;
		v = v * 10 + (s[at++] - '0');
	}
	if (!k || parse_frac(s, n, &at, nanos) || at + 1 != n || s[at] != 's' || v > DUR_MAX)
		return -1;
	*secs = neg ? -v : v;
	if (neg)
		*nanos = -*nanos;
	return 0;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int pb_b64_encode(struct pb_buf *b, const uint8_t *s, size_t n)
{
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		if (pb_buf_add(b, q, 4))
			return -1;
	}
	return 0;
}

int pb_b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

uint8_t *pb_b64_decode(struct pb_arena *a, const char *s, size_t n, size_t *outlen)
{
	uint8_t *d;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	while (n && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return NULL;
	d = pb_arena_alloc(a, n / 4 * 3 + 3);
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int v = pb_b64_value((unsigned char)s[i]);

		if (v < 0)
			return NULL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (uint8_t)(acc >> bits);
		}
	}
	*outlen = o;
	return d;
}

/* ---- FieldMask ---- */

int pb_fieldmask_to_text(struct pb_buf *b, const ProtobufCBinaryData *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int up = 0;

		if (!pb_utf8_valid(paths[i].data, paths[i].len))
			return -2;
		if (i && pb_buf_add(b, ",", 1))
			return -1;
		for (size_t k = 0; k < paths[i].len; k++) {
			char c = (char)paths[i].data[k];

			if (c == '_') {
				up = 1;
				continue;
			}
			if (c >= 'A' && c <= 'Z')
				return -2;	/* would not survive the round trip */
			if (up && c >= 'a' && c <= 'z')
				c -= 32;
			up = 0;
			if (pb_buf_add(b, &c, 1))
				return -1;
		}
	}
	return 0;
}

int pb_fieldmask_from_text(struct pb_arena *a, const char *s, size_t n,
                           ProtobufCBinaryData **paths, size_t *np)
{
	size_t count = n ? 1 : 0, k = 0;
	ProtobufCBinaryData *p;

	for (size_t i = 0; i < n; i++)
		count += s[i] == ',';
	p = pb_arena_alloc(a, (count ? count : 1) * sizeof(*p));
	if (!p)
		return -1;
	for (size_t i = 0; i < count; i++) {
		size_t start = k, o = 0;
		uint8_t *d;

		while (k < n && s[k] != ',')
			k++;
		d = pb_arena_alloc(a, 2 * (k - start) + 1);
		if (!d)
			return -1;
		for (size_t j = start; j < k; j++) {
			if (s[j] == '_')
				return -2;
			if (s[j] >= 'A' && s[j] <= 'Z') {
				d[o++] = '_';
				d[o++] = (uint8_t)(s[j] + 32);
			} else {
				d[o++] = (uint8_t)s[j];
			}
		}
		p[i].data = d;
		p[i].len = o;
		k++;
	}
	*paths = p;
	*np = count;
	return 0;
}

const struct pb_msg *pb_any_type(const struct pb_registry *r, const char *url, size_t n)
{
	const char *slash = memrchr(url, '/', n);
	char name[512];
	size_t off = slash ? (size_t)(slash - url) + 1 : 0;

	if (!slash || n - off >= sizeof(name) || n == off)
		return NULL;
	memcpy(name, url + off, n - off);
	name[n - off] = 0;
	return pb_find_msg(r, name);
}

void pb_path_err(const struct pb_path *p, char *err, size_t errlen, const char *fmt, ...)
{
	size_t o = 0;
	va_list ap;

	if (!errlen)
		return;
	err[0] = 0;
	for (int i = 0; p && i < p->depth && o < errlen; i++) {
		int n;

		if (p->depth > 8 && i == 3) {	/* deep paths: the first and last names */
			n = snprintf(err + o, errlen - o, "...(%d more)", p->depth - 7);
			if (n < 0)
				return;
			o += (size_t)n;
			i = p->depth - 5;
			continue;
		}
		if (p->kind[i] == PATH_SKEY)
			n = snprintf(err + o, errlen - o, "%s%s[\"%.40s\"]", i ? "." : "", p->name[i],
			             p->key[i]);
		else if (p->kind[i] == PATH_IKEY || p->kind[i] == PATH_INDEX)
			n = snprintf(err + o, errlen - o, "%s%s[%lld]", i ? "." : "", p->name[i],
			             p->index[i] + (p->kind[i] == PATH_INDEX));
		else
			n = snprintf(err + o, errlen - o, "%s%s", i ? "." : "", p->name[i]);
		if (n < 0)
			return;
		o += (size_t)n;
	}
	if (o && o + 2 < errlen) {
		err[o++] = ':';
		err[o++] = ' ';
	}
	if (o >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + o, errlen - o, fmt, ap);
	va_end(ap);
}
