/*
 * soap.c - the SOAP plugin (issue 15): its options, the services it loads
 * from WSDL files at start and reload, and their metrics. The pieces are
 * described in soap.h; the `soap` Lua module is lmod.c.
 *
 *   plugin "soap" {
 *     services = {
 *       ledger = {
 *         wsdl = "conf/ledger.wsdl",        -- required
 *         upstream = "ledger",              -- or url = "http://...", else soap:address
 *         port = "LedgerSoap12",            -- default: the first SOAP 1.1 port
 *         path = "/ledger.asmx",            -- with upstream; default: soap:address's path
 *         timeout = 10, retries = 1, idempotent = { "GetAccount" },
 *         wsse = { username = env("U"), password = env("P"), digest = true },
 *         headers = { ["X-Api-Key"] = "..." },
 *         max_response = 4194304, max_depth = 64,
 *       },
 *     },
 *   }
 *
 * Every service is loaded into a new set at start and at reload: one error
 * (an unknown option, a WSDL's "file:line: ...") refuses the start, or the
 * reload, and the old set keeps serving. Lua states keep the set they
 * opened the module with (refcounted), so calls of an older generation go
 * on across a reload.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soap.h"
#include "portico/plugin.h"

const struct pt_api *soap_api;
pt_plugin_ctx *soap_ctx;

/* The outcomes counted per service and operation (soap_metric_call). */
static const char *const outcomes[SOAP_NOUTCOMES] = {
	"ok", "soap", "transport", "timeout", "http", "malformed", "invalid",
};

/* One operation name's series (deduplicated across the service's ports). */
struct op_metrics {
	const char *op;
	pt_metric *calls[SOAP_NOUTCOMES];
	pt_metric *usec;                      /* summed call time, microseconds */
};

struct soap_metrics {
	struct op_metrics *v;
	unsigned n;
};

/* A set and the pool its services live in. */
struct sset {
	struct soap_services s;               /* first: soap_services_put casts */
	struct sp_pool *pool;
};

static struct sset *current;
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the set ------------------------------------------------------------------- */

static void sset_free(struct sset *ss)
{
	for (unsigned i = 0; i < ss->s.n; i++) {
		struct soap_service *svc = &ss->s.v[i];

		wsdl_free(svc->w);
		if (svc->metrics)
			free(svc->metrics->v);
		free(svc->metrics);
	}
	sp_pool_free(ss->pool);
	free(ss);
}

struct soap_services *soap_services_get(void)
{
	struct sset *ss;

	pthread_mutex_lock(&current_lock);
	ss = current;
	if (ss)
		atomic_fetch_add_explicit((_Atomic int *)&ss->s.refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&current_lock);
	return ss ? &ss->s : NULL;
}

void soap_services_hold(struct soap_services *s)
{
	if (s)
		atomic_fetch_add_explicit((_Atomic int *)&s->refs, 1, memory_order_relaxed);
}

void soap_services_put(struct soap_services *s)
{
	if (s && atomic_fetch_sub_explicit((_Atomic int *)&s->refs, 1, memory_order_acq_rel) == 1)
		sset_free((struct sset *)s);
}

const struct soap_service *soap_service_find(const struct soap_services *s, const char *name)
{
	for (unsigned i = 0; s && name && i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

int soap_op_idempotent(const struct soap_service *svc, const char *op)
{
	for (unsigned i = 0; i < svc->nidempotent; i++)
		if (!strcmp(svc->idempotent[i], op))
			return 1;
	return 0;
}

void soap_metric_call(const struct soap_service *svc, const char *op, enum soap_outcome o,
                      uint64_t usec)
{
	const struct soap_metrics *m = svc->metrics;

	for (unsigned i = 0; m && i < m->n && (unsigned)o < SOAP_NOUTCOMES; i++)
		if (!strcmp(m->v[i].op, op)) {
			soap_api->metric_add(m->v[i].calls[o], 1);
			soap_api->metric_add(m->v[i].usec, (double)usec / 1e6);
			return;
		}
}

const char *soap_outcome_name(enum soap_outcome o)
{
	return (unsigned)o < SOAP_NOUTCOMES ? outcomes[o] : "?";
}

/* ---- options --------------------------------------------------------------------- */

static int bad(const pt_conf *c, const char *fmt, ...) PT_PRINTF(2, 3);

/* Logs "file:line: plugin "soap": MESSAGE" (C's place in the config) and
 * returns PT_EINVAL. */
static int bad(const pt_conf *c, const char *fmt, ...)
{
	const char *file = "config";
	int line = 0;
	char msg[2048];
	va_list ap;

	if (c)
		soap_api->conf_where(c, &file, &line);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	soap_api->log(soap_ctx, PT_LOG_ERROR, "%s:%d: plugin \"soap\": %s", file, line, msg);
	return PT_EINVAL;
}

/* The names a table may hold; the first unknown one is an error naming
 * WHAT. Array elements too (a table of options has none). */
static int known_keys(const pt_conf *c, const char *what, const char *const *known)
{
	const struct pt_api *a = soap_api;
	const pt_conf *v;
	const char *k;

	if (a->conf_len(c))
		return bad(c, "%s: expected name = value options, not a list", what);
	for (size_t i = 0; (k = a->conf_key_at(c, i, &v)); i++) {
		size_t j = 0;
		char list[512] = "";

		while (known[j] && strcmp(known[j], k))
			j++;
		if (known[j])
			continue;
		for (j = 0; known[j]; j++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			         j ? ", " : "", known[j]);
		return bad(v, "%s: unknown option '%s' (known: %s)", what, k, list);
	}
	return 0;
}

/* Child KEY as a string copied into POOL; NULL when absent (0). */
static int str_opt(struct sp_pool *pool, const pt_conf *c, const char *key, const char *what,
                   const char **out)
{
	pt_str_t s;
	int rc = soap_api->conf_str(c, key, &s);

	*out = NULL;
	if (rc == PT_ENOENT)
		return 0;
	if (rc != 0)
		return bad(soap_api->conf_get(c, key), "%s: %s must be a string", what, key);
	if (memchr(s.ptr, 0, s.len))
		return bad(soap_api->conf_get(c, key), "%s: %s holds a NUL byte", what, key);
	if (!(*out = sp_strndup(pool, s.ptr, s.len)))
		return PT_ENOMEM;
	return 0;
}

static int num_opt(const pt_conf *c, const char *key, const char *what, double lo, double hi,
                   double def, double *out)
{
	int rc = soap_api->conf_num(c, key, out);

	if (rc == PT_ENOENT) {
		*out = def;
		return 0;
	}
	if (rc != 0 || !(*out >= lo && *out <= hi))
		return bad(soap_api->conf_get(c, key), "%s: %s must be a number from %g to %g", what,
		           key, lo, hi);
	return 0;
}

/* `idempotent = { "GetAccount", ... }`: names of the port's operations. */
static int idempotent_opt(struct sp_pool *pool, const pt_conf *c, const char *what,
                          const struct wsdl_port *port, struct soap_service *svc)
{
	const struct pt_api *a = soap_api;
	const pt_conf *l = a->conf_get(c, "idempotent");
	size_t n;

	if (!l)
		return 0;
	if (a->conf_type(l) != PT_CONF_TABLE || a->conf_key_at(l, 0, NULL))
		return bad(l, "%s: idempotent must be a list of operation names", what);
	n = a->conf_len(l);
	if (!(svc->idempotent = sp_alloc(pool, (n + 1) * sizeof(char *))))
		return PT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		pt_str_t s;
		const char *name;

		if (a->conf_str(a->conf_at(l, i), NULL, &s) != 0)
			return bad(l, "%s: idempotent[%zu] must be an operation name", what, i + 1);
		if (!(name = sp_strndup(pool, s.ptr, s.len)))
			return PT_ENOMEM;
		if (!wsdl_op(port, name))
			return bad(l, "%s: idempotent names '%s', which port %s does not have", what,
			           name, port->name);
		svc->idempotent[svc->nidempotent++] = name;
	}
	return 0;
}

static int wsse_opt(struct sp_pool *pool, const pt_conf *c, const char *what,
                    struct soap_service *svc)
{
	static const char *const known[] = { "username", "password", "digest", NULL };
	const struct pt_api *a = soap_api;
	const pt_conf *t = a->conf_get(c, "wsse");
	char w[200];
	int rc;

	if (!t)
		return 0;
	snprintf(w, sizeof(w), "%s: wsse", what);
	if (a->conf_type(t) != PT_CONF_TABLE)
		return bad(t, "%s must be a table { username = ..., password = ..., digest = "
		           "true|false }", w);
	if ((rc = known_keys(t, w, known)) != 0 ||
	    (rc = str_opt(pool, t, "username", w, &svc->wsse.username)) != 0 ||
	    (rc = str_opt(pool, t, "password", w, &svc->wsse.password)) != 0)
		return rc;
	if (!svc->wsse.username || !svc->wsse.password)
		return bad(t, "%s needs both username and password", w);
	rc = a->conf_bool(t, "digest", &svc->wsse.digest);
	if (rc != 0 && rc != PT_ENOENT)
		return bad(a->conf_get(t, "digest"), "%s: digest must be true or false", w);
	return 0;
}

/* A header name: an HTTP token; values: no CR, LF or NUL. */
static int header_ok(pt_str_t name, pt_str_t value)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	if (!name.len)
		return 0;
	for (size_t i = 0; i < name.len; i++) {
		unsigned char ch = (unsigned char)name.ptr[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || (ch && strchr(tchar, ch))))
			return 0;
	}
	for (size_t i = 0; i < value.len; i++)
		if (value.ptr[i] == '\r' || value.ptr[i] == '\n' || value.ptr[i] == 0)
			return 0;
	return 1;
}

static int headers_opt(struct sp_pool *pool, const pt_conf *c, const char *what,
                       struct soap_service *svc)
{
	const struct pt_api *a = soap_api;
	const pt_conf *t = a->conf_get(c, "headers"), *v;
	const char *k;
	size_t n = 0;

	if (!t)
		return 0;
	if (a->conf_type(t) != PT_CONF_TABLE || a->conf_len(t))
		return bad(t, "%s: headers must be a table { [\"Name\"] = \"value\" }", what);
	while (a->conf_key_at(t, n, NULL))
		n++;
	if (!(svc->headers = sp_alloc(pool, (2 * n + 1) * sizeof(char *))))
		return PT_ENOMEM;
	for (size_t i = 0; (k = a->conf_key_at(t, i, &v)); i++) {
		pt_str_t name = { k, strlen(k) }, value;

		if (a->conf_str(v, NULL, &value) != 0 || !header_ok(name, value))
			return bad(v, "%s: headers: '%s' must be an HTTP header name with a string "
			           "value (no CR, LF)", what, k);
		if (!strcasecmp(k, "content-type") || !strcasecmp(k, "soapaction") ||
		    !strcasecmp(k, "content-length") || !strcasecmp(k, "host"))
			return bad(v, "%s: headers: %s is set by the plugin", what, k);
		svc->headers[2 * svc->nheaders] = sp_strdup(pool, k);
		svc->headers[2 * svc->nheaders + 1] = sp_strndup(pool, value.ptr, value.len);
		if (!svc->headers[2 * svc->nheaders] || !svc->headers[2 * svc->nheaders + 1])
			return PT_ENOMEM;
		svc->nheaders++;
	}
	return 0;
}

const char *soap_url_path(const char *url)
{
	const char *p = strstr(url, "://");

	p = p ? strchr(p + 3, '/') : NULL;
	return p ? p : "/";
}

int soap_http_url(const char *u)
{
	return !strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8);
}

/* The series of every operation name of SVC's WSDL (all its ports). */
static int metrics_build(struct soap_service *svc)
{
	const struct pt_api *a = soap_api;
	struct soap_metrics *m = calloc(1, sizeof(*m));
	unsigned total = 0;

	if (!m)
		return PT_ENOMEM;
	svc->metrics = m;
	for (unsigned p = 0; p < svc->w->nports; p++)
		total += svc->w->ports[p].nops;
	if (total && !(m->v = calloc(total, sizeof(*m->v))))
		return PT_ENOMEM;
	for (unsigned p = 0; p < svc->w->nports; p++)
		for (unsigned i = 0; i < svc->w->ports[p].nops; i++) {
			const char *op = svc->w->ports[p].ops[i].name;
			struct op_metrics *om;
			char labels[512];
			unsigned j = 0;

			while (j < m->n && strcmp(m->v[j].op, op))
				j++;
			if (j < m->n)
				continue;
			om = &m->v[m->n++];
			om->op = op;
			/* the names come from the config and the WSDL: NCName and the
			 * config's keys have no quote, backslash or newline to escape,
			 * and the core refuses a bad label set (NULL: not counted) */
			for (unsigned o = 0; o < SOAP_NOUTCOMES; o++) {
				snprintf(labels, sizeof(labels),
				         "service=\"%s\",operation=\"%s\",outcome=\"%s\"", svc->name, op,
				         outcomes[o]);
				om->calls[o] = a->metric_counter_l(soap_ctx, "portico_soap_calls_total",
				                                   "SOAP client calls by outcome", labels);
			}
			snprintf(labels, sizeof(labels), "service=\"%s\",operation=\"%s\"", svc->name,
			         op);
			om->usec = a->metric_counter_l(soap_ctx, "portico_soap_call_duration_seconds_total",
			                               "Time spent in SOAP client calls (seconds, every "
			                               "outcome)", labels);
		}
	return 0;
}

static int name_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

/* One service from its options table C. */
static int service_build(struct sp_pool *pool, const char *name, const pt_conf *c,
                         struct soap_service *svc)
{
	static const char *const known[] = {
		"wsdl", "upstream", "port", "path", "url", "timeout", "retries", "idempotent",
		"wsse", "headers", "max_response", "max_depth", NULL,
	};
	const struct pt_api *a = soap_api;
	const struct wsdl_port *port;
	const char *wsdl_path;
	char what[160], err[2048];
	double d;
	int rc;

	snprintf(what, sizeof(what), "service %s", name);
	if (!name_ok(name))
		return bad(c, "service name '%s': use letters, digits, '_', '-', '.'", name);
	if (a->conf_type(c) != PT_CONF_TABLE)
		return bad(c, "%s: expected a table { wsdl = \"file.wsdl\", ... }", what);
	if (!(svc->name = sp_strdup(pool, name)))
		return PT_ENOMEM;
	if ((rc = known_keys(c, what, known)) != 0 ||
	    (rc = str_opt(pool, c, "wsdl", what, &wsdl_path)) != 0 ||
	    (rc = str_opt(pool, c, "upstream", what, &svc->upstream)) != 0 ||
	    (rc = str_opt(pool, c, "port", what, &svc->port)) != 0 ||
	    (rc = str_opt(pool, c, "path", what, &svc->path)) != 0 ||
	    (rc = str_opt(pool, c, "url", what, &svc->url)) != 0)
		return rc;
	if (!wsdl_path || !*wsdl_path)
		return bad(c, "%s: wsdl = \"file.wsdl\" is required", what);
	if (svc->upstream && svc->url)
		return bad(c, "%s: give upstream or url, not both", what);
	if (svc->path && !svc->upstream)
		return bad(a->conf_get(c, "path"), "%s: path goes with upstream (with url, put the "
		           "path in the url)", what);
	if (svc->path && svc->path[0] != '/')
		return bad(a->conf_get(c, "path"), "%s: path must start with '/'", what);
	if (svc->url && !soap_http_url(svc->url))
		return bad(a->conf_get(c, "url"), "%s: url must be an http:// or https:// URL", what);
	if ((rc = num_opt(c, "timeout", what, 0.001, 3600, 0, &d)) != 0)
		return rc;
	svc->timeout_ms = (uint32_t)(d * 1000 + 0.5);
	if ((rc = num_opt(c, "retries", what, 0, 10, 1, &d)) != 0)
		return rc;
	if (d != (double)(unsigned)d)
		return bad(a->conf_get(c, "retries"), "%s: retries must be a whole number", what);
	svc->retries = (unsigned)d;
	svc->limits = sx_default_limits;
	if ((rc = num_opt(c, "max_response", what, 1024, 1 << 30,
	                  (double)sx_default_limits.max_bytes, &d)) != 0)
		return rc;
	svc->limits.max_bytes = (size_t)d;
	if ((rc = num_opt(c, "max_depth", what, 8, 1024, sx_default_limits.max_depth, &d)) != 0)
		return rc;
	svc->limits.max_depth = (unsigned)d;
	if ((rc = wsse_opt(pool, c, what, svc)) != 0 || (rc = headers_opt(pool, c, what, svc)) != 0)
		return rc;

	if (!(svc->w = wsdl_load(wsdl_path, err, sizeof(err))))
		return bad(a->conf_get(c, "wsdl"), "%s: %s", what, err);
	if (!(port = wsdl_port(svc->w, svc->port))) {
		char list[512] = "";

		for (unsigned i = 0; i < svc->w->nports; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			         i ? ", " : "", svc->w->ports[i].name);
		return bad(a->conf_get(c, "port"), "%s: port '%s' is not a SOAP port of %s (its "
		           "SOAP ports: %s)", what, svc->port ? svc->port : "", wsdl_path, list);
	}
	if (!svc->upstream && !svc->url && !port->address)
		return bad(c, "%s: port %s has no soap:address: give upstream or url", what,
		           port->name);
	if (!svc->upstream && !svc->url && !soap_http_url(port->address))
		return bad(c, "%s: port %s's soap:address '%s' is not http(s): give upstream or "
		           "url", what, port->name, port->address);
	svc->path_set = svc->path != NULL;
	svc->url_set = svc->url != NULL;
	if (svc->upstream && !svc->path)
		svc->path = port->address ? sp_strdup(pool, soap_url_path(port->address)) : "/";
	if (!svc->upstream && !svc->url)
		svc->url = port->address;
	if ((rc = idempotent_opt(pool, c, what, port, svc)) != 0)
		return rc;
	return metrics_build(svc);
}

/* A new set from the plugin's options; NULL after logging why. */
static struct sset *sset_build(const pt_conf *conf)
{
	static const char *const known[] = { "services", NULL };
	const struct pt_api *a = soap_api;
	const pt_conf *svcs, *v;
	struct sset *ss = calloc(1, sizeof(*ss));
	const char *k;
	size_t n = 0;
	int rc = PT_ENOMEM;

	if (!ss || !(ss->pool = sp_pool_new()))
		goto fail;
	ss->s.refs = 1;
	if ((rc = known_keys(conf, "options", known)) != 0)
		goto fail;
	rc = PT_EINVAL;
	if ((svcs = a->conf_get(conf, "services")) == NULL)
		return ss;   /* no services: soap.endpoint may still be used */
	if (a->conf_type(svcs) != PT_CONF_TABLE || a->conf_len(svcs)) {
		bad(svcs, "services must be a table { name = { wsdl = \"file.wsdl\", ... } }");
		goto fail;
	}
	while (a->conf_key_at(svcs, n, NULL))
		n++;
	rc = PT_ENOMEM;
	if (n && !(ss->s.v = sp_alloc(ss->pool, n * sizeof(*ss->s.v))))
		goto fail;
	for (size_t i = 0; (k = a->conf_key_at(svcs, i, &v)); i++) {
		rc = service_build(ss->pool, k, v, &ss->s.v[ss->s.n]);
		if (ss->s.v[ss->s.n].w || ss->s.v[ss->s.n].metrics)
			ss->s.n++;   /* sset_free frees it */
		if (rc != 0)
			goto fail;
	}
	return ss;
fail:
	if (rc == PT_ENOMEM)
		soap_api->log(soap_ctx, PT_LOG_ERROR, "out of memory loading the services");
	if (ss)
		sset_free(ss);
	return NULL;
}

/* Makes the options' set the current one; PT_EINVAL (logged) leaves the
 * old one serving. */
static int sset_apply(const pt_conf *conf, const char *when)
{
	struct sset *ss = sset_build(conf), *old;

	if (!ss) {
		soap_api->log(soap_ctx, PT_LOG_ERROR, "%s refused: the services above did not load%s",
		              when, current ? "; the running services stay" : "");
		return PT_EINVAL;
	}
	pthread_mutex_lock(&current_lock);
	old = current;
	current = ss;
	pthread_mutex_unlock(&current_lock);
	soap_api->log(soap_ctx, PT_LOG_INFO, "%s: %u SOAP service%s loaded", when, ss->s.n,
	              ss->s.n == 1 ? "" : "s");
	if (old)
		soap_services_put(&old->s);
	return 0;
}

/* ---- the plugin ------------------------------------------------------------------- */

static int load(pt_plugin_ctx *ctx, const struct pt_api *a, const pt_conf *conf)
{
	int rc;

	soap_api = a;
	soap_ctx = ctx;
	if (!PT_API_HAS(a, lua_exchange)) {
		a->log(ctx, PT_LOG_ERROR, "needs plugin ABI 1.9 (lua_exchange); this portico has "
		       "%u.%u", (unsigned)a->abi_major, (unsigned)a->abi_minor);
		return PT_ENOSYS;
	}
	if (a->run_mode() == PT_RUN_COMMAND)
		return 0;
	if ((rc = sset_apply(conf, "start")) != 0)
		return rc;
	if ((rc = a->lua_module_register(ctx, "soap", soap_lua_open)) != 0) {
		a->log(ctx, PT_LOG_ERROR, "cannot register the soap module: %s", a->strerror(rc));
		return rc;
	}
	return 0;
}

static int reload(pt_plugin_ctx *ctx, const pt_conf *conf)
{
	(void)ctx;
	if (soap_api->run_mode() == PT_RUN_COMMAND)
		return 0;
	return sset_apply(conf, "reload");
}

static void unload(pt_plugin_ctx *ctx)
{
	struct sset *ss;

	(void)ctx;
	pthread_mutex_lock(&current_lock);
	ss = current;
	current = NULL;
	pthread_mutex_unlock(&current_lock);
	if (ss)
		soap_services_put(&ss->s);
}

static const struct pt_plugin soap_plugin = {
	PT_PLUGIN_HEAD,
	.name = "soap",
	.version = "0.1.0",
	.load = load,
	.unload = unload,
	.reload = reload,
};

PT_PLUGIN_ENTRY
{
	return &soap_plugin;
}
