/*
 * ws_inflate.h - what ws_frame.c needs from ws_deflate.c to inflate a
 * compressed message as its frames arrive (private to core/ws).
 */
#ifndef PT_WS_INFLATE_H
#define PT_WS_INFLATE_H

#include <stddef.h>

struct ws_inflater;

/* Starts a message: sets up the zlib stream on first use. 0, or -1 (no memory). */
int ws_inflate_begin(struct ws_inflater *i);

/*
 * Inflates from *IN/*INLEN (advanced past what zlib took) into OUT[0..CAP),
 * *GOT bytes written. TRAILER: *IN is the 00 00 ff ff appended after the
 * message's last frame (ignored if the client ended the stream itself).
 * Returns 1 when all input is consumed and no output is pending, 0 when OUT
 * is full (call again with room), -1 for corrupt data, -2 for no memory.
 */
int ws_inflate_some(struct ws_inflater *i, const unsigned char **in, size_t *inlen,
                    unsigned char *out, size_t cap, int trailer, size_t *got);

/*
 * Ends a message: with client_no_context_takeover the stream is freed (an
 * idle connection keeps no zlib memory); else its window is kept for the
 * next message. 0, or -2 (no memory).
 */
int ws_inflate_end(struct ws_inflater *i);

#endif
