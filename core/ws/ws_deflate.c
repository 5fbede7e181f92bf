/*
 * ws_deflate.c - permessage-deflate (RFC 7692) on zlib's raw deflate.
 *
 * Memory per connection, the reason for most choices here:
 *  - A ws_inflater or ws_deflater is a small struct (about 130 bytes); its
 *    zlib stream is set up on the first compressed message only.
 *  - An inflate stream costs about 7 KiB of state plus a window of
 *    2^client_max_window_bits bytes (32 KiB at 15), allocated by zlib on the
 *    first output. With client_no_context_takeover the stream is freed after
 *    every message, so an idle connection holds none of it; with context
 *    takeover it is kept for the connection's life (about 39 KiB).
 *  - A deflate stream with memLevel 8 costs 2^(windowBits+2) + 2^(memLevel+9)
 *    bytes plus about 6 KiB: about 262 KiB at 15 bits. It is kept between
 *    messages (deflateReset under server_no_context_takeover, which
 *    ws_pmd_negotiate always answers). Under server_no_context_takeover a
 *    deflater carries nothing from one message to the next, so one deflater
 *    per thread and window size can serve every connection (and a broadcast
 *    can be compressed once for all of them).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ws_frame.h"
#include "ws_inflate.h"

#define WS_DEFLATE_LEVEL Z_DEFAULT_COMPRESSION
#define WS_DEFLATE_MEMLEVEL 8

struct ws_inflater {
	z_stream z;
	int live;                     /* z is initialised */
	int ended;                    /* the client ended the stream (BFINAL) */
	int bits;
	int no_ctx;
};

struct ws_deflater {
	z_stream z;
	int live;
	int bits;
	int level;
	int no_ctx;
};

static int clamp_bits(int bits)
{
	return bits < 8 || bits > 15 ? 15 : bits;
}

struct ws_inflater *ws_inflater_new(const struct ws_pmd *p)
{
	struct ws_inflater *i = calloc(1, sizeof(*i));

	if (!i)
		return NULL;
	/* a zlib client told "8" deflates with 9 (zlib has no 8-bit window for
	 * raw deflate): inflating with 9 reads both */
	i->bits = clamp_bits(p->client_max_window_bits);
	if (i->bits < 9)
		i->bits = 9;
	i->no_ctx = p->client_no_context_takeover;
	return i;
}

void ws_inflater_free(struct ws_inflater *i)
{
	if (!i)
		return;
	if (i->live)
		inflateEnd(&i->z);
	free(i);
}

int ws_inflate_begin(struct ws_inflater *i)
{
	i->ended = 0;
	if (i->live)
		return 0;
	memset(&i->z, 0, sizeof(i->z));
	if (inflateInit2(&i->z, -i->bits) != Z_OK)
		return -1;
	i->live = 1;
	return 0;
}

int ws_inflate_some(struct ws_inflater *i, const unsigned char **in, size_t *inlen,
                    unsigned char *out, size_t cap, int trailer, size_t *got)
{
	size_t give = *inlen < UINT_MAX ? *inlen : UINT_MAX, took;
	int rc;

	*got = 0;
	if (i->ended) {
		if (*inlen && !trailer)
			return -1;        /* data after the stream's final block */
		*in += *inlen;
		*inlen = 0;
		return 1;
	}
	if (cap > UINT_MAX)
		cap = UINT_MAX;
	i->z.next_in = (unsigned char *)*in;
	i->z.avail_in = (unsigned)give;
	i->z.next_out = out;
	i->z.avail_out = (unsigned)cap;
	rc = inflate(&i->z, Z_SYNC_FLUSH);
	took = give - i->z.avail_in;
	*in += took;
	*inlen -= took;
	*got = cap - i->z.avail_out;
	switch (rc) {
	case Z_OK:
	case Z_BUF_ERROR:
		break;
	case Z_STREAM_END:
		i->ended = 1;
		if (*inlen && !trailer)
			return -1;
		*in += *inlen;
		*inlen = 0;
		return 1;
	case Z_MEM_ERROR:
		return -2;
	default:
		return -1;
	}
	if (i->z.avail_out == 0)
		return 0;
	return *inlen == 0 ? 1 : 0;
}

int ws_inflate_end(struct ws_inflater *i)
{
	if (!i->live)
		return 0;
	if (i->no_ctx) {
		inflateEnd(&i->z);
		i->live = 0;
	} else if (i->ended) {
		/* the client closed its stream with a final block but keeps its
		 * context: restart the stream on the same window */
		unsigned char *dict = malloc((size_t)1 << i->bits);
		unsigned dlen = 0;

		if (!dict)
			return -2;
		inflateGetDictionary(&i->z, dict, &dlen);
		inflateReset(&i->z);
		inflateSetDictionary(&i->z, dict, dlen);
		free(dict);
	}
	i->ended = 0;
	return 0;
}

struct ws_deflater *ws_deflater_new(const struct ws_pmd *p)
{
	struct ws_deflater *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->bits = clamp_bits(p->server_max_window_bits);
	d->level = WS_DEFLATE_LEVEL;
	if (d->bits == 8) {
		/* zlib's raw deflate has no 8-bit window: stored blocks only, which
		 * refer to nothing, keep a 9-bit stream readable with 8 */
		d->bits = 9;
		d->level = Z_NO_COMPRESSION;
	}
	d->no_ctx = p->server_no_context_takeover;
	return d;
}

void ws_deflater_free(struct ws_deflater *d)
{
	if (!d)
		return;
	if (d->live)
		deflateEnd(&d->z);
	free(d);
}

int ws_deflate(struct ws_deflater *d, const void *in, size_t len, unsigned char **out,
               size_t *outlen)
{
	const unsigned char *src = in;
	unsigned char *buf, *nb;
	size_t cap, done = 0;

	*out = NULL;
	*outlen = 0;
	if (!d->live) {
		memset(&d->z, 0, sizeof(d->z));
		if (deflateInit2(&d->z, d->level, Z_DEFLATED, -d->bits, WS_DEFLATE_MEMLEVEL,
		                 Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		d->live = 1;
	}
	cap = (len < UINT_MAX ? deflateBound(&d->z, (uLong)len) : len + len / 1000) + 16;
	buf = malloc(cap);
	if (!buf)
		goto fail;
	for (;;) {
		size_t give = len < UINT_MAX ? len : UINT_MAX;
		int last = give == len, rc;

		if (cap - done < 64) {
			nb = realloc(buf, cap * 2);
			if (!nb)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		d->z.next_in = (unsigned char *)src;
		d->z.avail_in = (unsigned)give;
		d->z.next_out = buf + done;
		d->z.avail_out = (unsigned)(cap - done < UINT_MAX ? cap - done : UINT_MAX);
		rc = deflate(&d->z, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			goto fail;
		src += give - d->z.avail_in;
		len -= give - d->z.avail_in;
		done = (size_t)(d->z.next_out - buf);
		if (last && len == 0 && d->z.avail_out != 0)
			break;
	}
	/* a sync flush ends in an empty stored block: 00 00 ff ff, dropped */
	if (done < 4 || memcmp(buf + done - 4, "\x00\x00\xff\xff", 4) != 0)
		goto fail;
	*out = buf;
	*outlen = done - 4;
	if (d->no_ctx)
		deflateReset(&d->z);
	return 0;
fail:
	free(buf);
	/* the stream may hold half a message: start the next one afresh */
	if (d->live) {
		deflateEnd(&d->z);
		d->live = 0;
	}
	return -1;
}
