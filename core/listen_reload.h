/*
 * listen_reload.h - `listen` blocks changed by a reload, applied without a
 * restart and without dropping a connection (listen_reload.c). Main
 * thread only.
 */
#ifndef PT_LISTEN_RELOAD_H
#define PT_LISTEN_RELOAD_H

#include <stddef.h>

struct config;
struct listener_info;

/* The listeners the workers started with (LS[0..N), valid until exit). */
void listen_reload_init(struct listener_info *ls, unsigned n);
/*
 * Before a reload's generation is built: works out what NW's listeners
 * change, binds the new ones (a port taken refuses the reload: -1 with
 * ERR) and makes the TLS contexts of those kept (a bad certificate refuses
 * it too). Nothing is visible to the workers yet.
 */
int listen_reload_prepare(const struct config *nw, char *err, size_t errlen);
/* The generation is live: new listeners accept, removed ones close (their
 * connections go on), kept TLS listeners use their new certificates for
 * new connections. */
void listen_reload_commit(void);
/* The reload was refused after prepare: undoes it. */
void listen_reload_abort(void);
/* The listeners served now (up to MAX into OUT): what a retired worker's
 * sockets are handed over for. */
unsigned listen_reload_current(const struct listener_info **out, unsigned max);
/* After prepare: the listeners the reload will serve (kept, then new), for
 * the workers it starts; the current ones without a prepared reload. */
unsigned listen_reload_next(const struct listener_info **out, unsigned max);
/* At exit, after the workers stopped. */
void listen_reload_free(void);

#endif
