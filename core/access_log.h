/*
 * access_log.h - the access log: one line per finished exchange, as text
 * (a template of $fields, nginx-like by default) or as one JSON object.
 *
 * Each generation opens its own log (a reload may change file or format),
 * and lines are written with one write(2) on an O_APPEND descriptor, so the
 * workers need no lock and lines never interleave.
 */
#ifndef PT_ACCESS_LOG_H
#define PT_ACCESS_LOG_H

#include <stddef.h>
#include "portico/portico.h"

struct access_log;

/* PATH NULL, "-" or "stderr": standard error. FORMAT NULL or "text": the
 * default text line; "json"; or a template. NULL with ERR on a bad format
 * or a file that cannot be opened. */
struct access_log *access_log_open(const char *path, const char *format, char *err,
                                   size_t errlen);
/* The query parameters whose values the log writes as REDACTED (N names,
 * copied; at most 32): replaces the default list. 0, or -1. */
int access_log_redact(struct access_log *al, const char *const *names, size_t n);
void access_log_close(struct access_log *al);
/* The line for X, which is finished (answered, or the client went away). */
void access_log_write(struct access_log *al, pt_exchange *x);

#endif
