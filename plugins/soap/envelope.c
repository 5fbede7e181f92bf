/*
 * envelope.c - SOAP 1.1 and 1.2 envelopes and faults, both ways (see
 * soap.h): writing an envelope around a body, splitting a parsed one,
 * reading a Fault into the fault table Lua sees, writing a Fault for the
 * endpoint.
 *
 * Decisions:
 *  - the envelope prefix is "soapenv" for both versions; an XML declaration
 *    (UTF-8) starts every envelope written.
 *  - 1.1 faultcode/faultstring/faultactor/detail are read unqualified (as
 *    the spec says) or qualified with the envelope namespace (some servers
 *    do that).
 *  - 1.2 Reason: the Text whose xml:lang is "en" or "en-*", else the first.
 *    Subcode: the first level's Value (nested Subcodes are not read).
 *  - the detail is a string when it holds only text (nil when that text is
 *    blank), else a table keyed by its child elements' local names (a
 *    repeated name: a sequence), each child decoded per the operation's
 *    wsdl:fault message whose part element it is, else generically. The
 *    same key whichever way it was decoded: fault.detail.NotFound.id.
 *  - writing a 1.1 fault, a subcode becomes the faultcode's dotted suffix
 *    (the 1.1 convention, "soapenv:Client.NotFound", local part only);
 *    in 1.2 it is Subcode/Value, written as given, or declared when given
 *    as "{uri}local".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <lua.h>
#include <libxml/uri.h>

#include "soap.h"

#define XML_LANG_NS "http://www.w3.org/XML/1998/namespace"

const char *soap_env_ns(int version)
{
	return version == 12 ? SOAP12_ENV_NS : SOAP11_ENV_NS;
}

void soap_content_type(int version, const char *action, char *out, size_t cap)
{
	struct sbuf b = { 0 };

	if (!cap)
		return;
	if (version != 12) {
		snprintf(out, cap, "text/xml; charset=utf-8");
		return;
	}
	sbuf_puts(&b, "application/soap+xml; charset=utf-8");
	if (action && *action) {
		/* a quoted-string: quotes and backslashes escaped, control
		 * characters (CR, LF: header injection) dropped */
		sbuf_puts(&b, "; action=\"");
		for (const unsigned char *p = (const unsigned char *)action; *p; p++) {
			if (*p < 0x20 || *p == 0x7f)
				continue;
			if (*p == '"' || *p == '\\')
				sbuf_putc(&b, '\\');
			sbuf_putc(&b, (char)*p);
		}
		sbuf_putc(&b, '"');
	}
	if (b.oom || !b.p || b.len >= cap)
		snprintf(out, cap, "application/soap+xml; charset=utf-8");   /* no room: no action */
	else
		memcpy(out, b.p, b.len + 1);
	sbuf_free(&b);
}

void soap_env_open(struct sbuf *b, int version, const char *header)
{
	sbuf_printf(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	            "<soapenv:Envelope xmlns:soapenv=\"%s\">", soap_env_ns(version));
	if (header && *header) {
		sbuf_puts(b, "<soapenv:Header>");
		sbuf_puts(b, header);
		sbuf_puts(b, "</soapenv:Header>");
	}
	sbuf_puts(b, "<soapenv:Body>");
}

void soap_env_close(struct sbuf *b, int version)
{
	(void)version;
	sbuf_puts(b, "</soapenv:Body></soapenv:Envelope>");
}

/* "{ns}local" or "local" for messages; names are cut to fit. */
static void name_of(xmlNodePtr n, char *out, size_t cap)
{
	const char *ns = sx_ns(n);

	if (ns)
		snprintf(out, cap, "{%.120s}%.80s", ns, (const char *)n->name);
	else
		snprintf(out, cap, "%.80s", (const char *)n->name);
}

int soap_env_split(xmlDocPtr doc, int *version, xmlNodePtr *header, xmlNodePtr *body,
                   char *err, size_t errlen)
{
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL, c;
	const char *ns;
	char nm[220];
	unsigned n = 0;

	*header = *body = NULL;
	if (!root) {
		snprintf(err, errlen, "not a SOAP envelope: no root element");
		return -1;
	}
	if (sx_is(root, SOAP11_ENV_NS, "Envelope"))
		*version = 11;
	else if (sx_is(root, SOAP12_ENV_NS, "Envelope"))
		*version = 12;
	else {
		name_of(root, nm, sizeof(nm));
		snprintf(err, errlen, "not a SOAP envelope: root is %s", nm);
		return -1;
	}
	ns = soap_env_ns(*version);
	c = sx_first_el(root);
	if (sx_is(c, ns, "Header")) {
		*header = c;
		c = sx_next_el(c);
	}
	if (!sx_is(c, ns, "Body")) {
		if (c) {
			name_of(c, nm, sizeof(nm));
			snprintf(err, errlen, "SOAP envelope without Body (found %s)", nm);
		} else {
			snprintf(err, errlen, "SOAP envelope without Body");
		}
		return -1;
	}
	*body = c;
	/* 1.1 allows qualified elements after Body (ignored); 1.2 does not */
	if (*version == 12 && (c = sx_next_el(c))) {
		name_of(c, nm, sizeof(nm));
		snprintf(err, errlen, "SOAP 1.2 envelope with %s after Body", nm);
		return -1;
	}
	for (c = sx_first_el(*body); c; c = sx_next_el(c))
		if (!sx_is(c, ns, "Fault") && ++n > 1) {
			snprintf(err, errlen, "Body has more than one child element");
			return -1;
		}
	return 0;
}

xmlNodePtr soap_fault_el(xmlNodePtr body, int version)
{
	for (xmlNodePtr c = sx_first_el(body); c; c = sx_next_el(c))
		if (sx_is(c, soap_env_ns(version), "Fault"))
			return c;
	return NULL;
}

/* ---- reading a fault ------------------------------------------------------------ */

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Pushes NODE's text with surrounding whitespace trimmed, or nil when there
 * is none (or NODE is NULL). [-0, +1, m]
 */
static void push_trimmed(lua_State *L, xmlNodePtr node, int nil_if_blank)
{
	char *s = node ? sx_text(node) : NULL;
	size_t a = 0, z;

	if (!s) {
		lua_pushnil(L);
		return;
	}
	z = strlen(s);
	while (a < z && is_ws(s[a]))
		a++;
	while (z > a && is_ws(s[z - 1]))
		z--;
	if (a == z && nil_if_blank)
		lua_pushnil(L);
	else
		lua_pushlstring(L, s + a, z - a);
	free(s);
}

/* A 1.1 fault child: unqualified, or in the envelope namespace. */
static int is11(xmlNodePtr n, const char *name)
{
	return sx_is(n, NULL, name) || sx_is(n, SOAP11_ENV_NS, name);
}

static xmlNodePtr child(xmlNodePtr parent, const char *ns, const char *name)
{
	for (xmlNodePtr c = sx_first_el(parent); c; c = sx_next_el(c))
		if (sx_is(c, ns, name))
			return c;
	return NULL;
}

/* The 1.2 Reason's Text: xml:lang "en" or "en-*" first, else the first. */
static xmlNodePtr reason12(xmlNodePtr reason)
{
	xmlNodePtr first = NULL;

	for (xmlNodePtr c = sx_first_el(reason); c; c = sx_next_el(c)) {
		const char *lang;

		if (!sx_is(c, SOAP12_ENV_NS, "Text"))
			continue;
		if (!first)
			first = c;
		lang = sx_attr(c, XML_LANG_NS, "lang");
		if (lang && (!strcasecmp(lang, "en") || !strncasecmp(lang, "en-", 3)))
			return c;
	}
	return first;
}

/* The schema element of one of OP's wsdl:fault messages EL is, or NULL. */
static const struct xs_element *fault_element(const struct wsdl_op *op, xmlNodePtr el)
{
	if (!op)
		return NULL;
	for (unsigned k = 0; k < op->nfaults; k++) {
		const struct wsdl_message *m = op->faults[k].msg;
		const struct xs_element *e;

		if (!m || m->nparts < 1 || !(e = m->parts[0].element) || !e->name)
			continue;
		if (sx_is(el, e->ns, e->name))
			return e;
	}
	return NULL;
}

/* One child of the detail, decoded. [-0, +1, m] */
static void push_detail_child(lua_State *L, xmlNodePtr el, const struct wsdl *w,
                              const struct wsdl_op *op)
{
	const struct xs_element *e = fault_element(op, el);
	char err[256];

	if (e && w && sc_decode_element(L, el, w, e, err, sizeof(err)) == 1)
		return;
	/* no schema, or the detail does not fit it: generically */
	sc_decode_any(L, el, 1);
}

/*
 * Pushes the detail (see the top): nil, a string or a table.
 * [-0, +1, m]
 */
static void push_detail(lua_State *L, xmlNodePtr det, const struct wsdl *w,
                        const struct wsdl_op *op)
{
	int res, seqs;

	if (!det || !sx_first_el(det)) {
		push_trimmed(L, det, 1);
		return;
	}
	lua_newtable(L);
	res = lua_gettop(L);
	lua_newtable(L);                      /* names already made sequences */
	seqs = lua_gettop(L);
	for (xmlNodePtr c = sx_first_el(det); c; c = sx_next_el(c)) {
		const char *name = (const char *)c->name;

		push_detail_child(L, c, w, op);                 /* v */
		lua_getfield(L, res, name);                     /* v old */
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
			lua_setfield(L, res, name);
			continue;
		}
		lua_getfield(L, seqs, name);
		if (lua_toboolean(L, -1)) {                     /* v old true */
			lua_pop(L, 1);
			lua_insert(L, -2);                      /* old v */
			lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
			lua_pop(L, 1);
			continue;
		}
		lua_pop(L, 1);                                  /* v old */
		lua_createtable(L, 2, 0);                       /* v old t */
		lua_insert(L, -3);                              /* t v old */
		lua_rawseti(L, -3, 1);                          /* t v */
		lua_rawseti(L, -2, 2);                          /* t */
		lua_setfield(L, res, name);
		lua_pushboolean(L, 1);
		lua_setfield(L, seqs, name);
	}
	lua_pop(L, 1);                                          /* seqs */
}

static void set_common(lua_State *L, const char *kind, int status, const char *op, int version)
{
	lua_pushstring(L, kind);
	lua_setfield(L, -2, "kind");
	if (status > 0) {
		lua_pushinteger(L, status);
		lua_setfield(L, -2, "status");
	}
	if (op) {
		lua_pushstring(L, op);
		lua_setfield(L, -2, "operation");
	}
	if (version == 11 || version == 12) {
		lua_pushstring(L, version == 12 ? "1.2" : "1.1");
		lua_setfield(L, -2, "version");
	}
}

/* [-0, +1, m] */
int soap_fault_push_w(lua_State *L, xmlNodePtr fault, int version, const struct wsdl *w,
                      const struct wsdl_op *op, int status)
{
	xmlNodePtr code = NULL, sub = NULL, reason = NULL, actor = NULL, detail = NULL, c;

	luaL_checkstack(L, 16, "soap fault");
	lua_createtable(L, 0, 9);
	set_common(L, "soap", status, op ? op->name : NULL, version);
	if (version == 12) {
		xmlNodePtr cd = child(fault, SOAP12_ENV_NS, "Code"), sc;

		code = child(cd, SOAP12_ENV_NS, "Value");
		if ((sc = child(cd, SOAP12_ENV_NS, "Subcode")))
			sub = child(sc, SOAP12_ENV_NS, "Value");
		reason = reason12(child(fault, SOAP12_ENV_NS, "Reason"));
		actor = child(fault, SOAP12_ENV_NS, "Role");
		detail = child(fault, SOAP12_ENV_NS, "Detail");
	} else {
		for (c = sx_first_el(fault); c; c = sx_next_el(c)) {
			if (!code && is11(c, "faultcode"))
				code = c;
			else if (!reason && is11(c, "faultstring"))
				reason = c;
			else if (!actor && is11(c, "faultactor"))
				actor = c;
			else if (!detail && is11(c, "detail"))
				detail = c;
		}
	}
	push_trimmed(L, code, 1);
	lua_setfield(L, -2, "code");
	push_trimmed(L, sub, 1);
	lua_setfield(L, -2, "subcode");
	push_trimmed(L, actor, 1);
	lua_setfield(L, -2, "actor");
	push_trimmed(L, reason, 1);
	if (lua_isnil(L, -1)) {
		/* reason is always a string: users put it in their errors */
		lua_pop(L, 1);
		lua_getfield(L, -1, "code");
		lua_pushfstring(L, "SOAP fault %s without a reason",
		                lua_isstring(L, -1) ? lua_tostring(L, -1) : "(no code)");
		lua_remove(L, -2);
	}
	lua_setfield(L, -2, "reason");
	push_detail(L, detail, w, op);
	lua_setfield(L, -2, "detail");
	return 1;
}

/* [-0, +1, m] */
int soap_fault_push(lua_State *L, xmlNodePtr fault, int version, const struct wsdl_op *op,
                    int status)
{
	return soap_fault_push_w(L, fault, version, NULL, op, status);
}

/* [-0, +1, m] */
int soap_fault_push_simple(lua_State *L, const char *kind, const char *reason, int status,
                           const char *op, int version)
{
	luaL_checkstack(L, 4, "soap fault");
	lua_createtable(L, 0, 5);
	set_common(L, kind, status, op, version);
	lua_pushstring(L, reason ? reason : kind);
	lua_setfield(L, -2, "reason");
	return 1;
}

/* ---- writing a fault ------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at S (N bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t k, len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || cp == 0xFFFE || cp == 0xFFFF)
		return 0;
	return len;
}

/* S as XML text, whatever it holds: control characters and bytes that are
 * not UTF-8 (a Lua error message may have them) become '?'. */
static void put_text(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), i = 0, run = 0;

	while (i < n) {
		size_t l = utf8_len(p + i, n - i);

		if (l == 0 || (l == 1 && p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' &&
		               p[i] != '\r') || (l == 1 && p[i] == 0x7f)) {
			sbuf_put_xml(b, (const char *)p + run, i - run);
			sbuf_putc(b, '?');
			i += l ? l : 1;
			run = i;
			continue;
		}
		i += l;
	}
	sbuf_put_xml(b, (const char *)p + run, n - run);
}

/* CODE ("Client", "soap:Server", "Client.Auth", ...) as the fault code's
 * local name for VERSION; *SUFFIX gets a dotted suffix ("Auth") or NULL. */
static const char *code_local(const char *code, int version, const char **suffix, size_t *slen)
{
	static const struct { const char *in, *v11, *v12; } map[] = {
		{ "Client", "Client", "Sender" },
		{ "Sender", "Client", "Sender" },
		{ "Server", "Server", "Receiver" },
		{ "Receiver", "Server", "Receiver" },
		{ "VersionMismatch", "VersionMismatch", "VersionMismatch" },
		{ "MustUnderstand", "MustUnderstand", "MustUnderstand" },
		{ "DataEncodingUnknown", "Client", "DataEncodingUnknown" },
	};
	const char *c = code ? code : "Server", *colon = strchr(c, ':'), *dot;
	size_t n;

	if (colon)
		c = colon + 1;
	dot = strchr(c, '.');
	n = dot ? (size_t)(dot - c) : strlen(c);
	*suffix = dot ? dot + 1 : NULL;
	*slen = dot ? strlen(dot + 1) : 0;
	for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
		if (strlen(map[k].in) == n && !strncmp(map[k].in, c, n))
			return version == 12 ? map[k].v12 : map[k].v11;
	*suffix = NULL;
	*slen = 0;
	return version == 12 ? "Receiver" : "Server";
}

/* The local part of a subcode "p:x", "{uri}x" or "x". */
static const char *local_part(const char *q)
{
	const char *r;

	if (q[0] == '{' && (r = strchr(q, '}')))
		return r + 1;
	return (r = strrchr(q, ':')) ? r + 1 : q;
}

/* 1 when S[0..N) can be a namespace name as written: printable ASCII, none
 * of the characters a URI never has unescaped, and a URI to libxml2 (which
 * refuses a declaration of anything else). */
static int uri_ok(const char *s, size_t n)
{
	char *z;
	xmlURIPtr u;

	if (n == 0 || n > 2048)
		return 0;
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)s[k];

		if (c <= 0x20 || c >= 0x7f || strchr("<>\"{}|\\^`&", c))
			return 0;
	}
	if (!(z = strndup(s, n)))
		return 0;
	u = xmlParseURI(z);
	free(z);
	xmlFreeURI(u);
	return u != NULL;
}

static void put_subcode12(struct sbuf *b, const char *sub)
{
	const char *r;

	if (sub[0] == '{' && (r = strchr(sub, '}'))) {
		size_t n = (size_t)(r - sub - 1);

		if (!uri_ok(sub + 1, n)) {
			put_subcode12(b, r + 1);   /* no usable namespace: the local part */
			return;
		}
		sbuf_puts(b, "<soapenv:Subcode><soapenv:Value xmlns:sc=\"");
		sbuf_put(b, sub + 1, n);
		sbuf_puts(b, "\">sc:");
		put_text(b, r + 1);
	} else {
		sbuf_puts(b, "<soapenv:Subcode><soapenv:Value>");
		put_text(b, sub);
	}
	sbuf_puts(b, "</soapenv:Value></soapenv:Subcode>");
}

void soap_fault_write(struct sbuf *b, int version, const char *code, const char *subcode,
                      const char *reason, const char *detail_xml)
{
	const char *suffix;
	size_t slen;
	const char *local = code_local(code, version, &suffix, &slen);

	if (subcode && !*subcode)
		subcode = NULL;
	soap_env_open(b, version, NULL);
	if (version == 12) {
		sbuf_printf(b, "<soapenv:Fault><soapenv:Code><soapenv:Value>soapenv:%s"
		            "</soapenv:Value>", local);
		if (subcode)
			put_subcode12(b, subcode);
		else if (suffix && slen)
			put_subcode12(b, suffix);
		sbuf_puts(b, "</soapenv:Code><soapenv:Reason><soapenv:Text xml:lang=\"en\">");
		put_text(b, reason);
		sbuf_puts(b, "</soapenv:Text></soapenv:Reason>");
		if (detail_xml && *detail_xml) {
			sbuf_puts(b, "<soapenv:Detail>");
			sbuf_puts(b, detail_xml);
			sbuf_puts(b, "</soapenv:Detail>");
		}
	} else {
		sbuf_printf(b, "<soapenv:Fault><faultcode>soapenv:%s", local);
		if (subcode) {
			sbuf_putc(b, '.');
			put_text(b, local_part(subcode));
		} else if (suffix && slen) {
			sbuf_putc(b, '.');
			put_text(b, suffix);
		}
		sbuf_puts(b, "</faultcode><faultstring>");
		put_text(b, reason);
		sbuf_puts(b, "</faultstring>");
		if (detail_xml && *detail_xml) {
			sbuf_puts(b, "<detail>");
			sbuf_puts(b, detail_xml);
			sbuf_puts(b, "</detail>");
		}
	}
	sbuf_puts(b, "</soapenv:Fault>");
	soap_env_close(b, version);
}
