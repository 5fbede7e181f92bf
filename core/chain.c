/* chain.c - access filters, then the handler; see chain.h. */
#include "chain.h"
#include "api_table.h"
#include "gen.h"
#include "http/exchange.h"
#include "log.h"
#include "lua/lua_rt.h"
#include "phase_metrics.h"
#include "plugin.h"
#include "watchdog.h"
#include "worker.h"

/* Who a callback's time counts for (phase_metrics.h). */
static const char *owner_name(const struct pt_plugin_ctx *owner, int lua)
{
	return owner ? owner->name : lua ? "lua" : "core";
}

/* Calls the route's handler; answers 500 when it fails or forgets to answer.
 * NOW: mono_us() read just before. */
static void run_handler(pt_exchange *x, uint64_t now)
{
	const struct route_entry *re = x->route;
	int rc;

	xapi_ref(x);   /* the handler may drop the last other reference */
	x->handler_start_us = now ? now : 1;
	rc = re->handler->fn(x, re->conf->opts, re->handler->ud);
	phase_metrics_call(x->w->id, owner_name(re->handler->owner, re->lua_fn != 0),
	                   PHASE_HANDLER, mono_us() - now);
	if (rc < 0 && x->state < X_STREAMING) {
		log_error(re->handler->owner ? re->handler->owner->name : "core",
		          "handler '%s' failed on %.*s %.*s: %s", re->handler->name,
		          (int)x->method_name.len, x->method_name.ptr, (int)x->path.len, x->path.ptr,
		          pt_strerror_impl(rc));
		exchange_error(x, 500, "internal error");
	} else if (x->state == X_HANDLING && x->refs <= 2 && !x->transport_gone) {
		/* nobody holds it to answer later: the handler forgot to answer */
		log_error("core", "handler '%s' returned without answering %.*s and holds no "
		          "reference", re->handler->name, (int)x->path.len, x->path.ptr);
		exchange_error(x, 500, "internal error");
	}
	xapi_unref(x);
}

/* Runs filters from x->fpos on; stops at one that waits. */
static void step(pt_exchange *x)
{
	const struct route_entry *re = x->route;
	pt_exchange *was = watchdog_enter(x->w, x);   /* filters and handler: X's code */
	uint64_t t = mono_us(), t2;

	x->chain_busy++;
	while (x->fpos < re->nfilters) {
		const struct filter_ref *f = &re->filters[x->fpos++];
		int rc;

		if (x->preflight && !(f->c && (f->c->def.flags & PT_FILTER_PREFLIGHT)))
			continue;
		x->chain_result = -1;
		if (!f->c)
			rc = lua_filter_run(x, f->name, f->opts);
		else if (f->c->fn)
			rc = f->c->fn(x, f->opts, f->c->ud);
		else
			rc = f->c->def.run(x, f->state, f->c->ud);
		t2 = mono_us();
		phase_metrics_call(x->w->id, f->c ? owner_name(f->c->owner, 0) : "lua", PHASE_FILTER,
		                   t2 - t);
		t = t2;
		if (rc == PT_FILTER_WAIT) {
			if (x->chain_result < 0)
				goto out;          /* it will call back */
			rc = x->chain_result;  /* it finished at once */
		}
		if (rc == PT_FILTER_NEXT)
			continue;
		if (rc != PT_FILTER_DONE)
			log_error("core", "filter '%s' failed on %.*s: %s", f->name, (int)x->path.len,
			          x->path.ptr, pt_strerror_impl(rc));
		if (x->state < X_STREAMING)
			exchange_error(x, 500, "internal error");   /* DONE without an answer, or an error */
		goto out;
	}
	if (x->state == X_HANDLING && !x->transport_gone) {
		if (x->preflight)   /* no preflight filter answered: a plain empty answer */
			xapi_respond(x, 204, (pt_str_t){ NULL, 0 });
		else
			run_handler(x, t);
	}
out:
	x->chain_busy--;
	watchdog_leave(x->w, was);
}

void chain_start(pt_exchange *x)
{
	x->state = X_HANDLING;
	x->fpos = 0;
	xapi_ref(x);
	step(x);
	xapi_unref(x);
}

void chain_filter_done(pt_exchange *x, int result)
{
	if (x->chain_busy) {
		x->chain_result = result;   /* step() picks it up */
		return;
	}
	if (result == PT_FILTER_NEXT) {
		xapi_ref(x);
		step(x);
		xapi_unref(x);
	}
}

int chain_resume(pt_exchange *x)
{
	if (x->state != X_HANDLING)
		return PT_ESTATE;
	chain_filter_done(x, PT_FILTER_NEXT);
	return 0;
}
