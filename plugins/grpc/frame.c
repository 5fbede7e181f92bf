/*
 * frame.c - the gRPC wire apart from HTTP/2 itself: status codes and names,
 * grpc-encoding (gzip and deflate with zlib), grpc-timeout, grpc-message
 * percent-encoding, base64 for -bin metadata, and the few protobuf
 * messages the plugin writes by hand (google.rpc.Status, health,
 * reflection). Message framing (the 5-byte prefix) is in server.c, where
 * the bytes arrive.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "grpc_priv.h"

/* ---- status codes ------------------------------------------------------------------ */

static const char *const code_names[GRPC_NCODES] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

static const char *const code_strs[GRPC_NCODES] = {
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
};

const char *grpc_code_name(int code)
{
	return code >= 0 && code < GRPC_NCODES ? code_names[code] : NULL;
}

int grpc_code_by_name(const char *name, size_t len)
{
	for (int i = 0; i < GRPC_NCODES; i++)
		if (strlen(code_names[i]) == len && !strncasecmp(code_names[i], name, len))
			return i;
	return -1;
}

pt_str_t grpc_code_str(int code)
{
	if (code < 0 || code >= GRPC_NCODES)
		code = GRPC_UNKNOWN;
	return (pt_str_t){ code_strs[code], code < 10 ? 1 : 2 };
}

/* ---- grpc-encoding ------------------------------------------------------------------ */

static int token_is(const char *p, size_t n, const char *tok)
{
	return strlen(tok) == n && !strncasecmp(p, tok, n);
}

int grpc_enc_parse(pt_str_t v)
{
	if (!v.len || token_is(v.ptr, v.len, "identity"))
		return GRPC_ENC_IDENTITY;
	if (token_is(v.ptr, v.len, "gzip"))
		return GRPC_ENC_GZIP;
	if (token_is(v.ptr, v.len, "deflate"))
		return GRPC_ENC_DEFLATE;
	return GRPC_ENC_UNKNOWN;
}

const char *grpc_enc_name(int enc)
{
	return enc == GRPC_ENC_GZIP ? "gzip" : enc == GRPC_ENC_DEFLATE ? "deflate" : "identity";
}

unsigned grpc_enc_accepted(pt_str_t v)
{
	unsigned set = 0;
	size_t i = 0;

	while (i < v.len) {
		size_t s, e;

		while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == ','))
			i++;
		s = i;
		while (i < v.len && v.ptr[i] != ',')
			i++;
		e = i;
		while (e > s && v.ptr[e - 1] == ' ')
			e--;
		if (token_is(v.ptr + s, e - s, "gzip"))
			set |= 1u << GRPC_ENC_GZIP;
		else if (token_is(v.ptr + s, e - s, "deflate"))
			set |= 1u << GRPC_ENC_DEFLATE;
	}
	return set;
}

static int reserve(struct pb_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	uint8_t *p;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more) {
		if (cap > ((size_t)1 << 40))
			return -1;
		cap *= 2;
	}
	if (!(p = realloc(b->p, cap)))
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* zlib window bits: gzip wraps in a gzip header; "deflate" in gRPC is the
 * zlib format (RFC 1950), as grpc-core and grpc-go send it. */
static int wbits(int enc)
{
	return enc == GRPC_ENC_GZIP ? 15 + 16 : 15;
}

int grpc_deflate(int enc, const uint8_t *in, size_t len, struct pb_buf *out)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits(enc), 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	if (reserve(out, deflateBound(&z, (uLong)len) + 16) != 0) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out->p + out->len;
	z.avail_out = (uInt)(out->cap - out->len);
	rc = deflate(&z, Z_FINISH);
	out->len = out->cap - z.avail_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

int grpc_inflate(int enc, const uint8_t *in, size_t len, size_t max, struct pb_buf *out)
{
	z_stream z;
	size_t start = out->len;
	int rc;

	memset(&z, 0, sizeof(z));
	/* deflate: accept the zlib format and raw deflate alike (+32 reads
	 * both gzip and zlib headers; raw deflate is tried when that fails) */
	if (inflateInit2(&z, enc == GRPC_ENC_GZIP ? 15 + 16 : 15 + 32) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	do {
		size_t room;

		if (reserve(out, len * 2 + 4096 < max ? len * 2 + 4096 : 65536) != 0) {
			inflateEnd(&z);
			return -1;
		}
		room = out->cap - out->len;
		z.next_out = out->p + out->len;
		z.avail_out = (uInt)room;
		rc = inflate(&z, Z_NO_FLUSH);
		out->len += room - z.avail_out;
		if (out->len - start > max) {
			inflateEnd(&z);
			return -2;
		}
	} while (rc == Z_OK || (rc == Z_BUF_ERROR && z.avail_out == 0));
	inflateEnd(&z);
	if (rc == Z_DATA_ERROR && enc == GRPC_ENC_DEFLATE && out->len == start) {
		/* raw deflate (RFC 1951), as some peers send for "deflate" */
		memset(&z, 0, sizeof(z));
		if (inflateInit2(&z, -15) != Z_OK)
			return -1;
		z.next_in = (Bytef *)(uintptr_t)in;
		z.avail_in = (uInt)len;
		do {
			size_t room;

			if (reserve(out, 65536) != 0) {
				inflateEnd(&z);
				return -1;
			}
			room = out->cap - out->len;
			z.next_out = out->p + out->len;
			z.avail_out = (uInt)room;
			rc = inflate(&z, Z_NO_FLUSH);
			out->len += room - z.avail_out;
			if (out->len - start > max) {
				inflateEnd(&z);
				return -2;
			}
		} while (rc == Z_OK || (rc == Z_BUF_ERROR && z.avail_out == 0));
		inflateEnd(&z);
	}
	return rc == Z_STREAM_END && z.avail_in == 0 ? 0 : -1;
}

/* ---- grpc-timeout ------------------------------------------------------------------ */

int64_t grpc_timeout_parse(pt_str_t v)
{
	uint64_t n = 0;
	size_t i;

	if (v.len < 2 || v.len > 9)
		return -1;
	for (i = 0; i + 1 < v.len; i++) {
		if (v.ptr[i] < '0' || v.ptr[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v.ptr[i] - '0');
	}
	switch (v.ptr[v.len - 1]) {
	case 'H': return (int64_t)(n * 3600000);
	case 'M': return (int64_t)(n * 60000);
	case 'S': return (int64_t)(n * 1000);
	case 'm': return (int64_t)n;
	case 'u': return (int64_t)((n + 999) / 1000);
	case 'n': return (int64_t)((n + 999999) / 1000000);
	default: return -1;
	}
}

/* ---- grpc-message ------------------------------------------------------------------- */

int grpc_percent_encode(const char *msg, size_t len, struct pb_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";

	if (reserve(out, len * 3) != 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)msg[i];

		if (ch >= 0x20 && ch <= 0x7e && ch != '%') {
			out->p[out->len++] = ch;
		} else {
			out->p[out->len++] = '%';
			out->p[out->len++] = (uint8_t)hex[ch >> 4];
			out->p[out->len++] = (uint8_t)hex[ch & 15];
		}
	}
	return 0;
}

/* ---- base64 ----------------------------------------------------------------------------- */

int grpc_base64_encode(const uint8_t *in, size_t len, struct pb_buf *out)
{
	return pb_b64_encode(out, in, len);
}

int grpc_base64_decode(const char *in, size_t len, struct pb_buf *out)
{
	uint32_t acc = 0;
	int bits = 0;

	while (len && (in[len - 1] == '=' || in[len - 1] == ' '))
		len--;
	if (reserve(out, len / 4 * 3 + 3) != 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = pb_b64_value((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->p[out->len++] = (uint8_t)(acc >> bits);
		}
	}
	return 0;
}

/* ---- protobuf by hand ------------------------------------------------------------------ */

int grpc_pb_varint(struct pb_buf *b, uint64_t v)
{
	if (reserve(b, 10) != 0)
		return -1;
	do {
		uint8_t byte = v & 0x7f;

		v >>= 7;
		b->p[b->len++] = byte | (v ? 0x80 : 0);
	} while (v);
	return 0;
}

int grpc_pb_bytes(struct pb_buf *b, unsigned field, const void *p, size_t len)
{
	if (grpc_pb_varint(b, (uint64_t)field << 3 | 2) != 0 || grpc_pb_varint(b, len) != 0 ||
	    reserve(b, len) != 0)
		return -1;
	if (len)
		memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

int grpc_pb_uint(struct pb_buf *b, unsigned field, uint64_t v)
{
	return grpc_pb_varint(b, (uint64_t)field << 3) != 0 || grpc_pb_varint(b, v) != 0 ? -1 : 0;
}

static int read_varint(const uint8_t *d, size_t len, size_t *pos, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t byte;

		if (*pos >= len)
			return -1;
		byte = d[(*pos)++];
		r |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

int grpc_pb_next(const uint8_t *data, size_t len, size_t *pos, struct grpc_pb_field *f)
{
	uint64_t key;

	if (*pos >= len)
		return 0;
	if (read_varint(data, len, pos, &key) != 0 || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
		return -1;
	f->num = (unsigned)(key >> 3);
	f->type = (unsigned)(key & 7);
	f->p = NULL;
	f->len = 0;
	f->u = 0;
	switch (f->type) {
	case 0:
		return read_varint(data, len, pos, &f->u) == 0 ? 1 : -1;
	case 1:
		if (len - *pos < 8)
			return -1;
		f->p = data + *pos;
		f->len = 8;
		*pos += 8;
		return 1;
	case 5:
		if (len - *pos < 4)
			return -1;
		f->p = data + *pos;
		f->len = 4;
		*pos += 4;
		return 1;
	case 2:
		if (read_varint(data, len, pos, &f->u) != 0 || f->u > len - *pos)
			return -1;
		f->p = data + *pos;
		f->len = (size_t)f->u;
		*pos += f->len;
		return 1;
	default:
		return -1;
	}
}

int grpc_status_proto(int code, const char *msg, size_t msglen, const pt_str_t *details,
                      unsigned ndetails, struct pb_buf *out)
{
	if (code && grpc_pb_uint(out, 1, (uint64_t)code) != 0)
		return -1;
	if (msglen && grpc_pb_bytes(out, 2, msg, msglen) != 0)
		return -1;
	for (unsigned i = 0; i < ndetails; i++) {
		struct pb_buf any = { 0 };
		int rc = grpc_pb_bytes(&any, 1, details[2 * i].ptr, details[2 * i].len) != 0 ||
		         grpc_pb_bytes(&any, 2, details[2 * i + 1].ptr, details[2 * i + 1].len) != 0 ||
		         grpc_pb_bytes(out, 3, any.p, any.len) != 0;

		free(any.p);
		if (rc)
			return -1;
	}
	return 0;
}

/* ---- length-prefixed messages in ---------------------------------------------------------- */

int grpc_deframe(struct grpc_deframer *d, const uint8_t *data, size_t len, size_t max,
                 grpc_msg_fn fn, void *ud)
{
	while (len) {
		size_t k;

		if (d->hdr_have < 5) {
			k = 5 - d->hdr_have < len ? 5 - d->hdr_have : len;
			memcpy(d->hdr + d->hdr_have, data, k);
			d->hdr_have += k;
			data += k;
			len -= k;
			if (d->hdr_have < 5)
				break;
			d->need = (size_t)d->hdr[1] << 24 | (size_t)d->hdr[2] << 16 |
			          (size_t)d->hdr[3] << 8 | d->hdr[4];
			if (d->hdr[0] > 1)
				return GRPC_DEFRAME_FLAGS;
			if (d->need > max)
				return GRPC_DEFRAME_TOO_LARGE;
			d->cur.len = 0;
			if (d->need == 0) {
				d->hdr_have = 0;
				if (fn(ud, d->hdr[0], (const uint8_t *)"", 0) != 0)
					return GRPC_DEFRAME_STOPPED;
			}
			continue;
		}
		if (d->cur.len == 0 && len >= d->need) {
			/* all there: straight from DATA */
			k = d->need;
			d->hdr_have = 0;
			if (fn(ud, d->hdr[0], data, k) != 0)
				return GRPC_DEFRAME_STOPPED;
			data += k;
			len -= k;
			continue;
		}
		k = d->need - d->cur.len < len ? d->need - d->cur.len : len;
		if (pb_buf_add(&d->cur, data, k) != 0)
			return GRPC_DEFRAME_NOMEM;
		data += k;
		len -= k;
		if (d->cur.len == d->need) {
			d->hdr_have = 0;
			d->cur.len = 0;   /* the bytes stay until the next message's first */
			if (fn(ud, d->hdr[0], d->cur.p, d->need) != 0)
				return GRPC_DEFRAME_STOPPED;
		}
	}
	return 0;
}
