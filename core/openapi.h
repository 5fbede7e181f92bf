/*
 * openapi.h - the OpenAPI 3.1 document of a generation's routes.
 *
 *   openapi = { path = "/openapi.json", title = "Shop API", version = "2.1.0",
 *               description = "...", servers = { { url = "https://api.example" } } }
 *
 * With an `openapi` table in the config, each generation builds the
 * document once (routes only change with a generation) and serves it with
 * the "openapi" handler at `path`.
 */
#ifndef PT_OPENAPI_H
#define PT_OPENAPI_H

struct gen;

/* The document as JSON text (malloc'd), or NULL when out of memory. */
char *openapi_build(const struct gen *g);
/* Registers the "openapi" handler. */
int openapi_register(void);

#endif
