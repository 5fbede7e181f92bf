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

/* The longest message kept; past it the line is cut (and still ends). */
#define LOG_MAX 8192
/* The longest speaker's name kept (the header before it is under 40 bytes). */
#define WHO_MAX 200

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

/*
 * Copies S[0..N) to OUT (room for CAP bytes) so that it stays on one line:
 * newline, carriage return and tab become \n, \r, \t, other control bytes
 * \xHH (a Lua traceback, a client's bytes in a message). A trailing newline
 * is dropped: it ends the event, it is not part of it. Returns the length.
 */
static size_t one_line(char *out, size_t cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[4];
		size_t k = 0;

		if (c == '\n' || c == '\r' || c == '\t') {
			esc[k++] = '\\';
			esc[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c < 0x20 || c == 0x7f) {
			esc[k++] = '\\';
			esc[k++] = 'x';
			esc[k++] = hex[c >> 4];
			esc[k++] = hex[c & 15];
		} else {
			esc[k++] = (char)c;
		}
		if (o + k > cap)
			break;   /* cut between escapes, never inside one */
		memcpy(out + o, esc, k);
		o += k;
	}
	return o;
}

void log_vmsg(int level, const char *who, const char *fmt, va_list ap)
{
	char msg[LOG_MAX], line[LOG_MAX + 256];
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
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ [%s] ", (long)tv.tv_usec / 1000,
	             level_names[level]);
	n += r > 0 ? (size_t)r : 0;
	who = who ? who : "core";
	n += one_line(line + n, WHO_MAX, who, strlen(who));   /* a script's file:line, a plugin */
	line[n++] = ':';
	line[n++] = ' ';
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (r < 0)
		r = 0;
	/* one event, one line: whatever the message holds, log shippers and
	 * grep see it whole */
	n += one_line(line + n, sizeof(line) - n - 1, msg,
	              (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1);
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
