/*
 * health.c - grpc.health.v1.Health (Check and Watch), and grpc.health() in
 * Lua:
 *
 *   grpc.health("orders.v1.Orders", "NOT_SERVING")   -- or "SERVING"
 *
 * The service "" is the server; every service served (grpc.service, the
 * built-ins) is SERVING until a script says otherwise; another name is unknown (Check: NOT_FOUND;
 * Watch: SERVICE_UNKNOWN, as the protocol says). The statuses set are
 * shared by every worker; a change reaches each Watch through the hub.
 * Messages are written by hand (HealthCheckRequest { string service = 1 },
 * HealthCheckResponse { ServingStatus status = 1 }).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "server_priv.h"

#define CHANNEL "portico.grpc.health"
#define MAX_SET 1024

struct hset {
	struct hset *next;
	char *service;
	int status;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct hset *set;
static unsigned nset;

static const char *const names[] = { "UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" };

/* The status of SERVICE for a call on C. */
static int status_of(struct gcall *c, const char *service, size_t len)
{
	int st = -1;

	pthread_mutex_lock(&mu);
	for (struct hset *h = set; h; h = h->next)
		if (strlen(h->service) == len && !memcmp(h->service, service, len)) {
			st = h->status;
			break;
		}
	pthread_mutex_unlock(&mu);
	if (st >= 0)
		return st;
	if (!len)
		return GRPC_HEALTH_SERVING;
	return grpc_state_serves(grpc_state(c->L), service, len) ? GRPC_HEALTH_SERVING
	       : GRPC_HEALTH_SERVICE_UNKNOWN;
}

/* The service named by a HealthCheckRequest; 0, or -1 when malformed. */
static int parse_request(const uint8_t *msg, size_t len, pt_str_t *service)
{
	struct grpc_pb_field f;
	size_t pos = 0;
	int rc;

	*service = (pt_str_t){ "", 0 };
	while ((rc = grpc_pb_next(msg, len, &pos, &f)) == 1)
		if (f.num == 1 && f.type == 2)
			*service = (pt_str_t){ (const char *)f.p, f.len };
	return rc;
}

static int send_status(struct gcall *c, int st)
{
	uint8_t b[4];
	size_t n = 0;

	if (st) {
		b[n++] = 0x08;
		b[n++] = (uint8_t)st;
	}
	return grpc_call_send(c, b, n);
}

void grpc_health_check(struct gcall *c, const uint8_t *msg, size_t len)
{
	pt_str_t svc;
	int st;

	if (parse_request(msg, len, &svc) != 0) {
		grpc_call_finish(c, GRPC_INTERNAL, "cannot decode the HealthCheckRequest", 36, NULL);
		return;
	}
	st = status_of(c, svc.ptr, svc.len);
	if (st == GRPC_HEALTH_SERVICE_UNKNOWN) {
		grpc_call_finish(c, GRPC_NOT_FOUND, "unknown service", 15, NULL);
		return;
	}
	c->compress = 0;
	send_status(c, st);
	grpc_call_finish(c, GRPC_OK, NULL, 0, NULL);
}

/* A Watch: its service and the last status sent. */
struct watch {
	struct gcall *c;
	pt_sub *sub;
	char *service;
	size_t len;
	int last;
};

static void watch_deliver(pt_worker *w, pt_str_t channel, pt_str_t message, void *ud)
{
	struct watch *wt = ud;
	int st;

	(void)w;
	(void)channel;
	if (message.len != wt->len || memcmp(message.ptr, wt->service, wt->len) || wt->c->finished)
		return;
	st = status_of(wt->c, wt->service, wt->len);
	if (st != wt->last) {
		wt->last = st;
		send_status(wt->c, st);
	}
}

static void watch_release(struct gcall *c)
{
	struct watch *wt = c->builtin_ud;

	if (!wt)
		return;
	c->builtin_ud = NULL;
	if (wt->sub)
		grpc_api->hub_unsubscribe(wt->sub);
	free(wt->service);
	free(wt);
}

void grpc_health_watch(struct gcall *c, const uint8_t *msg, size_t len)
{
	struct watch *wt;
	pt_str_t svc;

	if (parse_request(msg, len, &svc) != 0) {
		grpc_call_finish(c, GRPC_INTERNAL, "cannot decode the HealthCheckRequest", 36, NULL);
		return;
	}
	if (!(wt = calloc(1, sizeof(*wt))) || !(wt->service = malloc(svc.len + 1))) {
		free(wt);
		grpc_call_finish(c, GRPC_RESOURCE_EXHAUSTED, "out of memory", 13, NULL);
		return;
	}
	memcpy(wt->service, svc.ptr, svc.len);
	wt->service[svc.len] = '\0';
	wt->len = svc.len;
	wt->c = c;
	c->builtin_ud = wt;
	c->release_hook = watch_release;
	c->compress = 0;
	wt->sub = grpc_api->hub_subscribe(grpc_api->exchange_worker(c->x), PT_STR(CHANNEL),
	                                  watch_deliver, wt);
	wt->last = status_of(c, wt->service, wt->len);
	send_status(c, wt->last);   /* then stays open until the client cancels */
}

/* grpc.health(service, status) */
static int l_health(lua_State *L)
{
	size_t len;
	const char *svc = luaL_checklstring(L, 1, &len);
	const char *name = luaL_checkstring(L, 2);
	struct hset *h;
	int st = -1;

	for (int i = 0; i < 3; i++)
		if (!strcmp(names[i], name))
			st = i;
	if (st < 0)
		return luaL_argerror(L, 2, "\"SERVING\", \"NOT_SERVING\" or \"UNKNOWN\"");
	if (len > 255 || strlen(svc) != len)
		return luaL_argerror(L, 1, "a service name (at most 255 bytes)");
	pthread_mutex_lock(&mu);
	for (h = set; h; h = h->next)
		if (!strcmp(h->service, svc))
			break;
	if (!h && nset < MAX_SET && (h = calloc(1, sizeof(*h))) != NULL) {
		if (!(h->service = strdup(svc))) {
			free(h);
			h = NULL;
		} else {
			h->next = set;
			set = h;
			nset++;
		}
	}
	if (h)
		h->status = st;
	pthread_mutex_unlock(&mu);
	if (!h)
		return luaL_error(L, "grpc.health: too many services (%d)", MAX_SET);
	grpc_api->hub_publish(PT_STR(CHANNEL), (pt_str_t){ svc, len });
	return 0;
}

void grpc_health_module(lua_State *L)
{
	lua_pushcfunction(L, l_health);
	lua_setfield(L, -2, "health");
}

void grpc_health_clear(void)
{
	pthread_mutex_lock(&mu);
	while (set) {
		struct hset *h = set;

		set = h->next;
		free(h->service);
		free(h);
	}
	nset = 0;
	pthread_mutex_unlock(&mu);
}
