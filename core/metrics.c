/* metrics.c - see metrics.h. Values are doubles updated with CAS: lock-free;
 * registration and rendering take one lock. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "lua_metrics.h"
#include "phase_metrics.h"
#include "req_metrics.h"

/*
 * A family: one name, its help and kind, printed once (# HELP, # TYPE),
 * with its series: one per label set (the unlabelled one has labels "").
 * Families and series live until the process ends, so a plugin's pointer
 * stays valid across reloads and unloads.
 */
struct family {
	struct family *next;
	int kind;
	char *name, *help;
	struct pt_metric *series, **tail;   /* registration order */
	unsigned n;
};

struct pt_metric {
	struct pt_metric *next;
	struct family *fam;
	char *labels;                  /* canonical: sorted by name, "" for none */
	_Atomic double value;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct family *all;

static int name_ok(const char *s)
{
	if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != ':')
			return 0;
	return 1;
}

struct label {
	const char *name, *value;      /* into the caller's text */
	size_t nlen, vlen;             /* VALUE as written: escapes kept */
};

static int label_cmp(const void *a, const void *b)
{
	const struct label *x = a, *y = b;
	size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
	int c = memcmp(x->name, y->name, n);

	return c ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

/*
 * Checks LABELS (`a="x",b="y\"z"`: names [a-zA-Z_][a-zA-Z0-9_]*, values
 * with the exposition format's escapes \\, \" and \n only, no raw line
 * break) and writes it to OUT (room for CAP) sorted by label name, so the
 * same set written in another order is the same series. 0, or -1 when the
 * syntax is bad, a name repeats, or it is too long.
 */
static int labels_canon(const char *labels, char *out, size_t cap)
{
	struct label l[METRIC_LABELS_MAX];
	unsigned n = 0;
	const char *p = labels;
	size_t len = 0;

	while (*p) {
		if (n == METRIC_LABELS_MAX)
			return -1;
		l[n].name = p;
		if (!(isalpha((unsigned char)*p) || *p == '_'))
			return -1;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		l[n].nlen = (size_t)(p - l[n].name);
		if (p[0] != '=' || p[1] != '"')
			return -1;
		p += 2;
		l[n].value = p;
		for (; *p != '"'; p++) {
			if (!*p || *p == '\n' || *p == '\r')
				return -1;
			if (*p == '\\' && p[1] != '\\' && p[1] != '"' && p[1] != 'n')
				return -1;
			if (*p == '\\')
				p++;
		}
		l[n].vlen = (size_t)(p - l[n].value);
		p++;
		n++;
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return -1;
	}
	qsort(l, n, sizeof(l[0]), label_cmp);
	for (unsigned i = 0; i < n; i++) {
		int k;

		if (i && label_cmp(&l[i - 1], &l[i]) == 0)
			return -1;
		k = snprintf(out + len, cap - len, "%s%.*s=\"%.*s\"", i ? "," : "", (int)l[i].nlen,
		             l[i].name, (int)l[i].vlen, l[i].value);
		if (k < 0 || (size_t)k >= cap - len)
			return -1;
		len += (size_t)k;
	}
	out[len] = '\0';
	return 0;
}

static struct family *family_get(int kind, const char *name, const char *help)
{
	struct family *f;

	for (f = all; f; f = f->next)
		if (!strcmp(f->name, name))
			return f->kind == kind ? f : NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->kind = kind;
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	if (!f->name || !f->help) {
		free(f->name);
		free(f->help);
		free(f);
		return NULL;
	}
	f->tail = &f->series;
	f->next = all;
	all = f;
	return f;
}

pt_metric *metric_new_l(int kind, const char *name, const char *help, const char *labels)
{
	char canon[METRIC_LABELS_LEN + 1];
	struct family *f;
	struct pt_metric *m = NULL;

	if (!name_ok(name) || strlen(labels ? labels : "") > METRIC_LABELS_LEN ||
	    labels_canon(labels ? labels : "", canon, sizeof(canon)) != 0)
		return NULL;
	pthread_mutex_lock(&mu);
	f = family_get(kind, name, help);
	for (m = f ? f->series : NULL; m; m = m->next)
		if (!strcmp(m->labels, canon))
			break;
	if (f && !m && f->n < METRIC_SERIES_MAX && (m = calloc(1, sizeof(*m)))) {
		m->fam = f;
		m->labels = strdup(canon);
		atomic_init(&m->value, 0.0);
		if (!m->labels) {
			free(m);
			m = NULL;
		} else {
			*f->tail = m;
			f->tail = &m->next;
			f->n++;
		}
	}
	pthread_mutex_unlock(&mu);
	return m;
}

pt_metric *metric_new(int kind, const char *name, const char *help)
{
	return metric_new_l(kind, name, help, NULL);
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
	for (struct family *fa = all; fa; fa = fa->next) {
		fprintf(f, "# HELP %s ", fa->name);
		for (const char *h = fa->help; *h; h++)   /* a plugin's text: escaped (0.0.4) */
			fputs(*h == '\\' ? "\\\\" : *h == '\n' ? "\\n" : (char[]){ *h, 0 }, f);
		fprintf(f, "\n# TYPE %s %s\n", fa->name,
		        fa->kind == METRIC_COUNTER ? "counter" : "gauge");
		for (struct pt_metric *m = fa->series; m; m = m->next) {
			double v = metric_value(m);

			if (*m->labels)
				fprintf(f, "%s{%s} ", fa->name, m->labels);
			else
				fprintf(f, "%s ", fa->name);
			if (isnan(v))   /* printf's "nan"/"inf" are not the format's spelling */
				fputs("NaN\n", f);
			else if (isinf(v))
				fputs(v > 0 ? "+Inf\n" : "-Inf\n", f);
			else
				fprintf(f, "%.17g\n", v);
		}
	}
	pthread_mutex_unlock(&mu);
	req_metrics_render(f);
	phase_metrics_render(f);
	lua_metrics_render(f);
	fclose(f);
	*buf = out;
	return len;
}

void metrics_free_all(void)
{
	pthread_mutex_lock(&mu);
	while (all) {
		struct family *f = all;

		all = f->next;
		while (f->series) {
			struct pt_metric *m = f->series;

			f->series = m->next;
			free(m->labels);
			free(m);
		}
		free(f->name);
		free(f->help);
		free(f);
	}
	pthread_mutex_unlock(&mu);
}
