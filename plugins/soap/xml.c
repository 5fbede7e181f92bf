/*
 * xml.c - hardened XML parsing for the SOAP plugin (see soap.h), and the
 * element navigation helpers every other part uses.
 *
 * Two independent gates stand between a hostile document and libxml2
 * 2.9.14:
 *
 *  1. A lexical scan (sx_scan, xml_scan.c) over the raw bytes, linear and allocation
 *     free, BEFORE libxml2 sees anything. It exists because of one fact of
 *     2.9.14: xmlParseStartTag2 checks attribute uniqueness with a nested
 *     loop over the whole start tag (O(n^2)) before any SAX callback runs, so
 *     a limit counted in startElementNs comes too late for a start tag with
 *     a million attributes. The scan counts attributes per start tag, refuses
 *     NUL characters, refuses any "<!" that is not a comment or CDATA section
 *     (that is: any DOCTYPE, and any markup declaration) and refuses encoding
 *     declarations outside a small allowlist (below). It understands
 *     comments, CDATA sections, PIs and quoted attribute values, so text in
 *     them cannot fool it; on a well-formed DOCTYPE-free document it refuses
 *     nothing (the only "<!" such a document has open a comment or a CDATA
 *     section, and "<" cannot occur in an attribute value); what it calls
 *     malformed, libxml2 would refuse too.
 *
 *  2. libxml2 itself, with XML_PARSE_NONET only (no NOENT, no HUGE, no
 *     DTDLOAD/DTDVALID, no XINCLUDE, and xmlXIncludeProcess is never called:
 *     an xi:include element stays an ordinary element) and SAX hooks on the
 *     context's own handler table: internalSubset (called once the DOCTYPE's
 *     name and external id are read, before "[" and before any external
 *     subset could load) stops the parser, as do every declaration hook;
 *     getEntity only knows the five predefined entities; resolveEntity never
 *     loads anything. The DOCTYPE hook is the authority (it is the parser's
 *     own view of the document, nothing can hide from it); the scan refuses
 *     DOCTYPE too because it passes the place anyway. The element, text,
 *     comment and PI hooks count depth, nodes, attributes and text lengths
 *     and stop the parser as soon as a limit is passed, before the node is
 *     built, so memory stays bounded by the limits.
 *
 * Encodings: libxml2 switches to whatever an encoding declaration names
 * (iconv), and an encoding where ASCII bytes do not mean ASCII (UTF-7,
 * EBCDIC, UCS-4) would let markup past the scan unseen. Allowed: UTF-8 (with
 * or without BOM), UTF-16 LE/BE (detected by BOM or "<?"), and declarations
 * of US-ASCII, ISO-8859-1..16, windows-1250..1258 (ASCII-compatible single
 * byte encodings: the scan reads them as bytes and is right). Any other
 * declaration is refused ("encoding X is not supported").
 *
 * Errors go through the context's structured error handler (sax->serror,
 * per context: thread-safe; xmlSetGenericErrorFunc is never called): the
 * first error at level ERROR or above refuses the document, namespace
 * errors (an undeclared prefix) included.
 */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include "soap.h"

const struct sx_limits sx_default_limits = {
	.max_bytes = 4u << 20,
	.max_depth = 64,
	.max_nodes = 200000,
	.max_attrs = 64,
	.max_text = 1u << 20,
};

/* For tests only: what the last sx_parse on this thread did (units the scan
 * read, SAX events seen, declarations met, bytes given to libxml2), and a switch that skips the scan
 * so the parser-side gate can be tested alone. Production code never sets it. */
struct sx_stats {
	size_t scanned, events, decls, fed;
};
__thread struct sx_stats sx_last_stats;
int sx_test_skip_scan;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_parser(void)
{
	xmlInitParser();
}

/* ---- the parser-side gate ---------------------------------------------------------- */

struct pstate {
	struct sx_limits lim;
	unsigned depth;
	size_t nodes, text;
	int in_text;
	int refused;             /* a limit or a policy stopped the parser */
	int line;                /* of the first error */
	int parser_msg;          /* the message is libxml2's */
	char msg[240];
};

static struct pstate *pst(void *ctx)
{
	return ((xmlParserCtxtPtr)ctx)->_private;
}

static void refuse(void *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Stops the parser for a limit or a policy. Called from SAX callbacks only,
 * where xmlStopParser is meant to be used. */
static void refuse(void *ctx, const char *fmt, ...)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct pstate *st = pst(ctx);
	va_list ap;

	if (!st->refused && !st->msg[0]) {
		va_start(ap, fmt);
		vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
		va_end(ap);
		st->line = xmlSAX2GetLineNumber(ctx);
	}
	st->refused = 1;
	xmlStopParser(ctxt);
}

/* 1 when the document is already refused: a limit, or an error the
 * handler below recorded (then the parser is stopped here, in a callback). */
static int stopped(void *ctx)
{
	struct pstate *st = pst(ctx);

	sx_last_stats.events++;
	if (st->refused)
		return 1;
	if (st->msg[0]) {
		st->refused = 1;
		xmlStopParser((xmlParserCtxtPtr)ctx);
		return 1;
	}
	return 0;
}

static int add_nodes(void *ctx, size_t n)
{
	struct pstate *st = pst(ctx);

	st->nodes += n;
	if (st->nodes > st->lim.max_nodes) {
		refuse(ctx, "more than %zu nodes", st->lim.max_nodes);
		return -1;
	}
	return 0;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                     int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
	struct pstate *st = pst(ctx);

	if (stopped(ctx))
		return;
	if (st->depth + 1 > st->lim.max_depth) {
		refuse(ctx, "nesting deeper than %u", st->lim.max_depth);
		return;
	}
	if ((unsigned)nb_attributes + (unsigned)nb_namespaces > st->lim.max_attrs) {
		refuse(ctx, "more than %u attributes on an element", st->lim.max_attrs);
		return;
	}
	if (add_nodes(ctx, 1 + (size_t)nb_attributes + (size_t)nb_namespaces) != 0)
		return;
	for (int k = 0; k < nb_attributes; k++) {
		size_t vlen = (size_t)(attributes[5 * k + 4] - attributes[5 * k + 3]);

		if (vlen > st->lim.max_text) {
			refuse(ctx, "attribute value longer than %zu bytes", st->lim.max_text);
			return;
		}
	}
	st->depth++;
	st->in_text = 0;
	xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces,
	                      nb_attributes, nb_defaulted, attributes);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                   const xmlChar *uri)
{
	struct pstate *st = pst(ctx);

	if (stopped(ctx))
		return;
	if (st->depth)
		st->depth--;
	st->in_text = 0;
	xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

/* Text and CDATA: one run of them counts as one node, its length as one. */
static int text_run(void *ctx, int len)
{
	struct pstate *st = pst(ctx);

	if (stopped(ctx))
		return -1;
	if (!st->in_text) {
		if (add_nodes(ctx, 1) != 0)
			return -1;
		st->in_text = 1;
		st->text = 0;
	}
	st->text += (size_t)len;
	if (st->text > st->lim.max_text) {
		refuse(ctx, "text longer than %zu bytes", st->lim.max_text);
		return -1;
	}
	return 0;
}

static void on_chars(void *ctx, const xmlChar *ch, int len)
{
	if (text_run(ctx, len) == 0)
		xmlSAX2Characters(ctx, ch, len);
}

static void on_cdata(void *ctx, const xmlChar *ch, int len)
{
	if (text_run(ctx, len) == 0)
		xmlSAX2CDataBlock(ctx, ch, len);
}

static int other_node(void *ctx, const xmlChar *s)
{
	struct pstate *st = pst(ctx);

	if (stopped(ctx))
		return -1;
	st->in_text = 0;
	if (add_nodes(ctx, 1) != 0)
		return -1;
	if (s && strlen((const char *)s) > st->lim.max_text) {
		refuse(ctx, "comment or processing instruction longer than %zu bytes",
		       st->lim.max_text);
		return -1;
	}
	return 0;
}

static void on_comment(void *ctx, const xmlChar *value)
{
	if (other_node(ctx, value) == 0)
		xmlSAX2Comment(ctx, value);
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	if (other_node(ctx, data) == 0)
		xmlSAX2ProcessingInstruction(ctx, target, data);
}

static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
	(void)name, (void)ext, (void)sys;
	sx_last_stats.decls++;
	refuse(ctx, "DOCTYPE is not allowed");
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *pub,
                           const xmlChar *sys, xmlChar *content)
{
	(void)name, (void)type, (void)pub, (void)sys, (void)content;
	sx_last_stats.decls++;
	refuse(ctx, "DOCTYPE is not allowed");
}

static void on_notation_decl(void *ctx, const xmlChar *name, const xmlChar *pub,
                             const xmlChar *sys)
{
	(void)name, (void)pub, (void)sys;
	sx_last_stats.decls++;
	refuse(ctx, "DOCTYPE is not allowed");
}

static void on_attr_decl(void *ctx, const xmlChar *elem, const xmlChar *name, int type,
                         int def, const xmlChar *defv, xmlEnumerationPtr tree)
{
	(void)elem, (void)name, (void)type, (void)def, (void)defv;
	xmlFreeEnumeration(tree);   /* the callee owns it */
	sx_last_stats.decls++;
	refuse(ctx, "DOCTYPE is not allowed");
}

static void on_element_decl(void *ctx, const xmlChar *name, int type,
                            xmlElementContentPtr content)
{
	(void)name, (void)type, (void)content;
	sx_last_stats.decls++;
	refuse(ctx, "DOCTYPE is not allowed");
}

static void on_unparsed_decl(void *ctx, const xmlChar *name, const xmlChar *pub,
                             const xmlChar *sys, const xmlChar *notation)
{
	(void)name, (void)pub, (void)sys, (void)notation;
	sx_last_stats.decls++;
	refuse(ctx, "DOCTYPE is not allowed");
}

static void on_reference(void *ctx, const xmlChar *name)
{
	(void)name;
	refuse(ctx, "entity references are not allowed");
}

static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
	(void)ctx;
	return xmlGetPredefinedEntity(name);
}

static xmlEntityPtr on_get_pentity(void *ctx, const xmlChar *name)
{
	(void)ctx, (void)name;
	return NULL;
}

static xmlParserInputPtr on_resolve(void *ctx, const xmlChar *pub, const xmlChar *sys)
{
	(void)pub, (void)sys;
	refuse(ctx, "external entities are not allowed");
	return NULL;
}

/*
 * The first error at level ERROR or above refuses the document. libxml2
 * 2.9.14 goes on after most errors (SAX disabled), and where it resumes
 * need not be where the scan thought markup was (a start tag the scan took
 * for the inside of something else would reach the O(n^2) attribute check),
 * so the input feed (feed_read) ends at the next read. Not xmlStopParser
 * here: errors are raised in the middle of parse functions that still read
 * their input, and it frees the input; nor instate = XML_PARSER_EOF alone:
 * the attribute parser resets it.
 */
static void on_error(void *ctx, xmlErrorPtr e)
{
	struct pstate *st;
	size_t n;

	if (!ctx || !e || e->level < XML_ERR_ERROR)
		return;
	st = pst(ctx);
	if (st->msg[0])
		return;
	snprintf(st->msg, sizeof(st->msg), "%s", e->message ? e->message : "malformed XML");
	n = strlen(st->msg);
	while (n && (st->msg[n - 1] == '\n' || st->msg[n - 1] == ' '))
		st->msg[--n] = '\0';
	st->line = e->line;
	st->parser_msg = 1;
}

/* The document, given to libxml2 in chunks of at most FEED_CHUNK bytes so
 * that after an error at most one more chunk is parsed (SAX disabled):
 * bounded work whatever libxml2 does after the error. */
#define FEED_CHUNK 4096

struct feed {
	const char *p;
	size_t len, off;
	const struct pstate *st;
};

static int feed_read(void *ctx, char *buf, int len)
{
	struct feed *f = ctx;
	size_t n = f->len - f->off;

	if (f->st->msg[0] || f->st->refused || len <= 0)
		return 0;               /* refused: the parser sees the end now */
	if (n > (size_t)len)
		n = (size_t)len;
	if (n > FEED_CHUNK)
		n = FEED_CHUNK;
	memcpy(buf, f->p + f->off, n);
	f->off += n;
	sx_last_stats.fed = f->off;
	return (int)n;
}

static int feed_close(void *ctx)
{
	(void)ctx;
	return 0;
}

static void hook_sax(xmlSAXHandlerPtr sax)
{
	sax->startElementNs = on_start;
	sax->endElementNs = on_end;
	sax->characters = on_chars;
	sax->ignorableWhitespace = on_chars;
	sax->cdataBlock = on_cdata;
	sax->comment = on_comment;
	sax->processingInstruction = on_pi;
	sax->internalSubset = on_doctype;
	sax->externalSubset = on_doctype;
	sax->entityDecl = on_entity_decl;
	sax->notationDecl = on_notation_decl;
	sax->attributeDecl = on_attr_decl;
	sax->elementDecl = on_element_decl;
	sax->unparsedEntityDecl = on_unparsed_decl;
	sax->reference = on_reference;
	sax->getEntity = on_get_entity;
	sax->getParameterEntity = on_get_pentity;
	sax->resolveEntity = on_resolve;
	sax->serror = on_error;
	sax->warning = NULL;
	sax->error = NULL;
	sax->fatalError = NULL;
}

static void limits_of(const struct sx_limits *in, struct sx_limits *out)
{
	*out = in ? *in : sx_default_limits;
	if (!out->max_bytes)
		out->max_bytes = sx_default_limits.max_bytes;
	if (!out->max_depth)
		out->max_depth = sx_default_limits.max_depth;
	if (!out->max_nodes)
		out->max_nodes = sx_default_limits.max_nodes;
	if (!out->max_attrs)
		out->max_attrs = sx_default_limits.max_attrs;
	if (!out->max_text)
		out->max_text = sx_default_limits.max_text;
}

/*
 * The common path: BUF/LEN under LIMITS, URL (or NULL) naming it for
 * libxml2. NULL with *LINE (0: none), MSG and *PARSER_MSG set.
 */
static xmlDocPtr parse(const char *buf, size_t len, const struct sx_limits *limits,
                       const char *url, int *line, char *msg, size_t msglen)
{
	struct pstate st;
	struct feed feed;
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;

	memset(&sx_last_stats, 0, sizeof(sx_last_stats));
	memset(&st, 0, sizeof(st));
	limits_of(limits, &st.lim);
	*line = 0;
	if (len == 0) {
		snprintf(msg, msglen, "empty document");
		return NULL;
	}
	if (len > st.lim.max_bytes || len > INT32_MAX) {
		snprintf(msg, msglen, "document larger than %zu bytes", st.lim.max_bytes);
		return NULL;
	}
	if (!sx_test_skip_scan &&
	    sx_scan(buf, len, st.lim.max_attrs, msg, msglen, &sx_last_stats.scanned) != 0)
		return NULL;
	pthread_once(&init_once, init_parser);
	if (!(ctxt = xmlNewParserCtxt())) {
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	hook_sax(ctxt->sax);
	ctxt->_private = &st;
	feed = (struct feed){ buf, len, 0, &st };
	doc = xmlCtxtReadIO(ctxt, feed_read, feed_close, &feed, url, NULL, XML_PARSE_NONET);
	if (st.refused || st.msg[0] || !doc) {
		xmlFreeDoc(doc);
		doc = NULL;
		if (!st.msg[0])
			snprintf(st.msg, sizeof(st.msg), "malformed XML");
		*line = st.parser_msg ? st.line : 0;
		snprintf(msg, msglen, "%s", st.msg);
	}
	xmlFreeParserCtxt(ctxt);
	return doc;
}

xmlDocPtr sx_parse(const char *buf, size_t len, const struct sx_limits *limits,
                   const char *what, char *err, size_t errlen)
{
	char msg[256];
	int line;
	xmlDocPtr doc = parse(buf, len, limits, NULL, &line, msg, sizeof(msg));

	if (doc)
		return doc;
	if (line > 0)
		snprintf(err, errlen, "line %d: %s", line, msg);
	else
		snprintf(err, errlen, "%s", msg);
	if (what && soap_api)
		soap_api->log(NULL, PT_LOG_WARN, "soap: %s refused: %s", what, err);
	return NULL;
}

xmlDocPtr sx_parse_file(const char *path, const struct sx_limits *limits, char *err,
                        size_t errlen)
{
	struct sx_limits lim;
	char msg[256], *buf;
	size_t len = 0, cap;
	int line;
	FILE *f;
	xmlDocPtr doc;

	limits_of(limits, &lim);
	if (!(f = fopen(path, "rb"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	cap = lim.max_bytes + 1;       /* one more: to see that it is too large */
	if (!(buf = malloc(cap))) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	len = fread(buf, 1, cap, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	doc = parse(buf, len, &lim, path, &line, msg, sizeof(msg));
	free(buf);
	if (doc)
		return doc;
	if (line > 0)
		snprintf(err, errlen, "%s:%d: %s", path, line, msg);
	else if (!strncmp(msg, "line ", 5))
		snprintf(err, errlen, "%s:%s", path, msg + 5);   /* the scan's "line N: x" */
	else
		snprintf(err, errlen, "%s: %s", path, msg);
	return NULL;
}

/* ---- navigation ------------------------------------------------------------------- */

static xmlNodePtr skip_to_el(xmlNodePtr n)
{
	while (n && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

xmlNodePtr sx_first_el(xmlNodePtr parent)
{
	return parent ? skip_to_el(parent->children) : NULL;
}

xmlNodePtr sx_next_el(xmlNodePtr node)
{
	return node ? skip_to_el(node->next) : NULL;
}

const char *sx_ns(xmlNodePtr node)
{
	return node && node->ns && node->ns->href ? (const char *)node->ns->href : NULL;
}

int sx_is(xmlNodePtr node, const char *ns, const char *name)
{
	const char *nns;

	if (!node || node->type != XML_ELEMENT_NODE || !node->name ||
	    strcmp((const char *)node->name, name) != 0)
		return 0;
	nns = sx_ns(node);
	if (!ns)
		return nns == NULL || !*nns;
	return nns && !strcmp(nns, ns);
}

const char *sx_attr(xmlNodePtr node, const char *ns, const char *name)
{
	if (!node || node->type != XML_ELEMENT_NODE)
		return NULL;
	for (xmlAttrPtr a = node->properties; a; a = a->next) {
		const char *ans = a->ns && a->ns->href ? (const char *)a->ns->href : NULL;

		if (strcmp((const char *)a->name, name) != 0)
			continue;
		if (ns ? !ans || strcmp(ans, ns) != 0 : ans != NULL)
			continue;
		if (!a->children)
			return "";
		/* the parser makes one text node of a value (no entities here) */
		return a->children->content ? (const char *)a->children->content : "";
	}
	return NULL;
}

char *sx_text(xmlNodePtr node)
{
	size_t len = 0;
	char *s;

	if (!node)
		return calloc(1, 1);
	for (xmlNodePtr c = node->children; c; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			len += strlen((const char *)c->content);
	if (!(s = malloc(len + 1)))
		return NULL;
	len = 0;
	for (xmlNodePtr c = node->children; c; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
			size_t n = strlen((const char *)c->content);

			memcpy(s + len, c->content, n);
			len += n;
		}
	s[len] = '\0';
	return s;
}

int sx_qname(xmlNodePtr node, const char *qname, int default_ns, const char **ns,
             const char **local)
{
	const char *colon = strchr(qname, ':');
	xmlNsPtr x;

	*ns = NULL;
	*local = qname;
	if (!node)
		return colon ? -1 : 0;
	if (!colon) {
		if (default_ns && (x = xmlSearchNs(node->doc, node, NULL)) && x->href && *x->href)
			*ns = (const char *)x->href;
		return 0;
	}
	{
		size_t plen = (size_t)(colon - qname);
		xmlChar *prefix;

		if (plen == 0 || !colon[1] || strchr(colon + 1, ':'))
			return -1;
		if (!(prefix = xmlStrndup((const xmlChar *)qname, (int)plen)))
			return -1;
		x = xmlSearchNs(node->doc, node, prefix);
		xmlFree(prefix);
	}
	if (!x || !x->href)
		return -1;
	*ns = (const char *)x->href;
	*local = colon + 1;
	return 0;
}
