/*
 * fuzz_soap_envelope.c - libFuzzer target for the SOAP plugin's hardened
 * parser and envelope reader (plugins/soap/xml.c, envelope.c, and the
 * codec's generic decoder when it is there).
 *
 * Input: one byte of flags, then the document. Bit 0 picks tiny limits
 * (so every limit's stop path runs under ASan: depth 6, 60 nodes, 4
 * attributes, 48 bytes of text, 2048 bytes) instead of the defaults. The
 * document is copied into a buffer of its exact size, so an over-read is
 * caught. Then, as a client does with an answer: sx_parse, soap_env_split,
 * soap_fault_el, soap_fault_push into a long-lived Lua state (the detail
 * decoded by sc_decode_any); every element is walked with the navigation
 * helpers (sx_text, sx_attr, sx_qname on each attribute value). Contracts
 * checked: a refusal always says why; a fault table has kind "soap" and a
 * string reason; soap_fault_write's envelope, built from the document's
 * text, always parses back; soap_content_type never lets CR or LF through.
 *
 * Build: tests/fuzz/run.sh soap_envelope 60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "soap.h"

static lua_State *L;

/* Walks every element; *TEXT gets the first non-empty text (malloc'd). */
static void walk(xmlNodePtr n, unsigned depth, char **text)
{
	for (xmlNodePtr c = sx_first_el(n); c; c = sx_next_el(c)) {
		char *t = sx_text(c);

		if (t && !*text && *t)
			*text = t;
		else
			free(t);
		(void)sx_is(c, sx_ns(c), (const char *)c->name);
		for (xmlAttrPtr a = c->properties; a; a = a->next) {
			const char *v = sx_attr(c, a->ns ? (const char *)a->ns->href : NULL,
			                        (const char *)a->name);
			const char *ns, *local;

			if (!v)
				abort();   /* the attribute is there */
			if (sx_qname(c, v, depth & 1, &ns, &local) == 0 && !local)
				abort();
		}
		if (depth < 80)
			walk(c, depth + 1, text);
	}
}

static void roundtrip_fault(int version, const char *reason, const char *action)
{
	struct sbuf b = { 0 };
	char err[256], ct[256];
	xmlDocPtr d;

	soap_fault_write(&b, version, reason, reason, reason, NULL);
	if (b.oom)
		return;
	d = sx_parse(b.p, b.len, NULL, NULL, err, sizeof(err));
	if (!d)
		abort();   /* what we write must parse */
	xmlFreeDoc(d);
	sbuf_free(&b);
	soap_content_type(version, action, ct, sizeof(ct));
	if (strchr(ct, '\r') || strchr(ct, '\n'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sx_limits tiny = { 2048, 6, 60, 4, 48 };
	char err[256];
	char *buf;
	xmlDocPtr doc;
	xmlNodePtr header, body, fault;
	char *text = NULL, raw[200];
	int version;

	if (size < 1)
		return 0;
	if (!L && !(L = luaL_newstate()))
		abort();
	if (!(buf = malloc(size - 1 ? size - 1 : 1)))
		return 0;
	memcpy(buf, data + 1, size - 1);
	/* the input's raw bytes as a reason: anything at all */
	memcpy(raw, data + 1, size - 1 < sizeof(raw) - 1 ? size - 1 : sizeof(raw) - 1);
	raw[size - 1 < sizeof(raw) - 1 ? size - 1 : sizeof(raw) - 1] = '\0';
	roundtrip_fault((data[0] & 2) ? 11 : 12, raw, raw);
	err[0] = '\0';
	doc = sx_parse(buf, size - 1, (data[0] & 1) ? &tiny : NULL, NULL, err, sizeof(err));
	if (!doc) {
		if (!err[0] || !memchr(err, '\0', sizeof(err)))
			abort();
		free(buf);
		return 0;
	}
	walk((xmlNodePtr)doc, 0, &text);
	if (soap_env_split(doc, &version, &header, &body, err, sizeof(err)) == 0) {
		if (version != 11 && version != 12)
			abort();
		if ((fault = soap_fault_el(body, version))) {
			struct wsdl_op op = { .name = "Op" };

			lua_settop(L, 0);
			soap_fault_push(L, fault, version, &op, 500);
			if (!lua_istable(L, -1))
				abort();
			lua_getfield(L, -1, "kind");
			lua_getfield(L, -2, "reason");
			if (lua_type(L, -1) != LUA_TSTRING || strcmp(lua_tostring(L, -2), "soap") != 0)
				abort();
			lua_settop(L, 0);
		}
	} else if (!err[0]) {
		abort();
	}
	roundtrip_fault((data[0] & 2) ? 12 : 11, text, text);
	free(text);
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT, 0);
	xmlFreeDoc(doc);
	free(buf);
	return 0;
}
