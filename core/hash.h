/* hash.h - the 64-bit hashing the core shares (shared dictionary shards,
 * upstream hash balancing): FNV-1a over the bytes, then murmur3's
 * finalizer so that every input bit reaches every output bit. */
#ifndef PT_HASH_H
#define PT_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t hash_fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* FNV-1a of P[0..N) starting from BASIS ^ SEED, not yet finalized. */
static inline uint64_t hash_fnv1a(uint64_t seed, const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#endif
