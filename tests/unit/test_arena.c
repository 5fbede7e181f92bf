/* The arena allocator behind configs and exchanges. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arena.h"

static void test_arena_aligns_and_keeps_data(void **state)
{
	struct arena a;
	char *p[100];

	(void)state;
	arena_init(&a, 256);
	for (int i = 0; i < 100; i++) {
		p[i] = arena_alloc(&a, (size_t)i + 1);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		memset(p[i], i, (size_t)i + 1);
	}
	for (int i = 0; i < 100; i++)
		assert_int_equal((unsigned char)p[i][i], i);
	arena_close(&a);
}

static void test_arena_serves_large_blocks(void **state)
{
	struct arena a;
	char *small, *big;

	(void)state;
	arena_init(&a, 1024);
	small = arena_alloc(&a, 10);
	big = arena_alloc(&a, 1 << 20);
	assert_non_null(big);
	memset(big, 1, 1 << 20);
	assert_non_null(arena_alloc(&a, 10));
	assert_ptr_not_equal(small, big);
	arena_close(&a);
}

static void test_arena_strdup_and_reset(void **state)
{
	struct arena a;

	(void)state;
	arena_init(&a, 64);
	assert_string_equal(arena_strdup(&a, "hello"), "hello");
	assert_string_equal(arena_strndup(&a, "hello", 2), "he");
	for (int i = 0; i < 50; i++)
		assert_non_null(arena_alloc(&a, 40));
	arena_reset(&a);
	assert_non_null(arena_calloc(&a, 32));
	arena_close(&a);
}

static void test_arena_refuses_overflowing_size(void **state)
{
	struct arena a;

	(void)state;
	arena_init(&a, 64);
	assert_null(arena_alloc(&a, SIZE_MAX - 4));
	arena_close(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_aligns_and_keeps_data),
		cmocka_unit_test(test_arena_serves_large_blocks),
		cmocka_unit_test(test_arena_strdup_and_reset),
		cmocka_unit_test(test_arena_refuses_overflowing_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
