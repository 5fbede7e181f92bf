/* shared_dict.c - thread-safe sharded dictionary and its Lua binding; see
 * shared_dict.h. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "shared_dict.h"
#include "hash.h"

#define MAX_SHARDS 64
#define MIN_SHARD_KEYS 16
#define MIN_SHARD_BYTES (64 * 1024)
#define FIRST_BUCKETS 16

struct entry {
	struct entry *hnext;          /* hash chain */
	struct entry *lprev, *lnext;  /* LRU list, most recent at the head */
	uint64_t hash;
	double expires;               /* 0 = never */
	double num;
	size_t klen, vlen;
	enum shared_type type;
	char data[];                  /* key, value, NUL */
};

struct shard {
	pthread_mutex_t lock;
	struct entry **buckets;
	size_t nbuckets;              /* a power of two */
	size_t count, bytes;
	size_t max_keys, max_bytes;   /* this shard's share; 0 = unlimited */
	struct entry *head, *tail;
	double next_expiry;           /* <= every expiry here; 0 = none known */
} __attribute__((aligned(64)));

struct shared_dict {
	unsigned nshards;             /* a power of two */
	uint64_t seed;
	struct shard *shards;
};

/* Seeded FNV-1a with a murmur3 finalizer: the seed keeps clients from
 * choosing keys that collide in every process. */
static uint64_t hash_key(uint64_t seed, const char *key, size_t klen)
{
	return hash_fmix64(hash_fnv1a(seed, key, klen));
}

static uint64_t make_seed(void *salt)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return hash_key((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32),
	                (const char *)&salt, sizeof(salt));
}

struct shared_dict *shared_dict_new(size_t max_bytes, unsigned max_keys)
{
	struct shared_dict *d;
	unsigned n = MAX_SHARDS;

	while (n > 1 && ((max_keys && max_keys / n < MIN_SHARD_KEYS) ||
	                 (max_bytes && max_bytes / n < MIN_SHARD_BYTES)))
		n /= 2;
	if (!(d = calloc(1, sizeof(*d))))
		return NULL;
	if (posix_memalign((void **)&d->shards, 64, n * sizeof(struct shard))) {
		free(d);
		return NULL;
	}
	memset(d->shards, 0, n * sizeof(struct shard));
	d->nshards = n;
	d->seed = make_seed(d);
	for (unsigned i = 0; i < n; i++) {
		struct shard *s = &d->shards[i];

		s->max_keys = max_keys / n + (i < max_keys % n);
		s->max_bytes = max_bytes / n + (i < max_bytes % n);
		s->nbuckets = FIRST_BUCKETS;
		s->buckets = calloc(FIRST_BUCKETS, sizeof(*s->buckets));
		if (!s->buckets || pthread_mutex_init(&s->lock, NULL)) {
			free(s->buckets);
			while (i--) {
				free(d->shards[i].buckets);
				pthread_mutex_destroy(&d->shards[i].lock);
			}
			free(d->shards);
			free(d);
			return NULL;
		}
	}
	return d;
}

void shared_dict_free(struct shared_dict *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->nshards; i++) {
		struct shard *s = &d->shards[i];
		struct entry *e, *next;

		for (e = s->head; e; e = next) {
			next = e->lnext;
			free(e);
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	free(d->shards);
	free(d);
}

static size_t entry_cost(size_t klen, size_t vlen)
{
	return SHARED_DICT_ENTRY_OVERHEAD + klen + vlen;
}

static int expired(const struct entry *e, double now)
{
	return e->expires != 0 && now >= e->expires;
}

static struct shard *shard_of(struct shared_dict *d, uint64_t h)
{
	return &d->shards[(h >> 58) & (d->nshards - 1)];
}

static void lru_unlink(struct shard *s, struct entry *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		s->head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		s->tail = e->lprev;
}

static void lru_push(struct shard *s, struct entry *e)
{
	e->lprev = NULL;
	e->lnext = s->head;
	if (s->head)
		s->head->lprev = e;
	else
		s->tail = e;
	s->head = e;
}

/* The link pointing at KEY's entry (expired or not), or NULL. */
static struct entry **find(struct shard *s, uint64_t h, const char *key,
                           size_t klen)
{
	struct entry **pp = &s->buckets[h & (s->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		struct entry *e = *pp;

		if (e->hash == h && e->klen == klen &&
		    !memcmp(e->data, key, klen))
			return pp;
	}
	return NULL;
}

/* Unlink and free the entry *PP points at. */
static void drop(struct shard *s, struct entry **pp)
{
	struct entry *e = *pp;

	*pp = e->hnext;
	lru_unlink(s, e);
	s->count--;
	s->bytes -= entry_cost(e->klen, e->vlen);
	free(e);
}

/* Like drop, for an entry whose link is unknown. */
static void drop_entry(struct shard *s, struct entry *e)
{
	struct entry **pp = &s->buckets[e->hash & (s->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	drop(s, pp);
}

/* The live entry for KEY, made most recent when TOUCH; an expired one is
 * dropped on the way. */
static struct entry *lookup(struct shard *s, uint64_t h, const char *key,
                            size_t klen, double now, int touch)
{
	struct entry **pp = find(s, h, key, klen);

	if (!pp)
		return NULL;
	if (expired(*pp, now)) {
		drop(s, pp);
		return NULL;
	}
	if (touch && s->head != *pp) {
		lru_unlink(s, *pp);
		lru_push(s, *pp);
	}
	return *pp;
}

/* Drop every expired entry in S and recompute next_expiry. */
static size_t sweep(struct shard *s, double now)
{
	struct entry *e, *next;
	double min = 0;
	size_t n = 0;

	for (e = s->head; e; e = next) {
		next = e->lnext;
		if (expired(e, now)) {
			drop_entry(s, e);
			n++;
		} else if (e->expires && (!min || e->expires < min)) {
			min = e->expires;
		}
	}
	s->next_expiry = min;
	return n;
}

static int over(const struct shard *s, size_t cost)
{
	return (s->max_keys && s->count + 1 > s->max_keys) ||
	       (s->max_bytes && s->bytes + cost > s->max_bytes);
}

/* Make room for one more entry of COST bytes: expired entries first, then
 * from the LRU tail. The caller has checked COST fits an empty shard. */
static void make_room(struct shard *s, size_t cost, double now)
{
	if (!over(s, cost))
		return;
	if (s->next_expiry && now >= s->next_expiry)
		sweep(s, now);
	while (over(s, cost) && s->tail)
		drop_entry(s, s->tail);
}

/* Double the bucket array when the load passes 1; on failure keep going
 * with longer chains. */
static void maybe_grow(struct shard *s)
{
	size_t nb = s->nbuckets * 2;
	struct entry **b, *e;

	if (s->count <= s->nbuckets || nb > SIZE_MAX / sizeof(*b))
		return;
	if (!(b = calloc(nb, sizeof(*b))))
		return;
	for (e = s->head; e; e = e->lnext) {
		struct entry **slot = &b[e->hash & (nb - 1)];

		e->hnext = *slot;
		*slot = e;
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = nb;
}

/* Link the new entry E (not yet in S) as the most recent. */
static void insert(struct shard *s, struct entry *e, double now)
{
	struct entry **slot;

	make_room(s, entry_cost(e->klen, e->vlen), now);
	slot = &s->buckets[e->hash & (s->nbuckets - 1)];
	e->hnext = *slot;
	*slot = e;
	lru_push(s, e);
	s->count++;
	s->bytes += entry_cost(e->klen, e->vlen);
	if (e->expires && (!s->next_expiry || e->expires < s->next_expiry))
		s->next_expiry = e->expires;
	maybe_grow(s);
}

static int key_ok(const char *key, size_t klen)
{
	return key && klen && klen <= SHARED_DICT_MAX_KEY;
}

/* 0 and the absolute expiry in *EXPIRES, or PT_EINVAL for a bad TTL. */
static int expiry(double ttl, double now, double *expires)
{
	if (!(ttl >= 0) || isinf(ttl))
		return PT_EINVAL;
	*expires = ttl > 0 ? now + ttl : 0;
	if (ttl > 0 && *expires == 0)
		*expires = ttl;  /* keep 0 meaning "never" */
	return 0;
}

/* A new unlinked entry holding KEY and V, or NULL when out of memory. */
static struct entry *entry_new(uint64_t h, const char *key, size_t klen,
                               const struct shared_value *v, double expires)
{
	size_t vlen = v->type == SHARED_STRING ? v->len : 0;
	struct entry *e = malloc(sizeof(*e) + klen + vlen + 1);

	if (!e)
		return NULL;
	e->hash = h;
	e->expires = expires;
	e->type = v->type;
	e->num = v->type == SHARED_BOOLEAN ? (v->num != 0) : v->num;
	e->klen = klen;
	e->vlen = vlen;
	memcpy(e->data, key, klen);
	if (vlen)
		memcpy(e->data + klen, v->str, vlen);
	e->data[klen + vlen] = '\0';
	return e;
}

int shared_dict_store(struct shared_dict *d, const char *key, size_t klen,
                      const struct shared_value *v, double ttl, double now,
                      unsigned flags)
{
	struct entry *e, *old;
	struct shard *s;
	double expires;
	uint64_t h;
	size_t cost;

	if (!key_ok(key, klen) || !v || expiry(ttl, now, &expires))
		return PT_EINVAL;
	if (v->type != SHARED_STRING && v->type != SHARED_NUMBER &&
	    v->type != SHARED_BOOLEAN)
		return PT_EINVAL;
	if (v->type == SHARED_STRING && !v->str && v->len)
		return PT_EINVAL;
	h = hash_key(d->seed, key, klen);
	s = shard_of(d, h);
	cost = entry_cost(klen, v->type == SHARED_STRING ? v->len : 0);
	if (s->max_bytes && cost > s->max_bytes)
		return PT_ELIMIT;
	/* allocate before locking and before touching the old value, so a
	 * failure leaves the dictionary as it was */
	if (!(e = entry_new(h, key, klen, v, expires)))
		return PT_ENOMEM;
	pthread_mutex_lock(&s->lock);
	old = lookup(s, h, key, klen, now, 0);
	if (old && (flags & SHARED_DICT_ADD)) {
		pthread_mutex_unlock(&s->lock);
		free(e);
		return PT_EEXIST;
	}
	if (old)
		drop_entry(s, old);
	insert(s, e, now);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int shared_dict_set(struct shared_dict *d, const char *key, size_t klen,
                    const char *val, size_t vlen, double ttl, double now)
{
	struct shared_value v = { SHARED_STRING, 0, val, vlen };

	return shared_dict_store(d, key, klen, &v, ttl, now, 0);
}

int shared_dict_fetch(struct shared_dict *d, const char *key, size_t klen,
                      struct shared_value *out, char *buf, size_t cap,
                      double now)
{
	struct entry *e;
	struct shard *s;
	uint64_t h;
	int rc = 0;

	if (!key_ok(key, klen) || !out)
		return PT_EINVAL;
	h = hash_key(d->seed, key, klen);
	s = shard_of(d, h);
	pthread_mutex_lock(&s->lock);
	if (!(e = lookup(s, h, key, klen, now, 1))) {
		rc = PT_ENOENT;
	} else {
		out->type = e->type;
		out->num = e->num;
		out->len = e->vlen;
		out->str = NULL;
		if (e->type == SHARED_STRING) {
			if (!buf || e->vlen >= cap) {
				rc = PT_ELIMIT;
			} else {
				memcpy(buf, e->data + e->klen, e->vlen + 1);
				out->str = buf;
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int shared_dict_get(struct shared_dict *d, const char *key, size_t klen,
                    char **val, size_t *vlen, double now)
{
	struct shared_value v;
	size_t cap = 64;
	char *buf = NULL, *nb;
	int rc;

	for (;;) {
		if (!(nb = realloc(buf, cap))) {
			free(buf);
			return PT_ENOMEM;
		}
		buf = nb;
		rc = shared_dict_fetch(d, key, klen, &v, buf, cap, now);
		if (rc == PT_ELIMIT && v.type == SHARED_STRING) {
			cap = v.len + 1;  /* it grew meanwhile: try again */
			continue;
		}
		break;
	}
	if (rc == 0 && v.type != SHARED_STRING)
		rc = PT_ETYPE;
	if (rc) {
		free(buf);
		return rc;
	}
	*val = buf;
	*vlen = v.len;
	return 0;
}

int shared_dict_incr(struct shared_dict *d, const char *key, size_t klen,
                     double by, double init, double ttl, double now,
                     double *out)
{
	struct shared_value v = { SHARED_NUMBER, init + by, NULL, 0 };
	struct entry *e, *fresh = NULL;
	struct shard *s;
	double expires;
	uint64_t h;

	if (!key_ok(key, klen) || expiry(ttl, now, &expires))
		return PT_EINVAL;
	h = hash_key(d->seed, key, klen);
	s = shard_of(d, h);
	if (s->max_bytes && entry_cost(klen, 0) > s->max_bytes)
		return PT_ELIMIT;
	pthread_mutex_lock(&s->lock);
	e = lookup(s, h, key, klen, now, 1);
	if (e) {
		if (e->type != SHARED_NUMBER) {
			pthread_mutex_unlock(&s->lock);
			return PT_ETYPE;
		}
		e->num += by;
		if (out)
			*out = e->num;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	/* rare path: allocate under the lock so creation stays atomic */
	if (!(fresh = entry_new(h, key, klen, &v, expires))) {
		pthread_mutex_unlock(&s->lock);
		return PT_ENOMEM;
	}
	insert(s, fresh, now);
	if (out)
		*out = v.num;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int shared_dict_rate(struct shared_dict *d, const char *key, size_t klen, double interval,
                     double burst, double cost, double now, struct shared_rate *out)
{
	struct shared_value v = { SHARED_NUMBER, 0, NULL, 0 };
	double tat, next, cap = burst * interval;
	struct entry *e;
	struct shard *s;
	uint64_t h;

	if (!key_ok(key, klen) || !(interval > 0) || !(burst >= 1) || !(cost >= 0))
		return PT_EINVAL;
	h = hash_key(d->seed, key, klen);
	s = shard_of(d, h);
	pthread_mutex_lock(&s->lock);
	e = lookup(s, h, key, klen, now, 1);
	if (e && e->type != SHARED_NUMBER) {
		pthread_mutex_unlock(&s->lock);
		return PT_ETYPE;
	}
	tat = e && e->num > now ? e->num : now;
	next = tat + cost * interval;
	out->allowed = next - now <= cap + 1e-9;
	if (out->allowed) {
		/* the entry lives until the bucket is full again */
		if (e) {
			e->num = next;
			e->expires = next + 1;
			if (!s->next_expiry || e->expires < s->next_expiry)
				s->next_expiry = e->expires;
		} else {
			v.num = next;
			if (!(e = entry_new(h, key, klen, &v, next + 1))) {
				pthread_mutex_unlock(&s->lock);
				return PT_ENOMEM;
			}
			insert(s, e, now);
		}
		tat = next;
	}
	pthread_mutex_unlock(&s->lock);
	out->remaining = (cap - (tat - now)) / interval;
	out->remaining = out->remaining < 0 ? 0 : (double)(long long)(out->remaining + 1e-9);
	out->reset = tat - now;
	out->retry_after = out->allowed ? 0 : next - now - cap;
	return 0;
}

int shared_dict_delete(struct shared_dict *d, const char *key, size_t klen,
                       double now)
{
	struct entry **pp;
	struct shard *s;
	uint64_t h;
	int rc = PT_ENOENT;

	if (!key_ok(key, klen))
		return PT_EINVAL;
	h = hash_key(d->seed, key, klen);
	s = shard_of(d, h);
	pthread_mutex_lock(&s->lock);
	if ((pp = find(s, h, key, klen))) {
		if (!expired(*pp, now))
			rc = 0;
		drop(s, pp);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int shared_dict_ttl(struct shared_dict *d, const char *key, size_t klen,
                    double now, double *remaining)
{
	struct entry *e;
	struct shard *s;
	uint64_t h;
	int rc = PT_ENOENT;

	if (!key_ok(key, klen))
		return PT_EINVAL;
	h = hash_key(d->seed, key, klen);
	s = shard_of(d, h);
	pthread_mutex_lock(&s->lock);
	if ((e = lookup(s, h, key, klen, now, 0))) {
		*remaining = e->expires ? e->expires - now : 0;
		rc = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

size_t shared_dict_count(struct shared_dict *d)
{
	size_t n = 0;

	for (unsigned i = 0; i < d->nshards; i++) {
		pthread_mutex_lock(&d->shards[i].lock);
		n += d->shards[i].count;
		pthread_mutex_unlock(&d->shards[i].lock);
	}
	return n;
}

size_t shared_dict_flush_expired(struct shared_dict *d, double now)
{
	size_t n = 0;

	for (unsigned i = 0; i < d->nshards; i++) {
		struct shard *s = &d->shards[i];

		pthread_mutex_lock(&s->lock);
		if (s->next_expiry && now >= s->next_expiry)
			n += sweep(s, now);
		pthread_mutex_unlock(&s->lock);
	}
	return n;
}

/* ---- Lua binding: every function has the dictionary as upvalue 1 ---- */

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct shared_dict *self(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* [-0, +0, v]  The key at arg 1 (a string), checked. */
static const char *check_key(lua_State *L, size_t *klen)
{
	const char *key = luaL_checklstring(L, 1, klen);

	luaL_argcheck(L, *klen > 0 && *klen <= SHARED_DICT_MAX_KEY, 1,
	              "key must be 1 to 65535 bytes");
	return key;
}

/* [-0, +0, v]  The TTL at ARG (default 0), checked. */
static double check_ttl(lua_State *L, int arg)
{
	double ttl = luaL_optnumber(L, arg, 0);

	luaL_argcheck(L, ttl >= 0 && !isinf(ttl), arg,
	              "ttl must be a finite number of seconds >= 0");
	return ttl;
}

/* [-0, +0, v]  The value at arg 2 as a shared_value (borrowing the string). */
static void check_value(lua_State *L, const char *fname,
                        struct shared_value *v)
{
	int t = lua_type(L, 2);

	switch (t) {
	case LUA_TSTRING:
		v->type = SHARED_STRING;
		v->str = lua_tolstring(L, 2, &v->len);
		v->num = 0;
		break;
	case LUA_TNUMBER:
		v->type = SHARED_NUMBER;
		v->num = lua_tonumber(L, 2);
		v->str = NULL;
		v->len = 0;
		break;
	case LUA_TBOOLEAN:
		v->type = SHARED_BOOLEAN;
		v->num = lua_toboolean(L, 2);
		v->str = NULL;
		v->len = 0;
		break;
	default:
		luaL_error(L, "%s: cannot store a %s; values are strings, numbers "
		           "or booleans (json.encode a table first)", fname,
		           luaL_typename(L, 2));
	}
}

/* [-0, +1, -]  A number, as an integer when it is integral and fits. */
static void push_number(lua_State *L, double n)
{
	lua_Integer i;

	if (n == floor(n) && lua_numbertointeger(n, &i))
		lua_pushinteger(L, i);
	else
		lua_pushnumber(L, n);
}

/* [-0, +2, -]  nil and a message for RC. */
static int push_fail(lua_State *L, int rc)
{
	const char *msg;

	switch (rc) {
	case PT_ENOMEM:
		msg = "out of memory";
		break;
	case PT_ELIMIT:
		msg = "value too large for the dictionary";
		break;
	case PT_ETYPE:
		msg = "not a number";
		break;
	case PT_EEXIST:
		msg = "exists";
		break;
	case PT_ENOENT:
		msg = "not found";
		break;
	default:
		msg = "invalid argument";
		break;
	}
	lua_pushnil(L);
	lua_pushstring(L, msg);
	return 2;
}

/* shared.get(key) -> value | nil   [-1, +1, m] */
static int l_get(lua_State *L)
{
	size_t klen, cap = LUAL_BUFFERSIZE;
	const char *key = check_key(L, &klen);
	struct shared_value v;
	double now = mono_now();
	luaL_Buffer b;
	char *p;
	int rc;

	/* copy straight into a Lua buffer: nothing raises under the lock and
	 * nothing malloc'd can leak if Lua raises */
	p = luaL_buffinitsize(L, &b, cap);
	while ((rc = shared_dict_fetch(self(L), key, klen, &v, p, cap, now)) ==
	       PT_ELIMIT && v.type == SHARED_STRING) {
		cap = v.len + 1;
		p = luaL_prepbuffsize(&b, cap);
	}
	if (rc == 0 && v.type == SHARED_STRING) {
		luaL_addsize(&b, v.len);
		luaL_pushresult(&b);
		return 1;
	}
	luaL_pushresult(&b);
	lua_pop(L, 1);
	if (rc == PT_ENOENT) {
		lua_pushnil(L);
		return 1;
	}
	if (rc)
		return luaL_error(L, "shared.get: %s", rc == PT_ENOMEM ?
		                  "out of memory" : "invalid argument");
	if (v.type == SHARED_BOOLEAN)
		lua_pushboolean(L, v.num != 0);
	else
		push_number(L, v.num);
	return 1;
}

/* [-0, +(1|2), v]  Body of set and add. */
static int store(lua_State *L, const char *fname, unsigned flags)
{
	size_t klen;
	const char *key = check_key(L, &klen);
	double ttl = check_ttl(L, 3);
	struct shared_value v;
	int rc;

	check_value(L, fname, &v);
	rc = shared_dict_store(self(L), key, klen, &v, ttl, mono_now(), flags);
	if (rc == PT_EEXIST) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (rc)
		return push_fail(L, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* shared.set(key, value [, ttl]) -> true | nil, err   [-(2|3), +(1|2), v] */
static int l_set(lua_State *L)
{
	size_t klen;
	const char *key;

	if (lua_isnoneornil(L, 2)) {
		key = check_key(L, &klen);
		shared_dict_delete(self(L), key, klen, mono_now());
		lua_pushboolean(L, 1);
		return 1;
	}
	return store(L, "shared.set", 0);
}

/* shared.add(key, value [, ttl]) -> true | false | nil, err
 * [-(2|3), +(1|2), v] */
static int l_add(lua_State *L)
{
	luaL_checkany(L, 2);
	return store(L, "shared.add", SHARED_DICT_ADD);
}

/* shared.incr(key, by [, init [, ttl]]) -> number | nil, err
 * [-(2|3|4), +(1|2), v] */
static int l_incr(lua_State *L)
{
	size_t klen;
	const char *key = check_key(L, &klen);
	double by = luaL_checknumber(L, 2);
	double init = luaL_optnumber(L, 3, 0);
	double ttl = check_ttl(L, 4);
	double out;
	int rc;

	rc = shared_dict_incr(self(L), key, klen, by, init, ttl, mono_now(),
	                      &out);
	if (rc)
		return push_fail(L, rc);
	push_number(L, out);
	return 1;
}

/* shared.delete(key) -> boolean (whether it was there)   [-1, +1, v] */
static int l_delete(lua_State *L)
{
	size_t klen;
	const char *key = check_key(L, &klen);

	lua_pushboolean(L, shared_dict_delete(self(L), key, klen,
	                                      mono_now()) == 0);
	return 1;
}

/* shared.ttl(key) -> seconds (0 = forever) | nil   [-1, +1, v] */
static int l_ttl(lua_State *L)
{
	size_t klen;
	const char *key = check_key(L, &klen);
	double rem;

	if (shared_dict_ttl(self(L), key, klen, mono_now(), &rem))
		lua_pushnil(L);
	else
		lua_pushnumber(L, rem);
	return 1;
}

void lua_shared_open(lua_State *L, struct shared_dict *d)
{
	static const luaL_Reg funcs[] = {
		{ "get", l_get },
		{ "set", l_set },
		{ "add", l_add },
		{ "incr", l_incr },
		{ "delete", l_delete },
		{ "ttl", l_ttl },
		{ NULL, NULL },
	};

	luaL_newlibtable(L, funcs);
	lua_pushlightuserdata(L, d);
	luaL_setfuncs(L, funcs, 1);
}
