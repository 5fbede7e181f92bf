/*
 * secret.h - env("NAME"[, default]) and secret_file("path") for the config
 * and the route scripts while they load: secrets from the environment or
 * from files (systemd credentials, Kubernetes secrets) instead of the
 * config under version control.
 */
#ifndef PT_SECRET_H
#define PT_SECRET_H

#include <stddef.h>

struct lua_State;

#define SECRET_FILE_MAX (64u << 10)

/* env(NAME[, DEFAULT]) as a Lua function body: pushes the value, or raises
 * `env("NAME"): not set` at the caller's file:line. [-0, +1, e] */
int secret_lua_env(struct lua_State *L);
/* secret_file(PATH) as a Lua function body: a relative PATH is taken from
 * CONF_FILE's folder. Pushes the contents (one trailing "\n" or "\r\n"
 * stripped), or raises `secret_file("PATH"): <why>`. [-0, +1, e] */
int secret_lua_file(struct lua_State *L, const char *conf_file);
/*
 * Joins REL onto the folder of FILE into OUT (room for CAP): REL itself
 * when absolute; FILE's folder made absolute with the working directory
 * when FILE is relative. 0, or -1 when it does not fit or the working
 * directory is unknown.
 */
int secret_path_join(const char *file, const char *rel, char *out, size_t cap);

/*
 * The values env() and secret_file() return while a recording runs on this
 * thread (the config's load), so the admin API's config view can mask them
 * wherever they ended up. R is the caller's; stop before it goes away.
 * At most SECRET_REC_MAX values are kept (more: R->overflow).
 */
#define SECRET_REC_MAX 256
struct secret_rec {
	char *v[SECRET_REC_MAX];   /* malloc'd copies; secret_rec_clear frees them */
	unsigned n;
	int overflow;
};
void secret_record_start(struct secret_rec *r);
void secret_record_stop(void);
void secret_rec_clear(struct secret_rec *r);

#endif
