/*
 * test_soap_xsd.c - the SOAP plugin's XML Schema model (xsd.c,
 * xsd_builtin.c): built-ins, every schema construct, imports and includes,
 * errors as file:line, value checks. Schemas are parsed here with libxml2
 * (NONET) and freed right after xs_set_add: the model must not keep the DOM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <libxml/parser.h>

#include "soap.h"

#define DIR TEST_SRCDIR "/tests/data/soap/xsd/"
#define HDR "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' xmlns:t='urn:e' " \
            "targetNamespace='urn:e'>\n"

struct fx {
	struct sp_pool *pool;
	struct xs_set *set;
	char err[1024];
};

static int fx_add_doc(struct fx *f, xmlDocPtr doc, const char *file)
{
	int rc;

	if (!doc) {
		snprintf(f->err, sizeof(f->err), "test: %s does not parse", file);
		return -1;
	}
	rc = xs_set_add(f->set, xmlDocGetRootElement(doc), file, f->err, sizeof(f->err));
	xmlFreeDoc(doc);   /* the model keeps nothing of the DOM */
	return rc;
}

static void fx_open(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->pool = sp_pool_new();
	assert_non_null(f->pool);
	f->set = xs_set_new(f->pool);
	assert_non_null(f->set);
}

static void fx_close(struct fx *f)
{
	xs_set_free(f->set);
	sp_pool_free(f->pool);
}

/* Loads a file and resolves; 0 or -1 with f->err. */
static int fx_file(struct fx *f, const char *path)
{
	fx_open(f);
	if (fx_add_doc(f, xmlReadFile(path, NULL, XML_PARSE_NONET), path))
		return -1;
	return xs_set_resolve(f->set, f->err, sizeof(f->err));
}

/* Loads XML as if it were DIR "mem.xsd" (relative locations from DIR). */
static int fx_mem(struct fx *f, const char *xml)
{
	fx_open(f);
	if (fx_add_doc(f, xmlReadMemory(xml, (int)strlen(xml), DIR "mem.xsd", NULL, XML_PARSE_NONET),
	               DIR "mem.xsd"))
		return -1;
	return xs_set_resolve(f->set, f->err, sizeof(f->err));
}

static void expect_error(const char *xml, const char *want)
{
	struct fx f;

	if (fx_mem(&f, xml) == 0)
		fail_msg("expected an error containing \"%s\", got none", want);
	if (!strstr(f.err, want))
		fail_msg("expected an error containing \"%s\", got \"%s\"", want, f.err);
	/* a failed set stays failed */
	assert_int_equal(xs_set_resolve(f.set, f.err, sizeof(f.err)), -1);
	fx_close(&f);
}

static const struct xs_particle *kid(const struct xs_particle *p, unsigned i)
{
	assert_non_null(p);
	assert_true(i < p->nkids);
	return p->kids[i];
}

static const struct xs_attr *attr(const struct xs_type *t, const char *name)
{
	for (unsigned i = 0; i < t->nattrs; i++)
		if (!strcmp(t->attrs[i]->name, name))
			return t->attrs[i];
	return NULL;
}

static void assert_el(const struct xs_particle *p, const char *ns, const char *name,
                      uint32_t min, uint32_t max)
{
	assert_non_null(p);
	assert_int_equal(p->kind, XS_ELEMENT);
	assert_string_equal(p->el->name, name);
	if (ns)
		assert_string_equal(p->el->ns, ns);
	else
		assert_null(p->el->ns);
	assert_int_equal(p->min, min);
	assert_int_equal(p->max, max);
}

/* ---- built-ins ------------------------------------------------------------------- */

static void test_xsd_builtins_cover_xsd_1_0(void **state)
{
	static const char *names[] = {
		"anyType", "anySimpleType", "string", "normalizedString", "token", "language",
		"Name", "NCName", "ID", "IDREF", "IDREFS", "ENTITY", "ENTITIES", "NMTOKEN",
		"NMTOKENS", "boolean", "decimal", "integer", "nonPositiveInteger",
		"negativeInteger", "long", "int", "short", "byte", "nonNegativeInteger",
		"unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte", "positiveInteger",
		"float", "double", "duration", "dateTime", "time", "date", "gYearMonth", "gYear",
		"gMonthDay", "gDay", "gMonth", "hexBinary", "base64Binary", "anyURI", "QName",
		"NOTATION",
	};
	const struct xs_type *t;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		t = xs_builtin(names[i]);
		if (!t)
			fail_msg("no built-in %s", names[i]);
		assert_string_equal(t->name, names[i]);
		assert_string_equal(t->ns, XS_NS);
		assert_int_equal(t->f.length, -1);
	}
	assert_null(xs_builtin("Integer"));
	assert_null(xs_builtin(NULL));
	assert_int_equal(xs_builtin("int")->prim, XS_P_INTEGER);
	assert_int_equal(xs_builtin("int")->int_lo, INT32_MIN);
	assert_int_equal(xs_builtin("unsignedShort")->int_hi, 65535);
	assert_true(xs_builtin("unsignedLong")->int_unsigned_long);
	assert_int_equal(xs_builtin("negativeInteger")->int_hi, -1);
	assert_int_equal(xs_builtin("decimal")->prim, XS_P_DECIMAL);
	assert_int_equal(xs_builtin("float")->prim, XS_P_FLOAT);
	assert_int_equal(xs_builtin("base64Binary")->prim, XS_P_BASE64);
	assert_int_equal(xs_builtin("hexBinary")->prim, XS_P_HEX);
	assert_int_equal(xs_builtin("dateTime")->prim, XS_P_DATETIME);
	assert_int_equal(xs_builtin("anySimpleType")->prim, XS_P_ANY);
	assert_ptr_equal(xs_builtin("NMTOKENS")->list_item, xs_builtin("NMTOKEN"));
	assert_ptr_equal(xs_builtin("byte")->base, xs_builtin("short"));
	t = xs_builtin("anyType");
	assert_int_equal(t->kind, XS_COMPLEX);
	assert_int_equal(t->prim, XS_P_ANY);
	assert_true(t->mixed);
	assert_int_equal(kid(t->content, 0)->kind, XS_ANY);
	assert_int_equal(kid(t->content, 0)->max, XS_UNBOUNDED);
}

static void ok(const char *type, const char *v)
{
	const char *e = xs_check_value(xs_builtin(type), v, strlen(v));

	if (e)
		fail_msg("xsd:%s \"%s\" refused: %s", type, v, e);
}

static void bad(const char *type, const char *v, const char *want)
{
	const char *e = xs_check_value(xs_builtin(type), v, strlen(v));

	if (!e)
		fail_msg("xsd:%s \"%s\" accepted", type, v);
	if (want && !strstr(e, want))
		fail_msg("xsd:%s \"%s\": \"%s\", expected \"%s\"", type, v, e, want);
}

static void test_xsd_check_builtin_lexical_forms(void **state)
{
	(void)state;
	ok("int", "2147483647");
	ok("int", " -2147483648 ");
	ok("int", "+7");
	bad("int", "2147483648", "out of range (-2147483648..2147483647)");
	bad("int", "1.0", "not an integer");
	bad("int", "", "not an integer");
	bad("int", "12a", "not an integer");
	ok("long", "-9223372036854775808");
	bad("long", "9223372036854775808", "out of range");
	bad("long", "-9223372036854775809", "out of range");
	ok("unsignedLong", "18446744073709551615");
	bad("unsignedLong", "18446744073709551616", "out of range");
	bad("unsignedLong", "-1", "out of range");
	ok("unsignedLong", "-0");
	ok("integer", "123456789012345678901234567890");
	ok("integer", "-123456789012345678901234567890");
	ok("nonNegativeInteger", "123456789012345678901234567890");
	bad("nonNegativeInteger", "-1", "out of range");
	bad("positiveInteger", "0", "out of range");
	bad("negativeInteger", "0", "out of range");
	bad("nonPositiveInteger", "123456789012345678901234567890", "out of range");
	ok("byte", "-128");
	bad("byte", "128", "out of range (-128..127)");
	bad("unsignedByte", "256", NULL);
	ok("decimal", "-1.50");
	ok("decimal", ".5");
	ok("decimal", "5.");
	bad("decimal", "1e3", "not a decimal");
	bad("decimal", "INF", NULL);
	bad("decimal", ".", NULL);
	ok("double", "1.5E-3");
	ok("double", "INF");
	ok("double", "-INF");
	ok("float", "NaN");
	bad("float", "inf", "not a number");
	bad("double", "1e", NULL);
	bad("double", "0x10", NULL);
	ok("boolean", "true");
	ok("boolean", "0");
	bad("boolean", "yes", "not a boolean");
	bad("boolean", "TRUE", NULL);
	ok("dateTime", "2024-02-29T23:59:59.123Z");
	ok("dateTime", "2024-01-01T00:00:00+05:30");
	ok("dateTime", "-0044-03-15T12:00:00");
	ok("dateTime", "2024-01-01T24:00:00");
	bad("dateTime", "2023-02-29T00:00:00", "not a dateTime");
	bad("dateTime", "2024-01-01 00:00:00", NULL);
	bad("dateTime", "2024-01-01T25:00:00", NULL);
	bad("dateTime", "2024-01-01T00:00:00+15:00", NULL);
	bad("dateTime", "2024-1-01T00:00:00", NULL);
	ok("date", "2024-12-31");
	ok("date", "2024-12-31Z");
	bad("date", "2024-13-01", "not a date");
	ok("time", "13:20:00.5");
	bad("time", "13:20", "not a time");
	ok("duration", "P1Y2M3DT4H5M6.7S");
	ok("duration", "-PT0S");
	ok("duration", "P3D");
	bad("duration", "P", "not a duration");
	bad("duration", "PT", NULL);
	bad("duration", "P1H", NULL);
	bad("duration", "P1D2Y", NULL);
	ok("gYear", "2024");
	ok("gYearMonth", "2024-02");
	ok("gMonth", "--02");
	ok("gMonthDay", "--02-29");
	ok("gDay", "---31");
	bad("gMonthDay", "--02-30", NULL);
	bad("gYear", "24", "not a gYear");
	ok("base64Binary", "aGVsbG8=");
	ok("base64Binary", "aGVs bG8=");
	bad("base64Binary", "aGVsbG8", "not base64");
	bad("base64Binary", "a*==", NULL);
	ok("hexBinary", "0aFF");
	bad("hexBinary", "0aF", "not hexBinary");
	bad("hexBinary", "zz", NULL);
	ok("QName", "soap:Server");
	bad("QName", "a:b:c", "not a QName");
	ok("NCName", "_a-b.c");
	bad("NCName", "a:b", "not an NCName");
	bad("NCName", "1a", NULL);
	ok("Name", "a:b");
	ok("NMTOKEN", "1a");
	ok("NMTOKENS", " 1a  b ");
	bad("NMTOKENS", "a ;", "item 2");
	ok("language", "en-GB");
	bad("language", "toolonglanguage", "not a language");
	ok("token", "  a   b ");
	ok("anyURI", "http://x/y");
	ok("string", "anything at all");
	assert_string_equal(xs_check_value(xs_builtin("string"), "a\0b", 3),
	                    "contains a NUL character");
	assert_null(xs_check_value(NULL, "x", 1));
	assert_null(xs_check_value(xs_builtin("anyType"), "<x/>", 4));
}

/* ---- one schema with every construct --------------------------------------------- */

static void test_xsd_loads_every_construct(void **state)
{
	struct fx f;
	const struct xs_type *acct, *sav, *addr, *t;
	const struct xs_element *e;
	const struct xs_particle *p, *c;
	const struct xs_attr *a;

	(void)state;
	if (fx_file(&f, DIR "main.xsd"))
		fail_msg("%s", f.err);

	/* a global element: nillable, documented, typed across the file */
	e = xs_find_element(f.set, "urn:main", "Account");
	assert_non_null(e);
	assert_true(e->global);
	assert_true(e->nillable);
	assert_string_equal(e->ns, "urn:main");
	assert_string_equal(e->doc, "An account.");
	sav = xs_find_type(f.set, "urn:main", "SavingsAccount");
	acct = xs_find_type(f.set, "urn:main", "Account");
	addr = xs_find_type(f.set, "urn:main", "Address");
	assert_ptr_equal(e->type, sav);
	assert_null(xs_find_element(f.set, "urn:other", "Account"));
	assert_null(xs_find_type(f.set, NULL, "Account"));
	assert_ptr_equal(xs_find_type(f.set, XS_NS, "int"), xs_builtin("int"));

	/* sequence, choice, nested groups, group ref, any, forms */
	p = acct->content;
	assert_int_equal(p->kind, XS_SEQUENCE);
	assert_int_equal(p->nkids, 7);
	assert_el(kid(p, 0), "urn:main", "id", 1, 1);
	assert_ptr_equal(kid(p, 0)->el->type, xs_builtin("long"));
	assert_ptr_equal(kid(p, 1)->el->type, xs_find_type(f.set, "urn:common", "Person"));
	assert_el(kid(p, 2), "urn:main", "addresses", 1, XS_UNBOUNDED);
	assert_ptr_equal(kid(p, 2)->el->type, addr);
	c = kid(p, 3);
	assert_int_equal(c->kind, XS_CHOICE);
	assert_int_equal(c->nkids, 3);
	assert_el(kid(c, 1), "urn:main", "phone", 1, 1);
	assert_int_equal(kid(c, 2)->kind, XS_SEQUENCE);
	assert_el(kid(kid(c, 2), 0), "urn:main", "fax", 1, 1);
	c = kid(p, 4);   /* group Notes, inlined with the reference's minOccurs */
	assert_int_equal(c->kind, XS_SEQUENCE);
	assert_int_equal(c->min, 0);
	assert_el(kid(c, 0), "urn:main", "note", 1, XS_UNBOUNDED);
	assert_el(kid(p, 5), NULL, "local", 0, 1);
	assert_int_equal(kid(p, 6)->kind, XS_ANY);
	assert_string_equal(kid(p, 6)->any_ns, "##other");
	assert_int_equal(kid(p, 6)->max, XS_UNBOUNDED);
	/* attribute groups, nested, with defaults; anyAttribute ignored */
	assert_int_equal(acct->nattrs, 2);
	assert_non_null(attr(acct, "createdBy"));
	assert_string_equal(attr(acct, "version")->default_value, "1");
	assert_ptr_equal(attr(acct, "version")->type, xs_builtin("int"));

	/* extension: sequence[base content, own content], attributes inherited */
	assert_ptr_equal(sav->base, acct);
	assert_int_equal(sav->content->kind, XS_SEQUENCE);
	assert_ptr_equal(kid(sav->content, 0), acct->content);
	assert_el(kid(kid(sav->content, 1), 0), "urn:main", "rate", 1, 1);
	assert_int_equal(sav->nattrs, 3);
	assert_string_equal(sav->attrs[2]->name, "tier");

	/* attributes: required, ref across namespaces, form=qualified, fixed;
	 * maxOccurs=0 dropped */
	assert_int_equal(addr->content->nkids, 3);
	assert_el(kid(addr->content, 2), "urn:main", "zip", 0, 1);
	assert_int_equal(addr->nattrs, 3);
	a = attr(addr, "country");
	assert_true(a->required);
	assert_null(a->ns);
	a = attr(addr, "lang");
	assert_string_equal(a->ns, "urn:common");
	assert_ptr_equal(a->type, xs_builtin("language"));
	assert_false(a->required);
	a = attr(addr, "kind");
	assert_string_equal(a->ns, "urn:main");
	assert_string_equal(a->fixed, "postal");

	/* restriction: content replaced, attributes merged (prohibited removed) */
	t = xs_find_type(f.set, "urn:main", "StreetOnly");
	assert_ptr_equal(t->base, addr);
	assert_int_equal(t->content->nkids, 1);
	assert_int_equal(t->nattrs, 2);
	assert_null(attr(t, "country"));
	assert_true(attr(t, "kind")->required);

	/* simpleContent extension and restriction */
	t = xs_find_type(f.set, "urn:main", "Money");
	assert_int_equal(t->kind, XS_COMPLEX);
	assert_null(t->content);
	assert_ptr_equal(t->simple_content, xs_find_type(f.set, "urn:main", "Amount"));
	assert_ptr_equal(attr(t, "currency")->type, xs_find_type(f.set, "urn:main", "Currency"));
	assert_true(attr(t, "currency")->required);
	t = xs_find_type(f.set, "urn:main", "SmallMoney");
	assert_int_equal(t->simple_content->prim, XS_P_DECIMAL);
	assert_true(t->simple_content->f.has_max);
	assert_true(t->simple_content->f.has_min);
	assert_int_equal(t->simple_content->f.fraction_digits, 2);
	assert_non_null(attr(t, "currency"));
	assert_null(xs_check_value(t, "999.99", 6));
	assert_non_null(xs_check_value(t, "1000.01", 7));
	assert_non_null(xs_check_value(t, "-1", 2));

	/* recursion through element types; element ref */
	t = xs_find_type(f.set, "urn:main", "Node");
	assert_ptr_equal(kid(t->content, 1)->el->type, t);
	assert_ptr_equal(kid(t->content, 2)->el, xs_find_element(f.set, "urn:main", "Tree"));
	assert_ptr_equal(xs_find_element(f.set, "urn:main", "Tree")->type, t);

	t = xs_find_type(f.set, "urn:main", "Bag");
	assert_int_equal(t->content->kind, XS_ALL);
	assert_int_equal(t->content->nkids, 2);
	t = xs_find_type(f.set, "urn:main", "Text");
	assert_true(t->mixed);
	assert_true(t->abstract);
	t = xs_find_type(f.set, "urn:main", "Empty");
	assert_int_equal(t->kind, XS_COMPLEX);
	assert_null(t->content);
	assert_int_equal(t->nattrs, 0);

	/* default, fixed, no type (anyType), substitutionGroup (the head's type) */
	assert_string_equal(xs_find_element(f.set, "urn:main", "Status")->default_value, "open");
	assert_string_equal(xs_find_element(f.set, "urn:main", "Kind")->fixed, "K");
	assert_ptr_equal(xs_find_element(f.set, "urn:main", "Anything")->type, xs_builtin("anyType"));
	assert_ptr_equal(xs_find_element(f.set, "urn:main", "Member")->type, addr);

	/* an anonymous type; a ref across the import; unqualified locals there */
	e = xs_find_element(f.set, "urn:main", "GetAccount");
	assert_null(e->type->name);
	p = e->type->content;
	assert_el(kid(p, 0), "urn:common", "Person", 1, 1);
	assert_true(kid(p, 0)->el->global);
	t = kid(p, 0)->el->type;
	assert_string_equal(t->name, "Person");
	assert_el(kid(t->content, 0), NULL, "name", 1, 1);
	assert_ptr_equal(kid(t->content, 0)->el->type, xs_find_type(f.set, "urn:common", "Name"));
	assert_true(kid(t->content, 1)->el->nillable);
	assert_ptr_equal(kid(p, 1)->el->type, xs_find_type(f.set, "urn:main", "SmallInt"));
	t = kid(p, 2)->el->type;
	assert_int_equal(t->f.nenums, 1);
	assert_string_equal(t->f.enums[0], "a");
	/* the chameleon include: its names took urn:main */
	assert_el(kid(p, 3), "urn:main", "ChamEl", 0, 1);
	t = xs_find_type(f.set, "urn:main", "ChamType");
	assert_non_null(t);
	assert_ptr_equal(kid(p, 3)->el->type, t);
	assert_ptr_equal(kid(t->content, 1)->el->type, t);
	assert_string_equal(kid(t->content, 0)->el->ns, "urn:main");
	assert_null(xs_find_type(f.set, NULL, "ChamType"));

	t = xs_find_type(f.set, "urn:main", "Currency");
	assert_string_equal(t->doc, "ISO 4217 code.");
	fx_close(&f);
}

static const char *check(struct fx *f, const char *type, const char *v)
{
	const struct xs_type *t = xs_find_type(f->set, "urn:main", type);

	assert_non_null(t);
	return xs_check_value(t, v, strlen(v));
}

static void test_xsd_facets_merge_along_the_chain(void **state)
{
	struct fx f;
	const struct xs_type *t;

	(void)state;
	if (fx_file(&f, DIR "main.xsd"))
		fail_msg("%s", f.err);
	assert_null(check(&f, "Currency", "EUR"));
	assert_string_equal(check(&f, "Currency", "GBP"), "not one of the enumeration values");
	assert_non_null(check(&f, "Currency", " EUR"));   /* string: whitespace kept */
	/* two patterns in one step: either matches; length too */
	assert_null(check(&f, "Code", "ABC"));
	assert_null(check(&f, "Code", "X12"));
	assert_null(check(&f, "Code", " ABC "));          /* token: collapsed */
	assert_non_null(strstr(check(&f, "Code", "abc"), "does not match the pattern"));
	assert_string_equal(check(&f, "Code", "X123"), "not exactly 3 characters");
	assert_null(check(&f, "Amount", "12345678.90"));
	assert_string_equal(check(&f, "Amount", "1.234"), "more than 2 fraction digits");
	assert_null(check(&f, "Amount", "1.2300"));
	assert_string_equal(check(&f, "Amount", "12345678901"), "more than 10 digits");
	assert_non_null(strstr(check(&f, "Amount", "-1"), "less than the minimum 0"));
	assert_null(check(&f, "SmallInt", "99"));
	assert_non_null(strstr(check(&f, "SmallInt", "100"), "not less than 100"));
	assert_non_null(check(&f, "SmallInt", "0"));
	assert_non_null(check(&f, "SmallInt", "+5"));     /* the pattern [0-9]+ */
	/* EvenSmall: its own bound and pattern and SmallInt's, all at once */
	t = xs_find_type(f.set, "urn:main", "EvenSmall");
	assert_ptr_equal(t->base, xs_find_type(f.set, "urn:main", "SmallInt"));
	assert_true(t->f.has_min);
	assert_int_equal(t->f.min, 1);
	assert_int_equal(t->f.max, 50);
	assert_int_equal(t->int_hi, INT32_MAX);
	assert_null(check(&f, "EvenSmall", "48"));
	assert_non_null(check(&f, "EvenSmall", "47"));
	assert_non_null(check(&f, "EvenSmall", "52"));
	assert_non_null(check(&f, "EvenSmall", "0"));
	assert_non_null(check(&f, "EvenSmall", "+4"));
	/* lists: items checked, length counts items */
	t = xs_find_type(f.set, "urn:main", "IntList");
	assert_ptr_equal(t->list_item, xs_builtin("int"));
	assert_null(check(&f, "IntList", " 1 2  3 "));
	assert_null(check(&f, "IntList", ""));
	assert_non_null(strstr(check(&f, "IntList", "1 x"), "item 2: not an integer"));
	assert_null(check(&f, "ShortList", "1 2 3"));
	assert_string_equal(check(&f, "ShortList", "1 2 3 4"), "longer than 3 items");
	/* a union: a string */
	assert_int_equal(xs_find_type(f.set, "urn:main", "NumOrWord")->prim, XS_P_STRING);
	assert_null(check(&f, "NumOrWord", "anything"));
	/* length counts characters for strings, bytes for binary */
	assert_null(check(&f, "Short5", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
	assert_string_equal(check(&f, "Short5", "abcdef"), "longer than 5 characters");
	assert_null(check(&f, "Blob4", "AAECAw=="));
	assert_string_equal(check(&f, "Blob4", "AAEC"), "not exactly 4 bytes");
	fx_close(&f);
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_xsd_unknown_names_are_errors_with_file_line(void **state)
{
	(void)state;
	expect_error(HDR "<xs:element name='a'/>\n<xs:element name='b' type='t:Missing'/>\n"
	             "</xs:schema>", "mem.xsd:3: unknown type {urn:e}Missing");
	expect_error(HDR "<xs:element name='b' type='xs:integr'/></xs:schema>",
	             "mem.xsd:2: unknown type {http://www.w3.org/2001/XMLSchema}integr");
	expect_error(HDR "<xs:complexType name='T'><xs:sequence>\n"
	             "<xs:element ref='t:nope'/></xs:sequence></xs:complexType></xs:schema>",
	             "mem.xsd:3: unknown element {urn:e}nope");
	expect_error(HDR "<xs:complexType name='T'>\n<xs:attribute ref='t:nope'/>"
	             "</xs:complexType></xs:schema>", "mem.xsd:3: unknown attribute {urn:e}nope");
	expect_error(HDR "<xs:complexType name='T'>\n<xs:group ref='t:nope'/>"
	             "</xs:complexType></xs:schema>", "mem.xsd:3: unknown group {urn:e}nope");
	expect_error(HDR "<xs:complexType name='T'>\n<xs:attributeGroup ref='t:nope'/>"
	             "</xs:complexType></xs:schema>", "mem.xsd:3: unknown attributeGroup {urn:e}nope");
	/* unprefixed with no default namespace: no namespace */
	expect_error(HDR "<xs:element name='b' type='Missing'/></xs:schema>",
	             "unknown type {}Missing");
	expect_error(HDR "<xs:element name='b' type='q:Missing'/></xs:schema>",
	             "mem.xsd:2: type=\"q:Missing\": undeclared namespace prefix");
	/* rpc/encoded schemas: say why rather than only what */
	expect_error(HDR "<xs:import namespace='http://schemas.xmlsoap.org/soap/encoding/'/>"
	             "<xs:complexType name='A' xmlns:enc='http://schemas.xmlsoap.org/soap/encoding/'>\n"
	             "<xs:complexContent><xs:restriction base='enc:Array'/></xs:complexContent>"
	             "</xs:complexType></xs:schema>", "mem.xsd:3: unknown type "
	             "{http://schemas.xmlsoap.org/soap/encoding/}Array: SOAP encoding");
	expect_error(HDR "<xs:complexType name='T'>\n<xs:complexContent><xs:extension base='t:X'/>"
	             "</xs:complexContent></xs:complexType></xs:schema>", "unknown type {urn:e}X");
}

static void test_xsd_refuses_cycles_through_bases_and_groups(void **state)
{
	(void)state;
	expect_error(HDR "<xs:complexType name='A'><xs:complexContent>\n"
	             "<xs:extension base='t:B'/></xs:complexContent></xs:complexType>\n"
	             "<xs:complexType name='B'><xs:complexContent>\n"
	             "<xs:extension base='t:A'/></xs:complexContent></xs:complexType></xs:schema>",
	             "a cycle through base types");
	expect_error(HDR "<xs:simpleType name='S'>\n<xs:restriction base='t:S'/></xs:simpleType>"
	             "</xs:schema>", "mem.xsd:3: type {urn:e}S derives from itself");
	expect_error(HDR "<xs:group name='G'><xs:sequence>\n<xs:group ref='t:H'/></xs:sequence>"
	             "</xs:group>\n<xs:group name='H'><xs:choice>\n<xs:group ref='t:G'/></xs:choice>"
	             "</xs:group></xs:schema>", "group {urn:e}G contains itself");
	expect_error(HDR "<xs:attributeGroup name='G'>\n<xs:attributeGroup ref='t:G'/>"
	             "</xs:attributeGroup></xs:schema>",
	             "mem.xsd:3: attributeGroup {urn:e}G contains itself");
	expect_error(HDR "<xs:element name='A' substitutionGroup='t:B'/>\n"
	             "<xs:element name='B' substitutionGroup='t:A'/></xs:schema>",
	             "a cycle through substitutionGroup");
}

static void test_xsd_refuses_bad_declarations(void **state)
{
	(void)state;
	expect_error(HDR "<xs:simpleType name='P'><xs:restriction base='xs:string'>\n"
	             "<xs:pattern value='[a-'/></xs:restriction></xs:simpleType></xs:schema>",
	             "mem.xsd:3: pattern \"[a-\" is not a valid XML Schema regular expression");
	expect_error(HDR "<xs:complexType name='T'><xs:sequence>\n<xs:element name='a' "
	             "minOccurs='2' maxOccurs='1'/></xs:sequence></xs:complexType></xs:schema>",
	             "mem.xsd:3: maxOccurs is less than minOccurs");
	expect_error(HDR "<xs:complexType name='T'><xs:sequence>\n<xs:element name='a' "
	             "maxOccurs='many'/></xs:sequence></xs:complexType></xs:schema>",
	             "maxOccurs=\"many\" is not a count");
	expect_error(HDR "<xs:complexType name='T'><xs:sequence>\n<xs:element name='a' "
	             "minOccurs='-1'/></xs:sequence></xs:complexType></xs:schema>",
	             "minOccurs=\"-1\" is not a count");
	expect_error(HDR "<xs:simpleType name='S'><xs:restriction base='xs:int'>\n"
	             "<xs:maxInclusive value='ten'/></xs:restriction></xs:simpleType></xs:schema>",
	             "mem.xsd:3: maxInclusive value=\"ten\" is not a number");
	expect_error(HDR "<xs:simpleType name='S'><xs:restriction base='xs:string'>\n"
	             "<xs:maxLength value='-2'/></xs:restriction></xs:simpleType></xs:schema>",
	             "maxLength value=\"-2\" is not a count");
	expect_error(HDR "<xs:complexType name='T'/>\n<xs:simpleType name='T'>"
	             "<xs:restriction base='xs:int'/></xs:simpleType></xs:schema>",
	             "mem.xsd:3: type {urn:e}T is declared twice (first at ");
	expect_error(HDR "<xs:complexType name='T'/>\n<xs:element name='e'><xs:complexType>"
	             "<xs:attribute name='a' type='t:T'/></xs:complexType></xs:element></xs:schema>",
	             "attribute a: type {urn:e}T is not a simple type");
	expect_error(HDR "<xs:simpleType name='S'>\n<xs:restriction base='t:T'/></xs:simpleType>"
	             "<xs:complexType name='T'/></xs:schema>", "restricts {urn:e}T, a complex type");
	expect_error(HDR "<xs:complexType name='T'><xs:complexContent>\n"
	             "<xs:extension base='xs:int'/></xs:complexContent></xs:complexType></xs:schema>",
	             "mem.xsd:3: complexContent base {http://www.w3.org/2001/XMLSchema}int is a "
	             "simple type");
	expect_error(HDR "<xs:complexType name='T'/><xs:complexType name='U'><xs:simpleContent>\n"
	             "<xs:extension base='t:T'/></xs:simpleContent></xs:complexType></xs:schema>",
	             "mem.xsd:3: simpleContent base {urn:e}T has no simple content");
	expect_error(HDR "<xs:simpleType name='S'/></xs:schema>",
	             "simpleType needs a restriction, list or union");
	expect_error(HDR "<xs:element type='xs:int'/></xs:schema>", "a global element needs a name");
	expect_error(HDR "<xs:complexType name='T'><xs:sequence>\n<xs:element type='xs:int'/>"
	             "</xs:sequence></xs:complexType></xs:schema>",
	             "mem.xsd:3: a local element needs name= or ref=");
}

static void test_xsd_locations_local_files_only(void **state)
{
	(void)state;
	expect_error(HDR "<xs:import namespace='urn:x'\n schemaLocation='http://example.com/x.xsd'/>"
	             "</xs:schema>", "mem.xsd:3: schemaLocation \"http://example.com/x.xsd\": "
	             "only local files are read");
	expect_error(HDR "<xs:include schemaLocation='https://example.com/x.xsd'/></xs:schema>",
	             "only local files are read");
	expect_error(HDR "<xs:include schemaLocation='ftp://example.com/x.xsd'/></xs:schema>",
	             "only local files are read");
	expect_error(HDR "<xs:element name='b' type='t:'/></xs:schema>", "type=\"t:\": undeclared");
	expect_error(HDR "<xs:element name='b' type=' '/></xs:schema>", "type=\"\": an empty name");
	expect_error(HDR "<xs:include schemaLocation='file://host/etc/x.xsd'/></xs:schema>",
	             "a file: URL with a host is not a local file");
	expect_error(HDR "<xs:include\n schemaLocation='nope.xsd'/></xs:schema>",
	             "mem.xsd:3: schemaLocation \"nope.xsd\": cannot open");
	expect_error(HDR "<xs:include/></xs:schema>", "xsd:include needs a schemaLocation");
	expect_error(HDR "<xs:redefine schemaLocation='cham.xsd'/></xs:schema>",
	             "mem.xsd:2: xsd:redefine is not supported");
	expect_error(HDR "<xs:include schemaLocation='doctype.xsd'/></xs:schema>",
	             "DOCTYPE is not allowed");
	expect_error(HDR "<xs:import namespace='urn:x' schemaLocation='not-schema.xml'/></xs:schema>",
	             "not-schema.xml:2: not an XML Schema");
	expect_error(HDR "<xs:import namespace='urn:x' schemaLocation='other-ns.xsd'/></xs:schema>",
	             "xsd:import namespace=\"urn:x\" but");
	expect_error(HDR "<xs:include schemaLocation='other-ns.xsd'/></xs:schema>",
	             "other-ns.xsd:2: an included schema's targetNamespace \"urn:other\" differs");
}

static void test_xsd_file_urls_and_absolute_paths_are_local(void **state)
{
	char xml[2048];
	struct fx f;

	(void)state;
	snprintf(xml, sizeof(xml), HDR "<xs:import namespace='urn:other' schemaLocation='file://%s'/>"
	         "<xs:import namespace='urn:other' schemaLocation='%s'/>"
	         "<xs:element name='r' xmlns:o='urn:other'><xs:complexType><xs:sequence>"
	         "<xs:element ref='o:e'/></xs:sequence></xs:complexType></xs:element></xs:schema>",
	         DIR "other-ns.xsd", DIR "sub/../other-ns.xsd");
	if (fx_mem(&f, xml))
		fail_msg("%s", f.err);
	assert_non_null(xs_find_element(f.set, "urn:other", "e"));
	fx_close(&f);
	/* no namespace= (legacy WSDLs): the file's; read once with the others */
	snprintf(xml, sizeof(xml), HDR "<xs:import namespace='urn:other' "
	         "schemaLocation='file://localhost%s'/><xs:import schemaLocation='other-ns.xsd'/>"
	         "<xs:import schemaLocation='./sub/../other-ns.xsd'/></xs:schema>", DIR "other-ns.xsd");
	if (fx_mem(&f, xml))
		fail_msg("%s", f.err);
	assert_non_null(xs_find_element(f.set, "urn:other", "e"));
	fx_close(&f);
}

/* Two inline schemas (as in one wsdl:types) referring to each other by
 * namespace, with no schemaLocation. */
static void test_xsd_schemas_of_one_set_see_each_other(void **state)
{
	static const char a[] = "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' "
		"xmlns:b='urn:b' targetNamespace='urn:a'><xs:import namespace='urn:b'/>"
		"<xs:element name='A' type='b:B'/></xs:schema>";
	static const char b[] = "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' "
		"xmlns:a='urn:a' targetNamespace='urn:b'><xs:complexType name='B'><xs:sequence>"
		"<xs:element ref='a:A' minOccurs='0'/></xs:sequence></xs:complexType></xs:schema>";
	struct fx f;

	(void)state;
	fx_open(&f);
	assert_int_equal(fx_add_doc(&f, xmlReadMemory(a, sizeof(a) - 1, "w.wsdl", NULL, 0),
	                            "w.wsdl"), 0);
	assert_int_equal(fx_add_doc(&f, xmlReadMemory(b, sizeof(b) - 1, "w.wsdl", NULL, 0),
	                            "w.wsdl"), 0);
	assert_null(xs_find_element(f.set, "urn:a", "A"));   /* not before resolve */
	if (xs_set_resolve(f.set, f.err, sizeof(f.err)))
		fail_msg("%s", f.err);
	const struct xs_element *e = xs_find_element(f.set, "urn:a", "A");

	assert_ptr_equal(e->type, xs_find_type(f.set, "urn:b", "B"));
	assert_ptr_equal(e->type->content->kids[0]->el, e);
	/* resolved: no more schemas */
	assert_int_equal(fx_add_doc(&f, xmlReadMemory(b, sizeof(b) - 1, "w.wsdl", NULL, 0),
	                            "w.wsdl"), -1);
	fx_close(&f);
}

static void test_xsd_not_a_schema(void **state)
{
	static const char x[] = "<root/>";
	struct fx f;

	(void)state;
	fx_open(&f);
	assert_int_equal(fx_add_doc(&f, xmlReadMemory(x, sizeof(x) - 1, "x.xml", NULL, 0), "x.xml"),
	                 -1);
	assert_non_null(strstr(f.err, "x.xml:1: not an XML Schema"));
	fx_close(&f);
}

/* ---- size ------------------------------------------------------------------------------ */

static void test_xsd_thousand_types_load_fast(void **state)
{
	struct sbuf b = { 0 };
	struct timespec t0, t1;
	struct fx f;
	double ms;

	(void)state;
	sbuf_puts(&b, HDR);
	for (int i = 0; i < 1000; i++) {
		if (i % 10 == 5)
			sbuf_printf(&b, "<xs:complexType name='T%d'><xs:complexContent><xs:extension "
			            "base='t:T%d'><xs:sequence><xs:element name='x%d' type='xs:int'/>"
			            "</xs:sequence><xs:attribute name='a%d' type='t:S%d'/></xs:extension>"
			            "</xs:complexContent></xs:complexType>\n", i, i - 1, i, i, i);
		else
			sbuf_printf(&b, "<xs:complexType name='T%d'><xs:sequence>"
			            "<xs:element name='a' type='xs:string'/>"
			            "<xs:element name='next' type='t:T%d' minOccurs='0'/>"
			            "<xs:element name='prev' type='t:T%d' minOccurs='0' maxOccurs='unbounded'/>"
			            "<xs:element name='s' type='t:S%d'/>"
			            "</xs:sequence></xs:complexType>\n", i, (i + 1) % 1000, (i + 999) % 1000, i);
		sbuf_printf(&b, "<xs:simpleType name='S%d'><xs:restriction base='xs:string'>"
		            "<xs:pattern value='[a-z]{1,%d}'/></xs:restriction></xs:simpleType>\n"
		            "<xs:element name='E%d' type='t:T%d'/>\n", i, i % 50 + 1, i, i);
	}
	sbuf_puts(&b, "</xs:schema>");
	assert_false(b.oom);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (fx_mem(&f, b.p))
		fail_msg("%s", f.err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("1000 types (and 1000 patterns) loaded in %.1f ms\n", ms);
	assert_true(ms < 2000);
	assert_ptr_equal(xs_find_element(f.set, "urn:e", "E999")->type,
	                 xs_find_type(f.set, "urn:e", "T999"));
	assert_ptr_equal(xs_find_type(f.set, "urn:e", "T15")->base, xs_find_type(f.set, "urn:e", "T14"));
	assert_null(xs_check_value(xs_find_type(f.set, "urn:e", "S3"), "abcd", 4));
	assert_non_null(xs_check_value(xs_find_type(f.set, "urn:e", "S3"), "abcde", 5));
	fx_close(&f);
	sbuf_free(&b);
}

static void test_xsd_refuses_derivation_chains_too_deep(void **state)
{
	struct sbuf b = { 0 };

	(void)state;
	sbuf_puts(&b, HDR "<xs:simpleType name='S0'><xs:restriction base='xs:int'/></xs:simpleType>");
	for (int i = 1; i < 400; i++)
		sbuf_printf(&b, "<xs:simpleType name='S%d'><xs:restriction base='t:S%d'/>"
		            "</xs:simpleType>", i, i - 1);
	sbuf_puts(&b, "</xs:schema>");
	/* declared in order the fills go one level at a time; reversed they nest */
	struct sbuf r = { 0 };

	sbuf_puts(&r, HDR);
	for (int i = 399; i > 0; i--)
		sbuf_printf(&r, "<xs:simpleType name='S%d'><xs:restriction base='t:S%d'/>"
		            "</xs:simpleType>", i, i - 1);
	sbuf_puts(&r, "<xs:simpleType name='S0'><xs:restriction base='xs:int'/></xs:simpleType>"
	          "</xs:schema>");
	struct fx f;

	if (fx_mem(&f, b.p))
		fail_msg("%s", f.err);
	fx_close(&f);
	expect_error(r.p, "deeper than 256");
	sbuf_free(&b);
	sbuf_free(&r);
}

/* ---- many threads, one model -------------------------------------------------------- */

static struct fx shared;

static void *check_loop(void *arg)
{
	const struct xs_type *code = xs_find_type(shared.set, "urn:main", "Code");
	const struct xs_type *even = xs_find_type(shared.set, "urn:main", "EvenSmall");
	long bad = 0;

	(void)arg;
	for (int i = 0; i < 5000; i++) {
		char v[16];
		const char *e;

		bad += xs_check_value(code, "ABC", 3) != NULL;
		bad += xs_check_value(code, "abc", 3) == NULL;
		snprintf(v, sizeof(v), "%d", i % 60);
		e = xs_check_value(even, v, strlen(v));
		bad += (e == NULL) != (i % 60 >= 1 && i % 60 <= 50 && i % 2 == 0);
		/* the message is the thread's own */
		e = xs_check_value(xs_builtin("int"), "99999999999", 11);
		bad += !e || strcmp(e, "out of range (-2147483648..2147483647)") != 0;
	}
	return (void *)bad;
}

static void test_xsd_checks_from_many_threads(void **state)
{
	pthread_t t[4];

	(void)state;
	if (fx_file(&shared, DIR "main.xsd"))
		fail_msg("%s", shared.err);
	for (int k = 0; k < 4; k++)
		assert_int_equal(pthread_create(&t[k], NULL, check_loop, NULL), 0);
	for (int k = 0; k < 4; k++) {
		void *bad;

		assert_int_equal(pthread_join(t[k], &bad), 0);
		assert_null(bad);
	}
	fx_close(&shared);
}

/* Oversized, odd and careless input: answered, never a crash. */
static void test_xsd_hostile_values_and_calls(void **state)
{
	size_t n = 2 << 20;
	char *big = malloc(n);
	struct fx f;

	(void)state;
	assert_non_null(big);
	memset(big, 'A', n);
	if (fx_file(&f, DIR "main.xsd"))
		fail_msg("%s", f.err);
	/* past the stack buffer: a heap copy, then the checks */
	assert_string_equal(xs_check_value(xs_find_type(f.set, "urn:main", "Short5"), big, n),
	                    "longer than 5 characters");
	assert_non_null(xs_check_value(xs_find_type(f.set, "urn:main", "Code"), big, n));
	assert_null(xs_check_value(xs_builtin("base64Binary"), big, n));
	assert_string_equal(xs_check_value(xs_builtin("int"), big, n), "not an integer");
	memset(big, '9', n);
	assert_null(xs_check_value(xs_builtin("integer"), big, n));
	assert_non_null(xs_check_value(xs_builtin("long"), big, n));
	assert_null(xs_check_value(xs_builtin("double"), big, 400));
	assert_non_null(xs_check_value(xs_builtin("dateTime"), big, n));
	assert_non_null(xs_check_value(xs_builtin("duration"), big, n));
	/* invalid UTF-8 and control bytes: a string is a string */
	assert_null(xs_check_value(xs_builtin("string"), "\xff\xfe\x01", 3));
	assert_non_null(xs_check_value(xs_builtin("int"), "\xff", 1));
	assert_null(xs_check_value(xs_builtin("string"), "", 0));
	assert_non_null(xs_check_value(xs_builtin("date"), "", 0));
	/* resolving again is a no-op; lookups of nothing find nothing */
	assert_int_equal(xs_set_resolve(f.set, f.err, sizeof(f.err)), 0);
	assert_null(xs_find_type(f.set, "urn:main", ""));
	assert_null(xs_find_element(f.set, NULL, "nope"));
	assert_null(xs_find_type(f.set, XS_NS, "nope"));
	fx_close(&f);
	xs_set_free(NULL);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xsd_builtins_cover_xsd_1_0),
		cmocka_unit_test(test_xsd_check_builtin_lexical_forms),
		cmocka_unit_test(test_xsd_loads_every_construct),
		cmocka_unit_test(test_xsd_facets_merge_along_the_chain),
		cmocka_unit_test(test_xsd_unknown_names_are_errors_with_file_line),
		cmocka_unit_test(test_xsd_refuses_cycles_through_bases_and_groups),
		cmocka_unit_test(test_xsd_refuses_bad_declarations),
		cmocka_unit_test(test_xsd_locations_local_files_only),
		cmocka_unit_test(test_xsd_file_urls_and_absolute_paths_are_local),
		cmocka_unit_test(test_xsd_schemas_of_one_set_see_each_other),
		cmocka_unit_test(test_xsd_not_a_schema),
		cmocka_unit_test(test_xsd_thousand_types_load_fast),
		cmocka_unit_test(test_xsd_refuses_derivation_chains_too_deep),
		cmocka_unit_test(test_xsd_checks_from_many_threads),
		cmocka_unit_test(test_xsd_hostile_values_and_calls),
	};

	xmlInitParser();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
