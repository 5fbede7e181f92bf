/*
 * h1_chunked.c - the chunked transfer-coding decoder of both HTTP/1.x
 * directions. See h1_chunked.h for the rules and the contract.
 */
#include "h1_chunked.h"

#include <string.h>

/* Chunked decoder states; 0 is the start of a chunk-size line. */
enum {
	CS_SIZE0 = 0,	/* first hex digit */
	CS_SIZE,	/* more hex digits, ';' or CR */
	CS_EXT_NAME0,	/* after ';' */
	CS_EXT_NAME,
	CS_EXT_VAL0,	/* after '=' */
	CS_EXT_VAL,	/* token value */
	CS_EXT_QS,	/* inside quoted-string */
	CS_EXT_QS_ESC,	/* after backslash */
	CS_EXT_QS_END,	/* after closing quote */
	CS_SIZE_LF,
	CS_DATA,
	CS_DATA_CR,
	CS_DATA_LF,
	CS_TR_START,	/* start of a trailer line, or the final CRLF */
	CS_TR_NAME,
	CS_TR_VALUE,
	CS_TR_LF,
	CS_END_LF,
	CS_DONE,
	CS_ERROR,
};

/* Reset C for a new body. */
void h1_chunked_init(struct h1_chunked *c, size_t max_trailer_bytes)
{
	memset(c, 0, sizeof(*c));
	c->max_trailer = max_trailer_bytes;
}

/* Value of the hex digit CH (already checked by the H1_C_HEX class). */
static unsigned h1_hexval(unsigned char ch)
{
	if (ch <= '9')
		return ch - '0';
	return (ch | 0x20) - 'a' + 10;
}

/* Whether STATE is inside the trailer section (or its final CRLF). */
static int h1_in_trailer(unsigned state)
{
	return state >= CS_TR_START && state <= CS_END_LF;
}

/* See h1_chunked.h. */
ssize_t h1_chunked_decode(struct h1_chunked *c, const char *buf, size_t len,
                          const char **data, size_t *data_len)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t p = 0, n, tstart = 0;	/* where the trailer section starts in BUF */
	int have = 0;

	*data = buf;
	*data_len = 0;
	if (c->state == CS_ERROR)
		return H1_ERROR;
	if (c->keep_trailer && h1_in_trailer(c->state)) {
		/* BUF starts with the section; its first HELD bytes were checked */
		if (c->held > len)
			goto bad;
		p = c->held;
	}
	while (p < len) {
		unsigned char ch = b[p];
		unsigned cls = h1_class[ch];

		switch (c->state) {
		case CS_SIZE0:
			if (!(cls & H1_C_HEX))
				goto bad;
			c->remaining = h1_hexval(ch);
			c->digits = 1;
			c->count = 0;
			c->state = CS_SIZE;
			break;
		case CS_SIZE:
			if (cls & H1_C_HEX) {
				/* 16 digits at most, and the size stays below 2^63 */
				if (c->digits >= 16 || (c->remaining >> 59) != 0)
					goto bad;
				c->remaining = (c->remaining << 4) | h1_hexval(ch);
				c->digits++;
			} else if (ch == ';') {
				c->state = CS_EXT_NAME0;
			} else if (ch == '\r') {
				c->state = CS_SIZE_LF;
			} else {
				goto bad;
			}
			break;
		case CS_EXT_NAME0:
			if (!(cls & H1_C_TOKEN))
				goto bad;
			c->state = CS_EXT_NAME;
			break;
		case CS_EXT_NAME:
			if (ch == '=')
				c->state = CS_EXT_VAL0;
			else if (ch == ';')
				c->state = CS_EXT_NAME0;
			else if (ch == '\r')
				c->state = CS_SIZE_LF;
			else if (!(cls & H1_C_TOKEN))
				goto bad;
			break;
		case CS_EXT_VAL0:
			if (ch == '"')
				c->state = CS_EXT_QS;
			else if (cls & H1_C_TOKEN)
				c->state = CS_EXT_VAL;
			else
				goto bad;
			break;
		case CS_EXT_VAL:
			if (ch == ';')
				c->state = CS_EXT_NAME0;
			else if (ch == '\r')
				c->state = CS_SIZE_LF;
			else if (!(cls & H1_C_TOKEN))
				goto bad;
			break;
		case CS_EXT_QS:
			if (ch == '"')
				c->state = CS_EXT_QS_END;
			else if (ch == '\\')
				c->state = CS_EXT_QS_ESC;
			else if (!(cls & H1_C_FIELD))
				goto bad;
			break;
		case CS_EXT_QS_ESC:
			if (!(cls & H1_C_FIELD))
				goto bad;
			c->state = CS_EXT_QS;
			break;
		case CS_EXT_QS_END:
			if (ch == ';')
				c->state = CS_EXT_NAME0;
			else if (ch == '\r')
				c->state = CS_SIZE_LF;
			else
				goto bad;
			break;
		case CS_SIZE_LF:
			if (ch != '\n')
				goto bad;
			c->count = 0;
			c->state = c->remaining ? CS_DATA : CS_TR_START;
			tstart = p + 1;
			break;
		case CS_DATA:
			if (have)
				return (ssize_t)p;	/* one slice per call */
			n = len - p;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			*data = buf + p;
			*data_len = n;
			have = 1;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = CS_DATA_CR;
			p += n;
			continue;
		case CS_DATA_CR:
			if (ch != '\r')
				goto bad;
			c->state = CS_DATA_LF;
			break;
		case CS_DATA_LF:
			if (ch != '\n')
				goto bad;
			c->state = CS_SIZE0;
			break;
		case CS_TR_START:
			if (ch == '\r') {
				c->state = CS_END_LF;
				break;
			}
			if (!(cls & H1_C_TOKEN))
				goto bad;
			c->state = CS_TR_NAME;
			break;
		case CS_TR_NAME:
			if (ch == ':')
				c->state = CS_TR_VALUE;
			else if (!(cls & H1_C_TOKEN))
				goto bad;
			break;
		case CS_TR_VALUE:
			if (ch == '\r')
				c->state = CS_TR_LF;
			else if (!(cls & H1_C_FIELD))
				goto bad;
			break;
		case CS_TR_LF:
			if (ch != '\n')
				goto bad;
			c->state = CS_TR_START;
			break;
		case CS_END_LF:
			if (ch != '\n')
				goto bad;
			c->state = CS_DONE;
			c->done = 1;
			if (c->keep_trailer) {
				c->trailer = buf + tstart;
				c->trailer_len = p - 1 - tstart;
			}
			return (ssize_t)(p + 1);
		case CS_DONE:
			return (ssize_t)p;
		default:
			goto bad;
		}
		/* bound extensions and trailers; both states count their own bytes */
		if (c->state >= CS_EXT_NAME0 && c->state <= CS_EXT_QS_END &&
		    ++c->count > H1_MAX_CHUNK_EXT)
			goto bad;
		if (c->state >= CS_TR_NAME && c->state <= CS_TR_LF &&
		    ++c->count > c->max_trailer)
			goto bad;
		if (c->state == CS_TR_START && c->count && ++c->count > c->max_trailer)
			goto bad;
		p++;
	}
	if (c->keep_trailer && h1_in_trailer(c->state)) {
		c->held = p - tstart;
		return (ssize_t)tstart;
	}
	return (ssize_t)p;
bad:
	c->state = CS_ERROR;
	return H1_ERROR;
}
