/*
 * metrics.c - the GraphQL plugin's series in /metrics (through the ABI's
 * labelled metrics, ABI 1.8; with an older core they are not made):
 *
 *   portico_graphql_operations_total{type="query|mutation",outcome="ok|field_errors|request_error"}
 *   portico_graphql_documents_refused_total    syntax or validation errors (never executed)
 *   portico_graphql_subscriptions               open subscriptions (SSE and WebSocket)
 *   portico_graphql_subscription_events_total   events sent to subscribers
 *
 * Every series is made at load, so the hot path only adds to a pointer.
 */
#include <stdio.h>
#include <string.h>

#include "exec.h"
#include "gqlp.h"

static pt_metric *ops[2][3], *refused, *subs, *events;

void gqlp_metrics_init(void)
{
	static const char *const types[2] = { "query", "mutation" };
	static const char *const outcomes[3] = { "ok", "field_errors", "request_error" };
	const struct pt_api *a = gqlp_api;
	char labels[96];

	if (!PT_API_HAS(a, metric_gauge_l))
		return;
	for (int t = 0; t < 2; t++)
		for (int o = 0; o < 3; o++) {
			snprintf(labels, sizeof(labels), "type=\"%s\",outcome=\"%s\"", types[t],
			         outcomes[o]);
			ops[t][o] = a->metric_counter_l(gqlp_ctx, "portico_graphql_operations_total",
			                                "GraphQL queries and mutations executed, by "
			                                "outcome.", labels);
		}
	refused = a->metric_counter(gqlp_ctx, "portico_graphql_documents_refused_total",
	                            "GraphQL documents refused before execution (syntax or "
	                            "validation errors, limits).");
	subs = a->metric_gauge(gqlp_ctx, "portico_graphql_subscriptions",
	                       "Open GraphQL subscriptions (SSE and WebSocket).");
	events = a->metric_counter(gqlp_ctx, "portico_graphql_subscription_events_total",
	                           "GraphQL subscription events sent.");
}

void gqlp_metrics_result(int mutation, const struct gql_result *res)
{
	int o = 0;

	if (res->internal || !res->has_data)
		o = 2;
	else if (res->len > 10 && !memcmp(res->json, "{\"errors\"", 9))
		o = 1;
	gqlp_api->metric_add(ops[mutation ? 1 : 0][o], 1);
}

void gqlp_metrics_refused(void)
{
	gqlp_api->metric_add(refused, 1);
}

void gqlp_metrics_subscription(int delta)
{
	gqlp_api->metric_add(subs, delta);
}

void gqlp_metrics_event(void)
{
	gqlp_api->metric_add(events, 1);
}
