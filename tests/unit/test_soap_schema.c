/* test_soap_schema.c - JSON Schemas (Lua tables) made from hand-built
 * service models: the Lua mapping's shapes, facets, the cuts that keep
 * recursive types and the config tree's 16 levels finite. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "soap.h"

/* ---- building models ---------------------------------------------------- */

static struct xs_type t_int = { .kind = XS_SIMPLE, .prim = XS_P_INTEGER,
	.int_lo = INT32_MIN, .int_hi = INT32_MAX,
	.f = { .length = -1, .min_length = -1, .max_length = -1, .total_digits = -1,
	       .fraction_digits = -1 } };
static struct xs_type t_long = { .kind = XS_SIMPLE, .prim = XS_P_INTEGER,
	.int_lo = INT64_MIN, .int_hi = INT64_MAX,
	.f = { .length = -1, .min_length = -1, .max_length = -1, .total_digits = -1,
	       .fraction_digits = -1 } };
static struct xs_type t_str = { .kind = XS_SIMPLE, .prim = XS_P_STRING,
	.f = { .length = -1, .min_length = -1, .max_length = -1, .total_digits = -1,
	       .fraction_digits = -1 } };
static struct xs_type t_dt = { .kind = XS_SIMPLE, .prim = XS_P_DATETIME,
	.f = { .length = -1, .min_length = -1, .max_length = -1, .total_digits = -1,
	       .fraction_digits = -1 } };
static struct xs_type t_b64 = { .kind = XS_SIMPLE, .prim = XS_P_BASE64,
	.f = { .length = -1, .min_length = -1, .max_length = -1, .total_digits = -1,
	       .fraction_digits = -1 } };
static struct xs_type t_bool = { .kind = XS_SIMPLE, .prim = XS_P_BOOLEAN,
	.f = { .length = -1, .min_length = -1, .max_length = -1, .total_digits = -1,
	       .fraction_digits = -1 } };
static struct xs_type t_dec = { .kind = XS_SIMPLE, .prim = XS_P_DECIMAL,
	.f = { .has_min = 1, .min = 0, .has_max = 1, .max = 100, .max_excl = 1,
	       .length = -1, .min_length = -1, .max_length = -1, .total_digits = -1,
	       .fraction_digits = -1 } };
static const char *currencies[] = { "EUR", "USD" };
static struct xs_type t_cur = { .kind = XS_SIMPLE, .prim = XS_P_STRING,
	.f = { .enums = currencies, .nenums = 2, .length = 3, .min_length = -1,
	       .max_length = -1, .pattern = "[A-Z]{3}", .total_digits = -1,
	       .fraction_digits = -1 } };
static const char *levels[] = { "1", "2", "3" };
static struct xs_type t_level = { .kind = XS_SIMPLE, .prim = XS_P_INTEGER,
	.int_lo = INT32_MIN, .int_hi = INT32_MAX,
	.f = { .enums = levels, .nenums = 3, .length = -1, .min_length = -1,
	       .max_length = -1, .total_digits = -1, .fraction_digits = -1 } };

static struct xs_element *el(const char *name, struct xs_type *t, int nillable)
{
	static struct xs_element pool[64];
	static unsigned n;
	struct xs_element *e = &pool[n++];

	assert_true(n <= 64);
	e->name = name;
	e->type = t;
	e->nillable = nillable;
	return e;
}

static struct xs_particle *pel(struct xs_element *e, uint32_t min, uint32_t max)
{
	static struct xs_particle pool[64];
	static unsigned n;
	struct xs_particle *p = &pool[n++];

	assert_true(n <= 64);
	p->kind = XS_ELEMENT;
	p->min = min;
	p->max = max;
	p->el = e;
	return p;
}

static struct xs_particle *group(enum xs_pkind kind, uint32_t min, unsigned nkids, ...)
{
	static struct xs_particle pool[16];
	static struct xs_particle *kids[16][8];
	static unsigned n;
	struct xs_particle *p = &pool[n];
	va_list ap;

	assert_true(n < 16 && nkids <= 8);
	p->kind = kind;
	p->min = min;
	p->max = 1;
	p->kids = kids[n++];
	p->nkids = nkids;
	va_start(ap, nkids);
	for (unsigned i = 0; i < nkids; i++)
		p->kids[i] = va_arg(ap, struct xs_particle *);
	va_end(ap);
	return p;
}

static struct xs_type *complex(struct xs_particle *content)
{
	static struct xs_type pool[16];
	static unsigned n;
	struct xs_type *t = &pool[n++];

	assert_true(n <= 16);
	t->kind = XS_COMPLEX;
	t->content = content;
	return t;
}

/* A document/literal wrapped operation whose input element has type IN and
 * output element type OUT (NULL: one-way). */
static struct wsdl_op *wrapped_op(const char *name, struct xs_type *in, struct xs_type *out)
{
	static struct wsdl_op ops[8];
	static struct wsdl_part parts[16], *pp[16];
	static struct wsdl_message msgs[16];
	static unsigned n;
	struct wsdl_op *op = &ops[n];
	unsigned k = 2 * n++;

	assert_true(n <= 8);
	op->name = name;
	op->style = WSDL_DOCUMENT;
	op->wrapped = 1;
	parts[k].name = "parameters";
	parts[k].element = el(name, in, 0);
	pp[k] = &parts[k];
	op->in = &msgs[k];
	op->in_parts = &pp[k];
	op->nin_parts = 1;
	if (out) {
		parts[k + 1].name = "parameters";
		parts[k + 1].element = el("Response", out, 0);
		pp[k + 1] = &parts[k + 1];
		op->out = &msgs[k + 1];
		op->out_parts = &pp[k + 1];
		op->nout_parts = 1;
	}
	return op;
}

static struct wsdl model;   /* schema.c reads nothing from it */

/* ---- checking with Lua --------------------------------------------------- */

/* Runs CHECK (Lua, `s` is the schema) and fails the test with its error. */
static void check(lua_State *L, const char *code)
{
	assert_int_equal(lua_gettop(L), 1);   /* one schema pushed, nothing else */
	lua_setglobal(L, "s");
	if (luaL_dostring(L, code) != LUA_OK)
		fail_msg("%s\n-- in --\n%s", lua_tostring(L, -1), code);
}

static lua_State *state(void)
{
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	/* helpers: depth of table nesting; no empty required/enum anywhere */
	assert_int_equal(luaL_dostring(L,
		"function depth(t) local d = 0 for _, v in pairs(t) do if type(v) == 'table' then "
		"  local x = depth(v) if x > d then d = x end end end return d + 1 end\n"
		"function no_empty_lists(t) for k, v in pairs(t) do if type(v) == 'table' then "
		"  if (k == 'required' or k == 'enum') then assert(#v > 0, k .. ' is empty') end "
		"  no_empty_lists(v) end end end\n"
		"function has(list, x) for _, v in ipairs(list or {}) do if v == x then return true "
		"  end end return false end\n"), LUA_OK);
	return L;
}

static void test_schema_wrapped_shapes_properties_required_arrays_nillable(void **st)
{
	lua_State *L = state();
	struct xs_type *in = complex(group(XS_SEQUENCE, 1, 5,
		pel(el("accountId", &t_int, 0), 1, 1),
		pel(el("tags", &t_str, 0), 0, XS_UNBOUNDED),
		pel(el("note", &t_str, 1), 0, 1),
		pel(el("since", &t_dt, 0), 1, 1),
		pel(el("photo", &t_b64, 0), 0, 1)));
	struct xs_type *out = complex(group(XS_SEQUENCE, 1, 3,
		pel(el("balance", &t_dec, 0), 1, 1),
		pel(el("closedAt", &t_dt, 1), 1, 1),
		pel(el("ids", &t_long, 0), 1, 5)));
	struct wsdl_op *op = wrapped_op("GetAccount", in, out);

	(void)st;
	assert_int_equal(schema_push(L, &model, op, SC_INPUT), 1);
	check(L,
		"assert(s.type == 'object' and s.additionalProperties == false)\n"
		"local p = s.properties\n"
		"assert(p.accountId.type == 'integer' and p.accountId.minimum == -2147483648 and "
		"  p.accountId.maximum == 2147483647)\n"
		"assert(p.tags.type == 'array' and p.tags.items.type == 'string' and not p.tags.minItems "
		"  and not p.tags.maxItems)\n"
		"assert(p.note.type[1] == 'string' and p.note.type[2] == 'null')\n"
		"assert(p.since.format == 'date-time')\n"
		"assert(p.photo.format == 'byte' and p.photo.contentEncoding == 'base64')\n"
		"assert(#s.required == 2 and has(s.required, 'accountId') and has(s.required, 'since'))\n"
		"no_empty_lists(s)\n");
	assert_int_equal(schema_push(L, &model, op, SC_OUTPUT), 1);
	check(L,
		"local p = s.properties\n"
		"assert(p.balance.type == 'number' and p.balance.minimum == 0 and "
		"  p.balance.exclusiveMaximum == 100 and not p.balance.maximum)\n"
		/* decoded xsi:nil leaves the key out: not required on output */
		"assert(has(s.required, 'balance') and not has(s.required, 'closedAt'))\n"
		"assert(p.ids.type == 'array' and p.ids.minItems == 1 and p.ids.maxItems == 5)\n"
		/* long's int64 range is not stated */
		"assert(p.ids.items.type == 'integer' and p.ids.items.minimum == nil)\n");
	lua_close(L);
}

static void test_schema_choice_attributes_simple_content_facets(void **st)
{
	lua_State *L = state();
	struct xs_attr a_id = { .name = "id", .type = &t_int, .required = 1 };
	struct xs_attr a_cur = { .name = "currency", .type = &t_cur };
	struct xs_attr *amount_attrs[] = { &a_cur };
	struct xs_type amount = { .kind = XS_COMPLEX, .simple_content = &t_dec,
	                          .attrs = amount_attrs, .nattrs = 1, .doc = "an amount" };
	struct xs_attr *in_attrs[] = { &a_id };
	struct xs_type *in = complex(group(XS_SEQUENCE, 1, 3,
		pel(el("id", &t_str, 0), 1, 1),
		group(XS_CHOICE, 1, 2, pel(el("byName", &t_str, 0), 1, 1),
		      pel(el("byLevel", &t_level, 0), 1, 1)),
		pel(el("amount", &amount, 0), 1, 1)));
	struct wsdl_op *op;

	(void)st;
	in->attrs = in_attrs;
	in->nattrs = 1;
	op = wrapped_op("Find", in, NULL);
	assert_int_equal(schema_push(L, &model, op, SC_INPUT), 1);
	check(L,
		"local p = s.properties\n"
		/* the attribute shares the child element's name */
		"assert(p['@id'].type == 'integer' and p.id.type == 'string')\n"
		"assert(has(s.required, '@id') and has(s.required, 'id'))\n"
		/* the key present chooses the branch: none required */
		"assert(p.byName and p.byLevel and not has(s.required, 'byName') and "
		"  not has(s.required, 'byLevel'))\n"
		"assert(p.byLevel.enum[1] == 1 and math.type(p.byLevel.enum[3]) == 'integer')\n"
		"local a = p.amount\n"
		"assert(a.type == 'object' and a.description == 'an amount')\n"
		"assert(a.properties['$value'].type == 'number')\n"
		"local c = a.properties.currency\n"
		"assert(c.enum[1] == 'EUR' and c.enum[2] == 'USD' and c.minLength == 3 and "
		"  c.maxLength == 3 and c.pattern == '^(?:[A-Z]{3})$')\n"
		"assert(not a.required)\n"
		"no_empty_lists(s)\n");
	/* one-way */
	assert_int_equal(schema_push(L, &model, op, SC_OUTPUT), 1);
	check(L, "assert(s.type == 'object' and not s.properties)\n");
	lua_close(L);
}

static void test_schema_recursive_type_is_cut(void **st)
{
	lua_State *L = state();
	struct xs_type *node = complex(NULL);
	struct wsdl_op *op;

	(void)st;
	node->content = group(XS_SEQUENCE, 1, 2, pel(el("value", &t_int, 0), 1, 1),
	                      pel(el("next", node, 1), 0, 1));
	op = wrapped_op("Walk", node, node);
	assert_int_equal(schema_push(L, &model, op, SC_INPUT), 1);
	check(L,
		"local n, t = 0, s\n"
		"while t.properties do n = n + 1; t = t.properties.next end\n"
		"assert(n >= 10 and n <= 18, n)\n"
		"assert(t.type == 'object' or t.type[1] == 'object')\n");
	lua_close(L);
}

/* The config tree keeps 16 levels: the limited schema fits any budget. */
static void test_schema_limited_never_nests_deeper_than_asked(void **st)
{
	lua_State *L = state();
	struct xs_type *leaf = complex(group(XS_SEQUENCE, 1, 2,
		pel(el("level", &t_level, 1), 1, 1), pel(el("flag", &t_bool, 0), 1, 1)));
	struct xs_type *mid = complex(group(XS_SEQUENCE, 1, 1, pel(el("leaf", leaf, 1), 1, 3)));
	struct xs_type *top = complex(group(XS_SEQUENCE, 1, 1, pel(el("mid", mid, 0), 1, 9)));
	struct wsdl_op *op = wrapped_op("Deep", top, top);

	(void)st;
	for (int budget = 1; budget <= 13; budget++) {
		char code[256];

		assert_int_equal(schema_push_limited(L, &model, op, SC_INPUT, budget), 1);
		snprintf(code, sizeof(code),
		         "assert(depth(s) <= %d + 1, depth(s)) assert(s.type == 'object') "
		         "no_empty_lists(s)", budget);
		check(L, code);
	}
	assert_int_equal(schema_push_limited(L, &model, op, SC_INPUT, 13), 1);
	check(L, "local l = s.properties.mid.items.properties.leaf.items\n"
	         "assert(l.properties.level.enum[2] == 2 and l.properties.level.type[2] == 'null')\n");
	lua_close(L);
}

static void test_schema_bare_and_rpc_are_keyed_by_part(void **st)
{
	lua_State *L = state();
	struct xs_type *rec = complex(group(XS_SEQUENCE, 1, 1, pel(el("x", &t_int, 0), 1, 1)));
	struct wsdl_part p1 = { .name = "header", .element = el("Hdr", rec, 0) };
	struct wsdl_part p2 = { .name = "count", .type = &t_int };
	struct wsdl_part *parts[] = { &p1, &p2 };
	struct wsdl_message msg = { .name = "m", .parts = &p1, .nparts = 2 };
	struct wsdl_op op = { .name = "Bare", .style = WSDL_RPC, .in = &msg, .out = &msg,
	                      .in_parts = parts, .nin_parts = 2, .out_parts = parts,
	                      .nout_parts = 1, .doc = "does a bare thing" };

	(void)st;
	assert_int_equal(schema_push(L, &model, &op, SC_INPUT), 1);
	check(L,
		"assert(s.description == 'does a bare thing')\n"
		"assert(s.properties.header.properties.x.type == 'integer')\n"
		"assert(s.properties.count.type == 'integer')\n"
		"assert(has(s.required, 'header') and has(s.required, 'count'))\n");
	assert_int_equal(schema_push(L, &model, &op, SC_OUTPUT), 1);
	check(L, "assert(s.properties.header and not s.properties.count)\n");
	lua_close(L);
}

/* The endpoint tests' WSDL through the real loader: the shapes a client
 * of soap.expose and soap.describe sees. */
static void test_schema_of_a_loaded_wsdl(void **st)
{
	lua_State *L = state();
	char err[512];
	struct wsdl *w = wsdl_load(TEST_SRCDIR "/tests/data/soap/endpoint/calc.wsdl", err,
	                           sizeof(err));
	const struct wsdl_port *p;
	const struct wsdl_op *op;

	(void)st;
	if (!w)
		fail_msg("%s", err);
	assert_non_null(p = wsdl_port(w, "CalcSoap12"));
	assert_non_null(op = wsdl_op(p, "Echo"));
	assert_int_equal(schema_push(L, w, op, SC_INPUT), 1);
	check(L,
		"local p = s.properties.person\n"
		"assert(s.required[1] == 'person' and p.type == 'object')\n"
		"local q = p.properties\n"
		"assert(q.age.type[1] == 'integer' and q.age.type[2] == 'null')\n"
		"assert(q.tags.type == 'array' and q.address.items.properties.city.type == 'string')\n"
		"assert(q.level.enum[1] == 'low' and q.photo.format == 'byte')\n"
		"assert(q.id.type == 'integer' and has(p.required, 'name') and "
		"  not has(p.required, 'age') and not has(p.required, 'id'))\n"
		"no_empty_lists(s)\n");
	assert_non_null(op = wsdl_op(p, "Add"));
	assert_int_equal(schema_push(L, w, op, SC_OUTPUT), 1);
	check(L, "assert(s.properties.AddResult.type == 'integer' and s.required[1] == 'AddResult')");
	assert_int_equal(schema_push(L, w, op, SC_INPUT), 1);
	check(L, "assert(s.description == 'Adds two integers.')");
	wsdl_free(w);
	lua_close(L);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_wrapped_shapes_properties_required_arrays_nillable),
		cmocka_unit_test(test_schema_choice_attributes_simple_content_facets),
		cmocka_unit_test(test_schema_recursive_type_is_cut),
		cmocka_unit_test(test_schema_limited_never_nests_deeper_than_asked),
		cmocka_unit_test(test_schema_bare_and_rpc_are_keyed_by_part),
		cmocka_unit_test(test_schema_of_a_loaded_wsdl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
