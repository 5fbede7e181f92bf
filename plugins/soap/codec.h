/*
 * codec.h - what the codec's files (codec_enc.c, codec_dec.c, codec_any.c,
 * codec_util.c) share; the codec's contract is in soap.h.
 */
#ifndef SOAP_CODEC_H
#define SOAP_CODEC_H

#include <stddef.h>

#include <lua.h>

#include "soap.h"

/* Element nesting the codec walks (encoding and decoding): deeper is an
 * error (a self-referencing Lua table, a hostile document). */
#define SC_MAX_DEPTH 64

/* The field path of an error: "account.owners[2].name". Pushes beyond its
 * room are counted and popped without effect; a path too long for BUF is
 * cut. */
struct sc_path {
	char buf[256];
	size_t len;
	size_t mark[2 * SC_MAX_DEPTH + 16];
	unsigned n, over;
};
void sc_path_field(struct sc_path *p, const char *name);
void sc_path_index(struct sc_path *p, unsigned long i);   /* 1-based: "[2]" */
void sc_path_pop(struct sc_path *p);
/* ERR = "path: MSG" (or MSG alone at the top), cut to ERRLEN. */
void sc_path_error(const struct sc_path *p, const char *msg, char *err, size_t errlen);

/* ---- the model, as the codec reads it ---- */

/* anySimpleType text, for generic values (facets unset). */
extern const struct xs_type sc_any_simple;
/* 1 for xsd:anyType (or a complex type with nothing but a XS_P_ANY prim). */
int sc_type_is_any(const struct xs_type *t);
/* 1 when T's integers have no 64-bit bound (xsd:integer and the
 * non-negative/positive/... ones under it, or a range-less model). */
int sc_int_unbounded(const struct xs_type *t);
/* 1 when an element named NAME is somewhere under P. */
int sc_particle_has(const struct xs_particle *p, const char *name);
/* The element particle named NAME under P (and whether it repeats: its own
 * maxOccurs or a repeating group around it), or NULL. */
const struct xs_particle *sc_particle_find(const struct xs_particle *p, const char *ns,
                                           const char *name, int *repeats);
/* 1 when P has an xsd:any wildcard. */
int sc_particle_has_any(const struct xs_particle *p);
/* 1 when P may occur with no element at all. */
int sc_particle_emptiable(const struct xs_particle *p);
/* 1 when KEY of a table names something of complex type T: a child
 * element, an attribute ("name" or "@name"), "$value" (simpleContent or
 * mixed). */
int sc_type_has_key(const struct xs_type *t, const char *key);
/* T, or the type the xsi:type QName TYPE_QNAME (in NODE's scope) names when
 * it is T or derived from T in W's set; NULL when it names another type or
 * none known (decode generically then). */
const struct xs_type *sc_xsi_type(const struct wsdl *w, xmlNodePtr node,
                                  const struct xs_type *t, const char *type_qname);

/* ---- Lua values ---- */

/* 1 when the table at IDX has a [1] (a sequence). [-0, +0, -] */
int sc_is_sequence(lua_State *L, int idx);
/* 1 when the table at IDX has no key at all. [-0, +0, -] */
int sc_is_empty(lua_State *L, int idx);
/* For messages: `string "x"`, `integer 3`, `number 1.5`, `boolean true`,
 * `table`, `soap.null`. [-0, +0, -] */
void sc_describe(lua_State *L, int idx, char *out, size_t cap);
/* The shortest of %.15g..%.17g that reads back as V; INF, -INF, NaN. */
void sc_fmt_double(double v, char *out, size_t cap);
/* V (finite) as an xsd:decimal: the same digits, no exponent. */
void sc_fmt_decimal(double v, char *out, size_t cap);
int sc_utf8_valid(const unsigned char *s, size_t n);

/* ---- the encoder's state (codec_enc.c; generic values in codec_any.c) ---- */

#define SC_MAX_NS 64

struct sc_enc {
	lua_State *L;
	struct sbuf *b;
	char *err;
	size_t errlen;
	int failed;
	int in_attr;                          /* text goes into an attribute value */
	unsigned depth;
	/* the prefixes in scope: ns[i] is "ns<num[i]>", declared at level lvl[i] */
	const char *ns[SC_MAX_NS];
	unsigned num[SC_MAX_NS], lvl[SC_MAX_NS];
	unsigned nns;
	struct sc_path path;
};

/* Record the first error at the current path; -1. */
int sc_enc_fail(struct sc_enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sc_enc_fail_type(struct sc_enc *e, int idx, const char *expected);
int sc_enc_oom(struct sc_enc *e);
/* The value at IDX as the text of simple type T. */
int sc_enc_simple(struct sc_enc *e, const struct xs_type *t, int idx);
/* <NAME>value</NAME> with no schema. */
int sc_enc_generic(struct sc_enc *e, const char *name, int idx);
/* The table at IDX as generic content of the element whose start tag is
 * open: with ATTRS, its "@x" keys as attributes and the closing ">";
 * SKIP (may be NULL): a schema type whose keys are left out. */
int sc_enc_generic_content(struct sc_enc *e, int idx, const struct xs_type *skip, int attrs);

/* Pushes EL's own text (its text and CDATA children, not the text of nested
 * elements) as a Lua string, "" when none. [-0, +1, m] */
void sc_push_text(lua_State *L, xmlNodePtr el);
/* sc_decode_any's walk, unprotected (raises when Lua runs out of memory):
 * for callers already under lua_pcall. [-0, +1, m] */
void sc_any_push(lua_State *L, xmlNodePtr el, int depth);

#endif
