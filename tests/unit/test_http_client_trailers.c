/*
 * test_http_client_trailers.c - the outbound client's response trailers
 * (core/upstream/http_client*.c): HTTP/1.1 chunked trailer sections through
 * the strict decoder and HTTP/2 trailing HEADERS (nghttpd --trailer), for
 * buffered calls (res->trailers) and streaming ones (stream->trailers), and
 * their limits.
 *
 * HTTP/1.1: a one-connection server on a pthread answers each request with
 * the canned bytes the test set, then closes. HTTP/2 tests are skipped when
 * nghttpd is not installed.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "http_client.h"

/* ---------------------------------------------------------------- canned HTTP/1.1 server */

static int lfd = -1, srv_port;
static char *canned;		/* the response the next connection gets (owned) */
static size_t canned_len;

/* Accept one connection, read a request head, send CANNED, close (the
 * client may keep it idle: it must not be waited for). */
static void *srv_once(void *arg)
{
	char buf[8192];
	size_t have = 0;
	int fd = accept(lfd, NULL, NULL);

	(void)arg;
	if (fd < 0)
		return NULL;
	while (have < sizeof(buf) - 1) {
		ssize_t r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);

		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	for (size_t off = 0; off < canned_len;) {
		ssize_t w = send(fd, canned + off, canned_len - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);	/* the request was read: no reset */
	return NULL;
}

/* The next connection's response: the printf-formatted head and body. */
static void can(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	free(canned);
	canned = malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(canned, (size_t)n + 1, fmt, ap);
	va_end(ap);
	canned_len = (size_t)n;
}

/* ---------------------------------------------------------------- harness */

static struct event_base *base;
static struct http_client *client;
static int pending, timed_out;

/* What a call saw, in order: ORDER gets 'h' head, 'b' body, 't' trailers,
 * 'e' the end. */
struct seen {
	struct http_client_call *call;
	char order[16];
	int status;
	const char *error;
	char body[256];
	size_t body_len;
	unsigned ntr;
	char tr[8][2][64];		/* the first trailer pairs */
	int fail_trailers;
};

static void note(struct seen *s, char c)
{
	size_t n = strlen(s->order);

	if (n + 1 < sizeof(s->order) && (n == 0 || s->order[n - 1] != c || c != 'b'))
		s->order[n] = c;
}

static void keep_trailers(struct seen *s, const pt_str_t *p, unsigned n)
{
	s->ntr = n;
	for (unsigned i = 0; i < n && i < 8; i++)
		for (int k = 0; k < 2; k++)
			snprintf(s->tr[i][k], sizeof(s->tr[i][k]), "%.*s", (int)p[2 * i + k].len,
			         p[2 * i + k].ptr);
}

static void on_res(const struct http_client_res *res, void *ud)
{
	struct seen *s = ud;

	note(s, 'e');
	s->status = res->status;
	s->error = res->error;
	if (res->body.len && res->body.len < sizeof(s->body)) {
		memcpy(s->body, res->body.ptr, res->body.len);
		s->body_len = res->body.len;
	}
	if (res->num_trailers)
		keep_trailers(s, res->trailers, res->num_trailers);
	if (--pending == 0)
		event_base_loopbreak(base);
}

static int st_head(const struct http_client_res *res, void *ud)
{
	(void)res;
	note(ud, 'h');
	return 0;
}

static int st_body(struct evbuffer *buf, size_t n, int last, void *ud)
{
	struct seen *s = ud;

	(void)last;
	note(s, 'b');
	if (s->body_len + n < sizeof(s->body)) {
		evbuffer_copyout(buf, s->body + s->body_len, n);
		s->body_len += n;
	}
	evbuffer_drain(buf, n);
	return 0;
}

static int st_trailers(const pt_str_t *pairs, unsigned n, void *ud)
{
	struct seen *s = ud;

	note(s, 't');
	keep_trailers(s, pairs, n);
	return s->fail_trailers ? -1 : 0;
}

static const struct http_client_stream st_ops = { st_head, st_body, NULL, st_trailers };

static void on_safety(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	timed_out = 1;
	event_base_loopbreak(base);
}

static void run(double secs)
{
	struct event *ev = evtimer_new(base, on_safety, NULL);
	struct timeval tv = { (time_t)secs, 0 };

	timed_out = 0;
	evtimer_add(ev, &tv);
	while (pending > 0 && !timed_out)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
}

/* GET URL (streaming when STREAM) into S. */
static void get(const char *url, int h2, int stream, struct seen *s)
{
	struct http_client_req req = { 0 };

	memset(s->order, 0, sizeof(s->order));
	s->ntr = 0;
	s->body_len = 0;
	req.url = (pt_str_t){ url, strlen(url) };
	req.h2 = h2;
	req.timeout = 5;
	req.stream = stream ? &st_ops : NULL;
	pending++;
	s->call = http_client_request(client, &req, on_res, s);
	assert_non_null(s->call);
}

/* One canned HTTP/1.1 exchange: the response set with can(). */
static void h1_get(int stream, struct seen *s)
{
	char url[64];
	pthread_t th;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/t", srv_port);
	pthread_create(&th, NULL, srv_once, NULL);
	get(url, 0, stream, s);
	run(5);
	pthread_join(th, NULL);
	assert_false(timed_out);
}

static int setup_with(size_t max_header)
{
	struct http_client_opts o = { .size = sizeof(o), .max_header_bytes = max_header };

	base = event_base_new();
	client = http_client_new(base, &o);
	pending = 0;
	return base && client ? 0 : -1;
}

static int setup(void **st)
{
	(void)st;
	return setup_with(0);
}

static int setup_small(void **st)
{
	(void)st;
	return setup_with(600);
}

static int teardown(void **st)
{
	(void)st;
	http_client_free(client);
	event_base_free(base);
	return 0;
}

#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

/* ---------------------------------------------------------------- HTTP/1.1 */

static void test_h1_buffered_call_gets_trailers_lower_case(void **st)
{
	struct seen s = { 0 };

	(void)st;
	can(CHUNKED_HEAD "5\r\nhello\r\n0\r\nGrpc-Status: 0\r\nX-Empty:\r\n"
	    "grpc-message:  a b  \r\n\r\n");
	h1_get(0, &s);
	assert_int_equal(s.status, 200);
	assert_string_equal(s.body, "hello");
	assert_int_equal(s.ntr, 3);
	assert_string_equal(s.tr[0][0], "grpc-status");
	assert_string_equal(s.tr[0][1], "0");
	assert_string_equal(s.tr[1][0], "x-empty");
	assert_string_equal(s.tr[1][1], "");
	assert_string_equal(s.tr[2][0], "grpc-message");
	assert_string_equal(s.tr[2][1], "a b");
}

static void test_h1_no_trailers_means_none(void **st)
{
	struct seen s = { 0 };

	(void)st;
	can(CHUNKED_HEAD "5\r\nhello\r\n0\r\n\r\n");
	h1_get(1, &s);
	assert_int_equal(s.status, 200);
	assert_string_equal(s.order, "hbe");	/* no trailers callback */
	assert_int_equal(s.ntr, 0);
}

static void test_h1_stream_trailers_after_body_before_end(void **st)
{
	struct seen s = { 0 };

	(void)st;
	can(CHUNKED_HEAD "3\r\nabc\r\n3\r\ndef\r\n0\r\nx-a: 1\r\nx-b: 2\r\n\r\n");
	h1_get(1, &s);
	assert_int_equal(s.status, 200);
	assert_string_equal(s.order, "hbte");
	assert_string_equal(s.body, "abcdef");
	assert_int_equal(s.ntr, 2);
	assert_string_equal(s.tr[1][0], "x-b");
	assert_string_equal(s.tr[1][1], "2");
}

static void test_h1_stream_trailers_callback_fails_the_call(void **st)
{
	struct seen s = { 0 };

	(void)st;
	s.fail_trailers = 1;
	can(CHUNKED_HEAD "3\r\nabc\r\n0\r\nx-a: 1\r\n\r\n");
	h1_get(1, &s);
	assert_int_equal(s.status, PT_EIO);
	assert_string_equal(s.order, "hbte");
}

static void test_h1_too_many_trailers_is_elimit(void **st)
{
	struct seen s = { 0 };
	char *many = malloc(300 * 16 + 1), *w = many;

	(void)st;
	for (int i = 0; i < 300; i++)
		w += sprintf(w, "x-%d: v\r\n", i);
	can(CHUNKED_HEAD "3\r\nabc\r\n0\r\n%s\r\n", many);
	free(many);
	h1_get(0, &s);
	assert_int_equal(s.status, PT_ELIMIT);
	assert_int_equal(s.ntr, 0);
}

static void test_h1_trailer_section_past_head_bytes_is_elimit(void **st)
{
	struct seen s = { 0 };
	char *big = malloc(70001);

	(void)st;
	memset(big, 'v', 70000);
	big[70000] = '\0';
	can(CHUNKED_HEAD "3\r\nabc\r\n0\r\nx-big: %s\r\n\r\n", big);
	free(big);
	h1_get(1, &s);	/* streaming too: the pullup grows until the decoder stops */
	assert_int_equal(s.status, PT_ELIMIT);
	assert_string_equal(s.error, "response trailers too large");
}

static void test_h1_small_limit_counts_trailer_bytes(void **st)
{
	struct seen s = { 0 };
	char v[700];

	(void)st;
	memset(v, 'v', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	/* a head well under the 600-byte limit, a trailer over it */
	can(CHUNKED_HEAD "3\r\nabc\r\n0\r\nx-big: %s\r\n\r\n", v);
	h1_get(0, &s);
	assert_int_equal(s.status, PT_ELIMIT);
}

static void test_h1_malformed_trailers_are_eio(void **st)
{
	static const char *bad[] = {
		"x bad: 1\r\n\r\n",		/* space in the name */
		"x-a : 1\r\n\r\n",		/* whitespace before the colon */
		"x-a: 1\n\r\n",			/* bare LF */
		"x-a: 1\r\n folded\r\n\r\n",	/* obs-fold */
		"x-a: \x01\r\n\r\n",		/* control byte */
		"novalue\r\n\r\n",		/* no colon */
	};

	(void)st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct seen s = { 0 };

		can(CHUNKED_HEAD "3\r\nabc\r\n0\r\n%s", bad[i]);
		h1_get(i & 1, &s);
		if (s.status != PT_EIO)
			fail_msg("case %zu: status %d", i, s.status);
		assert_int_equal(s.ntr, 0);
	}
}

static void test_h1_truncated_trailers_are_eio(void **st)
{
	struct seen s = { 0 };

	(void)st;
	can(CHUNKED_HEAD "3\r\nabc\r\n0\r\nx-a: 1\r\n");	/* no final CRLF, then EOF */
	h1_get(1, &s);
	assert_int_equal(s.status, PT_EIO);
	assert_int_equal(s.ntr, 0);
	assert_true(strchr(s.order, 't') == NULL);
}

/* ---------------------------------------------------------------- HTTP/2 */

static char tmpdir[64];

static int have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

static int wait_port(int port)
{
	for (int i = 0; i < 100; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		int fd = socket(AF_INET, SOCK_STREAM, 0), rc;
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
		if (rc == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &al);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* An nghttpd (h2c) on tmpdir adding the trailer fields TR (NTR of them, at
 * most 300); its pid, port in *PORT; -1 to skip. */
static pid_t nghttpd_start(const char *const *tr, int ntr, int *port)
{
	char ports[16];
	char *argv[8 + 2 * 300];
	int a = 0;
	pid_t pid;

	if (!have("nghttpd"))
		return -1;
	*port = free_port();
	snprintf(ports, sizeof(ports), "%d", *port);
	argv[a++] = "nghttpd";
	argv[a++] = "--no-tls";
	argv[a++] = "-d";
	argv[a++] = tmpdir;
	for (int i = 0; i < ntr; i++) {
		argv[a++] = "--trailer";
		argv[a++] = (char *)tr[i];
	}
	argv[a++] = ports;
	argv[a] = NULL;
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);

		dup2(nul, 1);
		dup2(nul, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (wait_port(*port) < 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		fail_msg("nghttpd did not start");
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static void h2_get(int port, int stream, struct seen *s)
{
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/index.html", port);
	get(url, 1, stream, s);
	run(5);
	assert_false(timed_out);
}

static void test_h2_trailers_buffered_and_streamed(void **st)
{
	static const char *tr[] = { "Grpc-Status: 7", "grpc-message: no%20way", "x-bin-bin: AAE=" };
	struct seen s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
	int port;
	pid_t pid;

	(void)st;
	if ((pid = nghttpd_start(tr, 3, &port)) < 0)
		skip();
	h2_get(port, 0, &s1);
	assert_int_equal(s1.status, 200);
	assert_string_equal(s1.body, "h2 body\n");
	assert_int_equal(s1.ntr, 3);
	assert_string_equal(s1.tr[0][0], "grpc-status");
	assert_string_equal(s1.tr[0][1], "7");
	assert_string_equal(s1.tr[1][1], "no%20way");
	assert_string_equal(s1.tr[2][0], "x-bin-bin");
	h2_get(port, 1, &s2);
	assert_int_equal(s2.status, 200);
	assert_string_equal(s2.order, "hbte");
	assert_string_equal(s2.body, "h2 body\n");
	assert_int_equal(s2.ntr, 3);
	assert_string_equal(s2.tr[0][1], "7");
	/* a receiver refusing them fails the call; the connection goes on */
	s3.fail_trailers = 1;
	h2_get(port, 1, &s3);
	assert_int_equal(s3.status, PT_EIO);
	assert_string_equal(s3.order, "hbte");
	h2_get(port, 0, &s1);
	assert_int_equal(s1.status, 200);
	reap(pid);
}

static void test_h2_no_trailers_means_none(void **st)
{
	struct seen s = { 0 };
	int port;
	pid_t pid;

	(void)st;
	if ((pid = nghttpd_start(NULL, 0, &port)) < 0)
		skip();
	h2_get(port, 1, &s);
	assert_int_equal(s.status, 200);
	assert_string_equal(s.order, "hbe");
	h2_get(port, 0, &s);
	assert_int_equal(s.ntr, 0);
	reap(pid);
}

/* setup_small: a 600-byte head limit; trailers past it fail the call. */
static void test_h2_trailer_bytes_past_limit_is_elimit(void **st)
{
	static char big[720];
	const char *tr[] = { big };
	struct seen s1 = { 0 }, s2 = { 0 };
	int port;
	pid_t pid;

	(void)st;
	memcpy(big, "x-big: ", 7);
	memset(big + 7, 'v', sizeof(big) - 8);
	if ((pid = nghttpd_start(tr, 1, &port)) < 0)
		skip();
	h2_get(port, 0, &s1);
	assert_int_equal(s1.status, PT_ELIMIT);
	assert_string_equal(s1.error, "response trailers too large");
	h2_get(port, 1, &s2);
	assert_int_equal(s2.status, PT_ELIMIT);
	assert_true(strchr(s2.order, 't') == NULL);
	reap(pid);
}

static void test_h2_too_many_trailers_is_elimit(void **st)
{
	static char names[300][16];
	const char *tr[300];
	struct seen s = { 0 };
	int port;
	pid_t pid;

	(void)st;
	for (int i = 0; i < 300; i++) {
		snprintf(names[i], sizeof(names[i]), "x-%d: v", i);
		tr[i] = names[i];
	}
	if ((pid = nghttpd_start(tr, 300, &port)) < 0)
		skip();
	h2_get(port, 1, &s);
	assert_int_equal(s.status, PT_ELIMIT);
	reap(pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_h1_buffered_call_gets_trailers_lower_case, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_h1_no_trailers_means_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h1_stream_trailers_after_body_before_end, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_h1_stream_trailers_callback_fails_the_call, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_h1_too_many_trailers_is_elimit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h1_trailer_section_past_head_bytes_is_elimit,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_h1_small_limit_counts_trailer_bytes, setup_small,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_h1_malformed_trailers_are_eio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h1_truncated_trailers_are_eio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2_trailers_buffered_and_streamed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2_no_trailers_means_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2_trailer_bytes_past_limit_is_elimit, setup_small,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_h2_too_many_trailers_is_elimit, setup, teardown),
	};
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	char path[128];
	FILE *f;
	int rc, one = 1;

	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 16) < 0)
		return 1;
	getsockname(lfd, (struct sockaddr *)&a, &al);
	srv_port = ntohs(a.sin_port);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_hct.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(path, sizeof(path), "%s/index.html", tmpdir);
	f = fopen(path, "w");
	fputs("h2 body\n", f);
	fclose(f);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(path, sizeof(path), "rm -rf %s", tmpdir);
	if (system(path) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(canned);
	return rc;
}
