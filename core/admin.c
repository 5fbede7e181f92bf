/*
 * admin.c - see admin.h. A deliberately small HTTP/1.1 server: the head is
 * read whole (at most ADMIN_MAX_HEAD bytes, within ADMIN_HEAD_TIMEOUT),
 * a request body is never read, and every answer closes the connection.
 * The admin port serves an operator and a scraper, not the public: what it
 * gives up (keep-alive, pipelining, bodies) costs nothing there, and what
 * it keeps small cannot be used against the main thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "admin.h"
#include "admin_dash.h"
#include "admin_json.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"
#include "upstream/up_metrics.h"

#define ADMIN_MAX_HEAD 8192           /* request line and headers */
#define ADMIN_MAX_CONNS 64            /* more are closed at accept */
#define ADMIN_HEAD_TIMEOUT 5          /* seconds to send the head */
#define ADMIN_WRITE_TIMEOUT 10        /* seconds to take the answer */

struct aconn {
	struct bufferevent *bev;
	struct aconn *prev, *next;
	struct event *deadline;           /* the head, then the answer, in bounded time */
	int answered;
	int shut;                         /* our side is half-closed */
};

static struct evconnlistener *lst;
static struct aconn *conns;
static unsigned nconns;
static unsigned char token_hash[SHA256_DIGEST_LENGTH];
static int have_token;
static admin_reload_fn do_reload;
static admin_gen_fn cur_gen;

/* Plugins' endpoints (pt_api.admin_route_register). */
#define ADMIN_MAX_PLUGIN_ROUTES 32
static struct proute {
	char prefix[64];
	size_t len;
	pt_admin_fn fn;
	void *ud;
	struct pt_plugin_ctx *owner;
} proutes[ADMIN_MAX_PLUGIN_ROUTES];
static unsigned nproutes;
static const char *const core_paths[] = { "/metrics", "/status", "/routes", "/plugins",
                                          "/upstreams", "/config", "/reload" };

int admin_route_register(struct pt_plugin_ctx *ctx, const char *prefix, pt_admin_fn fn,
                         void *ud)
{
	size_t n = prefix ? strlen(prefix) : 0;

	if (!fn || n < 2 || n >= sizeof(proutes[0].prefix) || prefix[0] != '/' ||
	    prefix[n - 1] == '/')
		return PT_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!((prefix[i] >= 'a' && prefix[i] <= 'z') || (prefix[i] >= '0' && prefix[i] <= '9') ||
		      prefix[i] == '_' || prefix[i] == '-' || prefix[i] == '/'))
			return PT_EINVAL;
	for (size_t i = 0; i < sizeof(core_paths) / sizeof(core_paths[0]); i++)
		if (!strncmp(prefix, core_paths[i], strlen(core_paths[i])) &&
		    (prefix[strlen(core_paths[i])] == '\0' || prefix[strlen(core_paths[i])] == '/'))
			return PT_EINVAL;
	for (unsigned i = 0; i < nproutes; i++)
		if (!strcmp(proutes[i].prefix, prefix))
			return PT_EEXIST;
	if (nproutes == ADMIN_MAX_PLUGIN_ROUTES)
		return PT_ELIMIT;
	memcpy(proutes[nproutes].prefix, prefix, n + 1);
	proutes[nproutes].len = n;
	proutes[nproutes].fn = fn;
	proutes[nproutes].ud = ud;
	proutes[nproutes].owner = ctx;
	nproutes++;
	return 0;
}

void admin_routes_free(void)
{
	nproutes = 0;
}

/* A plugin's endpoint for PATH, or NULL. */
static const struct proute *proute_of(const char *path)
{
	for (unsigned i = 0; i < nproutes; i++)
		if (!strncmp(path, proutes[i].prefix, proutes[i].len) &&
		    (path[proutes[i].len] == '\0' || path[proutes[i].len] == '/'))
			return &proutes[i];
	return NULL;
}

static void answer(struct aconn *c, int status, const char *type, const char *body,
                   size_t len, const char *extra);

static void serve_plugin(struct aconn *c, const struct proute *r, const char *method,
                         const char *path, const char *query)
{
	struct pt_admin_req req = { .size = sizeof(req) };
	char *body = NULL;
	size_t len = 0;
	int status;

	req.method = (pt_str_t){ method, strlen(method) };
	req.path = (pt_str_t){ path, strlen(path) };
	req.query = (pt_str_t){ query ? query : "", query ? strlen(query) : 0 };
	status = r->fn(&req, &body, &len, r->ud);
	if (status < 200 || status > 599) {
		log_error("admin", "%s's endpoint %s answered status %d: 500 instead",
		          r->owner ? r->owner->name : "a plugin", r->prefix, status);
		free(body);
		answer(c, 500, "application/json", "{\"error\":\"internal error\"}", 26, "");
		return;
	}
	answer(c, status, "application/json", body ? body : "", body ? len : 0, "");
	free(body);
}

/* Takes C off the list of connections and stops its deadline. */
static void conn_unlink(struct aconn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nconns--;
	if (c->deadline)
		event_free(c->deadline);
}

static void conn_free(struct aconn *c)
{
	conn_unlink(c);
	bufferevent_free(c->bev);
	free(c);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 422: return "Unprocessable Entity";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* Queues the whole answer; the connection closes once it is written.
 * BODY is borrowed; EXTRA holds whole header lines ("Name: v\r\n") or "". */
static void answer(struct aconn *c, int status, const char *type, const char *body,
                   size_t len, const char *extra)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct timeval wt = { ADMIN_WRITE_TIMEOUT, 0 };

	c->answered = 1;
	event_add(c->deadline, &wt);   /* re-armed: the answer and the lingering close */
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                    "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n", status,
	                    reason(status), type, len, extra);
	evbuffer_add(out, body, len);
}

static void answer_text(struct aconn *c, int status, const char *msg, const char *extra)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "%s\n", msg);

	answer(c, status, "text/plain; charset=utf-8", body, (size_t)n, extra);
}

static void answer_json(struct aconn *c, int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (!s) {
		answer_text(c, 500, "out of memory", "");
		return;
	}
	answer(c, status, "application/json", s, strlen(s), "");
	free(s);
}

#define DASH_COOKIE "portico_dashboard"
/* The dashboard's cookie value: a hash of the token's hash (the browser
 * never keeps the token itself), 64 hex digits; made by set_token. */
static char dash_cookie[2 * SHA256_DIGEST_LENGTH + 1];

/* Whether the Cookie header V carries the dashboard's cookie. */
static int cookie_ok(const char *v)
{
	size_t n = strlen(DASH_COOKIE);

	if (!have_token || !v)
		return 0;
	for (const char *p = v; p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, DASH_COOKIE, n) && p[n] == '=') {
			unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
			size_t len = strcspn(p + n + 1, ";");

			/* hashed both sides: the time does not depend on the bytes sent */
			SHA256((const unsigned char *)p + n + 1, len, a);
			SHA256((const unsigned char *)dash_cookie, strlen(dash_cookie), b);
			return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
		}
	}
	return 0;
}

/* Whether the Authorization value V carries the token. Both sides are
 * hashed first, so the comparison takes the same time whatever the length
 * or content sent, and CRYPTO_memcmp does not stop at the first mismatch. */
static int authorized(const char *v)
{
	unsigned char h[SHA256_DIGEST_LENGTH];

	if (!have_token)
		return 1;   /* loopback without a token: the config allowed it */
	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
		return 0;
	v += 7;
	while (*v == ' ')
		v++;
	SHA256((const unsigned char *)v, strlen(v), h);
	return CRYPTO_memcmp(h, token_hash, sizeof(h)) == 0;
}

/* The whole /metrics text, malloc'd (the dashboard's frames too). */
static char *render_all(size_t *lenp)
{
	char *buf = NULL;
	size_t len = metrics_render(&buf), ulen = 0;
	char *ubuf = NULL;
	FILE *f;

	/* the upstreams' families need the running generation (their servers) */
	if (buf && (f = open_memstream(&ubuf, &ulen))) {
		up_metrics_render(f, cur_gen());
		fclose(f);
	}
	if (buf && ubuf && ulen) {
		char *all = realloc(buf, len + ulen);

		if (all) {
			memcpy(all + len, ubuf, ulen);
			buf = all;
			len += ulen;
		}
	}
	free(ubuf);
	*lenp = len;
	return buf;
}

static void serve_metrics(struct aconn *c)
{
	size_t len;
	char *buf = render_all(&len);

	if (!buf) {
		answer_text(c, 500, "out of memory", "");
		return;
	}
	answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len, "");
	free(buf);
}

/* Lets go of C but not of its connection (a dashboard WebSocket took it). */
static void conn_release(struct aconn *c)
{
	conn_unlink(c);
	free(c);
}

/* What a request's head says about a WebSocket opening handshake. */
struct upgrade {
	int websocket, conn_upgrade, version13;
	const char *key;
	const char *origin, *host;   /* a browser's handshake says where it comes from */
	int by_cookie;               /* authorized by the dashboard's cookie only */
	int by_query;                /* authorized by ?token= only */
};

/* The handshake's Origin, when sent, names the host it was sent to. */
static int same_origin(const struct upgrade *u)
{
	const char *o = u->origin;

	if (!o)
		return 1;   /* not a browser: no cross-site risk */
	if (!strncmp(o, "http://", 7))
		o += 7;
	else if (!strncmp(o, "https://", 8))
		o += 8;
	else
		return 0;
	return u->host && !strcmp(o, u->host);
}

static void serve_dashboard(struct aconn *c, const char *path, const struct upgrade *u)
{
	char accept[29];
	size_t len;
	char *page;

	if (!strcmp(path, "/dashboard/ws")) {
		if (u->by_cookie && !same_origin(u)) {
			/* the cookie goes with any page of this site (another port of
			 * this host is the same site): only the dashboard's own page
			 * may open the socket with it */
			answer_text(c, 403, "the dashboard's cookie is good from its own page only", "");
			return;
		}
		if (!u->websocket || !u->conn_upgrade || !u->version13 || !u->key ||
		    dash_accept_key(u->key, accept) != 0) {
			answer_text(c, 400, "a WebSocket handshake (RFC 6455) is expected here",
			            "Sec-WebSocket-Version: 13\r\n");
			return;
		}
		if (dash_adopt(c->bev, accept, render_all) != 0) {
			answer_text(c, 503, "too many dashboards open", "");
			return;
		}
		conn_release(c);
		return;
	}
	if (!(page = dash_page(&len))) {
		answer_text(c, 404, "the dashboard's files are not installed "
		            "(dashboard/index.html)", "");
		return;
	}
	{
		char extra[512];

		/* opened with ?token=: a cookie lets the page's WebSocket in
		 * without the token in another URL (the page drops it from the
		 * address bar) */
		snprintf(extra, sizeof(extra),
		         "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; "
		         "style-src 'unsafe-inline'; connect-src 'self' ws: wss:\r\n"
		         "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
		         "Cache-Control: no-store\r\n%s%s%s",
		         u->by_query && have_token ? "Set-Cookie: " DASH_COOKIE "=" : "",
		         u->by_query && have_token ? dash_cookie : "",
		         u->by_query && have_token ? "; Path=/dashboard; HttpOnly; "
		                                     "SameSite=Strict; Max-Age=43200\r\n" : "");
		answer(c, 200, "text/html; charset=utf-8", page, len, extra);
	}
	free(page);
}

static void serve_reload(struct aconn *c)
{
	static char err[8192];

	if (do_reload(err, sizeof(err)) != 0) {
		answer_json(c, 422, json_pack("{s:b,s:s}", "ok", 0, "error", err));
		return;
	}
	answer_json(c, 200, json_pack("{s:b,s:I}", "ok", 1, "generation",
	                              (json_int_t)admin_gen_id(cur_gen())));
}

/* METHOD and PATH (without the query) of an authorized request. */
static void route(struct aconn *c, const char *method, const char *path, const char *query,
                  const struct upgrade *u)
{
	const struct proute *pr = proute_of(path);
	static const struct {
		const char *path, *method;
	} eps[] = {
		{ "/metrics", "GET" }, { "/status", "GET" }, { "/routes", "GET" },
		{ "/plugins", "GET" }, { "/upstreams", "GET" }, { "/config", "GET" },
		{ "/reload", "POST" },
	};
	size_t i;
	int get;

	for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++)
		if (!strcmp(path, eps[i].path))
			break;
	if (!strcmp(path, "/dashboard") || !strcmp(path, "/dashboard/ws")) {
		if (strcmp(method, "GET") != 0)
			answer_text(c, 405, "method not allowed", "Allow: GET\r\n");
		else
			serve_dashboard(c, path, u);
		return;
	}
	if (i == sizeof(eps) / sizeof(eps[0]) && pr) {
		serve_plugin(c, pr, method, path, query);
		return;
	}
	if (i == sizeof(eps) / sizeof(eps[0])) {
		answer_text(c, 404, "not found", "");
		return;
	}
	get = !strcmp(eps[i].method, "GET");
	if (strcmp(method, eps[i].method) != 0) {
		answer_text(c, 405, "method not allowed", get ? "Allow: GET\r\n" : "Allow: POST\r\n");
		return;
	}
	switch (i) {
	case 0: serve_metrics(c); break;
	case 1: answer_json(c, 200, admin_json_status(cur_gen())); break;
	case 2: answer_json(c, 200, admin_json_routes(cur_gen())); break;
	case 3: answer_json(c, 200, admin_json_plugins()); break;
	case 4: answer_json(c, 200, admin_json_upstreams(cur_gen())); break;
	case 5: answer_json(c, 200, admin_json_config(cur_gen())); break;
	default: serve_reload(c); break;
	}
}

/* Whether the query Q has token=<the admin token> (percent-decoded). */
static int query_token_ok(const char *q)
{
	char v[512];
	size_t o = 0;
	char auth[sizeof(v) + 8];

	if (!have_token)
		return 1;
	for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, "token=", 6) != 0)
			continue;
		for (p += 6; *p && *p != '&' && o + 1 < sizeof(v); p++) {
			unsigned h, l;

			if (*p == '%' && p[1] && p[2] && sscanf(p + 1, "%1x%1x", &h, &l) == 2) {
				v[o++] = (char)(h << 4 | l);
				p += 2;
			} else {
				v[o++] = *p;
			}
		}
		v[o] = '\0';
		snprintf(auth, sizeof(auth), "Bearer %s", v);
		return authorized(auth);
	}
	return 0;
}

/* S without its leading and trailing blanks (in place). */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	for (char *e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t');)
		*--e = '\0';
	return s;
}

/* HEAD is the request head, NUL-terminated, without the blank line. */
static void handle(struct aconn *c, char *head)
{
	char *save = NULL, *line = strtok_r(head, "\r\n", &save);
	char *method, *target, *version, *auth = NULL, *cookie = NULL, *q;
	struct upgrade u = { 0 };

	char *rl = NULL;

	method = line ? strtok_r(line, " ", &rl) : NULL;
	target = method ? strtok_r(NULL, " ", &rl) : NULL;
	version = target ? strtok_r(NULL, " ", &rl) : NULL;
	if (!version || strtok_r(NULL, " ", &rl) || strncmp(version, "HTTP/1.", 7) != 0 ||
	    target[0] != '/') {
		answer_text(c, 400, "bad request line", "");
		return;
	}
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		char *colon = strchr(line, ':');

		if (!colon || colon == line) {
			answer_text(c, 400, "bad header line", "");
			return;
		}
		if (colon - line == 7 && !strncasecmp(line, "upgrade", 7))
			u.websocket = !!strcasestr(colon + 1, "websocket");
		else if (colon - line == 10 && !strncasecmp(line, "connection", 10))
			u.conn_upgrade = !!strcasestr(colon + 1, "upgrade");
		else if (colon - line == 21 && !strncasecmp(line, "sec-websocket-version", 21))
			u.version13 = atoi(colon + 1) == 13;
		else if (colon - line == 17 && !strncasecmp(line, "sec-websocket-key", 17)) {
			for (u.key = colon + 1; *u.key == ' ' || *u.key == '\t'; u.key++)
				;
			for (char *e = (char *)u.key + strlen(u.key); e > u.key && e[-1] == ' ';)
				*--e = '\0';
		}
		else if (colon - line == 6 && !strncasecmp(line, "cookie", 6))
			cookie = colon + 1;
		else if (colon - line == 6 && !strncasecmp(line, "origin", 6))
			u.origin = trim(colon + 1);
		else if (colon - line == 4 && !strncasecmp(line, "host", 4))
			u.host = trim(colon + 1);
		if (colon - line == 13 && !strncasecmp(line, "authorization", 13)) {
			if (auth) {
				answer_text(c, 400, "more than one Authorization header", "");
				return;
			}
			for (auth = colon + 1; *auth == ' ' || *auth == '\t'; auth++)
				;
			for (char *e = auth + strlen(auth); e > auth && (e[-1] == ' ' || e[-1] == '\t');)
				*--e = '\0';
		}
	}
	if ((q = strchr(target, '?')))
		*q++ = '\0';
	/* a browser's page and WebSocket send no Authorization header: the
	 * dashboard also takes the token as ?token=, and then the cookie the
	 * page was served with */
	if (!authorized(auth) && !strncmp(target, "/dashboard", 10)) {
		if (q && query_token_ok(q))
			u.by_query = 1;
		else if (cookie_ok(cookie))
			u.by_cookie = 1;
	}
	if (!authorized(auth) && !u.by_query && !u.by_cookie) {
		answer_text(c, 401, "unauthorized: send Authorization: Bearer <admin.token>",
		            "WWW-Authenticate: Bearer realm=\"portico-admin\"\r\n");
		return;
	}
	route(c, method, target, q, &u);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct aconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char head[ADMIN_MAX_HEAD + 1];
	size_t n;

	if (c->answered) {
		/* lingering: what follows is dropped, so that closing with unread
		 * bytes does not reset the connection before the answer arrives */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > ADMIN_MAX_HEAD) {
			answer_text(c, 431, "request head too large", "");
			evbuffer_drain(in, evbuffer_get_length(in));   /* and read on: lingering */
		}
		return;
	}
	n = (size_t)end.pos;
	if (n > ADMIN_MAX_HEAD) {
		answer_text(c, 431, "request head too large", "");
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	evbuffer_remove(in, head, n);
	evbuffer_drain(in, 4);   /* the blank line: a WebSocket's frames follow it */
	head[n] = '\0';
	if (memchr(head, '\0', n)) {
		answer_text(c, 400, "NUL in the request head", "");
		return;
	}
	handle(c, head);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct aconn *c = arg;

	/* answered and written: half-close, then wait for the client's EOF
	 * (bounded by the read timeout) */
	if (c->answered && !c->shut) {
		c->shut = 1;
		shutdown(bufferevent_getfd(bev), SHUT_WR);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_free(arg);   /* EOF, error or a timeout (slow head, slow reader) */
}

/* The head did not arrive in ADMIN_HEAD_TIMEOUT (a slow or idle client,
 * however it trickles), or the answer was not taken in ADMIN_WRITE_TIMEOUT. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	struct event_base *base = evconnlistener_get_base(l);
	struct timeval rt = { ADMIN_HEAD_TIMEOUT, 0 }, wt = { ADMIN_WRITE_TIMEOUT, 0 };
	struct aconn *c;

	(void)sa;
	(void)salen;
	(void)arg;
	if (nconns >= ADMIN_MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
		evutil_closesocket(fd);
		return;
	}
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(base, on_deadline, c);
	if (!c->bev || !c->deadline || evtimer_add(c->deadline, &rt) != 0) {
		if (c->deadline)
			event_free(c->deadline);
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		free(c);
		return;
	}
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	nconns++;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_set_timeouts(c->bev, &rt, &wt);
	bufferevent_setwatermark(c->bev, EV_READ, 0, ADMIN_MAX_HEAD + 4);
	bufferevent_enable(c->bev, EV_READ);
}

static void set_token(const char *t)
{
	have_token = t != NULL;
	if (t) {
		unsigned char h[SHA256_DIGEST_LENGTH], in[25 + SHA256_DIGEST_LENGTH];

		SHA256((const unsigned char *)t, strlen(t), token_hash);
		memcpy(in, "portico-dashboard-cookie:", 25);
		memcpy(in + 25, token_hash, sizeof(token_hash));
		SHA256(in, sizeof(in), h);
		for (size_t i = 0; i < sizeof(h); i++)
			snprintf(dash_cookie + 2 * i, 3, "%02x", h[i]);
	} else {
		dash_cookie[0] = '\0';
	}
}

int admin_start(struct event_base *base, const struct admin_conf *a, admin_reload_fn reload,
                admin_gen_fn gen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char spec[300];

	do_reload = reload;
	cur_gen = gen;
	admin_json_started();
	if (!a->port)
		return 0;
	snprintf(spec, sizeof(spec), strchr(a->address, ':') ? "[%s]:%d" : "%s:%d",
	         strcmp(a->address, "localhost") ? a->address : "127.0.0.1", a->port);
	if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) != 0) {
		snprintf(err, errlen, "admin: %s is not an IP address", a->address);
		return -1;
	}
	lst = evconnlistener_new_bind(base, on_accept, NULL,
	                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	                              64, (struct sockaddr *)&ss, sslen);
	if (!lst) {
		snprintf(err, errlen, "admin: cannot listen on %s: %s", spec, strerror(errno));
		return -1;
	}
	set_token(a->token);
	log_info("admin", "listening on %s%s", spec, a->token ? "" : " (loopback, no token)");
	return 0;
}

void admin_update(const struct admin_conf *a)
{
	if (!lst)
		return;
	set_token(a->token);
}

void admin_stop(void)
{
	dash_stop();
	while (conns)
		conn_free(conns);
	if (lst)
		evconnlistener_free(lst);
	lst = NULL;
}
