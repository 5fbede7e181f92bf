/* lexer.c - GraphQL tokens; see lexer.h. */
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lexer.h"

void gql_lexer_init(struct gql_lexer *lx, struct gql_arena *a, const char *src,
                    size_t len)
{
	lx->src = src;
	lx->len = len;
	lx->pos = 0;
	lx->line = 1;
	lx->line_start = 0;
	lx->col_off = 0;
	lx->col = 1;
	lx->arena = a;
}

const char *gql_tok_describe(enum gql_tok kind)
{
	static const char *const names[] = {
		[GQL_TOK_EOF] = "<EOF>",
		[GQL_TOK_BANG] = "\"!\"",
		[GQL_TOK_DOLLAR] = "\"$\"",
		[GQL_TOK_AMP] = "\"&\"",
		[GQL_TOK_PAREN_L] = "\"(\"",
		[GQL_TOK_PAREN_R] = "\")\"",
		[GQL_TOK_SPREAD] = "\"...\"",
		[GQL_TOK_COLON] = "\":\"",
		[GQL_TOK_EQUALS] = "\"=\"",
		[GQL_TOK_AT] = "\"@\"",
		[GQL_TOK_BRACKET_L] = "\"[\"",
		[GQL_TOK_BRACKET_R] = "\"]\"",
		[GQL_TOK_BRACE_L] = "\"{\"",
		[GQL_TOK_PIPE] = "\"|\"",
		[GQL_TOK_BRACE_R] = "\"}\"",
		[GQL_TOK_NAME] = "Name",
		[GQL_TOK_INT] = "Int",
		[GQL_TOK_FLOAT] = "Float",
		[GQL_TOK_STRING] = "String",
		[GQL_TOK_BLOCK_STRING] = "BlockString",
	};

	if ((unsigned)kind < sizeof(names) / sizeof(names[0]) && names[kind])
		return names[kind];
	return "<unknown>";
}

/* Length of a UTF-8 prefix of S[0..N) that ends on a sequence boundary. */
static size_t utf8_boundary(const char *s, size_t n)
{
	size_t i = n, lead;
	unsigned char c;
	size_t need;

	/* back up over at most 3 continuation bytes to the lead byte */
	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return n;
	lead = i - 1;
	c = (unsigned char)s[lead];
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	return n - lead >= need ? n : lead;
}

void gql_error_format(struct gql_error *err, unsigned line, unsigned column,
                      const char *fmt, ...)
{
	static const char prefix[] = "Syntax Error: ";
	size_t cap = sizeof(err->message), n;
	va_list ap;
	int r;

	err->line = line;
	err->column = column;
	memcpy(err->message, prefix, sizeof(prefix));
	va_start(ap, fmt);
	r = vsnprintf(err->message + sizeof(prefix) - 1,
	              cap - (sizeof(prefix) - 1), fmt, ap);
	va_end(ap);
	if (r < 0) {
		err->message[sizeof(prefix) - 1] = '\0';
		return;
	}
	n = strlen(err->message);
	if (n == cap - 1)	/* truncated: don't end inside a character */
		err->message[utf8_boundary(err->message, n)] = '\0';
}

/*
 * The Unicode scalar value encoded at S[0..N) in well-formed UTF-8: returns
 * its length in bytes and stores it in *CP, or 0 when malformed (overlong,
 * surrogate, above U+10FFFF, truncated).
 */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c < 0xC2 || c > 0xF4)
		return 0;
	if (c < 0xE0) {
		if (n < 2 || (s[1] & 0xC0) != 0x80)
			return 0;
		*cp = (c & 0x1F) << 6 | (s[1] & 0x3F);
		return 2;
	}
	if (c < 0xF0) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		c = (c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
		if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))
			return 0;
		*cp = c;
		return 3;
	}
	if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
	    (s[3] & 0xC0) != 0x80)
		return 0;
	c = (c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
	    (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
	if (c < 0x10000 || c > 0x10FFFF)
		return 0;
	*cp = c;
	return 4;
}

/* Write scalar value CP as UTF-8 at OUT; returns the length. */
static size_t utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;

	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

static bool is_scalar(int32_t cp)
{
	return (cp >= 0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0x10FFFF);
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_start(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_continue(int c)
{
	return is_name_start(c) || is_digit(c);
}

/* The byte at POS, or -1 past the end (graphql-js reads NaN there). */
static int at(const struct gql_lexer *lx, size_t pos)
{
	return pos < lx->len ? (unsigned char)lx->src[pos] : -1;
}

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Four hex digits at POS as a number, or -1 if any is not a hex digit. */
static int32_t hex16(const struct gql_lexer *lx, size_t pos)
{
	int32_t v = 0;

	for (size_t i = 0; i < 4; i++) {
		int d = hex_digit(at(lx, pos + i));

		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

static void newline(struct gql_lexer *lx, size_t next_line_start)
{
	lx->line++;
	lx->line_start = next_line_start;
	lx->col_off = next_line_start;
	lx->col = 1;
}

/*
 * The column of byte offset POS on the current line. Offsets asked for
 * almost always grow, so counting resumes where the last call stopped and a
 * long line costs linear time overall.
 */
static unsigned column_at(struct gql_lexer *lx, size_t pos)
{
	const unsigned char *s = (const unsigned char *)lx->src;

	if (pos < lx->col_off || lx->col_off < lx->line_start) {
		lx->col_off = lx->line_start;
		lx->col = 1;
	}
	for (; lx->col_off < pos; lx->col_off++)
		if ((s[lx->col_off] & 0xC0) != 0x80)
			lx->col++;
	return lx->col;
}

/*
 * How graphql-js's printCodePointAt shows the character at POS: "\"a\"" for
 * printable ASCII, "'\"'" for a double quote, "U+00E9" otherwise, "<EOF>"
 * at the end; a malformed UTF-8 byte as "byte 0xFF (malformed UTF-8)".
 */
static const char *describe_at(const struct gql_lexer *lx, size_t pos,
                               char buf[40])
{
	uint32_t cp;

	if (pos >= lx->len)
		return "<EOF>";
	if (!utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos,
	                 &cp))
		snprintf(buf, 40, "byte 0x%02X (malformed UTF-8)",
		         (unsigned char)lx->src[pos]);
	else if (cp == '"')
		return "'\"'";
	else if (cp >= 0x20 && cp <= 0x7E)
		snprintf(buf, 40, "\"%c\"", (char)cp);
	else
		snprintf(buf, 40, "U+%04" PRIX32, cp);
	return buf;
}

/*
 * The source from POS for quoting an escape sequence in a message: N UTF-16
 * units of it, as graphql-js slices (a character above U+FFFF counts two but
 * is never cut in half); malformed bytes become U+FFFD, keeping it UTF-8.
 */
static const char *slice_at(const struct gql_lexer *lx, size_t pos,
                            size_t n, char buf[64])
{
	size_t o = 0;

	while (n > 0 && pos < lx->len && o + 4 < 64) {
		uint32_t cp;
		size_t k = utf8_decode((const unsigned char *)lx->src + pos,
		                       lx->len - pos, &cp);

		n -= k == 4 && n > 1 ? 2 : 1;
		if (k) {
			memcpy(buf + o, lx->src + pos, k);
			o += k;
			pos += k;
		} else {
			o += utf8_encode(0xFFFD, buf + o);
			pos++;
		}
	}
	buf[o] = '\0';
	return buf;
}

static int fail(struct gql_lexer *lx, struct gql_error *err, size_t pos,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Report an error at byte POS of the current line; always returns -1. */
static int fail(struct gql_lexer *lx, struct gql_error *err, size_t pos,
                const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gql_error_format(err, lx->line, column_at(lx, pos), "%s", msg);
	return -1;
}

static int token(struct gql_lexer *lx, struct gql_token *t,
                 enum gql_tok kind, size_t start, size_t end)
{
	t->kind = kind;
	t->start = start;
	t->end = end;
	t->line = lx->line;
	t->column = column_at(lx, start);
	t->value = NULL;
	t->value_len = 0;
	lx->pos = end;
	return 0;
}

/* Past the '#' at START: the end of the comment (its line terminator). */
static size_t skip_comment(const struct gql_lexer *lx, size_t pos)
{
	const unsigned char *s = (const unsigned char *)lx->src;

	while (pos < lx->len) {
		uint32_t cp;
		size_t k;

		if (s[pos] == '\n' || s[pos] == '\r')
			break;
		if (s[pos] < 0x80) {
			pos++;
			continue;
		}
		/* malformed UTF-8 ends the comment and is then reported */
		k = utf8_decode(s + pos, lx->len - pos, &cp);
		if (!k)
			break;
		pos += k;
	}
	return pos;
}

/* At POS, DIGITS+ or an error "expected digit"; *END gets the end. */
static int read_digits(struct gql_lexer *lx, size_t pos, size_t *end,
                       struct gql_error *err)
{
	char d[40];

	if (!is_digit(at(lx, pos)))
		return fail(lx, err, pos,
		            "Invalid number, expected digit but got: %s.",
		            describe_at(lx, pos, d));
	while (is_digit(at(lx, pos)))
		pos++;
	*end = pos;
	return 0;
}

/*
 * IntValue or FloatValue at START ('-' or a digit). As the spec's lookahead
 * restrictions require, a number may not be followed by '.', a letter or '_'
 * ("1.", "0x1", "1e", "1.0.", "00" are all errors).
 */
static int read_number(struct gql_lexer *lx, struct gql_token *t,
                       size_t start, struct gql_error *err)
{
	size_t pos = start;
	int c = at(lx, pos);
	bool is_float = false;
	char d[40];

	if (c == '-')
		c = at(lx, ++pos);
	if (c == '0') {
		c = at(lx, ++pos);
		if (is_digit(c))
			return fail(lx, err, pos,
			            "Invalid number, unexpected digit after 0: %s.",
			            describe_at(lx, pos, d));
	} else {
		if (read_digits(lx, pos, &pos, err))
			return -1;
		c = at(lx, pos);
	}
	if (c == '.') {
		is_float = true;
		if (read_digits(lx, pos + 1, &pos, err))
			return -1;
		c = at(lx, pos);
	}
	if (c == 'e' || c == 'E') {
		is_float = true;
		c = at(lx, ++pos);
		if (c == '+' || c == '-')
			pos++;
		if (read_digits(lx, pos, &pos, err))
			return -1;
		c = at(lx, pos);
	}
	if (c == '.' || is_name_start(c))
		return fail(lx, err, pos,
		            "Invalid number, expected digit but got: %s.",
		            describe_at(lx, pos, d));
	token(lx, t, is_float ? GQL_TOK_FLOAT : GQL_TOK_INT, start, pos);
	t->value = lx->src + start;
	t->value_len = pos - start;
	return 0;
}

/*
 * The escape sequence at POS (a backslash) inside a quoted string: stores
 * the code point in *CP and its length in source bytes in *SIZE. Accepts
 * \" \\ \/ \b \f \n \r \t, \uXXXX (a surrogate only as half of a JSON-style
 * pair \uD83D\uDE00) and \u{X...} up to U+10FFFF.
 */
static int read_escape(struct gql_lexer *lx, size_t pos, uint32_t *cp,
                       size_t *size, struct gql_error *err)
{
	char sl[64];

	*size = 2;
	switch (at(lx, pos + 1)) {
	case '"': *cp = '"'; return 0;
	case '\\': *cp = '\\'; return 0;
	case '/': *cp = '/'; return 0;
	case 'b': *cp = '\b'; return 0;
	case 'f': *cp = '\f'; return 0;
	case 'n': *cp = '\n'; return 0;
	case 'r': *cp = '\r'; return 0;
	case 't': *cp = '\t'; return 0;
	case 'u':
		break;
	default:
		return fail(lx, err, pos,
		            "Invalid character escape sequence: \"%s\".",
		            slice_at(lx, pos, 2, sl));
	}
	if (at(lx, pos + 2) == '{') {
		/* \u{...}: graphql-js's exact loop, so errors quote the same text */
		int32_t point = 0;
		size_t n = 3;

		while (n < 12) {
			int c = at(lx, pos + n++);

			if (c == '}') {
				if (n < 5 || !is_scalar(point))
					break;
				*cp = (uint32_t)point;
				*size = n;
				return 0;
			}
			point = (int32_t)((uint32_t)point << 4 |
			                  (uint32_t)(int32_t)hex_digit(c));
			if (point < 0)
				break;
		}
		return fail(lx, err, pos,
		            "Invalid Unicode escape sequence: \"%s\".",
		            slice_at(lx, pos, n, sl));
	}
	{
		int32_t code = hex16(lx, pos + 2), low;

		if (is_scalar(code)) {
			*cp = (uint32_t)code;
			*size = 6;
			return 0;
		}
		if (code >= 0xD800 && code <= 0xDBFF && at(lx, pos + 6) == '\\' &&
		    at(lx, pos + 7) == 'u') {
			low = hex16(lx, pos + 8);
			if (low >= 0xDC00 && low <= 0xDFFF) {
				*cp = 0x10000 + ((uint32_t)(code - 0xD800) << 10) +
				      (uint32_t)(low - 0xDC00);
				*size = 12;
				return 0;
			}
		}
		return fail(lx, err, pos,
		            "Invalid Unicode escape sequence: \"%s\".",
		            slice_at(lx, pos, 6, sl));
	}
}

/* "..." at START. The decoded value is never longer than the source text. */
static int read_string(struct gql_lexer *lx, struct gql_token *t,
                       size_t start, struct gql_error *err)
{
	const unsigned char *s = (const unsigned char *)lx->src;
	size_t pos = start + 1, extent, o = 0;
	char *buf, d[40];

	/* find how far the string can reach, to size the buffer */
	for (extent = pos; extent < lx->len; extent++) {
		if (s[extent] == '"' || s[extent] == '\n' || s[extent] == '\r')
			break;
		if (s[extent] == '\\' && extent + 1 < lx->len)
			extent++;
	}
	buf = gql_arena_alloc(lx->arena, extent - pos + 1);
	if (!buf)
		return fail(lx, err, start, "Out of memory.");

	while (pos < lx->len) {
		uint32_t cp;
		size_t k;

		if (s[pos] == '"') {
			buf[o] = '\0';
			token(lx, t, GQL_TOK_STRING, start, pos + 1);
			t->value = buf;
			t->value_len = o;
			return 0;
		}
		if (s[pos] == '\\') {
			if (read_escape(lx, pos, &cp, &k, err))
				return -1;
			o += utf8_encode(cp, buf + o);
			pos += k;
			continue;
		}
		if (s[pos] == '\n' || s[pos] == '\r')
			break;
		if (s[pos] < 0x80) {
			buf[o++] = (char)s[pos++];
			continue;
		}
		k = utf8_decode(s + pos, lx->len - pos, &cp);
		if (!k)
			return fail(lx, err, pos,
			            "Invalid character within String: %s.",
			            describe_at(lx, pos, d));
		memcpy(buf + o, s + pos, k);
		o += k;
		pos += k;
	}
	return fail(lx, err, pos, "Unterminated string.");
}

static bool is_triple_quote(const struct gql_lexer *lx, size_t pos)
{
	return at(lx, pos) == '"' && at(lx, pos + 1) == '"' &&
	       at(lx, pos + 2) == '"';
}

/*
 * The spec's BlockStringValue(): BUF[0..LEN) holds the raw lines joined by
 * "\n". Removes the common indentation of every line but the first, then
 * leading and trailing blank lines (only spaces and tabs); works in place and
 * returns the new length.
 */
static size_t block_string_value(char *buf, size_t len)
{
	size_t common = SIZE_MAX, first = SIZE_MAX, last = 0, line = 0;
	size_t i = 0, o = 0;

	while (i <= len) {	/* pass 1: common indent, first/last non-blank */
		size_t b = i, ind;

		while (i < len && buf[i] != '\n')
			i++;
		for (ind = 0; b + ind < i && (buf[b + ind] == ' ' ||
		                              buf[b + ind] == '\t'); ind++)
			;
		if (b + ind < i) {
			if (first == SIZE_MAX)
				first = line;
			last = line;
			if (line > 0 && ind < common)
				common = ind;
		}
		line++;
		i++;
	}
	if (first == SIZE_MAX)
		return 0;
	for (i = 0, line = 0; i <= len && line <= last; line++) {
		size_t b = i, skip;

		while (i < len && buf[i] != '\n')
			i++;
		if (line >= first) {
			skip = line == 0 ? 0 : (i - b < common ? i - b : common);
			if (line > first)
				buf[o++] = '\n';
			memmove(buf + o, buf + b + skip, i - b - skip);
			o += i - b - skip;
		}
		i++;
	}
	return o;
}

/* """...""" at START; \""" stands for """; lines may end in \n, \r\n, \r. */
static int read_block_string(struct gql_lexer *lx, struct gql_token *t,
                             size_t start, struct gql_error *err)
{
	const unsigned char *s = (const unsigned char *)lx->src;
	size_t pos = start + 3, extent, o = 0;
	unsigned line = lx->line, column = column_at(lx, start);
	char *buf, d[40];

	for (extent = pos; extent < lx->len && !is_triple_quote(lx, extent);)
		extent += s[extent] == '\\' && is_triple_quote(lx, extent + 1) ?
		          4 : 1;
	buf = gql_arena_alloc(lx->arena, extent - pos + 1);
	if (!buf)
		return fail(lx, err, start, "Out of memory.");

	while (pos < lx->len) {
		uint32_t cp;
		size_t k;

		if (is_triple_quote(lx, pos)) {
			o = block_string_value(buf, o);
			buf[o] = '\0';
			t->kind = GQL_TOK_BLOCK_STRING;
			t->start = start;
			t->end = pos + 3;
			t->line = line;		/* where the string began */
			t->column = column;
			t->value = buf;
			t->value_len = o;
			lx->pos = pos + 3;
			return 0;
		}
		if (s[pos] == '\\' && is_triple_quote(lx, pos + 1)) {
			memcpy(buf + o, "\"\"\"", 3);
			o += 3;
			pos += 4;
			continue;
		}
		if (s[pos] == '\n' || s[pos] == '\r') {
			pos += s[pos] == '\r' && at(lx, pos + 1) == '\n' ? 2 : 1;
			buf[o++] = '\n';
			newline(lx, pos);
			continue;
		}
		if (s[pos] < 0x80) {
			buf[o++] = (char)s[pos++];
			continue;
		}
		k = utf8_decode(s + pos, lx->len - pos, &cp);
		if (!k)
			return fail(lx, err, pos,
			            "Invalid character within String: %s.",
			            describe_at(lx, pos, d));
		memcpy(buf + o, s + pos, k);
		o += k;
		pos += k;
	}
	return fail(lx, err, pos, "Unterminated string.");
}

int gql_lexer_next(struct gql_lexer *lx, struct gql_token *t,
                   struct gql_error *err)
{
	const unsigned char *s = (const unsigned char *)lx->src;
	size_t pos = lx->pos;
	char d[40];

	while (pos < lx->len) {
		int c = s[pos];

		switch (c) {
		case '\t': case ' ': case ',':
			pos++;
			continue;
		case '\n':
			newline(lx, ++pos);
			continue;
		case '\r':
			pos += at(lx, pos + 1) == '\n' ? 2 : 1;
			newline(lx, pos);
			continue;
		case 0xEF:	/* U+FEFF, the byte order mark, is ignored anywhere */
			if (at(lx, pos + 1) == 0xBB && at(lx, pos + 2) == 0xBF) {
				pos += 3;
				continue;
			}
			break;
		case '#':
			pos = skip_comment(lx, pos + 1);
			continue;
		case '!': return token(lx, t, GQL_TOK_BANG, pos, pos + 1);
		case '$': return token(lx, t, GQL_TOK_DOLLAR, pos, pos + 1);
		case '&': return token(lx, t, GQL_TOK_AMP, pos, pos + 1);
		case '(': return token(lx, t, GQL_TOK_PAREN_L, pos, pos + 1);
		case ')': return token(lx, t, GQL_TOK_PAREN_R, pos, pos + 1);
		case ':': return token(lx, t, GQL_TOK_COLON, pos, pos + 1);
		case '=': return token(lx, t, GQL_TOK_EQUALS, pos, pos + 1);
		case '@': return token(lx, t, GQL_TOK_AT, pos, pos + 1);
		case '[': return token(lx, t, GQL_TOK_BRACKET_L, pos, pos + 1);
		case ']': return token(lx, t, GQL_TOK_BRACKET_R, pos, pos + 1);
		case '{': return token(lx, t, GQL_TOK_BRACE_L, pos, pos + 1);
		case '|': return token(lx, t, GQL_TOK_PIPE, pos, pos + 1);
		case '}': return token(lx, t, GQL_TOK_BRACE_R, pos, pos + 1);
		case '.':
			if (at(lx, pos + 1) == '.' && at(lx, pos + 2) == '.')
				return token(lx, t, GQL_TOK_SPREAD, pos, pos + 3);
			break;
		case '"':
			if (is_triple_quote(lx, pos))
				return read_block_string(lx, t, pos, err);
			return read_string(lx, t, pos, err);
		default:
			break;
		}
		if (is_digit(c) || c == '-')
			return read_number(lx, t, pos, err);
		if (is_name_start(c)) {
			size_t end = pos + 1;

			while (is_name_continue(at(lx, end)))
				end++;
			token(lx, t, GQL_TOK_NAME, pos, end);
			t->value = lx->src + pos;
			t->value_len = end - pos;
			return 0;
		}
		if (c == '\'')
			return fail(lx, err, pos, "Unexpected single quote "
			            "character ('), did you mean to use a double "
			            "quote (\")?");
		{
			uint32_t cp;

			if (utf8_decode(s + pos, lx->len - pos, &cp))
				return fail(lx, err, pos,
				            "Unexpected character: %s.",
				            describe_at(lx, pos, d));
		}
		return fail(lx, err, pos, "Invalid character: %s.",
		            describe_at(lx, pos, d));
	}
	return token(lx, t, GQL_TOK_EOF, lx->len, lx->len);
}
