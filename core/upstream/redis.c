/*
 * redis.c - the asynchronous Redis client of one worker. See redis.h.
 *
 * Shape: one hiredis async context at a time, driven by hiredis' libevent
 * adapter. The client moves IDLE -> CONNECTING (evdns lookup unless the host
 * is an IP literal, TCP connect, AUTH, SELECT) -> READY, and on any failure
 * to BACKOFF, then back to IDLE: the next command connects again.
 *
 * A command (struct cmd) owns a copy of its arguments and sits on one list:
 *  - pending: unanswered, in issue order, which is also deadline order since
 *    the timeout is the same for all: one timer serves them all. While
 *    CONNECTING its commands wait here unsent; on READY they are sent.
 *  - failed: answer decided (error), delivered by a zero timer, so that no
 *    callback runs inside redis_client_command() nor inside hiredis' teardown.
 *  - orphans: answered (timed out) but hiredis still holds it as privdata:
 *    hiredis calls every registered callback exactly once (with NULL when the
 *    context goes away), and that call frees it.
 *
 * Timeouts: a command that times out is answered at once and its late reply
 * is dropped when it comes; the connection is kept, since hiredis matches
 * replies to commands in order. The connection is dropped (and made again
 * later) only when it has owed replies without sending any for
 * max(4 x timeout, 1 s), or holds more than 1024 orphans.
 *
 * User callbacks run from hiredis' reply callbacks (with a reply) or from our
 * timers. deliver() unlinks a command before its callback; c->depth counts
 * callbacks running so that redis_client_free() from inside one defers the
 * final free() until they return. hiredis defers its own redisAsyncFree()
 * while inside a reply callback; its teardown then calls our callbacks, which
 * find cmd->c or ac->data NULL and only free.
 */
#include "redis.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "log.h"
#include "redis_dial.h"

#define WHO "redis"
#define DEF_PORT 6379
#define DEF_CONNECT_TIMEOUT_MS 1000
#define DEF_TIMEOUT_MS 1000
#define MAX_PENDING 1024
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STALL_FACTOR 4
#define STALL_MIN_MS 1000
#define SMALL_REPLY 16			/* reply nodes converted on the stack */

enum state { ST_IDLE, ST_CONNECTING, ST_READY, ST_BACKOFF };
enum where { IN_NONE, IN_PENDING, IN_FAILED, IN_ORPHANS };

struct cmd {
	struct cmd *prev, *next;
	struct redis_client *c;		/* NULL once the client is gone */
	redis_fn fn;
	void *ud;
	int where;			/* enum where: the list it is on */
	int in_hiredis;			/* hiredis holds it as privdata */
	int sent;
	int retried;			/* NOSCRIPT fallback done */
	struct redis_script *script;	/* borrowed; set for evals */
	const char *err;		/* IN_FAILED: what to answer */
	uint64_t deadline;		/* monotonic microseconds */
	int argc;
	const char **argv;		/* into this allocation, or S->src */
	size_t *argvlen;
};

struct cmd_list {
	struct cmd *head, *tail;
	size_t n;
};

struct redis_client {
	struct event_base *base;
	struct evdns_base *dns;		/* made on the first name lookup */
	char *host;
	int port;
	char *password;
	int db;
	unsigned connect_timeout_ms;
	unsigned timeout_ms;
	int host_is_ip;

	int state;			/* enum state */
	redisAsyncContext *ac;		/* CONNECTING (after lookup) and READY */
	struct redis_dial *lookup;	/* while a name lookup runs */
	unsigned attempt;		/* picks among resolved addresses */
	int hs_left;			/* AUTH/SELECT replies awaited */
	unsigned backoff_ms;		/* the next backoff */
	int failing;			/* an outage was logged */
	unsigned owed;			/* replies the connection owes us */
	uint64_t quiet_since;		/* last reply, or first command owed */

	struct cmd_list pending, failed, orphans;
	struct event *ev_cmd;		/* deadline of pending.head (or earlier) */
	struct event *ev_conn;		/* connect timeout */
	struct event *ev_backoff;
	struct event *ev_flush;		/* delivers the failed list */
	int depth;			/* user callbacks running */
	int closing;
};

static void on_reply(redisAsyncContext *ac, void *r, void *priv);

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void arm_us(struct event *ev, uint64_t us)
{
	struct timeval tv = { (time_t)(us / 1000000u), (suseconds_t)(us % 1000000u) };

	evtimer_add(ev, &tv);
}

/* ---------------------------------------------------------------- lists */

static struct cmd_list *list_of(struct redis_client *c, int where)
{
	switch (where) {
	case IN_PENDING:
		return &c->pending;
	case IN_FAILED:
		return &c->failed;
	case IN_ORPHANS:
		return &c->orphans;
	}
	return NULL;
}

static void cmd_link(struct redis_client *c, struct cmd *cmd, int where)
{
	struct cmd_list *l = list_of(c, where);

	cmd->where = where;
	cmd->next = NULL;
	cmd->prev = l->tail;
	if (l->tail)
		l->tail->next = cmd;
	else
		l->head = cmd;
	l->tail = cmd;
	l->n++;
}

static void cmd_unlink(struct redis_client *c, struct cmd *cmd)
{
	struct cmd_list *l = list_of(c, cmd->where);

	if (!l)
		return;
	if (cmd->prev)
		cmd->prev->next = cmd->next;
	else
		l->head = cmd->next;
	if (cmd->next)
		cmd->next->prev = cmd->prev;
	else
		l->tail = cmd->prev;
	l->n--;
	cmd->prev = cmd->next = NULL;
	cmd->where = IN_NONE;
}

/*
 * A command with a copy of LEAD[0..NLEAD) then ARGV[0..ARGC) (lengths from
 * the *LEN arrays, or strlen when those are NULL), in one allocation.
 */
static struct cmd *cmd_new(int nlead, const char *const *lead, const size_t *leadlen,
                           int argc, const char *const *argv, const size_t *argvlen)
{
	size_t n = (size_t)nlead + (size_t)argc, size, len;
	struct cmd *cmd;
	char *p;
	int i;

	size = sizeof(*cmd) + n * (sizeof(char *) + sizeof(size_t));
	for (i = 0; i < nlead + argc; i++) {
		if (i < nlead)
			len = leadlen ? leadlen[i] : strlen(lead[i]);
		else
			len = argvlen ? argvlen[i - nlead] : strlen(argv[i - nlead]);
		if (len > SIZE_MAX - size)
			return NULL;
		size += len;
	}
	cmd = calloc(1, size);
	if (!cmd)
		return NULL;
	cmd->argc = (int)n;
	cmd->argv = (const char **)(cmd + 1);
	cmd->argvlen = (size_t *)(cmd->argv + n);
	p = (char *)(cmd->argvlen + n);
	for (i = 0; i < nlead + argc; i++) {
		const char *src = i < nlead ? lead[i] : argv[i - nlead];

		if (i < nlead)
			len = leadlen ? leadlen[i] : strlen(src);
		else
			len = argvlen ? argvlen[i - nlead] : strlen(src);
		memcpy(p, src, len);
		cmd->argv[i] = p;
		cmd->argvlen[i] = len;
		p += len;
	}
	return cmd;
}

/* ---------------------------------------------------------------- answers */

static void client_destroy(struct redis_client *c)
{
	event_free(c->ev_cmd);
	event_free(c->ev_conn);
	event_free(c->ev_backoff);
	event_free(c->ev_flush);
	if (c->dns)
		evdns_base_free(c->dns, 0);	/* a cancelled lookup still gets
						   its callback, from the loop */
	free(c->host);
	free(c->password);
	free(c);
}

/* After a user callback: 0, or -1 when the client is closing (and maybe gone). */
static int leave(struct redis_client *c)
{
	if (--c->depth == 0 && c->closing) {
		client_destroy(c);
		return -1;
	}
	return c->closing ? -1 : 0;
}

/*
 * Answer CMD with R, or with ERR when R is NULL: unlink it (free it, or leave
 * it to hiredis as an orphan), then run its callback. Returns -1 when the
 * client is closing or gone: C must not be touched then.
 */
static int deliver(struct redis_client *c, struct cmd *cmd, const struct redis_reply *r,
                   const char *err)
{
	struct redis_reply er = { .type = REDIS_T_ERROR };
	redis_fn fn = cmd->fn;
	void *ud = cmd->ud;

	cmd_unlink(c, cmd);
	if (cmd->in_hiredis)
		cmd_link(c, cmd, IN_ORPHANS);
	else
		free(cmd);
	if (!r) {
		er.str = err;
		er.len = strlen(err);
		r = &er;
	}
	c->depth++;
	fn(r, r == &er ? err : NULL, ud);
	return leave(c);
}

/* Answer CMD with ERR from a zero timer. */
static void fail_later(struct redis_client *c, struct cmd *cmd, const char *err)
{
	static const struct timeval zero = { 0, 0 };

	cmd->err = err;
	cmd_link(c, cmd, IN_FAILED);
	if (!evtimer_pending(c->ev_flush, NULL))
		evtimer_add(c->ev_flush, &zero);
}

/* Deliver the failed list as it was on entry; later additions wait a turn. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct redis_client *c = arg;
	size_t n = c->failed.n;
	struct cmd *cmd;

	(void)fd;
	(void)what;
	while (n-- && (cmd = c->failed.head))
		if (deliver(c, cmd, NULL, cmd->err) < 0)
			return;
	if (c->failed.head && !evtimer_pending(c->ev_flush, NULL)) {
		struct timeval zero = { 0, 0 };

		evtimer_add(c->ev_flush, &zero);
	}
}

static size_t reply_count(const redisReply *r)
{
	size_t n = 1, i;

	if (r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->elements; i++)
			n += reply_count(r->element[i]);
	return n;
}

/* Fill D from S; arrays take their elements from *NEXT. Strings are borrowed. */
static void reply_fill(struct redis_reply *d, const redisReply *s, struct redis_reply **next)
{
	struct redis_reply *e;
	size_t i;

	memset(d, 0, sizeof(*d));
	switch (s->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		d->type = s->type == REDIS_REPLY_STRING ? REDIS_T_STRING :
		          s->type == REDIS_REPLY_STATUS ? REDIS_T_STATUS : REDIS_T_REPLY_ERROR;
		d->str = s->str;
		d->len = s->len;
		break;
	case REDIS_REPLY_INTEGER:
		d->type = REDIS_T_INT;
		d->integer = s->integer;
		break;
	case REDIS_REPLY_ARRAY:
		d->type = REDIS_T_ARRAY;
		d->nelem = s->elements;
		if (!s->elements)
			break;
		e = *next;
		*next += s->elements;
		d->elem = e;
		for (i = 0; i < s->elements; i++)
			reply_fill(&e[i], s->element[i], next);
		break;
	default:
		d->type = REDIS_T_NIL;
		break;
	}
}

/* Answer CMD with hiredis' REPLY, converted (REPLY stays hiredis'). */
static void deliver_reply(struct redis_client *c, struct cmd *cmd, const redisReply *reply)
{
	struct redis_reply small[SMALL_REPLY], *nodes = small, *next;
	size_t n = reply_count(reply);

	if (n > SMALL_REPLY) {
		nodes = n <= SIZE_MAX / sizeof(*nodes) ? malloc(n * sizeof(*nodes)) : NULL;
		if (!nodes) {
			deliver(c, cmd, NULL, "out of memory");
			return;
		}
	}
	next = nodes + 1;
	reply_fill(nodes, reply, &next);
	deliver(c, cmd, nodes, NULL);
	if (nodes != small)
		free(nodes);
}

/* ---------------------------------------------------------------- connection */

/*
 * The connection failed or died (WHY says how, for the log): answer every
 * pending command ("connection lost" if sent, else "not connected"), back off.
 * FREE_AC: we drop the context; else hiredis is already tearing it down.
 */
static void conn_down(struct redis_client *c, const char *why, int free_ac)
{
	redisAsyncContext *ac = c->ac;
	int was_ready = c->state == ST_READY;
	struct cmd *cmd;

	redis_dial_cancel(&c->lookup);
	c->ac = NULL;
	if (ac)
		ac->data = NULL;
	evtimer_del(c->ev_conn);
	while ((cmd = c->pending.head)) {
		cmd_unlink(c, cmd);
		fail_later(c, cmd, cmd->sent ? "connection lost" : "not connected");
	}
	c->owed = 0;
	c->hs_left = 0;
	if (was_ready)
		log_warn(WHO, "connection to %s:%d lost: %s", c->host, c->port, why);
	else if (!c->failing)
		log_warn(WHO, "cannot connect to %s:%d: %s (retrying with backoff up to %d ms)",
		         c->host, c->port, why, BACKOFF_MAX_MS);
	else
		log_debug(WHO, "cannot connect to %s:%d: %s", c->host, c->port, why);
	c->failing = 1;
	c->attempt++;
	c->state = ST_BACKOFF;
	arm_us(c->ev_backoff, (uint64_t)c->backoff_ms * 1000u);
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
	if (ac && free_ac)
		redisAsyncFree(ac);	/* deferred by hiredis inside its callbacks */
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
	struct redis_client *c = arg;

	(void)fd;
	(void)what;
	if (c->state == ST_BACKOFF)
		c->state = ST_IDLE;	/* the next command connects */
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct redis_client *c = arg;
	char why[64];

	(void)fd;
	(void)what;
	if (c->state != ST_CONNECTING)
		return;
	snprintf(why, sizeof(why), "timed out after %u ms", c->connect_timeout_ms);
	conn_down(c, why, 1);
}

static void cmd_send(struct redis_client *c, struct cmd *cmd)
{
	if (redisAsyncCommandArgv(c->ac, on_reply, cmd, cmd->argc, cmd->argv,
	                          cmd->argvlen) != REDIS_OK) {
		cmd_unlink(c, cmd);
		fail_later(c, cmd, "not connected");
		return;
	}
	cmd->in_hiredis = 1;
	cmd->sent = 1;
	if (c->owed++ == 0)
		c->quiet_since = now_us();
}

static void conn_ready(struct redis_client *c)
{
	struct cmd *cmd, *next;

	evtimer_del(c->ev_conn);
	c->state = ST_READY;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->attempt = 0;
	if (c->failing) {
		log_info(WHO, "connected to %s:%d", c->host, c->port);
		c->failing = 0;
	}
	for (cmd = c->pending.head; cmd; cmd = next) {
		next = cmd->next;
		if (!cmd->sent)
			cmd_send(c, cmd);
	}
}

static void on_handshake(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_client *c = ac->data;
	redisReply *reply = r;
	char why[160];

	(void)priv;
	if (!c)
		return;
	if (!reply) {
		conn_down(c, ac->c.err ? ac->c.errstr : "closed during AUTH/SELECT", 0);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "AUTH/SELECT refused: %.120s", reply->str);
		conn_down(c, why, 1);
		return;
	}
	if (--c->hs_left == 0)
		conn_ready(c);
}

/*
 * TCP is up: AUTH and SELECT, pipelined. This runs inside hiredis' write
 * handler, where the context must not be freed: if queueing fails (it cannot
 * but for lack of memory), the connect timer ends the attempt.
 */
static void on_connect(const redisAsyncContext *cac, int status)
{
	struct redis_client *c = cac->data;
	char db[16];

	if (!c)
		return;
	if (status != REDIS_OK) {
		conn_down(c, cac->c.errstr, 0);	/* hiredis frees the context */
		return;
	}
	if (c->password) {
		const char *argv[2] = { "AUTH", c->password };

		if (redisAsyncCommandArgv(c->ac, on_handshake, NULL, 2, argv, NULL) == REDIS_OK)
			c->hs_left++;
		else
			log_error(WHO, "cannot queue AUTH");
	}
	if (c->db) {
		const char *argv[2] = { "SELECT", db };

		snprintf(db, sizeof(db), "%d", c->db);
		if (redisAsyncCommandArgv(c->ac, on_handshake, NULL, 2, argv, NULL) == REDIS_OK)
			c->hs_left++;
		else
			log_error(WHO, "cannot queue SELECT");
	}
	if (!c->password && !c->db)
		conn_ready(c);
}

/* hiredis tears the context down (after calling back every command). */
static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redis_client *c = ac->data;

	if (c)
		conn_down(c, status == REDIS_OK || !ac->c.err ? "closed" : ac->c.errstr, 0);
}

/* The end of the dial: keep the context, or fail the attempt. */
static void on_dialed(redisAsyncContext *ac, int result, const char *why, void *ud)
{
	struct redis_client *c = ud;
	char buf[160];

	if (result == REDIS_DIAL_UNRESOLVED) {
		snprintf(buf, sizeof(buf), "cannot resolve: %s", why);
		why = buf;
	}
	if (!ac) {
		conn_down(c, why, 0);
		return;
	}
	c->ac = ac;
}

static void conn_start(struct redis_client *c)
{
	struct redis_dial_req r = {
		.base = c->base, .dns = &c->dns, .host = c->host, .host_is_ip = c->host_is_ip,
		.port = c->port, .attempt = c->attempt, .on_connect = on_connect,
		.on_disconnect = on_disconnect, .data = c, .fn = on_dialed, .ud = c,
		.slot = &c->lookup,
	};

	c->state = ST_CONNECTING;
	c->hs_left = 0;
	arm_us(c->ev_conn, (uint64_t)c->connect_timeout_ms * 1000u);
	redis_dial_start(&r);
}

/* ---------------------------------------------------------------- commands */

static void on_cmd_timer(evutil_socket_t fd, short what, void *arg)
{
	struct redis_client *c = arg;
	uint64_t now = now_us(), stall;
	struct cmd *cmd;

	(void)fd;
	(void)what;
	while ((cmd = c->pending.head) && cmd->deadline <= now)
		if (deliver(c, cmd, NULL, "timeout") < 0)
			return;
	if (cmd)
		arm_us(c->ev_cmd, cmd->deadline - now);
	stall = (uint64_t)c->timeout_ms * STALL_FACTOR;
	if (stall < STALL_MIN_MS)
		stall = STALL_MIN_MS;
	if (c->state == ST_READY && c->owed &&
	    (now - c->quiet_since >= stall * 1000u || c->orphans.n > MAX_PENDING)) {
		char why[96];

		snprintf(why, sizeof(why), "no reply for %llu ms; reconnecting",
		         (unsigned long long)((now - c->quiet_since) / 1000u));
		conn_down(c, why, 1);
	}
}

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct cmd *cmd = priv;
	struct redis_client *c = cmd->c;
	redisReply *reply = r;

	cmd->in_hiredis = 0;
	if (!c) {
		free(cmd);		/* the client was freed */
		return;
	}
	if (reply && ac == c->ac) {
		if (c->owed)
			c->owed--;
		c->quiet_since = now_us();
	}
	if (cmd->where == IN_ORPHANS) {	/* late reply to a timed out command */
		cmd_unlink(c, cmd);
		free(cmd);
		return;
	}
	if (cmd->where != IN_PENDING)	/* answer already decided */
		return;
	if (!reply) {			/* hiredis tears the connection down */
		conn_down(c, ac->c.err ? ac->c.errstr : "closed", 0);
		return;
	}
	if (cmd->script && !cmd->retried && reply->type == REDIS_REPLY_ERROR &&
	    !strncmp(reply->str, "NOSCRIPT", 8)) {
		cmd->retried = 1;
		cmd->argv[0] = "EVAL";
		cmd->argvlen[0] = 4;
		cmd->argv[1] = cmd->script->src;
		cmd->argvlen[1] = strlen(cmd->script->src);
		cmd_send(c, cmd);
		return;
	}
	deliver_reply(c, cmd, reply);
}

/* Whether ARGV would break the one-reply-per-command pattern hiredis needs. */
static int changes_reply_pattern(int argc, const char *const *argv, const size_t *argvlen)
{
	static const char *const refused[] = {
		"subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
		"sunsubscribe", "monitor", "sync", "psync",
	};
	size_t len = argvlen ? argvlen[0] : strlen(argv[0]), i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (len == strlen(refused[i]) && !strncasecmp(argv[0], refused[i], len))
			return 1;
	if (argc > 1 && len == 6 && !strncasecmp(argv[0], "client", 6) &&
	    (argvlen ? argvlen[1] : strlen(argv[1])) == 5 && !strncasecmp(argv[1], "reply", 5))
		return 1;
	return 0;
}

static int issue(struct redis_client *c, int nlead, const char *const *lead,
                 const size_t *leadlen, int argc, const char *const *argv,
                 const size_t *argvlen, struct redis_script *s, redis_fn fn, void *ud)
{
	const char *err = NULL;
	struct cmd *cmd;

	if (c->pending.n >= MAX_PENDING)
		err = "too many pending";
	else if (c->state == ST_BACKOFF)
		err = "not connected";
	cmd = err ? calloc(1, sizeof(*cmd)) : cmd_new(nlead, lead, leadlen, argc, argv, argvlen);
	if (!cmd)
		return -1;
	cmd->c = c;
	cmd->fn = fn;
	cmd->ud = ud;
	cmd->script = s;
	if (err) {
		fail_later(c, cmd, err);
		return 0;
	}
	cmd->deadline = now_us() + (uint64_t)c->timeout_ms * 1000u;
	cmd_link(c, cmd, IN_PENDING);
	if (!evtimer_pending(c->ev_cmd, NULL))
		arm_us(c->ev_cmd, (uint64_t)c->timeout_ms * 1000u);
	if (c->state == ST_READY)
		cmd_send(c, cmd);
	else if (c->state == ST_IDLE)
		conn_start(c);
	return 0;
}

static int args_ok(int argc, const char *const *argv)
{
	int i;

	if (argc < 0 || (argc > 0 && !argv))
		return 0;
	for (i = 0; i < argc; i++)
		if (!argv[i])
			return 0;
	return 1;
}

int redis_client_command(struct redis_client *c, int argc, const char *const *argv,
                         const size_t *argvlen, redis_fn fn, void *ud)
{
	if (!c || !fn || c->closing || argc < 1 || !args_ok(argc, argv))
		return -1;
	if (changes_reply_pattern(argc, argv, argvlen))
		return -1;
	return issue(c, 0, NULL, NULL, argc, argv, argvlen, NULL, fn, ud);
}

static int script_sha1(struct redis_script *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;

	if (EVP_Digest(s->src, strlen(s->src), md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
		return -1;
	for (i = 0; i < 20; i++) {
		s->sha[2 * i] = hex[md[i] >> 4];
		s->sha[2 * i + 1] = hex[md[i] & 15];
	}
	s->sha[40] = '\0';
	return 0;
}

int redis_client_eval(struct redis_client *c, struct redis_script *s, int nkeys, int argc,
                      const char *const *argv, const size_t *argvlen, redis_fn fn, void *ud)
{
	const char *lead[3];
	char nk[16];

	if (!c || !s || !s->src || !fn || c->closing || nkeys < 0 || nkeys > argc ||
	    !args_ok(argc, argv))
		return -1;
	if (!s->sha[0] && script_sha1(s) < 0)
		return -1;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	lead[0] = "EVALSHA";
	lead[1] = s->sha;
	lead[2] = nk;
	return issue(c, 3, lead, NULL, argc, argv, argvlen, s, fn, ud);
}

/* ---------------------------------------------------------------- life */

struct redis_client *redis_client_new(struct event_base *base, const struct redis_opts *o)
{
	struct redis_opts d = { 0 };
	struct redis_client *c;
	unsigned char buf[sizeof(struct in6_addr)];

	if (!base)
		return NULL;
	if (o)
		d = *o;
	if (!d.port)
		d.port = DEF_PORT;
	if (d.port < 1 || d.port > 65535 || d.db < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->base = base;
	c->host = strdup(d.host ? d.host : "127.0.0.1");
	c->password = d.password ? strdup(d.password) : NULL;
	c->port = d.port;
	c->db = d.db;
	c->connect_timeout_ms = d.connect_timeout_ms ? d.connect_timeout_ms : DEF_CONNECT_TIMEOUT_MS;
	c->timeout_ms = d.timeout_ms ? d.timeout_ms : DEF_TIMEOUT_MS;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->state = ST_IDLE;
	c->ev_cmd = evtimer_new(base, on_cmd_timer, c);
	c->ev_conn = evtimer_new(base, on_conn_timer, c);
	c->ev_backoff = evtimer_new(base, on_backoff, c);
	c->ev_flush = evtimer_new(base, on_flush, c);
	if (!c->host || (d.password && !c->password) || !c->ev_cmd || !c->ev_conn ||
	    !c->ev_backoff || !c->ev_flush) {
		if (c->ev_cmd)
			event_free(c->ev_cmd);
		if (c->ev_conn)
			event_free(c->ev_conn);
		if (c->ev_backoff)
			event_free(c->ev_backoff);
		if (c->ev_flush)
			event_free(c->ev_flush);
		free(c->host);
		free(c->password);
		free(c);
		return NULL;
	}
	c->host_is_ip = inet_pton(AF_INET, c->host, buf) == 1 ||
	                inet_pton(AF_INET6, c->host, buf) == 1;
	return c;
}

void redis_client_free(struct redis_client *c)
{
	redisAsyncContext *ac;
	struct cmd *cmd;

	if (!c || c->closing)
		return;
	c->closing = 1;
	c->depth++;			/* destroy at the end, not in a callback */
	redis_dial_cancel(&c->lookup);
	ac = c->ac;
	c->ac = NULL;
	if (ac)
		ac->data = NULL;
	evtimer_del(c->ev_cmd);
	evtimer_del(c->ev_conn);
	evtimer_del(c->ev_backoff);
	evtimer_del(c->ev_flush);
	while ((cmd = c->pending.head) || (cmd = c->failed.head))
		deliver(c, cmd, NULL, "client closed");
	/* what hiredis still holds, it frees when it calls back with NULL */
	while ((cmd = c->orphans.head)) {
		cmd_unlink(c, cmd);
		cmd->c = NULL;
	}
	if (ac)
		redisAsyncFree(ac);	/* deferred by hiredis inside its callbacks */
	leave(c);
}
