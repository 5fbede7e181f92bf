/*
 * api.c - fills the pt_api table. The order of members is the ABI: see
 * sdk/include/portico/api.h; each function's state is documented there and
 * in sdk/README.md.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_table.h"
#include "admin.h"
#include "command.h"
#include "conf_tree.h"
#include "http/exchange.h"
#include "hub.h"
#include "log.h"
#include "lua/lua_rt.h"
#include "metrics.h"
#include "plugin.h"
#include "process.h"
#include "shared_dict.h"
#include "upstream/outbound.h"
#include "upstream/redis_api.h"
#include "upstream/ucall.h"
#include "worker.h"
#include "ws/ws_conn.h"

const char *pt_strerror_impl(int err)
{
	switch (err) {
	case PT_OK: return "success";
	case PT_EINVAL: return "invalid argument";
	case PT_ENOMEM: return "out of memory";
	case PT_ENOENT: return "not found";
	case PT_EEXIST: return "already registered";
	case PT_ESTATE: return "not allowed in the current state";
	case PT_ENOSYS: return "not provided by this portico build";
	case PT_ETIMEDOUT: return "timed out";
	case PT_EIO: return "input/output error";
	case PT_ELIMIT: return "limit reached";
	case PT_ETYPE: return "wrong type";
	case PT_ECANCELED: return "cancelled";
	default: return "unknown error";
	}
}

static const char *api_version(void)
{
	return PACKAGE_VERSION;
}

static __thread struct {
	pt_plugin_ctx *ctx;
	char *buf;
	size_t cap;
} capture;

void api_log_capture(pt_plugin_ctx *ctx, char *buf, size_t cap)
{
	capture.ctx = ctx;
	capture.buf = buf;
	capture.cap = cap;
	if (buf && cap)
		buf[0] = '\0';
}

void api_log_capture_end(void)
{
	capture.ctx = NULL;
	capture.buf = NULL;
}

static void api_vlog(pt_plugin_ctx *ctx, int level, const char *fmt, va_list ap)
{
	if (capture.buf && capture.ctx == ctx && level <= PT_LOG_ERROR) {
		va_list cp;

		size_t n = strlen(capture.buf);

		/* every error line, "; " between them, as far as BUF goes */
		if (n && n + 3 < capture.cap) {
			memcpy(capture.buf + n, "; ", 3);
			n += 2;
		}
		if (n + 1 < capture.cap) {
			va_copy(cp, ap);
			vsnprintf(capture.buf + n, capture.cap - n, fmt, cp);
			va_end(cp);
		}
	}
	log_vmsg(level, ctx ? ctx->name : "plugin", fmt, ap);
}

static void api_log(pt_plugin_ctx *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	api_vlog(ctx, level, fmt, ap);
	va_end(ap);
}

static void ctx_set_data(pt_plugin_ctx *ctx, void *data) { ctx->data = data; }
static void *ctx_get_data(pt_plugin_ctx *ctx) { return ctx->data; }

/* Only the access phase runs (gen.c builds access chains only): the other
 * phases are declared in the ABI but not served, and say so. */
static int phase_check(int phase)
{
	if (phase == PT_PHASE_ACCESS)
		return 0;
	if (phase >= PT_PHASE_HEADER && phase <= PT_PHASE_LOG)
		return PT_ENOSYS;
	return PT_EINVAL;
}

static int handler_register(pt_plugin_ctx *ctx, const char *name, pt_handler_fn fn, void *ud)
{
	return registry_handler_add(ctx, name, fn, ud);
}

static int filter_register(pt_plugin_ctx *ctx, const char *name, int phase, pt_filter_fn fn,
                           void *ud)
{
	int rc = phase_check(phase);

	return rc ? rc : registry_filter_add(ctx, name, phase, fn, ud);
}

static int filter_define(pt_plugin_ctx *ctx, const struct pt_filter_def *def, void *ud)
{
	int rc;

	if (!def)
		return PT_EINVAL;
	rc = phase_check(def->phase);
	return rc ? rc : registry_filter_define(ctx, def, ud);
}

static int rate_take(pt_str_t key, double limit, double period, double burst, double cost,
                     struct pt_rate *out)
{
	struct shared_rate r;
	struct timespec ts;
	int rc;

	if (!(limit > 0) || !(period > 0) || !out)
		return PT_EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	rc = shared_dict_rate(lua_rt_shared(), key.ptr, key.len, period / limit, burst, cost,
	                      (double)ts.tv_sec + ts.tv_nsec / 1e9, &r);
	if (rc == 0)
		*out = (struct pt_rate){ r.allowed, r.remaining, r.reset, r.retry_after };
	return rc;
}

static unsigned api_worker_count(void) { return worker_count(); }

static void worker_set_data(pt_plugin_ctx *ctx, pt_worker *w, void *data)
{
	if (ctx->worker_data && w->id < worker_count())
		ctx->worker_data[w->id] = data;
}

static void *worker_get_data(pt_plugin_ctx *ctx, pt_worker *w)
{
	return ctx->worker_data && w->id < worker_count() ? ctx->worker_data[w->id] : NULL;
}

/* The registry (metrics.c) is served at the admin listener's /metrics.
 * A metric lives until the process ends, so the pointer a plugin keeps
 * stays valid across reloads and plugin unloads. NULL for a name that is
 * not a Prometheus metric name, or one registered with the other kind. */
static pt_metric *metric_counter(pt_plugin_ctx *ctx, const char *name, const char *help)
{
	(void)ctx;
	return metric_new(METRIC_COUNTER, name, help);
}

static pt_metric *metric_gauge(pt_plugin_ctx *ctx, const char *name, const char *help)
{
	(void)ctx;
	return metric_new(METRIC_GAUGE, name, help);
}

/* Labelled metrics (1.8): one family per name, a series per label set
 * (metrics.c checks the syntax and bounds the sets). */
static pt_metric *metric_counter_l(pt_plugin_ctx *ctx, const char *name, const char *help,
                                   const char *labels)
{
	(void)ctx;
	return labels ? metric_new_l(METRIC_COUNTER, name, help, labels) : NULL;
}

static pt_metric *metric_gauge_l(pt_plugin_ctx *ctx, const char *name, const char *help,
                                 const char *labels)
{
	(void)ctx;
	return labels ? metric_new_l(METRIC_GAUGE, name, help, labels) : NULL;
}

static int lua_module_register(pt_plugin_ctx *ctx, const char *name, pt_lua_open_fn open)
{
	(void)ctx;
	return lua_module_add(name, open);
}

static const struct pt_api table = {
	.size = sizeof(struct pt_api),
	.abi_major = PT_ABI_MAJOR,
	.abi_minor = PT_ABI_MINOR,
	.version = api_version,
	.strerror = pt_strerror_impl,
	.log = api_log,
	.vlog = api_vlog,
	.ctx_set_data = ctx_set_data,
	.ctx_get_data = ctx_get_data,
	.conf_type = conf_type,
	.conf_get = conf_get,
	.conf_len = conf_len,
	.conf_at = conf_at,
	.conf_key_at = conf_key_at,
	.conf_str = conf_str,
	.conf_num = conf_num,
	.conf_int = conf_int,
	.conf_bool = conf_bool,
	.conf_where = conf_where,
	.handler_register = handler_register,
	.filter_register = filter_register,
	.exchange_method = xapi_method,
	.exchange_method_name = xapi_method_name,
	.exchange_path = xapi_path,
	.exchange_query = xapi_query,
	.exchange_host = xapi_host,
	.exchange_query_arg = xapi_query_arg,
	.exchange_header = xapi_header,
	.exchange_header_count = xapi_header_count,
	.exchange_header_at = xapi_header_at,
	.exchange_param = xapi_param,
	.exchange_remote_addr = xapi_remote_addr,
	.exchange_request_id = xapi_request_id,
	.exchange_traceparent = xapi_traceparent,
	.exchange_body = xapi_body,
	.exchange_body_read = xapi_body_read,
	.exchange_status_set = xapi_status_set,
	.exchange_header_add = xapi_header_add,
	.exchange_header_set = xapi_header_set,
	.exchange_respond = xapi_respond,
	.exchange_write = xapi_write,
	.exchange_trailer_add = xapi_trailer_add,
	.exchange_finish = xapi_finish,
	.exchange_ref = xapi_ref,
	.exchange_unref = xapi_unref,
	.exchange_aborted = xapi_aborted,
	.exchange_alloc = xapi_alloc,
	.exchange_worker = xapi_worker,
	.exchange_resume = xapi_resume,
	.worker_id = worker_index,
	.worker_count = api_worker_count,
	.worker_set_data = worker_set_data,
	.worker_get_data = worker_get_data,
	.timer_new = timer_new,
	.timer_start = timer_start,
	.timer_stop = timer_stop,
	.timer_free = timer_free,
	.post = worker_post,
	.hub_publish = hub_publish,
	.hub_subscribe = hub_subscribe,
	.hub_unsubscribe = hub_unsubscribe,
	.metric_counter = metric_counter,
	.metric_gauge = metric_gauge,
	.metric_add = metric_add,
	.metric_set = metric_set,
	.lua_module_register = lua_module_register,
	.lua_wait_begin = lua_wait_begin,
	.lua_wait_yield = lua_wait_yield,
	.lua_wait_wake = lua_wait_wake,
	.upstream_request = upstream_request_api,
	.lua_worker = lua_worker_of,
	.exchange_consumer_set = xapi_consumer_set,
	.exchange_consumer = xapi_consumer,
	.filter_define = filter_define,
	.rate_take = rate_take,
	.redis_configured = redis_api_configured,
	.redis_eval = redis_api_eval,
	.exchange_lua = lua_exchange_state,
	.lua_task_resume = lua_task_resume,
	.exchange_on_abort = xapi_on_abort,
	.exchange_upstream_request = upstream_request_for,
	.hub_message_id = hub_message_id,
	.ws_accept = ws_accept,
	.ws_send = ws_send,
	.ws_close = ws_close,
	.ws_pause = ws_pause,
	.ws_subprotocol = ws_subprotocol,
	.ws_id = ws_id,
	.ws_worker = ws_worker,
	.ws_remote_addr = ws_remote_addr,
	.ws_request_id = ws_request_id,
	.ws_queued = ws_queued,
	.ws_lua = ws_lua,
	.ws_lua_task_resume = ws_lua_task_resume,
	.exchange_lua_req = lua_push_req,
	.ucall_start = ucall_start,
	.ucall_write = ucall_write,
	.ucall_end = ucall_end,
	.ucall_pause = ucall_pause,
	.ucall_cancel = ucall_cancel,
	.exchange_body_pause = xapi_body_pause,
	.lua_task_abandon = lua_task_abandon,
	.lua_task_budget_reset = lua_task_budget_reset,
	.worker_lua = lua_worker_state,
	.worker_lua_task_resume = lua_worker_task_resume,
	.var_dir = process_var_dir,
	.run_mode = process_mode,
	.command_register = command_register,
	.metric_counter_l = metric_counter_l,
	.metric_gauge_l = metric_gauge_l,
	.lua_exchange = lua_running_exchange,
	.admin_route_register = admin_route_register,
};

const struct pt_api *api_table(void)
{
	return &table;
}
