/*
 * log.h - the error log: one line per event, with time, level and the
 * subsystem or plugin that speaks. Thread-safe (one write(2) per line).
 * The writer keeps each event on its line whatever the message holds: a
 * newline, return or tab is written as \n, \r, \t and another control
 * byte as \xHH (a Lua traceback, a refused reload's list of errors).
 */
#ifndef PT_LOG_H
#define PT_LOG_H

#include <stdarg.h>
#include "portico/types.h"

#define LOG_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Opens FILE for appending (NULL: stderr) and sets the level. 0 or -1 with ERR. */
int log_open(const char *file, int level, char *err, size_t errlen);
void log_set_level(int level);
int log_level(void);
/* "error", "warn", "info", "debug" -> enum pt_log_level, or -1. */
int log_level_parse(const char *name);

void log_msg(int level, const char *who, const char *fmt, ...) LOG_PRINTF(3, 4);
void log_vmsg(int level, const char *who, const char *fmt, va_list ap);

#define log_error(who, ...) log_msg(PT_LOG_ERROR, who, __VA_ARGS__)
#define log_warn(who, ...) log_msg(PT_LOG_WARN, who, __VA_ARGS__)
#define log_info(who, ...) log_msg(PT_LOG_INFO, who, __VA_ARGS__)
#define log_debug(who, ...) \
	do { if (log_level() >= PT_LOG_DEBUG) log_msg(PT_LOG_DEBUG, who, __VA_ARGS__); } while (0)

#endif
