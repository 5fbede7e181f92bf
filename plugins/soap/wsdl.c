/*
 * wsdl.c - WSDL 1.1 loading (see soap.h, "the WSDL 1.1 model").
 *
 * wsdl_load reads the main file and every file it reaches through
 * wsdl:import (local paths only, each file once), hands every xsd:schema of
 * wsdl:types to the schema set, then walks the services: each port whose
 * binding carries soap:binding (SOAP 1.1) or soap12:binding (SOAP 1.2)
 * becomes a wsdl_port with the binding's operations, their messages
 * resolved against the schema. Ports of other bindings (http:binding, a
 * non-HTTP transport) are skipped. Everything kept lives in the model's
 * pool; the parsed documents are freed before wsdl_load returns.
 *
 * Errors are "FILE:LINE: message" naming the thing (message, part,
 * binding, portType, operation) and its QName as {namespace}local.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "soap.h"

#define MAX_FILES 256                     /* wsdl:import files per model */
#define SOAP_HTTP_TRANSPORT "http://schemas.xmlsoap.org/soap/http"
#define SOAP12_HTTP_TRANSPORT "http://www.w3.org/2003/05/soap/bindings/HTTP/"

struct wfile {
	const char *path;                     /* as built from the importer's dir (errors) */
	const char *real;                     /* realpath: a file is loaded once */
	const char *tns;                      /* its definitions' targetNamespace or NULL */
	xmlDocPtr doc;
};

/* A named top-level definition (message, portType, binding) of some file. */
struct defn {
	const char *ns, *name;                /* borrowed from the document */
	xmlNodePtr node;
	struct wfile *f;
	void *built;                          /* message: its wsdl_message; binding: struct bind */
	int building;
};

struct defs {
	struct defn *v;
	size_t n, cap;
};

/* A binding's operations, built once however many ports use it. */
struct bind {
	int version;                          /* 11, 12; 0: not a SOAP binding */
	int http;                             /* transport= HTTP (or none given) */
	struct wsdl_op *ops;
	unsigned nops;
};

struct ld {
	struct wsdl *w;
	struct wfile *files;
	size_t nfiles;
	struct defs msgs, ptypes, binds;
	char *err;
	size_t errlen;
};

/* ---- errors and small helpers ---------------------------------------------- */

static int fail(struct ld *ld, const struct wfile *f, xmlNodePtr node, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct ld *ld, const struct wfile *f, xmlNodePtr node, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ld->errlen)
		return -1;
	n = node ? snprintf(ld->err, ld->errlen, "%s:%ld: ", f->path, xmlGetLineNo(node))
	         : snprintf(ld->err, ld->errlen, "%s: ", f->path);
	if (n < 0 || (size_t)n >= ld->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

static int oom(struct ld *ld)
{
	if (ld->errlen)
		snprintf(ld->err, ld->errlen, "%s: out of memory", ld->files ? ld->files[0].path : "wsdl");
	return -1;
}

/* "{ns}local" or "local", for messages; a rotating set of static buffers is
 * enough because at most three appear in one message. */
static const char *qn(const char *ns, const char *local)
{
	static __thread char buf[3][512];
	static __thread unsigned i;
	char *b = buf[i++ % 3];

	if (ns && *ns)
		snprintf(b, sizeof(buf[0]), "{%s}%s", ns, local ? local : "");
	else
		snprintf(b, sizeof(buf[0]), "%s", local ? local : "");
	return b;
}

static int ns_eq(const char *a, const char *b)
{
	if (!a || !*a)
		return !b || !*b;
	return b && strcmp(a, b) == 0;
}

static int wsdl_is(xmlNodePtr n, const char *name)
{
	return sx_is(n, WSDL_NS, name);
}

/* The SOAP 1.1 or 1.2 binding element NAME (operation, body, fault,
 * address) under PARENT in VERSION's namespace. */
static xmlNodePtr soap_child(xmlNodePtr parent, int version, const char *name)
{
	const char *ns = version == 12 ? WSDL_SOAP12_NS : WSDL_SOAP11_NS;
	xmlNodePtr c;

	for (c = sx_first_el(parent); c; c = sx_next_el(c))
		if (sx_is(c, ns, name))
			return c;
	return NULL;
}

static xmlNodePtr wsdl_child(xmlNodePtr parent, const char *name)
{
	xmlNodePtr c;

	for (c = sx_first_el(parent); c; c = sx_next_el(c))
		if (wsdl_is(c, name))
			return c;
	return NULL;
}

/* The trimmed text of N's wsdl:documentation child, in the pool, or NULL. */
static const char *doc_text(struct ld *ld, xmlNodePtr n)
{
	xmlNodePtr d = wsdl_child(n, "documentation");
	char *t, *s, *e;
	const char *out;

	if (!d || !(t = sx_text(d)))
		return NULL;
	for (s = t; *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'; s++)
		;
	for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
	                                  e[-1] == '\r'); e--)
		;
	out = e > s ? sp_strndup(ld->w->pool, s, e - s) : NULL;
	free(t);
	return out;
}

/* ---- files and wsdl:import ---------------------------------------------------- */

/*
 * The local path LOC names, relative to FROM's directory, malloc'd; NULL
 * with *WHY set when LOC is a URL (http:, https:, ftp:, any other scheme,
 * file: with a host). file:///x, file://localhost/x and file:/x name the
 * local file /x (no %-decoding: write such names as plain paths).
 */
static char *local_path(const char *from, const char *loc, const char **why)
{
	const char *p = loc, *slash;
	size_t dl;
	char *out;

	*why = NULL;
	if (!*loc) {
		*why = "an empty location";
		return NULL;
	}
	for (p = loc; *p && *p != ':' && *p != '/'; p++)
		;
	if (*p == ':') {
		if (p - loc != 4 || strncasecmp(loc, "file", 4) != 0) {
			*why = "not a local file (only local paths are loaded)";
			return NULL;
		}
		loc = p + 1;
		if (loc[0] == '/' && loc[1] == '/') {
			loc += 2;
			if (strncasecmp(loc, "localhost/", 10) == 0)
				loc += 9;
			if (*loc != '/') {
				*why = "a file: URL with a host (only local paths are loaded)";
				return NULL;
			}
		}
		if (*loc != '/') {
			*why = "a relative file: URL";
			return NULL;
		}
	}
	if (*loc == '/' || !(slash = strrchr(from, '/')))
		return strdup(loc);
	dl = slash - from + 1;
	if (!(out = malloc(dl + strlen(loc) + 1)))
		return NULL;
	memcpy(out, from, dl);
	strcpy(out + dl, loc);
	return out;
}

/* Adds PATH (a file not loaded yet) to the list: parsed, its root checked.
 * FROM/AT: the importing file and element, for errors (NULL: the main file). */
static int file_add(struct ld *ld, const char *path, const char *real, struct wfile *from,
                    xmlNodePtr at)
{
	struct wfile *f;
	char perr[512];
	xmlDocPtr doc;
	xmlNodePtr root;

	if (ld->nfiles >= MAX_FILES)
		return fail(ld, from, at, "more than %d files imported", MAX_FILES);
	if (!(doc = sx_parse_file(path, NULL, perr, sizeof(perr)))) {
		if (from)
			return fail(ld, from, at, "wsdl:import: %s", perr);
		if (ld->errlen)
			snprintf(ld->err, ld->errlen, "%s", perr);
		return -1;
	}
	f = &ld->files[ld->nfiles++];
	f->doc = doc;
	if (!(f->path = sp_strdup(ld->w->pool, path)) || !(f->real = sp_strdup(ld->w->pool, real)))
		return oom(ld);
	root = xmlDocGetRootElement(doc);
	if (wsdl_is(root, "definitions")) {
		f->tns = sx_attr(root, NULL, "targetNamespace");
		return 0;
	}
	/* a schema imported with wsdl:import (not WS-I, but common) */
	if (from && sx_is(root, XS_NS, "schema"))
		return 0;
	if (sx_is(root, "http://www.w3.org/ns/wsdl", "description"))
		return fail(ld, f, root, "WSDL 2.0 is not supported (a WSDL 1.1 wsdl:definitions "
		            "is needed)");
	return fail(ld, f, root, "not a WSDL 1.1 document: the root element is %s",
	            qn(sx_ns(root), root ? (const char *)root->name : ""));
}

/* Loads FILE's wsdl:import files not loaded yet (appended to the list, so
 * the caller's loop over the list reaches theirs in turn). */
static int imports_load(struct ld *ld, size_t fi)
{
	xmlNodePtr root = xmlDocGetRootElement(ld->files[fi].doc), c;

	if (!wsdl_is(root, "definitions"))
		return 0;
	for (c = sx_first_el(root); c; c = sx_next_el(c)) {
		struct wfile *f = &ld->files[fi];
		const char *loc, *why;
		char *path, real[PATH_MAX];
		size_t i;
		int rc;

		if (!wsdl_is(c, "import"))
			continue;
		if (!(loc = sx_attr(c, NULL, "location")))
			return fail(ld, f, c, "wsdl:import of namespace \"%s\" has no location",
			            sx_attr(c, NULL, "namespace") ? sx_attr(c, NULL, "namespace") : "");
		if (!(path = local_path(f->path, loc, &why)))
			return why ? fail(ld, f, c, "wsdl:import location=\"%s\": %s", loc, why)
			           : oom(ld);
		if (!realpath(path, real)) {
			rc = fail(ld, f, c, "wsdl:import location=\"%s\": %s: %s", loc, path,
			          strerror(errno));
			free(path);
			return rc;
		}
		for (i = 0; i < ld->nfiles && strcmp(ld->files[i].real, real) != 0; i++)
			;
		rc = i < ld->nfiles ? 0 : file_add(ld, path, real, f, c);
		free(path);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- named definitions ----------------------------------------------------------- */

static int defs_add(struct ld *ld, struct defs *d, const char *what, struct wfile *f,
                    xmlNodePtr node)
{
	const char *name = sx_attr(node, NULL, "name");
	size_t i;

	if (!name || !*name)
		return fail(ld, f, node, "wsdl:%s without a name", what);
	for (i = 0; i < d->n; i++)
		if (ns_eq(d->v[i].ns, f->tns) && strcmp(d->v[i].name, name) == 0)
			return fail(ld, f, node, "%s %s is defined twice (first at %s:%ld)", what,
			            qn(f->tns, name), d->v[i].f->path, xmlGetLineNo(d->v[i].node));
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct defn *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return oom(ld);
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n++] = (struct defn){ .ns = f->tns, .name = name, .node = node, .f = f };
	return 0;
}

static struct defn *defs_find(struct defs *d, const char *ns, const char *name)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (ns_eq(d->v[i].ns, ns) && strcmp(d->v[i].name, name) == 0)
			return &d->v[i];
	return NULL;
}

/*
 * Resolves the QName attribute ATTR of NODE (in F) to a definition of D:
 * NULL with the error written when it is absent, has an undeclared prefix
 * or names nothing. WHO says whose attribute it is ("port X").
 */
static struct defn *ref(struct ld *ld, struct defs *d, const char *what, struct wfile *f,
                        xmlNodePtr node, const char *attr, const char *who)
{
	const char *q = sx_attr(node, NULL, attr), *ns, *local;
	struct defn *x;

	if (!q) {
		fail(ld, f, node, "%s: no %s attribute", who, attr);
		return NULL;
	}
	if (sx_qname(node, q, 1, &ns, &local) != 0) {
		fail(ld, f, node, "%s: %s=\"%s\": undeclared namespace prefix", who, attr, q);
		return NULL;
	}
	if (!(x = defs_find(d, ns, local)))
		fail(ld, f, node, "%s: unknown %s %s", who, what, qn(ns, local));
	return x;
}

/* Collects every file's types (into the schema set), messages, portTypes
 * and bindings. */
static int defs_collect(struct ld *ld)
{
	size_t fi;

	for (fi = 0; fi < ld->nfiles; fi++) {
		struct wfile *f = &ld->files[fi];
		xmlNodePtr root = xmlDocGetRootElement(f->doc), c, s;
		int rc = 0;

		if (sx_is(root, XS_NS, "schema")) {
			if (xs_set_add(ld->w->xs, root, f->path, ld->err, ld->errlen) != 0)
				return -1;
			continue;
		}
		for (c = sx_first_el(root); c && !rc; c = sx_next_el(c)) {
			if (wsdl_is(c, "types")) {
				for (s = sx_first_el(c); s; s = sx_next_el(s))
					if (sx_is(s, XS_NS, "schema") &&
					    xs_set_add(ld->w->xs, s, f->path, ld->err, ld->errlen) != 0)
						return -1;
			} else if (wsdl_is(c, "message")) {
				rc = defs_add(ld, &ld->msgs, "message", f, c);
			} else if (wsdl_is(c, "portType")) {
				rc = defs_add(ld, &ld->ptypes, "portType", f, c);
			} else if (wsdl_is(c, "binding")) {
				rc = defs_add(ld, &ld->binds, "binding", f, c);
			}
		}
		if (rc)
			return rc;
	}
	return xs_set_resolve(ld->w->xs, ld->err, ld->errlen);
}

/* ---- messages ------------------------------------------------------------------------ */

/* D's message (built on first use): each part's element= or type=
 * resolved against the schema set. */
static struct wsdl_message *msg_build(struct ld *ld, struct defn *d)
{
	struct wsdl_message *m;
	xmlNodePtr c;
	unsigned n = 0;

	if (d->built)
		return d->built;
	if (!(m = sp_alloc(ld->w->pool, sizeof(*m))) ||
	    !(m->ns = sp_strdup(ld->w->pool, d->ns ? d->ns : "")) ||
	    !(m->name = sp_strdup(ld->w->pool, d->name)))
		return oom(ld), NULL;
	if (!*m->ns)
		m->ns = NULL;
	for (c = sx_first_el(d->node); c; c = sx_next_el(c))
		n += wsdl_is(c, "part");
	if (n && !(m->parts = sp_alloc(ld->w->pool, n * sizeof(*m->parts))))
		return oom(ld), NULL;
	for (c = sx_first_el(d->node); c; c = sx_next_el(c)) {
		struct wsdl_part *p = &m->parts[m->nparts];
		const char *name = sx_attr(c, NULL, "name"), *el = sx_attr(c, NULL, "element");
		const char *ty = sx_attr(c, NULL, "type"), *ns, *local;
		unsigned i;

		if (!wsdl_is(c, "part"))
			continue;
		if (!name || !*name)
			return fail(ld, d->f, c, "message %s: a part without a name",
			            qn(d->ns, d->name)), NULL;
		for (i = 0; i < m->nparts; i++)
			if (strcmp(m->parts[i].name, name) == 0)
				return fail(ld, d->f, c, "message %s: part %s appears twice",
				            qn(d->ns, d->name), name), NULL;
		if (!el == !ty)
			return fail(ld, d->f, c, "message %s part %s: needs one of element= or type=",
			            qn(d->ns, d->name), name), NULL;
		if (sx_qname(c, el ? el : ty, 1, &ns, &local) != 0)
			return fail(ld, d->f, c, "message %s part %s: %s=\"%s\": undeclared namespace "
			            "prefix", qn(d->ns, d->name), name, el ? "element" : "type",
			            el ? el : ty), NULL;
		if (el && !(p->element = xs_find_element(ld->w->xs, ns, local)))
			return fail(ld, d->f, c, "message %s part %s: unknown element %s",
			            qn(d->ns, d->name), name, qn(ns, local)), NULL;
		if (ty && !(p->type = xs_find_type(ld->w->xs, ns, local)) &&
		    !(ns_eq(ns, XS_NS) && (p->type = xs_builtin(local))))
			return fail(ld, d->f, c, "message %s part %s: unknown type %s",
			            qn(d->ns, d->name), name, qn(ns, local)), NULL;
		if (!(p->name = sp_strdup(ld->w->pool, name)))
			return oom(ld), NULL;
		m->nparts++;
	}
	d->built = m;
	return m;
}

/* ---- bindings and their operations ------------------------------------------------- */

/* The portType operation BOP (a binding operation named NAME) binds: by
 * name, and by its input's name when the portType overloads NAME. */
static xmlNodePtr pt_op_find(xmlNodePtr pt, const char *name, xmlNodePtr bop)
{
	xmlNodePtr c, first = NULL, bin = wsdl_child(bop, "input");
	const char *iname = bin ? sx_attr(bin, NULL, "name") : NULL;

	for (c = sx_first_el(pt); c; c = sx_next_el(c)) {
		xmlNodePtr in;
		const char *n;

		if (!wsdl_is(c, "operation") || !(n = sx_attr(c, NULL, "name")) || strcmp(n, name))
			continue;
		if (!first)
			first = c;
		in = wsdl_child(c, "input");
		if (iname && in && sx_attr(in, NULL, "name") &&
		    strcmp(sx_attr(in, NULL, "name"), iname) == 0)
			return c;
	}
	return first;
}

/*
 * One direction (input or output) of operation OP: the message PTIO (the
 * portType's wsdl:input/output) names, the parts BIO's (the binding's)
 * soap:body keeps, its use and rpc namespace.
 */
static int op_io(struct ld *ld, struct bind *b, struct defn *bd, struct defn *pd,
                 struct wsdl_op *op, xmlNodePtr ptio, xmlNodePtr bio, int out)
{
	char who[300];
	struct defn *md;
	struct wsdl_message *m;
	struct wsdl_part **parts;
	unsigned n = 0;
	xmlNodePtr body = bio ? soap_child(bio, b->version, "body") : NULL;
	const char *use = body ? sx_attr(body, NULL, "use") : NULL;
	const char *sel = body ? sx_attr(body, NULL, "parts") : NULL, *p;

	snprintf(who, sizeof(who), "operation %s %s", op->name, out ? "output" : "input");
	if (!(md = ref(ld, &ld->msgs, "message", pd->f, ptio, "message", who)) ||
	    !(m = msg_build(ld, md)))
		return -1;
	if (use && strcmp(use, "literal") != 0) {
		if (strcmp(use, "encoded") == 0)
			return fail(ld, bd->f, body, "operation %s: use=\"encoded\" is not supported "
			            "(%s/encoded)", op->name, op->style == WSDL_RPC ? "rpc" : "document");
		return fail(ld, bd->f, body, "operation %s: unknown use=\"%s\" (literal expected)",
		            op->name, use);
	}
	if (op->style == WSDL_RPC && body && sx_attr(body, NULL, "namespace") && !op->rpc_ns &&
	    !(op->rpc_ns = sp_strdup(ld->w->pool, sx_attr(body, NULL, "namespace"))))
		return oom(ld);
	/* soap:header parts are not bound: headers are the caller's business
	 * (wsse is the one the plugin writes); the body keeps parts= only. */
	if (!(parts = sp_alloc(ld->w->pool, (m->nparts + 1) * sizeof(*parts))))
		return oom(ld);
	if (!sel) {
		for (n = 0; n < m->nparts; n++)
			parts[n] = &m->parts[n];
	} else {
		for (p = sel; *p;) {
			size_t len, i, k;

			while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
				p++;
			for (len = 0; p[len] && !strchr(" \t\n\r", p[len]); len++)
				;
			if (!len)
				break;
			for (i = 0; i < m->nparts; i++)
				if (strlen(m->parts[i].name) == len && !memcmp(m->parts[i].name, p, len))
					break;
			if (i == m->nparts)
				return fail(ld, bd->f, body, "operation %s: soap:body parts=\"%s\": "
				            "message %s has no part %.*s", op->name, sel,
				            qn(m->ns, m->name), (int)len, p);
			for (k = 0; k < n && parts[k] != &m->parts[i]; k++)
				;
			if (k < n)
				return fail(ld, bd->f, body, "operation %s: soap:body parts=\"%s\" "
				            "names a part twice", op->name, sel);
			parts[n++] = &m->parts[i];
			p += len;
		}
	}
	if (op->style == WSDL_DOCUMENT) {
		unsigned i;

		for (i = 0; i < n; i++)
			if (!parts[i]->element)
				return fail(ld, md->f, md->node, "operation %s: message %s part %s uses "
				            "type= (document style sends element= parts only)", op->name,
				            qn(m->ns, m->name), parts[i]->name);
	}
	if (out) {
		op->out = m;
		op->out_parts = parts;
		op->nout_parts = n;
	} else {
		op->in = m;
		op->in_parts = parts;
		op->nin_parts = n;
	}
	return 0;
}

/* A wrapped part: an element of a complex type whose content is a
 * sequence or empty (no simple content). */
static int wrapper_el(const struct xs_element *e)
{
	const struct xs_type *t = e ? e->type : NULL;

	return t && t->kind == XS_COMPLEX && !t->simple_content &&
	       (!t->content || t->content->kind == XS_SEQUENCE);
}

/* document/literal wrapped (the .NET / JAX-WS / spyne / node-soap style):
 * one input part, an element named as the operation, of a complex type
 * with a sequence; the output (if any) likewise one such part. */
static int is_wrapped(const struct wsdl_op *op)
{
	if (op->style != WSDL_DOCUMENT || op->nin_parts != 1 || !wrapper_el(op->in_parts[0]->element) ||
	    strcmp(op->in_parts[0]->element->name, op->name) != 0)
		return 0;
	if (!op->out || op->nout_parts == 0)
		return 1;
	return op->nout_parts == 1 && wrapper_el(op->out_parts[0]->element);
}

static int op_faults(struct ld *ld, struct bind *b, struct defn *bd, struct defn *pd,
                     struct wsdl_op *op, xmlNodePtr pop, xmlNodePtr bop)
{
	xmlNodePtr c, sf;
	unsigned n = 0;

	for (c = sx_first_el(bop); c; c = sx_next_el(c)) {
		const char *use;

		if (!wsdl_is(c, "fault") || !(sf = soap_child(c, b->version, "fault")))
			continue;
		if ((use = sx_attr(sf, NULL, "use")) && strcmp(use, "literal") != 0)
			return fail(ld, bd->f, sf, "operation %s: fault %s: use=\"%s\" is not "
			            "supported (%s)", op->name, sx_attr(c, NULL, "name") ?
			            sx_attr(c, NULL, "name") : "", use,
			            strcmp(use, "encoded") ? "literal expected" :
			            op->style == WSDL_RPC ? "rpc/encoded" : "document/encoded");
	}
	for (c = sx_first_el(pop); c; c = sx_next_el(c))
		n += wsdl_is(c, "fault");
	if (!n)
		return 0;
	if (!(op->faults = sp_alloc(ld->w->pool, n * sizeof(*op->faults))))
		return oom(ld);
	for (c = sx_first_el(pop); c; c = sx_next_el(c)) {
		struct wsdl_fault *fl = &op->faults[op->nfaults];
		char who[300];
		struct defn *md;

		if (!wsdl_is(c, "fault"))
			continue;
		snprintf(who, sizeof(who), "operation %s fault %s", op->name,
		         sx_attr(c, NULL, "name") ? sx_attr(c, NULL, "name") : "");
		if (!(md = ref(ld, &ld->msgs, "message", pd->f, c, "message", who)) ||
		    !(fl->msg = msg_build(ld, md)))
			return -1;
		if (!(fl->name = sp_strdup(ld->w->pool, sx_attr(c, NULL, "name") ?
		                                         sx_attr(c, NULL, "name") : "")))
			return oom(ld);
		op->nfaults++;
	}
	return 0;
}

/* Operation OP from binding operation BOP of binding BD (portType PD). */
static int op_build(struct ld *ld, struct bind *b, struct defn *bd, struct defn *pd,
                    int style, struct wsdl_op *op, xmlNodePtr bop)
{
	const char *name = sx_attr(bop, NULL, "name"), *s, *first = NULL;
	xmlNodePtr pop, so, c, pin = NULL, pout = NULL;

	if (!name || !*name)
		return fail(ld, bd->f, bop, "binding %s: an operation without a name",
		            qn(bd->ns, bd->name));
	if (!(pop = pt_op_find(pd->node, name, bop)))
		return fail(ld, bd->f, bop, "binding %s: operation %s is not in portType %s",
		            qn(bd->ns, bd->name), name, qn(pd->ns, pd->name));
	if (!(op->name = sp_strdup(ld->w->pool, name)))
		return oom(ld);
	op->style = style;
	op->action = "";
	if ((so = soap_child(bop, b->version, "operation"))) {
		if ((s = sx_attr(so, NULL, "style"))) {
			if (strcmp(s, "rpc") == 0)
				op->style = WSDL_RPC;
			else if (strcmp(s, "document") == 0)
				op->style = WSDL_DOCUMENT;
			else
				return fail(ld, bd->f, so, "operation %s: unknown style=\"%s\" "
				            "(document or rpc)", name, s);
		}
		if ((s = sx_attr(so, NULL, "soapAction")) &&
		    !(op->action = sp_strdup(ld->w->pool, s)))
			return oom(ld);
	}
	if (!(op->doc = doc_text(ld, pop)))
		op->doc = doc_text(ld, bop);
	for (c = sx_first_el(pop); c; c = sx_next_el(c)) {
		if (wsdl_is(c, "input") && !pin) {
			pin = c;
			first = first ? first : "input";
		} else if (wsdl_is(c, "output") && !pout) {
			pout = c;
			first = first ? first : "output";
		}
	}
	if (!pin && !pout)
		return fail(ld, pd->f, pop, "portType %s operation %s: no wsdl:input",
		            qn(pd->ns, pd->name), name);
	if (!pin || strcmp(first, "input") != 0)
		return fail(ld, pd->f, pop, "portType %s operation %s: %s operations are not "
		            "supported (only request-response and one-way)", qn(pd->ns, pd->name),
		            name, pin ? "solicit-response" : "notification");
	if (op_io(ld, b, bd, pd, op, pin, wsdl_child(bop, "input"), 0) ||
	    (pout && op_io(ld, b, bd, pd, op, pout, wsdl_child(bop, "output"), 1)))
		return -1;
	if (op->style == WSDL_RPC && !op->rpc_ns && bd->ns &&
	    !(op->rpc_ns = sp_strdup(ld->w->pool, bd->ns)))   /* no namespace=: the binding's tns */
		return oom(ld);
	op->wrapped = is_wrapped(op);
	return op_faults(ld, b, bd, pd, op, pop, bop);
}

/* D's operations (built on first use); b->version 0 when D is not a SOAP
 * binding (the ports using it are skipped). */
static struct bind *bind_build(struct ld *ld, struct defn *d)
{
	struct bind *b;
	struct defn *pd;
	xmlNodePtr sb, c;
	const char *s;
	int style = WSDL_DOCUMENT;
	unsigned n = 0, i;
	char who[300];

	if (d->built)
		return d->built;
	if (!(b = sp_alloc(ld->w->pool, sizeof(*b))))
		return oom(ld), NULL;
	if ((sb = soap_child(d->node, 11, "binding")))
		b->version = 11;
	else if ((sb = soap_child(d->node, 12, "binding")))
		b->version = 12;
	b->http = !sb || !(s = sx_attr(sb, NULL, "transport")) ||
	          strcmp(s, SOAP_HTTP_TRANSPORT) == 0 || strcmp(s, SOAP12_HTTP_TRANSPORT) == 0;
	d->built = b;
	if (!b->version)
		return b;
	if ((s = sx_attr(sb, NULL, "style"))) {
		if (strcmp(s, "rpc") == 0)
			style = WSDL_RPC;
		else if (strcmp(s, "document") != 0)
			return fail(ld, d->f, sb, "binding %s: unknown style=\"%s\" (document or rpc)",
			            qn(d->ns, d->name), s), NULL;
	}
	snprintf(who, sizeof(who), "binding %s", qn(d->ns, d->name));
	if (!(pd = ref(ld, &ld->ptypes, "portType", d->f, d->node, "type", who)))
		return NULL;
	for (c = sx_first_el(d->node); c; c = sx_next_el(c))
		n += wsdl_is(c, "operation");
	if (n && !(b->ops = sp_alloc(ld->w->pool, n * sizeof(*b->ops))))
		return oom(ld), NULL;
	for (c = sx_first_el(d->node); c; c = sx_next_el(c)) {
		if (!wsdl_is(c, "operation"))
			continue;
		if (op_build(ld, b, d, pd, style, &b->ops[b->nops], c) != 0)
			return NULL;
		for (i = 0; i < b->nops; i++)
			if (strcmp(b->ops[i].name, b->ops[b->nops].name) == 0)
				return fail(ld, d->f, c, "binding %s: operation %s appears twice "
				            "(overloaded operations are not supported)",
				            qn(d->ns, d->name), b->ops[i].name), NULL;
		b->nops++;
	}
	return b;
}

/* ---- services and ports ---------------------------------------------------------------- */

static int ports_build(struct ld *ld)
{
	struct wsdl *w = ld->w;
	size_t fi, n = 0;
	int pass;

	/* pass 0 counts the ports, pass 1 builds them */
	for (pass = 0; pass < 2; pass++) {
		for (fi = 0; fi < ld->nfiles; fi++) {
			struct wfile *f = &ld->files[fi];
			xmlNodePtr root = xmlDocGetRootElement(f->doc), s, p;

			if (!wsdl_is(root, "definitions"))
				continue;
			for (s = sx_first_el(root); s; s = sx_next_el(s)) {
				const char *sname = sx_attr(s, NULL, "name");

				if (!wsdl_is(s, "service"))
					continue;
				for (p = sx_first_el(s); p; p = sx_next_el(p)) {
					const char *pname = sx_attr(p, NULL, "name"), *loc;
					struct wsdl_port *wp;
					struct defn *bd;
					struct bind *b;
					xmlNodePtr addr;
					char who[300];

					if (!wsdl_is(p, "port"))
						continue;
					if (!pass) {
						n++;
						continue;
					}
					if (!pname || !*pname)
						return fail(ld, f, p, "service %s: a port without a name",
						            sname ? sname : "");
					snprintf(who, sizeof(who), "port %s", pname);
					if (!(bd = ref(ld, &ld->binds, "binding", f, p, "binding", who)) ||
					    !(b = bind_build(ld, bd)))
						return -1;
					if (!b->version)
						continue;
					addr = soap_child(p, 11, "address");
					addr = addr ? addr : soap_child(p, 12, "address");
					loc = addr ? sx_attr(addr, NULL, "location") : NULL;
					/* SOAP over JMS, SMTP...: skipped, unless the address
					 * is HTTP anyway (spyne writes transport="noconn://"
					 * when it does not know its server) */
					if (!b->http && (!loc || (strncasecmp(loc, "http://", 7) != 0 &&
					                          strncasecmp(loc, "https://", 8) != 0)))
						continue;
					wp = &w->ports[w->nports];
					if (!(wp->name = sp_strdup(w->pool, pname)) ||
					    !(wp->service = sp_strdup(w->pool, sname ? sname : "")) ||
					    !(wp->binding = sp_strdup(w->pool, bd->name)) ||
					    (loc && !(wp->address = sp_strdup(w->pool, loc))))
						return oom(ld);
					wp->soap_version = b->version;
					wp->ops = b->ops;
					wp->nops = b->nops;
					w->nports++;
				}
			}
		}
		if (!pass && n && !(w->ports = sp_alloc(w->pool, n * sizeof(*w->ports))))
			return oom(ld);
	}
	if (!w->nports)
		return fail(ld, &ld->files[0], xmlDocGetRootElement(ld->files[0].doc),
		            "no SOAP port: no wsdl:service has a wsdl:port whose binding is a "
		            "soap:binding (SOAP 1.1) or soap12:binding (SOAP 1.2) over HTTP");
	return 0;
}

/* ---- the model ------------------------------------------------------------------------ */

/* The main file's bytes into the pool (served by the endpoint's ?wsdl). It
 * was parsed a moment before; a file changed in between is re-read whole,
 * and a size beyond the parser's limit is refused the same way. */
static int text_read(struct ld *ld, const char *path)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	size_t n;

	if (!fp || fstat(fileno(fp), &st) != 0 || st.st_size < 0 ||
	    (size_t)st.st_size > sx_default_limits.max_bytes) {
		if (fp)
			fclose(fp);
		if (ld->errlen)
			snprintf(ld->err, ld->errlen, "%s: cannot read it again: %s", path,
			         fp ? "larger than the limit" : strerror(errno));
		return -1;
	}
	if (!(ld->w->text = sp_alloc(ld->w->pool, (size_t)st.st_size + 1))) {
		fclose(fp);
		return oom(ld);
	}
	n = fread(ld->w->text, 1, (size_t)st.st_size, fp);
	fclose(fp);
	ld->w->text_len = n;
	return 0;
}

struct wsdl *wsdl_load(const char *path, char *err, size_t errlen)
{
	struct ld ld;
	struct sp_pool *pool;
	char real[PATH_MAX], scratch[64];
	size_t i;
	int rc = -1;

	if (!err || !errlen) {                /* the parts below always get a buffer */
		err = scratch;
		errlen = sizeof(scratch);
	}
	ld = (struct ld){ .err = err, .errlen = errlen };
	err[0] = '\0';
	if (!path || !*path) {
		snprintf(err, errlen, "wsdl: no file given");
		return NULL;
	}
	if (!realpath(path, real)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!(pool = sp_pool_new()) || !(ld.w = sp_alloc(pool, sizeof(*ld.w))) ||
	    !(ld.files = calloc(MAX_FILES, sizeof(*ld.files)))) {
		sp_pool_free(pool);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	ld.w->pool = pool;
	if (!(ld.w->path = sp_strdup(pool, real)) || !(ld.w->xs = xs_set_new(pool))) {
		oom(&ld);
		goto out;
	}
	if (file_add(&ld, path, real, NULL, NULL) != 0)
		goto out;
	for (i = 0; i < ld.nfiles; i++)
		if (imports_load(&ld, i) != 0)
			goto out;
	if (!wsdl_is(xmlDocGetRootElement(ld.files[0].doc), "definitions"))
		goto out;                         /* file_add wrote why */
	if (ld.files[0].tns && !(ld.w->tns = sp_strdup(pool, ld.files[0].tns))) {
		oom(&ld);
		goto out;
	}
	if (defs_collect(&ld) != 0 || ports_build(&ld) != 0 || text_read(&ld, path) != 0)
		goto out;
	rc = 0;
out:
	for (i = 0; i < ld.nfiles; i++)
		xmlFreeDoc(ld.files[i].doc);
	free(ld.files);
	free(ld.msgs.v);
	free(ld.ptypes.v);
	free(ld.binds.v);
	if (rc) {
		wsdl_free(ld.w);
		return NULL;
	}
	return ld.w;
}

void wsdl_free(struct wsdl *w)
{
	if (!w)
		return;
	xs_set_free(w->xs);                   /* the compiled patterns, outside the pool */
	sp_pool_free(w->pool);
}

const struct wsdl_port *wsdl_port(const struct wsdl *w, const char *name)
{
	unsigned i;

	if (!w || !w->nports)
		return NULL;
	for (i = 0; i < w->nports; i++)
		if (name ? strcmp(w->ports[i].name, name) == 0 : w->ports[i].soap_version == 11)
			return &w->ports[i];
	return name ? NULL : &w->ports[0];
}

const struct wsdl_op *wsdl_op(const struct wsdl_port *p, const char *name)
{
	unsigned i;

	if (!p || !name)
		return NULL;
	for (i = 0; i < p->nops; i++)
		if (strcmp(p->ops[i].name, name) == 0)
			return &p->ops[i];
	return NULL;
}
