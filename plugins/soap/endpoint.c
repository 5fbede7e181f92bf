/*
 * endpoint.c - soap.endpoint(path, opts): a WSDL-described SOAP service
 * implemented by Lua handlers.
 *
 *   soap.endpoint("/soap/calc", {
 *     wsdl = "conf/calc.wsdl",
 *     handlers = { Add = function(req) return { AddResult = req.intA + req.intB } end },
 *     port = "CalcSoap",            -- default: the first SOAP 1.1 port
 *     max_body = 1048576,           -- request bytes (the route's body_limit too)
 *     url = "https://api.example/soap/calc",  -- soap:address in ?wsdl; default:
 *                                   -- from the request (X-Forwarded-Proto, Host)
 *     ["key-auth"] = true,          -- route filters pass through (POST and GET)
 *   })
 *
 * POST path takes SOAP 1.1 (text/xml, SOAPAction) and SOAP 1.2
 * (application/soap+xml; action=...): the chosen port serves its version,
 * and a port of the same service with the other version (if the WSDL has
 * one) serves the other. The request is parsed with the XML hardening
 * (xml.c) under max_body, matched to an operation (sc_match_op), decoded
 * (sc_decode SC_INPUT) and handed to the handler, which may wait (sleep,
 * http.request, soap calls). Its table is encoded (sc_encode SC_OUTPUT) in
 * an envelope of the request's version. Faults go out with the status the
 * SOAP HTTP bindings give: SOAP 1.1, 500 for every fault; SOAP 1.2, 400
 * for Sender faults and 500 for Receiver faults. A handler's error becomes a
 * Server/Receiver fault (endpoint_fault.c) whose reason is the message without its
 * "file:line:" (the log has it whole); soap.fault{...} raises a fault of
 * the handler's choosing. GET path?wsdl serves the WSDL with every
 * soap:address location set to the URL the client used.
 *
 * The loaded model is shared by every Lua state (workers, reloads) through a
 * process-wide cache keyed by the absolute path and modification time,
 * released when the last state holding it closes.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <lua.h>
#include <lauxlib.h>

#include "soap.h"

#define EP_MT "portico.soap.endpoint"
#define EP_DEFAULT_MAX_BODY ((size_t)1 << 20)
#define EP_MAX_MAX_BODY ((size_t)64 << 20)

/* ---- the model cache ---------------------------------------------------- */

struct ep_model {
	char *path;                           /* absolute */
	struct timespec mtime;
	off_t size;
	struct wsdl *w;
	int refs;                             /* under cache_mu */
	int warned;                           /* "no handler" logged once per model */
	struct ep_model *next;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ep_model *cache;

/* The model of PATH with one more reference, loading it when the cache has
 * none for this path and modification time. NULL with ERR. */
static struct ep_model *model_get(const char *path, char *err, size_t errlen)
{
	char abs[PATH_MAX];
	struct stat st;
	struct ep_model *m;
	struct wsdl *w;

	if (!realpath(path, abs) || stat(abs, &st) != 0) {
		snprintf(err, errlen, "wsdl \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	pthread_mutex_lock(&cache_mu);
	for (m = cache; m; m = m->next)
		if (!strcmp(m->path, abs) && m->mtime.tv_sec == st.st_mtim.tv_sec &&
		    m->mtime.tv_nsec == st.st_mtim.tv_nsec && m->size == st.st_size) {
			m->refs++;
			pthread_mutex_unlock(&cache_mu);
			return m;
		}
	/* loaded under the lock: the other workers want the same file */
	w = wsdl_load(abs, err, errlen);
	m = w ? calloc(1, sizeof(*m)) : NULL;
	if (m && !(m->path = strdup(abs))) {
		free(m);
		m = NULL;
	}
	if (!m) {
		if (w) {
			wsdl_free(w);
			snprintf(err, errlen, "out of memory");
		}
		pthread_mutex_unlock(&cache_mu);
		return NULL;
	}
	m->mtime = st.st_mtim;
	m->size = st.st_size;
	m->w = w;
	m->refs = 1;
	m->next = cache;
	cache = m;
	pthread_mutex_unlock(&cache_mu);
	return m;
}

static void model_put(struct ep_model *m)
{
	struct ep_model **pp;

	pthread_mutex_lock(&cache_mu);
	if (--m->refs > 0) {
		pthread_mutex_unlock(&cache_mu);
		return;
	}
	for (pp = &cache; *pp && *pp != m; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = m->next;
	pthread_mutex_unlock(&cache_mu);
	wsdl_free(m->w);
	free(m->path);
	free(m);
}

/* What a state holds: the model and the ports serving each version. */
struct ep {
	struct ep_model *m;
	const struct wsdl_port *p11, *p12;
	const struct wsdl_port *main;         /* the chosen port (handlers name its ops) */
	size_t max_body;
};

static int ep_gc(lua_State *L)
{
	struct ep *e = luaL_testudata(L, 1, EP_MT);

	if (e && e->m) {
		model_put(e->m);
		e->m = NULL;
	}
	return 0;
}

static struct ep *ep_check(lua_State *L, int idx)
{
	struct ep *e = luaL_checkudata(L, idx, EP_MT);

	if (!e->m)
		luaL_error(L, "soap.endpoint: the model is gone");
	return e;
}

/* ---- requests ------------------------------------------------------------- */

/* Content-Type -> 11 or 12 (0: neither), the 1.2 action parameter into ACT. */
static int media_version(const char *ct, char *act, size_t actlen)
{
	const char *p;

	act[0] = '\0';
	if (!ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (!strncasecmp(ct, "text/xml", 8) && (!ct[8] || ct[8] == ';' || ct[8] == ' '))
		return 11;
	if (strncasecmp(ct, "application/soap+xml", 20) ||
	    (ct[20] && ct[20] != ';' && ct[20] != ' '))
		return 0;
	for (p = ct + 20; (p = strchr(p, ';')); ) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!strncasecmp(p, "action=", 7)) {
			size_t n = 0;

			p += 7;
			if (*p == '"')
				for (p++; p[n] && p[n] != '"'; n++)
					;
			else
				for (; p[n] && p[n] != ';' && p[n] != ' '; n++)
					;
			if (n >= actlen)
				n = actlen - 1;
			memcpy(act, p, n);
			act[n] = '\0';
			break;
		}
	}
	return 12;
}

/* Pushes the refusal: nil, version, code, reason, status, hardening. */
static int refuse(lua_State *L, int version, const char *code, const char *reason, int status,
                  int hardening)
{
	lua_pushnil(L);
	lua_pushinteger(L, version);
	lua_pushstring(L, code);
	lua_pushstring(L, reason);
	lua_pushinteger(L, status);
	lua_pushboolean(L, hardening);
	return 6;
}

struct decode_args {
	xmlNodePtr body;
	const struct wsdl *w;
	const struct wsdl_op *op;
	char *err;
	size_t errlen;
	int rc;
};

/* sc_decode under lua_pcall: (args) -> table or nil. [-1, +1, m] */
static int decode_protected(lua_State *L)
{
	struct decode_args *a = lua_touserdata(L, 1);

	a->rc = sc_decode(L, a->body, a->w, a->op, SC_INPUT, a->err, a->errlen);
	if (a->rc < 0)
		lua_pushnil(L);
	return 1;
}

/*
 * parse(ep, body, content_type, soapaction) -> op_name, input, version;
 * or nil, version, code, reason, status (0: the fault's), hardening (the
 * XML hardening refused it: logged at warn). [-4, +3|6, m]
 */
static int l_parse(lua_State *L)
{
	struct ep *e = ep_check(L, 1);
	size_t len;
	const char *body = luaL_optlstring(L, 2, "", &len);
	const char *ctype = luaL_optstring(L, 3, NULL);
	const char *sa = luaL_optstring(L, 4, NULL);
	struct sx_limits lim = sx_default_limits;
	char action[512], err[512], msg[640];
	const struct wsdl_port *port;
	const struct wsdl_op *op;
	xmlNodePtr header, sbody;
	xmlDocPtr doc;
	int version, ev, rc;

	if (!(version = media_version(ctype, action, sizeof(action)))) {
		snprintf(msg, sizeof(msg), "Content-Type must be text/xml (SOAP 1.1) or "
		         "application/soap+xml (SOAP 1.2), not %.100s", ctype ? ctype : "none");
		return refuse(L, 11, "Client", msg, 415, 0);
	}
	if (version == 11 && sa) {
		/* SOAPAction: "urn:x" (quoted by the spec; bare accepted) */
		size_t n = strlen(sa);

		if (n >= 2 && sa[0] == '"' && sa[n - 1] == '"') {
			sa++;
			n -= 2;
		}
		if (n >= sizeof(action))
			n = sizeof(action) - 1;
		memcpy(action, sa, n);
		action[n] = '\0';
	}
	if (len == 0)
		return refuse(L, version, "Client", "the request has no body (a SOAP envelope)", 0, 0);
	lim.max_bytes = e->max_body;
	if (!(doc = sx_parse(body, len, &lim, NULL, err, sizeof(err)))) {
		snprintf(msg, sizeof(msg), "the request is not acceptable XML: %s", err);
		return refuse(L, version, "Client", msg, 0, 1);
	}
	if (soap_env_split(doc, &ev, &header, &sbody, err, sizeof(err)) != 0) {
		xmlFreeDoc(doc);
		return refuse(L, version, "Client", err, 0, 0);
	}
	/* no header block is understood: one that must be is a fault (SOAP 1.1
	 * 4.2.3, 1.2 part 1 5.2.3) */
	for (xmlNodePtr h = header ? sx_first_el(header) : NULL; h; h = sx_next_el(h)) {
		const char *mu = sx_attr(h, soap_env_ns(ev), "mustUnderstand");

		if (mu && (!strcmp(mu, "1") || !strcmp(mu, "true"))) {
			snprintf(msg, sizeof(msg), "header {%.200s}%.100s is not understood",
			         sx_ns(h) ? sx_ns(h) : "", (const char *)h->name);
			xmlFreeDoc(doc);
			return refuse(L, version, "MustUnderstand", msg, 0, 0);
		}
	}
	if (ev != version) {
		xmlFreeDoc(doc);
		snprintf(msg, sizeof(msg), "a SOAP %s envelope sent as %s", ev == 12 ? "1.2" : "1.1",
		         version == 12 ? "application/soap+xml (SOAP 1.2)" : "text/xml (SOAP 1.1)");
		return refuse(L, version, "VersionMismatch", msg, 0, 0);
	}
	if (!(port = version == 12 ? e->p12 : e->p11)) {
		xmlFreeDoc(doc);
		snprintf(msg, sizeof(msg), "this endpoint has no SOAP %s port",
		         version == 12 ? "1.2" : "1.1");
		return refuse(L, version, "Client", msg, 0, 0);
	}
	if (soap_fault_el(sbody, version)) {
		xmlFreeDoc(doc);
		return refuse(L, version, "Client", "a request cannot be a Fault", 0, 0);
	}
	if (!(op = sc_match_op(port, sbody, action))) {
		xmlNodePtr first = sx_first_el(sbody);

		snprintf(msg, sizeof(msg), "no operation of port %s takes {%.200s}%.100s", port->name,
		         first && sx_ns(first) ? sx_ns(first) : "",
		         first ? (const char *)first->name : "(an empty Body)");
		xmlFreeDoc(doc);
		return refuse(L, version, "Client", msg, 0, 0);
	}
	lua_pushstring(L, op->name);
	{
		struct decode_args a = { sbody, e->m->w, op, err, sizeof(err), -1 };

		lua_pushcfunction(L, decode_protected);
		lua_pushlightuserdata(L, &a);
		rc = lua_pcall(L, 1, 1, 0);
		xmlFreeDoc(doc);
		if (rc != LUA_OK)
			return lua_error(L);   /* out of memory: the document is freed */
		rc = a.rc;
	}
	if (rc < 0) {
		lua_pop(L, 2);
		snprintf(msg, sizeof(msg), "%s: %s", op->name, err);
		return refuse(L, version, "Client", msg, 0, 0);
	}
	lua_pushinteger(L, version);
	return 3;
}

/* answer(ep, op_name, version, result) -> xml, status, content_type; or
 * nil, message when RESULT does not fit the output schema. [-4, +2|3, m] */
static int l_answer(lua_State *L)
{
	struct ep *e = ep_check(L, 1);
	const char *name = luaL_checkstring(L, 2);
	int version = (int)luaL_checkinteger(L, 3) == 12 ? 12 : 11;
	const struct wsdl_port *port = version == 12 ? e->p12 : e->p11;
	const struct wsdl_op *op = port ? wsdl_op(port, name) : NULL;
	struct sbuf b = { 0 };
	char err[512], ct[256];

	if (!op)
		return luaL_error(L, "soap.endpoint: no operation %s", name);
	if (!op->out) {
		/* one-way: nothing to answer */
		lua_pushliteral(L, "");
		lua_pushinteger(L, 202);
		lua_pushliteral(L, "text/plain");
		return 3;
	}
	if (lua_isnoneornil(L, 4)) {
		lua_settop(L, 3);
		lua_newtable(L);
	} else if (!lua_istable(L, 4)) {
		lua_pushnil(L);
		lua_pushfstring(L, "the handler returned a %s, not a table", luaL_typename(L, 4));
		return 2;
	}
	soap_env_open(&b, version, NULL);
	if (sc_encode(L, 4, e->m->w, op, SC_OUTPUT, &b, err, sizeof(err)) != 0) {
		sbuf_free(&b);
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	soap_env_close(&b, version);
	if (b.oom) {
		sbuf_free(&b);
		return luaL_error(L, "soap.endpoint: out of memory");
	}
	lua_pushlstring(L, b.p, b.len);
	sbuf_free(&b);
	lua_pushinteger(L, 200);
	soap_content_type(version, NULL, ct, sizeof(ct));
	lua_pushstring(L, ct);
	return 3;
}

/* ---- ?wsdl ---------------------------------------------------------------- */

/* wsdl(ep, url) -> the WSDL text with each soap:address (and soap12:address)
 * location set to URL. [-2, +1, m] */
static int l_wsdl(lua_State *L)
{
	struct ep *e = ep_check(L, 1);
	size_t ulen;
	const char *url = luaL_checklstring(L, 2, &ulen);
	const char *t = e->m->w->text, *end = t + e->m->w->text_len, *p = t;
	struct sbuf b = { 0 };

	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p)), *name, *gt, *loc;
		size_t nlen;

		if (!lt)
			break;
		name = lt + 1;
		for (nlen = 0; name + nlen < end && name[nlen] != ' ' && name[nlen] != '\t' &&
		     name[nlen] != '\n' && name[nlen] != '\r' && name[nlen] != '>' &&
		     name[nlen] != '/'; nlen++)
			;
		gt = memchr(name, '>', (size_t)(end - name));
		if (!gt)
			break;
		loc = NULL;
		if ((nlen == 7 && !memcmp(name, "address", 7)) ||
		    (nlen > 8 && !memcmp(name + nlen - 8, ":address", 8))) {
			for (const char *q = name + nlen; q + 10 < gt; q++)
				if (!memcmp(q, "location", 8) && (q[-1] == ' ' || q[-1] == '\t' ||
				    q[-1] == '\n' || q[-1] == '\r')) {
					loc = q;
					break;
				}
		}
		if (!loc) {
			sbuf_put(&b, p, (size_t)(gt + 1 - p));
			p = gt + 1;
			continue;
		}
		{
			const char *q = loc + 8, *vend;
			char quote;

			while (q < gt && (*q == ' ' || *q == '=' || *q == '\t'))
				q++;
			quote = *q;
			if ((quote != '"' && quote != '\'') ||
			    !(vend = memchr(q + 1, quote, (size_t)(gt - q - 1)))) {
				sbuf_put(&b, p, (size_t)(gt + 1 - p));
				p = gt + 1;
				continue;
			}
			sbuf_put(&b, p, (size_t)(q + 1 - p));
			sbuf_put_xml(&b, url, ulen);
			p = vend;   /* the closing quote and the rest of the tag */
		}
	}
	if (p < end)
		sbuf_put(&b, p, (size_t)(end - p));
	if (b.oom) {
		sbuf_free(&b);
		return luaL_error(L, "soap.endpoint: out of memory");
	}
	lua_pushlstring(L, b.p ? b.p : "", b.len);
	sbuf_free(&b);
	return 1;
}

/* ---- soap.endpoint -------------------------------------------------------- */

static const char *const route_keys[] = { "host", "jwt", "basic", "key-auth", "auth", "rate",
                                          "ip", "cors", NULL };

static int is_route_key(const char *k)
{
	for (int i = 0; route_keys[i]; i++)
		if (!strcmp(k, route_keys[i]))
			return 1;
	return 0;
}

/* The first port of SERVICE (NULL: any) with VERSION, or NULL. */
static const struct wsdl_port *port_of(const struct wsdl *w, const char *service, int version)
{
	for (unsigned i = 0; i < w->nports; i++)
		if (w->ports[i].soap_version == version &&
		    (!service || !strcmp(w->ports[i].service, service)))
			return &w->ports[i];
	return NULL;
}

/*
 * prepare(path, opts) -> ep, handlers, route_opts, missing (the operations
 * with no handler, to warn about; nil when warned already). Raises (a
 * message without position: the caller adds the script's). [-2, +4, e]
 */
static int l_prepare(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *wsdl, *pname = NULL, *url = NULL;
	lua_Integer max_body = (lua_Integer)EP_DEFAULT_MAX_BODY;
	struct ep *e;
	struct ep_model *m;
	char err[1024];
	int handlers, ropts, warn;

	if (path[0] != '/')
		return luaL_error(L, "the path (argument 1) must start with '/'");
	if (!lua_istable(L, 2))
		return luaL_error(L, "the options (argument 2) must be a table { wsdl = ..., "
		                  "handlers = { Op = function(req) ... end } }");
	lua_settop(L, 2);
	lua_newtable(L);
	ropts = 3;
	/* check every key: a typo must not drop a filter or a limit silently */
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";

		if (is_route_key(k)) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, ropts);
			continue;
		}
		if (!strcmp(k, "filters")) {
			if (!lua_istable(L, -1))
				return luaL_error(L, "filters must be a table { filter_name = options }");
			lua_pushnil(L);
			while (lua_next(L, -2)) {
				if (lua_type(L, -2) != LUA_TSTRING)
					return luaL_error(L, "filters: keys are filter names");
				lua_pushvalue(L, -2);
				lua_insert(L, -2);
				lua_rawset(L, ropts);
			}
		} else if (!strcmp(k, "wsdl") || !strcmp(k, "port") || !strcmp(k, "url")) {
			if (lua_type(L, -1) != LUA_TSTRING)
				return luaL_error(L, "%s must be a string", k);
		} else if (!strcmp(k, "max_body")) {
			if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 64 ||
			    lua_tointeger(L, -1) > (lua_Integer)EP_MAX_MAX_BODY)
				return luaL_error(L, "max_body must be a whole number of bytes from 64 to "
				                  "%d", (int)EP_MAX_MAX_BODY);
			max_body = lua_tointeger(L, -1);
		} else if (!strcmp(k, "handlers")) {
			if (!lua_istable(L, -1))
				return luaL_error(L, "handlers must be a table { Operation = function(req) "
				                  "... end }");
		} else {
			return luaL_error(L, "unknown option \"%s\" (options: wsdl, handlers, port, "
			                  "max_body, url, filters, and the route filters host, jwt, "
			                  "basic, key-auth, auth, rate, ip, cors)", k);
		}
		lua_pop(L, 1);
	}
	if (lua_getfield(L, 2, "wsdl") != LUA_TSTRING)
		return luaL_error(L, "wsdl (the service's WSDL file) is required");
	wsdl = lua_tostring(L, -1);
	if (lua_getfield(L, 2, "port") == LUA_TSTRING)
		pname = lua_tostring(L, -1);
	if (lua_getfield(L, 2, "url") == LUA_TSTRING)
		url = lua_tostring(L, -1);
	lua_pop(L, 1);
	if (lua_getfield(L, 2, "handlers") != LUA_TTABLE)
		return luaL_error(L, "handlers is required: { Operation = function(req) ... end }");
	handlers = lua_gettop(L);

	e = lua_newuserdatauv(L, sizeof(*e), 1);
	memset(e, 0, sizeof(*e));
	if (luaL_newmetatable(L, EP_MT)) {
		lua_pushcfunction(L, ep_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushliteral(L, "soap endpoint");
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
	if (!(m = model_get(wsdl, err, sizeof(err))))
		return luaL_error(L, "%s", err);
	e->m = m;
	e->max_body = (size_t)max_body;
	if (pname) {
		if (!(e->main = wsdl_port(m->w, pname))) {
			lua_pushfstring(L, "%s has no SOAP port \"%s\" (ports:", wsdl, pname);
			for (unsigned i = 0; i < m->w->nports; i++)
				lua_pushfstring(L, " %s", m->w->ports[i].name);
			lua_pushliteral(L, ")");
			lua_concat(L, 2 + (int)m->w->nports);
			return lua_error(L);
		}
	} else {
		e->main = wsdl_port(m->w, NULL);
	}
	if (!e->main)
		return luaL_error(L, "%s has no SOAP port", wsdl);
	if (e->main->soap_version == 12) {
		e->p12 = e->main;
		e->p11 = port_of(m->w, e->main->service, 11);
	} else {
		e->p11 = e->main;
		e->p12 = port_of(m->w, e->main->service, 12);
	}
	/* every handler names an operation */
	lua_pushnil(L);
	while (lua_next(L, handlers)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;

		if (!k || !wsdl_op(e->main, k)) {
			lua_pushfstring(L, "handlers.%s: port %s has no operation %s (operations:",
			                k ? k : "?", e->main->name, k ? k : "?");
			for (unsigned i = 0; i < e->main->nops; i++)
				lua_pushfstring(L, " %s", e->main->ops[i].name);
			lua_pushliteral(L, ")");
			lua_concat(L, 2 + (int)e->main->nops);
			return lua_error(L);
		}
		if (!lua_isfunction(L, -1))
			return luaL_error(L, "handlers.%s must be a function(req), not a %s", k,
			                  luaL_typename(L, -1));
		lua_pop(L, 1);
	}
	/* the url option, if any, rides with the userdata */
	if (url) {
		lua_pushstring(L, url);
		lua_setiuservalue(L, -2, 1);
	}
	lua_pushvalue(L, handlers);
	lua_pushinteger(L, max_body);
	lua_setfield(L, ropts, "body_limit");
	lua_pushvalue(L, ropts);
	pthread_mutex_lock(&cache_mu);
	warn = !m->warned;
	m->warned = 1;
	pthread_mutex_unlock(&cache_mu);
	if (warn) {
		int n = 0;

		lua_newtable(L);
		for (unsigned i = 0; i < e->main->nops; i++) {
			if (lua_getfield(L, handlers, e->main->ops[i].name) == LUA_TNIL) {
				lua_pushstring(L, e->main->ops[i].name);
				lua_rawseti(L, -3, ++n);
			}
			lua_pop(L, 1);
		}
	} else {
		lua_pushnil(L);
	}
	return 4;
}

/* url_of(ep) -> the url option or nil. [-1, +1, -] */
static int l_url_of(lua_State *L)
{
	ep_check(L, 1);
	lua_getiuservalue(L, 1, 1);
	return 1;
}

static const char module_src[] =
	"local prepare, parse, answer, faultdoc, wsdldoc, url_of = ...\n"
	"local function send_fault(version, code, subcode, reason, detail, status)\n"
	"  local body, st, ct = faultdoc(version, code, subcode, reason, detail)\n"
	"  return (status and status > 0) and status or st, body, { ['content-type'] = ct }\n"
	"end\n"
	"local function host_ok(h)\n"
	"  return type(h) == 'string' and #h > 0 and #h < 256 and not h:find('[^%w%.%-:%[%]]')\n"
	"end\n"
	"return function(path, opts, fault_mt)\n"
	"  local ok, ep, handlers, ropts, missing = pcall(prepare, path, opts)\n"
	"  if not ok then error('soap.endpoint: ' .. tostring(ep), 3) end\n"
	"  for _, op in ipairs(missing or {}) do\n"
	"    log.warn(('soap.endpoint %s: operation %s has no handler: it answers a Client "
	"fault \"not implemented\"'):format(path, op))\n"
	"  end\n"
	"  ropts.summary = 'SOAP endpoint (SOAP 1.1 text/xml, SOAP 1.2 application/soap+xml); "
	"the WSDL: GET ' .. path .. '?wsdl'\n"
	"  ropts.tags = { 'soap' }\n"
	"  route.post(path, function(req)\n"
	"    local op, input, version, reason, status, hard = parse(ep, req.body, "
	"req.headers['content-type'], req.headers['soapaction'])\n"
	"    if not op then\n"
	"      local code\n"
	"      version, code = input, version\n"
	"      if hard then log.warn(('soap.endpoint %s: request refused: %s'):format(path, reason))\n"
	"      else log.info(('soap.endpoint %s: %s'):format(path, reason)) end\n"
	"      return send_fault(version, code, nil, reason, nil, status)\n"
	"    end\n"
	"    local h = handlers[op]\n"
	"    if not h then\n"
	"      return send_fault(version, 'Client', nil, 'operation ' .. op .. ' is not implemented')\n"
	"    end\n"
	"    local okh, r = pcall(h, input, req)\n"
	"    if not okh then\n"
	"      if type(r) == 'table' and getmetatable(r) == fault_mt then\n"
	"        return send_fault(version, r.code, r.subcode, r.reason, r.detail)\n"
	"      end\n"
	"      local msg = tostring(r)\n"
	"      log.warn(('soap.endpoint %s: %s failed: %s'):format(path, op, msg))\n"
	"      msg = msg:gsub('^[^\\n]-:%d+: ', '', 1)\n"
	"      return send_fault(version, 'Server', nil, msg)\n"
	"    end\n"
	"    local body, st, ct = answer(ep, op, version, r)\n"
	"    if not body then\n"
	"      log.warn(('soap.endpoint %s: the %s handler\\'s answer does not fit the schema: "
	"%s'):format(path, op, st))\n"
	"      return send_fault(version, 'Server', nil, 'the answer does not fit the schema: ' "
	".. st)\n"
	"    end\n"
	"    if st == 202 then return 202 end\n"
	"    return st, body, { ['content-type'] = ct }\n"
	"  end, ropts)\n"
	"  route.get(path, function(req)\n"
	"    local q = (req.query_string or ''):lower()\n"
	"    if q == 'wsdl' or q:match('^wsdl[=&]') then\n"
	"      local url = url_of(ep)\n"
	"      if not url then\n"
	"        local scheme = req.headers['x-forwarded-proto']\n"
	"        if scheme ~= 'https' then scheme = 'http' end\n"
	"        local host = req.host\n"
	"        if not host_ok(host) then host = 'localhost' end\n"
	"        url = scheme .. '://' .. host .. req.path\n"
	"      end\n"
	"      return 200, wsdldoc(ep, url), { ['content-type'] = 'text/xml; charset=utf-8' }\n"
	"    end\n"
	"    return 405, 'POST a SOAP envelope here, or GET ' .. path .. '?wsdl for the WSDL\\n',\n"
	"      { allow = 'POST' }\n"
	"  end, ropts)\n"
	"end\n";

static const char endpoint_key = 0;   /* registry: the compiled function */

/* soap.endpoint(path, opts) [-2, +0, e] */
int sl_endpoint(lua_State *L)
{
	lua_settop(L, 2);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &endpoint_key) != LUA_TFUNCTION) {
		lua_pop(L, 1);
		if (luaL_loadbuffer(L, module_src, sizeof(module_src) - 1, "=soap.endpoint") != LUA_OK)
			return lua_error(L);
		lua_pushcfunction(L, l_prepare);
		lua_pushcfunction(L, l_parse);
		lua_pushcfunction(L, l_answer);
		lua_pushcfunction(L, ep_fault_doc);
		lua_pushcfunction(L, l_wsdl);
		lua_pushcfunction(L, l_url_of);
		lua_call(L, 6, 1);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &endpoint_key);
	}
	lua_insert(L, 1);
	/* soap.fault, until the module table (lmod.c) has it */
	if (lua_getglobal(L, "soap") == LUA_TTABLE &&
	    lua_getfield(L, -1, "fault") == LUA_TNIL) {
		lua_pushcfunction(L, sl_fault);
		lua_setfield(L, -3, "fault");
	}
	lua_settop(L, 3);
	ep_fault_mt(L);
	lua_call(L, 3, 0);
	return 0;
}
