/*
 * util.c - the small things every part of the SOAP plugin uses: a bump pool
 * (a service model is allocated from one and freed at once), a growing
 * byte buffer, base64 and hex. See soap.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soap.h"

/* ---- the pool ------------------------------------------------------------------ */

#define POOL_BLOCK 16384

struct pblock {
	struct pblock *next;
	size_t used, cap;
	max_align_t data[];
};

struct sp_pool {
	struct pblock *head;
};

struct sp_pool *sp_pool_new(void)
{
	return calloc(1, sizeof(struct sp_pool));
}

void *sp_alloc(struct sp_pool *p, size_t n)
{
	struct pblock *b = p->head;
	size_t a = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	char *out;

	if (n > SIZE_MAX / 2)
		return NULL;
	if (!b || b->cap - b->used < a) {
		size_t cap = a > POOL_BLOCK ? a : POOL_BLOCK;

		if (!(b = malloc(sizeof(*b) + cap)))
			return NULL;
		b->used = 0;
		b->cap = cap;
		/* a big one-off allocation goes behind the current block, so the
		 * current block's free space is not lost */
		if (p->head && a > POOL_BLOCK) {
			b->next = p->head->next;
			p->head->next = b;
		} else {
			b->next = p->head;
			p->head = b;
		}
	}
	out = (char *)b->data + b->used;
	b->used += a;
	memset(out, 0, n);
	return out;
}

char *sp_strndup(struct sp_pool *p, const char *s, size_t n)
{
	char *d;

	if (!s || !(d = sp_alloc(p, n + 1)))
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *sp_strdup(struct sp_pool *p, const char *s)
{
	return s ? sp_strndup(p, s, strlen(s)) : NULL;
}

void sp_pool_free(struct sp_pool *p)
{
	struct pblock *b, *next;

	if (!p)
		return;
	for (b = p->head; b; b = next) {
		next = b->next;
		free(b);
	}
	free(p);
}

/* ---- the buffer ----------------------------------------------------------------- */

static int grow(struct sbuf *b, size_t more)
{
	size_t cap;
	char *np;

	if (b->oom)
		return -1;
	if (b->cap - b->len > more)
		return 0;
	if (more > SIZE_MAX / 4 - b->len) {
		b->oom = 1;
		return -1;
	}
	cap = b->cap ? b->cap : 256;
	while (cap - b->len <= more)
		cap *= 2;
	if (!(np = realloc(b->p, cap))) {
		b->oom = 1;
		return -1;
	}
	b->p = np;
	b->cap = cap;
	return 0;
}

void sbuf_put(struct sbuf *b, const char *s, size_t n)
{
	if (grow(b, n) != 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_put(b, s, strlen(s));
}

void sbuf_putc(struct sbuf *b, char c)
{
	sbuf_put(b, &c, 1);
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || grow(b, (size_t)n + 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int sbuf_put_xml(struct sbuf *b, const char *s, size_t n)
{
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return -1;
	}
	for (i = 0; i < n; i++) {
		const char *rep = NULL;

		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		case '\r': rep = "&#13;"; break;   /* kept: a parser turns a raw CR into LF */
		default: continue;
		}
		sbuf_put(b, s + run, i - run);
		sbuf_puts(b, rep);
		run = i + 1;
	}
	sbuf_put(b, s + run, n - run);
	return b->oom ? -1 : 0;
}

void sbuf_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- base64 and hex ---------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sp_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void sp_b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*out++ = b64[in[i] >> 2];
		*out++ = b64[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*out++ = b64[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*out++ = b64[in[i + 2] & 63];
	}
	if (n - i == 1) {
		*out++ = b64[in[i] >> 2];
		*out++ = b64[(in[i] & 3) << 4];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		*out++ = b64[in[i] >> 2];
		*out++ = b64[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*out++ = b64[(in[i + 1] & 15) << 2];
		*out++ = '=';
	}
	*out = '\0';
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long sp_b64_decode(const char *in, size_t n, unsigned char *out)
{
	unsigned acc = 0;
	int bits = 0, pad = 0;
	long len = 0;
	size_t chars = 0;             /* data and padding, without whitespace */

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		chars++;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad || (v = b64_value(c)) < 0)
			return -1;   /* data after padding, or not base64 */
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[len++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* a lone sextet, non-zero leftover bits, or padding that does not
	 * complete the last group of four ("QQ=") */
	if (pad > 2 || bits >= 6 || acc || (pad && chars % 4))
		return -1;
	return len;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long sp_hex_decode(const char *in, size_t n, unsigned char *out)
{
	if (n % 2)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_value((unsigned char)in[i]), lo = hex_value((unsigned char)in[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}
