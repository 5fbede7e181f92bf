/*
 * admin_json.h - the admin API's JSON documents, built from the running
 * generation (borrowed; read on the main thread, which is the one that
 * swaps generations, so it cannot be freed under the reader).
 */
#ifndef PT_ADMIN_JSON_H
#define PT_ADMIN_JSON_H

#include <jansson.h>

struct gen;

/* Records the start time /status measures uptime from. */
void admin_json_started(void);
unsigned admin_gen_id(const struct gen *g);
/* New references (the caller decrefs); NULL when memory runs out. */
json_t *admin_json_status(const struct gen *g);
json_t *admin_json_routes(const struct gen *g);
json_t *admin_json_plugins(void);
json_t *admin_json_upstreams(const struct gen *g);
/* GET /config: the generation's configuration, secrets masked
 * (admin_config.c). */
json_t *admin_json_config(const struct gen *g);

#endif
