/*
 * ws_deflate.c - permessage-deflate (RFC 7692) on zlib's raw deflate.
 *
 * Memory per connection, the reason for most choices here:
 *  - A ws_inflater or ws_deflater is a small struct (about 130 bytes); its
 *    zlib stream is set up on the first compressed message only.
 *  - An inflate stream costs about 7 KiB of state plus a 32 KiB window
 *    (always 15 bits: ws_inflater_new says why), allocated by zlib on the
 *    first output. With client_no_context_takeover the stream is freed after
 *    every message, so an idle connection holds none of it; with context
 *    takeover it is kept for the connection's life (about 39 KiB).
 *  - A deflate stream with memLevel 8 costs 2^(windowBits+2) + 2^(memLevel+9)
 *    bytes plus about 6 KiB: about 262 KiB at 15 bits. Under
 *    server_no_context_takeover (which ws_pmd_negotiate always answers) a
 *    deflater carries nothing from one message to the next, so all such
 *    deflaters of a thread share one stream per window size, made on first
 *    use and kept (ws_deflate_thread_end frees them): a connection's
 *    deflater costs its small struct only. With context takeover a deflater
 *    has a stream of its own, for its life.
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
	int ended;                    /* the stream saw its BFINAL block */
	int bits;
	int no_ctx;
};

struct zdef {
	z_stream z;
	int live;                     /* z is initialised */
};

struct ws_deflater {
	struct zdef own;              /* with context takeover only */
	int bits;
	int level;
	int no_ctx;
};

/*
 * Deflaters without context takeover carry nothing from one message to the
 * next, and ws_deflate runs to its end without calling out: they share one
 * zlib stream per thread, window and level, made on first use.
 */
static __thread struct zdef *shared[8][2];

static int clamp_bits(int bits)
{
	return bits < 8 || bits > 15 ? 15 : bits;
}

struct ws_inflater *ws_inflater_new(const struct ws_pmd *p)
{
	struct ws_inflater *i = calloc(1, sizeof(*i));

	if (!i)
		return NULL;
	/* Always the largest window, whatever the client promised: zlib checks
	 * a distance against the history it holds, which with a small window
	 * depends on how much output one call makes, so a client overreaching
	 * its window would pass or fail with the TCP segmentation. With 15 bits
	 * any distance deflate can express is judged the same way every time
	 * (and a zlib client told 8, which deflates with 9, is read too). */
	i->bits = 15;
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

/*
 * Starts a new zlib stream on the old one's window: a client may end its
 * deflate stream with a BFINAL block (RFC 7692 7.2.3.4) and go on with new
 * blocks that still refer back. 0, or -2 (no memory).
 */
static int restart(struct ws_inflater *i)
{
	unsigned char *dict = malloc((size_t)1 << i->bits);
	unsigned dlen = 0;

	if (!dict)
		return -2;
	inflateGetDictionary(&i->z, dict, &dlen);
	inflateReset(&i->z);
	inflateSetDictionary(&i->z, dict, dlen);
	free(dict);
	i->ended = 0;
	return 0;
}

int ws_inflate_some(struct ws_inflater *i, const unsigned char **in, size_t *inlen,
                    unsigned char *out, size_t cap, int trailer, size_t *got)
{
	size_t give, took;
	int rc;

	*got = 0;
	if (i->ended) {
		/* the appended 00 00 ff ff after a stream's end means nothing */
		if (trailer || *inlen == 0) {
			*in += *inlen;
			*inlen = 0;
			return 1;
		}
		if (restart(i) < 0)
			return -2;
	}
	give = *inlen < UINT_MAX ? *inlen : UINT_MAX;
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
		/* all its output is written; what follows starts a new stream */
		i->ended = 1;
		if (trailer) {
			*in += *inlen;
			*inlen = 0;
		}
		return *inlen == 0 ? 1 : 0;
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
	int rc = 0;

	if (!i->live)
		return 0;
	if (i->no_ctx) {
		inflateEnd(&i->z);
		i->live = 0;
	} else if (i->ended) {
		rc = restart(i);
	}
	i->ended = 0;
	return rc;
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
	if (d->own.live)
		deflateEnd(&d->own.z);
	free(d);
}

void ws_deflate_thread_end(void)
{
	for (int b = 0; b < 8; b++)
		for (int l = 0; l < 2; l++) {
			struct zdef *zs = shared[b][l];

			if (zs && zs->live)
				deflateEnd(&zs->z);
			free(zs);
			shared[b][l] = NULL;
		}
}

/* The stream D compresses with: its own, or its thread's shared one. */
static struct zdef *stream_of(struct ws_deflater *d)
{
	struct zdef **slot;

	if (!d->no_ctx)
		return &d->own;
	slot = &shared[d->bits - 8][d->level == Z_NO_COMPRESSION];
	if (!*slot)
		*slot = calloc(1, sizeof(**slot));
	return *slot;
}

int ws_deflate(struct ws_deflater *d, const void *in, size_t len, unsigned char **out,
               size_t *outlen)
{
	const unsigned char *src = in;
	unsigned char *buf = NULL, *nb;
	size_t cap, done = 0;
	struct zdef *zs = stream_of(d);
	z_stream *z;

	*out = NULL;
	*outlen = 0;
	if (!zs)
		return -1;
	z = &zs->z;
	if (!zs->live) {
		memset(z, 0, sizeof(*z));
		if (deflateInit2(z, d->level, Z_DEFLATED, -d->bits, WS_DEFLATE_MEMLEVEL,
		                 Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		zs->live = 1;
	}
	cap = (len < UINT_MAX ? deflateBound(z, (uLong)len) : len + len / 1000) + 16;
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
		z->next_in = (unsigned char *)src;
		z->avail_in = (unsigned)give;
		z->next_out = buf + done;
		z->avail_out = (unsigned)(cap - done < UINT_MAX ? cap - done : UINT_MAX);
		rc = deflate(z, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			goto fail;
		src += give - z->avail_in;
		len -= give - z->avail_in;
		done = (size_t)(z->next_out - buf);
		if (last && len == 0 && z->avail_out != 0)
			break;
	}
	if (done == 0) {
		/* an empty message right after a flush: zlib has nothing to add,
		 * and an empty stored block's first byte says it (RFC 7692 7.2.3.6) */
		buf[0] = 0x00;
		done = 5;
		memcpy(buf + 1, "\x00\x00\xff\xff", 4);
	}
	/* a sync flush ends in an empty stored block: 00 00 ff ff, dropped */
	if (done < 4 || memcmp(buf + done - 4, "\x00\x00\xff\xff", 4) != 0)
		goto fail;
	*out = buf;
	*outlen = done - 4;
	if (d->no_ctx)
		deflateReset(z);
	return 0;
fail:
	free(buf);
	/* the stream may hold half a message: start the next one afresh */
	deflateEnd(z);
	zs->live = 0;
	return -1;
}
