/*
 * soap.h - the contract between the pieces of the SOAP plugin (issue 15).
 *
 *   xml.c            hardened libxml2 parsing (no DOCTYPE, no network, no
 *                    XInclude, no entities; size, depth and node limits),
 *                    element navigation helpers
 *   wsse.c           WS-Security UsernameToken (text and digest) header
 *   xsd.c            XML Schema model: types, elements, particles, facets,
 *   xsd_builtin.c    the xsd: built-in types; resolution of references
 *   wsdl.c           WSDL 1.1 model: services, ports, bindings (SOAP 1.1 and
 *                    1.2), operations, messages; wsdl:import, xsd:import and
 *                    xsd:include from local files only; errors "file:line: ..."
 *   codec_enc.c      Lua table -> XML per the schema (request and response
 *                    bodies), checking the input and naming the bad field
 *   codec_dec.c      XML -> Lua table per the schema (types converted)
 *   envelope.c       SOAP 1.1 / 1.2 envelopes and faults, both ways
 *   schema.c         XSD -> JSON Schema (Lua tables) for describe/OpenAPI
 *   soap.c           the plugin: options, the services (loaded at start
 *                    and reload), metrics
 *   lmod.c           the `soap` Lua module: client, describe, expose,
 *                    endpoint, null, fault
 *   client.c         client:Operation(t): the HTTP call (upstream or
 *                    soap:address), timeouts, marked retries, the wait
 *   expose.c         soap.expose: JSON routes per operation
 *   endpoint.c       soap.endpoint: a WSDL-described service in Lua
 *
 * Everything a service model holds (struct wsdl and what it points to)
 * lives in one pool (struct sp_pool) freed at once; a model is immutable
 * after wsdl_load returns, so every worker reads it without locks.
 *
 * Lua mapping (pinned; doc/soap.md says it to users):
 *  - an element with element children or attributes <-> a table keyed by
 *    the children's local names; attributes by their local name, or
 *    "@name" when a child element has the same name; the text of a
 *    simpleContent type under "$value".
 *  - maxOccurs > 1 (or unbounded) <-> a Lua sequence, ALWAYS a table when
 *    decoding (empty table when there are none); a single value is also
 *    accepted when encoding.
 *  - xsd:int/long/short/byte/integer and the unsigned ones <-> integer
 *    (unsignedLong above 2^63-1 and integer beyond 64 bits: a float);
 *    decimal/float/double <-> number (INF, -INF, NaN too); boolean <->
 *    boolean ("true"/"1", "false"/"0"); base64Binary <-> the decoded bytes;
 *    hexBinary <-> the decoded bytes; dateTime, date, time, duration and
 *    every other simple type <-> string (enumerations checked when
 *    encoding).
 *  - xsi:nil="true" -> nil (the key is absent); soap.null in an input
 *    table -> xsi:nil="true" (refused unless nillable).
 *  - choice: the key present chooses the branch; two branches at once is an
 *    input error.
 *  - an input key the schema does not have is an input error (a typo must
 *    not vanish); a missing required element is an input error.
 *  - input errors name the field path: `account.owners[2].name: expected
 *    an integer, got string "x"`.
 *
 * Faults (client side), the second return value of client:Op():
 *   { kind = "soap" | "transport" | "timeout" | "http" | "malformed" | "invalid",
 *     code = "soap:Server" (1.1 faultcode / 1.2 Code/Value, as sent, prefix kept),
 *     subcode = "app:NotFound" or nil (1.2 Subcode/Value),
 *     reason = "text" (1.1 faultstring / 1.2 Reason/Text; for other kinds a
 *              message saying what happened),
 *     detail = table or string or nil (decoded generically, or per the
 *              wsdl:fault message's schema when it matches),
 *     actor = nil or string (faultactor / Role),
 *     status = HTTP status or nil, version = "1.1" | "1.2", operation = "GetAccount" }
 *   kind: soap = a SOAP Fault came back; transport = connect/TLS/reset/no
 *   server; timeout = no answer in time; http = a non-2xx answer that is not
 *   a fault (or a 2xx that is not XML); malformed = an answer that does not
 *   parse or does not fit the schema (or is refused by the XML hardening);
 *   invalid = the input table does not fit the schema (nothing was sent).
 */
#ifndef SOAP_H
#define SOAP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libxml/tree.h>

#include "portico/api.h"

struct lua_State;

extern const struct pt_api *soap_api;   /* set in load */

/* ---- util.c: a pool and a growing buffer ---------------------------------- */

struct sp_pool;                           /* bump allocator, freed at once */
struct sp_pool *sp_pool_new(void);
void *sp_alloc(struct sp_pool *p, size_t n);           /* zeroed; NULL: no memory */
char *sp_strdup(struct sp_pool *p, const char *s);     /* NULL s -> NULL */
char *sp_strndup(struct sp_pool *p, const char *s, size_t n);
void sp_pool_free(struct sp_pool *p);

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;                              /* an append failed: the buffer is unusable */
};
void sbuf_put(struct sbuf *b, const char *s, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_putc(struct sbuf *b, char c);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* S escaped for XML text and attribute values (& < > " '; control
 * characters other than tab, LF, CR refused: returns -1 and puts nothing). */
int sbuf_put_xml(struct sbuf *b, const char *s, size_t n);
void sbuf_free(struct sbuf *b);

/* base64 (standard alphabet, padding) and hex, for base64Binary/hexBinary
 * and WS-Security. Decoders return the length or -1 on bad input;
 * whitespace is skipped when decoding base64. */
size_t sp_b64_len(size_t n);
void sp_b64_encode(const unsigned char *in, size_t n, char *out);   /* NUL-terminated */
long sp_b64_decode(const char *in, size_t n, unsigned char *out);   /* out >= n*3/4+3 */
long sp_hex_decode(const char *in, size_t n, unsigned char *out);   /* out >= n/2 */

/* ---- xml.c: hardened parsing --------------------------------------------- */

struct sx_limits {
	size_t max_bytes;                     /* document size; default 4 MiB */
	unsigned max_depth;                   /* element nesting; default 64 */
	size_t max_nodes;                     /* elements + attributes + text nodes; default 200,000 */
	unsigned max_attrs;                   /* attributes on one element; default 64 */
	size_t max_text;                      /* one text node or attribute value; default 1 MiB */
};                                        /* a zero field takes the default */
extern const struct sx_limits sx_default_limits;

/*
 * Parses BUF with libxml2 under XML_PARSE_NONET, no entity substitution, no
 * XInclude, no DTD loading: any DOCTYPE (internal subset or not) is refused
 * before an entity can be declared, so XXE (file and parameter entities),
 * billion laughs and quadratic blowup are refused in time linear in LEN
 * and memory bounded by LIMITS. Limits over LIMITS (NULL: the defaults)
 * are refused. Returns the document (xmlFreeDoc it) or NULL with ERR set
 * ("DOCTYPE is not allowed", "nesting deeper than 64", "document larger
 * than 4194304 bytes", "line 3: ... (the parser's message)"). WHAT names
 * the document in the log line written once per refused document
 * (warn level, e.g. "soap: answer from ledger refused: DOCTYPE is not
 * allowed"); NULL: no log line (the caller logs). Thread-safe.
 */
xmlDocPtr sx_parse(const char *buf, size_t len, const struct sx_limits *limits,
                   const char *what, char *err, size_t errlen);
/* xml_scan.c: the lexical scan sx_parse runs before libxml2 (what it
 * refuses: see there). 0, or -1 with ERR; *SCANNED: where it stopped, in
 * characters. */
int sx_scan(const char *buf, size_t len, unsigned max_attrs, char *err, size_t errlen,
            size_t *scanned);
/* The same for a local file (WSDL, XSD): line numbers kept for errors;
 * ERR is "PATH: message" or "PATH:LINE: message". */
xmlDocPtr sx_parse_file(const char *path, const struct sx_limits *limits, char *err,
                        size_t errlen);

/* Navigation: element children only (text, comments, PIs skipped). */
xmlNodePtr sx_first_el(xmlNodePtr parent);
xmlNodePtr sx_next_el(xmlNodePtr node);
/* 1 when NODE is an element with local name NAME in namespace NS (NS NULL:
 * no namespace). */
int sx_is(xmlNodePtr node, const char *ns, const char *name);
/* The element's namespace URI or NULL. */
const char *sx_ns(xmlNodePtr node);
/* The attribute NAME with no namespace (NS NULL) or in NS; borrowed from
 * the document (NULL when absent). */
const char *sx_attr(xmlNodePtr node, const char *ns, const char *name);
/* The concatenated text content of NODE (text and CDATA children only, not
 * nested elements), malloc'd; NULL when there is no memory. */
char *sx_text(xmlNodePtr node);
/* Resolves a QName "p:local" in NODE's scope: *NS gets the namespace of p
 * (the default namespace for no prefix when DEFAULT_NS is 1, else NULL),
 * *LOCAL points into QNAME. 0, or -1 for an undeclared prefix. */
int sx_qname(xmlNodePtr node, const char *qname, int default_ns, const char **ns,
             const char **local);

/* ---- the XML Schema model (xsd.c) ------------------------------------------ */

#define XS_NS "http://www.w3.org/2001/XMLSchema"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define XS_UNBOUNDED UINT32_MAX

enum xs_prim {
	XS_P_STRING, XS_P_BOOLEAN, XS_P_INTEGER, XS_P_DECIMAL, XS_P_FLOAT, XS_P_DOUBLE,
	XS_P_DATETIME, XS_P_DATE, XS_P_TIME, XS_P_DURATION, XS_P_BASE64, XS_P_HEX,
	XS_P_QNAME, XS_P_ANYURI, XS_P_ANY          /* anySimpleType / anyType text */
};

struct xs_facets {
	const char **enums;                   /* enumeration values, NULL: none */
	unsigned nenums;
	int has_min, has_max, min_excl, max_excl;
	double min, max;                      /* min/maxInclusive or Exclusive */
	int64_t length, min_length, max_length;   /* -1: not set */
	const char *pattern;                  /* the XSD regex as written, or NULL */
	void *pattern_re;                     /* xmlRegexpPtr compiled at load, or NULL */
	int total_digits, fraction_digits;    /* -1: not set */
};

struct xs_particle;
struct xs_attr;

enum xs_kind { XS_SIMPLE = 1, XS_COMPLEX = 2 };

struct xs_type {
	const char *ns, *name;                /* name NULL: anonymous */
	enum xs_kind kind;
	/* simple (and simpleContent's text) */
	enum xs_prim prim;
	int64_t int_lo, int_hi;               /* the built-in integer type's range */
	int int_unsigned_long;                /* unsignedLong: range beyond int64 */
	struct xs_facets f;                   /* the restriction chain merged */
	struct xs_type *list_item;            /* xsd:list: the item type, else NULL */
	/* complex */
	struct xs_particle *content;          /* NULL: empty content */
	struct xs_attr **attrs;               /* own and inherited, resolved */
	unsigned nattrs;
	struct xs_type *simple_content;       /* simpleContent: the text's type, else NULL */
	int mixed, abstract;
	struct xs_type *base;                 /* the base type (extension/restriction) or NULL */
	const char *doc;                      /* xsd:annotation/documentation text or NULL */
};

struct xs_element {
	const char *ns, *name;                /* ns NULL: unqualified (elementFormDefault) */
	struct xs_type *type;                 /* never NULL once resolved (anyType) */
	int nillable, global;
	const char *default_value, *fixed;
	const char *doc;
};

enum xs_pkind { XS_ELEMENT = 1, XS_SEQUENCE, XS_CHOICE, XS_ALL, XS_ANY };

struct xs_particle {
	enum xs_pkind kind;
	uint32_t min, max;                    /* minOccurs, maxOccurs (XS_UNBOUNDED) */
	struct xs_element *el;                /* XS_ELEMENT */
	struct xs_particle **kids;            /* SEQUENCE / CHOICE / ALL (groups inlined) */
	unsigned nkids;
	const char *any_ns;                   /* XS_ANY: its namespace attribute */
};

struct xs_attr {
	const char *ns, *name;
	struct xs_type *type;                 /* simple */
	int required;
	const char *default_value, *fixed;
};

struct xs_set;                            /* every schema of one WSDL, resolved */

/* A new empty set allocating from POOL. */
struct xs_set *xs_set_new(struct sp_pool *pool);
/* Frees what SET holds outside its pool (the compiled patterns, which
 * libxml2 allocates); call it before sp_pool_free of the set's pool (also
 * after a failed add or resolve). NULL is fine. */
void xs_set_free(struct xs_set *set);
/*
 * Adds the xsd:schema element SCHEMA (from FILE, for errors and for
 * resolving xsd:import/xsd:include schemaLocation relative to FILE's
 * directory; a location that is not a relative or absolute local path --
 * http:, https:, ftp:, file: with a host -- is an error). Imported and
 * included files are parsed with sx_parse_file and added too (each file
 * once). An xsd:import with no schemaLocation only declares a namespace
 * (fine when another schema of the set defines it). Errors:
 * "FILE:LINE: message". 0 or -1. SCHEMA is only read during the call
 * (what the model needs is copied): its document may be freed at once.
 * After an error the set is unusable (later adds and xs_set_resolve fail);
 * xsd:redefine is refused, xsd:union values are taken as strings.
 */
int xs_set_add(struct xs_set *set, xmlNodePtr schema, const char *file, char *err,
               size_t errlen);
/* Resolves every reference (type=, ref=, base=, element/attribute/group/
 * attributeGroup refs, across namespaces), inlines groups, merges
 * extension content (base's particle then the extension's, in a sequence)
 * and restriction facets, compiles patterns. Unresolvable names are
 * "FILE:LINE: unknown type {ns}name". Cycles through types are allowed
 * (recursive types); cycles through groups or bases are errors. 0 or -1
 * (calling it again: the same answer). Before it returns 0, xs_find_*
 * find nothing. */
int xs_set_resolve(struct xs_set *set, char *err, size_t errlen);
struct xs_element *xs_find_element(const struct xs_set *set, const char *ns, const char *name);
struct xs_type *xs_find_type(const struct xs_set *set, const char *ns, const char *name);
/* The built-in type xsd:NAME (static storage), or NULL. */
struct xs_type *xs_builtin(const char *name);
/* Checks a simple value against T's facets and lexical space: NULL when it
 * fits, else a static or thread-local message ("not one of the enumeration
 * values", "longer than 12 characters", "not an integer"). */
const char *xs_check_value(const struct xs_type *t, const char *text, size_t len);

/* ---- the WSDL 1.1 model (wsdl.c) --------------------------------------------- */

#define WSDL_NS "http://schemas.xmlsoap.org/wsdl/"
#define WSDL_SOAP11_NS "http://schemas.xmlsoap.org/wsdl/soap/"
#define WSDL_SOAP12_NS "http://schemas.xmlsoap.org/wsdl/soap12/"
#define SOAP11_ENV_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP12_ENV_NS "http://www.w3.org/2003/05/soap-envelope"

struct wsdl_part {
	const char *name;
	struct xs_element *element;           /* element= parts (document style) */
	struct xs_type *type;                 /* type= parts (rpc style) */
};

struct wsdl_message {
	const char *ns, *name;
	struct wsdl_part *parts;
	unsigned nparts;
};

enum wsdl_style { WSDL_DOCUMENT = 1, WSDL_RPC = 2 };

struct wsdl_fault {
	const char *name;
	struct wsdl_message *msg;             /* its one part: the detail's element */
};

/* One operation as one binding (port) exposes it. */
struct wsdl_op {
	const char *name;
	const char *doc;                      /* wsdl:documentation or NULL */
	const char *action;                   /* soapAction / SOAP 1.2 action; "" when none */
	enum wsdl_style style;
	/* rpc: the wrapper's namespace (soap:body namespace=) */
	const char *rpc_ns;
	struct wsdl_message *in, *out;        /* out NULL: one-way (answered by 202/empty) */
	/* the parts soap:body names (parts=), else every part of the message */
	struct wsdl_part **in_parts, **out_parts;
	unsigned nin_parts, nout_parts;
	/*
	 * document/literal wrapped: one input part whose element has the
	 * operation's name (and, on output, one part), a complex type with a
	 * sequence: the Lua table is that element's content. Else "bare": the
	 * Lua table is keyed by part name, each part's value as its element
	 * content (one part: still keyed by the part name).
	 */
	int wrapped;
	struct wsdl_fault *faults;
	unsigned nfaults;
};

struct wsdl_port {
	const char *name;                     /* wsdl:port name */
	const char *service;                  /* its wsdl:service name */
	const char *binding;                  /* the binding's local name */
	int soap_version;                     /* 11 or 12 */
	const char *address;                  /* soap:address location, or NULL */
	struct wsdl_op *ops;
	unsigned nops;
};

struct wsdl {
	struct sp_pool *pool;                 /* everything below lives in it */
	const char *path;                     /* the main file as given (absolute) */
	const char *tns;                      /* the main file's targetNamespace */
	struct xs_set *xs;
	struct wsdl_port *ports;              /* every SOAP port of every service, in
	                                       * document order; non-SOAP ports skipped */
	unsigned nports;
	char *text;                           /* the main file's bytes (served by ?wsdl) */
	size_t text_len;
};

/*
 * Loads PATH (and its wsdl:import, xsd:import, xsd:include files, local
 * only, each parsed with sx_parse_file) into a model. rpc/encoded and
 * document/encoded bindings are refused ("FILE:LINE: operation X: use=
 * encoded is not supported"), as are a missing message, part element or
 * type, a binding with no portType, an operation the portType lacks. A WSDL
 * with no SOAP 1.1 or 1.2 port is an error. NULL with ERR
 * "FILE:LINE: message".
 */
struct wsdl *wsdl_load(const char *path, char *err, size_t errlen);
void wsdl_free(struct wsdl *w);
/* The port named NAME (NULL: the first SOAP 1.1 port, else the first). */
const struct wsdl_port *wsdl_port(const struct wsdl *w, const char *name);
const struct wsdl_op *wsdl_op(const struct wsdl_port *p, const char *name);

/* ---- envelopes and faults (envelope.c) ---------------------------------------- */

/* A SOAP version's envelope namespace and Content-Type media type. */
const char *soap_env_ns(int version);             /* 11 or 12 */
/* "text/xml; charset=utf-8" (1.1) or "application/soap+xml; charset=utf-8;
 * action=\"A\"" (1.2, action omitted when empty); into OUT (cap bytes). */
void soap_content_type(int version, const char *action, char *out, size_t cap);

/* Opens an envelope (<soapenv:Envelope xmlns:soapenv=...> [<Header>HEADER
 * </Header>] <Body>) and closes it. HEADER: XML text or NULL. */
void soap_env_open(struct sbuf *b, int version, const char *header);
void soap_env_close(struct sbuf *b, int version);

/*
 * Splits a parsed envelope: *VERSION from the Envelope's namespace, *HEADER
 * (may be NULL) and *BODY. -1 with ERR when DOC is not a SOAP envelope
 * ("not a SOAP envelope: root is {ns}x"), when Body is missing, or when
 * Body has more than one child element (other than a Fault).
 */
int soap_env_split(xmlDocPtr doc, int *version, xmlNodePtr *header, xmlNodePtr *body,
                   char *err, size_t errlen);
/* BODY's Fault element, or NULL. */
xmlNodePtr soap_fault_el(xmlNodePtr body, int version);
/*
 * Pushes the fault table (kind "soap", see the top) for FAULT; its detail
 * decoded per OP's wsdl:fault messages when one matches the detail's
 * element, else generically. Never raises for the document's content.
 */
int soap_fault_push(struct lua_State *L, xmlNodePtr fault, int version,
                    const struct wsdl_op *op, int status);
/* The same, with the model W that OP belongs to: sc_decode_element needs
 * it to decode a detail per a wsdl:fault message's schema. soap_fault_push
 * is this with W NULL, which decodes every detail generically: callers that
 * have the model (the client) call this one. */
int soap_fault_push_w(struct lua_State *L, xmlNodePtr fault, int version,
                      const struct wsdl *w, const struct wsdl_op *op, int status);
/* Pushes { kind = KIND, reason = REASON, status = STATUS or nil,
 * operation = OP or nil, version = "1.1"/"1.2" } (client-side faults). */
int soap_fault_push_simple(struct lua_State *L, const char *kind, const char *reason,
                           int status, const char *op, int version);
/* A fault envelope (the endpoint's answer): CODE is "Client"/"Server" in
 * SOAP 1.1 terms, mapped to Sender/Receiver for 1.2 (Sender/Receiver,
 * VersionMismatch, MustUnderstand accepted too, a prefix ignored; anything
 * else is Server/Receiver); SUBCODE may be NULL: 1.2 Subcode/Value as given
 * ("{uri}local" is declared), 1.1 the faultcode's dotted suffix
 * ("soapenv:Client.local"); DETAIL_XML is XML text or NULL. REASON is
 * written as text whatever it holds (control characters and bytes that
 * are not UTF-8 become '?'). */
void soap_fault_write(struct sbuf *b, int version, const char *code, const char *subcode,
                      const char *reason, const char *detail_xml);

/* ---- the codec (codec_enc.c, codec_dec.c) ----------------------------------- */

/* What is being encoded or decoded. */
enum sc_dir { SC_INPUT = 1, SC_OUTPUT = 2 };

/*
 * Appends the Body's content for OP's DIR message from the Lua table at
 * IDX (SC_INPUT: the client's request; SC_OUTPUT: the endpoint's
 * answer): namespace declarations on the element that needs them, the
 * schema's element order whatever the table's order, rpc wrapper element
 * (name OP or OP.."Response", rpc_ns) for rpc style. -1 with ERR naming
 * the field path (see the top) when the table does not fit; nothing
 * useful is in B then. Never raises (no memory: -1, "out of memory").
 */
int sc_encode(struct lua_State *L, int idx, const struct wsdl *w, const struct wsdl_op *op,
              enum sc_dir dir, struct sbuf *b, char *err, size_t errlen);
/*
 * Pushes the Lua table for BODY's content (the Body element) as OP's DIR
 * message: 1. Or pushes nothing and returns -1 with ERR when it does not
 * fit the schema (wrong wrapper element, a value not of its type, an
 * element the schema allows once given twice, a missing required element
 * -- the last for SC_INPUT only: an answer is taken as the server sends
 * it; unknown elements are skipped, not errors: servers add fields).
 * Needs at most 64 levels of Lua stack (checked). Never raises (no
 * memory: -1, "out of memory").
 */
int sc_decode(struct lua_State *L, xmlNodePtr body, const struct wsdl *w,
              const struct wsdl_op *op, enum sc_dir dir, char *err, size_t errlen);
/* Pushes EL decoded as the schema element E (its type's content, as
 * sc_decode does for a part): 1, or -1 with ERR and nothing pushed. For
 * fault details whose wsdl:fault message matches. */
int sc_decode_element(struct lua_State *L, xmlNodePtr el, const struct wsdl *w,
                      const struct xs_element *e, char *err, size_t errlen);
/* An element decoded with no schema: text -> string, children -> table
 * (repeated names -> sequences), attributes by name. For fault details
 * and xsd:any. Pushes 1 value. */
void sc_decode_any(struct lua_State *L, xmlNodePtr el, int depth);
/* The operation BODY's first element calls, for the endpoint: document
 * style by the element's QName against each op's input part element, rpc
 * by the wrapper's name; ACTION (SOAPAction or the 1.2 action parameter,
 * may be NULL or "") breaks ties and is used for bare ops with no part. */
const struct wsdl_op *sc_match_op(const struct wsdl_port *p, xmlNodePtr body,
                                  const char *action);

/* ---- wsse.c: WS-Security UsernameToken -------------------------------------- */

struct wsse {
	const char *username, *password;
	int digest;                           /* PasswordDigest: base64(sha1(nonce + created + password)) */
};
/* Appends the wsse:Security header element (a fresh 16-byte nonce and
 * created time each call). -1 on no memory / no randomness (or a control
 * character in the username or password: nothing appended then). */
int wsse_header(struct sbuf *b, const struct wsse *ws);
/* The same with a given NONCE and creation time NOW (tests). */
int wsse_header_at(struct sbuf *b, const struct wsse *ws, const unsigned char nonce[16],
                   time_t now);
/* PasswordDigest: base64(sha1(NONCE + CREATED + PASSWORD)) into OUT (28
 * characters and a NUL). 0, or -1 when SHA-1 is not available. */
int wsse_digest(const unsigned char *nonce, size_t nonce_len, const char *created,
                const char *password, char out[29]);
/* T as wsu:Created wants it: "2026-12-07T13:45:00Z" (UTC, no fraction). */
void wsse_created(time_t t, char out[21]);

/* ---- schema.c: JSON Schema for describe and OpenAPI --------------------------- */

/* Pushes a JSON Schema (Lua table: type, properties, required, items,
 * enum, minimum, maximum, minLength, maxLength, pattern, format
 * "date-time"/"date"/"byte", nullable via type = { "x", "null" },
 * description from xsd:documentation) for OP's DIR message as the Lua
 * mapping (see the top) shapes it. Recursive types: a "$ref"-free cut at
 * depth 16 ({ type = "object" }). 1 pushed. */
int schema_push(struct lua_State *L, const struct wsdl *w, const struct wsdl_op *op,
                enum sc_dir dir);
/* The same, with no Lua table nested more than MAX_TABLES levels below the
 * root (a deeper object is cut to { type = "object" }, an enum or a
 * { "x", "null" } type that would not fit is left out): route options
 * reach the OpenAPI document through the config tree, which keeps 16
 * levels. Base64Binary is { type = "string", format = "byte",
 * contentEncoding = "base64" }, hexBinary contentEncoding = "base16" (the
 * JSON text soap.expose converts to and from the bytes). 1 pushed. */
int schema_push_limited(struct lua_State *L, const struct wsdl *w, const struct wsdl_op *op,
                        enum sc_dir dir, int max_tables);

/* ---- soap.c: the services ------------------------------------------------------ */

struct soap_service {
	const char *name;                     /* the key in `services` */
	struct wsdl *w;
	const char *port;                     /* the `port` option or NULL (wsdl_port's default) */
	const char *upstream;                 /* a named upstream, or NULL */
	const char *path;                     /* with upstream: the HTTP path (option `path`,
	                                       * else soap:address's path, else "/") */
	const char *url;                      /* without upstream: option `url` or soap:address */
	uint32_t timeout_ms;                  /* option `timeout` (seconds); 0: the upstream's
	                                       * read timeout, else 30 s */
	unsigned retries;                     /* option `retries` (default 1): extra attempts,
	                                       * only for operations in `idempotent` */
	const char **idempotent;              /* option `idempotent = { "GetAccount" }` */
	unsigned nidempotent;
	struct wsse wsse;                     /* option `wsse = { username, password, digest }`;
	                                       * username NULL: none */
	struct sx_limits limits;              /* option `max_response` (bytes, default 4 MiB),
	                                       * `max_depth` (64) */
	const char **headers;                 /* option `headers = { name = value }`: extra
	                                       * HTTP headers, name, value, ... */
	unsigned nheaders;
	struct soap_metrics *metrics;         /* soap.c's series per operation */
};

struct soap_services {
	int refs;                             /* atomic */
	struct soap_service *v;
	unsigned n;
};

/* The current generation's services with one more reference (never NULL
 * after load: an empty set when none); release with soap_services_put. A
 * Lua state keeps the set it opened the module with until it closes. */
struct soap_services *soap_services_get(void);
void soap_services_put(struct soap_services *s);
const struct soap_service *soap_service_find(const struct soap_services *s, const char *name);
int soap_op_idempotent(const struct soap_service *svc, const char *op);
/* One more reference to a set already held (a call in flight keeps it). */
void soap_services_hold(struct soap_services *s);

extern pt_plugin_ctx *soap_ctx;           /* set in load */

/* What a client call ended with (portico_soap_calls_total's outcome label:
 * "ok" or the fault's kind). */
enum soap_outcome {
	SOAP_OK = 0, SOAP_FAULT, SOAP_TRANSPORT, SOAP_TIMEOUT, SOAP_HTTP, SOAP_MALFORMED,
	SOAP_INVALID, SOAP_NOUTCOMES
};
const char *soap_outcome_name(enum soap_outcome o);   /* "ok", "soap", "transport", ... */
/* Counts one call of SVC's operation OP and its time. Thread-safe. */
void soap_metric_call(const struct soap_service *svc, const char *op, enum soap_outcome o,
                      uint64_t usec);

/* ---- lmod.c and client.c: a client object ----------------------------------- */

/* The userdata soap.client returns (metatable "portico.soap.client"): what
 * a call needs, no request state, so it may be kept across requests. */
struct soap_client {
	struct soap_services *set;            /* held: SVC and PORT live in it */
	const struct soap_service *svc;
	const struct wsdl_port *port;
	uint32_t timeout_ms;                  /* the service's unless opts.timeout */
	struct wsse wsse;                     /* the service's unless opts.wsse */
	char *wsse_mem;                       /* owns opts.wsse's strings (malloc) */
};
#define SOAP_CLIENT_MT "portico.soap.client"

/* client:Op(t) with the client at 1 and T at 2: yields, then returns
 * result, nil / nil, fault / true (one-way). Raises for a call outside a
 * request's coroutine. [-0, +2, e] */
int soap_client_call(struct lua_State *L, struct soap_client *c, const struct wsdl_op *op);

/* ---- the Lua module pieces (lmod.c registers them) ----------------------------- */

int soap_lua_open(struct lua_State *L);           /* `soap` (global in route scripts too) */
int sl_expose(struct lua_State *L);               /* soap.expose(name, prefix[, opts]) */
int sl_endpoint(struct lua_State *L);             /* soap.endpoint(path, opts) */
/* soap.fault{ code = "Client" | "Server" (or Sender/Receiver), reason = "...",
 * subcode = "app:X" or nil, detail = table or string or nil }: raises that
 * table (checked) as the error; a soap.endpoint handler raising it answers
 * that fault. endpoint.c. [-1, +0, v] */
int sl_fault(struct lua_State *L);
/* endpoint_fault.c, for endpoint.c: fault(version, code, subcode, reason,
 * detail) -> envelope, HTTP status, content type [-5, +3, m]; the
 * metatable of soap.fault's tables [-0, +1, m]. */
#define SOAP_FAULT_MT "portico.soap.fault"
int ep_fault_doc(struct lua_State *L);
void ep_fault_mt(struct lua_State *L);
/* Registry key of the soap.null sentinel (a light userdata); decoders never
 * produce it, encoders treat it as xsi:nil. */
extern const char sl_null_key;
#define SL_IS_NULL(L, idx) (lua_touserdata((L), (idx)) == (void *)&sl_null_key)

#endif
