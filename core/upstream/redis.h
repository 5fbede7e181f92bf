/*
 * redis.h - an asynchronous Redis client for one worker: commands and
 * EVALSHA-with-fallback over one lazily made connection, on an event_base.
 *
 * Everything runs on the base's thread; nothing here locks or blocks (a host
 * name is resolved with evdns). Every command has a deadline. After a failed
 * or lost connection the client backs off (100 ms doubling to 5 s) and answers
 * commands at once with "not connected" until the next attempt is due; the
 * next command after that tries again.
 *
 * Callers need no hiredis header: replies come as struct redis_reply.
 * hiredis writes with write(2): the process must ignore SIGPIPE (workers do).
 */
#ifndef PORTICO_REDIS_H
#define PORTICO_REDIS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct redis_client;

struct redis_opts {
	const char *host;		/* IP literal or name; NULL: 127.0.0.1 */
	int port;			/* 0: 6379 */
	const char *password;		/* NULL: no AUTH */
	int db;				/* != 0: SELECT db after connecting */
	unsigned connect_timeout_ms;	/* resolve + connect + AUTH/SELECT; 0: 1000 */
	unsigned timeout_ms;		/* per command, queueing included; 0: 1000 */
};

enum redis_type {
	REDIS_T_ERROR = -1,		/* no reply: err says why */
	REDIS_T_NIL = 0,
	REDIS_T_INT = 1,
	REDIS_T_STRING = 2,
	REDIS_T_STATUS = 3,		/* +OK and friends */
	REDIS_T_REPLY_ERROR = 4,	/* -ERR ... from the server; err is NULL */
	REDIS_T_ARRAY = 5,
};

struct redis_reply {
	int type;			/* enum redis_type */
	long long integer;		/* REDIS_T_INT */
	const char *str;		/* STRING, STATUS, REPLY_ERROR (NUL-terminated),
					   and the err text for REDIS_T_ERROR */
	size_t len;
	size_t nelem;			/* REDIS_T_ARRAY */
	const struct redis_reply *elem;
};

/*
 * R is never NULL. ERR is NULL when a reply arrived (which may be a server
 * error, REDIS_T_REPLY_ERROR), else R->type is REDIS_T_ERROR and ERR (also in
 * R->str) is one of: "timeout", "not connected" (connect failed or backing
 * off), "connection lost" (sent, then the connection died, so the command may
 * or may not have run), "too many pending", "client closed", "out of memory".
 * R, ERR and everything they point to are borrowed for the callback only.
 */
typedef void (*redis_fn)(const struct redis_reply *r, const char *err, void *ud);

/*
 * A client on BASE (borrowed, must outlive the client); O is copied. Does not
 * connect: the first command does. Returns NULL when out of memory or when O
 * is invalid (port outside 1..65535, db < 0).
 */
struct redis_client *redis_client_new(struct event_base *base, const struct redis_opts *o);

/*
 * Close the connection. Every command not yet answered gets its callback
 * once, from inside this call, with "client closed"; commands issued from
 * those callbacks are refused (-1). C may be NULL. May be called from inside
 * a callback of this client.
 */
void redis_client_free(struct redis_client *c);

/*
 * Queue the command ARGV[0..ARGC) (ARGVLEN NULL: NUL-terminated strings);
 * everything is copied. FN is called exactly once, later (never from inside
 * this call), on the base's thread, with the reply or an error; it may issue
 * commands or free the client. At most 1024 commands wait for an answer;
 * beyond that FN gets "too many pending". Returns 0, or -1 (FN will not be
 * called) when C or FN is NULL, ARGC < 1, memory runs out, the client is
 * being freed, or the command would change the reply pattern of the
 * connection (SUBSCRIBE family, MONITOR, SYNC, PSYNC, CLIENT REPLY).
 */
int redis_client_command(struct redis_client *c, int argc, const char *const *argv,
                         const size_t *argvlen, redis_fn fn, void *ud);

/* A Lua script; SHA is filled in (lower-case hex) by the first eval. */
struct redis_script {
	const char *src;		/* NUL-terminated */
	char sha[41];			/* zero it before first use */
};

/*
 * Run script S with NKEYS keys then the other arguments in ARGV[0..ARGC):
 * EVALSHA, and on a NOSCRIPT error EVAL once. S and S->src are borrowed until
 * FN runs; keep one struct per script so the SHA1 is computed once. Returns
 * as redis_client_command, and -1 too when S is NULL or NKEYS is not in
 * 0..ARGC.
 */
int redis_client_eval(struct redis_client *c, struct redis_script *s, int nkeys, int argc,
                      const char *const *argv, const size_t *argvlen, redis_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
