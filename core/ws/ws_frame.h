/*
 * ws_frame.h - the WebSocket protocol (RFC 6455, RFC 7692) as pure code:
 * no sockets, no event loop. A server-side reader of client frames that
 * checks everything a server must refuse, a frame writer, and the opening
 * handshake's pieces. ws_conn.c drives them on a connection.
 *
 * Why our own and not libwebsockets: doc/architecture.md ("WebSocket").
 */
#ifndef PT_WS_FRAME_H
#define PT_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum ws_op {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

/* Close codes the server sends (RFC 6455 7.4.1). */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_NO_STATUS 1005      /* never on the wire: a close without a code */
#define WS_CLOSE_ABNORMAL 1006       /* never on the wire: no close frame at all */
#define WS_CLOSE_BAD_DATA 1007       /* invalid UTF-8 in a text message or close reason */
#define WS_CLOSE_POLICY 1008
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL 1011

#define WS_DEFAULT_MAX_MESSAGE ((size_t)1 << 20)

/* What ws_read found. */
enum ws_ev {
	WS_EV_NEED = 0,      /* no complete event in the bytes given: feed more */
	WS_EV_MESSAGE = 1,   /* a whole data message: op TEXT or BINARY, data/len
	                        (reassembled, unmasked, inflated; text is valid UTF-8) */
	WS_EV_PING = 2,      /* data/len: its payload (0..125 bytes) */
	WS_EV_PONG = 3,
	WS_EV_CLOSE = 4,     /* code (WS_CLOSE_NO_STATUS when the frame had none),
	                        reason/len (valid UTF-8) */
	WS_EV_ERROR = 5,     /* the peer broke the protocol: close with CODE
	                        (1002, 1007 or 1009); WHY says what, for the log */
};

struct ws_event {
	int ev;                       /* enum ws_ev */
	int op;                       /* WS_EV_MESSAGE: WS_OP_TEXT or WS_OP_BINARY */
	const char *data;             /* borrowed until the next ws_read or ws_reader_free */
	size_t len;
	unsigned code;                /* WS_EV_CLOSE, WS_EV_ERROR */
	const char *why;              /* WS_EV_ERROR: a static sentence */
};

struct ws_inflater;

/* One connection's reader of client frames. Zero it, set the fields, then read. */
struct ws_reader {
	/* settings */
	size_t max_message;           /* bytes of one message after reassembly and
	                                 inflation; 0: WS_DEFAULT_MAX_MESSAGE */
	struct ws_inflater *inflate;  /* permessage-deflate was negotiated: RSV1
	                                 allowed on a data message's first frame */
	/* state (private) */
	int in_message;               /* a fragmented data message is open */
	int msg_op;
	int msg_compressed;
	unsigned utf8_state;          /* incremental UTF-8 check of a text message */
	char *buf;                    /* the message being reassembled (malloc) */
	size_t len, cap;
	int failed;                   /* after WS_EV_ERROR every read returns it again */
	unsigned fail_code;
	const char *fail_why;
	/* the frame being read (private) */
	unsigned char hdr[14];        /* its header, while incomplete */
	unsigned char hdr_len;
	unsigned char in_frame;       /* header read, payload pending */
	unsigned char frame_op, frame_fin;
	unsigned char mask[4];
	unsigned char mask_off;       /* payload bytes unmasked so far, mod 4 */
	unsigned char delivered;      /* buf holds a message returned last call */
	uint64_t frame_left;          /* payload bytes still to come */
	size_t ctl_len;               /* control payload so far, kept at buf + len */
	uint64_t wire;                /* compressed message: payload bytes so far */
};

/*
 * Reads at most one event from DATA[0..LEN) (bytes the client sent, in
 * order; the caller keeps unconsumed bytes and passes them again with more).
 * Sets *USED to the bytes consumed (possibly fewer than LEN when an event is
 * returned, all of a partial frame's payload otherwise) and fills EV.
 * Checks: the mask bit (client frames must be masked), reserved bits (RSV1
 * only with permessage-deflate, on a first data frame), opcodes, control
 * frames (FIN set, payload <= 125), continuation without a message and a new
 * message inside one, 64-bit lengths with the top bit set, close payloads
 * (not 1 byte; codes 1000-1003, 1007-1014 but not 1015, 3000-4999; reason
 * valid UTF-8), UTF-8 of text messages (incremental, so a bad byte fails
 * before the message ends), MAX_MESSAGE (1009, checked on frame lengths
 * before any payload is buffered). Returns EV->ev.
 */
int ws_read(struct ws_reader *r, const void *data, size_t len, size_t *used,
            struct ws_event *ev);
void ws_reader_free(struct ws_reader *r);   /* frees buf; leaves settings */
/*
 * Frees buf when no message is being reassembled (for a connection gone
 * idle); otherwise does nothing. Invalidates the data of the last event.
 */
void ws_reader_trim(struct ws_reader *r);

/* 1 when CODE may be sent or received in a close frame. */
int ws_close_code_ok(unsigned code);
/* 1 when S[0..LEN) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int ws_utf8_ok(const void *s, size_t len);

/*
 * Writes a server frame header (never masked) for a frame of LEN payload
 * bytes into OUT (at least 10 bytes); returns its length. RSV1: a
 * compressed message's first frame.
 */
size_t ws_frame_head(unsigned char *out, int op, int fin, int rsv1, uint64_t len);

/* ---- the opening handshake ------------------------------------------------ */

/*
 * Sec-WebSocket-Accept for KEY: KEY must be the base64 of 16 bytes (24
 * characters, RFC 6455 4.2.1). Writes 28 characters and a NUL into OUT;
 * returns 0, or -1 for a bad key.
 */
int ws_accept_key(const char *key, size_t len, char out[29]);

/* permessage-deflate parameters (RFC 7692 7.1). */
struct ws_pmd {
	int server_no_context_takeover;
	int client_no_context_takeover;
	int server_max_window_bits;   /* 8..15; our deflater uses 9..15 (zlib) */
	int client_max_window_bits;   /* 8..15: the window our inflater needs */
};

/*
 * Chooses from the Sec-WebSocket-Extensions offers in HDR[0..LEN) (all the
 * request's values joined with ", "): the first acceptable
 * permessage-deflate offer. Returns 1 and fills OUT and the response header
 * value RESP (NUL-terminated) when one is accepted, 0 when none is (no
 * offer, or none we can honour: the extension is then not used), -1 when
 * the header is malformed (the handshake fails with 400).
 */
int ws_pmd_negotiate(const char *hdr, size_t len, struct ws_pmd *out, char *resp,
                     size_t resplen);

/* ---- permessage-deflate ----------------------------------------------------- */

struct ws_deflater;
struct ws_inflater *ws_inflater_new(const struct ws_pmd *p);
void ws_inflater_free(struct ws_inflater *i);
struct ws_deflater *ws_deflater_new(const struct ws_pmd *p);
void ws_deflater_free(struct ws_deflater *d);
/*
 * Compresses one whole message into a malloc'd *OUT (*OUTLEN bytes, the
 * trailing 00 00 ff ff removed, RFC 7692 7.2.1). 0, or -1 (no memory).
 */
int ws_deflate(struct ws_deflater *d, const void *in, size_t len, unsigned char **out,
               size_t *outlen);

#endif
