/*
 * h1_chunked.h - the one streaming decoder of the chunked transfer coding
 * (RFC 9112 7.1), for request bodies (h1_conn.c) and response bodies
 * (http_client_h1.c) alike, so both directions frame a body by the same
 * rules:
 *
 *   chunk-size: 1 to 16 hex digits, below 2^63;
 *   chunk-ext:  *( ";" token [ "=" ( token / quoted-string ) ] ), at most
 *               4096 bytes a line, and no whitespace around ";" or "=" (the
 *               BWS RFC 9112 allows has been used to make two parsers split a
 *               body differently, so it is refused);
 *   every line ends in CRLF: a bare CR or LF is an error;
 *   trailer fields: token ":" field content CRLF, within a byte budget.
 *
 * The state is owned by the caller; nothing here allocates.
 */
#ifndef PORTICO_H1_CHUNKED_H
#define PORTICO_H1_CHUNKED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "h1_lex.h"

#ifdef __cplusplus
extern "C" {
#endif

#define H1_MAX_CHUNK_EXT 4096	/* bytes of extensions on one chunk-size line */

struct h1_chunked {
	uint64_t remaining;	/* chunk-size being read, then data left */
	size_t max_trailer;	/* trailer section budget; 0 = no trailer fields */
	size_t count;		/* bytes of the current size line or trailer */
	size_t held;		/* keep_trailer: trailer bytes checked, not consumed */
	unsigned state;
	unsigned digits;
	int keep_trailer;	/* hand the trailer section out (see below) */
	int done;		/* last chunk and trailer section consumed */
	const char *trailer;	/* keep_trailer, once done: the trailer field lines,
				   each with its CRLF, without the final CRLF; a view
				   into the BUF of the call that set done */
	size_t trailer_len;
};

/* Reset C; MAX_TRAILER_BYTES bounds the trailer section (0 forbids fields). */
void h1_chunked_init(struct h1_chunked *c, size_t max_trailer_bytes);

/*
 * Decode from BUF/LEN. Returns the bytes consumed (>= 0) and sets *DATA and
 * *DATA_LEN to a slice of BUF holding body bytes (possibly empty); call again
 * with the unconsumed rest. Once c->done is set, nothing more is consumed:
 * bytes after the final CRLF belong to the next message. Returns H1_ERROR on
 * malformed framing, and keeps returning it.
 *
 * With c->keep_trailer set (after init), the trailer section is not consumed
 * until all of it is in BUF: the call returns at its start, and the caller
 * passes the same bytes again with more behind them (they are not looked at
 * twice). The call that sets done points c->trailer at the section in BUF.
 */
ssize_t h1_chunked_decode(struct h1_chunked *c, const char *buf, size_t len,
                          const char **data, size_t *data_len);

#ifdef __cplusplus
}
#endif
#endif
