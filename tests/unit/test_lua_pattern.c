/*
 * test_lua_pattern.c - core/lua/lua_pattern.c against stock Lua 5.4.
 *
 * The differential tests run the same calls (hand-picked edge cases, then a
 * generated set) through liblua5.4's string library in one state and through
 * ours in another, and compare every result and error message, printed by
 * the same Lua harness. The budget tests supply a charge function that
 * counts, and raises once a cap is passed, as lua_budget_charge does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_pattern.h"

/* ---- the charge stub ----------------------------------------------------- */

static uint64_t charged, charge_calls, charge_cap, charge_max;

static void charge_stub(lua_State *L, uint64_t steps)
{
	charged += steps;
	charge_calls++;
	if (steps > charge_max)
		charge_max = steps;
	if (charge_cap && charged > charge_cap)
		luaL_error(L, "budget spent (%d steps)", (int)charged);
}

static void charge_reset(uint64_t cap)
{
	charged = charge_calls = charge_max = 0;
	charge_cap = cap;
}

/* ---- the two states ---------------------------------------------------------- */

/* Prints a call's results the same way in both states. */
static const char HARNESS[] =
	"local function ser(...)\n"
	"  local t = {}\n"
	"  for i = 1, select('#', ...) do\n"
	"    local v = select(i, ...)\n"
	"    if type(v) == 'string' then t[#t + 1] = string.format('%q', v)\n"
	"    elseif type(v) == 'number' then t[#t + 1] = math.type(v) .. ':' .. tostring(v)\n"
	"    else t[#t + 1] = tostring(v) end\n"
	"  end\n"
	"  return '(' .. table.concat(t, ',') .. ')'\n"
	"end\n"
	"local function val(src) return load('return ' .. src)() end\n"
	"local tbl = setmetatable({}, { __index = function(_, k)\n"
	"  if k == '' then return false end\n"
	"  if type(k) == 'string' and #k % 2 == 0 then return '<' .. k .. '>' end\n"
	"  if type(k) == 'number' then return k * 10 end\n"
	"end })\n"
	"local function fn(...)\n"
	"  local n, x = select('#', ...), ...\n"
	"  if n == 0 or x == nil then return nil end\n"
	"  if type(x) == 'number' then return x * 2 end\n"
	"  if #x == 1 then return false end\n"
	"  if #x == 3 then return 1.5 end\n"
	"  return '[' .. table.concat({ ... }, '|') .. ']'\n"
	"end\n"
	"local repls = { tbl = tbl, fn = fn, bad = function() return {} end }\n"
	"function run(kind, s, p, a, b)\n"
	"  a, b = val(a), val(b)\n"
	"  if kind == 'find' then return ser(pcall(string.find, s, p, a, b)) end\n"
	"  if kind == 'meth' then return ser(pcall(function() return s:find(p, a, b) end)) end\n"
	"  if kind == 'match' then return ser(pcall(string.match, s, p, a)) end\n"
	"  if kind == 'gmatch' then\n"
	"    local ok, it = pcall(string.gmatch, s, p, a)\n"
	"    if not ok then return ser(false, it) end\n"
	"    local out = {}\n"
	"    for i = 1, 40 do\n"
	"      local r = table.pack(pcall(it))\n"
	"      out[#out + 1] = ser(table.unpack(r, 1, r.n))\n"
	"      if not r[1] or r.n == 1 then break end\n"
	"    end\n"
	"    return table.concat(out, ';')\n"
	"  end\n"
	"  if kind == 'gsub' then\n"
	"    if repls[a] then a = repls[a] end\n"
	"    return ser(pcall(string.gsub, s, p, a, b))\n"
	"  end\n"
	"  error('no kind ' .. kind)\n"
	"end\n";

struct pair {
	lua_State *stock, *ours;
	unsigned ncases;
};

static lua_State *state_new(int ours)
{
	lua_State *L = luaL_newstate();

	assert_non_null(L);
	luaL_openlibs(L);
	if (ours) {
		lua_getglobal(L, "string");
		lua_pattern_open(L, charge_stub);
		lua_pop(L, 1);
	}
	if (luaL_dostring(L, HARNESS) != LUA_OK)
		fail_msg("harness: %s", lua_tostring(L, -1));
	return L;
}

static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));

	p->stock = state_new(0);
	p->ours = state_new(1);
	*state = p;
	charge_reset(0);
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	lua_close(p->stock);
	lua_close(p->ours);
	free(p);
	return 0;
}

/* run(KIND, S, P, A, B) in L; the printed results (a static copy). */
static const char *run1(lua_State *L, const char *kind, const char *s, size_t sl,
                        const char *p, size_t pl, const char *a, const char *b, char *out,
                        size_t cap)
{
	lua_getglobal(L, "run");
	lua_pushstring(L, kind);
	lua_pushlstring(L, s, sl);
	lua_pushlstring(L, p, pl);
	lua_pushstring(L, a);
	lua_pushstring(L, b);
	if (lua_pcall(L, 5, 1, 0) != LUA_OK)
		fail_msg("harness failed: %s", lua_tostring(L, -1));
	snprintf(out, cap, "%s", lua_tostring(L, -1));
	lua_settop(L, 0);
	return out;
}

static void show(char *buf, size_t cap, const char *x, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)x[i];

		o += (size_t)snprintf(buf + o, cap - o, c >= 32 && c < 127 ? "%c" : "\\%u", c);
	}
	buf[o] = '\0';
}

/* The same call in both states must print the same. */
static void same(struct pair *pr, const char *kind, const char *s, size_t sl, const char *p,
                 size_t pl, const char *a, const char *b)
{
	static char want[16384], got[16384];

	run1(pr->stock, kind, s, sl, p, pl, a, b, want, sizeof(want));
	run1(pr->ours, kind, s, sl, p, pl, a, b, got, sizeof(got));
	pr->ncases++;
	if (strcmp(want, got) != 0) {
		char ss[512], ps[512];

		show(ss, sizeof(ss), s, sl);
		show(ps, sizeof(ps), p, pl);
		fail_msg("%s(\"%s\", \"%s\", %s, %s)\n  stock: %s\n  ours:  %s", kind, ss, ps, a, b,
		         want, got);
	}
}

/* Every function with several start positions and replacements. */
static void same_all(struct pair *pr, const char *s, size_t sl, const char *p, size_t pl)
{
	static const char *const inits[] = { "nil", "1", "2", "0", "-1", "-3", "-100", "4", "100" };
	static const char *const repls[] = { "'<%0>'", "'%1-%2'", "'%%'", "tbl", "fn", "'x'" };
	static const char *const nmax[] = { "nil", "1", "0", "-1" };

	for (size_t i = 0; i < sizeof(inits) / sizeof(inits[0]); i++) {
		same(pr, "find", s, sl, p, pl, inits[i], "nil");
		same(pr, "match", s, sl, p, pl, inits[i], "nil");
		same(pr, "gmatch", s, sl, p, pl, inits[i], "nil");
	}
	same(pr, "find", s, sl, p, pl, "1", "true");
	same(pr, "find", s, sl, p, pl, "-2", "true");
	same(pr, "meth", s, sl, p, pl, "nil", "nil");
	for (size_t i = 0; i < sizeof(repls) / sizeof(repls[0]); i++)
		same(pr, "gsub", s, sl, p, pl, repls[i], nmax[i % 4]);
}

#define S(x) x, sizeof(x) - 1

static const struct {
	const char *s;
	size_t sl;
	const char *p;
	size_t pl;
} cases[] = {
	{ S("hello world"), S("o w") }, { S("hello world"), S("l+") },
	{ S("hello world"), S("(h)(e)") }, { S("hello world"), S("()ll()") },
	{ S("hello"), S("") }, { S(""), S("") }, { S(""), S("a*") }, { S(""), S("^$") },
	{ S("abc"), S("^abc$") }, { S("abc"), S("^b") }, { S("a^b"), S("a^b") },
	{ S("a$b"), S("a$b") }, { S("ab$"), S("b$") }, { S("x$"), S("$$") },
	{ S("key = value"), S("(%w+)%s*=%s*(%w+)") },
	{ S("  trim me  "), S("^%s*(.-)%s*$") },
	{ S("THE (quick) fox"), S("%f[%a]%a+") }, { S("THE (quick) fox"), S("%f[%a]%a+%f[%A]") },
	{ S("aaa"), S("%f[a]") }, { S("aaa"), S("%f[^a]") }, { S("a.b"), S("%f[%z]") },
	{ S("f(a(b)c)d"), S("%b()") }, { S("((("), S("%b()") }, { S("x"), S("%bxx") },
	{ S("[[x]]"), S("%b[]") }, { S("abc"), S("%b") }, { S("abc"), S("%ba") },
	{ S("abcabc"), S("(abc)%1") }, { S("abab"), S("(a)(b)%2") }, { S("aa"), S("()a%1") },
	{ S("abc"), S("%1") }, { S("abc"), S("(a%1)") }, { S("abc"), S("%0") },
	{ S("abc"), S("%") }, { S("abc"), S("a%") }, { S("abc"), S("[a") }, { S("abc"), S("[]") },
	{ S("]"), S("[]]") }, { S("]"), S("[^]]") }, { S("a]"), S("[^]]+") },
	{ S("a-z"), S("[a-]") }, { S("-"), S("[%a-]") }, { S("b"), S("[a-c]+") },
	{ S("%"), S("[%%]") }, { S("x"), S("[%") }, { S("x"), S("[^") }, { S("x"), S("[^%") },
	{ S("abc"), S("(") }, { S("abc"), S(")") }, { S("abc"), S("a)") }, { S("abc"), S("(()") },
	{ S("abc"), S("((a)") }, { S("abc"), S("(a)(b") },
	{ S("abc"), S("%f") }, { S("abc"), S("%fa") }, { S("abc"), S("%f[") },
	{ S("one two three"), S("%a+") }, { S("one two three"), S("(%a+)") },
	{ S("a,b,,c"), S("[^,]*") }, { S("abc"), S("") }, { S("abc"), S(".-") },
	{ S("abc"), S("a*") }, { S("abc"), S("x*") }, { S("hello"), S("l*") },
	{ S("aaa"), S("a-b") }, { S("aaab"), S("a-b") }, { S("aaab"), S("a-") },
	{ S("ab"), S("a?b?c?") }, { S("x"), S("x??") }, { S("x+"), S("x++") },
	{ S("1.5e10"), S("^[+-]?%d+%.?%d*[eE]?%d*$") }, { S("0x1F"), S("%x+") },
	{ S("A\tB\nC"), S("%c") }, { S("A\tB\nC"), S("%C+") }, { S("a b"), S("%S+") },
	{ S("Ab1_!"), S("%u%l%d%p") }, { S("Ab1_!"), S("%W") }, { S("Ab1_!"), S("%G") },
	{ S("a.b"), S("%.") }, { S("a.b"), S("%..") }, { S("a%b"), S("%%") },
	{ S("a\0b"), S("%z") }, { S("a\0b"), S("\0") }, { S("a\0b"), S("[\0]") },
	{ S("a\0b"), S("a%\0b") }, { S("a\0b"), S("[^\0]+") }, { S("\0"), S("%f[%z]") },
	{ S("caf\xc3\xa9"), S("[\x80-\xff]+") }, { S("\xff"), S("[\xfe-\xff]") },
	{ S("aaa"), S("(a)(a)(a)(a)") }, { S("abc"), S("((((((((((a))))))))))") },
	{ S("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"),
	  S("(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)") },
	{ S("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"),
	  S("(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)") },
	{ S("x = 1, y = 2"), S("(%w+) = (%w+)") }, { S("$name is $age"), S("%$(%w+)") },
	{ S("abc"), S("()") }, { S("abc"), S("()()") }, { S("abc"), S("(()b())") },
	{ S("hello"), S("(h)(.)") }, { S("hello"), S("l") }, { S("hello"), S("^h") },
	{ S("hello"), S("^") }, { S("hello"), S("$") }, { S("hello"), S("^$") },
	{ S("abc"), S(".") }, { S("a+b"), S("a+b") }, { S("a+b"), S("a%+b") },
	{ S("a.b"), S("a.b") }, { S("ab"), S("[ab") }, { S("("), S("%(") },
	{ S("f(x)"), S("%((.-)%)") }, { S("x"), S("[%w_]") }, { S("_"), S("[%w_]+") },
	{ S("--x"), S("%-%-(.*)") }, { S("k=v;k2=v2"), S("(%w+)=(%w+)") },
};

static void test_pattern_matches_stock_lua_on_edge_cases(void **state)
{
	struct pair *pr = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		same_all(pr, cases[i].s, cases[i].sl, cases[i].p, cases[i].pl);
}

static void test_pattern_matches_stock_lua_on_deep_patterns(void **state)
{
	struct pair *pr = *state;
	char p[2048], s[1024];

	/* around the recursion limit: 200 calls deep */
	for (int n = 195; n <= 205; n++) {
		memset(s, 'a', sizeof(s));
		for (int i = 0; i < n; i++)
			memcpy(p + 2 * i, "a?", 2);
		same_all(pr, s, 300, p, (size_t)n * 2);
		for (int i = 0; i < n; i++)
			memcpy(p + 2 * i, "a*", 2);
		same_all(pr, s, 20, p, (size_t)n * 2);
		memset(p, '(', (size_t)n);
		same(pr, "find", s, 50, p, (size_t)n, "nil", "nil");
	}
}

/* ---- generated ------------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static size_t gen_pattern(char *p, size_t cap)
{
	static const char *const atoms[] = {
		"a", "b", "c", ".", "%a", "%d", "%s", "%w", "%p", "%A", "%.", "%%", "[ab]", "[^a]",
		"[a-c]", "[%d_]", "[]]", "[^]a]", "%b()", "%bab", "%f[%w]", "%f[^a]", "()", "(",
		")", "%1", "%2", "^", "$", "-", "[", "%", "]", "x", "(a)", "(.-)", "\0", "%z",
	};
	static const char *const quant[] = { "", "", "", "*", "+", "-", "?" };
	size_t n = 0, items = 1 + rnd(6);

	if (rnd(5) == 0)
		p[n++] = '^';
	for (size_t i = 0; i < items; i++) {
		const char *a = atoms[rnd(sizeof(atoms) / sizeof(atoms[0]))];
		size_t al = *a ? strlen(a) : 1;
		const char *q = quant[rnd(sizeof(quant) / sizeof(quant[0]))];

		if (n + al + 2 >= cap)
			break;
		memcpy(p + n, a, al);
		n += al;
		memcpy(p + n, q, strlen(q));
		n += strlen(q);
	}
	if (rnd(6) == 0 && n + 1 < cap)
		p[n++] = '$';
	return n;
}

static size_t gen_subject(char *s, size_t cap)
{
	static const char alpha[] = "aabbc()x 1_.%]-$\0";
	size_t n = rnd(12);

	for (size_t i = 0; i < n && i < cap; i++)
		s[i] = alpha[rnd(sizeof(alpha) - 1)];
	return n < cap ? n : cap;
}

static void test_pattern_matches_stock_lua_on_generated_cases(void **state)
{
	struct pair *pr = *state;
	static const char *const inits[] = { "nil", "2", "-2", "0", "20" };
	static const char *const repls[] = { "'%0.'", "'%1%2'", "'%'", "tbl", "fn", "bad", "'%%x'" };
	char p[64], s[32];

	for (int i = 0; i < 20000; i++) {
		size_t pl = gen_pattern(p, sizeof(p)), sl = gen_subject(s, sizeof(s));
		const char *init = inits[rnd(5)];

		same(pr, "find", s, sl, p, pl, init, rnd(4) ? "nil" : "true");
		same(pr, "match", s, sl, p, pl, init, "nil");
		same(pr, "gmatch", s, sl, p, pl, init, "nil");
		same(pr, "gsub", s, sl, p, pl, repls[rnd(7)], rnd(3) ? "nil" : "2");
	}
	print_message("%u cases agree with stock Lua\n", pr->ncases);
}

static void test_pattern_bad_arguments_match_stock_lua(void **state)
{
	struct pair *pr = *state;

	same(pr, "find", S("abc"), S("b"), "1.5", "nil");
	same(pr, "find", S("abc"), S("b"), "'x'", "nil");
	same(pr, "find", S("abc"), S("b"), "'2'", "nil");
	same(pr, "find", S("abc"), S("b"), "math.mininteger", "nil");
	same(pr, "find", S("abc"), S("b"), "math.maxinteger", "nil");
	same(pr, "match", S("abc"), S("b"), "{}", "nil");
	same(pr, "gmatch", S("abc"), S("b"), "1.5", "nil");
	same(pr, "gsub", S("abc"), S("b"), "nil", "nil");
	same(pr, "gsub", S("abc"), S("b"), "true", "nil");
	same(pr, "gsub", S("abc"), S("b"), "nil", "'x'");
	same(pr, "gsub", S("abc"), S("b"), "'x'", "'x'");
	same(pr, "gsub", S("abc"), S("b"), "'x'", "1.5");
	same(pr, "gsub", S("abc"), S("b"), "7", "nil");
	same(pr, "gsub", S("abc"), S("b"), "bad", "nil");
	same(pr, "gsub", S("abc"), S("b"), "'%'", "nil");
	same(pr, "gsub", S("abc"), S("b"), "'%3'", "nil");
	same(pr, "gsub", S("abc"), S("(b)"), "'%2'", "nil");
	same(pr, "gsub", S("abc"), S("()b"), "'%1'", "nil");
	same(pr, "gsub", S("abc"), S("(b"), "'%1'", "nil");
	same(pr, "gsub", S("abc"), S("(b"), "'x'", "nil");
	same(pr, "gsub", S("abc"), S("(b"), "fn", "nil");
	same(pr, "gsub", S("abc"), S(""), "'-'", "nil");
	same(pr, "gsub", S("abc"), S("^"), "'-'", "nil");
	same(pr, "gsub", S("abc"), S("x*"), "'-'", "2");
	same(pr, "gsub", S("hello world"), S("o"), "'0'", "math.maxinteger");
	same(pr, "gsub", S("hello world"), S("o"), "'0'", "math.mininteger");
}

/* ---- the budget -------------------------------------------------------------------- */

static lua_State *ours_only(void)
{
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	lua_getglobal(L, "string");
	lua_pattern_open(L, charge_stub);
	lua_pop(L, 1);
	return L;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CODE must raise an error containing WANT within a second. */
static void raises_soon(lua_State *L, const char *code, const char *want)
{
	double t0 = now_s();
	int rc = luaL_dostring(L, code);

	if (rc == LUA_OK)
		fail_msg("%s: no error", code);
	if (!strstr(lua_tostring(L, -1), want))
		fail_msg("%s: %s (want %s)", code, lua_tostring(L, -1), want);
	assert_true(now_s() - t0 < 1.0);
	lua_settop(L, 0);
}

static void test_pattern_backtracking_is_charged_and_stopped(void **state)
{
	lua_State *L = ours_only();
	static const char *const hostile[] = {
		"return ('a'):rep(3000):find('.-.-.-.-b')",
		"return string.find(('a'):rep(3000), '.-.-.-.-b')",
		"return ('a'):rep(3000):match('(.-)(.-)(.-)(.-)b')",
		"for x in ('a'):rep(3000):gmatch('a*a*a*a*b') do end",
		"return ('a'):rep(3000):gsub('.-.-.-.-b', 'x')",
		"return ('a'):rep(3000):gsub('.-.-.-.-b', function() end)",
		"return ('()'):rep(4000):find('%b().-.-.-x')",
		"return ('ab'):rep(3000):find('(.-)%1%1%1x')",
		"return ('a'):rep(100000):find('[' .. ('b'):rep(10000) .. ']')",
		"local s = ('a'):rep(1000000) for i = 1, 100 do s:find('b', 1, true) end",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		charge_reset(1000000);
		raises_soon(L, hostile[i], "budget spent");
		assert_true(charge_max < 1000 + 700 || i == 9);   /* charged as it goes */
		assert_int_equal(lua_gettop(L), 0);
	}
	/* the state is fine afterwards */
	charge_reset(0);
	luaL_dostring(L, "return (('a'):rep(3000) .. 'b'):find('.-.-.-.-b')");
	assert_int_equal(lua_tointeger(L, -2), 1);
	assert_int_equal(lua_tointeger(L, -1), 3001);
	lua_close(L);
}

static void test_pattern_small_match_charges_its_rest(void **state)
{
	lua_State *L = ours_only();

	(void)state;
	charge_reset(0);
	assert_int_equal(luaL_dostring(L, "return ('hello'):find('l+')"), LUA_OK);
	assert_true(charged > 0 && charged < 100);
	assert_int_equal(charge_calls, 1);
	charge_reset(0);
	assert_int_equal(luaL_dostring(L, "return ('x'):rep(5000):gsub('x', 'y')"), LUA_OK);
	assert_true(charged >= 5000);
	assert_true(charge_max <= 1200);
	lua_close(L);
}

/* A budget error inside gsub's callback or between its pieces leaves the
 * state usable and the stack balanced; a caught one can be caught again. */
static void test_pattern_budget_error_mid_gsub_leaves_state_sound(void **state)
{
	lua_State *L = ours_only();

	(void)state;
	for (uint64_t cap = 1000; cap < 40000; cap += 7919) {
		charge_reset(cap);
		raises_soon(L, "local s = ('abc '):rep(5000)\n"
		            "local ok, e = pcall(string.gsub, s, '%w+', function(w) return w:upper():rep(3) end)\n"
		            "error(e, 0)", "budget spent");
		raises_soon(L, "return (('abc '):rep(5000)):gsub('(%w)(%w+)', '%2%1%0')", "budget spent");
	}
	charge_reset(0);
	assert_int_equal(luaL_dostring(L, "return (('ab '):rep(3)):gsub('(%w)(%w)', '%2%1')"), LUA_OK);
	assert_string_equal(lua_tostring(L, -2), "ba ba ba ");
	lua_close(L);
}

static void test_pattern_deep_or_huge_patterns_are_errors(void **state)
{
	lua_State *L = ours_only();

	(void)state;
	charge_reset(0);
	raises_soon(L, "return ('a'):rep(6000):match(('a?'):rep(5000))", "pattern too complex");
	raises_soon(L, "return ('a'):rep(100):find(('(a)'):rep(40))", "too many captures");
	raises_soon(L, "return ('a'):rep(100):find(('('):rep(100000))", "too many captures");
	raises_soon(L, "return ('a'):rep(100):find(('%f[a]'):rep(1000) .. '%')",
	            "malformed pattern (ends with '%')");
	lua_close(L);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pattern_matches_stock_lua_on_edge_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pattern_matches_stock_lua_on_deep_patterns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pattern_matches_stock_lua_on_generated_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pattern_bad_arguments_match_stock_lua, setup, teardown),
		cmocka_unit_test(test_pattern_backtracking_is_charged_and_stopped),
		cmocka_unit_test(test_pattern_small_match_charges_its_rest),
		cmocka_unit_test(test_pattern_budget_error_mid_gsub_leaves_state_sound),
		cmocka_unit_test(test_pattern_deep_or_huge_patterns_are_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
