/* conf_tree.c - reading the config value tree; see conf_tree.h. */
#include <math.h>
#include <string.h>

#include "conf_tree.h"

static const pt_conf empty_table = { .type = PT_CONF_TABLE };

const pt_conf *conf_empty(void)
{
	return &empty_table;
}

const char *conf_type_name(int type)
{
	switch (type) {
	case PT_CONF_BOOL: return "boolean";
	case PT_CONF_NUMBER: return "number";
	case PT_CONF_STRING: return "string";
	case PT_CONF_TABLE: return "table";
	default: return "nil";
	}
}

int conf_type(const pt_conf *c)
{
	return c ? c->type : PT_CONF_NIL;
}

/* Binary search among sorted keys; KEY is one path segment of LEN bytes. */
static const pt_conf *get_one(const pt_conf *c, const char *key, size_t len)
{
	size_t lo = 0, hi;

	if (!c || c->type != PT_CONF_TABLE)
		return NULL;
	hi = c->u.t.nkeys;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *k = c->u.t.keys[mid];
		int cmp = strncmp(k, key, len);

		if (cmp == 0 && k[len] != '\0')
			cmp = 1;
		if (cmp == 0)
			return c->u.t.vals[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const pt_conf *conf_get(const pt_conf *c, const char *key)
{
	const char *dot;

	if (!key)
		return c;
	while ((dot = strchr(key, '.')) != NULL) {
		c = get_one(c, key, (size_t)(dot - key));
		key = dot + 1;
	}
	return get_one(c, key, strlen(key));
}

size_t conf_len(const pt_conf *c)
{
	return c && c->type == PT_CONF_TABLE ? c->u.t.narr : 0;
}

const pt_conf *conf_at(const pt_conf *c, size_t i)
{
	return i < conf_len(c) ? c->u.t.arr[i] : NULL;
}

const char *conf_key_at(const pt_conf *c, size_t i, const pt_conf **value)
{
	if (!c || c->type != PT_CONF_TABLE || i >= c->u.t.nkeys)
		return NULL;
	if (value)
		*value = c->u.t.vals[i];
	return c->u.t.keys[i];
}

static const pt_conf *typed(const pt_conf *c, const char *key, int type, int *rc)
{
	const pt_conf *v = conf_get(c, key);

	if (!v)
		*rc = PT_ENOENT;
	else if (v->type != type)
		*rc = PT_ETYPE;
	else
		*rc = 0;
	return *rc ? NULL : v;
}

int conf_str(const pt_conf *c, const char *key, pt_str_t *out)
{
	int rc;
	const pt_conf *v = typed(c, key, PT_CONF_STRING, &rc);

	if (v)
		*out = v->u.s;
	return rc;
}

int conf_num(const pt_conf *c, const char *key, double *out)
{
	int rc;
	const pt_conf *v = typed(c, key, PT_CONF_NUMBER, &rc);

	if (v)
		*out = v->u.n;
	return rc;
}

int conf_int(const pt_conf *c, const char *key, int64_t *out)
{
	int rc;
	const pt_conf *v = typed(c, key, PT_CONF_NUMBER, &rc);

	if (!v)
		return rc;
	if (v->u.n != floor(v->u.n) || fabs(v->u.n) > 9007199254740992.0)
		return PT_ETYPE;
	*out = (int64_t)v->u.n;
	return 0;
}

int conf_bool(const pt_conf *c, const char *key, int *out)
{
	int rc;
	const pt_conf *v = typed(c, key, PT_CONF_BOOL, &rc);

	if (v)
		*out = v->u.b;
	return rc;
}

int conf_where(const pt_conf *c, const char **file, int *line)
{
	if (!c)
		return PT_EINVAL;
	if (file)
		*file = c->file ? c->file : "(config)";
	if (line)
		*line = c->line;
	return 0;
}
