/*
 * The plugin ABI cannot drift silently: every pt_api member sits at the
 * offset it had in the minor that added it (x86_64 / LP64), the table ends
 * where the current minor says, the running core's table matches the
 * header, and members the core does not serve yet say so (PT_ENOSYS, or
 * NULL where a pointer is returned) instead of pretending to work.
 *
 * Adding a member: append it in api.h, bump PT_ABI_MINOR, and add its
 * offset and the new end here. Changing anything above it fails to build.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_table.h"
#include "metrics.h"
#include "portico/portico.h"

#if defined(__x86_64__) && defined(__LP64__)
#define PIN(member, off) \
	_Static_assert(offsetof(struct pt_api, member) == (off), \
	               "pt_api." #member " moved: the table is append-only")
#else
#define PIN(member, off) _Static_assert(1, "")
#endif

/* ---- 1.0 ---- */
PIN(size, 0);
PIN(abi_major, 4);
PIN(abi_minor, 6);
PIN(version, 8);
PIN(strerror, 16);
PIN(log, 24);
PIN(vlog, 32);
PIN(ctx_set_data, 40);
PIN(ctx_get_data, 48);
PIN(conf_type, 56);
PIN(conf_get, 64);
PIN(conf_len, 72);
PIN(conf_at, 80);
PIN(conf_key_at, 88);
PIN(conf_str, 96);
PIN(conf_num, 104);
PIN(conf_int, 112);
PIN(conf_bool, 120);
PIN(conf_where, 128);
PIN(handler_register, 136);
PIN(filter_register, 144);
PIN(exchange_method, 152);
PIN(exchange_method_name, 160);
PIN(exchange_path, 168);
PIN(exchange_query, 176);
PIN(exchange_host, 184);
PIN(exchange_query_arg, 192);
PIN(exchange_header, 200);
PIN(exchange_header_count, 208);
PIN(exchange_header_at, 216);
PIN(exchange_param, 224);
PIN(exchange_remote_addr, 232);
PIN(exchange_request_id, 240);
PIN(exchange_body, 248);
PIN(exchange_body_read, 256);
PIN(exchange_status_set, 264);
PIN(exchange_header_add, 272);
PIN(exchange_header_set, 280);
PIN(exchange_respond, 288);
PIN(exchange_write, 296);
PIN(exchange_trailer_add, 304);
PIN(exchange_finish, 312);
PIN(exchange_ref, 320);
PIN(exchange_unref, 328);
PIN(exchange_aborted, 336);
PIN(exchange_alloc, 344);
PIN(exchange_worker, 352);
PIN(exchange_resume, 360);
PIN(worker_id, 368);
PIN(worker_count, 376);
PIN(worker_set_data, 384);
PIN(worker_get_data, 392);
PIN(timer_new, 400);
PIN(timer_start, 408);
PIN(timer_stop, 416);
PIN(timer_free, 424);
PIN(post, 432);
PIN(hub_publish, 440);
PIN(hub_subscribe, 448);
PIN(hub_unsubscribe, 456);
PIN(metric_counter, 464);
PIN(metric_gauge, 472);
PIN(metric_add, 480);
PIN(metric_set, 488);
PIN(lua_module_register, 496);
PIN(lua_wait_begin, 504);
PIN(lua_wait_yield, 512);
PIN(lua_wait_wake, 520);
PIN(upstream_request, 528);
PIN(lua_worker, 536);
/* ---- 1.1 ---- */
PIN(exchange_consumer_set, 544);
PIN(exchange_consumer, 552);
PIN(filter_define, 560);
PIN(rate_take, 568);
PIN(redis_configured, 576);
PIN(redis_eval, 584);
/* ---- 1.2 ---- */
PIN(exchange_lua, 592);
PIN(lua_task_resume, 600);
/* ---- 1.3 ---- */
PIN(exchange_on_abort, 608);
/* ---- 1.4 ---- */
PIN(exchange_upstream_request, 616);
/* ---- 1.5 ---- */
PIN(hub_message_id, 624);
/* ---- 1.6 ---- */
PIN(ws_accept, 632);
PIN(ws_send, 640);
PIN(ws_close, 648);
PIN(ws_pause, 656);
PIN(ws_subprotocol, 664);
PIN(ws_id, 672);
PIN(ws_worker, 680);
PIN(ws_remote_addr, 688);
PIN(ws_request_id, 696);
PIN(ws_queued, 704);
PIN(ws_lua, 712);
PIN(ws_lua_task_resume, 720);
PIN(exchange_lua_req, 728);
/* ---- 1.7 ---- */
PIN(ucall_start, 736);
PIN(ucall_write, 744);
PIN(ucall_end, 752);
PIN(ucall_pause, 760);
PIN(ucall_cancel, 768);
PIN(exchange_body_pause, 776);
PIN(lua_task_abandon, 784);
/* ---- 1.8 ---- */
PIN(worker_lua, 792);
PIN(worker_lua_task_resume, 800);
PIN(var_dir, 808);
PIN(run_mode, 816);
PIN(command_register, 824);
PIN(metric_counter_l, 832);
PIN(metric_gauge_l, 840);
/* ---- 1.9 ---- */
PIN(lua_exchange, 848);
PIN(admin_route_register, 856);
/* ---- 1.10 ---- */
PIN(exchange_traceparent, 864);
PIN(exchange_queued, 872);
PIN(exchange_on_drain, 880);
PIN(lua_wait_on_abandon, 888);
PIN(lua_budget_renew, 896);

#if defined(__x86_64__) && defined(__LP64__)
/* Where the table of each minor ends: sizeof(struct pt_api) in that core. */
static const uint32_t table_end[] = { 544, 592, 608, 616, 624, 632, 736, 792, 848, 864,
	                                       904, 904 };   /* 1.11: pt_upstream_res.error */

_Static_assert(sizeof(table_end) / sizeof(table_end[0]) == PT_ABI_MINOR + 1,
               "a new minor needs its table end (and its members' offsets) here");
_Static_assert(sizeof(struct pt_api) == 904,
               "pt_api grew: pin the new members and the new end above");
/* The other structs that cross the boundary keep their layout too. */
_Static_assert(sizeof(pt_str_t) == 16 && offsetof(pt_str_t, len) == 8, "pt_str_t");
_Static_assert(offsetof(struct pt_plugin, name) == 16 &&
               offsetof(struct pt_plugin, load) == 32 &&
               offsetof(struct pt_plugin, reload) == 64 && sizeof(struct pt_plugin) == 72,
               "struct pt_plugin");
_Static_assert(offsetof(struct pt_filter_def, name) == 8 &&
               offsetof(struct pt_filter_def, phase) == 16 &&
               offsetof(struct pt_filter_def, compile) == 24 &&
               offsetof(struct pt_filter_def, run) == 40 &&
               sizeof(struct pt_filter_def) == 48, "struct pt_filter_def");
_Static_assert(offsetof(struct pt_upstream_req, method) == 24 &&
               offsetof(struct pt_upstream_req, headers) == 56 &&
               offsetof(struct pt_upstream_req, body) == 72 &&
               offsetof(struct pt_upstream_req, timeout_ms) == 88 &&
               sizeof(struct pt_upstream_req) == 96, "struct pt_upstream_req");
_Static_assert(offsetof(struct pt_upstream_res, status) == 4 &&
               offsetof(struct pt_upstream_res, headers) == 8 &&
               offsetof(struct pt_upstream_res, body) == 24 &&
               offsetof(struct pt_upstream_res, trailers) == 40 &&
               offsetof(struct pt_upstream_res, num_trailers) == 48 &&
               offsetof(struct pt_upstream_res, error) == 56 &&
               sizeof(struct pt_upstream_res) == 64, "struct pt_upstream_res");
_Static_assert(offsetof(struct pt_ucall_ops, head) == 8 &&
               offsetof(struct pt_ucall_ops, data) == 16 &&
               offsetof(struct pt_ucall_ops, drain) == 24 &&
               offsetof(struct pt_ucall_ops, done) == 32 &&
               sizeof(struct pt_ucall_ops) == 40, "struct pt_ucall_ops");
_Static_assert(PT_ECANCELED == -11, "PT_ECANCELED");
_Static_assert(sizeof(struct pt_rate) == 32, "struct pt_rate");
_Static_assert(offsetof(struct pt_admin_req, method) == 8 &&
               offsetof(struct pt_admin_req, path) == 24 &&
               offsetof(struct pt_admin_req, query) == 40 &&
               sizeof(struct pt_admin_req) == 56, "struct pt_admin_req");
_Static_assert(offsetof(struct pt_redis_reply, str) == 16 &&
               offsetof(struct pt_redis_reply, elem) == 40 &&
               sizeof(struct pt_redis_reply) == 48, "struct pt_redis_reply");
#endif

static void test_abi_running_table_matches_the_header(void **state)
{
	const struct pt_api *api = api_table();

	(void)state;
	assert_int_equal(api->size, sizeof(struct pt_api));
	assert_int_equal(api->abi_major, PT_ABI_MAJOR);
	assert_int_equal(api->abi_minor, PT_ABI_MINOR);
#if defined(__x86_64__) && defined(__LP64__)
	assert_int_equal(api->size, table_end[PT_ABI_MINOR]);
#endif
}

/* No slot is left NULL: a member the core lacks would crash a plugin. */
static void test_abi_every_member_is_filled(void **state)
{
	const struct pt_api *api = api_table();
	size_t off = offsetof(struct pt_api, version);

	(void)state;
	for (; off + sizeof(void (*)(void)) <= api->size; off += sizeof(void (*)(void))) {
		void (*fn)(void);

		memcpy(&fn, (const char *)api + off, sizeof(fn));
		if (!fn)
			fail_msg("pt_api slot at offset %zu is NULL", off);
	}
	assert_true(PT_API_HAS(api, exchange_upstream_request));
}

static int noop_filter(pt_exchange *x, const pt_conf *opts, void *ud)
{
	(void)x;
	(void)opts;
	(void)ud;
	return PT_FILTER_NEXT;
}

static int noop_run(pt_exchange *x, void *st, void *ud)
{
	(void)x;
	(void)st;
	(void)ud;
	return PT_FILTER_NEXT;
}

/* Header, body and log filters never run: registering one says so. */
static void test_abi_unserved_filter_phases_are_enosys(void **state)
{
	const struct pt_api *api = api_table();
	struct pt_plugin_ctx *ctx = (struct pt_plugin_ctx *)&state;  /* never touched */
	struct pt_filter_def def = { .size = sizeof(def), .name = "late", .run = noop_run };

	(void)state;
	for (int ph = PT_PHASE_HEADER; ph <= PT_PHASE_LOG; ph++) {
		assert_int_equal(api->filter_register(ctx, "late", ph, noop_filter, NULL),
		                 PT_ENOSYS);
		def.phase = ph;
		assert_int_equal(api->filter_define(ctx, &def, NULL), PT_ENOSYS);
	}
	/* a phase that does not exist is a plain mistake, not "not yet" */
	assert_int_equal(api->filter_register(ctx, "late", 0, noop_filter, NULL), PT_EINVAL);
	assert_int_equal(api->filter_register(ctx, "late", 9, noop_filter, NULL), PT_EINVAL);
	def.phase = 42;
	assert_int_equal(api->filter_define(ctx, &def, NULL), PT_EINVAL);
	assert_int_equal(api->filter_define(ctx, NULL, NULL), PT_EINVAL);
	assert_string_equal(api->strerror(PT_ENOSYS), "not provided by this portico build");
}

/* /metrics is served: the constructors register (same name, same metric),
 * refuse a bad name or the other kind with NULL, and the updaters count and
 * accept NULL. */
static void test_abi_metrics_register_and_count(void **state)
{
	const struct pt_api *api = api_table();
	pt_metric *c = api->metric_counter(NULL, "plugin_requests_total", "help");
	pt_metric *g = api->metric_gauge(NULL, "plugin_queue", "help");

	(void)state;
	assert_non_null(c);
	assert_non_null(g);
	assert_ptr_equal(api->metric_counter(NULL, "plugin_requests_total", "other"), c);
	assert_null(api->metric_gauge(NULL, "plugin_requests_total", "help"));
	assert_null(api->metric_counter(NULL, "bad-name", "help"));
	assert_null(api->metric_counter(NULL, NULL, "help"));
	api->metric_add(c, 1);
	api->metric_add(c, 2);
	api->metric_set(g, 7);
	assert_true(metric_value(c) == 3);
	assert_true(metric_value(g) == 7);
	api->metric_add(NULL, 1);
	api->metric_set(NULL, 2);
}

/* 1.8: one family per name with a series per label set; the same set in
 * another order is the same series; bad syntax, the other kind and sets
 * past the bound are NULL. The exposition has one HELP/TYPE per family. */
static void test_abi_labelled_metrics_are_one_family(void **state)
{
	const struct pt_api *api = api_table();
	pt_metric *a = api->metric_counter_l(NULL, "wh_received_total", "Received.",
	                                     "source=\"stripe\"");
	pt_metric *b = api->metric_counter_l(NULL, "wh_received_total", "x",
	                                     "source=\"git\\\"hub\",kind=\"a\\nb\"");
	char *text = NULL;
	size_t len;
	unsigned made = 0;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_ptr_equal(api->metric_counter_l(NULL, "wh_received_total", "x",
	                                       "source=\"stripe\""), a);
	assert_ptr_equal(api->metric_counter_l(NULL, "wh_received_total", "x",
	                                       "kind=\"a\\nb\",source=\"git\\\"hub\""), b);
	assert_null(api->metric_gauge_l(NULL, "wh_received_total", "x", "source=\"s\""));
	static const char *const bad[] = {
		"source=stripe", "source=\"open", "=\"x\"", "1a=\"x\"", "a=\"x\",",
		"a=\"x\",a=\"y\"", "a=\"x\" b=\"y\"", "a=\"bad\\t\"", "a=\"line\nbreak\"",
		"a-b=\"x\"", ",a=\"x\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (api->metric_counter_l(NULL, "wh_received_total", "x", bad[i]))
			fail_msg("labels accepted: %s", bad[i]);
	assert_null(api->metric_counter_l(NULL, "bad-name", "x", "a=\"1\""));
	assert_null(api->metric_counter_l(NULL, "wh_received_total", "x", NULL));
	api->metric_add(a, 2);
	api->metric_add(b, 5);
	assert_true(metric_value(a) == 2);
	/* bounded: 10,000 series per name, then NULL */
	for (unsigned i = 0; i < 10001; i++) {
		char l[32];

		snprintf(l, sizeof(l), "i=\"%u\"", i);
		made += api->metric_gauge_l(NULL, "wh_many", "many", l) != NULL;
	}
	assert_int_equal(made, 10000);
	len = metrics_render(&text);
	assert_non_null(text);
	assert_true(len > 0);
	{
		const char *fam = strstr(text, "# TYPE wh_received_total counter\n");

		assert_non_null(fam);
		assert_null(strstr(fam + 1, "# TYPE wh_received_total"));   /* once */
		assert_non_null(strstr(text, "wh_received_total{source=\"stripe\"} 2\n"));
		/* sorted by label name */
		assert_non_null(strstr(text, "wh_received_total{kind=\"a\\nb\",source=\"git\\\"hub\"} 5\n"));
	}
	free(text);
}

static void test_abi_exchange_upstream_request_refuses_bad_arguments(void **state)
{
	const struct pt_api *api = api_table();
	struct pt_upstream_req req = { .size = sizeof(req), .url = "http://127.0.0.1:1/" };

	(void)state;
	assert_int_equal(api->exchange_upstream_request(NULL, &req, NULL, NULL), PT_EINVAL);
}

static int u_head(pt_ucall *c, int st, const pt_str_t *h, uint32_t n, void *ud)
{
	(void)c; (void)st; (void)h; (void)n; (void)ud;
	return 0;
}

static int u_data(pt_ucall *c, const void *d, size_t n, void *ud)
{
	(void)c; (void)d; (void)n; (void)ud;
	return 0;
}

static void u_done(pt_ucall *c, int err, const char *msg, const pt_str_t *t, uint32_t n, void *ud)
{
	(void)c; (void)err; (void)msg; (void)t; (void)n; (void)ud;
	fail_msg("done must not run for a call that did not start");
}

/* 1.7: a call that cannot start says why through *ERR and never calls back;
 * the rest refuse NULL instead of crashing. */
static void test_abi_ucall_refuses_bad_arguments(void **state)
{
	const struct pt_api *api = api_table();
	struct pt_upstream_req req = { .size = sizeof(req), .url = "http://127.0.0.1:1/" };
	struct pt_ucall_ops ops = { .size = sizeof(ops), .head = u_head, .data = u_data,
	                            .done = u_done };
	struct pt_ucall_ops small = ops;
	int err = 0;

	(void)state;
	assert_null(api->ucall_start(NULL, NULL, &req, 0, &ops, NULL, &err));
	assert_int_equal(err, PT_EINVAL);
	small.size = 8;
	assert_null(api->ucall_start(NULL, NULL, &req, 0, &small, NULL, &err));
	assert_int_equal(err, PT_EINVAL);
	assert_null(api->ucall_start(NULL, NULL, NULL, 0, &ops, NULL, NULL));
	assert_int_equal(api->ucall_write(NULL, "x", 1), PT_EINVAL);
	assert_int_equal(api->ucall_end(NULL, NULL, 0), PT_EINVAL);
	api->ucall_pause(NULL, 1);
	api->ucall_cancel(NULL);
	assert_int_equal(api->lua_task_abandon(NULL), PT_EINVAL);
	assert_string_equal(api->strerror(PT_ECANCELED), "cancelled");
}

static int cmd_nop(pt_plugin_ctx *ctx, int argc, char **argv, void *ud)
{
	(void)ctx; (void)argc; (void)argv; (void)ud;
	return 0;
}

/* 1.8 outside a daemon: the facts have values, the calls that need a
 * worker or a plugin's load() refuse instead of crashing. */
static void test_abi_18_members_refuse_outside_their_context(void **state)
{
	const struct pt_api *api = api_table();
	struct pt_plugin_ctx *ctx = (struct pt_plugin_ctx *)&state;  /* never loading */

	(void)state;
	assert_non_null(api->var_dir());
	assert_true(api->var_dir()[0] == '/');
	assert_int_equal(api->run_mode(), PT_RUN_DAEMON);
	assert_null(api->worker_lua(NULL));
	/* registration is for load() only; a bad name is a plain mistake */
	assert_int_equal(api->command_register(ctx, "x", "s", cmd_nop, NULL), PT_ESTATE);
	assert_int_equal(api->command_register(ctx, "Bad", "s", cmd_nop, NULL), PT_EINVAL);
	assert_int_equal(api->command_register(ctx, "-x", "s", cmd_nop, NULL), PT_EINVAL);
	assert_int_equal(api->command_register(ctx, "x", "two\nlines", cmd_nop, NULL), PT_EINVAL);
	assert_int_equal(api->command_register(ctx, "x", "s", NULL, NULL), PT_EINVAL);
}

/* 1.10: the streaming-handler members refuse what is not theirs (the
 * gRPC integration tests exercise them: test_grpc_flow.py). */
static void test_abi_110_members_refuse_outside_their_context(void **state)
{
	const struct pt_api *api = api_table();

	(void)state;
	assert_int_equal(api->lua_wait_on_abandon(NULL, NULL, NULL), PT_EINVAL);
	assert_int_equal(api->lua_budget_renew(NULL), PT_ESTATE);
	assert_true(PT_EXCHANGE_LOW < PT_EXCHANGE_HIGH);
	assert_true(PT_API_HAS(api, exchange_queued) && PT_API_HAS(api, exchange_on_drain));
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abi_running_table_matches_the_header),
		cmocka_unit_test(test_abi_every_member_is_filled),
		cmocka_unit_test(test_abi_unserved_filter_phases_are_enosys),
		cmocka_unit_test(test_abi_metrics_register_and_count),
		cmocka_unit_test(test_abi_labelled_metrics_are_one_family),
		cmocka_unit_test(test_abi_exchange_upstream_request_refuses_bad_arguments),
		cmocka_unit_test(test_abi_ucall_refuses_bad_arguments),
		cmocka_unit_test(test_abi_18_members_refuse_outside_their_context),
		cmocka_unit_test(test_abi_110_members_refuse_outside_their_context),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
