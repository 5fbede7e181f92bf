/*
 * store_redis.h - the Redis store's scripts (store_redis_lua.c), shared by
 * the store (store_redis.c). Each script runs atomically inside Redis.
 *
 * Keys, under the prefix P (opts.redis_prefix, "portico:webhook:"):
 *   P stream            the queue: entries { job = <id> }, consumer group "portico"
 *   P job:<id>          a hash: the job (body binary-safe) and its state
 *   P attempts:<id>     a list: the last 100 attempts (JSON), newest first
 *   P dedup:<kind>:<source>:<event_id>   the job id, expires after dedup_ttl
 *   P seq               the last job id (INCR)
 *   P jobs              a sorted set: job ids by received_at (ms), the last retention
 *   P retry             a sorted set: retrying job ids by due time (Redis clock, ms)
 *   P dead              a sorted set: dead job ids by time of death
 */
#ifndef PORTICO_WH_STORE_REDIS_H
#define PORTICO_WH_STORE_REDIS_H

/* KEYS: dedup, seq, stream, jobs. ARGV: prefix, dedup_ttl_s, kind, source,
 * event_id, type, body, headers, meta, received_at_ms, max, base, cap,
 * ordered. Returns { 0, id } (stored) or { 1, id } (duplicate). */
extern const char wh_redis_put_lua[];

/* KEYS: stream, retry. ARGV: prefix, group, consumer, count, claim_idle_ms,
 * claim cursor ("" = no claiming this time), create group ("1"/"0"),
 * retention_s, maintenance ("1"/"0"). Returns { cursor, job, job, ... },
 * each job { sid, id, attempt, kind, source, event_id, type, body, headers,
 * meta, received_at, max, base, cap, ordered }. */
extern const char wh_redis_fetch_lua[];

/* KEYS: stream, retry, dead. ARGV: prefix, group, sid, id, outcome ("done",
 * "retry", "dead"), delay_ms, attempt, status, error, retention_s,
 * consumer. Returns 1, or 0 when the entry was no longer pending (another
 * consumer took it over and finished it). */
extern const char wh_redis_finish_lua[];

/* KEYS: stream. ARGV: group, consumer, sid... Resets the idle time of the
 * entries this consumer is running, so no one claims them. */
extern const char wh_redis_beat_lua[];

#endif
