/*
 * secret.c - env() and secret_file(): see secret.h. The callers (conf.c,
 * lua/lua_globals.c) decide when they may run: while a config or the route
 * scripts load, never while a request is served.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "secret.h"

/* NAME cut for a message (lua_pushfstring has no precision). */
static const char *shown(const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", name);
	if (strlen(name) >= cap - 4)
		memcpy(buf + cap - 4, "...", 4);
	return buf;
}

static __thread struct secret_rec *recording;

void secret_record_start(struct secret_rec *r)
{
	recording = r;
}

void secret_record_stop(void)
{
	recording = NULL;
}

void secret_rec_clear(struct secret_rec *r)
{
	for (unsigned i = 0; i < r->n; i++)
		free(r->v[i]);
	r->n = 0;
	r->overflow = 0;
}

/* Remembers the value on top of L's stack when a recording runs. */
static void record(lua_State *L)
{
	struct secret_rec *r = recording;
	size_t n;
	const char *v;

	if (!r || !(v = lua_tolstring(L, -1, &n)) || !n)
		return;
	for (unsigned i = 0; i < r->n; i++)
		if (!strcmp(r->v[i], v))
			return;
	if (r->n == SECRET_REC_MAX || !(r->v[r->n] = strndup(v, n))) {
		r->overflow = 1;
		return;
	}
	r->n++;
}

int secret_lua_env(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *v;
	char cut[160];

	if (!*name || strchr(name, '='))
		return luaL_error(L, "env(\"%s\"): not a variable name", shown(name, cut, sizeof(cut)));
	v = getenv(name);
	if (v) {
		lua_pushstring(L, v);
		record(L);
		return 1;
	}
	if (!lua_isnoneornil(L, 2)) {
		luaL_checkstring(L, 2);
		lua_pushvalue(L, 2);
		lua_tostring(L, -1);   /* a number default comes back a string */
		record(L);
		return 1;
	}
	return luaL_error(L, "env(\"%s\"): not set", shown(name, cut, sizeof(cut)));
}

int secret_path_join(const char *file, const char *rel, char *out, size_t cap)
{
	const char *slash = file ? strrchr(file, '/') : NULL;
	char cwd[4096];
	int n;

	if (rel[0] == '/' || !file)
		n = snprintf(out, cap, "%s", rel);
	else if (slash == file)
		n = snprintf(out, cap, "/%s", rel);
	else if (file[0] == '/')
		n = snprintf(out, cap, "%.*s/%s", (int)(slash - file), file, rel);
	else if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	else if (slash)
		n = snprintf(out, cap, "%s/%.*s/%s", cwd, (int)(slash - file), file, rel);
	else
		n = snprintf(out, cap, "%s/%s", cwd, rel);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Reads PATH (at most SECRET_FILE_MAX bytes) into BUF; the byte count, or
 * -1 with WHY. */
static long read_small(const char *path, char *buf, const char **why)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	size_t got = 0;

	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	/* a fifo or a device would block or never end */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*why = S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file";
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, SECRET_FILE_MAX + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why = strerror(errno);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > SECRET_FILE_MAX) {
			*why = "larger than 64 KiB";
			close(fd);
			return -1;
		}
	}
	close(fd);
	return (long)got;
}

int secret_lua_file(lua_State *L, const char *conf_file)
{
	const char *rel = luaL_checkstring(L, 1);
	const char *why = NULL;
	char path[4096], cut[160];
	char *buf;
	long n;

	if (!*rel)
		return luaL_error(L, "secret_file(\"\"): no path");
	if (secret_path_join(conf_file, rel, path, sizeof(path)) != 0)
		return luaL_error(L, "secret_file(\"%s\"): path too long, or no working folder",
		                  shown(rel, cut, sizeof(cut)));
	/* a userdata, not malloc: an error (the memory limit) frees it too */
	buf = lua_newuserdatauv(L, SECRET_FILE_MAX + 1, 0);
	n = read_small(path, buf, &why);
	if (n < 0)
		return luaL_error(L, "secret_file(\"%s\"): %s", shown(rel, cut, sizeof(cut)), why);
	if (n > 0 && buf[n - 1] == '\n')
		n -= n > 1 && buf[n - 2] == '\r' ? 2 : 1;
	lua_pushlstring(L, buf, (size_t)n);
	record(L);
	return 1;
}
