/*
 * store_redis_lua.c - the Redis store's scripts (see store_redis.h for
 * their keys and arguments). Each is one EVALSHA: atomic, so concurrent
 * instances never see a half-stored job, never both take the same entry,
 * and a retry moves back into the stream exactly once.
 *
 * Times are Redis's (TIME), so instances with skewed clocks still agree on
 * when a retry is due and how long an entry has been idle.
 */
#include "store_redis.h"

#define NOW_MS \
	"local t = redis.call('TIME')\n" \
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* An attempt into P attempts:<id>: newest first, the last 100, expiring with
 * the job's retention. */
#define RECORD \
	"local function record_(P, id, n, outcome, status, err, consumer, ret)\n" \
	"  local k = P .. 'attempts:' .. id\n" \
	"  redis.call('LPUSH', k, cjson.encode({ attempt = n, at = now, outcome = outcome,\n" \
	"                                       status = status, error = err, consumer = consumer }))\n" \
	"  redis.call('LTRIM', k, 0, 99)\n" \
	"  redis.call('EXPIRE', k, ret)\n" \
	"end\n" \
	"local function record(...) pcall(record_, ...) end\n"

/* The dedup key is read first: when it exists the event is a duplicate and
 * nothing is written. It is set last, after every write that can fail (a
 * script is not rolled back when a command fails midway): a job is queued
 * exactly when its dedup key exists, so a failed put (503) leaves nothing a
 * retry would take for a duplicate. */
const char wh_redis_put_lua[] =
	"if redis.call('EXISTS', KEYS[1]) == 1 then\n"
	"  local v = redis.pcall('GET', KEYS[1])\n"
	"  return { 1, type(v) == 'string' and v or '' }\n"
	"end\n"
	"local id = redis.call('INCR', KEYS[2])\n"
	"local job = ARGV[1] .. 'job:' .. id\n"
	"redis.call('HSET', job, 'kind', ARGV[3], 'source', ARGV[4],\n"
	"           'event_id', ARGV[5], 'type', ARGV[6], 'body', ARGV[7], 'headers', ARGV[8],\n"
	"           'meta', ARGV[9], 'received_at', ARGV[10], 'max', ARGV[11], 'base', ARGV[12],\n"
	"           'cap', ARGV[13], 'ordered', ARGV[14], 'state', 'received', 'attempts', 0,\n"
	"           'updated_at', ARGV[10], 'error', '')\n"
	"redis.call('ZADD', KEYS[4], ARGV[10], id)\n"
	"redis.call('HSET', job, 'sid', redis.call('XADD', KEYS[3], '*', 'job', id))\n"
	"redis.call('SET', KEYS[1], id, 'EX', ARGV[2])\n"
	"return { 0, id }\n";

/*
 * One poll of one worker: due retries back into the stream, entries idle
 * past claim_idle_ms taken over (their consumer's instance died or lost
 * Redis: that run counts as an attempt, and the job is dead when it was the
 * last), then new entries. Each job is returned with its fields and marked
 * processing.
 */
const char wh_redis_fetch_lua[] =
	NOW_MS
	RECORD
	"local S, P, G, C = KEYS[1], ARGV[1], ARGV[2], ARGV[3]\n"
	"local n, ret = tonumber(ARGV[4]), ARGV[8]\n"
	"if ARGV[7] == '1' then\n"
	/* '0', not '$': entries added before the group existed are delivered too
	 * (the stream holds only unfinished jobs) */
	"  local r = redis.pcall('XGROUP', 'CREATE', S, G, '0', 'MKSTREAM')\n"
	"  if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP', 1, true) then\n"
	"    return redis.error_reply(r.err)\n"
	"  end\n"
	"end\n"
	"for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)) do\n"
	"  redis.call('ZREM', KEYS[2], id)\n"
	"  local job = P .. 'job:' .. id\n"
	"  if redis.call('HGET', job, 'state') == 'retrying' then\n"
	"    redis.call('HSET', job, 'sid', redis.call('XADD', S, '*', 'job', id))\n"
	"  end\n"
	"end\n"
	"if ARGV[9] == '1' then\n"
	"  local old = now - tonumber(ret) * 1000\n"
	"  redis.call('ZREMRANGEBYSCORE', P .. 'jobs', '-inf', old)\n"
	"  redis.call('ZREMRANGEBYSCORE', P .. 'dead', '-inf', old)\n"
	/* consumers of instances long gone: nothing pending, silent an hour */
	"  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', S, G)) do\n"
	"    local f = {}\n"
	"    for i = 1, #c, 2 do f[c[i]] = c[i + 1] end\n"
	"    if f.pending == 0 and f.idle and f.idle > 3600000 and f.name ~= C then\n"
	"      redis.call('XGROUP', 'DELCONSUMER', S, G, f.name)\n"
	"    end\n"
	"  end\n"
	"end\n"
	"local out = { '' }\n"
	"local function take(sid, fields, claimed)\n"
	"  local id\n"
	"  if type(fields) == 'table' then\n"
	"    for i = 1, #fields, 2 do if fields[i] == 'job' then id = fields[i + 1] end end\n"
	"  end\n"
	"  local job = P .. 'job:' .. (id or '')\n"
	"  local v = redis.call('HMGET', job, 'attempts', 'max', 'kind', 'source', 'event_id',\n"
	"                       'type', 'body', 'headers', 'meta', 'received_at', 'base', 'cap',\n"
	"                       'ordered', 'state')\n"
	"  if not id or not v[2] or v[14] == 'done' or v[14] == 'dead' then\n"
	"    redis.call('XACK', S, G, sid)\n"
	"    redis.call('XDEL', S, sid)\n"
	"    return\n"
	"  end\n"
	"  local attempts = tonumber(v[1]) or 0\n"
	"  if claimed then\n"
	"    attempts = attempts + 1\n"
	"    local why = 'claimed by ' .. C .. ': its consumer went silent'\n"
	"    record(P, id, attempts, 'lost', 0, why, C, ret)\n"
	"    redis.call('HSET', job, 'attempts', attempts, 'error', why, 'updated_at', now)\n"
	"    if attempts >= tonumber(v[2]) then\n"
	"      redis.call('XACK', S, G, sid)\n"
	"      redis.call('XDEL', S, sid)\n"
	"      redis.call('HSET', job, 'state', 'dead', 'sid', '')\n"
	"      redis.call('ZADD', P .. 'dead', now, id)\n"
	"      redis.call('EXPIRE', job, ret)\n"
	"      return\n"
	"    end\n"
	"  end\n"
	"  redis.call('HSET', job, 'state', 'processing', 'updated_at', now, 'consumer', C, 'sid', sid)\n"
	"  out[#out + 1] = { sid, id, attempts + 1, v[3], v[4], v[5], v[6], v[7], v[8], v[9],\n"
	"                    v[10], v[2], v[11], v[12], v[13] }\n"
	"end\n"
	"if ARGV[6] ~= '' and n > 0 then\n"
	"  local r = redis.call('XAUTOCLAIM', S, G, C, ARGV[5], ARGV[6], 'COUNT', n)\n"
	"  out[1] = r[1]\n"
	"  for _, e in ipairs(r[2]) do take(e[1], e[2], true) end\n"
	"end\n"
	"local m = n - (#out - 1)\n"
	"if m > 0 then\n"
	"  local r = redis.call('XREADGROUP', 'GROUP', G, C, 'COUNT', m, 'STREAMS', S, '>')\n"
	"  if r then for _, e in ipairs(r[1][2]) do take(e[1], e[2], false) end end\n"
	"end\n"
	"return out\n";

/* The outcome is written first and the entry acknowledged last, so a
 * failing command leaves the entry pending (run again after claim_idle)
 * rather than a job acknowledged and never moved. */
const char wh_redis_finish_lua[] =
	NOW_MS
	RECORD
	"local S, P, G, sid, id, outcome = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
	"local ret, job = ARGV[10], ARGV[1] .. 'job:' .. ARGV[4]\n"
	"record(P, id, tonumber(ARGV[7]), outcome, tonumber(ARGV[8]), ARGV[9], ARGV[11], ret)\n"
	"local function ack() redis.call('XACK', S, G, sid); redis.call('XDEL', S, sid) end\n"
	/* no longer pending: another consumer took it over and finished it */
	"if #redis.call('XPENDING', S, G, sid, sid, 1) == 0 or\n"
	"   redis.call('EXISTS', job) == 0 then\n"
	"  ack()\n"
	"  return 0\n"
	"end\n"
	"redis.call('HSET', job, 'attempts', ARGV[7], 'updated_at', now, 'error', ARGV[9],\n"
	"           'status', ARGV[8], 'sid', '')\n"
	"if outcome == 'done' then\n"
	"  redis.call('HSET', job, 'state', 'done')\n"
	"  redis.call('EXPIRE', job, ret)\n"
	"elseif outcome == 'retry' then\n"
	"  local at = now + tonumber(ARGV[6])\n"
	"  redis.call('ZADD', KEYS[2], at, id)\n"
	"  redis.call('HSET', job, 'state', 'retrying', 'next_at', at)\n"
	"else\n"
	"  redis.call('ZADD', KEYS[3], now, id)\n"
	"  redis.call('HSET', job, 'state', 'dead')\n"
	"  redis.call('EXPIRE', job, ret)\n"
	"end\n"
	"ack()\n"
	"return 1\n";

const char wh_redis_beat_lua[] =
	"local a = { KEYS[1], ARGV[1], ARGV[2], 0 }\n"
	"for i = 3, #ARGV do a[#a + 1] = ARGV[i] end\n"
	"a[#a + 1] = 'JUSTID'\n"
	"return #redis.call('XCLAIM', unpack(a))\n";
