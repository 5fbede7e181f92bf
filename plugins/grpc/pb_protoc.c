/*
 * pb_protoc.c - compiling .proto files at start and reload by running
 * protoc (Debian's protobuf-compiler) into a temporary FileDescriptorSet.
 *
 * fork + execvp, no shell: paths reach protoc as they are. protoc's
 * stdout and stderr come back through one pipe and are passed on in ERR
 * (its messages are "file:line:col: text"). The child is killed after
 * PB_PROTOC_TIMEOUT seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pb_priv.h"

#define PB_PROTOC_TIMEOUT 30

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_file(const char *path, struct pb_buf *out)
{
	char buf[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		if (pb_buf_add(out, buf, (size_t)n)) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

/* Drops trailing newlines and turns inner ones into "; " for one-line logs. */
static void tidy(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n')
			s[i] = ';';
}

int pb_protoc(const char *protoc, const char *proto, const char *const *import_paths,
              unsigned nimport, struct pb_buf *out, char *err, size_t errlen)
{
	char tmp[] = "/tmp/portico-protoc-XXXXXX";
	char *dir = NULL, *outarg = NULL, msg[2048];
	const char **argv = NULL;
	const char *slash;
	size_t mlen = 0;
	int fd, p[2] = { -1, -1 }, status = 0, rc = -1, timed_out = 0;
	unsigned a = 0, nmade = 0;
	size_t had = out->len;
	long long deadline;
	pid_t pid;

	if (!protoc)
		protoc = "protoc";
	fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "protoc: cannot make a temporary file: %s", strerror(errno));
		return -1;
	}
	close(fd);
	slash = strrchr(proto, '/');
	dir = slash ? strndup(proto, (size_t)(slash > proto ? slash - proto : 1)) : strdup(".");
	argv = calloc(nimport + 8, sizeof(*argv));
	outarg = malloc(strlen(tmp) + 32);
	if (!dir || !argv || !outarg) {
		snprintf(err, errlen, "protoc: out of memory");
		goto done;
	}
	sprintf(outarg, "--descriptor_set_out=%s", tmp);
	argv[a++] = protoc;
	for (unsigned i = 0; i < nimport; i++) {
		char *ip = malloc(strlen(import_paths[i]) + 3);

		if (!ip) {
			snprintf(err, errlen, "protoc: out of memory");
			goto done;
		}
		sprintf(ip, "-I%s", import_paths[i]);
		argv[a++] = ip;
		nmade++;
	}
	{
		char *own = malloc(strlen(dir) + 3);

		if (!own) {
			snprintf(err, errlen, "protoc: out of memory");
			goto done;
		}
		sprintf(own, "-I%s", dir);
		argv[a++] = own;
		nmade++;
	}
	argv[a++] = "-I/usr/include";
	argv[a++] = "--include_imports";
	argv[a++] = outarg;
	argv[a++] = proto;
	argv[a] = NULL;
	if (pipe2(p, O_CLOEXEC)) {
		snprintf(err, errlen, "protoc: pipe: %s", strerror(errno));
		goto done;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "protoc: fork: %s", strerror(errno));
		goto done;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		static const char m[] = "cannot run protoc (install protobuf-compiler): ";

		if (null >= 0)
			dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(protoc, (char *const *)argv);
		if (write(2, m, sizeof(m) - 1) < 0 || write(2, strerror(errno), strlen(strerror(errno))) < 0)
			_exit(127);
		_exit(127);
	}
	close(p[1]);
	p[1] = -1;
	deadline = now_ms() + PB_PROTOC_TIMEOUT * 1000LL;
	for (;;) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		long long left = deadline - now_ms();
		char buf[1024];
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			timed_out = 1;
			break;
		}
		if (poll(&pf, 1, (int)left) < 0 && errno != EINTR)
			break;
		if (!pf.revents)
			continue;
		n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (mlen < sizeof(msg) - 1) {
			size_t k = (size_t)n < sizeof(msg) - 1 - mlen ? (size_t)n : sizeof(msg) - 1 - mlen;

			memcpy(msg + mlen, buf, k);
			mlen += k;
		}
	}
	msg[mlen] = 0;
	tidy(msg);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (timed_out) {
		snprintf(err, errlen, "protoc %s: killed after %d s", proto, PB_PROTOC_TIMEOUT);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (*msg)
			snprintf(err, errlen, "%s", msg);
		else
			snprintf(err, errlen, "protoc %s failed (status %d)", proto, status);
	} else if (read_file(tmp, out)) {
		snprintf(err, errlen, "protoc %s: cannot read its output: %s", proto, strerror(errno));
	} else if (out->len == had) {
		/* no status to read (SIGCHLD ignored) and no output: it failed */
		snprintf(err, errlen, "%s", *msg ? msg : "protoc wrote no descriptor set");
	} else {
		rc = 0;
	}
done:
	if (rc)
		out->len = had;
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	unlink(tmp);
	for (unsigned i = 1; i <= nmade; i++)
		free((void *)argv[i]);	/* the -I options we made */
	free(argv);
	free(outarg);
	free(dir);
	return rc;
}
