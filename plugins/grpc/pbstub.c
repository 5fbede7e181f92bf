/*
 * pbstub.c - a stand-in for the protobuf library (pb.h) until libpb lands:
 * it reads FileDescriptorSets for the names the server needs (files,
 * services, methods, message and enum names) and maps messages to Lua as
 * their raw bytes (a string both ways). Removed when pb_*.c are built.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lua.h>

#include "grpc_priv.h"

struct pb_msg { char *name; };
struct pb_enum { char *name; };

struct sfile {
	char *name;
	uint8_t *data;
	size_t len;
	const char **deps;
	unsigned ndeps;
	char **symbols;		/* full names declared in it */
	unsigned nsymbols;
};

struct pb_registry {
	struct sfile *files;
	unsigned nfiles;
	struct pb_service *svcs;
	unsigned nsvcs;
	struct pb_msg *msgs;
	unsigned nmsgs;
};

int pb_buf_add(struct pb_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap < b->len + len)
			cap *= 2;
		if (!(p = realloc(b->p, cap)))
			return -1;
		b->p = p;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

void pb_buf_free(struct pb_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

struct pb_registry *pb_registry_new(void)
{
	return calloc(1, sizeof(struct pb_registry));
}

void pb_registry_free(struct pb_registry *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->nfiles; i++) {
		free(r->files[i].name);
		free(r->files[i].data);
		for (unsigned j = 0; j < r->files[i].ndeps; j++)
			free((char *)r->files[i].deps[j]);
		free(r->files[i].deps);
		for (unsigned j = 0; j < r->files[i].nsymbols; j++)
			free(r->files[i].symbols[j]);
		free(r->files[i].symbols);
	}
	for (unsigned i = 0; i < r->nsvcs; i++) {
		struct pb_service *s = &r->svcs[i];

		for (unsigned j = 0; j < s->nmethods; j++) {
			free((char *)s->methods[j].name);
			free((char *)s->methods[j].path);
		}
		free((struct pb_method *)s->methods);
		free((char *)s->full_name);
		free((char *)s->file);
	}
	for (unsigned i = 0; i < r->nmsgs; i++)
		free(r->msgs[i].name);
	free(r->msgs);
	free(r->svcs);
	free(r->files);
	free(r);
}

static char *dupn(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static char *join(const char *pkg, const uint8_t *p, size_t n)
{
	size_t pl = pkg && *pkg ? strlen(pkg) : 0;
	char *s = malloc(pl + n + 2);

	if (!s)
		return NULL;
	if (pl) {
		memcpy(s, pkg, pl);
		s[pl++] = '.';
	}
	memcpy(s + pl, p, n);
	s[pl + n] = '\0';
	return s;
}

static void add_symbol(struct sfile *f, char *name)
{
	char **v = realloc(f->symbols, (f->nsymbols + 1) * sizeof(*v));

	if (!v || !name) {
		free(name);
		return;
	}
	f->symbols = v;
	f->symbols[f->nsymbols++] = name;
}

static void add_msg(struct pb_registry *r, const char *name)
{
	struct pb_msg *v = realloc(r->msgs, (r->nmsgs + 1) * sizeof(*v));

	if (v) {
		r->msgs = v;
		r->msgs[r->nmsgs++].name = strdup(name);
	}
}

/* DescriptorProto: name 1, field 2 (name 1), nested_type 3, enum_type 4. */
static void scan_message(struct pb_registry *r, struct sfile *f, const char *scope,
                         const uint8_t *d, size_t len, int depth)
{
	struct grpc_pb_field fl;
	size_t pos = 0;
	char *name = NULL;

	while (grpc_pb_next(d, len, &pos, &fl) == 1)
		if (fl.num == 1 && fl.type == 2 && !name)
			name = join(scope, fl.p, fl.len);
	if (!name || depth > 32) {
		free(name);
		return;
	}
	add_msg(r, name);
	pos = 0;
	while (grpc_pb_next(d, len, &pos, &fl) == 1) {
		if (fl.num == 3 && fl.type == 2) {
			scan_message(r, f, name, fl.p, fl.len, depth + 1);
		} else if ((fl.num == 4 || fl.num == 2) && fl.type == 2) {
			struct grpc_pb_field g;
			size_t p2 = 0;

			while (grpc_pb_next(fl.p, fl.len, &p2, &g) == 1)
				if (g.num == 1 && g.type == 2) {
					char *s = malloc(strlen(name) + g.len + 2);

					if (s)
						sprintf(s, "%s.%.*s", name, (int)g.len, (const char *)g.p);
					add_symbol(f, s);
				}
		}
	}
	add_symbol(f, name);
}

static int scan_service(struct pb_registry *r, struct sfile *f, const char *pkg,
                        const uint8_t *d, size_t len)
{
	struct grpc_pb_field fl, g;
	size_t pos = 0;
	struct pb_service s = { 0 };
	struct pb_method *ms = NULL;
	unsigned n = 0;

	while (grpc_pb_next(d, len, &pos, &fl) == 1)
		if (fl.num == 1 && fl.type == 2)
			s.full_name = join(pkg, fl.p, fl.len);
	if (!s.full_name)
		return -1;
	pos = 0;
	while (grpc_pb_next(d, len, &pos, &fl) == 1) {
		size_t p2 = 0;
		struct pb_method m = { 0 };
		char *nm = NULL;

		if (fl.num != 2 || fl.type != 2)
			continue;
		while (grpc_pb_next(fl.p, fl.len, &p2, &g) == 1) {
			if (g.num == 1 && g.type == 2)
				nm = dupn(g.p, g.len);
			else if (g.num == 5 && g.type == 0)
				m.client_streaming = g.u != 0;
			else if (g.num == 6 && g.type == 0)
				m.server_streaming = g.u != 0;
		}
		if (!nm)
			continue;
		m.name = nm;
		m.path = malloc(strlen(s.full_name) + strlen(nm) + 3);
		sprintf((char *)m.path, "/%s/%s", s.full_name, nm);
		ms = realloc(ms, (n + 1) * sizeof(*ms));
		ms[n++] = m;
	}
	s.methods = ms;
	s.nmethods = n;
	s.file = strdup(f->name);
	add_symbol(f, strdup(s.full_name));
	for (unsigned i = 0; i < n; i++) {
		char *q = malloc(strlen(s.full_name) + strlen(ms[i].name) + 2);

		sprintf(q, "%s.%s", s.full_name, ms[i].name);
		add_symbol(f, q);
	}
	r->svcs = realloc(r->svcs, (r->nsvcs + 1) * sizeof(*r->svcs));
	r->svcs[r->nsvcs++] = s;
	return 0;
}

int pb_registry_add_set(struct pb_registry *r, const void *data, size_t len,
                        const char *origin, char *err, size_t errlen)
{
	struct grpc_pb_field fl, g;
	size_t pos = 0;
	int rc;

	while ((rc = grpc_pb_next(data, len, &pos, &fl)) == 1) {
		struct sfile f = { 0 };
		char *pkg = NULL;
		size_t p2 = 0;
		int dup = 0;

		if (fl.num != 1 || fl.type != 2)
			continue;
		while (grpc_pb_next(fl.p, fl.len, &p2, &g) == 1) {
			if (g.num == 1 && g.type == 2)
				f.name = dupn(g.p, g.len);
			else if (g.num == 2 && g.type == 2)
				pkg = dupn(g.p, g.len);
		}
		if (!f.name) {
			snprintf(err, errlen, "%s: a file without a name", origin);
			free(pkg);
			return -1;
		}
		for (unsigned i = 0; i < r->nfiles; i++)
			if (!strcmp(r->files[i].name, f.name)) {
				dup = 1;
				if (r->files[i].len != fl.len || memcmp(r->files[i].data, fl.p, fl.len)) {
					snprintf(err, errlen, "%s: %s is already loaded with other contents",
					         origin, f.name);
					free(f.name);
					free(pkg);
					return -1;
				}
			}
		if (dup) {
			free(f.name);
			free(pkg);
			continue;
		}
		f.data = (uint8_t *)dupn(fl.p, fl.len);
		f.len = fl.len;
		r->files = realloc(r->files, (r->nfiles + 1) * sizeof(*r->files));
		r->files[r->nfiles] = f;
		p2 = 0;
		while (grpc_pb_next(fl.p, fl.len, &p2, &g) == 1) {
			struct sfile *ff = &r->files[r->nfiles];

			if (g.num == 3 && g.type == 2) {
				ff->deps = realloc(ff->deps, (ff->ndeps + 1) * sizeof(char *));
				ff->deps[ff->ndeps++] = dupn(g.p, g.len);
			} else if (g.num == 4 && g.type == 2) {
				scan_message(r, ff, pkg, g.p, g.len, 0);
			} else if (g.num == 6 && g.type == 2) {
				scan_service(r, ff, pkg, g.p, g.len);
			} else if ((g.num == 5 || g.num == 7) && g.type == 2) {
				struct grpc_pb_field h;
				size_t p3 = 0;

				while (grpc_pb_next(g.p, g.len, &p3, &h) == 1)
					if (h.num == 1 && h.type == 2)
						add_symbol(ff, join(pkg, h.p, h.len));
			}
		}
		r->nfiles++;
		free(pkg);
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: not a FileDescriptorSet", origin);
		return -1;
	}
	return 0;
}

int pb_protoc(const char *protoc, const char *proto, const char *const *import_paths,
              unsigned nimport, struct pb_buf *out, char *err, size_t errlen)
{
	char tmp[] = "/tmp/portico-protoc-XXXXXX", errf[] = "/tmp/portico-protoc-err-XXXXXX";
	const char *argv[80];
	char *args[80];
	unsigned n = 0, na = 0;
	int fd = mkstemp(tmp), efd = mkstemp(errf), status = 0;
	pid_t pid;

	if (fd < 0 || efd < 0) {
		snprintf(err, errlen, "cannot make a temporary file: %s", strerror(errno));
		return -1;
	}
	argv[n++] = protoc ? protoc : "protoc";
	argv[n++] = "--include_imports";
	args[na] = malloc(strlen(tmp) + 4);
	sprintf(args[na], "-o%s", tmp);
	argv[n++] = args[na++];
	for (unsigned i = 0; i < nimport && n < 70; i++) {
		args[na] = malloc(strlen(import_paths[i]) + 4);
		sprintf(args[na], "-I%s", import_paths[i]);
		argv[n++] = args[na++];
	}
	argv[n++] = "-I/usr/include";
	argv[n++] = proto;
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		dup2(efd, 2);
		dup2(efd, 1);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (unsigned i = 0; i < na; i++)
		free(args[i]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		char msg[1024] = "";
		ssize_t k = pread(efd, msg, sizeof(msg) - 1, 0);

		msg[k > 0 ? k : 0] = '\0';
		while (k > 0 && (msg[k - 1] == '\n'))
			msg[--k] = '\0';
		snprintf(err, errlen, "%s", *msg ? msg : WIFEXITED(status) &&
		         WEXITSTATUS(status) == 127 ? "cannot run protoc" : "protoc failed");
		close(fd);
		close(efd);
		unlink(tmp);
		unlink(errf);
		return -1;
	}
	for (;;) {
		uint8_t buf[65536];
		ssize_t k = read(fd, buf, sizeof(buf));

		if (k <= 0)
			break;
		pb_buf_add(out, buf, (size_t)k);
	}
	close(fd);
	close(efd);
	unlink(tmp);
	unlink(errf);
	return 0;
}

int pb_registry_link(struct pb_registry *r, char *err, size_t errlen)
{
	(void)r;
	(void)err;
	(void)errlen;
	return 0;
}

const struct pb_msg *pb_find_msg(const struct pb_registry *r, const char *full_name)
{
	for (unsigned i = 0; i < r->nmsgs; i++)
		if (!strcmp(r->msgs[i].name, full_name))
			return &r->msgs[i];
	return NULL;
}

const struct pb_enum *pb_find_enum(const struct pb_registry *r, const char *full_name)
{
	(void)r;
	(void)full_name;
	return NULL;
}

const struct pb_service *pb_find_service(const struct pb_registry *r, const char *full_name)
{
	for (unsigned i = 0; i < r->nsvcs; i++)
		if (!strcmp(r->svcs[i].full_name, full_name))
			return &r->svcs[i];
	return NULL;
}

const struct pb_method *pb_find_method(const struct pb_registry *r, const char *path)
{
	if (*path != '/')
		path--;
	for (unsigned i = 0; i < r->nsvcs; i++)
		for (unsigned j = 0; j < r->svcs[i].nmethods; j++)
			if (!strcmp(r->svcs[i].methods[j].path + (*path == '/' ? 0 : 1), path))
				return &r->svcs[i].methods[j];
	return NULL;
}

unsigned pb_service_count(const struct pb_registry *r)
{
	return r->nsvcs;
}

const struct pb_service *pb_service_at(const struct pb_registry *r, unsigned i)
{
	return i < r->nsvcs ? &r->svcs[i] : NULL;
}

const char *pb_msg_name(const struct pb_msg *m)
{
	return m ? m->name : "?";
}

int pb_file_by_name(const struct pb_registry *r, const char *name, const uint8_t **data,
                    size_t *len)
{
	for (unsigned i = 0; i < r->nfiles; i++)
		if (!strcmp(r->files[i].name, name)) {
			*data = r->files[i].data;
			*len = r->files[i].len;
			return 0;
		}
	return -1;
}

int pb_file_by_symbol(const struct pb_registry *r, const char *symbol, const char **file_name)
{
	for (unsigned i = 0; i < r->nfiles; i++)
		for (unsigned j = 0; j < r->files[i].nsymbols; j++)
			if (!strcmp(r->files[i].symbols[j], symbol)) {
				*file_name = r->files[i].name;
				return 0;
			}
	return -1;
}

unsigned pb_file_deps(const struct pb_registry *r, const char *name, const char *const **deps)
{
	for (unsigned i = 0; i < r->nfiles; i++)
		if (!strcmp(r->files[i].name, name)) {
			*deps = r->files[i].deps;
			return r->files[i].ndeps;
		}
	return 0;
}

int pb_decode_lua(struct lua_State *L, const struct pb_registry *r, const struct pb_msg *m,
                  const uint8_t *data, size_t len, char *err, size_t errlen)
{
	(void)r;
	(void)m;
	(void)err;
	(void)errlen;
	lua_pushlstring(L, (const char *)data, len);
	return 0;
}

int pb_encode_lua(struct lua_State *L, int idx, const struct pb_registry *r,
                  const struct pb_msg *m, struct pb_buf *out, char *err, size_t errlen)
{
	size_t n;
	const char *s;

	(void)r;
	(void)m;
	if (lua_type(L, idx) != LUA_TSTRING) {
		snprintf(err, errlen, "expected the message's bytes (a string), got %s",
		         lua_typename(L, lua_type(L, idx)));
		return -1;
	}
	s = lua_tolstring(L, idx, &n);
	return pb_buf_add(out, s, n);
}
