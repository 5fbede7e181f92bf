/*
 * metrics.h - counters and gauges registered by the core and plugins,
 * rendered in the Prometheus text format.
 */
#ifndef PT_METRICS_H
#define PT_METRICS_H

#include <stddef.h>
#include "portico/portico.h"

enum metric_kind { METRIC_COUNTER = 0, METRIC_GAUGE = 1 };

/* Same NAME twice returns the same metric (if the kind agrees), else NULL. */
pt_metric *metric_new(int kind, const char *name, const char *help);
void metric_add(pt_metric *m, double v);
void metric_set(pt_metric *m, double v);
double metric_value(const pt_metric *m);
/* Appends the text exposition to BUF (malloc'd, caller frees); returns length. */
size_t metrics_render(char **buf);
void metrics_free_all(void);

#endif
