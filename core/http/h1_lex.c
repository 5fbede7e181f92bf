/*
 * h1_lex.c - the character table and field-line scanner of both HTTP/1.x
 * parsers (h1_parser.c for requests, h1_response.c for responses).
 */
#include "h1_lex.h"

#include "swar.h"

const unsigned char h1_class[256] = {
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 2, 23,  2,  3, 23, 23, 23, 23, 22, 22, 23, 23, 22, 23, 23,  6,
	31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 22, 22,  2, 22,  2,  6,
	 6, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23,
	23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 22,  2, 22,  3, 23,
	 3, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23,
	23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23,  2,  3,  2, 23,  0,
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
};

/* See h1_lex.h. */
int h1_ieq(const void *sv, size_t len, const char *l, size_t llen)
{
	const unsigned char *s = sv;
	size_t i;

	if (len != llen)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c != (unsigned char)l[i])
			return 0;
	}
	return 1;
}

/* See h1_lex.h. */
size_t h1_scan_field(const unsigned char *b, size_t p, size_t len)
{
	p = swar_skip_text((const char *)b, p, len);
	while (p < len && (h1_class[b[p]] & H1_C_FIELD))
		p++;
	return p;
}

static ssize_t h1_lex_fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return H1_ERROR;
}

/* See h1_lex.h. */
ssize_t h1_field_line(const char *buf, size_t p, size_t len, struct h1_header *f,
                      const char **why)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t ns = p, ne, vs, ve;

	if (p < len && (b[p] == ' ' || b[p] == '\t'))
		return h1_lex_fail(why, "obs-fold or whitespace before field name");
	while (p < len && (h1_class[b[p]] & H1_C_TOKEN))
		p++;
	if (p >= len)
		return H1_INCOMPLETE;
	if (b[p] != ':') {
		if (b[p] == ' ' || b[p] == '\t')
			return h1_lex_fail(why, "whitespace between field name and colon");
		if (b[p] == '\r' || b[p] == '\n')
			return h1_lex_fail(why, p == ns ? "bare CR or LF in field section" :
			                   "field line without a colon");
		return h1_lex_fail(why, "invalid character in field name");
	}
	if (p == ns)
		return h1_lex_fail(why, "empty field name");
	ne = p++;
	while (p < len && (b[p] == ' ' || b[p] == '\t'))
		p++;
	vs = p;
	p = h1_scan_field(b, p, len);
	if (p >= len)
		return H1_INCOMPLETE;
	if (b[p] != '\r') {
		if (b[p] == '\n')
			return h1_lex_fail(why, "bare LF in field line");
		return h1_lex_fail(why, "invalid character in field value");
	}
	if (p + 1 >= len)
		return H1_INCOMPLETE;
	if (b[p + 1] != '\n')
		return h1_lex_fail(why, "bare CR in field value");
	ve = p;
	while (ve > vs && (b[ve - 1] == ' ' || b[ve - 1] == '\t'))
		ve--;
	*f = (struct h1_header){ buf + ns, ne - ns, buf + vs, ve - vs };
	return (ssize_t)(p + 2);
}
