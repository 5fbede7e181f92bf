/*
 * test_balance.c - unit tests for core/upstream/balance.c (rendezvous hashing
 * and hash keys) and the retry budget of core/upstream/state.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "balance.h"
#include "state.h"

#define NKEYS 20000

/* The index of the best of N servers (skipping SKIP, -1: none) for KEY. */
static int pick(const uint64_t *srv, int n, int skip, uint64_t key)
{
	int best = -1;
	uint64_t best_score = 0;

	for (int i = 0; i < n; i++) {
		uint64_t s;

		if (i == skip)
			continue;
		s = balance_score(key, srv[i]);
		if (best < 0 || s > best_score) {
			best = i;
			best_score = s;
		}
	}
	return best;
}

static uint64_t key_of(int i)
{
	char k[32];
	int n = snprintf(k, sizeof(k), "user-%d", i);

	return balance_hash(k, (size_t)n);
}

static void servers(uint64_t *srv, int n)
{
	for (int i = 0; i < n; i++) {
		char s[32];
		int len = snprintf(s, sizeof(s), "10.0.0.%d:8080", i + 1);

		srv[i] = balance_hash(s, (size_t)len);
	}
}

static void test_hrw_spreads_keys_evenly(void **state)
{
	uint64_t srv[5];
	int count[5] = { 0 };

	(void)state;
	servers(srv, 5);
	for (int i = 0; i < NKEYS; i++)
		count[pick(srv, 5, -1, key_of(i))]++;
	for (int i = 0; i < 5; i++)   /* 4000 each; allow +-10% */
		assert_in_range(count[i], 3600, 4400);
}

static void test_hrw_server_leaving_moves_only_its_keys(void **state)
{
	uint64_t srv[5];
	int moved = 0, owned = 0;

	(void)state;
	servers(srv, 5);
	for (int i = 0; i < NKEYS; i++) {
		int before = pick(srv, 5, -1, key_of(i)), after = pick(srv, 5, 2, key_of(i));

		if (before == 2)
			owned++;
		if (before != after) {
			assert_int_equal(before, 2);   /* only the leaving server's keys move */
			moved++;
		}
	}
	assert_int_equal(moved, owned);
	assert_in_range(moved, NKEYS / 5 - NKEYS / 50, NKEYS / 5 + NKEYS / 50);   /* ~1/N */
}

static void test_hrw_same_key_same_server(void **state)
{
	uint64_t srv[3];

	(void)state;
	servers(srv, 3);
	for (int i = 0; i < 100; i++)
		assert_int_equal(pick(srv, 3, -1, key_of(i)), pick(srv, 3, -1, key_of(i)));
}

static void test_balance_key_header_query_ip(void **state)
{
	struct upstream_conf u = { .balance = UP_BALANCE_HASH, .hash_by = UP_HASH_HEADER,
	                           .hash_name = "x-user" };
	pt_str_t h[] = { PT_STR("Host"), PT_STR("a"), PT_STR("X-User"), PT_STR("  alice "),
	                 PT_STR("x-forwarded-for"), PT_STR("10.0.0.1, 192.168.1.9") };
	pt_str_t key;

	(void)state;
	assert_int_equal(balance_key(&u, h, 3, PT_STR("/p"), &key), 0);
	assert_int_equal(key.len, 5);
	assert_memory_equal(key.ptr, "alice", 5);
	assert_int_equal(balance_key(&u, h, 1, PT_STR("/p"), &key), -1);   /* missing */

	u.hash_by = UP_HASH_QUERY;
	u.hash_name = "k";
	assert_int_equal(balance_key(&u, h, 3, PT_STR("/p?kk=1&k=v2&k=v3"), &key), 0);
	assert_int_equal(key.len, 2);
	assert_memory_equal(key.ptr, "v2", 2);
	assert_int_equal(balance_key(&u, h, 3, PT_STR("/p?kk=1"), &key), -1);
	assert_int_equal(balance_key(&u, h, 3, PT_STR("/p?k="), &key), -1);   /* empty */
	assert_int_equal(balance_key(&u, h, 3, PT_STR("/p"), &key), -1);

	u.hash_by = UP_HASH_IP;
	assert_int_equal(balance_key(&u, h, 3, PT_STR("/p"), &key), 0);
	assert_int_equal(key.len, 11);
	assert_memory_equal(key.ptr, "192.168.1.9", 11);   /* the entry the proxy appended */
}

static void test_retry_budget_share_and_floor(void **state)
{
	struct upstream_conf u = { .name = "u", .retry_budget = 0.2, .retry_budget_min = 0 };
	struct upstream_state st;
	int allowed = 0;

	(void)state;
	memset(&st, 0, sizeof(st));
	st.conf = &u;
	for (int i = 0; i < 100; i++) {
		upstream_budget_request(&st, 1000);
		allowed += upstream_budget_retry(&st, 1000);
	}
	assert_in_range(allowed, 19, 21);
	/* ten seconds later the window is empty: nothing to spend */
	assert_int_equal(upstream_budget_retry(&st, 1010), 0);
	/* the floor: 1/s is 10 retries per window with no request at all */
	u.retry_budget_min = 1;
	allowed = 0;
	for (int i = 0; i < 50; i++)
		allowed += upstream_budget_retry(&st, 2000);
	assert_int_equal(allowed, 10);
	/* a slot from ten seconds ago is reused, not added to */
	for (int i = 0; i < 50; i++)
		allowed += upstream_budget_retry(&st, 2010);
	assert_int_equal(allowed, 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hrw_spreads_keys_evenly),
		cmocka_unit_test(test_hrw_server_leaving_moves_only_its_keys),
		cmocka_unit_test(test_hrw_same_key_same_server),
		cmocka_unit_test(test_balance_key_header_query_ip),
		cmocka_unit_test(test_retry_budget_share_and_floor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
