/*
 * metrics.h - counters and gauges registered by the core and plugins,
 * rendered in the Prometheus text format.
 */
#ifndef PT_METRICS_H
#define PT_METRICS_H

#include <stddef.h>
#include "portico/portico.h"

enum metric_kind { METRIC_COUNTER = 0, METRIC_GAUGE = 1 };

#define METRIC_SERIES_MAX 10000   /* label sets per name */
#define METRIC_LABELS_MAX 16      /* labels per set */
#define METRIC_LABELS_LEN 1024    /* bytes of one label set's text */

/* Same NAME twice returns the same metric (if the kind agrees), else NULL. */
pt_metric *metric_new(int kind, const char *name, const char *help);
/*
 * A series of family NAME with LABELS (`a="x",b="y"`, values escaped as the
 * text format requires; NULL or "": none). Same NAME and label set (in any
 * order): the same metric. NULL for a bad name or label syntax, a repeated
 * label, NAME taken by the other kind, or past METRIC_SERIES_MAX sets.
 * HELP is the family's first.
 */
pt_metric *metric_new_l(int kind, const char *name, const char *help, const char *labels);
void metric_add(pt_metric *m, double v);
void metric_set(pt_metric *m, double v);
double metric_value(const pt_metric *m);
/* Appends the text exposition to BUF (malloc'd, caller frees); returns length. */
size_t metrics_render(char **buf);
void metrics_free_all(void);

#endif
