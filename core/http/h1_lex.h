/*
 * h1_lex.h - what the HTTP/1.x request and response parsers share: one
 * character table, one field-line scanner, the chunked decoder's companions.
 * A fix to what a field line may hold reaches both directions at once.
 *
 * Nothing here allocates; every view is borrowed from the caller's buffer.
 */
#ifndef PORTICO_H1_LEX_H
#define PORTICO_H1_LEX_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define H1_INCOMPLETE (-1)	/* more bytes are needed */
#define H1_ERROR (-2)		/* malformed; see *why (and *status) */

/* Classes of h1_class[]. */
#define H1_C_TOKEN 0x01		/* tchar (RFC 9110 5.6.2) */
#define H1_C_FIELD 0x02		/* field-vchar, SP, HTAB (obs-text included) */
#define H1_C_TARGET 0x04	/* visible ASCII but # " < > \ ^ ` { | } (RFC 3986) */
#define H1_C_HEX 0x08
#define H1_C_HOST 0x10		/* unreserved / sub-delims / ':' / '[' / ']' / '%' */

extern const unsigned char h1_class[256];

struct h1_header {
	const char *name;
	size_t name_len;
	const char *value;	/* leading/trailing SP and HTAB trimmed */
	size_t value_len;
};

/* Case-insensitive compare of S/LEN against the lowercase L/LLEN. */
int h1_ieq(const void *s, size_t len, const char *l, size_t llen);
#define H1_IEQ(s, n, lit) h1_ieq((s), (n), lit, sizeof(lit) - 1)

/* First index >= P in B/LEN whose byte is not field content. */
size_t h1_scan_field(const unsigned char *b, size_t p, size_t len);

/*
 * Scan one field line, name ":" OWS value OWS CRLF, starting at B[P] (which
 * is not the CR of the empty line ending a section). Returns the offset past
 * its CRLF and fills F with views into B; H1_INCOMPLETE when the bytes so far
 * are a valid prefix; H1_ERROR with *WHY (static) for obs-fold, whitespace
 * before the colon, a name that is not a token, a byte that is not field
 * content, or a bare CR or LF.
 */
ssize_t h1_field_line(const char *b, size_t p, size_t len, struct h1_header *f,
                      const char **why);

#ifdef __cplusplus
}
#endif
#endif
