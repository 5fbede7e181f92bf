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

#endif
