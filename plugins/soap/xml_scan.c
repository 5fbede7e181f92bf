/*
 * xml_scan.c - the lexical scan xml.c runs over a document before libxml2
 * sees it (see xml.c's top comment for why, and soap.h for the contract).
 *
 * It reads the raw bytes (UTF-8 and the ASCII-compatible encodings as
 * bytes, UTF-16 as 16-bit units), understands comments, CDATA sections,
 * PIs, quoted attribute values and end tags, and refuses: more than
 * MAX_ATTRS attributes in a start tag, NUL, any "<!" that is not a comment
 * or CDATA (DOCTYPE, declarations), '<' inside a start tag, an attribute
 * value or an end tag (libxml2 resumes after those errors where this scan
 * saw no tag), a truncated construct, and an encoding declaration outside
 * the allowlist. On a well-formed DOCTYPE-free document it refuses nothing.
 * Linear time, no allocation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/encoding.h>

#include "soap.h"

#define U_EOF 0xFFFFFFFFu

struct scan {
	const unsigned char *p;
	size_t n;                /* units */
	int w, be;               /* unit width 1 or 2; UTF-16 big-endian */
	size_t i;
	unsigned max_attrs;
	char *err;
	size_t errlen;
};

static unsigned at(const struct scan *s, size_t i)
{
	const unsigned char *q;

	if (i >= s->n)
		return U_EOF;
	if (s->w == 1)
		return s->p[i];
	q = s->p + 2 * i;
	return s->be ? (unsigned)(q[0] << 8 | q[1]) : (unsigned)(q[1] << 8 | q[0]);
}

static int starts(const struct scan *s, size_t i, const char *lit)
{
	for (; *lit; lit++, i++)
		if (at(s, i) != (unsigned char)*lit)
			return 0;
	return 1;
}

/* The index of LIT at or after I, or SIZE_MAX. LIT is a few characters
 * long: a plain forward search is linear. */
static size_t find(const struct scan *s, size_t i, const char *lit)
{
	for (; i < s->n; i++)
		if (at(s, i) == (unsigned char)lit[0] && starts(s, i, lit))
			return i;
	return SIZE_MAX;
}

static size_t line_of(const struct scan *s, size_t i)
{
	size_t line = 1;

	for (size_t k = 0; k < i && k < s->n; k++)
		line += at(s, k) == '\n';
	return line;
}

static int scan_fail(struct scan *s, size_t i, const char *what)
{
	snprintf(s->err, s->errlen, "line %zu: %s", line_of(s, i), what);
	s->i = i;
	return -1;
}

static int is_ws(unsigned c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A character that ends a name in a start tag. */
static int name_end(unsigned c)
{
	return is_ws(c) || c == '>' || c == '/' || c == '=' || c == '"' || c == '\'' ||
	       c == '<' || c == U_EOF;
}

static const char *const enc_ok[] = {
	"UTF-8", "UTF8", "US-ASCII", "ASCII", "LATIN1", "ISO-LATIN-1", NULL
};

static int encoding_allowed(const char *e, int utf16)
{
	if (utf16)
		return !strcasecmp(e, "UTF-16") || !strcasecmp(e, "UTF16") ||
		       !strcasecmp(e, "UTF-16LE") || !strcasecmp(e, "UTF-16BE");
	for (int k = 0; enc_ok[k]; k++)
		if (!strcasecmp(e, enc_ok[k]))
			return 1;
	if (!strncasecmp(e, "ISO-8859-", 9) || !strncasecmp(e, "ISO8859-", 8)) {
		const char *d = e + (e[3] == '-' ? 9 : 8);
		char *end;
		long v = strtol(d, &end, 10);

		return d[0] >= '1' && d[0] <= '9' && !*end && v >= 1 && v <= 16;
	}
	if (!strncasecmp(e, "WINDOWS-", 8) || !strncasecmp(e, "CP", 2)) {
		const char *d = e + (e[0] == 'c' || e[0] == 'C' ? 2 : 8);
		char *end;
		long v = strtol(d, &end, 10);

		return d[0] >= '1' && d[0] <= '9' && !*end && v >= 1250 && v <= 1258;
	}
	return 0;
}

/* The XML declaration (at I, "<?xml" then space, up to END, the "?>"): its
 * encoding, if any, must be allowed. */
static int check_xml_decl(struct scan *s, size_t i, size_t end)
{
	char enc[48];
	size_t k, n = 0;
	unsigned q;

	/* "encoding" anywhere: libxml2 reads it even after a missing blank or
	 * version (a fatal error, but it switches encoding and goes on) */
	for (k = i + 5; k + 8 <= end; k++)
		if (starts(s, k, "encoding"))
			break;
	if (k + 8 > end)
		return 0;
	for (k += 8; is_ws(at(s, k)); k++)
		;
	if (at(s, k) != '=')
		return scan_fail(s, k, "malformed XML declaration");
	for (k++; is_ws(at(s, k)); k++)
		;
	q = at(s, k);
	if (q != '"' && q != '\'')
		return scan_fail(s, k, "malformed XML declaration");
	for (k++; k < end && at(s, k) != q; k++) {
		unsigned c = at(s, k);

		if (n + 1 >= sizeof(enc) || c < 0x21 || c > 0x7e)
			return scan_fail(s, k, "malformed encoding declaration");
		enc[n++] = (char)c;
	}
	enc[n] = '\0';
	if (!encoding_allowed(enc, s->w == 2)) {
		char msg[96];

		snprintf(msg, sizeof(msg), "encoding %s is not supported", enc);
		return scan_fail(s, i, msg);
	}
	return 0;
}

/* A start tag at I (the "<"): counts its attributes; the index after ">". */
static int scan_start_tag(struct scan *s, size_t i)
{
	unsigned attrs = 0, c, q;

	for (i++; !name_end(at(s, i)); i++)
		;
	for (;;) {
		while (is_ws(at(s, i)))
			i++;
		c = at(s, i);
		if (c == U_EOF)
			return scan_fail(s, i, "document ends inside a start tag");
		if (c == '>') {
			s->i = i + 1;
			return 0;
		}
		if (c == '/') {
			i++;
			continue;
		}
		if (c == '<' || c == '=' || c == '"' || c == '\'')
			return scan_fail(s, i, "malformed start tag");
		if (++attrs > s->max_attrs) {
			snprintf(s->err, s->errlen, "more than %u attributes on an element",
			         s->max_attrs);
			s->i = i;
			return -1;
		}
		while (!name_end(at(s, i)))
			i++;
		while (is_ws(at(s, i)))
			i++;
		if (at(s, i) != '=')
			return scan_fail(s, i, at(s, i) == U_EOF ? "document ends inside a start tag"
			                                         : "malformed start tag");
		for (i++; is_ws(at(s, i)); i++)
			;
		q = at(s, i);
		if (q != '"' && q != '\'')
			return scan_fail(s, i, q == U_EOF ? "document ends inside a start tag"
			                                  : "malformed start tag");
		/* '<' in a value is an error libxml2 recovers from by leaving the
		 * value there, so what follows would be a tag the scan skipped */
		for (i++; at(s, i) != q; i++)
			if (at(s, i) == U_EOF || at(s, i) == '<')
				return scan_fail(s, i, at(s, i) == '<' ? "'<' in an attribute value"
				                 : "document ends inside an attribute value");
		i++;
	}
}

int sx_scan(const char *buf, size_t len, unsigned max_attrs, char *err, size_t errlen,
            size_t *scanned)
{
	struct scan s = { (const unsigned char *)buf, len, 1, 0, 0, max_attrs, err, errlen };
	unsigned char head[4] = { 0, 0, 0, 0 };
	size_t i, e;
	int rc = 0;

	*scanned = 0;
	memcpy(head, buf, len < 4 ? len : 4);
	switch (xmlDetectCharEncoding(head, (int)(len < 4 ? len : 4))) {
	case XML_CHAR_ENCODING_NONE:
	case XML_CHAR_ENCODING_UTF8:
		break;
	case XML_CHAR_ENCODING_UTF16LE:
	case XML_CHAR_ENCODING_UTF16BE:
		s.w = 2;
		s.be = head[0] == 0xFE || head[0] == 0x00;
		if (len % 2) {
			snprintf(err, errlen, "UTF-16 document with an odd number of bytes");
			return -1;
		}
		s.n = len / 2;
		break;
	default:
		snprintf(err, errlen, "encoding is not supported (UTF-8 or UTF-16 only)");
		return -1;
	}
	i = 0;
	if (at(&s, 0) == 0xFEFF)
		i = 1;
	else if (s.w == 1 && len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
		i = 3;
	for (size_t k = 0; k < s.n; k++) {
		if (s.w == 1) {
			const char *z = memchr(buf, 0, len);

			if (z)
				return scan_fail(&s, (size_t)(z - buf), "NUL character in the document");
			break;
		}
		if (at(&s, k) == 0)
			return scan_fail(&s, k, "NUL character in the document");
	}
	if (starts(&s, i, "<?xml") && is_ws(at(&s, i + 5))) {
		if ((e = find(&s, i, "?>")) == SIZE_MAX)
			return scan_fail(&s, i, "document ends inside the XML declaration");
		if (check_xml_decl(&s, i, e) != 0)
			goto out;
	}
	s.i = i;
	while (s.i < s.n) {
		unsigned c = at(&s, s.i);

		if (c == 0) {
			rc = scan_fail(&s, s.i, "NUL character in the document");
			break;
		}
		if (c != '<') {
			s.i++;
			continue;
		}
		if (starts(&s, s.i, "<!--")) {
			if ((e = find(&s, s.i + 4, "-->")) == SIZE_MAX) {
				rc = scan_fail(&s, s.i, "document ends inside a comment");
				break;
			}
			s.i = e + 3;
		} else if (starts(&s, s.i, "<![CDATA[")) {
			if ((e = find(&s, s.i + 9, "]]>")) == SIZE_MAX) {
				rc = scan_fail(&s, s.i, "document ends inside a CDATA section");
				break;
			}
			s.i = e + 3;
		} else if (starts(&s, s.i, "<!")) {
			if (starts(&s, s.i, "<!DOCTYPE"))
				snprintf(err, errlen, "DOCTYPE is not allowed");
			else
				rc = scan_fail(&s, s.i, "markup declarations are not allowed");
			rc = -1;
			break;
		} else if (starts(&s, s.i, "<?")) {
			if ((e = find(&s, s.i + 2, "?>")) == SIZE_MAX) {
				rc = scan_fail(&s, s.i, "document ends inside a processing instruction");
				break;
			}
			s.i = e + 2;
		} else if (starts(&s, s.i, "</")) {
			/* no '<' before its '>' either (same reason as in values) */
			for (e = s.i + 2; at(&s, e) != '>' && at(&s, e) != '<' && e < s.n; e++)
				;
			if (at(&s, e) != '>') {
				rc = scan_fail(&s, e, e < s.n ? "malformed end tag"
				               : "document ends inside an end tag");
				break;
			}
			s.i = e + 1;
		} else if ((rc = scan_start_tag(&s, s.i)) != 0) {
			break;
		}
	}
	*scanned = s.i;
	return rc;
out:
	*scanned = s.i;
	return -1;
}
