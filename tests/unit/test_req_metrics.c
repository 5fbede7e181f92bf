/* The request metrics: label values escaped, rows summed over workers, the
 * histogram cumulative, and a full table folding into (overflow). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "portico/types.h"
#include "metrics.h"
#include "req_metrics.h"

static char *render(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	req_metrics_render(f);
	fclose(f);
	return out;
}

static void escaping_and_sums(void **state)
{
	char *t;

	(void)state;
	assert_int_equal(req_metrics_init(2), 0);
	req_metrics_count(0, "/a\"b\\c\nd/:id", PT_METHOD_GET, 200, RQ_H1, 1000, 10, 20);
	req_metrics_count(1, "/a\"b\\c\nd/:id", PT_METHOD_GET, 204, RQ_H1, 2000000, 5, 1);
	req_metrics_count(1, NULL, 0, 404, RQ_H2, 10, 0, 0);
	req_metrics_count(1, "/g", PT_METHOD_POST, 200, RQ_GRPC, 10, 0, 0);
	req_metrics_count(7, "/ignored", PT_METHOD_GET, 200, RQ_H1, 10, 0, 0);   /* no such worker */
	t = render();
	assert_non_null(strstr(t, "portico_http_requests_total{route=\"/a\\\"b\\\\c\\nd/:id\","
	                          "method=\"GET\",status=\"2xx\",protocol=\"h1\"} 2\n"));
	assert_non_null(strstr(t, "portico_http_requests_total{route=\"(unmatched)\",method=\"OTHER\","
	                          "status=\"4xx\",protocol=\"h2\"} 1\n"));
	assert_non_null(strstr(t, "{route=\"/g\",method=\"POST\",status=\"2xx\",protocol=\"grpc\"} 1\n"));
	assert_null(strstr(t, "/ignored"));
	/* 1 ms falls in le=0.005, 2 s in le=2.5: cumulative counts */
	assert_non_null(strstr(t, "le=\"0.005\"} 1\n"));
	assert_non_null(strstr(t, "le=\"1\"} 1\n"));
	assert_non_null(strstr(t, "le=\"2.5\"} 2\n"));
	assert_non_null(strstr(t, "le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(t, "portico_http_request_bytes_total 15\n"));
	assert_non_null(strstr(t, "portico_http_response_bytes_total 21\n"));
	free(t);
	req_metrics_free();
}

static void overflow(void **state)
{
	char route[32], *t;

	(void)state;
	assert_int_equal(req_metrics_init(1), 0);
	for (int i = 0; i < REQ_METRICS_SLOTS + 50; i++) {
		snprintf(route, sizeof(route), "/r%d", i);
		req_metrics_count(0, route, PT_METHOD_GET, 200, RQ_H1, 1, 0, 0);
	}
	t = render();
	assert_non_null(strstr(t, "route=\"(overflow)\""));
	free(t);
	req_metrics_free();
}

/* The registry: HELP escaped, infinities and NaN spelled as the format
 * wants, a bad name or the other kind refused. */
static void registry_text(void **state)
{
	pt_metric *g = metric_new(METRIC_GAUGE, "t_gauge", "a\\b\nc");
	char *t = NULL;

	(void)state;
	assert_non_null(g);
	assert_null(metric_new(METRIC_COUNTER, "t_gauge", ""));
	assert_null(metric_new(METRIC_GAUGE, "1bad", ""));
	assert_null(metric_new(METRIC_GAUGE, "bad name", ""));
	metric_set(g, 1.0 / 0.0);
	metrics_render(&t);
	assert_non_null(strstr(t, "# HELP t_gauge a\\\\b\\nc\n"));
	assert_non_null(strstr(t, "\nt_gauge +Inf\n"));
	free(t);
	metric_set(g, 0.0 / 0.0);
	metrics_render(&t);
	assert_non_null(strstr(t, "\nt_gauge NaN\n"));
	free(t);
	metrics_free_all();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escaping_and_sums),
		cmocka_unit_test(overflow),
		cmocka_unit_test(registry_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
