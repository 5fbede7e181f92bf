/*
 * exec_priv.h - what the executor's files share (exec, exec_plan, exec_resolve,
 * exec_complete, exec_response, coerce, intro, jbuf).
 */
#ifndef PORTICO_GQL_EXEC_PRIV_H
#define PORTICO_GQL_EXEC_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>

#include "gql_arena.h"
#include "exec.h"

/* ---- output buffer ------------------------------------------------------ */

struct jbuf {
	char *p;
	size_t n, cap;
	int oom;
};

/* Room for MORE bytes: 0, or -1 (out of memory, B->oom set). */
int jb_grow(struct jbuf *b, size_t more);

static inline void jb_put(struct jbuf *b, const char *s, size_t n)
{
	if (n >= 8 && n <= 16 && b->n + 16 <= b->cap) {
		/* the short pieces of a response (keys, leaves): two
		 * overlapping words, no call */
		uint64_t x, y;

		memcpy(&x, s, 8);
		memcpy(&y, s + n - 8, 8);
		memcpy(b->p + b->n, &x, 8);
		memcpy(b->p + b->n + n - 8, &y, 8);
		b->n += n;
		return;
	}
	if (b->n + n <= b->cap || jb_grow(b, n) == 0) {
		memcpy(b->p + b->n, s, n);
		b->n += n;
	}
}

static inline void jb_putc(struct jbuf *b, char c)
{
	if (b->n < b->cap || jb_grow(b, 1) == 0)
		b->p[b->n++] = c;
}

/* S[0..N) as a JSON string, quotes included; invalid UTF-8 becomes U+FFFD. */
void jb_str(struct jbuf *b, const char *s, size_t n);
void jb_cstr(struct jbuf *b, const char *s);
void jb_fmt(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON number for D (integers without a fraction; NaN/inf: null). */
void jb_num(struct jbuf *b, double d);
/* The Lua value at IDX as JSON (custom scalars, error extensions); 0 or -1. */
int jb_lua(struct jbuf *b, lua_State *L, int idx, int depth);

/* ---- coerced input values ----------------------------------------------- */

enum gv_kind {
	GV_NULL = 0, GV_INT, GV_FLOAT, GV_STRING, GV_BOOL, GV_ENUM, GV_LIST, GV_OBJECT,
};

struct gv {
	enum gv_kind kind;
	int64_t i;
	double f;
	bool b;
	const char *s;          /* STRING, ENUM */
	size_t len;
	struct gv **items;      /* LIST */
	const char **keys;      /* OBJECT */
	unsigned n;             /* LIST, OBJECT */
};

/* A variable's coerced value (absent ones are left out). */
struct gvar {
	const char *name;
	struct gv *value;
};

struct gvars {
	struct gvar *v;
	unsigned n;
};

/*
 * Coerces the operation's variables from VARS (a JSON object or NULL).
 * 0, or -1 with the first graphql-js message in *MSG (arena text) and the
 * variable definition's position in *LINE and *COL.
 */
int gql_coerce_variables(struct gql_arena *a, const struct gql_schema *s,
                         const struct gql_definition *op, json_t *vars, struct gvars *out,
                         const char **msg, unsigned *line, unsigned *col);
/*
 * The argument values of a field or directive: DEFS[0..N) against the AST
 * arguments ARGS[0..NA). 0, or -1 with a graphql-js message in *MSG.
 * *OUT is an OBJECT gv (argument name -> value).
 */
int gql_coerce_args(struct gql_arena *a, const struct gql_input_value *defs, unsigned n,
                    struct gql_argument *const *args, unsigned na, const struct gvars *vars,
                    struct gv **out, const char **msg);
/* A literal of TYPE (validated) to a value; NULL when it cannot coerce. */
struct gv *gql_value_from_ast(struct gql_arena *a, const struct gql_value *v,
                              const struct gql_tref *type, const struct gvars *vars);
const struct gv *gvars_get(const struct gvars *vars, const char *name);
/* Pushes V as Lua (objects and lists as tables, null as json.null's nil). */
void gv_push(lua_State *L, const struct gv *v);
/* The argument NAME of an OBJECT gv, or NULL. */
const struct gv *gv_field(const struct gv *obj, const char *name);

/* ---- collected fields and plans ---------------------------------------- */

enum { META_NONE = 0, META_TYPENAME, META_SCHEMA, META_TYPE };

struct plan;

struct subplan {
	const struct gql_stype *type;
	struct plan *plan;
};

/* One response key of an object's selection: its merged field nodes. */
struct cfield {
	const char *key;
	const char *jkey;       /* ,"key": as JSON, for the response (the comma
	                         * left out before an object's first field) */
	size_t jkey_len;
	const struct gql_selection **nodes;
	unsigned n_nodes, cap_nodes;
	const struct gql_field *def;
	int meta;
	int plain_str;          /* of type String or ID (maybe non-null), not a list */
	int nonnull;            /* its type is non-null */
	const struct gql_stype *parent;
	/* arguments, coerced once per request */
	int args_state;         /* 0: not yet, 1: ok, -1: error */
	struct gv *args;
	const char *args_err;
	int args_ref;           /* index of the Lua args table in the values table */
	/* Lua strings kept in the values table (0: not yet): the field's name
	 * (parent[name] of the default resolver), its response key (info.path),
	 * and the table behind its resolvers' info (gqlx_push_info) */
	int name_ref, key_ref, info_ref;
	/* the resolver: index of the function in the values table, 0: default */
	int resolver;
	int nargs;              /* what the resolver can see of its 4 arguments */
	int batch;
	int resolver_looked;
	struct subplan *subs;
	unsigned n_subs;
	/* batched parents of the current level */
	struct bentry *bq;
	unsigned n_bq, cap_bq;
	struct cfield *bnext;   /* list of fields with batched parents */
	int bqueued;
};

struct plan {
	const struct gql_stype *type;
	struct cfield *f;
	unsigned n;
};

/* ---- the result tree ------------------------------------------------------ */

enum { RN_NULL = 0, RN_RAW, RN_OBJ, RN_LIST };

struct rnode {
	uint8_t kind;
	uint8_t shape;          /* RN_OBJ or RN_LIST as made, kept when nulled (paths) */
	uint8_t nonnull;        /* its place requires a value */
	struct rnode *parent;   /* NULL for the root */
	unsigned idx;           /* field index or list index in the parent */
	union {
		struct { const char *s; size_t n; } raw;
		struct { const struct plan *plan; struct rnode **v; } obj;
		struct { struct rnode **v; unsigned n; } list;
	} u;
};

/* ---- the execution -------------------------------------------------------- */

struct gerr {
	const char *msg;
	const struct cfield *cf;        /* field errors: its nodes' locations */
	unsigned line, col;             /* request errors with one location */
	struct rnode *at;               /* path: the slot that failed */
	const char *ext;                /* extensions as JSON text, or NULL */
	struct gerr *next;
};

/* A batched parent: the slot of one alias (CF) and the parent value; PI is
 * the parent's index in the batch call's parents list (aliases of one
 * field share a call and their parents). */
struct bentry {
	struct rnode *slot;
	int vidx;
	struct cfield *cf;
	unsigned pi;
};

struct otask {
	struct rnode *obj;
	unsigned f0, f1;        /* the plan's fields to run (mutations: one at a time) */
	int vidx;               /* the parent value in the values table */
	const struct plan *plan;
};

struct tasks {
	struct otask *t;
	unsigned n, cap;
};

struct gql_exec {
	struct gql_exec_req req;
	struct gql_arena arena;
	const struct gql_schema *s;
	const struct gql_definition *op;
	struct gvars vars;
	struct {
		const char *name;
		const struct gql_definition *def;
	} *frags;
	unsigned nfrag_slots;
	lua_State *L;
	int vref;               /* registry ref of the values table */
	int vtop;               /* its stack index in L while a level runs, else 0 */
	int nvals;
	int resolvers_ref;      /* registry ref of graphql.resolvers' table, or LUA_NOREF */
	struct rnode *root;
	struct plan *root_plan;
	unsigned root_next;     /* mutations: the next top-level field to run */
	struct tasks cur, next;
	struct cfield *batched;
	unsigned pending;       /* resolver tasks that wait */
	int running;            /* inside run(): a wake must not re-enter */
	int finished;
	int fatal;              /* out of memory: answer an error */
	struct gerr *errs, **errs_tail;
	unsigned nerrs;
	struct {
		lua_State *co;
		int ref;
	} pool[16];
	unsigned npool;
	struct jbuf out;
	struct jbuf leaf;        /* scratch for one leaf's JSON (complete_leaf) */
	/* a level run in one task (exec.c run_level): its resolvers called
	 * with lua_pcallk in the task's coroutine, which is e->L meanwhile */
	int runner;             /* a level's task runs now */
	int run_stop;           /* the task ends here; another goes on at run_ti/run_fi */
	int run_in_call;        /* a resolver call is under way (run_pc says which) */
	int run_mid;            /* object run_ti was begun: go on at run_fi with run_slots */
	unsigned run_ti, run_fi;
	struct rnode *run_slots;
	struct pcall *run_pc;
	struct gql_result result;
};

/* The collected fields of SEL sets for object type T (memoized by the caller). */
struct plan *gql_plan_build(struct gql_exec *e, const struct gql_stype *t,
                            const struct gql_selection_set *const *sets, unsigned nsets);
struct plan *gql_subplan(struct gql_exec *e, struct cfield *cf, const struct gql_stype *t);
void gql_field_error(struct gql_exec *e, const struct cfield *cf, struct rnode *at,
                     const char *msg, const char *ext);
/* Marks AT null and propagates to the nearest nullable place. */
void gql_null_out(struct gql_exec *e, struct rnode *at);
struct rnode *gql_rnode(struct gql_exec *e, struct rnode *parent, unsigned idx, bool nonnull);

/* An empty (null) result node at IDX of PARENT. */
static inline void gqlx_rnode_init(struct rnode *n, struct rnode *parent, unsigned idx,
                                   bool nonnull)
{
	n->kind = RN_NULL;
	n->shape = RN_NULL;
	n->nonnull = nonnull;
	n->parent = parent;
	n->idx = idx;
}
/* An object's field pointers (N of them and one more), all NULL: zeroed by
 * a loop, which for the usual few fields costs less than memset's call. */
static inline struct rnode **gqlx_alloc_fields(struct gql_exec *e, unsigned n)
{
	struct rnode **v = gql_arena_alloc(&e->arena, ((size_t)n + 1) * sizeof(*v));

	if (v)
		for (unsigned i = 0; i <= n; i++)
			v[i] = NULL;
	return v;
}
/* Introspection: completes meta-field CF (__schema / __type) into AT. */
void gql_intro_field(struct gql_exec *e, struct cfield *cf, struct rnode *at);
int gql_coerce_field_args(struct gql_exec *e, struct cfield *cf);
/* The schema type for an AST type reference, or NULL (unknown name). */
const struct gql_tref *gqlx_tref_from_ast(struct gql_arena *a, const struct gql_schema *s,
                                          const struct gql_type *t);
char *gql_fmt(struct gql_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- between the executor's own files ------------------------------------ */

/* The values table: what start_tramp (exec.c) puts in its first slots. */
#define V_CTX 1
#define V_ROOT 2
#define V_RESOLVERS 3
#define V_EVENT 4          /* GQL_EXEC_EVENT: the event (the root field's value) */

/* The path of a result node, for errors and info.path: segments in order. */
struct pseg {
	const char *key;
	unsigned idx;
};

/* A resolver call that waits: what to complete when it ends. */
struct pcall {
	struct gql_exec *e;
	struct cfield *cf;
	lua_State *co;
	struct rnode *slot;         /* one parent */
	struct bentry *bq;          /* batched slots, of one alias or several */
	unsigned n_bq;
	unsigned n_parents;         /* the values the batch resolver must return */
};

/* exec.c: scheduling */
int gqlx_grow(struct gql_arena *a, void **arr, unsigned *cap, unsigned n, size_t size);
void gqlx_tasks_push(struct gql_exec *e, struct tasks *ts, struct rnode *obj, int vidx,
                     const struct plan *p, unsigned f0, unsigned f1);
int gqlx_dead(const struct rnode *n);
/* Runs FN(E, UD) under lua_pcall on E's state. */
int gqlx_prot(struct gql_exec *e, void (*fn)(struct gql_exec *, void *), void *ud);
void gqlx_run(struct gql_exec *e);

/* exec_plan.c */
int gqlx_index_fragments(struct gql_exec *e);

/* exec_resolve.c: the values table, resolvers, coroutines */
void gqlx_push_values(struct gql_exec *e, lua_State *L);
int gqlx_store_value(struct gql_exec *e, lua_State *L);
void gqlx_push_stored_slow(struct gql_exec *e, lua_State *L, int idx);

/* Pushes the value at IDX of the values table: one raw get while a level
 * runs. [-0, +1, -] */
static inline void gqlx_push_stored(struct gql_exec *e, lua_State *L, int idx)
{
	if (L == e->L && e->vtop)
		lua_rawgeti(L, e->vtop, idx);
	else
		gqlx_push_stored_slow(e, L, idx);
}
/* Pushes the Lua string of CF's name (KEY: its response key), kept in the
 * values table from its first use on. [-0, +1, m] */
void gqlx_push_name(struct gql_exec *e, lua_State *L, struct cfield *cf, int key);
void gqlx_find_resolver(struct gql_exec *e, struct cfield *cf);
unsigned gqlx_path_of(const struct rnode *at, struct pseg *out, unsigned cap);
const char *gqlx_op_name(const struct gql_definition *op);
void gqlx_complete_field(struct gql_exec *e, struct cfield *cf, lua_State *L, int idx,
                         struct rnode *slot);
int gqlx_nargs(lua_State *L);
void gqlx_call(struct gql_exec *e, struct cfield *cf, struct rnode *slot, int parent_vidx,
               struct bentry *bq, unsigned n_bq, unsigned n_parents, int nargs);
/* gqlx_call inside a level's task (e->runner): the function on top of
 * e->L called at once under lua_pcallk, its own budget; when it waits the
 * task is the call's and the level goes on in another (run_level). */
void gqlx_call_direct(struct gql_exec *e, struct cfield *cf, struct rnode *slot, int parent_vidx,
                      int nargs);
lua_State *gqlx_co_take(struct gql_exec *e);
void gqlx_co_give(struct gql_exec *e, lua_State *co);
/* A waiting call (PC) ended on CO: completes it (protected) and runs on. */
void gqlx_task_done(lua_State *co, int status, int nres, void *ud);

/* exec_complete.c */

/* Whether S[0..N) is its own JSON string body (printable ASCII, no quote
 * or backslash): then it is copied as it is, without the escaping writer.
 * Eight bytes at a time: a byte below 0x20, from 0x7f on, '"' or '\\'. */
/* Nonzero when a byte of X is below 0x20, from 0x7f on, '"' or '\\'. */
static inline uint64_t gqlx_json_bad8(uint64_t x)
{
	const uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
	uint64_t q = x ^ (lo * '"'), b = x ^ (lo * '\\'), d = x ^ (lo * 0x7f);

	return (x | ((x - lo * 0x20) & ~x) | ((q - lo) & ~q) | ((b - lo) & ~b) |
	        ((d - lo) & ~d)) & hi;
}

static inline int gqlx_json_plain(const char *s, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x;

		memcpy(&x, s + i, 8);
		if (gqlx_json_bad8(x))
			return 0;
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return 0;
	}
	return 1;
}

/* 1 for the bytes a JSON string cannot hold as they are (exec_complete.c). */
extern const unsigned char gqlx_json_bad[256];

/* The Lua string S[0..N) as a JSON string straight into the arena: 0, or
 * -1 when it needs escaping (SLOT untouched). A short one is checked while
 * it is copied (a string that needs escaping leaves its copy unused). */
static inline int gqlx_set_plain_str(struct gql_exec *e, struct rnode *slot, const char *s,
                                     size_t n)
{
	char *d;

	if (n > 32) {
		if (!gqlx_json_plain(s, n))
			return -1;
		if (!(d = gql_arena_alloc(&e->arena, n + 2))) {
			e->fatal = 1;
			return 0;
		}
		memcpy(d + 1, s, n);
	} else {
		unsigned bad = 0;

		if (!(d = gql_arena_alloc(&e->arena, n + 2))) {
			e->fatal = 1;
			return 0;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];

			d[i + 1] = (char)c;
			bad |= gqlx_json_bad[c];
		}
		if (bad)
			return -1;
	}
	d[0] = '"';
	d[n + 1] = '"';
	slot->kind = RN_RAW;
	slot->u.raw.s = d;
	slot->u.raw.n = n + 2;
	return 0;
}

void gqlx_set_jbuf(struct gql_exec *e, struct rnode *slot, struct jbuf *b);
void gqlx_complete(struct gql_exec *e, struct cfield *cf, const struct gql_tref *t,
                   lua_State *L, int idx, struct rnode *slot, int depth);

/* exec_response.c */
void gqlx_request_error(struct gql_exec *e, const char *msg, unsigned line, unsigned col);
void gqlx_finish(struct gql_exec *e);

#endif
