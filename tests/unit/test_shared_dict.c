/*
 * test_shared_dict.c - unit tests for core/shared_dict.c: the C API with an
 * explicit clock, concurrency, limits, and the Lua binding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "shared_dict.h"

#define K(s) (s), (sizeof(s) - 1)

static struct shared_value num(double n)
{
	return (struct shared_value){ SHARED_NUMBER, n, NULL, 0 };
}

static void test_shared_dict_set_get_delete(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 0);
	char *v;
	size_t len;

	(void)state;
	assert_non_null(d);
	assert_int_equal(shared_dict_get(d, K("a"), &v, &len, 0), PT_ENOENT);
	assert_int_equal(shared_dict_set(d, K("a"), K("hello"), 0, 0), 0);
	assert_int_equal(shared_dict_get(d, K("a"), &v, &len, 0), 0);
	assert_int_equal(len, 5);
	assert_string_equal(v, "hello");
	free(v);
	assert_int_equal(shared_dict_set(d, K("a"), K("a much longer value than before"), 0, 0), 0);
	assert_int_equal(shared_dict_get(d, K("a"), &v, &len, 0), 0);
	assert_string_equal(v, "a much longer value than before");
	free(v);
	assert_int_equal(shared_dict_count(d), 1);
	assert_int_equal(shared_dict_delete(d, K("a"), 0), 0);
	assert_int_equal(shared_dict_delete(d, K("a"), 0), PT_ENOENT);
	assert_int_equal(shared_dict_get(d, K("a"), &v, &len, 0), PT_ENOENT);
	assert_int_equal(shared_dict_count(d), 0);
	shared_dict_free(d);
}

static void test_shared_dict_keys_and_values_are_binary(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 0);
	char *v;
	size_t len;

	(void)state;
	assert_int_equal(shared_dict_set(d, "k\0x", 3, "v\0w", 3, 0, 0), 0);
	assert_int_equal(shared_dict_get(d, "k\0y", 3, &v, &len, 0), PT_ENOENT);
	assert_int_equal(shared_dict_get(d, "k", 1, &v, &len, 0), PT_ENOENT);
	assert_int_equal(shared_dict_get(d, "k\0x", 3, &v, &len, 0), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "v\0w", 3);
	free(v);
	assert_int_equal(shared_dict_set(d, K("empty"), "", 0, 0, 0), 0);
	assert_int_equal(shared_dict_get(d, K("empty"), &v, &len, 0), 0);
	assert_int_equal(len, 0);
	free(v);
	shared_dict_free(d);
}

static void test_shared_dict_many_keys_survive_growth(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 0);
	char key[32], *v;
	size_t len;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);

		assert_int_equal(shared_dict_set(d, key, (size_t)n, key, (size_t)n, 0, 0), 0);
	}
	assert_int_equal(shared_dict_count(d), 20000);
	for (int i = 0; i < 20000; i += 7) {
		int n = snprintf(key, sizeof(key), "key-%d", i);

		assert_int_equal(shared_dict_get(d, key, (size_t)n, &v, &len, 0), 0);
		assert_string_equal(v, key);
		free(v);
	}
	shared_dict_free(d);
}

static void test_shared_dict_ttl_expires(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 0);
	double rem;
	char *v;
	size_t len;

	(void)state;
	assert_int_equal(shared_dict_set(d, K("t"), K("x"), 10, 100), 0);
	assert_int_equal(shared_dict_set(d, K("forever"), K("y"), 0, 100), 0);
	assert_int_equal(shared_dict_ttl(d, K("t"), 104, &rem), 0);
	assert_true(rem > 5.99 && rem < 6.01);
	assert_int_equal(shared_dict_ttl(d, K("forever"), 104, &rem), 0);
	assert_true(rem == 0);
	assert_int_equal(shared_dict_get(d, K("t"), &v, &len, 109.9), 0);
	free(v);
	assert_int_equal(shared_dict_get(d, K("t"), &v, &len, 110), PT_ENOENT);
	assert_int_equal(shared_dict_get(d, K("forever"), &v, &len, 1e9), 0);
	free(v);
	assert_int_equal(shared_dict_count(d), 1);  /* dropped when touched */
	shared_dict_free(d);
}

static void test_shared_dict_flush_expired_sweeps(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 0);
	char key[16];

	(void)state;
	for (int i = 0; i < 100; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);
		struct shared_value v = num(i);

		assert_int_equal(shared_dict_store(d, key, (size_t)n, &v, i % 2 ? 5 : 0, 0, 0), 0);
	}
	assert_int_equal(shared_dict_flush_expired(d, 4), 0);
	assert_int_equal(shared_dict_flush_expired(d, 5), 50);
	assert_int_equal(shared_dict_count(d), 50);
	assert_int_equal(shared_dict_flush_expired(d, 1e9), 0);
	shared_dict_free(d);
}

static void test_shared_dict_expired_key_is_absent_for_delete_and_add(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 0);
	struct shared_value v = num(1);

	(void)state;
	assert_int_equal(shared_dict_store(d, K("a"), &v, 1, 0, SHARED_DICT_ADD), 0);
	assert_int_equal(shared_dict_store(d, K("a"), &v, 1, 0.5, SHARED_DICT_ADD), PT_EEXIST);
	assert_int_equal(shared_dict_store(d, K("a"), &v, 1, 2, SHARED_DICT_ADD), 0);
	assert_int_equal(shared_dict_delete(d, K("a"), 10), PT_ENOENT);
	assert_int_equal(shared_dict_count(d), 0);
	shared_dict_free(d);
}

static void test_shared_dict_typed_values(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 0);
	struct shared_value v = num(2.5), b = { SHARED_BOOLEAN, 1, NULL, 0 };
	struct shared_value out;
	char buf[4], *s;
	size_t len;

	(void)state;
	assert_int_equal(shared_dict_store(d, K("n"), &v, 0, 0, 0), 0);
	assert_int_equal(shared_dict_store(d, K("b"), &b, 0, 0, 0), 0);
	assert_int_equal(shared_dict_fetch(d, K("n"), &out, NULL, 0, 0), 0);
	assert_int_equal(out.type, SHARED_NUMBER);
	assert_true(out.num == 2.5);
	assert_int_equal(shared_dict_fetch(d, K("b"), &out, NULL, 0, 0), 0);
	assert_int_equal(out.type, SHARED_BOOLEAN);
	assert_true(out.num == 1);
	assert_int_equal(shared_dict_get(d, K("n"), &s, &len, 0), PT_ETYPE);
	/* a string that does not fit the caller's buffer reports its size */
	assert_int_equal(shared_dict_set(d, K("s"), K("abcd"), 0, 0), 0);
	assert_int_equal(shared_dict_fetch(d, K("s"), &out, buf, sizeof(buf), 0), PT_ELIMIT);
	assert_int_equal(out.len, 4);
	assert_int_equal(shared_dict_set(d, K("s"), K("abc"), 0, 0), 0);
	assert_int_equal(shared_dict_fetch(d, K("s"), &out, buf, sizeof(buf), 0), 0);
	assert_string_equal(out.str, "abc");
	assert_ptr_equal(out.str, buf);
	shared_dict_free(d);
}

static void test_shared_dict_incr_starts_at_init_and_refuses_strings(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 0);
	double out;

	(void)state;
	assert_int_equal(shared_dict_incr(d, K("c"), 1, 10, 0, 0, &out), 0);
	assert_true(out == 11);
	assert_int_equal(shared_dict_incr(d, K("c"), -2.5, 10, 0, 0, &out), 0);
	assert_true(out == 8.5);
	assert_int_equal(shared_dict_set(d, K("s"), K("x"), 0, 0), 0);
	assert_int_equal(shared_dict_incr(d, K("s"), 1, 0, 0, 0, &out), PT_ETYPE);
	/* ttl applies when the counter is created, not on later increments */
	assert_int_equal(shared_dict_incr(d, K("w"), 1, 0, 10, 0, &out), 0);
	assert_int_equal(shared_dict_incr(d, K("w"), 1, 0, 100, 5, &out), 0);
	assert_true(out == 2);
	assert_int_equal(shared_dict_incr(d, K("w"), 1, 0, 0, 10, &out), 0);
	assert_true(out == 1);  /* window expired: restarted at init */
	shared_dict_free(d);
}

struct incr_job {
	struct shared_dict *d;
	int n;
};

static void *incr_thread(void *arg)
{
	struct incr_job *j = arg;
	char key[8];

	for (int i = 0; i < j->n; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i % 3);

		if (shared_dict_incr(j->d, K("total"), 1, 0, 0, 0, NULL) ||
		    shared_dict_incr(j->d, key, (size_t)n, 2, 0, 0, 0, NULL))
			abort();
	}
	return NULL;
}

static void test_shared_dict_incr_is_atomic_across_threads(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 0);
	struct incr_job job = { d, 100000 };
	pthread_t th[4];
	struct shared_value out;
	double sum = 0;
	char key[8];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, incr_thread, &job), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(shared_dict_fetch(d, K("total"), &out, NULL, 0, 0), 0);
	assert_true(out.num == 400000);
	for (int i = 0; i < 3; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);

		assert_int_equal(shared_dict_fetch(d, key, (size_t)n, &out, NULL, 0, 0), 0);
		sum += out.num;
	}
	assert_true(sum == 800000);
	shared_dict_free(d);
}

static void test_shared_dict_rejects_bad_arguments(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 0);
	struct shared_value bad = { 42, 0, NULL, 0 }, v = num(1);
	static char big[SHARED_DICT_MAX_KEY + 1];
	double out;

	(void)state;
	assert_int_equal(shared_dict_set(d, "", 0, K("v"), 0, 0), PT_EINVAL);
	assert_int_equal(shared_dict_set(d, big, sizeof(big), K("v"), 0, 0), PT_EINVAL);
	assert_int_equal(shared_dict_set(d, big, sizeof(big) - 1, K("v"), 0, 0), 0);
	assert_int_equal(shared_dict_set(d, K("k"), K("v"), -1, 0), PT_EINVAL);
	assert_int_equal(shared_dict_set(d, K("k"), K("v"), 1.0 / 0.0, 0), PT_EINVAL);
	assert_int_equal(shared_dict_set(d, K("k"), K("v"), 0.0 / 0.0, 0), PT_EINVAL);
	assert_int_equal(shared_dict_store(d, K("k"), &bad, 0, 0, 0), PT_EINVAL);
	assert_int_equal(shared_dict_incr(d, K("k"), 1, 0, -5, 0, &out), PT_EINVAL);
	assert_int_equal(shared_dict_store(d, K("k"), &v, 0, 0, 0), 0);
	shared_dict_free(d);
	shared_dict_free(NULL);
}

static void test_shared_dict_evicts_lru_at_key_limit(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 3);
	char *v;
	size_t len;

	(void)state;
	assert_int_equal(shared_dict_set(d, K("a"), K("1"), 0, 0), 0);
	assert_int_equal(shared_dict_set(d, K("b"), K("2"), 0, 0), 0);
	assert_int_equal(shared_dict_set(d, K("c"), K("3"), 0, 0), 0);
	assert_int_equal(shared_dict_get(d, K("a"), &v, &len, 0), 0);  /* a is used */
	free(v);
	assert_int_equal(shared_dict_set(d, K("d"), K("4"), 0, 0), 0);
	assert_int_equal(shared_dict_count(d), 3);
	assert_int_equal(shared_dict_get(d, K("b"), &v, &len, 0), PT_ENOENT);
	assert_int_equal(shared_dict_get(d, K("a"), &v, &len, 0), 0);
	free(v);
	/* replacing a key never evicts another one */
	assert_int_equal(shared_dict_set(d, K("c"), K("33"), 0, 0), 0);
	assert_int_equal(shared_dict_count(d), 3);
	assert_int_equal(shared_dict_get(d, K("d"), &v, &len, 0), 0);
	free(v);
	shared_dict_free(d);
}

static void test_shared_dict_evicts_expired_before_lru(void **state)
{
	struct shared_dict *d = shared_dict_new(0, 3);
	char *v;
	size_t len;

	(void)state;
	assert_int_equal(shared_dict_set(d, K("old"), K("1"), 0, 0), 0);
	assert_int_equal(shared_dict_set(d, K("b"), K("2"), 0, 0), 0);
	assert_int_equal(shared_dict_set(d, K("short"), K("3"), 1, 0), 0);
	assert_int_equal(shared_dict_set(d, K("new"), K("4"), 0, 5), 0);
	/* "short" had expired, so the least recently used "old" survives */
	assert_int_equal(shared_dict_get(d, K("old"), &v, &len, 5), 0);
	free(v);
	assert_int_equal(shared_dict_get(d, K("b"), &v, &len, 5), 0);
	free(v);
	assert_int_equal(shared_dict_count(d), 3);
	shared_dict_free(d);
}

static void test_shared_dict_byte_limit(void **state)
{
	size_t max = 4 * (SHARED_DICT_ENTRY_OVERHEAD + 1 + 100);
	struct shared_dict *d = shared_dict_new(max, 0);
	char val[200], *v;
	size_t len;

	(void)state;
	memset(val, 'x', sizeof(val));
	for (int i = 0; i < 4; i++) {
		char k = (char)('a' + i);

		assert_int_equal(shared_dict_set(d, &k, 1, val, 100, 0, 0), 0);
	}
	assert_int_equal(shared_dict_count(d), 4);
	assert_int_equal(shared_dict_set(d, K("e"), val, 100, 0, 0), 0);
	assert_int_equal(shared_dict_count(d), 4);
	assert_int_equal(shared_dict_get(d, K("a"), &v, &len, 0), PT_ENOENT);
	/* one entry too big for the whole budget is refused, old value kept */
	{
		char *huge = malloc(max);

		memset(huge, 'y', max);
		assert_int_equal(shared_dict_set(d, K("e"), huge, max, 0, 0), PT_ELIMIT);
		free(huge);
	}
	assert_int_equal(shared_dict_get(d, K("e"), &v, &len, 0), 0);
	assert_int_equal(len, 100);
	free(v);
	/* a bigger value evicts as many as it needs */
	assert_int_equal(shared_dict_set(d, K("f"), val, 200, 0, 0), 0);
	assert_int_equal(shared_dict_count(d), 3);
	shared_dict_free(d);
}

/* ---- Lua binding ---- */

static int lua_setup(void **state)
{
	lua_State *L = luaL_newstate();
	struct shared_dict *d = shared_dict_new(0, 0);

	luaL_openlibs(L);
	lua_shared_open(L, d);
	lua_setglobal(L, "shared");
	lua_pushlightuserdata(L, d);
	lua_setfield(L, LUA_REGISTRYINDEX, "test.dict");
	*state = L;
	return 0;
}

static int lua_teardown(void **state)
{
	lua_State *L = *state;
	struct shared_dict *d;

	lua_getfield(L, LUA_REGISTRYINDEX, "test.dict");
	d = lua_touserdata(L, -1);
	lua_close(L);
	shared_dict_free(d);
	return 0;
}

static void lua_ok(lua_State *L, const char *code)
{
	if (luaL_dostring(L, code) != LUA_OK)
		fail_msg("lua error: %s", lua_tostring(L, -1));
	lua_settop(L, 0);
}

static void test_shared_lua_values_round_trip(void **state)
{
	lua_ok(*state,
	       "assert(shared.get('x') == nil)\n"
	       "assert(shared.set('s', 'str') == true)\n"
	       "assert(shared.set('i', 42) == true)\n"
	       "assert(shared.set('f', 2.5) == true)\n"
	       "assert(shared.set('t', true) == true and shared.set('no', false))\n"
	       "assert(shared.get('s') == 'str')\n"
	       "assert(shared.get('i') == 42 and math.type(shared.get('i')) == 'integer')\n"
	       "assert(shared.get('f') == 2.5)\n"
	       "assert(shared.get('t') == true and shared.get('no') == false)\n"
	       "local big = string.rep('z', 100000) .. '\\0end'\n"
	       "assert(shared.set('big', big))\n"
	       "assert(shared.get('big') == big)\n"
	       "assert(shared.delete('s') == true and shared.delete('s') == false)\n"
	       "assert(shared.get('s') == nil)\n"
	       "assert(shared.set('i', nil) == true and shared.get('i') == nil)\n");
}

static void test_shared_lua_refuses_tables_clearly(void **state)
{
	lua_ok(*state,
	       "local ok, err = pcall(shared.set, 'k', {1, 2})\n"
	       "assert(not ok and err:find('cannot store a table') and err:find('json.encode'), err)\n"
	       "ok, err = pcall(shared.add, 'k', print)\n"
	       "assert(not ok and err:find('cannot store a function'), err)\n"
	       "assert(not pcall(shared.set, '', 1))\n"
	       "assert(not pcall(shared.set, {}, 1))\n"
	       "assert(not pcall(shared.set, 'k', 1, -1))\n"
	       "assert(not pcall(shared.incr, 'k', 'x'))\n");
}

static void test_shared_lua_incr_add_ttl(void **state)
{
	lua_ok(*state,
	       "assert(shared.incr('hits', 1) == 1)\n"
	       "assert(shared.incr('hits', 1) == 2)\n"
	       "assert(math.type(shared.incr('hits', 0)) == 'integer')\n"
	       "assert(shared.incr('from', 5, 100) == 105)\n"
	       "assert(shared.incr('half', 0.5) == 0.5)\n"
	       "shared.set('s', 'x')\n"
	       "local v, err = shared.incr('s', 1)\n"
	       "assert(v == nil and err == 'not a number', err)\n"
	       "assert(shared.add('a', 1, 60) == true)\n"
	       "assert(shared.add('a', 2) == false)\n"
	       "assert(shared.get('a') == 1)\n"
	       "local t = shared.ttl('a')\n"
	       "assert(t > 59 and t <= 60, t)\n"
	       "assert(shared.ttl('hits') == 0)\n"
	       "assert(shared.ttl('none') == nil)\n"
	       "assert(shared.incr('w', 1, 0, 30) == 1 and shared.ttl('w') > 29)\n");
}

static void test_shared_lua_limit_reported_as_error(void **state)
{
	lua_State *L = luaL_newstate();
	struct shared_dict *d = shared_dict_new(1024, 0);

	(void)state;
	luaL_openlibs(L);
	lua_shared_open(L, d);
	lua_setglobal(L, "shared");
	lua_ok(L,
	       "local v, err = shared.set('k', string.rep('x', 2000))\n"
	       "assert(v == nil and err == 'value too large for the dictionary', err)\n"
	       "assert(shared.set('k', 'small'))\n");
	lua_close(L);
	shared_dict_free(d);
}

static void test_shared_lua_two_states_share_one_dict(void **state)
{
	lua_State *a = *state, *b = luaL_newstate();

	luaL_openlibs(b);
	lua_getfield(a, LUA_REGISTRYINDEX, "test.dict");
	lua_shared_open(b, lua_touserdata(a, -1));
	lua_pop(a, 1);
	lua_setglobal(b, "shared");
	lua_ok(a, "shared.set('from_a', 'hello'); shared.incr('n', 1)");
	lua_ok(b, "assert(shared.get('from_a') == 'hello'); assert(shared.incr('n', 1) == 2)");
	lua_close(b);
}

int main(void)
{
#define LT(f) cmocka_unit_test_setup_teardown(f, lua_setup, lua_teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_dict_set_get_delete),
		cmocka_unit_test(test_shared_dict_keys_and_values_are_binary),
		cmocka_unit_test(test_shared_dict_many_keys_survive_growth),
		cmocka_unit_test(test_shared_dict_ttl_expires),
		cmocka_unit_test(test_shared_dict_flush_expired_sweeps),
		cmocka_unit_test(test_shared_dict_expired_key_is_absent_for_delete_and_add),
		cmocka_unit_test(test_shared_dict_typed_values),
		cmocka_unit_test(test_shared_dict_incr_starts_at_init_and_refuses_strings),
		cmocka_unit_test(test_shared_dict_incr_is_atomic_across_threads),
		cmocka_unit_test(test_shared_dict_rejects_bad_arguments),
		cmocka_unit_test(test_shared_dict_evicts_lru_at_key_limit),
		cmocka_unit_test(test_shared_dict_evicts_expired_before_lru),
		cmocka_unit_test(test_shared_dict_byte_limit),
		LT(test_shared_lua_values_round_trip),
		LT(test_shared_lua_refuses_tables_clearly),
		LT(test_shared_lua_incr_add_ttl),
		cmocka_unit_test(test_shared_lua_limit_reported_as_error),
		LT(test_shared_lua_two_states_share_one_dict),
	};
#undef LT

	return cmocka_run_group_tests(tests, NULL, NULL);
}
