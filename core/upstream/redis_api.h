/* redis_api.h - the config's Redis for plugins (pt_api.redis_*); see redis_api.c. */
#ifndef PT_REDIS_API_H
#define PT_REDIS_API_H

#include "portico/portico.h"

struct config;

/* Gen build: the config filters are being compiled against (main thread). */
void redis_api_building(const struct config *cfg);
int redis_api_configured(void);
int redis_api_eval(pt_worker *w, const char *script, int nkeys, int argc,
                   const char *const *argv, const size_t *argvlen, pt_redis_fn fn, void *ud);
/* Frees W's client (worker thread, at its end). */
void redis_worker_free(pt_worker *w);

#endif
