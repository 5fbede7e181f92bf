/* The plugin loader: good plugins load, bad ones are refused with a reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "plugin.h"

static void fixture(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s.so", TEST_PLUGIN_DIR, name);
}

static void test_loader_loads_good_plugin(void **state)
{
	char path[1024], err[1024];
	struct pt_plugin_ctx *p;

	(void)state;
	fixture(path, sizeof(path), "good");
	p = plugin_open(path, err, sizeof(err));
	if (!p)
		fail_msg("%s", err);
	assert_string_equal(p->name, "good");
	assert_int_equal(plugin_load(p, NULL, err, sizeof(err)), 0);
	assert_non_null(registry_handler("good.hello"));
	plugin_close(p);
	registry_clear();
}

static void test_loader_refuses_other_abi_major_before_running_it(void **state)
{
	char path[1024], err[1024];

	(void)state;
	fixture(path, sizeof(path), "wrong_abi");
	/* its load() aborts: reaching the assertions proves it never ran */
	assert_null(plugin_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "built for plugin ABI 2.0"));
	assert_non_null(strstr(err, "this portico provides 1."));
}

static void test_loader_refuses_missing_entry_symbol(void **state)
{
	char path[1024], err[1024];

	(void)state;
	fixture(path, sizeof(path), "no_entry");
	assert_null(plugin_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "no entry symbol 'portico_plugin'"));
}

static void test_loader_reports_failing_load(void **state)
{
	char path[1024], err[1024];
	struct pt_plugin_ctx *p;

	(void)state;
	fixture(path, sizeof(path), "failing_load");
	p = plugin_open(path, err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(plugin_load(p, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "load failed"));
	assert_non_null(strstr(err, "failing_load"));
	plugin_close(p);
}

static void test_loader_reports_missing_file(void **state)
{
	char err[1024];

	(void)state;
	assert_null(plugin_open("/nonexistent/x.so", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/x.so"));
}

static void test_registry_refuses_duplicate_handler(void **state)
{
	(void)state;
	assert_int_equal(registry_handler_add(NULL, "a", (pt_handler_fn)1, NULL), 0);
	assert_int_equal(registry_handler_add(NULL, "a", (pt_handler_fn)1, NULL), PT_EEXIST);
	assert_int_equal(registry_handler_add(NULL, "", (pt_handler_fn)1, NULL), PT_EINVAL);
	assert_int_equal(registry_filter_add(NULL, "f", 99, (pt_filter_fn)1, NULL), PT_EINVAL);
	assert_int_equal(registry_filter_add(NULL, "f", PT_PHASE_ACCESS, (pt_filter_fn)1, NULL), 0);
	assert_non_null(registry_filter("f"));
	registry_clear();
	assert_null(registry_handler("a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loader_loads_good_plugin),
		cmocka_unit_test(test_loader_refuses_other_abi_major_before_running_it),
		cmocka_unit_test(test_loader_refuses_missing_entry_symbol),
		cmocka_unit_test(test_loader_reports_failing_load),
		cmocka_unit_test(test_loader_reports_missing_file),
		cmocka_unit_test(test_registry_refuses_duplicate_handler),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
