/* The hub's message ids: one counter, in publish order, safe across threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <cmocka.h>

#include "hub.h"

#define THREADS 4
#define EACH 2000

static void test_hub_ids_count_every_publish(void **state)
{
	uint64_t base = hub_message_id();

	(void)state;
	assert_int_equal(hub_publish(PT_STR("a"), PT_STR("x")), 0);   /* nobody listens */
	assert_int_equal(hub_message_id(), base + 1);
	assert_int_equal(hub_publish(PT_STR("b"), PT_STR("")), 0);
	assert_int_equal(hub_message_id(), base + 2);
}

static void test_hub_refused_publish_takes_no_id(void **state)
{
	uint64_t base = hub_message_id();

	(void)state;
	assert_int_equal(hub_publish((pt_str_t){ "", 0 }, PT_STR("x")), PT_EINVAL);
	assert_int_equal(hub_message_id(), base);
	assert_null(hub_subscribe(NULL, PT_STR("a"), NULL, NULL));
}

static void *publisher(void *arg)
{
	(void)arg;
	for (int i = 0; i < EACH; i++)
		hub_publish(PT_STR("race"), PT_STR("m"));
	return NULL;
}

static void test_hub_ids_are_unique_across_threads(void **state)
{
	pthread_t t[THREADS];
	uint64_t base = hub_message_id();

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, publisher, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(hub_message_id(), base + THREADS * EACH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub_ids_count_every_publish),
		cmocka_unit_test(test_hub_refused_publish_takes_no_id),
		cmocka_unit_test(test_hub_ids_are_unique_across_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
