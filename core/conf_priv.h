/*
 * conf_priv.h - what the config reader's files share: conf.c (evaluating
 * the file, the tree, checking tables against their schemas),
 * conf_sections.c (the settings and directives) and conf_upstream.c (the
 * upstream blocks). Functions one file calls in another are named conf_*;
 * like every core symbol they are hidden from plugins. Nothing outside
 * core/conf*.c includes this.
 */
#ifndef PT_CONF_PRIV_H
#define PT_CONF_PRIV_H

#include <stddef.h>
#include <unistd.h>

#include <lua.h>

#include "conf.h"

/* ---- building errors ---------------------------------------------------- */

struct errbuf {
	char *buf;
	size_t cap, len;
	int count;
};

/* Adds one `file:line: message` to E; past 20 they are only counted. */
void conf_errf(struct errbuf *e, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- Lua values -> pt_conf tree ----------------------------------------- */

struct build {
	struct arena *a;
	struct errbuf *e;
	const char *file;
	int line;
	int skip_functions;   /* route options may hold functions: leave them out */
	const char **ptabs;   /* top-level keys that are plugins' tables (`webhook = {}`) */
	unsigned nptabs;
};

int conf_keycmp(const void *x, const void *y);
/* Copies the value at IDX; NULL on error (reported). [-0, +0, m] */
pt_conf *conf_to_tree(lua_State *L, int idx, struct build *b, int depth, const char *where);

/* ---- schemas ------------------------------------------------------------ */

#define S_INT 0x1       /* a number that must be whole */
#define S_REQUIRED 0x2
#define S_ANY_KEYS 0x4  /* a table whose keys are not checked (handler options) */

struct spec {
	const char *key;
	int type;
	int flags;
	double min, max;
	const struct spec *sub;
};

/* Checks table C against SPEC; CTX prefixes messages ("listen: "). */
void conf_check(struct errbuf *e, const pt_conf *c, const struct spec *spec, const char *ctx);
/* The closest of NAMES to S for "did you mean", or NULL. */
const char *conf_closest(const char *s, const char *const *names);

/* ---- reading the validated tree into struct config ---------------------- */

static inline double num_or(const pt_conf *c, const char *key, double dflt)
{
	double v;

	return conf_num(c, key, &v) == 0 ? v : dflt;
}

static inline const char *str_or(const pt_conf *c, const char *key, const char *dflt)
{
	pt_str_t s;

	return conf_str(c, key, &s) == 0 ? s.ptr : dflt;
}

static inline int bool_or(const pt_conf *c, const char *key, int dflt)
{
	int v;

	return conf_bool(c, key, &v) == 0 ? v : dflt;
}

static inline int file_readable(const char *path)
{
	return access(path, R_OK) == 0;
}

/* Reads the top-level settings at the top of the stack (settings table). */
void conf_read_settings(lua_State *L, struct config *cfg, struct build *b);
/* Reads the directive list at the top of the stack into CFG. [-0, +0, m] */
void conf_read_directives(lua_State *L, struct config *cfg, struct build *b);
/* upstream "name" { servers = { "127.0.0.1:9001", ... }, ... } */
void conf_read_upstream(struct errbuf *e, struct config *cfg, const char *name, int line,
                        const pt_conf *v);

#endif
