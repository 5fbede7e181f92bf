/*
 * web_text.c - base64 read in pieces, for application/grpc-web-text
 * request bodies: each piece may end on any character and may be padded
 * on its own ("AAA=BBBB"), as clients that encode each write send them.
 * Pure C (adapt.h declares it; tests/unit/test_grpc_transcode.c tests it).
 */
#include "adapt.h"

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* A full group of 4 (with '=' as 64). 0 or -1. */
static int group(struct b64s *s, struct pb_buf *out)
{
	uint8_t b[3];
	unsigned n = 3;

	if (s->q[0] == 64 || s->q[1] == 64 || (s->q[2] == 64 && s->q[3] != 64))
		return -1;
	if (s->q[3] == 64)
		n = s->q[2] == 64 ? 1 : 2;
	b[0] = (uint8_t)(s->q[0] << 2 | s->q[1] >> 4);
	b[1] = (uint8_t)((s->q[1] & 15) << 4 | (s->q[2] & 63) >> 2);
	b[2] = (uint8_t)((s->q[2] & 3) << 6 | (s->q[3] & 63));
	s->nq = 0;
	return pb_buf_add(out, b, n);
}

int b64s_feed(struct b64s *s, const char *in, size_t len, struct pb_buf *out)
{
	for (size_t i = 0; i < len; i++, s->at++) {
		int c = (unsigned char)in[i], v;

		if (c == ' ' || c == '\r' || c == '\n' || c == '\t')
			continue;
		if (c == '=')
			v = 64;
		else if ((v = b64val(c)) < 0)
			return -1;
		else if (s->nq && s->q[s->nq - 1] == 64)
			return -1;   /* a letter after '=' in the same group */
		s->q[s->nq++] = (uint8_t)v;
		if (s->nq == 4 && group(s, out) != 0)
			return -1;
	}
	return 0;
}

int b64s_end(struct b64s *s, struct pb_buf *out)
{
	if (s->nq == 0)
		return 0;
	if (s->nq == 1)
		return -1;
	/* unpadded end: pad it */
	for (unsigned i = s->nq; i < 4; i++)
		s->q[i] = 64;
	s->nq = 4;
	return group(s, out);
}
