/* The watchdog: a stall is seen once, named, counted, and its end noticed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "gen.h"
#include "http/exchange.h"
#include "log.h"
#include "plugin.h"
#include "watchdog.h"
#include "worker.h"

static char logpath[] = "/tmp/portico-test-watchdog-XXXXXX";

/* Sends the error log to a fresh file; returns its path. */
static void log_to_file(void)
{
	char err[256];
	int fd = mkstemp(logpath);

	assert_true(fd >= 0);
	close(fd);
	if (log_open(logpath, PT_LOG_INFO, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static char *log_text(void)
{
	static char buf[8192];
	FILE *f = fopen(logpath, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static int setup(void **state)
{
	(void)state;
	log_to_file();
	assert_int_equal(watchdog_init(2), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	watchdog_free();
	log_open(NULL, PT_LOG_INFO, NULL, 0);
	unlink(logpath);
	strcpy(logpath, "/tmp/portico-test-watchdog-XXXXXX");
	return 0;
}

static void test_watchdog_reports_a_stall_once_and_its_end(void **state)
{
	uint64_t now = watchdog_now_ms();
	double before = watchdog_stalls();

	(void)state;
	assert_int_equal(watchdog_check(1, now + 500), 0);
	assert_int_equal(watchdog_check(1, now + 1500), 2);
	assert_int_equal(watchdog_check(1, now + 2000), 2);
	assert_int_equal(watchdog_check(1, now + 2500), 2);
	assert_true(watchdog_stalls() - before == 2);        /* once per stall */
	assert_int_equal(count(log_text(), "stuck for"), 2);
	assert_non_null(strstr(log_text(), "worker 0 stuck for 1.5 s (watchdog_timeout 1 s): "
	                       "outside any request"));
	usleep(5000);   /* a later heartbeat than the one the stall began after */
	watchdog_beat(0);
	assert_int_equal(watchdog_check(1, watchdog_now_ms()), 1);   /* worker 1 is not back */
	assert_int_equal(count(log_text(), "recovered"), 1);
	assert_non_null(strstr(log_text(), "worker 0 recovered"));
	assert_true(watchdog_stalls() - before == 2);
}

static void test_watchdog_off_checks_nothing(void **state)
{
	(void)state;
	assert_int_equal(watchdog_check(0, watchdog_now_ms() + 100000), 0);
	assert_int_equal(count(log_text(), "stuck"), 0);
}

static void test_watchdog_names_the_exchange_and_its_route(void **state)
{
	pt_worker w = { .id = 1 };
	struct route_conf rc = { .path = "/stuck/:n", .line = 12 };
	struct handler_reg h = { .name = "lua" };
	struct route_entry re = { .conf = &rc, .file = "conf/app.lua", .handler = &h };
	pt_exchange *x = calloc(1, sizeof(*x)), *y = calloc(1, sizeof(*y)), *was;

	(void)state;
	x->route = &re;
	x->method_name = (pt_str_t)PT_STR("GET");
	x->path = (pt_str_t)PT_STR("/stuck/7\n[error] forged");
	*y = *x;
	y->path = (pt_str_t)PT_STR("/inner");
	was = watchdog_enter(&w, x);
	assert_null(was);
	/* nested: a handler that runs another exchange's code, then returns */
	assert_ptr_equal(watchdog_enter(&w, y), x);
	watchdog_leave(&w, x);
	assert_int_equal(watchdog_check(1, watchdog_now_ms() + 5000), 2);
	watchdog_leave(&w, was);
	assert_non_null(strstr(log_text(), "worker 1 stuck for 5.0 s (watchdog_timeout 1 s): "
	                       "GET /stuck/7\\n[error] forged, route /stuck/:n at conf/app.lua:12, "
	                       "handler lua"));
	assert_null(strstr(log_text(), "/inner"));
	assert_int_equal(count(log_text(), "\n"), 2);   /* two events, two lines */
	/* outside the watchdog's workers: ignored, not a crash */
	w.id = 7;
	assert_null(watchdog_enter(&w, x));
	watchdog_leave(&w, NULL);
	assert_null(watchdog_enter(NULL, x));
	free(x);
	free(y);
}

static void test_watchdog_asks_lua_for_its_line_when_late(void **state)
{
	pt_worker w = { .id = 0 };
	struct route_conf rc = { .path = "/loop", .line = 1 };
	struct handler_reg h = { .name = "lua" };
	struct route_entry re = { .conf = &rc, .file = "conf/app.lua", .handler = &h };
	pt_exchange *x = calloc(1, sizeof(*x)), *y = calloc(1, sizeof(*y));
	uint64_t now = watchdog_now_ms();

	(void)state;
	x->route = &re;
	x->method_name = (pt_str_t)PT_STR("GET");
	x->path = (pt_str_t)PT_STR("/loop");
	*y = *x;
	watchdog_enter(&w, y);
	assert_false(watchdog_wants_line(&w));
	assert_int_equal(watchdog_check(2, now + 500), 0);
	assert_false(watchdog_wants_line(&w));         /* not late yet */
	assert_int_equal(watchdog_check(2, now + 1200), 0);
	assert_true(watchdog_wants_line(&w));          /* past half the timeout */
	watchdog_lua_line(&w, "conf/other.lua", 9);
	watchdog_enter(&w, x);                         /* a line belongs to its exchange */
	watchdog_lua_line(&w, "conf/app.lua", 3);
	assert_int_equal(watchdog_check(2, now + 2500), 2);   /* worker 1 too: no beats */
	assert_non_null(strstr(log_text(), "handler lua, Lua running at conf/app.lua:3\n"));
	assert_null(strstr(log_text(), "other.lua"));
	usleep(5000);
	watchdog_beat(0);
	assert_false(watchdog_wants_line(&w));         /* back: no more asking */
	watchdog_leave(&w, NULL);
	free(x);
	free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_watchdog_reports_a_stall_once_and_its_end, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_off_checks_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_names_the_exchange_and_its_route, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_asks_lua_for_its_line_when_late, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
