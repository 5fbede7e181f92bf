/*
 * conf_tree.h - the read-only value tree behind pt_conf.
 *
 * Config files are Lua; once evaluated, their tables are copied into these
 * nodes (allocated from the config generation's arena) so that C code and
 * plugins read them from any thread without touching a Lua state.
 */
#ifndef PT_CONF_TREE_H
#define PT_CONF_TREE_H

#include "portico/api.h"
#include "arena.h"

struct pt_conf {
	int type;                  /* enum pt_conf_type */
	int line;                  /* where it was written (statement line) */
	const char *file;
	union {
		int b;
		double n;
		pt_str_t s;            /* NUL-terminated too */
		struct {
			size_t nkeys, narr;
			const char **keys;          /* sorted */
			struct pt_conf **vals;      /* vals[i] belongs to keys[i] */
			struct pt_conf **arr;       /* the 1..n part */
		} t;
	} u;
};

const pt_conf *conf_get(const pt_conf *c, const char *key);
size_t conf_len(const pt_conf *c);
const pt_conf *conf_at(const pt_conf *c, size_t i);
const char *conf_key_at(const pt_conf *c, size_t i, const pt_conf **value);
int conf_str(const pt_conf *c, const char *key, pt_str_t *out);
int conf_num(const pt_conf *c, const char *key, double *out);
int conf_int(const pt_conf *c, const char *key, int64_t *out);
int conf_bool(const pt_conf *c, const char *key, int *out);
int conf_type(const pt_conf *c);
int conf_where(const pt_conf *c, const char **file, int *line);
/* A static empty table, for plugins configured with no options. */
const pt_conf *conf_empty(void);
/* "string", "number", ... for messages. */
const char *conf_type_name(int type);

#endif
