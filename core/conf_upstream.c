/*
 * conf_upstream.c - the upstream "name" { ... } blocks of the config (see
 * conf.c): servers, balance, timeouts, retries and their budget, keepalive,
 * passive (max_fails) and active (health) checks, protocol and tls, each
 * checked against its schema and read into struct upstream_conf.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf_priv.h"

static const struct spec up_timeout_spec[] = {
	{ "connect", PT_CONF_NUMBER, 0, 0.001, 600, NULL },
	{ "read", PT_CONF_NUMBER, 0, 0.001, 3600, NULL },
	{ "send", PT_CONF_NUMBER, 0, 0.001, 3600, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec up_health_spec[] = {
	{ "path", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "interval", PT_CONF_NUMBER, 0, 0.05, 3600, NULL },
	{ "timeout", PT_CONF_NUMBER, 0, 0.001, 600, NULL },
	{ "healthy", PT_CONF_NUMBER, S_INT, 1, 100, NULL },
	{ "unhealthy", PT_CONF_NUMBER, S_INT, 1, 100, NULL },
	{ "status", PT_CONF_TABLE, S_ANY_KEYS, 0, 0, NULL },   /* checked by read_health */
	{ "host", PT_CONF_STRING, 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec up_tls_spec[] = {
	{ "verify", PT_CONF_BOOL, 0, 0, 0, NULL },
	{ "ca", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "sni", PT_CONF_STRING, 0, 0, 0, NULL },   /* refused by read_upstream_tls */
	{ NULL, 0, 0, 0, 0, NULL },
};

static const struct spec up_spec[] = {
	{ "servers", PT_CONF_TABLE, S_REQUIRED | S_ANY_KEYS, 0, 0, NULL },
	{ "balance", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "timeout", PT_CONF_TABLE, 0, 0, 0, up_timeout_spec },
	{ "retries", PT_CONF_NUMBER, S_INT, 0, 10, NULL },
	{ "keepalive", PT_CONF_NUMBER, S_INT, 1, 65536, NULL },
	{ "retry_budget", PT_CONF_NUMBER, 0, 0, 1, NULL },
	{ "retry_budget_min", PT_CONF_NUMBER, 0, 0, 10000, NULL },
	{ "max_fails", PT_CONF_NUMBER, S_INT, 1, 1000, NULL },
	{ "fail_timeout", PT_CONF_NUMBER, 0, 0.001, 3600, NULL },
	{ "health", PT_CONF_TABLE, 0, 0, 0, up_health_spec },
	{ "protocol", PT_CONF_STRING, 0, 0, 0, NULL },
	{ "http2", PT_CONF_BOOL, 0, 0, 0, NULL },
	{ "tls", PT_CONF_TABLE, 0, 0, 0, up_tls_spec },
	{ NULL, 0, 0, 0, 0, NULL },
};

/* A header or query parameter name for hash(...): token characters only. */
static int hash_name_ok(const char *s)
{
	if (!*s || strlen(s) > 128)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

/*
 * balance = "round_robin" | "least_conn" | "hash(ip)" | "hash(header:NAME)" |
 * "hash(query:NAME)". Header names are kept lower-case (requests carry them so).
 */
static void read_balance(struct errbuf *e, struct config *cfg, struct upstream_conf *u,
                         const char *bal)
{
	static const char *const plain[] = { "round_robin", "least_conn", NULL };
	static const char *const kinds[] = { "ip", "header", "query", NULL };
	size_t n = strlen(bal);
	char hint[200] = "";

	if (!strcmp(bal, "round_robin") || !strcmp(bal, "least_conn")) {
		u->balance = bal[0] == 'r' ? UP_BALANCE_ROUND_ROBIN : UP_BALANCE_LEAST_CONN;
		return;
	}
	if (n > 6 && !strncmp(bal, "hash(", 5) && bal[n - 1] == ')') {
		const char *in = bal + 5, *colon = memchr(in, ':', n - 6);
		char kind[32], *name = colon ? arena_strndup(&cfg->arena, colon + 1,
		                                             (size_t)(bal + n - 1 - colon - 1)) : NULL;
		size_t kl = colon ? (size_t)(colon - in) : n - 6;
		const char *k;

		snprintf(kind, sizeof(kind), "%.*s", (int)(kl < sizeof(kind) ? kl : 0), in);
		if (!strcmp(kind, "ip") && !colon) {
			u->balance = UP_BALANCE_HASH;
			u->hash_by = UP_HASH_IP;
			return;
		}
		if ((!strcmp(kind, "header") || !strcmp(kind, "query")) && name && hash_name_ok(name)) {
			if (kind[0] == 'h')
				for (char *p = name; *p; p++)
					*p = (char)tolower((unsigned char)*p);
			u->balance = UP_BALANCE_HASH;
			u->hash_by = kind[0] == 'h' ? UP_HASH_HEADER : UP_HASH_QUERY;
			u->hash_name = name;
			return;
		}
		k = !strcmp(kind, "ip") || !strcmp(kind, "header") || !strcmp(kind, "query") ? kind :
		    conf_closest(kind, kinds);
		if (k && !strcmp(k, "ip"))
			snprintf(hint, sizeof(hint), " (did you mean \"hash(ip)\"?)");
		else if (k)
			snprintf(hint, sizeof(hint), " (did you mean \"hash(%s:%.64s)\"?)", k,
			         name && hash_name_ok(name) ? name : "NAME");
	} else {
		const char *k = conf_closest(bal, plain);

		if (k)
			snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", k);
	}
	conf_errf(e, cfg->file, u->line, "upstream \"%s\": balance is \"round_robin\", \"least_conn\", "
	          "\"hash(ip)\", \"hash(header:NAME)\" or \"hash(query:NAME)\", not \"%s\"%s",
	          u->name, bal, hint);
}

/* health = { path, interval, timeout, healthy, unhealthy, status = { lo, hi }, host } */
static void read_health(struct errbuf *e, struct config *cfg, struct upstream_conf *u,
                        const pt_conf *h)
{
	struct upstream_health_conf *hc = &u->health;
	const pt_conf *st = conf_get(h, "status");
	double lo, hi;

	hc->enabled = 1;
	hc->path = str_or(h, "path", "/");
	hc->host = str_or(h, "host", NULL);
	hc->interval = num_or(h, "interval", 2);
	hc->timeout = num_or(h, "timeout", 1);
	hc->healthy = (unsigned)num_or(h, "healthy", 2);
	hc->unhealthy = (unsigned)num_or(h, "unhealthy", 2);
	hc->status_min = 200;
	hc->status_max = 399;
	if (hc->path[0] != '/' || strpbrk(hc->path, " \r\n"))
		conf_errf(e, cfg->file, u->line, "upstream \"%s\": health.path must start with '/' and "
		          "hold no space, not \"%s\"", u->name, hc->path);
	if (hc->host && (!*hc->host || strpbrk(hc->host, " \r\n/")))
		conf_errf(e, cfg->file, u->line, "upstream \"%s\": health.host must be a host name "
		          "(optionally with :port), not \"%s\"", u->name, hc->host);
	if (!st)
		return;
	if (conf_len(st) < 1 || conf_len(st) > 2 || st->u.t.nkeys ||
	    conf_num(conf_at(st, 0), NULL, &lo) != 0 ||
	    conf_num(conf_at(st, conf_len(st) - 1), NULL, &hi) != 0 ||
	    lo != floor(lo) || hi != floor(hi) || lo < 100 || hi > 599 || lo > hi) {
		conf_errf(e, cfg->file, u->line, "upstream \"%s\": health.status is { lowest, highest } "
		          "of the statuses that mean healthy (100-599), e.g. { 200, 399 }, or { 200 }",
		          u->name);
		return;
	}
	hc->status_min = (int)lo;
	hc->status_max = (int)hi;
}

/*
 * protocol = "http" | "https" | "h2c" | "h2", and tls = { verify, ca }.
 * http2 = true (the gRPC issue's name) says HTTP/2 without naming the
 * protocol: h2c, or h2 when `tls` or protocol "https" is there; a
 * protocol that says otherwise is a conflict.
 */
static void read_protocol(struct errbuf *e, struct config *cfg, struct upstream_conf *u,
                          const pt_conf *v)
{
	static const char *const names[] = { "http", "https", "h2c", "h2", NULL };
	const pt_conf *tls = conf_get(v, "tls");
	const char *p = str_or(v, "protocol", NULL), *hint;
	int i, h2 = -1;

	if (conf_bool(v, "http2", &h2) != 0)
		h2 = -1;
	if (!p)
		p = h2 == 1 ? (tls ? "h2" : "h2c") : "http";
	for (i = 0; names[i] && strcmp(names[i], p); i++)
		;
	if (!names[i]) {
		hint = conf_closest(p, names);
		conf_errf(e, cfg->file, u->line, "upstream \"%s\": protocol is \"http\", \"https\", "
		          "\"h2c\" (HTTP/2, prior knowledge) or \"h2\" (HTTP/2 over TLS), not \"%s\"%s%s%s",
		          u->name, p, hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");
		return;
	}
	if (h2 == 1 && i == UP_PROTO_HTTPS)
		i = UP_PROTO_H2;   /* https + http2: HTTP/2 over TLS */
	if (h2 >= 0 && h2 != (i == UP_PROTO_H2C || i == UP_PROTO_H2)) {
		conf_errf(e, cfg->file, u->line, "upstream \"%s\": http2 = %s conflicts with protocol "
		          "= \"%s\" (say one: http2 = true is protocol \"h2c\", or \"h2\" with tls)",
		          u->name, h2 ? "true" : "false", p);
		return;
	}
	u->protocol = (enum upstream_protocol)i;
	u->tls_verify = 1;
	if (!tls)
		return;
	if (u->protocol != UP_PROTO_HTTPS && u->protocol != UP_PROTO_H2) {
		conf_errf(e, cfg->file, u->line, "upstream \"%s\": 'tls' needs protocol = \"https\" or "
		          "\"h2\" (it is \"%s\")", u->name, p);
		return;
	}
	if (conf_get(tls, "sni"))
		conf_errf(e, cfg->file, u->line, "upstream \"%s\": tls.sni is not supported: name the "
		          "servers by host name (\"api.internal:443\"); SNI and the certificate check "
		          "use it", u->name);
	if (conf_bool(tls, "verify", &u->tls_verify) != 0)
		u->tls_verify = 1;
	u->tls_ca = str_or(tls, "ca", NULL);
	if (u->tls_ca && !file_readable(u->tls_ca))
		conf_errf(e, cfg->file, u->line, "upstream \"%s\": tls.ca: cannot read %s: %s", u->name,
		          u->tls_ca, strerror(errno));
	if (u->tls_ca && !u->tls_verify)
		conf_errf(e, cfg->file, u->line, "upstream \"%s\": tls.ca is pointless with "
		          "verify = false", u->name);
}

/* upstream "name" { servers = { "127.0.0.1:9001", ... }, ... } */
void conf_read_upstream(struct errbuf *e, struct config *cfg, const char *name, int line,
                        const pt_conf *v)
{
	struct upstream_conf *u = &cfg->upstreams[cfg->nupstreams];
	const pt_conf *servers = conf_get(v, "servers");
	char ctx[96];

	if (!v || v->type != PT_CONF_TABLE) {
		conf_errf(e, cfg->file, line, "upstream \"%s\" needs a table: upstream \"%s\" { servers = "
		          "{ \"127.0.0.1:9001\" } }", name, name);
		return;
	}
	snprintf(ctx, sizeof(ctx), "upstream \"%.64s\": ", name);
	conf_check(e, v, up_spec, ctx);
	if (config_upstream(cfg, name)) {
		conf_errf(e, cfg->file, line, "upstream \"%s\" is declared twice", name);
		return;
	}
	u->name = arena_strdup(&cfg->arena, name);
	u->line = line;
	u->nservers = (unsigned)conf_len(servers);
	u->servers = arena_calloc(&cfg->arena, (u->nservers + 1) * sizeof(char *));
	if (!u->nservers)
		conf_errf(e, cfg->file, line, "upstream \"%s\": 'servers' must list at least one "
		          "\"host:port\"", name);
	for (unsigned i = 0; u->servers && i < u->nservers; i++) {
		pt_str_t s;
		const char *colon;

		if (conf_str(conf_at(servers, i), NULL, &s) != 0 || !(colon = strrchr(s.ptr, ':')) ||
		    colon == s.ptr || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535 ||
		    strpbrk(s.ptr, "/ ")) {
			conf_errf(e, cfg->file, line, "upstream \"%s\": servers are \"host:port\" strings",
			          name);
			return;
		}
		u->servers[i] = s.ptr;
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(u->servers[j], s.ptr))
				conf_errf(e, cfg->file, line, "upstream \"%s\": server %s is listed twice",
				          name, s.ptr);
	}
	read_balance(e, cfg, u, str_or(v, "balance", "round_robin"));
	u->connect_timeout = num_or(v, "timeout.connect", 1);
	u->read_timeout = num_or(v, "timeout.read", 30);
	u->send_timeout = num_or(v, "timeout.send", 30);
	u->retries = (unsigned)num_or(v, "retries", 1);
	u->keepalive = (unsigned)num_or(v, "keepalive", 256);
	u->retry_budget = num_or(v, "retry_budget", 0.2);
	u->retry_budget_min = num_or(v, "retry_budget_min", 3);
	u->max_fails = (unsigned)num_or(v, "max_fails", 3);
	u->fail_timeout = num_or(v, "fail_timeout", 10);
	if (conf_type(conf_get(v, "health")) == PT_CONF_TABLE)
		read_health(e, cfg, u, conf_get(v, "health"));
	read_protocol(e, cfg, u, v);
	cfg->nupstreams++;
}

const struct upstream_conf *config_upstream(const struct config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->nupstreams; i++)
		if (!strcmp(cfg->upstreams[i].name, name))
			return &cfg->upstreams[i];
	return NULL;
}
