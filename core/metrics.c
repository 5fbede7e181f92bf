/* metrics.c - see metrics.h. Values are doubles updated with CAS: lock-free. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "req_metrics.h"

struct pt_metric {
	struct pt_metric *next;
	int kind;
	char *name, *help;
	_Atomic double value;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct pt_metric *all;

static int name_ok(const char *s)
{
	if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != ':')
			return 0;
	return 1;
}

pt_metric *metric_new(int kind, const char *name, const char *help)
{
	struct pt_metric *m;

	if (!name_ok(name))
		return NULL;
	pthread_mutex_lock(&mu);
	for (m = all; m; m = m->next)
		if (!strcmp(m->name, name))
			break;
	if (m && m->kind != kind)
		m = NULL;
	else if (!m && (m = calloc(1, sizeof(*m)))) {
		m->kind = kind;
		m->name = strdup(name);
		m->help = strdup(help ? help : "");
		atomic_init(&m->value, 0.0);
		if (!m->name || !m->help) {
			free(m->name);
			free(m->help);
			free(m);
			m = NULL;
		} else {
			m->next = all;
			all = m;
		}
	}
	pthread_mutex_unlock(&mu);
	return m;
}

void metric_add(pt_metric *m, double v)
{
	double old;

	if (!m)
		return;
	old = atomic_load_explicit(&m->value, memory_order_relaxed);
	while (!atomic_compare_exchange_weak(&m->value, &old, old + v))
		;
}

void metric_set(pt_metric *m, double v)
{
	if (m)
		atomic_store(&m->value, v);
}

double metric_value(const pt_metric *m)
{
	return m ? atomic_load((_Atomic double *)&m->value) : 0;
}

size_t metrics_render(char **buf)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f) {
		*buf = NULL;
		return 0;
	}
	pthread_mutex_lock(&mu);
	for (struct pt_metric *m = all; m; m = m->next) {
		fprintf(f, "# HELP %s ", m->name);
		for (const char *h = m->help; *h; h++)   /* a plugin's text: escaped (0.0.4) */
			fputs(*h == '\\' ? "\\\\" : *h == '\n' ? "\\n" : (char[]){ *h, 0 }, f);
		double v = metric_value(m);

		fprintf(f, "\n# TYPE %s %s\n%s ", m->name,
		        m->kind == METRIC_COUNTER ? "counter" : "gauge", m->name);
		if (isnan(v))   /* printf's "nan"/"inf" are not the format's spelling */
			fputs("NaN\n", f);
		else if (isinf(v))
			fputs(v > 0 ? "+Inf\n" : "-Inf\n", f);
		else
			fprintf(f, "%.17g\n", v);
	}
	pthread_mutex_unlock(&mu);
	req_metrics_render(f);
	fclose(f);
	*buf = out;
	return len;
}

void metrics_free_all(void)
{
	pthread_mutex_lock(&mu);
	while (all) {
		struct pt_metric *m = all;

		all = m->next;
		free(m->name);
		free(m->help);
		free(m);
	}
	pthread_mutex_unlock(&mu);
}
