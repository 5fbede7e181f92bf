/* swar.h - word-at-a-time byte scans the HTTP/1.x parsers share: eight bytes
 * are tested at once while none can be a control byte, and the caller's exact
 * per-byte check decides from the first word that might hold one. */
#ifndef PT_SWAR_H
#define PT_SWAR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SWAR_ONES 0x0101010101010101ull
#define SWAR_HIGHS 0x8080808080808080ull

/* The offset, from P on, of the first 8-byte word of S[P..END) that may hold
 * a byte below 0x20 or DEL (borrows can flag a good word; bytes >= 0x80 never
 * flag), or the start of the tail shorter than a word. */
static inline size_t swar_skip_text(const char *s, size_t p, size_t end)
{
	while (end - p >= 8) {
		uint64_t x, d;

		memcpy(&x, s + p, 8);
		d = x ^ (0x7f * SWAR_ONES);
		if ((((x - 0x20 * SWAR_ONES) & ~x) | ((d - SWAR_ONES) & ~d)) & SWAR_HIGHS)
			break;
		p += 8;
	}
	return p;
}

/* The same, for a byte below LOW (at most 0x80) only. */
static inline size_t swar_skip_below(const char *s, size_t p, size_t end, unsigned char low)
{
	while (end - p >= 8) {
		uint64_t x;

		memcpy(&x, s + p, 8);
		if ((x - low * SWAR_ONES) & ~x & SWAR_HIGHS)
			break;
		p += 8;
	}
	return p;
}

#endif
