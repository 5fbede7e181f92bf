/*
 * test_redis.c - unit tests for core/upstream/redis.c.
 *
 * Each test runs its own event_base. A redis-server (/usr/bin/redis-server)
 * is started on a free 127.0.0.1 port for the group; tests that need their
 * own (AUTH, kill and restart) start one more. Every server is ours, stopped
 * by its PID, and dies with us (PR_SET_PDEATHSIG). Without redis-server the
 * tests that need it are skipped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "log.h"
#include "redis.h"

#ifndef REDIS_SERVER
#define REDIS_SERVER "/usr/bin/redis-server"
#endif

/* ---------------------------------------------------------------- servers */

static int have_redis;
static int srv_port;		/* the group's server */
static pid_t srv_pid;
static pid_t local_pid;		/* a test's own server, reaped in teardown */
static char tmpdir[64];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A free 127.0.0.1 port (nothing listens on it when this returns). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&a, &al);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int wait_port(int port, double secs)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int i;

	for (i = 0; i < (int)(secs * 50); i++) {
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

static void reap(pid_t pid, int sig)
{
	if (pid > 0) {
		kill(pid, sig);
		waitpid(pid, NULL, 0);
	}
}

/* Start redis-server on PORT (with requirepass PASS unless NULL); its PID or -1. */
static pid_t redis_start(int port, const char *pass)
{
	char p[16];
	pid_t pid;

	snprintf(p, sizeof(p), "%d", port);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(REDIS_SERVER, "redis-server", "--port", p, "--bind", "127.0.0.1", "-::1",
		      "--save", "", "--appendonly", "no", "--enable-debug-command", "local",
		      "--dir", tmpdir, "--requirepass", pass ? pass : "", (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	if (wait_port(port, 5) < 0) {
		reap(pid, SIGKILL);
		return -1;
	}
	return pid;
}

#define NEED_REDIS() do { \
	if (!have_redis) { \
		print_message("redis-server not found at " REDIS_SERVER ": test skipped\n"); \
		skip(); \
	} \
} while (0)

/* ---------------------------------------------------------------- harness */

struct res {
	int called;
	int type;
	long long integer;
	char str[4096];
	size_t len;
	char err[64];
	int err_null;
	size_t nelem;
	int etype[8];
	long long eint[8];
	double at;
	int seq;		/* order of arrival */
	int free_client;	/* free the client from the callback */
	int reissue;		/* issue a GET of "rt:k" from the callback */
};

static struct event_base *base;
static struct redis_client *client;
static int pending;
static int timed_out;
static int in_call;
static int seq;
static struct res R[8];		/* static: callbacks may outlive a failed test */
static struct res chained;

static void on_res(const struct redis_reply *r, const char *err, void *ud);

static int cmdv(struct redis_client *c, struct res *r, ...)
{
	const char *argv[16];
	int argc = 0, rc;
	va_list ap;

	va_start(ap, r);
	while (argc < 16 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	pending++;
	in_call = 1;
	rc = redis_client_command(c, argc, argv, NULL, on_res, r);
	in_call = 0;
	if (rc < 0)
		pending--;
	return rc;
}

static void on_res(const struct redis_reply *r, const char *err, void *ud)
{
	struct res *x = ud;
	size_t i;

	assert_false(in_call);		/* never from inside redis_client_command */
	assert_non_null(r);
	x->called++;
	x->seq = seq++;
	x->at = now();
	x->type = r->type;
	x->integer = r->integer;
	x->err_null = err == NULL;
	snprintf(x->err, sizeof(x->err), "%s", err ? err : "");
	x->len = r->len;
	x->str[0] = '\0';
	if (r->str)
		snprintf(x->str, sizeof(x->str), "%.*s", (int)r->len, r->str);
	x->nelem = r->nelem;
	for (i = 0; i < r->nelem && i < 8; i++) {
		x->etype[i] = r->elem[i].type;
		x->eint[i] = r->elem[i].integer;
	}
	if (x->reissue) {
		memset(&chained, 0, sizeof(chained));
		assert_int_equal(cmdv(client, &chained, "GET", "rt:k", NULL), 0);
	}
	if (x->free_client) {
		redis_client_free(client);
		client = NULL;
	}
	pending--;
	if (pending <= 0)
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

static struct redis_client *mk(int port, const char *pass, int db, unsigned timeout_ms)
{
	struct redis_opts o = { .host = "127.0.0.1", .port = port, .password = pass, .db = db,
	                        .timeout_ms = timeout_ms };

	return redis_client_new(base, &o);
}

static int setup(void **st)
{
	(void)st;
	base = event_base_new();
	pending = 0;
	seq = 0;
	memset(R, 0, sizeof(R));
	memset(&chained, 0, sizeof(chained));
	client = mk(srv_port, NULL, 0, 2000);
	return base && client ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	redis_client_free(client);
	client = NULL;
	reap(local_pid, SIGKILL);
	local_pid = 0;
	event_base_free(base);
	base = NULL;
	return 0;
}

/* Issue a command and wait for it; for setup steps. */
static struct res *sync_cmd(struct redis_client *c, struct res *r, ...)
{
	const char *argv[16];
	int argc = 0;
	va_list ap;

	va_start(ap, r);
	while (argc < 16 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	memset(r, 0, sizeof(*r));
	pending++;
	assert_int_equal(redis_client_command(c, argc, argv, NULL, on_res, r), 0);
	run(5);
	assert_int_equal(r->called, 1);
	return r;
}

/* ---------------------------------------------------------------- tests */

static void test_redis_set_get_incr_round_trip(void **st)
{
	(void)st;
	NEED_REDIS();
	assert_int_equal(cmdv(client, &R[0], "SET", "rt:k", "hello world", NULL), 0);
	assert_int_equal(cmdv(client, &R[1], "DEL", "rt:n", NULL), 0);
	assert_int_equal(cmdv(client, &R[2], "INCR", "rt:n", NULL), 0);
	assert_int_equal(cmdv(client, &R[3], "INCR", "rt:n", NULL), 0);
	R[3].reissue = 1;	/* a command from inside a callback */
	run(5);
	assert_false(timed_out);
	assert_int_equal(R[0].type, REDIS_T_STATUS);
	assert_string_equal(R[0].str, "OK");
	assert_true(R[0].err_null);
	assert_int_equal(R[2].type, REDIS_T_INT);
	assert_int_equal(R[2].integer, 1);
	assert_int_equal(R[3].integer, 2);
	assert_int_equal(chained.called, 1);
	assert_int_equal(chained.type, REDIS_T_STRING);
	assert_int_equal(chained.len, 11);
	assert_string_equal(chained.str, "hello world");
	for (int i = 0; i < 4; i++)
		assert_int_equal(R[i].called, 1);
}

static struct res pipe_res[1000];

static void test_redis_pipelined_incrs_in_order(void **st)
{
	int i;

	(void)st;
	NEED_REDIS();
	sync_cmd(client, &R[0], "DEL", "pipe:n", NULL);
	memset(pipe_res, 0, sizeof(pipe_res));
	for (i = 0; i < 1000; i++)
		assert_int_equal(cmdv(client, &pipe_res[i], "INCR", "pipe:n", NULL), 0);
	run(10);
	assert_false(timed_out);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(pipe_res[i].called, 1);
		assert_int_equal(pipe_res[i].type, REDIS_T_INT);
		assert_int_equal(pipe_res[i].integer, i + 1);
		assert_int_equal(pipe_res[i].seq, pipe_res[0].seq + i);
	}
	sync_cmd(client, &R[1], "GET", "pipe:n", NULL);
	assert_string_equal(R[1].str, "1000");
}

static long long stat_of(const char *info, const char *cmd, const char *field)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "cmdstat_%s:", cmd);
	p = strstr(info, key);
	if (!p)
		return 0;
	p = strstr(p, field);
	return p ? atoll(p + strlen(field)) : -1;
}

static void eval_once(struct redis_script *s, struct res *r)
{
	const char *argv[] = { "ev:k", "41" };

	memset(r, 0, sizeof(*r));
	pending++;
	in_call = 1;
	assert_int_equal(redis_client_eval(client, s, 1, 2, argv, NULL, on_res, r), 0);
	in_call = 0;
	run(5);
	assert_int_equal(r->called, 1);
}

static void test_redis_eval_evalsha_and_noscript_fallback(void **st)
{
	static struct redis_script s = {
		.src = "return { tonumber(ARGV[1]) + 1, #KEYS, redis.call('INCR', KEYS[1]) }"
	};
	struct res r;

	(void)st;
	NEED_REDIS();
	sync_cmd(client, &R[0], "DEL", "ev:k", NULL);
	sync_cmd(client, &R[0], "SCRIPT", "FLUSH", NULL);
	sync_cmd(client, &R[0], "CONFIG", "RESETSTAT", NULL);

	eval_once(&s, &r);		/* EVALSHA -> NOSCRIPT -> EVAL */
	assert_int_equal(strlen(s.sha), 40);
	assert_true(r.err_null);
	assert_int_equal(r.type, REDIS_T_ARRAY);
	assert_int_equal(r.nelem, 3);
	assert_int_equal(r.etype[0], REDIS_T_INT);
	assert_int_equal(r.eint[0], 42);
	assert_int_equal(r.eint[1], 1);
	assert_int_equal(r.eint[2], 1);

	eval_once(&s, &r);		/* EVALSHA hits */
	assert_int_equal(r.eint[2], 2);
	sync_cmd(client, &R[0], "INFO", "commandstats", NULL);
	assert_int_equal(stat_of(R[0].str, "eval", "calls="), 1);
	assert_int_equal(stat_of(R[0].str, "evalsha", "calls="), 2);
	assert_int_equal(stat_of(R[0].str, "evalsha", "failed_calls="), 1);

	/* the SHA is the server's */
	sync_cmd(client, &R[1], "SCRIPT", "EXISTS", s.sha, NULL);
	assert_int_equal(R[1].type, REDIS_T_ARRAY);
	assert_int_equal(R[1].eint[0], 1);

	sync_cmd(client, &R[0], "SCRIPT", "FLUSH", NULL);
	eval_once(&s, &r);		/* NOSCRIPT again -> EVAL */
	assert_int_equal(r.type, REDIS_T_ARRAY);
	assert_int_equal(r.eint[2], 3);
	sync_cmd(client, &R[0], "INFO", "commandstats", NULL);
	assert_int_equal(stat_of(R[0].str, "eval", "calls="), 2);
	assert_int_equal(stat_of(R[0].str, "evalsha", "failed_calls="), 2);
}

static void test_redis_script_error_is_reply_error(void **st)
{
	static struct redis_script s = { .src = "return redis.error_reply('MYERR nope')" };
	struct res r;

	(void)st;
	NEED_REDIS();
	eval_once(&s, &r);
	assert_int_equal(r.type, REDIS_T_REPLY_ERROR);
	assert_true(r.err_null);
	assert_string_equal(r.str, "MYERR nope");
}

static void test_redis_wrong_type_is_reply_error(void **st)
{
	(void)st;
	NEED_REDIS();
	sync_cmd(client, &R[0], "SET", "wt:s", "x", NULL);
	sync_cmd(client, &R[1], "LPUSH", "wt:s", "y", NULL);
	assert_int_equal(R[1].type, REDIS_T_REPLY_ERROR);
	assert_true(R[1].err_null);
	assert_memory_equal(R[1].str, "WRONGTYPE", 9);
	/* the connection goes on */
	sync_cmd(client, &R[2], "GET", "wt:s", NULL);
	assert_string_equal(R[2].str, "x");
}

static void test_redis_nil_reply(void **st)
{
	(void)st;
	NEED_REDIS();
	sync_cmd(client, &R[0], "DEL", "nil:k", NULL);
	sync_cmd(client, &R[1], "GET", "nil:k", NULL);
	assert_int_equal(R[1].type, REDIS_T_NIL);
	assert_true(R[1].err_null);
	/* nil inside an array, and an empty array */
	sync_cmd(client, &R[2], "MGET", "nil:k", "nil:k", NULL);
	assert_int_equal(R[2].type, REDIS_T_ARRAY);
	assert_int_equal(R[2].nelem, 2);
	assert_int_equal(R[2].etype[1], REDIS_T_NIL);
	sync_cmd(client, &R[3], "LRANGE", "nil:k", "0", "-1", NULL);
	assert_int_equal(R[3].type, REDIS_T_ARRAY);
	assert_int_equal(R[3].nelem, 0);
}

static void test_redis_connection_refused_fails_fast(void **st)
{
	double t0;

	(void)st;
	redis_client_free(client);
	client = mk(free_port(), NULL, 0, 2000);
	t0 = now();
	assert_int_equal(cmdv(client, &R[0], "PING", NULL), 0);
	run(3);
	assert_int_equal(R[0].called, 1);
	assert_int_equal(R[0].type, REDIS_T_ERROR);
	assert_string_equal(R[0].err, "not connected");
	assert_string_equal(R[0].str, "not connected");
	assert_true(R[0].at - t0 < 0.5);
	/* backing off: answered at once, without a new attempt */
	t0 = now();
	assert_int_equal(cmdv(client, &R[1], "PING", NULL), 0);
	run(3);
	assert_string_equal(R[1].err, "not connected");
	assert_true(R[1].at - t0 < 0.05);
}

static void test_redis_connect_timeout(void **st)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct redis_opts o = { .host = "127.0.0.1", .password = "x",
	                        .connect_timeout_ms = 200, .timeout_ms = 3000 };
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	double t0;

	(void)st;
	/* a listener that never answers: TCP completes, AUTH hangs */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	o.port = ntohs(a.sin_port);
	redis_client_free(client);
	client = redis_client_new(base, &o);
	t0 = now();
	assert_int_equal(cmdv(client, &R[0], "PING", NULL), 0);
	run(3);
	close(lfd);
	assert_int_equal(R[0].called, 1);
	assert_string_equal(R[0].err, "not connected");
	assert_true(R[0].at - t0 >= 0.15 && R[0].at - t0 < 0.6);
}

static void test_redis_command_timeout_then_usable(void **st)
{
	double t0;

	(void)st;
	NEED_REDIS();
	redis_client_free(client);
	client = mk(srv_port, NULL, 0, 200);
	sync_cmd(client, &R[0], "PING", NULL);		/* connected */
	t0 = now();
	assert_int_equal(cmdv(client, &R[1], "DEBUG", "SLEEP", "1", NULL), 0);
	run(3);
	assert_int_equal(R[1].called, 1);
	assert_int_equal(R[1].type, REDIS_T_ERROR);
	assert_string_equal(R[1].err, "timeout");
	assert_true(R[1].at - t0 >= 0.18 && R[1].at - t0 < 0.45);
	/* the late +OK must not answer a later command */
	run_for(1.0);
	assert_int_equal(R[1].called, 1);
	sync_cmd(client, &R[2], "PING", NULL);
	assert_int_equal(R[2].type, REDIS_T_STATUS);
	assert_string_equal(R[2].str, "PONG");
	sync_cmd(client, &R[3], "ECHO", "after", NULL);
	assert_string_equal(R[3].str, "after");
}

static void on_kill(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	reap(local_pid, SIGKILL);
	local_pid = 0;
}

static void test_redis_server_killed_then_restarted(void **st)
{
	struct timeval tv = { 0, 100 * 1000 };
	struct event *ev;
	int port = free_port(), i, ok = 0;

	(void)st;
	NEED_REDIS();
	local_pid = redis_start(port, NULL);
	assert_true(local_pid > 0);
	redis_client_free(client);
	client = mk(port, NULL, 0, 5000);
	sync_cmd(client, &R[0], "PING", NULL);
	assert_string_equal(R[0].str, "PONG");

	/* commands in flight when the server dies */
	assert_int_equal(cmdv(client, &R[1], "DEBUG", "SLEEP", "2", NULL), 0);
	assert_int_equal(cmdv(client, &R[2], "SET", "kill:k", "v", NULL), 0);
	ev = evtimer_new(base, on_kill, NULL);
	evtimer_add(ev, &tv);
	run(4);
	event_free(ev);
	assert_int_equal(R[1].called, 1);
	assert_int_equal(R[2].called, 1);
	assert_string_equal(R[1].err, "connection lost");
	assert_string_equal(R[2].err, "connection lost");

	local_pid = redis_start(port, NULL);
	assert_true(local_pid > 0);
	for (i = 0; i < 60 && !ok; i++) {
		sync_cmd(client, &R[3], "PING", NULL);
		if (R[3].type == REDIS_T_STATUS && !strcmp(R[3].str, "PONG"))
			ok = 1;
		else if (strcmp(R[3].err, "not connected"))
			fail_msg("unexpected answer: %s", R[3].err);
		if (!ok)
			run_for(0.1);
	}
	assert_true(ok);
	sync_cmd(client, &R[4], "SET", "kill:k", "again", NULL);
	assert_string_equal(R[4].str, "OK");
}

static void test_redis_auth_and_select(void **st)
{
	int port = free_port();
	struct redis_client *c2;

	(void)st;
	NEED_REDIS();
	local_pid = redis_start(port, "s3cret");
	assert_true(local_pid > 0);

	/* no password: the server says NOAUTH */
	redis_client_free(client);
	client = mk(port, NULL, 0, 2000);
	sync_cmd(client, &R[0], "GET", "auth:k", NULL);
	assert_int_equal(R[0].type, REDIS_T_REPLY_ERROR);
	assert_memory_equal(R[0].str, "NOAUTH", 6);

	/* a wrong password: the connection is refused */
	redis_client_free(client);
	client = mk(port, "wrong", 0, 2000);
	sync_cmd(client, &R[1], "GET", "auth:k", NULL);
	assert_string_equal(R[1].err, "not connected");

	/* the right one, in db 3 */
	redis_client_free(client);
	client = mk(port, "s3cret", 3, 2000);
	sync_cmd(client, &R[2], "SET", "auth:k", "in3", NULL);
	assert_string_equal(R[2].str, "OK");
	sync_cmd(client, &R[3], "GET", "auth:k", NULL);
	assert_string_equal(R[3].str, "in3");
	c2 = mk(port, "s3cret", 0, 2000);
	sync_cmd(c2, &R[4], "GET", "auth:k", NULL);
	assert_int_equal(R[4].type, REDIS_T_NIL);
	redis_client_free(c2);
}

static void test_redis_free_answers_pending_once(void **st)
{
	int i;

	(void)st;
	/* queued while connecting */
	for (i = 0; i < 3; i++)
		assert_int_equal(cmdv(client, &R[i], "PING", NULL), 0);
	redis_client_free(client);
	client = NULL;
	for (i = 0; i < 3; i++) {
		assert_int_equal(R[i].called, 1);
		assert_string_equal(R[i].err, "client closed");
	}
	assert_int_equal(pending, 0);
	run_for(0.2);
	for (i = 0; i < 3; i++)
		assert_int_equal(R[i].called, 1);
}

static void test_redis_callback_frees_client_with_commands_in_flight(void **st)
{
	int i;

	(void)st;
	NEED_REDIS();
	sync_cmd(client, &R[0], "PING", NULL);
	memset(R, 0, sizeof(R));
	R[0].free_client = 1;
	assert_int_equal(cmdv(client, &R[0], "PING", NULL), 0);
	assert_int_equal(cmdv(client, &R[1], "DEBUG", "SLEEP", "0.2", NULL), 0);
	assert_int_equal(cmdv(client, &R[2], "PING", NULL), 0);
	assert_int_equal(cmdv(client, &R[3], "PING", NULL), 0);
	run(3);
	assert_null(client);
	assert_string_equal(R[0].str, "PONG");
	for (i = 1; i < 4; i++) {
		assert_int_equal(R[i].called, 1);
		assert_string_equal(R[i].err, "client closed");
	}
	run_for(0.4);	/* the late replies find nobody */
	for (i = 0; i < 4; i++)
		assert_int_equal(R[i].called, 1);
}

static struct res many[1030];

static void test_redis_too_many_pending(void **st)
{
	int i, ok = 0, full = 0;

	(void)st;
	NEED_REDIS();
	memset(many, 0, sizeof(many));
	for (i = 0; i < 1030; i++)
		assert_int_equal(cmdv(client, &many[i], "PING", NULL), 0);
	run(10);
	for (i = 0; i < 1030; i++) {
		assert_int_equal(many[i].called, 1);
		if (many[i].type == REDIS_T_STATUS)
			ok++;
		else if (!strcmp(many[i].err, "too many pending"))
			full++;
	}
	assert_int_equal(ok, 1024);
	assert_int_equal(full, 6);
}

static void test_redis_refuses_bad_arguments(void **st)
{
	static struct redis_script s = { .src = "return 1" };
	const char *sub[] = { "SUBSCRIBE", "ch" }, *mon[] = { "monitor" };
	const char *cr[] = { "CLIENT", "REPLY", "OFF" }, *k[] = { "k" };

	(void)st;
	assert_int_equal(redis_client_command(client, 0, sub, NULL, on_res, R), -1);
	assert_int_equal(redis_client_command(client, 1, sub, NULL, NULL, R), -1);
	assert_int_equal(redis_client_command(NULL, 1, sub, NULL, on_res, R), -1);
	assert_int_equal(redis_client_command(client, 2, sub, NULL, on_res, R), -1);
	assert_int_equal(redis_client_command(client, 1, mon, NULL, on_res, R), -1);
	assert_int_equal(redis_client_command(client, 3, cr, NULL, on_res, R), -1);
	assert_int_equal(redis_client_eval(client, &s, 2, 1, k, NULL, on_res, R), -1);
	assert_int_equal(redis_client_eval(client, &s, -1, 1, k, NULL, on_res, R), -1);
	assert_int_equal(redis_client_eval(client, NULL, 0, 0, NULL, NULL, on_res, R), -1);
	run_for(0.05);
	assert_int_equal(R[0].called, 0);
	assert_null(redis_client_new(base, &(struct redis_opts){ .port = 70000 }));
	assert_null(redis_client_new(base, &(struct redis_opts){ .db = -1 }));
}

static void test_redis_binary_safe_arguments(void **st)
{
	const char *argv[] = { "SET", "bin:k", "a\0b\r\nc" };
	const size_t lens[] = { 3, 5, 6 };

	(void)st;
	NEED_REDIS();
	pending++;
	assert_int_equal(redis_client_command(client, 3, argv, lens, on_res, &R[0]), 0);
	run(5);
	assert_string_equal(R[0].str, "OK");
	sync_cmd(client, &R[1], "STRLEN", "bin:k", NULL);
	assert_int_equal(R[1].integer, 6);
}

static void test_redis_host_name_is_resolved(void **st)
{
	struct redis_opts o = { .host = "localhost", .port = srv_port };

	(void)st;
	NEED_REDIS();
	redis_client_free(client);
	client = redis_client_new(base, &o);
	sync_cmd(client, &R[0], "PING", NULL);
	assert_string_equal(R[0].str, "PONG");
}

/* A server that accepts and never answers: counts connections and closes. */
static int silent_accepted, silent_closed;

static void on_silent_read(evutil_socket_t fd, short what, void *arg)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	(void)what;
	if (n <= 0) {
		silent_closed++;
		event_free(arg);
		close(fd);
	}
}

static void on_silent_accept(evutil_socket_t lfd, short what, void *arg)
{
	int fd = accept(lfd, NULL, NULL);
	struct event *ev;

	(void)what;
	(void)arg;
	if (fd < 0)
		return;
	silent_accepted++;
	ev = event_new(base, fd, EV_READ | EV_PERSIST, on_silent_read, event_self_cbarg());
	event_add(ev, NULL);
}

static int ticks;
static struct res tick_res[16];

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (ticks < 12) {
		assert_int_equal(cmdv(client, &tick_res[ticks], "PING", NULL), 0);
		ticks++;
	}
}

static void test_redis_silent_connection_is_dropped(void **st)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval every = { 0, 150 * 1000 };
	struct event *acc, *tick;
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), i, timeouts = 0, lost = 0;

	(void)st;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	acc = event_new(base, lfd, EV_READ | EV_PERSIST, on_silent_accept, NULL);
	event_add(acc, NULL);
	silent_accepted = silent_closed = 0;
	ticks = 0;
	memset(tick_res, 0, sizeof(tick_res));
	redis_client_free(client);
	client = mk(ntohs(a.sin_port), NULL, 0, 200);
	/* a PING every 150 ms: each times out; after 1 s of silence with
	   replies owed, the connection is dropped */
	tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	event_add(tick, &every);
	run_for(2.2);
	event_free(tick);
	run(1);
	for (i = 0; i < ticks; i++) {
		assert_int_equal(tick_res[i].called, 1);
		if (!strcmp(tick_res[i].err, "timeout"))
			timeouts++;
		else if (!strcmp(tick_res[i].err, "connection lost"))
			lost++;
	}
	assert_true(timeouts >= 4);
	assert_true(lost >= 1);
	assert_true(silent_accepted >= 1);
	assert_true(silent_closed >= 1);
	redis_client_free(client);
	client = NULL;
	run_for(0.05);
	event_free(acc);
	close(lfd);
}

static void test_redis_free_from_error_callback(void **st)
{
	int i;

	(void)st;
	redis_client_free(client);
	client = mk(free_port(), NULL, 0, 2000);
	R[0].free_client = 1;
	for (i = 0; i < 3; i++)
		assert_int_equal(cmdv(client, &R[i], "PING", NULL), 0);
	run(3);
	assert_null(client);
	assert_string_equal(R[0].err, "not connected");
	for (i = 0; i < 3; i++)
		assert_int_equal(R[i].called, 1);
	assert_string_equal(R[1].err, "client closed");
	assert_string_equal(R[2].err, "client closed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_redis_set_get_incr_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_pipelined_incrs_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_eval_evalsha_and_noscript_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_script_error_is_reply_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_wrong_type_is_reply_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_nil_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_connection_refused_fails_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_connect_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_command_timeout_then_usable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_server_killed_then_restarted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_auth_and_select, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_free_answers_pending_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_callback_frees_client_with_commands_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_too_many_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_refuses_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_binary_safe_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_host_name_is_resolved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_silent_connection_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_free_from_error_callback, setup, teardown),
	};
	const char *filter = getenv("TEST_FILTER");
	int rc;

	signal(SIGPIPE, SIG_IGN);
	log_set_level(getenv("TEST_LOG_DEBUG") ? PT_LOG_DEBUG : PT_LOG_ERROR);
	if (filter)
		cmocka_set_test_filter(filter);
	have_redis = access(REDIS_SERVER, X_OK) == 0;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_redis.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	if (have_redis) {
		srv_port = free_port();
		srv_pid = redis_start(srv_port, NULL);
		if (srv_pid < 0) {
			fprintf(stderr, "cannot start %s\n", REDIS_SERVER);
			return 1;
		}
	} else {
		fprintf(stderr, "%s not found: the tests that need it are skipped\n", REDIS_SERVER);
		srv_port = free_port();
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	reap(srv_pid, SIGTERM);
	rmdir(tmpdir);
	return rc;
}
