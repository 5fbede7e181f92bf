/*
 * test_pb_json.c - messages to and from JSON (the proto3 JSON mapping),
 * checked against Google's json_format output (data/pb/*.json).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pb_test_util.h"

static struct pb_registry *R;

static int group_setup(void **state)
{
	R = load_test_registry();
	return 0;
}

static int group_teardown(void **state)
{
	pb_registry_free(R);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
