/*
 * evid_json.c - one value of a JSON body found without building the
 * document: an event's id or type at a dot path (evid.c). Parsing a 1 KB
 * body into a jansson tree to read one key cost more instructions than the
 * rest of receiving the event; this walks the text once, allocating
 * nothing.
 *
 * It answers what jansson's json_loadb (flags 0) and a lookup in the tree
 * would: the whole body is checked (a body jansson refuses has no value:
 * bad syntax, text after the value, invalid UTF-8, \u0000 or a lone
 * surrogate, an integer beyond 64 bits, a real that overflows, nesting
 * past 2048), a repeated key's last value wins, and only a string or an
 * integer (printed in decimal) is a value.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evid_json.h"

#define MAX_DEPTH 2048          /* jansson's JSON_PARSER_MAX_DEPTH */
#define MAX_PARTS 32
#define MAX_PART 256

struct part {
	const char *s;
	size_t n;
	int is_index;           /* also names an array's element: digits only, in range */
	unsigned long index;
};

struct walk {
	const unsigned char *p, *end;
	const struct part *parts;
	unsigned nparts;
	/* the value found: a string's span (escaped) or an integer */
	int found;              /* 0 none, 1 string, 2 integer */
	const unsigned char *vs, *ve;
	long long iv;
};

static void ws(struct walk *w)
{
	while (w->p < w->end && (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r'))
		w->p++;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* One UTF-8 sequence at P (before END) as jansson accepts it: its length,
 * or 0 (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], v, n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, v = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (unsigned i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
	    (n == 4 && (v < 0x10000 || v > 0x10ffff)))
		return 0;
	return n;
}

int wh_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		size_t k;
		uint64_t v;

		if (end - p >= 8) {             /* eight ASCII bytes a step */
			memcpy(&v, p, 8);
			if (!(v & 0x8080808080808080ull)) {
				p += 8;
				continue;
			}
		}
		k = *p < 0x80 ? 1 : utf8_len(p, end);

		if (!k)
			return 0;
		p += k;
	}
	return 1;
}

/* Whether any of the 8 bytes at P is below 0x20, above 0x7f, '"' or
 * '\\': word-at-a-time, the classic tests "some byte is zero" ((x - 1s)
 * & ~x & 0x80s, on the word xor-ed with '"' and with '\\') and "some
 * byte is below 0x20" (the same with 0x20s). Exact as a yes/no. */
static int special8(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t v, q, b;

	memcpy(&v, p, 8);
	q = v ^ (ones * '"');
	b = v ^ (ones * '\\');
	return (((v - ones * 0x20) & ~v) | v | ((q - ones) & ~q) | ((b - ones) & ~b)) & high
	       ? 1 : 0;
}

/*
 * Reads the string at P (at its opening quote) to after its closing one.
 * Decoded into OUT (at most OUTLEN bytes kept) when OUT is given; *LEN the
 * full decoded length. 0 or -1 (invalid).
 */
static int string_at(struct walk *w, char *out, size_t outlen, size_t *len)
{
	const unsigned char *p = w->p + 1, *end = w->end;
	size_t n = 0;

	for (;;) {
		unsigned char c;
		char buf[4];
		size_t k;

		if (!out) {
			/* plain ASCII, the bulk of a body: eight bytes a step
			 * while none of them is a control, non-ASCII, '"' or
			 * '\\' (then byte by byte up to it) */
			const unsigned char *q = p;

			while (end - q >= 8 && !special8(q))
				q += 8;
			n += (size_t)(q - p);
			p = q;
			while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
				p++, n++;
		}
		if (p >= end)
			return -1;
		c = *p;
		if (c == '"')
			break;
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			unsigned u, lo;

			if (end - p < 2)
				return -1;
			switch (p[1]) {
			case '"': case '\\': case '/': buf[0] = (char)p[1]; k = 1; p += 2; break;
			case 'b': buf[0] = '\b'; k = 1; p += 2; break;
			case 'f': buf[0] = '\f'; k = 1; p += 2; break;
			case 'n': buf[0] = '\n'; k = 1; p += 2; break;
			case 'r': buf[0] = '\r'; k = 1; p += 2; break;
			case 't': buf[0] = '\t'; k = 1; p += 2; break;
			case 'u':
				if (end - p < 6 || hex4(p + 2, &u) != 0 || u == 0)
					return -1;
				p += 6;
				if (u >= 0xdc00 && u <= 0xdfff)
					return -1;
				if (u >= 0xd800 && u <= 0xdbff) {
					if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
					    hex4(p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
						return -1;
					p += 6;
					u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				}
				if (u < 0x80) {
					buf[0] = (char)u;
					k = 1;
				} else if (u < 0x800) {
					buf[0] = (char)(0xc0 | (u >> 6));
					buf[1] = (char)(0x80 | (u & 0x3f));
					k = 2;
				} else if (u < 0x10000) {
					buf[0] = (char)(0xe0 | (u >> 12));
					buf[1] = (char)(0x80 | ((u >> 6) & 0x3f));
					buf[2] = (char)(0x80 | (u & 0x3f));
					k = 3;
				} else {
					buf[0] = (char)(0xf0 | (u >> 18));
					buf[1] = (char)(0x80 | ((u >> 12) & 0x3f));
					buf[2] = (char)(0x80 | ((u >> 6) & 0x3f));
					buf[3] = (char)(0x80 | (u & 0x3f));
					k = 4;
				}
				break;
			default:
				return -1;
			}
			if (out)
				for (size_t i = 0; i < k; i++, n++)
					if (n < outlen)
						out[n] = buf[i];
			if (!out)
				n += k;
			continue;
		}
		if (!(k = utf8_len(p, end)))
			return -1;
		if (out)
			for (size_t i = 0; i < k; i++, n++)
				if (n < outlen)
					out[n] = (char)p[i];
		if (!out)
			n += k;
		p += k;
	}
	w->p = p + 1;
	if (len)
		*len = n;
	return 0;
}

/* A number at P: 1 an integer (*IV), 2 a real; -1 invalid or out of range. */
static int number_at(struct walk *w, long long *iv)
{
	const unsigned char *s = w->p, *p = s, *end = w->end;
	int real = 0;
	char buf[128], *e;

	if (p < end && *p == '-')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	if (*p == '0')
		p++;
	else
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	if (p < end && *p == '.') {
		real = 1;
		if (++p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		real = 1;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	w->p = p;
	if ((size_t)(p - s) >= sizeof(buf)) {
		/* long: an integer that long overflows; a real only if its
		 * exponent does, which strtod on a heap copy would say */
		char *h;
		double d;

		if (!real || !(h = strndup((const char *)s, (size_t)(p - s))))
			return -1;
		errno = 0;
		d = strtod(h, NULL);
		free(h);
		return errno == ERANGE && (d > 1 || d < -1) ? -1 : 2;
	}
	memcpy(buf, s, (size_t)(p - s));
	buf[p - s] = '\0';
	errno = 0;
	if (!real) {
		*iv = strtoll(buf, &e, 10);
		return errno == ERANGE ? -1 : 1;
	}
	{
		double d = strtod(buf, &e);

		return errno == ERANGE && (d > 1 || d < -1) ? -1 : 2;
	}
}

static int literal(struct walk *w, const char *lit, size_t n)
{
	if ((size_t)(w->end - w->p) < n || memcmp(w->p, lit, n))
		return -1;
	w->p += n;
	return 0;
}

/* Whether the string at W->p (a key) equals PART; advances past it. 1, 0,
 * or -1 (invalid). */
static int key_is(struct walk *w, const struct part *part)
{
	char key[MAX_PART];
	size_t n;

	if (string_at(w, key, sizeof(key), &n) != 0)
		return -1;
	return part && n == part->n && !memcmp(key, part->s, n);
}

/* The value at W->p; ON: its path so far matches the first LEVEL parts. */
static int value(struct walk *w, unsigned depth, unsigned level, int on)
{
	if (depth > MAX_DEPTH)
		return -1;
	ws(w);
	if (w->p >= w->end)
		return -1;
	if (on && level == w->nparts) {
		/* this value replaces any the path matched before (a repeated key) */
		w->found = 0;
		if (*w->p == '"') {
			const unsigned char *s = w->p;

			if (string_at(w, NULL, 0, NULL) != 0)
				return -1;
			w->found = 1;
			w->vs = s;
			w->ve = w->p;
			return 0;
		}
		if (*w->p == '-' || (*w->p >= '0' && *w->p <= '9')) {
			int r = number_at(w, &w->iv);

			if (r < 0)
				return -1;
			w->found = r == 1 ? 2 : 0;
			return 0;
		}
		on = 0;
	} else if (on) {
		w->found = 0;   /* the path goes through here: a repeat replaces what was found */
	}
	switch (*w->p) {
	case '{': {
		const struct part *part = on && level < w->nparts ? &w->parts[level] : NULL;

		w->p++;
		ws(w);
		if (w->p < w->end && *w->p == '}') {
			w->p++;
			return 0;
		}
		for (;;) {
			int m;

			ws(w);
			if (w->p >= w->end || *w->p != '"' || (m = key_is(w, part)) < 0)
				return -1;
			ws(w);
			if (w->p >= w->end || *w->p++ != ':')
				return -1;
			if (value(w, depth + 1, level + 1, m == 1) != 0)
				return -1;
			ws(w);
			if (w->p >= w->end)
				return -1;
			if (*w->p == '}') {
				w->p++;
				return 0;
			}
			if (*w->p++ != ',')
				return -1;
		}
	}
	case '[': {
		int idx = on && level < w->nparts && w->parts[level].is_index;
		unsigned long i = 0;

		w->p++;
		ws(w);
		if (w->p < w->end && *w->p == ']') {
			w->p++;
			return 0;
		}
		for (;; i++) {
			if (value(w, depth + 1, level + 1, idx && w->parts[level].index == i) != 0)
				return -1;
			ws(w);
			if (w->p >= w->end)
				return -1;
			if (*w->p == ']') {
				w->p++;
				return 0;
			}
			if (*w->p++ != ',')
				return -1;
		}
	}
	case '"':
		return string_at(w, NULL, 0, NULL);
	case 't':
		return literal(w, "true", 4);
	case 'f':
		return literal(w, "false", 5);
	case 'n':
		return literal(w, "null", 4);
	default: {
		long long ignored;

		return number_at(w, &ignored) < 0 ? -1 : 0;
	}
	}
}

long wh_json_text(const unsigned char *body, size_t len, const char *path, char *buf,
                  size_t buflen)
{
	struct part parts[MAX_PARTS];
	struct walk w;
	unsigned n = 0;
	size_t out;
	char num[32];

	/* the dot path, as evid.c's jansson lookup read it */
	while (*path) {
		const char *dot = strchr(path, '.');
		size_t k = dot ? (size_t)(dot - path) : strlen(path);
		char *e;

		if (n == MAX_PARTS || k == 0 || k >= MAX_PART)
			return -1;
		parts[n].s = path;
		parts[n].n = k;
		parts[n].is_index = path[0] >= '0' && path[0] <= '9';
		if (parts[n].is_index) {
			char tmp[MAX_PART];

			memcpy(tmp, path, k);
			tmp[k] = '\0';
			errno = 0;
			parts[n].index = strtoul(tmp, &e, 10);
			if (e != tmp + k || errno == ERANGE)
				parts[n].is_index = 0;    /* a key only (an object's) */
		}
		n++;
		path += k + (dot ? 1 : 0);
		if (dot && !*path)
			return -1;
	}
	memset(&w, 0, sizeof(w));
	w.p = body;
	w.end = body + len;
	w.parts = parts;
	w.nparts = n;
	ws(&w);
	if (w.p >= w.end || *w.p != '{')
		return -1;
	if (value(&w, 1, 0, 1) != 0)
		return -1;
	ws(&w);
	if (w.p != w.end || !w.found)
		return -1;
	if (w.found == 2) {
		int k = snprintf(num, sizeof(num), "%lld", w.iv);

		if (buflen) {
			size_t c = (size_t)k < buflen - 1 ? (size_t)k : buflen - 1;

			memcpy(buf, num, c);
			buf[c] = '\0';
		}
		return k;
	}
	w.p = w.vs;
	w.end = w.ve;
	if (string_at(&w, buf, buflen ? buflen - 1 : 0, &out) != 0)
		return -1;
	if (buflen)
		buf[out < buflen - 1 ? out : buflen - 1] = '\0';
	return (long)out;
}
