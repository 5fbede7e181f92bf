/*
 * test_soap_wsdl.c - WSDL 1.1 loading (plugins/soap/wsdl.c): the model of
 * document/literal wrapped and bare, rpc/literal, SOAP 1.1 and 1.2 ports of
 * one portType, wsdl:import and xsd:import across namespaces, faults and
 * one-way operations, WSDLs shaped as .NET ASMX and spyne write them; and
 * every refusal with its FILE:LINE.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "soap.h"

static char datadir[1024];

static const char *data(const char *name)
{
	static char buf[4][1200];
	static unsigned i;
	char *b = buf[i++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", datadir, name);
	return b;
}

static struct wsdl *load_ok(const char *name)
{
	char err[1024];
	struct wsdl *w = wsdl_load(data(name), err, sizeof(err));

	if (!w)
		fail_msg("%s: %s", name, err);
	return w;
}

/* Loading NAME fails with an error that has "NAME:" + WANT in it. */
static void load_fails(const char *name, const char *want)
{
	char err[1024], full[1200];
	struct wsdl *w = wsdl_load(data(name), err, sizeof(err));

	if (w) {
		wsdl_free(w);
		fail_msg("%s loaded, expected: %s", name, want);
	}
	snprintf(full, sizeof(full), "%s%s", name, want);
	if (!strstr(err, full))
		fail_msg("%s: got \"%s\", expected \"...%s\"", name, err, full);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = malloc(1 << 20);

	assert_non_null(f);
	*len = fread(b, 1, 1 << 20, f);
	fclose(f);
	return b;
}

static void test_wsdl_wrapped_with_soap11_and_soap12_ports(void **state)
{
	struct wsdl *w = load_ok("wrapped.wsdl");
	const struct wsdl_port *p11, *p12;
	const struct wsdl_op *op;
	size_t len;
	char *bytes;

	(void)state;
	assert_string_equal(w->tns, "urn:calc");
	assert_true(w->path[0] == '/');
	assert_non_null(strstr(w->path, "wrapped.wsdl"));
	/* the http:binding port is skipped; the SOAP 1.2 port comes first in
	 * the document, the default port is the SOAP 1.1 one */
	assert_int_equal(w->nports, 2);
	assert_null(wsdl_port(w, "CalcHttpGet"));
	p11 = wsdl_port(w, NULL);
	assert_non_null(p11);
	assert_string_equal(p11->name, "CalcSoap");
	assert_int_equal(p11->soap_version, 11);
	assert_string_equal(p11->service, "Calc");
	assert_string_equal(p11->binding, "CalcSoap");
	assert_string_equal(p11->address, "http://127.0.0.1:8080/calc");
	p12 = wsdl_port(w, "CalcSoap12");
	assert_non_null(p12);
	assert_int_equal(p12->soap_version, 12);
	assert_string_equal(p12->address, "http://127.0.0.1:8080/calc12");
	assert_null(wsdl_port(w, "calcsoap"));

	assert_int_equal(p11->nops, 4);
	op = wsdl_op(p11, "Add");
	assert_non_null(op);
	assert_string_equal(op->action, "urn:calc/Add");
	assert_int_equal(op->style, WSDL_DOCUMENT);
	assert_true(op->wrapped);
	assert_string_equal(op->doc, "Adds two integers.");
	/* parts="parameters": the soap:header part "auth" is not in the body */
	assert_int_equal(op->in->nparts, 2);
	assert_int_equal(op->nin_parts, 1);
	assert_string_equal(op->in_parts[0]->name, "parameters");
	assert_string_equal(op->in_parts[0]->element->name, "Add");
	assert_string_equal(op->in_parts[0]->element->ns, "urn:calc");
	assert_string_equal(op->in->name, "AddIn");
	assert_string_equal(op->in->ns, "urn:calc");
	assert_int_equal(op->nout_parts, 1);
	assert_string_equal(op->out_parts[0]->element->name, "AddResponse");
	assert_int_equal(op->nfaults, 0);

	/* the element is named as the operation, its type named elsewhere */
	op = wsdl_op(p11, "Divide");
	assert_true(op->wrapped);
	assert_int_equal(op->nfaults, 1);
	assert_string_equal(op->faults[0].name, "DivisionByZero");
	assert_string_equal(op->faults[0].msg->name, "DivideFault");
	assert_int_equal(op->faults[0].msg->nparts, 1);
	assert_string_equal(op->faults[0].msg->parts[0].element->name, "DivisionByZero");

	op = wsdl_op(p11, "Notify");             /* one-way */
	assert_non_null(op->in);
	assert_null(op->out);
	assert_int_equal(op->nout_parts, 0);
	assert_true(op->wrapped);

	op = wsdl_op(p11, "Reset");              /* empty wrappers, soapAction="" */
	assert_true(op->wrapped);
	assert_string_equal(op->action, "");

	/* the 1.2 binding binds two of the four operations, its own action */
	assert_int_equal(p12->nops, 2);
	assert_string_equal(wsdl_op(p12, "Add")->action, "urn:calc/Add12");
	assert_int_equal(wsdl_op(p12, "Add")->nin_parts, 1);
	assert_null(wsdl_op(p12, "Notify"));
	assert_null(wsdl_op(p12, "add"));
	assert_null(wsdl_op(p12, NULL));

	bytes = slurp(data("wrapped.wsdl"), &len);
	assert_int_equal(w->text_len, len);
	assert_memory_equal(w->text, bytes, len);
	free(bytes);
	wsdl_free(w);
}

static void test_wsdl_bare_document_literal(void **state)
{
	struct wsdl *w = load_ok("bare.wsdl");
	const struct wsdl_port *p = wsdl_port(w, NULL);
	const struct wsdl_op *op;

	(void)state;
	assert_string_equal(p->name, "QuotesSoap");
	op = wsdl_op(p, "GetPrice");                 /* two parts, simple elements */
	assert_false(op->wrapped);
	assert_string_equal(op->action, "");
	assert_int_equal(op->nin_parts, 2);
	assert_string_equal(op->in_parts[0]->name, "symbol");
	assert_string_equal(op->in_parts[1]->name, "currency");
	assert_string_equal(op->in_parts[1]->element->name, "currency");
	assert_int_equal(op->nout_parts, 1);
	assert_string_equal(op->out_parts[0]->element->name, "price");
	op = wsdl_op(p, "GetQuote");                 /* element not named as the op */
	assert_false(op->wrapped);
	assert_string_equal(op->action, "urn:quotes#GetQuote");
	assert_int_equal(op->nin_parts, 1);
	assert_string_equal(op->in_parts[0]->element->name, "QuoteRequest");
	wsdl_free(w);
}

static void test_wsdl_rpc_literal(void **state)
{
	struct wsdl *w = load_ok("rpc.wsdl");
	const struct wsdl_port *p = wsdl_port(w, "RpcSoap");
	const struct wsdl_op *op;

	(void)state;
	op = wsdl_op(p, "Add");
	assert_int_equal(op->style, WSDL_RPC);
	assert_false(op->wrapped);
	assert_string_equal(op->rpc_ns, "urn:rpc:calc");
	assert_int_equal(op->nin_parts, 2);
	assert_null(op->in_parts[0]->element);
	assert_non_null(op->in_parts[0]->type);
	assert_int_equal(op->in_parts[0]->type->kind, XS_SIMPLE);
	assert_string_equal(op->out_parts[0]->name, "sum");
	op = wsdl_op(p, "Move");                     /* no namespace=: the tns */
	assert_string_equal(op->rpc_ns, "urn:rpc:defs");
	assert_int_equal(op->in_parts[0]->type->kind, XS_COMPLEX);
	assert_string_equal(op->in_parts[0]->type->name, "Point");
	wsdl_free(w);
}

static void test_wsdl_rpc_encoded_is_refused(void **state)
{
	(void)state;
	load_fails("encoded.wsdl", ":36: operation Add: use=\"encoded\" is not supported "
	           "(rpc/encoded)");
}

static void test_wsdl_imports_across_namespaces(void **state)
{
	struct wsdl *w = load_ok("import_main.wsdl");
	const struct wsdl_port *p = wsdl_port(w, NULL);
	const struct wsdl_op *op = wsdl_op(p, "GetAccount");

	(void)state;
	assert_string_equal(w->tns, "urn:imp:main");
	assert_int_equal(w->nports, 1);
	assert_non_null(op);
	assert_true(op->wrapped);
	assert_string_equal(op->action, "urn:imp#GetAccount");
	assert_string_equal(op->in->ns, "urn:imp:pt");
	assert_string_equal(op->in_parts[0]->element->ns, "urn:imp:pt");
	/* from the xsd:import of import_types.xsd */
	assert_string_equal(op->out_parts[0]->element->ns, "urn:imp:types");
	assert_string_equal(op->out_parts[0]->element->name, "GetAccountResponse");
	assert_int_equal(op->nfaults, 1);
	assert_string_equal(op->faults[0].msg->parts[0].element->name, "NotFound");
	assert_string_equal(op->faults[0].msg->parts[0].element->ns, "urn:imp:types");
	assert_non_null(xs_find_type(w->xs, "urn:imp:types", "Account"));
	wsdl_free(w);
}

static void test_wsdl_dotnet_asmx_shape(void **state)
{
	struct wsdl *w = load_ok("asmx.wsdl");
	const struct wsdl_port *p = wsdl_port(w, NULL);
	const struct wsdl_op *op;

	(void)state;
	assert_string_equal(w->tns, "http://tempuri.org/");
	assert_int_equal(w->nports, 2);          /* Soap, Soap12; HttpGet skipped */
	assert_string_equal(p->name, "CustomerServiceSoap");
	assert_string_equal(wsdl_port(w, "CustomerServiceSoap12")->address,
	                    "http://127.0.0.1:9003/CustomerService.asmx");
	op = wsdl_op(p, "GetCustomer");
	assert_true(op->wrapped);
	assert_string_equal(op->action, "http://tempuri.org/GetCustomer");
	assert_string_equal(op->doc, "Returns one customer by id.");
	assert_string_equal(op->in_parts[0]->element->ns, "http://tempuri.org/");
	op = wsdl_op(p, "ListNames");            /* <s:complexType /> input */
	assert_true(op->wrapped);
	assert_true(wsdl_op(wsdl_port(w, "CustomerServiceSoap12"), "ListNames")->wrapped);
	wsdl_free(w);
}

static void test_wsdl_spyne_shape(void **state)
{
	struct wsdl *w = load_ok("spyne.wsdl");
	const struct wsdl_port *p = wsdl_port(w, NULL);
	unsigned i;

	(void)state;
	assert_string_equal(p->name, "Application");
	assert_string_equal(p->address, "http://127.0.0.1:8000/");
	assert_int_equal(p->nops, 3);
	for (i = 0; i < p->nops; i++) {
		assert_true(p->ops[i].wrapped);
		assert_string_equal(p->ops[i].action, p->ops[i].name);
	}
	assert_string_equal(wsdl_op(p, "SayHello")->out_parts[0]->element->name,
	                    "SayHelloResponse");
	wsdl_free(w);
}

static void test_wsdl_node_soap_shape(void **state)
{
	struct wsdl *w = load_ok("nodesoap.wsdl");
	const struct wsdl_port *p = wsdl_port(w, NULL);
	const struct wsdl_op *op = wsdl_op(p, "GetLastTradePrice");

	(void)state;
	assert_int_equal(w->nports, 2);
	assert_string_equal(p->name, "StockQuotePort");
	assert_int_equal(wsdl_port(w, "StockQuotePort12")->soap_version, 12);
	/* an xsd:all wrapper, not named as the operation: bare */
	assert_false(op->wrapped);
	assert_string_equal(op->in_parts[0]->name, "body");
	assert_string_equal(op->in_parts[0]->element->ns, "http://example.com/stockquote.xsd");
	assert_string_equal(op->action, "http://example.com/GetLastTradePrice");
	wsdl_free(w);
}

static void test_wsdl_errors_name_file_and_line(void **state)
{
	(void)state;
	load_fails("err_missing_message.wsdl", ":18: operation Echo input: unknown message "
	           "{urn:err}EchoRequest");
	load_fails("err_unknown_element.wsdl", ":14: message {urn:err}EchoIn part parameters: "
	           "unknown element {urn:err}Ech0");
	load_fails("err_bad_import.wsdl", ":7: wsdl:import location=\"http://127.0.0.1:9/"
	           "other.wsdl\": not a local file");
	load_fails("err_file_host_import.wsdl", ":7: wsdl:import location=\"file://fileserver/"
	           "share/other.wsdl\": a file: URL with a host");
	load_fails("err_missing_import.wsdl", ":7: wsdl:import location=\"no_such_file.wsdl\": ");
	load_fails("err_no_soap_port.wsdl", ":6: no SOAP port");
	load_fails("err_unknown_binding.wsdl", ":31: port EchoPort: unknown binding "
	           "{urn:err}EchoBindng");
	load_fails("err_unknown_porttype.wsdl", ":22: binding {urn:err}EchoBinding: unknown "
	           "portType {urn:err}EchoPrt");
	load_fails("err_op_not_in_porttype.wsdl", ":24: binding {urn:err}EchoBinding: operation "
	           "Ekho is not in portType {urn:err}EchoPort");
	load_fails("err_undeclared_prefix.wsdl", ":14: message {urn:err}EchoIn part parameters: "
	           "element=\"x:Echo\": undeclared namespace prefix");
	load_fails("err_duplicate_message.wsdl", ":16: message {urn:err}EchoIn is defined twice");
	load_fails("err_bad_style.wsdl", ":23: binding {urn:err}EchoBinding: unknown "
	           "style=\"procedural\"");
	load_fails("err_not_wsdl.wsdl", ":2: not a WSDL 1.1 document: the root element is html");
	load_fails("err_wsdl20.wsdl", ":2: WSDL 2.0 is not supported");
	/* the parser's refusals (xml.c words them) */
	load_fails("err_doctype.wsdl", ": DOCTYPE is not allowed");
	load_fails("err_not_xml.wsdl", ":1: ");
}

/* ---- generated cases --------------------------------------------------------------- */

static char tmpdir[] = "/tmp/test_soap_wsdl.XXXXXX";

static const char *tmp_write(const char *name, const char *text)
{
	static char path[4][512];
	static unsigned i;
	char *p = path[i++ % 4];
	FILE *f;

	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

#define HEAD "<?xml version=\"1.0\"?>\n" \
	"<wsdl:definitions xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\"\n" \
	" xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\"\n" \
	" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"\n" \
	" xmlns:tns=\"urn:t\" targetNamespace=\"urn:t\">\n"
#define TYPES "<wsdl:types><xsd:schema targetNamespace=\"urn:t\">\n" \
	"<xsd:element name=\"Op\"><xsd:complexType><xsd:sequence>\n" \
	"<xsd:element name=\"a\" type=\"xsd:int\"/></xsd:sequence></xsd:complexType></xsd:element>\n" \
	"</xsd:schema></wsdl:types>\n"
#define MSGS "<wsdl:message name=\"In\"><wsdl:part name=\"p\" element=\"tns:Op\"/></wsdl:message>\n" \
	"<wsdl:message name=\"Out\"><wsdl:part name=\"p\" element=\"tns:Op\"/></wsdl:message>\n"
#define PT "<wsdl:portType name=\"PT\"><wsdl:operation name=\"Op\">\n" \
	"<wsdl:input message=\"tns:In\"/><wsdl:output message=\"tns:Out\"/>\n" \
	"</wsdl:operation></wsdl:portType>\n"
#define BIND(inner) "<wsdl:binding name=\"B\" type=\"tns:PT\">\n" \
	"<soap:binding transport=\"http://schemas.xmlsoap.org/soap/http\"/>\n" inner \
	"</wsdl:binding>\n"
#define OP(body) "<wsdl:operation name=\"Op\"><wsdl:input>" body "</wsdl:input>\n" \
	"<wsdl:output><soap:body use=\"literal\"/></wsdl:output></wsdl:operation>\n"
#define SVC "<wsdl:service name=\"S\"><wsdl:port name=\"P\" binding=\"tns:B\">\n" \
	"<soap:address location=\"http://127.0.0.1:1/\"/></wsdl:port></wsdl:service>\n"
#define TAIL "</wsdl:definitions>\n"

static void tmp_fails(const char *name, const char *text, const char *want)
{
	char err[1024], full[600];
	const char *path = tmp_write(name, text);
	struct wsdl *w = wsdl_load(path, err, sizeof(err));

	if (w) {
		wsdl_free(w);
		fail_msg("%s loaded, expected: %s", name, want);
	}
	snprintf(full, sizeof(full), "%s%s", name, want);
	if (!strstr(err, full))
		fail_msg("%s: got \"%s\", expected \"...%s\"", name, err, full);
}

static void test_wsdl_refuses_what_it_cannot_bind(void **state)
{
	(void)state;
	tmp_fails("parts.wsdl", HEAD TYPES MSGS PT
	          BIND(OP("<soap:body use=\"literal\" parts=\"p q\"/>")) SVC TAIL,
	          ":17: operation Op: soap:body parts=\"p q\": message {urn:t}In has no part q");
	/* (XML turns the tab into a space) */
	tmp_fails("parts2.wsdl", HEAD TYPES
	          "<wsdl:message name=\"In\"><wsdl:part name=\"p\" element=\"tns:Op\"/>"
	          "<wsdl:part name=\"q\" element=\"tns:Op\"/></wsdl:message>\n"
	          "<wsdl:message name=\"Out\"><wsdl:part name=\"p\" element=\"tns:Op\"/></wsdl:message>\n"
	          PT BIND(OP("<soap:body use=\"literal\" parts=\" p\tp \"/>")) SVC TAIL,
	          ":17: operation Op: soap:body parts=\" p p \" names a part twice");
	tmp_fails("docenc.wsdl", HEAD TYPES MSGS PT
	          BIND(OP("<soap:body use=\"encoded\"/>")) SVC TAIL,
	          ":17: operation Op: use=\"encoded\" is not supported (document/encoded)");
	tmp_fails("typepart.wsdl", HEAD TYPES
	          "<wsdl:message name=\"In\"><wsdl:part name=\"p\" type=\"xsd:int\"/></wsdl:message>\n"
	          "<wsdl:message name=\"Out\"><wsdl:part name=\"p\" element=\"tns:Op\"/></wsdl:message>\n"
	          PT BIND(OP("<soap:body use=\"literal\"/>")) SVC TAIL,
	          ":10: operation Op: message {urn:t}In part p uses type=");
	tmp_fails("neither.wsdl", HEAD TYPES
	          "<wsdl:message name=\"In\"><wsdl:part name=\"p\"/></wsdl:message>\n"
	          "<wsdl:message name=\"Out\"><wsdl:part name=\"p\" element=\"tns:Op\"/></wsdl:message>\n"
	          PT BIND(OP("<soap:body use=\"literal\"/>")) SVC TAIL,
	          ":10: message {urn:t}In part p: needs one of element= or type=");
	tmp_fails("unktype.wsdl", HEAD TYPES
	          "<wsdl:message name=\"In\"><wsdl:part name=\"p\" type=\"xsd:integr\"/></wsdl:message>\n"
	          "<wsdl:message name=\"Out\"><wsdl:part name=\"p\" element=\"tns:Op\"/></wsdl:message>\n"
	          PT BIND(OP("<soap:body use=\"literal\"/>")) SVC TAIL,
	          ":10: message {urn:t}In part p: unknown type "
	          "{http://www.w3.org/2001/XMLSchema}integr");
	tmp_fails("faultenc.wsdl", HEAD TYPES MSGS PT
	          BIND("<wsdl:operation name=\"Op\"><wsdl:input><soap:body use=\"literal\"/>"
	               "</wsdl:input>\n<wsdl:fault name=\"F\"><soap:fault name=\"F\" "
	               "use=\"encoded\"/></wsdl:fault></wsdl:operation>\n") SVC TAIL,
	          ":18: operation Op: fault F: use=\"encoded\" is not supported "
	          "(document/encoded)");
	tmp_fails("overload.wsdl", HEAD TYPES MSGS PT
	          BIND(OP("<soap:body use=\"literal\"/>") OP("<soap:body use=\"literal\"/>")) SVC TAIL,
	          ":19: binding {urn:t}B: operation Op appears twice");
	tmp_fails("notif.wsdl", HEAD TYPES MSGS
	          "<wsdl:portType name=\"PT\"><wsdl:operation name=\"Op\">\n"
	          "<wsdl:output message=\"tns:Out\"/><wsdl:input message=\"tns:In\"/>\n"
	          "</wsdl:operation></wsdl:portType>\n"
	          BIND(OP("<soap:body use=\"literal\"/>")) SVC TAIL,
	          ":12: portType {urn:t}PT operation Op: solicit-response operations are not "
	          "supported");
	tmp_fails("notype.wsdl", HEAD TYPES MSGS PT
	          "<wsdl:binding name=\"B\"><soap:binding/></wsdl:binding>\n" SVC TAIL,
	          ":15: binding {urn:t}B: no type attribute");
	tmp_fails("noloc.wsdl", HEAD "<wsdl:import namespace=\"urn:x\"/>\n" TAIL,
	          ":6: wsdl:import of namespace \"urn:x\" has no location");
	tmp_fails("ftp.wsdl", HEAD "<wsdl:import namespace=\"urn:x\" location=\"ftp://h/x\"/>\n"
	          TAIL, ":6: wsdl:import location=\"ftp://h/x\": not a local file");
	tmp_fails("relfile.wsdl", HEAD "<wsdl:import namespace=\"urn:x\" location=\"file:x.wsdl\"/>\n"
	          TAIL, ":6: wsdl:import location=\"file:x.wsdl\": a relative file: URL");
	tmp_fails("empty.wsdl", "", "");
	tmp_fails("nosvc.wsdl", HEAD TYPES MSGS PT BIND(OP("<soap:body use=\"literal\"/>")) TAIL,
	          ":5: no SOAP port");
	/* an imported file that does not parse is named by the importer's line */
	tmp_write("broken.wsdl", "<wsdl:definitions xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\">");
	tmp_fails("imp_broken.wsdl", HEAD "<wsdl:import namespace=\"urn:x\" location=\"broken.wsdl\"/>\n"
	          TAIL, ":6: wsdl:import: ");
	tmp_fails("imp_dir.wsdl", HEAD "<wsdl:import namespace=\"urn:x\" location=\".\"/>\n"
	          TAIL, ":6: wsdl:import: ");
}

static void test_wsdl_import_forms(void **state)
{
	char err[1024], text[4096];
	struct wsdl *w;
	const char *path;

	(void)state;
	/* a file importing itself, by a relative and a file:/// absolute name */
	path = tmp_write("self.wsdl", "");
	snprintf(text, sizeof(text), HEAD "<wsdl:import namespace=\"urn:t\" location=\"self.wsdl\"/>\n"
	         "<wsdl:import namespace=\"urn:t\" location=\"file://%s\"/>\n"
	         "<wsdl:import namespace=\"urn:t\" location=\"file://localhost%s\"/>\n"
	         TYPES MSGS PT BIND(OP("<soap:body use=\"literal\"/>")) SVC TAIL, path, path);
	tmp_write("self.wsdl", text);
	w = wsdl_load(path, err, sizeof(err));
	if (!w)
		fail_msg("%s", err);
	assert_int_equal(w->nports, 1);
	assert_true(wsdl_op(wsdl_port(w, "P"), "Op")->wrapped);
	wsdl_free(w);

	/* a bare xsd:schema imported with wsdl:import (not WS-I, but seen) */
	tmp_write("types.xsd", "<xsd:schema xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
	          "targetNamespace=\"urn:t\"><xsd:element name=\"Op\"><xsd:complexType>"
	          "<xsd:sequence/></xsd:complexType></xsd:element></xsd:schema>\n");
	path = tmp_write("xsdimp.wsdl", HEAD "<wsdl:import namespace=\"urn:t\" location=\"types.xsd\"/>\n"
	                 MSGS PT BIND(OP("<soap:body/>")) SVC TAIL);
	w = wsdl_load(path, err, sizeof(err));
	if (!w)
		fail_msg("%s", err);
	assert_true(wsdl_op(wsdl_port(w, NULL), "Op")->wrapped);
	wsdl_free(w);
}

/* The XML attacks (tests/data/soap/attacks) as a WSDL and as a wsdl:import:
 * refused, the file named, nothing read. */
static void test_wsdl_refuses_xml_attacks(void **state)
{
	static const char *const attacks[] = {
		"xxe_file.xml", "xxe_param.xml", "xxe_dtd_url.xml", "billion_laughs.xml",
		"quadratic.xml", "deep_nesting.xml", "many_attrs.xml", "doctype_plain.xml",
		"xinclude.xml",
	};
	char err[1024], path[1200], text[4096], name[64];
	struct wsdl *w;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		snprintf(path, sizeof(path), "%s/../attacks/%s", datadir, attacks[i]);
		w = wsdl_load(path, err, sizeof(err));
		if (w)
			fail_msg("%s loaded", attacks[i]);
		assert_non_null(strstr(err, attacks[i]));
		assert_null(strstr(err, "root:"));           /* no /etc/passwd content */
		snprintf(name, sizeof(name), "imp_%zu.wsdl", i);
		snprintf(text, sizeof(text), HEAD "<wsdl:import namespace=\"urn:x\" "
		         "location=\"%s\"/>\n" TYPES MSGS PT BIND(OP("<soap:body/>")) SVC TAIL, path);
		w = wsdl_load(tmp_write(name, text), err, sizeof(err));
		if (w)
			fail_msg("an import of %s loaded", attacks[i]);
		/* refused by the parser: the importer's line; parsed (xinclude.xml):
		 * not a WSDL, at its own line */
		snprintf(text, sizeof(text), "%s:6: wsdl:import", name);
		if (!strstr(err, text) && !strstr(err, "not a WSDL 1.1 document"))
			fail_msg("import of %s: %s", attacks[i], err);
		assert_non_null(strstr(err, attacks[i]));
	}
}

static void test_wsdl_careless_calls(void **state)
{
	char err[16], big[1024];
	struct wsdl *w;

	(void)state;
	assert_null(wsdl_load(NULL, big, sizeof(big)));
	assert_null(wsdl_load("", big, sizeof(big)));
	assert_null(wsdl_load("/nonexistent/x.wsdl", big, sizeof(big)));
	assert_non_null(strstr(big, "/nonexistent/x.wsdl: "));
	assert_null(wsdl_load(datadir, big, sizeof(big)));      /* a directory */
	/* a small error buffer is cut, not overrun */
	memset(err, 'x', sizeof(err));
	assert_null(wsdl_load(data("err_missing_message.wsdl"), err, sizeof(err)));
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_null(wsdl_load(data("err_missing_message.wsdl"), NULL, 0));
	w = load_ok("wrapped.wsdl");
	assert_null(wsdl_op(NULL, "Add"));
	assert_null(wsdl_port(NULL, NULL));
	wsdl_free(w);
	wsdl_free(NULL);
}

static int setup(void **state)
{
	const char *src = getenv("PORTICO_SRCDIR");

	(void)state;
	snprintf(datadir, sizeof(datadir), "%s/tests/data/soap/wsdl", src ? src : ".");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wsdl_wrapped_with_soap11_and_soap12_ports),
		cmocka_unit_test(test_wsdl_bare_document_literal),
		cmocka_unit_test(test_wsdl_rpc_literal),
		cmocka_unit_test(test_wsdl_rpc_encoded_is_refused),
		cmocka_unit_test(test_wsdl_imports_across_namespaces),
		cmocka_unit_test(test_wsdl_dotnet_asmx_shape),
		cmocka_unit_test(test_wsdl_spyne_shape),
		cmocka_unit_test(test_wsdl_node_soap_shape),
		cmocka_unit_test(test_wsdl_errors_name_file_and_line),
		cmocka_unit_test(test_wsdl_refuses_what_it_cannot_bind),
		cmocka_unit_test(test_wsdl_import_forms),
		cmocka_unit_test(test_wsdl_refuses_xml_attacks),
		cmocka_unit_test(test_wsdl_careless_calls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
