/* The hub backplane's payload framing (instance id, hostile payloads from
 * Redis) and its bounded queue, without a Redis server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "backplane.h"
#include "conf.h"
#include "hub.h"
#include "hub_frame.h"
#include "metrics.h"

#define ZEROS "00000000000000000000000000000000"

static void test_hub_instance_id_is_32_hex_and_stable(void **state)
{
	const char *id = hub_instance_id();

	(void)state;
	assert_int_equal(strlen(id), HUB_INSTANCE_HEX);
	assert_int_equal(strspn(id, "0123456789abcdef"), HUB_INSTANCE_HEX);
	assert_ptr_equal(hub_instance_id(), id);
	assert_string_not_equal(id, ZEROS);
}

static void test_hub_frame_round_trip(void **state)
{
	char out[HUB_FRAME_HEAD + 16];
	pt_str_t msg = { 0 };
	size_t n = hub_frame_encode(out, ZEROS, PT_STR("hello\0world"));

	(void)state;
	assert_int_equal(n, HUB_FRAME_HEAD + 11);
	assert_memory_equal(out, "pt1:" ZEROS ":hello\0world", n);
	assert_int_equal(hub_frame_decode((pt_str_t){ out, n }, hub_instance_id(), 100, &msg),
	                 HUB_FRAME_OK);
	assert_int_equal(msg.len, 11);
	assert_memory_equal(msg.ptr, "hello\0world", 11);
	/* an empty message is a message */
	n = hub_frame_encode(out, ZEROS, (pt_str_t){ "", 0 });
	assert_int_equal(hub_frame_decode((pt_str_t){ out, n }, hub_instance_id(), 0, &msg),
	                 HUB_FRAME_OK);
	assert_int_equal(msg.len, 0);
}

static void test_hub_frame_own_message_is_recognised(void **state)
{
	char out[HUB_FRAME_HEAD + 4];
	pt_str_t msg = { 0 };
	size_t n = hub_frame_encode(out, hub_instance_id(), PT_STR("echo"));

	(void)state;
	assert_int_equal(hub_frame_decode((pt_str_t){ out, n }, hub_instance_id(), 100, &msg),
	                 HUB_FRAME_OWN);
	assert_null(msg.ptr);
	/* another instance: delivered */
	assert_int_equal(hub_frame_decode((pt_str_t){ out, n }, ZEROS, 100, &msg), HUB_FRAME_OK);
}

static void test_hub_frame_refuses_hostile_payloads(void **state)
{
	static const struct { const char *in; int want; } cases[] = {
		{ "", HUB_FRAME_SHORT },
		{ "pt1:", HUB_FRAME_SHORT },
		{ "pt1:" ZEROS, HUB_FRAME_SHORT },                /* no ':' after the id */
		{ "pt2:" ZEROS ":x", HUB_FRAME_MAGIC_BAD },
		{ "PT1:" ZEROS ":x", HUB_FRAME_MAGIC_BAD },
		{ "pt1:" ZEROS "x", HUB_FRAME_MAGIC_BAD },        /* 37th byte not ':' */
		{ "hello world, this is just some text!!", HUB_FRAME_MAGIC_BAD },
		{ "pt1:0000000000000000000000000000000G:x", HUB_FRAME_ID_BAD },
		{ "pt1:ABCDEF00000000000000000000000000:x", HUB_FRAME_ID_BAD },
		{ "pt1:0000000000000000:000000000000000:x", HUB_FRAME_ID_BAD },
	};
	pt_str_t msg = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = hub_frame_decode((pt_str_t){ cases[i].in, strlen(cases[i].in) },
		                          hub_instance_id(), 100, &msg);

		if (rc != cases[i].want)
			fail_msg("case %zu (%s): %d, not %d", i, cases[i].in, rc, cases[i].want);
		assert_null(msg.ptr);
		assert_non_null(hub_frame_strerror(rc));
	}
	assert_int_equal(hub_frame_decode((pt_str_t){ NULL, 0 }, NULL, 100, &msg), HUB_FRAME_SHORT);
	/* a NUL inside the id is not hex either */
	assert_int_equal(hub_frame_decode((pt_str_t){ "pt1:0000\0" "000000000000000000000000000:x",
	                                              HUB_FRAME_HEAD + 1 }, NULL, 100, &msg),
	                 HUB_FRAME_ID_BAD);
}

static void test_hub_frame_refuses_messages_over_the_limit(void **state)
{
	size_t max = 1000, n;
	char *out = malloc(HUB_FRAME_HEAD + max + 1), *body = malloc(max + 1);
	pt_str_t msg = { 0 };

	(void)state;
	memset(body, 'x', max + 1);
	n = hub_frame_encode(out, ZEROS, (pt_str_t){ body, max });
	assert_int_equal(hub_frame_decode((pt_str_t){ out, n }, NULL, max, &msg), HUB_FRAME_OK);
	n = hub_frame_encode(out, ZEROS, (pt_str_t){ body, max + 1 });
	assert_int_equal(hub_frame_decode((pt_str_t){ out, n }, NULL, max, &msg), HUB_FRAME_TOO_BIG);
	free(out);
	free(body);
}

static void test_backplane_channel_rule_is_hub_publish_s(void **state)
{
	char big[258];

	(void)state;
	memset(big, 'c', sizeof(big));
	assert_true(backplane_channel_ok(PT_STR("orders")));
	assert_true(backplane_channel_ok((pt_str_t){ big, 256 }));
	assert_false(backplane_channel_ok((pt_str_t){ big, 257 }));
	assert_false(backplane_channel_ok((pt_str_t){ "", 0 }));
	assert_false(backplane_channel_ok(PT_STR("a\nb")));
	assert_false(backplane_channel_ok(PT_STR("\x01ping")));
	assert_false(backplane_channel_ok(PT_STR("del\x7f")));
}

/* Redis unreachable (port 1): the queue keeps the newest QUEUE messages,
 * counts the others, and stopping neither hangs nor leaks them. */
static void test_backplane_queue_drops_the_oldest_when_full(void **state)
{
	struct config cfg;
	pt_metric *dropped = metric_new(METRIC_COUNTER, "portico_hub_backplane_dropped_total", "");
	char err[256];
	double before;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.hub_max_message = 100;
	cfg.hub_backplane = 1;
	cfg.hub_prefix = "test:";
	cfg.hub_backplane_queue = 3;
	cfg.hub_backplane_queue_bytes = 1 << 20;
	cfg.redis.host = "127.0.0.1";
	cfg.redis.port = 1;
	cfg.redis.timeout = 0.1;
	cfg.redis.connect_timeout = 0.1;
	before = metric_value(dropped);
	assert_int_equal(backplane_apply(&cfg, err, sizeof(err)), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(hub_publish(PT_STR("q"), PT_STR("m")), 0);
	assert_true(metric_value(dropped) - before == 7);
	/* an empty message is queued (and pushes the oldest out); one over
	 * hub.max_message is not queued at all */
	before = metric_value(dropped);
	hub_publish(PT_STR("q"), (pt_str_t){ "x", 0 });
	{
		char big[101] = { 0 };

		hub_publish(PT_STR("q"), (pt_str_t){ big, sizeof(big) });
	}
	assert_true(metric_value(dropped) - before == 1);
	/* the same settings again: kept; then a byte limit */
	assert_int_equal(backplane_apply(&cfg, err, sizeof(err)), 0);
	cfg.hub_backplane_queue = 1000;
	cfg.hub_backplane_queue_bytes = 200;   /* 5 frames of 39 bytes + channel */
	assert_int_equal(backplane_apply(&cfg, err, sizeof(err)), 0);
	before = metric_value(dropped);
	for (int i = 0; i < 10; i++)
		hub_publish(PT_STR("q"), PT_STR("m"));
	assert_true(metric_value(dropped) - before == 5);
	backplane_stop();
	backplane_stop();   /* twice is nothing */
	before = metric_value(dropped);
	hub_publish(PT_STR("q"), PT_STR("m"));   /* off: nothing queued */
	assert_true(metric_value(dropped) == before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub_instance_id_is_32_hex_and_stable),
		cmocka_unit_test(test_hub_frame_round_trip),
		cmocka_unit_test(test_hub_frame_own_message_is_recognised),
		cmocka_unit_test(test_hub_frame_refuses_hostile_payloads),
		cmocka_unit_test(test_hub_frame_refuses_messages_over_the_limit),
		cmocka_unit_test(test_backplane_channel_rule_is_hub_publish_s),
		cmocka_unit_test(test_backplane_queue_drops_the_oldest_when_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
