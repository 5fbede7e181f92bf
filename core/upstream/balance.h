/*
 * balance.h - `balance = "hash(...)"`: the key a request is hashed on, and
 * rendezvous (highest random weight) hashing to pick a server for it.
 *
 * Rendezvous hashing scores every server against the key and takes the
 * highest score: the same key goes to the same server, a server that leaves
 * moves only its own keys (about 1/N of them) and an ejected one is skipped
 * by taking the next-highest score. It needs no ring to build or store and
 * costs one hash per server per pick, which is cheap for the tens of
 * servers an upstream holds.
 */
#ifndef PT_UPSTREAM_BALANCE_H
#define PT_UPSTREAM_BALANCE_H

#include <stddef.h>
#include <stdint.h>

#include "portico/types.h"
#include "conf.h"

/* A 64-bit hash of P/N (FNV-1a, then a finaliser that spreads every bit). */
uint64_t balance_hash(const void *p, size_t n);

/* The score of the server whose balance_hash is SERVER for KEY's hash. */
uint64_t balance_score(uint64_t key, uint64_t server);

/*
 * Finds the key U hashes on among the request's HEADERS (NUM_HEADERS name,
 * value pairs; names compared without case) and PATH (with its query).
 * hash(ip) takes the last X-Forwarded-For entry: the proxy appends the
 * client's address there. Fills KEY (borrowed from the request) and returns
 * 0, or -1 when the request has no such key (the caller falls back to round
 * robin).
 */
int balance_key(const struct upstream_conf *u, const pt_str_t *headers, unsigned num_headers,
                pt_str_t path, pt_str_t *key);

#endif
