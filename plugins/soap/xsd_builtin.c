/*
 * xsd_builtin.c - the XSD 1.0 built-in types (static storage shared by
 * every set, never written after compile time) and xs_check_value, the
 * lexical and facet check of a simple value. See soap.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlregexp.h>

#include "soap.h"

enum {
	B_ANYTYPE, B_ANYSIMPLE, B_STRING, B_NORMALIZED, B_TOKEN, B_LANGUAGE, B_NAME, B_NCNAME,
	B_ID, B_IDREF, B_IDREFS, B_ENTITY, B_ENTITIES, B_NMTOKEN, B_NMTOKENS, B_BOOLEAN,
	B_DECIMAL, B_INTEGER, B_NONPOS, B_NEG, B_LONG, B_INT, B_SHORT, B_BYTE, B_NONNEG,
	B_ULONG, B_UINT, B_USHORT, B_UBYTE, B_POS, B_FLOAT, B_DOUBLE, B_DURATION, B_DATETIME,
	B_TIME, B_DATE, B_GYEARMONTH, B_GYEAR, B_GMONTHDAY, B_GDAY, B_GMONTH, B_HEX, B_BASE64,
	B_ANYURI, B_QNAME, B_NOTATION, B_N
};

/* anyType: mixed content, any elements (the codec decodes them generically) */
static struct xs_particle any_el = { .kind = XS_ANY, .min = 0, .max = XS_UNBOUNDED,
                                     .any_ns = "##any" };
static struct xs_particle *any_kids[] = { &any_el };
static struct xs_particle any_seq = { .kind = XS_SEQUENCE, .min = 1, .max = 1,
                                      .kids = any_kids, .nkids = 1 };

#define FNONE { .length = -1, .min_length = -1, .max_length = -1, .total_digits = -1, \
                .fraction_digits = -1 }
#define T(idx, nm, pr, b) [idx] = { .ns = XS_NS, .name = nm, .kind = XS_SIMPLE, .prim = pr, \
                                    .f = FNONE, .base = b }
#define TI(idx, nm, b, lo, hi) [idx] = { .ns = XS_NS, .name = nm, .kind = XS_SIMPLE, \
                                         .prim = XS_P_INTEGER, .int_lo = lo, .int_hi = hi, \
                                         .f = FNONE, .base = b }
#define TL(idx, nm, item) [idx] = { .ns = XS_NS, .name = nm, .kind = XS_SIMPLE, \
                                    .prim = XS_P_STRING, .f = FNONE, .list_item = item, \
                                    .base = &bt[B_ANYSIMPLE] }

static struct xs_type bt[B_N] = {
	[B_ANYTYPE] = { .ns = XS_NS, .name = "anyType", .kind = XS_COMPLEX, .prim = XS_P_ANY,
	                .f = FNONE, .content = &any_seq, .mixed = 1 },
	T(B_ANYSIMPLE, "anySimpleType", XS_P_ANY, NULL),
	T(B_STRING, "string", XS_P_STRING, &bt[B_ANYSIMPLE]),
	T(B_NORMALIZED, "normalizedString", XS_P_STRING, &bt[B_STRING]),
	T(B_TOKEN, "token", XS_P_STRING, &bt[B_NORMALIZED]),
	T(B_LANGUAGE, "language", XS_P_STRING, &bt[B_TOKEN]),
	T(B_NAME, "Name", XS_P_STRING, &bt[B_TOKEN]),
	T(B_NCNAME, "NCName", XS_P_STRING, &bt[B_NAME]),
	T(B_ID, "ID", XS_P_STRING, &bt[B_NCNAME]),
	T(B_IDREF, "IDREF", XS_P_STRING, &bt[B_NCNAME]),
	TL(B_IDREFS, "IDREFS", &bt[B_IDREF]),
	T(B_ENTITY, "ENTITY", XS_P_STRING, &bt[B_NCNAME]),
	TL(B_ENTITIES, "ENTITIES", &bt[B_ENTITY]),
	T(B_NMTOKEN, "NMTOKEN", XS_P_STRING, &bt[B_TOKEN]),
	TL(B_NMTOKENS, "NMTOKENS", &bt[B_NMTOKEN]),
	T(B_BOOLEAN, "boolean", XS_P_BOOLEAN, &bt[B_ANYSIMPLE]),
	T(B_DECIMAL, "decimal", XS_P_DECIMAL, &bt[B_ANYSIMPLE]),
	TI(B_INTEGER, "integer", &bt[B_DECIMAL], INT64_MIN, INT64_MAX),
	TI(B_NONPOS, "nonPositiveInteger", &bt[B_INTEGER], INT64_MIN, 0),
	TI(B_NEG, "negativeInteger", &bt[B_NONPOS], INT64_MIN, -1),
	TI(B_LONG, "long", &bt[B_INTEGER], INT64_MIN, INT64_MAX),
	TI(B_INT, "int", &bt[B_LONG], INT32_MIN, INT32_MAX),
	TI(B_SHORT, "short", &bt[B_INT], INT16_MIN, INT16_MAX),
	TI(B_BYTE, "byte", &bt[B_SHORT], INT8_MIN, INT8_MAX),
	TI(B_NONNEG, "nonNegativeInteger", &bt[B_INTEGER], 0, INT64_MAX),
	[B_ULONG] = { .ns = XS_NS, .name = "unsignedLong", .kind = XS_SIMPLE,
	              .prim = XS_P_INTEGER, .int_lo = 0, .int_hi = INT64_MAX,
	              .int_unsigned_long = 1, .f = FNONE, .base = &bt[B_NONNEG] },
	TI(B_UINT, "unsignedInt", &bt[B_ULONG], 0, UINT32_MAX),
	TI(B_USHORT, "unsignedShort", &bt[B_UINT], 0, UINT16_MAX),
	TI(B_UBYTE, "unsignedByte", &bt[B_USHORT], 0, UINT8_MAX),
	TI(B_POS, "positiveInteger", &bt[B_NONNEG], 1, INT64_MAX),
	T(B_FLOAT, "float", XS_P_FLOAT, &bt[B_ANYSIMPLE]),
	T(B_DOUBLE, "double", XS_P_DOUBLE, &bt[B_ANYSIMPLE]),
	T(B_DURATION, "duration", XS_P_DURATION, &bt[B_ANYSIMPLE]),
	T(B_DATETIME, "dateTime", XS_P_DATETIME, &bt[B_ANYSIMPLE]),
	T(B_TIME, "time", XS_P_TIME, &bt[B_ANYSIMPLE]),
	T(B_DATE, "date", XS_P_DATE, &bt[B_ANYSIMPLE]),
	T(B_GYEARMONTH, "gYearMonth", XS_P_STRING, &bt[B_ANYSIMPLE]),
	T(B_GYEAR, "gYear", XS_P_STRING, &bt[B_ANYSIMPLE]),
	T(B_GMONTHDAY, "gMonthDay", XS_P_STRING, &bt[B_ANYSIMPLE]),
	T(B_GDAY, "gDay", XS_P_STRING, &bt[B_ANYSIMPLE]),
	T(B_GMONTH, "gMonth", XS_P_STRING, &bt[B_ANYSIMPLE]),
	T(B_HEX, "hexBinary", XS_P_HEX, &bt[B_ANYSIMPLE]),
	T(B_BASE64, "base64Binary", XS_P_BASE64, &bt[B_ANYSIMPLE]),
	T(B_ANYURI, "anyURI", XS_P_ANYURI, &bt[B_ANYSIMPLE]),
	T(B_QNAME, "QName", XS_P_QNAME, &bt[B_ANYSIMPLE]),
	T(B_NOTATION, "NOTATION", XS_P_QNAME, &bt[B_ANYSIMPLE]),
};

struct xs_type *xs_builtin(const char *name)
{
	if (!name)
		return NULL;
	for (int i = 0; i < B_N; i++)
		if (strcmp(bt[i].name, name) == 0)
			return &bt[i];
	return NULL;
}

/* The built-in T derives from (its index), or -1 (a union, or no base). A
 * copy of a built-in (a hand-made model, as in tests) counts by its name. */
static int root_builtin(const struct xs_type *t)
{
	for (unsigned hops = 0; t && hops < 1024; t = t->base, hops++) {
		const struct xs_type *b;

		if (t >= bt && t < bt + B_N)
			return (int)(t - bt);
		if (t->ns && t->name && !strcmp(t->ns, XS_NS) && (b = xs_builtin(t->name)) != NULL)
			return (int)(b - bt);
	}
	return -1;
}

/* ---- lexical forms ------------------------------------------------------------- */

static __thread char msg[200];

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* N digits at *P (exactly), their value in *V. */
static int digits(const char **p, const char *e, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (*p >= e || !is_digit(**p))
			return -1;
		*v = *v * 10 + (**p - '0');
	}
	return 0;
}

/* -?YYYY (more digits allowed, then no leading zero); *LEAP when a leap year. */
static int year(const char **p, const char *e, int *leap)
{
	const char *s;
	long long y = 0;

	if (*p < e && **p == '-')
		(*p)++;
	s = *p;
	while (*p < e && is_digit(**p)) {
		if (y < 100000000000000LL)
			y = y * 10 + (**p - '0');
		(*p)++;
	}
	if (*p - s < 4 || (*p - s > 4 && *s == '0'))
		return -1;
	*leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return 0;
}

static int month_days(int m, int leap)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && leap ? 29 : d[m - 1];
}

/* An optional time zone then the end: Z, +hh:mm, -hh:mm. */
static int tz_end(const char *p, const char *e)
{
	int h, m;

	if (p == e)
		return 0;
	if (*p == 'Z')
		return p + 1 == e ? 0 : -1;
	if (*p != '+' && *p != '-')
		return -1;
	p++;
	if (digits(&p, e, 2, &h) || p >= e || *p++ != ':' || digits(&p, e, 2, &m))
		return -1;
	if (h > 14 || m > 59 || (h == 14 && m))
		return -1;
	return p == e ? 0 : -1;
}

static int date_part(const char **p, const char *e)
{
	int leap, mo, d;

	if (year(p, e, &leap) || *p >= e || *(*p)++ != '-' || digits(p, e, 2, &mo) ||
	    *p >= e || *(*p)++ != '-' || digits(p, e, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(mo, leap))
		return -1;
	return 0;
}

static int time_part(const char **p, const char *e)
{
	int h, m, s, frac_nonzero = 0;

	if (digits(p, e, 2, &h) || *p >= e || *(*p)++ != ':' || digits(p, e, 2, &m) ||
	    *p >= e || *(*p)++ != ':' || digits(p, e, 2, &s))
		return -1;
	if (*p < e && **p == '.') {
		const char *f = ++(*p);

		while (*p < e && is_digit(**p)) {
			frac_nonzero |= **p != '0';
			(*p)++;
		}
		if (*p == f)
			return -1;
	}
	if (h == 24)
		return m == 0 && s == 0 && !frac_nonzero ? 0 : -1;
	return h > 23 || m > 59 || s > 59 ? -1 : 0;
}

static int lex_datetime(const char *p, const char *e)
{
	if (date_part(&p, e) || p >= e || *p++ != 'T' || time_part(&p, e))
		return -1;
	return tz_end(p, e);
}

static int lex_date(const char *p, const char *e)
{
	return date_part(&p, e) ? -1 : tz_end(p, e);
}

static int lex_time(const char *p, const char *e)
{
	return time_part(&p, e) ? -1 : tz_end(p, e);
}

/* PnYnMnDTnHnMnS: at least one part, parts in order, T followed by one. */
static int lex_duration(const char *p, const char *e)
{
	static const char order[] = "YMDTHMS";
	int k = 0, parts = 0, in_time = 0, time_parts = 0;

	if (p < e && *p == '-')
		p++;
	if (p >= e || *p++ != 'P')
		return -1;
	while (p < e) {
		const char *s = p;
		int frac = 0;

		if (*p == 'T') {
			if (in_time || k > 3)
				return -1;
			in_time = 1;
			k = 4;
			p++;
			continue;
		}
		while (p < e && is_digit(*p))
			p++;
		if (p < e && *p == '.') {
			const char *f = ++p;

			while (p < e && is_digit(*p))
				p++;
			if (p == f)
				return -1;
			frac = 1;
		}
		if (p == s || p >= e)
			return -1;
		while (order[k] && order[k] != *p)
			k++;
		if (!order[k] || (k >= 4) != in_time || (frac && *p != 'S') || order[k] == 'T')
			return -1;
		k++;
		p++;
		parts++;
		time_parts += in_time;
	}
	return parts && (!in_time || time_parts) ? 0 : -1;
}

static int lex_boolean(const char *p, size_t n)
{
	return (n == 4 && !memcmp(p, "true", 4)) || (n == 5 && !memcmp(p, "false", 5)) ||
	       (n == 1 && (*p == '0' || *p == '1')) ? 0 : -1;
}

/* [+-]?(d+(.d*)?|.d+); the significant digits counted. */
static int lex_decimal(const char **pp, const char *e, int *total, int *fraction)
{
	const char *p = *pp, *ip, *fp = NULL, *fe = NULL;
	int nd = 0;

	if (p < e && (*p == '+' || *p == '-'))
		p++;
	ip = p;
	while (p < e && is_digit(*p))
		p++, nd++;
	const char *ie = p;
	if (p < e && *p == '.') {
		fp = ++p;
		while (p < e && is_digit(*p))
			p++, nd++;
		fe = p;
	}
	if (!nd)
		return -1;
	while (ip < ie && *ip == '0')
		ip++;
	while (fp && fe > fp && fe[-1] == '0')
		fe--;
	*fraction = fp ? (int)(fe - fp) : 0;
	*total = (int)(ie - ip) + *fraction;
	if (*total == 0)
		*total = 1;
	*pp = p;
	return 0;
}

static int lex_float(const char *p, const char *e)
{
	int t, f;
	size_t n = (size_t)(e - p);

	if ((n == 3 && (!memcmp(p, "INF", 3) || !memcmp(p, "NaN", 3))) ||
	    (n == 4 && !memcmp(p, "-INF", 4)))
		return 0;
	if (lex_decimal(&p, e, &t, &f))
		return -1;
	if (p < e && (*p == 'e' || *p == 'E')) {
		const char *s;

		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		for (s = p; p < e && is_digit(*p); p++)
			;
		if (p == s)
			return -1;
	}
	return p == e ? 0 : -1;
}

static int name_char(unsigned char c, int start, int colon)
{
	if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return 1;
	if (c == ':')
		return colon;
	return !start && (is_digit((char)c) || c == '-' || c == '.');
}

/* Name (COLON 1), NCName (0), NMTOKEN (START 0) */
static int lex_name(const char *p, const char *e, int start, int colon)
{
	if (p == e)
		return -1;
	for (const char *s = p; p < e; p++)
		if (!name_char((unsigned char)*p, start && p == s, colon))
			return -1;
	return 0;
}

static int lex_qname(const char *p, const char *e)
{
	const char *c = memchr(p, ':', (size_t)(e - p));

	if (!c)
		return lex_name(p, e, 1, 0);
	return lex_name(p, c, 1, 0) || lex_name(c + 1, e, 1, 0) ? -1 : 0;
}

static int lex_language(const char *p, const char *e)
{
	int first = 1;

	while (p <= e) {
		const char *s = p;

		while (p < e && *p != '-' && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		                             (!first && is_digit(*p))))
			p++;
		if (p == s || p - s > 8 || (p < e && *p != '-'))
			return -1;
		if (p == e)
			return 0;
		p++;
		first = 0;
		if (p == e)
			return -1;
	}
	return -1;
}

/* gYear, gYearMonth, gMonth, gMonthDay, gDay */
static int lex_gregorian(int b, const char *p, const char *e)
{
	int leap = 1, m = 1, d = 1;

	switch (b) {
	case B_GYEAR:
		if (year(&p, e, &leap))
			return -1;
		break;
	case B_GYEARMONTH:
		if (year(&p, e, &leap) || p >= e || *p++ != '-' || digits(&p, e, 2, &m))
			return -1;
		break;
	case B_GMONTH:
		if (e - p < 4 || memcmp(p, "--", 2))
			return -1;
		p += 2;
		if (digits(&p, e, 2, &m))
			return -1;
		break;
	case B_GMONTHDAY:
		if (e - p < 7 || memcmp(p, "--", 2))
			return -1;
		p += 2;
		if (digits(&p, e, 2, &m) || *p++ != '-' || digits(&p, e, 2, &d))
			return -1;
		break;
	case B_GDAY:
		if (e - p < 5 || memcmp(p, "---", 3))
			return -1;
		p += 3;
		if (digits(&p, e, 2, &d) || d < 1 || d > 31)
			return -1;
		m = 1;
		break;
	}
	if (m < 1 || m > 12 || d < 1 || d > month_days(m, leap))
		return -1;
	return tz_end(p, e);
}

/* ---- integers -------------------------------------------------------------------- */

/* Checks an integer against T's built-in range; *VAL gets it as a double. */
static const char *check_integer(const struct xs_type *t, int b, const char *p, const char *e,
                                 double *val)
{
	int neg = 0, big = 0;
	uint64_t m = 0;
	const char *s;

	if (p < e && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	for (s = p; p < e && is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (m > (UINT64_MAX - d) / 10)
			big = 1;
		else
			m = m * 10 + d;
	}
	if (p == s || p != e)
		return "not an integer";
	*val = big ? strtod(s, NULL) : (double)m;
	if (neg)
		*val = -*val;
	/* xsd:integer and its kin without a 64-bit bound take any size */
	int unbounded = b == B_INTEGER || b == B_NONNEG || b == B_POS || b == B_NONPOS || b == B_NEG;
	int ok;

	if (neg && m == 0 && !big)
		ok = t->int_lo <= 0 && t->int_hi >= 0;
	else if (neg)
		ok = big || m > (uint64_t)INT64_MAX + 1 ? unbounded && t->int_lo == INT64_MIN
		     : t->int_lo <= (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m);
	else if (big || m > (uint64_t)INT64_MAX)
		ok = (t->int_unsigned_long && !big) || (unbounded && t->int_hi == INT64_MAX);
	else
		ok = (int64_t)m <= t->int_hi && (int64_t)m >= t->int_lo;
	if (!ok) {
		if (t->int_unsigned_long)
			snprintf(msg, sizeof(msg), "out of range (0..18446744073709551615)");
		else if (unbounded)
			snprintf(msg, sizeof(msg), "out of range (%s)",
			         t->int_lo == INT64_MIN ? (t->int_hi ? "below 0" : "not below 0")
			                                : t->int_lo ? "not above 0" : "below 0");
		else
			snprintf(msg, sizeof(msg), "out of range (%lld..%lld)", (long long)t->int_lo,
			         (long long)t->int_hi);
		return msg;
	}
	return NULL;
}

/* ---- facets ------------------------------------------------------------------------ */

static const char *length_facets(const struct xs_facets *f, int64_t n, const char *unit)
{
	if (f->length >= 0 && n != f->length)
		snprintf(msg, sizeof(msg), "not exactly %lld %s", (long long)f->length, unit);
	else if (f->min_length >= 0 && n < f->min_length)
		snprintf(msg, sizeof(msg), "shorter than %lld %s", (long long)f->min_length, unit);
	else if (f->max_length >= 0 && n > f->max_length)
		snprintf(msg, sizeof(msg), "longer than %lld %s", (long long)f->max_length, unit);
	else
		return NULL;
	return msg;
}

static const char *bound_facets(const struct xs_facets *f, double v)
{
	if (f->has_min && (isnan(v) || (f->min_excl ? v <= f->min : v < f->min)))
		snprintf(msg, sizeof(msg), "%s %.17g", f->min_excl ? "not greater than"
		         : "less than the minimum", f->min);
	else if (f->has_max && (isnan(v) || (f->max_excl ? v >= f->max : v > f->max)))
		snprintf(msg, sizeof(msg), "%s %.17g", f->max_excl ? "not less than"
		         : "greater than the maximum", f->max);
	else
		return NULL;
	return msg;
}

/* Patterns: each derivation step's own pattern must match (an AND along
 * the chain); a step that adds none shares its base's compiled one. */
static const char *pattern_facets(const struct xs_type *t, const char *z)
{
	for (unsigned hops = 0; t && hops < 1024; t = t->base, hops++) {
		if (!t->f.pattern_re || (t->base && t->base->f.pattern_re == t->f.pattern_re))
			continue;
		if (xmlRegexpExec(t->f.pattern_re, (const xmlChar *)z) != 1) {
			snprintf(msg, sizeof(msg), "does not match the pattern \"%.120s\"", t->f.pattern);
			return msg;
		}
	}
	return NULL;
}

static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

/* Whitespace per the built-in: preserve (string), replace (normalizedString),
 * collapse (the rest). Writes Z (NUL-terminated), returns its length. */
static size_t normalize(int b, const char *s, size_t n, char *z)
{
	size_t o = 0;

	if (b == B_STRING || b == B_ANYSIMPLE || b < 0) {
		memcpy(z, s, n);
		o = n;
	} else if (b == B_NORMALIZED) {
		for (size_t i = 0; i < n; i++)
			z[o++] = is_space(s[i]) ? ' ' : s[i];
	} else {
		for (size_t i = 0; i < n; i++) {
			if (!is_space(s[i]))
				z[o++] = s[i];
			else if (o && i + 1 < n && !is_space(s[i + 1]))
				z[o++] = ' ';
		}
	}
	z[o] = '\0';
	return o;
}

static const char *check_list(const struct xs_type *t, const char *z, size_t n)
{
	int64_t items = 0;
	const char *p = z, *e = z + n, *err;

	while (p < e) {
		const char *s = p;

		while (p < e && *p != ' ')
			p++;
		if ((err = xs_check_value(t->list_item, s, (size_t)(p - s))) != NULL) {
			char inner[sizeof(msg)];

			snprintf(inner, sizeof(inner), "%s", err);   /* ERR may be MSG itself */
			snprintf(msg, sizeof(msg), "item %lld: %.160s", (long long)items + 1, inner);
			return msg;
		}
		items++;
		p++;
	}
	return length_facets(&t->f, items, "items");
}

static const char *check_lexical(const struct xs_type *t, int b, const char *z, size_t n,
                                 double *num, int *has_num)
{
	const char *e = z + n;
	int total, frac;
	const char *p = z;

	*has_num = 0;
	switch (t->prim) {
	case XS_P_BOOLEAN:
		return lex_boolean(z, n) ? "not a boolean (true, false, 1 or 0)" : NULL;
	case XS_P_INTEGER:
		*has_num = 1;
		return check_integer(t, b, z, e, num);
	case XS_P_DECIMAL:
		if (lex_decimal(&p, e, &total, &frac) || p != e)
			return "not a decimal number";
		if (t->f.total_digits >= 0 && total > t->f.total_digits) {
			snprintf(msg, sizeof(msg), "more than %d digits", t->f.total_digits);
			return msg;
		}
		if (t->f.fraction_digits >= 0 && frac > t->f.fraction_digits) {
			snprintf(msg, sizeof(msg), "more than %d fraction digits", t->f.fraction_digits);
			return msg;
		}
		*has_num = 1;
		*num = strtod(z, NULL);
		return NULL;
	case XS_P_FLOAT:
	case XS_P_DOUBLE:
		if (lex_float(z, e))
			return "not a number (digits, an exponent, INF, -INF or NaN)";
		*has_num = 1;
		*num = !strcmp(z, "INF") ? INFINITY : !strcmp(z, "-INF") ? -INFINITY
		       : !strcmp(z, "NaN") ? NAN : strtod(z, NULL);
		return NULL;
	case XS_P_DATETIME:
		return lex_datetime(z, e) ? "not a dateTime (YYYY-MM-DDThh:mm:ss[.s][zone])" : NULL;
	case XS_P_DATE:
		return lex_date(z, e) ? "not a date (YYYY-MM-DD[zone])" : NULL;
	case XS_P_TIME:
		return lex_time(z, e) ? "not a time (hh:mm:ss[.s][zone])" : NULL;
	case XS_P_DURATION:
		return lex_duration(z, e) ? "not a duration (PnYnMnDTnHnMnS)" : NULL;
	case XS_P_QNAME:
		return lex_qname(z, e) ? "not a QName" : NULL;
	default:
		break;
	}
	switch (b) {
	case B_LANGUAGE:
		return lex_language(z, e) ? "not a language tag (en, en-GB)" : NULL;
	case B_NAME:
		return lex_name(z, e, 1, 1) ? "not an XML Name" : NULL;
	case B_NCNAME: case B_ID: case B_IDREF: case B_ENTITY:
		return lex_name(z, e, 1, 0) ? "not an NCName" : NULL;
	case B_NMTOKEN:
		return lex_name(z, e, 0, 1) ? "not an NMTOKEN" : NULL;
	case B_GYEAR:
		return lex_gregorian(b, z, e) ? "not a gYear (YYYY[zone])" : NULL;
	case B_GYEARMONTH:
		return lex_gregorian(b, z, e) ? "not a gYearMonth (YYYY-MM[zone])" : NULL;
	case B_GMONTH:
		return lex_gregorian(b, z, e) ? "not a gMonth (--MM[zone])" : NULL;
	case B_GMONTHDAY:
		return lex_gregorian(b, z, e) ? "not a gMonthDay (--MM-DD[zone])" : NULL;
	case B_GDAY:
		return lex_gregorian(b, z, e) ? "not a gDay (---DD[zone])" : NULL;
	}
	return NULL;
}

static const char *check(const struct xs_type *t, const char *z, size_t n, int b)
{
	const char *err;
	double num = 0;
	int has_num;

	if (t->f.nenums) {
		unsigned i;

		for (i = 0; i < t->f.nenums; i++)
			if (strlen(t->f.enums[i]) == n && !memcmp(t->f.enums[i], z, n))
				break;
		if (i == t->f.nenums)
			return "not one of the enumeration values";
	}
	if (t->list_item)
		err = check_list(t, z, n);
	else if ((err = check_lexical(t, b, z, n, &num, &has_num)) == NULL && has_num)
		err = bound_facets(&t->f, num);
	if (err)
		return err;
	if (t->prim == XS_P_HEX) {
		for (size_t i = 0; i < n; i++)
			if (!strchr("0123456789abcdefABCDEF", z[i]))
				return "not hexBinary (an even number of 0-9, a-f)";
		if (n % 2)
			return "not hexBinary (an even number of 0-9, a-f)";
		err = length_facets(&t->f, (int64_t)(n / 2), "bytes");
	} else if (t->prim == XS_P_BASE64) {
		unsigned char *out = malloc(n / 4 * 3 + 4);
		long bytes;

		if (!out)
			return "out of memory";
		size_t chars = 0;

		for (size_t i = 0; i < n; i++)
			chars += !is_space(z[i]);
		bytes = sp_b64_decode(z, n, out);
		free(out);
		if (bytes < 0 || chars % 4)   /* xsd:base64Binary is padded */
			return "not base64";
		err = length_facets(&t->f, bytes, "bytes");
	} else if (!t->list_item && (t->prim == XS_P_STRING || t->prim == XS_P_ANYURI ||
	                             t->prim == XS_P_ANY)) {
		err = length_facets(&t->f, (int64_t)utf8_chars(z, n), "characters");
	}
	if (!err)
		err = pattern_facets(t, z);
	return err;
}

const char *xs_check_value(const struct xs_type *t, const char *text, size_t len)
{
	char small[256], *z;
	const char *err;
	int b;

	if (!t)
		return NULL;
	if (t->kind == XS_COMPLEX) {
		if (!t->simple_content)
			return NULL;
		t = t->simple_content;
	}
	if (memchr(text, '\0', len))
		return "contains a NUL character";
	if (len < sizeof(small))
		z = small;
	else if (!(z = malloc(len + 1)))
		return "out of memory";
	b = root_builtin(t);
	if (t->list_item && b != B_STRING)
		b = B_TOKEN;   /* a list's items are separated by collapsed whitespace */
	len = normalize(b, text, len, z);
	err = check(t, z, len, b);
	if (z != small)
		free(z);
	return err;
}
