/*
 * test_wh_backoff.c - the retry delay of webhook jobs
 * (plugins/webhook/backoff.c): exponential, capped, jittered within
 * [0.5, 1] of the step, and sane for hostile inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <math.h>

#include <cmocka.h>

#include "wh.h"

static void in_range(int attempt, double base, double cap, int64_t lo, int64_t hi)
{
	for (int i = 0; i < 2000; i++) {
		int64_t d = wh_backoff_ms(attempt, base, cap);

		if (d < lo || d > hi)
			fail_msg("attempt %d base %g cap %g: %lld ms not in [%lld, %lld]", attempt, base,
			         cap, (long long)d, (long long)lo, (long long)hi);
	}
}

static void test_wh_backoff_doubles_per_attempt_with_jitter(void **st)
{
	(void)st;
	in_range(1, 2, 3600, 1000, 2000);
	in_range(2, 2, 3600, 2000, 4000);
	in_range(5, 2, 3600, 16000, 32000);
	in_range(1, 0.05, 0.2, 25, 50);
}

static void test_wh_backoff_never_passes_the_cap(void **st)
{
	(void)st;
	in_range(12, 2, 3600, 1800000, 3600000);
	in_range(100, 2, 60, 30000, 60000);
	in_range(INT_MAX, 2, 7 * 86400, 7 * 86400 * 500LL, 7 * 86400 * 1000LL);
}

static void test_wh_backoff_hostile_inputs_take_the_defaults(void **st)
{
	(void)st;
	in_range(0, 2, 3600, 1000, 2000);
	in_range(-5, 2, 3600, 1000, 2000);
	in_range(1, 0, 3600, 1000, 2000);
	in_range(1, -1, 0, 1000, 2000);
	in_range(1, NAN, NAN, 1000, 2000);
}

static void test_wh_backoff_is_spread_not_constant(void **st)
{
	int64_t lo = INT64_MAX, hi = 0;

	(void)st;
	for (int i = 0; i < 1000; i++) {
		int64_t d = wh_backoff_ms(3, 2, 3600);

		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo < 4600 && hi > 7400);   /* of [4000, 8000] */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wh_backoff_doubles_per_attempt_with_jitter),
		cmocka_unit_test(test_wh_backoff_never_passes_the_cap),
		cmocka_unit_test(test_wh_backoff_hostile_inputs_take_the_defaults),
		cmocka_unit_test(test_wh_backoff_is_spread_not_constant),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
