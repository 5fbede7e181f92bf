/* log.c - the error log; see log.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static atomic_int log_fd = 2;
static atomic_int cur_level = PT_LOG_INFO;
static const char *level_names[] = { "error", "warn", "info", "debug" };

int log_open(const char *file, int level, char *err, size_t errlen)
{
	int fd = 2, old;

	if (file && *file) {
		fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			snprintf(err, errlen, "cannot open log file %s: %s", file, strerror(errno));
			return -1;
		}
	}
	old = atomic_exchange(&log_fd, fd);
	if (old > 2)
		close(old);
	atomic_store(&cur_level, level);
	return 0;
}

void log_set_level(int level)
{
	atomic_store(&cur_level, level);
}

int log_level(void)
{
	return atomic_load_explicit(&cur_level, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void log_vmsg(int level, const char *who, const char *fmt, va_list ap)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int r;

	if (level > log_level())
		return;
	if (level < 0)
		level = 0;
	if (level > 3)
		level = 3;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ [%s] %s: ", (long)tv.tv_usec / 1000,
	             level_names[level], who ? who : "core");
	n += r > 0 ? (size_t)r : 0;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r < 0)
		r = 0;
	n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;  /* truncated: still one whole line */
	line[n++] = '\n';
	/* one write per line: lines from several threads never interleave */
	if (write(atomic_load(&log_fd), line, n) < 0) {
		/* nowhere left to report it */
	}
}

void log_msg(int level, const char *who, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, who, fmt, ap);
	va_end(ap);
}
