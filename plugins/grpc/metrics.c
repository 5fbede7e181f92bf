/*
 * metrics.c - the gRPC server's calls in /metrics, by method and status:
 *
 *   portico_grpc_server_handled_total{grpc_service="pkg.Svc",grpc_method="Get",grpc_code="OK"}
 *
 * (the names go-grpc-prometheus made familiar). Labels are bounded: the
 * methods the contracts declare, the 17 codes; a call to a path that is not
 * a declared method counts as service="(unknown)". The labelled counters
 * (ABI 1.8) are looked up once per (path, code) and cached here; past
 * CACHE_MAX pairs a call is counted in the (unknown) series.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "grpc_priv.h"

#define CACHE_MAX 4096

struct slot {
	char *path;          /* "/pkg.Svc/Method", owned */
	int code;
	pt_metric *m;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot cache[CACHE_MAX * 2];
static unsigned ncache;

static uint32_t hash(const char *s, int code)
{
	uint32_t h = 2166136261u ^ (uint32_t)code;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* A label value: the characters a proto name has, others replaced. */
static void label(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		char c = s[i];

		out[o++] = (c == '"' || c == '\\' || c == '\n') ? '_' : c;
	}
	out[o] = '\0';
}

static pt_metric *make(const char *path, int code)
{
	const struct pt_api *a = grpc_api;
	const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
	char svc[256], meth[256], labels[700];

	if (slash) {
		label(svc, sizeof(svc), path + 1, (size_t)(slash - path - 1));
		label(meth, sizeof(meth), slash + 1, strlen(slash + 1));
	} else {
		snprintf(svc, sizeof(svc), "(unknown)");
		snprintf(meth, sizeof(meth), "(unknown)");
	}
	snprintf(labels, sizeof(labels), "grpc_service=\"%s\",grpc_method=\"%s\",grpc_code=\"%s\"",
	         svc, meth, grpc_code_name(code));
	return a->metric_counter_l(grpc_ctx, "portico_grpc_server_handled_total",
	                           "gRPC calls the server ended, by method and status code.",
	                           labels);
}

void grpc_metrics_call(const char *path, int code)
{
	const struct pt_api *a = grpc_api;
	pt_metric *m = NULL;
	uint32_t h;

	if (!a || !PT_API_HAS(a, metric_counter_l))
		return;
	if (!path)
		path = "";
	h = hash(path, code);
	pthread_mutex_lock(&mu);
	for (unsigned i = 0; i < CACHE_MAX * 2; i++) {
		struct slot *s = &cache[(h + i) % (CACHE_MAX * 2)];

		if (!s->path) {
			if (ncache < CACHE_MAX && (s->path = strdup(path))) {
				s->code = code;
				s->m = make(path, code);
				ncache++;
				m = s->m;
			} else {
				m = make("", code);   /* the (unknown) series: no new pairs */
			}
			break;
		}
		if (s->code == code && !strcmp(s->path, path)) {
			m = s->m;
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	a->metric_add(m, 1);
}
