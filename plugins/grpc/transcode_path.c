/*
 * transcode_path.c - google.api.http path templates: parse, the core route
 * pattern, match. Pure C (transcode.h says the grammar); templates come
 * from contracts and paths from clients, so both are bounded and every
 * malformed input is an error, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transcode.h"

static int perr(char *err, size_t errlen, const char *text, size_t at, const char *what)
{
	snprintf(err, errlen, "path template \"%.80s\": %s (at offset %zu)", text, what, at);
	return -1;
}

static int lit_char(int c)
{
	/* what a literal may hold: not the template's own syntax */
	return c > 0x20 && c < 0x7f && c != '/' && c != '{' && c != '}' && c != '*' &&
	       c != '=' && c != ':' && c != '?' && c != '#';
}

static int ident_char(int c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

void tc_template_free(struct tc_template *t)
{
	for (unsigned i = 0; i < t->nseg; i++)
		free(t->seg[i].lit);
	for (unsigned i = 0; i < t->nvar; i++)
		free(t->var[i].field);
	free(t->verb);
	memset(t, 0, sizeof(*t));
}

/* Parses one segment at *P (not a variable). 0 or -1. */
static int parse_seg(struct tc_template *t, const char *text, const char **pp, char *err,
                     size_t errlen)
{
	const char *p = *pp, *s = p;
	struct tc_seg *g;

	if (t->nseg == TC_MAX_SEGS)
		return perr(err, errlen, text, (size_t)(p - text), "more than 32 segments");
	g = &t->seg[t->nseg];
	if (p[0] == '*' && p[1] == '*') {
		g->kind = TC_DSTAR;
		p += 2;
	} else if (p[0] == '*') {
		g->kind = TC_STAR;
		p++;
	} else {
		while (lit_char((unsigned char)*p))
			p++;
		if (p == s)
			return perr(err, errlen, text, (size_t)(p - text),
			            *p && *p != '/' && *p != ':' ? "an unexpected character"
			            : "an empty segment");
		g->kind = TC_LIT;
		if (!(g->lit = strndup(s, (size_t)(p - s))))
			return perr(err, errlen, text, 0, "out of memory");
	}
	t->nseg++;
	*pp = p;
	return 0;
}

int tc_template_parse(struct tc_template *t, const char *text, char *err, size_t errlen)
{
	const char *p = text;

	memset(t, 0, sizeof(*t));
	if (!text || !*text)
		return perr(err, errlen, "", 0, "empty");
	if (strlen(text) > TC_MAX_TEMPLATE)
		return perr(err, errlen, text, TC_MAX_TEMPLATE, "longer than 1024 bytes");
	if (*p != '/')
		return perr(err, errlen, text, 0, "it must start with '/'");
	p++;
	for (;;) {
		if (*p == '{') {
			const char *f = ++p;
			struct tc_var *v;

			if (t->nvar == TC_MAX_VARS)
				return perr(err, errlen, text, (size_t)(p - text), "more than 8 variables");
			/* FieldPath = IDENT { "." IDENT } */
			for (;;) {
				if (!ident_char((unsigned char)*p, 1))
					return perr(err, errlen, text, (size_t)(p - text),
					            "a variable must name a field (letters, digits, '_', '.')");
				while (ident_char((unsigned char)*p, 0))
					p++;
				if (*p != '.')
					break;
				p++;
			}
			v = &t->var[t->nvar];
			if (!(v->field = strndup(f, (size_t)(p - f))))
				return perr(err, errlen, text, 0, "out of memory");
			for (unsigned i = 0; i < t->nvar; i++)
				if (!strcmp(t->var[i].field, v->field)) {
					free(v->field);
					v->field = NULL;
					return perr(err, errlen, text, (size_t)(f - text),
					            "a field bound twice");
				}
			t->nvar++;
			v->first = t->nseg;
			if (*p == '=') {
				p++;
				for (;;) {
					if (*p == '{')
						return perr(err, errlen, text, (size_t)(p - text),
						            "variables do not nest");
					if (parse_seg(t, text, &p, err, errlen) != 0)
						return -1;
					if (*p != '/')
						break;
					p++;
				}
			} else {
				if (t->nseg == TC_MAX_SEGS)
					return perr(err, errlen, text, (size_t)(p - text),
					            "more than 32 segments");
				t->seg[t->nseg++].kind = TC_STAR;
			}
			if (*p != '}')
				return perr(err, errlen, text, (size_t)(p - text), "'}' expected");
			p++;
			v->end = t->nseg;
		} else if (parse_seg(t, text, &p, err, errlen) != 0) {
			return -1;
		}
		if (*p == '/') {
			p++;
			continue;
		}
		break;
	}
	if (*p == ':') {
		const char *s = ++p;

		while (lit_char((unsigned char)*p))
			p++;
		if (p == s)
			return perr(err, errlen, text, (size_t)(p - text), "an empty verb after ':'");
		if (!(t->verb = strndup(s, (size_t)(p - s))))
			return perr(err, errlen, text, 0, "out of memory");
	}
	if (*p)
		return perr(err, errlen, text, (size_t)(p - text), "an unexpected character");
	for (unsigned i = 0; i + 1 < t->nseg; i++)
		if (t->seg[i].kind == TC_DSTAR)
			return perr(err, errlen, text, 0, "'**' must be the last segment");
	return 0;
}

/* Appends S (N bytes) to OUT at *AT. 0 or -1. */
static int put(char *out, size_t outlen, size_t *at, const char *s, size_t n)
{
	if (*at + n + 1 > outlen)
		return -1;
	memcpy(out + *at, s, n);
	*at += n;
	out[*at] = '\0';
	return 0;
}

/* The variable covering segment I, or NULL. */
static const struct tc_var *var_of(const struct tc_template *t, unsigned i)
{
	for (unsigned k = 0; k < t->nvar; k++)
		if (i >= t->var[k].first && i < t->var[k].end)
			return &t->var[k];
	return NULL;
}

int tc_template_route(const struct tc_template *t, char *out, size_t outlen)
{
	size_t at = 0;
	char name[96];

	if (!outlen)
		return -1;
	out[0] = '\0';
	for (unsigned i = 0; i < t->nseg; i++) {
		const struct tc_seg *g = &t->seg[i];
		const struct tc_var *v = var_of(t, i);

		if (put(out, outlen, &at, "/", 1) != 0)
			return -1;
		if (g->kind == TC_LIT) {
			if (put(out, outlen, &at, g->lit, strlen(g->lit)) != 0)
				return -1;
		} else {
			/* the field's name when the variable is this one segment,
			 * else the field and the segment's number */
			if (v && v->end - v->first == 1)
				snprintf(name, sizeof(name), "%s", v->field);
			else if (v)
				snprintf(name, sizeof(name), "%s_%u", v->field, i - v->first + 1);
			else
				snprintf(name, sizeof(name), "_%u", i + 1);
			if (put(out, outlen, &at, g->kind == TC_DSTAR ? "*" : ":", 1) != 0 ||
			    put(out, outlen, &at, name, strlen(name)) != 0)
				return -1;
		}
		if (i + 1 == t->nseg && t->verb && g->kind == TC_LIT &&
		    (put(out, outlen, &at, ":", 1) != 0 ||
		     put(out, outlen, &at, t->verb, strlen(t->verb)) != 0))
			return -1;
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes S/N into a malloc'd string; KEEP_SLASH leaves %2F as it
 * is. NULL for a bad escape or a NUL byte. */
static char *decode(const char *s, size_t n, int keep_slash)
{
	char *o = malloc(n + 1), *w = o;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int h, l;

			if (i + 2 >= n) {
				free(o);
				return NULL;
			}
			h = hexval((unsigned char)s[i + 1]);
			l = hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0)) {
				free(o);
				return NULL;
			}
			if (keep_slash && h == 2 && l == 0xf) {
				memcpy(w, s + i, 3);
				w += 3;
			} else {
				*w++ = (char)(h << 4 | l);
			}
			i += 2;
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	return o;
}

void tc_bindings_free(struct tc_binding *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(b[i].value);
		b[i].value = NULL;
	}
}

int tc_template_match(const struct tc_template *t, const char *path, size_t len,
                      struct tc_binding *out)
{
	const char *sb[TC_MAX_SEGS + 1];
	size_t sl[TC_MAX_SEGS + 1];
	unsigned n = 0, dstar_end;

	if (!len || path[0] != '/' || len > TC_MAX_PATH || memchr(path, '\0', len))
		return -1;
	if (t->verb) {
		/* ":verb" ends the last segment */
		size_t vl = strlen(t->verb);
		const char *last = path + len;

		if (len < vl + 2 || last[-(long)vl - 1] != ':' ||
		    memcmp(last - vl, t->verb, vl) != 0)
			return -1;
		len -= vl + 1;
	}
	/* split on '/' (after the leading one) */
	{
		const char *p = path + 1, *end = path + len;

		for (;;) {
			const char *s = memchr(p, '/', (size_t)(end - p));
			size_t l = s ? (size_t)(s - p) : (size_t)(end - p);

			if (n == TC_MAX_SEGS + 1)
				return -1;
			sb[n] = p;
			sl[n] = l;
			n++;
			if (!s)
				break;
			p = s + 1;
		}
	}
	dstar_end = n;
	if (t->nseg && t->seg[t->nseg - 1].kind == TC_DSTAR) {
		/* a path one segment short: the double star takes none */
		if (n < t->nseg - 1)
			return -1;
	} else if (n != t->nseg) {
		return -1;
	}
	for (unsigned i = 0; i < t->nseg; i++) {
		const struct tc_seg *g = &t->seg[i];

		if (g->kind == TC_DSTAR)
			break;
		if (i >= n)
			return -1;
		if (g->kind == TC_LIT) {
			if (sl[i] != strlen(g->lit) || memcmp(sb[i], g->lit, sl[i]) != 0)
				return -1;
		} else if (sl[i] == 0) {
			return -1;	/* "*" is one non-empty segment */
		}
	}
	for (unsigned k = 0; k < t->nvar; k++) {
		const struct tc_var *v = &t->var[k];
		unsigned a = v->first, b = v->end;
		const char *s;
		size_t l;
		int dstar = b == t->nseg && t->seg[b - 1].kind == TC_DSTAR;

		if (dstar)
			b = dstar_end;
		if (a >= n || b > n || a >= b) {
			/* "**" matching nothing: an empty value */
			s = "";
			l = 0;
		} else {
			s = sb[a];
			l = (size_t)(sb[b - 1] + sl[b - 1] - sb[a]);
		}
		out[k].field = v->field;
		if (!(out[k].value = decode(s, l, b - a > 1 || dstar))) {
			tc_bindings_free(out, k);
			return -1;
		}
		if (b - a == 1 && !dstar && !l) {
			tc_bindings_free(out, k + 1);
			return -1;
		}
	}
	return (int)t->nvar;
}
