/*
 * redis_api.c - the config's `redis = { ... }` for plugins: each worker's
 * client (made on first use, remade when a reload changes the settings) and
 * pt_api.redis_configured / redis_eval on top of it.
 *
 *   redis = { host = "127.0.0.1", port = 6379, password = nil, db = 0,
 *             timeout = 0.2, connect_timeout = 1 }
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

#include "redis_api.h"
#include "conf.h"
#include "gen.h"
#include "redis.h"
#include "worker.h"

/* pt_redis_reply is the ABI's copy of redis_reply: same layout, same codes. */
_Static_assert(sizeof(struct pt_redis_reply) == sizeof(struct redis_reply), "reply layout");
_Static_assert(offsetof(struct pt_redis_reply, elem) == offsetof(struct redis_reply, elem),
               "reply layout");
_Static_assert(offsetof(struct pt_redis_reply, nelem) == offsetof(struct redis_reply, nelem),
               "reply layout");
_Static_assert((int)PT_REDIS_FAILED == (int)REDIS_T_ERROR && (int)PT_REDIS_ARRAY ==
               (int)REDIS_T_ARRAY && (int)PT_REDIS_ERROR == (int)REDIS_T_REPLY_ERROR,
               "reply codes");

#define MAX_SCRIPTS 16

struct worker_redis {
	struct redis_client *c;
	const struct redis_conf *made_for;   /* settings of the generation that made C */
	char settings[512];                  /* the same as text, to compare across reloads */
	const char *srcs[MAX_SCRIPTS];       /* scripts by address (static in plugins) */
	struct redis_script scripts[MAX_SCRIPTS];
	unsigned nscripts;
};

/* The config being built: filters compile against it, not the running one. */
static const struct config *building;

void redis_api_building(const struct config *cfg)
{
	building = cfg;
}

int redis_api_configured(void)
{
	return building && building->redis.host;
}

static void settings_text(const struct redis_conf *rc, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s|%d|%s|%d|%.3f|%.3f", rc->host, rc->port,
	         rc->password ? rc->password : "", rc->db, rc->timeout, rc->connect_timeout);
}

static struct redis_client *client_of(pt_worker *w)
{
	const struct redis_conf *rc = &w->gen->cfg->redis;
	struct worker_redis *wr = w->redis;
	char now[512];

	if (!rc->host)
		return NULL;
	if (!wr && !(wr = w->redis = calloc(1, sizeof(*wr))))
		return NULL;
	if (wr->c && wr->made_for != rc) {
		settings_text(rc, now, sizeof(now));
		if (strcmp(now, wr->settings) != 0) {
			redis_client_free(wr->c);   /* a reload changed the server */
			wr->c = NULL;
		}
		wr->made_for = rc;
	}
	if (!wr->c) {
		struct redis_opts o = {
			.host = rc->host, .port = rc->port, .password = rc->password, .db = rc->db,
			.timeout_ms = (unsigned)(rc->timeout * 1000),
			.connect_timeout_ms = (unsigned)(rc->connect_timeout * 1000),
		};

		wr->c = redis_client_new(w->base, &o);
		wr->made_for = rc;
		settings_text(rc, wr->settings, sizeof(wr->settings));
	}
	return wr->c;
}

static struct redis_script *script_of(struct worker_redis *wr, const char *src)
{
	for (unsigned i = 0; i < wr->nscripts; i++)
		if (wr->srcs[i] == src)
			return &wr->scripts[i];
	if (wr->nscripts == MAX_SCRIPTS)
		return NULL;
	wr->srcs[wr->nscripts] = src;
	wr->scripts[wr->nscripts].src = src;
	return &wr->scripts[wr->nscripts++];
}

struct call {
	pt_redis_fn fn;
	void *ud;
};

static void on_reply(const struct redis_reply *r, const char *err, void *ud)
{
	struct call c = *(struct call *)ud;

	free(ud);
	c.fn((const struct pt_redis_reply *)(const void *)r, err, c.ud);
}

int redis_api_eval(pt_worker *w, const char *script, int nkeys, int argc,
                   const char *const *argv, const size_t *argvlen, pt_redis_fn fn, void *ud)
{
	struct redis_client *c = client_of(w);
	struct redis_script *s;
	struct call *call;

	if (!c)
		return w->gen->cfg->redis.host ? PT_ENOMEM : PT_ENOENT;
	if (!(s = script_of(w->redis, script)))
		return PT_ELIMIT;
	if (!(call = malloc(sizeof(*call))))
		return PT_ENOMEM;
	*call = (struct call){ fn, ud };
	if (redis_client_eval(c, s, nkeys, argc, argv, argvlen, on_reply, call) != 0) {
		free(call);
		return PT_EINVAL;
	}
	return 0;
}

void redis_worker_free(pt_worker *w)
{
	struct worker_redis *wr = w->redis;

	if (!wr)
		return;
	redis_client_free(wr->c);
	free(wr);
	w->redis = NULL;
}
