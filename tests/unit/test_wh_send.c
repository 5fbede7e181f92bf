/*
 * test_wh_send.c - unit tests for outbound webhook delivery's decisions
 * (plugins/webhook/send_outcome.c): Retry-After in its four forms and
 * hostile ones, how an answer is classified, when the next attempt is due,
 * and the error text an attempt is recorded with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "send.h"
#include "wh.h"

/* 1994-11-06 08:49:37 UTC, the RFC's example */
#define T_EXAMPLE 784111777LL

static int64_t ra(const char *s, int64_t now)
{
	return wh_retry_after_ms(s, strlen(s), now);
}

static void test_retry_after_delta_seconds(void **st)
{
	(void)st;
	assert_int_equal(ra("0", 0), 0);
	assert_int_equal(ra("1", 0), 1000);
	assert_int_equal(ra("120", 0), 120000);
	assert_int_equal(ra("  7\t", 0), 7000);
	assert_int_equal(ra("007", 0), 7000);
}

static void test_retry_after_huge_delta_is_clamped_to_a_year(void **st)
{
	int64_t year = 366LL * 24 * 3600 * 1000;

	(void)st;
	assert_int_equal(ra("99999999999999999999999999999999", 0), year);
	assert_int_equal(ra("31622400", 0), year);
	assert_int_equal(ra("31622399", 0), 31622399000LL);
}

static void test_retry_after_three_date_forms(void **st)
{
	(void)st;
	assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", T_EXAMPLE - 30), 30000);
	assert_int_equal(ra("Sunday, 06-Nov-94 08:49:37 GMT", T_EXAMPLE - 30), 30000);
	assert_int_equal(ra("Sun Nov  6 08:49:37 1994", T_EXAMPLE - 30), 30000);
	assert_int_equal(ra("Thu, 01 Jan 1970 00:00:10 GMT", 0), 10000);
	/* leap day, end of a century */
	assert_int_equal(ra("Tue, 29 Feb 2000 00:00:00 GMT", 951782400LL - 1), 1000);
	assert_int_equal(ra("Thu, 31 Dec 2099 23:59:59 GMT", 4102444799LL - 2), 2000);
}

static void test_retry_after_date_in_the_past_is_now(void **st)
{
	(void)st;
	assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", T_EXAMPLE), 0);
	assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", T_EXAMPLE + 3600), 0);
}

static void test_retry_after_far_date_is_clamped(void **st)
{
	(void)st;
	assert_int_equal(ra("Fri, 31 Dec 9999 23:59:59 GMT", 0), 366LL * 24 * 3600 * 1000);
}

static void test_retry_after_refuses_garbage(void **st)
{
	static const char *const bad[] = {
		"", "   ", "-1", "1.5", "+3", "12abc", "abc", "0x10", "1 2",
		"Sun, 06 Nov 1994 08:49:37 UTC",     /* not GMT */
		"Sun, 6 Nov 1994 08:49:37 GMT",      /* one-digit day */
		"Sun, 06 Foo 1994 08:49:37 GMT",     /* no such month */
		"Sun, 06 Nov 1994 24:00:00 GMT",     /* hour 24 */
		"Sun, 06 Nov 1994 08:61:37 GMT",     /* minute 61 */
		"Sun, 00 Nov 1994 08:49:37 GMT",     /* day 0 */
		"Sun, 32 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1969 08:49:37 GMT",     /* before the epoch */
		"Sun, 06 Nov 1994 08:49:37 GMTX",
		"Sun, 06 Nov 1994 08:49:37",
		"Sunday, 06-Nov-94 08:49:37",
		"Sun Nov 6 08:49:37 1994",           /* asctime needs the padding */
		"Sun Nov  6 08:49:37 94  ",
		",,,,,,,,,,,,,,,,,,,,,,,,,,,,",
		"Sun, 0\x00 Nov 1994 08:49:37 GMT",
	};

	(void)st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ra(bad[i], 0) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* truncated at every length: never read past the end, never accepted
	 * unless the prefix is itself a valid value */
	{
		const char *full = "Sun, 06 Nov 1994 08:49:37 GMT";
		char buf[64];

		for (size_t n = 1; n < strlen(full); n++) {
			memcpy(buf, full, n);
			assert_int_equal(wh_retry_after_ms(buf, n, 0), -1);
		}
	}
}

static void test_classify_statuses(void **st)
{
	(void)st;
	assert_int_equal(wh_send_classify(200), WH_SEND_OK);
	assert_int_equal(wh_send_classify(204), WH_SEND_OK);
	assert_int_equal(wh_send_classify(299), WH_SEND_OK);
	assert_int_equal(wh_send_classify(500), WH_SEND_AGAIN);
	assert_int_equal(wh_send_classify(502), WH_SEND_AGAIN);
	assert_int_equal(wh_send_classify(599), WH_SEND_AGAIN);
	assert_int_equal(wh_send_classify(429), WH_SEND_AGAIN);
	assert_int_equal(wh_send_classify(408), WH_SEND_AGAIN);
	assert_int_equal(wh_send_classify(PT_ETIMEDOUT), WH_SEND_AGAIN);
	assert_int_equal(wh_send_classify(PT_EIO), WH_SEND_AGAIN);
	assert_int_equal(wh_send_classify(PT_ENOENT), WH_SEND_AGAIN);
	assert_int_equal(wh_send_classify(400), WH_SEND_REFUSED);
	assert_int_equal(wh_send_classify(401), WH_SEND_REFUSED);
	assert_int_equal(wh_send_classify(404), WH_SEND_REFUSED);
	assert_int_equal(wh_send_classify(410), WH_SEND_REFUSED);
	assert_int_equal(wh_send_classify(413), WH_SEND_REFUSED);
	assert_int_equal(wh_send_classify(301), WH_SEND_REFUSED);
	assert_int_equal(wh_send_classify(101), WH_SEND_REFUSED);
	assert_int_equal(wh_send_classify(600), WH_SEND_REFUSED);
}

static void test_decide_done_and_dead(void **st)
{
	int64_t next = -5;

	(void)st;
	assert_int_equal(wh_send_decide(200, 1, 8, 2000, -1, 3600, 1000, &next), WH_DONE);
	assert_int_equal(wh_send_decide(410, 1, 8, 2000, -1, 3600, 1000, &next), WH_DEAD);
	assert_int_equal(wh_send_decide(400, 1, 8, 2000, 5000, 3600, 1000, &next), WH_DEAD);
	assert_int_equal(next, -5);
	/* the last attempt failing is dead, whatever the reason */
	assert_int_equal(wh_send_decide(500, 8, 8, 2000, -1, 3600, 1000, &next), WH_DEAD);
	assert_int_equal(wh_send_decide(PT_ETIMEDOUT, 9, 8, 2000, -1, 3600, 1000, &next), WH_DEAD);
	assert_int_equal(wh_send_decide(503, 1, 1, 2000, -1, 3600, 1000, &next), WH_DEAD);
}

static void test_decide_retry_uses_backoff(void **st)
{
	int64_t next = 0;

	(void)st;
	assert_int_equal(wh_send_decide(500, 1, 8, 2000, -1, 3600, 1000, &next), WH_RETRY);
	assert_int_equal(next, 3000);
	assert_int_equal(wh_send_decide(PT_EIO, 3, 8, 7000, -1, 3600, 1000, &next), WH_RETRY);
	assert_int_equal(next, 8000);
	assert_int_equal(wh_send_decide(PT_ETIMEDOUT, 3, 8, -3, -1, 3600, 1000, &next), WH_RETRY);
	assert_int_equal(next, 1000);
}

static void test_decide_retry_after_wins_when_larger_capped(void **st)
{
	int64_t next = 0;

	(void)st;
	/* larger than the backoff: it wins */
	assert_int_equal(wh_send_decide(429, 1, 8, 2000, 30000, 3600, 1000, &next), WH_RETRY);
	assert_int_equal(next, 31000);
	/* smaller: the backoff stays */
	assert_int_equal(wh_send_decide(503, 1, 8, 2000, 1000, 3600, 1000, &next), WH_RETRY);
	assert_int_equal(next, 3000);
	/* never past the cap */
	assert_int_equal(wh_send_decide(503, 1, 8, 2000, 86400000, 60, 1000, &next), WH_RETRY);
	assert_int_equal(next, 61000);
	/* "0" asks for now: the backoff still applies */
	assert_int_equal(wh_send_decide(429, 2, 8, 4000, 0, 60, 0, &next), WH_RETRY);
	assert_int_equal(next, 4000);
}

static void test_error_text(void **st)
{
	char e[320];

	(void)st;
	wh_send_error(500, "oops\r\n\x01\xff!", 9, 10000, "http://x", NULL, e, sizeof(e));
	assert_string_equal(e, "HTTP 500: oops????!");
	wh_send_error(404, NULL, 0, 10000, "http://x", NULL, e, sizeof(e));
	assert_string_equal(e, "HTTP 404");
	wh_send_error(PT_ETIMEDOUT, NULL, 0, 1500, "http://x", NULL, e, sizeof(e));
	assert_string_equal(e, "timed out after 1.500 s");
	wh_send_error(PT_ENOENT, NULL, 0, 1500, "billing", NULL, e, sizeof(e));
	assert_string_equal(e, "no upstream named \"billing\" in the config");
	wh_send_error(PT_EIO, NULL, 0, 1500, "http://x", "a peer or file failed", e, sizeof(e));
	assert_string_equal(e, "connection failed: a peer or file failed");
	wh_send_error(PT_ELIMIT, NULL, 0, 1500, "http://x", "limit", e, sizeof(e));
	assert_string_equal(e, "the answer was too large for the outbound client (not read)");
	wh_send_error(PT_EIO, NULL, 0, 1500, "http://x", NULL, e, sizeof(e));
	assert_string_equal(e, "connection failed: unknown error");
}

static void test_error_text_bounded(void **st)
{
	char big[5000], e[320], tiny[6];

	(void)st;
	memset(big, 'a', sizeof(big));
	wh_send_error(502, big, sizeof(big), 10000, "u", NULL, e, sizeof(e));
	assert_int_equal(strlen(e), strlen("HTTP 502: ") + 200);
	wh_send_error(502, big, sizeof(big), 10000, "u", NULL, tiny, sizeof(tiny));
	assert_int_equal(strlen(tiny), 5);
	wh_send_error(502, big, sizeof(big), 10000, "u", NULL, e, 0);   /* no room: nothing */
}

static void test_is_url(void **st)
{
	(void)st;
	assert_true(wh_send_is_url("http://a", 8));
	assert_true(wh_send_is_url("HTTPS://a", 9));
	assert_false(wh_send_is_url("http:/a", 7));
	assert_false(wh_send_is_url("ftp://a", 7));
	assert_false(wh_send_is_url("billing", 7));
	assert_false(wh_send_is_url("http", 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after_delta_seconds),
		cmocka_unit_test(test_retry_after_huge_delta_is_clamped_to_a_year),
		cmocka_unit_test(test_retry_after_three_date_forms),
		cmocka_unit_test(test_retry_after_date_in_the_past_is_now),
		cmocka_unit_test(test_retry_after_far_date_is_clamped),
		cmocka_unit_test(test_retry_after_refuses_garbage),
		cmocka_unit_test(test_classify_statuses),
		cmocka_unit_test(test_decide_done_and_dead),
		cmocka_unit_test(test_decide_retry_uses_backoff),
		cmocka_unit_test(test_decide_retry_after_wins_when_larger_capped),
		cmocka_unit_test(test_error_text),
		cmocka_unit_test(test_error_text_bounded),
		cmocka_unit_test(test_is_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
