/* Config evaluation and validation: every mistake reported with file:line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"
#include "secret.h"

static char path[] = "/tmp/portico-test-conf-XXXXXX";

static struct config *load(const char *text, char *err, size_t errlen)
{
	int fd = mkstemp(path);
	struct config *cfg;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cfg = config_load(path, err, errlen);
	unlink(path);
	strcpy(path, "/tmp/portico-test-conf-XXXXXX");
	return cfg;
}

/* Asserts loading fails and the error contains ":LINE: " and NEEDLE. */
static void expect_error(const char *text, int line, const char *needle)
{
	char err[4096], at[32];
	struct config *cfg = load(text, err, sizeof(err));

	assert_null(cfg);
	snprintf(at, sizeof(at), ":%d: ", line);
	if (!strstr(err, at) || !strstr(err, needle))
		fail_msg("expected line %d and '%s' in: %s", line, needle, err);
}

static void test_conf_accepts_full_example(void **state)
{
	char err[4096];
	struct config *cfg = load(
		"workers = 2\n"
		"plugins_dir = \"/tmp\"\n"
		"pid_file = \"/tmp/p.pid\"\n"
		"log = { level = \"debug\" }\n"
		"listen { address = \"127.0.0.1\", port = 8080 }\n"
		"listen { address = \"::1\", port = 8081, http2 = false }\n"
		"plugin \"graphql\" { schema = \"s.graphql\", optional = true }\n"
		"plugin \"rest\"\n"
		"route { method = \"GET\", path = \"/health\", handler = \"static\", body = \"ok\" }\n"
		"route { method = { \"GET\", \"POST\" }, path = \"/x/:id\", handler = \"h\" }\n"
		"http = { max_body_size = 4096, idle_timeout = 5, h2 = { max_concurrent_streams = 10 } }\n",
		err, sizeof(err));

	(void)state;
	if (!cfg)
		fail_msg("%s", err);
	assert_int_equal(cfg->workers, 2);
	assert_string_equal(cfg->plugins_dir, "/tmp");
	assert_int_equal(cfg->log_level, PT_LOG_DEBUG);
	assert_int_equal(cfg->nlisteners, 2);
	assert_int_equal(cfg->listeners[1].port, 8081);
	assert_int_equal(cfg->listeners[1].http2, 0);
	assert_int_equal(cfg->nplugins, 2);
	assert_true(cfg->plugins[0].optional);
	assert_null(conf_get(cfg->plugins[0].opts, "optional"));
	assert_non_null(conf_get(cfg->plugins[0].opts, "schema"));
	assert_int_equal(cfg->nroutes, 2);
	assert_int_equal(cfg->routes[1].methods, PT_METHOD_GET | PT_METHOD_POST);
	assert_int_equal(cfg->http.max_body_size, 4096);
	assert_int_equal(cfg->http.h2_max_concurrent_streams, 10);
	assert_int_equal(cfg->http.max_headers, 100);   /* default */
	config_free(cfg);
}

static void test_conf_reports_unknown_key_with_line(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\n\nwokers = 2\n", 3, "did you mean 'workers'");
}

static void test_conf_reports_wrong_type_with_line(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nworkers = \"two\"\n", 2, "'workers' must be a number");
}

static void test_conf_reports_out_of_range(void **state)
{
	(void)state;
	expect_error("listen { port = 70000 }\n", 1, "'port' must be between");
}

static void test_conf_reports_unknown_listen_key(void **state)
{
	(void)state;
	expect_error("\nlisten { port = 1, adress = \"x\" }\n", 2, "did you mean 'address'");
}

static void test_conf_reports_nested_unknown_key(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nhttp = { h2 = { max_streams = 3 } }\n", 2,
	             "'max_streams' is not a known setting");
}

static void test_conf_reports_lua_syntax_error(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nworkers = = 2\n", 2, "unexpected symbol");
}

static void test_conf_has_empty_environment(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nx = os.getenv('HOME')\n", 2, "os");
}

/* env() and secret_file(): values, defaults, file:line errors. */
static void test_conf_env_and_secret_file(void **state)
{
	char err[4096], text[512];
	struct config *cfg;
	FILE *f = fopen("/tmp/portico-test-secret", "w");

	(void)state;
	assert_non_null(f);
	fputs("pw\r\n", f);
	fclose(f);
	setenv("PT_UNIT_SET", "/tmp/pt-unit", 1);
	unsetenv("PT_UNIT_UNSET");
	snprintf(text, sizeof(text), "listen { port = 1 }\npid_file = env(\"PT_UNIT_SET\")\n"
	         "var_dir = env(\"PT_UNIT_UNSET\", \"/v/\") .. secret_file(\"/tmp/portico-test-secret\")\n");
	cfg = load(text, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_string_equal(cfg->pid_file, "/tmp/pt-unit");
	assert_string_equal(cfg->var_dir, "/v/pw");
	config_free(cfg);
	expect_error("listen { port = 1 }\n\npid_file = env(\"PT_UNIT_UNSET\")\n", 3,
	             "env(\"PT_UNIT_UNSET\"): not set");
	expect_error("listen { port = 1 }\npid_file = secret_file(\"/nonexistent/x\")\n", 2,
	             "secret_file(\"/nonexistent/x\"): No such file or directory");
	unlink("/tmp/portico-test-secret");
}

/* Relative paths from the config's folder, made absolute. */
static void test_conf_secret_path_join(void **state)
{
	char out[64], cwd[4096], want[4200];

	(void)state;
	assert_int_equal(secret_path_join("/etc/p/p.conf", "s", out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/p/s");
	assert_int_equal(secret_path_join("/p.conf", "s", out, sizeof(out)), 0);
	assert_string_equal(out, "/s");
	assert_int_equal(secret_path_join("/etc/p/p.conf", "/abs", out, sizeof(out)), 0);
	assert_string_equal(out, "/abs");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	{
		char big[4200];

		assert_int_equal(secret_path_join("c/p.conf", "s", big, sizeof(big)), 0);
		snprintf(want, sizeof(want), "%s/c/s", cwd);
		assert_string_equal(big, want);
	}
	/* does not fit: an error, never a cut path */
	assert_int_equal(secret_path_join("/etc/p/p.conf",
	                 "a-very-long-name-that-does-not-fit-in-sixty-four-bytes-at-all", out,
	                 sizeof(out)), -1);
}

static void test_conf_requires_a_listener(void **state)
{
	char err[1024];

	(void)state;
	assert_null(load("workers = 1\n", err, sizeof(err)));
	assert_non_null(strstr(err, "no listener"));
}

static void test_conf_rejects_bad_log_level(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nlog = { level = \"loud\" }\n", 2, "log.level");
}

static void test_conf_rejects_route_without_handler(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nroute { path = \"/x\" }\n", 2, "'handler'");
}

static void test_conf_rejects_bad_method(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nroute { method = \"FETCH\", path = \"/x\", handler = \"h\" }\n",
	             2, "'method'");
}

static void test_conf_rejects_duplicate_listener(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nlisten { port = 1 }\n", 2, "already declared at line 1");
}

static void test_conf_rejects_duplicate_plugin(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nplugin \"a\" {}\nplugin \"a\" {}\n", 3, "configured twice");
}

static void test_conf_stops_runaway_loop(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nwhile true do end\n", 2, "too long");
}

static void test_conf_rejects_function_values(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nlog = { level = function() end }\n", 2, "function");
}

static void test_conf_missing_file_is_an_error(void **state)
{
	char err[1024];

	(void)state;
	assert_null(config_load("/nonexistent/portico.conf", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/portico.conf"));
}

static void test_conf_watchdog_timeout_defaults_to_ten_seconds(void **state)
{
	char err[1024];
	struct config *cfg = load("listen { port = 1 }\n", err, sizeof(err));

	(void)state;
	if (!cfg)
		fail_msg("%s", err);
	assert_true(cfg->watchdog_timeout == 10);
	config_free(cfg);
	cfg = load("listen { port = 1 }\nwatchdog_timeout = 0\n", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_true(cfg->watchdog_timeout == 0);   /* off */
	config_free(cfg);
	cfg = load("listen { port = 1 }\nwatchdog_timeout = 2.5\n", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_true(cfg->watchdog_timeout == 2.5);
	config_free(cfg);
}

static void test_conf_rejects_watchdog_timeout_under_a_second(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nwatchdog_timeout = 0.25\n", 2,
	             "watchdog_timeout must be 0 (off) or at least 1 second");
	expect_error("listen { port = 1 }\n\nwatchdog_timeout = -1\n", 3, "must be between 0");
	expect_error("listen { port = 1 }\nwatchdog_timeout = \"10s\"\n", 2, "must be a number");
	expect_error("listen { port = 1 }\nwatchdog_timeout = 1e9\n", 2, "must be between 0");
}

static void test_conf_hub_backplane(void **state)
{
	char err[4096];
	struct config *cfg = load("listen { port = 1 }\n", err, sizeof(err));

	(void)state;
	if (!cfg)
		fail_msg("%s", err);
	assert_false(cfg->hub_backplane);
	assert_string_equal(cfg->hub_prefix, "portico:hub:");
	assert_int_equal(cfg->hub_backplane_queue, 10000);
	assert_int_equal(cfg->hub_backplane_queue_bytes, 16 << 20);
	config_free(cfg);
	cfg = load("listen { port = 1 }\nredis = { port = 7000 }\n"
	           "hub = { backplane = \"redis\", prefix = \"app[1]*:\", backplane_queue = 5 }\n",
	           err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_true(cfg->hub_backplane);
	assert_string_equal(cfg->hub_prefix, "app[1]*:");
	assert_int_equal(cfg->hub_backplane_queue, 5);
	config_free(cfg);
	cfg = load("listen { port = 1 }\nhub = { backplane = \"none\" }\n", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_false(cfg->hub_backplane);
	config_free(cfg);
}

static void test_conf_rejects_bad_hub_backplane(void **state)
{
	(void)state;
	expect_error("listen { port = 1 }\nredis = { port = 7000 }\n\nhub = { backplane = \"kafka\" }\n",
	             4, "hub.backplane must be \"redis\" or \"none\", not \"kafka\"");
	/* a table's keys carry the line of the assignment (where it ends) */
	expect_error("listen { port = 1 }\nhub = {\n  max_message = 10,\n  backplane = \"redis\",\n}\n",
	             5, "hub.backplane = \"redis\" needs the Redis server: add redis = {");
	expect_error("listen { port = 1 }\nhub = { backplane = true }\n", 2, "must be a string");
	expect_error("listen { port = 1 }\nredis = {}\nhub = { backplane = \"redis\", prefix = \"\" }\n",
	             3, "hub.prefix must be 1 to 128 bytes");
	expect_error("listen { port = 1 }\nhub = { prefix = \"a\\nb\" }\n", 2,
	             "hub.prefix must be 1 to 128 bytes without control characters");
	expect_error("listen { port = 1 }\nhub = { backplane_queue = 0 }\n", 2, "backplane_queue");
	expect_error("listen { port = 1 }\nhub = { backplane_queue_bytes = 10 }\n", 2,
	             "backplane_queue_bytes");
	expect_error("listen { port = 1 }\nhub = { backplain = \"redis\" }\n", 2, "backplain");
}

static void test_conf_routes_must_be_a_file_or_a_folder(void **state)
{
	char err[1024];
	struct config *cfg;

	(void)state;
	expect_error("listen { port = 1 }\nroutes \"/nonexistent/app.lua\"\n", 2,
	             "routes: cannot read /nonexistent/app.lua");
	expect_error("listen { port = 1 }\nroutes \"/dev/null\"\n", 2,
	             "routes: /dev/null is neither a file nor a folder");
	cfg = load("listen { port = 1 }\nroutes \"" TEST_SRCDIR "/conf\"\n"
	           "routes \"" TEST_SRCDIR "/tests/unit/test_conf.c\"\n", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_int_equal(cfg->nroute_scripts, 2);
	config_free(cfg);
}

static void test_conf_settings_can_be_reused(void **state)
{
	char err[1024];
	struct config *cfg = load("base = 8000\nlisten { port = base + 1 }\n", err, sizeof(err));

	(void)state;
	/* 'base' is not a setting: reported, but reading it back worked */
	assert_null(cfg);
	assert_non_null(strstr(err, "'base' is not a known setting"));
}

static void test_conf_tree_reads_types(void **state)
{
	char err[1024];
	struct config *cfg = load(
		"listen { port = 1 }\n"
		"plugin \"p\" { n = 3, f = 1.5, s = \"x\", b = true, list = { \"a\", \"b\" }, t = { k = 1 } }\n",
		err, sizeof(err));
	const pt_conf *o;
	pt_str_t s;
	int64_t i;
	double d;
	int b;

	(void)state;
	if (!cfg)
		fail_msg("%s", err);
	o = cfg->plugins[0].opts;
	assert_int_equal(conf_int(o, "n", &i), 0);
	assert_int_equal(i, 3);
	assert_int_equal(conf_int(o, "f", &i), PT_ETYPE);
	assert_int_equal(conf_num(o, "f", &d), 0);
	assert_true(d == 1.5);
	assert_int_equal(conf_str(o, "s", &s), 0);
	assert_int_equal(s.len, 1);
	assert_int_equal(conf_bool(o, "b", &b), 0);
	assert_true(b);
	assert_int_equal(conf_len(conf_get(o, "list")), 2);
	assert_int_equal(conf_str(conf_at(conf_get(o, "list"), 1), NULL, &s), 0);
	assert_string_equal(s.ptr, "b");
	assert_int_equal(conf_int(o, "t.k", &i), 0);
	assert_int_equal(conf_str(o, "missing", &s), PT_ENOENT);
	config_free(cfg);
}

/* http2 = true (gRPC channels) is protocol "h2c", or "h2" with tls or
 * protocol "https"; a protocol that says otherwise is a file:line error. */
static void test_conf_upstream_http2_is_h2c_or_h2(void **state)
{
	char err[4096];
	struct config *cfg = load(
		"listen { address = \"127.0.0.1\", port = 8080 }\n"
		"upstream \"orders\" { servers = { \"127.0.0.1:9001\" }, http2 = true }\n"
		"upstream \"secure\" { servers = { \"127.0.0.1:9002\" }, http2 = true,\n"
		"                      tls = { verify = false } }\n"
		"upstream \"both\" { servers = { \"127.0.0.1:9003\" }, http2 = true, protocol = \"https\" }\n"
		"upstream \"same\" { servers = { \"127.0.0.1:9004\" }, http2 = true, protocol = \"h2c\" }\n"
		"upstream \"plain\" { servers = { \"127.0.0.1:9005\" }, http2 = false }\n",
		err, sizeof(err));

	(void)state;
	if (!cfg)
		fail_msg("%s", err);
	assert_int_equal(config_upstream(cfg, "orders")->protocol, UP_PROTO_H2C);
	assert_int_equal(config_upstream(cfg, "secure")->protocol, UP_PROTO_H2);
	assert_int_equal(config_upstream(cfg, "both")->protocol, UP_PROTO_H2);
	assert_int_equal(config_upstream(cfg, "same")->protocol, UP_PROTO_H2C);
	assert_int_equal(config_upstream(cfg, "plain")->protocol, UP_PROTO_HTTP);
	config_free(cfg);
	expect_error("listen { address = \"127.0.0.1\", port = 8080 }\n"
	             "\n"
	             "upstream \"orders\" { servers = { \"127.0.0.1:9001\" },\n"
	             "  protocol = \"http\", http2 = true }\n",
	             3, "http2 = true conflicts with protocol = \"http\"");
	expect_error("listen { address = \"127.0.0.1\", port = 8080 }\n"
	             "upstream \"orders\" { servers = { \"127.0.0.1:9001\" }, protocol = \"h2\", "
	             "http2 = false }\n",
	             2, "http2 = false conflicts");
	expect_error("listen { address = \"127.0.0.1\", port = 8080 }\n"
	             "upstream \"orders\" { servers = { \"127.0.0.1:9001\" }, http2 = \"yes\" }\n",
	             2, "http2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_accepts_full_example),
		cmocka_unit_test(test_conf_reports_unknown_key_with_line),
		cmocka_unit_test(test_conf_reports_wrong_type_with_line),
		cmocka_unit_test(test_conf_reports_out_of_range),
		cmocka_unit_test(test_conf_reports_unknown_listen_key),
		cmocka_unit_test(test_conf_reports_nested_unknown_key),
		cmocka_unit_test(test_conf_reports_lua_syntax_error),
		cmocka_unit_test(test_conf_has_empty_environment),
		cmocka_unit_test(test_conf_requires_a_listener),
		cmocka_unit_test(test_conf_rejects_bad_log_level),
		cmocka_unit_test(test_conf_rejects_route_without_handler),
		cmocka_unit_test(test_conf_rejects_bad_method),
		cmocka_unit_test(test_conf_rejects_duplicate_listener),
		cmocka_unit_test(test_conf_rejects_duplicate_plugin),
		cmocka_unit_test(test_conf_stops_runaway_loop),
		cmocka_unit_test(test_conf_rejects_function_values),
		cmocka_unit_test(test_conf_missing_file_is_an_error),
		cmocka_unit_test(test_conf_settings_can_be_reused),
		cmocka_unit_test(test_conf_watchdog_timeout_defaults_to_ten_seconds),
		cmocka_unit_test(test_conf_rejects_watchdog_timeout_under_a_second),
		cmocka_unit_test(test_conf_routes_must_be_a_file_or_a_folder),
		cmocka_unit_test(test_conf_tree_reads_types),
		cmocka_unit_test(test_conf_hub_backplane),
		cmocka_unit_test(test_conf_rejects_bad_hub_backplane),
		cmocka_unit_test(test_conf_upstream_http2_is_h2c_or_h2),
		cmocka_unit_test(test_conf_env_and_secret_file),
		cmocka_unit_test(test_conf_secret_path_join),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
