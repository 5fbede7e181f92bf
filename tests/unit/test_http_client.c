/*
 * test_http_client.c - unit tests for core/upstream/http_client*.c.
 *
 * An event_base runs in the test; a scripted HTTP/1.1 server runs on a
 * pthread with blocking sockets (one thread per connection) and behaves by
 * request path. h2 tests use nghttpd and TLS tests the openssl CLI when they
 * are installed, and are skipped otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "http_client.h"

/* ---------------------------------------------------------------- test server */

static int srv_port;
static atomic_int srv_conns;

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void sendf(int fd, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	send_all(fd, buf, (size_t)n);
}

/* Serve one connection: requests in a loop, behaviour picked by the path. */
static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg, nreq = 0;
	static char big[5000];
	char *buf = malloc(65536);
	size_t have = 0;

	memset(big, 'x', sizeof(big));
	for (;;) {
		char *end, method[16] = "", path[256] = "", *cl;
		size_t head, clen = 0, i;
		char body[4096];

		while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
			ssize_t r = recv(fd, buf + have, 65535 - have, 0);

			if (r <= 0)
				goto out;
			have += (size_t)r;
		}
		head = (size_t)(end - buf) + 4;
		buf[head - 1] = '\0';
		sscanf(buf, "%15s %255s", method, path);
		cl = strcasestr(buf, "\r\ncontent-length:");
		if (cl)
			clen = strtoul(cl + 17, NULL, 10);
		while (have < head + clen) {
			ssize_t r = recv(fd, buf + have, 65535 - have, 0);

			if (r <= 0)
				goto out;
			have += (size_t)r;
		}
		if (clen >= sizeof(body))
			clen = sizeof(body) - 1;
		memcpy(body, buf + head, clen);
		body[clen] = '\0';
		memmove(buf, buf + head + clen, have - head - clen);
		have -= head + clen;
		nreq++;

		if (!strcmp(path, "/silent")) {
			while (recv(fd, body, sizeof(body), 0) > 0)
				;
			goto out;
		} else if (!strcmp(path, "/garbage")) {
			sendf(fd, "garbage\r\n\r\n");
			while (recv(fd, body, sizeof(body), 0) > 0)
				;
			goto out;
		} else if (!strcmp(path, "/close")) {
			sendf(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbye!");
			goto out;
		} else if (!strcmp(path, "/chunked")) {
			sendf(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
			          "Transfer-Encoding: chunked\r\nX-Conn: %d\r\n\r\n"
			          "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n", nreq);
		} else if (!strcmp(path, "/big")) {
			sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", sizeof(big));
			send_all(fd, big, sizeof(big));
		} else if (!strcmp(path, "/bigchunked")) {
			sendf(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
			for (i = 0; i < 10; i++) {
				sendf(fd, "1f4\r\n");
				send_all(fd, big, 500);
				sendf(fd, "\r\n");
			}
			sendf(fd, "0\r\n\r\n");
		} else if (!strcmp(path, "/eof-body")) {
			sendf(fd, "HTTP/1.0 200 OK\r\n\r\nuntil close");
			goto out;
		} else if (!strcmp(path, "/badcl")) {
			sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
		} else if (!strcmp(path, "/drop-second") && nreq > 1) {
			goto out;	/* as if the server timed out the idle connection */
		} else if (!strcmp(path, "/close-idle")) {
			sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
			usleep(30000);
			goto out;
		} else if (!strcmp(method, "HEAD")) {
			sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
		} else {
			char out[8192];
			int n = snprintf(out, sizeof(out), "%s %s cl=%s %s", method, path,
			                 cl ? "yes" : "no", body);
			sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Req: %d\r\n"
			          "Set-Cookie: A=1\r\n\r\n%s", n, nreq, out);
		}
	}
out:
	free(buf);
	close(fd);
	return NULL;
}

static void *srv_main(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t th;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		atomic_fetch_add(&srv_conns, 1);
		pthread_create(&th, NULL, conn_main, (void *)(intptr_t)fd);
		pthread_detach(th);
	}
}

/* A socket bound to a free 127.0.0.1 port; returns the fd, port in *PORT. */
static int bind_free(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	getsockname(fd, (struct sockaddr *)&a, &al);
	*port = ntohs(a.sin_port);
	return fd;
}

static int free_port(void)
{
	int port, fd = bind_free(&port);

	close(fd);
	return port;
}

static int wait_port(int port, double secs)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int i;

	for (i = 0; i < (int)(secs * 20); i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
		if (rc == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* ---------------------------------------------------------------- harness */

struct result {
	int called;
	int status;
	const char *error;
	char body[8192];
	size_t body_len;
	int reused;
	int version;
	char xreq[16];
	int lower_names;
	double at;
};

static struct event_base *base;
static struct http_client *client;
static int pending;
static int timed_out;
static int in_request;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_res(const struct http_client_res *res, void *ud)
{
	struct result *r = ud;
	unsigned i;

	assert_false(in_request);	/* never from inside http_client_request */
	r->called++;
	r->status = res->status;
	r->error = res->error;
	r->reused = res->reused;
	r->version = res->http_version;
	r->at = now();
	r->body_len = res->body.len < sizeof(r->body) - 1 ? res->body.len : sizeof(r->body) - 1;
	if (r->body_len)
		memcpy(r->body, res->body.ptr, r->body_len);
	r->body[r->body_len] = '\0';
	r->lower_names = 1;
	for (i = 0; i < res->num_headers; i++) {
		pt_str_t n = res->headers[i * 2], v = res->headers[i * 2 + 1];
		size_t k;

		for (k = 0; k < n.len; k++)
			if (n.ptr[k] >= 'A' && n.ptr[k] <= 'Z')
				r->lower_names = 0;
		if (n.len == 5 && !memcmp(n.ptr, "x-req", 5) && v.len < sizeof(r->xreq)) {
			memcpy(r->xreq, v.ptr, v.len);
			r->xreq[v.len] = '\0';
		}
	}
	if (--pending == 0)
		event_base_loopbreak(base);
}

static void on_safety(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	timed_out = 1;
	event_base_loopbreak(base);
}

/* Run the loop until every pending callback ran, or SECS passed. */
static void run(double secs)
{
	struct event *ev = evtimer_new(base, on_safety, NULL);
	struct timeval tv = { (time_t)secs, (suseconds_t)((secs - (time_t)secs) * 1e6) };

	timed_out = 0;
	evtimer_add(ev, &tv);
	while (pending > 0 && !timed_out)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
}

/* Run the loop for SECS regardless of callbacks. */
static void run_for(double secs)
{
	int p = pending;

	pending = 1 << 30;
	run(secs);
	pending = p;
}

static struct http_client_call *start_req(const char *method, const char *url, const char *body,
                                          double timeout, struct result *r)
{
	struct http_client_req req = { 0 };
	struct http_client_call *call;

	memset(r, 0, sizeof(*r));
	req.method = (pt_str_t){ method, strlen(method) };
	req.url = (pt_str_t){ url, strlen(url) };
	if (body)
		req.body = (pt_str_t){ body, strlen(body) };
	req.timeout = timeout;
	pending++;
	in_request = 1;
	call = http_client_request(client, &req, on_res, r);
	in_request = 0;
	return call;
}

static char url_buf[256];

static const char *url(const char *path)
{
	snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%d%s", srv_port, path);
	return url_buf;
}

static int setup(void **st)
{
	struct http_client_opts o = { .size = sizeof(o), .max_response_bytes = 4096,
	                              .idle_timeout = 5 };

	(void)st;
	base = event_base_new();
	client = http_client_new(base, &o);
	pending = 0;
	atomic_store(&srv_conns, 0);
	return base && client ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	http_client_free(client);
	event_base_free(base);
	client = NULL;
	base = NULL;
	return 0;
}

/* ---------------------------------------------------------------- HTTP/1.1 tests */

static void test_hc_get(void **st)
{
	struct result r;

	(void)st;
	assert_non_null(start_req("GET", url("/hello?x=1"), NULL, 5, &r));
	run(5);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "GET /hello?x=1 cl=no ");
	assert_int_equal(r.version, 11);
	assert_true(r.lower_names);
	assert_int_equal(r.reused, 0);
}

static void test_hc_post_body(void **st)
{
	struct result r;

	(void)st;
	start_req("POST", url("/p"), "abc=1", 5, &r);
	run(5);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "POST /p cl=yes abc=1");
}

static void test_hc_post_empty_has_content_length(void **st)
{
	struct result r;

	(void)st;
	start_req("POST", url("/p"), NULL, 5, &r);
	run(5);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "POST /p cl=yes ");
}

static void test_hc_keepalive_reuse(void **st)
{
	struct result r1, r2;

	(void)st;
	start_req("GET", url("/a"), NULL, 5, &r1);
	run(5);
	start_req("GET", url("/b"), NULL, 5, &r2);
	run(5);
	assert_int_equal(r1.status, 200);
	assert_int_equal(r2.status, 200);
	assert_int_equal(r1.reused, 0);
	assert_int_equal(r2.reused, 1);
	assert_string_equal(r2.xreq, "2");
	assert_int_equal(atomic_load(&srv_conns), 1);
}

static void test_hc_connection_close_honoured(void **st)
{
	struct result r1, r2;

	(void)st;
	start_req("GET", url("/close"), NULL, 5, &r1);
	run(5);
	start_req("GET", url("/a"), NULL, 5, &r2);
	run(5);
	assert_int_equal(r1.status, 200);
	assert_string_equal(r1.body, "bye!");
	assert_int_equal(r2.status, 200);
	assert_int_equal(r2.reused, 0);
	assert_int_equal(atomic_load(&srv_conns), 2);
}

static void test_hc_chunked_and_100_continue(void **st)
{
	struct result r1, r2;

	(void)st;
	start_req("GET", url("/chunked"), NULL, 5, &r1);
	run(5);
	assert_int_equal(r1.status, 200);
	assert_string_equal(r1.body, "hello, world");
	start_req("GET", url("/a"), NULL, 5, &r2);
	run(5);
	assert_int_equal(r2.status, 200);
	assert_int_equal(r2.reused, 1);
}

static void test_hc_head_no_body_and_reuse(void **st)
{
	struct result r1, r2;

	(void)st;
	start_req("HEAD", url("/h"), NULL, 5, &r1);
	run(5);
	assert_int_equal(r1.status, 200);
	assert_int_equal(r1.body_len, 0);
	start_req("GET", url("/a"), NULL, 5, &r2);
	run(5);
	assert_int_equal(r2.status, 200);
	assert_int_equal(r2.reused, 1);
}

static void test_hc_read_until_close(void **st)
{
	struct result r;

	(void)st;
	start_req("GET", url("/eof-body"), NULL, 5, &r);
	run(5);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "until close");
	assert_int_equal(r.version, 10);
}

static void test_hc_timeout(void **st)
{
	struct result r;
	double t0 = now();

	(void)st;
	start_req("GET", url("/silent"), NULL, 0.2, &r);
	run(5);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.status, PT_ETIMEDOUT);
	assert_non_null(r.error);
	assert_true(r.at - t0 >= 0.19);
	assert_true(r.at - t0 < 1.0);
}

static void test_hc_refused(void **st)
{
	struct result r;
	char u[64];

	(void)st;
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/", free_port());
	start_req("GET", u, NULL, 5, &r);
	run(5);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.status, PT_EIO);
}

static void test_hc_garbage(void **st)
{
	struct result r;
	double t0 = now();

	(void)st;
	start_req("GET", url("/garbage"), NULL, 5, &r);
	run(5);
	assert_int_equal(r.status, PT_EIO);
	assert_true(r.at - t0 < 1.0);	/* refused at once, not at the deadline */
}

static void test_hc_conflicting_cl(void **st)
{
	struct result r;

	(void)st;
	start_req("GET", url("/badcl"), NULL, 5, &r);
	run(5);
	assert_int_equal(r.status, PT_EIO);
}

static void test_hc_too_large(void **st)
{
	struct result r1, r2;

	(void)st;
	start_req("GET", url("/big"), NULL, 5, &r1);
	start_req("GET", url("/bigchunked"), NULL, 5, &r2);
	run(5);
	assert_int_equal(r1.status, PT_ELIMIT);
	assert_int_equal(r2.status, PT_ELIMIT);
}

static void test_hc_cancel(void **st)
{
	struct result r1, r2;
	struct http_client_call *c1, *c2;

	(void)st;
	c1 = start_req("GET", url("/silent"), NULL, 5, &r1);
	c2 = start_req("GET", url("/silent"), NULL, 5, &r2);
	assert_non_null(c1);
	http_client_cancel(c1);
	pending--;
	run_for(0.1);		/* c2 connects and is waiting */
	http_client_cancel(c2);
	pending--;
	run_for(0.2);
	assert_int_equal(r1.called, 0);
	assert_int_equal(r2.called, 0);
}

/* Starts a GET to / with the one header NAME: VALUE and returns its status. */
static int status_with_header(pt_str_t name, pt_str_t value)
{
	struct result r;
	struct http_client_req req = { 0 };
	pt_str_t hdr[2] = { name, value };

	memset(&r, 0, sizeof(r));
	req.url = (pt_str_t){ url("/"), strlen(url("/")) };
	req.headers = hdr;
	req.num_headers = 1;
	pending++;
	in_request = 1;
	assert_non_null(http_client_request(client, &req, on_res, &r));
	in_request = 0;
	run(5);
	return r.status;
}

static void test_hc_invalid_requests(void **st)
{
	struct result r1, r2;

	(void)st;
	start_req("GET", "ftp://127.0.0.1/", NULL, 5, &r1);
	start_req("GET", "http://user@127.0.0.1/", NULL, 5, &r2);
	assert_int_equal(status_with_header(PT_STR("x-a"), PT_STR("b\r\nInjected: 1")), PT_EINVAL);
	assert_int_equal(r1.status, PT_EINVAL);
	assert_int_equal(r2.status, PT_EINVAL);
	assert_int_equal(atomic_load(&srv_conns), 0);
}

/* CR, LF or NUL anywhere in a value is refused: the check goes eight bytes
 * at a time, so put the byte in every place of a word and in the tail. And a
 * name that is not a token. */
static void test_hc_bad_header_byte_anywhere(void **st)
{
	static const char bad[3] = { '\r', '\n', '\0' };
	static const char *const names[] = { "x a", "x:y", "X-Caf\xc3\xa9", "a\tb", "x/y" };
	char v[21];

	(void)st;
	for (unsigned b = 0; b < 3; b++) {
		for (unsigned pos = 0; pos < sizeof(v); pos++) {
			memset(v, 'a', sizeof(v));
			v[3] = '\t';	/* allowed, and below the word check's bound */
			v[pos] = bad[b];
			assert_int_equal(status_with_header(PT_STR("x-a"), (pt_str_t){ v, sizeof(v) }),
			                 PT_EINVAL);
		}
	}
	for (unsigned k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		assert_int_equal(status_with_header((pt_str_t){ names[k], strlen(names[k]) },
		                                    PT_STR("v")), PT_EINVAL);
	assert_int_equal(atomic_load(&srv_conns), 0);
}

static void test_hc_request_headers_sent(void **st)
{
	struct result r;
	struct http_client_req req = { 0 };
	pt_str_t hdr[4] = { PT_STR("X-Test"), PT_STR("yes"), PT_STR("Content-Length"),
	                    PT_STR("999") };

	(void)st;
	memset(&r, 0, sizeof(r));
	req.method = PT_STR("PUT");
	req.url = (pt_str_t){ url("/put"), strlen(url("/put")) };
	req.headers = hdr;
	req.num_headers = 2;
	req.body = PT_STR("xy");
	pending++;
	http_client_request(client, &req, on_res, &r);
	run(5);
	/* the caller's Content-Length is replaced by the real one */
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "PUT /put cl=yes xy");
}

static void test_hc_retry_on_stale_connection(void **st)
{
	struct result r1, r2;

	(void)st;
	start_req("GET", url("/drop-second"), NULL, 5, &r1);
	run(5);
	start_req("GET", url("/drop-second"), NULL, 5, &r2);
	run(5);
	assert_int_equal(r1.status, 200);
	assert_int_equal(r2.status, 200);
	assert_int_equal(r2.reused, 0);		/* answered on the fresh connection */
	assert_int_equal(atomic_load(&srv_conns), 2);
}

static void test_hc_idle_close_detected(void **st)
{
	struct result r1, r2;

	(void)st;
	start_req("GET", url("/close-idle"), NULL, 5, &r1);
	run(5);
	run_for(0.15);		/* the server closes the idle connection */
	start_req("GET", url("/a"), NULL, 5, &r2);
	run(5);
	assert_int_equal(r1.status, 200);
	assert_int_equal(r2.status, 200);
	assert_int_equal(r2.reused, 0);
	assert_int_equal(atomic_load(&srv_conns), 2);
}

static void test_hc_100_concurrent(void **st)
{
	static struct result r[100];
	char u[100][64];
	int i, reused;

	(void)st;
	for (i = 0; i < 100; i++) {
		snprintf(u[i], sizeof(u[i]), "http://127.0.0.1:%d/c%d", srv_port, i);
		assert_non_null(start_req("GET", u[i], NULL, 10, &r[i]));
	}
	run(10);
	for (i = 0; i < 100; i++) {
		char want[64];

		snprintf(want, sizeof(want), "GET /c%d cl=no ", i);
		assert_int_equal(r[i].status, 200);
		assert_string_equal(r[i].body, want);
	}
	/* max_idle_per_host (64 by default) of them stay pooled: a second wave
	   reuses exactly those and opens 36 more */
	for (i = 0; i < 100; i++)
		start_req("GET", u[i], NULL, 10, &r[i]);
	run(10);
	reused = 0;
	for (i = 0; i < 100; i++) {
		assert_int_equal(r[i].status, 200);
		reused += r[i].reused;
	}
	assert_int_equal(reused, 64);
	assert_int_equal(atomic_load(&srv_conns), 136);
}

static void test_hc_localhost_name(void **st)
{
	struct result r;
	char u[64];

	(void)st;
	snprintf(u, sizeof(u), "http://localhost:%d/name", srv_port);
	start_req("GET", u, NULL, 5, &r);
	run(5);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "GET /name cl=no ");
}

static void test_hc_free_with_calls_in_flight(void **st)
{
	struct result r1, r2;

	(void)st;
	start_req("GET", url("/silent"), NULL, 5, &r1);
	start_req("GET", url("/a"), NULL, 5, &r2);
	run_for(0.05);
	http_client_free(client);	/* callbacks are never called */
	client = http_client_new(base, NULL);
	pending = 0;
	run_for(0.1);
	assert_int_equal(r1.called, 0);
}

/* ---------------------------------------------------------------- h2 and TLS */

static char tmpdir[64];
static char cert[128], key[128];

static int have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);

		dup2(nul, 1);
		dup2(nul, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void reap(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static int make_cert(void)
{
	char cmd[512];

	if (cert[0])
		return 0;
	snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
	snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
	         "-subj /CN=localhost >/dev/null 2>&1", key, cert);
	if (system(cmd) != 0) {
		cert[0] = '\0';
		return -1;
	}
	return 0;
}

static void h2_requests(const char *scheme, int port, int insecure)
{
	static struct result r[5];
	struct http_client_req req = { 0 };
	char u[5][96];
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(u[i], sizeof(u[i]), "%s://127.0.0.1:%d/%s", scheme, port,
		         i == 4 ? "missing" : "index.html");
		memset(&r[i], 0, sizeof(r[i]));
		req.url = (pt_str_t){ u[i], strlen(u[i]) };
		req.h2 = 1;
		req.insecure = insecure;
		req.timeout = 5;
		pending++;
		assert_non_null(http_client_request(client, &req, on_res, &r[i]));
	}
	run(5);
	for (i = 0; i < 4; i++) {
		assert_int_equal(r[i].status, 200);
		assert_int_equal(r[i].version, 20);
		assert_string_equal(r[i].body, "h2 body\n");
		assert_true(r[i].lower_names);
	}
	assert_int_equal(r[4].status, 404);
	/* all multiplexed on one connection */
	assert_int_equal(r[0].reused, 0);
	assert_int_equal(r[4].reused, 1);
}

static void test_hc_h2c_prior_knowledge(void **st)
{
	char ports[16], *argv[8];
	int port;
	pid_t pid;

	(void)st;
	if (!have("nghttpd"))
		skip();
	port = free_port();
	snprintf(ports, sizeof(ports), "%d", port);
	argv[0] = "nghttpd";
	argv[1] = "--no-tls";
	argv[2] = "-d";
	argv[3] = tmpdir;
	argv[4] = ports;
	argv[5] = NULL;
	pid = spawn(argv);
	if (wait_port(port, 5) < 0) {
		reap(pid);
		fail_msg("nghttpd did not start");
	}
	h2_requests("http", port, 0);
	reap(pid);
}

/* ---------------------------------------------------------------- h2 streaming */

#define BIG_LEN (8u << 20)	/* tmpdir/big.bin, for streamed h2 downloads */

static pid_t h2c_pid;
static int h2c_port;

/* An nghttpd on tmpdir, h2c; 0, or -1 (skip) when it is not installed. */
static int h2c_start(void)
{
	char ports[16], *argv[8];

	if (!have("nghttpd"))
		return -1;
	h2c_port = free_port();
	snprintf(ports, sizeof(ports), "%d", h2c_port);
	argv[0] = "nghttpd";
	argv[1] = "--no-tls";
	argv[2] = "-d";
	argv[3] = tmpdir;
	argv[4] = ports;
	argv[5] = NULL;
	h2c_pid = spawn(argv);
	if (wait_port(h2c_port, 5) < 0) {
		reap(h2c_pid);
		fail_msg("nghttpd did not start");
	}
	return 0;
}

/* What a streaming call saw. */
struct sres {
	struct result r;		/* the final callback */
	struct http_client_call *call;
	int heads, status;
	int64_t clen;
	int version;
	size_t got, calls_paused;	/* body bytes; body callbacks while paused */
	int last_seen, paused, pause_at_first, stop_at_head;
	size_t small_len;
	char small[64];			/* the first bytes of the body */
};

static int s_head(const struct http_client_res *res, void *ud)
{
	struct sres *s = ud;

	assert_false(in_request);
	s->heads++;
	s->status = res->status;
	s->clen = res->content_length;
	s->version = res->http_version;
	return s->stop_at_head ? -1 : 0;
}

static int s_body(struct evbuffer *buf, size_t n, int last, void *ud)
{
	struct sres *s = ud;

	assert_false(in_request);
	if (s->paused)
		s->calls_paused++;
	if (s->small_len < sizeof(s->small) - 1) {
		size_t k = n < sizeof(s->small) - 1 - s->small_len ? n :
		           sizeof(s->small) - 1 - s->small_len;

		evbuffer_copyout(buf, s->small + s->small_len, k);
		s->small_len += k;
	}
	evbuffer_drain(buf, n);
	s->got += n;
	s->last_seen |= last;
	if (s->pause_at_first && !s->paused && s->got < BIG_LEN) {
		s->pause_at_first = 0;
		s->paused = 1;
		http_client_pause(s->call, 1);
	}
	return 0;
}

static void s_drain(void *ud)
{
	(void)ud;
}

static const struct http_client_stream s_ops = { s_head, s_body, s_drain };

static struct http_client_call *start_stream(const char *method, const char *path, int more,
                                             struct sres *s)
{
	struct http_client_req req = { 0 };
	char u[128];

	memset(s, 0, sizeof(*s));
	snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", h2c_port, path);
	req.method = (pt_str_t){ method, strlen(method) };
	req.url = (pt_str_t){ u, strlen(u) };
	req.h2 = 1;
	req.timeout = 5;
	req.stream = &s_ops;
	req.body_more = more;
	req.body_length = -1;
	pending++;
	in_request = 1;
	s->call = http_client_request(client, &req, on_res, &s->r);
	in_request = 0;
	assert_non_null(s->call);
	return s->call;
}

static void test_hc_h2_stream_download_pauses_and_resumes(void **st)
{
	static struct sres s;
	size_t got;

	(void)st;
	if (h2c_start() < 0)
		skip();
	start_stream("GET", "/big.bin", 0, &s);
	s.pause_at_first = 1;
	run_for(0.5);
	/* the head, then the first DATA, then nothing while paused */
	assert_int_equal(s.heads, 1);
	assert_int_equal(s.status, 200);
	assert_int_equal(s.version, 20);
	assert_int_equal(s.clen, BIG_LEN);
	assert_true(s.paused);
	assert_int_equal(s.calls_paused, 0);
	assert_int_equal(s.r.called, 0);
	got = s.got;
	assert_true(got > 0 && got < BIG_LEN);
	s.paused = 0;
	http_client_pause(s.call, 0);
	assert_int_equal(s.got, got);	/* never calls back at once */
	run(5);
	assert_int_equal(s.r.called, 1);
	assert_int_equal(s.r.status, 200);
	assert_int_equal(s.r.version, 20);
	assert_int_equal(s.got, BIG_LEN);
	assert_true(s.last_seen);
	reap(h2c_pid);
}

static void test_hc_h2_stream_upload_in_pieces(void **st)
{
	static struct sres s;
	static char piece[100000];
	ssize_t q;
	int i;

	(void)st;
	if (h2c_start() < 0)
		skip();
	memset(piece, 'u', sizeof(piece));
	start_stream("POST", "/index.html", 1, &s);
	q = http_client_body_write(s.call, piece, sizeof(piece));	/* before connecting */
	assert_int_equal(q, sizeof(piece));
	for (i = 0; i < 3 && !s.r.called; i++) {
		run_for(0.05);		/* the stream waits for more (DEFERRED) */
		if (s.r.called)
			break;
		q = http_client_body_write(s.call, piece, sizeof(piece));
		assert_true(q >= 0 && q <= (ssize_t)sizeof(piece));
	}
	if (!s.r.called)
		assert_int_equal(http_client_body_end(s.call), 0);
	run(5);
	assert_int_equal(s.r.called, 1);
	assert_int_equal(s.r.status, 200);
	assert_int_equal(s.status, 200);
	assert_string_equal(s.small, "h2 body\n");
	reap(h2c_pid);
}

static void test_hc_h2_stream_receiver_stop_resets_only_the_stream(void **st)
{
	static struct sres s1, s2;

	(void)st;
	if (h2c_start() < 0)
		skip();
	start_stream("GET", "/big.bin", 0, &s1);
	s1.stop_at_head = 1;
	run(5);
	assert_int_equal(s1.r.status, PT_EIO);
	assert_string_equal(s1.r.error, "cancelled by the receiver");
	assert_int_equal(s1.got, 0);
	/* the connection goes on: the next stream rides it */
	start_stream("GET", "/index.html", 0, &s2);
	run(5);
	assert_int_equal(s2.r.status, 200);
	assert_int_equal(s2.r.reused, 1);
	assert_string_equal(s2.small, "h2 body\n");
	reap(h2c_pid);
}

static void test_hc_h2_stream_cancel_while_paused(void **st)
{
	static struct sres s1, s2;

	(void)st;
	if (h2c_start() < 0)
		skip();
	start_stream("GET", "/big.bin", 0, &s1);
	s1.pause_at_first = 1;
	run_for(0.3);
	assert_true(s1.paused);
	http_client_cancel(s1.call);
	pending--;
	run_for(0.1);
	assert_int_equal(s1.r.called, 0);
	start_stream("GET", "/big.bin", 0, &s2);
	run(5);
	assert_int_equal(s2.r.status, 200);
	assert_int_equal(s2.r.reused, 1);
	assert_int_equal(s2.got, BIG_LEN);
	reap(h2c_pid);
}

static void test_hc_h2_stream_server_gone_mid_body(void **st)
{
	static struct sres s;

	(void)st;
	if (h2c_start() < 0)
		skip();
	start_stream("GET", "/big.bin", 0, &s);
	s.pause_at_first = 1;
	run_for(0.3);
	assert_true(s.paused && s.got < BIG_LEN);
	reap(h2c_pid);		/* the server goes away with the body half sent */
	run(5);
	assert_int_equal(s.r.called, 1);
	assert_int_equal(s.r.status, PT_EIO);
	assert_true(s.got < BIG_LEN);
}

static void test_hc_h2_over_tls_alpn(void **st)
{
	char ports[16], *argv[8];
	int port;
	pid_t pid;

	(void)st;
	if (!have("nghttpd") || !have("openssl") || make_cert() < 0)
		skip();
	port = free_port();
	snprintf(ports, sizeof(ports), "%d", port);
	argv[0] = "nghttpd";
	argv[1] = "-d";
	argv[2] = tmpdir;
	argv[3] = ports;
	argv[4] = key;
	argv[5] = cert;
	argv[6] = NULL;
	pid = spawn(argv);
	if (wait_port(port, 5) < 0) {
		reap(pid);
		fail_msg("nghttpd (TLS) did not start");
	}
	h2_requests("https", port, 1);
	reap(pid);
}

static void test_hc_tls_verification(void **st)
{
	char ports[16], u[96], *argv[12];
	struct result r1, r2, r3;
	struct http_client_req req = { 0 };
	int port;
	pid_t pid;

	(void)st;
	if (!have("openssl") || make_cert() < 0)
		skip();
	port = free_port();
	snprintf(ports, sizeof(ports), "%d", port);
	argv[0] = "openssl";
	argv[1] = "s_server";
	argv[2] = "-accept";
	argv[3] = ports;
	argv[4] = "-cert";
	argv[5] = cert;
	argv[6] = "-key";
	argv[7] = key;
	argv[8] = "-www";
	argv[9] = "-quiet";
	argv[10] = NULL;
	pid = spawn(argv);
	if (wait_port(port, 5) < 0) {
		reap(pid);
		fail_msg("openssl s_server did not start");
	}
	/* the s_server status page is larger than the 4 KiB test limit */
	{
		struct http_client_opts o = { .size = sizeof(o) };

		http_client_free(client);
		client = http_client_new(base, &o);
	}
	/* self-signed: verification fails without insecure */
	snprintf(u, sizeof(u), "https://localhost:%d/", port);
	start_req("GET", u, NULL, 5, &r1);
	run(5);
	assert_int_equal(r1.status, PT_EIO);
	assert_non_null(strstr(r1.error, "TLS"));
	/* insecure: succeeds */
	memset(&r2, 0, sizeof(r2));
	req.url = (pt_str_t){ u, strlen(u) };
	req.insecure = 1;
	pending++;
	http_client_request(client, &req, on_res, &r2);
	run(5);
	assert_int_equal(r2.status, 200);
	assert_non_null(strstr(r2.body, "s_server"));
	/* h2 requested, the server has no ALPN: falls back to HTTP/1.x */
	memset(&r3, 0, sizeof(r3));
	req.h2 = 1;
	pending++;
	http_client_request(client, &req, on_res, &r3);
	run(5);
	assert_int_equal(r3.status, 200);
	assert_true(r3.version == 10 || r3.version == 11);
	reap(pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hc_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_post_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_post_empty_has_content_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_keepalive_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_connection_close_honoured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_chunked_and_100_continue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_head_no_body_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_read_until_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_conflicting_cl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_invalid_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_bad_header_byte_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_request_headers_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_retry_on_stale_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_idle_close_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_100_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_localhost_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_free_with_calls_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_h2c_prior_knowledge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_h2_over_tls_alpn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_h2_stream_download_pauses_and_resumes, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_hc_h2_stream_upload_in_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_h2_stream_receiver_stop_resets_only_the_stream,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_h2_stream_cancel_while_paused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_h2_stream_server_gone_mid_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hc_tls_verification, setup, teardown),
	};
	pthread_t th;
	char path[128];
	FILE *f;
	int lfd, rc;

	signal(SIGPIPE, SIG_IGN);
	lfd = bind_free(&srv_port);
	if (lfd < 0 || listen(lfd, 256) < 0) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	pthread_create(&th, NULL, srv_main, (void *)(intptr_t)lfd);
	pthread_detach(th);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_hc.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(path, sizeof(path), "%s/index.html", tmpdir);
	f = fopen(path, "w");
	fputs("h2 body\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/big.bin", tmpdir);
	f = fopen(path, "w");
	for (unsigned i = 0; i < BIG_LEN / 8; i++)
		fwrite("01234567", 1, 8, f);
	fclose(f);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(path, sizeof(path), "rm -rf %s", tmpdir);
	if (system(path) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
