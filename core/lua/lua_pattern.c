/*
 * lua_pattern.c - Lua 5.4 patterns (manual section 6.4.1) for string.find,
 * string.match, string.gmatch and string.gsub, with every step counted.
 *
 * Lua's own matcher runs in C where the instruction hook never fires, so a
 * backtracking pattern (`.-.-.-.-b` on 3000 bytes) keeps a worker busy for
 * about an hour. This one is a backtracking matcher with the same semantics
 * that counts one step per pattern item taken up and per test of an item
 * against a subject byte, and hands the count to a charge function
 * (lua_budget_charge: the request's instruction budget) every CHARGE_EVERY
 * steps and when the call ends; a NULL charge function counts nothing. The charge function may
 * raise: nothing here owns memory (the match state is on the C stack, gsub
 * builds into a luaL_Buffer, gmatch's state is a userdata), so a longjmp
 * out of any point leaks nothing.
 *
 * Recursion happens where Lua's does (a capture opening or closing, a
 * quantified item trying its continuation) and is bounded as Lua's:
 * MAX_DEPTH nested calls, then "pattern too complex".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* memmem */
#endif
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua_pattern.h"

#define ESC '%'
#define SPECIALS "^$*+?.([%-"
#define MAX_CAPTURES 32       /* as Lua's LUA_MAXCAPTURES */
#define MAX_DEPTH 200         /* as Lua's MAXCCALLS for patterns */
#define CHARGE_EVERY 1000
#define CAP_OPEN (-1)         /* a capture whose ')' has not been reached */
#define CAP_POSITION (-2)     /* a `()` capture */

#define uchar(c) ((int)(unsigned char)(c))

struct mstate {
	lua_State *L;
	lua_pattern_charge_fn charge;
	const char *s0, *se;          /* the whole subject */
	const char *pe;               /* the end of the pattern */
	unsigned depth;               /* nested match_here calls left */
	unsigned steps;               /* not charged yet */
	int level;                    /* captures opened */
	struct {
		const char *at;
		ptrdiff_t len;            /* or CAP_OPEN, CAP_POSITION */
	} cap[MAX_CAPTURES];
};

/* ---- counting ------------------------------------------------------------ */

static void charge(struct mstate *m, unsigned n)
{
	if (!m->charge)
		return;
	m->steps += n;
	if (m->steps >= CHARGE_EVERY) {
		unsigned n_ = m->steps;

		m->steps = 0;
		m->charge(m->L, n_);
	}
}

/* Charges what is left; before results are pushed. */
static void charge_rest(struct mstate *m)
{
	if (m->steps && m->charge) {
		unsigned n = m->steps;

		m->steps = 0;
		m->charge(m->L, n);
	}
}

static void mstate_init(struct mstate *m, lua_State *L, const char *s, size_t ls,
                        const char *p, size_t lp)
{
	m->L = L;
	m->charge = *(lua_pattern_charge_fn *)lua_touserdata(L, lua_upvalueindex(1));
	m->s0 = s;
	m->se = s + ls;
	m->pe = p + lp;
	m->steps = 0;
}

/* Before each attempt at a new subject position. */
static void mstate_reset(struct mstate *m)
{
	m->level = 0;
	m->depth = MAX_DEPTH;
}

/* ---- single characters ------------------------------------------------------ */

/* Whether C is in class %CL (a letter) or, for any other CL, is CL. */
static int class_has(int cl, int c)
{
	int in;

	switch (tolower(cl)) {
	case 'a': in = isalpha(c); break;
	case 'c': in = iscntrl(c); break;
	case 'd': in = isdigit(c); break;
	case 'g': in = isgraph(c); break;
	case 'l': in = islower(c); break;
	case 'p': in = ispunct(c); break;
	case 's': in = isspace(c); break;
	case 'u': in = isupper(c); break;
	case 'w': in = isalnum(c); break;
	case 'x': in = isxdigit(c); break;
	case 'z': in = c == 0; break;     /* deprecated in 5.2, still in 5.4 */
	default: return cl == c;
	}
	return isupper(cl) ? !in : in != 0;
}

/*
 * Whether C is in the set that opens at P ('[') and closes at CLOSE (its
 * ']', found by item_end).
 */
static int set_has(const char *p, const char *close, int c)
{
	int in = 1;

	p++;
	if (*p == '^') {
		in = 0;
		p++;
	}
	for (; p < close; p++) {
		if (*p == ESC) {
			p++;
			if (class_has(uchar(*p), c))
				return in;
		} else if (p[1] == '-' && p + 2 < close) {
			if (uchar(p[0]) <= c && c <= uchar(p[2]))
				return in;
			p += 2;
		} else if (uchar(*p) == c) {
			return in;
		}
	}
	return !in;
}

/* Where the single-character item at P ends; raises on a malformed one. */
static const char *item_end(struct mstate *m, const char *p)
{
	const char *start = p;

	switch (*p++) {
	case ESC:
		if (p >= m->pe)
			luaL_error(m->L, "malformed pattern (ends with '%%')");
		return p + 1;
	case '[':
		if (p < m->pe && *p == '^')
			p++;
		/* the first character is a member even when it is ']' */
		do {
			if (p >= m->pe)
				luaL_error(m->L, "malformed pattern (missing ']')");
			if (*p++ == ESC && p < m->pe)
				p++;
		} while (p >= m->pe || *p != ']');
		charge(m, (unsigned)((p - start) / 16));
		return p + 1;
	default:
		return p;
	}
}

/* Whether the item P..EP matches the subject byte at S (none at the end). */
static int item_has(struct mstate *m, const char *s, const char *p, const char *ep)
{
	int c;

	charge(m, 1);
	if (s >= m->se)
		return 0;
	c = uchar(*s);
	switch (*p) {
	case '.':
		return 1;
	case ESC:
		return class_has(uchar(p[1]), c);
	case '[':
		charge(m, (unsigned)((ep - p) / 16));
		return set_has(p, ep - 1, c);
	default:
		return uchar(*p) == c;
	}
}

/* ---- the matcher ----------------------------------------------------------- */

static const char *match_here(struct mstate *m, const char *s, const char *p);

/* %bxy at S, with P at x. */
static const char *match_balance(struct mstate *m, const char *s, const char *p)
{
	int open, close, depth = 1;

	if (p + 1 >= m->pe)
		luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
	if (s >= m->se || *s != *p)
		return NULL;
	open = *p;
	close = p[1];
	while (++s < m->se) {
		charge(m, 1);
		if (*s == close) {
			if (--depth == 0)
				return s + 1;
		} else if (*s == open) {
			depth++;
		}
	}
	return NULL;
}

/* %1-%9 at S: the text of capture DIGIT again. */
static const char *match_backref(struct mstate *m, const char *s, int digit)
{
	int i = digit - '1';
	ptrdiff_t len;

	if (i < 0 || i >= m->level || m->cap[i].len == CAP_OPEN)
		luaL_error(m->L, "invalid capture index %%%d", i + 1);
	len = m->cap[i].len;
	if (len < 0)                  /* a position: never equal to text */
		return NULL;
	charge(m, (unsigned)(1 + len / 32));
	if (m->se - s >= len && memcmp(m->cap[i].at, s, (size_t)len) == 0)
		return s + len;
	return NULL;
}

/* Item P..EP as many times as it matches from S, then fewer. */
static const char *match_greedy(struct mstate *m, const char *s, const char *p,
                                const char *ep)
{
	size_t n = 0;

	while (item_has(m, s + n, p, ep))
		n++;
	for (;;) {
		const char *e = match_here(m, s + n, ep + 1);

		if (e || n == 0)
			return e;
		n--;
	}
}

/* Item P..EP as few times as lets the rest match. */
static const char *match_lazy(struct mstate *m, const char *s, const char *p,
                              const char *ep)
{
	for (;;) {
		const char *e = match_here(m, s, ep + 1);

		if (e)
			return e;
		if (!item_has(m, s, p, ep))
			return NULL;
		s++;
	}
}

static const char *capture_open(struct mstate *m, const char *s, const char *p, ptrdiff_t what)
{
	const char *e;

	if (m->level >= MAX_CAPTURES)
		luaL_error(m->L, "too many captures");
	m->cap[m->level].at = s;
	m->cap[m->level].len = what;
	m->level++;
	if (!(e = match_here(m, s, p)))
		m->level--;
	return e;
}

static const char *capture_close(struct mstate *m, const char *s, const char *p)
{
	const char *e;
	int i = m->level - 1;

	while (i >= 0 && m->cap[i].len != CAP_OPEN)
		i--;
	if (i < 0)
		luaL_error(m->L, "invalid pattern capture");
	m->cap[i].len = s - m->cap[i].at;
	if (!(e = match_here(m, s, p)))
		m->cap[i].len = CAP_OPEN;
	return e;
}

/* The end of a match of pattern P..m->pe at S, or NULL. */
static const char *match_here(struct mstate *m, const char *s, const char *p)
{
	if (m->depth == 0)
		luaL_error(m->L, "pattern too complex");
	m->depth--;
	while (p < m->pe) {
		const char *ep, *e;
		int q;

		charge(m, 1);
		if (*p == '(') {
			if (p + 1 < m->pe && p[1] == ')')
				s = capture_open(m, s, p + 2, CAP_POSITION);
			else
				s = capture_open(m, s, p + 1, CAP_OPEN);
			goto out;
		}
		if (*p == ')') {
			s = capture_close(m, s, p + 1);
			goto out;
		}
		if (*p == '$' && p + 1 == m->pe) {
			if (s != m->se)
				s = NULL;
			goto out;
		}
		if (*p == ESC && p + 1 < m->pe) {
			if (p[1] == 'b') {
				if (!(s = match_balance(m, s, p + 2)))
					goto out;
				p += 4;
				continue;
			}
			if (p[1] == 'f') {
				int before, here;

				p += 2;
				if (p >= m->pe || *p != '[')
					luaL_error(m->L, "missing '[' after '%%f' in pattern");
				ep = item_end(m, p);
				charge(m, (unsigned)((ep - p) / 8));   /* the set, twice */
				before = s == m->s0 ? 0 : uchar(s[-1]);
				here = s < m->se ? uchar(*s) : 0;
				if (set_has(p, ep - 1, before) || !set_has(p, ep - 1, here)) {
					s = NULL;
					goto out;
				}
				p = ep;
				continue;
			}
			if (p[1] >= '0' && p[1] <= '9') {
				if (!(s = match_backref(m, s, p[1])))
					goto out;
				p += 2;
				continue;
			}
		}
		/* a single-character item, maybe followed by a quantifier */
		ep = item_end(m, p);
		q = ep < m->pe ? *ep : '\0';
		if (!item_has(m, s, p, ep)) {
			if (q == '*' || q == '?' || q == '-') {
				p = ep + 1;
				continue;
			}
			s = NULL;
			goto out;
		}
		switch (q) {
		case '?':
			if ((e = match_here(m, s + 1, ep + 1))) {
				s = e;
				goto out;
			}
			p = ep + 1;
			continue;
		case '+':
			s = match_greedy(m, s + 1, p, ep);
			goto out;
		case '*':
			s = match_greedy(m, s, p, ep);
			goto out;
		case '-':
			s = match_lazy(m, s, p, ep);
			goto out;
		default:
			s++;
			p = ep;
			continue;
		}
	}
out:
	m->depth++;
	return s;
}

/* ---- results --------------------------------------------------------------- */

/* Pushes capture I of the match S..E (I 0 without captures: the match). */
static void push_capture(struct mstate *m, int i, const char *s, const char *e)
{
	if (i >= m->level) {
		if (i != 0)
			luaL_error(m->L, "invalid capture index %%%d", i + 1);
		lua_pushlstring(m->L, s, (size_t)(e - s));
	} else if (m->cap[i].len == CAP_OPEN) {
		luaL_error(m->L, "unfinished capture");
	} else if (m->cap[i].len == CAP_POSITION) {
		lua_pushinteger(m->L, (lua_Integer)(m->cap[i].at - m->s0) + 1);
	} else {
		lua_pushlstring(m->L, m->cap[i].at, (size_t)m->cap[i].len);
	}
}

/* Pushes every capture, or the match S..E when there are none and S is set. */
static int push_captures(struct mstate *m, const char *s, const char *e)
{
	int n = m->level == 0 && s ? 1 : m->level;

	luaL_checkstack(m->L, n, "too many captures");
	for (int i = 0; i < n; i++)
		push_capture(m, i, s, e);
	return n;
}

/* The 1-based start for a position argument, as string.find takes it. */
static size_t start_of(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos;
	if (pos == 0 || pos < -(lua_Integer)len)
		return 1;
	return len + (size_t)pos + 1;
}

static int has_specials(const char *p, size_t lp)
{
	for (const char *c = SPECIALS; *c; c++)
		if (memchr(p, *c, lp))
			return 1;
	return 0;
}

/* ---- find, match ------------------------------------------------------------ */

static int find_or_match(lua_State *L, int find)
{
	size_t ls, lp, init;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	struct mstate m;
	int anchor;

	init = start_of(luaL_optinteger(L, 3, 1), ls) - 1;
	if (init > ls) {
		luaL_pushfail(L);
		return 1;
	}
	if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
		const char *at = memmem(s + init, ls - init, p, lp);

		/* memmem is linear: a step per 64 bytes it passes */
		mstate_init(&m, L, s, ls, p, lp);
		charge(&m, (unsigned)(((at ? (size_t)(at - s) : ls) - init) / 64 + 1));
		charge_rest(&m);
		if (at) {
			lua_pushinteger(L, (lua_Integer)(at - s) + 1);
			lua_pushinteger(L, (lua_Integer)(at - s + lp));
			return 2;
		}
		luaL_pushfail(L);
		return 1;
	}
	anchor = lp > 0 && *p == '^';
	if (anchor) {
		p++;
		lp--;
	}
	mstate_init(&m, L, s, ls, p, lp);
	for (const char *from = s + init;; from++) {
		const char *e;

		mstate_reset(&m);
		if ((e = match_here(&m, from, p))) {
			charge_rest(&m);
			if (!find)
				return push_captures(&m, from, e);
			lua_pushinteger(L, (lua_Integer)(from - s) + 1);
			lua_pushinteger(L, (lua_Integer)(e - s));
			return push_captures(&m, NULL, NULL) + 2;
		}
		if (anchor || from >= m.se)
			break;
	}
	charge_rest(&m);
	luaL_pushfail(L);
	return 1;
}

static int pat_find(lua_State *L)
{
	return find_or_match(L, 1);
}

static int pat_match(lua_State *L)
{
	return find_or_match(L, 0);
}

/* ---- gmatch ------------------------------------------------------------------ */

struct gmatch {
	size_t from;        /* where the next attempt starts */
	size_t last;        /* the end of the last match, or SIZE_MAX */
};

/* The iterator; upvalues: charge, subject, pattern, struct gmatch. */
static int gmatch_next(lua_State *L)
{
	size_t ls, lp;
	const char *s = lua_tolstring(L, lua_upvalueindex(2), &ls);
	const char *p = lua_tolstring(L, lua_upvalueindex(3), &lp);
	struct gmatch *g = lua_touserdata(L, lua_upvalueindex(4));
	struct mstate m;

	mstate_init(&m, L, s, ls, p, lp);
	for (size_t at = g->from; at <= ls; at++) {
		const char *e;

		mstate_reset(&m);
		if ((e = match_here(&m, s + at, p)) && (size_t)(e - s) != g->last) {
			g->from = g->last = (size_t)(e - s);
			charge_rest(&m);
			return push_captures(&m, s + at, e);
		}
	}
	g->from = ls + 1;
	charge_rest(&m);
	return 0;
}

static int pat_gmatch(lua_State *L)
{
	size_t ls, init;
	struct gmatch *g;

	luaL_checklstring(L, 1, &ls);
	luaL_checkstring(L, 2);
	init = start_of(luaL_optinteger(L, 3, 1), ls) - 1;
	if (init > ls)
		init = ls + 1;
	lua_settop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	g = lua_newuserdatauv(L, sizeof(*g), 0);
	g->from = init;
	g->last = SIZE_MAX;
	lua_pushcclosure(L, gmatch_next, 4);
	return 1;
}

/* ---- gsub -------------------------------------------------------------------- */

/* Appends replacement string (argument 3) for the match S..E to B. */
static void add_template(struct mstate *m, luaL_Buffer *b, const char *s, const char *e)
{
	size_t lr;
	const char *r = lua_tolstring(m->L, 3, &lr);
	const char *end = r + lr;

	charge(m, (unsigned)(1 + lr / 32));
	while (r < end) {
		const char *pct = memchr(r, ESC, (size_t)(end - r));
		int c;

		if (!pct) {
			luaL_addlstring(b, r, (size_t)(end - r));
			return;
		}
		luaL_addlstring(b, r, (size_t)(pct - r));
		c = pct + 1 < end ? uchar(pct[1]) : '\0';
		if (c == ESC) {
			luaL_addchar(b, ESC);
		} else if (c == '0') {
			luaL_addlstring(b, s, (size_t)(e - s));
		} else if (c >= '1' && c <= '9') {
			push_capture(m, c - '1', s, e);
			luaL_addvalue(b);
		} else {
			luaL_error(m->L, "invalid use of '%c' in replacement string", ESC);
		}
		r = pct + 2;
	}
}

/* Appends the replacement for S..E to B; 1 if it replaced, 0 if it kept S..E. */
static int add_replacement(struct mstate *m, luaL_Buffer *b, const char *s, const char *e,
                           int how)
{
	lua_State *L = m->L;

	if (how == LUA_TFUNCTION) {
		int n;

		lua_pushvalue(L, 3);
		n = push_captures(m, s, e);
		lua_call(L, n, 1);
	} else if (how == LUA_TTABLE) {
		push_capture(m, 0, s, e);
		lua_gettable(L, 3);
	} else {
		add_template(m, b, s, e);
		return 1;
	}
	if (!lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		luaL_addlstring(b, s, (size_t)(e - s));
		return 0;
	}
	if (!lua_isstring(L, -1))
		return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
	luaL_addvalue(b);
	return 1;
}

static int pat_gsub(lua_State *L)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	int how = lua_type(L, 3);
	lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
	const char *last = NULL;
	int anchor = lp > 0 && *p == '^', changed = 0;
	struct mstate m;
	luaL_Buffer b;

	luaL_argexpected(L, how == LUA_TNUMBER || how == LUA_TSTRING || how == LUA_TFUNCTION ||
	                 how == LUA_TTABLE, 3, "string/function/table");
	luaL_buffinit(L, &b);
	if (anchor) {
		p++;
		lp--;
	}
	mstate_init(&m, L, s, ls, p, lp);
	while (n < max) {
		const char *e;

		mstate_reset(&m);
		if ((e = match_here(&m, s, p)) && e != last) {
			n++;
			changed |= add_replacement(&m, &b, s, e, how);
			s = last = e;
		} else if (s < m.se) {
			luaL_addchar(&b, *s++);
		} else {
			break;
		}
		if (anchor)
			break;
	}
	charge_rest(&m);
	if (!changed) {
		lua_pushvalue(L, 1);
	} else {
		luaL_addlstring(&b, s, (size_t)(m.se - s));
		luaL_pushresult(&b);
	}
	lua_pushinteger(L, n);
	return 2;
}

/* ---- installing ---------------------------------------------------------------- */

void lua_pattern_open(lua_State *L, lua_pattern_charge_fn charge_fn)
{
	static const luaL_Reg fns[] = {
		{ "find", pat_find },
		{ "match", pat_match },
		{ "gmatch", pat_gmatch },
		{ "gsub", pat_gsub },
		{ NULL, NULL },
	};
	lua_pattern_charge_fn *up = lua_newuserdatauv(L, sizeof(*up), 0);

	*up = charge_fn;
	luaL_setfuncs(L, fns, 1);
}
