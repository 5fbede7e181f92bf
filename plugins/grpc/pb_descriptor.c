/*
 * pb_descriptor.c - reads FileDescriptorProto bytes into the registry's
 * records (pb_priv.h) with a small wire reader.
 *
 * Why hand-written rather than protoc-c output for descriptor.proto: the
 * subset we need is a dozen fields, the google.api.http rule lives in an
 * extension of MethodOptions (72295728) that generated code would leave in
 * its unknown fields anyway, and reading straight into registry records
 * avoids a second copy and a generated file in the tree.
 *
 * Names are resolved later (pb_registry_link); here every type name is kept
 * as written (protoc writes fully qualified ".pkg.Msg").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_priv.h"

struct rd {
	const uint8_t *p, *end;
};

struct fld {
	uint32_t num;
	int wt;
	uint64_t v;			/* varint, fixed */
	const uint8_t *data;		/* length-delimited */
	size_t len;
};

static int rd_varint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;
	int shift = 0;

	while (r->p < r->end && shift < 64) {
		uint8_t b = *r->p++;

		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
		shift += 7;
	}
	return -1;
}

/* 1: a field read; 0: end; -1: malformed. */
static int rd_next(struct rd *r, struct fld *f)
{
	uint64_t tag;

	if (r->p >= r->end)
		return 0;
	if (rd_varint(r, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
		return -1;
	f->num = (uint32_t)(tag >> 3);
	f->wt = tag & 7;
	switch (f->wt) {
	case 0:
		return rd_varint(r, &f->v) ? -1 : 1;
	case 1:
		if (r->end - r->p < 8)
			return -1;
		r->p += 8;
		return 1;
	case 5:
		if (r->end - r->p < 4)
			return -1;
		r->p += 4;
		return 1;
	case 2:
		if (rd_varint(r, &f->v) || f->v > (uint64_t)(r->end - r->p))
			return -1;
		f->data = r->p;
		f->len = (size_t)f->v;
		r->p += f->len;
		return 1;
	default:
		return -1;	/* groups: descriptor.proto has none we read */
	}
}

struct ctx {
	struct pb_registry *r;
	struct pb_file *file;
	const char *origin;
	char *err;
	size_t errlen;
};

static int bad(struct ctx *c, const char *what)
{
	snprintf(c->err, c->errlen, "%s: %s%s%s", c->origin, c->file && c->file->name ? c->file->name : "",
	         c->file && c->file->name ? ": " : "", what);
	return -1;
}

static const char *str(struct ctx *c, const struct fld *f)
{
	return pb_arena_strndup(&c->r->mem, (const char *)f->data, f->len);
}

static char *join(struct ctx *c, const char *scope, const char *name)
{
	size_t a = strlen(scope), b = strlen(name);
	char *s = pb_arena_alloc(&c->r->mem, a + b + 2);

	if (!s)
		return NULL;
	if (a) {
		memcpy(s, scope, a);
		s[a++] = '.';
	}
	memcpy(s + a, name, b + 1);
	return s;
}

/* Appends P to the pointer array *ARR (count *N, capacity *CAP). */
static int push(void ***arr, unsigned *n, unsigned *cap, void *p)
{
	if (*n == *cap) {
		unsigned nc = *cap ? *cap * 2 : 16;
		void **a = realloc(*arr, nc * sizeof(*a));

		if (!a)
			return -1;
		*arr = a;
		*cap = nc;
	}
	(*arr)[(*n)++] = p;
	return 0;
}

#define PUSH(arr, n, cap, p) push((void ***)&(arr), &(n), &(cap), (p))

/* Reads a length-delimited sub-message's fields into a counted array. */
static int count_fields(const struct fld *f, uint32_t num, unsigned *n)
{
	struct rd r = { f->data, f->data + f->len };
	struct fld g;
	int rc;

	*n = 0;
	while ((rc = rd_next(&r, &g)) == 1)
		if (g.num == num && g.wt == 2)
			(*n)++;
	return rc;
}

static int read_enum(struct ctx *c, const struct fld *f, const char *scope)
{
	struct pb_enum *e = pb_arena_alloc(&c->r->mem, sizeof(*e));
	struct rd r = { f->data, f->data + f->len };
	struct fld g;
	const char *name = NULL;
	unsigned n;
	int rc;

	if (!e || count_fields(f, 2, &n) < 0)
		return bad(c, "malformed EnumDescriptorProto");
	memset(e, 0, sizeof(*e));
	e->file = c->file;
	e->values = pb_arena_alloc(&c->r->mem, (n ? n : 1) * sizeof(*e->values));
	if (!e->values)
		return bad(c, "out of memory");
	while ((rc = rd_next(&r, &g)) == 1) {
		if (g.num == 1 && g.wt == 2) {
			name = str(c, &g);
		} else if (g.num == 2 && g.wt == 2) {
			struct pb_enum_value *v = &e->values[e->nvalues++];
			struct rd vr = { g.data, g.data + g.len };
			struct fld h;

			v->name = "";
			v->number = 0;
			while ((rc = rd_next(&vr, &h)) == 1) {
				if (h.num == 1 && h.wt == 2)
					v->name = str(c, &h);
				else if (h.num == 2 && h.wt == 0)
					v->number = (int32_t)h.v;
			}
			if (rc < 0 || !v->name)
				return bad(c, "malformed EnumValueDescriptorProto");
			v->name_len = (unsigned)strlen(v->name);
		}
	}
	if (rc < 0 || !name || !*name)
		return bad(c, "malformed EnumDescriptorProto");
	e->full_name = join(c, scope, name);
	if (!e->full_name || PUSH(c->r->enums, c->r->nenums, c->r->capenums, e))
		return bad(c, "out of memory");
	if ((rc = pb_sym_add(c->r, e->full_name, SYM_ENUM, e, c->file)) < 0)
		return bad(c, "out of memory");
	if (rc) {
		char m[300];

		snprintf(m, sizeof(m), "%s is defined twice", e->full_name);
		return bad(c, m);
	}
	return 0;
}

static int read_field(struct ctx *c, struct pb_field *fd, const struct fld *f)
{
	struct rd r = { f->data, f->data + f->len };
	struct fld g;
	int rc;

	memset(fd, 0, sizeof(*fd));
	fd->oneof = -1;
	fd->label = 1;
	while ((rc = rd_next(&r, &g)) == 1) {
		switch (g.num) {
		case 1: if (g.wt == 2) fd->name = str(c, &g); break;
		case 3: if (g.wt == 0) fd->number = (uint32_t)g.v; break;
		case 4: if (g.wt == 0) fd->label = (uint8_t)g.v; break;
		case 5: if (g.wt == 0) fd->type = (uint8_t)g.v; break;
		case 6: if (g.wt == 2) fd->type_name = str(c, &g); break;
		case 7: if (g.wt == 2) fd->default_text = str(c, &g); break;
		case 9: if (g.wt == 0) fd->oneof = (int)g.v; break;
		case 10: if (g.wt == 2) fd->json_name = str(c, &g); break;
		case 17: if (g.wt == 0) fd->proto3_optional = g.v != 0; break;
		case 8:
			if (g.wt == 2) {
				struct rd o = { g.data, g.data + g.len };
				struct fld h;

				while ((rc = rd_next(&o, &h)) == 1)
					if (h.num == 2 && h.wt == 0)
						fd->packed_opt = h.v ? 2 : 1;
				if (rc < 0)
					return bad(c, "malformed FieldOptions");
			}
			break;
		}
	}
	if (rc < 0 || !fd->name || !*fd->name)
		return bad(c, "malformed FieldDescriptorProto");
	if (!fd->json_name)
		fd->json_name = pb_camel(&c->r->mem, fd->name);
	if (!fd->json_name)
		return bad(c, "out of memory");
	fd->name_len = (unsigned)strlen(fd->name);
	fd->json_len = (unsigned)strlen(fd->json_name);
	return 0;
}

static int read_msg(struct ctx *c, const struct fld *f, const char *scope, int depth)
{
	struct pb_msg *m = pb_arena_alloc(&c->r->mem, sizeof(*m));
	struct rd r = { f->data, f->data + f->len };
	struct fld g;
	const char *name = NULL;
	unsigned nf, no;
	int rc;

	if (depth > 32)
		return bad(c, "messages nested too deep");
	if (!m || count_fields(f, 2, &nf) < 0 || count_fields(f, 8, &no) < 0)
		return bad(c, "malformed DescriptorProto");
	memset(m, 0, sizeof(*m));
	m->file = c->file;
	m->fields = pb_arena_alloc(&c->r->mem, (nf ? nf : 1) * sizeof(*m->fields));
	m->oneofs = pb_arena_alloc(&c->r->mem, (no ? no : 1) * sizeof(*m->oneofs));
	if (!m->fields || !m->oneofs)
		return bad(c, "out of memory");
	/* The name first: nested types and enums are scoped by it. */
	while ((rc = rd_next(&r, &g)) == 1)
		if (g.num == 1 && g.wt == 2)
			name = str(c, &g);
	if (rc < 0 || !name || !*name)
		return bad(c, "malformed DescriptorProto");
	m->full_name = join(c, scope, name);
	m->short_name = name;
	if (!m->full_name)
		return bad(c, "out of memory");
	r.p = f->data;
	while ((rc = rd_next(&r, &g)) == 1) {
		if (g.wt != 2)
			continue;
		if (g.num == 2) {
			if (read_field(c, &m->fields[m->nfields++], &g))
				return -1;
		} else if (g.num == 3) {
			if (read_msg(c, &g, m->full_name, depth + 1))
				return -1;
		} else if (g.num == 4) {
			if (read_enum(c, &g, m->full_name))
				return -1;
		} else if (g.num == 8) {
			struct rd o = { g.data, g.data + g.len };
			struct fld h;
			const char *on = "";

			while ((rc = rd_next(&o, &h)) == 1)
				if (h.num == 1 && h.wt == 2)
					on = str(c, &h);
			if (rc < 0 || !on)
				return bad(c, "malformed OneofDescriptorProto");
			m->oneofs[m->noneofs++] = on;
		} else if (g.num == 7) {
			struct rd o = { g.data, g.data + g.len };
			struct fld h;

			while ((rc = rd_next(&o, &h)) == 1)
				if (h.num == 7 && h.wt == 0)
					m->map_entry = h.v != 0;
			if (rc < 0)
				return bad(c, "malformed MessageOptions");
		}
	}
	if (rc < 0)
		return bad(c, "malformed DescriptorProto");
	if (PUSH(c->r->msgs, c->r->nmsgs, c->r->capmsgs, m))
		return bad(c, "out of memory");
	if ((rc = pb_sym_add(c->r, m->full_name, SYM_MSG, m, c->file)) < 0)
		return bad(c, "out of memory");
	if (rc) {
		char e[300];

		snprintf(e, sizeof(e), "%s is defined twice", m->full_name);
		return bad(c, e);
	}
	return 0;
}

/* google.api.HttpRule into RULE; its additional_bindings counted in *NMORE
 * and, when MORE is set, read into it (they carry no further bindings). */
static int read_http(struct ctx *c, const struct fld *f, struct pb_http_rule *rule,
                     struct pb_http_rule *more, unsigned *nmore)
{
	struct rd r = { f->data, f->data + f->len };
	struct fld g;
	static const char *const verbs[] = { NULL, NULL, "GET", "PUT", "POST", "DELETE", "PATCH" };
	int rc;

	rule->verb = rule->path = NULL;
	rule->body = rule->response_body = "";
	*nmore = 0;
	while ((rc = rd_next(&r, &g)) == 1) {
		if (g.wt != 2)
			continue;
		if (g.num >= 2 && g.num <= 6) {
			rule->verb = verbs[g.num];
			rule->path = str(c, &g);
		} else if (g.num == 8) {
			struct rd o = { g.data, g.data + g.len };
			struct fld h;

			rule->verb = "*";
			while ((rc = rd_next(&o, &h)) == 1) {
				if (h.num == 1 && h.wt == 2)
					rule->verb = str(c, &h);
				else if (h.num == 2 && h.wt == 2)
					rule->path = str(c, &h);
			}
			if (rc < 0)
				return -1;
		} else if (g.num == 7) {
			rule->body = str(c, &g);
		} else if (g.num == 12) {
			rule->response_body = str(c, &g);
		} else if (g.num == 11) {
			unsigned dummy;

			if (more && read_http(c, &g, &more[*nmore], NULL, &dummy))
				return -1;
			(*nmore)++;
		}
	}
	return rc < 0 ? -1 : 0;
}

static int read_method(struct ctx *c, struct pb_method *pm, const struct fld *f,
                       struct pb_service *svc, const char **in, const char **out)
{
	struct rd r = { f->data, f->data + f->len };
	struct fld g;
	int rc;

	memset(pm, 0, sizeof(*pm));
	pm->service = svc;
	while ((rc = rd_next(&r, &g)) == 1) {
		switch (g.num) {
		case 1: if (g.wt == 2) pm->name = str(c, &g); break;
		case 2: if (g.wt == 2) *in = str(c, &g); break;
		case 3: if (g.wt == 2) *out = str(c, &g); break;
		case 5: if (g.wt == 0) pm->client_streaming = g.v != 0; break;
		case 6: if (g.wt == 0) pm->server_streaming = g.v != 0; break;
		case 4:
			if (g.wt == 2) {
				struct rd o = { g.data, g.data + g.len };
				struct fld h;

				while ((rc = rd_next(&o, &h)) == 1) {
					struct pb_http_rule rule, *more;
					unsigned n;

					if (h.num != 72295728 || h.wt != 2)
						continue;
					if (read_http(c, &h, &rule, NULL, &n))
						return bad(c, "malformed google.api.http option");
					more = pb_arena_alloc(&c->r->mem, (n ? n : 1) * sizeof(*more));
					if (!more || read_http(c, &h, &rule, more, &n))
						return bad(c, "malformed google.api.http option");
					pm->http_verb = rule.verb;
					pm->http_path = rule.path;
					pm->http_body = rule.body;
					pm->http_response_body = rule.response_body;
					/* keep the bindings that name a pattern */
					pm->nhttp_more = 0;
					for (unsigned k = 0; k < n; k++)
						if (more[k].verb && more[k].path)
							more[pm->nhttp_more++] = more[k];
					pm->http_more = more;
				}
				if (rc < 0)
					return bad(c, "malformed MethodOptions");
			}
			break;
		}
	}
	if (rc < 0 || !pm->name || !*pm->name || !*in || !*out)
		return bad(c, "malformed MethodDescriptorProto");
	if (pm->http_verb && !pm->http_path)
		pm->http_verb = NULL;
	return 0;
}

static int read_service(struct ctx *c, const struct fld *f)
{
	struct pb_service *s = pb_arena_alloc(&c->r->mem, sizeof(*s));
	struct rd r = { f->data, f->data + f->len };
	struct fld g;
	struct pb_method *ms;
	const char *name = NULL, **names;
	unsigned n;
	int rc;

	if (!s || count_fields(f, 2, &n) < 0)
		return bad(c, "malformed ServiceDescriptorProto");
	memset(s, 0, sizeof(*s));
	ms = pb_arena_alloc(&c->r->mem, (n ? n : 1) * sizeof(*ms));
	/* in, out type names per method, then the service itself */
	names = pb_arena_alloc(&c->r->mem, (2 * n + 1) * sizeof(*names));
	if (!ms || !names)
		return bad(c, "out of memory");
	s->methods = ms;
	s->file = c->file->name;
	while ((rc = rd_next(&r, &g)) == 1) {
		if (g.num == 1 && g.wt == 2) {
			name = str(c, &g);
		} else if (g.num == 2 && g.wt == 2) {
			names[2 * s->nmethods] = names[2 * s->nmethods + 1] = NULL;
			if (read_method(c, &ms[s->nmethods], &g, s, &names[2 * s->nmethods],
			                &names[2 * s->nmethods + 1]))
				return -1;
			s->nmethods++;
		}
	}
	if (rc < 0 || !name || !*name)
		return bad(c, "malformed ServiceDescriptorProto");
	s->full_name = join(c, c->file->package, name);
	if (!s->full_name || PUSH(c->r->svcs, c->r->nsvcs, c->r->capsvcs, s))
		return bad(c, "out of memory");
	/* Until link, each method's in/out point at the type-name strings. */
	for (unsigned i = 0; i < s->nmethods; i++) {
		ms[i].in = (const struct pb_msg *)names[2 * i];
		ms[i].out = (const struct pb_msg *)names[2 * i + 1];
	}
	if ((rc = pb_sym_add(c->r, s->full_name, SYM_SVC, s, c->file)) < 0)
		return bad(c, "out of memory");
	if (rc) {
		char e[300];

		snprintf(e, sizeof(e), "%s is defined twice", s->full_name);
		return bad(c, e);
	}
	return 0;
}

int pb_parse_file(struct pb_registry *reg, const uint8_t *data, size_t len, const char *origin,
                  char *err, size_t errlen)
{
	struct ctx c = { reg, NULL, origin, err, errlen };
	struct rd r = { data, data + len };
	struct fld g;
	struct pb_file *pf = pb_arena_alloc(&reg->mem, sizeof(*pf));
	const struct pb_sym *old;
	unsigned ndeps;
	uint8_t *raw;
	int rc;

	if (!pf)
		return bad(&c, "out of memory");
	memset(pf, 0, sizeof(*pf));
	pf->package = "";
	ndeps = 0;
	while ((rc = rd_next(&r, &g)) == 1) {
		if (g.num == 1 && g.wt == 2)
			pf->name = str(&c, &g);
		else if (g.num == 2 && g.wt == 2)
			pf->package = str(&c, &g);
		else if (g.num == 3 && g.wt == 2)
			ndeps++;
		else if (g.num == 12 && g.wt == 2)
			pf->proto3 = g.len == 6 && !memcmp(g.data, "proto3", 6);
	}
	if (rc < 0 || !pf->name || !*pf->name || !pf->package)
		return bad(&c, "malformed FileDescriptorProto");
	old = pb_file_find(reg, pf->name, strlen(pf->name));
	if (old && old->kind == SYM_FILE) {
		const struct pb_file *of = old->ptr;

		if (of->rawlen == len && !memcmp(of->raw, data, len))
			return 0;	/* the same file from another set */
		snprintf(err, errlen, "%s: %s differs from the file of that name already loaded",
		         origin, pf->name);
		return -1;
	}
	c.file = pf;
	raw = pb_arena_alloc(&reg->mem, len);
	pf->deps = pb_arena_alloc(&reg->mem, (ndeps ? ndeps : 1) * sizeof(*pf->deps));
	if (!raw || !pf->deps)
		return bad(&c, "out of memory");
	memcpy(raw, data, len);
	pf->raw = raw;
	pf->rawlen = len;
	if (pb_sym_add(reg, pf->name, SYM_FILE, pf, pf) ||
	    PUSH(reg->files, reg->nfiles, reg->capfiles, pf))
		return bad(&c, "out of memory");
	r.p = data;
	while ((rc = rd_next(&r, &g)) == 1) {
		if (g.wt != 2)
			continue;
		if (g.num == 3) {
			if (!(pf->deps[pf->ndeps++] = str(&c, &g)))
				return bad(&c, "out of memory");
		} else if (g.num == 4) {
			if (read_msg(&c, &g, pf->package, 0))
				return -1;
		} else if (g.num == 5) {
			if (read_enum(&c, &g, pf->package))
				return -1;
		} else if (g.num == 6) {
			if (read_service(&c, &g))
				return -1;
		}
	}
	return 0;
}
