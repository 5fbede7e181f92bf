/*
 * webhook.c - the webhook plugin (issue 14): its options, the store it
 * opens, the `portico webhooks` command, the per-source metrics, and the
 * start of the queue once every worker runs.
 *
 *   plugin "webhook" { store = "sqlite", durability = "full", retention = "30d" }
 *   -- or, at the top level: webhook = { store = "redis" }
 *
 * The receiving handler is in receive.c, the Lua module in lmod.c, the
 * jobs in run.c; the schemes, stores, CLI and outbound delivery are the
 * parts wh.h describes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "whg.h"
#include "portico/plugin.h"


const struct pt_api *wh_api;
struct wh_store *wh_store_main;
char wh_store_error[256];
struct wh_opts wh_opts_main;
pt_plugin_ctx *whg_ctx;

static char *path_owned;        /* wh_opts_main.path when made here */
static char *strings_owned[3];  /* store, path, redis_prefix copies */

/* ---- options ------------------------------------------------------------------- */

/*
 * A duration: a number of seconds, or a string "<n>s|m|h|d" ("30d").
 * Into *OUT seconds (fractions kept); -1 when malformed or out of range.
 */
static int duration(const pt_conf *c, double *out)
{
	pt_str_t s;
	char buf[32], *end;
	double v, mul = 1;

	if (wh_api->conf_num(c, NULL, &v) == 0) {
		*out = v;
		return v >= 0 && v <= 10.0 * 365 * 86400 ? 0 : -1;
	}
	if (wh_api->conf_str(c, NULL, &s) != 0 || !s.len || s.len >= sizeof(buf))
		return -1;
	memcpy(buf, s.ptr, s.len);
	buf[s.len] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (end == buf || errno)
		return -1;
	if (*end == 's')
		mul = 1, end++;
	else if (*end == 'm')
		mul = 60, end++;
	else if (*end == 'h')
		mul = 3600, end++;
	else if (*end == 'd')
		mul = 86400, end++;
	if (*end)
		return -1;
	v *= mul;
	*out = v;
	return v >= 0 && v <= 10.0 * 365 * 86400 ? 0 : -1;
}

static int bad(char *err, size_t errlen, const pt_conf *c, const char *fmt, const char *key)
{
	const char *file = NULL;
	int line = 0;

	if (c && wh_api->conf_where(c, &file, &line) == 0 && file)
		snprintf(err, errlen, "%s:%d: webhook: %s: %s", file, line, key, fmt);
	else
		snprintf(err, errlen, "%s: %s", key, fmt);
	return -1;
}

/* A whole number option KEY at V within LO..HI into *OUT. */
static int whole(const pt_conf *v, const char *key, double lo, double hi, double *out,
                 char *err, size_t errlen)
{
	char msg[96];

	if (wh_api->conf_num(v, NULL, out) != 0 || *out != (double)(int64_t)*out ||
	    *out < lo || *out > hi) {
		snprintf(msg, sizeof(msg), "must be a whole number from %.0f to %.0f", lo, hi);
		return bad(err, errlen, v, msg, key);
	}
	return 0;
}

static char *dup_str(const pt_conf *v)
{
	pt_str_t s;

	if (wh_api->conf_str(v, NULL, &s) != 0)
		return NULL;
	return strndup(s.ptr, s.len);
}

/*
 * Reads the plugin's options CONF into O (defaults first). Strings are
 * copied into strings_owned (freed at unload). Unknown keys and bad
 * values: -1 with ERR naming the file and line.
 */
static int opts_read(const pt_conf *conf, struct wh_opts *o, char *err, size_t errlen)
{
	const pt_conf *v;
	const char *k;
	double d;

	memset(o, 0, sizeof(*o));
	o->store = "sqlite";
	o->durability = WH_DUR_FULL;
	o->retention_s = 30 * 86400;
	o->max_pending = 10000;
	o->per_worker = 64;
	o->redis_prefix = "portico:webhook:";
	o->dedup_ttl_s = 7 * 86400;
	o->claim_idle_ms = 60000;
	if (!conf)
		return 0;
	if (wh_api->conf_type(conf) != PT_CONF_TABLE)
		return bad(err, errlen, conf, "must be a table of options", "options");
	for (size_t i = 0; (k = wh_api->conf_key_at(conf, i, &v)) != NULL; i++) {
		pt_str_t s = { "", 0 };
		int isstr = wh_api->conf_str(v, NULL, &s) == 0;

		if (!strcmp(k, "store")) {
			if (!isstr || (!(s.len == 6 && !memcmp(s.ptr, "sqlite", 6)) &&
			               !(s.len == 5 && !memcmp(s.ptr, "redis", 5))))
				return bad(err, errlen, v, "must be \"sqlite\" or \"redis\"", k);
			o->store = s.ptr[0] == 's' ? "sqlite" : "redis";
		} else if (!strcmp(k, "path")) {
			if (!isstr || !s.len || memchr(s.ptr, '\0', s.len))
				return bad(err, errlen, v, "must be a file name", k);
			free(strings_owned[1]);
			if (!(strings_owned[1] = dup_str(v)))
				return bad(err, errlen, v, "out of memory", k);
			o->path = strings_owned[1];
		} else if (!strcmp(k, "durability")) {
			if (isstr && s.len == 4 && !memcmp(s.ptr, "full", 4))
				o->durability = WH_DUR_FULL;
			else if (isstr && s.len == 6 && !memcmp(s.ptr, "normal", 6))
				o->durability = WH_DUR_NORMAL;
			else
				return bad(err, errlen, v, "must be \"full\" (survives power loss) or "
				           "\"normal\" (survives a process crash)", k);
		} else if (!strcmp(k, "retention")) {
			if (duration(v, &d) != 0 || d < 60)
				return bad(err, errlen, v, "must be a duration from 60 seconds to 10 years: "
				           "seconds or a string like \"30d\", \"12h\", \"90m\"", k);
			o->retention_s = (int64_t)d;
		} else if (!strcmp(k, "dedup_ttl")) {
			if (duration(v, &d) != 0 || d < 60)
				return bad(err, errlen, v, "must be a duration from 60 seconds to 10 years: "
				           "seconds or a string like \"7d\"", k);
			o->dedup_ttl_s = (int64_t)d;
		} else if (!strcmp(k, "claim_idle")) {
			if (duration(v, &d) != 0 || d < 1 || d > 86400)
				return bad(err, errlen, v, "must be a duration from 1 second to 1 day: "
				           "seconds or a string like \"60s\"", k);
			o->claim_idle_ms = (int64_t)(d * 1000);
		} else if (!strcmp(k, "max_pending")) {
			if (whole(v, k, 1, 1000000, &d, err, errlen) != 0)
				return -1;
			o->max_pending = (unsigned)d;
		} else if (!strcmp(k, "per_worker")) {
			if (whole(v, k, 1, 10000, &d, err, errlen) != 0)
				return -1;
			o->per_worker = (unsigned)d;
		} else if (!strcmp(k, "redis_prefix")) {
			if (!isstr || !s.len || s.len > 200)
				return bad(err, errlen, v, "must be a string of 1 to 200 bytes", k);
			free(strings_owned[2]);
			if (!(strings_owned[2] = dup_str(v)))
				return bad(err, errlen, v, "out of memory", k);
			o->redis_prefix = strings_owned[2];
		} else {
			return bad(err, errlen, v, "unknown option (the options are store, path, "
			           "durability, retention, max_pending, per_worker, redis_prefix, "
			           "dedup_ttl, claim_idle)", k);
		}
	}
	return 0;
}

/* ---- metrics ------------------------------------------------------------------- */

struct mnode {
	struct mnode *next;
	char *name;
	struct whg_metrics m;
};

static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mnode *mlist;
static unsigned mcount;

/* `source="NAME"` with NAME escaped as Prometheus text wants (names are
 * [A-Za-z0-9_.-] already: nothing to escape in practice). */
static void labels_of(const char *name, char *out, size_t len)
{
	size_t o = 0;

	o += (size_t)snprintf(out, len, "source=\"");
	for (const char *p = name; *p && o + 4 < len; p++) {
		if (*p == '"' || *p == '\\')
			out[o++] = '\\';
		out[o++] = *p == '\n' ? 'n' : *p;
	}
	snprintf(out + o, len - o, "\"");
}

struct whg_metrics *whg_metrics(const char *source)
{
	static const struct {
		const char *name, *help;
		int gauge;
		size_t off;
	} defs[] = {
		{ "portico_webhook_received_total", "Webhook events verified and stored", 0,
		  offsetof(struct whg_metrics, received) },
		{ "portico_webhook_rejected_total", "Webhook requests refused (signature, timestamp)", 0,
		  offsetof(struct whg_metrics, rejected) },
		{ "portico_webhook_duplicates_total", "Webhook events received again (not processed again)",
		  0, offsetof(struct whg_metrics, duplicates) },
		{ "portico_webhook_processed_total", "Webhook events their handler processed", 0,
		  offsetof(struct whg_metrics, processed) },
		{ "portico_webhook_retried_total", "Webhook handler runs that failed and will be retried",
		  0, offsetof(struct whg_metrics, retried) },
		{ "portico_webhook_dead_total", "Webhook events given up (dead)", 0,
		  offsetof(struct whg_metrics, dead) },
		{ "portico_webhook_queue_lag_seconds", "Age of the oldest due webhook job", 1,
		  offsetof(struct whg_metrics, lag) },
	};
	struct mnode *n;
	char labels[160];

	if (!source)
		return NULL;
	pthread_mutex_lock(&metrics_mu);
	for (n = mlist; n; n = n->next)
		if (!strcmp(n->name, source))
			break;
	if (!n && mcount < WHG_MAX_SOURCES && (n = calloc(1, sizeof(*n)))) {
		if (!(n->name = strdup(source))) {
			free(n);
			n = NULL;
		} else {
			labels_of(source, labels, sizeof(labels));
			for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
				pt_metric **slot = (pt_metric **)((char *)&n->m + defs[i].off);

				if (!PT_API_HAS(wh_api, metric_counter_l))
					break;
				*slot = defs[i].gauge ?
					wh_api->metric_gauge_l(whg_ctx, defs[i].name, defs[i].help, labels) :
					wh_api->metric_counter_l(whg_ctx, defs[i].name, defs[i].help, labels);
			}
			n->next = mlist;
			mlist = n;
			mcount++;
		}
	}
	pthread_mutex_unlock(&metrics_mu);
	return n ? &n->m : NULL;
}

void wh_metrics_lag(const char *source, double seconds)
{
	struct mnode *n;

	if (!source)
		return;
	pthread_mutex_lock(&metrics_mu);
	for (n = mlist; n; n = n->next)
		if (!strcmp(n->name, source))
			break;
	if (n && n->m.lag)
		wh_api->metric_set(n->m.lag, seconds < 0 ? 0 : seconds);
	pthread_mutex_unlock(&metrics_mu);
}

void whg_metrics_free(void)
{
	pthread_mutex_lock(&metrics_mu);
	while (mlist) {
		struct mnode *n = mlist;

		mlist = n->next;
		free(n->name);
		free(n);
	}
	mcount = 0;
	pthread_mutex_unlock(&metrics_mu);
}

/* ---- the store ------------------------------------------------------------------ */

static pthread_mutex_t workers_mu = PTHREAD_MUTEX_INITIALIZER;   /* and the store's opening */
static pt_worker **workers;
static unsigned nworkers, nstarted;
static int store_tried, queue_started;

/* Once the store is open and every worker runs: the queue starts (the
 * store hands jobs to all workers). Holding workers_mu. */
static void queue_start_locked(void)
{
	int rc;

	if (queue_started || !wh_store_main || !nworkers || nstarted < nworkers)
		return;
	queue_started = 1;
	rc = wh_store_main->ops->start(wh_store_main, workers, nworkers, wh_opts_main.per_worker,
	                               whg_job, NULL);
	if (rc != 0)
		wh_api->log(whg_ctx, PT_LOG_ERROR, "the webhook queue cannot start: %s",
		            wh_api->strerror(rc));
}

/* mkdir -p PATH: missing parents 0755 (as mkdir -p makes them), PATH
 * itself 0700. 0 or -1 with errno. */
static int mkdirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Opens the configured store into wh_store_main, or notes why not in
 * wh_store_error (and the log). The daemon runs either way: sources
 * then fail to load with that reason, other routes keep working. */
static void store_open(void)
{
	const struct pt_api *a = wh_api;
	char err[256] = "";
	int rc;

	if (!strcmp(wh_opts_main.store, "sqlite")) {
		const char *vd = a->var_dir();

		if (mkdirs(vd) != 0) {
			snprintf(wh_store_error, sizeof(wh_store_error), "cannot create var_dir %s: %s",
			         vd, strerror(errno));
			a->log(whg_ctx, PT_LOG_ERROR, "%s", wh_store_error);
			return;
		}
		rc = wh_store_sqlite_open(a, &wh_opts_main, &wh_store_main, err, sizeof(err));
	} else {
		rc = wh_store_redis_open(a, &wh_opts_main, &wh_store_main, err, sizeof(err));
	}
	if (rc != 0 || !wh_store_main) {
		wh_store_main = NULL;
		snprintf(wh_store_error, sizeof(wh_store_error), "the %s store cannot open: %s",
		         wh_opts_main.store, err[0] ? err : "unknown error");
		a->log(whg_ctx, PT_LOG_ERROR, "%s", wh_store_error);
	}
}

/*
 * The daemon's store, opened when the first webhook.source is declared
 * (every plugin in plugins_dir is loaded, so a config without sources
 * never touches var_dir), once per process; the queue starts as soon as
 * the workers run too. NULL (wh_store_error says why) when it cannot open.
 * Any thread.
 */
struct wh_store *whg_store_ensure(void)
{
	pthread_mutex_lock(&workers_mu);
	if (!store_tried) {
		store_tried = 1;
		store_open();
		queue_start_locked();
	}
	pthread_mutex_unlock(&workers_mu);
	return wh_store_main;
}

/* ---- the plugin -------------------------------------------------------------------- */


static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	char err[512];
	int rc;

	wh_api = a;
	whg_ctx = ctx;
	if (!PT_API_HAS(a, metric_gauge_l)) {
		a->log(ctx, PT_LOG_ERROR, "needs plugin ABI 1.8 (worker Lua tasks, var_dir, "
		       "commands, labelled metrics); this portico has %u.%u",
		       (unsigned)a->abi_major, (unsigned)a->abi_minor);
		return PT_ENOSYS;
	}
	if (opts_read(conf, &wh_opts_main, err, sizeof(err)) != 0) {
		a->log(ctx, PT_LOG_ERROR, "%s", err);
		return PT_EINVAL;
	}
	if (!wh_opts_main.path && !strcmp(wh_opts_main.store, "sqlite")) {
		size_t n = strlen(a->var_dir()) + sizeof("/webhooks.db");

		if (!(path_owned = malloc(n)))
			return PT_ENOMEM;
		snprintf(path_owned, n, "%s/webhooks.db", a->var_dir());
		wh_opts_main.path = path_owned;
	}
	if ((rc = a->command_register(ctx, "webhooks", "the webhook inbox and outbox: list, "
	                              "show ID, replay, purge", wh_cli, NULL)) != 0) {
		a->log(ctx, PT_LOG_ERROR, "cannot register the webhooks command: %s", a->strerror(rc));
		return rc;
	}
	if (a->run_mode() == PT_RUN_COMMAND)
		return 0;
	if ((rc = whg_admin_register(ctx)) != 0) {
		a->log(ctx, PT_LOG_ERROR, "cannot serve /webhooks on the admin listener: %s",
		       a->strerror(rc));
		return rc;
	}
	if ((rc = a->handler_register(ctx, "webhook", whg_receive, NULL)) != 0 ||
	    (rc = a->lua_module_register(ctx, "webhook", (pt_lua_open_fn)whg_lua_open)) != 0) {
		a->log(ctx, PT_LOG_ERROR, "cannot register the webhook handler and module: %s",
		       a->strerror(rc));
		return rc;
	}
	/* Jobs an earlier run left (deliveries retrying, events unprocessed)
	 * are due again at start, also when no script names a source (a
	 * config that only sends): an existing store, or a Redis store the
	 * config asks for, opens now; otherwise with the first source. */
	if (a->run_mode() == PT_RUN_DAEMON &&
	    (strcmp(wh_opts_main.store, "sqlite") || access(wh_opts_main.path, F_OK) == 0))
		whg_store_ensure();
	return 0;
}

static int worker_start(pt_plugin_ctx *ctx, pt_worker *w)
{
	const struct pt_api *a = wh_api;
	int rc = 0;

	(void)ctx;
	pthread_mutex_lock(&workers_mu);
	if (!workers) {
		nworkers = a->worker_count();
		workers = calloc(nworkers ? nworkers : 1, sizeof(*workers));
	}
	if (!workers) {
		rc = PT_ENOMEM;
	} else if (a->worker_id(w) < nworkers && !workers[a->worker_id(w)]) {
		workers[a->worker_id(w)] = w;
		nstarted++;
		queue_start_locked();
	}
	pthread_mutex_unlock(&workers_mu);
	return rc;
}

/* The store lets go of what lives on W's loop (the Redis store's timers)
 * while the loop still exists. */
static void worker_stop(pt_plugin_ctx *ctx, pt_worker *w)
{
	(void)ctx;
	if (wh_store_main && wh_store_main->ops->worker_stop)
		wh_store_main->ops->worker_stop(wh_store_main, w);
}

static void unload(pt_plugin_ctx *ctx)
{
	(void)ctx;
	if (wh_store_main) {
		wh_store_main->ops->close(wh_store_main);
		wh_store_main = NULL;
	}
	free(workers);
	workers = NULL;
	nworkers = nstarted = 0;
	store_tried = queue_started = 0;
	free(path_owned);
	path_owned = NULL;
	for (size_t i = 0; i < sizeof(strings_owned) / sizeof(strings_owned[0]); i++) {
		free(strings_owned[i]);
		strings_owned[i] = NULL;
	}
	whg_metrics_free();
}

/* The store and the queue are the process's: changed options are noted
 * and take effect at the next start (a reload never reopens the store). */
static int reload(pt_plugin_ctx *ctx, const pt_conf *conf)
{
	struct wh_opts o;
	char err[512];
	char *keep[3];

	memcpy(keep, strings_owned, sizeof(keep));
	memset(strings_owned, 0, sizeof(strings_owned));
	if (opts_read(conf, &o, err, sizeof(err)) != 0) {
		wh_api->log(ctx, PT_LOG_ERROR, "%s", err);
		for (int i = 0; i < 3; i++)
			free(strings_owned[i]);
		memcpy(strings_owned, keep, sizeof(keep));
		return PT_EINVAL;
	}
	if (strcmp(o.store, wh_opts_main.store) || o.durability != wh_opts_main.durability ||
	    o.retention_s != wh_opts_main.retention_s || o.max_pending != wh_opts_main.max_pending ||
	    o.per_worker != wh_opts_main.per_worker ||
	    (o.path && strcmp(o.path, wh_opts_main.path)) ||
	    strcmp(o.redis_prefix, wh_opts_main.redis_prefix) ||
	    o.dedup_ttl_s != wh_opts_main.dedup_ttl_s || o.claim_idle_ms != wh_opts_main.claim_idle_ms)
		wh_api->log(ctx, PT_LOG_WARN, "webhook options changed: they take effect at the "
		            "next restart (a reload keeps the open store)");
	for (int i = 0; i < 3; i++)
		free(strings_owned[i]);
	memcpy(strings_owned, keep, sizeof(keep));
	return 0;
}



static const struct pt_plugin plugin = {
	PT_PLUGIN_HEAD,
	.name = "webhook",
	.version = "0.1",
	.load = load,
	.worker_start = worker_start,
	.worker_stop = worker_stop,
	.unload = unload,
	.reload = reload,
};

PT_PLUGIN_ENTRY
{
	return &plugin;
}
