/*
 * shared_dict.h - a key/value dictionary shared by all worker threads, and
 * its `shared` Lua binding.
 *
 * Keys are byte strings (1..65535 bytes); values are strings, numbers
 * (doubles) or booleans, each entry tagged with its type. Every function is
 * thread-safe: the dictionary is split into up to 64 shards, each behind its
 * own mutex, chosen by a seeded hash of the key.
 *
 * Time is the caller's: each call takes NOW in seconds on any monotonic
 * clock (the Lua binding uses CLOCK_MONOTONIC), and a TTL of 0 means the
 * entry never expires. Expired entries vanish lazily when touched, when room
 * is needed, or in shared_dict_flush_expired.
 *
 * Limits: MAX_KEYS and MAX_BYTES (0 = unlimited) are split evenly between
 * the shards, and fewer shards are used when the limits are small (every
 * shard gets at least 16 keys and 64 KiB), so a small dictionary is exact
 * and a large one may start evicting in a busy shard slightly before the
 * global totals are reached. An entry is charged SHARED_DICT_ENTRY_OVERHEAD
 * plus its key and value bytes. When a store needs room, the shard first
 * drops its expired entries, then evicts least-recently-used ones (reads and
 * writes both count as use). A single entry larger than a shard's byte
 * budget is refused with PT_ELIMIT.
 */
#ifndef PT_SHARED_DICT_H
#define PT_SHARED_DICT_H

#include <stddef.h>

#include "portico/types.h"

struct lua_State;
struct shared_dict;

enum shared_type {
	SHARED_STRING = 1,
	SHARED_NUMBER = 2,
	SHARED_BOOLEAN = 3,
};

/*
 * A typed value. For a store, STR[0..LEN) is borrowed for the call. For a
 * fetch, STR points into the caller's buffer. NUM holds numbers, and
 * booleans as 0 or 1.
 */
struct shared_value {
	enum shared_type type;
	double num;
	const char *str;
	size_t len;
};

/* Flag for shared_dict_store: fail with PT_EEXIST when a live entry exists. */
#define SHARED_DICT_ADD 1u

#define SHARED_DICT_MAX_KEY 65535
/* Bytes charged per entry besides its key and value (header and NUL). */
#define SHARED_DICT_ENTRY_OVERHEAD 96

/* A new empty dictionary, owned by the caller (shared_dict_free), or NULL
 * when out of memory. */
struct shared_dict *shared_dict_new(size_t max_bytes, unsigned max_keys);
/* Frees D and every entry; no other thread may be using D. NULL is fine. */
void shared_dict_free(struct shared_dict *d);

/*
 * The string stored under KEY[0..KLEN), as a NUL-terminated malloc'd copy in
 * *VAL (the caller frees it) with its length in *VLEN. Returns 0, PT_ENOENT
 * (absent or expired), PT_ETYPE (the value is a number or boolean: use
 * shared_dict_fetch), PT_EINVAL (bad key) or PT_ENOMEM.
 */
int shared_dict_get(struct shared_dict *d, const char *key, size_t klen,
                    char **val, size_t *vlen, double now);

/*
 * The value under KEY, any type, into *OUT. A string is copied NUL-terminated
 * into BUF[0..CAP) and OUT->str points there; when it does not fit, nothing is
 * copied and PT_ELIMIT is returned with OUT->type and OUT->len set so the
 * caller can retry with a buffer of OUT->len + 1 bytes. Returns 0,
 * PT_ENOENT, PT_EINVAL or PT_ELIMIT. Counts as a use for LRU.
 */
int shared_dict_fetch(struct shared_dict *d, const char *key, size_t klen,
                      struct shared_value *out, char *buf, size_t cap,
                      double now);

/* Store the string VAL[0..VLEN) (copied) under KEY; see shared_dict_store. */
int shared_dict_set(struct shared_dict *d, const char *key, size_t klen,
                    const char *val, size_t vlen, double ttl, double now);

/*
 * Store V (copied) under KEY, replacing any value, with TTL seconds to live
 * (0 = forever). FLAGS may hold SHARED_DICT_ADD. Returns 0, PT_EEXIST (ADD
 * and a live entry exists), PT_EINVAL (bad key, type or ttl), PT_ELIMIT (the
 * entry alone exceeds the shard's byte budget) or PT_ENOMEM; on failure the
 * old value is kept.
 */
int shared_dict_store(struct shared_dict *d, const char *key, size_t klen,
                      const struct shared_value *v, double ttl, double now,
                      unsigned flags);

/*
 * Atomically add BY to the number under KEY and put the result in *OUT. A
 * missing (or expired) key is created as INIT + BY with TTL seconds to live;
 * an existing key keeps its expiry. Returns 0, PT_ETYPE (the value is not a
 * number), PT_EINVAL, PT_ELIMIT or PT_ENOMEM.
 */
int shared_dict_incr(struct shared_dict *d, const char *key, size_t klen,
                     double by, double init, double ttl, double now,
                     double *out);

/* The outcome of shared_dict_rate. */
struct shared_rate {
	int allowed;
	double remaining;      /* whole requests left in the bucket */
	double reset;          /* seconds until the bucket is full again */
	double retry_after;    /* seconds until this request would pass (when refused) */
};

/*
 * A token bucket of BURST tokens refilled by one every INTERVAL seconds, as
 * GCRA: KEY holds one number, the time the bucket is full again, so a take
 * is a single atomic update under the shard lock. Takes COST tokens when
 * they are there (OUT->allowed), else takes nothing. Returns 0, PT_EINVAL,
 * PT_ETYPE (KEY holds something else) or PT_ENOMEM.
 */
int shared_dict_rate(struct shared_dict *d, const char *key, size_t klen, double interval,
                     double burst, double cost, double now, struct shared_rate *out);

/* Remove KEY. Returns 0, or PT_ENOENT when it was absent or expired. */
int shared_dict_delete(struct shared_dict *d, const char *key, size_t klen,
                       double now);

/* Seconds KEY has left in *REMAINING (0 = never expires). Returns 0 or
 * PT_ENOENT. Does not count as a use. */
int shared_dict_ttl(struct shared_dict *d, const char *key, size_t klen,
                    double now, double *remaining);

/* Entries held, including expired ones not yet dropped. */
size_t shared_dict_count(struct shared_dict *d);

/* Drop every entry expired at NOW; returns how many. Locks one shard at a
 * time, so it may run from a timer while workers use D. */
size_t shared_dict_flush_expired(struct shared_dict *d, double now);

/*
 * [-0, +1, m]  Push a table of functions bound to D (borrowed: D must outlive
 * every lua_State it is opened in); the caller names it, usually `shared`:
 *   shared.get(key)                    -> value | nil
 *   shared.set(key, value [, ttl])     -> true | nil, err   (value nil deletes)
 *   shared.add(key, value [, ttl])     -> true | false (present) | nil, err
 *   shared.incr(key, by [, init [, ttl]]) -> number | nil, err  (init 0)
 *   shared.delete(key)                 -> true | false (was absent)
 *   shared.ttl(key)                    -> seconds (0 = forever) | nil
 * Values are strings, numbers and booleans; a number that is integral and
 * fits comes back as a Lua integer. Storing a table or function raises.
 */
void lua_shared_open(struct lua_State *L, struct shared_dict *d);

#endif
